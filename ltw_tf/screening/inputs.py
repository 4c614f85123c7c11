"""What to screen: command-line paths -> media items (videos and images), folders searched recursively."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff"})
VIDEO_EXTENSIONS = frozenset(
    {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv", ".ts", ".3gp"}
)


@dataclass(frozen=True)
class MediaItem:
    path: str
    kind: str  # "video" | "image"


def media_kind(path: str | os.PathLike) -> str | None:
    """ "image" or "video" by extension; None for anything else."""
    suffix = Path(path).suffix.lower()
    return "image" if suffix in IMAGE_EXTENSIONS else "video" if suffix in VIDEO_EXTENSIONS else None


def find_media(paths: Iterable[str | os.PathLike]) -> list[MediaItem]:
    """Items in the order given; a folder contributes its images and videos (recursive, sorted, hidden files
    and folders skipped). A file named explicitly is screened whatever its extension (as a video unless it has an
    image extension); a path that does not exist is kept so that its record can say so."""
    items: list[MediaItem] = []
    seen: set[str] = set()

    def add(path: str, kind: str) -> None:
        if path not in seen:
            seen.add(path)
            items.append(MediaItem(path, kind))

    for raw in paths:
        path = os.fspath(raw)
        if os.path.isdir(path):
            for root, dirs, files in os.walk(path):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for name in sorted(files):
                    kind = media_kind(name)
                    if kind and not name.startswith("."):
                        add(os.path.join(root, name), kind)
        else:
            add(path, media_kind(path) or "video")
    return items


def read_list(lines: Iterable[str]) -> list[str]:
    """The paths of a list file (``screen --from-list``): one path or folder a line, surrounding white space
    stripped, blank lines and lines starting with ``#`` skipped. Relative paths stay relative to the working
    directory, as if typed on the command line."""
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def read_image(path: str | os.PathLike) -> np.ndarray:
    """An image file as uint8 RGB [H, W, 3] (grayscale, alpha and 16-bit files converted); a missing, empty or
    undecodable file raises ``VideoError`` with a one-line message."""
    import cv2

    from ltw_tf.data.faces import VideoError, to_rgb

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise VideoError(f"{path}: no such file")
    if os.path.getsize(path) == 0:
        raise VideoError(f"{path}: empty file (0 bytes)")
    image = cv2.imread(path, cv2.IMREAD_COLOR)
    if image is None or image.ndim != 3 or image.size == 0:
        raise VideoError(f"{path}: not a readable image (corrupt or unsupported format)")
    return to_rgb(image)
