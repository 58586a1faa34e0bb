// SPDX-License-Identifier: GPL-3.0-or-later
#include "brillm/error.h"
#include "brillm/model/decode.h"
#include "reference_model.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>

using namespace brillm;
using brillm::testing::randomModel;
using brillm::testing::referenceEnergies;

namespace {

// Greedy decoding done the slow way: recompute every energy of the whole path with the
// reference implementation, exclude the self-loop, take the first maximum.
std::vector<int32_t> referenceGreedy(const Model& m64, std::vector<int32_t> tokens, int n, int64_t peOffset) {
    for (int g = 0; g < n; ++g) {
        auto probe = tokens;
        probe.push_back(0); // a dummy last edge so the reference scores the next step
        const auto ref = referenceEnergies(m64, probe, peOffset);
        const auto row = ref.energies[static_cast<int64_t>(tokens.size()) - 1].contiguous();
        const double* e = row.data_ptr<double>();
        int32_t best = -1;
        for (int32_t v = 0; v < m64.vocabSize(); ++v) {
            if (v == tokens.back()) continue;
            if (best < 0 || e[v] > e[best]) best = v;
        }
        tokens.push_back(best);
    }
    return tokens;
}

} // namespace

TEST(Decode, GreedyMatchesTheReferenceAndIsDeterministic) {
    const auto m64 = randomModel(50, 8, 0.2, 5, at::kDouble);
    const std::vector<int32_t> prompt{1, 2, 3};
    DecodeOptions o;
    o.maxNewTokens = 12;
    const auto a = decode(m64, prompt, o);
    const auto b = decode(m64, prompt, o);
    EXPECT_EQ(a.tokens, b.tokens);
    EXPECT_EQ(a.tokens, referenceGreedy(m64, prompt, 12, 1));
    EXPECT_EQ(a.stopReason, "max_tokens");
    // float32 decodes the same path on this model
    EXPECT_EQ(decode(m64.toDtype(at::kFloat), prompt, o).tokens, a.tokens);
}

TEST(Decode, ReferenceDecodeUsesTheReleasedPositionOffsets) {
    const auto m64 = randomModel(50, 8, 0.2, 6, at::kDouble);
    const std::vector<int32_t> prompt{7, 9, 11, 13};
    DecodeOptions o;
    o.maxNewTokens = 10;
    o.referenceDecode = true;
    const auto t = decode(m64, prompt, o);
    EXPECT_EQ(t.tokens, referenceGreedy(m64, prompt, 10, 0));
    for (const auto& s : t.steps)
        EXPECT_EQ(s.peIndex, s.index);
    o.referenceDecode = false;
    const auto train = decode(m64, prompt, o);
    for (const auto& s : train.steps)
        EXPECT_EQ(s.peIndex, s.index + 1);
    EXPECT_NE(t.tokens, train.tokens); // the offset matters on this model
}

TEST(Decode, TiesGoToTheLowestIdAndAreReported) {
    // no own edges at all: every candidate is on the shared slot and ties exactly
    const auto m = Model::randomInit({6, 4, 16}, EdgeTable::fromPairs(6, {}), 2);
    DecodeOptions o;
    o.maxNewTokens = 3;
    const auto t = decode(m, std::vector<int32_t>{0}, o);
    ASSERT_EQ(t.generated(), (std::vector<int32_t>{1, 0, 1})); // self-loop excluded: 0 -> 1 -> 0 -> 1
    for (const auto& s : t.steps) {
        EXPECT_EQ(s.ties, 5);
        EXPECT_EQ(s.rank, 1);
        EXPECT_TRUE(s.shared);
        EXPECT_EQ(s.sharedCandidates, 5);
        EXPECT_NEAR(s.probability, 0.2, 1e-12);
    }
    o.excludeSelfLoop = false;
    EXPECT_EQ(decode(m, std::vector<int32_t>{0}, o).generated(), (std::vector<int32_t>{0, 0, 0}));
}

TEST(Decode, SamplingIsReproducibleAndFollowsTheDistribution) {
    const auto m = randomModel(20, 4, 0.4, 8, at::kDouble);
    DecodeOptions o;
    o.greedy = false;
    o.maxNewTokens = 30;
    o.seed = 42;
    const auto a = decode(m, std::vector<int32_t>{3}, o);
    EXPECT_EQ(a.tokens, decode(m, std::vector<int32_t>{3}, o).tokens);
    o.seed = 43;
    EXPECT_NE(a.tokens, decode(m, std::vector<int32_t>{3}, o).tokens);

    // empirical frequencies of one step against softmax(energy / T)
    SignalPath path(m);
    path.start(3);
    path.advance(5);
    const auto sc = path.scoreNext();
    for (double temperature : {1.0, 0.5}) {
        o.temperature = temperature;
        TokenSampler sampler(1234);
        std::map<int32_t, int> counts;
        const int n = 40000;
        for (int k = 0; k < n; ++k)
            ++counts[sampler.choose(sc, o)];
        const auto e = sc.denseEnergies();
        double z = 0;
        for (double v : e)
            if (!std::isnan(v)) z += std::exp(v / temperature);
        for (int32_t t = 0; t < 20; ++t) {
            const double p = std::isnan(e[t]) ? 0 : std::exp(e[t] / temperature) / z;
            const double sd = std::sqrt(p * (1 - p) / n);
            EXPECT_NEAR(counts[t] / static_cast<double>(n), p, 5 * sd + 1e-9) << "target " << t << " T " << temperature;
        }
    }
}

TEST(Decode, TopKAndTopPRestrictTheCandidates) {
    const auto m = randomModel(30, 4, 0.5, 10, at::kDouble);
    SignalPath path(m);
    path.start(2);
    const auto sc = path.scoreNext();
    const auto top = sc.top(3);
    DecodeOptions o;
    o.greedy = false;
    o.topK = 3;
    TokenSampler sampler(5);
    std::map<int32_t, int> counts;
    for (int k = 0; k < 3000; ++k)
        ++counts[sampler.choose(sc, o)];
    EXPECT_EQ(counts.size(), 3u);
    for (const auto& [t, e] : top)
        EXPECT_GT(counts[t], 0);
    o.topK = 1;
    EXPECT_EQ(sampler.choose(sc, o), sc.best().target);
    o.topK = 0;
    o.topP = 1e-9; // the smallest set reaching any mass: the best candidate alone
    EXPECT_EQ(sampler.choose(sc, o), sc.best().target);
    // top-p = p(best) + p(second) keeps exactly the two best
    o.topP = (sc.probability(top[0].first) + sc.probability(top[1].first)) * (1 - 1e-9);
    std::map<int32_t, int> c2;
    for (int k = 0; k < 2000; ++k)
        ++c2[sampler.choose(sc, o)];
    EXPECT_EQ(c2.size(), 2u);
    EXPECT_TRUE(c2.count(top[0].first) && c2.count(top[1].first));
}

TEST(Decode, TraceRecordsEveryStep) {
    const auto m = randomModel(25, 4, 0.3, 11, at::kFloat);
    const std::vector<int32_t> prompt{4, 8, 15, 16};
    DecodeOptions o;
    o.maxNewTokens = 5;
    int callbacks = 0;
    const auto t = decode(m, prompt, o, [&](const TraceStep&) { return ++callbacks, true; });
    EXPECT_EQ(callbacks, 8);
    ASSERT_EQ(t.steps.size(), 8u);
    EXPECT_EQ(t.tokens.size(), 9u);
    EXPECT_EQ(t.initialSignal.size(), 4u);
    for (size_t i = 0; i < t.steps.size(); ++i) {
        const auto& s = t.steps[i];
        EXPECT_EQ(s.index, static_cast<int64_t>(i));
        EXPECT_EQ(s.generated, i >= 3);
        EXPECT_EQ(s.source, t.tokens[i]);
        EXPECT_EQ(s.target, t.tokens[i + 1]);
        EXPECT_EQ(s.slot, m.edges.slot(s.source, s.target));
        EXPECT_EQ(s.mixWeights.size(), i);
        EXPECT_EQ(s.energies.size(), 25u);
        EXPECT_TRUE(std::isnan(s.energies[s.source]));
        EXPECT_NEAR(s.energies[s.target], s.energy, 1e-6);
        EXPECT_EQ(s.input.size(), 4u);
        EXPECT_EQ(s.output.size(), 4u);
        if (s.generated) {
            EXPECT_EQ(s.rank, 1);
            EXPECT_EQ(s.target, s.best);
        }
    }
    // a forced path scores the same steps as decoding the same tokens
    const auto forced = tracePath(m, t.tokens, o);
    ASSERT_EQ(forced.steps.size(), t.steps.size());
    for (size_t i = 0; i < forced.steps.size(); ++i) {
        for (size_t v = 0; v < 25; ++v) {
            const double a = forced.steps[i].energies[v], b = t.steps[i].energies[v];
            EXPECT_TRUE(a == b || (std::isnan(a) && std::isnan(b))) << "step " << i << " target " << v;
        }
        EXPECT_EQ(forced.steps[i].rank, t.steps[i].rank);
    }
    // cancellation from the callback
    const auto c = decode(m, prompt, o, [](const TraceStep& s) { return s.index < 4; });
    EXPECT_EQ(c.stopReason, "cancelled");
    EXPECT_EQ(c.steps.size(), 5u);
}

TEST(Decode, BannedTokensAreNeverChosenButStayScored) {
    const auto m = randomModel(20, 4, 0.4, 14, at::kDouble);
    DecodeOptions o;
    o.maxNewTokens = 10;
    const auto free = decode(m, std::vector<int32_t>{2}, o);
    o.bannedTokens = {free.tokens[1], free.tokens[2]};
    const auto t = decode(m, std::vector<int32_t>{2}, o);
    for (size_t i = 1; i < t.tokens.size(); ++i) {
        EXPECT_NE(t.tokens[i], o.bannedTokens[0]);
        EXPECT_NE(t.tokens[i], o.bannedTokens[1]);
    }
    // the first step now takes the best candidate that is not banned: rank 2 when the free best was banned
    EXPECT_EQ(t.steps[0].rank, 2);
    EXPECT_EQ(t.steps[0].best, free.tokens[1]);
    o.greedy = false;
    o.seed = 3;
    const auto s = decode(m, std::vector<int32_t>{2}, o);
    for (size_t i = 1; i < s.tokens.size(); ++i)
        EXPECT_NE(s.tokens[i], o.bannedTokens[0]);
}

TEST(Decode, StopTokensAndContextLimit) {
    const auto m = randomModel(10, 4, 0.5, 12, at::kDouble, /*maxPositions=*/6);
    DecodeOptions o;
    o.maxNewTokens = 100;
    const auto full = decode(m, std::vector<int32_t>{1, 2}, o);
    EXPECT_EQ(full.stopReason, "context_full");
    EXPECT_EQ(full.steps.size(), 5u);
    o.stopTokens = {full.tokens[3]};
    const auto stopped = decode(m, std::vector<int32_t>{1, 2}, o);
    EXPECT_EQ(stopped.stopReason, "stop_token");
    EXPECT_EQ(stopped.tokens.back(), full.tokens[3]);
    EXPECT_EQ(stopped.tokens.size(), 4u);
}

TEST(Decode, BadInputGivesClearErrors) {
    const auto m = randomModel(10, 4, 0.5, 13, at::kFloat, /*maxPositions=*/6);
    DecodeOptions o;
    const auto expectError = [&](std::vector<int32_t> prompt, const DecodeOptions& opt, const std::string& needle) {
        try {
            decode(m, prompt, opt);
            ADD_FAILURE() << "expected InputError containing '" << needle << "'";
        } catch (const InputError& e) {
            EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
        }
    };
    expectError({}, o, "empty prompt");
    expectError({1, 10}, o, "unknown node id 10");
    expectError({1, 2, 3, 4, 5, 6, 7}, o, "allows at most 5");
    DecodeOptions s = o;
    s.greedy = false;
    s.temperature = 0;
    expectError({1}, s, "temperature");
    s.temperature = 1;
    s.topP = 0;
    expectError({1}, s, "top-p");
}
