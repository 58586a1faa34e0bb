#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Runs the decode, training and blame benchmarks and writes bench/results/{decode,train,blame}.json.
# usage: bench/run_benchmarks.sh [BUILD_DIR]   (default build)
set -euo pipefail
cd "$(dirname "$0")/.."
B=${1:-build}/bin/brillm
out=bench/results
mkdir -p "$out"
machine="$(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load $(cut -d' ' -f1 /proc/loadavg) at start"
echo "{\"machine\": \"$machine\", \"commit\": \"$(git rev-parse --short HEAD)\", \"runs\": [" > "$out/decode.json.tmp"
"$B" bench decode --vocab 4000 --own-edges 200000 --json >> "$out/decode.json.tmp"
echo "]}" >> "$out/decode.json.tmp"
mv "$out/decode.json.tmp" "$out/decode.json"

{
  echo "{\"machine\": \"$machine\", \"commit\": \"$(git rev-parse --short HEAD)\", \"runs\": ["
  "$B" bench train --vocab 1000 --own-edges 100000 --batch 8 --seq-len 32 --negatives 400 --optimizer adamw --plain-steps 1 --json
  echo ","
  "$B" bench train --vocab 1000 --own-edges 100000 --batch 8 --seq-len 32 --negatives 400 --optimizer sparse-adamw --plain-steps 0 --json
  echo ","
  "$B" bench train --vocab 500 --own-edges 20000 --batch 8 --seq-len 16 --negatives 100 --optimizer adamw --plain-steps 2 --json
  echo ","
  "$B" bench train --vocab 500 --own-edges 20000 --batch 8 --seq-len 16 --negatives 100 --optimizer sparse-adamw --plain-steps 0 --json
  echo "]}"
} > "$out/train.json.tmp"
mv "$out/train.json.tmp" "$out/train.json"
{
  echo "{\"machine\": \"$machine\", \"commit\": \"$(git rev-parse --short HEAD)\", \"runs\": ["
  "$B" bench blame --json
  echo "]}"
} > "$out/blame.json.tmp"
mv "$out/blame.json.tmp" "$out/blame.json"
echo "wrote $out/decode.json $out/train.json $out/blame.json"
