// SPDX-License-Identifier: GPL-3.0-or-later
// TrainingMonitor's plots: curves rebuilt from the runs' series, downsampled to pixel width.
#include "monitor/training_monitor.h"

#include "common/palette.h"
#include "monitor/curve_downsample.h"

#include <qcustomplot.h>

#include <QCheckBox>
#include <QComboBox>
#include <QElapsedTimer>
#include <QLabel>
#include <QPicture>
#include <QSlider>
#include <QTimer>

#include <algorithm>
#include <cmath>

namespace brillm::viz {

namespace {
QVector<double> toQVector(const std::vector<double>& v) {
    return QVector<double>(v.begin(), v.end());
}

// The finite y range of the graphs' data, positive values only for a log axis.
bool dataRange(QCustomPlot* plot, bool positiveOnly, double* lo, double* hi) {
    *lo = std::numeric_limits<double>::infinity();
    *hi = -std::numeric_limits<double>::infinity();
    for (int g = 0; g < plot->graphCount(); ++g) {
        QCPGraph* graph = plot->graph(g);
        if (!graph->visible() || graph->property("noRange").toBool()) continue;
        for (auto it = graph->data()->constBegin(); it != graph->data()->constEnd(); ++it) {
            const double v = it->value;
            if (!std::isfinite(v) || (positiveOnly && v <= 0)) continue;
            *lo = std::min(*lo, v);
            *hi = std::max(*hi, v);
        }
    }
    return *lo <= *hi;
}
} // namespace

// ---- plots ------------------------------------------------------------------------------

void TrainingMonitor::scheduleReplot() {
    m_dirty = true;
    if (!m_replotTimer->isActive()) m_replotTimer->start();
}

void TrainingMonitor::replotNow() {
    m_replotTimer->stop();
    rebuild();
}

std::vector<double> TrainingMonitor::xValues(const Run& run, const std::vector<double>& step,
                                             const std::vector<double>& time,
                                             const std::vector<double>& elapsed) const {
    switch (xMode()) {
    case XMode::Step:
        return step;
    case XMode::WallTime:
        return time;
    case XMode::Relative: {
        std::vector<double> x(step.size());
        for (std::size_t i = 0; i < x.size(); ++i)
            x[i] = std::isfinite(elapsed[i]) ? elapsed[i] : time[i] - run.series.firstTime;
        return x;
    }
    }
    return step;
}

void TrainingMonitor::styleAll() {
    const ViewColors c = ViewColors::current();
    for (QCustomPlot* p : {m_lossPlot, m_throughputPlot, m_memoryPlot, m_rankPlot}) {
        p->setBackground(c.background);
        for (QCPAxis* ax : {p->xAxis, p->yAxis}) {
            ax->setBasePen(QPen(c.mutedText));
            ax->setTickPen(QPen(c.mutedText));
            ax->setSubTickPen(QPen(c.mutedText));
            ax->setTickLabelColor(c.text);
            ax->setLabelColor(c.text);
            ax->grid()->setPen(QPen(c.grid, 0, Qt::DotLine));
        }
        if (auto* title = qobject_cast<QCPTextElement*>(p->plotLayout()->element(0, 0))) title->setTextColor(c.text);
        p->legend->setBrush(QColor(c.background.red(), c.background.green(), c.background.blue(), 200));
        p->legend->setTextColor(c.text);
        p->legend->setBorderPen(QPen(c.grid));
    }
}

void TrainingMonitor::rebuild() {
    QElapsedTimer t;
    t.start();
    m_dirty = false;
    styleAll();
    // The x axis type of every plot.
    for (QCustomPlot* p : {m_lossPlot, m_throughputPlot, m_memoryPlot, m_rankPlot}) {
        switch (xMode()) {
        case XMode::Step:
            if (!p->xAxis->ticker().dynamicCast<QCPAxisTickerDateTime>().isNull() ||
                !p->xAxis->ticker().dynamicCast<QCPAxisTickerTime>().isNull())
                p->xAxis->setTicker(QSharedPointer<QCPAxisTicker>(new QCPAxisTicker));
            p->xAxis->setLabel(tr("step"));
            break;
        case XMode::WallTime: {
            if (p->xAxis->ticker().dynamicCast<QCPAxisTickerDateTime>().isNull()) {
                QSharedPointer<QCPAxisTickerDateTime> dt(new QCPAxisTickerDateTime);
                dt->setDateTimeFormat(QStringLiteral("HH:mm\ndd MMM"));
                p->xAxis->setTicker(dt);
            }
            p->xAxis->setLabel(tr("wall time"));
            break;
        }
        case XMode::Relative:
            if (p->xAxis->ticker().dynamicCast<QCPAxisTickerTime>().isNull()) {
                QSharedPointer<QCPAxisTickerTime> tt(new QCPAxisTickerTime);
                tt->setTimeFormat(QStringLiteral("%h:%m:%s"));
                p->xAxis->setTicker(tt);
            }
            p->xAxis->setLabel(tr("training time (h:m:s)"));
            break;
        }
    }
    double xMin = 0, xMax = 0;
    rebuildLoss(xMin, xMax);
    rebuildSeriesPlot(m_throughputPlot, 0, xMin, xMax);
    rebuildSeriesPlot(m_memoryPlot, 1, xMin, xMax);
    rebuildRanks(xMin, xMax);
    for (QCustomPlot* p : {m_lossPlot, m_throughputPlot, m_memoryPlot, m_rankPlot})
        if (p->isVisible() || !isVisible()) p->replot(QCustomPlot::rpQueuedRefresh);
    m_lastReplotMs = static_cast<double>(t.nsecsElapsed()) * 1e-6;
}

void TrainingMonitor::rebuildLoss(double& xMin, double& xMax) {
    QCustomPlot* p = m_lossPlot;
    p->clearGraphs();
    const bool ppl = m_metricCombo->currentIndex() == 1;
    const bool smooth = m_smoothCheck->isChecked() && m_smoothSlider->value() > 0;
    const double w = m_smoothSlider->value() / 100.0;
    const bool logY = m_logCheck->isChecked();
    p->yAxis->setLabel(ppl ? tr("perplexity") : tr("loss"));
    p->yAxis->setScaleType(logY ? QCPAxis::stLogarithmic : QCPAxis::stLinear);
    if (logY && p->yAxis->ticker().dynamicCast<QCPAxisTickerLog>().isNull())
        p->yAxis->setTicker(QSharedPointer<QCPAxisTicker>(new QCPAxisTickerLog));
    else if (!logY && !p->yAxis->ticker().dynamicCast<QCPAxisTickerLog>().isNull())
        p->yAxis->setTicker(QSharedPointer<QCPAxisTicker>(new QCPAxisTicker));

    // The x range: the whole data unless the user zoomed or panned.
    std::vector<std::vector<double>> xs(m_runs.size());
    double lo = std::numeric_limits<double>::infinity(), hi = -lo;
    for (std::size_t i = 0; i < m_runs.size(); ++i) {
        const Run& r = *m_runs[i];
        xs[i] = xValues(r, r.series.steps.step, r.series.steps.time, r.series.steps.elapsed);
        if (!r.visible) continue;
        for (double v : xs[i])
            if (std::isfinite(v)) {
                lo = std::min(lo, v);
                hi = std::max(hi, v);
            }
    }
    if (m_autoRange) {
        if (lo > hi) {
            lo = 0;
            hi = 1;
        } else if (lo == hi) {
            lo -= 0.5;
            hi += 0.5;
        }
        const double pad = (hi - lo) * 0.01;
        xMin = lo - pad;
        xMax = hi + pad;
    } else {
        xMin = p->xAxis->range().lower;
        xMax = p->xAxis->range().upper;
    }
    const int columns = std::max(p->axisRect()->width(), 100);
    const QColor red(0xd62728);

    for (std::size_t i = 0; i < m_runs.size(); ++i) {
        const Run& r = *m_runs[i];
        if (!r.visible || r.series.steps.size() == 0) continue;
        const std::vector<double>& y = ppl ? r.series.steps.ppl : r.series.steps.loss;
        const DownsampledCurve raw = minMaxDownsample(xs[i], y, xMin, xMax, columns);
        QCPGraph* g = p->addGraph();
        g->setObjectName(QStringLiteral("raw:%1").arg(r.name));
        // Opaque, mixed with the background: Qt strokes a translucent polyline as one path,
        // which takes seconds for a few thousand zigzagging min/max points.
        const QColor bg = ViewColors::current().background;
        const QColor rawColor = smooth ? QColor::fromRgbF(0.35f * r.color.redF() + 0.65f * bg.redF(),
                                                          0.35f * r.color.greenF() + 0.65f * bg.greenF(),
                                                          0.35f * r.color.blueF() + 0.65f * bg.blueF())
                                       : r.color;
        g->setPen(QPen(rawColor, smooth ? 1.0 : 1.5));
        g->setName(smooth ? tr("%1 (raw)").arg(r.name) : r.name);
        g->setData(toQVector(raw.line.x), toQVector(raw.line.y), true);
        if (smooth) g->removeFromLegend();
        if (smooth) {
            const std::vector<double> s = emaSmooth(y, w);
            const DownsampledCurve sm = minMaxDownsample(xs[i], s, xMin, xMax, columns);
            QCPGraph* gs = p->addGraph();
            gs->setObjectName(QStringLiteral("smooth:%1").arg(r.name));
            gs->setPen(QPen(r.color, 2.0));
            gs->setName(r.name);
            gs->setData(toQVector(sm.line.x), toQVector(sm.line.y), true);
        }
        // Held-out loss: exact, over all candidates.
        if (r.series.evals.size()) {
            const auto ex = xValues(r, r.series.evals.step, r.series.evals.time, r.series.evals.elapsed);
            const auto& ey = ppl ? r.series.evals.ppl : r.series.evals.loss;
            QCPGraph* ge = p->addGraph();
            ge->setObjectName(QStringLiteral("eval:%1").arg(r.name));
            ge->setPen(QPen(r.color.darker(130), 1.5, Qt::DashLine));
            ge->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssDisc, r.color.darker(130), 6));
            ge->setName(tr("%1 held-out (exact)").arg(r.name));
            ge->setData(toQVector(ex), toQVector(ey), true);
        }
        if (!raw.nanX.empty()) {
            QCPGraph* gn = p->addGraph();
            gn->setObjectName(QStringLiteral("nonfinite:%1").arg(r.name));
            gn->setProperty("noRange", true);
            gn->setLineStyle(QCPGraph::lsNone);
            gn->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssCross, QPen(red, 2.5), Qt::NoBrush, 11));
            gn->setName(tr("%1 NaN/Inf (%2)").arg(r.name).arg(r.series.nonFiniteCount));
            gn->setData(toQVector(raw.nanX), toQVector(raw.nanY), true);
        }
    }
    m_settingRange = true;
    p->xAxis->setRange(xMin, xMax);
    double ylo = 0, yhi = 1;
    if (dataRange(p, logY, &ylo, &yhi)) {
        if (logY)
            p->yAxis->setRange(ylo / 1.2, yhi * 1.2);
        else {
            const double pad = std::max((yhi - ylo) * 0.05, 1e-9);
            p->yAxis->setRange(ylo - pad, yhi + pad);
        }
    } else {
        p->yAxis->setRange(logY ? 0.1 : 0, logY ? 10 : 1);
    }
    // Markers of a NaN with no finite value before it sit at the bottom of the plot.
    for (int g = 0; g < p->graphCount(); ++g) {
        QCPGraph* gn = p->graph(g);
        if (!gn->objectName().startsWith(QLatin1String("nonfinite:"))) continue;
        for (auto it = gn->data()->begin(); it != gn->data()->end(); ++it)
            if (!std::isfinite(it->value)) it->value = p->yAxis->range().lower;
    }
    m_settingRange = false;
}

void TrainingMonitor::rebuildSeriesPlot(QCustomPlot* p, int which, double xMin, double xMax) {
    p->clearGraphs();
    p->yAxis->setLabel(which == 0 ? tr("samples/s") : tr("MB"));
    const int columns = std::max(p->axisRect()->width(), 100);
    for (const auto& run : m_runs) {
        const Run& r = *run;
        if (!r.visible || r.series.steps.size() == 0) continue;
        const auto x = xValues(r, r.series.steps.step, r.series.steps.time, r.series.steps.elapsed);
        const auto& y = which == 0 ? r.series.steps.samplesPerS : r.series.steps.memoryMb;
        const DownsampledCurve d = minMaxDownsample(x, y, xMin, xMax, columns);
        QCPGraph* g = p->addGraph();
        g->setObjectName(
            QStringLiteral("%1:%2").arg(which == 0 ? QStringLiteral("throughput") : QStringLiteral("memory"), r.name));
        g->setPen(QPen(r.color, 1.2));
        g->setName(r.name);
        g->setData(toQVector(d.line.x), toQVector(d.line.y), true);
    }
    m_settingRange = true;
    p->xAxis->setRange(xMin, xMax);
    double lo = 0, hi = 1;
    if (dataRange(p, false, &lo, &hi)) p->yAxis->setRange(std::min(0.0, lo), hi * 1.08 + 1e-9);
    m_settingRange = false;
}

namespace {

// ", 4 shards: work largest/mean 1.67, edge rows up to 68.6 MB a rank" for a --shard-edges run,
// from each rank's last step (the step waits for the rank with the most work at every edge index)
QString shardSummary(const RunSeries& s) {
    QString text = s.replicas > 1  ? TrainingMonitor::tr(", %1 shards x %2 replicas").arg(s.shards).arg(s.replicas)
                   : s.shards == 1 ? TrainingMonitor::tr(", 1 shard")
                                   : TrainingMonitor::tr(", %1 shards").arg(s.shards);
    double sum = 0, largest = 0, rowsMax = 0;
    int counted = 0;
    for (const auto& rk : s.ranks) {
        if (!rk.candidateRows.empty() && std::isfinite(rk.candidateRows.back())) {
            sum += rk.candidateRows.back();
            largest = std::max(largest, rk.candidateRows.back());
            ++counted;
        }
        if (!rk.edgeTableBytes.empty() && std::isfinite(rk.edgeTableBytes.back()))
            rowsMax = std::max(rowsMax, rk.edgeTableBytes.back());
    }
    if (counted > 1 && sum > 0)
        text += TrainingMonitor::tr(": work largest/mean %1").arg(largest / (sum / counted), 0, 'f', 2);
    if (rowsMax > 0) text += TrainingMonitor::tr(", edge rows up to %1 MB a rank").arg(rowsMax / 1e6, 0, 'f', 1);
    return text;
}

} // namespace

void TrainingMonitor::rebuildRanks(double xMin, double xMax) {
    QCustomPlot* p = m_rankPlot;
    p->clearGraphs();
    bool sharded = false;
    const int columns = std::max(p->axisRect()->width(), 100);
    QStringList summary;
    for (const auto& run : m_runs) {
        const Run& r = *run;
        if (!r.visible || r.series.ranks.size() < 2) continue;
        const int n = static_cast<int>(r.series.ranks.size());
        for (int k = 0; k < n; ++k) {
            const auto& rk = r.series.ranks[static_cast<std::size_t>(k)];
            if (rk.step.empty()) continue;
            const auto x = xValues(r, rk.step, rk.time, rk.elapsed);
            const DownsampledCurve d = minMaxDownsample(x, rk.tokensPerS, xMin, xMax, columns);
            QCPGraph* g = p->addGraph();
            g->setObjectName(QStringLiteral("rank:%1:%2").arg(r.name).arg(k));
            // The run's hue, lighter for higher ranks.
            g->setPen(QPen(r.color.lighter(100 + 80 * k / std::max(1, n - 1)), 1.2));
            g->setName(tr("%1 rank %2").arg(r.name).arg(k));
            g->setData(toQVector(d.line.x), toQVector(d.line.y), true);
        }
        QString line = tr("%1: %2 ranks").arg(r.name).arg(r.series.worldSize);
        const auto& last = r.series.ranks;
        double memMax = 0;
        for (const auto& rk : last)
            if (!rk.memoryMb.empty() && std::isfinite(rk.memoryMb.back()))
                memMax = std::max(memMax, rk.memoryMb.back());
        if (memMax > 0) line += tr(", max memory %1 MB").arg(memMax, 0, 'f', 0);
        if (r.series.shards > 0) {
            line += shardSummary(r.series);
            sharded = true;
        }
        if (std::isfinite(r.series.lastExchangeBytes)) {
            line += tr(", exchange %1 MB/step").arg(r.series.lastExchangeBytes / 1e6, 0, 'f', 2);
            if (std::isfinite(r.series.lastDenseBytes) && r.series.lastDenseBytes > 0)
                line +=
                    tr(" (%1 % of dense)").arg(100.0 * r.series.lastExchangeBytes / r.series.lastDenseBytes, 0, 'f', 1);
        }
        summary << line;
    }
    if (auto* box = qobject_cast<QWidget*>(p->property("box").value<QObject*>())) box->setVisible(p->graphCount() > 0);
    m_rankLabel->setText(summary.join(QStringLiteral("; ")));
    // a sharded rank's "tokens" are the edges whose candidates it evaluated
    p->yAxis->setLabel(sharded ? tr("tokens/s (sharded: edges evaluated/s)") : tr("tokens/s"));
    m_settingRange = true;
    p->xAxis->setRange(xMin, xMax);
    double lo = 0, hi = 1;
    if (dataRange(p, false, &lo, &hi)) p->yAxis->setRange(std::min(0.0, lo), hi * 1.08 + 1e-9);
    m_settingRange = false;
}

QString TrainingMonitor::rankSummaryText() const {
    return m_rankLabel->text();
}

QSize TrainingMonitor::exportSize() const {
    return m_plotArea->size().isEmpty() ? QSize(1200, 800) : m_plotArea->size();
}

void TrainingMonitor::renderExport(QPainter& painter) {
    if (m_dirty) replotNow();
    // Plot by plot through QPicture, so the curves stay vectors in SVG.
    for (QCustomPlot* p : {m_lossPlot, m_throughputPlot, m_memoryPlot, m_rankPlot}) {
        if (!p->isVisibleTo(this) && p->parentWidget() && !p->parentWidget()->isVisibleTo(this)) continue;
        if (p->width() <= 0 || p->height() <= 0) continue;
        const QPoint at = p->mapTo(m_plotArea, QPoint(0, 0));
        QPicture picture;
        {
            QCPPainter qcp(&picture);
            qcp.setMode(QCPPainter::pmVectorized);
            qcp.setMode(QCPPainter::pmNoCaching);
            p->toPainter(&qcp, p->width(), p->height());
        }
        painter.drawPicture(at, picture);
    }
}

} // namespace brillm::viz
