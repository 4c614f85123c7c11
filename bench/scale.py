"""Scale-out of the data side (issue 32): faces/s of ``prepare`` and items/s of ``screen``, the local engine
against the Ray engine, at 1 and 2 workers, side by side in one run.

The corpus is ``bench/data_throughput.py``'s: ``--videos`` synthetic test videos (the cartoon face of
tests/test_faces.py, mp4v, ``--width`` x ``--height``). The Ray cluster is started once, before any timing, as
``ray start --head`` and ``ray start --address`` would start it: ``--nodes`` nodes (default 2) of ``cpu_count //
nodes`` CPUs each, every one on 127.0.0.1 (``ray.cluster_utils.Cluster``). Each timed run is one command's work
as the CLI does it, in a fresh process (as a user's ``ltw-tf prepare`` is: nothing warm from an earlier run, since
TensorFlow's traced functions and kernel caches persist within a process and would flatter a second in-process
run): for ``prepare`` the library call ``prepare(..., engine=...)`` into a fresh folder; for ``screen`` the local
loop (``load_runner`` + ``Screener`` + ``screen_items``) or ``screen_items_on_ray``. The child times that call
(its own module imports are left out; the imports the call triggers, TensorFlow's or Ray's, are counted, as a
command pays them), so a run's wall time includes what the command pays every
time: connecting to the cluster and starting the actors (each importing TensorFlow and building its MTCNN, and
for ``screen`` loading its model) or, locally, building the detector in the process (1 worker) or starting the
spawn pool's workers.

Each configuration runs twice per repeat: on the first ``--small`` videos and on all of them. The difference
(faces or items of the big run minus the small one, over the difference of their wall times) is the rate a
command keeps once it has started, what a corpus of DFDC's size sees; the small run's wall time minus its share of
that rate is the command's start-up (actors, or pool, ready). Both are reported, and the end-to-end rate of the big
run beside them: on a small corpus the start-up decides.

Equal workers means equal CPUs in use: ``prepare`` local with N pool processes against N Ray actors; ``screen``
locally is one process on every core (TensorFlow's threads), set against one Ray actor with as many threads (the
same work in another process) and, beside it, 2 actors of one thread each (no local counterpart: the local
``screen`` has no pool). The runs are interleaved (local, Ray; the order swapped every repeat) and the median of
``--repeats`` is reported. Ray's overhead = local rate / Ray rate - 1 at equal workers, for the kept rate (goal
<= 15 %) and end to end.

The classifier is ``bench/screen.py``'s: a random-init EfficientNet-B0 at 224 px converted once to TFLite fp32
(cached in bench/out/; timing does not depend on its weights), or ``--model``. A bare .tflite has no OOD
statistics, so no OOD score is computed; the same holds for both engines.

Run (from the repo root):
    python bench/scale.py                       # 96 videos 640x480, 10 frames each, 224 px crops, 3 repeats
    python bench/scale.py --videos 192 --repeats 5   # docs/DESIGN.md's figures (about 30 minutes on 2 cores)
    python bench/scale.py --videos 12 --repeats 1 --size 64 --backbone tiny   # a quick look
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "bench"), str(REPO / "tests")]
from ltw_tf.native_logs import quiet_tensorflow  # noqa: E402

quiet_tensorflow(verbose=False)  # before TensorFlow: its start-up lines off this terminal

from ltw_tf.data.prepare import prepare  # noqa: E402
from ltw_tf.machine import cpu_info, cpu_summary  # noqa: E402

GOAL = 0.15  # Ray's overhead at equal workers
DFDC_VIDEOS, DFDC_GB = 119_154, 470  # the DFDC training set (issue 32's figures)
OUT = REPO / "bench" / "out"


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=96, help="synthetic videos to build")
    parser.add_argument("--small", type=int, default=8, help="videos of the small run (start-up + a few videos)")
    parser.add_argument("--video-frames", type=int, default=30, help="frames per synthetic video")
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--frames", type=int, default=10, help="frames sampled per video, prepare and screen")
    parser.add_argument("--size", type=int, default=224, help="prepare's crop size (paper: 224)")
    parser.add_argument("--workers", default="1,2", help="comma-separated worker counts to compare")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each configuration (median)")
    parser.add_argument("--nodes", type=int, default=2, help="Ray nodes on this machine (CPUs split between them)")
    parser.add_argument("--backbone", default="efficientnet_b0", help="screen's classifier: efficientnet_b0 or tiny")
    parser.add_argument("--image-size", type=int, default=224, help="screen's classifier input size")
    parser.add_argument("--model", help="screen with this model (.tflite, SavedModel, export or run directory)")
    parser.add_argument("--no-screen", action="store_true", help="time prepare only")
    parser.add_argument("--no-dfdc", action="store_true", help="skip the DFDC-shaped clip (1080p, 300 frames)")
    parser.add_argument("--json", default=str(OUT / "scale.json"), help="output path ('' to skip)")
    args = parser.parse_args(argv)
    args.workers = [int(w) for w in args.workers.split(",") if w.strip()]
    cpus = os.cpu_count() or 1
    if not args.workers or min(args.workers) < 1 or args.repeats < 1 or not 1 <= args.small < args.videos:
        parser.error("need --workers >= 1, --repeats >= 1 and 1 <= --small < --videos")
    if not 1 <= args.nodes <= cpus or max(args.workers) > cpus:
        parser.error(f"need 1 <= --nodes <= {cpus} and --workers <= {cpus} (this machine's CPUs)")
    args.runner = "tflite"  # bench/screen.py's build_runner reads these two
    return args


# --------------------------------------------------------------------------- set-up (not timed)


def start_cluster(nodes: int):
    """``nodes`` Ray nodes sharing this machine's CPUs, on 127.0.0.1 only (stopped by the caller)."""
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"  # else Ray swaps 127.0.0.1 for the interface address
    from ray.cluster_utils import Cluster

    node = {"num_cpus": (os.cpu_count() or 1) // nodes, "node_ip_address": "127.0.0.1"}
    cluster = Cluster(initialize_head=True, head_node_args={**node, "include_dashboard": False})
    for _ in range(nodes - 1):
        cluster.add_node(**node)
    cluster.wait_for_nodes()
    return cluster


def screen_model(args: argparse.Namespace) -> str:
    """A model path every actor can load: ``--model``, or bench/screen.py's cached TFLite classifier."""
    if args.model:
        return args.model
    import screen as screen_bench  # bench/screen.py

    _, path = screen_bench.build_runner(args)
    return path


# --------------------------------------------------------------------------- timed runs


def timed_command(spec: dict) -> dict:
    """One command's work in a fresh process, as a user's ``ltw-tf prepare`` or ``ltw-tf screen`` would run it
    (nothing warm from an earlier run: TensorFlow's traced functions and kernel caches start empty); the child
    times the library call itself (the child's module imports left out; what the call imports lazily counted)."""
    done = subprocess.run(
        [sys.executable, __file__, "--child", json.dumps(spec)], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"{spec['task']} {spec['engine']} failed: {done.stderr.strip()[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def build_dfdc_clip(path: Path) -> Path:
    """A clip shaped like a DFDC video (10 s, 1920x1080, 30 fps, H.264 CRF 23 with x264's defaults: a keyframe at
    most every 250 frames, plus scene cuts) of the cartoon face; built once (a minute), cached in bench/out/."""
    if path.is_file():
        return path
    import av
    import cv2
    from test_faces import draw_face

    print(f"building {path.name} (1920x1080, 300 frames, H.264; once) ...", flush=True)
    part = path.with_name(f".{path.name}.part.mp4")
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(part), "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=30, options={"crf": "23"})
        stream.width, stream.height, stream.pix_fmt = 1920, 1080, "yuv420p"
        for i in range(300):
            bgr = draw_face(1080, 1920, cx=960 + 7 * (i % 7) - 21, cy=540 + 5 * (i % 5) - 10, scale=2.5, seed=i)
            frame = av.VideoFrame.from_ndarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    part.replace(path)
    return path


def stages(spec: dict) -> dict:
    """Where one video's time goes in one worker of one thread (prepare's steps, each timed alone; median of
    ``repeats`` after a warm-up): decoding the sampled frames, MTCNN on them, and cropping + PNG encoding."""
    import cv2
    import tensorflow as tf

    from ltw_tf.data.faces import crop_square, detect_best_faces, load_detector, read_frames, square_box

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    cv2.setNumThreads(1)
    detector = load_detector()
    times = {"decode": [], "mtcnn": [], "crop_png": []}
    for repeat in range(spec["repeats"] + 1):
        start = time.perf_counter()
        _, images = read_frames(spec["path"], spec["frames"])
        decoded = time.perf_counter()
        found = detect_best_faces(detector, list(images.values()))
        detected = time.perf_counter()
        for image, face in zip(images.values(), found):
            if face is not None:
                crop = crop_square(image, square_box(face[0], 16), spec["size"])
                cv2.imencode(".png", cv2.cvtColor(crop, cv2.COLOR_RGB2BGR))
        if repeat:  # the first is the warm-up (tracing)
            times["decode"].append(decoded - start)
            times["mtcnn"].append(detected - decoded)
            times["crop_png"].append(time.perf_counter() - detected)
    return {
        "path": spec["path"],
        "faces": sum(f is not None for f in found),
        **{k: round(statistics.median(v), 4) for k, v in times.items()},
        "total": round(sum(statistics.median(v) for v in times.values()), 4),
    }


def child(spec: dict) -> dict:
    """``timed_command``'s child: the CLI's library calls for one task and engine."""
    from ltw_tf.data.manifest import Video

    if spec["task"] == "stages":
        return stages(spec)
    from ltw_tf import screening

    paths = spec["paths"]
    address = spec["address"]
    start = time.perf_counter()
    if spec["task"] == "prepare":
        videos = [Video(p, 0, "synthff", "real", "c23", "train", Path(p).stem, Path(p).stem) for p in paths]
        report = prepare(
            videos,
            spec["out"],
            frames=spec["frames"],
            size=spec["size"],
            workers=spec["workers"],
            progress=False,
            engine=spec["engine"],
            address=address,
        )
        return {"wall": time.perf_counter() - start, "faces": report.faces_written, "items": len(paths)}
    settings, items = screening.ScreenSettings(frames=spec["frames"]), screening.find_media(paths)
    if spec["engine"] == "ray":
        results = list(
            screening.screen_items_on_ray(spec["model"], settings, items, workers=spec["workers"], address=address)
        )
    else:  # cli/screen.py's local path
        screener = screening.Screener(screening.load_runner(spec["model"]), settings)
        results = list(screening.screen_items(screener, items))
    wall = time.perf_counter() - start
    errors = [r.error for r in results if r.error]
    if errors:
        raise RuntimeError(f"{len(errors)} items failed, e.g. {errors[0]}")
    return {"wall": wall, "faces": sum(len(r.frames) for r in results), "items": len(results)}


def summarise(small: list[dict], big: list[dict], unit: str) -> dict:
    """Medians over the repeats: the big run's end-to-end rate, the kept rate (big minus small) and the start-up."""
    wall_small, wall_big = (statistics.median(r["wall"] for r in runs) for runs in (small, big))
    done_small, done_big = small[0][unit], big[0][unit]  # the same every repeat
    # None: the big run was not slower than the small one (noise above the signal: use more --videos)
    kept = (done_big - done_small) / (wall_big - wall_small) if wall_big > wall_small else None
    return {
        "walls_small": [round(r["wall"], 3) for r in small],
        "walls_big": [round(r["wall"], 3) for r in big],
        unit: done_big,
        f"{unit}_small": done_small,
        "end_to_end": round(done_big / wall_big, 3),
        "kept": round(kept, 3) if kept else None,
        "start_up_seconds": round(wall_small - done_small / kept, 2) if kept else None,
    }


def configurations(args) -> list[tuple[str, str, int]]:
    """(task, engine, workers) in the order measured: local and Ray next to each other at each worker count."""
    out = [("prepare", engine, w) for w in args.workers for engine in ("local", "ray")]
    if not args.no_screen:
        out += [("screen", "local", 1), ("screen", "ray", 1)] + [("screen", "ray", w) for w in args.workers if w > 1]
    return out


def interleaved(configs: list, repeat: int) -> list:
    """``configs`` as measured in this repeat: on odd repeats each (local, Ray) pair runs Ray first, so neither
    engine always meets the warmer machine."""
    if repeat % 2 == 0:
        return configs
    pairs = len(configs) // 2 * 2
    return [c for pair in zip(configs[1:pairs:2], configs[0:pairs:2]) for c in pair] + configs[pairs:]


def stage_split(path: str | Path, args) -> dict:
    return timed_command(
        {"task": "stages", "engine": "local", "path": str(path), "frames": args.frames, "size": args.size, "repeats": 3}
    )


def dfdc_estimate(rows: list[dict], split: dict, args) -> dict | None:
    """Hours for DFDC on 1, 8 and 64 nodes like this one: the Ray prepare rate of the most workers measured here,
    in videos/s, scaled by the one-thread cost of a bench video over a DFDC-shaped clip's (decode grows with the
    pixels and the frames decoded, MTCNN runs on frames scaled to the same sides); per-video cost only: the
    driver and storage are assumed not to bound it (the MB/s printed is what storage must then deliver)."""
    ray_rows = [r for r in rows if r["task"] == "prepare" and r["engine"] == "ray" and r["kept"]]
    if not ray_rows:
        return None
    best = max(ray_rows, key=lambda r: r["workers"])
    bench_videos_per_second = best["kept"] / (best["faces"] / args.videos)  # kept faces/s over faces per video
    ratio = split["bench video"]["total"] / split["DFDC-shaped clip"]["total"]
    node = bench_videos_per_second * ratio
    hours = []
    for nodes in (1, 8, 64):
        seconds = DFDC_VIDEOS / (node * nodes)
        hours.append((nodes, seconds / 3600, DFDC_GB * 1000 / seconds))
    return {
        "node_videos_per_second": node,
        "basis": f"Ray, {best['workers']} workers: {bench_videos_per_second:.2f} bench videos/s x {ratio:.3f}",
        "hours": hours,
    }


def main(argv=None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        print(json.dumps(child(json.loads(argv[1]))))
        return
    args = parse_args(argv)
    machine = cpu_summary(cpu_info())
    onednn = os.environ.get("TF_ENABLE_ONEDNN_OPTS", "TensorFlow's default")
    print(f"cpu: {machine}; TF_ENABLE_ONEDNN_OPTS={onednn}", flush=True)
    from data_throughput import build_videos  # bench/data_throughput.py's corpus

    with tempfile.TemporaryDirectory(prefix="ltw-scale-") as tmp:
        tmp = Path(tmp)
        (tmp / "videos").mkdir()
        videos = build_videos(tmp / "videos", args)
        corpora = {"small": videos[: args.small], "big": videos}
        model = None if args.no_screen else screen_model(args)
        cluster = start_cluster(args.nodes)
        print(
            f"{len(videos)} videos {args.width}x{args.height} (small run: {args.small}), {args.frames} frames each; "
            f"Ray: {args.nodes} nodes on 127.0.0.1 at {cluster.address}; screen model {model}",
            flush=True,
        )
        configs = configurations(args)
        timed: dict[tuple, list[dict]] = {(*c, size): [] for c in configs for size in corpora}
        try:
            for repeat in range(args.repeats):
                for task, engine, workers in interleaved(configs, repeat):
                    address = cluster.address if engine == "ray" else None
                    for size, corpus in corpora.items():
                        spec = {
                            "task": task,
                            "engine": engine,
                            "workers": workers,
                            "address": address,
                            "paths": [v.path for v in corpus],
                            "out": str(tmp / f"out-{task}-{engine}-{workers}-{size}-{repeat}"),
                            "frames": args.frames,
                            "size": args.size,
                            "model": model,
                        }
                        run = timed_command(spec)
                        timed[(task, engine, workers, size)].append(run)
                        print(
                            f"  repeat {repeat + 1}: {task:7s} {engine:5s} workers={workers} {size:5s}: "
                            f"{run['wall']:6.2f} s, {run['faces']} faces, {run['items']} items",
                            flush=True,
                        )
        finally:
            cluster.shutdown()
        split = {"bench video": stage_split(videos[0].path, args)}
        if not args.no_dfdc:
            split["DFDC-shaped clip"] = stage_split(build_dfdc_clip(OUT / "scale_dfdc_1920x1080.mp4"), args)
    units = {"prepare": "faces", "screen": "items"}
    summary = {c: summarise(timed[(*c, "small")], timed[(*c, "big")], units[c[0]]) for c in configs}
    print(f"\n{machine}; TF_ENABLE_ONEDNN_OPTS={onednn}; median of {args.repeats}; {len(videos)} videos")
    header = ("task", "workers", "engine", "kept /s", "end-to-end /s", "start-up s", "overhead kept", "end-to-end")
    print(f"{header[0]:8s}{header[1]:>8s}  {header[2]:6s}" + "".join(f"{h:>15s}" for h in header[3:]))
    rows, overheads = [], []
    for task, engine, workers in configs:
        row = {"task": task, "engine": engine, "workers": workers, **summary[(task, engine, workers)]}
        local = summary.get((task, "local", workers))
        cell = lambda value, form: f"{value:{form}}" if value is not None else f"{'noise':>15s}"  # noqa: E731
        cells = [cell(row["kept"], "15.2f"), cell(row["end_to_end"], "15.2f"), cell(row["start_up_seconds"], "15.1f")]
        if engine == "ray" and local:
            both = local["kept"] and row["kept"]
            row["overhead_kept"] = local["kept"] / row["kept"] - 1 if both else None
            row["overhead_end_to_end"] = local["end_to_end"] / row["end_to_end"] - 1
            overheads.append(row["overhead_kept"])
            cells += [cell(row["overhead_kept"], "+15.1%"), cell(row["overhead_end_to_end"], "+15.1%")]
        elif engine == "ray":
            cells.append(f"{'(no local)':>15s}")
        rows.append(row)
        print(f"{task:8s}{workers:8d}  {engine:6s}" + "".join(cells) + f"  {units[task]}/s")
    print(f"\nwhere one video's time goes (one process, one thread; median of 3): {args.frames} sampled frames")
    for name, t in split.items():
        shares = ", ".join(f"{k} {t[k]:.3f} s ({t[k] / t['total']:.0%})" for k in ("decode", "mtcnn", "crop_png"))
        print(f"  {name}: {t['total']:.3f} s = {shares}; {t['faces']} faces")
    estimate = dfdc_estimate(rows, split, args) if "DFDC-shaped clip" in split else None
    if estimate:
        print(
            f"\nDFDC ({DFDC_VIDEOS} videos, {DFDC_GB} GB) with prepare --engine ray, nodes like this one "
            f"({estimate['node_videos_per_second']:.2f} DFDC-shaped videos/s each; {estimate['basis']}):"
        )
        for nodes, hours, read in estimate["hours"]:
            print(f"  {nodes:3d} nodes: {hours:6.1f} h, reading {read:6.1f} MB/s from shared storage")
    result = {
        "args": {k: v for k, v in vars(args).items() if k != "json"},
        "model": model,
        "rows": rows,
        "stages": split,
        "dfdc_estimate": estimate,
        "machine": {
            "cpu_summary": machine,
            "onednn": onednn,
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "load_after": os.getloadavg(),
            "cpu_flags": cpu_info()["flags"],
        },
    }
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        part = Path(args.json).with_suffix(".json.part")
        part.write_text(json.dumps(result, indent=2))
        part.replace(args.json)
    if None in overheads:
        print(
            "Ray overhead at equal workers: not measured (a big run was not slower than its small run: noise; "
            "use more --videos)"
        )
        return
    worst = max(overheads)
    verdict = "within" if worst <= GOAL else "ABOVE"
    print(f"Ray overhead at equal workers, kept rate: worst {worst:+.1%} ({verdict} the {GOAL:.0%} goal)")


if __name__ == "__main__":
    main()
