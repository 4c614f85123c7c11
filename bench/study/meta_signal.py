"""How much the meta-test term still teaches: LTW's meta-test loss and its gradients, from init to each checkpoint.

LTW learns the weight net only through G_w = dM/dw (Eq. 6), the meta-test loss M differentiated through the
virtual update theta' = theta - alpha dT/dtheta; MLDG and LTW add beta dM/dtheta to the detector's gradient
(Eq. 5). When the detector already separates the meta-test domain, M is near zero and so are both: the meta
objective stops steering training. This script measures that on a finished run's own batches. For the run's
detector (and p(w)) at random init (the run's seed, as the trainer builds it) and at each kept epoch checkpoint,
it takes the first ``--steps`` (meta-train, meta-test) batch pairs of the epoch that follows the checkpoint
(the batches training drew, or would draw after its last epoch, from the run's seed: never batches the state
has already trained on) and calls the trainer's own ``meta_step`` (second order, training mode), with the
run's dropout / stochastic-depth RNG restored and advanced from step to step as in training. Means over the
steps of:

- T, the weighted meta-train loss, and M, the meta-test loss at theta';
- |dT/dtheta|, |beta dM/dtheta| and the ratio of their means, and the cosine between dT/dtheta and dM/dtheta;
- |G_w| = |dM/dw| (the weight net's whole learning signal; null for methods without p(w));
- p(w)'s batch mean and std (the weights T applied).

Run (from the repo root; TensorFlow on CPU, a few seconds per checkpoint and step at 112 px):
    python bench/study/meta_signal.py /work/data/runs/study-lite0/gid-fs23-ltw-s0-b6e7f4c3
    python bench/study/meta_signal.py --runs-dir /work/data/runs/study-lite0 --methods ltw,mldg --steps 4 --json m.json
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
from pathlib import Path

from ltw_tf.native_logs import quiet_tensorflow  # noqa: E402

quiet_tensorflow(verbose=False)  # before TensorFlow: its start-up lines off this terminal

COLUMNS = (
    "train_loss",
    "meta_loss",
    "grad_train",
    "grad_meta",
    "ratio",
    "cosine",
    "grad_w",
    "weight_mean",
    "weight_std",
)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="*", help="run directories (methods with a meta-test step: ltw, mldg, ...)")
    parser.add_argument("--runs-dir", help="take every finished run of --methods under this folder")
    parser.add_argument("--methods", default="ltw", help="with --runs-dir: comma-separated methods (default: ltw)")
    parser.add_argument("--steps", type=int, default=4, help="batch pairs per checkpoint (default 4)")
    parser.add_argument("--json", default="", help="also write the result as JSON to this path")
    return parser.parse_args(argv)


def _flat(grads):
    import tensorflow as tf

    return tf.concat([tf.reshape(g, [-1]) for g in grads], 0)


def measure(method, pairs, config) -> dict:
    """Means over ``pairs`` of the COLUMNS quantities for the method's current detector and weight net."""
    import tensorflow as tf

    from ltw_tf.methods.ltw import _assign, meta_step

    train = config.train
    lam = getattr(method, "lam", train.lam)
    values = {c: [] for c in COLUMNS if c != "ratio"}
    weight_net = getattr(method, "weight_net", None)
    for batch, meta_batch in pairs:
        args = (method.detector, weight_net, batch, meta_batch)
        # beta = 0 returns dT/dtheta alone; with the run's beta, dT/dtheta + beta dM/dtheta (same dropout draws:
        # both calls start from the same snapshot of the seed states)
        g_train, _, _, _, _ = meta_step(*args, alpha=train.alpha, beta=0.0, lam=lam)
        g_total, g_w, logs, det_state, wn_state = meta_step(*args, alpha=train.alpha, beta=train.beta, lam=lam)
        # as LTW._meta_update does after a step: BN moving statistics (unused in training mode), the advanced RNG
        _assign(method.detector.non_trainable_variables, det_state)
        if weight_net is not None:
            _assign(weight_net.non_trainable_variables, wn_state)
        g_train, g_total = _flat(g_train), _flat(g_total)
        g_meta = g_total - g_train  # beta dM/dtheta
        n_train, n_meta = float(tf.norm(g_train)), float(tf.norm(g_meta))
        cosine = float(tf.reduce_sum(g_train * g_meta)) / (n_train * n_meta) if n_train and n_meta else 0.0
        row = {
            "train_loss": float(logs["train_loss"]),
            "meta_loss": float(logs["meta_loss"]),
            "grad_train": n_train,
            "grad_meta": n_meta,
            "cosine": cosine,
            "grad_w": float(tf.norm(_flat(g_w))) if g_w else None,
            "weight_mean": float(logs["weight_mean"]) if "weight_mean" in logs else None,
            "weight_std": float(logs["weight_std"]) if "weight_std" in logs else None,
        }
        for name, value in row.items():
            values[name].append(value)
    means = {c: statistics.fmean(v) if None not in v else None for c, v in values.items()}
    # the ratio of the means, not a mean of per-step ratios (that explodes on one step whose dT/dtheta is ~0)
    means["ratio"] = means["grad_meta"] / means["grad_train"] if means["grad_train"] else 0.0
    return {c: means[c] for c in COLUMNS}


def states(run: Path, config):
    """(name, method, epoch whose batches to use) at init and after each kept checkpoint, oldest first."""
    import tensorflow as tf

    from ltw_tf.run import with_graph
    from ltw_tf.runs import finalize_restored
    from ltw_tf.trainer import build_from_config

    # seeded as the trainer builds it: the run's initial state (reads the run's pretrained init, like training);
    # one device (a distributed run's step on the global batch is the same step)
    method = build_from_config(with_graph(config).override({"train.strategy": "default"}))
    yield "init", method, 0
    checkpoint = tf.train.get_checkpoint_state(str(run / "checkpoints"))
    items = {k: v for k, v in method.trackables().items() if k in ("detector", "weight_net", "rng")}
    for prefix in checkpoint.all_model_checkpoint_paths if checkpoint else []:
        tf.train.Checkpoint(**items).restore(prefix).expect_partial().assert_existing_objects_matched()
        finalize_restored(*(items[k] for k in ("detector", "weight_net") if k in items))
        done = int(prefix.rsplit("-", 1)[1])  # ckpt-N: N epochs trained; epoch N (0-based) comes next
        yield Path(prefix).name, method, done


def run_pairs(method, source, epoch: int, steps: int) -> list:
    """The first ``steps`` (batch, meta batch) pairs training drew in ``epoch`` (0-based); [] without meta-test."""
    data = source.epoch(epoch, method.batch_request(epoch))
    pairs = list(itertools.islice(data.batches, steps))
    return [] if not pairs or pairs[0][1] is None else pairs


def select_runs(args) -> list[Path]:
    here = str(Path(__file__).resolve().parent)
    if here not in sys.path:
        sys.path.insert(0, here)
    from icc_share import select_runs as finished

    return finished(args)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.steps < 1:
        print("error: --steps must be at least 1", file=sys.stderr)
        return 2
    runs = select_runs(args)
    if not runs:
        print("error: no runs (give RUN directories or --runs-dir with finished runs)", file=sys.stderr)
        return 2
    from ltw_tf.config import load_config
    from ltw_tf.io import write_json
    from ltw_tf.run import run_inputs

    results = {}
    print("| run | state | T | M | \\|dT\\| | \\|beta dM\\| | ratio | cosine | \\|G_w\\| | w mean | w std |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for run in runs:
        config = load_config(run / "config.json")
        source = run_inputs(config).train
        results[run.name] = {}
        for name, method, epoch in states(run, config):
            pairs = run_pairs(method, source, epoch, args.steps)
            if not pairs:
                print(f"| {run.name} | {name} | (no meta-test batches in epoch {epoch + 1}) |", flush=True)
                continue
            row = measure(method, pairs, config)
            results[run.name][name] = row
            w = (
                ("–", "–", "–")
                if row["grad_w"] is None
                else (f"{row['grad_w']:.2e}", f"{row['weight_mean']:.3f}", f"{row['weight_std']:.3f}")
            )
            print(
                f"| {run.name} | {name} | {row['train_loss']:.4f} | {row['meta_loss']:.4f} | {row['grad_train']:.3f} "
                f"| {row['grad_meta']:.4f} | {row['ratio']:.3f} | {row['cosine']:+.2f} | {w[0]} | {w[1]} | {w[2]} |",
                flush=True,
            )
    if args.json:
        write_json(args.json, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
