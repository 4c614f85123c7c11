"""Meta-split and pairing rules (ALGORITHM.md): split sizes, no overlap, partner relation, determinism."""

import numpy as np
import pytest

from ltw_tf.config import TrainConfig
from ltw_tf.data.arrays import ArrayEpochs
from ltw_tf.data.meta_split import REAL, SampleTable, meta_split, plan_epoch
from ltw_tf.data.source import BatchRequest
from ltw_tf.methods import build_method
from ltw_tf.models import build_detector

DOMAINS = ["Deepfakes", "Face2Face", "FaceSwap", "NeuralTextures"]


def _table(n_targets=10, frames=(0, 3, 6, 9), missing=()):
    """FF++-shaped rows: a real video per target and one fake per (target, domain) unless listed in missing."""
    rows = []
    for t in range(n_targets):
        target = f"{t:03d}"
        rows += [(0, REAL, target, f) for f in frames]
        for domain in DOMAINS:
            if (target, domain) not in missing:
                rows += [(1, domain, target, f + 1) for f in frames]  # fake frame indices offset by one
    labels, domains, targets, frame_ids = map(np.array, zip(*rows))
    return SampleTable(labels, domains, targets, frame_ids)


@pytest.mark.parametrize("n", [2, 3, 4, 5])
def test_meta_split_sizes_and_no_overlap(n):
    for epoch in range(10):
        train, meta = meta_split([*DOMAINS, "Other"][:n], seed=1, epoch=epoch)
        assert len(train) == -(-n // 2) and len(meta) == n - len(train)
        assert not set(train) & set(meta) and set(train) | set(meta) == set([*DOMAINS, "Other"][:n])


def test_meta_split_varies_by_epoch_and_is_seeded():
    splits = [tuple(meta_split(DOMAINS[:3], seed=5, epoch=e)[1]) for e in range(12)]
    assert len(set(splits)) > 1
    assert splits == [tuple(meta_split(DOMAINS[:3], seed=5, epoch=e)[1]) for e in range(12)]
    with pytest.raises(ValueError, match="at least 2"):
        meta_split(["Deepfakes"], seed=0, epoch=0)


def test_paired_meta_batches_hold_the_partner_relation():
    table = _table()
    sources = DOMAINS[:3]
    plan = plan_epoch(table, sources, seed=3, epoch=2, batch_size=10, uses_meta_split=True, paired=True)
    train, meta = plan.info["train_domains"], plan.info["meta_domains"]
    assert plan.info["pair_fallbacks"] == 0 and len(plan.batches) > 0
    for batch, meta_batch in zip(plan.batches, plan.meta_batches):
        assert len(batch) == len(meta_batch) == 10
        assert (table.labels[batch] == 0).sum() == 5
        for row, partner in zip(batch, meta_batch):
            assert table.labels[partner] == 1 - table.labels[row]  # labels flipped
            assert table.targets[partner] == table.targets[row]  # same target id
            assert abs(int(table.frames[partner]) - int(table.frames[row])) <= 1  # nearest frame index
            if table.labels[row] == 1:
                assert table.domains[row] in train and table.domains[partner] == REAL
            else:
                assert table.domains[partner] in meta
    assert not set(train) & set(meta)


def test_missing_partner_falls_back_and_is_counted():
    # No D_meta fake exists for target 000: its reals need a fallback from the meta domains.
    table = _table(missing={("000", d) for d in DOMAINS})
    plan = plan_epoch(table, DOMAINS[:3], seed=0, epoch=0, batch_size=10, uses_meta_split=True, paired=True)
    assert plan.info["pair_fallbacks"] > 0
    meta_domains = plan.info["meta_domains"]
    for batch, meta_batch in zip(plan.batches, plan.meta_batches):
        for row, partner in zip(batch, meta_batch):
            assert table.labels[partner] == 1 - table.labels[row]
            if table.labels[row] == 0:
                assert table.domains[partner] in meta_domains


def test_plans_are_deterministic_and_plain_uses_all_sources():
    table = _table()
    a = plan_epoch(table, DOMAINS[:3], seed=9, epoch=4, batch_size=8, uses_meta_split=True, paired=True)
    b = plan_epoch(table, DOMAINS[:3], seed=9, epoch=4, batch_size=8, uses_meta_split=True, paired=True)
    assert all(np.array_equal(x, y) for x, y in zip(a.batches + a.meta_batches, b.batches + b.meta_batches))
    plain = plan_epoch(table, DOMAINS[:3], seed=9, epoch=4, batch_size=8, uses_meta_split=False, paired=False)
    assert plain.meta_batches is None
    seen = {str(d) for batch in plain.batches for d in table.domains[batch]}
    assert seen == {REAL, *DOMAINS[:3]}  # the held-out domain never appears


def test_unpaired_meta_batches_come_from_meta_domains():
    table = _table()
    plan = plan_epoch(table, DOMAINS, seed=1, epoch=0, batch_size=8, uses_meta_split=True, paired=False)
    for meta_batch in plan.meta_batches:
        fakes = table.domains[meta_batch][table.labels[meta_batch] == 1]
        assert set(fakes) <= set(plan.info["meta_domains"])


def test_empty_source_domain_is_an_error_naming_it():
    table = _table(missing={(f"{t:03d}", "FaceSwap") for t in range(10)})
    with pytest.raises(ValueError, match="'FaceSwap' has no samples"):
        plan_epoch(table, DOMAINS[:3], seed=0, epoch=0, batch_size=8, uses_meta_split=True, paired=True)


def _fake_domains(table, rows) -> tuple[str, ...]:
    return tuple(sorted({str(d) for d in table.domains[rows][table.labels[rows] == 1]}))


def _steps(name: str, table, epoch: int, seed: int = 7) -> list[tuple[tuple[str, ...], tuple[str, ...]]]:
    """(fake domains of the batch, fake domains of the meta batch) of each step of ``epoch``, as ``name`` asks."""
    request = build_method(name, build_detector("tiny", 16, None), TrainConfig(method=name)).batch_request(epoch)
    source = ArrayEpochs(
        np.zeros((len(table.labels), 1, 1, 3), np.float32), table, DOMAINS[:3], seed=seed, batch_size=8
    )
    plan = source.plan(epoch, request)
    return [(_fake_domains(table, b), _fake_domains(table, m)) for b, m in zip(plan.batches, plan.meta_batches)]


def test_mldg_resplits_every_step_and_ltw_every_epoch():
    # Li et al. 2018, Alg. 1: a new random meta-train / meta-test split every iteration; LTW: one per epoch.
    table = _table(n_targets=20)
    mldg = _steps("mldg", table, epoch=1)
    assert len(mldg) > 10
    for train, meta in mldg:
        assert len(meta) == 1 and not set(train) & set(meta)  # each step's split: 2 train domains, 1 meta domain
    assert len({meta for _, meta in mldg}) == 3  # within one epoch every domain is the meta domain at some step
    assert _steps("mldg", table, epoch=1) == mldg  # reproducible from the seed
    assert _steps("mldg", table, epoch=1, seed=8) != mldg
    for epoch in range(3):  # LTW: the same meta domain for every step of an epoch
        assert len({meta for _, meta in _steps("ltw", table, epoch)}) == 1


def test_ltw_step_split_resplits_every_step_and_keeps_the_pairs():
    # the diagnostic variant: MLDG's per-step split, LTW's paired, label-flipped meta batches
    table = _table(n_targets=20)
    request = build_method("ltw-step-split", build_detector("tiny", 16, None), TrainConfig()).batch_request(1)
    assert (request.uses_meta_split, request.paired, request.split_every) == (True, True, "step")
    plan = ArrayEpochs(np.zeros((len(table.labels), 1, 1, 3), np.float32), table, DOMAINS[:3], seed=7, batch_size=8)
    plan = plan.plan(1, request)
    assert len({tuple(meta) for _, meta in plan.splits}) == 3  # every domain is the meta domain at some step
    for (train, meta), batch, meta_batch in zip(plan.splits, plan.batches, plan.meta_batches):
        for row, partner in zip(batch, meta_batch):
            assert table.labels[partner] == 1 - table.labels[row] and table.targets[partner] == table.targets[row]
            if table.labels[row] == 1:
                assert table.domains[row] in train and table.domains[partner] == REAL
            else:
                assert table.domains[partner] in meta  # the partner comes from this step's meta domain
    assert plan.info["pair_fallbacks"] == 0


def test_mldg_step_splits_are_identical_after_a_resume():
    # A resumed run asks a fresh source for epoch e: it must get the batches an uninterrupted run got.
    table = _table(n_targets=20)
    request = BatchRequest(uses_meta_split=True, paired=False, split_every="step")

    def source():
        return ArrayEpochs(np.zeros((len(table.labels), 1, 1, 3), np.float32), table, DOMAINS[:3], seed=3, batch_size=8)

    straight = source()
    straight.plan(0, request)
    a = straight.plan(1, request)
    b = source().plan(1, request)
    assert a.splits == b.splits and len(set(map(str, a.splits))) > 1
    assert all(np.array_equal(x, y) for x, y in zip(a.batches + a.meta_batches, b.batches + b.meta_batches))
    assert a.info == b.info and sum(a.info["step_splits"].values()) == len(a.batches)
    with pytest.raises(ValueError, match="split_every must be one of epoch, step"):
        plan_epoch(
            table, DOMAINS[:3], seed=0, epoch=0, batch_size=8, uses_meta_split=True, paired=False, split_every="x"
        )


@pytest.mark.parametrize(
    "uses_meta_split, paired, split_every",
    [
        (False, False, "epoch"),
        (True, True, "epoch"),
        (True, False, "epoch"),
        (True, True, "step"),
        (True, False, "step"),
    ],
)
def test_max_steps_keeps_the_full_epochs_first_steps_and_records_only_them(uses_meta_split, paired, split_every):
    # --steps-per-epoch must not change which batches train, only what the epoch records (issue 15: a 100-step
    # MLDG epoch recorded the 705 splits of its full plan).
    table = _table(n_targets=20, missing={("004", "FaceSwap")})
    kwargs = dict(
        seed=4, epoch=1, batch_size=8, uses_meta_split=uses_meta_split, paired=paired, split_every=split_every
    )
    full = plan_epoch(table, DOMAINS[:3], **kwargs)
    short = plan_epoch(table, DOMAINS[:3], max_steps=3, **kwargs)
    assert len(full.batches) > 3 and len(short.batches) == 3
    assert all(np.array_equal(a, b) for a, b in zip(short.batches, full.batches))
    if uses_meta_split:
        assert len(short.meta_batches) == 3
        assert all(np.array_equal(a, b) for a, b in zip(short.meta_batches, full.meta_batches))
    if split_every == "step":
        assert short.splits == full.splits[:3] and sum(short.info["step_splits"].values()) == 3
    long = plan_epoch(table, DOMAINS[:3], max_steps=10**6, **kwargs)
    assert long.info == full.info and len(long.batches) == len(full.batches)
