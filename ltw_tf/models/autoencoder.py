"""The autoencoders of the two autoencoder baselines: ForensicTransfer (Cozzolino et al. 2018) and Multi-task's
Y-shaped autoencoder (Nguyen et al. 2019).

Both encode an image into a latent map h whose channels are split into a real half h_0 and a fake half h_1;
a_c = mean |h_c| is the half's activation (FT Eq. 1), and a training step zeroes the half that does not match
the label before decoding (FT's selection block). The scoring model (the "detector" of these methods: what is
checkpointed as ``detector``, evaluated and exported) is encoder -> (h, logit) with logit = log a_1 - log a_0,
so sigmoid(logit) = a_1 / (a_0 + a_1): the relative activation of the fake half, > 0.5 exactly when the papers'
argmax rule says fake. Layer sizes follow the official Multi-task (ClassNSeg) code; docs/DESIGN.md lists what
each paper states and what we chose.
"""

from __future__ import annotations

import keras

LATENT_CHANNELS = 128  # h_0 = channels [0, 64), h_1 = [64, 128)
DOWNSAMPLING = 16  # four stride-2 convolutions: the image side must be a multiple of this
_ENCODER = ((8, 1), (8, 2), (16, 1), (16, 2), (32, 1), (32, 2), (64, 1), (64, 2), (LATENT_CHANNELS, 1))
_SHARED = ((64, 1), (64, 2), (32, 1), (32, 2))  # latent -> S/4
_BRANCH = ((16, 1), (16, 2), (8, 1), (8, 2))  # S/4 -> S, then a 3x3 output layer
_EPS = 1e-6  # keeps log a_c finite when a half is all zeros (a dead ReLU map); a_c of a trained model is ~0-1


def _init():
    return keras.initializers.RandomNormal(0.0, 0.02)  # the official code's N(0, 0.02) convolutions


BN_MOMENTUM = 0.9  # PyTorch BatchNorm2d's default (its momentum 0.1 = Keras' 0.9)


def _bn(name: str, momentum: float) -> keras.layers.Layer:
    # eps 1e-5 as PyTorch's; gamma ~ N(0.5, 0.02) as in the official code
    return keras.layers.BatchNormalization(
        momentum=momentum, epsilon=1e-5, gamma_initializer=keras.initializers.RandomNormal(0.5, 0.02), name=name
    )


def _conv_bn_relu(x, filters: int, stride: int, name: str, transpose: bool = False, momentum: float = BN_MOMENTUM):
    conv = keras.layers.Conv2DTranspose if transpose else keras.layers.Conv2D
    x = conv(filters, 3, strides=stride, padding="same", kernel_initializer=_init(), name=f"{name}_conv")(x)
    return keras.layers.ReLU(name=f"{name}_relu")(_bn(f"{name}_bn", momentum)(x))


def check_image_size(image_size: int) -> None:
    if image_size < DOWNSAMPLING or image_size % DOWNSAMPLING:
        raise ValueError(
            f"the autoencoder methods need model.image_size a multiple of {DOWNSAMPLING} (got {image_size})"
        )


def half_activations(latent):
    """(a_0, a_1), each (N,): mean absolute value of the real and the fake half of h (FT Eq. 1)."""
    half = latent.shape[-1] // 2
    a0 = keras.ops.mean(keras.ops.abs(latent[..., :half]), axis=(1, 2, 3))
    a1 = keras.ops.mean(keras.ops.abs(latent[..., half:]), axis=(1, 2, 3))
    return a0, a1


def select_half(latent, labels):
    """h with the half that does not match the label zeroed (the selection block fed to the decoder)."""
    half = latent.shape[-1] // 2
    fake = keras.ops.reshape(keras.ops.cast(labels, latent.dtype), (-1, 1, 1, 1))
    return keras.ops.concatenate([latent[..., :half] * (1 - fake), latent[..., half:] * fake], axis=-1)


@keras.saving.register_keras_serializable(package="ltw_tf")
class RelativeActivation(keras.layers.Layer):
    """h -> logit (N, 1) = log(a_1 + eps) - log(a_0 + eps): sigmoid of it is the fake half's share a_1 / (a_0 + a_1)."""

    def call(self, latent):
        a0, a1 = half_activations(latent)
        return keras.ops.reshape(keras.ops.log(a1 + _EPS) - keras.ops.log(a0 + _EPS), (-1, 1))


def build_scorer(image_size: int, name: str, bn_momentum: float | None = None) -> keras.Model:
    """The encoder with its activation score: 0-255 RGB (N, S, S, 3) -> (h (N, S/16, S/16, 128), logit (N, 1)).

    Pixels are scaled to [-1, 1] inside (the reconstruction target, see ``scaled``). ``bn_momentum`` (None:
    ``BN_MOMENTUM``) is the BN layers' moving-statistics momentum (``model.bn_momentum``).
    """
    check_image_size(image_size)
    if bn_momentum is not None and not 0.0 <= bn_momentum < 1.0:
        raise ValueError(f"model.bn_momentum must be in [0, 1), got {bn_momentum}")
    momentum = BN_MOMENTUM if bn_momentum is None else float(bn_momentum)
    inputs = keras.Input((image_size, image_size, 3), name="image")
    x = keras.layers.Rescaling(1 / 127.5, offset=-1.0, name="scale")(inputs)
    for i, (filters, stride) in enumerate(_ENCODER):
        x = _conv_bn_relu(x, filters, stride, f"enc{i}", momentum=momentum)
    logit = RelativeActivation(name="logit")(x)
    return keras.Model(inputs, (x, logit), name=name)


def scaled(images):
    """0-255 pixels -> [-1, 1], the reconstruction target (the decoders end in tanh)."""
    return keras.ops.cast(images, "float32") / 127.5 - 1.0


def _branch(x, out_channels: int, prefix: str):
    for i, (filters, stride) in enumerate(_BRANCH):
        x = _conv_bn_relu(x, filters, stride, f"{prefix}{i}", transpose=True)
    return keras.layers.Conv2DTranspose(
        out_channels, 3, padding="same", kernel_initializer=_init(), name=f"{prefix}_out"
    )(x)


def build_decoder(latent_shape: tuple[int, int, int], heads: dict[str, int], name: str) -> keras.Model:
    """Decoder from the selected latent: a shared trunk to S/4, then one branch per head to S x S.

    ``heads`` maps an output name to its channels: ``{"reconstruction": 3}`` is ForensicTransfer's decoder
    (tanh output), ``{"segmentation": 2, "reconstruction": 3}`` Multi-task's Y-shaped one (segmentation logits).
    Returns a model with one output per head, in the order given.
    """
    latent = keras.Input(latent_shape, name="latent")
    x = latent
    for i, (filters, stride) in enumerate(_SHARED):
        x = _conv_bn_relu(x, filters, stride, f"shared{i}", transpose=True)
    outputs = []
    for head, channels in heads.items():
        y = _branch(x, channels, head)
        outputs.append(keras.layers.Activation("tanh", name=f"{head}_tanh")(y) if head == "reconstruction" else y)
    return keras.Model(latent, outputs[0] if len(outputs) == 1 else tuple(outputs), name=name)
