// SPDX-License-Identifier: GPL-3.0-or-later
#include "fused_step.h"

#include "brillm/error.h"
#include "cuda/fused_kernels.h"

#include <ATen/ATen.h>
#ifndef BRILLM_FUSED_EMULATE
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>
#endif

#include <ATen/Parallel.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>

namespace brillm::training {
#ifdef BRILLM_FUSED_EMULATE
inline namespace emulated {
#endif
namespace {

double msSince(std::chrono::steady_clock::time_point t) {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
}

void check(const char* err, const char* what) {
    if (err) throw std::runtime_error(std::string("fused GPU step, ") + what + ": " + err);
}

#ifdef BRILLM_FUSED_EMULATE
constexpr bool kPinned = false;
void* streamOf(const at::Device&) {
    return nullptr;
}
struct DeviceGuard {
    explicit DeviceGuard(const at::Device&) {}
};
bool onDevice(const at::Tensor& t) {
    return t.is_cpu();
}
void synchronize(const at::Device&) {}
#else
constexpr bool kPinned = true;
void* streamOf(const at::Device& device) {
    return at::cuda::getCurrentCUDAStream(device.index()).stream();
}
using DeviceGuard = c10::cuda::CUDAGuard;
bool onDevice(const at::Tensor& t) {
    return t.is_cuda();
}
void synchronize(const at::Device& device) {
    at::cuda::getCurrentCUDAStream(device.index()).synchronize();
}
#endif

bool cudaFloat(const at::Tensor& t) {
    return t.defined() && onDevice(t) && t.scalar_type() == at::kFloat && t.is_contiguous();
}

} // namespace

bool fusedStepApplies(const Model& model) {
    return cudaFloat(model.weights) && cudaFloat(model.biases) && cudaFloat(model.nodeBias) &&
           cudaFloat(model.positions) && fused::supportsDim(model.dim()) &&
           model.vocabSize() < std::numeric_limits<int32_t>::max() &&
           model.edges.numOwn() < std::numeric_limits<int32_t>::max() - 1;
}

LossResult fusedSampledLoss(const Model& model, std::span<const LossSample> batch, DeviceLossWorkspace& ws) {
    if (batch.empty()) throw InputError("the batch is empty");
    // BRILLM_FUSED_PROFILE=1: each phase waited for and timed, one line per step on stderr
    static const bool profile = [] {
        const char* env = std::getenv("BRILLM_FUSED_PROFILE");
        return env != nullptr && std::strcmp(env, "0") != 0;
    }();
    const auto t0 = std::chrono::steady_clock::now();
    const at::Device device = model.weights.device();
    const DeviceGuard guard(device);
    const int64_t V = model.vocabSize(), D = model.dim(), P = model.config.maxPositions;
    const auto B = static_cast<int64_t>(batch.size());
    int64_t E = 0, N = 0, maxEdges = 0;
    bool weighted = false;
    for (const auto& s : batch) {
        const int64_t n = s.numEdges();
        if (n < 1) throw InputError("a training sample has no edge");
        if (static_cast<int64_t>(s.offsets.size()) != n + 1)
            throw InputError("a training sample's offsets do not fit its tokens");
        if (s.offsets.front() != 0 || s.offsets.back() != static_cast<int64_t>(s.candidates.size()))
            throw InputError("a training sample's offsets do not fit its candidates");
        for (int64_t i = 0; i < n; ++i)
            if (s.offsets[static_cast<size_t>(i) + 1] <= s.offsets[static_cast<size_t>(i)])
                throw InputError("an edge of a training sample has no candidate");
        if (!s.weights.empty() && s.weights.size() != s.candidates.size())
            throw InputError("a training sample has " + std::to_string(s.weights.size()) + " candidate weights for " +
                             std::to_string(s.candidates.size()) + " candidates");
        for (int32_t t : s.tokens)
            if (t < 0 || t >= V)
                throw InputError("node id " + std::to_string(t) + " is outside the model's vocabulary");
        weighted = weighted || !s.weights.empty();
        E += n;
        N += static_cast<int64_t>(s.candidates.size());
        maxEdges = std::max(maxEdges, n);
    }
    if (maxEdges + 1 >= P)
        throw InputError("a sample has " + std::to_string(maxEdges) + " edges, more than the position table allows");
    if (N >= std::numeric_limits<int32_t>::max() || E >= std::numeric_limits<int32_t>::max() / 8)
        throw InputError("the batch has too many candidates for the fused GPU step");

    // One pinned buffer of int32 for the batch: sampleBegin [B+1], start [B], edgeSample [E],
    // edgeSrc [E], candBegin [E+1], cand [N]; candidate ids are checked on the device.
    const int64_t total = (B + 1) + B + E + E + (E + 1) + N;
    at::Tensor host = at::empty({total}, at::TensorOptions().dtype(at::kInt).pinned_memory(kPinned));
    int32_t* const base = host.data_ptr<int32_t>();
    int32_t* const sampleBegin = base;
    int32_t* const start = sampleBegin + B + 1;
    int32_t* const edgeSample = start + B;
    int32_t* const edgeSrc = edgeSample + E;
    int32_t* const candBegin = edgeSrc + E;
    int32_t* const cand = candBegin + E + 1;
    at::Tensor hostW;
    float* logw = nullptr;
    if (weighted) {
        hostW = at::empty({N}, at::TensorOptions().dtype(at::kFloat).pinned_memory(kPinned));
        logw = hostW.data_ptr<float>();
    }
    {
        // each sample's first edge and candidate, then the samples filled in parallel
        std::vector<int64_t> firstEdge(static_cast<size_t>(B) + 1, 0), firstCand(static_cast<size_t>(B) + 1, 0);
        for (int64_t b = 0; b < B; ++b) {
            const auto& s = batch[static_cast<size_t>(b)];
            firstEdge[static_cast<size_t>(b) + 1] = firstEdge[static_cast<size_t>(b)] + s.numEdges();
            firstCand[static_cast<size_t>(b) + 1] =
                firstCand[static_cast<size_t>(b)] + static_cast<int64_t>(s.candidates.size());
        }
        at::parallel_for(0, B, 8, [&](int64_t begin, int64_t end) {
            for (int64_t b = begin; b < end; ++b) {
                const auto& s = batch[static_cast<size_t>(b)];
                int64_t e = firstEdge[static_cast<size_t>(b)];
                const int64_t c = firstCand[static_cast<size_t>(b)];
                sampleBegin[b] = static_cast<int32_t>(e);
                start[b] = s.tokens[0];
                for (int64_t i = 0; i < s.numEdges(); ++i, ++e) {
                    edgeSample[e] = static_cast<int32_t>(b);
                    edgeSrc[e] = s.tokens[static_cast<size_t>(i)];
                    candBegin[e] = static_cast<int32_t>(c + s.offsets[static_cast<size_t>(i)]);
                }
                std::memcpy(cand + c, s.candidates.data(), s.candidates.size() * sizeof(int32_t));
                if (weighted) {
                    for (size_t k = 0; k < s.candidates.size(); ++k) {
                        const float w = s.weights.empty() ? 1.0f : s.weights[k];
                        if (!(w > 0) || !std::isfinite(w))
                            throw InputError("candidate weights must be positive and finite");
                        logw[c + static_cast<int64_t>(k)] = std::log(w);
                    }
                }
            }
        });
        sampleBegin[B] = static_cast<int32_t>(E);
        candBegin[E] = static_cast<int32_t>(N);
    }
    const double fillMs = profile ? msSince(t0) : 0;
    const at::Tensor dev = host.to(device, /*non_blocking=*/true);
    const at::Tensor devW = weighted ? hostW.to(device, /*non_blocking=*/true) : at::Tensor();

    ws.prepare(model);
    const int64_t numSlots = model.edges.numSlots();
    void* const stream = streamOf(device);
    const auto i32 = at::TensorOptions().device(device).dtype(at::kInt);
    const auto f32 = at::TensorOptions().device(device).dtype(at::kFloat);

    fused::Params p;
    p.V = static_cast<int32_t>(V);
    p.D = static_cast<int32_t>(D);
    p.P = static_cast<int32_t>(P);
    p.numSlots = numSlots;
    p.W = model.weights.data_ptr<float>();
    p.Bs = model.biases.data_ptr<float>();
    p.NB = model.nodeBias.data_ptr<float>();
    p.Pos = model.positions.data_ptr<float>();
    p.PE = ws.pe.data_ptr<float>();
    p.rowPtr = ws.rowPtr.data_ptr<int64_t>();
    p.targets = ws.targets.numel() > 0 ? ws.targets.data_ptr<int32_t>() : nullptr;

    fused::Batch bt;
    bt.B = static_cast<int32_t>(B);
    bt.E = static_cast<int32_t>(E);
    bt.N = static_cast<int32_t>(N);
    bt.maxEdges = static_cast<int32_t>(maxEdges);
    const int32_t* const d0 = dev.data_ptr<int32_t>();
    bt.sampleBegin = d0 + (sampleBegin - base);
    bt.start = d0 + (start - base);
    bt.edgeSample = d0 + (edgeSample - base);
    bt.edgeSrc = d0 + (edgeSrc - base);
    bt.candBegin = d0 + (candBegin - base);
    bt.cand = d0 + (cand - base);
    bt.logw = weighted ? devW.data_ptr<float>() : nullptr;

    // slots, touched flags (the last entry: the error flag)
    at::Tensor slots = at::empty({N}, i32);
    at::Tensor flags = at::zeros({numSlots + 1}, i32);
    fused::Scratch sc;
    sc.slots = slots.data_ptr<int32_t>();
    sc.flags = flags.data_ptr<int32_t>();
    sc.error = sc.flags + numSlots;
    check(fused::launchSlots(p, bt, sc, stream), "slot lookup");
    const at::Tensor slotFlags = flags.narrow(0, 0, numSlots);
    const at::Tensor touchedDev = at::nonzero(slotFlags).squeeze(1); // ascending
    const at::Tensor rowOfSlot = at::cumsum(slotFlags, 0, at::kInt).sub_(1);
    if (flags[numSlots].item<int32_t>() != 0) throw InputError("a candidate id is outside the vocabulary");
    const at::Tensor touchedHost = touchedDev.to(at::kCPU).contiguous();
    const int64_t U = touchedHost.numel();
    sc.rowOfSlot = rowOfSlot.data_ptr<int32_t>();
    const double slotsMs = profile ? msSince(t0) - fillMs : 0;

    at::Tensor work = at::empty({6 * E * D + N + E}, f32);
    float* const w0 = work.data_ptr<float>();
    sc.X = w0;
    sc.Y = w0 + E * D;
    sc.Z = w0 + 2 * E * D;
    sc.Dxc = w0 + 3 * E * D;
    sc.Gsh = w0 + 4 * E * D;
    sc.GYe = w0 + 5 * E * D;
    sc.En = w0 + 6 * E * D;
    sc.edgeLoss = sc.En + N;

    at::Tensor dW = at::zeros({U, D, D}, f32);
    at::Tensor dB = at::zeros({U, 1, D}, f32);
    at::Tensor dNB = at::zeros_like(model.nodeBias);
    at::Tensor dP = at::zeros_like(model.positions);
    fused::Grads g;
    g.dW = dW.data_ptr<float>();
    g.dB = dB.data_ptr<float>();
    g.dNB = dNB.data_ptr<float>();
    g.dP = dP.data_ptr<float>();
    double kernelMs[3] = {0, 0, 0};
    const double zeroMs = profile ? (synchronize(device), msSince(t0) - fillMs - slotsMs) : 0;
    check(fused::launchStep(p, bt, sc, g, static_cast<float>(1.0 / static_cast<double>(B)), stream,
                            profile ? kernelMs : nullptr),
          "step");

    // the shared slot's rows: sum over edges of x_i (outer) the edge's summed dz, one product
    if (U > 0 && touchedHost.data_ptr<int64_t>()[0] == 0) {
        const at::Tensor X = work.narrow(0, 0, E * D).view({E, D});
        const at::Tensor Gsh = work.narrow(0, 4 * E * D, E * D).view({E, D});
        dW.select(0, 0).add_(at::matmul(X.t(), Gsh));
        dB.select(0, 0).select(0, 0).add_(Gsh.sum(0));
    }

    const at::Tensor edgeLoss = work.narrow(0, 6 * E * D + N, E).to(at::kCPU);
    const float* el = edgeLoss.data_ptr<float>();
    LossResult r;
    r.sampleLosses.resize(static_cast<size_t>(B));
    double sum = 0;
    {
        int64_t e = 0;
        for (int64_t b = 0; b < B; ++b) {
            const auto& s = batch[static_cast<size_t>(b)];
            double acc = 0;
            for (int64_t i = 0; i < s.numEdges(); ++i, ++e)
                acc += static_cast<double>(el[e]);
            r.sampleLosses[static_cast<size_t>(b)] = acc / static_cast<double>(s.numEdges());
            sum += r.sampleLosses[static_cast<size_t>(b)];
            r.edges += s.numEdges();
            r.candidateEdges += static_cast<int64_t>(s.candidates.size());
        }
    }
    r.loss = sum / static_cast<double>(B);
    if (profile)
        std::fprintf(stderr,
                     "fused step: B %lld, E %lld, N %lld, U %lld: fill %.3f ms, slots+touched %.3f, zero grads %.3f, "
                     "chain forward %.3f, candidates %.3f, chain backward %.3f, total %.3f ms\n",
                     static_cast<long long>(B), static_cast<long long>(E), static_cast<long long>(N),
                     static_cast<long long>(U), fillMs, slotsMs, zeroMs, kernelMs[0], kernelMs[1], kernelMs[2],
                     msSince(t0));
    r.grad.slots.assign(touchedHost.data_ptr<int64_t>(), touchedHost.data_ptr<int64_t>() + U);
    r.grad.weights = std::move(dW);
    r.grad.biases = std::move(dB);
    r.grad.nodeBias = std::move(dNB);
    r.grad.positions = std::move(dP);
    return r;
}

bool fusedEdgeAdamW(Model& model, const SparseGradients& grad, bool sparse, at::Tensor& wM, at::Tensor& wV,
                    at::Tensor& bM, at::Tensor& bV, double b1, double b2, double eps, double decay, double stepSize,
                    double invSqrtBc2, double gradScale) {
    if (grad.slots.empty() || !grad.weights.defined() || grad.weights.numel() == 0) return false;
    const at::Tensor* const all[] = {&model.weights, &model.biases, &wM, &wV, &bM, &bV, &grad.weights, &grad.biases};
    for (const at::Tensor* t : all)
        if (!cudaFloat(*t)) return false;
    const at::Device device = model.weights.device();
    if (grad.weights.device() != device || grad.biases.device() != device) return false;
    const DeviceGuard guard(device);
    const auto U = static_cast<int64_t>(grad.slots.size());
    const int64_t numSlots = model.weights.size(0), D = model.dim();
    const at::Tensor idx = at::tensor(grad.slots, at::kLong).to(device, /*non_blocking=*/false);
    at::Tensor gradRow;
    if (!sparse)
        gradRow = at::full({numSlots}, -1, at::TensorOptions().device(device).dtype(at::kLong))
                      .index_put_({idx}, at::arange(U, at::TensorOptions().device(device).dtype(at::kLong)));
    const fused::AdamWScalars s{static_cast<float>(b1),       static_cast<float>(b2),
                                static_cast<float>(eps),      static_cast<float>(decay),
                                static_cast<float>(stepSize), static_cast<float>(invSqrtBc2),
                                static_cast<float>(gradScale)};
    void* const stream = streamOf(device);
    const int64_t* slotOfRow = sparse ? idx.data_ptr<int64_t>() : nullptr;
    const int64_t* rowOfSlot = sparse ? nullptr : gradRow.data_ptr<int64_t>();
    const int64_t rows = sparse ? U : numSlots;
    check(fused::launchAdamW(model.weights.data_ptr<float>(), wM.data_ptr<float>(), wV.data_ptr<float>(),
                             grad.weights.data_ptr<float>(), slotOfRow, rowOfSlot, rows, D * D, s, stream),
          "AdamW (weights)");
    check(fused::launchAdamW(model.biases.data_ptr<float>(), bM.data_ptr<float>(), bV.data_ptr<float>(),
                             grad.biases.data_ptr<float>(), slotOfRow, rowOfSlot, rows, D, s, stream),
          "AdamW (biases)");
    return true;
}

#ifdef BRILLM_FUSED_EMULATE
} // namespace emulated
#endif
} // namespace brillm::training
