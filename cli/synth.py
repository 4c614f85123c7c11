"""``ltw-tf synth``: build the embedded synthetic benchmark (synthff) in the FaceForensics++ layout."""

from __future__ import annotations

import json

import click


def _parse_qualities(ctx: click.Context, param: click.Parameter, value: str) -> tuple[str, ...]:
    qualities = tuple(q.strip() for q in value.split(",") if q.strip())
    bad = [q for q in qualities if q not in ("c23", "c40")]
    if bad or not qualities:
        raise click.BadParameter(f"expected a comma list of c23 and/or c40, got {value!r}")
    return qualities


@click.command("synth")
@click.argument("out", type=click.Path(file_okay=False, writable=True))
@click.option(
    "--preset",
    type=click.Choice(["small", "default", "study"]),
    default="default",
    show_default=True,
    help="small: 8 identities, 12 frames of 160 px (tests, seconds); default: the demo's data, 80 identities "
    "(minutes); study: FF++-sized, 1000 identities of 16 frames, 140 + 140 test videos per family (studies).",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Same seed, same frames.")
@click.option(
    "--qualities",
    default="c23,c40",
    show_default=True,
    callback=_parse_qualities,
    help="Compression levels to write: H.264 CRF 23 (c23) and/or CRF 40 (c40).",
)
@click.option(
    "--overwrite", is_flag=True, help="Replace the synthff paths in a non-empty folder that is not a synthff build."
)
@click.option(
    "--workers", type=click.IntRange(min=1), default=None, help="Processes rendering in parallel [default: up to 2]."
)
@click.option(
    "--masks",
    is_flag=True,
    help="Also write each fake's manipulation mask (masks/videos/, as FF++ ships them; the multi-task method "
    "needs them). On a finished build of the same settings this adds the masks and leaves the videos as they are.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def synth(
    out: str,
    preset: str,
    seed: int,
    qualities: tuple[str, ...],
    overwrite: bool,
    workers: int | None,
    masks: bool,
    as_json: bool,
    quiet: bool,
) -> None:
    """Render synthff, synthetic face videos with four forgery families, into OUT.

    Writes original_sequences/, manipulated_sequences/{Deepfakes,Face2Face,FaceSwap,NeuralTextures}/ and
    splits/ as FaceForensics++ lays them out, so `ltw-tf prepare` reads it like FF++. Numbers on synthff are
    not FF++ numbers. Rerunning into a finished or interrupted build of the same settings resumes it.

    \b
    Examples:
      ltw-tf synth data/synthff                     the demo's dataset (minutes on 2 CPU cores)
      ltw-tf synth /tmp/sff --preset small          a few seconds; what the tests use
      ltw-tf synth /tmp/sff --qualities c23 --seed 3 --json
      ltw-tf synth data/synthff --masks             add manipulation masks (for --method multi-task)
    """
    from ltw_tf.data.synthetic import generate

    try:
        summary = generate(
            out,
            preset=preset,
            seed=seed,
            qualities=qualities,
            progress=not (quiet or as_json),
            overwrite=overwrite,
            workers=workers,
            masks=masks,
        )
    except (OSError, ValueError, RuntimeError) as err:
        raise click.ClickException(str(err)) from None
    if as_json:
        click.echo(json.dumps(summary, indent=2))
        return
    videos = sum(summary["videos"].values())
    click.echo(
        f"synthff ({summary['preset']}, seed {seed}): {summary['identities']} identities, {videos} videos "
        f"({', '.join(summary['qualities'])}, {summary['codec']['name']}), "
        f"{summary['bytes'] / 1e6:.1f} MB in {summary['seconds']:.0f} s -> {out}"
    )
    click.echo(f"splits (pairs): {summary['splits']}. {summary['note']}.")
