"""Evaluation metrics for binary deepfake detection: ACC, LogLoss, AUC, EER, TPR@FPR (frame/video level).

Conventions: labels ``0`` = real, ``1`` = fake (fake is the positive class); probs are the
predicted probability of *fake*, in ``[0, 1]``. Every public function validates its inputs via
:func:`_validate` and raises :class:`MetricsError` instead of returning NaN. Pure numpy + scikit-learn.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.metrics import roc_auc_score, roc_curve

ArrayLike = Sequence[float] | np.ndarray


class MetricsError(ValueError):
    """Invalid input to a metric (empty, mismatched, non-finite, out of range or one-class)."""


def _as_1d(name: str, values: Any) -> np.ndarray:
    """Converts ``values`` to a 1-D numeric array or raises MetricsError."""
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise MetricsError(f"{name} must be 1-D; got shape {arr.shape}")
    if arr.dtype.kind not in "biuf":
        raise MetricsError(f"{name} must be numeric; got dtype {arr.dtype}")
    return arr


def _check_unit(name: str, value: float) -> float:
    """Checks that a scalar parameter is a finite number in [0, 1]."""
    try:
        value = float(value)
    except (TypeError, ValueError) as exc:
        raise MetricsError(f"{name} must be a number; got {value!r}") from exc
    if not np.isfinite(value) or not 0.0 <= value <= 1.0:
        raise MetricsError(f"{name} must be a finite number in [0, 1]; got {value}")
    return value


def _validate(labels: ArrayLike, probs: ArrayLike, need_both: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Validates labels/probs (the single validation path of every public function).

    Args:
        labels: Ground truth, 0 = real, 1 = fake (any numeric dtype).
        probs: Probability of fake per sample, in [0, 1].
        need_both: Require at least one real and one fake sample (AUC, EER, TPR@FPR).

    Returns:
        ``(labels as int64, probs as float64)``.

    Raises:
        MetricsError: On empty input, length mismatch, non-finite probs, labels outside
            {0, 1}, probs outside [0, 1], or a one-class label set when ``need_both``.
    """
    y = _as_1d("labels", labels)
    p = _as_1d("probs", probs).astype(np.float64)
    if y.size == 0 or p.size == 0:
        raise MetricsError(f"empty input: got {y.size} labels and {p.size} probs")
    if y.size != p.size:
        raise MetricsError(f"length mismatch: {y.size} labels vs {p.size} probs")
    bad = ~np.isfinite(p)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise MetricsError(f"probs must be finite; got {p[i]} at index {i} ({int(bad.sum())} non-finite)")
    bad = (y != 0) & (y != 1)
    if bad.any():
        vals = np.unique(y[bad])[:5].tolist()
        raise MetricsError(f"labels must be 0 (real) or 1 (fake); got {vals}")
    bad = (p < 0.0) | (p > 1.0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise MetricsError(f"probs must lie in [0, 1]; got {p[i]} at index {i}")
    y = y.astype(np.int64)
    if need_both:
        n_fake = int(y.sum())
        if n_fake in (0, y.size):
            only = "fake" if n_fake else "real"
            raise MetricsError(f"AUC/EER need both real and fake samples; got only {only} ({y.size} samples)")
    return y, p


def _roc(y: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Full ROC curve (no dropped points) of validated two-class inputs: ``(fpr, tpr)``."""
    fpr, tpr, _ = roc_curve(y, p, drop_intermediate=False)
    return fpr, tpr


def _accuracy(y: np.ndarray, p: np.ndarray, threshold: float) -> float:
    return float(np.mean((p >= _check_unit("threshold", threshold)) == (y == 1)))


def _log_loss(y: np.ndarray, p: np.ndarray, eps: float) -> float:
    if not 0.0 < eps < 0.5:
        raise MetricsError(f"eps must be in (0, 0.5); got {eps}")
    p = np.clip(p, eps, 1.0 - eps)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log1p(-p)))


def _eer(y: np.ndarray, p: np.ndarray) -> float:
    fpr, tpr = _roc(y, p)
    diff = (1.0 - tpr) - fpr  # FNR - FPR: non-increasing from +1 at (0, 0) to -1 at (1, 1)
    i = int(np.argmax(diff <= 0.0))  # first ROC point at/after the crossing (i >= 1)
    if diff[i] == 0.0:
        return float(fpr[i])
    t = diff[i - 1] / (diff[i - 1] - diff[i])  # linear interpolation along segment (i-1, i)
    return float(fpr[i - 1] + t * (fpr[i] - fpr[i - 1]))


def _tpr_at_fpr(y: np.ndarray, p: np.ndarray, target: float) -> float:
    fpr, tpr = _roc(y, p)
    i = int(np.searchsorted(fpr, target, side="right"))  # first point with fpr > target
    j = i - 1  # last point with fpr <= target: top of any vertical segment there
    if i == fpr.size or fpr[j] == target:
        return float(tpr[j])
    return float(np.interp(target, fpr[j : i + 1], tpr[j : i + 1]))


def accuracy(labels: ArrayLike, probs: ArrayLike, threshold: float = 0.5) -> float:
    """Fraction of correctly classified samples.

    A sample is predicted fake iff ``prob >= threshold`` (so a prob exactly at the
    threshold counts as fake), otherwise real.
    """
    return _accuracy(*_validate(labels, probs), threshold)


def log_loss(labels: ArrayLike, probs: ArrayLike, eps: float = 1e-7) -> float:
    """Binary cross-entropy, paper Eq. 12: ``-mean(y log p + (1 - y) log(1 - p))``.

    Probs are clipped to ``[eps, 1 - eps]`` first. Defined for one-class input too.
    """
    return _log_loss(*_validate(labels, probs), eps)


def roc_auc(labels: ArrayLike, probs: ArrayLike) -> float:
    """Area under the ROC curve (``sklearn.metrics.roc_auc_score``); needs both classes."""
    y, p = _validate(labels, probs, need_both=True)
    return float(roc_auc_score(y, p))


def eer(labels: ArrayLike, probs: ArrayLike) -> float:
    """Equal error rate: the rate where FNR = 1 - TPR equals FPR on the full ROC curve.

    The crossing is linearly interpolated between the two ROC points around it.
    Returns a float in [0, 1]; needs both classes.
    """
    return _eer(*_validate(labels, probs, need_both=True))


def tpr_at_fpr(labels: ArrayLike, probs: ArrayLike, target_fpr: float) -> float:
    """TPR at ``target_fpr``, linearly interpolated on the ROC curve.

    Where the ROC curve is vertical at exactly ``target_fpr`` the highest TPR is
    returned. Needs both classes.
    """
    y, p = _validate(labels, probs, need_both=True)
    return _tpr_at_fpr(y, p, _check_unit("target_fpr", target_fpr))


@dataclass(frozen=True)
class Metrics:
    """All detection metrics for one evaluation set (frame or video level)."""

    acc: float
    logloss: float
    auc: float
    eer: float
    tpr_at_fpr_1e2: float
    tpr_at_fpr_1e3: float
    n: int
    n_real: int
    n_fake: int

    def as_dict(self) -> dict[str, float | int]:
        """Returns the metrics as a plain ``{name: value}`` dict."""
        return dataclasses.asdict(self)


def compute_metrics(labels: ArrayLike, probs: ArrayLike, threshold: float = 0.5) -> Metrics:
    """Computes all frame-level metrics; needs both classes (see :func:`accuracy` for threshold)."""
    y, p = _validate(labels, probs, need_both=True)
    n_fake = int(y.sum())
    return Metrics(
        acc=_accuracy(y, p, threshold),
        logloss=_log_loss(y, p, 1e-7),
        auc=float(roc_auc_score(y, p)),
        eer=_eer(y, p),
        tpr_at_fpr_1e2=_tpr_at_fpr(y, p, 1e-2),
        tpr_at_fpr_1e3=_tpr_at_fpr(y, p, 1e-3),
        n=int(y.size),
        n_real=int(y.size) - n_fake,
        n_fake=n_fake,
    )


def video_level(
    labels: ArrayLike, probs: ArrayLike, video_ids: Sequence[Any] | np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Aggregates frames to videos by the mean fake probability.

    Args:
        labels: Frame labels (0 = real, 1 = fake).
        probs: Frame probabilities of fake.
        video_ids: Video id of every frame (any sortable hashable type).

    Returns:
        ``(video_labels, video_probs, video_ids_sorted)``, one entry per unique id, sorted by id.

    Raises:
        MetricsError: On invalid frames, an id length mismatch, or a video whose frames
            do not share one label.
    """
    y, p = _validate(labels, probs)
    ids = np.asarray(video_ids)
    if ids.ndim != 1 or ids.size != y.size:
        raise MetricsError(f"length mismatch: {y.size} labels vs video_ids of shape {ids.shape}")
    try:
        uniq, inv = np.unique(ids, return_inverse=True)
    except TypeError as exc:
        raise MetricsError(f"video_ids must be mutually sortable: {exc}") from exc
    inv = inv.reshape(-1)  # numpy 2.0.x returned inverse with the input's shape
    counts = np.bincount(inv)
    n_fake = np.bincount(inv, weights=y).astype(np.int64)
    mixed = np.flatnonzero((n_fake > 0) & (n_fake < counts))
    if mixed.size:
        k = int(mixed[0])
        raise MetricsError(
            f"video {uniq.tolist()[k]!r} has mixed labels ({counts[k] - n_fake[k]} real, {n_fake[k]} fake"
            " frames); all frames of a video must share one label"
        )
    video_probs = np.bincount(inv, weights=p) / counts
    return (n_fake > 0).astype(np.int64), video_probs, uniq


def compute_video_metrics(
    labels: ArrayLike, probs: ArrayLike, video_ids: Sequence[Any] | np.ndarray, threshold: float = 0.5
) -> Metrics:
    """Computes all metrics on video level (mean frame probability per video, see :func:`video_level`)."""
    video_labels, video_probs, _ = video_level(labels, probs, video_ids)
    return compute_metrics(video_labels, video_probs, threshold)
