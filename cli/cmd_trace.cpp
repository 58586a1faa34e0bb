// SPDX-License-Identifier: GPL-3.0-or-later
// brillm trace: the core's full trace of a completion as JSON (schema: docs/trace-format.md).
#include "commands.h"
#include "model_session.h"

#include "brillm/io/trace_json.h"

#include <filesystem>
#include <iostream>

namespace brillm::cli {

int runTrace(const Args& args) {
    std::string modelPath, prompt, promptIds, path;
    bool json = false, probabilities = false;
    DecodeArgs d;
    ArgParser p("brillm trace",
                "The full trace of a completion: for every edge of the path (prompt edges and generated\n"
                "ones) the energy of every candidate, the mixing weights over earlier positions, the slot,\n"
                "rank and probability of the edge taken. --path forces a given continuation instead of\n"
                "decoding (error tracing). Schema: docs/trace-format.md.");
    p.option("model", &modelPath, "FILE", "the model file (or a sharded model's directory, its shards mapped)");
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
    TraceJsonContext context; // the one writer of the format, shared with the studio
    context.codec = session.codec ? &*session.codec : nullptr;
    context.modelPath = std::filesystem::absolute(modelPath).string();
    context.probabilities = probabilities;
    std::cout << traceToJson(trace, session.model(), options, context) << '\n';
    return 0;
}

} // namespace brillm::cli
