"""``ltw-tf demo`` end to end on the small synthff preset with the tiny backbone: every artefact and number exists."""

import json
from pathlib import Path

from click.testing import CliRunner

from cli.main import main


def test_demo_small_runs_every_stage_and_reuses_them(tmp_path):
    out = tmp_path / "demo"
    args = [
        "demo",
        "--out",
        str(out),
        "--preset",
        "small",
        "--backbone",
        "tiny",
        "--image-size",
        "32",
        "--epochs",
        "1",
        "--steps-per-epoch",
        "4",
        "--batch-size",
        "8",
        "--frames",
        "2",
    ]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    text = result.output
    for method in ("alltrain", "ltw"):
        line = next(line for line in text.splitlines() if line.strip().startswith(f"{method} on held-out FaceSwap"))
        run_dir = line.rsplit("(", 1)[1].rstrip(")")
        report = json.loads((Path(run_dir) / "eval" / "gid-fs23.json").read_text())
        auc = report["targets"]["FaceSwap"]["frame"]["auc"]
        assert f"AUC {auc:.3f}" in line and 0.0 <= auc <= 1.0
    export_dir = out / "export" / Path(run_dir).name  # the LTW run's export (the last summary line read above)
    assert (export_dir / "detector_fp32.tflite").stat().st_size > 1000
    card = json.loads((export_dir / "model_card.json").read_text())
    assert card["model"]["backbone"] == "tiny" and card["training"]["method"] == "ltw"
    screened = [json.loads(line) for line in (out / "screen.jsonl").read_text().splitlines()]
    assert len(screened) == 1 and screened[0]["status"] == "ok" and "FaceSwap" in screened[0]["path"]
    assert list((out / "runs").glob("gid-fs23-ltw-s0-*/eval/gid-fs23-FaceSwap-roc.png"))
    assert (out / "tables" / "tableall.md").is_file()
    assert "total:" in text

    again = CliRunner().invoke(main, args)  # everything is reused: no stage retrains or re-extracts
    assert again.exit_code == 0, again.output
    stages = "\n".join(line for line in again.output.splitlines() if not line.startswith("model trained on: "))
    assert "reused" in stages and "trained" not in stages.replace("retrained", "")  # (screen's provenance line aside)
    assert "model trained on: synthff (synthetic faces only): gid-fs23 train split" in again.output

    other = CliRunner().invoke(main, [*args, "--steps-per-epoch", "3"])  # other settings: the last flag wins
    assert other.exit_code == 0, other.output
    assert len(list((out / "export").iterdir())) == 2  # the new LTW run got its own export, screened with it
