// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// StudioWorker: model loading and decoding, on its own QThread. It only emits results
// (xxxAvailable / xxxFailed / progress); it never touches widgets. Every request carries a job
// id that comes back with its results, so the UI can drop stale ones (JobTracker).
// cancel() is thread-safe: decoding checks it after every step through decode()'s callback.

#include "studio/studio_model.h"

#include <brillm/model/decode.h>
#include <brillm/model/device_edges.h>

#include <QObject>
#include <QString>

#include <atomic>
#include <memory>
#include <optional>
#include <vector>

namespace brillm::viz {

using TracePtr = std::shared_ptr<const Trace>;
using StepPtr = std::shared_ptr<const TraceStep>;

struct CompletionRequest {
    std::vector<int32_t> tokens; // the path to start from: the prompt, or a branch's prefix
    DecodeOptions options;
    int64_t userPromptTokens = 0;            // how many of tokens the user typed (the rest: a branch's forced prefix)
    QString device = QStringLiteral("auto"); // where the candidates are scored: cpu, cuda or auto (scoringDevice)
};

class StudioWorker : public QObject {
    Q_OBJECT
public:
    explicit StudioWorker(QObject* parent = nullptr);

    // Thread-safe: the decode of `job` (and of any earlier job) stops after its current step.
    void cancel(quint64 job) { m_cancelUpTo.store(job); }

public Q_SLOTS:
    void loadModel(quint64 job, const QString& path);
    void complete(quint64 job, brillm::viz::StudioModelPtr model, const brillm::viz::CompletionRequest& request);

Q_SIGNALS:
    void modelAvailable(quint64 job, brillm::viz::StudioModelPtr model);
    void modelFailed(quint64 job, const QString& message);
    // One step at a time, as decode() produces them (prompt steps first).
    void stepAvailable(quint64 job, brillm::viz::StepPtr step);
    // scoredOn: where the candidates were scored ("CPU", or the GPU's device, e.g. "cuda:0")
    void completionAvailable(quint64 job, brillm::viz::TracePtr trace, double seconds, const QString& scoredOn);
    void completionFailed(quint64 job, const QString& message);
    void progress(quint64 job, double fraction, const QString& message);

private:
    std::atomic<quint64> m_cancelUpTo{0};
    // the last model's edges on the GPU, kept while the same model is completed again (worker
    // thread only)
    std::weak_ptr<const StudioModel> m_deviceModel;
    std::shared_ptr<const DeviceEdges> m_deviceEdges;
};

// Registers the types above for queued connections (once, from main or the test main).
void registerStudioMetaTypes();

} // namespace brillm::viz

Q_DECLARE_METATYPE(brillm::viz::TracePtr)
Q_DECLARE_METATYPE(brillm::viz::StepPtr)
Q_DECLARE_METATYPE(brillm::viz::CompletionRequest)
