// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// SignalPathView: the path of nodes, prompt and generated, each edge labelled with its energy,
// probability and rank, shared-slot edges dashed and tagged; below the path, the mixing
// weights of the selected step over the earlier edges as arcs whose width is the weight.

#include "tracing/blame_highlight.h"
#include "common/exportable_view.h"

#include <QScrollArea>

namespace brillm::viz {

class StudioDocument;

class SignalPathCanvas : public QWidget {
    Q_OBJECT
public:
    explicit SignalPathCanvas(StudioDocument* doc, QWidget* parent = nullptr);
    QSize sizeHint() const override;
    // Centre of node i (token index), for tests and scrolling.
    QPointF nodeCenter(int token) const;
    void paintTo(QPainter& p, const QRect& clip) const;
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
    StudioDocument* m_doc;
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

private:
    void refresh();
    void scrollToSelection();
    StudioDocument* m_doc;
    SignalPathCanvas* m_canvas;
};

} // namespace brillm::viz
