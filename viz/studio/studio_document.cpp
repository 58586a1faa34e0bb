// SPDX-License-Identifier: GPL-3.0-or-later
#include "studio/studio_document.h"

#include <QFutureWatcher>
#include <QtConcurrent/QtConcurrentRun>

#include <algorithm>

#include <brillm/error.h>

#include <QRegularExpression>
#include <QTimer>

namespace brillm::viz {

StudioDocument::StudioDocument(QObject* parent) : QObject(parent), m_trace(std::make_shared<Trace>()) {
    registerStudioMetaTypes();
    m_worker = new StudioWorker;
    m_worker->moveToThread(&m_thread);
    connect(&m_thread, &QThread::finished, m_worker, &QObject::deleteLater);
    connect(m_worker, &StudioWorker::modelAvailable, this, &StudioDocument::onModelAvailable);
    connect(m_worker, &StudioWorker::modelFailed, this, &StudioDocument::onModelFailed);
    connect(m_worker, &StudioWorker::stepAvailable, this, &StudioDocument::onStep);
    connect(m_worker, &StudioWorker::completionAvailable, this, &StudioDocument::onCompletion);
    connect(m_worker, &StudioWorker::completionFailed, this, &StudioDocument::onCompletionFailed);
    connect(m_worker, &StudioWorker::progress, this, [this](quint64 job, double f, const QString& msg) {
        if (m_loads.isCurrent(job) || m_completions.isCurrent(job)) Q_EMIT progress(f, msg);
    });
    m_stepBatch = new QTimer(this);
    m_stepBatch->setSingleShot(true);
    m_stepBatch->setInterval(kStepBatchMs);
    connect(m_stepBatch, &QTimer::timeout, this, &StudioDocument::announceSteps);
    m_thread.setObjectName(QStringLiteral("brillm-worker"));
    m_thread.start();
}

StudioDocument::~StudioDocument() {
    m_worker->cancel(~quint64(0) >> 1);
    m_thread.quit();
    m_thread.wait();
}

int StudioDocument::shownStep() const {
    const int n = static_cast<int>(m_trace->steps.size());
    if (m_selected >= 0 && m_selected < n) return m_selected;
    return n - 1;
}

void StudioDocument::openModel(const QString& path) {
    const quint64 job = m_loads.start();
    m_loadingPath = path;
    Q_EMIT modelLoading(path);
    Q_EMIT busyChanged();
    QMetaObject::invokeMethod(
        m_worker, [w = m_worker, job, path] { w->loadModel(job, path); }, Qt::QueuedConnection);
}

void StudioDocument::setModel(StudioModelPtr model) {
    cancel();
    m_model = std::move(model);
    m_original = m_model;
    m_editCount = 0;
    m_requestTokens.clear();
    m_trace = std::make_shared<Trace>();
    m_history.clear();
    m_historyIndex = -1;
    m_selected = -1;
    m_userPromptTokens = 0;
    m_forcedAt = -1;
    Q_EMIT modelChanged();
    Q_EMIT traceReset();
    Q_EMIT historyChanged();
}

void StudioDocument::onModelAvailable(quint64 job, StudioModelPtr model) {
    if (!m_loads.accept(job)) return;
    m_loads.invalidate();
    setModel(std::move(model));
    Q_EMIT busyChanged();
}

void StudioDocument::onModelFailed(quint64 job, const QString& message) {
    if (!m_loads.accept(job)) return;
    m_loads.invalidate();
    Q_EMIT busyChanged();
    Q_EMIT modelFailed(m_loadingPath, message);
}

void StudioDocument::complete(const QString& prompt, const DecodeOptions& options) {
    if (!m_model) {
        Q_EMIT completionFailed(tr("No model is open. Open a model file first (Ctrl+O)."));
        return;
    }
    std::vector<int32_t> tokens;
    try {
        tokens = m_model->encode(prompt);
    } catch (const std::exception& e) {
        Q_EMIT completionFailed(tr("The model cannot take this prompt: %1").arg(QString::fromStdString(e.what())));
        return;
    }
    if (tokens.empty()) {
        Q_EMIT completionFailed(tr("The prompt is empty: type at least one token."));
        return;
    }
    const auto n = static_cast<int64_t>(tokens.size());
    completeTokens(std::move(tokens), options, n, -1, prompt);
}

void StudioDocument::completeTokens(std::vector<int32_t> tokens, const DecodeOptions& options, int64_t userPromptTokens,
                                    int64_t forcedAt, const QString& description) {
    if (!m_model) return;
    cancel();
    const quint64 job = m_completions.start();
    m_lastOptions = options;
    m_userPromptTokens = userPromptTokens;
    m_forcedAt = forcedAt;
    m_pendingDescription = description;
    m_requestTokens = tokens;
    m_reselect = -1;
    m_trace = std::make_shared<Trace>();
    m_trace->promptTokens = static_cast<int64_t>(tokens.size());
    m_trace->tokens.push_back(tokens.front());
    m_selected = -1;
    m_announced = -1;
    m_stepBatch->stop();
    m_waitingForViews = false;
    m_requestTimer.start();
    Q_EMIT traceReset();
    Q_EMIT busyChanged();
    CompletionRequest request{std::move(tokens), options, userPromptTokens, m_scoringDevice};
    QMetaObject::invokeMethod(
        m_worker, [w = m_worker, job, m = m_model, request] { w->complete(job, m, request); }, Qt::QueuedConnection);
}

void StudioDocument::branchAt(int step, int32_t candidate) {
    if (!m_model || step < 0 || step >= static_cast<int>(m_trace->steps.size())) return;
    std::vector<int32_t> tokens(m_trace->tokens.begin(), m_trace->tokens.begin() + step + 1);
    tokens.push_back(candidate);
    const int64_t user = std::min<int64_t>(m_userPromptTokens, step + 1);
    const QString desc =
        tr("step %1: %2 → %3").arg(step).arg(m_model->label(m_trace->steps[step].target), m_model->label(candidate));
    completeTokens(std::move(tokens), m_lastOptions, user, step + 1, desc);
}

void StudioDocument::setEditedModel(StudioModelPtr edited, int editCount) {
    if (!edited || !m_original) return;
    m_model = std::move(edited);
    m_editCount = editCount;
    Q_EMIT modelEdited(editCount);
    rerun();
}

void StudioDocument::rerun() {
    if (!m_model || m_requestTokens.empty()) return;
    const int keep = m_selected;
    QString description = m_pendingDescription.isEmpty() ? tr("completion") : m_pendingDescription;
    description.remove(QRegularExpression(QStringLiteral(" \\[edited.*\\]$")));
    if (m_editCount > 0)
        description += QStringLiteral(" [edited: %1 edit%2]").arg(m_editCount).arg(m_editCount == 1 ? "" : "s");
    completeTokens(m_requestTokens, m_lastOptions, m_userPromptTokens, m_forcedAt, description);
    m_reselect = keep;
}

void StudioDocument::cancel() {
    const quint64 job = m_completions.current();
    if (job == 0) return;
    m_worker->cancel(job);
    m_completions.invalidate();
    m_trace->stopReason = "cancelled";
    Q_EMIT busyChanged();
    Q_EMIT traceFinished();
}

void StudioDocument::onStep(quint64 job, StepPtr step) {
    if (!m_completions.accept(job)) return;
    m_trace->steps.push_back(*step);
    m_trace->tokens.push_back(step->target);
    // The first step at once (the user sees a reaction), the rest in batches.
    if (m_announced < 0)
        announceSteps();
    else if (!m_stepBatch->isActive())
        m_stepBatch->start();
}

void StudioDocument::announceSteps() {
    m_stepBatch->stop();
    const int newest = static_cast<int>(m_trace->steps.size()) - 1;
    if (newest <= m_announced) return;
    m_announced = newest;
    Q_EMIT stepAppended(newest);
}

void StudioDocument::onCompletion(quint64 job, TracePtr trace, double seconds, const QString& scoredOn) {
    if (!m_completions.accept(job)) return;
    m_completions.invalidate();
    m_stepBatch->stop();
    m_trace = std::make_shared<Trace>(*trace);
    m_lastDecodeMs = seconds * 1e3;
    m_lastScoredOn = scoredOn;
    m_lastNewTokens = static_cast<int64_t>(trace->tokens.size()) - trace->promptTokens;
    // Select the first step the model chose: why that token won is the first question.
    const int first = static_cast<int>(std::max<int64_t>(0, (m_forcedAt >= 0 ? m_forcedAt : trace->promptTokens) - 1));
    m_selected = std::min(m_reselect >= 0 ? m_reselect : first, static_cast<int>(m_trace->steps.size()) - 1);
    m_reselect = -1;
    Branch b{trace,
             m_userPromptTokens,
             m_forcedAt,
             m_selected,
             m_pendingDescription.isEmpty() ? tr("completion") : m_pendingDescription,
             m_lastOptions};
    if (m_historyIndex + 1 < historySize()) m_history.resize(static_cast<size_t>(m_historyIndex + 1));
    m_history.push_back(std::move(b));
    m_historyIndex = historySize() - 1;
    m_waitingForViews = true;
    Q_EMIT busyChanged();
    Q_EMIT traceFinished();
    Q_EMIT selectionChanged(m_selected);
    Q_EMIT historyChanged();
    // Views that have async work have begun it by now; settle on the next turn of the loop.
    QTimer::singleShot(0, this, &StudioDocument::checkSettled);
}

void StudioDocument::onCompletionFailed(quint64 job, const QString& message) {
    if (!m_completions.accept(job)) return;
    m_completions.invalidate();
    Q_EMIT busyChanged();
    Q_EMIT completionFailed(message);
}

void StudioDocument::selectStep(int step) {
    if (step < -1 || step >= static_cast<int>(m_trace->steps.size()) || step == m_selected) return;
    m_selected = step;
    if (m_historyIndex >= 0 && !isGenerating()) m_history[static_cast<size_t>(m_historyIndex)].selectedStep = step;
    Q_EMIT selectionChanged(step);
}

void StudioDocument::showBranch(int index) {
    if (index < 0 || index >= historySize()) return;
    cancel();
    m_historyIndex = index;
    const Branch& b = m_history[static_cast<size_t>(index)];
    m_trace = std::make_shared<Trace>(*b.trace);
    // A rerun (after an edit) runs this branch again.
    m_requestTokens.assign(b.trace->tokens.begin(), b.trace->tokens.begin() + b.trace->promptTokens);
    m_userPromptTokens = b.userPromptTokens;
    m_forcedAt = b.forcedAt;
    m_selected = b.selectedStep;
    m_lastOptions = b.options;
    Q_EMIT traceReset();
    Q_EMIT traceFinished();
    Q_EMIT selectionChanged(m_selected);
    Q_EMIT historyChanged();
}

void StudioDocument::restoreHistory(std::vector<SavedBranch> branches, int index) {
    if (!m_model) return;
    cancel();
    const quint64 job = m_restores.start();
    auto* watcher = new QFutureWatcher<std::vector<Branch>>(this);
    connect(watcher, &QFutureWatcher<std::vector<Branch>>::finished, this, [this, watcher, job, index] {
        watcher->deleteLater();
        if (!m_restores.accept(job)) return;
        m_restores.invalidate();
        std::vector<Branch> restored;
        try {
            restored = watcher->result();
        } catch (const std::exception& e) {
            Q_EMIT completionFailed(
                tr("Cannot restore the session's branches: %1").arg(QString::fromStdString(e.what())));
            return;
        }
        if (restored.empty()) {
            Q_EMIT historyRestored();
            return;
        }
        m_history = std::move(restored);
        showBranch(std::clamp(index, 0, historySize() - 1));
        m_waitingForViews = true;
        QTimer::singleShot(0, this, &StudioDocument::checkSettled);
        Q_EMIT historyRestored();
    });
    watcher->setFuture(QtConcurrent::run([model = m_model, branches = std::move(branches)] {
        std::vector<Branch> out;
        for (const auto& s : branches) {
            if (s.tokens.empty()) continue;
            auto t = std::make_shared<Trace>(tracePath(model->model(), s.tokens, s.options));
            // The trace as decoding made it: the start path, then generated edges.
            t->promptTokens = std::clamp<int64_t>(s.promptTokens, 1, static_cast<int64_t>(s.tokens.size()));
            for (auto& step : t->steps)
                step.generated = step.index + 1 >= t->promptTokens;
            t->stopReason = s.stopReason.toStdString();
            const int selected = std::clamp(s.selectedStep, -1, static_cast<int>(t->steps.size()) - 1);
            out.push_back(Branch{std::move(t), s.userPromptTokens, s.forcedAt, selected, s.description, s.options});
        }
        return out;
    }));
}

void StudioDocument::back() {
    showBranch(m_historyIndex - 1);
}
void StudioDocument::forward() {
    showBranch(m_historyIndex + 1);
}

void StudioDocument::beginViewWork(const QString& name) {
    m_viewWork[name] += 1;
}

void StudioDocument::endViewWork(const QString& name) {
    auto it = m_viewWork.find(name);
    if (it != m_viewWork.end() && --it.value() <= 0) m_viewWork.erase(it);
    checkSettled();
}

void StudioDocument::checkSettled() {
    if (!m_waitingForViews || !m_viewWork.isEmpty() || isGenerating()) return;
    m_waitingForViews = false;
    m_lastViewsMs = static_cast<double>(m_requestTimer.nsecsElapsed()) * 1e-6;
    Q_EMIT viewsSettled(m_lastViewsMs);
}

} // namespace brillm::viz
