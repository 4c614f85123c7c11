"""Per-face inference latency of the exported detector: Keras, SavedModel and TFLite fp32 / fp16 / int8, side by side.

Builds f(theta) for ``--backbone`` at ``--image-size`` (random init, ``--weights none``: nothing is downloaded;
latency does not depend on the weights), exports it exactly as ``ltw-tf export`` does (``export_graph`` ->
SavedModel -> TFLite), and times batch 1 and batch 16 (``--batches``) on ``--threads`` CPU threads:
Keras ``predict_on_batch``, the SavedModel ``serving_default`` signature, and each .tflite on the ai_edge_litert
Interpreter (XNNPACK); ``tflite_int8_prefix`` is int8 with the first ``--int8-float-prefix`` share of ops kept
float, as the export's parity fallback makes it. int8 is calibrated on ``--calibration`` crops (a prepared root),
else on random uint8 images (fine for timing, not for accuracy). Backends run round-robin, repeat by repeat, so load
drifting on a shared machine hits them alike. Reported per backend and batch: median and min wall ms per face and median
process CPU ms per face (all threads); the table is printed and everything is written as JSON with the machine.

Run (from the repo root):
    python bench/latency.py                                   # EfficientNet-B0, 224 px, batch 1 and 16, 2 threads
    python bench/latency.py --backbone tiny --image-size 64 --repeats 5     # smoke test, seconds
    python bench/latency.py --backbone efficientnet_b0,efficientnet_lite0 --backends tflite_fp32,tflite_int8
        # several backbones in one round-robin (rows named backbone/backend): ratios measured side by side
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from ltw_tf.native_logs import quiet_tensorflow  # noqa: E402

quiet_tensorflow(verbose=False)  # before TensorFlow: its start-up lines off this terminal

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

BACKENDS = ("keras", "savedmodel", "tflite_fp32", "tflite_fp16", "tflite_int8", "tflite_int8_prefix")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--backbone",
        default="efficientnet_b0",
        help="one backbone or a comma-separated list, timed side by side in one round-robin",
    )
    parser.add_argument(
        "--backends", default=",".join(BACKENDS), help="comma-separated subset of: " + ", ".join(BACKENDS)
    )
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--batches", default="1,16", help="comma-separated batch sizes")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--repeats",
        type=int,
        default=20,
        help="timed calls per backend at batch 1 (batch B: max(3, repeats // B) calls)",
    )
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--calibration", help="prepared root (manifest.csv) for int8 calibration crops")
    parser.add_argument("--calibration-crops", type=int, default=64)
    parser.add_argument(
        "--int8-float-prefix",
        type=float,
        default=0.04,
        help="also time int8 with this share of ops from the input kept float, as the export's "
        "parity fallback makes it (0 to skip)",
    )
    parser.add_argument("--json", default="bench/out/latency.json", help="output path ('' to skip)")
    args = parser.parse_args(argv)
    args.batches = [int(b) for b in args.batches.split(",") if b.strip()]
    args.backbones = [b.strip() for b in args.backbone.split(",") if b.strip()]
    args.backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = sorted(set(args.backends) - set(BACKENDS))
    if unknown or not args.backends or not args.backbones:
        parser.error(f"need at least one backbone and backends from {', '.join(BACKENDS)} (unknown: {unknown})")
    if args.threads < 1 or args.repeats < 1 or not args.batches or min(args.batches) < 1:
        parser.error("need --threads >= 1, --repeats >= 1 and positive batch sizes")
    return args


def build_backends(args, backbone: str, workdir: Path) -> tuple[dict, dict]:
    """Name -> predict(images uint8) for every backend in ``args.backends``; plus artefact sizes in bytes."""
    from export.crops import crop_sets
    from export.savedmodel import export_graph, savedmodel_predictor, write_savedmodel
    from export.tflite import Int8Quantizer, convert_float, tflite_predictor
    from ltw_tf.models import build_detector

    detector = build_detector(backbone, args.image_size, weights=None)
    graph = export_graph(detector)
    saved = write_savedmodel(graph, workdir / "savedmodel")
    if args.calibration:
        calibration = crop_sets(args.calibration, args.image_size, calibration_limit=args.calibration_crops)
        calibration = calibration.calibration.images
    else:
        shape = (args.calibration_crops, args.image_size, args.image_size, 3)
        calibration = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    quantizer = Int8Quantizer(saved, calibration)
    wanted = set(args.backends)
    models = {
        name: convert_float(saved, name.split("_")[1]) for name in ("tflite_fp32", "tflite_fp16") if name in wanted
    }
    if "tflite_int8" in wanted:
        models["tflite_int8"] = quantizer.quantize()
    if args.int8_float_prefix > 0 and "tflite_int8_prefix" in wanted:
        models["tflite_int8_prefix"] = quantizer.quantize(quantizer.float_prefix(args.int8_float_prefix))
    backends = {"keras": lambda x: graph.predict_on_batch(x), "savedmodel": savedmodel_predictor(saved)}
    backends = {name: predict for name, predict in backends.items() if name in wanted}
    backends.update({name: tflite_predictor(model, args.threads) for name, model in models.items()})
    sizes = {name: len(model) for name, model in models.items()}
    return {name: backends[name] for name in BACKENDS if name in backends}, sizes


def time_backends(backends: dict, batch: int, args) -> dict:
    """Round-robin timed calls; wall and process-CPU seconds per call for each backend."""
    images = np.random.default_rng(batch).integers(0, 256, (batch, args.image_size, args.image_size, 3), np.uint8)
    for predict in backends.values():
        for _ in range(args.warmup):
            predict(images)
    wall = {name: [] for name in backends}
    cpu = {name: [] for name in backends}
    for _ in range(max(3, args.repeats // batch)):
        for name, predict in backends.items():
            start, start_cpu = time.perf_counter(), time.process_time()
            np.asarray(predict(images))
            wall[name].append(time.perf_counter() - start)
            cpu[name].append(time.process_time() - start_cpu)
    return {
        name: {
            "batch": batch,
            "calls": len(wall[name]),
            "median_ms_per_face": 1e3 * statistics.median(wall[name]) / batch,
            "min_ms_per_face": 1e3 * min(wall[name]) / batch,
            "median_cpu_ms_per_face": 1e3 * statistics.median(cpu[name]) / batch,
        }
        for name in backends
    }


def table(results: dict) -> str:
    batches = sorted({r["batch"] for per in results.values() for r in per.values()})
    width = max(18, *(len(name) for name in results[str(batches[0])]))
    head = f"{'backend':<{width}}" + "".join(f"  b{b}: median / min / cpu ms/face" for b in batches)
    lines = [head, "-" * len(head)]
    for name in results[str(batches[0])]:
        cells = [results[str(b)][name] for b in batches]
        lines.append(
            f"{name:<{width}}"
            + "".join(
                f"  {c['median_ms_per_face']:>9.2f} / {c['min_ms_per_face']:>6.2f} / "
                f"{c['median_cpu_ms_per_face']:>6.2f}      "
                for c in cells
            ).rstrip()
        )
    return "\n".join(lines)


def machine() -> dict:
    from importlib.metadata import version

    import keras

    from ltw_tf.machine import cpu_info

    cpu = cpu_info()  # int8 speed hinges on VNNI / AVX-512 / AMX: the figure is only meaningful with the flags
    return {
        "cpu": cpu["model"],
        "cpu_flags": cpu["flags"],
        "cpu_summary": cpu["summary"],
        "cores": os.cpu_count(),
        "load_avg_1_5_15": list(os.getloadavg()),
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "ai_edge_litert": version("ai-edge-litert"),
        "gpus": len(tf.config.list_physical_devices("GPU")),
    }


def main(argv=None) -> dict:
    args = parse_args(argv)
    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    load_before = list(os.getloadavg())
    with tempfile.TemporaryDirectory() as workdir:
        started = time.perf_counter()
        backends, sizes = {}, {}
        for backbone in args.backbones:  # rows are "backbone/backend" when several backbones share the round-robin
            prefix = f"{backbone}/" if len(args.backbones) > 1 else ""
            built, built_sizes = build_backends(args, backbone, Path(workdir) / backbone)
            backends.update({prefix + name: predict for name, predict in built.items()})
            sizes.update({prefix + name: size for name, size in built_sizes.items()})
        build_s = time.perf_counter() - started
        results = {str(b): time_backends(backends, b, args) for b in args.batches}
    report = {
        "backbone": args.backbone,
        "backbones": args.backbones,
        "weights": None,
        "image_size": args.image_size,
        "threads": args.threads,
        "batches": args.batches,
        "repeats": args.repeats,
        "int8_calibration": args.calibration or "random",
        "export_and_convert_s": build_s,
        "tflite_bytes": sizes,
        "results": results,
        "machine": {**machine(), "load_avg_before": load_before},
    }
    print(f"cpu: {report['machine']['cpu_summary']}")
    print(
        f"{args.backbone} @ {args.image_size}px, random init, {args.threads} threads "
        f"(load avg before {load_before[0]:.1f}, after {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)"
    )
    print(table(results))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
        print(f"wrote {args.json}")
    return report


if __name__ == "__main__":
    main()
