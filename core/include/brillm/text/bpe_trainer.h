// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// BpeTrainer: trains a byte-level BPE of V tokens on a corpus and writes a HuggingFace
// tokenizer.json shaped like the released English BriLLM tokenizer (NFKC normaliser,
// ByteLevel pre-tokenizer with add_prefix_space, ByteLevel decoder, special tokens first),
// which HuggingFace tokenizers and ByteLevelBpeTokenizer load.
//
// Algorithm: words are counted after NFKC and the GPT-2 split; merges repeatedly join the
// most frequent adjacent pair (ties: the smaller pair of ids, as HuggingFace's trainer), with
// incremental pair counts. Deterministic for a given corpus and options. Not thread-safe.

#include "brillm/text/corpus_reader.h"

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace brillm {

struct BpeTrainerOptions {
    int64_t vocabSize = 4000;
    std::vector<std::string> specialTokens = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
    std::string unknownToken = "[UNK]"; // one of specialTokens, or empty
    bool fullByteAlphabet = true;       // all 256 bytes, so nothing is ever unknown
    uint64_t minFrequency = 2;          // pairs seen less often are never merged
    bool nfkc = true;
    bool addPrefixSpace = true;
    InvalidUtf8Policy onInvalidUtf8 = InvalidUtf8Policy::Stop;
    std::function<bool(int64_t merges, int64_t target)> progress; // false cancels
};

struct BpeTrainingResult {
    std::string tokenizerJson; // the tokenizer.json text
    int64_t vocabSize = 0;     // may be below the target when no pair is frequent enough
    int64_t merges = 0;
    uint64_t distinctWords = 0;
    CorpusStats corpus;
};

class BpeTrainer {
public:
    // Throws InputError for inconsistent options (size too small for the alphabet, an
    // unknown token that is not a special token, duplicate special tokens).
    explicit BpeTrainer(BpeTrainerOptions options);

    // Counts the words of one line (valid UTF-8; throws InputError otherwise).
    void addLine(std::string_view line);
    // Streams files through addLine. Throws like CorpusReader, and InputError when empty.
    void addCorpus(const std::vector<std::filesystem::path>& files);

    BpeTrainingResult train() const;
    // train(), then writes the file atomically.
    BpeTrainingResult trainToFile(const std::filesystem::path& path) const;

private:
    BpeTrainerOptions m_options;
    std::unordered_map<std::string, uint64_t> m_words; // raw bytes of each pre-token
    CorpusStats m_stats;
};

} // namespace brillm
