// SPDX-License-Identifier: GPL-3.0-or-later
#include "brillm/training/optimizer.h"
#include "brillm/util/parallel.h"

#include "brillm/error.h"
#include "brillm/training/device_loss.h"
#ifdef BRILLM_WITH_FUSED_CUDA
#include "fused_step.h"
#endif

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>

#include <algorithm>
#include <cmath>
#include <thread>

namespace brillm::training {

namespace {

template <class T> struct AdamScalars { T b1, b2, eps, decay, stepSize, invSqrtBc2; };

// torch.optim.AdamW (foreach=False) for a contiguous run: p *= 1 - lr*wd; m = b1 m + (1-b1) g;
// v = b2 v + (1-b2) g^2; p -= (lr / bc1) * m / (sqrt(v) / sqrt(bc2) + eps). g == nullptr: zero.
template <class T>
void adamRun(T* __restrict p, T* __restrict m, T* __restrict v, const T* __restrict g, int64_t n,
             const AdamScalars<T>& s, T gradScale) {
    const T b1 = s.b1, b2 = s.b2, eps = s.eps, decay = s.decay, stepSize = s.stepSize, inv = s.invSqrtBc2;
    const T c1 = T(1) - b1, c2 = T(1) - b2;
    if (g) {
        for (int64_t i = 0; i < n; ++i) {
            const T gi = g[i] * gradScale;
            p[i] *= decay;
            m[i] = b1 * m[i] + c1 * gi;
            v[i] = b2 * v[i] + c2 * gi * gi;
            p[i] -= stepSize * m[i] / (std::sqrt(v[i]) * inv + eps);
        }
    } else {
        for (int64_t i = 0; i < n; ++i) {
            p[i] *= decay;
            m[i] = b1 * m[i];
            v[i] = b2 * v[i];
            p[i] -= stepSize * m[i] / (std::sqrt(v[i]) * inv + eps);
        }
    }
}

// Row loops split over threads (brillm/util/parallel.h); small ones stay on the calling thread.
template <class F> void parallelFor(int64_t n, int threads, F&& f) {
    parallelChunks(n, n < 1024 ? 1 : threads, f);
}

// Sparse SGD and row-wise Adagrad on the CPU (float or double).
template <class T>
void stepSimple(Model& model, const SparseGradients& grad, const AdamWSettings& st, double lr, T gradScale,
                at::Tensor& slotAcc, at::Tensor& nAcc, at::Tensor& pAcc, int threads) {
    const int64_t d = model.dim(), dd = d * d;
    T* W = model.weights.data_ptr<T>();
    T* B = model.biases.data_ptr<T>();
    const T* GW = grad.weights.defined() && grad.weights.numel() ? grad.weights.data_ptr<T>() : nullptr;
    const T* GB = grad.biases.defined() && grad.biases.numel() ? grad.biases.data_ptr<T>() : nullptr;
    const bool adagrad = st.kind == OptimizerKind::Adagrad;
    const T decay = static_cast<T>(1.0 - lr * st.weightDecay), eps = static_cast<T>(st.eps), rate = static_cast<T>(lr);
    const auto& slots = grad.slots;
    T* A = adagrad ? slotAcc.data_ptr<T>() : nullptr;
    parallelFor(static_cast<int64_t>(slots.size()), threads, [&](int64_t b, int64_t e) {
        for (int64_t r = b; r < e; ++r) {
            const int64_t slot = slots[static_cast<size_t>(r)];
            T* w = W + slot * dd;
            T* bias = B + slot * d;
            const T* gw = GW + r * dd;
            const T* gb = GB + r * d;
            T step = rate * gradScale;
            if (adagrad) {
                T sq = 0;
                for (int64_t i = 0; i < dd; ++i)
                    sq += gw[i] * gw[i];
                for (int64_t i = 0; i < d; ++i)
                    sq += gb[i] * gb[i];
                A[slot] += sq * gradScale * gradScale / static_cast<T>(dd + d);
                step /= std::sqrt(A[slot]) + eps;
            }
            for (int64_t i = 0; i < dd; ++i)
                w[i] = w[i] * decay - step * gw[i];
            for (int64_t i = 0; i < d; ++i)
                bias[i] = bias[i] * decay - step * gb[i];
        }
    });
    const auto dense = [&](at::Tensor& p, const at::Tensor& g, at::Tensor& acc) {
        T* pp = p.data_ptr<T>();
        const T* gg = g.data_ptr<T>();
        T* aa = adagrad ? acc.data_ptr<T>() : nullptr;
        for (int64_t i = 0; i < p.numel(); ++i) {
            const T gi = gg[i] * gradScale;
            T step = rate;
            if (adagrad) {
                aa[i] += gi * gi;
                step /= std::sqrt(aa[i]) + eps;
            }
            pp[i] -= step * gi;
        }
    };
    dense(model.nodeBias, grad.nodeBias, nAcc);
    dense(model.positions, grad.positions, pAcc);
}

// Sparse SGD and row-wise Adagrad with ATen operations (parameters on a GPU; the CPU for checking):
// the same maths as stepSimple.
void stepSimpleTensorOps(Model& model, const SparseGradients& grad, const AdamWSettings& st, double lr,
                         double gradScale, at::Tensor& slotAcc, at::Tensor& nAcc, at::Tensor& pAcc) {
    c10::NoGradGuard noGrad;
    const bool adagrad = st.kind == OptimizerKind::Adagrad;
    const double decay = 1.0 - lr * st.weightDecay;
    if (!grad.slots.empty() && grad.weights.defined() && grad.weights.numel() > 0) {
        const auto idx = at::tensor(grad.slots, at::kLong).to(model.weights.device());
        const int64_t rows = idx.size(0), d = model.dim();
        auto gw = grad.weights.to(model.weights.scalar_type()).mul(gradScale);
        auto gb = grad.biases.to(model.biases.scalar_type()).mul(gradScale);
        at::Tensor step = at::full({rows, 1, 1}, lr, gw.options());
        if (adagrad) {
            const auto sq = (gw.pow(2).sum({1, 2}) + gb.pow(2).sum({1, 2})) / static_cast<double>(d * d + d);
            slotAcc.index_add_(0, idx, sq);
            step = step / (slotAcc.index_select(0, idx).sqrt() + st.eps).view({rows, 1, 1});
        }
        auto w = model.weights.index_select(0, idx).mul_(decay).sub_(step * gw);
        auto b = model.biases.index_select(0, idx).mul_(decay).sub_(step * gb);
        model.weights.index_copy_(0, idx, w);
        model.biases.index_copy_(0, idx, b);
    }
    const auto dense = [&](at::Tensor& p, const at::Tensor& g, at::Tensor& acc) {
        const auto gs = g.to(p.scalar_type()).mul(gradScale);
        if (adagrad) {
            acc.addcmul_(gs, gs);
            p.addcdiv_(gs, acc.sqrt().add_(st.eps), -lr);
        } else {
            p.add_(gs, -lr);
        }
    };
    dense(model.nodeBias, grad.nodeBias, nAcc);
    dense(model.positions, grad.positions, pAcc);
}

template <class T>
void stepImpl(Model& model, const SparseGradients& grad, const AdamWSettings& st, const AdamScalars<T>& s, T gradScale,
              at::Tensor& wM, at::Tensor& wV, at::Tensor& bM, at::Tensor& bV, at::Tensor& nM, at::Tensor& nV,
              at::Tensor& pM, at::Tensor& pV, int threads) {
    const int64_t d = model.dim(), dd = d * d;
    T* W = model.weights.data_ptr<T>();
    T* B = model.biases.data_ptr<T>();
    T* WM = wM.data_ptr<T>();
    T* WV = wV.data_ptr<T>();
    T* BM = bM.data_ptr<T>();
    T* BV = bV.data_ptr<T>();
    const T* GW = grad.weights.defined() && grad.weights.numel() ? grad.weights.data_ptr<T>() : nullptr;
    const T* GB = grad.biases.defined() && grad.biases.numel() ? grad.biases.data_ptr<T>() : nullptr;
    const auto& slots = grad.slots;
    if (st.kind == OptimizerKind::SparseAdamW) {
        parallelFor(static_cast<int64_t>(slots.size()), threads, [&](int64_t b, int64_t e) {
            for (int64_t r = b; r < e; ++r) {
                const int64_t slot = slots[static_cast<size_t>(r)];
                adamRun<T>(W + slot * dd, WM + slot * dd, WV + slot * dd, GW + r * dd, dd, s, gradScale);
                adamRun<T>(B + slot * d, BM + slot * d, BV + slot * d, GB + r * d, d, s, gradScale);
            }
        });
    } else {
        const int64_t N = model.weights.size(0);
        parallelFor(N, threads, [&](int64_t b, int64_t e) {
            auto it = std::lower_bound(slots.begin(), slots.end(), b);
            int64_t slot = b;
            while (slot < e) {
                // untouched run [slot, next touched) in one sweep, then the touched slot
                const int64_t next = it == slots.end() ? e : std::min<int64_t>(*it, e);
                if (next > slot) {
                    adamRun<T>(W + slot * dd, WM + slot * dd, WV + slot * dd, nullptr, (next - slot) * dd, s,
                               gradScale);
                    adamRun<T>(B + slot * d, BM + slot * d, BV + slot * d, nullptr, (next - slot) * d, s, gradScale);
                    slot = next;
                }
                if (slot < e && it != slots.end() && *it == slot) {
                    const int64_t r = it - slots.begin();
                    adamRun<T>(W + slot * dd, WM + slot * dd, WV + slot * dd, GW + r * dd, dd, s, gradScale);
                    adamRun<T>(B + slot * d, BM + slot * d, BV + slot * d, GB + r * d, d, s, gradScale);
                    ++slot;
                    ++it;
                }
            }
        });
    }
    adamRun<T>(model.nodeBias.data_ptr<T>(), nM.data_ptr<T>(), nV.data_ptr<T>(), grad.nodeBias.data_ptr<T>(),
               model.nodeBias.numel(), s, gradScale);
    adamRun<T>(model.positions.data_ptr<T>(), pM.data_ptr<T>(), pV.data_ptr<T>(), grad.positions.data_ptr<T>(),
               model.positions.numel(), s, gradScale);
}

// The same update with ATen operations, for parameters on a GPU (and, for checking, the CPU).
// Dense: m = b1 m + (1-b1) g, v = b2 v + (1-b2) g^2 over every row (g zero where untouched);
// sparse: only the touched rows are read and written back.
void stepTensorOps(Model& model, const SparseGradients& grad, const AdamWSettings& st, double lr, double bc1,
                   double bc2, double gradScale, at::Tensor& wM, at::Tensor& wV, at::Tensor& bM, at::Tensor& bV,
                   at::Tensor& nM, at::Tensor& nV, at::Tensor& pM, at::Tensor& pV) {
    c10::NoGradGuard noGrad;
    const double b1 = st.beta1, b2 = st.beta2, decay = 1.0 - lr * st.weightDecay, stepSize = lr / bc1;
    const double inv = 1.0 / std::sqrt(bc2);
    const auto update = [&](at::Tensor p, at::Tensor m, at::Tensor v) {
        p.mul_(decay);
        p.addcdiv_(m, v.sqrt().mul_(inv).add_(st.eps), -stepSize);
    };
    const auto dense = [&](at::Tensor& p, at::Tensor& m, at::Tensor& v, const at::Tensor& g) {
        const auto gs = g.to(p.scalar_type()).mul(gradScale);
        m.mul_(b1).add_(gs, 1.0 - b1);
        v.mul_(b2).addcmul_(gs, gs, 1.0 - b2);
        update(p, m, v);
    };
    const bool any = !grad.slots.empty() && grad.weights.defined() && grad.weights.numel() > 0;
    // float32 rows on a GPU: one fused kernel per tensor (training/src/cuda/fused_kernels.cu)
    bool fusedRows = false;
#ifdef BRILLM_WITH_FUSED_CUDA
    fusedRows = any && fusedStepAvailable() &&
                fusedEdgeAdamW(model, grad, st.kind == OptimizerKind::SparseAdamW, wM, wV, bM, bV, b1, b2, st.eps,
                               decay, stepSize, inv, gradScale);
#endif
    at::Tensor idx;
    if (any && !fusedRows) idx = at::tensor(grad.slots, at::kLong).to(model.weights.device());
    const auto rowsOf = [&](at::Tensor& p, at::Tensor& m, at::Tensor& v, const at::Tensor& g) {
        const auto gs = g.to(p.scalar_type()).mul(gradScale);
        if (st.kind == OptimizerKind::SparseAdamW) {
            auto pr = p.index_select(0, idx), mr = m.index_select(0, idx), vr = v.index_select(0, idx);
            mr.mul_(b1).add_(gs, 1.0 - b1);
            vr.mul_(b2).addcmul_(gs, gs, 1.0 - b2);
            update(pr, mr, vr);
            p.index_copy_(0, idx, pr);
            m.index_copy_(0, idx, mr);
            v.index_copy_(0, idx, vr);
        } else {
            m.mul_(b1).index_add_(0, idx, gs, 1.0 - b1);
            v.mul_(b2).index_add_(0, idx, gs * gs, 1.0 - b2);
            update(p, m, v);
        }
    };
    if (fusedRows) {
        // done
    } else if (any) {
        rowsOf(model.weights, wM, wV, grad.weights);
        rowsOf(model.biases, bM, bV, grad.biases);
    } else if (st.kind == OptimizerKind::AdamW) {
        wM.mul_(b1);
        wV.mul_(b2);
        bM.mul_(b1);
        bV.mul_(b2);
        update(model.weights, wM, wV);
        update(model.biases, bM, bV);
    }
    dense(model.nodeBias, nM, nV, grad.nodeBias);
    dense(model.positions, pM, pV, grad.positions);
}

} // namespace

AdamW::AdamW(const Model& model, AdamWSettings settings) : m_settings(settings) {
    if (settings.kind == OptimizerKind::Sgd) return; // no state
    if (settings.kind == OptimizerKind::Adagrad) {   // accumulators: one per slot, one per dense entry
        m_wV = at::zeros({model.weights.size(0)}, model.weights.options());
        m_nV = at::zeros_like(model.nodeBias);
        m_pV = at::zeros_like(model.positions);
        return;
    }
    m_wM = at::zeros_like(model.weights);
    m_wV = at::zeros_like(model.weights);
    m_bM = at::zeros_like(model.biases);
    m_bV = at::zeros_like(model.biases);
    m_nM = at::zeros_like(model.nodeBias);
    m_nV = at::zeros_like(model.nodeBias);
    m_pM = at::zeros_like(model.positions);
    m_pV = at::zeros_like(model.positions);
}

void AdamW::step(Model& model, const SparseGradients& grad, double lr, double gradScale) {
    ++m_step;
    const double bc1 = 1.0 - std::pow(m_settings.beta1, static_cast<double>(m_step));
    const double bc2 = 1.0 - std::pow(m_settings.beta2, static_cast<double>(m_step));
    const int threads = m_settings.threads > 0 ? m_settings.threads
                                               : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    if (m_settings.kind == OptimizerKind::Sgd || m_settings.kind == OptimizerKind::Adagrad) {
        if (!model.weights.is_cpu() || m_settings.tensorOps) {
            stepSimpleTensorOps(model, grad, m_settings, lr, gradScale, m_wV, m_nV, m_pV);
            return;
        }
        if (model.dtype() == at::kDouble)
            stepSimple<double>(model, grad, m_settings, lr, gradScale, m_wV, m_nV, m_pV, threads);
        else
            stepSimple<float>(model, grad, m_settings, lr, static_cast<float>(gradScale), m_wV, m_nV, m_pV, threads);
        return;
    }
    if (!model.weights.is_cpu() || m_settings.tensorOps) {
        stepTensorOps(model, grad, m_settings, lr, bc1, bc2, gradScale, m_wM, m_wV, m_bM, m_bV, m_nM, m_nV, m_pM, m_pV);
        return;
    }
    const auto run = [&](auto tag) {
        using T = decltype(tag);
        const AdamScalars<T> s{static_cast<T>(m_settings.beta1), static_cast<T>(m_settings.beta2),
                               static_cast<T>(m_settings.eps),   static_cast<T>(1.0 - lr * m_settings.weightDecay),
                               static_cast<T>(lr / bc1),         static_cast<T>(1.0 / std::sqrt(bc2))};
        stepImpl<T>(model, grad, m_settings, s, static_cast<T>(gradScale), m_wM, m_wV, m_bM, m_bV, m_nM, m_nV, m_pM,
                    m_pV, threads);
    };
    if (model.dtype() == at::kDouble)
        run(double{});
    else
        run(float{});
}

std::vector<std::pair<std::string, at::Tensor>> AdamW::state() const {
    // where they live (a GPU's moments too): the checkpoint writer streams them to the file in chunks
    if (m_settings.kind == OptimizerKind::Sgd) return {};
    if (m_settings.kind == OptimizerKind::Adagrad)
        return {{"slots.sum_sq", m_wV}, {"node_bias.sum_sq", m_nV}, {"positions.sum_sq", m_pV}};
    return {{"weights.m", m_wM},   {"weights.v", m_wV},   {"biases.m", m_bM},    {"biases.v", m_bV},
            {"node_bias.m", m_nM}, {"node_bias.v", m_nV}, {"positions.m", m_pM}, {"positions.v", m_pV}};
}

void AdamW::loadState(const std::vector<std::pair<std::string, at::Tensor>>& state, int64_t steps) {
    std::vector<std::pair<std::string, at::Tensor*>> names;
    if (m_settings.kind == OptimizerKind::Adagrad)
        names = {{"slots.sum_sq", &m_wV}, {"node_bias.sum_sq", &m_nV}, {"positions.sum_sq", &m_pV}};
    else if (m_settings.kind != OptimizerKind::Sgd)
        names = {{"weights.m", &m_wM},   {"weights.v", &m_wV},   {"biases.m", &m_bM},    {"biases.v", &m_bV},
                 {"node_bias.m", &m_nM}, {"node_bias.v", &m_nV}, {"positions.m", &m_pM}, {"positions.v", &m_pV}};
    for (auto& [name, mine] : names) {
        const auto it = std::find_if(state.begin(), state.end(), [&](const auto& e) { return e.first == name; });
        if (it == state.end()) throw InputError("optimizer state lacks '" + name + "'");
        if (it->second.sizes() != mine->sizes())
            throw InputError("optimizer state '" + name +
                             "' does not fit the model (another vocabulary or edge table?)");
        mine->copy_(it->second);
    }
    m_step = steps;
}

namespace {

// Sum of squares in double, and whether every entry is finite, without temporary tensors (the
// edge gradients of a step can be hundreds of MB).
template <class T> void scan(const at::Tensor& t, double& sq, bool& finite) {
    const T* p = t.data_ptr<T>();
    const int64_t n = t.numel();
    double acc = 0;
    for (int64_t i = 0; i < n; ++i)
        acc += static_cast<double>(p[i]) * static_cast<double>(p[i]);
    sq += acc;
    if (!std::isfinite(acc))
        for (int64_t i = 0; i < n && finite; ++i)
            finite = std::isfinite(p[i]);
}

void scanAll(const SparseGradients& g, double& sq, bool& finite) {
    sq = 0;
    finite = true;
    for (const at::Tensor* t : {&g.weights, &g.biases, &g.nodeBias, &g.positions}) {
        if (!t->defined() || t->numel() == 0) continue;
        if (!t->is_cpu()) { // on a GPU: reduce there, read back two numbers
            const auto sum = t->to(at::kDouble).pow(2).sum().item<double>();
            sq += sum;
            if (!std::isfinite(sum)) finite = finite && at::isfinite(*t).all().item<bool>();
            continue;
        }
        const auto c = t->contiguous();
        if (c.scalar_type() == at::kDouble)
            scan<double>(c, sq, finite);
        else
            scan<float>(c.to(at::kFloat), sq, finite);
    }
}

} // namespace

double gradientNorm(const SparseGradients& g) {
    double sq = 0;
    bool finite = true;
    scanAll(g, sq, finite);
    return std::sqrt(sq);
}

bool gradientsFinite(const SparseGradients& g) {
    double sq = 0;
    bool finite = true;
    scanAll(g, sq, finite);
    return finite;
}

double learningRate(const TrainConfig& c, int64_t step) {
    if (c.schedule == LrSchedule::Constant) {
        if (c.warmupSteps > 0 && step < c.warmupSteps)
            return c.lr * static_cast<double>(step + 1) / static_cast<double>(c.warmupSteps);
        return c.lr;
    }
    if (step < c.warmupSteps) return c.lr * static_cast<double>(step + 1) / static_cast<double>(c.warmupSteps);
    const double span = std::max<double>(1.0, static_cast<double>(c.steps - c.warmupSteps));
    const double progress = std::min(1.0, static_cast<double>(step - c.warmupSteps) / span);
    const double floor = c.lr * c.minLrFraction;
    return floor + (c.lr - floor) * 0.5 * (1.0 + std::cos(M_PI * progress));
}

} // namespace brillm::training
