// SPDX-License-Identifier: GPL-3.0-or-later
#include "brillm/text/bpe_trainer.h"

#include "brillm/error.h"
#include "brillm/io/checkpoint_writer.h"
#include "brillm/text/bpe_pretokenizer.h"
#include "brillm/text/unicode.h"
#include "text/tokenizer_json.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <queue>
#include <set>

namespace brillm {
namespace {

uint64_t key(int32_t a, int32_t b) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
}
int32_t left(uint64_t k) {
    return static_cast<int32_t>(k >> 32);
}
int32_t right(uint64_t k) {
    return static_cast<int32_t>(k & 0xffffffffu);
}

} // namespace

BpeTrainer::BpeTrainer(BpeTrainerOptions options) : m_options(std::move(options)) {
    std::set<std::string> seen;
    for (const auto& s : m_options.specialTokens) {
        if (s.empty()) throw InputError("special tokens must not be empty");
        if (!seen.insert(s).second) throw InputError("special token \"" + s + "\" is listed twice");
    }
    if (!m_options.unknownToken.empty() && !seen.count(m_options.unknownToken))
        throw InputError("the unknown token \"" + m_options.unknownToken + "\" must be one of the special tokens");
    const int64_t minimum =
        static_cast<int64_t>(m_options.specialTokens.size()) + (m_options.fullByteAlphabet ? 256 : 1);
    if (m_options.vocabSize < minimum)
        throw InputError("a byte-level BPE vocabulary needs at least " + std::to_string(minimum) +
                         " tokens (special tokens" + (m_options.fullByteAlphabet ? " + 256 bytes" : " + an alphabet") +
                         "), got " + std::to_string(m_options.vocabSize));
}

void BpeTrainer::addLine(std::string_view line) {
    std::string text = m_options.nfkc ? unicode::normalize(line, unicode::NormalForm::Nfkc) : std::string(line);
    if (!m_options.nfkc && !unicode::isValidUtf8(text)) throw InputError("invalid UTF-8 in a training line");
    if (text.empty()) return;
    if (m_options.addPrefixSpace && text.front() != ' ') text.insert(text.begin(), ' ');
    std::vector<std::string_view> words;
    bpe::splitGpt2(text, words);
    for (const auto w : words) {
        if (auto it = m_words.find(std::string(w)); it != m_words.end())
            ++it->second;
        else
            m_words.emplace(std::string(w), 1);
    }
}

void BpeTrainer::addCorpus(const std::vector<std::filesystem::path>& files) {
    CorpusOptions co;
    co.onInvalidUtf8 = m_options.onInvalidUtf8;
    CorpusReader reader(files, co);
    CorpusChunk chunk;
    while (reader.next(chunk))
        for (size_t i = 0; i < chunk.size(); ++i)
            addLine(chunk.line(i));
    reader.requireNonEmpty();
    const auto& s = reader.stats();
    m_stats.bytes += s.bytes;
    m_stats.lines += s.lines;
    m_stats.nonEmptyLines += s.nonEmptyLines;
    m_stats.skippedLines += s.skippedLines;
    if (m_stats.firstSkipped.empty()) m_stats.firstSkipped = s.firstSkipped;
}

BpeTrainingResult BpeTrainer::train() const {
    if (m_words.empty()) throw InputError("the training corpus is empty");
    // Tokens: special tokens, then the byte alphabet ordered by its stand-in code points.
    std::vector<std::string> tokens = m_options.specialTokens;
    std::unordered_map<std::string, int32_t> ids;
    for (size_t i = 0; i < tokens.size(); ++i)
        ids.emplace(tokens[i], static_cast<int32_t>(i));
    std::array<bool, 256> used{};
    if (m_options.fullByteAlphabet) {
        used.fill(true);
    } else {
        for (const auto& [w, n] : m_words)
            for (const char c : w)
                used[static_cast<uint8_t>(c)] = true;
    }
    std::vector<std::pair<char32_t, uint8_t>> alphabet;
    for (int b = 0; b < 256; ++b) {
        if (!used[static_cast<size_t>(b)]) continue;
        const std::string& s = bpe::byteToUnicode(static_cast<uint8_t>(b));
        size_t pos = 0;
        alphabet.emplace_back(unicode::decodeNext(s, pos), static_cast<uint8_t>(b));
    }
    std::sort(alphabet.begin(), alphabet.end());
    std::array<int32_t, 256> byteId{};
    for (const auto& [cp, b] : alphabet) {
        const std::string& s = bpe::byteToUnicode(b);
        auto [it, inserted] = ids.emplace(s, static_cast<int32_t>(tokens.size()));
        if (inserted) tokens.push_back(s);
        byteId[b] = it->second;
    }

    // Words in a fixed order (sorted bytes) so training is deterministic.
    std::vector<std::pair<std::string, uint64_t>> sortedWords(m_words.begin(), m_words.end());
    std::sort(sortedWords.begin(), sortedWords.end());
    struct Word {
        std::vector<int32_t> syms;
        uint64_t count;
    };
    std::vector<Word> words;
    words.reserve(sortedWords.size());
    for (const auto& [w, n] : sortedWords) {
        Word word{{}, n};
        for (const char c : w)
            word.syms.push_back(byteId[static_cast<uint8_t>(c)]);
        words.push_back(std::move(word));
    }

    std::unordered_map<uint64_t, int64_t> pairCount;
    std::unordered_map<uint64_t, std::vector<uint32_t>> where;
    for (uint32_t wi = 0; wi < words.size(); ++wi) {
        const auto& s = words[wi].syms;
        for (size_t i = 0; i + 1 < s.size(); ++i) {
            const uint64_t k = key(s[i], s[i + 1]);
            pairCount[k] += static_cast<int64_t>(words[wi].count);
            auto& list = where[k];
            if (list.empty() || list.back() != wi) list.push_back(wi);
        }
    }
    // Max count first; equal counts: the smaller (left, right) id pair.
    struct Entry {
        int64_t count;
        uint64_t pair;
    };
    const auto lower = [](const Entry& a, const Entry& b) {
        return a.count != b.count ? a.count < b.count : a.pair > b.pair;
    };
    std::priority_queue<Entry, std::vector<Entry>, decltype(lower)> queue(lower);
    for (const auto& [k, c] : pairCount)
        queue.push({c, k});

    std::vector<std::pair<std::string, std::string>> merges;
    std::vector<uint32_t> stamp(words.size(), 0);
    uint32_t iteration = 0;
    const auto target = m_options.vocabSize;
    while (static_cast<int64_t>(tokens.size()) < target && !queue.empty()) {
        const Entry top = queue.top();
        queue.pop();
        const auto it = pairCount.find(top.pair);
        const int64_t current = it == pairCount.end() ? 0 : it->second;
        if (current != top.count) {
            if (current > 0) queue.push({current, top.pair});
            continue;
        }
        if (current < static_cast<int64_t>(std::max<uint64_t>(m_options.minFrequency, 1))) break;
        const int32_t a = left(top.pair), b = right(top.pair);
        const std::string merged = tokens[static_cast<size_t>(a)] + tokens[static_cast<size_t>(b)];
        int32_t newId;
        if (const auto found = ids.find(merged); found != ids.end()) {
            newId = found->second;
        } else {
            newId = static_cast<int32_t>(tokens.size());
            tokens.push_back(merged);
            ids.emplace(merged, newId);
        }
        merges.emplace_back(tokens[static_cast<size_t>(a)], tokens[static_cast<size_t>(b)]);
        ++iteration;

        std::vector<uint64_t> grown;
        const std::vector<uint32_t> affected = where[top.pair];
        for (const uint32_t wi : affected) {
            if (stamp[wi] == iteration) continue;
            stamp[wi] = iteration;
            Word& w = words[wi];
            const auto cnt = static_cast<int64_t>(w.count);
            bool changed = false;
            std::vector<int32_t> next;
            next.reserve(w.syms.size());
            for (size_t i = 0; i < w.syms.size(); ++i) {
                if (i + 1 < w.syms.size() && w.syms[i] == a && w.syms[i + 1] == b) {
                    next.push_back(newId);
                    ++i;
                    changed = true;
                } else {
                    next.push_back(w.syms[i]);
                }
            }
            if (!changed) continue;
            for (size_t i = 0; i + 1 < w.syms.size(); ++i)
                pairCount[key(w.syms[i], w.syms[i + 1])] -= cnt;
            for (size_t i = 0; i + 1 < next.size(); ++i) {
                const uint64_t k = key(next[i], next[i + 1]);
                pairCount[k] += cnt;
                if (next[i] == newId || next[i + 1] == newId) {
                    grown.push_back(k);
                    auto& list = where[k];
                    if (list.empty() || list.back() != wi) list.push_back(wi);
                }
            }
            w.syms = std::move(next);
        }
        std::sort(grown.begin(), grown.end());
        grown.erase(std::unique(grown.begin(), grown.end()), grown.end());
        for (const uint64_t k : grown)
            queue.push({pairCount[k], k});
        pairCount.erase(top.pair);
        where.erase(top.pair);
        if (m_options.progress && !m_options.progress(static_cast<int64_t>(merges.size()), target))
            throw CancelledError();
    }

    using ojson = nlohmann::ordered_json;
    ojson j;
    j["version"] = "1.0";
    j["truncation"] = nullptr;
    j["padding"] = nullptr;
    ojson added = ojson::array();
    for (size_t i = 0; i < m_options.specialTokens.size(); ++i)
        added.push_back(ojson{{"id", i},
                              {"content", m_options.specialTokens[i]},
                              {"single_word", false},
                              {"lstrip", false},
                              {"rstrip", false},
                              {"normalized", false},
                              {"special", true}});
    j["added_tokens"] = added;
    j["normalizer"] = m_options.nfkc ? ojson{{"type", "NFKC"}} : ojson(nullptr);
    const ojson byteLevel{{"type", "ByteLevel"},
                          {"add_prefix_space", m_options.addPrefixSpace},
                          {"trim_offsets", true},
                          {"use_regex", true}};
    j["pre_tokenizer"] = byteLevel;
    j["post_processor"] = nullptr;
    j["decoder"] = byteLevel;
    ojson model;
    model["type"] = "BPE";
    model["dropout"] = nullptr;
    model["unk_token"] = m_options.unknownToken.empty() ? ojson(nullptr) : ojson(m_options.unknownToken);
    model["continuing_subword_prefix"] = nullptr;
    model["end_of_word_suffix"] = nullptr;
    model["fuse_unk"] = false;
    model["byte_fallback"] = false;
    model["ignore_merges"] = false;
    ojson vocab = ojson::object();
    for (size_t i = 0; i < tokens.size(); ++i)
        vocab[tokens[i]] = i;
    model["vocab"] = vocab;
    ojson mergeList = ojson::array();
    for (const auto& [l, r] : merges)
        mergeList.push_back(ojson::array({l, r}));
    model["merges"] = mergeList;
    j["model"] = model;

    BpeTrainingResult r;
    r.tokenizerJson = j.dump(2) + "\n";
    r.vocabSize = static_cast<int64_t>(tokens.size());
    r.merges = static_cast<int64_t>(merges.size());
    r.distinctWords = m_words.size();
    r.corpus = m_stats;
    return r;
}

BpeTrainingResult BpeTrainer::trainToFile(const std::filesystem::path& path) const {
    BpeTrainingResult r = train();
    writeFileAtomically(path.string(), r.tokenizerJson);
    return r;
}

} // namespace brillm
