"""One input's report figure (matplotlib, Agg, no pyplot state): the P(fake) timeline over the sampled frames
(threshold, item mean, frames without a face), the scored face crops in time order with their P(fake), Grad-CAM
overlays under them when given, and the verdict in the title. Pure: data in, PNG bytes out."""

from __future__ import annotations

import os
from collections.abc import Sequence

import cv2
import numpy as np
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from ltw_tf.screening.results import FrameScore, ItemResult

FAKE, REAL, NONE = "#c0392b", "#1e8449", "#7f8c8d"  # verdict colours: red, green, grey
UNCERTAIN = "#b9770e"  # amber: the faces are unlike the model's training faces
WIDTH = 10.0  # inches (1000 px at the default dpi)
COLUMNS = 10  # face tiles per row (the strip holds at most this many)
CAM_ALPHA = 0.6  # overlay opacity where the map is at its maximum (fades to 0 where the map is 0)


def verdict_colour(verdict: str | None) -> str:
    return {"fake": FAKE, "real": REAL, "uncertain": UNCERTAIN}.get(verdict, NONE)


def headline(result: ItemResult) -> str:
    """The verdict in words, as the figure's title and the index show it."""
    if result.score is None:
        return f"no face in {result.sampled} sampled frame(s): no verdict"
    over = sum(f.probability >= result.threshold for f in result.frames)
    if result.verdict == "uncertain":
        unlike = sum(f.out_of_distribution for f in result.frames)
        return (
            f"UNCERTAIN: {unlike} of {len(result.frames)} faces unlike the model's training faces "
            f"(mean P(fake) {result.score:.3f} is not a judgement)"
        )
    sign = ">=" if result.verdict == "fake" else "<"
    return (
        f"{result.verdict.upper()}: mean P(fake) {result.score:.3f} {sign} {result.threshold:g} "
        f"({over} of {len(result.frames)} scored frames >= {result.threshold:g})"
    )


def overlay(crop: np.ndarray, cam: np.ndarray, scale: float) -> np.ndarray:
    """A face crop (uint8 RGB) with a Grad-CAM map drawn over it (jet colours, opacity growing with the map);
    ``scale`` is the map value drawn at full strength (shared by an item's faces, so they compare)."""
    level = np.clip(cam / scale, 0.0, 1.0) if scale > 0 else np.zeros_like(cam)
    colours = colormaps["jet"](level)[..., :3] * 255.0
    alpha = (CAM_ALPHA * level)[..., None]
    return np.round(crop * (1.0 - alpha) + colours * alpha).astype(np.uint8)


def report_png(
    result: ItemResult,
    strip: Sequence[FrameScore],
    crops: Sequence[np.ndarray],
    cams: Sequence[np.ndarray] | None = None,
    cam_scale: float = 0.0,
    model: str = "",
    dpi: int = 100,
) -> bytes:
    """The figure as PNG bytes: ``strip`` are the scored frames shown (time order) and ``crops`` their faces;
    ``cams`` (same order) adds a Grad-CAM row."""
    tile = 0.88  # inches: the width of a face tile
    faces = [tile + 0.3] + ([tile] if cams is not None else [])  # the first row has titles over its tiles
    height = 0.75 + 2.3 + 0.75 + sum(faces)
    fig = Figure(figsize=(WIDTH, height), dpi=dpi)
    FigureCanvasAgg(fig)
    outer = fig.add_gridspec(2, 1, height_ratios=[2.3, sum(faces)], hspace=0.75 / (2.3 + sum(faces)) * 2.6)
    outer.update(left=0.07, right=0.98, top=1.0 - 0.75 / height, bottom=0.02)
    grid = outer[1].subgridspec(len(faces), COLUMNS, height_ratios=faces, hspace=0.04, wspace=0.08)
    colour = verdict_colour(result.verdict)
    fig.suptitle(
        headline(result), x=0.07, ha="left", y=1.0 - 0.12 / height, fontsize=12, fontweight="bold", color=colour
    )
    name = os.path.basename(result.path)
    details = (
        f"{name}   {result.kind}, {result.n_frames} frame(s), {result.sampled} sampled, {len(result.frames)} scored, "
        f"{len(result.no_face)} without a face" + (f"   model {_shorten(model, 60)}" if model else "")
    )
    fig.text(0.07, 1.0 - 0.42 / height, details, fontsize=8.5, color="0.25", ha="left")
    if result.caveat:  # what the model's training data says about this verdict
        fig.text(0.07, 1.0 - 0.62 / height, result.caveat, fontsize=8.5, color="#b9770e", ha="left", weight="bold")
    _timeline(fig.add_subplot(outer[0]), result, colour)
    offset = (COLUMNS - len(strip)) // 2
    if not strip:
        ax = fig.add_subplot(grid[0, :])
        ax.axis("off")
        text = "no face was scored" if not result.frames else "none of the kept frames had a face to draw"
        ax.text(0.5, 0.5, text, ha="center", va="center", fontsize=11, color=NONE)
    for i, (face, crop) in enumerate(zip(strip, crops)):
        ax = fig.add_subplot(grid[0, offset + i])
        ax.imshow(crop, interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        tint = FAKE if face.probability >= result.threshold else REAL
        for spine in ax.spines.values():
            spine.set_edgecolor(tint)
            spine.set_linewidth(2.0)
        label = f"frame {face.frame}" if result.kind == "video" else "image"
        if face.out_of_distribution:
            tint, label = UNCERTAIN, f"{label} OOD"
            for spine in ax.spines.values():
                spine.set_edgecolor(tint)
        ax.set_title(f"{label}\nP {face.probability:.3f}", fontsize=8, color=tint, pad=3)
        if cams is not None:
            ax = fig.add_subplot(grid[1, offset + i])
            ax.imshow(overlay(crop, cams[i], cam_scale), interpolation="nearest")
            ax.axis("off")
    if strip:
        fig.text(0.005, _row_middle(grid, 0), "faces\nscored", fontsize=8, color="0.25", va="center")
    if cams is not None and strip:
        fig.text(0.005, _row_middle(grid, 1), "Grad-CAM\n(fake\nlogit)", fontsize=8, color="0.25", va="center")
    fig.canvas.draw()
    rgb = np.asarray(fig.canvas.buffer_rgba())[..., 2::-1]  # opaque figure: RGBA -> BGR for OpenCV, no alpha
    ok, encoded = cv2.imencode(".png", np.ascontiguousarray(rgb), [cv2.IMWRITE_PNG_COMPRESSION, 9])
    if not ok:
        raise RuntimeError("could not encode the report figure as PNG")
    return encoded.tobytes()


def _shorten(text: str, n: int) -> str:
    return text if len(text) <= n else "..." + text[-(n - 3) :]


def _row_middle(grid, row: int) -> float:
    box = grid[row, 0].get_position(grid.get_topmost_subplotspec().get_gridspec().figure)
    return (box.y0 + box.y1) / 2


def _timeline(ax, result: ItemResult, colour: str) -> None:
    """P(fake) per scored frame (filled: face detected, hollow: box tracked), threshold, mean, no-face frames."""
    t = result.threshold
    frames = np.array([f.frame for f in result.frames])
    probs = np.array([f.probability for f in result.frames])
    if len(frames) > 1:
        ax.plot(frames, probs, color="0.7", linewidth=1.0, zorder=1)
    for tracked, marker_face in ((False, None), (True, "white")):
        pick = np.array([f.tracked == tracked for f in result.frames], bool)
        if pick.any():
            edge = np.where(probs[pick] >= t, FAKE, REAL)
            ax.scatter(
                frames[pick],
                probs[pick],
                s=28,
                c=marker_face if tracked else edge,
                edgecolors=edge,
                linewidths=1.2,
                zorder=3,
                label="tracked box" if tracked else "scored face",
            )
    ax.axhline(t, color="0.15", linestyle="--", linewidth=1.0, label=f"threshold {t:g}")
    if result.score is not None:
        ax.axhline(result.score, color=colour, linestyle=":", linewidth=1.4, label=f"mean {result.score:.3f}")
    if result.no_face:
        missing = sorted(result.no_face)
        ax.scatter(missing, [-0.06] * len(missing), marker="x", s=30, color=NONE, zorder=3, label="no face")
    last = max(result.n_frames - 1, 0, *(frames.tolist() or [0]), *(result.no_face or [0]))
    ax.set_xlim(-0.5 - 0.01 * last, last + 0.5 + 0.01 * last)
    ax.set_ylim(-0.12, 1.04)
    ax.set_ylabel("P(fake)")
    ax.set_xlabel("frame" if result.kind == "video" else "image (one frame)")
    if result.kind != "video":
        ax.set_xticks([0])
    else:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.25)
    ax.legend(loc="lower left", bbox_to_anchor=(0.0, 1.0), ncol=5, fontsize=8, frameon=False, borderaxespad=0.2)
