// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Item models of error tracing: the steps of a forced path (ForcedStepTableModel), the
// contributors of a blame report (ContributorTableModel), and a delegate that draws a signed
// bar for a contributor's effect. Both models hold copies of what they show.

#include "studio/studio_model.h"

#include <brillm/model/blame.h>

#include <QAbstractTableModel>
#include <QStyledItemDelegate>

#include <vector>

namespace brillm::viz {

// One row per step of a forced path: index, source -> expected, winner, expected rank,
// probability, margin (winner energy - expected energy). Prompt rows are greyed, wrong steps
// tinted, the first wrong step of the continuation marked strongly.
class ForcedStepTableModel : public QAbstractTableModel {
    Q_OBJECT
public:
    enum Column { Index, Edge, Winner, Rank, Probability, Margin, ExpectedEnergy, WinnerEnergy, ColumnCount };
    enum Role {
        WrongRole = Qt::UserRole + 1, // bool
        FirstWrongRole,               // bool: the first wrong step of the continuation
        PromptRole,                   // bool
        ValueRole,                    // the number behind a numeric cell (double / qlonglong)
    };

    using QAbstractTableModel::QAbstractTableModel;
    void setPath(StudioModelPtr model, const ForcedPath& path);
    void clear();
    const ForcedPath& path() const { return m_path; }
    const ForcedStep* stepAt(int row) const;

    int rowCount(const QModelIndex& parent = {}) const override;
    int columnCount(const QModelIndex& parent = {}) const override;
    QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role = Qt::DisplayRole) const override;

private:
    StudioModelPtr m_model;
    ForcedPath m_path;
};

// One row per contributor of a blame report, in the report's order (|effect|, largest first):
// kind, what (edge s -> t at j, position j, start node), exact effect (with a bar), gradient
// estimate, gradient norm, margin after the ablation.
class ContributorTableModel : public QAbstractTableModel {
    Q_OBJECT
public:
    enum Column { Kind, What, Effect, Gradient, GradientNorm, MarginAfter, ColumnCount };
    enum Role {
        ValueRole = Qt::UserRole + 1, // the number behind a numeric cell
        RelativeRole,                 // Effect column: effect / max |effect| in [-1, 1]
        SourceRole,                   // edges: source node (else -1)
        TargetRole,                   // edges: target node (else -1)
        PositionRole,                 // Position: j; edges: the edge index
        KindRole,                     // int(ContributorKind)
    };

    using QAbstractTableModel::QAbstractTableModel;
    void setReport(StudioModelPtr model, const BlameReport& report);
    void clear();
    const BlameReport& report() const { return m_report; }
    const Contributor* contributorAt(int row) const;
    double maxAbsEffect() const { return m_maxAbs; }

    int rowCount(const QModelIndex& parent = {}) const override;
    int columnCount(const QModelIndex& parent = {}) const override;
    QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role = Qt::DisplayRole) const override;

    // "edge ␣ → c (step 3, ×2)", "position 4", "start node t".
    static QString describe(const StudioModel* model, const Contributor& c);

private:
    StudioModelPtr m_model;
    BlameReport m_report;
    double m_maxAbs = 0;
};

// Draws the RelativeRole of a cell as a bar from the cell's centre: to the right (towards A)
// or to the left (towards B), with the value as text.
class EffectBarDelegate : public QStyledItemDelegate {
    Q_OBJECT
public:
    using QStyledItemDelegate::QStyledItemDelegate;
    void paint(QPainter* painter, const QStyleOptionViewItem& option, const QModelIndex& index) const override;
};

} // namespace brillm::viz
