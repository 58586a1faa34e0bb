// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// SignalPathView: the path of nodes, prompt and generated, each edge labelled with its energy,
// probability and rank, shared-slot edges dashed and tagged; below the path, the mixing
// weights of the selected step over the earlier edges as arcs whose width is the weight.

#include "exportable_view.h"

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

protected:
    void paintEvent(QPaintEvent* event) override;
    void mousePressEvent(QMouseEvent* event) override;
    bool event(QEvent* event) override;

private:
    int nodeAt(QPoint pos) const;
    int edgeAt(QPoint pos) const;
    StudioDocument* m_doc;
};

class SignalPathView : public QScrollArea, public ExportableView {
    Q_OBJECT
public:
    explicit SignalPathView(StudioDocument* doc, QWidget* parent = nullptr);
    SignalPathCanvas* canvas() const { return m_canvas; }

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
