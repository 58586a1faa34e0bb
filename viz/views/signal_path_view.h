// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// SignalPathView: the path of nodes, prompt and generated, each edge labelled with its energy,
// probability and rank, shared-slot edges dashed and tagged; below the path, the mixing
// weights of the selected step over the earlier edges as arcs whose width is the weight.
// Every node is as wide as its token (up to a maximum, then elided, the full token in its
// tooltip) and every gap as wide as its edge's labels, so labels never cover nodes or each
// other. The legend stays above the scrolling path.

#include "common/exportable_view.h"
#include "tracing/blame_highlight.h"

#include <QScrollArea>

#include <vector>

class QLabel;

namespace brillm::viz {

class StudioDocument;

class SignalPathCanvas : public QWidget {
    Q_OBJECT
public:
    explicit SignalPathCanvas(StudioDocument* doc, QWidget* parent = nullptr);
    QSize sizeHint() const override;
    // Centre of node i (token index), for tests and scrolling.
    QPointF nodeCenter(int token) const;
    // Node i's box and edge i's label block, in canvas pixels (tests: no overlaps).
    QRectF nodeRect(int token) const;
    QRectF edgeLabelRect(int step) const;
    // The node's text as drawn (elided past the maximum width), and the full label.
    QString nodeText(int token) const;
    QString nodeLabel(int token) const;
    // Recomputes positions from the trace and the font; called when the trace changes.
    void relayout();
    // The one-line legend (also drawn by the export; the view shows it above the scroll area).
    QString legendText() const;
    void paintTo(QPainter& p, const QRect& clip, bool withLegend = false) const;
    // Error tracing: edges drawn with a halo wherever the path takes that pair, positions ringed.
    void setHighlights(const EdgeHighlights& edges, const PositionHighlights& positions);
    // Steps of the current trace whose edge is highlighted (tests, scrolling).
    QList<int> highlightedSteps() const;
    const EdgeHighlights& highlightedEdges() const { return m_edges; }
    const PositionHighlights& highlightedPositions() const { return m_positions; }

protected:
    void paintEvent(QPaintEvent* event) override;
    void mousePressEvent(QMouseEvent* event) override;
    void contextMenuEvent(QContextMenuEvent* event) override;
    bool event(QEvent* event) override;

private:
    int nodeAt(QPoint pos) const;
    int edgeAt(QPoint pos) const;
    int height0() const;
    StudioDocument* m_doc;
    std::vector<double> m_x;      // [tokens] node centres
    std::vector<double> m_w;      // [tokens] node widths
    std::vector<double> m_labelW; // [steps] label block widths
    double m_nodeY = 92, m_lineH = 14;
    EdgeHighlights m_edges;
    PositionHighlights m_positions;
};

class SignalPathView : public QScrollArea, public ExportableView {
    Q_OBJECT
public:
    explicit SignalPathView(StudioDocument* doc, QWidget* parent = nullptr);
    SignalPathCanvas* canvas() const { return m_canvas; }
    void setHighlightedEdges(const EdgeHighlights& edges);
    void setHighlightedPositions(const PositionHighlights& positions);
    void clearHighlights();

    QString exportName() const override { return QStringLiteral("signal-path"); }
    QSize exportSize() const override;
    void renderExport(QPainter& painter) override;

    QLabel* legend() const { return m_legend; }

protected:
    void resizeEvent(QResizeEvent* event) override;

private:
    void refresh();
    void scrollToSelection();
    void updateLegend();
    StudioDocument* m_doc;
    SignalPathCanvas* m_canvas;
    QLabel* m_legend;
};

} // namespace brillm::viz
