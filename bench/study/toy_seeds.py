"""A method's toy-set AUC over several seeds with ``tests/test_methods.py``'s setup (how robust its budget is).

Trains on ``tests/toy.py``'s two-domain toy set (12 targets, 16 px, tiny backbone, batch 8, 6 steps per epoch),
evaluates frame AUC / ACC on the held-out toy targets in inference mode, and prints one line per seed; the seed
sets the model's initialisation and the batches. ``--epochs`` / ``--lr`` / ``--bn-momentum`` vary the budget.

Run (from the repo root; TensorFlow on CPU, ~15-30 s per seed on 2 cores):
    python bench/study/toy_seeds.py forensic-transfer --seeds 0-9 --epochs 12 --lr 3e-3
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from ltw_tf.native_logs import quiet_tensorflow  # noqa: E402

quiet_tensorflow(verbose=False)  # before TensorFlow: its start-up lines off this terminal


def parse_seeds(text: str) -> list[int]:
    lo, _, hi = text.partition("-")
    return list(range(int(lo), int(hi) + 1)) if hi else [int(s) for s in text.split(",")]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("method")
    parser.add_argument("--seeds", default="0-4", help="a range 0-9 or a list 0,3,5")
    parser.add_argument("--epochs", type=int, default=6, help="epochs of 6 steps")
    parser.add_argument("--lr", type=float, default=1e-2)
    parser.add_argument("--bn-momentum", type=float, default=None, help="model.bn_momentum (default: the model's)")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests"))

    from ltw_tf.config import ModelConfig, RunConfig, TrainConfig
    from ltw_tf.data.arrays import ArrayEpochs
    from ltw_tf.evaluate import evaluate
    from ltw_tf.trainer import Trainer, build_from_config
    from toy import DOMAINS, SIZE, eval_batches, toy_masks, toy_set

    train_images, train_table = toy_set(range(12), seed=0)
    test_images, test_table = toy_set(range(100, 108), seed=1)
    for seed in parse_seeds(args.seeds):
        config = RunConfig(
            model=ModelConfig(backbone="tiny", weights=None, image_size=SIZE, bn_momentum=args.bn_momentum),
            train=TrainConfig(
                method=args.method,
                epochs=args.epochs,
                batch_size=8,
                lr=args.lr,
                weight_lr=1e-2,
                alpha=1e-2,
                lr_step=100,
                seed=seed,
                steps_per_epoch=6,
            ),
        )
        method = build_from_config(config)
        data = ArrayEpochs(train_images, train_table, DOMAINS, seed=seed, batch_size=8, masks=toy_masks(train_table))
        with tempfile.TemporaryDirectory() as run_dir:
            Trainer(method, data, run_dir, config, progress=False).fit()
        metrics = evaluate(method.detector, eval_batches(test_images, test_table))
        print(f"{args.method} seed {seed}: AUC {metrics.auc:.4f} ACC {metrics.acc:.4f}", flush=True)


if __name__ == "__main__":
    main()
