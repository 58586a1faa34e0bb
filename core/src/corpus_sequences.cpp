// SPDX-License-Identifier: GPL-3.0-or-later
#include "brillm/corpus_sequences.h"

#include "brillm/error.h"

#include <algorithm>
#include <string>

namespace brillm {

std::vector<PaddedSequence> makeSequences(std::span<const int32_t> ids, int64_t maxLength, int32_t padId,
                                          SequenceCut cut) {
    if (maxLength < 2) throw InputError("max_seq_length must be at least 2, got " + std::to_string(maxLength));
    std::vector<PaddedSequence> out;
    const auto len = static_cast<size_t>(maxLength);
    for (size_t start = 0; start < ids.size(); start += len) {
        const size_t n = std::min(len, ids.size() - start);
        PaddedSequence s;
        s.ids.assign(ids.begin() + static_cast<ptrdiff_t>(start), ids.begin() + static_cast<ptrdiff_t>(start + n));
        s.ids.resize(len, padId);
        s.length = static_cast<int64_t>(n);
        out.push_back(std::move(s));
        if (cut == SequenceCut::Truncate) break;
    }
    return out;
}

} // namespace brillm
