"""Loading a trained run's detector (best or latest checkpoint, or an explicit prefix) without the weight net."""

import os

import numpy as np
import pytest

from ltw_tf.models.serving import serving_model
from ltw_tf.runs import RunNotFoundError, latest_run, load_detector, resolve_run
from toy import trained_run


def test_load_detector_restores_trained_weights(tmp_path):
    run, _ = trained_run(tmp_path, method="ltw", epochs=2)
    ref = resolve_run(run)
    assert ref.kind in ("best", "latest") and ref.config.model.backbone == "tiny"
    detector, ref = load_detector(run, which="latest")
    assert ref.checkpoint.endswith("checkpoints/ckpt-2")
    fresh, _ = load_detector(run / "checkpoints" / "ckpt-1")
    trained = [v.numpy() for v in detector.weights]
    older = [v.numpy() for v in fresh.weights]
    assert any(not np.array_equal(a, b) for a, b in zip(trained, older))  # epoch 2 differs from epoch 1
    assert not any("weight" in v.path for v in detector.weights)  # only f(theta)
    x = np.random.default_rng(0).integers(0, 255, (4, 16, 16, 3), dtype=np.uint8)
    p = serving_model(detector)(x).numpy()
    assert p.shape == (4,) and np.all((p >= 0) & (p <= 1))
    assert latest_run(tmp_path) == run


def test_resolve_errors(tmp_path):
    with pytest.raises(RunNotFoundError, match="not a run directory"):
        resolve_run(tmp_path)
    with pytest.raises(RunNotFoundError, match="no trained run under"):
        latest_run(tmp_path / "nothing")
    os.makedirs(tmp_path / "r" / "checkpoints")
    (tmp_path / "r" / "config.json").write_text("{}")
    with pytest.raises(RunNotFoundError, match="no checkpoint yet"):
        resolve_run(tmp_path / "r")


def test_evaluate_run_frame_and_video_metrics(tmp_path):
    from ltw_tf.evaluate import evaluate_run

    run, root = trained_run(tmp_path, method="alltrain", epochs=1)
    report = evaluate_run(run)
    assert report["benchmark"] == "gid-fs23" and set(report["targets"]) == {"FaceSwap"}
    target = report["targets"]["FaceSwap"]
    # ff_manifest: test targets are t=5,7 -> 2 real + 2 FaceSwap videos, 2 frames each
    assert target["frame"]["n"] == 8 and target["video"]["n"] == 4
    assert target["frame"]["n_fake"] == 4 and target["video"]["n_fake"] == 2
    other = evaluate_run(run, benchmark="gid-df23", data_root=root)
    assert set(other["targets"]) == {"Deepfakes"}
