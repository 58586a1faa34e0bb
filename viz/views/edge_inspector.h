// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// EdgeInspector: one edge s -> t - its slot (own or shared), its d x d matrix and bias as
// heatmaps with statistics, next to the shared slot's and their difference.

#include "common/exportable_view.h"

#include <brillm/model/model.h>

#include <QWidget>

#include <vector>

class QCustomPlot;
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

    QString exportName() const override { return QStringLiteral("edge-inspector"); }
    QSize exportSize() const override;
    void renderExport(QPainter& painter) override;

protected:
    void showEvent(QShowEvent* event) override;
    void contextMenuEvent(QContextMenuEvent* event) override;

private:
    void followSelection();
    void showTyped();
    void rebuild(bool force = false);

    StudioDocument* m_doc;
    QLineEdit* m_source;
    QLineEdit* m_target;
    QCheckBox* m_follow;
    QLabel* m_header;
    QLabel* m_stats;
    QCustomPlot* m_plot;
    EdgeParameters m_params;
    bool m_valid = false;
    bool m_dirty = false;
};

} // namespace brillm::viz
