// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// The reference decoder's approach in LibTorch ops (what the released BriLLM code does under
// no_grad): for every step gather all V candidates' matrices and biases, bmm, GELU, norm,
// argmax. The speed baseline of `brillm bench decode`, and a cross-check of its tokens.

#include "brillm/model/model.h"

#include <cstdint>
#include <vector>

namespace brillm::bench {

struct PlainDecode {
    double tokensPerSecond = 0;
    std::vector<int32_t> tokens; // start, then `steps` greedy tokens (self-loops excluded)
};

// Greedy decoding from `start` with the training PE convention, in the model's dtype (float32
// or float64), on LibTorch's intra-op threads.
PlainDecode plainLibTorchDecode(const Model& m, int32_t start, int64_t steps);

} // namespace brillm::bench
