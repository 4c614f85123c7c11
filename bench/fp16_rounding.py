"""How far float16 weight rounding alone moves a trained detector's probabilities (the fp16 .tflite's error).

On CPU the fp16 .tflite dequantizes its float16 weights to float32 at load, so its only error is the rounding of
every weight to float16. This rounds the run's weights in Keras (float32 -> float16 -> float32) and compares the
probabilities with the unrounded model on the export's parity crops (test split) -- if the figure equals the
``--verify`` line of the fp16 .tflite, the converter adds nothing and the sensitivity is the model's own. Also
prints the logit range and the largest BatchNorm scale |gamma| / sqrt(var + eps), which multiplies the rounding
error of the conv weight it is folded into.

Run (from the repo root):
    python bench/fp16_rounding.py runs/gid-df23-alltrain-s0 [more runs] --data-root data/synthff-faces
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from ltw_tf.native_logs import quiet_tensorflow  # noqa: E402

quiet_tensorflow(verbose=False)  # before TensorFlow: its start-up lines off this terminal

import keras  # noqa: E402
import numpy as np  # noqa: E402


def probe(run: str, data_root: str | None) -> dict:
    from export.crops import crop_sets, in_batches, manifest_root
    from export.savedmodel import export_graph
    from export.verify import keras_predictor
    from ltw_tf.runs import load_detector, run_data_root

    detector, ref = load_detector(run)
    root = manifest_root(data_root) if data_root else run_data_root(ref.config)
    if root is None:
        raise SystemExit(f"{run}: its data root is gone; give --data-root")
    crops = crop_sets(root, detector.input_shape[1], ref.config.data.benchmark)
    images = (crops.held_out or crops.calibration).images
    reference = in_batches(keras_predictor(export_graph(detector)), images).astype(np.float64).ravel()
    kept = [v.numpy() for v in detector.weights]
    try:
        for v in detector.weights:
            v.assign(v.numpy().astype(np.float16).astype(np.float32))
        rounded = in_batches(keras_predictor(export_graph(detector)), images).astype(np.float64).ravel()
    finally:
        for v, value in zip(detector.weights, kept, strict=True):
            v.assign(value)
    p = np.clip(reference, 1e-7, 1 - 1e-7)
    logits = np.log(p / (1 - p))
    scales = [
        np.abs(layer.gamma.numpy()) / np.sqrt(layer.moving_variance.numpy() + layer.epsilon)
        for layer in detector._flatten_layers()
        if isinstance(layer, keras.layers.BatchNormalization)
    ]
    return {
        "run": str(run),
        "crops": len(images),
        "max_abs_dp": float(np.abs(rounded - reference).max()),
        "logit_min": float(logits.min()),
        "logit_max": float(logits.max()),
        "max_bn_scale": float(max(s.max() for s in scales)),
    }


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="run directories")
    parser.add_argument("--data-root", help="prepared root for the parity crops (default: the run's data root)")
    args = parser.parse_args(argv)
    reports = []
    for run in args.runs:
        r = probe(run, args.data_root)
        reports.append(r)
        print(
            f"{Path(run).name}: fp16-rounded weights max|dp| {r['max_abs_dp']:.2e} on {r['crops']} crops; "
            f"logits {r['logit_min']:.2f}..{r['logit_max']:.2f}; largest BN scale {r['max_bn_scale']:.1f}"
        )
    return reports


if __name__ == "__main__":
    main()
