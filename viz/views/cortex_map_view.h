// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// CortexMapView: the candidates of the shown step as a map one can read at V = 4 000. Two
// layouts: "ranked" (the source in the centre, its own-slot candidates on a spiral in rank
// order, none overlapping) and "vocabulary map" (every node at a fixed 2-D position,
// CortexLayout, computed on a worker thread once per model and cached on disk). The candidates
// on the shared slot - all tied at one energy - are ONE aggregate mark with their count and
// total probability. Wheel, +/- and the buttons zoom, drag pans, 0 or "Fit" fits; labels are
// placed greedily by rank and dropped where they would collide, so zooming in shows more.
// Hover shows token, energy, probability and rank; play/pause animates over the steps.

#include "common/exportable_view.h"
#include "studio/job_tracker.h"
#include "views/cortex_layout.h"

#include <QWidget>

#include <optional>
#include <vector>

class QComboBox;
class QLabel;
class QSlider;
class QTimer;
class QToolButton;

namespace brillm::viz {

class StudioDocument;

class CortexCanvas : public QWidget {
    Q_OBJECT
public:
    enum class Mode { Ranked, Map };
    explicit CortexCanvas(StudioDocument* doc, QWidget* parent = nullptr);
    void setLayout(std::vector<QPointF> positions);
    bool hasLayout() const { return !m_positions.empty(); }
    void setMode(Mode mode);
    Mode mode() const { return m_mode; }

    // The scene of the shown step (rebuilt when the step, trace or mode changes).
    const CortexScene& scene() const;
    // World -> pixels for the current zoom and pan inside area (the map's part of the widget).
    QTransform viewTransform(const QRectF& area) const;
    QTransform viewTransform() const { return viewTransform(mapArea()); }
    QRectF mapArea() const;
    double zoom() const { return m_zoom; }
    QPointF pan() const { return m_pan; }
    // Zoom by factor keeping the pixel at anchor fixed; fit resets zoom and pan.
    void zoomBy(double factor, QPointF anchor);
    void zoomBy(double factor) { zoomBy(factor, mapArea().center()); }
    void fitView();
    // Pixel centre of a node's mark (its item in the scene), or of the aggregate for -1.
    std::optional<QPointF> markCenter(int32_t node) const;
    // Radius in pixels of an item's mark at a view scale (pixels per world unit): candidates
    // grow with the zoom up to a cap, so that zooming in makes room for labels.
    static double markRadius(const CortexItem& item, double scale);
    // Item under pos (index into scene().items), -1 if none.
    int itemAt(QPointF pos) const;
    // Node under pos, -1 if none (also for the aggregate).
    int32_t nodeAt(QPointF pos, double radius = 8) const;
    // The labels of the last paint: their boxes and texts, in pixels (tests).
    const std::vector<QRectF>& labelRects() const { return m_labelRects; }
    const QStringList& labelTexts() const { return m_labelTexts; }

    void paintTo(QPainter& p, const QRectF& area, bool fitted = false);
    QSize sizeHint() const override { return {560, 480}; }
    QSize minimumSizeHint() const override { return {200, 180}; }

Q_SIGNALS:
    void viewChanged();

protected:
    void paintEvent(QPaintEvent* event) override;
    void mouseMoveEvent(QMouseEvent* event) override;
    void mousePressEvent(QMouseEvent* event) override;
    void mouseReleaseEvent(QMouseEvent* event) override;
    void wheelEvent(QWheelEvent* event) override;
    void keyPressEvent(QKeyEvent* event) override;

private:
    void paintLegend(QPainter& p, const QRectF& area, const CortexScene& sc) const;
    QString itemLabel(const CortexItem& it) const;
    QString itemToolTip(const CortexItem& it) const;
    StudioDocument* m_doc;
    std::vector<QPointF> m_positions;
    Mode m_mode = Mode::Ranked;
    double m_zoom = 1;
    QPointF m_pan;
    int m_hover = -1;
    QPointF m_pressPos;
    QPointF m_panAtPress;
    bool m_pressed = false, m_dragged = false;
    mutable CortexScene m_scene;
    mutable int m_sceneStep = -2;
    mutable bool m_sceneDirty = true;
    std::vector<QRectF> m_labelRects;
    QStringList m_labelTexts;
    friend class CortexMapView;
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
    QComboBox* modeBox() const { return m_mode; }

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
    void updateInfo();

    StudioDocument* m_doc;
    CortexCanvas* m_canvas;
    QToolButton* m_play;
    QSlider* m_slider;
    QComboBox* m_mode;
    QLabel* m_info;
    QTimer* m_timer;
    JobTracker m_jobs;
    QString m_cacheDir;
    CortexLayout m_layout;
    QString m_layoutNote;
};

} // namespace brillm::viz
