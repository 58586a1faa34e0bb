// SPDX-License-Identifier: GPL-3.0-or-later
// CharTokenizer (one node per character), loadTokenizer's detection, defaultPadId.
#include "brillm/error.h"
#include "brillm/text/bpe_tokenizer.h"
#include "brillm/text/tokenizer.h"
#include "brillm/text/tokenizer_char.h"
#include "tokenizer_test_util.h"

#include <gtest/gtest.h>

namespace brillm {
namespace {

CharTokenizer smallTokenizer(bool nfkc = false) {
    return CharTokenizer(NodeVocabulary::fromTokens({"<unk>", "a", "b", "ﬁ", "é", "😀", " "}), nfkc);
}

TEST(CharTokenizer, OneNodePerCodePointUnknownToId0) {
    const auto tok = smallTokenizer();
    const Encoding e = tok.encode("ab😀x é");
    EXPECT_EQ(e.ids, (std::vector<int32_t>{1, 2, 5, 0, 6, 4}));
    EXPECT_EQ(e.tokens, (std::vector<std::string>{"a", "b", "😀", "<unk>", " ", "é"}));
    EXPECT_EQ(e.offsets[2], (std::pair<size_t, size_t>{2, 6}));
    EXPECT_EQ(e.offsets[5], (std::pair<size_t, size_t>{8, 10}));
    EXPECT_EQ(tok.encodeIds("ab😀x é"), e.ids);
    EXPECT_EQ(tok.decode(e.ids), "ab😀<unk> é");
    EXPECT_EQ(tok.decode(e.ids, /*skipSpecial=*/true), "ab😀 é");
    EXPECT_TRUE(tok.encode("").ids.empty());
    // A decomposed é is two code points, neither of them in the vocabulary as such.
    EXPECT_EQ(tok.encodeIds("e\u0301"), (std::vector<int32_t>{0, 0}));
}

TEST(CharTokenizer, OptionalNfkc) {
    EXPECT_EQ(smallTokenizer(false).encodeIds("ﬁ"), (std::vector<int32_t>{3}));
    const auto tok = smallTokenizer(true);
    EXPECT_EQ(tok.encodeIds("ﬁ"), (std::vector<int32_t>{0, 0})); // "fi"
    EXPECT_EQ(tok.encodeIds("ａｂ"), (std::vector<int32_t>{1, 2}));
    EXPECT_EQ(tok.encodeIds("e\u0301"), (std::vector<int32_t>{4}));
    const Encoding e = tok.encode("ａb");
    EXPECT_EQ(e.offsets[0], (std::pair<size_t, size_t>{0, 3})); // the fullwidth form
    EXPECT_EQ(e.offsets[1], (std::pair<size_t, size_t>{3, 4}));
}

TEST(CharTokenizer, ErrorsAreClear) {
    const CharTokenizer noUnk(NodeVocabulary::fromTokens({"a", "b"}));
    EXPECT_FALSE(noUnk.unknownId());
    try {
        noUnk.encode("abc");
        FAIL();
    } catch (const InputError& e) {
        EXPECT_NE(std::string(e.what()).find("U+0063 at byte 2"), std::string::npos) << e.what();
    }
    EXPECT_THROW(smallTokenizer().encode("a\xC0\x80"), InputError);    // overlong NUL
    EXPECT_THROW(smallTokenizer().encode("\xED\xA0\x80"), InputError); // surrogate
    EXPECT_THROW(CharTokenizer(NodeVocabulary::fromTokens({"a"}), false, "<nope>"), TokenizerError);
    EXPECT_THROW(smallTokenizer().idToToken(7), InputError);
}

TEST(CharTokenizer, ReleasedChineseVocabulary) {
    if (!std::filesystem::exists(test::releasedZhVocab())) GTEST_SKIP() << "no " << test::releasedZhVocab();
    const auto tok = loadTokenizer(test::releasedZhVocab());
    ASSERT_EQ(tok->kind(), TokenizerKind::Char);
    EXPECT_EQ(tok->vocabSize(), 4001);
    EXPECT_EQ(tok->unknownId(), 0);
    EXPECT_EQ(tok->encodeIds("我爱北京😀"), (std::vector<int32_t>{466, 543, 95, 366, 0}));
    EXPECT_EQ(tok->encodeIds("的。"), (std::vector<int32_t>{2, 3}));
    EXPECT_FALSE(defaultPadId(*tok)); // the reference pads Chinese with "", which is not a node
}

TEST(LoadTokenizer, DetectsTheKindFromTheContent) {
    test::TempDir dir;
    const auto dict = dir.write("nodes.json", R"({"<unk>": 0, "x": 1})");
    EXPECT_EQ(loadTokenizer(dict)->kind(), TokenizerKind::Char);
    const auto bpe = loadTokenizer(test::fixture("austen_bpe_600.json"));
    EXPECT_EQ(bpe->kind(), TokenizerKind::ByteLevelBpe);
    EXPECT_EQ(bpe->vocabSize(), 600);
    EXPECT_EQ(defaultPadId(*bpe), 0);
    const auto list = dir.write("list.json", "[1, 2]");
    EXPECT_THROW(loadTokenizer(list), TokenizerError);
    const auto broken = dir.write("broken.json", "{\"a\": 0,\n \"b\" 1}");
    try {
        loadTokenizer(broken);
        FAIL();
    } catch (const TokenizerError& e) {
        EXPECT_NE(std::string(e.what()).find(broken.string() + ":2:"), std::string::npos) << e.what();
    }
    EXPECT_THROW(loadTokenizer(dir.path() / "absent.json"), TokenizerError);
}

} // namespace
} // namespace brillm
