"""Losses: per-sample BCE on logits, the Intra-Class Compact (ICC) loss (Eq. 7-10) and focal loss (Keras built-in).

Labels are 0 = real, 1 = fake; the model emits one logit per sample (probability of fake = sigmoid).
tensorflow-addons is end-of-life and does not run with Keras 3, so focal loss is
``keras.losses.BinaryFocalCrossentropy``.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from ltw_tf.distribute import cross_replica_sum, replica_mean


def _flat(labels, logits):
    logits = tf.reshape(logits, [-1])
    return tf.cast(tf.reshape(labels, [-1]), logits.dtype), logits


def bce_per_sample(labels, logits) -> tf.Tensor:
    """Binary cross-entropy per sample, from logits: shape (B,)."""
    labels, logits = _flat(labels, logits)
    return tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits)


def icc_loss(labels, logits) -> tf.Tensor:
    """Intra-Class Compact (ICC) loss (Eq. 7-10) on probabilities s = sigmoid(logit), a batch scalar.

    L_pos = mean((s - C_real)^2 | real) (Eq. 7) with C_real = mean(s | real) (Eq. 8);
    L_neg = mean((s - C_real)^2 | fake) (Eq. 9); L_icc = L_pos - L_neg (Eq. 10). Pulls reals to their centre
    and pushes fakes away. A batch lacking either class contributes 0 (no centre or nothing to push). Inside
    ``strategy.run`` the batch is the global one: centre and counts are all-reduced and the value is this
    replica's share (the shares add up to the global L_icc).
    """
    labels, logits = _flat(labels, logits)
    probs = tf.sigmoid(logits)
    real = 1.0 - labels
    fake = labels
    n_real, n_fake, real_sum = cross_replica_sum(
        [tf.reduce_sum(real), tf.reduce_sum(fake), tf.reduce_sum(probs * real)]
    )
    centre = tf.math.divide_no_nan(real_sum, n_real)  # Eq. 8: C_real
    sq = tf.square(probs - centre)
    l_pos = tf.math.divide_no_nan(tf.reduce_sum(sq * real), n_real)  # Eq. 7: L_positive
    l_neg = tf.math.divide_no_nan(tf.reduce_sum(sq * fake), n_fake)  # Eq. 9: L_negative
    both = tf.cast((n_real > 0) & (n_fake > 0), probs.dtype)
    return both * (l_pos - l_neg)  # Eq. 10


def focal_per_sample(labels, logits, gamma: float = 2.0) -> tf.Tensor:
    """Focal loss per sample (Lin et al. 2017) via Keras' BinaryFocalCrossentropy: shape (B,)."""
    labels, logits = _flat(labels, logits)
    loss = keras.losses.BinaryFocalCrossentropy(gamma=gamma, from_logits=True, reduction=None, dtype=logits.dtype)
    return loss(labels[:, None], logits[:, None])


def detection_loss(labels, logits, lam: float, sample_weights=None) -> tf.Tensor:
    """Eq. 1 / Eq. 3 / Eq. 11: mean(BCE_i * p_i) + lam * L_icc (p = 1 when ``sample_weights`` is None).

    Inside ``strategy.run``: this replica's share of the global-batch loss (``ltw_tf.distribute``).
    """
    bce = bce_per_sample(labels, logits)
    if sample_weights is not None:
        bce = bce * tf.reshape(sample_weights, [-1])
    loss = replica_mean(bce)
    if lam:
        loss = loss + lam * icc_loss(labels, logits)
    return loss
