// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// TokenGraphView: the path plus the top-K candidates of every step, laid out by Graphviz
// "dot" on a worker thread (stale layouts dropped), drawn in a QGraphicsView: wheel zoom,
// drag pan, zoom to fit, search a token and jump to it, hover highlights a node's in- and
// out-edges, edge width by energy. Labels are hidden when zoomed out and tiny items are not
// drawn, so thousands of items stay fluid.

#include "common/exportable_view.h"
#include "studio/job_tracker.h"
#include "tracing/blame_highlight.h"
#include "views/graph_layout.h"

#include <QGraphicsView>
#include <QPointer>
#include <QWidget>

#include <vector>

class QLabel;
class QLineEdit;
class QSpinBox;
class QTimer;
class QGraphicsScene;

namespace brillm::viz {

class StudioDocument;
class GraphNodeItem;
class GraphEdgeItem;

// What the graph shows, before layout: one node per path position and per candidate.
struct TokenGraph {
    struct Node {
        int32_t token = 0;
        int kind = 0;  // 0 prompt, 1 generated, 2 picked by hand, 3 candidate
        int step = -1; // the step that produced it (-1 for the first token)
        int position = 0;
        double energy = 0;
        double probability = 0;
        int64_t rank = 0;
        bool shared = false;
        QString label;
    };
    struct Edge {
        int from = 0, to = 0;
        int step = 0;
        double energy = 0;
        bool taken = false;
        bool shared = false;
    };
    std::vector<Node> nodes;
    std::vector<Edge> edges;
    double minEnergy = 0, maxEnergy = 1;
};
TokenGraph buildTokenGraph(const StudioDocument& doc, int k);

class GraphCanvas : public QGraphicsView {
    Q_OBJECT
public:
    explicit GraphCanvas(QWidget* parent = nullptr);
    // Fits the graph, but never below a readable scale (labels at least ~7 pt): a long path is
    // fitted to the height and scrolls horizontally, showing the focus point (setFitFocus).
    void zoomToFit();
    void zoomBy(double factor);
    void setFitFocus(QPointF scenePos) {
        m_focus = scenePos;
        m_hasFocus = true;
    }
    static constexpr double kMinReadableScale = 0.8;

protected:
    void wheelEvent(QWheelEvent* event) override;
    void drawBackground(QPainter* painter, const QRectF& rect) override;

private:
    QPointF m_focus;
    bool m_hasFocus = false;
};

class TokenGraphView : public QWidget, public ExportableView {
    Q_OBJECT
public:
    explicit TokenGraphView(StudioDocument* doc, QWidget* parent = nullptr);
    void setTopK(int k);
    QGraphicsScene* scene() const { return m_scene; }
    GraphCanvas* canvas() const { return m_view; }
    bool isLayingOut() const { return m_jobs.current() != 0; }
    const JobTracker& jobs() const { return m_jobs; }
    // Finds the next node whose label contains text, centres it and selects its step.
    bool search(const QString& text);
    void nodeClicked(int step);
    void inspectCandidate(int step, int32_t token);
    // Hover highlight, as the mouse does it (tests).
    void highlightNode(int node, bool on);
    int nodeCount() const { return static_cast<int>(m_nodes.size()); }
    QString nodeToolTip(int i) const;
    int highlightedEdgeCount() const;
    // Error tracing: every drawn edge whose (source token, target token) is listed gets a halo
    // (kept across layouts until replaced).
    void setHighlightedEdges(const EdgeHighlights& edges);
    const EdgeHighlights& highlightedEdges() const { return m_blame; }
    int blamedEdgeCount() const;
    // Right-click on a node: the edit menu of the edge into it (a candidate's from its step's source).
    void requestEditMenu(int node, const QPoint& globalPos);

    QString exportName() const override { return QStringLiteral("token-graph"); }
    QSize exportSize() const override;
    void renderExport(QPainter& painter) override;

Q_SIGNALS:
    void layoutFinished();

private:
    void scheduleLayout();
    void startLayout();
    void applyLayout(quint64 job, const TokenGraph& graph, const GraphLayout& layout);
    void updateSelection();
    void applyBlame();

    StudioDocument* m_doc;
    EdgeHighlights m_blame;
    GraphCanvas* m_view;
    QGraphicsScene* m_scene;
    QSpinBox* m_k;
    QLineEdit* m_search;
    QLabel* m_info;
    QTimer* m_timer;
    JobTracker m_jobs;
    bool m_fitPending = true;
    int m_searchFrom = 0;
    TokenGraph m_graph;
    std::vector<GraphNodeItem*> m_nodes;
    std::vector<GraphEdgeItem*> m_edges;
};

} // namespace brillm::viz
