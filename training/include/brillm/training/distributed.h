// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Data-parallel training on PyTorch's own distributed engine (c10d): the launch contract of
// torchrun and Slurm, a process group over a TCPStore rendezvous, and the sparse gradient
// exchange that fits BriLLM (docs/distributed.md).
//
// Backends: "gloo" (CPU tensors; CPU training) and "nccl" (CUDA tensors on cuda:LOCAL_RANK;
// GPU training). NCCL exists only in a build against a CUDA LibTorch with NCCL (the compile
// definition USE_C10D_NCCL); elsewhere "nccl" is refused with an InputError. With NCCL, the
// CPU tensors given to a collective travel to the rank's GPU and back; GPU tensors are used in
// place.
//
// Errors: a collective that fails (a peer exited or vanished, or nothing arrived within the
// timeout) throws TrainingError naming this rank, the operation and the step. Nothing here
// hangs longer than the timeout.
//
// Thread-safety: a Communicator is used by one thread at a time (the training loop); tests run
// several in one process, one per thread.

#include "brillm/model/loss.h"
#include "brillm/model/model.h"
#include "brillm/training/trainer.h"

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace brillm::training {

// Where this process sits in a job, as torchrun or Slurm describe it.
struct DistributedEnv {
    int rank = 0;
    int worldSize = 1;
    int localRank = 0;
    int localWorldSize = 1; // ranks on this machine (divides the CPU threads)
    std::string masterAddr = "127.0.0.1";
    int masterPort = 29500;
    std::string source; // "torchrun" (RANK/WORLD_SIZE/...) or "slurm" (SLURM_PROCID/...)
    // torchrun's agent already serves the TCPStore on MASTER_PORT (TORCHELASTIC_USE_AGENT_STORE=True):
    // every rank is a client, under the prefix /worker/attempt_<TORCHELASTIC_RESTART_COUNT>
    bool agentStore = false;
    std::string restartCount = "0";
};

// RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT (and torchrun's
// TORCHELASTIC_USE_AGENT_STORE, TORCHELASTIC_RESTART_COUNT); when RANK and
// WORLD_SIZE are absent, SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID, SLURM_NTASKS_PER_NODE (with
// MASTER_ADDR/MASTER_PORT from the job script). nullopt when neither set is present. Throws
// InputError for malformed or inconsistent values (rank outside [0, world size), a world size
// above 1 without MASTER_ADDR, ...). `getenv` is injectable for tests.
std::optional<DistributedEnv>
distributedEnvFromEnvironment(const std::function<const char*(const char*)>& getenv = nullptr);

struct DistributedOptions {
    std::string backend = "gloo"; // "gloo" or "nccl" (see ncclAvailable())
    double timeoutSeconds = 300;  // rendezvous and every collective
    int cudaDevice = -1;          // nccl: the GPU of this rank; -1: cuda:LOCAL_RANK
};

// Whether this build has the NCCL backend (a CUDA LibTorch built with NCCL).
bool ncclAvailable();

// Throws InputError unless this build can run `backend` ("gloo"; "nccl" needs a CUDA/NCCL build).
void checkBackend(const std::string& backend);

// "auto" into "nccl" for a CUDA device (`device` "cuda" or "cuda:N") where this build has NCCL,
// else "gloo"; any other backend is returned unchanged.
std::string resolveBackend(const std::string& backend, const std::string& device);

// A process group: rank `env.rank` of `env.worldSize`, rendezvous through a TCPStore that rank 0
// serves on MASTER_ADDR:MASTER_PORT. Collectives take contiguous CPU tensors (Gloo and NCCL) or
// tensors on device() (NCCL).
class Communicator {
public:
    // Blocks until every rank has joined, at most options.timeoutSeconds. Throws InputError for
    // an unknown or unavailable backend and TrainingError when the rendezvous fails.
    static std::unique_ptr<Communicator> connect(const DistributedEnv& env, const DistributedOptions& options);
    ~Communicator();
    Communicator(const Communicator&) = delete;
    Communicator& operator=(const Communicator&) = delete;

    int rank() const;
    int worldSize() const;
    const DistributedEnv& env() const;
    const DistributedOptions& options() const;
    // Where the collectives run: the CPU (gloo) or this rank's GPU (nccl).
    at::Device device() const;
    // The step named in error messages (0: setup).
    void setStep(int64_t step);

    // In place: every rank ends with the element-wise sum, bit-identical on all ranks.
    void allReduceSum(at::Tensor& tensor, const char* what);
    // Every rank's `tensor` (same shape and dtype on all ranks), stacked: [worldSize, ...shape].
    at::Tensor allGather(const at::Tensor& tensor, const char* what);
    // rank `root`'s tensor into every rank's `tensor` (same shape and dtype).
    void broadcast(at::Tensor& tensor, int root, const char* what);

    // Collective: every rank says whether its part of `stage` succeeded. A rank whose `failure`
    // is set rethrows it; the others throw TrainingError naming the failed ranks.
    void agree(const std::exception_ptr& failure, const std::string& stage);

    // Payload bytes this rank has put into collectives so far (inputs, not wire traffic).
    uint64_t bytesSent() const;

    // A process group of some of this group's ranks (gloo only): `members` (ranks of this group,
    // ascending, this rank among them) rendezvous through a PrefixStore on the same store, with
    // the same timeout. Collective: every rank of this group calls it, in the same order, each
    // with the members of its own sub-group and a `name` that its members share (it names the
    // group in errors). The sub-group's rank()/worldSize() are within it; env() stays the launch
    // environment. Failures name the ranks of the whole job (the heartbeat is shared), and the
    // sub-group may outlive this object. Throws InputError for bad members or a backend other than
    // gloo, TrainingError when the rendezvous fails.
    std::unique_ptr<Communicator> subgroup(const std::vector<int>& members, const std::string& name);

private:
    struct Impl;
    explicit Communicator(std::unique_ptr<Impl> impl);
    [[noreturn]] void fail(const char* what, const std::exception& e) const;
    std::unique_ptr<Impl> m;
};

// Bytes of one step's gradient exchange against what a dense all-reduce of every parameter
// (the reference's DistributedDataParallel) puts in.
struct ExchangeStats {
    int64_t localSlots = 0;     // slots this rank touched
    int64_t unionSlots = 0;     // slots any rank touched
    int64_t globalSamples = 0;  // samples in the global batch
    double globalLossSum = 0;   // sum of the per-sample losses over all ranks
    uint64_t exchangeBytes = 0; // payload this rank sent: counts, slot ids, rows, node_bias, positions
    uint64_t denseBytes = 0;    // numSlots * (d*d + d) + V*d + P elements, in the model's dtype
};

// The sparse gradient exchange: all-gather of slot counts (with sample counts and loss sums),
// all-gather of the slot ids, their sorted union, and one all-reduce of a
// [union * (d*d + d) + V*d + P] buffer that holds the rows, node_bias and positions. Each rank
// scales its rows by its share of the global batch first, so the result is the gradient of the
// global batch's mean loss, identical on every rank.
class GradientExchange {
public:
    explicit GradientExchange(Communicator& comm);

    // `local`: gradients of the mean loss (on the model's device: the CPU, or the GPU with NCCL) over this rank's
    // `localSamples` samples (slots may be empty when localSamples is 0); `localLossSum`: the sum of their per-sample
    // losses. The returned gradients stay valid until the next call.
    const SparseGradients& exchange(const Model& model, const SparseGradients& local, int64_t localSamples,
                                    double localLossSum);
    const ExchangeStats& stats() const { return m_stats; }

private:
    Communicator& m_comm;
    at::Tensor m_buffer;
    SparseGradients m_global;
    ExchangeStats m_stats;
};

// The 2-D layout of --shard-edges (shard groups x replicas, docs/distributed.md): the replicas of
// one shard average its gradients. Every replica trains its part of the global batch; the ranks
// holding shard s of every replica form this exchange's group and call it with the gradients of
// their replica's mean loss (the shard's own rows in local slot numbering, the shared slot and the
// replicated node_bias and positions, as shardedLoss gives them). It makes them the gradients of
// the global batch's mean loss, bit-identical on every rank of the group:
//   1. all-gather of [own slots touched, samples, loss sum] (3 doubles per rank);
//   2. all-gather of the own slot ids (padded with -1 to the longest list), their sorted union U;
//   3. all-reduce of the union's rows [U*d*d | U*d], each rank's scaled by its share of the batch;
//   4. all-reduce of the replicated parts [d*d + d (shared slot) | 1 (touched) | V*d | P], scaled
//      alike. This buffer has the same size on every shard, so every shard's replica group sums
//      it in the same order: the replicated parts stay bit-identical across the shard group.
// Payload per rank: 24 + 8 * max_q(own_q) + 4 U (d*d + d) + 4 (d*d + d + 1 + V*d + P) bytes.
class ReplicaExchange {
public:
    explicit ReplicaExchange(Communicator& replicas);
    const SparseGradients& exchange(const Model& shard, const SparseGradients& local, int64_t localSamples,
                                    double localLossSum);
    // unionSlots: the own slots any replica touched (the shared slot not counted)
    const ExchangeStats& stats() const { return m_stats; }

private:
    Communicator& m_comm;
    SparseGradients m_global;
    ExchangeStats m_stats;
};

// A 64-bit digest of the parameter bytes (weights, biases, node_bias, positions): equal digests
// on two ranks mean bit-identical parameters (up to hash collisions). GPU parameters are copied
// to the host first.
uint64_t parameterDigest(const Model& model);

// A TCP port on 127.0.0.1 that was free a moment ago (for local launches and tests).
int findFreePort();

} // namespace brillm::training
