// SPDX-License-Identifier: GPL-3.0-or-later
#include "brillm/error.h"
#include "brillm/model/loss.h"
#include "reference_model.h"

#include <gtest/gtest.h>

#include <random>

using namespace brillm;
using brillm::testing::randomModel;
using brillm::testing::referenceEnergies;
using brillm::testing::referenceLoss;

namespace {

struct Batch {
    std::vector<std::vector<int32_t>> tokens;
    std::vector<std::vector<std::vector<int32_t>>> negatives;
    std::vector<LossSample> samples;
};

Batch makeBatch(int64_t V, int B, int len, int k, uint64_t seed) {
    std::mt19937 rng(static_cast<unsigned>(seed));
    std::uniform_int_distribution<int32_t> node(0, static_cast<int32_t>(V) - 1);
    Batch b;
    for (int s = 0; s < B; ++s) {
        std::vector<int32_t> t(static_cast<size_t>(len));
        for (auto& v : t)
            v = node(rng);
        std::vector<std::vector<int32_t>> neg(static_cast<size_t>(len - 1));
        for (int i = 0; i + 1 < len; ++i)
            while (static_cast<int>(neg[static_cast<size_t>(i)].size()) < k) {
                const int32_t v = node(rng);
                if (v != t[static_cast<size_t>(i) + 1]) neg[static_cast<size_t>(i)].push_back(v);
            }
        b.samples.push_back(LossSample::fromNegatives(t, neg));
        b.tokens.push_back(t);
        b.negatives.push_back(neg);
    }
    return b;
}

} // namespace

TEST(Loss, ForwardAndGradientsMatchAutogradOfTheReference) {
    auto m = randomModel(30, 6, 0.25, 21, at::kDouble);
    const auto batch = makeBatch(30, 3, 7, 5, 1);
    const auto ours = sampledLoss(m, batch.samples, LossOptions{true, 2});

    auto w = m.weights.clone().requires_grad_(true);
    auto b = m.biases.clone().requires_grad_(true);
    auto nb = m.nodeBias.clone().requires_grad_(true);
    auto pos = m.positions.clone().requires_grad_(true);
    Model g = m;
    g.weights = w, g.biases = b, g.nodeBias = nb, g.positions = pos;
    auto ref = referenceLoss(g, batch.tokens, batch.negatives);
    ref.backward();
    EXPECT_NEAR(ours.loss, ref.item<double>(), 1e-12);

    // dense reference gradient vs our sparse one
    auto dense = at::zeros_like(m.weights);
    auto denseB = at::zeros_like(m.biases);
    for (size_t r = 0; r < ours.grad.slots.size(); ++r) {
        dense[static_cast<int64_t>(ours.grad.slots[r])].copy_(ours.grad.weights[static_cast<int64_t>(r)]);
        denseB[static_cast<int64_t>(ours.grad.slots[r])].copy_(ours.grad.biases[static_cast<int64_t>(r)]);
    }
    EXPECT_TRUE(at::allclose(dense, w.grad(), 1e-10, 1e-12)) << (dense - w.grad()).abs().max().item<double>();
    EXPECT_TRUE(at::allclose(denseB, b.grad(), 1e-10, 1e-12));
    EXPECT_TRUE(at::allclose(ours.grad.nodeBias, nb.grad(), 1e-10, 1e-12));
    EXPECT_TRUE(at::allclose(ours.grad.positions, pos.grad(), 1e-10, 1e-12));
    // only touched slots are listed, and they really are touched
    const auto touched = w.grad().abs().sum({1, 2}).ne(0).nonzero().squeeze(1);
    EXPECT_EQ(static_cast<int64_t>(ours.grad.slots.size()), touched.size(0));
    EXPECT_GT(ours.grad.positions.abs().sum().item<double>(), 0);
}

TEST(Loss, GradientsMatchFiniteDifferences) {
    auto m = randomModel(12, 4, 0.4, 22, at::kDouble);
    const auto batch = makeBatch(12, 2, 6, 3, 2);
    const auto ours = sampledLoss(m, batch.samples);
    const double h = 1e-6;
    auto check = [&](at::Tensor param, int64_t flat, double analytic, const char* what) {
        double* p = param.data_ptr<double>() + flat;
        const double old = *p;
        *p = old + h;
        const double up = sampledLoss(m, batch.samples, LossOptions{false, 1}).loss;
        *p = old - h;
        const double down = sampledLoss(m, batch.samples, LossOptions{false, 1}).loss;
        *p = old;
        EXPECT_NEAR((up - down) / (2 * h), analytic, 1e-7) << what << " element " << flat;
    };
    // a few weight entries of touched slots, node biases of the first tokens, position logits
    for (size_t r = 0; r < std::min<size_t>(ours.grad.slots.size(), 4); ++r)
        for (int64_t e : {0, 5, 15}) {
            const int64_t slot = ours.grad.slots[r];
            check(m.weights, slot * 16 + e, ours.grad.weights.data_ptr<double>()[r * 16 + e], "weights");
            if (e < 4) check(m.biases, slot * 4 + e, ours.grad.biases.data_ptr<double>()[r * 4 + e], "biases");
        }
    for (int64_t e = 0; e < 4; ++e) {
        const int64_t flat = batch.tokens[0][0] * 4 + e;
        check(m.nodeBias, flat, ours.grad.nodeBias.data_ptr<double>()[flat], "node_bias");
    }
    for (int64_t j = 0; j < 5; ++j)
        check(m.positions, j, ours.grad.positions.data_ptr<double>()[j], "positions");
}

TEST(Loss, Float32AgreesAndThreadCountDoesNotMatter) {
    const auto m64 = randomModel(40, 8, 0.2, 23, at::kDouble);
    const auto batch = makeBatch(40, 5, 9, 6, 3);
    const auto a = sampledLoss(m64, batch.samples, LossOptions{true, 1});
    const auto b = sampledLoss(m64, batch.samples, LossOptions{true, 2});
    EXPECT_NEAR(a.loss, b.loss, 1e-14);
    EXPECT_EQ(a.grad.slots, b.grad.slots);
    EXPECT_TRUE(at::allclose(a.grad.weights, b.grad.weights, 1e-12, 1e-14));
    const auto f = sampledLoss(m64.toDtype(at::kFloat), batch.samples, LossOptions{true, 2});
    EXPECT_NEAR(f.loss, a.loss, 1e-5);
    EXPECT_TRUE(at::allclose(f.grad.weights.to(at::kDouble), a.grad.weights, 1e-3, 1e-5));
    EXPECT_EQ(a.edges, 5 * 8);
    EXPECT_EQ(a.candidateEdges, 5 * 8 * 7);
}

TEST(Loss, ExactLossIsCrossEntropyOverAllTargets) {
    const auto m = randomModel(30, 4, 0.3, 24, at::kDouble);
    const std::vector<int32_t> tokens{1, 1, 5, 9, 2, 28};
    const auto ours = exactLoss(m, tokens);
    const auto ref = referenceEnergies(m, tokens, 1).energies;
    double total = 0;
    for (size_t i = 0; i + 1 < tokens.size(); ++i) {
        const auto row = ref[static_cast<int64_t>(i)];
        const double ce = at::logsumexp(row, 0).item<double>() - row[tokens[i + 1]].item<double>();
        EXPECT_NEAR(ours.edgeLosses[i], ce, 1e-12);
        total += ce;
    }
    EXPECT_NEAR(ours.loss, total / 5, 1e-12);
    EXPECT_NEAR(ours.perplexity, std::exp(total / 5), 1e-9);
}

TEST(Loss, BadSamplesAreRejected) {
    const auto m = randomModel(10, 4, 0.3, 25, at::kFloat);
    EXPECT_THROW(sampledLoss(m, std::vector<LossSample>{}), InputError);
    EXPECT_THROW(LossSample::fromNegatives({1}, {}), InputError);
    auto s = LossSample::fromNegatives({1, 2, 3}, {{4, 5}, {6}});
    EXPECT_NO_THROW(sampledLoss(m, std::vector<LossSample>{s}));
    auto bad = s;
    bad.candidates[1] = 2; // a negative equal to the target
    EXPECT_THROW(sampledLoss(m, std::vector<LossSample>{bad}), InputError);
    bad = s;
    bad.candidates[0] = 7; // the first candidate must be the target
    EXPECT_THROW(sampledLoss(m, std::vector<LossSample>{bad}), InputError);
    bad = s;
    bad.tokens[2] = 99;
    EXPECT_THROW(sampledLoss(m, std::vector<LossSample>{bad}), InputError);
    EXPECT_THROW(exactLoss(m, std::vector<int32_t>{3}), InputError);
}

// The weighted candidates of exactCandidates (own targets + one shared target standing for all)
// against the reference's loss with every other node listed as a negative, and its autograd.
TEST(Loss, ExactCandidatesEqualTheLossOverAllTargets) {
    const int64_t V = 24;
    auto m = randomModel(V, 4, 0.3, 26, at::kDouble);
    std::vector<std::vector<int32_t>> tokens{{1, 1, 5, 9, 2, 23, 0}, {7, 3, 3, 12, 5}};
    std::vector<LossSample> weighted;
    std::vector<std::vector<std::vector<int32_t>>> negatives;
    int64_t sharedTargets = 0, ownTargets = 0;
    for (const auto& t : tokens) {
        weighted.push_back(LossSample::exactCandidates(t, m.edges));
        std::vector<std::vector<int32_t>> neg(t.size() - 1);
        for (size_t i = 0; i + 1 < t.size(); ++i) {
            for (int32_t v = 0; v < V; ++v)
                if (v != t[i + 1]) neg[i].push_back(v);
            (m.edges.isShared(t[i], t[i + 1]) ? sharedTargets : ownTargets)++;
        }
        negatives.push_back(neg);
    }
    ASSERT_GT(sharedTargets, 0); // both kinds of positive are covered
    ASSERT_GT(ownTargets, 0);
    // every edge's weights add up to V, and only ownCount + 1 candidates are evaluated
    for (size_t k = 0; k < tokens.size(); ++k)
        for (size_t i = 0; i + 1 < tokens[k].size(); ++i) {
            double sum = 0;
            for (int64_t c = weighted[k].offsets[i]; c < weighted[k].offsets[i + 1]; ++c)
                sum += weighted[k].weights[static_cast<size_t>(c)];
            EXPECT_EQ(sum, static_cast<double>(V));
            EXPECT_LE(weighted[k].offsets[i + 1] - weighted[k].offsets[i], m.edges.ownCount(tokens[k][i]) + 1);
        }
    const auto ours = sampledLoss(m, weighted, LossOptions{true, 2});

    auto w = m.weights.clone().requires_grad_(true);
    auto b = m.biases.clone().requires_grad_(true);
    auto nb = m.nodeBias.clone().requires_grad_(true);
    auto pos = m.positions.clone().requires_grad_(true);
    Model g = m;
    g.weights = w, g.biases = b, g.nodeBias = nb, g.positions = pos;
    auto ref = referenceLoss(g, tokens, negatives);
    ref.backward();
    EXPECT_NEAR(ours.loss, ref.item<double>(), 1e-12);
    // and against the exact loss of the signal path (independent code: SignalPath::scoreNext)
    EXPECT_NEAR(ours.sampleLosses[0], exactLoss(m, tokens[0]).loss, 1e-12);
    EXPECT_NEAR(ours.sampleLosses[1], exactLoss(m, tokens[1]).loss, 1e-12);

    auto dense = at::zeros_like(m.weights);
    for (size_t r = 0; r < ours.grad.slots.size(); ++r)
        dense[static_cast<int64_t>(ours.grad.slots[r])].copy_(ours.grad.weights[static_cast<int64_t>(r)]);
    EXPECT_TRUE(at::allclose(dense, w.grad(), 1e-10, 1e-12)) << (dense - w.grad()).abs().max().item<double>();
    EXPECT_TRUE(at::allclose(ours.grad.nodeBias, nb.grad(), 1e-10, 1e-12));
    EXPECT_TRUE(at::allclose(ours.grad.positions, pos.grad(), 1e-10, 1e-12));
}

TEST(Loss, BadCandidateWeightsAreRejected) {
    const auto m = randomModel(10, 4, 0.3, 27, at::kFloat);
    auto s = LossSample::exactCandidates({1, 2, 3}, m.edges);
    s.weights.pop_back();
    EXPECT_THROW(sampledLoss(m, std::vector<LossSample>{s}), InputError);
    s = LossSample::exactCandidates({1, 2, 3}, m.edges);
    s.weights.back() = 0;
    EXPECT_THROW(sampledLoss(m, std::vector<LossSample>{s}), InputError);
}
