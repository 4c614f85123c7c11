"""EfficientNet-Lite0/1/2 (Tan & Le's Lite recipe): B0's MBConv blocks with ReLU6, no squeeze-and-excitation,
a fixed 32-channel stem and 1280-channel head, unscaled first and last stage repeats, and input ``(x - 127) / 128``.

The graph is the same whatever the weights (random init, ImageNet, a file), so every loader that rebuilds it
with ``weights=None`` gets the identical model. Blocks and layer names come from Keras' own EfficientNet builder
(``block1a_dwconv`` ...), so B0 and Lite0 name their shared convolutions alike.
"""

from __future__ import annotations

import math

import keras

# name -> (width coefficient, depth coefficient); default resolutions 224 / 240 / 260 (the Lite paper's)
LITE_SCALING = {"efficientnet_lite0": (1.0, 1.0), "efficientnet_lite1": (1.0, 1.1), "efficientnet_lite2": (1.1, 1.2)}
STEM_FILTERS, HEAD_FILTERS = 32, 1280  # fixed in Lite (not width-scaled)
DROP_CONNECT_RATE = 0.2  # Keras' EfficientNet default (stochastic depth, training only)


def round_filters(filters: int, width: float, divisor: int = 8) -> int:
    """Width scaling rounded to a multiple of 8, never more than 10% down (EfficientNet's round_filters)."""
    scaled = filters * width
    rounded = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
    return int(rounded + divisor if rounded < 0.9 * scaled else rounded)


def lite_blocks_args(width: float, depth: float) -> list[dict]:
    """Keras' B0 stage table, width-scaled, depth-scaled except the first and last stage, SE removed."""
    from keras.src.applications import efficientnet

    stages = efficientnet.DEFAULT_BLOCKS_ARGS
    out = []
    for i, stage in enumerate(stages):
        fixed = i in (0, len(stages) - 1)
        repeats = stage["repeats"] if fixed else int(math.ceil(depth * stage["repeats"]))
        filters_in = STEM_FILTERS if i == 0 else round_filters(stage["filters_in"], width)
        filters_out = round_filters(stage["filters_out"], width)
        out.append(dict(stage, repeats=repeats, filters_in=filters_in, filters_out=filters_out, se_ratio=0.0))
    return out


def build_efficientnet_lite(name: str, input_shape=(224, 224, 3)) -> keras.Model:
    """The Lite backbone ``name`` (no top): image of 0-255 RGB pixels -> last feature map (HEAD_FILTERS channels)."""
    from keras.src.applications import efficientnet, imagenet_utils

    width, depth = LITE_SCALING[name]
    layers, conv_init = keras.layers, efficientnet.CONV_KERNEL_INITIALIZER
    inputs = keras.Input(input_shape)
    # (x - 127) / 128 as x * 2^-7 - 127 * 2^-7: both terms exact in float32, so exact for integer pixels
    x = layers.Rescaling(1.0 / 128.0, offset=-127.0 / 128.0, name="stem_rescaling")(inputs)
    x = layers.ZeroPadding2D(imagenet_utils.correct_pad(x, 3), name="stem_conv_pad")(x)  # TF "same", stride 2
    x = layers.Conv2D(STEM_FILTERS, 3, 2, "valid", use_bias=False, kernel_initializer=conv_init, name="stem_conv")(x)
    x = layers.BatchNormalization(name="stem_bn")(x)  # epsilon 1e-3, the TF checkpoints' value
    x = layers.Activation("relu6", name="stem_activation")(x)
    stages = lite_blocks_args(width, depth)
    total, b = float(sum(stage["repeats"] for stage in stages)), 0
    for i, stage in enumerate(stages):
        args = dict(stage)
        for j in range(args.pop("repeats")):
            if j > 0:
                args.update(strides=1, filters_in=args["filters_out"])
            x = efficientnet.block(
                x, "relu6", DROP_CONNECT_RATE * b / total, name=f"block{i + 1}{chr(j + 97)}_", **args
            )
            b += 1
    x = layers.Conv2D(HEAD_FILTERS, 1, padding="same", use_bias=False, kernel_initializer=conv_init, name="top_conv")(x)
    x = layers.BatchNormalization(name="top_bn")(x)
    x = layers.Activation("relu6", name="top_activation")(x)
    return keras.Model(inputs, x, name=name)
