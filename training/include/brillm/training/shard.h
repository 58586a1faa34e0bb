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
// (shard-RRRRR-of-SSSSS.brillm; in checkpoints also shard-RRRRR-of-SSSSS.optimizer.safetensors),
// read by ShardSet (core: brillm/io/sharded_model.h), whatever rank count wrote it (re-partition
// on resume). Each shard file places its weights so that its rows can be mapped at their global
// slots (openShardedModel). Errors: CheckpointError naming the file.

#include "brillm/io/model_file.h"
#include "brillm/io/sharded_model.h"
#include "brillm/model/model.h"
#include "brillm/text/bigram_table.h"
#include "brillm/training/train_config.h"

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace brillm::training {

// The reading side (ShardPlan, ShardSet, shardFileName, isShardedModel, mergeShards) lives in the
// core (brillm/io/sharded_model.h) so that the studio can open a sharded model too.
using brillm::isShardedModel;
using brillm::mergeShards;
using brillm::shardEdgeTable;
using brillm::shardFileName;
using brillm::ShardPlan;
using brillm::ShardSet;

// Rows [row 0, global slots firstSlot(begin) .. firstSlot(end) - 1] of a per-slot tensor [N, ...].
at::Tensor shardRows(const at::Tensor& perSlot, const EdgeTable& global, int64_t begin, int64_t end);
// The shard of a whole model (tensors copied).
Model shardModel(const Model& full, int64_t begin, int64_t end);
// Optimizer state tensors with one row per edge slot ("weights.*", "biases.*", "slots.*"); the rest
// (node_bias, positions) are replicated on every shard.
bool isPerSlotState(const std::string& name);

// The work of each source for ShardPlan::balancedByWork: how often the training text uses it as
// an edge's source (its bigram counts summed) times the candidate rows the loss evaluates for such
// an edge (grouped as the loss groups them: the positive, the own candidates, one shared row):
// own + 1 for the exact loss, 2 + min(own, negatives) for the sampled one (at most), 2 + min(negatives,
// own - 1) for sampled-own.
std::vector<double> shardWork(const BigramTable& counts, const EdgeTable& edges, LossKind loss, int64_t negatives);

// Bytes of a shard's edge rows (weights and biases) and of a whole model's, at the model's dtype.
uint64_t edgeTableBytes(const Model& model);

// Writes shard `rank` of `shards` into dir (created by the caller): the model file, and the
// optimizer state when given (non-empty). Each file atomically.
void saveShard(const std::filesystem::path& dir, int rank, const ShardPlan& plan, const Model& shard,
               const ModelMetadata& metadata, const std::vector<std::pair<std::string, at::Tensor>>* optimizer);
// shards.json (atomically): written last, after every shard, by one rank.
void writeShardManifest(const std::filesystem::path& dir, const ShardPlan& plan, const EdgeTable& global, int64_t dim);
// The optimizer state of sources [begin, end) of a sharded checkpoint: per-slot tensors assembled
// from the shards' optimizer files, the replicated ones from shard 0. Empty when the shards have
// none.
std::vector<std::pair<std::string, at::Tensor>> optimizerRows(const ShardSet& set, int64_t begin, int64_t end);

} // namespace brillm::training
