"""A two-person clip from a synthff tree: a real video and a fake of the same identity side by side (real left,
fake right), written as H.264 mp4 with PyAV, for ``ltw-tf screen``'s every-face screening (docs/SCREENING.md
and README's two-person report figure).

Run (from the repo root):
    python bench/two_people.py demo/synthff 000 two_people.mp4                 # Deepfakes fake of identity 000
    python bench/two_people.py demo/synthff 003 clip.mp4 --family Face2Face --quality c23
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("synth", type=Path, help="a tree made by `ltw-tf synth`")
    parser.add_argument("identity", help="the real video's id, e.g. 000 (the fake is <id>_<source>)")
    parser.add_argument("out", type=Path)
    parser.add_argument("--family", default="Deepfakes")
    parser.add_argument("--quality", default="c23")
    args = parser.parse_args()

    import av
    import numpy as np

    from ltw_tf.data.decode import VideoFrames

    real_path = args.synth / "original_sequences" / "youtube" / args.quality / "videos" / f"{args.identity}.mp4"
    fakes = sorted(
        (args.synth / "manipulated_sequences" / args.family / args.quality / "videos").glob(f"{args.identity}_*.mp4")
    )
    if not real_path.is_file() or not fakes:
        raise SystemExit(f"no real {real_path} or no {args.family} fake of identity {args.identity} in {args.synth}")
    real = [frame for _, frame in VideoFrames(real_path).frames(None)]
    fake = [frame for _, frame in VideoFrames(fakes[0]).frames(None)]
    frames = [np.concatenate([r, f], axis=1) for r, f in zip(real, fake)]
    with av.open(str(args.out), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt = "yuv420p"
        for image in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")))
        container.mux(stream.encode())
    print(f"{args.out}: {len(frames)} frames, real {real_path.name} left, {args.family} {fakes[0].name} right")


if __name__ == "__main__":
    main()
