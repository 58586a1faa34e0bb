// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// The training loss of BriLLM with the edge table sharded by source (shard.h): the same maths
// as sampledLoss (brillm/model/loss.h), run per edge index over the whole global batch.
//
// Every rank drives every sample of the global batch: it computes the inputs x_i (the positions'
// mix of earlier outputs), which are cheap and need no parameters but the replicated positions
// and node biases. For edge i of a sample only the owner of its source t_i evaluates the
// candidates (the expensive part: k + 1 matrices of d x d) and back-propagates through them.
// After each edge index the positives' outputs y_i ([B, d]) are summed over the ranks - each
// row comes from exactly one owner and zeros elsewhere, so the sum is exact - and in the reverse
// sweep so are the gradients dLoss/dx_i. Edge-row gradients never leave their owner; only the
// shared slot's (d*d + d floats) is all-reduced. node_bias's and positions' gradients follow from
// the exchanged values identically on every rank. Per step: 2 * (L - 1) all-reduces of
// B * d floats, one of B * (L - 1) doubles (the edge losses) and one of d*d + d + 1 floats.
//
// With the same batch this gives the single-process loss bit for bit (the per-edge losses are
// summed in the same order) and its gradients up to float summation order.
//
// Thread-safety: one call at a time per Communicator; `threads` workers inside.

#include "brillm/model/loss.h"
#include "brillm/model/model.h"
#include "brillm/training/device_loss.h"
#include "brillm/training/shard.h"

#include <cstdint>
#include <span>
#include <vector>

namespace brillm::training {

class Communicator;
class ReplicaExchange;

// The 2-D layout of --shard-edges (docs/distributed.md): `shards` shard groups x `replicas`
// replicas. Rank = replica * shards + shard: the ranks of one replica (a shard group, which runs
// the sharded step on that replica's part of the global batch) are consecutive; the ranks holding
// the same shard (a replica group, which averages that shard's gradients) are `shards` apart.
struct ShardLayout {
    int shards = 1;
    int replicas = 1;
    int shardOf(int rank) const { return rank % shards; }
    int replicaOf(int rank) const { return rank / shards; }
    // `shards` shard groups over `worldSize` ranks (0: every rank one shard of one replica; a world
    // of one rank is always 1 x 1). Throws InputError unless it divides the world size.
    static ShardLayout of(int worldSize, int shards);
};

struct ShardedLossResult {
    double loss = 0;                  // the global batch's mean loss (as sampledLoss), equal on every rank
    std::vector<double> sampleLosses; // per sample of the batch
    std::vector<double> sampleNll;    // per sample: the sum over its edges (for exact evaluation)
    int64_t edges = 0;                // edges of the batch
    int64_t localEdges = 0;           // edges whose candidates this rank evaluated
    int64_t localRows = 0;            // the candidate rows it evaluated for them (grouped as the loss groups them)
    SparseGradients grad;             // this shard's slots (local numbering; slot 0 summed over ranks), replicated
                                      // node_bias and positions; empty without gradients
    double gradNorm = 0;              // the global L2 norm of all gradients (equal on every rank)
    uint64_t bytesSent = 0;           // payload this rank put into the shard group's collectives
    // the 2-D layout (shardedReplicaLoss with replicas): what the replica exchange added
    int64_t globalSamples = 0;     // samples of the global batch (all replicas)
    uint64_t replicaBytesSent = 0; // payload this rank put into the replica group's collectives
    int64_t touchedSlots = 0;      // own slots of this shard any replica touched
};

// `shard`: this rank's shard (float32, CPU; see atenShardedLoss for other devices) of the model whose sources `plan`
// splits; `rank`: its part. `batch`: the whole global batch (the same on every rank). `comm` may be null for one part.
// Throws InputError for malformed samples (as sampledLoss), TrainingError from the collectives.
ShardedLossResult shardedLoss(const Model& shard, const ShardPlan& plan, int rank, std::span<const LossSample> batch,
                              bool withGradients, int threads, Communicator* comm);

// The same step with ATen operations on whatever device the shard's tensors live: a GPU (the
// collectives then take device tensors: NCCL), or the CPU, where it is checked against the
// kernels of shardedLoss (float32, or float64 against the core's float64 loss). Per edge index
// the owner gathers its candidates' matrices for batched products (chunks, below); the backward sweep runs
// autograd one edge index at a time, between the same all-reduces as shardedLoss (the same
// payload). The replicated gradients (node_bias, positions) are made without atomics, so they are
// bit-identical on the ranks of a shard group. The result's gradients live on the shard's device.
// `workspace`: optional, reused between calls (the PE table on the device). An edge index's owned
// edges are evaluated in chunks whose gathered matrices stay within `maxGatherBytes` (0: 512 MiB;
// at least one edge a chunk), each padded only to its own most candidate rows: the exact loss,
// whose edges have own + 1 rows, fits whatever the sources' degrees. Without gradients nothing is
// kept between chunks; with them every chunk's graph is kept for the backward sweep.
ShardedLossResult atenShardedLoss(const Model& shard, const ShardPlan& plan, int rank,
                                  std::span<const LossSample> batch, bool withGradients, Communicator* comm,
                                  DeviceLossWorkspace* workspace = nullptr, int64_t maxGatherBytes = 0);

// Whether shardedReplicaLoss runs the ATen step for this shard: always on a GPU; on the CPU when
// the environment variable BRILLM_SHARD_STEP is "aten" (for comparisons), else the CPU kernels.
bool atenShardStep(const Model& shard);

// One training step of the 2-D layout on rank `shardRank` of its shard group: shardedLoss over the
// shard group (`shardGroup`, null for a single shard) on this replica's part of the global batch,
// then the replicas of this shard average the gradients (`replicas`, null for a single replica:
// then this is shardedLoss). The result's loss is the global batch's mean loss, its gradients and
// norm those of that loss, the same on every rank; sampleLosses, edges and localEdges are this
// replica's. Payload: the shard group's as shardedLoss (2 Lq Bq d 4 + Bq Lq 8 + (d*d + d + 1) 4 + 8
// for this replica's Bq samples of at most Lq edges, when there are several shards) in bytesSent,
// the replica group's (ReplicaExchange) in replicaBytesSent.
ShardedLossResult shardedReplicaLoss(const Model& shard, const ShardPlan& plan, int shardRank,
                                     std::span<const LossSample> replicaBatch, int threads, Communicator* shardGroup,
                                     ReplicaExchange* replicas, DeviceLossWorkspace* workspace = nullptr);

} // namespace brillm::training
