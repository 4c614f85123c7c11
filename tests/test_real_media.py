"""Real media, made by the tests: scikit-image's ``astronaut`` (a real face photograph, no download) in the
containers and codecs users bring (mp4 H.264 and HEVC 10-bit, mov, mkv, webm VP9, avi, with audio tracks), stored
sideways with a display matrix as phones record portrait video, and as JPEGs with an EXIF orientation. The one
video reader of prepare and screen (``decode.VideoFrames``) gives them upright, as OpenCV does."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import test_screening
from test_screening import _opencv_frames

from ltw_tf.data.decode import VideoFrames
from ltw_tf.data.faces import crop_square, extract_faces, load_detector
from ltw_tf.screening import MediaItem, Screener, ScreenSettings, load_runner
from ltw_tf.screening.inputs import read_image

models = test_screening.models  # module fixture: the test model as run, SavedModel and .tflite
FRAMES = 8
RATE = 10
# mean |decoded - source| over a frame at each encoder's default quality: measured 2.5-3.8 grey levels here; a
# swapped channel order or a wrong colour range is > 30 on this photograph, a sideways frame cannot even compare
CODEC_NOISE = 6.0
CONTAINERS = {  # name: (file, video codec, pixel format, audio codec or None)
    "mp4-h264": ("clip.mp4", "libx264", "yuv420p", None),
    "mp4-hevc-10bit": ("clip.mp4", "libx265", "yuv420p10le", "aac"),
    "mov-h264-aac": ("clip.mov", "libx264", "yuv420p", "aac"),
    "mkv-h264-opus": ("clip.mkv", "libx264", "yuv420p", "libopus"),
    "webm-vp9-opus": ("clip.webm", "libvpx-vp9", "yuv420p", "libopus"),
    "avi-mpeg4-mp3": ("clip.avi", "mpeg4", "yuv420p", "libmp3lame"),
}


def astronaut_frames(n: int = FRAMES) -> list[np.ndarray]:
    """``n`` 320x240 RGB frames of the photograph (its top three quarters, the face left of centre), panning by
    2 px a frame."""
    from skimage import data

    base = cv2.resize(data.astronaut()[:384], (320, 240), interpolation=cv2.INTER_AREA)
    return [np.ascontiguousarray(np.roll(base, 2 * i, axis=1)) for i in range(n)]


def write_media(path, frames, codec="libx264", pix_fmt="yuv420p", audio=None, rotation=0):
    """A video of upright RGB ``frames``; ``rotation`` (FFmpeg's display rotation, degrees counter-clockwise):
    the frames are stored turned by -rotation and the display matrix says to turn them back, as a phone does."""
    import av

    stored = [np.ascontiguousarray(np.rot90(f, -rotation // 90)) for f in frames]
    options = {"x265-params": "log-level=error"} if codec == "libx265" else {}
    with av.open(str(path), "w") as container:
        video = container.add_stream(codec, rate=RATE, options=options)
        video.height, video.width = stored[0].shape[:2]
        video.pix_fmt = pix_fmt
        if rotation:
            video.set_display_rotation(rotation)
        sound = container.add_stream(audio, rate=48000, layout="mono") if audio else None
        samples = 48000 // RATE
        for i, image in enumerate(stored):
            container.mux(video.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
            if sound is not None:  # a quiet tone, one video frame long
                tone = (0.1 * np.sin(np.arange(i * samples, (i + 1) * samples) * 0.05)).astype(np.float32)
                chunk = av.AudioFrame.from_ndarray(tone[None], format="fltp", layout="mono")
                chunk.sample_rate, chunk.pts = 48000, i * samples
                container.mux(sound.encode(chunk))
        container.mux(video.encode())
        if sound is not None:
            container.mux(sound.encode())
    return path


def _noise(got: dict, expected: list) -> float:
    return float(np.mean([np.abs(got[i].astype(np.int16) - expected[i]).mean() for i in got]))


@pytest.fixture(scope="module")
def detector():
    return load_detector()


@pytest.fixture(scope="module")
def upright(tmp_path_factory):
    frames = astronaut_frames()
    return frames, write_media(tmp_path_factory.mktemp("upright") / "clip.mp4", frames)


# --------------------------------------------------------------------------- containers and codecs


@pytest.mark.parametrize("name", CONTAINERS)
def test_containers_and_codecs_decode_every_frame_and_show_the_face(name, tmp_path, detector):
    file, codec, pix_fmt, audio = CONTAINERS[name]
    frames = astronaut_frames()
    path = write_media(tmp_path / file, frames, codec, pix_fmt, audio)
    video = VideoFrames(path)
    got = dict(video.frames())
    assert video.n_frames == FRAMES and sorted(got) == list(range(FRAMES))  # the audio packets are not frames
    assert all(f.shape == (240, 320, 3) and f.dtype == np.uint8 for f in got.values())
    assert _noise(got, frames) <= CODEC_NOISE, name
    n, opencv = _opencv_frames(path)
    assert n == FRAMES
    if pix_fmt == "yuv420p":  # the same FFmpeg decoder and 8-bit RGB conversion as OpenCV: the same bytes
        assert all(np.array_equal(got[i], opencv[i]) for i in got), name
    else:  # 10-bit: OpenCV's swscale path to BGR rounds differently; both are the picture to codec noise
        assert _noise(opencv, frames) <= CODEC_NOISE
    extraction = extract_faces(path, detector, frames=4, size=64)  # prepare's protocol, through the same reader
    assert [c.frame for c in extraction.crops] == [0, 2, 5, 7] and not extraction.missing, extraction.missing


# --------------------------------------------------------------------------- the right way up


@pytest.mark.parametrize("rotation", [90, 180, 270])
def test_rotated_video_gives_the_faces_of_its_upright_twin(rotation, upright, models, tmp_path, detector):
    frames, twin = upright
    path = write_media(tmp_path / "portrait.mp4", frames, rotation=rotation)
    got, straight = dict(VideoFrames(path).frames()), dict(VideoFrames(twin).frames())
    assert all(f.shape == (240, 320, 3) for f in got.values())  # turned back: landscape, as shown
    assert _noise(got, frames) <= CODEC_NOISE and _noise(got, [straight[i] for i in range(FRAMES)]) <= CODEC_NOISE
    assert all(np.array_equal(got[i], f) for i, f in _opencv_frames(path)[1].items())  # as OpenCV turns it

    # prepare: the same frames with a face and boxes within a few px. MTCNN's box moves with codec noise alone
    # (measured: the upright twin against the lossless frames, and the turned clips against the twin): 0-3 px on
    # AVX-512 with oneDNN on, up to 4 px (a ~100 px box's size, 104 against 100, at 180 and 270 degrees) on an
    # AVX2 CPU with oneDNN off, whose kernels sum in another order; 5 % of the box's size bounds both. A 2 px shift
    # of a 100 px box changes a 64 px crop by 6-17 grey levels on this face; so the crops are compared in the
    # twin's box, where only the codec noise is left
    a, b = (extract_faces(p, detector, frames=FRAMES, size=64) for p in (twin, path))
    assert [c.frame for c in b.crops] == [c.frame for c in a.crops] == list(range(FRAMES))
    for x, y in zip(a.crops, b.crops):
        assert np.abs(np.subtract(x.box, y.box)).max() <= 0.05 * x.box[2], (x.box, y.box)
        assert np.abs(crop_square(got[x.frame], x.box, 64).astype(np.int16) - x.image).mean() <= CODEC_NOISE

    # screen: the same scored frames and boxes
    paths, _ = models
    screener = Screener(load_runner(paths["tflite"]), ScreenSettings(frames=FRAMES), detector=detector)
    a, b = (screener.screen(MediaItem(str(p), "video")) for p in (twin, path))
    assert b.error is None and [f.frame for f in b.frames] == [f.frame for f in a.frames] == list(range(FRAMES))
    for x, y in zip(a.frames, b.frames):  # the same bound as prepare's boxes, above
        assert np.abs(np.subtract(x.box, y.box)).max() <= 0.05 * max(x.box[2:]), (x.box, y.box)


@pytest.mark.parametrize("orientation, turns", [(3, 2), (6, 1), (8, 3)])  # EXIF: 180, 90 cw, 90 ccw to show
def test_exif_oriented_jpeg_is_read_upright(orientation, turns, models, tmp_path, detector):
    from PIL import Image

    photo = astronaut_frames(1)[0]
    Image.fromarray(photo).save(tmp_path / "upright.jpg", quality=95)
    exif = Image.Exif()
    exif[0x0112] = orientation  # Orientation: how to turn the stored pixels for display
    Image.fromarray(np.ascontiguousarray(np.rot90(photo, turns))).save(tmp_path / "phone.jpg", quality=95, exif=exif)
    image = read_image(tmp_path / "phone.jpg")
    assert image.shape == photo.shape and np.abs(image.astype(np.int16) - photo).mean() <= CODEC_NOISE

    paths, _ = models
    screener = Screener(load_runner(paths["tflite"]), detector=detector)
    a, b = (screener.screen(MediaItem(str(tmp_path / n), "image")) for n in ("upright.jpg", "phone.jpg"))
    assert len(a.frames) == len(b.frames) == 1, (a.no_face, b.no_face)
    assert np.abs(np.subtract(a.frames[0].box, b.frames[0].box)).max() <= 3
