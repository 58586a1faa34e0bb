// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// The sampled training loss and its gradients with ATen operations and autograd, on whatever
// device the model's tensors live (CUDA for GPU training; the CPU for checking it against the
// core's hand-written kernels). On CUDA it can run under autocast in float16 or bfloat16: the
// edge products run in the low precision, energies, log-sum-exp and the gradients' accumulation
// in float32, the parameters stay float32.
//
// The maths is the core's sampledLoss (mean over samples of the mean over their edges; the
// positive candidate first; PE[i + 1] for edge i), written the way the reference computes it:
// every candidate's matrix is gathered for the batched product. Only the slots the batch
// touches get gradient rows (the table is never materialised as a dense gradient), so the
// result is a SparseGradients with its tensors on the model's device.
//
// Where the CUDA kernels are built (training/src/cuda/fused_kernels.cu) a float32 model on a
// CUDA device takes the fused step instead: four kernel launches per step whatever the sample
// length (slot lookup, the positives' chain forward, every candidate's energy, log-sum-exp and
// backward pass per edge, the chain backward), float32 arithmetic under every precision. The
// environment variable BRILLM_GPU_FUSED=0 (or DeviceLossOptions::fused = false) selects the
// ATen path, for comparisons.

#include "brillm/model/loss.h"
#include "brillm/model/model.h"

#include <span>
#include <string>

namespace brillm::training {

enum class Precision { Float32, Float16, BFloat16 };

const char* toString(Precision p);                   // "fp32", "fp16", "bf16"
Precision precisionFromString(const std::string& s); // throws InputError naming the accepted values

// What deviceSampledLoss keeps between calls on the same model: the own pairs' keys on the
// device (for the slot lookup) and the PE table. Rebuilt when the model's table, dtype or device
// changes. Not thread-safe: one per training loop.
class DeviceLossWorkspace {
public:
    void prepare(const Model& model);
    at::Tensor ownKeys; // [numOwn] source * V + target, ascending (CSR order)
    at::Tensor pe;      // [maxPositions, d] in the model's dtype
    at::Tensor rowPtr;  // [V + 1] int64, the own edges' CSR rows (the fused step's slot lookup)
    at::Tensor targets; // [numOwn] int32

private:
    const EdgeTable* m_edges = nullptr;
    int64_t m_numOwn = -1, m_vocab = -1;
};

struct DeviceLossOptions {
    Precision precision = Precision::Float32; // Float16/BFloat16 need a CUDA model
    // The loss is multiplied by this before the backward pass and the gradients divided by it
    // after (dynamic loss scaling for float16); 1 otherwise.
    double lossScale = 1.0;
    DeviceLossWorkspace* workspace = nullptr; // optional: reused between calls
    bool fused = true;                        // the fused CUDA step where it applies (see fusedStepAvailable)
};

// True when this build has the fused CUDA kernels and BRILLM_GPU_FUSED is not "0".
bool fusedStepAvailable();

// Throws InputError for an empty batch, a sample without edges or ids outside the model, and
// for float16/bfloat16 on a model that is not on a CUDA device.
LossResult deviceSampledLoss(const Model& model, std::span<const LossSample> batch,
                             const DeviceLossOptions& options = {});

// "cpu", "cuda" or "cuda:N" into a device; throws InputError when CUDA is asked for and this
// build or machine has none.
at::Device parseTrainingDevice(const std::string& text);

// Bytes of device memory the caching allocator holds on `device` (0 for the CPU or without CUDA).
double deviceMemoryMegabytes(const at::Device& device);

} // namespace brillm::training
