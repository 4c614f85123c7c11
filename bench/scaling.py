"""Data-parallel scaling of one training step: images/s on 1 device against N devices (MirroredStrategy).

Weak scaling: every device gets ``--batch-per-device`` samples, so N devices train on a global batch N times
larger; 1 device is the plain single-device step (no strategy), N > 1 the library's replicated step
(``ltw_tf.distribute``: synchronized BN, global ICC centre) on the first N devices. For each device count it
builds a fresh randomly initialised detector and the method through ``build_from_config``, feeds one fixed
random global batch (0-255 float32 images, balanced labels) and its label-flipped meta batch, times the first
call (trace + compile + step), runs ``--warmup`` untimed and ``--steps`` timed steps (each synchronised by
``float(logs["loss"])``), and reports the median step time, images/s (global batch / median; the meta batch is
not counted), the speed-up over 1 device and the scaling efficiency (speed-up / N). Table printed, JSON written.

GPU sessions (the measurement):
    python bench/scaling.py --backbone efficientnet_b0 --image-size 224 --batch-per-device 12 --devices 1,2,4
CPU-only smoke mode (N logical CPU devices share the same cores: checks the path, says nothing about speed):
    python bench/scaling.py --cpu-devices 2 --backbone tiny --image-size 32 --steps 3
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

from ltw_tf.config import ModelConfig, RunConfig, TrainConfig  # noqa: E402
from ltw_tf.machine import cpu_info  # noqa: E402
from ltw_tf.methods import METHODS  # noqa: E402
from ltw_tf.trainer import build_from_config  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--method", default="ltw", choices=list(METHODS))
    parser.add_argument("--backbone", default="efficientnet_b0")
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--batch-per-device", type=int, default=8)
    parser.add_argument("--devices", default="", help="comma-separated device counts (default: 1 and all)")
    parser.add_argument(
        "--cpu-devices", type=int, default=0, help="no GPU: split the CPU into this many logical devices (smoke mode)"
    )
    parser.add_argument("--steps", type=int, default=10, help="timed steps after warm-up")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps after the first call")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default="bench/out/scaling.json", help="output path ('' to skip)")
    args = parser.parse_args(argv)
    if args.batch_per_device < 1 or args.steps < 1 or args.warmup < 0:
        parser.error("need --batch-per-device >= 1, --steps >= 1, --warmup >= 0")
    return args


def training_devices(cpu_devices: int) -> list[str]:
    """The GPUs; without one, the CPU split into ``cpu_devices`` logical devices (before TF starts)."""
    if not tf.config.list_physical_devices("GPU") and cpu_devices > 1:
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * cpu_devices)
    return [d.name for d in tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")]


def make_batches(batch_size: int, image_size: int, seed: int):
    """(images, labels) with balanced 0/1 labels, and the meta batch: other images, labels flipped."""
    rng = np.random.default_rng(seed)
    labels = (np.arange(batch_size) % 2).astype(np.float32)
    images, meta_images = rng.uniform(0.0, 255.0, (2, batch_size, image_size, image_size, 3)).astype(np.float32)
    return (tf.constant(images), tf.constant(labels)), (tf.constant(meta_images), tf.constant(1.0 - labels))


def measure(args: argparse.Namespace, devices: list[str]) -> dict:
    """One device count: build, first call, warm-up, timed steps."""
    n = len(devices)
    keras.utils.clear_session()
    config = RunConfig(
        model=ModelConfig(backbone=args.backbone, weights=None, image_size=args.image_size),
        train=TrainConfig(method=args.method, batch_size=args.batch_per_device * n, seed=args.seed),
    )
    strategy = tf.distribute.MirroredStrategy(devices) if n > 1 else None
    method = build_from_config(config, strategy=strategy)
    batch, meta_batch = make_batches(config.train.batch_size, args.image_size, args.seed)
    meta_batch = meta_batch if method.uses_meta_split else None

    def step() -> float:
        start = time.perf_counter()
        float(method.train_step(batch, meta_batch)["loss"])  # float() syncs
        return time.perf_counter() - start

    first = step()
    for _ in range(args.warmup):
        step()
    times = [step() for _ in range(args.steps)]
    median = statistics.median(times)
    return {
        "devices": n,
        "device_names": devices,
        "global_batch": config.train.batch_size,
        "first_call_s": first,
        "median_step_s": median,
        "min_step_s": min(times),
        "step_times_s": times,
        "images_per_s": config.train.batch_size / median,
    }


def main(argv=None) -> int:
    args = parse_args(argv)
    devices = training_devices(args.cpu_devices)
    counts = sorted({int(c) for c in args.devices.split(",") if c.strip()} or {1, len(devices)})
    if counts[0] < 1 or counts[-1] > len(devices):
        raise SystemExit(f"--devices {args.devices}: this machine has {len(devices)} device(s): {devices}")
    smoke = not tf.config.list_physical_devices("GPU")
    print(
        f"method={args.method} backbone={args.backbone} image_size={args.image_size} "
        f"batch_per_device={args.batch_per_device} devices={devices}" + (" (CPU smoke mode)" if smoke else ""),
        flush=True,
    )
    results = []
    for n in counts:
        print(f"[{n} device(s)] building and tracing ...", flush=True)
        results.append(measure(args, devices[:n]))
    base = results[0]["images_per_s"] if counts[0] == 1 else None
    for r in results:
        r["speedup"] = r["images_per_s"] / base if base else None
        r["efficiency"] = r["speedup"] / r["devices"] if base else None

    header = f"{'devices':>8}{'batch':>7}{'first call s':>14}{'median s':>10}{'img/s':>9}{'speed-up':>10}{'eff.':>7}"
    print()
    print(header)
    print("-" * len(header))
    for r in results:
        speedup = f"{r['speedup']:.2f}x" if base else "-"
        efficiency = f"{r['efficiency']:.0%}" if base else "-"
        print(
            f"{r['devices']:>8}{r['global_batch']:>7}{r['first_call_s']:>14.2f}{r['median_step_s']:>10.4f}"
            f"{r['images_per_s']:>9.1f}{speedup:>10}{efficiency:>7}"
        )
    if args.json:
        out = Path(args.json)
        out.parent.mkdir(parents=True, exist_ok=True)
        cpu = cpu_info()
        machine = {
            "cpu": cpu["model"],
            "cpu_flags": cpu["flags"],
            "cpu_summary": cpu["summary"],
            "platform": platform.platform(),
            "cpu_count": os.cpu_count(),
            "tensorflow": tf.__version__,
            "keras": keras.__version__,
            "gpus": [d.name for d in tf.config.list_physical_devices("GPU")],
            "smoke_mode": smoke,
        }
        out.write_text(
            json.dumps({"args": vars(args), "machine": machine, "results": results}, indent=2) + "\n", encoding="utf-8"
        )
        print(f"\nwrote {out}")
    if smoke:
        print("CPU smoke mode: logical devices share the same cores, the numbers are not a speed-up measurement")
    return 0


if __name__ == "__main__":
    sys.exit(main())
