// SPDX-License-Identifier: GPL-3.0-or-later
// The run directory as a guarded store (a new run never lands in a foreign directory, one writer
// at a time, a failed start leaves nothing) and the ranges of the training options (issue 18).
#include <gtest/gtest.h>

#include "brillm/error.h"
#include "brillm/training/config_check.h"
#include "brillm/training/run_directory.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <string>

#include <unistd.h>

namespace fs = std::filesystem;
using namespace brillm;
using namespace brillm::training;

namespace {

class RunGuardsTest : public ::testing::Test {
protected:
    void SetUp() override {
        m_dir = fs::temp_directory_path() / ("brillm-run-guards-" + std::to_string(::getpid()) + "-" +
                                             ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::remove_all(m_dir);
        fs::create_directories(m_dir);
    }
    void TearDown() override { fs::remove_all(m_dir); }

    static TrainConfig config() {
        TrainConfig c;
        c.corpus = {"corpus.txt"};
        return c;
    }
    static void touch(const fs::path& p, const std::string& text = "x") { std::ofstream(p) << text; }
    // The message of the InputError `f` throws ("" when it throws none).
    static std::string errorOf(const std::function<void()>& f) {
        try {
            f();
        } catch (const InputError& e) {
            return e.what();
        }
        return "";
    }

    fs::path m_dir;
};

TEST_F(RunGuardsTest, CreateMakesANewDirectoryWithItsParents) {
    const auto dir = m_dir / "a" / "b" / "run";
    auto run = RunDirectory::create(dir, config());
    EXPECT_TRUE(fs::exists(dir / "config.json"));
    EXPECT_TRUE(fs::exists(dir / "checkpoints"));
    EXPECT_TRUE(run.holdsLock());
}

TEST_F(RunGuardsTest, CreateAcceptsAnEmptyDirectory) {
    fs::create_directories(m_dir / "run");
    EXPECT_NO_THROW(RunDirectory::create(m_dir / "run", config()));
}

TEST_F(RunGuardsTest, CreateRefusesANonEmptyDirectoryThatIsNoRunAndTouchesNothing) {
    const auto dir = m_dir / "other";
    fs::create_directories(dir);
    touch(dir / "model.brillm", "precious");
    touch(dir / "metrics.jsonl", "{\"foreign\":1}\n");
    const auto msg = errorOf([&] { RunDirectory::create(dir, config()); });
    EXPECT_NE(msg.find(dir.string()), std::string::npos) << msg;
    EXPECT_NE(msg.find("not empty"), std::string::npos) << msg;
    EXPECT_NE(msg.find("--resume"), std::string::npos) << msg;
    EXPECT_FALSE(fs::exists(dir / "config.json"));
    EXPECT_FALSE(fs::exists(dir / ".lock"));
    EXPECT_FALSE(fs::exists(dir / "checkpoints"));
    std::ifstream in(dir / "metrics.jsonl");
    std::string line;
    std::getline(in, line);
    EXPECT_EQ(line, "{\"foreign\":1}");
}

TEST_F(RunGuardsTest, CreateRefusesAnExistingRunAndAFile) {
    { RunDirectory::create(m_dir / "run", config()); }
    EXPECT_NE(errorOf([&] { RunDirectory::create(m_dir / "run", config()); }).find("already holds a training run"),
              std::string::npos);
    touch(m_dir / "file");
    EXPECT_NE(errorOf([&] { RunDirectory::create(m_dir / "file", config()); }).find("not a directory"),
              std::string::npos);
}

TEST_F(RunGuardsTest, ASecondWriterIsRefusedNamingTheHolder) {
    auto first = RunDirectory::create(m_dir / "run", config());
    char host[256] = {};
    ::gethostname(host, sizeof host - 1);
    // a flock belongs to an open file description: a second open() conflicts even in this process
    const auto msg = errorOf([&] { RunDirectory::open(m_dir / "run", /*writable=*/true); });
    EXPECT_NE(msg.find("in use by another brillm train"), std::string::npos) << msg;
    EXPECT_NE(msg.find("pid " + std::to_string(::getpid())), std::string::npos) << msg;
    EXPECT_NE(msg.find(std::string("on host ") + host), std::string::npos) << msg;
    // readers (ranks other than 0) take no lock
    EXPECT_NO_THROW(RunDirectory::open(m_dir / "run", /*writable=*/false));
}

TEST_F(RunGuardsTest, TheLockIsReleasedWithItsHolderAndByAMove) {
    {
        auto first = RunDirectory::create(m_dir / "run", config());
        RunDirectory moved = std::move(first);
        EXPECT_TRUE(moved.holdsLock());
        EXPECT_FALSE(first.holdsLock()); // NOLINT(bugprone-use-after-move): checking the moved-from state
        EXPECT_THROW(RunDirectory::open(m_dir / "run", true), InputError);
    }
    auto again = RunDirectory::open(m_dir / "run", true);
    EXPECT_TRUE(again.holdsLock());
    EXPECT_THROW(RunDirectory::open(m_dir / "run", true), InputError);
}

TEST_F(RunGuardsTest, AbandonIfNewRemovesEverythingCreateMade) {
    const auto root = m_dir / "new";
    {
        auto run = RunDirectory::create(root / "deeper" / "run", config());
        EXPECT_TRUE(run.abandonIfNew());
        EXPECT_FALSE(run.holdsLock());
        EXPECT_FALSE(run.abandonIfNew()); // once
    }
    EXPECT_FALSE(fs::exists(root)); // the parents it made too
    EXPECT_TRUE(fs::exists(m_dir));
    // so a rerun with the same --out works
    EXPECT_NO_THROW(RunDirectory::create(root / "deeper" / "run", config()));
}

TEST_F(RunGuardsTest, AbandonIfNewLeavesAnEmptyDirectoryThatWasThereBefore) {
    fs::create_directories(m_dir / "run");
    auto run = RunDirectory::create(m_dir / "run", config());
    EXPECT_TRUE(run.abandonIfNew());
    EXPECT_TRUE(fs::exists(m_dir / "run"));
    EXPECT_TRUE(fs::is_empty(m_dir / "run"));
}

TEST_F(RunGuardsTest, AbandonIfNewKeepsARunThatWroteAStepOrWasOpened) {
    {
        auto run = RunDirectory::create(m_dir / "run", config());
        run.appendMetrics("{\"type\":\"step\",\"step\":1}");
        EXPECT_FALSE(run.abandonIfNew());
        EXPECT_TRUE(run.holdsLock());
    }
    EXPECT_TRUE(fs::exists(m_dir / "run" / "config.json"));
    auto opened = RunDirectory::open(m_dir / "run", true);
    EXPECT_FALSE(opened.abandonIfNew()); // a failed resume never removes the run it resumes
    EXPECT_TRUE(fs::exists(m_dir / "run" / "config.json"));
}

TEST_F(RunGuardsTest, AbandonIfNewKeepsFilesSomeoneElsePutThere) {
    auto run = RunDirectory::create(m_dir / "run", config());
    touch(m_dir / "run" / "notes.txt");
    EXPECT_TRUE(run.abandonIfNew());
    EXPECT_TRUE(fs::exists(m_dir / "run" / "notes.txt"));
    EXPECT_FALSE(fs::exists(m_dir / "run" / "config.json"));
}

// --- option ranges ---------------------------------------------------------------------------

std::string rangeError(const std::function<void(TrainConfig&)>& change) {
    TrainConfig c;
    c.corpus = {"corpus.txt"};
    change(c);
    try {
        validateTrainConfig(c);
    } catch (const InputError& e) {
        return e.what();
    }
    return "";
}

TEST(TrainConfigRanges, TheDefaultsAndTheReferenceRecipeAreValid) {
    TrainConfig c;
    c.corpus = {"c.txt"};
    EXPECT_NO_THROW(validateTrainConfig(c));
    auto r = recipeConfig("reference");
    r.corpus = {"c.txt"};
    EXPECT_NO_THROW(validateTrainConfig(r));
}

TEST(TrainConfigRanges, EachOptionOutOfRangeIsNamedWithItsRange) {
    const double nan = std::numeric_limits<double>::quiet_NaN();
    const double inf = std::numeric_limits<double>::infinity();
    struct Case {
        const char* option;
        std::function<void(TrainConfig&)> change;
    };
    const std::vector<Case> cases = {
        {"--held-out must be a fraction in [0, 1)", [&](TrainConfig& c) { c.heldOutFraction = nan; }},
        {"--held-out must be a fraction in [0, 1)", [](TrainConfig& c) { c.heldOutFraction = -0.5; }},
        {"--held-out must be a fraction in [0, 1)", [](TrainConfig& c) { c.heldOutFraction = 1; }},
        {"--clip-norm must be finite and at least 0", [](TrainConfig& c) { c.clipNorm = -1; }},
        {"--clip-norm must be finite and at least 0", [&](TrainConfig& c) { c.clipNorm = nan; }},
        {"--warmup must be at least 0", [](TrainConfig& c) { c.warmupSteps = -5; }},
        {"--keep must be at least 1", [](TrainConfig& c) { c.keepCheckpoints = 0; }},
        {"--vocab-size must be in [2, ", [](TrainConfig& c) { c.vocabSize = 0; }},
        {"--vocab-size must be in [2, ", [](TrainConfig& c) { c.vocabSize = 1; }},
        {"--dim must be even and in [2, 1024]", [](TrainConfig& c) { c.dim = 100000; }},
        {"--dim must be even and in [2, 1024]", [](TrainConfig& c) { c.dim = 7; }},
        {"--lr must be in (0, 100]", [](TrainConfig& c) { c.lr = 1e30; }},
        {"--lr must be in (0, 100]", [](TrainConfig& c) { c.lr = 0; }},
        {"--lr must be in (0, 100]", [&](TrainConfig& c) { c.lr = nan; }},
        {"--init-scale must be finite and at least 0", [](TrainConfig& c) { c.initScale = -0.1; }},
        {"--position-slope must be a finite number", [&](TrainConfig& c) { c.positionSlope = inf; }},
        {"--max-minutes must be finite and at least 0", [](TrainConfig& c) { c.maxMinutes = -1; }},
        {"--max-minutes must be finite and at least 0", [&](TrainConfig& c) { c.maxMinutes = inf; }},
        {"--checkpoint-minutes must be finite", [&](TrainConfig& c) { c.checkpointMinutes = nan; }},
        {"--checkpoint-every must be at least 0", [](TrainConfig& c) { c.checkpointEvery = -1; }},
        {"--steps must be at least 1", [](TrainConfig& c) { c.steps = 0; }},
        {"--batch must be in [1, ", [](TrainConfig& c) { c.batchSize = 0; }},
        {"--negatives must be at least 1", [](TrainConfig& c) { c.negatives = 0; }},
        {"--max-seq-length must be in [2, 512]", [](TrainConfig& c) { c.maxSeqLength = 1000; }},
        {"--weight-decay must be finite", [](TrainConfig& c) { c.weightDecay = -1; }},
        {"--beta1 must be in [0, 1)", [](TrainConfig& c) { c.beta1 = 1; }},
        {"--eps must be in (0, 1]", [](TrainConfig& c) { c.eps = 0; }},
        {"--min-count must be at least 1", [](TrainConfig& c) { c.minCount = 0; }},
        {"--eval-every must be at least 0", [](TrainConfig& c) { c.evalEvery = -1; }},
        {"--max-non-finite must be at least 1", [](TrainConfig& c) { c.maxNonFinite = 0; }},
        {"--threads must be in [0, 4096]", [](TrainConfig& c) { c.threads = -2; }},
        {"--vocab-kind must be char or bpe", [](TrainConfig& c) { c.vocabKind = "word"; }},
        {"--device must be cpu, cuda or cuda:N", [](TrainConfig& c) { c.device = "tpu"; }},
        {"--precision must be fp32, fp16 or bf16", [](TrainConfig& c) { c.precision = "fp8"; }},
        {"--precision bf16 needs --device cuda", [](TrainConfig& c) { c.precision = "bf16"; }},
        {"--recipe must be default or reference", [](TrainConfig& c) { c.recipe = "fast"; }},
        {"--corpus must name at least one", [](TrainConfig& c) { c.corpus.clear(); }},
    };
    for (const auto& k : cases) {
        const auto msg = rangeError(k.change);
        EXPECT_EQ(msg.rfind(k.option, 0), 0u) << "expected '" << k.option << "...', got '" << msg << "'";
        if (msg.rfind("--precision bf16", 0) != 0 && msg.rfind("--corpus", 0) != 0) {
            EXPECT_NE(msg.find("; got "), std::string::npos) << msg; // the value given
        }
    }
}

TEST(TrainConfigRanges, BoundaryValuesAreAccepted) {
    EXPECT_EQ(rangeError([](TrainConfig& c) { c.checkpointEvery = 0; }), ""); // only at the end
    EXPECT_EQ(rangeError([](TrainConfig& c) { c.heldOutFraction = 0; }), "");
    EXPECT_EQ(rangeError([](TrainConfig& c) { c.clipNorm = 0; }), "");
    EXPECT_EQ(rangeError([](TrainConfig& c) { c.vocabSize = 2; }), "");
    EXPECT_EQ(rangeError([](TrainConfig& c) { c.dim = 1024; }), "");
    EXPECT_EQ(rangeError([](TrainConfig& c) { c.initScale = 0; }), "");
    EXPECT_EQ(rangeError([](TrainConfig& c) { c.positionSlope = -0.5; }), "");
    EXPECT_EQ(rangeError([](TrainConfig& c) { c.optimizer = OptimizerKind::Adagrad; }), "");
    EXPECT_EQ(rangeError([](TrainConfig& c) {
                  c.optimizer = OptimizerKind::Sgd;
                  c.lr = 1;
              }),
              "");
    EXPECT_EQ(rangeError([](TrainConfig& c) {
                  c.device = "cuda:1";
                  c.precision = "bf16";
              }),
              "");
    // a given tokenizer decides the vocabulary: --vocab-size is not used
    EXPECT_EQ(rangeError([](TrainConfig& c) {
                  c.tokenizer = "t.json";
                  c.vocabSize = 0;
              }),
              "");
    // a held-out corpus replaces the fraction
    EXPECT_EQ(rangeError([](TrainConfig& c) {
                  c.heldOutCorpus = {"h.txt"};
                  c.heldOutFraction = 5;
              }),
              "");
}

TEST(TrainConfigRanges, NegativesAboveVMinusOneAreRefusedForTheSampledLoss) {
    TrainConfig c;
    c.corpus = {"c.txt"};
    c.loss = LossKind::Sampled;
    c.negatives = 64;
    EXPECT_NO_THROW(validateAgainstVocabulary(c, 65));
    try {
        validateAgainstVocabulary(c, 64);
        FAIL() << "no error";
    } catch (const InputError& e) {
        EXPECT_NE(std::string(e.what()).find("--negatives must be at most V - 1 = 63"), std::string::npos) << e.what();
    }
    c.loss = LossKind::Exact; // the exact loss takes no negatives
    EXPECT_NO_THROW(validateAgainstVocabulary(c, 64));
}

} // namespace
