// SPDX-License-Identifier: GPL-3.0-or-later
// GPU training (label gpu): skipped where LibTorch has no CUDA or the machine no GPU. The CUDA
// step is checked against the CPU kernels (float32 and autocast float16/bfloat16), the AdamW
// update on the GPU against the CPU loops, and a run trained on the GPU resumes on the CPU.
#include "brillm/loss.h"
#include "brillm/model_file.h"
#include "brillm/training/device_loss.h"
#include "brillm/training/optimizer.h"
#include "brillm/training/trainer.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <unistd.h>

namespace brillm::training {
namespace {

class Gpu : public ::testing::Test {
protected:
    void SetUp() override {
        if (!at::hasCUDA()) GTEST_SKIP() << "no CUDA in this LibTorch build or no GPU on this machine";
    }
};

Model toCuda(const Model& m) {
    Model g = m;
    g.weights = m.weights.cuda();
    g.biases = m.biases.cuda();
    g.nodeBias = m.nodeBias.cuda();
    g.positions = m.positions.cuda();
    return g;
}

std::vector<LossSample> batchOf(const Model& m, int B, int len, int k, uint64_t seed) {
    std::mt19937_64 rng(seed);
    const auto V = static_cast<int32_t>(m.vocabSize());
    std::uniform_int_distribution<int32_t> node(0, V - 1);
    std::vector<LossSample> out;
    for (int b = 0; b < B; ++b) {
        std::vector<int32_t> t;
        for (int i = 0; i < len; ++i) t.push_back(node(rng));
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

Model sparseModel(int64_t V, int64_t E, uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::vector<std::pair<int32_t, int32_t>> pairs;
    std::vector<char> seen(static_cast<size_t>(V * V), 0);
    std::uniform_int_distribution<int64_t> pick(0, V * V - 1);
    while (static_cast<int64_t>(pairs.size()) < E) {
        const int64_t p = pick(rng);
        if (!seen[static_cast<size_t>(p)]++) pairs.emplace_back(static_cast<int32_t>(p / V), static_cast<int32_t>(p % V));
    }
    return Model::randomInit({V, 32, 512}, EdgeTable::fromPairs(V, pairs), seed);
}

TEST_F(Gpu, CudaStepMatchesTheCpuKernels) {
    const auto cpu = sparseModel(300, 20000, 1);
    const auto gpu = toCuda(cpu);
    const auto batch = batchOf(cpu, 8, 16, 50, 2);
    const auto ref = sampledLoss(cpu, batch, LossOptions{true, 0});
    const auto f32 = deviceSampledLoss(gpu, batch, {Precision::Float32, 1.0});
    EXPECT_NEAR(f32.loss, ref.loss, 1e-4 * std::abs(ref.loss));
    ASSERT_EQ(f32.grad.slots, ref.grad.slots);
    EXPECT_TRUE(at::allclose(f32.grad.weights.cpu(), ref.grad.weights, 1e-3, 1e-5));
    EXPECT_TRUE(at::allclose(f32.grad.nodeBias.cpu(), ref.grad.nodeBias, 1e-3, 1e-5));
    EXPECT_TRUE(at::allclose(f32.grad.positions.cpu(), ref.grad.positions, 1e-3, 1e-5));
    for (const auto p : {Precision::BFloat16, Precision::Float16}) {
        const auto low = deviceSampledLoss(gpu, batch, {p, p == Precision::Float16 ? 1024.0 : 1.0});
        EXPECT_NEAR(low.loss, ref.loss, 3e-2 * std::abs(ref.loss)) << toString(p);
        EXPECT_TRUE(at::isfinite(low.grad.weights).all().item<bool>()) << toString(p);
        // the low-precision gradient points the same way as the exact one
        const auto a = low.grad.weights.cpu().flatten(), b = ref.grad.weights.flatten();
        const double cosine = (a * b).sum().item<double>() / (a.norm().item<double>() * b.norm().item<double>());
        EXPECT_GT(cosine, 0.99) << toString(p);
    }
}

TEST_F(Gpu, AdamWOnTheGpuMatchesTheCpuLoops) {
    for (const auto kind : {OptimizerKind::AdamW, OptimizerKind::SparseAdamW}) {
        auto cpu = sparseModel(200, 8000, 3);
        auto gpu = toCuda(cpu);
        AdamWSettings st;
        st.kind = kind;
        st.weightDecay = 0.01;
        AdamW oc(cpu, st), og(gpu, st);
        for (uint64_t s = 0; s < 3; ++s) {
            // the same gradients for both (Adam's m / sqrt(v) turns float rounding in a near-zero
            // gradient into a full step of either sign, so the two losses' gradients are not compared here)
            const auto batch = batchOf(cpu, 4, 8, 20, 10 + s);
            const auto g = sampledLoss(cpu, batch).grad;
            SparseGradients gg = g;
            gg.weights = g.weights.cuda();
            gg.biases = g.biases.cuda();
            gg.nodeBias = g.nodeBias.cuda();
            gg.positions = g.positions.cuda();
            oc.step(cpu, g, 0.01, 0.5);
            og.step(gpu, gg, 0.01, 0.5);
        }
        EXPECT_TRUE(at::allclose(gpu.weights.cpu(), cpu.weights, 1e-4, 1e-5)) << toString(kind);
        EXPECT_TRUE(at::allclose(gpu.positions.cpu(), cpu.positions, 1e-4, 1e-5)) << toString(kind);
    }
}

TEST_F(Gpu, TrainsOnTheGpuAndResumesOnTheCpu) {
    const auto dir = std::filesystem::temp_directory_path() / ("brillm-gpu-" + std::to_string(getpid()));
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    {
        std::ifstream in(std::string(BRILLM_SOURCE_DIR) + "/resources/corpora/en_austen.txt");
        std::ofstream out(dir / "corpus.txt");
        std::string line;
        for (int i = 0; i < 3000 && std::getline(in, line); ++i) out << line << '\n';
    }
    for (const char* precision : {"bf16", "fp16"}) {
        TrainConfig c;
        c.corpus = {(dir / "corpus.txt").string()};
        c.vocabKind = "char";
        c.steps = 60;
        c.batchSize = 16;
        c.negatives = 64;
        c.checkpointEvery = 30;
        c.evalEvery = 30;
        c.device = "cuda";
        c.precision = precision;
        const auto run = dir / (std::string("run-") + precision);
        const auto r = train(c, run);
        ASSERT_EQ(r.steps, 60);
        double first = 0, last = 0;
        for (int i = 0; i < 5; ++i) first += r.losses[static_cast<size_t>(i)], last += r.losses[r.losses.size() - 1 - static_cast<size_t>(i)];
        EXPECT_LT(last, first) << precision << ": the loss should fall";
        ASSERT_TRUE(r.lastEvalLoss.has_value());
        EXPECT_TRUE(std::isfinite(*r.lastEvalLoss));
        const auto resumed = resume(run, ResumeOverrides{80, std::string("cpu"), std::string("fp32")});
        EXPECT_EQ(resumed.steps, 80);
        const auto model = ModelFile::load((run / "model.brillm").string());
        EXPECT_TRUE(model.model.weights.is_cpu());
        EXPECT_TRUE(at::isfinite(model.model.weights).all().item<bool>());
    }
    std::filesystem::remove_all(dir);
}

} // namespace
} // namespace brillm::training
