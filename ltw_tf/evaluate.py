"""Model x labelled batches -> fake probabilities -> metrics (frame level)."""

from __future__ import annotations

import contextlib
import math
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
    from ltw_tf.models.detector import batch_norm_momentum, feature_shape
    from ltw_tf.models.weight_net import build_weight_net
    from ltw_tf.runs import build_run_detector, finalize_restored, resolve_run

    ref = resolve_run(run, "latest")
    config = ref.config
    if not getattr(method_class(config.train.method), "use_weight_net", False):
        having = ", ".join(name for name, cls in METHODS.items() if getattr(cls, "use_weight_net", False))
        raise ValueError(
            f"{ref.run_dir} was trained with method {config.train.method!r}, which has no "
            f"weight-aware net p(w); weights need a run of: {having}"
        )
    detector = build_run_detector(config)  # the run's graph and BN momentum, as LTW.__init__ built them
    weight_net = build_weight_net(
        feature_shape(detector),
        config.train.weight_net_dropout,
        detector.outputs[0].dtype,
        batch_norm_momentum(detector),
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
    finalize_restored(detector)
    return detector, weight_net, ref


def weight_fn(detector: keras.Model, weight_net: keras.Model):
    """A compiled inference function images -> p(stop_gradient(F)) per image, shape (B,)."""

    @tf.function(reduce_retracing=True)
    def weights(images):
        features, _ = detector(images, training=False)
        return tf.reshape(weight_net(tf.stop_gradient(features), training=False), [-1])

    return weights


@contextlib.contextmanager
def _dropout_off(*models: keras.Model):
    """Every Dropout layer of ``models`` (p(w)'s dropout, EfficientNet's stochastic depth) passes inputs through."""
    layers = [
        layer
        for model in models
        for layer in model._flatten_layers(include_self=False)
        if isinstance(layer, keras.layers.Dropout)
    ]
    rates = [layer.rate for layer in layers]
    try:
        for layer in layers:
            layer.rate = 0.0
        yield
    finally:
        for layer, rate in zip(layers, rates):
            layer.rate = rate


def batch_statistics_weights(detector: keras.Model, weight_net: keras.Model, images) -> np.ndarray:
    """p(w) of each image as the meta step computes it (``methods.ltw.meta_step``, Eq. 1): both nets'
    ``stateless_call`` in training mode, so BN normalises with this batch's statistics, and no state changes.

    Dropout and stochastic depth are off: the step applied one random mask, this is their mean-field value.
    """
    with _dropout_off(detector, weight_net):
        (features, _), _ = detector.stateless_call(
            detector.trainable_variables, detector.non_trainable_variables, images, training=True
        )
        weights, _ = weight_net.stateless_call(
            weight_net.trainable_variables,
            weight_net.non_trainable_variables,
            tf.stop_gradient(features),
            training=True,
        )
    return np.asarray(weights, np.float64).reshape(-1)


def balanced_batches(labels: np.ndarray, batch_size: int, seed: int) -> list[np.ndarray]:
    """Row batches of ``batch_size // 2`` reals and the rest fakes (the meta-train batches' balance,
    ``data.meta_split``), shuffled with ``seed``, covering every row at least once: the smaller side is cycled to
    fill the batches (a repeat only lends its batch statistics). One side missing: batches of the other alone."""
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    reals, fakes = (rng.permutation(np.flatnonzero(labels == label)) for label in (0, 1))
    n_real = batch_size // 2
    n_fake = batch_size - n_real
    if n_real == 0 or not len(reals) or not len(fakes):
        rows = rng.permutation(len(labels))
        return [rows[i : i + batch_size] for i in range(0, len(rows), batch_size)]
    n = max(math.ceil(len(reals) / n_real), math.ceil(len(fakes) / n_fake))
    reals, fakes = np.resize(reals, (n, n_real)), np.resize(fakes, (n, n_fake))
    return [rng.permutation(np.concatenate([r, f])) for r, f in zip(reals, fakes)]


WEIGHT_MODES = {
    "batch": "as applied in training: batch statistics of balanced training batches",
    "inference": "inference mode: BN moving statistics",
}


def face_weights(
    run: str | os.PathLike,
    data_root: str | os.PathLike | None = None,
    split: str = "train",
    batch_size: int = 64,
    mode: str = "batch",
) -> dict:
    """p(w)'s weight of every source-domain face of the run's benchmark in ``split``.

    ``mode`` "batch" (default, paper Fig. 4): the weight the meta step applies, recomputed with the final p(w)
    and detector (``batch_statistics_weights``) in balanced batches of the run's ``train.batch_size``, seeded
    with ``train.seed`` (``balanced_batches``); ``batch_size`` is not used. "inference": both nets in inference
    mode (BN moving statistics), ``batch_size`` faces per call. Returns ``{"run_dir", "checkpoint", "method",
    "benchmark", "split", "data_root", "mode", "mode_text", "faces", "weights"}`` with ``faces`` in manifest order
    and ``weights`` a float64 array aligned with them.
    """
    if mode not in WEIGHT_MODES:
        raise ValueError(f"weight mode must be one of {', '.join(WEIGHT_MODES)}, not {mode!r}")
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
    if mode == "inference":
        weights_of = weight_fn(detector, weight_net)
        batches = eval_dataset(faces, root, config.model.image_size, batch_size)
        weights = np.concatenate([weights_of(images).numpy() for images, _ in batches]).astype(np.float64)
    else:
        size = config.train.batch_size
        rows = balanced_batches(np.array([f.label for f in faces]), size, config.train.seed)
        order = np.concatenate(rows)
        batches = eval_dataset([faces[i] for i in order], root, config.model.image_size, size)
        applied = np.concatenate([batch_statistics_weights(detector, weight_net, images) for images, _ in batches])
        weights = np.full(len(faces), np.nan)
        first = np.unique(order, return_index=True)[1]  # a face's first batch (a cycled repeat is context only)
        weights[order[first]] = applied[first]
    return {
        "run_dir": str(ref.run_dir),
        "checkpoint": ref.checkpoint,
        "method": config.train.method,
        "benchmark": bench.name,
        "split": split,
        "data_root": str(root),
        "mode": mode,
        "mode_text": WEIGHT_MODES[mode],
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
