// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Decoding and tracing: run a prompt along its path, then choose the next nodes one by one.
// Every step (prompt edges too) can be recorded as a TraceStep, which is what the studio and
// error tracing show.
//
// Conventions:
//  - Greedy decoding takes the highest energy; ties go to the lowest node id and are reported.
//  - Sampling draws from softmax(energy / temperature) after optional top-k and top-p filters,
//    with a seeded generator: the same seed gives the same tokens.
//  - Self-loop exclusion (on by default, as the released decoder does) removes target ==
//    source from the candidates. It applies to the prompt steps' scores as well; a prompt edge
//    that is a self-loop is still followed, and its rank is reported as 0 (not a candidate).
//  - referenceDecode reproduces the released decoder: edge i uses PE[i] instead of PE[i + 1],
//    temperature/top-k/top-p are ignored (greedy, or plain sampling at temperature 1).

#include "brillm/model/signal.h"

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace brillm {

struct DecodeOptions {
    int64_t maxNewTokens = 32;
    bool greedy = true;
    double temperature = 1.0; // > 0; only when sampling
    int64_t topK = 0;         // 0: off
    double topP = 1.0;        // 1: off; keep the smallest set whose probability reaches topP
    uint64_t seed = 0;
    bool excludeSelfLoop = true;
    bool referenceDecode = false;
    std::vector<int32_t> stopTokens; // generation stops after emitting one of these
    // Never chosen (e.g. padding or unknown tokens); they stay candidates in the scores, so
    // ranks and probabilities are reported over the full candidate set.
    std::vector<int32_t> bannedTokens;
    bool recordTrace = true; // dense per-step energies; off for raw speed
    // Score the candidates on a device (a GPU) instead of the CPU kernels: a copy of this model's
    // edges made with DeviceEdges (brillm/model/device_edges.h). Null: the CPU.
    std::shared_ptr<const DeviceEdges> device;
};

struct TraceStep {
    int64_t index = 0;      // edge index i on the path
    bool generated = false; // false for prompt edges
    int32_t source = 0;
    int32_t target = 0;                // the node taken
    int64_t slot = 0;                  // parameter slot of source -> target
    bool shared = false;               // slot == 0
    int64_t peIndex = 0;               // PE row used
    std::vector<double> mixWeights;    // [i] softmax(positions[0:i]); empty at i == 0 (initial signal)
    std::vector<double> energies;      // [V] energy each target would get; NaN for a non-candidate
    std::vector<double> probabilities; // [V] softmax over the candidates at temperature 1; 0 for non-candidates
    double energy = 0;                 // of the edge taken (also when it is not a candidate)
    double probability = 0;            // of the edge taken at temperature 1
    int64_t rank = 0;                  // 1-based rank of the target among the candidates; 0 if not a candidate
    int64_t candidates = 0;            // number of candidates
    int32_t best = -1;                 // the greedy choice at this step
    double bestEnergy = 0;
    int64_t ties = 1;             // candidates tied at the top energy
    int64_t sharedCandidates = 0; // candidates on the shared slot (all with the same energy)
    double sharedEnergy = 0;      // their energy (NaN if none)
    std::vector<double> input;    // [d] x_i
    std::vector<double> output;   // [d] y_i of the edge taken
};

struct Trace {
    std::vector<int32_t> tokens; // prompt followed by the generated nodes
    int64_t promptTokens = 0;
    std::vector<TraceStep> steps;      // one per edge, in path order
    std::vector<double> initialSignal; // [d]
    std::string stopReason;            // "max_tokens", "stop_token", "context_full", "cancelled"
    std::vector<int32_t> generated() const { return {tokens.begin() + promptTokens, tokens.end()}; }
};

// Called after every step (prompt steps too); return false to stop (stopReason "cancelled").
using StepCallback = std::function<bool(const TraceStep&)>;

// Decodes from a prompt of node ids. Throws InputError for an empty prompt, unknown ids, a
// prompt longer than the position table allows, or invalid options. Thread-safe for distinct
// calls on the same model (the model is only read).
Trace decode(const Model& model, std::span<const int32_t> prompt, const DecodeOptions& options,
             const StepCallback& onStep = {});

// Follows a given path without choosing (error tracing, forced continuations): every edge is a
// "prompt" edge and is scored as decoding would score it.
Trace tracePath(const Model& model, std::span<const int32_t> path, const DecodeOptions& options = {});

// One sampling/greedy choice among the scored candidates. Exposed for tests and the studio.
class TokenSampler {
public:
    explicit TokenSampler(uint64_t seed);
    int32_t choose(const CandidateScores& scores, const DecodeOptions& options);
    double uniform(); // in [0, 1), 53 random bits

private:
    uint64_t m_state[4];
};

} // namespace brillm
