// SPDX-License-Identifier: GPL-3.0-or-later
// The GPU training step's maths, checked on the CPU: the ATen/autograd loss against the core's
// hand-written sampledLoss (float64), and the ATen AdamW update against the CPU loops.
#include "../core/reference_model.h"
#include "brillm/error.h"
#include "brillm/model/loss.h"
#include "brillm/training/device_loss.h"
#include "brillm/training/optimizer.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <random>

namespace brillm::training {
namespace {

// The core tests' random sparse model, with a 32-entry position table.
Model randomModel(int64_t V, int64_t d, double own, uint64_t seed, at::ScalarType dtype) {
    return brillm::testing::randomModel(V, d, own, seed, dtype, 32);
}

// Samples of different lengths with different numbers of negatives per edge.
std::vector<LossSample> randomBatch(int64_t V, uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::uniform_int_distribution<int32_t> node(0, static_cast<int32_t>(V) - 1);
    std::vector<LossSample> batch;
    for (int b = 0; b < 5; ++b) {
        std::vector<int32_t> tokens;
        const int len = 2 + b * 2;
        for (int k = 0; k < len; ++k)
            tokens.push_back(node(rng));
        std::vector<std::vector<int32_t>> negatives(tokens.size() - 1);
        for (size_t i = 0; i + 1 < tokens.size(); ++i) {
            const int k = 1 + static_cast<int>((i + static_cast<size_t>(b)) % 5);
            while (static_cast<int>(negatives[i].size()) < k) {
                const int32_t c = node(rng);
                if (c != tokens[i + 1] && std::find(negatives[i].begin(), negatives[i].end(), c) == negatives[i].end())
                    negatives[i].push_back(c);
            }
        }
        batch.push_back(LossSample::fromNegatives(tokens, negatives));
    }
    return batch;
}

TEST(DeviceLoss, MatchesTheCoreLossAndGradientsInFloat64) {
    const auto m = randomModel(12, 4, 0.4, 3, at::kDouble);
    const auto batch = randomBatch(12, 5);
    const auto core = sampledLoss(m, batch, LossOptions{true, 1});
    const auto dev = deviceSampledLoss(m, batch);
    EXPECT_NEAR(dev.loss, core.loss, 1e-12);
    ASSERT_EQ(dev.sampleLosses.size(), core.sampleLosses.size());
    for (size_t b = 0; b < core.sampleLosses.size(); ++b)
        EXPECT_NEAR(dev.sampleLosses[b], core.sampleLosses[b], 1e-12);
    EXPECT_EQ(dev.edges, core.edges);
    // the same touched slots (the core may also list slot 0 only when a shared candidate occurs)
    ASSERT_EQ(dev.grad.slots, core.grad.slots);
    EXPECT_TRUE(at::allclose(dev.grad.weights, core.grad.weights, 1e-10, 1e-12));
    EXPECT_TRUE(at::allclose(dev.grad.biases, core.grad.biases, 1e-10, 1e-12));
    EXPECT_TRUE(at::allclose(dev.grad.nodeBias, core.grad.nodeBias, 1e-10, 1e-12));
    EXPECT_TRUE(at::allclose(dev.grad.positions, core.grad.positions, 1e-10, 1e-12));
    EXPECT_GT(dev.grad.weights.abs().sum().item<double>(), 0.0);
    // loss scaling leaves the gradients unchanged (they are divided back)
    const auto scaled = deviceSampledLoss(m, batch, {Precision::Float32, 1024.0});
    EXPECT_TRUE(at::allclose(scaled.grad.weights, dev.grad.weights, 1e-12, 1e-14));
}

TEST(DeviceLoss, TensorOpAdamWMatchesTheLoops) {
    for (const auto kind :
         {OptimizerKind::AdamW, OptimizerKind::SparseAdamW, OptimizerKind::Sgd, OptimizerKind::Adagrad}) {
        auto a = randomModel(10, 4, 0.5, 7, at::kDouble);
        auto b = a.clone();
        AdamWSettings sa;
        sa.kind = kind;
        sa.weightDecay = 0.01;
        sa.threads = 1;
        AdamWSettings sb = sa;
        sb.tensorOps = true;
        AdamW oa(a, sa), ob(b, sb);
        for (uint64_t step = 0; step < 4; ++step) {
            const auto batch = randomBatch(10, 11 + step);
            const auto ga = sampledLoss(a, batch, LossOptions{true, 1});
            oa.step(a, ga.grad, 0.05, 0.7);
            const auto gb = sampledLoss(b, batch, LossOptions{true, 1});
            ob.step(b, gb.grad, 0.05, 0.7);
        }
        EXPECT_TRUE(at::allclose(a.weights, b.weights, 1e-12, 1e-13)) << toString(kind);
        EXPECT_TRUE(at::allclose(a.biases, b.biases, 1e-12, 1e-13));
        EXPECT_TRUE(at::allclose(a.nodeBias, b.nodeBias, 1e-12, 1e-13));
        EXPECT_TRUE(at::allclose(a.positions, b.positions, 1e-12, 1e-13));
        EXPECT_FALSE(at::equal(a.weights, randomModel(10, 4, 0.5, 7, at::kDouble).weights)); // it moved
    }
}

TEST(DeviceLoss, RefusesWhatTheMachineCannotDo) {
    const auto m = randomModel(6, 4, 0.5, 1, at::kFloat);
    const auto batch = randomBatch(6, 2);
    EXPECT_THROW(deviceSampledLoss(m, batch, {Precision::BFloat16, 1.0}), InputError); // autocast needs CUDA
    EXPECT_THROW(deviceSampledLoss(m, {}, {}), InputError);
    EXPECT_THROW(parseTrainingDevice("tpu"), InputError);
    EXPECT_EQ(parseTrainingDevice("cpu"), at::Device(at::kCPU));
    if (!at::hasCUDA()) {
        EXPECT_THROW(parseTrainingDevice("cuda"), InputError);
    }
    EXPECT_EQ(precisionFromString("bf16"), Precision::BFloat16);
    EXPECT_THROW(precisionFromString("fp8"), InputError);
}

} // namespace
} // namespace brillm::training
