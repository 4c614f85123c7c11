"""DFDC (training parts): list videos; the paper's test set is the last 200 real videos with their fakes.

Layout: ``dfdc_train_part_N/metadata.json`` = ``{"abc.mp4": {"label": "FAKE"|"REAL", "original": "xyz.mp4"|null}}``
with the videos beside it. **Order** (stated, deterministic): parts by their number N (0, 1, 2, ..., 10, not
0, 1, 10, 2), then file names within a part in code-point order. The test split is the final ``test_reals`` (200)
REAL entries of the metadata in that order, plus every FAKE whose ``original`` is one of them; everything else is
"train". The order runs over the metadata, not over the files present, so a partial download does not move the
test set; listed videos missing on disk are then skipped (counted in the log).
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Sequence
from pathlib import Path

from ltw_tf.data.manifest import Video
from ltw_tf.data.sources.common import dataset_root, no_videos

log = logging.getLogger(__name__)

DATASET = "dfdc"
FAKE_DOMAIN = "DFDC"
TEST_REALS = 200
_PART = re.compile(r"^dfdc_train_part_(\d+)$")
_LABELS = {"REAL": 0, "FAKE": 1}


def train_parts(root: Path) -> list[Path]:
    """The ``dfdc_train_part_N`` folders of ``root``, sorted by N as a number."""
    parts = [(int(m.group(1)), p) for p in root.iterdir() if p.is_dir() and (m := _PART.match(p.name))]
    if not parts:
        raise FileNotFoundError(f"{DATASET}: no training part folders {root / 'dfdc_train_part_<N>'} found")
    return [p for _, p in sorted(parts)]


def read_metadata(part: Path) -> list[tuple[str, int, str]]:
    """(file name, label, original file name or "") per entry of a part's ``metadata.json``, sorted by name."""
    path = part / "metadata.json"
    if not path.is_file():
        raise FileNotFoundError(f"{DATASET}: metadata file {path} not found")
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from None
    if not isinstance(meta, dict):
        raise ValueError(f"{path}: expected a JSON object of file name -> {{label, original}}")
    entries = []
    for name in sorted(meta):
        info = meta[name]
        label = str(info.get("label", "")).upper() if isinstance(info, dict) else ""
        if label not in _LABELS:
            raise ValueError(f"{path}: entry {name!r} has no label REAL or FAKE: {json.dumps(info)}")
        original = info.get("original") or ""
        if not isinstance(original, str):
            raise ValueError(f"{path}: entry {name!r} has a non-string original {json.dumps(original)}")
        entries.append((name, _LABELS[label], original))
    return entries


def read_dfdc(
    root: str | os.PathLike,
    *,
    qualities: Sequence[str] = ("c23",),
    splits_dir: str | os.PathLike | None = None,
    methods: Sequence[str] | None = None,
    test_reals: int = TEST_REALS,
) -> list[Video]:
    """DFDC videos: the last ``test_reals`` real videos (module docstring's order) and their fakes are "test".

    Args:
        root: the folder holding the ``dfdc_train_part_N`` folders.
        qualities, splits_dir, methods: ignored (no quality levels, no split files, one manipulation domain).
        test_reals: how many real videos, from the end of the order, make the test set (the paper: 200).
    """
    del qualities, splits_dir, methods
    if test_reals < 0:
        raise ValueError(f"{DATASET}: test_reals must be >= 0, got {test_reals}")
    root = dataset_root(root, DATASET)
    ordered: list[tuple[Path, int, str]] = []  # (path, label, original), in the stated order
    seen: dict[str, Path] = {}
    for part in train_parts(root):
        for name, label, original in read_metadata(part):
            if name in seen:
                raise ValueError(f"{DATASET}: video {name!r} is listed in both {seen[name]} and {part}")
            seen[name] = part
            ordered.append((part / name, label, original))

    reals = [path.name for path, label, _ in ordered if label == 0]
    if len(reals) < test_reals:
        log.warning("%s: only %d real videos, fewer than the %d test reals asked for", DATASET, len(reals), test_reals)
    test = set(reals[len(reals) - min(test_reals, len(reals)) :])

    videos, missing, orphans = [], 0, 0
    for path, label, original in ordered:
        if not path.is_file():
            missing += 1
            continue
        if label == 0:
            target, split = path.stem, "test" if path.name in test else "train"
        else:
            orphans += not original
            target = Path(original).stem if original else path.stem
            split = "test" if original in test else "train"
        videos.append(
            Video(
                path=str(path),
                label=label,
                dataset=DATASET,
                domain=FAKE_DOMAIN if label else "real",
                quality="",
                split=split,
                video_id=path.stem,
                target_id=target,
                source_id="",
            )
        )
    if missing:
        log.warning("%s: skipped %d video(s) listed in metadata.json but missing on disk", DATASET, missing)
    if orphans:
        log.warning("%s: %d fake video(s) have no original; their own id is their target id", DATASET, orphans)
    if not videos:
        raise no_videos(DATASET, root, "")
    return videos
