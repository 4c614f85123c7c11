"""ForensicTransfer (Cozzolino et al. 2018): an autoencoder whose latent halves h_0 / h_1 stand for real / fake.

L = gamma L_act + L_rec with L_act = |a_1 - y| + |a_0 - (1 - y)| per sample (a_c = mean |h_c|, FT Eq. 1-2),
which drives the half matching the label to activation 1 and the other to 0, and L_rec = mean |x - D(h_y)|
(L1), decoding the latent with the non-matching half zeroed. The score is the relative activation
a_1 / (a_0 + a_1) (``models/autoencoder.py``). No meta-split: batches from all source domains.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from ltw_tf.distribute import cross_replica_sum, replica_mean
from ltw_tf.methods.base import Batch, Method, seed_states
from ltw_tf.models.autoencoder import build_decoder, build_scorer, half_activations, scaled, select_half


def activation_loss(labels, latent) -> tf.Tensor:
    """FT Eq. 2 per sample, shape (B,): |a_1 - y| + |a_0 - (1 - y)|."""
    a0, a1 = half_activations(latent)
    y = tf.cast(tf.reshape(labels, [-1]), a0.dtype)
    return tf.abs(a1 - y) + tf.abs(a0 - (1.0 - y))


def reconstruction_l1(images, reconstruction) -> tf.Tensor:
    """Mean absolute error per sample between the [-1, 1]-scaled image and its reconstruction, shape (B,)."""
    return tf.reduce_mean(tf.abs(scaled(images) - reconstruction), axis=[1, 2, 3])


class AutoencoderMethod(Method):
    """A method whose scorer is an activation-split encoder and whose decoder exists for training only."""

    heads: dict[str, int] = {}

    @classmethod
    def build_detector(cls, model, weights):
        del weights  # trained from scratch, as in the papers; model.backbone is not used
        return build_scorer(model.image_size, name=cls.name.replace("-", "_"), bn_momentum=model.bn_momentum)

    def __init__(self, detector: keras.Model, config):
        self.decoder = build_decoder(tuple(detector.outputs[0].shape[1:]), self.heads, name=f"{detector.name}_decoder")
        super().__init__(detector, config)

    def trained_variables(self):
        return self.detector.trainable_variables + self.decoder.trainable_variables

    def losses(self, batch: Batch, latent, labels) -> dict[str, tf.Tensor]:
        """Per-sample losses of the decoder's heads (each (B,)), given the selected latent."""
        raise NotImplementedError  # pragma: no cover - abstract

    def _train_step(self, batch: Batch, meta_batch: Batch | None) -> dict[str, tf.Tensor]:
        del meta_batch  # no meta-split
        images, labels = batch[0], batch[1]
        variables = self.trained_variables()
        with tf.GradientTape() as tape:
            latent, _ = self.detector(images, training=True)
            parts = {"act_loss": activation_loss(labels, latent), **self.losses(batch, latent, labels)}
            parts = {k: replica_mean(v) for k, v in parts.items()}
            loss = tf.add_n(list(parts.values()))
        self.optimizer.apply(tape.gradient(loss, variables), variables)
        return cross_replica_sum({"loss": loss, **parts})

    def trackables(self):
        items = super().trackables()
        items.update(decoder=self.decoder, rng=seed_states(self.detector, self.decoder))
        return items


class ForensicTransfer(AutoencoderMethod):
    name = "forensic-transfer"
    heads = {"reconstruction": 3}

    def losses(self, batch, latent, labels):
        reconstruction = self.decoder(select_half(latent, labels), training=True)
        return {"rec_loss": reconstruction_l1(batch[0], reconstruction)}
