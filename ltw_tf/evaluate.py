"""Model x labelled batches -> fake probabilities -> metrics (frame level)."""

from __future__ import annotations

import os
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


def video_keys(faces) -> np.ndarray:
    """One id per video (dataset/domain/quality/video_id), for video-level metrics."""
    return np.array([f"{f.dataset}/{f.domain}/{f.quality}/{f.video_id}" for f in faces])


def evaluate_run(run: str | os.PathLike, benchmark: str | None = None, data_root: str | os.PathLike | None = None,
                 which: str = "best", batch_size: int = 64, split: str = "test") -> dict:
    """Every target test set of ``benchmark`` (default: the run's own) for a trained run, frame and video level.

    Returns ``{"run_dir", "checkpoint", "benchmark", "method", "targets": {name: {"frame": {...}, "video": {...},
    "labels", "probs", "video_ids"}}}``; the arrays are numpy (for ROC curves), the metric dicts JSON-ready.
    """
    from ltw_tf.benchmarks import get_benchmark, target_faces
    from ltw_tf.data.manifest import read_manifest
    from ltw_tf.data.pipeline import eval_dataset
    from ltw_tf.metrics import compute_video_metrics
    from ltw_tf.run import resolve_data_root
    from ltw_tf.runs import load_detector

    detector, ref = load_detector(run, which)
    config = ref.config
    if data_root is not None:
        config = config.override({"data.data_root": str(data_root)})
    root = resolve_data_root(config)
    bench = get_benchmark(benchmark or config.data.benchmark)
    targets = target_faces(bench, read_manifest(root), split=split)
    probs_fn = probability_fn(detector)
    results = {}
    for name, faces in targets.items():
        batches = eval_dataset(faces, root, config.model.image_size, batch_size)
        labels, probs = predict(detector, batches, probs_fn)
        videos = video_keys(faces)
        results[name] = {
            "frame": compute_metrics(labels, probs).as_dict(),
            "video": compute_video_metrics(labels, probs, videos).as_dict(),
            "labels": labels, "probs": probs, "video_ids": videos,
        }
    return {"run_dir": str(ref.run_dir), "checkpoint": ref.checkpoint, "benchmark": bench.name,
            "method": config.train.method, "backbone": config.model.backbone, "targets": results}
