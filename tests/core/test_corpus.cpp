// SPDX-License-Identifier: GPL-3.0-or-later
// CorpusReader, training sequences, character vocabularies and the BPE trainer.
#include "brillm/error.h"
#include "brillm/text/bpe_tokenizer.h"
#include "brillm/text/bpe_trainer.h"
#include "brillm/text/corpus_reader.h"
#include "brillm/text/corpus_sequences.h"
#include "brillm/text/vocabulary_builder.h"
#include "tokenizer_test_util.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

namespace brillm {
namespace {

std::vector<std::string> readAll(const std::vector<std::filesystem::path>& files, CorpusOptions o = {},
                                 CorpusStats* stats = nullptr) {
    std::vector<std::string> lines;
    const auto s = forEachLine(files, o, [&](std::string_view l) { lines.emplace_back(l); });
    if (stats) *stats = s;
    return lines;
}

TEST(CorpusReader, LinesAcrossFilesAndBuffers) {
    test::TempDir dir;
    const auto a = dir.write("a.txt", "one\r\ntwo\n\nthree");
    // Lines longer than the read buffer and many of them, to cross chunk boundaries.
    std::string big;
    for (int i = 0; i < 3000; ++i)
        big += std::string(static_cast<size_t>(i % 97), 'x') + std::to_string(i) + "\n";
    big += std::string(10000, 'y') + "\n";
    const auto b = dir.write("b.txt", big);
    CorpusOptions o;
    o.chunkBytes = 4096;
    CorpusStats stats;
    const auto lines = readAll({a, b}, o, &stats);
    ASSERT_EQ(lines.size(), 4u + 3001u);
    EXPECT_EQ(lines[0], "one");
    EXPECT_EQ(lines[1], "two");
    EXPECT_EQ(lines[2], "");
    EXPECT_EQ(lines[3], "three");
    EXPECT_EQ(lines[4], "0");
    EXPECT_EQ(lines[4 + 2999], std::string(2999 % 97, 'x') + "2999");
    EXPECT_EQ(lines.back(), std::string(10000, 'y'));
    EXPECT_EQ(stats.lines, lines.size());
    EXPECT_EQ(stats.nonEmptyLines, lines.size() - 1);
    EXPECT_EQ(stats.bytes, 15 + big.size());
}

TEST(CorpusReader, InvalidUtf8StopsWithFileAndLineOrIsSkipped) {
    test::TempDir dir;
    const auto f = dir.write("bad.txt", "good\nalso good\nbad \xff here\nfine\n");
    try {
        readAll({f});
        FAIL() << "no error";
    } catch (const InputError& e) {
        const std::string what = e.what();
        EXPECT_NE(what.find(f.string() + ":3: invalid UTF-8 at byte 4"), std::string::npos) << what;
    }
    CorpusOptions skip;
    skip.onInvalidUtf8 = InvalidUtf8Policy::Skip;
    CorpusStats stats;
    EXPECT_EQ(readAll({f}, skip, &stats), (std::vector<std::string>{"good", "also good", "fine"}));
    EXPECT_EQ(stats.skippedLines, 1u);
    EXPECT_EQ(stats.firstSkipped, f.string() + ":3");
    EXPECT_EQ(invalidUtf8PolicyFromName("skip"), InvalidUtf8Policy::Skip);
    EXPECT_THROW(invalidUtf8PolicyFromName("ignore"), InputError);
}

TEST(CorpusReader, EmptyAndMissingCorpora) {
    test::TempDir dir;
    const auto empty = dir.write("empty.txt", "");
    const auto blank = dir.write("blank.txt", "\n\r\n\n");
    for (const auto& f : {empty, blank}) {
        CorpusReader r({f});
        CorpusChunk c;
        while (r.next(c)) {
        }
        EXPECT_THROW(r.requireNonEmpty(), InputError);
    }
    EXPECT_THROW(CorpusReader({dir.path() / "missing.txt"}), InputError);
    EXPECT_THROW(CorpusReader(std::vector<std::filesystem::path>{}), InputError);
}

TEST(CorpusSequences, TruncateSplitAndPad) {
    const std::vector<int32_t> ids{5, 6, 7, 8, 9};
    auto s = makeSequences(ids, 4, 0);
    ASSERT_EQ(s.size(), 1u);
    EXPECT_EQ(s[0].ids, (std::vector<int32_t>{5, 6, 7, 8}));
    EXPECT_EQ(s[0].length, 4);
    s = makeSequences(ids, 4, 0, SequenceCut::Split);
    ASSERT_EQ(s.size(), 2u);
    EXPECT_EQ(s[1].ids, (std::vector<int32_t>{9, 0, 0, 0}));
    EXPECT_EQ(s[1].length, 1);
    s = makeSequences(std::vector<int32_t>{1, 2}, 32, -7);
    ASSERT_EQ(s.size(), 1u);
    EXPECT_EQ(s[0].ids.size(), 32u);
    EXPECT_EQ(s[0].ids[2], -7);
    EXPECT_TRUE(makeSequences({}, 32, 0).empty());
    EXPECT_THROW(makeSequences(ids, 1, 0), InputError);
}

TEST(CharVocabularyBuilder, MostFrequentCharactersAfterTheUnknownToken) {
    test::TempDir dir;
    const auto f = dir.write("c.txt", "ccc bb\ta\n中中中中\n\x01\x01\x01\x01\x01\n");
    CharVocabularyOptions o;
    o.size = 4;
    const auto r = buildCharVocabulary({f}, o);
    EXPECT_EQ(r.vocabulary.tokens(), (std::vector<std::string>{"<unk>", "中", "c", "b"}));
    EXPECT_EQ(r.distinctCharacters, 5); // 中 c b a ' ' (tab and \x01 are control characters)
    EXPECT_NEAR(r.coverage, 9.0 / 11.0, 1e-12);
    o.size = 100;
    EXPECT_EQ(buildCharVocabulary({f}, o).vocabulary.size(), 6);
    o.size = 1;
    EXPECT_THROW(buildCharVocabulary({f}, o), InputError);
    o.size = 10;
    EXPECT_THROW(buildCharVocabulary({dir.write("e.txt", "\n\n")}, o), InputError);
}

TEST(BpeTrainer, ReproducesTheCommittedHuggingFaceVerifiedFixture) {
    // austen_bpe_600.json was written by this trainer; tools/golden checked that HuggingFace
    // loads it and encodes 547 lines as we do (golden_austen_bpe_flags.json).
    BpeTrainerOptions o;
    o.vocabSize = 600;
    BpeTrainer trainer(o);
    trainer.addCorpus({test::fixture("austen_sample.txt")});
    const auto r = trainer.train();
    std::ifstream in(test::fixture("austen_bpe_600.json"), std::ios::binary);
    std::stringstream want;
    want << in.rdbuf();
    EXPECT_EQ(r.tokenizerJson, want.str());
    EXPECT_EQ(r.vocabSize, 600);
    EXPECT_EQ(r.merges, 600 - 5 - 256);

    const auto tok = ByteLevelBpeTokenizer::parse(r.tokenizerJson, "trained");
    for (const std::string line :
         {"It is a truth universally acknowledged.", "Mr. Bennet's £5000 (at 4 per cent)", "naïve café 😀"}) {
        const auto ids = tok->encodeIds(line);
        EXPECT_EQ(tok->decode(ids), " " + line); // add_prefix_space, every byte known
        for (const auto id : ids)
            EXPECT_NE(id, 1) << "unexpected [UNK] in " << line;
    }
}

TEST(BpeTrainer, MergesDerivedByHand) {
    // Three words "Ġaaaaaa" (add_prefix_space). Pair counts: (a,a) 5 per word = 15, (Ġ,a) 3:
    // merge 1 is "a a". Each word is then Ġ aa aa aa: (aa,aa) 2 per word = 6 beats (Ġ,aa) 3:
    // merge 2 is "aa aa". Then Ġ aaaa aa ties (Ġ,aaaa) with (aaaa,aa) at 3, so the test stops
    // at two merges: 5 special tokens + 256 bytes + 2.
    BpeTrainerOptions o;
    o.vocabSize = 5 + 256 + 2;
    BpeTrainer t(o);
    t.addLine("aaaaaa aaaaaa aaaaaa");
    const auto r = t.train();
    EXPECT_EQ(r.merges, 2);
    const auto tok = ByteLevelBpeTokenizer::parse(r.tokenizerJson, "hand");
    EXPECT_EQ(tok->encode("aaaaaa").tokens, (std::vector<std::string>{"Ġ", "aaaa", "aa"}));
    EXPECT_EQ(tok->encode("aaa").tokens, (std::vector<std::string>{"Ġ", "aa", "a"}));
    EXPECT_EQ(tok->encode("ab").tokens, (std::vector<std::string>{"Ġ", "a", "b"}));
}

TEST(BpeTrainer, OptionsAreValidated) {
    BpeTrainerOptions o;
    o.vocabSize = 100;
    EXPECT_THROW(BpeTrainer{o}, InputError); // below 5 + 256
    o.vocabSize = 300;
    o.unknownToken = "<unk>";
    EXPECT_THROW(BpeTrainer{o}, InputError);
    o.unknownToken = "[UNK]";
    o.specialTokens = {"[UNK]", "[UNK]"};
    EXPECT_THROW(BpeTrainer{o}, InputError);
    o.specialTokens = {"[UNK]"};
    BpeTrainer t(o);
    EXPECT_THROW(t.train(), InputError); // nothing added
    EXPECT_THROW(t.addLine("bad \xC3"), InputError);
}

TEST(BpeTrainer, StopsWhenNoPairIsFrequentEnough) {
    BpeTrainerOptions o;
    o.vocabSize = 1000;
    o.minFrequency = 2;
    BpeTrainer t(o);
    t.addLine("abc abc");
    const auto r = t.train();
    EXPECT_LT(r.vocabSize, 1000);
    EXPECT_GT(r.merges, 0);
    EXPECT_EQ(ByteLevelBpeTokenizer::parse(r.tokenizerJson, "t")->encode("abc").tokens,
              (std::vector<std::string>{"Ġabc"}));
}

} // namespace
} // namespace brillm
