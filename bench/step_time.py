"""Wall-clock cost of one training step per method: LTW's second-order meta step against Alltrain.

For each method named in ``--methods`` this builds a fresh randomly initialised detector (``weights=None``;
nothing is downloaded) and the method via ``build_method``, then feeds it one fixed random batch (0-255
float32 images, balanced 0/1 labels) and a label-flipped meta batch of the same size. In one process it
measures each method's first call (tf.function trace + graph optimisation/compile + the first step), then runs
``--warmup`` untimed and ``--steps`` timed steps, round-robin across the methods so that load drifting on a
shared machine hits them alike. Each step is synchronised by ``float(logs["loss"])``. Reported: median, mean
and min wall seconds per step, median process CPU seconds per step (all threads), and images per second
(batch size / median wall; the meta batch is not counted). ``--equal-images`` adds Alltrain on the train and
meta batch together (the images one LTW step sees) and prints LTW's ratio to it. The table is printed, the LAST
line is the LTW/Alltrain ratio of median step times, and everything (plus machine info) is written as JSON.

Run (from the repo root):
    python bench/step_time.py --backbone tiny --image-size 64               # smoke test, seconds
    python bench/step_time.py --backbone efficientnet_b0 --image-size 224   # the real measurement
    python bench/step_time.py --jit ...                                     # XLA (TrainConfig.jit_compile)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from ltw_tf.native_logs import quiet_tensorflow  # noqa: E402

quiet_tensorflow(verbose=False)  # before TensorFlow: its start-up lines off this terminal

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from ltw_tf.config import TrainConfig  # noqa: E402
from ltw_tf.machine import cpu_info  # noqa: E402
from ltw_tf.methods import METHODS, build_method  # noqa: E402
from ltw_tf.models.activations import swish  # noqa: E402
from ltw_tf.models.detector import build_detector  # noqa: E402
from ltw_tf.runtime import configure_graph_optimizer  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", default="efficientnet_b0")
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--steps", type=int, default=5, help="timed steps after warm-up")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps after the first call")
    parser.add_argument(
        "--methods", default="alltrain,ltw", help=f"comma-separated registered names: {', '.join(METHODS)}"
    )
    parser.add_argument("--jit", action="store_true", help="TrainConfig.jit_compile=True (XLA)")
    parser.add_argument(
        "--graph-optimizer",
        choices=("on", "off"),
        default="on",
        help="Grappler (TrainConfig.graph_optimizer; on is TensorFlow's and training's default)",
    )
    parser.add_argument(
        "--ab-grappler",
        action="store_true",
        help="also build every method with Grappler the other way (on <-> off) and print, per method, "
        "off/on ratios of first call and step time from the same round-robin run",
    )
    parser.add_argument(
        "--equal-images",
        action="store_true",
        help="also time Alltrain on the train and meta batch together (2x batch: the images an "
        "LTW step sees) and print LTW's ratio to it",
    )
    parser.add_argument(
        "--swish",
        choices=("plain", "stock"),
        default="plain",
        help="plain x*sigmoid(x) (the detector's default) or Keras' silu (tf.nn.silu), for A/B runs",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default="bench/out/step_time.json", help="output path ('' to skip)")
    args = parser.parse_args(argv)
    args.methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = [m for m in args.methods if m not in METHODS]
    if unknown:
        parser.error(f"unknown method(s) {unknown}; valid: {', '.join(METHODS)}")
    if args.batch_size < 2 or args.steps < 1 or args.warmup < 0:
        parser.error("need --batch-size >= 2, --steps >= 1, --warmup >= 0")
    return args


def make_batches(batch_size: int, image_size: int, seed: int):
    """(images, labels) with balanced 0/1 labels, and the meta batch: other images, labels flipped."""
    rng = np.random.default_rng(seed)
    shape = (batch_size, image_size, image_size, 3)
    labels = (np.arange(batch_size) % 2).astype(np.float32)
    images = rng.uniform(0.0, 255.0, shape).astype(np.float32)
    meta_images = rng.uniform(0.0, 255.0, shape).astype(np.float32)
    batch = (tf.constant(images), tf.constant(labels))
    meta_batch = (tf.constant(meta_images), tf.constant(1.0 - labels))
    return batch, meta_batch


class Runner:
    """One method on a fresh detector; ``step`` runs one synchronised train step, returning (wall, cpu) s."""

    def __init__(self, name: str, args: argparse.Namespace, batch, meta_batch, label: str | None = None):
        keras.utils.clear_session()  # fresh layer names (earlier runners keep their own graphs)
        tf.random.set_seed(args.seed)
        self.name, self.label, self.batch_size = name, label or name, int(batch[0].shape[0])
        self.detector = build_detector(args.backbone, args.image_size, weights=None)
        if args.swish == "stock":
            for layer in self.detector._flatten_layers(include_self=False):
                if getattr(layer, "activation", None) is swish:
                    layer.activation = keras.activations.silu
        config = TrainConfig(method=name, batch_size=args.batch_size, jit_compile=args.jit, seed=args.seed)
        self.method = build_method(name, self.detector, config)
        self.batch, self.meta = batch, (meta_batch if self.method.uses_meta_split else None)
        self.wall, self.cpu, self.loss = [], [], float("nan")

    def step(self) -> tuple[float, float]:
        wall, cpu = time.perf_counter(), time.process_time()
        self.loss = float(self.method.train_step(self.batch, self.meta)["loss"])  # float() syncs
        return time.perf_counter() - wall, time.process_time() - cpu

    def first_call(self) -> None:
        self.first_call_s, self.first_call_cpu_s = self.step()
        self.first_loss = self.loss

    def timed_step(self) -> None:
        wall, cpu = self.step()
        self.wall.append(wall)
        self.cpu.append(cpu)

    def result(self) -> dict:
        median = statistics.median(self.wall)
        return {
            "method": self.label,
            "first_call_s": self.first_call_s,
            "first_call_cpu_s": self.first_call_cpu_s,
            "median_step_s": median,
            "mean_step_s": statistics.fmean(self.wall),
            "min_step_s": min(self.wall),
            "max_step_s": max(self.wall),
            "median_cpu_s": statistics.median(self.cpu),
            "step_times_s": self.wall,
            "step_cpu_s": self.cpu,
            "images_per_s": self.batch_size / median,
            "first_loss": self.first_loss,
            "last_loss": self.loss,
            "finite": bool(np.isfinite(self.loss)),
            "detector_params": int(self.detector.count_params()),
        }


EQUAL = "alltrain-2x"  # the --equal-images runner's name in the table and JSON


def machine_info() -> dict:
    cpu = cpu_info()
    return {
        "cpu": cpu["model"],
        "cpu_flags": cpu["flags"],
        "cpu_summary": cpu["summary"],
        "cpu_count": os.cpu_count(),
        "sched_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "devices": [f"{d.device_type}:{d.name}" for d in tf.config.list_physical_devices()],
        "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
        "inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads(),
    }


def main(argv=None) -> int:
    args = parse_args(argv)
    grappler = configure_graph_optimizer(args.graph_optimizer)
    batch, meta_batch = make_batches(args.batch_size, args.image_size, args.seed)
    print(
        f"backbone={args.backbone} image_size={args.image_size} batch_size={args.batch_size} "
        f"warmup={args.warmup} steps={args.steps} jit={args.jit} swish={args.swish} "
        f"grappler={'on' if grappler else 'off'} cpus={os.cpu_count()}",
        flush=True,
    )
    print(f"cpu: {cpu_info()['summary']}", flush=True)
    runners = []
    modes = [grappler, not grappler] if args.ab_grappler else [grappler]
    for on in modes:  # build and first call (trace + graph optimisation + one step) of every method
        configure_graph_optimizer("on" if on else "off")  # read when a function is first instantiated
        for name in args.methods:
            label = name if on == grappler else f"{name}/grappler-{'on' if on else 'off'}"
            print(f"[{label}] building and tracing ...", flush=True)
            runners.append(Runner(name, args, batch, meta_batch, label=label))
            runners[-1].first_call()
            print(f"[{label}] first call {runners[-1].first_call_s:.2f} s", flush=True)
    configure_graph_optimizer("on" if grappler else "off")
    if args.equal_images:  # Alltrain on both batches at once: as many images per step as LTW's train + meta
        both = tuple(tf.concat([a, b], 0) for a, b in zip(batch, meta_batch))
        runners.append(Runner("alltrain", args, both, None, label=EQUAL))
        runners[-1].first_call()
        print(f"[{EQUAL}] first call {runners[-1].first_call_s:.2f} s", flush=True)
    for _ in range(args.warmup):
        for runner in runners:
            runner.step()
    # Round-robin timed steps: load from other tenants on a shared machine drifts over minutes, and
    # interleaving makes it hit every method alike, so the ratio is fairer than back-to-back blocks.
    for _ in range(args.steps):
        for runner in runners:
            runner.timed_step()
    results = [runner.result() for runner in runners]

    header = (
        f"{'method':<26}{'first call s':>13}{'median s':>10}{'mean s':>9}{'min s':>9}{'cpu s':>9}"
        f"{'img/s':>8}{'loss':>9}"
    )
    print()
    print(header)
    print("-" * len(header))
    for r in results:
        print(
            f"{r['method']:<26}{r['first_call_s']:>13.2f}{r['median_step_s']:>10.4f}{r['mean_step_s']:>9.4f}"
            f"{r['min_step_s']:>9.4f}{r['median_cpu_s']:>9.3f}{r['images_per_s']:>8.1f}{r['last_loss']:>9.4f}"
        )

    by_name = {r["method"]: r for r in results}
    ratio = None
    if "ltw" in by_name and "alltrain" in by_name:
        ltw, base = by_name["ltw"], by_name["alltrain"]
        ratio = ltw["median_step_s"] / base["median_step_s"]
    equal = (
        by_name["ltw"]["median_step_s"] / by_name[EQUAL]["median_step_s"]
        if ("ltw" in by_name and EQUAL in by_name)
        else None
    )
    if args.json:
        out = Path(args.json)
        out.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "args": {k: v for k, v in vars(args).items()},
            "grappler": grappler,
            "machine": machine_info(),
            "results": results,
            "ltw_over_alltrain": ratio,
            "ltw_over_alltrain_equal_images": equal,
        }
        out.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
        print(f"\nwrote {out}")
    if args.ab_grappler:
        other = "on" if not grappler else "off"
        for name in args.methods:
            a, b = by_name[name], by_name[f"{name}/grappler-{other}"]
            off, on = (b, a) if other == "off" else (a, b)
            print(
                f"{name}: Grappler off/on first call {off['first_call_s']:.1f}/{on['first_call_s']:.1f} s "
                f"({off['first_call_s'] / on['first_call_s']:.2f}x), step {off['median_step_s']:.3f}/"
                f"{on['median_step_s']:.3f} s ({off['median_step_s'] / on['median_step_s']:.2f}x)"
            )
    if equal is not None:
        print(f"LTW/Alltrain at equal images per step (Alltrain on {2 * args.batch_size}): {equal:.2f}x")
    if ratio is not None:
        print(
            f"LTW/Alltrain step-time ratio: {ratio:.2f}x  "
            f"(trace: ltw {ltw['first_call_s']:.1f} s, alltrain {base['first_call_s']:.1f} s)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
