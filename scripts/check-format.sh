#!/bin/sh
# check-format.sh ROOT - every C file of the project is as the committed
# .clang-format lays it out. Uses Debian 12's clang-format (14): other major
# versions lay some constructs out differently, so with another version (or
# none) the check is skipped (exit 77) rather than failed. `make format`
# rewrites the files in place.
root=${1:-.}
cf=${CLANG_FORMAT:-clang-format}
if ! command -v "$cf" >/dev/null 2>&1; then
    echo "SKIP: $cf is not installed (Debian: apt-get install clang-format)"
    exit 77
fi
major=$("$cf" --version | sed -n 's/.*version \([0-9][0-9]*\)\..*/\1/p')
if [ "$major" != 14 ]; then
    echo "SKIP: $cf is version ${major:-unknown}; the layout is checked with 14 (Debian 12's)"
    exit 77
fi
cd "$root" || exit 2
files=$(find common daemon api storage tests bench fuzz \( -name build -o -name node_modules \) -prune \
    -o \( -name '*.c' -o -name '*.h' \) -type f -print | sort)
bad=0
for f in $files; do
    if ! "$cf" --dry-run --Werror "$f" >/dev/null 2>&1; then
        echo "check-format: $f differs from .clang-format (make format)" >&2
        bad=$((bad + 1))
    fi
done
if [ "$bad" -gt 0 ]; then
    echo "check-format: $bad file(s) not formatted" >&2
    exit 1
fi
echo "check-format: $(echo "$files" | wc -l) files formatted"
