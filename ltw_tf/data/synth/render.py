"""The synthff face renderer: one identity, one pose, one expression -> an RGB frame and 68 landmarks.

Every part is an implicit shape in the canonical face frame (see ``identity``), evaluated per pixel through the
inverse pose and anti-aliased over one pixel, so a face stays smooth under any small roll, zoom and shift.
Skin is shaded as an ellipsoid under the identity's light; eyes, nose and mouth carry the dark/light structure
(eye sockets, nose bridge, nostrils, lips) that a face detector keys on.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ltw_tf.data.synth.identity import Expression, Identity, Pose

EYE_WHITE = np.array([232, 228, 222], np.float32)
DARK = np.array([38, 28, 28], np.float32)
MOUTH_GAP = 0.11  # mouth opening half-height at mouth_open = 1


@dataclass(frozen=True)
class Grid:
    """Canonical face coordinates of every pixel of one frame, and the size of a pixel in those units."""

    u: np.ndarray
    v: np.ndarray
    px: float
    matrix: np.ndarray  # canonical -> pixel affine (2x3)

    def crop(self, x0: float, y0: float, x1: float, y1: float) -> tuple[Grid, tuple[slice, slice]]:
        """The sub-grid (and its slices into the frame) covering a canonical box, so a part costs its own size."""
        corners = np.array([[x0, y0], [x1, y0], [x0, y1], [x1, y1]]) @ self.matrix[:, :2].T + self.matrix[:, 2]
        h, w = self.u.shape
        c0, r0 = np.clip(np.floor(corners.min(0)).astype(int), 0, [w, h])
        c1, r1 = np.clip(np.ceil(corners.max(0)).astype(int) + 1, 0, [w, h])
        sl = (slice(r0, r1), slice(c0, c1))
        return Grid(self.u[sl], self.v[sl], self.px, self.matrix), sl


def pose_matrix(identity: Identity, pose: Pose, size: int) -> np.ndarray:
    """2x3 affine map from canonical face coordinates to pixels."""
    s = identity.scale * size * pose.zoom
    c, n = np.cos(pose.roll), np.sin(pose.roll)
    cx, cy = (identity.centre[0] + pose.dx) * size, (identity.centre[1] + pose.dy) * size
    return np.array([[s * c, -s * n, cx], [s * n, s * c, cy]], np.float64)


def make_grid(identity: Identity, pose: Pose, size: int) -> Grid:
    m = pose_matrix(identity, pose, size)
    inv = cv2.invertAffineTransform(m)
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
    u = inv[0, 0] * xs + inv[0, 1] * ys + inv[0, 2]
    v = inv[1, 0] * xs + inv[1, 1] * ys + inv[1, 2]
    return Grid(u.astype(np.float32), v.astype(np.float32), float(1.0 / (identity.scale * size * pose.zoom)), m)


def to_pixels(identity: Identity, pose: Pose, size: int, points: np.ndarray) -> np.ndarray:
    m = pose_matrix(identity, pose, size)
    return points @ m[:, :2].T + m[:, 2]


def _cov(d: np.ndarray, px: float) -> np.ndarray:
    """Coverage of a pixel by a shape with signed distance ``d`` (negative inside), anti-aliased over a pixel."""
    return np.clip(0.5 - d / px, 0.0, 1.0)


def _ellipse_d(g: Grid, cx: float, cy: float, rx: float, ry: float) -> np.ndarray:
    x, y = (g.u - cx) / rx, (g.v - cy) / ry
    r = np.sqrt(x * x + y * y) + 1e-6
    grad = np.sqrt((x / rx) ** 2 + (y / ry) ** 2) / r + 1e-6
    return (r - 1) / grad


def ellipse_mask(grid: Grid, ellipses: list[tuple[float, float, float, float]]) -> np.ndarray:
    """Union of canonical ellipses (cx, cy, rx, ry) as an anti-aliased pixel mask in [0, 1]."""
    d = np.min([_ellipse_d(grid, *e) for e in ellipses], axis=0)
    return _cov(d, grid.px)


def _gauss(g: Grid, cx: float, cy: float, sx: float, sy: float) -> np.ndarray:
    return np.exp(-0.5 * (((g.u - cx) / sx) ** 2 + ((g.v - cy) / sy) ** 2))


def _paint(img: np.ndarray, alpha: np.ndarray, colour) -> None:
    img += alpha[..., None] * (np.asarray(colour, np.float32) - img)


def _shade(img: np.ndarray, amount: np.ndarray) -> None:
    """Multiply brightness by (1 + amount): negative darkens, positive lightens."""
    img *= (1.0 + amount)[..., None]


def _jaw_half_width(identity: Identity, v: np.ndarray) -> np.ndarray:
    t = np.clip(v / identity.face_h, 0.0, 1.0)
    return identity.face_w * (1.0 - identity.jaw * t * t)


def _face_d(identity: Identity, g: Grid) -> np.ndarray:
    a = _jaw_half_width(identity, g.v)
    x, y = g.u / a, g.v / identity.face_h
    return (np.sqrt(x * x + y * y) - 1) * np.minimum(a, identity.face_h)


def render_background(identity: Identity, size: int) -> np.ndarray:
    """The identity's static scene behind the head (float32 RGB, 0-255)."""
    rng = np.random.default_rng(identity.texture_seed)
    a, b = (np.array(c, np.float32) for c in identity.background)
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32) / size
    angle = rng.uniform(0, np.pi)
    ramp = np.cos(angle) * xs + np.sin(angle) * ys
    kind, f = identity.bg_kind, identity.bg_freq
    if kind == 1:
        t = 0.5 + 0.5 * np.sin(2 * np.pi * f * ramp)
    elif kind == 2:
        t = np.zeros((size, size), np.float32)
        for _ in range(int(f) + 3):
            cx, cy, r = rng.uniform(0, 1), rng.uniform(0, 1), rng.uniform(0.05, 0.25)
            t = np.maximum(t, np.clip(1 - np.hypot(xs - cx, ys - cy) / r, 0, 1) ** 0.5)
    elif kind == 3:
        t = ((np.floor(xs * f) + np.floor(ys * f)) % 2).astype(np.float32) * 0.6 + 0.2 * ramp
    else:
        t = ramp
    low = cv2.resize(rng.uniform(-1, 1, (5, 5)).astype(np.float32), (size, size), interpolation=cv2.INTER_CUBIC)
    t = np.clip(t + 0.2 * low, 0, 1)
    bg = (1 - t)[..., None] * a + t[..., None] * b
    bg += rng.normal(0, 3.0, (size, size, 1)).astype(np.float32)
    return cv2.GaussianBlur(bg, (0, 0), 0.7).astype(np.float32)


def _body_and_hair_back(img: np.ndarray, idn: Identity, g: Grid) -> None:
    sg, sl = g.crop(-3.5, 1.2, 3.5, 6.0)
    _paint(img[sl], _cov(_ellipse_d(sg, 0.0, 2.75, 2.1, 1.3), g.px), idn.clothes)
    sg, sl = g.crop(-0.6, 0.5, 0.6, 3.0)
    neck = np.maximum(np.abs(sg.u) - 0.45 * idn.face_w, 0.6 - sg.v)
    shadow = 1 - 0.35 * np.exp(-np.clip(sg.v - idn.face_h * 0.8, 0, None) / 0.35)  # the chin's shadow
    _paint(img[sl], _cov(neck, g.px), np.array(idn.skin, np.float32) * 0.8 * shadow[..., None])
    if idn.hair_len > 0.2:  # long hair falls behind the shoulders
        sg, sl = g.crop(-1.6, -1.9, 1.6, idn.hair_len + 0.05)
        outer = _ellipse_d(sg, 0.0, -0.1, idn.face_w + idn.hair_volume + 0.12, idn.face_h + idn.hair_volume)
        _paint(img[sl], _cov(np.maximum(outer, sg.v - idn.hair_len), g.px), np.array(idn.hair, np.float32) * 0.8)
    for side in (-1, 1):  # ears
        cx = side * (idn.face_w + 0.02)
        sg, sl = g.crop(cx - 0.15, -0.25, cx + 0.15, 0.25)
        _paint(img[sl], _cov(_ellipse_d(sg, cx, 0.0, 0.12, 0.22), g.px), np.array(idn.skin, np.float32) * 0.82)


def _skin(img: np.ndarray, idn: Identity, pose: Pose, g: Grid) -> tuple[np.ndarray, tuple[slice, slice]]:
    """Paint the face, shaded as an ellipsoid; returns the face coverage and its window."""
    g, sl = g.crop(-1.1, -1.45, 1.1, 1.45)
    a = _jaw_half_width(idn, g.v)
    nx, ny = np.clip((g.u - 0.08 * pose.yaw) / a, -1, 1), np.clip(g.v / idn.face_h, -1, 1)
    nz = np.sqrt(np.clip(1 - nx * nx - ny * ny, 0.0, 1.0))
    lx, ly, lz = idn.light
    lambert = np.clip(nx * lx + ny * ly + nz * lz, 0.0, 1.0)
    shade = (idn.ambient + (1 - idn.ambient) * lambert) / (idn.ambient + (1 - idn.ambient) * lz)
    colour = np.array(idn.skin, np.float32) * shade[..., None]
    blush = _gauss(g, 0.5 + 0.1 * pose.yaw, 0.3, 0.18, 0.14) + _gauss(g, -0.5 + 0.1 * pose.yaw, 0.3, 0.18, 0.14)
    colour += (blush * 10.0)[..., None] * np.array([1.0, -0.6, -0.5], np.float32)
    lx0 = 0.25 * lx + 0.08 * pose.yaw  # specular sheen on the forehead and cheekbones, towards the light
    sheen = _gauss(g, lx0, -0.6, 0.3, 0.12) + 0.6 * (
        _gauss(g, lx0 + 0.45, 0.02, 0.14, 0.08) + _gauss(g, lx0 - 0.45, 0.02, 0.14, 0.08)
    )
    colour += (sheen * (18.0 + 0.15 * max(0.0, 170.0 - float(np.mean(idn.skin)))))[..., None]
    face = _cov(_face_d(idn, g), g.px)
    _paint(img[sl], face, colour)
    return face, sl


def _nose(img: np.ndarray, idn: Identity, pose: Pose, g: Grid) -> None:
    x0, tip = 0.2 * pose.yaw, idn.nose_len
    g, sl = g.crop(x0 - 0.45, idn.eye_y - 0.05, x0 + 0.45, tip + 0.2)
    img = img[sl]
    side = -1.0 if idn.light[0] >= 0 else 1.0  # shadow on the side away from the light
    along = np.clip((g.v - idn.eye_y) / (tip - idn.eye_y), 0, 1) * (g.v < tip + 0.02)
    _shade(
        img,
        along
        * (
            0.10 * _gauss(g, x0 - 0.3 * side * idn.nose_w, tip, 0.035, 0.5)
            - 0.26 * _gauss(g, x0 + side * 0.55 * idn.nose_w, tip, 0.04, 0.5)
        ),
    )
    _shade(
        img,
        0.08 * _gauss(g, x0, tip - 0.04, idn.nose_w * 0.45, 0.05)
        - 0.34 * _gauss(g, x0, tip + 0.05, idn.nose_w * 0.9, 0.03),
    )
    for s in (-1, 1):
        _shade(img, -0.12 * _gauss(g, x0 + s * idn.nose_w * 0.8, tip - 0.02, 0.04, 0.05))
        nostril = _cov(_ellipse_d(g, x0 + s * idn.nose_w * 0.42, tip + 0.012, 0.042, 0.022), g.px)
        _paint(img, nostril, np.array(idn.skin, np.float32) * 0.3)


def _eye(img: np.ndarray, idn: Identity, pose: Pose, expr: Expression, g: Grid, side: int) -> None:
    skin = np.array(idn.skin, np.float32)
    cx, cy = side * idn.eye_dx + 0.12 * pose.yaw, idn.eye_y
    g, sl = g.crop(cx - 0.6, cy - 0.55, cx + 0.6, cy + 0.45)
    img = img[sl]
    _shade(img, -0.28 * _gauss(g, cx, cy - 0.03, 0.2, 0.12))  # socket
    t = np.clip((g.u - cx) / idn.eye_w, -1.5, 1.5)
    arc = np.clip(1 - t * t, 0, None) ** 0.8
    upper = cy - idn.eye_h * max(expr.eye_open, 0.02) * arc
    lower = cy + 0.6 * idn.eye_h * (0.3 + 0.7 * expr.eye_open) * arc
    white = _cov(np.maximum.reduce([upper - g.v, g.v - lower, np.abs(g.u - cx) - idn.eye_w]), g.px)
    _paint(img, white, EYE_WHITE)
    ix, iy = cx + expr.gaze[0] * idn.eye_w * 0.4, cy + expr.gaze[1] * idn.eye_h * 0.3
    ri = idn.eye_h * 0.95
    _paint(img, white * _cov(_ellipse_d(g, ix, iy, ri, ri), g.px), idn.iris)
    _paint(img, white * _cov(_ellipse_d(g, ix, iy, ri * 0.45, ri * 0.45), g.px), (12, 8, 8))
    _paint(img, white * _cov(_ellipse_d(g, ix - 0.3 * ri, iy - 0.35 * ri, 0.016, 0.016), g.px), (250,) * 3)
    lid = np.maximum(np.abs(g.v - upper) - 0.026, np.abs(g.u - cx) - idn.eye_w * 1.08)
    _paint(img, _cov(lid, g.px), DARK)
    crease = np.maximum(np.abs(g.v - (upper - 0.06 * arc - 0.02)) - 0.01, np.abs(g.u - cx) - idn.eye_w * 0.9)
    _paint(img, 0.5 * _cov(crease, g.px), skin * 0.7)
    bx = side * (idn.eye_dx + 0.02) + 0.1 * pose.yaw
    tb = (g.u - bx) / (idn.eye_w * 1.3)
    yc = idn.brow_y - expr.brow_raise - idn.brow_arch * np.clip(1 - tb * tb, 0, None)
    thick = idn.brow_thick * (1 - 0.45 * np.clip(side * tb, 0, 1))
    brow = np.maximum(np.abs(g.v - yc) - thick, np.abs(g.u - bx) - idn.eye_w * 1.3)
    _paint(img, 0.9 * _cov(brow, g.px), np.minimum(np.array(idn.hair, np.float32) * 0.75, skin * 0.4))


def _mouth(img: np.ndarray, idn: Identity, pose: Pose, expr: Expression, g: Grid) -> None:
    cx, w = 0.12 * pose.yaw, idn.mouth_w * (1 + 0.12 * expr.smile)
    g, sl = g.crop(cx - w - 0.1, idn.mouth_y - 0.3, cx + w + 0.1, idn.mouth_y + 0.35)
    img = img[sl]
    t = (g.u - cx) / w
    inside = np.clip(1 - t * t, 0, None)
    mid = idn.mouth_y - expr.smile * 0.06 * np.clip(t * t, 0, 1)
    gap = MOUTH_GAP * expr.mouth_open * inside
    top = mid - gap - idn.lip_thick * 0.8 * np.sqrt(inside)
    bottom = mid + gap + idn.lip_thick * 1.1 * np.sqrt(inside)
    edge = np.abs(g.u - cx) - w
    _shade(img, -0.15 * _gauss(g, cx, idn.mouth_y + idn.lip_thick * 1.1 + 0.06, w * 0.6, 0.035))
    lips = _cov(np.maximum.reduce([top - g.v, g.v - bottom, edge]), g.px)
    lip = np.array(idn.lip, np.float32)
    _paint(img, lips, lip * (1 + 0.12 * np.clip((g.v - mid) / (idn.lip_thick + 1e-3), -1, 1))[..., None])
    opening = _cov(np.maximum.reduce([(mid - gap) - g.v, g.v - (mid + gap), edge]), g.px)
    _paint(img, opening, (55, 18, 22))
    if expr.mouth_open > 0.15:
        teeth = np.maximum.reduce([(mid - gap) - g.v, g.v - (mid - gap + 0.035), np.abs(g.u - cx) - 0.7 * w])
        _paint(img, opening * _cov(teeth, g.px), (222, 216, 204))
    line = np.maximum(np.abs(g.v - mid) - 0.008 - gap, edge)
    _paint(img, 0.9 * _cov(line, g.px), lip * 0.35)


def _hair_front(img: np.ndarray, idn: Identity, g: Grid) -> None:
    bottom = max(idn.hair_len, idn.hair_line + 0.35)
    g, sl = g.crop(-1.45, -1.8, 1.45, bottom + 0.05)
    skull = _ellipse_d(g, 0.0, -0.05, idn.face_w + idn.hair_volume, idn.face_h + idn.hair_volume * 0.8)
    hairline = idn.hair_line + 0.3 * (g.u / idn.face_w) ** 2
    region = np.maximum(skull, g.v - hairline)
    if idn.hair_len > 0.2:  # long hair frames the face at the sides
        sides = np.maximum.reduce([skull + 0.02, 0.9 * idn.face_w - np.abs(g.u), g.v - idn.hair_len])
        region = np.minimum(region, sides)
    streaks = 1 + 0.12 * np.sin(45 * g.u + 4 * np.sin(6 * g.v)) * np.sin(9 * g.v + 3 * g.u)
    _paint(img[sl], _cov(region, g.px), np.array(idn.hair, np.float32) * streaks[..., None])


def canonical_landmarks(idn: Identity, pose: Pose, expr: Expression) -> np.ndarray:
    """68 points in the iBUG order (jaw 17, brows 10, nose 9, eyes 12, mouth 20), canonical coordinates."""
    phi = np.linspace(np.pi + 0.2, -0.2, 17)
    jy = idn.face_h * np.sin(phi)
    jaw = np.stack([_jaw_half_width(idn, jy) * np.cos(phi), jy], 1)
    brows, eyes = [], []
    for side in (-1, 1):
        bx = side * (idn.eye_dx + 0.02) + 0.1 * pose.yaw
        tb = np.linspace(-1, 1, 5) * side
        brows.append(
            np.stack([bx + tb * idn.eye_w * 1.3, idn.brow_y - expr.brow_raise - idn.brow_arch * (1 - tb * tb)], 1)
        )
        cx = side * idn.eye_dx + 0.12 * pose.yaw
        up, lo = idn.eye_h * max(expr.eye_open, 0.02) * 0.8, 0.6 * idn.eye_h * (0.3 + 0.7 * expr.eye_open) * 0.8
        ex = np.array([-1, -0.4, 0.4, 1, 0.4, -0.4]) * idn.eye_w
        ey = idn.eye_y + np.array([0, -up, -up, 0, lo, lo])
        eyes.append(np.stack([cx + ex, ey], 1))
    x0, tip = 0.2 * pose.yaw, idn.nose_len
    nose = [(x0 * k / 3, idn.eye_y + (tip - idn.eye_y) * k / 3) for k in range(4)]
    nose += [(x0 + dx * idn.nose_w, tip + 0.02 - 0.01 * abs(dx)) for dx in (-0.8, -0.4, 0, 0.4, 0.8)]
    cx, w = 0.12 * pose.yaw, idn.mouth_w * (1 + 0.12 * expr.smile)
    gap = MOUTH_GAP * expr.mouth_open
    ang = np.linspace(0, 2 * np.pi, 12, endpoint=False)
    outer = np.stack(
        [
            cx - w * np.cos(ang),
            idn.mouth_y - np.sin(ang) * (gap + idn.lip_thick) - expr.smile * 0.06 * np.cos(ang) ** 2,
        ],
        1,
    )
    ang = np.linspace(0, 2 * np.pi, 8, endpoint=False)
    inner = np.stack([cx - 0.8 * w * np.cos(ang), idn.mouth_y - np.sin(ang) * gap], 1)
    return np.concatenate([jaw, brows[0], brows[1], np.array(nose), eyes[0], eyes[1], outer, inner]).astype(np.float64)


def render_face(
    idn: Identity, pose: Pose, expr: Expression, size: int, background: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Render one clean frame (float32 RGB 0-255, no sensor noise) and its 68 landmarks in pixels."""
    g = make_grid(idn, pose, size)
    img = background.copy()
    _body_and_hair_back(img, idn, g)
    _skin(img, idn, pose, g)
    _nose(img, idn, pose, g)
    _eye(img, idn, pose, expr, g, -1)
    _eye(img, idn, pose, expr, g, 1)
    _mouth(img, idn, pose, expr, g)
    _hair_front(img, idn, g)
    landmarks = to_pixels(idn, pose, size, canonical_landmarks(idn, pose, expr))
    return np.clip(img, 0, 255), landmarks
