"""p(w) in inference mode (what ``ltw-tf weights`` and the paper's Fig. 4 show) vs with batch statistics (what the
meta step applied in training), on the same training faces of an LTW-family run.

The training-mode pass runs the detector and p(w) with batch-statistics BN over mixed real/fake batches, with
dropout off so that only the BN mode differs. Prints mean / std / min of each and the rank correlation of the
two weightings.

Run (from the repo root; TensorFlow on CPU, under a minute at 64 px):
    python bench/weight_modes.py /work/data/runs/study/gid-df23-ltw-s0-23af47f3 --faces 256
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="an LTW-family run directory")
    parser.add_argument("--faces", type=int, default=256, help="training faces, half real, half fake")
    parser.add_argument("--batch-size", type=int, default=16, help="the batch size of the training-mode pass")
    parser.add_argument("--seed", type=int, default=0, help="which faces")
    return parser.parse_args(argv)


def batch_statistics_weights(detector, weight_net, images) -> np.ndarray:
    """p(w) as the meta step computes it (training-mode BN in both nets), dropout left out."""
    import keras

    features, _ = detector(images, training=True)
    x = features
    for layer in weight_net.layers[1:]:
        if isinstance(layer, keras.layers.Dropout):
            continue
        x = layer(x, training=True) if isinstance(layer, keras.layers.BatchNormalization) else layer(x)
    return np.asarray(x).ravel()


def main(argv=None) -> int:
    args = parse_args(argv)
    from ltw_tf.benchmarks import get_benchmark, source_faces
    from ltw_tf.data.manifest import read_manifest
    from ltw_tf.data.pipeline import eval_dataset
    from ltw_tf.evaluate import load_weight_net
    from ltw_tf.runs import resolve_data_root

    detector, weight_net, ref = load_weight_net(args.run)
    root = resolve_data_root(ref.config)
    faces = source_faces(get_benchmark(ref.config.data.benchmark), read_manifest(root))
    rng = np.random.default_rng(args.seed)
    reals, fakes = [f for f in faces if f.label == 0], [f for f in faces if f.label == 1]
    half = min(args.faces // 2, len(reals), len(fakes))
    chosen = []
    for i, j in zip(rng.choice(len(reals), half, replace=False), rng.choice(len(fakes), half, replace=False)):
        chosen += [reals[i], fakes[j]]  # alternate: every batch is mixed, as training batches are
    batches = list(eval_dataset(chosen, root, ref.config.model.image_size, args.batch_size))
    inference = [weight_net(detector(images, training=False)[0], training=False).numpy().ravel()
                 for images, _ in batches]
    # after the inference pass: a training-mode call moves the BN moving statistics it would read
    batch_stats = [batch_statistics_weights(detector, weight_net, images) for images, _ in batches]
    print(f"{ref.run_dir.name}: {len(chosen)} training faces, batches of {args.batch_size}")
    values = {"inference mode": np.concatenate(inference), "batch statistics": np.concatenate(batch_stats)}
    for name, v in values.items():
        print(f"  {name:17s} mean {v.mean():.3f} std {v.std():.3f} min {v.min():.3f} max {v.max():.3f}")
    a, b = (np.argsort(np.argsort(v)) for v in values.values())
    print(f"  rank correlation {np.corrcoef(a, b)[0, 1]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
