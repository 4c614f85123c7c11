"""Second derivatives through BatchNormalization: stock Keras moments are wrong, use_exact_moments is right."""

import keras
import numpy as np
import tensorflow as tf
from margins import assert_close, assert_within

from ltw_tf.models.exact_bn import use_exact_moments


def _bn_model():
    inputs = keras.Input((5,), dtype="float64")
    x = keras.layers.Dense(4, dtype="float64")(inputs)
    x = keras.layers.BatchNormalization(dtype="float64")(x)
    return keras.Model(inputs, keras.layers.Dense(1, dtype="float64")(x))


def _hvp_error(model) -> float:
    """Relative error of a Hessian-vector product (double tape) against central differences of the gradient."""
    rng = np.random.default_rng(0)
    x = tf.constant(rng.standard_normal((8, 5)))
    theta = [tf.identity(v.value) for v in model.trainable_variables]
    state = [tf.identity(v.value) for v in model.non_trainable_variables]
    direction = [tf.constant(rng.standard_normal(t.shape)) for t in theta]

    def grad(params):
        with tf.GradientTape() as tape:
            tape.watch(params)
            out, _ = model.stateless_call(params, state, x, training=True)
            loss = tf.reduce_sum(tf.tanh(out) ** 2)
        return tape.gradient(loss, params)

    with tf.GradientTape() as outer:
        outer.watch(theta)
        g = grad(theta)
        gv = tf.add_n([tf.reduce_sum(a * b) for a, b in zip(g, direction)])
    hvp = outer.gradient(gv, theta)
    eps = 1e-6
    gp = grad([t + eps * d for t, d in zip(theta, direction)])
    gm = grad([t - eps * d for t, d in zip(theta, direction)])
    numeric = np.concatenate([((a - b) / (2 * eps)).numpy().ravel() for a, b in zip(gp, gm)])
    analytic = np.concatenate([h.numpy().ravel() for h in hvp])
    return float(np.linalg.norm(numeric - analytic) / np.linalg.norm(numeric))


def test_stock_keras_bn_second_derivative_is_wrong():
    # If this starts failing, Keras fixed tf.nn.moments' stop_gradient and exact_bn may be retired.
    assert _hvp_error(_bn_model()) > 1e-2  # a missing term: O(1) relative, 1e4x the bound below


def test_exact_moments_second_derivative_matches_finite_differences():
    # float64 central differences of the gradient, eps 1e-6: truncation ~1e-12, rounding ~eps64 |g| / eps ~ 1e-10
    # relative. A fixed 1e-6 is safe: kernel choices (SIMD width, oneDNN) reorder float64 sums only (~1e-16).
    assert_within("hvp relative error", _hvp_error(use_exact_moments(_bn_model())), 1e-6)


def test_exact_moments_keep_forward_values():
    stock = _bn_model()
    exact = use_exact_moments(keras.models.clone_model(stock))
    exact.set_weights(stock.get_weights())
    x = np.random.default_rng(1).standard_normal((8, 5))
    # float64, O(1) values: two formulas for the same moments (E[(x - mean)^2] vs Keras') differ by a few float64
    # ulps of the moments (eps64 = 2.2e-16); rtol 1e-12 is ~4500 ulps, far below any real formula difference
    # (a wrong epsilon or biased variance moves values by >= 1e-3), and ~1e4 above any summation-order effect.
    assert_close("forward", exact(x, training=True), stock(x, training=True), rtol=1e-12)
    for i, (a, b) in enumerate(zip(exact.get_weights()[2:6], stock.get_weights()[2:6])):
        assert_close(f"moving statistics {i}", a, b, rtol=1e-12)
