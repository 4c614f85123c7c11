"""Rendering and writing one synthff pair: reals ``a`` and ``b`` and fakes ``a_b`` and ``b_a`` of every family.

Everything random is drawn from RNGs keyed by (seed, purpose, ids), so a video's frames depend only on the
seed and the preset, never on the order or the process that renders it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ltw_tf.data.synth.codec import write_mask_video, write_video
from ltw_tf.data.synth.forgery import FAMILIES, ForgeryStrength, FrameRenders, TargetFrame, VideoState, forge
from ltw_tf.data.synth.identity import Identity, Track, sample_identity, sample_track
from ltw_tf.data.synth.render import render_background, render_face

# RNG stream keys
_IDENTITY, _TRACK, _NOISE, _FAKE = 0, 1, 2, 3


@dataclass(frozen=True)
class SynthPreset:
    """The size and look of a synthff build (``PRESETS`` in ``ltw_tf.data.synthetic`` names two)."""

    name: str
    identities: int  # real videos; pairs = identities // 2
    frames: int  # frames per video
    size: int  # frame side in pixels (square frames)
    fps: int = 25
    noise: float = 2.0  # camera noise (std, 0-255 levels)
    motion: float = 1.0  # head-motion amplitude factor
    strength: ForgeryStrength = field(default_factory=ForgeryStrength)


def video_id(i: int) -> str:
    return f"{i:03d}"


def real_path(out_dir: str | os.PathLike, quality: str, vid: str) -> Path:
    return Path(out_dir) / "original_sequences" / "youtube" / quality / "videos" / f"{vid}.mp4"


def fake_path(out_dir: str | os.PathLike, family: str, quality: str, target: str, source: str) -> Path:
    return Path(out_dir) / "manipulated_sequences" / family / quality / "videos" / f"{target}_{source}.mp4"


def mask_path(out_dir: str | os.PathLike, family: str, target: str, source: str) -> Path:
    """A fake's manipulation mask, where FF++ keeps them (one per fake, not per quality)."""
    return Path(out_dir) / "manipulated_sequences" / family / "masks" / "videos" / f"{target}_{source}.mp4"


def changed_pixels(fake: np.ndarray, real: np.ndarray) -> np.ndarray:
    """(H, W) bool: the pixels a forgery changed, i.e. where the written uint8 fake frame differs from its
    target's real frame in any channel (before compression)."""
    return (fake != real).any(axis=-1)


def identity_of(seed: int, i: int) -> Identity:
    return sample_identity(np.random.default_rng([seed, _IDENTITY, i]))


def track_of(seed: int, i: int, preset: SynthPreset) -> Track:
    return sample_track(np.random.default_rng([seed, _TRACK, i]), preset.frames, preset.motion)


class RealVideo:
    """One identity's real video, frame by frame: clean render, camera noise, landmarks."""

    def __init__(self, seed: int, i: int, preset: SynthPreset):
        self.identity, self.track, self.size = identity_of(seed, i), track_of(seed, i, preset), preset.size
        self.background = render_background(self.identity, preset.size)
        self.noise_rng = np.random.default_rng([seed, _NOISE, i])
        self.noise_std = preset.noise

    def frame(self, f: int) -> TargetFrame:
        """Frame ``f``; call in increasing ``f`` order (the camera noise is a stream)."""
        pose, expr = self.track.poses[f], self.track.expressions[f]
        clean, landmarks = render_face(self.identity, pose, expr, self.size, self.background)
        noise = self.noise_rng.normal(0, self.noise_std, clean.shape).astype(np.float32)
        noise += np.float32(self.noise_rng.normal(0, 1.0))  # exposure flicker
        return TargetFrame(self.identity, pose, expr, self.background, clean, noise, landmarks)


def to_uint8(frame: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(frame), 0, 255).astype(np.uint8)


def face_box(landmarks: np.ndarray) -> list[float]:
    """Ground-truth face box (x0, y0, x1, y1): the landmarks' extent, from the brows to the chin."""
    lo, hi = landmarks.min(0), landmarks.max(0)
    return [round(float(v), 1) for v in (*lo, *hi)]


def pair_outputs(
    out_dir: str | os.PathLike, a: int, b: int, qualities: tuple[str, ...], masks: bool = False
) -> list[Path]:
    ids = (video_id(a), video_id(b))
    paths = [real_path(out_dir, q, v) for q in qualities for v in ids]
    paths += [fake_path(out_dir, fam, q, t, s) for fam in FAMILIES for q in qualities for t, s in (ids, ids[::-1])]
    if masks:
        paths += [mask_path(out_dir, fam, t, s) for fam in FAMILIES for t, s in (ids, ids[::-1])]
    return paths


@dataclass
class PairFrames:
    """A pair's videos before encoding: uint8 RGB frames by (domain, target id, source id), reals as
    ("real", id, id), and each real video's landmarks per frame (frames x 68 x 2, pixels)."""

    videos: dict[tuple[str, str, str], list[np.ndarray]]
    landmarks: dict[str, np.ndarray]


def pair_frames(seed: int, preset: SynthPreset, a: int, b: int) -> PairFrames:
    """Render reals a, b and fakes a_b, b_a of every family, frame by frame (nothing written)."""
    reals = {a: RealVideo(seed, a, preset), b: RealVideo(seed, b, preset)}
    states = {
        (fam, t, s): VideoState.draw(np.random.default_rng([seed, _FAKE, k, t, s]), preset.strength)
        for k, fam in enumerate(FAMILIES)
        for t, s in ((a, b), (b, a))
    }
    videos: dict[tuple[str, str, str], list[np.ndarray]] = {}
    landmarks: dict[str, list[np.ndarray]] = {video_id(a): [], video_id(b): []}
    for f in range(preset.frames):
        target = {i: video.frame(f) for i, video in reals.items()}
        for t, s in ((a, b), (b, a)):
            tid, sid = video_id(t), video_id(s)
            videos.setdefault(("real", tid, tid), []).append(to_uint8(target[t].real))
            landmarks[tid].append(target[t].landmarks)
            renders = FrameRenders(
                target[t], reals[s].identity, reals[s].track.expressions[f], target[s].noise, preset.size
            )
            for fam in FAMILIES:
                fake = forge(fam, target[t], renders, preset.strength, states[(fam, t, s)], f)
                videos.setdefault((fam, tid, sid), []).append(to_uint8(fake))
    return PairFrames(videos, {vid: np.array(points) for vid, points in landmarks.items()})


def render_pair(
    out_dir: str, seed: int, preset: SynthPreset, a: int, b: int, qualities: tuple[str, ...], masks: bool = False
) -> dict[str, list[list[float]]]:
    """Render reals a, b and fakes a_b, b_a of every family and write those of their videos at every quality
    (and, with ``masks``, each fake's ``changed_pixels`` mask video) not on disk yet; returns the reals' boxes.

    Rendering is deterministic and writes are atomic, so a file on disk already holds exactly these frames:
    adding masks to a finished build writes the masks only.
    """
    rendered = pair_frames(seed, preset, a, b)
    for (domain, t, s), frames in rendered.videos.items():
        for q in qualities:
            path = real_path(out_dir, q, t) if domain == "real" else fake_path(out_dir, domain, q, t, s)
            if not path.is_file():
                path.parent.mkdir(parents=True, exist_ok=True)
                write_video(path, frames, q, preset.fps)
        if masks and domain != "real" and not (path := mask_path(out_dir, domain, t, s)).is_file():
            path.parent.mkdir(parents=True, exist_ok=True)
            real = rendered.videos[("real", t, t)]
            write_mask_video(path, [changed_pixels(f, r) for f, r in zip(frames, real)], preset.fps)
    return {vid: [face_box(points) for points in marks] for vid, marks in rendered.landmarks.items()}
