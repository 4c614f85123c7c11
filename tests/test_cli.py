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
