// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// BigramCounter: one streaming pass over a corpus of any size, tokenising each line and
// counting adjacent node pairs (source, target) within the line.
//
// The calling thread reads chunks of lines (CorpusReader) into a bounded queue; `threads`
// workers tokenise and count into per-thread hash maps that are merged at the end. Memory:
// a few chunks of text plus the distinct pairs (at most V*V), whatever the corpus size.
// Pairs are counted within a line, not across lines and not with padding.
//
// A tokenizer id whose node map entry is -1 breaks the chain (no pair with it is counted).
// Progress: `progress(bytesRead, totalBytes)` from the reading thread; returning false
// stops the pass with CancelledError.

#include "brillm/text/bigram_table.h"
#include "brillm/text/corpus_reader.h"

#include <functional>
#include <span>
#include <vector>

namespace brillm {

class Tokenizer;

struct BigramCountOptions {
    int threads = 2; // tokenising workers (>= 1)
    InvalidUtf8Policy onInvalidUtf8 = InvalidUtf8Policy::Stop;
    size_t chunkBytes = size_t{1} << 18; // keeps both workers busy on a 4 MB corpus
    std::function<bool(uint64_t bytesRead, uint64_t totalBytes)> progress;
};

struct BigramCountResult {
    BigramTable table;
    CorpusStats corpus;
    uint64_t tokens = 0;  // tokens produced (unmapped ones included)
    double seconds = 0.0; // wall time of the pass
};

class BigramCounter {
public:
    // nodeMap: tokenizer id -> node id in [0, numNodes) or -1; empty = identity (numNodes must
    // then equal the tokenizer's vocabulary size). Throws InputError on inconsistent sizes.
    // The tokenizer must outlive the counter.
    BigramCounter(const Tokenizer& tokenizer, std::vector<int32_t> nodeMap, int64_t numNodes,
                  BigramCountOptions options = {});

    // Throws InputError (unreadable file, invalid UTF-8 with Stop, empty corpus),
    // CancelledError, or whatever the tokenizer throws, after stopping all workers.
    BigramCountResult count(const std::vector<std::filesystem::path>& files) const;

private:
    const Tokenizer& m_tokenizer;
    std::vector<int32_t> m_nodeMap;
    int64_t m_numNodes;
    BigramCountOptions m_options;
};

} // namespace brillm
