// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// EnergyHeatmapView: steps x top-K candidates coloured by energy (QCustomPlot QCPColorMap with
// a colour scale), the taken token of each step ringed, the selected step framed, token labels
// in the cells when they fit; hover for token, energy, probability and rank; click to select.

#include "common/exportable_view.h"
#include "tracing/trace_models.h"

#include <QWidget>

#include <vector>

class QCustomPlot;
class QCPColorMap;
class QCPColorScale;
class QCPItemRect;
class QCPGraph;
class QCheckBox;
class QSpinBox;
class QTimer;

namespace brillm::viz {

class StudioDocument;

// The matrix the heatmap shows: column s is step s, row r the candidate of rank r + 1.
struct HeatmapData {
    int steps = 0;
    int k = 0;
    std::vector<std::vector<Candidate>> columns; // [steps][<= k]
    double minEnergy = 0, maxEnergy = 0;
};
HeatmapData buildHeatmap(const StudioModel& model, const Trace& trace, int k);

class EnergyHeatmapView : public QWidget, public ExportableView {
    Q_OBJECT
public:
    explicit EnergyHeatmapView(StudioDocument* doc, QWidget* parent = nullptr);
    QCustomPlot* plot() const { return m_plot; }
    const HeatmapData& data() const { return m_data; }
    void setTopK(int k);

    QString exportName() const override { return QStringLiteral("energy-heatmap"); }
    QSize exportSize() const override;
    void renderExport(QPainter& painter) override;

private:
    void scheduleRebuild();
    void rebuild();
    void updateSelection();
    void onMouseMove(QMouseEvent* event);
    void onMousePress(QMouseEvent* event);
    bool cellAt(QPointF pos, int* step, int* row) const;

    StudioDocument* m_doc;
    QCustomPlot* m_plot;
    QCPColorMap* m_map;
    QCPColorScale* m_scale;
    QCPItemRect* m_frame;
    QCPGraph* m_taken;
    QSpinBox* m_k;
    QCheckBox* m_relative;
    QTimer* m_timer;
    HeatmapData m_data;
};

} // namespace brillm::viz
