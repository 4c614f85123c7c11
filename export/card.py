"""The model card: one JSON beside the artefacts saying what they are, where they came from and their checksums.

A reader (screening, a deployment script) needs no other file: input size and format, output meaning, decision
threshold, backbone, benchmark and method of the run, what it was trained on (``ltw_tf.provenance``), the run's
validation metrics, library versions and the sha256 of every artefact (a SavedModel folder hashes as its sorted
file list, see ``sha256_path``).
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
from datetime import datetime, timezone
from pathlib import Path

from ltw_tf.io import sha256_file
from ltw_tf.models.serving import FEATURES_NAME, INPUT_NAME, OUTPUT_NAME
from ltw_tf.provenance import read_trained_on
from ltw_tf.runs import RunRef

CARD_NAME = "model_card.json"
THRESHOLD = 0.5
CARD_FORMAT = "ltw-tf model card 1"


def sha256_path(path: str | os.PathLike) -> str:
    """sha256 of a file; of a folder: sha256 over the lines ``relative/path<TAB>sha256-of-file`` sorted by path."""
    path = Path(path)
    if path.is_file():
        return sha256_file(path)
    lines = sorted(f"{p.relative_to(path).as_posix()}\t{sha256_file(p)}\n" for p in path.rglob("*") if p.is_file())
    return hashlib.sha256("".join(lines).encode()).hexdigest()


def size_bytes(path: str | os.PathLike) -> int:
    path = Path(path)
    return path.stat().st_size if path.is_file() else sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def read_history(run_dir: str | os.PathLike) -> list[dict]:
    path = Path(run_dir) / "history.json"
    return json.loads(path.read_text()) if path.is_file() else []


def exported_epoch(ref: RunRef, history: list[dict]) -> dict | None:
    """The history record of the exported checkpoint: ckpt-N is epoch N; else the last best (or last) epoch."""
    match = re.search(r"ckpt-(\d+)$", ref.checkpoint)
    if match:
        for record in history:
            if record.get("epoch") == int(match.group(1)):
                return record
    best = [r for r in history if r.get("best")]
    return (best or history or [None])[-1]


def run_metrics(ref: RunRef) -> dict:
    """The run's validation metrics: the exported epoch's val metrics and the best val AUC over the run."""
    history = read_history(ref.run_dir)
    record = exported_epoch(ref, history)
    aucs = [(r["val"]["auc"], r["epoch"]) for r in history if isinstance(r.get("val"), dict) and "auc" in r["val"]]
    best_auc, best_epoch = max(aucs) if aucs else (None, None)
    return {
        "epochs_trained": len(history),
        "exported_epoch": record.get("epoch") if record else None,
        "val": record.get("val") if record else None,
        "best_val_auc": best_auc,
        "best_val_epoch": best_epoch,
        "split": "val split of the benchmark's source domains (model selection; not a test set)",
    }


def versions() -> dict:
    import ai_edge_litert
    import keras
    import numpy as np
    import tensorflow as tf

    import ltw_tf

    litert = getattr(ai_edge_litert, "__version__", None)
    if litert is None:
        from importlib.metadata import version

        litert = version("ai-edge-litert")
    return {
        "ltw_tf": ltw_tf.__version__,
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "ai_edge_litert": litert,
        "numpy": np.__version__,
        "python": platform.python_version(),
    }


def model_card(
    ref: RunRef,
    parameters: int,
    artefacts: dict[str, dict],
    out: str | os.PathLike,
    parity: dict | None = None,
    int8: dict | None = None,
    ood: dict | None = None,
) -> dict:
    """The card for ``artefacts`` ({kind: {"path": ..., ...}}) written in ``out``; hashes are taken now."""
    config, out = ref.config, Path(out)
    size = config.model.image_size
    files = {}
    for kind, info in artefacts.items():
        path = Path(info["path"])
        files[kind] = {**info, "path": path.name, "bytes": size_bytes(path), "sha256": sha256_path(path)}
    if ood is not None:
        path = Path(ood["path"])
        ood = {**ood, "path": path.name, "bytes": size_bytes(path), "sha256": sha256_path(path)}
    return {
        "format": CARD_FORMAT,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "model": {
            "name": "f(theta): Learning-to-Weight face-forgery detector (detector only, no weight net)",
            "backbone": config.model.backbone,
            "image_size": size,
            "parameters": int(parameters),
        },
        "input": {
            "name": INPUT_NAME,
            "dtype": "uint8",
            "shape": [None, size, size, 3],
            "format": f"RGB face crops resized to {size}x{size} by tf.image.resize(antialias=True) and rounded "
            "(ltw_tf.data.resize.resize_face, as training and screening), pixels 0-255 (no normalisation: the model "
            "does it); crops as `ltw-tf prepare` makes them (MTCNN box plus margin)",
        },
        "output": {"name": OUTPUT_NAME, "dtype": "float32", "shape": [None], "meaning": "P(fake) per crop"},
        "features": {
            "name": FEATURES_NAME,
            "dtype": "float32",
            "shape": [None, None if ood is None else ood["features"]],
            "meaning": "each backbone stage's feature map averaged over space, concatenated (ltw_tf.ood reads them)",
        },
        "ood": ood,
        "threshold": THRESHOLD,
        "decision": f"fake if probability >= {THRESHOLD}",
        "training": {
            "method": config.train.method,
            "benchmark": config.data.benchmark,
            "run_dir": str(Path(ref.run_dir).resolve()),
            "checkpoint": str(Path(ref.checkpoint).resolve()),
            "checkpoint_kind": ref.kind,
            "backbone_weights": config.model.weights,
            "seed": config.train.seed,
            "trained_on": read_trained_on(ref.run_dir),  # datasets, domains, qualities, crop side (None: unknown)
        },
        "metrics": run_metrics(ref),
        "artefacts": files,
        "int8": int8,
        "parity": parity,
        "versions": versions(),
    }


def write_card(card: dict, path: str | os.PathLike) -> Path:
    path = Path(path)
    path.write_text(json.dumps(card, indent=2, sort_keys=False, default=str) + "\n")
    return path
