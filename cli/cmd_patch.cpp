// SPDX-License-Identifier: GPL-3.0-or-later
// brillm patch: model edits (knock out, scale, swap with the shared matrix) as patch files.
#include "commands.h"
#include "model_session.h"

#include "brillm/error.h"
#include "brillm/io/sharded_model.h"
#include "brillm/model/model_edit.h"

#include <iostream>

namespace brillm::cli {

namespace {

// "a>b" (tokens, or ids with --ids) into a pair of node ids.
std::pair<int32_t, int32_t> parseEdge(const ModelSession& s, const std::string& text, bool ids,
                                      const std::string& option) {
    const auto sep = text.find('>');
    if (sep == std::string::npos)
        throw UsageError("--" + option + " takes SOURCE>TARGET (two tokens separated by '>'), got '" + text + "'");
    const auto one = [&](const std::string& t) {
        const auto nodes = s.encodePrompt(t, ids);
        if (nodes.size() != 1)
            throw UsageError("--" + option + ": '" + t + "' is " + std::to_string(nodes.size()) +
                             " tokens, expected one");
        return nodes[0];
    };
    return {one(text.substr(0, sep)), one(text.substr(sep + 1))};
}

int runPatchNew(const Args& args) {
    std::string modelPath, out;
    std::vector<std::string> knockEdges, knockNodes, scales, swaps, zeros;
    bool ids = false;
    ArgParser p("brillm patch new",
                "Writes a patch file of edits for MODEL, in the order given by kind: knock-outs of nodes, then of\n"
                "edges, swaps, zeros, scales. Edges are SOURCE>TARGET tokens (node ids with --ids).");
    p.option("model", &modelPath, "FILE", "the model the patch is for (a model file or a sharded model's directory)");
    p.option("out", &out, "FILE", "the patch file to write");
    p.list("knockout-edge", &knockEdges, "A>B", "the edge carries no signal (energy 0)");
    p.list("knockout-node", &knockNodes, "TOKEN", "every edge into and out of the node carries no signal");
    p.list("swap-shared", &swaps, "A>B", "the edge uses the shared matrix");
    p.list("zero", &zeros, "A>B", "the edge's matrix and bias are zero");
    p.list("scale", &scales, "A>B=F", "the edge's matrix and bias times F");
    p.flag("ids", &ids, "tokens are node ids");
    p.required("model");
    p.required("out");
    if (!p.parse(args)) return 0;
    const auto session = ModelSession::open(modelPath);
    ModelPatch patch;
    patch.vocabSize = session.model().vocabSize();
    patch.modelSha256 = modelChecksum(modelPath);
    for (const auto& n : knockNodes) {
        const auto nodes = session.encodePrompt(n, ids);
        if (nodes.size() != 1) throw UsageError("--knockout-node: '" + n + "' is not one token");
        patch.edits.push_back({EditKind::KnockoutNode, nodes[0]});
    }
    for (const auto& e : knockEdges) {
        const auto [s, t] = parseEdge(session, e, ids, "knockout-edge");
        patch.edits.push_back({EditKind::KnockoutEdge, s, t});
    }
    for (const auto& e : swaps) {
        const auto [s, t] = parseEdge(session, e, ids, "swap-shared");
        patch.edits.push_back({EditKind::SwapShared, s, t});
    }
    for (const auto& e : zeros) {
        const auto [s, t] = parseEdge(session, e, ids, "zero");
        patch.edits.push_back({EditKind::ZeroEdge, s, t});
    }
    for (const auto& e : scales) {
        const auto eq = e.rfind('=');
        if (eq == std::string::npos) throw UsageError("--scale takes A>B=F, got '" + e + "'");
        const auto [s, t] = parseEdge(session, e.substr(0, eq), ids, "scale");
        double f = 0;
        try {
            size_t used = 0;
            f = std::stod(e.substr(eq + 1), &used);
            if (used != e.size() - eq - 1) throw std::invalid_argument("trailing");
        } catch (const std::exception&) {
            throw UsageError("--scale: '" + e.substr(eq + 1) + "' is not a number");
        }
        patch.edits.push_back({EditKind::ScaleEdge, s, t, f});
    }
    if (patch.edits.empty()) throw UsageError("give at least one edit");
    applyEdits(session.model(), patch.edits); // validates ids and factors before anything is written
    patch.nameIds(session.loaded.metadata.vocabulary);
    savePatch(patch, out);
    std::cout << "wrote " << out << " (" << patch.edits.size() << " edits)\n";
    return 0;
}

int runPatchShow(const Args& args) {
    std::string path;
    ArgParser p("brillm patch show", "Lists the edits of a patch file.");
    p.positional("patch", &path, "the patch file");
    if (!p.parse(args)) return 0;
    const auto patch = loadPatch(path);
    std::vector<std::string> names(static_cast<size_t>(patch.vocabSize));
    for (int32_t i = 0; i < patch.vocabSize; ++i) {
        const auto it = patch.names.find(i);
        names[static_cast<size_t>(i)] = it != patch.names.end() ? it->second : std::to_string(i);
    }
    std::cout << path << ": " << patch.edits.size() << " edits for a model of " << patch.vocabSize << " nodes";
    if (!patch.modelSha256.empty()) std::cout << " (" << patch.modelSha256 << ")";
    std::cout << '\n';
    for (size_t k = 0; k < patch.edits.size(); ++k)
        std::cout << "  " << k + 1 << ". " << patch.edits[k].describe(&names) << '\n';
    return 0;
}

int runPatchApply(const Args& args) {
    std::string modelPath, patchPath, out;
    bool force = false;
    ArgParser p("brillm patch apply",
                "Applies a patch file to a model and writes the edited model (atomically). The patch must be\n"
                "for a model of the same vocabulary; node names recorded in the patch are checked against the\n"
                "model's vocabulary (--force applies anyway).");
    p.option("model", &modelPath, "FILE",
             "the model to edit (a model file or a sharded model's directory; the output is one file)");
    p.option("patch", &patchPath, "FILE", "the patch file");
    p.option("out", &out, "FILE", "the edited model file to write");
    p.flag("force", &force, "apply even when the recorded node names or checksum differ");
    p.required("model");
    p.required("patch");
    p.required("out");
    if (!p.parse(args)) return 0;
    const auto patch = loadPatch(patchPath);
    auto loaded = openModel(modelPath);
    noteMergedShards(loaded);
    if (patch.vocabSize != loaded.model.vocabSize())
        throw InputError(patchPath + " is for a model of " + std::to_string(patch.vocabSize) + " nodes; " + modelPath +
                         " has " + std::to_string(loaded.model.vocabSize()));
    const auto mismatches = patch.nameMismatches(loaded.metadata.vocabulary);
    if (!mismatches.empty() && !loaded.metadata.vocabulary.empty() && !force) {
        std::string msg = patchPath + " was made on another vocabulary than " + modelPath + ":";
        for (size_t k = 0; k < std::min<size_t>(mismatches.size(), 5); ++k)
            msg += "\n  " + mismatches[k];
        throw InputError(msg + "\n(--force applies it anyway)");
    }
    const auto checksum = modelChecksum(modelPath);
    if (!patch.modelSha256.empty() && !checksum.empty() && patch.modelSha256 != checksum)
        std::cerr << "note: " << patchPath << " was made on a model with checksum " << patch.modelSha256 << ", "
                  << modelPath << " has " << checksum << '\n';
    const auto edited = applyEdits(loaded.model, patch.edits);
    auto meta = loaded.metadata;
    nlohmann::json prov =
        nlohmann::json::parse(meta.provenanceJson.empty() ? "{}" : meta.provenanceJson, nullptr, false);
    if (!prov.is_object()) prov = nlohmann::json::object();
    prov["patched"] = {
        {"from", modelPath}, {"from_checksum", checksum}, {"patch", nlohmann::json::parse(patchToJson(patch))}};
    meta.provenanceJson = prov.dump();
    ModelFile::save(out, edited, meta);
    std::cout << "wrote " << out << ": " << patch.edits.size() << " edits, "
              << edited.edges.numOwn() - loaded.model.edges.numOwn() << " shared pairs materialised\n";
    return 0;
}

} // namespace

int runPatch(const Args& args) {
    return dispatchSubcommand("brillm patch", args,
                              {{"new", "write a patch file of edits for a model", runPatchNew},
                               {"show", "list the edits of a patch file", runPatchShow},
                               {"apply", "apply a patch to a model and write the edited model", runPatchApply}});
}

} // namespace brillm::cli
