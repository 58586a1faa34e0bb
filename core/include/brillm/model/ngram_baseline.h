// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// KneserNey: an interpolated Kneser-Ney n-gram model over node ids [0, V), the baseline every
// BriLLM model's held-out perplexity is read against (brillm eval --baseline kn).
//
// Data. Trained from token sequences (paragraphs). N-grams never cross a sequence boundary and
// there is no BOS/EOS token: the first token of a sequence is never predicted, and the context
// of token k is tokens max(0, k-N+1) .. k-1 of its sequence (so the first tokens of a sequence
// are predicted from shorter contexts, by the lower-order distributions below).
//
// Model of order N (1 <= N <= 6). For n = 1..N let a_n(g) be the count of the n-gram g:
//   - the raw count (occurrences within sequences) for n = N;
//   - for n < N the continuation count N1+(. g): the number of distinct tokens x such that the
//     (n+1)-gram x g occurs. An n-gram seen only at the start of sequences has a_n = 0.
// Per order an absolute discount D_n = n1 / (n1 + 2 n2), n1 and n2 the numbers of n-grams with
// a_n exactly 1 and 2; D_n = 0.5 when n1 = 0 (the formula is undefined, or 0, which would leave
// no mass for unseen tokens). For a context h of n-1 tokens (h' = h without its first token):
//   S(h) = sum_w a_n(h w),  T(h) = #{w : a_n(h w) > 0}
//   p_n(w | h) = (max(a_n(h w) - D_n, 0) + D_n T(h) p_{n-1}(w | h')) / S(h)   when S(h) > 0
//   p_n(w | h) = p_{n-1}(w | h')                                             when S(h) = 0
// and at the bottom the unigram interpolated with the uniform distribution:
//   p_1(w) = max(a_1(w) - D_1, 0) / S + D_1 T / S * 1/V        (S = sum a_1, T = #{a_1 > 0})
//   p_1(w) = 1/V when S = 0.
// (For N = 1 this is the absolute-discounted raw unigram interpolated with uniform.) A token k
// is predicted by p_m(t_k | its context) with m = min(k, N-1) + 1. Every p_n(. | h) sums to 1
// over the V tokens.
//
// Variant UniformUnseen (order 2 only): a diagnostic, the best a BriLLM edge table can do when
// all the pairs it never saw in training share one slot. Given source u with seen successors
// (raw count > 0), those keep their KN bigram probability and every other token gets an equal
// share of the rest: (1 - sum_seen p_2(v | u)) / (V - #seen). A source never seen with a
// successor predicts 1/V.
//
// Storage: a trie of sorted arrays (per order: each (n-1)-gram's children contiguous, sorted by
// last token), 8 bytes per distinct n-gram of the top order and 24 below; training sorts each
// order's occurrences once (16 bytes per token while it runs). 1.1 M tokens, order 4: 0.3 s.
//
// Immutable after construction; logProb/evaluate may be called from several threads at once.
// Errors: the constructor throws InputError for an order outside [1, 6], V < 1 or V >= 2^31, a
// token outside [0, V), more than 2^32 - 1 tokens, or UniformUnseen with an order other than 2;
// logProb throws InputError for a token outside [0, V) (in the context too).

#include <cstdint>
#include <span>
#include <vector>

namespace brillm {

enum class KneserNeyVariant {
    Interpolated,  // interpolated Kneser-Ney (above)
    UniformUnseen, // order 2: unseen successors of a source share its unseen mass equally
};

// Summed negative log-likelihood over the predicted tokens.
struct NgramEvaluation {
    double nll = 0;            // nats
    int64_t tokens = 0;        // predicted tokens: sum over sequences of max(len - 1, 0)
    double loss() const;       // nll / tokens (NaN without tokens)
    double perplexity() const; // exp(loss())
};

class KneserNey {
public:
    KneserNey(int64_t vocabSize, int order, std::span<const std::vector<int32_t>> sequences,
              KneserNeyVariant variant = KneserNeyVariant::Interpolated);

    // ln p(token | context): the last min(|context|, N-1) tokens of context are used.
    double logProb(std::span<const int32_t> context, int32_t token) const;

    // Every token after the first of each sequence, predicted from its in-sequence context.
    NgramEvaluation evaluate(std::span<const std::vector<int32_t>> sequences) const;

    int order() const { return m_order; }
    int64_t vocabSize() const { return m_vocabSize; }
    KneserNeyVariant variant() const { return m_variant; }
    // D_n for n in [1, order()].
    double discount(int n) const { return m_levels.at(static_cast<size_t>(n - 1)).discount; }
    // Distinct n-grams of order n in the training data (n = 1: the V tokens, seen or not).
    int64_t types(int n) const;
    int64_t trainingTokens() const { return m_trainingTokens; }

private:
    // One order of the trie. Level n holds every n-gram occurring in the data: for n >= 2 its
    // last token (words) under its (n-1)-gram prefix, whose children are words[childBegin[p] ..
    // childBegin[p+1]) of the next level, sorted. Level 1 is dense: node id = token.
    struct Level {
        std::vector<int32_t> words;       // n >= 2: last token of each n-gram
        std::vector<uint32_t> counts;     // a_n of each n-gram
        std::vector<uint32_t> childBegin; // n < N: children range in level n+1 (size types + 1)
        std::vector<uint64_t> ctxSum;     // n < N: S(g) of g as a context of order n+1
        std::vector<uint32_t> ctxTypes;   // n < N: T(g)
        std::vector<double> unseenShare;  // UniformUnseen, level 1: the probability of each unseen successor
        double discount = 0.5;
    };

    // The node of h at level |h|, or -1 when h never occurs.
    int64_t findNode(std::span<const int32_t> h) const;
    // Index of word among node's children at level n+1 (0-based level index n), or -1.
    int64_t findChild(size_t level, int64_t node, int32_t word) const;
    double unigram(int32_t token) const;
    // p_KN(token | the last order-1 tokens of context), context length clamped by the caller.
    double interpolated(std::span<const int32_t> context, int32_t token) const;

    int64_t m_vocabSize;
    int m_order;
    KneserNeyVariant m_variant;
    int64_t m_trainingTokens = 0;
    uint64_t m_unigramSum = 0;   // S of level 1
    uint64_t m_unigramTypes = 0; // T of level 1
    std::vector<Level> m_levels;
};

} // namespace brillm
