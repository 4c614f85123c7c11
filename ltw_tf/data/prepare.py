"""Dataset-wide face extraction: videos -> PNG crops + ``manifest.csv``, in parallel, resumable, with a skip log.

Layout under ``out_dir``: crops at ``<dataset>/<quality or 'na'>/<domain>/<video_id>/<frame:04d>.png``; one
done-record per finished video at ``.done/<same key>.json`` (its crops, or why it was skipped) so a rerun skips
it without decoding or running MTCNN; ``skipped.csv`` (videos with no face or unreadable, with the reason);
``manifest.csv`` (every crop, rebuilt from the done-records, so reruns give the same bytes). A fake whose
``Video.mask`` names its manipulation-mask video (FF++ ``masks/videos``, synthff ``--masks``) also gets a mask
crop per face, ``<frame:04d>_mask.png``: the mask frame cut with the face's box and resized like the face
(grayscale, the max over the mask's channels), recorded in the manifest's ``mask`` column.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import multiprocessing as mp
import os
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import cv2

from ltw_tf.data.faces import (
    MIN_SCORE,
    VideoError,
    check_margin,
    crop_square,
    extract_faces,
    load_detector,
    read_frames,
)
from ltw_tf.data.manifest import MANIFEST_NAME, Face, Video, read_manifest, write_manifest
from ltw_tf.io import atomic_write_bytes
from ltw_tf.locking import OutputLock
from ltw_tf.native_logs import quiet_tensorflow

SKIP_LOG = "skipped.csv"
DONE_DIR = ".done"
RECORD_VERSION = 1
VIDEOS_PER_WORKER = 16  # see auto_workers

log = logging.getLogger(__name__)


@dataclass
class PrepareReport:
    """What a ``prepare`` run did. ``reused`` videos were finished by an earlier run and cost nothing now."""

    videos: int  # distinct videos asked for
    extracted: int  # videos extracted by this run that gave at least one face
    skipped: int  # videos in the skip log (no face in any frame, or unreadable), this run or earlier
    reused: int  # videos whose done-record from an earlier run was reused (no decoding, no MTCNN)
    faces: int  # rows in the manifest
    faces_written: int  # crops written by this run
    frames_without_face: int  # sampled frames of manifest videos that gave no usable face (not in the manifest)
    seconds: float
    manifest: str
    skip_log: str

    @property
    def faces_per_second(self) -> float:
        return self.faces_written / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "faces_per_second": round(self.faces_per_second, 2)}


# --------------------------------------------------------------------------- keys, records, atomic writes


def _component(value: str, what: str) -> str:
    clean = value.replace("/", "_").replace("\\", "_")
    if clean in ("", ".", ".."):
        raise ValueError(f"video has an unusable {what} {value!r} for a folder name")
    return clean


def video_key(video: Video | Face) -> str:
    """``<dataset>/<quality or 'na'>/<domain>/<video_id>``: the crop folder and the done-record name."""
    return "/".join(
        _component(v, w)
        for v, w in (
            (video.dataset, "dataset"),
            (video.quality or "na", "quality"),
            (video.domain, "domain"),
            (video.video_id, "video_id"),
        )
    )


def _record_path(out_dir: Path, key: str) -> Path:
    return out_dir / DONE_DIR / f"{key}.json"


def _fingerprint(path: str) -> list[int] | None:
    """[size, mtime_ns] of a video file, or None when it is missing: a changed file must be extracted again."""
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return [stat.st_size, stat.st_mtime_ns]


def _load_record(out_dir: Path, key: str, params: dict, source: str, mask_source: str = "") -> dict | None:
    """A usable done-record: same settings, the same video file (or none left to compare), the same mask video
    (or none, as before), its crops and mask crops on disk."""
    path = _record_path(out_dir, key)
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if record.get("version") != RECORD_VERSION or record.get("params") != params:
        return None
    now = _fingerprint(source)
    if now is not None and record.get("source") != now:
        return None
    if record.get("mask_source") != (_fingerprint(mask_source) if mask_source else None):
        return None  # a mask added, changed or gone since: extract again (records before masks have none)
    if not all((out_dir / path).is_file() for crop in record.get("crops", []) for path in (crop[0], *crop[3:])):
        return None
    return record


# --------------------------------------------------------------------------- one video (in a worker or in-process)


@dataclass(frozen=True)
class _Task:
    video: Video
    source: str  # resolved video path
    key: str
    out_dir: str
    params: dict
    mask_source: str = ""  # resolved mask video path, "" when the video has none


def _extract_and_save(task: _Task, detector: Any) -> dict:
    """Extract one video, write its crops and its done-record; return the record (``persist`` False: retry later)."""
    out_dir, params = Path(task.out_dir), task.params
    record = {
        "version": RECORD_VERSION,
        "video": task.video.path,
        "source": _fingerprint(task.source),
        "params": params,
        "status": "skipped",
        "reason": "",
        "n_frames": 0,
        "crops": [],  # [crop, frame, score] or [crop, frame, score, mask crop]
        "missing": {},
        "mask_source": _fingerprint(task.mask_source) if task.mask_source else None,
        "boxes": {},  # frame -> the square (x0, y0, side) its face and mask crops were cut with
    }
    try:
        result = extract_faces(
            task.source,
            detector,
            frames=params["frames"],
            margin=params["margin"],
            size=params["size"],
            min_score=params["min_score"],
        )
    except VideoError as err:
        record["reason"] = str(err)
    except Exception as err:  # one bad video must not stop the dataset; retried on the next run
        return {**record, "reason": f"{type(err).__name__}: {err}".splitlines()[0], "persist": False}
    else:
        record["n_frames"] = result.n_frames
        record["missing"] = {str(k): v for k, v in result.missing.items()}
        if not result.crops:
            counts = Counter(result.missing.values())
            why = "; ".join(f"{reason} x{n}" for reason, n in sorted(counts.items()))
            record["reason"] = f"no face in any of {len(result.missing)} sampled frames ({why})"
        else:
            record["status"] = "done"
            crop_dir = out_dir / task.key
            mask_frames = _mask_frames(task, result.n_frames, record)
            for crop in result.crops:
                rel = f"{task.key}/{crop.frame:04d}.png"
                _write_png(out_dir / rel, cv2.cvtColor(crop.image, cv2.COLOR_RGB2BGR))
                entry = [rel, crop.frame, round(crop.score, 4)]
                if crop.frame in mask_frames:  # the same box and resize as the face
                    mask_rel = f"{task.key}/{crop.frame:04d}_mask.png"
                    _write_png(out_dir / mask_rel, crop_square(mask_frames[crop.frame], crop.box, params["size"]))
                    entry.append(mask_rel)
                record["crops"].append(entry)
                record["boxes"][str(crop.frame)] = [int(v) for v in crop.box]
            keep = {Path(p).name for c in record["crops"] for p in (c[0], *c[3:])}
            for stale in crop_dir.glob("*.png"):  # crops of an earlier run with other settings
                if stale.name not in keep:
                    stale.unlink()
    atomic_write_bytes(_record_path(out_dir, task.key), json.dumps(record, indent=1).encode("utf-8"))
    return record


def _write_png(path: Path, image) -> None:
    ok, png = cv2.imencode(".png", image)
    if not ok:
        raise RuntimeError(f"PNG encoding failed for {path}")
    atomic_write_bytes(path, png.tobytes())


def _mask_frames(task: _Task, n_frames: int, record: dict) -> dict:
    """The mask video's sampled frames (grayscale: max over channels) by index, {} without a usable one.

    A mask video that cannot be read or whose frame count differs from the video's gives no mask crops (the
    reason goes into the record's ``mask_error``); the faces are kept.
    """
    if not task.mask_source:
        return {}
    try:
        n_mask, frames = read_frames(task.mask_source, task.params["frames"])
    except VideoError as err:
        record["mask_error"] = str(err)
        return {}
    if n_mask != n_frames:
        record["mask_error"] = f"{task.mask_source}: {n_mask} frames, the video has {n_frames}"
        return {}
    return {i: frame.max(axis=-1) for i, frame in frames.items()}


_WORKER: dict[str, Any] = {}  # per worker process: its detector (or the error creating it)


def start_worker(threads: int, verbose: bool) -> Any:
    """A worker process's set-up (pool or Ray actor): quiet TF (its start-up lines logged, shown when the parent
    shows INFO), bound its threads; returns this process's one MTCNN detector."""
    if verbose:
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    quiet_tensorflow(verbose)
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)
    return load_detector()


def _init_worker(threads: int, verbose: bool) -> None:
    """Pool initializer: ``start_worker``, its error kept for the first task."""
    try:
        _WORKER["detector"] = start_worker(threads, verbose)
    except Exception as err:  # raising here would make the pool respawn workers forever
        _WORKER["error"] = err


def _worker_extract(task: _Task) -> tuple[str, dict]:
    if "error" in _WORKER:
        raise RuntimeError(f"worker could not build the MTCNN detector: {_WORKER['error']}")
    return task.key, _extract_and_save(task, _WORKER["detector"])


class PrepareWorker:
    """A Ray actor (``ltw_tf.cluster``): a pool worker's set-up, kept for the actor's life."""

    def __init__(self, threads: int, verbose: bool):
        _init_worker(threads, verbose)

    def ready(self) -> bool:
        if "error" in _WORKER:
            raise RuntimeError(f"could not build the MTCNN detector: {_WORKER['error']}")
        return True

    def extract(self, task: _Task) -> tuple[str, dict]:
        return _worker_extract(task)


def auto_workers(n_videos: int, cpus: int | None = None) -> int:
    """One process per CPU core (of this machine, or ``cpus`` of a cluster), but no more than one per
    ``VIDEOS_PER_WORKER`` videos: each worker pays a TensorFlow import and an MTCNN build (seconds), which only a
    long enough queue of videos repays."""
    return max(1, min(cpus or os.cpu_count() or 1, -(-n_videos // VIDEOS_PER_WORKER)))


def _run(tasks: list[_Task], workers: int | None, detector: Any, engine: str, address: str | None) -> Iterator:
    """``(key, record)`` as videos finish: on Ray, in-process (one worker, or a given detector) or over a spawn
    pool."""
    if engine == "ray":
        yield from _run_on_ray(tasks, workers, address)
        return
    workers = auto_workers(len(tasks)) if workers is None else workers
    if detector is not None or workers <= 1 or len(tasks) == 1:
        detector = detector if detector is not None else load_detector()
        for task in tasks:
            yield task.key, _extract_and_save(task, detector)
        return
    workers = min(workers, len(tasks))
    threads = max(1, (os.cpu_count() or 1) // workers)
    with mp.get_context("spawn").Pool(
        workers, initializer=_init_worker, initargs=(threads, log.isEnabledFor(logging.INFO))
    ) as pool:
        yield from pool.imap_unordered(_worker_extract, tasks, chunksize=1)


def _run_on_ray(tasks: list[_Task], workers: int | None, address: str | None) -> Iterator[tuple[str, dict]]:
    """One ``PrepareWorker`` actor per worker (default: ``auto_workers`` over the cluster's CPUs), each with the
    threads of its share of the cluster's CPUs; a video whose worker died on every try is skipped, as a video
    whose extraction raised is (not recorded as done: the next run tries it again)."""
    from ltw_tf import cluster

    with cluster.connect(address, verbose=log.isEnabledFor(logging.INFO)) as ray:
        cpus = cluster.cluster_cpus(ray)
        workers = auto_workers(len(tasks), cpus) if workers is None else workers
        threads = max(1, cpus // workers)
        for index, out in cluster.run_on_actors(
            ray, PrepareWorker, (threads, log.isEnabledFor(logging.INFO)), "extract", tasks, workers=workers
        ):
            if isinstance(out, cluster.Failed):
                out = tasks[index].key, {"status": "skipped", "reason": out.reason, "crops": [], "persist": False}
            yield out


# --------------------------------------------------------------------------- the dataset


def _unique(videos: Sequence[Video]) -> dict[str, Video]:
    by_key: dict[str, Video] = {}
    for video in videos:
        key = video_key(video)
        if key in by_key and by_key[key].path != video.path:
            raise ValueError(f"two videos map to {key}: {by_key[key].path} and {video.path}")
        by_key[key] = video
    return by_key


SKIP_FIELDS = ["path", "dataset", "quality", "domain", "video_id", "reason"]


def _other_skips(path: Path, keys: set[str]) -> list[list[str]]:
    """Rows of an existing skip log that belong to videos outside this call (kept, like the manifest's)."""
    if not path.is_file():
        return []
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    return [[r[f] for f in SKIP_FIELDS] for r in rows if video_key(SimpleNamespace(**r)) not in keys]


def _write_skip_log(path: Path, skipped: list[tuple[Video, str]], keys: set[str]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(SKIP_FIELDS)
    writer.writerows(_other_skips(path, keys))
    for video, reason in skipped:
        writer.writerow([video.path, video.dataset, video.quality, video.domain, video.video_id, reason])
    atomic_write_bytes(path, buffer.getvalue().encode("utf-8"))


def _other_faces(out: Path, keys: set[str]) -> list[Face]:
    """Manifest rows of videos outside this call whose crops still exist: preparing another dataset or quality
    into the same folder adds to the manifest instead of replacing it (GCD needs FF++, Celeb-DF and DFDC in one)."""
    if not (out / MANIFEST_NAME).is_file():
        return []
    return [f for f in read_manifest(out) if video_key(f) not in keys and (out / f.path).is_file()]


def prepare(
    videos: Sequence[Video],
    out_dir: str | os.PathLike,
    *,
    root: str | os.PathLike | None = None,
    frames: int = 10,
    margin: int | float = 16,
    size: int = 224,
    min_score: float = MIN_SCORE,
    workers: int | None = None,
    progress: bool = True,
    detector: Any = None,
    engine: str = "local",
    address: str | None = None,
) -> PrepareReport:
    """Extract faces from every video into ``out_dir`` and write its manifest and skip log.

    Args:
        videos: what to extract (a reader's ``list_videos`` output); relative paths are under ``root``.
        frames, margin, size, min_score: the per-video protocol (see ``faces.extract_faces``).
        workers: processes, each with its own MTCNN (spawn; 1 = in this process; None = ``auto_workers``).
        detector: use this detector in this process instead (tests, notebooks); implies ``workers=1``.
        engine: "local" (this machine: in-process or a spawn pool) or "ray" (actors on the Ray cluster at
            ``address``, else ``$RAY_ADDRESS``, else a Ray started for the run; ``ltw_tf.cluster``): the same
            records, crops and manifest either way, since the driver alone writes the manifest and the skip log.
    Finished videos (a done-record with the same settings, crops on disk) are reused, not redone. Holds
    ``out_dir``'s lock throughout (ltw_tf.locking): a second prepare into it raises OutputBusy at once.
    """
    if frames < 1 or size < 1 or (workers is not None and workers < 1):
        raise ValueError(f"frames, size and workers must be >= 1, got {frames}, {size}, {workers}")
    from ltw_tf.cluster import ENGINES, require_ray

    if engine not in ENGINES or (engine == "ray" and detector is not None):
        raise ValueError(f"engine must be 'local' or 'ray' (without a detector of this process), got {engine!r}")
    if engine == "ray":
        require_ray()  # before the lock and any work: the one-line error naming the install
    with OutputLock(out_dir, "prepare"):
        return _prepare(
            videos, Path(out_dir), root, frames, margin, size, min_score, progress, workers, detector, engine, address
        )


def _prepare(
    videos, out, root, frames, margin, size, min_score, progress, workers, detector, engine, address
) -> PrepareReport:
    start = time.perf_counter()
    params = {"frames": int(frames), "margin": check_margin(margin), "size": int(size), "min_score": float(min_score)}
    by_key = _unique(videos)
    records: dict[str, dict] = {}
    tasks = []

    def resolve(path: str) -> str:
        return os.fspath(path if root is None or os.path.isabs(path) else Path(root) / path) if path else ""

    for key, video in by_key.items():
        source, mask_source = resolve(video.path), resolve(video.mask)
        record = _load_record(out, key, params, source, mask_source)
        if record is not None:
            records[key] = record
            continue
        tasks.append(_Task(video, source, key, os.fspath(out), params, mask_source))
    reused = len(records)

    from tqdm import tqdm

    written = extracted = 0
    with tqdm(total=len(by_key), initial=reused, unit="video", desc="faces", disable=not progress) as bar:
        for key, record in _run(tasks, workers, detector, engine, address) if tasks else ():
            records[key] = record
            written += len(record["crops"])
            extracted += record["status"] == "done"
            bar.set_postfix(faces=written, refresh=False)
            bar.update()

    faces, skipped, without_face = [], [], 0
    for key in sorted(by_key):
        video, record = by_key[key], records[key]
        if record["status"] != "done":
            skipped.append((video, record["reason"]))
            continue
        without_face += len(record["missing"])
        faces.extend(
            Face.from_video(video, path=rel, frame=frame, score=score, mask=mask[0] if mask else "")
            for rel, frame, score, *mask in record["crops"]
        )
    keys = set(by_key)
    manifest = write_manifest(out / MANIFEST_NAME, _other_faces(out, keys) + faces)
    _write_skip_log(out / SKIP_LOG, skipped, keys)
    return PrepareReport(
        videos=len(by_key),
        extracted=extracted,
        skipped=len(skipped),
        reused=reused,
        faces=len(faces),
        faces_written=written,
        frames_without_face=without_face,
        seconds=round(time.perf_counter() - start, 3),
        manifest=os.fspath(manifest),
        skip_log=os.fspath(out / SKIP_LOG),
    )


def prepare_dataset(
    dataset: str,
    root: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    qualities: Sequence[str] = ("c23",),
    splits_dir: str | os.PathLike | None = None,
    methods: Sequence[str] | None = None,
    **kwargs: Any,
) -> PrepareReport:
    """List a dataset's videos with its reader (``ltw_tf.data.sources``) and ``prepare`` them."""
    from ltw_tf.data.sources import list_videos

    videos = list_videos(dataset, root, qualities=tuple(qualities), splits_dir=splits_dir, methods=methods)
    if not videos:
        raise ValueError(f"no {dataset} videos found under {root} (qualities {', '.join(qualities)})")
    return prepare(videos, out_dir, root=root, **kwargs)
