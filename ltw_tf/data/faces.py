"""One video -> face crops: evenly spaced frames, MTCNN on each, the most confident face, margin, square, resize.

The paper's protocol (DATA.md): 10 frames over the whole video (``np.linspace``), MTCNN, keep the most confident
face, enlarge the box by 16 px per side (or a relative margin), square it, crop and resize to the model size.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ltw_tf.data.decode import VideoError, VideoFrames

WEIGHT_FILES = ("pnet.lz4", "rnet.lz4", "onet.lz4")
DETECT_SIDES = (320, 640)  # detect on frames downscaled to this longest side; retry larger where no face was found
MIN_FRAME_SIDE = 24  # smaller frames hold no detectable face (MTCNN's smallest face is 20 px)
MIN_SCORE = 0.8  # MTCNN's own final (ONet) threshold; raise it to drop doubtful faces


@dataclass(frozen=True)
class FaceCrop:
    """One kept face: the frame it came from, the uint8 RGB crop, the detector score and the square box used."""

    frame: int
    image: np.ndarray  # (size, size, 3) uint8 RGB
    score: float
    box: tuple[int, int, int]  # square crop (x0, y0, side) in frame pixels, before resizing; may extend past borders


@dataclass
class FaceExtraction:
    """What one video gave: crops in frame order, and why the other sampled frames gave none."""

    n_frames: int  # frames in the video (demuxed: the true count)
    crops: list[FaceCrop] = field(default_factory=list)
    missing: dict[int, str] = field(default_factory=dict)  # frame index -> reason ("no face detected", ...)


# --------------------------------------------------------------------------- frames


def sample_frame_indices(n_frames: int, k: int = 10) -> list[int]:
    """``k`` frame indices evenly spaced over the whole video (``np.linspace``); all frames when there are fewer."""
    if n_frames <= 0 or k <= 0:
        return []
    if n_frames <= k:
        return list(range(n_frames))
    return sorted({int(i) for i in np.linspace(0, n_frames - 1, k).round()})


def to_rgb(frame: np.ndarray) -> np.ndarray:
    """An OpenCV frame (BGR, BGRA or grayscale) as contiguous 3-channel uint8 RGB."""
    if frame.ndim == 2 or frame.shape[2] == 1:
        return cv2.cvtColor(frame, cv2.COLOR_GRAY2RGB)
    if frame.shape[2] == 4:
        return cv2.cvtColor(frame, cv2.COLOR_BGRA2RGB)
    return cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)


def read_frames(path: str | os.PathLike, k: int = 10) -> tuple[int, dict[int, np.ndarray]]:
    """The video's frame count and its ``k`` sampled frames (RGB uint8, upright, by frame index), read by
    ``decode.VideoFrames`` (screen's reader too): the count is the demuxed frames', never the container's guess, so
    a header that lies about it changes nothing. A sampled frame that fails to decode is left out."""
    video = VideoFrames(path)
    frames = dict(video.frames(sample_frame_indices(video.n_frames, k)))
    if not frames:
        raise VideoError(f"{video.path}: frames could not be decoded")
    return video.n_frames, frames


# --------------------------------------------------------------------------- detector


def weight_paths() -> dict[str, Path]:
    """Absolute paths of the MTCNN weights shipped inside the ``mtcnn`` package (never the working directory)."""
    import mtcnn

    assets = (Path(mtcnn.__file__).resolve().parent / "assets" / "weights").resolve()
    paths = {name: assets / name for name in WEIGHT_FILES}
    for name, path in paths.items():
        if not path.is_file() or path.resolve().parent != assets:
            raise FileNotFoundError(f"MTCNN weights {name} missing from the mtcnn package at {assets}")
    return paths


def load_detector(device: str = "CPU:0", *, compiled: bool = True) -> Any:
    """An MTCNN detector whose three stages load the package's own weights by absolute path.

    mtcnn 1.0.0's default constructor looks for ``pnet.lz4`` etc. in the *current working directory* first and
    unpickles whatever it finds (joblib) -- a planted file would run code. Passing absolute paths to the package's
    assets makes its loader never consult the working directory. ``compiled`` runs each stage's network as a
    ``tf.function`` (shape-relaxed): the same outputs at about half the CPU time of mtcnn's eager calls.
    """
    from mtcnn import MTCNN
    from mtcnn.stages import StageONet, StagePNet, StageRNet

    paths = weight_paths()
    stages = [
        StagePNet(weights=str(paths["pnet.lz4"])),
        StageRNet(weights=str(paths["rnet.lz4"])),
        StageONet(weights=str(paths["onet.lz4"])),
    ]
    if compiled:
        import tensorflow as tf

        for stage in stages:  # mtcnn==1.0.0 (pinned) keeps each network in ``_model`` and calls it per batch
            if hasattr(stage, "_model"):
                stage._model = tf.function(stage._model, reduce_retracing=True)
    return MTCNN(stages=stages, device=device)


Detection = tuple[tuple[float, float, float, float], float]  # ((x, y, w, h) in frame pixels, score)


def _detect_all_at(detector: Any, images: list[np.ndarray], side: int) -> list[list[Detection]]:
    """Every face MTCNN finds in each (same-shape) image, detected on a copy whose longest side is <= side, with
    boxes in full-resolution pixels."""
    height, width = images[0].shape[:2]
    scale = min(1.0, side / max(height, width))
    if min(height, width) * scale < MIN_FRAME_SIDE:  # MTCNN's pyramid breaks on tiny images; no face fits anyway
        return [[] for _ in images]
    if scale < 1.0:
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        images = [cv2.resize(image, size, interpolation=cv2.INTER_AREA) for image in images]
    images = [image.astype(np.float32) for image in images]  # else mtcnn normalises (and resizes) in float64
    return [
        [(tuple(float(v) / scale for v in face["box"]), float(face["confidence"])) for face in faces]
        for faces in detector.detect_faces(images, box_format="xywh")
    ]


def _coarse_to_fine(
    detector: Any, images: list[np.ndarray], sides: Sequence[int], unfinished: Callable[[int], bool]
) -> Iterator[tuple[int, list[Detection]]]:
    """(image index, every face found) for each image at each side, smallest first, while ``unfinished(index)``
    (asked again before each larger side: the caller updates what it holds as the pairs come); images of one
    shape are detected as one batch."""
    groups: dict[tuple[int, ...], list[int]] = {}
    for i, image in enumerate(images):
        groups.setdefault(image.shape, []).append(i)
    for shape, members in groups.items():
        done_side = 0
        for side in sorted(sides):
            side = min(side, max(shape[:2]))
            todo = [i for i in members if unfinished(i)]
            if side <= done_side or not todo:
                continue
            yield from zip(todo, _detect_all_at(detector, [images[i] for i in todo], side))
            done_side = side


@dataclass(frozen=True)
class FramePeople:
    """Every usable face of one image (score >= min_score, shorter box side >= min_size), largest first, and the
    most confident detection of any kind (None: nothing at all), which says why when none is usable."""

    faces: tuple[Detection, ...]
    best: Detection | None

    def reason(self, min_score: float, min_size: float) -> str:
        if self.best is None:
            return "no face detected"
        if self.best[1] < min_score:
            return f"best face score {self.best[1]:.3f} < {min_score}"
        return f"every face smaller than {min_size:g} px"


def detect_all_faces(
    detector: Any,
    images: list[np.ndarray],
    *,
    sides: Sequence[int] = DETECT_SIDES,
    min_score: float = MIN_SCORE,
    min_size: float = 0.0,
) -> list[FramePeople]:
    """Every usable face per RGB image (``screen``: each person is judged), coarse to fine like
    ``detect_best_faces``: an image is detected again at the next, larger side only while it has no usable face,
    so in a frame where a large face was found, a second face too small for the first side is not looked for."""
    found: list[list[Detection]] = [[] for _ in images]
    best: list[Detection | None] = [None] * len(images)

    def usable(face: Detection) -> bool:
        return face[1] >= min_score and min(face[0][2], face[0][3]) >= min_size

    for i, faces in _coarse_to_fine(detector, images, sides, lambda i: not found[i]):
        found[i] = [f for f in faces if usable(f)]
        for face in faces:
            if best[i] is None or face[1] > best[i][1]:
                best[i] = face
    return [FramePeople(tuple(sorted(faces, key=lambda f: -f[0][2] * f[0][3])), top) for faces, top in zip(found, best)]


def detect_best_faces(
    detector: Any, images: list[np.ndarray], *, sides: Sequence[int] = DETECT_SIDES, min_score: float = MIN_SCORE
) -> list[Detection | None]:
    """The most confident face per RGB image as ((x, y, w, h) in image pixels, score), or None.

    Coarse to fine, for speed: detect on a copy downscaled to ``sides[0]`` (longest side; MTCNN's cost grows
    with the pixel count), and only for images still without a face scoring >= ``min_score`` retry at the next,
    larger side (small faces); boxes are mapped back to full resolution. Images of one shape (a video's frames)
    go through MTCNN as one batch, ~3x faster than one by one.
    """
    best: list[Detection | None] = [None] * len(images)
    for i, faces in _coarse_to_fine(detector, images, sides, lambda i: best[i] is None or best[i][1] < min_score):
        top = max(faces, key=lambda f: f[1]) if faces else None
        if top is not None and (best[i] is None or top[1] > best[i][1]):
            best[i] = top
    return best


# --------------------------------------------------------------------------- crop geometry


def check_margin(margin: int | float) -> int | float:
    """A margin is an int >= 0 (pixels per side, the paper's 16) or a float in [0, 1) (fraction of the box side)."""
    if isinstance(margin, bool) or not isinstance(margin, (int, float, np.integer, np.floating)):
        raise ValueError(f"margin must be an int (pixels) or a float < 1 (relative), got {margin!r}")
    if isinstance(margin, (float, np.floating)):
        if not 0.0 <= margin < 1.0:
            raise ValueError(
                f"a float margin is relative to the box and must be in [0, 1), got {margin}; give pixels as an int"
            )
        return float(margin)
    if margin < 0:
        raise ValueError(f"margin must be >= 0 pixels, got {margin}")
    return int(margin)


def square_box(box: tuple[float, float, float, float], margin: int | float) -> tuple[int, int, int]:
    """Enlarge an (x, y, w, h) box by the margin on every side, then square it around its centre: (x0, y0, side).

    An int margin adds that many pixels per side; a float adds that fraction of the box's width (left, right)
    and height (top, bottom) per side. The side is max(width, height) after the margin.
    """
    margin = check_margin(margin)
    x, y, w, h = box
    mx, my = (margin * w, margin * h) if isinstance(margin, float) else (margin, margin)
    w, h = w + 2 * mx, h + 2 * my
    cx, cy = x - mx + w / 2, y - my + h / 2
    side = max(1, round(max(w, h)))
    return round(cx - side / 2), round(cy - side / 2), side


def crop_square(image: np.ndarray, square: tuple[int, int, int], size: int | None) -> np.ndarray:
    """Crop a square (x0, y0, side) from the image, zero-padding where it leaves the frame, and resize it to
    ``size`` with ``resize.resize_face`` (the training pipeline's resize; None: keep the square's own side)."""
    x0, y0, side = square
    h, w = image.shape[:2]
    out = np.zeros((side, side) + image.shape[2:], dtype=image.dtype)
    sx0, sy0, sx1, sy1 = max(x0, 0), max(y0, 0), min(x0 + side, w), min(y0 + side, h)
    if sx1 > sx0 and sy1 > sy0:
        out[sy0 - y0 : sy1 - y0, sx0 - x0 : sx1 - x0] = image[sy0:sy1, sx0:sx1]
    if size is None or side == size:
        return out
    from ltw_tf.data.resize import resize_face_uint8  # TensorFlow: imported when a crop is resized

    return resize_face_uint8(out, size)


# --------------------------------------------------------------------------- one video


def extract_faces(
    video_path: str | os.PathLike,
    detector: Any,
    *,
    frames: int = 10,
    margin: int | float = 16,
    size: int = 224,
    min_score: float = MIN_SCORE,
    sides: Sequence[int] = DETECT_SIDES,
) -> FaceExtraction:
    """Sample ``frames`` frames, keep the most confident face of each, crop it with the margin, square, resize.

    Raises ``VideoError`` for a video that cannot be read at all; frames without a usable face are listed in
    ``missing`` with the reason.
    """
    margin = check_margin(margin)
    n_frames, images = read_frames(video_path, frames)
    result = FaceExtraction(n_frames=n_frames)
    indices = list(images)
    for index in sample_frame_indices(n_frames, frames):
        if index not in images:
            result.missing[index] = "frame could not be decoded"
    found_faces = detect_best_faces(detector, [images[i] for i in indices], sides=sides, min_score=min_score)
    for index, found in zip(indices, found_faces):
        if found is None:
            result.missing[index] = "no face detected"
            continue
        box, score = found
        if score < min_score:
            result.missing[index] = f"best face score {score:.3f} < {min_score}"
            continue
        square = square_box(box, margin)
        result.crops.append(FaceCrop(index, crop_square(images[index], square, size), score, square))
    result.missing = dict(sorted(result.missing.items()))
    return result
