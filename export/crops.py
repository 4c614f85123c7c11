"""Face crops for int8 calibration and parity checks, read from a prepared root (manifest.csv + crops).

Default: the run's own data root; calibration crops come from the train split of the benchmark's source domains
(what the detector was trained on); int8's float ops are chosen on the val split (labelled, never trained on)
and parity is checked on the test split (val when there is no test split). Crops are uint8 RGB at
the model size, as the exported model takes them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ltw_tf.benchmarks import get_benchmark, source_faces
from ltw_tf.data.manifest import MANIFEST_NAME, Face, read_manifest, sample_faces
from ltw_tf.data.pipeline import uint8_batches

CALIBRATION_CROPS = 384
PARITY_CROPS = 512
HELD_OUT = ("val", "test")


@dataclass(frozen=True)
class CropSet:
    """uint8 RGB crops [N, S, S, 3] with their labels (0 real, 1 fake) and where they came from."""

    images: np.ndarray
    labels: np.ndarray
    source: str  # e.g. "data/faces (train split, source domains)"

    def __len__(self) -> int:
        return len(self.labels)


def manifest_root(path: str | os.PathLike) -> Path:
    """A prepared root, given as the folder or its manifest.csv."""
    path = Path(path).expanduser()
    root = path.parent if path.name == MANIFEST_NAME else path
    if not (root / MANIFEST_NAME).is_file():
        raise FileNotFoundError(f"{path} is not a prepared root (no {MANIFEST_NAME}); make one with `ltw-tf prepare`")
    return root


def load_crops(faces: Sequence[Face], root: str | os.PathLike, size: int, source: str) -> CropSet:
    """Decode and resize ``faces`` (the training pipeline's decoder) to uint8 crops."""
    images, labels = zip(*uint8_batches(faces, root, size))
    return CropSet(np.concatenate(images), np.concatenate(labels), source)


def split_faces(faces: Sequence[Face], benchmark: str | None) -> tuple[list[Face], list[Face], list[Face], str]:
    """(calibration, val, test, description). Calibration: with a benchmark, its source domains' train split;
    otherwise the train split, or every face when the manifest has none. val / test: the rest of those splits."""
    if benchmark is not None:
        bench = get_benchmark(benchmark)
        calibration = source_faces(bench, faces, split="train")
        what = f"train split of {bench.name} source domains"
    else:
        train = [f for f in faces if f.split == "train"]
        calibration, what = (train, "train split") if train else (list(faces), "all faces")
    chosen = {f.path for f in calibration}
    val, test = ([f for f in faces if f.split == split and f.path not in chosen] for split in HELD_OUT)
    return calibration, val, test, what


class CropSets(NamedTuple):
    """Calibration crops; labelled crops for choosing int8's float ops (val split; None: use calibration);
    held-out crops for parity (test split, else val; None when every face went to calibration)."""

    calibration: CropSet
    selection: CropSet | None
    held_out: CropSet | None


def crop_sets(
    root: str | os.PathLike,
    size: int,
    benchmark: str | None = None,
    calibration_limit: int = CALIBRATION_CROPS,
    parity_limit: int = PARITY_CROPS,
    seed: int = 0,
) -> CropSets:
    """Calibration crops from the training faces, selection crops from val, parity crops from test."""
    root = Path(root)
    calibration, val, test, what = split_faces(read_manifest(root), benchmark)
    cal = load_crops(sample_faces(calibration, calibration_limit, seed), root, size, f"{root} ({what})")
    selection = None
    if val:
        selection = load_crops(sample_faces(val, parity_limit, seed + 1), root, size, f"{root} (val split)")
    held_out = test or val
    if not held_out:
        return CropSets(cal, selection, None)
    split = "test" if test else "val"
    return CropSets(
        cal,
        selection,
        load_crops(sample_faces(held_out, parity_limit, seed + 2), root, size, f"{root} (held out: {split} split)"),
    )


def in_batches(predict: Callable[[np.ndarray], np.ndarray], images: np.ndarray, batch_size: int = 16) -> np.ndarray:
    """Run ``predict`` over ``images`` a batch at a time (bounded memory on large backbones)."""
    return np.concatenate(
        [np.asarray(predict(images[i : i + batch_size])).reshape(-1) for i in range(0, len(images), batch_size)]
    )
