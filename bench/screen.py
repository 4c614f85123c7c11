"""Screening speed (issue 7): one 10 s 1280x720 H.264 clip screened at 10 frames (decode + detect + classify),
each stage alone, and frames per second with ``--all`` (MTCNN on every k-th frame, boxes interpolated).

The clip is a synthff face (``ltw_tf.data.synth``) rendered at 720x720, widened to 1280x720 and written as H.264
CRF 23 by PyAV (x264 defaults: one keyframe per 250 frames, i.e. the whole clip is one GOP, the worst case for
seeking); it is built once into bench/out/. The detector is random-init (timing does not depend on the weights):
EfficientNet-B0 by default, or ``--backbone tiny``; ``--runner tflite`` converts it once (cached in bench/out/).
Every figure is the median over ``--repeats`` runs after one warm-up run (tracing, first allocations); wall and
CPU seconds (all threads of this process) are both printed: on a shared machine CPU seconds show the cost
without other users' load.

The model has the ``features`` output of an export and the out-of-distribution score is computed per face
(statistics fitted on random images: the timing does not depend on them); ``--people 2`` builds the clip with two
synthff faces side by side (every face is screened). ``bench/screen_compare.py`` runs this script in an earlier
commit's tree and in this one, side by side.

Run (from the repo root):
    python bench/screen.py                                   # B0 224 px, TFLite runner, 3 repeats
    python bench/screen.py --backbone tiny --runner keras
    python bench/screen.py --runner tflite-int8 --keyint 50
    python bench/screen.py --model runs/ltw-b0/export/detector_int8.tflite
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO)]
from ltw_tf.native_logs import quiet_tensorflow  # noqa: E402

quiet_tensorflow(verbose=False)  # before TensorFlow: its start-up lines off this terminal

import numpy as np  # noqa: E402

OUT = REPO / "bench" / "out"


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clip", help="screen this video instead of the built 1280x720 clip")
    parser.add_argument(
        "--people", type=int, choices=(1, 2), default=1, help="faces in the built clip: one, or two side by side"
    )
    parser.add_argument(
        "--keyint",
        type=int,
        help="build the clip with this keyframe interval instead of x264's "
        "250 (e.g. 50: 2 s, typical of phone and streaming video)",
    )
    parser.add_argument("--backbone", default="efficientnet_b0", help="efficientnet_b0 (default) or tiny")
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--runner", choices=("tflite", "tflite-int8", "keras"), default="tflite")
    parser.add_argument("--model", help="time this model (.tflite, SavedModel or run directory) instead")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--frames", type=int, default=10)
    parser.add_argument("--detect-every", type=int, default=5, help="MTCNN stride in the --all measurement")
    parser.add_argument(
        "--no-all-baseline",
        action="store_true",
        help="skip the --all run with MTCNN on every frame (slow; shows what tracking saves)",
    )
    parser.add_argument("--json", default=str(OUT / "screen.json"), help="output path ('' to skip)")
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.frames < 1 or args.detect_every < 1:
        parser.error("--repeats, --frames and --detect-every must be >= 1")
    return args


# --------------------------------------------------------------------------- inputs


def build_clip(
    path: Path, seconds: int = 10, fps: int = 25, width: int = 1280, height: int = 720, people: int = 1
) -> Path:
    """A synthff face talking for ``seconds`` at width x height, H.264 CRF 23 (built once, then reused); with
    ``people=2`` two synthff identities side by side, each rendered width/2 px wide and padded to the height."""
    if path.is_file():
        return path
    from ltw_tf.data.synth.codec import write_video
    from ltw_tf.data.synth.videos import RealVideo, SynthPreset, to_uint8

    print(f"building {path.name} ({seconds} s, {width}x{height}, {people} face(s); once, a minute) ...", flush=True)
    side = height if people == 1 else width // 2
    videos = [
        RealVideo(i, i, SynthPreset("bench", identities=2, frames=seconds * fps, size=side)) for i in range(people)
    ]
    frames = []
    for f in range(seconds * fps):
        row = np.concatenate([to_uint8(video.frame(f).real) for video in videos], axis=1)
        top, left = (height - row.shape[0]) // 2, (width - row.shape[1]) // 2
        pad = ((top, height - row.shape[0] - top), (left, width - row.shape[1] - left), (0, 0))
        frames.append(np.pad(row, pad, mode="edge"))
    path.parent.mkdir(parents=True, exist_ok=True)
    write_video(path, frames, "c23", fps)
    return path


def reencode(source: Path, path: Path, keyint: int) -> Path:
    """``source`` re-encoded (H.264 CRF 23) with a keyframe every ``keyint`` frames (built once)."""
    if path.is_file():
        return path
    import av

    from ltw_tf.data.decode import VideoFrames

    print(f"building {path.name} (keyframe every {keyint} frames; once) ...", flush=True)
    frames = [frame for _, frame in VideoFrames(source).frames()]
    tmp = path.with_name(f".{path.name}.part.mp4")
    with av.open(str(tmp), "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=25, options={"crf": "23", "g": str(keyint)})
        stream.width, stream.height, stream.pix_fmt = frames[0].shape[1], frames[0].shape[0], "yuv420p"
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())
    tmp.replace(path)
    return path


def build_runner(args: argparse.Namespace):
    """A random-init detector (seed 0) as a Keras runner, or converted once to .tflite (fp32, or full int8
    calibrated on 8 random images: uint8 in and out), with the ``features`` output an export has (the
    out-of-distribution score is computed as in a real screen; ``ood_stats``)."""
    import keras

    from ltw_tf.models import build_detector
    from ltw_tf.models.serving import serving_model
    from ltw_tf.screening import KerasRunner, TFLiteRunner, load_runner

    if args.model:
        return load_runner(args.model), args.model
    suffix = "_int8" if args.runner == "tflite-int8" else ""
    tflite = OUT / f"screen_{args.backbone}_{args.image_size}{suffix}_features.tflite"
    if args.runner != "keras" and tflite.is_file():
        return TFLiteRunner(tflite), str(tflite)
    keras.utils.set_random_seed(0)
    model = serving_model(build_detector(args.backbone, args.image_size, weights=None), features=True)
    if args.runner == "keras":
        return KerasRunner(model, f"{args.backbone} (random init, in memory)"), "keras in memory"
    import tempfile

    import tensorflow as tf

    print(f"converting {args.backbone} to {tflite.name} (once) ...", flush=True)
    from export.savedmodel import write_savedmodel

    with tempfile.TemporaryDirectory() as tmp:
        write_savedmodel(model, tmp)  # the export's signature: images -> probability, features
        converter = tf.lite.TFLiteConverter.from_saved_model(tmp)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        if suffix:
            images = np.random.default_rng(0).integers(0, 255, (8, args.image_size, args.image_size, 3), np.uint8)
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
            converter.representative_dataset = lambda: ([images[i : i + 1]] for i in range(len(images)))
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            converter.inference_input_type = converter.inference_output_type = tf.uint8
        tflite.parent.mkdir(parents=True, exist_ok=True)
        tflite.write_bytes(converter.convert())
    return TFLiteRunner(tflite), str(tflite)


def ood_stats(runner):
    """OOD statistics of the runner's features, fitted on random images (the timing of the score does not depend
    on what it was fitted on); None for a model without features."""
    from ltw_tf import ood

    if not runner.has_features:
        return ood.ModelStats(None, "the model has no features output")
    images = np.random.default_rng(1).integers(0, 256, (96, runner.size, runner.size, 3), np.uint8)
    features = np.concatenate([runner.predict_with_features(images[i : i + 32])[1] for i in range(0, 96, 32)])
    # one block of all widths: at least the per-stage arithmetic of an export (W^2 >= sum of w^2)
    widths = [features.shape[1]]
    labels = np.arange(64) % 2
    return ood.ModelStats(ood.fit(features[:64], labels, features[64:], widths))


# --------------------------------------------------------------------------- timing


def timed(fn, repeats: int) -> dict:
    """Median wall and CPU seconds of ``fn()`` over ``repeats`` runs after one warm-up; and the last result."""
    first = time.perf_counter()
    result = fn()
    first = time.perf_counter() - first
    walls, cpus = [], []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        result = fn()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return {
        "first_wall": round(first, 3),
        "wall": round(statistics.median(walls), 3),
        "cpu": round(statistics.median(cpus), 3),
        "walls": [round(w, 3) for w in walls],
        "result": result,
    }


def opencv_seek(path, indices) -> dict:
    """Sampled frames as OpenCV reads them by seeking (the comparison for PyAV's sampled decoding)."""
    import cv2

    capture, frames = cv2.VideoCapture(str(path)), {}
    for index in indices:
        capture.set(cv2.CAP_PROP_POS_FRAMES, index)
        ok, frame = capture.read()
        if ok:
            frames[index] = frame
    capture.release()
    return frames


def main(argv=None) -> None:
    args = parse_args(argv)
    from ltw_tf.data.decode import VideoFrames
    from ltw_tf.data.faces import crop_square, detect_all_faces, load_detector, read_frames, square_box
    from ltw_tf.screening import MediaItem, Screener, ScreenSettings

    name = "screen_clip_1280x720.mp4" if args.people == 1 else "screen_clip_1280x720_2people.mp4"
    clip = Path(args.clip) if args.clip else build_clip(OUT / name, people=args.people)
    if args.keyint and not args.clip:
        clip = reencode(clip, OUT / f"screen_clip_1280x720_g{args.keyint}.mp4", args.keyint)
    runner, model_name = build_runner(args)
    detector = load_detector()
    video = VideoFrames(clip)
    n_frames, indices = video.n_frames, ScreenSettings(frames=args.frames).indices(video.n_frames)
    frames = dict(video.frames(indices))
    decoded = video.decoded
    found = detect_all_faces(detector, list(frames.values()))
    crops = np.stack(
        [crop_square(frames[i], square_box(box, 16), runner.size) for i, f in zip(frames, found) for box, _ in f.faces]
    )
    item = MediaItem(str(clip), "video")
    stats = ood_stats(runner)
    sampled = Screener(runner, ScreenSettings(frames=args.frames), detector=detector, ood=stats)
    tracked = Screener(
        runner, ScreenSettings(all_frames=True, detect_every=args.detect_every), detector=detector, ood=stats
    )
    every = Screener(runner, ScreenSettings(all_frames=True, detect_every=1), detector=detector, ood=stats)
    height, width = next(iter(frames.values())).shape[:2]
    load = os.getloadavg()

    stages = {
        "decode (OpenCV seeking: prepare's reader before issue 28)": lambda: opencv_seek(clip, indices),
        "decode (read_frames, prepare's reader: PyAV)": lambda: read_frames(clip, args.frames),
        f"decode (PyAV: {decoded} of {video.n_frames} frames decoded)": lambda: dict(video.frames(indices)),
        f"detect (MTCNN, {len(frames)} frames batched)": lambda: detect_all_faces(detector, list(frames.values())),
        f"classify ({len(crops)} crops, {runner.kind})": lambda: runner.predict(crops),
        f"screen {args.frames} frames end to end": lambda: sampled.screen(item),
        f"screen --all, MTCNN every {args.detect_every}th frame": lambda: tracked.screen(item),
    }
    rows = {}
    for name, fn in stages.items():
        rows[name] = timed(fn, args.repeats)
        print(f"  {name}: {rows[name]['wall']:.3f} s wall, {rows[name]['cpu']:.3f} s CPU", flush=True)
    if not args.no_all_baseline:
        name = "screen --all, MTCNN every frame (no tracking)"
        rows[name] = timed(lambda: every.screen(item), 1)
        print(f"  {name}: {rows[name]['wall']:.3f} s wall", flush=True)

    for name, row in rows.items():
        result = row.pop("result")
        if hasattr(result, "error"):
            assert result.error is None, result.error
            row["faces_scored"] = len(result.frames)
            row["people"] = len(result.tracks)
            row["ood_check"] = result.ood_note or "on"
            row["frames_without_face"] = len(result.no_face)
            if "--all" in name:
                frames_seen = len({f.frame for f in result.frames})
                row["fps"] = round(frames_seen / row["wall"], 1)
                row["fps_per_cpu_second"] = round(frames_seen / row["cpu"], 1)

    from ltw_tf.machine import cpu_info

    cpu = cpu_info()
    described = model_name if args.model else f"{args.backbone} {args.image_size}px ({model_name})"
    print(f"\ncpu: {cpu['summary']}")
    print(
        f"\nclip: {clip.name} {width}x{height}, {n_frames} frames; model: {described}; "
        f"load average before: {load[0]:.1f} on {os.cpu_count()} CPUs"
    )
    print(f"{'stage':<52} {'wall s':>8} {'CPU s':>8} {'first s':>8} {'fps':>7} {'fps/CPU':>8}")
    for name, row in rows.items():
        fps = (f"{row['fps']:>7.1f} {row['fps_per_cpu_second']:>8.1f}") if "fps" in row else ""
        print(f"{name:<52} {row['wall']:>8.3f} {row['cpu']:>8.3f} {row['first_wall']:>8.3f} {fps}")
    end_to_end = rows[f"screen {args.frames} frames end to end"]
    all_frames = rows[f"screen --all, MTCNN every {args.detect_every}th frame"]
    print(
        f"\none clip at {args.frames} frames: {end_to_end['wall']:.3f} s wall, {end_to_end['cpu']:.3f} s CPU "
        f"(goal <= 1.0 s); --all: {all_frames['fps']:.1f} frames/s, "
        f"{all_frames['fps_per_cpu_second']:.1f} frames per CPU second (goal >= 25 frames/s)"
    )

    result = {
        "args": {k: v for k, v in vars(args).items() if k != "json"},
        "clip": str(clip),
        "clip_frames": n_frames,
        "frames_decoded_for_sampling": decoded,
        "clip_size": [width, height],
        "model": model_name,
        "stages": rows,
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "processor": platform.processor(),
            "cpu": cpu["model"],
            "cpu_flags": cpu["flags"],
            "cpu_summary": cpu["summary"],
            "load_before": load,
            "load_after": os.getloadavg(),
        },
    }
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
