"""Helpers the dataset readers share: the dataset root, expected folders, video listing, id parsing."""

from __future__ import annotations

import os
import re
from pathlib import Path

SPLITS = ("train", "val", "test")
VIDEO_SUFFIXES = (".mp4",)

_PAIR = re.compile(r"^([^_]+)_([^_]+)$")


def dataset_root(root: str | os.PathLike, dataset: str) -> Path:
    """The root as an absolute path (symlinks kept); FileNotFoundError when it is not a folder."""
    path = Path(root).expanduser().absolute()
    if not path.is_dir():
        raise FileNotFoundError(f"{dataset}: dataset root {path} is not a folder")
    return path


def require_dir(folder: Path, dataset: str) -> Path:
    """``folder`` itself, or FileNotFoundError naming the exact folder looked for."""
    if not folder.is_dir():
        raise FileNotFoundError(f"{dataset}: expected folder {folder} not found")
    return folder


def video_files(folder: Path) -> list[Path]:
    """The video files directly in ``folder``, sorted by name (only listed, never opened)."""
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES and p.is_file())


def parse_pair(video_id: str) -> tuple[str, str] | None:
    """An FF++ fake id ``T_S`` as (target T, source S); None when the id is not of that form."""
    match = _PAIR.match(video_id)
    return (match.group(1), match.group(2)) if match else None


def parse_celebdf_fake(video_id: str) -> tuple[str, str] | None:
    """A Celeb-DF fake id ``idX_idY_NNNN`` as (target video ``idX_NNNN``, source identity ``idY``)."""
    parts = video_id.split("_")
    if len(parts) != 3 or not all(parts):
        return None
    return f"{parts[0]}_{parts[2]}", parts[1]


def no_videos(dataset: str, root: Path, quality: str) -> ValueError:
    """The one-line error for an empty result."""
    level = f"quality {quality!r}" if quality else "no quality levels"
    return ValueError(f"{dataset}: no videos found under {root} ({level})")
