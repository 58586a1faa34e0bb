// SPDX-License-Identifier: GPL-3.0-or-later
// brillm trace: the core's full trace of a completion as JSON (schema: docs/trace-format.md).
#include "commands.h"
#include "model_session.h"

#include <iostream>

namespace brillm::cli {

nlohmann::json traceToJson(const Trace& trace, const ModelSession& session, const DecodeOptions& options,
                           bool probabilities) {
    nlohmann::json steps = nlohmann::json::array();
    for (const auto& s : trace.steps) {
        nlohmann::json e = nlohmann::json::array(), pr = nlohmann::json::array();
        for (double v : s.energies) e.push_back(jsonNumber(v));
        nlohmann::json step = {{"index", s.index},
                               {"generated", s.generated},
                               {"source", s.source},
                               {"target", s.target},
                               {"source_token", session.nodeToken(s.source)},
                               {"target_token", session.nodeToken(s.target)},
                               {"slot", s.slot},
                               {"shared", s.shared},
                               {"pe_index", s.peIndex},
                               {"mix_weights", s.mixWeights},
                               {"energy", jsonNumber(s.energy)},
                               {"probability", jsonNumber(s.probability)},
                               {"rank", s.rank},
                               {"candidates", s.candidates},
                               {"best", s.best},
                               {"best_energy", jsonNumber(s.bestEnergy)},
                               {"ties", s.ties},
                               {"shared_candidates", s.sharedCandidates},
                               {"shared_energy", jsonNumber(s.sharedEnergy)},
                               {"input", s.input},
                               {"output", s.output},
                               {"energies", e}};
        if (probabilities) {
            for (double v : s.probabilities) pr.push_back(jsonNumber(v));
            step["probabilities"] = pr;
        }
        steps.push_back(std::move(step));
    }
    nlohmann::json tokens = nlohmann::json::array();
    for (int32_t t : trace.tokens) tokens.push_back(session.nodeToken(t));
    return {{"format", "brillm-trace"},
            {"version", 1},
            {"vocab_size", session.model().vocabSize()},
            {"dim", session.model().dim()},
            {"options",
             {{"greedy", options.greedy},
              {"temperature", options.temperature},
              {"top_k", options.topK},
              {"top_p", options.topP},
              {"seed", options.seed},
              {"exclude_self_loop", options.excludeSelfLoop},
              {"reference_decode", options.referenceDecode},
              {"max_new_tokens", options.maxNewTokens}}},
            {"prompt_tokens", trace.promptTokens},
            {"tokens", trace.tokens},
            {"token_strings", tokens},
            {"text", session.decode(trace.tokens)},
            {"stop_reason", trace.stopReason},
            {"initial_signal", trace.initialSignal},
            {"steps", steps}};
}

int runTrace(const Args& args) {
    std::string modelPath, prompt, promptIds, path;
    bool json = false, probabilities = false;
    DecodeArgs d;
    ArgParser p("brillm trace",
                "The full trace of a completion: for every edge of the path (prompt edges and generated\n"
                "ones) the energy of every candidate, the mixing weights over earlier positions, the slot,\n"
                "rank and probability of the edge taken. --path forces a given continuation instead of\n"
                "decoding (error tracing). Schema: docs/trace-format.md.");
    p.option("model", &modelPath, "FILE", "the model file");
    p.option("prompt", &prompt, "TEXT", "the prompt text");
    p.option("prompt-ids", &promptIds, "IDS", "the prompt as comma-separated node ids instead");
    p.option("path", &path, "TEXT", "follow this whole text as the path; nothing is generated");
    d.registerOn(p);
    p.flag("probabilities", &probabilities, "also write every candidate's probability");
    p.flag("json", &json, "write JSON (the only output format; accepted for clarity)");
    p.required("model");
    if (!p.parse(args)) return 0;
    const int sources = p.given("prompt") + p.given("prompt-ids") + p.given("path");
    if (sources != 1) throw UsageError("give exactly one of --prompt, --prompt-ids and --path");

    const auto session = ModelSession::open(modelPath);
    const auto options = d.options(p, session);
    Trace trace;
    if (p.given("path")) {
        trace = tracePath(session.model(), session.encodePrompt(path, false), options);
    } else {
        const auto nodes = session.encodePrompt(p.given("prompt") ? prompt : promptIds, p.given("prompt-ids"));
        trace = decode(session.model(), nodes, options);
    }
    std::cout << traceToJson(trace, session, options, probabilities).dump() << '\n';
    return 0;
}

} // namespace brillm::cli
