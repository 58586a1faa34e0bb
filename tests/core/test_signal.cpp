// SPDX-License-Identifier: GPL-3.0-or-later
#include "brillm/error.h"
#include "brillm/model/signal.h"
#include "reference_model.h"

#include <gtest/gtest.h>

#include <cmath>

using namespace brillm;
using brillm::testing::randomModel;
using brillm::testing::referenceEnergies;

TEST(PositionalEncoding, FollowsTheReferenceFormulaWithItsQuirk) {
    const int64_t d = 8;
    const auto pe = positionalEncoding(512, d);
    // hand-derived: f_j = 10000^(2j/d) multiplies the position
    EXPECT_DOUBLE_EQ(pe[0 * d + 0], 0.0);
    EXPECT_DOUBLE_EQ(pe[0 * d + 1], 1.0);
    EXPECT_DOUBLE_EQ(pe[1 * d + 0], std::sin(1.0));
    EXPECT_DOUBLE_EQ(pe[1 * d + 1], std::cos(1.0));
    EXPECT_DOUBLE_EQ(pe[3 * d + 2], std::sin(3.0 * 10.0));   // j = 1: 10000^(2/8) = 10
    EXPECT_DOUBLE_EQ(pe[3 * d + 7], std::cos(3.0 * 1000.0)); // j = 3: 10000^(6/8) = 1000
    const auto ref = brillm::testing::referencePe(512, d, at::kDouble).contiguous();
    const double* r = ref.data_ptr<double>();
    for (size_t k = 0; k < pe.size(); ++k)
        ASSERT_NEAR(pe[k], r[k], 1e-9 * (1 + std::abs(r[k]))) << k;
    EXPECT_THROW(positionalEncoding(4, 3), ShapeError);
}

TEST(Signal, HandDerivedTinyCase) {
    // V = 3, d = 2. Edge 0 -> 1 owns slot 1 with W = [[1, 0], [0, 2]], b = [0.5, -1]; everything
    // else is on the shared slot with W = 0, b = 0, so its energy is ||GELU(PE[p])||.
    const auto table = EdgeTable::fromPairs(3, std::vector<std::pair<int32_t, int32_t>>{{0, 1}});
    auto m = Model::randomInit({3, 2, 8}, table, 1, at::kDouble);
    m.weights.zero_();
    m.biases.zero_();
    m.nodeBias.zero_();
    auto* w = m.weights.data_ptr<double>();
    w[4 + 0] = 1, w[4 + 3] = 2;
    auto* b = m.biases.data_ptr<double>();
    b[2] = 0.5, b[3] = -1;
    m.nodeBias.data_ptr<double>()[0] = 0.25; // node 0: [0.25, 0]

    const auto G = [](double z) { return 0.5 * z * (1 + std::erf(z / std::sqrt(2.0))); };
    // initial signal: GELU(1/2 + nodeBias + PE[0]) with PE[0] = [sin 0, cos 0] = [0, 1]
    const double s0 = G(0.5 + 0.25 + 0), s1 = G(0.5 + 0 + 1);
    SignalPath path(m);
    path.start(0);
    const auto init = path.initialSignal();
    EXPECT_NEAR(init[0], s0, 1e-15);
    EXPECT_NEAR(init[1], s1, 1e-15);

    // edge 0: x = s, own edge 0 -> 1: z = [s0 + 0.5, 2 s1 - 1] + PE[1] = + [sin 1, cos 1]
    const double y0 = G(s0 + 0.5 + std::sin(1.0)), y1 = G(2 * s1 - 1 + std::cos(1.0));
    const double eOwn = std::hypot(y0, y1);
    const double eShared = std::hypot(G(std::sin(1.0)), G(std::cos(1.0)));
    const auto sc = path.scoreNext();
    EXPECT_EQ(sc.excluded, 0);
    EXPECT_EQ(sc.numShared, 1); // target 2 (target 0 is the excluded self-loop, 1 is own)
    EXPECT_NEAR(sc.energy(1), eOwn, 1e-14);
    EXPECT_NEAR(sc.energy(2), eShared, 1e-14);
    EXPECT_TRUE(std::isnan(sc.energy(0)));
    const double p1 = std::exp(eOwn) / (std::exp(eOwn) + std::exp(eShared));
    EXPECT_NEAR(sc.probability(1), p1, 1e-14);
    EXPECT_NEAR(sc.probability(2), 1 - p1, 1e-14);
    EXPECT_EQ(sc.probability(0), 0.0);
    EXPECT_NEAR(path.advance(1), eOwn, 1e-14);

    // edge 1 from node 1: x = softmax([1]) * y = y; all targets shared: z = PE[2]
    const auto sc2 = path.scoreNext(ScoreOptions{false});
    EXPECT_EQ(sc2.numShared, 3);
    const double eP2 = std::hypot(G(std::sin(2.0)), G(std::cos(2.0)));
    EXPECT_NEAR(sc2.sharedEnergy, eP2, 1e-14);
    EXPECT_NEAR(sc2.probability(2), 1.0 / 3, 1e-15);
    const auto x = path.nextInput();
    EXPECT_NEAR(x[0], y0, 1e-15);
    EXPECT_NEAR(x[1], y1, 1e-15);
}

class SignalVsReference : public ::testing::TestWithParam<at::ScalarType> {};

TEST_P(SignalVsReference, EveryCandidateEnergyMatchesAFloat64Recomputation) {
    const auto dtype = GetParam();
    const auto m64 = randomModel(40, 8, 0.15, 3, at::kDouble);
    const auto m = m64.toDtype(dtype);
    std::vector<int32_t> tokens{3, 17, 17, 5, 39, 0, 22, 8, 3, 11, 30};
    const double tol = dtype == at::kDouble ? 1e-12 : 2e-5;
    for (auto conv : {PositionConvention::Training, PositionConvention::Reference}) {
        const auto ref = referenceEnergies(m64, tokens, conv == PositionConvention::Training ? 1 : 0);
        const double* r = ref.energies.contiguous().data_ptr<double>();
        SignalPath path(m, conv);
        path.start(tokens[0]);
        for (size_t i = 0; i + 1 < tokens.size(); ++i) {
            const auto sc = path.scoreNext(ScoreOptions{false});
            const auto dense = sc.denseEnergies();
            for (int64_t v = 0; v < 40; ++v)
                ASSERT_NEAR(dense[v], r[i * 40 + v], tol) << "edge " << i << " target " << v;
            // probabilities over all candidates sum to one
            double sum = 0;
            for (double p : sc.denseProbabilities())
                sum += p;
            EXPECT_NEAR(sum, 1.0, 1e-12);
            const double e = path.advance(tokens[i + 1]);
            EXPECT_NEAR(e, r[i * 40 + tokens[i + 1]], tol);
            const auto y = path.edgeSignal(static_cast<int64_t>(i));
            const auto yr = ref.outputs[i].contiguous();
            for (int64_t j = 0; j < 8; ++j)
                EXPECT_NEAR(y[j], yr.data_ptr<double>()[j], tol);
        }
    }
}

INSTANTIATE_TEST_SUITE_P(Dtypes, SignalVsReference, ::testing::Values(at::kDouble, at::kFloat));

TEST(Signal, RankAndBestFollowEnergyThenId) {
    const auto m = randomModel(30, 4, 0.3, 9, at::kDouble);
    SignalPath path(m);
    path.start(4);
    path.advance(7);
    const auto sc = path.scoreNext();
    const auto dense = sc.denseEnergies();
    // brute force ranking
    std::vector<int32_t> order;
    for (int32_t t = 0; t < 30; ++t)
        if (!std::isnan(dense[t])) order.push_back(t);
    std::sort(order.begin(), order.end(),
              [&](int32_t a, int32_t b) { return dense[a] > dense[b] || (dense[a] == dense[b] && a < b); });
    for (size_t k = 0; k < order.size(); ++k)
        EXPECT_EQ(sc.rank(order[k]), static_cast<int64_t>(k) + 1) << order[k];
    EXPECT_EQ(sc.rank(7), 0); // the self-loop is not a candidate
    EXPECT_EQ(sc.best().target, order[0]);
    const auto top = sc.top(5);
    ASSERT_EQ(top.size(), 5u);
    for (size_t k = 0; k < 5; ++k)
        EXPECT_EQ(top[k].first, order[k]);
    EXPECT_EQ(sc.numCandidates(), 29);
}

TEST(Signal, ErrorsNameTheProblem) {
    const auto m = randomModel(5, 4, 0.5, 1, at::kFloat, /*maxPositions=*/4);
    SignalPath path(m);
    EXPECT_THROW(path.scoreNext(), InputError); // not started
    EXPECT_THROW(path.start(5), InputError);
    path.start(0);
    EXPECT_THROW(path.advance(-1), InputError);
    path.advance(1);
    path.advance(2);
    path.advance(3); // 3 edges: PE rows 1..3
    EXPECT_FALSE(path.canAdvance());
    try {
        path.advance(4);
        FAIL() << "expected InputError";
    } catch (const InputError& e) {
        EXPECT_NE(std::string(e.what()).find("at most 3 edges"), std::string::npos) << e.what();
    }
    path.truncate(1);
    EXPECT_EQ(path.numEdges(), 1);
    EXPECT_EQ(path.current(), 1);

    auto bad = m.clone();
    bad.weights = at::zeros({2, 4, 4});
    try {
        bad.validate();
        FAIL() << "expected ShapeError";
    } catch (const ShapeError& e) {
        EXPECT_NE(std::string(e.what()).find("weights"), std::string::npos) << e.what();
    }
}
