"""The one way ltw-tf reads a video: PyAV (FFmpeg), sampled frames decoded and nothing else, the right way up.

``prepare`` (``faces.read_frames``) and ``screen`` (``screening.driver``) both read through ``VideoFrames``:

- **Frames as OpenCV gives them**: the same FFmpeg decoders and RGB conversion (byte-identical frames, the tests
  compare them), frame-threaded.
- **Only what the sampled frames need**: GOPs without a sampled frame are not sent to the decoder, and it drops
  *non-reference* frames that are not sampled (FFmpeg's ``AVDISCARD_NONREF``: no other frame is predicted from
  them, so every frame that is kept decodes exactly as before). A frame's index comes from its presentation
  timestamp, found by one cheap demux pass, which also gives the true frame count (never a container's guess).
- **Upright**: a phone records portrait video sideways and stores a display matrix saying how to turn it for
  display (``rotate`` 90 / 180 / 270). Every frame is turned by its display matrix (``upright``), as players and
  OpenCV's ``CAP_PROP_ORIENTATION_AUTO`` do, so a face is found and cropped as in the upright twin of the video.
  (Images: OpenCV's ``imread`` applies EXIF orientation, ``screening.inputs.read_image``.)
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from ltw_tf.errors import first_line


class VideoError(Exception):
    """A video that cannot be used at all (missing, empty, corrupt, no decodable frame); one-line message."""


def upright(image: np.ndarray, rotation: float) -> np.ndarray:
    """A decoded frame turned the way its display matrix says it is shown: ``rotation`` is FFmpeg's display
    rotation (degrees counter-clockwise, ``av_display_rotation_get``; PyAV's ``VideoFrame.rotation``), so the
    shown picture is the stored one turned by ``rotation``. Exact (a permutation of pixels); 0 returns ``image``."""
    turns = int(round(rotation / 90.0)) % 4
    return image if turns == 0 else np.ascontiguousarray(np.rot90(image, turns))


class VideoFrames:
    """A video opened for sampled decoding: ``n_frames`` up front, then ``frames(indices)`` in frame order, upright.

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
                yield index, upright(frame.to_ndarray(format="rgb24"), frame.rotation)

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
