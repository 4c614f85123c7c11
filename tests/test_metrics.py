"""Tests for ltw_tf.metrics (pure numpy / scikit-learn, no TensorFlow)."""

from __future__ import annotations

import ast
import dataclasses
import functools
import math
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import log_loss as sk_log_loss
from sklearn.metrics import roc_auc_score

from ltw_tf import metrics as M
from ltw_tf.metrics import (
    Metrics,
    MetricsError,
    accuracy,
    compute_metrics,
    compute_video_metrics,
    eer,
    log_loss,
    roc_auc,
    tpr_at_fpr,
    video_level,
)

# 4-sample hand case: reals score 0.2, 0.6; fakes score 0.7, 0.4.
Y4 = [0, 0, 1, 1]
P4 = [0.2, 0.6, 0.7, 0.4]


def _phi(x: float) -> float:
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


# ---------------------------------------------------------------- hand-computed values


def test_accuracy_hand_case() -> None:
    # threshold 0.5 -> predictions [0, 1, 1, 0] vs labels [0, 0, 1, 1]: 2 of 4 correct.
    assert accuracy(Y4, P4) == 0.5
    # threshold 0.65 -> predictions [0, 0, 1, 0]: 3 of 4 correct.
    assert accuracy(Y4, P4, threshold=0.65) == 0.75


def test_accuracy_prob_equal_to_threshold_is_fake() -> None:
    assert accuracy([1], [0.5]) == 1.0
    assert accuracy([0], [0.5]) == 0.0
    assert accuracy([0, 1], [0.3, 0.3], threshold=0.3) == 0.5


def test_log_loss_hand_case() -> None:
    # Eq. 12: -(log(1-0.2) + log(1-0.6) + log(0.7) + log(0.4)) / 4
    #       = -(-0.22314 - 0.91629 - 0.35667 - 0.91629) / 4 = 0.60310
    expected = -(math.log(0.8) + math.log(0.4) + math.log(0.7) + math.log(0.4)) / 4
    # float64, 4 terms: a few eps64 relative; 1e-12 ~ 4500 ulps. The next line checks the 5-digit hand value (rounding
    # 5e-6)
    assert log_loss(Y4, P4) == pytest.approx(expected, rel=1e-12)
    assert log_loss(Y4, P4) == pytest.approx(0.60310, abs=1e-5)


def test_log_loss_clipping_and_one_class() -> None:
    # Confidently wrong predictions are clipped to eps: each term is -log(1e-7).
    assert log_loss([1, 0], [0.0, 1.0]) == pytest.approx(-math.log(1e-7))
    assert log_loss([1, 0], [0.0, 1.0], eps=1e-3) == pytest.approx(-math.log(1e-3))
    # One class is fine for LogLoss: -(log 0.5 + log 0.25) / 2 = 1.03972
    assert log_loss([1, 1], [0.5, 0.25]) == pytest.approx((math.log(2) + math.log(4)) / 2)
    assert log_loss([0], [0.0]) == pytest.approx(-math.log1p(-1e-7))


def test_auc_hand_cases() -> None:
    # Pairs (real, fake): (.2,.7)=1, (.2,.4)=1, (.6,.7)=1, (.6,.4)=0 -> 3/4.
    assert roc_auc(Y4, P4) == pytest.approx(0.75)
    assert roc_auc([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9]) == 1.0  # perfectly separated
    assert roc_auc([0, 0, 1, 1], [0.8, 0.9, 0.1, 0.2]) == 0.0  # reversed
    assert roc_auc([0, 0, 1, 1], [0.5, 0.5, 0.5, 0.5]) == 0.5  # all 4 pairs tied -> 4 * 1/2 / 4
    # reals .3,.5; fakes .5,.8: (.3,.5)=1, (.3,.8)=1, (.5,.5)=1/2 (tie), (.5,.8)=1 -> 3.5/4
    assert roc_auc([0, 0, 1, 1], [0.3, 0.5, 0.5, 0.8]) == pytest.approx(0.875)


def test_eer_exact_crossing() -> None:
    # reals .1 .2 .3 .6, fakes .5 .7 .8 .9. At threshold 0.6: FPR = 1/4 (real .6),
    # FNR = 1/4 (fake .5) -> the ROC point itself has FPR = FNR = 0.25.
    assert eer([0, 0, 0, 0, 1, 1, 1, 1], [0.1, 0.2, 0.3, 0.6, 0.5, 0.7, 0.8, 0.9]) == 0.25


def test_eer_interpolated_crossing() -> None:
    # reals .1 .5, fakes .5 .9. Full ROC: (0,0) -> (0,.5) [thr .9] -> (.5,1) [thr .5, tie] -> (1,1).
    # FNR - FPR is +0.5 at (0,.5) and -0.5 at (.5,1): crossing halfway -> FPR = FNR = 0.25.
    assert eer([0, 0, 1, 1], [0.1, 0.5, 0.5, 0.9]) == pytest.approx(0.25)
    # 4-sample case: ROC (0,0),(0,.5),(.5,.5),(.5,1),(1,1); FNR = FPR = 0.5 at (.5,.5).
    assert eer(Y4, P4) == pytest.approx(0.5)
    assert eer([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9]) == 0.0
    assert eer([0, 0, 1, 1], [0.8, 0.9, 0.1, 0.2]) == 1.0


def test_eer_two_gaussians_matches_brute_force_and_analytic() -> None:
    rng = np.random.default_rng(0)
    d, n = 1.5, 20000
    real, fake = rng.normal(0.0, 1.0, n), rng.normal(d, 1.0, n)
    scores = np.concatenate([real, fake])
    probs = 1.0 / (1.0 + np.exp(-scores))  # monotone map to [0, 1]; ROC unchanged
    labels = np.r_[np.zeros(n), np.ones(n)]
    got = eer(labels, probs)
    # Brute-force sweep over every sample score as threshold (predict fake iff score >= t).
    thr = np.sort(scores)
    fpr = 1.0 - np.searchsorted(np.sort(real), thr, side="left") / n
    fnr = np.searchsorted(np.sort(fake), thr, side="left") / n
    k = int(np.argmin(np.abs(fpr - fnr)))
    brute = (fpr[k] + fnr[k]) / 2
    # not rounding: the brute-force sweep evaluates rates at sample thresholds only, so it sits within a few steps of
    # 1/n = 5e-5 of the crossing; 1e-3 ~ 20x. The 1e-2 below is the sampling error of 20000-sample rates (~3e-3)
    assert abs(got - brute) < 1e-3
    assert abs(got - _phi(-d / 2)) < 1e-2  # Phi(-0.75) = 0.2266


def test_tpr_at_fpr_hand_cases() -> None:
    # reals .1 .2 .3 .4, fakes .05 .35 .5 .6; full ROC:
    # (0,0) (0,.25) (0,.5) (.25,.5) (.25,.75) (.5,.75) (.75,.75) (1,.75) (1,1)
    y = [0, 0, 0, 0, 1, 1, 1, 1]
    p = [0.1, 0.2, 0.3, 0.4, 0.05, 0.35, 0.5, 0.6]
    assert tpr_at_fpr(y, p, 0.0) == 0.5  # top of the vertical segment at FPR 0
    assert tpr_at_fpr(y, p, 0.1) == 0.5
    assert tpr_at_fpr(y, p, 0.25) == 0.75
    assert tpr_at_fpr(y, p, 0.6) == 0.75
    assert tpr_at_fpr(y, p, 1.0) == 1.0
    # Tie case ROC (0,0) (0,.5) (.5,1) (1,1): linear on the diagonal segment.
    assert tpr_at_fpr([0, 0, 1, 1], [0.1, 0.5, 0.5, 0.9], 0.25) == pytest.approx(0.75)
    assert tpr_at_fpr([0, 0, 1, 1], [0.1, 0.5, 0.5, 0.9], 0.1) == pytest.approx(0.6)


def test_tpr_at_fpr_monotone_in_target() -> None:
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 500)
    p = np.round(rng.random(500), 2)  # many ties
    vals = [tpr_at_fpr(y, p, t) for t in np.linspace(0, 1, 101)]
    assert np.all(np.diff(vals) >= -1e-12)
    assert vals[-1] == 1.0


def test_compute_metrics_hand_case() -> None:
    m = compute_metrics(Y4, P4)
    assert isinstance(m, Metrics)
    assert m.acc == 0.5
    assert m.logloss == pytest.approx(log_loss(Y4, P4))
    assert m.auc == pytest.approx(0.75)
    assert m.eer == pytest.approx(0.5)
    # ROC (0,0),(0,.5),(.5,.5),...: TPR at FPR 1e-2 / 1e-3 lies on the flat segment at 0.5.
    assert m.tpr_at_fpr_1e2 == pytest.approx(0.5)
    assert m.tpr_at_fpr_1e3 == pytest.approx(0.5)
    assert (m.n, m.n_real, m.n_fake) == (4, 2, 2)
    d = m.as_dict()
    fields = ["acc", "logloss", "auc", "eer", "tpr_at_fpr_1e2", "tpr_at_fpr_1e3", "n", "n_real", "n_fake"]
    assert list(d) == fields
    assert d["acc"] == 0.5 and d["n"] == 4
    with pytest.raises(dataclasses.FrozenInstanceError):
        m.acc = 1.0  # type: ignore[misc]
    assert compute_metrics(Y4, P4, threshold=0.65).acc == 0.75


# ---------------------------------------------------------------- against scikit-learn


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_against_sklearn_random(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 1000
    y = rng.integers(0, 2, n)
    p = np.clip(rng.beta(2, 2, n) + 0.15 * y - 0.05, 0.0, 1.0)
    p[:10] = [0.0, 1.0, 0.0, 1.0, 0.5, 0.5, 0.5, 0.5, 1e-9, 1 - 1e-9]  # exercise clipping and ties
    eps = 1e-7
    # both exact rank statistics in float64 (a sum of counts / (n_pos n_neg)): equal up to eps64 rounding of the
    # division
    assert roc_auc(y, p) == pytest.approx(roc_auc_score(y, p), abs=1e-12)
    assert log_loss(y, p, eps) == pytest.approx(sk_log_loss(y, np.clip(p, eps, 1 - eps), labels=[0, 1]))
    assert accuracy(y, p) == pytest.approx(np.mean((p >= 0.5).astype(int) == y))
    m = compute_metrics(y, p)
    assert m.auc == pytest.approx(roc_auc_score(y, p))
    assert m.logloss == pytest.approx(log_loss(y, p))
    assert m.eer == pytest.approx(eer(y, p))
    assert m.tpr_at_fpr_1e2 == pytest.approx(tpr_at_fpr(y, p, 1e-2))
    assert m.tpr_at_fpr_1e3 == pytest.approx(tpr_at_fpr(y, p, 1e-3))
    assert 0.0 <= m.eer <= 1.0 and 0.0 <= m.tpr_at_fpr_1e3 <= m.tpr_at_fpr_1e2 <= 1.0
    assert (m.n, m.n_real + m.n_fake, m.n_fake) == (n, n, int(y.sum()))


def test_accepts_lists_and_any_numeric_dtype() -> None:
    ref = compute_metrics(Y4, P4).as_dict()
    variants = [
        (np.array(Y4, dtype=bool), np.array(P4, dtype=np.float32)),
        (np.array(Y4, dtype=np.uint8), np.array(P4)),
        (np.array(Y4, dtype=float), list(P4)),
        (tuple(Y4), tuple(P4)),
    ]
    for y, p in variants:
        got = compute_metrics(y, p).as_dict()
        # float32 input probabilities (rounding 3e-8 relative) move log loss by ~1e-7; rank metrics exact: 1e-6
        assert got == pytest.approx(ref, abs=1e-6)
    assert log_loss([1], [1]) == pytest.approx(-math.log1p(-1e-7))  # integer probs


# ---------------------------------------------------------------- video level


VID_IDS = ["b", "a", "d", "c", "b", "a", "d", "c", "d"]
VID_Y = [1, 0, 1, 0, 1, 0, 1, 0, 1]
VID_P = [0.9, 0.2, 0.3, 0.6, 0.7, 0.4, 0.5, 0.1, 0.4]


def test_video_level_mean_aggregation_hand_case() -> None:
    # a: real (.2, .4) -> .3   b: fake (.9, .7) -> .8   c: real (.6, .1) -> .35   d: fake (.3, .5, .4) -> .4
    labels, probs, ids = video_level(VID_Y, VID_P, VID_IDS)
    assert ids.tolist() == ["a", "b", "c", "d"]
    assert labels.tolist() == [0, 1, 0, 1]
    np.testing.assert_allclose(probs, [0.3, 0.8, 0.35, 0.4])
    # Frame order does not matter.
    perm = np.random.default_rng(0).permutation(len(VID_IDS))
    l2, p2, i2 = video_level(np.array(VID_Y)[perm], np.array(VID_P)[perm], np.array(VID_IDS)[perm])
    assert i2.tolist() == ids.tolist() and l2.tolist() == labels.tolist()
    np.testing.assert_allclose(p2, probs)
    # Integer ids are sorted numerically.
    _, _, int_ids = video_level([0, 1, 0], [0.1, 0.9, 0.3], [10, 2, 10])
    assert int_ids.tolist() == [2, 10]


def test_compute_video_metrics_hand_case() -> None:
    # Videos (label, mean prob): a (0,.3) b (1,.8) c (0,.35) d (1,.4).
    # threshold .5 -> predictions 0,1,0,0 -> ACC 3/4; every fake > every real -> AUC 1, EER 0.
    m = compute_video_metrics(VID_Y, VID_P, VID_IDS)
    assert (m.n, m.n_real, m.n_fake) == (4, 2, 2)
    assert m.acc == 0.75
    assert m.auc == 1.0
    assert m.eer == 0.0
    assert m.tpr_at_fpr_1e3 == 1.0
    expected_ll = -(math.log(0.7) + math.log(0.8) + math.log(0.65) + math.log(0.4)) / 4
    assert m.logloss == pytest.approx(expected_ll)
    assert compute_video_metrics(VID_Y, VID_P, VID_IDS, threshold=0.35).acc == 0.75  # c flips to fake


def test_video_with_mixed_labels_raises() -> None:
    with pytest.raises(MetricsError, match=r"video 'v1' has mixed labels \(1 real, 2 fake frames\)"):
        video_level([0, 1, 1, 1], [0.1, 0.2, 0.3, 0.4], ["v1", "v1", "v1", "v2"])
    with pytest.raises(MetricsError, match=r"video 7 has mixed labels"):
        compute_video_metrics([0, 0, 1, 1], [0.1, 0.2, 0.3, 0.4], [3, 7, 7, 9])


def test_video_ids_length_mismatch_raises() -> None:
    with pytest.raises(MetricsError, match="length mismatch"):
        video_level([0, 1], [0.1, 0.9], ["a"])


# ---------------------------------------------------------------- errors


PUBLIC = {
    "accuracy": accuracy,
    "log_loss": log_loss,
    "roc_auc": roc_auc,
    "eer": eer,
    "tpr_at_fpr": functools.partial(tpr_at_fpr, target_fpr=0.01),
    "compute_metrics": compute_metrics,
    "video_level": lambda y, p: video_level(y, p, list(range(len(p)))),
    "compute_video_metrics": lambda y, p: compute_video_metrics(y, p, list(range(len(p)))),
}

BAD_INPUTS = [
    pytest.param([], [], r"empty input", id="empty"),
    pytest.param([0, 1, 1], [0.1, 0.9], r"length mismatch: 3 labels vs 2 probs", id="length-mismatch"),
    pytest.param([0, 1], [0.1, float("nan")], r"probs must be finite; got nan at index 1", id="nan"),
    pytest.param([0, 1], [float("inf"), 0.5], r"probs must be finite", id="inf"),
    pytest.param([0, 2], [0.1, 0.9], r"labels must be 0 \(real\) or 1 \(fake\); got \[2\]", id="label-2"),
    pytest.param([0, 1], [0.1, 1.5], r"probs must lie in \[0, 1\]; got 1.5 at index 1", id="prob-1.5"),
    pytest.param([0, 1], [-0.1, 0.5], r"probs must lie in \[0, 1\]", id="prob-negative"),
    pytest.param([0, 1], ["a", "b"], r"probs must be numeric", id="non-numeric"),
    pytest.param([[0, 1]], [[0.1, 0.9]], r"labels must be 1-D", id="2-d"),
]


@pytest.mark.parametrize("name", list(PUBLIC))
@pytest.mark.parametrize(("labels", "probs", "match"), BAD_INPUTS)
def test_invalid_input_raises(name: str, labels: list, probs: list, match: str) -> None:
    with pytest.raises(MetricsError, match=match):
        PUBLIC[name](labels, probs)


@pytest.mark.parametrize("name", ["roc_auc", "eer", "tpr_at_fpr", "compute_metrics", "compute_video_metrics"])
def test_one_class_raises_for_ranking_metrics(name: str) -> None:
    msg = r"AUC/EER need both real and fake samples; got only fake \(3 samples\)"
    with pytest.raises(MetricsError, match=msg):
        PUBLIC[name]([1, 1, 1], [0.1, 0.2, 0.3])
    with pytest.raises(MetricsError, match=r"got only real \(2 samples\)"):
        PUBLIC[name]([0, 0], [0.1, 0.2])


def test_one_class_allowed_for_accuracy_logloss_and_video_level() -> None:
    assert accuracy([1, 1, 1], [0.1, 0.6, 0.9]) == pytest.approx(2 / 3)
    assert math.isfinite(log_loss([0, 0], [0.1, 0.2]))
    labels, _, _ = video_level([1, 1], [0.2, 0.4], ["x", "x"])
    assert labels.tolist() == [1]


@pytest.mark.parametrize("bad", [-0.01, 1.01, float("nan"), "x"])
def test_bad_scalar_parameters_raise(bad: object) -> None:
    with pytest.raises(MetricsError, match="target_fpr must be"):
        tpr_at_fpr(Y4, P4, bad)  # type: ignore[arg-type]
    with pytest.raises(MetricsError, match="threshold must be"):
        accuracy(Y4, P4, threshold=bad)  # type: ignore[arg-type]
    with pytest.raises(MetricsError, match="threshold must be"):
        compute_metrics(Y4, P4, threshold=bad)  # type: ignore[arg-type]


def test_bad_eps_raises() -> None:
    with pytest.raises(MetricsError, match="eps must be"):
        log_loss(Y4, P4, eps=0.0)


def test_metrics_error_is_value_error() -> None:
    assert issubclass(MetricsError, ValueError)


def test_module_does_not_import_tensorflow() -> None:
    tree = ast.parse(Path(M.__file__).read_text())
    imported: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert "tensorflow" not in imported
    assert imported <= {"__future__", "dataclasses", "collections", "typing", "numpy", "sklearn"}
