#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# A short fuzzing run of every checkpoint parser, seeded with the committed fixtures.
# usage: run_fuzz_smoke.sh FUZZ_BUILD_DIR SOURCE_DIR SECONDS_PER_TARGET
set -euo pipefail
build=$1 src=$2 secs=${3:-7}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fixtures=$src/tests/fixtures/checkpoint
seeds=$src/tests/fuzz/corpus

run() {
  local target=$1; shift
  mkdir -p "$work/$target"
  cp "$@" "$work/$target/"
  echo "== $target: ${secs}s from $(ls "$work/$target" | wc -l) seeds"
  # New inputs stay in the scratch corpus; crashes are written to the scratch directory and the
  # run fails with libFuzzer's report.
  "$build/$target" -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
      -artifact_prefix="$work/$target-" "$work/$target" 2>&1 | tail -n 12
  if ls "$work/$target-"* >/dev/null 2>&1; then
    echo "fuzz_smoke: $target found a crash; the input:"; od -A x -t x1z "$work/$target-"* | head -40
    exit 1
  fi
}

run fuzz_model_file_header "$seeds"/model_file/*
run fuzz_torch_checkpoint "$fixtures"/*.pt
run fuzz_torch_pickle "$seeds"/torch_pickle/*
run fuzz_metadata_json "$seeds"/metadata_json/*
echo "fuzz_smoke: no crash"
