// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// The one reader of the reference's word_frequency.json, {source_token: {target_token: count}}:
// streamed (SAX, no document tree: the released tables list V*V pairs, 16 M for V = 4000).
// BigramTable::parseJson reads it strictly (every token known, integer counts); the checkpoint
// import reads it leniently (unknown tokens skipped and counted, any non-negative number).
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace brillm {
class NodeVocabulary;
}

namespace brillm::detail {

struct FrequencyJsonRules {
    bool skipUnknownTokens = false; // else an unknown token is an error naming it
    bool allowFractional = false;   // else a count must be a non-negative integer
};

struct FrequencyCount {
    uint64_t integer = 0; // the count when it is an integer
    double value = 0;     // the count as a number (fractional counts when allowed)
};

struct FrequencyJsonResult {
    std::string problem;     // a structural or value problem ("" when none)
    std::string syntaxError; // the JSON parser's message for malformed JSON ("" when none)
    size_t syntaxByte = 0;   // where the malformed JSON was noticed
    int64_t unknownTokens = 0;
    bool ok() const { return problem.empty() && syntaxError.empty(); }
};

// Calls onPair(source, target, count) for each listed pair of known tokens, in file order.
FrequencyJsonResult readFrequencyJson(std::string_view text, const NodeVocabulary& nodes,
                                      const FrequencyJsonRules& rules,
                                      const std::function<void(int32_t, int32_t, FrequencyCount)>& onPair);

} // namespace brillm::detail
