"""Who is in a synthff video (``Identity``) and how they move in it (``Track``), both drawn from a seeded RNG.

Face geometry lives in a canonical frame: origin at the face centre, x to the right and y down as in the
image, face half-width ~1. A ``Pose`` maps it to pixels; an ``Expression`` moves eyes,
brows and mouth. A fake is rendered from one identity with the pose and/or expression of another video's track.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Skin tones from light to dark (RGB); an identity interpolates between two neighbours.
SKIN_TONES = np.array(
    [(250, 218, 190), (236, 192, 160), (222, 170, 130), (198, 140, 100), (160, 105, 70), (128, 84, 58), (104, 70, 50)],
    dtype=np.float32,
)
SKIN_WEIGHTS = np.array([0.2, 0.2, 0.18, 0.16, 0.14, 0.12])  # of each neighbouring pair of tones
HAIR_COLOURS = np.array(
    [(25, 20, 18), (55, 38, 25), (95, 62, 35), (150, 110, 60), (200, 165, 105), (120, 50, 25), (130, 128, 125)],
    dtype=np.float32,
)
IRIS_COLOURS = np.array([(60, 38, 22), (35, 24, 18), (55, 85, 120), (65, 90, 55), (80, 80, 80)], dtype=np.float32)
CLOTHES = np.array(
    [(40, 50, 90), (150, 40, 40), (40, 100, 60), (200, 200, 200), (30, 30, 30), (150, 120, 60)], dtype=np.float32
)


@dataclass(frozen=True)
class Identity:
    """Per-person appearance (constant over the person's video)."""

    face_w: float  # face half-width (canonical units, ~1)
    face_h: float  # face half-height
    jaw: float  # narrowing of the lower face towards the chin (0 = ellipse)
    skin: tuple[float, float, float]
    lip: tuple[float, float, float]
    hair: tuple[float, float, float]
    hair_line: float  # y of the hairline (negative = above the face centre)
    hair_len: float  # how far down the sides the hair reaches (y)
    hair_volume: float  # hair extent beyond the skull
    iris: tuple[float, float, float]
    eye_dx: float  # half the distance between the eyes
    eye_y: float
    eye_w: float  # eye half-width
    eye_h: float  # eye half-height when fully open
    brow_y: float
    brow_thick: float
    brow_arch: float
    nose_len: float  # y of the nose tip
    nose_w: float
    mouth_y: float
    mouth_w: float  # mouth half-width
    lip_thick: float
    light: tuple[float, float, float]  # unit light direction (x, y, z towards the camera)
    ambient: float
    background: tuple[tuple[float, float, float], tuple[float, float, float]]  # two colours
    bg_kind: int  # 0 gradient, 1 stripes, 2 blobs, 3 tiles
    bg_freq: float
    clothes: tuple[float, float, float]
    scale: float  # face half-width in units of the frame size
    centre: tuple[float, float]  # face centre in units of the frame size
    texture_seed: int  # seeds the background texture


@dataclass(frozen=True)
class Pose:
    """Head pose in one frame: translation (frame units), in-plane roll (radians), scale factor, yaw (-1..1)."""

    dx: float = 0.0
    dy: float = 0.0
    roll: float = 0.0
    zoom: float = 1.0
    yaw: float = 0.0


@dataclass(frozen=True)
class Expression:
    """Facial expression in one frame."""

    eye_open: float = 1.0  # 0 closed (blink) .. 1 open
    gaze: tuple[float, float] = (0.0, 0.0)  # iris offset (units of eye half-width)
    brow_raise: float = 0.0
    mouth_open: float = 0.0  # 0 .. 1
    smile: float = 0.0  # -1 .. 1


@dataclass(frozen=True)
class Track:
    """One video's motion: a pose and an expression per frame."""

    poses: tuple[Pose, ...]
    expressions: tuple[Expression, ...]


def _mix(
    rng: np.random.Generator, palette: np.ndarray, jitter: float, weights: np.ndarray | None = None
) -> tuple[float, float, float]:
    i = rng.choice(len(palette) - 1, p=weights)
    t = rng.random()
    colour = (1 - t) * palette[i] + t * palette[i + 1] + rng.normal(0, jitter, 3)
    return tuple(float(c) for c in np.clip(colour, 0, 255))


def _away_from(colour: np.ndarray, level: float, margin: float) -> np.ndarray:
    """Shift a colour's brightness at least ``margin`` away from ``level`` (a face must stand out)."""
    gap = float(np.mean(colour)) - level
    if abs(gap) < margin:
        up = level + margin <= 235 and (gap >= 0 or level - margin < 20)
        colour = colour + (margin - gap) if up else colour - (margin + gap)
    return np.clip(colour, 0, 255)


def sample_identity(rng: np.random.Generator) -> Identity:
    """Draw one person's appearance."""
    r, g, b = np.array(_mix(rng, SKIN_TONES, 3, SKIN_WEIGHTS)) * rng.uniform(0.95, 1.05)
    g = min(g, 0.88 * r)  # keep skin hues between pink and yellow-brown
    b = min(b, 0.9 * g)
    skin = (float(min(r, 255.0)), float(g), float(b))
    lip = tuple(float(c) for c in np.clip(np.array(skin) * [0.78, 0.5, 0.52] + [22, 0, 5], 0, 255))
    theta = rng.uniform(-0.9, 0.9)
    light = np.array([np.sin(theta), rng.uniform(-0.6, -0.1), 1.0])
    hair = _mix(rng, HAIR_COLOURS, 8)
    if abs(np.mean(hair) - np.mean(skin)) < 45:  # hair must stand out from the skin
        hair = tuple(c * 0.45 for c in hair)
    grey = rng.uniform(40, 215)
    bg_a, bg_b = (
        _away_from(np.clip(0.55 * rng.uniform(20, 235, 3) + 0.45 * grey, 0, 255), np.mean(skin), 60) for _ in range(2)
    )
    return Identity(
        face_w=float(rng.uniform(0.92, 1.05)),
        face_h=float(rng.uniform(1.25, 1.4)),
        jaw=float(rng.uniform(0.1, 0.35)),
        skin=skin,
        lip=lip,
        hair=hair,
        hair_line=float(rng.uniform(-1.05, -0.82)),
        hair_len=float(rng.uniform(-0.3, 1.2)),
        hair_volume=float(rng.uniform(0.05, 0.25)),
        iris=_mix(rng, IRIS_COLOURS, 8),
        eye_dx=float(rng.uniform(0.36, 0.44)),
        eye_y=float(rng.uniform(-0.22, -0.12)),
        eye_w=float(rng.uniform(0.2, 0.24)),
        eye_h=float(rng.uniform(0.095, 0.12)),
        brow_y=float(rng.uniform(-0.45, -0.38)),
        brow_thick=float(rng.uniform(0.035, 0.065)),
        brow_arch=float(rng.uniform(0.02, 0.08)),
        nose_len=float(rng.uniform(0.28, 0.4)),
        nose_w=float(rng.uniform(0.13, 0.19)),
        mouth_y=float(rng.uniform(0.6, 0.72)),
        mouth_w=float(rng.uniform(0.26, 0.34)),
        lip_thick=float(rng.uniform(0.055, 0.085)),
        light=tuple(float(v) for v in light / np.linalg.norm(light)),
        ambient=float(rng.uniform(0.45, 0.6)),
        background=(tuple(float(c) for c in bg_a), tuple(float(c) for c in bg_b)),
        bg_kind=int(rng.integers(4)),
        bg_freq=float(rng.uniform(2, 8)),
        clothes=_mix(rng, CLOTHES, 20),
        scale=float(rng.uniform(0.25, 0.29)),
        centre=(float(rng.uniform(0.46, 0.54)), float(rng.uniform(0.49, 0.53))),
        texture_seed=int(rng.integers(2**31)),
    )


def _smooth_walk(rng: np.random.Generator, n: int, amplitude: float) -> np.ndarray:
    """A smooth random signal in [-amplitude, amplitude]: a sum of three sinusoids with random phases."""
    t = np.arange(n, dtype=np.float64)
    out = np.zeros(n)
    for period in (rng.uniform(8, 16), rng.uniform(20, 40), rng.uniform(50, 90)):
        out += np.sin(2 * np.pi * t / period + rng.uniform(0, 2 * np.pi)) / 3
    return amplitude * out


def sample_track(rng: np.random.Generator, n_frames: int, motion: float = 1.0) -> Track:
    """Draw one video's head motion, blinks and speech-like mouth movement over ``n_frames`` frames."""
    dx, dy = _smooth_walk(rng, n_frames, 0.02 * motion), _smooth_walk(rng, n_frames, 0.015 * motion)
    roll = _smooth_walk(rng, n_frames, 0.08 * motion)
    zoom = 1 + _smooth_walk(rng, n_frames, 0.04 * motion)
    yaw = _smooth_walk(rng, n_frames, 0.25 * motion)
    gx, gy = _smooth_walk(rng, n_frames, 0.3), _smooth_walk(rng, n_frames, 0.15)
    brow = np.clip(_smooth_walk(rng, n_frames, 0.04), 0, None)
    speech = np.clip(0.35 + _smooth_walk(rng, n_frames, 0.5) + rng.normal(0, 0.12, n_frames), 0, 1)
    smile = float(rng.uniform(-0.2, 0.6)) + _smooth_walk(rng, n_frames, 0.2)
    eye_open = np.ones(n_frames)
    frame = int(rng.integers(0, 12))
    while frame < n_frames:  # a blink every 12-40 frames: 0.55, 0.1, 0.55 openness over three frames
        for k, value in enumerate((0.55, 0.08, 0.55)):
            if frame + k < n_frames:
                eye_open[frame + k] = value
        frame += int(rng.integers(12, 40))
    poses = tuple(
        Pose(float(dx[i]), float(dy[i]), float(roll[i]), float(zoom[i]), float(yaw[i])) for i in range(n_frames)
    )
    expressions = tuple(
        Expression(float(eye_open[i]), (float(gx[i]), float(gy[i])), float(brow[i]), float(speech[i]), float(smile[i]))
        for i in range(n_frames)
    )
    return Track(poses, expressions)
