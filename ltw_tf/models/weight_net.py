"""The weight-aware network p(w): per-sample weight in (0, 1) from the detector's feature map.

Two depthwise-separable blocks C -> C/2 -> C/4 (3x3 depthwise, BN, ReLU, 1x1 conv, BN, ReLU), global average
pool, dropout 0.5, Dense(1), sigmoid (paper Fig. 2; ~1.05 M parameters at C = 1280). Its input is always
``stop_gradient(F)``: the weight depends on w only.
"""

from __future__ import annotations

import keras

from ltw_tf.models.exact_bn import use_exact_moments


def _separable_block(x, out_channels: int, name: str, dtype, momentum: float):
    x = keras.layers.DepthwiseConv2D(3, padding="same", use_bias=False, dtype=dtype, name=f"{name}_dw")(x)
    x = keras.layers.BatchNormalization(momentum=momentum, dtype=dtype, name=f"{name}_dw_bn")(x)
    x = keras.layers.ReLU(dtype=dtype, name=f"{name}_dw_relu")(x)
    x = keras.layers.Conv2D(out_channels, 1, use_bias=False, dtype=dtype, name=f"{name}_pw")(x)
    x = keras.layers.BatchNormalization(momentum=momentum, dtype=dtype, name=f"{name}_pw_bn")(x)
    return keras.layers.ReLU(dtype=dtype, name=f"{name}_pw_relu")(x)


def build_weight_net(
    feature_shape: tuple[int, int, int],
    dropout: float = 0.5,
    dtype: str | None = None,
    bn_momentum: float | None = None,
) -> keras.Model:
    """Build p(w) for feature maps of shape (h, w, C); outputs a (B, 1) weight in (0, 1).

    ``bn_momentum``: its BN layers' moving-statistics momentum, the run's ``model.bn_momentum`` (the detector's,
    ``detector.batch_norm_momentum``); None: Keras' 0.99.
    """
    channels = feature_shape[-1]
    if channels < 4:
        raise ValueError(f"weight net needs at least 4 feature channels, got {channels}")
    if bn_momentum is not None and not 0.0 <= bn_momentum < 1.0:
        raise ValueError(f"bn_momentum must be in [0, 1), got {bn_momentum}")
    momentum = 0.99 if bn_momentum is None else float(bn_momentum)
    inputs = keras.Input(feature_shape, dtype=dtype, name="features")
    x = _separable_block(inputs, channels // 2, "block1", dtype, momentum)
    x = _separable_block(x, channels // 4, "block2", dtype, momentum)
    x = keras.layers.GlobalAveragePooling2D(dtype=dtype, name="pool")(x)
    x = keras.layers.Dropout(dropout, dtype=dtype, name="dropout")(x)
    weight = keras.layers.Dense(1, activation="sigmoid", dtype=dtype, name="weight")(x)
    return use_exact_moments(keras.Model(inputs, weight, name="weight_net"))
