// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// The trace as JSON and CSV. The JSON is the schema of `brillm trace --json`
// (docs/trace-format.md: "format": "brillm-trace", version 1, options, tokens, token_strings,
// text, initial_signal, and per step source, target, slot, shared, pe_index, mix_weights,
// energy, probability, rank, candidates, best, ties, input, output, energies with null for
// excluded candidates); the studio adds "source_text"/"target_text" and "model".
// Pure functions, any thread.

#include "studio/studio_model.h"

#include <brillm/model/decode.h>

#include <QByteArray>
#include <QString>

namespace brillm::viz {

struct TraceExportOptions {
    bool probabilities = false; // the [V] probabilities of every step too (large)
};

QByteArray traceToJson(const Trace& trace, const StudioModel* model, const DecodeOptions& decodeOptions,
                       const TraceExportOptions& options = {});
// One row per step: step,generated,source,target,source_text,target_text,energy,probability,rank,
// candidates,slot,shared,best,best_text,best_energy,ties.
QByteArray traceToCsv(const Trace& trace, const StudioModel* model, int64_t userPromptTokens);
// Returns an error message, empty on success; the format comes from the suffix (.json, .csv).
QString saveTrace(const QString& path, const Trace& trace, const StudioModel* model, int64_t userPromptTokens,
                  const DecodeOptions& decodeOptions);

} // namespace brillm::viz
