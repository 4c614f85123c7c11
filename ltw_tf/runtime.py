"""Process-wide TensorFlow settings a training run chooses: Grappler, TensorFlow's graph optimizer.

Grappler rewrites every traced graph before its first run. On this project's CPU machine it costs more than it
gives for the second-order step: turning its meta optimizer off cut the first call of an EfficientNet-B0 LTW
step from 66 s to 48 s at 224 px (64 s to 40 s at 64 px) and did not slow the steps (4.9 -> 4.4 s at 224 px;
``bench/step_time.py --graph-optimizer``, docs/RESULTS.md). On a GPU its layout and fusion passes matter, so
``auto`` keeps it there.
"""

from __future__ import annotations

import tensorflow as tf

GRAPH_OPTIMIZER_MODES = ("auto", "on", "off")


def configure_graph_optimizer(mode: str = "auto") -> bool:
    """Turn Grappler's meta optimizer on or off for this process (``auto``: on iff a GPU is visible).

    Returns whether it is on. The setting is global: it applies to every graph traced after the call.
    """
    if mode not in GRAPH_OPTIMIZER_MODES:
        raise ValueError(f"unknown train.graph_optimizer {mode!r}; valid: {', '.join(GRAPH_OPTIMIZER_MODES)}")
    on = mode == "on" or (mode == "auto" and bool(tf.config.list_physical_devices("GPU")))
    tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": not on})
    return on
