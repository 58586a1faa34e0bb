// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// TrainingMonitor: follows the metrics.jsonl of one or more run directories live and plots
// them (QCustomPlot): sampled-negative training loss or perplexity with the exact held-out loss
// of the eval records, raw and EMA-smoothed, NaN/Inf marked; throughput, memory and, for
// distributed runs, per-rank figures. A run list with colours and status (last step, ETA,
// live/stalled/finished), alerts (NaN, loss spike, stall), and a trainer started from here in
// a separate process (TrainingProcess) that is followed automatically.
//
// Reading and parsing happen on the thread pool (MetricsStream); the plots are rebuilt at most
// ~10 times a second, downsampled to their pixel width (min/max per column). UI thread only.

#include "common/exportable_view.h"
#include "monitor/metrics_stream.h"
#include "monitor/training_alerts.h"
#include "monitor/training_process.h"

#include <QColor>
#include <QWidget>

#include <memory>
#include <vector>

class QCheckBox;
class QComboBox;
class QCustomPlot;
class QDoubleSpinBox;
class QLabel;
class QListWidget;
class QListWidgetItem;
class QMenu;
class QPlainTextEdit;
class QPushButton;
class QSlider;
class QSpinBox;
class QTabWidget;
class QTimer;
class QToolButton;

namespace brillm::viz {

class TrainingMonitor : public QWidget, public ExportableView {
    Q_OBJECT
public:
    enum class XMode { Step, WallTime, Relative };
    enum class Metric { Loss, Perplexity };
    enum class RunState { Loading, Missing, Live, Stalled, Stopped, Finished };

    explicit TrainingMonitor(QWidget* parent = nullptr);
    ~TrainingMonitor() override;

    // Follows DIR/metrics.jsonl (a run directory) or a metrics file itself; returns its index.
    // A run already followed is not added twice.
    int addRun(const QString& dirOrFile);
    void removeRun(int index);
    int runCount() const { return static_cast<int>(m_runs.size()); }
    QString runDirectory(int index) const;
    QString runName(int index) const;
    QColor runColor(int index) const;
    const RunSeries& series(int index) const;
    RunState runState(int index) const;
    QString runStatusText(int index) const;
    // True while some run still reads its backlog.
    bool isLoading() const;
    QStringList recentRuns() const;

    void setSmoothing(double weight); // [0, 0.99]
    double smoothing() const;
    void setSmoothingEnabled(bool on);
    bool smoothingEnabled() const;
    void setLogY(bool on);
    void setXMode(XMode mode);
    XMode xMode() const;
    void setMetric(Metric metric);
    void setAlertSettings(const AlertSettings& s);
    AlertSettings alertSettings() const { return m_alertSettings; }
    void setPollInterval(int ms);

    QCustomPlot* lossPlot() const { return m_lossPlot; }
    QCustomPlot* throughputPlot() const { return m_throughputPlot; }
    QCustomPlot* memoryPlot() const { return m_memoryPlot; }
    QCustomPlot* rankPlot() const { return m_rankPlot; }
    QString rankSummaryText() const; // the line under the per-rank plot
    const std::vector<TrainingAlert>& alerts() const { return m_alerts; }
    TrainingProcess* process() const { return m_process; }
    // Rebuilds every plot now (otherwise throttled to ~10 Hz).
    void replotNow();
    // How long the last rebuild of the plots took.
    double lastReplotMs() const { return m_lastReplotMs; }

    QString exportName() const override { return QStringLiteral("training-monitor"); }
    QSize exportSize() const override;
    void renderExport(QPainter& painter) override;

public Q_SLOTS:
    void openRunDialog();
    void newTrainingDialog();
    bool startTraining(const TrainingRequest& request);
    // Resumes the selected run (or the one last started here).
    bool resumeTraining();
    void stopTraining();

Q_SIGNALS:
    void alertRaised(const brillm::viz::TrainingAlert& alert);
    void runsChanged();
    // Every followed run has read its backlog.
    void caughtUp();
    void trainingFinished(const brillm::viz::TrainingOutcome& outcome);
    void statusMessage(const QString& message);

private:
    // One followed run; owned by m_runs, its stream by the widget (QObject parent).
    struct Run {
        QString dir, metricsPath, name;
        QColor color;
        bool visible = true;
        MetricsStream* stream = nullptr;
        RunSeries series;
        AlertEngine alerts;
        qint64 totalSteps = 0;
        bool missing = false;
        bool caughtUp = false;
        bool sawLiveData = false; // data arrived after the backlog: the run is being written now
        qint64 parseErrors = 0;
        QListWidgetItem* item = nullptr;
        Run(QString d, QString m, QString n, AlertSettings s)
            : dir(std::move(d)), metricsPath(std::move(m)), name(std::move(n)), alerts(name, s) {}
    };
    // The constructor's parts, by what they do.
    QWidget* createRunsPane();
    QWidget* createCurvesPane();
    QCustomPlot* makePlot(const QString& title);
    void createTimers();
    void connectControls();
    void connectProcess();
    void onRecords(Run* run, const std::vector<MetricsRecord>& records);
    void onReset(Run* run);
    void raise(Run* run, const TrainingAlert& alert, bool announce);
    void scheduleReplot();
    void rebuild();
    void rebuildLoss(double& xMin, double& xMax);
    void rebuildSeriesPlot(QCustomPlot* plot, int which, double xMin, double xMax);
    void rebuildRanks(double xMin, double xMax);
    void styleAll();
    void updateStatus();
    void updateProcessUi();
    void refreshRunItem(Run* run);
    void readConfig(Run* run);
    void addRecent(const QString& dir);
    void rebuildRecentMenu();
    void loadSettings();
    void saveSettings() const;
    std::vector<double> xValues(const Run& run, const std::vector<double>& step, const std::vector<double>& time,
                                const std::vector<double>& elapsed) const;
    Run* selectedRun() const;
    QColor nextColor() const;

    std::vector<std::unique_ptr<Run>> m_runs;
    std::vector<TrainingAlert> m_alerts;
    AlertSettings m_alertSettings;
    TrainingProcess* m_process;

    QListWidget* m_runList;
    QToolButton* m_recentButton;
    QMenu* m_recentMenu;
    QListWidget* m_alertList;
    QSpinBox* m_stallSpin;
    QDoubleSpinBox* m_spikeSpin;
    QPushButton* m_newButton;
    QPushButton* m_stopButton;
    QPushButton* m_resumeButton;
    QLabel* m_processLabel;
    QComboBox* m_metricCombo;
    QCheckBox* m_smoothCheck;
    QSlider* m_smoothSlider;
    QLabel* m_smoothLabel;
    QCheckBox* m_logCheck;
    QComboBox* m_xCombo;
    QTabWidget* m_tabs;
    QWidget* m_plotArea;
    QCustomPlot* m_lossPlot;
    QCustomPlot* m_throughputPlot;
    QCustomPlot* m_memoryPlot;
    QCustomPlot* m_rankPlot;
    QLabel* m_rankLabel;
    QPlainTextEdit* m_log;
    QTimer* m_replotTimer;
    QTimer* m_statusTimer;
    bool m_autoRange = true;
    bool m_settingRange = false;
    bool m_dirty = false;
    int m_pollMs = 1000;
    double m_lastReplotMs = 0;
};

} // namespace brillm::viz
