"""Paper-style tables from hand-made run records: mean ± sample std over seeds, layouts of Tables 2-6 and the long
table, missing cells, CSV at full precision."""

import csv
import io
import statistics

import numpy as np
import pytest

from ltw_tf.benchmarks import FF_METHODS
from ltw_tf.tables import (
    DDOF,
    MISSING,
    TABLES,
    RunRecord,
    build_table,
    mean_std,
    to_csv,
    to_markdown,
    write_table,
)

GCD_TARGETS = ("Celeb-DF", "DFDC", *FF_METHODS)


def _metrics(acc, logloss=0.5, auc=0.9, eer=0.1, video_auc=0.95):
    return {
        "frame": {"acc": acc, "logloss": logloss, "auc": auc, "eer": eer, "n": 40},
        "video": {"acc": acc, "logloss": logloss, "auc": video_auc, "eer": eer, "n": 4},
    }


def _gid(method, benchmark, seed, acc, backbone="tiny", **kw):
    target = {"df": "Deepfakes", "f2f": "Face2Face", "fs": "FaceSwap", "nt": "NeuralTextures"}[benchmark[4:-2]]
    return RunRecord(method, benchmark, seed, backbone, {target: _metrics(acc, **kw)})


def _rows(text):
    return list(csv.DictReader(io.StringIO(text)))


def _md_row(markdown, label):
    line = next(line for line in markdown.splitlines() if line.startswith(f"| {label} |"))
    return [cell.strip() for cell in line.strip("|").split("|")]


def test_mean_std_is_the_sample_std_over_seeds():
    values = [0.80, 0.83, 0.89]
    stat = mean_std(values)
    assert DDOF == 1 and stat.n == 3
    assert stat.mean == pytest.approx(np.mean(values)) and stat.std == pytest.approx(np.std(values, ddof=1))
    # a 10-significant-digit hand value (rounding 5e-11); float64 itself is exact to 1e-17 here
    assert stat.std == pytest.approx(0.0458257569, abs=1e-9)
    one = mean_std([0.7])
    assert (one.mean, one.std, one.n) == (0.7, None, 1)
    none = mean_std([])
    assert (none.mean, none.std, none.n) == (None, None, 0)


def test_table2_layout_values_missing_cells_and_csv():
    records = [_gid("ltw", "gid-df23", s, acc) for s, acc in enumerate((0.80, 0.83, 0.89))]
    records += [_gid("alltrain", "gid-df23", s, acc, logloss=0.7) for s, acc in enumerate((0.70, 0.74))]
    records += [_gid("ltw", "gid-f2f40", 0, 0.61)]
    table = build_table("2", records)
    markdown = to_markdown(table)
    header = (
        "| Method | "
        + " | ".join(f"GID-{b} {m}" for b in ("DF23", "DF40", "F2F23", "F2F40") for m in ("ACC", "LOSS", "AUC", "EER"))
        + " |"
    )
    assert header in markdown.splitlines()
    assert markdown.startswith("**Table 2. Performance on the GID-DF23/40 and GID-F2F23/40 benchmarks**")
    assert "ddof=1" in markdown and "n = 3 seed(s)" in markdown
    assert [row.labels[0] for row in table.rows] == [
        "Basemodel",
        "Alltrain-Basemodel",
        "FocalLoss-Basemodel",
        "ForensicTransfer",
        "Multi-task",
        "MLDG",
        "Ours",
    ]  # the paper's row order and names
    assert "Basemodel: the backbone with a fresh seeded head, not trained" in markdown

    ours = _md_row(markdown, "Ours")
    std = np.std([0.80, 0.83, 0.89], ddof=1)
    assert ours[1] == f"**{np.mean([0.80, 0.83, 0.89]):.3f} ± {std:.3f}**" == "**0.840 ± 0.046**"
    assert ours[2] == "**0.500 ± 0.000**"  # the lower loss is the best
    assert ours[5:9] == [MISSING] * 4  # GID-DF40 never ran
    assert ours[13] == "0.610 (n=1)"  # one seed: no std, n marked
    alltrain = _md_row(markdown, "Alltrain-Basemodel")
    assert alltrain[1] == "0.720 ± 0.028 (n=2)" and alltrain[2] == "0.700 ± 0.000 (n=2)"
    assert _md_row(markdown, "MLDG")[1:] == [MISSING] * 16

    rows = _rows(to_csv(table))
    assert list(rows[0])[:6] == ["row", "method", "backbone", "GID-DF23 ACC mean", "GID-DF23 ACC std", "GID-DF23 ACC n"]
    assert len(rows[0]) == 3 + 16 * 3
    row = next(r for r in rows if r["method"] == "ltw")
    assert float(row["GID-DF23 ACC mean"]) == statistics.fmean([0.80, 0.83, 0.89])
    assert float(row["GID-DF23 ACC std"]) == statistics.stdev([0.80, 0.83, 0.89])
    assert row["GID-DF23 ACC n"] == "3" and row["GID-F2F40 ACC n"] == "1" and row["GID-F2F40 ACC std"] == ""
    mldg = next(r for r in rows if r["method"] == "mldg")
    assert mldg["GID-DF23 AUC mean"] == "" and mldg["GID-DF23 AUC n"] == "0"


def test_table3_columns_and_benchmark_subset():
    records = [_gid("mldg", "gid-nt23", s, 0.6 + s / 100) for s in range(2)]
    table = build_table("3", records, methods=["mldg", "ltw"], benchmarks=["gid-nt23"])
    assert [f"{g} {m.label}" for g, m in table.columns] == [
        "GID-NT23 ACC",
        "GID-NT23 LOSS",
        "GID-NT23 AUC",
        "GID-NT23 EER",
    ]
    assert [row.labels[0] for row in table.rows] == ["MLDG", "Ours"]
    assert table.rows[0].cells[0].mean == pytest.approx(0.605) and table.rows[1].cells[0].n == 0
    assert [g.header for g in TABLES["3"].groups] == ["GID-FS23", "GID-FS40", "GID-NT23", "GID-NT40"]
    with pytest.raises(ValueError, match="no column for gid-df23"):
        build_table("3", records, benchmarks=["gid-df23"])
    with pytest.raises(ValueError, match="unknown table '7'"):
        build_table("7", records)


def _gcd(method, seed, accs, backbone="tiny"):
    return RunRecord(method, "gcd", seed, backbone, {t: _metrics(a) for t, a in zip(GCD_TARGETS, accs)})


def test_table4_gcd_others_avg_averages_the_four_ff_sets_within_a_run():
    runs = {0: (0.60, 0.62, 0.90, 0.92, 0.94, 0.96), 1: (0.64, 0.60, 0.80, 0.82, 0.84, 0.86)}
    table = build_table("4", [_gcd("ltw", s, accs) for s, accs in runs.items()])
    assert [f"{g} {m.label}" for g, m in table.columns][::4] == ["GCD-CeleDF ACC", "GCD-DFDC ACC", "GCD-OthersAVG ACC"]
    ours = table.rows[-1]
    assert ours.labels == ("Ours",)
    others = [np.mean(accs[2:]) for accs in runs.values()]  # per run: mean of the four FF++ test sets
    assert ours.cells[8].mean == pytest.approx(np.mean(others)) and ours.cells[8].std == pytest.approx(
        np.std(others, ddof=1)
    )
    assert ours.cells[0].mean == pytest.approx(0.62) and ours.cells[4].mean == pytest.approx(0.61)
    partial = RunRecord("ltw", "gcd", 2, "tiny", {"Celeb-DF": _metrics(0.5)})  # no FF++ sets: not in OthersAVG
    table = build_table("4", [_gcd("ltw", s, accs) for s, accs in runs.items()] + [partial])
    assert table.rows[-1].cells[0].n == 3 and table.rows[-1].cells[8].n == 2


def test_table5_ablation_rows():
    records = [_gid(m, "gid-df23", 0, acc) for m, acc in (("alltrain", 0.82), ("ltw-no-icc", 0.84), ("ltw", 0.86))]
    table = build_table("5", records)
    markdown = to_markdown(table)
    assert "| Method | ACC | LOSS | AUC | EER |" in markdown
    assert [row.labels[0] for row in table.rows] == [
        "Alltrain-Basemodel",
        "w/o ICC Loss",
        "w/o Weight-aware",
        "w/o Meta-testing",
        "Ours-full",
    ]
    assert _md_row(markdown, "Ours-full")[1] == "**0.860**" and _md_row(markdown, "w/o ICC Loss")[1] == "0.840"
    assert _md_row(markdown, "w/o Weight-aware")[1:] == [MISSING] * 4
    assert [r["method"] for r in _rows(to_csv(table))] == list(TABLES["5"].methods)
    assert "then the detector is reset to its initial weights and retrained for E more epochs" in markdown


def test_table5_moves_to_another_split_and_says_so():
    records = [
        _gid("ltw", "gid-f2f23", 0, 0.73),
        _gid("ltw", "gid-df23", 0, 0.99),
        _gid("alltrain", "gid-f2f23", 0, 0.69),
    ]
    table = build_table("5", records, benchmarks=["gid-f2f23"])
    markdown = to_markdown(table)
    assert table.title == "Table 5. Ablation study on the GID-F2F23 benchmark"
    assert "The paper's Table 5 is on GID-DF23; this one is on GID-F2F23." in markdown
    # the cells are the GID-F2F23 runs, not the paper split's
    assert _md_row(markdown, "Ours-full")[1] == "**0.730**" and _md_row(markdown, "Alltrain-Basemodel")[1] == "0.690"
    assert [row.labels[0] for row in table.rows][-1] == "Ours-full" and len(table.rows) == 5
    paper = build_table("5", records, benchmarks=["gid-df23"])  # the paper's own split: unchanged
    assert paper.title == "Table 5. Ablation study on the GID-DF23 benchmark" and "paper's Table 5" not in paper.note
    with pytest.raises(ValueError, match="table 3 has no column for gid-df23"):  # only movable tables move
        build_table("3", records, benchmarks=["gid-df23"])


def test_table6_backbone_rows_with_and_without_ltw_on_gcd_avg():
    records = [_gcd("alltrain", 0, (0.6,) * 6, "xception"), _gcd("ltw", 0, (0.5, 0.7, 0.8, 0.8, 0.8, 0.8), "xception")]
    table = build_table("6", records, backbones=["efficientnet_b2", "xception"])
    assert table.index == ("Backbone",) and [f"{g} {m.label}".strip() for g, m in table.columns][0] == "ACC"
    assert [row.labels[0] for row in table.rows] == [
        "EfficientNet-B2",
        "EfficientNet-B2+Ours",
        "Xception",
        "Xception+Ours",
    ]
    assert table.rows[3].cells[0].mean == pytest.approx(np.mean([0.5, 0.7, 0.8, 0.8, 0.8, 0.8]))
    assert table.rows[0].cells[0].n == 0 and "| EfficientNet-B2 | – | – | – | – |" in to_markdown(table)
    assert TABLES["6"].backbones == ("efficientnet_b2", "efficientnet_b4", "xception", "resnet50", "vgg19")
    assert len(build_table("6", records).rows) == 10  # default: the paper's five backbones


def test_long_table_has_every_metric_per_target_and_marks_missing_benchmarks():
    records = [_gcd("ltw", s, (0.6 + s / 10,) * 6) for s in range(2)]
    records += [_gid("ltw", "gid-fs23", 0, 0.7, video_auc=0.75)]
    table = build_table("all", records, methods=["ltw", "focal"], benchmarks=["gcd", "gid-fs23"])
    markdown = to_markdown(table)
    assert "| Backbone | Method | Benchmark | Target | ACC | LogLoss | AUC | EER | video AUC |" in markdown
    assert "**" not in markdown.split("|", 1)[1]  # no "best" across unrelated rows
    assert len(table.rows) == 2 * (6 + 1)
    assert (
        "| tiny | ltw | gcd | DFDC | 0.650 ± 0.071 | 0.500 ± 0.000 | 0.900 ± 0.000 | 0.100 ± 0.000 | "
        "0.950 ± 0.000 |" in markdown
    )
    assert (
        "| tiny | ltw | gid-fs23 | FaceSwap | 0.700 (n=1) | 0.500 (n=1) | 0.900 (n=1) | 0.100 (n=1) | "
        "0.750 (n=1) |" in markdown
    )
    assert "| tiny | focal | gid-fs23 | FaceSwap | – | – | – | – | – |" in markdown
    rows = _rows(to_csv(table))
    assert list(rows[0])[:5] == ["backbone", "method", "benchmark", "target", "ACC mean"]
    assert float(rows[0]["video AUC mean"]) == 0.95 and rows[0]["target"] == "Celeb-DF"
    only_missing = build_table("all", [], methods=["ltw"], benchmarks=["gid-df23"], backbones=["tiny"])
    assert [row.labels for row in only_missing.rows] == [("tiny", "ltw", "gid-df23", MISSING)]


def test_write_table_writes_markdown_and_csv(tmp_path):
    table = build_table("5", [_gid("ltw", "gid-df23", 0, 0.86)])
    md, csv_path = write_table(table, tmp_path / "out")
    assert md.name == "table5.md" and csv_path.name == "table5.csv"
    assert md.read_text(encoding="utf-8") == to_markdown(table) and csv_path.read_text() == to_csv(table)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["table5.csv", "table5.md"]
