#!/usr/bin/env python3
"""Deterministic benchmark corpus for `alice scan`.

Usage: make_bench_corpus.py OUT_DIR [--files N] [--mean-kib K] [--seed S] [--folders F]

Makes N distinct, valid media files spread over F project folders: JPEGs (a camera fixture
with random bytes after its end-of-image marker) and PNGs (a fixture with a private ancillary
chunk of random bytes before IEND). Sizes are log-normal around K KiB (realistic spread of
phone photos and generator outputs). Same arguments, same bytes.
"""
import argparse
import math
import os
import random
import struct
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
FIX = os.path.join(HERE, "..", "crates", "metadata", "tests", "fixtures", "media")


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--files", type=int, default=2000)
    ap.add_argument("--mean-kib", type=int, default=256)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--folders", type=int, default=20)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    jpeg = open(os.path.join(FIX, "camera.jpg"), "rb").read()
    png = open(os.path.join(FIX, "creation_time.png"), "rb").read()
    assert png[-12:-8] == b"\x00\x00\x00\x00" and png[-8:-4] == b"IEND"
    total = 0
    for i in range(a.files):
        size = int(a.mean_kib * 1024 * math.exp(rng.gauss(0, 0.6) - 0.18))
        pad = rng.randbytes(max(size, 64))
        folder = os.path.join(a.out, f"project-{i % a.folders:03d}")
        os.makedirs(folder, exist_ok=True)
        if i % 2 == 0:
            data = jpeg + pad
            name = f"IMG_{i:06d}.jpg"
        else:
            data = png[:-12] + png_chunk(b"prVt", pad) + png[-12:]
            name = f"render_{i:06d}.png"
        with open(os.path.join(folder, name), "wb") as f:
            f.write(data)
        total += len(data)
    print(f"{a.files} files, {total / 1e6:.1f} MB in {a.out}")


if __name__ == "__main__":
    main()
