"""One input's report figure (matplotlib, Agg, no pyplot state): the P(fake) timeline over the sampled frames (one
marker shape per person, threshold, the verdict's mean, frames without a face), one row of scored face crops per
person in time order with their P(fake) (most suspicious person first), Grad-CAM overlays under each row when
given, and the verdict in the title. Pure: data in, PNG bytes out."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from ltw_tf.screening.results import FrameScore, ItemResult, Track

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
    suspect, people = result.suspect, len(result.tracks)
    who = f"person {suspect.track} of {people}: " if people > 1 else ""
    faces = suspect.faces
    if result.verdict == "uncertain":
        unlike = sum(f.out_of_distribution for f in faces)
        mean = f"mean P(fake) {result.score:.3f}"
        return f"UNCERTAIN: {who}{unlike} of {len(faces)} faces unlike the training faces ({mean})"
    over = sum(f.probability >= result.threshold for f in faces)
    sign = ">=" if result.verdict == "fake" else "<"
    return (
        f"{result.verdict.upper()}: {who}mean P(fake) {result.score:.3f} {sign} {result.threshold:g} "
        f"({over} of {len(faces)} faces >= {result.threshold:g})"
    )


@dataclass(frozen=True)
class PersonStrip:
    """One person's row of the figure: the track, the faces drawn (time order), their crops and Grad-CAM maps."""

    track: Track
    faces: Sequence[FrameScore]
    crops: Sequence[np.ndarray]
    cams: Sequence[np.ndarray] | None = None


def overlay(crop: np.ndarray, cam: np.ndarray, scale: float) -> np.ndarray:
    """A face crop (uint8 RGB) with a Grad-CAM map drawn over it (jet colours, opacity growing with the map);
    ``scale`` is the map value drawn at full strength (shared by an item's faces, so they compare)."""
    level = np.clip(cam / scale, 0.0, 1.0) if scale > 0 else np.zeros_like(cam)
    colours = colormaps["jet"](level)[..., :3] * 255.0
    alpha = (CAM_ALPHA * level)[..., None]
    return np.round(crop * (1.0 - alpha) + colours * alpha).astype(np.uint8)


def report_png(
    result: ItemResult, people: Sequence[PersonStrip], cam_scale: float = 0.0, model: str = "", dpi: int = 100
) -> bytes:
    """The figure as PNG bytes: the timeline of every person, then one row of faces per person in ``people``
    (most suspicious first), with a Grad-CAM row under it when the strip has ``cams``."""
    tile = 0.88  # inches: the width of a face tile
    rows = []  # (person index, "faces" | "cams", height)
    for i, person in enumerate(people or [None]):
        rows.append((i, "faces", tile + 0.3))  # a face row has titles over its tiles
        if person is not None and person.cams is not None:
            rows.append((i, "cams", tile))
    faces_height = sum(h for *_, h in rows) + 0.3 * (len(rows) - 1)  # and the space between rows (hspace)
    height = 0.75 + 2.3 + 0.75 + faces_height
    fig = Figure(figsize=(WIDTH, height), dpi=dpi)
    FigureCanvasAgg(fig)
    outer = fig.add_gridspec(2, 1, height_ratios=[2.3, faces_height], hspace=0.75 / (2.3 + faces_height) * 2.6)
    outer.update(left=0.07, right=0.98, top=1.0 - 0.75 / height, bottom=0.02)
    grid = outer[1].subgridspec(len(rows), COLUMNS, height_ratios=[h for *_, h in rows], hspace=0.32, wspace=0.08)
    colour = verdict_colour(result.verdict)
    fig.suptitle(
        headline(result), x=0.07, ha="left", y=1.0 - 0.12 / height, fontsize=12, fontweight="bold", color=colour
    )
    name = os.path.basename(result.path)
    details = (
        f"{name}   {result.kind}, {result.n_frames} frame(s), {result.sampled} sampled, {len(result.frames)} faces "
        f"scored, {_people(len(result.tracks))}, {len(result.no_face)} frames without a face"
        + (f"   model {_shorten(model, 60)}" if model else "")
    )
    fig.text(0.07, 1.0 - 0.42 / height, details, fontsize=8.5, color="0.25", ha="left")
    if result.caveat:  # what the model's training data says about this verdict
        fig.text(0.07, 1.0 - 0.62 / height, result.caveat, fontsize=8.5, color=UNCERTAIN, ha="left", weight="bold")
    _timeline(fig.add_subplot(outer[0]), result, colour)
    if not people:
        ax = fig.add_subplot(grid[0, :])
        ax.axis("off")
        text = "no face was scored" if not result.frames else "none of the kept frames had a face to draw"
        ax.text(0.5, 0.5, text, ha="center", va="center", fontsize=11, color=NONE)
    for row, (i, kind, _) in enumerate(rows):
        if not people:
            break
        person = people[i]
        offset = (COLUMNS - len(person.faces)) // 2
        if kind == "faces":
            _face_row(fig, grid, row, offset, result, person)
            label = "faces\nscored"
            if len(result.tracks) > 1:
                label = f"person {person.track.track}\n{person.track.verdict or ''}"
            fig.text(
                0.005,
                _row_middle(grid, row),
                label,
                fontsize=8,
                color=verdict_colour(person.track.verdict),
                va="center",
            )
        else:
            for j, crop in enumerate(person.crops):
                ax = fig.add_subplot(grid[row, offset + j])
                ax.imshow(overlay(crop, person.cams[j], cam_scale), interpolation="nearest")
                ax.axis("off")
            fig.text(0.005, _row_middle(grid, row), "Grad-CAM\n(fake\nlogit)", fontsize=8, color="0.25", va="center")
    fig.canvas.draw()
    rgb = np.asarray(fig.canvas.buffer_rgba())[..., 2::-1]  # opaque figure: RGBA -> BGR for OpenCV, no alpha
    ok, encoded = cv2.imencode(".png", np.ascontiguousarray(rgb), [cv2.IMWRITE_PNG_COMPRESSION, 9])
    if not ok:
        raise RuntimeError("could not encode the report figure as PNG")
    return encoded.tobytes()


def _face_row(fig, grid, row: int, offset: int, result: ItemResult, person: PersonStrip) -> None:
    for i, (face, crop) in enumerate(zip(person.faces, person.crops)):
        ax = fig.add_subplot(grid[row, offset + i])
        ax.imshow(crop, interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        tint = FAKE if face.probability >= result.threshold else REAL
        label = f"frame {face.frame}" if result.kind == "video" else "image"
        if face.out_of_distribution:
            tint, label = UNCERTAIN, f"{label} OOD"
        for spine in ax.spines.values():
            spine.set_edgecolor(tint)
            spine.set_linewidth(2.0)
        ax.set_title(f"{label}\nP {face.probability:.3f}", fontsize=8, color=tint, pad=3)


def _people(n: int) -> str:
    return "1 person" if n == 1 else f"{n} people"


def _shorten(text: str, n: int) -> str:
    return text if len(text) <= n else "..." + text[-(n - 3) :]


def _row_middle(grid, row: int) -> float:
    box = grid[row, 0].get_position(grid.get_topmost_subplotspec().get_gridspec().figure)
    return (box.y0 + box.y1) / 2


MARKERS = "osD^v<>p"  # one marker shape per person on the timeline


def _timeline(ax, result: ItemResult, colour: str) -> None:
    """P(fake) per scored face, one line and marker shape per person (filled: face detected, hollow: box
    tracked), threshold, the verdict's mean, no-face frames."""
    t = result.threshold
    tracks = result.tracks
    for k, track in enumerate(tracks):
        frames = np.array([f.frame for f in track.faces])
        probs = np.array([f.probability for f in track.faces])
        if len(frames) > 1:
            ax.plot(frames, probs, color="0.7", linewidth=1.0, zorder=1)
        for tracked, marker_face in ((False, None), (True, "white")):
            pick = np.array([f.tracked == tracked for f in track.faces], bool)
            if pick.any():
                edge = np.where(probs[pick] >= t, FAKE, REAL)
                who = f"person {track.track}" if len(tracks) > 1 else "scored face"
                ax.scatter(
                    frames[pick],
                    probs[pick],
                    s=28,
                    marker=MARKERS[k % len(MARKERS)],
                    c=marker_face if tracked else edge,
                    edgecolors=edge,
                    linewidths=1.2,
                    zorder=3,
                    label=f"{who}, tracked box" if tracked else who,
                )
    ax.axhline(t, color="0.15", linestyle="--", linewidth=1.0, label=f"threshold {t:g}")
    if result.score is not None:
        ax.axhline(result.score, color=colour, linestyle=":", linewidth=1.4, label=f"mean {result.score:.3f}")
    if result.no_face:
        missing = sorted(result.no_face)
        ax.scatter(missing, [-0.06] * len(missing), marker="x", s=30, color=NONE, zorder=3, label="no face")
    last = max(result.n_frames - 1, 0, *(f.frame for f in result.frames), *(result.no_face or [0]))
    ax.set_xlim(-0.5 - 0.01 * last, last + 0.5 + 0.01 * last)
    ax.set_ylim(-0.12, 1.04)
    ax.set_ylabel("P(fake)")
    ax.set_xlabel("frame" if result.kind == "video" else "image (one frame)")
    if result.kind != "video":
        ax.set_xticks([0])
    else:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.25)
    ax.legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), ncol=6, fontsize=8, frameon=False, borderaxespad=0.2)
