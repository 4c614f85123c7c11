"""``ltw-tf evaluate`` and ``ltw-tf weights`` on tiny trained runs, checked against independent computations."""

import json

import cv2
import numpy as np
import pytest
import tensorflow as tf
from click.testing import CliRunner

from cli.main import main
from ltw_tf.data.manifest import Face, read_manifest, select
from ltw_tf.evaluate import extreme_faces, weight_stats
from ltw_tf.metrics import compute_metrics, compute_video_metrics
from ltw_tf.models import build_detector
from ltw_tf.models.weight_net import build_weight_net
from ltw_tf.reporting import grid_size
from ltw_tf.runs import load_detector
from toy import trained_run

SIZE = 16


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """An LTW and an Alltrain run on one ff_manifest root (test targets 5 and 7, val 4 and 6, train 0-3)."""
    base = tmp_path_factory.mktemp("runs")
    ltw, root = trained_run(base, method="ltw", image_size=SIZE, epochs=1)
    alltrain, _ = trained_run(base, method="alltrain", image_size=SIZE, epochs=2)
    return {"ltw": ltw, "alltrain": alltrain, "root": root}


def _invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def _images(root, faces):
    """The crops decoded here (OpenCV) and resized as the model expects: float32 whole 0-255 RGB values."""
    crops = np.stack([cv2.imread(str(root / f.path))[..., ::-1] for f in faces]).astype(np.float32)
    return tf.round(tf.image.resize(crops, [SIZE, SIZE], antialias=True))


def _faces(root, domains, split):
    return select(read_manifest(root), domains=domains, qualities=["c23"], splits=[split])


def _one_line_error(result, text):
    assert result.exit_code == 1, result.output
    assert result.output.strip().count("\n") == 0 and text in result.output, result.output


def _expected(run, root, fake_domain):
    """Frame and video metrics from predictions computed here: load_detector + the test crops of the target."""
    detector, _ = load_detector(run)
    faces = _faces(root, ["real", fake_domain], "test")
    _, logits = detector(_images(root, faces), training=False)
    probs = tf.sigmoid(tf.reshape(logits, [-1])).numpy().astype(np.float64)
    labels = np.array([f.label for f in faces])
    videos = [f.video_id for f in faces]
    return compute_metrics(labels, probs).as_dict(), compute_video_metrics(labels, probs, videos).as_dict()


def test_evaluate_json_file_table_and_roc(runs):
    run, root = runs["alltrain"], runs["root"]
    result = _invoke("evaluate", run, "--json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    saved = json.loads((run / "eval" / "gid-fs23.json").read_text())
    assert saved == {k: v for k, v in payload.items() if k != "results"}
    assert saved["benchmark"] == "gid-fs23" and saved["method"] == "alltrain" and "/best/" in saved["checkpoint"]
    frame, video = _expected(run, root, "FaceSwap")
    got = saved["targets"]["FaceSwap"]
    assert (got["frame"]["n"], got["frame"]["n_real"], got["frame"]["n_fake"]) == (8, 4, 4)  # 2 targets x 2 frames
    assert (got["video"]["n"], got["video"]["n_real"], got["video"]["n_fake"]) == (4, 2, 2)
    # metrics of float32 probabilities recomputed here: AUC / accuracy are rank counts (exact), log loss a mean of
    # float32 terms (~ulps); 1e-6 ~ 8 ulps of O(1)
    assert got["frame"] == pytest.approx(frame, abs=1e-6)
    assert got["video"] == pytest.approx(video, abs=1e-6)
    png = cv2.imread(str(run / "eval" / got["roc_png"]))
    assert got["roc_png"] == "gid-fs23-FaceSwap-roc.png" and png.shape == (500, 500, 3) and png.std() > 10

    text = _invoke("evaluate", run, "--checkpoint", "latest", "--no-roc")  # RUN/eval/ is regenerated
    assert text.exit_code == 0, text.output
    assert "FaceSwap  frame      4     4" in text.output and "FaceSwap  video      2     2" in text.output
    assert f"results: {run / 'eval' / 'gid-fs23.json'}" in text.output
    assert "/checkpoints/" in json.loads((run / "eval" / "gid-fs23.json").read_text())["checkpoint"]


def test_evaluate_other_benchmark_and_out_dir(runs, tmp_path):
    run, root = runs["ltw"], runs["root"]
    out = tmp_path / "report"
    result = _invoke("evaluate", run / "best", "--benchmark", "GID-DF23", "--out", out, "--json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert payload["benchmark"] == "gid-df23" and list(payload["targets"]) == ["Deepfakes"]
    frame, video = _expected(run, root, "Deepfakes")
    # as above: rank metrics exact, log loss within a few float32 ulps of O(1) values
    assert payload["targets"]["Deepfakes"]["frame"] == pytest.approx(frame, abs=1e-6)
    assert payload["targets"]["Deepfakes"]["video"] == pytest.approx(video, abs=1e-6)
    assert sorted(p.name for p in out.iterdir()) == ["gid-df23-Deepfakes-roc.png", "gid-df23.json"]
    assert not (run / "eval" / "gid-df23.json").exists()

    again = _invoke("evaluate", run, "--benchmark", "gid-df23", "--out", out)
    _one_line_error(again, "gid-df23.json exists; pass --overwrite")
    assert _invoke("evaluate", run, "--benchmark", "gid-df23", "--out", out, "--overwrite").exit_code == 0


def test_evaluate_bad_inputs_write_nothing(runs, tmp_path):
    run, root = runs["alltrain"], runs["root"]
    out = tmp_path / "never"
    _one_line_error(_invoke("evaluate", root, "--out", out), "is not a run directory")
    _one_line_error(
        _invoke("evaluate", run, "--benchmark", "gid-fs40", "--out", out),
        "target FaceSwap (synthff c40 test): reals is empty",
    )
    _one_line_error(_invoke("evaluate", run, "--benchmark", "gcd"), "target Celeb-DF (celebdf no quality test)")
    _one_line_error(_invoke("evaluate", run, "--benchmark", "gid-xx23"), "unknown benchmark 'gid-xx23'")
    assert not out.exists() and not (run / "eval" / "gcd.json").exists()
    assert _invoke("evaluate", run, "--checkpoint", "worst").exit_code == 2


def _independent_weights(run, root):
    """p(stop_gradient(F)) of every source train face, from models built and restored here."""
    detector = build_detector("tiny", SIZE, weights=None)
    weight_net = build_weight_net(tuple(detector.outputs[0].shape[1:]))
    tf.train.Checkpoint(detector=detector, weight_net=weight_net).restore(
        tf.train.latest_checkpoint(str(run / "checkpoints"))
    ).expect_partial()
    faces = _faces(root, ["real", "Deepfakes", "Face2Face", "NeuralTextures"], "train")
    features, _ = detector(_images(root, faces), training=False)
    weights = weight_net(features, training=False).numpy().reshape(-1)
    return {f.path: float(w) for f, w in zip(faces, weights)}, faces


def test_weights_grid_stats_and_values(runs, tmp_path):
    run, root = runs["ltw"], runs["root"]
    out = tmp_path / "fig4.png"
    result = _invoke("weights", run, "--n", 3, "--out", out, "--mode", "inference", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["mode"] == "inference" and cv2.imread(str(out)).shape == (*grid_size(3, titled=True), 3)
    expected, faces = _independent_weights(run, root)
    assert summary["n_faces"] == len(faces) == 32 and summary["checkpoint"].endswith("checkpoints/ckpt-1")
    values = np.array(list(expected.values()))
    assert np.ptp(values) > 1e-6  # the weights differ, so a wrong face would show below
    stats = summary["stats"]
    # weights in (0, 1) from the same float32 model: means of the same float32 values, summed in another order (~1 ulp =
    # 6e-8)
    assert stats["all"]["mean"] == pytest.approx(values.mean(), abs=1e-7)
    assert stats["all"]["max"] == pytest.approx(values.max(), abs=1e-7)
    assert {d: s["n"] for d, s in stats["by_domain"].items()} == {
        "Deepfakes": 8,
        "Face2Face": 8,
        "NeuralTextures": 8,
        "real": 8,
    }
    assert (stats["by_label"]["real"]["n"], stats["by_label"]["fake"]["n"]) == (8, 24)
    for side, label in (("fake", 1), ("real", 0)):
        chosen = summary["faces"][side]
        assert len(chosen["highest"]) == len(chosen["lowest"]) == 3
        assert min(e["weight"] for e in chosen["highest"]) >= max(e["weight"] for e in chosen["lowest"])
        for entry in chosen["highest"] + chosen["lowest"]:
            # the same float32 weight computed in another batch: batch composition changes the kernels' blocking, <= ~1
            # ulp (6e-8) in (0, 1)
            assert entry["weight"] == pytest.approx(expected[entry["path"]], abs=1e-7)
        side_weights = sorted(w for f in faces if f.label == label for w in [expected[f.path]])
        assert [e["weight"] for e in chosen["highest"]] == pytest.approx(side_weights[::-1][:3], abs=1e-7)
        assert [e["weight"] for e in chosen["lowest"]] == pytest.approx(side_weights[:3], abs=1e-7)

    _one_line_error(_invoke("weights", run, "--out", out), "fig4.png exists; pass --overwrite")
    text = _invoke("weights", run, "--n", 1, "--out", out, "--overwrite")
    assert text.exit_code == 0 and "NeuralTextures" in text.output and f"grid: {out}" in text.output
    assert "p(w) as applied in training" in text.output
    assert cv2.imread(str(out)).shape == (*grid_size(1, titled=True), 3)


def test_weights_refuses_a_run_without_weight_net(runs, tmp_path):
    out = tmp_path / "w.png"
    _one_line_error(_invoke("weights", runs["alltrain"], "--out", out), "method 'alltrain', which has no weight-aware")
    _one_line_error(_invoke("weights", tmp_path, "--out", out), "is not a run directory")
    assert not out.exists() and not (runs["alltrain"] / "weights-train.png").exists()


def _face(path, label, domain, weight_rank):
    return Face(
        path=path,
        label=label,
        dataset="synthff",
        domain=domain,
        quality="c23",
        split="train",
        video_id=path,
        target_id="000",
        source_id="",
        frame=weight_rank,
    )


def test_extreme_faces_and_weight_stats():
    faces = [_face(f"f{i}", 1, "Deepfakes" if i % 2 else "FaceSwap", i) for i in range(5)]
    faces += [_face(f"r{i}", 0, "real", i) for i in range(3)]
    weights = np.array([0.5, 0.9, 0.1, 0.7, 0.3, 0.2, 0.6, 0.4])
    chosen = extreme_faces(faces, weights, n=2)
    assert [e["path"] for e in chosen["fake"]["highest"]] == ["f1", "f3"]
    assert [e["path"] for e in chosen["fake"]["lowest"]] == ["f2", "f4"]
    assert [e["path"] for e in chosen["real"]["highest"]] == ["r1", "r2"]  # 3 faces: split 2 + 1, never shared
    assert [e["path"] for e in chosen["real"]["lowest"]] == ["r0"]
    stats = weight_stats(faces, weights)
    # float64 statistics of given decimals: default rel 1e-6 is ~4e9 float64 ulps, exact up to decimal representation
    assert stats["by_label"]["fake"] == pytest.approx(
        {"n": 5, "mean": 0.5, "std": np.sqrt(0.08), "min": 0.1, "max": 0.9}
    )
    assert stats["by_domain"]["Deepfakes"] == pytest.approx({"n": 2, "mean": 0.8, "std": 0.1, "min": 0.7, "max": 0.9})
    assert stats["all"]["n"] == 8
    with pytest.raises(ValueError, match="n must be >= 1"):
        extreme_faces(faces, weights, n=0)
