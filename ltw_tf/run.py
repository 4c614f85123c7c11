"""One training run from a resolved config: manifest -> benchmark domains -> pipeline -> method -> trainer."""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ltw_tf.benchmarks import get_benchmark, source_faces
from ltw_tf.config import RunConfig
from ltw_tf.data.manifest import read_manifest
from ltw_tf.data.pipeline import ManifestEpochs, MissingMaskError, eval_dataset
from ltw_tf.methods import method_class, run_epochs
from ltw_tf.models import backbone_spec
from ltw_tf.models.backbones import weights_graph
from ltw_tf.provenance import describe_faces
from ltw_tf.runs import DATA_ROOT_ENV, RunSetupError, resolve_data_root

if TYPE_CHECKING:
    from ltw_tf.trainer import Trainer

__all__ = [
    "DATA_ROOT_ENV",
    "RunInputs",
    "RunSetupError",
    "build_trainer",
    "resolve_data_root",
    "run_inputs",
    "with_graph",
]


@dataclass
class RunInputs:
    """What a training run reads: the data source, the validation batches, the data root and the record of the
    training faces (``ltw_tf.provenance``, the run's trained_on.json)."""

    train: ManifestEpochs
    val: object | None
    root: Path
    trained_on: dict | None = None


def run_inputs(config: RunConfig) -> RunInputs:
    """Build the training source (benchmark source domains, train split) and validation set (val split)."""
    run_epochs(config.train)  # fail on a bad method name or epoch count before reading data
    backbone_spec(config.model.backbone)
    benchmark = get_benchmark(config.data.benchmark)
    root = resolve_data_root(config)
    faces = read_manifest(root)
    try:
        train_faces = source_faces(benchmark, faces, split="train")
    except ValueError as err:
        raise RunSetupError(str(err)) from None
    try:  # model selection on the FF++ validation split of the source domains (never on test sets)
        val_faces = source_faces(benchmark, faces, split="val")
    except ValueError as err:
        warnings.warn(f"no validation set ({err}); the best/ checkpoint will not be kept", stacklevel=2)
        val = None
    else:  # a missing crop here is an error, not "no validation set"
        val = eval_dataset(val_faces, root, config.model.image_size, config.train.batch_size)
    try:
        train = ManifestEpochs(
            train_faces,
            root,
            benchmark.sources,
            seed=config.train.seed,
            batch_size=config.train.batch_size,
            image_size=config.model.image_size,
            masks=method_class(config.train.method).uses_masks,
        )
    except MissingMaskError as err:
        raise RunSetupError(f"{err} (method {config.train.method})") from None
    return RunInputs(train, val, root, describe_faces(train_faces, root, config.data.benchmark))


def with_graph(config: RunConfig) -> RunConfig:
    """``config`` with ``model.graph`` set to the graph its weights need (recorded in config.json for loaders)."""
    if config.model.graph is not None:
        return config
    return config.override({"model.graph": weights_graph(config.model.backbone, config.model.weights)})


def build_trainer(config: RunConfig, run_dir: str | os.PathLike, progress: bool = True) -> Trainer:
    """The one training entry of ``ltw-tf train`` and ``ltw-tf benchmark``: inputs, seeded method, Trainer."""
    from ltw_tf.trainer import Trainer, build_from_config

    config = with_graph(config)
    inputs = run_inputs(config)
    return Trainer(
        build_from_config(config),
        inputs.train,
        run_dir,
        config,
        val_data=inputs.val,
        progress=progress,
        trained_on=inputs.trained_on,
    )
