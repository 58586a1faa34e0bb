// SPDX-License-Identifier: GPL-3.0-or-later
#include "brillm/model/model_edit.h"

#include "brillm/error.h"
#include "brillm/io/checkpoint_writer.h"
#include "brillm/io/input_limits.h"

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <set>
#include <sstream>

namespace brillm {

namespace {

constexpr const char* kFormat = "brillm-patch";
constexpr int kVersion = 1;
// The bias of a knocked-out edge: GELU(-1e4 + PE) is exactly 0 in float32 and float64 (|PE| <= 1).
constexpr double kSilentBias = -1e4;

struct KindName {
    EditKind kind;
    const char* name;
};
constexpr KindName kKinds[] = {{EditKind::KnockoutEdge, "knockout_edge"},
                               {EditKind::KnockoutNode, "knockout_node"},
                               {EditKind::ScaleEdge, "scale_edge"},
                               {EditKind::SwapShared, "swap_shared"},
                               {EditKind::ZeroEdge, "zero_edge"}};

std::string nameOf(int32_t id, const std::vector<std::string>* names) {
    if (names && id >= 0 && static_cast<size_t>(id) < names->size())
        return "'" + (*names)[static_cast<size_t>(id)] + "'";
    return std::to_string(id);
}

void checkEdit(const ModelEdit& e, int64_t V, size_t index) {
    const auto where = "edit " + std::to_string(index + 1) + " (" + toString(e.kind) + ")";
    const auto checkId = [&](int32_t id, const char* what) {
        if (id < 0 || id >= V)
            throw InputError(where + ": " + what + " " + std::to_string(id) + " is not a node id (the model has " +
                             std::to_string(V) + " nodes)");
    };
    checkId(e.source, e.kind == EditKind::KnockoutNode ? "node" : "source");
    if (e.kind != EditKind::KnockoutNode) checkId(e.target, "target");
    if (e.kind == EditKind::ScaleEdge && !std::isfinite(e.factor))
        throw InputError(where + ": the scale factor must be a finite number");
}

// Every pair an edit acts on, in order of application.
template <class F> void forEachPair(const ModelEdit& e, int64_t V, F&& f) {
    if (e.kind != EditKind::KnockoutNode) {
        f(e.source, e.target);
        return;
    }
    for (int32_t t = 0; t < V; ++t)
        f(e.source, t);
    for (int32_t s = 0; s < V; ++s)
        if (s != e.source) f(s, e.source);
}

} // namespace

std::string toString(EditKind kind) {
    for (const auto& k : kKinds)
        if (k.kind == kind) return k.name;
    return "unknown";
}

EditKind editKindFromString(const std::string& text) {
    std::string accepted;
    for (const auto& k : kKinds) {
        if (text == k.name) return k.kind;
        accepted += (accepted.empty() ? "" : ", ") + std::string(k.name);
    }
    throw InputError("unknown edit '" + text + "' (expected one of " + accepted + ")");
}

std::string ModelEdit::describe(const std::vector<std::string>* names) const {
    const auto edge = nameOf(source, names) + " -> " + nameOf(target, names);
    switch (kind) {
    case EditKind::KnockoutEdge:
        return "knock out " + edge;
    case EditKind::KnockoutNode:
        return "knock out node " + nameOf(source, names);
    case EditKind::ScaleEdge: {
        std::ostringstream f;
        f << factor;
        return "scale " + edge + " by " + f.str();
    }
    case EditKind::SwapShared:
        return "swap " + edge + " with the shared matrix";
    case EditKind::ZeroEdge:
        return "zero " + edge;
    }
    return "unknown edit";
}

void ModelPatch::nameIds(const std::vector<std::string>& vocabulary) {
    const auto add = [&](int32_t id) {
        if (id >= 0 && static_cast<size_t>(id) < vocabulary.size()) names[id] = vocabulary[static_cast<size_t>(id)];
    };
    for (const auto& e : edits) {
        add(e.source);
        if (e.kind != EditKind::KnockoutNode) add(e.target);
    }
}

std::vector<std::string> ModelPatch::nameMismatches(const std::vector<std::string>& vocabulary) const {
    std::vector<std::string> out;
    for (const auto& [id, name] : names) {
        if (id < 0 || static_cast<size_t>(id) >= vocabulary.size())
            out.push_back("node " + std::to_string(id) + " ('" + name + "') is not in the model's vocabulary");
        else if (vocabulary[static_cast<size_t>(id)] != name)
            out.push_back("node " + std::to_string(id) + " is '" + vocabulary[static_cast<size_t>(id)] +
                          "' in the model but '" + name + "' in the patch");
    }
    return out;
}

std::vector<std::pair<int32_t, int32_t>> materialisedPairs(const Model& model, const std::vector<ModelEdit>& edits) {
    const int64_t V = model.vocabSize();
    std::set<std::pair<int32_t, int32_t>> pairs;
    for (size_t k = 0; k < edits.size(); ++k) {
        checkEdit(edits[k], V, k);
        forEachPair(edits[k], V, [&](int32_t s, int32_t t) {
            if (model.edges.isShared(s, t)) pairs.emplace(s, t);
        });
    }
    return {pairs.begin(), pairs.end()};
}

Model applyEdits(const Model& model, const std::vector<ModelEdit>& edits) {
    model.validate();
    const int64_t V = model.vocabSize();
    const auto added = materialisedPairs(model, edits); // validates the edits
    Model out;
    out.config = model.config;
    out.nodeBias = model.nodeBias.clone();
    out.positions = model.positions.clone();
    if (added.empty()) {
        out.edges = model.edges;
        out.weights = model.weights.clone();
        out.biases = model.biases.clone();
    } else {
        // Merge the own pairs with the materialised ones, row by row; the new slot of a pair is
        // its CSR index + 1, and a materialised pair starts from the shared slot's values.
        const auto& rowPtr = model.edges.rowPtr();
        const auto& targets = model.edges.targets();
        std::vector<int64_t> newRowPtr(static_cast<size_t>(V) + 1, 0);
        std::vector<int32_t> newTargets;
        std::vector<int64_t> fromSlot{0};
        newTargets.reserve(targets.size() + added.size());
        fromSlot.reserve(targets.size() + added.size() + 1);
        size_t a = 0;
        for (int32_t s = 0; s < V; ++s) {
            auto k = static_cast<size_t>(rowPtr[static_cast<size_t>(s)]);
            const auto end = static_cast<size_t>(rowPtr[static_cast<size_t>(s) + 1]);
            while (k < end || (a < added.size() && added[a].first == s)) {
                const bool takeOwn =
                    k < end && (a >= added.size() || added[a].first != s || targets[k] < added[a].second);
                if (takeOwn) {
                    newTargets.push_back(targets[k]);
                    fromSlot.push_back(static_cast<int64_t>(k) + 1);
                    ++k;
                } else {
                    newTargets.push_back(added[a].second);
                    fromSlot.push_back(EdgeTable::kSharedSlot);
                    ++a;
                }
            }
            newRowPtr[static_cast<size_t>(s) + 1] = static_cast<int64_t>(newTargets.size());
        }
        out.edges = EdgeTable::fromCsr(V, std::move(newRowPtr), std::move(newTargets));
        const auto index = at::tensor(fromSlot, at::kLong);
        out.weights = model.weights.index_select(0, index);
        out.biases = model.biases.index_select(0, index);
    }
    for (const auto& e : edits) {
        forEachPair(e, V, [&](int32_t s, int32_t t) {
            const int64_t slot = out.edges.slot(s, t);
            auto W = out.weights[slot];
            auto b = out.biases[slot];
            switch (e.kind) {
            case EditKind::KnockoutEdge:
            case EditKind::KnockoutNode:
                W.zero_();
                b.fill_(kSilentBias);
                break;
            case EditKind::ScaleEdge:
                W.mul_(e.factor);
                b.mul_(e.factor);
                break;
            case EditKind::SwapShared:
                W.copy_(out.weights[EdgeTable::kSharedSlot]);
                b.copy_(out.biases[EdgeTable::kSharedSlot]);
                break;
            case EditKind::ZeroEdge:
                W.zero_();
                b.zero_();
                break;
            }
        });
    }
    out.validate();
    return out;
}

std::string patchToJson(const ModelPatch& patch) {
    nlohmann::json edits = nlohmann::json::array();
    const auto name = [&](int32_t id) -> nlohmann::json {
        const auto it = patch.names.find(id);
        return it == patch.names.end() ? nlohmann::json(nullptr) : nlohmann::json(it->second);
    };
    for (const auto& e : patch.edits) {
        nlohmann::json j{{"op", toString(e.kind)}};
        if (e.kind == EditKind::KnockoutNode) {
            j["node"] = e.source;
            if (patch.names.count(e.source)) j["name"] = name(e.source);
        } else {
            j["source"] = e.source;
            j["target"] = e.target;
            if (patch.names.count(e.source)) j["source_name"] = name(e.source);
            if (patch.names.count(e.target)) j["target_name"] = name(e.target);
        }
        if (e.kind == EditKind::ScaleEdge) j["factor"] = e.factor;
        edits.push_back(std::move(j));
    }
    nlohmann::json model{{"vocab_size", patch.vocabSize}};
    if (!patch.modelSha256.empty()) model["sha256"] = patch.modelSha256;
    const nlohmann::json root{{"format", kFormat}, {"version", kVersion}, {"model", model}, {"edits", edits}};
    return root.dump(2) + "\n";
}

ModelPatch patchFromJson(const std::string& text, const std::string& sourceName) {
    if (const auto deep = jsonDepthProblem(text); !deep.empty()) throw InputError(sourceName + ": " + deep);
    nlohmann::json root;
    try {
        root = nlohmann::json::parse(text);
    } catch (const nlohmann::json::exception& e) {
        throw InputError(sourceName + ": not a JSON patch file (" + e.what() + ")");
    }
    const auto fail = [&](const std::string& what) -> void { throw InputError(sourceName + ": " + what); };
    if (!root.is_object() || root.value("format", std::string()) != kFormat)
        fail(std::string("not a BriLLM patch file (expected \"format\": \"") + kFormat + "\")");
    if (!root.contains("version") || !root["version"].is_number_integer() || root["version"].get<int>() != kVersion)
        fail("unsupported patch version (this build reads version " + std::to_string(kVersion) + ")");
    ModelPatch p;
    if (!root.contains("model") || !root["model"].is_object() || !root["model"].contains("vocab_size") ||
        !root["model"]["vocab_size"].is_number_integer())
        fail("expected \"model\": {\"vocab_size\": N, ...}");
    p.vocabSize = root["model"]["vocab_size"].get<int64_t>();
    if (p.vocabSize <= 0) fail("model.vocab_size must be positive");
    if (root["model"].contains("sha256")) {
        if (!root["model"]["sha256"].is_string()) fail("model.sha256 must be a string");
        p.modelSha256 = root["model"]["sha256"].get<std::string>();
    }
    if (!root.contains("edits") || !root["edits"].is_array()) fail("expected an \"edits\" array");
    size_t index = 0;
    for (const auto& j : root["edits"]) {
        ++index;
        const auto where = "edit " + std::to_string(index);
        if (!j.is_object() || !j.contains("op") || !j["op"].is_string())
            fail(where + ": expected an object with \"op\"");
        ModelEdit e;
        try {
            e.kind = editKindFromString(j["op"].get<std::string>());
        } catch (const InputError& err) {
            fail(where + ": " + err.what());
        }
        const auto readId = [&](const char* key) -> int32_t {
            if (!j.contains(key) || !j[key].is_number_integer()) fail(where + ": expected an integer \"" + key + "\"");
            const auto v = j[key].get<int64_t>();
            if (v < 0 || v >= p.vocabSize)
                fail(where + ": \"" + key + "\" " + std::to_string(v) + " is outside the vocabulary of " +
                     std::to_string(p.vocabSize) + " nodes");
            return static_cast<int32_t>(v);
        };
        const auto readName = [&](const char* key, int32_t id) {
            if (j.contains(key) && j[key].is_string()) p.names[id] = j[key].get<std::string>();
        };
        if (e.kind == EditKind::KnockoutNode) {
            e.source = readId("node");
            readName("name", e.source);
        } else {
            e.source = readId("source");
            e.target = readId("target");
            readName("source_name", e.source);
            readName("target_name", e.target);
        }
        if (e.kind == EditKind::ScaleEdge) {
            if (!j.contains("factor") || !j["factor"].is_number()) fail(where + ": expected a number \"factor\"");
            e.factor = j["factor"].get<double>();
            if (!std::isfinite(e.factor)) fail(where + ": the factor must be finite");
        }
        p.edits.push_back(e);
    }
    return p;
}

void savePatch(const ModelPatch& patch, const std::filesystem::path& path) {
    const auto text = patchToJson(patch);
    try {
        CheckpointWriter w(path.string());
        w.write(text.data(), text.size());
        w.commit();
    } catch (const std::exception& e) {
        throw InputError("cannot write the patch file " + path.string() + ": " + e.what());
    }
}

ModelPatch loadPatch(const std::filesystem::path& path) {
    std::string text, error;
    if (!readRegularFile(path, text, error))
        throw InputError("cannot read the patch file " + path.string() + ": " + error);
    return patchFromJson(text, path.string());
}

} // namespace brillm
