#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Builds the trainer against the machine's CUDA LibTorch (a pip torch) and runs the GPU tests and
# the GPU training benchmarks, writing logs and JSON into OUT_DIR.
#   usage: bench/gpu_run.sh OUT_DIR [DEPS_DIR]
# DEPS_DIR (default third_party_carry) holds what such a machine may lack: include/{nlohmann,
# gloo,unicode,openssl,hwy}, lib/libicu*.so (the ICU the headers belong to), lib/libcrypto.so*,
# lib/libhwy.so* with lib/pkgconfig/libhwy.pc, share/cmake/nlohmann_json and a googletest source
# tree. The GUI is not built.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$1
deps=$(realpath "${2:-third_party_carry}")
mkdir -p "$out"
torch_cmake=$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')
export LD_LIBRARY_PATH="$deps/lib:${LD_LIBRARY_PATH:-}"
export PKG_CONFIG_PATH="$deps/lib/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
gtest_args=()
if ! ls /usr/lib/x86_64-linux-gnu/libgtest.* /usr/lib/libgtest.* >/dev/null 2>&1; then
  cmake -S "$deps/googletest" -B /tmp/gtest-build -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/tmp/gtest >/dev/null
  cmake --build /tmp/gtest-build --target install >/dev/null
  gtest_args=(-DGTest_DIR=/tmp/gtest/lib/cmake/GTest)
fi
cmake -S . -B /tmp/brillm-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DBRILLM_BUILD_GUI=OFF \
  -DCMAKE_PREFIX_PATH="$torch_cmake;$deps" -DICU_ROOT="$deps" -DOPENSSL_ROOT_DIR="$deps" -DCMAKE_CXX_FLAGS="-isystem $deps/include" \
  "${gtest_args[@]}" 2>&1 | tee "$out/configure.log" | grep -E "BriLLM|CUDA|Error" || true
time cmake --build /tmp/brillm-gpu -j "$(nproc)" 2>&1 | tail -40 | tee "$out/build.log"
B=/tmp/brillm-gpu/bin
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$out/gpu.txt"
set +e
stdbuf -oL "$B/test_training" > "$out/test_training.log" 2>&1; echo "test_training: exit $?"; tail -3 "$out/test_training.log"
stdbuf -oL "$B/test_distributed" > "$out/test_distributed.log" 2>&1; echo "test_distributed: exit $?"; tail -3 "$out/test_distributed.log"
stdbuf -oL "$B/test_core" > "$out/test_core.log" 2>&1; echo "test_core: exit $?"; tail -3 "$out/test_core.log"
stdbuf -oL "$B/test_gpu_training" > "$out/test_gpu_training.log" 2>&1
rc=$?
echo "test_gpu_training: exit $rc"; tail -25 "$out/test_gpu_training.log"
if [ $rc -gt 128 ] && command -v cuda-gdb >/dev/null; then
  cuda-gdb -batch -ex run -ex bt -ex 'x/6a $sp' -ex 'info symbol *(long*)$sp' -ex 'thread apply all bt 6' \
    --args "$B/test_gpu_training" > "$out/crash.log" 2>&1
  grep -v -E "^warning: Cuda|^\[New|^\[Thread" "$out/crash.log" | tail -40
fi
set -e
[ -z "${ONLY_TESTS:-}" ] || exit 0
{
  echo "{\"gpu\": \"$(head -1 "$out/gpu.txt")\", \"commit\": \"$(git rev-parse --short HEAD 2>/dev/null || echo unknown)\", \"runs\": ["
  first=1
  for case in "1000 100000 8 32 400" "500 20000 8 16 100" "1000 100000 256 32 400"; do
    set -- $case
    for opt in adamw sparse-adamw; do
      for prec in fp32 bf16 fp16; do
        [ $first = 1 ] || echo ","
        first=0
        "$B/brillm" bench train --device cuda --precision $prec --vocab $1 --own-edges $2 --batch $3 --seq-len $4 \
          --negatives $5 --optimizer $opt --steps 20 --json
      done
    done
  done
  echo "]}"
} > "$out/gpu_train_bench.json" 2> "$out/bench.err" || { tail -5 "$out/bench.err"; }
# a real run: the English corpus on the GPU in bf16, metrics kept
"$B/brillm" train --corpus resources/corpora/en_austen.txt --vocab-kind bpe --vocab-size 1500 --out /tmp/gpu-run \
  --device cuda --precision bf16 --steps 400 --batch 32 --negatives 128 --eval-every 100 --quiet 2>&1 | tail -3 | tee "$out/train.log"
cp /tmp/gpu-run/metrics.jsonl "$out/gpu_run_metrics.jsonl"
