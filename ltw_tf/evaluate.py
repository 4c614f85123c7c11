"""Model x labelled batches -> fake probabilities -> metrics (frame level)."""

from __future__ import annotations

from collections.abc import Iterable

import keras
import numpy as np
import tensorflow as tf

from ltw_tf.metrics import Metrics, compute_metrics


def probability_fn(detector: keras.Model):
    """A compiled inference function images -> P(fake), shape (B,)."""

    @tf.function(reduce_retracing=True)
    def probs(images):
        _, logits = detector(images, training=False)
        return tf.reshape(tf.sigmoid(logits), [-1])

    return probs


def predict(detector: keras.Model, batches: Iterable, probs_fn=None) -> tuple[np.ndarray, np.ndarray]:
    """Run ``detector`` over (images, labels) batches; returns (labels, probabilities) as numpy arrays.

    ``probs_fn``: a ``probability_fn(detector)`` to reuse across calls (saves a retrace per call).
    """
    probs_of = probs_fn or probability_fn(detector)
    labels, probs = [], []
    for images, batch_labels in batches:
        probs.append(probs_of(images).numpy())
        labels.append(np.asarray(batch_labels).reshape(-1))
    if not labels:
        raise ValueError("no evaluation batches")
    return np.concatenate(labels).astype(np.int64), np.concatenate(probs).astype(np.float64)


def evaluate(detector: keras.Model, batches: Iterable, threshold: float = 0.5, probs_fn=None) -> Metrics:
    """Frame-level ACC / LogLoss / AUC / EER / TPR@FPR of ``detector`` on labelled batches."""
    labels, probs = predict(detector, batches, probs_fn)
    return compute_metrics(labels, probs, threshold=threshold)
