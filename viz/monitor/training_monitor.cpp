// SPDX-License-Identifier: GPL-3.0-or-later
#include "monitor/training_monitor.h"

#include "common/palette.h"
#include "monitor/curve_downsample.h"
#include "monitor/new_training_dialog.h"

#include <qcustomplot.h>

#include <QCheckBox>
#include <QComboBox>
#include <QDateTime>
#include <QDir>
#include <QDoubleSpinBox>
#include <QElapsedTimer>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QJsonDocument>
#include <QJsonObject>
#include <QLabel>
#include <QListWidget>
#include <QMenu>
#include <QMessageBox>
#include <QPainter>
#include <QPicture>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QScrollBar>
#include <QSettings>
#include <QSlider>
#include <QSpinBox>
#include <QSplitter>
#include <QTabWidget>
#include <QTimer>
#include <QToolButton>
#include <QVBoxLayout>

#include <algorithm>
#include <cmath>

namespace brillm::viz {

namespace {
constexpr int kMaxRecent = 10;
constexpr std::size_t kMaxAlerts = 1000;
constexpr int kReplotMs = 100; // at most ~10 rebuilds a second

// Distinct on light and dark backgrounds (Tableau 10).
const QRgb kRunColors[] = {0x1f77b4, 0xd62728, 0x2ca02c, 0xff7f0e, 0x9467bd,
                           0x8c564b, 0xe377c2, 0x17becf, 0xbcbd22, 0x7f7f7f};

QIcon swatch(const QColor& c) {
    QPixmap pm(14, 14);
    pm.fill(c);
    return QIcon(pm);
}

QString metricsFileOf(const QString& dirOrFile) {
    const QFileInfo fi(dirOrFile);
    if (fi.isDir() || !fi.exists()) return QDir(fi.absoluteFilePath()).filePath(QStringLiteral("metrics.jsonl"));
    return fi.absoluteFilePath();
}

QString shortDuration(double s) {
    if (!std::isfinite(s) || s < 0) return QStringLiteral("?");
    const auto t = static_cast<qint64>(s + 0.5);
    if (t < 120) return QStringLiteral("%1 s").arg(t);
    if (t < 7200) return QStringLiteral("%1 min").arg(t / 60);
    return QStringLiteral("%1 h %2 min").arg(t / 3600).arg((t % 3600) / 60);
}

} // namespace

TrainingMonitor::TrainingMonitor(QWidget* parent) : QWidget(parent), m_process(new TrainingProcess(this)) {
    // Left the runs, the trainer and the alerts; right the curves and the trainer's log.
    QWidget* left = createRunsPane();
    QWidget* right = createCurvesPane();
    auto* split = new QSplitter(Qt::Horizontal);
    split->addWidget(left);
    split->addWidget(right);
    split->setStretchFactor(0, 0);
    split->setStretchFactor(1, 1);
    split->setSizes({280, 900});
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(2, 2, 2, 2);
    layout->addWidget(split);

    createTimers();
    loadSettings();
    connectControls();
    connectProcess();
    styleAll();
    rebuildRecentMenu();
    updateProcessUi();
}

QWidget* TrainingMonitor::createRunsPane() {
    m_runList = new QListWidget;
    m_runList->setSelectionMode(QAbstractItemView::SingleSelection);
    m_runList->setIconSize(QSize(14, 14));
    m_runList->setWordWrap(true);
    connect(m_runList, &QListWidget::itemChanged, this, [this](QListWidgetItem* item) {
        for (auto& r : m_runs)
            if (r->item == item && r->visible != (item->checkState() == Qt::Checked)) {
                r->visible = item->checkState() == Qt::Checked;
                scheduleReplot();
            }
    });
    connect(m_runList, &QListWidget::currentRowChanged, this, [this] { updateProcessUi(); });
    auto* openButton = new QPushButton(tr("Open run…"));
    openButton->setToolTip(tr("Follow a run directory (local or on a shared filesystem)"));
    connect(openButton, &QPushButton::clicked, this, &TrainingMonitor::openRunDialog);
    m_recentButton = new QToolButton;
    m_recentButton->setText(tr("Recent"));
    m_recentButton->setPopupMode(QToolButton::InstantPopup);
    m_recentMenu = new QMenu(this);
    m_recentButton->setMenu(m_recentMenu);
    auto* removeButton = new QPushButton(tr("Remove"));
    connect(removeButton, &QPushButton::clicked, this, [this] {
        if (m_runList->currentRow() >= 0) removeRun(m_runList->currentRow());
    });
    auto* runButtons = new QHBoxLayout;
    runButtons->addWidget(openButton);
    runButtons->addWidget(m_recentButton);
    runButtons->addWidget(removeButton);

    m_newButton = new QPushButton(tr("New…"));
    m_stopButton = new QPushButton(tr("Stop"));
    m_resumeButton = new QPushButton(tr("Resume"));
    m_newButton->setToolTip(tr("Start brillm train in a separate process"));
    m_stopButton->setToolTip(tr("SIGTERM: the trainer writes a checkpoint and stops"));
    m_resumeButton->setToolTip(tr("brillm train --resume on the selected run"));
    connect(m_newButton, &QPushButton::clicked, this, &TrainingMonitor::newTrainingDialog);
    connect(m_stopButton, &QPushButton::clicked, this, &TrainingMonitor::stopTraining);
    connect(m_resumeButton, &QPushButton::clicked, this, &TrainingMonitor::resumeTraining);
    m_processLabel = new QLabel(tr("No trainer started here."));
    m_processLabel->setWordWrap(true);
    auto* trainerBox = new QGroupBox(tr("Trainer"));
    auto* trainerLayout = new QVBoxLayout(trainerBox);
    auto* trainerButtons = new QHBoxLayout;
    trainerButtons->addWidget(m_newButton);
    trainerButtons->addWidget(m_stopButton);
    trainerButtons->addWidget(m_resumeButton);
    trainerLayout->addLayout(trainerButtons);
    trainerLayout->addWidget(m_processLabel);

    m_alertList = new QListWidget;
    // One line per alert (the whole message in the tooltip): a backlog of hundreds of alerts
    // must not relayout the list per item.
    m_alertList->setUniformItemSizes(true);
    m_alertList->setTextElideMode(Qt::ElideMiddle);
    m_stallSpin = new QSpinBox;
    m_stallSpin->setRange(1, 24 * 3600);
    m_stallSpin->setSuffix(tr(" s"));
    m_stallSpin->setToolTip(tr("Alert when a run writes no metrics for this long"));
    m_spikeSpin = new QDoubleSpinBox;
    m_spikeSpin->setRange(1, 100);
    m_spikeSpin->setDecimals(1);
    m_spikeSpin->setSuffix(tr(" σ"));
    m_spikeSpin->setToolTip(tr("Alert when the loss rises this many standard deviations above its running mean "
                               "(the last 100 steps)"));
    auto* clearAlerts = new QPushButton(tr("Clear"));
    connect(clearAlerts, &QPushButton::clicked, this, [this] {
        m_alerts.clear();
        m_alertList->clear();
    });
    auto* alertBox = new QGroupBox(tr("Alerts"));
    auto* alertLayout = new QVBoxLayout(alertBox);
    auto* alertForm = new QFormLayout;
    alertForm->addRow(tr("Stalled after"), m_stallSpin);
    alertForm->addRow(tr("Spike above"), m_spikeSpin);
    alertLayout->addLayout(alertForm);
    alertLayout->addWidget(m_alertList, 1);
    alertLayout->addWidget(clearAlerts, 0, Qt::AlignRight);

    auto* left = new QWidget;
    auto* leftLayout = new QVBoxLayout(left);
    leftLayout->setContentsMargins(0, 0, 0, 0);
    leftLayout->addLayout(runButtons);
    leftLayout->addWidget(m_runList, 2);
    leftLayout->addWidget(trainerBox);
    leftLayout->addWidget(alertBox, 2);

    return left;
}

QCustomPlot* TrainingMonitor::makePlot(const QString& title) {
    auto* p = new QCustomPlot;
    p->setNoAntialiasingOnDrag(true);
    // Wide antialiased polylines are stroked as one path, seconds for a zigzag of a few
    // thousand min/max points; segment by segment it is milliseconds.
    p->setPlottingHint(QCP::phFastPolylines, true);
    p->setInteractions(QCP::iRangeDrag | QCP::iRangeZoom);
    p->axisRect()->setRangeDrag(Qt::Horizontal);
    p->axisRect()->setRangeZoom(Qt::Horizontal);
    p->plotLayout()->insertRow(0);
    p->plotLayout()->addElement(0, 0,
                                new QCPTextElement(p, title, QFont(font().family(), font().pointSize(), QFont::Bold)));
    // an explicit minimum: the bold title alone would make the plot (and the dock) wide
    p->setMinimumSize(160, 120);
    connect(p->xAxis, qOverload<const QCPRange&>(&QCPAxis::rangeChanged), this, [this](const QCPRange& r) {
        if (m_settingRange) return;
        m_autoRange = false;
        // Every plot shows the same x range.
        m_settingRange = true;
        for (QCustomPlot* q : {m_lossPlot, m_throughputPlot, m_memoryPlot, m_rankPlot})
            q->xAxis->setRange(r);
        m_settingRange = false;
        scheduleReplot();
    });
    connect(p, &QCustomPlot::mouseDoubleClick, this, [this] {
        m_autoRange = true;
        replotNow();
    });
    return p;
}

QWidget* TrainingMonitor::createCurvesPane() {
    m_metricCombo = new QComboBox;
    m_metricCombo->addItems({tr("loss"), tr("perplexity")});
    m_smoothCheck = new QCheckBox(tr("Smooth"));
    m_smoothSlider = new QSlider(Qt::Horizontal);
    m_smoothSlider->setRange(0, 99);
    m_smoothSlider->setMaximumWidth(160);
    m_smoothSlider->setToolTip(tr("EMA weight (TensorBoard's convention, debiased); the raw curve stays visible"));
    m_smoothLabel = new QLabel;
    m_smoothLabel->setMinimumWidth(m_smoothLabel->fontMetrics().horizontalAdvance(QStringLiteral("0.99")));
    m_logCheck = new QCheckBox(tr("Log y"));
    m_xCombo = new QComboBox;
    m_xCombo->addItems({tr("step"), tr("wall time"), tr("relative time")});
    auto* fit = new QPushButton(tr("Fit"));
    fit->setToolTip(tr("Back to the whole run (double-click a plot does the same)"));
    connect(fit, &QPushButton::clicked, this, [this] {
        m_autoRange = true;
        replotNow();
    });
    // two rows, so that the monitor fits beside the other docks on a laptop screen
    auto* controls = new QVBoxLayout;
    auto* row1 = new QHBoxLayout;
    row1->addWidget(m_metricCombo);
    row1->addSpacing(8);
    row1->addWidget(m_smoothCheck);
    row1->addWidget(m_smoothSlider);
    row1->addWidget(m_smoothLabel);
    row1->addStretch();
    auto* row2 = new QHBoxLayout;
    row2->addWidget(m_logCheck);
    row2->addSpacing(8);
    row2->addWidget(new QLabel(tr("x:")));
    row2->addWidget(m_xCombo);
    row2->addStretch();
    row2->addWidget(fit);
    controls->addLayout(row1);
    controls->addLayout(row2);

    m_lossPlot = makePlot(tr("Training loss (the run's --loss) and held-out loss (exact, over all V)"));
    m_lossPlot->legend->setVisible(true);
    m_lossPlot->legend->setFont(QFont(font().family(), std::max(7, font().pointSize() - 1)));
    m_throughputPlot = makePlot(tr("Throughput (samples/s)"));
    m_memoryPlot = makePlot(tr("Memory (resident MB)"));
    m_rankPlot = makePlot(tr("Per rank (tokens/s)"));
    m_rankPlot->legend->setVisible(true);
    m_rankLabel = new QLabel;
    auto* rankBox = new QWidget;
    auto* rankLayout = new QVBoxLayout(rankBox);
    rankLayout->setContentsMargins(0, 0, 0, 0);
    rankLayout->addWidget(m_rankPlot, 1);
    rankLayout->addWidget(m_rankLabel);
    rankBox->setVisible(false);
    m_rankPlot->setProperty("box", QVariant::fromValue<QObject*>(rankBox));

    auto* bottom = new QSplitter(Qt::Horizontal);
    bottom->addWidget(m_throughputPlot);
    bottom->addWidget(m_memoryPlot);
    auto* plots = new QSplitter(Qt::Vertical);
    plots->addWidget(m_lossPlot);
    plots->addWidget(bottom);
    plots->addWidget(rankBox);
    plots->setStretchFactor(0, 3);
    plots->setStretchFactor(1, 1);
    plots->setStretchFactor(2, 1);
    m_plotArea = plots;

    m_log = new QPlainTextEdit;
    m_log->setReadOnly(true);
    m_log->setMaximumBlockCount(20000);
    m_log->setFont(QFontDatabase::systemFont(QFontDatabase::FixedFont));
    m_log->setPlaceholderText(tr("The output of a trainer started from the studio."));
    m_tabs = new QTabWidget;
    auto* curves = new QWidget;
    auto* curvesLayout = new QVBoxLayout(curves);
    curvesLayout->setContentsMargins(0, 0, 0, 0);
    curvesLayout->addLayout(controls);
    curvesLayout->addWidget(plots, 1);
    m_tabs->addTab(curves, tr("Curves"));
    m_tabs->addTab(m_log, tr("Trainer log"));

    return m_tabs;
}

void TrainingMonitor::createTimers() {
    m_replotTimer = new QTimer(this);
    m_replotTimer->setSingleShot(true);
    m_replotTimer->setInterval(kReplotMs);
    connect(m_replotTimer, &QTimer::timeout, this, &TrainingMonitor::rebuild);
    m_statusTimer = new QTimer(this);
    m_statusTimer->setInterval(1000);
    connect(m_statusTimer, &QTimer::timeout, this, &TrainingMonitor::updateStatus);
    m_statusTimer->start();
}

// The plot controls and the alert settings: each change is saved and replotted.
void TrainingMonitor::connectControls() {
    connect(m_metricCombo, &QComboBox::currentIndexChanged, this, [this] {
        m_autoRange = true;
        saveSettings();
        scheduleReplot();
    });
    connect(m_smoothCheck, &QCheckBox::toggled, this, [this](bool on) {
        m_smoothSlider->setEnabled(on);
        saveSettings();
        scheduleReplot();
    });
    connect(m_smoothSlider, &QSlider::valueChanged, this, [this](int v) {
        m_smoothLabel->setText(QString::number(v / 100.0, 'f', 2));
        saveSettings();
        scheduleReplot();
    });
    connect(m_logCheck, &QCheckBox::toggled, this, [this] {
        saveSettings();
        scheduleReplot();
    });
    connect(m_xCombo, &QComboBox::currentIndexChanged, this, [this] {
        m_autoRange = true;
        saveSettings();
        scheduleReplot();
    });
    auto alertSettingsChanged = [this] {
        AlertSettings s = m_alertSettings;
        s.stallSeconds = m_stallSpin->value();
        s.spikeSigmas = m_spikeSpin->value();
        setAlertSettings(s);
    };
    connect(m_stallSpin, &QSpinBox::valueChanged, this, alertSettingsChanged);
    connect(m_spikeSpin, &QDoubleSpinBox::valueChanged, this, alertSettingsChanged);
}

// The trainer process started from the studio: its log, progress and outcome.
void TrainingMonitor::connectProcess() {
    connect(m_process, &TrainingProcess::logAppended, this, [this](const QString& text) {
        QScrollBar* sb = m_log->verticalScrollBar();
        const bool atEnd = sb->value() == sb->maximum();
        m_log->moveCursor(QTextCursor::End);
        m_log->insertPlainText(text);
        if (atEnd) sb->setValue(sb->maximum());
    });
    connect(m_process, &TrainingProcess::started, this, [this](const QString& dir) {
        const int i = addRun(dir);
        m_runList->setCurrentRow(i);
        updateProcessUi();
        Q_EMIT statusMessage(tr("Training started: %1").arg(dir));
    });
    connect(m_process, &TrainingProcess::progress, this, [this](qint64, qint64 steps, double) {
        for (auto& r : m_runs)
            if (r->dir == m_process->runDirectory() && steps > 0) r->totalSteps = steps;
        updateProcessUi();
    });
    connect(m_process, &TrainingProcess::finished, this, [this](const TrainingOutcome& o) {
        Run* run = nullptr;
        for (auto& r : m_runs)
            if (r->dir == m_process->runDirectory()) run = r.get();
        if (run) run->stream->pollNow(); // the last lines
        if (o.crashed || (o.exitCode != 0 && !o.stopped)) {
            TrainingAlert a;
            a.kind = TrainingAlert::Kind::Process;
            a.run = run ? run->name : QFileInfo(m_process->runDirectory()).fileName();
            a.step = m_process->lastStep();
            a.value = o.exitCode;
            a.message = o.message;
            raise(run, a, true);
        }
        m_processLabel->setText(o.message);
        m_processLabel->setProperty("outcome", o.message);
        updateProcessUi();
        Q_EMIT statusMessage(o.message);
        Q_EMIT trainingFinished(o);
    });
}

TrainingMonitor::~TrainingMonitor() {
    // Stop the trainer and the streams while the runs they report to still exist.
    m_process->disconnect(this);
    delete m_process;
    for (auto& r : m_runs)
        delete r->stream;
}

// ---- settings ---------------------------------------------------------------------------

void TrainingMonitor::loadSettings() {
    QSettings s;
    m_metricCombo->setCurrentIndex(s.value(QStringLiteral("monitor/metric"), 0).toInt());
    m_smoothCheck->setChecked(s.value(QStringLiteral("monitor/smooth"), true).toBool());
    m_smoothSlider->setValue(s.value(QStringLiteral("monitor/smoothing"), 60).toInt());
    m_smoothSlider->setEnabled(m_smoothCheck->isChecked());
    m_smoothLabel->setText(QString::number(m_smoothSlider->value() / 100.0, 'f', 2));
    m_logCheck->setChecked(s.value(QStringLiteral("monitor/logY"), false).toBool());
    m_xCombo->setCurrentIndex(s.value(QStringLiteral("monitor/xMode"), 0).toInt());
    m_alertSettings.stallSeconds = s.value(QStringLiteral("monitor/stallSeconds"), 300).toDouble();
    m_alertSettings.spikeSigmas = s.value(QStringLiteral("monitor/spikeSigmas"), 6.0).toDouble();
    m_stallSpin->setValue(static_cast<int>(m_alertSettings.stallSeconds));
    m_spikeSpin->setValue(m_alertSettings.spikeSigmas);
}

void TrainingMonitor::saveSettings() const {
    QSettings s;
    s.setValue(QStringLiteral("monitor/metric"), m_metricCombo->currentIndex());
    s.setValue(QStringLiteral("monitor/smooth"), m_smoothCheck->isChecked());
    s.setValue(QStringLiteral("monitor/smoothing"), m_smoothSlider->value());
    s.setValue(QStringLiteral("monitor/logY"), m_logCheck->isChecked());
    s.setValue(QStringLiteral("monitor/xMode"), m_xCombo->currentIndex());
    s.setValue(QStringLiteral("monitor/stallSeconds"), m_alertSettings.stallSeconds);
    s.setValue(QStringLiteral("monitor/spikeSigmas"), m_alertSettings.spikeSigmas);
}

void TrainingMonitor::setSmoothing(double weight) {
    m_smoothSlider->setValue(static_cast<int>(std::lround(std::clamp(weight, 0.0, 0.99) * 100)));
}
double TrainingMonitor::smoothing() const {
    return m_smoothSlider->value() / 100.0;
}
void TrainingMonitor::setSmoothingEnabled(bool on) {
    m_smoothCheck->setChecked(on);
}
bool TrainingMonitor::smoothingEnabled() const {
    return m_smoothCheck->isChecked();
}
void TrainingMonitor::setLogY(bool on) {
    m_logCheck->setChecked(on);
}
void TrainingMonitor::setXMode(XMode mode) {
    m_xCombo->setCurrentIndex(static_cast<int>(mode));
}
TrainingMonitor::XMode TrainingMonitor::xMode() const {
    return static_cast<XMode>(m_xCombo->currentIndex());
}
void TrainingMonitor::setMetric(Metric metric) {
    m_metricCombo->setCurrentIndex(static_cast<int>(metric));
}

void TrainingMonitor::setAlertSettings(const AlertSettings& s) {
    m_alertSettings = s;
    {
        const QSignalBlocker b1(m_stallSpin), b2(m_spikeSpin);
        m_stallSpin->setValue(static_cast<int>(std::lround(s.stallSeconds)));
        m_spikeSpin->setValue(s.spikeSigmas);
    }
    for (auto& r : m_runs)
        r->alerts.setSettings(s);
    saveSettings();
}

void TrainingMonitor::setPollInterval(int ms) {
    m_pollMs = ms;
    for (auto& r : m_runs)
        r->stream->setInterval(ms);
}

// ---- runs -------------------------------------------------------------------------------

QColor TrainingMonitor::nextColor() const {
    for (QRgb rgb : kRunColors) {
        const QColor c(rgb);
        if (std::none_of(m_runs.begin(), m_runs.end(), [&](const auto& r) { return r->color == c; })) return c;
    }
    return QColor::fromHsv(static_cast<int>(m_runs.size() * 47 % 360), 200, 200);
}

int TrainingMonitor::addRun(const QString& dirOrFile) {
    const QString metrics = metricsFileOf(dirOrFile);
    for (std::size_t i = 0; i < m_runs.size(); ++i)
        if (m_runs[i]->metricsPath == metrics) return static_cast<int>(i);
    const QString dir = QFileInfo(metrics).absolutePath();
    QString name = QFileInfo(dir).fileName();
    for (const auto& r : m_runs)
        if (r->name == name) name = QStringLiteral("%1 (%2)").arg(name).arg(m_runs.size() + 1);
    auto run = std::make_unique<Run>(dir, metrics, name, m_alertSettings);
    Run* r = run.get();
    r->color = nextColor();
    r->stream = new MetricsStream(metrics, this);
    r->stream->setInterval(m_pollMs);
    readConfig(r);
    connect(r->stream, &MetricsStream::recordsAvailable, this,
            [this, r](const std::vector<MetricsRecord>& records) { onRecords(r, records); });
    connect(r->stream, &MetricsStream::reset, this, [this, r] { onReset(r); });
    connect(r->stream, &MetricsStream::missingChanged, this, [this, r](bool missing) {
        r->missing = missing;
        refreshRunItem(r);
    });
    connect(r->stream, &MetricsStream::parseErrors, this, [this, r](const QStringList& errors) {
        r->parseErrors += errors.size();
        refreshRunItem(r);
        Q_EMIT statusMessage(tr("%1: %2 line(s) skipped (%3)").arg(r->name).arg(errors.size()).arg(errors.first()));
    });
    connect(r->stream, &MetricsStream::caughtUp, this, [this, r] {
        r->caughtUp = true;
        refreshRunItem(r);
        scheduleReplot();
        if (!isLoading()) Q_EMIT caughtUp();
    });
    r->item = new QListWidgetItem(swatch(r->color), name);
    r->item->setFlags(r->item->flags() | Qt::ItemIsUserCheckable);
    r->item->setCheckState(Qt::Checked);
    r->item->setToolTip(dir);
    m_runList->addItem(r->item);
    m_runs.push_back(std::move(run));
    addRecent(dir);
    refreshRunItem(r);
    r->stream->start();
    m_autoRange = true;
    Q_EMIT runsChanged();
    scheduleReplot();
    return static_cast<int>(m_runs.size()) - 1;
}

void TrainingMonitor::removeRun(int index) {
    if (index < 0 || index >= runCount()) return;
    Run* r = m_runs[static_cast<std::size_t>(index)].get();
    delete r->item;
    delete r->stream; // waits for its poll in flight (one bounded chunk)
    m_runs.erase(m_runs.begin() + index);
    Q_EMIT runsChanged();
    scheduleReplot();
}

QString TrainingMonitor::runDirectory(int index) const {
    return m_runs.at(static_cast<std::size_t>(index))->dir;
}
QString TrainingMonitor::runName(int index) const {
    return m_runs.at(static_cast<std::size_t>(index))->name;
}
QColor TrainingMonitor::runColor(int index) const {
    return m_runs.at(static_cast<std::size_t>(index))->color;
}
const RunSeries& TrainingMonitor::series(int index) const {
    return m_runs.at(static_cast<std::size_t>(index))->series;
}

bool TrainingMonitor::isLoading() const {
    return std::any_of(m_runs.begin(), m_runs.end(), [](const auto& r) { return !r->caughtUp && !r->missing; });
}

void TrainingMonitor::readConfig(Run* run) {
    QFile f(QDir(run->dir).filePath(QStringLiteral("config.json")));
    if (!f.open(QIODevice::ReadOnly) || f.size() > (1 << 20)) return;
    const QJsonObject o = QJsonDocument::fromJson(f.readAll()).object();
    const qint64 steps = o.value(QLatin1String("steps")).toInteger();
    if (steps > 0) run->totalSteps = std::max(run->totalSteps, steps);
}

void TrainingMonitor::onReset(Run* run) {
    run->series.clear();
    run->alerts.reset();
    run->caughtUp = false;
    run->sawLiveData = false;
    run->parseErrors = 0;
    readConfig(run);
    refreshRunItem(run);
    m_autoRange = true;
    scheduleReplot();
}

void TrainingMonitor::onRecords(Run* run, const std::vector<MetricsRecord>& records) {
    if (run->caughtUp) run->sawLiveData = true;
    for (const MetricsRecord& r : records) {
        run->series.append(r);
        for (const TrainingAlert& a : run->alerts.onRecord(r))
            raise(run, a, run->caughtUp);
    }
    if (run->series.lastStep() > run->totalSteps && run->totalSteps > 0) readConfig(run); // resumed with more --steps
    if (!run->caughtUp) m_alertList->scrollToBottom();
    refreshRunItem(run);
    scheduleReplot();
}

void TrainingMonitor::raise(Run* run, const TrainingAlert& alert, bool announce) {
    if (m_alerts.size() >= kMaxAlerts) {
        m_alerts.erase(m_alerts.begin());
        delete m_alertList->takeItem(0);
    }
    m_alerts.push_back(alert);
    const QDateTime at = std::isfinite(alert.time)
                             ? QDateTime::fromMSecsSinceEpoch(static_cast<qint64>(alert.time * 1e3))
                             : QDateTime::currentDateTime();
    const QString when =
        at.toString(at.date() == QDate::currentDate() ? QStringLiteral("HH:mm:ss") : QStringLiteral("dd MMM HH:mm"));
    auto* item = new QListWidgetItem(QStringLiteral("%1  [%2] %3").arg(when, alertKindName(alert.kind), alert.message));
    if (run) item->setIcon(swatch(run->color));
    const bool severe = alert.kind == TrainingAlert::Kind::NonFinite || alert.kind == TrainingAlert::Kind::Process;
    if (severe) item->setForeground(QColor(0xd62728));
    item->setToolTip(alert.message);
    m_alertList->addItem(item);
    if (announce) m_alertList->scrollToBottom();
    if (announce) Q_EMIT alertRaised(alert);
}

TrainingMonitor::RunState TrainingMonitor::runState(int index) const {
    const Run& r = *m_runs.at(static_cast<std::size_t>(index));
    if (r.missing && r.series.steps.size() == 0) return RunState::Missing;
    if (!r.caughtUp) return RunState::Loading;
    const qint64 last = r.series.lastStep();
    if (r.totalSteps > 0 && last >= r.totalSteps) return RunState::Finished;
    const bool ownProcess = m_process->isRunning() && m_process->runDirectory() == r.dir;
    // model.brillm is written at the end of a run or when it is stopped.
    const QFileInfo model(QDir(r.dir).filePath(QStringLiteral("model.brillm")));
    const QFileInfo metrics(r.metricsPath);
    if (!ownProcess && model.exists() && model.lastModified() >= metrics.lastModified().addSecs(-2))
        return RunState::Stopped;
    // Until data arrives while we watch, the file's age tells (a run opened long after it died).
    const double silent =
        r.sawLiveData || !metrics.exists()
            ? static_cast<double>(r.stream->msSinceLastData()) / 1000.0
            : std::max(static_cast<double>(r.stream->msSinceLastData()) / 1000.0,
                       static_cast<double>(metrics.lastModified().msecsTo(QDateTime::currentDateTime())) / 1000.0);
    if (silent >= m_alertSettings.stallSeconds) return RunState::Stalled;
    return RunState::Live;
}

QString TrainingMonitor::runStatusText(int index) const {
    const Run& r = *m_runs.at(static_cast<std::size_t>(index));
    const RunState st = runState(index);
    const qint64 last = r.series.lastStep();
    QString steps = r.totalSteps > 0 ? tr("step %1/%2").arg(last).arg(r.totalSteps) : tr("step %1").arg(last);
    QString state;
    switch (st) {
    case RunState::Loading:
        state = tr("loading… %1 lines").arg(r.stream->linesRead());
        break;
    case RunState::Missing:
        state = tr("waiting for metrics.jsonl");
        break;
    case RunState::Live: {
        state = tr("live");
        const auto& t = r.series.steps.time;
        const std::size_t n = t.size();
        if (r.totalSteps > last && n >= 2) {
            const std::size_t k = std::min<std::size_t>(n - 1, 50);
            const double dt = t[n - 1] - t[n - 1 - k];
            const double ds = r.series.steps.step[n - 1] - r.series.steps.step[n - 1 - k];
            if (dt > 0 && ds > 0)
                state += tr(" · ETA %1").arg(shortDuration(dt / ds * static_cast<double>(r.totalSteps - last)));
        }
        break;
    }
    case RunState::Stalled:
        state = tr("stalled");
        break;
    case RunState::Stopped:
        state = tr("stopped");
        break;
    case RunState::Finished:
        state = tr("finished");
        break;
    }
    QString text = tr("%1 · %2").arg(steps, state);
    if (!r.series.steps.loss.empty() && std::isfinite(r.series.steps.loss.back()))
        text += tr(" · loss %1").arg(r.series.steps.loss.back(), 0, 'f', 3);
    if (r.series.nonFiniteCount > 0) text += tr(" · %1 NaN/Inf").arg(r.series.nonFiniteCount);
    if (r.parseErrors > 0) text += tr(" · %1 bad lines").arg(r.parseErrors);
    return text;
}

void TrainingMonitor::refreshRunItem(Run* run) {
    for (std::size_t i = 0; i < m_runs.size(); ++i)
        if (m_runs[i].get() == run) {
            const QSignalBlocker b(m_runList);
            run->item->setText(QStringLiteral("%1\n%2").arg(run->name, runStatusText(static_cast<int>(i))));
        }
}

void TrainingMonitor::updateStatus() {
    for (std::size_t i = 0; i < m_runs.size(); ++i) {
        Run* r = m_runs[i].get();
        refreshRunItem(r);
        if (!r->caughtUp) continue;
        const RunState st = runState(static_cast<int>(i));
        const QFileInfo metrics(r->metricsPath);
        const double silent =
            r->sawLiveData || !metrics.exists()
                ? static_cast<double>(r->stream->msSinceLastData()) / 1000.0
                : static_cast<double>(metrics.lastModified().msecsTo(QDateTime::currentDateTime())) / 1000.0;
        if (auto a = r->alerts.checkStall(silent, st == RunState::Finished || st == RunState::Stopped))
            raise(r, *a, true);
    }
    updateProcessUi();
}

TrainingMonitor::Run* TrainingMonitor::selectedRun() const {
    const int row = m_runList->currentRow();
    return row >= 0 && row < runCount() ? m_runs[static_cast<std::size_t>(row)].get() : nullptr;
}

void TrainingMonitor::updateProcessUi() {
    const bool running = m_process->isRunning();
    m_newButton->setEnabled(!running);
    m_stopButton->setEnabled(running && !m_process->isStopping());
    m_resumeButton->setEnabled(!running && (selectedRun() || !m_process->runDirectory().isEmpty()));
    if (running)
        m_processLabel->setText(
            m_process->isStopping()
                ? tr("Stopping %1 (writing a checkpoint)…").arg(QFileInfo(m_process->runDirectory()).fileName())
                : tr("Training %1: step %2/%3")
                      .arg(QFileInfo(m_process->runDirectory()).fileName())
                      .arg(m_process->lastStep())
                      .arg(m_process->totalSteps()));
    else if (!m_process->runDirectory().isEmpty() && m_processLabel->property("outcome").toString().isEmpty())
        m_processLabel->setText(tr("Not running."));
}

void TrainingMonitor::addRecent(const QString& dir) {
    QSettings s;
    QStringList recent = s.value(QStringLiteral("monitor/recentRuns")).toStringList();
    recent.removeAll(dir);
    recent.prepend(dir);
    while (recent.size() > kMaxRecent)
        recent.removeLast();
    s.setValue(QStringLiteral("monitor/recentRuns"), recent);
    rebuildRecentMenu();
}

QStringList TrainingMonitor::recentRuns() const {
    return QSettings().value(QStringLiteral("monitor/recentRuns")).toStringList();
}

void TrainingMonitor::rebuildRecentMenu() {
    m_recentMenu->clear();
    const QStringList recent = recentRuns();
    for (const QString& dir : recent) {
        QAction* a = m_recentMenu->addAction(dir, this, [this, dir] { addRun(dir); });
        a->setToolTip(dir);
    }
    if (recent.isEmpty()) m_recentMenu->addAction(tr("(none)"))->setEnabled(false);
    m_recentMenu->addSeparator();
    m_recentMenu->addAction(tr("Clear"), this, [this] {
        QSettings().remove(QStringLiteral("monitor/recentRuns"));
        rebuildRecentMenu();
    });
}

void TrainingMonitor::openRunDialog() {
    const QString start = QSettings().value(QStringLiteral("monitor/lastDir"), QDir::homePath()).toString();
    const QString dir = QFileDialog::getExistingDirectory(this, tr("Open a run directory"), start);
    if (dir.isEmpty()) return;
    QSettings().setValue(QStringLiteral("monitor/lastDir"), QFileInfo(dir).absolutePath());
    if (!QFileInfo::exists(QDir(dir).filePath(QStringLiteral("metrics.jsonl"))) &&
        !QFileInfo::exists(QDir(dir).filePath(QStringLiteral("config.json"))))
        Q_EMIT statusMessage(tr("%1 holds no metrics.jsonl yet: waiting for it.").arg(dir));
    m_runList->setCurrentRow(addRun(dir));
}

// ---- trainer ----------------------------------------------------------------------------

void TrainingMonitor::newTrainingDialog() {
    if (m_process->isRunning()) {
        QMessageBox::information(this, tr("New training"),
                                 tr("A training started here is still running; stop it first."));
        return;
    }
    NewTrainingDialog dialog(this);
    if (dialog.exec() != QDialog::Accepted) return;
    startTraining(dialog.request());
}

bool TrainingMonitor::startTraining(const TrainingRequest& request) {
    m_processLabel->setProperty("outcome", QString());
    m_log->clear();
    const bool ok = m_process->start(request);
    updateProcessUi();
    return ok;
}

bool TrainingMonitor::resumeTraining() {
    const Run* r = selectedRun();
    const QString dir = r ? r->dir : m_process->runDirectory();
    if (dir.isEmpty()) return false;
    m_processLabel->setProperty("outcome", QString());
    m_log->clear();
    const bool ok = m_process->resume(dir);
    updateProcessUi();
    return ok;
}

void TrainingMonitor::stopTraining() {
    m_process->stop();
    updateProcessUi();
}

} // namespace brillm::viz
