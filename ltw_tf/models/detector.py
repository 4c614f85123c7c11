"""The detector f(theta): backbone -> feature map F -> global average pool -> Dense(1) -> logit.

It returns ``(F, logit)``: F feeds the weight-aware net (as a constant), the logit the losses. The probability
of *fake* is ``sigmoid(logit)``; labels are 0 = real, 1 = fake. This is the only model that is exported.
"""

from __future__ import annotations

import keras

from ltw_tf.models.activations import use_plain_swish
from ltw_tf.models.backbones import build_backbone
from ltw_tf.models.exact_bn import use_exact_moments


def build_detector(
    backbone: str = "efficientnet_b0",
    image_size: int = 224,
    weights: str | None = None,
    dtype: str | None = None,
    bn_momentum: float | None = None,
    graph: str | None = None,
) -> keras.Model:
    """Build f(theta) taking 0-255 RGB images of ``image_size`` and returning ``(features, logit)``.

    BN layers get exact second-order moments (``exact_bn``) so the meta step differentiates correctly, and swish
    is plain ``x * sigmoid(x)`` (``activations``: cheaper to differentiate twice than ``tf.nn.silu``).
    ``bn_momentum`` (None: the backbone's own) sets every BN layer's moving-statistics momentum: a short run from
    random init needs fast-moving statistics (0.9), or inference mode sees stale ones (docs/DESIGN.md).
    ``graph``: the backbone's Keras graph, "plain" | "imagenet" (None: from ``weights``; ``backbones``).
    """
    if bn_momentum is not None and not 0.0 <= bn_momentum < 1.0:
        raise ValueError(f"model.bn_momentum must be in [0, 1), got {bn_momentum}")
    base = build_backbone(backbone, image_size, weights, dtype=dtype, graph=graph)
    if bn_momentum is not None:
        for layer in base._flatten_layers(include_self=False):
            if isinstance(layer, keras.layers.BatchNormalization):
                layer.momentum = float(bn_momentum)
    inputs = keras.Input((image_size, image_size, 3), dtype=dtype, name="image")
    features = base(inputs)
    pooled = keras.layers.GlobalAveragePooling2D(dtype=dtype, name="pool")(features)
    logit = keras.layers.Dense(1, dtype=dtype, name="logit")(pooled)
    return use_plain_swish(use_exact_moments(keras.Model(inputs, (features, logit), name=f"detector_{backbone}")))


def batch_norm_momentum(detector: keras.Model) -> float | None:
    """The momentum every BN layer of ``detector`` shares (``bn_momentum``, else the backbone's own), or None when
    they differ or there is none; p(w) is built with it, so its moving statistics follow the run's setting."""
    momenta = {
        float(layer.momentum)
        for layer in detector._flatten_layers(include_self=False)
        if isinstance(layer, keras.layers.BatchNormalization)
    }
    return momenta.pop() if len(momenta) == 1 else None


def feature_shape(detector: keras.Model) -> tuple[int, int, int]:
    """(h, w, C) of the detector's feature map, for building the weight net."""
    return tuple(detector.outputs[0].shape[1:])
