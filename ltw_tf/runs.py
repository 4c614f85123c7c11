"""Finding and loading trained runs: run directory or checkpoint path -> (detector, config, checkpoint).

A run directory (``ltw-tf train --out``) holds ``config.json``, ``checkpoints/`` (one per epoch, the full
training state) and ``best/`` (the detector at the best validation AUC). Inference-side tools (evaluate,
export, screen) load only the detector from either; the weight-aware net is never built.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import keras
import tensorflow as tf

from ltw_tf.config import RunConfig, load_config
from ltw_tf.data.manifest import MANIFEST_NAME
from ltw_tf.errors import first_line

DEFAULT_RUNS_DIR = "runs"
CONFIG_NAME = "config.json"


DATA_ROOT_ENV = "LTW_DATA_ROOT"


class RunSetupError(ValueError):
    """The run cannot start: missing data root, empty domain, bad names (message says what to do)."""


def resolve_data_root(config: RunConfig) -> Path:
    """The prepared data root: ``data.data_root``, else $LTW_DATA_ROOT; it must hold a manifest."""
    root = config.data.data_root or os.environ.get(DATA_ROOT_ENV)
    if not root:
        raise RunSetupError(
            f"no data root: pass --data-root DIR, set data.data_root in --config, or export {DATA_ROOT_ENV}=DIR "
            "(a folder made by `ltw-tf prepare`; without real data try `ltw-tf synth data/synthff && "
            "ltw-tf prepare data/synthff --dataset synthff --out data/synthff-faces`)"
        )
    root = Path(root).expanduser()
    if not (root / MANIFEST_NAME).is_file():
        raise RunSetupError(
            f"{root} has no {MANIFEST_NAME}: prepare it first with "
            f"`ltw-tf prepare VIDEO_ROOT --dataset ffpp|synthff|celebdf|dfdc --out {root}`"
        )
    return root


def run_data_root(config: RunConfig) -> Path | None:
    """The run's prepared root (data.data_root, else $LTW_DATA_ROOT) if it still holds a manifest."""
    root = config.data.data_root or os.environ.get(DATA_ROOT_ENV)
    if not root or not (Path(root).expanduser() / MANIFEST_NAME).is_file():
        return None
    return Path(root).expanduser()


class RunNotFoundError(FileNotFoundError):
    """The path is not a run directory or checkpoint (the message says what was expected)."""


@dataclass(frozen=True)
class RunRef:
    """A resolved run: its directory, config and the checkpoint prefix to load."""

    run_dir: Path
    config: RunConfig
    checkpoint: str  # a checkpoint prefix, e.g. runs/x/best/ckpt-3
    kind: str  # "best" | "latest" | "explicit"


def is_run_dir(path: str | os.PathLike) -> bool:
    path = Path(path)
    return (path / CONFIG_NAME).is_file() and ((path / "checkpoints").is_dir() or (path / "best").is_dir())


def latest_run(runs_dir: str | os.PathLike = DEFAULT_RUNS_DIR) -> Path:
    """The most recently trained run (newest checkpoint index) under ``runs_dir``."""
    runs_dir = Path(runs_dir)
    candidates = [p for p in runs_dir.iterdir() if is_run_dir(p)] if runs_dir.is_dir() else []
    if not candidates:
        raise RunNotFoundError(
            f"no trained run under {runs_dir}/: train one with `ltw-tf train BENCHMARK` or pass a run directory"
        )

    def stamp(run: Path) -> float:
        files = [run / sub / "checkpoint" for sub in ("checkpoints", "best")]
        return max((f.stat().st_mtime for f in files if f.is_file()), default=0.0)

    return max(candidates, key=stamp)


def resolve_run(path: str | os.PathLike, which: str = "best") -> RunRef:
    """A run directory (``which``: "best" checkpoint if one exists, else "latest") or a checkpoint prefix."""
    if which not in ("best", "latest"):
        raise ValueError(f"which must be 'best' or 'latest', not {which!r}")
    path = Path(path)
    if path.is_dir() and is_run_dir(path):
        run_dir = path
        best = tf.train.latest_checkpoint(str(path / "best")) if which == "best" else None
        checkpoint = best or tf.train.latest_checkpoint(str(path / "checkpoints"))
        kind = "best" if best else "latest"
        if checkpoint is None:
            raise RunNotFoundError(f"{path} has no checkpoint yet (was training interrupted before epoch 1?)")
    elif path.is_dir() and path.name in ("checkpoints", "best") and is_run_dir(path.parent):
        run_dir, checkpoint, kind = path.parent, tf.train.latest_checkpoint(str(path)), "explicit"
        if checkpoint is None:
            raise RunNotFoundError(f"{path} holds no checkpoint")
    elif Path(f"{path}.index").is_file() and is_run_dir(path.parent.parent):
        run_dir, checkpoint, kind = path.parent.parent, str(path), "explicit"
    else:
        raise RunNotFoundError(
            f"{path} is not a run directory (config.json + checkpoints/) or a checkpoint prefix such as RUN/best/ckpt-3"
        )
    return RunRef(run_dir, load_config(run_dir / CONFIG_NAME), checkpoint, kind)


def build_run_detector(config: RunConfig) -> keras.Model:
    """The model a run's method scores with, with exactly the graph (backbone, size, Keras graph, BN momentum) it
    was trained with, randomly initialised: nothing is downloaded or read; restore a checkpoint into it. Every
    loader builds through here (``Method.build_detector``, as the trainer did)."""
    from ltw_tf.methods import method_class

    return method_class(config.train.method).build_detector(config.model, None)


def finalize_restored(*models: keras.Model) -> None:
    """Refresh what layers derive from restored variables: ``tf.train.Checkpoint`` assigns variables only, and
    Keras' ``Normalization`` (EfficientNet's stem) keeps the mean / variance it read at build time until
    ``finalize_state``, so a restored ImageNet-started run would normalise with 0 / 1 instead of ImageNet's."""
    for model in models:
        for layer in model._flatten_layers(include_self=False):
            if isinstance(layer, keras.layers.Normalization):
                layer.finalize_state()


def load_detector(path: str | os.PathLike, which: str = "best") -> tuple[keras.Model, RunRef]:
    """Build the run's method's detector as it was trained (no download: random init) and restore its weights."""
    ref = resolve_run(path, which)
    model = ref.config.model
    detector = build_run_detector(ref.config)
    try:
        status = tf.train.Checkpoint(detector=detector).restore(ref.checkpoint)
    except (tf.errors.OpError, ValueError, IndexError) as err:  # IndexError: a truncated data file
        raise ValueError(f"{ref.checkpoint}: cannot be restored ({first_line(err, 'damaged')})") from None
    status.expect_partial()  # optimizers, weight net, counters stay in the file
    try:
        status.assert_existing_objects_matched()
    except AssertionError as err:
        raise ValueError(
            f"{ref.checkpoint} does not match a {model.backbone} detector ({model.backbone_graph()} graph) at "
            f"{model.image_size}px: {str(err).splitlines()[0]}"
        ) from None
    finalize_restored(detector)
    return detector, ref
