// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Runs fused_kernels.cu on the CPU (BRILLM_FUSED_EMULATE), for testing the kernels' maths where
// there is no GPU: each block's threads are std::threads, __syncthreads a std::barrier, a warp
// shuffle an exchange through a per-warp buffer between two barriers, atomicAdd an atomic_ref.
// Blocks run one after another, so a kernel's __shared__ arrays can be plain statics. Slow (a
// thread per CUDA thread): for small test batches only.
#include <atomic>
#include <barrier>
#include <cmath>
#include <cstddef>
#include <memory>
#include <thread>
#include <vector>

#define __global__
#define __device__
#define __forceinline__ inline
#define __launch_bounds__(n)
#define __shared__ static
#define __restrict__ __restrict

namespace brillm::emu {

struct Dim3 {
    unsigned x = 0, y = 1, z = 1;
};

inline thread_local Dim3 threadIdx, blockIdx;
inline Dim3 blockDim, gridDim;

struct Warp {
    explicit Warp(std::ptrdiff_t lanes) : barrier(lanes) {}
    float buf[32] = {};
    std::barrier<> barrier;
};

inline std::barrier<>* blockBarrier = nullptr;
inline std::vector<std::unique_ptr<Warp>>* warps = nullptr;
inline float* dynamicShared = nullptr;

inline void syncthreads() {
    blockBarrier->arrive_and_wait();
}

inline float shflXor(unsigned, float v, int offset) {
    Warp& w = *(*warps)[threadIdx.x / 32];
    const unsigned lane = threadIdx.x % 32;
    w.buf[lane] = v;
    w.barrier.arrive_and_wait();
    const float r = w.buf[lane ^ static_cast<unsigned>(offset)];
    w.barrier.arrive_and_wait();
    return r;
}

inline float atomicAddF(float* at, float v) {
    return std::atomic_ref<float>(*at).fetch_add(v);
}

template <class Kernel, class... Args>
void launch(Kernel kernel, unsigned grid, unsigned block, std::size_t sharedBytes, Args... args) {
    gridDim = {grid, 1, 1};
    blockDim = {block, 1, 1};
    std::vector<float> shared(sharedBytes / sizeof(float) + 1);
    dynamicShared = shared.data();
    for (unsigned b = 0; b < grid; ++b) {
        std::barrier<> bar(static_cast<std::ptrdiff_t>(block));
        std::vector<std::unique_ptr<Warp>> ws;
        for (unsigned w = 0; w * 32 < block; ++w)
            ws.push_back(std::make_unique<Warp>(std::min<unsigned>(32, block - w * 32)));
        blockBarrier = &bar;
        warps = &ws;
        std::vector<std::thread> threads;
        threads.reserve(block);
        for (unsigned t = 0; t < block; ++t)
            threads.emplace_back([=] {
                threadIdx = {t, 1, 1};
                blockIdx = {b, 1, 1};
                kernel(args...);
            });
        for (auto& t : threads)
            t.join();
    }
}

} // namespace brillm::emu

using brillm::emu::blockDim;
using brillm::emu::blockIdx;
using brillm::emu::gridDim;
using brillm::emu::threadIdx;
#define __syncthreads() ::brillm::emu::syncthreads()
#define __shfl_xor_sync(mask, v, o) ::brillm::emu::shflXor(mask, v, o)
#define atomicAdd(at, v) ::brillm::emu::atomicAddF(at, v)
