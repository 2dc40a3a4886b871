#!/bin/sh
# Runs the dashboard's browser test (dashboard.mjs). Exits 77, which ctest
# reports as skipped, only when node, Chromium or playwright-core is missing:
# `scripts/deps.sh --test` installs all three on Debian.
dir=$(cd "$(dirname "$0")" && pwd)

if ! command -v node >/dev/null 2>&1; then
    echo "SKIP: node is not installed"
    exit 77
fi
if [ "$(node -p 'process.versions.node.split(".")[0]')" -lt 20 ] 2>/dev/null; then
    echo "SKIP: playwright-core needs node 20 or later, this is $(node --version)"
    exit 77
fi
if [ -z "${CHROMIUM:-}" ]; then
    for c in /usr/bin/chromium /usr/bin/chromium-browser \
        "/Applications/Chromium.app/Contents/MacOS/Chromium" \
        "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome"; do
        if [ -x "$c" ]; then
            CHROMIUM=$c
            break
        fi
    done
fi
if [ -z "${CHROMIUM:-}" ] || [ ! -x "$CHROMIUM" ]; then
    echo "SKIP: no Chromium (Debian: apt-get install chromium; or set CHROMIUM)"
    exit 77
fi
if [ ! -f "$dir/node_modules/playwright-core/package.json" ]; then
    echo "SKIP: playwright-core is not installed (cd tests/browser && npm ci)"
    exit 77
fi
export CHROMIUM
exec node "$dir/dashboard.mjs" "$@"
