#!/usr/bin/env bash
# bench_soak.sh - the daemon's own footprint over a long run (RELIABILITY.md
# acceptance test 18): `tpsd serve` runs a stability job at a high request
# rate against tpsd-sim for DURATION seconds while this script reads the
# daemon's RSS, open fds, threads and the database's WAL size every PERIOD
# seconds and polls the API like a dashboard would. It prints a CSV of the
# readings and a summary: RSS at start (after the first minute: allocator
# and SQLite caches warmed) and at the end, fds and threads at start and end.
#
# With --leak-check lsan (an ASan build: LeakSanitizer runs at exit) or
# --leak-check valgrind (memcheck, --leak-check=full), the daemon is stopped
# with SIGTERM at the end and the leak report is checked: the script fails
# when any leak is reported.
#
# usage: bench/bench_soak.sh --build DIR [--duration S] [--period S]
#            [--concurrency N] [--max-tokens N] [--out DIR]
#            [--leak-check none|lsan|valgrind]
#   DIR holds tpsd and tests/tpsd-sim (a CMake build directory).
# Linux only (reads /proc). Needs curl and python3 (the fake lms).
set -euo pipefail

BENCH=bench_soak
. "$(dirname "$0")/lib.sh"
BUILD="" DURATION=600 PERIOD=10 CONCURRENCY=4 MAX_TOKENS=16 OUT="" LEAK_CHECK=none
bench_args 19 --build --duration --period --concurrency --max-tokens --out --leak-check -- "$@"
LEAK=$LEAK_CHECK
bench_bins 1
case "$LEAK" in none|lsan|valgrind) ;; *) bench_die "--leak-check none|lsan|valgrind" ;; esac
bench_outdir soak

# A fast model: 1 ms to the first token, 4000 tokens/s.
bench_sim '{"models": [{"key": "soak", "ttft_ms": 1, "tps": 4000, "text": "tok "}]}'
PRE=()
case "$LEAK" in
valgrind)
    PRE=(valgrind --leak-check=full --show-leak-kinds=definite,indirect
         --errors-for-leak-kinds=definite,indirect --error-exitcode=99 --log-file="$OUT/valgrind.log") ;;
lsan) PRE=(ASAN_OPTIONS="detect_leaks=1:exitcode=99") ;;
esac
bench_serve ${PRE[@]+"${PRE[@]}"} -- --db "$OUT/soak.db" --base-url "$SIM_URL" --server-pid "$SIM_PID" \
    --stability-sample-interval-ms 2000 --stability-event-s 30

SUITE='{"name":"soak","cases":[{"name":"a","max_tokens":'"$MAX_TOKENS"',"messages":[{"role":"user","content":"go"}]},{"name":"b","max_tokens":'"$MAX_TOKENS"',"messages":[{"role":"user","content":"again"}]}]}'
SPEC='{"kind":"stability","name":"soak","models":["soak"],"duration_s":'"$DURATION"',"load_pattern":{"type":"concurrent","concurrency":'"$CONCURRENCY"'},"suite":'"$SUITE"'}'
curl -fsS -H 'Content-Type: application/json' -d "$SPEC" "$API/v1/jobs" > "$OUT/job.json"

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$SERVE_PID/status"; }
threads() { awk '/^Threads:/ {print $2}' "/proc/$SERVE_PID/status"; }
fds() { ls "/proc/$SERVE_PID/fd" | wc -l; }
wal_kb() { if [ -f "$OUT/soak.db-wal" ]; then echo $(( $(stat -c %s "$OUT/soak.db-wal") / 1024 )); else echo 0; fi; }
state() { curl -fsS "$API/v1/jobs/1" | python3 -c 'import json,sys; j=json.load(sys.stdin); print(j["state"], j.get("samples", 0))'; }

echo "t_s,rss_kb,fds,threads,wal_kb,state,samples" > "$OUT/soak.csv"
T0=$(date +%s)
while :; do
    NOW=$(( $(date +%s) - T0 ))
    read -r ST NS < <(state)
    echo "$NOW,$(rss_kb),$(fds),$(threads),$(wal_kb),$ST,$NS" | tee -a "$OUT/soak.csv"
    # a dashboard's polling: the analysis, trends, health
    curl -fsS "$API/v1/jobs/1/stability" > /dev/null
    curl -fsS "$API/v1/healthz" > /dev/null
    case "$ST" in succeeded|failed|cancelled|interrupted) break ;; esac
    [ "$NOW" -gt $(( DURATION + 300 )) ] && { echo "bench_soak: job did not end" >&2; exit 1; }
    sleep "$PERIOD"
done
curl -fsS "$API/v1/jobs/1/stability" > "$OUT/stability.json"

python3 - "$OUT/soak.csv" "$OUT/stability.json" "$DURATION" <<'EOF'
import csv, json, sys
rows = list(csv.DictReader(open(sys.argv[1])))
a = json.load(open(sys.argv[2]))
dur = float(sys.argv[3])
warm = [r for r in rows if int(r["t_s"]) >= 60] or rows
start, end = warm[0], rows[-1]
run = a["runs"][0]
print("soak: %d s, %d requests (%.0f/s), %d errors" % (
    int(end["t_s"]), run["requests"], run["requests"] / max(run["elapsed_s"], 1), run["errors"]))
print("soak: tpsd RSS %.1f MB at %s s -> %.1f MB at %s s (max %.1f MB); first reading %.1f MB" % (
    int(start["rss_kb"]) / 1024, start["t_s"], int(end["rss_kb"]) / 1024, end["t_s"],
    max(int(r["rss_kb"]) for r in rows) / 1024, int(rows[0]["rss_kb"]) / 1024))
print("soak: fds %s -> %s, threads %s -> %s, WAL %s KB at the end (max %d KB)" % (
    start["fds"], end["fds"], start["threads"], end["threads"], end["wal_kb"],
    max(int(r["wal_kb"]) for r in rows)))
srv = run["memory"]["tpsd"]
print("soak: tpsd RSS fit from the job's own readings: %+.2f MB/hour" % (srv["growth_mb_per_hour"] or 0))
EOF

STATUS=0
if [ "$LEAK" != none ]; then
    kill -TERM "$SERVE_PID"
    set +e
    wait "$SERVE_PID"
    RC=$?
    set -e
    bench_forget "$SERVE_PID"
    if [ "$LEAK" = lsan ]; then
        if grep -q "LeakSanitizer" "$OUT/serve.err"; then
            echo "soak: LeakSanitizer reported leaks (exit $RC):"; grep -A20 "LeakSanitizer" "$OUT/serve.err" | head -60
            STATUS=1
        else
            echo "soak: LeakSanitizer: no leak (tpsd exit $RC)"
        fi
    else
        grep -E "in use at exit|All heap blocks were freed|definitely lost|indirectly lost|possibly lost|ERROR SUMMARY" "$OUT/valgrind.log" | sed 's/^==[0-9]*== /soak: valgrind: /'
        if [ "$RC" = 99 ]; then STATUS=1; fi
    fi
    [ "$RC" = 0 ] || [ "$RC" = 99 ] || { echo "soak: tpsd exit $RC"; STATUS=1; }
fi
echo "soak: readings in $OUT/soak.csv"
exit $STATUS
