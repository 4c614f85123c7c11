"""The installed ``ltw-tf`` entry point answers --help, --version and info."""

import json
import subprocess
import sys

from click.testing import CliRunner

from cli.main import main
from ltw_tf import __version__
from ltw_tf.methods import METHODS


def test_info_json_lists_methods_and_backbones():
    result = CliRunner().invoke(main, ["info", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["methods"] == list(METHODS)
    assert report["backbones"]["efficientnet_b0"] == 1280 and "tiny" in report["backbones"]


def test_console_script_version_and_help():
    out = subprocess.run([sys.executable, "-m", "cli.main", "--version"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and __version__ in out.stdout
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0 and "Learning-to-Weight" in result.output


def _train_args(root, out, *extra, epochs=2):
    return [
        "--quiet",
        "train",
        "gid-fs23",
        "--data-root",
        str(root),
        "--backbone",
        "tiny",
        "--weights",
        "none",
        "--image-size",
        "16",
        "--batch-size",
        "6",
        "--epochs",
        str(epochs),
        "--out",
        str(out),
        "--json",
        *extra,
    ]


def test_train_resume_and_errors(tmp_path):
    from toy import ff_manifest

    root = tmp_path / "faces"
    ff_manifest(root, n_targets=8, splits=lambda t: "val" if t >= 6 else "train")
    out = tmp_path / "run"
    runner = CliRunner()
    result = runner.invoke(main, _train_args(root, out))
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["epochs"] == 2 and 0.0 <= summary["best_val_auc"] <= 1.0
    assert summary["checkpoint"].endswith("ckpt-2")
    saved = json.loads((out / "config.json").read_text())
    assert saved["data"]["benchmark"] == "gid-fs23" and saved["train"]["method"] == "ltw"
    history = json.loads((out / "history.json").read_text())
    assert all("FaceSwap" not in h["data"]["train_domains"] + h["data"]["meta_domains"] for h in history)
    # what the detector saw, from the manifest: GID-FS23's source families and real, 6 train targets x 4 videos
    # x 2 frames, crops of toy.FF_SIZE + 4 px; the toy root is synthff, so the record says synthetic only
    trained_on = json.loads((out / "trained_on.json").read_text())
    assert trained_on["datasets"] == ["synthff"] and trained_on["synthetic_only"] is True
    assert trained_on["domains"] == ["Deepfakes", "Face2Face", "NeuralTextures", "real"]
    assert (trained_on["faces"], trained_on["videos"], trained_on["face_size"]) == (48, 24, 12)
    assert (
        trained_on["benchmark"] == "gid-fs23" and trained_on["split"] == "train" and trained_on["qualities"] == ["c23"]
    )

    again = runner.invoke(main, _train_args(root, out))  # would overwrite: refused, nothing lost
    assert again.exit_code == 1 and "already holds checkpoints" in again.output
    resumed = runner.invoke(main, _train_args(root, out, "--resume", epochs=3))
    assert resumed.exit_code == 0, resumed.output
    assert json.loads(resumed.output)["epochs"] == 3

    for args, code, text in (
        (["train", "gid-zz23", "--data-root", str(root)], 1, "unknown benchmark 'gid-zz23'; valid: gid-df23"),
        (["train", "gid-fs23", "--data-root", str(root), "--method", "ltw2"], 1, "unknown method 'ltw2'; valid:"),
        (["train", "gid-fs23", "--data-root", str(tmp_path)], 1, "has no manifest.csv"),
        (["train", "gid-fs23", "--epochs", "0"], 2, "0 is not in the range"),
        (["train", "gid-fs23", "--out", str(tmp_path / "none"), "--resume"], 2, "no checkpoints to resume"),
    ):
        result = runner.invoke(main, args, env={"LTW_DATA_ROOT": ""})
        assert result.exit_code == code, (args, result.output)
        assert text in result.output and "Traceback" not in result.output
