"""How much the ICC term (lambda * L_icc, Eq. 11) moves a run's training gradient, from init to its last epoch.

LTW and its "w/o ICC" ablation differ only by lambda * L_icc in the meta-train and meta-test losses. This script
measures that term's size on the run's own source-domain training faces: for the detector at random init (the
run's seed, as the trainer builds it) and at each kept epoch checkpoint, over ``--batches`` batches of
``--batch-size`` faces drawn from the source domains' train split (half real, half fake, as training batches
are), it reports the
mean of BCE, lambda * L_icc, the gradient norms |dBCE/dtheta| and |d(lambda L_icc)/dtheta|, their ratio, and the
cosine between the two gradients (training-mode forward, as the meta-train step sees it; lambda from the run's
config, 0.01 by default). A ratio of a few percent means ICC is a small force on theta; two runs that differ only
by it can still end apart, because small changes grow over hundreds of steps.

Run (from the repo root; TensorFlow on CPU, ~1 s per checkpoint and batch at 64 px):
    python bench/study/icc_share.py /work/data/runs/study/gid-df23-ltw-s0-23af47f3
    python bench/study/icc_share.py --runs-dir /work/data/runs/study --methods ltw --batches 8
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

from ltw_tf.native_logs import quiet_tensorflow  # noqa: E402

quiet_tensorflow(verbose=False)  # before TensorFlow: its start-up lines off this terminal

COLUMNS = ("bce", "lam_icc", "grad_bce", "grad_icc", "ratio", "cosine")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="*", help="run directories")
    parser.add_argument("--runs-dir", help="take every finished run of --methods under this folder")
    parser.add_argument("--methods", default="ltw", help="with --runs-dir: comma-separated methods (default: ltw)")
    parser.add_argument("--batches", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0, help="which faces make the batches")
    parser.add_argument("--json", default="", help="also write the result as JSON to this path")
    return parser.parse_args(argv)


def select_runs(args) -> list[Path]:
    from ltw_tf.config import RunConfig
    from ltw_tf.methods import run_epochs
    from ltw_tf.study import history_complete

    runs = [Path(r) for r in args.runs]
    if args.runs_dir:
        methods = {m.strip() for m in args.methods.split(",")}
        for config_path in sorted(Path(args.runs_dir).glob("*/config.json")):
            config = json.loads(config_path.read_text())
            if config["train"]["method"] in methods and history_complete(
                config_path.parent, run_epochs(RunConfig.from_dict(config).train)
            ):
                runs.append(config_path.parent)
    return runs


def batches_of(run: Path, n: int, size: int, seed: int):
    """``n`` balanced (images, labels) batches of the run's source-domain training faces, without replacement."""
    import numpy as np

    from ltw_tf.benchmarks import get_benchmark, source_faces
    from ltw_tf.config import load_config
    from ltw_tf.data.manifest import read_manifest
    from ltw_tf.data.pipeline import eval_dataset
    from ltw_tf.runs import resolve_data_root

    config = load_config(run / "config.json")
    root = resolve_data_root(config)
    faces = source_faces(get_benchmark(config.data.benchmark), read_manifest(root), split="train")
    rng = np.random.default_rng(seed)
    reals = [f for f in faces if f.label == 0]
    fakes = [f for f in faces if f.label == 1]
    half = size // 2
    take = min(n * half, len(reals), len(fakes))
    real_pick, fake_pick = rng.choice(len(reals), take, replace=False), rng.choice(len(fakes), take, replace=False)
    chosen = []
    for start in range(0, take - half + 1, half):  # each batch: half reals, half fakes (the trainer's balance)
        chosen += [reals[i] for i in real_pick[start : start + half]] + [
            fakes[i] for i in fake_pick[start : start + half]
        ]
    return list(eval_dataset(chosen, root, config.model.image_size, 2 * half)), config


def states(run: Path, config):
    """(name, detector) at random init (the run's seed; the run's graph) and at each kept checkpoint, oldest
    first."""
    import keras
    import tensorflow as tf

    from ltw_tf.runs import build_run_detector, finalize_restored

    keras.utils.set_random_seed(config.train.seed)
    detector = build_run_detector(config)
    yield "init", detector
    state = tf.train.get_checkpoint_state(str(run / "checkpoints"))
    for prefix in state.all_model_checkpoint_paths if state else []:
        tf.train.Checkpoint(detector=detector).restore(prefix).expect_partial()
        finalize_restored(detector)
        yield Path(prefix).name, detector


def measure(detector, batches, lam: float) -> dict:
    """Means over ``batches`` of the COLUMNS quantities."""
    import tensorflow as tf

    from ltw_tf.losses import bce_per_sample, icc_loss

    values = {c: [] for c in COLUMNS}
    variables = detector.trainable_variables
    for images, labels in batches:
        with tf.GradientTape(persistent=True) as tape:
            _, logits = detector(images, training=True)
            bce = tf.reduce_mean(bce_per_sample(labels, logits))
            icc = lam * icc_loss(labels, logits)
        g_bce = tf.concat([tf.reshape(g, [-1]) for g in tape.gradient(bce, variables)], 0)
        g_icc = tf.concat([tf.reshape(g, [-1]) for g in tape.gradient(icc, variables, unconnected_gradients="zero")], 0)
        del tape
        n_bce, n_icc = float(tf.norm(g_bce)), float(tf.norm(g_icc))
        cosine = float(tf.reduce_sum(g_bce * g_icc)) / (n_bce * n_icc) if n_bce and n_icc else 0.0
        for name, value in zip(
            COLUMNS, (float(bce), float(icc), n_bce, n_icc, n_icc / n_bce if n_bce else 0.0, cosine)
        ):
            values[name].append(value)
    return {c: statistics.fmean(v) for c, v in values.items()}


def main(argv=None) -> int:
    args = parse_args(argv)
    runs = select_runs(args)
    if not runs:
        print("error: no runs (give RUN directories or --runs-dir with finished runs)", file=sys.stderr)
        return 2
    results = {}
    print("| run | state | BCE | lambda*ICC | \\|g_BCE\\| | \\|g_ICC\\| | ratio | cosine |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for run in runs:
        batches, config = batches_of(run, args.batches, args.batch_size, args.seed)
        lam = config.train.lam or 0.01
        results[run.name] = {}
        for name, detector in states(run, config):
            row = measure(detector, batches, lam)
            results[run.name][name] = row
            print(
                f"| {run.name} | {name} | {row['bce']:.3f} | {row['lam_icc']:+.4f} | {row['grad_bce']:.3f} | "
                f"{row['grad_icc']:.4f} | {row['ratio']:.3f} | {row['cosine']:+.2f} |",
                flush=True,
            )
    if args.json:
        from ltw_tf.io import write_json

        write_json(args.json, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
