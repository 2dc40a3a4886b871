#!/usr/bin/env bash
# macos-planted.sh CASE ROOT FLAGS... - proves scripts/check-macos.sh catches
# a macOS break. In a scratch tree holding ROOT's headers and one source
# file, first the file as it is (the check must pass), then with a break
# planted (the host compiler must still accept it, as Linux did; the check
# must fail, naming the file and the call, for both architectures).
#   epoll   daemon/log.c gets <sys/epoll.h> and an epoll_create1() call
#   signal  daemon/spawn.c loses #include <signal.h> (issue 13's break:
#           glibc declares kill() through <sys/wait.h>, Apple's does not)
# Exit 77 (skip) when the check skips (no zig).
set -u
case_=$1 root=$(cd "$2" && pwd)
shift 2
case $case_ in
epoll) file=daemon/log.c want="'sys/epoll.h' file not found" ;;
signal) file=daemon/spawn.c want="'kill'" ;;
*) echo "unknown case $case_" >&2; exit 2 ;;
esac
check=$root/scripts/check-macos.sh
work=$(mktemp -d "${TMPDIR:-/tmp}/tpsd-planted.XXXXXX")
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

(cd "$root" && find . \( -name 'build*' -o -name node_modules -o -name .git \) -prune \
    -o -name '*.h' -type f -print) | while read -r h; do
    mkdir -p "$work/tree/$(dirname "$h")"
    cp "$root/$h" "$work/tree/$h"
done
mkdir -p "$work/tree/$(dirname "$file")"
cp "$root/$file" "$work/tree/$file"

"$check" "$work/tree" "$@" >"$work/out" 2>&1
rc=$?
[ $rc -ne 77 ] || { cat "$work/out"; exit 77; }
[ $rc -eq 0 ] || { cat "$work/out"; fail "the check fails on $file as it is"; }

case $case_ in
epoll)
    { printf '#include <sys/epoll.h>\n'; cat "$root/$file"
      printf 'int tpsd_planted(void);\nint tpsd_planted(void) { return epoll_create1(EPOLL_CLOEXEC); }\n'
    } >"$work/tree/$file" ;;
signal)
    grep -q '^#include <signal.h>' "$root/$file" || fail "$file has no #include <signal.h> to remove"
    grep -v '^#include <signal.h>' "$root/$file" >"$work/tree/$file" ;;
esac
if [ "$(uname -s)" = Linux ]; then
    ${CC:-cc} "$@" -I"$work/tree" -fsyntax-only "$work/tree/$file" >"$work/host" 2>&1 ||
        { cat "$work/host"; fail "the host compiler rejects the planted $file: not a macOS-only break"; }
fi
"$check" "$work/tree" "$@" >"$work/out" 2>&1
rc=$?
cat "$work/out"
[ $rc -eq 1 ] || fail "the check exited $rc on a planted $file, want 1"
for arch in aarch64 x86_64; do
    grep -q "^$arch: $file\$" "$work/out" || fail "no $arch failure named for $file"
done
grep -q "$want" "$work/out" || fail "the failure does not name $want"
echo "ok: the check caught the planted $case_ break in $file"
