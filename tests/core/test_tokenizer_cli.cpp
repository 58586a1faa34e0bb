// SPDX-License-Identifier: GPL-3.0-or-later
// The brillm tokenize / vocab / edges commands: output shape, exit codes and messages.
#include "run_command.h"
#include "tokenizer_test_util.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <array>
#include <cstdio>
#include <fstream>
#include <sys/wait.h>

namespace brillm {
namespace {

struct CliResult {
    int exitCode = -1;
    std::string output; // stdout and stderr
};

CliResult run(const std::string& args, const std::string& stdinFile = "/dev/null") {
    const auto r = test::runCommand(test::shellQuote(BRILLM_CLI) + " " + args + " < " + test::shellQuote(stdinFile));
    return {r.code, r.out};
}

// One test per command, so that each stays short (every run starts a process).
class TokenizerCliHelp : public ::testing::TestWithParam<const char*> {};

TEST_P(TokenizerCliHelp, PrintsUsageAndExitsZero) {
    const CliResult r = run(std::string(GetParam()) + " --help");
    EXPECT_EQ(r.exitCode, 0) << r.output;
    EXPECT_NE(r.output.find("usage"), std::string::npos) << r.output;
}

INSTANTIATE_TEST_SUITE_P(Commands, TokenizerCliHelp,
                         ::testing::Values("tokenize", "vocab", "vocab build", "vocab check", "edges", "edges count",
                                           "edges info"));

TEST(TokenizerCli, UsageErrorsExitWithTwo) {
    EXPECT_EQ(run("tokenize").exitCode, 2); // --tokenizer missing
    EXPECT_EQ(run("vocab build --kind word --size 5 --corpus x --out y").exitCode, 2);
}

TEST(TokenizerCli, TokenizeJsonLines) {
    test::TempDir dir;
    const auto in = dir.write("in.txt", "It is a truth.\r\n\nMr. Darcy [CLS]\n");
    const CliResult r = run("tokenize --json --tokenizer '" + test::fixture("austen_bpe_600.json").string() +
                                "' --vocab '" + test::fixture("austen_bpe_600.json").string() + "'",
                            in.string());
    // A tokenizer.json is not a node dictionary.
    EXPECT_EQ(r.exitCode, 1) << r.output;
    const auto nodes = dir.path() / "nodes.json";
    ASSERT_EQ(run("vocab build --kind bpe --size 600 --corpus '" + test::fixture("austen_sample.txt").string() +
                  "' --out '" + (dir.path() / "t.json").string() + "' --node-vocab-out '" + nodes.string() + "'")
                  .exitCode,
              0);
    const CliResult ok = run("tokenize --json --tokenizer '" + test::fixture("austen_bpe_600.json").string() +
                                 "' --vocab '" + nodes.string() + "'",
                             in.string());
    ASSERT_EQ(ok.exitCode, 0) << ok.output;
    std::vector<nlohmann::json> lines;
    size_t start = 0;
    while (start < ok.output.size()) {
        const size_t nl = ok.output.find('\n', start);
        lines.push_back(nlohmann::json::parse(ok.output.substr(start, nl - start)));
        start = nl + 1;
    }
    ASSERT_EQ(lines.size(), 3u);
    EXPECT_EQ(lines[0]["tokens"].front(), "ĠI");
    EXPECT_EQ(lines[0]["ids"], lines[0]["nodes"]);
    EXPECT_TRUE(lines[1]["ids"].empty());
    EXPECT_EQ(lines[2]["tokens"].back(), "[CLS]");
    EXPECT_EQ(lines[2]["ids"].back(), 2);
}

TEST(TokenizerCli, BadVocabulariesAreRejected) {
    test::TempDir dir;
    const auto dupIds = dir.write("dup.json", R"({"<unk>": 0, "a": 1, "b": 1})");
    CliResult r = run("vocab check '" + dupIds.string() + "'");
    EXPECT_EQ(r.exitCode, 1);
    EXPECT_NE(r.output.find("id 1 is given to both"), std::string::npos) << r.output;
    const auto gap = dir.write("gap.json", R"({"<unk>": 0, "a": 2})");
    r = run("vocab check '" + gap.string() + "'");
    EXPECT_EQ(r.exitCode, 1);
    EXPECT_NE(r.output.find("not contiguous"), std::string::npos) << r.output;
    const auto broken = dir.write("broken.json", "{\"<unk>\": 0,\n\"a\": }");
    r = run("vocab check '" + broken.string() + "'");
    EXPECT_EQ(r.exitCode, 1);
    EXPECT_NE(r.output.find(broken.string() + ":2:"), std::string::npos) << r.output;
}

TEST(TokenizerCli, EmptyCorpusIsAnError) {
    test::TempDir dir;
    const auto vocab = dir.write("v.json", R"({"<unk>": 0, "a": 1, "b": 2})");
    CliResult r;
    const auto empty = dir.write("empty.txt", "\n\n");
    r = run("edges count --tokenizer '" + vocab.string() + "' --corpus '" + empty.string() + "' --out '" +
            (dir.path() / "o.bin").string() + "'");
    EXPECT_EQ(r.exitCode, 1);
    EXPECT_NE(r.output.find("the corpus is empty"), std::string::npos) << r.output;
    EXPECT_FALSE(std::filesystem::exists(dir.path() / "o.bin"));
}

TEST(TokenizerCli, InvalidUtf8StopsOrIsSkipped) {
    test::TempDir dir;
    const auto vocab = dir.write("v.json", R"({"<unk>": 0, "a": 1, "b": 2})");
    CliResult r;
    const auto bad = dir.write("bad.txt", "ab\nb\xff\nba\n");
    const std::string count = "edges count --tokenizer '" + vocab.string() + "' --corpus '" + bad.string() +
                              "' --out '" + (dir.path() / "wf.json").string() + "'";
    r = run(count);
    EXPECT_EQ(r.exitCode, 1);
    EXPECT_NE(r.output.find(bad.string() + ":2: invalid UTF-8"), std::string::npos) << r.output;
    r = run(count + " --on-invalid-utf8 skip");
    EXPECT_EQ(r.exitCode, 0) << r.output;
    EXPECT_NE(r.output.find("1 skipped"), std::string::npos) << r.output;
    EXPECT_EQ(nlohmann::json::parse(std::ifstream(dir.path() / "wf.json")),
              nlohmann::json::parse(R"({"a": {"b": 1}, "b": {"a": 1}})"));
    r = run("edges info '" + (dir.path() / "wf.json").string() + "' --vocab '" + vocab.string() + "'");
    EXPECT_EQ(r.exitCode, 0) << r.output;
    EXPECT_NE(r.output.find("own edges            2 of 9"), std::string::npos) << r.output;
}

TEST(TokenizerCli, TokenizeStopsAtInvalidUtf8) {
    test::TempDir dir;
    const auto vocab = dir.write("v.json", R"({"<unk>": 0, "a": 1, "b": 2})");
    const auto bad = dir.write("bad.txt", "ab\nb\xff\nba\n");
    CliResult r = run("tokenize --tokenizer '" + vocab.string() + "'", bad.string());
    EXPECT_EQ(r.exitCode, 1);
    EXPECT_NE(r.output.find("line 2: invalid UTF-8"), std::string::npos) << r.output;
    r = run("tokenize --on-invalid-utf8 skip --tokenizer '" + vocab.string() + "'", bad.string());
    EXPECT_EQ(r.exitCode, 0) << r.output;
    EXPECT_NE(r.output.find("skipped line 2"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("b/2 a/1"), std::string::npos) << r.output;
}

} // namespace
} // namespace brillm
