// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// StudioDocument: what the studio shows - the open model, the current trace (growing while a
// completion streams in), the selected step and the history of branches - and the one place
// that starts work on the worker thread. Lives on the UI thread; every view reads it and
// listens to its signals. Results of replaced jobs are dropped (JobTracker).

#include "studio/job_tracker.h"
#include "studio/studio_worker.h"

#include <QElapsedTimer>
#include <QHash>
#include <QObject>
#include <QPoint>
#include <QPointer>
#include <QThread>
#include <QTimer>

#include <memory>
#include <vector>

namespace brillm::viz {

// One entry of the branch history: a finished trace and how it came about.
struct Branch {
    TracePtr trace;
    int64_t userPromptTokens = 0; // tokens the user typed
    int64_t forcedAt = -1;        // token index of a candidate picked by hand, -1 for none
    int selectedStep = -1;
    QString description;
    DecodeOptions options; // how it was decoded (exports and sessions record it)
};

// A branch as a session file keeps it: the path and how it came about; the trace is recomputed.
struct SavedBranch {
    std::vector<int32_t> tokens;
    int64_t promptTokens = 0; // the trace's start path (the rest was generated)
    int64_t userPromptTokens = 0;
    int64_t forcedAt = -1;
    int selectedStep = -1;
    QString description;
    QString stopReason;
    DecodeOptions options;
};

class StudioDocument : public QObject {
    Q_OBJECT
public:
    static constexpr int kStepBatchMs = 30;
    explicit StudioDocument(QObject* parent = nullptr);
    ~StudioDocument() override;

    // ---- state ----
    const StudioModelPtr& model() const { return m_model; }
    bool hasModel() const { return static_cast<bool>(m_model); }
    // The model as opened, before any edits; model() is the edited one (the same pointer when
    // there are no edits).
    const StudioModelPtr& originalModel() const { return m_original; }
    int editCount() const { return m_editCount; }
    // The trace being shown (live while streaming). Empty when nothing was completed.
    const Trace& trace() const { return *m_trace; }
    bool hasTrace() const { return !m_trace->tokens.empty(); }
    int64_t userPromptTokens() const { return m_userPromptTokens; }
    int64_t forcedAt() const { return m_forcedAt; }
    bool isGenerating() const { return m_completions.current() != 0; }
    bool isLoading() const { return m_loads.current() != 0; }
    // The selected step (edge index), -1 for none; while streaming, the newest step is shown.
    int selectedStep() const { return m_selected; }
    // The step views show: the selected one, else the newest.
    int shownStep() const;
    const DecodeOptions& lastOptions() const { return m_lastOptions; }
    // Where completions score their candidates: "auto" (the GPU for large models when one is
    // usable, see scoringDevice), "cpu" or "cuda". Taken by the next completion.
    const QString& scoringDevice() const { return m_scoringDevice; }
    void setScoringDevice(const QString& device) { m_scoringDevice = device; }

    // ---- branch history ----
    int historySize() const { return static_cast<int>(m_history.size()); }
    int historyIndex() const { return m_historyIndex; }
    bool canGoBack() const { return m_historyIndex > 0; }
    bool canGoForward() const { return m_historyIndex + 1 < historySize(); }
    const std::vector<Branch>& history() const { return m_history; }

    // ---- timings (ms) ----
    double lastDecodeMs() const { return m_lastDecodeMs; }
    // Where the last completion's candidates were scored: "CPU" or a GPU device ("cuda:0").
    const QString& lastScoredOn() const { return m_lastScoredOn; }
    double lastViewsMs() const { return m_lastViewsMs; }
    int64_t lastNewTokens() const { return m_lastNewTokens; }
    const JobTracker& completionTracker() const { return m_completions; }

public Q_SLOTS:
    void openModel(const QString& path);
    // Installs a model that is already loaded (tests, or a worker of the caller's).
    void setModel(brillm::viz::StudioModelPtr model);
    // Encodes text and completes it; a prompt the model cannot take emits completionFailed.
    void complete(const QString& prompt, const brillm::DecodeOptions& options);
    void completeTokens(std::vector<int32_t> tokens, const brillm::DecodeOptions& options, int64_t userPromptTokens,
                        int64_t forcedAt = -1, const QString& description = {});
    // At step `step`, takes `candidate` instead and decodes on from there (a new branch).
    void branchAt(int step, int32_t candidate);
    void cancel();
    void selectStep(int step);
    // Asks the edge inspector to show source -> target (a candidate picked in a view).
    void inspectEdge(int32_t source, int32_t target) { Q_EMIT edgeInspectionRequested(source, target); }
    // A view asks for the edit menu of an edge (target >= 0) or a node (target < 0) at a screen position.
    void requestEditMenu(int32_t source, int32_t target, const QPoint& globalPos) {
        Q_EMIT editMenuRequested(source, target, globalPos);
    }
    // Shows `edited`, made from originalModel() by `editCount` edits (0: the original itself),
    // and runs the current completion again on it, keeping the selected step.
    void setEditedModel(brillm::viz::StudioModelPtr edited, int editCount);
    // Runs the last completion request again (same start path, options and branch point).
    void rerun();
    void back();
    void forward();
    // Replaces the history with saved branches (a session): every trace recomputed on a worker
    // by tracePath() of its path, then branch `index` shown (historyRestored). Stale restores
    // are dropped.
    void restoreHistory(std::vector<brillm::viz::SavedBranch> branches, int index);

    // Views that lay out or render asynchronously report their work, so the document can tell
    // when every view shows the finished trace (viewsSettled).
    void beginViewWork(const QString& name);
    void endViewWork(const QString& name);

Q_SIGNALS:
    void modelLoading(const QString& path);
    void modelChanged();
    void modelFailed(const QString& path, const QString& message);
    void traceReset();           // a new trace (empty, or a branch from the history) is shown
    void stepAppended(int step); // while streaming: steps up to `step` are in; at most every kStepBatchMs
    void traceFinished();        // the trace is complete (or was cancelled)
    void completionFailed(const QString& message);
    void selectionChanged(int step);
    void edgeInspectionRequested(int32_t source, int32_t target);
    void editMenuRequested(int32_t source, int32_t target, const QPoint& globalPos);
    void modelEdited(int editCount); // model() is now an edited model (or the original again)
    void historyChanged();
    void historyRestored();
    void busyChanged();
    void progress(double fraction, const QString& message);
    void viewsSettled(double msSinceRequest);

private:
    void onModelAvailable(quint64 job, StudioModelPtr model);
    void onModelFailed(quint64 job, const QString& message);
    void onStep(quint64 job, StepPtr step);
    void onCompletion(quint64 job, TracePtr trace, double seconds, const QString& scoredOn);
    void onCompletionFailed(quint64 job, const QString& message);
    void showBranch(int index);
    void checkSettled();

    QThread m_thread;
    StudioWorker* m_worker = nullptr;
    JobTracker m_loads;
    JobTracker m_completions;
    JobTracker m_restores;
    QString m_loadingPath;

    StudioModelPtr m_model;
    StudioModelPtr m_original;
    int m_editCount = 0;
    std::vector<int32_t> m_requestTokens; // the start path of the last completion request
    int m_reselect = -1;                  // a step to select again when a rerun finishes
    std::shared_ptr<Trace> m_trace;
    int64_t m_userPromptTokens = 0;
    int64_t m_forcedAt = -1;
    int m_selected = -1;
    DecodeOptions m_lastOptions;
    QString m_scoringDevice = QStringLiteral("auto");
    QString m_pendingDescription;

    std::vector<Branch> m_history;
    int m_historyIndex = -1;

    QTimer* m_stepBatch = nullptr; // coalesces stepAppended: the worker is faster than any repaint
    int m_announced = -1;          // the last step stepAppended announced
    void announceSteps();

    QElapsedTimer m_requestTimer;
    double m_lastDecodeMs = 0;
    QString m_lastScoredOn;
    double m_lastViewsMs = 0;
    int64_t m_lastNewTokens = 0;
    bool m_waitingForViews = false;
    QHash<QString, int> m_viewWork;
};

} // namespace brillm::viz
