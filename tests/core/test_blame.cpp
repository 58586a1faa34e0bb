// SPDX-License-Identifier: GPL-3.0-or-later
// Error tracing: the leave-one-out margins are checked against brute force (a modified copy of
// the model, scored from scratch by SignalPath), the gradients against LibTorch autograd on an
// independent ATen implementation of the margin, and forcePath against tracePath.
#include "brillm/error.h"
#include "brillm/model/blame.h"
#include "brillm/model/decode.h"
#include "brillm/model/model_edit.h"
#include "reference_model.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace brillm {
namespace {

using testing::randomModel;
using testing::referencePe;

// The margin from scratch with the production scorer.
double scratchMargin(const Model& m, const std::vector<int32_t>& path, int32_t a, int32_t b,
                     PositionConvention convention = PositionConvention::Training) {
    SignalPath p(m, convention);
    p.start(path[0]);
    for (size_t k = 1; k < path.size(); ++k)
        p.advance(path[k]);
    const auto s = p.scoreNext(ScoreOptions{false});
    return s.rawEnergy(a) - s.rawEnergy(b);
}

// An independent margin with ATen ops (autograd-capable), with positions dropped by mask.
at::Tensor referenceMargin(const Model& m, const std::vector<int32_t>& path, int32_t a, int32_t b) {
    const int64_t d = m.dim();
    const auto pe = referencePe(m.config.maxPositions, d, m.dtype());
    const auto s =
        at::gelu(at::ones({d}, m.weights.options()) / static_cast<double>(d) + m.nodeBias[path[0]][0] + pe[0]);
    std::vector<at::Tensor> ys;
    const auto n = static_cast<int64_t>(path.size()) - 1;
    at::Tensor x = s;
    for (int64_t k = 0; k <= n; ++k) {
        if (k > 0) {
            const auto w = m.positions.index({0, at::indexing::Slice(0, k), 0}).softmax(0);
            x = (at::stack(ys) * w.unsqueeze(1)).sum(0);
        }
        if (k == n) break;
        const auto slot = m.edges.slot(path[static_cast<size_t>(k)], path[static_cast<size_t>(k) + 1]);
        ys.push_back(at::gelu(at::matmul(x, m.weights[slot]) + m.biases[slot][0] + pe[k + 1]));
    }
    const auto energy = [&](int32_t c) {
        const auto slot = m.edges.slot(path.back(), c);
        return at::gelu(at::matmul(x, m.weights[slot]) + m.biases[slot][0] + pe[n + 1]).norm();
    };
    return energy(a) - energy(b);
}

std::vector<int32_t> testPath() {
    return {3, 7, 1, 3, 7, 5, 0, 9};
} // 3 -> 7 occurs twice

TEST(Blame, LeaveOneOutMatchesBruteForceShared) {
    const auto m = randomModel(12, 4, 0.5, 11, at::kDouble, 32);
    const auto path = testPath();
    for (const auto& [a, b] : {std::pair{2, 6}, std::pair{9, 4}, std::pair{11, 3}}) {
        BlameQuery q{path, a, b, AblationMode::Shared};
        const auto r = blame(m, q);
        EXPECT_NEAR(r.margin, scratchMargin(m, path, a, b), 1e-12);
        EXPECT_EQ(r.step, static_cast<int64_t>(path.size()) - 1);
        // path edges (distinct pairs) + candidate-only pairs + positions + start node
        size_t edges = 0, positions = 0, starts = 0;
        for (const auto& c : r.contributors) {
            Model mod = m.clone();
            switch (c.kind) {
            case ContributorKind::PathEdge:
            case ContributorKind::CandidateEdge: {
                ++edges;
                EXPECT_EQ(c.slot, m.edges.slot(c.source, c.target));
                if (c.slot == 0) {
                    EXPECT_FALSE(c.applicable);
                    EXPECT_EQ(c.effect, 0.0);
                    continue;
                }
                mod.weights[c.slot].copy_(m.weights[0]);
                mod.biases[c.slot].copy_(m.biases[0]);
                break;
            }
            case ContributorKind::Position:
                ++positions;
                if (c.edgeIndex == 0) continue; // x_1 would have no positions left (checked below)
                mod.positions[0][c.edgeIndex][0] = -std::numeric_limits<double>::infinity();
                break;
            case ContributorKind::StartNode:
                ++starts;
                mod.nodeBias[c.source].zero_();
                break;
            }
            const double expected = scratchMargin(mod, path, a, b);
            EXPECT_NEAR(c.marginAfter, expected, 1e-11) << toString(c.kind) << " " << c.edgeIndex;
            EXPECT_NEAR(c.effect, r.margin - expected, 1e-11);
        }
        EXPECT_EQ(positions, path.size() - 1);
        EXPECT_EQ(starts, 1u);
        EXPECT_GE(edges, 6u); // 6 distinct path pairs (3->7 twice) plus the candidates
        for (size_t k = 1; k < r.contributors.size(); ++k)
            EXPECT_GE(std::abs(r.contributors[k - 1].effect), std::abs(r.contributors[k].effect));
    }
}

TEST(Blame, RepeatedPairIsOneContributorAblatedEverywhere) {
    const auto m = randomModel(12, 4, 1.0, 5, at::kDouble, 32); // every pair owns a slot
    const auto path = testPath();
    const auto r = blame(m, {path, 2, 6, AblationMode::Zero});
    int found = 0;
    for (const auto& c : r.contributors)
        if (c.kind == ContributorKind::PathEdge && c.source == 3 && c.target == 7) {
            ++found;
            EXPECT_EQ(c.occurrences, 2);
            EXPECT_EQ(c.edgeIndex, 0);
            Model mod = m.clone();
            mod.weights[c.slot].zero_();
            mod.biases[c.slot].zero_();
            EXPECT_NEAR(c.marginAfter, scratchMargin(mod, path, 2, 6), 1e-11);
        }
    EXPECT_EQ(found, 1);
}

TEST(Blame, ZeroModeOnSharedPairsAffectsOnlyThatPair) {
    const auto m = randomModel(10, 4, 0.3, 21, at::kDouble, 32);
    const std::vector<int32_t> path{1, 2, 3, 4, 5};
    for (int32_t a = 0; a < 10; ++a) {
        const int32_t b = (a + 3) % 10;
        const auto r = blame(m, {path, a, b, AblationMode::Zero});
        for (const auto& c : r.contributors) {
            if (c.kind != ContributorKind::PathEdge && c.kind != ContributorKind::CandidateEdge) continue;
            EXPECT_TRUE(c.applicable);
            // brute force through a materialising edit: an independent route to the same model
            const auto mod = applyEdits(m, {{EditKind::ZeroEdge, c.source, c.target}});
            EXPECT_NEAR(c.marginAfter, scratchMargin(mod, path, a, b), 1e-11) << c.source << "->" << c.target;
        }
    }
}

TEST(Blame, DroppingTheOnlyPositionGivesAZeroInput) {
    // Path of one edge: x_1 mixes only y_0; dropping position 0 leaves x_1 = 0.
    const auto m = randomModel(6, 4, 1.0, 3, at::kDouble, 16);
    const std::vector<int32_t> path{2, 4};
    const auto r = blame(m, {path, 1, 5});
    const Contributor* pos = nullptr;
    for (const auto& c : r.contributors)
        if (c.kind == ContributorKind::Position) pos = &c;
    ASSERT_NE(pos, nullptr);
    // by hand: with x = 0 an edge gives GELU(b + PE[2])
    const auto pe = positionalEncoding(16, 4);
    const auto energyAtZero = [&](int32_t c) {
        const auto slot = m.edges.slot(4, c);
        double ss = 0;
        for (int k = 0; k < 4; ++k) {
            const double y = gelu(m.biases[slot][0][k].item<double>() + pe[static_cast<size_t>(2 * 4 + k)]);
            ss += y * y;
        }
        return std::sqrt(ss);
    };
    EXPECT_NEAR(pos->marginAfter, energyAtZero(1) - energyAtZero(5), 1e-12);
}

TEST(Blame, GradientsMatchAutograd) {
    auto m = randomModel(9, 4, 1.0, 17, at::kDouble, 32);
    const std::vector<int32_t> path{4, 2, 8, 1, 4, 2, 6};
    const int32_t a = 3, b = 7;
    const auto r = blame(m, {path, a, b, AblationMode::Shared});
    Model g = m.clone();
    for (at::Tensor* t : {&g.weights, &g.biases, &g.nodeBias, &g.positions})
        t->set_requires_grad(true);
    auto margin = referenceMargin(g, path, a, b);
    EXPECT_NEAR(margin.item<double>(), r.margin, 1e-12);
    margin.backward();
    const auto gw = g.weights.grad(), gb = g.biases.grad(), gn = g.nodeBias.grad(), gp = g.positions.grad();
    int checked = 0;
    for (const auto& c : r.contributors) {
        switch (c.kind) {
        case ContributorKind::PathEdge:
        case ContributorKind::CandidateEdge: {
            const auto gradW = gw[c.slot], gradB = gb[c.slot];
            const double norm = std::sqrt(gradW.pow(2).sum().item<double>() + gradB.pow(2).sum().item<double>());
            EXPECT_NEAR(c.gradientNorm, norm, 1e-10 * (1 + norm));
            const double est = -((gradW * (m.weights[0] - m.weights[c.slot])).sum().item<double>() +
                                 (gradB * (m.biases[0] - m.biases[c.slot])).sum().item<double>());
            EXPECT_NEAR(c.gradientEstimate, est, 1e-10 * (1 + std::abs(est)));
            ++checked;
            break;
        }
        case ContributorKind::Position:
            EXPECT_NEAR(c.gradientNorm, std::abs(gp[0][c.edgeIndex][0].item<double>()), 1e-10);
            ++checked;
            break;
        case ContributorKind::StartNode: {
            const auto grad = gn[c.source];
            EXPECT_NEAR(c.gradientNorm, grad.norm().item<double>(), 1e-10);
            EXPECT_NEAR(c.gradientEstimate, (grad * m.nodeBias[c.source]).sum().item<double>(), 1e-10);
            ++checked;
            break;
        }
        }
    }
    EXPECT_EQ(checked, static_cast<int>(r.contributors.size()));
}

TEST(Blame, PositionEstimateIsFirstOrderInTheDroppedWeight) {
    // With a position whose weight is tiny, dropping it is a small perturbation: the first-order
    // estimate must agree with the exact effect to second order.
    auto m = randomModel(8, 4, 1.0, 9, at::kDouble, 32);
    m.positions[0][2][0] = -9.0; // weight ~1e-4 among logits ~N(0,1)
    const std::vector<int32_t> path{1, 2, 3, 4, 5, 6};
    const auto r = blame(m, {path, 0, 7});
    for (const auto& c : r.contributors)
        if (c.kind == ContributorKind::Position && c.edgeIndex == 2) {
            EXPECT_GT(std::abs(c.effect), 0.0);
            EXPECT_NEAR(c.gradientEstimate, c.effect, 1e-3 * std::abs(c.effect) + 1e-9);
        }
}

TEST(Blame, FloatModelIsScoredInDouble) {
    const auto m32 = randomModel(10, 4, 0.6, 23, at::kFloat, 32);
    const auto m64 = m32.toDtype(at::kDouble);
    const std::vector<int32_t> path{0, 5, 9, 2};
    const auto r32 = blame(m32, {path, 1, 8});
    const auto r64 = blame(m64, {path, 1, 8});
    ASSERT_EQ(r32.contributors.size(), r64.contributors.size());
    EXPECT_EQ(r32.margin, r64.margin);
    for (size_t k = 0; k < r32.contributors.size(); ++k) {
        EXPECT_EQ(r32.contributors[k].marginAfter, r64.contributors[k].marginAfter);
        EXPECT_EQ(r32.contributors[k].gradientEstimate, r64.contributors[k].gradientEstimate);
    }
}

TEST(Blame, ReferenceConventionAndRanks) {
    const auto m = randomModel(10, 4, 0.6, 29, at::kDouble, 32);
    const std::vector<int32_t> path{0, 5, 9, 2};
    const auto r = blame(m, {path, 1, 8, AblationMode::Shared, PositionConvention::Reference});
    EXPECT_NEAR(r.margin, scratchMargin(m, path, 1, 8, PositionConvention::Reference), 1e-12);
    SignalPath p(m);
    p.start(0);
    for (int32_t t : {5, 9, 2})
        p.advance(t);
    const auto s = p.scoreNext();
    const auto rt = blame(m, {path, 1, 2}); // 2 -> 2 is the excluded self-loop
    EXPECT_EQ(rt.rankA, s.rank(1));
    EXPECT_EQ(rt.rankB, 0);
    EXPECT_NEAR(rt.energyB, s.rawEnergy(2), 1e-12);
}

TEST(Blame, BadQueries) {
    const auto m = randomModel(6, 4, 0.5, 1, at::kDouble, 4);
    EXPECT_THROW(blame(m, {{}, 1, 2}), InputError);
    EXPECT_THROW(blame(m, {{1, 2}, 3, 3}), InputError);
    EXPECT_THROW(blame(m, {{1, 9}, 3, 4}), InputError);
    EXPECT_THROW(blame(m, {{1, 2}, -1, 4}), InputError);
    EXPECT_THROW(blame(m, {{1, 2, 3, 4}, 1, 2}), InputError); // PE row 4 of a 4-row table
    EXPECT_NO_THROW(blame(m, {{1, 2, 3}, 1, 2}));
}

TEST(ForcePath, MatchesTracePathAndFindsTheFirstWrongStep) {
    const auto m = randomModel(12, 4, 0.5, 31, at::kFloat, 32);
    // the greedy continuation of a prompt, then one forced wrong token
    const std::vector<int32_t> prompt{3, 8};
    DecodeOptions o;
    o.maxNewTokens = 4;
    const auto greedy = decode(m, prompt, o);
    auto expected = greedy.generated();
    int32_t wrong = (expected[2] + 1) % 12;
    if (wrong == expected[1]) wrong = (wrong + 1) % 12;
    expected[2] = wrong;
    const auto f = forcePath(m, prompt, expected);
    ASSERT_EQ(f.steps.size(), prompt.size() + expected.size() - 1);
    EXPECT_EQ(f.firstWrong, 3); // edges: 0 prompt, 1 and 2 greedy, 3 forced wrong
    std::vector<int32_t> all(prompt);
    all.insert(all.end(), expected.begin(), expected.end());
    const auto t = tracePath(m, all, o);
    for (size_t k = 0; k < f.steps.size(); ++k) {
        const auto& s = f.steps[k];
        EXPECT_EQ(s.inPrompt, k == 0);
        EXPECT_EQ(s.expected, t.steps[k].target);
        EXPECT_EQ(s.winner, t.steps[k].best);
        EXPECT_EQ(s.expectedRank, t.steps[k].rank);
        EXPECT_DOUBLE_EQ(s.expectedProbability, t.steps[k].probability);
        EXPECT_DOUBLE_EQ(s.expectedEnergy, t.steps[k].energy);
        EXPECT_EQ(s.wrong, s.winner != s.expected);
        EXPECT_DOUBLE_EQ(s.margin, s.wrong ? t.steps[k].bestEnergy - t.steps[k].energy : 0.0);
    }
    EXPECT_FALSE(f.steps[1].wrong);
    EXPECT_TRUE(f.steps[3].wrong);
    EXPECT_GT(f.steps[3].margin, 0.0);
    EXPECT_GT(f.steps[3].expectedRank, 1);
    if (f.steps[0].wrong)
        EXPECT_EQ(f.firstWrongAny, 0);
    else
        EXPECT_EQ(f.firstWrongAny, 3);
}

TEST(ForcePath, BannedWinnerIsSkipped) {
    const auto m = randomModel(12, 4, 0.5, 37, at::kFloat, 32);
    const std::vector<int32_t> prompt{4};
    SignalPath p(m);
    p.start(4);
    const auto s = p.scoreNext();
    const auto top = s.top(2);
    const std::vector<int32_t> expected{top[1].first};
    EXPECT_TRUE(forcePath(m, prompt, expected).steps[0].wrong);
    const std::vector<int32_t> banned{top[0].first};
    const auto f = forcePath(m, prompt, expected, PositionConvention::Training, true, banned);
    EXPECT_FALSE(f.steps[0].wrong);
    EXPECT_EQ(f.steps[0].winner, top[1].first);
    EXPECT_EQ(f.firstWrong, -1);
    EXPECT_THROW(forcePath(m, std::vector<int32_t>{}, expected), InputError);
    EXPECT_THROW(forcePath(m, prompt, std::vector<int32_t>{40}), InputError);
}

} // namespace
} // namespace brillm
