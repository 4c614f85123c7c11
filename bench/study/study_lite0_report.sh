#!/usr/bin/env bash
# The ImageNet-Lite0 synthff study's analysis (issue 15): the tables and figures of docs/RESULTS.md's study
# section that compare the runs (significance on both test sets, Table 5's pairs, curves, run times, the tables
# `ltw-tf benchmark` wrote), from the runs bench/study/study_lite0.sh made; the per-run probes (bench/study/meta_signal.py,
# bench/study/icc_share.py, `ltw-tf weights`) are separate commands named in RESULTS. Reads finished runs only (an
# interim report is safe while the study trains) and trains nothing; run scores are cached, so a rerun scores only
# the runs that finished since.
#
#   bench/study/study_lite0_report.sh                 # -> $OUT/*.md, *.json; figures to $IMG
#   DATA=/work/data OUT=/tmp/report IMG=/tmp/report bench/study/study_lite0_report.sh   # interim: keep docs/img as is
#
# Tables 2, 3 and 5 are the ones `ltw-tf benchmark` wrote at the end of each phase ($RUNS/tables); they are copied.
# The comparison is made on seeds 0-4, the seeds of those tables; phase E's seeds 5-9, once any has finished, get
# their own files (*-10seeds: every finished seed) and figure (study_lite0_10seeds.png).
set -euo pipefail
cd "$(dirname "$0")/../.."
DATA=${DATA:-/work/data}
RUNS=$DATA/runs/study-lite0
OUT=${OUT:-$DATA/analysis/study-lite0}
IMG=${IMG:-docs/img}
PY=${PY:-.venv/bin/python}
# the study's settings hash: phase L's longer runs (another hash) lie beside its runs and are compared apart, below
SETTINGS=${SETTINGS:-b6e7f4c3}
SIG=("$PY" bench/study/study_significance.py --runs-dir "$RUNS" --cache "$DATA/runs/study-lite0-scores"
  --settings "$SETTINGS")
EVAL=(--eval-root "$DATA/sff-eval1-faces")
ABLATIONS=ltw-no-icc,ltw-no-weight,ltw-no-meta-test
mkdir -p "$OUT" "$IMG"

step() { echo "$(date -u +%T) $1" >&2; }
# Recorded AUCs (study_significance --record / --recorded): phase E's scored runs are added to RECORDED (a file in
# the repo, committed with the write-up), and seeds whose runs went with another machine are pooled from it (the
# original machine's seeds 0-4). RECORD= (empty) scores without recording, e.g. where seeds 0-4 were trained again.
RECORDED=${RECORDED:-bench/study/recorded_aucs.json}
RECORD=${RECORD-$RECORDED}
FIVE=(--seeds 0,1,2,3,4)  # the issue's five seeds, those of Tables 2-3; phase E's seeds 5-9 are reported apart
if compgen -G "$RUNS/gid-*-s[0-4]-$SETTINGS" >/dev/null; then
  five_here=1
else
  five_here=0
  step "seeds 0-4 are not on this machine: their tables and figures stay as RESULTS has them (AUCs in $RECORDED)"
fi
if [ $five_here = 1 ]; then
  step "LTW vs Alltrain and MLDG on the independent evaluation build (sff-eval1), seeds 0-4"
  "${SIG[@]}" "${EVAL[@]}" "${FIVE[@]}" --methods alltrain,mldg --plot "$IMG/study_lite0.png" \
    --json "$OUT/sig-eval1.json" >"$OUT/sig-eval1.md"
  step "the same on each run's own test split"
  "${SIG[@]}" "${FIVE[@]}" --methods alltrain,mldg --plot "$OUT/study_lite0_own.png" --json "$OUT/sig-own.json" \
    >"$OUT/sig-own.md"
fi
if compgen -G "$RUNS/gid-*-s[5-9]-$SETTINGS" >/dev/null; then
  step "phase E: every finished seed (up to 0-9; recorded ones pooled), both test sets; new runs recorded"
  keep=(--recorded "$RECORDED" ${RECORD:+--record "$RECORD"})
  "${SIG[@]}" "${EVAL[@]}" "${keep[@]}" --benchmarks gid-f2f23,gid-fs23,gid-nt23 --methods alltrain,mldg \
    --plot "$IMG/study_lite0_10seeds.png" --json "$OUT/sig-eval1-10seeds.json" >"$OUT/sig-eval1-10seeds.md"
  "${SIG[@]}" "${keep[@]}" --benchmarks gid-f2f23,gid-fs23,gid-nt23 --methods alltrain,mldg \
    --json "$OUT/sig-own-10seeds.json" >"$OUT/sig-own-10seeds.md"
  step "phase E's seeds 5-9 alone (the scored runs, no recorded seed), evaluation build"
  "${SIG[@]}" "${EVAL[@]}" --seeds 5,6,7,8,9 --benchmarks gid-f2f23,gid-fs23,gid-nt23 --methods alltrain,mldg \
    --json "$OUT/sig-eval1-seeds5-9.json" >"$OUT/sig-eval1-seeds5-9.md"
  "$PY" bench/study/meta_splits.py --runs-dir "$RUNS" --settings "$SETTINGS" --significance "$OUT/sig-eval1-10seeds.json" \
    >"$OUT/meta-splits-10seeds.md" ||  # RESULTS' phase-E check: GID-NT23, seeds 5, 8, 9 against 6, 7
    step "meta-splits of phase E: no LTW run on this machine (the error above; the draws follow from the seed)"
fi
LONG=${LONG:-4eb26433}  # phase L's settings hash (3 epochs of 300 steps)
if compgen -G "$RUNS/gid-nt23-*-$LONG" >/dev/null || grep -qs "\"$LONG\"" "$RECORDED"; then
  if compgen -G "$RUNS/gid-nt23-*-$LONG" >/dev/null && [ -n "$RECORD" ]; then
    step "phase L: its scored runs recorded (both test sets)"
    for faces in "${EVAL[*]}" ""; do  # word-split on purpose: the eval build's two words, then none
      "$PY" bench/study/study_significance.py --runs-dir "$RUNS" --cache "$DATA/runs/study-lite0-scores" \
        --settings "$LONG" --benchmarks gid-nt23 --methods alltrain,mldg --record "$RECORD" $faces >/dev/null
    done
  fi
  step "phase L: 900 against 300 steps on GID-NT23, the seeds at both (recorded ones pooled; both test sets)"
  LONGER=("$PY" bench/study/longer_runs.py --runs-dir "$RUNS" --benchmark gid-nt23 --recorded "$RECORDED"
    --cache "$DATA/runs/study-lite0-scores")
  "${LONGER[@]}" "${EVAL[@]}" --json "$OUT/longer-eval1.json" >"$OUT/longer-eval1.md"
  "${LONGER[@]}" --json "$OUT/longer-own.json" >"$OUT/longer-own.md" ||  # the original seeds 0-4 are recorded
    step "phase L on the runs' own test splits: no comparison (the error above)"  # on the evaluation build only
fi
if compgen -G "$RUNS/gid-f2f23-ltw-no-*" >/dev/null; then
  step "Table 5's rows against LTW on GID-F2F23 (evaluation build)"
  "${SIG[@]}" "${EVAL[@]}" "${FIVE[@]}" --benchmarks gid-f2f23 --methods "alltrain,$ABLATIONS" \
    --summary "alltrain,$ABLATIONS" --plot "$IMG/study_lite0_table5.png" \
    --json "$OUT/sig-table5-eval1.json" >"$OUT/sig-table5-eval1.md"
fi
if compgen -G "$RUNS/gid-*-ltw-step-split-*" >/dev/null; then
  step "phase F: LTW against its per-step-split variant and MLDG (evaluation build)"
  "${SIG[@]}" "${EVAL[@]}" "${FIVE[@]}" --benchmarks gid-f2f23,gid-nt23 --methods ltw-step-split,mldg,alltrain \
    --summary ltw-step-split,mldg --json "$OUT/sig-step-split-eval1.json" >"$OUT/sig-step-split-eval1.md"
  step "phase F: MLDG against the per-step-split variant (evaluation build; a comparison chosen after the fact)"
  "${SIG[@]}" "${EVAL[@]}" "${FIVE[@]}" --benchmarks gid-f2f23,gid-nt23 --reference mldg \
    --methods ltw-step-split,ltw --summary ltw-step-split >"$OUT/sig-step-split-mldg-eval1.md"
fi
if [ $five_here = 1 ]; then
step "LTW's meta-test family per epoch beside its held-out AUC (reads the runs' histories)"
"$PY" bench/study/meta_splits.py --runs-dir "$RUNS" --settings "$SETTINGS" --significance "$OUT/sig-eval1.json" --json "$OUT/meta-splits.json" \
  >"$OUT/meta-splits.md"
step "per-step curves of LTW and MLDG"
"$PY" bench/study/study_curves.py --runs-dir "$RUNS" --methods ltw,mldg --plot "$IMG/study_lite0_curves.png" \
  --json "$OUT/curves.json" >"$OUT/curves.md"
step "what the 0.5 threshold calls the held-out faces (own test split, runs already scored; explains ACC)"
"$PY" - "$RUNS" "$DATA/runs/study-lite0-scores" >"$OUT/threshold.md" <<'PY'
"""Per split and method, seeds 0-4, own test split, the runs whose scores are cached (nothing is scored here): the
share of held-out fakes scored > 0.5 and of reals <= 0.5."""
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, "bench/study")
from study_significance import cached_scores, finished_runs

runs, cache = Path(sys.argv[1]), Path(sys.argv[2])
print("| split | method | runs | fakes called fake (min-max) | reals called real (min-max) |")
print("|---|---|---:|---|---|")
for group, by_method in sorted(finished_runs(runs).items()):
    for method, seeded in sorted(by_method.items()):
        rates = []
        for seed, run in sorted(seeded):
            if seed <= 4 and (scores := cached_scores(run, cache)) is not None:
                labels, probs, _ = scores
                rates.append(((probs[labels == 1] > 0.5).mean(), (probs[labels == 0] <= 0.5).mean()))
        if rates:
            fake, real = np.array(rates).T
            print(f"| {group} | {method} | {len(rates)} | {fake.min():.3f}-{fake.max():.3f} | {real.min():.3f}-{real.max():.3f} |")
PY
fi
shopt -s nullglob
logs=("$DATA"/logs/study-2*.log)
shopt -u nullglob
step "run times from the study's logs (${#logs[@]} logs)"
"$PY" - "${logs[@]}" >"$OUT/times.md" <<'PY'
"""Per method: runs and their logged "trained / resumed (s)" times (time lost to an interruption is not logged);
phase L's runs (after a "phase L start" or "phase L-sK start" line) apart, as "METHOD (900 steps)"."""
import re
import statistics
import sys
from collections import defaultdict

line = re.compile(r"^\[\d+/\d+\] (\S+) (\S+) seed (\d+)\S*: (?:trained|resumed) \(([\d.]+) s\)")
start = re.compile(r"^phase (\S+) start ")
runs = defaultdict(float)
for path in sys.argv[1:]:
    with open(path, errors="replace") as log:
        longer = False
        for text in log.read().replace("\r", "\n").splitlines():
            if started := start.match(text):
                longer = started.group(1).partition("-")[0] == "L"  # L, or L-sK: a seed of it
            elif found := line.match(text):
                method, benchmark, seed, seconds = found.groups()
                runs[method + (" (900 steps)" if longer else ""), benchmark, seed] += float(seconds)
by_method = defaultdict(list)
for (method, _, _), seconds in runs.items():
    by_method[method].append(seconds)
print("| method | runs | median s per run | total h |\n|---|---:|---:|---:|")
for method, times in sorted(by_method.items()):
    print(f"| {method} | {len(times)} | {statistics.median(times):.0f} | {sum(times) / 3600:.2f} |")
print(f"| all | {len(runs)} | | {sum(runs.values()) / 3600:.2f} |")
PY
for tables in tables tables-10seeds tables-10seeds-nt23 tables-3x-steps tables-step-split; do  # A-D's, E's, L's, F's
  if compgen -G "$RUNS/$tables/*.md" >/dev/null; then
    mkdir -p "$OUT/$tables"
    cp "$RUNS/$tables"/*.md "$OUT/$tables/"
  fi
done
step "done: $OUT ($(ls "$OUT" | tr '\n' ' '))"
