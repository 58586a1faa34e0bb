// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Exact held-out evaluation of a model over a corpus: every token after the first of each
// paragraph is predicted once, with a softmax over all V candidates (brillm eval).
//
// Each paragraph of node ids is cut into windows of windowLength tokens overlapping by one
// (overlappingWindows, the trainer's rule), so token k of a paragraph is predicted from the
// start of its window, never across a paragraph. Each window is scored with exactLoss (the
// training PE convention, self-loops included). Windows are spread over worker threads; each
// window's NLL is summed on its own and the totals are added in window order, so the result
// does not depend on the number of threads, bit for bit.
//
// Bits per byte: the total NLL in bits (nats / ln 2) divided by the UTF-8 bytes of the
// evaluated paragraphs, i.e. of the paragraph strings as readParagraphs gives them (lines
// trimmed and joined with one space) for the paragraphs with at least two tokens. It compares
// models with different tokenizers on the same text.

#include "brillm/model/model.h"

#include <cstdint>
#include <filesystem>
#include <functional>
#include <span>
#include <vector>

namespace brillm {

class TextCodec;

struct CorpusEvalOptions {
    int64_t windowLength = 32; // the model's training max_seq_length; >= 2, at most maxEdges() + 1
    int threads = 0;           // 0: hardware concurrency
    int64_t maxWindows = 0;    // evaluate only the first N windows (in paragraph order); 0 = all
    bool perParagraph = false; // fill CorpusEvalResult::paragraphNll / paragraphTokens
    // Called on the calling thread, about ten times a second and at the end, with windows done
    // and the total; return false to stop (CancelledError).
    std::function<bool(int64_t done, int64_t total)> progress;
};

struct CorpusEvalResult {
    int64_t tokens = 0;                   // tokens predicted
    double nll = 0;                       // summed negative log-likelihood, nats
    double loss = 0;                      // nll / tokens
    double perplexity = 0;                // exp(loss)
    int64_t windows = 0;                  // windows scored
    int64_t paragraphs = 0;               // paragraphs with at least one window scored
    bool complete = true;                 // false when maxWindows left windows out
    std::vector<double> paragraphNll;     // perParagraph: per input paragraph (0 for those not scored)
    std::vector<int64_t> paragraphTokens; // perParagraph: tokens predicted per input paragraph
};

// Throws InputError for windowLength < 2 or longer than the position table allows, for a node
// id outside the model, or when no paragraph has two tokens; CancelledError when the progress
// callback returns false. The model is only read; it must not change during the call.
CorpusEvalResult evaluateCorpus(const Model& model, std::span<const std::vector<int32_t>> paragraphs,
                                const CorpusEvalOptions& options = {});

// The paragraphs, as far as the first maxWindows windows of windowLength reach: whole paragraphs,
// then a prefix of the last one. What an n-gram baseline must evaluate to predict exactly the
// tokens evaluateCorpus predicted with the same maxWindows. maxWindows = 0: all of them.
std::vector<std::vector<int32_t>> paragraphsCoveredByWindows(std::span<const std::vector<int32_t>> paragraphs,
                                                             int64_t windowLength, int64_t maxWindows);

// Text files read as paragraphs of node ids.
struct EncodedCorpus {
    std::vector<std::vector<int32_t>> paragraphs; // those with at least two tokens, in file order
    int64_t paragraphsRead = 0;                   // all paragraphs of the files
    int64_t shortParagraphs = 0;                  // left out: fewer than two tokens
    int64_t tokens = 0;                           // tokens of the kept paragraphs
    int64_t predicted = 0;                        // sum over kept paragraphs of (tokens - 1)
    int64_t bytes = 0;                            // UTF-8 bytes of the kept paragraphs (bits per byte)
    int64_t unknown = 0;                          // pieces of text read as the unknown node
};

// readParagraphs of each file, in order, encoded with codec on `threads` threads (0: hardware
// concurrency; the result does not depend on it). Throws InputError naming the file when it is
// missing or unreadable or not UTF-8, and whatever codec.encode throws.
EncodedCorpus readEncodedParagraphs(std::span<const std::filesystem::path> files, const TextCodec& codec,
                                    int threads = 0);

// Bits per byte of an evaluation: nll / ln 2 / bytes (NaN when bytes is 0).
double bitsPerByte(double nll, int64_t bytes);

} // namespace brillm
