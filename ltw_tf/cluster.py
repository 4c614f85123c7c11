"""The Ray engine: ``prepare`` and ``screen`` on actors across a cluster, each item's work unchanged.

An actor is one worker CPU holding what a local worker holds (its MTCNN; for ``screen`` also its model, loaded
once). The driver keeps at most ``IN_FLIGHT`` items on each actor and takes results as they finish. An actor whose
process dies (killed, out of memory, its node lost) is restarted by Ray and the items it held are sent again, each
at most ``tries`` times in all; an item that fails every try comes back as a ``Failed``, like an exception raised
by the work itself (not retried: it would fail again). Nothing here writes a file: the callers write exactly what
they write with the local engine, and the driver alone assembles their outputs.

Ray is an optional extra (``pip install 'ltw-tf[ray]'``); only this module imports it, when it is asked for.
"""

from __future__ import annotations

import logging
import os
import time
from collections import Counter, deque
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any

from ltw_tf.errors import first_line

ENGINES = ("local", "ray")
INSTALL = "pip install 'ltw-tf[ray]' (or pip install -r requirements-ray.txt)"
TRIES = 3  # sends of one item before it is reported as failed (its actor died every time)
IN_FLIGHT = 2  # items queued on one actor: the next is there when it finishes one
RETRY_SECONDS = 0.5  # between probes of a restarting actor

log = logging.getLogger(__name__)


class RayUnavailable(RuntimeError):
    """``--engine ray`` without the ``ray`` extra installed."""


@dataclass(frozen=True)
class Failed:
    """An item that could not be done: its work raised, or its actor died on every try."""

    reason: str


def require_ray():
    """The ``ray`` module, or a one-line error naming the install."""
    try:
        import ray
    except ImportError:
        raise RayUnavailable(f"--engine ray needs Ray, which is not installed: {INSTALL}") from None
    return ray


@contextmanager
def connect(address: str | None = None, *, verbose: bool = False):
    """Ray, connected to ``address`` (else ``$RAY_ADDRESS``; else a new Ray started here for this run, every
    server on 127.0.0.1 only, stopped after it). Already connected (a notebook, a test): used as is, left running."""
    ray = require_ray()
    if ray.is_initialized():
        yield ray
        return
    address = address or os.environ.get("RAY_ADDRESS") or "local"
    options: dict[str, Any] = {"logging_level": logging.INFO if verbose else logging.ERROR, "log_to_driver": verbose}
    local = address == "local"  # a new instance (Ray's own word for it), never one `ray start` left on this machine
    with _loopback_only(ray) if local else nullcontext():
        if local:
            options.update(_node_ip_address="127.0.0.1", include_dashboard=False)
        try:
            ray.init(address=address, **options)
        except (ConnectionError, ValueError, RuntimeError) as err:
            ray.shutdown()  # whatever a half-done init started
            where = "a new local instance" if local else address
            raise RuntimeError(f"cannot connect to Ray at {where}: {first_line(err)}") from None
        try:
            yield ray
        finally:
            ray.shutdown()


@contextmanager
def _loopback_only(ray):
    """Ray started inside binds its servers to 127.0.0.1. Without this, Ray (2.60, Linux) swaps a 127.0.0.1 node
    address for the machine's interface address and its servers listen on every interface (measured with
    ``ss -ltnp``). Ray reads the switch once, at import, into ``ray_constants``; its processes read the environment."""
    from ray._private import ray_constants

    name, before = ray_constants.ENABLE_RAY_CLUSTERS_ENV_VAR, ray_constants.ENABLE_RAY_CLUSTER
    saved = os.environ.get(name)
    os.environ[name], ray_constants.ENABLE_RAY_CLUSTER = "0", False
    try:
        yield
    finally:
        ray_constants.ENABLE_RAY_CLUSTER = before
        if saved is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = saved


def cluster_cpus(ray) -> int:
    """CPUs of every node of the connected cluster."""
    return max(1, int(ray.cluster_resources().get("CPU", 1)))


def run_on_actors(
    ray,
    worker: type,
    args: Sequence[Any],
    method: str,
    items: Sequence[Any],
    *,
    workers: int,
    tries: int = TRIES,
) -> Iterator[tuple[int, Any]]:
    """``(index, getattr(worker(*args), method)(items[index]))`` for every item as it finishes, on ``workers``
    actors of one CPU each, spread over the nodes; a ``Failed`` in place of the result of an item that could not be
    done. ``worker.ready()`` must raise if the actor could not set itself up: then no item is sent and this raises."""
    actor_class = ray.remote(worker).options(
        num_cpus=1, max_restarts=-1, max_task_retries=0, scheduling_strategy="SPREAD"
    )
    actors = [actor_class.remote(*args) for _ in range(max(1, min(workers, len(items))))]
    try:
        ray.get([actor.ready.remote() for actor in actors])
    except ray.exceptions.RayError as err:
        raise RuntimeError(f"a Ray worker could not start: {_reason(ray, err)}") from None
    queue, sent = deque(range(len(items))), Counter()
    running: dict[Any, tuple[int | None, Any]] = {}  # object ref -> (item index, or None for a probe; actor)
    held = Counter()

    def feed(actor) -> None:
        while queue and held[actor] < IN_FLIGHT:
            index = queue.popleft()
            sent[index] += 1
            running[getattr(actor, method).remote(items[index])] = (index, actor)
            held[actor] += 1

    def probe(actor) -> None:  # fed again only once Ray has it back (restarted: its set-up redone)
        running[actor.ready.remote()] = (None, actor)

    for actor in actors:
        feed(actor)
    try:
        while running:
            (ref,), _ = ray.wait(list(running), num_returns=1)
            index, actor = running.pop(ref)
            if index is None:
                try:
                    ray.get(ref)
                except ray.exceptions.ActorUnavailableError:
                    time.sleep(RETRY_SECONDS)
                    probe(actor)  # still restarting
                except ray.exceptions.RayError as err:  # gone for good: its share goes to the others
                    log.info("worker lost: %s", first_line(err))
                    actors.remove(actor)
                else:
                    feed(actor)
                continue
            held[actor] -= 1
            try:
                yield index, ray.get(ref)
            except (ray.exceptions.RayActorError, ray.exceptions.WorkerCrashedError) as err:
                if sent[index] < tries:  # its process died: Ray restarts the actor, the item goes again
                    log.info("worker died on item %d (try %d of %d): %s", index, sent[index], tries, first_line(err))
                    queue.appendleft(index)
                else:
                    yield index, Failed(f"its worker died on each of {tries} tries ({_reason(ray, err)})")
                if not any(a is actor for _, a in running.values()):
                    probe(actor)
                for other in actors:
                    if other is not actor and not any(i is None and a is other for i, a in running.values()):
                        feed(other)
                continue
            except ray.exceptions.RayTaskError as err:
                yield index, Failed(_reason(ray, err))
            feed(actor)
        for index in queue:  # every worker lost
            yield index, Failed("every Ray worker was lost")
    finally:
        for actor in actors:
            ray.kill(actor)


def in_order(results: Iterable[tuple[int, Any]]) -> Iterator[Any]:
    """Results that arrive as ``(index, value)`` in any order, given back in index order as soon as each can be."""
    waiting: dict[int, Any] = {}
    next_index = 0
    for index, value in results:
        waiting[index] = value
        while next_index in waiting:
            yield waiting.pop(next_index)
            next_index += 1


def _reason(ray, err: BaseException) -> str:
    cause = getattr(err, "cause", None) if isinstance(err, ray.exceptions.RayTaskError) else None
    if cause is not None:
        return f"{type(cause).__name__}: {first_line(cause)}"
    return first_line(err)
