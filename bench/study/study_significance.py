"""How much of a study's method differences the held-out test set and the seeds can resolve.

For every benchmark of a study's ``--runs-dir``, every finished run (all epochs in ``history.json``) is scored on
the held-out family's test faces (the run's best checkpoint, as ``ltw-tf evaluate`` does). Then, per method:
frame AUC per seed, mean and std over seeds, and for each method against ``--reference`` (default ``ltw``):

- the difference of the seed-mean frame AUCs;
- its test-set standard error: a bootstrap that resamples *videos* (real and fake strata apart, frames of a video
  stay together, because frames of one clip are not independent) and applies the same resample to every run, so
  the difference is paired on the test faces;
- its seed standard error, sqrt(var_a / n_a + var_b / n_b) over the runs' seeds;
- z = difference / sqrt(test s.e.^2 + seed s.e.^2), an approximate signal-to-noise ratio (|z| >= 2 is what this
  study calls a difference it can see);
- the **paired** difference over the seeds both methods ran (same seed = same initial detector and data order):
  d_s = AUC_method(s) - AUC_reference(s), its mean, and a 95 % interval that counts both noise sources,
  half-width = t_{0.975, df} * sqrt(seed s.e.^2 + test s.e.^2), df by Welch-Satterthwaite (the test term has
  infinite df, so df = (n - 1) * (total / seed s.e.)^4; normal quantile when n = 1).

How the two terms split the noise (``shared_test_var``): every seed is scored on the same test videos, so a seed's
error on them is a part all seeds share (which videos happened to be drawn) plus a part of its own (how this seed's
detector meets them). The mean of n seeds has test variance c + (v - c) / n (v = one seed's bootstrap variance,
c = the bootstrap covariance of two different seeds). The own part (v - c) already shows in the spread over seeds,
so the seed s.e. sd / sqrt(n) carries it, and the test s.e. is sqrt(c), the shared part alone: counting the
bootstrap of the mean as well would count (v - c) / n twice. With one seed nothing separates them: the test s.e.
is the whole bootstrap s.e. and there is no seed term. Each method's interval (the plot's bars) is built the same way.

The closing table (``--summary``, default ``alltrain,mldg``) is the one the study issue asks for: per benchmark,
``reference - method`` paired over seeds (e.g. LTW - Alltrain) with its 95 % interval and half-width; the
interval counts seed variance only with two seeds or more (one seed: test videos alone, marked). Its last column
says what would reach ``--goal`` (default +-0.03, the issue's): "reached", else the number of seeds at which the
interval would be that narrow if sd(d_s) stays as measured (the shared test term does not shrink with seeds), or
"more test videos" when the shared test term alone is wider; "–" with one seed (no seed spread measured yet).

``--plot PNG`` draws, per benchmark, each method's held-out AUC per seed and its mean with a 95 % interval
(seeds and video bootstrap combined the same way).

``--record FILE`` adds each scored run's AUC to FILE (benchmark, settings hash, method, seed, test faces, steps,
best validation AUC, machine, day; ``bench/study/recorded_aucs.json`` is the Lite0 study's), and ``--recorded
FILE`` pools those AUCs for seeds that have no scored run here, same benchmark, settings and test faces: the seeds
of a machine that is gone. They count in the seed spread and the paired differences; the test-set terms come from
the scored runs alone (the shared part c is the same videos' for every run). Tables mark them ʳ, the plot draws
them hollow. A benchmark with recorded runs and none here (every run gone) is analysed from the record alone, and
a pair of methods that shares no scored seed gets the seed term only: their intervals are marked ˢ.

``--eval-root ROOT`` scores every run on an independent prepared build instead (its held-out family and reals of
every split pooled; e.g. synthff ``--seed 1``, whose identities no run saw): the same population, more test videos,
so a narrower test-set term; the cache keeps those scores apart (RUN@ROOTNAME.npz). A full synthff ``study`` build
is about 7x the faces of one test split (~8000 per run), about a minute per run on 2 cores. The JSON says which
faces were scored (``held_out_faces``).

Run (from the repo root; TensorFlow on CPU, about 10 s per run at 64 px):
    python bench/study/study_significance.py --runs-dir /work/data/runs/study --cache /work/data/runs/study-scores
    python bench/study/study_significance.py --runs-dir runs --reference alltrain --rounds 4000 --json sig.json
    python bench/study/study_significance.py --runs-dir /work/data/runs/study-lite0 --eval-root FACES  # sff-eval1
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

from ltw_tf.native_logs import quiet_tensorflow  # noqa: E402

quiet_tensorflow(verbose=False)  # before TensorFlow: its start-up lines off this terminal


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs-dir", required=True, help="a study's --runs-dir")
    parser.add_argument("--reference", default="ltw", help="method every other is compared with (default: ltw)")
    parser.add_argument("--benchmarks", help="comma-separated benchmarks (default: all found)")
    parser.add_argument("--methods", help="comma-separated methods to score (default: all found; --reference always)")
    parser.add_argument(
        "--seeds",
        help="comma-separated training seeds to use (default: every finished seed), e.g. 0,1,2,3,4 for a study's "
        "first five while it trains more",
    )
    parser.add_argument(
        "--settings",
        help="comma-separated settings hashes (the last part of a run folder's name) to use (default: all, each "
        "compared apart), e.g. a study's own when longer runs of the same methods lie beside its runs",
    )
    parser.add_argument("--rounds", type=int, default=2000, help="bootstrap resamples of the test videos")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap RNG seed")
    parser.add_argument("--json", default="", help="also write the result as JSON to this path")
    parser.add_argument(
        "--summary",
        default="alltrain,mldg",
        help="methods of the closing table: reference - method paired per benchmark (default: alltrain,mldg)",
    )
    parser.add_argument(
        "--goal",
        type=float,
        default=0.03,
        help="half-width the closing table measures each interval against (default: 0.03, the study issue's)",
    )
    parser.add_argument("--plot", default="", help="also draw per-benchmark AUC with 95%% intervals to this PNG")
    parser.add_argument(
        "--record",
        default="",
        help="add each scored run's AUC (benchmark, settings, method, seed, test faces, steps, best val AUC, machine, "
        "day) to this JSON, "
        "so that a later analysis can pool them when the runs are gone (--recorded)",
    )
    parser.add_argument(
        "--recorded",
        default="",
        help="pool the AUCs recorded in this JSON (--record) for seeds without a scored run, same benchmark, "
        "settings and test faces (e.g. a study's seeds from a machine that is gone); test-set terms come from the "
        "scored runs",
    )
    parser.add_argument(
        "--cache",
        default="",
        help="keep each run's test scores here (RUN.npz, or RUN@ROOTNAME.npz with --eval-root; keyed by its "
        "checkpoint and the faces) so a rerun on a growing study scores only the new runs",
    )
    parser.add_argument(
        "--eval-root",
        default="",
        help="score on this prepared build instead of each run's own test split: its held-out family and reals "
        "of every split pooled (an independent build no run trained on, e.g. `ltw-tf synth --seed 1`): more "
        "test videos",
    )
    return parser.parse_args(argv)


def history(run: Path) -> list[dict]:
    return json.loads((run / "history.json").read_text())


def steps_of(run: Path) -> int:
    """The steps a finished run trained: its epochs' ``steps`` summed."""
    return sum(int(record.get("steps", 0)) for record in history(run))


def best_val_auc(run: Path) -> float:
    """The best source-domain validation AUC over the run's epochs (the checkpoint its scores come from)."""
    return max(record["val"]["auc"] for record in history(run) if "val" in record)


def settings_of(run: Path) -> str:
    """A run folder's settings hash: the last part of its name (``ltw_tf.study.run_name``)."""
    return run.name.rsplit("-", 1)[-1]


def settings_groups(by_benchmark: dict) -> dict:
    """``{benchmark: {settings hash: x}}`` -> ``{group: x}``: a group is the benchmark, or "benchmark @hash" when the
    folder holds runs of several settings for it, so runs of different settings are never compared or averaged."""
    return {
        benchmark if len(by_hash) == 1 else f"{benchmark} @{settings}": x
        for benchmark, by_hash in by_benchmark.items()
        for settings, x in by_hash.items()
    }


def finished_runs(runs_dir: Path, benchmarks: set[str] | None = None, settings: set[str] | None = None) -> dict:
    """``{group: {method: [(seed, run_dir)]}}`` of finished runs (history.json holds every configured epoch), of
    ``settings`` hashes only when given.

    A group is a benchmark, or "benchmark @hash" when the folder holds runs of several settings for it (run
    folders end in ``-<settings hash>``; methods are compared only within one setting)."""
    from ltw_tf.config import RunConfig
    from ltw_tf.methods import run_epochs
    from ltw_tf.study import history_complete

    found: dict = defaultdict(lambda: defaultdict(lambda: defaultdict(list)))
    for config_path in sorted(runs_dir.glob("*/config.json")):
        run = config_path.parent
        config = json.loads(config_path.read_text())
        benchmark, method, seed = config["data"]["benchmark"], config["train"]["method"], config["train"]["seed"]
        if (
            benchmarks
            and benchmark not in benchmarks
            or settings
            and settings_of(run) not in settings
            or not history_complete(run, run_epochs(RunConfig.from_dict(config).train))
        ):
            continue
        found[benchmark][settings_of(run)][method].append((seed, run))
    return settings_groups(found)


def video_resample_weights(labels: np.ndarray, videos: np.ndarray, rounds: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """Frame weights (rounds x n_real, rounds x n_fake) of a stratified bootstrap over videos: each stratum's
    videos are drawn with replacement and a frame weighs as often as its video was drawn."""
    out = []
    for label in (0, 1):
        frame_videos = videos[labels == label]
        names, index = np.unique(frame_videos, return_inverse=True)
        counts = rng.multinomial(len(names), np.full(len(names), 1.0 / len(names)), size=rounds)
        out.append(counts[:, index].astype(np.float64))
    return out[0], out[1]


def weighted_auc(labels: np.ndarray, probs: np.ndarray, w_real: np.ndarray, w_fake: np.ndarray) -> np.ndarray:
    """AUC per row of frame weights (rounds x n_real, rounds x n_fake): the weighted share of (real, fake) pairs the
    fake outranks, a tie counting half, sum_ij w_i w_j K_ij / (sum w_i sum w_j). Counted by rank: a fake's pairs
    are the real weight below its score plus half the real weight at it, cumulative sums over the sorted reals, so
    O(rounds x frames) instead of the rounds x n_real x n_fake pair matrix K. With the bootstrap's integer weights
    every sum is an exact integer (or half) in float64 until the one division."""
    real, fake = probs[labels == 0], probs[labels == 1]
    order = np.argsort(real, kind="stable")
    below = np.searchsorted(real[order], fake, side="left")  # reals strictly below each fake ...
    upto = np.searchsorted(real[order], fake, side="right")  # ... and up to a tie with it
    cum = np.zeros((w_real.shape[0], len(real) + 1))
    np.cumsum(w_real[:, order], axis=1, out=cum[:, 1:])
    outranked = cum[:, below] + 0.5 * (cum[:, upto] - cum[:, below])
    return (w_fake * outranked).sum(1) / (w_real.sum(1) * w_fake.sum(1))


EVAL_SPLITS = ("train", "val", "test")  # an --eval-root build is scored whole: no run saw any of its identities


def plain_auc(labels: np.ndarray, probs: np.ndarray) -> float:
    """A run's AUC on its scored faces, every face weighted once (``weighted_auc`` with unit weights)."""
    ones = np.ones((1, len(probs)))
    return float(weighted_auc(labels, probs, ones[:, labels == 0], ones[:, labels == 1])[0])


def faces_source(eval_root: Path | None) -> str:
    """What a cached score was made from besides the checkpoint: the eval build's path and its manifest's size
    and modification time (a rebuilt or grown build is scored again); "" for each run's own test split."""
    if eval_root is None:
        return ""
    manifest = (eval_root / "manifest.csv").stat()
    return f"{eval_root.resolve()} manifest {manifest.st_size} B {manifest.st_mtime_ns} ns"


def best_checkpoint(run: Path) -> str:
    """The cache key of ``run``'s best checkpoint (resolved: a run reached through a symlink has the same key)."""
    from ltw_tf.runs import resolve_run

    return str(Path(resolve_run(run).checkpoint).resolve())


def cache_file(run: Path, cache: Path, eval_root: Path | None = None) -> Path:
    """Where ``run``'s scores are cached: RUN.npz (own test split) or RUN@ROOTNAME.npz (``eval_root``)."""
    return cache / (f"{run.name}@{eval_root.name}.npz" if eval_root else f"{run.name}.npz")


def cached_scores(run: Path, cache: Path, eval_root: Path | None = None):
    """(labels, probs, video ids) of ``run`` from ``cache`` if a file there was made from its current best checkpoint
    (and the same ``eval_root``), else None."""
    path = cache_file(run, cache, eval_root)
    if not path.is_file():
        return None
    saved = np.load(path)
    if str(saved["checkpoint"]) != best_checkpoint(run) or str(saved.get("source", "")) != faces_source(eval_root):
        return None
    return saved["labels"], saved["probs"], saved["videos"]


def test_scores(
    run: Path, cache: Path | None, eval_root: Path | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(labels, probs, video ids) of ``run``'s best checkpoint on its held-out test faces, from ``cache`` when the
    cached file was made from the same checkpoint (and the same ``eval_root``).

    With ``eval_root`` (an independent prepared build, e.g. synthff seed 1) the faces are its held-out family and
    reals of every split pooled, instead of the run's own test split.
    """
    import tensorflow as tf

    from ltw_tf.evaluate import evaluate_run

    tf.get_logger().setLevel("ERROR")  # one inference function per run: TF's retracing notice is expected

    if cache and (saved := cached_scores(run, cache, eval_root)) is not None:
        return saved
    checkpoint = best_checkpoint(run)
    source = faces_source(eval_root)
    path = cache_file(run, cache, eval_root) if cache else None
    parts = []
    for split in EVAL_SPLITS if eval_root else ("test",):
        result = evaluate_run(run, data_root=eval_root, split=split)
        (target,) = result["targets"].values()
        parts.append((target["labels"], target["probs"], target["video_ids"].astype(str)))
    scores = tuple(np.concatenate(arrays) for arrays in zip(*parts))
    if path:
        tmp = path.with_name(path.stem + ".tmp.npz")
        np.savez(
            tmp,
            labels=scores[0],
            probs=scores[1],
            videos=scores[2],
            checkpoint=np.array(checkpoint),
            source=np.array(source),
        )
        tmp.replace(path)
    print(f"  scored {run.name}", file=sys.stderr)
    return scores


def score_runs(runs: dict, cache: Path | None = None, eval_root: Path | None = None) -> dict:
    """``{method: [(seed, labels, probs, videos)]}`` on the held-out faces (each run's own test split, or every split
    of ``eval_root``); all runs must see the same faces."""
    scored: dict = defaultdict(list)
    reference = None
    for method, seeded in sorted(runs.items()):
        for seed, run in sorted(seeded):
            labels, probs, videos = test_scores(run, cache, eval_root)
            faces = (labels, videos)
            if reference is None:
                reference = faces
            elif not (np.array_equal(reference[0], faces[0]) and np.array_equal(reference[1], faces[1])):
                raise SystemExit(f"error: {run} was scored on other test faces than the first run")
            scored[method].append((seed, labels, probs, videos))
    return scored


def interval(seed_se: float, test_se: float, n: int, level: float = 0.95) -> tuple[float, float]:
    """(half-width, df) of a ``level`` interval for a mean over ``n`` seeds whose noise is seed s.e. (n - 1 df) plus
    a bootstrap test s.e. (infinite df): Student t with Welch-Satterthwaite df."""
    from scipy import stats

    total = float(np.hypot(seed_se, test_se))
    df = (n - 1) * (total / seed_se) ** 4 if n > 1 and seed_se > 0 else float("inf")
    quantile = stats.norm.ppf(0.5 + level / 2) if np.isinf(df) else stats.t.ppf(0.5 + level / 2, df)
    return float(quantile * total), float(df)


def seeds_needed(seed_sd: float, test_se: float, goal: float, level: float = 0.95) -> int | None:
    """The fewest seeds n >= 2 whose paired interval (``interval`` with seed s.e. = seed_sd / sqrt(n)) is no wider
    than +-goal, the test s.e. held as measured; None when the test term alone is that wide."""
    from scipy import stats

    if stats.norm.ppf(0.5 + level / 2) * test_se >= goal:
        return None  # n -> inf leaves the normal quantile times the test s.e.

    def fits(n: int) -> bool:
        return interval(seed_sd / np.sqrt(n), test_se, n, level)[0] <= goal

    low, high = 1, 2  # the half-width falls with n (smaller seed s.e., more df) towards z * test_se < goal
    while not fits(high):
        low, high = high, 2 * high
    while high - low > 1:
        mid = (low + high) // 2
        low, high = (low, mid) if fits(mid) else (mid, high)
    return high


def shared_test_var(boots: np.ndarray, minus: np.ndarray | None = None) -> float:
    """The test-set variance of a seed mean that more seeds would not remove (module docstring): ``boots`` is
    n seeds x rounds bootstrap replicates of a per-seed statistic, every seed on the same video resamples; the mean
    covariance of two different seeds, or the variance with one seed. With ``minus`` (another method's seeds), of
    mean(boots) - mean(minus): the two shared parts less twice their covariance."""

    def within(rows: np.ndarray) -> float:
        cov = np.atleast_2d(np.cov(rows))
        n = len(cov)
        return float(cov[0, 0]) if n == 1 else float((cov.sum() - np.trace(cov)) / (n * (n - 1)))

    if minus is None:
        return max(0.0, within(boots))
    cross = np.cov(np.vstack([boots, minus]))[: len(boots), len(boots) :]
    return max(0.0, within(boots) + within(minus) - 2 * float(cross.mean()))


def paired(row: dict, ref: dict, boots: dict, method: str, reference: str) -> dict:
    """The paired difference over the seeds both methods ran, with its 95 % interval (module docstring)."""
    common = sorted(set(row["seeds"]) & set(ref["seeds"]))
    if not common:
        return {}
    at = {m: {s: i for i, s in enumerate(r["seeds"])} for m, r in ((method, row), (reference, ref))}
    diffs = np.array([row["auc"][at[method][s]] - ref["auc"][at[reference][s]] for s in common])
    both = [s for s in common if s in boots[method] and s in boots[reference]]  # recorded seeds have no bootstrap
    seed_se = float(diffs.std(ddof=1) / np.sqrt(len(diffs))) if len(diffs) > 1 else 0.0
    test_se = None  # no scored seed shared: the seed term alone (marked ˢ)
    if both:
        test_se = float(np.sqrt(shared_test_var(np.array([boots[method][s] - boots[reference][s] for s in both]))))
    half, df = interval(seed_se, test_se or 0.0, len(diffs))
    mean = float(diffs.mean())
    return {
        "paired_seeds": common,
        "paired_diffs": diffs.tolist(),
        "paired_diff": mean,
        "paired_seed_se": seed_se,
        "paired_test_se": test_se,
        "paired_df": df,
        "paired_ci95": [mean - half, mean + half],
        "paired_half_width": half,
    }


def compare(scored: dict, reference: str, rounds: int, seed: int, recorded: dict | None = None) -> dict:
    """Per method: AUC per seed, mean/std, the shared test-set s.e. of the mean; differences from ``reference``.

    ``recorded`` (``{method: {seed: auc}}``, ``read_recorded``) adds seeds whose runs are no longer at hand, scored
    on the same faces, to the seed spread; the test-set terms come from the scored runs alone. A method, or a pair,
    without a scored run (all recorded) has no test-set term (``None``): its interval is the seeds' alone."""
    weights = None
    if scored:  # every scored run saw the same faces (score_runs): one set of video resamples for all
        _, labels, _, videos = next(iter(scored.values()))[0]
        weights = video_resample_weights(labels, videos, rounds, np.random.default_rng(seed))
    rows = {}
    boot_runs = {}
    for method in sorted(set(scored) | set(recorded or {})):
        auc_of, boots = {}, {}
        for run_seed, run_labels, probs, _ in scored.get(method, []):
            auc_of[run_seed] = plain_auc(run_labels, probs)
            boots[run_seed] = weighted_auc(run_labels, probs, *weights)
        earlier = {s: a for s, a in (recorded or {}).get(method, {}).items() if s not in auc_of}
        auc_of |= earlier
        boot_runs[method] = boots
        seeds = sorted(auc_of)
        aucs = [auc_of[s] for s in seeds]
        test_se = float(np.sqrt(shared_test_var(np.array(list(boots.values()))))) if boots else None
        rows[method] = {
            "seeds": seeds,
            "auc": aucs,
            "recorded_seeds": sorted(earlier),
            "mean": statistics.fmean(aucs),
            "std": statistics.stdev(aucs) if len(aucs) > 1 else 0.0,
            "test_se": test_se,
        }
        half, _ = interval(rows[method]["std"] / np.sqrt(len(aucs)), test_se or 0.0, len(aucs))
        rows[method]["ci95"] = [rows[method]["mean"] - half, rows[method]["mean"] + half]
    if reference in rows:
        ref = rows[reference]
        for method, row in rows.items():
            if method == reference:
                continue
            diff = row["mean"] - ref["mean"]
            test_se = None
            if boot_runs[method] and boot_runs[reference]:
                ours, theirs = (np.array(list(boot_runs[m].values())) for m in (method, reference))
                test_se = float(np.sqrt(shared_test_var(ours, theirs)))
            seed_se = float(np.sqrt(row["std"] ** 2 / len(row["auc"]) + ref["std"] ** 2 / len(ref["auc"])))
            total = float(np.hypot(test_se or 0.0, seed_se))
            row.update(
                diff=diff, diff_test_se=test_se, diff_seed_se=seed_se, z=diff / total if total > 0 else float("nan")
            )
            row.update(paired(row, ref, boot_runs, method, reference))
    return rows


def seeds_only(row: dict) -> bool:
    """Whether a ``compare`` row has an interval without a test-set term (its method or its pair: nothing scored)."""
    return row["test_se"] is None or row.get("paired_test_se", 0) is None


def se_cell(value: float | None) -> str:
    """A test-set s.e. in a table: "–ˢ" where there is none (no scored run: the seeds' term alone)."""
    return "–ˢ" if value is None else f"{value:.3f}"


def to_markdown(results: dict, reference: str) -> str:
    lines = []
    for benchmark, rows in sorted(results.items()):
        lines += [
            f"**{benchmark}** (held-out frame AUC; differences are method - {reference})",
            "",
            "| method | AUC per seed | mean ± std | test s.e. | diff | test s.e. | seed s.e. | z |",
            "|---|---|---:|---:|---:|---:|---:|---:|",
        ]
        for method, row in sorted(rows.items()):
            recorded = set(row.get("recorded_seeds", ()))
            per_seed = " ".join(f"{a:.3f}" + ("ʳ" if s in recorded else "") for s, a in zip(row["seeds"], row["auc"]))
            cells = [method, per_seed, f"{row['mean']:.3f} ± {row['std']:.3f}", se_cell(row["test_se"])]
            if "diff" in row:
                cells += [
                    f"{row['diff']:+.3f}",
                    se_cell(row["diff_test_se"]),
                    f"{row['diff_seed_se']:.3f}",
                    f"{row['z']:+.1f}",
                ]
            else:
                cells += ["–"] * 4
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
        if any(r.get("recorded_seeds") for r in rows.values()):
            lines += ["ʳ recorded AUC (--recorded): a run no longer at hand; in the seed spread, not the test s.e.", ""]
        if any(seeds_only(r) for r in rows.values()):
            lines += ["ˢ seeds only: no scored run here (all recorded), so no test-set term", ""]
        pairs = [(m, r) for m, r in sorted(rows.items()) if "paired_diff" in r]
        if pairs:
            lines += [
                f"paired over seeds (method - {reference}, same seed), 95 % interval counting seeds and test videos:",
                "",
                "| method | seeds | diff per seed | mean diff | seed s.e. | test s.e. | 95 % interval | ± |",
                "|---|---|---|---:|---:|---:|---|---:|",
            ]
            for method, row in pairs:
                low, high = row["paired_ci95"]
                cells = [
                    method,
                    ",".join(str(s) for s in row["paired_seeds"]),
                    " ".join(f"{d:+.3f}" for d in row["paired_diffs"]),
                    f"{row['paired_diff']:+.3f}",
                    f"{row['paired_seed_se']:.3f}",
                    se_cell(row["paired_test_se"]),
                    f"[{low:+.3f}, {high:+.3f}]",
                    f"{row['paired_half_width']:.3f}",
                ]
                lines.append("| " + " | ".join(cells) + " |")
            lines.append("")
    return "\n".join(lines)


def summary_table(results: dict, reference: str, methods: list[str], goal: float = 0.03) -> str:
    """Per benchmark, ``reference - method`` paired over seeds: mean, 95 % interval, half-width, seeds, and what
    would reach +-goal (module docstring)."""
    head = "| benchmark | " + " | ".join(f"{reference} - {m} (95 % interval) | ± | seeds | ±{goal:g}" for m in methods)
    head += " |"
    lines = [
        f"paired held-out frame AUC differences, {reference} - method, same seeds (seeds + test videos):",
        "",
        head,
        "|---|" + "---|---:|---|---|" * len(methods),
    ]
    for benchmark, rows in sorted(results.items()):
        cells = [benchmark]
        for method in methods:
            row = rows.get(method, {})
            if "paired_diff" not in row:
                cells += ["–"] * 4
                continue
            low, high = row["paired_ci95"]
            n = len(row["paired_seeds"])
            cells += [
                f"{-row['paired_diff']:+.3f} [{-high:+.3f}, {-low:+.3f}]"
                + ("" if n > 1 else " (videos only)")
                + ("ˢ" if row["paired_test_se"] is None else ""),
                f"{row['paired_half_width']:.3f}",
                str(n),
                goal_cell(row, goal),
            ]
        lines.append("| " + " | ".join(cells) + " |")
    if any(r.get("paired_test_se", 0) is None for rows in results.values() for r in rows.values()):
        lines += ["", "ˢ seeds only: no seed of the pair scored here (all recorded), so no test-set term"]
    return "\n".join(lines) + "\n"


def goal_cell(row: dict, goal: float) -> str:
    """Whether +-goal is reached, how many seeds would reach it, or why none would ("–" with one seed)."""
    n = len(row["paired_seeds"])
    if n < 2:  # no seed spread measured: the interval is the test videos' alone
        return "–"
    if row["paired_half_width"] <= goal:
        return "reached"
    needed = seeds_needed(row["paired_seed_se"] * np.sqrt(n), row["paired_test_se"] or 0.0, goal)
    return f"~{needed} seeds" if needed else "more test videos"


def plot(results: dict, path: str, reference: str) -> None:
    """Per benchmark, top: each method's AUC per seed (dots) and its mean with a 95 % interval (bar); bottom: the
    paired difference reference - method per seed (dots) and its mean with the paired 95 % interval."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ltw_tf.io import atomic_write_bytes

    groups = sorted(results)
    any_recorded = any(row.get("recorded_seeds") for rows in results.values() for row in rows.values())
    any_seeds_only = any(seeds_only(row) for rows in results.values() for row in rows.values())
    fig, axes = plt.subplots(
        2,
        len(groups),
        figsize=(max(3.2 * len(groups) + 0.8, 6.4), 6.4),
        squeeze=False,
        sharey="row",
        height_ratios=(3, 2),
    )
    for top, bottom, group in zip(axes[0], axes[1], groups):
        rows = results[group]
        methods = sorted(rows, key=lambda m: (m != reference, m))
        for x, method in enumerate(methods):
            row = rows[method]
            color = "tab:red" if method == reference else "tab:blue"
            _bar(top, x, row["mean"], row["ci95"], row["auc"], color, recorded_mask(row["seeds"], row))
        top.axhline(0.5, color="0.7", lw=0.8, ls=":")
        top.set_xticks(range(len(methods)), methods, rotation=35, ha="right", fontsize=8)
        top.set_title(group, fontsize=9)
        others = [m for m in methods if "paired_diff" in rows[m]]
        for x, method in enumerate(others):  # reference - method: the interval and the seeds' differences negated
            row = rows[method]
            low, high = row["paired_ci95"]
            hollow = recorded_mask(row["paired_seeds"], row, rows[reference])
            _bar(bottom, x, -row["paired_diff"], (-high, -low), [-d for d in row["paired_diffs"]], "tab:purple", hollow)
        bottom.axhline(0.0, color="0.5", lw=0.8)
        bottom.set_xticks(
            range(len(others)), [f"{reference} - {m}" for m in others], rotation=35, ha="right", fontsize=8
        )
        bottom.set_xlim(-0.5, max(len(others), 2) - 0.5)
        for ax in (top, bottom):
            ax.grid(axis="y", alpha=0.3)
    axes[0][0].set_ylabel("held-out frame AUC")
    axes[1][0].set_ylabel("paired AUC difference")
    fig.suptitle(
        "held-out AUC per method (top), paired differences on the same seeds (bottom):\n"
        "mean with 95 % interval (seeds + test videos), dots = seeds"
        + ("; hollow = recorded (runs gone)" if any_recorded else "")
        + (
            "\nwhere a method or pair has no run scored here, its interval counts the seeds alone"
            if any_seeds_only
            else ""
        ),
        fontsize=9,
    )
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, dpi=110, format="png")
    plt.close(fig)
    atomic_write_bytes(path, buffer.getvalue())


def recorded_mask(seeds: list[int], *rows: dict) -> np.ndarray:
    """Which of ``seeds`` are recorded AUCs (``--recorded``) in any of ``rows``."""
    recorded = set().union(*(row.get("recorded_seeds", ()) for row in rows))
    return np.array([s in recorded for s in seeds], dtype=bool)


def _bar(ax, x: float, mean: float, ci: tuple[float, float], dots: list[float], color: str, hollow=None) -> None:
    """A mean with its interval at x, the per-seed values as grey dots beside it (``hollow``: open circles)."""
    ax.errorbar(x, mean, yerr=[[mean - ci[0]], [ci[1] - mean]], fmt="o", color=color, capsize=4, markersize=6)
    dots = np.asarray(dots, dtype=float)
    hollow = np.zeros(len(dots), dtype=bool) if hollow is None else hollow
    xs = np.full(len(dots), x + 0.18)
    ax.scatter(xs[~hollow], dots[~hollow], s=10, color="0.45", zorder=3)
    ax.scatter(xs[hollow], dots[hollow], s=14, facecolors="none", edgecolors="0.35", linewidths=0.8, zorder=3)


def comma_set(text: str | None) -> set[str] | None:
    """A comma list option (``--benchmarks``, ``--settings``) as a set of its names, None when not given."""
    return {name.strip() for name in text.split(",") if name.strip()} if text else None


class UsageError(ValueError):
    """A study script's argument is wrong (the message says how)."""


def faces_name(eval_root: Path | None) -> str:
    """The test faces a recorded AUC was scored on: the evaluation build's folder name, or "own test split"."""
    return eval_root.name if eval_root else "own test split"


def read_recorded(
    path: Path, entries: list[dict], group: str, faces: str, settings: set[str] | None, seeds: set[int] | None
) -> dict:
    """``{method: {seed: auc}}`` of the recorded runs ``entries`` (``path``'s, ``--record``) of ``group``'s benchmark
    (and settings hash, "benchmark @hash"), scored on ``faces``, of ``settings`` and ``seeds`` when given."""
    benchmark, _, at = group.partition(" @")
    out: dict = defaultdict(dict)
    for entry in entries:
        if (
            entry["benchmark"] == benchmark
            and entry["faces"] == faces
            and (not at or entry["settings"] == at)
            and (settings is None or entry["settings"] in settings)
            and (seeds is None or entry["seed"] in seeds)
        ):
            if entry["seed"] in out[entry["method"]]:
                raise UsageError(f"{path}: {benchmark} {entry['method']} seed {entry['seed']} is recorded twice")
            out[entry["method"]][entry["seed"]] = entry["auc"]
    return out


def recorded_only_groups(
    entries: list[dict], runs: dict, faces: str, benchmarks: set[str] | None, settings: set[str] | None
) -> list[str]:
    """The groups (as ``settings_groups`` names them) of recorded runs (``--recorded``) on ``faces`` whose benchmark
    has no finished run here: a study whose runs all went with their machines is still analysed, seeds alone."""
    here = {group.partition(" @")[0] for group in runs}
    hashes: dict = defaultdict(set)
    for entry in entries:
        if (
            entry["faces"] == faces
            and entry["benchmark"] not in here
            and (benchmarks is None or entry["benchmark"] in benchmarks)
            and (settings is None or entry["settings"] in settings)
        ):
            hashes[entry["benchmark"]].add(entry["settings"])
    return [b if len(h) == 1 else f"{b} @{at}" for b, h in hashes.items() for at in sorted(h)]


def record_runs(path: Path, runs: dict, results: dict, faces: str, machine: str, day: str) -> int:
    """Add each scored run's AUC to ``path`` (created if missing): benchmark, settings hash, method, seed, faces,
    AUC, the steps it trained and its best validation AUC, machine and day. A run recorded before with the same AUC
    is kept as it is; another AUC under the same benchmark, settings, method, seed and faces is another run of that
    seed (runs are not reproducible on every CPU, docs/RESULTS.md) and stops the recording with an error, the file
    untouched. Returns the runs added."""
    from ltw_tf.io import write_json

    book = json.loads(path.read_text()) if path.is_file() else {"runs": []}
    known = {(e["benchmark"], e["settings"], e["method"], e["seed"], e["faces"]): e for e in book["runs"]}
    added = 0
    for group, by_method in sorted(runs.items()):
        benchmark = group.partition(" @")[0]
        for method, seeded in sorted(by_method.items()):
            row = results[group][method]
            for seed, run in sorted(seeded):
                auc = row["auc"][row["seeds"].index(seed)]
                key = (benchmark, settings_of(run), method, seed, faces)
                if key in known:
                    if known[key]["auc"] != auc:
                        raise UsageError(
                            f"{path}: {benchmark} {method} seed {seed} is recorded with AUC {known[key]['auc']:.4f} "
                            f"({known[key]['machine']}); {run} scores {auc:.4f}: another run of that seed"
                        )
                    continue
                entry = dict(zip(("benchmark", "settings", "method", "seed", "faces"), key))
                entry |= {"auc": auc, "steps": steps_of(run), "best_val_auc": best_val_auc(run)}
                entry |= {"machine": machine, "scored": day}
                known[key] = entry
                book["runs"].append(entry)
                added += 1
    book["runs"].sort(key=lambda e: (e["benchmark"], e["settings"], e["faces"], e["method"], e["seed"]))
    write_json(path, book)
    return added


def read_inputs(runs_dir: str, seeds: str | None, eval_root: str) -> tuple[Path, set[int] | None, Path | None]:
    """The arguments the study scripts check alike: ``--runs-dir`` (a folder), ``--seeds`` (a comma list or None)
    and ``--eval-root`` (a prepared faces folder or "")."""
    folder = Path(runs_dir)
    if not folder.is_dir():
        raise UsageError(f"{folder} is not a folder")
    try:
        chosen = {int(s) for s in seeds.split(",") if s.strip()} if seeds else None
    except ValueError:
        raise UsageError(f"--seeds takes comma-separated integers, e.g. 0,1,2, got {seeds!r}") from None
    root = Path(eval_root) if eval_root else None
    if root and not (root / "manifest.csv").is_file():
        raise UsageError(f"--eval-root {root} is not a prepared faces folder (no manifest.csv)")
    return folder, chosen, root


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        runs_dir, seeds, eval_root = read_inputs(args.runs_dir, args.seeds, args.eval_root)
        if not args.goal > 0:
            raise UsageError("--goal must be a positive half-width, e.g. 0.03")
        if args.rounds < 2:
            raise UsageError("--rounds must be at least 2")
    except UsageError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    benchmarks, settings = comma_set(args.benchmarks), comma_set(args.settings)
    runs = finished_runs(runs_dir, benchmarks, settings)
    keep = {m.strip() for m in args.methods.split(",")} | {args.reference} if args.methods else None
    if keep:
        runs = {group: {m: r for m, r in by.items() if m in keep} for group, by in runs.items()}
    if seeds is not None:
        runs = {group: {m: [(s, r) for s, r in sr if s in seeds] for m, sr in by.items()} for group, by in runs.items()}
        runs = {group: {m: sr for m, sr in by.items() if sr} for group, by in runs.items()}
        runs = {group: by for group, by in runs.items() if by}
    recorded = Path(args.recorded) if args.recorded else None
    entries = json.loads(recorded.read_text())["runs"] if recorded else []  # read once for every group
    groups = dict(runs)
    groups |= {group: {} for group in recorded_only_groups(entries, runs, faces_name(eval_root), benchmarks, settings)}
    if not groups:
        chosen = (
            " of the chosen benchmarks, methods, seeds and settings"
            if benchmarks or args.methods or args.seeds or settings
            else ""
        )
        print(f"error: no finished runs{chosen} under {runs_dir}", file=sys.stderr)
        return 1
    cache = Path(args.cache) if args.cache else None
    if cache:
        cache.mkdir(parents=True, exist_ok=True)
    results = {}
    try:
        for group, by_method in sorted(groups.items()):
            print(f"{group}: {sum(len(v) for v in by_method.values())} runs", file=sys.stderr)
            scored = score_runs(by_method, cache, eval_root)
            earlier = None
            if recorded:
                earlier = read_recorded(recorded, entries, group, faces_name(eval_root), settings, seeds)
                earlier = {m: by_seed for m, by_seed in earlier.items() if keep is None or m in keep}
            rows = compare(scored, args.reference, args.rounds, args.seed, earlier)
            if rows:  # a recorded-only group may hold none of the chosen methods or seeds
                results[group] = rows
        if args.record:
            from datetime import datetime, timezone

            from ltw_tf.machine import cpu_info, cpu_summary

            day = datetime.now(timezone.utc).strftime("%Y-%m-%d")
            added = record_runs(Path(args.record), runs, results, faces_name(eval_root), cpu_summary(cpu_info()), day)
            print(f"recorded {added} new runs in {args.record}", file=sys.stderr)
    except UsageError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    where = f"every split of {eval_root} pooled (independent build)" if eval_root else "each run's own test split"
    print(f"held-out faces: {where}\n")
    print(to_markdown(results, args.reference))
    summary = [m.strip() for m in args.summary.split(",") if m.strip() and m.strip() != args.reference]
    if summary:
        print(summary_table(results, args.reference, summary, args.goal))
    if args.plot:
        plot(results, args.plot, args.reference)
    if args.json:
        from ltw_tf.io import write_json

        write_json(args.json, {"held_out_faces": where, **results})
    return 0


if __name__ == "__main__":
    sys.exit(main())
