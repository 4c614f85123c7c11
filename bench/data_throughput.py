"""Face-extraction throughput of ``prepare`` (decode + MTCNN + crop + PNG), end to end, per worker count.

Builds ``--videos`` synthetic test videos (the cartoon face of tests/test_faces.py, moving a little, mp4v at
``--width`` x ``--height``) or takes every .mp4/.avi under ``--folder``, then runs ``prepare`` on them from scratch
once per ``--workers`` value (fresh output folder each time; detector construction and worker start-up included).
Prints per run the wall time and the CPU time of all processes (on a shared machine, faces per CPU second shows
the cost without other users' load), writes JSON, and prints faces extracted per second (wall) LAST (goal: >= 20
on 2 CPU cores).

Run (from the repo root):
    python bench/data_throughput.py                        # 48 videos, 640x480, 10 frames/video, 224 crops
    python bench/data_throughput.py --folder data/videos --workers 1,2,4
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]
from ltw_tf.native_logs import quiet_tensorflow  # noqa: E402

quiet_tensorflow(verbose=False)  # before TensorFlow: its start-up lines off this terminal

from ltw_tf.data.manifest import Video  # noqa: E402
from ltw_tf.data.prepare import prepare  # noqa: E402
from ltw_tf.machine import cpu_info  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", help="use the videos under this folder instead of building synthetic ones")
    parser.add_argument("--videos", type=int, default=48, help="synthetic videos to build")
    parser.add_argument("--video-frames", type=int, default=30, help="frames per synthetic video")
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--frames", type=int, default=10, help="frames sampled per video (paper: 10)")
    parser.add_argument("--size", type=int, default=224, help="crop size (paper: 224)")
    parser.add_argument("--workers", default="1,2", help="comma-separated worker counts to compare")
    parser.add_argument(
        "--pipeline-root",
        help="also time training epochs (meta-split, paired meta batches) over "
        "this prepared FF++-layout root (manifest.csv)",
    )
    parser.add_argument("--pipeline-images", type=int, default=2000, help="images to decode for the pipeline figure")
    parser.add_argument("--batch-size", type=int, default=25, help="pipeline batch size (paper: 25)")
    parser.add_argument("--json", default="bench/out/data_throughput.json", help="output path ('' to skip)")
    args = parser.parse_args(argv)
    args.workers = [int(w) for w in args.workers.split(",") if w.strip()]
    if not args.workers or min(args.workers) < 1 or args.videos < 1:
        parser.error("need --workers >= 1 and --videos >= 1")
    return args


def build_videos(folder: Path, args: argparse.Namespace) -> list[Video]:
    from test_faces import draw_face, write_video

    scale = min(args.width, args.height) / 240
    videos = []
    for v in range(args.videos):
        frames = [
            draw_face(
                args.height,
                args.width,
                cx=args.width / 2 + scale * (3 * (i % 7) - 9),
                cy=args.height / 2 + scale * (2 * (i % 5) - 4),
                scale=scale,
                seed=1000 * v + i,
            )
            for i in range(args.video_frames)
        ]
        path = write_video(folder / f"{v:03d}.mp4", frames)
        videos.append(Video(str(path), 0, "synthff", "real", "c23", "train", f"{v:03d}", f"{v:03d}"))
    return videos


def folder_videos(folder: Path) -> list[Video]:
    paths = sorted(p for p in folder.rglob("*") if p.suffix.lower() in (".mp4", ".avi"))
    return [Video(str(p), 0, "bench", "real", "", "train", f"{i:05d}", f"{i:05d}") for i, p in enumerate(paths)]


def cpu_seconds() -> float:
    """User + system CPU time of this process and its finished children (the pool's workers)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def time_batches(batches, limit: int) -> dict:
    """Images per second pulled from ``batches`` ((images, labels) or (batch, meta batch) pairs), after one
    warm-up batch, until ``limit`` images (a meta batch's images count too: the step consumes them)."""
    iterator = iter(batches)
    next(iterator)
    images, start = 0, time.perf_counter()
    for item in iterator:
        parts = [item[0]] if not isinstance(item[0], tuple) else [p[0] for p in item if p is not None]
        images += sum(int(p.shape[0]) for p in parts)
        if images >= limit:
            break
    seconds = time.perf_counter() - start
    return {"images": images, "seconds": round(seconds, 3), "images_per_second": round(images / seconds, 1)}


def pipeline_figures(crops_root: Path, args: argparse.Namespace) -> dict:
    """tf.data decode + resize + batch over real crops: evaluation order, and training epochs if asked."""
    import tensorflow as tf

    from ltw_tf.data.manifest import read_manifest
    from ltw_tf.data.pipeline import image_dataset

    faces = read_manifest(crops_root)
    paths = [str(crops_root / f.path) for f in faces]
    repeats = -(-(args.pipeline_images + args.batch_size) // len(paths))
    ds = image_dataset(paths * repeats, [f.label for f in faces] * repeats, args.size, args.batch_size)
    out = {"eval_order": time_batches(ds.prefetch(tf.data.AUTOTUNE), args.pipeline_images)}
    if args.pipeline_root:
        from ltw_tf.benchmarks import get_benchmark, source_faces
        from ltw_tf.data.pipeline import ManifestEpochs
        from ltw_tf.data.source import BatchRequest

        root = Path(args.pipeline_root)
        bench = get_benchmark("gid-fs23")
        source = ManifestEpochs(
            source_faces(bench, read_manifest(root)),
            root,
            bench.sources,
            seed=0,
            batch_size=args.batch_size,
            image_size=args.size,
        )
        out["ltw_epoch"] = time_batches(source.epoch(0, BatchRequest(True, True)).batches, args.pipeline_images)
    return out


def main(argv=None) -> None:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="ltw-bench-") as tmp:
        tmp = Path(tmp)
        start = time.perf_counter()
        if args.folder:
            videos = folder_videos(Path(args.folder))
        else:
            (tmp / "videos").mkdir()
            videos = build_videos(tmp / "videos", args)
        print(f"{len(videos)} videos ready in {time.perf_counter() - start:.1f} s", flush=True)
        runs = []
        for workers in args.workers:
            cpu = cpu_seconds()
            report = prepare(
                videos, tmp / f"out-w{workers}", frames=args.frames, size=args.size, workers=workers, progress=False
            )
            cpu = cpu_seconds() - cpu
            runs.append(
                {
                    "workers": workers,
                    **report.to_dict(),
                    "cpu_seconds": round(cpu, 2),
                    "faces_per_cpu_second": round(report.faces_written / cpu, 2),
                }
            )
            print(
                f"workers={workers}: {report.faces_written} faces from {report.extracted} videos "
                f"({report.skipped} skipped, {report.frames_without_face} frames without a face) in "
                f"{report.seconds:.1f} s wall, {cpu:.1f} CPU s (all processes; {report.faces_written / cpu:.1f} "
                f"faces per CPU second) = {report.faces_per_second:.1f} faces/s",
                flush=True,
            )
        pipeline = pipeline_figures(tmp / f"out-w{args.workers[-1]}", args)
    result = {
        "args": {k: v for k, v in vars(args).items() if k != "json"},
        "runs": runs,
        "pipeline": pipeline,
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "load": os.getloadavg(),
            "cpu_summary": cpu_info()["summary"],
            "cpu_flags": cpu_info()["flags"],
        },
    }
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=2))
    best = max(runs, key=lambda r: r["faces_per_second"])
    print(
        "faces/s: "
        + ", ".join(f"workers={r['workers']} {r['faces_per_second']:.1f}" for r in runs)
        + f" (best {best['faces_per_second']:.1f} with workers={best['workers']})"
    )
    print(
        f"pipeline images/s (decode + resize to {args.size}, batch {args.batch_size}): "
        + ", ".join(f"{name} {r['images_per_second']:.1f}" for name, r in pipeline.items())
    )


if __name__ == "__main__":
    main()
