#!/bin/sh
# The fleet view on real tools: a live `tpsd serve` on loopback (with a
# bearer token, holding a benchmark job's and a stability job's results,
# measured from tpsd-sim), its /metrics checked by `promtool check
# metrics`, scraped by Debian's `prometheus` through deploy/prometheus.yml
# (only its targets and token path rewritten), a tpsd series read back
# through Prometheus's HTTP API and compared with /metrics, and the Grafana
# dashboard's queries checked against the metric names tpsd exports.
#
# Needs TPSD_BIN, TPSD_SIM, TPSD_SRC. Exits 77 (skipped) only when
# prometheus or promtool is missing (scripts/deps.sh --test installs them).
set -eu

for t in prometheus promtool curl python3; do
    if ! command -v $t >/dev/null 2>&1; then
        echo "SKIP: $t is not installed (Debian: apt-get install prometheus)"
        exit 77
    fi
done
tpsd=$TPSD_BIN
sim=$TPSD_SIM
src=$TPSD_SRC

dir=$(mktemp -d "${TMPDIR:-/tmp}/tpsd-fleet.XXXXXX")
pids=
cleanup() {
    for p in $pids; do kill "$p" 2>/dev/null || true; done
    for p in $pids; do wait "$p" 2>/dev/null || true; done
    rm -rf "$dir"
}
trap cleanup EXIT INT TERM
fail() {
    echo "FAIL: $*" >&2
    for f in "$dir"/*.log; do
        [ -f "$f" ] && { echo "--- $f" >&2; tail -20 "$f" >&2; }
    done
    exit 1
}
# A free TCP port on loopback (the kernel's choice, released at once).
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
# wait_for CMD...: retry for up to 30 s.
wait_for() {
    i=0
    until "$@" >/dev/null 2>&1; do
        i=$((i + 1))
        [ $i -le 300 ] || return 1
        sleep 0.1
    done
}

cat >"$dir/sim.json" <<'JSON'
{"models": [
  {"key": "fleet/fast", "ttft_ms": 20, "tps": 400, "text": "hello world ",
   "size_bytes": 1e9, "format": "gguf", "quant": "Q4_K_M"},
  {"key": "fleet/slow", "ttft_ms": 40, "tps": 150, "text": "hello world ",
   "size_bytes": 2e9, "format": "mlx", "quant": "8bit"}],
 "loaded": ["fleet/fast", "fleet/slow"]}
JSON
cat >"$dir/suite.json" <<'JSON'
{"name": "fleet", "cases": [
  {"name": "short", "max_tokens": 24, "messages": [{"role": "user", "content": "hi"}]}]}
JSON
"$sim" --port 0 --port-file "$dir/sim.port" --config "$dir/sim.json" >"$dir/sim.log" 2>&1 &
pids="$pids $!"
wait_for test -s "$dir/sim.port" || fail "tpsd-sim did not start"
simurl="http://127.0.0.1:$(cat "$dir/sim.port")"

# Results to export: a benchmark of both models, a short stability run of one.
"$tpsd" run --backend none --base-url "$simurl" --model fleet/fast --model fleet/slow \
    --suite "$dir/suite.json" --repetitions 3 --warmup 0 --db "$dir/t.db" >"$dir/run.log" 2>&1 ||
    fail "tpsd run"
"$tpsd" run --backend none --base-url "$simurl" --model fleet/fast --suite "$dir/suite.json" \
    --stability 3 --interval 0 --db "$dir/t.db" >"$dir/stab.log" 2>&1 || fail "tpsd run --stability"

token=fleet-test-token-0123456789
printf '%s\n' "$token" >"$dir/token"
chmod 600 "$dir/token"
port=$(free_port)
"$tpsd" serve --db "$dir/t.db" --listen-addr 127.0.0.1 --listen-port "$port" \
    --token-file "$dir/token" --base-url "$simurl" >"$dir/serve.log" 2>&1 &
pids="$pids $!"
url="http://127.0.0.1:$port"
wait_for curl -sf -H "Authorization: Bearer $token" "$url/v1/healthz" ||
    fail "tpsd serve did not answer"

# The token is required, and /metrics passes promtool's checks.
code=$(curl -s -o /dev/null -w '%{http_code}' "$url/metrics")
[ "$code" = 401 ] || fail "/metrics without a token answered $code, not 401"
curl -sf -H "Authorization: Bearer $token" "$url/metrics" >"$dir/metrics.txt" ||
    fail "/metrics with the token"
promtool check metrics <"$dir/metrics.txt" >"$dir/promtool.log" 2>&1 ||
    fail "promtool check metrics: $(cat "$dir/promtool.log")"
for m in tpsd_last_decode_tokens_per_second tpsd_last_e2e_tokens_per_second \
    tpsd_last_ttft_seconds tpsd_jobs tpsd_stability_leak; do
    grep -q "^$m{" "$dir/metrics.txt" || fail "/metrics has no $m sample"
done

# Prometheus with the shipped configuration, pointed at this daemon.
pport=$(free_port)
python3 - "$src/deploy/prometheus.yml" "$dir/prometheus.yml" "127.0.0.1:$port" "$dir/token" <<'PY'
import re, sys
src, dst, target, token = sys.argv[1:]
text = open(src).read()
text = text.replace("scrape_interval: 30s", "scrape_interval: 1s")
text = text.replace("/etc/prometheus/tpsd.token", token)
# Keep the first target (and its host label), aimed at the test daemon.
text = re.sub(r'- targets: \["mac-studio.local:8765"\]', '- targets: ["%s"]' % target, text)
text = re.sub(r'\n      - targets: \["macbook-pro.local:8765"\]\n        labels:\n          host: macbook-pro\n', "\n", text)
open(dst, "w").write(text)
PY
grep -q "127.0.0.1:$port" "$dir/prometheus.yml" || fail "rewriting deploy/prometheus.yml"
promtool check config "$dir/prometheus.yml" >"$dir/promtool-config.log" 2>&1 ||
    fail "promtool check config: $(cat "$dir/promtool-config.log")"
prometheus --config.file="$dir/prometheus.yml" --storage.tsdb.path="$dir/tsdb" \
    --web.listen-address="127.0.0.1:$pport" >"$dir/prometheus.log" 2>&1 &
pids="$pids $!"
purl="http://127.0.0.1:$pport"
q='tpsd_last_decode_tokens_per_second{job="tpsd",host="mac-studio",model="fleet/fast",case="short"}'
got=
i=0
while [ $i -lt 600 ]; do
    got=$(curl -s -G "$purl/api/v1/query" --data-urlencode "query=$q" |
        python3 -c 'import json,sys
r = json.load(sys.stdin)["data"]["result"]
print(r[0]["value"][1] if r else "")' 2>/dev/null || true)
    [ -n "$got" ] && break
    i=$((i + 1))
    sleep 0.1
done
[ -n "$got" ] || fail "Prometheus never returned $q"
want=$(sed -n 's/^tpsd_last_decode_tokens_per_second{model="fleet\/fast",case="short"} //p' \
    "$dir/metrics.txt")
[ -n "$want" ] || fail "no fleet/fast decode sample in /metrics"
python3 -c 'import sys; a, b = float(sys.argv[1]), float(sys.argv[2]); sys.exit(0 if abs(a - b) <= 1e-9 * max(1, abs(b)) else 1)' \
    "$got" "$want" || fail "Prometheus read $got, /metrics said $want"
# The scrape is healthy (up == 1 for the target).
up=$(curl -s -G "$purl/api/v1/query" --data-urlencode 'query=up{job="tpsd"}' |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["result"][0]["value"][1])')
[ "$up" = 1 ] || fail "up{job=\"tpsd\"} is $up"

# The Grafana dashboard asks only for metrics tpsd exports.
python3 "$src/tests/fleet/check_grafana.py" "$src/deploy/grafana/tpsd-fleet.json" \
    "$dir/metrics.txt" || fail "deploy/grafana/tpsd-fleet.json"
# ...and the check sees a query of a name tpsd does not export.
sed 's/tpsd_last_ttft_seconds/tpsd_last_ttft_ms/' "$src/deploy/grafana/tpsd-fleet.json" \
    >"$dir/bad-dashboard.json"
if python3 "$src/tests/fleet/check_grafana.py" "$dir/bad-dashboard.json" "$dir/metrics.txt" \
    2>"$dir/check-bad.log"; then
    fail "check_grafana.py accepted a dashboard naming tpsd_last_ttft_ms"
fi
grep -q "tpsd_last_ttft_ms, which /metrics does not export" "$dir/check-bad.log" ||
    fail "check_grafana.py: $(cat "$dir/check-bad.log")"
echo "ok: promtool, Prometheus read back $q = $got, Grafana dashboard queries valid"
