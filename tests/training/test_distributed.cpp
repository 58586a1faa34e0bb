// SPDX-License-Identifier: GPL-3.0-or-later
// Data-parallel training in one process: each rank is a thread with its own Gloo process group
// over a TCPStore on 127.0.0.1.
#include "brillm/error.h"
#include "brillm/io/model_file.h"
#include "brillm/training/distributed.h"
#include "brillm/training/trainer.h"
#include "training_test_util.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp> // to play torchrun's agent

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <thread>

namespace fs = std::filesystem;
using namespace brillm;
using namespace brillm::training;
using brillm::training::test_util::stepRecords;

namespace {

// Runs f(rank, comm) on `world` threads joined in one process group; rethrows the first failure.
template <class F> void onRanks(int world, double timeoutSeconds, F&& f, int port = 0, bool agentStore = false) {
    if (port == 0) port = findFreePort();
    std::vector<std::thread> threads;
    std::vector<std::exception_ptr> failures(static_cast<size_t>(world));
    for (int r = 0; r < world; ++r)
        threads.emplace_back([&, r] {
            try {
                DistributedEnv env;
                env.rank = r;
                env.worldSize = world;
                env.localWorldSize = world;
                env.masterAddr = "127.0.0.1";
                env.masterPort = port;
                env.agentStore = agentStore;
                auto comm = Communicator::connect(env, DistributedOptions{"gloo", timeoutSeconds});
                f(r, *comm);
            } catch (...) {
                failures[static_cast<size_t>(r)] = std::current_exception();
            }
        });
    for (auto& t : threads)
        t.join();
    for (auto& e : failures)
        if (e) std::rethrow_exception(e);
}

class DistributedTest : public test_util::ToyRunTest {
protected:
    DistributedTest() : ToyRunTest("brillm-dist") {}
    TrainConfig config(int64_t steps) const {
        TrainConfig c = toyConfig(steps);
        c.batchSize = 6;
        c.evalEvery = 10;
        c.evalSamples = 5;
        c.checkpointEvery = 10;
        c.threads = 1;
        return c;
    }
};

// Losses of two runs over the same global batches: equal up to float summation order.
void expectSameLosses(const std::vector<double>& a, const std::vector<double>& b, size_t offsetB = 0) {
    for (size_t i = 0; i < a.size(); ++i)
        EXPECT_NEAR(a[i], b[i + offsetB], 1e-4 * std::max(1.0, std::abs(a[i]))) << "step " << i + 1;
}

} // namespace

TEST(DistributedEnvTest, ReadsTorchrunThenSlurmVariables) {
    std::map<std::string, std::string> vars;
    const auto get = [&](const char* n) -> const char* {
        const auto it = vars.find(n);
        return it == vars.end() ? nullptr : it->second.c_str();
    };
    EXPECT_FALSE(distributedEnvFromEnvironment(get).has_value());

    vars = {{"RANK", "3"},
            {"WORLD_SIZE", "8"},
            {"LOCAL_RANK", "1"},
            {"LOCAL_WORLD_SIZE", "2"},
            {"MASTER_ADDR", "node7"},
            {"MASTER_PORT", "29511"},
            {"SLURM_PROCID", "5"},
            {"SLURM_NTASKS", "9"}};
    auto e = distributedEnvFromEnvironment(get);
    ASSERT_TRUE(e.has_value());
    EXPECT_EQ(e->source, "torchrun");
    EXPECT_EQ(e->rank, 3);
    EXPECT_EQ(e->worldSize, 8);
    EXPECT_EQ(e->localRank, 1);
    EXPECT_EQ(e->localWorldSize, 2);
    EXPECT_EQ(e->masterAddr, "node7");
    EXPECT_EQ(e->masterPort, 29511);
    EXPECT_FALSE(e->agentStore);
    vars["TORCHELASTIC_USE_AGENT_STORE"] = "True";
    vars["TORCHELASTIC_RESTART_COUNT"] = "2";
    e = distributedEnvFromEnvironment(get);
    EXPECT_TRUE(e->agentStore);
    EXPECT_EQ(e->restartCount, "2");

    vars = {{"SLURM_PROCID", "5"},
            {"SLURM_NTASKS", "8"},
            {"SLURM_LOCALID", "1"},
            {"SLURM_NTASKS_PER_NODE", "4(x2)"},
            {"MASTER_ADDR", "node1"}};
    e = distributedEnvFromEnvironment(get);
    ASSERT_TRUE(e.has_value());
    EXPECT_EQ(e->source, "slurm");
    EXPECT_EQ(e->rank, 5);
    EXPECT_EQ(e->worldSize, 8);
    EXPECT_EQ(e->localRank, 1);
    EXPECT_EQ(e->localWorldSize, 4);
    EXPECT_EQ(e->masterPort, 29500);

    vars = {{"RANK", "2"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "x"}};
    EXPECT_THROW(distributedEnvFromEnvironment(get), InputError); // rank outside [0, 2)
    vars = {{"RANK", "0"}, {"WORLD_SIZE", "2"}};
    EXPECT_THROW(distributedEnvFromEnvironment(get), InputError); // no MASTER_ADDR
    vars = {{"RANK", "0"}};
    EXPECT_THROW(distributedEnvFromEnvironment(get), InputError); // no WORLD_SIZE
    vars = {{"RANK", "zero"}, {"WORLD_SIZE", "2"}};
    EXPECT_THROW(distributedEnvFromEnvironment(get), InputError);
}

// The replica check's digest reads the parameters in chunks (from a GPU without a host copy of the
// model): the same value as the whole tensors hashed at once, here across chunk borders.
TEST(ParameterDigestTest, ChunkedEqualsTheWholeTensorsHashedAtOnce) {
    const auto edges = test_util::unevenRandomTable(120, 0.5, 7); // > 4 M weights: several chunks
    const Model m = Model::randomInit({120, 32, 16}, edges, 3);
    ASSERT_GT(m.weights.numel(), int64_t{6} << 20); // chunks of 4 M elements
    uint64_t h = 0xcbf29ce484222325ULL;             // the digest's definition, on whole CPU tensors
    for (const at::Tensor* t : {&m.weights, &m.biases, &m.nodeBias, &m.positions}) {
        const at::Tensor c = t->contiguous();
        const auto* bytes = static_cast<const unsigned char*>(c.data_ptr());
        const size_t n = static_cast<size_t>(c.numel()) * c.element_size();
        size_t i = 0;
        for (; i + 8 <= n; i += 8) {
            uint64_t w;
            std::memcpy(&w, bytes + i, 8);
            h = (h ^ w) * 0x100000001b3ULL;
            h ^= h >> 29;
        }
        for (; i < n; ++i)
            h = (h ^ bytes[i]) * 0x100000001b3ULL;
        h = (h ^ n) * 0x100000001b3ULL;
    }
    EXPECT_EQ(parameterDigest(m), h);
    Model other = m.clone();
    other.weights.view({-1})[(int64_t{5} << 20) + 3] += 1.0f; // one weight in the second chunk
    EXPECT_NE(parameterDigest(other), h);
}

TEST(DistributedCommTest, JoinsTheStoreOfTorchrunsAgent) {
    const int port = findFreePort();
    ::c10d::TCPStoreOptions so; // the agent's store, on MASTER_PORT
    so.port = static_cast<std::uint16_t>(port);
    so.isServer = true;
    so.waitWorkers = false;
    auto agent = c10::make_intrusive<::c10d::TCPStore>("127.0.0.1", so);
    std::vector<float> sums(2);
    onRanks(
        2, 20,
        [&](int r, Communicator& comm) {
            at::Tensor t = at::full({3}, static_cast<float>(r + 1));
            comm.allReduceSum(t, "test");
            sums[static_cast<size_t>(r)] = t[2].item<float>();
        },
        port, /*agentStore=*/true);
    EXPECT_EQ(sums[0], 3.0f);
    EXPECT_EQ(sums[1], 3.0f);
}

TEST(DistributedCommTest, NcclIsRefusedInThisBuild) {
    DistributedEnv env;
    EXPECT_THROW(Communicator::connect(env, DistributedOptions{"mpi", 5}), InputError);
    if (ncclAvailable()) GTEST_SKIP() << "this build has NCCL (test_gpu_training runs it)";
    try {
        Communicator::connect(env, DistributedOptions{"nccl", 5});
        FAIL() << "nccl was accepted";
    } catch (const InputError& e) {
        EXPECT_NE(std::string(e.what()).find("no CUDA/NCCL"), std::string::npos) << e.what();
    }
}

TEST(DistributedCommTest, AutoBackendIsNcclOnlyForCudaWhereTheBuildHasIt) {
    EXPECT_EQ(resolveBackend("auto", "cpu"), "gloo");
    EXPECT_EQ(resolveBackend("auto", ""), "gloo");
    EXPECT_EQ(resolveBackend("auto", "cuda"), ncclAvailable() ? "nccl" : "gloo");
    EXPECT_EQ(resolveBackend("auto", "cuda:1"), ncclAvailable() ? "nccl" : "gloo");
    EXPECT_EQ(resolveBackend("gloo", "cuda"), "gloo");
    EXPECT_EQ(resolveBackend("nccl", "cpu"), "nccl");
    EXPECT_NO_THROW(checkBackend("gloo"));
    EXPECT_THROW(checkBackend("auto"), InputError); // resolved before it is checked
    if (ncclAvailable())
        EXPECT_NO_THROW(checkBackend("nccl"));
    else
        EXPECT_THROW(checkBackend("nccl"), InputError);
}

TEST(DistributedCommTest, ExchangeGivesTheGlobalBatchGradientOnEveryRank) {
    // V = 5, d = 2: slots 0..N-1; rank 0 has 3 samples, rank 1 one sample
    std::vector<std::pair<int32_t, int32_t>> pairs{{0, 1}, {0, 2}, {1, 3}, {2, 4}, {3, 0}, {4, 4}};
    const Model model = Model::randomInit({5, 2, 16}, EdgeTable::fromPairs(5, pairs), 1);
    const int64_t N = model.edges.numSlots();
    const std::vector<std::vector<int64_t>> slots{{0, 2, 5}, {1, 2, 6}};
    const std::vector<int64_t> samples{3, 1};
    const auto localGrad = [&](int r) {
        SparseGradients g;
        g.slots = slots[static_cast<size_t>(r)];
        const auto n = static_cast<int64_t>(g.slots.size());
        g.weights = at::arange(n * 4, at::kFloat).view({n, 2, 2}) + 10.0f * static_cast<float>(r + 1);
        g.biases = at::arange(n * 2, at::kFloat).view({n, 1, 2}) - 3.0f * static_cast<float>(r);
        g.nodeBias = at::full({5, 1, 2}, 1.0f + static_cast<float>(r));
        g.positions = at::full({1, 16, 1}, 2.0f * static_cast<float>(r));
        return g;
    };
    // expected: the sum over ranks of (local samples / 4) * local gradient, by slot, in double
    at::Tensor dense = at::zeros({N, 2, 2}, at::kDouble), denseB = at::zeros({N, 1, 2}, at::kDouble);
    at::Tensor nb = at::zeros({5, 1, 2}, at::kDouble), pos = at::zeros({1, 16, 1}, at::kDouble);
    for (int r = 0; r < 2; ++r) {
        const auto g = localGrad(r);
        const double share = static_cast<double>(samples[static_cast<size_t>(r)]) / 4.0;
        for (size_t i = 0; i < g.slots.size(); ++i) {
            dense[g.slots[i]] += g.weights[static_cast<int64_t>(i)].to(at::kDouble) * share;
            denseB[g.slots[i]] += g.biases[static_cast<int64_t>(i)].to(at::kDouble) * share;
        }
        nb += g.nodeBias.to(at::kDouble) * share;
        pos += g.positions.to(at::kDouble) * share;
    }
    std::vector<SparseGradients> results(2);
    std::vector<ExchangeStats> stats(2);
    onRanks(2, 20, [&](int r, Communicator& comm) {
        GradientExchange ex(comm);
        const auto& g = ex.exchange(model, localGrad(r), samples[static_cast<size_t>(r)], 1.5 * (r + 1));
        results[static_cast<size_t>(r)] =
            SparseGradients{g.slots, g.weights.clone(), g.biases.clone(), g.nodeBias.clone(), g.positions.clone()};
        stats[static_cast<size_t>(r)] = ex.stats();
    });
    const std::vector<int64_t> expectedUnion{0, 1, 2, 5, 6};
    for (int r = 0; r < 2; ++r) {
        const auto& g = results[static_cast<size_t>(r)];
        EXPECT_EQ(g.slots, expectedUnion);
        const auto idx = at::tensor(expectedUnion, at::kLong);
        EXPECT_TRUE(at::allclose(g.weights.to(at::kDouble), dense.index_select(0, idx), 1e-6, 1e-6));
        EXPECT_TRUE(at::allclose(g.biases.to(at::kDouble), denseB.index_select(0, idx), 1e-6, 1e-6));
        EXPECT_TRUE(at::allclose(g.nodeBias.to(at::kDouble), nb, 1e-6, 1e-6));
        EXPECT_TRUE(at::allclose(g.positions.to(at::kDouble), pos, 1e-6, 1e-6));
        const auto& s = stats[static_cast<size_t>(r)];
        EXPECT_EQ(s.globalSamples, 4);
        EXPECT_DOUBLE_EQ(s.globalLossSum, 4.5);
        EXPECT_EQ(s.unionSlots, 5);
        // counts (3 doubles) + ids (3 int64) + buffer (5 rows of 4 + 2 floats, node_bias 10, positions 16)
        EXPECT_EQ(s.exchangeBytes, 3u * 8 + 3u * 8 + (5u * 6 + 10 + 16) * 4);
        EXPECT_EQ(s.denseBytes, static_cast<uint64_t>(N * 6 + 10 + 16) * 4);
    }
    // bit-identical on both ranks
    EXPECT_TRUE(at::equal(results[0].weights, results[1].weights));
    EXPECT_TRUE(at::equal(results[0].nodeBias, results[1].nodeBias));
}

TEST(DistributedCommTest, ASilentPeerMakesTheCollectiveFailWithinTheTimeout) {
    std::string message;
    double waited = 0;
    onRanks(2, 2, [&](int r, Communicator& comm) {
        if (r == 1) { // joined, then never takes part: a hung process
            std::this_thread::sleep_for(std::chrono::seconds(4));
            return;
        }
        comm.setStep(7);
        at::Tensor t = at::ones({4});
        const auto t0 = std::chrono::steady_clock::now();
        try {
            comm.allReduceSum(t, "gradient rows");
        } catch (const TrainingError& e) {
            message = e.what();
        }
        waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    });
    EXPECT_NE(message.find("rank 0 of 2"), std::string::npos) << message;
    EXPECT_NE(message.find("at step 7"), std::string::npos) << message;
    EXPECT_LT(waited, 4.0) << "the timeout is 2 s";
}

TEST_F(DistributedTest, TwoRanksTrainLikeOneProcessOverTheSameGlobalBatch) {
    auto c = config(30);
    c.batchSize = 5; // 3 + 2 samples: the ranks' gradients must be weighted by their share
    const auto single = train(c, m_dir / "single");
    ASSERT_EQ(single.losses.size(), 30u);

    std::vector<TrainResult> results(2);
    onRanks(2, 30,
            [&](int r, Communicator& comm) { results[static_cast<size_t>(r)] = train(c, m_dir / "dist", {}, &comm); });
    ASSERT_EQ(results[0].losses.size(), 30u);
    ASSERT_EQ(results[1].losses.size(), 30u);
    // the same global loss on both ranks, and the single process's up to summation order
    for (size_t i = 0; i < 30; ++i)
        EXPECT_EQ(results[0].losses[i], results[1].losses[i]) << "step " << i + 1;
    expectSameLosses(single.losses, results[0].losses);
    // parameters bit-identical on both ranks, and the model rank 0 wrote is theirs
    EXPECT_EQ(results[0].parameterDigest, results[1].parameterDigest);
    const auto written = ModelFile::load((m_dir / "dist" / "model.brillm").string());
    EXPECT_EQ(parameterDigest(written.model.toDtype(at::kFloat)), results[0].parameterDigest);
    const auto alone = ModelFile::load((m_dir / "single" / "model.brillm").string());
    EXPECT_TRUE(at::allclose(written.model.positions, alone.model.positions, 1e-3, 1e-3));

    // rank 0's metrics: per-rank throughput and memory, and the sparse exchange's bytes
    const auto steps = stepRecords(m_dir / "dist" / "metrics.jsonl");
    const auto singleSteps = stepRecords(m_dir / "single" / "metrics.jsonl");
    ASSERT_EQ(steps.size(), 30u);
    ASSERT_EQ(singleSteps.size(), 30u);
    for (size_t i = 0; i < 30;
         ++i) { // the gradient of the global batch's mean loss (AdamW alone would hide a scale error)
        const double a = singleSteps[i].at("grad_norm").get<double>(), b = steps[i].at("grad_norm").get<double>();
        EXPECT_NEAR(a, b, 1e-4 * a) << "step " << i + 1;
    }
    for (const auto& j : steps) {
        EXPECT_EQ(j.at("world_size"), 2);
        ASSERT_EQ(j.at("ranks").size(), 2u);
        for (int r = 0; r < 2; ++r) {
            EXPECT_EQ(j.at("ranks")[static_cast<size_t>(r)].at("rank"), r);
            EXPECT_GT(j.at("ranks")[static_cast<size_t>(r)].at("samples_per_s").get<double>(), 0);
            EXPECT_GT(j.at("ranks")[static_cast<size_t>(r)].at("memory_mb").get<double>(), 0);
        }
        EXPECT_GT(j.at("exchange_bytes").get<uint64_t>(), 0u);
        EXPECT_GT(j.at("dense_bytes").get<uint64_t>(), 0u);
    }
    std::ifstream state(m_dir / "dist" / "checkpoints" / "step-00000030" / "state.json");
    EXPECT_EQ(nlohmann::json::parse(state).at("world_size"), 2);
}

TEST_F(DistributedTest, ResumesWithAnotherNumberOfRanks) {
    auto c = config(18);
    c.checkpointEvery = 6;
    const auto whole = train(c, m_dir / "whole");

    c.steps = 6;
    const auto first = train(c, m_dir / "run"); // one process: steps 1-6
    std::vector<TrainResult> second(3);
    onRanks(3, 30,
            [&](int r, Communicator& comm) { second[static_cast<size_t>(r)] = resume(m_dir / "run", 12, {}, &comm); });
    const auto third = resume(m_dir / "run", 18); // one process again: steps 13-18
    ASSERT_EQ(second[0].losses.size(), 6u);
    ASSERT_EQ(third.losses.size(), 6u);
    EXPECT_EQ(second[0].parameterDigest, second[2].parameterDigest);
    expectSameLosses(first.losses, whole.losses);
    expectSameLosses(second[0].losses, whole.losses, 6);
    expectSameLosses(third.losses, whole.losses, 12);
}

TEST_F(DistributedTest, ASetupFailureOnOneRankStopsEveryRank) {
    train(config(1), m_dir / "taken");
    std::vector<std::string> errors(2);
    onRanks(2, 20, [&](int r, Communicator& comm) {
        try {
            train(config(5), m_dir / "taken", {}, &comm); // rank 0 refuses to overwrite a run
        } catch (const std::exception& e) {
            errors[static_cast<size_t>(r)] = e.what();
        }
    });
    EXPECT_NE(errors[0].find("already holds a training run"), std::string::npos) << errors[0];
    EXPECT_NE(errors[1].find("failed on rank 0"), std::string::npos) << errors[1];
}
