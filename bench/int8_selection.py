"""How int8 parity chosen on val crops carries to test crops: the float-prefix steps side by side, per run.

For each run: export f(theta) as ``ltw-tf export`` does, calibrate int8 once (``Int8Quantizer``), then for plain
int8 (head float) and every float-prefix step of the export (``FLOAT_PREFIX_STEPS``) print, on the val crops
that the export chooses float ops on and on the test crops that ``--verify`` checks: the AUC difference to the
float model, its paired-bootstrap standard error (val) and the rank correlation of the scores. ``--error-top``
also keeps the K ops with the largest local quantization error (the debugger's rmse / scale) float instead.

Crops are chosen as ``ltw-tf export RUN --calibration ROOT`` chooses them (calibration from the train split, val
for selection, test for parity); with ``--benchmark`` as an export from the run's own data root does.

Run (from the repo root):
    python bench/int8_selection.py runs/gid-df23-ltw-s0 --calibration data/synthff-faces [--error-top 3,12]
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from ltw_tf.native_logs import quiet_tensorflow  # noqa: E402

quiet_tensorflow(verbose=False)  # before TensorFlow: its start-up lines off this terminal

import numpy as np  # noqa: E402


def error_ranking(saved, images: np.ndarray, ops: list[str], limit: int = 128) -> list[str]:
    """Ops by the debugger's rmse / scale (largest local quantization error first), on ``limit`` crops."""
    import tensorflow as tf

    from export.tflite import _converter, _quiet_tf_interpreter

    converter = _converter(saved)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([image[None]] for image in images)
    with _quiet_tf_interpreter():
        debugger = tf.lite.experimental.QuantizationDebugger(
            converter=converter, debug_dataset=lambda: ([image[None]] for image in images[:limit])
        )
        debugger.run()
    dump = io.StringIO()
    debugger.layer_statistics_dump(dump)
    dump.seek(0)
    score = {
        row["tensor_name"]: float(row["mean_squared_error"]) ** 0.5 / float(row["scale"])
        for row in csv.DictReader(dump)
    }
    return sorted((op for op in ops if op in score), key=lambda op: -score[op])


def study(run: str, root: str, benchmark: str | None, error_top: list[int]) -> list[dict]:
    from scipy.stats import spearmanr

    from export.crops import crop_sets, in_batches
    from export.savedmodel import export_graph, write_savedmodel
    from export.tflite import FLOAT_PREFIX_STEPS, Int8Quantizer, _auc, auc_gap, tflite_predictor
    from export.verify import keras_predictor
    from ltw_tf.runs import load_detector

    detector, _ = load_detector(run)
    sets = crop_sets(root, detector.input_shape[1], benchmark)
    if sets.selection is None or sets.held_out is None:
        raise SystemExit(f"{root}: needs val and test splits")
    graph = export_graph(detector)
    val, test = sets.selection, sets.held_out
    ref_val, ref_test = (in_batches(keras_predictor(graph), s.images).ravel() for s in (val, test))
    rows = []
    with tempfile.TemporaryDirectory() as workdir:
        saved = write_savedmodel(graph, Path(workdir) / "savedmodel")
        quantizer = Int8Quantizer(saved, sets.calibration.images)
        candidates = [("plain", [])] + [(f"prefix {f:.0%}", quantizer.float_prefix(f)) for f in FLOAT_PREFIX_STEPS]
        if error_top:
            ranked = error_ranking(saved, sets.calibration.images, quantizer.ops)
            candidates += [(f"top-{k} error", ranked[:k]) for k in error_top]
        for name, nodes in candidates:
            predict = tflite_predictor(quantizer.quantize(nodes))
            p_val, p_test = (in_batches(predict, s.images).ravel() for s in (val, test))
            gap = auc_gap(val.labels, ref_val, p_val)
            rows.append(
                {
                    "run": Path(run).name,
                    "candidate": name,
                    "float_ops": len(nodes),
                    "ops": len(quantizer.ops),
                    "val_delta": gap.delta,
                    "val_stderr": gap.stderr,
                    "val_bound": gap.bound,
                    "val_rho": float(spearmanr(p_val, ref_val)[0]),
                    "test_delta": _auc(test.labels, p_test) - _auc(test.labels, ref_test),
                    "test_rho": float(spearmanr(p_test, ref_test)[0]),
                }
            )
    return rows


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="run directories")
    parser.add_argument("--calibration", required=True, help="prepared root (manifest.csv) with val and test splits")
    parser.add_argument("--benchmark", help="draw calibration from this benchmark's source domains only")
    parser.add_argument("--error-top", default="", help="comma-separated K: also keep the K worst ops float")
    args = parser.parse_args(argv)
    error_top = [int(k) for k in args.error_top.split(",") if k.strip()]
    from ltw_tf.machine import cpu_info

    print(f"cpu: {cpu_info()['summary']} (int8 kernels, and so the int8 scores, depend on VNNI / AVX-512)")
    rows = []
    for run in args.runs:
        result = study(run, args.calibration, args.benchmark, error_top)
        rows += result
        print(f"{Path(run).name} ({result[0]['ops']} ops below the head)")
        print(f"  {'candidate':<14} {'float ops':>9}  val dAUC  stderr  |d|+2se  rho    | test dAUC  rho")
        for r in result:
            print(
                f"  {r['candidate']:<14} {r['float_ops']:>9}  {r['val_delta']:+.4f}  {r['val_stderr']:.4f}  "
                f"{r['val_bound']:.4f}  {r['val_rho']:.3f}  | {r['test_delta']:+.4f}  {r['test_rho']:.3f}"
            )
    return rows


if __name__ == "__main__":
    main()
