#!/usr/bin/env bash
# `alice scan` import throughput against the practical floor: `cp -r` + `b3sum` of the same
# corpus, alternated in one run (A, B, A, B…) on a warm page cache.
#
# Usage: scripts/bench_import.sh [FILES] [MEAN_KIB] [ROUNDS]
# Needs: b3sum (Debian package b3sum), python3. Builds alice in release mode.
set -euo pipefail
cd "$(dirname "$0")/.."
files=${1:-2000}; kib=${2:-256}; rounds=${3:-3}
work=$(mktemp -d /var/tmp/alice-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
cargo build --release -q -p alice
alice=$PWD/target/release/alice
python3 scripts/make_bench_corpus.py "$work/corpus" --files "$files" --mean-kib "$kib"
bytes=$(du -sb "$work/corpus" | cut -f1)
# Warm the cache once.
cat $(find "$work/corpus" -type f) > /dev/null

now() { date +%s.%N; }
floor=(); floor_sync=(); ours=(); ours_move=()
for r in $(seq 1 "$rounds"); do
  rm -rf "$work/cp"; sync
  t0=$(now); cp -r "$work/corpus" "$work/cp"; find "$work/cp" -type f -print0 | xargs -0 b3sum > /dev/null; t1=$(now)
  floor+=("$(echo "$t1 - $t0" | bc)")
  # The same with durability: what copy mode must at least pay (data on disk before it is
  # recorded), though a single sync at the end is cheaper than our per-file fsync.
  rm -rf "$work/cp"; sync
  t0=$(now); cp -r "$work/corpus" "$work/cp"; find "$work/cp" -type f -print0 | xargs -0 b3sum > /dev/null; sync; t1=$(now)
  floor_sync+=("$(echo "$t1 - $t0" | bc)")
  rm -rf "$work/cp" "$work/org" "$work/state" "$work/dups"; sync
  cat > "$work/alice.toml" <<TOML
inboxes = ["$work/corpus"]
organized = "$work/org"
mode = "copy"
state_dir = "$work/state"
TOML
  t0=$(now); "$alice" scan --config "$work/alice.toml" --log-format json 2>/dev/null | tail -1; t1=$(now)
  ours+=("$(echo "$t1 - $t0" | bc)")
  test "$(find "$work/org" -type f | wc -l)" -eq "$files"
  # Move mode on one filesystem: hashing plus renames. Work on a copy of the corpus.
  rm -rf "$work/org" "$work/state" "$work/inbox2"; cp -r "$work/corpus" "$work/inbox2"; sync
  cat > "$work/move.toml" <<TOML
inboxes = ["$work/inbox2"]
organized = "$work/org"
mode = "move"
state_dir = "$work/state"
TOML
  t0=$(now); "$alice" scan --config "$work/move.toml" --log-format json 2>/dev/null | tail -1; t1=$(now)
  ours_move+=("$(echo "$t1 - $t0" | bc)")
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
range() { printf '%s\n' "$@" | sort -g | awk 'NR==1{mn=$1} {mx=$1} END {printf "%.2f–%.2f s", mn, mx}'; }
ms=$(median "${floor_sync[@]}"); mf=$(median "${floor[@]}"); mo=$(median "${ours[@]}"); mm=$(median "${ours_move[@]}")
echo "corpus: $files files, $((bytes / 1000000)) MB (mean ~${kib} KiB), warm cache, $rounds rounds"
printf 'cp -r + b3sum   : median %.2f s (%s)  %.0f files/s  %.1f MB/s\n' "$mf" "$(range "${floor[@]}")" "$(echo "$files / $mf" | bc -l)" "$(echo "$bytes / 1000000 / $mf" | bc -l)"
printf 'cp -r+b3sum+sync: median %.2f s (%s)  %.0f files/s  %.1f MB/s\n' "$ms" "$(range "${floor_sync[@]}")" "$(echo "$files / $ms" | bc -l)" "$(echo "$bytes / 1000000 / $ms" | bc -l)"
printf 'alice scan copy : median %.2f s (%s)  %.0f files/s  %.1f MB/s  = %.2fx cp+b3sum, %.2fx with sync\n' "$mo" "$(range "${ours[@]}")" "$(echo "$files / $mo" | bc -l)" "$(echo "$bytes / 1000000 / $mo" | bc -l)" "$(echo "$mo / $mf" | bc -l)" "$(echo "$mo / $ms" | bc -l)"
printf 'alice scan move : median %.2f s (%s)  %.0f files/s  %.1f MB/s\n' "$mm" "$(range "${ours_move[@]}")" "$(echo "$files / $mm" | bc -l)" "$(echo "$bytes / 1000000 / $mm" | bc -l)"
