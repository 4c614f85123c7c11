"""The meta-split strategy (paper "Meta-Split Strategy", ALGORITHM.md): domain split and pairing.

LTW splits the source domains once per epoch (its paper); MLDG (Li et al. 2018, Alg. 1) draws a new split every
iteration (``split_every="step"``). Pure index logic over a sample table, so the tf.data pipeline and in-memory
sources share it. An epoch plan, per-step splits included, is a function of (seed, epoch) alone: resuming at
epoch e reproduces exactly the batches an uninterrupted run saw.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from ltw_tf.data.source import BatchRequest

REAL = "real"  # the domain of pristine frames, shared by all manipulation domains


@dataclass(frozen=True)
class SampleTable:
    """One row per face crop: label (0 real / 1 fake), domain, target video id, frame index."""

    labels: np.ndarray
    domains: np.ndarray
    targets: np.ndarray
    frames: np.ndarray

    def __post_init__(self):
        n = len(self.labels)
        if not (len(self.domains) == len(self.targets) == len(self.frames) == n):
            raise ValueError("sample table columns differ in length")
        bad = (np.asarray(self.labels) == 0) != (np.asarray(self.domains) == REAL)
        if bad.any():
            raise ValueError(f"{int(bad.sum())} rows: label 0 must go with domain {REAL!r} and 1 with a fake domain")


SPLIT_EVERY = ("epoch", "step")  # when the meta-split is redrawn


@dataclass
class EpochPlan:
    """Row indices of each training batch (and meta batch, or None) for one epoch, plus what was decided.

    ``splits``: the (D_train, D_meta) each step used (None for plain batches).
    """

    batches: list[np.ndarray]
    meta_batches: list[np.ndarray] | None
    info: dict = field(default_factory=dict)
    splits: list[tuple[list[str], list[str]]] | None = None


def epoch_rng(seed: int, epoch: int, stream: int = 0) -> np.random.Generator:
    """The RNG of one epoch, derived from the run seed only (stateless, so resume is exact)."""
    return np.random.default_rng([seed, epoch, stream])


def meta_split(domains: Sequence[str], seed: int, epoch: int, step: int | None = None) -> tuple[list[str], list[str]]:
    """Shuffle the source domains with the epoch's (or the epoch's ``step``'s) RNG: ceil(N/2) training domains,
    the rest meta domains."""
    if len(domains) < 2:
        raise ValueError(f"the meta-split needs at least 2 source domains, got {list(domains)}")
    rng = epoch_rng(seed, epoch, stream=1) if step is None else np.random.default_rng([seed, epoch, 1, step])
    order = rng.permutation(len(domains))
    shuffled = [domains[i] for i in order]
    k = math.ceil(len(domains) / 2)
    return shuffled[:k], shuffled[k:]


def _balanced_batches(rng, fakes: np.ndarray, reals: np.ndarray, batch_size: int) -> list[np.ndarray]:
    """Batches of batch_size // 2 reals and the rest fakes; fakes drawn without replacement, reals cycled."""
    n_real = batch_size // 2
    n_fake = batch_size - n_real
    if len(fakes) < n_fake or len(reals) < max(n_real, 1):
        raise ValueError(
            f"too few samples for one balanced batch of {batch_size}: {len(fakes)} fakes, {len(reals)} reals"
        )
    n_batches = len(fakes) // n_fake
    fakes = rng.permutation(fakes)[: n_batches * n_fake].reshape(n_batches, n_fake)
    reals = np.resize(rng.permutation(reals), n_batches * n_real).reshape(n_batches, n_real)
    return [rng.permutation(np.concatenate([r, f])) for r, f in zip(reals, fakes)]


class _PartnerIndex:
    """Lookup of the frame nearest a given index among rows of one (target, domain) group."""

    def __init__(self, table: SampleTable, rows: np.ndarray):
        self.groups: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = {}
        keys: dict[tuple[str, str], list[int]] = {}
        for row in rows:
            keys.setdefault((str(table.targets[row]), str(table.domains[row])), []).append(int(row))
        for key, members in keys.items():
            members = np.array(members)
            order = np.argsort(table.frames[members], kind="stable")
            self.groups[key] = (table.frames[members][order], members[order])

    def nearest(self, target: str, domain: str, frame: int) -> int | None:
        group = self.groups.get((target, domain))
        if group is None:
            return None
        frames, members = group
        i = int(np.clip(np.searchsorted(frames, frame), 1, len(frames) - 1)) if len(frames) > 1 else 0
        if i > 0 and abs(frames[i - 1] - frame) <= abs(frames[i] - frame):
            i -= 1
        return int(members[i])


def paired_meta_batch(
    table: SampleTable,
    batch: np.ndarray,
    meta_domains: Sequence[str],
    partners: _PartnerIndex,
    rng: np.random.Generator,
) -> tuple[np.ndarray, int]:
    """Label-flipped partners: fake t_s frame f -> real t at f; real t frame f -> a D_meta fake of t at f.

    A missing partner falls back to a random D_meta sample of the required label; returns (rows, fallbacks).
    """
    meta_fakes = np.flatnonzero(np.isin(table.domains, list(meta_domains)))
    reals = np.flatnonzero(table.labels == 0)
    out, fallbacks = [], 0
    for row in batch:
        target, frame = str(table.targets[row]), int(table.frames[row])
        if table.labels[row] == 1:
            partner = partners.nearest(target, REAL, frame)
            pool = reals
        else:
            options = [partners.nearest(target, d, frame) for d in rng.permutation(list(meta_domains))]
            partner = next((p for p in options if p is not None), None)
            pool = meta_fakes
        if partner is None:
            fallbacks += 1
            partner = int(rng.choice(pool))
        out.append(partner)
    return np.array(out, dtype=np.int64), fallbacks


def _meta_batches(table, batches, meta_domains, paired, rng, reals, batch_size) -> tuple[list[np.ndarray], int]:
    """One meta batch per training batch: paired and label-flipped, or balanced from D_meta fakes and the reals."""
    if paired:
        partners = _PartnerIndex(table, np.flatnonzero(np.isin(table.domains, [REAL, *meta_domains])))
        metas, fallbacks = [], 0
        for batch in batches:
            meta, missing = paired_meta_batch(table, batch, meta_domains, partners, rng)
            metas.append(meta)
            fallbacks += missing
        return metas, fallbacks
    meta_fakes = np.flatnonzero(np.isin(table.domains, meta_domains))
    metas = _balanced_batches(rng, meta_fakes, reals, batch_size)
    return [metas[i % len(metas)] for i in range(len(batches))], 0


def _drawn_batch(rng, fakes: np.ndarray, reals: np.ndarray, batch_size: int) -> np.ndarray:
    """One balanced batch drawn afresh (no repeat inside the batch): batch_size // 2 reals, the rest fakes."""
    n_real = batch_size // 2
    n_fake = batch_size - n_real
    if len(fakes) < n_fake or len(reals) < n_real:
        raise ValueError(
            f"too few samples for one balanced batch of {batch_size}: {len(fakes)} fakes, {len(reals)} reals"
        )
    rows = np.concatenate([rng.choice(reals, n_real, replace=False), rng.choice(fakes, n_fake, replace=False)])
    return rng.permutation(rows)


def _plan_step_splits(table, source_domains, *, seed, epoch, batch_size, paired, rng, reals, max_steps) -> EpochPlan:
    """MLDG (Li et al. 2018, Alg. 1): a new random split every step, each step's batches drawn from it.

    An epoch has as many steps as one with a per-epoch split would (the fakes of ceil(N/2) of N domains once),
    at most ``max_steps``; each step draws its batch and meta batch afresh, so a face can recur within an epoch.
    """
    all_fakes = np.flatnonzero(np.isin(table.domains, list(source_domains)))
    n_fake = batch_size - batch_size // 2
    n_steps = len(all_fakes) * math.ceil(len(source_domains) / 2) // len(source_domains) // n_fake
    if n_steps == 0:
        raise ValueError(f"too few samples for one balanced batch of {batch_size}: {len(all_fakes)} fakes")
    if max_steps is not None:  # steps are drawn in order: the first max_steps are the full epoch's
        n_steps = min(n_steps, max_steps)
    fakes_of = {d: np.flatnonzero(table.domains == d) for d in source_domains}
    partners = _PartnerIndex(table, np.flatnonzero(np.isin(table.domains, [REAL, *source_domains]))) if paired else None
    batches, metas, splits, fallbacks = [], [], [], 0
    for step in range(n_steps):
        train_domains, meta_domains = meta_split(source_domains, seed, epoch, step)
        batch = _drawn_batch(rng, np.concatenate([fakes_of[d] for d in train_domains]), reals, batch_size)
        if paired:  # partners are looked up in D_meta domains (and the reals) only
            meta, missing = paired_meta_batch(table, batch, meta_domains, partners, rng)
            fallbacks += missing
        else:
            meta = _drawn_batch(rng, np.concatenate([fakes_of[d] for d in meta_domains]), reals, batch_size)
        batches.append(batch)
        metas.append(meta)
        splits.append((train_domains, meta_domains))
    counts: dict[str, int] = {}
    for train_domains, meta_domains in splits:
        key = f"{','.join(train_domains)} / {','.join(meta_domains)}"
        counts[key] = counts.get(key, 0) + 1
    info = {"split_every": "step", "step_splits": dict(sorted(counts.items())), "pair_fallbacks": fallbacks}
    return EpochPlan(batches, metas, info, splits)


def plan_epoch(
    table: SampleTable,
    source_domains: Sequence[str],
    *,
    seed: int,
    epoch: int,
    batch_size: int,
    uses_meta_split: bool,
    paired: bool,
    split_every: str = "epoch",
    max_steps: int | None = None,
) -> EpochPlan:
    """The batches of one epoch: plain (all sources) or meta-split with paired or unpaired meta batches.

    ``split_every``: "epoch" (LTW: one split for the epoch) or "step" (MLDG: a new split for every step).
    ``max_steps``: keep the epoch's first ``max_steps`` steps, exactly as the full epoch would have drawn them.
    """
    if split_every not in SPLIT_EVERY:
        raise ValueError(f"split_every must be one of {', '.join(SPLIT_EVERY)}, got {split_every!r}")
    rng = epoch_rng(seed, epoch)
    reals = np.flatnonzero(table.labels == 0)
    for domain in source_domains:
        if not np.any(table.domains == domain):
            raise ValueError(f"source domain {domain!r} has no samples")
    if not uses_meta_split:
        fakes = np.flatnonzero(np.isin(table.domains, list(source_domains)))
        return EpochPlan(
            _balanced_batches(rng, fakes, reals, batch_size)[:max_steps],
            None,
            {"train_domains": list(source_domains), "meta_domains": []},
        )
    if split_every == "step":
        return _plan_step_splits(
            table,
            source_domains,
            seed=seed,
            epoch=epoch,
            batch_size=batch_size,
            paired=paired,
            rng=rng,
            reals=reals,
            max_steps=max_steps,
        )
    train_domains, meta_domains = meta_split(source_domains, seed, epoch)
    fakes = np.flatnonzero(np.isin(table.domains, train_domains))
    batches = _balanced_batches(rng, fakes, reals, batch_size)[:max_steps]  # all drawn first: the rng goes on as before
    metas, fallbacks = _meta_batches(table, batches, meta_domains, paired, rng, reals, batch_size)
    info = {"train_domains": train_domains, "meta_domains": meta_domains, "pair_fallbacks": fallbacks}
    return EpochPlan(batches, metas, info, [(train_domains, meta_domains)] * len(batches))


class PlannedEpochs:
    """The planning both epoch sources share (``pipeline.ManifestEpochs``, ``arrays.ArrayEpochs``): ``plan_epoch``
    over ``self.table`` / ``self.source_domains`` with the run's seed and batch size, as a ``BatchRequest`` asks."""

    table: SampleTable
    source_domains: list[str]
    seed: int
    batch_size: int

    def plan(self, epoch: int, request: BatchRequest) -> EpochPlan:
        return plan_epoch(
            self.table,
            self.source_domains,
            seed=self.seed,
            epoch=epoch,
            batch_size=self.batch_size,
            uses_meta_split=request.uses_meta_split,
            paired=request.paired,
            split_every=request.split_every,
            max_steps=request.max_steps,
        )
