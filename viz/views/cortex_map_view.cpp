// SPDX-License-Identifier: GPL-3.0-or-later
#include "views/cortex_map_view.h"

#include "common/label_placer.h"
#include "common/palette.h"
#include "studio/studio_document.h"
#include "views/graph_layout.h"

#include <QComboBox>
#include <QFutureWatcher>
#include <QHBoxLayout>
#include <QKeyEvent>
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
#include <QWheelEvent>
#include <QtConcurrent/QtConcurrentRun>

#include <cmath>

namespace brillm::viz {

namespace {
constexpr double kLegendWidth = 176;
constexpr double kMinZoom = 0.5, kMaxZoom = 400;

QTransform transformFor(const QRectF& bounds, const QRectF& area, double zoom, QPointF pan) {
    const double bw = std::max(bounds.width(), 1e-9), bh = std::max(bounds.height(), 1e-9);
    const double s = std::min(area.width() / bw, area.height() / bh) * 0.94 * zoom;
    QTransform t;
    t.translate(area.center().x() + pan.x(), area.center().y() + pan.y());
    t.scale(s, s);
    t.translate(-bounds.center().x(), -bounds.center().y());
    return t;
}
} // namespace

CortexCanvas::CortexCanvas(StudioDocument* doc, QWidget* parent) : QWidget(parent), m_doc(doc) {
    setMouseTracking(true);
    setFocusPolicy(Qt::StrongFocus); // clicks give the dock focus: Ctrl+Shift+M then maximises this view
    setAttribute(Qt::WA_OpaquePaintEvent);
}

void CortexCanvas::setLayout(std::vector<QPointF> positions) {
    m_positions = std::move(positions);
    m_sceneDirty = true;
    update();
}

void CortexCanvas::setMode(Mode mode) {
    if (mode == m_mode) return;
    m_mode = mode;
    m_sceneDirty = true;
    fitView();
}

const CortexScene& CortexCanvas::scene() const {
    const int step = m_doc->hasTrace() ? m_doc->shownStep() : -1;
    if (!m_sceneDirty && step == m_sceneStep) return m_scene;
    m_sceneDirty = false;
    m_sceneStep = step;
    m_scene = {};
    if (!m_doc->hasModel() || step < 0 || step >= static_cast<int>(m_doc->trace().steps.size())) return m_scene;
    const auto& s = m_doc->trace().steps[static_cast<size_t>(step)];
    const Model& model = m_doc->model()->model();
    if (m_mode == Mode::Ranked) {
        m_scene = rankedCortexScene(model, s);
    } else if (!m_positions.empty()) {
        m_scene = mapCortexScene(model, s, m_positions);
    }
    return m_scene;
}

QRectF CortexCanvas::mapArea() const {
    const double legend = width() > 420 ? kLegendWidth : 0;
    return {6, 6, std::max(20.0, width() - legend - 12), std::max(20.0, height() - 12.0)};
}

QTransform CortexCanvas::viewTransform(const QRectF& area) const {
    return transformFor(scene().bounds, area, m_zoom, m_pan);
}

void CortexCanvas::zoomBy(double factor, QPointF anchor) {
    const double z = std::clamp(m_zoom * factor, kMinZoom, kMaxZoom);
    const double f = z / m_zoom;
    if (std::abs(f - 1) < 1e-12) return;
    const QPointF c = mapArea().center();
    m_pan = (anchor - c) - f * (anchor - c - m_pan);
    m_zoom = z;
    update();
    Q_EMIT viewChanged();
}

void CortexCanvas::fitView() {
    m_zoom = 1;
    m_pan = {};
    update();
    Q_EMIT viewChanged();
}

std::optional<QPointF> CortexCanvas::markCenter(int32_t node) const {
    const auto& sc = scene();
    const QTransform t = viewTransform();
    for (const auto& it : sc.items)
        if (it.node == node) return t.map(it.pos);
    return std::nullopt;
}

double CortexCanvas::markRadius(const CortexItem& it, double scale) {
    if (it.node < 0) return std::max(it.radius * scale, 10.0);
    return std::clamp(it.radius * scale, 2.5, it.source ? 16.0 : 12.0);
}

int CortexCanvas::itemAt(QPointF pos) const {
    const auto& sc = scene();
    if (sc.items.empty() || !mapArea().contains(pos)) return -1;
    const QTransform t = viewTransform();
    const double s = t.m11();
    int best = -1;
    double bestD = std::numeric_limits<double>::infinity();
    for (size_t i = 0; i < sc.items.size(); ++i) {
        const auto& it = sc.items[i];
        const double r = std::max(markRadius(it, s), 3.0) + 3;
        const QPointF d = t.map(it.pos) - pos;
        const double dd = std::hypot(d.x(), d.y());
        if (dd <= r && dd - r < bestD) {
            bestD = dd - r;
            best = static_cast<int>(i);
        }
    }
    return best;
}

int32_t CortexCanvas::nodeAt(QPointF pos, double) const {
    const int i = itemAt(pos);
    return i < 0 ? -1 : scene().items[static_cast<size_t>(i)].node;
}

QString CortexCanvas::itemLabel(const CortexItem& it) const {
    const auto& model = *m_doc->model();
    if (it.node < 0) return tr("shared slot: %1 tied · p %2 in all").arg(it.count).arg(it.probability, 0, 'g', 3);
    if (it.source) return tr("from %1").arg(model.label(it.node));
    if (it.taken) return tr("took %1 %2").arg(it.rank).arg(model.label(it.node));
    return QStringLiteral("%1 %2").arg(it.rank).arg(model.label(it.node));
}

QString CortexCanvas::itemToolTip(const CortexItem& it) const {
    const auto& model = *m_doc->model();
    const int step = m_doc->shownStep();
    if (it.node < 0)
        return tr("<b>shared slot 0</b>: %1 candidates tied at energy %2<br>together probability %3 (each %4)<br>"
                  "ranks %5 to %6%7<br><i>pairs never seen in training share this one matrix</i>")
            .arg(it.count)
            .arg(it.energy, 0, 'f', 5)
            .arg(it.probability, 0, 'g', 4)
            .arg(it.probability / static_cast<double>(std::max<int64_t>(1, it.count)), 0, 'g', 4)
            .arg(it.rank)
            .arg(it.rank + it.count - 1)
            .arg(it.taken ? tr("<br><b>the token taken is one of them</b>") : QString());
    QString tip = QStringLiteral("<b>%1</b> (node %2)").arg(model.label(it.node).toHtmlEscaped()).arg(it.node);
    if (it.source) return tip + tr("<br>the source of step %1").arg(step);
    const auto& s = m_doc->trace().steps[static_cast<size_t>(step)];
    return tip + tr("<br>step %1 from %2<br>energy %3<br>probability %4<br>rank %5 of %6<br>own slot %7%8")
                     .arg(step)
                     .arg(model.label(s.source).toHtmlEscaped())
                     .arg(it.energy, 0, 'f', 5)
                     .arg(it.probability, 0, 'g', 4)
                     .arg(it.rank)
                     .arg(s.candidates)
                     .arg(model.model().edges.slot(s.source, it.node))
                     .arg(it.taken ? tr("<br><b>taken</b>") : QString());
}

void CortexCanvas::paintEvent(QPaintEvent*) {
    QPainter p(this);
    p.fillRect(rect(), ViewColors::current().background);
    paintTo(p, mapArea());
}

void CortexCanvas::paintTo(QPainter& p, const QRectF& a, bool fitted) {
    const ViewColors c = ViewColors::current();
    p.setRenderHint(QPainter::Antialiasing);
    m_labelRects.clear();
    m_labelTexts.clear();
    if (!m_doc->hasModel()) return;
    const CortexScene& sc = scene();
    if (sc.items.empty()) {
        p.setPen(c.mutedText);
        const bool waiting = m_mode == Mode::Map && m_positions.empty();
        p.drawText(a, Qt::AlignCenter,
                   waiting ? tr("Laying out %1 nodes…").arg(m_doc->model()->vocabSize())
                           : tr("No step to show: complete a prompt."));
        return;
    }
    const QTransform t = fitted ? transformFor(sc.bounds, a, 1, {}) : viewTransform(a);
    const double s = t.m11();
    p.save();
    p.setClipRect(a);
    // The vocabulary map: every node a faint dot under the candidates.
    if (m_mode == Mode::Map) {
        p.setPen(Qt::NoPen);
        p.setBrush(c.grid);
        const double r = std::clamp(0.25 / std::sqrt(static_cast<double>(m_positions.size())) * s, 0.8, 3.0);
        for (const auto& q : m_positions) {
            const QPointF pt = t.map(q);
            if (a.contains(pt)) p.drawEllipse(pt, r, r);
        }
    }
    auto colorOf = [&](double e) { return energyColor(std::clamp((e - sc.lo) / (sc.hi - sc.lo), 0.0, 1.0)); };
    std::vector<QRectF> marks;
    marks.reserve(sc.items.size());
    // Lowest priority first, so that the best candidates are on top.
    for (auto i = static_cast<int64_t>(sc.items.size()) - 1; i >= 0; --i) {
        const auto& it = sc.items[static_cast<size_t>(i)];
        const QPointF pt = t.map(it.pos);
        const double r = markRadius(it, s);
        const QRectF box(pt.x() - r, pt.y() - r, 2 * r, 2 * r);
        if (!box.intersects(a)) continue;
        marks.push_back(box);
        if (it.node < 0) {
            QColor fill = colorOf(it.energy);
            fill.setAlpha(225);
            p.setBrush(fill);
            p.setPen(QPen(c.shared, 2, Qt::DashLine));
            p.drawEllipse(pt, r, r);
            if (r > 26) {
                QFont f = font();
                f.setBold(true);
                p.setFont(f);
                p.setPen(c.text);
                p.drawText(box, Qt::AlignCenter, tr("×%1").arg(it.count));
            }
        } else if (it.source) {
            QColor fill = c.prompt;
            fill.setAlpha(90);
            p.setBrush(fill);
            p.setPen(QPen(c.prompt, 2.5));
            p.drawEllipse(pt, r, r);
        } else {
            p.setBrush(colorOf(it.energy));
            p.setPen(QPen(c.background.lighter(120), r > 5 ? 1.0 : 0.0));
            p.drawEllipse(pt, r, r);
        }
        if (it.taken) {
            p.setBrush(Qt::NoBrush);
            p.setPen(QPen(c.selected, 2.5));
            p.drawEllipse(pt, r + 4, r + 4);
            marks.back().adjust(-4, -4, 4, 4);
        }
        if (i == m_hover) {
            p.setBrush(Qt::NoBrush);
            p.setPen(QPen(c.highlight, 2));
            p.drawEllipse(pt, r + 2.5, r + 2.5);
        }
    }
    // Labels in priority order; each one takes the first free place around its mark, or none.
    QFont small = font();
    small.setPointSizeF(std::max(7.0, small.pointSizeF() * 0.9));
    QFont bold = small;
    bold.setBold(true);
    const QFontMetricsF fm(small), fmb(bold);
    std::vector<LabelRequest> req;
    std::vector<size_t> reqItem;
    QStringList texts;
    for (size_t i = 0; i < sc.items.size() && req.size() < 2000; ++i) {
        const auto& it = sc.items[i];
        const QPointF pt = t.map(it.pos);
        if (!a.contains(pt)) continue;
        const double r = markRadius(it, s) + (it.taken ? 4 : 0);
        const QString text = itemLabel(it);
        const bool strong = it.source || it.taken || it.node < 0;
        req.push_back({pt, r + 3, QSizeF((strong ? fmb : fm).horizontalAdvance(text) + 4, fm.height()), strong});
        reqItem.push_back(i);
        texts << text;
    }
    const auto boxes = placeLabels(req, marks, a, 600);
    for (size_t k = 0; k < boxes.size(); ++k) {
        if (boxes[k].isNull()) continue;
        const auto& it = sc.items[reqItem[k]];
        const bool strong = it.source || it.taken || it.node < 0;
        // A label placed further out gets a leader line to its mark.
        const QPointF anchor = req[k].anchor;
        const QPointF near(std::clamp(anchor.x(), boxes[k].left(), boxes[k].right()),
                           std::clamp(anchor.y(), boxes[k].top(), boxes[k].bottom()));
        const QLineF leader(anchor, near);
        if (leader.length() > req[k].gap + 4) {
            p.setPen(QPen(c.mutedText, 1));
            p.drawLine(leader.pointAt(req[k].gap / leader.length()), near);
        }
        p.setFont(strong ? bold : small);
        p.setPen(it.source ? c.prompt : it.taken ? c.selected : it.node < 0 ? c.shared : c.text);
        p.drawText(boxes[k], Qt::AlignCenter, texts[static_cast<int>(k)]);
        m_labelRects.push_back(boxes[k]);
        m_labelTexts << texts[static_cast<int>(k)];
    }
    p.restore();
    if (width() > 420 || fitted) paintLegend(p, a, sc);
}

void CortexCanvas::paintLegend(QPainter& p, const QRectF& a, const CortexScene& sc) const {
    const ViewColors c = ViewColors::current();
    QFont small = font();
    small.setPointSizeF(std::max(7.0, small.pointSizeF() * 0.9));
    p.setFont(small);
    const QFontMetricsF fm(small);
    const double x = a.right() + 14, lh = fm.height() + 3;
    double y = a.top() + lh;
    auto line = [&](const QColor& col, const QString& text, double indent = 0) {
        p.setPen(col);
        p.drawText(QRectF(x + indent, y - fm.ascent(), kLegendWidth - 16 - indent, lh),
                   Qt::AlignLeft | Qt::TextSingleLine, fm.elidedText(text, Qt::ElideRight, kLegendWidth - 16 - indent));
        y += lh;
    };
    line(c.text, tr("energy of the edge"));
    const QRectF bar(x, y - fm.ascent() + 2, 12, std::clamp(a.height() * 0.25, 60.0, 160.0));
    for (int k = 0; k < static_cast<int>(bar.height()); ++k)
        p.fillRect(QRectF(bar.left(), bar.bottom() - k - 1, bar.width(), 1), energyColor(k / bar.height()));
    p.setPen(c.text);
    p.drawText(QPointF(bar.right() + 5, bar.top() + fm.ascent()), QString::number(sc.hi, 'f', 3));
    p.drawText(QPointF(bar.right() + 5, bar.bottom()), QString::number(sc.lo, 'f', 3));
    y = bar.bottom() + 2 * lh;
    auto mark = [&](auto draw, const QString& text) {
        draw(QPointF(x + 6, y - fm.ascent() / 2 + 1));
        line(c.text, text, 18);
    };
    p.setRenderHint(QPainter::Antialiasing);
    mark(
        [&](QPointF q) {
            p.setPen(Qt::NoPen);
            p.setBrush(energyColor(0.7));
            p.drawEllipse(q, 5, 5);
        },
        tr("own-slot candidate"));
    mark(
        [&](QPointF q) {
            p.setPen(QPen(c.shared, 1.5, Qt::DashLine));
            p.setBrush(Qt::NoBrush);
            p.drawEllipse(q, 6, 6);
        },
        tr("shared slot, all tied"));
    mark(
        [&](QPointF q) {
            p.setPen(QPen(c.prompt, 2));
            p.setBrush(Qt::NoBrush);
            p.drawEllipse(q, 5, 5);
        },
        tr("source (from)"));
    mark(
        [&](QPointF q) {
            p.setPen(QPen(c.selected, 2));
            p.setBrush(Qt::NoBrush);
            p.drawEllipse(q, 5, 5);
        },
        tr("token taken"));
    y += lh / 2;
    line(c.mutedText, tr("label: rank, token"));
    if (sc.ownShown < sc.ownCandidates)
        line(c.mutedText, tr("%1 of %2 own-slot shown").arg(sc.ownShown).arg(sc.ownCandidates));
    else
        line(c.mutedText, tr("%1 own-slot candidates").arg(sc.ownCandidates));
    if (sc.aggregate >= 0) {
        const auto& ag = sc.items[static_cast<size_t>(sc.aggregate)];
        line(c.shared, tr("%1 shared, p %2 in all").arg(ag.count).arg(ag.probability, 0, 'g', 3));
        if (ag.rank == 1) line(c.shared, tr("tied at the top!"));
    }
    y += lh / 2;
    line(c.mutedText, tr("zoom ×%1 · %2 labels").arg(m_zoom, 0, 'g', 3).arg(m_labelRects.size()));
    line(c.mutedText, tr("wheel, +/−: zoom; drag: pan"));
    line(c.mutedText, tr("0: fit; click: inspect edge"));
}

void CortexCanvas::mouseMoveEvent(QMouseEvent* event) {
    if (m_pressed && (event->buttons() & Qt::LeftButton)) {
        const QPointF d = event->position() - m_pressPos;
        if (m_dragged || std::abs(d.x()) + std::abs(d.y()) > 4) {
            m_dragged = true;
            setCursor(Qt::ClosedHandCursor);
            m_pan = m_panAtPress + d;
            update();
            Q_EMIT viewChanged();
            return;
        }
    }
    const int i = itemAt(event->position());
    if (i != m_hover) {
        m_hover = i;
        update();
    }
    if (i < 0 || !m_doc->hasModel()) {
        QToolTip::hideText();
        return;
    }
    QToolTip::showText(event->globalPosition().toPoint(), itemToolTip(scene().items[static_cast<size_t>(i)]), this);
}

void CortexCanvas::mousePressEvent(QMouseEvent* event) {
    if (event->button() != Qt::LeftButton) return;
    m_pressed = true;
    m_dragged = false;
    m_pressPos = event->position();
    m_panAtPress = m_pan;
}

void CortexCanvas::mouseReleaseEvent(QMouseEvent* event) {
    if (event->button() != Qt::LeftButton || !m_pressed) return;
    m_pressed = false;
    unsetCursor();
    if (m_dragged) return;
    // A click on a candidate shows its edge from the step's source in the edge inspector.
    const int i = itemAt(event->position());
    if (i < 0 || !m_doc->hasTrace()) return;
    const auto& it = scene().items[static_cast<size_t>(i)];
    const int step = m_doc->shownStep();
    if (it.node >= 0 && !it.source && step >= 0)
        m_doc->inspectEdge(m_doc->trace().steps[static_cast<size_t>(step)].source, it.node);
}

void CortexCanvas::wheelEvent(QWheelEvent* event) {
    const double steps = event->angleDelta().y() / 120.0;
    if (steps != 0) zoomBy(std::pow(1.25, steps), event->position());
    event->accept();
}

void CortexCanvas::keyPressEvent(QKeyEvent* event) {
    switch (event->key()) {
    case Qt::Key_Plus:
    case Qt::Key_Equal:
        zoomBy(1.25);
        break;
    case Qt::Key_Minus:
        zoomBy(0.8);
        break;
    case Qt::Key_0:
    case Qt::Key_F:
        fitView();
        break;
    case Qt::Key_Space:
        if (auto* v = qobject_cast<CortexMapView*>(parentWidget())) v->togglePlaying();
        break;
    default:
        QWidget::keyPressEvent(event);
        return;
    }
    event->accept();
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
    m_mode = new QComboBox;
    m_mode->addItem(tr("ranked by energy"));
    m_mode->addItem(tr("vocabulary map"));
    m_mode->setToolTip(tr("Ranked: the step's own-slot candidates on a spiral, best nearest the source.\n"
                          "Vocabulary map: every node at a fixed place (nodes that share trained edges are close)."));
    auto tool = [this](const QString& text, const QString& tip) {
        auto* b = new QToolButton;
        b->setText(text);
        b->setToolTip(tip);
        b->setAutoRaise(true);
        return b;
    };
    auto* out = tool(QStringLiteral("−"), tr("Zoom out (− in the map, or the wheel)"));
    auto* in = tool(QStringLiteral("+"), tr("Zoom in (+ in the map, or the wheel)"));
    auto* fit = tool(tr("Fit"), tr("Show the whole map (0 in the map)"));
    m_info = new QLabel;
    auto* bar = new QHBoxLayout;
    bar->addWidget(m_play);
    bar->addWidget(m_slider, 1);
    bar->addWidget(m_mode);
    bar->addWidget(out);
    bar->addWidget(in);
    bar->addWidget(fit);
    bar->addWidget(m_info);
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(2, 2, 2, 2);
    layout->addLayout(bar);
    layout->addWidget(m_canvas, 1);
    m_timer = new QTimer(this);
    m_timer->setInterval(450);
    connect(m_timer, &QTimer::timeout, this, &CortexMapView::advance);
    connect(m_play, &QToolButton::toggled, this, &CortexMapView::setPlaying);
    connect(out, &QToolButton::clicked, m_canvas, [this] { m_canvas->zoomBy(0.8); });
    connect(in, &QToolButton::clicked, m_canvas, [this] { m_canvas->zoomBy(1.25); });
    connect(fit, &QToolButton::clicked, m_canvas, &CortexCanvas::fitView);
    connect(m_mode, &QComboBox::currentIndexChanged, this, [this](int i) {
        m_canvas->setMode(i == 1 ? CortexCanvas::Mode::Map : CortexCanvas::Mode::Ranked);
        updateInfo();
    });
    connect(m_slider, &QSlider::valueChanged, this, [this](int v) {
        if (m_doc->hasTrace() && !m_doc->isGenerating()) m_doc->selectStep(v);
    });
    auto repaint = [this] {
        m_canvas->m_sceneDirty = true;
        syncSlider();
        m_canvas->update();
    };
    connect(doc, &StudioDocument::modelChanged, this, &CortexMapView::startLayout);
    connect(doc, &StudioDocument::traceReset, this, repaint);
    connect(doc, &StudioDocument::stepAppended, this, repaint);
    connect(doc, &StudioDocument::traceFinished, this, repaint);
    connect(doc, &StudioDocument::selectionChanged, this, repaint);
}

bool CortexMapView::isPlaying() const {
    return m_timer->isActive();
}

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

void CortexMapView::updateInfo() {
    if (m_canvas->mode() == CortexCanvas::Mode::Map)
        m_info->setText(m_layoutNote);
    else
        m_info->setText(m_doc->hasModel() ? tr("%1 nodes").arg(m_doc->model()->vocabSize()) : QString());
}

void CortexMapView::startLayout() {
    setPlaying(false);
    m_canvas->setLayout({});
    m_canvas->fitView();
    m_layout = {};
    m_layoutNote.clear();
    updateInfo();
    if (!m_doc->hasModel()) return;
    const quint64 job = m_jobs.start();
    m_layoutNote = tr("laying out…");
    updateInfo();
    m_doc->beginViewWork(QStringLiteral("cortex-layout"));
    auto* watcher = new QFutureWatcher<CortexLayout>(this);
    connect(watcher, &QFutureWatcher<CortexLayout>::finished, this, [this, watcher, job] {
        CortexLayout layout = watcher->result();
        watcher->deleteLater();
        if (m_jobs.accept(job)) {
            m_jobs.invalidate();
            m_layout = layout;
            m_layoutNote = tr("%1 nodes · %2%3")
                               .arg(layout.positions.size())
                               .arg(layout.method,
                                    layout.fromCache ? tr(" (cached)") : tr(" %1 s").arg(layout.seconds, 0, 'f', 1));
            updateInfo();
            m_canvas->setLayout(std::move(layout.positions));
            Q_EMIT layoutReady();
        }
        m_doc->endViewWork(QStringLiteral("cortex-layout"));
    });
    watcher->setFuture(QtConcurrent::run(
        layoutThreadPool(), [model = m_doc->model(), dir = m_cacheDir] { return cortexLayout(*model, dir); }));
}

QSize CortexMapView::exportSize() const {
    return QSize(900, 640);
}

void CortexMapView::renderExport(QPainter& painter) {
    painter.fillRect(QRect(QPoint(0, 0), exportSize()), ViewColors::current().background);
    painter.setFont(m_canvas->font());
    m_canvas->paintTo(painter, QRectF(10, 10, exportSize().width() - kLegendWidth - 20, exportSize().height() - 20),
                      true);
}

} // namespace brillm::viz
