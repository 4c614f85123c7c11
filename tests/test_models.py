"""Tests for ltw_tf.models: backbone registry, detector f(theta), weight-aware net p(w), exact-BN wiring.

Everything is built with weights=None or a local file (never Keras "imagenet": that downloads; Lite's offline
ImageNet weights are tested in test_pretrained.py). Only EfficientNet-B0 is built at full size (224 px, ~2 s); the
other registry entries are built at 96 px just to read their channel count.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from ltw_tf.models import BACKBONES, build_backbone, build_detector, build_weight_net
from ltw_tf.models.detector import feature_shape

SMALL = 32  # tiny backbone: three stride-2 convs -> 4 x 4 x 32 feature map


def _n_trainable(model: keras.Model) -> int:
    return int(sum(np.prod(v.shape) for v in model.trainable_variables))


def _expected_weight_net_params(channels: int) -> int:
    """Trainable parameters of p(w) at C input channels, counted from the architecture (paper Fig. 2).

    Block(c_in -> c_out): 3x3 depthwise conv, no bias (9 c_in) + BN gamma/beta (2 c_in)
                          + 1x1 conv, no bias (c_in c_out) + BN gamma/beta (2 c_out).
    Two blocks C -> C/2 -> C/4, global average pool, dropout (no params), Dense(1) with bias (C/4 + 1).
    BN moving mean/variance are non-trainable and not counted.
    """

    def block(c_in: int, c_out: int) -> int:
        return 9 * c_in + 2 * c_in + c_in * c_out + 2 * c_out

    c2, c4 = channels // 2, channels // 4
    return block(channels, c2) + block(c2, c4) + (c4 + 1)


def _bn_layers(model: keras.Model) -> list[keras.layers.BatchNormalization]:
    return [
        layer
        for layer in model._flatten_layers(include_self=False, recursive=True)
        if isinstance(layer, keras.layers.BatchNormalization)
    ]


@pytest.fixture(scope="module")
def b0_detector() -> keras.Model:
    return build_detector("efficientnet_b0", 224, weights=None)


# --- detector -------------------------------------------------------------------------------------


def test_tiny_detector_returns_features_and_logit_shapes():
    detector = build_detector("tiny", SMALL, weights=None)
    images = np.random.default_rng(0).uniform(0, 255, (3, SMALL, SMALL, 3)).astype("float32")
    features, logit = detector(images, training=False)
    assert tuple(features.shape) == (3, 4, 4, BACKBONES["tiny"].channels)
    assert tuple(logit.shape) == (3, 1)
    assert feature_shape(detector) == (4, 4, BACKBONES["tiny"].channels)
    assert [tuple(t.shape) for t in detector.outputs] == [(None, 4, 4, 32), (None, 1)]


def test_detector_logit_is_raw_linear_head_and_probability_is_sigmoid():
    detector = build_detector("tiny", SMALL, weights=None)
    head = detector.get_layer("logit")
    assert head.activation is keras.activations.linear  # a logit, not a probability
    images = np.random.default_rng(1).uniform(0, 255, (4, SMALL, SMALL, 3)).astype("float32")
    features, logit = detector(images, training=False)
    kernel, bias = (v.numpy() for v in head.weights)
    pooled = features.numpy().mean(axis=(1, 2))  # global average pool
    # float32 dense head vs numpy float32 matmul of 32 terms in another order (oneDNN blocking / SIMD width decide it):
    # ~sqrt(32) ulps; rtol 1e-5 = 84 ulps, atol for logits near 0
    np.testing.assert_allclose(logit.numpy(), pooled @ kernel + bias, rtol=1e-5, atol=1e-6)
    prob = tf.sigmoid(logit).numpy()
    # float32 sigmoid vs numpy's float32 formula: ~2 ulps; rtol 1e-6 = 8.4 ulps
    np.testing.assert_allclose(prob, 1.0 / (1.0 + np.exp(-logit.numpy())), rtol=1e-6)
    assert np.all((prob > 0) & (prob < 1))


def test_float64_tiny_detector_gives_float64_outputs():
    detector = build_detector("tiny", SMALL, weights=None, dtype="float64")
    images = np.random.default_rng(2).uniform(0, 255, (2, SMALL, SMALL, 3))
    features, logit = detector(images, training=True)
    assert features.dtype == tf.float64
    assert logit.dtype == tf.float64
    assert all(v.dtype == "float64" for v in detector.weights)


def test_float64_request_for_efficientnet_is_rejected():
    with pytest.raises(ValueError, match="float32 only"):
        build_detector("efficientnet_b0", 224, weights=None, dtype="float64")
    with pytest.raises(ValueError, match="float32 only"):
        build_backbone("efficientnet_b0", 224, weights=None, dtype="float64")


# --- backbone registry ----------------------------------------------------------------------------


def test_unknown_backbone_is_a_value_error_listing_valid_names():
    with pytest.raises(ValueError, match="unknown backbone 'resnet9000'") as err:
        build_backbone("resnet9000", 64)
    for name in BACKBONES:
        assert name in str(err.value)
    with pytest.raises(ValueError, match="unknown backbone"):
        build_detector("resnet9000", 64)


def test_missing_weights_file_is_file_not_found(tmp_path):
    missing = str(tmp_path / "nope.weights.h5")
    with pytest.raises(FileNotFoundError, match="nope.weights.h5"):
        build_backbone("tiny", SMALL, weights=missing)
    with pytest.raises(FileNotFoundError):
        build_detector("tiny", SMALL, weights=missing)


def test_weights_none_string_means_random_init():
    assert build_backbone("tiny", SMALL, weights="none").output_shape == (None, 4, 4, 32)


def test_backbone_weights_file_round_trip(tmp_path):
    path = str(tmp_path / "x.weights.h5")
    source = build_backbone("tiny", SMALL, weights=None)
    # Make the file distinguishable from a fresh random init (BN moving stats start at 0/1 otherwise).
    for v in source.weights:
        v.assign(np.random.default_rng(3).standard_normal(v.shape).astype("float32"))
    source.save_weights(path)

    loaded = build_backbone("tiny", SMALL, weights=path)
    assert len(loaded.weights) == len(source.weights)
    for a, b in zip(source.weights, loaded.weights, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())

    # The detector loads the same file into its backbone.
    detector = build_detector("tiny", SMALL, weights=path)
    backbone = detector.get_layer("tiny")
    for a, b in zip(source.weights, backbone.weights, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_tiny_and_b0_channels_match_registry(b0_detector):
    tiny = build_backbone("tiny", SMALL, weights=None)
    assert tiny.output_shape[-1] == BACKBONES["tiny"].channels
    assert feature_shape(b0_detector)[-1] == BACKBONES["efficientnet_b0"].channels == 1280
    assert feature_shape(b0_detector) == (7, 7, 1280)


@pytest.mark.parametrize("name", ["resnet50", "vgg19", "xception"])
def test_other_backbones_channels_match_registry(name):
    # 96 px: small but above Xception's 71 px minimum; only the channel count (last dim) is checked.
    backbone = build_backbone(name, 96, weights=None)
    assert backbone.output_shape[-1] == BACKBONES[name].channels
    assert backbone.input_shape == (None, 96, 96, 3)


@pytest.mark.parametrize(("name", "width_coefficient"), [("efficientnet_b2", 1.1), ("efficientnet_b4", 1.4)])
def test_larger_efficientnet_channels_match_keras_width_scaling(name, width_coefficient):
    # Building B2/B4 takes 3-6 s on 2 CPU cores, so derive their last width without building: Keras'
    # EfficientNet top conv has round_filters(1280) channels (keras/src/applications/efficientnet.py).
    filters = 1280 * width_coefficient
    rounded = max(8, int(filters + 4) // 8 * 8)
    if rounded < 0.9 * filters:
        rounded += 8
    assert BACKBONES[name].channels == rounded
    assert BACKBONES["efficientnet_b0"].channels == 1280


def test_lite0_is_b0_without_squeeze_excite_and_with_relu6():
    # EfficientNet-Lite0 = B0's convolutions exactly, minus every squeeze-and-excitation layer, ReLU6 for swish.
    def convs(model):
        return {
            layer.name: tuple(layer.kernel.shape)
            for layer in model._flatten_layers(include_self=False)
            if isinstance(layer, (keras.layers.Conv2D, keras.layers.DepthwiseConv2D))
        }

    b0 = build_backbone("efficientnet_b0", SMALL, weights=None)
    lite = build_backbone("efficientnet_lite0", SMALL, weights=None)
    b0_convs = convs(b0)
    assert convs(lite) == {name: shape for name, shape in b0_convs.items() if "_se_" not in name}
    assert len(b0_convs) - len(convs(lite)) == 2 * 16  # one SE squeeze + excite pair per MBConv block
    activations = {getattr(layer, "activation", None) for layer in lite._flatten_layers(include_self=False)}
    assert keras.activations.relu6 in activations
    assert not activations & {keras.activations.silu, keras.activations.swish, keras.activations.sigmoid}
    assert not any(isinstance(layer, keras.layers.Multiply) for layer in lite._flatten_layers(include_self=False))
    assert lite.output_shape[-1] == BACKBONES["efficientnet_lite0"].channels == 1280
    # Lite's own input scaling (x - 127) / 128, not B0's Rescaling + Normalization stem (tests/test_pretrained.py)
    assert not any(isinstance(layer, keras.layers.Normalization) for layer in lite.layers)


# --- weight-aware net p(w) ------------------------------------------------------------------------


def test_weight_net_parameter_count_at_1280_channels():
    net = build_weight_net((7, 7, 1280))
    expected = _expected_weight_net_params(1280)
    # 11520 + 2560 + 819200 + 1280  (block 1: 1280 -> 640)
    # + 5760 + 1280 + 204800 + 640  (block 2: 640 -> 320)
    # + 321                         (Dense(1))
    assert expected == 1_047_361
    assert _n_trainable(net) == expected
    assert 1.02e6 <= expected <= 1.06e6  # paper: ~1.024 M


@pytest.mark.parametrize("channels", [4, 32, 256])
def test_weight_net_parameter_count_follows_architecture_at_other_widths(channels):
    assert _n_trainable(build_weight_net((3, 5, channels))) == _expected_weight_net_params(channels)


def test_weight_net_output_is_a_probability_per_sample():
    net = build_weight_net((7, 7, 1280))
    features = np.random.default_rng(4).standard_normal((3, 7, 7, 1280)).astype("float32") * 5
    for training in (False, True):
        weights = net(features, training=training).numpy()
        assert weights.shape == (3, 1)
        assert np.all((weights > 0) & (weights < 1))


def test_weight_net_on_b0_feature_shape(b0_detector):
    shape = feature_shape(b0_detector)
    assert shape[-1] == BACKBONES["efficientnet_b0"].channels
    net = build_weight_net(shape)
    expected = _expected_weight_net_params(BACKBONES["efficientnet_b0"].channels)
    assert _n_trainable(net) == expected == 1_047_361


def test_weight_net_rejects_too_few_channels():
    with pytest.raises(ValueError, match="at least 4"):
        build_weight_net((4, 4, 3))


# --- exact BN moments -----------------------------------------------------------------------------


def test_every_bn_layer_has_exact_moments(b0_detector):
    models = {
        "tiny detector": build_detector("tiny", SMALL, weights=None),
        "b0 detector": b0_detector,
        "weight net": build_weight_net((7, 7, 1280)),
    }
    for what, model in models.items():
        bns = _bn_layers(model)
        assert bns, f"{what}: no BatchNormalization layer found"
        missing = [layer.name for layer in bns if "_moments" not in layer.__dict__]
        assert not missing, f"{what}: BN layers without exact moments: {missing}"
        # The override is per instance; the saved layer class stays stock Keras.
        assert all(type(layer) is keras.layers.BatchNormalization for layer in bns)
    assert len(_bn_layers(b0_detector)) == 49
    assert len(_bn_layers(models["weight net"])) == 4


def test_bn_momentum_sets_every_backbone_batch_norm():
    from ltw_tf.config import load_config
    from ltw_tf.study import settings_hash

    def momenta(detector):
        return {
            layer.momentum for layer in detector._flatten_layers() if isinstance(layer, keras.layers.BatchNormalization)
        }

    assert momenta(build_detector("efficientnet_b0", 32)) == {0.99}  # Keras' own
    assert momenta(build_detector("efficientnet_b0", 32, bn_momentum=0.9)) == {0.9}
    with pytest.raises(ValueError, match=r"model.bn_momentum must be in \[0, 1\), got 1.0"):
        build_detector("tiny", 16, bn_momentum=1.0)
    # what a run learns: a benchmark does not reuse a run trained with another momentum
    assert settings_hash(load_config(None, {"model.bn_momentum": 0.9})) != settings_hash(load_config(None))
