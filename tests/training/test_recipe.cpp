// SPDX-License-Identifier: GPL-3.0-or-later
// The training recipe: the Kneser-Ney bigram the init starts from (by hand), the init realising
// it, the trigram (context) init, a short run beating the unigram baseline, the time budget.
#include "brillm/model/loss.h"
#include "brillm/training/model_init.h"
#include "brillm/training/trainer.h"
#include "brillm/training/training_data.h"
#include "training_test_util.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>

namespace fs = std::filesystem;
using namespace brillm;
using namespace brillm::training;

namespace {

// Counts (0,1) x2, (0,2) x1, (1,2) x1 over V = 3. n1 = 2, n2 = 1: D = 2 / (2 + 2) = 1/2.
// Continuation counts: node 0: 0, node 1: 1, node 2: 2 of 3 types; add-one: 1/6, 2/6, 3/6.
TEST(Recipe, SmoothedBigramsByHand) {
    const auto counts = BigramTable::fromCounts(3, {{0, 1, 2}, {0, 2, 1}, {1, 2, 1}});
    const auto edges = counts.toEdgeTable(1);
    const auto dist = smoothedBigrams(counts, edges);
    ASSERT_EQ(dist.ownProbability.size(), 3u);
    // source 0: 3 tokens, 2 types: backoff 1/2 * 2/3 = 1/3
    EXPECT_NEAR(dist.ownProbability[0], (2 - 0.5) / 3 + 1.0 / 3 * 2.0 / 6, 1e-12); // p(1|0)
    EXPECT_NEAR(dist.ownProbability[1], (1 - 0.5) / 3 + 1.0 / 3 * 3.0 / 6, 1e-12); // p(2|0)
    EXPECT_NEAR(dist.sharedMass[0], 1.0 / 3 * 1.0 / 6, 1e-12);                     // p(0|0)
    // source 1: 1 token, 1 type: backoff 1/2
    EXPECT_NEAR(dist.ownProbability[2], 0.5 / 1 + 0.5 * 3.0 / 6, 1e-12);
    EXPECT_NEAR(dist.sharedMass[1], 0.25, 1e-12);
    EXPECT_NEAR(dist.sharedMass[2], 1.0, 1e-12); // never seen as a source: all on the shared slot
}

class RecipeTest : public test_util::ScratchTest {
protected:
    RecipeTest() : ScratchTest("brillm-recipe") {}
    void SetUp() override {
        ScratchTest::SetUp();
        test_util::writeAustenExcerpt(m_dir / "corpus.txt", 1500);
    }
    TrainConfig config() const {
        TrainConfig c;
        c.corpus = {(m_dir / "corpus.txt").string()};
        c.vocabKind = "char";
        c.vocabSize = 80;
        c.maxSeqLength = 16;
        c.heldOutFraction = 0.1;
        c.heldOutMax = 100000;
        c.evalSamples = 0;
        c.batchSize = 16;
        c.threads = 2;
        return c;
    }
    // Exact held-out loss per predicted token over every held-out window.
    static double heldOutLoss(const Model& m, const std::vector<Sequence>& held) {
        double nll = 0, n = 0;
        for (const auto& s : held) {
            const std::vector<int32_t> path(s.ids.begin(), s.ids.begin() + s.length);
            nll += exactLoss(m, path).loss * static_cast<double>(path.size() - 1);
            n += static_cast<double>(path.size() - 1);
        }
        return nll / n;
    }
};

} // namespace

// The bigram init's energies give the smoothed bigram it was built from: the model's exact loss
// on held-out text equals that of the probabilities themselves, up to the calibration's error.
TEST_F(RecipeTest, BigramInitPredictsLikeTheSmoothedBigram) {
    const auto c = config();
    const auto data = prepareTrainingData(c);
    const int64_t V = data.vocabSize();
    BigramInitOptions o;
    o.positionsUsed = c.maxSeqLength;
    const auto model = bigramInitModel(data.bigrams, data.bigrams.toEdgeTable(1), {V, 32, 512}, o);
    const auto dist = smoothedBigrams(data.bigrams, model.edges);
    double nll = 0, n = 0;
    for (const auto& s : data.heldOut)
        for (int32_t i = 0; i + 1 < s.length; ++i) {
            const int32_t a = s.ids[static_cast<size_t>(i)], b = s.ids[static_cast<size_t>(i) + 1];
            const int64_t slot = model.edges.slot(a, b);
            const double p =
                slot ? dist.ownProbability[static_cast<size_t>(slot - 1)]
                     : dist.sharedMass[static_cast<size_t>(a)] / static_cast<double>(V - model.edges.ownCount(a));
            nll -= std::log(p);
            n += 1;
        }
    const double bigram = nll / n, ours = heldOutLoss(model, data.heldOut);
    EXPECT_NEAR(ours, bigram, 0.05) << "model " << std::exp(ours) << " vs smoothed bigram " << std::exp(bigram);
}

// The trigram correction read from the source codes predicts the held-out text better than the
// bigram init alone.
TEST_F(RecipeTest, ContextInitBeatsTheBigramInit) {
    const auto c = config();
    const auto data = prepareTrainingData(c);
    const int64_t V = data.vocabSize();
    std::vector<std::vector<int32_t>> windows;
    for (const auto& w : data.train)
        windows.emplace_back(w.ids.begin(), w.ids.begin() + w.length);
    const auto trigrams = countTrigrams(windows, V);
    BigramInitOptions plain;
    plain.positionsUsed = c.maxSeqLength;
    BigramInitOptions context = plain;
    context.contextCode = 4;
    context.positionSlope = 3;
    const double a =
        heldOutLoss(bigramInitModel(data.bigrams, data.bigrams.toEdgeTable(1), {V, 32, 512}, plain), data.heldOut);
    const double b = heldOutLoss(
        bigramInitModel(data.bigrams, data.bigrams.toEdgeTable(1), {V, 32, 512}, context, &trigrams), data.heldOut);
    EXPECT_LT(b, a - 0.02) << "context " << std::exp(b) << " vs bigram " << std::exp(a);
}

// A short run of the default recipe ends below the unigram baseline on held-out text (add-one
// unigram of the training windows, computed here) and not above where it started.
TEST_F(RecipeTest, ShortRunBeatsTheUnigramBaseline) {
    auto c = config();
    c.steps = 20;
    c.evalEvery = 20;
    c.checkpointEvery = 0;
    const auto data = prepareTrainingData(c);
    const int64_t V = data.vocabSize();
    std::vector<double> counts(static_cast<size_t>(V), 0);
    double total = 0;
    for (const auto& s : data.train)
        for (int32_t i = 1; i < s.length; ++i)
            counts[static_cast<size_t>(s.ids[static_cast<size_t>(i)])] += 1, total += 1;
    double nll = 0, n = 0;
    for (const auto& s : data.heldOut)
        for (int32_t i = 1; i < s.length; ++i) {
            nll -= std::log((counts[static_cast<size_t>(s.ids[static_cast<size_t>(i)])] + 1) /
                            (total + static_cast<double>(V)));
            n += 1;
        }
    const double unigram = nll / n;
    auto first = c;
    first.steps = 1;
    first.lr = 1e-12;
    first.evalEvery = 1;
    const auto start = train(first, m_dir / "start");
    const auto run = train(c, m_dir / "run");
    ASSERT_TRUE(run.lastEvalLoss && start.lastEvalLoss);
    EXPECT_LT(*run.lastEvalLoss, unigram - 0.3) << "held-out " << *run.lastEvalLoss << ", unigram " << unigram;
    EXPECT_LT(*run.lastEvalLoss, *start.lastEvalLoss + 0.01);
}

// --max-minutes: the run stops after the step that crosses the budget with a checkpoint, a
// held-out evaluation and the model file, and says so.
TEST_F(RecipeTest, TimeBudgetStopsCleanly) {
    auto c = config();
    c.steps = 1000;
    c.evalEvery = 500;
    c.maxMinutes = 1e-6;
    const auto r = train(c, m_dir / "run");
    EXPECT_TRUE(r.budgetReached);
    EXPECT_FALSE(r.stoppedEarly);
    EXPECT_EQ(r.steps, 1);
    ASSERT_TRUE(r.lastEvalLoss);
    EXPECT_TRUE(fs::exists(m_dir / "run" / "model.brillm"));
    EXPECT_TRUE(fs::exists(m_dir / "run" / "checkpoints" / "step-00000001"));
    int evals = 0;
    std::ifstream in(m_dir / "run" / "metrics.jsonl");
    for (std::string line; std::getline(in, line);)
        evals += nlohmann::json::parse(line).at("type") == "eval";
    EXPECT_EQ(evals, 1);
}

// --loss sampled-own: K of the other own targets weighted (own - 1) / K and the shared candidate
// at its multiplicity: every edge's weights still add up to V, and with K at least the largest
// own count it is the exact loss.
TEST_F(RecipeTest, SampledOwnLossIsCorrectedForWhatItLeavesOut) {
    auto c = config();
    c.loss = LossKind::SampledOwn;
    c.negatives = 3;
    const auto data = prepareTrainingData(c);
    const int64_t V = data.vocabSize();
    const auto edges = data.bigrams.toEdgeTable(1);
    BatchSource few(data, c, &edges);
    for (const auto& s : few.batch(3))
        for (int64_t i = 0; i < s.numEdges(); ++i) {
            double sum = 0;
            for (int64_t k = s.offsets[static_cast<size_t>(i)]; k < s.offsets[static_cast<size_t>(i) + 1]; ++k)
                sum += s.weights[static_cast<size_t>(k)];
            EXPECT_NEAR(sum, static_cast<double>(V), 1e-3);
            EXPECT_LE(s.offsets[static_cast<size_t>(i) + 1] - s.offsets[static_cast<size_t>(i)], 1 + 3 + 1);
        }
    c.negatives = V;
    BatchSource all(data, c, &edges);
    auto exact = c;
    exact.loss = LossKind::Exact;
    BatchSource reference(data, exact, &edges);
    BigramInitOptions o;
    const auto model = bigramInitModel(data.bigrams, edges, {V, 32, 512}, o);
    const auto a = sampledLoss(model, all.batch(2), LossOptions{false, 1});
    const auto b = sampledLoss(model, reference.batch(2), LossOptions{false, 1});
    EXPECT_NEAR(a.loss, b.loss, 1e-5);
}
