"""Dataset readers: turn a dataset's on-disk layout into ``Video`` records (``list_videos``), or a DeepfakeBench
JSON of extracted frames into ``Face`` rows (``import_deepfakebench``).

Every reader takes ``(root, *, qualities, splits_dir, methods, **options)``, returns videos with absolute paths and
a split, and raises a one-line error naming what is missing or wrong.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

from ltw_tf.data.manifest import Video
from ltw_tf.data.sources.celebdf import read_celebdf
from ltw_tf.data.sources.deepfakebench import import_deepfakebench
from ltw_tf.data.sources.dfdc import read_dfdc
from ltw_tf.data.sources.ffpp import (
    FFPP_METHODS,
    METHOD_ALIASES,
    read_ffpp,
    read_split_files,
    read_synthff,
    resolve_methods,
    seeded_split,
    split_assignment,
)

DATASETS: dict[str, Callable[..., list[Video]]] = {
    "ffpp": read_ffpp,
    "synthff": read_synthff,
    "celebdf": read_celebdf,
    "dfdc": read_dfdc,
}


def list_videos(
    dataset: str,
    root: str | os.PathLike,
    *,
    qualities: Sequence[str] = ("c23",),
    splits_dir: str | os.PathLike | None = None,
    methods: Sequence[str] | None = None,
    **options: Any,
) -> list[Video]:
    """The videos of ``dataset`` under ``root``, each with its split.

    Args:
        dataset: a ``DATASETS`` name: ffpp, synthff, celebdf, dfdc.
        root: the dataset's root folder.
        qualities: compression levels (FF++ layouts; ignored by datasets without levels).
        splits_dir: split files: FF++ ``train/val/test.json`` (default ``ROOT/splits``, else a seeded split with a
            warning); Celeb-DF ``List_of_testing_videos.txt`` (default the root); unused by DFDC.
        methods: FF++ manipulation folders to read (names or DF/F2F/FS/NT; None = all four).
        **options: reader-specific: ``seed`` (ffpp/synthff fallback split), ``test_reals`` (dfdc, default 200).
    """
    reader = DATASETS.get(dataset)
    if reader is None:
        raise ValueError(f"unknown dataset {dataset!r}; valid: {', '.join(DATASETS)}")
    return reader(root, qualities=qualities, splits_dir=splits_dir, methods=methods, **options)


__all__ = [
    "DATASETS",
    "FFPP_METHODS",
    "METHOD_ALIASES",
    "import_deepfakebench",
    "list_videos",
    "read_celebdf",
    "read_dfdc",
    "read_ffpp",
    "read_split_files",
    "read_synthff",
    "resolve_methods",
    "seeded_split",
    "split_assignment",
]
