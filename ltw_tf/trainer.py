"""The trainer: epochs of (batch, meta batch) through any Method, StepLR, checkpoints, exact resume.

A run is the method's phases one after the other (``Method.phases``: most methods have one), each a complete
training run with its own StepLR schedule and its own best-AUC tracking, so ``best/`` ends holding the last
phase's best model. A method with no phases trains nothing: its initial model is saved once as checkpoint 0 and
as ``best/``. One checkpoint per epoch (models, optimizers, method state, epoch/step counters and the run history
with each epoch's phase and meta-split) via ``tf.train.CheckpointManager``. Everything random is a function of the
run seed: dropout seeds live in model variables and each epoch's batches are derived from (seed, epoch), so
``resume=True`` continues exactly. Under a multi-worker strategy only the chief writes the run directory; the
other workers save into a scratch directory they delete.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import json
import math
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from tqdm.auto import tqdm

from ltw_tf.config import RunConfig, save_config
from ltw_tf.data.source import EpochSource
from ltw_tf.distribute import check_in_sync, is_chief, make_strategy, model_trackables, synchronize_batch_norm
from ltw_tf.errors import first_line
from ltw_tf.evaluate import evaluate, probability_fn
from ltw_tf.io import write_json
from ltw_tf.locking import OutputLock
from ltw_tf.methods import Method, build_method, method_class
from ltw_tf.methods.base import phase_at
from ltw_tf.provenance import TRAINED_ON_NAME
from ltw_tf.runtime import configure_graph_optimizer

EpochCallback = Callable[["Trainer", int, dict], None]


class TrainingError(RuntimeError):
    """Training cannot go on (non-finite loss, a run directory in the way)."""


def seed_everything(seed: int, deterministic: bool = False) -> None:
    """Seed Python, NumPy, TensorFlow and Keras from one number; optionally make TF ops deterministic."""
    keras.utils.set_random_seed(seed)
    if deterministic:
        tf.config.experimental.enable_op_determinism()


def build_from_config(config: RunConfig, strategy: tf.distribute.Strategy | None = None) -> Method:
    """Seed, build the detector and wrap it in the configured method (models are created in seed order).

    Under a strategy (``train.strategy`` mirrored / multiworker, or ``strategy`` given, e.g. a MirroredStrategy
    over some devices) models, optimizers and the train step are created in its scope and every BatchNorm layer
    uses global-batch moments (``ltw_tf.distribute``).
    """
    distributed = strategy is not None or config.train.strategy != "default"
    strategy = strategy or make_strategy(config.train.strategy)  # multiworker: before any TensorFlow op
    configure_graph_optimizer(config.train.graph_optimizer)  # before any step is traced
    seed_everything(config.train.seed, config.train.deterministic)
    model = config.model
    with strategy.scope() if distributed else contextlib.nullcontext():
        detector = method_class(config.train.method).build_detector(model, model.weights)
        method = build_method(config.train.method, detector, config.train)
    if distributed:
        for item in model_trackables(method.trackables()):
            synchronize_batch_norm(item)
    return method


class Trainer:
    """Runs the phases of ``method`` (``config.train.epochs`` epochs each, as the method says) into ``run_dir``."""

    def __init__(
        self,
        method: Method,
        train_data: EpochSource,
        run_dir: str | os.PathLike,
        config: RunConfig,
        val_data: Iterable | None = None,
        callbacks: Sequence[EpochCallback] = (),
        progress: bool = True,
        max_to_keep: int = 3,
        trained_on: dict | None = None,
    ):
        self.trained_on = trained_on  # written as RUN/trained_on.json (ltw_tf.provenance)
        self.method = method
        self.train_data = train_data
        self.val_data = val_data
        self.config = config
        self.run_dir = Path(run_dir)
        self.callbacks = list(callbacks)
        self.progress = progress
        self.strategy = method.strategy
        self.chief = is_chief(self.strategy)
        self._scratch = None if self.chief else Path(tempfile.mkdtemp(prefix="ltw-worker-"))
        save_dir = self.run_dir if self.chief else self._scratch  # every worker saves (collective-safe)
        self._probs_fn = probability_fn(method.detector)
        self.phases = method.phases(config.train)
        self.total_epochs = sum(phase.epochs for phase in self.phases)
        self.epoch = tf.Variable(0, dtype=tf.int64, trainable=False)
        self.step = tf.Variable(0, dtype=tf.int64, trainable=False)
        self.best_auc = tf.Variable(-1.0, dtype=tf.float64, trainable=False)
        self._history = tf.Variable("[]", dtype=tf.string, trainable=False)
        self.checkpoint = tf.train.Checkpoint(
            **method.trackables(), epoch=self.epoch, step=self.step, best_auc=self.best_auc, history=self._history
        )
        self.manager = tf.train.CheckpointManager(
            self.checkpoint, str(save_dir / "checkpoints"), max_to_keep=max_to_keep
        )
        best = tf.train.Checkpoint(detector=method.detector, epoch=self.epoch, best_auc=self.best_auc)
        self.best_manager = tf.train.CheckpointManager(best, str(save_dir / "best"), max_to_keep=1)

    @property
    def history(self) -> list[dict]:
        """Per-epoch records: train log means, lr, meta-split info, validation metrics."""
        return json.loads(self._history.numpy().decode())

    def _latest_checkpoint(self) -> str | None:
        """The run's latest checkpoint; every worker reads the chief's (a shared run directory)."""
        if self.chief:
            return self.manager.latest_checkpoint
        return tf.train.latest_checkpoint(str(self.run_dir / "checkpoints"))

    def restore(self) -> bool:
        """Load the latest checkpoint if there is one; returns whether one was loaded."""
        latest = self._latest_checkpoint()
        if latest is None:
            return False
        try:
            self.checkpoint.restore(latest).assert_existing_objects_matched()
        except (tf.errors.OpError, ValueError, AssertionError, IndexError) as err:  # IndexError: a short file
            raise TrainingError(
                f"{latest}: cannot be restored ({first_line(err, 'damaged')}); delete it to resume from the one before"
            ) from None
        return True

    def fit(self, resume: bool = False) -> list[dict]:
        """Train every phase to its end; with ``resume`` continue from the latest checkpoint.

        The chief holds the run directory's lock throughout (ltw_tf.locking): a second process exits at once."""
        with OutputLock(self.run_dir, "train") if self.chief else contextlib.nullcontext():
            return self._fit(resume)

    def _fit(self, resume: bool) -> list[dict]:
        if self._latest_checkpoint() is not None and not resume:
            raise TrainingError(
                f"{self.run_dir} already holds checkpoints: resume it (--resume) or choose another output directory"
            )
        if resume:
            self.restore()
        check_in_sync(self.strategy, self.epoch, "the epoch to start from")
        if self.chief:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            save_config(self.config, self.run_dir / "config.json")
            if self.trained_on is not None:
                write_json(self.run_dir / TRAINED_ON_NAME, self.trained_on)
            writer = tf.summary.create_file_writer(str(self.run_dir / "tensorboard"))
        else:
            writer = tf.summary.create_noop_writer()
        try:
            with writer.as_default():
                for epoch in range(int(self.epoch.numpy()), self.total_epochs):
                    self._run_epoch(epoch)
                if not self.phases and not self.history:  # restored on every worker alike
                    self._save_untrained()
        finally:
            if self._scratch is not None:
                shutil.rmtree(self._scratch, ignore_errors=True)
        if self.chief:
            write_json(self.run_dir / "history.json", self.history, sort_keys=True)
        return self.history

    def _save_untrained(self) -> None:
        """A method that trains nothing: its model as built is the run (checkpoint 0) and its best/."""
        record = {"epoch": 0, "steps": 0, "phase": None}
        self._validate(record)
        record["best"] = True
        self.best_auc.assign(record.get("val", {}).get("auc", -1.0))
        self._history.assign(json.dumps([record]))
        self.best_manager.save(checkpoint_number=0)
        self.manager.save(checkpoint_number=0)

    def _run_epoch(self, epoch: int) -> None:
        cfg = self.config.train
        phase, phase_epoch = phase_at(self.phases, epoch)
        if phase_epoch == 0:  # a phase is a complete run: the best model is chosen among its own epochs
            self.best_auc.assign(-1.0)
        self.method.begin_epoch(epoch)
        self.method.set_learning_rates(phase_epoch)
        request = dataclasses.replace(self.method.batch_request(epoch), max_steps=cfg.steps_per_epoch)
        data = self.train_data.epoch(epoch, request)
        batches, total = data.batches, data.length
        if cfg.steps_per_epoch is not None:  # for sources that do not plan (FixedEpochs)
            batches = itertools.islice(batches, cfg.steps_per_epoch)
            total = cfg.steps_per_epoch if total is None else min(total, cfg.steps_per_epoch)
        sums: dict[str, float] = {}
        n = 0
        bar = tqdm(
            batches,
            total=total,
            desc=f"epoch {epoch + 1}/{self.total_epochs}",
            unit="step",
            disable=not self.progress,
            leave=False,
        )
        for batch, meta_batch in bar:
            logs = {k: float(v) for k, v in self.method.train_step(batch, meta_batch).items()}
            step = int(self.step.numpy()) + 1
            if not all(math.isfinite(v) for v in logs.values()):
                bad = ", ".join(f"{k}={v}" for k, v in logs.items() if not math.isfinite(v))
                kept = self.manager.latest_checkpoint or "none yet"
                raise TrainingError(
                    f"non-finite loss at step {step} (epoch {epoch + 1}): {bad}; stopped, last good checkpoint: {kept}"
                )
            self.step.assign(step)
            for key, value in logs.items():
                sums[key] = sums.get(key, 0.0) + value
                tf.summary.scalar(f"train/{key}", value, step=step)
            n += 1
            bar.set_postfix(loss=f"{logs['loss']:.4f}")
        if n == 0:
            raise TrainingError(f"epoch {epoch + 1} produced no batches")
        record = {
            "epoch": epoch + 1,
            "phase": self.phases[phase].name,
            "phase_epoch": phase_epoch + 1,
            "steps": n,
            "lr": float(self.method.optimizer.learning_rate.numpy()),
            "train": {k: v / n for k, v in sums.items()},
            "data": data.info,
        }
        self._validate(record)
        improved = record.get("val", {}).get("auc", -np.inf) > float(self.best_auc.numpy())
        record["best"] = bool(improved)
        if improved:
            self.best_auc.assign(record["val"]["auc"])
        self.epoch.assign(epoch + 1)
        self._history.assign(json.dumps(self.history + [record]))
        if improved:  # before the epoch's checkpoint: a run killed in between redoes the epoch and this save
            self.best_manager.save(checkpoint_number=epoch + 1)
        self.manager.save(checkpoint_number=epoch + 1)
        tf.summary.scalar("lr", record["lr"], step=int(self.step.numpy()))
        for callback in self.callbacks:
            callback(self, epoch, record)

    def _validate(self, record: dict) -> None:
        if self.val_data is None:
            return
        metrics = evaluate(self.method.detector, self.val_data, probs_fn=self._probs_fn).as_dict()
        record["val"] = metrics
        for key in ("acc", "logloss", "auc", "eer"):
            tf.summary.scalar(f"val/{key}", metrics[key], step=int(self.step.numpy()))
