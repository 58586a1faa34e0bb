// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Test-only: an independent BriLLM implementation written the way the Python reference is
// (ATen tensor ops: gather the candidates' matrices, matmul, GELU, norm, softmax), used to
// check the core's hand-written kernels. Works in any dtype; the tests use float64.

#include "brillm/model/model.h"

#include <ATen/ATen.h>

#include <random>
#include <vector>

namespace brillm::testing {

// The reference's get_positional_encoding, with ATen ops.
inline at::Tensor referencePe(int64_t rows, int64_t d, at::ScalarType dtype) {
    const auto opts = at::TensorOptions().dtype(at::kDouble);
    const auto position = at::arange(0, rows, opts).reshape({-1, 1});
    const auto divTerm = at::pow(10000.0, at::arange(0, d, 2, opts) / static_cast<double>(d));
    auto pe = at::zeros({rows, d}, opts);
    pe.index_put_({at::indexing::Slice(), at::indexing::Slice(0, at::indexing::None, 2)}, at::sin(position * divTerm));
    pe.index_put_({at::indexing::Slice(), at::indexing::Slice(1, at::indexing::None, 2)}, at::cos(position * divTerm));
    return pe.to(dtype);
}

inline at::Tensor slotsOf(const Model& m, int64_t source, const std::vector<int64_t>& targets) {
    std::vector<int64_t> slots;
    for (int64_t t : targets)
        slots.push_back(m.edges.slot(source, t));
    return at::tensor(slots, at::kLong);
}

struct ReferencePath {
    at::Tensor energies;             // [n, V] energy of every target at every edge
    std::vector<at::Tensor> outputs; // y_i of the taken edges [d]
};

// Energies of all V targets at each edge of the path; peOffset 1 = training, 0 = reference decode.
inline ReferencePath referenceEnergies(const Model& m, const std::vector<int32_t>& tokens, int64_t peOffset) {
    const int64_t d = m.dim(), V = m.vocabSize();
    const auto pe = referencePe(m.config.maxPositions, d, m.dtype());
    auto s = at::gelu(at::ones({d}, m.weights.options()) / static_cast<double>(d) + m.nodeBias[tokens[0]][0] + pe[0]);
    std::vector<int64_t> all(static_cast<size_t>(V));
    for (int64_t v = 0; v < V; ++v)
        all[static_cast<size_t>(v)] = v;
    ReferencePath out;
    std::vector<at::Tensor> rows;
    for (size_t i = 0; i + 1 < tokens.size(); ++i) {
        at::Tensor x = s;
        if (i > 0) {
            const auto a = m.positions.index({0, at::indexing::Slice(0, static_cast<int64_t>(i)), 0}).softmax(0);
            x = (at::stack(out.outputs) * a.unsqueeze(1)).sum(0);
        }
        const auto slots = slotsOf(m, tokens[i], all);
        const auto W = m.weights.index_select(0, slots);           // [V, d, d]
        const auto b = m.biases.index_select(0, slots).squeeze(1); // [V, d]
        const auto y = at::gelu(at::matmul(x.unsqueeze(0).unsqueeze(0).expand({V, 1, d}), W).squeeze(1) + b +
                                pe[static_cast<int64_t>(i) + peOffset]);
        rows.push_back(y.norm(2, {1}));
        out.outputs.push_back(y[tokens[i + 1]]);
    }
    out.energies = at::stack(rows);
    return out;
}

// The reference's training loss with autograd: returns the loss tensor (scalar).
inline at::Tensor referenceLoss(const Model& m, const std::vector<std::vector<int32_t>>& tokens,
                                const std::vector<std::vector<std::vector<int32_t>>>& negatives) {
    const int64_t d = m.dim();
    const auto pe = referencePe(m.config.maxPositions, d, m.dtype());
    at::Tensor total = at::zeros({}, m.weights.options());
    for (size_t b = 0; b < tokens.size(); ++b) {
        const auto& t = tokens[b];
        auto s = at::gelu(at::ones({d}, m.weights.options()) / static_cast<double>(d) + m.nodeBias[t[0]][0] + pe[0]);
        std::vector<at::Tensor> cache;
        at::Tensor sampleLoss = at::zeros({}, m.weights.options());
        const auto n = static_cast<int64_t>(t.size()) - 1;
        for (int64_t i = 0; i < n; ++i) {
            at::Tensor x = s;
            if (i > 0) {
                const auto a = m.positions.index({0, at::indexing::Slice(0, i), 0}).softmax(0);
                x = (at::stack(cache) * a.unsqueeze(1)).sum(0);
            }
            std::vector<int64_t> cand{t[static_cast<size_t>(i) + 1]};
            for (int32_t v : negatives[b][static_cast<size_t>(i)])
                cand.push_back(v);
            const auto slots = slotsOf(m, t[static_cast<size_t>(i)], cand);
            const auto W = m.weights.index_select(0, slots);
            const auto bias = m.biases.index_select(0, slots).squeeze(1);
            const auto C = static_cast<int64_t>(cand.size());
            const auto y = at::gelu(at::bmm(x.reshape({1, 1, d}).expand({C, 1, d}), W).squeeze(1) + bias + pe[i + 1]);
            const auto e = y.norm(2, {1});
            sampleLoss = sampleLoss + (at::logsumexp(e, 0) - e[0]);
            cache.push_back(y[0]);
        }
        total = total + sampleLoss / static_cast<double>(n);
    }
    return total / static_cast<double>(tokens.size());
}

// A random sparse model for tests: each pair owns a slot with probability ownFraction.
inline Model randomModel(int64_t V, int64_t d, double ownFraction, uint64_t seed, at::ScalarType dtype,
                         int64_t maxPositions = 512) {
    std::mt19937_64 rng(seed);
    std::vector<std::pair<int32_t, int32_t>> pairs;
    std::uniform_real_distribution<double> u(0, 1);
    for (int32_t s = 0; s < V; ++s)
        for (int32_t t = 0; t < V; ++t)
            if (u(rng) < ownFraction) pairs.emplace_back(s, t);
    auto m = Model::randomInit({V, d, maxPositions}, EdgeTable::fromPairs(V, pairs), seed, dtype);
    // non-trivial mixing weights
    m.positions.copy_(at::randn({1, maxPositions, 1}, at::detail::createCPUGenerator(seed + 1), m.weights.options()));
    return m;
}

} // namespace brillm::testing
