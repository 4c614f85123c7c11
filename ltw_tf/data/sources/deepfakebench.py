"""Import a DeepfakeBench dataset JSON (already-extracted frames) as manifest ``Face`` rows, no re-extraction.

Shape: ``{name: {label_key: {split: {quality: {video_id: {"label": ..., "frames": [...]}}}}}}``; datasets without
quality levels (Celeb-DF, DFDC) omit the quality level, so the level below the split is the video id. The label
key (FF-DF, CelebDFv2_fake, DFDC_Real, ...) gives dataset, domain and label.

DeepfakeBench copies videos into several splits (Celeb-DF's test videos are also in train and val; DFDC's train
videos also in val). A video keeps one split, the most held-out: test, else train, else val.

Not the paper's protocol: the crops are DeepfakeBench's (its own detector and margin, not MTCNN with 16 px) and
its splits are its own (its DFDC test set is not "the last 200 real videos with their fakes"), so numbers from an
import are not comparable with the paper's. Only the frame count is brought to the paper's by default: 10 frames
per video, evenly spaced over the frames DeepfakeBench extracted (``np.linspace`` as ``faces.py``).
"""

from __future__ import annotations

import json
import logging
import os
import re
from pathlib import Path

from ltw_tf.data.faces import sample_frame_indices
from ltw_tf.data.manifest import Face
from ltw_tf.data.sources.common import parse_celebdf_fake, parse_pair

log = logging.getLogger(__name__)

FRAMES_PER_VIDEO = 10  # the paper's frames per video (DATA.md)

# label key -> (dataset, domain, label)
LABEL_KEYS = {
    "FF-real": ("ffpp", "real", 0),
    "FF-DF": ("ffpp", "Deepfakes", 1),
    "FF-F2F": ("ffpp", "Face2Face", 1),
    "FF-FS": ("ffpp", "FaceSwap", 1),
    "FF-NT": ("ffpp", "NeuralTextures", 1),
    "FF-FH": ("ffpp", "FaceShifter", 1),
    "CelebDFv1_real": ("celebdf", "real", 0),
    "CelebDFv1_fake": ("celebdf", "Celeb-synthesis", 1),
    "CelebDFv2_real": ("celebdf", "real", 0),
    "CelebDFv2_fake": ("celebdf", "Celeb-synthesis", 1),
    "DFDC_Real": ("dfdc", "real", 0),
    "DFDC_Fake": ("dfdc", "DFDC", 1),
}
SPLIT_NAMES = {"train": "train", "val": "val", "valid": "val", "validation": "val", "test": "test"}
_KEEP_ORDER = {"test": 0, "train": 1, "val": 2}  # which copy of a video in several splits is kept
_SUFFIX = re.compile(r"^(?P<prefix>.+?)[_-](?P<kind>real|fake)[A-Za-z0-9]*$", re.IGNORECASE)


def label_info(key: str) -> tuple[str, str, int]:
    """(dataset, domain, label) of a DeepfakeBench label key.

    Known keys map as ``LABEL_KEYS``; another ``<Prefix>_real*`` / ``<Prefix>_fake*`` key (UADFV_Fake, DFDCP_FakeA,
    DFD_real) maps to dataset ``prefix`` lower-cased, domain "real" or the key itself.
    """
    if key in LABEL_KEYS:
        return LABEL_KEYS[key]
    match = _SUFFIX.match(key)
    if not match:
        raise ValueError(
            f"unknown DeepfakeBench label key {key!r}: expected one of {', '.join(LABEL_KEYS)} "
            "or a <dataset>_real / <dataset>_fake key"
        )
    dataset = re.sub(r"[^a-z0-9]", "", match["prefix"].lower())
    is_fake = match["kind"].lower() == "fake"
    return dataset, key if is_fake else "real", int(is_fake)


def frame_indices(frames: list[str]) -> list[int]:
    """Frame index per file: the last digit run of its name ("frame_012.png" -> 12); positions if not unique."""
    indices = []
    for frame in frames:
        digits = re.findall(r"\d+", Path(frame).stem)
        indices.append(int(digits[-1]) if digits else -1)
    if -1 in indices or len(set(indices)) != len(indices):
        return list(range(len(frames)))
    return indices


def _is_video(node: object) -> bool:
    return isinstance(node, dict) and "frames" in node


def _videos(node: dict, where: str) -> list[tuple[str, str, dict]]:
    """(quality, video id, entry) under a split node, with or without the quality level."""
    if _is_video(node):  # DeepfakeBench's DFDC bug writes one entry straight into the split
        log.warning("deepfakebench: %s holds a bare video entry instead of videos; skipped", where)
        return []
    if any(_is_video(v) for v in node.values()):
        bad = next((vid for vid, v in node.items() if not _is_video(v)), None)
        if bad is not None:
            raise ValueError(f"{where}/{bad}: expected a video entry with 'frames' beside the other videos")
        return [("", vid, entry) for vid, entry in node.items()]
    out = []
    for quality, videos in node.items():
        if not isinstance(videos, dict) or not all(_is_video(v) for v in videos.values()):
            raise ValueError(f"{where}/{quality}: expected video entries with 'frames', or a quality level of them")
        out += [(quality, vid, entry) for vid, entry in videos.items()]
    return out


def _ids(dataset: str, label: int, video_id: str) -> tuple[str, str]:
    """(target id, source id) from the video id: FF++ fakes ``T_S``, Celeb-DF fakes ``idX_idY_NNNN``."""
    parsed = None
    if label == 1 and dataset == "ffpp":
        parsed = parse_pair(video_id)
    elif label == 1 and dataset == "celebdf":
        parsed = parse_celebdf_fake(video_id)
    return parsed or (video_id, "")


def import_deepfakebench(
    json_path: str | os.PathLike,
    root: str | os.PathLike | None = None,
    frames_per_video: int | None = FRAMES_PER_VIDEO,
) -> list[Face]:
    """Manifest rows for the frames of a DeepfakeBench JSON, ``frames_per_video`` evenly spaced ones per video.

    Args:
        json_path: the DeepfakeBench dataset JSON (e.g. ``FaceForensics++.json``, ``Celeb-DF-v2.json``).
        root: folder that relative frame paths are resolved against; None = keep paths as written.
        frames_per_video: frames kept per video, evenly spaced in frame order (the paper: 10); None keeps all.
    """
    if frames_per_video is not None and frames_per_video < 1:
        raise ValueError(f"frames_per_video must be at least 1 (or None to keep every frame), got {frames_per_video}")
    json_path = Path(json_path)
    if not json_path.is_file():
        raise FileNotFoundError(f"deepfakebench: JSON file {json_path} not found")
    try:
        data = json.loads(json_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{json_path}: not valid JSON ({err})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{json_path}: expected a JSON object {{dataset: {{label: {{split: ...}}}}}}")

    kept: dict[tuple[str, str, str, str], tuple[str, list[Face]]] = {}
    duplicates = empty = 0
    for name, labels in data.items():
        for label_key, splits in _as_dict(labels, f"{json_path}: {name}").items():
            dataset, domain, label = label_info(label_key)
            for split_key, node in _as_dict(splits, f"{json_path}: {name}/{label_key}").items():
                split = SPLIT_NAMES.get(split_key)
                if split is None:
                    raise ValueError(
                        f"{json_path}: {name}/{label_key} has unknown split {split_key!r}; "
                        f"expected one of {', '.join(SPLIT_NAMES)}"
                    )
                where = f"{json_path}: {name}/{label_key}/{split_key}"
                for quality, vid, entry in _videos(_as_dict(node, where), where):
                    frames = entry["frames"]
                    if not isinstance(frames, list) or not all(isinstance(f, str) for f in frames):
                        raise ValueError(f"{where}/{vid}: 'frames' must be a list of paths")
                    if not frames:
                        empty += 1
                        continue
                    key = (dataset, domain, quality, vid)
                    if key in kept:
                        duplicates += 1
                        if _KEEP_ORDER[kept[key][0]] <= _KEEP_ORDER[split]:
                            continue
                    target, source = _ids(dataset, label, vid)
                    indices = frame_indices(frames)
                    order = sorted(range(len(frames)), key=indices.__getitem__)
                    if frames_per_video is not None:
                        order = [order[i] for i in sample_frame_indices(len(order), frames_per_video)]
                    faces = [
                        Face(
                            path=_resolve(frames[i], root),
                            label=label,
                            dataset=dataset,
                            domain=domain,
                            quality=quality,
                            split=split,
                            video_id=vid,
                            target_id=target,
                            source_id=source,
                            frame=indices[i],
                        )
                        for i in order
                    ]
                    kept[key] = (split, faces)
    if duplicates:
        log.warning(
            "deepfakebench: %d video(s) appear in several splits; kept one copy each (test > train > val)", duplicates
        )
    if empty:
        log.warning("deepfakebench: skipped %d video(s) with no frames", empty)
    faces = [face for _, video_faces in kept.values() for face in video_faces]
    if not faces:
        raise ValueError(f"{json_path}: no frames found")
    return faces


def _as_dict(node: object, where: str) -> dict:
    if not isinstance(node, dict):
        raise ValueError(f"{where}: expected a JSON object, got {type(node).__name__}")
    return node


def _resolve(frame: str, root: str | os.PathLike | None) -> str:
    return frame if root is None or Path(frame).is_absolute() else str(Path(root) / frame)
