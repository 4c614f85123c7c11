"""The deployable detector: uint8 RGB face crops [N, S, S, 3] -> P(fake) [N], preprocessing inside.

This wraps f(theta) only (the weight-aware net is a training device and never shipped). Backbones already
normalise 0-255 pixels inside the model, so the wrapper casts, runs the detector in inference mode and applies
the sigmoid. Export (SavedModel, TFLite) and screening share this one definition.

``features=True`` adds what the out-of-distribution score reads (``ltw_tf.ood``): the backbone's feature maps at
the end of every stage (``feature_taps``), each averaged over space and concatenated, [N, sum of widths]. The last
block of it is the detector's own pooled features (the input of its logit layer).
"""

from __future__ import annotations

import re

import keras

INPUT_NAME = "images"
OUTPUT_NAME = "probability"
FEATURES_NAME = "features"


@keras.saving.register_keras_serializable(package="ltw_tf")
class _Probability(keras.layers.Layer):
    """logit (N, 1) -> sigmoid probability (N,)."""

    def call(self, logits):
        return keras.ops.reshape(keras.ops.sigmoid(logits), (-1,))


def _nested(model: keras.Model, larger: bool = False) -> keras.Model | None:
    """A model's one nested model (``larger``: only if it holds more layers than the model itself), else None."""
    inner = [layer for layer in model.layers if isinstance(layer, keras.Model)]
    if len(inner) != 1 or (larger and len(inner[0].layers) <= len(model.layers)):
        return None
    return inner[0]


def _backbone(detector: keras.Model) -> keras.Model:
    """The model whose own layers are the stages: the backbone inside f(theta), or inside that the Keras
    application a ``*_normalised`` backbone wraps; f(theta) itself when it is one flat graph (the autoencoder
    baselines' scorer)."""
    base = _nested(detector)
    if base is None:
        return detector
    return _nested(base, larger=True) or base


_STAGE = re.compile(r"^(block\d+|conv\d+|stage\d+)")  # EfficientNet B/Lite "block6d_add", ResNet "conv4_block2_out"


def feature_taps(backbone: keras.Model) -> list[str]:
    """The layers whose outputs end the backbone's stages, in order, the backbone's output last.

    A stage is a run of layers named by one stage prefix (EfficientNet ``block4*``, ResNet ``conv3*``); a backbone
    without such names (tiny, Xception, VGG) is cut where the spatial size changes (the last layer at each size
    below the input's).
    """
    layers = [layer for layer in backbone.layers if len(getattr(layer, "output", None).shape or ()) == 4]
    by_prefix: dict[str, str] = {}
    for layer in layers:
        match = _STAGE.match(layer.name)
        if match:
            by_prefix[match.group(1)] = layer.name
    taps = list(by_prefix.values())
    last = layers[-1].name
    if not taps:
        side = tuple(backbone.inputs[0].shape[1:3])  # the input's own size is pixels, not a stage
        for layer, following in zip(layers, [*layers[1:], None]):
            size = tuple(layer.output.shape[1:3])
            if size != side and (following is None or tuple(following.output.shape[1:3]) != size):
                taps.append(layer.name)
    return [*[name for name in taps if name != last], last]


def _pooled_taps(detector: keras.Model, pixels) -> keras.KerasTensor:
    """``pixels`` through the backbone's stage taps, each averaged over space, concatenated [N, sum of widths]."""
    backbone = _backbone(detector)
    taps = keras.Model(
        backbone.inputs, [backbone.get_layer(name).output for name in feature_taps(backbone)], name="feature_taps"
    )
    base = _nested(detector)
    if base is not None and backbone is not base:  # the normalisation before the application: base's layers to it
        prefix = keras.Model(base.inputs, backbone._inbound_nodes[0].input_tensors, name="normalise")
        pixels = prefix(pixels)
    maps = taps(pixels)
    maps = maps if isinstance(maps, (list, tuple)) else [maps]
    pooled = [keras.layers.GlobalAveragePooling2D(name=f"tap{i}_pool")(m) for i, m in enumerate(maps)]
    return pooled[0] if len(pooled) == 1 else keras.layers.Concatenate(name="tap_concat")(pooled)


def serving_model(detector: keras.Model, features: bool = False) -> keras.Model:
    """A Keras model uint8 [N, S, S, 3] -> float32 P(fake) [N] sharing ``detector``'s weights; ``features``: a dict
    ``{"probability": [N], "features": [N, D]}`` (the stage-pooled features, module docstring)."""
    size = int(detector.inputs[0].shape[1])
    images = keras.Input((size, size, 3), dtype="uint8", name=INPUT_NAME)
    pixels = keras.layers.Identity(name="to_float")(keras.ops.cast(images, "float32"))
    _, logits = detector(pixels, training=False)
    probability = _Probability(name=OUTPUT_NAME)(logits)
    if not features:
        return keras.Model(images, probability, name=f"{detector.name}_serving")
    pooled = keras.layers.Identity(name=FEATURES_NAME)(_pooled_taps(detector, pixels))
    outputs = {OUTPUT_NAME: probability, FEATURES_NAME: pooled}
    return keras.Model(images, outputs, name=f"{detector.name}_serving")
