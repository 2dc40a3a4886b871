#!/usr/bin/env bash
# bench_hol.sh - head-of-line blocking, RUNS times: `tpsd serve` on a copy
# of a history database, bench_hol.py against it (slow trends requests and
# fast /v1/runs requests at once), then the medians over the runs of the
# fast requests' p50/p99 under load and of the slow requests' median.
#
# usage: bench/bench_hol.sh --build DIR --db FILE [--runs N] [--duration S]
#            [--heavy N] [--fast N] [--heavy-path P] [--out DIR]
#   DIR holds tpsd (Release for meaningful figures); FILE is a database
#   filled by bench_history (`BENCH_HOURS=... bench_history fill`), copied.
# Needs curl and python3.
set -euo pipefail

BENCH=bench_hol
. "$(dirname "$0")/lib.sh"
BUILD="" DB="" RUNS=5 OUT=""
bench_args 12 --build --db --runs --out +duration +heavy +fast +heavy-path +fast-path +pace-ms -- "$@"
[ -n "$DB" ] || bench_die "--build DIR and --db FILE are required"
bench_bins 0
bench_outdir hol
cp "$DB" "$OUT/hol.db"
bench_serve -- --db "$OUT/hol.db"
: > "$OUT/runs.txt"
for i in $(seq "$RUNS"); do
    python3 "$SRC/bench/bench_hol.py" --url "$API" ${PASS[@]+"${PASS[@]}"} | tee -a "$OUT/runs.txt" | sed "s/^/run $i: /"
done
python3 - "$OUT/runs.txt" <<'EOF'
import re, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    name, rest = line.split(" ", 1)
    for k, v in re.findall(r"(\w+)=([\d.]+)", rest):
        rows.setdefault((name, k), []).append(float(v))
for (name, k), vs in sorted(rows.items()):
    if k != "n":
        print("median of %d runs: %s %s=%.1f (%s)" %
              (len(vs), name, k, statistics.median(vs), " ".join("%.1f" % v for v in vs)))
EOF
