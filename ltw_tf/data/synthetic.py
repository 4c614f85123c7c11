"""synthff: the embedded synthetic benchmark, procedurally rendered face videos written in the FF++ layout.

``generate`` writes ``original_sequences/youtube/{q}/videos/000.mp4``, ``manipulated_sequences/{family}/{q}/
videos/000_001.mp4`` (target_source), official-format ``splits/{train,val,test}.json``, per-frame ground-truth
face boxes and ``synthff.json`` (what was built, and how). Numbers on synthff are not FF++ numbers.
"""

from __future__ import annotations

import concurrent.futures as futures
import dataclasses
import json
import multiprocessing
import os
import shutil
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from ltw_tf.data.synth.codec import codec_info
from ltw_tf.data.synth.forgery import FAMILIES, ForgeryStrength
from ltw_tf.data.synth.videos import SynthPreset, identity_of, pair_outputs, render_pair, video_id
from ltw_tf.io import atomic_write_text

__all__ = [
    "FAMILIES",
    "GENERATOR_VERSION",
    "PRESETS",
    "ForgeryStrength",
    "SynthPreset",
    "generate",
    "make_pairs",
    "split_pairs",
]

# 1.1: artifacts that survive 64 px; 1.2: less shared blur/brightness, so every GID split has a held-out gap
# (docs/RESULTS.md, synthff domain gap)
GENERATOR_VERSION = "1.2"
META_NAME = "synthff.json"
BOXES_NAME = "synthff_boxes.json"
SPLITS = ("train", "val", "test")
SPLIT_SHARES = (0.72, 0.14, 0.14)  # FF++: 720 / 140 / 140 videos
QUALITIES = ("c23", "c40")
NOTE = "synthetic: numbers on synthff are not FF++ numbers"

PRESETS = {
    "small": SynthPreset("small", identities=8, frames=12, size=160),
    "default": SynthPreset("default", identities=80, frames=32, size=256),
    # FF++'s size (1000 videos, 360 / 70 / 70 pairs): every held-out family's test split has 140 real and 140
    # fake videos, enough to resolve method differences in studies (docs/RESULTS.md); 16 frames per video
    # leave room for the paper's 10 sampled frames.
    "study": SynthPreset("study", identities=1000, frames=16, size=256),
}


def make_pairs(seed: int, n_identities: int) -> list[tuple[int, int]]:
    """Pair identities of similar skin tone (as a swap tool's user would), in a seeded random order."""
    rng = np.random.default_rng([seed, 100])
    tone = np.array([np.mean(identity_of(seed, i).skin) for i in range(n_identities)])
    order = np.argsort(tone + rng.normal(0, 12, n_identities), kind="stable")
    pairs = [(int(min(x, y)), int(max(x, y))) for x, y in zip(order[0::2], order[1::2])]
    rng.shuffle(pairs)
    return pairs


def split_pairs(pairs: Sequence[tuple[int, int]]) -> dict[str, list[tuple[int, int]]]:
    """Cut pairs 72 / 14 / 14 % into train / val / test, with at least one pair in each."""
    n = len(pairs)
    if n < 3:
        raise ValueError(f"synthff needs at least 3 pairs (6 identities) for train/val/test, got {n}")
    n_val = n_test = max(1, round(n * SPLIT_SHARES[1]))
    n_train = n - n_val - n_test
    return {
        "train": list(pairs[:n_train]),
        "val": list(pairs[n_train : n_train + n_val]),
        "test": list(pairs[n_train + n_val :]),
    }


def _config(preset: SynthPreset, seed: int, qualities: tuple[str, ...]) -> dict:
    return {
        "generator": "synthff",
        "version": GENERATOR_VERSION,
        "seed": seed,
        "qualities": list(qualities),
        "preset": dataclasses.asdict(preset),
    }


def _owned_paths(out: Path) -> list[Path]:
    """Everything ``generate`` writes (and so may replace)."""
    paths = [out / "original_sequences" / "youtube" / q for q in QUALITIES]
    paths += [out / "manipulated_sequences" / fam / q for fam in FAMILIES for q in (*QUALITIES, "masks")]
    return paths + [out / "splits" / f"{s}.json" for s in SPLITS] + [out / BOXES_NAME, out / META_NAME]


def _remove(paths: Sequence[Path]) -> None:
    for path in paths:
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


def _write_json(path: Path, obj, indent: int | None = 1) -> None:
    atomic_write_text(path, json.dumps(obj, indent=indent) + "\n")


def _prepare_out_dir(out: Path, config: dict, overwrite: bool) -> bool:
    """Make ``out`` ready; True when it holds a (partial) build of this very config whose videos can be kept."""
    meta = out / META_NAME
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"{out} exists and is not a folder")
    if meta.is_file():
        try:
            previous = json.loads(meta.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            previous = {}
        if not overwrite and previous.get("config") == config:
            return True
        _remove(_owned_paths(out))
    elif out.exists() and any(out.iterdir()):
        if not overwrite:
            raise FileExistsError(
                f"{out} is not empty and holds no {META_NAME}; choose an empty folder "
                "or pass overwrite=True (--overwrite) to replace the synthff paths in it"
            )
        _remove(_owned_paths(out))
    out.mkdir(parents=True, exist_ok=True)
    _write_json(meta, {"config": config, "complete": False, "note": NOTE})
    return False


def _resolve(preset: str | SynthPreset, qualities: Sequence[str]) -> tuple[SynthPreset, tuple[str, ...]]:
    if isinstance(preset, str):
        if preset not in PRESETS:
            raise ValueError(f"unknown synthff preset {preset!r}; choose one of {sorted(PRESETS)}")
        preset = PRESETS[preset]
    qualities = tuple(dict.fromkeys(qualities))
    bad = [q for q in qualities if q not in QUALITIES]
    if bad or not qualities:
        raise ValueError(f"qualities must be a non-empty subset of {QUALITIES}, got {list(qualities)}")
    if preset.identities < 6 or preset.identities % 2:
        raise ValueError(f"a preset needs an even number of identities >= 6, got {preset.identities}")
    if preset.size % 16 or preset.size < 96 or preset.frames < 1:
        raise ValueError(
            f"frame size must be a multiple of 16 and >= 96, frames >= 1 (got {preset.size}, {preset.frames})"
        )
    return preset, qualities


def _run_pairs(jobs: list[tuple], workers: int, progress: bool) -> dict[str, list]:
    boxes: dict[str, list] = {}
    bar = tqdm(total=len(jobs), desc="synthff pairs", unit="pair", disable=not progress)
    try:
        if workers <= 1 or len(jobs) <= 1:
            for job in jobs:
                boxes.update(render_pair(*job))
                bar.update()
        else:
            context = multiprocessing.get_context("spawn")  # never fork a process that may hold TensorFlow
            with futures.ProcessPoolExecutor(workers, mp_context=context) as pool:
                for result in futures.as_completed([pool.submit(render_pair, *job) for job in jobs]):
                    boxes.update(result.result())
                    bar.update()
    finally:
        bar.close()
    return boxes


def generate(
    out_dir: str | os.PathLike,
    preset: str | SynthPreset = "small",
    seed: int = 0,
    qualities: Sequence[str] = QUALITIES,
    progress: bool = True,
    overwrite: bool = False,
    workers: int | None = None,
    masks: bool = False,
) -> dict:
    """Build synthff in ``out_dir``; returns a summary. Seeded and deterministic (same seed, same frames).

    ``masks`` also writes each fake's manipulation mask (the pixels its family changed) as
    ``manipulated_sequences/<family>/masks/videos/<T_S>.mp4``, as FF++ ships them. Masks are not part of the
    build's configuration: asking for them on a finished build of the same settings re-renders its pairs
    (deterministically) and writes only the masks, leaving every video as it was.

    A folder holding an earlier build of the same configuration is resumed (finished videos are kept); one
    holding another synthff build is replaced; any other non-empty folder is refused unless ``overwrite``.
    ``workers`` processes render pairs in parallel (default: up to 2, one for presets of <= 8 identities).
    """
    started = time.perf_counter()
    preset, qualities = _resolve(preset, qualities)
    out = Path(out_dir)
    config = _config(preset, seed, qualities)
    resume = _prepare_out_dir(out, config, overwrite)
    # a build that has masks keeps them complete when resumed without --masks
    masks = masks or (resume and any((out / "manipulated_sequences" / f / "masks").is_dir() for f in FAMILIES))
    pairs = make_pairs(seed, preset.identities)
    splits = split_pairs(pairs)
    old_boxes = {}
    if resume and (out / BOXES_NAME).is_file():
        old_boxes = json.loads((out / BOXES_NAME).read_text(encoding="utf-8"))
    todo = [
        (str(out), seed, preset, a, b, qualities, masks)
        for a, b in pairs
        if not (
            all(p.is_file() for p in pair_outputs(out, a, b, qualities, masks))
            and video_id(a) in old_boxes
            and video_id(b) in old_boxes
        )
    ]
    if workers is None:
        workers = 1 if preset.identities <= 8 else min(2, os.cpu_count() or 1)
    boxes = {**old_boxes, **_run_pairs(todo, workers, progress)}
    for split, members in splits.items():
        _write_json(out / "splits" / f"{split}.json", [[video_id(a), video_id(b)] for a, b in members], indent=None)
    _write_json(out / BOXES_NAME, dict(sorted(boxes.items())))
    files = [p for a, b in pairs for p in pair_outputs(out, a, b, qualities)]
    summary = {
        "out_dir": str(out),
        "preset": preset.name,
        "seed": seed,
        "qualities": list(qualities),
        "identities": preset.identities,
        "pairs": len(pairs),
        "frames": preset.frames,
        "size": preset.size,
        "splits": {s: len(m) for s, m in splits.items()},
        "videos": {
            "real": preset.identities * len(qualities),
            **{fam: preset.identities * len(qualities) for fam in FAMILIES},
        },
        "masks": masks,
        "rendered_pairs": len(todo),
        "kept_pairs": len(pairs) - len(todo),
        "bytes": sum(p.stat().st_size for p in files),
        "seconds": round(time.perf_counter() - started, 2),
        "codec": codec_info(),
        "note": NOTE,
    }
    meta = {
        "config": config,
        "complete": True,
        "note": NOTE,
        "families": list(FAMILIES),
        "codec": summary["codec"],
        "boxes": f"{BOXES_NAME}: per real video, per frame, the ground-truth face box [x0, y0, x1, y1] "
        "(landmark extent); a fake's boxes are its target's",
        "layout": "FaceForensics++ (original_sequences/youtube, manipulated_sequences/<method>, splits/)",
        "masks": masks,
    }
    if masks:
        meta["mask_note"] = (
            "manipulated_sequences/<method>/masks/videos/<T_S>.mp4: per frame, the pixels where the fake's "
            "uint8 frame differs from its target's before compression (white), losslessly encoded"
        )
    _write_json(out / META_NAME, meta)
    return summary
