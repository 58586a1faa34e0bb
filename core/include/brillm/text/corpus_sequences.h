// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Training samples from a tokenised line: sequences of exactly maxLength ids, padded at the
// end with padId (the reference pads to max_seq_length = 32 with "[PAD]" for the English
// BPE and "" for Chinese characters; see defaultPadId() in tokenizer.h). Pure functions.

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace brillm {

enum class SequenceCut {
    Truncate, // one sample per line: its first maxLength ids (the reference's behaviour)
    Split,    // consecutive windows of maxLength ids; the last one padded
};

struct PaddedSequence {
    std::vector<int32_t> ids; // [maxLength]
    int64_t length = 0;       // ids before the padding
};

// No sample for an empty line. Throws InputError when maxLength < 2 (a sample needs an edge).
std::vector<PaddedSequence> makeSequences(std::span<const int32_t> ids, int64_t maxLength, int32_t padId,
                                          SequenceCut cut = SequenceCut::Truncate);

// Windows of at most maxLength ids that overlap by one token (window k ends on the token window
// k+1 starts with), so that every bigram of the text lies in exactly one window and every token
// after the first is predicted exactly once. (begin, length) pairs into ids; none for fewer than
// two ids. This is how the trainer cuts paragraphs and how held-out text is evaluated.
std::vector<std::pair<size_t, size_t>> overlappingWindows(size_t count, int64_t maxLength);

// The paragraphs of a text file: when the file separates paragraphs by blank lines (it has blank
// lines, and more than twice as many non-blank ones), consecutive non-blank lines are trimmed and
// joined with one space; otherwise every non-blank line is a paragraph. Throws InputError for an
// unreadable file or invalid UTF-8 (naming the file and line).
std::vector<std::string> readParagraphs(const std::filesystem::path& file);

} // namespace brillm
