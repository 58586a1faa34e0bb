// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// A studio session: the whole state of the window as one JSON file, like a notebook - the
// model file, its edits, the prompt and decoding settings, every branch of the history (its
// path; the traces are recomputed on reopening), the selected step, the error-tracing and
// compare inputs, the views' settings (heatmap colouring, cortex layout), the theme and the
// dock layout. File > Save session / Open session; the last
// session is reopened on start.
//
// Format: {"format": "brillm-studio-session", "version": 1, ...} (docs/studio.md). Written
// atomically (QSaveFile); reading checks the format and every field's type and names the
// first problem.

#include "studio/studio_document.h"

#include <brillm/model/model_edit.h>

#include <QByteArray>
#include <QString>

#include <vector>

namespace brillm::viz {

struct StudioSession {
    QString modelPath;
    std::vector<ModelEdit> edits;
    QString prompt;
    DecodeOptions options; // the Completion panel's settings (maxNewTokens included)
    bool skipSpecial = true;
    std::vector<SavedBranch> branches;
    int branchIndex = -1;
    QString tracePrompt;
    QString traceExpected;
    int compareMode = 0;
    QString compareLeft;
    QString compareRight;
    bool compareUsesCompletionSettings = false;
    QString theme;
    QByteArray windowState; // QMainWindow::saveState()
    // view settings: -1 leaves the view as it is (a session written before they were saved)
    int heatmapScale = -1; // EnergyHeatmapView's HeatmapScale
    int cortexMode = -1;   // the cortex map's layout: ranked by energy or the vocabulary map

    QByteArray toJson() const;
    // Throws InputError naming the source and the first problem.
    static StudioSession fromJson(const QByteArray& json, const QString& source);
};

// Both return an error message, empty on success.
QString saveSessionFile(const QString& path, const StudioSession& session);
QString loadSessionFile(const QString& path, StudioSession* session);

} // namespace brillm::viz
