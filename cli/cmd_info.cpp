// SPDX-License-Identifier: GPL-3.0-or-later
// brillm info: what a model file (or a torch.save checkpoint) holds, without reading its data.
#include "args.h"
#include "commands.h"

#include "brillm/io/checkpoint_dtype.h"
#include "brillm/io/input_limits.h"
#include "brillm/io/model_file.h"
#include "brillm/io/sharded_model.h"
#include "brillm/io/torch_checkpoint.h"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>

#include <unistd.h>

namespace brillm::cli {
namespace {

using nlohmann::json;

// What a model file and a sharded model report alike: config, dtype, edges, parameter counts.
struct ModelSummary {
    int64_t v, d, positions, slots, own;
    int64_t perEdge() const { return d * d + d; }
    int64_t nodes() const { return v * d; }
    int64_t sparse() const { return slots * perEdge() + nodes() + positions; }
    int64_t dense() const { return v * v * perEdge() + nodes() + positions; }

    void addTo(json& j, StorageDtype dtype) const {
        j["config"] = {{"vocab_size", v}, {"dim", d}, {"max_positions", positions}};
        j["dtype"] = safetensorsName(dtype);
        j["edges"] = {{"own", own}, {"slots", slots}, {"pairs", v * v}};
        j["parameters"] = {{"sparse", sparse()},
                           {"dense", dense()},
                           {"edge_slots", slots * perEdge()},
                           {"node_bias", nodes()},
                           {"positions", positions}};
    }
    void print(StorageDtype dtype) const;
};
namespace fs = std::filesystem;

std::string grouped(int64_t n) {
    std::string s = std::to_string(n < 0 ? -n : n), out;
    for (size_t i = 0; i < s.size(); ++i) {
        if (i && (s.size() - i) % 3 == 0) out += ',';
        out += s[i];
    }
    return n < 0 ? "-" + out : out;
}

void ModelSummary::print(StorageDtype dtype) const {
    std::printf("config       V = %lld, d = %lld, P = %lld\n", static_cast<long long>(v), static_cast<long long>(d),
                static_cast<long long>(positions));
    std::printf("dtype        %s\n", safetensorsName(dtype));
    std::printf("edges        %s own of %s pairs (%.2f%%), %s slots with the shared one\n", grouped(own).c_str(),
                grouped(v * v).c_str(), 100.0 * static_cast<double>(own) / static_cast<double>(v * v),
                grouped(slots).c_str());
    std::printf("parameters   %s sparse vs %s dense (%.2f%%): edges %s, node biases %s, positions %s\n",
                grouped(sparse()).c_str(), grouped(dense()).c_str(),
                100.0 * static_cast<double>(sparse()) / static_cast<double>(dense()),
                grouped(slots * perEdge()).c_str(), grouped(nodes()).c_str(), grouped(positions).c_str());
}

// A zip's local header ("PK\3\4", then a version and flags) versus a model file's 8-byte header
// length followed by '{'.
// Not a regular file (a FIFO would block the read): false, and the model reader names the problem.
bool isZip(const std::string& path) {
    std::string error;
    const int fd = openRegularFile(path, error);
    if (fd < 0) return false;
    char head[9] = {};
    const bool full = ::read(fd, head, 9) == 9;
    ::close(fd);
    return full && head[0] == 'P' && head[1] == 'K' && head[2] == 3 && head[3] == 4 && head[8] != '{';
}

json shapeJson(const std::vector<int64_t>& shape) {
    return json(shape);
}

int torchInfo(const std::string& path, bool asJson) {
    const TorchCheckpoint c = TorchCheckpoint::open(path);
    json j = {{"file", path}, {"format", "torch.save"}, {"layout", c.stateDict().layout}, {"tensors", json::array()}};
    for (const auto& t : c.tensors())
        j["tensors"].push_back({{"key", t.originalKey}, {"dtype", shortName(t.dtype)}, {"shape", shapeJson(t.shape)}});
    j["notes"] = c.stateDict().notes;
    j["extras"] = json::parse(c.stateDict().extrasJson);
    if (asJson) {
        std::cout << j.dump(2, ' ', false, json::error_handler_t::replace) << '\n';
        return 0;
    }
    std::printf("file        %s\nformat      torch.save (%s)\n", path.c_str(), c.stateDict().layout.c_str());
    for (const auto& t : c.tensors()) {
        std::string shape;
        for (size_t k = 0; k < t.shape.size(); ++k)
            shape += (k ? ", " : "") + std::to_string(t.shape[k]);
        std::printf("  %-28s %-5s [%s]\n", t.originalKey.c_str(), shortName(t.dtype), shape.c_str());
    }
    for (const auto& n : c.stateDict().notes)
        std::printf("note        %s\n", n.c_str());
    if (c.stateDict().extrasJson != "{}") std::printf("extras      %s\n", c.stateDict().extrasJson.c_str());
    std::printf("(import it with 'brillm import --state-dict %s --vocab ... --frequency ... --out ...')\n",
                path.c_str());
    return 0;
}

// A sharded model (a directory with shards.json): the global model from the shards' headers, how
// it opens (mapped, or merged in memory and why), and each shard. Reads no parameter data.
int shardedInfo(const std::string& path, bool asJson) {
    const ShardSet set = ShardSet::open(path);
    const ModelFileHeader& h = set.file(0).header();
    const ModelSummary sum{set.config().vocabSize, set.dim(), set.config().maxPositions, set.edges().numSlots(),
                           set.edges().numOwn()};
    const std::string problem = set.mappingProblem();
    const std::string opens = problem.empty() ? "mapped" : "merged in memory (" + problem + ")";
    const ModelMetadata meta = set.metadata();
    uint64_t bytes = 0;
    json shards = json::array();
    for (int q = 0; q < set.shards(); ++q) {
        const ModelFile& f = set.file(q);
        bytes += f.mapping()->size();
        shards.push_back({{"file", f.path()},
                          {"file_bytes", f.mapping()->size()},
                          {"source_begin", set.plan().begin(q)},
                          {"source_end", set.plan().end(q)},
                          {"own_slots", f.edges().numOwn()},
                          {"checksum", f.header().checksum}});
    }
    json provenance = json::parse(meta.provenanceJson, nullptr, false);
    json j = {
        {"file", set.directory().string()},
        {"file_bytes", bytes},
        {"format", "brillm-shards"},
        {"sharded", {{"shards", set.shards()}, {"opens", problem.empty() ? "mapped" : "merged"}, {"reason", problem}}},
        {"shards", shards},
        {"writer", h.writer},
        {"tokenizer", {{"kind", meta.tokenizerKind}, {"embedded_json_bytes", meta.tokenizerJson.size()}}},
        {"vocabulary_size", meta.vocabulary.size()},
        {"provenance", provenance.is_discarded() ? json(meta.provenanceJson) : provenance},
    };
    sum.addTo(j, h.dtype);
    if (asJson) {
        std::cout << j.dump(2, ' ', false, json::error_handler_t::replace) << '\n';
        return 0;
    }
    std::printf("file         %s (%.3f GB in %d shard files)\n", set.directory().c_str(),
                static_cast<double>(bytes) / 1e9, set.shards());
    std::printf("format       brillm-shards (model files v%d%s)\n", h.formatVersion,
                h.writer.empty() ? "" : (", written by " + h.writer).c_str());
    std::printf("sharded      %d shards, %s\n", set.shards(), opens.c_str());
    for (int q = 0; q < set.shards(); ++q)
        std::printf("  shard %-4d sources [%lld, %lld), %s own slots: %s\n", q,
                    static_cast<long long>(set.plan().begin(q)), static_cast<long long>(set.plan().end(q)),
                    grouped(set.file(q).edges().numOwn()).c_str(), fs::path(set.file(q).path()).filename().c_str());
    sum.print(h.dtype);
    std::printf("tokenizer    %s\n", meta.tokenizerKind.empty() ? "(unknown)" : meta.tokenizerKind.c_str());
    std::printf("vocabulary   %zu tokens\n", meta.vocabulary.size());
    std::printf("provenance   %s\n", meta.provenanceJson.c_str());
    return 0;
}

} // namespace

int runInfo(const Args& args) {
    std::string path;
    bool asJson = false;
    ArgParser p(
        "brillm info",
        "Shows what a BriLLM model file holds - config, dtype, edges, parameter counts (sparse against the dense\n"
        "graph), tokenizer, vocabulary, provenance, checksum - reading only its header. A torch.save checkpoint\n"
        "is listed too (keys, dtypes, shapes).");
    p.positional("MODEL", &path, "model file, sharded model directory (shards.json) or torch.save checkpoint");
    p.flag("json", &asJson, "print JSON instead of text");
    if (!p.parse(args)) return 0;
    if (isShardedModel(path)) return shardedInfo(path, asJson);
    if (isZip(path)) return torchInfo(path, asJson);

    const ModelFile f = ModelFile::open(path);
    const ModelFileHeader& h = f.header();
    const ModelSummary sum{h.vocabSize, h.dim, h.maxPositions, h.edges.numSlots(), h.edges.numOwn()};
    json provenance = json::parse(h.provenanceJson, nullptr, false);
    json j = {
        {"file", path},
        {"file_bytes", f.mapping()->size()},
        {"format", kModelFileFormat},
        {"format_version", h.formatVersion},
        {"writer", h.writer},
        {"tokenizer", {{"kind", h.tokenizerKind}, {"embedded_json_bytes", h.tokenizerJson.size()}}},
        {"vocabulary_size", h.vocabulary.size()},
        {"provenance", provenance.is_discarded() ? json(h.provenanceJson) : provenance},
        {"checksum", h.checksum},
        {"notes", h.notes},
    };
    sum.addTo(j, h.dtype);
    if (asJson) {
        std::cout << j.dump(2, ' ', false, json::error_handler_t::replace) << '\n';
        return 0;
    }
    std::printf("file         %s (%.3f GB)\n", path.c_str(), static_cast<double>(f.mapping()->size()) / 1e9);
    std::printf("format       %s v%d%s\n", kModelFileFormat, h.formatVersion,
                h.writer.empty() ? "" : (", written by " + h.writer).c_str());
    sum.print(h.dtype);
    std::printf("tokenizer    %s%s\n", h.tokenizerKind.empty() ? "(unknown)" : h.tokenizerKind.c_str(),
                h.tokenizerJson.empty() ? ""
                                        : (" (tokenizer.json embedded, " +
                                           grouped(static_cast<int64_t>(h.tokenizerJson.size())) + " bytes)")
                                              .c_str());
    std::string sample;
    for (size_t i = 0; i < h.vocabulary.size() && i < 8; ++i)
        sample += (i ? " " : "") + h.vocabulary[i];
    std::printf("vocabulary   %zu tokens%s%s\n", h.vocabulary.size(), sample.empty() ? "" : ": ", sample.c_str());
    std::printf("provenance   %s\n", h.provenanceJson.c_str());
    std::printf("checksum     %s\n", h.checksum.empty() ? "(none)" : h.checksum.c_str());
    for (const auto& n : h.notes)
        std::printf("note         %s\n", n.c_str());
    return 0;
}

} // namespace brillm::cli
