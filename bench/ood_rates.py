"""How often the out-of-distribution check (ltw_tf.ood) flags faces, for one model: on its own test split (each
source family and the reals), on the held-out family, and on real photographs (scikit-image's ``astronaut``
as a JPEG, mirrored, downscaled, and as 2 s videos: mp4, webm VP9, a portrait .mov with a 90-degree display
rotation).

Manifest faces go through the model as training prepared them (``uint8_batches``); the photographs go through
``ltw-tf screen``'s own path (decode, MTCNN, crop). A face is flagged when its score is > 1 (beyond the 99th
percentile of the model's val faces). Prints a markdown table and the machine; ``--json`` for the figures.
``--last-stage-only`` refits the statistics on the last stage alone (the pooled features the logit reads, the
usual single-layer Mahalanobis) from the same faces, to compare with the every-stage score ltw-tf uses;
``--each-stage`` refits on every stage alone in turn and prints one row per stage (manifest sets and photographs
pooled: flag rate and median score).

Run (from the repo root), e.g. on the demo's export:
    python bench/ood_rates.py demo/export/gid-fs23-ltw-s0-XXXX/detector_fp32.tflite
    python bench/ood_rates.py demo/runs/gid-fs23-ltw-s0-XXXX          (a run directory: fitted from its data root)
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]
from ltw_tf.native_logs import quiet_tensorflow  # noqa: E402

quiet_tensorflow(verbose=False)

import numpy as np  # noqa: E402


def _photographs(folder: Path) -> list[Path]:
    import cv2
    from skimage import data
    from test_real_media import astronaut_frames, write_media

    photo = data.astronaut()
    variants = {
        "astronaut.jpg": photo,
        "astronaut_mirrored.jpg": photo[:, ::-1],
        "astronaut_256.jpg": cv2.resize(photo, (256, 256), interpolation=cv2.INTER_AREA),
    }
    for name, image in variants.items():
        cv2.imwrite(str(folder / name), cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2BGR))
    frames = astronaut_frames(20)
    write_media(folder / "astronaut.mp4", frames)
    write_media(folder / "astronaut.webm", frames, codec="libvpx-vp9")
    write_media(folder / "astronaut_portrait.mov", frames, rotation=90)
    return [folder / name for name in [*variants, "astronaut.mp4", "astronaut.webm", "astronaut_portrait.mov"]]


def _manifest_rows(runner, stats, root: Path, benchmark: str) -> list[dict]:
    from ltw_tf.benchmarks import get_benchmark, source_faces, target_faces
    from ltw_tf.data.manifest import read_manifest
    from ltw_tf.data.pipeline import uint8_batches

    bench, faces = get_benchmark(benchmark), read_manifest(root)
    groups: dict[str, list] = {}
    for face in source_faces(bench, faces, "test"):
        groups.setdefault(f"test split, {face.domain}", []).append(face)
    for name, chosen in target_faces(bench, faces, "test").items():
        groups[f"test split, {name} (held out)"] = [f for f in chosen if f.label == 1]
    rows = []
    for name, chosen in groups.items():
        scores = []
        for images, _ in uint8_batches(chosen, root, runner.size):
            scores.append(stats.score(runner.predict_with_features(images)[1]))
        scores = np.concatenate(scores)
        rows.append(
            {
                "set": name,
                "faces": len(scores),
                "flagged": float(np.mean(scores > 1.0)),
                "median": float(np.median(scores)),
            }
        )
    return rows


class OneStage:
    """A runner whose features are one stage's block only (``--last-stage-only``, ``--each-stage``)."""

    def __init__(self, runner, widths, stage: int):
        self.runner, self.width = runner, int(widths[stage])
        self.start = int(sum(widths[:stage]) if stage >= 0 else sum(widths) - self.width)
        self.size, self.kind, self.trained_on, self.has_features = runner.size, runner.kind, runner.trained_on, True

    def predict_with_features(self, images):
        probabilities, features = self.runner.predict_with_features(images)
        return probabilities, features[:, self.start : self.start + self.width]


def _photograph_rows(runner, found, folder: Path) -> list[dict]:
    from ltw_tf.screening import Screener, ScreenSettings, find_media

    screener, rows = Screener(runner, ScreenSettings(), ood=found), []
    for item in find_media(_photographs(folder)):
        result = screener.screen(item)
        scores = np.array([f.ood for f in result.frames])
        rows.append(
            {
                "set": f"real photograph: {Path(item.path).name}",
                "faces": len(scores),
                "flagged": float(np.mean(scores > 1.0)) if len(scores) else None,
                "median": float(np.median(scores)) if len(scores) else None,
                "scores": scores.tolist(),
                "verdict": result.verdict,
                "p_fake": result.score,
            }
        )
    return rows


def _each_stage(runner, found, root: Path, benchmark: str) -> None:
    from ltw_tf import ood

    print("| stage | width | synthff test faces flagged | real-photograph faces flagged | their median score |")
    print("|---:|---:|---:|---:|---:|")
    widths = found.stats.widths
    for stage in range(len(widths)):
        one = OneStage(runner, widths, stage)
        stats = ood.fit_on_run_faces(one.predict_with_features, root, benchmark, one.size, (one.width,))
        found_one = ood.ModelStats(stats)
        synth = _manifest_rows(one, stats, root, benchmark)
        with tempfile.TemporaryDirectory() as folder:
            photos = np.concatenate([r["scores"] for r in _photograph_rows(one, found_one, Path(folder))])
        flagged = sum(r["flagged"] * r["faces"] for r in synth) / sum(r["faces"] for r in synth)
        print(
            f"| {stage + 1} | {one.width} | {100 * flagged:.1f} % | {100 * np.mean(photos > 1):.0f} % "
            f"| {np.median(photos):.2f} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", help="an export's .tflite / SavedModel, or a run directory")
    parser.add_argument("--data-root", help="the model's prepared faces (default: the run's own data root)")
    parser.add_argument("--benchmark", help="default: the run's, or the model card's")
    parser.add_argument("--last-stage-only", action="store_true", help="refit on the last stage alone, to compare")
    parser.add_argument("--each-stage", action="store_true", help="refit on each stage alone, one row per stage")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    from ltw_tf import ood
    from ltw_tf.machine import cpu_info
    from ltw_tf.screening import load_runner

    runner = load_runner(args.model)
    found = ood.model_stats(runner, say=lambda line: print(line, file=sys.stderr))
    if found.stats is None:
        raise SystemExit(f"no OOD statistics for {args.model}: {found.note}")
    card = {}
    for folder in (Path(args.model).parent, Path(args.model)):
        if (folder / "model_card.json").is_file():
            card = json.loads((folder / "model_card.json").read_text())
    run_ref = getattr(runner, "run_ref", None)
    benchmark = args.benchmark or (run_ref.config.data.benchmark if run_ref else card["training"]["benchmark"])
    if args.data_root:
        root = Path(args.data_root)
    else:
        from ltw_tf.runs import run_data_root

        root = run_data_root(run_ref.config) if run_ref else Path(found.stats.info["fitted_on"].split(" (")[0])
    machine = cpu_info()["summary"]
    if args.each_stage:
        print(f"model {args.model}; each stage alone; machine: {machine}\n")
        _each_stage(runner, found, root, benchmark)
        return
    if args.last_stage_only:
        runner = OneStage(runner, found.stats.widths, -1)
        stats = ood.fit_on_run_faces(runner.predict_with_features, root, benchmark, runner.size, (runner.width,))
        found = ood.ModelStats(stats)
    rows = _manifest_rows(runner, found.stats, root, benchmark)
    with tempfile.TemporaryDirectory() as folder:
        rows += _photograph_rows(runner, found, Path(folder))
    if args.json:
        print(json.dumps({"model": args.model, "stats": found.stats.info, "rows": rows, "machine": machine}))
        return
    print(f"model {args.model}; {ood.describe(found.stats)}")
    print(f"machine: {machine}\n")
    print("| faces of | n | flagged (score > 1) | median score | verdict (mean P(fake)) |")
    print("|---|---:|---:|---:|---|")
    for r in rows:
        verdict = f"{r['verdict']} ({r['p_fake']:.3f})" if r.get("verdict") else ""
        flagged = "-" if r["flagged"] is None else f"{100 * r['flagged']:.1f} %"
        median = "-" if r["median"] is None else f"{r['median']:.2f}"
        print(f"| {r['set']} | {r['faces']} | {flagged} | {median} | {verdict} |")


if __name__ == "__main__":
    main()
