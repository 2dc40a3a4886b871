#!/usr/bin/env bash
# bench_api_cpu_ab.sh - two tpsd builds side by side, idle (20 failed jobs in
# each database, no job running): wrk with CONNECTIONS connections for
# DURATION seconds on /v1/healthz and /v1/jobs, alternating A and B, RUNS
# times; prints requests/s and the daemon's CPU time per request (user+sys
# from /proc/PID/stat, Linux only), which a noisy shared machine disturbs far
# less than requests/s.
#
# usage: bench/bench_api_cpu_ab.sh TPSD_A TPSD_B [RUNS (3)] [DURATION (5)] [CONNECTIONS (64)]
set -euo pipefail
A=$1; B=$2; RUNS=${3:-3}; DURATION=${4:-5}; CONNECTIONS=${5:-64}
command -v wrk > /dev/null || { echo "bench_api_cpu_ab: wrk is not installed" >&2; exit 2; }
[ -r /proc/self/stat ] || { echo "bench_api_cpu_ab: needs /proc (Linux)" >&2; exit 2; }
D=$(mktemp -d "${TMPDIR:-/tmp}/tpsd-cpuab.XXXXXX")
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
declare -A PORT PID
for v in A B; do
    bin=$A; [ $v = B ] && bin=$B
    mkdir -p "$D/home_$v"
    PORT[$v]=$(free_port)
    HOME="$D/home_$v" "$bin" serve --db "$D/$v.db" --listen-port "${PORT[$v]}" \
        --max-connections $(( CONNECTIONS + 56 )) > "$D/$v.out" 2>&1 &
    PID[$v]=$!
    PIDS+=("$!")
done
sleep 2
for v in A B; do
    for i in $(seq 1 20); do
        curl -fsS -H 'Content-Type: application/json' -d '{"models":["m'"$i"'"],"suite":"standard"}' \
            "http://127.0.0.1:${PORT[$v]}/v1/jobs" > /dev/null
    done
done
sleep 2
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
printf '%-3s %-8s %4s %10s %10s %14s\n' bin endpoint run requests req/s cpu_us/req
for r in $(seq 1 "$RUNS"); do
    for v in A B; do
        for ep in healthz jobs; do
            t0=$(ticks "${PID[$v]}")
            wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" "http://127.0.0.1:${PORT[$v]}/v1/$ep" > "$D/wrk.txt" 2>&1
            t1=$(ticks "${PID[$v]}")
            n=$(awk '/requests in/{print $1}' "$D/wrk.txt")
            rps=$(awk '/Requests\/sec/{print $2}' "$D/wrk.txt")
            printf '%-3s %-8s %4d %10s %10s %14s\n' "$v" "$ep" "$r" "$n" "$rps" \
                "$(python3 -c "print(round(($t1 - $t0) / $hz * 1e6 / $n, 1))")"
        done
    done
done
