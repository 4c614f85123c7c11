"""A small, separable two-domain toy set built in memory (each fake domain has its own artifact)."""

from __future__ import annotations

import cv2
import numpy as np

from ltw_tf.data.manifest import Face, write_manifest
from ltw_tf.data.meta_split import REAL, SampleTable

SIZE = 16
DOMAINS = ("A", "B")


def _real_frame(rng, target: int, frame: int) -> np.ndarray:
    base = np.random.default_rng(target).uniform(60, 190, 3)
    image = base + rng.normal(0, 12, (SIZE, SIZE, 3)) + 3 * frame
    return image


def forged_region(domain: str) -> np.ndarray:
    """(SIZE, SIZE) bool: the pixels ``_forge`` edits for ``domain`` (none for real)."""
    region = np.zeros((SIZE, SIZE), bool)
    if domain == "A":
        region[:6, :6] = True
    elif domain == "B":
        region[::2] = True
    return region


def _forge(image: np.ndarray, domain: str) -> np.ndarray:
    image = image.copy()
    if domain == "A":  # a bright blob in one corner
        image[forged_region("A")] += 70
    else:  # horizontal stripes
        image[forged_region("B")] -= 60
    return image


def toy_masks(table: SampleTable) -> np.ndarray:
    """(N, SIZE, SIZE) float32 manipulation masks of a ``toy_set`` table (1 = edited pixel, zeros for reals)."""
    return np.stack([forged_region(d) for d in table.domains]).astype(np.float32)


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


FF_METHODS = ("Deepfakes", "Face2Face", "FaceSwap", "NeuralTextures")
FF_SIZE = 8


def ff_manifest(root, n_targets=8, frames=(0, 5), split="train", splits=None):
    """A prepared FF++-shaped root: crops whose pixels encode their row number (R = row % 256, G = row // 256).

    ``splits`` (optional) maps a target index to its split; otherwise every video is in ``split``. Fakes carry a
    bright stripe so a detector can learn them.
    """
    faces = []
    for t in range(n_targets):
        target = f"{t:03d}"
        split = splits(t) if splits else split
        videos = [("real", 0, target, "")] + [(m, 1, f"{target}_{t + 100:03d}", f"{t + 100:03d}") for m in FF_METHODS]
        for domain, label, video_id, source in videos:
            for frame in frames:
                faces.append(
                    Face(
                        path=f"{domain}/{video_id}/{frame:04d}.png",
                        label=label,
                        dataset="synthff",
                        domain=domain,
                        quality="c23",
                        split=split,
                        video_id=video_id,
                        target_id=target,
                        source_id=source,
                        frame=frame,
                    )
                )
    for row, face in enumerate(faces):
        path = root / face.path
        path.parent.mkdir(parents=True, exist_ok=True)
        image = np.zeros((FF_SIZE + 4, FF_SIZE + 4, 3), np.uint8)  # another size: the pipeline resizes
        image[..., 0], image[..., 1] = row % 256, row // 256
        if face.label:
            image[: FF_SIZE // 3, :, 2] = 255
        cv2.imwrite(str(path), image[..., ::-1])
    write_manifest(root, faces)
    return faces


def trained_run(tmp_path, method: str = "alltrain", image_size: int = 16, epochs: int = 1, n_targets: int = 8):
    """A finished tiny-backbone run directory on an ``ff_manifest`` root (with val split): (run_dir, data_root)."""
    from click.testing import CliRunner

    from cli.main import main

    root = tmp_path / "faces"
    if not (root / "manifest.csv").is_file():
        ff_manifest(
            root, n_targets=n_targets, splits=lambda t: ("val", "test")[t % 2] if t >= n_targets - 4 else "train"
        )
    out = tmp_path / f"run-{method}"
    result = CliRunner().invoke(
        main,
        [
            "--quiet",
            "train",
            "gid-fs23",
            "--data-root",
            str(root),
            "--method",
            method,
            "--backbone",
            "tiny",
            "--weights",
            "none",
            "--image-size",
            str(image_size),
            "--batch-size",
            "6",
            "--epochs",
            str(epochs),
            "--out",
            str(out),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    return out, root
