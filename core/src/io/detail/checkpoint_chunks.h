// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Streams a tensor's elements, converted to a target dtype on the CPU, in chunks of a few MB:
// the writers of model files and torch.save files never hold a second full copy of a model.
// A non-contiguous tensor is made contiguous once first.

#include <ATen/ATen.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>

namespace brillm::detail {

constexpr int64_t kChunkElements = int64_t{1} << 22;

template <class Sink> void forEachChunk(const at::Tensor& tensor, at::ScalarType target, Sink&& sink) {
    const at::Tensor flat = tensor.reshape({-1});
    const int64_t n = flat.numel();
    for (int64_t b = 0; b < n; b += kChunkElements) {
        at::Tensor part = flat.slice(0, b, std::min(n, b + kChunkElements));
        if (part.scalar_type() != target || !part.device().is_cpu() || !part.is_contiguous())
            part = part.to(at::kCPU, target).contiguous();
        sink(static_cast<const void*>(part.data_ptr()), static_cast<size_t>(part.nbytes()));
    }
}

} // namespace brillm::detail
