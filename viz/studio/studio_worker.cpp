// SPDX-License-Identifier: GPL-3.0-or-later
#include "studio/studio_worker.h"

#include <brillm/error.h>

#include <QElapsedTimer>

namespace brillm::viz {

StudioWorker::StudioWorker(QObject* parent) : QObject(parent) {}

void StudioWorker::loadModel(quint64 job, const QString& path) {
    Q_EMIT progress(job, -1, QStringLiteral("Loading %1…").arg(path));
    try {
        auto model = StudioModel::load(path);
        Q_EMIT modelAvailable(job, std::move(model));
    } catch (const std::exception& e) {
        Q_EMIT modelFailed(job, QString::fromStdString(e.what()));
    }
}

void StudioWorker::complete(quint64 job, StudioModelPtr model, const CompletionRequest& request) {
    if (!model) {
        Q_EMIT completionFailed(job, QStringLiteral("no model is open"));
        return;
    }
    QElapsedTimer timer;
    timer.start();
    try {
        const int64_t total = static_cast<int64_t>(request.tokens.size()) - 1 + request.options.maxNewTokens;
        int64_t done = 0;
        auto onStep = [&](const TraceStep& step) -> bool {
            if (m_cancelUpTo.load() >= job) return false;
            Q_EMIT stepAvailable(job, std::make_shared<const TraceStep>(step));
            ++done;
            if (total > 0 && (done % 4 == 0)) Q_EMIT progress(job, double(done) / double(total), QString());
            return m_cancelUpTo.load() < job;
        };
        DecodeOptions options = request.options;
        QString scoredOn = QStringLiteral("CPU");
        if (const auto device = scoringDevice(request.device.toStdString(), model->model())) {
            if (m_deviceModel.lock() != model || !m_deviceEdges || m_deviceEdges->device() != *device) {
                m_deviceEdges.reset(); // the previous model's copy leaves the GPU first
                Q_EMIT progress(job, -1,
                                tr("Copying the model's edges to %1…").arg(QString::fromStdString(device->str())));
                m_deviceEdges = std::make_shared<const DeviceEdges>(model->model(), *device);
                m_deviceModel = model;
            }
            options.device = m_deviceEdges;
            scoredOn = QString::fromStdString(device->str());
        }
        auto trace = std::make_shared<Trace>(decode(model->model(), request.tokens, options, onStep));
        Q_EMIT completionAvailable(job, std::move(trace), static_cast<double>(timer.nsecsElapsed()) * 1e-9, scoredOn);
    } catch (const std::exception& e) {
        Q_EMIT completionFailed(job, QString::fromStdString(e.what()));
    }
}

void registerStudioMetaTypes() {
    qRegisterMetaType<StudioModelPtr>("brillm::viz::StudioModelPtr");
    qRegisterMetaType<TracePtr>("brillm::viz::TracePtr");
    qRegisterMetaType<StepPtr>("brillm::viz::StepPtr");
    qRegisterMetaType<CompletionRequest>("brillm::viz::CompletionRequest");
}

} // namespace brillm::viz
