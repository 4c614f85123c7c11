"""Memory of a long screen: a 10-minute 1280x720 H.264 clip screened with ``--all`` (every frame, MTCNN on every
5th, boxes tracked in between), the process's resident set size (VmRSS) sampled every second.

Flat memory means: frames are decoded, cropped, scored and dropped as they go (``VideoFrames`` decodes forward,
``track_faces`` holds at most ``TRACK_BATCH`` frames, results keep numbers, not pixels). The figure is RSS at 10 %,
25 %, 50 %, 75 % and 100 % of the screening time and its growth from 25 % to the end, in MB per minute of video.

The clip is the 10 s synthff clip of ``bench/screen.py`` looped to ``--minutes`` and re-encoded once (bench/out/).
The model: ``bench/screen.py``'s random-init detector with the features output, as .tflite, the OOD score on.

Run (from the repo root):
    python bench/screen_memory.py                       # 10 minutes, B0 224 px
    python bench/screen_memory.py --minutes 1 --backbone efficientnet_lite0
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "bench"), str(REPO)]
from ltw_tf.native_logs import quiet_tensorflow  # noqa: E402

quiet_tensorflow(verbose=False)

import numpy as np  # noqa: E402

OUT = REPO / "bench" / "out"


def rss_mb() -> float:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def long_clip(seconds: int, source: Path | None = None) -> Path:
    """``source`` (default: the 10 s bench clip) looped to ``seconds`` seconds, H.264 CRF 23, 25 fps, beside
    it (built once)."""
    import av
    import screen

    from ltw_tf.data.decode import VideoFrames

    source = source or screen.build_clip(OUT / "screen_clip_1280x720.mp4")
    path = source.with_name(f"{source.stem}_long_{seconds}s.mp4")
    if path.is_file():
        return path
    frames = [frame for _, frame in VideoFrames(source).frames()]
    total = seconds * 25
    print(f"building {path.name} ({total} frames; once, a few minutes) ...", flush=True)
    tmp = path.with_name(f".{path.name}.part.mp4")
    with av.open(str(tmp), "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=25, options={"crf": "23"})
        stream.width, stream.height, stream.pix_fmt = frames[0].shape[1], frames[0].shape[0], "yuv420p"
        for i in range(total):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frames[i % len(frames)], format="rgb24")))
        container.mux(stream.encode())
    tmp.replace(path)
    return path


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--clip", type=Path, help="loop this clip instead of bench/screen.py's 1280x720 one")
    parser.add_argument("--backbone", default="efficientnet_b0")
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--detect-every", type=int, default=5)
    parser.add_argument("--json", default=str(OUT / "screen_memory.json"), help="output path ('' to skip)")
    parser.add_argument("--runner", choices=("tflite", "keras"), default="tflite")
    args = parser.parse_args(argv)

    import screen

    from ltw_tf.data.faces import load_detector
    from ltw_tf.machine import cpu_info
    from ltw_tf.screening import MediaItem, Screener, ScreenSettings

    clip = long_clip(max(1, round(60 * args.minutes)), args.clip)
    model_args = ["--backbone", args.backbone, "--image-size", str(args.image_size), "--runner", args.runner]
    runner, model_name = screen.build_runner(screen.parse_args(model_args))
    settings = ScreenSettings(all_frames=True, detect_every=args.detect_every)
    screener = Screener(runner, settings, detector=load_detector(), ood=screen.ood_stats(runner))
    samples: list[tuple[float, float]] = []
    done = threading.Event()

    def sample():
        start = time.perf_counter()
        while not done.is_set():
            samples.append((time.perf_counter() - start, rss_mb()))
            done.wait(1.0)

    before = rss_mb()
    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    start = time.perf_counter()
    result = screener.screen(MediaItem(str(clip), "video"))
    wall = time.perf_counter() - start
    done.set()
    thread.join()
    assert result.error is None, result.error
    times, rss = np.array([t for t, _ in samples]), np.array([r for _, r in samples])
    at = {q: float(rss[min(len(rss) - 1, int(np.searchsorted(times, q * wall)))]) for q in (0.1, 0.25, 0.5, 0.75, 1.0)}
    growth = (at[1.0] - at[0.25]) / (0.75 * args.minutes)
    frames = len({f.frame for f in result.frames})
    cpu = cpu_info()["summary"]
    print(f"cpu: {cpu}")
    print(f"clip: {clip.name}, {result.n_frames} frames; model {model_name}; --all, MTCNN every {args.detect_every}th")
    print(f"screened {frames} frames in {wall:.0f} s ({frames / wall:.1f} frames/s); RSS before {before:.0f} MB")
    print("RSS at " + ", ".join(f"{int(100 * q)} %: {v:.0f} MB" for q, v in at.items()) + f"; max {rss.max():.0f} MB")
    print(f"growth from 25 % to the end: {growth:+.1f} MB per minute of video")
    if args.json:
        payload = {
            "args": {k: str(v) for k, v in vars(args).items()},
            "clip": str(clip),
            "frames": frames,
            "wall_s": wall,
            "rss_before_mb": before,
            "rss_at": at,
            "rss_max_mb": float(rss.max()),
            "growth_mb_per_video_minute": growth,
            "cpu": cpu,
            "samples": samples,
        }
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(payload))


if __name__ == "__main__":
    main()
