"""Tests for ltw_tf.losses: per-sample BCE, the ICC loss (Eq. 7-10), focal loss and the Eq. 1/3/11 loss."""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from ltw_tf.losses import bce_per_sample, detection_loss, focal_per_sample, icc_loss

LN3, LN9 = math.log(3.0), math.log(9.0)


def _np_sigmoid(x):
    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=np.float64)))


def _np_bce(labels, logits):
    p = _np_sigmoid(logits)
    y = np.asarray(labels, dtype=np.float64)
    return -(y * np.log(p) + (1 - y) * np.log(1 - p))


def _np_icc(labels, logits):
    s = _np_sigmoid(logits)
    y = np.asarray(labels)
    real, fake = s[y == 0], s[y == 1]
    if len(real) == 0 or len(fake) == 0:
        return 0.0
    centre = real.mean()
    return float(np.mean((real - centre) ** 2) - np.mean((fake - centre) ** 2))


# --- BCE ------------------------------------------------------------------------------------------


def test_bce_per_sample_matches_numpy():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 16)
    logits = rng.normal(0, 3, 16)
    got = bce_per_sample(tf.constant(labels), tf.constant(logits, tf.float64))
    assert got.shape == (16,)
    assert got.dtype == tf.float64
    np.testing.assert_allclose(got.numpy(), _np_bce(labels, logits), rtol=1e-12)


def test_bce_per_sample_flattens_column_inputs_and_is_stable_for_large_logits():
    labels = tf.constant([[0.0], [1.0], [0.0], [1.0]])
    logits = tf.constant([[100.0], [100.0], [-100.0], [-100.0]])
    got = bce_per_sample(labels, logits).numpy()
    assert got.shape == (4,)
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got, [100.0, 0.0, 0.0, 100.0], atol=1e-6)


# --- ICC (Eq. 7-10) -------------------------------------------------------------------------------


def test_icc_loss_hand_computed_batch():
    # Logits chosen so the probabilities s = sigmoid(logit) are exact:
    #   sigmoid(-ln 3) = 1/4, sigmoid(0) = 1/2, sigmoid(ln 3) = 3/4, sigmoid(ln 9) = 9/10.
    # Batch (label, s): (real, 0.25), (fake, 0.75), (real, 0.5), (fake, 0.9).
    # Eq. 8  C_real = (0.25 + 0.5) / 2 = 0.375
    # Eq. 7  L_pos  = ((0.25 - 0.375)^2 + (0.5 - 0.375)^2) / 2 = (0.015625 + 0.015625) / 2 = 0.015625
    # Eq. 9  L_neg  = ((0.75 - 0.375)^2 + (0.9 - 0.375)^2) / 2 = (0.140625 + 0.275625) / 2 = 0.208125
    # Eq. 10 L_icc  = L_pos - L_neg = 0.015625 - 0.208125 = -0.1925
    labels = tf.constant([0, 1, 0, 1])
    logits = tf.constant([-LN3, LN3, 0.0, LN9], tf.float64)
    got = icc_loss(labels, logits)
    assert got.shape == ()
    np.testing.assert_allclose(got.numpy(), -0.1925, rtol=0, atol=1e-12)
    np.testing.assert_allclose(got.numpy(), _np_icc(labels.numpy(), logits.numpy()), atol=1e-12)


def test_icc_loss_matches_numpy_on_random_batches():
    rng = np.random.default_rng(1)
    for _ in range(5):
        labels = rng.integers(0, 2, 12)
        labels[:2] = [0, 1]  # both classes present
        logits = rng.normal(0, 2, 12)
        got = icc_loss(tf.constant(labels), tf.constant(logits, tf.float64)).numpy()
        np.testing.assert_allclose(got, _np_icc(labels, logits), atol=1e-12)


@pytest.mark.parametrize("label", [0, 1])
def test_icc_loss_is_zero_with_finite_gradient_for_one_class_batch(label):
    labels = tf.constant([label] * 4)
    logits = tf.Variable([-1.0, 0.5, 2.0, 3.0], dtype=tf.float64)
    with tf.GradientTape() as tape:
        loss = icc_loss(labels, logits)
    assert loss.numpy() == 0.0
    grad = tape.gradient(loss, logits).numpy()
    assert np.all(np.isfinite(grad))
    np.testing.assert_array_equal(grad, 0.0)


def test_icc_loss_decreases_as_fakes_move_away_from_real_centre():
    labels = tf.constant([0, 0, 0, 1, 1, 1])
    real_logits = [-2.0, -1.5, -1.0]  # C_real ~ 0.18, fixed: only the fakes move
    values = []
    for shift in [-1.0, 0.0, 1.0, 2.0, 4.0]:
        fake_logits = [shift, shift + 0.5, shift + 1.0]
        values.append(float(icc_loss(labels, tf.constant(real_logits + fake_logits, tf.float64))))
    assert all(a > b for a, b in zip(values, values[1:], strict=False)), values


def test_icc_loss_increases_as_reals_spread_around_their_centre():
    labels = tf.constant([0, 0, 1, 1])
    tight = icc_loss(labels, tf.constant([-0.1, 0.1, 3.0, 3.0], tf.float64))
    loose = icc_loss(labels, tf.constant([-2.0, 2.0, 3.0, 3.0], tf.float64))
    assert float(loose) > float(tight)


# --- Eq. 1 / 3 / 11 -------------------------------------------------------------------------------


def test_detection_loss_with_weights_is_weighted_mean_bce_plus_lambda_icc():
    rng = np.random.default_rng(2)
    labels = np.array([0, 1, 0, 1, 1, 0])
    logits = rng.normal(0, 2, 6)
    weights = rng.uniform(0.05, 0.95, (6, 1))  # the weight net's (B, 1) output
    lam = 0.01
    got = detection_loss(tf.constant(labels), tf.constant(logits[:, None]), lam, tf.constant(weights))
    expected = np.mean(_np_bce(labels, logits) * weights[:, 0]) + lam * _np_icc(labels, logits)
    assert got.shape == ()
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-12)


def test_detection_loss_without_weights_and_without_icc():
    rng = np.random.default_rng(3)
    labels = np.array([0, 1, 1, 0])
    logits = rng.normal(0, 2, 4)
    bce = _np_bce(labels, logits)
    unweighted = detection_loss(tf.constant(labels), tf.constant(logits), 0.5)
    np.testing.assert_allclose(unweighted.numpy(), bce.mean() + 0.5 * _np_icc(labels, logits), rtol=1e-12)
    no_icc = detection_loss(tf.constant(labels), tf.constant(logits), 0.0)
    np.testing.assert_allclose(no_icc.numpy(), bce.mean(), rtol=1e-12)
    ones = detection_loss(tf.constant(labels), tf.constant(logits), 0.0, tf.ones(4, tf.float64))
    np.testing.assert_allclose(ones.numpy(), bce.mean(), rtol=1e-12)


# --- focal loss -----------------------------------------------------------------------------------


def test_keras_focal_defaults_have_no_class_balancing():
    # keras.losses.BinaryFocalCrossentropy: apply_class_balancing=False by default, so its alpha (0.25)
    # is unused and alpha_t = 1 for both classes; with balancing on, alpha_t = alpha for y = 1 and
    # 1 - alpha for y = 0.
    loss = keras.losses.BinaryFocalCrossentropy()
    assert loss.apply_class_balancing is False
    assert loss.alpha == 0.25
    assert loss.gamma == 2.0


@pytest.mark.parametrize("gamma", [0.0, 1.0, 2.0, 3.5])
def test_focal_per_sample_matches_closed_form(gamma):
    # Keras' form (from_logits): p = sigmoid(o), p_t = y p + (1 - y)(1 - p),
    # FL = -alpha_t (1 - p_t)^gamma log(p_t) with alpha_t = 1 (no class balancing by default).
    rng = np.random.default_rng(4)
    labels = rng.integers(0, 2, 10).astype(np.float32)
    logits = rng.normal(0, 2.5, 10).astype(np.float32)
    got = focal_per_sample(tf.constant(labels), tf.constant(logits), gamma=gamma)
    assert got.shape == (10,)
    p = _np_sigmoid(logits)
    p_t = labels * p + (1 - labels) * (1 - p)
    alpha_t = 1.0
    expected = -alpha_t * (1 - p_t) ** gamma * np.log(p_t)
    np.testing.assert_allclose(got.numpy(), expected, rtol=2e-5, atol=1e-6)
    if gamma == 0.0:  # no focusing: plain BCE
        np.testing.assert_allclose(got.numpy(), bce_per_sample(labels, logits).numpy(), rtol=2e-5, atol=1e-6)


def test_focal_is_below_bce_for_well_classified_samples():
    labels = tf.constant([0.0, 0.0, 1.0, 1.0])
    logits = tf.constant([-3.0, -1.0, 1.0, 3.0])  # all on the right side: p_t in {0.73, 0.95}
    focal = focal_per_sample(labels, logits).numpy()
    bce = bce_per_sample(labels, logits).numpy()
    assert np.all(focal < bce)
    assert np.all(focal < 0.1 * bce)  # (1 - p_t)^2 <= 0.073: easy samples are strongly down-weighted
    # A badly misclassified sample keeps almost all of its BCE.
    hard = focal_per_sample(tf.constant([1.0]), tf.constant([-4.0])).numpy()
    hard_bce = bce_per_sample(tf.constant([1.0]), tf.constant([-4.0])).numpy()
    assert hard[0] > 0.95 * hard_bce[0]


def test_focal_per_sample_keeps_float64():
    got = focal_per_sample(tf.constant([0.0, 1.0], tf.float64), tf.constant([0.3, -1.0], tf.float64))
    assert got.dtype == tf.float64


def test_icc_is_named_as_in_the_paper():
    # The paper's "Intra-Class Compact (ICC) Loss"; Eq. 7 is L_positive, Eq. 8 the real centre C_real.
    doc = icc_loss.__doc__
    assert "Intra-Class Compact" in doc
    assert "(s - C_real)^2 | real) (Eq. 7)" in doc and "C_real = mean(s | real) (Eq. 8)" in doc
