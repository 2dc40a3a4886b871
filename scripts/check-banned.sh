#!/usr/bin/env bash
# Fails when C sources call functions banned in tpsd (unbounded or shell-running).
set -eu
root=${1:-.}
pattern='\b(strcpy|strcat|sprintf|vsprintf|gets|atoi|atol|atof|system|popen|strtok|tmpnam)[[:space:]]*\('
if grep -rnE "$pattern" "$root"/common "$root"/daemon "$root"/api "$root"/storage "$root"/tests "$root"/bench \
        --include='*.c' --include='*.h' | grep -v 'banned-ok'; then
    echo "banned function used (see scripts/check-banned.sh)" >&2
    exit 1
fi
echo "no banned functions"
