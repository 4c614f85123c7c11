"""Screening speed before and after a change, side by side in one run: ``bench/screen.py`` run in a git worktree
of an earlier commit (``--before``, default the last commit before every-face screening and the OOD score) and in
this tree, alternately, on the same built clips: one synthff face per frame, and two side by side.

Both runs build their own random-init model the way their code does (before: P(fake) only; now: with the features
output and the OOD score per face) and the same clip files (built once by this tree's ``bench/screen.py``, passed
to both with ``--clip``). Prints the end-to-end time of one clip at ``--frames`` frames and the ``--all`` frames
per second of each, and the ratio now / before, with the CPU model and its vector flags.

Run (from the repo root):
    python bench/screen_compare.py                       # B0 224 px TFLite, 3 repeats, before = edbd3e1
    python bench/screen_compare.py --backbone efficientnet_lite0 --repeats 5
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "bench" / "out"
BEFORE = "edbd3e1"  # decode: one video reader (issue 28's first commits); one face per frame, no OOD score


def _worktree(rev: str) -> Path:
    """A detached worktree of ``rev`` under bench/out (made once; reused while it is at that commit)."""
    commit = subprocess.run(["git", "rev-parse", rev], cwd=REPO, capture_output=True, text=True, check=True)
    commit = commit.stdout.strip()
    path = OUT / f"worktree-{commit[:12]}"
    if not (path / "bench" / "screen.py").is_file():
        OUT.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["git", "worktree", "add", "--detach", str(path), commit], cwd=REPO, check=True, capture_output=True
        )
    return path


def _run(tree: Path, clip: Path, args: argparse.Namespace, out: Path) -> dict:
    command = [
        sys.executable,
        str(tree / "bench" / "screen.py"),
        "--clip",
        str(clip),
        "--backbone",
        args.backbone,
        "--image-size",
        str(args.image_size),
        "--repeats",
        str(args.repeats),
        "--frames",
        str(args.frames),
        "--detect-every",
        str(args.detect_every),
        "--no-all-baseline",
        "--json",
        str(out),
    ]
    subprocess.run(command, cwd=tree, check=True, stdout=subprocess.DEVNULL)
    return json.loads(out.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", default=BEFORE, help=f"the earlier commit (default {BEFORE})")
    parser.add_argument("--backbone", default="efficientnet_b0")
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--frames", type=int, default=10)
    parser.add_argument("--detect-every", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=2, help="before/now alternations per clip (median taken)")
    args = parser.parse_args()

    sys.path[:0] = [str(REPO / "bench"), str(REPO)]
    import statistics

    import screen

    from ltw_tf.machine import cpu_info

    before = _worktree(args.before)
    clips = {
        "1 face": screen.build_clip(OUT / "screen_clip_1280x720.mp4"),
        "2 faces": screen.build_clip(OUT / "screen_clip_1280x720_2people.mp4", people=2),
    }
    end_to_end, all_frames = (
        f"screen {args.frames} frames end to end",
        f"screen --all, MTCNN every {args.detect_every}th frame",
    )
    rows = []
    for label, clip in clips.items():
        runs = {"before": [], "now": []}
        for _ in range(args.rounds):  # alternate, so that load on a shared machine hits both alike
            for name, tree in (("before", before), ("now", REPO)):
                runs[name].append(_run(tree, clip, args, OUT / f"compare_{name}.json")["stages"])
        summary = {}
        for name, stages in runs.items():
            summary[name] = {
                "end_to_end_s": statistics.median(s[end_to_end]["wall"] for s in stages),
                "end_to_end_cpu_s": statistics.median(s[end_to_end]["cpu"] for s in stages),
                "all_fps": statistics.median(s[all_frames]["fps"] for s in stages),
                "faces": stages[-1][end_to_end].get("faces_scored", stages[-1][end_to_end].get("frames_scored")),
            }
        rows.append((label, summary))
    print(f"cpu: {cpu_info()['summary']}")
    print(
        f"model: random-init {args.backbone} {args.image_size} px, TFLite fp32; before = {args.before}, now = this tree"
    )
    print(
        f"{args.rounds} alternations x {args.repeats} repeats (medians); clips 10 s 1280x720 H.264, "
        f"{args.frames} frames\n"
    )
    print(
        "| clip | faces scored (before / now) | one clip, s (before / now, ratio) "
        "| --all frames/s (before / now, ratio) |"
    )
    print("|---|---|---|---|")
    for label, summary in rows:
        b, n = summary["before"], summary["now"]
        print(
            f"| {label} | {b['faces']} / {n['faces']} | {b['end_to_end_s']:.3f} / {n['end_to_end_s']:.3f} "
            f"({n['end_to_end_s'] / b['end_to_end_s']:.2f}) | {b['all_fps']:.1f} / {n['all_fps']:.1f} "
            f"({n['all_fps'] / b['all_fps']:.2f}) |"
        )


if __name__ == "__main__":
    main()
