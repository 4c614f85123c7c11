"""Out of distribution: is a face like the faces the model was trained on, or beyond what it can judge?

A detector only knows the faces it was trained on; on others (a real photograph, for a model trained on synthff) its
P(fake) means nothing, however confident. The score here says how far a face is from the model's training faces,
read from the model's own features (``serving_model(..., features=True)``: each backbone stage's feature map
averaged over space). Per stage l, with the class means m_lc and the pooled within-class covariance S_l of the
training faces (Ledoit-Wolf shrinkage: a few hundred faces for up to 1280 dimensions):

    d_l(x) = min_c sqrt((x_l - m_lc)^T S_l^-1 (x_l - m_lc))                  (class-conditional Mahalanobis)
    s(x)   = mean_l d_l(x) / q_l,     q_l = the 99th percentile of d_l over the model's val faces
    score  = s(x) / q,                q   = the 99th percentile of s over the same val faces

so every stage counts alike and ``score > 1`` means: further from the training faces than 99 % of the model's own
val faces. Why every stage and not the pooled features the logit reads: measured on the demo's Lite0 (docs/
SCREENING.md), the last stage alone places a real photograph *closer* than the val faces' 99th percentile (0.71 of
it) -- training for fake-vs-real keeps only what separates the two, and a real face shares that -- while every
earlier stage puts it beyond (1.1-1.6), as Lee et al. (NeurIPS 2018) found for feature ensembles. Energy and the
logit margin cannot: the model gives the photograph P(fake) 1.000, the most confident answer it has.

Fitted once per model on its own data (train split for the statistics, val split for the percentiles, the
benchmark's source domains): at export into ``ood_stats.npz`` beside the artefacts (its sha256 in the model card),
for a run directory lazily into ``RUN/ood/<checkpoint>.npz``. Files hold arrays only (no pickle) and are written
atomically.
"""

from __future__ import annotations

import io
import json
import logging
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ltw_tf.io import atomic_write_bytes, sha256_file

log = logging.getLogger(__name__)

STATS_NAME = "ood_stats.npz"
PERCENTILE = 99.0
TRAIN_FACES = 2048  # at most this many training faces for the means and covariances
VAL_FACES = 1024  # at most this many val faces for the percentiles
FORMAT = "ltw-tf ood stats 1"
SCORE_NAME = "stage-pooled class-conditional Mahalanobis (Ledoit-Wolf), each stage scaled by its val percentile"

Features = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray | None]]  # uint8 crops -> (P(fake), features)


@dataclass(frozen=True)
class FeatureStats:
    """Per stage: class means [2, C], whitening [C, C] (x @ whiten has identity covariance), the val percentile
    of its distance; the percentile of their scaled mean; what it was fitted on (``info``)."""

    widths: tuple[int, ...]
    means: tuple[np.ndarray, ...]
    whitening: tuple[np.ndarray, ...]
    scales: np.ndarray
    threshold: float
    info: dict = field(default_factory=dict)

    @property
    def dimension(self) -> int:
        return int(sum(self.widths))

    def _stages(self, features: np.ndarray) -> list[np.ndarray]:
        features = np.asarray(features, np.float64)
        if features.ndim != 2 or features.shape[1] != self.dimension:
            raise ValueError(f"features of shape {features.shape}, expected [N, {self.dimension}] (another model?)")
        return np.split(features, np.cumsum(self.widths)[:-1], axis=1)

    def distances(self, features: np.ndarray) -> np.ndarray:
        """[N, stages]: each stage's class-conditional Mahalanobis distance, the nearer class's."""
        out = []
        for x, means, whitening in zip(self._stages(features), self.means, self.whitening):
            out.append(np.min([np.linalg.norm((x - m) @ whitening, axis=1) for m in means], axis=0))
        return np.stack(out, axis=1)

    def _mean_scaled(self, features: np.ndarray) -> np.ndarray:
        return np.mean(self.distances(features) / self.scales, axis=1)

    def score(self, features: np.ndarray) -> np.ndarray:
        """[N] the OOD score: > 1 is further from the training faces than ``PERCENTILE`` % of the val faces."""
        return self._mean_scaled(features) / self.threshold

    def to_bytes(self) -> bytes:
        arrays = {"widths": np.asarray(self.widths, np.int64), "scales": self.scales, "threshold": self.threshold}
        for i, (means, whitening) in enumerate(zip(self.means, self.whitening)):
            arrays[f"means_{i}"], arrays[f"whitening_{i}"] = means.astype(np.float32), whitening.astype(np.float32)
        arrays["info"] = np.asarray(json.dumps({"format": FORMAT, **self.info}))
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        return buffer.getvalue()

    def save(self, path: str | os.PathLike) -> Path:
        return atomic_write_bytes(path, self.to_bytes())

    @classmethod
    def load(cls, path: str | os.PathLike) -> FeatureStats:
        try:
            with np.load(path, allow_pickle=False) as data:
                info = json.loads(str(data["info"]))
                if info.get("format") != FORMAT:
                    raise ValueError(f"format {info.get('format')!r}, expected {FORMAT!r}")
                widths = tuple(int(w) for w in data["widths"])
                means = tuple(data[f"means_{i}"].astype(np.float64) for i in range(len(widths)))
                whitening = tuple(data[f"whitening_{i}"].astype(np.float64) for i in range(len(widths)))
                scales, threshold = data["scales"].astype(np.float64), float(data["threshold"])
        except (OSError, KeyError, ValueError, EOFError) as err:
            raise ValueError(f"{path}: not a readable {STATS_NAME} ({str(err).strip().splitlines()[0]})") from None
        info.pop("format")
        return cls(widths, means, whitening, scales, threshold, info)


def fit(
    train: np.ndarray, labels: np.ndarray, val: np.ndarray, widths: Iterable[int], info: dict | None = None
) -> FeatureStats:
    """Statistics from training features [N, D] with labels (0 real, 1 fake), percentiles from val features."""
    from sklearn.covariance import ledoit_wolf

    widths, labels = tuple(int(w) for w in widths), np.asarray(labels)
    if sum(widths) != np.shape(train)[1]:
        raise ValueError(f"stage widths {widths} do not add up to the feature width {np.shape(train)[1]}")
    classes = [c for c in (0, 1) if np.sum(labels == c) >= 2]
    if not classes or len(val) < 2:
        raise ValueError(f"too few faces to fit: {len(train)} training, {len(val)} val")
    means, whitening = [], []
    for x in np.split(np.asarray(train, np.float64), np.cumsum(widths)[:-1], axis=1):
        centres = np.stack([x[labels == c].mean(axis=0) for c in classes])
        residuals = np.concatenate([x[labels == c] - centres[i] for i, c in enumerate(classes)])
        lower = _cholesky(ledoit_wolf(residuals, assume_centered=True)[0])
        means.append(centres)
        whitening.append(np.linalg.inv(lower).T)  # ||(x - m) @ inv(L).T|| = Mahalanobis distance under L L^T
    partial = FeatureStats(widths, tuple(means), tuple(whitening), np.ones(len(widths)), 1.0)
    scales = np.percentile(partial.distances(val), PERCENTILE, axis=0, method="higher")
    partial = FeatureStats(widths, tuple(means), tuple(whitening), scales, 1.0)
    threshold = float(np.percentile(partial._mean_scaled(val), PERCENTILE, method="higher"))
    record = {"score": SCORE_NAME, "percentile": PERCENTILE, "stages": len(widths), "features": sum(widths)}
    return FeatureStats(widths, tuple(means), tuple(whitening), scales, threshold, {**record, **(info or {})})


def _cholesky(covariance: np.ndarray) -> np.ndarray:
    """The Cholesky factor; Ledoit-Wolf's shrinkage towards a multiple of I keeps the covariance positive definite
    unless every feature of a stage is constant (a dead stage): then a floor of 1e-12 of the mean variance, or
    1e-12 itself."""
    try:
        return np.linalg.cholesky(covariance)
    except np.linalg.LinAlgError:
        floor = 1e-12 * (np.trace(covariance) / len(covariance) or 1.0)
        return np.linalg.cholesky(covariance + floor * np.eye(len(covariance)))


def _features_of(predict: Features, faces, root, size: int) -> tuple[np.ndarray, np.ndarray]:
    from ltw_tf.data.pipeline import uint8_batches

    features, labels = [], []
    for images, batch_labels in uint8_batches(faces, root, size):
        _, batch = predict(images)
        if batch is None:
            raise ValueError("the model gives no features")
        features.append(np.asarray(batch, np.float64))
        labels.append(batch_labels)
    return np.concatenate(features), np.concatenate(labels)


def fit_on_run_faces(predict: Features, root: str | os.PathLike, benchmark: str, size: int, widths) -> FeatureStats:
    """Fit on a run's own prepared faces: the benchmark's source domains, train split (at most ``TRAIN_FACES``)
    for the statistics and val split (at most ``VAL_FACES``) for the percentiles."""
    from ltw_tf.benchmarks import get_benchmark, source_faces
    from ltw_tf.data.manifest import read_manifest, sample_faces

    bench, faces = get_benchmark(benchmark), read_manifest(root)
    train = sample_faces(source_faces(bench, faces, "train"), TRAIN_FACES, seed=0)
    val = sample_faces(source_faces(bench, faces, "val"), VAL_FACES, seed=1)
    train_x, train_y = _features_of(predict, train, root, size)
    val_x, _ = _features_of(predict, val, root, size)
    info = {
        "fitted_on": f"{root} ({bench.name} source domains)",
        "train_faces": len(train),
        "val_faces": len(val),
    }
    stats = fit(train_x, train_y, val_x, widths, info)
    flagged = float(np.mean(stats.score(val_x) > 1.0))
    return FeatureStats(*_fields(stats), {**stats.info, "val_flag_rate": round(flagged, 4)})


def _fields(stats: FeatureStats) -> tuple:
    return stats.widths, stats.means, stats.whitening, stats.scales, stats.threshold


def stage_widths(detector) -> tuple[int, ...]:
    """The widths of the stage taps ``serving_model(detector, features=True)`` concatenates."""
    from ltw_tf.models.serving import _backbone, feature_taps

    backbone = _backbone(detector)
    return tuple(int(backbone.get_layer(name).output.shape[-1]) for name in feature_taps(backbone))


# --------------------------------------------------------------------------- the statistics of a model


@dataclass(frozen=True)
class ModelStats:
    """A model's OOD statistics, or why there are none (``note``: one line for the user)."""

    stats: FeatureStats | None
    note: str = ""


def describe(stats: FeatureStats | None, note: str = "") -> str:
    """One line for stderr and the report header."""
    if stats is None:
        return f"out-of-distribution check: off, {note}"
    info = stats.info
    return (
        f"out-of-distribution check: {info.get('stages', len(stats.widths))}-stage Mahalanobis on the model's "
        f"features, fitted on {info.get('train_faces', '?')} training faces; a face scores > 1 when it is further "
        f"from them than {info.get('percentile', PERCENTILE):g} % of the model's {info.get('val_faces', '?')} "
        "val faces"
    )


def export_stats_path(model: str | os.PathLike) -> Path | None:
    """Where an export keeps its statistics: the folder of the model card beside or inside ``model``."""
    path = Path(model)
    for folder in (path.parent, path):
        if (folder / "model_card.json").is_file():
            return folder / STATS_NAME
    return None


def load_export_stats(model: str | os.PathLike) -> ModelStats:
    """An export's ``ood_stats.npz``, checked against the sha256 its model card records."""
    path = export_stats_path(model)
    if path is None:
        return ModelStats(None, "no model_card.json beside the model: not an ltw-tf export")
    try:
        card = json.loads((path.parent / "model_card.json").read_text())
    except (OSError, ValueError):
        return ModelStats(None, f"{path.parent / 'model_card.json'} is not readable JSON")
    recorded = (card.get("ood") or {}).get("sha256")
    if not recorded:
        return ModelStats(None, "the export has no out-of-distribution statistics: exported before ltw-tf kept them")
    if not path.is_file():
        return ModelStats(None, f"{path} is missing (the model card lists it)")
    if sha256_file(path) != recorded:
        return ModelStats(None, f"{path} does not match the sha256 in the model card (replaced or damaged)")
    return ModelStats(FeatureStats.load(path))


def run_stats(runner, say: Callable[[str], None] = log.info) -> ModelStats:
    """A run directory's statistics: ``RUN/ood/<checkpoint>.npz``, fitted on the run's data on first use."""
    from ltw_tf.runs import run_data_root

    ref, detector = runner.run_ref, runner.detector
    folder = ref.run_dir / "ood"
    cached = folder / f"{Path(ref.checkpoint).parent.name}-{Path(ref.checkpoint).name}.npz"
    if cached.is_file():
        return ModelStats(FeatureStats.load(cached))
    root = run_data_root(ref.config)
    if root is None:
        return ModelStats(None, "the run's prepared data root is gone, so its training faces cannot be measured")
    say(f"fitting the out-of-distribution statistics on {root} (once; cached in {cached})")
    stats = fit_on_run_faces(
        runner.predict_with_features, root, ref.config.data.benchmark, runner.size, stage_widths(detector)
    )
    stats = FeatureStats(*_fields(stats), {**stats.info, "checkpoint": ref.checkpoint})
    stats.save(cached)
    return ModelStats(stats)


def model_stats(runner, say: Callable[[str], None] = log.info) -> ModelStats:
    """The statistics for a loaded runner (``ltw_tf.screening.runners``): an export's file or a run's cache."""
    if not getattr(runner, "has_features", False):
        return ModelStats(None, "this model has no features output: export it again with `ltw-tf export`")
    try:
        if runner.kind == "run":
            return run_stats(runner, say)
        return load_export_stats(runner.source)
    except ValueError as err:
        return ModelStats(None, str(err))
