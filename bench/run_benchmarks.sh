#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Runs the decode, training and blame benchmarks and writes bench/results/{decode,train,blame}.json.
# Decoding is measured on every vector target this build and CPU have (SCALAR ... AVX3) with
# float32 and bfloat16 parameters; training on each target for case A's loss.
# usage: bench/run_benchmarks.sh [BUILD_DIR]   (default build)
#        BENCH_ONLY=decode|train|blame bench/run_benchmarks.sh [BUILD_DIR]   (one of them)
set -euo pipefail
cd "$(dirname "$0")/.."
B=${1:-build}/bin/brillm
only=${BENCH_ONLY:-}
out=bench/results
mkdir -p "$out"
machine="$(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load $(cut -d' ' -f1 /proc/loadavg) at start"
head() { echo "{\"machine\": \"$machine\", \"commit\": \"$(git rev-parse --short HEAD)\", \"runs\": ["; }

if [ -z "$only" ] || [ "$only" = decode ]; then
  {
    head
    # the issue's case (V = 1000, 100 own edges per source) and the larger one; every target, F32 and BF16
    "$B" bench decode --vocab 1000 --own-edges 100000 --target all --dtype f32,bf16 --rounds 3 --json
    echo ","
    "$B" bench decode --vocab 4000 --own-edges 200000 --target all --dtype f32,bf16 --rounds 3 --json
    echo "]}"
  } > "$out/decode.json.tmp"
  mv "$out/decode.json.tmp" "$out/decode.json"
fi

if [ -z "$only" ] || [ "$only" = train ]; then
  A="--vocab 1000 --own-edges 100000 --batch 8 --seq-len 32 --negatives 400"
  C="--vocab 500 --own-edges 20000 --batch 8 --seq-len 16 --negatives 100"
  {
    head
    "$B" bench train $A --optimizer adamw --plain-steps 1 --json
    echo ","
    "$B" bench train $A --optimizer sparse-adamw --plain-steps 0 --json
    echo ","
    "$B" bench train $C --optimizer adamw --plain-steps 2 --json
    echo ","
    "$B" bench train $C --optimizer sparse-adamw --plain-steps 0 --json
    # the loss on every other vector target (case A, sparse AdamW: the loss dominates)
    for t in $("$B" bench targets | tail -n +2); do
      echo ","
      "$B" bench train $A --optimizer sparse-adamw --plain-steps 0 --target "$t" --json
    done
    echo "]}"
  } > "$out/train.json.tmp"
  mv "$out/train.json.tmp" "$out/train.json"
fi

if [ -z "$only" ] || [ "$only" = blame ]; then
  {
    head
    "$B" bench blame --json
    echo "]}"
  } > "$out/blame.json.tmp"
  mv "$out/blame.json.tmp" "$out/blame.json"
fi
echo "wrote the results under $out"
