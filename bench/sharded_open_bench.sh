#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# A sharded model opened three ways - its shards mapped (openShardedModel), merged in memory
# (mergeShards), and the same model as one file (ModelFile::load) - each in a fresh process, cold
# (the files evicted from the page cache first) and warm: open time, decode time and resident
# bytes after decoding. Results: bench/results/sharded-open.md.
#   BENCH=build/bin/sharded_open_bench bench/sharded_open_bench.sh
# Settings (environment): V, OWN (own targets per node), DIM, SHARDS, TOKENS, REPEATS, OUT.
set -euo pipefail
cd "$(dirname "$0")/.."
BENCH=${BENCH:-build/bin/sharded_open_bench}
V=${V:-2000}
OWN=${OWN:-38}
DIM=${DIM:-32}
SHARDS=${SHARDS:-4}
TOKENS=${TOKENS:-64}
REPEATS=${REPEATS:-3}
OUT=${OUT:-$(mktemp -d /tmp/brillm-sharded-open-XXXXXX)}
"$BENCH" write "$OUT" "$V" "$OWN" "$DIM" "$SHARDS"
du -sh "$OUT/one.brillm" "$OUT/shards"
for temp in cold warm; do
    for i in $(seq "$REPEATS"); do
        "$BENCH" measure one "$OUT/one.brillm" "$TOKENS" "$temp"
        "$BENCH" measure mapped "$OUT/shards" "$TOKENS" "$temp"
        "$BENCH" measure merged "$OUT/shards" "$TOKENS" "$temp"
    done
done
