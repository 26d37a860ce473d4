#!/usr/bin/env python3
"""Lists functions longer than a limit (default 80 lines) in the workspace's Rust sources,
tests excluded (files under tests/, benches/, fuzz/ and `#[cfg(test)]` modules).

    scripts/long_functions.py [LIMIT]
"""
import pathlib
import re
import sys

LIMIT = int(sys.argv[1]) if len(sys.argv) > 1 else 80
FN = re.compile(r"^\s*(pub(\([^)]*\))?\s+)?(const\s+)?(async\s+)?(unsafe\s+)?fn\s+(\w+)")


def functions(path):
    lines = path.read_text(errors="replace").splitlines()
    i = 0
    while i < len(lines):
        if lines[i].strip().startswith("#[cfg(test)]"):
            return
        m = FN.match(lines[i])
        if not m:
            i += 1
            continue
        depth, start, opened = 0, i, False
        j = i
        while j < len(lines):
            code = re.sub(r'"(\\.|[^"\\])*"', '""', lines[j].split("//")[0])
            depth += code.count("{") - code.count("}")
            opened = opened or "{" in code
            if opened and depth <= 0:
                break
            if not opened and code.rstrip().endswith(";"):
                break
            j += 1
        yield m.group(6), start + 1, j - start + 1
        i = j + 1


found = False
root = pathlib.Path(__file__).resolve().parent.parent / "crates"
for path in sorted(root.rglob("*.rs")):
    parts = set(path.relative_to(root).parts)
    if parts & {"tests", "benches", "fuzz", "examples", "target"}:
        continue
    for name, line, length in functions(path):
        if length > LIMIT:
            found = True
            print(f"{path.relative_to(root.parent)}:{line}: {name} is {length} lines")
sys.exit(1 if found else 0)
