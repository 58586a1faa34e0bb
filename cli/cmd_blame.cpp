// SPDX-License-Identifier: GPL-3.0-or-later
// brillm blame: error tracing from the command line. Forces a prompt plus the expected
// continuation, reports every step's expected rank and margin, and explains one step ("why A,
// not B") by the edges and positions responsible for the margin.
#include "commands.h"
#include "model_session.h"

#include "brillm/error.h"
#include "brillm/model/blame.h"
#include "brillm/model/continuation.h"

#include <algorithm>
#include <cstdio>
#include <iomanip>
#include <iostream>
#include <sstream>

namespace brillm::cli {

namespace {

int32_t nodeOf(const ModelSession& s, const std::string& text, bool ids, const char* option) {
    const auto nodes = s.encodePrompt(text, ids);
    if (nodes.size() != 1)
        throw UsageError(std::string("--") + option + " must be exactly one token; '" + text + "' is " +
                         std::to_string(nodes.size()) + " tokens");
    return nodes[0];
}

std::string fmt(double v, const char* f = "%.4f") {
    char buf[64];
    std::snprintf(buf, sizeof buf, f, v);
    return buf;
}

} // namespace

int runBlame(const Args& args) {
    std::string modelPath, prompt, expect, a, b, modeText = "shared";
    int64_t step = -1, top = 10;
    bool ids = false, json = false, referenceDecode = false, keepSelfLoops = false, banSpecial = false;
    ArgParser p("brillm blame",
                "Error tracing. Forces PROMPT followed by the EXPECTED continuation through the model and\n"
                "shows, at every step, the expected token's rank, probability and energy margin against the\n"
                "winner. Then explains one step (the first wrong one, or --step): the margin between A (the\n"
                "winner) and B (the expected token) is attributed to every edge of the path, the candidate\n"
                "edges, every earlier position and the start node, by exact leave-one-out (the edge replaced\n"
                "by the shared matrix, or zeroed with --mode zero) and by the margin's gradient.");
    p.option("model", &modelPath, "FILE", "the model file (or a sharded model's directory, its shards mapped)");
    p.option("prompt", &prompt, "TEXT", "the prompt");
    p.option("expect", &expect, "TEXT", "the continuation you expected");
    p.flag("ids", &ids, "prompt, expect, --a and --b are comma-separated node ids");
    p.option("step", &step, "N", "the edge index to explain (default: the first wrong step of the continuation)");
    p.option("a", &a, "TOKEN", "candidate A of the explained step (default: the winner)");
    p.option("b", &b, "TOKEN", "candidate B (default: the expected token)");
    p.option("mode", &modeText, "shared|zero", "how an edge is ablated (default {default})");
    p.option("top", &top, "K", "contributors to list (default {default}, 0 = all)");
    p.flag("reference-decode", &referenceDecode, "use the reference decoder's positions (PE[i] instead of PE[i+1])");
    p.flag("keep-self-loops", &keepSelfLoops, "count self-loops as candidates");
    p.flag(
        "ban-special", &banSpecial,
        "never count special tokens ([PAD], [UNK], ...) as the winner, as the studio's \"Skip special tokens\" does");
    p.flag("json", &json, "print one JSON object");
    p.required("model");
    p.required("prompt");
    if (!p.parse(args)) return 0;
    AblationMode mode;
    if (modeText == "shared")
        mode = AblationMode::Shared;
    else if (modeText == "zero")
        mode = AblationMode::Zero;
    else
        throw UsageError("--mode must be 'shared' or 'zero', not '" + modeText + "'");

    const auto session = ModelSession::open(modelPath);
    std::vector<int32_t> promptNodes, expected;
    bool joint = true;
    if (!ids && session.codec) {
        // The prompt and the continuation tokenised together (the studio's panel goes through the
        // same function, so the two report the same path).
        auto c = encodeContinuation(*session.codec, prompt, p.given("expect") ? expect : std::string());
        promptNodes = std::move(c.prompt);
        expected = std::move(c.expected);
        joint = c.joint;
    } else {
        promptNodes = session.encodePrompt(prompt, ids);
        if (p.given("expect")) expected = session.encodePrompt(expect, ids);
    }
    std::vector<int32_t> banned;
    if (banSpecial && session.codec) banned = session.codec->specialNodes();
    const auto convention = referenceDecode ? PositionConvention::Reference : PositionConvention::Training;
    const auto forced = forcePath(session.model(), promptNodes, expected, convention, !keepSelfLoops, banned);
    if (forced.steps.empty()) throw InputError("the path has no edge to trace: give a longer prompt or --expect");

    int64_t explain = step;
    if (explain < 0) explain = forced.firstWrong >= 0 ? forced.firstWrong : forced.firstWrongAny;
    if (step >= static_cast<int64_t>(forced.steps.size()))
        throw UsageError("--step " + std::to_string(step) + " is past the last edge (" +
                         std::to_string(forced.steps.size() - 1) + ")");
    std::optional<BlameReport> report;
    if (explain >= 0) {
        const auto& fs = forced.steps[static_cast<size_t>(explain)];
        BlameQuery q;
        q.path.assign(promptNodes.begin(), promptNodes.end());
        q.path.insert(q.path.end(), expected.begin(), expected.end());
        q.path.resize(static_cast<size_t>(explain) + 1);
        q.a = p.given("a") ? nodeOf(session, a, ids, "a") : fs.winner;
        q.b = p.given("b") ? nodeOf(session, b, ids, "b") : fs.expected;
        q.mode = mode;
        q.convention = convention;
        q.excludeSelfLoop = !keepSelfLoops;
        if (q.a == q.b)
            throw UsageError("step " + std::to_string(explain) + ": A and B are both '" + session.nodeLabel(q.a) +
                             "'; give --a or --b to compare two different candidates");
        report = blame(session.model(), q);
    }

    const auto limit = [&](size_t n) { return top > 0 ? std::min<size_t>(n, static_cast<size_t>(top)) : n; };
    if (json) {
        nlohmann::json steps = nlohmann::json::array();
        for (const auto& s : forced.steps)
            steps.push_back({{"index", s.index},
                             {"in_prompt", s.inPrompt},
                             {"source", s.source},
                             {"expected", s.expected},
                             {"expected_token", session.nodeToken(s.expected)},
                             {"winner", s.winner},
                             {"winner_token", session.nodeToken(s.winner)},
                             {"expected_rank", s.expectedRank},
                             {"expected_probability", jsonNumber(s.expectedProbability)},
                             {"expected_energy", jsonNumber(s.expectedEnergy)},
                             {"winner_energy", jsonNumber(s.winnerEnergy)},
                             {"margin", jsonNumber(s.margin)},
                             {"wrong", s.wrong}});
        nlohmann::json out{{"steps", steps},
                           {"first_wrong", forced.firstWrong},
                           {"first_wrong_any", forced.firstWrongAny},
                           {"prompt_nodes", promptNodes},
                           {"expected_nodes", expected},
                           {"tokenised_jointly", joint},
                           {"banned", banned}};
        if (report) {
            nlohmann::json cs = nlohmann::json::array();
            for (size_t k = 0; k < limit(report->contributors.size()); ++k) {
                const auto& c = report->contributors[k];
                cs.push_back({{"kind", toString(c.kind)},
                              {"edge_index", c.edgeIndex},
                              {"occurrences", c.occurrences},
                              {"source", c.source},
                              {"target", c.target},
                              {"slot", c.slot},
                              {"applicable", c.applicable},
                              {"margin_after", jsonNumber(c.marginAfter)},
                              {"effect", jsonNumber(c.effect)},
                              {"gradient_estimate", jsonNumber(c.gradientEstimate)},
                              {"gradient_norm", jsonNumber(c.gradientNorm)}});
            }
            out["blame"] = {{"step", report->step},
                            {"a", report->query.a},
                            {"b", report->query.b},
                            {"a_token", session.nodeToken(report->query.a)},
                            {"b_token", session.nodeToken(report->query.b)},
                            {"mode", toString(report->query.mode)},
                            {"energy_a", jsonNumber(report->energyA)},
                            {"energy_b", jsonNumber(report->energyB)},
                            {"margin", jsonNumber(report->margin)},
                            {"rank_a", report->rankA},
                            {"rank_b", report->rankB},
                            {"contributors", cs}};
        }
        std::cout << out.dump() << '\n';
        return 0;
    }

    if (!joint)
        std::cout << "note: the prompt's last token merges with the continuation; the continuation was tokenised "
                     "on its own\n";
    std::cout << "step  source -> expected            winner              rank   prob      margin\n";
    for (const auto& s : forced.steps) {
        std::ostringstream edge, win;
        edge << '\'' << session.nodeLabel(s.source) << "' -> '" << session.nodeLabel(s.expected) << '\'';
        if (s.winner >= 0)
            win << '\'' << session.nodeLabel(s.winner) << '\'';
        else
            win << '-';
        std::cout << (s.index == explain ? '>' : ' ') << fmt(static_cast<double>(s.index), "%3.0f") << "  " << std::left
                  << std::setw(28) << edge.str() << std::setw(18) << win.str() << std::right
                  << fmt(static_cast<double>(s.expectedRank), "%5.0f") << "  " << fmt(s.expectedProbability, "%.5f")
                  << "  " << (s.wrong ? fmt(s.margin) : std::string("   ok")) << (s.inPrompt ? "  (prompt)" : "")
                  << '\n';
    }
    if (!report) {
        std::cout
            << "\nevery step of the path is the model's greedy choice; nothing to explain (use --step and --a/--b)\n";
        return 0;
    }
    const auto& r = *report;
    std::cout << "\nwhy '" << session.nodeLabel(r.query.a) << "' (rank " << r.rankA << ", energy " << fmt(r.energyA)
              << ") and not '" << session.nodeLabel(r.query.b) << "' (rank " << r.rankB << ", energy " << fmt(r.energyB)
              << ") at step " << r.step << ": margin " << fmt(r.margin) << ", edges ablated with the "
              << (r.query.mode == AblationMode::Shared ? "shared matrix" : "zero matrix") << "\n"
              << "  effect    estimate  grad-norm  contributor\n";
    for (size_t k = 0; k < limit(r.contributors.size()); ++k) {
        const auto& c = r.contributors[k];
        std::string what;
        switch (c.kind) {
        case ContributorKind::PathEdge:
        case ContributorKind::CandidateEdge:
            what = std::string(c.kind == ContributorKind::PathEdge ? "edge " : "candidate edge ") +
                   std::to_string(c.edgeIndex) + " '" + session.nodeLabel(c.source) + "' -> '" +
                   session.nodeLabel(c.target) + "'" + (c.slot == 0 ? " (shared)" : "") +
                   (c.occurrences > 1 ? " x" + std::to_string(c.occurrences) : "") +
                   (c.applicable ? "" : " (already the shared matrix)");
            break;
        case ContributorKind::Position:
            what = "position " + std::to_string(c.edgeIndex) + " (the signal of '" + session.nodeLabel(c.source) +
                   "' -> '" + session.nodeLabel(c.target) + "')";
            break;
        case ContributorKind::StartNode:
            what = "start node bias of '" + session.nodeLabel(c.source) + "'";
            break;
        }
        std::cout << "  " << fmt(c.effect, "%+8.4f") << "  " << fmt(c.gradientEstimate, "%+8.4f") << "  "
                  << fmt(c.gradientNorm, "%9.4f") << "  " << what << '\n';
    }
    return 0;
}

} // namespace brillm::cli
