// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// CortexMapView: every node of the model at a fixed 2-D position (CortexLayout, computed on a
// worker thread once per model and cached on disk), coloured by its energy at the shown step;
// play/pause animates over the steps. The step's source and taken target are ringed, its top
// candidates labelled, and shared-slot candidates - all tied at one energy - drawn as squares.
// Hover shows token, energy, probability and rank.

#include "views/cortex_layout.h"
#include "common/exportable_view.h"
#include "studio/job_tracker.h"

#include <QWidget>

#include <vector>

class QLabel;
class QSlider;
class QTimer;
class QToolButton;

namespace brillm::viz {

class StudioDocument;

class CortexCanvas : public QWidget {
    Q_OBJECT
public:
    explicit CortexCanvas(StudioDocument* doc, QWidget* parent = nullptr);
    void setLayout(std::vector<QPointF> positions) { m_positions = std::move(positions); update(); }
    bool hasLayout() const { return !m_positions.empty(); }
    QPointF nodePos(int32_t node, const QRectF& area) const;
    void paintTo(QPainter& p, const QRectF& area);
    // Nearest node within radius pixels, -1 if none.
    int32_t nodeAt(QPointF pos, double radius = 8) const;
    QSize sizeHint() const override { return {520, 480}; }
    QSize minimumSizeHint() const override { return {200, 180}; }

protected:
    void paintEvent(QPaintEvent* event) override;
    void mouseMoveEvent(QMouseEvent* event) override;
    void mousePressEvent(QMouseEvent* event) override;

private:
    QRectF area() const;
    StudioDocument* m_doc;
    std::vector<QPointF> m_positions;
    int32_t m_hover = -1;
};

class CortexMapView : public QWidget, public ExportableView {
    Q_OBJECT
public:
    explicit CortexMapView(StudioDocument* doc, QWidget* parent = nullptr);
    CortexCanvas* canvas() const { return m_canvas; }
    bool isLayingOut() const { return m_jobs.current() != 0; }
    const CortexLayout& layoutInfo() const { return m_layout; }
    // Where layouts are cached; default QStandardPaths::CacheLocation.
    void setCacheDir(const QString& dir) { m_cacheDir = dir; }
    bool isPlaying() const;

    QString exportName() const override { return QStringLiteral("cortex-map"); }
    QSize exportSize() const override;
    void renderExport(QPainter& painter) override;

public Q_SLOTS:
    void setPlaying(bool on);
    void togglePlaying() { setPlaying(!isPlaying()); }

Q_SIGNALS:
    void layoutReady();

private:
    void startLayout();
    void advance();
    void syncSlider();

    StudioDocument* m_doc;
    CortexCanvas* m_canvas;
    QToolButton* m_play;
    QSlider* m_slider;
    QLabel* m_info;
    QTimer* m_timer;
    JobTracker m_jobs;
    QString m_cacheDir;
    CortexLayout m_layout;
};

} // namespace brillm::viz
