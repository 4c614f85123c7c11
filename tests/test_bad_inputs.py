"""Bad inputs through the command line (docs/RELIABILITY.md): broken videos and images, broken datasets, training
that is poisoned, killed or interrupted mid-checkpoint, models from strangers, bad flags. Each case checks the exit
code, the one-line message and that nothing was lost or half-written. Cases tested elsewhere are listed in the doc.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import tensorflow as tf
from click.testing import CliRunner
from test_faces import draw_face, face_video, plain_video, write_video

from cli.main import main
from ltw_tf.data.manifest import read_manifest
from toy import ff_manifest

HERE = Path(__file__).parent
MODEL_SIZE = 32


def _cli(*args, env=None):
    return CliRunner().invoke(main, [str(a) for a in args], env=env)


def _one_line_error(result, code: int, text: str) -> str:
    """The result failed with ``code`` and one ``Error:`` line holding ``text`` (no traceback); returns it."""
    assert result.exit_code == code, result.output
    errors = [line for line in result.output.splitlines() if "Error" in line or "Traceback" in line]
    assert len(errors) == 1 and text in errors[0], result.output
    return errors[0]


def _no_temp_files(folder: Path) -> None:
    left = [p for p in folder.rglob("*") if p.name.endswith(".tmp") or p.name.endswith("_temp")]
    assert not left, f"half-written files left: {left}"


# --------------------------------------------------------------------------- 1. videos (prepare and screen)


def _gray_video(path: Path, n_frames: int = 6) -> Path:
    """A genuinely single-channel H.264 video (pix_fmt gray)."""
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 320, 240, "gray"
        for i in range(n_frames):
            gray = cv2.cvtColor(draw_face(seed=i), cv2.COLOR_BGR2GRAY)
            for packet in stream.encode(av.VideoFrame.from_ndarray(gray, format="gray")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


@pytest.fixture(scope="module")
def bad_videos(tmp_path_factory) -> dict[str, Path]:
    """One file per video case, named as the FF++ layout wants them (real ids 000-007)."""
    folder = tmp_path_factory.mktemp("videos")
    good = face_video(folder / "000.mp4", n_frames=8)
    (folder / "001.mp4").write_bytes(b"")
    (folder / "002.mp4").write_bytes(np.random.default_rng(0).bytes(6000))
    data = good.read_bytes()
    (folder / "003.mp4").write_bytes(data[: len(data) // 2])
    plain_video(folder / "004.mp4", n_frames=4)
    face_video(folder / "005.mp4", n_frames=1)
    _gray_video(folder / "006.mp4")
    write_video(folder / "007.mp4", [draw_face(2160, 3840, scale=6, seed=i) for i in range(2)])
    return {
        "good": good,
        "zero": folder / "001.mp4",
        "random": folder / "002.mp4",
        "truncated": folder / "003.mp4",
        "no_face": folder / "004.mp4",
        "one_frame": folder / "005.mp4",
        "gray": folder / "006.mp4",
        "4k": folder / "007.mp4",
    }


def _ffpp_root(
    root: Path,
    videos: dict[str, Path],
    methods=("Deepfakes", "Face2Face", "FaceSwap", "NeuralTextures"),
) -> tuple[Path, Path]:
    """An FF++ root: the case videos as reals 000-007, one good fake per method, official-style split files."""
    real_dir = root / "original_sequences" / "youtube" / "c23" / "videos"
    real_dir.mkdir(parents=True)
    for path in videos.values():
        shutil.copy(path, real_dir / path.name)
    for method in methods:
        fake_dir = root / "manipulated_sequences" / method / "c23" / "videos"
        fake_dir.mkdir(parents=True)
        shutil.copy(videos["good"], fake_dir / "000_001.mp4")
    splits = root.parent / f"{root.name}-splits"
    splits.mkdir()
    pairs = {"train": [["000", "001"], ["002", "003"], ["004", "005"], ["006", "007"]], "val": [], "test": []}
    for split, content in pairs.items():
        (splits / f"{split}.json").write_text(json.dumps(content))
    return root, splits


def test_prepare_reports_bad_videos_and_keeps_the_good_ones(tmp_path, bad_videos):
    root, splits = _ffpp_root(tmp_path / "ff", bad_videos)
    out = tmp_path / "faces"
    result = _cli(
        "--quiet",
        "prepare",
        root,
        "--dataset",
        "ffpp",
        "--splits",
        splits,
        "--out",
        out,
        "--frames",
        "2",
        "--size",
        "32",
        "--workers",
        "1",
        "--json",
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["videos"] == 12 and report["skipped"] == 4
    with open(out / "skipped.csv", newline="") as fh:
        import csv

        skipped = {row["video_id"]: row["reason"] for row in csv.DictReader(fh)}
    assert skipped["001"].endswith("001.mp4: empty file (0 bytes)")
    assert "002.mp4: not a readable video" in skipped["002"] and "003.mp4: not a readable video" in skipped["003"]
    assert skipped["004"] == "no face in any of 2 sampled frames (no face detected x2)"
    assert all("\n" not in reason for reason in skipped.values())
    faces = read_manifest(out)
    by_video = {}
    for face in faces:
        by_video.setdefault(face.video_id, []).append(face.frame)
    assert by_video["005"] == [0]  # the 1-frame video gives its one frame
    assert len(by_video["006"]) == 2 and len(by_video["007"]) == 2  # grayscale and 4K: faces found
    for face in faces:  # every crop is a whole 3-channel PNG of the asked size
        image = cv2.imread(str(out / face.path), cv2.IMREAD_UNCHANGED)
        assert image.shape == (32, 32, 3), face.path
    _no_temp_files(out)


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    """The tiny detector as a .keras serving model, a SavedModel and a .tflite file, plus damaged copies."""
    import keras

    from ltw_tf.models import build_detector
    from ltw_tf.models.serving import serving_model

    folder = tmp_path_factory.mktemp("models")
    keras.utils.set_random_seed(0)
    model = serving_model(build_detector("tiny", MODEL_SIZE, weights=None))
    model.save(folder / "detector.keras")
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(
        "serving_default",
        lambda images: {"probability": model(images)},
        input_signature=[tf.TensorSpec((None, MODEL_SIZE, MODEL_SIZE, 3), tf.uint8, name="images")],
    )
    archive.write_out(str(folder / "savedmodel"), verbose=False)
    blob = tf.lite.TFLiteConverter.from_saved_model(str(folder / "savedmodel")).convert()
    (folder / "truncated.tflite").write_bytes(blob[: len(blob) // 2])
    shutil.copytree(folder / "savedmodel", folder / "savedmodel-truncated")
    data = next((folder / "savedmodel-truncated" / "variables").glob("variables.data-*"))
    data.write_bytes(data.read_bytes()[:16])
    shutil.copytree(folder / "savedmodel", folder / "savedmodel-no-variables")
    shutil.rmtree(folder / "savedmodel-no-variables" / "variables")
    inputs = keras.Input((MODEL_SIZE, MODEL_SIZE, 3))
    marker = folder / "code-ran"
    payload = eval(f"lambda x: x[:, 0, 0, 0] + float(__import__('pathlib').Path({str(marker)!r}).touch() or 0)")
    code = keras.layers.Lambda(payload)(inputs)  # code in the file: creates ``marker`` whenever it runs
    keras.Model(inputs, code).save(folder / "lambda.keras")
    marker.unlink(missing_ok=True)  # building the model above ran the lambda once
    inputs = keras.Input((24, MODEL_SIZE, 3))
    keras.Model(inputs, keras.layers.Dense(1)(keras.layers.GlobalAveragePooling2D()(inputs))).save(
        folder / "non-square.keras"
    )
    return {
        "keras": folder / "detector.keras",
        "savedmodel": folder / "savedmodel",
        "folder": folder,
        "truncated_tflite": folder / "truncated.tflite",
        "truncated_savedmodel": folder / "savedmodel-truncated",
        "no_variables": folder / "savedmodel-no-variables",
        "lambda": folder / "lambda.keras",
        "non_square": folder / "non-square.keras",
        "marker": marker,
    }


def test_screen_reports_bad_videos_and_images_and_goes_on(tmp_path, bad_videos, models):
    images = tmp_path / "images"
    images.mkdir()
    cv2.imwrite(str(images / "gray.png"), cv2.cvtColor(draw_face(seed=3), cv2.COLOR_BGR2GRAY))
    cv2.imwrite(str(images / "huge.png"), draw_face(2160, 3840, scale=6, seed=4))
    (images / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(40))
    out = tmp_path / "verdicts.jsonl"
    result = _cli("screen", *bad_videos.values(), images, "--model", models["keras"], "--frames", "3", "--json", out)
    assert result.exit_code == 1, result.output  # some items failed; every item has its record
    records = {Path(r["path"]).name: r for r in map(json.loads, out.read_text().splitlines())}
    assert len(records) == len(bad_videos) + 3
    assert records["001.mp4"]["error"] == "empty file (0 bytes)"
    assert records["002.mp4"]["error"].startswith("not a readable video")
    assert records["003.mp4"]["error"].startswith("not a readable video")
    assert records["broken.png"]["error"].startswith("not a readable image")
    assert records["004.mp4"]["status"] == "ok" and records["004.mp4"]["verdict"] is None
    assert records["004.mp4"]["frames_without_face"] == 3
    for name, scored in (
        ("000.mp4", 3),
        ("005.mp4", 1),
        ("006.mp4", 3),
        ("007.mp4", 2),
        ("gray.png", 1),
        ("huge.png", 1),
    ):
        assert records[name]["status"] == "ok" and records[name]["frames_scored"] == scored, records[name]
        assert records[name]["verdict"] in ("real", "fake")  # crops resized to the model's 32 px input
    error_lines = [line for line in result.stderr.splitlines() if line.startswith("error")]
    assert len(error_lines) == 4 and all("Traceback" not in line for line in error_lines)
    _no_temp_files(tmp_path)


# --------------------------------------------------------------------------- 2. datasets


def test_prepare_dataset_errors_write_nothing(tmp_path, bad_videos):
    good = {"good": bad_videos["good"]}
    out = tmp_path / "faces"
    result = _cli("prepare", tmp_path / "nowhere", "--dataset", "ffpp", "--out", out)
    _one_line_error(result, 2, "does not exist")
    root, splits = _ffpp_root(tmp_path / "ff", good, methods=("Deepfakes", "Face2Face", "NeuralTextures"))
    missing = root / "manipulated_sequences" / "FaceSwap" / "c23" / "videos"
    _one_line_error(
        _cli("prepare", root, "--dataset", "ffpp", "--splits", splits, "--out", out),
        1,
        f"expected folder {missing} not found",
    )
    (splits / "train.json").write_text(json.dumps({"000": "001"}))
    shutil.copytree(root / "manipulated_sequences" / "Deepfakes", root / "manipulated_sequences" / "FaceSwap")
    _one_line_error(
        _cli("prepare", root, "--dataset", "ffpp", "--splits", splits, "--out", out),
        1,
        "train.json: expected a JSON list of [id, id] pairs, got dict",
    )
    (splits / "train.json").write_text(json.dumps([["000", "001"], ["002"]]))
    _one_line_error(
        _cli("prepare", root, "--dataset", "ffpp", "--splits", splits, "--out", out),
        1,
        'train.json: entry 1 is ["002"]; expected a pair',
    )
    assert not out.exists()


def _train(root, out, *extra, method="alltrain", epochs=1):
    return _cli(
        "--quiet",
        "train",
        "gid-fs23",
        "--data-root",
        root,
        "--method",
        method,
        "--backbone",
        "tiny",
        "--weights",
        "none",
        "--image-size",
        "16",
        "--batch-size",
        "6",
        "--epochs",
        epochs,
        "--out",
        out,
        *extra,
    )


def _faces_root(tmp_path) -> tuple[Path, list]:
    root = tmp_path / "faces"
    faces = ff_manifest(root, n_targets=8, splits=lambda t: ("val", "test")[t % 2] if t >= 4 else "train")
    return root, faces


def test_train_setup_errors_refuse_before_any_work(tmp_path):
    root, faces = _faces_root(tmp_path)
    out = tmp_path / "run"
    _one_line_error(_train(tmp_path / "none", out), 1, "has no manifest.csv: prepare it first")
    empty = tmp_path / "no-deepfakes"
    shutil.copytree(root, empty)
    from ltw_tf.data.manifest import write_manifest

    write_manifest(empty, [f for f in faces if not (f.domain == "Deepfakes" and f.split == "train")])
    _one_line_error(_train(empty, out), 1, "source domain 'Deepfakes' (synthff c23 train) is empty in this manifest")
    gone = next(f for f in faces if f.split == "train" and f.domain == "Face2Face")
    (root / gone.path).unlink()
    _one_line_error(
        _train(root, out), 1, f"{root / gone.path}: listed in the manifest but missing; re-run `ltw-tf prepare`"
    )
    assert not out.exists()


def test_odd_crops_train_and_a_corrupt_one_stops_naming_it_with_the_checkpoint_kept(tmp_path):
    root, faces = _faces_root(tmp_path)
    train = [f for f in faces if f.split == "train"]
    cv2.imwrite(str(root / train[0].path), np.full((12, 12), 90, np.uint8))  # grayscale
    cv2.imwrite(str(root / train[1].path), np.full((12, 12, 4), 90, np.uint8))  # BGRA
    cv2.imwrite(str(root / train[2].path), np.full((300, 200, 3), 90, np.uint8))  # another size, not square
    cv2.imwrite(str(root / train[3].path), np.full((12, 12, 3), 900, np.uint16))  # 16-bit
    out = tmp_path / "run"
    assert _train(root, out).exit_code == 0  # channels converted to RGB, sizes resized to --image-size
    checkpoint = tf.train.latest_checkpoint(str(out / "checkpoints"))
    before = {p.name: p.read_bytes() for p in (out / "checkpoints").iterdir()}
    bad = root / train[5].path
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(30))
    line = _one_line_error(_train(root, out, "--resume", epochs=2), 1, f"{bad}: not a decodable image (")
    assert "re-run `ltw-tf prepare` or drop its manifest row" in line
    assert tf.train.latest_checkpoint(str(out / "checkpoints")) == checkpoint
    assert {p.name: p.read_bytes() for p in (out / "checkpoints").iterdir()} == before

    (root / train[5].path).unlink()
    test_face = next(f for f in faces if f.split == "test")
    (root / test_face.path).write_bytes(b"not an image")
    _one_line_error(
        _cli("evaluate", out, "--checkpoint", "latest", "--no-roc"),
        1,
        f"{root / test_face.path}: not a decodable image (Unknown image file format",
    )
    assert not (out / "eval" / "gid-fs23.json").exists()


# --------------------------------------------------------------------------- 3. training


def test_nan_batch_stops_naming_the_step_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    from ltw_tf.data.pipeline import ManifestEpochs

    root, _ = _faces_root(tmp_path)
    epoch_of = ManifestEpochs.epoch

    def poisoned(self, epoch, request):
        data = epoch_of(self, epoch, request)
        if epoch == 1:
            batches = list(data.batches)
            (x, y), meta = batches[1]
            batches[1] = ((x * np.nan, y), meta)
            data.batches = iter(batches)
        return data

    monkeypatch.setattr(ManifestEpochs, "epoch", poisoned)
    out = tmp_path / "run"
    result = _train(root, out, epochs=3)
    steps = json.loads(
        tf.train.load_checkpoint(str(out / "checkpoints")).get_tensor("history/.ATTRIBUTES/VARIABLE_VALUE")
    )[0]["steps"]
    _one_line_error(result, 1, f"non-finite loss at step {steps + 2} (epoch 2): loss=nan")
    assert result.output.rstrip().endswith(f"last good checkpoint: {out / 'checkpoints' / 'ckpt-1'}")
    assert tf.train.latest_checkpoint(str(out / "checkpoints")).endswith("ckpt-1")
    from ltw_tf.runs import load_detector

    load_detector(out, "latest")  # the kept checkpoint loads


KILLABLE = """
import os, signal, sys
from ltw_tf.methods.base import Method
step, kill_at = Method.train_step, int(os.environ.get("KILL_AT_STEP", "0"))
calls = []
def train_step(self, *args, **kwargs):
    calls.append(1)
    if len(calls) == kill_at:
        os.kill(os.getpid(), signal.SIGKILL)
    return step(self, *args, **kwargs)
Method.train_step = train_step
from cli.main import main
main()
"""


STEPS = ("--epochs", "2", "--steps-per-epoch", "2")


def _train_process(root, out, *extra, kill_at=0):
    """``ltw-tf train`` in a fresh process that SIGKILLs itself before its ``kill_at``-th step (0: never)."""
    args = [
        "--quiet",
        "train",
        "gid-fs23",
        "--data-root",
        root,
        "--method",
        "alltrain",
        "--backbone",
        "tiny",
        "--weights",
        "none",
        "--image-size",
        "16",
        "--batch-size",
        "6",
        *STEPS,
        "--out",
        out,
        *extra,
    ]
    env = {**os.environ, "KILL_AT_STEP": str(kill_at), "TF_CPP_MIN_LOG_LEVEL": "2"}
    return subprocess.run(
        [sys.executable, "-c", KILLABLE, *map(str, args)],
        cwd=HERE.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _variables(run_dir: Path) -> dict[str, np.ndarray]:
    reader = tf.train.load_checkpoint(str(run_dir / "checkpoints"))
    return {
        k: np.asarray(reader.get_tensor(k))
        for k in reader.get_variable_to_shape_map()
        if "history" not in k and k != "_CHECKPOINTABLE_OBJECT_GRAPH"
    }  # the graph holds layer name counters


@pytest.mark.slow
def test_sigkill_mid_epoch_then_resume_equals_an_uninterrupted_run(tmp_path):
    root, _ = _faces_root(tmp_path)
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    assert _train(root, straight, *STEPS[2:], epochs=2).exit_code == 0
    dead = _train_process(root, killed, kill_at=4)  # 2 steps per epoch: killed inside epoch 2
    assert dead.returncode == -signal.SIGKILL, dead.stderr[-2000:]
    assert tf.train.latest_checkpoint(str(killed / "checkpoints")).endswith("ckpt-1")  # epoch 2 never saved
    resumed = _train_process(root, killed, "--resume")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    a, b = _variables(straight), _variables(killed)
    assert a.keys() == b.keys() and len(a) > 20
    for key in a:
        if a[key].dtype.kind in "fc":
            # same float32 ops and batches: only multithreaded reduction order (intra-op threads, oneDNN) differs, a few
            # ulps per step; rtol 1e-6 = 8.4 ulps, atol for entries near 0 (margins: docs/DESIGN.md)
            np.testing.assert_allclose(a[key], b[key], rtol=1e-6, atol=1e-6, err_msg=key)
        else:
            np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    assert int(b["epoch/.ATTRIBUTES/VARIABLE_VALUE"]) == 2
    history = json.loads((killed / "history.json").read_text())
    assert [h["epoch"] for h in history] == [1, 2]


def test_interrupted_checkpoint_write_never_replaces_the_good_one(tmp_path, monkeypatch):
    from tensorflow.python.checkpoint import checkpoint_management

    root, _ = _faces_root(tmp_path)
    out = tmp_path / "run"
    update = checkpoint_management.update_checkpoint_state_internal

    def crash_mid_write(save_dir, model_checkpoint_path, *args, **kwargs):
        if model_checkpoint_path.endswith("ckpt-2"):  # the data file is half on disk when the process dies
            for data in Path(save_dir).glob("ckpt-2.data-*"):
                data.write_bytes(data.read_bytes()[: data.stat().st_size // 2])
            raise KeyboardInterrupt
        return update(save_dir, model_checkpoint_path, *args, **kwargs)

    monkeypatch.setattr(checkpoint_management, "update_checkpoint_state_internal", crash_mid_write)
    result = _train(root, out, epochs=2)
    assert result.exit_code == 130 and result.output.strip().endswith("interrupted")
    assert tf.train.latest_checkpoint(str(out / "checkpoints")).endswith("ckpt-1")  # never the partial ckpt-2
    from ltw_tf.runs import load_detector

    load_detector(out, "latest")
    monkeypatch.setattr(checkpoint_management, "update_checkpoint_state_internal", update)
    resumed = _train(root, out, "--resume", "--json", epochs=2)
    assert resumed.exit_code == 0, resumed.output
    assert json.loads(resumed.output)["checkpoint"].endswith("ckpt-2")
    load_detector(out, "latest")  # ckpt-2 rewritten whole

    data = next((out / "checkpoints").glob("ckpt-2.data-*"))  # a checkpoint damaged after the fact
    data.write_bytes(data.read_bytes()[:64])
    _one_line_error(
        _train(root, out, "--resume", epochs=3), 1, f"{out / 'checkpoints' / 'ckpt-2'}: cannot be restored ("
    )


# --------------------------------------------------------------------------- 4. models


def test_models_from_strangers_are_refused_with_one_line(tmp_path, models, bad_videos):
    clip = bad_videos["good"]
    out = tmp_path / "verdicts.jsonl"
    for model, text in (
        (models["lambda"], "refused: it carries Python code (a Lambda layer) that Keras safe mode does not run"),
        (models["truncated_tflite"], "not a usable .tflite model (The model is not a valid Flatbuffer buffer)"),
        (models["truncated_savedmodel"], "not a loadable SavedModel (damaged or incomplete"),
        (models["no_variables"], "not a loadable SavedModel (damaged or incomplete"),
        (models["non_square"], "is not one [N, S, S, 3] image batch"),
    ):
        _one_line_error(_cli("screen", clip, "--model", model, "--json", out), 1, text)
    assert not models["marker"].exists(), "the Lambda's code ran"
    assert not out.exists()
    root, _ = _faces_root(tmp_path)
    _one_line_error(
        _train(root, tmp_path / "run", "--backbone", "tiny", "--weights", models["lambda"]), 1, "not a .weights.h5 file"
    )
    assert not models["marker"].exists() and not (tmp_path / "run" / "checkpoints").exists()


def test_keras_model_file_screens_like_its_savedmodel(models, bad_videos):
    for kind in ("keras", "savedmodel"):
        result = _cli("screen", bad_videos["good"], "--model", models[kind], "--frames", "2", "--json", "-")
        assert result.exit_code == 0, result.output
    from ltw_tf.screening import load_runner

    x = np.random.default_rng(0).integers(0, 256, (3, MODEL_SIZE, MODEL_SIZE, 3), dtype=np.uint8)
    keras_runner, saved = load_runner(models["keras"]), load_runner(models["savedmodel"])
    assert keras_runner.kind == "keras" and keras_runner.size == saved.size == MODEL_SIZE
    # probabilities in [0, 1] (ulp <= 6e-8): Keras vs the SavedModel graph's fused float32 kernels (oneDNN / grappler
    # order): 1e-5 ~ 170 ulps
    np.testing.assert_allclose(keras_runner.predict(x), saved.predict(x), atol=1e-5)


# --------------------------------------------------------------------------- 5. command line


@pytest.mark.parametrize(
    "args, code, text",
    [
        (["train", "gid-zz23"], 1, "unknown benchmark 'gid-zz23'; valid: gid-df23, gid-df40"),
        (["train", "gid-fs23", "--method", "ltw2"], 1, "unknown method 'ltw2'; valid: "),
        (["train", "gid-fs23", "--backbone", "resnet9000"], 1, "unknown backbone 'resnet9000'; valid: efficientnet_b0"),
        (["evaluate", "{tmp}", "--benchmark", "gid-xx23"], 1, "is not a run directory"),
        (["benchmark", "--methods", "ltw2", "--benchmarks", "gid-df23"], 1, "unknown method 'ltw2'; valid:"),
        (["prepare", "{tmp}", "--dataset", "ff", "--out", "{tmp}/out"], 2, "'ff' is not one of 'ffpp', 'celebdf'"),
        (["-v", "-q", "info"], 2, "-v/--verbose and -q/--quiet exclude each other"),
        (["screen", "x.mp4", "--frames", "3", "--all"], 2, "--frames and --all exclude each other"),
        (["train", "gid-fs23", "--out", "{tmp}/none", "--resume"], 2, "has no checkpoints to resume"),
        (["benchmark", "--table", "3", "--benchmarks", "gid-df23"], 2, "--table 3 has no column for gid-df23"),
    ],
)
def test_bad_names_and_conflicting_flags_fail_before_any_work(tmp_path, args, code, text):
    result = _cli(*[a.replace("{tmp}", str(tmp_path)) for a in args], env={"LTW_DATA_ROOT": str(tmp_path)})
    _one_line_error(result, code, text)
    assert not any(tmp_path.iterdir())  # nothing created


def test_outputs_are_never_overwritten_without_overwrite(tmp_path, models, bad_videos):
    out = tmp_path / "verdicts.jsonl"
    out.write_text("old\n")
    _one_line_error(
        _cli("screen", bad_videos["good"], "--model", models["keras"], "--json", out),
        1,
        f"--json {out} exists; pass --overwrite to replace it",
    )
    assert out.read_text() == "old\n"
    result = _cli(
        "screen", bad_videos["good"], "--model", models["keras"], "--frames", "2", "--json", out, "--overwrite"
    )
    assert result.exit_code == 0 and json.loads(out.read_text())["frames_sampled"] == 2
