// SPDX-License-Identifier: GPL-3.0-or-later
#include "tracing/error_trace_models.h"

#include "common/palette.h"

#include <QApplication>
#include <QBrush>
#include <QFont>
#include <QPainter>

#include <algorithm>
#include <cmath>

namespace brillm::viz {

namespace {
QString labelOf(const StudioModelPtr& m, int32_t n) {
    return m ? m->label(n) : QStringLiteral("#%1").arg(n);
}
QVariant rightAligned() {
    return QVariant(Qt::AlignRight | Qt::AlignVCenter);
}
QVariant leftAligned() {
    return QVariant(Qt::AlignLeft | Qt::AlignVCenter);
}
} // namespace

// ---------------------------------------------------------------- ForcedStepTableModel

void ForcedStepTableModel::setPath(StudioModelPtr model, const ForcedPath& path) {
    beginResetModel();
    m_model = std::move(model);
    m_path = path;
    endResetModel();
}

void ForcedStepTableModel::clear() {
    beginResetModel();
    m_path = {};
    endResetModel();
}

const ForcedStep* ForcedStepTableModel::stepAt(int row) const {
    return row >= 0 && row < rowCount() ? &m_path.steps[static_cast<size_t>(row)] : nullptr;
}

int ForcedStepTableModel::rowCount(const QModelIndex& parent) const {
    return parent.isValid() ? 0 : static_cast<int>(m_path.steps.size());
}
int ForcedStepTableModel::columnCount(const QModelIndex& parent) const {
    return parent.isValid() ? 0 : ColumnCount;
}

QVariant ForcedStepTableModel::data(const QModelIndex& index, int role) const {
    if (!checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid)) return {};
    const ForcedStep& s = m_path.steps[static_cast<size_t>(index.row())];
    const bool first = s.index == m_path.firstWrong;
    switch (role) {
    case Qt::DisplayRole:
        switch (index.column()) {
        case Index:
            return static_cast<qlonglong>(s.index);
        case Edge:
            return QStringLiteral("%1 → %2").arg(labelOf(m_model, s.source), labelOf(m_model, s.expected));
        case Winner:
            return s.wrong ? labelOf(m_model, s.winner) : QStringLiteral("✓ %1").arg(labelOf(m_model, s.winner));
        case Rank:
            return s.expectedRank > 0 ? QVariant(static_cast<qlonglong>(s.expectedRank))
                                      : QVariant(QStringLiteral("–"));
        case Probability:
            return QString::number(s.expectedProbability, 'g', 4);
        case Margin:
            return QString::number(s.margin, 'f', 4);
        case ExpectedEnergy:
            return QString::number(s.expectedEnergy, 'f', 4);
        case WinnerEnergy:
            return QString::number(s.winnerEnergy, 'f', 4);
        }
        break;
    case ValueRole:
        switch (index.column()) {
        case Index:
            return static_cast<qlonglong>(s.index);
        case Rank:
            return static_cast<qlonglong>(s.expectedRank);
        case Probability:
            return s.expectedProbability;
        case Margin:
            return s.margin;
        case ExpectedEnergy:
            return s.expectedEnergy;
        case WinnerEnergy:
            return s.winnerEnergy;
        case Edge:
            return s.expected;
        case Winner:
            return s.winner;
        }
        break;
    case Qt::ToolTipRole:
        return tr("step %1%2: %3 → %4\nexpected: rank %5, p = %6, energy %7\nwinner %8: energy %9 (margin %10)%11")
            .arg(s.index)
            .arg(s.inPrompt ? tr(" (prompt)") : QString())
            .arg(labelOf(m_model, s.source), labelOf(m_model, s.expected))
            .arg(s.expectedRank)
            .arg(s.expectedProbability, 0, 'g', 5)
            .arg(s.expectedEnergy, 0, 'f', 5)
            .arg(labelOf(m_model, s.winner))
            .arg(s.winnerEnergy, 0, 'f', 5)
            .arg(s.margin, 0, 'f', 5)
            .arg(first ? tr("\nthe first wrong step of the continuation") : QString());
    case Qt::TextAlignmentRole:
        return index.column() == Edge || index.column() == Winner ? leftAligned() : rightAligned();
    case Qt::BackgroundRole:
        if (first) return QBrush(divergingColor(0.75, isDarkPalette()));
        if (s.wrong) return QBrush(divergingColor(s.inPrompt ? 0.12 : 0.3, isDarkPalette()));
        break;
    case Qt::ForegroundRole:
        if (first) return QBrush(Qt::white);
        if (s.inPrompt) return QBrush(ViewColors::current().mutedText);
        break;
    case Qt::FontRole:
        if (first || (!s.inPrompt && index.column() == Winner && s.wrong)) {
            QFont f;
            f.setBold(true);
            return f;
        }
        break;
    case WrongRole:
        return s.wrong;
    case FirstWrongRole:
        return first;
    case PromptRole:
        return s.inPrompt;
    default:
        break;
    }
    return {};
}

QVariant ForcedStepTableModel::headerData(int section, Qt::Orientation orientation, int role) const {
    if (orientation == Qt::Vertical) return role == Qt::DisplayRole ? QVariant(section) : QVariant();
    if (role == Qt::ToolTipRole) {
        static const char* tips[] = {"edge index on the path",
                                     "source → the expected token",
                                     "the greedy choice (✓: the expected token)",
                                     "rank of the expected token among the candidates",
                                     "probability of the expected token",
                                     "winner energy − expected energy",
                                     "energy of the expected edge",
                                     "energy of the winner's edge"};
        return section >= 0 && section < ColumnCount ? QString::fromUtf8(tips[section]) : QVariant();
    }
    if (role != Qt::DisplayRole) return {};
    static const char* names[] = {"step",   "source → expected", "winner",  "rank", "probability",
                                  "margin", "E expected",        "E winner"};
    return section >= 0 && section < ColumnCount ? QString::fromUtf8(names[section]) : QVariant();
}

// ---------------------------------------------------------------- ContributorTableModel

QString ContributorTableModel::describe(const StudioModel* model, const Contributor& c) {
    auto label = [&](int32_t n) { return model ? model->label(n) : QStringLiteral("#%1").arg(n); };
    switch (c.kind) {
    case ContributorKind::PathEdge:
        return QStringLiteral("%1 → %2 (step %3%4)%5")
            .arg(label(c.source), label(c.target))
            .arg(c.edgeIndex)
            .arg(c.occurrences > 1 ? QStringLiteral(", ×%1").arg(c.occurrences) : QString())
            .arg(c.slot == 0 ? QStringLiteral(" shared") : QString());
    case ContributorKind::CandidateEdge:
        return QStringLiteral("%1 → %2 (candidate)%3")
            .arg(label(c.source), label(c.target))
            .arg(c.slot == 0 ? QStringLiteral(" shared") : QString());
    case ContributorKind::Position:
        return QStringLiteral("position %1 (signal of edge %1)").arg(c.edgeIndex);
    case ContributorKind::StartNode:
        return QStringLiteral("start node %1 (bias)").arg(label(c.source));
    }
    return {};
}

void ContributorTableModel::setReport(StudioModelPtr model, const BlameReport& report) {
    beginResetModel();
    m_model = std::move(model);
    m_report = report;
    m_maxAbs = 0;
    for (const auto& c : m_report.contributors)
        m_maxAbs = std::max(m_maxAbs, std::abs(c.effect));
    endResetModel();
}

void ContributorTableModel::clear() {
    beginResetModel();
    m_report = {};
    m_maxAbs = 0;
    endResetModel();
}

const Contributor* ContributorTableModel::contributorAt(int row) const {
    return row >= 0 && row < rowCount() ? &m_report.contributors[static_cast<size_t>(row)] : nullptr;
}

int ContributorTableModel::rowCount(const QModelIndex& parent) const {
    return parent.isValid() ? 0 : static_cast<int>(m_report.contributors.size());
}
int ContributorTableModel::columnCount(const QModelIndex& parent) const {
    return parent.isValid() ? 0 : ColumnCount;
}

QVariant ContributorTableModel::data(const QModelIndex& index, int role) const {
    if (!checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid)) return {};
    const Contributor& c = m_report.contributors[static_cast<size_t>(index.row())];
    const bool edge = c.kind == ContributorKind::PathEdge || c.kind == ContributorKind::CandidateEdge;
    switch (role) {
    case Qt::DisplayRole:
        switch (index.column()) {
        case Kind:
            return QString::fromStdString(toString(c.kind));
        case What:
            return describe(m_model.get(), c);
        case Effect:
            return c.applicable ? QString::number(c.effect, 'f', 4) : QStringLiteral("n/a");
        case Gradient:
            return QString::number(c.gradientEstimate, 'f', 4);
        case GradientNorm:
            return QString::number(c.gradientNorm, 'g', 4);
        case MarginAfter:
            return QString::number(c.marginAfter, 'f', 4);
        }
        break;
    case ValueRole:
        switch (index.column()) {
        case Effect:
            return c.effect;
        case Gradient:
            return c.gradientEstimate;
        case GradientNorm:
            return c.gradientNorm;
        case MarginAfter:
            return c.marginAfter;
        default:
            break;
        }
        break;
    case RelativeRole:
        return m_maxAbs > 0 ? c.effect / m_maxAbs : 0.0;
    case SourceRole:
        return edge ? c.source : -1;
    case TargetRole:
        return edge ? c.target : -1;
    case PositionRole:
        return static_cast<qlonglong>(c.edgeIndex);
    case KindRole:
        return static_cast<int>(c.kind);
    case Qt::ToolTipRole:
        if (!c.applicable)
            return tr("this edge already lives on the shared slot: replacing it by the shared matrix changes nothing");
        return tr("%1\nablated, the margin goes from %2 to %3 (effect %4; positive: pushes towards A)\n"
                  "gradient estimate %5, gradient norm %6%7")
            .arg(describe(m_model.get(), c))
            .arg(m_report.margin, 0, 'f', 5)
            .arg(c.marginAfter, 0, 'f', 5)
            .arg(c.effect, 0, 'f', 5)
            .arg(c.gradientEstimate, 0, 'f', 5)
            .arg(c.gradientNorm, 0, 'g', 5)
            .arg(edge ? tr("\nclick: inspect the edge; right-click: edit it") : QString());
    case Qt::TextAlignmentRole:
        return index.column() == Kind || index.column() == What ? leftAligned() : rightAligned();
    case Qt::ForegroundRole:
        if (!c.applicable) return QBrush(ViewColors::current().mutedText);
        break;
    default:
        break;
    }
    return {};
}

QVariant ContributorTableModel::headerData(int section, Qt::Orientation orientation, int role) const {
    if (orientation == Qt::Vertical) return role == Qt::DisplayRole ? QVariant(section + 1) : QVariant();
    if (role == Qt::ToolTipRole) {
        static const char* tips[] = {
            "path edge, candidate edge, position or start node",
            "the contributor",
            "exact leave-one-out: margin − margin with it ablated (positive: it pushes towards A)",
            "first-order estimate of the effect from the margin's gradient",
            "norm of the margin's gradient over its parameters",
            "the margin with it ablated"};
        return section >= 0 && section < ColumnCount ? QString::fromUtf8(tips[section]) : QVariant();
    }
    if (role != Qt::DisplayRole) return {};
    static const char* names[] = {"kind", "contributor", "effect (exact)", "gradient est.", "‖grad‖", "margin after"};
    return section >= 0 && section < ColumnCount ? QString::fromUtf8(names[section]) : QVariant();
}

// ---------------------------------------------------------------- EffectBarDelegate

void EffectBarDelegate::paint(QPainter* painter, const QStyleOptionViewItem& option, const QModelIndex& index) const {
    QStyleOptionViewItem opt(option);
    initStyleOption(&opt, index);
    const QString text = opt.text;
    opt.text.clear();
    QStyle* style = opt.widget ? opt.widget->style() : QApplication::style();
    style->drawControl(QStyle::CE_ItemViewItem, &opt, painter, opt.widget);
    const double rel = std::clamp(index.data(ContributorTableModel::RelativeRole).toDouble(), -1.0, 1.0);
    const QRectF r = QRectF(opt.rect).adjusted(3, 3, -3, -3);
    const double mid = r.center().x();
    const double w = r.width() / 2 * std::abs(rel);
    const QRectF bar = rel >= 0 ? QRectF(mid, r.top(), w, r.height()) : QRectF(mid - w, r.top(), w, r.height());
    painter->save();
    QColor col = divergingColor(rel >= 0 ? 0.85 : -0.85, isDarkPalette());
    col.setAlpha(150);
    painter->fillRect(bar, col);
    painter->setPen(ViewColors::current().grid);
    painter->drawLine(QPointF(mid, r.top()), QPointF(mid, r.bottom()));
    painter->setPen(opt.palette.color(QPalette::Text));
    painter->drawText(r, Qt::AlignRight | Qt::AlignVCenter, text);
    painter->restore();
}

} // namespace brillm::viz
