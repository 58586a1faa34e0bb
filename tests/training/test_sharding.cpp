// SPDX-License-Identifier: GPL-3.0-or-later
// The edge table sharded by source (--shard-edges): the plan, the sharded loss against the
// single-process loss, training on 2 and 3 Gloo ranks (threads of this process) against one
// process, resume 3 -> 2 -> 1, each rank's share of the table, and merging the shards. The 2-D
// layout (2 shards x 2 replicas): its step and traffic, training, resume 2x2 -> 3x1 -> 1x1, a
// dead rank named.
#include "brillm/error.h"
#include "brillm/io/model_file.h"
#include "brillm/model/loss.h"
#include "brillm/text/bigram_table.h"
#include "brillm/training/distributed.h"
#include "brillm/training/model_init.h"
#include "brillm/training/optimizer.h"
#include "brillm/training/shard.h"
#include "brillm/training/shard_loss.h"
#include "brillm/training/trainer.h"
#include "training_test_util.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <random>
#include <set>
#include <thread>
#include <tuple>

namespace fs = std::filesystem;
using namespace brillm;
using namespace brillm::training;

namespace {

// Runs f(rank, comm) on `world` threads joined in one Gloo process group; rethrows the first failure.
template <class F> void onRanks(int world, F&& f) {
    const int port = findFreePort();
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
                auto comm = Communicator::connect(env, DistributedOptions{"gloo", 60});
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

// Samples with sampled negatives and with the exact (weighted) candidates.
std::vector<LossSample> randomBatch(const EdgeTable& edges, int count, int length, uint32_t seed) {
    std::mt19937 rng(seed);
    const auto V = static_cast<int32_t>(edges.vocabSize());
    std::vector<LossSample> out;
    for (int k = 0; k < count; ++k) {
        std::vector<int32_t> tokens(static_cast<size_t>(length - k % 3));
        for (auto& t : tokens)
            t = static_cast<int32_t>(rng() % static_cast<uint32_t>(V));
        if (k % 2 == 0) {
            out.push_back(LossSample::exactCandidates(tokens, edges));
            continue;
        }
        std::vector<std::vector<int32_t>> neg(tokens.size() - 1);
        for (size_t i = 0; i + 1 < tokens.size(); ++i)
            for (int j = 0; j < 5; ++j) {
                int32_t v = static_cast<int32_t>(rng() % static_cast<uint32_t>(V));
                if (v != tokens[i + 1]) neg[i].push_back(v);
            }
        out.push_back(LossSample::fromNegatives(tokens, neg));
    }
    return out;
}

// Global slot of a shard's local slot.
int64_t globalSlot(const EdgeTable& global, int64_t begin, int64_t local) {
    return local == 0 ? 0 : local + global.rowPtr()[static_cast<size_t>(begin)];
}

class ShardingTest : public test_util::ToyRunTest {
protected:
    ShardingTest() : ToyRunTest("brillm-shard") {}
    TrainConfig config(int64_t steps) const {
        TrainConfig c = toyConfig(steps);
        c.negatives = TrainConfig{}.negatives; // this fixture trains with the default
        c.batchSize = 5;
        c.evalEvery = 3;
        c.evalSamples = 5;
        c.validationWindows = 0; // the final model is the last step's (compared below)
        c.checkpointEvery = 4;
        c.threads = 1;
        return c;
    }
    // Every rank's losses are rank 0's, and those the single process's up to float rounding.
    static void expectLikeOneProcess(const std::vector<TrainResult>& results, const TrainResult& single, size_t steps,
                                     const std::string& what) {
        for (size_t r = 0; r < results.size(); ++r) {
            ASSERT_EQ(results[r].losses.size(), steps) << what;
            for (size_t i = 0; i < steps; ++i) {
                EXPECT_EQ(results[r].losses[i], results[0].losses[i]) << what << ", rank " << r;
                EXPECT_NEAR(results[0].losses[i], single.losses[i], 1e-5 * std::abs(single.losses[i]))
                    << what << ", step " << i + 1;
            }
        }
    }
    // Trains `c` on `ranks` ranks (threads over Gloo) where rank `victim`'s callback throws at
    // step 3 (its process group goes away with it); every other rank must stop with a
    // TrainingError, whose message is returned (empty for the victim).
    std::vector<std::string> runWithADyingRank(const TrainConfig& c, int ranks, int victim) {
        std::vector<std::string> messages(static_cast<size_t>(ranks));
        onRanks(ranks, [&](int r, Communicator& comm) {
            TrainCallbacks cb;
            if (r == victim)
                cb.onStep = [victim](const StepReport& rep) -> bool {
                    if (rep.step == 3) throw std::runtime_error("rank " + std::to_string(victim) + " dies");
                    return true;
                };
            try {
                train(c, m_dir / "run", cb, &comm);
                ADD_FAILURE() << "rank " << r << " finished a run whose peer died";
            } catch (const TrainingError& e) {
                messages[static_cast<size_t>(r)] = e.what();
            } catch (const std::runtime_error& e) {
                EXPECT_EQ(r, victim) << e.what();
            }
        });
        return messages;
    }
};

void expectClose(const at::Tensor& a, const at::Tensor& b, double tol, const std::string& what) {
    ASSERT_EQ(a.sizes(), b.sizes()) << what;
    const double scale = std::max(1.0, b.abs().max().item<double>());
    EXPECT_LE((a.to(at::kDouble) - b.to(at::kDouble)).abs().max().item<double>(), tol * scale) << what;
}

void expectSameModel(const Model& a, const Model& b, double tol) {
    ASSERT_EQ(a.edges, b.edges);
    expectClose(a.weights, b.weights, tol, "weights");
    expectClose(a.biases, b.biases, tol, "biases");
    expectClose(a.nodeBias, b.nodeBias, tol, "node_bias");
    expectClose(a.positions, b.positions, tol, "positions");
}

} // namespace

TEST(ShardPlanTest, SplitsSourcesIntoRangesOfNearlyEqualOwnSlots) {
    const auto edges = test_util::unevenRandomTable(60, 0.15, 3);
    int64_t longestRow = 0;
    for (int64_t s = 0; s < 60; ++s)
        longestRow = std::max(longestRow, edges.ownCount(s));
    for (int parts : {1, 2, 3, 4, 7}) {
        const auto plan = ShardPlan::balanced(edges, parts);
        ASSERT_EQ(plan.parts(), parts);
        EXPECT_EQ(plan.begin(0), 0);
        EXPECT_EQ(plan.end(parts - 1), 60);
        int64_t total = 0;
        for (int r = 0; r < parts; ++r) {
            ASSERT_LE(plan.begin(r), plan.end(r));
            const int64_t own =
                edges.rowPtr()[static_cast<size_t>(plan.end(r))] - edges.rowPtr()[static_cast<size_t>(plan.begin(r))];
            total += own;
            // whole rows only: at most one row away from the even share
            EXPECT_LE(std::abs(own - edges.numOwn() / parts), longestRow + 1) << parts << " parts, part " << r;
            for (int64_t s = plan.begin(r); s < plan.end(r); ++s)
                EXPECT_EQ(plan.ownerOf(s), r);
        }
        EXPECT_EQ(total, edges.numOwn());
    }
}

// --shard-balance work: against every contiguous split into `parts` non-empty ranges (brute force),
// the plan's largest work is the smallest any split within the memory cap has, and it keeps the cap.
TEST(ShardPlanTest, AWorkBalancedPlanIsTheBestContiguousSplitWithinTheMemoryCap) {
    std::mt19937 rng(21);
    int checked = 0;
    for (int trial = 0; trial < 60; ++trial) {
        const int64_t V = 6 + trial % 7;
        const auto edges = test_util::unevenRandomTable(V, 0.3 + 0.05 * (trial % 5), 100 + trial);
        std::vector<double> work(static_cast<size_t>(V));
        for (auto& w : work) // Zipf-like: a few sources carry most of the work, some none
            w = rng() % 4 == 0 ? 0.0 : std::floor(1000.0 / (1 + rng() % 20));
        const double slack = trial % 3 == 0 ? 0.0 : 0.25;
        const auto& rowPtr = edges.rowPtr();
        const auto own = [&](int64_t b, int64_t e) {
            return static_cast<double>(rowPtr[static_cast<size_t>(e)] - rowPtr[static_cast<size_t>(b)]);
        };
        const auto workOf = [&](int64_t b, int64_t e) {
            double w = 0;
            for (int64_t k = b; k < e; ++k)
                w += work[static_cast<size_t>(k)];
            return w;
        };
        double longestRow = 0;
        for (int64_t k = 0; k < V; ++k)
            longestRow = std::max(longestRow, own(k, k + 1));
        for (int parts : {2, 3, 4}) {
            const double cap =
                std::max((1 + slack) * static_cast<double>(edges.numOwn()) / parts, longestRow) * (1 + 1e-12);
            // brute force: every choice of parts - 1 cut points in 1..V-1
            double best = std::numeric_limits<double>::infinity();
            std::vector<int64_t> cuts(static_cast<size_t>(parts - 1));
            std::function<void(int, int64_t)> search = [&](int k, int64_t from) {
                if (k == parts - 1) {
                    double worst = 0;
                    int64_t b = 0;
                    for (int r = 0; r < parts; ++r) {
                        const int64_t e = r + 1 < parts ? cuts[static_cast<size_t>(r)] : V;
                        if (own(b, e) > cap) return;
                        worst = std::max(worst, workOf(b, e));
                        b = e;
                    }
                    best = std::min(best, worst);
                    return;
                }
                for (int64_t c = from; c <= V - (parts - 1 - k); ++c) {
                    cuts[static_cast<size_t>(k)] = c;
                    search(k + 1, c + 1);
                }
            };
            search(0, 1);
            const auto plan = ShardPlan::balancedByWork(edges, parts, work, slack);
            ASSERT_EQ(plan.parts(), parts);
            EXPECT_EQ(plan.end(parts - 1), V);
            if (!std::isfinite(best)) { // no split meets the cap: the memory-balanced plan
                EXPECT_EQ(plan.sourceBegin, ShardPlan::balanced(edges, parts).sourceBegin);
                continue;
            }
            double worst = 0;
            for (int r = 0; r < parts; ++r) {
                ASSERT_LT(plan.begin(r), plan.end(r)) << "part " << r << " is empty";
                EXPECT_LE(own(plan.begin(r), plan.end(r)), cap) << "trial " << trial << ", part " << r;
                EXPECT_EQ(plan.slotBegin[static_cast<size_t>(r)], rowPtr[static_cast<size_t>(plan.begin(r))]);
                worst = std::max(worst, workOf(plan.begin(r), plan.end(r)));
            }
            EXPECT_NEAR(worst, best, 1e-9 * std::max(1.0, best)) << "trial " << trial << ", " << parts << " parts";
            ++checked;
        }
    }
    EXPECT_GT(checked, 100);
    // a hand case: the first source is most of the work, the rows are even
    const auto even = EdgeTable::fromPairs(
        4, std::vector<std::pair<int32_t, int32_t>>{{0, 1}, {0, 2}, {1, 0}, {1, 2}, {2, 0}, {2, 1}, {3, 0}, {3, 1}});
    const std::vector<double> skewed{10, 1, 1, 1};
    EXPECT_EQ(ShardPlan::balancedByWork(even, 2, skewed, 1.0).sourceBegin, (std::vector<int64_t>{0, 1, 4}));
    EXPECT_EQ(ShardPlan::balancedByWork(even, 2, skewed, 0.0).sourceBegin, (std::vector<int64_t>{0, 2, 4}));
    EXPECT_EQ(ShardPlan::balanced(even, 2).sourceBegin, (std::vector<int64_t>{0, 2, 4}));
    EXPECT_THROW(ShardPlan::balancedByWork(even, 2, std::vector<double>{1, 2}, 0.25), InputError);
    EXPECT_THROW(ShardPlan::balancedByWork(even, 2, std::vector<double>{1, -1, 1, 1}, 0.25), InputError);
}

// What a source costs the loss: its uses as a source times the candidate rows per use.
TEST(ShardPlanTest, ASourcesWorkIsItsUsesTimesItsCandidateRows) {
    const auto counts = BigramTable::fromCounts(3, {{0, 1, 2}, {0, 2, 1}, {1, 0, 4}});
    const auto edges = counts.toEdgeTable(1); // own: 0 -> {1, 2}, 1 -> {0}
    EXPECT_EQ(shardWork(counts, edges, LossKind::Exact, 0), (std::vector<double>{3 * 3, 4 * 2, 0}));
    EXPECT_EQ(shardWork(counts, edges, LossKind::Sampled, 1), (std::vector<double>{3 * 3, 4 * 3, 0}));
    EXPECT_EQ(shardWork(counts, edges, LossKind::SampledOwn, 8), (std::vector<double>{3 * 3, 4 * 2, 0}));
}

TEST(ShardPlanTest, AShardKeepsItsRowsUnderLocalSlots) {
    const auto edges = test_util::unevenRandomTable(40, 0.2, 4);
    const auto full = Model::randomInit({40, 4, 16}, edges, 11);
    const auto plan = ShardPlan::balanced(edges, 3);
    int64_t rows = 0;
    for (int r = 0; r < 3; ++r) {
        const auto shard = shardModel(full, plan.begin(r), plan.end(r));
        rows += shard.edges.numOwn();
        for (int64_t s = plan.begin(r); s < plan.end(r); ++s)
            for (int32_t t : edges.ownTargets(s)) {
                const int64_t local = shard.edges.slot(s, t), global = edges.slot(s, t);
                EXPECT_EQ(globalSlot(edges, plan.begin(r), local), global);
                EXPECT_TRUE(at::equal(shard.weights[local], full.weights[global]));
            }
        EXPECT_TRUE(at::equal(shard.weights[0], full.weights[0])); // the shared slot is replicated
    }
    EXPECT_EQ(rows, edges.numOwn());
}

// The sharded loss on 1 and 3 ranks against sampledLoss with the whole model: the same losses, and
// gradients (assembled from the shards) equal up to float summation order.
TEST(ShardedLossTest, EqualsTheSingleProcessLossAndGradients) {
    const auto edges = test_util::unevenRandomTable(30, 0.2, 5);
    const auto full = Model::randomInit({30, 8, 32}, edges, 12);
    const auto batch = randomBatch(edges, 7, 10, 9);
    const auto ref = sampledLoss(full, batch, LossOptions{true, 1});
    const double refNorm = gradientNorm(ref.grad);
    for (int R : {1, 3}) {
        const auto plan = ShardPlan::balanced(edges, R);
        std::vector<ShardedLossResult> results(static_cast<size_t>(R));
        const auto body = [&](int r, Communicator* comm) {
            const auto shard = shardModel(full, plan.begin(r), plan.end(r));
            results[static_cast<size_t>(r)] = shardedLoss(shard, plan, r, batch, true, 2, comm);
        };
        if (R == 1)
            body(0, nullptr);
        else
            onRanks(R, [&](int r, Communicator& comm) { body(r, &comm); });
        // assemble the global edge gradient: each own slot from its owner, the shared slot from any rank
        at::Tensor gw = at::zeros_like(full.weights), gb = at::zeros_like(full.biases);
        int64_t localEdges = 0;
        for (int r = 0; r < R; ++r) {
            const auto& res = results[static_cast<size_t>(r)];
            EXPECT_NEAR(res.loss, ref.loss, 1e-6 * std::abs(ref.loss)) << R << " ranks, rank " << r;
            EXPECT_EQ(res.loss, results[0].loss); // the same on every rank
            EXPECT_NEAR(res.gradNorm, refNorm, 1e-5 * refNorm);
            for (size_t b = 0; b < batch.size(); ++b)
                EXPECT_NEAR(res.sampleLosses[b], ref.sampleLosses[b], 1e-6 * std::abs(ref.sampleLosses[b]));
            expectClose(res.grad.nodeBias, ref.grad.nodeBias, 1e-5, "node_bias gradient");
            expectClose(res.grad.positions, ref.grad.positions, 1e-5, "positions gradient");
            localEdges += res.localEdges;
            for (size_t k = 0; k < res.grad.slots.size(); ++k) {
                const int64_t g = globalSlot(edges, plan.begin(r), res.grad.slots[k]);
                if (g == 0 && r > 0) {
                    EXPECT_TRUE(at::equal(res.grad.weights[static_cast<int64_t>(k)], gw[0]));
                    continue;
                }
                gw[g].copy_(res.grad.weights[static_cast<int64_t>(k)]);
                gb[g].copy_(res.grad.biases[static_cast<int64_t>(k)]);
            }
        }
        EXPECT_EQ(localEdges, ref.edges); // every edge evaluated once, by its owner
        // the traffic model of bench/results/sharding.md: 2 Lmax all-reduces of [B, d] floats, the edge
        // losses [B, Lmax] in doubles, the shared slot's d*d + d + 1 floats and the norm's double
        int64_t lmax = 0;
        for (const auto& s : batch)
            lmax = std::max(lmax, s.numEdges());
        const uint64_t B = batch.size(), L = static_cast<uint64_t>(lmax), d = 8;
        for (const auto& res : results)
            EXPECT_EQ(res.bytesSent, R == 1 ? 0 : 2 * L * B * d * 4 + B * L * 8 + (d * d + d + 1) * 4 + 8);
        at::Tensor rw = at::zeros_like(full.weights), rb = at::zeros_like(full.biases);
        for (size_t k = 0; k < ref.grad.slots.size(); ++k) {
            rw[ref.grad.slots[k]].copy_(ref.grad.weights[static_cast<int64_t>(k)]);
            rb[ref.grad.slots[k]].copy_(ref.grad.biases[static_cast<int64_t>(k)]);
        }
        expectClose(gw, rw, 1e-5, "edge weight gradients");
        expectClose(gb, rb, 1e-5, "edge bias gradients");
        EXPECT_GT(rw.abs().sum().item<double>(), 0);
    }
}

// The ATen step (the GPU's, here on CPU tensors over Gloo) in float64 against the core's float64
// loss, and in float32 against the CPU kernels' sharded step: losses, every gradient, the norm and
// the traffic; the replicated gradients bit-identical on every rank.
TEST(AtenShardedLossTest, EqualsTheCoresFloat64LossAndTheKernelsStep) {
    const auto edges = test_util::unevenRandomTable(30, 0.2, 5);
    const auto full32 = Model::randomInit({30, 8, 32}, edges, 12);
    const auto batch = randomBatch(edges, 7, 10, 9);
    int64_t lmax = 0;
    for (const auto& s : batch)
        lmax = std::max(lmax, s.numEdges());
    for (const auto dtype : {at::kDouble, at::kFloat}) {
        const Model full = full32.toDtype(dtype);
        const bool f64 = dtype == at::kDouble;
        const double tol = f64 ? 1e-11 : 1e-5;
        for (int R : {1, 3}) {
            const auto plan = ShardPlan::balanced(edges, R);
            std::vector<ShardedLossResult> aten(static_cast<size_t>(R)), kernels(static_cast<size_t>(R));
            const auto body = [&](int r, Communicator* comm) {
                const auto shard = shardModel(full, plan.begin(r), plan.end(r));
                aten[static_cast<size_t>(r)] = atenShardedLoss(shard, plan, r, batch, true, comm);
                if (!f64) kernels[static_cast<size_t>(r)] = shardedLoss(shard, plan, r, batch, true, 1, comm);
            };
            if (R == 1)
                body(0, nullptr);
            else
                onRanks(R, [&](int r, Communicator& comm) { body(r, &comm); });
            // the reference: the core's loss of the whole model (float64), or the kernels' step (float32)
            const auto ref = sampledLoss(full, batch, LossOptions{true, 1});
            const double refNorm = gradientNorm(ref.grad);
            at::Tensor gw = at::zeros_like(full.weights), gb = at::zeros_like(full.biases);
            int64_t localEdges = 0;
            for (int r = 0; r < R; ++r) {
                const auto& res = aten[static_cast<size_t>(r)];
                const std::string where = std::string(f64 ? "float64" : "float32") + ", " + std::to_string(R) +
                                          " ranks, rank " + std::to_string(r);
                EXPECT_EQ(res.loss, aten[0].loss) << where; // the same on every rank
                EXPECT_NEAR(res.loss, ref.loss, tol * std::abs(ref.loss)) << where;
                EXPECT_NEAR(res.gradNorm, refNorm, tol * refNorm) << where;
                for (size_t b = 0; b < batch.size(); ++b)
                    EXPECT_NEAR(res.sampleLosses[b], ref.sampleLosses[b], tol * std::abs(ref.sampleLosses[b])) << where;
                expectClose(res.grad.nodeBias, ref.grad.nodeBias, tol, "node_bias gradient, " + where);
                expectClose(res.grad.positions, ref.grad.positions, tol, "positions gradient, " + where);
                EXPECT_TRUE(at::equal(res.grad.nodeBias, aten[0].grad.nodeBias)) << where;
                EXPECT_TRUE(at::equal(res.grad.positions, aten[0].grad.positions)) << where;
                if (!f64) {
                    const auto& k = kernels[static_cast<size_t>(r)];
                    EXPECT_NEAR(res.loss, k.loss, 1e-6 * std::abs(k.loss)) << where;
                    EXPECT_EQ(res.grad.slots, k.grad.slots) << where;
                    EXPECT_EQ(res.bytesSent, k.bytesSent) << where;
                    expectClose(res.grad.weights, k.grad.weights, 1e-5, "edge weight gradients, " + where);
                    expectClose(res.grad.biases, k.grad.biases, 1e-5, "edge bias gradients, " + where);
                }
                localEdges += res.localEdges;
                for (size_t k = 0; k < res.grad.slots.size(); ++k) {
                    const int64_t g = globalSlot(edges, plan.begin(r), res.grad.slots[k]);
                    if (g == 0 && r > 0) {
                        EXPECT_TRUE(at::equal(res.grad.weights[static_cast<int64_t>(k)], gw[0])) << where;
                        continue;
                    }
                    gw[g].copy_(res.grad.weights[static_cast<int64_t>(k)]);
                    gb[g].copy_(res.grad.biases[static_cast<int64_t>(k)]);
                }
                const uint64_t B = batch.size(), L = static_cast<uint64_t>(lmax), d = 8, w = f64 ? 8 : 4;
                EXPECT_EQ(res.bytesSent, R == 1 ? 0 : 2 * L * B * d * w + B * L * 8 + (d * d + d + 1) * w + 8) << where;
            }
            EXPECT_EQ(localEdges, ref.edges);
            at::Tensor rw = at::zeros_like(full.weights), rb = at::zeros_like(full.biases);
            for (size_t k = 0; k < ref.grad.slots.size(); ++k) {
                rw[ref.grad.slots[k]].copy_(ref.grad.weights[static_cast<int64_t>(k)]);
                rb[ref.grad.slots[k]].copy_(ref.grad.biases[static_cast<int64_t>(k)]);
            }
            expectClose(gw, rw, tol, "edge weight gradients");
            expectClose(gb, rb, tol, "edge bias gradients");
            EXPECT_GT(rw.abs().sum().item<double>(), 0);
        }
    }
}

// The ATen step's chunks: with a gather bound that fits one edge at a time, the same losses and
// gradients as in one product per edge index (float64, so equal to rounding), on 2 ranks.
TEST(AtenShardedLossTest, ChunksItsGatherWithinTheBoundWithTheSameResults) {
    const auto edges = test_util::unevenRandomTable(30, 0.2, 5);
    const auto full = Model::randomInit({30, 8, 32}, edges, 12).toDtype(at::kDouble);
    const auto batch = randomBatch(edges, 7, 10, 9);
    const auto plan = ShardPlan::balanced(edges, 2);
    onRanks(2, [&](int r, Communicator& comm) {
        const auto shard = shardModel(full, plan.begin(r), plan.end(r));
        const auto whole = atenShardedLoss(shard, plan, r, batch, true, &comm);
        const auto chunked = atenShardedLoss(shard, plan, r, batch, true, &comm, nullptr, /*maxGatherBytes=*/1);
        EXPECT_NEAR(chunked.loss, whole.loss, 1e-12 * std::abs(whole.loss));
        EXPECT_EQ(chunked.localRows, whole.localRows);
        EXPECT_EQ(chunked.bytesSent, whole.bytesSent);
        ASSERT_EQ(chunked.grad.slots, whole.grad.slots);
        expectClose(chunked.grad.weights, whole.grad.weights, 1e-12, "edge weight gradients");
        expectClose(chunked.grad.positions, whole.grad.positions, 1e-12, "positions gradient");
        const auto exact = atenShardedLoss(shard, plan, r, batch, false, &comm, nullptr, 1);
        for (size_t b = 0; b < batch.size(); ++b)
            EXPECT_NEAR(exact.sampleNll[b], whole.sampleNll[b], 1e-12 * std::abs(whole.sampleNll[b]));
    });
}

// The trainer on the ATen step (BRILLM_SHARD_STEP=aten: the step a GPU rank runs, on the CPU):
// 2 shards and the 2 x 2 layout train like one process, and the run resumes on the kernels.
TEST_F(ShardingTest, TheAtenStepTrainsLikeOneProcess) {
    auto c = config(6);
    c.optimizer = OptimizerKind::AdamW;
    const auto single = train(c, m_dir / "single");
    const auto reference = ModelFile::load((m_dir / "single" / "model.brillm").string()).model;
    c.shardEdges = true;
    ::setenv("BRILLM_SHARD_STEP", "aten", 1);
    for (int shards : {2, 1}) { // 2 shards x 1 replica, then 2 x 2 (shards = 1 per group of 2 ranks: 1 x 2)
        c.shards = shards;
        const auto dir = m_dir / ("aten" + std::to_string(shards));
        std::vector<TrainResult> results(2);
        onRanks(2, [&](int r, Communicator& comm) { results[static_cast<size_t>(r)] = train(c, dir, {}, &comm); });
        expectLikeOneProcess(results, single, 6, std::to_string(shards) + " shards");
        ASSERT_TRUE(results[0].lastEvalLoss && single.lastEvalLoss); // the exact evaluation on the ATen step too
        EXPECT_NEAR(*results[0].lastEvalLoss, *single.lastEvalLoss, 1e-5 * *single.lastEvalLoss);
        expectSameModel(mergeShards(dir / "model-shards").model, reference, 1e-4);
    }
    ::unsetenv("BRILLM_SHARD_STEP");
    const auto more = resume(m_dir / "aten2", int64_t{8}); // one process on the kernels
    EXPECT_EQ(more.losses.size(), 2u);
}

// 2 and 3 shards train like one unsharded process: losses step for step, then the parameters.
TEST_F(ShardingTest, TwoAndThreeShardsTrainLikeOneProcess) {
    auto c = config(6);
    c.optimizer = OptimizerKind::AdamW;
    const auto single = train(c, m_dir / "single");
    ASSERT_EQ(single.losses.size(), 6u);
    const auto reference = ModelFile::load((m_dir / "single" / "model.brillm").string()).model;
    c.shardEdges = true;
    for (int R : {2, 3}) {
        const auto dir = m_dir / ("shards" + std::to_string(R));
        std::vector<TrainResult> results(static_cast<size_t>(R));
        onRanks(R, [&](int r, Communicator& comm) { results[static_cast<size_t>(r)] = train(c, dir, {}, &comm); });
        expectLikeOneProcess(results, single, 6, std::to_string(R) + " shards");
        for (int r = 0; r < R; ++r) {
            ASSERT_TRUE(results[static_cast<size_t>(r)].lastEvalLoss.has_value());
            EXPECT_NEAR(*results[static_cast<size_t>(r)].lastEvalLoss, *single.lastEvalLoss,
                        1e-5 * *single.lastEvalLoss);
        }
        EXPECT_EQ(results[0].modelPath, dir / "model-shards");
        const auto merged = mergeShards(dir / "model-shards");
        expectSameModel(merged.model, reference, 1e-4);
        EXPECT_EQ(merged.metadata.vocabulary.size(), static_cast<size_t>(reference.vocabSize()));

        // each rank's edge rows and AdamW moments are about 1/R of the whole table
        const auto steps = test_util::stepRecords(dir / "metrics.jsonl");
        ASSERT_EQ(steps.size(), 6u);
        const double whole = static_cast<double>(edgeTableBytes(reference));
        int64_t longestRow = 0;
        for (int64_t s = 0; s < reference.vocabSize(); ++s)
            longestRow = std::max(longestRow, reference.edges.ownCount(s));
        const double rowBytes = static_cast<double>((c.dim * c.dim + c.dim) * 4);
        double sum = 0;
        for (const auto& rk : steps.back().at("ranks")) {
            const double bytes = rk.at("edge_table_bytes").get<double>();
            EXPECT_NEAR(bytes, whole / R, (static_cast<double>(longestRow) + 1) * rowBytes) << R << " shards";
            EXPECT_LT(bytes, 0.75 * whole);
            sum += bytes;
        }
        EXPECT_NEAR(sum, whole + (R - 1) * rowBytes, 0.5); // every row once, the shared slot on every rank
        const auto ck = dir / "checkpoints" / "step-00000006";
        for (int r = 0; r < R; ++r) {
            const auto opt = ck / shardFileName(r, R, ".optimizer.safetensors");
            ASSERT_TRUE(fs::exists(opt));
            // AdamW's two moments per parameter: about twice the shard's edge rows, not the table's
            EXPECT_LT(static_cast<double>(fs::file_size(opt)), 2 * (whole / R + (longestRow + 1) * rowBytes) + 2e5);
        }
    }
}

// --shard-balance work: the same training as one process, said in the log and the config, each
// rank's candidate rows in the metrics; the run resumes on one process.
TEST_F(ShardingTest, WorkBalancedShardsTrainLikeOneProcess) {
    auto c = config(8);
    c.optimizer = OptimizerKind::AdamW;
    const auto single = train(c, m_dir / "single");
    c.shardEdges = true;
    c.shardBalance = ShardBalance::Work;
    c.steps = 6;
    const auto dir = m_dir / "work";
    std::vector<TrainResult> results(2);
    std::vector<std::string> logs(2);
    onRanks(2, [&](int r, Communicator& comm) {
        TrainCallbacks cb;
        cb.onLog = [&logs, r](const std::string& line) { logs[static_cast<size_t>(r)] += line + "\n"; };
        results[static_cast<size_t>(r)] = train(c, dir, cb, &comm);
    });
    expectLikeOneProcess(results, single, 6, "by work");
    EXPECT_NE(logs[0].find("shards by work: own slots "), std::string::npos) << logs[0];
    EXPECT_EQ(nlohmann::json::parse(std::ifstream(dir / "config.json")).at("shard_balance"), "work");
    const auto steps = test_util::stepRecords(dir / "metrics.jsonl");
    ASSERT_EQ(steps.size(), 6u);
    for (const auto& rk : steps.back().at("ranks"))
        EXPECT_GT(rk.at("candidate_rows").get<int64_t>(), 0);
    const auto more = resume(dir, int64_t{8});
    ASSERT_EQ(more.losses.size(), 2u);
    for (size_t i = 0; i < 2; ++i)
        EXPECT_NEAR(more.losses[i], single.losses[6 + i], 1e-5 * std::abs(single.losses[6 + i])) << "step " << 7 + i;
}

// A sharded run resumed with 3, then 2, then 1 rank continues the uninterrupted trajectory.
TEST_F(ShardingTest, ResumesThreeThenTwoThenOneRank) {
    auto c = config(12);
    c.optimizer = OptimizerKind::AdamW; // moments to re-partition
    const auto single = train(c, m_dir / "single");
    c.shardEdges = true;
    c.steps = 4;
    const auto dir = m_dir / "run";
    std::vector<double> losses;
    std::vector<TrainResult> three(3), two(2);
    onRanks(3, [&](int r, Communicator& comm) { three[static_cast<size_t>(r)] = train(c, dir, {}, &comm); });
    losses = three[0].losses;
    onRanks(2, [&](int r, Communicator& comm) { two[static_cast<size_t>(r)] = resume(dir, int64_t{8}, {}, &comm); });
    losses.insert(losses.end(), two[0].losses.begin(), two[0].losses.end());
    const auto one = resume(dir, int64_t{12});
    losses.insert(losses.end(), one.losses.begin(), one.losses.end());
    ASSERT_EQ(losses.size(), 12u);
    for (size_t i = 0; i < 12; ++i)
        EXPECT_NEAR(losses[i], single.losses[i], 1e-5 * std::abs(single.losses[i])) << "step " << i + 1;
    std::ifstream state(dir / "checkpoints" / "step-00000008" / "state.json");
    EXPECT_EQ(nlohmann::json::parse(state).at("shards"), 2);
    const auto merged = mergeShards(dir / "model-shards");
    EXPECT_EQ(ShardSet::open(dir / "model-shards").shards(), 1);
    expectSameModel(merged.model, ModelFile::load((m_dir / "single" / "model.brillm").string()).model, 1e-4);
}

TEST(ShardLayoutTest, SplitsTheRanksIntoShardGroupsAndReplicas) {
    const auto l = ShardLayout::of(6, 2);
    EXPECT_EQ(l.shards, 2);
    EXPECT_EQ(l.replicas, 3);
    EXPECT_EQ(l.shardOf(5), 1);
    EXPECT_EQ(l.replicaOf(5), 2);
    EXPECT_EQ(ShardLayout::of(4, 0).shards, 4); // default: every rank one shard
    EXPECT_EQ(ShardLayout::of(4, 0).replicas, 1);
    EXPECT_EQ(ShardLayout::of(1, 3).shards, 1); // one process is one shard
    EXPECT_THROW(ShardLayout::of(4, 3), InputError);
    EXPECT_THROW(ShardLayout::of(2, 4), InputError);
}

// 2 shards x 2 replicas (4 ranks) against sampledLoss over the whole batch with the whole model:
// the global loss, the averaged gradients (each shard's replicas bit-identical) and their norm;
// the bytes each rank puts into its shard group's and replica group's collectives against the
// formulas of docs/distributed.md, with the touched slots counted from the single-process
// gradients of each replica's samples.
TEST(ShardedLossTest, TwoShardsTimesTwoReplicasEqualOneProcessAndTheTrafficFormula) {
    const auto edges = test_util::unevenRandomTable(30, 0.2, 6);
    const int64_t V = 30, d = 8, P = 32, dd = d * d;
    const auto full = Model::randomInit({V, d, P}, edges, 13);
    const auto batch = randomBatch(edges, 7, 10, 10);
    const auto ref = sampledLoss(full, batch, LossOptions{true, 1});
    const double refNorm = gradientNorm(ref.grad);
    const int S = 2, Q = 2;
    const auto plan = ShardPlan::balanced(edges, S);
    std::vector<std::vector<LossSample>> parts(Q);
    for (size_t k = 0; k < batch.size(); ++k)
        parts[k % Q].push_back(batch[k]);
    std::vector<ShardedLossResult> results(S * Q);
    onRanks(S * Q, [&](int r, Communicator& comm) {
        const int s = r % S, q = r / S;
        auto group = comm.subgroup({q * S, q * S + 1}, "shard group of replica " + std::to_string(q));
        auto replicas = comm.subgroup({s, s + S}, "replica group of shard " + std::to_string(s));
        ReplicaExchange exchange(*replicas);
        const auto shard = shardModel(full, plan.begin(s), plan.end(s));
        auto res = shardedReplicaLoss(shard, plan, s, parts[static_cast<size_t>(q)], 2, group.get(), &exchange);
        res.grad.weights = res.grad.weights.clone(); // the exchange's buffers
        res.grad.biases = res.grad.biases.clone();
        res.grad.nodeBias = res.grad.nodeBias.clone();
        res.grad.positions = res.grad.positions.clone();
        EXPECT_EQ(group->bytesSent(), res.bytesSent);
        EXPECT_EQ(replicas->bytesSent(), res.replicaBytesSent);
        results[static_cast<size_t>(r)] = std::move(res);
    });
    at::Tensor gw = at::zeros_like(full.weights), gb = at::zeros_like(full.biases);
    for (int r = 0; r < S * Q; ++r) {
        const auto& res = results[static_cast<size_t>(r)];
        const int s = r % S;
        EXPECT_EQ(res.loss, results[0].loss) << "rank " << r; // the same on every rank
        EXPECT_NEAR(res.loss, ref.loss, 1e-6 * std::abs(ref.loss));
        EXPECT_EQ(res.gradNorm, results[0].gradNorm);
        EXPECT_NEAR(res.gradNorm, refNorm, 1e-5 * refNorm);
        EXPECT_EQ(res.globalSamples, static_cast<int64_t>(batch.size()));
        // the replicated parts bit-identical on all four ranks, every shard's rows on both replicas
        EXPECT_TRUE(at::equal(res.grad.nodeBias, results[0].grad.nodeBias)) << "rank " << r;
        EXPECT_TRUE(at::equal(res.grad.positions, results[0].grad.positions)) << "rank " << r;
        const auto& twin = results[static_cast<size_t>((r + S) % (S * Q))];
        EXPECT_EQ(res.grad.slots, twin.grad.slots);
        EXPECT_TRUE(at::equal(res.grad.weights, twin.grad.weights)) << "rank " << r;
        expectClose(res.grad.nodeBias, ref.grad.nodeBias, 1e-5, "node_bias gradient");
        expectClose(res.grad.positions, ref.grad.positions, 1e-5, "positions gradient");
        for (size_t k = 0; k < res.grad.slots.size(); ++k) {
            const int64_t g = globalSlot(edges, plan.begin(s), res.grad.slots[k]);
            gw[g].copy_(res.grad.weights[static_cast<int64_t>(k)]);
            gb[g].copy_(res.grad.biases[static_cast<int64_t>(k)]);
        }
    }
    at::Tensor rw = at::zeros_like(full.weights), rb = at::zeros_like(full.biases);
    for (size_t k = 0; k < ref.grad.slots.size(); ++k) {
        rw[ref.grad.slots[k]].copy_(ref.grad.weights[static_cast<int64_t>(k)]);
        rb[ref.grad.slots[k]].copy_(ref.grad.biases[static_cast<int64_t>(k)]);
    }
    expectClose(gw, rw, 1e-5, "edge weight gradients");
    expectClose(gb, rb, 1e-5, "edge bias gradients");
    EXPECT_GT(rw.abs().sum().item<double>(), 0);

    // traffic: the shard group's formula per replica (its Bq samples, at most Lq edges)...
    for (int r = 0; r < S * Q; ++r) {
        const auto& part = parts[static_cast<size_t>(r / S)];
        int64_t lmax = 0;
        for (const auto& smp : part)
            lmax = std::max(lmax, smp.numEdges());
        const uint64_t B = part.size(), L = static_cast<uint64_t>(lmax), D = d;
        EXPECT_EQ(results[static_cast<size_t>(r)].bytesSent, 2 * L * B * D * 4 + B * L * 8 + (D * D + D + 1) * 4 + 8)
            << "rank " << r;
    }
    // ... and the replica group's: 24 + 8 max_q(own_q) + 4 U (d*d + d) + 4 (d*d + d + 1 + V d + P), with
    // own_q the own slots of the shard that replica q's samples touch (from sampledLoss on them alone)
    std::vector<std::vector<int64_t>> touched(Q);
    for (int q = 0; q < Q; ++q)
        touched[q] = sampledLoss(full, parts[static_cast<size_t>(q)], LossOptions{true, 1}).grad.slots;
    for (int s = 0; s < S; ++s) {
        const int64_t first = edges.rowPtr()[static_cast<size_t>(plan.begin(s))] + 1;
        const int64_t last = edges.rowPtr()[static_cast<size_t>(plan.end(s))]; // inclusive
        std::set<int64_t> unionSlots;
        uint64_t maxOwn = 0;
        for (int q = 0; q < Q; ++q) {
            uint64_t own = 0;
            for (int64_t g : touched[q])
                if (g >= first && g <= last) {
                    ++own;
                    unionSlots.insert(g);
                }
            maxOwn = std::max(maxOwn, own);
        }
        const uint64_t U = unionSlots.size();
        ASSERT_GT(U, 0u);
        for (int q = 0; q < Q; ++q) {
            const auto& res = results[static_cast<size_t>(q * S + s)];
            EXPECT_EQ(res.touchedSlots, static_cast<int64_t>(U));
            EXPECT_EQ(res.replicaBytesSent, 24 + 8 * maxOwn + 4 * U * static_cast<uint64_t>(dd + d) +
                                                4 * static_cast<uint64_t>(dd + d + 1 + V * d + P))
                << "shard " << s << ", replica " << q;
        }
    }
}

// 2 shards x 2 replicas train like one unsharded process: losses step for step, then the parameters.
TEST_F(ShardingTest, TwoShardsTimesTwoReplicasTrainLikeOneProcess) {
    auto c = config(6);
    c.optimizer = OptimizerKind::AdamW;
    const auto single = train(c, m_dir / "single");
    const auto reference = ModelFile::load((m_dir / "single" / "model.brillm").string()).model;
    c.shardEdges = true;
    c.shards = 2;
    const auto dir = m_dir / "grid";
    std::vector<TrainResult> results(4);
    onRanks(4, [&](int r, Communicator& comm) { results[static_cast<size_t>(r)] = train(c, dir, {}, &comm); });
    expectLikeOneProcess(results, single, 6, "2 x 2");
    for (int r = 0; r < 4; ++r) {
        ASSERT_TRUE(results[static_cast<size_t>(r)].lastEvalLoss.has_value());
        EXPECT_NEAR(*results[static_cast<size_t>(r)].lastEvalLoss, *single.lastEvalLoss, 1e-5 * *single.lastEvalLoss);
    }
    // one set of shard files: two shards
    EXPECT_EQ(ShardSet::open(dir / "model-shards").shards(), 2);
    EXPECT_EQ(ShardSet::open(dir / "checkpoints" / "step-00000006").shards(), 2);
    expectSameModel(mergeShards(dir / "model-shards").model, reference, 1e-4);
    const auto steps = test_util::stepRecords(dir / "metrics.jsonl");
    ASSERT_EQ(steps.size(), 6u);
    EXPECT_EQ(steps.back().at("shards"), 2);
    EXPECT_EQ(steps.back().at("replicas"), 2);
    const double whole = static_cast<double>(edgeTableBytes(reference));
    for (const auto& rk : steps.back().at("ranks")) {
        EXPECT_LT(rk.at("edge_table_bytes").get<double>(), 0.75 * whole); // about half the table
        EXPECT_GT(rk.at("replica_exchange_bytes").get<uint64_t>(), 0u);
        EXPECT_GT(rk.at("exchange_bytes").get<uint64_t>(), rk.at("replica_exchange_bytes").get<uint64_t>());
    }
}

// A 2 x 2 run resumed by 3 shards of one replica, then by one process, continues the trajectory.
TEST_F(ShardingTest, ResumesTwoByTwoThenThreeByOneThenOneProcess) {
    auto c = config(12);
    c.optimizer = OptimizerKind::AdamW;
    const auto single = train(c, m_dir / "single");
    c.shardEdges = true;
    c.shards = 2;
    c.steps = 4;
    const auto dir = m_dir / "run";
    std::vector<TrainResult> four(4), three(3);
    onRanks(4, [&](int r, Communicator& comm) { four[static_cast<size_t>(r)] = train(c, dir, {}, &comm); });
    std::vector<double> losses = four[0].losses;
    ResumeOverrides o;
    o.steps = 8;
    EXPECT_THROW(onRanks(3, [&](int, Communicator& comm) { resume(dir, o, {}, &comm); }),
                 InputError); // 2 shards do not divide 3 ranks
    o.shards = 3;
    onRanks(3, [&](int r, Communicator& comm) { three[static_cast<size_t>(r)] = resume(dir, o, {}, &comm); });
    losses.insert(losses.end(), three[0].losses.begin(), three[0].losses.end());
    const auto one = resume(dir, int64_t{12});
    losses.insert(losses.end(), one.losses.begin(), one.losses.end());
    ASSERT_EQ(losses.size(), 12u);
    for (size_t i = 0; i < 12; ++i)
        EXPECT_NEAR(losses[i], single.losses[i], 1e-5 * std::abs(single.losses[i])) << "step " << i + 1;
    std::ifstream state(dir / "checkpoints" / "step-00000008" / "state.json");
    EXPECT_EQ(nlohmann::json::parse(state).at("shards"), 3);
    expectSameModel(mergeShards(dir / "model-shards").model,
                    ModelFile::load((m_dir / "single" / "model.brillm").string()).model, 1e-4);
}

// In the 2 x 2 layout a rank that dies (rank 3: shard 1 of replica 1) stops every other rank - its
// shard group, its replica group and the rank that shares neither - with a message naming it.
TEST_F(ShardingTest, ARankThatDiesInTheTwoByTwoLayoutIsNamed) {
    auto c = config(20);
    c.shardEdges = true;
    c.shards = 2;
    const auto messages = runWithADyingRank(c, 4, 3);
    for (int r = 0; r < 3; ++r) {
        const auto& m = messages[static_cast<size_t>(r)];
        EXPECT_NE(m.find("rank " + std::to_string(r) + " of 4"), std::string::npos) << m;
        EXPECT_NE(m.find("step"), std::string::npos) << m;
        // the dead rank among those whose heartbeat stood still
        const auto silent = m.find(" went silent");
        ASSERT_NE(silent, std::string::npos) << m;
        const auto from = m.rfind("rank", silent);
        EXPECT_NE(m.substr(from, silent - from).find('3'), std::string::npos) << m;
    }
}

// The sharded initialisation: each shard's random and bigram init (with and without the trigram
// correction) is the rows of the whole model's init, bit for bit. The table (V = 60, d = 32) holds
// more than one 4 MB chunk of random draws, so the chunked draws are checked across chunk borders.
// Random windows over V nodes (small ids frequent: uneven rows) and their bigram counts.
struct InitData {
    std::vector<std::vector<int32_t>> windows;
    BigramTable counts;
    EdgeTable edges;
};
InitData initData(int64_t V, int count, uint32_t seed) {
    std::mt19937 rng(seed);
    InitData out;
    out.windows.resize(static_cast<size_t>(count));
    std::map<std::pair<int32_t, int32_t>, uint64_t> pairs;
    for (auto& w : out.windows) {
        w.resize(16);
        for (auto& t : w)
            t = static_cast<int32_t>(rng() % (rng() % 2 ? 12 : V));
        for (size_t i = 1; i < w.size(); ++i)
            ++pairs[{w[i - 1], w[i]}];
    }
    std::vector<BigramCount> counted;
    for (const auto& [p, c] : pairs)
        counted.push_back({p.first, p.second, c});
    out.counts = BigramTable::fromCounts(V, counted);
    out.edges = out.counts.toEdgeTable(1);
    return out;
}

TEST(ShardInitTest, EachShardIsTheRowsOfTheWholeInitBitForBit) {
    const int64_t V = 60, d = 32;
    const auto data = initData(V, 300, 21);
    const auto& windows = data.windows;
    const auto& counts = data.counts;
    const auto& edges = data.edges;
    ASSERT_GT(edges.numSlots() * d * d, int64_t{1} << 20);
    const auto trigrams = countTrigrams(windows, V);
    const ModelConfig config{V, d, 64};
    const auto same = [](const Model& shard, const Model& slice, const std::string& what) {
        EXPECT_EQ(shard.edges, slice.edges) << what;
        EXPECT_TRUE(at::equal(shard.weights, slice.weights)) << what << ": weights";
        EXPECT_TRUE(at::equal(shard.biases, slice.biases)) << what << ": biases";
        EXPECT_TRUE(at::equal(shard.nodeBias, slice.nodeBias)) << what << ": node_bias";
        EXPECT_TRUE(at::equal(shard.positions, slice.positions)) << what << ": positions";
    };
    const auto random = Model::randomInit(config, edges, 5);
    BigramInitOptions plain;
    plain.seed = 7;
    plain.positionSlope = 0.1;
    auto context = plain;
    context.contextCode = 4.0;
    const auto bigram = bigramInitModel(counts, edges, config, plain);
    const auto withContext = bigramInitModel(counts, edges, config, context, &trigrams);
    for (int parts : {1, 3}) {
        const auto plan = ShardPlan::balanced(edges, parts);
        for (int r = 0; r < parts; ++r) {
            const int64_t b = plan.begin(r), e = plan.end(r);
            const auto where = std::to_string(parts) + " shards, shard " + std::to_string(r);
            const auto rs = randomInitShard(config, edges, 5, b, e);
            EXPECT_EQ(rs.weights.size(0),
                      1 + edges.rowPtr()[static_cast<size_t>(e)] - edges.rowPtr()[static_cast<size_t>(b)])
                << "only the shard's rows are allocated";
            same(rs, shardModel(random, b, e), "random init, " + where);
            same(bigramInitShard(counts, edges, config, plain, nullptr, b, e), shardModel(bigram, b, e),
                 "bigram init, " + where);
            same(bigramInitShard(counts, edges, config, context, &trigrams, b, e), shardModel(withContext, b, e),
                 "bigram init with the trigram correction, " + where);
        }
    }
}

// The trigram correction's scale chosen on validation windows with the shards (the sharded exact
// loss, 2 ranks) picks validatedInit's scale, with the same losses, and its rows bit for bit.
TEST(ShardInitTest, TheShardsChooseTheTrigramScaleOfTheWholeInit) {
    const int64_t V = 40, d = 8;
    const auto data = initData(V, 200, 22);
    const std::vector<std::vector<int32_t>> train(data.windows.begin(), data.windows.begin() + 170),
        validation(data.windows.begin() + 170, data.windows.end());
    const ModelConfig config{V, d, 64};
    BigramInitOptions o;
    o.seed = 3;
    o.contextCode = 4.0;
    const auto whole = validatedInit(data.counts, train, validation, data.edges, config, o, 1);
    ASSERT_EQ(whole.validationLoss.size(), 5u);
    const auto plan = ShardPlan::balanced(data.edges, 2);
    std::vector<ValidatedInit> shards(2);
    onRanks(2, [&](int r, Communicator& comm) {
        shards[static_cast<size_t>(r)] =
            validatedInitShard(data.counts, train, validation, data.edges, config, o, 1, plan, r, &comm);
    });
    for (int r = 0; r < 2; ++r) {
        const auto& sh = shards[static_cast<size_t>(r)];
        EXPECT_EQ(sh.contextScale, whole.contextScale) << "shard " << r;
        ASSERT_EQ(sh.validationLoss.size(), whole.validationLoss.size());
        for (size_t k = 0; k < sh.validationLoss.size(); ++k) {
            EXPECT_EQ(sh.validationLoss[k].first, whole.validationLoss[k].first);
            EXPECT_NEAR(sh.validationLoss[k].second, whole.validationLoss[k].second, 1e-6);
        }
        const auto slice = shardModel(whole.model, plan.begin(r), plan.end(r));
        EXPECT_TRUE(at::equal(sh.model.weights, slice.weights)) << "shard " << r;
        EXPECT_TRUE(at::equal(sh.model.biases, slice.biases)) << "shard " << r;
        EXPECT_TRUE(at::equal(sh.model.nodeBias, slice.nodeBias)) << "shard " << r;
    }
}

TEST_F(ShardingTest, RefusesHalfPrecisionAndAManifestThatDoesNotCoverTheSources) {
    auto c = config(2);
    c.shardEdges = true;
    c.precision = "bf16";
    try {
        train(c, m_dir / "bf16");
        FAIL() << "a sharded run in bf16 was accepted";
    } catch (const InputError& e) {
        EXPECT_NE(std::string(e.what()).find("--shard-edges trains in float32"), std::string::npos) << e.what();
    }
    EXPECT_FALSE(fs::exists(m_dir / "bf16"));
    c.precision = "fp32";
    train(c, m_dir / "ok");
    const auto manifest = m_dir / "ok" / "model-shards" / "shards.json";
    auto j = nlohmann::json::parse(std::ifstream(manifest));
    j["files"][0]["source_end"] = 3;
    std::ofstream(manifest) << j.dump();
    try {
        mergeShards(m_dir / "ok" / "model-shards");
        FAIL() << "a manifest whose shards do not cover the sources was accepted";
    } catch (const CheckpointError& e) {
        EXPECT_NE(std::string(e.what()).find("shards.json"), std::string::npos) << e.what();
    }
}

// A rank that dies mid-run (here: its callback throws and its process group goes away) makes the
// other stop within the timeout with a TrainingError naming itself, the operation and the step.
TEST_F(ShardingTest, ARankThatDiesStopsTheOthers) {
    auto c = config(20);
    c.shardEdges = true;
    const std::string survivor = runWithADyingRank(c, 2, 1)[0];
    EXPECT_NE(survivor.find("rank 0 of 2"), std::string::npos) << survivor;
    EXPECT_NE(survivor.find("step"), std::string::npos) << survivor;
}
