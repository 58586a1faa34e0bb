// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Training samples from a tokenised line: sequences of exactly maxLength ids, padded at the
// end with padId (the reference pads to max_seq_length = 32 with "[PAD]" for the English
// BPE and "" for Chinese characters; see defaultPadId() in tokenizer.h). Pure functions.

#include <cstdint>
#include <span>
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

} // namespace brillm
