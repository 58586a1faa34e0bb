// SPDX-License-Identifier: GPL-3.0-or-later
#include "baselines/plain_decode.h"

#include "brillm/model/signal.h"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>

#include <chrono>
#include <limits>

namespace brillm::bench {

PlainDecode plainLibTorchDecode(const Model& m, int32_t start, int64_t steps) {
    using Clock = std::chrono::steady_clock;
    const int64_t V = m.vocabSize(), d = m.dim();
    const auto peVec = positionalEncoding(m.config.maxPositions, d);
    const auto pe = at::tensor(peVec, at::kDouble).reshape({m.config.maxPositions, d}).to(m.dtype());
    c10::NoGradGuard noGrad;
    auto s = at::gelu(at::full({d}, 1.0 / static_cast<double>(d), m.weights.options()) + m.nodeBias[start][0] + pe[0]);
    std::vector<at::Tensor> cache;
    std::vector<int64_t> slots(static_cast<size_t>(V));
    int32_t cur = start;
    PlainDecode r;
    r.tokens.push_back(start);
    const auto t0 = Clock::now();
    for (int64_t i = 0; i < steps; ++i) {
        at::Tensor x = s;
        if (i > 0) {
            const auto a = m.positions.index({0, at::indexing::Slice(0, i), 0}).softmax(0);
            x = (at::stack(cache) * a.unsqueeze(1)).sum(0);
        }
        std::fill(slots.begin(), slots.end(), 0);
        const auto own = m.edges.ownTargets(cur);
        for (size_t k = 0; k < own.size(); ++k)
            slots[static_cast<size_t>(own[k])] = m.edges.firstSlot(cur) + static_cast<int64_t>(k);
        const auto idx = at::from_blob(slots.data(), {V}, at::kLong);
        const auto W = m.weights.index_select(0, idx);
        const auto b = m.biases.index_select(0, idx);
        const auto y = at::gelu(at::bmm(x.reshape({1, 1, d}).expand({V, 1, d}), W) + b + pe[i + 1]).squeeze(1);
        auto e = y.norm(2, {1});
        e[cur] = -std::numeric_limits<double>::infinity(); // self-loop excluded
        const auto next = static_cast<int32_t>(e.argmax().item<int64_t>());
        cache.push_back(y[next]);
        cur = next;
        r.tokens.push_back(next);
    }
    r.tokensPerSecond = static_cast<double>(steps) / std::chrono::duration<double>(Clock::now() - t0).count();
    return r;
}

} // namespace brillm::bench
