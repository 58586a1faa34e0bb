// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Graph layout with Graphviz (cgraph + gvc): a plain description in, positions out. Runs on
// any thread; calls into Graphviz are serialised by one process-wide mutex, because Graphviz
// keeps global state. Coordinates are in points (1/72 in), y pointing down as in Qt.

#include <QPointF>
#include <QRectF>
#include <QSizeF>
#include <QString>

class QThreadPool;

#include <vector>

namespace brillm::viz {

struct GraphInput {
    struct Node {
        QSizeF size; // in points, fixed: the caller measures its labels with Qt's fonts
    };
    struct Edge {
        int from = 0, to = 0;
        double weight = 1; // layout weight: heavier edges are kept shorter and straighter
    };
    std::vector<Node> nodes;
    std::vector<Edge> edges;
    QString engine = QStringLiteral("dot"); // dot, sfdp, neato, ...
    QString rankdir = QStringLiteral("LR");
    double nodesep = 0.12, ranksep = 0.5; // inches
    bool splines = true;                  // false: straight edges (much faster on big graphs)
};

struct GraphLayout {
    std::vector<QPointF> nodeCenters;            // [nodes]
    std::vector<std::vector<QPointF>> edgePaths; // [edges] cubic Bézier points (1 + 3k), or a straight line
    QRectF bounds;
    double seconds = 0;
    QString error; // empty on success
};

GraphLayout layoutGraph(const GraphInput& input);

// The pool layouts run on: one thread of our own. Never the global QThreadPool - Qt's raster
// paint engine uses that one for its own work, and a long layout there stalls painting.
QThreadPool* layoutThreadPool();

} // namespace brillm::viz
