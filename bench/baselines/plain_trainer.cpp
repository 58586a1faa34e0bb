// SPDX-License-Identifier: GPL-3.0-or-later
#include "baselines/plain_trainer.h"

#include "brillm/model/signal.h"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>

#include <cmath>

namespace brillm::bench {

PlainTrainer::PlainTrainer(const Model& model) {
    w = model.weights.clone().requires_grad_(true);
    b = model.biases.clone().requires_grad_(true);
    nb = model.nodeBias.clone().requires_grad_(true);
    pos = model.positions.clone().requires_grad_(true);
    const auto peVec = positionalEncoding(model.config.maxPositions, model.dim());
    pe = at::tensor(peVec, at::kDouble).reshape({model.config.maxPositions, model.dim()}).to(at::kFloat);
    for (const auto& p : {w, b, nb, pos}) {
        m.push_back(at::zeros_like(p));
        v.push_back(at::zeros_like(p));
    }
}

double PlainTrainer::step(const TrainBatch& batch, int64_t d, double lr) {
    at::Tensor total = at::zeros({});
    for (size_t s = 0; s < batch.samples.size(); ++s) {
        const auto& smp = batch.samples[s];
        auto sig = at::gelu(at::full({d}, 1.0 / static_cast<double>(d)) + nb[smp.tokens[0]][0] + pe[0]);
        std::vector<at::Tensor> cache;
        at::Tensor loss = at::zeros({});
        size_t c0 = 0;
        for (int64_t i = 0; i < smp.numEdges(); ++i) {
            at::Tensor x = sig;
            if (i > 0)
                x = (at::stack(cache) * pos.index({0, at::indexing::Slice(0, i), 0}).softmax(0).unsqueeze(1)).sum(0);
            const int64_t C = smp.offsets[static_cast<size_t>(i) + 1] - smp.offsets[static_cast<size_t>(i)];
            const auto idx =
                at::tensor(std::vector<int64_t>(batch.slots[s].begin() + static_cast<std::ptrdiff_t>(c0),
                                                batch.slots[s].begin() + static_cast<std::ptrdiff_t>(c0) + C),
                           at::kLong);
            c0 += static_cast<size_t>(C);
            const auto y = at::gelu(at::bmm(x.reshape({1, 1, d}).expand({C, 1, d}), w.index_select(0, idx)).squeeze(1) +
                                    b.index_select(0, idx).squeeze(1) + pe[i + 1]);
            const auto e = y.norm(2, {1});
            loss = loss + (at::logsumexp(e, 0) - e[0]);
            cache.push_back(y[0]);
        }
        total = total + loss / static_cast<double>(smp.numEdges());
    }
    total = total / static_cast<double>(batch.samples.size());
    total.backward();
    ++t;
    c10::NoGradGuard ng;
    const double bc1 = 1 - std::pow(0.9, static_cast<double>(t)), bc2 = 1 - std::pow(0.999, static_cast<double>(t));
    std::vector<at::Tensor> params{w, b, nb, pos};
    for (size_t k = 0; k < params.size(); ++k) {
        auto g = params[k].grad();
        m[k].mul_(0.9).add_(g, 0.1);
        v[k].mul_(0.999).addcmul_(g, g, 0.001);
        params[k].addcdiv_(m[k], v[k].sqrt().div_(std::sqrt(bc2)).add_(1e-8), -lr / bc1);
        g.zero_();
    }
    return total.item<double>();
}

} // namespace brillm::bench
