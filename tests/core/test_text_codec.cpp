// SPDX-License-Identifier: GPL-3.0-or-later
#include "brillm/error.h"
#include "brillm/io/model_file.h"
#include "brillm/text/bpe_tokenizer.h"
#include "brillm/text/text_codec.h"
#include "brillm/text/tokenizer.h"
#include "brillm/text/vocabulary.h"

#include <gtest/gtest.h>

#include <filesystem>

using namespace brillm;

TEST(TextCodec, CharacterModelSplitsByCharacter) {
    ModelMetadata meta;
    meta.vocabulary = {"<unk>", "a", "b", "的"};
    const auto codec = TextCodec::fromMetadata(meta, 4);
    const auto e = codec.encode("ab的z");
    EXPECT_EQ(e.nodes, (std::vector<int32_t>{1, 2, 3, 0}));
    EXPECT_EQ(e.unknown, 1);
    EXPECT_EQ(codec.decode(std::vector<int32_t>{3, 1}), "的a");
    EXPECT_EQ(codec.nodeText(2), "b");
    EXPECT_THROW(codec.decode(std::vector<int32_t>{4}), InputError);
    EXPECT_THROW(TextCodec::fromMetadata(meta, 5), TokenizerError);
    EXPECT_THROW(TextCodec::fromMetadata(ModelMetadata{}, 4), TokenizerError);
}

TEST(TextCodec, ReleasedEnglishFilesMapBpeTokensToNodeIds) {
    const std::filesystem::path dir = std::filesystem::path(BRILLM_SHARED_DIR) / "brillm0.5";
    const auto tokPath = dir / "wiki_bpe_tokenizer_4000_bytelevel.json", vocabPath = dir / "vocab_wiki_4k_en.json";
    if (!std::filesystem::exists(tokPath) || !std::filesystem::exists(vocabPath))
        GTEST_SKIP() << "released BriLLM files not found in " << dir;
    std::shared_ptr<const Tokenizer> tok = ByteLevelBpeTokenizer::load(tokPath);
    const auto nodes = NodeVocabulary::load(vocabPath);
    const TextCodec codec(nodes, tok);
    const std::string text = "In frogs, the hind legs are larger";
    const auto e = codec.encode(text);
    ASSERT_FALSE(e.nodes.empty());
    const auto bpe = tok->encode(text);
    ASSERT_EQ(e.nodes.size(), bpe.ids.size());
    for (size_t k = 0; k < e.nodes.size(); ++k) {
        EXPECT_EQ(e.tokens[k], bpe.tokens[k]);
        EXPECT_EQ(nodes.token(e.nodes[k]), bpe.tokens[k]);
    }
    EXPECT_EQ(e.unknown, 0);
    // the byte-level prefix space comes back as a space
    EXPECT_EQ(codec.decode(e.nodes), " " + text);
    EXPECT_EQ(codec.nodeText(*nodes.id("Ġthe")), " the");
}

TEST(TextCodec, SpecialNodesAreTheTokenizersSpecialTokensAndTheUsualNames) {
    ModelMetadata meta;
    meta.vocabulary = {"a", "<unk>", "b", "[PAD]", "c"};
    EXPECT_EQ(TextCodec::fromMetadata(meta, 5).specialNodes(), (std::vector<int32_t>{1, 3}));
    // a BPE tokenizer: its added special tokens, mapped to node ids
    std::shared_ptr<const Tokenizer> bpe =
        loadTokenizer(std::string(BRILLM_SOURCE_DIR) + "/tests/fixtures/tokenizer/austen_bpe_600.json");
    const TextCodec codec(NodeVocabulary::fromTokenizer(*bpe), bpe);
    const auto special = codec.specialNodes();
    ASSERT_EQ(special.size(), 5u);
    for (int32_t n : special) {
        const auto& tok = codec.nodeToken(n);
        EXPECT_TRUE(tok == "[PAD]" || tok == "[UNK]" || tok == "[CLS]" || tok == "[SEP]" || tok == "[MASK]") << tok;
    }
}
