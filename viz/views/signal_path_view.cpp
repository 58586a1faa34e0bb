// SPDX-License-Identifier: GPL-3.0-or-later
#include "views/signal_path_view.h"

#include "common/palette.h"
#include "studio/studio_document.h"

#include <QContextMenuEvent>
#include <QHelpEvent>
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
constexpr int kSpacing = 118;
constexpr int kNodeY = 92;
constexpr int kNodeH = 30;
constexpr int kHeight = 300;
} // namespace

SignalPathCanvas::SignalPathCanvas(StudioDocument* doc, QWidget* parent) : QWidget(parent), m_doc(doc) {
    setMouseTracking(true);
    setAttribute(Qt::WA_OpaquePaintEvent);
}

QSize SignalPathCanvas::sizeHint() const {
    const int n = m_doc->hasTrace() ? static_cast<int>(m_doc->trace().tokens.size()) : 1;
    return {2 * kMargin + std::max(1, n) * kSpacing, kHeight};
}

QPointF SignalPathCanvas::nodeCenter(int token) const {
    return {kMargin + kSpacing * 0.5 + token * kSpacing, kNodeY + kNodeH / 2.0};
}

int SignalPathCanvas::nodeAt(QPoint pos) const {
    if (!m_doc->hasTrace()) return -1;
    const int n = static_cast<int>(m_doc->trace().tokens.size());
    for (int i = 0; i < n; ++i) {
        const QPointF c = nodeCenter(i);
        if (std::abs(pos.x() - c.x()) < kSpacing * 0.32 && std::abs(pos.y() - c.y()) < kNodeH * 0.6) return i;
    }
    return -1;
}

int SignalPathCanvas::edgeAt(QPoint pos) const {
    if (!m_doc->hasTrace()) return -1;
    const int steps = static_cast<int>(m_doc->trace().steps.size());
    for (int i = 0; i < steps; ++i) {
        const double x0 = nodeCenter(i).x() + kSpacing * 0.3, x1 = nodeCenter(i + 1).x() - kSpacing * 0.3;
        if (pos.x() >= x0 && pos.x() <= x1 && pos.y() > 20 && pos.y() < kNodeY + kNodeH + 4) return i;
    }
    return -1;
}

void SignalPathCanvas::paintEvent(QPaintEvent* event) {
    QPainter p(this);
    p.fillRect(event->rect(), ViewColors::current().background);
    paintTo(p, event->rect());
}

void SignalPathCanvas::paintTo(QPainter& p, const QRect& clip) const {
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
    QFont small = p.font();
    small.setPointSizeF(std::max(6.5, small.pointSizeF() * 0.85));
    const QFontMetrics fms(small);

    auto visible = [&](double x0, double x1) { return x1 >= clip.left() - kSpacing && x0 <= clip.right() + kSpacing; };

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
        p.setFont(small);
        p.setPen(c.mutedText);
        p.drawText(QRectF(kMargin, kHeight - fms.height() - 6, 900, fms.height()), Qt::AlignLeft,
                   tr("arcs: mixing weights of step %1's input over the outputs of edges 0..%2")
                       .arg(selected)
                       .arg(selected - 1));
    } else if (selected == 0) {
        p.setFont(small);
        p.setPen(c.mutedText);
        p.drawText(QRectF(kMargin, kHeight - fms.height() - 6, 900, fms.height()), Qt::AlignLeft,
                   tr("step 0 starts from the initial signal GELU(1/d + node bias + PE[0]): nothing to mix"));
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
            p.drawLine(QPointF(a.x() + kSpacing * 0.3, a.y()), QPointF(b.x() - kSpacing * 0.3, b.y()));
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
        const double x0 = a.x() + kSpacing * 0.32, x1 = b.x() - kSpacing * 0.32;
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
        const double cx = (a.x() + b.x()) / 2;
        const double lh = fms.height();
        p.setPen(c.text);
        p.drawText(QRectF(cx - kSpacing / 2.0, a.y() - 4 * lh - 6, kSpacing, lh), Qt::AlignCenter,
                   QStringLiteral("E %1").arg(s.energy, 0, 'f', 3));
        p.setPen(c.mutedText);
        p.drawText(QRectF(cx - kSpacing / 2.0, a.y() - 3 * lh - 6, kSpacing, lh), Qt::AlignCenter,
                   QStringLiteral("p %1").arg(s.probability, 0, 'g', 3));
        p.drawText(QRectF(cx - kSpacing / 2.0, a.y() - 2 * lh - 6, kSpacing, lh), Qt::AlignCenter,
                   s.rank > 0 ? QStringLiteral("rank %1").arg(s.rank) : QStringLiteral("excluded"));
        p.setPen(s.shared ? c.shared : c.mutedText);
        p.drawText(QRectF(cx - kSpacing / 2.0, a.y() - lh - 4, kSpacing, lh), Qt::AlignCenter,
                   s.shared ? tr("shared slot") : tr("own #%1").arg(s.slot));
    }

    // Nodes.
    p.setFont(font());
    for (int i = 0; i < n; ++i) {
        const QPointF ctr = nodeCenter(i);
        if (!visible(ctr.x(), ctr.x())) continue;
        const QString label = model.label(trace.tokens[static_cast<size_t>(i)]);
        const double w = std::min<double>(kSpacing * 0.62, fm.horizontalAdvance(label) + 14);
        const QRectF r(ctr.x() - w / 2, kNodeY, w, kNodeH);
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
        p.drawText(r, Qt::AlignCenter, fm.elidedText(label, Qt::ElideRight, static_cast<int>(w) - 6));
        QFont tiny = p.font();
        tiny.setPointSizeF(std::max(6.0, tiny.pointSizeF() * 0.75));
        p.setFont(tiny);
        p.setPen(c.mutedText);
        p.drawText(QRectF(ctr.x() - 30, kNodeY + kNodeH + 1, 60, 14), Qt::AlignCenter, QString::number(i));
        p.setFont(font());
    }
    // Legend.
    p.setFont(small);
    p.setPen(c.mutedText);
    p.drawText(QRectF(kMargin, 4, 900, fms.height()), Qt::AlignLeft,
               tr("edge labels: energy, probability, rank among the candidates, slot  ·  dashed red: shared slot"));
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
        if (e >= 0) {
            const auto& s = m_doc->trace().steps[static_cast<size_t>(e)];
            QToolTip::showText(he->globalPos(),
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
    m_canvas->resize(m_canvas->sizeHint());
    connect(doc, &StudioDocument::traceReset, this, &SignalPathView::refresh);
    connect(doc, &StudioDocument::stepAppended, this, [this] {
        refresh();
        if (m_doc->selectedStep() < 0) horizontalScrollBar()->setValue(horizontalScrollBar()->maximum());
    });
    connect(doc, &StudioDocument::traceFinished, this, &SignalPathView::refresh);
    connect(doc, &StudioDocument::selectionChanged, this, [this] {
        m_canvas->update();
        scrollToSelection();
    });
}

void SignalPathView::setHighlightedEdges(const EdgeHighlights& edges) {
    m_canvas->setHighlights(edges, m_canvas->highlightedPositions());
}

void SignalPathView::setHighlightedPositions(const PositionHighlights& positions) {
    m_canvas->setHighlights(m_canvas->highlightedEdges(), positions);
}

void SignalPathView::clearHighlights() { m_canvas->setHighlights({}, {}); }

void SignalPathView::refresh() {
    m_canvas->resize(m_canvas->sizeHint().expandedTo(QSize(viewport()->width(), kHeight)));
    m_canvas->update();
}

void SignalPathView::scrollToSelection() {
    const int s = m_doc->selectedStep();
    if (s < 0) return;
    const QPointF a = m_canvas->nodeCenter(s), b = m_canvas->nodeCenter(s + 1);
    ensureVisible(static_cast<int>((a.x() + b.x()) / 2), kNodeY, kSpacing * 2, 20);
}

QSize SignalPathView::exportSize() const { return m_canvas->sizeHint(); }

void SignalPathView::renderExport(QPainter& painter) {
    const QRect all(QPoint(0, 0), exportSize());
    painter.fillRect(all, ViewColors::current().background);
    painter.setFont(m_canvas->font());
    m_canvas->paintTo(painter, all);
}

} // namespace brillm::viz
