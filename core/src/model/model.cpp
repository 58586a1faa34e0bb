// SPDX-License-Identifier: GPL-3.0-or-later
#include "brillm/model/model.h"

#include "brillm/error.h"
#include "io/detail/shape_text.h"

#include <ATen/ATen.h>

#include <cstdint>
#include <sstream>

#ifdef __linux__
#include <sys/mman.h>
#endif

namespace brillm {

namespace {

// A large parameter tensor, allocated but not yet written, is asked to live on transparent huge
// pages (Linux, THP in "madvise" or "always" mode): decoding streams the edge matrices, and with
// 2 MB pages instead of 4 KB ones a core reads them about 20-40 % faster (fewer TLB misses,
// prefetches not stopped at every 4 KB; measured on the 2-core Zen 4 machine, see
// bench/results/decode.md). Memory the kernel cannot back with huge pages stays as it was.
at::Tensor emptyOnHugePages(at::IntArrayRef shape, at::ScalarType dtype) {
    at::Tensor t = at::empty(shape, at::TensorOptions().dtype(dtype));
#ifdef __linux__
    constexpr uintptr_t kHuge = uintptr_t{2} << 20;
    const auto begin = reinterpret_cast<uintptr_t>(t.data_ptr());
    const uintptr_t first = (begin + kHuge - 1) & ~(kHuge - 1), last = (begin + t.nbytes()) & ~(kHuge - 1);
    if (last > first) ::madvise(reinterpret_cast<void*>(first), last - first, MADV_HUGEPAGE);
#endif
    return t;
}

// A deep copy in dtype, on huge pages when large.
at::Tensor copyAs(const at::Tensor& t, at::ScalarType dtype) {
    at::Tensor out = emptyOnHugePages(t.sizes(), dtype);
    out.copy_(t);
    return out;
}

std::string shapeString(const at::Tensor& t) {
    if (!t.defined()) return "(undefined)";
    const auto sizes = t.sizes();
    return detail::shapeText({sizes.data(), sizes.size()});
}

void expectShape(const char* name, const at::Tensor& t, std::initializer_list<int64_t> shape) {
    const std::vector<int64_t> want(shape);
    if (!t.defined() || t.sizes().vec() != want) {
        throw ShapeError("model tensor '" + std::string(name) + "' has shape " + shapeString(t) + ", expected " +
                         detail::shapeText(want));
    }
}

} // namespace

Model Model::randomInit(const ModelConfig& config, EdgeTable edges, uint64_t seed, at::ScalarType dtype) {
    if (config.vocabSize != edges.vocabSize())
        throw ShapeError("model config has " + std::to_string(config.vocabSize) + " nodes but the edge table has " +
                         std::to_string(edges.vocabSize()));
    if (config.dim <= 0) throw ShapeError("model dimension d must be positive");
    if (config.maxPositions < 2) throw ShapeError("the position table needs at least 2 entries");
    at::Generator gen = at::detail::createCPUGenerator(seed);
    const auto opts = at::TensorOptions().dtype(dtype);
    const int64_t n = edges.numSlots(), d = config.dim;
    Model m;
    m.config = config;
    m.edges = std::move(edges);
    m.weights = emptyOnHugePages({n, d, d}, dtype).uniform_(-0.5, 0.5, gen);
    m.biases = at::empty({n, 1, d}, opts).uniform_(-0.5, 0.5, gen);
    m.nodeBias = at::empty({config.vocabSize, 1, d}, opts).uniform_(-0.5, 0.5, gen);
    m.positions = at::ones({1, config.maxPositions, 1}, opts);
    return m;
}

void Model::validate() const {
    if (config.vocabSize != edges.vocabSize())
        throw ShapeError("model config has " + std::to_string(config.vocabSize) + " nodes but the edge table has " +
                         std::to_string(edges.vocabSize()));
    const int64_t n = edges.numSlots(), d = config.dim, v = config.vocabSize;
    expectShape("weights", weights, {n, d, d});
    expectShape("biases", biases, {n, 1, d});
    expectShape("node_bias", nodeBias, {v, 1, d});
    expectShape("positions", positions, {1, config.maxPositions, 1});
    const auto dt = weights.scalar_type();
    if (dt != at::kFloat && dt != at::kDouble && dt != at::kBFloat16 && dt != at::kHalf)
        throw ShapeError("model tensors must be float32, float64, bfloat16 or float16 for the core's kernels");
    for (const at::Tensor* t : {&biases, &nodeBias, &positions})
        if (t->scalar_type() != dt) throw ShapeError("model tensors must all have the same dtype");
    for (const at::Tensor* t : {&weights, &biases, &nodeBias, &positions})
        if (!t->device().is_cpu() || !t->is_contiguous())
            throw ShapeError("model tensors must be contiguous and on the CPU for the core's kernels");
}

Model Model::toDtype(at::ScalarType dtype) const {
    Model m = *this;
    m.weights = weights.device().is_cpu() ? copyAs(weights, dtype)
                                          : weights.to(dtype, /*non_blocking=*/false, /*copy=*/true).contiguous();
    m.biases = biases.to(dtype, false, true).contiguous();
    m.nodeBias = nodeBias.to(dtype, false, true).contiguous();
    m.positions = positions.to(dtype, false, true).contiguous();
    return m;
}

Model Model::clone() const {
    return toDtype(dtype());
}

Model Model::toDevice(const at::Device& device) const {
    if (weights.device() == device) return *this;
    Model m = *this;
    m.weights = weights.to(device);
    m.biases = biases.to(device);
    m.nodeBias = nodeBias.to(device);
    m.positions = positions.to(device);
    return m;
}

} // namespace brillm
