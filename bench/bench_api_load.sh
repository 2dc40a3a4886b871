#!/usr/bin/env bash
# bench_api_load.sh - the REST API under load while a job runs (RELIABILITY.md
# acceptance test 19): `tpsd serve` runs a long benchmark job against
# tpsd-sim (through the fake lms) while `wrk` hammers the read endpoints,
# one after the other, with CONNECTIONS connections for DURATION seconds
# each: /v1/healthz, /v1/jobs, /v1/jobs/{id}, /v1/runs/{id}/samples and
# /metrics. For each it prints requests/s, p50/p99 latency, non-2xx
# answers and socket errors, and the job's own figures measured meanwhile
# (decode tok/s, TTFT of the samples sent in that window) beside those of
# an idle API before and after: the load must not disturb the measurement.
#
# usage: bench/bench_api_load.sh --build DIR [--duration S] [--connections N]
#            [--threads N] [--out DIR]
#   DIR holds tpsd and tests/tpsd-sim (a CMake build directory; a Release
#   build gives the meaningful figures).
# Exit 2 when wrk is missing (scripts/deps.sh --test installs it), 1 when an
# endpoint answered any 5xx/non-2xx or the job failed. Needs curl, python3.
set -euo pipefail

BENCH=bench_api_load
. "$(dirname "$0")/lib.sh"
BUILD="" DURATION=10 CONNECTIONS=200 THREADS=2 OUT=""
bench_args 19 --build --duration --connections --threads --out -- "$@"
command -v wrk > /dev/null || bench_die "wrk is not installed (scripts/deps.sh --test installs it)"
bench_bins 1
bench_outdir apiload
now_ms() { python3 -c 'import time; print(int(time.time() * 1000))'; }

# 64 tokens at 100 tok/s after 20 ms: a request takes about 0.65 s.
rm -f "$OUT"/bench.db*
bench_sim '{"models": [{"key": "bench", "ttft_ms": 20, "tps": 100, "text": "tok ", "size_bytes": 1e9}]}'
bench_serve -- --db "$OUT/bench.db" --base-url "$SIM_URL" --max-connections $(( CONNECTIONS + 56 ))

# Long enough to outlast every phase; cancelled at the end.
SUITE='{"name":"load","cases":[{"name":"a","max_tokens":64,"messages":[{"role":"user","content":"go"}]}]}'
SPEC='{"name":"api-load","models":["bench"],"repetitions":10000,"warmup":1,"suite":'"$SUITE"'}'
JOB=$(curl -fsS -H 'Content-Type: application/json' -d "$SPEC" "$API/v1/jobs" |
      python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
samples() { curl -fsS "$API/v1/jobs/$JOB" | python3 -c 'import json,sys; j=json.load(sys.stdin); print(j["state"], j["samples"])'; }
for _ in $(seq 600); do
    read -r ST NS < <(samples)
    [ "$ST" = running ] && [ "$NS" -ge 2 ] && break
    case "$ST" in failed|cancelled|succeeded) echo "bench_api_load: job $ST; see $OUT/serve.err" >&2; exit 1 ;; esac
    sleep 0.2
done
RUN=$(curl -fsS "$API/v1/runs?job=$JOB" | python3 -c 'import json,sys; print(json.load(sys.stdin)["runs"][0]["id"])')

echo "name,t0_ms,t1_ms" > "$OUT/windows.csv"
phase_idle() {
    local t0
    t0=$(now_ms)
    sleep "$DURATION"
    echo "$1,$t0,$(now_ms)" >> "$OUT/windows.csv"
}
phase_wrk() {
    local name=$1 path=$2 t0
    t0=$(now_ms)
    wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency "$API$path" > "$OUT/wrk-$name.txt" 2>&1 || true
    echo "$name,$t0,$(now_ms)" >> "$OUT/windows.csv"
}

echo "bench_api_load: job $JOB running; $DURATION s per phase, $CONNECTIONS connections, $THREADS wrk threads"
phase_idle idle-before
phase_wrk healthz /v1/healthz
phase_wrk jobs /v1/jobs
phase_wrk job "/v1/jobs/$JOB"
phase_wrk samples "/v1/runs/$RUN/samples"
phase_wrk metrics /metrics
phase_idle idle-after
read -r ST NS < <(samples)
curl -fsS -X POST "$API/v1/jobs/$JOB/cancel" > /dev/null
curl -fsS "$API/v1/runs/$RUN/samples?limit=5000" > "$OUT/samples.json"

python3 - "$OUT" "$ST" <<'EOF'
import csv, json, os, re, statistics, sys
out, state = sys.argv[1], sys.argv[2]
wins = list(csv.DictReader(open(os.path.join(out, "windows.csv"))))
samples = [s for s in json.load(open(os.path.join(out, "samples.json")))["samples"]
           if not s["warmup"]]

def ms(v):
    m = re.match(r"([\d.]+)(us|ms|s)$", v)
    return float(m.group(1)) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[m.group(2)] if m else float("nan")

def job_figures(w):
    t0, t1 = int(w["t0_ms"]), int(w["t1_ms"])
    inside = [s for s in samples if t0 <= s["started_at"] <= t1 and s["ok"]]
    if not inside:
        return 0, float("nan"), float("nan")
    return (len(inside), statistics.mean(s["decode_tps"] for s in inside),
            statistics.mean(s["ttft_ms"] for s in inside))

bad = 0
print("%-12s %10s %9s %9s %9s %8s %8s  %4s %12s %9s" % (
    "endpoint", "req/s", "p50 ms", "p99 ms", "max ms", "non-2xx", "sockerr", "n", "job tok/s", "TTFT ms"))
for w in wins:
    n, dec, ttft = job_figures(w)
    path = os.path.join(out, "wrk-%s.txt" % w["name"])
    if not os.path.exists(path):
        print("%-12s %10s %9s %9s %9s %8s %8s  %4d %12.2f %9.1f" % (
            w["name"], "-", "-", "-", "-", "-", "-", n, dec, ttft))
        continue
    t = open(path).read()
    rps = re.search(r"Requests/sec:\s+([\d.]+)", t)
    p50 = re.search(r"\n\s+50%\s+(\S+)", t)
    p99 = re.search(r"\n\s+99%\s+(\S+)", t)
    mx = re.search(r"Latency\s+\S+\s+\S+\s+(\S+)", t)
    non2 = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", t)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", t)
    nsock = sum(int(x) for x in sock.groups()) if sock else 0
    n2 = int(non2.group(1)) if non2 else 0
    bad += n2 + (0 if rps else 1)
    print("%-12s %10.0f %9.2f %9.2f %9.2f %8d %8d  %4d %12.2f %9.1f" % (
        w["name"], float(rps.group(1)) if rps else float("nan"),
        ms(p50.group(1)) if p50 else float("nan"), ms(p99.group(1)) if p99 else float("nan"),
        ms(mx.group(1)) if mx else float("nan"), n2, nsock, n, dec, ttft))
print("job state during the bench: %s; raw wrk output in %s" % (state, out))
sys.exit(1 if bad or state != "running" else 0)
EOF
