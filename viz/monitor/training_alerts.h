// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Alerts of the training monitor: a run produced NaN/Inf, its loss spiked far above its running
// mean, or it stopped writing metrics. One AlertEngine per run, fed with the run's records and
// asked about stalls by the monitor's clock; plain and deterministic, so tests drive it.

#include "monitor/curve_downsample.h"
#include "monitor/metrics_stream.h"

#include <QString>

#include <limits>

#include <optional>
#include <vector>

namespace brillm::viz {

struct AlertSettings {
    double stallSeconds = 300; // no new metrics for this long: stalled
    double spikeSigmas = 6;    // spike: loss above running mean + this many standard deviations
    int spikeWindow = 100;     // steps in the running mean
};

struct TrainingAlert {
    enum class Kind { NonFinite, Spike, Stall, Process };
    Kind kind = Kind::NonFinite;
    QString run; // the run's name
    std::int64_t step = 0;
    double value = 0;                                       // the loss (spike), seconds without data (stall)
    double time = std::numeric_limits<double>::quiet_NaN(); // the record's Unix time, NaN: now
    QString message;
};

QString alertKindName(TrainingAlert::Kind kind);

class AlertEngine {
public:
    explicit AlertEngine(QString run, AlertSettings settings = {});
    void setSettings(const AlertSettings& s);
    const AlertSettings& settings() const { return m_settings; }
    // Alerts that this record raises (at most one per kind). A run of non-finite steps raises
    // one alert, at its first step; the next finite step re-arms it.
    std::vector<TrainingAlert> onRecord(const MetricsRecord& r);
    // A stall alert once per silence longer than settings().stallSeconds; new data re-arms it.
    // Finished runs never stall.
    std::optional<TrainingAlert> checkStall(double secondsWithoutData, bool finished);
    // Forget the history (the file was replaced).
    void reset();

private:
    QString m_run;
    AlertSettings m_settings;
    SpikeDetector m_spikes;
    bool m_inNonFinite = false;
    bool m_stallRaised = false;
    std::int64_t m_lastStep = 0;
};

} // namespace brillm::viz

Q_DECLARE_METATYPE(brillm::viz::TrainingAlert)
