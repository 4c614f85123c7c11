"""The plain swish used in the meta step: same values and derivatives as Keras' silu, to second order."""

import keras
import numpy as np
import tensorflow as tf

from ltw_tf.models.activations import swish, use_plain_swish
from ltw_tf.models.detector import build_detector


def _derivatives(fn, x):
    with tf.GradientTape() as outer:
        outer.watch(x)
        with tf.GradientTape() as inner:
            inner.watch(x)
            y = fn(x)
        dy = inner.gradient(y, x)
    return y, dy, outer.gradient(dy, x)


def test_plain_swish_matches_silu_to_second_order():
    x = tf.constant(np.linspace(-12, 12, 97), tf.float64)
    for ours, stock in zip(_derivatives(swish, x), _derivatives(keras.activations.silu, x)):
        # float64, two formulas of x s(x) and its derivatives: a few eps64 (2.2e-16) relative; rtol 1e-12 is ~4500 ulps,
        # atol for derivatives crossing 0. Fixed: SIMD width only reorders float64 rounding at ~1e-16
        np.testing.assert_allclose(ours.numpy(), stock.numpy(), rtol=1e-12, atol=1e-15)
    sig = 1 / (1 + np.exp(-x.numpy()))  # d2/dx2 x*s(x) = s(1-s)(2 + x(1-2s)), by hand
    # by hand vs autodiff in float64: at x = 12, 1 - s = 6e-6 is computed from s near 1, a relative error of
    # eps64 / 6e-6 ~ 4e-11 that the product carries: rtol 1e-10 (float64 only, so no kernel dependence)
    np.testing.assert_allclose(
        _derivatives(swish, x)[2].numpy(), sig * (1 - sig) * (2 + x.numpy() * (1 - 2 * sig)), rtol=1e-10, atol=1e-15
    )


def test_efficientnet_detector_uses_plain_swish_with_unchanged_outputs():
    detector = build_detector("efficientnet_b0", 32, weights=None)
    acts = [getattr(layer, "activation", None) for layer in detector._flatten_layers(include_self=False)]
    assert acts.count(swish) == 49 and keras.activations.silu not in acts
    stock = keras.models.clone_model(detector)  # cloning rebuilds from config: swish survives serialisation
    assert [getattr(layer, "activation", None) for layer in stock._flatten_layers(include_self=False)].count(swish)
    for layer in stock._flatten_layers(include_self=False):
        if getattr(layer, "activation", None) is swish:
            layer.activation = keras.activations.silu
    stock.set_weights(detector.get_weights())
    x = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    for a, b in zip(detector(x, training=False), stock(x, training=False)):
        # float32 B0, silu vs x * sigmoid(x): ~1 ulp per activation (oneDNN may fuse silu; the result depends on it and
        # on the SIMD width), through 49 activations and BN layers: rtol 1e-5 = 84 ulps
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6)
    assert use_plain_swish(stock) is stock
