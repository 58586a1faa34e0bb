// SPDX-License-Identifier: GPL-3.0-or-later
// brillm generate: complete a prompt, streaming the tokens as they come.
#include "commands.h"
#include "model_session.h"

#include "brillm/model/device_edges.h"

#include <chrono>
#include <iostream>

namespace brillm::cli {

int runGenerate(const Args& args) {
    std::string modelPath, prompt, promptIds;
    bool json = false;
    DecodeArgs d;
    ArgParser p("brillm generate", "Complete a prompt with a model file. Greedy by default; sampling when a\n"
                                   "temperature, top-k or top-p is given. Tokens stream to standard output.");
    p.option("model", &modelPath, "FILE", "the model file (or a sharded model's directory, its shards mapped)");
    p.option("prompt", &prompt, "TEXT", "the prompt text");
    p.option("prompt-ids", &promptIds, "IDS", "the prompt as comma-separated node ids instead");
    d.registerOn(p);
    p.flag("json", &json, "print one JSON object: prompt and generated nodes, text, per-step scores");
    p.required("model");
    if (!p.parse(args)) return 0;
    if (p.given("prompt") == p.given("prompt-ids")) throw UsageError("give exactly one of --prompt and --prompt-ids");

    const auto session = ModelSession::open(modelPath);
    const auto options = d.options(p, session);
    const auto nodes = session.encodePrompt(p.given("prompt") ? prompt : promptIds, p.given("prompt-ids"));

    const auto t0 = std::chrono::steady_clock::now();
    std::vector<int32_t> streamed;
    std::string shown;
    StepCallback stream;
    if (!json) {
        std::cout << session.decode(nodes) << std::flush;
        stream = [&](const TraceStep& s) {
            if (!s.generated) return true;
            // print the decoded text of everything generated so far, minus what is on screen, so
            // multi-byte characters split over byte-level tokens come out whole
            streamed.push_back(s.target);
            const std::string text = session.decode(streamed);
            if (text.size() >= shown.size() && text.compare(0, shown.size(), shown) == 0 &&
                text.find("\xEF\xBF\xBD") == std::string::npos) {
                std::cout << text.substr(shown.size()) << std::flush;
                shown = text;
            }
            return true;
        };
    }
    auto opts = options;
    opts.recordTrace = false;
    const auto trace = decode(session.model(), nodes, opts, stream);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const auto generated = trace.generated();
    const std::string scoredOn = options.device ? options.device->device().str() : "cpu";

    if (!json) {
        const std::string text = session.decode(generated);
        if (text.size() > shown.size() && text.compare(0, shown.size(), shown) == 0)
            std::cout << text.substr(shown.size());
        std::cout << '\n';
        std::cerr << "[" << generated.size() << " tokens in " << seconds * 1e3 << " ms, stop: " << trace.stopReason
                  << ", scored on " << scoredOn << "]\n";
        return 0;
    }
    nlohmann::json steps = nlohmann::json::array();
    for (const auto& s : trace.steps) {
        if (!s.generated) continue;
        steps.push_back({{"node", s.target},
                         {"token", session.nodeToken(s.target)},
                         {"energy", jsonNumber(s.energy)},
                         {"probability", jsonNumber(s.probability)},
                         {"rank", s.rank},
                         {"ties", s.ties},
                         {"shared", s.shared}});
    }
    nlohmann::json out = {{"prompt_nodes", nodes},
                          {"generated_nodes", generated},
                          {"prompt_text", session.decode(nodes)},
                          {"completion", session.decode(generated)},
                          {"text", session.decode(trace.tokens)},
                          {"stop_reason", trace.stopReason},
                          {"steps", steps},
                          {"scored_on", scoredOn},
                          {"seconds", seconds}};
    std::cout << out.dump() << '\n';
    return 0;
}

} // namespace brillm::cli
