"""tf.data pipelines over a prepared manifest: meta-split training epochs and per-target evaluation sets.

Face crops are decoded, resized to the model size (``resize.resize_face``, the resize screening uses too: whole
0-255 values) and fed as float32 0-255 RGB (every backbone normalises inside the model, see
``models/backbones.py``). Batches follow ``plan_epoch`` (seeded per epoch), so the same seed gives
the same batches and a resumed run continues exactly; decoding runs in parallel with deterministic order and is
prefetched ahead of the training step. A crop that is missing is refused before any work; one that cannot be
decoded stops the iteration with an ``ImageReadError`` naming the file (not TensorFlow's file-less op error).
A source built with ``masks=True`` serves (images, labels, masks) batches to a method that asks for them: each
face's mask crop resized like the face and thresholded at half intensity, (S, S) in {0, 1}; zeros for a real.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
import tensorflow as tf

from ltw_tf.data.manifest import Face, sample_table
from ltw_tf.data.meta_split import PlannedEpochs
from ltw_tf.data.resize import resize_face
from ltw_tf.data.source import BatchRequest, EpochData

log = logging.getLogger(__name__)
AUTOTUNE = tf.data.AUTOTUNE


class ImageReadError(ValueError):
    """A face crop of the manifest that is missing or cannot be decoded; the one-line message names the file."""


def _op_message(err: tf.errors.OpError) -> str:
    """TensorFlow's message without its op/device decoration, one line."""
    text = re.sub(r"\{\{[^}]*\}\}\s*", "", err.message or type(err).__name__).strip()
    return re.sub(r"\s*\[Op:[^\]]*\].*$", "", text.splitlines()[0] if text else type(err).__name__)


def unreadable_image(path: str) -> str | None:
    """Why the face crop at ``path`` cannot be used (missing, empty, not a decodable image), or None."""
    if not os.path.isfile(path):
        return "no such file"
    if os.path.getsize(path) == 0:
        return "empty file (0 bytes)"
    try:
        tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
    except tf.errors.OpError as err:
        return f"not a decodable image ({_op_message(err)})"
    return None


def check_files(paths: Sequence[str]) -> None:
    """Refuse, before any work, a manifest whose crops are not all on disk (a cheap ``stat`` per file)."""
    missing = [p for p in paths if not os.path.isfile(p)]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise ImageReadError(
            f"{missing[0]}: listed in the manifest but missing{more}; re-run `ltw-tf prepare` "
            "into this folder to restore it"
        )


def read_batches(dataset, paths_of_batch: Callable[[int], Sequence[str]]) -> Iterator:
    """Iterate ``dataset``; a read/decode error in batch n becomes an ``ImageReadError`` naming the bad file.

    Decoding is parallel but ordered (``deterministic=True``), so an error surfaces at the batch that holds the
    file; only then are that batch's files checked one by one.
    """
    iterator = iter(dataset)
    n = 0
    while True:
        try:
            batch = next(iterator)
        except StopIteration:
            return
        except tf.errors.OpError as err:
            for path in paths_of_batch(n):
                reason = unreadable_image(str(path))
                if reason:
                    raise ImageReadError(
                        f"{path}: {reason}; re-run `ltw-tf prepare` or drop its manifest row"
                    ) from None
            raise ImageReadError(f"reading face crops of batch {n + 1} failed: {_op_message(err)}") from None
        yield batch
        n += 1


class MissingMaskError(ValueError):
    """A fake face has no manipulation mask, and the method trains on masks (one-line message)."""


def _mask_decoder(image_size: int):
    def load(path):
        def read():
            mask = tf.io.decode_image(tf.io.read_file(path), channels=1, expand_animations=False)
            return tf.image.resize(mask, [image_size, image_size], antialias=True)[..., 0]

        mask = tf.cond(tf.equal(path, ""), lambda: tf.zeros([image_size, image_size]), read)  # "": a real face
        return tf.ensure_shape(tf.cast(mask >= 127.5, tf.float32), [image_size, image_size])

    return load


def _decoder(image_size: int):
    def load(path):
        image = tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
        image = resize_face(image, image_size)  # the resize screening uses too
        return tf.ensure_shape(image, [image_size, image_size, 3])

    return load


def image_dataset(
    paths: Sequence[str],
    labels: Sequence[int],
    image_size: int,
    batch_size: int,
    drop_remainder: bool = False,
    masks: Sequence[str] | None = None,
) -> tf.data.Dataset:
    """(images float32 0-255, labels float32) batches in the given order; decoding is parallel and ordered.

    ``masks`` (mask crop paths, "" for none): (images, labels, masks) batches, masks (S, S) in {0, 1}.
    """
    load = _decoder(image_size)
    labels = np.asarray(labels, np.float32)
    if masks is None:
        ds = tf.data.Dataset.from_tensor_slices((list(paths), labels))
        ds = ds.map(lambda p, y: (load(p), y), num_parallel_calls=AUTOTUNE, deterministic=True)
    else:
        load_mask = _mask_decoder(image_size)
        ds = tf.data.Dataset.from_tensor_slices((list(paths), labels, list(masks)))
        ds = ds.map(lambda p, y, m: (load(p), y, load_mask(m)), num_parallel_calls=AUTOTUNE, deterministic=True)
    return ds.batch(batch_size, drop_remainder=drop_remainder)


def _absolute(faces: Sequence[Face], root: str | os.PathLike) -> list[str]:
    root = Path(root)
    return [str(root / f.path) for f in faces]


class ManifestEpochs(PlannedEpochs):
    """An ``EpochSource`` over source-domain faces: per epoch, the method's requested batches from ``plan_epoch``."""

    def __init__(
        self,
        faces: Sequence[Face],
        root: str | os.PathLike,
        source_domains: Sequence[str],
        *,
        seed: int,
        batch_size: int,
        image_size: int,
        masks: bool = False,
    ):
        if not faces:
            raise ValueError("no training faces")
        self.faces = list(faces)
        self.paths = np.array(_absolute(self.faces, root))
        check_files(self.paths)
        self.masks = None
        if masks:  # refused before any work: a fake without its mask, or a mask crop not on disk
            bare = [str(Path(root) / f.path) for f in self.faces if f.label == 1 and not f.mask]
            if bare:
                more = f" (and {len(bare) - 1} more)" if len(bare) > 1 else ""
                raise MissingMaskError(
                    f"{bare[0]}: fake face without a manipulation mask{more}; this method trains on masks: prepare "
                    "FF++ with its masks/videos, or synthff built with `ltw-tf synth --masks`"
                )
            self.masks = np.array([str(Path(root) / f.mask) if f.mask else "" for f in self.faces])
            check_files([m for m in self.masks if m])
        self.table = sample_table(self.faces)
        self.source_domains = list(source_domains)
        self.seed, self.batch_size, self.image_size = seed, batch_size, image_size

    def _dataset(self, batches: list[np.ndarray], masks: bool) -> tf.data.Dataset:
        rows = np.concatenate(batches)
        return image_dataset(
            self.paths[rows],
            self.table.labels[rows],
            self.image_size,
            self.batch_size,
            drop_remainder=True,
            masks=self.masks[rows] if masks else None,
        )

    def epoch(self, epoch: int, request: BatchRequest) -> EpochData:
        if request.masks and self.masks is None:
            raise ValueError("the method trains on manipulation masks; build the source with masks=True")
        plan = self.plan(epoch, request)
        if plan.info.get("pair_fallbacks"):
            log.info(
                "epoch %d: %d meta-batch partners missing, replaced by random D_meta samples",
                epoch + 1,
                plan.info["pair_fallbacks"],
            )
        train = self._dataset(plan.batches, request.masks)
        if plan.meta_batches is None:
            pairs = train.map(lambda *batch: (batch, ()))
        else:
            pairs = tf.data.Dataset.zip(train, self._dataset(plan.meta_batches, request.masks))
        pairs = pairs.prefetch(AUTOTUNE)

        def paths_of_batch(n: int) -> list[str]:
            rows = [plan.batches[n]] + ([plan.meta_batches[n]] if plan.meta_batches is not None else [])
            if n >= len(plan.batches):
                return []
            rows = np.concatenate(rows)
            masks = [m for m in self.masks[rows] if m] if request.masks else []
            return list(self.paths[rows]) + masks

        def batches():
            for batch, meta in read_batches(pairs, paths_of_batch):
                yield batch, (meta if plan.meta_batches is not None else None)

        return EpochData(batches(), plan.info, len(plan.batches))


class ImageBatches:
    """A re-iterable ``tf.data`` pipeline of (images, labels) whose read errors name the bad file."""

    def __init__(self, dataset: tf.data.Dataset, paths: Sequence[str], batch_size: int):
        self.dataset, self.paths, self.batch_size = dataset, list(paths), batch_size

    def __iter__(self) -> Iterator:
        size = self.batch_size
        return read_batches(self.dataset, lambda n: self.paths[n * size : (n + 1) * size])


def eval_dataset(faces: Sequence[Face], root: str | os.PathLike, image_size: int, batch_size: int = 64) -> ImageBatches:
    """Batches of (images, labels) over ``faces`` in manifest order (for frame and video metrics)."""
    if not faces:
        raise ValueError("no evaluation faces")
    paths = _absolute(faces, root)
    check_files(paths)
    dataset = image_dataset(paths, [f.label for f in faces], image_size, batch_size).prefetch(AUTOTUNE)
    return ImageBatches(dataset, paths, batch_size)


def uint8_batches(
    faces: Sequence[Face], root: str | os.PathLike, image_size: int, batch_size: int = 64
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(uint8 RGB crops [n, S, S, 3], int64 labels [n]) batches of ``faces`` in order: the training decoder's
    crops (``eval_dataset``), rounded back to the pixels an exported model takes."""
    for images, labels in eval_dataset(faces, root, image_size, batch_size):
        yield np.clip(np.round(images.numpy()), 0, 255).astype(np.uint8), labels.numpy().astype(np.int64)
