"""What the trainer consumes: per epoch, an iterable of (train batch, meta batch) and what the epoch decided."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class BatchRequest:
    """What a method needs from an epoch: plain batches, or meta-split ones with paired or free meta batches.

    ``split_every``: "epoch" (one meta-split per epoch, LTW) or "step" (a new split every step, MLDG).
    ``masks``: each batch is (images, labels, masks) with the faces' manipulation masks (zeros for reals).
    ``max_steps``: the epoch ends after this many steps (``--steps-per-epoch``), so that what it records (the
    splits drawn, partners missing) covers the steps trained; the steps it keeps are the first of the full epoch's.
    """

    uses_meta_split: bool = False
    paired: bool = False
    split_every: str = "epoch"
    masks: bool = False
    max_steps: int | None = None


@dataclass
class EpochData:
    """One epoch of (batch, meta batch) pairs; ``info`` (e.g. the meta-split) goes into the run history."""

    batches: Iterable[tuple[Any, Any]]
    info: dict = field(default_factory=dict)
    length: int | None = None  # number of steps, when known (for the progress bar)


class EpochSource(Protocol):
    def epoch(self, epoch: int, request: BatchRequest) -> EpochData: ...


class FixedEpochs:
    """Adapts any re-iterable of (batch, meta batch) pairs (a list, a tf.data.Dataset) to an EpochSource."""

    def __init__(self, pairs: Iterable[tuple[Any, Any]]):
        self.pairs = pairs

    def epoch(self, epoch: int, request: BatchRequest | None = None) -> EpochData:
        del request  # the pairs are what they are
        length = len(self.pairs) if hasattr(self.pairs, "__len__") else None
        return EpochData(self.pairs, {}, length)
