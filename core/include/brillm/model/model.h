// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Model: the BriLLM parameters plus the edge table that maps node pairs to parameter slots.
//
// Tensor shapes (the reference's state-dict layout; N = edges.numSlots(), V = vocab size):
//   weights   [N, d, d]   row vector times matrix: y = x @ W
//   biases    [N, 1, d]
//   nodeBias  [V, 1, d]
//   positions [1, P, 1]   P = 512 in the reference; learned mixing logits
// All four share one floating dtype: float32; float64 for checking; or bfloat16 / float16, a
// model file used in place (ModelFile maps it): the kernels read the half-precision values and
// compute in float32, so decoding, tracing, blame and evaluation work on them unchanged, at half
// the memory and half the bytes per token. Training needs float32 or float64 parameters
// (sampledLoss refuses gradients of a half-precision model; convert with toDtype(at::kFloat)).
// They live on the CPU for the core's kernels. A Model is a value: copies share tensor storage
// (like at::Tensor).

#include "brillm/model/edge_table.h"

#include <ATen/core/Tensor.h>

#include <cstdint>

namespace brillm {

struct ModelConfig {
    int64_t vocabSize = 0;
    int64_t dim = 32;           // d
    int64_t maxPositions = 512; // entries of `positions`; a path has at most maxPositions - 1 edges
};

struct Model {
    ModelConfig config;
    EdgeTable edges;
    at::Tensor weights;   // [N, d, d]
    at::Tensor biases;    // [N, 1, d]
    at::Tensor nodeBias;  // [V, 1, d]
    at::Tensor positions; // [1, P, 1]

    // Reference initialisation: weights, biases and node biases uniform in [-0.5, 0.5),
    // positions all ones. Deterministic for a given seed.
    static Model randomInit(const ModelConfig& config, EdgeTable edges, uint64_t seed,
                            at::ScalarType dtype = at::kFloat);

    // Throws ShapeError naming the tensor and the expected shape if anything does not fit.
    void validate() const;

    // A deep copy in another dtype (kFloat, kDouble, kBFloat16 or kHalf); kDouble is the checking
    // mode, kFloat what training needs.
    Model toDtype(at::ScalarType dtype) const;
    // A deep copy (tensors cloned).
    Model clone() const;
    // The tensors on another device (a GPU for the trainer's CUDA step; the core's own kernels
    // need the CPU). The edge table stays on the host. Shares the tensors when already there.
    Model toDevice(const at::Device& device) const;

    at::ScalarType dtype() const { return weights.scalar_type(); }
    // True for bfloat16 and float16 parameters (read in place, computed in float32).
    bool halfPrecision() const { return dtype() == at::kBFloat16 || dtype() == at::kHalf; }
    int64_t dim() const { return config.dim; }
    int64_t vocabSize() const { return config.vocabSize; }
    // Longest path the position table allows, in edges.
    int64_t maxEdges() const { return config.maxPositions - 1; }
};

} // namespace brillm
