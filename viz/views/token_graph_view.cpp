// SPDX-License-Identifier: GPL-3.0-or-later
#include "views/token_graph_view.h"

#include "common/palette.h"
#include "studio/studio_document.h"
#include "tracing/trace_models.h"
#include "views/graph_layout.h"

#include <QFutureWatcher>
#include <QGraphicsItem>
#include <QGraphicsScene>
#include <QGraphicsSceneContextMenuEvent>
#include <QGraphicsSceneHoverEvent>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QPainter>
#include <QPainterPath>
#include <QPushButton>
#include <QSpinBox>
#include <QStyleOptionGraphicsItem>
#include <QTimer>
#include <QVBoxLayout>
#include <QWheelEvent>
#include <QtConcurrent/QtConcurrentRun>

#include <algorithm>
#include <cmath>

namespace brillm::viz {

// ---------------------------------------------------------------- items

class GraphEdgeItem : public QGraphicsItem {
public:
    GraphEdgeItem(QPainterPath path, QPointF tip, QPointF tipFrom, double width, QColor color, bool dashed)
        : m_path(std::move(path)), m_tip(tip), m_tipFrom(tipFrom), m_width(width), m_color(color), m_dashed(dashed) {
        m_bounds = m_path.boundingRect().united(QRectF(m_tip, QSizeF(1, 1))).adjusted(-14, -14, 14, 14);
        setZValue(0);
        setAcceptHoverEvents(false);
    }
    QRectF boundingRect() const override { return m_bounds; }
    void setHighlighted(bool on) {
        if (on == m_highlighted) return;
        m_highlighted = on;
        setZValue(on ? 2 : 0);
        update();
    }
    bool highlighted() const { return m_highlighted; }
    // Error tracing: a halo in the blame colour, signed weight in [-1, 1]; 0 for none.
    void setBlame(double weight) {
        if (weight == m_blame) return;
        m_blame = weight;
        update();
    }
    double blame() const { return m_blame; }
    void setSelectedStep(bool on) {
        if (on == m_selectedStep) return;
        m_selectedStep = on;
        update();
    }
    void paint(QPainter* p, const QStyleOptionGraphicsItem* option, QWidget*) override {
        const double lod = option->levelOfDetailFromTransform(p->worldTransform());
        const double w = m_highlighted ? m_width + 2 : m_width;
        if (lod * w < 0.25 && !m_highlighted && !m_selectedStep) return; // invisible at this zoom
        const ViewColors c = ViewColors::current();
        if (m_blame != 0) {
            QColor halo = divergingColor(m_blame > 0 ? 0.9 : -0.9, isDarkPalette());
            halo.setAlphaF(0.5F);
            p->setPen(QPen(halo, w + 6 + 10 * std::min(1.0, std::abs(m_blame)), Qt::SolidLine, Qt::RoundCap));
            p->setBrush(Qt::NoBrush);
            p->drawPath(m_path);
        }
        QColor col = m_highlighted ? c.highlight : (m_selectedStep ? c.selected : m_color);
        QPen pen(col, w, m_dashed ? Qt::DashLine : Qt::SolidLine, Qt::RoundCap);
        pen.setCosmetic(false);
        p->setPen(pen);
        p->setBrush(Qt::NoBrush);
        p->drawPath(m_path);
        if (lod > 0.3) {
            const QLineF dir(m_tipFrom, m_tip);
            if (dir.length() > 0.01) {
                const double len = 6 + w;
                QLineF back(m_tip, m_tipFrom);
                back.setLength(len);
                QLineF n = back.normalVector();
                n.setLength(len * 0.45);
                const QPointF base = back.p2();
                const QPointF off = n.p2() - n.p1();
                QPolygonF head{m_tip, base + off, base - off};
                p->setPen(Qt::NoPen);
                p->setBrush(col);
                p->drawPolygon(head);
            }
        }
    }

private:
    QPainterPath m_path;
    QPointF m_tip, m_tipFrom;
    double m_width;
    QColor m_color;
    bool m_dashed;
    bool m_highlighted = false;
    bool m_selectedStep = false;
    double m_blame = 0;
    QRectF m_bounds;
};

class GraphNodeItem : public QGraphicsItem {
public:
    GraphNodeItem(TokenGraphView* view, int index, const TokenGraph::Node& node, QRectF rect, QColor color)
        : m_view(view), m_index(index), m_node(node), m_rect(rect), m_color(color) {
        setAcceptHoverEvents(true);
        setZValue(1);
        setCursor(Qt::PointingHandCursor);
        setToolTip(tooltip());
    }
    QRectF boundingRect() const override { return m_rect.adjusted(-3, -3, 3, 3); }
    const TokenGraph::Node& node() const { return m_node; }
    std::vector<GraphEdgeItem*> in, out;
    void setHighlighted(bool on) {
        if (on == m_highlighted) return;
        m_highlighted = on;
        for (auto* e : in)
            e->setHighlighted(on);
        for (auto* e : out)
            e->setHighlighted(on);
        update();
    }
    void setMark(bool selected, bool found) {
        if (selected == m_selected && found == m_found) return;
        m_selected = selected;
        m_found = found;
        update();
    }
    void paint(QPainter* p, const QStyleOptionGraphicsItem* option, QWidget*) override {
        const double lod = option->levelOfDetailFromTransform(p->worldTransform());
        const ViewColors c = ViewColors::current();
        if (lod * m_rect.width() < 2.0) { // a dot is all one could see
            p->fillRect(m_rect, m_color);
            return;
        }
        QColor fill = m_color;
        fill.setAlpha(m_node.kind == 3 ? 55 : 95);
        QPen pen(m_color, 1.2);
        if (m_found) pen = QPen(c.highlight, 3);
        if (m_selected) pen = QPen(c.selected, 2.6);
        if (m_highlighted) pen = QPen(c.highlight, 2.4);
        if (m_node.kind == 3 && m_node.shared) pen.setStyle(Qt::DashLine);
        p->setPen(pen);
        p->setBrush(fill);
        p->drawRoundedRect(m_rect, 4, 4);
        if (lod < 0.45) return; // labels unreadable: skip the text, the costliest part
        p->setPen(c.text);
        p->setFont(m_view->font());
        p->drawText(m_rect, Qt::AlignCenter, m_node.label);
    }

protected:
    void hoverEnterEvent(QGraphicsSceneHoverEvent*) override { m_view->highlightNode(m_index, true); }
    void hoverLeaveEvent(QGraphicsSceneHoverEvent*) override { m_view->highlightNode(m_index, false); }
    void mousePressEvent(QGraphicsSceneMouseEvent* event) override;
    void contextMenuEvent(QGraphicsSceneContextMenuEvent* event) override {
        event->accept();
        m_view->requestEditMenu(m_index, event->screenPos());
    }

private:
    QString tooltip() const {
        const auto& n = m_node;
        QString s = QStringLiteral("<b>%1</b> (node %2)").arg(n.label.toHtmlEscaped()).arg(n.token);
        if (n.step >= 0)
            s += QStringLiteral("<br>step %1: energy %2, p = %3, rank %4%5%6")
                     .arg(n.step)
                     .arg(n.energy, 0, 'f', 4)
                     .arg(n.probability, 0, 'g', 4)
                     .arg(n.rank)
                     .arg(n.shared ? QStringLiteral(", shared slot") : QString())
                     .arg(n.kind == 3 ? QStringLiteral("<br><i>a candidate not taken</i>") : QString());
        return s;
    }
    TokenGraphView* m_view;
    int m_index;
    TokenGraph::Node m_node;
    QRectF m_rect;
    QColor m_color;
    bool m_highlighted = false, m_selected = false, m_found = false;
};

// ---------------------------------------------------------------- graph

TokenGraph buildTokenGraph(const StudioDocument& doc, int k) {
    TokenGraph g;
    if (!doc.hasModel() || !doc.hasTrace()) return g;
    const auto& model = *doc.model();
    const auto& trace = doc.trace();
    const int64_t user = doc.userPromptTokens();
    const int n = static_cast<int>(trace.tokens.size());
    const int steps = static_cast<int>(trace.steps.size());
    g.minEnergy = std::numeric_limits<double>::infinity();
    g.maxEnergy = -g.minEnergy;
    for (int i = 0; i < n; ++i) {
        TokenGraph::Node node;
        node.token = trace.tokens[static_cast<size_t>(i)];
        node.kind = i < user ? 0 : (i == doc.forcedAt() ? 2 : 1);
        node.step = i - 1;
        node.position = i;
        node.label = model.label(node.token);
        if (i >= 1 && i - 1 < steps) {
            const auto& s = trace.steps[static_cast<size_t>(i - 1)];
            node.energy = s.energy;
            node.probability = s.probability;
            node.rank = s.rank;
            node.shared = s.shared;
        }
        g.nodes.push_back(node);
    }
    for (int i = 0; i < steps && i + 1 < n; ++i) {
        const auto& s = trace.steps[static_cast<size_t>(i)];
        g.edges.push_back({i, i + 1, i, s.energy, true, s.shared});
        for (const auto& c : topCandidates(model.model(), s, k)) {
            if (c.taken) continue;
            TokenGraph::Node node;
            node.token = c.node;
            node.kind = 3;
            node.step = i;
            node.position = i + 1;
            node.energy = c.energy;
            node.probability = c.probability;
            node.rank = c.rank;
            node.shared = c.shared;
            node.label = model.label(c.node);
            g.nodes.push_back(node);
            g.edges.push_back({i, static_cast<int>(g.nodes.size()) - 1, i, c.energy, false, c.shared});
        }
    }
    for (const auto& e : g.edges) {
        g.minEnergy = std::min(g.minEnergy, e.energy);
        g.maxEnergy = std::max(g.maxEnergy, e.energy);
    }
    if (!std::isfinite(g.minEnergy)) g.minEnergy = 0, g.maxEnergy = 1;
    return g;
}

// ---------------------------------------------------------------- canvas

GraphCanvas::GraphCanvas(QWidget* parent) : QGraphicsView(parent) {
    setRenderHints(QPainter::Antialiasing | QPainter::TextAntialiasing);
    setDragMode(QGraphicsView::ScrollHandDrag);
    setTransformationAnchor(QGraphicsView::AnchorUnderMouse);
    setViewportUpdateMode(QGraphicsView::SmartViewportUpdate);
    setOptimizationFlags(QGraphicsView::DontSavePainterState | QGraphicsView::DontAdjustForAntialiasing);
    setCacheMode(QGraphicsView::CacheNone);
}

void GraphCanvas::zoomToFit() {
    if (!scene() || scene()->items().isEmpty()) return;
    const QRectF bounds = scene()->itemsBoundingRect().adjusted(-10, -10, 10, 10);
    const QSizeF view = viewport()->size();
    const double whole = std::min(view.width() / bounds.width(), view.height() / bounds.height());
    // Never blow a small graph up beyond natural size; never squeeze a long one below legibility.
    double s = std::min(whole, 1.5);
    if (s < kMinReadableScale) s = std::clamp(view.height() / bounds.height(), kMinReadableScale, 1.2);
    setTransform(QTransform::fromScale(s, s));
    if (s <= whole + 1e-9) {
        centerOn(bounds.center());
        return;
    }
    // Wider than the view: the focus point (the step in view), else the start of the path.
    const QPointF focus = m_hasFocus && bounds.contains(m_focus)
                              ? m_focus
                              : QPointF(bounds.left() + view.width() / s / 2, bounds.center().y());
    centerOn(QPointF(focus.x(), bounds.height() * s <= view.height() ? bounds.center().y() : focus.y()));
}

void GraphCanvas::zoomBy(double factor) {
    const double s = transform().m11() * factor;
    if (s < 0.01 || s > 20) return;
    scale(factor, factor);
}

void GraphCanvas::wheelEvent(QWheelEvent* event) {
    const double steps = event->angleDelta().y() / 120.0;
    zoomBy(std::pow(1.2, steps));
    event->accept();
}

void GraphCanvas::drawBackground(QPainter* painter, const QRectF& rect) {
    painter->fillRect(rect, ViewColors::current().background);
}

// ---------------------------------------------------------------- view

void GraphNodeItem::mousePressEvent(QGraphicsSceneMouseEvent* event) {
    event->accept();
    m_view->nodeClicked(m_node.step);
    if (m_node.kind == 3 && m_node.step >= 0) m_view->inspectCandidate(m_node.step, m_node.token);
}

TokenGraphView::TokenGraphView(StudioDocument* doc, QWidget* parent) : QWidget(parent), m_doc(doc) {
    QFont f = font();
    f.setPointSizeF(9);
    setFont(f);
    m_scene = new QGraphicsScene(this);
    m_scene->setItemIndexMethod(QGraphicsScene::BspTreeIndex);
    m_view = new GraphCanvas;
    m_view->setScene(m_scene);
    m_k = new QSpinBox;
    m_k->setRange(0, 100);
    m_k->setValue(4);
    m_k->setPrefix(tr("top "));
    m_k->setToolTip(tr("Candidates shown per step besides the token taken"));
    m_search = new QLineEdit;
    m_search->setPlaceholderText(tr("Find token (Enter: next)"));
    m_search->setClearButtonEnabled(true);
    auto* fit = new QPushButton(tr("Fit"));
    fit->setToolTip(tr("Zoom to fit (F)"));
    auto* zin = new QPushButton(QStringLiteral("+"));
    auto* zout = new QPushButton(QStringLiteral("−"));
    for (auto* b : {zin, zout})
        b->setFixedWidth(30);
    m_info = new QLabel;
    auto* bar = new QHBoxLayout;
    bar->addWidget(m_k);
    bar->addWidget(m_search, 1);
    bar->addWidget(zout);
    bar->addWidget(zin);
    bar->addWidget(fit);
    bar->addWidget(m_info);
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(2, 2, 2, 2);
    layout->addLayout(bar);
    layout->addWidget(m_view, 1);

    m_timer = new QTimer(this);
    m_timer->setSingleShot(true);
    m_timer->setInterval(150);
    connect(m_timer, &QTimer::timeout, this, &TokenGraphView::startLayout);
    connect(fit, &QPushButton::clicked, m_view, &GraphCanvas::zoomToFit);
    connect(zin, &QPushButton::clicked, this, [this] { m_view->zoomBy(1.25); });
    connect(zout, &QPushButton::clicked, this, [this] { m_view->zoomBy(0.8); });
    connect(m_search, &QLineEdit::returnPressed, this, [this] { search(m_search->text()); });
    connect(m_search, &QLineEdit::textChanged, this, [this] { m_searchFrom = 0; });
    connect(m_k, &QSpinBox::valueChanged, this, [this] {
        m_fitPending = true;
        scheduleLayout();
    });
    connect(doc, &StudioDocument::traceReset, this, [this] {
        m_fitPending = true;
        scheduleLayout();
    });
    connect(doc, &StudioDocument::stepAppended, this, &TokenGraphView::scheduleLayout);
    connect(doc, &StudioDocument::traceFinished, this, [this] {
        m_fitPending = true;
        startLayout();
    });
    connect(doc, &StudioDocument::selectionChanged, this, &TokenGraphView::updateSelection);
}

void TokenGraphView::nodeClicked(int step) {
    m_doc->selectStep(std::max(0, step));
}

void TokenGraphView::inspectCandidate(int step, int32_t token) {
    if (step >= 0 && step < static_cast<int>(m_doc->trace().steps.size()))
        m_doc->inspectEdge(m_doc->trace().steps[static_cast<size_t>(step)].source, token);
}

void TokenGraphView::setTopK(int k) {
    m_k->setValue(k);
}

void TokenGraphView::scheduleLayout() {
    if (!m_timer->isActive()) m_timer->start();
}

void TokenGraphView::startLayout() {
    m_timer->stop();
    TokenGraph graph = buildTokenGraph(*m_doc, m_k->value());
    const quint64 job = m_jobs.start();
    if (graph.nodes.empty()) {
        m_jobs.invalidate();
        m_scene->clear();
        m_nodes.clear();
        m_edges.clear();
        m_info->clear();
        return;
    }
    const QFontMetricsF fm(font());
    GraphInput input;
    input.nodes.reserve(graph.nodes.size());
    for (const auto& n : graph.nodes)
        input.nodes.push_back({QSizeF(std::max(22.0, fm.horizontalAdvance(n.label) + 12), fm.height() + 8)});
    const double span = std::max(1e-9, graph.maxEnergy - graph.minEnergy);
    for (const auto& e : graph.edges)
        input.edges.push_back({e.from, e.to, e.taken ? 20.0 : 1.0 + 4 * (e.energy - graph.minEnergy) / span});
    input.splines = graph.edges.size() < 3000;
    m_doc->beginViewWork(QStringLiteral("token-graph"));
    auto* watcher = new QFutureWatcher<GraphLayout>(this);
    connect(watcher, &QFutureWatcher<GraphLayout>::finished, this, [this, watcher, job, graph = std::move(graph)] {
        const GraphLayout layout = watcher->result();
        watcher->deleteLater();
        if (m_jobs.accept(job)) {
            m_jobs.invalidate();
            applyLayout(job, graph, layout);
        }
        m_doc->endViewWork(QStringLiteral("token-graph"));
    });
    watcher->setFuture(
        QtConcurrent::run(layoutThreadPool(), [input = std::move(input)] { return layoutGraph(input); }));
}

void TokenGraphView::applyLayout(quint64, const TokenGraph& graph, const GraphLayout& layout) {
    if (!layout.error.isEmpty()) {
        m_info->setText(layout.error);
        return;
    }
    const ViewColors c = ViewColors::current();
    m_scene->clear();
    m_nodes.clear();
    m_edges.clear();
    m_graph = graph;
    m_scene->setSceneRect(layout.bounds.adjusted(-20, -20, 20, 20));
    const QFontMetricsF fm(font());
    const double span = std::max(1e-9, graph.maxEnergy - graph.minEnergy);
    for (size_t i = 0; i < graph.edges.size(); ++i) {
        const auto& e = graph.edges[i];
        const auto& pts = layout.edgePaths[i];
        QPainterPath path;
        QPointF tip, tipFrom;
        if (pts.size() >= 2) {
            path.moveTo(pts[0]);
            size_t nb = pts.size();
            const bool hasTip = nb > 2 && (nb - 1) % 3 != 0;
            if (hasTip) --nb;
            if (nb == 2) {
                path.lineTo(pts[1]);
            } else {
                for (size_t k = 1; k + 2 < nb; k += 3)
                    path.cubicTo(pts[k], pts[k + 1], pts[k + 2]);
            }
            tip = hasTip ? pts.back() : pts[nb - 1];
            tipFrom = hasTip ? pts[nb - 1] : pts[nb - 2];
            if (hasTip) path.lineTo(tip);
        }
        // in [0, 1] also for infinite or NaN energies (a diverged model): an unbounded pen width
        // makes painting take minutes
        double rel = (e.energy - graph.minEnergy) / span;
        rel = std::isfinite(rel) ? std::clamp(rel, 0.0, 1.0) : (e.energy > 0 ? 1.0 : 0.0);
        const double width = e.taken ? 1.5 + 3.5 * rel : 0.6 + 2.4 * rel;
        QColor col = e.taken ? (graph.nodes[static_cast<size_t>(e.to)].kind == 0 ? c.prompt : c.generated) : c.own;
        if (!e.taken) col.setAlpha(150);
        if (e.shared) col = c.shared;
        auto* item = new GraphEdgeItem(path, tip, tipFrom, width, col, e.shared);
        item->setToolTip(QStringLiteral("energy %1").arg(e.energy, 0, 'f', 4));
        m_scene->addItem(item);
        m_edges.push_back(item);
    }
    for (size_t i = 0; i < graph.nodes.size(); ++i) {
        const auto& n = graph.nodes[i];
        const QSizeF size(std::max(22.0, fm.horizontalAdvance(n.label) + 12), fm.height() + 8);
        const QPointF ctr = layout.nodeCenters[i];
        const QColor col = n.kind == 0 ? c.prompt : n.kind == 1 ? c.generated : n.kind == 2 ? c.forced : c.mutedText;
        auto* item = new GraphNodeItem(this, static_cast<int>(i), n,
                                       QRectF(ctr - QPointF(size.width() / 2, size.height() / 2), size), col);
        m_scene->addItem(item);
        m_nodes.push_back(item);
    }
    for (size_t i = 0; i < graph.edges.size(); ++i) {
        m_nodes[static_cast<size_t>(graph.edges[i].from)]->out.push_back(m_edges[i]);
        m_nodes[static_cast<size_t>(graph.edges[i].to)]->in.push_back(m_edges[i]);
    }
    m_info->setText(tr("%1 nodes · %2 edges · layout %3 ms")
                        .arg(graph.nodes.size())
                        .arg(graph.edges.size())
                        .arg(layout.seconds * 1e3, 0, 'f', 0));
    updateSelection();
    applyBlame();
    if (m_fitPending) {
        m_view->zoomToFit();
        m_fitPending = m_doc->isGenerating();
    }
    Q_EMIT layoutFinished();
}

void TokenGraphView::updateSelection() {
    const int step = m_doc->shownStep();
    for (auto* n : m_nodes) {
        const auto& nd = n->node();
        const bool sel =
            step >= 0 && (nd.kind == 3 ? nd.step == step : (nd.position == step || nd.position == step + 1));
        n->setMark(sel, false);
        if (nd.kind != 3 && nd.position == std::max(0, step)) m_view->setFitFocus(n->sceneBoundingRect().center());
    }
    for (size_t i = 0; i < m_edges.size() && i < m_graph.edges.size(); ++i)
        m_edges[i]->setSelectedStep(m_graph.edges[i].taken && m_graph.edges[i].step == step);
}

void TokenGraphView::highlightNode(int node, bool on) {
    if (node >= 0 && node < nodeCount()) m_nodes[static_cast<size_t>(node)]->setHighlighted(on);
}

QString TokenGraphView::nodeToolTip(int i) const {
    return i >= 0 && i < nodeCount() ? m_nodes[static_cast<size_t>(i)]->toolTip() : QString();
}

int TokenGraphView::highlightedEdgeCount() const {
    int n = 0;
    for (auto* e : m_edges)
        n += e->highlighted() ? 1 : 0;
    return n;
}

void TokenGraphView::setHighlightedEdges(const EdgeHighlights& edges) {
    m_blame = edges;
    applyBlame();
}

void TokenGraphView::applyBlame() {
    for (size_t i = 0; i < m_edges.size() && i < m_graph.edges.size(); ++i) {
        const auto& e = m_graph.edges[i];
        const int32_t s = m_graph.nodes[static_cast<size_t>(e.from)].token,
                      t = m_graph.nodes[static_cast<size_t>(e.to)].token;
        double w = 0;
        for (const auto& h : m_blame)
            if (h.source == s && h.target == t) {
                // Never 0 for a listed edge: a tiny effect still shows.
                w = h.weight >= 0 ? std::max(h.weight, 0.05) : std::min(h.weight, -0.05);
                break;
            }
        m_edges[i]->setBlame(w);
    }
}

int TokenGraphView::blamedEdgeCount() const {
    int n = 0;
    for (auto* e : m_edges)
        n += e->blame() != 0 ? 1 : 0;
    return n;
}

void TokenGraphView::requestEditMenu(int node, const QPoint& globalPos) {
    if (node < 0 || node >= nodeCount() || !m_doc->hasTrace()) return;
    const auto& n = m_graph.nodes[static_cast<size_t>(node)];
    const auto& steps = m_doc->trace().steps;
    if (n.step >= 0 && n.step < static_cast<int>(steps.size()))
        m_doc->requestEditMenu(steps[static_cast<size_t>(n.step)].source, n.token, globalPos);
    else
        m_doc->requestEditMenu(n.token, -1, globalPos);
}

bool TokenGraphView::search(const QString& text) {
    if (text.isEmpty() || m_nodes.empty()) return false;
    const int n = nodeCount();
    for (int k = 0; k < n; ++k) {
        const int i = (m_searchFrom + k) % n;
        if (m_nodes[static_cast<size_t>(i)]->node().label.contains(text, Qt::CaseInsensitive)) {
            m_searchFrom = i + 1;
            for (auto* item : m_nodes)
                item->setMark(false, false);
            auto* item = m_nodes[static_cast<size_t>(i)];
            item->setMark(false, true);
            if (m_view->transform().m11() < 0.8) m_view->setTransform(QTransform::fromScale(1, 1));
            m_view->centerOn(item);
            m_info->setText(tr("found “%1” at position %2").arg(item->node().label).arg(item->node().position));
            return true;
        }
    }
    m_info->setText(tr("“%1” not in the graph").arg(text));
    return false;
}

QSize TokenGraphView::exportSize() const {
    const QRectF r = m_scene->itemsBoundingRect();
    if (r.isEmpty()) return {800, 400};
    const double s = std::min(1.0, 4000.0 / std::max(r.width(), r.height()));
    return QSize(static_cast<int>(r.width() * s) + 40, static_cast<int>(r.height() * s) + 40);
}

void TokenGraphView::renderExport(QPainter& painter) {
    const QSize size = exportSize();
    painter.fillRect(QRect(QPoint(0, 0), size), ViewColors::current().background);
    m_scene->render(&painter, QRectF(20, 20, size.width() - 40, size.height() - 40), m_scene->itemsBoundingRect());
}

} // namespace brillm::viz
