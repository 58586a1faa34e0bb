// SPDX-License-Identifier: GPL-3.0-or-later
#include "views/edge_inspector.h"

#include "common/palette.h"
#include "studio/studio_document.h"

#include <qcustomplot.h>

#include <ATen/core/Tensor.h>

#include <QCheckBox>
#include <QCompleter>
#include <QContextMenuEvent>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QPicture>
#include <QPushButton>
#include <QScrollArea>
#include <QTextDocument>
#include <QToolTip>
#include <QVBoxLayout>

#include <cmath>

namespace brillm::viz {

namespace {

// A sharded model: where the edge's matrix lives (its source's shard; the shared slot is in every
// shard), else nothing.
QString shardText(const StudioModel& model, int32_t source, bool shared) {
    const QString where = model.shardOfSource(source);
    if (where.isEmpty()) return {};
    return shared ? EdgeInspector::tr(" (replicated in every shard)") : EdgeInspector::tr(", in %1").arg(where);
}

} // namespace

MatrixStats matrixStats(const std::vector<double>& v) {
    MatrixStats s;
    if (v.empty()) return s;
    double sum = 0, sq = 0;
    s.min = s.max = v.front();
    for (double x : v) {
        sum += x;
        sq += x * x;
        s.min = std::min(s.min, x);
        s.max = std::max(s.max, x);
    }
    const auto n = static_cast<double>(v.size());
    s.mean = sum / n;
    s.std = std::sqrt(std::max(0.0, sq / n - s.mean * s.mean));
    s.frobenius = std::sqrt(sq);
    return s;
}

namespace {
std::vector<double> rowOf(const at::Tensor& t, int64_t slot) {
    // any stored dtype (f64, f32, and the bf16/f16 models decoded in place), widened exactly
    const at::Tensor r = t.select(0, slot).to(at::kDouble).contiguous();
    const double* p = r.data_ptr<double>();
    return std::vector<double>(p, p + r.numel());
}

std::vector<double> minus(const std::vector<double>& a, const std::vector<double>& b) {
    std::vector<double> d(a.size());
    for (size_t i = 0; i < a.size(); ++i)
        d[i] = a[i] - b[i];
    return d;
}
} // namespace

EdgeParameters edgeParameters(const Model& model, int32_t source, int32_t target) {
    EdgeParameters e;
    e.source = source;
    e.target = target;
    e.slot = model.edges.slot(source, target);
    e.shared = e.slot == EdgeTable::kSharedSlot;
    e.dim = model.dim();
    e.weight = rowOf(model.weights, e.slot);
    e.bias = rowOf(model.biases, e.slot);
    e.sharedWeight = rowOf(model.weights, EdgeTable::kSharedSlot);
    e.sharedBias = rowOf(model.biases, EdgeTable::kSharedSlot);
    return e;
}

EdgeInspector::EdgeInspector(StudioDocument* doc, QWidget* parent) : QWidget(parent), m_doc(doc) {
    m_source = new QLineEdit;
    m_source->setPlaceholderText(tr("source token or #id"));
    m_target = new QLineEdit;
    m_target->setPlaceholderText(tr("target token or #id"));
    auto* show = new QPushButton(tr("Inspect"));
    m_follow = new QCheckBox(tr("follow the selected step"));
    m_follow->setChecked(true);
    m_header = new QLabel;
    m_header->setTextFormat(Qt::RichText);
    m_header->setWordWrap(true);
    m_stats = new QLabel;
    m_stats->setTextFormat(Qt::RichText);
    m_stats->setTextInteractionFlags(Qt::TextSelectableByMouse);
    // Fixed heights: a label that changes height would re-layout and re-plot the whole view.
    // The statistics table's height is measured from its text (7 rows of a table, subscripts).
    m_header->setFixedHeight(m_header->fontMetrics().lineSpacing() * 2 + 6);
    {
        // Sized for wide numbers, so that no value is ever cut off.
        QFont small = m_stats->font();
        small.setPointSizeF(small.pointSizeF() * 0.9);
        m_stats->setFont(small);
        EdgeParameters wide;
        wide.weight = wide.bias = {-99.9999, 99.9999};
        wide.sharedWeight = wide.sharedBias = {99.9999, -99.9999};
        QTextDocument measure;
        measure.setDefaultFont(small);
        measure.setHtml(statisticsHtml(wide));
        m_stats->setFixedSize(static_cast<int>(std::ceil(measure.idealWidth())) + 8,
                              static_cast<int>(std::ceil(measure.size().height())) + 6);
        m_stats->setAlignment(Qt::AlignLeft | Qt::AlignTop);
    }
    m_readout = new QLabel;
    m_readout->setTextFormat(Qt::PlainText);
    m_readout->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_readout->setFixedHeight(m_readout->fontMetrics().lineSpacing() + 4);
    m_readout->setSizePolicy(QSizePolicy::Ignored, QSizePolicy::Fixed); // a long readout never widens the view
    m_readout->setText(tr("Hover a cell for its value."));
    m_plot = new QCustomPlot;
    m_plot->setMinimumHeight(160);
    m_plot->setMouseTracking(true);
    m_plot->setFocusPolicy(Qt::ClickFocus); // a click makes this the current view (Ctrl+Shift+M maximises it)

    auto* bar = new QHBoxLayout;
    bar->addWidget(m_source);
    bar->addWidget(new QLabel(QStringLiteral("→")));
    bar->addWidget(m_target);
    bar->addWidget(show);
    bar->addWidget(m_follow);
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(4, 4, 4, 4);
    layout->addLayout(bar);
    // Below the bar everything scrolls when the dock is smaller than the minimum, rather than
    // the statistics being cut off.
    auto* body = new QWidget;
    auto* bodyLayout = new QVBoxLayout(body);
    bodyLayout->setContentsMargins(0, 0, 0, 0);
    bodyLayout->addWidget(m_header);
    // The statistics beside the plots when the view is wide enough, else under them.
    m_plotRow = new QBoxLayout(QBoxLayout::LeftToRight);
    m_plotRow->addWidget(m_plot, 1);
    m_plotRow->addWidget(m_stats, 0, Qt::AlignTop);
    bodyLayout->addLayout(m_plotRow, 1);
    bodyLayout->addWidget(m_readout);
    auto* scroll = new QScrollArea;
    scroll->setWidget(body);
    scroll->setWidgetResizable(true);
    scroll->setFrameShape(QFrame::NoFrame);
    layout->addWidget(scroll, 1);
    connect(m_plot, &QCustomPlot::mouseMove, this, &EdgeInspector::onPlotMouseMove);

    connect(show, &QPushButton::clicked, this, &EdgeInspector::showTyped);
    connect(m_source, &QLineEdit::returnPressed, this, &EdgeInspector::showTyped);
    connect(m_target, &QLineEdit::returnPressed, this, &EdgeInspector::showTyped);
    connect(m_follow, &QCheckBox::toggled, this, [this](bool on) {
        if (on) followSelection();
    });
    connect(doc, &StudioDocument::selectionChanged, this, &EdgeInspector::followSelection);
    connect(doc, &StudioDocument::edgeInspectionRequested, this, &EdgeInspector::inspect);
    connect(doc, &StudioDocument::traceFinished, this, &EdgeInspector::followSelection);
    // An edited model: the same pair, its new parameters.
    connect(doc, &StudioDocument::modelEdited, this, [this] {
        if (!m_valid || !m_doc->hasModel()) return;
        m_params = edgeParameters(m_doc->model()->model(), m_params.source, m_params.target);
        rebuild();
    });
    connect(doc, &StudioDocument::modelChanged, this, [this] {
        m_valid = false;
        if (m_doc->hasModel()) {
            auto* completer = new QCompleter(m_doc->model()->labels, this);
            completer->setCaseSensitivity(Qt::CaseSensitive);
            completer->setFilterMode(Qt::MatchStartsWith);
            m_source->setCompleter(completer);
            m_target->setCompleter(completer);
        }
        rebuild();
    });
    rebuild();
}

void EdgeInspector::followSelection() {
    if (!m_follow->isChecked() || !m_doc->hasModel() || m_doc->isGenerating()) return;
    const int s = m_doc->shownStep();
    if (s < 0) return;
    const auto& st = m_doc->trace().steps[static_cast<size_t>(s)];
    inspect(st.source, st.target);
}

void EdgeInspector::showTyped() {
    if (!m_doc->hasModel()) return;
    const auto s = m_doc->model()->findNode(m_source->text());
    const auto t = m_doc->model()->findNode(m_target->text());
    if (!s || !t) {
        m_header->setText(tr("<span style='color:#c33'>Unknown token: %1</span>")
                              .arg((!s ? m_source->text() : m_target->text()).toHtmlEscaped()));
        return;
    }
    m_follow->setChecked(false);
    inspect(*s, *t);
}

void EdgeInspector::inspect(int32_t source, int32_t target) {
    if (!m_doc->hasModel()) return;
    const auto& model = m_doc->model()->model();
    if (source < 0 || target < 0 || source >= model.vocabSize() || target >= model.vocabSize()) return;
    if (m_valid && m_params.source == source && m_params.target == target) return;
    m_params = edgeParameters(model, source, target);
    m_valid = true;
    const QSignalBlocker b1(m_source), b2(m_target);
    m_source->setText(m_doc->model()->label(source));
    m_target->setText(m_doc->model()->label(target));
    rebuild();
}

QString EdgeInspector::headerText() const {
    return m_header->text();
}

QString EdgeInspector::statisticsText() const {
    return m_valid ? statisticsHtml(m_params) : QString();
}

QString EdgeInspector::statisticsHtml(const EdgeParameters& e) {
    auto row = [](const QString& name, const MatrixStats& s) {
        return QStringLiteral("<tr><td>%1</td><td align=right>%2</td><td align=right>%3</td><td align=right>%4</td>"
                              "<td align=right>%5</td><td align=right>%6</td></tr>")
            .arg(name)
            .arg(s.mean, 0, 'f', 4)
            .arg(s.std, 0, 'f', 4)
            .arg(s.min, 0, 'f', 4)
            .arg(s.max, 0, 'f', 4)
            .arg(s.frobenius, 0, 'f', 4);
    };
    QString html =
        QStringLiteral("<table cellspacing=0 cellpadding=2><tr><th></th><th>mean</th><th>std</th><th>min</th>"
                       "<th>max</th><th>‖·‖<sub>F</sub></th></tr>");
    html += row(tr("W (this edge)"), matrixStats(e.weight));
    html += row(tr("W (shared)"), matrixStats(e.sharedWeight));
    html += row(tr("W − W<sub>shared</sub>"), matrixStats(minus(e.weight, e.sharedWeight)));
    html += row(tr("b (this edge)"), matrixStats(e.bias));
    html += row(tr("b (shared)"), matrixStats(e.sharedBias));
    html += row(tr("b − b<sub>shared</sub>"), matrixStats(minus(e.bias, e.sharedBias)));
    return html + QStringLiteral("</table>");
}

void EdgeInspector::contextMenuEvent(QContextMenuEvent* event) {
    if (m_valid) m_doc->requestEditMenu(m_params.source, m_params.target, event->globalPos());
}

void EdgeInspector::resizeEvent(QResizeEvent* event) {
    QWidget::resizeEvent(event);
    const bool side = width() >= m_stats->width() + 320;
    m_plotRow->setDirection(side ? QBoxLayout::LeftToRight : QBoxLayout::TopToBottom);
}

void EdgeInspector::showEvent(QShowEvent* event) {
    QWidget::showEvent(event);
    if (m_dirty) rebuild();
}

void EdgeInspector::rebuild(bool force) {
    // Hidden (a tab behind another): rebuild when shown.
    if (!isVisible() && !force) {
        m_dirty = true;
        return;
    }
    m_dirty = false;
    const ViewColors c = ViewColors::current();
    m_plot->clearPlottables();
    m_plot->plotLayout()->clear();
    m_hoverRects.clear();
    for (QCPMarginGroup* g : m_marginGroups)
        delete g; // after the layout: its elements leave their groups as they are destroyed
    m_marginGroups.clear();
    m_plot->setBackground(c.background);
    if (!m_valid || !m_doc->hasModel()) {
        m_header->setText(m_doc->hasModel() ? tr("<i>Select a step, or type an edge and press Enter.</i>")
                                            : tr("<i>No model.</i>"));
        m_stats->clear();
        m_plot->replot(QCustomPlot::rpQueuedReplot);
        return;
    }
    const auto& sm = *m_doc->model();
    const auto d = static_cast<int>(m_params.dim);
    m_header->setText(
        tr("<b>%1 → %2</b> &nbsp; (nodes %3 → %4) &nbsp; %5 &nbsp;·&nbsp; corpus frequency: %6")
            .arg(sm.label(m_params.source).toHtmlEscaped(), sm.label(m_params.target).toHtmlEscaped())
            .arg(m_params.source)
            .arg(m_params.target)
            .arg((m_params.shared
                      ? tr("<span style='color:%1'><b>shared slot 0</b></span> - this pair was never seen in "
                           "training, so it uses the one matrix all unseen pairs share")
                            .arg(c.shared.name())
                      : tr("<b>own slot %1</b> of %2").arg(m_params.slot).arg(sm.model().edges.numSlots() - 1)) +
                 shardText(sm, m_params.source, m_params.shared))
            .arg(m_params.shared ? tr("0 (unseen)") : tr("≥ 1 (the model file keeps no counts)")));
    m_stats->setText(statisticsText());

    const auto diffW = minus(m_params.weight, m_params.sharedWeight);
    const auto diffB = minus(m_params.bias, m_params.sharedBias);
    struct Panel {
        QString title;
        const std::vector<double>* w;
        const std::vector<double>* b;
        bool diverging;
    };
    const Panel panels[3] = {{tr("W[%1 → %2]").arg(sm.label(m_params.source), sm.label(m_params.target)),
                              &m_params.weight, &m_params.bias, false},
                             {tr("W shared (slot 0)"), &m_params.sharedWeight, &m_params.sharedBias, false},
                             {tr("difference"), &diffW, &diffB, true}};
    // Matrices and biases each on their own symmetric range: biases are often ten times the
    // weights, and one shared range would paint every matrix a single colour.
    auto rangeOf = [](std::initializer_list<const std::vector<double>*> vs) {
        double r = 0;
        for (const auto* v : vs) {
            const auto st = matrixStats(*v);
            r = std::max({r, std::abs(st.min), std::abs(st.max)});
        }
        return r < 1e-12 ? 1.0 : r;
    };
    const double range = rangeOf({panels[0].w, panels[1].w}), brange = rangeOf({panels[0].b, panels[1].b});
    const double drange = rangeOf({&diffW}), dbrange = rangeOf({&diffB});
    auto ticks = [d] {
        auto t = QSharedPointer<QCPAxisTickerFixed>::create();
        t->setTickStep(std::max(1, d / 4));
        t->setScaleStrategy(QCPAxisTickerFixed::ssNone);
        return t;
    };

    QCPColorGradient seq;
    seq.clearColorStops();
    for (int i = 0; i <= 8; ++i)
        seq.setColorStopAt(i / 8.0, energyColor(i / 8.0));
    QCPColorGradient div;
    div.clearColorStops();
    for (int i = 0; i <= 10; ++i)
        div.setColorStopAt(i / 10.0, divergingColor(i / 5.0 - 1.0, isDarkPalette()));

    auto styleAxis = [&](QCPAxis* ax) {
        ax->setBasePen(QPen(c.mutedText));
        ax->setTickPen(QPen(c.mutedText));
        ax->setSubTickPen(Qt::NoPen);
        ax->setTickLabelColor(c.text);
        ax->setLabelColor(c.text);
    };
    for (int k = 0; k < 3; ++k) {
        const Panel& pn = panels[k];
        auto* title = new QCPTextElement(m_plot, pn.title, QFont(font().family(), font().pointSize(), QFont::Bold));
        title->setTextColor(c.text);
        m_plot->plotLayout()->addElement(0, k, title);
        auto* rect = new QCPAxisRect(m_plot);
        auto* brect = new QCPAxisRect(m_plot);
        m_plot->plotLayout()->addElement(1, k, rect);
        m_plot->plotLayout()->addElement(2, k, brect);
        m_hoverRects.push_back({rect, k, false});
        m_hoverRects.push_back({brect, k, true});
        for (auto* r : {rect, brect})
            for (auto* ax : r->axes())
                styleAxis(ax);
        rect->axis(QCPAxis::atLeft)->setRangeReversed(true);
        auto* map = new QCPColorMap(rect->axis(QCPAxis::atBottom), rect->axis(QCPAxis::atLeft));
        map->data()->setSize(d, d);
        map->data()->setRange(QCPRange(0, d - 1), QCPRange(0, d - 1));
        for (int i = 0; i < d; ++i)
            for (int j = 0; j < d; ++j)
                map->data()->setCell(j, i, (*pn.w)[static_cast<size_t>(i * d + j)]);
        map->setInterpolate(false);
        map->setGradient(pn.diverging ? div : seq);
        map->setDataRange(pn.diverging ? QCPRange(-drange, drange) : QCPRange(-range, range));
        rect->axis(QCPAxis::atBottom)->setRange(-0.5, d - 0.5);
        rect->axis(QCPAxis::atLeft)->setRange(-0.5, d - 0.5);
        rect->axis(QCPAxis::atBottom)->setLabel(tr("column j"));
        rect->axis(QCPAxis::atLeft)->setLabel(k == 0 ? tr("row i (input)") : QString());
        rect->axis(QCPAxis::atBottom)->setTicker(ticks());
        rect->axis(QCPAxis::atLeft)->setTicker(ticks());
        auto* bmap = new QCPColorMap(brect->axis(QCPAxis::atBottom), brect->axis(QCPAxis::atLeft));
        // Two equal rows: QCustomPlot draws no colour map of a single row.
        bmap->data()->setSize(d, 2);
        bmap->data()->setRange(QCPRange(0, d - 1), QCPRange(-0.25, 0.25));
        for (int j = 0; j < d; ++j)
            for (int r = 0; r < 2; ++r)
                bmap->data()->setCell(j, r, (*pn.b)[static_cast<size_t>(j)]);
        bmap->setInterpolate(false);
        bmap->setGradient(pn.diverging ? div : seq);
        bmap->setDataRange(pn.diverging ? QCPRange(-dbrange, dbrange) : QCPRange(-brange, brange));
        brect->axis(QCPAxis::atBottom)->setTicker(ticks());
        brect->axis(QCPAxis::atBottom)->setRange(-0.5, d - 0.5);
        brect->axis(QCPAxis::atLeft)->setRange(-0.5, 0.5);
        brect->axis(QCPAxis::atLeft)->setTickLabels(false);
        brect->axis(QCPAxis::atLeft)->setLabel(k == 0 ? tr("bias") : QString());
        brect->setMaximumSize(QWIDGETSIZE_MAX, 70);
        brect->setMinimumSize(0, 60);
        auto* scale = new QCPColorScale(m_plot);
        scale->setType(QCPAxis::atBottom);
        scale->setGradient(pn.diverging ? div : seq);
        scale->setDataRange(pn.diverging ? QCPRange(-drange, drange) : QCPRange(-range, range));
        scale->setBarWidth(8);
        styleAxis(scale->axis());
        scale->axis()->ticker()->setTickCount(3);
        scale->axis()->setLabel(tr("bias row: ±%1").arg(pn.diverging ? dbrange : brange, 0, 'g', 2));
        m_plot->plotLayout()->addElement(3, k, scale);
        scale->setMaximumSize(QWIDGETSIZE_MAX, 50);
        // one margin group per column: the matrix, its bias row and its colour bar share their
        // left and right edges, so the bias cells line up with the matrix columns and the colour
        // bars of neighbouring columns (and their end labels) never touch
        auto* group = new QCPMarginGroup(m_plot);
        m_marginGroups.push_back(group);
        rect->setMarginGroup(QCP::msLeft | QCP::msRight, group);
        brect->setMarginGroup(QCP::msLeft | QCP::msRight, group);
        scale->setMarginGroup(QCP::msLeft | QCP::msRight, group);
    }
    m_plot->plotLayout()->setRowStretchFactor(1, 5);
    m_plot->plotLayout()->setRowStretchFactor(2, 1);
    m_plot->replot(QCustomPlot::rpQueuedReplot);
}

QString EdgeInspector::cellReadout(QPointF pos) const {
    if (!m_valid || !m_doc->hasModel()) return {};
    const auto d = static_cast<int>(m_params.dim);
    for (const auto& h : m_hoverRects) {
        if (!h.rect->rect().contains(pos.toPoint())) continue;
        const int j = static_cast<int>(std::lround(h.rect->axis(QCPAxis::atBottom)->pixelToCoord(pos.x())));
        const int i = h.bias ? 0 : static_cast<int>(std::lround(h.rect->axis(QCPAxis::atLeft)->pixelToCoord(pos.y())));
        if (i < 0 || i >= d || j < 0 || j >= d) return {};
        const auto k = static_cast<size_t>(h.bias ? j : i * d + j);
        const double own = h.bias ? m_params.bias[k] : m_params.weight[k];
        const double shared = h.bias ? m_params.sharedBias[k] : m_params.sharedWeight[k];
        const QString where = h.bias ? tr("b[%1]").arg(j) : tr("W[%1, %2] (row %1, column %2)").arg(i).arg(j);
        const QString panel = h.panel == 0 ? tr("this edge") : h.panel == 1 ? tr("shared") : tr("difference");
        return tr("%1 in %2 · this edge %3 · shared %4 · difference %5")
            .arg(where, panel)
            .arg(own, 0, 'g', 6)
            .arg(shared, 0, 'g', 6)
            .arg(own - shared, 0, 'g', 6);
    }
    return {};
}

void EdgeInspector::onPlotMouseMove(QMouseEvent* event) {
    const QString text = cellReadout(event->position());
    if (text.isEmpty()) {
        QToolTip::hideText();
        return;
    }
    m_readout->setText(text);
    QToolTip::showText(event->globalPosition().toPoint(),
                       text.toHtmlEscaped().replace(QStringLiteral(" · "), QStringLiteral("<br>")), m_plot);
}

QSize EdgeInspector::exportSize() const {
    return size().expandedTo(QSize(900, 520));
}

void EdgeInspector::renderExport(QPainter& painter) {
    if (m_dirty) rebuild(true);
    const QSize size = exportSize();
    painter.fillRect(QRect(QPoint(0, 0), size), ViewColors::current().background);
    // Header and statistics as text, the plots as vectors.
    QTextDocument header;
    header.setDefaultFont(font());
    header.setHtml(
        QStringLiteral("<div style='color:%1'>%2</div>").arg(ViewColors::current().text.name(), m_header->text()));
    header.setTextWidth(size.width() - 16);
    painter.save();
    painter.translate(8, 6);
    header.drawContents(&painter);
    painter.restore();
    const int top = static_cast<int>(header.size().height()) + 10;
    QTextDocument stats;
    stats.setDefaultFont(font());
    stats.setHtml(
        QStringLiteral("<div style='color:%1'>%2</div>").arg(ViewColors::current().text.name(), m_stats->text()));
    const int statsH = static_cast<int>(stats.size().height());
    const int plotH = size.height() - top - statsH - 8;
    QPicture picture;
    {
        QCPPainter qcp(&picture);
        qcp.setMode(QCPPainter::pmVectorized);
        qcp.setMode(QCPPainter::pmNoCaching);
        m_plot->toPainter(&qcp, size.width(), plotH);
    }
    painter.drawPicture(0, top, picture);
    painter.save();
    painter.translate(8, top + plotH + 4);
    stats.drawContents(&painter);
    painter.restore();
}

} // namespace brillm::viz
