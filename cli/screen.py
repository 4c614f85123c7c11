"""``ltw-tf screen``: videos, images or folders -> per-frame and per-item P(fake) and a verdict."""

from __future__ import annotations

import os
import sys

import click

from cli.common import check_engine, engine_options
from cli.prepare import Margin
from ltw_tf.data.faces import MIN_SCORE
from ltw_tf.data.fast_faces import MIN_FACE


@click.command("screen")
@click.argument("paths", nargs=-1, metavar="[PATH]...")
@click.option(
    "--from-list",
    "from_list",
    type=click.File("r", encoding="utf-8"),
    metavar="FILE",
    help="Also screen the paths listed in FILE ('-' for stdin): one file or folder a line, '#' comments and "
    "blank lines skipped, after the PATHs given, in the order listed.",
)
@click.option(
    "--model",
    "-m",
    "model",
    metavar="MODEL",
    help="A .tflite file, an exported SavedModel folder, a .keras model (loaded in Keras safe mode) or "
    "a run directory (default: the latest run under runs/).",
)
@click.option("--frames", type=click.IntRange(min=1), help="Frames evenly spaced over each video [default: 10].")
@click.option("--every", type=click.IntRange(min=1), metavar="N", help="Every N-th frame instead.")
@click.option("--all", "all_frames", is_flag=True, help="Every frame (MTCNN on every --detect-every-th frame).")
@click.option(
    "--detect-every",
    type=click.IntRange(min=1),
    metavar="K",
    help="Run MTCNN on every K-th looked-at frame, interpolating boxes in between [default: 1; 5 with --all].",
)
@click.option(
    "--threshold",
    type=click.FloatRange(0.0, 1.0),
    default=0.5,
    show_default=True,
    help="An item is fake when its mean P(fake) is at least this.",
)
@click.option(
    "--json",
    "json_path",
    metavar="FILE",
    help="Write one JSON record per item to FILE (atomically; '-' for stdout) instead of the summary.",
)
@click.option(
    "--report",
    "report_dir",
    metavar="DIR",
    help="Also draw the results for a person: a PNG per input (P(fake) timeline, scored faces, verdict) and "
    "DIR/index.html, most suspicious first.",
)
@click.option(
    "--explain",
    is_flag=True,
    help="With --report: Grad-CAM heat maps over the faces (needs gradients: a run directory or SavedModel).",
)
@click.option("--overwrite", is_flag=True, help="Replace an existing --json FILE or --report DIR.")
@click.option(
    "--batch-size", type=click.IntRange(min=1), default=32, show_default=True, help="Faces per classifier call."
)
@click.option(
    "--margin",
    default="16",
    show_default=True,
    type=Margin(),
    help="Face-box margin as in `ltw-tf prepare`: pixels per side (int) or relative (float < 1).",
)
@click.option(
    "--min-score",
    type=click.FloatRange(0.0, 1.0),
    default=MIN_SCORE,
    show_default=True,
    help="Lowest MTCNN confidence that counts as a face.",
)
@click.option(
    "--min-face",
    type=click.FloatRange(min=0.0),
    default=MIN_FACE,
    show_default=True,
    help="Smallest face judged: the shorter side of its MTCNN box, in frame pixels.",
)
@engine_options
@click.option(
    "--workers",
    type=click.IntRange(1),
    help="With --engine ray: actors, each with its own MTCNN and model [default: one per CPU of the cluster].",
)
@click.pass_context
def screen_command(
    ctx,
    paths,
    from_list,
    model,
    frames,
    every,
    all_frames,
    detect_every,
    threshold,
    json_path,
    report_dir,
    explain,
    overwrite,
    batch_size,
    margin,
    min_score,
    min_face,
    engine,
    address,
    workers,
):
    """Screen videos and images (folders: recursively) for face forgery.

    Each video is sampled (10 evenly spaced frames by default, as in the paper), every face of each frame (MTCNN
    confidence >= --min-score, box >= --min-face) is cropped as `ltw-tf prepare` crops it, and the model gives
    P(fake) per face. Faces are linked across frames into people (tracks); a person's score is the mean over
    their faces, fake when >= --threshold, and an item takes its most suspicious person's verdict (JSON: every
    person under "tracks"). Frames without a face are counted, not scored. Every face also gets an
    out-of-distribution score from the model's own features (> 1: unlike the faces it was trained on); a person
    with at least half their faces beyond is "uncertain", not fake or real: the model cannot judge them.

    \b
    Examples:
      ltw-tf screen clip.mp4 --model runs/ltw-b0/export/detector_fp32.tflite
      ltw-tf screen videos/ photos/ --model runs/ltw-b0 --json verdicts.jsonl --overwrite
      ltw-tf screen clip.mp4 --model runs/ltw-b0/export/savedmodel --all --detect-every 5
      ltw-tf screen clip.mp4 --every 25 --threshold 0.7        (latest run under runs/)
      ltw-tf screen videos/ --model runs/ltw-b0 --report report/ --explain
      ltw-tf screen --from-list corpus.txt --model detector.tflite --json verdicts.jsonl
      ltw-tf screen --from-list uploads.txt --model /shared/det.tflite --engine ray --address head:6379 --json -
    Exit codes: 0 every item screened, 1 an item or the model failed, 2 bad usage.
    """
    if from_list is not None:
        from ltw_tf.screening.inputs import read_list

        paths = (*paths, *read_list(from_list))
        if not paths:
            raise click.UsageError(f"--from-list {from_list.name} lists no path")
    if not paths:
        raise click.UsageError("give the PATHs to screen, or --from-list FILE")
    if workers and engine != "ray":
        raise click.UsageError("--workers spreads screening over Ray actors: add --engine ray")
    check_engine(engine, address)
    chosen = [
        flag
        for flag, on in (("--frames", frames is not None), ("--every", every is not None), ("--all", all_frames))
        if on
    ]
    if len(chosen) > 1:
        raise click.UsageError(f"{' and '.join(chosen)} exclude each other: pick one way to choose frames")
    if explain and not report_dir:
        raise click.UsageError("--explain draws into the report: add --report DIR")
    if json_path and json_path != "-" and os.path.exists(json_path) and not overwrite:
        raise FileExistsError(f"--json {json_path} exists; pass --overwrite to replace it")
    from tqdm import tqdm

    from ltw_tf import screening

    if report_dir:
        screening.check_report_dir(report_dir, overwrite)

    settings = screening.ScreenSettings(
        frames=frames,
        every=every,
        all_frames=all_frames,
        detect_every=detect_every,
        threshold=threshold,
        margin=margin,
        min_score=min_score,
        min_face=min_face,
        batch_size=batch_size,
    )
    quiet = bool(ctx.obj and ctx.obj.get("quiet"))
    model_path, chosen_for_you = screening.resolve_model(model)
    if chosen_for_you and not quiet:
        click.echo(f"model: {model_path} (the latest run under runs/; pass --model to choose)", err=True)
    explainer = screening.load_explainer(model_path) if explain else None  # refuses a .tflite before any work
    runner = screening.load_runner(model_path)
    from ltw_tf import ood

    stats = ood.model_stats(runner, say=lambda line: quiet or click.echo(line, err=True))
    if not quiet:
        from ltw_tf.provenance import caveat, summary

        note = caveat(runner.trained_on)
        click.echo(f"model trained on: {summary(runner.trained_on)}" + (f"; {note}" if note else ""), err=True)
        click.echo(ood.describe(stats.stats, stats.note), err=True)
    items = screening.find_media(paths)
    if not items:
        raise ValueError(f"no images or videos found in {', '.join(paths)}")
    writer = screening.JsonLinesWriter(json_path) if json_path else None
    report = None
    if report_dir:
        report = screening.ReportWriter(
            report_dir,
            overwrite=overwrite,
            model=model_path,
            mode=settings.mode,
            explainer=explainer,
            trained_on=runner.trained_on,
            ood=ood.describe(stats.stats, stats.note),
        )
    results = []
    try:
        keep = screening.KEEP_CROPS if report else 0
        if engine == "ray":
            screened = screening.screen_items_on_ray(
                model_path,
                settings,
                items,
                keep_crops=keep,
                workers=workers,
                address=address,
                progress=not quiet,
                trained_on=runner.trained_on,
            )
        else:
            screener = screening.Screener(runner, settings, keep_crops=keep, ood=stats)
            screened = screening.screen_items(screener, items, progress=not quiet)
        for result in screened:
            results.append(result)
            if writer:
                writer.write(result.to_dict(model=model_path))
            if report:
                report.add(result)
            if result.error or not writer:
                with tqdm.external_write_mode(file=sys.stderr if result.error else sys.stdout):  # above the bar
                    click.echo(screening.summary_line(result), err=bool(result.error))
        if writer:
            writer.commit()
        if report:
            report.commit(screening.totals_line(results))
    finally:
        if writer:
            writer.discard()
        if report:
            report.discard()
    if not quiet:
        where = f" -> {json_path}" if json_path and json_path != "-" else ""
        where += f" -> {os.path.join(report_dir, 'index.html')}" if report_dir else ""
        click.echo(f"{screening.totals_line(results)} ({runner.kind} {model_path}, {settings.mode}){where}", err=True)
    if any(r.error for r in results):
        ctx.exit(1)
