"""An in-memory batch source: images held in a numpy array, batches from ``plan_epoch``.

For small sets (tests, toy studies); the tf.data pipeline serves prepared datasets from disk.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import tensorflow as tf

from ltw_tf.data.meta_split import PlannedEpochs, SampleTable
from ltw_tf.data.source import BatchRequest, EpochData


class ArrayEpochs(PlannedEpochs):
    """An EpochSource over images of shape (N, S, S, 3) described row by row by ``table``; ``masks`` (N, S, S),
    1 = manipulated pixel, serve a request for masks."""

    def __init__(
        self,
        images: np.ndarray,
        table: SampleTable,
        source_domains: Sequence[str],
        *,
        seed: int,
        batch_size: int,
        masks: np.ndarray | None = None,
    ):
        self.images = images
        self.masks = masks
        self.table = table
        self.source_domains = list(source_domains)
        self.seed = seed
        self.batch_size = batch_size

    def _tensors(self, rows: np.ndarray, masks: bool):
        labels = self.table.labels[rows].astype(self.images.dtype)
        batch = (tf.constant(self.images[rows]), tf.constant(labels))
        return (*batch, tf.constant(self.masks[rows].astype(self.images.dtype))) if masks else batch

    def epoch(self, epoch: int, request: BatchRequest) -> EpochData:
        if request.masks and self.masks is None:
            raise ValueError("this method trains on manipulation masks, but the array source was given none")
        plan = self.plan(epoch, request)
        metas = plan.meta_batches or [None] * len(plan.batches)

        def batches():
            for rows, meta_rows in zip(plan.batches, metas):
                meta = None if meta_rows is None else self._tensors(meta_rows, request.masks)
                yield self._tensors(rows, request.masks), meta

        return EpochData(batches(), plan.info, len(plan.batches))
