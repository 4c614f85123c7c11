"""``ltw-tf screen --report DIR``: the screening results drawn for a person, from the same ``ItemResult`` objects
the JSON lines come from (nothing is scored twice).

Per input with a result: ``NNNN-name.png`` (``figure.report_png``), ``NNNN-name.json`` (the JSON-lines record plus
the data that was plotted) and ``NNNN-name.thumb.png`` (its most suspicious face). Then ``index.html``: one static
page (no script, nothing fetched) listing every input, most suspicious first, inputs without a face and files that
could not be read last, with their status. Everything is written in a staging folder beside DIR and renamed into
place by ``commit``: an interrupted or failed run leaves an existing report untouched.
"""

from __future__ import annotations

import html
import os
import re
import shutil
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

import cv2
import numpy as np

from ltw_tf.io import atomic_write_bytes, atomic_write_text, write_json
from ltw_tf.provenance import caveat, summary
from ltw_tf.screening.figure import COLUMNS, PersonStrip, headline, report_png
from ltw_tf.screening.gradcam import GradCam
from ltw_tf.screening.results import FrameScore, ItemResult, Track

GENERATOR = "ltw-tf screen --report"  # marks index.html as ours: --overwrite replaces only such a folder
STRIP_FACES = COLUMNS  # faces drawn per input
KEEP_CROPS = 2 * STRIP_FACES  # frames whose crops the screener keeps per input to choose them from
MAX_PEOPLE = 4  # rows of faces per figure: the most suspicious people
THUMB = 96  # thumbnail side, pixels


def check_report_dir(directory: str | os.PathLike, overwrite: bool) -> Path:
    """DIR as ``--json FILE`` is treated: an existing, non-empty one only with ``--overwrite``, and then only if it
    holds an ltw-tf report (a folder of other files is never replaced)."""
    target = Path(directory)
    if target.exists() and not target.is_dir():
        raise FileExistsError(f"--report {directory} is a file; give a folder")
    if target.is_dir() and any(target.iterdir()):
        if not overwrite:
            raise FileExistsError(f"--report {directory} exists; pass --overwrite to replace it")
        if not is_report(target):
            raise FileExistsError(f"--report {directory} holds files that are not an ltw-tf report; not replacing it")
    return target


def is_report(directory: Path) -> bool:
    index = directory / "index.html"
    if not index.is_file():
        return False
    with open(index, encoding="utf-8", errors="replace") as handle:
        return GENERATOR in handle.read(4096)


def strip_frames(faces: list[FrameScore], crops: dict, n: int = STRIP_FACES) -> list[FrameScore]:
    """Up to ``n`` of ``faces`` with a kept crop, evenly spaced in time."""
    kept = [f for f in faces if (f.frame, f.track) in crops]
    if len(kept) <= n:
        return kept
    return [kept[int(i)] for i in np.linspace(0, len(kept) - 1, n).round()]


def people_strips(result: ItemResult, n_people: int = MAX_PEOPLE) -> list[tuple[Track, list[FrameScore]]]:
    """The people drawn (most suspicious first, at most ``n_people``) with the faces of each row."""
    tracks = sorted(result.tracks, key=Track.suspicion, reverse=True)[:n_people]
    rows = [(track, strip_frames(list(track.faces), result.crops)) for track in tracks]
    return [(track, faces) for track, faces in rows if faces]


def file_stem(number: int, path: str) -> str:
    """A unique, portable file name stem for the number-th input: ``0003-clip_01.mp4``."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", os.path.basename(path.rstrip("/\\")) or "input").lstrip(".")
    return f"{number:04d}-{name[:80] or 'input'}"


@dataclass
class Entry:
    """One row of the index."""

    number: int  # input order, from 1
    result: ItemResult
    png: str | None = None
    data: str | None = None
    thumb: str | None = None

    @property
    def status(self) -> str:
        if self.result.error:
            return f"error: {self.result.error}"
        return "ok" if self.result.score is not None else f"no face in {self.result.sampled} sampled frame(s)"

    def sort_key(self) -> tuple:
        r = self.result
        group = 2 if r.error else 1 if r.score is None else 0
        return group, -(r.score or 0.0), self.number


class ReportWriter:
    """Collects results as they come (``add``) and writes the report; ``commit`` puts it in place, ``discard``
    drops an unfinished one. ``explainer``: Grad-CAM maps for the faces in the strip."""

    def __init__(
        self,
        directory: str | os.PathLike,
        *,
        overwrite: bool = False,
        model: str = "",
        mode: str = "",
        explainer: GradCam | None = None,
        trained_on: dict | None = None,
        ood: str = "",
    ):
        self.target = check_report_dir(directory, overwrite)
        self.model, self.mode, self.explainer = model, mode, explainer
        self.trained_on, self.ood = trained_on, ood
        self.entries: list[Entry] = []
        self.staging = self.target.parent / f".{self.target.name}.{os.getpid()}.tmp"

    def add(self, result: ItemResult) -> Entry:
        """Draw one result (and drop its crops: they are not needed after this)."""
        entry = Entry(len(self.entries) + 1, result)
        self.entries.append(entry)
        if result.error:
            result.crops.clear()
            return entry
        self.staging.mkdir(parents=True, exist_ok=True)
        stem = file_stem(entry.number, result.path)
        people = []
        for track, faces in people_strips(result):
            people.append(PersonStrip(track, faces, [result.crops[f.frame, f.track] for f in faces]))
        scale = 0.0
        if self.explainer is not None and people:
            cams, _ = self.explainer.maps(np.stack([c for p in people for c in p.crops]))
            scale = float(cams.max())
            split = np.cumsum([len(p.crops) for p in people])[:-1]
            people = [replace(p, cams=list(m)) for p, m in zip(people, np.split(cams, split))]
        png = report_png(result, people, scale, model=self.model)
        entry.png, entry.data = f"{stem}.png", f"{stem}.json"
        atomic_write_bytes(self.staging / entry.png, png)
        suspect = result.suspect
        kept = [f for f in (suspect.faces if suspect else ()) if (f.frame, f.track) in result.crops]
        if kept:
            worst = max(kept, key=lambda f: f.probability)
            entry.thumb = f"{stem}.thumb.png"
            write_png(self.staging / entry.thumb, thumbnail(result.crops[worst.frame, worst.track]))
        data = plot_data(result, people, scale, entry, self.model, explain=self.explainer is not None)
        write_json(self.staging / entry.data, data)
        result.crops.clear()
        return entry

    def commit(self, totals: str = "") -> Path:
        """Write index.html and move the report to DIR (replacing the old report, if any)."""
        self.staging.mkdir(parents=True, exist_ok=True)
        atomic_write_text(
            self.staging / "index.html",
            index_html(self.entries, self.model, self.mode, totals, self.trained_on, self.ood),
        )
        old = self.target.parent / f".{self.target.name}.{os.getpid()}.old"
        if self.target.exists():
            os.replace(self.target, old)
        os.replace(self.staging, self.target)
        shutil.rmtree(old, ignore_errors=True)
        return self.target / "index.html"

    def discard(self) -> None:
        shutil.rmtree(self.staging, ignore_errors=True)


def thumbnail(crop: np.ndarray, side: int = THUMB) -> np.ndarray:
    interpolation = cv2.INTER_AREA if crop.shape[0] > side else cv2.INTER_NEAREST
    return cv2.resize(crop, (side, side), interpolation=interpolation)


def write_png(path: Path, rgb: np.ndarray) -> None:
    ok, encoded = cv2.imencode(".png", np.ascontiguousarray(rgb[..., ::-1]))
    if not ok:
        raise RuntimeError(f"could not encode {path} as PNG")
    atomic_write_bytes(path, encoded.tobytes())


def plot_data(
    result: ItemResult,
    people: list[PersonStrip],
    scale: float,
    entry: Entry,
    model: str,
    explain: bool = False,
) -> dict:
    """What the PNG shows, as numbers: the record of the JSON lines plus the plotted series."""
    return {
        "record": result.to_dict(model=model or None),
        "plot": {
            "png": entry.png,
            "thumbnail": entry.thumb,
            "headline": headline(result),
            "threshold": result.threshold,
            "mean": result.score,
            "timeline": [
                {"frame": f.frame, "probability": f.probability, "tracked": f.tracked, "track": f.track}
                for f in result.frames
            ],
            "no_face_frames": sorted(result.no_face),
            "people": [
                {
                    "track": p.track.track,
                    "verdict": p.track.verdict,
                    "strip": [
                        {
                            "frame": f.frame,
                            "probability": f.probability,
                            "cam_max": None if p.cams is None else float(p.cams[i].max()),
                        }
                        for i, f in enumerate(p.faces)
                    ],
                }
                for p in people
            ],
            "explain": explain,  # Grad-CAM asked for (drawn over every face of the strip)
            # the map value drawn at full strength
            "cam_scale": scale if any(p.cams is not None for p in people) else None,
        },
    }


STYLE = """
body { font-family: sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; }
th, td { border-bottom: 1px solid #ddd; padding: 4px 10px; text-align: left; vertical-align: middle; }
th { background: #f2f2f2; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.fake { color: #c0392b; font-weight: bold; }
.real { color: #1e8449; font-weight: bold; }
.uncertain { color: #b9770e; font-weight: bold; }
.none, .error { color: #7f8c8d; }
.path { font-family: monospace; font-size: 90%; }
.caveat { color: #b9770e; font-weight: bold; }
img { display: block; image-rendering: pixelated; }
"""


def index_html(
    entries: list[Entry], model: str, mode: str, totals: str, trained_on: dict | None = None, ood: str = ""
) -> str:
    """The static index page: every input, most suspicious first; links only to files of the report."""
    e = html.escape
    threshold = next((x.result.threshold for x in entries), None)
    rows = []
    for rank, entry in enumerate(sorted(entries, key=Entry.sort_key), start=1):
        r = entry.result
        verdict = "error" if r.error else r.verdict or "none"
        label = "error" if r.error else r.verdict or "no face"
        score = "" if r.score is None else f"{r.score:.3f}"
        image = "&ndash;"
        if entry.thumb:
            alt = f"most suspicious face of {os.path.basename(r.path)}"
            image = f'<a href="{e(entry.png)}"><img src="{e(entry.thumb)}" width="64" height="64" alt="{e(alt)}"></a>'
        files = " ".join(
            f'<a href="{e(name)}">{kind}</a>' for kind, name in (("PNG", entry.png), ("data", entry.data)) if name
        )
        over = sum(f.probability >= r.threshold for f in r.frames)
        scored = f"{over} / {len(r.frames)}" if r.frames else ""
        unlike = sum(f.out_of_distribution for f in r.frames)
        ood_cell = f"{unlike} / {len(r.frames)}" if r.out_of_distribution is not None else "&ndash;"
        rows.append(
            f'<tr data-score="{score}" data-status="{e(entry.status)}"><td class="num">{rank}</td><td>{image}</td>'
            f'<td class="path">{e(r.path)}</td><td class="{verdict}">{e(label)}</td><td class="num">{score}</td>'
            f'<td class="num">{scored}</td><td class="num">{ood_cell}</td><td class="num">{len(r.no_face)}</td>'
            f"<td>{e(entry.status)}</td>"
            f"<td>{files}</td></tr>"
        )
    created = datetime.now(timezone.utc).isoformat(timespec="seconds")
    facts = [f'model <span class="path">{e(model)}</span>' if model else "", e(mode)]
    if threshold is not None:
        facts.append(f"fake when mean P(fake) &ge; {threshold:g}")
    facts.append(f"created {e(created)}")
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8">',
            f'<meta name="generator" content="{GENERATOR}">',
            "<title>ltw-tf screening report</title>",
            f"<style>{STYLE}</style>",
            "</head>",
            "<body>",
            "<h1>Screening report</h1>",
            f"<p>{' &middot; '.join(f for f in facts if f)}</p>",
            f'<p class="trained">trained on: {e(summary(trained_on))}</p>',
            f'<p class="caveat">{e(caveat(trained_on))}: read every verdict below with that in mind</p>'
            if caveat(trained_on)
            else "",
            f'<p class="ood">{e(ood)}</p>' if ood else "",
            f"<p>{e(totals)}</p>" if totals else "",
            "<table>",
            "<thead><tr><th>#</th><th>face</th><th>input</th><th>verdict</th><th>mean P(fake)</th>"
            "<th>frames &ge; threshold</th><th>unlike training faces</th><th>without face</th><th>status</th>"
            "<th>files</th></tr></thead>",
            "<tbody>",
            *rows,
            "</tbody>",
            "</table>",
            "</body>",
            "</html>",
            "",
        ]
    )
