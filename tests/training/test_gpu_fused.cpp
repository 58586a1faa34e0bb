// SPDX-License-Identifier: GPL-3.0-or-later
// The fused GPU training step (label gpu; skipped where LibTorch has no CUDA, the machine no GPU
// or the build no fused kernels): on a CUDA model, the loss and gradients against the core's
// hand-written loss in float64 on the CPU and against the ATen step on the same GPU; the fused
// AdamW (through AdamW::step on CUDA) against the CPU loops on the same gradients.
#include "brillm/model/loss.h"
#include "brillm/training/device_loss.h"
#include "brillm/training/optimizer.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <random>

namespace brillm::training {
namespace {

class GpuFused : public ::testing::Test {
protected:
    void SetUp() override {
        if (!at::hasCUDA()) GTEST_SKIP() << "no CUDA in this LibTorch build or no GPU on this machine";
        if (!fusedStepAvailable()) GTEST_SKIP() << "this build has no fused CUDA kernels (or BRILLM_GPU_FUSED=0)";
    }
};

Model sparseModel(int64_t V, int64_t E, int64_t d, uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::vector<std::pair<int32_t, int32_t>> pairs;
    std::vector<char> seen(static_cast<size_t>(V * V), 0);
    std::uniform_int_distribution<int64_t> pick(0, V * V - 1);
    while (static_cast<int64_t>(pairs.size()) < E) {
        const int64_t p = pick(rng);
        if (!seen[static_cast<size_t>(p)]++)
            pairs.emplace_back(static_cast<int32_t>(p / V), static_cast<int32_t>(p % V));
    }
    auto m = Model::randomInit({V, d, 512}, EdgeTable::fromPairs(V, pairs), seed);
    m.positions.copy_(at::randn({1, 512, 1}, at::detail::createCPUGenerator(seed + 1), m.weights.options()));
    return m;
}

// Samples of different lengths (len/2 .. len tokens), k distinct negatives per edge.
std::vector<LossSample> batchOf(const Model& m, int B, int len, int k, uint64_t seed) {
    std::mt19937_64 rng(seed);
    const auto V = static_cast<int32_t>(m.vocabSize());
    std::uniform_int_distribution<int32_t> node(0, V - 1);
    std::vector<LossSample> out;
    for (int b = 0; b < B; ++b) {
        std::vector<int32_t> t;
        const int n = len / 2 + (b * 7) % (len - len / 2 + 1);
        for (int i = 0; i < std::max(2, n); ++i)
            t.push_back(node(rng));
        std::vector<std::vector<int32_t>> neg(t.size() - 1);
        for (size_t i = 0; i + 1 < t.size(); ++i)
            while (static_cast<int>(neg[i].size()) < k) {
                const int32_t c = node(rng);
                if (c != t[i + 1] && std::find(neg[i].begin(), neg[i].end(), c) == neg[i].end()) neg[i].push_back(c);
            }
        out.push_back(LossSample::fromNegatives(t, neg));
    }
    return out;
}

Model toDouble(const Model& m) {
    Model r = m;
    r.weights = m.weights.to(at::kDouble);
    r.biases = m.biases.to(at::kDouble);
    r.nodeBias = m.nodeBias.to(at::kDouble);
    r.positions = m.positions.to(at::kDouble);
    return r;
}

double maxRelError(const at::Tensor& got, const at::Tensor& want) {
    const auto g = got.to(at::kCPU, at::kDouble), w = want.to(at::kCPU, at::kDouble);
    const double scale = std::max(1e-12, w.abs().max().item<double>());
    return (g - w).abs().max().item<double>() / scale;
}

void expectClose(const LossResult& got, const LossResult& want, double lossTol, double gradTol, const char* what) {
    EXPECT_NEAR(got.loss, want.loss, lossTol * std::max(1.0, std::abs(want.loss))) << what;
    ASSERT_EQ(got.sampleLosses.size(), want.sampleLosses.size()) << what;
    for (size_t b = 0; b < want.sampleLosses.size(); ++b)
        EXPECT_NEAR(got.sampleLosses[b], want.sampleLosses[b],
                    10 * lossTol * std::max(1.0, std::abs(want.sampleLosses[b])))
            << what << " sample " << b;
    ASSERT_EQ(got.grad.slots, want.grad.slots) << what;
    EXPECT_LT(maxRelError(got.grad.weights, want.grad.weights), gradTol) << what;
    EXPECT_LT(maxRelError(got.grad.biases, want.grad.biases), gradTol) << what;
    EXPECT_LT(maxRelError(got.grad.nodeBias, want.grad.nodeBias), gradTol) << what;
    EXPECT_LT(maxRelError(got.grad.positions, want.grad.positions), gradTol) << what;
}

TEST_F(GpuFused, StepMatchesTheCoreLossInFloat64AndTheAtenStep) {
    for (const int64_t d : {16, 32, 64}) {
        const auto cpu = sparseModel(300, 20000, d, 1);
        const auto gpu = cpu.toDevice(at::kCUDA);
        const auto batch = batchOf(cpu, 8, 16, 50, 2);
        const auto ref = sampledLoss(toDouble(cpu), batch, LossOptions{true, 0});
        DeviceLossWorkspace ws;
        const auto fused = deviceSampledLoss(gpu, batch, {Precision::Float32, 1.0, &ws, true});
        const auto aten = deviceSampledLoss(gpu, batch, {Precision::Float32, 1.0, &ws, false});
        const std::string what = "d = " + std::to_string(d);
        expectClose(fused, ref, 1e-5, 1e-4, (what + ", fused vs core float64").c_str());
        expectClose(fused, aten, 1e-5, 1e-3, (what + ", fused vs ATen").c_str());
        // every precision takes the fused float32 step
        const auto bf16 = deviceSampledLoss(gpu, batch, {Precision::BFloat16, 1.0, &ws, true});
        EXPECT_NEAR(bf16.loss, ref.loss, 1e-5 * std::abs(ref.loss)) << what;
    }
}

TEST_F(GpuFused, ExactWeightedLossMatchesTheCore) {
    const auto cpu = sparseModel(200, 6000, 32, 3);
    const auto gpu = cpu.toDevice(at::kCUDA);
    std::mt19937_64 rng(4);
    std::uniform_int_distribution<int32_t> node(0, 199);
    std::vector<LossSample> batch;
    for (int b = 0; b < 6; ++b) {
        std::vector<int32_t> t;
        for (int i = 0; i < 5 + 3 * b; ++i)
            t.push_back(node(rng));
        batch.push_back(LossSample::exactCandidates(t, cpu.edges));
    }
    const auto ref = sampledLoss(toDouble(cpu), batch, LossOptions{true, 0});
    const auto fused = deviceSampledLoss(gpu, batch);
    expectClose(fused, ref, 1e-5, 1e-4, "exact candidates");
}

// The benchmark's shape (V = 1000, 100 000 own edges, 31 edges x 401 candidates): the atomics of
// a busy shared slot, against the core in float64.
TEST_F(GpuFused, BenchmarkShapeMatchesTheCore) {
    const auto cpu = sparseModel(1000, 100000, 32, 5);
    const auto gpu = cpu.toDevice(at::kCUDA);
    const auto batch = batchOf(cpu, 64, 32, 400, 6);
    const auto ref = sampledLoss(toDouble(cpu), batch, LossOptions{true, 0});
    DeviceLossWorkspace ws;
    const auto fused = deviceSampledLoss(gpu, batch, {Precision::Float32, 1.0, &ws, true});
    expectClose(fused, ref, 1e-5, 1e-4, "benchmark shape");
    const auto again = deviceSampledLoss(gpu, batch, {Precision::Float32, 1.0, &ws, true});
    EXPECT_NEAR(again.loss, fused.loss, 1e-6 * std::abs(fused.loss));
}

// AdamW::step on CUDA (the fused kernel on the edge rows) against the CPU loops, three steps.
TEST_F(GpuFused, AdamWMatchesTheCpuLoops) {
    for (const auto kind : {OptimizerKind::SparseAdamW, OptimizerKind::AdamW}) {
        const auto base = sparseModel(300, 20000, 32, 7);
        Model cpu = base.toDevice(at::kCPU);
        cpu.weights = cpu.weights.clone();
        cpu.biases = cpu.biases.clone();
        cpu.nodeBias = cpu.nodeBias.clone();
        cpu.positions = cpu.positions.clone();
        Model gpu = base.toDevice(at::kCUDA);
        AdamWSettings st;
        st.kind = kind;
        st.weightDecay = 0.01;
        AdamW optCpu(cpu, st), optGpu(gpu, st);
        for (int step = 0; step < 3; ++step) {
            const auto batch = batchOf(base, 8, 16, 50, 10 + static_cast<uint64_t>(step));
            const auto r = deviceSampledLoss(gpu, batch);
            SparseGradients host;
            host.slots = r.grad.slots;
            host.weights = r.grad.weights.cpu();
            host.biases = r.grad.biases.cpu();
            host.nodeBias = r.grad.nodeBias.cpu();
            host.positions = r.grad.positions.cpu();
            optGpu.step(gpu, r.grad, 1e-2, 0.7);
            optCpu.step(cpu, host, 1e-2, 0.7);
            EXPECT_TRUE(at::allclose(gpu.weights.cpu(), cpu.weights, 1e-5, 1e-6)) << toString(kind) << " step " << step;
            EXPECT_TRUE(at::allclose(gpu.biases.cpu(), cpu.biases, 1e-5, 1e-6)) << toString(kind) << " step " << step;
            EXPECT_TRUE(at::allclose(gpu.nodeBias.cpu(), cpu.nodeBias, 1e-5, 1e-6))
                << toString(kind) << " step " << step;
        }
    }
}

} // namespace
} // namespace brillm::training
