// SPDX-License-Identifier: GPL-3.0-or-later
// The Kneser-Ney baseline: hand-computed probabilities, normalisation over V, back-off, and a
// naive implementation of the header's definition (maps of n-grams, no trie) on random corpora.
#include "brillm/error.h"
#include "brillm/model/ngram_baseline.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <random>
#include <vector>

namespace brillm {
namespace {

using Seq = std::vector<int32_t>;

// V = 5; token 4 never occurs, token 3 only as a one-token paragraph.
const std::vector<Seq> kCorpus = {{0, 1, 2, 1, 2}, {1, 2, 0, 1, 2}, {3}};

double prob(const KneserNey& kn, const Seq& context, int32_t token) {
    return std::exp(kn.logProb(context, token));
}

// Unigram continuation counts of kCorpus: distinct left neighbours over the bigram types
// 01, 12, 21, 20: N1+(. 0) = 1 (2), N1+(. 1) = 2 (0, 2), N1+(. 2) = 1 (1); 3 and 4 none.
// n1 = 2, n2 = 1: D1 = 2 / (2 + 2) = 0.5; S = 4, T = 3.
double p1(int32_t w) {
    const double c[5] = {1, 2, 1, 0, 0};
    return std::max(c[w] - 0.5, 0.0) / 4.0 + 0.5 * 3.0 / 4.0 / 5.0;
}

TEST(KneserNey, HandComputedUnigramLevel) {
    // p1 = (0.2, 0.45, 0.2, 0.075, 0.075)
    EXPECT_NEAR(p1(0), 0.2, 1e-15);
    EXPECT_NEAR(p1(1), 0.45, 1e-15);
    EXPECT_NEAR(p1(3), 0.075, 1e-15);
    const KneserNey kn(5, 2, kCorpus);
    EXPECT_DOUBLE_EQ(kn.discount(1), 0.5);
    for (int32_t w = 0; w < 5; ++w)
        EXPECT_NEAR(prob(kn, {}, w), p1(w), 1e-12) << w;
}

TEST(KneserNey, HandComputedBigram) {
    const KneserNey kn(5, 2, kCorpus);
    // raw bigram counts: c(01) = 2, c(12) = 4, c(21) = 1, c(20) = 1 -> n1 = 2, n2 = 1, D2 = 2 / (2 + 2)
    const double D2 = 2.0 / (2.0 + 2.0 * 1.0);
    EXPECT_DOUBLE_EQ(kn.discount(2), D2);
    EXPECT_EQ(kn.types(2), 4);
    // context 1: S = 4, T = 1
    EXPECT_NEAR(prob(kn, {1}, 2), (4 - D2 + D2 * 1 * p1(2)) / 4, 1e-12); // 0.9
    EXPECT_NEAR(prob(kn, {1}, 2), 0.9, 1e-12);
    EXPECT_NEAR(prob(kn, {1}, 0), D2 * 1 * p1(0) / 4, 1e-12); // 0.025
    // context 2: S = 2, T = 2
    EXPECT_NEAR(prob(kn, {2}, 1), (1 - D2 + D2 * 2 * p1(1)) / 2, 1e-12); // 0.475
    EXPECT_NEAR(prob(kn, {2}, 0), (1 - D2 + D2 * 2 * p1(0)) / 2, 1e-12); // 0.35
    EXPECT_NEAR(prob(kn, {2}, 4), D2 * 2 * p1(4) / 2, 1e-12);            // 0.0375
    // context 0: S = 2, T = 1
    EXPECT_NEAR(prob(kn, {0}, 1), (2 - D2 + D2 * 1 * p1(1)) / 2, 1e-12); // 0.8625
    // contexts 3 and 4 never precede a token: the unigram level
    for (int32_t w = 0; w < 5; ++w) {
        EXPECT_NEAR(prob(kn, {3}, w), p1(w), 1e-12);
        EXPECT_NEAR(prob(kn, {4}, w), p1(w), 1e-12);
    }
    // only the last token of a longer context counts
    EXPECT_EQ(kn.logProb(Seq{4, 0, 1}, 2), kn.logProb(Seq{1}, 2));
}

TEST(KneserNey, HandComputedTrigram) {
    const KneserNey kn(5, 3, kCorpus);
    // trigram counts: 012: 2, 121: 1, 212: 1, 120: 1, 201: 1 -> n1 = 4, n2 = 1
    const double D3 = 4.0 / (4.0 + 2.0 * 1.0);
    // bigram continuation counts (left neighbours over the trigram types): 12: {0, 2} = 2,
    // 21: {1}, 20: {1}, 01: {2} = 1 each -> n1 = 3, n2 = 1
    const double D2 = 3.0 / (3.0 + 2.0 * 1.0);
    EXPECT_DOUBLE_EQ(kn.discount(3), D3);
    EXPECT_DOUBLE_EQ(kn.discount(2), D2);
    EXPECT_DOUBLE_EQ(kn.discount(1), 0.5);
    // order 2 with continuation counts: context 1 {12: 2} S = 2, T = 1; context 2 {21: 1, 20: 1}
    // S = 2, T = 2; context 0 {01: 1} S = 1, T = 1
    const auto p2 = [&](int32_t u, int32_t w) {
        const double a[5][5] = {{0, 1, 0, 0, 0}, {0, 0, 2, 0, 0}, {1, 1, 0, 0, 0}, {}, {}};
        const double S[5] = {1, 2, 2, 0, 0}, T[5] = {1, 1, 2, 0, 0};
        return (std::max(a[u][w] - D2, 0.0) + D2 * T[u] * p1(w)) / S[u];
    };
    EXPECT_NEAR(p2(1, 2), 0.76, 1e-12);
    EXPECT_NEAR(p2(2, 0), 0.32, 1e-12);
    // a context of one token (the second token of a paragraph) uses order 2
    EXPECT_NEAR(prob(kn, {1}, 2), p2(1, 2), 1e-12);
    EXPECT_NEAR(prob(kn, {0}, 1), p2(0, 1), 1e-12); // 0.4 + 0.6 * 0.45 = 0.67
    // context 01: {012: 2} S = 2, T = 1
    EXPECT_NEAR(prob(kn, {0, 1}, 2), (2 - D3 + D3 * 1 * p2(1, 2)) / 2, 1e-12); // 0.92
    EXPECT_NEAR(prob(kn, {0, 1}, 2), 0.92, 1e-12);
    EXPECT_NEAR(prob(kn, {0, 1}, 3), D3 * 1 * p2(1, 3) / 2, 1e-12);
    // context 12: {121: 1, 120: 1} S = 2, T = 2
    EXPECT_NEAR(prob(kn, {1, 2}, 0), (1 - D3 + D3 * 2 * p2(2, 0)) / 2, 1e-12); // 0.38
    EXPECT_NEAR(prob(kn, {1, 2}, 3), D3 * 2 * p2(2, 3) / 2, 1e-12);            // 0.03
    // unseen contexts back off fully: 11 never occurs, nor 41, nor anything after 4
    for (int32_t w = 0; w < 5; ++w) {
        EXPECT_NEAR(prob(kn, {1, 1}, w), p2(1, w), 1e-12);
        EXPECT_NEAR(prob(kn, {4, 1}, w), p2(1, w), 1e-12);
        EXPECT_NEAR(prob(kn, {1, 4}, w), p1(w), 1e-12);
    }
    // evaluation: every token after the first, from its in-paragraph context
    const auto e = kn.evaluate(std::vector<Seq>{{0, 1, 2}, {4}, {}});
    EXPECT_EQ(e.tokens, 2);
    EXPECT_NEAR(e.nll, -std::log(0.67) - std::log(0.92), 1e-12);
}

TEST(KneserNey, OrderOneIsTheDiscountedUnigramWithUniform) {
    // raw counts over every token: 0: 2, 1: 4, 2: 4, 3: 1, 4: 0 -> n1 = 1 (3), n2 = 1 (0), D = 1 / (1 + 2)
    const KneserNey kn(5, 1, kCorpus);
    const double D = 1.0 / (1.0 + 2.0 * 1.0), S = 11, T = 4;
    const double c[5] = {2, 4, 4, 1, 0};
    EXPECT_DOUBLE_EQ(kn.discount(1), D);
    for (int32_t w = 0; w < 5; ++w) {
        const double expected = std::max(c[w] - D, 0.0) / S + D * T / S / 5.0;
        EXPECT_NEAR(prob(kn, {}, w), expected, 1e-12);
        EXPECT_NEAR(prob(kn, {0, 1, 2}, w), expected, 1e-12); // the context is ignored
    }
    // no count of 1: the discount falls back to 0.5
    EXPECT_DOUBLE_EQ(KneserNey(5, 1, std::vector<Seq>{{0, 1, 2, 1, 2}, {1, 2, 0, 1, 2}}).discount(1), 0.5);
    // no data at all: uniform
    const KneserNey empty(5, 1, std::vector<Seq>{});
    for (int32_t w = 0; w < 5; ++w)
        EXPECT_NEAR(prob(empty, {}, w), 0.2, 1e-15);
}

TEST(KneserNey, UniformUnseenBigram) {
    const KneserNey kn(5, 2, kCorpus, KneserNeyVariant::UniformUnseen);
    const KneserNey plain(5, 2, kCorpus);
    // source 1 saw only 2: that keeps its KN probability 0.9, the 4 others share 0.1
    EXPECT_NEAR(prob(kn, {1}, 2), 0.9, 1e-12);
    for (int32_t w : {0, 1, 3, 4})
        EXPECT_NEAR(prob(kn, {1}, w), 0.1 / 4, 1e-12);
    // source 2 saw 1 and 0 (0.475 + 0.35): the other 3 share the rest
    EXPECT_DOUBLE_EQ(kn.logProb(Seq{2}, 1), plain.logProb(Seq{2}, 1));
    for (int32_t w : {2, 3, 4})
        EXPECT_NEAR(prob(kn, {2}, w), (1 - 0.475 - 0.35) / 3, 1e-12);
    // sources never seen with a successor: uniform
    for (int32_t w = 0; w < 5; ++w)
        EXPECT_NEAR(prob(kn, {3}, w), 0.2, 1e-12);
    EXPECT_THROW(KneserNey(5, 3, kCorpus, KneserNeyVariant::UniformUnseen), InputError);
}

TEST(KneserNey, RejectsBadInput) {
    EXPECT_THROW(KneserNey(5, 0, kCorpus), InputError);
    EXPECT_THROW(KneserNey(5, 7, kCorpus), InputError);
    EXPECT_THROW(KneserNey(3, 2, kCorpus), InputError); // token 3 outside V = 3
    EXPECT_THROW(KneserNey(5, 2, std::vector<Seq>{{0, -1}}), InputError);
    const KneserNey kn(5, 2, kCorpus);
    EXPECT_THROW(kn.logProb(Seq{0}, 5), InputError);
    EXPECT_THROW(kn.logProb(Seq{9}, 1), InputError);
}

// The header's definition written out directly with maps of n-grams.
class NaiveKneserNey {
public:
    NaiveKneserNey(int V, int N, const std::vector<Seq>& data) : m_V(V), m_N(N), m_a(static_cast<size_t>(N)) {
        std::vector<std::map<Seq, double>> raw(static_cast<size_t>(N));
        for (const auto& s : data)
            for (int n = 1; n <= N; ++n)
                for (size_t k = static_cast<size_t>(n - 1); k < s.size(); ++k)
                    raw[static_cast<size_t>(n - 1)][Seq(s.begin() + static_cast<ptrdiff_t>(k) - (n - 1),
                                                        s.begin() + static_cast<ptrdiff_t>(k) + 1)] += 1;
        m_a[static_cast<size_t>(N - 1)] = raw[static_cast<size_t>(N - 1)];
        for (int n = 1; n < N; ++n) {
            auto& a = m_a[static_cast<size_t>(n - 1)];
            for (const auto& [g, c] : raw[static_cast<size_t>(n - 1)])
                a[g] = 0;
            for (const auto& [g, c] : raw[static_cast<size_t>(n)])
                a[Seq(g.begin() + 1, g.end())] += 1;
        }
        for (const auto& a : m_a) {
            double n1 = 0, n2 = 0;
            for (const auto& [g, c] : a) {
                n1 += c == 1;
                n2 += c == 2;
            }
            m_D.push_back(n1 == 0 ? 0.5 : n1 / (n1 + 2 * n2));
        }
    }

    double p(Seq context, int32_t w) const {
        while (static_cast<int>(context.size()) > m_N - 1)
            context.erase(context.begin());
        return level(static_cast<int>(context.size()) + 1, context, w);
    }

private:
    double level(int n, const Seq& h, int32_t w) const {
        const auto& a = m_a[static_cast<size_t>(n - 1)];
        const double D = m_D[static_cast<size_t>(n - 1)];
        double lower = 1.0 / m_V;
        if (n > 1) lower = level(n - 1, Seq(h.begin() + 1, h.end()), w);
        double S = 0, T = 0, c = 0;
        for (const auto& [g, count] : a) {
            if (!std::equal(h.begin(), h.end(), g.begin())) continue;
            S += count;
            T += count > 0;
            if (g.back() == w) c = count;
        }
        if (S == 0) return lower;
        return (std::max(c - D, 0.0) + D * T * lower) / S;
    }

    int m_V, m_N;
    std::vector<std::map<Seq, double>> m_a;
    std::vector<double> m_D;
};

// A corpus with structure (a few favourite successors per token) and some rare tokens.
std::vector<Seq> randomCorpus(int V, int paragraphs, uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::vector<Seq> out;
    for (int p = 0; p < paragraphs; ++p) {
        Seq s;
        const int len = static_cast<int>(rng() % 30);
        int32_t t = static_cast<int32_t>(rng() % static_cast<uint64_t>(V - 2));
        for (int k = 0; k < len; ++k) {
            s.push_back(t);
            const uint64_t r = rng() % 10;
            t = r < 6 ? (t * 7 + static_cast<int32_t>(r % 3)) % (V - 2)
                      : static_cast<int32_t>(rng() % static_cast<uint64_t>(V - 2));
        }
        out.push_back(std::move(s));
    }
    return out; // tokens V-2 and V-1 never occur
}

// Contexts of length 0 .. 5: from the corpus (seen), random (mostly unseen), with unseen tokens.
std::vector<Seq> someContexts(const std::vector<Seq>& corpus, int V, uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::vector<Seq> out{{}};
    for (const auto& s : corpus)
        for (size_t k = 0; k + 1 < s.size() && out.size() < 60; k += 7)
            out.emplace_back(s.begin() + static_cast<ptrdiff_t>(k),
                             s.begin() + static_cast<ptrdiff_t>(std::min(s.size(), k + 1 + k % 5)));
    for (int i = 0; i < 30; ++i) {
        Seq c(static_cast<size_t>(rng() % 6));
        for (auto& t : c)
            t = static_cast<int32_t>(rng() % static_cast<uint64_t>(V));
        out.push_back(c);
    }
    return out;
}

TEST(KneserNey, SumsToOneOverTheVocabulary) {
    const int V = 40;
    const auto corpus = randomCorpus(V, 120, 7);
    const auto contexts = someContexts(corpus, V, 8);
    for (int order = 1; order <= 6; ++order) {
        const KneserNey kn(V, order, corpus);
        for (const auto& c : contexts) {
            double sum = 0;
            for (int32_t w = 0; w < V; ++w)
                sum += std::exp(kn.logProb(c, w));
            EXPECT_NEAR(sum, 1.0, 1e-12) << "order " << order << ", context length " << c.size();
        }
    }
    const KneserNey uniform(V, 2, corpus, KneserNeyVariant::UniformUnseen);
    for (const auto& c : contexts) {
        double sum = 0;
        for (int32_t w = 0; w < V; ++w)
            sum += std::exp(uniform.logProb(c, w));
        EXPECT_NEAR(sum, 1.0, 1e-12) << "uniform unseen, context length " << c.size();
    }
}

TEST(KneserNey, MatchesTheNaiveDefinition) {
    const int V = 25;
    const auto corpus = randomCorpus(V, 80, 11);
    const auto contexts = someContexts(corpus, V, 12);
    for (int order = 1; order <= 4; ++order) {
        const KneserNey kn(V, order, corpus);
        const NaiveKneserNey naive(V, order, corpus);
        for (const auto& c : contexts)
            for (int32_t w = 0; w < V; ++w)
                ASSERT_NEAR(kn.logProb(c, w), std::log(naive.p(c, w)), 1e-12) << "order " << order << ", w " << w;
    }
}

TEST(KneserNey, EvaluatePredictsEveryTokenAfterTheFirst) {
    const int V = 30;
    const auto train = randomCorpus(V, 60, 3);
    const auto held = randomCorpus(V, 20, 4);
    for (int order = 1; order <= 4; ++order) {
        const KneserNey kn(V, order, train);
        const auto e = kn.evaluate(held);
        int64_t tokens = 0;
        double nll = 0;
        for (const auto& s : held)
            for (size_t k = 1; k < s.size(); ++k) {
                ++tokens;
                const size_t b = k >= static_cast<size_t>(order - 1) ? k - static_cast<size_t>(order - 1) : 0;
                nll -=
                    kn.logProb(Seq(s.begin() + static_cast<ptrdiff_t>(b), s.begin() + static_cast<ptrdiff_t>(k)), s[k]);
            }
        EXPECT_EQ(e.tokens, tokens);
        EXPECT_NEAR(e.nll, nll, 1e-9 * nll);
        EXPECT_NEAR(e.perplexity(), std::exp(nll / static_cast<double>(tokens)), 1e-9);
    }
}

} // namespace
} // namespace brillm
