#!/usr/bin/env bash
# Cost of observability: `alice scan` import with JSON logs at info and the metrics
# subscriber on, against logs at warn and metrics off, alternated in one run (A, B, A, B…).
#
# Usage: scripts/bench_observability.sh [FILES] [MEAN_KIB] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
files=${1:-1000}; kib=${2:-64}; rounds=${3:-5}
work=$(mktemp -d /var/tmp/alice-obs.XXXXXX)
trap 'rm -rf "$work"' EXIT
cargo build --release -q -p alice
alice=$PWD/target/release/alice
python3 scripts/make_bench_corpus.py "$work/corpus" --files "$files" --mean-kib "$kib" > /dev/null
cat $(find "$work/corpus" -type f) > /dev/null

run() { # $1 = level, $2 = metrics on/off
  rm -rf "$work/org" "$work/state"; sync
  cat > "$work/c.toml" <<TOML
inboxes = ["$work/corpus"]
organized = "$work/org"
mode = "copy"
state_dir = "$work/state"
[log]
format = "json"
level = "$1"
[metrics]
enabled = $2
TOML
  local t0 t1
  t0=$(date +%s.%N)
  env -u RUST_LOG "$alice" scan --config "$work/c.toml" > /dev/null 2> "$work/log.jsonl"
  t1=$(date +%s.%N)
  echo "$t1 - $t0" | bc
}
on=(); off=()
for _ in $(seq 1 "$rounds"); do
  on+=("$(run info true)")
  lines=$(wc -l < "$work/log.jsonl")
  off+=("$(run warn false)")
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
range() { printf '%s\n' "$@" | sort -g | awk 'NR==1{mn=$1} {mx=$1} END {printf "%.2f–%.2f s", mn, mx}'; }
mon=$(median "${on[@]}"); moff=$(median "${off[@]}")
echo "corpus: $files files (~${kib} KiB), copy mode, warm cache, $rounds rounds alternated"
printf 'info logs + metrics : median %.2f s (%s), %s log lines\n' "$mon" "$(range "${on[@]}")" "$lines"
printf 'warn logs, no metrics: median %.2f s (%s)\n' "$moff" "$(range "${off[@]}")"
printf 'observability cost  : %+.1f%%\n' "$(echo "($mon / $moff - 1) * 100" | bc -l)"
