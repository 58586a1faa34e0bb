// SPDX-License-Identifier: GPL-3.0-or-later
// GPU training (label gpu): skipped where LibTorch has no CUDA or the machine no GPU. The CUDA
// step is checked against the CPU kernels (float32 and autocast float16/bfloat16), the AdamW
// update on the GPU against the CPU loops, and a run trained on the GPU resumes on the CPU. The
// sharded step on the GPU (atenShardedLoss) against the CPU kernels', and a sharded run on one
// NCCL rank against the same run on the CPU.
#include "brillm/error.h"
#include "brillm/io/model_file.h"
#include "brillm/model/loss.h"
#include "brillm/training/device_loss.h"
#include "brillm/training/distributed.h"
#include "brillm/training/optimizer.h"
#include "brillm/training/shard.h"
#include "brillm/training/shard_loss.h"
#include "brillm/training/trainer.h"
#include "training_test_util.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include <cstdlib>
#include <random>
#include <sys/wait.h>
#include <unistd.h>

namespace brillm::training {
namespace {

class Gpu : public ::testing::Test {
protected:
    void SetUp() override {
        if (!at::hasCUDA()) GTEST_SKIP() << "no CUDA in this LibTorch build or no GPU on this machine";
    }
};

std::vector<LossSample> batchOf(const Model& m, int B, int len, int k, uint64_t seed) {
    std::mt19937_64 rng(seed);
    const auto V = static_cast<int32_t>(m.vocabSize());
    std::uniform_int_distribution<int32_t> node(0, V - 1);
    std::vector<LossSample> out;
    for (int b = 0; b < B; ++b) {
        std::vector<int32_t> t;
        for (int i = 0; i < len; ++i)
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

Model sparseModel(int64_t V, int64_t E, uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::vector<std::pair<int32_t, int32_t>> pairs;
    std::vector<char> seen(static_cast<size_t>(V * V), 0);
    std::uniform_int_distribution<int64_t> pick(0, V * V - 1);
    while (static_cast<int64_t>(pairs.size()) < E) {
        const int64_t p = pick(rng);
        if (!seen[static_cast<size_t>(p)]++)
            pairs.emplace_back(static_cast<int32_t>(p / V), static_cast<int32_t>(p % V));
    }
    return Model::randomInit({V, 32, 512}, EdgeTable::fromPairs(V, pairs), seed);
}

TEST_F(Gpu, CudaStepMatchesTheCpuKernels) {
    const auto cpu = sparseModel(300, 20000, 1);
    const auto gpu = cpu.toDevice(at::kCUDA);
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

// The sharded step on the GPU against the CPU kernels' sharded step, for every shard of 1 and 2
// (without collectives each shard computes the same partial sweep on both).
TEST_F(Gpu, ShardedStepOnTheGpuMatchesTheCpuKernels) {
    const auto cpu = sparseModel(300, 20000, 1);
    const auto batch = batchOf(cpu, 8, 16, 50, 2);
    DeviceLossWorkspace ws;
    for (int R : {1, 2})
        for (int r = 0; r < R; ++r) {
            const auto plan = ShardPlan::balanced(cpu.edges, R);
            const auto shard = shardModel(cpu, plan.begin(r), plan.end(r));
            const auto ref = shardedLoss(shard, plan, r, batch, true, 0, nullptr);
            const auto gpuShard = shard.toDevice(at::kCUDA);
            const auto gpu = atenShardedLoss(gpuShard, plan, r, batch, true, nullptr, R == 1 ? &ws : nullptr);
            const std::string where = "shard " + std::to_string(r) + " of " + std::to_string(R);
            EXPECT_TRUE(gpu.grad.weights.is_cuda()) << where;
            EXPECT_NEAR(gpu.loss, ref.loss, 1e-4 * std::abs(ref.loss)) << where;
            EXPECT_NEAR(gpu.gradNorm, ref.gradNorm, 1e-3 * ref.gradNorm) << where;
            EXPECT_EQ(gpu.localEdges, ref.localEdges) << where;
            ASSERT_EQ(gpu.grad.slots, ref.grad.slots) << where;
            EXPECT_TRUE(at::allclose(gpu.grad.weights.cpu(), ref.grad.weights, 1e-3, 1e-5)) << where;
            EXPECT_TRUE(at::allclose(gpu.grad.biases.cpu(), ref.grad.biases, 1e-3, 1e-5)) << where;
            EXPECT_TRUE(at::allclose(gpu.grad.nodeBias.cpu(), ref.grad.nodeBias, 1e-3, 1e-5)) << where;
            EXPECT_TRUE(at::allclose(gpu.grad.positions.cpu(), ref.grad.positions, 1e-3, 1e-5)) << where;
            // the replicated gradients are made without atomics: the same bits on every call
            const auto again = atenShardedLoss(gpuShard, plan, r, batch, true, nullptr);
            EXPECT_TRUE(at::equal(again.grad.nodeBias, gpu.grad.nodeBias)) << where;
            EXPECT_TRUE(at::equal(again.grad.positions, gpu.grad.positions)) << where;
        }
}

TEST_F(Gpu, AdamWOnTheGpuMatchesTheCpuLoops) {
    for (const auto kind : {OptimizerKind::AdamW, OptimizerKind::SparseAdamW}) {
        auto cpu = sparseModel(200, 8000, 3);
        auto gpu = cpu.toDevice(at::kCUDA);
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
    test_util::writeAustenExcerpt(dir / "corpus.txt", 3000);
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
        for (int i = 0; i < 5; ++i)
            first += r.losses[static_cast<size_t>(i)], last += r.losses[r.losses.size() - 1 - static_cast<size_t>(i)];
        EXPECT_LT(last, first) << precision << ": the loss should fall";
        ASSERT_TRUE(r.lastEvalLoss.has_value());
        EXPECT_TRUE(std::isfinite(*r.lastEvalLoss));
        ResumeOverrides onCpu;
        onCpu.steps = 80;
        onCpu.device = "cpu";
        onCpu.precision = "fp32";
        const auto resumed = resume(run, onCpu);
        EXPECT_EQ(resumed.steps, 80);
        const auto model = ModelFile::load((run / "model.brillm").string());
        EXPECT_TRUE(model.model.weights.is_cpu());
        EXPECT_TRUE(at::isfinite(model.model.weights).all().item<bool>());
    }
    std::filesystem::remove_all(dir);
}

// Data-parallel training over NCCL, one rank (the GPU machine has one GPU, and NCCL takes one
// rank per GPU): the process group in this process, the gradient exchange on the GPU.
class GpuNccl : public Gpu {
protected:
    void SetUp() override {
        Gpu::SetUp();
        if (IsSkipped()) return;
        if (!ncclAvailable()) GTEST_SKIP() << "this build has no NCCL (USE_C10D_NCCL)";
        m_dir = std::filesystem::temp_directory_path() / ("brillm-nccl-" + std::to_string(getpid()));
        std::filesystem::remove_all(m_dir);
        std::filesystem::create_directories(m_dir);
        test_util::writeAustenExcerpt(m_dir / "corpus.txt", 2000);
    }
    void TearDown() override {
        if (!m_dir.empty()) std::filesystem::remove_all(m_dir);
    }
    TrainConfig config() const {
        TrainConfig c;
        c.corpus = {(m_dir / "corpus.txt").string()};
        c.vocabKind = "char";
        c.steps = 40;
        c.batchSize = 8;
        c.negatives = 32;
        c.checkpointEvery = 20;
        c.evalEvery = 20;
        c.device = "cuda";
        return c;
    }
    // `brillm train` on the char corpus into `run` as one NCCL rank (--nproc-per-node 1) with
    // `options`; a non-zero exit fails the test, with the command and its standard error.
    void cliTrain(const std::filesystem::path& run, const std::string& options) const {
        const std::string cmd = std::string(BRILLM_CLI) + " train --corpus " + (m_dir / "corpus.txt").string() +
                                " --out " + run.string() + " --vocab-kind char --eval-every 0 --quiet " + options +
                                " --nproc-per-node 1 --dist-backend nccl --device cuda --dist-timeout 120 2> " +
                                (m_dir / "cli-err.txt").string();
        const int status = std::system(cmd.c_str());
        std::ifstream err(m_dir / "cli-err.txt");
        const std::string errText((std::istreambuf_iterator<char>(err)), std::istreambuf_iterator<char>());
        ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << cmd << "\n" << errText;
    }
    std::filesystem::path m_dir;
};

TEST_F(GpuNccl, OneRankOverNcclTrainsLikeOneProcessOnTheGpu) {
    const auto c = config();
    const auto single = train(c, m_dir / "single");
    DistributedEnv env;
    env.masterPort = findFreePort();
    auto comm = Communicator::connect(env, DistributedOptions{"nccl", 120});
    ASSERT_TRUE(comm->device().is_cuda());
    const auto dist = train(c, m_dir / "dist", {}, comm.get());
    ASSERT_EQ(single.steps, 40);
    ASSERT_EQ(dist.steps, 40);
    ASSERT_EQ(dist.losses.size(), single.losses.size());
    for (size_t i = 0; i < single.losses.size(); ++i) // GPU atomics: equal up to float rounding
        EXPECT_NEAR(dist.losses[i], single.losses[i], 1e-3 * std::max(1.0, std::abs(single.losses[i])))
            << "step " << i + 1;
    ASSERT_TRUE(dist.lastEvalLoss && single.lastEvalLoss);
    EXPECT_NEAR(*dist.lastEvalLoss, *single.lastEvalLoss, 1e-3 * *single.lastEvalLoss);
    EXPECT_NE(dist.parameterDigest, 0u);
    EXPECT_GT(comm->bytesSent(), 0u);

    // the communicator's collectives: CPU tensors travel to the GPU and back, GPU tensors stay
    at::Tensor cpu = at::arange(4, at::kDouble);
    comm->allReduceSum(cpu, "test cpu");
    EXPECT_TRUE(cpu.is_cpu());
    EXPECT_TRUE(at::equal(cpu, at::arange(4, at::kDouble)));
    at::Tensor gpu = at::arange(6, at::TensorOptions().dtype(at::kFloat).device(comm->device()));
    const at::Tensor gathered = comm->allGather(gpu, "test gpu");
    EXPECT_TRUE(gathered.is_cuda());
    EXPECT_EQ(gathered.sizes().vec(), (std::vector<int64_t>{1, 6}));
    EXPECT_TRUE(at::equal(gathered[0].cpu(), gpu.cpu()));

    // the metrics of rank 0 say where it ran
    const auto records = test_util::stepRecords(m_dir / "dist" / "metrics.jsonl");
    const auto steps = static_cast<int>(records.size());
    for (const auto& j : records) {
        EXPECT_EQ(j.at("world_size"), 1);
        EXPECT_EQ(j.at("device"), comm->device().str());
        EXPECT_GT(j.at("exchange_bytes").get<uint64_t>(), 0u);
    }
    EXPECT_EQ(steps, 40);
}

// --shard-edges on a GPU rank over NCCL (the GPU check): the same run as one CPU process
// on the kernels, the ATen step's collectives on GPU tensors, the CLI, and a resume on the CPU.
TEST_F(GpuNccl, OneRankOverNcclTrainsShardedLikeTheCpuKernels) {
    auto c = config();
    c.steps = 20;
    c.checkpointEvery = 10;
    c.evalEvery = 10;
    c.shardEdges = true;
    auto onCpu = c;
    onCpu.device = "cpu";
    const auto cpu = train(onCpu, m_dir / "cpu");
    DistributedEnv env;
    env.masterPort = findFreePort();
    auto comm = Communicator::connect(env, DistributedOptions{"nccl", 120});
    const auto gpu = train(c, m_dir / "gpu", {}, comm.get());
    ASSERT_EQ(gpu.losses.size(), cpu.losses.size());
    for (size_t i = 0; i < cpu.losses.size(); ++i)
        EXPECT_NEAR(gpu.losses[i], cpu.losses[i], 1e-3 * std::max(1.0, std::abs(cpu.losses[i]))) << "step " << i + 1;
    ASSERT_TRUE(gpu.lastEvalLoss && cpu.lastEvalLoss);
    EXPECT_NEAR(*gpu.lastEvalLoss, *cpu.lastEvalLoss, 1e-3 * *cpu.lastEvalLoss);
    EXPECT_EQ(gpu.modelPath, m_dir / "gpu" / "model-shards");
    for (const auto& j : test_util::stepRecords(m_dir / "gpu" / "metrics.jsonl")) {
        EXPECT_EQ(j.at("device"), comm->device().str());
        EXPECT_EQ(j.at("shards"), 1);
    }
    // the step's collectives on GPU tensors over the NCCL group
    const auto model = mergeShards(m_dir / "gpu" / "model-shards").model;
    const auto plan = ShardPlan::balanced(model.edges, 1);
    const auto batch = batchOf(model, 4, 8, 10, 5);
    const auto ref = shardedLoss(model, plan, 0, batch, true, 0, nullptr);
    const auto viaNccl = atenShardedLoss(model.toDevice(comm->device()), plan, 0, batch, true, comm.get());
    EXPECT_NEAR(viaNccl.loss, ref.loss, 1e-4 * std::abs(ref.loss));
    EXPECT_GT(viaNccl.bytesSent, 0u);
    // resumed on the CPU (the kernels), with the model's rows from the GPU's checkpoint
    ResumeOverrides resumeOnCpu;
    resumeOnCpu.steps = 24;
    resumeOnCpu.device = "cpu";
    const auto resumed = resume(m_dir / "gpu", resumeOnCpu);
    EXPECT_EQ(resumed.steps, 24);
    // the CLI
    const auto run = m_dir / "cli";
    ASSERT_NO_FATAL_FAILURE(cliTrain(run, "--steps 6 --batch 8 --negatives 16 --shard-edges"));
    EXPECT_TRUE(std::filesystem::exists(run / "model-shards" / "shards.json"));
}

TEST_F(GpuNccl, GpuTrainingWithGlooIsRefused) {
    DistributedEnv env;
    env.masterPort = findFreePort();
    auto comm = Communicator::connect(env, DistributedOptions{"gloo", 60});
    try {
        train(config(), m_dir / "gloo", {}, comm.get());
        FAIL() << "GPU training over Gloo was accepted";
    } catch (const InputError& e) {
        EXPECT_NE(std::string(e.what()).find("--dist-backend nccl"), std::string::npos) << e.what();
    }
}

TEST_F(GpuNccl, CliNprocPerNodeOneTrainsOverNccl) {
    const auto run = m_dir / "cli";
    ASSERT_NO_FATAL_FAILURE(cliTrain(run, "--steps 12 --batch 8 --negatives 16"));
    const auto records = test_util::stepRecords(run / "metrics.jsonl");
    for (const auto& j : records) {
        EXPECT_EQ(j.at("world_size"), 1);
        EXPECT_EQ(j.at("device"), "cuda:0");
    }
    EXPECT_EQ(records.size(), 12u);
}

} // namespace
} // namespace brillm::training
