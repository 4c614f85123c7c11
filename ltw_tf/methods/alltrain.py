"""Alltrain-Basemodel: plain BCE on all source domains (the paper's strongest simple baseline)."""

from __future__ import annotations

from ltw_tf.losses import bce_per_sample
from ltw_tf.methods.base import PlainMethod


class Alltrain(PlainMethod):
    name = "alltrain"

    def per_sample_loss(self, labels, logits):
        return bce_per_sample(labels, logits)
