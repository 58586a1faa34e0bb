#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# --shard-edges on 1, 2 and 4 local CPU ranks (Gloo on 127.0.0.1): each rank's edge rows, its
# resident memory, the bytes it puts into the step's collectives, and the step time, from the
# run's metrics.jsonl. Results: bench/results/sharding.md.
#   BRILLM=build/cli/brillm bench/sharding_bench.sh
# Settings (environment): CORPUS, VOCAB (BPE size), DIM, BATCH, SEQ, STEPS, RANKS, OUT.
set -euo pipefail
cd "$(dirname "$0")/.."
BRILLM=${BRILLM:-build/cli/brillm}
CORPUS=${CORPUS:-resources/corpora/en_austen.txt}
VOCAB=${VOCAB:-1000}
DIM=${DIM:-32}
BATCH=${BATCH:-8}
SEQ=${SEQ:-32}
STEPS=${STEPS:-4}
RANKS=${RANKS:-"1 2 4"}
OUT=${OUT:-$(mktemp -d /tmp/brillm-sharding-XXXXXX)}
for R in $RANKS; do
    rm -rf "$OUT/r$R"
    cmd=("$BRILLM" train --nproc-per-node "$R" --shard-edges --corpus "$CORPUS" --out "$OUT/r$R"
         --vocab-kind bpe --vocab-size "$VOCAB" --dim "$DIM" --batch "$BATCH" --max-seq-length "$SEQ"
         --steps "$STEPS" --optimizer adamw --eval-every 0 --validation-windows 0 --checkpoint-every 0
         --threads 1 --quiet)
    echo "# ${cmd[*]}"
    /usr/bin/time -f "# wall %e s" "${cmd[@]}" > /dev/null
    python3 - "$OUT/r$R/metrics.jsonl" "$R" <<'PY'
import json, sys
steps = [json.loads(l) for l in open(sys.argv[1]) if '"type": "step"' in l or '"type":"step"' in l]
last = steps[-1]
times = [b["elapsed"] - a["elapsed"] for a, b in zip(steps, steps[1:])] or [last["elapsed"]]
out = {"ranks": int(sys.argv[2]), "step_seconds_median": sorted(times)[len(times) // 2],
       "dense_bytes": last.get("dense_bytes"), "per_rank": []}
for r in last.get("ranks", []):
    out["per_rank"].append({k: r[k] for k in ("rank", "edge_table_bytes", "exchange_bytes", "memory_mb") if k in r})
print(json.dumps(out))
PY
done
