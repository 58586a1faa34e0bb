// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// What the two versions of the sharded step share (shard_loss.cpp: the CPU kernels;
// aten_shard_loss.cpp: ATen operations on the shard's device), internal to the training library.

#include "brillm/model/loss.h"
#include "brillm/model/model.h"
#include "brillm/training/device_loss.h"
#include "brillm/training/shard_loss.h"

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <span>

namespace brillm::training {

class Communicator;

namespace shard_step {

// Throws InputError for a malformed batch (as sampledLoss), naming the sample.
void checkShardSamples(const Model& shard, std::span<const LossSample> batch);

// All-reduce (sum) over comm, its payload counted into bytes; nothing without comm.
void allReduceCounted(Communicator* comm, at::Tensor& t, const char* what, uint64_t& bytes);

// The global L2 norm of a shard's gradients (on any device): its own rows' squares summed over the
// shard group, the replicated parts (the shared slot, node_bias, positions: the same on every
// rank) counted once.
double shardedGradientNorm(const SparseGradients& g, Communicator* comm, uint64_t& bytes);

// The ATen step (atenShardedLoss) with the norm optional (the 2-D layout takes it after the
// replica exchange).
ShardedLossResult atenShardStep(const Model& shard, const ShardPlan& plan, int rank, std::span<const LossSample> batch,
                                bool withGradients, bool norm, Communicator* comm, DeviceLossWorkspace* workspace,
                                int64_t maxGatherBytes = 0);

// The gradients' tensors on `device` (themselves where they are there already).
SparseGradients gradientsOn(const SparseGradients& g, const at::Device& device);

} // namespace shard_step
} // namespace brillm::training
