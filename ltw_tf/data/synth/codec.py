"""Writing synthff videos at FF++'s two qualities: H.264 with CRF 23 (c23) and CRF 40 (c40).

H.264 comes from PyAV (``av``, whose wheels bundle FFmpeg with libx264); OpenCV's pip wheels cannot encode
H.264. Without PyAV the documented substitute is per-frame JPEG re-encoding (quality 90 / 25) written as MPEG-4
Part 2 (``mp4v``) by OpenCV; which one was used goes into ``synthff.json``.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

CRF = {"c23": 23, "c40": 40, "raw": 0}
JPEG_SUBSTITUTE = {"c23": 90, "c40": 25, "raw": 100}
X264_PRESET = "medium"


@functools.cache
def h264_available() -> bool:
    """Whether PyAV with libx264 is installed."""
    try:
        import av
    except ImportError:
        return False
    return "libx264" in av.codecs_available


def codec_info() -> dict:
    """What ``write_video`` will use, for the dataset's metadata."""
    if h264_available():
        import av

        return {
            "name": "h264",
            "encoder": "libx264 via PyAV",
            "av": av.__version__,
            "preset": X264_PRESET,
            "crf": {q: CRF[q] for q in ("c23", "c40")},
            "pix_fmt": "yuv420p",
        }
    return {
        "name": "mp4v+jpeg",
        "encoder": f"OpenCV {cv2.__version__} mp4v after per-frame JPEG",
        "jpeg_quality": {q: JPEG_SUBSTITUTE[q] for q in ("c23", "c40")},
        "note": "substitute for H.264 CRF 23/40: PyAV with libx264 was not available",
    }


def _write_h264(path: Path, frames: Sequence[np.ndarray], quality: str, fps: int) -> None:
    import av

    h, w = frames[0].shape[:2]
    with av.open(str(path), mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps, options={"crf": str(CRF[quality]), "preset": X264_PRESET})
        stream.codec_context.thread_count = 1  # one thread: byte-identical output for a seed
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())


def _write_mp4v(path: Path, frames: Sequence[np.ndarray], quality: str, fps: int) -> None:
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    if not writer.isOpened():
        raise RuntimeError(f"OpenCV cannot open an mp4v writer for {path}")
    try:
        for frame in frames:
            bgr = np.ascontiguousarray(frame[..., ::-1])
            ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, JPEG_SUBSTITUTE[quality]])
            writer.write(cv2.imdecode(buf, cv2.IMREAD_COLOR) if ok else bgr)
    finally:
        writer.release()


def write_video(path: str | os.PathLike, frames: Sequence[np.ndarray], quality: str, fps: int = 25) -> None:
    """Encode uint8 RGB frames to ``path`` at ``quality`` (c23 / c40); atomic: a temp name, then a rename."""
    path = Path(path)
    if quality not in ("c23", "c40"):
        raise ValueError(f"quality must be c23 or c40, got {quality!r}")
    tmp = path.with_name(f".{path.stem}.part.mp4")
    try:
        (_write_h264 if h264_available() else _write_mp4v)(tmp, frames, quality, fps)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_mask_video(path: str | os.PathLike, masks: Sequence[np.ndarray], fps: int = 25) -> None:
    """Encode (H, W) bool masks as white-on-black video, losslessly where H.264 is available (CRF 0; gray
    frames have neutral chroma, so yuv420p loses nothing), else as ``mp4v`` after JPEG at quality 100."""
    path = Path(path)
    frames = [np.repeat(np.where(m, 255, 0).astype(np.uint8)[..., None], 3, axis=-1) for m in masks]
    tmp = path.with_name(f".{path.stem}.part.mp4")
    try:
        (_write_h264 if h264_available() else _write_mp4v)(tmp, frames, "raw", fps)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def read_video(path: str | os.PathLike) -> list[np.ndarray]:
    """All frames of a video as uint8 RGB (OpenCV decoding, as the ``prepare`` step reads them)."""
    cap = cv2.VideoCapture(str(path))
    frames = []
    try:
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            frames.append(frame[..., ::-1])
    finally:
        cap.release()
    return frames
