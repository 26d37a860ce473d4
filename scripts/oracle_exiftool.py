#!/usr/bin/env python3
"""Compares the metadata crate with exiftool, file by file, over public sample corpora.

For every file that exiftool states a value for, checks that `metadata::extract_path` (the
`extract` example) finds the same: capture date (to the second, offset ignored), width x
height (exiftool's Composite:ImageSize), duration (within 1% or 50 ms) and camera make and
model. Prints the agreement rate per field and per format, then every disagreement.

    scripts/oracle_exiftool.py DIR...          # e.g. the two corpora below
    scripts/oracle_exiftool.py --fetch WORKDIR # fetches them into WORKDIR, then compares

The corpora: Pillow's test images (`pip download --no-binary :all: --no-deps pillow`, the
sdist's Tests/images) and ExifTool's t/images (Debian source package libimage-exiftool-perl;
`apt-get source` needs a deb-src line). Needs exiftool (Debian: libimage-exiftool-perl).
"""
import collections
import glob
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIELDS = ("date", "size", "duration", "make", "model")


def fetch(work):
    work = Path(work)
    work.mkdir(parents=True, exist_ok=True)
    dirs = []
    if not glob.glob(str(work / "pillow-*/Tests/images")):
        # --no-build-isolation: pip still prepares metadata; it needs setuptools and pybind11.
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-binary", ":all:",
                        "--no-deps", "--no-build-isolation", "pillow", "-d", str(work)], check=True)
        for tgz in work.glob("pillow-*.tar.gz"):
            subprocess.run(["tar", "xzf", str(tgz), "-C", str(work)], check=True)
    dirs += glob.glob(str(work / "pillow-*/Tests/images"))
    if not glob.glob(str(work / "Image-ExifTool-*/t/images")):
        subprocess.run(["apt-get", "source", "--download-only", "libimage-exiftool-perl"],
                       cwd=work, check=True)
        for txz in work.glob("libimage-exiftool-perl_*.orig.tar.*"):
            subprocess.run(["tar", "xf", str(txz), "-C", str(work)], check=True)
    dirs += glob.glob(str(work / "Image-ExifTool-*/t/images"))
    return dirs


def ours(dirs):
    subprocess.run(["cargo", "build", "-q", "--release", "-p", "metadata", "--example", "extract"],
                   cwd=ROOT, check=True)
    out = subprocess.run([str(ROOT / "target/release/examples/extract"), *dirs],
                         capture_output=True, text=True, check=True).stdout
    res = {}
    for line in out.splitlines():
        d = json.loads(line)
        res[os.path.realpath(d["file"])] = d
    return res


def theirs(dirs):
    tags = ["-FileType", "-Make", "-Model", "-DateTimeOriginal", "-CreateDate", "-CreationTime",
            "-ModifyDate", "-ImageSize", "-Duration"]
    out = subprocess.run(["exiftool", "-j", "-n", "-q", "-q", "-r", *tags, *dirs],
                         capture_output=True, text=True).stdout
    return {os.path.realpath(d["SourceFile"]): d for d in json.loads(out or "[]")}


def norm_date(s):
    """`2024:03:15 12:34:56...` or ISO to `2024-03-15 12:34:56` (no sub-second, no offset)."""
    s = str(s).strip()
    if len(s) < 19 or s.startswith("0000"):
        return None
    return s[:4] + "-" + s[5:7] + "-" + s[8:10] + " " + s[11:19]


def expected(e):
    date = next((norm_date(e[k]) for k in ("DateTimeOriginal", "CreateDate", "CreationTime",
                                           "ModifyDate") if k in e), None)
    size = None
    if isinstance(e.get("ImageSize"), str) and " " in e["ImageSize"]:
        w, h = e["ImageSize"].split()[:2]
        size = (round(float(w)), round(float(h)))
    dur = e.get("Duration")
    dur = float(dur) if isinstance(dur, (int, float)) and dur > 0 else None
    text = lambda k: str(e[k]).strip() if str(e.get(k, "")).strip() else None
    return {"date": date, "size": size, "duration": dur, "make": text("Make"),
            "model": text("Model")}


def got(d):
    i = d["info"]
    cam = i.get("camera") or {}
    trusted = i.get("taken_at_source") not in (None, "mtime", "filename")
    return {
        "date": norm_date(i["taken_at"].replace("T", " ")) if trusted and i.get("taken_at") else None,
        "size": (i["width"], i["height"]) if i.get("width") else None,
        "duration": i["duration_ms"] / 1000 if i.get("duration_ms") else None,
        "make": cam.get("make"), "model": cam.get("model"),
    }


def agree(field, want, have):
    if field == "duration":
        return have is not None and abs(want - have) <= max(0.05, want * 0.01)
    return want == have


def main():
    args = sys.argv[1:]
    if not args:
        sys.exit(__doc__)
    dirs = fetch(args[1]) if args[0] == "--fetch" else args
    a, b = ours(dirs), theirs(dirs)
    stats = collections.defaultdict(lambda: [0, 0])
    by_format = collections.defaultdict(lambda: [0, 0])
    misses = []
    unread = collections.Counter()
    for path in sorted(b):
        want = expected(b[path])
        mine = got(a[path]) if path in a else None
        fmt = (a[path]["info"].get("format") if path in a else None) or "-"
        if fmt == "-":
            # A format this crate does not read (JPEG 2000, PCX, PDF...): not a disagreement.
            unread[b[path].get("FileType", "?")] += 1
            continue
        for f in FIELDS:
            if want[f] is None:
                continue
            ok = mine is not None and agree(f, want[f], mine[f])
            stats[f][0] += ok
            stats[f][1] += 1
            by_format[fmt][0] += ok
            by_format[fmt][1] += 1
            if not ok:
                misses.append((os.path.relpath(path), b[path].get("FileType"), fmt, f,
                               want[f], mine[f] if mine else "not read"))
    print(f"{len(b)} files; {sum(unread.values())} in formats this crate does not read "
          f"({', '.join(f'{t} {n}' for t, n in unread.most_common(8))}, ...)")
    print(f"in the rest exiftool states {sum(s[1] for s in stats.values())} values")
    print("\nfield     agree/total  rate")
    for f in FIELDS:
        ok, n = stats[f]
        print(f"{f:9} {ok:5}/{n:<5}  {100 * ok / max(n, 1):5.1f}%")
    print("\nour format  agree/total")
    for fmt, (ok, n) in sorted(by_format.items()):
        print(f"{fmt:10} {ok:5}/{n}")
    print(f"\n{len(misses)} disagreements (file, exiftool type, our format, field, exiftool, ours):")
    for m in misses:
        print("  " + " | ".join(str(x) for x in m))


if __name__ == "__main__":
    main()
