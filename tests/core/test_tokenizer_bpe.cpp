// SPDX-License-Identifier: GPL-3.0-or-later
// ByteLevelBpeTokenizer against golden outputs of the official HuggingFace tokenizers binding
// (tools/golden/generate.js), plus the errors for files it does not support.
#include "brillm/error.h"
#include "brillm/text/bpe_tokenizer.h"
#include "tokenizer_test_util.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <sstream>
#include <thread>

namespace brillm {
namespace {

using nlohmann::json;
using test::escaped;
using test::fixture;

json readJson(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return json::parse(ss.str());
}

// Checks every golden case; returns the number of failures (each reported once).
int checkGolden(const Tokenizer& tok, const json& golden) {
    int failures = 0;
    for (const auto& c : golden.at("cases")) {
        const std::string text = c.at("text").get<std::string>();
        const auto ids = c.at("ids").get<std::vector<int32_t>>();
        const auto tokens = c.at("tokens").get<std::vector<std::string>>();
        const Encoding e = tok.encode(text);
        if (e.ids != ids || e.tokens != tokens) {
            ++failures;
            std::string got, want;
            for (const auto& t : e.tokens)
                got.append("'").append(escaped(t)).append("' ");
            for (const auto& t : tokens)
                want.append("'").append(escaped(t)).append("' ");
            ADD_FAILURE() << "encode mismatch for \"" << escaped(text) << "\"\n  want: " << want << "\n  got:  " << got;
            continue;
        }
        EXPECT_EQ(tok.encodeIds(text), ids) << "encodeIds differs from encode for \"" << escaped(text) << "\"";
        EXPECT_EQ(e.offsets.size(), e.ids.size());
        for (const auto& [b, en] : e.offsets) {
            EXPECT_LE(b, en);
            EXPECT_LE(en, text.size());
        }
        const std::string decoded = tok.decode(ids);
        if (decoded != c.at("decoded").get<std::string>()) {
            ++failures;
            ADD_FAILURE() << "decode mismatch for \"" << escaped(text) << "\"\n  want: \""
                          << escaped(c.at("decoded").get<std::string>()) << "\"\n  got:  \"" << escaped(decoded)
                          << "\"";
        }
        EXPECT_EQ(tok.decode(ids, /*skipSpecial=*/true), c.at("decoded_skip_special").get<std::string>())
            << "for \"" << escaped(text) << "\"";
    }
    return failures;
}

TEST(BpeTokenizerGolden, ReleasedEnglishTokenizerMatchesHuggingFace) {
    if (!std::filesystem::exists(test::releasedBpe())) GTEST_SKIP() << "no " << test::releasedBpe();
    const auto tok = ByteLevelBpeTokenizer::load(test::releasedBpe());
    EXPECT_EQ(tok->vocabSize(), 4000);
    EXPECT_EQ(tok->numMerges(), 3917u);
    EXPECT_EQ(tok->unknownId(), 1);
    EXPECT_EQ(tok->specialIds(), (std::vector<int32_t>{0, 1, 2, 3, 4}));
    const json golden = readJson(fixture("golden_brillm05_en_bpe.json"));
    ASSERT_GT(golden.at("cases").size(), 300u);
    EXPECT_EQ(checkGolden(*tok, golden), 0);
}

TEST(BpeTokenizerGolden, TrainedFixtureTokenizerMatchesHuggingFace) {
    // Our own trainer's output (committed), with extra added tokens using every flag.
    const auto tok = ByteLevelBpeTokenizer::load(fixture("austen_bpe_flags.json"));
    const json golden = readJson(fixture("golden_austen_bpe_flags.json"));
    ASSERT_GT(golden.at("cases").size(), 300u);
    EXPECT_EQ(checkGolden(*tok, golden), 0);
}

TEST(BpeTokenizer, OffsetsPointIntoTheOriginalText) {
    if (!std::filesystem::exists(test::releasedBpe())) GTEST_SKIP() << "no " << test::releasedBpe();
    const auto tok = ByteLevelBpeTokenizer::load(test::releasedBpe());
    const std::string text = "Hello [CLS] ﬁne world";
    const Encoding e = tok->encode(text);
    ASSERT_EQ(e.tokens.front(), "ĠH");
    EXPECT_EQ(e.offsets.front(), (std::pair<size_t, size_t>{0, 1})); // the prefix space covers nothing
    const auto cls = std::find(e.tokens.begin(), e.tokens.end(), "[CLS]") - e.tokens.begin();
    EXPECT_EQ(text.substr(e.offsets[static_cast<size_t>(cls)].first, 5), "[CLS]");
    // "ﬁ" (3 bytes) normalises to "fi": the tokens made from it cover the ligature.
    bool sawLigature = false;
    for (size_t i = 0; i < e.size(); ++i)
        if (e.offsets[i].first == 12 && e.offsets[i].second >= 15) sawLigature = true;
    EXPECT_TRUE(sawLigature);
}

TEST(BpeTokenizer, ConcurrentEncodingGivesTheSameIds) {
    if (!std::filesystem::exists(test::releasedBpe())) GTEST_SKIP() << "no " << test::releasedBpe();
    const auto tok = ByteLevelBpeTokenizer::load(test::releasedBpe());
    const std::string text =
        "It is a truth universally acknowledged, that a single man in possession of a good fortune.";
    const auto want = tok->encodeIds(text);
    std::vector<std::thread> threads;
    std::atomic<int> bad{0};
    for (int t = 0; t < 4; ++t)
        threads.emplace_back([&] {
            for (int i = 0; i < 200; ++i)
                if (tok->encodeIds(text) != want) ++bad;
        });
    for (auto& th : threads)
        th.join();
    EXPECT_EQ(bad.load(), 0);
}

TEST(BpeTokenizer, RejectsInvalidUtf8AndUnknownIds) {
    if (!std::filesystem::exists(test::releasedBpe())) GTEST_SKIP() << "no " << test::releasedBpe();
    const auto tok = ByteLevelBpeTokenizer::load(test::releasedBpe());
    EXPECT_THROW(tok->encode("abc\xff"), InputError);
    EXPECT_THROW(tok->encode("\xc3"), InputError);
    const std::vector<int32_t> bad{5, 4000};
    EXPECT_THROW(tok->decode(bad), InputError);
    EXPECT_THROW(tok->idToToken(-1), InputError);
}

// A minimal valid tokenizer.json to mutate in the error tests.
json minimalTokenizer() {
    return json::parse(R"({
      "version": "1.0", "truncation": null, "padding": null,
      "added_tokens": [{"id": 0, "content": "[UNK]", "single_word": false, "lstrip": false, "rstrip": false,
                        "normalized": false, "special": true}],
      "normalizer": {"type": "NFKC"},
      "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
      "post_processor": null,
      "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
      "model": {"type": "BPE", "dropout": null, "unk_token": "[UNK]", "continuing_subword_prefix": null,
                "end_of_word_suffix": null, "fuse_unk": false, "byte_fallback": false,
                "vocab": {"[UNK]": 0, "a": 1, "b": 2, "Ġ": 3, "ab": 4, "Ġab": 5},
                "merges": [["a", "b"], ["Ġ", "ab"]]}
    })");
}

std::string errorOf(const json& j) {
    try {
        ByteLevelBpeTokenizer::parse(j.dump(), "synthetic.json");
    } catch (const TokenizerError& e) {
        return e.what();
    }
    return "(no error)";
}

TEST(BpeTokenizer, MinimalSyntheticTokenizerWorks) {
    const auto tok = ByteLevelBpeTokenizer::parse(minimalTokenizer().dump(), "synthetic.json");
    EXPECT_EQ(tok->encodeIds("ab ab"), (std::vector<int32_t>{5, 5}));
    EXPECT_EQ(tok->encodeIds("abc"), (std::vector<int32_t>{5, 0}));
    EXPECT_EQ(tok->decode(std::vector<int32_t>{5, 0, 5}), " ab[UNK] ab");
    // String-form merges ("a b") load the same.
    json j = minimalTokenizer();
    j["model"]["merges"] = json::array({"a b", "Ġ ab"});
    EXPECT_EQ(ByteLevelBpeTokenizer::parse(j.dump(), "s.json")->encodeIds("ab"), (std::vector<int32_t>{5}));
}

TEST(BpeTokenizer, UnsupportedSectionsAreNamed) {
    json j = minimalTokenizer();
    j["model"]["type"] = "WordPiece";
    EXPECT_NE(errorOf(j).find("unsupported model type 'WordPiece'"), std::string::npos) << errorOf(j);
    j = minimalTokenizer();
    j["model"]["type"] = "Unigram";
    EXPECT_NE(errorOf(j).find("'Unigram'"), std::string::npos);
    j = minimalTokenizer();
    j["pre_tokenizer"] = json{{"type", "Whitespace"}};
    EXPECT_NE(errorOf(j).find("unsupported pre_tokenizer type 'Whitespace'"), std::string::npos) << errorOf(j);
    j = minimalTokenizer();
    j["pre_tokenizer"] = nullptr;
    EXPECT_NE(errorOf(j).find("pre_tokenizer is null"), std::string::npos);
    j = minimalTokenizer();
    j["normalizer"] =
        json{{"type", "Sequence"}, {"normalizers", json::array({json{{"type", "NFC"}}, json{{"type", "Lowercase"}}})}};
    EXPECT_NE(errorOf(j).find("unsupported normalizer type 'Lowercase' in normalizer.normalizers[1]"),
              std::string::npos)
        << errorOf(j);
    j = minimalTokenizer();
    j["post_processor"] = json{{"type", "TemplateProcessing"}};
    EXPECT_NE(errorOf(j).find("post_processor type 'TemplateProcessing'"), std::string::npos);
    j = minimalTokenizer();
    j["decoder"] = json{{"type", "WordPiece"}};
    EXPECT_NE(errorOf(j).find("decoder type 'WordPiece'"), std::string::npos);
    j = minimalTokenizer();
    j["model"]["dropout"] = 0.1;
    EXPECT_NE(errorOf(j).find("dropout"), std::string::npos);
    j = minimalTokenizer();
    j["truncation"] = json{{"max_length", 8}};
    EXPECT_NE(errorOf(j).find("truncation"), std::string::npos);
    j = minimalTokenizer();
    j["model"]["merges"] = json::array({json::array({"a", "z"})});
    EXPECT_NE(errorOf(j).find("\"z\", which is not in model.vocab"), std::string::npos) << errorOf(j);
    j = minimalTokenizer();
    j["model"]["vocab"]["gap"] = 9;
    EXPECT_NE(errorOf(j).find("not contiguous"), std::string::npos) << errorOf(j);
    j = minimalTokenizer();
    j["model"]["vocab"]["dup"] = 2;
    EXPECT_NE(errorOf(j).find("id 2 is given to both"), std::string::npos) << errorOf(j);
}

TEST(BpeTokenizer, MalformedJsonNamesFileAndPosition) {
    test::TempDir dir;
    const auto p = dir.write("broken.json", "{\n  \"model\": {\n    \"type\": \"BPE\",,\n  }\n}\n");
    try {
        ByteLevelBpeTokenizer::load(p);
        FAIL() << "no error";
    } catch (const TokenizerError& e) {
        const std::string what = e.what();
        EXPECT_NE(what.find(p.string() + ":3:"), std::string::npos) << what;
        EXPECT_NE(what.find("malformed JSON"), std::string::npos) << what;
    }
    EXPECT_THROW(ByteLevelBpeTokenizer::load(dir.path() / "missing.json"), TokenizerError);
}

} // namespace
} // namespace brillm
