#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Builds the trainer against the machine's CUDA LibTorch (a pip torch) with the fused CUDA step
# (issue 16), runs the GPU tests, the GPU decoding benchmark, and the GPU training benchmark before and after in the same run
# (BRILLM_GPU_FUSED=0: the ATen step and tensor-op AdamW; =1: the fused kernels), writing logs
# and JSON into OUT_DIR.
#   usage: bench/gpu_run.sh OUT_DIR [DEPS_DIR]
# DEPS_DIR (default third_party_carry) holds what such a machine may lack: include/{nlohmann,
# gloo,unicode}, lib/libicu*.so (the ICU the headers belong to), share/cmake/nlohmann_json, a
# googletest source tree, and lib/libbrillm_fused_cuda.so, the fused kernels prebuilt with
#   nvcc -std=c++17 -O3 -shared -Xcompiler -fPIC -cudart static -gencode arch=compute_90,code=sm_90 \
#     -gencode arch=compute_90,code=compute_90 training/src/cuda/fused_kernels.cu -o DEPS_DIR/lib/libbrillm_fused_cuda.so
# (without it, CMake compiles the kernels where it finds nvcc). The GUI is not built. Also the
# sharded step on the GPU (issue 17): its tests and a sharded run next to a plain one.
# FULL=1 also runs test_training, test_distributed, test_core, every GPU test and the bf16 run.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$1
deps=$(realpath "${2:-third_party_carry}")
mkdir -p "$out"
t0=$SECONDS
torch_cmake=$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')
export LD_LIBRARY_PATH="$deps/lib:${LD_LIBRARY_PATH:-}"
gtest_args=()
if ! ls /usr/lib/x86_64-linux-gnu/libgtest.* /usr/lib/libgtest.* >/dev/null 2>&1; then
  cmake -S "$deps/googletest" -B /tmp/gtest-build -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/tmp/gtest >/dev/null
  cmake --build /tmp/gtest-build --target install >/dev/null
  gtest_args=(-DGTest_DIR=/tmp/gtest/lib/cmake/GTest)
fi
fused_args=()
[ -f "$deps/lib/libbrillm_fused_cuda.so" ] && fused_args=(-DBRILLM_FUSED_CUDA_LIB="$deps/lib/libbrillm_fused_cuda.so")
cmake -S . -B /tmp/brillm-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DBRILLM_BUILD_GUI=OFF -DBRILLM_BUILD_FUZZERS=OFF \
  -DCMAKE_PREFIX_PATH="$torch_cmake;$deps" -DICU_ROOT="$deps" -DCMAKE_CXX_FLAGS="-isystem $deps/include" \
  "${gtest_args[@]}" "${fused_args[@]}" 2>&1 | tee "$out/configure.log" | grep -E "BriLLM|Error" || true
targets=(brillm test_gpu_fused test_gpu_training test_gpu_decode)
[ -z "${FULL:-}" ] || targets=()
cmake --build /tmp/brillm-gpu -j "$(nproc)" ${targets[@]/#/--target } > "$out/build.log" 2>&1 || { tail -40 "$out/build.log"; exit 1; }
echo "built in $((SECONDS - t0)) s"
B=/tmp/brillm-gpu/bin
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$out/gpu.txt"
set +e
stdbuf -oL "$B/test_gpu_fused" > "$out/test_gpu_fused.log" 2>&1
echo "test_gpu_fused: exit $? ($((SECONDS - t0)) s)"; grep -E "^\[  (FAILED|PASSED|  OK) |Failure|Expected|Which is|error" "$out/test_gpu_fused.log" | head -30

# decoding with the candidates scored on the GPU (DeviceEdges), against the float64 reference and
# the CPU kernels; then its speed next to the CPU kernels' on the same synthetic models
stdbuf -oL "$B/test_gpu_decode" > "$out/test_gpu_decode.log" 2>&1
echo "test_gpu_decode: exit $? ($((SECONDS - t0)) s)"; tail -3 "$out/test_gpu_decode.log"
for case in "1000 100000" "8000 1000000"; do
  set -- $case
  for dev in cuda cpu; do
    timeout 240 "$B/brillm" bench decode --vocab $1 --own-edges $2 --device $dev --dtype f32,bf16 --tokens 5000 \
      --rounds 1 --plain-tokens 32 --json > "$out/decode_${dev}_$1.json" 2>> "$out/bench.err"
    echo "decode V=$1 on $dev: exit $? ($((SECONDS - t0)) s)"
  done
done
# before (the ATen step) and after (fused) in the same run: cases A (V 1000, 100 000 own edges,
# 31 edges x 401 candidates) at batch 8 and 256, B (V 500, 20 000 edges, 15 x 101) at batch 8
{
  echo "{\"gpu\": \"$(head -1 "$out/gpu.txt")\", \"commit\": \"$(git rev-parse --short HEAD 2>/dev/null || echo unknown)\", \"runs\": ["
  first=1
  for case in "1000 100000 8 32 400" "1000 100000 256 32 400" "500 20000 8 16 100"; do
    set -- $case
    for opt in adamw sparse-adamw; do
      for fused in 0 1; do
        [ $first = 1 ] || echo ","
        first=0
        r=$(BRILLM_GPU_FUSED=$fused timeout 120 "$B/brillm" bench train --device cuda --precision fp32 --vocab $1 \
          --own-edges $2 --batch $3 --seq-len $4 --negatives $5 --optimizer $opt --steps 20 --json)
        echo "{\"fused\": $fused, \"result\": ${r:-null}}"
      done
    done
  done
  echo "]}"
} > "$out/gpu_train_bench.json" 2> "$out/bench.err"
echo "bench: exit $? ($((SECONDS - t0)) s)"; tail -3 "$out/bench.err"
python3 - "$out/gpu_train_bench.json" <<'PY' || true
import json, sys
for run in json.load(open(sys.argv[1]))["runs"]:
    r = run["result"]
    if not r: continue
    print(f'fused={run["fused"]} B={r["batch"]:>3} V={r["vocab"]} {r["optimizer"]:>12}: {r["samples_per_s"]:9.0f} samples/s, '
          f'loss {1e3*r["loss_seconds_per_step"]:7.2f} ms, opt {1e3*r["optimizer_seconds_per_step"]:6.2f} ms, '
          f'floor {r["memory_floor_samples_per_s"]:8.0f}, {100*r["fraction_of_floor"]:5.1f}%')
PY
# where the fused step's time goes: each phase waited for and timed (BRILLM_FUSED_PROFILE=1)
for case in "1000 100000 8 32 400" "1000 100000 256 32 400"; do
  set -- $case
  BRILLM_GPU_FUSED=1 BRILLM_FUSED_PROFILE=1 timeout 60 "$B/brillm" bench train --device cuda --vocab $1 --own-edges $2 \
    --batch $3 --seq-len $4 --negatives $5 --optimizer adamw --steps 5 --json 2>&1 >/dev/null | tail -3
done | tee "$out/profile.log"
filter='Gpu.CudaStepMatchesTheCpuKernels:Gpu.AdamWOnTheGpuMatchesTheCpuLoops:Gpu.ShardedStepOnTheGpuMatchesTheCpuKernels:GpuNccl.OneRankOverNcclTrainsShardedLikeTheCpuKernels'
[ -z "${FULL:-}" ] || filter='*'
stdbuf -oL "$B/test_gpu_training" --gtest_filter="$filter" > "$out/test_gpu_training.log" 2>&1
echo "test_gpu_training ($filter): exit $? ($((SECONDS - t0)) s)"; tail -3 "$out/test_gpu_training.log"
# --shard-edges on one GPU rank over NCCL (issue 17) next to the same run unsharded: samples/s from the metrics
for mode in plain sharded; do
  flags=""; [ $mode = sharded ] && flags="--shard-edges --nproc-per-node 1 --dist-backend nccl"
  timeout 120 "$B/brillm" train --corpus resources/corpora/en_austen.txt --vocab-kind char --out /tmp/gpu-$mode \
    --device cuda --steps 60 --batch 64 --negatives 64 --eval-every 0 --quiet $flags > "$out/train_$mode.log" 2>&1
  echo "train $mode: exit $? ($((SECONDS - t0)) s)"
  cp /tmp/gpu-$mode/metrics.jsonl "$out/train_${mode}_metrics.jsonl" 2>/dev/null
done
python3 - "$out" <<'PY' || true
import json, sys, statistics
for mode in ("plain", "sharded"):
    steps = [json.loads(l) for l in open(f"{sys.argv[1]}/train_{mode}_metrics.jsonl") if '"type": "step"' in l or '"type":"step"' in l]
    sps = [s["samples_per_s"] for s in steps[5:] if "samples_per_s" in s]
    print(f"{mode:>8}: {len(steps)} steps, median {statistics.median(sps):.0f} samples/s, last loss {steps[-1]['loss']:.4f}")
PY
[ -n "${FULL:-}" ] || exit 0
for t in test_training test_distributed test_core; do
  stdbuf -oL "$B/$t" > "$out/$t.log" 2>&1; echo "$t: exit $?"; tail -3 "$out/$t.log"
done
# a real run: the English corpus on the GPU in bf16, metrics kept
"$B/brillm" train --corpus resources/corpora/en_austen.txt --vocab-kind bpe --vocab-size 1500 --out /tmp/gpu-run \
  --device cuda --precision bf16 --steps 400 --batch 32 --negatives 128 --eval-every 100 --quiet 2>&1 | tail -3 | tee "$out/train.log"
cp /tmp/gpu-run/metrics.jsonl "$out/gpu_run_metrics.jsonl"
