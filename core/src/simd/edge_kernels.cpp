// SPDX-License-Identifier: GPL-3.0-or-later
// The kernels of simd/edge_kernels.h, written once with Google Highway and compiled for every
// target: foreach_target.h includes this file again for each one (the code between
// HWY_BEFORE_NAMESPACE and HWY_AFTER_NAMESPACE), the dispatch tables and the public functions
// are compiled once (HWY_ONCE).
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "simd/edge_kernels.cpp"
#include <hwy/foreach_target.h> // IWYU pragma: keep

#include <hwy/contrib/math/math-inl.h>
#include <hwy/highway.h>

#include "simd/edge_kernels.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>

HWY_BEFORE_NAMESPACE();
namespace brillm::simd {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// ---- loads of stored parameters as compute vectors (float32 from f32/bf16/f16; f64) --------

template <class D> HWY_INLINE hn::Vec<D> LoadAs(D d, const hn::TFromD<D>* p) {
    return hn::LoadU(d, p);
}
template <class D> HWY_INLINE hn::Vec<D> LoadAs(D d, const hwy::bfloat16_t* p) {
    return hn::PromoteTo(d, hn::LoadU(hn::Rebind<hwy::bfloat16_t, D>(), p));
}
template <class D> HWY_INLINE hn::Vec<D> LoadAs(D d, const hwy::float16_t* p) {
    return hn::PromoteTo(d, hn::LoadU(hn::Rebind<hwy::float16_t, D>(), p));
}

// ---- elementwise maths: the same operations in every lane, so a value does not depend on the
// vector width it was computed in ---------------------------------------------------------------

// exp for x <= 0 (Cephes polynomial, ~1 ulp); the scalar version is detail::expNonPositive.
template <class D> HWY_INLINE hn::Vec<D> ExpNonPositive(D d, hn::Vec<D> x) {
    const hn::RebindToSigned<D> di;
    x = hn::Max(hn::Set(d, -87.0f), x); // NaN stays NaN on x86 (maxps returns the second operand)
    const auto ni = hn::ConvertTo(di, hn::Sub(hn::Mul(x, hn::Set(d, 1.44269504088896341f)), hn::Set(d, 0.5f)));
    const auto n = hn::ConvertTo(d, ni); // truncated towards zero, as the scalar cast
    auto r = hn::NegMulAdd(n, hn::Set(d, 0.693359375f), x);
    r = hn::NegMulAdd(n, hn::Set(d, -2.12194440e-4f), r);
    auto p = hn::Set(d, 1.9875691500e-4f);
    p = hn::MulAdd(p, r, hn::Set(d, 1.3981999507e-3f));
    p = hn::MulAdd(p, r, hn::Set(d, 8.3334519073e-3f));
    p = hn::MulAdd(p, r, hn::Set(d, 4.1665795894e-2f));
    p = hn::MulAdd(p, r, hn::Set(d, 1.6666665459e-1f));
    p = hn::MulAdd(p, r, hn::Set(d, 5.0000001201e-1f));
    const auto y = hn::MulAdd(hn::Mul(p, r), r, hn::Add(r, hn::Set(d, 1.0f)));
    const auto scale = hn::BitCast(d, hn::ShiftLeft<23>(hn::Add(ni, hn::Set(di, 127))));
    return hn::Mul(y, scale);
}

// erf with the formula of PyTorch's vectorised CPU kernels (Abramowitz & Stegun 7.1.26).
template <class D> HWY_INLINE hn::Vec<D> ErfF32(D d, hn::Vec<D> x) {
    const auto one = hn::Set(d, 1.0f);
    const auto t = hn::Div(one, hn::MulAdd(hn::Set(d, 0.3275911f), hn::Abs(x), one));
    auto r = hn::MulAdd(hn::Set(d, 1.061405429f), t, hn::Set(d, -1.453152027f));
    r = hn::MulAdd(r, t, hn::Set(d, 1.421413741f));
    r = hn::MulAdd(r, t, hn::Set(d, -0.284496736f));
    r = hn::MulAdd(r, t, hn::Set(d, 0.254829592f));
    const auto e = hn::NegMulAdd(hn::Mul(r, t), ExpNonPositive(d, hn::Neg(hn::Mul(x, x))), one);
    return hn::CopySignToAbs(e, x);
}

template <class D> HWY_INLINE hn::Vec<D> Gelu(D d, hn::Vec<D> z) {
    using T = hn::TFromD<D>;
    if constexpr (sizeof(T) == 4) {
        const auto half = hn::Set(d, 0.5f);
        return hn::Mul(hn::Mul(half, z),
                       hn::Add(hn::Set(d, 1.0f), ErfF32(d, hn::Mul(z, hn::Set(d, 0.70710678118654752f)))));
    } else { // float64, the checking mode: libm's erf, lane by lane
        HWY_ALIGN T buf[hn::MaxLanes(D())];
        hn::Store(z, d, buf);
        for (size_t i = 0; i < hn::Lanes(d); ++i)
            buf[i] = 0.5 * buf[i] * (1.0 + std::erf(buf[i] * M_SQRT1_2));
        return hn::Load(d, buf);
    }
}

// d GELU / dz = Phi(z) + z phi(z)
template <class D> HWY_INLINE hn::Vec<D> GeluGrad(D d, hn::Vec<D> z) {
    using T = hn::TFromD<D>;
    if constexpr (sizeof(T) == 4) {
        const auto cdf = hn::Mul(hn::Set(d, 0.5f),
                                 hn::Add(hn::Set(d, 1.0f), ErfF32(d, hn::Mul(z, hn::Set(d, 0.70710678118654752f)))));
        const auto pdf =
            hn::Mul(ExpNonPositive(d, hn::Mul(hn::Set(d, -0.5f), hn::Mul(z, z))), hn::Set(d, 0.3989422804014327f));
        return hn::MulAdd(z, pdf, cdf);
    } else {
        HWY_ALIGN T buf[hn::MaxLanes(D())];
        hn::Store(z, d, buf);
        for (size_t i = 0; i < hn::Lanes(d); ++i) {
            const double v = buf[i];
            buf[i] = 0.5 * (1.0 + std::erf(v * M_SQRT1_2)) + v * (std::exp(-0.5 * v * v) * 0.3989422804014327);
        }
        return hn::Load(d, buf);
    }
}

// ---- choosing the vector width for a dimension ---------------------------------------------

// Calls fn(tag, fixed) with the widest tag whose lane count N divides dim such that
// dim / N is 1, 2, 4 or 8 (fixed = true: the unrolled kernels), else with the widest tag whose
// lane count divides dim (fixed = false). dim is even, so two lanes always divide it.
inline bool unrollable(size_t dim, size_t n) {
    if (dim % n) return false;
    const size_t nb = dim / n;
    return nb == 1 || nb == 2 || nb == 4 || nb == 8;
}

template <class T, class Fn> HWY_INLINE void WithTag(size_t dim, const Fn& fn) {
    const hn::ScalableTag<T> d0;
    constexpr size_t kMax = hn::MaxLanes(hn::ScalableTag<T>());
    if (unrollable(dim, hn::Lanes(d0))) return fn(d0, true);
    if (dim % hn::Lanes(d0) == 0) return fn(d0, false);
    if constexpr (kMax > 8) {
        if (dim % 8 == 0) return fn(hn::CappedTag<T, 8>(), false);
    }
    if constexpr (kMax > 4) {
        if (dim % 4 == 0) return fn(hn::CappedTag<T, 4>(), false);
    }
    if constexpr (kMax > 2) {
        if (dim % 2 == 0) return fn(hn::CappedTag<T, 2>(), false);
    }
    if constexpr (kMax > 1) return fn(hn::CappedTag<T, 1>(), false);
    fn(d0, false); // one lane (HWY_SCALAR)
}

// Elementwise over n entries: full vectors, then one lane at a time.
template <class T, class Op> HWY_INLINE void Elementwise(size_t n, const Op& op) {
    const hn::ScalableTag<T> d;
    const size_t N = hn::Lanes(d);
    size_t i = 0;
    for (; i + N <= n; i += N)
        op(d, i);
    const hn::CappedTag<T, 1> d1;
    for (; i < n; ++i)
        op(d1, i);
}

// ---- the forward kernel -----------------------------------------------------------------------

template <class S> struct EdgePointers {
    const S* W;
    const S* B;
    const int64_t* slots;
    int64_t first, dim;
    int64_t slot(int64_t k) const { return slots ? slots[k] : first + k; }
    const S* w(int64_t k) const { return W + slot(k) * dim * dim; }
    const S* b(int64_t k) const { return B + slot(k) * dim; }
};

// z = acc + (b + pe), y = GELU(z), sq += y^2 for one column block; stores z and y if wanted.
template <class D, class S, class V = hn::Vec<D>>
HWY_INLINE V Finish(D d, V acc, const S* b, const hn::TFromD<D>* pe, hn::TFromD<D>* z, hn::TFromD<D>* y, V sq) {
    const V zz = hn::Add(acc, hn::Add(LoadAs(d, b), hn::LoadU(d, pe)));
    const V yy = Gelu(d, zz);
    if (z) hn::StoreU(zz, d, z);
    if (y) hn::StoreU(yy, d, y);
    return hn::MulAdd(yy, yy, sq);
}

// How many groups ahead the matrices are prefetched, into L2 (prefetcht2): measured on AMD Zen 4
// with 32 x 32 matrices, into L2 beats into L1 by 30-50 % (bfloat16 the most), and 1 to 3 groups
// ahead are alike.
constexpr int64_t kPrefetchGroups = 2;
HWY_INLINE void PrefetchL2(const char* p) {
    __builtin_prefetch(p, 0, 1);
}

// G edges with dim = NB * N: rows of the matrices in order (k outer), G * NB accumulators in
// registers, the matrices kPrefetchGroups groups ahead prefetched row by row meanwhile.
template <size_t NB, size_t G, class D, class S>
HWY_INLINE void ForwardUnrolled(D d, const hn::TFromD<D>* HWY_RESTRICT x, const hn::TFromD<D>* HWY_RESTRICT pe,
                                size_t dimRuntime, const S* const* w, const S* const* b, const S* const* next,
                                hn::TFromD<D>* e, hn::TFromD<D>* z, hn::TFromD<D>* y) {
    using V = hn::Vec<D>;
    // the dimension as a constant where vectors have a fixed size (x86, NEON): the row loop,
    // its offsets and the prefetches then unroll
    constexpr size_t kDim = HWY_HAVE_SCALABLE ? 0 : NB * hn::MaxLanes(D());
    const size_t dim = kDim ? kDim : dimRuntime;
    const size_t N = dim / NB;
    constexpr size_t kRowBytes = kDim * sizeof(S);
    const S* HWY_RESTRICT wg[G];
    const char* nx[G];
    for (size_t g = 0; g < G; ++g) {
        wg[g] = w[g];
        nx[g] = reinterpret_cast<const char*>(next[g]);
    }
    V acc[G][NB];
    for (size_t g = 0; g < G; ++g)
        for (size_t c = 0; c < NB; ++c)
            acc[g][c] = hn::Zero(d);
    for (size_t k = 0; k < dim; ++k) {
        const V xk = hn::Set(d, x[k]);
        const size_t off = k * dim;
        for (size_t g = 0; g < G; ++g)
            for (size_t c = 0; c < NB; ++c)
                acc[g][c] = hn::MulAdd(xk, LoadAs(d, wg[g] + off + c * N), acc[g][c]);
        if constexpr (kRowBytes > 0) {
            for (size_t g = 0; g < G; ++g)
                for (size_t o = 0; o < kRowBytes; o += 64)
                    PrefetchL2(nx[g] + off * sizeof(S) + o);
        }
    }
    for (size_t g = 0; g < G; ++g) {
        V sq = hn::Zero(d);
        for (size_t c = 0; c < NB; ++c)
            sq = Finish(d, acc[g][c], b[g] + c * N, pe + c * N, z ? z + g * dim + c * N : nullptr,
                        y ? y + g * dim + c * N : nullptr, sq);
        e[g] = std::sqrt(hn::GetLane(hn::SumOfLanes(d, sq)));
    }
}

// Any dim that N divides: one column block at a time (k inner), G edges side by side.
template <size_t G, class D, class S>
HWY_INLINE void ForwardBlocks(D d, const hn::TFromD<D>* x, const hn::TFromD<D>* pe, size_t dim, const S* const* w,
                              const S* const* b, hn::TFromD<D>* e, hn::TFromD<D>* z, hn::TFromD<D>* y) {
    using V = hn::Vec<D>;
    const size_t N = hn::Lanes(d);
    V sq[G];
    for (size_t g = 0; g < G; ++g)
        sq[g] = hn::Zero(d);
    for (size_t c = 0; c < dim; c += N) {
        V acc[G];
        for (size_t g = 0; g < G; ++g)
            acc[g] = hn::Zero(d);
        for (size_t k = 0; k < dim; ++k) {
            const V xk = hn::Set(d, x[k]);
            for (size_t g = 0; g < G; ++g)
                acc[g] = hn::MulAdd(xk, LoadAs(d, w[g] + k * dim + c), acc[g]);
        }
        for (size_t g = 0; g < G; ++g)
            sq[g] = Finish(d, acc[g], b[g] + c, pe + c, z ? z + g * dim + c : nullptr, y ? y + g * dim + c : nullptr,
                           sq[g]);
    }
    for (size_t g = 0; g < G; ++g)
        e[g] = std::sqrt(hn::GetLane(hn::SumOfLanes(d, sq[g])));
}

template <size_t NB, size_t G, class D, class S>
HWY_INLINE void RunUnrolled(D d, const hn::TFromD<D>* x, const hn::TFromD<D>* pe, size_t dim, const EdgePointers<S>& ep,
                            int64_t count, hn::TFromD<D>* e, hn::TFromD<D>* z, hn::TFromD<D>* y) {
    const auto row = [&](hn::TFromD<D>* p, int64_t k) { return p ? p + k * static_cast<int64_t>(dim) : nullptr; };
    int64_t k = 0;
    const S* w[G];
    const S* b[G];
    const S* next[G];
    for (; k + static_cast<int64_t>(G) <= count; k += G) {
        for (size_t g = 0; g < G; ++g) {
            w[g] = ep.w(k + static_cast<int64_t>(g));
            b[g] = ep.b(k + static_cast<int64_t>(g));
            next[g] = ep.w(
                std::min<int64_t>(k + kPrefetchGroups * static_cast<int64_t>(G) + static_cast<int64_t>(g), count - 1));
        }
        ForwardUnrolled<NB, G>(d, x, pe, dim, w, b, next, e + k, row(z, k), row(y, k));
    }
    for (; k < count; ++k) {
        w[0] = ep.w(k);
        b[0] = ep.b(k);
        next[0] = ep.w(std::min<int64_t>(k + kPrefetchGroups, count - 1));
        ForwardUnrolled<NB, 1>(d, x, pe, dim, w, b, next, e + k, row(z, k), row(y, k));
    }
}

template <class T, class S> void Forward(const T* x, const T* pe, int64_t dimS, const EdgeSet& es, T* e, T* z, T* y) {
    const auto dim = static_cast<size_t>(dimS);
    const EdgePointers<S> ep{static_cast<const S*>(es.weights), static_cast<const S*>(es.biases), es.slots, es.first,
                             dimS};
    const int64_t count = es.count;
    WithTag<T>(dim, [&](auto d, bool fixed) {
        if (fixed) {
            // edges side by side: 8 accumulators for float32 parameters; for half precision at
            // most two edges (two streams from memory read faster than four on Zen 4)
            constexpr bool kHalf = sizeof(S) == 2;
            constexpr size_t kG1 = kHalf ? 4 : 8, kG2 = kHalf ? 2 : 4;
            switch (dim / hn::Lanes(d)) {
            case 1:
                return RunUnrolled<1, kG1>(d, x, pe, dim, ep, count, e, z, y);
            case 2:
                return RunUnrolled<2, kG2>(d, x, pe, dim, ep, count, e, z, y);
            case 4:
                return RunUnrolled<4, 2>(d, x, pe, dim, ep, count, e, z, y);
            default:
                return RunUnrolled<8, 1>(d, x, pe, dim, ep, count, e, z, y);
            }
        }
        const auto row = [&](T* p, int64_t k) { return p ? p + k * dimS : nullptr; };
        constexpr size_t G = 4;
        const S* w[G];
        const S* b[G];
        int64_t k = 0;
        for (; k + static_cast<int64_t>(G) <= count; k += G) {
            for (size_t g = 0; g < G; ++g) {
                w[g] = ep.w(k + static_cast<int64_t>(g));
                b[g] = ep.b(k + static_cast<int64_t>(g));
            }
            ForwardBlocks<G>(d, x, pe, dim, w, b, e + k, row(z, k), row(y, k));
        }
        for (; k < count; ++k) {
            w[0] = ep.w(k);
            b[0] = ep.b(k);
            ForwardBlocks<1>(d, x, pe, dim, w, b, e + k, row(z, k), row(y, k));
        }
    });
}

void ForwardF32(const float* x, const float* pe, int64_t d, const EdgeSet& es, float* e, float* z, float* y) {
    Forward<float, float>(x, pe, d, es, e, z, y);
}
void ForwardBF16(const float* x, const float* pe, int64_t d, const EdgeSet& es, float* e, float* z, float* y) {
    Forward<float, hwy::bfloat16_t>(x, pe, d, es, e, z, y);
}
void ForwardF16(const float* x, const float* pe, int64_t d, const EdgeSet& es, float* e, float* z, float* y) {
    Forward<float, hwy::float16_t>(x, pe, d, es, e, z, y);
}
void ForwardF64(const double* x, const double* pe, int64_t d, const EdgeSet& es, double* e, double* z, double* y) {
    Forward<double, double>(x, pe, d, es, e, z, y);
}

// ---- backward ---------------------------------------------------------------------------------

template <class T> void GeluBackwardT(const T* z, T* dy, int64_t n) {
    Elementwise<T>(static_cast<size_t>(n), [&](auto d, size_t i) {
        hn::StoreU(hn::Mul(hn::LoadU(d, dy + i), GeluGrad(d, hn::LoadU(d, z + i))), d, dy + i);
    });
}
void GeluBackwardF32(const float* z, float* dy, int64_t n) {
    GeluBackwardT(z, dy, n);
}
void GeluBackwardF64(const double* z, double* dy, int64_t n) {
    GeluBackwardT(z, dy, n);
}

template <class T> void GeluInPlaceT(T* v, int64_t n) {
    Elementwise<T>(static_cast<size_t>(n),
                   [&](auto d, size_t i) { hn::StoreU(Gelu(d, hn::LoadU(d, v + i)), d, v + i); });
}
void GeluInPlaceF32(float* v, int64_t n) {
    GeluInPlaceT(v, n);
}
void GeluInPlaceF64(double* v, int64_t n) {
    GeluInPlaceT(v, n);
}

// gw += x^T dz, gb += dz, acc[a] += W[a, :] * dz (lane-wise; reduceRows sums the lanes).
template <class T> void LinearBackwardT(const T* x, const T* w, const T* dz, T* gw, T* gb, T* acc, int64_t dimS) {
    const auto dim = static_cast<size_t>(dimS);
    WithTag<T>(dim, [&](auto d, bool) {
        using V = hn::Vec<decltype(d)>;
        const size_t N = hn::Lanes(d);
        static_assert(hn::MaxLanes(decltype(d)()) <= static_cast<size_t>(kAccStride));
        if (gb)
            for (size_t c = 0; c < dim; c += N)
                hn::StoreU(hn::Add(hn::LoadU(d, gb + c), hn::LoadU(d, dz + c)), d, gb + c);
        for (size_t a = 0; a < dim; ++a) {
            const T* wr = w + a * dim;
            T* ar = acc + a * static_cast<size_t>(kAccStride);
            V s = hn::LoadU(d, ar);
            if (gw) {
                const V xa = hn::Set(d, x[a]);
                T* gr = gw + a * dim;
                for (size_t c = 0; c < dim; c += N) {
                    const V g = hn::LoadU(d, dz + c);
                    s = hn::MulAdd(hn::LoadU(d, wr + c), g, s);
                    hn::StoreU(hn::MulAdd(xa, g, hn::LoadU(d, gr + c)), d, gr + c);
                }
            } else {
                for (size_t c = 0; c < dim; c += N)
                    s = hn::MulAdd(hn::LoadU(d, wr + c), hn::LoadU(d, dz + c), s);
            }
            hn::StoreU(s, d, ar);
        }
    });
}
void LinearBackwardF32(const float* x, const float* w, const float* dz, float* gw, float* gb, float* acc, int64_t d) {
    LinearBackwardT(x, w, dz, gw, gb, acc, d);
}
void LinearBackwardF64(const double* x, const double* w, const double* dz, double* gw, double* gb, double* acc,
                       int64_t d) {
    LinearBackwardT(x, w, dz, gw, gb, acc, d);
}

double SumExpShifted(const double* v, int64_t nS, double shift) {
    const auto n = static_cast<size_t>(nS);
    const auto terms = [shift](auto d, auto x) {
        x = hn::Sub(x, hn::Set(d, shift));
        return hn::IfThenElse(hn::Eq(x, x), hn::Exp(d, x), x); // Exp gives 0 for NaN: keep the NaN
    };
    const hn::ScalableTag<double> d;
    const size_t N = hn::Lanes(d);
    auto acc = hn::Zero(d);
    size_t i = 0;
    for (; i + N <= n; i += N)
        acc = hn::Add(acc, terms(d, hn::LoadU(d, v + i)));
    double sum = hn::GetLane(hn::SumOfLanes(d, acc));
    const hn::CappedTag<double, 1> d1;
    for (; i < n; ++i)
        sum += hn::GetLane(terms(d1, hn::LoadU(d1, v + i)));
    return sum;
}

int64_t CurrentTarget() {
    return HWY_TARGET;
}

} // namespace HWY_NAMESPACE
} // namespace brillm::simd
HWY_AFTER_NAMESPACE();

#if HWY_ONCE

#include "brillm/error.h"
#include "brillm/model/vector_target.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <string>

namespace brillm::simd {

HWY_EXPORT(ForwardF32);
HWY_EXPORT(ForwardBF16);
HWY_EXPORT(ForwardF16);
HWY_EXPORT(ForwardF64);
HWY_EXPORT(GeluBackwardF32);
HWY_EXPORT(GeluBackwardF64);
HWY_EXPORT(GeluInPlaceF32);
HWY_EXPORT(GeluInPlaceF64);
HWY_EXPORT(LinearBackwardF32);
HWY_EXPORT(LinearBackwardF64);
HWY_EXPORT(SumExpShifted);
HWY_EXPORT(CurrentTarget);

namespace {

std::string upper(std::string s) {
    for (char& c : s)
        c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return s;
}

void chooseTarget(const std::string& name) {
    const std::string u = upper(name);
    const std::string want = u == "AVX512" || u == "AVX-512" ? "AVX3" : u;
    if (want.empty() || want == "BEST") {
        hwy::GetChosenTarget().Update(hwy::SupportedTargets());
        return;
    }
    const auto targets = hwy::SupportedAndGeneratedTargets();
    for (int64_t t : targets)
        if (want == hwy::TargetName(t)) {
            hwy::GetChosenTarget().Update(t);
            return;
        }
    std::string list;
    for (int64_t t : targets)
        list += std::string(list.empty() ? "" : ", ") + hwy::TargetName(t);
    throw InputError("vector target '" + name + "' is not one that this build and CPU support (" + list + ", or best)");
}

// BRILLM_VECTOR_TARGET, applied once before the first kernel call.
void ensureTarget() {
    static const bool applied = [] {
        const char* env = std::getenv("BRILLM_VECTOR_TARGET");
        if (env && *env) {
            try {
                chooseTarget(env);
            } catch (const InputError& e) {
                throw InputError(std::string("BRILLM_VECTOR_TARGET: ") + e.what());
            }
        }
        return true;
    }();
    (void)applied;
}

std::string activeTargetName() {
    ensureTarget();
    return hwy::TargetName(HWY_DYNAMIC_DISPATCH(CurrentTarget)());
}

} // namespace

size_t storageBytes(Storage s) {
    switch (s) {
    case Storage::F32:
        return 4;
    case Storage::BF16:
    case Storage::F16:
        return 2;
    case Storage::F64:
        return 8;
    }
    return 4;
}

void edgeForward(const float* x, const float* pe, int64_t d, const EdgeSet& edges, float* energies, float* z,
                 float* y) {
    ensureTarget();
    if (edges.count <= 0) return;
    switch (edges.storage) {
    case Storage::F32:
        return HWY_DYNAMIC_DISPATCH(ForwardF32)(x, pe, d, edges, energies, z, y);
    case Storage::BF16:
        return HWY_DYNAMIC_DISPATCH(ForwardBF16)(x, pe, d, edges, energies, z, y);
    case Storage::F16:
        return HWY_DYNAMIC_DISPATCH(ForwardF16)(x, pe, d, edges, energies, z, y);
    case Storage::F64:
        break;
    }
    throw InputError("internal error: float64 parameters need the float64 edge kernel");
}

void edgeForward(const double* x, const double* pe, int64_t d, const EdgeSet& edges, double* energies, double* z,
                 double* y) {
    ensureTarget();
    if (edges.count <= 0) return;
    if (edges.storage != Storage::F64)
        throw InputError("internal error: the float64 edge kernel reads float64 parameters");
    HWY_DYNAMIC_DISPATCH(ForwardF64)(x, pe, d, edges, energies, z, y);
}

void geluBackward(const float* z, float* dy, int64_t d) {
    ensureTarget();
    HWY_DYNAMIC_DISPATCH(GeluBackwardF32)(z, dy, d);
}
void geluBackward(const double* z, double* dy, int64_t d) {
    ensureTarget();
    HWY_DYNAMIC_DISPATCH(GeluBackwardF64)(z, dy, d);
}
void geluInPlace(float* v, int64_t n) {
    ensureTarget();
    HWY_DYNAMIC_DISPATCH(GeluInPlaceF32)(v, n);
}
void geluInPlace(double* v, int64_t n) {
    ensureTarget();
    HWY_DYNAMIC_DISPATCH(GeluInPlaceF64)(v, n);
}
void linearBackward(const float* x, const float* w, const float* dz, float* gw, float* gb, float* acc, int64_t d) {
    ensureTarget();
    HWY_DYNAMIC_DISPATCH(LinearBackwardF32)(x, w, dz, gw, gb, acc, d);
}
void linearBackward(const double* x, const double* w, const double* dz, double* gw, double* gb, double* acc,
                    int64_t d) {
    ensureTarget();
    HWY_DYNAMIC_DISPATCH(LinearBackwardF64)(x, w, dz, gw, gb, acc, d);
}

double sumExpShifted(const double* v, int64_t n, double shift) {
    ensureTarget();
    return n > 0 ? HWY_DYNAMIC_DISPATCH(SumExpShifted)(v, n, shift) : 0.0;
}

template <class T> static void reduceRowsT(const T* acc, T* out, int64_t d) {
    for (int64_t r = 0; r < d; ++r) {
        const T* a = acc + r * kAccStride;
        T s = 0;
        for (int64_t l = 0; l < kAccStride; ++l)
            s += a[l];
        out[r] += s;
    }
}
void reduceRows(const float* acc, float* out, int64_t d) {
    reduceRowsT(acc, out, d);
}
void reduceRows(const double* acc, double* out, int64_t d) {
    reduceRowsT(acc, out, d);
}

} // namespace brillm::simd

namespace brillm {

std::vector<std::string> vectorTargets() {
    std::vector<std::string> out;
    for (int64_t t : hwy::SupportedAndGeneratedTargets())
        out.emplace_back(hwy::TargetName(t));
    return out;
}

std::string activeVectorTarget() {
    return simd::activeTargetName();
}

void setVectorTarget(const std::string& name) {
    simd::ensureTarget(); // the environment first, so that this call has the last word
    simd::chooseTarget(name);
}

} // namespace brillm

#endif // HWY_ONCE
