"""Celeb-DF (v1 and v2): list videos; the videos in ``List_of_testing_videos.txt`` are the test split.

Layout: ``Celeb-real/idX_NNNN.mp4`` and ``YouTube-real/NNNNN.mp4`` (real), ``Celeb-synthesis/idX_idY_NNNN.mp4``
(fake: the frames of ``idX_NNNN`` with identity ``idY`` swapped in). In the test list **1 = real, 0 = fake**, the
reverse of our labels; the list's flag is checked against the folder the video is in.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

from ltw_tf.data.manifest import Video
from ltw_tf.data.sources.common import dataset_root, no_videos, parse_celebdf_fake, require_dir, video_files

log = logging.getLogger(__name__)

DATASET = "celebdf"
FAKE_DOMAIN = "Celeb-synthesis"
FOLDERS = {"Celeb-real": 0, "YouTube-real": 0, "Celeb-synthesis": 1}  # folder -> our label (0 real, 1 fake)
TEST_LIST = "List_of_testing_videos.txt"
_LIST_FLAG = {"1": 0, "0": 1}  # the test list's flag (1 real, 0 fake) -> our label


def read_test_list(path: str | os.PathLike) -> dict[str, int]:
    """``List_of_testing_videos.txt`` as {"Folder/name.mp4": our label}, converting its 1 = real / 0 = fake."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{DATASET}: test list {path} not found")
    listed: dict[str, int] = {}
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2 or parts[0] not in _LIST_FLAG or "/" not in parts[1].replace("\\", "/"):
            raise ValueError(f"{path}:{lineno}: expected '<1 real | 0 fake> <folder>/<video>.mp4', got {line!r}")
        listed[parts[1].replace("\\", "/")] = _LIST_FLAG[parts[0]]
    return listed


def _test_list_path(root: Path, splits_dir: str | os.PathLike | None) -> Path:
    if splits_dir is None:
        return root / TEST_LIST
    splits_dir = Path(splits_dir)
    return splits_dir if splits_dir.is_file() else splits_dir / TEST_LIST


def read_celebdf(
    root: str | os.PathLike,
    *,
    qualities: Sequence[str] = ("c23",),
    splits_dir: str | os.PathLike | None = None,
    methods: Sequence[str] | None = None,
) -> list[Video]:
    """Celeb-DF videos: split "test" for those in the test list, "train" for the rest.

    Args:
        root: the Celeb-DF root (``Celeb-real``, ``YouTube-real``, ``Celeb-synthesis``, the test list).
        qualities: ignored (Celeb-DF has no quality levels; videos get quality "").
        splits_dir: where ``List_of_testing_videos.txt`` is (a folder or the file); None = the root.
        methods: ignored (one manipulation, domain "Celeb-synthesis").
    """
    del qualities, methods  # no levels, one manipulation
    root = dataset_root(root, DATASET)
    found = {folder: video_files(require_dir(root / folder, DATASET)) for folder in FOLDERS}
    list_path = _test_list_path(root, splits_dir)
    listed = read_test_list(list_path)
    for rel, label in listed.items():
        folder = rel.split("/")[0]
        if folder not in FOLDERS:
            raise ValueError(f"{list_path}: {rel} is not in one of {', '.join(FOLDERS)}")
        if FOLDERS[folder] != label:
            flag = 1 - label
            raise ValueError(
                f"{list_path}: {rel} is flagged {flag} ({'real' if flag else 'fake'}; in this file 1 = "
                f"real, 0 = fake) but {folder} holds {'fake' if FOLDERS[folder] else 'real'} videos"
            )
        if not (root / rel).is_file():
            raise FileNotFoundError(f"{list_path}: listed test video {root / rel} not found")

    videos, bad_names = [], []
    for folder, paths in found.items():
        label = FOLDERS[folder]
        for path in paths:
            vid = path.stem
            if label == 0:
                target, source = vid, ""
            elif parsed := parse_celebdf_fake(vid):
                target, source = parsed
            else:
                bad_names.append(str(path))
                continue
            split = "test" if f"{folder}/{path.name}" in listed else "train"
            videos.append(
                Video(
                    path=str(path),
                    label=label,
                    dataset=DATASET,
                    domain=FAKE_DOMAIN if label else "real",
                    quality="",
                    split=split,
                    video_id=vid,
                    target_id=target,
                    source_id=source,
                )
            )
    if bad_names:
        log.warning(
            "%s: skipped %d fake video(s) not named idX_idY_NNNN.mp4, e.g. %s", DATASET, len(bad_names), bad_names[0]
        )
    if not videos:
        raise no_videos(DATASET, root, "")
    return videos
