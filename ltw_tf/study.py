"""Benchmark studies: a grid backbones x benchmarks x methods x seeds of training runs, each reused, resumed or
trained in-process through the same path as ``ltw-tf train``, evaluated once (cached as ``RUN/eval/<bench>.json``)
and collected as ``tables.RunRecord`` rows for the paper's tables.

A cell's run directory is ``RUNS/<benchmark>-<method>-s<seed>-<hash>``, the hash covering every other resolved
setting (backbone, image size, epochs, data root, ...), so different settings never share a directory (a method
whose training changed adds ``-r<revision>`` after its name).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ltw_tf.benchmarks import get_benchmark
from ltw_tf.config import RunConfig, load_config
from ltw_tf.io import write_json
from ltw_tf.locking import OutputLock
from ltw_tf.runs import CONFIG_NAME, DEFAULT_RUNS_DIR
from ltw_tf.tables import RunRecord

log = logging.getLogger(__name__)

AXES = ("data.benchmark", "train.method", "train.seed")  # set per cell; every other setting is shared
# how a run executes, not what it learns; model.graph is derived from model.weights when training starts
NOT_HASHED = ("train.strategy", "train.graph_optimizer", "model.graph")


class StudyError(RuntimeError):
    """A cell cannot run as planned (its directory holds a run with other settings)."""


@dataclass(frozen=True)
class Cell:
    """One run of the grid: its coordinates, resolved config and run directory."""

    method: str
    benchmark: str
    seed: int
    backbone: str
    config: RunConfig
    run_dir: Path


@dataclass(frozen=True)
class RunState:
    """What a cell needs: "reuse" (finished), "resume" (has checkpoints), "train" or "conflict"."""

    action: str
    epochs_done: int
    eval_cached: bool = False
    detail: str = ""


@dataclass
class CellResult:
    """How a cell went: status reused | resumed | trained | failed, wall seconds, the cached evaluation."""

    cell: Cell
    status: str
    seconds: float
    eval_cached: bool = False
    evaluation: dict | None = None
    error: str | None = None

    @property
    def record(self) -> RunRecord | None:
        if self.evaluation is None:
            return None
        c = self.cell
        return RunRecord(c.method, c.benchmark, c.seed, c.backbone, self.evaluation["targets"])


def _comparable(config: RunConfig) -> dict:
    raw = config.to_dict()
    for key in NOT_HASHED:
        section, name = key.split(".")
        raw[section].pop(name)
    return raw


def settings_hash(config: RunConfig, length: int = 8) -> str:
    """A short hash of every resolved setting except the cell's own axes (benchmark, method, seed).

    The distribution strategy is left out too: it changes where a run trains, not what it computes.
    """
    raw = config.to_dict()
    for key in (*AXES, *NOT_HASHED):
        section, name = key.split(".")
        raw[section].pop(name)
    return hashlib.sha256(json.dumps(raw, sort_keys=True).encode("utf-8")).hexdigest()[:length]


def run_name(config: RunConfig) -> str:
    """``<benchmark>-<method>[-r<revision>]-s<seed>-<settings hash>``: a method whose training changed
    (``Method.revision`` > 1, e.g. MLDG's per-step split) names its runs apart, so older ones are never reused."""
    from ltw_tf.methods import method_class

    train = config.train
    revision = method_class(train.method).revision
    tag = f"-r{revision}" if revision > 1 else ""
    return f"{config.data.benchmark}-{train.method}{tag}-s{train.seed}-{settings_hash(config)}"


def _unique(values: Sequence[Any]) -> list[Any]:
    return list(dict.fromkeys(values))


def plan_study(
    methods: Sequence[str],
    benchmarks: Sequence[str],
    seeds: Sequence[int],
    backbones: Sequence[str] = (),
    overrides: dict[str, Any] | None = None,
    config_file: str | os.PathLike | None = None,
    runs_dir: str | os.PathLike = DEFAULT_RUNS_DIR,
) -> list[Cell]:
    """The grid's cells, every name validated and the data root resolved before any work.

    ``overrides``: ``{"section.key": value}`` shared by all cells (None values ignored), applied over the
    defaults and ``config_file``; ``backbones``: the backbone axis (default: the config's one backbone).
    """
    from ltw_tf.methods import method_class
    from ltw_tf.models import backbone_spec
    from ltw_tf.runs import resolve_data_root

    for axis, values in (("method", methods), ("benchmark", benchmarks), ("seed", seeds)):
        if not values:
            raise ValueError(f"a study needs at least one {axis}")
    methods = _unique(methods)
    for method in methods:
        method_class(method)
    benchmarks = _unique(get_benchmark(b).name for b in benchmarks)
    base = load_config(config_file, {k: v for k, v in (overrides or {}).items() if v is not None})
    backbones = _unique(backbones) or [base.model.backbone]
    for backbone in backbones:
        backbone_spec(backbone)
    base = base.override({"data.data_root": str(resolve_data_root(base).resolve())})
    cells = []
    for backbone in backbones:
        for benchmark in benchmarks:
            for method in methods:
                for seed in _unique(int(s) for s in seeds):
                    config = base.override(
                        {
                            "model.backbone": backbone,
                            "data.benchmark": benchmark,
                            "train.method": method,
                            "train.seed": seed,
                        }
                    )
                    run_dir = Path(runs_dir) / run_name(config)
                    cells.append(Cell(method, benchmark, seed, backbone, config, run_dir))
    return cells


def _history_epochs(run_dir: Path) -> list[int]:
    try:
        return [int(h["epoch"]) for h in json.loads((run_dir / "history.json").read_text(encoding="utf-8"))]
    except (OSError, ValueError, KeyError, TypeError):
        return []


def history_complete(run_dir: str | os.PathLike, epochs: int) -> bool:
    """True when the run's history.json holds every epoch 1..epochs (``methods.run_epochs``; a run that trains
    nothing holds its one record, epoch 0): a finished run (``run_state`` reuses it)."""
    return _history_epochs(Path(run_dir)) == (list(range(1, epochs + 1)) or [0])


def _latest(folder: Path) -> str | None:
    import tensorflow as tf

    return tf.train.latest_checkpoint(str(folder)) if folder.is_dir() else None


def eval_path(cell: Cell) -> Path:
    return cell.run_dir / "eval" / f"{cell.benchmark}.json"


def cached_eval(cell: Cell) -> dict | None:
    """The cell's saved evaluation if it was made from the checkpoint ``evaluate_run(which="best")`` loads now
    and is newer than it; else None."""
    path = eval_path(cell)
    checkpoint = _latest(cell.run_dir / "best") or _latest(cell.run_dir / "checkpoints")
    if checkpoint is None or not path.is_file():
        return None
    try:
        if path.stat().st_mtime <= Path(f"{checkpoint}.index").stat().st_mtime:
            return None
        payload = json.loads(path.read_text(encoding="utf-8"))
        same = Path(payload["checkpoint"]).parts[-2:] == Path(checkpoint).parts[-2:]
        return payload if same and payload["benchmark"] == cell.benchmark and payload["targets"] else None
    except (OSError, ValueError, KeyError, TypeError):
        return None


def run_state(cell: Cell) -> RunState:
    """Reuse when config.json matches and the history holds every epoch; resume from checkpoints; else train."""
    saved = cell.run_dir / CONFIG_NAME
    if saved.is_file():
        try:
            same = _comparable(load_config(saved)) == _comparable(cell.config)
        except (OSError, ValueError):
            same = False
        if not same:
            return RunState(
                "conflict", 0, detail=f"{saved} holds other settings: move the run away or use another --runs-dir"
            )
    from ltw_tf.methods import run_epochs

    epochs = run_epochs(cell.config.train)
    latest = _latest(cell.run_dir / "checkpoints")
    if latest is not None and history_complete(cell.run_dir, epochs):
        return RunState("reuse", epochs, eval_cached=cached_eval(cell) is not None)
    if latest is not None:
        return RunState("resume", int(latest.rsplit("-", 1)[-1]), detail=f"from epoch {latest.rsplit('-', 1)[-1]}")
    return RunState("train", 0)


def evaluate_cell(cell: Cell) -> tuple[dict, bool]:
    """(evaluation, from cache): every target set of the cell's benchmark on the run's best checkpoint."""
    cached = cached_eval(cell)
    if cached is not None:
        return cached, True
    from ltw_tf.evaluate import evaluate_run, json_ready

    payload = json_ready(evaluate_run(cell.run_dir, which="best"))
    path = eval_path(cell)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(path, payload)
    return payload, False


def _one_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0]}" if text else type(err).__name__


def run_cell(cell: Cell, progress: bool = True) -> CellResult:
    """Reuse, resume or train the cell's run, then evaluate it; any error fails this cell only."""
    import keras

    from ltw_tf.run import build_trainer

    start = time.perf_counter()
    stage = "setup"
    try:
        state = run_state(cell)
        if state.action == "conflict":
            raise StudyError(state.detail)
        if state.action != "reuse":
            stage = "training"
            build_trainer(cell.config, cell.run_dir, progress=progress).fit(resume=True)
        status = {"reuse": "reused", "resume": "resumed", "train": "trained"}[state.action]
        stage = "evaluation"
        evaluation, cached = evaluate_cell(cell)
    except Exception as err:  # one failing cell (NaN loss, missing data) must not stop the grid
        log.debug("%s %s seed %s failed", cell.method, cell.benchmark, cell.seed, exc_info=True)
        return CellResult(cell, "failed", time.perf_counter() - start, error=f"{stage}: {_one_line(err)}")
    finally:
        keras.backend.clear_session()
    return CellResult(cell, status, time.perf_counter() - start, cached, evaluation)


def run_study(
    cells: Sequence[Cell], progress: bool = True, on_result: Callable[[int, int, CellResult], None] | None = None
) -> list[CellResult]:
    """Run every cell in order; ``on_result(k, n, result)`` after each (k from 1).

    Holds the lock of every runs folder of the grid first (ltw_tf.locking): a second study over the same
    folder raises OutputBusy before it looks at any run."""
    results = []
    with contextlib.ExitStack() as held:
        for folder in sorted({cell.run_dir.parent for cell in cells}):
            held.enter_context(OutputLock(folder, "benchmark"))
        for k, cell in enumerate(cells, start=1):
            results.append(run_cell(cell, progress=progress))
            if on_result is not None:
                on_result(k, len(cells), results[-1])
    return results


def records(results: Sequence[CellResult]) -> list[RunRecord]:
    """The evaluated runs as table records (failed cells are left out: their table cells read "–")."""
    return [r.record for r in results if r.record is not None]
