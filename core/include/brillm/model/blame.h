// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Error tracing: why did a step prefer node A over node B, and which edges and positions of
// the path are responsible for that margin.
//
// A query names a path t_0 .. t_i (the prompt, or a forced continuation up to the step's
// source) and two candidates A and B of the next edge t_i -> ?. The margin is
//     m = energy(t_i -> A) - energy(t_i -> B)
// (positive when A is preferred). Every part of the computation that m depends on is a
// contributor:
//   - a path edge t_j -> t_{j+1} (j < i), counted once per parameter slot: a pair that occurs
//     several times on the path is one contributor, ablated at every occurrence;
//   - the candidate edges t_i -> A and t_i -> B themselves;
//   - an earlier position j: its signal y_j dropped from every later mixture (the softmax over
//     the remaining positions renormalised), the same as setting positions[0, j, 0] = -inf;
//   - the start node's bias (node_bias[t_0]).
// For each one, the exact leave-one-out margin is recomputed from the first step the
// contributor affects (earlier signals are reused), and the margin's gradient gives a first-order
// estimate of the same change: grad . (ablated - original).
//
// Ablating an edge replaces its matrix and bias by the shared slot's (AblationMode::Shared) or by
// zeros (AblationMode::Zero). An edge that already lives on the shared slot cannot be replaced by
// it; under Shared its leave-one-out is reported as 0 change with `applicable = false`.
// Under Zero, zeroing a shared-slot edge affects only that pair (the other shared pairs keep the
// shared matrix), as a patch that materialises the pair would.
//
// All arithmetic is float64 whatever the model's dtype (float32, float64, bfloat16 or float16:
// the model is read, not converted), in the float64 vector kernels.

#include "brillm/model/model.h"
#include "brillm/model/signal.h"

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace brillm {

enum class AblationMode {
    Shared, // replace the edge's matrix and bias by the shared slot's
    Zero,   // replace them by zeros
};

std::string toString(AblationMode mode);

struct BlameQuery {
    std::vector<int32_t> path; // t_0 .. t_i: at least one node
    int32_t a = -1;            // the preferred candidate (usually the winner)
    int32_t b = -1;            // the other one (usually the expected token)
    AblationMode mode = AblationMode::Shared;
    PositionConvention convention = PositionConvention::Training;
    bool excludeSelfLoop = true; // for the ranks only: energies of a self-loop are still compared
};

enum class ContributorKind {
    PathEdge,      // t_j -> t_{j+1}, j < i
    CandidateEdge, // t_i -> A or t_i -> B
    Position,      // the signal of edge j in the later mixtures
    StartNode,     // node_bias[t_0]
};

std::string toString(ContributorKind kind);

struct Contributor {
    ContributorKind kind = ContributorKind::PathEdge;
    int64_t edgeIndex = 0;   // PathEdge: first occurrence j; CandidateEdge: i; Position: j; StartNode: 0
    int64_t occurrences = 1; // PathEdge: how many times the slot's pair occurs on the path
    int32_t source = -1;     // edges: the pair; StartNode: t_0 in source
    int32_t target = -1;
    int64_t slot = -1;      // edges: the parameter slot (0 = shared)
    bool applicable = true; // false: the ablation is the identity (a shared edge under Shared)
    double marginAfter = 0; // exact margin with this contributor ablated
    // margin - marginAfter: how much of the margin this contributor accounts for (positive: it
    // pushes towards A; negative: towards B).
    double effect = 0;
    // First-order estimate of `effect`: -grad_m . (ablated - original).
    double gradientEstimate = 0;
    // ||d m / d theta|| over this contributor's parameters (matrix and bias; the logit of a
    // position; the node bias).
    double gradientNorm = 0;
};

struct BlameReport {
    BlameQuery query;
    int64_t step = 0; // i: the edge index whose candidates are compared
    double energyA = 0;
    double energyB = 0;
    double margin = 0; // energyA - energyB
    int64_t rankA = 0; // 1-based ranks among the step's candidates; 0 for a non-candidate
    int64_t rankB = 0;
    // Every contributor, sorted by |effect| (largest first; ties by kind, then edge index).
    std::vector<Contributor> contributors;
};

// Throws InputError for an empty path, unknown ids, a path the position table cannot extend,
// or a == b.
BlameReport blame(const Model& model, const BlameQuery& query);

// The margin of a query computed from scratch (no reuse); used for checking and by callers that
// only need the number.
double blameMargin(const Model& model, const BlameQuery& query);

// Forced continuation: the prompt followed by the tokens the user expected, every step scored
// as greedy decoding would score it.
struct ForcedStep {
    int64_t index = 0;    // edge index
    bool inPrompt = true; // false for the expected continuation
    int32_t source = 0;
    int32_t expected = 0;     // the node the path takes
    int32_t winner = 0;       // the greedy choice (lowest id among ties)
    int64_t expectedRank = 0; // 1-based; 0 when the expected node is not a candidate
    double expectedProbability = 0;
    double expectedEnergy = 0;
    double winnerEnergy = 0;
    double margin = 0;  // winnerEnergy - expectedEnergy (0 when the expected node wins)
    bool wrong = false; // the winner is not the expected node
};

struct ForcedPath {
    std::vector<ForcedStep> steps;
    int64_t firstWrong = -1;    // first wrong step of the continuation (not the prompt), or -1
    int64_t firstWrongAny = -1; // first wrong step anywhere on the path, or -1
};

// The winner is the best candidate that is not banned (as decoding with banned tokens picks it);
// ranks and probabilities are over every candidate. Energies are the model's own (float32 for a
// float32 model), as decoding computes them.
// Throws InputError for an empty prompt, unknown ids or a path longer than the position table.
ForcedPath forcePath(const Model& model, std::span<const int32_t> prompt, std::span<const int32_t> expected,
                     PositionConvention convention = PositionConvention::Training, bool excludeSelfLoop = true,
                     std::span<const int32_t> banned = {});

} // namespace brillm
