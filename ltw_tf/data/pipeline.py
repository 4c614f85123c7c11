"""tf.data pipelines over a prepared manifest: meta-split training epochs and per-target evaluation sets.

Face crops are decoded, resized to the model size and fed as float32 0-255 RGB (every backbone normalises inside
the model, see ``models/backbones.py``). Batches follow ``plan_epoch`` (seeded per epoch), so the same seed gives
the same batches and a resumed run continues exactly; decoding runs in parallel with deterministic order and is
prefetched ahead of the training step.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import tensorflow as tf

from ltw_tf.data.manifest import Face, sample_table
from ltw_tf.data.meta_split import EpochPlan, plan_epoch
from ltw_tf.data.source import BatchRequest, EpochData

log = logging.getLogger(__name__)
AUTOTUNE = tf.data.AUTOTUNE


def _decoder(image_size: int):
    def load(path):
        image = tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
        image = tf.image.resize(image, [image_size, image_size], antialias=True)
        return tf.ensure_shape(image, [image_size, image_size, 3])

    return load


def image_dataset(paths: Sequence[str], labels: Sequence[int], image_size: int, batch_size: int,
                  drop_remainder: bool = False) -> tf.data.Dataset:
    """(images float32 0-255, labels float32) batches in the given order; decoding is parallel and ordered."""
    load = _decoder(image_size)
    ds = tf.data.Dataset.from_tensor_slices((list(paths), np.asarray(labels, np.float32)))
    ds = ds.map(lambda p, y: (load(p), y), num_parallel_calls=AUTOTUNE, deterministic=True)
    return ds.batch(batch_size, drop_remainder=drop_remainder)


def _absolute(faces: Sequence[Face], root: str | os.PathLike) -> list[str]:
    root = Path(root)
    return [str(root / f.path) for f in faces]


class ManifestEpochs:
    """An ``EpochSource`` over source-domain faces: per epoch, the method's requested batches from ``plan_epoch``."""

    def __init__(self, faces: Sequence[Face], root: str | os.PathLike, source_domains: Sequence[str], *,
                 seed: int, batch_size: int, image_size: int):
        if not faces:
            raise ValueError("no training faces")
        self.faces = list(faces)
        self.paths = np.array(_absolute(self.faces, root))
        self.table = sample_table(self.faces)
        self.source_domains = list(source_domains)
        self.seed, self.batch_size, self.image_size = seed, batch_size, image_size

    def plan(self, epoch: int, request: BatchRequest) -> EpochPlan:
        return plan_epoch(self.table, self.source_domains, seed=self.seed, epoch=epoch,
                          batch_size=self.batch_size, uses_meta_split=request.uses_meta_split,
                          paired=request.paired)

    def _dataset(self, batches: list[np.ndarray]) -> tf.data.Dataset:
        rows = np.concatenate(batches)
        return image_dataset(self.paths[rows], self.table.labels[rows], self.image_size, self.batch_size,
                             drop_remainder=True)

    def epoch(self, epoch: int, request: BatchRequest) -> EpochData:
        plan = self.plan(epoch, request)
        if plan.info.get("pair_fallbacks"):
            log.info("epoch %d: %d meta-batch partners missing, replaced by random D_meta samples",
                     epoch + 1, plan.info["pair_fallbacks"])
        train = self._dataset(plan.batches)
        if plan.meta_batches is None:
            pairs = train.map(lambda x, y: ((x, y), ()))
        else:
            pairs = tf.data.Dataset.zip(train, self._dataset(plan.meta_batches))
        pairs = pairs.prefetch(AUTOTUNE)

        def batches():
            for batch, meta in pairs:
                yield batch, (meta if plan.meta_batches is not None else None)

        return EpochData(batches(), plan.info, len(plan.batches))


def eval_dataset(faces: Sequence[Face], root: str | os.PathLike, image_size: int,
                 batch_size: int = 64) -> tf.data.Dataset:
    """Batches of (images, labels) over ``faces`` in manifest order (for frame and video metrics)."""
    if not faces:
        raise ValueError("no evaluation faces")
    return image_dataset(_absolute(faces, root), [f.label for f in faces], image_size, batch_size).prefetch(AUTOTUNE)
