// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Character vocabularies from a corpus, Chinese-style: the unknown token first (id 0, as in
// the released vocab_wiki_4k.json), then the V-1 most frequent characters (ties by code
// point). Control characters (Cc: newline, tab, ...) are not counted.

#include "brillm/text/corpus_reader.h"
#include "brillm/text/vocabulary.h"

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace brillm {

struct CharVocabularyOptions {
    int64_t size = 4001;
    std::string unknownToken = "<unk>";
    bool nfkc = false; // count NFKC-normalised text
    InvalidUtf8Policy onInvalidUtf8 = InvalidUtf8Policy::Stop;
};

struct CharVocabularyResult {
    NodeVocabulary vocabulary; // min(size, distinct characters + 1) tokens
    CorpusStats corpus;
    int64_t distinctCharacters = 0;
    double coverage = 0.0; // share of counted characters the vocabulary covers
};

// Throws InputError: unreadable file, invalid UTF-8 (with Stop), empty corpus, size < 2.
CharVocabularyResult buildCharVocabulary(const std::vector<std::filesystem::path>& files,
                                         const CharVocabularyOptions& options);

} // namespace brillm
