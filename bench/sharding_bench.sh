#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# --shard-edges on 1, 2 and 4 local CPU ranks (Gloo on 127.0.0.1), then the 2-D layouts
# (shards x replicas) of 4 ranks: each rank's edge rows, its resident memory, the bytes it puts
# into the step's collectives (shard group and replica group), its peak resident set (the sharded
# initialisation included) and the step time, from the run's metrics.jsonl. Results:
# bench/results/sharding.md.
#   BRILLM=build/bin/brillm bench/sharding_bench.sh
# Settings (environment): CORPUS, VOCAB (BPE size), DIM, BATCH, SEQ, STEPS, OPTIMIZER, RANKS (1-D runs),
# LAYOUTS (SHARDSxREPLICAS, e.g. "1x4 2x2 4x1"; "" to skip), BALANCE (--shard-balance: memory or work), OUT.
set -euo pipefail
cd "$(dirname "$0")/.."
BRILLM=${BRILLM:-build/bin/brillm}
CORPUS=${CORPUS:-resources/corpora/en_austen.txt}
VOCAB=${VOCAB:-1000}
DIM=${DIM:-32}
BATCH=${BATCH:-8}
SEQ=${SEQ:-32}
STEPS=${STEPS:-4}
OPTIMIZER=${OPTIMIZER:-adamw}
BALANCE=${BALANCE:-memory}
RANKS=${RANKS-"1 2 4"}
LAYOUTS=${LAYOUTS-"1x4 2x2 4x1"}
OUT=${OUT:-$(mktemp -d /tmp/brillm-sharding-XXXXXX)}
runs=()
for R in $RANKS; do runs+=("$R:"); done
for L in $LAYOUTS; do runs+=("$((${L%x*} * ${L#*x})):${L%x*}"); done
for run in "${runs[@]}"; do
    R=${run%%:*}
    S=${run#*:}
    name=r$R${S:+-s$S}
    rm -rf "$OUT/$name"
    cmd=("$BRILLM" train --nproc-per-node "$R" --shard-edges --shard-balance "$BALANCE" ${S:+--shards "$S"} --corpus "$CORPUS" --out "$OUT/$name"
         --vocab-kind bpe --vocab-size "$VOCAB" --dim "$DIM" --batch "$BATCH" --max-seq-length "$SEQ"
         --steps "$STEPS" --optimizer "$OPTIMIZER" --eval-every 0 --validation-windows 0 --checkpoint-every 0
         --threads 1 --quiet)
    echo "# ${cmd[*]}"
    # %M: the peak resident set of the largest process of the job (the launcher's rusage covers its ranks)
    /usr/bin/time -f "# wall %e s, peak resident set of the largest rank %M kB" "${cmd[@]}" > /dev/null
    python3 - "$OUT/$name/metrics.jsonl" "$R" <<'PY'
import json, sys
steps = [json.loads(l) for l in open(sys.argv[1]) if '"type": "step"' in l or '"type":"step"' in l]
last = steps[-1]
times = [b["elapsed"] - a["elapsed"] for a, b in zip(steps, steps[1:])] or [last["elapsed"]]
out = {"ranks": int(sys.argv[2]), "shards": last.get("shards"), "replicas": last.get("replicas", 1),
       "step_seconds_median": sorted(times)[len(times) // 2], "loss": last.get("loss"),
       "touched_slots": last.get("touched_slots"), "dense_bytes": last.get("dense_bytes"), "per_rank": []}
keys = ("rank", "shard", "replica", "edge_table_bytes", "candidate_rows", "exchange_bytes", "replica_exchange_bytes", "memory_mb",
        "peak_memory_mb")
for r in last.get("ranks", []):
    out["per_rank"].append({k: r[k] for k in keys if k in r})
print(json.dumps(out))
PY
done
