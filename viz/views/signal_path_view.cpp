// SPDX-License-Identifier: GPL-3.0-or-later
#include "views/signal_path_view.h"

#include "common/palette.h"
#include "studio/studio_document.h"

#include <QContextMenuEvent>
#include <QHelpEvent>
#include <QLabel>
#include <QMouseEvent>
#include <QPainter>
#include <QPainterPath>
#include <QScrollBar>
#include <QToolTip>

#include <algorithm>
#include <cmath>

namespace brillm::viz {

namespace {
constexpr int kMargin = 24;
constexpr int kSpacing = 118; // fallback spacing, before the first layout
constexpr int kNodeH = 30;
constexpr double kMinNodeW = 34, kMaxNodeW = 220, kMinGap = 44;

QFont smallFont(QFont f) {
    f.setPointSizeF(std::max(6.5, f.pointSizeF() * 0.85));
    return f;
}

QStringList edgeLines(const TraceStep& s) {
    return {QStringLiteral("E %1").arg(s.energy, 0, 'f', 3), QStringLiteral("p %1").arg(s.probability, 0, 'g', 3),
            s.rank > 0 ? QStringLiteral("rank %1").arg(s.rank) : QStringLiteral("excluded"),
            s.shared ? SignalPathCanvas::tr("shared slot") : SignalPathCanvas::tr("own #%1").arg(s.slot)};
}
} // namespace

SignalPathCanvas::SignalPathCanvas(StudioDocument* doc, QWidget* parent) : QWidget(parent), m_doc(doc) {
    setMouseTracking(true);
    setFocusPolicy(Qt::ClickFocus); // a click makes this the current view (Ctrl+Shift+M maximises it)
    setAttribute(Qt::WA_OpaquePaintEvent);
}

void SignalPathCanvas::relayout() {
    m_x.clear();
    m_w.clear();
    m_labelW.clear();
    const QFontMetricsF fm(font()), fms(smallFont(font()));
    m_lineH = fms.height();
    // The edge labels (4 lines) sit above the arrow, inside the gap between two nodes.
    m_nodeY = std::max(8.0, 8 + 4 * m_lineH + 3 - kNodeH / 2.0);
    if (!m_doc->hasModel() || !m_doc->hasTrace()) return;
    const auto& trace = m_doc->trace();
    const auto& model = *m_doc->model();
    for (size_t i = 0; i < trace.tokens.size(); ++i)
        m_w.push_back(std::clamp(fm.horizontalAdvance(model.label(trace.tokens[i])) + 16, kMinNodeW, kMaxNodeW));
    for (const auto& s : trace.steps) {
        double w = 0;
        for (const QString& line : edgeLines(s))
            w = std::max(w, fms.horizontalAdvance(line));
        m_labelW.push_back(w + 8);
    }
    double x = kMargin + (m_w.empty() ? 0 : m_w[0] / 2);
    for (size_t i = 0; i < m_w.size(); ++i) {
        m_x.push_back(x);
        if (i + 1 < m_w.size()) {
            const double gap = std::max(kMinGap, (i < m_labelW.size() ? m_labelW[i] : 0) + 6);
            x += m_w[i] / 2 + gap + m_w[i + 1] / 2;
        }
    }
}

int SignalPathCanvas::height0() const {
    return static_cast<int>(m_nodeY + kNodeH + 18 + 160 + m_lineH + 10);
}

QSize SignalPathCanvas::sizeHint() const {
    if (m_x.empty()) return {2 * kMargin + kSpacing, height0()};
    return {static_cast<int>(m_x.back() + m_w.back() / 2 + kMargin), height0()};
}

QPointF SignalPathCanvas::nodeCenter(int token) const {
    const double y = m_nodeY + kNodeH / 2.0;
    if (m_x.empty()) return {kMargin + kSpacing * 0.5 + token * kSpacing, y};
    const auto last = static_cast<int>(m_x.size()) - 1;
    if (token >= 0 && token <= last) return {m_x[static_cast<size_t>(token)], y};
    return {m_x[static_cast<size_t>(token < 0 ? 0 : last)] + (token < 0 ? token : token - last) * kSpacing, y};
}

QRectF SignalPathCanvas::nodeRect(int token) const {
    const double w = token >= 0 && token < static_cast<int>(m_w.size()) ? m_w[static_cast<size_t>(token)] : kMinNodeW;
    const QPointF c = nodeCenter(token);
    return {c.x() - w / 2, m_nodeY, w, static_cast<double>(kNodeH)};
}

QRectF SignalPathCanvas::edgeLabelRect(int step) const {
    if (step < 0 || step >= static_cast<int>(m_labelW.size())) return {};
    const double cx = (nodeRect(step).right() + nodeRect(step + 1).left()) / 2, w = m_labelW[static_cast<size_t>(step)];
    const double bottom = m_nodeY + kNodeH / 2.0 - 3;
    return {cx - w / 2, bottom - 4 * m_lineH, w, 4 * m_lineH};
}

QString SignalPathCanvas::nodeLabel(int token) const {
    if (!m_doc->hasModel() || !m_doc->hasTrace() || token < 0 ||
        token >= static_cast<int>(m_doc->trace().tokens.size()))
        return {};
    return m_doc->model()->label(m_doc->trace().tokens[static_cast<size_t>(token)]);
}

QString SignalPathCanvas::nodeText(int token) const {
    return QFontMetrics(font()).elidedText(nodeLabel(token), Qt::ElideRight,
                                           static_cast<int>(nodeRect(token).width()) - 8);
}

QString SignalPathCanvas::legendText() const {
    QString text = tr("edge labels: energy, probability, rank among the candidates, slot  ·  dashed red: shared slot");
    const int selected = m_doc->shownStep();
    if (!m_doc->hasTrace()) return text;
    if (selected >= 1 && selected < static_cast<int>(m_doc->trace().steps.size()) && m_doc->selectedStep() == selected)
        text += tr("  ·  arcs: mixing weights of step %1's input over the outputs of edges 0..%2")
                    .arg(selected)
                    .arg(selected - 1);
    else if (selected == 0)
        text += tr("  ·  step 0 starts from the initial signal GELU(1/d + node bias + PE[0]): nothing to mix");
    return text;
}

int SignalPathCanvas::nodeAt(QPoint pos) const {
    if (!m_doc->hasTrace()) return -1;
    const int n = static_cast<int>(m_doc->trace().tokens.size());
    for (int i = 0; i < n; ++i)
        if (nodeRect(i).adjusted(-2, -3, 2, 3).contains(pos)) return i;
    return -1;
}

int SignalPathCanvas::edgeAt(QPoint pos) const {
    if (!m_doc->hasTrace()) return -1;
    const int steps = static_cast<int>(m_doc->trace().steps.size());
    for (int i = 0; i < steps; ++i) {
        const double x0 = nodeRect(i).right() + 1, x1 = nodeRect(i + 1).left() - 1;
        const QRectF labels = edgeLabelRect(i);
        if (pos.x() >= std::min(x0, labels.left()) && pos.x() <= std::max(x1, labels.right()) &&
            pos.y() > labels.top() - 2 && pos.y() < m_nodeY + kNodeH + 4)
            return i;
    }
    return -1;
}

void SignalPathCanvas::paintEvent(QPaintEvent* event) {
    if (m_doc->hasTrace() && m_x.size() != m_doc->trace().tokens.size()) relayout();
    QPainter p(this);
    p.fillRect(event->rect(), ViewColors::current().background);
    paintTo(p, event->rect());
}

void SignalPathCanvas::paintTo(QPainter& p, const QRect& clip, bool withLegend) const {
    const int kHeight = height0();
    const double kNodeY = m_nodeY;
    const ViewColors c = ViewColors::current();
    p.setRenderHint(QPainter::Antialiasing);
    if (!m_doc->hasModel() || !m_doc->hasTrace()) {
        p.setPen(c.mutedText);
        p.drawText(QRect(kMargin, 0, 600, kHeight), Qt::AlignVCenter, tr("No trace yet: complete a prompt."));
        return;
    }
    const auto& model = *m_doc->model();
    const auto& trace = m_doc->trace();
    const int n = static_cast<int>(trace.tokens.size());
    const int steps = static_cast<int>(trace.steps.size());
    const int selected = m_doc->shownStep();
    const int64_t user = m_doc->userPromptTokens();
    const QFontMetrics fm(p.font());
    const QFont small = smallFont(p.font());
    const QFontMetrics fms(small);

    auto visible = [&](double x0, double x1) {
        return x1 >= clip.left() - 2 * kMaxNodeW && x0 <= clip.right() + 2 * kMaxNodeW;
    };

    // Mixing weights of the selected step: arcs from each earlier edge's midpoint to this edge's.
    // Only for a step the user selected: while a completion streams in, the arcs would be redrawn
    // for every new step.
    if (selected >= 1 && selected < steps && m_doc->selectedStep() == selected) {
        const auto& w = trace.steps[static_cast<size_t>(selected)].mixWeights;
        const double maxW = w.empty() ? 1.0 : *std::max_element(w.begin(), w.end());
        const double yBase = kNodeY + kNodeH + 18;
        const double xTo = (nodeCenter(selected).x() + nodeCenter(selected + 1).x()) / 2;
        for (size_t j = 0; j < w.size(); ++j) {
            const double xFrom = (nodeCenter(static_cast<int>(j)).x() + nodeCenter(static_cast<int>(j) + 1).x()) / 2;
            const double span = std::abs(xTo - xFrom);
            const double depth = std::min(150.0, 26 + span * 0.22);
            QPainterPath path(QPointF(xFrom, yBase));
            path.cubicTo(QPointF(xFrom, yBase + depth), QPointF(xTo, yBase + depth), QPointF(xTo, yBase));
            QColor col = c.highlight;
            const double rel = maxW > 0 ? w[j] / maxW : 0;
            col.setAlphaF(static_cast<float>(0.25 + 0.75 * rel));
            p.setPen(QPen(col, 1.0 + 9.0 * w[j], Qt::SolidLine, Qt::RoundCap));
            p.setBrush(Qt::NoBrush);
            p.drawPath(path);
            if (w[j] >= 0.02 || w.size() <= 12) {
                p.setFont(small);
                p.setPen(c.mutedText);
                p.drawText(QRectF(xFrom - 30, yBase + 2, 60, fms.height()), Qt::AlignCenter,
                           QString::number(w[j], 'f', 3));
            }
        }
    }

    // Error-tracing highlights under the edges: a halo per blamed pair, a ring per blamed position.
    for (int i = 0; i < steps; ++i) {
        const auto& s = trace.steps[static_cast<size_t>(i)];
        const QPointF a = nodeCenter(i), b = nodeCenter(i + 1);
        if (!visible(a.x(), b.x())) continue;
        for (const auto& h : m_edges) {
            if (h.source != s.source || h.target != s.target) continue;
            QColor col = divergingColor(h.weight >= 0 ? 0.9 : -0.9, isDarkPalette());
            col.setAlphaF(0.45F);
            p.setPen(QPen(col, 6 + 10 * std::min(1.0, std::abs(h.weight)), Qt::SolidLine, Qt::RoundCap));
            p.drawLine(QPointF(nodeRect(i).right() + 3, a.y()), QPointF(nodeRect(i + 1).left() - 3, b.y()));
            break;
        }
        for (const auto& h : m_positions) {
            if (h.position != i) continue;
            const QPointF mid((a.x() + b.x()) / 2, kNodeY + kNodeH + 8);
            const double r = 4 + 6 * std::min(1.0, std::abs(h.weight));
            p.setPen(QPen(divergingColor(h.weight >= 0 ? 0.9 : -0.9, isDarkPalette()), 2.2));
            p.setBrush(Qt::NoBrush);
            p.drawEllipse(mid, r, r);
        }
    }

    // Edges with their labels.
    for (int i = 0; i < steps; ++i) {
        const QPointF a = nodeCenter(i), b = nodeCenter(i + 1);
        if (!visible(a.x(), b.x())) continue;
        const auto& s = trace.steps[static_cast<size_t>(i)];
        const double x0 = nodeRect(i).right() + 3, x1 = nodeRect(i + 1).left() - 3;
        const bool sel = i == selected;
        QPen pen(s.shared ? c.shared : c.own, sel ? 3.0 : 1.6, s.shared ? Qt::DashLine : Qt::SolidLine);
        if (sel) pen.setColor(c.selected);
        p.setPen(pen);
        p.drawLine(QPointF(x0, a.y()), QPointF(x1 - 6, b.y()));
        QPainterPath head;
        head.moveTo(x1, b.y());
        head.lineTo(x1 - 8, b.y() - 4.5);
        head.lineTo(x1 - 8, b.y() + 4.5);
        head.closeSubpath();
        p.fillPath(head, pen.color());
        p.setFont(small);
        const QRectF block = edgeLabelRect(i);
        const QStringList lines = edgeLines(s);
        for (int k = 0; k < 4; ++k) {
            p.setPen(k == 0 ? c.text : k == 3 && s.shared ? c.shared : c.mutedText);
            p.drawText(QRectF(block.left(), block.top() + k * m_lineH, block.width(), m_lineH), Qt::AlignCenter,
                       lines[k]);
        }
    }

    // Nodes.
    p.setFont(font());
    for (int i = 0; i < n; ++i) {
        const QPointF ctr = nodeCenter(i);
        if (!visible(ctr.x(), ctr.x())) continue;
        const QRectF r = nodeRect(i);
        const bool prompt = i < user;
        const bool forced = i == m_doc->forcedAt();
        QColor col = prompt ? c.prompt : (forced ? c.forced : c.generated);
        QColor fill = col;
        fill.setAlpha(prompt ? 40 : 70);
        const bool sel = selected >= 0 && (i == selected || i == selected + 1);
        p.setPen(QPen(sel ? c.selected : col, sel ? 2.5 : 1.2));
        p.setBrush(fill);
        p.drawRoundedRect(r, 6, 6);
        p.setPen(c.text);
        p.drawText(r, Qt::AlignCenter,
                   fm.elidedText(model.label(trace.tokens[static_cast<size_t>(i)]), Qt::ElideRight,
                                 static_cast<int>(r.width()) - 8));
        QFont tiny = p.font();
        tiny.setPointSizeF(std::max(6.0, tiny.pointSizeF() * 0.75));
        p.setFont(tiny);
        p.setPen(c.mutedText);
        p.drawText(QRectF(ctr.x() - 30, kNodeY + kNodeH + 1, 60, 14), Qt::AlignCenter, QString::number(i));
        p.setFont(font());
    }
    // The legend, for exports (the view shows it above its scroll area).
    if (withLegend) {
        p.setFont(small);
        p.setPen(c.mutedText);
        p.drawText(QRectF(kMargin, kHeight - fms.height() - 6, 2000, fms.height()), Qt::AlignLeft, legendText());
    }
}

void SignalPathCanvas::mousePressEvent(QMouseEvent* event) {
    const QPoint pos = event->position().toPoint();
    const int e = edgeAt(pos);
    if (e >= 0) {
        m_doc->selectStep(e);
        return;
    }
    const int node = nodeAt(pos);
    if (node >= 0) m_doc->selectStep(std::max(0, node - 1));
}

void SignalPathCanvas::contextMenuEvent(QContextMenuEvent* event) {
    if (!m_doc->hasTrace()) return;
    const int e = edgeAt(event->pos());
    if (e >= 0) {
        const auto& s = m_doc->trace().steps[static_cast<size_t>(e)];
        m_doc->requestEditMenu(s.source, s.target, event->globalPos());
        return;
    }
    const int node = nodeAt(event->pos());
    if (node >= 0) m_doc->requestEditMenu(m_doc->trace().tokens[static_cast<size_t>(node)], -1, event->globalPos());
}

void SignalPathCanvas::setHighlights(const EdgeHighlights& edges, const PositionHighlights& positions) {
    m_edges = edges;
    m_positions = positions;
    update();
}

QList<int> SignalPathCanvas::highlightedSteps() const {
    QList<int> out;
    if (!m_doc->hasTrace()) return out;
    const auto& steps = m_doc->trace().steps;
    for (size_t i = 0; i < steps.size(); ++i)
        for (const auto& h : m_edges)
            if (h.source == steps[i].source && h.target == steps[i].target) {
                out.push_back(static_cast<int>(i));
                break;
            }
    return out;
}

bool SignalPathCanvas::event(QEvent* event) {
    if (event->type() == QEvent::ToolTip && m_doc->hasModel()) {
        auto* he = static_cast<QHelpEvent*>(event);
        const int e = edgeAt(he->pos());
        const auto& model = *m_doc->model();
        const int node = e < 0 ? nodeAt(he->pos()) : -1;
        if (node >= 0) {
            // The full token: long ones are elided in the node.
            const int32_t id = m_doc->trace().tokens[static_cast<size_t>(node)];
            QToolTip::showText(he->globalPos(),
                               tr("<b>%1</b><br>node %2 · position %3 · %4")
                                   .arg(nodeLabel(node).toHtmlEscaped())
                                   .arg(id)
                                   .arg(node)
                                   .arg(node < m_doc->userPromptTokens() ? tr("prompt") : tr("generated")),
                               this);
            return true;
        }
        if (e >= 0) {
            const auto& s = m_doc->trace().steps[static_cast<size_t>(e)];
            QToolTip::showText(
                he->globalPos(),
                tr("<b>%1 → %2</b><br>energy %3<br>probability %4<br>rank %5 of %6<br>%7<br>best: %8 (%9)")
                    .arg(model.label(s.source).toHtmlEscaped(), model.label(s.target).toHtmlEscaped())
                    .arg(s.energy, 0, 'f', 5)
                    .arg(s.probability, 0, 'g', 5)
                    .arg(s.rank)
                    .arg(s.candidates)
                    .arg(s.shared ? tr("shared slot 0") : tr("own slot %1").arg(s.slot))
                    .arg(model.label(s.best).toHtmlEscaped())
                    .arg(s.bestEnergy, 0, 'f', 4),
                this);
            return true;
        }
        QToolTip::hideText();
        return true;
    }
    return QWidget::event(event);
}

SignalPathView::SignalPathView(StudioDocument* doc, QWidget* parent) : QScrollArea(parent), m_doc(doc) {
    m_canvas = new SignalPathCanvas(doc);
    setWidget(m_canvas);
    setWidgetResizable(false);
    setAlignment(Qt::AlignLeft | Qt::AlignTop);
    m_canvas->relayout();
    m_canvas->resize(m_canvas->sizeHint());
    // The legend above the scrolling path: it never scrolls away.
    m_legend = new QLabel(this);
    m_legend->setFont(smallFont(font()));
    m_legend->setContentsMargins(kMargin, 2, 4, 2);
    m_legend->setTextFormat(Qt::PlainText);
    m_legend->setAutoFillBackground(true);
    setViewportMargins(0, m_legend->sizeHint().height(), 0, 0);
    connect(doc, &StudioDocument::traceReset, this, &SignalPathView::refresh);
    connect(doc, &StudioDocument::stepAppended, this, [this] {
        refresh();
        if (m_doc->selectedStep() < 0) horizontalScrollBar()->setValue(horizontalScrollBar()->maximum());
    });
    connect(doc, &StudioDocument::traceFinished, this, &SignalPathView::refresh);
    connect(doc, &StudioDocument::selectionChanged, this, [this] {
        m_canvas->update();
        updateLegend();
        scrollToSelection();
    });
    updateLegend();
}

void SignalPathView::updateLegend() {
    m_legend->setText(m_canvas->legendText());
    m_legend->setToolTip(m_legend->text());
}

void SignalPathView::resizeEvent(QResizeEvent* event) {
    QScrollArea::resizeEvent(event);
    const QRect r = contentsRect();
    m_legend->setGeometry(r.left(), r.top(), r.width(), m_legend->sizeHint().height());
}

void SignalPathView::setHighlightedEdges(const EdgeHighlights& edges) {
    m_canvas->setHighlights(edges, m_canvas->highlightedPositions());
}

void SignalPathView::setHighlightedPositions(const PositionHighlights& positions) {
    m_canvas->setHighlights(m_canvas->highlightedEdges(), positions);
}

void SignalPathView::clearHighlights() {
    m_canvas->setHighlights({}, {});
}

void SignalPathView::refresh() {
    m_canvas->relayout();
    m_canvas->resize(m_canvas->sizeHint().expandedTo(QSize(viewport()->width(), m_canvas->sizeHint().height())));
    m_canvas->update();
    updateLegend();
}

void SignalPathView::scrollToSelection() {
    const int s = m_doc->selectedStep();
    if (s < 0) return;
    // Horizontally only: the labels above the path and the arcs below stay where the user put them.
    const double x0 = m_canvas->nodeRect(s).left(), x1 = m_canvas->nodeRect(s + 1).right();
    QScrollBar* h = horizontalScrollBar();
    const int view = viewport()->width();
    if (x0 < h->value() + 10 || x1 > h->value() + view - 10)
        h->setValue(static_cast<int>(std::clamp((x0 + x1) / 2 - view / 2.0, 0.0, static_cast<double>(h->maximum()))));
}

QSize SignalPathView::exportSize() const {
    return m_canvas->sizeHint();
}

void SignalPathView::renderExport(QPainter& painter) {
    m_canvas->relayout();
    const QRect all(QPoint(0, 0), exportSize());
    painter.fillRect(all, ViewColors::current().background);
    painter.setFont(m_canvas->font());
    m_canvas->paintTo(painter, all, /*withLegend=*/true);
}

} // namespace brillm::viz
