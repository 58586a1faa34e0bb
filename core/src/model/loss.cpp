// SPDX-License-Identifier: GPL-3.0-or-later
#include "brillm/model/loss.h"

#include "brillm/error.h"
#include "brillm/model/signal.h"
#include "brillm/util/parallel.h"
#include "model/kernels.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <thread>
#include <unordered_map>

namespace brillm {

LossSample LossSample::fromNegatives(std::vector<int32_t> tokens, const std::vector<std::vector<int32_t>>& negatives) {
    LossSample s;
    if (tokens.size() < 2) throw InputError("a training sample needs at least two tokens (one edge)");
    if (negatives.size() != tokens.size() - 1)
        throw InputError("a sample of " + std::to_string(tokens.size() - 1) + " edges got negatives for " +
                         std::to_string(negatives.size()));
    s.offsets.push_back(0);
    for (size_t i = 0; i + 1 < tokens.size(); ++i) {
        s.candidates.push_back(tokens[i + 1]);
        s.candidates.insert(s.candidates.end(), negatives[i].begin(), negatives[i].end());
        s.offsets.push_back(static_cast<int64_t>(s.candidates.size()));
    }
    s.tokens = std::move(tokens);
    return s;
}

LossSample LossSample::exactCandidates(std::vector<int32_t> tokens, const EdgeTable& edges) {
    LossSample s;
    if (tokens.size() < 2) throw InputError("a training sample needs at least two tokens (one edge)");
    const int64_t V = edges.vocabSize();
    for (int32_t t : tokens)
        if (t < 0 || t >= V) throw InputError("training sample: unknown node id " + std::to_string(t));
    s.offsets.push_back(0);
    for (size_t i = 0; i + 1 < tokens.size(); ++i) {
        const int32_t src = tokens[i], tgt = tokens[i + 1];
        const auto own = edges.ownTargets(src);
        const auto ownN = static_cast<int64_t>(own.size());
        bool targetOwn = false;
        s.candidates.push_back(tgt);
        s.weights.push_back(1.0f);
        const size_t first = s.candidates.size();
        for (int32_t v : own) {
            if (v == tgt) {
                targetOwn = true;
                continue;
            }
            s.candidates.push_back(v);
        }
        s.weights.resize(s.candidates.size(), 1.0f);
        // the shared targets: a shared target stands for all of them; one other than the target when it is own
        const int64_t shared = V - ownN;
        if (!targetOwn) {
            s.weights[first - 1] = static_cast<float>(shared);
        } else if (shared > 0) {
            int32_t rep = 0; // the smallest id that is not own
            size_t k = 0;
            for (;;) {
                while (k < own.size() && own[k] < rep)
                    ++k;
                if (k == own.size() || own[k] != rep) break;
                ++rep;
            }
            s.candidates.push_back(rep);
            s.weights.push_back(static_cast<float>(shared));
        }
        s.offsets.push_back(static_cast<int64_t>(s.candidates.size()));
    }
    s.tokens = std::move(tokens);
    return s;
}

namespace {

using detail::geluGrad;
using detail::geluT;

void checkSample(const Model& model, const LossSample& s, size_t index) {
    const auto where = [&] { return "training sample " + std::to_string(index) + ": "; };
    const int64_t n = s.numEdges();
    if (n < 1) throw InputError(where() + "needs at least two tokens");
    if (n > model.maxEdges())
        throw InputError(where() + std::to_string(n) + " edges, the position table allows " +
                         std::to_string(model.maxEdges()));
    if (static_cast<int64_t>(s.offsets.size()) != n + 1 || s.offsets.front() != 0 ||
        s.offsets.back() != static_cast<int64_t>(s.candidates.size()))
        throw InputError(where() +
                         "candidate offsets must have one entry per edge plus one, from 0 to the candidate count");
    const int64_t V = model.vocabSize();
    for (int32_t t : s.tokens)
        if (t < 0 || t >= V) throw InputError(where() + "unknown node id " + std::to_string(t));
    for (int64_t i = 0; i < n; ++i) {
        const int64_t b = s.offsets[static_cast<size_t>(i)], e = s.offsets[static_cast<size_t>(i) + 1];
        if (e <= b) throw InputError(where() + "edge " + std::to_string(i) + " has no candidates");
        if (s.candidates[static_cast<size_t>(b)] != s.tokens[static_cast<size_t>(i) + 1])
            throw InputError(where() + "the first candidate of edge " + std::to_string(i) + " must be its target");
        for (int64_t k = b; k < e; ++k) {
            const int32_t c = s.candidates[static_cast<size_t>(k)];
            if (c < 0 || c >= V) throw InputError(where() + "unknown candidate node id " + std::to_string(c));
            if (k > b && c == s.tokens[static_cast<size_t>(i) + 1])
                throw InputError(where() + "a negative of edge " + std::to_string(i) + " equals its target");
        }
    }
    if (!s.weights.empty()) {
        if (s.weights.size() != s.candidates.size())
            throw InputError(where() + "has " + std::to_string(s.weights.size()) + " candidate weights for " +
                             std::to_string(s.candidates.size()) + " candidates");
        for (float w : s.weights)
            if (!(w > 0) || !std::isfinite(w))
                throw InputError(where() + "candidate weights must be positive and finite");
    }
}

// Per-thread gradient accumulator: rows for the touched slots (memory kept across calls),
// dense node bias and positions.
template <class T> struct GradAccumulator {
    int64_t d = 0;
    std::vector<int32_t> rowOf; // slot -> row, -1 when untouched
    std::vector<int64_t> slots; // touched slots, in first-touch order
    std::vector<T> w, b;        // [capacity, d*d], [capacity, d]; rows < slots.size() are live
    std::vector<T> nodeBias, positions;

    void reset(int64_t dim, int64_t numSlots, int64_t V, int64_t P) {
        if (d != dim || static_cast<int64_t>(rowOf.size()) != numSlots) {
            rowOf.assign(static_cast<size_t>(numSlots), -1);
        } else {
            for (int64_t s : slots)
                rowOf[static_cast<size_t>(s)] = -1;
        }
        d = dim;
        slots.clear();
        nodeBias.assign(static_cast<size_t>(V * dim), T(0));
        positions.assign(static_cast<size_t>(P), T(0));
    }

    int64_t row(int64_t slot) {
        int32_t& r = rowOf[static_cast<size_t>(slot)];
        if (r < 0) {
            r = static_cast<int32_t>(slots.size());
            slots.push_back(slot);
            const auto need = slots.size() * static_cast<size_t>(d * d);
            if (w.size() < need) {
                w.resize(std::max(need, w.size() * 3 / 2));
                b.resize(w.size() / static_cast<size_t>(d));
            }
            std::fill_n(w.begin() + static_cast<std::ptrdiff_t>(r) * d * d, d * d, T(0));
            std::fill_n(b.begin() + static_cast<std::ptrdiff_t>(r) * d, d, T(0));
        }
        return r;
    }
};

template <class T> struct SampleWork {
    // What the backward pass of one sample needs from its forward pass. Negatives are
    // back-propagated during the forward pass, while their matrices are still in cache; only
    // the positives (whose gradient also depends on later edges) wait for the reverse sweep.
    std::vector<T> z0, s0;      // [d] initial pre-activation and signal
    std::vector<T> x;           // [n, d] inputs
    std::vector<T> posZ, posY;  // [n, d] the positives' pre-activations and outputs
    std::vector<T> posE, posGe; // [n] the positives' energies and dLoss/dEnergy (local part)
    std::vector<int64_t> posSlot;
    std::vector<T> dxNeg;      // [n, d] dLoss/dx_i through the negatives
    std::vector<T> mix;        // [n, n] softmax weights a^(i)_j (row i, j < i)
    std::vector<T> z, y, e;    // one edge's distinct candidate rows: [U, d], [U, d], [U]
    std::vector<int64_t> slot; // [U] their slots
    std::vector<T> negWeight;  // [U] how many negative targets use the row (their weights' sum)
    std::vector<T> dxAcc;      // [d, kAccStride] W dz summed lane-wise (simd::linearBackward)
};

// What every sample of a batch reads: the edge parameters as the kernels see them, the
// positions in the compute type, and the PE table.
template <class T> struct LossParams {
    const Model& model;
    simd::Storage storage;
    const T* W; // the weights in the compute type (gradients: float32/float64 models only)
    std::vector<T> positions;
    const T* pe;
};

template <class T>
double sampleForwardBackward(const LossParams<T>& lp, const LossSample& s, bool withGrad, T gradScale,
                             GradAccumulator<T>* acc, SampleWork<T>& wk) {
    const Model& model = lp.model;
    const int64_t d = model.dim(), n = s.numEdges();
    const T* W = lp.W;
    const T* POS = lp.positions.data();
    const T* pe = lp.pe;
    const auto D_ = static_cast<size_t>(d);
    const auto N_ = static_cast<size_t>(n);

    wk.z0.resize(D_);
    wk.s0.resize(D_);
    wk.x.assign(N_ * D_, 0);
    wk.posZ.resize(N_ * D_);
    wk.posY.resize(N_ * D_);
    wk.posE.resize(N_);
    wk.posGe.resize(N_);
    wk.posSlot.resize(N_);
    wk.dxNeg.assign(withGrad ? N_ * D_ : 0, 0);
    wk.mix.assign(N_ * N_, 0);
    std::vector<T> dy(D_);

    const int32_t t0 = s.tokens[0];
    const T invD = T(1) / static_cast<T>(d);
    detail::readRange<T>(model.nodeBias, t0 * d, d, wk.z0.data());
    for (int64_t j = 0; j < d; ++j) {
        wk.z0[static_cast<size_t>(j)] = invD + wk.z0[static_cast<size_t>(j)] + pe[j];
        wk.s0[static_cast<size_t>(j)] = geluT(wk.z0[static_cast<size_t>(j)]);
    }
    const T edgeScale = gradScale / static_cast<T>(n);

    double loss = 0;
    for (int64_t i = 0; i < n; ++i) {
        T* xi = wk.x.data() + i * d;
        if (i == 0) {
            std::copy(wk.s0.begin(), wk.s0.end(), xi);
        } else {
            T mx = POS[0];
            for (int64_t j = 1; j < i; ++j)
                mx = std::max(mx, POS[j]);
            T sum = 0;
            T* a = wk.mix.data() + i * n;
            for (int64_t j = 0; j < i; ++j)
                sum += (a[j] = std::exp(POS[j] - mx));
            for (int64_t j = 0; j < i; ++j) {
                a[j] /= sum;
                const T* yj = wk.posY.data() + j * d;
                for (int64_t c = 0; c < d; ++c)
                    xi[c] += a[j] * yj[c];
            }
        }
        const int32_t src = s.tokens[static_cast<size_t>(i)];
        const T* pei = pe + (i + 1) * d;
        const int64_t cb = s.offsets[static_cast<size_t>(i)], C = s.offsets[static_cast<size_t>(i) + 1] - cb;
        // Every candidate on the shared slot has the same output: it is computed once (row
        // `shared`), and its negatives go back through it once with their summed gradient.
        wk.z.resize(static_cast<size_t>(C) * D_);
        wk.y.resize(static_cast<size_t>(C) * D_);
        wk.e.resize(static_cast<size_t>(C));
        wk.slot.resize(static_cast<size_t>(C));
        wk.negWeight.assign(static_cast<size_t>(C), T(0));
        const float* weights = s.weights.empty() ? nullptr : s.weights.data() + cb;
        T posWeight = 1;
        int64_t posRow = 0;
        const int64_t rows = detail::groupCandidates<T>(model.edges, src, s.candidates.data() + cb, weights, C,
                                                        wk.slot.data(), wk.negWeight.data(), posRow, posWeight);
        // every distinct candidate edge in one kernel call (its matrices prefetched ahead)
        simd::edgeForward(xi, pei, d, detail::edgeSet(model, 0, rows, wk.slot.data()), wk.e.data(), wk.z.data(),
                          wk.y.data());
        T emax = -std::numeric_limits<T>::infinity();
        for (int64_t u = 0; u < rows; ++u)
            emax = std::max(emax, wk.e[static_cast<size_t>(u)]);
        double sumExp =
            static_cast<double>(posWeight) * std::exp(static_cast<double>(wk.e[static_cast<size_t>(posRow)] - emax));
        for (int64_t u = 0; u < rows; ++u)
            if (wk.negWeight[static_cast<size_t>(u)] > 0)
                sumExp += static_cast<double>(wk.negWeight[static_cast<size_t>(u)]) *
                          std::exp(static_cast<double>(wk.e[static_cast<size_t>(u)] - emax));
        const T ePos = wk.e[static_cast<size_t>(posRow)];
        loss += static_cast<double>(emax) + std::log(sumExp) - static_cast<double>(ePos);

        std::copy_n(wk.z.data() + posRow * d, d, wk.posZ.data() + i * d);
        std::copy_n(wk.y.data() + posRow * d, d, wk.posY.data() + i * d);
        wk.posE[static_cast<size_t>(i)] = ePos;
        wk.posSlot[static_cast<size_t>(i)] = wk.slot[static_cast<size_t>(posRow)];
        if (!withGrad) continue;
        // dLoss/dEnergy_k = (softmax_k - [k == 0]) * scale; the negatives go back now
        const T sumExpT = static_cast<T>(sumExp);
        wk.posGe[static_cast<size_t>(i)] = (posWeight * std::exp(ePos - emax) / sumExpT - T(1)) * edgeScale;
        wk.dxAcc.assign(D_ * static_cast<size_t>(simd::kAccStride), T(0));
        for (int64_t u = 0; u < rows; ++u) {
            const T count = wk.negWeight[static_cast<size_t>(u)];
            if (count <= 0) continue;
            const T eu = wk.e[static_cast<size_t>(u)];
            const T ge = count * std::exp(eu - emax) / sumExpT * edgeScale;
            const T coef = eu > 0 ? ge / eu : T(0);
            const T* yu = wk.y.data() + u * d;
            for (int64_t j = 0; j < d; ++j)
                dy[static_cast<size_t>(j)] = coef * yu[j];
            simd::geluBackward(wk.z.data() + u * d, dy.data(), d);
            const int64_t slot = wk.slot[static_cast<size_t>(u)];
            const int64_t r = acc->row(slot);
            simd::linearBackward(xi, W + slot * d * d, dy.data(), acc->w.data() + r * d * d, acc->b.data() + r * d,
                                 wk.dxAcc.data(), d);
        }
        simd::reduceRows(wk.dxAcc.data(), wk.dxNeg.data() + i * d, d);
    }
    loss /= static_cast<double>(n);
    if (!withGrad) return loss;

    // Reverse sweep over the positives: dyPos[i] collects what later edges' mixing sends back to y_i.
    std::vector<T> dyPos(N_ * D_, 0), dx(D_), da(N_);
    for (int64_t i = n - 1; i >= 0; --i) {
        const T* xi = wk.x.data() + i * d;
        const T e0 = wk.posE[static_cast<size_t>(i)];
        const T coef = e0 > 0 ? wk.posGe[static_cast<size_t>(i)] / e0 : T(0);
        const T* y0 = wk.posY.data() + i * d;
        for (int64_t j = 0; j < d; ++j)
            dy[static_cast<size_t>(j)] = coef * y0[j] + dyPos[static_cast<size_t>(i * d + j)];
        std::copy_n(wk.dxNeg.data() + i * d, d, dx.data());
        const int64_t slot = wk.posSlot[static_cast<size_t>(i)];
        const int64_t r = acc->row(slot);
        simd::geluBackward(wk.posZ.data() + i * d, dy.data(), d);
        wk.dxAcc.assign(D_ * static_cast<size_t>(simd::kAccStride), T(0));
        simd::linearBackward(xi, W + slot * d * d, dy.data(), acc->w.data() + r * d * d, acc->b.data() + r * d,
                             wk.dxAcc.data(), d);
        simd::reduceRows(wk.dxAcc.data(), dx.data(), d);
        if (i == 0) {
            for (int64_t j = 0; j < d; ++j)
                acc->nodeBias[static_cast<size_t>(t0 * d + j)] +=
                    dx[static_cast<size_t>(j)] * geluGrad(wk.z0[static_cast<size_t>(j)]);
        } else {
            const T* a = wk.mix.data() + i * n;
            T dot = 0;
            for (int64_t j = 0; j < i; ++j) {
                const T* yj = wk.posY.data() + j * d;
                T v = 0;
                for (int64_t c = 0; c < d; ++c) {
                    v += dx[static_cast<size_t>(c)] * yj[c];
                    dyPos[static_cast<size_t>(j * d + c)] += a[j] * dx[static_cast<size_t>(c)];
                }
                da[static_cast<size_t>(j)] = v;
                dot += a[j] * v;
            }
            for (int64_t j = 0; j < i; ++j)
                acc->positions[static_cast<size_t>(j)] += a[j] * (da[static_cast<size_t>(j)] - dot);
        }
    }
    return loss;
}

template <class T> struct TypedWorkspace {
    std::vector<GradAccumulator<T>> accs;
    std::vector<SampleWork<T>> work;
};

} // namespace

struct LossWorkspace::Impl {
    TypedWorkspace<float> f;
    TypedWorkspace<double> d;
    at::Tensor weights, biases; // output buffers; results are views of their first rows
    template <class T> TypedWorkspace<T>& typed() {
        if constexpr (std::is_same_v<T, float>)
            return f;
        else
            return d;
    }
};

LossWorkspace::LossWorkspace() : m_impl(std::make_unique<Impl>()) {}
LossWorkspace::~LossWorkspace() = default;

namespace {

// A [rows, ...] view of a reusable buffer with at least `rows` rows.
at::Tensor rowsOf(at::Tensor& buffer, int64_t rows, at::IntArrayRef rowShape, at::ScalarType dtype) {
    std::vector<int64_t> shape{rows};
    shape.insert(shape.end(), rowShape.begin(), rowShape.end());
    if (!buffer.defined() || buffer.scalar_type() != dtype || buffer.size(0) < rows ||
        buffer.sizes().slice(1) != rowShape) {
        shape[0] = std::max<int64_t>(rows, buffer.defined() ? buffer.size(0) * 3 / 2 : rows);
        buffer = at::empty(shape, at::TensorOptions().dtype(dtype));
    }
    return buffer.narrow(0, 0, rows);
}

template <class T>
LossResult lossImpl(const Model& model, std::span<const LossSample> batch, const LossOptions& options,
                    LossWorkspace::Impl& ws) {
    const int64_t d = model.dim(), V = model.vocabSize(), P = model.config.maxPositions;
    const auto pe = detail::peTable<T>(P, d);
    const simd::Storage storage = detail::storageOf(model.weights);
    const bool sameType = storage == (std::is_same_v<T, double> ? simd::Storage::F64 : simd::Storage::F32);
    const LossParams<T> lp{model, storage, sameType ? model.weights.data_ptr<T>() : nullptr,
                           detail::readRange<T>(model.positions, 0, P), pe->data()};
    const auto nSamples = static_cast<int64_t>(batch.size());
    const int threads = threadCount(options.threads, nSamples);
    const T gradScale = T(1) / static_cast<T>(nSamples);
    auto& tw = ws.typed<T>();
    if (static_cast<int>(tw.work.size()) < threads) tw.work.resize(static_cast<size_t>(threads));
    if (options.computeGradients) {
        if (static_cast<int>(tw.accs.size()) < threads) tw.accs.resize(static_cast<size_t>(threads));
        for (int t = 0; t < threads; ++t)
            tw.accs[static_cast<size_t>(t)].reset(d, model.edges.numSlots(), V, P);
    }

    LossResult result;
    result.sampleLosses.assign(static_cast<size_t>(nSamples), 0);
    // contiguous chunks per thread: the same partition for the same thread count
    auto work = [&](int t) {
        const int64_t b = nSamples * t / threads, e = nSamples * (t + 1) / threads;
        for (int64_t k = b; k < e; ++k)
            result.sampleLosses[static_cast<size_t>(k)] = sampleForwardBackward<T>(
                lp, batch[static_cast<size_t>(k)], options.computeGradients, gradScale,
                options.computeGradients ? &tw.accs[static_cast<size_t>(t)] : nullptr, tw.work[static_cast<size_t>(t)]);
    };
    runThreads(threads, work);

    for (const auto& s : batch) {
        result.edges += s.numEdges();
        result.candidateEdges += static_cast<int64_t>(s.candidates.size());
    }
    double total = 0;
    for (double l : result.sampleLosses)
        total += l;
    result.loss = total / static_cast<double>(nSamples);
    if (!options.computeGradients) return result;

    // merge the per-thread accumulators in thread order, rows sorted by slot
    std::vector<int64_t> slots;
    for (int t = 0; t < threads; ++t) {
        const auto& a = tw.accs[static_cast<size_t>(t)];
        slots.insert(slots.end(), a.slots.begin(), a.slots.end());
    }
    std::sort(slots.begin(), slots.end());
    slots.erase(std::unique(slots.begin(), slots.end()), slots.end());
    const auto T_ = static_cast<int64_t>(slots.size());
    const auto opts = at::TensorOptions().dtype(model.dtype());
    auto& g = result.grad;
    g.slots = slots;
    g.weights = rowsOf(ws.weights, T_, {d, d}, model.dtype());
    g.biases = rowsOf(ws.biases, T_, {1, d}, model.dtype());
    g.nodeBias = at::zeros({V, 1, d}, opts);
    g.positions = at::zeros({1, P, 1}, opts);
    T* gw = g.weights.data_ptr<T>();
    T* gb = g.biases.data_ptr<T>();
    T* gn = g.nodeBias.data_ptr<T>();
    T* gp = g.positions.data_ptr<T>();
    const auto dd = static_cast<size_t>(d * d);
    for (int64_t r = 0; r < T_; ++r) {
        const int64_t slot = slots[static_cast<size_t>(r)];
        T* ow = gw + r * d * d;
        T* ob = gb + r * d;
        bool first = true;
        for (int t = 0; t < threads; ++t) {
            const auto& a = tw.accs[static_cast<size_t>(t)];
            const int32_t ar = a.rowOf[static_cast<size_t>(slot)];
            if (ar < 0) continue;
            const T* sw = a.w.data() + static_cast<size_t>(ar) * dd;
            const T* sb = a.b.data() + static_cast<size_t>(ar) * static_cast<size_t>(d);
            if (first) {
                std::copy_n(sw, dd, ow);
                std::copy_n(sb, d, ob);
                first = false;
            } else {
                for (size_t j = 0; j < dd; ++j)
                    ow[j] += sw[j];
                for (int64_t j = 0; j < d; ++j)
                    ob[j] += sb[j];
            }
        }
    }
    for (int t = 0; t < threads; ++t) {
        const auto& a = tw.accs[static_cast<size_t>(t)];
        for (size_t j = 0; j < a.nodeBias.size(); ++j)
            gn[j] += a.nodeBias[j];
        for (size_t j = 0; j < a.positions.size(); ++j)
            gp[j] += a.positions[j];
    }
    return result;
}

} // namespace

LossResult sampledLoss(const Model& model, std::span<const LossSample> batch, const LossOptions& options,
                       LossWorkspace* workspace) {
    model.validate();
    if (batch.empty()) throw InputError("empty training batch");
    for (size_t k = 0; k < batch.size(); ++k)
        checkSample(model, batch[k], k);
    if (model.halfPrecision() && options.computeGradients)
        throw InputError(std::string("the model's parameters are stored in ") +
                         (model.dtype() == at::kBFloat16 ? "bfloat16" : "float16") +
                         "; training needs float32 (or float64) parameters: convert the model first "
                         "(Model::toDtype(at::kFloat), or brillm export --format brillm --dtype f32)");
    LossWorkspace local;
    auto& ws = workspace ? workspace->impl() : local.impl();
    return model.dtype() == at::kDouble ? lossImpl<double>(model, batch, options, ws)
                                        : lossImpl<float>(model, batch, options, ws);
}

ExactLoss exactLoss(const Model& model, std::span<const int32_t> tokens) {
    if (tokens.size() < 2) throw InputError("the exact loss needs at least two tokens (one edge)");
    SignalPath path(model, PositionConvention::Training);
    for (size_t k = 0; k < tokens.size(); ++k)
        if (tokens[k] < 0 || tokens[k] >= model.vocabSize())
            throw InputError("token " + std::to_string(k) + " has unknown node id " + std::to_string(tokens[k]));
    if (static_cast<int64_t>(tokens.size()) - 1 > model.maxEdges())
        throw InputError("the text has " + std::to_string(tokens.size() - 1) + " edges, the position table allows " +
                         std::to_string(model.maxEdges()));
    path.start(tokens[0]);
    ExactLoss out;
    for (size_t k = 1; k < tokens.size(); ++k) {
        const auto scores = path.scoreNext(ScoreOptions{/*excludeSelfLoop=*/false});
        out.edgeLosses.push_back(scores.logSumExp - scores.rawEnergy(tokens[k]));
        path.advance(tokens[k]);
    }
    double total = 0;
    for (double l : out.edgeLosses)
        total += l;
    out.loss = total / static_cast<double>(out.edgeLosses.size());
    out.perplexity = std::exp(out.loss);
    return out;
}

} // namespace brillm
