// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// The `brillm-trace` v1 JSON (docs/trace-format.md): the one writer of the format, used by
// `brillm trace --json` and by the studio's "Export trace". A trace records where it came
// from: the model file as opened, the edits applied to it, and the decoding settings (banned
// tokens included), so an exported trace can be reproduced.

#include "brillm/model/decode.h"
#include "brillm/model/model.h"
#include "brillm/model/model_edit.h"
#include "brillm/text/text_codec.h"

#include <string>
#include <vector>

namespace brillm {

struct TraceJsonContext {
    const TextCodec* codec = nullptr; // null: token strings are the ids, `text` the ids joined by spaces
    std::string modelPath;            // the model file as opened (written as "model" when not empty)
    std::vector<ModelEdit> edits;     // applied to that file, in order ("edits", always written)
    bool probabilities = false;       // also every step's [V] probabilities (large)
};

// One JSON object, compact, with full double precision; NaN and infinities as null.
// Throws InputError for a node id the codec does not know.
std::string traceToJson(const Trace& trace, const Model& model, const DecodeOptions& options,
                        const TraceJsonContext& context);

} // namespace brillm
