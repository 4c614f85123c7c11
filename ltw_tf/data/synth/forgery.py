"""The four synthff manipulation families, each with its own artifact signature (mirroring FF++'s methods).

A fake ``T_S`` keeps target T's frames and head motion and takes something from source S:
- ``Deepfakes``: S's face re-rendered with T's pose and expression at low resolution (autoencoder-like: down-
  sampled to a quarter of the aligned crop, blurred, upsampled), half colour-corrected to T and blended with a
  soft mask: a blurry inner face with a soft colour ring.
- ``Face2Face``: T stays T; eyes, brows and mouth are re-rendered with S's expression, warped by a smooth field
  (reenactment resampling, which also smooths them) and blended with narrow seams and a brightness mismatch.
- ``FaceSwap``: S's inner face (S's expression, T's pose) pasted inside T's landmark hull with a hard mask,
  smoothed (graphics re-projection) and no colour correction: it keeps the source video's colour cast.
- ``NeuralTextures``: only the mouth region re-rendered with S's mouth motion: over-smoothed, brighter, and
  carrying a coarse periodic upsampling (checkerboard) pattern.
All share one trait, as the real methods do: a blending boundary where colour, brightness or sharpness changes.
Each family's main cue is its own (1.2): only Deepfakes blurs the whole inner face, Face2Face is mostly geometry
(the warp) with a faint seam, NeuralTextures mostly its periodic pattern; in 1.1 Face2Face and NeuralTextures also
blurred and brightened their regions, so a detector trained on the other three families found Deepfakes and
Face2Face as well as the ones it was trained on (no held-out gap on two of the four splits).
Camera noise follows each method's physics: the autoencoder's output is smooth (little noise), a graphics paste
carries the source video's noise, a reenactment resamples the target's noisy pixels, neural rendering smooths it
away. Strengths are ``ForgeryStrength`` fields so the benchmark's difficulty can be tuned. The defaults are sized
so the artifacts survive what a detector sees (H.264 c23, a face crop resized to 64-128 px): with them a plain
detector (Alltrain, the tiny backbone, 3 epochs, 64 px) learns the training families and does clearly worse, but
above chance, on a held-out one (``bench/study/domain_gap.py``).
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass

import cv2
import numpy as np

from ltw_tf.data.synth.identity import Expression, Identity, Pose
from ltw_tf.data.synth.render import Grid, ellipse_mask, make_grid, render_face

FAMILIES = ("Deepfakes", "Face2Face", "FaceSwap", "NeuralTextures")


@dataclass(frozen=True)
class ForgeryStrength:
    """Artifact strengths of the four families. Lengths are pixels of a 256x256 frame (scaled with the size).

    A face spans ~110 px of such a frame and reaches the detector at 64-128 px, so an artifact needs a scale of
    a few frame pixels to survive the crop's resize and H.264 (sub-pixel ones vanish).
    """

    df_scale: float = 0.25  # autoencoder resolution as a fraction of the aligned face crop's side
    df_blur: float = 0.5  # extra blur at that resolution (sigma, low-res pixels)
    df_colour: float = 0.5  # colour correction towards the target (1 = full mean/std match)
    df_feather: float = 3.0  # soft-mask feather (sigma)
    df_noise: float = 0.8  # fraction of the target's camera noise left on the decoded face
    f2f_warp: float = 4.0  # amplitude of the smooth reenactment warp
    f2f_blur: float = 0.4  # resampling smoothing of the reenacted regions (sigma)
    f2f_gain: float = 0.03  # brightness mismatch of the reenacted regions
    f2f_feather: float = 1.5  # seam softness (sigma)
    fs_blur: float = 0.8  # graphics re-projection smoothing (sigma)
    fs_colour: float = 14.0  # per-video colour cast of the source video (RMS over channels, 0-255 levels)
    fs_hull: float = 0.88  # jaw landmarks pulled towards the face centre before taking the hull
    nt_checker: float = 0.3  # relative amplitude of the periodic upsampling pattern
    nt_period: int = 2  # the upsampling factor: pattern cells per period, and the mouth's render resolution 1/p
    nt_cell: float = 6.0  # side of one pattern cell (a period is nt_period cells)
    nt_smooth: float = 1.2  # over-smoothing (sigma)
    nt_gain: float = 0.08  # brightness mismatch of the re-rendered mouth
    nt_feather: float = 2.0  # mouth-mask feather (sigma)


@dataclass(frozen=True)
class TargetFrame:
    """One frame of the target's real video: who and how, its clean render, camera noise and landmarks."""

    identity: Identity
    pose: Pose
    expression: Expression
    background: np.ndarray
    clean: np.ndarray
    noise: np.ndarray
    landmarks: np.ndarray

    @property
    def real(self) -> np.ndarray:
        return self.clean + self.noise

    @functools.cached_property
    def grid(self) -> Grid:
        """Canonical coordinates of the target's pixels (where the families' masks are defined)."""
        return make_grid(self.identity, self.pose, self.clean.shape[0])


class FrameRenders:
    """The source-dependent renders one frame's fakes need, each rendered at most once (F2F and NT share one)."""

    def __init__(
        self, target: TargetFrame, source: Identity, source_expression: Expression, source_noise: np.ndarray, size: int
    ):
        self.t, self.source_expression, self.source_noise, self.size = target, source_expression, source_noise, size
        # a swap aligns the source face to the target's: same place and size in the frame, the source's shape
        self.source = dataclasses.replace(source, scale=target.identity.scale, centre=target.identity.centre)

    @functools.cached_property
    def swapped(self) -> np.ndarray:
        """S with T's pose and T's expression (what a face-swap autoencoder reproduces)."""
        return render_face(self.source, self.t.pose, self.t.expression, self.size, self.t.background)[0]

    @functools.cached_property
    def pasted(self) -> np.ndarray:
        """S with T's pose and S's own expression (graphics-based swap)."""
        return render_face(self.source, self.t.pose, self.source_expression, self.size, self.t.background)[0]

    @functools.cached_property
    def reenacted(self) -> np.ndarray:
        """T with S's expression (reenactment)."""
        return render_face(self.t.identity, self.t.pose, self.source_expression, self.size, self.t.background)[0]


@dataclass(frozen=True)
class VideoState:
    """Per-fake-video random state, so artifacts are stable over a video, as a real method's would be."""

    warp: np.ndarray  # (2, 4, 4) low-res displacement field (Face2Face)
    warp_drift: np.ndarray  # (2, 4, 4) its slow change over frames
    checker: np.ndarray  # (period, period) zero-mean tile (NeuralTextures)
    cast: np.ndarray  # (3,) unit colour cast of the source video (FaceSwap)

    @classmethod
    def draw(cls, rng: np.random.Generator, strength: ForgeryStrength) -> VideoState:
        p = strength.nt_period
        tile = rng.uniform(-1, 1, (p, p))
        tile -= tile.mean()
        tile /= np.abs(tile).max() + 1e-6
        cast = _unit(rng.normal(0, 1, 3)) * np.sqrt(3)  # RMS 1 over the channels
        return cls(rng.normal(0, 1, (2, 4, 4)), rng.normal(0, 0.3, (2, 4, 4)), tile, cast)


def _unit(v: np.ndarray) -> np.ndarray:
    return v / (np.linalg.norm(v) + 1e-9)


def _px(length: float, size: int) -> float:
    """A length given for a 256x256 frame, at this frame size."""
    return length * size / 256.0


def _feather(mask: np.ndarray, sigma: float) -> np.ndarray:
    return cv2.GaussianBlur(mask, (0, 0), sigma) if sigma > 0 else mask


def _blend(t: TargetFrame, fake: np.ndarray, mask: np.ndarray) -> np.ndarray:
    m = mask[..., None]
    return t.real * (1 - m) + fake * m


def _face_box(t: TargetFrame, size: int, scale: float = 1.25) -> tuple[int, int, int]:
    """Square box (x0, y0, side) around the target's landmarks, as a face-swap tool's aligner would crop."""
    lo, hi = t.landmarks.min(0), t.landmarks.max(0)
    centre, side = (lo + hi) / 2, int(max(hi - lo) * scale)
    x0, y0 = (np.round(centre - side / 2).astype(int)).clip(0, size - side)
    return int(x0), int(y0), min(side, size)


def _match_colour(src: np.ndarray, ref: np.ndarray, mask: np.ndarray, amount: float) -> np.ndarray:
    inside = mask > 0.5
    mu_s, sd_s = src[inside].mean(0), src[inside].std(0) + 1e-3
    mu_r, sd_r = ref[inside].mean(0), ref[inside].std(0) + 1e-3
    matched = (src - mu_s) / sd_s * sd_r + mu_r
    return (1 - amount) * src + amount * matched


def deepfakes(t: TargetFrame, r: FrameRenders, s: ForgeryStrength, state: VideoState) -> np.ndarray:
    """Low-resolution 'decoder' output of S, colour-matched to T, soft-blended over the inner face."""
    del state
    size = r.size
    x0, y0, side = _face_box(t, size)
    crop = r.swapped[y0 : y0 + side, x0 : x0 + side]
    res = max(8, round(side * s.df_scale))
    low = cv2.resize(crop, (res, res), interpolation=cv2.INTER_AREA)
    if s.df_blur > 0:
        low = cv2.GaussianBlur(low, (0, 0), s.df_blur)
    decoded = r.swapped.copy()
    decoded[y0 : y0 + side, x0 : x0 + side] = cv2.resize(low, (side, side), interpolation=cv2.INTER_LINEAR)
    idn = t.identity
    mask = ellipse_mask(t.grid, [(0.0, 0.2, 0.72 * idn.face_w, 0.7 * idn.face_h)])
    decoded = _match_colour(decoded, t.real, mask, s.df_colour)
    return _blend(t, decoded + s.df_noise * t.noise, _feather(mask, _px(s.df_feather, size)))


def face2face(t: TargetFrame, r: FrameRenders, s: ForgeryStrength, state: VideoState, frame: int) -> np.ndarray:
    """T with S's eyes, brows and mouth motion, resampled through a smooth warp, seamed in with a gain offset."""
    size, idn = r.size, t.identity
    field = state.warp + state.warp_drift * np.sin(0.35 * frame)
    flow = np.stack(
        [cv2.resize(field[k].astype(np.float32), (size, size), interpolation=cv2.INTER_CUBIC) for k in range(2)]
    ) * _px(s.f2f_warp, size)
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
    warped = cv2.remap(
        r.reenacted + t.noise, xs + flow[0], ys + flow[1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT
    )
    if s.f2f_blur > 0:
        warped = cv2.GaussianBlur(warped, (0, 0), _px(s.f2f_blur, size))
    warped *= 1 + s.f2f_gain
    shift, eye_cy = 0.12 * t.pose.yaw, (idn.eye_y + idn.brow_y) / 2  # the renderer's yaw shift of eyes and mouth
    regions = [(shift + side * idn.eye_dx, eye_cy, idn.eye_w + 0.12, 0.26) for side in (-1, 1)]
    regions.append((shift, idn.mouth_y + 0.02, idn.mouth_w + 0.14, 0.24))
    mask = ellipse_mask(t.grid, regions)
    return _blend(t, warped, _feather(mask, _px(s.f2f_feather, size)))


def faceswap(t: TargetFrame, r: FrameRenders, s: ForgeryStrength, state: VideoState) -> np.ndarray:
    """S's face (with S's expression and camera noise) pasted inside T's landmark hull: hard edge, no colour fix."""
    lm = t.landmarks.copy()
    centre = lm[27:36].mean(0)  # the nose
    lm[:17] = centre + (lm[:17] - centre) * s.fs_hull
    mask = np.zeros(r.pasted.shape[:2], np.uint8)
    cv2.fillConvexPoly(mask, cv2.convexHull(np.round(lm).astype(np.int32)), 1)
    pasted = r.pasted + r.source_noise + (s.fs_colour * state.cast).astype(np.float32)
    if s.fs_blur > 0:
        pasted = cv2.GaussianBlur(pasted, (0, 0), _px(s.fs_blur, r.size))
    return _blend(t, pasted, mask.astype(np.float32))


def neural_textures(t: TargetFrame, r: FrameRenders, s: ForgeryStrength, state: VideoState) -> np.ndarray:
    """T's mouth re-rendered with S's mouth motion: over-smoothed, upsampled, with a periodic pattern."""
    size, idn, p = r.size, t.identity, s.nt_period
    cell = max(1, round(_px(s.nt_cell, size)))
    mask = ellipse_mask(t.grid, [(0.12 * t.pose.yaw, idn.mouth_y + 0.03, idn.mouth_w + 0.2, 0.25)])
    rows, cols = np.nonzero(mask > 0)
    y0, x0 = (max(0, rows.min() - 8) // p) * p, (max(0, cols.min() - 8) // p) * p
    y1, x1 = min(size, rows.max() + 9), min(size, cols.max() + 9)
    y1, x1 = y0 + (y1 - y0) // p * p, x0 + (x1 - x0) // p * p
    region = r.reenacted[y0:y1, x0:x1] + t.noise[y0:y1, x0:x1]
    if s.nt_smooth > 0:
        region = cv2.GaussianBlur(region, (0, 0), _px(s.nt_smooth, size))
    h, w = region.shape[:2]
    low = cv2.resize(region, (w // p, h // p), interpolation=cv2.INTER_AREA)
    up = cv2.resize(low, (w, h), interpolation=cv2.INTER_LINEAR)
    tile = np.kron(state.checker, np.ones((cell, cell)))  # one period: p x p cells of cell x cell pixels
    reps = (-(-h // tile.shape[0]), -(-w // tile.shape[1]))
    pattern = np.tile(tile, reps)[:h, :w].astype(np.float32)
    out = r.reenacted + t.noise
    out[y0:y1, x0:x1] = up * (1 + s.nt_gain + s.nt_checker * pattern)[..., None]
    return _blend(t, out, _feather(mask, _px(s.nt_feather, size)))


def forge(
    family: str, t: TargetFrame, r: FrameRenders, strength: ForgeryStrength, state: VideoState, frame: int
) -> np.ndarray:
    """One fake frame (float RGB, unclipped) of ``family`` for target frame ``t``."""
    if family == "Deepfakes":
        return deepfakes(t, r, strength, state)
    if family == "Face2Face":
        return face2face(t, r, strength, state, frame)
    if family == "FaceSwap":
        return faceswap(t, r, strength, state)
    if family == "NeuralTextures":
        return neural_textures(t, r, strength, state)
    raise ValueError(f"unknown manipulation {family!r}; expected one of {FAMILIES}")
