"""tf.distribute for training: strategy selection, global-batch losses across replicas, synchronized exact BN.

Choice (docs/DISTRIBUTED.md): a replicated step computes exactly the single-device step on the global batch.
Every batch statistic is global: BatchNorm moments are all-reduced (two-pass, second-order exact, like
``models/exact_bn``), the ICC real centre and the class counts are all-reduced, and a replica's loss is its
*share* of the global-batch loss (``sum(local) / N_global``), so the shares' gradients summed over replicas (what
the Keras optimizer does in replica context) are the gradients of the global loss, and the virtual update of
Eq. 2 uses the summed inner gradient. With one replica (no strategy) every helper here returns its input or the
plain single-device op, so the default path builds exactly the graph it built before.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any

import keras
import numpy as np
import tensorflow as tf

STRATEGIES = ("default", "mirrored", "multiworker")
_SUM = tf.distribute.ReduceOp.SUM


@functools.cache
def make_strategy(name: str = "default") -> tf.distribute.Strategy:
    """The strategy called ``name``; one per process (TF configures collective ops once, at startup).

    ``default``: no distribution. ``mirrored``: every local GPU of this host (without one: every logical CPU
    device). ``multiworker``: every device of every host in ``$TF_CONFIG``; it must be made before any other
    TensorFlow op runs.
    """
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":  # all local GPUs; without one, all logical CPU devices (a smoke mode for tests)
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy([d.name for d in devices])
    if name == "multiworker":
        if "TF_CONFIG" not in os.environ:
            raise ValueError("--strategy multiworker needs $TF_CONFIG (cluster and task); see docs/DISTRIBUTED.md")
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ValueError(f"unknown strategy {name!r}; valid: {', '.join(STRATEGIES)}")


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """Whether this process writes run artefacts: the only process, the ``chief`` task, else worker 0."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    cluster = resolver.cluster_spec().as_dict()
    return resolver.task_type == "chief" or (
        resolver.task_type == "worker" and resolver.task_id == 0 and "chief" not in cluster
    )


# --- global-batch reductions inside a replica -------------------------------------------------------------


def replica_count() -> int:
    """Replicas the current batch is split over (1 outside ``strategy.run``)."""
    ctx = tf.distribute.get_replica_context()
    return 1 if ctx is None else ctx.num_replicas_in_sync


def cross_replica_sum(value):
    """Sum of ``value`` (a tensor or a nest of them) over all replicas; differentiable to any order.

    Its gradient is again an all-reduce sum, so gradients through a global statistic reach every replica.
    With one replica it returns ``value`` itself.
    """
    if replica_count() == 1:
        return value
    return tf.distribute.get_replica_context().all_reduce(_SUM, value)


def _global_size(x: tf.Tensor) -> tf.Tensor:
    return cross_replica_sum(tf.cast(tf.size(x), x.dtype))


def replica_mean(x: tf.Tensor) -> tf.Tensor:
    """This replica's share of the global-batch mean, ``sum(x_local) / N_global`` (shares add up to the mean)."""
    if replica_count() == 1:
        return tf.reduce_mean(x)
    return tf.reduce_sum(x) / _global_size(x)


def batch_mean(x: tf.Tensor) -> tf.Tensor:
    """The mean of ``x`` over the global batch, the same value on every replica (for logs)."""
    if replica_count() == 1:
        return tf.reduce_mean(x)
    return cross_replica_sum(tf.reduce_sum(x)) / _global_size(x)


def batch_std(x: tf.Tensor) -> tf.Tensor:
    """The standard deviation of ``x`` over the global batch (for logs)."""
    if replica_count() == 1:
        return tf.math.reduce_std(x)
    return tf.sqrt(batch_mean(tf.square(x - batch_mean(x))))


# --- synchronized BatchNorm ---------------------------------------------------------------------------------


def _synchronized_moments(layer: keras.layers.BatchNormalization, local_moments: Callable, inputs, mask):
    """Global-batch BN moments, two-pass like ``exact_bn``: mean, then mean((x - mean)^2), no stop_gradient.

    Keras' ``synchronized=True`` computes E[x^2] - E[x]^2 (exact derivatives, but float32 cancellation); the
    two-pass form matches the single-device moments up to summation order.
    """
    if mask is not None or replica_count() == 1:
        return local_moments(inputs, mask)
    axes = layer._reduction_axes
    local_sum = tf.reduce_sum(inputs, axis=axes, keepdims=True)
    total, n = cross_replica_sum([local_sum, tf.cast(tf.size(inputs) // tf.size(local_sum), inputs.dtype)])
    mean = total / n
    variance = cross_replica_sum(tf.reduce_sum(tf.square(inputs - mean), axis=axes)) / n
    return tf.squeeze(mean, axis=axes), variance


def synchronize_batch_norm(model: keras.Model) -> keras.Model:
    """Give every BatchNormalization layer of ``model`` global-batch moments inside ``strategy.run``.

    Outside a replicated step (or with one replica) the layer keeps its own (exact) moments.
    """
    for layer in model._flatten_layers(include_self=False, recursive=True):
        if isinstance(layer, keras.layers.BatchNormalization) and not hasattr(layer, "_local_moments"):
            layer._local_moments = layer._moments
            layer._moments = functools.partial(_synchronized_moments, layer, layer._local_moments)
    return model


# --- the replicated train step ------------------------------------------------------------------------------


def split_batch(strategy: tf.distribute.Strategy, batch):
    """Split a global batch (a nest of tensors, first axis = samples) into consecutive per-replica shards.

    Shards differ by at most one sample (batch 25 on 2 GPUs: 13 + 12); every loss and statistic is normalised
    by global counts, so uneven shards change nothing. With several workers each worker takes its replicas'
    rows of the same global batch.
    """
    if batch is None:
        return None
    replicas = strategy.num_replicas_in_sync
    size = int(tf.nest.flatten(batch)[0].shape[0])
    if size < replicas:
        raise ValueError(f"a global batch of {size} cannot be split over {replicas} replicas")
    starts = np.concatenate([[0], np.cumsum([len(a) for a in np.array_split(np.arange(size), replicas)])])

    def shard(ctx: tf.distribute.ReplicaContext):
        i = ctx.replica_id_in_sync_group
        return tf.nest.map_structure(lambda t: t[int(starts[i]) : int(starts[i + 1])], batch)

    return strategy.experimental_distribute_values_from_function(shard)


class ReplicatedStep:
    """``step(batch, meta_batch) -> logs`` run on every replica of ``strategy`` for one global batch.

    The step is compiled once (``tf.function``); its logs must be global values (the same on every replica),
    the first local replica's are returned.
    """

    def __init__(self, strategy: tf.distribute.Strategy, step: Callable[..., dict[str, tf.Tensor]]):
        self.strategy = strategy
        self.step = step
        self._compiled = tf.function(self._run, reduce_retracing=True)

    def _run(self, batch, meta_batch) -> dict[str, tf.Tensor]:
        logs = self.strategy.run(self.step, args=(batch, meta_batch))
        return {k: self.strategy.experimental_local_results(v)[0] for k, v in logs.items()}

    def __call__(self, batch, meta_batch=None) -> dict[str, tf.Tensor]:
        return self._compiled(split_batch(self.strategy, batch), split_batch(self.strategy, meta_batch))


def compile_step(
    step: Callable[..., dict[str, tf.Tensor]], *, jit_compile: bool = False, reduce_retracing: bool = True
) -> Callable:
    """A method's compiled train step: a plain ``tf.function``, or a ``ReplicatedStep`` inside a strategy scope."""
    if not tf.distribute.has_strategy():
        return tf.function(step, jit_compile=jit_compile, reduce_retracing=reduce_retracing)
    if jit_compile:
        raise ValueError("train.jit_compile is not supported with a distribution strategy")
    return ReplicatedStep(tf.distribute.get_strategy(), step)


def check_in_sync(strategy: tf.distribute.Strategy, value: tf.Variable | tf.Tensor, what: str) -> None:
    """Fail unless every replica holds the same scalar ``value`` (e.g. every worker restored the same epoch)."""
    if strategy.num_replicas_in_sync == 1:
        return

    def moments():
        x = tf.cast(tf.convert_to_tensor(value), tf.float64)
        return tf.distribute.get_replica_context().all_reduce(_SUM, tf.stack([x, x * x, 1.0]))

    total = strategy.experimental_local_results(strategy.run(tf.function(moments)))[0].numpy()
    mean = total[0] / total[2]
    if abs(total[1] / total[2] - mean * mean) > 1e-9 * max(1.0, mean * mean):
        raise RuntimeError(
            f"workers disagree on {what}: every worker must see the chief's checkpoints "
            "(a shared run directory) to resume"
        )


def model_trackables(trackables: dict[str, Any]) -> list[keras.Model]:
    """The Keras models among a method's checkpoint items (the ones whose BN layers to synchronize)."""
    return [item for item in trackables.values() if isinstance(item, keras.Model)]
