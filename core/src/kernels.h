// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Internal: the inner loops shared by propagation, decoding and the loss. Templated on the
// model's scalar type (float, or double for checking).

#include "brillm/signal.h"

#include <cmath>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

namespace brillm::detail {

inline float geluT(float z) { return 0.5f * z * (1.0f + std::erf(z * static_cast<float>(M_SQRT1_2))); }
inline double geluT(double z) { return 0.5 * z * (1.0 + std::erf(z * M_SQRT1_2)); }

// d GELU / dz = Phi(z) + z * phi(z)
template <class T> inline T geluGrad(T z) {
    const T cdf = T(0.5) * (T(1) + std::erf(z * static_cast<T>(M_SQRT1_2)));
    const T pdf = std::exp(T(-0.5) * z * z) * static_cast<T>(0.3989422804014327); // 1/sqrt(2 pi)
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

// z = x @ W + b + pe (row vector times [d, d] matrix), written to z.
template <class T>
inline void edgeAffine(const T* __restrict x, const T* __restrict w, const T* __restrict b, const T* __restrict pe,
                       T* __restrict z, int64_t d) {
    for (int64_t j = 0; j < d; ++j) z[j] = 0;
    for (int64_t k = 0; k < d; ++k) {
        const T xk = x[k];
        const T* __restrict row = w + k * d;
        for (int64_t j = 0; j < d; ++j) z[j] += xk * row[j];
    }
    for (int64_t j = 0; j < d; ++j) z[j] = z[j] + b[j] + pe[j];
}

// y = GELU(x @ W + b + pe); returns ||y||_2 (accumulated in T, as torch does).
template <class T>
inline T edgeKernel(const T* __restrict x, const T* __restrict w, const T* __restrict b, const T* __restrict pe,
                    T* __restrict y, int64_t d) {
    edgeAffine(x, w, b, pe, y, d);
    T sq = 0;
    for (int64_t j = 0; j < d; ++j) {
        const T v = geluT(y[j]);
        y[j] = v;
        sq += v * v;
    }
    return std::sqrt(sq);
}

} // namespace brillm::detail
