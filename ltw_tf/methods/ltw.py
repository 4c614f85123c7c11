"""Learning to Weight (Eq. 1-6): the pure second-order meta step and the LTW method with its ablations.

``meta_gradients`` is the whole algorithm of one step as a side-effect-free function: weighted meta-train loss
T at theta, virtual SGD update theta' = theta - alpha dT/dtheta recorded for second order, meta-test loss M at
theta' through ``stateless_call``, then G_theta = d(T + beta M)/dtheta and G_w = dM/dw (ALGORITHM.md).
"""

from __future__ import annotations

import keras
import tensorflow as tf

from ltw_tf.data.source import BatchRequest
from ltw_tf.distribute import batch_mean, batch_std, compile_step, cross_replica_sum
from ltw_tf.losses import detection_loss
from ltw_tf.methods.base import Batch, Method, Phase, phase_at, seed_states
from ltw_tf.models.detector import batch_norm_momentum, feature_shape
from ltw_tf.models.weight_net import build_weight_net

_ZERO = tf.UnconnectedGradients.ZERO


def _snapshot(variables) -> list[tf.Tensor]:
    """Current values as plain tensors, so tapes can watch them and nothing is ever assigned."""
    return [tf.identity(v.value) for v in variables]


def meta_step(
    detector: keras.Model,
    weight_net: keras.Model | None,
    batch: Batch,
    meta_batch: Batch | None,
    *,
    alpha: float,
    beta: float,
    lam: float,
    first_order: bool = False,
):
    """One LTW step without side effects.

    Returns ``(theta_grads, w_grads, logs, detector_state, weight_net_state)``; the two states are the
    non-trainable values (BN moving statistics, dropout seeds) produced by the meta-train forward at theta,
    for the caller to assign. ``weight_net=None`` means p == 1 (MLDG, LTW w/o weight-aware); ``beta == 0``
    skips meta-test (and gives zero G_w). ``first_order=True`` cuts the second-order path (the public code's
    bug: G_w is then exactly zero) and exists to show the tests can tell the two apart.

    Inside ``strategy.run`` the batches are shards of the global batch: the losses and gradients returned are
    this replica's shares (they sum to the global ones), the virtual update uses the summed dT/dtheta, and the
    logs are global values.
    """
    images, labels = batch
    theta = _snapshot(detector.trainable_variables)
    det_state = _snapshot(detector.non_trainable_variables)
    w = _snapshot(weight_net.trainable_variables) if weight_net is not None else []
    wn_state = _snapshot(weight_net.non_trainable_variables) if weight_net is not None else []
    weights, new_wn_state = None, wn_state
    meta_loss = tf.zeros([], dtype=theta[0].dtype)
    with tf.GradientTape() as outer:
        outer.watch(theta + w)
        with tf.GradientTape() as inner:
            inner.watch(theta)
            (features, logits), new_det_state = detector.stateless_call(theta, det_state, images, training=True)
            if weight_net is not None:  # p(stop_gradient(F); w): the weight depends on w only
                weights, new_wn_state = weight_net.stateless_call(
                    w, wn_state, tf.stop_gradient(features), training=weight_net.trainable
                )
            train_loss = detection_loss(labels, logits, lam, weights)  # Eq. 1: T(theta, w)
        inner_grads = inner.gradient(train_loss, theta, unconnected_gradients=_ZERO)  # dT/dtheta
        if beta:
            path = [tf.stop_gradient(g) for g in inner_grads] if first_order else inner_grads
            path = cross_replica_sum(path)  # dT/dtheta of the global batch (identity on one device)
            theta_prime = [t - alpha * g for t, g in zip(theta, path)]  # Eq. 2: virtual update
            meta_images, meta_labels = meta_batch
            (_, meta_logits), _ = detector.stateless_call(theta_prime, new_det_state, meta_images, training=True)
            meta_loss = detection_loss(meta_labels, meta_logits, lam)  # Eq. 3: M(theta', w), unweighted
    # Eq. 4-6: G_theta = dT/dtheta + beta dM/dtheta (dT/dtheta is the inner gradient already in hand, so T is
    # not differentiated twice); G_w = dM/dw, the mixed second derivative through theta' (w is not updated
    # by dT/dw).
    if beta:
        meta_grads = outer.gradient(meta_loss, theta + w, unconnected_gradients=_ZERO)
    else:
        meta_grads = [tf.zeros_like(v) for v in theta + w]
    theta_grads = [tf.stop_gradient(g) + beta * m for g, m in zip(inner_grads, meta_grads[: len(theta)])]
    w_grads = meta_grads[len(theta) :]
    logs = cross_replica_sum({"loss": train_loss + beta * meta_loss, "train_loss": train_loss, "meta_loss": meta_loss})
    if weights is not None:
        logs["weight_mean"] = batch_mean(weights)
        logs["weight_std"] = batch_std(weights)
    return theta_grads, w_grads, logs, new_det_state, new_wn_state


def meta_gradients(
    detector: keras.Model,
    weight_net: keras.Model | None,
    batch: Batch,
    meta_batch: Batch,
    *,
    alpha: float,
    beta: float,
    lam: float,
    first_order: bool = False,
):
    """(G_theta, G_w, logs) of one LTW step (Eq. 4-6); changes no variable. See ``meta_step``."""
    theta_grads, w_grads, logs, _, _ = meta_step(
        detector, weight_net, batch, meta_batch, alpha=alpha, beta=beta, lam=lam, first_order=first_order
    )
    return theta_grads, w_grads, logs


def _assign(variables, values) -> None:
    for variable, value in zip(variables, values):
        variable.assign(value)


class LTW(Method):
    """Full LTW: weight-aware net, ICC, meta-split with paired meta batches, second-order meta-test."""

    name = "ltw"
    uses_meta_split = True
    paired_meta = True
    use_weight_net = True
    use_icc = True

    def __init__(self, detector: keras.Model, config):
        super().__init__(detector, config)
        self.lam = config.lam if self.use_icc else 0.0
        self.weight_net = None
        if self.use_weight_net:
            momentum = batch_norm_momentum(detector)  # the run's model.bn_momentum, else the backbone's own
            self.weight_net = build_weight_net(
                feature_shape(detector), config.weight_net_dropout, detector.outputs[0].dtype, momentum
            )
            self.weight_optimizer = keras.optimizers.Adam(config.weight_lr)
            self.weight_optimizer.build(self.weight_net.trainable_variables)

    def _meta_update(self, batch, meta_batch, optimizer, beta: float) -> dict[str, tf.Tensor]:
        theta_grads, w_grads, logs, det_state, wn_state = meta_step(
            self.detector, self.weight_net, batch, meta_batch, alpha=self.config.alpha, beta=beta, lam=self.lam
        )
        optimizer.apply(theta_grads, self.detector.trainable_variables)  # Eq. 5
        _assign(self.detector.non_trainable_variables, det_state)  # BN stats from the meta-train forward
        if self.weight_net is not None and self.weight_net.trainable:
            self.weight_optimizer.apply(w_grads, self.weight_net.trainable_variables)  # Eq. 6
            _assign(self.weight_net.non_trainable_variables, wn_state)
        return logs

    def _train_step(self, batch, meta_batch):
        return self._meta_update(batch, meta_batch, self.optimizer, self.config.beta)

    def learning_rates(self):
        rates = super().learning_rates()
        if self.weight_net is not None:
            rates.append((self.weight_optimizer, self.config.weight_lr))
        return rates

    def trackables(self):
        items = super().trackables()
        if self.weight_net is not None:
            items.update(
                weight_net=self.weight_net,
                weight_optimizer=self.weight_optimizer,
                rng=seed_states(self.detector, self.weight_net),
            )
        return items


class LTWNoICC(LTW):
    """Ablation (Table 5): lambda = 0."""

    name = "ltw-no-icc"
    use_icc = False


class LTWNoWeight(LTW):
    """Ablation (Table 5): no weight-aware net, p == 1."""

    name = "ltw-no-weight"
    use_weight_net = False


class LTWStepSplit(LTW):
    """Diagnostic, not in the paper: LTW with MLDG's meta-split, redrawn every step instead of every epoch, and so
    with MLDG's batches too (each step's drawn afresh from its split, a face may recur within an epoch); the meta
    batches still paired. A short run's per-epoch splits meta-test on only some source families, fixed by the
    seed; this variant takes that difference between LTW and MLDG away (issue 15's study)."""

    name = "ltw-step-split"
    split_every = "step"


class LTWNoMetaTest(LTW):
    """Ablation (Table 5) "w/o meta-test": train the whole LTW framework, then retrain with beta = 0 and the learned
    weight net fixed.

    Two phases of ``epochs`` epochs each, each a complete training run (the trainer gives each its own StepLR
    schedule and its own best checkpoint): "ltw" is full LTW; "retrain" resets the detector to its initial
    weights and trains it with a fresh Adam on the weighted loss T alone, the weight net frozen in inference mode.
    With beta = 0 there is no meta-test set, so the retraining draws plain batches from all source domains
    (training on half the domains per epoch would confound the ablation with forgetting).
    """

    name = "ltw-no-meta-test"
    revision = 2  # issue 17: was ceil(E/2) LTW + floor(E/2) retraining epochs sharing one best checkpoint

    @classmethod
    def phases(cls, config) -> tuple[Phase, ...]:
        if config.epochs < 1:
            raise ValueError(
                f"{cls.name} needs epochs >= 1 (each of its two phases trains that many), got {config.epochs}"
            )
        return (Phase("ltw", config.epochs), Phase("retrain", config.epochs))

    def __init__(self, detector, config):
        super().__init__(detector, config)
        self.initial_detector = [tf.Variable(v.value, trainable=False) for v in detector.variables]
        self.retraining = tf.Variable(False, trainable=False)
        self.retrain_optimizer = keras.optimizers.Adam(config.lr)
        self.retrain_optimizer.build(detector.trainable_variables)
        self._retrain_compiled = compile_step(
            self._retrain_step, jit_compile=config.jit_compile, reduce_retracing=False
        )

    def _in_retraining(self, epoch: int) -> bool:
        return phase_at(self.phases(self.config), epoch)[0] == 1

    def begin_epoch(self, epoch: int) -> None:
        if not self._in_retraining(epoch):
            return
        if not bool(self.retraining.numpy()):  # checkpointed: a resume inside phase 2 does not reset again
            _assign(self.detector.variables, self.initial_detector)
            self.retraining.assign(True)
        self.weight_net.trainable = False

    def batch_request(self, epoch: int) -> BatchRequest:
        return BatchRequest() if self._in_retraining(epoch) else super().batch_request(epoch)

    def _retrain_step(self, batch, meta_batch):
        return self._meta_update(batch, meta_batch, self.retrain_optimizer, beta=0.0)

    def train_step(self, batch, meta_batch=None):
        if bool(self.retraining.numpy()):
            return self._retrain_compiled(batch, meta_batch)
        return super().train_step(batch, meta_batch)

    def learning_rates(self):
        return [*super().learning_rates(), (self.retrain_optimizer, self.config.lr)]

    def trackables(self):
        items = super().trackables()
        items.update(
            initial_detector=self.initial_detector, retraining=self.retraining, retrain_optimizer=self.retrain_optimizer
        )
        return items
