"""Screening results: per-frame scores, the per-item verdict, JSON-lines records and the text summary."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np

from ltw_tf.provenance import caveat

OOD_LIMIT = 1.0  # a face whose OOD score exceeds this is beyond the model's own val faces (ltw_tf.ood)
UNCERTAIN_FRACTION = 0.5  # an item is "uncertain" when at least this fraction of its faces is out of distribution


@dataclass(frozen=True)
class FrameScore:
    """One scored face: frame index, P(fake), MTCNN confidence, square crop box (x0, y0, side) in frame pixels,
    whether the box was interpolated between detections (``--detect-every``), and its out-of-distribution score
    (``ltw_tf.ood``: > 1 is unlike the model's training faces; None: the model has no OOD statistics)."""

    frame: int
    probability: float
    face_score: float
    box: tuple[int, int, int]
    tracked: bool = False
    ood: float | None = None
    track: int = 0  # the person (``fast_faces.track_faces``)

    @property
    def out_of_distribution(self) -> bool:
        return self.ood is not None and self.ood > OOD_LIMIT

    def to_dict(self) -> dict[str, Any]:
        return {
            "frame": self.frame,
            "probability": round(self.probability, 6),
            "face_score": round(self.face_score, 4),
            "box": list(self.box),
            "tracked": self.tracked,
            "ood_score": None if self.ood is None else round(self.ood, 4),
            "track": self.track,
        }


SUSPICION = {"fake": 2, "uncertain": 1, "real": 0}  # a found fake outranks a face the model cannot judge


def _mean_probability(faces: Sequence[FrameScore]) -> float | None:
    return float(np.mean([f.probability for f in faces])) if faces else None


def _ood_fraction(faces: Sequence[FrameScore], checked: bool) -> float | None:
    if not faces or not checked or any(f.ood is None for f in faces):
        return None
    return sum(f.out_of_distribution for f in faces) / len(faces)


def _verdict(faces: Sequence[FrameScore], threshold: float, checked: bool) -> str | None:
    """ "uncertain" when at least half the faces are out of distribution (the model cannot judge them, whatever
    its P(fake)); else "fake" when their mean P(fake) >= threshold, "real" below it; None without faces."""
    score = _mean_probability(faces)
    if score is None:
        return None
    ood = _ood_fraction(faces, checked)
    if ood is not None and ood >= UNCERTAIN_FRACTION:
        return "uncertain"
    return "fake" if score >= threshold else "real"


@dataclass(frozen=True)
class Track:
    """One person of an item: the scored faces of one track, in frame order, judged like a one-person item."""

    track: int
    faces: tuple[FrameScore, ...]
    threshold: float
    checked: bool  # the OOD check is on

    @property
    def score(self) -> float | None:
        return _mean_probability(self.faces)

    @property
    def fake_fraction(self) -> float | None:
        if not self.faces:
            return None
        return sum(f.probability >= self.threshold for f in self.faces) / len(self.faces)

    @property
    def out_of_distribution(self) -> float | None:
        return _ood_fraction(self.faces, self.checked)

    @property
    def verdict(self) -> str | None:
        return _verdict(self.faces, self.threshold, self.checked)

    def suspicion(self) -> tuple:
        return SUSPICION.get(self.verdict, -1), self.score or 0.0

    def to_dict(self) -> dict[str, Any]:
        score, fraction, ood = self.score, self.fake_fraction, self.out_of_distribution
        return {
            "track": self.track,
            "verdict": self.verdict,
            "score": None if score is None else round(score, 6),
            "fake_fraction": None if fraction is None else round(fraction, 4),
            "out_of_distribution": None if ood is None else round(ood, 4),
            "frames": [f.frame for f in self.faces],
            "boxes": [list(f.box) for f in self.faces],
        }


@dataclass
class ItemResult:
    """One video or image. Every scored face belongs to a track (a person); each track is judged alone
    (``Track``) and the item's ``score``, ``verdict``, ``fake_fraction`` and ``out_of_distribution`` are those of
    its most suspicious track (a fake before an uncertain one before a real one, then the higher mean P(fake)).
    Frames without a face are listed in ``no_face`` (with the reason) and not scored. ``error`` set: the item could
    not be screened at all."""

    path: str
    kind: str  # "video" | "image"
    threshold: float
    n_frames: int = 0  # frames in the video (1 for an image)
    sampled: int = 0  # frames looked at
    frames: list[FrameScore] = field(default_factory=list)
    no_face: dict[int, str] = field(default_factory=dict)
    error: str | None = None
    seconds: float = 0.0
    crops: dict[tuple[int, int], np.ndarray] = field(default_factory=dict, repr=False)  # (frame, track) -> the
    # scored uint8 crop, kept
    # only when the screener is asked to (``keep_crops``, for the report); never in the JSON record
    trained_on: dict | None = None  # the model's training data (ltw_tf.provenance), in every record
    ood_note: str | None = None  # why faces carry no OOD score (None: the check is on)

    @property
    def caveat(self) -> str | None:
        """What the model's training data says about this verdict ("synthetic-trained model: ..."), or None."""
        return caveat(self.trained_on)

    @property
    def tracks(self) -> list[Track]:
        """Every person, by track id."""
        by_track: dict[int, list[FrameScore]] = {}
        for face in self.frames:
            by_track.setdefault(face.track, []).append(face)
        checked = self.ood_note is None
        return [Track(t, tuple(faces), self.threshold, checked) for t, faces in sorted(by_track.items())]

    @property
    def suspect(self) -> Track | None:
        """The most suspicious track (None: no face scored)."""
        tracks = self.tracks
        return max(tracks, key=Track.suspicion) if tracks else None

    @property
    def score(self) -> float | None:
        """The most suspicious person's mean P(fake)."""
        suspect = self.suspect
        return None if suspect is None else suspect.score

    @property
    def fake_fraction(self) -> float | None:
        """Fraction of the most suspicious person's faces with P(fake) >= threshold."""
        suspect = self.suspect
        return None if suspect is None else suspect.fake_fraction

    @property
    def out_of_distribution(self) -> float | None:
        """Fraction of the most suspicious person's faces unlike the model's training faces (None: nothing
        scored, or no OOD check)."""
        suspect = self.suspect
        return None if suspect is None else suspect.out_of_distribution

    @property
    def verdict(self) -> str | None:
        """The most suspicious person's verdict (``Track.verdict``); None when nothing was scored."""
        suspect = self.suspect
        return None if suspect is None else suspect.verdict

    def to_dict(self, model: str | None = None) -> dict[str, Any]:
        score, fraction = self.score, self.fake_fraction
        record = {
            "path": self.path,
            "kind": self.kind,
            "status": "error" if self.error else "ok",
            "error": self.error,
            "verdict": self.verdict,
            "score": None if score is None else round(score, 6),
            "fake_fraction": None if fraction is None else round(fraction, 4),
            "out_of_distribution": None if self.out_of_distribution is None else round(self.out_of_distribution, 4),
            "ood_check": self.ood_note or "on",
            "threshold": self.threshold,
            "n_frames": self.n_frames,
            "frames_sampled": self.sampled,
            "frames_scored": len(self.frames),
            "frames_without_face": len(self.no_face),
            "people": len(self.tracks),
            "track": None if self.suspect is None else self.suspect.track,
            "tracks": [t.to_dict() for t in self.tracks],
            "frames": [f.to_dict() for f in self.frames],
            "no_face": [{"frame": k, "reason": v} for k, v in sorted(self.no_face.items())],
            "seconds": round(self.seconds, 3),
            "trained_on": self.trained_on,
            "caveat": self.caveat,
        }
        if model is not None:
            record["model"] = model
        return record


def summary_line(result: ItemResult) -> str:
    """One line per item for the terminal."""
    if result.error:
        return f"error  {result.path}: {result.error}"
    if result.score is None:
        return f"-      no face in {result.sampled} sampled frame(s)  {result.path}"
    suspect, tracks = result.suspect, result.tracks
    faces = suspect.faces
    over = sum(f.probability >= result.threshold for f in faces)
    note = f"  [{result.caveat}]" if result.caveat else ""
    unlike = sum(f.out_of_distribution for f in faces)
    ood = f"  {unlike}/{len(faces)} unlike training faces" if result.out_of_distribution is not None else ""
    if result.verdict == "uncertain":
        ood += ": the model cannot judge them"
    people = f"  {len(tracks)} people, most suspicious: person {suspect.track}" if len(tracks) > 1 else ""
    return (
        f"{result.verdict:<9} {result.score:.3f}  {over}/{len(faces)} frames >= {result.threshold:g}"
        f"{ood}{people}  {len(result.no_face)} without face  {result.path}{note}"
    )


def totals_line(results: list[ItemResult]) -> str:
    counts = {"fake": 0, "real": 0, "uncertain": 0, None: 0}
    for result in results:
        if not result.error:
            counts[result.verdict] += 1
    failed = sum(r.error is not None for r in results)
    return (
        f"{len(results)} screened: {counts['fake']} fake, {counts['real']} real, {counts['uncertain']} uncertain, "
        f"{counts[None]} without a face, {failed} failed"
    )


class JsonLinesWriter:
    """JSON lines to a file, atomically: written to a hidden temporary file beside it and renamed over the target
    only by ``commit()`` (an interrupted or failed run leaves the old file, if any, untouched). ``-``: stdout."""

    def __init__(self, path: str | os.PathLike, stdout: IO[str] | None = None):
        self.path = os.fspath(path)
        if self.path == "-":
            import sys

            self._file, self._tmp = stdout or sys.stdout, None
            return
        target = Path(self.path)
        if target.is_dir():
            raise IsADirectoryError(f"--json {self.path} is a folder; give a file name")
        target.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        self._file = open(self._tmp, "w", encoding="utf-8")  # noqa: SIM115 (closed by commit / discard)

    def write(self, record: dict[str, Any]) -> None:
        self._file.write(json.dumps(record) + "\n")
        self._file.flush()

    def commit(self) -> None:
        if self._tmp is None:
            return
        self._file.close()
        os.replace(self._tmp, self.path)
        self._tmp = None

    def discard(self) -> None:
        if self._tmp is None:
            return
        self._file.close()
        self._tmp.unlink(missing_ok=True)
        self._tmp = None
