"""What a model was trained on, travelling with it: a run's ``trained_on.json``, the model card's ``trained_on``.

A verdict is only as good as the match between the faces it judges and the faces the model learned from. The
record says which datasets (synthff, ffpp, celebdf, dfdc; a DeepfakeBench import keeps the dataset names of its
label keys), which domains (the forgery families and the real domain), qualities, the crop side and how many faces
of how many videos of the benchmark's train split the detector saw. ``synthetic_only``: every face came from the
embedded synthetic benchmark, whose verdicts say nothing about real footage; screening says so next to every one.
"""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Sequence
from pathlib import Path
from typing import Any

TRAINED_ON_NAME = "trained_on.json"
SYNTHETIC_DATASETS = frozenset({"synthff"})
FORMAT = "ltw-tf trained_on 1"


def describe_faces(faces: Sequence[Any], root: str | os.PathLike, benchmark: str, split: str = "train") -> dict:
    """The record of a training set: manifest ``Face`` rows (the benchmark's source domains, ``split``)."""
    datasets = sorted({f.dataset for f in faces})
    return {
        "format": FORMAT,
        "benchmark": benchmark,
        "split": split,
        "datasets": datasets,
        "synthetic_only": bool(datasets) and set(datasets) <= SYNTHETIC_DATASETS,
        "domains": sorted({f.domain for f in faces}),
        "qualities": sorted({f.quality for f in faces if f.quality}),
        "face_size": _crop_side(Path(root) / faces[0].path) if faces else None,
        "faces": len(faces),
        "videos": len({(f.dataset, f.domain, f.quality, f.video_id) for f in faces}),
    }


def _crop_side(path: Path) -> int | None:
    """The side of a prepared crop: from a PNG's header (no decode), else None."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(24)
    except OSError:
        return None
    if head[:8] != b"\x89PNG\r\n\x1a\n":
        return None
    width, height = struct.unpack(">II", head[16:24])
    return int(width) if width == height else None


def read_trained_on(model: str | os.PathLike) -> dict | None:
    """The record for a model path as ``screen`` takes it: a run directory or checkpoint prefix (its run's
    ``trained_on.json``), or an export (``model_card.json`` beside the artefact or in its folder). None: not
    recorded (a run trained before the record existed, a foreign model)."""
    path = Path(model)
    for folder in _run_dir_candidates(path):
        record = _load(folder / TRAINED_ON_NAME) or _from_config(folder)
        if record is not None:
            return record
    for card in (path.parent / "model_card.json", path / "model_card.json"):
        try:
            found = json.loads(card.read_text())["training"]["trained_on"]
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if isinstance(found, dict):
            return found
    return None


def _run_dir_candidates(path: Path) -> list[Path]:
    """A run directory, and for a checkpoint prefix (RUN/best/ckpt-3) or its folder, the run above it."""
    return [p for p in (path, path.parent, path.parent.parent) if (p / "config.json").is_file()]


def _from_config(run_dir: Path) -> dict | None:
    """A run trained before the record existed: described from its config's data root, if that is still there."""
    from ltw_tf.benchmarks import get_benchmark, source_faces
    from ltw_tf.data.manifest import read_manifest

    try:
        data = json.loads((run_dir / "config.json").read_text())["data"]
        root = Path(data["data_root"]).expanduser()
        benchmark = data["benchmark"]
        faces = source_faces(get_benchmark(benchmark), read_manifest(root), split="train")
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return {**describe_faces(faces, root, benchmark), "recorded": "afterwards, from the run's data root"}


def _load(path: Path) -> dict | None:
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def summary(record: dict | None) -> str:
    """One line for a terminal or a report header."""
    if not record:
        return "training data not recorded (a run from before ltw-tf recorded it, or a model from elsewhere)"
    datasets = ", ".join(record.get("datasets") or ["?"])
    kind = " (synthetic faces only)" if record.get("synthetic_only") else ""
    domains = ", ".join(record.get("domains") or [])
    qualities = "/".join(record.get("qualities") or []) or "-"
    size = f"{record['face_size']} px" if record.get("face_size") else "? px"
    return (
        f"{datasets}{kind}: {record.get('benchmark', '?')} {record.get('split', 'train')} split, {domains}; "
        f"{qualities}; {size} crops; {record.get('faces', '?')} faces of {record.get('videos', '?')} videos"
    )


def caveat(record: dict | None) -> str | None:
    """The word a verdict carries when the model's training data limits what it means, or None."""
    if not record:
        return "training data unknown"
    if record.get("synthetic_only"):
        return "synthetic-trained model: says nothing about real faces"
    return None
