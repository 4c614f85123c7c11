"""Train a tiny detector on the toy set in a fresh process (used by the resume and kill tests).

usage: python train_toy.py RUN_DIR METHOD EPOCHS [--resume] [--kill-after N]
--kill-after N sends SIGKILL to this process right after epoch N's checkpoint is written.
"""

import argparse
import os
import signal
import sys

sys.path.insert(0, os.path.dirname(__file__))
from ltw_tf.native_logs import quiet_tensorflow  # noqa: E402

quiet_tensorflow(verbose=False)  # before TensorFlow: its start-up lines off this terminal

from ltw_tf.config import ModelConfig, RunConfig, TrainConfig  # noqa: E402
from ltw_tf.data.arrays import ArrayEpochs  # noqa: E402
from ltw_tf.trainer import Trainer, build_from_config  # noqa: E402
from toy import DOMAINS, SIZE, eval_batches, toy_set  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("run_dir")
    parser.add_argument("method")
    parser.add_argument("epochs", type=int)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--kill-after", type=int)
    args = parser.parse_args()
    images, table = toy_set(range(12))
    val_images, val_table = toy_set(range(50, 54), seed=2)
    config = RunConfig(
        model=ModelConfig(backbone="tiny", weights=None, image_size=SIZE),
        train=TrainConfig(
            method=args.method,
            epochs=args.epochs,
            batch_size=8,
            lr=1e-2,
            weight_lr=1e-2,
            alpha=1e-2,
            lr_step=2,
            seed=3,
            steps_per_epoch=4,
            deterministic=True,
        ),
    )
    method = build_from_config(config)

    def kill(trainer, epoch, record):
        if args.kill_after is not None and epoch + 1 == args.kill_after:
            os.kill(os.getpid(), signal.SIGKILL)

    data = ArrayEpochs(images, table, DOMAINS, seed=config.train.seed, batch_size=8)
    Trainer(
        method,
        data,
        args.run_dir,
        config,
        val_data=eval_batches(val_images, val_table),
        callbacks=[kill],
        progress=False,
    ).fit(resume=args.resume)


if __name__ == "__main__":
    main()
