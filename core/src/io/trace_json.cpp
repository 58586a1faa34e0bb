// SPDX-License-Identifier: GPL-3.0-or-later
#include "brillm/io/trace_json.h"

#include <nlohmann/json.hpp>

#include <cmath>

namespace brillm {

namespace {
nlohmann::json number(double v) {
    return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr);
}

nlohmann::json numbers(const std::vector<double>& v) {
    nlohmann::json a = nlohmann::json::array();
    for (double x : v)
        a.push_back(number(x));
    return a;
}

nlohmann::json editJson(const ModelEdit& e, const TextCodec* codec) {
    nlohmann::json j{{"op", toString(e.kind)}};
    if (e.kind == EditKind::KnockoutNode) {
        j["node"] = e.source;
    } else {
        j["source"] = e.source;
        j["target"] = e.target;
    }
    if (e.kind == EditKind::ScaleEdge) j["factor"] = number(e.factor);
    if (codec) {
        const auto& names = codec->vocabulary().tokens();
        j["description"] = e.describe(&names);
    } else {
        j["description"] = e.describe();
    }
    return j;
}
} // namespace

std::string traceToJson(const Trace& trace, const Model& model, const DecodeOptions& o, const TraceJsonContext& c) {
    const auto token = [&](int32_t n) { return c.codec ? c.codec->nodeToken(n) : std::to_string(n); };
    nlohmann::json steps = nlohmann::json::array();
    for (const auto& s : trace.steps) {
        nlohmann::json step = {
            {"index", s.index},   {"generated", s.generated},        {"source", s.source},
            {"target", s.target}, {"source_token", token(s.source)}, {"target_token", token(s.target)}};
        if (c.codec) {
            step["source_text"] = c.codec->nodeText(s.source);
            step["target_text"] = c.codec->nodeText(s.target);
        }
        step.update({{"slot", s.slot},
                     {"shared", s.shared},
                     {"pe_index", s.peIndex},
                     {"mix_weights", numbers(s.mixWeights)},
                     {"energy", number(s.energy)},
                     {"probability", number(s.probability)},
                     {"rank", s.rank},
                     {"candidates", s.candidates},
                     {"best", s.best},
                     {"best_energy", number(s.bestEnergy)},
                     {"ties", s.ties},
                     {"shared_candidates", s.sharedCandidates},
                     {"shared_energy", number(s.sharedEnergy)},
                     {"input", numbers(s.input)},
                     {"output", numbers(s.output)},
                     {"energies", numbers(s.energies)}});
        if (c.probabilities) step["probabilities"] = numbers(s.probabilities);
        steps.push_back(std::move(step));
    }
    nlohmann::json strings = nlohmann::json::array();
    for (int32_t t : trace.tokens)
        strings.push_back(token(t));
    std::string text;
    if (c.codec) {
        text = c.codec->decode(trace.tokens);
    } else {
        for (int32_t t : trace.tokens) {
            if (!text.empty()) text += ' ';
            text += std::to_string(t);
        }
    }
    nlohmann::json edits = nlohmann::json::array();
    for (const auto& e : c.edits)
        edits.push_back(editJson(e, c.codec));
    nlohmann::json root = {{"format", "brillm-trace"}, {"version", 1}};
    if (!c.modelPath.empty()) root["model"] = c.modelPath;
    root.update({{"vocab_size", model.vocabSize()},
                 {"dim", model.dim()},
                 {"edits", edits},
                 {"options",
                  {{"greedy", o.greedy},
                   {"temperature", number(o.temperature)},
                   {"top_k", o.topK},
                   {"top_p", number(o.topP)},
                   {"seed", o.seed},
                   {"exclude_self_loop", o.excludeSelfLoop},
                   {"reference_decode", o.referenceDecode},
                   {"max_new_tokens", o.maxNewTokens},
                   {"banned_tokens", o.bannedTokens},
                   {"stop_tokens", o.stopTokens}}},
                 {"prompt_tokens", trace.promptTokens},
                 {"tokens", trace.tokens},
                 {"token_strings", strings},
                 {"text", text},
                 {"stop_reason", trace.stopReason},
                 {"initial_signal", numbers(trace.initialSignal)},
                 {"steps", steps}});
    // Byte-level tokens may cut a character: invalid UTF-8 is replaced, never a throw.
    return root.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

} // namespace brillm
