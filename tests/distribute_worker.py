"""One worker of a two-process MultiWorkerMirroredStrategy run on the toy set ($TF_CONFIG names the cluster).

usage: python distribute_worker.py RUN_DIR OUT_NPZ METHOD EPOCHS
Trains, writes its in-memory model variables to OUT_NPZ (``trained/<i>``), then resumes the finished run into
freshly built models (``fit(resume=True)``: every worker restores the chief's last checkpoint, no epoch is
left to train) and writes those variables too (``resumed/<i>``).
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from ltw_tf.native_logs import quiet_tensorflow  # noqa: E402

quiet_tensorflow(verbose=False)  # before TensorFlow: its start-up lines off this terminal

import numpy as np  # noqa: E402

from ltw_tf.config import ModelConfig, RunConfig, TrainConfig  # noqa: E402
from ltw_tf.data.arrays import ArrayEpochs  # noqa: E402
from ltw_tf.distribute import make_strategy, model_trackables  # noqa: E402
from ltw_tf.methods.base import Method  # noqa: E402
from ltw_tf.trainer import Trainer, build_from_config  # noqa: E402
from toy import DOMAINS, SIZE, toy_set  # noqa: E402


def run_config(method: str, epochs: int, strategy: str = "multiworker") -> RunConfig:
    return RunConfig(
        model=ModelConfig(backbone="tiny", weights=None, image_size=SIZE),
        train=TrainConfig(
            method=method,
            epochs=epochs,
            batch_size=8,
            lr=1e-2,
            weight_lr=1e-2,
            alpha=1e-2,
            seed=3,
            steps_per_epoch=2,
            strategy=strategy,
        ),
    )


def model_variables(method: Method) -> list[np.ndarray]:
    """Every variable of the method's models (detector, weight net), in model order."""
    return [np.asarray(v.numpy()) for m in model_trackables(method.trackables()) for v in m.variables]


def main() -> None:
    start = time.monotonic()
    strategy = make_strategy("multiworker")  # before any other TensorFlow op
    run_dir, out, method_name, epochs = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    config = run_config(method_name, epochs)
    images, table = toy_set(range(8))
    data = ArrayEpochs(images, table, DOMAINS, seed=config.train.seed, batch_size=config.train.batch_size)
    method = build_from_config(config)
    assert method.strategy is strategy and strategy.num_replicas_in_sync == 2
    Trainer(method, data, run_dir, config, progress=False).fit()
    trained = time.monotonic()
    resumed = build_from_config(config)  # fresh initial weights, then the chief's last checkpoint
    Trainer(resumed, data, run_dir, config, progress=False).fit(resume=True)
    arrays = {f"trained/{i:03d}": v for i, v in enumerate(model_variables(method))}
    arrays.update({f"resumed/{i:03d}": v for i, v in enumerate(model_variables(resumed))})
    np.savez(out, **arrays)
    print(f"worker done: train {trained - start:.1f} s, resume {time.monotonic() - trained:.1f} s")


if __name__ == "__main__":
    main()
