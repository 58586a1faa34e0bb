// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// AdamW on a BriLLM model with sparse edge-slot gradients.
//
// Dense AdamW (OptimizerKind::AdamW) has the reference's semantics, torch.optim.AdamW's maths:
// every parameter is updated every step, an untouched edge slot with a zero gradient too (its
// moments decay and it keeps moving along its momentum).
// Sparse AdamW (OptimizerKind::SparseAdamW) updates only the slots the batch touched, like
// torch.optim.SparseAdam with decoupled weight decay: an untouched slot's moments are frozen
// until it is touched again, and it does not move. It reads and writes only the touched rows,
// so its step costs O(touched) instead of O(all parameters). The dense tensors (node_bias,
// positions) get the dense update under both.
//
// Sgd and Adagrad (OptimizerKind::Sgd, ::Adagrad) update the touched slots only as well: sgd is
// p -= lr * g (and decoupled weight decay on the touched rows); adagrad keeps one accumulator per
// edge slot, a_s += mean(g_s^2) over the slot's d*d + d entries, and per entry for node_bias and
// positions, and steps p -= lr * g / (sqrt(a) + eps). Their steps are proportional to the
// gradient, so a rarely touched slot whose prediction is already right barely moves (AdamW's
// first update of a slot is about lr per entry whatever its gradient).
//
// Not thread-safe; step() uses `threads` worker threads internally.

#include "brillm/model/loss.h"
#include "brillm/model/model.h"
#include "brillm/training/train_config.h"

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>

namespace brillm::training {

struct AdamWSettings {
    OptimizerKind kind = OptimizerKind::AdamW;
    double beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weightDecay = 0.0;
    int threads = 0; // 0: all cores
    // Update with ATen operations instead of the CPU loops; always so for parameters on a GPU.
    bool tensorOps = false;
};

class AdamW {
public:
    // Moments start at zero, shaped like the model's tensors.
    AdamW(const Model& model, AdamWSettings settings);

    // One update of `model` in place with learning rate lr; grad scaled by gradScale first (clipping).
    void step(Model& model, const SparseGradients& grad, double lr, double gradScale = 1.0);

    int64_t steps() const { return m_step; }
    void setSteps(int64_t s) { m_step = s; }
    const AdamWSettings& settings() const { return m_settings; }

    // Moments by name: "weights.m", "weights.v", "biases.m", ... (for checkpoints), on the model's
    // device: the tensors themselves, not copies.
    std::vector<std::pair<std::string, at::Tensor>> state() const;
    // Throws InputError when a tensor is missing or has the wrong shape.
    void loadState(const std::vector<std::pair<std::string, at::Tensor>>& state, int64_t steps);

private:
    AdamWSettings m_settings;
    int64_t m_step = 0;
    at::Tensor m_wM, m_wV, m_bM, m_bV, m_nM, m_nV, m_pM, m_pV;
};

// The global L2 norm of the gradients (edge slots, node biases, positions), in double.
double gradientNorm(const SparseGradients& grad);
// True when every gradient entry is finite.
bool gradientsFinite(const SparseGradients& grad);

// The learning rate of a step (0-based) under the config's schedule.
double learningRate(const TrainConfig& config, int64_t step);

} // namespace brillm::training
