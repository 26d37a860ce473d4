#!/usr/bin/env bash
# Compares metadata extraction throughput (files/s) of the `metadata` crate against
# `exiftool -j -r` on the same mixed corpus, in the same run.
#
#   scripts/bench_metadata.sh [COPIES]      # default 20 copies of the fixture set
#
# Corpus: the committed fixtures (every format, broken files included, minus the zip bomb)
# COPIES times, plus larger real files made here: 4000x3000 camera JPEGs with EXIF and a
# 720p 20 s MP4 (needs python3 with Pillow, and ffmpeg). Needs exiftool (Debian: libimage-exiftool-perl).
# Both tools run on a warm page cache; the figure to record is the ratio.
set -euo pipefail
cd "$(dirname "$0")/.."
copies="${1:-20}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

command -v exiftool >/dev/null || { echo "exiftool missing: apt-get install -y libimage-exiftool-perl" >&2; exit 1; }
fixtures=crates/metadata/tests/fixtures/media
for i in $(seq 1 "$copies"); do
  mkdir -p "$work/corpus/set$i"
  cp "$fixtures"/* "$work/corpus/set$i/"
  # The zip bomb measures the hostile-input bound (criterion bench `ztxt_bomb`), not throughput.
  rm "$work/corpus/set$i/ztxt_bomb.png"
done
python3 - "$work/corpus/big" <<'PY'
import sys, os
from PIL import Image
out = sys.argv[1]; os.makedirs(out, exist_ok=True)
im = Image.effect_noise((4000, 3000), 60).convert("RGB")
e = Image.Exif(); e[0x010F] = "Canon"; e[0x0110] = "Canon EOS R5"
e.get_ifd(0x8769)[0x9003] = "2024:03:15 12:34:56"
for i in range(10):
    im.save(f"{out}/camera_{i:02}.jpg", quality=90, exif=e.tobytes())
PY
ffmpeg -hide_banner -loglevel error -y -f lavfi -i testsrc=size=1280x720:rate=30 -t 20 \
  -c:v libx264 -preset ultrafast -metadata creation_time=2024-03-15T12:34:56Z "$work/corpus/big/clip.mp4"
for i in $(seq 1 4); do cp "$work/corpus/big/clip.mp4" "$work/corpus/big/clip_$i.mp4"; done

files=$(find "$work/corpus" -type f | wc -l)
bytes=$(du -sb "$work/corpus" | cut -f1)
echo "corpus: $files files, $bytes bytes"

cargo build -q --release -p metadata --example extract
bin=target/release/examples/extract

# Warm the cache for both.
find "$work/corpus" -type f -exec cat {} + > /dev/null
ours=$("$bin" --count "$work/corpus" | tail -n1)
echo "metadata:  $ours"
ours_rate=$(echo "$ours" | sed -E 's/.*= ([0-9.]+) files\/s.*/\1/')

start=$(date +%s.%N)
exiftool -j -r -q -q "$work/corpus" > "$work/exiftool.json" 2>/dev/null || true
end=$(date +%s.%N)
secs=$(awk -v a="$start" -v b="$end" 'BEGIN { print b - a }')
exif_rate=$(awk -v n="$files" -v s="$secs" 'BEGIN { print n / s }')
printf 'exiftool:  %d files in %.3f s = %.0f files/s\n' "$files" "$secs" "$exif_rate"
awk -v a="$ours_rate" -v b="$exif_rate" 'BEGIN { printf "ratio:     %.1fx\n", a / b }'
