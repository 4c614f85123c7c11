"""Figures for reports: ROC curves (matplotlib, Agg, no pyplot state) and the weight grid of paper Fig. 4 (numpy +
OpenCV, so its pixel geometry is exact). Every file is written atomically (a temp file, then ``os.replace``).

Tables live in ``ltw_tf/tables.py``.
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from sklearn.metrics import roc_curve

from ltw_tf.io import atomic_write_bytes
from ltw_tf.metrics import eer, roc_auc

Curves = Mapping[str, tuple[Sequence[float] | np.ndarray, Sequence[float] | np.ndarray]]  # name -> (labels, probs)

# Weight-grid geometry, pixels.
TILE = 96  # face tile (square)
CAPTION = 18  # weight text under each tile
HEADER = 22  # row title above each row
PAD = 6  # between tiles and between rows
GAP = 28  # between panels (fake | real)
MARGIN = 8
BACKGROUND = (255, 255, 255)
INK = (20, 20, 20)


def save_png(path: str | os.PathLike, rgb: np.ndarray) -> Path:
    """An RGB uint8 image as PNG, written atomically."""
    ok, encoded = cv2.imencode(".png", np.ascontiguousarray(rgb[..., ::-1]))
    if not ok:
        raise RuntimeError(f"could not encode {path} as PNG")
    return atomic_write_bytes(path, encoded.tobytes())


# ---------------------------------------------------------------- ROC curves


def roc_figure(curves: Curves, title: str = "", size: tuple[float, float] = (5.0, 5.0), dpi: int = 100) -> Figure:
    """One ROC plot (FPR = reals called fake, TPR = fakes caught) with a curve per entry, AUC and EER in the legend.

    The EER point (FPR = FNR) is marked on each curve; the diagonal is chance. Needs both classes per curve
    (``MetricsError`` otherwise).
    """
    if not curves:
        raise ValueError("roc_figure needs at least one curve")
    fig = Figure(figsize=size, dpi=dpi)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], linestyle="--", color="0.6", linewidth=1, label="chance")
    for name, (labels, probs) in curves.items():
        auc, rate = roc_auc(labels, probs), eer(labels, probs)  # these validate the inputs
        fpr, tpr, _ = roc_curve(np.asarray(labels), np.asarray(probs, np.float64), drop_intermediate=False)
        (line,) = ax.plot(fpr, tpr, linewidth=1.8, label=f"{name} (AUC {auc:.3f}, EER {rate:.3f})")
        ax.plot([rate], [1.0 - rate], marker="o", markersize=5, color=line.get_color())
    ax.set(
        xlim=(-0.01, 1.01),
        ylim=(-0.01, 1.01),
        xlabel="False positive rate (real called fake)",
        ylabel="True positive rate (fake detected)",
        title=title,
    )
    ax.set_aspect("equal")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize="small")
    fig.tight_layout()
    return fig


def save_roc_png(
    path: str | os.PathLike, curves: Curves, title: str = "", size: tuple[float, float] = (5.0, 5.0), dpi: int = 100
) -> Path:
    """``roc_figure`` as a PNG of ``size * dpi`` pixels, written atomically."""
    fig = roc_figure(curves, title, size, dpi)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return atomic_write_bytes(path, buffer.getvalue())


# ---------------------------------------------------------------- weight grid (paper Fig. 4)


@dataclass(frozen=True)
class GridRow:
    """One row of the grid: a title and up to ``n`` faces (RGB, 0-255) with the weight printed under each."""

    title: str
    images: Sequence[np.ndarray]
    weights: Sequence[float]


def grid_size(n: int, panels: int = 2, rows: int = 2, tile: int = TILE, titled: bool = False) -> tuple[int, int]:
    """(height, width) in pixels of a ``weight_grid`` of ``panels`` side by side, ``rows`` rows of ``n`` faces
    (``titled``: with a title line on top)."""
    if n < 1 or panels < 1 or rows < 1 or tile < 16:
        raise ValueError(f"grid needs n, panels, rows >= 1 and tile >= 16; got {n}, {panels}, {rows}, {tile}")
    panel_width = n * tile + (n - 1) * PAD
    height = 2 * MARGIN + rows * (HEADER + tile + CAPTION) + (rows - 1) * PAD + (HEADER if titled else 0)
    return height, 2 * MARGIN + panels * panel_width + (panels - 1) * GAP


def _fit_tile(image: np.ndarray, tile: int) -> np.ndarray:
    """The face scaled (aspect kept) and centred on a ``tile`` x ``tile`` background."""
    image = np.asarray(image)
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=-1)
    if image.ndim != 3 or image.shape[-1] != 3 or min(image.shape[:2]) < 1:
        raise ValueError(f"a face must be HxW or HxWx3; got shape {image.shape}")
    image = np.clip(image, 0, 255).astype(np.uint8)
    h, w = image.shape[:2]
    scale = tile / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    resized = cv2.resize(image, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)
    out = np.full((tile, tile, 3), BACKGROUND, np.uint8)
    y, x = (tile - size[1]) // 2, (tile - size[0]) // 2
    out[y : y + size[1], x : x + size[0]] = resized
    return out


def _text(canvas: np.ndarray, text: str, x: int, y: int, width: int, height: int, scale: float = 0.45) -> None:
    """``text`` centred in the box (x, y, width, height), shrunk until it fits."""
    font = cv2.FONT_HERSHEY_SIMPLEX
    (tw, th), _ = cv2.getTextSize(text, font, scale, 1)
    while (tw > width or th > height - 4) and scale > 0.2:
        scale *= 0.9
        (tw, th), _ = cv2.getTextSize(text, font, scale, 1)
    origin = (x + max(0, (width - tw) // 2), y + (height + th) // 2)
    cv2.putText(canvas, text, origin, font, scale, INK, 1, cv2.LINE_AA)


def caption_decimals(weights: Sequence[float]) -> int:
    """4 decimals (as in the paper), more (up to 7) when the shown weights differ by less, so they stay apart."""
    spread = float(np.ptp(weights)) if len(weights) > 1 else 1.0
    return 4 if spread >= 1e-3 else int(min(7, max(4, np.ceil(-np.log10(max(spread, 1e-12))) + 1)))


def weight_grid(panels: Sequence[Sequence[GridRow]], n: int, tile: int = TILE, title: str = "") -> np.ndarray:
    """Paper Fig. 4 as an RGB uint8 image of ``grid_size(n, len(panels), rows, tile, titled=bool(title))``.

    ``panels`` are drawn left to right (e.g. fake, real), each a column of rows (e.g. highest, lowest weights);
    each row shows up to ``n`` faces with its weight under each (``caption_decimals``). Missing faces leave their
    slot empty. ``title``: a line across the top (e.g. how the weights were computed).
    """
    if not panels or any(len(p) != len(panels[0]) for p in panels) or not panels[0]:
        raise ValueError("weight_grid needs panels with the same, non-zero number of rows")
    height, width = grid_size(n, len(panels), len(panels[0]), tile, titled=bool(title))
    decimals = caption_decimals([w for rows in panels for row in rows for w in row.weights])
    canvas = np.full((height, width, 3), BACKGROUND, np.uint8)
    top = HEADER if title else 0
    if title:
        _text(canvas, title, MARGIN, MARGIN, width - 2 * MARGIN, HEADER, scale=0.5)
    panel_width = n * tile + (n - 1) * PAD
    for p, rows in enumerate(panels):
        x0 = MARGIN + p * (panel_width + GAP)
        for r, row in enumerate(rows):
            if len(row.images) != len(row.weights) or len(row.images) > n:
                raise ValueError(f"row {row.title!r}: {len(row.images)} faces, {len(row.weights)} weights, n={n}")
            y0 = MARGIN + top + r * (HEADER + tile + CAPTION + PAD)
            _text(canvas, row.title, x0, y0, panel_width, HEADER, scale=0.5)
            for i, (image, weight) in enumerate(zip(row.images, row.weights)):
                x = x0 + i * (tile + PAD)
                canvas[y0 + HEADER : y0 + HEADER + tile, x : x + tile] = _fit_tile(image, tile)
                _text(canvas, f"{float(weight):.{decimals}f}", x, y0 + HEADER + tile, tile, CAPTION)
    return canvas


def read_face(path: str | os.PathLike) -> np.ndarray:
    """A face crop from disk as RGB uint8."""
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise FileNotFoundError(f"cannot read face crop {path}")
    return image[..., ::-1]


def extremes_grid(
    extremes: Mapping[str, Mapping[str, Sequence[Mapping]]],
    root: str | os.PathLike,
    n: int,
    tile: int = TILE,
    title: str = "",
) -> np.ndarray:
    """Fig. 4 from ``evaluate.extreme_faces`` output: a panel per side (fake left, real right), rows highest then
    lowest weights; crops read from ``root``; ``title`` on top (``weight_grid``)."""
    root = Path(root)
    panels = []
    for side in ("fake", "real"):
        rows = []
        for which in ("highest", "lowest"):
            entries = extremes[side][which]
            rows.append(
                GridRow(
                    f"{side}: {len(entries)} {which} weights",
                    [read_face(root / e["path"]) for e in entries],
                    [e["weight"] for e in entries],
                )
            )
        panels.append(rows)
    return weight_grid(panels, n, tile, title)
