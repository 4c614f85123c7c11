"""Screening: the same crops and scores as prepare + serving_model, for a run, a SavedModel and a .tflite model;
face-less, corrupt and empty files; box tracking; the ``ltw-tf screen`` command (JSON lines, exit codes)."""

from __future__ import annotations

import json
import os

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from cli.main import main
from ltw_tf.data.decode import VideoFrames
from ltw_tf.data.faces import (
    crop_square,
    detect_best_faces,
    extract_faces,
    load_detector,
    sample_frame_indices,
    square_box,
)
from ltw_tf.data.fast_faces import track_faces
from ltw_tf.screening import (
    KerasRunner,
    MediaItem,
    SavedModelRunner,
    Screener,
    ScreenSettings,
    TFLiteRunner,
    find_media,
    load_runner,
)

SIZE = 32  # face crop side of the test model
FRAMES = 12  # frames per synthetic clip (10 are sampled)


# --------------------------------------------------------------------------- fixtures (module scope: built once)


def _make_run(run_dir):
    """A run directory as ``ltw-tf train`` leaves it (config.json + best/ckpt-1): tiny backbone, seeded weights,
    the head rescaled so that logits on random images have mean 0 and std 2 (P(fake) differs clearly by face)."""
    import keras
    import tensorflow as tf

    from ltw_tf.config import ModelConfig, RunConfig, save_config
    from ltw_tf.models import build_detector

    keras.utils.set_random_seed(0)  # module fixtures are built before the per-test seed
    detector = build_detector("tiny", SIZE, weights=None)
    reference = np.random.default_rng(0).integers(0, 256, (32, SIZE, SIZE, 3)).astype(np.float32)
    logits = detector(reference, training=False)[1].numpy()
    head = detector.get_layer("logit")
    scale = 2.0 / logits.std()
    head.kernel.assign(head.kernel * scale)
    head.bias.assign((head.bias - logits.mean()) * scale)
    run_dir.mkdir(parents=True)
    save_config(RunConfig(model=ModelConfig(backbone="tiny", weights=None, image_size=SIZE)), run_dir / "config.json")
    tf.train.CheckpointManager(tf.train.Checkpoint(detector=detector), str(run_dir / "best"), 1).save(1)
    return detector


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """{kind: model path} for all three model kinds of one detector, and its Keras serving model."""
    import keras
    import tensorflow as tf

    from ltw_tf.models.serving import serving_model

    root = tmp_path_factory.mktemp("models")
    run = root / "run"
    model = serving_model(_make_run(run))
    archive = keras.export.ExportArchive()  # Keras' own model.export names the output "output_0"
    archive.track(model)
    archive.add_endpoint(
        "serving_default",
        lambda images: {"probability": model(images)},
        input_signature=[tf.TensorSpec((None, SIZE, SIZE, 3), tf.uint8, name="images")],
    )
    archive.write_out(str(root / "saved_model"), verbose=False)
    converter = tf.lite.TFLiteConverter.from_saved_model(str(root / "saved_model"))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    (root / "model.tflite").write_bytes(converter.convert())
    return {"run": run, "savedmodel": root / "saved_model", "tflite": root / "model.tflite"}, model


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    """Two synthff clips (a real and its FaceSwap fake, H.264), a PNG frame, a face-less clip, a corrupt and an
    empty .mp4."""
    from ltw_tf.data.synth.codec import write_video
    from ltw_tf.data.synth.videos import SynthPreset, pair_frames

    out = tmp_path_factory.mktemp("media")
    rendered = pair_frames(0, SynthPreset("screen", identities=2, frames=FRAMES, size=160), 0, 1)
    write_video(out / "real_000.mp4", rendered.videos[("real", "000", "000")], "c23")
    write_video(out / "fake_000_001.mp4", rendered.videos[("FaceSwap", "000", "001")], "c23")
    cv2.imwrite(str(out / "photo.png"), rendered.videos[("real", "001", "001")][3][..., ::-1])
    bad = out.parent / f"{out.name}-bad"
    bad.mkdir()
    write_video(bad / "faceless.mp4", [np.full((120, 160, 3), (40, 160, 90), np.uint8)] * 8, "c23")
    (bad / "corrupt.mp4").write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    (bad / "empty.mp4").write_bytes(b"")
    return {
        "clips": [out / "real_000.mp4", out / "fake_000_001.mp4"],
        "image": out / "photo.png",
        "dir": out,
        "faceless": bad / "faceless.mp4",
        "corrupt": bad / "corrupt.mp4",
        "empty": bad / "empty.mp4",
    }


@pytest.fixture(scope="module")
def detector():
    return load_detector()


def _reference(path, detector, model):
    """What training preparation crops from a clip or image, scored by the Keras serving model: (frames, boxes,
    probabilities, frames without a face)."""
    if str(path).endswith(".png"):
        image = cv2.imread(str(path))[..., ::-1]
        box, score = detect_best_faces(detector, [image])[0]
        square = square_box(box, 16)
        crops, frames, boxes, missing = [crop_square(image, square, SIZE)], [0], [square], {}
    else:
        extraction = extract_faces(path, detector, frames=10, margin=16, size=SIZE)
        crops = [c.image for c in extraction.crops]
        frames, boxes = [c.frame for c in extraction.crops], [c.box for c in extraction.crops]
        missing = extraction.missing
    return frames, boxes, model(np.stack(crops)).numpy(), missing


# --------------------------------------------------------------------------- parity with prepare + serving_model


def test_model_kinds_signatures_and_sizes(models):
    paths, _ = models
    runners = {kind: load_runner(path) for kind, path in paths.items()}
    assert isinstance(runners["run"], KerasRunner) and isinstance(runners["savedmodel"], SavedModelRunner)
    assert isinstance(runners["tflite"], TFLiteRunner)
    assert {r.size for r in runners.values()} == {SIZE} and {r.kind for r in runners.values()} == set(paths)
    assert runners["savedmodel"]._input == "images" and runners["savedmodel"]._output == "probability"
    x = np.random.default_rng(1).integers(0, 256, (5, SIZE, SIZE, 3), dtype=np.uint8)
    expected = models[1](x).numpy()
    assert expected.std() > 0.05  # the rescaled head makes scores differ between faces
    for kind, runner in runners.items():
        # probabilities in [0, 1]: Keras / SavedModel / TFLite (XNNPack, vector-width dependent) float32 kernels; 1e-5 ~
        # 170 ulps at 0.5 (test_export measures the margins)
        np.testing.assert_allclose(runner.predict(x), expected, atol=1e-5, err_msg=kind)
        np.testing.assert_allclose(runner.predict(x[:1]), expected[:1], atol=1e-5, err_msg=kind)


def test_tflite_uint8_quantized_output_is_dequantized(models, tmp_path):
    import tensorflow as tf

    paths, model = models
    x = np.random.default_rng(2).integers(0, 256, (40, SIZE, SIZE, 3), dtype=np.uint8)
    converter = tf.lite.TFLiteConverter.from_saved_model(str(paths["savedmodel"]))
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([x[i : i + 1]] for i in range(24))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = converter.inference_output_type = tf.uint8
    (tmp_path / "int8.tflite").write_bytes(converter.convert())
    runner = load_runner(tmp_path / "int8.tflite")
    assert runner._out["dtype"] == np.uint8 and runner._out["quantization"][0] > 0
    expected = model(x[24:]).numpy()
    got = runner.predict(x[24:])
    assert got.dtype == np.float32 and np.all((got >= 0) & (got <= 1))
    # int8 weights and activations, 1/256 output steps: close, not equal (not dequantized it would be 0-255)
    assert np.abs(got - expected).max() < 0.1 and np.abs(got - expected).mean() < 0.03
    assert np.corrcoef(got, expected)[0, 1] > 0.98


@pytest.mark.parametrize("kind", ["run", "savedmodel", "tflite"])
def test_scores_equal_keras_model_on_prepare_crops(kind, models, media, detector):
    paths, model = models
    screener = Screener(load_runner(paths[kind]), ScreenSettings(), detector=detector)
    for path in [*media["clips"], media["image"]]:
        result = screener.screen(MediaItem(str(path), "image" if path.suffix == ".png" else "video"))
        frames, boxes, expected, missing = _reference(path, detector, model)
        assert result.error is None and result.no_face == missing and len(frames) >= (1 if path.suffix == ".png" else 5)
        assert [f.frame for f in result.frames] == frames and [f.box for f in result.frames] == boxes
        # as above: float32 probabilities through another runner's kernels; 1e-5 ~ 170 ulps, the mean of them likewise
        np.testing.assert_allclose([f.probability for f in result.frames], expected, atol=1e-5)
        assert result.score == pytest.approx(float(np.mean(expected)), abs=1e-5)
        assert result.fake_fraction == pytest.approx(float(np.mean(expected >= 0.5)))
        assert result.verdict == ("fake" if np.mean(expected) >= 0.5 else "real")
        assert result.sampled == len(frames) + len(missing) == (1 if path.suffix == ".png" else 10)
        assert result.n_frames == (1 if path.suffix == ".png" else FRAMES)


def _write_h264(path, frames, options):
    import av

    with av.open(str(path), "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=25, options=options)
        stream.width, stream.height, stream.pix_fmt = frames[0].shape[1], frames[0].shape[0], "yuv420p"
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())
    return path


def _opencv_frames(path):
    """Every frame as OpenCV decodes it (RGB), with its own orientation handling (CAP_PROP_ORIENTATION_AUTO)."""
    capture, frames = cv2.VideoCapture(str(path)), {}
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames[len(frames)] = frame[..., ::-1]
    capture.release()
    return len(frames), frames


@pytest.mark.parametrize(
    "options", [{"g": "7", "bf": "3"}, {"g": "250"}, {"g": "10", "bf": "2", "x264-params": "open-gop=1"}]
)
def test_decoder_gives_opencv_frames_decoding_only_what_they_need(options, tmp_path):
    base = np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    path = _write_h264(tmp_path / "clip.mp4", [np.roll(base, 2 * i, axis=1) for i in range(60)], options)
    n, expected = _opencv_frames(path)  # the decoder OpenCV's VideoCapture runs: every frame
    video = VideoFrames(path)
    assert video.n_frames == n == 60
    for wanted in ([0, 30, 59], [5], [59], [0, 30], list(range(3, 60, 7)), list(range(60))):
        got = list(video.frames(wanted))
        assert [i for i, _ in got] == wanted, (options, wanted)
        assert all(np.array_equal(frame, expected[i]) for i, frame in got), (options, wanted)
        if options["g"] == "7" and wanted == [5]:
            assert video.decoded < 7  # one GOP, stopped after frame 5
    assert [i for i, _ in video.frames()] == list(range(60))


# --------------------------------------------------------------------------- tracking


class _PlannedDetector:
    """An MTCNN stand-in: frame i (an image filled with i) has the face ``plan[i]`` ((x, y, w, h) or None), or
    the faces ``plan[i]`` (a list of boxes)."""

    def __init__(self, plan):
        self.plan, self.calls = plan, []

    def detect_faces(self, images, box_format="xywh"):
        frames = [int(image[0, 0, 0]) for image in images]
        self.calls.append(frames)
        boxes = [
            self.plan[f] if isinstance(self.plan[f], list) else [self.plan[f]] * bool(self.plan[f]) for f in frames
        ]
        return [[{"box": list(box), "confidence": 0.99} for box in faces] for faces in boxes]


def test_track_faces_interpolates_between_detections_and_detects_gaps():
    plan = {i: (10 + 2 * i, 20, 30, 30) for i in range(12)}
    plan.update({9: None, 10: None, 11: None})  # the face leaves after frame 8
    images = [(i, np.full((96, 96, 3), i, np.uint8)) for i in range(12)]
    stub = _PlannedDetector(plan)
    faces = list(track_faces(images, stub, detect_every=4, margin=0, size=8, batch=8))
    assert [f.frame for f in faces] == list(range(12))
    assert sorted(f for call in stub.calls for f in call) == [0, 4, 8, 9, 10, 11]  # keyframes, last, then 9, 10
    for face in faces[:9]:
        assert face.crop.box == square_box(plan[face.frame], 0)  # linear motion: interpolation is exact
        assert face.tracked == (face.frame % 4 != 0)
    assert all(f.crop is None and f.reason == "no face detected" for f in faces[9:])

    stub = _PlannedDetector({i: None for i in range(6)})
    faces = list(track_faces(images[:6], stub, detect_every=5, size=8))
    assert stub.calls == [[0, 5]] and all(f.crop is None for f in faces)
    assert faces[2].reason == "no face at frames 0 and 5 (not detected in between)"


def test_track_faces_follows_every_person_and_links_them_across_frames():
    def a(i):  # the larger face, moving right
        return (10 + 2 * i, 20, 40, 40)

    def b(i):  # a smaller one, moving down
        return (60, 20 + i, 30, 30)

    plan = {i: [b(i), a(i)] if i <= 8 else [a(i)] for i in range(12)}  # b leaves after frame 8
    images = [(i, np.full((128, 128, 3), i, np.uint8)) for i in range(12)]
    stub = _PlannedDetector(plan)
    faces = list(track_faces(images, stub, detect_every=4, margin=0, size=8, batch=8, min_size=0))
    assert sorted(f for call in stub.calls for f in call) == [0, 4, 8, 9, 10, 11]  # keyframes, last, then 9, 10
    by_frame = {}
    for face in faces:
        by_frame.setdefault(face.frame, {})[face.track] = face
    assert list(by_frame) == list(range(12))
    for i in range(12):  # the largest face of the first frame is person 0; each keeps its id while it is there
        expected = {0: a(i), 1: b(i)} if i <= 8 else {0: a(i)}
        assert {t: f.crop.box for t, f in by_frame[i].items()} == {t: square_box(v, 0) for t, v in expected.items()}
        assert all(f.tracked == (i % 4 != 0 and i <= 8) for f in by_frame[i].values())

    plan = {i: [a(i)] + ([] if i == 3 else [b(i)]) for i in range(8)}  # b missed once: still the same person
    faces = list(track_faces(images[:8], _PlannedDetector(plan), margin=0, size=8, min_size=0))
    assert sorted({f.track for f in faces if f.crop.box[0] == 60}) == [1]
    small = {i: [a(i), (90, 90, 12, 12)] for i in range(4)}  # a 12 px face is below --min-face 24: not judged
    faces = list(track_faces(images[:4], _PlannedDetector(small), margin=0, size=8))
    assert {f.track for f in faces} == {0} and len(faces) == 4


def test_all_frames_with_tracking_scores_every_frame(models, media, detector):
    paths, _ = models
    clip = media["clips"][0]
    screener = Screener(
        load_runner(paths["tflite"]), ScreenSettings(all_frames=True, detect_every=3), detector=detector
    )
    result = screener.screen(MediaItem(str(clip), "video"))
    assert result.error is None and [f.frame for f in result.frames] == list(range(FRAMES))
    assert [f.tracked for f in result.frames] == [i % 3 != 0 and i != FRAMES - 1 for i in range(FRAMES)]
    detected = {c.frame: c.box for c in extract_faces(clip, detector, frames=FRAMES, margin=16, size=SIZE).crops}
    for face in result.frames:  # interpolated boxes stay within a few pixels of the detected ones
        assert np.abs(np.subtract(face.box, detected[face.frame])).max() <= 6
    every = Screener(screener.runner, ScreenSettings(every=5), detector=detector).screen(MediaItem(str(clip), "video"))
    assert [f.frame for f in every.frames] == [0, 5, 10]


# --------------------------------------------------------------------------- faceless and broken inputs


def test_faceless_corrupt_and_empty_files_are_reported(models, media, detector):
    paths, _ = models
    screener = Screener(load_runner(paths["tflite"]), ScreenSettings(frames=4), detector=detector)
    faceless = screener.screen(MediaItem(str(media["faceless"]), "video"))
    assert faceless.error is None and faceless.frames == [] and faceless.score is None and faceless.verdict is None
    assert faceless.sampled == 4 and sorted(faceless.no_face) == [0, 2, 5, 7]
    assert set(faceless.no_face.values()) == {"no face detected"}
    corrupt = screener.screen(MediaItem(str(media["corrupt"]), "video"))
    assert corrupt.error.startswith("not a readable video") and corrupt.frames == []
    assert screener.screen(MediaItem(str(media["empty"]), "video")).error == "empty file (0 bytes)"
    broken_image = media["corrupt"].with_name("broken.png")
    broken_image.write_bytes(b"\x89PNG not really")
    assert "not a readable image" in screener.screen(MediaItem(str(broken_image), "image")).error
    broken_image.unlink()


def test_find_media_recurses_and_keeps_order(media, tmp_path):
    nested = tmp_path / "a" / "b"
    nested.mkdir(parents=True)
    (nested / "x.JPG").write_bytes(b"")
    (nested / "notes.txt").write_text("no")
    (tmp_path / ".hidden.mp4").write_bytes(b"")
    items = find_media([media["clips"][1], tmp_path, media["clips"][1], tmp_path / "missing.mov"])
    assert [(os.path.basename(i.path), i.kind) for i in items] == [
        ("fake_000_001.mp4", "video"),
        ("x.JPG", "image"),
        ("missing.mov", "video"),
    ]


# --------------------------------------------------------------------------- the command


def _screen(*args):
    return CliRunner().invoke(main, ["screen", *map(str, args)])


def test_cli_json_lines_records_and_exit_codes(models, media, tmp_path):
    paths, _ = models
    out = tmp_path / "verdicts.jsonl"
    out.write_text("old\n")
    inputs = [media["dir"], media["faceless"], media["corrupt"], media["empty"]]
    refused = _screen(*inputs, "--model", paths["tflite"], "--frames", "6", "--json", out)
    assert refused.exit_code == 1 and "exists; pass --overwrite" in refused.output and out.read_text() == "old\n"
    result = _screen(*inputs, "--model", paths["tflite"], "--frames", "6", "--json", out, "--overwrite")
    assert result.exit_code == 1, result.output
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [os.path.basename(r["path"]) for r in records] == [
        "fake_000_001.mp4",
        "photo.png",
        "real_000.mp4",
        "faceless.mp4",
        "corrupt.mp4",
        "empty.mp4",
    ]
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]  # atomic: no temp file left
    fake, photo, real, faceless, corrupt, empty = records
    for record in (fake, real):
        assert record["status"] == "ok" and record["frames_sampled"] == 6 and record["n_frames"] == FRAMES
        assert record["frames_scored"] + record["frames_without_face"] == 6 and record["frames_scored"] >= 3
        assert [f["frame"] for f in record["no_face"]] == sorted(
            set(sample_frame_indices(FRAMES, 6)) - {f["frame"] for f in record["frames"]}
        )
        # the mean of the same float32 probabilities summed in another order: ~1 ulp (6e-8) of a [0, 1] value; 1e-6
        assert record["score"] == pytest.approx(np.mean([f["probability"] for f in record["frames"]]), abs=1e-6)
        assert record["verdict"] in ("fake", "real") and record["model"] == str(paths["tflite"])
        assert set(record["frames"][0]) == {
            "frame",
            "probability",
            "face_score",
            "box",
            "tracked",
            "ood_score",
            "track",
        }
        # one synthff face per frame: one person, whose record is the item's
        assert record["people"] == 1 and record["track"] == 0 and len(record["tracks"]) == 1
        (person,) = record["tracks"]
        assert person["frames"] == [f["frame"] for f in record["frames"]] and person["score"] == record["score"]
        assert person["boxes"] == [f["box"] for f in record["frames"]] and person["verdict"] == record["verdict"]
        # a .tflite without the features output: no OOD score, and the record says why instead of guessing
        assert record["frames"][0]["ood_score"] is None and record["out_of_distribution"] is None
        assert record["ood_check"].startswith("this model has no features output")
        # a bare .tflite with no model card beside it: nothing says what it learned from, and every record says so
        assert record["trained_on"] is None and record["caveat"] == "training data unknown"
    assert photo["kind"] == "image" and photo["frames_scored"] == 1
    assert faceless["status"] == "ok" and faceless["score"] is None and faceless["verdict"] is None
    assert faceless["frames_without_face"] == 6 and faceless["frames_scored"] == 0
    assert corrupt["status"] == empty["status"] == "error" and empty["error"] == "empty file (0 bytes)"
    assert "error  " in result.stderr and "6 screened: " in result.stderr

    alone = _screen(media["faceless"], "--model", paths["savedmodel"], "--frames", "3")
    assert alone.exit_code == 0, alone.output
    assert alone.stdout.startswith("-      no face in 3 sampled frame(s)")


def test_cli_usage_errors_and_missing_model(media, tmp_path):
    for flags in (["--frames", "3", "--all"], ["--every", "2", "--all"], ["--frames", "2", "--every", "3"]):
        result = _screen(media["clips"][0], "--model", tmp_path / "nothing.tflite", *flags)
        assert result.exit_code == 2 and "exclude each other" in result.output
    assert _screen(media["clips"][0], "--threshold", "1.5").exit_code == 2
    assert _screen("--model", "x.tflite").exit_code == 2  # no PATH
    out = tmp_path / "keep.jsonl"
    out.write_text("old\n")
    result = _screen(media["clips"][0], "--model", tmp_path / "nothing.tflite", "--json", out, "--overwrite")
    assert result.exit_code == 1 and out.read_text() == "old\n"
    assert result.output.strip().splitlines() == [
        f"Error: model {tmp_path / 'nothing.tflite'}: no such file or directory (give a .tflite file, a SavedModel "
        "folder or a run directory)"
    ]


def test_cli_from_list_screens_the_listed_paths_in_order(models, media, tmp_path, monkeypatch):
    paths, _ = models
    monkeypatch.chdir(media["faceless"].parent)  # a relative line is relative to the working directory
    listed = tmp_path / "corpus.txt"
    listed.write_text(f"# a corpus\n\n  {media['faceless'].name}  \n{media['dir']}\n", encoding="utf-8")
    args = ["--model", paths["tflite"], "--frames", "2", "--json", "-"]
    by_list = _screen(media["clips"][0], "--from-list", listed, *args)
    typed = _screen(media["clips"][0], media["faceless"].name, media["dir"], *args)
    assert by_list.exit_code == typed.exit_code == 0, by_list.output
    records = [json.loads(line) for line in by_list.stdout.splitlines()]
    # the PATH first, then the list in its order; real_000.mp4, given already, is not screened twice from the folder
    assert [os.path.basename(r["path"]) for r in records] == [
        "real_000.mp4",
        "faceless.mp4",
        "fake_000_001.mp4",
        "photo.png",
    ]
    typed_records = [json.loads(line) for line in typed.stdout.splitlines()]
    assert [{**r, "seconds": 0} for r in records] == [{**r, "seconds": 0} for r in typed_records]  # but the time
    stdin = CliRunner().invoke(main, ["screen", "--from-list", "-", *map(str, args)], input=f"{media['faceless']}\n")
    assert stdin.exit_code == 0 and [json.loads(line)["path"] for line in stdin.stdout.splitlines()] == [
        str(media["faceless"])
    ]
    (tmp_path / "empty.txt").write_text("# nothing\n")
    empty = _screen("--from-list", tmp_path / "empty.txt", "--model", paths["tflite"])
    assert empty.exit_code == 2 and "lists no path" in empty.output
    missing = _screen("--from-list", tmp_path / "none.txt", "--model", paths["tflite"])
    assert missing.exit_code == 2 and "No such file" in missing.output


def test_cli_defaults_to_latest_run(models, media, tmp_path, monkeypatch):
    paths, _ = models
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "mine").symlink_to(paths["run"], target_is_directory=True)
    monkeypatch.chdir(tmp_path)
    result = _screen(media["image"], "--json", "-")
    assert result.exit_code == 0, result.output
    assert "model: runs/mine (the latest run under runs/" in result.stderr
    record = json.loads(result.stdout)
    assert record["model"] == "runs/mine" and record["kind"] == "image" and record["frames_scored"] == 1


def test_what_the_model_was_trained_on_travels_to_every_verdict(models, media, tmp_path):
    import shutil

    from ltw_tf.data.manifest import Face
    from ltw_tf.provenance import TRAINED_ON_NAME, describe_faces

    paths, _ = models
    run = tmp_path / "run"
    shutil.copytree(paths["run"], run)
    cv2.imwrite(str(tmp_path / "crop.png"), np.zeros((SIZE, SIZE, 3), np.uint8))
    faces = [
        Face("crop.png", label, "synthff", domain, "c23", "train", f"{i:03d}", f"{i:03d}", "", 0)
        for i, (label, domain) in enumerate([(0, "real"), (1, "Deepfakes"), (1, "Deepfakes")])
    ]
    record = describe_faces(faces, tmp_path, "gid-fs23")
    assert record["synthetic_only"] and record["face_size"] == SIZE and (record["faces"], record["videos"]) == (3, 3)
    (run / TRAINED_ON_NAME).write_text(json.dumps(record))
    result = _screen(media["image"], "--model", run)
    assert result.exit_code == 0, result.output
    caveat = "synthetic-trained model: says nothing about real faces"
    assert result.stdout.rstrip().endswith(f"photo.png  [{caveat}]"), result.stdout
    assert result.stderr.splitlines()[0] == (
        "model trained on: synthff (synthetic faces only): gid-fs23 train split, Deepfakes, real; c23; "
        f"{SIZE} px crops; 3 faces of 3 videos; {caveat}"
    )
    item = json.loads(_screen(media["image"], "--model", run, "--json", "-").stdout)
    assert item["trained_on"] == record and item["caveat"] == caveat
    quiet = CliRunner().invoke(main, ["--quiet", "screen", str(media["image"]), "--model", str(run)])
    assert "model trained on" not in quiet.stderr and caveat in quiet.stdout  # the verdict keeps its caveat
