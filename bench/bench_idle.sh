#!/usr/bin/env bash
# bench_idle.sh - what an idle daemon costs: `tpsd serve` on a copy of a
# database, with no job, measured fresh (IDLE seconds after it answers),
# right after a burst of API load (bench_hol.py: slow trends and fast run
# lists at once, BURST seconds) and again after IDLE seconds of quiet.
# Prints RSS (VmRSS, kB), threads, and the wake-ups of every thread over
# WINDOW seconds of quiet (context switches, voluntary + involuntary, from
# /proc/PID/task/*/status; a thread that sleeps until woken adds nothing).
#
# usage: bench/bench_idle.sh --build DIR --db FILE [--burst S] [--idle S]
#            [--window S] [--out DIR]
#   DIR holds tpsd (a CMake build directory; Release for meaningful
#   figures). FILE is copied; a history database (bench_history fill)
#   gives the burst something to read.
# Linux (needs /proc); exit 2 elsewhere. Needs curl and python3.
set -euo pipefail

BENCH=bench_idle
. "$(dirname "$0")/lib.sh"
BUILD="" DB="" BURST=20 IDLE=15 WINDOW=60 OUT=""
bench_args 16 --build --db --burst --idle --window --out -- "$@"
[ -d /proc/self/task ] || bench_die "needs Linux /proc"
[ -n "$DB" ] || bench_die "--build DIR and --db FILE are required"
bench_bins 0
bench_outdir idle
cp "$DB" "$OUT/idle.db"
bench_serve -- --db "$OUT/idle.db"

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

sleep "$IDLE"
echo "fresh (after ${IDLE} s): rss_kb=$(rss) threads=$(threads)"
echo "wake-ups while idle, ${WINDOW} s:"
wakeups
python3 "$SRC/bench/bench_hol.py" --url "$API" --duration "$BURST" > "$OUT/burst.txt"
echo "after a ${BURST} s burst (bench_hol.py): rss_kb=$(rss) threads=$(threads)"
sleep "$IDLE"
echo "after ${IDLE} s idle: rss_kb=$(rss) threads=$(threads)"
echo "wake-ups while idle after the burst, ${WINDOW} s:"
wakeups
echo "burst figures (ms):"
sed 's/^/  /' "$OUT/burst.txt"
