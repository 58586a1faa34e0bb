// SPDX-License-Identifier: GPL-3.0-or-later
#include "brillm/model/decode.h"

#include "brillm/error.h"

#include <algorithm>
#include <cmath>
#include <string>

namespace brillm {

namespace {

uint64_t splitmix64(uint64_t& x) {
    uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

inline uint64_t rotl(uint64_t x, int k) {
    return (x << k) | (x >> (64 - k));
}

void checkOptions(const DecodeOptions& o) {
    if (o.maxNewTokens < 0) throw InputError("max new tokens must be >= 0, got " + std::to_string(o.maxNewTokens));
    if (o.greedy || o.referenceDecode) return;
    if (!(o.temperature > 0) || !std::isfinite(o.temperature))
        throw InputError("temperature must be a positive number, got " + std::to_string(o.temperature));
    if (o.topK < 0) throw InputError("top-k must be >= 0 (0 turns it off), got " + std::to_string(o.topK));
    if (!(o.topP > 0 && o.topP <= 1)) throw InputError("top-p must be in (0, 1], got " + std::to_string(o.topP));
}

// All-NaN energies leave no best candidate (every comparison is false): say why, instead of
// going on with node -1 ("unknown node id -1" one step later).
[[noreturn]] void nonFiniteEnergies() {
    throw InputError("the model's energies are not finite (NaN): its parameters hold NaN or Inf values; "
                     "check the model file with brillm verify");
}

void checkPath(const Model& model, std::span<const int32_t> path, const char* what) {
    if (path.empty()) throw InputError(std::string("empty ") + what + ": at least one node is needed");
    for (size_t k = 0; k < path.size(); ++k)
        if (path[k] < 0 || path[k] >= model.vocabSize())
            throw InputError(std::string(what) + " token " + std::to_string(k) + " has unknown node id " +
                             std::to_string(path[k]) + " (vocabulary has " + std::to_string(model.vocabSize()) +
                             " nodes)");
    const auto edges = static_cast<int64_t>(path.size()) - 1;
    if (edges > model.maxEdges())
        throw InputError(std::string(what) + " has " + std::to_string(edges) + " edges; the position table of " +
                         std::to_string(model.config.maxPositions) + " entries allows at most " +
                         std::to_string(model.maxEdges()));
}

// What a step's scores say about the greedy choice, computed once per step.
struct StepSummary {
    CandidateScores::Best best;
    int64_t candidates = 0;
};

StepSummary summarise(const CandidateScores& scores) {
    StepSummary s{scores.best(), scores.numCandidates()};
    if (s.best.target < 0 && s.candidates > 0) nonFiniteEnergies();
    return s;
}

// Fills everything about the edge about to be taken from the current path state and scores.
void beginStep(TraceStep& step, const SignalPath& path, const CandidateScores* scores, const StepSummary* summary,
               int32_t target, bool dense, bool generated) {
    step.index = path.numEdges();
    step.generated = generated;
    step.source = path.current();
    step.target = target;
    step.peIndex = path.peIndex(step.index);
    if (dense) {
        step.mixWeights = path.nextMixWeights();
        step.input = path.nextInput();
    }
    if (!scores) return;
    if (dense) {
        step.energies = scores->denseEnergies();
        step.probabilities = scores->denseProbabilities();
    }
    step.probability = scores->probability(target);
    step.rank = scores->rank(target);
    step.candidates = summary->candidates;
    const auto& best = summary->best;
    step.best = best.target;
    step.bestEnergy = best.energy;
    step.ties = best.ties;
    step.sharedCandidates = scores->numShared;
    step.sharedEnergy = scores->sharedEnergy;
}

Trace run(const Model& model, std::span<const int32_t> prompt, const DecodeOptions& options, const StepCallback& onStep,
          bool generate) {
    checkOptions(options);
    checkPath(model, prompt, generate ? "prompt" : "path");
    const auto convention = options.referenceDecode ? PositionConvention::Reference : PositionConvention::Training;
    SignalPath path(model, convention);
    const ScoreOptions scoreOptions{options.excludeSelfLoop, options.device.get()};
    const bool dense = options.recordTrace;
    const bool scorePrompt = options.recordTrace || static_cast<bool>(onStep);

    Trace trace;
    trace.promptTokens = static_cast<int64_t>(prompt.size());
    const auto expected =
        prompt.size() + static_cast<size_t>(generate ? std::min<int64_t>(options.maxNewTokens, 4096) : 0);
    trace.tokens.reserve(expected);
    trace.steps.reserve(expected);
    trace.tokens.assign(prompt.begin(), prompt.end());
    path.start(prompt[0]);
    if (dense) trace.initialSignal = path.initialSignal();

    auto finish = [&](TraceStep&& step) -> bool {
        step.slot = model.edges.slot(step.source, step.target);
        step.shared = step.slot == EdgeTable::kSharedSlot;
        step.energy = path.advance(step.target);
        if (dense) step.output = path.edgeSignal(step.index);
        trace.steps.push_back(std::move(step));
        return !onStep || onStep(trace.steps.back());
    };

    for (size_t k = 1; k < prompt.size(); ++k) {
        TraceStep step;
        if (scorePrompt) {
            const auto scores = path.scoreNext(scoreOptions);
            const StepSummary summary = summarise(scores);
            beginStep(step, path, &scores, &summary, prompt[k], dense, false);
        } else {
            beginStep(step, path, nullptr, nullptr, prompt[k], dense, false);
        }
        if (!finish(std::move(step))) {
            trace.stopReason = "cancelled";
            return trace;
        }
    }
    if (!generate) {
        trace.stopReason = "path_end";
        return trace;
    }

    TokenSampler sampler(options.seed);
    trace.stopReason = "max_tokens";
    for (int64_t g = 0; g < options.maxNewTokens; ++g) {
        if (!path.canAdvance()) {
            trace.stopReason = "context_full";
            break;
        }
        const auto scores = path.scoreNext(scoreOptions);
        const StepSummary summary = summarise(scores);
        if (summary.candidates == 0) {
            trace.stopReason = "no_candidates";
            break;
        }
        // greedy without banned tokens takes the best candidate (what choose() would return)
        const int32_t target =
            options.greedy && options.bannedTokens.empty() ? summary.best.target : sampler.choose(scores, options);
        TraceStep step;
        beginStep(step, path, &scores, &summary, target, dense, true);
        trace.tokens.push_back(target);
        if (!finish(std::move(step))) {
            trace.stopReason = "cancelled";
            break;
        }
        if (std::find(options.stopTokens.begin(), options.stopTokens.end(), target) != options.stopTokens.end()) {
            trace.stopReason = "stop_token";
            break;
        }
    }
    return trace;
}

} // namespace

Trace decode(const Model& model, std::span<const int32_t> prompt, const DecodeOptions& options,
             const StepCallback& onStep) {
    return run(model, prompt, options, onStep, true);
}

Trace tracePath(const Model& model, std::span<const int32_t> path, const DecodeOptions& options) {
    return run(model, path, options, {}, false);
}

// ---- TokenSampler: xoshiro256** seeded through splitmix64, identical on every platform ----

TokenSampler::TokenSampler(uint64_t seed) {
    for (auto& s : m_state)
        s = splitmix64(seed);
}

double TokenSampler::uniform() {
    const uint64_t result = rotl(m_state[1] * 5, 7) * 9;
    const uint64_t t = m_state[1] << 17;
    m_state[2] ^= m_state[0];
    m_state[3] ^= m_state[1];
    m_state[1] ^= m_state[2];
    m_state[0] ^= m_state[3];
    m_state[2] ^= t;
    m_state[3] = rotl(m_state[3], 45);
    return static_cast<double>(result >> 11) * 0x1.0p-53;
}

int32_t TokenSampler::choose(const CandidateScores& scores, const DecodeOptions& options) {
    if (scores.numCandidates() == 0) throw InputError("no candidate to choose from");
    const auto& banned = options.bannedTokens;
    const auto isBanned = [&](int32_t t) { return std::find(banned.begin(), banned.end(), t) != banned.end(); };
    if (options.greedy) {
        const int32_t best = scores.best().target;
        if (best < 0) nonFiniteEnergies();
        if (!isBanned(best)) return best;
        for (const auto& [t, e] : scores.top(0))
            if (!isBanned(t)) return t;
        throw InputError("every candidate is banned");
    }
    const bool reference = options.referenceDecode;
    const double temperature = reference ? 1.0 : options.temperature;
    const int64_t topK = reference ? 0 : options.topK;
    const double topP = reference ? 1.0 : options.topP;

    const auto energies = scores.denseEnergies();
    std::vector<std::pair<int32_t, double>> cand; // (id, energy)
    cand.reserve(energies.size());
    for (size_t t = 0; t < energies.size(); ++t)
        if (!std::isnan(energies[t]) && !isBanned(static_cast<int32_t>(t)))
            cand.emplace_back(static_cast<int32_t>(t), energies[t]);
    if (cand.empty()) {
        if (std::all_of(energies.begin(), energies.end(), [](double e) { return std::isnan(e); })) nonFiniteEnergies();
        throw InputError("every candidate is banned");
    }
    if (topK > 0 || topP < 1) {
        const auto cmp = [](const auto& a, const auto& b) {
            return a.second > b.second || (a.second == b.second && a.first < b.first);
        };
        std::stable_sort(cand.begin(), cand.end(), cmp);
        if (topK > 0 && topK < static_cast<int64_t>(cand.size())) cand.resize(static_cast<size_t>(topK));
    }
    const double mx = std::max_element(cand.begin(), cand.end(), [](const auto& a, const auto& b) {
                          return a.second < b.second;
                      })->second;
    std::vector<double> w(cand.size());
    double total = 0;
    for (size_t k = 0; k < cand.size(); ++k)
        total += (w[k] = std::exp((cand[k].second - mx) / temperature));
    if (topP < 1) {
        double cum = 0;
        size_t keep = 0;
        while (keep < w.size()) {
            cum += w[keep++];
            if (cum >= topP * total) break;
        }
        w.resize(keep);
        cand.resize(keep);
        total = cum;
    }
    const double u = uniform() * total;
    double cum = 0;
    for (size_t k = 0; k < w.size(); ++k) {
        cum += w[k];
        if (u < cum) return cand[k].first;
    }
    return cand.back().first;
}

} // namespace brillm
