"""Training methods, chosen by name from a registry; all take (train batch, meta batch) per step."""

from __future__ import annotations

import keras

from ltw_tf.config import TrainConfig
from ltw_tf.methods.alltrain import Alltrain
from ltw_tf.methods.base import Method, Phase
from ltw_tf.methods.basemodel import Basemodel
from ltw_tf.methods.focal import Focal
from ltw_tf.methods.forensic_transfer import ForensicTransfer
from ltw_tf.methods.ltw import (
    LTW,
    LTWNoICC,
    LTWNoMetaTest,
    LTWNoWeight,
    LTWStepSplit,
    meta_gradients,
    meta_step,
)
from ltw_tf.methods.mldg import MLDG
from ltw_tf.methods.multi_task import MultiTask

METHODS: dict[str, type[Method]] = {
    cls.name: cls
    for cls in (
        Basemodel,
        Alltrain,
        Focal,
        ForensicTransfer,
        MultiTask,
        MLDG,
        LTW,
        LTWNoICC,
        LTWNoWeight,
        LTWNoMetaTest,
        LTWStepSplit,
    )
}


def method_class(name: str) -> type[Method]:
    """The method class registered as ``name``, with the valid names in the error."""
    try:
        return METHODS[name]
    except KeyError:
        raise ValueError(f"unknown method {name!r}; valid: {', '.join(METHODS)}") from None


def run_epochs(config: TrainConfig) -> int:
    """The epochs a finished run of ``config.method`` has: the sum of its phases (0 for a method that trains
    nothing); a bad epoch count for the method raises a one-line ValueError."""
    return sum(phase.epochs for phase in method_class(config.method).phases(config))


def build_method(name: str, detector: keras.Model, config: TrainConfig) -> Method:
    """Instantiate method ``name`` around ``detector`` (built by ``method_class(name).build_detector``)."""
    return method_class(name)(detector, config)


__all__ = ["METHODS", "Method", "Phase", "build_method", "method_class", "meta_gradients", "meta_step", "run_epochs"]
