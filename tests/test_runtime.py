"""train.graph_optimizer: Grappler on/off per process, and the LTW step computes the same either way."""

import numpy as np
import pytest
import tensorflow as tf

from ltw_tf.config import load_config
from ltw_tf.methods import meta_gradients
from ltw_tf.models import build_detector, build_weight_net
from ltw_tf.models.detector import feature_shape
from ltw_tf.runtime import configure_graph_optimizer
from ltw_tf.study import settings_hash


@pytest.fixture
def restore_grappler():
    yield
    configure_graph_optimizer("on")


def _disabled() -> bool:
    return bool(tf.config.optimizer.get_experimental_options().get("disable_meta_optimizer", False))


def test_modes_set_the_process_option(restore_grappler):
    assert configure_graph_optimizer("off") is False and _disabled()
    assert configure_graph_optimizer("on") is True and not _disabled()
    with pytest.raises(ValueError, match="unknown train.graph_optimizer 'fast'; valid: on, off"):
        configure_graph_optimizer("fast")
    assert load_config(None).train.graph_optimizer == "on"  # TensorFlow's default
    # how a run executes, not what it learns: a benchmark reuses runs across the setting
    assert settings_hash(load_config(None, {"train.graph_optimizer": "on"})) == settings_hash(load_config(None))


def test_ltw_step_is_the_same_with_and_without_grappler(restore_grappler):
    tf.random.set_seed(0)
    detector = build_detector("tiny", image_size=16)
    weight_net = build_weight_net(feature_shape(detector))
    rng = np.random.default_rng(0)
    y = tf.constant([0, 1, 0, 1, 1, 0], tf.float32)
    batch = (tf.constant(rng.uniform(0, 255, (6, 16, 16, 3)).astype(np.float32)), y)
    meta = (tf.constant(rng.uniform(0, 255, (6, 16, 16, 3)).astype(np.float32)), 1 - y)
    grads = {}
    for mode in ("on", "off"):
        configure_graph_optimizer(mode)
        step = tf.function(lambda b, m: meta_gradients(detector, weight_net, b, m, alpha=0.1, beta=1.0, lam=0.5)[:2])
        theta_grads, w_grads = step(batch, meta)
        grads[mode] = [g.numpy() for g in theta_grads + w_grads]
    assert any(np.abs(g).max() > 0 for g in grads["off"][-len(weight_net.trainable_variables) :])
    for on, off in zip(grads["on"], grads["off"]):
        # float32 meta-gradients with and without grappler: other fusions and summation order (oneDNN, SIMD width) over
        # second-order terms: float32 noise of a few hundred ulps at most (1e-5 relative); rtol 1e-4 leaves 10x while a
        # wrong graph differs by O(1); atol for gradients near 0
        np.testing.assert_allclose(off, on, rtol=1e-4, atol=1e-6)
