"""faces.py: frame sampling and reading, crop geometry, MTCNN on drawn faces, and the safe detector load.

Also home of the test-video helpers (``draw_face``, ``write_video``) that test_prepare.py and the throughput
benchmark reuse: a cartoon face (skin, hair, eyes with iris and pupil, brows, nose, lips) that MTCNN finds.
"""

from __future__ import annotations

import fractions
import pathlib

import cv2
import joblib
import numpy as np
import pytest

from ltw_tf.data import faces
from ltw_tf.data.faces import (
    VideoError,
    check_margin,
    crop_square,
    detect_best_faces,
    extract_faces,
    load_detector,
    read_frames,
    sample_frame_indices,
    square_box,
    to_rgb,
)

# --------------------------------------------------------------------------- helpers (shared with test_prepare)


def draw_face(
    height: int = 240,
    width: int = 320,
    *,
    cx: float | None = None,
    cy: float | None = None,
    scale: float = 1.0,
    seed: int = 0,
) -> np.ndarray:
    """A BGR frame with one cartoon face (about 110 x 145 px at scale 1) that MTCNN detects."""
    rng = np.random.default_rng(seed)
    img = np.empty((height, width, 3), np.uint8)
    img[:] = (90 + seed % 40, 120, 150)
    cx = width / 2 if cx is None else cx
    cy = height / 2 if cy is None else cy

    def at(x, y):
        return int(cx + x * scale), int(cy + y * scale)

    def ax(a, b):
        return int(a * scale), int(b * scale)

    thick = max(1, int(3 * scale))
    cv2.ellipse(img, at(0, -45), ax(62, 45), 0, 180, 360, (40, 50, 70), -1)  # hair
    cv2.ellipse(img, at(0, 0), ax(55, 72), 0, 0, 360, (150, 180, 225), -1)  # skin
    for side in (-1, 1):
        cv2.ellipse(img, at(side * 22, -12), ax(12, 6), 0, 0, 360, (245, 245, 245), -1)  # eye white
        cv2.circle(img, at(side * 22, -12), int(5 * scale), (60, 80, 110), -1)  # iris
        cv2.circle(img, at(side * 22, -12), int(2.5 * scale), (10, 10, 10), -1)  # pupil
        cv2.ellipse(img, at(side * 22, -26), ax(14, 4), 0, 180, 360, (40, 50, 70), thick)  # brow
    cv2.ellipse(img, at(0, 14), ax(7, 4), 0, 0, 360, (120, 150, 200), -1)  # nose tip
    cv2.line(img, at(-3, -5), at(-5, 12), (125, 155, 200), max(1, int(2 * scale)))  # nose ridge shade
    cv2.ellipse(img, at(0, 36), ax(18, 7), 0, 0, 360, (80, 80, 170), -1)  # lips
    cv2.line(img, at(-18, 36), at(18, 36), (50, 50, 120), 1)
    img = cv2.GaussianBlur(img, (3, 3), 0)
    return np.clip(img + rng.normal(0, 3, img.shape), 0, 255).astype(np.uint8)


def write_video(path, frames) -> pathlib.Path:
    """Write BGR frames as an mp4v .mp4 at 25 fps."""
    path = pathlib.Path(path)
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25, (width, height))
    assert writer.isOpened(), "OpenCV cannot write mp4v here"
    for frame in frames:
        writer.write(frame)
    writer.release()
    return path


def face_video(path, n_frames: int = 12, seed: int = 0, **kw) -> pathlib.Path:
    """A video of one face moving a little from frame to frame."""
    return write_video(
        path, [draw_face(cx=160 + 3 * (i % 5) - 6, cy=120 + 2 * (i % 3), seed=seed + i, **kw) for i in range(n_frames)]
    )


def plain_video(path, n_frames: int = 8, colour=(40, 160, 90)) -> pathlib.Path:
    """A face-less video: one uniform colour."""
    return write_video(path, [np.full((240, 320, 3), colour, np.uint8) for _ in range(n_frames)])


@pytest.fixture(scope="module")
def detector():
    return load_detector()


# --------------------------------------------------------------------------- frames


def test_sample_frame_indices_evenly_spaced_over_whole_video():
    idx = sample_frame_indices(300, 10)
    assert idx == sorted(set(idx)) and len(idx) == 10
    assert idx[0] == 0 and idx[-1] == 299
    # integer frame indices, rounded from multiples of 299 / 9: at most one frame off (not a float tolerance)
    assert np.allclose(np.diff(idx), 299 / 9, atol=1)
    assert sample_frame_indices(5, 10) == [0, 1, 2, 3, 4]
    assert sample_frame_indices(1, 10) == [0]
    assert sample_frame_indices(0, 10) == []
    assert len(sample_frame_indices(11, 10)) == 10


def test_to_rgb_handles_bgr_bgra_and_grayscale():
    bgr = np.zeros((4, 5, 3), np.uint8)
    bgr[..., 0] = 255  # blue
    assert to_rgb(bgr)[0, 0].tolist() == [0, 0, 255]
    assert to_rgb(np.dstack([bgr, np.full((4, 5), 7, np.uint8)]))[0, 0].tolist() == [0, 0, 255]
    gray = np.full((4, 5), 9, np.uint8)
    assert to_rgb(gray).shape == (4, 5, 3) and to_rgb(gray[..., None])[0, 0].tolist() == [9, 9, 9]


def test_read_frames_seeks_to_sampled_frames_and_returns_rgb(tmp_path):
    frames = [np.full((48, 64, 3), (0, 0, 10 * i), np.uint8) for i in range(20)]  # red ramp (BGR)
    n, got = read_frames(write_video(tmp_path / "ramp.mp4", frames), k=4)
    assert n == 20 and list(got) == sample_frame_indices(20, 4) == [0, 6, 13, 19]
    for index, frame in got.items():
        assert frame.shape == (48, 64, 3) and frame.dtype == np.uint8
        assert abs(frame[..., 0].mean() - 10 * index) < 6 and frame[..., 2].mean() < 6  # red is channel 0


@pytest.mark.parametrize("container", ["mp4", "mkv"])
def test_read_frames_counts_variable_frame_rate_video_by_its_frames(tmp_path, container):
    """20 frames over irregular timestamps (a phone's variable frame rate). An mp4 stores the count; a Matroska
    file does not, and OpenCV's CAP_PROP_FRAME_COUNT for this one is duration x rate = 44. The reader counts the
    demuxed frames and samples over those."""
    import av

    path = tmp_path / f"vfr.{container}"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.codec_context.time_base = stream.time_base = fractions.Fraction(1, 1000)
        pts = np.cumsum([0] + [33 if i % 3 else 150 for i in range(19)])  # ms: 30 fps with stalls
        for i, t in enumerate(pts):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 10 * i, np.uint8), format="rgb24")
            frame.pts, frame.time_base = int(t), fractions.Fraction(1, 1000)
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    n, got = read_frames(path, k=4)
    assert n == 20 and list(got) == [0, 6, 13, 19]
    assert all(abs(got[i].mean() - 10 * i) < 6 for i in got)


@pytest.mark.parametrize(
    "content, message",
    [(None, "no such file"), (b"", "empty file"), (np.random.default_rng(0).bytes(4096), "not a readable video")],
)
def test_unusable_videos_raise_one_line_video_error(tmp_path, content, message):
    path = tmp_path / "bad.mp4"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(VideoError, match=message) as err:
        read_frames(path)
    assert "\n" not in str(err.value) and str(path) in str(err.value)


# --------------------------------------------------------------------------- crop geometry (no MTCNN)


def test_square_box_with_pixel_and_relative_margins():
    # box x=10 y=20 w=30 h=50 (centre 25, 45); +16 px per side -> 62 x 82 -> square side 82 around the centre
    assert square_box((10, 20, 30, 50), 16) == (-16, 4, 82)
    assert square_box((10, 20, 30, 50), 0) == (0, 20, 50)
    # relative 0.3 per side: w 30 + 2*9 = 48, h 50 + 2*15 = 80 -> side 80
    assert square_box((10, 20, 30, 50), 0.3) == (-15, 5, 80)
    x0, y0, side = square_box((100, 100, 80, 40), 0.25)  # wide box: the side follows the width
    assert side == 120 and (x0 + side / 2, y0 + side / 2) == (140, 120)


@pytest.mark.parametrize("bad", [1.5, -1, -0.1, "16", True, None])
def test_check_margin_rejects_bad_values(bad):
    with pytest.raises(ValueError):
        check_margin(bad)


def test_crop_square_pads_with_zeros_and_stays_centred():
    image = np.arange(1, 10 * 10 * 3 + 1, dtype=np.int64).reshape(10, 10, 3).astype(np.uint16)
    crop = crop_square(image, (-2, -3, 6), size=6)
    assert crop.shape == (6, 6, 3)
    assert (crop[:3] == 0).all() and (crop[:, :2] == 0).all()
    assert (crop[3:, 2:] == image[0:3, 0:4]).all()
    assert (crop_square(image, (20, 20, 4), size=4) == 0).all()  # entirely outside the frame
    inside = crop_square(image.astype(np.uint8), (2, 2, 8), size=3)
    assert inside.shape == (3, 3, 3) and inside.dtype == np.uint8
    assert crop_square(image.astype(np.uint8), (2, 2, 4), size=16).shape == (16, 16, 3)


# --------------------------------------------------------------------------- MTCNN


def test_mtcnn_finds_the_drawn_face_and_crops_it(tmp_path, detector):
    result = extract_faces(face_video(tmp_path / "face.mp4", n_frames=12), detector, frames=4, size=64)
    assert result.n_frames == 12
    assert [c.frame for c in result.crops] == [0, 4, 7, 11] and result.missing == {}
    for crop in result.crops:
        assert crop.image.shape == (64, 64, 3) and crop.image.dtype == np.uint8
        assert crop.score >= faces.MIN_SCORE
        x0, y0, side = crop.box
        assert abs(x0 + side / 2 - 157) < 25 and abs(y0 + side / 2 - 121) < 30  # around the drawn face
        assert 120 < side < 220  # ~145 px face + 2 * 16 px margin


def test_large_frames_are_detected_downscaled_and_boxes_mapped_back(detector):
    big = cv2.cvtColor(draw_face(960, 1280, scale=4.0), cv2.COLOR_BGR2RGB)
    ((box, score),) = detect_best_faces(detector, [big], sides=(320,))
    x, y, w, h = box
    assert score > 0.9 and abs(x + w / 2 - 640) < 60 and abs(y + h / 2 - 480) < 80 and 300 < h < 700


class _Spy:
    """Wraps a detector, recording the (batch size, image shape) of every call."""

    def __init__(self, detector):
        self.detector, self.calls = detector, []

    def detect_faces(self, images, **kwargs):
        self.calls.append((len(images), images[0].shape[:2]))
        return self.detector.detect_faces(images, **kwargs)


def test_detection_is_coarse_to_fine(detector):
    big_face = cv2.cvtColor(draw_face(960, 1280, scale=4.0), cv2.COLOR_BGR2RGB)
    small_face = cv2.cvtColor(draw_face(960, 1280, scale=0.35, seed=3), cv2.COLOR_BGR2RGB)
    spy = _Spy(detector)
    found = detect_best_faces(spy, [big_face, small_face, big_face])
    assert spy.calls == [(3, (240, 320)), (1, (480, 640))]  # only the small face needed the finer pass
    assert all(f is not None and f[1] > 0.8 for f in found)
    (x, y, w, h), _ = found[1]
    assert abs(x + w / 2 - 640) < 20 and abs(y + h / 2 - 480) < 25 and 30 < h < 70


def test_no_face_frames_are_listed_with_reasons(tmp_path, detector):
    result = extract_faces(plain_video(tmp_path / "plain.mp4"), detector, frames=4, size=64)
    assert result.crops == [] and result.missing == dict.fromkeys([0, 2, 5, 7], "no face detected")
    strict = extract_faces(face_video(tmp_path / "f.mp4", n_frames=2), detector, frames=2, min_score=0.99999)
    assert strict.crops == [] and all("score" in why for why in strict.missing.values())


def test_one_frame_video(tmp_path, detector):
    result = extract_faces(face_video(tmp_path / "one.mp4", n_frames=1), detector, frames=10, size=64)
    assert result.n_frames == 1 and [c.frame for c in result.crops] == [0]


class _Payload:
    """Unpickling this creates ``marker``: stands in for code a planted weights file would run."""

    def __init__(self, marker: pathlib.Path):
        self.marker = marker

    def __reduce__(self):
        return pathlib.Path.touch, (self.marker,)


def test_planted_weights_in_cwd_are_never_unpickled(tmp_path, monkeypatch):
    marker = tmp_path / "pwned"
    monkeypatch.chdir(tmp_path)
    for name in faces.WEIGHT_FILES:
        joblib.dump(_Payload(marker), tmp_path / name)
    det = load_detector()
    assert not marker.exists(), "a weights file from the working directory was unpickled"
    assert all(p.is_absolute() and p.parent.name == "weights" for p in faces.weight_paths().values())
    face = cv2.cvtColor(draw_face(), cv2.COLOR_BGR2RGB)
    ((box, score),) = detect_best_faces(det, [face])
    assert score > 0.9
    joblib.load(tmp_path / "pnet.lz4")  # control: the planted file is live -- loading it does run the payload
    assert marker.exists()
