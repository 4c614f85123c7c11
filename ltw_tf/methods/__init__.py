"""Training methods, chosen by name from a registry; all take (train batch, meta batch) per step."""

from __future__ import annotations

import keras

from ltw_tf.config import TrainConfig
from ltw_tf.methods.alltrain import Alltrain
from ltw_tf.methods.base import Method
from ltw_tf.methods.focal import Focal
from ltw_tf.methods.forensic_transfer import ForensicTransfer
from ltw_tf.methods.ltw import LTW, LTWNoICC, LTWNoMetaTest, LTWNoWeight, meta_gradients, meta_step
from ltw_tf.methods.mldg import MLDG
from ltw_tf.methods.multi_task import MultiTask

METHODS: dict[str, type[Method]] = {
    cls.name: cls
    for cls in (Alltrain, Focal, ForensicTransfer, MultiTask, MLDG, LTW, LTWNoICC, LTWNoWeight, LTWNoMetaTest)
}


def method_class(name: str) -> type[Method]:
    """The method class registered as ``name``, with the valid names in the error."""
    try:
        return METHODS[name]
    except KeyError:
        raise ValueError(f"unknown method {name!r}; valid: {', '.join(METHODS)}") from None


def build_method(name: str, detector: keras.Model, config: TrainConfig) -> Method:
    """Instantiate method ``name`` around ``detector`` (built by ``method_class(name).build_detector``)."""
    return method_class(name)(detector, config)


__all__ = ["METHODS", "Method", "build_method", "method_class", "meta_gradients", "meta_step"]
