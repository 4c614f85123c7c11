"""Less detection for the same faces, and every person in the frame: face tracking between MTCNN runs.

``faces`` (training preparation) is the reference; this module changes how much is detected and how many faces
are kept, not what a crop looks like (frames come from ``decode.VideoFrames``, the one video reader of prepare and
screen, re-exported here):

- ``track_faces`` runs MTCNN (``faces.detect_all_faces``, the same downscaled coarse-to-fine detection) on every
  ``detect_every``-th sampled frame only and keeps every usable face (score >= ``min_score``, box side >=
  ``min_size``). Faces are linked across those keyframes into tracks, one per person: a face continues the track
  whose last box overlaps it most (IoU >= ``IOU_LINK``), or whose centre is within ``CENTRE_LINK`` of its side
  (a face moving fast between sparse keyframes); a track may miss ``TRACK_GAP`` keyframes. Between two keyframes
  with the same tracks each track's box is interpolated linearly; where a track is at one end only (a person
  comes or goes inside the gap), the frames in the gap are detected after all and linked to the tracks around
  them; where neither end has a face, the frames in between count as no face. ``detect_every=1`` detects every
  sampled frame; a frame with one face gives exactly ``faces.extract_faces``'s margin, square and crop.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ltw_tf.data.decode import VideoError, VideoFrames
from ltw_tf.data.faces import (
    DETECT_SIDES,
    MIN_SCORE,
    Detection,
    FaceCrop,
    check_margin,
    crop_square,
    detect_all_faces,
    square_box,
)

__all__ = ["FrameFace", "VideoError", "VideoFrames", "interpolate_box", "link_boxes", "track_faces"]

TRACK_BATCH = 32  # frames held (full resolution) while their detections are resolved
IOU_LINK = 0.3  # a face continues a track whose last box overlaps it at least this much (intersection over union)
CENTRE_LINK = 0.5  # ... or whose centre is closer than this fraction of the larger of the two box sides
TRACK_GAP = 2  # keyframes a track may miss (a face not detected once) and still be continued
MIN_FACE = 24.0  # px: the default shortest box side of a face worth judging (MTCNN finds faces from ~20 px)


# --------------------------------------------------------------------------- tracking


@dataclass(frozen=True)
class FrameFace:
    """One face of one sampled frame, or a frame without one (``crop`` None, ``reason`` says why). ``tracked``:
    the box was interpolated between two detections; ``track``: the person it belongs to (track ids count from 0
    in order of first appearance within the item)."""

    frame: int
    crop: FaceCrop | None
    reason: str = ""
    tracked: bool = False
    track: int = 0


def interpolate_box(a: Detection, b: Detection, t: float) -> Detection:
    """The box a fraction ``t`` of the way from detection ``a`` to ``b``; its score is the lower of the two."""
    (box_a, score_a), (box_b, score_b) = a, b
    box = tuple(float((1.0 - t) * p + t * q) for p, q in zip(box_a, box_b))
    return box, min(score_a, score_b)


def _closeness(a: tuple[float, ...], b: tuple[float, ...]) -> tuple[float, float] | None:
    """(IoU, -centre distance / side) of two (x, y, w, h) boxes when they may be one face, else None."""
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    inter = max(0.0, min(ax + aw, bx + bw) - max(ax, bx)) * max(0.0, min(ay + ah, by + bh) - max(ay, by))
    iou = inter / (aw * ah + bw * bh - inter) if inter > 0 else 0.0
    distance = np.hypot(ax + aw / 2 - bx - bw / 2, ay + ah / 2 - by - bh / 2) / max(aw, ah, bw, bh)
    if iou >= IOU_LINK or distance < CENTRE_LINK:
        return iou, -float(distance)
    return None


def link_boxes(tracks: dict[int, Detection], faces: Sequence[Detection]) -> list[int | None]:
    """Which track each face continues (None: a new person): pairs taken greedily, most overlapping first, each
    track and each face at most once."""
    pairs = []
    for track, (box, _) in tracks.items():
        for i, (face, _) in enumerate(faces):
            close = _closeness(box, face)
            if close is not None:
                pairs.append((close, track, i))
    out: list[int | None] = [None] * len(faces)
    used: set[int] = set()
    for _, track, i in sorted(pairs, key=lambda p: p[0], reverse=True):
        if out[i] is None and track not in used:
            out[i], _ = track, used.add(track)
    return out


class _Tracker:
    """The state of ``track_faces`` between batches: the tracks seen lately and the last keyframe's faces."""

    def __init__(
        self, detector: Any, margin: int | float, size: int, min_score: float, min_size: float, sides: Sequence[int]
    ):
        self.detector, self.margin, self.size = detector, check_margin(margin), size
        self.min_score, self.min_size, self.sides = min_score, float(min_size), tuple(sides)
        self.recent: dict[int, tuple[int, Detection]] = {}  # track -> (keyframe number last seen, detection)
        self.keyframe = 0
        self.next_track = 0
        self.previous: tuple[int, dict[int, Detection], str] | None = None  # the last keyframe: frame, faces, reason

    def detect(self, images: list[np.ndarray]) -> list[tuple[list[Detection], str]]:
        """(usable faces, largest first; reason when there are none) per image."""
        found = detect_all_faces(
            self.detector, images, sides=self.sides, min_score=self.min_score, min_size=self.min_size
        )
        return [(list(f.faces), "" if f.faces else f.reason(self.min_score, self.min_size)) for f in found]

    def _new(self) -> int:
        self.next_track += 1
        return self.next_track - 1

    def link(self, faces: list[Detection]) -> dict[int, Detection]:
        """A keyframe's faces by track: continuing the tracks seen in the last ``TRACK_GAP`` + 1 keyframes."""
        lately = {t: d for t, (k, d) in self.recent.items() if self.keyframe - k <= TRACK_GAP}
        linked = {}
        for face, track in zip(faces, link_boxes(lately, faces)):
            linked[self._new() if track is None else track] = face
        self.keyframe += 1
        for track, face in linked.items():
            self.recent[track] = (self.keyframe, face)
        return linked

    def crops(self, frame: int, image: np.ndarray, faces: dict[int, Detection], reason: str, tracked: bool):
        if not faces:
            return [FrameFace(frame, None, reason, tracked)]
        out = []
        for track, (box, score) in sorted(faces.items()):
            square = square_box(box, self.margin)
            crop = FaceCrop(frame, crop_square(image, square, self.size), score, square)
            out.append(FrameFace(frame, crop, "", tracked, track))
        return out

    def resolve(self, buffer: list[tuple[int, np.ndarray]], keys: list[int]) -> list[FrameFace]:
        """Faces for ``buffer`` (frames after the previous keyframe, ending with one); ``keys``: keyframe
        positions in it."""
        found = dict(zip(keys, self.detect([buffer[k][1] for k in keys])))
        linked = {k: (self.link(found[k][0]), found[k][1]) for k in keys}
        anchors = [self.previous] if self.previous else []
        anchors += [(buffer[k][0], *linked[k]) for k in keys]
        results: dict[int, list[FrameFace]] = {}
        redo = []
        anchor = 0 if self.previous else -1  # anchors[anchor] is the keyframe at or before the current position
        for position, (frame, image) in enumerate(buffer):
            if position in linked:
                anchor += 1
                results[position] = self.crops(frame, image, *linked[position], tracked=False)
                continue
            (left_frame, left, _), (right_frame, right, _) = anchors[anchor], anchors[anchor + 1]
            if left and set(left) == set(right):
                t = (frame - left_frame) / (right_frame - left_frame)
                boxes = {track: interpolate_box(left[track], right[track], t) for track in left}
                results[position] = self.crops(frame, image, boxes, "", tracked=True)
            elif not left and not right:
                reason = f"no face at frames {left_frame} and {right_frame} (not detected in between)"
                results[position] = [FrameFace(frame, None, reason, tracked=True)]
            else:
                redo.append((position, {**left, **right}))
        if redo:  # a person comes or goes inside the gap: detect those frames after all
            for (position, around), (faces, reason) in zip(redo, self.detect([buffer[p][1] for p, _ in redo])):
                tracks = link_boxes(around, faces)
                boxes = {self._new() if t is None else t: face for face, t in zip(faces, tracks)}
                frame, image = buffer[position]
                results[position] = self.crops(frame, image, boxes, reason, tracked=False)
        self.previous = anchors[-1]
        return [face for p in range(len(buffer)) for face in results[p]]


def track_faces(
    frames: Iterable[tuple[int, np.ndarray]],
    detector: Any,
    *,
    detect_every: int = 1,
    margin: int | float = 16,
    size: int = 224,
    min_score: float = MIN_SCORE,
    min_size: float = MIN_FACE,
    sides: Sequence[int] = DETECT_SIDES,
    batch: int = TRACK_BATCH,
) -> Iterator[FrameFace]:
    """Every usable face of each (frame index, RGB image), cropped as ``faces.extract_faces`` crops it, with the
    track (person) it belongs to; a frame without one gives one ``FrameFace`` without a crop.

    MTCNN runs on every ``detect_every``-th frame of ``frames`` (and on the last one), batched; the boxes of the
    frames in between are interpolated (see the module docstring). Frames come out in the order they went in,
    a frame's faces by track; at most about ``batch`` frames are held at a time.
    """
    if detect_every < 1 or batch < 1:
        raise ValueError(f"detect_every and batch must be >= 1, got {detect_every} and {batch}")
    tracker = _Tracker(detector, margin, size, min_score, min_size, sides)
    keys_per_batch = max(1, batch // detect_every)
    buffer: list[tuple[int, np.ndarray]] = []
    keys: list[int] = []
    for position, (frame, image) in enumerate(frames):
        buffer.append((frame, image))
        if position % detect_every == 0:
            keys.append(len(buffer) - 1)
            if len(keys) >= keys_per_batch:
                yield from tracker.resolve(buffer, keys)
                buffer, keys = [], []
    if buffer:
        if not keys or keys[-1] != len(buffer) - 1:
            keys.append(len(buffer) - 1)  # the last frame anchors the tail
        yield from tracker.resolve(buffer, keys)
