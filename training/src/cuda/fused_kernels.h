// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// The fused GPU training step's kernels behind a plain C++ interface (raw device pointers, the
// CUDA stream as void*), so that the host code (training/src/fused_step.cpp) needs no CUDA
// headers and the kernels can be built by CMake's CUDA language or prebuilt into a library.
//
// Per step: one kernel looks every candidate's slot up (binary search in the source's CSR row)
// and flags the touched slots; one kernel per sample runs the positives' chain forward (x_i, the
// positive's z and y for every edge); one kernel per edge computes every candidate's energy, the
// edge's log-sum-exp, and the backward pass of the edge loss (the gradient rows of the own
// slots by atomics, the shared slot's summed dz per edge, the gradient into x_i); one kernel per
// sample runs the chain backward (through the positives' outputs into earlier edges, the
// position logits and the start node's bias). All float32; the parameters are read in place.
#include <cstdint>

// The CPU emulation (tests) lives in an inline namespace of its own, so that a test can link it
// next to the real kernels.
#ifdef BRILLM_FUSED_EMULATE
#define BRILLM_FUSED_NS_BEGIN inline namespace emulated {
#define BRILLM_FUSED_NS_END }
#else
#define BRILLM_FUSED_NS_BEGIN
#define BRILLM_FUSED_NS_END
#endif

namespace brillm::training::fused {
BRILLM_FUSED_NS_BEGIN

struct Batch {
    int32_t B = 0, E = 0, N = 0, maxEdges = 0; // samples, edges, candidates, most edges of a sample
    const int32_t* sampleBegin = nullptr;      // [B + 1] first edge of each sample
    const int32_t* start = nullptr;            // [B] each sample's first token
    const int32_t* edgeSample = nullptr;       // [E]
    const int32_t* edgeSrc = nullptr;          // [E] each edge's source token
    const int32_t* candBegin = nullptr;        // [E + 1] first candidate of each edge (positive first)
    const int32_t* cand = nullptr;             // [N] candidate tokens
    const float* logw = nullptr;               // [N] log of each candidate's weight, or null (all one)
};

struct Params {
    int32_t V = 0, D = 0, P = 0;
    int64_t numSlots = 0;
    const float* W = nullptr;         // [numSlots, D, D]
    const float* Bs = nullptr;        // [numSlots, D]
    const float* NB = nullptr;        // [V, D]
    const float* Pos = nullptr;       // [P]
    const float* PE = nullptr;        // [P, D]
    const int64_t* rowPtr = nullptr;  // [V + 1] the own edges' CSR rows
    const int32_t* targets = nullptr; // [numOwn] ascending within a row
};

struct Scratch {
    int32_t* slots = nullptr;           // [N] each candidate's slot
    int32_t* flags = nullptr;           // [numSlots] 1 where touched (zeroed by the caller)
    int32_t* error = nullptr;           // [1] set to 1 for a candidate outside the vocabulary
    const int32_t* rowOfSlot = nullptr; // [numSlots] a touched slot's gradient row
    float* X = nullptr;                 // [E, D] x_i
    float* Y = nullptr;                 // [E, D] the positive's output
    float* Z = nullptr;                 // [E, D] the positive's pre-activation
    float* En = nullptr;                // [N] energies
    float* Dxc = nullptr;               // [E, D] d(loss)/d(x_i) through the edge's candidates
    float* Gsh = nullptr;               // [E, D] the edge's summed dz over shared-slot candidates
    float* GYe = nullptr;               // [E, D] d(loss)/d(y_i) through later edges
    float* edgeLoss = nullptr;          // [E]
};

struct Grads {
    float* dW = nullptr;  // [U, D, D] by gradient row
    float* dB = nullptr;  // [U, D]
    float* dNB = nullptr; // [V, D]
    float* dP = nullptr;  // [P]
};

// True for the signal dimensions the candidate kernel is compiled for (8, 16, 32, 64).
bool supportsDim(int64_t D);

// Each returns nullptr or a CUDA error message.
const char* launchSlots(const Params& p, const Batch& b, const Scratch& s, void* stream);
// Forward, edge losses and the whole backward pass; grads must be zeroed. invB = 1 / B.
// kernelMs (optional, 3 entries): profiling, each kernel waited for and timed (chain forward,
// candidates, chain backward).
const char* launchStep(const Params& p, const Batch& b, const Scratch& s, const Grads& g, float invB, void* stream,
                       double* kernelMs = nullptr);

// AdamW (torch.optim.AdamW's maths, as stepTensorOps) on rows of rowLen floats, in one pass.
// Sparse (slotOfRow given): rows = touched rows; p/m/v row slotOfRow[r] takes gradient row r.
// Dense (gradRowOfSlot given): rows = all slots; a slot's gradient row or -1 (gradient zero).
struct AdamWScalars {
    float b1, b2, eps, decay, stepSize, invSqrtBc2, gradScale;
};
const char* launchAdamW(float* p, float* m, float* v, const float* g, const int64_t* slotOfRow,
                        const int64_t* gradRowOfSlot, int64_t rows, int64_t rowLen, const AdamWScalars& s,
                        void* stream);

BRILLM_FUSED_NS_END
} // namespace brillm::training::fused
