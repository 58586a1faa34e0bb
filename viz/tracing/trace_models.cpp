// SPDX-License-Identifier: GPL-3.0-or-later
#include "tracing/trace_models.h"

#include <QBrush>
#include <QColor>
#include <QFont>

#include <algorithm>
#include <cmath>

namespace brillm::viz {

std::vector<Candidate> topCandidates(const Model& model, const TraceStep& step, int k) {
    std::vector<Candidate> out;
    const auto& e = step.energies;
    if (e.empty() || k <= 0) return out;
    std::vector<int32_t> ids;
    ids.reserve(e.size());
    for (size_t t = 0; t < e.size(); ++t)
        if (!std::isnan(e[t])) ids.push_back(static_cast<int32_t>(t));
    const auto cmp = [&](int32_t a, int32_t b) { return e[a] > e[b] || (e[a] == e[b] && a < b); };
    const auto kk = std::min<size_t>(static_cast<size_t>(k), ids.size());
    std::partial_sort(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(kk), ids.end(), cmp);
    ids.resize(kk);
    out.reserve(kk);
    for (size_t r = 0; r < ids.size(); ++r) {
        const int32_t t = ids[r];
        Candidate c;
        c.node = t;
        c.energy = e[t];
        c.probability = step.probabilities.empty() ? 0 : step.probabilities[t];
        c.rank = static_cast<int64_t>(r) + 1;
        c.shared = model.edges.isShared(step.source, t);
        c.taken = t == step.target;
        out.push_back(c);
    }
    return out;
}

BannedMass bannedMass(const TraceStep& step, const std::vector<int32_t>& banned) {
    BannedMass out;
    const auto& p = step.probabilities;
    const auto& e = step.energies;
    if (p.empty() || e.empty()) return out;
    const bool targetIsCandidate = step.target >= 0 && static_cast<size_t>(step.target) < e.size() &&
                                   !std::isnan(e[static_cast<size_t>(step.target)]);
    const double et = targetIsCandidate ? e[static_cast<size_t>(step.target)] : 0.0;
    for (int32_t b : banned) {
        if (b < 0 || static_cast<size_t>(b) >= e.size() || std::isnan(e[static_cast<size_t>(b)])) continue;
        ++out.bannedCandidates;
        const double pb = p[static_cast<size_t>(b)];
        out.mass += pb;
        if (out.topBanned < 0 || pb > out.topBannedProbability) {
            out.topBanned = b;
            out.topBannedProbability = pb;
        }
        // The same order as the rank: energy, then the lower id first.
        const double eb = e[static_cast<size_t>(b)];
        if (targetIsCandidate && b != step.target && (eb > et || (eb == et && b < step.target))) ++out.bannedAbove;
    }
    if (targetIsCandidate && step.rank > 0) out.rankAllowed = step.rank - out.bannedAbove;
    return out;
}

EnergyHealth energyHealth(const Trace& trace) {
    EnergyHealth h;
    for (size_t i = 0; i < trace.steps.size(); ++i) {
        const auto& s = trace.steps[i];
        double top = s.probability;
        double maxAbs = std::abs(s.energy);
        if (!s.probabilities.empty())
            for (double p : s.probabilities)
                top = std::max(top, p);
        if (!s.energies.empty())
            for (double e : s.energies)
                if (!std::isnan(e)) maxAbs = std::max(maxAbs, std::abs(e));
        if (maxAbs > h.maxAbsEnergy) {
            h.maxAbsEnergy = maxAbs;
            h.maxStep = static_cast<int>(i);
        }
        if (s.candidates > 1 && top >= 1.0 - 1e-9) {
            ++h.saturatedSteps;
            if (h.firstSaturated < 0) h.firstSaturated = static_cast<int>(i);
        }
    }
    return h;
}

// ---- StepTableModel ----

void StepTableModel::setModel(StudioModelPtr model) {
    beginResetModel();
    m_model = std::move(model);
    m_rows.clear();
    endResetModel();
}

StepTableModel::Row StepTableModel::rowOf(const TraceStep& s, int64_t userPromptTokens) {
    return Row{s.index,  s.index + 1 >= userPromptTokens,
               s.source, s.target,
               s.energy, s.probability,
               s.rank,   s.candidates,
               s.slot,   s.ties,
               s.shared};
}

void StepTableModel::setTrace(const Trace& trace, int64_t userPromptTokens) {
    beginResetModel();
    m_userPromptTokens = userPromptTokens;
    m_rows.clear();
    m_rows.reserve(trace.steps.size());
    for (const auto& s : trace.steps)
        m_rows.push_back(rowOf(s, userPromptTokens));
    endResetModel();
}

void StepTableModel::appendStep(const TraceStep& step) {
    const int row = static_cast<int>(m_rows.size());
    beginInsertRows({}, row, row);
    m_rows.push_back(rowOf(step, m_userPromptTokens));
    endInsertRows();
}

void StepTableModel::clear() {
    beginResetModel();
    m_rows.clear();
    endResetModel();
}

int StepTableModel::rowCount(const QModelIndex& parent) const {
    return parent.isValid() ? 0 : static_cast<int>(m_rows.size());
}
int StepTableModel::columnCount(const QModelIndex& parent) const {
    return parent.isValid() ? 0 : ColumnCount;
}

QVariant StepTableModel::data(const QModelIndex& index, int role) const {
    if (!checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid)) return {};
    const Row& r = m_rows[static_cast<size_t>(index.row())];
    auto label = [&](int32_t n) { return m_model ? m_model->label(n) : QStringLiteral("#%1").arg(n); };
    switch (role) {
    case Qt::DisplayRole:
        switch (index.column()) {
        case Index:
            return static_cast<qlonglong>(r.index);
        case Source:
            return label(r.source);
        case Target:
            return label(r.target);
        case Energy:
            return QString::number(r.energy, 'f', 4);
        case Probability:
            return QString::number(r.probability, 'g', 4);
        case Rank:
            return r.rank > 0 ? QVariant(static_cast<qlonglong>(r.rank)) : QVariant(QStringLiteral("–"));
        case Candidates:
            return static_cast<qlonglong>(r.candidates);
        case Slot:
            return r.shared ? QStringLiteral("shared") : QString::number(r.slot);
        case Ties:
            return static_cast<qlonglong>(r.ties);
        }
        break;
    case Qt::ToolTipRole:
        return QStringLiteral("%1 → %2\nenergy %3, p = %4, rank %5 of %6\n%7 slot")
            .arg(label(r.source), label(r.target))
            .arg(r.energy, 0, 'f', 5)
            .arg(r.probability, 0, 'g', 5)
            .arg(r.rank)
            .arg(r.candidates)
            .arg(r.shared ? QStringLiteral("shared") : QStringLiteral("own"));
    case Qt::TextAlignmentRole:
        return index.column() == Source || index.column() == Target ? QVariant(Qt::AlignLeft | Qt::AlignVCenter)
                                                                    : QVariant(Qt::AlignRight | Qt::AlignVCenter);
    case Qt::FontRole:
        if (r.generated) {
            QFont f;
            f.setBold(true);
            return f;
        }
        break;
    case NodeRole:
        return index.column() == Source ? r.source : r.target;
    case GeneratedRole:
        return r.generated;
    default:
        break;
    }
    return {};
}

QVariant StepTableModel::headerData(int section, Qt::Orientation orientation, int role) const {
    if (role != Qt::DisplayRole) return {};
    if (orientation == Qt::Vertical) return section;
    static const char* names[] = {"step", "source",     "target", "energy", "probability",
                                  "rank", "candidates", "slot",   "ties"};
    return section >= 0 && section < ColumnCount ? QString::fromLatin1(names[section]) : QVariant();
}

// ---- CandidateTableModel ----

void CandidateTableModel::setCandidates(StudioModelPtr model, std::vector<Candidate> candidates) {
    beginResetModel();
    m_model = std::move(model);
    m_rows = std::move(candidates);
    endResetModel();
}

void CandidateTableModel::clear() {
    beginResetModel();
    m_rows.clear();
    endResetModel();
}

int32_t CandidateTableModel::nodeAt(int row) const {
    return row >= 0 && row < static_cast<int>(m_rows.size()) ? m_rows[static_cast<size_t>(row)].node : -1;
}

int CandidateTableModel::rowCount(const QModelIndex& parent) const {
    return parent.isValid() ? 0 : static_cast<int>(m_rows.size());
}
int CandidateTableModel::columnCount(const QModelIndex& parent) const {
    return parent.isValid() ? 0 : ColumnCount;
}

QVariant CandidateTableModel::data(const QModelIndex& index, int role) const {
    if (!checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid)) return {};
    const Candidate& c = m_rows[static_cast<size_t>(index.row())];
    switch (role) {
    case Qt::DisplayRole:
        switch (index.column()) {
        case Rank:
            return static_cast<qlonglong>(c.rank);
        case Token:
            return m_model ? m_model->label(c.node) : QStringLiteral("#%1").arg(c.node);
        case Energy:
            return QString::number(c.energy, 'f', 4);
        case Probability:
            return QString::number(c.probability, 'g', 4);
        case Slot:
            return c.shared ? QStringLiteral("shared") : QStringLiteral("own");
        }
        break;
    case Qt::FontRole:
        if (c.taken) {
            QFont f;
            f.setBold(true);
            return f;
        }
        break;
    case Qt::ToolTipRole:
        return c.taken ? QStringLiteral("the token taken at this step")
                       : QStringLiteral("double-click: continue with this token");
    case Qt::TextAlignmentRole:
        return index.column() == Token ? QVariant(Qt::AlignLeft | Qt::AlignVCenter)
                                       : QVariant(Qt::AlignRight | Qt::AlignVCenter);
    case NodeRole:
        return c.node;
    default:
        break;
    }
    return {};
}

QVariant CandidateTableModel::headerData(int section, Qt::Orientation orientation, int role) const {
    if (role != Qt::DisplayRole) return {};
    if (orientation == Qt::Vertical) return section + 1;
    static const char* names[] = {"rank", "token", "energy", "probability", "slot"};
    return section >= 0 && section < ColumnCount ? QString::fromLatin1(names[section]) : QVariant();
}

} // namespace brillm::viz
