"""Wall-clock cost of one training step per method: LTW's second-order meta step against Alltrain.

For each method named in ``--methods`` this builds a fresh randomly initialised detector (``weights=None``;
nothing is downloaded) and the method via ``build_method``, then feeds it one fixed random batch (0-255
float32 images, balanced 0/1 labels) and a label-flipped meta batch of the same size. It measures, in one
process: the first call (tf.function trace + graph build/compile + the first step), then ``--warmup`` untimed
steps, then ``--steps`` timed steps (each synchronised by ``float(logs["loss"])``), reporting median and mean
seconds per step and images per second (batch size / median; the meta batch is not counted). The table is
printed, the LAST line is the LTW/Alltrain step-time ratio, and everything (plus machine info) goes to JSON.

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

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from ltw_tf.config import TrainConfig  # noqa: E402
from ltw_tf.methods import METHODS, build_method  # noqa: E402
from ltw_tf.models.detector import build_detector  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", default="efficientnet_b0")
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--steps", type=int, default=5, help="timed steps after warm-up")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps after the first call")
    parser.add_argument("--methods", default="alltrain,ltw",
                        help=f"comma-separated registered names: {', '.join(METHODS)}")
    parser.add_argument("--jit", action="store_true", help="TrainConfig.jit_compile=True (XLA)")
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


def time_method(name: str, args: argparse.Namespace, batch, meta_batch) -> dict:
    """Build a fresh detector + method ``name``; time the first call, warm-up, then the timed steps."""
    keras.utils.clear_session()  # fresh layer names; the previous method's graphs are dropped
    tf.random.set_seed(args.seed)
    detector = build_detector(args.backbone, args.image_size, weights=None)
    config = TrainConfig(method=name, batch_size=args.batch_size, jit_compile=args.jit, seed=args.seed)
    method = build_method(name, detector, config)
    meta = meta_batch if method.uses_meta_split else None

    start = time.perf_counter()
    first_loss = float(method.train_step(batch, meta)["loss"])
    first_call = time.perf_counter() - start
    for _ in range(args.warmup):
        float(method.train_step(batch, meta)["loss"])
    times, loss = [], first_loss
    for _ in range(args.steps):
        start = time.perf_counter()
        loss = float(method.train_step(batch, meta)["loss"])
        times.append(time.perf_counter() - start)
    median = statistics.median(times)
    return {
        "method": name,
        "first_call_s": first_call,
        "median_step_s": median,
        "mean_step_s": statistics.fmean(times),
        "min_step_s": min(times),
        "max_step_s": max(times),
        "step_times_s": times,
        "images_per_s": args.batch_size / median,
        "first_loss": first_loss,
        "last_loss": loss,
        "finite": bool(np.isfinite(loss)),
        "detector_params": int(detector.count_params()),
    }


def machine_info() -> dict:
    return {
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
    batch, meta_batch = make_batches(args.batch_size, args.image_size, args.seed)
    print(f"backbone={args.backbone} image_size={args.image_size} batch_size={args.batch_size} "
          f"warmup={args.warmup} steps={args.steps} jit={args.jit} cpus={os.cpu_count()}", flush=True)
    results = []
    for name in args.methods:
        print(f"[{name}] building and tracing ...", flush=True)
        results.append(time_method(name, args, batch, meta_batch))
        r = results[-1]
        print(f"[{name}] first call {r['first_call_s']:.2f} s, median step {r['median_step_s']:.3f} s", flush=True)

    header = f"{'method':<18}{'first call s':>13}{'median s':>11}{'mean s':>10}{'img/s':>9}{'loss':>10}"
    print()
    print(header)
    print("-" * len(header))
    for r in results:
        print(f"{r['method']:<18}{r['first_call_s']:>13.2f}{r['median_step_s']:>11.4f}{r['mean_step_s']:>10.4f}"
              f"{r['images_per_s']:>9.1f}{r['last_loss']:>10.4f}")

    by_name = {r["method"]: r for r in results}
    ratio = None
    if "ltw" in by_name and "alltrain" in by_name:
        ltw, base = by_name["ltw"], by_name["alltrain"]
        ratio = ltw["median_step_s"] / base["median_step_s"]
    if args.json:
        out = Path(args.json)
        out.parent.mkdir(parents=True, exist_ok=True)
        payload = {"args": {k: v for k, v in vars(args).items()}, "machine": machine_info(),
                   "results": results, "ltw_over_alltrain": ratio}
        out.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
        print(f"\nwrote {out}")
    if ratio is not None:
        print(f"LTW/Alltrain step-time ratio: {ratio:.2f}x  "
              f"(trace: ltw {ltw['first_call_s']:.1f} s, alltrain {base['first_call_s']:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
