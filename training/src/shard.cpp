// SPDX-License-Identifier: GPL-3.0-or-later
#include "brillm/training/shard.h"

#include "brillm/error.h"
#include "brillm/io/input_limits.h"
#include "brillm/training/run_directory.h"

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>

namespace fs = std::filesystem;

namespace brillm::training {

at::Tensor shardRows(const at::Tensor& perSlot, const EdgeTable& global, int64_t begin, int64_t end) {
    const int64_t first = global.rowPtr()[static_cast<size_t>(begin)] + 1;
    const int64_t count = global.rowPtr()[static_cast<size_t>(end)] + 1 - first;
    return at::cat({perSlot.narrow(0, 0, 1), perSlot.narrow(0, first, count)}, 0);
}

Model shardModel(const Model& full, int64_t begin, int64_t end) {
    Model m;
    m.config = full.config;
    m.edges = shardEdgeTable(full.edges, begin, end);
    m.weights = shardRows(full.weights, full.edges, begin, end);
    m.biases = shardRows(full.biases, full.edges, begin, end);
    m.nodeBias = full.nodeBias.clone();
    m.positions = full.positions.clone();
    m.validate();
    return m;
}

bool isPerSlotState(const std::string& name) {
    return name.rfind("weights.", 0) == 0 || name.rfind("biases.", 0) == 0 || name.rfind("slots.", 0) == 0;
}

uint64_t edgeTableBytes(const Model& model) {
    return static_cast<uint64_t>(model.weights.numel() * model.weights.element_size() +
                                 model.biases.numel() * model.biases.element_size());
}

std::vector<double> shardWork(const BigramTable& counts, const EdgeTable& edges, LossKind loss, int64_t negatives) {
    const int64_t V = edges.vocabSize();
    if (counts.vocabSize() != V)
        throw InputError("shard work: the bigram counts have " + std::to_string(counts.vocabSize()) +
                         " nodes, the edge table " + std::to_string(V));
    std::vector<double> work(static_cast<size_t>(V), 0.0);
    for (int64_t s = 0; s < V; ++s) {
        double uses = 0;
        for (const uint64_t c : counts.counts(static_cast<int32_t>(s)))
            uses += static_cast<double>(c);
        const auto own = static_cast<double>(edges.ownCount(s));
        // the positive, the other own candidates, one row for all on the shared slot
        const auto k = static_cast<double>(negatives);
        const double rows = loss == LossKind::Exact     ? own + 1
                            : loss == LossKind::Sampled ? 2 + std::min(own, k)
                                                        : 2 + std::min(k, std::max(own - 1, 0.0));
        work[static_cast<size_t>(s)] = uses * rows;
    }
    return work;
}

void saveShard(const fs::path& dir, int rank, const ShardPlan& plan, const Model& shard, const ModelMetadata& metadata,
               const std::vector<std::pair<std::string, at::Tensor>>* optimizer) {
    ModelMetadata meta = metadata;
    nlohmann::json prov = nlohmann::json::parse(metadata.provenanceJson.empty() ? "{}" : metadata.provenanceJson,
                                                nullptr, /*allow_exceptions=*/false);
    if (!prov.is_object()) prov = nlohmann::json::object();
    prov["shard"] = {{"rank", rank},
                     {"shards", plan.parts()},
                     {"source_begin", plan.begin(rank)},
                     {"source_end", plan.end(rank)},
                     {"note", "one shard of a sharded model: open the directory (shards.json) or merge it with "
                              "brillm merge-shards"}};
    meta.provenanceJson = prov.dump();
    // the shard's local slot k >= 1 is the global slot k + slotBegin[rank]: its weights placed in
    // the file at the page offset of the global slot space's, so that openShardedModel can map
    // them there
    ModelSaveOptions options;
    if (static_cast<int>(plan.slotBegin.size()) == plan.parts() + 1) {
        const auto matrix = static_cast<uint64_t>(shard.weights.size(1) * shard.weights.size(2) *
                                                  static_cast<int64_t>(shard.weights.element_size()));
        options.weightsPageOffset =
            static_cast<uint64_t>(plan.slotBegin[static_cast<size_t>(rank)]) * matrix % kModelFilePageSize;
    }
    ModelFile::save((dir / shardFileName(rank, plan.parts())).string(), shard, meta, options);
    if (optimizer && !optimizer->empty())
        writeOptimizerFile(dir / shardFileName(rank, plan.parts(), ".optimizer.safetensors"), *optimizer, "sharded");
}

void writeShardManifest(const fs::path& dir, const ShardPlan& plan, const EdgeTable& global, int64_t dim) {
    nlohmann::json files = nlohmann::json::array();
    for (int r = 0; r < plan.parts(); ++r)
        files.push_back({{"file", shardFileName(r, plan.parts())},
                         {"source_begin", plan.begin(r)},
                         {"source_end", plan.end(r)},
                         {"own_slots", global.rowPtr()[static_cast<size_t>(plan.end(r))] -
                                           global.rowPtr()[static_cast<size_t>(plan.begin(r))]}});
    const nlohmann::json j = {
        {"format", "brillm-shards"},      {"version", 1}, {"shards", plan.parts()}, {"vocab_size", global.vocabSize()},
        {"num_slots", global.numSlots()}, {"dim", dim},   {"files", files}};
    writeFileAtomic(dir / "shards.json", j.dump(2) + "\n");
}

std::vector<std::pair<std::string, at::Tensor>> optimizerRows(const ShardSet& set, int64_t begin, int64_t end) {
    std::vector<std::vector<std::pair<std::string, at::Tensor>>> states;
    for (int q = 0; q < set.shards(); ++q) {
        const auto p = set.directory() / shardFileName(q, set.shards(), ".optimizer.safetensors");
        std::error_code ec;
        if (!fs::exists(p, ec)) {
            if (q == 0) return {};
            throw CheckpointError(p.string() + " is missing (shard 0 has its optimizer state)");
        }
        states.push_back(readOptimizerFile(p));
    }
    std::vector<std::pair<std::string, at::Tensor>> out;
    for (const auto& [name, first] : states.front()) {
        if (!isPerSlotState(name)) {
            out.emplace_back(name, first.clone());
            continue;
        }
        const auto get = [&](int q) {
            for (const auto& [n, t] : states[static_cast<size_t>(q)])
                if (n == name) return t;
            throw CheckpointError("the optimizer state of shard " + std::to_string(q) + " in " +
                                  set.directory().string() + " lacks '" + name + "'");
        };
        at::Tensor rows = set.gatherRows(get, begin, end);
        out.emplace_back(name, rows.to(first.scalar_type()));
    }
    return out;
}

} // namespace brillm::training
