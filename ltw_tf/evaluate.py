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


def evaluate_run(
    run: str | os.PathLike,
    benchmark: str | None = None,
    data_root: str | os.PathLike | None = None,
    which: str = "best",
    batch_size: int = 64,
    split: str = "test",
) -> dict:
    """Every target test set of ``benchmark`` (default: the run's own) for a trained run, frame and video level.

    Returns ``{"run_dir", "checkpoint", "benchmark", "method", "targets": {name: {"frame": {...}, "video": {...},
    "labels", "probs", "video_ids"}}}``; the arrays are numpy (for ROC curves), the metric dicts JSON-ready.
    """
    from ltw_tf.benchmarks import get_benchmark, target_faces
    from ltw_tf.data.manifest import read_manifest
    from ltw_tf.data.pipeline import eval_dataset
    from ltw_tf.metrics import compute_video_metrics
    from ltw_tf.runs import load_detector, resolve_data_root

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
            "labels": labels,
            "probs": probs,
            "video_ids": videos,
        }
    return {
        "run_dir": str(ref.run_dir),
        "checkpoint": ref.checkpoint,
        "benchmark": bench.name,
        "method": config.train.method,
        "backbone": config.model.backbone,
        "targets": results,
    }


def json_ready(result: dict) -> dict:
    """``evaluate_run``'s result without its numpy arrays: what ``RUN/eval/<benchmark>.json`` holds."""
    targets = {name: {"frame": t["frame"], "video": t["video"]} for name, t in result["targets"].items()}
    return {**{k: v for k, v in result.items() if k != "targets"}, "targets": targets}


# ---------------------------------------------------------------- the weight-aware net p(w) on training faces


def load_weight_net(run: str | os.PathLike) -> tuple[keras.Model, keras.Model, object]:
    """(detector, weight_net, RunRef) restored from the run's latest training checkpoint.

    Only ``checkpoints/`` holds p(w) (``best/`` keeps the detector alone). A run whose method has no weight net
    raises ``ValueError`` naming the method and the methods that have one.
    """
    from ltw_tf.methods import METHODS, method_class
    from ltw_tf.models import build_detector
    from ltw_tf.models.detector import feature_shape
    from ltw_tf.models.weight_net import build_weight_net
    from ltw_tf.runs import resolve_run

    ref = resolve_run(run, "latest")
    config = ref.config
    if not getattr(method_class(config.train.method), "use_weight_net", False):
        having = ", ".join(name for name, cls in METHODS.items() if getattr(cls, "use_weight_net", False))
        raise ValueError(
            f"{ref.run_dir} was trained with method {config.train.method!r}, which has no "
            f"weight-aware net p(w); weights need a run of: {having}"
        )
    detector = build_detector(config.model.backbone, config.model.image_size, weights=None)
    weight_net = build_weight_net(
        feature_shape(detector), dropout=config.train.weight_net_dropout, dtype=detector.outputs[0].dtype
    )
    status = tf.train.Checkpoint(detector=detector, weight_net=weight_net).restore(ref.checkpoint)
    status.expect_partial()  # optimizers, counters, RNG states stay in the file
    try:
        status.assert_existing_objects_matched()
    except AssertionError as err:
        raise ValueError(
            f"{ref.checkpoint} holds no matching detector + weight net (a training checkpoint "
            f"under checkpoints/ is needed): {str(err).splitlines()[0]}"
        ) from None
    return detector, weight_net, ref


def weight_fn(detector: keras.Model, weight_net: keras.Model):
    """A compiled inference function images -> p(stop_gradient(F)) per image, shape (B,)."""

    @tf.function(reduce_retracing=True)
    def weights(images):
        features, _ = detector(images, training=False)
        return tf.reshape(weight_net(tf.stop_gradient(features), training=False), [-1])

    return weights


def face_weights(
    run: str | os.PathLike, data_root: str | os.PathLike | None = None, split: str = "train", batch_size: int = 64
) -> dict:
    """p(w)'s weight of every source-domain face of the run's benchmark in ``split`` (inference mode).

    Returns ``{"run_dir", "checkpoint", "method", "benchmark", "split", "data_root", "faces", "weights"}`` with
    ``faces`` in manifest order and ``weights`` a float64 array aligned with them.
    """
    from ltw_tf.benchmarks import get_benchmark, source_faces
    from ltw_tf.data.manifest import read_manifest
    from ltw_tf.data.pipeline import eval_dataset
    from ltw_tf.runs import resolve_data_root

    detector, weight_net, ref = load_weight_net(run)
    config = ref.config
    if data_root is not None:
        config = config.override({"data.data_root": str(data_root)})
    root = resolve_data_root(config)
    bench = get_benchmark(config.data.benchmark)
    faces = source_faces(bench, read_manifest(root), split=split)
    weights_of = weight_fn(detector, weight_net)
    batches = eval_dataset(faces, root, config.model.image_size, batch_size)
    weights = np.concatenate([weights_of(images).numpy() for images, _ in batches]).astype(np.float64)
    return {
        "run_dir": str(ref.run_dir),
        "checkpoint": ref.checkpoint,
        "method": config.train.method,
        "benchmark": bench.name,
        "split": split,
        "data_root": str(root),
        "faces": faces,
        "weights": weights,
    }


def _summary(values: np.ndarray) -> dict:
    return {
        "n": int(values.size),
        "mean": float(values.mean()),
        "std": float(values.std()),
        "min": float(values.min()),
        "max": float(values.max()),
    }


def weight_stats(faces, weights: np.ndarray) -> dict:
    """n / mean / std (population) / min / max of the weights: overall, real vs fake, and per domain."""
    weights = np.asarray(weights, np.float64)
    labels = np.array([f.label for f in faces])
    domains = np.array([f.domain for f in faces])
    by_label = {
        side: _summary(weights[labels == label])
        for side, label in (("real", 0), ("fake", 1))
        if (labels == label).any()
    }
    by_domain = {d: _summary(weights[domains == d]) for d in sorted(set(domains.tolist()))}
    return {"all": _summary(weights), "by_label": by_label, "by_domain": by_domain}


def extreme_faces(faces, weights: np.ndarray, n: int) -> dict:
    """Per side (fake, real): the ``n`` highest-weighted faces (highest first) and the ``n`` lowest (lowest first).

    The two lists never share a face: a side with fewer than ``2n`` faces is split between them (highest gets the
    extra one). Ties are broken by path, so the choice is deterministic.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, not {n}")
    out = {}
    for side, label in (("fake", 1), ("real", 0)):
        rows = sorted((float(w), f.path, f) for f, w in zip(faces, weights) if f.label == label)
        top = min(n, (len(rows) + 1) // 2)
        bottom = min(n, len(rows) - top)

        def entry(row):
            weight, _, face = row
            return {
                "weight": weight,
                "path": face.path,
                "domain": face.domain,
                "video_id": face.video_id,
                "frame": face.frame,
            }

        out[side] = {"highest": [entry(r) for r in rows[::-1][:top]], "lowest": [entry(r) for r in rows[:bottom]]}
    return out
