// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Reading a sharded model (written by `brillm train --shard-edges`, docs/distributed.md): the
// edge table split by source over S shards. The writers and the trainer's pieces live in
// training/include/brillm/training/shard.h; this is what the CLI and the studio need to open one.
//
// On disk a sharded model is a directory with shards.json and one model file per shard
// (shard-RRRRR-of-SSSSS.brillm; in checkpoints also shard-RRRRR-of-SSSSS.optimizer.safetensors).
// Shard r holds the own slots of a contiguous source range [begin(r), end(r)): it is itself a
// valid model file whose edge table keeps only the rows of its sources (the other sources'
// targets read as shared), its slot k >= 1 being the global slot k + rowPtr[begin]; slot 0 (the
// shared slot), node_bias and positions are replicated in every shard.
//
// ShardSet reads any range of sources from it, whatever shard count wrote it, mergeShards()
// makes the one-file model in memory, and openShardedModel() maps the shards' weight rows into
// one address range without copying them (falling back to merging in memory, with the reason,
// when the files cannot be mapped so). Errors: CheckpointError naming the file.

#include "brillm/io/model_file.h"
#include "brillm/model/model.h"

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace brillm {

// Sources split into `parts` contiguous ranges with (as nearly as whole rows allow) equal own-slot
// counts: part r starts at the first source whose rowPtr reaches r * numOwn / parts.
struct ShardPlan {
    std::vector<int64_t> sourceBegin; // parts + 1 entries, from 0 to V
    // The global own-slot offset of each part, rowPtr[sourceBegin[r]] (parts + 1 entries) - where
    // a shard's local slot 1 lands in the global slot space (minus one). Filled by balanced() and
    // ShardSet::open(); may be empty in a plan built by hand.
    std::vector<int64_t> slotBegin;

    static ShardPlan balanced(const EdgeTable& edges, int parts);
    // Contiguous ranges that balance work instead: the largest part's summed `work` (one entry
    // per source, >= 0) is as small as contiguous ranges allow while no part holds more than
    // (1 + memorySlack) * numOwn / parts own slots (or the longest row, if more). Where those caps
    // cannot be met by `parts` ranges, balanced()'s plan. Every part is non-empty when there are at
    // least `parts` sources. Throws InputError for a work vector of the wrong size or a negative
    // or non-finite entry.
    static ShardPlan balancedByWork(const EdgeTable& edges, int parts, std::span<const double> work,
                                    double memorySlack);
    int parts() const { return static_cast<int>(sourceBegin.size()) - 1; }
    int64_t begin(int part) const { return sourceBegin[static_cast<size_t>(part)]; }
    int64_t end(int part) const { return sourceBegin[static_cast<size_t>(part) + 1]; }
    int ownerOf(int64_t source) const;
};

// The edge table of the shard holding sources [begin, end) (see above).
EdgeTable shardEdgeTable(const EdgeTable& global, int64_t begin, int64_t end);

// "shard-RRRRR-of-SSSSS" + suffix.
std::string shardFileName(int rank, int shards, const char* suffix = ".brillm");
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
    const ModelFile& file(int shard) const { return *m_files[static_cast<size_t>(shard)]; }

    // The shard of sources [begin, end) as another rank count partitions them (tensors owned,
    // float32).
    Model rows(int64_t begin, int64_t end) const;
    // The whole model, in memory (float32).
    Model merged() const { return rows(0, m_config.vocabSize); }
    // Rows [row 0 of shard 0, then the global own slots of sources [begin, end)] of the per-slot
    // tensors get(q) of the shards q (one row per local slot), as float32; reads only those rows.
    at::Tensor gatherRows(const std::function<at::Tensor(int)>& get, int64_t begin, int64_t end) const;

    // Why the shards cannot be mapped into one weights tensor (mapped()), or empty when they can:
    // the shards' dtypes differ, or a shard file does not place its weight rows at the offset of
    // their global slots modulo the page size (files written before the shard writer aligned
    // them, or by another writer), or the system's page size is not a divisor of the one the
    // files were aligned to.
    std::string mappingProblem() const;
    // The whole model without copying the shards' weight rows: one address range of N * d * d
    // elements is reserved, and each shard file's own rows are mapped (private, copy-on-write, read
    // only when touched) at the address of their global slots; the few bytes of a page two shards
    // share, and the shared slot, are copied. Biases, node_bias and positions are copied (about
    // 1/d of the bytes). Tensors in the stored dtype; the mapping lives as long as the weights
    // tensor. Throws CheckpointError with mappingProblem() when it is not empty.
    Model mapped() const;

private:
    std::filesystem::path m_dir;
    ShardPlan m_plan;
    EdgeTable m_edges;
    ModelConfig m_config;
    std::vector<std::shared_ptr<ModelFile>> m_files;
};

// The one-file model of a sharded model, merged in memory (brillm merge-shards).
LoadedModel mergeShards(const std::filesystem::path& dirOrManifest);
// A sharded model opened for the core's kernels: mapped (ShardSet::mapped) when the shard files
// allow it, else merged in memory with the reason in LoadedModel::mergedBecause.
LoadedModel openShardedModel(const std::filesystem::path& dirOrManifest);
// Any model: a sharded one (a directory holding shards.json, or that file) through
// openShardedModel, a model file through ModelFile::load.
LoadedModel openModel(const std::string& path);
// The checksum a patch records for its model: a model file's header checksum, or for a sharded
// model "sha256:" of its shards' checksums joined in order (reads only headers).
std::string modelChecksum(const std::string& path);

} // namespace brillm
