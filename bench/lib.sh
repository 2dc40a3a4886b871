# bench/lib.sh - what the bench scripts share, sourced by each after it sets
# BENCH (its name, for messages): the option loop, the daemon and tpsd-sim
# started on free loopback ports and waited for, and their teardown on exit.
#
# How it works: bench_args turns `--some-name V` into SOME_NAME=V for every
# option the script names (a `+` before a name collects it, with its value,
# into PASS instead, for a script that hands it on); `-h` prints the script's
# header comment. bench_serve and bench_sim start a process in the
# background, remember its pid in BENCH_PIDS, and wait until it answers;
# the EXIT trap kills what is still remembered (a script that stops a
# process itself takes it out with bench_forget).

SRC=$(cd "$(dirname "$0")/.." && pwd)
BENCH_PIDS=()
PASS=()

# bench_die MESSAGE [CODE]: MESSAGE on stderr, prefixed with the script's
# name; exit CODE (2, a usage error, unless given).
bench_die() {
    echo "$BENCH: $1" >&2
    exit "${2:-2}"
}

# bench_args HELP_LAST_LINE OPTION... -- "$@": parses the command line (see
# the header); an unknown argument is a usage error.
bench_args() {
    local help=$1 opt var known=" "
    shift
    while [ "$1" != -- ]; do known+="$1 "; shift; done
    shift
    while [ $# -gt 0 ]; do
        case "$1" in -h | --help) sed -n "2,${help}p" "$0" | sed 's/^# \{0,1\}//'; exit 0 ;; esac
        opt=${1#--}
        if [[ "$known" == *" +$opt "* ]]; then
            PASS+=("$1" "$2")
        elif [[ "$1" == --* && "$known" == *" $1 "* ]]; then
            var=$(printf '%s' "$opt" | tr 'a-z-' 'A-Z_')
            printf -v "$var" '%s' "$2"
        else
            bench_die "unknown argument $1"
        fi
        shift 2
    done
}

# bench_bins NEED_SIM: TPSD (and SIM when NEED_SIM is 1) from --build's
# folder, made absolute; a usage error when --build is missing or holds
# neither.
bench_bins() {
    [ -n "$BUILD" ] || bench_die "--build DIR is required"
    BUILD=$(cd "$BUILD" && pwd)
    TPSD=$BUILD/tpsd
    SIM=$BUILD/tests/tpsd-sim
    [ -x "$TPSD" ] || bench_die "no tpsd in $BUILD"
    [ "$1" = 0 ] || [ -x "$SIM" ] || bench_die "no tpsd-sim in $BUILD"
}

# bench_outdir TAG: OUT (a fresh temporary folder unless --out named one),
# made absolute, with OUT/home/.lmstudio for the fake lms.
bench_outdir() {
    OUT=${OUT:-$(mktemp -d "${TMPDIR:-/tmp}/tpsd-$1.XXXXXX")}
    mkdir -p "$OUT/home/.lmstudio"
    OUT=$(cd "$OUT" && pwd)
}

bench_cleanup() {
    local p
    for p in ${BENCH_PIDS[@]+"${BENCH_PIDS[@]}"}; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap bench_cleanup EXIT

# bench_forget PID: the EXIT trap leaves PID alone (the script waits for it).
bench_forget() {
    local p keep=()
    for p in ${BENCH_PIDS[@]+"${BENCH_PIDS[@]}"}; do [ "$p" = "$1" ] || keep+=("$p"); done
    BENCH_PIDS=(${keep[@]+"${keep[@]}"})
}

bench_free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# bench_sim CONFIG_JSON: tpsd-sim with that model list on a free port,
# waited for; sets SIM_PID and SIM_URL and points the fake lms at it.
bench_sim() {
    printf '%s\n' "$1" > "$OUT/sim.json"
    rm -f "$OUT/sim.port"
    "$SIM" --port 0 --port-file "$OUT/sim.port" --config "$OUT/sim.json" \
        > "$OUT/sim.out" 2> "$OUT/sim.err" &
    SIM_PID=$!
    BENCH_PIDS+=("$SIM_PID")
    for _ in $(seq 100); do [ -s "$OUT/sim.port" ] && break; sleep 0.1; done
    SIM_URL="http://127.0.0.1:$(cat "$OUT/sim.port")"
    for _ in $(seq 100); do curl -fsS "$SIM_URL/v1/models" > /dev/null 2>&1 && break; sleep 0.1; done
    printf '{"sim": "%s"}\n' "$SIM_URL" > "$OUT/home/.lmstudio/fake-lms.json"
}

# bench_serve [ENV=V...] [PREFIX...] -- ARGS...: `tpsd serve ARGS` on a free
# port (PORT, API) with HOME=OUT/home, the fake lms and warn-level logs,
# output in OUT/serve.out and serve.err, run as `env ENV=V... PREFIX...
# tpsd` (valgrind, say); waits up to 60 s for /v1/healthz and sets
# SERVE_PID. Exit 1 when the daemon exits before it answers.
bench_serve() {
    local pre=()
    while [ "$1" != -- ]; do pre+=("$1"); shift; done
    shift
    PORT=$(bench_free_port)
    API="http://127.0.0.1:$PORT"
    env HOME="$OUT/home" ${pre[@]+"${pre[@]}"} "$TPSD" serve --listen-port "$PORT" --lms "$SRC/tests/fake-lms" \
        --log-level warn "$@" > "$OUT/serve.out" 2> "$OUT/serve.err" &
    SERVE_PID=$!
    BENCH_PIDS+=("$SERVE_PID")
    for _ in $(seq 600); do
        curl -fsS "$API/v1/healthz" > /dev/null 2>&1 && return 0
        kill -0 "$SERVE_PID" 2>/dev/null || bench_die "tpsd serve exited; see $OUT/serve.err" 1
        sleep 0.1
    done
}
