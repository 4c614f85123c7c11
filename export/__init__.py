"""Detector-only export: f(theta) -> SavedModel + TFLite (fp32 / fp16 / int8) + model card, with parity checks.

Reads a trained run through ``ltw_tf.runs.load_detector`` and never imports training code: the weight-aware net
is never built, so no artefact can carry it. ``plan_export`` then ``export_run`` is the whole API the CLI uses.
"""

from export.bundle import ExportPlan, export_run, parse_quantizations, plan_export, tflite_name
from export.card import CARD_NAME, sha256_path
from export.savedmodel import SIGNATURE, export_graph
from export.tflite import DEFAULT_QUANTIZATIONS, QUANTIZATIONS

__all__ = [
    "CARD_NAME",
    "DEFAULT_QUANTIZATIONS",
    "QUANTIZATIONS",
    "SIGNATURE",
    "ExportPlan",
    "export_graph",
    "export_run",
    "parse_quantizations",
    "plan_export",
    "sha256_path",
    "tflite_name",
]
