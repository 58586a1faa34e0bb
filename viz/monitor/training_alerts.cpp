// SPDX-License-Identifier: GPL-3.0-or-later
#include "monitor/training_alerts.h"

#include <QCoreApplication>

#include <utility>

namespace brillm::viz {

QString alertKindName(TrainingAlert::Kind kind) {
    switch (kind) {
    case TrainingAlert::Kind::NonFinite:
        return QStringLiteral("NaN/Inf");
    case TrainingAlert::Kind::Spike:
        return QStringLiteral("spike");
    case TrainingAlert::Kind::Stall:
        return QStringLiteral("stalled");
    case TrainingAlert::Kind::Process:
        return QStringLiteral("process");
    }
    return {};
}

AlertEngine::AlertEngine(QString run, AlertSettings settings)
    : m_run(std::move(run)), m_settings(settings), m_spikes(settings.spikeWindow, settings.spikeSigmas) {}

void AlertEngine::setSettings(const AlertSettings& s) {
    const bool detectorChanged = s.spikeWindow != m_settings.spikeWindow || s.spikeSigmas != m_settings.spikeSigmas;
    m_settings = s;
    if (detectorChanged) m_spikes = SpikeDetector(s.spikeWindow, s.spikeSigmas);
}

void AlertEngine::reset() {
    m_spikes.reset();
    m_inNonFinite = false;
    m_stallRaised = false;
    m_lastStep = 0;
}

std::vector<TrainingAlert> AlertEngine::onRecord(const MetricsRecord& r) {
    std::vector<TrainingAlert> out;
    m_stallRaised = false;
    if (r.type != MetricsRecord::Type::Step) return out;
    // A resumed run repeats steps: its history restarts from there.
    if (r.step <= m_lastStep) m_spikes.reset();
    m_lastStep = r.step;
    const bool bad = !std::isfinite(r.loss) || r.nonFinite != NonFinite::None;
    if (bad && !m_inNonFinite) {
        TrainingAlert a;
        a.kind = TrainingAlert::Kind::NonFinite;
        a.run = m_run;
        a.step = r.step;
        a.value = r.loss;
        a.time = r.time;
        const bool inf = r.nonFinite == NonFinite::Inf || std::isinf(r.loss);
        a.message = QCoreApplication::translate("AlertEngine", "%1: %2 at step %3%4")
                        .arg(m_run, inf ? QStringLiteral("Inf") : QStringLiteral("NaN"))
                        .arg(r.step)
                        .arg(r.skipped ? QCoreApplication::translate("AlertEngine", " (update skipped)") : QString());
        out.push_back(a);
    }
    m_inNonFinite = bad;
    if (!bad) {
        const double mean = m_spikes.mean();
        if (m_spikes.push(r.loss)) {
            TrainingAlert a;
            a.kind = TrainingAlert::Kind::Spike;
            a.run = m_run;
            a.step = r.step;
            a.value = r.loss;
            a.time = r.time;
            a.message = QCoreApplication::translate("AlertEngine", "%1: loss spike %2 at step %3 (running mean %4)")
                            .arg(m_run)
                            .arg(r.loss, 0, 'g', 4)
                            .arg(r.step)
                            .arg(mean, 0, 'g', 4);
            out.push_back(a);
        }
    }
    return out;
}

std::optional<TrainingAlert> AlertEngine::checkStall(double secondsWithoutData, bool finished) {
    if (finished || m_stallRaised || secondsWithoutData < m_settings.stallSeconds) return std::nullopt;
    m_stallRaised = true;
    TrainingAlert a;
    a.kind = TrainingAlert::Kind::Stall;
    a.run = m_run;
    a.step = m_lastStep;
    a.value = secondsWithoutData;
    a.message = QCoreApplication::translate("AlertEngine", "%1: no new metrics for %2 s (last step %3)")
                    .arg(m_run)
                    .arg(secondsWithoutData, 0, 'f', 0)
                    .arg(m_lastStep);
    return a;
}

} // namespace brillm::viz
