// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Item models over a Trace (plain data), for the studio's tables and for tests with
// QAbstractItemModelTester. Both hold a copy of what they show, so they never dangle.

#include "studio/studio_model.h"

#include <brillm/model/decode.h>

#include <QAbstractTableModel>

#include <vector>

namespace brillm::viz {

// The k best candidates of one step, by energy then node id. Pure function, any thread.
struct Candidate {
    int32_t node = 0;
    double energy = 0;
    double probability = 0;
    int64_t rank = 0;
    bool shared = false;
    bool taken = false;
};
std::vector<Candidate> topCandidates(const Model& model, const TraceStep& step, int k);

// What a filter of banned tokens ("skip special tokens") hides at one step: the probability the
// banned candidates hold (temperature 1, over every candidate, as TraceStep::probabilities), how
// many banned candidates outrank the taken token, its rank among the allowed ones (TraceStep::rank
// stays the rank among all candidates), and the most probable banned candidate. Needs the
// step's dense probabilities; pure function, any thread.
struct BannedMass {
    double mass = 0;
    int64_t bannedCandidates = 0;
    int64_t bannedAbove = 0;
    int64_t rankAllowed = 0; // 0 when the taken token is not a candidate
    int32_t topBanned = -1;
    double topBannedProbability = 0;
};
BannedMass bannedMass(const TraceStep& step, const std::vector<int32_t>& banned);

// Energies that grow without bound along a path saturate every probability at 1, so the
// probabilities stop saying anything about the runners-up. A trace is flagged when a step's
// best candidate holds the whole probability (p >= 1 - 1e-9 with more than one candidate) or
// an energy's magnitude reaches kEnergyWarning.
inline constexpr double kEnergyWarning = 1000.0;
struct EnergyHealth {
    double maxAbsEnergy = 0;
    int maxStep = -1;        // the step of maxAbsEnergy
    int firstSaturated = -1; // the first saturated step, -1 for none
    int saturatedSteps = 0;
    bool warn() const { return firstSaturated >= 0 || maxAbsEnergy >= kEnergyWarning; }
};
EnergyHealth energyHealth(const Trace& trace);

// One row per step of the trace: index, source, target, energy, probability, rank, slot, ties.
class StepTableModel : public QAbstractTableModel {
    Q_OBJECT
public:
    enum Column { Index, Source, Target, Energy, Probability, Rank, Candidates, Slot, Ties, ColumnCount };
    enum Role { NodeRole = Qt::UserRole + 1, GeneratedRole };

    using QAbstractTableModel::QAbstractTableModel;
    void setModel(StudioModelPtr model);
    // Replaces everything; appendStep adds one row while a completion streams.
    void setTrace(const Trace& trace, int64_t userPromptTokens);
    void appendStep(const TraceStep& step);
    void clear();

    int rowCount(const QModelIndex& parent = {}) const override;
    int columnCount(const QModelIndex& parent = {}) const override;
    QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role = Qt::DisplayRole) const override;

private:
    struct Row {
        int64_t index;
        bool generated;
        int32_t source, target;
        double energy, probability;
        int64_t rank, candidates, slot, ties;
        bool shared;
    };
    static Row rowOf(const TraceStep& s, int64_t userPromptTokens);
    StudioModelPtr m_model;
    std::vector<Row> m_rows;
    int64_t m_userPromptTokens = 0;
};

// The top-K candidates of the selected step: rank, token, energy, probability, slot.
class CandidateTableModel : public QAbstractTableModel {
    Q_OBJECT
public:
    enum Column { Rank, Token, Energy, Probability, Slot, ColumnCount };
    enum Role { NodeRole = Qt::UserRole + 1 };

    using QAbstractTableModel::QAbstractTableModel;
    void setCandidates(StudioModelPtr model, std::vector<Candidate> candidates);
    void clear();
    int32_t nodeAt(int row) const;

    int rowCount(const QModelIndex& parent = {}) const override;
    int columnCount(const QModelIndex& parent = {}) const override;
    QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role = Qt::DisplayRole) const override;

private:
    StudioModelPtr m_model;
    std::vector<Candidate> m_rows;
};

} // namespace brillm::viz
