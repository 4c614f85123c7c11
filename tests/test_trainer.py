"""Trainer: exact resume after SIGKILL, NaN stop keeping the last good checkpoint, checkpoint contents."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from ltw_tf.config import ModelConfig, RunConfig, TrainConfig
from ltw_tf.data.arrays import ArrayEpochs
from ltw_tf.data.source import FixedEpochs
from ltw_tf.methods import run_epochs
from ltw_tf.models import build_detector
from ltw_tf.trainer import Trainer, TrainingError, build_from_config
from toy import DOMAINS, SIZE, eval_batches, toy_set

HERE = Path(__file__).parent


def _train(run_dir, method, epochs, *extra):
    return subprocess.run(
        [sys.executable, str(HERE / "train_toy.py"), str(run_dir), method, str(epochs), *extra],
        capture_output=True,
        text=True,
        timeout=300,
    )


def _restore_all(run_dir, method):
    """All checkpointed variables of a run (by checkpoint key) and its history."""
    reader = tf.train.load_checkpoint(str(Path(run_dir) / "checkpoints"))
    values = {k: np.asarray(reader.get_tensor(k)) for k in reader.get_variable_to_shape_map() if "history" not in k}
    history = json.loads((Path(run_dir) / "history.json").read_text())
    return values, history


# ltw-no-meta-test: 2 epochs of LTW, then 2 of retraining; killed after epoch 2, it resumes across the phase boundary
@pytest.mark.parametrize(("method", "epochs"), [("ltw", 4), ("ltw-no-meta-test", 2)])
def test_kill_and_resume_matches_straight_run(tmp_path, method, epochs):
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    done = _train(straight, method, epochs)
    assert done.returncode == 0, done.stderr[-2000:]
    killed = _train(resumed, method, epochs, "--kill-after", "2")
    assert killed.returncode == -signal.SIGKILL
    assert tf.train.latest_checkpoint(str(resumed / "checkpoints")).endswith("-2")
    again = _train(resumed, method, epochs, "--resume")
    assert again.returncode == 0, again.stderr[-2000:]
    a, history_a = _restore_all(straight, method)
    b, history_b = _restore_all(resumed, method)
    assert a.keys() == b.keys()
    assert len(a) > 20  # models, optimizers, counters
    for key in a:
        if a[key].dtype.kind in "fc":
            np.testing.assert_allclose(a[key], b[key], rtol=1e-6, atol=1e-6, err_msg=key)
        else:
            np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    assert [h["data"] for h in history_a] == [h["data"] for h in history_b]
    assert [h["val"]["auc"] for h in history_a] == pytest.approx([h["val"]["auc"] for h in history_b], abs=1e-6)
    splits = [tuple(h["data"]["train_domains"]) for h in history_a if h["data"]["meta_domains"]]
    assert splits, "the meta-split history must be recorded"
    assert len(history_a) == 4 and (straight / "config.json").exists() and (straight / "best").is_dir()
    assert _best_epoch(straight) == _best_epoch(resumed)


def _best_epoch(run_dir) -> int:
    return int(tf.train.load_checkpoint(str(Path(run_dir) / "best")).get_tensor("epoch/.ATTRIBUTES/VARIABLE_VALUE"))


def test_no_meta_test_retraining_is_a_complete_run_with_its_own_schedule_and_best(tmp_path):
    # Paper Table 5 "w/o meta-test": full LTW, then the detector trained anew with the learned weights. The
    # retraining must get its own full StepLR schedule and its own best checkpoint (not LTW's), also at --epochs 1.
    images, table = toy_set(range(6))
    val_images, val_table = toy_set(range(50, 52), seed=2)
    config = RunConfig(
        model=ModelConfig(backbone="tiny", weights=None, image_size=SIZE),
        train=TrainConfig(
            method="ltw-no-meta-test", epochs=2, batch_size=8, lr=1e-2, lr_step=1, seed=0, steps_per_epoch=2
        ),
    )
    method = build_from_config(config)
    data = ArrayEpochs(images, table, DOMAINS, seed=0, batch_size=8)
    history = Trainer(
        method, data, tmp_path, config, val_data=eval_batches(val_images, val_table), progress=False
    ).fit()
    assert len(history) == 4  # 2 epochs of LTW, then 2 of retraining
    assert [(h["phase"], h["phase_epoch"]) for h in history] == [("ltw", 1), ("ltw", 2), ("retrain", 1), ("retrain", 2)]
    assert [h["lr"] for h in history] == pytest.approx([1e-2, 1e-3, 1e-2, 1e-3])  # phase 2 reaches the decay
    assert [bool(h["data"]["meta_domains"]) for h in history] == [True, True, False, False]
    best = _best_epoch(tmp_path)
    assert best in (3, 4) and history[best - 1]["best"]  # the retrained detector, never the LTW one
    detectors = [build_detector("tiny", SIZE, None) for _ in range(2)]
    for detector, path in zip(detectors, [tmp_path / "best", tmp_path / "checkpoints" / f"ckpt-{best}"]):
        tf.train.Checkpoint(detector=detector).restore(tf.train.latest_checkpoint(path) or str(path)).expect_partial()
    for a, b in zip(*(d.variables for d in detectors)):
        np.testing.assert_array_equal(a.numpy(), b.numpy())

    one = RunConfig(model=config.model, train=TrainConfig(**{**vars(config.train), "epochs": 1}))
    history = Trainer(build_from_config(one), data, tmp_path / "one", one, progress=False).fit()
    assert [h["phase"] for h in history] == ["ltw", "retrain"]
    with pytest.raises(ValueError, match="ltw-no-meta-test needs epochs >= 1"):
        run_epochs(TrainConfig(method="ltw-no-meta-test", epochs=0))


def _tiny_run(tmp_path, epochs=2):
    config = RunConfig(
        model=ModelConfig(backbone="tiny", weights=None, image_size=SIZE),
        train=TrainConfig(method="alltrain", epochs=epochs, batch_size=8, seed=0, steps_per_epoch=3),
    )
    return config, build_from_config(config)


def test_nan_batch_stops_with_step_and_keeps_last_good_checkpoint(tmp_path):
    images, table = toy_set(range(6))
    config, method = _tiny_run(tmp_path, epochs=3)
    data = ArrayEpochs(images, table, DOMAINS, seed=0, batch_size=8)

    class Poisoned:
        def epoch(self, epoch, request):
            epoch_data = data.epoch(epoch, request)
            if epoch == 1:
                batches = list(epoch_data.batches)
                x, y = batches[1][0]
                batches[1] = ((x * np.nan, y), None)
                epoch_data.batches = batches
            return epoch_data

    trainer = Trainer(method, Poisoned(), tmp_path, config, progress=False)
    with pytest.raises(TrainingError, match=r"non-finite loss at step 5 \(epoch 2\).*ckpt-1"):
        trainer.fit()
    assert tf.train.latest_checkpoint(str(tmp_path / "checkpoints")).endswith("ckpt-1")
    assert (
        json.loads(
            tf.train.load_checkpoint(str(tmp_path / "checkpoints")).get_tensor("history/.ATTRIBUTES/VARIABLE_VALUE")
        )[0]["epoch"]
        == 1
    )


def test_existing_run_is_not_overwritten_without_resume(tmp_path):
    images, table = toy_set(range(6))
    config, method = _tiny_run(tmp_path, epochs=1)
    data = ArrayEpochs(images, table, DOMAINS, seed=0, batch_size=8)
    Trainer(method, data, tmp_path, config, progress=False).fit()
    before = sorted(os.listdir(tmp_path / "checkpoints"))
    with pytest.raises(TrainingError, match="already holds checkpoints"):
        Trainer(method, data, tmp_path, config, progress=False).fit()
    assert sorted(os.listdir(tmp_path / "checkpoints")) == before


def test_step_lr_and_fixed_epochs(tmp_path):
    images, table = toy_set(range(4))
    config, method = _tiny_run(tmp_path, epochs=3)
    config.train.lr_step = 1
    labels = table.labels.astype("float32")
    pairs = [((images[i : i + 8], labels[i : i + 8]), None) for i in range(0, 24, 8)]
    history = Trainer(method, FixedEpochs(pairs), tmp_path, config, progress=False).fit()
    assert [h["lr"] for h in history] == pytest.approx([1e-3, 1e-4, 1e-5])
    assert [h["steps"] for h in history] == [3, 3, 3]
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved["train"]["lr_step"] == 1 and saved["model"]["backbone"] == "tiny"
