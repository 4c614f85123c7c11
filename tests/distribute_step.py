"""One LTW step on two logical CPU devices (MirroredStrategy) and on one device, on the same global batch.

usage: python distribute_step.py OUT.npz
A separate process: logical devices must be configured before TensorFlow starts. The mirrored side is the
library's compiled ``train_step`` (global batch split 4 + 3); the single-device side is the same step run
eagerly, plus a float64 single-device ``meta_gradients`` as the reference for float32 rounding, and the per-replica
alternative (half batches, their own BN moments and ICC centres, averaged). Written for the test to compare:
the gradients each optimizer applied (Adam's first moment after step 1 is ``(1 - beta_1) * G``), every model
variable after the step, each replica's copy of them, and the logs.
"""

import dataclasses
import sys

from ltw_tf.native_logs import quiet_tensorflow  # noqa: E402

quiet_tensorflow(verbose=False)  # before TensorFlow: its start-up lines off this terminal
import tensorflow as tf  # noqa: E402

_CPU = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(_CPU, [tf.config.LogicalDeviceConfiguration()] * 2)

import numpy as np  # noqa: E402

from ltw_tf.config import ModelConfig, RunConfig, TrainConfig  # noqa: E402
from ltw_tf.methods import meta_gradients  # noqa: E402
from ltw_tf.models import build_detector, build_weight_net  # noqa: E402
from ltw_tf.models.detector import feature_shape  # noqa: E402
from ltw_tf.trainer import build_from_config  # noqa: E402

SIZE, BATCH = 16, 7  # 7 over 2 replicas: uneven shards, as the paper's batch of 25 on 2 GPUs
# No dropout: each replica draws its own masks, so with dropout the two sides match only in distribution.
CONFIG = RunConfig(
    model=ModelConfig(backbone="tiny", weights=None, image_size=SIZE),
    train=TrainConfig(
        method="ltw", batch_size=BATCH, lr=1e-2, weight_lr=1e-2, alpha=0.1, lam=0.5, weight_net_dropout=0.0, seed=3
    ),
)


def batches(dtype=np.float32):
    rng = np.random.default_rng(0)
    y = np.array([0, 1, 0, 1, 1, 0, 1], dtype)
    x, xm = rng.uniform(0, 255, (2, BATCH, SIZE, SIZE, 3)).astype(dtype)
    return (tf.constant(x), tf.constant(y)), (tf.constant(xm), tf.constant(1 - y))


def float64_gradients(method) -> list:
    detector = build_detector("tiny", SIZE, dtype="float64")
    weight_net = build_weight_net(feature_shape(detector), dropout=0.0, dtype="float64")
    detector.set_weights([w.astype(np.float64) for w in method.detector.get_weights()])
    weight_net.set_weights([w.astype(np.float64) for w in method.weight_net.get_weights()])
    return gradients(detector, weight_net, *batches(np.float64))


def gradients(detector, weight_net, batch, meta_batch) -> list:
    t = CONFIG.train
    g_theta, g_w, _ = meta_gradients(detector, weight_net, batch, meta_batch, alpha=t.alpha, beta=t.beta, lam=t.lam)
    return [g.numpy() for g in g_theta + g_w]


def per_replica_gradients(method) -> list:
    """The other choice: each half batch with its own BN moments and ICC centre, the two steps averaged."""
    batch, meta_batch = batches()
    halves = [tf.nest.map_structure(lambda t, s=s: t[s], (batch, meta_batch)) for s in (slice(0, 4), slice(4, None))]
    return [np.mean(gs, axis=0) for gs in zip(*(gradients(method.detector, method.weight_net, *h) for h in halves))]


def applied_gradients(method) -> list:
    """The gradients of the first step, from Adam's first moments m = (1 - beta_1) G."""
    moments = [
        v for opt in (method.optimizer, method.weight_optimizer) for v in opt.variables if v.path.endswith("_momentum")
    ]
    return [v.numpy() / (1.0 - method.optimizer.beta_1) for v in moments]


def numbered(prefix: str, arrays) -> dict:
    return {f"{prefix}/{i:03d}": np.asarray(a) for i, a in enumerate(arrays)}


def main() -> None:
    single = build_from_config(CONFIG)
    mirrored = build_from_config(
        dataclasses.replace(CONFIG, train=dataclasses.replace(CONFIG.train, strategy="mirrored"))
    )
    strategy = mirrored.strategy
    assert strategy.num_replicas_in_sync == 2, strategy.extended.worker_devices
    models = {side: (m.detector, m.weight_net) for side, m in (("single", single), ("mirrored", mirrored))}
    for a, b in zip(models["single"], models["mirrored"]):
        b.set_weights(a.get_weights())
    opt = single.optimizer
    out = {
        **numbered("grad/float64", float64_gradients(single)),
        **numbered("grad/per_replica", per_replica_gradients(single)),
        **numbered("trainable/before", [v.numpy() for m in models["single"] for v in m.trainable_variables]),
        **numbered("adam", [opt.learning_rate.numpy(), opt.epsilon, opt.beta_2]),
    }
    batch, meta_batch = batches()
    logs = {"single": single._train_step(batch, meta_batch), "mirrored": mirrored.train_step(batch, meta_batch)}
    for side, method in (("single", single), ("mirrored", mirrored)):
        out.update({f"log/{side}/{k}": v.numpy() for k, v in logs[side].items()})
        out.update(numbered(f"grad/{side}", applied_gradients(method)))
        out.update(numbered(f"trainable/{side}", [v.numpy() for m in models[side] for v in m.trainable_variables]))
        out.update(numbered(f"state/{side}", [v.numpy() for m in models[side] for v in m.non_trainable_variables]))
    for r in range(2):
        variables = [v for m in models["mirrored"] for v in m.variables]
        out.update(numbered(f"replica/{r}", [strategy.experimental_local_results(v.value)[r] for v in variables]))
    np.savez(sys.argv[1], **out)


if __name__ == "__main__":
    main()
