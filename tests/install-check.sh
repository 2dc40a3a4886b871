#!/usr/bin/env bash
# install-check.sh SRC BUILD_DIR - `make install-bin DESTDIR=... PREFIX=...`
# (the copy step of make install) puts an executable tpsd, the build's own,
# at DESTDIR/PREFIX/bin/tpsd and nothing else; launchd/install.sh then picks
# the installed binary over the build's, and the build's (with a warning)
# when none is installed. TPSD_INSTALL_DRY_RUN=1 makes install.sh print its
# choice and stop before touching launchd or systemd.
set -u
src=$(cd "$1" && pwd) build=$(cd "$2" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/tpsd-install.XXXXXX")
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

# DESTDIR relative, as packagers pass it; PREFIX as on an Intel Mac.
(cd "$work" && make -s -C "$src" install-bin BUILD="$build" DESTDIR="$work/stage" PREFIX=/usr/local) ||
    fail "make install-bin failed"
bin=$work/stage/usr/local/bin/tpsd
[ -x "$bin" ] || fail "no executable $bin"
files=$(cd "$work/stage" && find . -type f | sort)
[ "$files" = "./usr/local/bin/tpsd" ] || fail "installed files: $files"
cmp -s "$bin" "$build/tpsd" || fail "$bin is not the build's tpsd"
"$bin" --version >"$work/v" 2>&1 || fail "installed tpsd --version failed"
grep -q . "$work/v" || fail "installed tpsd --version printed nothing"

# install.sh: the installed binary under PREFIX wins.
got=$(PREFIX=$work/stage/usr/local TPSD_INSTALL_DRY_RUN=1 "$src/launchd/install.sh" 2>"$work/err") ||
    fail "install.sh dry run failed: $(cat "$work/err")"
[ "$got" = "$bin" ] || fail "install.sh chose $got, want $bin"
[ ! -s "$work/err" ] || fail "install.sh warned with an installed binary: $(cat "$work/err")"
# None installed: the build's, with a warning naming make install. (The
# build's is $src/build/tpsd; when that does not exist install.sh must fail.)
got=$(PREFIX=$work/none TPSD_INSTALL_DRY_RUN=1 "$src/launchd/install.sh" 2>"$work/err")
rc=$?
grep -q "make install" "$work/err" || fail "no make install hint: $(cat "$work/err")"
if [ -x "$src/build/tpsd" ]; then
    if [ $rc -ne 0 ] || [ "$got" != "$src/build/tpsd" ]; then
        fail "install.sh chose '$got' (rc $rc), want $src/build/tpsd"
    fi
else
    [ $rc -ne 0 ] || fail "install.sh accepted a missing build/tpsd"
fi
# An explicit path wins over both.
got=$(PREFIX=$work/stage/usr/local TPSD_INSTALL_DRY_RUN=1 "$src/launchd/install.sh" "$build/tpsd" 2>/dev/null)
[ "$got" = "$build/tpsd" ] || fail "install.sh chose $got for an explicit path"
echo "ok: make install-bin -> $bin; install.sh prefers it"
