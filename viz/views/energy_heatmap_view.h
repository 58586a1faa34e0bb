// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// EnergyHeatmapView: steps x top-K candidates coloured by energy (QCustomPlot QCPColorMap with
// a colour scale), the taken token of each step ringed, the selected step framed, token labels
// in the cells wherever they fit (decided at every paint, so resizing shows more); hover for
// token, energy, probability and rank; click to select. Energies of very different scales
// along a path (2 at one step, 18 000 at another) drown the differences between candidates, so
// the colour can be normalised per step: minus the step's best, scaled 0-1 within the step,
// the softmax probability, or log10 of the energy.

#include "common/exportable_view.h"
#include "tracing/trace_models.h"

#include <QWidget>

#include <vector>

class QCustomPlot;
class QCPColorMap;
class QCPColorScale;
class QCPItemRect;
class QCPGraph;
class QComboBox;
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

// What a cell's colour stands for.
enum class HeatmapScale { Energy, MinusBest, PerStep, Probability, Log10Energy };
// The value coloured for candidate c of a step whose shown candidates are column (rank order).
double heatmapValue(HeatmapScale scale, const Candidate& c, const std::vector<Candidate>& column);

class HeatmapCellLabels;
class EnergyHeatmapView : public QWidget, public ExportableView {
    Q_OBJECT
public:
    explicit EnergyHeatmapView(StudioDocument* doc, QWidget* parent = nullptr);
    QCustomPlot* plot() const { return m_plot; }
    const HeatmapData& data() const { return m_data; }
    void setTopK(int k);
    void setScale(HeatmapScale scale);
    HeatmapScale scale() const;
    QComboBox* scaleBox() const { return m_scaleBox; }
    // Token labels drawn at the last replot (cells too small for a label get none), in pixels.
    const std::vector<QRectF>& cellLabelRects() const;

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
    QComboBox* m_scaleBox;
    HeatmapCellLabels* m_labels;
    QTimer* m_timer;
    HeatmapData m_data;
};

} // namespace brillm::viz
