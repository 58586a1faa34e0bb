// SPDX-License-Identifier: GPL-3.0-or-later
#include "brillm/model/ngram_baseline.h"

#include "brillm/error.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <utility>

namespace brillm {

double NgramEvaluation::loss() const {
    return tokens > 0 ? nll / static_cast<double>(tokens) : std::numeric_limits<double>::quiet_NaN();
}

double NgramEvaluation::perplexity() const {
    return std::exp(loss());
}

namespace {

// D = n1 / (n1 + 2 n2) over the counts of one order; 0.5 where that is undefined or 0.
double discountOf(const std::vector<uint32_t>& counts) {
    uint64_t n1 = 0, n2 = 0;
    for (const uint32_t c : counts) {
        n1 += c == 1;
        n2 += c == 2;
    }
    if (n1 == 0) return 0.5;
    return static_cast<double>(n1) / (static_cast<double>(n1) + 2.0 * static_cast<double>(n2));
}

} // namespace

KneserNey::KneserNey(int64_t vocabSize, int order, std::span<const std::vector<int32_t>> sequences,
                     KneserNeyVariant variant)
    : m_vocabSize(vocabSize), m_order(order), m_variant(variant) {
    if (order < 1 || order > 6)
        throw InputError("a Kneser-Ney model has an order from 1 to 6, got " + std::to_string(order));
    if (vocabSize < 1 || vocabSize > std::numeric_limits<int32_t>::max())
        throw InputError("a Kneser-Ney model needs 1 to 2^31-1 tokens, got a vocabulary of " +
                         std::to_string(vocabSize));
    if (variant == KneserNeyVariant::UniformUnseen && order != 2)
        throw InputError("the uniform-unseen variant is a bigram model (order 2), got order " + std::to_string(order));

    // The tokens of all sequences end to end, each with its position in its sequence.
    std::vector<int32_t> tok;
    std::vector<uint32_t> seqPos;
    size_t total = 0;
    for (const auto& s : sequences)
        total += s.size();
    if (total >= std::numeric_limits<uint32_t>::max())
        throw InputError("a Kneser-Ney model trains on fewer than 2^32-1 tokens, got " + std::to_string(total));
    tok.reserve(total);
    seqPos.reserve(total);
    for (size_t i = 0; i < sequences.size(); ++i)
        for (size_t k = 0; k < sequences[i].size(); ++k) {
            const int32_t t = sequences[i][k];
            if (t < 0 || t >= vocabSize)
                throw InputError("training sequence " + std::to_string(i) + " has token " + std::to_string(t) +
                                 " outside the vocabulary of " + std::to_string(vocabSize));
            tok.push_back(t);
            seqPos.push_back(static_cast<uint32_t>(k));
        }
    m_trainingTokens = static_cast<int64_t>(total);

    const auto V = static_cast<size_t>(vocabSize);
    const auto N = static_cast<size_t>(order);
    m_levels.resize(N);
    std::vector<std::vector<uint32_t>> raw(N), cont(N);
    raw[0].assign(V, 0);
    for (const int32_t t : tok)
        ++raw[0][static_cast<size_t>(t)];

    // ids[k]: the node, at the level being built, of the n-gram ending at token k (valid where
    // seqPos[k] >= n-1). Level 1's node is the token itself.
    std::vector<uint32_t> prev(tok.begin(), tok.end()), next(total);
    std::vector<std::pair<uint64_t, uint32_t>> occ;
    occ.reserve(total);
    for (size_t n = 2; n <= N; ++n) {
        // Every occurrence of an n-gram as (prefix node << 32 | last token): sorting groups each
        // prefix's children together, in token order.
        occ.clear();
        for (size_t k = 0; k < total; ++k)
            if (seqPos[k] >= n - 1) occ.emplace_back(uint64_t{prev[k - 1]} << 32 | static_cast<uint32_t>(tok[k]), k);
        std::sort(occ.begin(), occ.end());
        Level& parent = m_levels[n - 2];
        Level& level = m_levels[n - 1];
        const size_t parentTypes = n == 2 ? V : m_levels[n - 2].words.size();
        parent.childBegin.assign(parentTypes + 1, 0);
        cont[n - 2].assign(parentTypes, 0);
        for (size_t i = 0; i < occ.size();) {
            const uint64_t key = occ[i].first;
            const auto type = static_cast<uint32_t>(level.words.size());
            level.words.push_back(static_cast<int32_t>(key & 0xffffffffu));
            ++parent.childBegin[(key >> 32) + 1];
            // the (n-1)-gram this n-gram ends with gains a distinct left extension
            ++cont[n - 2][prev[occ[i].second]];
            size_t j = i;
            for (; j < occ.size() && occ[j].first == key; ++j)
                next[occ[j].second] = type;
            raw[n - 1].push_back(static_cast<uint32_t>(j - i));
            i = j;
        }
        for (size_t p = 0; p < parentTypes; ++p)
            parent.childBegin[p + 1] += parent.childBegin[p];
        std::swap(prev, next);
    }
    occ = {};

    // a_n: raw counts at the top order, continuation counts below.
    for (size_t n = 1; n <= N; ++n) {
        Level& level = m_levels[n - 1];
        level.counts = n == N ? std::move(raw[n - 1]) : std::move(cont[n - 1]);
        level.discount = discountOf(level.counts);
    }
    for (const uint32_t c : m_levels[0].counts) {
        m_unigramSum += c;
        m_unigramTypes += c > 0;
    }
    for (size_t n = 1; n < N; ++n) {
        Level& level = m_levels[n - 1];
        const Level& child = m_levels[n];
        const size_t types = level.childBegin.size() - 1;
        level.ctxSum.assign(types, 0);
        level.ctxTypes.assign(types, 0);
        for (size_t p = 0; p < types; ++p)
            for (uint32_t c = level.childBegin[p]; c < level.childBegin[p + 1]; ++c) {
                level.ctxSum[p] += child.counts[c];
                level.ctxTypes[p] += child.counts[c] > 0;
            }
    }

    if (variant == KneserNeyVariant::UniformUnseen) {
        // The KN bigram's backoff mass that falls on u's unseen successors: D_2 T(u) / S(u) times
        // sum over unseen w of p_1(w), the latter as 1 minus the seen part in closed form
        // (sum over all w of max(a_1(w) - D_1, 0) = S_1 - D_1 T_1, since counts are integers).
        Level& level = m_levels[0];
        const Level& child = m_levels[1];
        const double D1 = level.discount, D2 = child.discount, S1 = static_cast<double>(m_unigramSum),
                     T1 = static_cast<double>(m_unigramTypes), Vd = static_cast<double>(vocabSize);
        level.unseenShare.assign(V, 1.0 / Vd);
        for (size_t u = 0; u < V; ++u) {
            if (level.ctxSum[u] == 0) continue;
            const uint32_t b = level.childBegin[u], e = level.childBegin[u + 1];
            const double seen = static_cast<double>(e - b);
            if (seen >= Vd) continue; // no unseen successor
            double unseenP1;
            if (m_unigramSum == 0) {
                unseenP1 = (Vd - seen) / Vd;
            } else {
                double seenDiscounted = 0;
                for (uint32_t c = b; c < e; ++c)
                    seenDiscounted +=
                        std::max(static_cast<double>(level.counts[static_cast<size_t>(child.words[c])]) - D1, 0.0);
                unseenP1 = (S1 - D1 * T1 - seenDiscounted + D1 * T1 * (Vd - seen) / Vd) / S1;
            }
            const double mass =
                D2 * static_cast<double>(level.ctxTypes[u]) / static_cast<double>(level.ctxSum[u]) * unseenP1;
            level.unseenShare[u] = mass / (Vd - seen);
        }
    }
}

int64_t KneserNey::types(int n) const {
    if (n < 1 || n > m_order) throw InputError("no n-grams of order " + std::to_string(n));
    return n == 1 ? m_vocabSize : static_cast<int64_t>(m_levels[static_cast<size_t>(n - 1)].words.size());
}

int64_t KneserNey::findChild(size_t level, int64_t node, int32_t word) const {
    const Level& parent = m_levels[level];
    if (parent.childBegin.empty()) return -1;
    const auto& words = m_levels[level + 1].words;
    const auto b = words.begin() + parent.childBegin[static_cast<size_t>(node)];
    const auto e = words.begin() + parent.childBegin[static_cast<size_t>(node) + 1];
    const auto it = std::lower_bound(b, e, word);
    return it != e && *it == word ? it - words.begin() : -1;
}

int64_t KneserNey::findNode(std::span<const int32_t> h) const {
    int64_t node = h[0];
    for (size_t j = 1; j < h.size() && node >= 0; ++j)
        node = findChild(j - 1, node, h[j]);
    return node;
}

double KneserNey::unigram(int32_t token) const {
    const double V = static_cast<double>(m_vocabSize);
    if (m_unigramSum == 0) return 1.0 / V;
    const Level& l = m_levels[0];
    const double S = static_cast<double>(m_unigramSum), D = l.discount;
    return (std::max(static_cast<double>(l.counts[static_cast<size_t>(token)]) - D, 0.0) +
            D * static_cast<double>(m_unigramTypes) / V) /
           S;
}

double KneserNey::interpolated(std::span<const int32_t> context, int32_t token) const {
    double p = unigram(token);
    // order n uses the last n-1 context tokens; a context that never occurs cannot have a
    // longer one that does, so the first miss ends the climb
    for (size_t n = 2; n <= context.size() + 1; ++n) {
        const auto h = context.last(n - 1);
        const int64_t node = findNode(h);
        if (node < 0) break;
        const Level& level = m_levels[n - 2];
        const uint64_t S = level.ctxSum[static_cast<size_t>(node)];
        if (S == 0) continue;
        const int64_t child = findChild(n - 2, node, token);
        const Level& next = m_levels[n - 1];
        const double a = child >= 0 ? static_cast<double>(next.counts[static_cast<size_t>(child)]) : 0.0;
        const double D = next.discount;
        p = (std::max(a - D, 0.0) + D * static_cast<double>(level.ctxTypes[static_cast<size_t>(node)]) * p) /
            static_cast<double>(S);
    }
    return p;
}

double KneserNey::logProb(std::span<const int32_t> context, int32_t token) const {
    const auto check = [this](int32_t t) {
        if (t < 0 || t >= m_vocabSize)
            throw InputError("token " + std::to_string(t) + " is outside the n-gram model's vocabulary of " +
                             std::to_string(m_vocabSize));
    };
    check(token);
    const auto ctx = context.last(std::min(context.size(), static_cast<size_t>(m_order - 1)));
    for (const int32_t t : ctx)
        check(t);
    if (m_variant == KneserNeyVariant::UniformUnseen && !ctx.empty()) {
        const Level& level = m_levels[0];
        const auto u = static_cast<size_t>(ctx[0]);
        if (level.ctxSum[u] == 0) return -std::log(static_cast<double>(m_vocabSize));
        if (findChild(0, ctx[0], token) < 0) return std::log(level.unseenShare[u]);
    }
    return std::log(interpolated(ctx, token));
}

NgramEvaluation KneserNey::evaluate(std::span<const std::vector<int32_t>> sequences) const {
    NgramEvaluation out;
    const auto context = static_cast<size_t>(m_order - 1);
    for (const auto& s : sequences) {
        const std::span<const int32_t> seq(s);
        for (size_t k = 1; k < seq.size(); ++k) {
            const size_t b = k > context ? k - context : 0;
            out.nll -= logProb(seq.subspan(b, k - b), seq[k]);
            ++out.tokens;
        }
    }
    return out;
}

} // namespace brillm
