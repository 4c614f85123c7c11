"""The one small interface every training method implements, and the plain (single-loss) methods' base.

The trainer only ever calls ``build_detector`` (the model a method scores with), ``phases``, ``begin_epoch``,
``batch_request``, ``set_learning_rates``, ``train_step(batch, meta_batch)`` and ``trackables``, and hands
``batch_request(epoch)`` to the data source. Nothing outside ``methods/`` branches on a method's name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import keras
import tensorflow as tf

from ltw_tf.config import ModelConfig, TrainConfig
from ltw_tf.data.source import BatchRequest
from ltw_tf.distribute import compile_step, cross_replica_sum, replica_mean
from ltw_tf.models.detector import build_detector

# (images 0-255, labels 0 real / 1 fake), plus masks (N, S, S) in {0, 1} when the method's ``uses_masks``
Batch = tuple[tf.Tensor, ...]


def seed_states(*models: keras.Model) -> list:
    """The dropout / stochastic-depth RNG states of ``models``.

    Keras 3 keeps them in ``SeedGenerator`` variables that are not in the layers' checkpoint graph, so a
    checkpoint must list them explicitly for a resumed run to draw the same masks.
    """
    return [v for m in models for v in m.non_trainable_variables if v.path.endswith("seed_generator_state")]


@dataclass(frozen=True)
class Phase:
    """A complete training run inside a run: its own LR schedule (from its epoch 0) and its own best checkpoint."""

    name: str
    epochs: int


def phase_at(phases: tuple[Phase, ...], epoch: int) -> tuple[int, int]:
    """(index of the phase, epoch within it) of the run's 0-based ``epoch``."""
    start = 0
    for index, phase in enumerate(phases):
        if epoch < start + phase.epochs:
            return index, epoch - start
        start += phase.epochs
    raise ValueError(f"epoch {epoch + 1} is past the run's {start} epochs")


def step_lr(base: float, epoch: int, step: int, gamma: float) -> float:
    """StepLR: ``base * gamma ** (epoch // step)``."""
    return base * gamma ** (epoch // step)


class Method:
    """A training method: owns its optimizers (and any extra model) and one compiled train step.

    Built inside ``strategy.scope()`` it keeps that strategy, and ``train_step`` runs the step on every replica
    over shards of the global batch (``ltw_tf.distribute``); losses there are per-replica shares.
    """

    name: ClassVar[str] = ""
    revision: ClassVar[int] = 1  # raised when what a method trains changes; studies then never reuse older runs
    uses_meta_split: ClassVar[bool] = False  # batches from D_train, meta batches from D_meta
    paired_meta: ClassVar[bool] = False  # meta batch paired with the batch and label-flipped (ALGORITHM.md)
    split_every: ClassVar[str] = "epoch"  # meta-split redrawn every "epoch" (LTW) or every "step" (MLDG)
    uses_masks: ClassVar[bool] = False  # batches carry each face's manipulation mask: (images, labels, masks)

    @classmethod
    def build_detector(cls, model: ModelConfig, weights: str | None) -> keras.Model:
        """The model this method scores with: images -> (features, logit), P(fake) = sigmoid(logit).

        It is what checkpoints hold as ``detector`` and what validation, evaluation and export run, so every
        loader builds it through here (``weights=None``: no download, the checkpoint supplies them). Default:
        the shared backbone detector f(theta).
        """
        return build_detector(
            model.backbone, model.image_size, weights, bn_momentum=model.bn_momentum, graph=model.backbone_graph()
        )

    def __init__(self, detector: keras.Model, config: TrainConfig):
        self.detector = detector
        self.config = config
        self.optimizer = keras.optimizers.Adam(config.lr)
        self.optimizer.build(self.trained_variables())
        self.strategy = tf.distribute.get_strategy()
        self._compiled = compile_step(self._train_step, jit_compile=config.jit_compile)

    def trained_variables(self) -> list:
        """What ``optimizer`` updates: the detector's trainable variables (plus any training-only model's)."""
        return self.detector.trainable_variables

    def _train_step(self, batch: Batch, meta_batch: Batch | None) -> dict[str, tf.Tensor]:
        raise NotImplementedError  # pragma: no cover - abstract

    def train_step(self, batch: Batch, meta_batch: Batch | None = None) -> dict[str, tf.Tensor]:
        """One optimisation step; returns scalar logs (always with a ``loss`` entry)."""
        return self._compiled(batch, meta_batch)

    @classmethod
    def phases(cls, config: TrainConfig) -> tuple[Phase, ...]:
        """The run's phases, trained one after the other (default: one of ``config.epochs``; none: the run is its
        initial model). ``epochs`` of a run = the sum of its phases' epochs."""
        return (Phase("train", config.epochs),)

    def begin_epoch(self, epoch: int) -> None:
        """Hook called by the trainer before each epoch (0-based over the whole run)."""

    def batch_request(self, epoch: int) -> BatchRequest:
        """The batches this method needs in ``epoch`` (the trainer passes it to the data source)."""
        return BatchRequest(self.uses_meta_split, self.paired_meta, self.split_every, masks=self.uses_masks)

    def learning_rates(self) -> list[tuple[keras.optimizers.Optimizer, float]]:
        """(optimizer, base learning rate) pairs driven by the trainer's StepLR."""
        return [(self.optimizer, self.config.lr)]

    def set_learning_rates(self, phase_epoch: int) -> None:
        """Apply StepLR (step ``lr_step`` epochs, factor ``lr_gamma``) to every optimizer; ``phase_epoch`` counts
        from the start of the current phase (each phase has the full schedule)."""
        for optimizer, base in self.learning_rates():
            optimizer.learning_rate = step_lr(base, phase_epoch, self.config.lr_step, self.config.lr_gamma)

    def trackables(self) -> dict[str, Any]:
        """Everything a checkpoint must hold for an exact resume."""
        return {"detector": self.detector, "optimizer": self.optimizer, "rng": seed_states(self.detector)}


class PlainMethod(Method):
    """A detector trained on one per-sample loss over all source domains (Alltrain, Focal)."""

    def per_sample_loss(self, labels: tf.Tensor, logits: tf.Tensor) -> tf.Tensor:
        raise NotImplementedError  # pragma: no cover - abstract

    def _train_step(self, batch: Batch, meta_batch: Batch | None) -> dict[str, tf.Tensor]:
        del meta_batch  # plain methods ignore the meta-split
        images, labels = batch
        variables = self.detector.trainable_variables
        with tf.GradientTape() as tape:
            _, logits = self.detector(images, training=True)  # updates BN moving statistics
            loss = replica_mean(self.per_sample_loss(labels, logits))
        self.optimizer.apply(tape.gradient(loss, variables), variables)  # sums the replicas' shares
        return {"loss": cross_replica_sum(loss)}
