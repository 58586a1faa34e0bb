// SPDX-License-Identifier: GPL-3.0-or-later
#include "brillm/training/device_loss.h"

#include "brillm/error.h"
#include "brillm/model/device_edges.h"
#include "brillm/model/signal.h"

#include <ATen/ATen.h>
#include <ATen/autocast_mode.h>
#include <torch/version.h>
#ifdef BRILLM_WITH_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#endif
#ifdef BRILLM_WITH_FUSED_CUDA
#include "fused_step.h"
#endif

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <optional>

namespace brillm::training {

const char* toString(Precision p) {
    switch (p) {
    case Precision::Float32:
        return "fp32";
    case Precision::Float16:
        return "fp16";
    case Precision::BFloat16:
        return "bf16";
    }
    return "fp32";
}

Precision precisionFromString(const std::string& s) {
    if (s == "fp32" || s == "float32") return Precision::Float32;
    if (s == "fp16" || s == "float16") return Precision::Float16;
    if (s == "bf16" || s == "bfloat16") return Precision::BFloat16;
    throw InputError("unknown precision '" + s + "' (expected fp32, fp16 or bf16)");
}

at::Device parseTrainingDevice(const std::string& text) {
    // the core's parser, without "auto": a run's device is chosen, not guessed
    if (text == "auto") throw InputError("unknown device 'auto' for training (expected cpu, cuda or cuda:N)");
    return parseComputeDevice(text);
}

double deviceMemoryMegabytes(const at::Device& device) {
#ifdef BRILLM_WITH_CUDA
    if (device.is_cuda()) {
        const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(device.index() < 0 ? 0 : device.index());
        return static_cast<double>(stats.reserved_bytes[0].current) / 1e6;
    }
#else
    (void)device;
#endif
    return 0;
}

bool fusedStepAvailable() {
#ifdef BRILLM_WITH_FUSED_CUDA
    const char* env = std::getenv("BRILLM_GPU_FUSED");
    return env == nullptr || std::strcmp(env, "0") != 0;
#else
    return false;
#endif
}

void DeviceLossWorkspace::prepare(const Model& model) {
    const at::Device device = model.weights.device();
    const bool same = m_edges == &model.edges && m_numOwn == model.edges.numOwn() && m_vocab == model.vocabSize() &&
                      ownKeys.defined() && ownKeys.device() == device && pe.defined() &&
                      pe.scalar_type() == model.dtype() && pe.size(0) == model.config.maxPositions &&
                      pe.size(1) == model.dim() && rowPtr.defined() && rowPtr.device() == device;
    if (same) return;
    const int64_t V = model.vocabSize();
    const auto& hostRowPtr = model.edges.rowPtr();
    const auto& hostTargets = model.edges.targets();
    at::Tensor keys = at::empty({model.edges.numOwn()}, at::kLong);
    auto* k = keys.data_ptr<int64_t>();
    for (int64_t s = 0; s < V; ++s)
        for (int64_t e = hostRowPtr[static_cast<size_t>(s)]; e < hostRowPtr[static_cast<size_t>(s) + 1]; ++e)
            k[e] = s * V + hostTargets[static_cast<size_t>(e)];
    ownKeys = keys.to(device);
    rowPtr = at::tensor(at::ArrayRef<int64_t>(hostRowPtr), at::kLong).to(device);
    targets = at::tensor(at::ArrayRef<int32_t>(hostTargets), at::kInt).to(device);
    const auto peHost = positionalEncoding(model.config.maxPositions, model.dim());
    pe = at::tensor(peHost, at::kDouble).reshape({model.config.maxPositions, model.dim()}).to(device, model.dtype());
    m_edges = &model.edges;
    m_numOwn = model.edges.numOwn();
    m_vocab = V;
}

namespace {

// Autocast on CUDA for the lifetime of the guard (the API moved between LibTorch 1.13 and 2.x).
class AutocastGuard {
public:
    explicit AutocastGuard(at::ScalarType dtype) {
#if TORCH_VERSION_MAJOR >= 2
        m_wasEnabled = at::autocast::is_autocast_enabled(at::kCUDA);
        m_oldDtype = at::autocast::get_autocast_dtype(at::kCUDA);
        at::autocast::set_autocast_dtype(at::kCUDA, dtype);
        at::autocast::set_autocast_enabled(at::kCUDA, true);
#else
        m_wasEnabled = at::autocast::is_enabled();
        m_oldDtype = at::autocast::get_autocast_gpu_dtype();
        at::autocast::set_autocast_gpu_dtype(dtype);
        at::autocast::set_enabled(true);
#endif
        at::autocast::increment_nesting();
    }
    ~AutocastGuard() {
        if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
#if TORCH_VERSION_MAJOR >= 2
        at::autocast::set_autocast_enabled(at::kCUDA, m_wasEnabled);
        at::autocast::set_autocast_dtype(at::kCUDA, m_oldDtype);
#else
        at::autocast::set_enabled(m_wasEnabled);
        at::autocast::set_autocast_gpu_dtype(m_oldDtype);
#endif
    }
    AutocastGuard(const AutocastGuard&) = delete;
    AutocastGuard& operator=(const AutocastGuard&) = delete;

private:
    bool m_wasEnabled = false;
    at::ScalarType m_oldDtype = at::kHalf;
};

} // namespace

LossResult deviceSampledLoss(const Model& model, std::span<const LossSample> batch, const DeviceLossOptions& options) {
    if (batch.empty()) throw InputError("the batch is empty");
#ifdef BRILLM_WITH_FUSED_CUDA
    if (options.fused && fusedStepAvailable() && fusedStepApplies(model)) {
        DeviceLossWorkspace local;
        return fusedSampledLoss(model, batch, options.workspace ? *options.workspace : local);
    }
#endif
    const bool lowPrecision = options.precision != Precision::Float32;
    const at::Device device = model.weights.device();
    if (lowPrecision && !device.is_cuda())
        throw InputError(std::string("precision ") + toString(options.precision) +
                         " runs under CUDA autocast and needs the model on a CUDA device");
    const int64_t V = model.vocabSize(), d = model.dim();
    const auto B = static_cast<int64_t>(batch.size());
    int64_t L = 0, C = 0;
    for (const auto& s : batch) {
        if (s.numEdges() < 1) throw InputError("a training sample has no edge");
        if (static_cast<int64_t>(s.offsets.size()) != s.numEdges() + 1)
            throw InputError("a training sample's offsets do not fit its tokens");
        L = std::max(L, s.numEdges());
        for (int64_t i = 0; i < s.numEdges(); ++i)
            C = std::max(C, s.offsets[static_cast<size_t>(i) + 1] - s.offsets[static_cast<size_t>(i)]);
    }
    if (L + 1 >= model.config.maxPositions)
        throw InputError("a sample has " + std::to_string(L) + " edges, more than the position table allows");

    // Host-side index tensors (plain copies of the batch): each edge's source [B, L], the
    // candidates [B, L, C] (padding: node 0, masked), the start nodes.
    at::Tensor sources = at::zeros({B, L}, at::kLong);
    at::Tensor cands = at::zeros({B, L, C}, at::kLong);
    at::Tensor candMask = at::zeros({B, L, C}, at::kBool);
    // log of each candidate's weight (how many targets of its energy it stands for; 0 = one)
    at::Tensor logWeights = at::zeros({B, L, C}, at::kDouble);
    bool weighted = false;
    at::Tensor edgeMask = at::zeros({B, L}, at::kFloat);
    at::Tensor edgesPer = at::zeros({B}, at::kFloat);
    at::Tensor starts = at::empty({B}, at::kLong);
    {
        auto* sr = sources.data_ptr<int64_t>();
        auto* cp = cands.data_ptr<int64_t>();
        auto* cm = candMask.data_ptr<bool>();
        auto* em = edgeMask.data_ptr<float>();
        auto* ep = edgesPer.data_ptr<float>();
        auto* st = starts.data_ptr<int64_t>();
        auto* lwp = logWeights.data_ptr<double>();
        for (int64_t b = 0; b < B; ++b) {
            const auto& s = batch[static_cast<size_t>(b)];
            if (!s.weights.empty() && s.weights.size() != s.candidates.size())
                throw InputError("a training sample has " + std::to_string(s.weights.size()) +
                                 " candidate weights for " + std::to_string(s.candidates.size()) + " candidates");
            weighted = weighted || !s.weights.empty();
            for (int32_t t : s.tokens)
                if (t < 0 || t >= V)
                    throw InputError("node id " + std::to_string(t) + " is outside the model's vocabulary");
            st[b] = s.tokens[0];
            ep[b] = static_cast<float>(s.numEdges());
            // padding edges score one candidate so that their masked loss stays finite
            for (int64_t i = s.numEdges(); i < L; ++i)
                cm[(b * L + i) * C] = true;
            for (int64_t i = 0; i < s.numEdges(); ++i) {
                em[b * L + i] = 1.0f;
                sr[b * L + i] = s.tokens[static_cast<size_t>(i)];
                const int64_t begin = s.offsets[static_cast<size_t>(i)], end = s.offsets[static_cast<size_t>(i) + 1];
                for (int64_t k = begin; k < end; ++k) {
                    const int32_t c = s.candidates[static_cast<size_t>(k)];
                    if (c < 0 || c >= V)
                        throw InputError("candidate id " + std::to_string(c) + " is outside the vocabulary");
                    const int64_t at = (b * L + i) * C + (k - begin);
                    cp[at] = c;
                    cm[at] = true;
                    if (!s.weights.empty()) {
                        const float w = s.weights[static_cast<size_t>(k)];
                        if (!(w > 0) || !std::isfinite(w))
                            throw InputError("candidate weights must be positive and finite");
                        lwp[at] = std::log(static_cast<double>(w));
                    }
                }
            }
        }
    }
    const auto candMaskDev = candMask.to(device);
    const auto logWeightsDev =
        weighted ? std::optional<at::Tensor>(logWeights.to(device, model.dtype())) : std::nullopt;
    const auto edgeMaskDev = edgeMask.to(device);
    const auto startsDev = starts.to(device);

    // Slots on the device: the own pairs' keys source * V + target are sorted in CSR order, so a
    // pair's slot is its key's index + 1 when found, else the shared slot 0.
    DeviceLossWorkspace local;
    DeviceLossWorkspace& ws = options.workspace ? *options.workspace : local;
    ws.prepare(model);
    const int64_t numOwn = model.edges.numOwn(), numSlots = model.edges.numSlots();
    const auto keys = sources.to(device).unsqueeze(2) * V + cands.to(device); // [B, L, C]
    at::Tensor slots = at::zeros_like(keys);
    if (numOwn > 0) {
        const auto idx = at::searchsorted(ws.ownKeys, keys).clamp_max_(numOwn - 1);
        slots = at::where(ws.ownKeys.index_select(0, idx.flatten()).view_as(keys) == keys, idx + 1, slots);
    }
    // The touched slots (real candidates only), ascending, and every candidate's row among them;
    // padding gets a sentinel slot past the table, dropped from the list, and row 0 (masked).
    const auto real = candMaskDev.logical_and(edgeMaskDev.unsqueeze(2) > 0);
    slots.masked_fill_(real.logical_not(), numSlots);
    const auto [uniqAll, inverseAll] = at::_unique(slots.flatten(), /*sorted=*/true, /*return_inverse=*/true);
    const auto uniqHost = uniqAll.to(at::kCPU);
    std::vector<int64_t> touched(uniqHost.data_ptr<int64_t>(), uniqHost.data_ptr<int64_t>() + uniqHost.numel());
    if (!touched.empty() && touched.back() == numSlots) touched.pop_back();
    const auto U = static_cast<int64_t>(touched.size());
    const auto uniqDev = uniqAll.narrow(0, 0, U);
    const auto rows = inverseAll.view({B, L, C}).masked_fill(real.logical_not(), 0);
    const at::Tensor& pe = ws.pe;

    // Leaves: the touched rows, the start nodes' biases, the position logits.
    at::Tensor Wt = model.weights.index_select(0, uniqDev).detach().requires_grad_(true);
    at::Tensor Bt = model.biases.index_select(0, uniqDev).detach().requires_grad_(true);
    at::Tensor NBt = model.nodeBias.index_select(0, startsDev).detach().requires_grad_(true);
    at::Tensor Pt = model.positions.detach().clone().requires_grad_(true);

    at::Tensor loss, perSample;
    {
        std::optional<AutocastGuard> autocast;
        if (lowPrecision) autocast.emplace(options.precision == Precision::Float16 ? at::kHalf : at::kBFloat16);
        const auto s0 = at::gelu(NBt.squeeze(1) + pe[0] + 1.0 / static_cast<double>(d)); // [B, d]
        std::vector<at::Tensor> ys;
        ys.reserve(static_cast<size_t>(L));
        at::Tensor acc = at::zeros({B}, model.weights.options());
        const double negInf = -std::numeric_limits<double>::infinity();
        for (int64_t i = 0; i < L; ++i) {
            at::Tensor x;
            if (i == 0) {
                x = s0;
            } else {
                const auto a = Pt.index({0, at::indexing::Slice(0, i), 0}).softmax(0); // [i]
                x = (at::stack(ys, 1) * a.view({1, i, 1})).sum(1);                     // [B, d]
            }
            const auto idx = rows.select(1, i).reshape({B * C});
            const auto W = Wt.index_select(0, idx).view({B, C, d, d});
            const auto bias = Bt.index_select(0, idx).view({B, C, d});
            // [B, 1, 1, d] @ [B, C, d, d] -> [B, C, 1, d]; under autocast in fp16/bf16
            const auto z = at::matmul(x.view({B, 1, 1, d}), W).view({B, C, d}) + bias + pe[i + 1];
            const auto y = at::gelu(z.to(model.dtype()));
            auto e = y.norm(2, {2}).masked_fill(candMaskDev.select(1, i).logical_not(), negInf); // [B, C]
            const auto edgeLoss =
                at::logsumexp(logWeightsDev ? e + logWeightsDev->select(1, i) : e, {1}) - e.select(1, 0);
            acc = acc + edgeLoss * edgeMaskDev.select(1, i);
            ys.push_back(y.select(1, 0));
        }
        perSample = acc / edgesPer.to(device);
        loss = perSample.mean();
    }
    (loss * options.lossScale).backward();

    LossResult r;
    r.loss = loss.item<double>();
    const auto ps = perSample.detach().to(at::kCPU, at::kDouble);
    r.sampleLosses.assign(ps.data_ptr<double>(), ps.data_ptr<double>() + B);
    for (const auto& s : batch) {
        r.edges += s.numEdges();
        r.candidateEdges += static_cast<int64_t>(s.candidates.size());
    }
    const double inv = 1.0 / options.lossScale;
    auto& g = r.grad;
    g.slots = std::move(touched);
    g.weights = Wt.grad().mul_(inv);
    g.biases = Bt.grad().mul_(inv);
    g.nodeBias = at::zeros_like(model.nodeBias).index_add_(0, startsDev, NBt.grad().mul_(inv));
    g.positions = Pt.grad().mul_(inv);
    return r;
}

} // namespace brillm::training
