"""The one resize of a face crop to a model's input size, shared by preparation, training, evaluation, export
calibration and screening, so a face gives the model the same pixels whichever path it came by.

``tf.image.resize(antialias=True)`` (a triangle filter widened by the scale when shrinking, bilinear when
enlarging; the identity at the same size), then rounded to whole 0-255 values: the pixels a uint8 model input
(SavedModel, TFLite, ``ltw-tf screen``) can carry, so the float pipeline never sees values a deployed model cannot.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf


def resize_face(image, size: int) -> tf.Tensor:
    """A crop (or a batch of crops) [..., H, W, 3], any real dtype, 0-255 -> float32 [..., size, size, 3] holding
    whole numbers in 0-255. Works eagerly and inside ``tf.data`` / ``tf.function``."""
    resized = tf.image.resize(image, [size, size], antialias=True)
    return tf.clip_by_value(tf.round(resized), 0.0, 255.0)


def resize_face_uint8(image: np.ndarray, size: int) -> np.ndarray:
    """``resize_face`` for one numpy crop, as uint8 (what the screening runners take); a single-channel [H, W]
    crop (a manipulation mask, cut with its face's box) is resized the same way and stays [size, size]."""
    image = np.asarray(image)
    if image.ndim == 2:
        return resize_face(image[..., None], size).numpy().astype(np.uint8)[..., 0]
    return resize_face(image, size).numpy().astype(np.uint8)
