// SPDX-License-Identifier: GPL-3.0-or-later
// NodeVocabulary: {token: id} files, validation, mapping tokenizer ids to node ids.
#include "brillm/error.h"
#include "brillm/text/tokenizer.h"
#include "brillm/text/vocabulary.h"
#include "tokenizer_test_util.h"

#include <gtest/gtest.h>

namespace brillm {
namespace {

std::string errorOf(const std::string& json) {
    try {
        NodeVocabulary::parse(json, "v.json");
    } catch (const TokenizerError& e) {
        return e.what();
    }
    return "(no error)";
}

TEST(NodeVocabulary, ParsesAndLooksUp) {
    const auto v = NodeVocabulary::parse(R"({"b": 1, "<unk>": 0, "\"q\\": 2})", "v.json");
    EXPECT_EQ(v.size(), 3);
    EXPECT_EQ(v.id("b"), 1);
    EXPECT_EQ(v.id("\"q\\"), 2);
    EXPECT_FALSE(v.id("zz"));
    EXPECT_EQ(v.token(0), "<unk>");
    EXPECT_EQ(v.unknownId(), 0);
    EXPECT_THROW(v.token(3), InputError);
    EXPECT_THROW(v.token(-1), InputError);
}

TEST(NodeVocabulary, RejectsBadFilesWithClearMessages) {
    EXPECT_NE(errorOf(R"({"a": 0, "a": 1})").find("token \"a\" is listed twice"), std::string::npos);
    EXPECT_NE(errorOf(R"({"a": 0, "b": 0})").find("id 0 is given to both \"a\" and \"b\""), std::string::npos);
    const std::string gap = errorOf(R"({"a": 0, "b": 2, "c": 3})");
    EXPECT_NE(gap.find("not contiguous"), std::string::npos) << gap;
    EXPECT_NE(gap.find("id 1 is missing"), std::string::npos) << gap;
    EXPECT_NE(errorOf(R"({"a": -1})").find("negative id"), std::string::npos);
    EXPECT_NE(errorOf(R"({"a": 1.5})").find("fractional"), std::string::npos);
    EXPECT_NE(errorOf(R"({"a": "0"})").find("expected an integer id"), std::string::npos);
    EXPECT_NE(errorOf(R"({"a": {"b": 0}})").find("nested object"), std::string::npos);
    EXPECT_NE(errorOf(R"([0, 1])").find("expected a JSON object"), std::string::npos);
    EXPECT_NE(errorOf("{}").find("empty"), std::string::npos);
    const std::string malformed = errorOf("{\n  \"a\": 0,\n  \"b\": 1,\n}");
    EXPECT_NE(malformed.find("v.json:4:1"), std::string::npos) << malformed;
    EXPECT_NE(malformed.find("malformed JSON"), std::string::npos) << malformed;
    EXPECT_NE(errorOf(R"({"a": 0} trailing)").find("malformed JSON"), std::string::npos);
    EXPECT_THROW(NodeVocabulary::load("/nonexistent/vocab.json"), TokenizerError);
    EXPECT_THROW(NodeVocabulary::fromTokens({"a", "b", "a"}), TokenizerError);
}

TEST(NodeVocabulary, SaveLoadRoundTrip) {
    test::TempDir dir;
    const auto v = NodeVocabulary::fromTokens({"<unk>", "中", "\"", "\\", "\t", "😀", ""});
    v.save(dir.path() / "v.json");
    const auto back = NodeVocabulary::load(dir.path() / "v.json");
    EXPECT_EQ(back.tokens(), v.tokens());
}

TEST(NodeVocabulary, ReleasedEnglishNodesMatchTheTokenizer) {
    if (!std::filesystem::exists(test::releasedEnVocab()) || !std::filesystem::exists(test::releasedBpe()))
        GTEST_SKIP() << "no released BriLLM0.5 files";
    const auto nodes = NodeVocabulary::load(test::releasedEnVocab());
    const auto tok = loadTokenizer(test::releasedBpe());
    EXPECT_EQ(nodes.size(), 4000);
    int64_t missing = -1;
    const auto map = nodes.mapFrom(*tok, &missing);
    EXPECT_EQ(missing, 0);
    for (size_t i = 0; i < map.size(); ++i)
        ASSERT_EQ(map[i], static_cast<int32_t>(i));
    EXPECT_EQ(NodeVocabulary::fromTokenizer(*tok).tokens(), nodes.tokens());
}

TEST(NodeVocabulary, MapFromReportsMissingTokens) {
    const auto tok = loadTokenizer(test::fixture("austen_bpe_600.json"));
    const auto nodes = NodeVocabulary::fromTokens({"[UNK]", "Ġthe", "[PAD]"});
    int64_t missing = 0;
    const auto map = nodes.mapFrom(*tok, &missing);
    EXPECT_EQ(missing, tok->vocabSize() - 3);
    EXPECT_EQ(map[static_cast<size_t>(*tok->tokenToId("Ġthe"))], 1);
    EXPECT_EQ(map[static_cast<size_t>(*tok->tokenToId("[PAD]"))], 2);
    EXPECT_EQ(map[static_cast<size_t>(*tok->tokenToId("a"))], 0); // -> [UNK]
    const auto back = NodeVocabulary::fromTokens({"[UNK]", "Ġthe", "not-a-token"}).mapTo(*tok, &missing);
    EXPECT_EQ(back, (std::vector<int32_t>{1, *tok->tokenToId("Ġthe"), -1}));
    EXPECT_EQ(missing, 1);
}

} // namespace
} // namespace brillm
