"""The exported graph (f(theta) + preprocessing, nothing else) and its SavedModel.

Every artefact is made from one Keras graph: ``ltw_tf.models.serving.serving_model`` with its batch-dependent
reshapes made batch-agnostic (same layers, same weights, same numbers). The SavedModel carries one
``serving_default`` signature: ``images`` uint8 [N, S, S, 3] -> ``probability`` float32 [N], and with
``features`` (what ``ltw-tf export`` writes) also ``features`` float32 [N, D], the stage-pooled features the
out-of-distribution score reads (``ltw_tf.ood``).
"""

from __future__ import annotations

import os
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from ltw_tf.models.serving import INPUT_NAME, OUTPUT_NAME, serving_model

SIGNATURE = "serving_default"


class StaticReshape(keras.layers.Layer):
    """``keras.layers.Reshape`` with the batch written as -1 instead of ``shape(x)[0]``.

    Keras' Reshape builds the new shape from the runtime batch size (Shape, StridedSlice, Pack), which TFLite's
    XNNPACK delegate cannot take: EfficientNet's 16 squeeze-excite reshapes then split the model into 17
    delegate partitions. A constant shape keeps the whole model in one partition; the values are identical.
    """

    def __init__(self, target_shape, **kwargs):
        super().__init__(**kwargs)
        self.target_shape = tuple(target_shape)

    def call(self, inputs):
        return keras.ops.reshape(inputs, (-1, *self.target_shape))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], *self.target_shape)

    def get_config(self):
        return {**super().get_config(), "target_shape": self.target_shape}


def _batch_agnostic(layer: keras.layers.Layer) -> keras.layers.Layer:
    if type(layer) is keras.layers.Reshape and None not in layer.target_shape and -1 not in layer.target_shape:
        return StaticReshape(layer.target_shape, name=layer.name)
    return layer  # every other layer is shared, weights included


def export_graph(detector: keras.Model, features: bool = False) -> keras.Model:
    """The deployable model: uint8 images -> P(fake) (``features``: a dict with the pooled features too), sharing
    ``detector``'s weights (f(theta) only)."""
    serving = serving_model(detector, features=features)
    return keras.models.clone_model(serving, clone_function=_batch_agnostic, recursive=True)


def image_size(model: keras.Model) -> int:
    return int(model.inputs[0].shape[1])


def write_savedmodel(model: keras.Model, path: str | os.PathLike) -> Path:
    """Write ``model`` as a SavedModel with the ``serving_default`` signature (dynamic batch)."""
    size = image_size(model)
    archive = keras.export.ExportArchive()
    archive.track(model)
    spec = tf.TensorSpec([None, size, size, 3], tf.uint8, name=INPUT_NAME)

    def serve(images):
        out = model(images, training=False)
        return dict(out) if isinstance(out, dict) else {OUTPUT_NAME: out}

    archive.add_endpoint(SIGNATURE, serve, input_signature=[spec])
    archive.write_out(str(path), verbose=False)
    return Path(path)


def savedmodel_predictor(path: str | os.PathLike):
    """A function uint8 images [N, S, S, 3] -> probabilities [N] (numpy) through the SavedModel signature."""
    signature = tf.saved_model.load(str(path)).signatures[SIGNATURE]

    def predict(images: np.ndarray) -> np.ndarray:
        return signature(**{INPUT_NAME: tf.constant(images, tf.uint8)})[OUTPUT_NAME].numpy()

    return predict


def savedmodel_variables(path: str | os.PathLike) -> dict[str, tuple[int, ...]]:
    """Every variable the SavedModel carries: name -> shape (to show that only f(theta) ships)."""
    return {v.name: tuple(v.shape) for v in tf.saved_model.load(str(path)).variables}
