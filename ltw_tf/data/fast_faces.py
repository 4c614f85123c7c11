"""Less detection for the same faces: face tracking between MTCNN runs.

``faces`` (training preparation) is the reference; this module changes how much is detected, not what a crop looks
like (frames come from ``decode.VideoFrames``, the one video reader of prepare and screen, re-exported here):

- ``track_faces`` runs MTCNN (``faces.detect_best_faces``, same downscaled coarse-to-fine detection) on every
  ``detect_every``-th sampled frame only and interpolates the box linearly in between. Where one end of a gap
  has no face, the frames in the gap are detected after all; where neither end has one, they count as no face.
  ``detect_every=1`` is exactly ``faces.extract_faces``'s per-frame detection, margin, square and crop.
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
    detect_best_faces,
    square_box,
)

__all__ = ["FrameFace", "VideoError", "VideoFrames", "interpolate_box", "track_faces"]

TRACK_BATCH = 32  # frames held (full resolution) while their detections are resolved


# --------------------------------------------------------------------------- tracking


@dataclass(frozen=True)
class FrameFace:
    """One sampled frame's outcome: its crop (None: no usable face, ``reason`` says why); ``tracked``: the box
    was interpolated between two detections rather than detected on this frame."""

    frame: int
    crop: FaceCrop | None
    reason: str = ""
    tracked: bool = False


def interpolate_box(a: Detection, b: Detection, t: float) -> Detection:
    """The box a fraction ``t`` of the way from detection ``a`` to ``b``; its score is the lower of the two."""
    (box_a, score_a), (box_b, score_b) = a, b
    box = tuple(float((1.0 - t) * p + t * q) for p, q in zip(box_a, box_b))
    return box, min(score_a, score_b)


class _Tracker:
    """The state of ``track_faces`` between batches: the last keyframe's detection."""

    def __init__(self, detector: Any, margin: int | float, size: int, min_score: float, sides: Sequence[int]):
        self.detector, self.margin, self.size = detector, check_margin(margin), size
        self.min_score, self.sides = min_score, tuple(sides)
        self.previous: tuple[int, Detection | None] | None = None  # (frame, usable detection) of the last keyframe

    def detect(self, images: list[np.ndarray]) -> list[tuple[Detection | None, str]]:
        """(usable detection or None, reason) per image."""
        out = []
        for found in detect_best_faces(self.detector, images, sides=self.sides, min_score=self.min_score):
            if found is None:
                out.append((None, "no face detected"))
            elif found[1] < self.min_score:
                out.append((None, f"best face score {found[1]:.3f} < {self.min_score}"))
            else:
                out.append((found, ""))
        return out

    def face(self, frame: int, image: np.ndarray, found: Detection | None, reason: str, tracked: bool) -> FrameFace:
        if found is None:
            return FrameFace(frame, None, reason, tracked)
        box, score = found
        square = square_box(box, self.margin)
        return FrameFace(frame, FaceCrop(frame, crop_square(image, square, self.size), score, square), "", tracked)

    def resolve(self, buffer: list[tuple[int, np.ndarray]], keys: list[int]) -> list[FrameFace]:
        """Faces for ``buffer`` (frames after the previous keyframe, ending with one); ``keys``: keyframe
        positions in it."""
        found = dict(zip(keys, self.detect([buffer[k][1] for k in keys])))
        anchors = [(self.previous[0], self.previous[1])] if self.previous else []
        anchors += [(buffer[k][0], found[k][0]) for k in keys]
        results: dict[int, FrameFace] = {}
        redo = []
        anchor = 0  # anchors[anchor] is the keyframe at or before the current position
        if not self.previous:
            anchor = -1
        for position, (frame, image) in enumerate(buffer):
            if position in found:
                anchor += 1
                results[position] = self.face(frame, image, *found[position], tracked=False)
                continue
            (left_frame, left), (right_frame, right) = anchors[anchor], anchors[anchor + 1]
            if left is not None and right is not None:
                t = (frame - left_frame) / (right_frame - left_frame)
                results[position] = self.face(frame, image, interpolate_box(left, right, t), "", tracked=True)
            elif left is None and right is None:
                reason = f"no face at frames {left_frame} and {right_frame} (not detected in between)"
                results[position] = FrameFace(frame, None, reason, tracked=True)
            else:
                redo.append(position)
        if redo:  # a face appears or leaves inside the gap: detect those frames after all
            for position, (det, reason) in zip(redo, self.detect([buffer[p][1] for p in redo])):
                results[position] = self.face(buffer[position][0], buffer[position][1], det, reason, tracked=False)
        self.previous = anchors[-1]
        return [results[p] for p in range(len(buffer))]


def track_faces(
    frames: Iterable[tuple[int, np.ndarray]],
    detector: Any,
    *,
    detect_every: int = 1,
    margin: int | float = 16,
    size: int = 224,
    min_score: float = MIN_SCORE,
    sides: Sequence[int] = DETECT_SIDES,
    batch: int = TRACK_BATCH,
) -> Iterator[FrameFace]:
    """The most confident face of each (frame index, RGB image), cropped as ``faces.extract_faces`` crops it.

    MTCNN runs on every ``detect_every``-th frame of ``frames`` (and on the last one), batched; the boxes of the
    frames in between are interpolated (see the module docstring). Frames come out in the order they went in;
    at most about ``batch`` frames are held at a time.
    """
    if detect_every < 1 or batch < 1:
        raise ValueError(f"detect_every and batch must be >= 1, got {detect_every} and {batch}")
    tracker = _Tracker(detector, margin, size, min_score, sides)
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
