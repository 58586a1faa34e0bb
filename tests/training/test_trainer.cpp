// SPDX-License-Identifier: GPL-3.0-or-later
#include "brillm/error.h"
#include "brillm/io/model_file.h"
#include "brillm/training/trainer.h"
#include "brillm/training/training_data.h"
#include "training_test_util.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <random>

namespace fs = std::filesystem;
using namespace brillm;
using namespace brillm::training;

namespace {

class TrainerTest : public test_util::ToyRunTest {
protected:
    TrainerTest() : ToyRunTest("brillm-trainer") {}
    TrainConfig config(int64_t steps) const {
        TrainConfig c = toyConfig(steps);
        c.batchSize = 4;
        c.evalEvery = 5;
        c.evalSamples = 4;
        c.checkpointEvery = 5;
        c.threads = 2;
        return c;
    }
};

} // namespace

TEST_F(TrainerTest, ResumedRunReproducesTheUninterruptedLosses) {
    const auto whole = train(config(14), m_dir / "whole");
    ASSERT_EQ(whole.losses.size(), 14u);

    auto first = train(config(10), m_dir / "split"); // checkpoints at 5 and 10
    ASSERT_EQ(first.losses.size(), 10u);
    // throw away the step-10 checkpoint: the resume starts from step 5, like after a crash
    fs::remove_all(m_dir / "split" / "checkpoints" / "step-00000010");
    {
        std::ofstream latest(m_dir / "split" / "latest");
        latest << "step-00000005\n";
    }
    const auto second = resume(m_dir / "split", 14);
    ASSERT_EQ(second.losses.size(), 9u);
    for (size_t i = 0; i < 5; ++i)
        EXPECT_EQ(first.losses[i], whole.losses[i]) << "step " << i + 1;
    for (size_t i = 0; i < 9; ++i)
        EXPECT_EQ(second.losses[i], whole.losses[i + 5]) << "step " << i + 6;
    // and the final models are bit-identical
    const auto a = ModelFile::load((m_dir / "whole" / "model.brillm").string());
    const auto b = ModelFile::load((m_dir / "split" / "model.brillm").string());
    EXPECT_TRUE(at::equal(a.model.weights, b.model.weights));
    EXPECT_TRUE(at::equal(a.model.positions, b.model.positions));
    EXPECT_EQ(a.metadata.vocabulary, b.metadata.vocabulary);
}

TEST_F(TrainerTest, LearnsAndWritesARunDirectory) {
    auto c = config(40);
    c.keepCheckpoints = 2;
    c.lr = 0.05;
    c.init = InitKind::Random; // from scratch: the bigram init would start near the end (RecipeTest covers it)
    c.optimizer = OptimizerKind::AdamW;
    const auto r = train(c, m_dir / "run");
    ASSERT_EQ(r.losses.size(), 40u);
    double early = 0, late = 0;
    for (int i = 0; i < 5; ++i)
        early += r.losses[static_cast<size_t>(i)], late += r.losses[r.losses.size() - 1 - static_cast<size_t>(i)];
    EXPECT_LT(late, early * 0.8) << "the loss should fall on a toy grammar";
    ASSERT_TRUE(r.lastEvalLoss.has_value());

    // metrics: one step record per step, eval records, checkpoint records; every line is JSON
    std::ifstream in(m_dir / "run" / "metrics.jsonl");
    std::string line;
    int steps = 0, evals = 0, checkpoints = 0;
    while (std::getline(in, line)) {
        const auto j = nlohmann::json::parse(line);
        const auto type = j.at("type").get<std::string>();
        if (type == "step") {
            ++steps;
            for (const char* key :
                 {"step", "time", "loss", "ppl", "lr", "grad_norm", "samples_per_s", "tokens_per_s", "memory_mb"})
                EXPECT_TRUE(j.contains(key)) << key;
        }
        evals += type == "eval";
        checkpoints += type == "checkpoint";
    }
    EXPECT_EQ(steps, 40);
    EXPECT_EQ(evals, 8);
    EXPECT_EQ(checkpoints, 8);
    // only the newest two checkpoints are kept, `latest` names the last
    int kept = 0;
    for (const auto& e : fs::directory_iterator(m_dir / "run" / "checkpoints"))
        kept += e.is_directory();
    EXPECT_EQ(kept, 2);
    std::ifstream latest(m_dir / "run" / "latest");
    std::getline(latest, line);
    EXPECT_EQ(line, "step-00000040");
    const auto model = ModelFile::load((m_dir / "run" / "model.brillm").string());
    EXPECT_EQ(model.metadata.tokenizerKind, "char");
    EXPECT_FALSE(model.metadata.vocabulary.empty());
}

TEST_F(TrainerTest, NonFiniteStepsAreSkippedAndStopTheRun) {
    auto c = config(1);
    train(c, m_dir / "seed");
    auto loaded = ModelFile::load((m_dir / "seed" / "model.brillm").string());
    auto broken = loaded.model.clone();
    broken.nodeBias.fill_(std::numeric_limits<float>::quiet_NaN());
    ModelFile::save((m_dir / "nan.brillm").string(), broken, loaded.metadata);

    auto n = config(20);
    n.initModel = (m_dir / "nan.brillm").string();
    n.maxNonFinite = 3;
    n.checkpointEvery = 0;
    std::vector<StepReport> reports;
    TrainCallbacks cb;
    cb.onStep = [&](const StepReport& r) { return reports.push_back(r), true; };
    try {
        train(n, m_dir / "nan", cb);
        FAIL() << "expected TrainingError";
    } catch (const TrainingError& e) {
        EXPECT_NE(std::string(e.what()).find("3 steps in a row"), std::string::npos) << e.what();
    }
    ASSERT_EQ(reports.size(), 2u); // the third skipped step stops before its callback
    EXPECT_TRUE(reports[0].skipped);
    EXPECT_FALSE(fs::exists(m_dir / "nan" / "latest")) << "no checkpoint may hold non-finite values";
}

TEST_F(TrainerTest, BadInputGivesClearErrors) {
    auto c = config(2);
    c.corpus = {(m_dir / "missing.txt").string()};
    EXPECT_THROW(train(c, m_dir / "a"), InputError);
    { std::ofstream(m_dir / "empty.txt") << "\n\n"; }
    c.corpus = {(m_dir / "empty.txt").string()};
    EXPECT_THROW(train(c, m_dir / "b"), InputError);
    c = config(2);
    train(c, m_dir / "c");
    EXPECT_THROW(train(c, m_dir / "c"), InputError) << "a run directory is never overwritten";
    EXPECT_THROW(resume(m_dir / "nothing-here"), InputError);
    c.steps = 0;
    EXPECT_THROW(train(c, m_dir / "d"), InputError);
    c = config(2);
    EXPECT_THROW(train(c, "/proc/brillm-cannot-write-here"), InputError);
    // a model whose vocabulary does not match the tokenizer given with it
    { std::ofstream(m_dir / "other.json") << R"({"<unk>": 0, "x": 1, "y": 2})"; }
    c.initModel = (m_dir / "c" / "model.brillm").string();
    c.tokenizer = (m_dir / "other.json").string();
    EXPECT_THROW(train(c, m_dir / "e"), InputError);
}

TEST_F(TrainerTest, BatchesAreAPureFunctionOfTheStep) {
    auto c = config(3);
    c.loss = LossKind::Sampled;
    const auto data = prepareTrainingData(c);
    BatchSource a(data, c), b(data, c);
    const auto b5 = a.batch(5);
    a.batch(0);
    const auto again = a.batch(5);
    const auto other = b.batch(5);
    ASSERT_EQ(b5.size(), again.size());
    for (size_t i = 0; i < b5.size(); ++i) {
        EXPECT_EQ(b5[i].tokens, again[i].tokens);
        EXPECT_EQ(b5[i].candidates, again[i].candidates);
        EXPECT_EQ(b5[i].candidates, other[i].candidates);
    }
    // frequency negatives: the positive (the edge's target) first, never repeated among the
    // negatives, and the negatives distinct
    int64_t negatives = 0;
    for (const auto& s : b5)
        for (int64_t i = 0; i < s.numEdges(); ++i) {
            const auto b = s.offsets[static_cast<size_t>(i)], e = s.offsets[static_cast<size_t>(i) + 1];
            ASSERT_LT(b, e);
            EXPECT_EQ(s.candidates[static_cast<size_t>(b)], s.tokens[static_cast<size_t>(i) + 1]);
            std::set<int32_t> seen;
            for (int64_t k = b; k < e; ++k)
                EXPECT_TRUE(seen.insert(s.candidates[static_cast<size_t>(k)]).second) << "a candidate twice";
            for (int64_t k = b + 1; k < e; ++k, ++negatives)
                EXPECT_NE(s.candidates[static_cast<size_t>(k)], s.tokens[static_cast<size_t>(i) + 1])
                    << "the target as a negative";
        }
    EXPECT_GT(negatives, 0);
}
