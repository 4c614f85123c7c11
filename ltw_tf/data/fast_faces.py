"""Less work for the same faces: sampled-frame decoding that skips what no sampled frame needs, and face tracking.

``faces`` (training preparation) is the reference; this module changes how much is decoded and detected, not what
a crop looks like:

- ``VideoFrames`` decodes with PyAV: the same FFmpeg decoder and RGB conversion as OpenCV (byte-identical frames),
  frame-threaded, and it tells the decoder to drop *non-reference* frames that are not sampled (FFmpeg's
  ``AVDISCARD_NONREF``: no other frame is predicted from them, so every frame that is kept decodes exactly as
  before). A frame's index comes from its presentation timestamp, found by one cheap demux pass.
- ``track_faces`` runs MTCNN (``faces.detect_best_faces``, same downscaled coarse-to-fine detection) on every
  ``detect_every``-th sampled frame only and interpolates the box linearly in between. Where one end of a gap
  has no face, the frames in the gap are detected after all; where neither end has one, they count as no face.
  ``detect_every=1`` is exactly ``faces.extract_faces``'s per-frame detection, margin, square and crop.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ltw_tf.data.faces import (
    DETECT_SIDES,
    MIN_SCORE,
    Detection,
    FaceCrop,
    VideoError,
    check_margin,
    crop_square,
    detect_best_faces,
    square_box,
)
from ltw_tf.errors import first_line

TRACK_BATCH = 32  # frames held (full resolution) while their detections are resolved


# --------------------------------------------------------------------------- decoding


class VideoFrames:
    """A video opened for sampled decoding: ``n_frames`` up front, then ``frames(indices)`` in frame order.

    Raises ``VideoError`` (one line) for a missing, empty or unreadable file, or one without video frames.
    """

    def __init__(self, path: str | os.PathLike):
        import av

        self.path = os.fspath(path)
        if not os.path.isfile(self.path):
            raise VideoError(f"{self.path}: no such file")
        if os.path.getsize(self.path) == 0:
            raise VideoError(f"{self.path}: empty file (0 bytes)")
        try:
            with av.open(self.path) as container:
                if not container.streams.video:
                    raise VideoError(f"{self.path}: no video stream")
                stream = container.streams.video[0]
                packets = [(packet.pts, packet.is_keyframe) for packet in container.demux(stream) if packet.size]
        except (av.FFmpegError, UnicodeDecodeError) as err:
            raise VideoError(f"{self.path}: not a readable video ({first_line(err)})") from None
        if not packets:
            raise VideoError(f"{self.path}: no video frames")
        self.n_frames = len(packets)
        self.decoded = 0  # frames the decoder produced in the last ``frames`` call (skipped ones not counted)
        pts = [p for p, _ in packets]
        self._index = self._segment = None  # without usable timestamps: frames numbered in output order, no skipping
        if None not in pts and len(set(pts)) == len(pts):
            self._index = {p: i for i, p in enumerate(sorted(pts))}  # presentation timestamp -> frame index
            segment, self._segment = -1, []  # per packet (decode order): its GOP, counting from each keyframe
            for j, (_, key) in enumerate(packets):
                segment += key or j == 0
                self._segment.append(segment)
            self._frame_segment = {self._index[p]: g for p, g in zip(pts, self._segment)}
            self._first_frame = {}  # GOP -> frame index of its keyframe (first in decode order)
            for p, g in zip(pts, self._segment):
                self._first_frame.setdefault(g, self._index[p])

    def _plan(self, wanted: set[int]) -> tuple[set[int], set[int]]:
        """GOPs to decode, and those of them to decode to the end (their frames are references of the next GOP's
        wanted leading pictures, the B-frames shown before its keyframe in an open GOP)."""
        needed = {self._frame_segment[i] for i in wanted if i in self._frame_segment}
        whole = {
            g - 1
            for g in needed
            for i in wanted
            if self._frame_segment.get(i) == g and i < self._first_frame[g] and g > 0
        }
        return needed | whole, whole

    def frames(self, indices: Sequence[int] | None = None) -> Iterator[tuple[int, np.ndarray]]:
        """(frame index, uint8 RGB frame) for ``indices`` (all frames when None), in frame order.

        Only what the wanted frames need is decoded: GOPs without a wanted frame are not sent to the decoder (a
        seek, without the seek's keyframe guesswork), a GOP stops once its wanted frames are out, and unwanted
        non-reference frames are dropped by the decoder. Frames that fail to decode are left out (the caller
        sees which are missing).
        """
        import av

        wanted = None if indices is None else set(indices)
        self.decoded = 0
        if wanted is not None and not wanted:
            return
        skipping = wanted is not None and self._segment is not None
        if skipping:
            needed, whole = self._plan(wanted)
            pending = {g: 0 for g in needed}  # wanted frames per GOP not yet out of the decoder
            for i in wanted:
                if i in self._frame_segment:
                    pending[self._frame_segment[i]] += 1
        done: set[int] = set()

        def pick(decoded) -> Iterator[tuple[int, np.ndarray]]:
            for frame in decoded:
                self.decoded += 1
                index = self._index.get(frame.pts) if self._index is not None else self.decoded - 1
                if index is None or (wanted is not None and index not in wanted) or index in done:
                    continue  # (a frame the decoder invents for a gap has no new timestamp)
                done.add(index)
                if skipping:
                    pending[self._frame_segment[index]] -= 1
                yield index, frame.to_ndarray(format="rgb24")

        with av.open(self.path) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"  # frame + slice threads
            context = stream.codec_context
            position, gap = 0, False  # packets with data so far (decode order, as counted by __init__); skipped some
            for packet in container.demux(stream):
                if packet.size and skipping:
                    segment = self._segment[position]
                    position += 1
                    if segment not in needed or (pending[segment] == 0 and segment not in whole):
                        gap = True
                        continue
                    if gap:  # after skipped packets, restart the decoder as a seek would: drain, then reset
                        yield from pick(_decode(context, None))
                        context.flush_buffers()
                        gap = False
                    context.skip_frame = "DEFAULT" if self._index.get(packet.pts) in wanted else "NONREF"
                yield from pick(_decode(context, packet))
                if wanted is not None and len(done) == len(wanted):
                    return  # nothing after the last wanted frame is decoded


def _decode(context: Any, packet: Any) -> list:
    """Frames out of the decoder for ``packet`` (None: drain); a damaged packet gives none, as in OpenCV."""
    import av

    try:
        return context.decode(packet)
    except (av.FFmpegError, ValueError):
        return []


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
