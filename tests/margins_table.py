"""Run the numerically sensitive tests under settings that change CPU kernels; tabulate the worst margins.

usage: python tests/margins_table.py OUT.md [--setting NAME ...]
Sequential runs (one pytest process per setting, so TensorFlow reads the variables at start-up); each check of
tests/margins.py appends observed / allowed to a JSON-lines file; OUT.md gets, per test, the worst margin under
each setting and overall (1.0 = the edge of the tolerance).
"""

import argparse
import json
import os
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
TESTS = [
    "tests/test_distribute.py::test_mirrored_ltw_step_equals_single_device_step_on_the_global_batch",
    "tests/test_meta_gradients.py",
    "tests/test_exact_bn.py",
    "tests/test_export.py::test_parity_of_every_artefact_against_keras",
    "tests/test_trainer.py::test_kill_and_resume_matches_straight_run",
]
# TF_XLA_FLAGS auto-clustering compiles the graphs with XLA:CPU (other fusions, other reduction order); XLA_FLAGS
# itself only matters for code already compiled with XLA, which the default config does not (jit_compile=False).
SETTINGS = {
    "default": {},
    "onednn=0": {"TF_ENABLE_ONEDNN_OPTS": "0"},
    "onednn=1": {"TF_ENABLE_ONEDNN_OPTS": "1"},
    "threads=1": {"TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1"},
    "threads=2": {"TF_NUM_INTRAOP_THREADS": "2", "TF_NUM_INTEROP_THREADS": "2"},
    "xla-autojit": {"TF_XLA_FLAGS": "--tf_xla_auto_jit=2 --tf_xla_cpu_global_jit"},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--setting", action="append", choices=sorted(SETTINGS))
    args = parser.parse_args()
    log = args.out.with_suffix(".jsonl")
    status = {}
    for name in args.setting or list(SETTINGS):
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", LTW_MARGINS=str(log), LTW_MARGINS_SETTING=name)
        env.update(SETTINGS[name])
        start = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *TESTS],
            cwd=HERE.parent,
            env=env,
            capture_output=True,
            text=True,
        )
        summary = (done.stdout.strip().splitlines() or ["?"])[-1]
        status[name] = f"{summary} ({time.monotonic() - start:.0f} s)"
        print(name, status[name], flush=True)
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    worst: dict = defaultdict(dict)
    for r in rows:
        cell = worst[r["test"]].get(r["setting"])
        if cell is None or r["margin"] > cell["margin"]:
            worst[r["test"]][r["setting"]] = r
    settings = [s for s in SETTINGS if s in status]
    lines = [
        "| test | " + " | ".join(settings) + " | worst (check: observed / allowed) |",
        "|---" * (len(settings) + 2) + "|",
    ]
    for test, cells in sorted(worst.items()):
        top = max(cells.values(), key=lambda r: r["margin"])
        values = " | ".join(f"{cells[s]['margin']:.3f}" if s in cells else "-" for s in settings)
        short = test.removeprefix("tests/")
        where = f"{top['check']}: {top['observed']:.3g} / {top['allowed']:.3g}"
        lines.append(f"| {short} | {values} | {top['margin']:.3f} ({where}) |")
    lines += ["", "pytest per setting: " + "; ".join(f"{k}: {v}" for k, v in status.items())]
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
