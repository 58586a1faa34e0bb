// SPDX-License-Identifier: GPL-3.0-or-later
// evaluateCorpus against a direct loop of exactLoss over the windows; the window rule; thread
// independence; held-out files read through a codec.
#include "brillm/error.h"
#include "brillm/model/corpus_eval.h"
#include "brillm/model/loss.h"
#include "brillm/text/text_codec.h"
#include "reference_model.h"
#include "test_checkpoint_util.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

namespace brillm {
namespace {

using Seq = std::vector<int32_t>;

std::vector<Seq> randomParagraphs(int64_t V, const std::vector<size_t>& lengths, uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::vector<Seq> out;
    for (const size_t n : lengths) {
        Seq s(n);
        for (auto& t : s)
            t = static_cast<int32_t>(rng() % static_cast<uint64_t>(V));
        out.push_back(std::move(s));
    }
    return out;
}

class CorpusEval : public ::testing::Test {
protected:
    static constexpr int64_t kV = 16;
    Model model = testing::randomModel(kV, 4, 0.3, 5, at::kFloat, 16);
    std::vector<Seq> paragraphs = randomParagraphs(kV, {0, 1, 2, 3, 7, 8, 9, 15, 22, 40}, 9);
};

TEST_F(CorpusEval, MatchesADirectLoopOverTheWindows) {
    const int64_t L = 8;
    // windows written out here: starts 0, L-1, 2(L-1), ... while a token is left to predict
    double direct = 0;
    int64_t tokens = 0, windows = 0;
    std::vector<double> perParagraph(paragraphs.size(), 0.0);
    for (size_t p = 0; p < paragraphs.size(); ++p) {
        const Seq& s = paragraphs[p];
        std::vector<int> predicted(s.size(), 0);
        for (size_t start = 0; start + 1 < s.size(); start += L - 1) {
            const size_t n = std::min<size_t>(L, s.size() - start);
            const auto e = exactLoss(model, std::span<const int32_t>(s).subspan(start, n));
            for (const double l : e.edgeLosses) {
                direct += l;
                perParagraph[p] += l;
            }
            for (size_t k = start + 1; k < start + n; ++k)
                ++predicted[k];
            tokens += static_cast<int64_t>(n) - 1;
            ++windows;
        }
        // every token after the first exactly once
        for (size_t k = 0; k < s.size(); ++k)
            EXPECT_EQ(predicted[k], k == 0 ? 0 : 1) << p << ", " << k;
    }
    int64_t expectedTokens = 0;
    for (const auto& s : paragraphs)
        expectedTokens += s.size() > 1 ? static_cast<int64_t>(s.size()) - 1 : 0;
    ASSERT_EQ(tokens, expectedTokens);

    CorpusEvalOptions o;
    o.windowLength = L;
    o.perParagraph = true;
    std::vector<CorpusEvalResult> results;
    for (const int threads : {1, 2, 3}) {
        o.threads = threads;
        results.push_back(evaluateCorpus(model, paragraphs, o));
    }
    const auto& r = results[0];
    EXPECT_EQ(r.tokens, expectedTokens);
    EXPECT_EQ(r.windows, windows);
    EXPECT_EQ(r.paragraphs, 8);
    EXPECT_TRUE(r.complete);
    EXPECT_NEAR(r.nll, direct, 1e-12 * direct);
    EXPECT_NEAR(r.loss, direct / static_cast<double>(tokens), 1e-12);
    EXPECT_NEAR(r.perplexity, std::exp(direct / static_cast<double>(tokens)), 1e-9);
    for (size_t p = 0; p < paragraphs.size(); ++p) {
        EXPECT_NEAR(r.paragraphNll[p], perParagraph[p], 1e-12 * (1 + perParagraph[p]));
        EXPECT_EQ(r.paragraphTokens[p], paragraphs[p].size() > 1 ? static_cast<int64_t>(paragraphs[p].size()) - 1 : 0);
    }
    for (const auto& other : results) { // bit for bit, whatever the threads
        EXPECT_EQ(other.nll, r.nll);
        EXPECT_EQ(other.tokens, r.tokens);
        EXPECT_EQ(other.paragraphNll, r.paragraphNll);
    }
}

TEST_F(CorpusEval, MaxWindowsCoversAPrefix) {
    CorpusEvalOptions o;
    o.windowLength = 6;
    o.maxWindows = 7;
    const auto r = evaluateCorpus(model, paragraphs, o);
    EXPECT_EQ(r.windows, 7);
    EXPECT_FALSE(r.complete);
    // the covered paragraphs hold exactly the tokens scored, in the same windows
    const auto covered = paragraphsCoveredByWindows(paragraphs, 6, 7);
    int64_t tokens = 0;
    for (const auto& s : covered)
        tokens += s.size() > 1 ? static_cast<int64_t>(s.size()) - 1 : 0;
    EXPECT_EQ(tokens, r.tokens);
    o.maxWindows = 0;
    const auto whole = evaluateCorpus(model, covered, o);
    EXPECT_TRUE(whole.complete);
    EXPECT_EQ(whole.windows, 7);
    EXPECT_EQ(whole.nll, r.nll);
    EXPECT_EQ(paragraphsCoveredByWindows(paragraphs, 6, 0), paragraphs);
    // more windows than there are: everything
    o.maxWindows = 1000;
    EXPECT_TRUE(evaluateCorpus(model, paragraphs, o).complete);
}

TEST_F(CorpusEval, ProgressAndCancel) {
    CorpusEvalOptions o;
    o.windowLength = 8;
    o.threads = 2;
    int64_t lastDone = -1, lastTotal = -1;
    o.progress = [&](int64_t done, int64_t total) {
        EXPECT_LE(done, total);
        lastDone = done;
        lastTotal = total;
        return true;
    };
    const auto r = evaluateCorpus(model, paragraphs, o);
    EXPECT_EQ(lastDone, r.windows);
    EXPECT_EQ(lastTotal, r.windows);
    o.progress = [](int64_t, int64_t) { return false; };
    EXPECT_THROW(evaluateCorpus(model, paragraphs, o), CancelledError);
}

TEST_F(CorpusEval, RejectsBadInput) {
    CorpusEvalOptions o;
    o.windowLength = 1;
    EXPECT_THROW(evaluateCorpus(model, paragraphs, o), InputError);
    o.windowLength = 17; // 16 edges, the position table has 15
    EXPECT_THROW(evaluateCorpus(model, paragraphs, o), InputError);
    o.windowLength = 16;
    EXPECT_NO_THROW(evaluateCorpus(model, paragraphs, o));
    test::expectError<InputError>(
        [&] {
            evaluateCorpus(model, std::vector<Seq>{{1, 2}, {3, 16}}, o);
        },
        {"paragraph 1", "16"});
    test::expectError<InputError>([&] { evaluateCorpus(model, std::vector<Seq>{{1}, {}}, o); }, {"two tokens"});
}

TEST(ReadEncodedParagraphs, CountsTokensAndBytes) {
    const TextCodec codec(NodeVocabulary::fromTokens({"<unk>", "a", "b", "c", " ", "\xc3\xa9"}));
    test::ScratchDir dir;
    // one paragraph per line (no blank lines): "ab c", "b" (one token: left out), "az" (z unknown)
    test::writeText(dir.file("one.txt"), "ab c\nb\naz\n");
    // blank-line paragraphs, hard-wrapped: "ca \xc3\xa9 b" (joined with one space), then "cc"
    test::writeText(dir.file("two.txt"), "ca \xc3\xa9\n b \n\ncc\ncc\ncc\n");
    const std::vector<std::filesystem::path> files{dir.file("one.txt"), dir.file("two.txt")};
    const auto e = readEncodedParagraphs(files, codec, 1);
    EXPECT_EQ(e.paragraphsRead, 5);
    EXPECT_EQ(e.shortParagraphs, 1);
    ASSERT_EQ(e.paragraphs.size(), 4u);
    EXPECT_EQ(e.paragraphs[0], (Seq{1, 2, 4, 3}));
    EXPECT_EQ(e.paragraphs[1], (Seq{1, 0}));
    EXPECT_EQ(e.paragraphs[2], (Seq{3, 1, 4, 5, 4, 2}));
    EXPECT_EQ(e.paragraphs[3], (Seq{3, 3, 4, 3, 3, 4, 3, 3}));
    EXPECT_EQ(e.unknown, 1);
    EXPECT_EQ(e.tokens, 4 + 2 + 6 + 8);
    EXPECT_EQ(e.predicted, 3 + 1 + 5 + 7);
    EXPECT_EQ(e.bytes, 4 + 2 + 7 + 8); // "ab c", "az", "ca \xc3\xa9 b" (7 bytes), "cc cc cc"
    const auto threaded = readEncodedParagraphs(files, codec, 3);
    EXPECT_EQ(threaded.paragraphs, e.paragraphs);
    EXPECT_NEAR(bitsPerByte(10.0, 4), 10.0 / std::log(2.0) / 4.0, 1e-15);
    EXPECT_TRUE(std::isnan(bitsPerByte(1.0, 0)));

    const std::vector<std::filesystem::path> missing{dir.file("one.txt"), dir.file("nope.txt")};
    test::expectError<InputError>([&] { readEncodedParagraphs(missing, codec); }, {"nope.txt", "no such file"});
}

} // namespace
} // namespace brillm
