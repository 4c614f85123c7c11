"""p(w) in inference mode (``ltw-tf weights --mode inference``) vs with batch statistics (what the meta step applied
in training; ``ltw-tf weights``' default since issue 17), on the same training faces of an LTW-family run.

Both passes see the same balanced batches (half real, half fake; ``icc_share.batches_of``). The training-mode pass
is ``ltw_tf.evaluate.batch_statistics_weights`` (what ``ltw-tf weights`` now shows by default): the detector and
p(w) with batch-statistics BN as the meta step runs them, dropout and stochastic depth off, no state changed.
Prints mean / std / min / max of each and the rank correlation of the two weightings.

Run (from the repo root; TensorFlow on CPU, under a minute at 64 px):
    python bench/study/weight_modes.py /work/data/runs/study/gid-df23-ltw-s0-23af47f3 --faces 256
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from ltw_tf.native_logs import quiet_tensorflow  # noqa: E402

quiet_tensorflow(verbose=False)  # before TensorFlow: its start-up lines off this terminal


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="an LTW-family run directory")
    parser.add_argument("--faces", type=int, default=256, help="training faces, half real, half fake (whole batches)")
    parser.add_argument("--batch-size", type=int, default=16, help="the batch size of the training-mode pass")
    parser.add_argument("--seed", type=int, default=0, help="which faces")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    from icc_share import batches_of  # bench/ is on sys.path when run as a script

    from ltw_tf.evaluate import batch_statistics_weights, load_weight_net

    detector, weight_net, ref = load_weight_net(args.run)
    batches, _ = batches_of(ref.run_dir, max(1, args.faces // args.batch_size), args.batch_size, args.seed)
    inference = [
        weight_net(detector(images, training=False)[0], training=False).numpy().ravel() for images, _ in batches
    ]
    batch_stats = [batch_statistics_weights(detector, weight_net, images) for images, _ in batches]
    faces = sum(len(images) for images, _ in batches)
    print(f"{ref.run_dir.name}: {faces} training faces, batches of {args.batch_size}")
    values = {"inference mode": np.concatenate(inference), "batch statistics": np.concatenate(batch_stats)}
    for name, v in values.items():
        print(f"  {name:17s} mean {v.mean():.3f} std {v.std():.3f} min {v.min():.3f} max {v.max():.3f}")
    a, b = (np.argsort(np.argsort(v)) for v in values.values())
    print(f"  rank correlation {np.corrcoef(a, b)[0, 1]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
