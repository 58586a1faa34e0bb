// SPDX-License-Identifier: GPL-3.0-or-later
// The fused GPU training step (see fused_kernels.h). The maths is the core's sampledLoss
// (core/include/brillm/model/loss.h) with the reference's conventions:
//   s0 = GELU(nodeBias[t0] + PE[0] + 1/d); x_0 = s0; x_i = sum_{j<i} softmax(pos[0..i-1])_j y_j
//   z_c = x_i W[slot c] + b[slot c] + PE[i + 1]; y_c = GELU(z_c); energy_c = |y_c|
//   loss_i = log(sum_c w_c exp(energy_c)) - energy_0; the batch loss = mean_b mean_i loss_i
// where y_j is the positive's output at edge j. GELU is the exact (erf) one.
#include "fused_kernels.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#ifdef BRILLM_FUSED_EMULATE
#include "fused_emulation.h"
#define BRILLM_LAUNCH(kernel, grid, block, shared, stream, ...)                                                        \
    ::brillm::emu::launch(kernel, grid, block, shared, __VA_ARGS__)
#define BRILLM_DYNAMIC_SHARED(name) float* name = ::brillm::emu::dynamicShared
#else
#include <cuda_runtime.h>
#define BRILLM_LAUNCH(kernel, grid, block, shared, stream, ...) kernel<<<grid, block, shared, stream>>>(__VA_ARGS__)
#define BRILLM_DYNAMIC_SHARED(name) extern __shared__ float name[]
#endif

namespace brillm::training::fused {
BRILLM_FUSED_NS_BEGIN
namespace {

constexpr int kCandThreads = 256; // 8 warps per edge

__device__ __forceinline__ float gelu(float z) {
    return 0.5f * z * (1.0f + erff(z * 0.70710678118654752f));
}

__device__ __forceinline__ float geluGrad(float z) {
    return 0.5f * (1.0f + erff(z * 0.70710678118654752f)) + z * 0.39894228040143268f * expf(-0.5f * z * z);
}

__device__ __forceinline__ float warpSum(float v) {
    for (int o = 16; o > 0; o >>= 1)
        v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

// One block per edge: each candidate's slot (1 + its index in the source's CSR row, else the
// shared slot 0), flags of the touched slots.
__global__ void slotKernel(Params p, Batch b, Scratch s) {
    const int e = blockIdx.x;
    const int src = b.edgeSrc[e];
    const int64_t lo0 = p.rowPtr[src], hi0 = p.rowPtr[src + 1];
    for (int n = b.candBegin[e] + static_cast<int>(threadIdx.x); n < b.candBegin[e + 1]; n += blockDim.x) {
        const int c = b.cand[n];
        int slot = 0;
        if (c < 0 || c >= p.V) {
            *s.error = 1;
        } else {
            int64_t lo = lo0, hi = hi0;
            while (lo < hi) {
                const int64_t mid = (lo + hi) >> 1;
                if (p.targets[mid] < c)
                    lo = mid + 1;
                else
                    hi = mid;
            }
            if (lo < hi0 && p.targets[lo] == c) slot = static_cast<int>(lo + 1);
        }
        s.slots[n] = slot;
        s.flags[slot] = 1;
    }
}

// One block per sample, thread k = column k (blockDim.x == D): the positives' chain forward.
// Each thread reads back only its own column of Y, so the x of every edge needs no barrier
// beyond the one that publishes it to the block.
__global__ void chainForward(Params p, Batch b, Scratch s) {
    BRILLM_DYNAMIC_SHARED(xs); // [D]
    const int D = p.D, k = threadIdx.x, bi = blockIdx.x;
    const int e0 = b.sampleBegin[bi], n = b.sampleBegin[bi + 1] - e0;
    float xk = gelu(p.NB[static_cast<int64_t>(b.start[bi]) * D + k] + p.PE[k] + 1.0f / static_cast<float>(D));
    for (int i = 0; i < n; ++i) {
        const int64_t e = e0 + i;
        if (i > 0) {
            float m = -INFINITY;
            for (int j = 0; j < i; ++j)
                m = fmaxf(m, p.Pos[j]);
            float sum = 0.f, acc = 0.f;
            for (int j = 0; j < i; ++j) {
                const float w = expf(p.Pos[j] - m);
                sum += w;
                acc = fmaf(w, s.Y[(e0 + j) * static_cast<int64_t>(D) + k], acc);
            }
            xk = acc / sum;
        }
        xs[k] = xk;
        s.X[e * D + k] = xk;
        __syncthreads();
        const int64_t slot = s.slots[b.candBegin[e]];
        const float* W = p.W + slot * D * D;
        float z = p.Bs[slot * D + k] + p.PE[static_cast<int64_t>(i + 1) * D + k];
        for (int j = 0; j < D; ++j)
            z = fmaf(xs[j], W[j * D + k], z);
        s.Z[e * D + k] = z;
        s.Y[e * D + k] = gelu(z);
        __syncthreads();
    }
}

// z = x W[slot] + b[slot] + pe for lane's columns k = lane + 32 r (0 past D).
template <int D, int R>
__device__ __forceinline__ void edgeProduct(const float* xs, const float* W, const float* bias, const float* pe,
                                            int lane, float (&z)[R]) {
#pragma unroll
    for (int r = 0; r < R; ++r) {
        const int k = lane + 32 * r;
        z[r] = k < D ? bias[k] + pe[k] : 0.f;
    }
#pragma unroll
    for (int j = 0; j < D; ++j) {
        const float xj = xs[j];
#pragma unroll
        for (int r = 0; r < R; ++r) {
            const int k = lane + 32 * r;
            if (k < D) z[r] = fmaf(xj, W[j * D + k], z[r]);
        }
    }
}

// One block per edge, one warp per candidate (lane k owns columns k, k + 32, ...): pass 1 the
// energies and the edge's log-sum-exp, pass 2 the backward pass of the edge loss. Every
// candidate on the shared slot 0 has the same output (same matrix, bias and x), so it is
// computed once per edge: its candidates only add their d(loss)/d(energy) / energy to one
// scalar, and the shared slot's dz for the edge is that scalar times GELU(z) GELU'(z).
template <int D>
__global__ void __launch_bounds__(kCandThreads) candidateKernel(Params p, Batch b, Scratch s, Grads g, float invB) {
    constexpr int R = (D + 31) / 32;
    constexpr int kWarps = kCandThreads / 32;
    __shared__ float xs[D], dxs[D], zsh[D], wm[kWarps], wsum[kWarps], shared1[2]; // shared1: energy, dz scale
    const int e = blockIdx.x, lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    for (int t = threadIdx.x; t < D; t += blockDim.x) {
        xs[t] = s.X[static_cast<int64_t>(e) * D + t];
        dxs[t] = 0.f;
    }
    if (threadIdx.x == 0) shared1[1] = 0.f;
    __syncthreads();
    const int c0 = b.candBegin[e], nc = b.candBegin[e + 1] - c0;
    const int bi = b.edgeSample[e];
    const int pos = e - b.sampleBegin[bi], nEdges = b.sampleBegin[bi + 1] - b.sampleBegin[bi];
    const float* pe = p.PE + static_cast<int64_t>(pos + 1) * D;
    if (warp == 0) { // the shared slot's output
        float z[R];
        edgeProduct<D, R>(xs, p.W, p.Bs, pe, lane, z);
        float ss = 0.f;
#pragma unroll
        for (int r = 0; r < R; ++r) {
            const int k = lane + 32 * r;
            if (k < D) {
                zsh[k] = z[r];
                const float y = gelu(z[r]);
                ss = fmaf(y, y, ss);
            }
        }
        const float en = sqrtf(warpSum(ss));
        if (lane == 0) shared1[0] = en;
    }
    __syncthreads();
    const float enShared = shared1[0];

    float m = -INFINITY, sum = 0.f;
    for (int c = warp; c < nc; c += kWarps) {
        const int64_t slot = s.slots[c0 + c];
        float en = enShared;
        if (slot != 0) {
            float z[R];
            edgeProduct<D, R>(xs, p.W + slot * D * D, p.Bs + slot * D, pe, lane, z);
            float ss = 0.f;
#pragma unroll
            for (int r = 0; r < R; ++r)
                if (lane + 32 * r < D) {
                    const float y = gelu(z[r]);
                    ss = fmaf(y, y, ss);
                }
            en = sqrtf(warpSum(ss));
        }
        if (lane == 0) s.En[c0 + c] = en;
        const float val = en + (b.logw ? b.logw[c0 + c] : 0.f);
        const float mNew = fmaxf(m, val);
        sum = sum * expf(m - mNew) + expf(val - mNew);
        m = mNew;
    }
    if (lane == 0) {
        wm[warp] = m;
        wsum[warp] = sum;
    }
    __syncthreads();
    float M = -INFINITY;
    for (int w = 0; w < kWarps; ++w)
        M = fmaxf(M, wm[w]);
    float S = 0.f;
    for (int w = 0; w < kWarps; ++w)
        if (wsum[w] > 0.f) S += wsum[w] * expf(wm[w] - M);
    const float lse = M + logf(S);
    if (threadIdx.x == 0) s.edgeLoss[e] = lse - s.En[c0];
    const float scaleEdge = invB / static_cast<float>(nEdges);

    float acc[D];
#pragma unroll
    for (int j = 0; j < D; ++j)
        acc[j] = 0.f;
    float sharedScale = 0.f;
    for (int c = warp; c < nc; c += kWarps) {
        const int n = c0 + c;
        const int64_t slot = s.slots[n];
        const float en = s.En[n];
        const float lw = b.logw ? b.logw[n] : 0.f;
        const float de = scaleEdge * (expf(en + lw - lse) - (c == 0 ? 1.f : 0.f));
        const float dyScale = en > 0.f ? de / en : 0.f;
        if (slot == 0) {
            sharedScale += dyScale;
            continue;
        }
        const float* W = p.W + slot * D * D;
        float z[R];
        edgeProduct<D, R>(xs, W, p.Bs + slot * D, pe, lane, z);
        float dz[R];
#pragma unroll
        for (int r = 0; r < R; ++r)
            dz[r] = lane + 32 * r < D ? dyScale * gelu(z[r]) * geluGrad(z[r]) : 0.f;
        const int64_t row = s.rowOfSlot[slot];
        float* dW = g.dW + row * D * D;
#pragma unroll
        for (int r = 0; r < R; ++r) {
            const int k = lane + 32 * r;
            if (k < D) atomicAdd(g.dB + row * D + k, dz[r]);
        }
#pragma unroll 4
        for (int j = 0; j < D; ++j) {
            const float xj = xs[j];
#pragma unroll
            for (int r = 0; r < R; ++r) {
                const int k = lane + 32 * r;
                if (k < D) atomicAdd(dW + j * D + k, xj * dz[r]);
            }
        }
        // d(loss)/d(x)_j += sum_k W[j, k] dz_k: per lane partial sums, reduced once per edge
#pragma unroll
        for (int j = 0; j < D; ++j) {
            float t = 0.f;
#pragma unroll
            for (int r = 0; r < R; ++r) {
                const int k = lane + 32 * r;
                if (k < D) t = fmaf(W[j * D + k], dz[r], t);
            }
            acc[j] += t;
        }
    }
#pragma unroll
    for (int j = 0; j < D; ++j) {
        const float t = warpSum(acc[j]);
        if (lane == 0) atomicAdd(&dxs[j], t);
    }
    if (lane == 0) atomicAdd(&shared1[1], sharedScale);
    __syncthreads();
    // the shared slot: dz = scale GELU(z) GELU'(z), summed per edge into Gsh (its weight rows
    // are one product X^T Gsh afterwards), and W[0] dz into d(loss)/d(x)
    const float shScale = shared1[1];
    for (int t = threadIdx.x; t < D; t += blockDim.x)
        zsh[t] = shScale * gelu(zsh[t]) * geluGrad(zsh[t]);
    __syncthreads();
    for (int t = threadIdx.x; t < D; t += blockDim.x) {
        float dx = dxs[t];
        for (int k = 0; k < D; ++k)
            dx = fmaf(p.W[t * D + k], zsh[k], dx);
        s.Dxc[static_cast<int64_t>(e) * D + t] = dx;
        s.Gsh[static_cast<int64_t>(e) * D + t] = zsh[t];
    }
}

// One block per sample, thread k = column k (blockDim.x == D): the chain backward, last edge
// first. The gradient into edge i's x (its candidates' part from candidateKernel, plus the part
// through the positive's output into later edges) flows into the earlier positives' outputs,
// the position logits, and at edge 0 into the start node's bias.
__global__ void chainBackward(Params p, Batch b, Scratch s, Grads g) {
    BRILLM_DYNAMIC_SHARED(sh); // dzs[D], xs[D], gx[D], dA[maxEdges]
    const int D = p.D, k = threadIdx.x, bi = blockIdx.x;
    float* dzs = sh;
    float* xs = sh + D;
    float* gx = sh + 2 * D;
    float* dA = sh + 3 * D;
    const int e0 = b.sampleBegin[bi], n = b.sampleBegin[bi + 1] - e0;
    for (int i = 0; i < n; ++i)
        s.GYe[(static_cast<int64_t>(e0) + i) * D + k] = 0.f;
    for (int i = n - 1; i >= 0; --i) {
        const int64_t e = e0 + i;
        const float dz = s.GYe[e * D + k] * geluGrad(s.Z[e * D + k]);
        dzs[k] = dz;
        xs[k] = s.X[e * D + k];
        __syncthreads();
        const int64_t slot = s.slots[b.candBegin[e]];
        const float* W = p.W + slot * D * D;
        float gk = s.Dxc[e * D + k];
        if (i < n - 1) { // the last positive's output feeds no later edge
            for (int j = 0; j < D; ++j)
                gk = fmaf(W[k * D + j], dzs[j], gk);
            const int64_t row = s.rowOfSlot[slot];
            atomicAdd(g.dB + row * D + k, dz);
            float* dW = g.dW + row * D * D;
            for (int j = 0; j < D; ++j)
                atomicAdd(dW + j * D + k, xs[j] * dz);
        }
        gx[k] = gk;
        __syncthreads();
        if (i == 0) {
            const int64_t st = b.start[bi];
            const float u = p.NB[st * D + k] + p.PE[k] + 1.0f / static_cast<float>(D);
            atomicAdd(g.dNB + st * D + k, gk * geluGrad(u));
        } else {
            float m = -INFINITY;
            for (int j = 0; j < i; ++j)
                m = fmaxf(m, p.Pos[j]);
            float sum = 0.f;
            for (int j = 0; j < i; ++j)
                sum += expf(p.Pos[j] - m);
            const float inv = 1.0f / sum;
            for (int j = 0; j < i; ++j)
                s.GYe[(static_cast<int64_t>(e0) + j) * D + k] += expf(p.Pos[j] - m) * inv * gk;
            for (int j = k; j < i; j += blockDim.x) {
                const float* y = s.Y + (static_cast<int64_t>(e0) + j) * D;
                float t = 0.f;
                for (int q = 0; q < D; ++q)
                    t = fmaf(gx[q], y[q], t);
                dA[j] = t;
            }
            __syncthreads();
            float dot = 0.f;
            for (int j = 0; j < i; ++j)
                dot = fmaf(expf(p.Pos[j] - m) * inv, dA[j], dot);
            for (int j = k; j < i; j += blockDim.x)
                atomicAdd(g.dP + j, expf(p.Pos[j] - m) * inv * (dA[j] - dot));
        }
        __syncthreads();
    }
}

// I: the index type (32-bit where the tensor allows, a 64-bit division per element costs more
// than the element's memory traffic).
template <class I>
__global__ void adamWKernel(float* __restrict__ p, float* __restrict__ m, float* __restrict__ v,
                            const float* __restrict__ g, const int64_t* __restrict__ slotOfRow,
                            const int64_t* __restrict__ gradRowOfSlot, I rows, I rowLen, AdamWScalars sc) {
    const I total = rows * rowLen;
    for (I t = static_cast<I>(blockIdx.x) * blockDim.x + threadIdx.x; t < total;
         t += static_cast<I>(gridDim.x) * blockDim.x) {
        const I r = t / rowLen, k = t - r * rowLen;
        int64_t at;
        float gi;
        if (slotOfRow) { // sparse: gradient row r updates slot slotOfRow[r]
            at = slotOfRow[r] * static_cast<int64_t>(rowLen) + k;
            gi = g[t] * sc.gradScale;
        } else { // dense: every slot, its gradient row or zero
            at = t;
            const int64_t gr = gradRowOfSlot[r];
            gi = gr >= 0 ? g[gr * static_cast<int64_t>(rowLen) + k] * sc.gradScale : 0.f;
        }
        const float mi = sc.b1 * m[at] + (1.f - sc.b1) * gi;
        const float vi = sc.b2 * v[at] + (1.f - sc.b2) * gi * gi;
        m[at] = mi;
        v[at] = vi;
        p[at] = p[at] * sc.decay - sc.stepSize * mi / (sqrtf(vi) * sc.invSqrtBc2 + sc.eps);
    }
}

#ifdef BRILLM_FUSED_EMULATE
using cudaStream_t = void*;
const char* lastError() {
    return nullptr;
}
#else
const char* lastError() {
    const cudaError_t err = cudaGetLastError();
    return err == cudaSuccess ? nullptr : cudaGetErrorString(err);
}
#endif

template <int D>
void launchCandidates(const Params& p, const Batch& b, const Scratch& s, const Grads& g, float invB, cudaStream_t st) {
    BRILLM_LAUNCH(candidateKernel<D>, b.E, kCandThreads, 0, st, p, b, s, g, invB);
}

} // namespace

bool supportsDim(int64_t D) {
    return D == 8 || D == 16 || D == 32 || D == 64;
}

const char* launchSlots(const Params& p, const Batch& b, const Scratch& s, void* stream) {
    if (b.E > 0) BRILLM_LAUNCH(slotKernel, b.E, 128, 0, static_cast<cudaStream_t>(stream), p, b, s);
    return lastError();
}

const char* launchStep(const Params& p, const Batch& b, const Scratch& s, const Grads& g, float invB, void* stream,
                       double* kernelMs) {
    if (!supportsDim(p.D)) return "the fused step supports d = 8, 16, 32 or 64";
    const auto st = static_cast<cudaStream_t>(stream);
    if (b.B == 0 || b.E == 0) return nullptr;
    // profiling: wait for each kernel and time it on the host
    auto last = std::chrono::steady_clock::now();
    const auto mark = [&](int k) -> const char* {
        if (!kernelMs) return nullptr;
#ifndef BRILLM_FUSED_EMULATE
        if (cudaStreamSynchronize(st) != cudaSuccess) return lastError();
#endif
        const auto now = std::chrono::steady_clock::now();
        kernelMs[k] = std::chrono::duration<double, std::milli>(now - last).count();
        last = now;
        return nullptr;
    };
    if (const char* err = mark(0)) return err;
    BRILLM_LAUNCH(chainForward, b.B, p.D, sizeof(float) * p.D, st, p, b, s);
    if (const char* err = lastError()) return err;
    if (const char* err = mark(0)) return err;
    switch (p.D) {
    case 8:
        launchCandidates<8>(p, b, s, g, invB, st);
        break;
    case 16:
        launchCandidates<16>(p, b, s, g, invB, st);
        break;
    case 32:
        launchCandidates<32>(p, b, s, g, invB, st);
        break;
    default:
        launchCandidates<64>(p, b, s, g, invB, st);
        break;
    }
    if (const char* err = lastError()) return err;
    if (const char* err = mark(1)) return err;
    const size_t shared = sizeof(float) * (3 * static_cast<size_t>(p.D) + static_cast<size_t>(b.maxEdges));
    BRILLM_LAUNCH(chainBackward, b.B, p.D, shared, st, p, b, s, g);
    if (const char* err = lastError()) return err;
    return mark(2);
}

const char* launchAdamW(float* p, float* m, float* v, const float* g, const int64_t* slotOfRow,
                        const int64_t* gradRowOfSlot, int64_t rows, int64_t rowLen, const AdamWScalars& s,
                        void* stream) {
    const int64_t total = rows * rowLen;
    if (total <= 0) return nullptr;
    const int threads = 256;
#ifdef BRILLM_FUSED_EMULATE
    const int64_t maxBlocks = 2;
#else
    const int64_t maxBlocks = int64_t{132} * 32;
#endif
    const int64_t blocks = std::min<int64_t>((total + threads - 1) / threads, maxBlocks);
    if (total < (int64_t{1} << 31) - int64_t{threads} * maxBlocks)
        BRILLM_LAUNCH(adamWKernel<uint32_t>, static_cast<unsigned>(blocks), threads, 0,
                      static_cast<cudaStream_t>(stream), p, m, v, g, slotOfRow, gradRowOfSlot,
                      static_cast<uint32_t>(rows), static_cast<uint32_t>(rowLen), s);
    else
        BRILLM_LAUNCH(adamWKernel<int64_t>, static_cast<unsigned>(blocks), threads, 0,
                      static_cast<cudaStream_t>(stream), p, m, v, g, slotOfRow, gradRowOfSlot, rows, rowLen, s);
    return lastError();
}

BRILLM_FUSED_NS_END
} // namespace brillm::training::fused
