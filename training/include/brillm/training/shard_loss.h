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
#include "brillm/training/shard.h"

#include <cstdint>
#include <span>
#include <vector>

namespace brillm::training {

class Communicator;

struct ShardedLossResult {
    double loss = 0;                  // the global batch's mean loss (as sampledLoss), equal on every rank
    std::vector<double> sampleLosses; // per sample of the batch
    std::vector<double> sampleNll;    // per sample: the sum over its edges (for exact evaluation)
    int64_t edges = 0;                // edges of the batch
    int64_t localEdges = 0;           // edges whose candidates this rank evaluated
    SparseGradients grad;             // this shard's slots (local numbering; slot 0 summed over ranks), replicated
                                      // node_bias and positions; empty without gradients
    double gradNorm = 0;              // the global L2 norm of all gradients (equal on every rank)
    uint64_t bytesSent = 0;           // payload this rank put into the step's collectives
};

// `shard`: this rank's shard (float32, CPU) of the model whose sources `plan` splits; `rank`: its
// part. `batch`: the whole global batch (the same on every rank). `comm` may be null for one part.
// Throws InputError for malformed samples (as sampledLoss), TrainingError from the collectives.
ShardedLossResult shardedLoss(const Model& shard, const ShardPlan& plan, int rank, std::span<const LossSample> batch,
                              bool withGradients, int threads, Communicator* comm);

} // namespace brillm::training
