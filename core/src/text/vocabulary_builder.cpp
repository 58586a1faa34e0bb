// SPDX-License-Identifier: GPL-3.0-or-later
#include "brillm/text/vocabulary_builder.h"

#include "brillm/error.h"
#include "brillm/text/unicode.h"

#include <algorithm>
#include <unordered_map>

namespace brillm {

CharVocabularyResult buildCharVocabulary(const std::vector<std::filesystem::path>& files,
                                         const CharVocabularyOptions& options) {
    if (options.size < 2)
        throw InputError("a character vocabulary needs a size of at least 2 (the unknown token and one character)");
    std::vector<uint64_t> bmp(0x10000, 0);
    std::unordered_map<char32_t, uint64_t> astral;
    CorpusOptions co;
    co.onInvalidUtf8 = options.onInvalidUtf8;
    CorpusReader reader(files, co);
    CorpusChunk chunk;
    std::string normalized;
    while (reader.next(chunk)) {
        for (size_t i = 0; i < chunk.size(); ++i) {
            std::string_view line = chunk.line(i);
            if (options.nfkc) {
                normalized = unicode::normalize(line, unicode::NormalForm::Nfkc);
                line = normalized;
            }
            size_t pos = 0;
            while (pos < line.size()) {
                const char32_t cp = unicode::decodeNext(line, pos);
                if (unicode::isControl(cp)) continue;
                if (cp < 0x10000)
                    ++bmp[cp];
                else
                    ++astral[cp];
            }
        }
    }
    reader.requireNonEmpty();

    std::vector<std::pair<char32_t, uint64_t>> counts;
    uint64_t total = 0;
    for (char32_t cp = 0; cp < 0x10000; ++cp)
        if (bmp[cp]) counts.emplace_back(cp, bmp[cp]);
    for (const auto& [cp, n] : astral)
        counts.emplace_back(cp, n);
    for (const auto& c : counts)
        total += c.second;
    if (counts.empty()) throw InputError("the corpus has no characters other than control characters");
    std::sort(counts.begin(), counts.end(), [](const auto& a, const auto& b) {
        return a.second != b.second ? a.second > b.second : a.first < b.first;
    });

    std::vector<std::string> tokens{options.unknownToken};
    uint64_t covered = 0;
    for (const auto& [cp, n] : counts) {
        if (static_cast<int64_t>(tokens.size()) >= options.size) break;
        std::string s;
        unicode::appendUtf8(s, cp);
        if (s == options.unknownToken) continue;
        tokens.push_back(std::move(s));
        covered += n;
    }
    CharVocabularyResult r;
    r.vocabulary = NodeVocabulary::fromTokens(std::move(tokens), "character vocabulary");
    r.corpus = reader.stats();
    r.distinctCharacters = static_cast<int64_t>(counts.size());
    r.coverage = total ? static_cast<double>(covered) / static_cast<double>(total) : 0.0;
    return r;
}

} // namespace brillm
