// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// The training loss of BriLLM, forward and backward, computed directly on the sparse edge
// table (no gathered copies of the candidates' matrices, no dense gradient of the table).
//
// For a sample t0..tn and edge i (t_i -> t_{i+1}) with candidates c = [t_{i+1}, negatives...]:
//   energy_c = || GELU(x_i @ W[slot(t_i, c)] + b[slot] + PE[i + 1]) ||
//   loss_i   = cross-entropy(energies, label 0) = logsumexp(energies) - energy_0
// A candidate may stand for several targets with the same energy (weights: every target that
// shares the slot 0 edge of a source has one energy): then
//   loss_i   = log(sum_c w_c exp(energy_c)) - energy_0
// which is the exact loss over all V targets when the candidates are the source's own targets
// plus one shared target weighted by the number of targets on the shared slot (exactCandidates).
// x_i mixes the positives' outputs only (the reference's cache). The sample loss is the mean
// over its edges; the batch loss the mean over samples (the reference's value when all
// samples have the same number of edges).

#include "brillm/model/model.h"

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

namespace brillm {

struct LossSample {
    std::vector<int32_t> tokens;     // t0..tn: n edges
    std::vector<int32_t> candidates; // edge i's candidates: [offsets[i], offsets[i+1]), positive first
    std::vector<int64_t> offsets;    // n + 1 entries
    std::vector<float> weights;      // empty: each candidate counts once; else one per candidate, > 0:
                                     // how many targets of the same energy it stands for

    // Builds a sample from a path and each edge's negatives (negatives[i] for edge i).
    static LossSample fromNegatives(std::vector<int32_t> tokens, const std::vector<std::vector<int32_t>>& negatives);
    // The exact loss over all V targets: each edge's candidates are its target and the source's
    // other own targets, and a target on the shared slot weighted by how many targets share it
    // (the target itself when it is shared, else another one). At most ownCount(source) + 1
    // candidates per edge, not V.
    static LossSample exactCandidates(std::vector<int32_t> tokens, const EdgeTable& edges);
    int64_t numEdges() const { return static_cast<int64_t>(tokens.size()) - 1; }
};

// Gradients of the batch loss. Edge-slot gradients are sparse: only the touched slots.
struct SparseGradients {
    std::vector<int64_t> slots; // touched slots, ascending
    at::Tensor weights;         // [slots.size(), d, d]
    at::Tensor biases;          // [slots.size(), 1, d]
    at::Tensor nodeBias;        // [V, 1, d], zero for untouched nodes
    at::Tensor positions;       // [1, P, 1]
};

struct LossOptions {
    bool computeGradients = true;
    int threads = 0; // 0: hardware concurrency; results do not depend on it beyond float rounding
};

struct LossResult {
    double loss = 0;                  // mean over samples of the mean over their edges
    std::vector<double> sampleLosses; // per sample
    int64_t edges = 0;                // edges in the batch
    int64_t candidateEdges = 0;       // edge evaluations (positives + negatives)
    SparseGradients grad;             // empty unless computeGradients
};

// Scratch memory reused across sampledLoss calls (per-thread gradient rows, forward caches,
// the output gradient tensors), so that a training loop does not allocate and fault in
// hundreds of MB every step. A result's gradients computed with a workspace stay valid until
// the next call with the same workspace. Not thread-safe: one workspace per training loop.
class LossWorkspace {
public:
    LossWorkspace();
    ~LossWorkspace();
    LossWorkspace(const LossWorkspace&) = delete;
    LossWorkspace& operator=(const LossWorkspace&) = delete;
    struct Impl;
    Impl& impl() { return *m_impl; }

private:
    std::unique_ptr<Impl> m_impl;
};

// Throws InputError for an empty batch, samples without edges, malformed offsets, unknown ids,
// a negative equal to its positive target, or gradients asked of a half-precision model
// (bfloat16/float16 parameters are read for the loss alone, computed in float32; training
// keeps float32 or float64 parameters).
LossResult sampledLoss(const Model& model, std::span<const LossSample> batch, const LossOptions& options = {},
                       LossWorkspace* workspace = nullptr);

// The exact loss of a path over all V candidates (every target, self-loop included, as in
// training), with the training PE convention.
struct ExactLoss {
    double loss = 0;                // mean over edges of logsumexp(all energies) - energy(target)
    double perplexity = 0;          // exp(loss)
    std::vector<double> edgeLosses; // per edge
};
ExactLoss exactLoss(const Model& model, std::span<const int32_t> tokens);

} // namespace brillm
