// SPDX-License-Identifier: GPL-3.0-or-later
#include "brillm/training/optimizer.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

using namespace brillm;
using namespace brillm::training;

namespace {

Model smallModel(at::ScalarType dtype) {
    const std::vector<std::pair<int32_t, int32_t>> pairs{{0, 1}, {1, 2}, {2, 0}, {2, 3}};
    return Model::randomInit({4, 4, 8}, EdgeTable::fromPairs(4, pairs), 3, dtype);
}

SparseGradients someGradients(const Model& m, std::vector<int64_t> slots, uint64_t seed) {
    auto gen = at::detail::createCPUGenerator(seed);
    SparseGradients g;
    const auto opts = m.weights.options();
    g.slots = std::move(slots);
    const auto T = static_cast<int64_t>(g.slots.size());
    g.weights = at::randn({T, 4, 4}, gen, opts);
    g.biases = at::randn({T, 1, 4}, gen, opts);
    g.nodeBias = at::randn({4, 1, 4}, gen, opts);
    g.positions = at::randn({1, 8, 1}, gen, opts);
    return g;
}

// torch.optim.AdamW's update written out with tensor ops, on dense gradients.
struct ReferenceAdamW {
    std::vector<at::Tensor> m, v;
    int64_t t = 0;
    void step(std::vector<at::Tensor> params, std::vector<at::Tensor> grads, double lr, double wd) {
        if (m.empty())
            for (auto& p : params)
                m.push_back(at::zeros_like(p)), v.push_back(at::zeros_like(p));
        ++t;
        const double bc1 = 1 - std::pow(0.9, t), bc2 = 1 - std::pow(0.999, t);
        for (size_t k = 0; k < params.size(); ++k) {
            params[k].mul_(1 - lr * wd);
            m[k].mul_(0.9).add_(grads[k], 0.1);
            v[k].mul_(0.999).addcmul_(grads[k], grads[k], 0.001);
            params[k].addcdiv_(m[k], (v[k].sqrt() / std::sqrt(bc2)).add_(1e-8), -lr / bc1);
        }
    }
};

at::Tensor denseOf(const Model& m, const SparseGradients& g, bool biases) {
    auto out = at::zeros_like(biases ? m.biases : m.weights);
    for (size_t r = 0; r < g.slots.size(); ++r)
        out[static_cast<int64_t>(g.slots[r])].copy_((biases ? g.biases : g.weights)[static_cast<int64_t>(r)]);
    return out;
}

} // namespace

TEST(AdamW, DenseMatchesTorchAdamWOnEveryParameter) {
    auto ours = smallModel(at::kDouble);
    auto ref = ours.clone();
    AdamWSettings s;
    s.weightDecay = 0.01;
    AdamW opt(ours, s);
    ReferenceAdamW r;
    for (int step = 0; step < 4; ++step) {
        // step 2 touches nothing but slot 0: untouched slots still move with their momentum
        const auto g = someGradients(ours, step == 2 ? std::vector<int64_t>{0} : std::vector<int64_t>{0, 2, 4}, step);
        opt.step(ours, g, 0.05);
        r.step({ref.weights, ref.biases, ref.nodeBias, ref.positions},
               {denseOf(ref, g, false), denseOf(ref, g, true), g.nodeBias, g.positions}, 0.05, 0.01);
    }
    EXPECT_TRUE(at::allclose(ours.weights, ref.weights, 1e-12, 1e-14));
    EXPECT_TRUE(at::allclose(ours.biases, ref.biases, 1e-12, 1e-14));
    EXPECT_TRUE(at::allclose(ours.nodeBias, ref.nodeBias, 1e-12, 1e-14));
    EXPECT_TRUE(at::allclose(ours.positions, ref.positions, 1e-12, 1e-14));
    // float32 follows float64 within float precision: the same model and gradients in both
    // precisions, three steps (the moments carry over), compared parameter by parameter
    auto f = smallModel(at::kFloat);
    auto d = f.clone();
    d.weights = f.weights.to(at::kDouble);
    d.biases = f.biases.to(at::kDouble);
    d.nodeBias = f.nodeBias.to(at::kDouble);
    d.positions = f.positions.to(at::kDouble);
    AdamW fo(f, s), dop(d, s);
    const auto start = f.weights.clone();
    for (int step = 0; step < 3; ++step) {
        const auto g = someGradients(d, {1, 3}, 9 + step);
        const SparseGradients gf{g.slots, g.weights.to(at::kFloat), g.biases.to(at::kFloat), g.nodeBias.to(at::kFloat),
                                 g.positions.to(at::kFloat)};
        fo.step(f, gf, 0.05);
        dop.step(d, g, 0.05);
    }
    EXPECT_FALSE(at::equal(start, f.weights)); // it moved, so the comparison below means something
    EXPECT_TRUE(at::allclose(f.weights.to(at::kDouble), d.weights, 1e-5, 1e-6));
    EXPECT_TRUE(at::allclose(f.biases.to(at::kDouble), d.biases, 1e-5, 1e-6));
    EXPECT_TRUE(at::allclose(f.nodeBias.to(at::kDouble), d.nodeBias, 1e-5, 1e-6));
    EXPECT_TRUE(at::allclose(f.positions.to(at::kDouble), d.positions, 1e-5, 1e-6));
    EXPECT_GT((f.weights.to(at::kDouble) - start.to(at::kDouble)).abs().max().item<double>(), 1e-3);
}

TEST(AdamW, SparseTouchesOnlyTheBatchSlots) {
    auto m = smallModel(at::kFloat);
    AdamWSettings s;
    s.kind = OptimizerKind::SparseAdamW;
    AdamW opt(m, s);
    const auto before = m.weights.clone();
    opt.step(m, someGradients(m, {1, 3}, 1), 0.05);
    for (int64_t slot = 0; slot < m.weights.size(0); ++slot) {
        const bool touched = slot == 1 || slot == 3;
        EXPECT_EQ(!at::equal(before[slot], m.weights[slot]), touched) << "slot " << slot;
    }
    // a second step without slot 1: it stays where it is (dense AdamW would move it)
    const auto after1 = m.weights[1].clone();
    opt.step(m, someGradients(m, {3}, 2), 0.05);
    EXPECT_TRUE(at::equal(after1, m.weights[1]));
}

TEST(AdamW, GradientNormAndSchedule) {
    auto m = smallModel(at::kDouble);
    const auto g = someGradients(m, {0, 2}, 4);
    const double want = std::sqrt(g.weights.pow(2).sum().item<double>() + g.biases.pow(2).sum().item<double>() +
                                  g.nodeBias.pow(2).sum().item<double>() + g.positions.pow(2).sum().item<double>());
    EXPECT_NEAR(gradientNorm(g), want, 1e-12);
    EXPECT_TRUE(gradientsFinite(g));
    auto bad = g;
    bad.positions = g.positions.clone();
    bad.positions[0][3][0] = std::numeric_limits<double>::quiet_NaN();
    EXPECT_FALSE(gradientsFinite(bad));

    TrainConfig c;
    c.lr = 0.1;
    c.steps = 110;
    c.warmupSteps = 10;
    c.schedule = LrSchedule::WarmupCosine;
    c.minLrFraction = 0.1;
    EXPECT_NEAR(learningRate(c, 0), 0.01, 1e-12);
    EXPECT_NEAR(learningRate(c, 9), 0.1, 1e-12);
    EXPECT_NEAR(learningRate(c, 10), 0.1, 1e-12);
    EXPECT_NEAR(learningRate(c, 60), 0.01 + 0.09 * 0.5, 1e-12);
    EXPECT_NEAR(learningRate(c, 110), 0.01, 1e-12);
}
