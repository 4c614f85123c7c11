"""Is a training run reproducible on this CPU? The same seed, data and settings trained several times.

Each repeat is ``ltw-tf train`` in a fresh process (as a study's runs are), with TensorFlow's op determinism off and,
with ``--deterministic``, also on (``train.deterministic``: ``tf.config.experimental.enable_op_determinism()``).
Every run's per-step training loss is read from its TensorBoard scalars (float32, exact), and each run is compared
with the first of its mode: the first step at which its loss differs from that run's ("never" if none), and the
number of distinct loss trajectories among the repeats. Equal per-step losses over every step are what a
reproducible run gives; one ulp at one step is already another run. The history's epoch mean of the same losses is
checked against the scalars read, so that the trajectory compared is the one that trained.

``--in-process N`` adds the step alone: one fixed batch's training-mode loss and gradients computed N times in this
process from the same state (the first run's trained detector), counted bit-equal or not. If those are equal while
fresh runs diverge, what differs is outside one forward-backward on a fixed batch.

Run (from the repo root; a few minutes at the study's 112 px):
    python bench/reproducibility.py --data-root /work/data/sff-study-faces --benchmark gid-nt23 \\
        --backbone efficientnet_lite0 --weights imagenet --image-size 112 --batch-size 16 --steps 20 \\
        --repeats 4 --deterministic --in-process 50 --out /tmp/repro --json bench/out/reproducibility.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench" / "study"))


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", required=True, help="prepared faces (manifest.csv)")
    parser.add_argument("--benchmark", default="gid-nt23")
    parser.add_argument("--method", default="alltrain")
    parser.add_argument("--backbone", default="efficientnet_lite0")
    parser.add_argument("--weights", default="imagenet")
    parser.add_argument("--image-size", type=int, default=112)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--bn-momentum", type=float, default=0.9)
    parser.add_argument("--steps", type=int, default=20, help="training steps of each run (one epoch)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=3, help="runs per mode (at least 2)")
    parser.add_argument("--deterministic", action="store_true", help="also repeat with TF op determinism on")
    parser.add_argument("--in-process", type=int, default=0, help="also repeat one fixed batch's step N times")
    parser.add_argument("--out", required=True, help="folder for the runs (each repeat's run directory)")
    parser.add_argument("--json", default="", help="also write the result as JSON to this path")
    return parser.parse_args(argv)


def train(args: argparse.Namespace, out: Path, deterministic: bool) -> None:
    """One ``ltw-tf train`` run in a fresh process (its own TensorFlow, as a study's runs)."""
    config = out.with_name(out.name + ".config.json")
    config.write_text(json.dumps({"train": {"deterministic": deterministic}}))
    command = [sys.executable, "-m", "cli.main", "--quiet", "train", args.benchmark, "--data-root", args.data_root]
    command += ["--method", args.method, "--backbone", args.backbone, "--weights", args.weights]
    command += ["--image-size", str(args.image_size), "--batch-size", str(args.batch_size)]
    command += ["--bn-momentum", str(args.bn_momentum), "--epochs", "1", "--steps-per-epoch", str(args.steps)]
    command += ["--seed", str(args.seed), "--config", str(config), "--out", str(out)]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"error: {' '.join(command)} failed:\n{done.stderr[-2000:]}")


def losses(run: Path) -> list[float]:
    """The run's per-step training loss from its TensorBoard scalars, step 1 first."""
    from study_curves import step_scalars

    by_step = step_scalars(run)["train/loss"]
    return [by_step[s] for s in sorted(by_step)]


def first_difference(a: list[float], b: list[float]) -> int | None:
    """The first (1-based) step whose loss differs, None when every step is equal."""
    return next(
        (k + 1 for k, (x, y) in enumerate(zip(a, b)) if x != y), None if len(a) == len(b) else min(len(a), len(b)) + 1
    )


def repeat_runs(args: argparse.Namespace, deterministic: bool) -> dict:
    """The mode's repeats: per run its losses, the step it leaves the first run, the history's mean check."""
    mode = "deterministic" if deterministic else "default"
    runs = []
    for k in range(args.repeats):
        out = Path(args.out) / f"{mode}-{k + 1}"
        train(args, out, deterministic)
        trajectory = losses(out)
        (record,) = json.loads((out / "history.json").read_text())
        runs.append({"run": str(out), "loss": trajectory, "history_mean": record["train"]["loss"]})
    for run in runs:
        run["leaves_first_at"] = first_difference(runs[0]["loss"], run["loss"])
    return {"mode": mode, "runs": runs, "trajectories": len({tuple(r["loss"]) for r in runs})}


def in_process(run: Path, times: int, batch: int, image_size: int) -> dict:
    """One fixed batch's training-mode loss and gradients, ``times`` times from the run's trained detector."""
    import numpy as np
    import tensorflow as tf

    from ltw_tf.runs import load_detector

    detector, _ = load_detector(run)
    rng = np.random.default_rng(0)
    x = tf.constant(rng.integers(0, 256, (batch, image_size, image_size, 3)).astype(np.float32))
    y = tf.constant(rng.integers(0, 2, (batch, 1)).astype(np.float32))
    state = [v.numpy() for v in detector.non_trainable_variables]  # BN statistics and dropout seeds back each time

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            logits = detector(x, training=True)
            logits = logits[-1] if isinstance(logits, (tuple, list)) else logits
            loss = tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(y, tf.reshape(logits, (-1, 1))))
        return loss, tape.gradient(loss, detector.trainable_variables)

    first, equal = None, 0
    for _ in range(times):
        for variable, value in zip(detector.non_trainable_variables, state):
            variable.assign(value)
        loss, grads = step()
        now = [loss.numpy()] + [g.numpy() for g in grads]
        if first is None:
            first = now
        equal += all(np.array_equal(a, b) for a, b in zip(first, now))
    return {"repeats": times, "bit_equal_to_first": equal}


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.repeats < 2 or args.steps < 1:
        print("error: --repeats must be at least 2 and --steps at least 1", file=sys.stderr)
        return 2
    if not (Path(args.data_root) / "manifest.csv").is_file():
        print(f"error: --data-root {args.data_root} is not a prepared faces folder (no manifest.csv)", file=sys.stderr)
        return 2
    from ltw_tf.machine import cpu_info

    cpu = cpu_info()
    print(f"cpu: {cpu['summary']}; TF_ENABLE_ONEDNN_OPTS={os.environ.get('TF_ENABLE_ONEDNN_OPTS', '(default)')}")
    Path(args.out).mkdir(parents=True, exist_ok=True)
    modes = [repeat_runs(args, False)] + ([repeat_runs(args, True)] if args.deterministic else [])
    for mode in modes:
        left = ", ".join(str(r["leaves_first_at"] or "never") for r in mode["runs"][1:])
        print(
            f"{mode['mode']}: {mode['trajectories']} distinct loss trajectories in {len(mode['runs'])} runs of "
            f"{args.steps} steps; repeats 2.. leave run 1 at step: {left}"
        )
    result = {"cpu": cpu, "onednn": os.environ.get("TF_ENABLE_ONEDNN_OPTS"), "settings": vars(args), "modes": modes}
    if args.in_process:
        result["in_process"] = in_process(
            Path(modes[0]["runs"][0]["run"]), args.in_process, args.batch_size, args.image_size
        )
        same = result["in_process"]
        print(
            f"in process: one fixed batch's loss and gradients {same['bit_equal_to_first']} of {same['repeats']} "
            "times bit-equal to the first"
        )
    if args.json:
        from ltw_tf.io import write_json

        write_json(args.json, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
