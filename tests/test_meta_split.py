"""Meta-split and pairing rules (ALGORITHM.md): split sizes, no overlap, partner relation, determinism."""

import numpy as np
import pytest

from ltw_tf.data.meta_split import REAL, SampleTable, meta_split, plan_epoch

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
