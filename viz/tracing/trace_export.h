// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// The trace as JSON and CSV. The JSON is written by the core's one writer of the format
// (brillm/io/trace_json.h, docs/trace-format.md), the same as `brillm trace --json`: the model
// file as opened, the edits applied to it and the decoding settings are recorded. The CSV
// starts with "# " comment lines that record the same. Pure functions, any thread.

#include "studio/studio_model.h"

#include <brillm/model/decode.h>
#include <brillm/model/model_edit.h>

#include <QByteArray>
#include <QString>

namespace brillm::viz {

struct TraceExportOptions {
    bool probabilities = false;   // the [V] probabilities of every step too (large)
    std::vector<ModelEdit> edits; // the edits applied to the model file (model->path) that made the trace
};

// One line that says where a result came from: "model FILE · N edits (…) · decoding: greedy · …"
// (for CSV comments, image metadata and the window's exports).
QString provenanceLine(const StudioModel* model, const std::vector<ModelEdit>& edits, const DecodeOptions& options);

QByteArray traceToJson(const Trace& trace, const StudioModel* model, const DecodeOptions& decodeOptions,
                       const TraceExportOptions& options = {});
// One row per step: step,generated,source,target,source_text,target_text,energy,probability,rank,
// candidates,slot,shared,best,best_text,best_energy,ties.
QByteArray traceToCsv(const Trace& trace, const StudioModel* model, int64_t userPromptTokens,
                      const QString& provenance = {});
// Returns an error message, empty on success; the format comes from the suffix (.json, .csv).
QString saveTrace(const QString& path, const Trace& trace, const StudioModel* model, int64_t userPromptTokens,
                  const DecodeOptions& decodeOptions, const std::vector<ModelEdit>& edits = {});

} // namespace brillm::viz
