#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# The default training recipe on a GPU: builds against the machine's CUDA LibTorch (as
# bench/gpu_run.sh does, DEPS_DIR the same), runs the training and GPU tests, then trains the
# default recipe on the bundled Austen text (every 10th paragraph held out, a 1500-token BPE of
# the rest) for MINUTES on cuda, and writes logs and metrics into OUT_DIR.
#   usage: bench/gpu_recipe.sh OUT_DIR [DEPS_DIR] [MINUTES]
# The same run on the CPU, for comparison: the last command with --device cpu.
set -uo pipefail
cd "$(dirname "$0")/.."
out=$1
deps=$(realpath "${2:-third_party_carry}")
minutes=${3:-2}
mkdir -p "$out"
torch_cmake=$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')
export LD_LIBRARY_PATH="$deps/lib:${LD_LIBRARY_PATH:-}"
gtest_args=()
if ! ls /usr/lib/x86_64-linux-gnu/libgtest.* /usr/lib/libgtest.* >/dev/null 2>&1; then
  cmake -S "$deps/googletest" -B /tmp/gtest-build -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/tmp/gtest >/dev/null
  cmake --build /tmp/gtest-build --target install >/dev/null
  gtest_args=(-DGTest_DIR=/tmp/gtest/lib/cmake/GTest)
fi
cmake -S . -B /tmp/brillm-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DBRILLM_BUILD_GUI=OFF -DBRILLM_BUILD_FUZZERS=OFF \
  -DCMAKE_PREFIX_PATH="$torch_cmake;$deps" -DICU_ROOT="$deps" -DCMAKE_CXX_FLAGS="-isystem $deps/include" \
  "${gtest_args[@]}" > "$out/configure.log" 2>&1
cmake --build /tmp/brillm-gpu -j "$(nproc)" --target brillm test_training test_gpu_training > "$out/build.log" 2>&1 || { tail -30 "$out/build.log"; exit 1; }
B=/tmp/brillm-gpu/bin
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$out/gpu.txt"
"$B/test_training" > "$out/test_training.log" 2>&1; echo "test_training: exit $?"; tail -2 "$out/test_training.log"
"$B/test_gpu_training" > "$out/test_gpu_training.log" 2>&1; echo "test_gpu_training: exit $?"; tail -2 "$out/test_gpu_training.log"
"$B/brillm" split --every 10 --train /tmp/en_train.txt --held-out /tmp/en_held.txt resources/corpora/en_austen.txt
"$B/brillm" train --corpus /tmp/en_train.txt --held-out-corpus /tmp/en_held.txt --vocab-kind bpe --vocab-size 1500 \
  --out /tmp/gpu-recipe --device cuda --max-minutes "$minutes" --eval-every 1000000 --eval-samples 0 > "$out/recipe.log" 2>&1
echo "recipe: exit $?"; tr '\r' '\n' < "$out/recipe.log" | grep -v '^step' | tail -6
cp /tmp/gpu-recipe/metrics.jsonl "$out/recipe_metrics.jsonl"
