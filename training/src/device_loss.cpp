// SPDX-License-Identifier: GPL-3.0-or-later
#include "brillm/training/device_loss.h"

#include "brillm/error.h"
#include "brillm/signal.h"

#include <ATen/ATen.h>
#include <ATen/autocast_mode.h>
#include <torch/version.h>
#ifdef BRILLM_WITH_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#endif

#include <algorithm>
#include <limits>
#include <optional>

namespace brillm::training {

const char* toString(Precision p) {
    switch (p) {
    case Precision::Float32: return "fp32";
    case Precision::Float16: return "fp16";
    case Precision::BFloat16: return "bf16";
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
    if (text.empty() || text == "cpu") return at::Device(at::kCPU);
    if (text.rfind("cuda", 0) != 0) throw InputError("unknown device '" + text + "' (expected cpu, cuda or cuda:N)");
    if (!at::hasCUDA())
        throw InputError("--device " + text +
                         ": this build of the trainer has no CUDA (Debian's LibTorch is CPU-only; build against a CUDA "
                         "LibTorch) or this machine has no usable GPU");
    try {
        const at::Device d(text);
        return d;
    } catch (const std::exception&) {
        throw InputError("unknown device '" + text + "' (expected cpu, cuda or cuda:N)");
    }
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

    // Host-side index tensors: slots [B, L, C] (padding uses slot 0 and is masked), the start nodes.
    at::Tensor slots = at::zeros({B, L, C}, at::kLong);
    at::Tensor candMask = at::zeros({B, L, C}, at::kBool);
    at::Tensor edgeMask = at::zeros({B, L}, at::kFloat);
    at::Tensor edgesPer = at::zeros({B}, at::kFloat);
    at::Tensor starts = at::empty({B}, at::kLong);
    {
        auto* sp = slots.data_ptr<int64_t>();
        auto* cm = candMask.data_ptr<bool>();
        auto* em = edgeMask.data_ptr<float>();
        auto* ep = edgesPer.data_ptr<float>();
        auto* st = starts.data_ptr<int64_t>();
        for (int64_t b = 0; b < B; ++b) {
            const auto& s = batch[static_cast<size_t>(b)];
            for (int32_t t : s.tokens)
                if (t < 0 || t >= V) throw InputError("node id " + std::to_string(t) + " is outside the model's vocabulary");
            st[b] = s.tokens[0];
            ep[b] = static_cast<float>(s.numEdges());
            // padding edges score one candidate (slot 0) so that their masked loss stays finite
            for (int64_t i = s.numEdges(); i < L; ++i) cm[(b * L + i) * C] = true;
            for (int64_t i = 0; i < s.numEdges(); ++i) {
                em[b * L + i] = 1.0f;
                const int32_t src = s.tokens[static_cast<size_t>(i)];
                const int64_t begin = s.offsets[static_cast<size_t>(i)], end = s.offsets[static_cast<size_t>(i) + 1];
                for (int64_t k = begin; k < end; ++k) {
                    const int32_t c = s.candidates[static_cast<size_t>(k)];
                    if (c < 0 || c >= V) throw InputError("candidate id " + std::to_string(c) + " is outside the vocabulary");
                    const int64_t at = (b * L + i) * C + (k - begin);
                    sp[at] = model.edges.slot(src, c);
                    cm[at] = true;
                }
            }
        }
    }
    // The touched slots (real candidates only), ascending, and every candidate's row among them;
    // padding points at row 0 and is masked.
    std::vector<int64_t> touched;
    {
        const auto* sp = slots.data_ptr<int64_t>();
        const auto* cm = candMask.data_ptr<bool>();
        const auto* em = edgeMask.data_ptr<float>();
        for (int64_t e = 0; e < B * L; ++e)
            if (em[e] > 0)
                for (int64_t k = 0; k < C; ++k)
                    if (cm[e * C + k]) touched.push_back(sp[e * C + k]);
        std::sort(touched.begin(), touched.end());
        touched.erase(std::unique(touched.begin(), touched.end()), touched.end());
    }
    at::Tensor rowsHost = at::zeros({B, L, C}, at::kLong);
    {
        const auto* sp = slots.data_ptr<int64_t>();
        const auto* cm = candMask.data_ptr<bool>();
        const auto* em = edgeMask.data_ptr<float>();
        auto* rp = rowsHost.data_ptr<int64_t>();
        for (int64_t e = 0; e < B * L; ++e)
            if (em[e] > 0)
                for (int64_t k = 0; k < C; ++k)
                    if (cm[e * C + k])
                        rp[e * C + k] = std::lower_bound(touched.begin(), touched.end(), sp[e * C + k]) - touched.begin();
    }
    const auto uniqDev = at::tensor(touched, at::kLong).to(device);
    const auto rows = rowsHost.to(device);
    const auto candMaskDev = candMask.to(device);
    const auto edgeMaskDev = edgeMask.to(device);
    const auto startsDev = starts.to(device);

    const auto peHost = positionalEncoding(model.config.maxPositions, d);
    const auto pe = at::tensor(peHost, at::kDouble).reshape({model.config.maxPositions, d}).to(device, model.dtype());

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
                x = (at::stack(ys, 1) * a.view({1, i, 1})).sum(1);                      // [B, d]
            }
            const auto idx = rows.select(1, i).reshape({B * C});
            const auto W = Wt.index_select(0, idx).view({B, C, d, d});
            const auto bias = Bt.index_select(0, idx).view({B, C, d});
            // [B, 1, 1, d] @ [B, C, d, d] -> [B, C, 1, d]; under autocast in fp16/bf16
            const auto z = at::matmul(x.view({B, 1, 1, d}), W).view({B, C, d}) + bias + pe[i + 1];
            const auto y = at::gelu(z.to(model.dtype()));
            auto e = y.norm(2, {2}).masked_fill(candMaskDev.select(1, i).logical_not(), negInf); // [B, C]
            const auto edgeLoss = at::logsumexp(e, {1}) - e.select(1, 0);
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
