#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Reproduces bench/results/quality.md: a 9:1 paragraph split (every 10th paragraph held out), the
# Kneser-Ney baselines on the same tokens, and the default recipe under a time budget, each
# scored by the exact held-out perplexity over all V candidates.
#   bench/quality.sh [BUILD_BIN] [MINUTES] [OUT_DIR]
# Needs ../shared (the Austen and Song ci corpora, the released English BPE).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-build/bin}
minutes=${2:-2}
out=${3:-$(mktemp -d)}
shared=${BRILLM_SHARED_DIR:-../shared}
mkdir -p "$out"
brillm="$bin/brillm"

echo "== English: Austen, released BPE (4000 nodes)"
"$brillm" split --every 10 --train "$out/en_train.txt" --held-out "$out/en_held.txt" "$shared/corpora/en_austen.txt"
en_tok="$shared/brillm0.5/wiki_bpe_tokenizer_4000_bytelevel.json"
"$brillm" eval --baseline kn --tokenizer "$en_tok" --train-corpus "$out/en_train.txt" --corpus "$out/en_held.txt"
"$brillm" train --corpus "$out/en_train.txt" --held-out-corpus "$out/en_held.txt" --tokenizer "$en_tok" \
    --out "$out/en_run" --max-minutes "$minutes" --steps 1000000 --eval-every 1000000 --eval-samples 0 --quiet
"$brillm" eval --model "$out/en_run/model.brillm" --corpus "$out/en_held.txt"

echo "== Chinese: Song ci, characters (4000 nodes from the training split)"
"$brillm" split --every 10 --train "$out/zh_train.txt" --held-out "$out/zh_held.txt" "$shared/corpora/zh_poetry_songci.txt"
"$brillm" vocab build --kind char --size 4000 --corpus "$out/zh_train.txt" --out "$out/zh_char_4000.json" >/dev/null
"$brillm" eval --baseline kn --tokenizer "$out/zh_char_4000.json" --train-corpus "$out/zh_train.txt" --corpus "$out/zh_held.txt"
"$brillm" train --corpus "$out/zh_train.txt" --held-out-corpus "$out/zh_held.txt" --tokenizer "$out/zh_char_4000.json" \
    --out "$out/zh_run" --max-minutes "$minutes" --steps 1000000 --eval-every 1000000 --eval-samples 0 --quiet
"$brillm" eval --model "$out/zh_run/model.brillm" --corpus "$out/zh_held.txt"
echo "runs and splits in $out"
