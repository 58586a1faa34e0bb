// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// The edge table sharded by source over the ranks (`brillm train --shard-edges`,
// docs/distributed.md). Every candidate of a training edge s -> ? uses a row of source s, so
// rank r holds the own slots of a contiguous source range [begin(r), end(r)) - balanced by
// own-slot counts - and their optimizer state, plus replicas of the shared slot 0, node_bias and
// positions.
//
// A shard is itself a valid Model whose edge table keeps only the rows of its sources (the other
// sources' targets all read as shared): its slot k >= 1 is the global slot k + rowPtr[begin], so
// the loss kernels, the optimizer and the model file work on it unchanged. Its tensors:
//   weights [1 + own(r), d, d], biases [1 + own(r), 1, d]   row 0: the shared slot
//   nodeBias [V, 1, d], positions [1, P, 1]                  replicas
//
// On disk a sharded model is a directory with shards.json and one model file per shard
// (shard-RRRRR-of-SSSSS.brillm; in checkpoints also shard-RRRRR-of-SSSSS.optimizer.safetensors).
// ShardSet reads any range of sources from it, whatever rank count wrote it (re-partition on
// resume), and mergeShards() makes the one-file model. Errors: CheckpointError naming the file.

#include "brillm/io/model_file.h"
#include "brillm/model/model.h"

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace brillm::training {

// Sources split into `parts` contiguous ranges with (as nearly as whole rows allow) equal own-slot
// counts: part r starts at the first source whose rowPtr reaches r * numOwn / parts.
struct ShardPlan {
    std::vector<int64_t> sourceBegin; // parts + 1 entries, from 0 to V

    static ShardPlan balanced(const EdgeTable& edges, int parts);
    int parts() const { return static_cast<int>(sourceBegin.size()) - 1; }
    int64_t begin(int part) const { return sourceBegin[static_cast<size_t>(part)]; }
    int64_t end(int part) const { return sourceBegin[static_cast<size_t>(part) + 1]; }
    int ownerOf(int64_t source) const;
};

// The edge table of the shard holding sources [begin, end) (see above).
EdgeTable shardEdgeTable(const EdgeTable& global, int64_t begin, int64_t end);
// Rows [row 0, global slots firstSlot(begin) .. firstSlot(end) - 1] of a per-slot tensor [N, ...].
at::Tensor shardRows(const at::Tensor& perSlot, const EdgeTable& global, int64_t begin, int64_t end);
// The shard of a whole model (tensors copied).
Model shardModel(const Model& full, int64_t begin, int64_t end);
// Optimizer state tensors with one row per edge slot ("weights.*", "biases.*", "slots.*"); the rest
// (node_bias, positions) are replicated on every shard.
bool isPerSlotState(const std::string& name);

// Bytes of a shard's edge rows (weights and biases) and of a whole model's, at the model's dtype.
uint64_t edgeTableBytes(const Model& model);

std::string shardFileName(int rank, int shards, const char* suffix = ".brillm");

// Writes shard `rank` of `shards` into dir (created by the caller): the model file, and the
// optimizer state when given (non-empty). Each file atomically.
void saveShard(const std::filesystem::path& dir, int rank, const ShardPlan& plan, const Model& shard,
               const ModelMetadata& metadata, const std::vector<std::pair<std::string, at::Tensor>>* optimizer);
// shards.json (atomically): written last, after every shard, by one rank.
void writeShardManifest(const std::filesystem::path& dir, const ShardPlan& plan, const EdgeTable& global, int64_t dim);
// Whether `path` is a sharded model: a directory holding shards.json, or that file itself.
bool isShardedModel(const std::filesystem::path& path);

// An opened sharded model: the manifest and every shard's header (files mapped, rows read only
// when asked for).
class ShardSet {
public:
    static ShardSet open(const std::filesystem::path& dirOrManifest);

    const std::filesystem::path& directory() const { return m_dir; }
    const EdgeTable& edges() const { return m_edges; } // the global table
    int64_t dim() const { return m_config.dim; }
    const ModelConfig& config() const { return m_config; }
    ModelMetadata metadata() const;
    int shards() const { return m_plan.parts(); }
    const ShardPlan& plan() const { return m_plan; }

    // The shard of sources [begin, end) as another rank count partitions them (tensors owned).
    Model rows(int64_t begin, int64_t end) const;
    // The whole model.
    Model merged() const { return rows(0, m_config.vocabSize); }
    // The optimizer state of sources [begin, end): per-slot tensors assembled from the shards'
    // optimizer files, the replicated ones from shard 0. Empty when the shards have none.
    std::vector<std::pair<std::string, at::Tensor>> optimizerRows(int64_t begin, int64_t end) const;

private:
    std::filesystem::path m_dir;
    ShardPlan m_plan;
    EdgeTable m_edges;
    ModelConfig m_config;
    std::vector<std::shared_ptr<ModelFile>> m_files;
};

// The one-file model of a sharded model (brillm merge-shards; the CLI opening a shard directory).
LoadedModel mergeShards(const std::filesystem::path& dirOrManifest);

} // namespace brillm::training
