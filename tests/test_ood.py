"""The out-of-distribution score (ltw_tf.ood): its arithmetic against a float64 reference, its files, the features
every model form gives, and, end to end, a synthff-trained model meeting a real face photograph, and two people
in one frame."""

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner
from margins import assert_close, assert_within, ulps
from test_real_media import astronaut_frames, write_media

from cli.main import main
from export.verify import MAX_ABS_DIFF
from ltw_tf import ood

REPO = Path(__file__).resolve().parents[1]

# --------------------------------------------------------------------------- the arithmetic


def _gaussian_features(rng, n, widths, shift=0.0):
    """Two classes of correlated Gaussian features per stage (the fake class offset), ``shift`` added to all."""
    labels = rng.integers(0, 2, n)
    blocks = []
    for w in widths:
        mixing = np.linalg.qr(rng.normal(size=(w, w)))[0] * rng.uniform(0.3, 3.0, w)
        blocks.append(rng.normal(size=(n, w)) @ mixing + labels[:, None] * 2.0 + shift)
    return np.concatenate(blocks, axis=1), labels


def test_score_is_the_stagewise_mahalanobis_of_the_definition():
    from sklearn.covariance import ledoit_wolf

    rng, widths = np.random.default_rng(0), (3, 5, 8)
    train, labels = _gaussian_features(rng, 600, widths)
    val, _ = _gaussian_features(rng, 400, widths)
    probe, _ = _gaussian_features(rng, 50, widths, shift=0.5)
    stats = ood.fit(train, labels, val, widths)
    reference = []  # float64, straight from the module docstring: solve with the covariance, no whitening matrix
    start = 0
    for w in widths:
        x, t = probe[:, start : start + w], train[:, start : start + w]
        means = [t[labels == c].mean(0) for c in (0, 1)]
        cov = ledoit_wolf(np.concatenate([t[labels == c] - means[c] for c in (0, 1)]), assume_centered=True)[0]
        d = [np.sqrt(np.einsum("ij,ij->i", x - m, np.linalg.solve(cov, (x - m).T).T)) for m in means]
        reference.append(np.min(d, axis=0))
        start += w
    reference = np.stack(reference, axis=1)
    # Cholesky + triangular inverse vs solve: both backward-stable; the condition number of each stage's
    # covariance (<= 100 here, the mixing's 0.3-3 scales squared) times 64 float64 ulps bounds their difference
    got = stats.distances(probe)
    conditioning = max(np.linalg.cond(np.cov(block.T)) for block in np.split(train, np.cumsum(widths)[:-1], axis=1))
    assert_close("stage distances", got, reference, atol=0.0, rtol=64 * conditioning * np.finfo(np.float64).eps)
    scaled = np.mean(reference / stats.scales, axis=1) / stats.threshold
    assert_close("score", stats.score(probe), scaled, rtol=64 * conditioning * np.finfo(np.float64).eps)
    # the percentile is a val value ("higher"): at most 1 % of the val faces are above it, and the train faces
    # (whose statistics these are) no more often than val; a shifted population is mostly beyond
    assert np.mean(stats.score(val) > 1.0) <= 0.01
    assert np.mean(stats.score(train) > 1.0) <= 0.02
    far, _ = _gaussian_features(rng, 200, widths, shift=10.0)  # 8 beyond the fake class, along its offset
    assert np.mean(stats.score(far) > 1.0) > 0.9


def test_statistics_file_round_trips_and_refuses_what_it_is_not(tmp_path):
    rng, widths = np.random.default_rng(1), (4, 6)
    train, labels = _gaussian_features(rng, 300, widths)
    val, _ = _gaussian_features(rng, 200, widths)
    stats = ood.fit(train, labels, val, widths, {"fitted_on": "gaussians"})
    path = stats.save(tmp_path / ood.STATS_NAME)
    back = ood.FeatureStats.load(path)
    assert back.widths == widths and back.info["fitted_on"] == "gaussians" and back.threshold == stats.threshold
    # means and whitening are stored as float32: the scores then differ by float32 rounding of the inputs, scaled
    # by the distances themselves (a relative error of a few float32 epsilons per product term)
    allowed = 8 * np.finfo(np.float32).eps * np.sqrt(sum(widths)) * stats.score(val)
    assert_within("round trip", np.abs(back.score(val) - stats.score(val)), allowed)
    np.savez(tmp_path / "objects.npz", info=np.array([{"a": 1}], dtype=object))  # needs pickle to read
    for bad, text in ((tmp_path / "objects.npz", "not a readable"), (tmp_path / "none.npz", "not a readable")):
        with pytest.raises(ValueError, match=text):
            ood.FeatureStats.load(bad)
    with pytest.raises(ValueError, match=r"expected \[N, 10\]"):
        stats.score(np.zeros((2, 9)))


def test_features_are_the_stage_taps_and_end_with_the_detectors_pooled_features():
    from ltw_tf.models.detector import build_detector
    from ltw_tf.models.serving import serving_model

    detector = build_detector("tiny", 32, weights=None)
    model = serving_model(detector, features=True)
    images = np.random.default_rng(2).integers(0, 256, (4, 32, 32, 3)).astype(np.uint8)
    out = model(images, training=False)
    plain = serving_model(detector)(images, training=False)
    assert out["probability"].numpy().tolist() == plain.numpy().tolist()  # the same graph, one more output
    widths = ood.stage_widths(detector)
    assert widths == (16, 32, 32) and out["features"].shape == (4, sum(widths))
    pooled = detector(images.astype(np.float32), training=False)[0].numpy().mean(axis=(1, 2))
    last = out["features"].numpy()[:, -widths[-1] :]
    # a mean over 4x4 positions computed by two kernels: a few float32 ulps of the values
    assert_within("pooled features", np.abs(last - pooled), 16 * ulps(last, pooled) + 1e-30)


# --------------------------------------------------------------------------- end to end


SIZE = 32


@pytest.fixture(scope="module")
def synthff_model(tmp_path_factory):
    """A tiny detector trained on the small synthff preset (every frame, 187 training faces, 40 steps), exported:
    the model card, the OOD statistics and the fp32 .tflite beside them, and the synthff tree."""
    root = tmp_path_factory.mktemp("ood")
    steps = [
        ["synth", root / "synth", "--preset", "small", "--qualities", "c23", "--quiet"],
        ["prepare", root / "synth", "--dataset", "synthff", "--out", root / "faces", "--qualities", "c23"]
        + ["--frames", "12", "--size", "64", "--workers", "1"],
        ["train", "gid-fs23", "--data-root", root / "faces", "--method", "alltrain", "--backbone", "tiny"]
        + ["--weights", "none", "--image-size", str(SIZE), "--epochs", "1", "--steps-per-epoch", "40"]
        + ["--batch-size", "8", "--out", root / "run"],
        ["export", root / "run", "--out", root / "export", "--tflite", "--quantize", "fp32"],
    ]
    for args in steps:
        result = CliRunner().invoke(main, ["--quiet", *map(str, args)])
        assert result.exit_code == 0, result.output
    return root


def _screen(*args):
    result = CliRunner().invoke(main, ["screen", *map(str, args), "--json", "-"])
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines()], result.stderr


def test_a_synthff_model_calls_a_real_photograph_uncertain(synthff_model, tmp_path):
    from skimage import data

    photo = data.astronaut()
    cv2.imwrite(str(tmp_path / "astronaut.jpg"), cv2.cvtColor(photo, cv2.COLOR_RGB2BGR))
    frames = astronaut_frames(8)
    write_media(tmp_path / "astronaut.mp4", frames)
    write_media(tmp_path / "astronaut.webm", frames, codec="libvpx-vp9")
    write_media(tmp_path / "portrait.mov", frames, rotation=90)
    reals = synthff_model / "synth" / "original_sequences" / "youtube" / "c23" / "videos"
    trained = _train_videos(synthff_model)
    model = synthff_model / "export" / "detector_fp32.tflite"
    records, stderr = _screen(tmp_path, *(reals / f"{v}.mp4" for v in trained), "--model", model)
    assert "out-of-distribution check: 3-stage Mahalanobis on the model's features" in stderr
    by_name = {r["path"].rsplit("/", 1)[1]: r for r in records}
    for name in ("astronaut.jpg", "astronaut.mp4", "astronaut.webm", "portrait.mov"):
        record = by_name[name]
        assert record["verdict"] == "uncertain" and record["out_of_distribution"] >= 0.5, (name, record)
        assert record["ood_check"] == "on" and all(f["ood_score"] is not None for f in record["frames"])
        assert record["caveat"] == "synthetic-trained model: says nothing about real faces"
    for video in trained:  # the model's own training videos: scored, not flagged
        record = by_name[f"{video}.mp4"]
        assert record["verdict"] in ("fake", "real") and record["out_of_distribution"] < 0.5, record


def _train_videos(root) -> list[str]:
    """The real videos the model was trained on (their ids, from the manifest)."""
    from ltw_tf.data.manifest import read_manifest

    return sorted({f.video_id for f in read_manifest(root / "faces") if f.split == "train" and f.label == 0})


def test_every_model_form_gives_the_same_features_and_scores(synthff_model):
    from ltw_tf.screening import load_runner

    crops = np.stack([cv2.resize(f, (SIZE, SIZE), interpolation=cv2.INTER_AREA) for f in astronaut_frames(4)])
    run = load_runner(synthff_model / "run")
    exported = load_runner(synthff_model / "export" / "detector_fp32.tflite")
    assert run.has_features and exported.has_features
    p_run, f_run = run.predict_with_features(crops)
    p_tfl, f_tfl = exported.predict_with_features(crops)
    # two runtimes over the same float32 graph (XNNPACK vs TensorFlow kernels): agreement to float32 rounding of
    # sums over up to 3x3x32 terms, relative to the feature magnitudes
    assert_within("features", np.abs(f_tfl - f_run), 1e-4 * (1.0 + np.abs(f_run)))
    assert_within("probability", np.abs(p_tfl - p_run), MAX_ABS_DIFF["fp32"])  # the export's own parity bound
    stats_run = ood.model_stats(run, say=lambda _: None)  # fitted now, from the run's data root, and cached
    assert (synthff_model / "run" / "ood").is_dir() and stats_run.stats is not None
    stats_exp = ood.model_stats(exported)
    assert stats_exp.stats.info["train_faces"] == stats_run.stats.info["train_faces"]
    a, b = stats_run.stats.score(f_run), stats_exp.stats.score(f_tfl)
    assert_within("scores", np.abs(a - b), 1e-3 * (1.0 + np.abs(a)))


def test_screen_prints_one_ood_line_and_nothing_from_tensorflow(synthff_model, tmp_path):
    cv2.imwrite(str(tmp_path / "astronaut.png"), cv2.cvtColor(astronaut_frames(1)[0], cv2.COLOR_RGB2BGR))
    model = synthff_model / "export" / "detector_fp32.tflite"
    command = [sys.executable, "-m", "cli.main", "screen", str(tmp_path / "astronaut.png"), "--model", str(model)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=REPO)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("uncertain ") and "unlike training faces: the model cannot judge them" in done.stdout
    lines = done.stderr.splitlines()
    assert [line.split(":")[0] for line in lines] == ["model trained on", "out-of-distribution check", "1 screened"]
    assert "1 uncertain" in lines[2]


def test_a_real_and_a_fake_face_side_by_side_are_two_people_and_the_fake_is_the_verdict(synthff_model, tmp_path):
    from ltw_tf.data.decode import VideoFrames

    videos = synthff_model / "synth"
    trained = _train_videos(synthff_model)[0]  # an identity the model trained on, real and Deepfakes
    fake_path = next((videos / "manipulated_sequences" / "Deepfakes" / "c23" / "videos").glob(f"{trained}_*.mp4"))
    real = [
        f
        for _, f in VideoFrames(videos / "original_sequences" / "youtube" / "c23" / "videos" / f"{trained}.mp4").frames(
            None
        )
    ]
    fake = [f for _, f in VideoFrames(fake_path).frames(None)]
    frames = [np.concatenate([r, f], axis=1) for r, f in zip(real, fake)]  # the real person left, the fake right
    write_media(tmp_path / "two.mp4", frames)
    model = synthff_model / "export" / "detector_fp32.tflite"
    (record,), _ = _screen(tmp_path / "two.mp4", "--model", model, "--frames", "6")
    assert record["people"] == 2, record["tracks"]
    left, right = sorted(record["tracks"], key=lambda t: t["boxes"][0][0])
    width = real[0].shape[1]
    assert all(x + side / 2 < width for x, _, side in left["boxes"])  # each track stays with its person
    assert all(x + side / 2 > width for x, _, side in right["boxes"])
    assert left["frames"] == right["frames"] == [f["frame"] for f in record["frames"] if f["track"] == left["track"]]
    assert len(left["frames"]) == 6
    assert right["score"] > left["score"]  # the fake scored higher ...
    assert record["track"] == right["track"] and record["score"] == right["score"]  # ... and is the item's verdict
    assert record["verdict"] == right["verdict"]
    own = {f["track"]: [] for f in record["frames"]}
    for face in record["frames"]:
        own[face["track"]].append(face["probability"])
    for track in record["tracks"]:  # a person's score is the mean over their own faces only
        assert track["score"] == pytest.approx(np.mean(own[track["track"]]), abs=1e-6)
