// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Signal propagation along a path of nodes, and scoring of every candidate of a step.
//
// The maths (see docs/model.md):
//   s      = GELU(1/d + nodeBias[t0] + PE[0])
//   x_0    = s;   x_i = sum_{j<i} softmax(positions[0, 0:i, 0])_j * y_j     (i >= 1)
//   y_i    = GELU(x_i @ W[slot(t_i, t_{i+1})] + b[slot] + PE[p(i)])
//   energy = ||y_i||_2
// with p(i) = i + 1 (the training convention) or p(i) = i (the reference decoder's offsets).
// The kernels run on the best vector unit of the CPU (brillm/model/vector_target.h) and read
// the model as stored: float32, or bfloat16/float16 (computed in float32), or float64 (the
// checking mode, computed in float64). Every candidate on the shared slot has the same energy,
// which is computed once.

#include "brillm/model/model.h"

#include <cstdint>
#include <limits>
#include <memory>
#include <span>
#include <vector>

namespace brillm {

// The reference's sinusoidal table [rows, dim] with its quirk: PE[p, 2j] = sin(p * f_j),
// PE[p, 2j+1] = cos(p * f_j), f_j = 10000^(2j/dim) (multiplied, not divided). Row-major,
// computed in float64.
std::vector<double> positionalEncoding(int64_t rows, int64_t dim);

// Exact (erf) GELU, in double.
double gelu(double z);

enum class PositionConvention {
    Training,  // edge i uses PE[i + 1], as the model was trained
    Reference, // edge i uses PE[i], as the released decoder does
};

class DeviceEdges;

struct ScoreOptions {
    bool excludeSelfLoop = true; // drop target == source from the candidates (released decoding)
    // Where the candidates' energies are computed: null for the CPU kernels, else a copy of this
    // model's edges on a device (brillm/model/device_edges.h; float32/bf16/f16 models only).
    const DeviceEdges* device = nullptr;
};

// Energies of every candidate target of one step, kept compactly: the source's own targets
// individually, and one energy for all candidates on the shared slot.
struct CandidateScores {
    int64_t vocabSize = 0;
    int32_t source = 0;
    int64_t edgeIndex = 0;                                          // i: these are the candidates of edge i of the path
    int64_t peIndex = 0;                                            // the PE row used
    int32_t excluded = -1;                                          // the excluded self-loop target, or -1
    std::vector<int32_t> ownTargets;                                // sorted; may include the excluded target
    std::vector<double> ownEnergies;                                // parallel to ownTargets
    double sharedEnergy = std::numeric_limits<double>::quiet_NaN(); // of any shared-slot candidate
    int64_t numShared = 0; // shared-slot candidates (the excluded one not counted)
    double maxEnergy = -std::numeric_limits<double>::infinity();
    double logSumExp = 0; // log sum_c exp(energy_c) over all candidates

    int64_t numCandidates() const;
    bool isCandidate(int32_t target) const;
    bool isOwn(int32_t target) const;
    // NaN for a target that is not a candidate (excluded); its energy is still in ownEnergies
    // or sharedEnergy and can be had with rawEnergy().
    double energy(int32_t target) const;
    double rawEnergy(int32_t target) const;
    double logProbability(int32_t target) const; // -inf if not a candidate
    double probability(int32_t target) const;
    // 1 + the number of candidates ranked before target (higher energy, or equal energy and a
    // lower id). 0 if target is not a candidate.
    int64_t rank(int32_t target) const;

    struct Best {
        int32_t target = -1;
        double energy = 0;
        int64_t ties = 1; // candidates sharing the top energy exactly (1 = no tie)
    };
    // The greedy choice: highest energy, ties broken by the lowest node id.
    Best best() const;
    // The k best candidates, by energy then id. k <= 0 means all.
    std::vector<std::pair<int32_t, double>> top(int64_t k) const;
    // [V] energies, NaN for non-candidates; [V] probabilities at temperature 1, 0 for non-candidates.
    std::vector<double> denseEnergies() const;
    std::vector<double> denseProbabilities() const;
};

// The state of one path: the nodes visited and the signal every edge carried.
// Holds a reference to the model, which must outlive it. Not thread-safe; cheap to copy
// (branching: copy, then truncate).
class SignalPath {
public:
    explicit SignalPath(const Model& model, PositionConvention convention = PositionConvention::Training);

    // Starts at node t0 and computes the initial signal. Throws InputError for an unknown id.
    void start(int32_t t0);
    bool started() const { return !m_nodes.empty(); }
    // Edges taken so far; the next edge has this index.
    int64_t numEdges() const { return static_cast<int64_t>(m_nodes.size()) - 1; }
    int32_t current() const { return m_nodes.back(); }
    const std::vector<int32_t>& nodes() const { return m_nodes; }
    int64_t peIndex(int64_t edgeIndex) const;
    PositionConvention convention() const { return m_convention; }
    // True when the position table allows one more edge.
    bool canAdvance() const;

    // The next edge's input x and its mixing weights over the earlier edges (empty for edge 0).
    std::vector<double> nextInput() const;
    std::vector<double> nextMixWeights() const;

    // Scores every candidate target of the next edge. Throws InputError if the position table is full.
    CandidateScores scoreNext(const ScoreOptions& options = {}) const;

    // Takes the edge current() -> target; returns its energy.
    double advance(int32_t target);

    // The signal y_i that edge i carried [d], and the initial signal [d].
    std::vector<double> edgeSignal(int64_t edgeIndex) const;
    std::vector<double> initialSignal() const;

    // Drops edges so that numEdges() == edges (branching back to an earlier step).
    void truncate(int64_t edges);

private:
    template <class T> const std::vector<T>& rows() const;
    template <class T> std::vector<T>& rows();
    template <class T> void computeInput(T* x) const;
    template <class T> void computeInputUncached(T* x) const;
    template <class T> CandidateScores score(const ScoreOptions& options) const;
    template <class T> double step(int32_t target);
    template <class T> void initial(int32_t t0);
    void requireStarted() const;

    const Model* m_model;
    PositionConvention m_convention;
    int64_t m_dim;
    bool m_double;
    std::shared_ptr<const std::vector<double>> m_peD; // [maxPositions, d]
    std::shared_ptr<const std::vector<float>> m_peF;
    std::vector<int32_t> m_nodes;
    // Row 0 is the initial signal, row i + 1 the signal y_i of edge i; [1 + edges, d], kept in
    // the model's dtype so that float32 models compute exactly in float32.
    std::vector<float> m_rowsF;
    std::vector<double> m_rowsD;
    // x of the next edge, computed by scoreNext and reused by advance (valid while
    // m_inputEdges == numEdges())
    mutable std::vector<float> m_inputF;
    mutable std::vector<double> m_inputD;
    mutable int64_t m_inputEdges = -1;
};

} // namespace brillm
