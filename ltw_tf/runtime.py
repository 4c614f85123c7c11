"""Process-wide TensorFlow settings a training run chooses: Grappler, TensorFlow's graph optimizer.

Grappler rewrites every traced graph before its first run. ``train.graph_optimizer = "off"`` turns its meta
optimizer off: on this project's 2-core CPU that cut the first call of an EfficientNet-B0 LTW step at 224 px
from 61 s to 46 s, but made each step 17 % slower (4.68 -> 5.46 s; Alltrain 1.22 -> 1.32 s), measured side by
side in one process by ``bench/step_time.py --ab-grappler`` (docs/RESULTS.md). So ``on`` (TensorFlow's default)
is the default, and ``off`` pays only for runs of a few dozen steps (smoke runs, tests).
"""

from __future__ import annotations

import tensorflow as tf

GRAPH_OPTIMIZER_MODES = ("on", "off")


def configure_graph_optimizer(mode: str = "on") -> bool:
    """Turn Grappler's meta optimizer on or off for this process; returns whether it is on.

    The setting is global: it applies to every graph traced after the call.
    """
    if mode not in GRAPH_OPTIMIZER_MODES:
        raise ValueError(f"unknown train.graph_optimizer {mode!r}; valid: {', '.join(GRAPH_OPTIMIZER_MODES)}")
    tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": mode == "off"})
    return mode == "on"
