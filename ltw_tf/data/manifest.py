"""The one record type: a video to extract (``Video``) and a face crop (``Face``), and the manifest CSV.

Readers turn an on-disk layout into ``Video`` lists; extraction turns each ``Video`` into ``Face`` rows; the
manifest (``manifest.csv`` next to the crops, paths relative to it) is what every later stage reads. Labels
come from here, never from path depth: 0 = real, 1 = fake.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ltw_tf.data.meta_split import REAL, SampleTable
from ltw_tf.io import atomic_write_text

MANIFEST_NAME = "manifest.csv"


@dataclass(frozen=True)
class Video:
    """One video of a dataset, as a reader lists it."""

    path: str  # absolute, or relative to the dataset root
    label: int  # 0 real, 1 fake
    dataset: str  # ffpp | celebdf | dfdc | synthff | ...
    domain: str  # "real" or the manipulation (Deepfakes, Face2Face, FaceSwap, NeuralTextures, ...)
    quality: str  # c23 | c40 | raw | "" where the dataset has no levels
    split: str  # train | val | test
    video_id: str  # unique within (dataset, domain, quality), e.g. "000_003"
    target_id: str  # the video whose frames are shown (a real video: itself)
    source_id: str = ""  # the identity pasted in (fakes only, where known)
    mask: str = ""  # the fake's manipulation-mask video (same frames as the video), "" when there is none


@dataclass(frozen=True)
class Face:
    """One face crop: the video's fields plus where the crop is and which frame it came from."""

    path: str  # relative to the manifest's folder
    label: int
    dataset: str
    domain: str
    quality: str
    split: str
    video_id: str
    target_id: str
    source_id: str
    frame: int  # frame index in the video
    score: float = 1.0  # detector confidence of the kept face
    mask: str = ""  # the mask crop (same box and size as the face crop, 255 = manipulated), "" when none

    @classmethod
    def from_video(cls, video: Video, path: str, frame: int, score: float = 1.0, mask: str = "") -> Face:
        fields = {f.name: getattr(video, f.name) for f in dataclasses.fields(Video) if f.name not in ("path", "mask")}
        return cls(path=path, frame=frame, score=score, mask=mask, **fields)


FIELDS = [f.name for f in dataclasses.fields(Face)]
_TYPES = {f.name: f.type for f in dataclasses.fields(Face)}
OPTIONAL = {"mask": ""}  # columns added later: a manifest written before them reads with this default


def _parse(row: dict[str, str], where: str) -> Face:
    row = {**OPTIONAL, **row}
    missing = [name for name in FIELDS if name not in row]
    if missing:
        raise ValueError(f"{where}: manifest lacks column(s) {missing}")
    try:
        values = {
            k: (int(row[k]) if _TYPES[k] == "int" else float(row[k]) if _TYPES[k] == "float" else row[k])
            for k in FIELDS
        }
    except ValueError as err:
        raise ValueError(f"{where}: {err}") from None
    if values["label"] not in (0, 1):
        raise ValueError(f"{where}: label must be 0 (real) or 1 (fake), got {values['label']}")
    return Face(**values)


def read_manifest(path: str | os.PathLike) -> list[Face]:
    """Read a manifest CSV (a file, or a folder holding ``manifest.csv``)."""
    path = Path(path)
    if path.is_dir():
        path = path / MANIFEST_NAME
    if not path.is_file():
        raise FileNotFoundError(f"no manifest at {path} (run `ltw-tf prepare` first)")
    with open(path, newline="", encoding="utf-8") as fh:
        return [_parse(row, f"{path}:{i + 2}") for i, row in enumerate(csv.DictReader(fh))]


def write_manifest(path: str | os.PathLike, faces: Iterable[Face]) -> Path:
    """Write faces atomically (temp file, then rename), sorted for stable diffs."""
    path = Path(path)
    if path.is_dir():
        path = path / MANIFEST_NAME
    rows = sorted(faces, key=lambda f: (f.dataset, f.quality, f.domain, f.video_id, f.frame, f.path))
    buffer = io.StringIO(newline="")
    writer = csv.DictWriter(buffer, fieldnames=FIELDS)
    writer.writeheader()
    writer.writerows(dataclasses.asdict(face) for face in rows)
    atomic_write_text(path, buffer.getvalue())
    return path


def select(
    faces: Iterable[Face],
    *,
    datasets: Sequence[str] | None = None,
    domains: Sequence[str] | None = None,
    qualities: Sequence[str] | None = None,
    splits: Sequence[str] | None = None,
) -> list[Face]:
    """Faces matching every given filter (None = any)."""

    def keep(face: Face) -> bool:
        return (
            (datasets is None or face.dataset in datasets)
            and (domains is None or face.domain in domains)
            and (qualities is None or face.quality in qualities)
            and (splits is None or face.split in splits)
        )

    return [face for face in faces if keep(face)]


def sample_faces(faces: Sequence[Face], limit: int, seed: int) -> list[Face]:
    """At most ``limit`` of ``faces``, drawn without replacement with ``seed``, in their original order."""
    faces = list(faces)
    if len(faces) <= limit:
        return faces
    keep = np.sort(np.random.default_rng(seed).choice(len(faces), limit, replace=False))
    return [faces[i] for i in keep]


def sample_table(faces: Sequence[Face]) -> SampleTable:
    """The meta-split's view of faces: label, domain, target id and frame per row."""
    return SampleTable(
        labels=np.array([f.label for f in faces], dtype=np.int64),
        domains=np.array([REAL if f.label == 0 else f.domain for f in faces]),
        targets=np.array([f.target_id for f in faces]),
        frames=np.array([f.frame for f in faces], dtype=np.int64),
    )
