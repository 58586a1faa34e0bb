// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// The training step the reference's way, with LibTorch autograd: gather the candidates'
// matrices, bmm, GELU, norm, cross-entropy, backward into dense gradients of the whole table,
// AdamW with tensor ops. The baseline of `brillm bench train`.

#include "baselines/synthetic.h"
#include "brillm/model/model.h"

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

namespace brillm::bench {

class PlainTrainer {
public:
    // Copies the model's parameters (float32).
    explicit PlainTrainer(const Model& model);
    // One step on the batch; returns the loss before the update.
    double step(const TrainBatch& batch, int64_t d, double lr);

private:
    at::Tensor w, b, nb, pos, pe;
    std::vector<at::Tensor> m, v;
    int64_t t = 0;
};

} // namespace brillm::bench
