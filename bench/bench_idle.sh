#!/usr/bin/env bash
# bench_idle.sh - what an idle daemon costs: `tpsd serve` on a copy of a
# database, with no job, measured fresh (IDLE seconds after it answers),
# right after a burst of API load (bench_hol.py: slow trends and fast run
# lists at once, BURST seconds) and again after IDLE seconds of quiet.
# With --job 1, then one short job against tpsd-sim (3 repetitions of
# two 64-token cases, backend none) and again IDLE seconds after it ends.
# Prints RSS (VmRSS, kB; RssAnon, the daemon's own heap and stacks),
# threads, whether libcurl is mapped, the resident kB of the files mapped
# since the first figures (new_files_kb: libcurl and the libraries it
# brought, once loaded), the TOP mappings by resident size
# (/proc/PID/smaps, summed per file), and the wake-ups of every thread over
# WINDOW seconds of quiet (context switches, voluntary + involuntary, from
# /proc/PID/task/*/status; a thread that sleeps until woken adds nothing).
#
# usage: bench/bench_idle.sh --build DIR --db FILE [--burst S] [--idle S]
#            [--window S] [--job 0|1] [--top N] [--out DIR]
#   DIR holds tpsd (a CMake build directory; Release for meaningful
#   figures) and, for --job 1, tests/tpsd-sim. FILE is copied; a history
#   database (bench_history fill) gives the burst something to read.
# Linux (needs /proc); exit 2 elsewhere. Needs curl and python3.
set -euo pipefail

BENCH=bench_idle
. "$(dirname "$0")/lib.sh"
BUILD="" DB="" BURST=20 IDLE=15 WINDOW=60 JOB=0 TOP=8 OUT=""
bench_args 21 --build --db --burst --idle --window --job --top --out -- "$@"
[ -d /proc/self/task ] || bench_die "needs Linux /proc"
[ -n "$DB" ] || bench_die "--build DIR and --db FILE are required"
bench_bins "$JOB"
bench_outdir idle
cp "$DB" "$OUT/idle.db"
SERVE_ARGS=(--db "$OUT/idle.db")
if [ "$JOB" = 1 ]; then
    # A fast model, loaded (for backend none): 20 ms to the first token,
    # 400 tokens/s.
    bench_sim '{"models": [{"key": "idle", "ttft_ms": 20, "tps": 400, "text": "tok "}], "loaded": ["idle"]}'
    SERVE_ARGS+=(--base-url "$SIM_URL")
fi
bench_serve -- "${SERVE_ARGS[@]}"

# VmRSS, and of it the anonymous memory (heap, stacks: the daemon's own;
# the rest is shared libraries' pages)
rss() { awk '/^VmRSS:/ {r=$2} /^RssAnon:/ {a=$2} END {print r " rss_anon_kb=" a}' "/proc/$SERVE_PID/status"; }
threads() { ls "/proc/$SERVE_PID/task" | wc -l; }
# thread id, name and its context switches so far, one line each
switches() {
    local t
    for t in /proc/"$SERVE_PID"/task/*; do
        awk -v tid="${t##*/}" -v name="$(cat "$t/comm")" \
            '/^voluntary_ctxt_switches:/ {v=$2} /^nonvoluntary_ctxt_switches:/ {n=$2}
             END {print tid, name, v + n}' "$t/status"
    done
}
# Wake-ups per thread over WINDOW quiet seconds, and their total.
wakeups() {
    switches > "$OUT/sw0"
    sleep "$WINDOW"
    switches > "$OUT/sw1"
    awk -v w="$WINDOW" 'NR == FNR {s[$1] = $3; next}
        {d = $3 - ($1 in s ? s[$1] : 0); tot += d; printf "  thread %s %s: %d\n", $1, $2, d}
        END {printf "  total %d wake-ups in %d s\n", tot, w}' "$OUT/sw0" "$OUT/sw1"
}

# "mapped" when any mapping of the daemon is a libcurl file, else "no".
libcurl() { if grep -q libcurl "/proc/$SERVE_PID/maps"; then echo mapped; else echo no; fi; }
# The TOP files (or [heap], [stack], anonymous) by resident kB, summed
# over their mappings, from /proc/PID/smaps.
top() {
    [ "$TOP" -gt 0 ] || return 0
    awk '/^[0-9a-f]+-[0-9a-f]+ / {n = ($6 == "" ? "[anon]" : $6); sub(/.*\//, "", n); next}
         /^Rss:/ {r[n] += $2}
         END {for (k in r) if (r[k] > 0) print r[k], k}' "/proc/$SERVE_PID/smaps" |
        sort -rn | head -n "$TOP" | awk '{printf "%s %s=%d", (NR > 1 ? "," : "  top kB:"), $2, $1} END {print ""}'
}
# The files mapped into the daemon now, one a line.
files() { awk '$6 ~ /^\// {print $6}' "/proc/$SERVE_PID/maps" | sort -u; }
# Resident kB of the files mapped now that were not at the first phase
# (libcurl and what it brought, once a job has loaded it).
new_kb() {
    awk 'NR == FNR {old[$1] = 1; next}
         /^[0-9a-f]+-[0-9a-f]+ / {n = $6; next}
         /^Rss:/ && n ~ /^\// && !(n in old) {k += $2}
         END {print k + 0}' "$OUT/files0" "/proc/$SERVE_PID/smaps"
}
# phase LABEL: one line of figures, then the top mappings.
phase() {
    [ -f "$OUT/files0" ] || files > "$OUT/files0"
    echo "$1: rss_kb=$(rss) threads=$(threads) libcurl=$(libcurl) new_files_kb=$(new_kb)"
    top
}

sleep "$IDLE"
phase "fresh (after ${IDLE} s)"
echo "wake-ups while idle, ${WINDOW} s:"
wakeups
python3 "$SRC/bench/bench_hol.py" --url "$API" --duration "$BURST" > "$OUT/burst.txt"
phase "after a ${BURST} s burst (bench_hol.py)"
sleep "$IDLE"
phase "after ${IDLE} s idle"
echo "wake-ups while idle after the burst, ${WINDOW} s:"
wakeups
if [ "$JOB" = 1 ]; then
    SUITE='{"name":"idle","cases":[{"name":"a","max_tokens":64,"messages":[{"role":"user","content":"go"}]},{"name":"b","max_tokens":64,"messages":[{"role":"user","content":"again"}]}]}'
    SPEC='{"name":"idle","models":["idle"],"repetitions":3,"backend":{"type":"none"},"suite":'"$SUITE"'}'
    ID=$(curl -fsS -H 'Content-Type: application/json' -d "$SPEC" "$API/v1/jobs" |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
    for _ in $(seq 600); do
        ST=$(curl -fsS "$API/v1/jobs/$ID" | python3 -c 'import json,sys; print(json.load(sys.stdin)["state"])')
        case "$ST" in succeeded|failed|cancelled|interrupted) break ;; esac
        sleep 0.1
    done
    phase "job $ID $ST, right after"
    sleep "$IDLE"
    phase "after the job and ${IDLE} s idle"
    echo "wake-ups while idle after the job, ${WINDOW} s:"
    wakeups
fi
echo "burst figures (ms):"
sed 's/^/  /' "$OUT/burst.txt"
