// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Internal: the vector kernels of decoding, tracing, blame and the training loss, compiled for
// every x86 vector unit Highway knows (SCALAR, SSSE3, SSE4, AVX2, AVX3 = AVX-512) and chosen at
// run time for the CPU (brillm/model/vector_target.h picks or forces one).
//
// The maths of one edge (docs/model.md): z = x @ W + b + pe, y = GELU(z), energy = ||y||_2,
// with W [d, d] row-major (row vector times matrix) and the exact-erf GELU in the formula
// PyTorch's CPU kernels use (Abramowitz & Stegun 7.1.26 with a Cephes exp). The weights and
// biases are read as stored - float32, bfloat16 or float16 - and every product is accumulated
// in float32 (or all in float64 for a float64 model, the checking mode). Each edge's result is
// the same whether it is computed alone or with others (the per-edge operations and their
// order do not depend on the batch), so a decoder's scores and the step it then takes agree
// bit for bit; across targets results agree within float rounding.

#include <cstddef>
#include <cstdint>

namespace brillm::simd {

// How a model's edge parameters are stored. Float32 compute reads F32, BF16 and F16; float64
// compute reads F64.
enum class Storage : uint8_t { F32, BF16, F16, F64 };

size_t storageBytes(Storage s);

// The edges of one kernel call: `count` parameter slots, slot k = slots[k], or first + k when
// slots is null. W is the [N, d, d] weight tensor, B the [N, 1, d] bias tensor, both of `storage`.
struct EdgeSet {
    const void* weights = nullptr;
    const void* biases = nullptr;
    Storage storage = Storage::F32;
    const int64_t* slots = nullptr;
    int64_t first = 0;
    int64_t count = 0;
};

// For every edge k of `edges`: z_k = x @ W + b + pe, y_k = GELU(z_k), energies[k] = ||y_k||.
// z and y ([count, d], row k for edge k) may be null when not wanted.
void edgeForward(const float* x, const float* pe, int64_t d, const EdgeSet& edges, float* energies, float* z, float* y);
void edgeForward(const double* x, const double* pe, int64_t d, const EdgeSet& edges, double* energies, double* z,
                 double* y);

// Row stride (in elements) of the accumulator that linearBackward fills: d rows of this many
// lanes; zero it before the first call, reduce it with reduceRows.
inline constexpr int64_t kAccStride = 16;

// dy *= GELU'(z), elementwise over d entries (dy becomes dL/dz).
void geluBackward(const float* z, float* dy, int64_t d);
void geluBackward(const double* z, double* dy, int64_t d);

// The backward pass of z = x @ W + b for one edge, given dz: gw += x^T dz and gb += dz (either
// may be null), and W dz accumulated into acc ([d, kAccStride], see reduceRows). Float32 or
// float64 parameters only (training never runs on half precision).
void linearBackward(const float* x, const float* w, const float* dz, float* gw, float* gb, float* acc, int64_t d);
void linearBackward(const double* x, const double* w, const double* dz, double* gw, double* gb, double* acc, int64_t d);

// out[r] += sum of acc[r * kAccStride + 0 .. kAccStride), r < d. Target-independent.
void reduceRows(const float* acc, float* out, int64_t d);
void reduceRows(const double* acc, double* out, int64_t d);

// The sum over k < n of exp(v[k] - shift) in float64 (a log-sum-exp's terms; -inf gives 0, NaN
// stays NaN), with Highway's vector exp (within 1 ulp of libm's).
double sumExpShifted(const double* v, int64_t n, double shift);

// GELU elementwise, in place (n entries): the same function as the edge kernel's.
void geluInPlace(float* v, int64_t n);
void geluInPlace(double* v, int64_t n);

} // namespace brillm::simd
