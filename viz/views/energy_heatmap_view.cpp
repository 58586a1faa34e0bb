// SPDX-License-Identifier: GPL-3.0-or-later
#include "views/energy_heatmap_view.h"

#include "common/palette.h"
#include "studio/studio_document.h"

#include <qcustomplot.h>

#include <QComboBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QPicture>
#include <QSpinBox>
#include <QTimer>
#include <QToolTip>
#include <QVBoxLayout>

#include <cmath>

namespace brillm::viz {

HeatmapData buildHeatmap(const StudioModel& model, const Trace& trace, int k) {
    HeatmapData d;
    d.k = k;
    d.steps = static_cast<int>(trace.steps.size());
    d.columns.reserve(trace.steps.size());
    d.minEnergy = std::numeric_limits<double>::infinity();
    d.maxEnergy = -std::numeric_limits<double>::infinity();
    for (const auto& s : trace.steps) {
        d.columns.push_back(topCandidates(model.model(), s, k));
        for (const auto& c : d.columns.back()) {
            d.minEnergy = std::min(d.minEnergy, c.energy);
            d.maxEnergy = std::max(d.maxEnergy, c.energy);
        }
    }
    if (!std::isfinite(d.minEnergy)) d.minEnergy = d.maxEnergy = 0;
    return d;
}

double heatmapValue(HeatmapScale scale, const Candidate& c, const std::vector<Candidate>& column) {
    switch (scale) {
    case HeatmapScale::Energy:
        return c.energy;
    case HeatmapScale::MinusBest:
        return column.empty() ? 0 : c.energy - column.front().energy;
    case HeatmapScale::PerStep: {
        if (column.empty()) return 0;
        const double top = column.front().energy, low = column.back().energy;
        return top - low > 1e-12 ? (c.energy - low) / (top - low) : 1.0;
    }
    case HeatmapScale::Probability:
        return c.probability;
    case HeatmapScale::Log10Energy:
        return c.energy > 0 ? std::log10(c.energy) : std::numeric_limits<double>::quiet_NaN();
    }
    return c.energy;
}

// The token of every cell, drawn at paint time wherever it fits the cell as the plot is sized now.
class HeatmapCellLabels : public QCPLayerable {
public:
    explicit HeatmapCellLabels(QCustomPlot* plot) : QCPLayerable(plot) {}
    struct Cell {
        double key, value;
        QString text;
        bool dark; // the cell's colour is dark: white text
    };
    std::vector<Cell> cells;
    std::vector<QRectF> drawn;
    QFont font;

protected:
    void applyDefaultAntialiasingHint(QCPPainter* painter) const override {
        painter->setRenderHint(QPainter::TextAntialiasing);
    }
    QRect clipRect() const override { return mParentPlot->axisRect()->rect(); }
    void draw(QCPPainter* painter) override {
        drawn.clear();
        QCPAxis* x = mParentPlot->xAxis;
        QCPAxis* y = mParentPlot->yAxis;
        const double cw = std::abs(x->coordToPixel(1) - x->coordToPixel(0));
        const double ch = std::abs(y->coordToPixel(1) - y->coordToPixel(0));
        QFont f = font;
        // As large as the cell's height allows, smaller in narrow cells so that a short token fits whole.
        f.setPointSizeF(std::clamp(std::min(ch * 0.42, cw * 0.24), 6.0, 9.5));
        const QFontMetricsF fm(f);
        // Narrower cells would show single characters here and there: noise rather than labels.
        if (ch < fm.height() - 1 || cw < std::max(24.0, fm.averageCharWidth() * 4 + 4)) return;
        painter->setFont(f);
        const QRectF area = mParentPlot->axisRect()->rect();
        for (const auto& c : cells) {
            const QPointF ctr(x->coordToPixel(c.key), y->coordToPixel(c.value));
            const QRectF cell(ctr.x() - cw / 2, ctr.y() - ch / 2, cw, ch);
            if (!area.intersects(cell)) continue;
            const QString t = fm.elidedText(c.text, Qt::ElideRight, cw - 4);
            if (t.isEmpty() || t == QStringLiteral("…")) continue;
            const double w = fm.horizontalAdvance(t);
            painter->setPen(c.dark ? QColor(Qt::white) : QColor(Qt::black));
            const QRectF box(ctr.x() - w / 2, ctr.y() - fm.height() / 2, w, fm.height());
            painter->drawText(box, Qt::AlignCenter, t);
            drawn.push_back(box);
        }
    }
};

namespace {
QCPColorGradient viridis() {
    QCPColorGradient g;
    g.clearColorStops();
    for (int i = 0; i <= 8; ++i)
        g.setColorStopAt(i / 8.0, energyColor(i / 8.0));
    g.setNanHandling(QCPColorGradient::nhTransparent);
    return g;
}
} // namespace

EnergyHeatmapView::EnergyHeatmapView(StudioDocument* doc, QWidget* parent) : QWidget(parent), m_doc(doc) {
    m_plot = new QCustomPlot;
    m_plot->setMouseTracking(true);
    m_plot->setFocusPolicy(Qt::ClickFocus); // a click makes this the current view (Ctrl+Shift+M maximises it)
    m_plot->setNoAntialiasingOnDrag(true);
    m_map = new QCPColorMap(m_plot->xAxis, m_plot->yAxis);
    m_map->setInterpolate(false);
    m_map->setTightBoundary(false); // the first and last rows and columns as wide as the others
    m_scale = new QCPColorScale(m_plot);
    m_plot->plotLayout()->addElement(0, 1, m_scale);
    m_scale->setType(QCPAxis::atRight);
    m_scale->axis()->setLabel(tr("energy"));
    m_map->setColorScale(m_scale);
    m_map->setGradient(viridis());
    auto* group = new QCPMarginGroup(m_plot);
    m_plot->axisRect()->setMarginGroup(QCP::msBottom | QCP::msTop, group);
    m_scale->setMarginGroup(QCP::msBottom | QCP::msTop, group);
    m_plot->xAxis->setLabel(tr("step (token taken)"));
    m_plot->yAxis->setLabel(tr("candidate rank"));
    m_plot->yAxis->setRangeReversed(true);
    m_taken = m_plot->addGraph();
    m_taken->setLineStyle(QCPGraph::lsNone);
    m_taken->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssCircle, QPen(Qt::white, 2), Qt::NoBrush, 12));
    m_taken->setName(tr("token taken"));
    m_frame = new QCPItemRect(m_plot);
    m_frame->setPen(QPen(ViewColors::current().selected, 2.5));
    m_frame->setVisible(false);

    m_k = new QSpinBox;
    m_k->setRange(2, 200);
    m_k->setValue(12);
    m_k->setPrefix(tr("top "));
    m_k->setToolTip(tr("Candidates per step (rows)"));
    m_labels = new HeatmapCellLabels(m_plot);
    m_scaleBox = new QComboBox;
    m_scaleBox->addItem(tr("energy"), static_cast<int>(HeatmapScale::Energy));
    m_scaleBox->addItem(tr("energy − step's best"), static_cast<int>(HeatmapScale::MinusBest));
    m_scaleBox->addItem(tr("per step, 0 to 1"), static_cast<int>(HeatmapScale::PerStep));
    m_scaleBox->addItem(tr("probability"), static_cast<int>(HeatmapScale::Probability));
    m_scaleBox->addItem(tr("log₁₀ energy"), static_cast<int>(HeatmapScale::Log10Energy));
    m_scaleBox->setCurrentIndex(2);
    m_scaleBox->setToolTip(tr("What the colour shows. Energies along a path can differ by orders of magnitude, which "
                              "hides the differences between a step's candidates: \"per step\" scales each column "
                              "from its lowest shown candidate (0) to its best (1)."));
    auto* bar = new QHBoxLayout;
    bar->addWidget(new QLabel(tr("Rows:")));
    bar->addWidget(m_k);
    bar->addWidget(new QLabel(tr("Colour:")));
    bar->addWidget(m_scaleBox);
    bar->addStretch(1);
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(2, 2, 2, 2);
    layout->addLayout(bar);
    layout->addWidget(m_plot, 1);

    m_timer = new QTimer(this);
    m_timer->setSingleShot(true);
    m_timer->setInterval(40);
    connect(m_timer, &QTimer::timeout, this, &EnergyHeatmapView::rebuild);
    connect(m_k, &QSpinBox::valueChanged, this, &EnergyHeatmapView::scheduleRebuild);
    connect(m_scaleBox, &QComboBox::currentIndexChanged, this, &EnergyHeatmapView::scheduleRebuild);
    connect(doc, &StudioDocument::traceReset, this, &EnergyHeatmapView::scheduleRebuild);
    connect(doc, &StudioDocument::stepAppended, this, &EnergyHeatmapView::scheduleRebuild);
    connect(doc, &StudioDocument::traceFinished, this, &EnergyHeatmapView::rebuild);
    connect(doc, &StudioDocument::selectionChanged, this, &EnergyHeatmapView::updateSelection);
    connect(m_plot, &QCustomPlot::mouseMove, this, &EnergyHeatmapView::onMouseMove);
    connect(m_plot, &QCustomPlot::mousePress, this, &EnergyHeatmapView::onMousePress);
    rebuild();
}

void EnergyHeatmapView::setTopK(int k) {
    m_k->setValue(k);
}

void EnergyHeatmapView::setScale(HeatmapScale scale) {
    m_scaleBox->setCurrentIndex(m_scaleBox->findData(static_cast<int>(scale)));
}

HeatmapScale EnergyHeatmapView::scale() const {
    return static_cast<HeatmapScale>(m_scaleBox->currentData().toInt());
}

const std::vector<QRectF>& EnergyHeatmapView::cellLabelRects() const {
    return m_labels->drawn;
}

void EnergyHeatmapView::scheduleRebuild() {
    if (!m_timer->isActive()) m_timer->start();
}

void EnergyHeatmapView::rebuild() {
    m_timer->stop();
    const ViewColors c = ViewColors::current();
    m_plot->setBackground(c.background);
    m_scale->axis()->setBasePen(QPen(c.text));
    m_scale->axis()->setTickLabelColor(c.text);
    m_scale->axis()->setLabelColor(c.text);
    for (QCPAxis* ax : {m_plot->xAxis, m_plot->yAxis}) {
        ax->setBasePen(QPen(c.text));
        ax->setTickPen(QPen(c.text));
        ax->setSubTickPen(QPen(c.mutedText));
        ax->setTickLabelColor(c.text);
        ax->setLabelColor(c.text);
    }
    m_plot->clearItems();
    m_frame = new QCPItemRect(m_plot);
    m_frame->setPen(QPen(c.selected, 2.5));
    m_frame->setVisible(false);

    if (!m_doc->hasModel() || !m_doc->hasTrace() || m_doc->trace().steps.empty()) {
        m_data = {};
        m_map->data()->clear();
        m_taken->data()->clear();
        m_labels->cells.clear();
        m_plot->replot(QCustomPlot::rpQueuedReplot);
        return;
    }
    const auto& model = *m_doc->model();
    const auto& trace = m_doc->trace();
    m_data = buildHeatmap(model, trace, m_k->value());
    const int S = m_data.steps, K = m_data.k;
    const HeatmapScale scale = this->scale();
    m_map->data()->setSize(S, K);
    m_map->data()->setRange(QCPRange(0, S - 1), QCPRange(1, K));
    double lo = std::numeric_limits<double>::infinity(), hi = -lo;
    for (int s = 0; s < S; ++s) {
        const auto& col = m_data.columns[static_cast<size_t>(s)];
        for (int r = 0; r < K; ++r) {
            double v = std::numeric_limits<double>::quiet_NaN();
            if (r < static_cast<int>(col.size())) v = heatmapValue(scale, col[static_cast<size_t>(r)], col);
            m_map->data()->setCell(s, r, v);
            if (std::isfinite(v)) {
                lo = std::min(lo, v);
                hi = std::max(hi, v);
            }
        }
    }
    if (!std::isfinite(lo)) lo = hi = 0;
    if (hi - lo < 1e-9) hi = lo + 1e-9;
    m_map->setDataRange(QCPRange(lo, hi));
    m_scale->axis()->setLabel(m_scaleBox->currentText());

    // The token each step took, ringed where it is among the shown ranks.
    QVector<double> xs, ys;
    for (int s = 0; s < S; ++s) {
        const auto& col = m_data.columns[static_cast<size_t>(s)];
        for (size_t r = 0; r < col.size(); ++r)
            if (col[r].taken) {
                xs.push_back(s);
                ys.push_back(static_cast<double>(r) + 1);
            }
    }
    m_taken->setData(xs, ys, true);
    m_taken->setScatterStyle(
        QCPScatterStyle(QCPScatterStyle::ssCircle, QPen(c.selected.lighter(120), 2), Qt::NoBrush, 11));

    // Tick labels: the token taken at every step.
    auto ticker = QSharedPointer<QCPAxisTickerText>::create();
    const int every = std::max(1, (S + 24) / 25); // readable tick labels on long traces
    for (int s = 0; s < S; s += every)
        ticker->addTick(s, QStringLiteral("%1 %2").arg(s).arg(model.label(trace.steps[static_cast<size_t>(s)].target)));
    m_plot->xAxis->setTicker(ticker);
    m_plot->xAxis->setTickLabelRotation(S > 12 ? 60 : 0);
    auto yt = QSharedPointer<QCPAxisTickerFixed>::create();
    yt->setTickStep(K > 30 ? 5 : 1);
    yt->setScaleStrategy(QCPAxisTickerFixed::ssNone);
    m_plot->yAxis->setTicker(yt);
    m_plot->xAxis->setRange(-0.5, S - 0.5);
    m_plot->yAxis->setRange(0.5, K + 0.5);

    // Token labels inside the cells: which ones fit is decided when the plot paints.
    m_labels->font = font();
    m_labels->cells.clear();
    for (int s = 0; s < S; ++s) {
        const auto& col = m_data.columns[static_cast<size_t>(s)];
        for (size_t r = 0; r < col.size(); ++r) {
            const double v = m_map->data()->cell(s, static_cast<int>(r));
            const double t = std::isfinite(v) ? (v - lo) / (hi - lo) : 0;
            m_labels->cells.push_back({double(s), static_cast<double>(r) + 1, model.label(col[r].node), t < 0.6});
        }
    }
    updateSelection();
}

void EnergyHeatmapView::updateSelection() {
    const int s = m_doc->shownStep();
    if (s >= 0 && s < m_data.steps) {
        m_frame->topLeft->setCoords(s - 0.5, 0.5);
        m_frame->bottomRight->setCoords(s + 0.5, m_data.k + 0.5);
        m_frame->setVisible(true);
    } else {
        m_frame->setVisible(false);
    }
    m_plot->replot(QCustomPlot::rpQueuedReplot);
}

bool EnergyHeatmapView::cellAt(QPointF pos, int* step, int* row) const {
    if (m_data.steps == 0 || !m_plot->axisRect()->rect().contains(pos.toPoint())) return false;
    const int s = static_cast<int>(std::lround(m_plot->xAxis->pixelToCoord(pos.x())));
    const int r = static_cast<int>(std::lround(m_plot->yAxis->pixelToCoord(pos.y()))) - 1;
    if (s < 0 || s >= m_data.steps || r < 0 || r >= m_data.k) return false;
    *step = s;
    *row = r;
    return true;
}

void EnergyHeatmapView::onMouseMove(QMouseEvent* event) {
    int s = 0, r = 0;
    if (!cellAt(event->position(), &s, &r) || !m_doc->hasModel()) {
        QToolTip::hideText();
        return;
    }
    const auto& col = m_data.columns[static_cast<size_t>(s)];
    if (r >= static_cast<int>(col.size())) return;
    const Candidate& c = col[static_cast<size_t>(r)];
    const auto& model = *m_doc->model();
    const auto& st = m_doc->trace().steps[static_cast<size_t>(s)];
    QToolTip::showText(
        event->globalPosition().toPoint(),
        tr("<b>step %1</b>: %2 → <b>%3</b><br>energy %4<br>probability %5<br>rank %6%7%8<br>colour: %9 = %10")
            .arg(s)
            .arg(model.label(st.source).toHtmlEscaped(), model.label(c.node).toHtmlEscaped())
            .arg(c.energy, 0, 'f', 5)
            .arg(c.probability, 0, 'g', 4)
            .arg(c.rank)
            .arg(c.shared ? tr("<br>shared slot") : tr("<br>own slot"))
            .arg(c.taken ? tr("<br><i>taken</i>") : QString())
            .arg(m_scaleBox->currentText().toHtmlEscaped())
            .arg(heatmapValue(scale(), c, col), 0, 'g', 5),
        m_plot);
}

void EnergyHeatmapView::onMousePress(QMouseEvent* event) {
    int s = 0, r = 0;
    if (!cellAt(event->position(), &s, &r)) return;
    m_doc->selectStep(s);
    const auto& col = m_data.columns[static_cast<size_t>(s)];
    if (r < static_cast<int>(col.size()))
        m_doc->inspectEdge(m_doc->trace().steps[static_cast<size_t>(s)].source, col[static_cast<size_t>(r)].node);
}

QSize EnergyHeatmapView::exportSize() const {
    return m_plot->size().expandedTo(QSize(640, 420));
}

void EnergyHeatmapView::renderExport(QPainter& painter) {
    const QSize size = exportSize();
    const QSize old = m_plot->size();
    if (old != size) {
        m_plot->resize(size);
        rebuild();
        m_plot->replot(QCustomPlot::rpImmediateRefresh);
    }
    // Through a QPicture, so that the plot stays vector graphics in SVG.
    QPicture picture;
    {
        QCPPainter qcp(&picture);
        qcp.setMode(QCPPainter::pmVectorized);
        qcp.setMode(QCPPainter::pmNoCaching);
        m_plot->toPainter(&qcp, size.width(), size.height());
    }
    painter.drawPicture(0, 0, picture);
    if (old != size) {
        m_plot->resize(old);
        rebuild();
    }
}

} // namespace brillm::viz
