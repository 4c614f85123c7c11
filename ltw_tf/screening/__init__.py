"""Screening: videos and images -> sampled frames -> faces -> P(fake) per frame -> a verdict per item.

The model is a trained run (Keras), an exported SavedModel or a .tflite file (``runners``); faces are found and
cropped as training preparation did (``ltw_tf.data.decode``, ``ltw_tf.data.fast_faces`` over
``ltw_tf.data.faces``). ``report`` draws the results (``figure``) with Grad-CAM maps (``gradcam``) for a person.
See docs/SCREENING.md.
"""

from ltw_tf.screening.driver import (
    ALL_FRAMES_DETECT_EVERY,
    DEFAULT_FRAMES,
    Screener,
    ScreenSettings,
    screen_items,
    screen_items_on_ray,
)
from ltw_tf.screening.gradcam import GradCam, load_explainer
from ltw_tf.screening.inputs import MediaItem, find_media, media_kind
from ltw_tf.screening.report import KEEP_CROPS, ReportWriter, check_report_dir
from ltw_tf.screening.results import FrameScore, ItemResult, JsonLinesWriter, summary_line, totals_line
from ltw_tf.screening.runners import (
    KerasRunner,
    ModelRunner,
    SavedModelRunner,
    TFLiteRunner,
    load_runner,
    model_kind,
    resolve_model,
)

__all__ = [
    "ALL_FRAMES_DETECT_EVERY",
    "DEFAULT_FRAMES",
    "FrameScore",
    "GradCam",
    "KEEP_CROPS",
    "ItemResult",
    "JsonLinesWriter",
    "KerasRunner",
    "MediaItem",
    "ModelRunner",
    "ReportWriter",
    "SavedModelRunner",
    "ScreenSettings",
    "Screener",
    "TFLiteRunner",
    "check_report_dir",
    "find_media",
    "load_explainer",
    "load_runner",
    "media_kind",
    "model_kind",
    "resolve_model",
    "screen_items",
    "screen_items_on_ray",
    "summary_line",
    "totals_line",
]
