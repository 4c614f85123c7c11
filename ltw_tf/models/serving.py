"""The deployable detector: uint8 RGB face crops [N, S, S, 3] -> P(fake) [N], preprocessing inside.

This wraps f(theta) only (the weight-aware net is a training device and never shipped). Backbones already
normalise 0-255 pixels inside the model, so the wrapper casts, runs the detector in inference mode and applies
the sigmoid. Export (SavedModel, TFLite) and screening share this one definition.
"""

from __future__ import annotations

import keras

INPUT_NAME = "images"
OUTPUT_NAME = "probability"


@keras.saving.register_keras_serializable(package="ltw_tf")
class _Probability(keras.layers.Layer):
    """logit (N, 1) -> sigmoid probability (N,)."""

    def call(self, logits):
        return keras.ops.reshape(keras.ops.sigmoid(logits), (-1,))


def serving_model(detector: keras.Model) -> keras.Model:
    """A Keras model uint8 [N, S, S, 3] -> float32 P(fake) [N] sharing ``detector``'s weights."""
    size = int(detector.inputs[0].shape[1])
    images = keras.Input((size, size, 3), dtype="uint8", name=INPUT_NAME)
    pixels = keras.layers.Identity(name="to_float")(keras.ops.cast(images, "float32"))
    _, logits = detector(pixels, training=False)
    probability = _Probability(name=OUTPUT_NAME)(logits)
    return keras.Model(images, probability, name=f"{detector.name}_serving")
