"""Parity of each exported artefact against the Keras serving model on face crops.

Float artefacts must match probability by probability (max |dp| within a tolerance per format); int8 cannot, so it
must rank the labelled crops as well as the float model does (|AUC - AUC_keras| <= 0.01).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping

import keras
import numpy as np

from export.crops import CropSet, in_batches
from export.savedmodel import savedmodel_predictor
from export.tflite import INT8_AUC_TOLERANCE, tflite_predictor
from ltw_tf.models.serving import OUTPUT_NAME

MAX_ABS_DIFF = {"savedmodel": 1e-5, "fp32": 1e-4, "fp16": 1e-2}  # probability units


def keras_predictor(model: keras.Model) -> Callable[[np.ndarray], np.ndarray]:
    """uint8 images -> P(fake) of a serving model (its ``probability`` output when it has features too)."""

    def predict(images: np.ndarray) -> np.ndarray:
        out = model(images, training=False)
        return keras.ops.convert_to_numpy(out[OUTPUT_NAME] if isinstance(out, dict) else out)

    return predict


def artefact_predictor(kind: str, path: str | os.PathLike, num_threads: int | None = 2):
    """``kind``: "savedmodel" or a quantization ("fp32", "fp16", "int8") for a .tflite file."""
    return savedmodel_predictor(path) if kind == "savedmodel" else tflite_predictor(path, num_threads)


def _auc(labels: np.ndarray, probs: np.ndarray) -> float | None:
    if len(np.unique(labels)) < 2:
        return None
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(labels, probs))


def _spearman(a: np.ndarray, b: np.ndarray) -> float | None:
    """Spearman rank correlation: does the artefact order the crops as the Keras model does (labels aside)?"""
    from scipy.stats import spearmanr

    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return None
    return float(spearmanr(a, b).statistic)


def parity(kind: str, reference: np.ndarray, probs: np.ndarray, labels: np.ndarray) -> dict:
    """One artefact's figures against the reference probabilities, and whether it passes."""
    diff = np.abs(np.asarray(probs, np.float64) - np.asarray(reference, np.float64))
    auc, reference_auc = _auc(labels, probs), _auc(labels, reference)
    report = {
        "n": int(len(labels)),
        "max_abs_diff": float(diff.max()),
        "mean_abs_diff": float(diff.mean()),
        "rank_correlation": _spearman(reference, probs),
        "auc": auc,
        "reference_auc": reference_auc,
    }
    if kind == "int8":
        report["auc_delta"] = None if auc is None else abs(auc - reference_auc)
        report["tolerance"] = {"auc_delta": INT8_AUC_TOLERANCE}
        report["passed"] = auc is not None and report["auc_delta"] <= INT8_AUC_TOLERANCE
    else:
        report["tolerance"] = {"max_abs_diff": MAX_ABS_DIFF[kind]}
        report["passed"] = report["max_abs_diff"] <= MAX_ABS_DIFF[kind]
    return report


def verify_artefacts(
    reference_model: keras.Model,
    artefacts: Mapping[str, str | os.PathLike],
    crops: CropSet,
    num_threads: int | None = 2,
) -> dict[str, dict]:
    """Parity of every artefact (kind -> path) against ``reference_model`` on ``crops``."""
    reference = in_batches(keras_predictor(reference_model), crops.images)
    results = {}
    for kind, path in artefacts.items():
        probs = in_batches(artefact_predictor(kind, path, num_threads), crops.images)
        results[kind] = {**parity(kind, reference, probs, crops.labels), "crops": crops.source}
    return results


def failures(results: Mapping[str, dict]) -> list[str]:
    return [kind for kind, report in results.items() if not report["passed"]]


def format_parity(results: Mapping[str, dict]) -> list[str]:
    """One line per artefact, e.g. ``fp16   max|dp| 3.1e-04 (<= 1e-02)  AUC 0.9812 (keras 0.9812)  ok``."""
    lines = []
    for kind, r in results.items():
        auc = "" if r["auc"] is None else f"  AUC {r['auc']:.4f} (keras {r['reference_auc']:.4f})"
        if kind == "int8":
            delta = "n/a (one class)" if r["auc_delta"] is None else f"{r['auc_delta']:.4f}"
            rank = "n/a" if r["rank_correlation"] is None else f"{r['rank_correlation']:.4f}"
            check = f"|dAUC| {delta} (<= {INT8_AUC_TOLERANCE})  max|dp| {r['max_abs_diff']:.1e}  rank corr {rank}"
        else:
            check = f"max|dp| {r['max_abs_diff']:.1e} (<= {MAX_ABS_DIFF[kind]:.0e})"
        lines.append(f"{kind:<10} {check}{auc}  {'ok' if r['passed'] else 'FAILED'}  on {r['n']} crops")
    return lines
