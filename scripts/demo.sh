#!/bin/sh
# demo.sh BUILD - tpsd end to end with no LM Studio: start the simulated
# inference server (tests/tpsd-sim) with three models of different speeds
# and sizes, point the fake `lms` (tests/fake-lms) at it, and benchmark
# the three with `tpsd run` and the built-in standard suite. Everything
# lives in a temporary folder that is removed on exit; the database is
# kept when DEMO_KEEP=1 (its path is printed).
set -eu

build=${1:-build}
here=$(cd "$(dirname "$0")/.." && pwd)
tpsd="$build/tpsd"
sim="$build/tests/tpsd-sim"
for f in "$tpsd" "$sim"; do
    if [ ! -x "$f" ]; then
        echo "demo: $f is missing: run 'make build' first" >&2
        exit 2
    fi
done
command -v python3 >/dev/null || { echo "demo: python3 is needed for the fake lms" >&2; exit 2; }

dir=$(mktemp -d "${TMPDIR:-/tmp}/tpsd-demo.XXXXXX")
simpid=
cleanup() {
    [ -n "$simpid" ] && kill "$simpid" 2>/dev/null || true
    [ -n "$simpid" ] && wait "$simpid" 2>/dev/null || true
    if [ "${DEMO_KEEP:-0}" = 1 ]; then
        echo "demo: kept $dir (database $dir/demo.db)"
    else
        rm -rf "$dir"
    fi
}
trap cleanup EXIT INT TERM

# Three models as the seed reports compared them: a big slow one, a
# mid-size one, a small fast one (sizes in bytes; decode rates in tokens/s,
# about 3x a real Mac's so the demo ends in about a minute). Their text
# satisfies the suite's validators, except that the big model gives the
# wrong answer to the reasoning case, so the report shows a failure.
cat >"$dir/sim.json" <<'EOF'
{"models": [
  {"key": "demo/big-q4", "ttft_ms": 900, "tps": 90, "jitter_ms": 2,
   "reasoning_tokens": 40,
   "text": "Title: Gradient descent, 1. step 2. loss 3. rate Summary: def f(x): ANSWER: Ana ",
   "size_bytes": 1.46e10, "format": "gguf", "quant": "Q4_K_S",
   "load_ms": 1500},
  {"key": "demo/mid-mlx", "ttft_ms": 350, "tps": 180, "jitter_ms": 1,
   "text": "Title: Gradient descent, 1. step 2. loss 3. rate Summary: def f(x): ANSWER: Ben ",
   "size_bytes": 6.2e9, "format": "mlx", "quant": "4bit", "load_ms": 700},
  {"key": "demo/small-q8", "ttft_ms": 120, "tps": 420, "jitter_ms": 1,
   "text": "Title: Gradient descent, 1. step 2. loss 3. rate Summary: def f(x): ANSWER: Ben ",
   "size_bytes": 2.4e9, "format": "gguf", "quant": "Q8_0", "load_ms": 300}
]}
EOF

"$sim" --port 0 --port-file "$dir/port" --config "$dir/sim.json" \
    >"$dir/sim.out" 2>"$dir/sim.err" &
simpid=$!
i=0
while [ ! -s "$dir/port" ]; do
    i=$((i + 1))
    if [ $i -gt 100 ] || ! kill -0 "$simpid" 2>/dev/null; then
        echo "demo: tpsd-sim did not start:" >&2
        cat "$dir/sim.err" >&2
        exit 1
    fi
    sleep 0.1
done
url="http://127.0.0.1:$(cat "$dir/port")"

mkdir -p "$dir/home/.lmstudio"
printf '{"sim": "%s"}\n' "$url" >"$dir/home/.lmstudio/fake-lms.json"

echo "demo: tpsd-sim at $url; benchmarking three models with the standard suite"
# Exit 1 means some request failed or did not validate: expected here.
rc=0
HOME="$dir/home" "$tpsd" run \
    --lms "$here/tests/fake-lms" \
    --base-url "$url" \
    --db "$dir/demo.db" \
    --model demo/big-q4 --model demo/mid-mlx --model demo/small-q8 \
    --suite standard --repetitions "${DEMO_REPS:-1}" --warmup 1 || rc=$?
[ $rc -le 1 ] || exit $rc

echo
echo "demo: the job's Markdown report (tpsd report 1 --db DB), comparison and failures:"
"$tpsd" report 1 --db "$dir/demo.db" |
    sed -n -e '/^## Comparison/,/^## Per-case/p' -e '/^## Failures/,$p' | grep -v '^## Per-case'
