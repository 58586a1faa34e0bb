// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// EdgeInspector: one edge s -> t - its slot (own or shared), its d x d matrix and bias as
// heatmaps with statistics, next to the shared slot's and their difference. Hovering a cell
// shows its row, column and the three values (this edge, shared, difference) in a readout
// line and a tooltip. The statistics table is sized to its text, never cut off.

#include "common/exportable_view.h"

#include <brillm/model/model.h>

#include <QWidget>

#include <vector>

class QCustomPlot;
class QCPAxisRect;
class QCPMarginGroup;
class QBoxLayout;
class QCheckBox;
class QLabel;
class QLineEdit;

namespace brillm::viz {

class StudioDocument;

struct MatrixStats {
    double mean = 0, std = 0, min = 0, max = 0, frobenius = 0;
};
MatrixStats matrixStats(const std::vector<double>& values);

// The parameters of one edge, copied out of the model as float64. Pure, any thread.
struct EdgeParameters {
    int32_t source = 0, target = 0;
    int64_t slot = 0;
    bool shared = false;
    int64_t dim = 0;
    std::vector<double> weight, bias;             // [d*d] row-major, [d]
    std::vector<double> sharedWeight, sharedBias; // slot 0
};
EdgeParameters edgeParameters(const Model& model, int32_t source, int32_t target);

class EdgeInspector : public QWidget, public ExportableView {
    Q_OBJECT
public:
    explicit EdgeInspector(StudioDocument* doc, QWidget* parent = nullptr);
    // Shows s -> t (stops following the selection until "follow" is checked again).
    void inspect(int32_t source, int32_t target);
    const EdgeParameters& parameters() const { return m_params; }
    QString statisticsText() const;
    QString headerText() const; // the edge, its slot and (sharded) where it lives, as rich text
    // The readout of the cell under a plot pixel ("" when none): what hovering shows.
    QString cellReadout(QPointF plotPos) const;
    QCustomPlot* plot() const { return m_plot; }
    QLabel* statisticsLabel() const { return m_stats; }
    QLabel* readoutLabel() const { return m_readout; }

    QString exportName() const override { return QStringLiteral("edge-inspector"); }
    QSize exportSize() const override;
    void renderExport(QPainter& painter) override;

protected:
    void showEvent(QShowEvent* event) override;
    void resizeEvent(QResizeEvent* event) override;
    void contextMenuEvent(QContextMenuEvent* event) override;

private:
    void followSelection();
    void showTyped();
    void rebuild(bool force = false);
    static QString statisticsHtml(const EdgeParameters& params);
    void onPlotMouseMove(QMouseEvent* event);

    StudioDocument* m_doc;
    QLineEdit* m_source;
    QLineEdit* m_target;
    QCheckBox* m_follow;
    QLabel* m_header;
    QLabel* m_stats;
    QLabel* m_readout;
    QBoxLayout* m_plotRow;
    QCustomPlot* m_plot;
    struct HoverRect {
        QCPAxisRect* rect;
        int panel; // 0 this edge, 1 shared, 2 difference
        bool bias;
    };
    std::vector<HoverRect> m_hoverRects;
    std::vector<QCPMarginGroup*> m_marginGroups; // one per column of the plot, rebuilt with it
    EdgeParameters m_params;
    bool m_valid = false;
    bool m_dirty = false;
};

} // namespace brillm::viz
