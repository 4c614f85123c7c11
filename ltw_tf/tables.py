"""Paper-style result tables (Sun et al. 2021, Tables 2-6) and a long table of every metric, as Markdown and CSV.

Pure functions over per-run records (no TensorFlow): each cell is the mean ± sample std (ddof=1) over seeds of a
per-run value; a column group spanning several target sets (GCD-OthersAVG, GCD-AVG) averages them within a run
first. Missing cells (no finished run) read "–" in Markdown and are empty in CSV.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import math
import os
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ltw_tf.benchmarks import FF_METHODS
from ltw_tf.io import atomic_write_text

DDOF = 1  # std over seeds is the sample standard deviation; one seed has none
MISSING = "–"
TABLE_IDS = ("2", "3", "4", "5", "6", "all")


@dataclass(frozen=True)
class RunRecord:
    """One evaluated run: its grid coordinates and ``targets[name][level][metric]`` (level: frame | video)."""

    method: str
    benchmark: str
    seed: int
    backbone: str
    targets: Mapping[str, Mapping[str, Mapping[str, float]]]


@dataclass(frozen=True)
class Metric:
    label: str  # column header
    level: str  # "frame" | "video"
    key: str  # key in the metrics dict
    higher_is_better: bool


ACC = Metric("ACC", "frame", "acc", True)
LOSS = Metric("LOSS", "frame", "logloss", False)
AUC = Metric("AUC", "frame", "auc", True)
EER = Metric("EER", "frame", "eer", False)
PAPER_METRICS = (ACC, LOSS, AUC, EER)  # the four columns of every paper table
LONG_METRICS = (ACC, Metric("LogLoss", "frame", "logloss", False), AUC, EER, Metric("video AUC", "video", "auc", True))


@dataclass(frozen=True)
class Group:
    """A column group: one benchmark, its target sets averaged per run (``None``: every target the run has)."""

    header: str
    benchmark: str
    targets: tuple[str, ...] | None = None


@dataclass(frozen=True)
class TableSpec:
    """One of the paper's tables: title, default rows (methods, backbones) and column groups."""

    id: str
    title: str
    methods: tuple[str, ...]
    groups: tuple[Group, ...]
    backbones: tuple[str, ...] = ()  # Table 6's rows; empty: the backbone(s) the study ran
    note: str = ""  # how rows were made where ltw-tf had to choose (printed under the table's title)
    movable: bool = False  # asked for alone, its column group follows --benchmarks (Table 5: the paper's split
    # can be at the ceiling on synthff, where no ablation can differ); the title and note then name the move

    @property
    def benchmarks(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(g.benchmark for g in self.groups))


COMPARED = ("basemodel", "alltrain", "focal", "forensic-transfer", "multi-task", "mldg", "ltw")  # the paper's rows
ABLATIONS = ("alltrain", "ltw-no-icc", "ltw-no-weight", "ltw-no-meta-test", "ltw")
COMPARED_NOTE = (
    "Basemodel: the backbone with a fresh seeded head, not trained on the source domains (its one checkpoint is "
    "its model). MLDG draws a new meta-train / meta-test domain split every step (Li et al. 2018, Alg. 1)."
)
ABLATION_NOTE = (
    "w/o Meta-testing: full LTW for the run's epochs E, then the detector is reset to its initial weights and "
    "retrained for E more epochs with beta = 0 and the learned weight net frozen (2E epochs in all; each phase "
    "has its own StepLR schedule, and the row is the retraining's best validation checkpoint)."
)


def _gid(*names: str) -> tuple[Group, ...]:
    return tuple(Group(f"GID-{n.upper()}", f"gid-{n}") for n in names)


TABLES: dict[str, TableSpec] = {
    spec.id: spec
    for spec in (
        TableSpec(
            "2",
            "Performance on the GID-DF23/40 and GID-F2F23/40 benchmarks",
            COMPARED,
            _gid("df23", "df40", "f2f23", "f2f40"),
            note=COMPARED_NOTE,
        ),
        TableSpec(
            "3",
            "Comparative results on GID-FS23/40 and GID-NT23/40",
            COMPARED,
            _gid("fs23", "fs40", "nt23", "nt40"),
            note=COMPARED_NOTE,
        ),
        TableSpec(
            "4",
            "Performance comparison on the GCD benchmark (OthersAVG: mean over the four FF++ test sets)",
            COMPARED,
            (
                Group("GCD-CeleDF", "gcd", ("Celeb-DF",)),
                Group("GCD-DFDC", "gcd", ("DFDC",)),
                Group("GCD-OthersAVG", "gcd", FF_METHODS),
            ),
            note=COMPARED_NOTE,
        ),
        TableSpec(
            "5", "Ablation study on the GID-DF23 benchmark", ABLATIONS, _gid("df23"), note=ABLATION_NOTE, movable=True
        ),
        TableSpec(
            "6",
            "Backbones with and without LTW (GCD-AVG: mean over all GCD test sets)",
            ("alltrain", "ltw"),
            (Group("GCD-AVG", "gcd"),),
            backbones=("efficientnet_b2", "efficientnet_b4", "xception", "resnet50", "vgg19"),
        ),
    )
}

METHOD_LABELS = {
    "basemodel": "Basemodel",
    "alltrain": "Alltrain-Basemodel",
    "focal": "FocalLoss-Basemodel",
    "forensic-transfer": "ForensicTransfer",
    "multi-task": "Multi-task",
    "mldg": "MLDG",
    "ltw": "Ours",
    "ltw-no-icc": "w/o ICC Loss",
    "ltw-no-weight": "w/o Weight-aware",
    "ltw-no-meta-test": "w/o Meta-testing",
}
BACKBONE_LABELS = {
    "efficientnet_b0": "EfficientNet-B0",
    "efficientnet_b2": "EfficientNet-B2",
    "efficientnet_b4": "EfficientNet-B4",
    "efficientnet_lite0": "EfficientNet-Lite0",
    "efficientnet_lite1": "EfficientNet-Lite1",
    "efficientnet_lite2": "EfficientNet-Lite2",
    "xception": "Xception",
    "resnet50": "ResNet50",
    "vgg19": "VGG19",
}


@dataclass(frozen=True)
class Stat:
    """Mean and sample std (ddof=1) over ``n`` seeds; ``mean`` None when n = 0, ``std`` None when n < 2."""

    mean: float | None
    std: float | None
    n: int


def mean_std(values: Iterable[float]) -> Stat:
    values = [float(v) for v in values]
    if not values:
        return Stat(None, None, 0)
    std = statistics.stdev(values) if len(values) > 1 else None  # statistics.stdev: ddof=1
    return Stat(statistics.fmean(values), std, len(values))


@dataclass
class Row:
    labels: tuple[str, ...]  # the index cells, one per ``Table.index`` name
    method: str
    backbone: str
    cells: list[Stat]


@dataclass
class Table:
    """A built table: index column names, (group header, metric) columns and rows of per-seed statistics."""

    id: str
    title: str
    index: tuple[str, ...]
    columns: list[tuple[str, Metric]]
    rows: list[Row] = field(default_factory=list)
    note: str = ""

    @property
    def max_n(self) -> int:
        return max((c.n for row in self.rows for c in row.cells), default=0)


def run_value(record: RunRecord, metric: Metric, targets: Sequence[str] | None) -> float | None:
    """The run's ``metric``, averaged over ``targets`` (all of the run's when None); None if any is missing."""
    names = list(record.targets) if targets is None else list(targets)
    values = []
    for name in names:
        value = record.targets.get(name, {}).get(metric.level, {}).get(metric.key)
        if value is None or not math.isfinite(float(value)):
            return None
        values.append(float(value))
    return statistics.fmean(values) if values else None


def _cell(records: Sequence[RunRecord], metric: Metric, targets: Sequence[str] | None) -> Stat:
    by_seed = {r.seed: run_value(r, metric, targets) for r in records}
    return mean_std(v for _, v in sorted(by_seed.items()) if v is not None)


def _runs(records: Sequence[RunRecord], method: str, backbone: str, benchmark: str) -> list[RunRecord]:
    return [r for r in records if (r.method, r.backbone, r.benchmark) == (method, backbone, benchmark)]


def _ordered(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))


def moved(spec: TableSpec, benchmarks: Sequence[str]) -> TableSpec:
    """``spec`` (a movable table) on ``benchmarks`` instead of the paper's, saying so in its title and note."""
    groups = tuple(Group(b.upper(), b) for b in benchmarks)
    paper, here = ", ".join(g.header for g in spec.groups), " and ".join(g.header for g in groups)
    title = spec.title.replace(paper, here) if paper in spec.title else f"{spec.title} (on {here})"
    if len(groups) > 1:
        title = title.replace(" benchmark", " benchmarks")
    note = f"The paper's Table {spec.id} is on {paper}; this one is on {here}. {spec.note}".strip()
    return dataclasses.replace(spec, title=title, groups=groups, note=note)


def method_label(method: str, table_id: str = "") -> str:
    if method == "ltw" and table_id == "5":
        return "Ours-full"
    return METHOD_LABELS.get(method, method)


def backbone_label(backbone: str) -> str:
    return BACKBONE_LABELS.get(backbone, backbone)


def paper_table(
    table_id: str,
    records: Sequence[RunRecord],
    methods: Sequence[str] | None = None,
    benchmarks: Sequence[str] | None = None,
    backbones: Sequence[str] | None = None,
) -> Table:
    """Table ``table_id`` (2-6): rows backbone x method, the paper's column groups restricted to ``benchmarks``
    (a movable table, Table 5, whose groups do not hold all of ``benchmarks`` is moved onto them instead)."""
    spec = TABLES[table_id]
    if spec.movable and benchmarks and not set(benchmarks) <= set(spec.benchmarks):
        spec = moved(spec, benchmarks)
    methods = list(methods or spec.methods)
    backbones = list(backbones or spec.backbones or _ordered(r.backbone for r in records))
    groups = [g for g in spec.groups if benchmarks is None or g.benchmark in benchmarks]
    if not groups:
        raise ValueError(
            f"table {table_id} has no column for {', '.join(benchmarks or [])}; its benchmarks: "
            f"{', '.join(spec.benchmarks)}"
        )
    multi = len(spec.groups) > 1  # tables 5 and 6 name their one group in the title
    table = Table(
        table_id,
        f"Table {table_id}. {spec.title}",
        ("Method",) if table_id != "6" else ("Backbone",),
        [(g.header if multi else "", m) for g in groups for m in PAPER_METRICS],
        note=spec.note,
    )
    for backbone in backbones:
        for method in methods:
            if table_id == "6":
                label = backbone_label(backbone) + ("" if method == "alltrain" else f"+{method_label(method)}")
            elif len(backbones) > 1:
                label = f"{backbone_label(backbone)} {method_label(method, table_id)}"
            else:
                label = method_label(method, table_id)
            cells = []
            for group in groups:
                mine = _runs(records, method, backbone, group.benchmark)
                cells += [_cell(mine, m, group.targets) for m in PAPER_METRICS]
            table.rows.append(Row((label,), method, backbone, cells))
    return table


def long_table(
    records: Sequence[RunRecord],
    methods: Sequence[str] | None = None,
    benchmarks: Sequence[str] | None = None,
    backbones: Sequence[str] | None = None,
) -> Table:
    """Every metric per backbone x method x benchmark x target set (targets as evaluated; "–" if none ran)."""
    methods = list(methods or _ordered(r.method for r in records))
    benchmarks = list(benchmarks or _ordered(r.benchmark for r in records))
    backbones = list(backbones or _ordered(r.backbone for r in records))
    table = Table(
        "all",
        "All metrics per method, benchmark and target set (frame level; video AUC per video)",
        ("Backbone", "Method", "Benchmark", "Target"),
        [("", m) for m in LONG_METRICS],
    )
    for backbone in backbones:
        for method in methods:
            for benchmark in benchmarks:
                targets = _ordered(t for r in records if r.benchmark == benchmark for t in r.targets) or [MISSING]
                mine = _runs(records, method, backbone, benchmark)
                for target in targets:
                    cells = [_cell([r for r in mine if target in r.targets], m, (target,)) for m in LONG_METRICS]
                    table.rows.append(Row((backbone, method, benchmark, target), method, backbone, cells))
    return table


def build_table(
    table_id: str,
    records: Sequence[RunRecord],
    methods: Sequence[str] | None = None,
    benchmarks: Sequence[str] | None = None,
    backbones: Sequence[str] | None = None,
) -> Table:
    """``table_id`` "2"-"6" (the paper's layouts) or "all" (the long table)."""
    if table_id not in TABLE_IDS:
        raise ValueError(f"unknown table {table_id!r}; valid: {', '.join(TABLE_IDS)}")
    if table_id == "all":
        return long_table(records, methods, benchmarks, backbones)
    return paper_table(table_id, records, methods, benchmarks, backbones)


def _best(table: Table, column: int) -> float | None:
    means = [row.cells[column].mean for row in table.rows if row.cells[column].mean is not None]
    if len(means) < 2:
        return None
    return max(means) if table.columns[column][1].higher_is_better else min(means)


def format_stat(stat: Stat, max_n: int, digits: int = 3) -> str:
    """``0.856 ± 0.012``; ``(n=2)`` appended when fewer seeds than the table's most; "–" when none."""
    if stat.mean is None:
        return MISSING
    text = f"{stat.mean:.{digits}f}" + (f" ± {stat.std:.{digits}f}" if stat.std is not None else "")
    return text + (f" (n={stat.n})" if stat.n < max_n else "")


def to_markdown(table: Table, digits: int = 3) -> str:
    """A Markdown table: title, the statistics note, header, rows; in paper tables each column's best mean in bold."""
    max_n = table.max_n
    header = [*table.index, *(f"{g} {m.label}".strip() for g, m in table.columns)]
    best = [None if table.id == "all" else _best(table, i) for i in range(len(table.columns))]
    lines = [
        f"**{table.title}**",
        "",
        f"Mean ± std over seeds (sample std, ddof={DDOF}); n = {max_n} seed(s) per cell unless marked; "
        f"{MISSING} = no finished run" + ("." if table.id == "all" else "; best mean per column in bold."),
        "",
        *([table.note, ""] if table.note else []),
        "| " + " | ".join(header) + " |",
        "|" + "|".join([" --- "] * len(table.index) + [" ---: "] * len(table.columns)) + "|",
    ]
    for row in table.rows:
        cells = []
        for i, stat in enumerate(row.cells):
            text = format_stat(stat, max_n, digits)
            bold = best[i] is not None and stat.mean is not None and round(stat.mean, digits) == round(best[i], digits)
            cells.append(f"**{text}**" if bold else text)
        lines.append("| " + " | ".join([*row.labels, *cells]) + " |")
    return "\n".join(lines) + "\n"


def csv_header(table: Table) -> list[str]:
    index = [name.lower() for name in table.index] if table.id == "all" else ["row", "method", "backbone"]
    stats = [f"{(g + ' ') if g else ''}{m.label} {part}" for g, m in table.columns for part in ("mean", "std", "n")]
    return index + stats


def _number(value: float | None) -> str:
    return "" if value is None else repr(value)


def to_csv(table: Table) -> str:
    """One line per row: index columns, then ``<group> <metric> mean|std|n`` at full precision (empty if missing)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(csv_header(table))
    for row in table.rows:
        index = list(row.labels) if table.id == "all" else [*row.labels, row.method, row.backbone]
        writer.writerow(index + [v for c in row.cells for v in (_number(c.mean), _number(c.std), str(c.n))])
    return buffer.getvalue()


def write_table(table: Table, out_dir: str | os.PathLike) -> tuple[Path, Path]:
    """``OUT/table<id>.md`` and ``.csv``, each written atomically (temp file, then rename)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"table{table.id}"
    return (
        atomic_write_text(out_dir / f"{stem}.md", to_markdown(table)),
        atomic_write_text(out_dir / f"{stem}.csv", to_csv(table)),
    )
