"""Screening one item: video -> sampled frames -> faces (as training preparation cropped them) -> P(fake) -> verdict.

Every face of a frame is scored, as a person: faces are linked across frames into tracks
(``fast_faces.track_faces``) and the item is judged by its most suspicious track (``results.ItemResult``).

Frames: ``frames`` evenly spaced over the whole video (the paper's 10, ``np.linspace`` as in ``prepare``), every
``every``-th frame, or all of them. Faces: MTCNN with ``prepare``'s downscaled detection, margin, square and crop
(``ltw_tf.data.decode`` reads only the sampled frames, upright, as prepare does; ``ltw_tf.data.fast_faces``
detects less for the same crops). Scores: the model runner, batched, and for every face its out-of-distribution
score from the model's own features (``ltw_tf.ood``).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ltw_tf.data.decode import VideoFrames
from ltw_tf.data.faces import MIN_SCORE, VideoError, check_margin, sample_frame_indices
from ltw_tf.data.fast_faces import MIN_FACE, FrameFace, track_faces
from ltw_tf.ood import ModelStats, model_stats
from ltw_tf.screening.inputs import MediaItem, read_image
from ltw_tf.screening.results import FrameScore, ItemResult
from ltw_tf.screening.runners import ModelRunner

log = logging.getLogger(__name__)

DEFAULT_FRAMES = 10  # the paper's protocol
ALL_FRAMES_DETECT_EVERY = 5  # with --all: MTCNN on every 5th frame, boxes interpolated in between


@dataclass(frozen=True)
class ScreenSettings:
    """How to screen. Exactly one of ``frames`` / ``every`` / ``all_frames`` picks the frames (default: 10 evenly
    spaced). ``detect_every`` None: 1 (every sampled frame), or ``ALL_FRAMES_DETECT_EVERY`` with ``all_frames``."""

    frames: int | None = None
    every: int | None = None
    all_frames: bool = False
    detect_every: int | None = None
    threshold: float = 0.5
    margin: int | float = 16
    min_score: float = MIN_SCORE
    min_face: float = MIN_FACE  # px: the shortest box side of a face worth judging
    batch_size: int = 32

    def __post_init__(self):
        chosen = [
            name
            for name, on in (
                ("frames", self.frames is not None),
                ("every", self.every is not None),
                ("all_frames", self.all_frames),
            )
            if on
        ]
        if len(chosen) > 1:
            raise ValueError(f"choose one of frames / every / all_frames, not {' and '.join(chosen)}")
        for name in ("frames", "every", "detect_every"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or int(value) < 1):
                raise ValueError(f"{name} must be >= 1, got {value}")
        if not 0.0 <= self.threshold <= 1.0:
            raise ValueError(f"threshold must be in [0, 1], got {self.threshold}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
        if not self.min_face >= 0:
            raise ValueError(f"min_face must be >= 0 pixels, got {self.min_face}")
        check_margin(self.margin)

    @property
    def mode(self) -> str:
        if self.all_frames:
            return "all"
        return f"every {self.every}" if self.every is not None else f"{self.frames or DEFAULT_FRAMES} frames"

    @property
    def detect_stride(self) -> int:
        if self.detect_every is not None:
            return int(self.detect_every)
        return ALL_FRAMES_DETECT_EVERY if self.all_frames else 1

    def indices(self, n_frames: int) -> list[int] | None:
        """The frames to look at in a video of ``n_frames`` frames (None: all of them)."""
        if self.all_frames:
            return None
        if self.every is not None:
            return list(range(0, n_frames, int(self.every)))
        return sample_frame_indices(n_frames, int(self.frames or DEFAULT_FRAMES))


class Screener:
    """A model runner and an MTCNN detector, loaded once and reused for every item. ``keep_crops`` > 0: each
    result also keeps the scored crops (``ItemResult.crops``) of up to that many frames, evenly spaced over the
    sampled frames (the report draws them). ``ood``: the model's OOD statistics (``ltw_tf.ood.model_stats``;
    None: looked up here)."""

    def __init__(
        self,
        runner: ModelRunner,
        settings: ScreenSettings | None = None,
        detector: Any = None,
        keep_crops: int = 0,
        ood: ModelStats | None = None,
    ):
        from ltw_tf.data.faces import load_detector

        self.runner = runner
        self.settings = settings or ScreenSettings()
        self.detector = detector if detector is not None else load_detector()
        self.keep_crops = int(keep_crops)
        self.ood = ood if ood is not None else model_stats(runner)

    def screen(self, item: MediaItem) -> ItemResult:
        """One item's result; a file that cannot be read gives a result with ``error`` set, never an exception."""
        start = time.perf_counter()
        result = ItemResult(item.path, item.kind, self.settings.threshold)
        result.trained_on = getattr(self.runner, "trained_on", None)
        result.ood_note = None if self.ood.stats is not None else self.ood.note
        try:
            if item.kind == "image":
                self._image(item.path, result)
            else:
                self._video(item.path, result)
        except VideoError as err:
            result.error = _without_path(str(err), item.path)
        except Exception as err:  # noqa: BLE001 -- one bad file must not stop the others; -v logs the traceback
            log.debug("screening %s failed", item.path, exc_info=True)
            result.error = f"{type(err).__name__}: {_without_path(str(err).strip(), item.path) or 'failed'}"
            result.error = result.error.splitlines()[0]
        result.seconds = time.perf_counter() - start
        return result

    def _faces(self, frames: Iterable[tuple[int, np.ndarray]]) -> Iterator[FrameFace]:
        s = self.settings
        return track_faces(
            frames,
            self.detector,
            detect_every=s.detect_stride,
            margin=s.margin,
            size=self.runner.size,
            min_score=s.min_score,
            min_size=s.min_face,
            batch=max(32, s.batch_size),
        )

    def _kept(self, frames: Sequence[int]) -> set[int]:
        """The frames whose crops a result keeps: ``keep_crops`` of ``frames``, evenly spaced."""
        if self.keep_crops <= 0 or not len(frames):
            return set()
        if self.keep_crops >= len(frames):
            return set(frames)
        return {frames[int(i)] for i in np.linspace(0, len(frames) - 1, self.keep_crops).round()}

    def _score(self, faces: Iterable[FrameFace], result: ItemResult, keep: set[int] = frozenset()) -> int:
        """Classify the faces in batches into ``result`` (crops of the frames in ``keep`` kept); returns how many
        frames were seen."""
        pending: list[FrameFace] = []
        seen: set[int] = set()

        def flush():
            probabilities, features = self.runner.predict_with_features(np.stack([f.crop.image for f in pending]))
            stats = self.ood.stats
            ood = [None] * len(pending) if stats is None or features is None else stats.score(features)
            for face, p, distance in zip(pending, probabilities, ood):
                if face.frame in keep:
                    result.crops[face.frame, face.track] = face.crop.image
                result.frames.append(
                    FrameScore(
                        face.frame,
                        float(p),
                        float(face.crop.score),
                        tuple(int(v) for v in face.crop.box),
                        face.tracked,
                        None if distance is None else float(distance),
                        face.track,
                    )
                )
            pending.clear()

        for face in faces:
            seen.add(face.frame)
            if face.crop is None:
                result.no_face[face.frame] = face.reason
                continue
            pending.append(face)
            if len(pending) >= self.settings.batch_size:
                flush()
        if pending:
            flush()
        return len(seen)

    def _video(self, path: str, result: ItemResult) -> None:
        video = VideoFrames(path)
        result.n_frames = video.n_frames
        wanted = self.settings.indices(video.n_frames)
        keep = self._kept(wanted if wanted is not None else range(video.n_frames))
        seen = self._score(self._faces(video.frames(wanted)), result, keep)
        if seen == 0:
            raise VideoError(f"{path}: no decodable frames")
        decoded = {f.frame for f in result.frames} | set(result.no_face)
        for index in wanted or ():
            if index not in decoded:
                result.no_face[index] = "frame could not be decoded"
        result.no_face = dict(sorted(result.no_face.items()))
        result.sampled = len(wanted) if wanted is not None else seen

    def _image(self, path: str, result: ItemResult) -> None:
        image = read_image(path)
        result.n_frames = result.sampled = 1
        self._score(self._faces([(0, image)]), result, self._kept([0]))


def _without_path(message: str, path: str) -> str:
    prefix = f"{path}: "
    return message[len(prefix) :] if message.startswith(prefix) else message


def screen_items(screener: Screener, items: Sequence[MediaItem], *, progress: bool = False) -> Iterator[ItemResult]:
    """Screen items in order; a progress bar (stderr, items/s) when ``progress`` and there is more than one item."""
    return _with_progress(map(screener.screen, items), len(items), progress, path_of=lambda result: result.path)


class ScreenWorker:
    """A Ray actor (``ltw_tf.cluster``): its own runner, MTCNN and OOD statistics, loaded once for all its items
    (the model path must be on storage its node sees)."""

    def __init__(self, model: str, settings: ScreenSettings, keep_crops: int, threads: int, verbose: bool):
        from ltw_tf.data.prepare import start_worker
        from ltw_tf.screening.runners import load_runner

        self.error = None
        try:  # raised here, Ray would restart the actor; ready() says why instead
            detector = start_worker(threads, verbose)
            self.screener = Screener(load_runner(model, num_threads=threads), settings, detector, keep_crops)
        except Exception as err:  # noqa: BLE001
            self.error = err

    def ready(self) -> bool:
        if self.error is not None:
            raise RuntimeError(f"could not load the detector or the model: {self.error}")
        return True

    def screen(self, item: MediaItem) -> ItemResult:
        return self.screener.screen(item)


def screen_items_on_ray(
    model: str,
    settings: ScreenSettings,
    items: Sequence[MediaItem],
    *,
    keep_crops: int = 0,
    workers: int | None = None,
    address: str | None = None,
    progress: bool = False,
    trained_on: dict | None = None,
) -> Iterator[ItemResult]:
    """``screen_items`` on ``ScreenWorker`` actors (default: one per CPU of the cluster at ``address``, else
    ``$RAY_ADDRESS``, else a Ray started for the run): the same results, in input order; an item whose worker died
    on every try gets that as its ``error``."""
    from ltw_tf import cluster

    verbose = log.isEnabledFor(logging.INFO)
    with cluster.connect(address, verbose=verbose) as ray:
        cpus = cluster.cluster_cpus(ray)
        workers = workers or cpus
        args = (os.fspath(model), settings, int(keep_crops), max(1, cpus // workers), verbose)
        finished = cluster.run_on_actors(ray, ScreenWorker, args, "screen", items, workers=workers)
        results = ((i, _failed(items[i], r, settings, trained_on)) for i, r in finished)
        yield from cluster.in_order(_with_progress(results, len(items), progress, path_of=lambda pair: pair[1].path))


def _failed(item: MediaItem, result: Any, settings: ScreenSettings, trained_on: dict | None) -> ItemResult:
    """``result`` itself, or for a ``cluster.Failed`` an item result with its reason as the error."""
    from ltw_tf.cluster import Failed

    if not isinstance(result, Failed):
        return result
    failed = ItemResult(item.path, item.kind, settings.threshold, error=result.reason)
    failed.trained_on = trained_on
    return failed


def _with_progress(results: Iterable[Any], total: int, progress: bool, path_of) -> Iterator[Any]:
    """``results`` passed through, counted by a progress bar on stderr (items/s, the last finished file's name)."""
    from tqdm import tqdm

    with tqdm(total=total, unit="item", desc="screen", disable=not progress or total < 2) as bar:
        for result in results:
            bar.set_postfix_str(os.path.basename(path_of(result))[-24:], refresh=False)
            bar.update()
            yield result
