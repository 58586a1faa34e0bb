// SPDX-License-Identifier: GPL-3.0-or-later
#include "views/cortex_map_view.h"

#include "views/graph_layout.h"
#include "common/palette.h"
#include "studio/studio_document.h"
#include "tracing/trace_models.h"

#include <QFutureWatcher>
#include <QHBoxLayout>
#include <QLabel>
#include <QMouseEvent>
#include <QPainter>
#include <QSlider>
#include <QStandardPaths>
#include <QStyle>
#include <QTimer>
#include <QToolButton>
#include <QToolTip>
#include <QVBoxLayout>
#include <QtConcurrent/QtConcurrentRun>

#include <cmath>

namespace brillm::viz {

CortexCanvas::CortexCanvas(StudioDocument* doc, QWidget* parent) : QWidget(parent), m_doc(doc) {
    setMouseTracking(true);
    setAttribute(Qt::WA_OpaquePaintEvent);
}

QRectF CortexCanvas::area() const {
    const double side = std::max(10.0, std::min(width() - 150.0, height() - 40.0));
    return {20, 20, side, side};
}

QPointF CortexCanvas::nodePos(int32_t node, const QRectF& a) const {
    const QPointF& p = m_positions[static_cast<size_t>(node)];
    return {a.left() + p.x() * a.width(), a.top() + p.y() * a.height()};
}

int32_t CortexCanvas::nodeAt(QPointF pos, double radius) const {
    if (m_positions.empty()) return -1;
    const QRectF a = area();
    int32_t best = -1;
    double bestD = radius * radius;
    for (size_t i = 0; i < m_positions.size(); ++i) {
        const QPointF d = nodePos(static_cast<int32_t>(i), a) - pos;
        const double dd = d.x() * d.x() + d.y() * d.y();
        if (dd < bestD) {
            bestD = dd;
            best = static_cast<int32_t>(i);
        }
    }
    return best;
}

void CortexCanvas::paintEvent(QPaintEvent*) {
    QPainter p(this);
    p.fillRect(rect(), ViewColors::current().background);
    paintTo(p, area());
}

void CortexCanvas::paintTo(QPainter& p, const QRectF& a) {
    const ViewColors c = ViewColors::current();
    p.setRenderHint(QPainter::Antialiasing);
    if (!m_doc->hasModel()) return;
    if (m_positions.empty()) {
        p.setPen(c.mutedText);
        p.drawText(a, Qt::AlignCenter, tr("Laying out %1 nodes…").arg(m_doc->model()->vocabSize()));
        return;
    }
    const auto& model = *m_doc->model();
    const int step = m_doc->shownStep();
    const TraceStep* s = step >= 0 ? &m_doc->trace().steps[static_cast<size_t>(step)] : nullptr;
    const int64_t V = static_cast<int64_t>(m_positions.size());
    const double r = std::clamp(a.width() / std::sqrt(static_cast<double>(V)) * 0.22, 1.2, 6.0);

    double lo = 0, hi = 1;
    if (s && !s->energies.empty()) {
        lo = std::numeric_limits<double>::infinity();
        hi = -lo;
        for (double e : s->energies)
            if (!std::isnan(e)) lo = std::min(lo, e), hi = std::max(hi, e);
        if (!std::isfinite(lo)) lo = 0, hi = 1;
        if (hi - lo < 1e-12) hi = lo + 1e-12;
    }
    const bool sharedAtTop = s && s->sharedCandidates > 0 && s->sharedEnergy >= s->bestEnergy;
    // Pass 1: everything, cheap. Pass 2 (on top): the highest energies, so they are not hidden.
    std::vector<int32_t> order;
    order.reserve(static_cast<size_t>(V));
    for (int32_t i = 0; i < V; ++i) order.push_back(i);
    if (s && !s->energies.empty())
        std::sort(order.begin(), order.end(), [&](int32_t x, int32_t y) {
            const double ex = std::isnan(s->energies[x]) ? -1e300 : s->energies[x];
            const double ey = std::isnan(s->energies[y]) ? -1e300 : s->energies[y];
            return ex < ey;
        });
    p.setPen(Qt::NoPen);
    const QColor none = c.grid;
    for (int32_t i : order) {
        const QPointF pt = nodePos(i, a);
        if (!s || s->energies.empty() || std::isnan(s->energies[i])) {
            p.setBrush(none);
            p.drawEllipse(pt, r * 0.7, r * 0.7);
            continue;
        }
        const double t = (s->energies[i] - lo) / (hi - lo);
        p.setBrush(energyColor(t));
        if (model.model().edges.isShared(s->source, i)) {
            // Shared slot: every such candidate has the same energy (tied); squares mark them.
            p.setPen(sharedAtTop ? QPen(c.shared, 1.2) : Qt::NoPen);
            p.drawRect(QRectF(pt.x() - r * 0.8, pt.y() - r * 0.8, r * 1.6, r * 1.6));
            p.setPen(Qt::NoPen);
        } else {
            const double rr = r * (0.8 + 0.9 * t);
            p.drawEllipse(pt, rr, rr);
        }
    }
    QFont small = font();
    small.setPointSizeF(std::max(7.0, small.pointSizeF() * 0.9));
    p.setFont(small);
    if (s) {
        // Top candidates labelled; the source and the token taken ringed.
        const auto top = topCandidates(model.model(), *s, 8);
        for (const auto& cand : top) {
            const QPointF pt = nodePos(cand.node, a);
            p.setPen(QPen(c.text, 1));
            p.setBrush(Qt::NoBrush);
            p.drawEllipse(pt, r + 3, r + 3);
            p.drawText(pt + QPointF(r + 5, -r - 2), QStringLiteral("%1 %2").arg(cand.rank).arg(model.label(cand.node)));
        }
        auto ring = [&](int32_t node, const QColor& col, const QString& tag) {
            const QPointF pt = nodePos(node, a);
            p.setPen(QPen(col, 2.5));
            p.setBrush(Qt::NoBrush);
            p.drawEllipse(pt, r + 6, r + 6);
            QFont bold = small;
            bold.setBold(true);
            p.setFont(bold);
            p.setPen(col);
            p.drawText(pt + QPointF(r + 8, r + 12), tag + model.label(node));
            p.setFont(small);
        };
        ring(s->source, c.prompt, tr("from "));
        ring(s->target, c.selected, tr("took "));
    }
    if (m_hover >= 0) {
        const QPointF pt = nodePos(m_hover, a);
        p.setPen(QPen(c.highlight, 2));
        p.setBrush(Qt::NoBrush);
        p.drawEllipse(pt, r + 4, r + 4);
    }
    // Legend: colour bar and the marks.
    const QRectF bar(a.right() + 24, a.top() + 10, 14, std::min(220.0, a.height() - 80));
    for (int y = 0; y < static_cast<int>(bar.height()); ++y)
        p.fillRect(QRectF(bar.left(), bar.bottom() - y - 1, bar.width(), 1), energyColor(y / bar.height()));
    p.setPen(c.text);
    p.drawText(QPointF(bar.right() + 4, bar.top() + 8), s ? QString::number(hi, 'f', 3) : QStringLiteral("high"));
    p.drawText(QPointF(bar.right() + 4, bar.bottom()), s ? QString::number(lo, 'f', 3) : QStringLiteral("low"));
    p.drawText(QPointF(bar.left(), bar.top() - 2), tr("energy"));
    double y = bar.bottom() + 24;
    p.setBrush(energyColor(0.5));
    p.setPen(sharedAtTop ? QPen(c.shared, 1.2) : Qt::NoPen);
    p.drawRect(QRectF(bar.left(), y - 8, 9, 9));
    p.setPen(c.text);
    p.drawText(QPointF(bar.left() + 14, y), tr("shared slot"));
    if (s && s->sharedCandidates > 0) {
        y += 15;
        p.setPen(c.mutedText);
        p.drawText(QPointF(bar.left() + 14, y), tr("%1 tied at %2").arg(s->sharedCandidates).arg(s->sharedEnergy, 0, 'f', 3));
        if (sharedAtTop) {
            y += 15;
            p.setPen(c.shared);
            p.drawText(QPointF(bar.left() + 14, y), tr("tied at the top!"));
        }
    }
    y += 18;
    p.setBrush(energyColor(0.5));
    p.setPen(Qt::NoPen);
    p.drawEllipse(QPointF(bar.left() + 4.5, y - 3.5), 4.5, 4.5);
    p.setPen(c.text);
    p.drawText(QPointF(bar.left() + 14, y), tr("own edge"));
    y += 15;
    p.setBrush(none);
    p.setPen(Qt::NoPen);
    p.drawEllipse(QPointF(bar.left() + 4.5, y - 3.5), 3, 3);
    p.setPen(c.text);
    p.drawText(QPointF(bar.left() + 14, y), tr("not a candidate"));
    if (s) {
        y += 22;
        p.setPen(c.text);
        p.drawText(QPointF(bar.left(), y), tr("step %1").arg(step));
    }
}

void CortexCanvas::mouseMoveEvent(QMouseEvent* event) {
    const int32_t n = nodeAt(event->position());
    if (n != m_hover) {
        m_hover = n;
        update();
    }
    if (n < 0 || !m_doc->hasModel()) {
        QToolTip::hideText();
        return;
    }
    const auto& model = *m_doc->model();
    QString tip = QStringLiteral("<b>%1</b> (node %2)").arg(model.label(n).toHtmlEscaped()).arg(n);
    const int step = m_doc->shownStep();
    if (step >= 0) {
        const auto& s = m_doc->trace().steps[static_cast<size_t>(step)];
        if (!s.energies.empty() && !std::isnan(s.energies[static_cast<size_t>(n)])) {
            int64_t rank = 1;
            const double e = s.energies[static_cast<size_t>(n)];
            for (size_t t = 0; t < s.energies.size(); ++t) {
                const double o = s.energies[t];
                if (!std::isnan(o) && (o > e || (o == e && static_cast<int32_t>(t) < n))) ++rank;
            }
            const bool shared = model.model().edges.isShared(s.source, n);
            tip += tr("<br>step %1 from %2<br>energy %3<br>probability %4<br>rank %5 of %6<br>%7")
                       .arg(step)
                       .arg(model.label(s.source).toHtmlEscaped())
                       .arg(e, 0, 'f', 5)
                       .arg(s.probabilities[static_cast<size_t>(n)], 0, 'g', 4)
                       .arg(rank)
                       .arg(s.candidates)
                       .arg(shared ? tr("shared slot (tied with %1 others)").arg(s.sharedCandidates - 1) : tr("own slot"));
        } else {
            tip += tr("<br>not a candidate at step %1").arg(step);
        }
    }
    QToolTip::showText(event->globalPosition().toPoint(), tip, this);
}

void CortexCanvas::mousePressEvent(QMouseEvent* event) {
    // Clicking a node selects the first step that took it.
    const int32_t n = nodeAt(event->position());
    if (n < 0 || !m_doc->hasTrace()) return;
    const auto& steps = m_doc->trace().steps;
    for (size_t i = 0; i < steps.size(); ++i)
        if (steps[i].target == n) {
            m_doc->selectStep(static_cast<int>(i));
            return;
        }
}

CortexMapView::CortexMapView(StudioDocument* doc, QWidget* parent) : QWidget(parent), m_doc(doc) {
    m_cacheDir = QStandardPaths::writableLocation(QStandardPaths::CacheLocation);
    m_canvas = new CortexCanvas(doc);
    m_play = new QToolButton;
    m_play->setIcon(style()->standardIcon(QStyle::SP_MediaPlay));
    m_play->setToolTip(tr("Play / pause over the steps (Space in this view)"));
    m_play->setCheckable(true);
    m_slider = new QSlider(Qt::Horizontal);
    m_slider->setRange(0, 0);
    m_info = new QLabel;
    auto* bar = new QHBoxLayout;
    bar->addWidget(m_play);
    bar->addWidget(m_slider, 1);
    bar->addWidget(m_info);
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(2, 2, 2, 2);
    layout->addLayout(bar);
    layout->addWidget(m_canvas, 1);
    m_timer = new QTimer(this);
    m_timer->setInterval(450);
    connect(m_timer, &QTimer::timeout, this, &CortexMapView::advance);
    connect(m_play, &QToolButton::toggled, this, &CortexMapView::setPlaying);
    connect(m_slider, &QSlider::valueChanged, this, [this](int v) {
        if (m_doc->hasTrace() && !m_doc->isGenerating()) m_doc->selectStep(v);
    });
    auto repaint = [this] {
        syncSlider();
        m_canvas->update();
    };
    connect(doc, &StudioDocument::modelChanged, this, &CortexMapView::startLayout);
    connect(doc, &StudioDocument::traceReset, this, repaint);
    connect(doc, &StudioDocument::stepAppended, this, repaint);
    connect(doc, &StudioDocument::traceFinished, this, repaint);
    connect(doc, &StudioDocument::selectionChanged, this, repaint);
}

bool CortexMapView::isPlaying() const { return m_timer->isActive(); }

void CortexMapView::setPlaying(bool on) {
    if (on == isPlaying()) return;
    if (on && (!m_doc->hasTrace() || m_doc->isGenerating())) {
        const QSignalBlocker b(m_play);
        m_play->setChecked(false);
        return;
    }
    on ? m_timer->start() : m_timer->stop();
    const QSignalBlocker b(m_play);
    m_play->setChecked(on);
    m_play->setIcon(style()->standardIcon(on ? QStyle::SP_MediaPause : QStyle::SP_MediaPlay));
}

void CortexMapView::advance() {
    const int n = static_cast<int>(m_doc->trace().steps.size());
    if (n == 0) return setPlaying(false);
    m_doc->selectStep((m_doc->shownStep() + 1) % n);
}

void CortexMapView::syncSlider() {
    const QSignalBlocker b(m_slider);
    m_slider->setRange(0, std::max(0, static_cast<int>(m_doc->trace().steps.size()) - 1));
    m_slider->setValue(std::max(0, m_doc->shownStep()));
}

void CortexMapView::startLayout() {
    setPlaying(false);
    m_canvas->setLayout({});
    m_layout = {};
    if (!m_doc->hasModel()) return;
    const quint64 job = m_jobs.start();
    m_info->setText(tr("laying out…"));
    m_doc->beginViewWork(QStringLiteral("cortex-layout"));
    auto* watcher = new QFutureWatcher<CortexLayout>(this);
    connect(watcher, &QFutureWatcher<CortexLayout>::finished, this, [this, watcher, job] {
        CortexLayout layout = watcher->result();
        watcher->deleteLater();
        if (m_jobs.accept(job)) {
            m_jobs.invalidate();
            m_layout = layout;
            m_info->setText(tr("%1 nodes · %2%3").arg(layout.positions.size()).arg(layout.method,
                layout.fromCache ? tr(" (cached)") : tr(" %1 s").arg(layout.seconds, 0, 'f', 1)));
            m_canvas->setLayout(std::move(layout.positions));
            Q_EMIT layoutReady();
        }
        m_doc->endViewWork(QStringLiteral("cortex-layout"));
    });
    watcher->setFuture(QtConcurrent::run(layoutThreadPool(), [model = m_doc->model(), dir = m_cacheDir] { return cortexLayout(*model, dir); }));
}

QSize CortexMapView::exportSize() const { return QSize(760, 620); }

void CortexMapView::renderExport(QPainter& painter) {
    painter.fillRect(QRect(QPoint(0, 0), exportSize()), ViewColors::current().background);
    painter.setFont(m_canvas->font());
    m_canvas->paintTo(painter, QRectF(20, 20, 580, 580));
}

} // namespace brillm::viz
