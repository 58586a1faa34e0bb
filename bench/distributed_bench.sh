#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Data-parallel step of the training benchmark's cases A and B with 1 and 2 local ranks (Gloo on
# 127.0.0.1): samples/s and the bytes each rank puts into the sparse gradient exchange per step,
# against a dense all-reduce of every parameter. Writes bench/results/distributed.json.
# usage: bench/distributed_bench.sh [BUILD_DIR]   (default build)
set -euo pipefail
cd "$(dirname "$0")/.."
B=${1:-build}/bin/brillm
out=bench/results
mkdir -p "$out"
machine="$(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load $(cut -d' ' -f1 /proc/loadavg) at start"
A=(--vocab 1000 --own-edges 100000 --batch 8 --seq-len 32 --negatives 400)
Bc=(--vocab 500 --own-edges 20000 --batch 8 --seq-len 16 --negatives 100)
{
  echo "{\"machine\": \"$machine\", \"commit\": \"$(git rev-parse --short HEAD)\", \"runs\": ["
  first=1
  for opt in adamw sparse-adamw; do
    for case in A B; do
      if [ "$case" = A ]; then args=("${A[@]}"); else args=("${Bc[@]}"); fi
      for n in 1 2; do
        [ $first = 1 ] || echo ","
        first=0
        printf '{"case": "%s", "result": ' "$case"
        "$B" bench distributed "${args[@]}" --optimizer "$opt" --steps 8 --nproc-per-node "$n" --json | tr -d '\n'
        echo "}"
      done
    done
  done
  echo "]}"
} > "$out/distributed.json.tmp"
mv "$out/distributed.json.tmp" "$out/distributed.json"
echo "wrote $out/distributed.json"
