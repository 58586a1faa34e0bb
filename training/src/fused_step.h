// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// The fused GPU training step (training/src/cuda/fused_kernels.cu) from the host: the loss and
// its sparse gradients in four kernel launches per step, and AdamW on the edge rows in one
// launch per tensor. Compiled only where the CUDA kernels are (BRILLM_WITH_FUSED_CUDA).
#include "brillm/model/loss.h"
#include "brillm/model/model.h"
#include "brillm/training/device_loss.h"

#include <span>

namespace brillm::training {
// BRILLM_FUSED_EMULATE (tests): the same host code over the kernels' CPU emulation, on CPU
// tensors, in an inline namespace of its own.
#ifdef BRILLM_FUSED_EMULATE
inline namespace emulated {
#endif

// True when the model can take the fused step: float32 parameters on a CUDA device, contiguous,
// a signal dimension the kernels are built for (8, 16, 32, 64).
bool fusedStepApplies(const Model& model);

// The sampled loss and its gradients (deviceSampledLoss's result, float32 arithmetic). The same
// checks of the batch as deviceSampledLoss (InputError).
LossResult fusedSampledLoss(const Model& model, std::span<const LossSample> batch, DeviceLossWorkspace& workspace);

// AdamW on the edge slots' rows (weights and biases) with one kernel each; the maths of the
// optimizer's tensor operations. Returns false (nothing done) where it does not apply: tensors
// not float32/contiguous/CUDA, or no touched slot.
bool fusedEdgeAdamW(Model& model, const SparseGradients& grad, bool sparse, at::Tensor& wM, at::Tensor& wV,
                    at::Tensor& bM, at::Tensor& bV, double b1, double b2, double eps, double decay, double stepSize,
                    double invSqrtBc2, double gradScale);

#ifdef BRILLM_FUSED_EMULATE
} // namespace emulated
#endif
} // namespace brillm::training
