// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// The expected continuation of error tracing, as token ids: the one function the CLI
// (`brillm blame`) and the studio's error-tracing panel both go through, so that they trace the
// same path and agree to the last digit.
//
// The continuation is tokenised together with the prompt: prompt + expected is encoded as one
// text and the prompt's own tokens are cut off the front, so that a BPE boundary (", that" after
// "man") is tokenised as in running text rather than as a text that starts with a space. When
// the joint tokens do not begin with the prompt's tokens (the last prompt token merges with the
// first expected character, e.g. "Mr" + "s."), the continuation is tokenised on its own and
// `joint` says so.

#include "brillm/text/text_codec.h"

#include <cstdint>
#include <string_view>
#include <vector>

namespace brillm {

struct ContinuationTokens {
    std::vector<int32_t> prompt;   // the prompt's nodes, encoded alone
    std::vector<int32_t> expected; // the continuation's nodes
    // true: expected is the tail of encode(prompt + expected); false: it was encoded on its own
    // because the prompt's tokens are not a prefix of the joint encoding (or it is empty).
    bool joint = true;
};

// Throws InputError as TextCodec::encode does (invalid UTF-8, unknown tokens without [UNK]).
ContinuationTokens encodeContinuation(const TextCodec& codec, std::string_view prompt, std::string_view expected);

} // namespace brillm
