"""A bounded fuzz run (hypothesis) over the video and image loaders: random and mutated bytes of a small valid
mp4 and png must give a result or a one-line ``VideoError`` / ``ImageReadError`` -- never another exception, a
crash or a hang. Budget: well under a minute on 2 busy cores (see docs/RELIABILITY.md)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_faces import draw_face, write_video

from ltw_tf.data.decode import VideoFrames
from ltw_tf.data.faces import VideoError, read_frames
from ltw_tf.data.pipeline import unreadable_image
from ltw_tf.screening.inputs import read_image

pytestmark = [pytest.mark.fuzz, pytest.mark.timeout(120)]
FUZZ = settings(
    max_examples=250,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture(scope="module")
def seeds(tmp_path_factory) -> dict[str, bytes]:
    folder = tmp_path_factory.mktemp("seeds")
    video = write_video(folder / "clip.mp4", [draw_face(48, 64, scale=0.3, seed=i) for i in range(6)])
    ok, png = cv2.imencode(".png", draw_face(40, 40, scale=0.25))
    assert ok
    return {"mp4": video.read_bytes(), "png": png.tobytes(), "dir": folder}


def mutated(data: bytes) -> st.SearchStrategy[bytes]:
    """The seed with a few bytes overwritten, a slice cut out or the tail cut off; or random bytes."""
    n = len(data)
    flips = st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, 255)), min_size=1, max_size=16).map(
        lambda edits: bytes(_apply(data, edits))
    )
    cut = st.tuples(st.integers(0, n), st.integers(0, n)).map(lambda ab: data[: min(ab)] + data[max(ab) :])
    truncated = st.integers(0, n).map(lambda k: data[:k])
    return st.one_of(flips, cut, truncated, st.binary(max_size=2048))


def _apply(data: bytes, edits) -> bytearray:
    out = bytearray(data)
    for at, value in edits:
        out[at] = value
    return out


def _check_frames(frames: dict) -> None:
    for image in frames.values():
        assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3


@given(data=st.data())
@FUZZ
def test_fuzz_video_readers(seeds, data):
    path = seeds["dir"] / "fuzz.mp4"
    path.write_bytes(data.draw(mutated(seeds["mp4"])))
    try:
        n, frames = read_frames(path, k=4)
        assert n >= 1 and frames
        _check_frames(frames)
    except VideoError as err:
        assert "\n" not in str(err)
    try:
        video = VideoFrames(path)
        _check_frames(dict(video.frames(list(range(0, video.n_frames, 2)))))
    except VideoError as err:
        assert "\n" not in str(err)


@given(data=st.data())
@FUZZ
def test_fuzz_image_readers(seeds, data):
    path = seeds["dir"] / "fuzz.png"
    path.write_bytes(data.draw(mutated(seeds["png"])))
    try:
        image = read_image(path)  # ltw-tf screen's image path (OpenCV)
        assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
    except VideoError as err:
        assert "\n" not in str(err)
    reason = unreadable_image(str(path))  # the training / evaluation pipeline's check (TensorFlow)
    assert reason is None or "\n" not in reason
