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

SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=""
DB=""
RUNS=5
OUT=""
PYARGS=()
while [ $# -gt 0 ]; do
    case "$1" in
    --build) BUILD=$2; shift 2 ;;
    --db) DB=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --duration|--heavy|--fast|--heavy-path|--fast-path|--pace-ms) PYARGS+=("$1" "$2"); shift 2 ;;
    -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench_hol: unknown argument $1" >&2; exit 2 ;;
    esac
done
[ -n "$BUILD" ] && [ -n "$DB" ] || { echo "bench_hol: --build DIR and --db FILE are required" >&2; exit 2; }
TPSD=$(cd "$BUILD" && pwd)/tpsd
[ -x "$TPSD" ] || { echo "bench_hol: no tpsd in $BUILD" >&2; exit 2; }
OUT=${OUT:-$(mktemp -d "${TMPDIR:-/tmp}/tpsd-hol.XXXXXX")}
mkdir -p "$OUT/home"
cp "$DB" "$OUT/hol.db"

SERVE_PID=""
cleanup() {
    if [ -n "$SERVE_PID" ]; then kill "$SERVE_PID" 2>/dev/null || true; wait "$SERVE_PID" 2>/dev/null || true; fi
}
trap cleanup EXIT
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
API="http://127.0.0.1:$PORT"
HOME="$OUT/home" "$TPSD" serve --db "$OUT/hol.db" --listen-port "$PORT" --lms "$SRC/tests/fake-lms" \
    --log-level warn > "$OUT/serve.out" 2> "$OUT/serve.err" &
SERVE_PID=$!
for _ in $(seq 600); do
    curl -fsS "$API/v1/healthz" > /dev/null 2>&1 && break
    kill -0 "$SERVE_PID" 2>/dev/null || { echo "bench_hol: tpsd serve exited; see $OUT/serve.err" >&2; exit 1; }
    sleep 0.1
done
: > "$OUT/runs.txt"
for i in $(seq "$RUNS"); do
    python3 "$SRC/bench/bench_hol.py" --url "$API" "${PYARGS[@]}" | tee -a "$OUT/runs.txt" | sed "s/^/run $i: /"
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
