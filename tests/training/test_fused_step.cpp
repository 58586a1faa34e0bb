// SPDX-License-Identifier: GPL-3.0-or-later
// The fused GPU step (training/src/cuda/fused_kernels.cu) checked on the CPU: its kernels run
// through their emulation (a std::thread per CUDA thread, training/src/cuda/fused_emulation.h)
// on a float32 model, against the core's hand-written sampledLoss in float64 on the same
// parameters; its AdamW kernel against the optimizer's tensor operations.
#include "../core/reference_model.h"
#include "brillm/error.h"
#include "brillm/model/loss.h"
#include "brillm/training/device_loss.h"
#include "brillm/training/optimizer.h"
#include "fused_step.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <random>

namespace brillm::training {
namespace {

Model withDtype(const Model& m, at::ScalarType t) {
    Model r = m;
    r.weights = m.weights.to(t, false, /*copy=*/true).contiguous();
    r.biases = m.biases.to(t, false, /*copy=*/true).contiguous();
    r.nodeBias = m.nodeBias.to(t, false, /*copy=*/true).contiguous();
    r.positions = m.positions.to(t, false, /*copy=*/true).contiguous();
    return r;
}

// Samples of lengths 2..2+2(n-1) tokens with 1..k negatives per edge.
std::vector<LossSample> randomBatch(int64_t V, int n, int k, uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::uniform_int_distribution<int32_t> node(0, static_cast<int32_t>(V) - 1);
    std::vector<LossSample> batch;
    for (int b = 0; b < n; ++b) {
        std::vector<int32_t> tokens;
        const int len = 2 + b * 2;
        for (int t = 0; t < len; ++t)
            tokens.push_back(node(rng));
        std::vector<std::vector<int32_t>> negatives(tokens.size() - 1);
        for (size_t i = 0; i + 1 < tokens.size(); ++i) {
            const int want = 1 + static_cast<int>((i * 7 + static_cast<size_t>(b)) % static_cast<size_t>(k));
            while (static_cast<int>(negatives[i].size()) < want) {
                const int32_t c = node(rng);
                if (c != tokens[i + 1] && std::find(negatives[i].begin(), negatives[i].end(), c) == negatives[i].end())
                    negatives[i].push_back(c);
            }
        }
        batch.push_back(LossSample::fromNegatives(tokens, negatives));
    }
    return batch;
}

double maxRelError(const at::Tensor& got, const at::Tensor& want) {
    const auto g = got.to(at::kDouble), w = want.to(at::kDouble);
    const double scale = std::max(1e-12, w.abs().max().item<double>());
    return (g - w).abs().max().item<double>() / scale;
}

void expectMatchesCore(const Model& m32, std::span<const LossSample> batch) {
    const Model m64 = withDtype(m32, at::kDouble);
    const auto core = sampledLoss(m64, batch, LossOptions{true, 1});
    DeviceLossWorkspace ws;
    ASSERT_TRUE(fusedStepApplies(m32));
    const auto fused = fusedSampledLoss(m32, batch, ws);
    EXPECT_NEAR(fused.loss, core.loss, 2e-6 * std::max(1.0, std::abs(core.loss)));
    ASSERT_EQ(fused.sampleLosses.size(), core.sampleLosses.size());
    for (size_t b = 0; b < core.sampleLosses.size(); ++b)
        EXPECT_NEAR(fused.sampleLosses[b], core.sampleLosses[b], 2e-5) << "sample " << b;
    EXPECT_EQ(fused.edges, core.edges);
    EXPECT_EQ(fused.candidateEdges, core.candidateEdges);
    ASSERT_EQ(fused.grad.slots, core.grad.slots);
    EXPECT_LT(maxRelError(fused.grad.weights, core.grad.weights), 1e-4);
    EXPECT_LT(maxRelError(fused.grad.biases, core.grad.biases), 1e-4);
    EXPECT_LT(maxRelError(fused.grad.nodeBias, core.grad.nodeBias), 1e-4);
    EXPECT_LT(maxRelError(fused.grad.positions, core.grad.positions), 1e-4);
}

TEST(FusedStep, EmulatedKernelsMatchTheCoreLossD16) {
    const auto m = brillm::testing::randomModel(40, 16, 0.3, 7, at::kFloat, 32);
    expectMatchesCore(m, randomBatch(40, 5, 9, 11));
}

TEST(FusedStep, EmulatedKernelsMatchTheCoreLossD32AndD8) {
    const auto m32 = brillm::testing::randomModel(30, 32, 0.5, 3, at::kFloat, 32);
    expectMatchesCore(m32, randomBatch(30, 4, 12, 5));
    const auto m8 = brillm::testing::randomModel(20, 8, 0.2, 4, at::kFloat, 32);
    expectMatchesCore(m8, randomBatch(20, 4, 6, 6));
}

TEST(FusedStep, EmulatedKernelsMatchTheExactWeightedLoss) {
    const auto m = brillm::testing::randomModel(24, 16, 0.25, 9, at::kFloat, 32);
    std::mt19937_64 rng(2);
    std::uniform_int_distribution<int32_t> node(0, 23);
    std::vector<LossSample> batch;
    for (int b = 0; b < 3; ++b) {
        std::vector<int32_t> tokens;
        for (int t = 0; t < 3 + 2 * b; ++t)
            tokens.push_back(node(rng));
        batch.push_back(LossSample::exactCandidates(tokens, m.edges));
    }
    ASSERT_FALSE(batch[0].weights.empty());
    expectMatchesCore(m, batch);
}

TEST(FusedStep, RejectsIdsOutsideTheVocabulary) {
    const auto m = brillm::testing::randomModel(12, 8, 0.3, 1, at::kFloat, 32);
    auto batch = randomBatch(12, 2, 3, 1);
    batch[1].candidates.back() = 12;
    DeviceLossWorkspace ws;
    EXPECT_THROW(fusedSampledLoss(m, batch, ws), InputError);
    batch = randomBatch(12, 2, 3, 1);
    batch[0].tokens[0] = -1;
    EXPECT_THROW(fusedSampledLoss(m, batch, ws), InputError);
}

// Two steps of the fused AdamW kernel (sparse and dense) against the optimizer's tensor ops.
TEST(FusedStep, EmulatedAdamWMatchesTheTensorOps) {
    for (const auto kind : {OptimizerKind::SparseAdamW, OptimizerKind::AdamW}) {
        const auto base = brillm::testing::randomModel(16, 8, 0.3, 5, at::kFloat, 32);
        Model ref = withDtype(base, at::kFloat), fused = withDtype(base, at::kFloat);
        AdamWSettings st;
        st.kind = kind;
        st.weightDecay = 0.01;
        st.tensorOps = true;
        AdamW opt(ref, st);
        at::Tensor wM = at::zeros_like(fused.weights), wV = at::zeros_like(fused.weights);
        at::Tensor bM = at::zeros_like(fused.biases), bV = at::zeros_like(fused.biases);
        const double lr = 1e-2, gradScale = 0.5;
        for (int step = 1; step <= 2; ++step) {
            DeviceLossWorkspace ws;
            const auto r = fusedSampledLoss(fused, randomBatch(16, 3, 5, 20 + static_cast<uint64_t>(step)), ws);
            opt.step(ref, r.grad, lr, gradScale);
            const double bc1 = 1 - std::pow(st.beta1, step), bc2 = 1 - std::pow(st.beta2, step);
            ASSERT_TRUE(fusedEdgeAdamW(fused, r.grad, kind == OptimizerKind::SparseAdamW, wM, wV, bM, bV, st.beta1,
                                       st.beta2, st.eps, 1 - lr * st.weightDecay, lr / bc1, 1 / std::sqrt(bc2),
                                       gradScale));
            EXPECT_TRUE(at::allclose(fused.weights, ref.weights, 1e-5, 1e-6)) << toString(kind) << " step " << step;
            EXPECT_TRUE(at::allclose(fused.biases, ref.biases, 1e-5, 1e-6)) << toString(kind) << " step " << step;
            // the dense tensors are the optimizer's own: keep the models equal there
            fused.nodeBias.copy_(ref.nodeBias);
            fused.positions.copy_(ref.positions);
        }
    }
}

} // namespace
} // namespace brillm::training
