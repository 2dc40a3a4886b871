#!/usr/bin/env bash
# Installs what tpsd needs to build and test, when it is missing:
# Debian/Ubuntu with apt-get, macOS with Homebrew. Safe to run again.
set -eu

need_pc="libmicrohttpd libcurl jansson sqlite3"
have_all() {
    command -v cmake >/dev/null && command -v pkg-config >/dev/null &&
        command -v cc >/dev/null && pkg-config --exists $need_pc &&
        command -v python3 >/dev/null
}
if have_all && { [ "${1:-}" != "--test" ] || command -v wrk >/dev/null; }; then
    exit 0
fi

case "$(uname -s)" in
Darwin)
    command -v brew >/dev/null || { echo "deps: install Homebrew first (https://brew.sh)" >&2; exit 1; }
    brew install cmake pkg-config libmicrohttpd curl jansson sqlite python3 wrk
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
    $sudo apt-get install -y -qq build-essential cmake pkg-config clang \
        libmicrohttpd-dev libcurl4-openssl-dev libjansson-dev libsqlite3-dev \
        python3 wrk >/dev/null
    ;;
*)
    echo "deps: unsupported system $(uname -s)" >&2
    exit 1
    ;;
esac
