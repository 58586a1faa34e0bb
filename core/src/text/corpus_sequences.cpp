// SPDX-License-Identifier: GPL-3.0-or-later
#include "brillm/text/corpus_sequences.h"

#include "brillm/error.h"
#include "brillm/text/corpus_reader.h"

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

std::vector<std::pair<size_t, size_t>> overlappingWindows(size_t count, int64_t maxLength) {
    if (maxLength < 2)
        throw InputError("a window needs at least two tokens, got a length of " + std::to_string(maxLength));
    std::vector<std::pair<size_t, size_t>> out;
    const auto L = static_cast<size_t>(maxLength);
    for (size_t start = 0; start + 1 < count; start += L - 1) {
        const size_t n = std::min(L, count - start);
        out.emplace_back(start, n);
        if (start + n >= count) break;
    }
    return out;
}

std::vector<std::string> readParagraphs(const std::filesystem::path& file) {
    std::vector<std::string> lines;
    forEachLine({file}, CorpusOptions{}, [&](std::string_view line) { lines.emplace_back(line); });
    size_t blank = 0, nonBlank = 0;
    const auto isBlank = [](const std::string& l) { return l.find_first_not_of(" \t\r") == std::string::npos; };
    for (const auto& l : lines)
        (isBlank(l) ? blank : nonBlank)++;
    std::vector<std::string> out;
    const bool join = blank > 0 && nonBlank > 2 * blank;
    std::string cur;
    for (auto& l : lines) {
        if (isBlank(l)) {
            if (!cur.empty()) out.push_back(std::move(cur));
            cur.clear();
            continue;
        }
        if (!join) {
            out.push_back(std::move(l));
            continue;
        }
        const auto b = l.find_first_not_of(" \t"), e = l.find_last_not_of(" \t\r");
        if (!cur.empty()) cur += ' ';
        cur.append(l, b, e - b + 1);
    }
    if (!cur.empty()) out.push_back(std::move(cur));
    return out;
}

} // namespace brillm
