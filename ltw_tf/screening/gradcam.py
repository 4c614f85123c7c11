"""Grad-CAM (Selvaraju et al., ICCV 2017) on f(theta)'s last feature map: where in a face the fake logit reacts.

f(theta) returns ``(F, logit)`` (``ltw_tf.models.detector``), F the backbone's last feature map [h, w, C]. For a
face crop x:

    alpha_c = mean_ij d logit / d F_ijc          (Grad-CAM Eq. 1: channel weights, global-average-pooled gradients)
    M       = ReLU(sum_c alpha_c F_c)            (Eq. 2: the class-activation map, h x w)

upsampled bilinearly to the crop's S x S. The logit is the *fake* logit, so M marks evidence for "fake"; a face
the detector finds real has a small or empty map. Gradients come from ``tf.GradientTape`` on the Keras detector,
so ``--explain`` needs a model that has one: a run directory, or an exported SavedModel with its model card
(``ltw-tf export`` writes ``model_card.json`` beside it: backbone and input size), from which the detector is
rebuilt as the run built it and given the SavedModel's variables, then checked against its signature.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from ltw_tf.screening.runners import OUTPUT_NAME, SERVING_SIGNATURE, model_kind

PARITY_ATOL = 1e-4  # rebuilt detector vs the SavedModel's own signature: P(fake) (see saved_model_detector)


class GradCam:
    """Grad-CAM maps for uint8 face crops [N, S, S, 3]: ``maps(images)`` -> (float32 maps [N, S, S] >= 0, P(fake)
    [N] from the same forward pass)."""

    def __init__(self, detector: Any, source: str):
        import tensorflow as tf

        self.detector = detector
        self.source = source
        self.size = int(detector.inputs[0].shape[1])
        self._tf = tf
        self._fn = tf.function(self._maps, reduce_retracing=True)

    def _maps(self, images):
        tf = self._tf
        pixels = tf.cast(images, tf.float32)  # as serving_model: raw 0-255, the backbone normalises inside
        with tf.GradientTape() as tape:
            features, logit = self.detector(pixels, training=False)
        # Inference mode: each logit depends on its own image only, so the gradient of the batch sum is per face.
        grads = tape.gradient(logit, features)
        alpha = tf.reduce_mean(grads, axis=(1, 2), keepdims=True)  # Eq. 1
        cam = tf.nn.relu(tf.reduce_sum(alpha * features, axis=-1))  # Eq. 2
        cam = tf.image.resize(cam[..., None], (self.size, self.size), method="bilinear")[..., 0]
        return tf.cast(cam, tf.float32), tf.sigmoid(tf.cast(tf.reshape(logit, (-1,)), tf.float32))

    def maps(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        images = np.asarray(images)
        if images.dtype != np.uint8 or images.ndim != 4 or images.shape[1:] != (self.size, self.size, 3):
            raise ValueError(f"expected uint8 face crops [N, {self.size}, {self.size}, 3], got {images.shape}")
        if not len(images):
            return np.zeros((0, self.size, self.size), np.float32), np.zeros((0,), np.float32)
        cams, probabilities = self._fn(self._tf.constant(images))
        return cams.numpy(), probabilities.numpy()


def load_explainer(model: str | os.PathLike) -> GradCam:
    """Grad-CAM for a run directory (its detector) or an exported SavedModel (rebuilt from its model card); a
    .tflite or .keras model is refused in one line (no gradients / no f(theta) to take them from)."""
    path = os.fspath(model)
    kind = model_kind(path)
    if kind == "tflite":
        raise ValueError(
            f"--explain needs gradients, which a .tflite model ({path}) does not have: give the run directory "
            "or the exported SavedModel"
        )
    if kind == "keras":
        raise ValueError(
            f"--explain needs f(theta)'s feature map: give the run directory or the SavedModel, not {path}"
        )
    if kind == "savedmodel":
        return GradCam(saved_model_detector(path), path)
    from ltw_tf.runs import load_detector

    detector, _ = load_detector(path)
    return GradCam(detector, path)


def find_card(saved_model: str | os.PathLike) -> Path | None:
    """The model card that describes a SavedModel: beside its folder (``ltw-tf export``'s layout) or inside it."""
    folder = Path(saved_model)
    for card in (folder.parent / "model_card.json", folder / "model_card.json"):
        if card.is_file():
            return card
    return None


def saved_model_detector(path: str | os.PathLike) -> Any:
    """f(theta) rebuilt from an exported SavedModel: the card's backbone and input size, the SavedModel's
    variables (matched by name and shape, in order), then checked: its P(fake) on probe images must equal the
    SavedModel signature's within ``PARITY_ATOL`` (float32 probabilities of one graph run two ways differ by
    ~1e-7; a wrong backbone or weights by orders of magnitude more), else refused."""
    import tensorflow as tf

    from ltw_tf.models import build_detector

    card_path = find_card(path)
    if card_path is None:
        raise ValueError(
            f"--explain: no model_card.json beside or in {path} to rebuild f(theta) from (ltw-tf export writes "
            "one); give the run directory instead"
        )
    try:
        spec = json.loads(card_path.read_text())["model"]
        backbone, size = str(spec["backbone"]), int(spec["image_size"])
    except (ValueError, KeyError, TypeError) as err:
        raise ValueError(f"--explain: {card_path} has no model.backbone / model.image_size ({err})") from None
    loaded = tf.saved_model.load(os.fspath(path))
    signature = loaded.signatures[SERVING_SIGNATURE]
    shapes = [tuple(spec.shape) for spec in signature.structured_input_signature[1].values()]
    if shapes != [(None, size, size, 3)]:
        raise ValueError(f"--explain: {path} takes {shapes}, its card says {size}px; give the run directory instead")
    detector = build_detector(backbone, size, weights=None)
    ours, theirs = detector.variables, loaded.variables
    names = [v.path for v in ours], [v.name.split(":")[0] for v in theirs]
    shapes = [tuple(v.shape) for v in ours], [tuple(v.shape) for v in theirs]
    if names[0] != names[1] or shapes[0] != shapes[1]:
        raise ValueError(
            f"--explain: the variables of {path} are not those of a {backbone} detector at {size}px "
            f"({len(theirs)} vs {len(ours)} variables); give the run directory instead"
        )
    for mine, saved in zip(ours, theirs):
        mine.assign(saved.numpy())
    probe = np.random.default_rng(0).integers(0, 256, (4, size, size, 3), dtype=np.uint8)
    outputs = signature(**{name: tf.constant(probe) for name in signature.structured_input_signature[1]})
    expected = np.asarray(outputs.get(OUTPUT_NAME, next(iter(outputs.values()))), np.float32).reshape(-1)
    got = tf.sigmoid(detector(probe.astype(np.float32), training=False)[1]).numpy().reshape(-1)
    if got.shape != expected.shape or not np.allclose(got, expected, atol=PARITY_ATOL, rtol=0):
        raise ValueError(
            f"--explain: f(theta) rebuilt from {card_path.name} does not reproduce {path}; give the run "
            "directory instead"
        )
    return detector
