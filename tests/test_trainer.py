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
from margins import assert_close

from ltw_tf.config import ModelConfig, RunConfig, TrainConfig
from ltw_tf.data.arrays import ArrayEpochs
from ltw_tf.data.source import FixedEpochs
from ltw_tf.trainer import Trainer, TrainingError, build_from_config
from toy import DOMAINS, SIZE, toy_set

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


@pytest.mark.parametrize("method", ["ltw", "ltw-no-meta-test"])
def test_kill_and_resume_matches_straight_run(tmp_path, method):
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    done = _train(straight, method, 4)
    assert done.returncode == 0, done.stderr[-2000:]
    killed = _train(resumed, method, 4, "--kill-after", "2")
    assert killed.returncode == -signal.SIGKILL
    assert tf.train.latest_checkpoint(str(resumed / "checkpoints")).endswith("-2")
    again = _train(resumed, method, 4, "--resume")
    assert again.returncode == 0, again.stderr[-2000:]
    a, history_a = _restore_all(straight, method)
    b, history_b = _restore_all(resumed, method)
    assert a.keys() == b.keys()
    assert len(a) > 20  # models, optimizers, counters
    for key in a:
        if a[key].dtype.kind in "fc":
            # Same float32 ops on the same batches with TF op determinism (train.deterministic): bit-identical under
            # every oneDNN / thread setting measured (docs/DESIGN.md). The tolerance is headroom for kernels whose
            # reduction order still varies (a few ulps per step over 2 epochs): rtol 1e-6 = 8.4 ulps, atol near 0.
            assert_close(key, a[key], b[key], rtol=1e-6, atol=1e-6)
        else:
            np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    assert [h["data"] for h in history_a] == [h["data"] for h in history_b]
    # an AUC over the toy val set moves in steps of 1/(n_pos n_neg) >> 1e-6: only identical rankings pass
    assert [h["val"]["auc"] for h in history_a] == pytest.approx([h["val"]["auc"] for h in history_b], abs=1e-6)
    splits = [tuple(h["data"]["train_domains"]) for h in history_a if h["data"]["meta_domains"]]
    assert splits, "the meta-split history must be recorded"
    assert (straight / "config.json").exists() and (straight / "best").is_dir()


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
