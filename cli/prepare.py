"""``ltw-tf prepare ROOT``: extract face crops (MTCNN) from a dataset's videos into crops + manifest.csv."""

from __future__ import annotations

import json

import click

from cli.common import check_engine, engine_options

DATASET_NAMES = ("ffpp", "celebdf", "dfdc", "synthff")


class Margin(click.ParamType):
    """An int (pixels per side) or a float in [0, 1) (fraction of the face box per side)."""

    name = "margin"

    def convert(self, value, param, ctx):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return value
        text = str(value).strip()
        try:
            number = float(text) if any(c in text for c in ".eE") else int(text)
        except ValueError:
            self.fail(f"{value!r} is neither an int (pixels) nor a float < 1 (relative)", param, ctx)
        from ltw_tf.data.faces import check_margin

        try:
            return check_margin(number)
        except ValueError as err:
            self.fail(str(err), param, ctx)


def _split_list(ctx, param, value: str) -> tuple[str, ...]:
    items = tuple(v.strip() for v in value.split(",") if v.strip())
    if not items:
        raise click.BadParameter("give at least one, e.g. c23 or c23,c40", ctx, param)
    return items


def summary_text(report, dataset: str, qualities: tuple[str, ...], out: str) -> str:
    """One paragraph on what the run did."""
    parts = [
        f"{report.extracted} extracted now",
        f"{report.reused} reused from an earlier run",
        f"{report.skipped} skipped (see {report.skip_log})",
    ]
    return (
        f"Prepared {report.videos} {dataset} videos ({', '.join(qualities)}) into {out}: "
        f"{report.faces} faces in {report.manifest}; videos: {', '.join(parts)}; "
        f"{report.frames_without_face} sampled frames had no usable face. "
        f"{report.faces_written} crops written in {report.seconds:.1f} s ({report.faces_per_second:.1f} faces/s)."
    )


@click.command("prepare")
@click.argument("root", type=click.Path(exists=True, file_okay=False))
@click.option("--dataset", required=True, type=click.Choice(DATASET_NAMES), help="The on-disk layout of ROOT.")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Output folder (crops, manifest.csv).")
@click.option("--frames", default=10, show_default=True, type=click.IntRange(1), help="Frames sampled per video.")
@click.option(
    "--margin",
    default="16",
    show_default=True,
    type=Margin(),
    help="Box enlargement per side: int = pixels (paper: 16), float < 1 = fraction of the box (0.3).",
)
@click.option("--size", default=224, show_default=True, type=click.IntRange(8, 4096), help="Crop side in pixels.")
@click.option(
    "--qualities",
    default="c23",
    show_default=True,
    callback=_split_list,
    help="Comma-separated compression levels (FF++ layouts), e.g. c23,c40.",
)
@click.option(
    "--splits",
    "splits_dir",
    type=click.Path(exists=True, file_okay=False),
    help="Split files (FF++ train/val/test.json; Celeb-DF List_of_testing_videos.txt folder).",
)
@click.option(
    "--workers",
    type=click.IntRange(1),
    help="Processes (with --engine ray: actors), each with its own MTCNN; 1 = in this process. "
    "Default: one per CPU core (of the cluster), at most one per 16 videos (each costs a TensorFlow start-up).",
)
@engine_options
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_context
def prepare_command(
    ctx, root, dataset, out, frames, margin, size, qualities, splits_dir, workers, engine, address, as_json
):
    """Sample frames from every video of ROOT, keep the most confident MTCNN face, crop, resize, save as PNG.

    One face per frame, the most confident: the paper's training protocol, kept here for every dataset (a DFDC
    video with two people gives the crops of one). `ltw-tf screen` judges every face of a frame instead.

    Writes OUT/<dataset>/<quality>/<domain>/<video>/<frame>.png, OUT/manifest.csv (one row per face, with
    label, domain, split, ids) and OUT/skipped.csv (videos with no face or unreadable, and why). Rerunning
    resumes: finished videos are not decoded again.

    \b
    Examples:
      ltw-tf prepare data/FaceForensics++ --dataset ffpp --out data/ffpp-faces --splits data/ff-splits
      ltw-tf prepare data/FaceForensics++ --dataset ffpp --out data/ffpp-faces --qualities c23,c40 --workers 8
      ltw-tf prepare data/Celeb-DF-v2 --dataset celebdf --out data/celebdf-faces --margin 0.3
      ltw-tf prepare data/synthff --dataset synthff --out data/synthff-faces --frames 4 --size 64 --json
      ltw-tf prepare /shared/dfdc --dataset dfdc --out /shared/dfdc-faces --engine ray --address head:6379
    """
    check_engine(engine, address)
    from ltw_tf.data.faces import VideoError
    from ltw_tf.data.prepare import prepare_dataset

    quiet = bool(ctx.obj and ctx.obj.get("quiet"))
    try:
        report = prepare_dataset(
            dataset,
            root,
            out,
            qualities=qualities,
            splits_dir=splits_dir,
            frames=frames,
            margin=margin,
            size=size,
            workers=workers,
            progress=not quiet,
            engine=engine,
            address=address,
        )
    except (ValueError, OSError, RuntimeError, VideoError) as err:
        raise click.ClickException(str(err).splitlines()[0] if str(err) else type(err).__name__) from None
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
    elif not quiet:
        click.echo(summary_text(report, dataset, qualities, out))
