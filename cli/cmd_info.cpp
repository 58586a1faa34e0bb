// SPDX-License-Identifier: GPL-3.0-or-later
// brillm info: what a model file (or a torch.save checkpoint) holds, without reading its data.
#include "args.h"
#include "commands.h"

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
namespace fs = std::filesystem;

std::string grouped(int64_t n) {
    std::string s = std::to_string(n < 0 ? -n : n), out;
    for (size_t i = 0; i < s.size(); ++i) {
        if (i && (s.size() - i) % 3 == 0) out += ',';
        out += s[i];
    }
    return n < 0 ? "-" + out : out;
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
    const int64_t v = set.config().vocabSize, d = set.dim(), slots = set.edges().numSlots(), own = set.edges().numOwn();
    const int64_t perEdge = d * d + d, nodes = v * d, positions = set.config().maxPositions;
    const int64_t sparse = slots * perEdge + nodes + positions, dense = v * v * perEdge + nodes + positions;
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
        {"config", {{"vocab_size", v}, {"dim", d}, {"max_positions", positions}}},
        {"dtype", safetensorsName(h.dtype)},
        {"edges", {{"own", own}, {"slots", slots}, {"pairs", v * v}}},
        {"parameters",
         {{"sparse", sparse},
          {"dense", dense},
          {"edge_slots", slots * perEdge},
          {"node_bias", nodes},
          {"positions", positions}}},
        {"tokenizer", {{"kind", meta.tokenizerKind}, {"embedded_json_bytes", meta.tokenizerJson.size()}}},
        {"vocabulary_size", meta.vocabulary.size()},
        {"provenance", provenance.is_discarded() ? json(meta.provenanceJson) : provenance},
    };
    if (asJson) {
        std::cout << j.dump(2, ' ', false, json::error_handler_t::replace) << '\n';
        return 0;
    }
    const double pct = 100.0 * static_cast<double>(sparse) / static_cast<double>(dense);
    std::printf("file         %s (%.3f GB in %d shard files)\n", set.directory().c_str(),
                static_cast<double>(bytes) / 1e9, set.shards());
    std::printf("format       brillm-shards (model files v%d%s)\n", h.formatVersion,
                h.writer.empty() ? "" : (", written by " + h.writer).c_str());
    std::printf("sharded      %d shards, %s\n", set.shards(), opens.c_str());
    for (int q = 0; q < set.shards(); ++q)
        std::printf("  shard %-4d sources [%lld, %lld), %s own slots: %s\n", q,
                    static_cast<long long>(set.plan().begin(q)), static_cast<long long>(set.plan().end(q)),
                    grouped(set.file(q).edges().numOwn()).c_str(), fs::path(set.file(q).path()).filename().c_str());
    std::printf("config       V = %lld, d = %lld, P = %lld\n", static_cast<long long>(v), static_cast<long long>(d),
                static_cast<long long>(positions));
    std::printf("dtype        %s\n", safetensorsName(h.dtype));
    std::printf("edges        %s own of %s pairs (%.2f%%), %s slots with the shared one\n", grouped(own).c_str(),
                grouped(v * v).c_str(), 100.0 * static_cast<double>(own) / static_cast<double>(v * v),
                grouped(slots).c_str());
    std::printf("parameters   %s sparse vs %s dense (%.2f%%): edges %s, node biases %s, positions %s\n",
                grouped(sparse).c_str(), grouped(dense).c_str(), pct, grouped(slots * perEdge).c_str(),
                grouped(nodes).c_str(), grouped(positions).c_str());
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
    const int64_t v = h.vocabSize, d = h.dim, slots = h.edges.numSlots(), own = h.edges.numOwn();
    const int64_t perEdge = d * d + d;
    const int64_t nodes = v * d, positions = h.maxPositions;
    const int64_t sparse = slots * perEdge + nodes + positions;
    const int64_t dense = v * v * perEdge + nodes + positions;
    json provenance = json::parse(h.provenanceJson, nullptr, false);
    json j = {
        {"file", path},
        {"file_bytes", f.mapping()->size()},
        {"format", kModelFileFormat},
        {"format_version", h.formatVersion},
        {"writer", h.writer},
        {"config", {{"vocab_size", v}, {"dim", d}, {"max_positions", h.maxPositions}}},
        {"dtype", safetensorsName(h.dtype)},
        {"edges", {{"own", own}, {"slots", slots}, {"pairs", v * v}}},
        {"parameters",
         {{"sparse", sparse},
          {"dense", dense},
          {"edge_slots", slots * perEdge},
          {"node_bias", nodes},
          {"positions", positions}}},
        {"tokenizer", {{"kind", h.tokenizerKind}, {"embedded_json_bytes", h.tokenizerJson.size()}}},
        {"vocabulary_size", h.vocabulary.size()},
        {"provenance", provenance.is_discarded() ? json(h.provenanceJson) : provenance},
        {"checksum", h.checksum},
        {"notes", h.notes},
    };
    if (asJson) {
        std::cout << j.dump(2, ' ', false, json::error_handler_t::replace) << '\n';
        return 0;
    }
    const double pct = 100.0 * static_cast<double>(sparse) / static_cast<double>(dense);
    std::printf("file         %s (%.3f GB)\n", path.c_str(), static_cast<double>(f.mapping()->size()) / 1e9);
    std::printf("format       %s v%d%s\n", kModelFileFormat, h.formatVersion,
                h.writer.empty() ? "" : (", written by " + h.writer).c_str());
    std::printf("config       V = %lld, d = %lld, P = %lld\n", static_cast<long long>(v), static_cast<long long>(d),
                static_cast<long long>(h.maxPositions));
    std::printf("dtype        %s\n", safetensorsName(h.dtype));
    std::printf("edges        %s own of %s pairs (%.2f%%), %s slots with the shared one\n", grouped(own).c_str(),
                grouped(v * v).c_str(), 100.0 * static_cast<double>(own) / static_cast<double>(v * v),
                grouped(slots).c_str());
    std::printf("parameters   %s sparse vs %s dense (%.2f%%): edges %s, node biases %s, positions %s\n",
                grouped(sparse).c_str(), grouped(dense).c_str(), pct, grouped(slots * perEdge).c_str(),
                grouped(nodes).c_str(), grouped(positions).c_str());
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
