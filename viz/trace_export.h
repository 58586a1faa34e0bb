// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// The trace as JSON and CSV. The JSON schema is the one of `brillm trace --json`: top-level
// tokens and prompt_tokens, then one object per step with source, target, energy, energies
// ([V], null for a non-candidate), probabilities, mix_weights, rank, probability, slot,
// shared, ties; the studio adds token texts. Pure functions, any thread.

#include "studio_model.h"

#include <brillm/decode.h>

#include <QByteArray>
#include <QString>

namespace brillm::viz {

struct TraceExportOptions {
    bool denseEnergies = true;  // the [V] energies of every step
    bool probabilities = false; // the [V] probabilities too (large)
    bool includeSignals = false;       // input/output signals [d]
};

QByteArray traceToJson(const Trace& trace, const StudioModel* model, const TraceExportOptions& options = {});
// One row per step: step,generated,source,target,source_text,target_text,energy,probability,rank,
// candidates,slot,shared,best,best_text,best_energy,ties.
QByteArray traceToCsv(const Trace& trace, const StudioModel* model, int64_t userPromptTokens);
// Returns an error message, empty on success; the format comes from the suffix (.json, .csv).
QString saveTrace(const QString& path, const Trace& trace, const StudioModel* model, int64_t userPromptTokens);

} // namespace brillm::viz
