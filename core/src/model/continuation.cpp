// SPDX-License-Identifier: GPL-3.0-or-later
#include "brillm/model/continuation.h"

#include <algorithm>
#include <string>

namespace brillm {

ContinuationTokens encodeContinuation(const TextCodec& codec, std::string_view prompt, std::string_view expected) {
    ContinuationTokens out;
    out.prompt = codec.encode(prompt).nodes;
    if (expected.empty()) return out;
    std::string text;
    text.reserve(prompt.size() + expected.size());
    text.append(prompt);
    text.append(expected);
    auto joint = codec.encode(text).nodes;
    if (joint.size() > out.prompt.size() && std::equal(out.prompt.begin(), out.prompt.end(), joint.begin())) {
        joint.erase(joint.begin(), joint.begin() + static_cast<std::ptrdiff_t>(out.prompt.size()));
        out.expected = std::move(joint);
        out.joint = true;
    } else {
        out.expected = codec.encode(expected).nodes;
        out.joint = false;
    }
    return out;
}

} // namespace brillm
