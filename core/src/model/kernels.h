// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Internal: what propagation, decoding, blame and the loss share. The edge kernels themselves
// are the vector kernels of simd/edge_kernels.h (runtime dispatch over the CPU's vector units);
// the scalar GELU below is the same maths one value at a time, for the few places that need a
// single value (the initial signal, the chain rule through it in the loss, blame and the
// trainer's sharded loss).

#include "brillm/error.h"
#include "brillm/model/edge_table.h"
#include "brillm/model/signal.h"
#include "simd/edge_kernels.h"

#include <ATen/core/Tensor.h>
#include <c10/util/BFloat16.h>
#include <c10/util/Half.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

namespace brillm::detail {

// exp for arguments <= 0 (Cephes polynomial, ~1 ulp), written without calls or branches so
// that the compiler vectorises the loops that use it.
inline float expNonPositive(float x) {
    x = x < -87.0f ? -87.0f : x;
    const float n = static_cast<float>(static_cast<int32_t>(x * 1.44269504088896341f - 0.5f));
    float r = x - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    const float y = p * r * r + r + 1.0f;
    const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
    float scale;
    std::memcpy(&scale, &bits, sizeof scale);
    return y * scale;
}

// erf for float32 with the formula PyTorch's vectorised CPU kernels use (Abramowitz & Stegun
// 7.1.26, |error| < 1.5e-7): the reference's GELU on a CPU computes exactly this.
inline float erfFloat(float x) {
    const float a = x < 0 ? -x : x;
    const float t = 1.0f / (0.3275911f * a + 1.0f);
    float r = 1.061405429f * t + -1.453152027f;
    r = r * t + 1.421413741f;
    r = r * t + -0.284496736f;
    r = r * t + 0.254829592f;
    const float e = 1.0f - r * t * expNonPositive(-x * x);
    return x < 0 ? -e : e;
}

inline float geluT(float z) {
    return 0.5f * z * (1.0f + erfFloat(z * static_cast<float>(M_SQRT1_2)));
}
inline double geluT(double z) {
    return 0.5 * z * (1.0 + std::erf(z * M_SQRT1_2));
}

// d GELU / dz = Phi(z) + z * phi(z)
inline float geluGrad(float z) {
    const float cdf = 0.5f * (1.0f + erfFloat(z * static_cast<float>(M_SQRT1_2)));
    const float pdf = expNonPositive(-0.5f * z * z) * 0.3989422804014327f; // 1/sqrt(2 pi)
    return cdf + z * pdf;
}
inline double geluGrad(double z) {
    const double cdf = 0.5 * (1.0 + std::erf(z * M_SQRT1_2));
    const double pdf = std::exp(-0.5 * z * z) * 0.3989422804014327;
    return cdf + z * pdf;
}

// The PE table in T, computed once per (rows, dim) in float64 and rounded.
template <class T> std::shared_ptr<const std::vector<T>> peTable(int64_t rows, int64_t dim) {
    static std::mutex mutex;
    static std::map<std::pair<int64_t, int64_t>, std::shared_ptr<const std::vector<T>>> cache;
    std::lock_guard lock(mutex);
    auto& slot = cache[{rows, dim}];
    if (!slot) {
        const auto d = positionalEncoding(rows, dim);
        slot = std::make_shared<const std::vector<T>>(d.begin(), d.end());
    }
    return slot;
}

// The storage of a model tensor as the vector kernels name it.
inline simd::Storage storageOf(const at::Tensor& t) {
    switch (t.scalar_type()) {
    case at::kFloat:
        return simd::Storage::F32;
    case at::kBFloat16:
        return simd::Storage::BF16;
    case at::kHalf:
        return simd::Storage::F16;
    case at::kDouble:
        return simd::Storage::F64;
    default:
        break;
    }
    throw ShapeError("model tensors must be float32, float64, float16 or bfloat16");
}

// Entries [offset, offset + n) of a model tensor (any of the four storages), converted to T
// (exactly: every float16 and bfloat16 value is a float32 value).
template <class T> void readRange(const at::Tensor& t, int64_t offset, int64_t n, T* out) {
    const auto copy = [&](const auto* p) {
        for (int64_t k = 0; k < n; ++k)
            out[k] = static_cast<T>(static_cast<float>(p[offset + k]));
    };
    switch (t.scalar_type()) {
    case at::kFloat: {
        const float* p = t.data_ptr<float>() + offset;
        for (int64_t k = 0; k < n; ++k)
            out[k] = static_cast<T>(p[k]);
        return;
    }
    case at::kDouble: {
        const double* p = t.data_ptr<double>() + offset;
        for (int64_t k = 0; k < n; ++k)
            out[k] = static_cast<T>(p[k]);
        return;
    }
    case at::kBFloat16:
        return copy(t.data_ptr<at::BFloat16>());
    case at::kHalf:
        return copy(t.data_ptr<at::Half>());
    default:
        break;
    }
    throw ShapeError("model tensors must be float32, float64, float16 or bfloat16");
}
template <class T> std::vector<T> readRange(const at::Tensor& t, int64_t offset, int64_t n) {
    std::vector<T> v(static_cast<size_t>(n));
    readRange<T>(t, offset, n, v.data());
    return v;
}

// The edge parameters of a model for the vector kernels: slots [first, first + count), or the
// slots listed.
inline simd::EdgeSet edgeSet(const Model& m, int64_t first, int64_t count, const int64_t* slots = nullptr) {
    return {m.weights.data_ptr(), m.biases.data_ptr(), storageOf(m.weights), slots, first, count};
}

// The candidates of one edge (source -> candidates[0..C), the positive first) grouped into rows:
// each own candidate a row of its own, every candidate on the shared slot one row (they have
// the same output, computed once). slots[u] is row u's slot; negWeight[u] (zeroed by the
// caller) gets the summed weight of the negatives in row u; the positive is row posRow with
// weight posWeight. Weights null: each candidate counts once. Returns the number of rows.
template <class T>
int64_t groupCandidates(const EdgeTable& edges, int32_t source, const int32_t* candidates, const float* weights,
                        int64_t C, int64_t* slots, T* negWeight, int64_t& posRow, T& posWeight) {
    int64_t rows = 0, shared = -1;
    posRow = 0;
    posWeight = 1;
    for (int64_t k = 0; k < C; ++k) {
        const int64_t slot = edges.slot(source, candidates[k]);
        int64_t u;
        if (slot == EdgeTable::kSharedSlot && shared >= 0) {
            u = shared;
        } else {
            u = rows++;
            if (slot == EdgeTable::kSharedSlot) shared = u;
            slots[u] = slot;
        }
        const T w = weights ? static_cast<T>(weights[k]) : T(1);
        if (k == 0) {
            posRow = u;
            posWeight = w;
        } else {
            negWeight[u] += w;
        }
    }
    return rows;
}

} // namespace brillm::detail
