"""FocalLoss-Basemodel: Alltrain with focal loss, the paper's sample-weighting baseline."""

from __future__ import annotations

from ltw_tf.losses import focal_per_sample
from ltw_tf.methods.base import PlainMethod


class Focal(PlainMethod):
    name = "focal"

    def per_sample_loss(self, labels, logits):
        return focal_per_sample(labels, logits, gamma=self.config.focal_gamma)
