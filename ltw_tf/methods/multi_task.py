"""Multi-task (Nguyen et al. 2019): ForensicTransfer's split latent with a Y-shaped decoder.

One encoder, activation-split latent (classification: L_act and the relative-activation score as in
``forensic_transfer``); the label-selected latent feeds a shared decoder trunk that branches into a
segmentation head (2-class logits per pixel: manipulated or not) and a reconstruction head.
L = L_act + gamma L_seg + gamma L_rec, gamma = 1 (the official code): L_seg the per-pixel cross-entropy
against the face's manipulation mask (all zeros for a real face), L_rec the mean squared error.
"""

from __future__ import annotations

import tensorflow as tf

from ltw_tf.methods.forensic_transfer import AutoencoderMethod
from ltw_tf.models.autoencoder import scaled, select_half

GAMMA = 1.0


def segmentation_loss(masks, logits) -> tf.Tensor:
    """Mean per-pixel 2-class cross-entropy per sample, shape (B,); ``masks`` (B, S, S), 1 = manipulated."""
    targets = tf.cast(masks > 0.5, tf.int32)
    per_pixel = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=targets, logits=logits)
    return tf.reduce_mean(per_pixel, axis=[1, 2])


def reconstruction_mse(images, reconstruction) -> tf.Tensor:
    """Mean squared error per sample between the [-1, 1]-scaled image and its reconstruction, shape (B,)."""
    return tf.reduce_mean(tf.square(scaled(images) - reconstruction), axis=[1, 2, 3])


class MultiTask(AutoencoderMethod):
    name = "multi-task"
    heads = {"segmentation": 2, "reconstruction": 3}
    uses_masks = True

    def losses(self, batch, latent, labels):
        images, _, masks = batch
        segmentation, reconstruction = self.decoder(select_half(latent, labels), training=True)
        return {
            "seg_loss": GAMMA * segmentation_loss(masks, segmentation),
            "rec_loss": GAMMA * reconstruction_mse(images, reconstruction),
        }
