"""A small, separable two-domain toy set built in memory (each fake domain has its own artifact)."""

from __future__ import annotations

import numpy as np

from ltw_tf.data.meta_split import REAL, SampleTable

SIZE = 16
DOMAINS = ("A", "B")


def _real_frame(rng, target: int, frame: int) -> np.ndarray:
    base = np.random.default_rng(target).uniform(60, 190, 3)
    image = base + rng.normal(0, 12, (SIZE, SIZE, 3)) + 3 * frame
    return image


def _forge(image: np.ndarray, domain: str) -> np.ndarray:
    image = image.copy()
    if domain == "A":  # a bright blob in one corner
        image[:6, :6] += 70
    else:  # horizontal stripes
        image[::2] -= 60
    return image


def toy_set(targets: range, frames: int = 4, seed: int = 0):
    """(images float32 0-255, SampleTable): per target, ``frames`` real frames and one fake video per domain."""
    rng = np.random.default_rng(seed)
    images, labels, domains, target_ids, frame_ids = [], [], [], [], []
    for t in targets:
        for f in range(frames):
            real = _real_frame(rng, t, f)
            for domain, image in ((REAL, real), *((d, _forge(real, d)) for d in DOMAINS)):
                images.append(image)
                labels.append(0 if domain == REAL else 1)
                domains.append(domain)
                target_ids.append(f"{t:03d}")
                frame_ids.append(f)
    table = SampleTable(np.array(labels), np.array(domains), np.array(target_ids), np.array(frame_ids))
    return np.clip(np.stack(images), 0, 255).astype(np.float32), table


def eval_batches(images: np.ndarray, table: SampleTable, batch: int = 32):
    """(images, labels) batches over a whole set, for ``ltw_tf.evaluate``."""
    labels = table.labels.astype(np.float32)
    return [(images[i : i + batch], labels[i : i + batch]) for i in range(0, len(images), batch)]
