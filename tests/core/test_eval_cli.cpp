// SPDX-License-Identifier: GPL-3.0-or-later
// brillm split and brillm eval, run as a user runs them, checked against the library.
#include "brillm/io/model_file.h"
#include "brillm/model/corpus_eval.h"
#include "brillm/model/ngram_baseline.h"
#include "brillm/text/corpus_sequences.h"
#include "brillm/text/text_codec.h"
#include "reference_model.h"
#include "run_command.h"
#include "test_checkpoint_util.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <array>
#include <cmath>
#include <cstdio>
#include <sys/wait.h>

namespace brillm {
namespace {

using nlohmann::json;

using CliRun = test::CommandResult;

CliRun brillm(const std::string& args) {
    return test::runCommand(test::shellQuote(BRILLM_CLI_PATH) + " " + args);
}

bool contains(const std::string& s, const std::string& part) {
    return s.find(part) != std::string::npos;
}

std::string q(const std::string& path) {
    return "'" + path + "'";
}

TEST(SplitCli, RoundTripsTheParagraphs) {
    test::ScratchDir dir;
    // hard-wrapped paragraphs separated by blank lines, then a file of one paragraph per line
    std::string wrapped;
    for (int i = 0; i < 7; ++i)
        wrapped +=
            "paragraph " + std::to_string(i) + " starts\n  and goes on \nand ends " + std::to_string(i) + ".\n\n";
    test::writeText(dir.file("a.txt"), wrapped);
    test::writeText(dir.file("b.txt"), "  line one\nline two\t\nline three\n");
    auto expected = readParagraphs(dir.file("a.txt"));
    for (auto& p : readParagraphs(dir.file("b.txt")))
        expected.push_back(p);
    ASSERT_EQ(expected.size(), 10u);

    const CliRun r = brillm("split --every 3 --offset 1 --train " + q(dir.file("train.txt")) + " --held-out " +
                            q(dir.file("held.txt")) + " " + q(dir.file("a.txt")) + " " + q(dir.file("b.txt")));
    ASSERT_EQ(r.code, 0) << r.out;
    EXPECT_TRUE(contains(r.out, "10 paragraphs from 2 files")) << r.out;
    EXPECT_TRUE(contains(r.out, "7 paragraphs")) << r.out;
    EXPECT_TRUE(contains(r.out, "3 paragraphs")) << r.out;
    std::vector<std::string> train, held;
    for (size_t i = 0; i < expected.size(); ++i)
        (i % 3 == 1 ? held : train).push_back(expected[i]);
    EXPECT_EQ(readParagraphs(dir.file("train.txt")), train);
    EXPECT_EQ(readParagraphs(dir.file("held.txt")), held);
    EXPECT_EQ(dir.entries(), 4u); // no temporary file left

    // a single held-out paragraph reads back too
    ASSERT_EQ(brillm("split --every 100 --train " + q(dir.file("t2.txt")) + " --held-out " + q(dir.file("h2.txt")) +
                     " " + q(dir.file("a.txt")))
                  .code,
              0);
    EXPECT_EQ(readParagraphs(dir.file("h2.txt")), std::vector<std::string>{expected[0]});
    EXPECT_EQ(readParagraphs(dir.file("t2.txt")).size(), 6u);
}

TEST(SplitCli, Errors) {
    test::ScratchDir dir;
    CliRun r = brillm("split --every 10 --train " + q(dir.file("t.txt")) + " --held-out " + q(dir.file("h.txt")) + " " +
                      q(dir.file("missing.txt")));
    EXPECT_EQ(r.code, 1) << r.out;
    EXPECT_TRUE(contains(r.out, "missing.txt")) << r.out;
    r = brillm("split --every 3 --offset 3 --train t --held-out h x");
    EXPECT_EQ(r.code, 2) << r.out;
    EXPECT_EQ(dir.entries(), 0u);
}

// A character model over a handful of letters, trained with windows of 5 (its provenance).
class EvalCli : public ::testing::Test {
protected:
    void SetUp() override {
        const std::vector<std::string> vocab = {"<unk>", "a", "b", "c", "d", " ", "e"};
        Model m = testing::randomModel(static_cast<int64_t>(vocab.size()), 4, 0.4, 3, at::kFloat, 16);
        ModelMetadata meta;
        meta.vocabulary = vocab;
        meta.tokenizerKind = "char";
        meta.provenanceJson = R"({"trainer": "test", "max_seq_length": 5})";
        modelPath = dir.file("m.brillm");
        ModelFile::save(modelPath, m, meta);
        NodeVocabulary::fromTokens(vocab).save(dir.file("vocab.json"));
        test::writeText(dir.file("held.txt"), "abc dab\nba\ne\ncab cab cab ead\nxx a\n");
        test::writeText(dir.file("train.txt"), "abc abc dab\n\ncab bad\ndeed\n\nab ba ab ba\n\ncc dd ee\n\na\n");
    }
    test::ScratchDir dir;
    std::string modelPath;
};

TEST_F(EvalCli, ModelMatchesTheLibrary) {
    const CliRun r = brillm("eval --json --threads 2 --model " + q(modelPath) + " --corpus " + q(dir.file("held.txt")));
    ASSERT_EQ(r.code, 0) << r.out;
    const json j = json::parse(r.out);

    const auto loaded = ModelFile::load(modelPath);
    const auto codec = TextCodec::fromMetadata(loaded.metadata, loaded.model.vocabSize());
    const std::vector<std::filesystem::path> files{dir.file("held.txt")};
    const auto held = readEncodedParagraphs(files, codec);
    CorpusEvalOptions o;
    o.windowLength = 5;
    const auto e = evaluateCorpus(loaded.model, held.paragraphs, o);
    EXPECT_EQ(j["window"], 5); // from the provenance
    EXPECT_EQ(j["tokens"], e.tokens);
    EXPECT_EQ(j["tokens"], 6 + 1 + 14 + 3);
    EXPECT_EQ(j["windows"], e.windows);
    EXPECT_EQ(j["paragraphs"], 4);
    EXPECT_EQ(j["short_paragraphs"], 1);
    EXPECT_EQ(j["unknown"], 2);
    EXPECT_EQ(j["nll"].get<double>(), e.nll);
    EXPECT_EQ(j["perplexity"].get<double>(), e.perplexity);
    EXPECT_EQ(j["bytes"], 7 + 2 + 15 + 4);
    EXPECT_NEAR(j["bits_per_byte"].get<double>(), e.nll / std::log(2.0) / 28.0, 1e-12);
    EXPECT_FALSE(j.contains("baselines"));
}

TEST_F(EvalCli, BaselinesWithAndWithoutTheModel) {
    const std::string common = " --json --corpus " + q(dir.file("held.txt")) + " --baseline kn --train-corpus " +
                               q(dir.file("train.txt")) + " --orders 1,2,3";
    const CliRun withModel = brillm("eval --model " + q(modelPath) + common);
    ASSERT_EQ(withModel.code, 0) << withModel.out;
    const CliRun alone = brillm("eval --tokenizer " + q(dir.file("vocab.json")) + common);
    ASSERT_EQ(alone.code, 0) << alone.out;
    const json a = json::parse(withModel.out), b = json::parse(alone.out);
    EXPECT_TRUE(b["nll"].is_null());
    EXPECT_EQ(b["tokens"], a["tokens"]);

    const TextCodec codec(NodeVocabulary::load(dir.file("vocab.json")));
    const std::vector<std::filesystem::path> heldFiles{dir.file("held.txt")}, trainFiles{dir.file("train.txt")};
    const auto held = readEncodedParagraphs(heldFiles, codec);
    const auto train = readEncodedParagraphs(trainFiles, codec);
    ASSERT_EQ(a["baselines"].size(), 4u);
    const std::vector<std::pair<int, KneserNeyVariant>> expected = {{1, KneserNeyVariant::Interpolated},
                                                                    {2, KneserNeyVariant::Interpolated},
                                                                    {3, KneserNeyVariant::Interpolated},
                                                                    {2, KneserNeyVariant::UniformUnseen}};
    for (size_t i = 0; i < expected.size(); ++i) {
        const auto e = KneserNey(7, expected[i].first, train.paragraphs, expected[i].second).evaluate(held.paragraphs);
        for (const json* j : {&a, &b}) {
            const auto& row = (*j)["baselines"][i];
            EXPECT_EQ(row["order"], expected[i].first);
            EXPECT_EQ(row["tokens"], e.tokens);
            EXPECT_EQ(row["tokens"], a["tokens"]);
            EXPECT_EQ(row["nll"].get<double>(), e.nll) << row.dump();
            EXPECT_EQ(row["perplexity"].get<double>(), e.perplexity());
        }
    }
    EXPECT_EQ(a["baselines"][3]["variant"], "uniform-unseen");
}

TEST_F(EvalCli, TextTable) {
    CliRun r = brillm("eval --model " + q(modelPath) + " --corpus " + q(dir.file("held.txt")) +
                      " --baseline kn --train-corpus " + q(dir.file("train.txt")) + " --orders 2 --max-windows 2");
    ASSERT_EQ(r.code, 0) << r.out;
    for (const char* s :
         {"perplexity", "bits/byte", "model ", "KN 2-gram", "KN bigram, uniform unseen", "--max-windows"})
        EXPECT_TRUE(contains(r.out, s)) << s << "\n" << r.out;
}

TEST_F(EvalCli, Errors) {
    CliRun r = brillm("eval --model " + q(modelPath) + " --corpus " + q(dir.file("nope.txt")));
    EXPECT_EQ(r.code, 1) << r.out;
    EXPECT_TRUE(contains(r.out, "nope.txt")) << r.out;
    test::writeText(dir.file("short.txt"), "a\n\nb\n");
    r = brillm("eval --model " + q(modelPath) + " --corpus " + q(dir.file("short.txt")));
    EXPECT_EQ(r.code, 1) << r.out;
    EXPECT_TRUE(contains(r.out, "short.txt")) << r.out;
    EXPECT_TRUE(contains(r.out, "two or more tokens")) << r.out;
}

TEST_F(EvalCli, UsageErrors) {
    EXPECT_EQ(brillm("eval --model " + q(modelPath) + " --corpus x --baseline kn").code, 2);
    EXPECT_EQ(brillm("eval --corpus x --baseline kn --train-corpus y").code, 2);
}

} // namespace
} // namespace brillm
