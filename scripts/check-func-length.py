#!/usr/bin/env python3
"""check-func-length.py: list C functions longer than a limit.

Usage: check-func-length.py [--max N] [--list] ROOT [DIR ...]

Scans every *.c file under ROOT/DIR (default dirs: daemon api storage common),
finds top-level function definitions and counts each one's lines from the line
that holds its name to the line of its closing brace, both included. Prints
"path:line: name N lines" for every function over N (default 120) and exits 1
if there is any; --list prints every function with its length instead.

How it works: comments, string and character literals and preprocessor lines
are blanked first (newlines kept, so line numbers stay right); then a brace
counter walks the text. A '{' at depth 0 opens a function body when the text
since the previous top-level ';' or '}' holds a '(' and is not an aggregate
initializer ('=' before the '('); a struct/union/enum body has no '(' before
its brace. The name is
the identifier just before the first '(' of that text.
"""
import os
import re
import sys

DEFAULT_DIRS = ["daemon", "api", "storage", "common"]
IDENT = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*$")


def blank(src):
    """Return src with comments, literals and preprocessor lines blanked."""
    out = []
    i, n = 0, len(src)
    line_start = True
    while i < n:
        c = src[i]
        if line_start and c in " \t":
            out.append(c)
            i += 1
            continue
        if line_start and c == "#":
            # preprocessor line, with backslash continuations
            while i < n and src[i] != "\n":
                if src[i] == "\\" and i + 1 < n and src[i + 1] == "\n":
                    out.append("\n")
                    i += 2
                    continue
                i += 1
            continue
        line_start = False
        if src.startswith("/*", i):
            j = src.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append("".join(ch if ch == "\n" else " " for ch in src[i:j]))
            i = j
            continue
        if src.startswith("//", i):
            while i < n and src[i] != "\n":
                i += 1
            continue
        if c in "\"'":
            j = i + 1
            while j < n and src[j] != c:
                j += 2 if src[j] == "\\" else 1
            out.append(" " * (min(j, n - 1) - i + 1))
            i = j + 1
            continue
        if c == "\n":
            line_start = True
        out.append(c)
        i += 1
    return "".join(out)


def functions(path):
    """Yield (name, first_line, length) for each function defined in path."""
    with open(path, encoding="utf-8", errors="replace") as f:
        text = blank(f.read())
    depth = 0
    head_start = 0
    body = None  # (name, first_line) of the function being walked
    for i, c in enumerate(text):
        if c == "{":
            if depth == 0:
                head = text[head_start:i]
                paren = head.find("(")
                if paren >= 0 and "=" not in head[:paren]:
                    m = IDENT.search(head[:paren])
                    if m:
                        pos = head_start + m.start(1)
                        body = (m.group(1), text.count("\n", 0, pos) + 1)
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                if body:
                    last = text.count("\n", 0, i) + 1
                    yield body[0], body[1], last - body[1] + 1
                    body = None
                head_start = i + 1
        elif c == ";" and depth == 0:
            head_start = i + 1


def main(argv):
    limit, listing, args = 120, False, []
    it = iter(argv)
    for a in it:
        if a == "--max":
            limit = int(next(it))
        elif a == "--list":
            listing = True
        else:
            args.append(a)
    if not args:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    root, dirs = args[0], args[1:] or DEFAULT_DIRS
    over = 0
    for d in dirs:
        for dirpath, _, files in sorted(os.walk(os.path.join(root, d))):
            for fn in sorted(files):
                if not fn.endswith(".c"):
                    continue
                path = os.path.join(dirpath, fn)
                rel = os.path.relpath(path, root)
                for name, line, length in functions(path):
                    if listing:
                        print(f"{length}\t{rel}:{line}: {name}")
                    elif length > limit:
                        print(f"{rel}:{line}: {name} {length} lines (max {limit})")
                        over += 1
    if over:
        print(f"{over} function(s) over {limit} lines", file=sys.stderr)
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
