"""``ltw-tf screen --report DIR [--explain]``: the files per input and the data plotted in them, index.html (parses,
links resolve inside DIR, most suspicious first, no-face and unreadable inputs with their status), --overwrite,
Grad-CAM (the head's closed form, real vs fake faces, SavedModel rebuilt from its card, .tflite refused), and a
terminal free of TensorFlow's and LiteRT's start-up lines (real subprocesses)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
import test_screening
from click.testing import CliRunner
from test_screening import SIZE

from cli.main import main
from ltw_tf.screening import MediaItem, Screener, ScreenSettings, load_explainer, load_runner

REPO = Path(__file__).resolve().parents[1]
models, media, detector = test_screening.models, test_screening.media, test_screening.detector  # module fixtures


def _screen(*args):
    return CliRunner().invoke(main, ["screen", *map(str, args)])


class _Page(HTMLParser):
    """index.html's links, images and rows (data-score, data-status)."""

    def __init__(self):
        super().__init__()
        self.links, self.images, self.rows = [], [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "a":
            self.links.append(attrs["href"])
        elif tag == "img":
            self.images.append(attrs["src"])
        elif tag == "tr" and "data-score" in attrs:
            self.rows.append((attrs["data-score"], attrs["data-status"]))


def _page(directory: Path) -> _Page:
    page = _Page()
    page.feed((directory / "index.html").read_text(encoding="utf-8"))
    page.close()
    return page


# --------------------------------------------------------------------------- the report


def test_report_files_plot_data_and_index(models, media, tmp_path):
    paths, _ = models
    out = tmp_path / "report"
    inputs = [media["dir"], media["faceless"], media["corrupt"]]
    result = _screen(*inputs, "--model", paths["run"], "--frames", "6", "--report", out, "--explain")
    assert result.exit_code == 1, result.output  # the corrupt file
    assert "-> " + str(out / "index.html") in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report"]  # no staging folder left beside it
    names = {"fake_000_001.mp4": 1, "photo.png": 2, "real_000.mp4": 3, "faceless.mp4": 4}
    for name, number in names.items():
        stem = out / f"{number:04d}-{name}"
        assert (stem.with_name(stem.name + ".png")).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        data = json.loads(stem.with_name(stem.name + ".json").read_text())
        record, plot = data["record"], data["plot"]
        assert os.path.basename(record["path"]) == name and record["status"] == "ok"
        # one timeline point per scored frame: the record's frames, in time order
        assert len(plot["timeline"]) == record["frames_scored"]
        assert [(p["frame"], round(p["probability"], 6)) for p in plot["timeline"]] == [
            (f["frame"], f["probability"]) for f in record["frames"]
        ]
        assert plot["no_face_frames"] == [f["frame"] for f in record["no_face"]]
        assert (plot["mean"] is None) == (record["score"] is None)
        assert plot["mean"] is None or abs(plot["mean"] - record["score"]) <= 5e-7  # the record rounds to 6 places
        assert plot["explain"] and len(plot["people"]) == record["people"]
        if name == "faceless.mp4":
            assert plot["people"] == []
            assert plot["timeline"] == [] and len(plot["no_face_frames"]) == 6 and plot["thumbnail"] is None
        else:
            (person,) = plot["people"]  # one synthff face per frame: one person
            strip = [s["frame"] for s in person["strip"]]
            assert strip == sorted(strip) and set(strip) <= {p["frame"] for p in plot["timeline"]}
            assert all(np.isfinite(s["cam_max"]) for s in person["strip"])
            assert len(strip) == record["frames_scored"] >= 1  # <= 10 scored frames: all of them are drawn
            assert (out / plot["thumbnail"]).is_file()
    assert not list(out.glob("0005-*"))  # the corrupt file has a row, no files

    page = _page(out)
    for target in page.links + page.images:  # every link and image is a file of the report
        assert not target.startswith(("/", "http:", "https:", "file:")) and ".." not in target, target
        assert (out / target).is_file(), target
    assert len(page.images) == 3 and len(page.rows) == 5
    scores = [float(score) for score, _ in page.rows[:3]]
    assert scores == sorted(scores, reverse=True)  # most suspicious first
    assert page.rows[3] == ("", "no face in 6 sampled frame(s)")
    assert page.rows[4][0] == "" and page.rows[4][1].startswith("error: not a readable video")
    html_text = (out / "index.html").read_text(encoding="utf-8")  # the fixture's run has no trained_on.json
    assert (
        "trained on: training data not recorded" in html_text and '<p class="caveat">training data unknown' in html_text
    )


def test_report_overwrite_rules(models, media, tmp_path):
    paths, _ = models
    out = tmp_path / "report"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    args = [media["image"], "--model", paths["tflite"], "--report", out]
    for extra in ([], ["--overwrite"]):  # a folder of other files is never replaced
        refused = _screen(*args, *extra)
        assert refused.exit_code == 1 and sorted(p.name for p in out.iterdir()) == ["notes.txt"]
    assert "not an ltw-tf report" in refused.output
    (out / "notes.txt").unlink()
    assert _screen(*args).exit_code == 0  # an empty folder is fine
    first = sorted(p.name for p in out.iterdir())
    assert first == ["0001-photo.png.json", "0001-photo.png.png", "0001-photo.png.thumb.png", "index.html"]
    refused = _screen(*args)
    assert refused.exit_code == 1 and "exists; pass --overwrite" in refused.output
    (out / "stale.png").write_bytes(b"")
    assert _screen(*args, "--overwrite").exit_code == 0
    assert sorted(p.name for p in out.iterdir()) == first  # replaced as a whole
    usage = _screen(media["image"], "--model", paths["tflite"], "--explain")
    assert usage.exit_code == 2 and "--explain draws into the report" in usage.output


def test_explain_refuses_tflite_in_one_line(models, media, tmp_path):
    paths, _ = models
    result = _screen(media["image"], "--model", paths["tflite"], "--report", tmp_path / "r", "--explain")
    assert result.exit_code == 1 and not (tmp_path / "r").exists()
    assert result.output.strip().splitlines() == [
        f"Error: --explain needs gradients, which a .tflite model ({paths['tflite']}) does not have: give the run "
        "directory or the exported SavedModel"
    ]


def test_screener_keeps_the_scored_crops_of_evenly_spaced_frames(models, media, detector):
    paths, _ = models
    runner = load_runner(paths["tflite"])
    settings = ScreenSettings(all_frames=True, detect_every=3)
    result = Screener(runner, settings, detector=detector, keep_crops=4).screen(
        MediaItem(str(media["clips"][0]), "video")
    )
    assert result.error is None and len(result.frames) == test_screening.FRAMES
    # np.linspace(0, 11, 4).round(): bounded whatever the length; keyed by (frame, person), one person here
    assert sorted(result.crops) == [(0, 0), (4, 0), (7, 0), (11, 0)]
    scored = {(f.frame, f.track): f.probability for f in result.frames}
    again = runner.predict(np.stack([result.crops[i] for i in sorted(result.crops)]))
    # the very crops that were scored; another batch size may tile XNNPACK's kernels differently (0 difference
    # measured here; 1e-6 is ~16 float32 ulps at P ~ 0.5, far below what a different crop would change)
    np.testing.assert_allclose(again, [scored[i] for i in sorted(result.crops)], atol=1e-6, rtol=0)
    assert "crops" not in result.to_dict()


# --------------------------------------------------------------------------- Grad-CAM


def _crops(paths, media, detector):
    """Frame-0 crops of the real clip and of its FaceSwap fake (same target identity), as screening keeps them,
    with the probabilities screening gave them."""
    screener = Screener(load_runner(paths["run"]), ScreenSettings(frames=4), detector=detector, keep_crops=4)
    crops, scored = [], []
    for clip in media["clips"]:
        result = screener.screen(MediaItem(str(clip), "video"))
        first = result.frames[0]
        crops.append(result.crops[first.frame, first.track])
        scored.append(first.probability)
    return np.stack(crops), np.array(scored)


def test_gradcam_maps_size_finite_closed_form_and_real_vs_fake(models, media, detector):
    import tensorflow as tf

    paths, _ = models
    crops, scored = _crops(paths, media, detector)
    explainer = load_explainer(paths["run"])
    maps, probabilities = explainer.maps(crops)
    assert maps.shape == (2, SIZE, SIZE) and maps.dtype == np.float32
    assert np.isfinite(maps).all() and (maps >= 0).all()
    np.testing.assert_allclose(probabilities, scored, atol=1e-5)  # the scored model, as test_screening compares
    # f(theta)'s head is GAP + Dense: d logit / dF_ijc = w_c / (h w), so Eq. 2 is ReLU(F . w) / (h w) exactly.
    features, _ = explainer.detector(crops.astype(np.float32), training=False)
    features = features.numpy().astype(np.float64)
    w = explainer.detector.get_layer("logit").kernel.numpy()[:, 0].astype(np.float64)
    coarse = np.maximum(features @ w / (features.shape[1] * features.shape[2]), 0.0)
    expected = tf.image.resize(coarse[..., None], (SIZE, SIZE), method="bilinear")[..., 0].numpy()
    # float32 sums of C products of values ~|coarse|: a few ulps of the largest value, times C
    tolerance = 4 * features.shape[-1] * np.spacing(np.float32(np.abs(expected).max()))
    np.testing.assert_allclose(maps, expected, atol=tolerance, rtol=0)
    real, fake = maps
    assert np.abs(real - fake).max() > 0.1 * max(real.max(), fake.max())  # different faces, different maps


def test_gradcam_from_saved_model_needs_its_card(models, tmp_path):
    paths, _ = models
    saved = tmp_path / "export" / "savedmodel"
    shutil.copytree(paths["savedmodel"], saved)
    with pytest.raises(ValueError, match="no model_card.json beside or in"):
        load_explainer(saved)
    (saved.parent / "model_card.json").write_text(json.dumps({"model": {"backbone": "tiny", "image_size": SIZE}}))
    x = np.random.default_rng(5).integers(0, 256, (3, SIZE, SIZE, 3), dtype=np.uint8)
    from_run, from_saved = load_explainer(paths["run"]).maps(x), load_explainer(saved).maps(x)
    np.testing.assert_array_equal(from_saved[0], from_run[0])  # the same weights assigned into the same graph
    for model, refusal in (
        ({"backbone": "tiny", "image_size": 64}, "its card says 64px"),
        ({"backbone": "vgg19", "image_size": SIZE}, "are not those of a vgg19 detector"),
    ):
        (saved.parent / "model_card.json").write_text(json.dumps({"model": model}))
        with pytest.raises(ValueError, match=refusal):
            load_explainer(saved)


# --------------------------------------------------------------------------- the terminal (real processes)


def _run(*args, level="0", onednn="1"):
    """``ltw-tf ARGS`` in a fresh process, TF_CPP_MIN_LOG_LEVEL=level (0: a user who set TensorFlow's default;
    None: unset) and TF_ENABLE_ONEDNN_OPTS=onednn. Nothing is filtered: what the test reads is what a user sees."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": level, "TF_ENABLE_ONEDNN_OPTS": onednn}
    if level is None:
        env.pop("TF_CPP_MIN_LOG_LEVEL")
    command = [sys.executable, "-c", "from cli.main import main; main()", *map(str, args)]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, cwd=REPO)


def test_terminal_shows_only_ltw_tf_lines(models, media, tmp_path, onednn):
    paths, _ = models
    missing = _run("screen", tmp_path / "x.mp4", "--model", tmp_path / "nothing.tflite", onednn=onednn)
    assert missing.returncode == 1 and missing.stderr.splitlines() == [
        f"Error: model {tmp_path / 'nothing.tflite'}: no such file or directory (give a .tflite file, a SavedModel "
        "folder or a run directory)"
    ]
    helped = _run("screen", "--help", onednn=onednn)
    assert helped.returncode == 0 and helped.stderr == "" and "--report DIR" in helped.stdout
    for level in ("0", None):  # TensorFlow's own default, and a user who set it
        info = _run("info", level=level, onednn=onednn)  # imports TensorFlow and Keras
        assert info.returncode == 0 and info.stderr == "" and info.stdout.startswith("ltw-tf "), info.stderr
    screened = _run("screen", media["image"], "--model", paths["tflite"], onednn=onednn)  # TF (MTCNN), LiteRT
    assert screened.returncode == 0 and screened.stdout.split()[0] in ("fake", "real"), screened.stderr
    lines = screened.stderr.splitlines()  # what the model rests on and the totals: no TensorFlow or LiteRT line
    assert len(lines) == 3, screened.stderr
    unknown = "training data not recorded (a run from before ltw-tf recorded it, or a model from elsewhere)"
    assert lines[0] == f"model trained on: {unknown}; training data unknown", screened.stderr
    assert lines[1].startswith("out-of-distribution check: off, this model has no features"), screened.stderr
    assert lines[2].startswith("1 screened: "), screened.stderr


def test_verbose_shows_tensorflow_start_up_lines_as_log_records():
    shown = _run("-v", "info", onednn="1")  # oneDNN on: TensorFlow prints its pre-absl lines at import
    assert shown.returncode == 0, shown.stderr
    native = [line for line in shown.stderr.splitlines() if line.startswith("INFO ltw_tf.native: TensorFlow: ")]
    assert any("oneDNN custom operations are on" in line for line in native), shown.stderr
    raw = [line for line in shown.stderr.splitlines() if line.startswith(("I0000 ", "WARNING: All log messages"))]
    assert raw == [], shown.stderr  # every one of them went through the logger


def test_first_import_capture_routes_start_up_lines_and_keeps_the_rest(tmp_path, capfd, caplog, monkeypatch):
    """A stand-in package whose import writes what TensorFlow's does, a real error line, and Python output."""
    import logging

    from ltw_tf.native_logs import TF_STARTUP, capture_first_import

    package = tmp_path / "fake_native_pkg"
    package.mkdir()
    (package / "__init__.py").write_text(
        "import os, sys\n"
        "os.write(2, b'WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\\n')\n"
        "os.write(2, b'I0000 00:00:1796426862.178868    9122 port.cc:153] oneDNN custom operations are on.\\n')\n"
        "os.write(2, b'E0000 00:00:1796426862.2    9122 op.cc:1] something real\\n')\n"
        "print('a Python warning', file=sys.stderr)\n"
        "if os.environ.get('FAKE_NATIVE_FAIL'):\n"
        "    raise ImportError('the library is broken')\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    log = logging.getLogger("ltw_tf.test_native")
    capfd.readouterr()
    monkeypatch.setenv("FAKE_NATIVE_FAIL", "1")
    capture_first_import("fake_native_pkg", log, TF_STARTUP, "Fake")
    with caplog.at_level(logging.INFO, logger=log.name), pytest.raises(ImportError, match="broken"):
        import fake_native_pkg  # noqa: F401
    kept = ["E0000 00:00:1796426862.2    9122 op.cc:1] something real", "a Python warning"]
    assert sorted(capfd.readouterr().err.splitlines()) == kept  # (capfd's sys.stderr is not fd 2: order differs)
    assert [r.getMessage()[:40] for r in caplog.records] == [
        "Fake: WARNING: All log messages before a",
        "Fake: I0000 00:00:1796426862.178868    9",
    ]
    caplog.clear()
    monkeypatch.delenv("FAKE_NATIVE_FAIL")
    capture_first_import("fake_native_pkg", log, TF_STARTUP, "Fake")  # one-shot: the failed import used it up
    with caplog.at_level(logging.INFO, logger=log.name):
        import fake_native_pkg  # noqa: F401, F811
    assert sorted(capfd.readouterr().err.splitlines()) == kept
    module = sys.modules.pop("fake_native_pkg")
    assert type(module.__loader__).__name__ == "SourceFileLoader" and module.__spec__.loader is module.__loader__
    assert not any(type(f).__name__ == "_FirstImport" for f in sys.meta_path)


def test_native_stderr_keeps_errors_and_logs_litert_info(capfd, caplog):
    import logging

    from ltw_tf.native_logs import native_stderr

    log = logging.getLogger("ltw_tf.test")
    capfd.readouterr()
    with caplog.at_level(logging.INFO, logger="ltw_tf.test"), native_stderr(log):
        os.write(2, b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n")
        os.write(2, b"E0000 00:00:1.0 1 op.cc:1] something real\nERROR: a LiteRT error\n")
    captured = capfd.readouterr()
    assert captured.err == "E0000 00:00:1.0 1 op.cc:1] something real\nERROR: a LiteRT error\n"
    assert [r.getMessage() for r in caplog.records] == [
        "LiteRT: INFO: Created TensorFlow Lite XNNPACK delegate for CPU."
    ]
