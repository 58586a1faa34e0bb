// SPDX-License-Identifier: GPL-3.0-or-later
#include "brillm/loss.h"

#include "brillm/error.h"
#include "brillm/signal.h"
#include "kernels.h"

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

namespace {

using detail::edgeAffine;
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
        throw InputError(where() + "candidate offsets must have one entry per edge plus one, from 0 to the candidate count");
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
}

// Per-thread gradient accumulator: dense rows for the touched slots, dense node bias and positions.
template <class T> struct GradAccumulator {
    int64_t d = 0;
    std::unordered_map<int64_t, int64_t> rowOf; // slot -> row
    std::vector<int64_t> slots;
    std::vector<T> w, b; // [rows, d*d], [rows, d]
    std::vector<T> nodeBias, positions;

    GradAccumulator(int64_t dim, int64_t V, int64_t P)
        : d(dim), nodeBias(static_cast<size_t>(V * dim), T(0)), positions(static_cast<size_t>(P), T(0)) {}

    int64_t row(int64_t slot) {
        auto [it, inserted] = rowOf.try_emplace(slot, static_cast<int64_t>(slots.size()));
        if (inserted) {
            slots.push_back(slot);
            w.resize(w.size() + static_cast<size_t>(d * d), T(0));
            b.resize(b.size() + static_cast<size_t>(d), T(0));
        }
        return it->second;
    }
};

template <class T> struct SampleWork {
    // Forward results of one sample, kept for its backward pass.
    std::vector<T> z0, s0;         // [d] initial pre-activation and signal
    std::vector<T> x;              // [n, d] inputs
    std::vector<int64_t> slot;     // [C] slot of every candidate edge
    std::vector<T> z, y;           // [C, d] pre-activations and outputs
    std::vector<T> e;              // [C] energies
    std::vector<T> mix;            // [n, n] softmax weights a^(i)_j (row i, j < i)
};

template <class T>
double sampleForwardBackward(const Model& model, const LossSample& s, const T* pe, bool withGrad, T gradScale,
                             GradAccumulator<T>* acc, SampleWork<T>& wk) {
    const int64_t d = model.dim(), n = s.numEdges();
    const auto C = static_cast<int64_t>(s.candidates.size());
    const T* W = model.weights.data_ptr<T>();
    const T* B = model.biases.data_ptr<T>();
    const T* NB = model.nodeBias.data_ptr<T>();
    const T* POS = model.positions.data_ptr<T>();
    const auto D = static_cast<size_t>(d);

    wk.z0.assign(D, 0);
    wk.s0.assign(D, 0);
    wk.x.assign(static_cast<size_t>(n) * D, 0);
    wk.slot.resize(static_cast<size_t>(C));
    wk.z.resize(static_cast<size_t>(C) * D);
    wk.y.resize(static_cast<size_t>(C) * D);
    wk.e.resize(static_cast<size_t>(C));
    wk.mix.assign(static_cast<size_t>(n * n), 0);

    const int32_t t0 = s.tokens[0];
    const T invD = T(1) / static_cast<T>(d);
    for (int64_t j = 0; j < d; ++j) {
        wk.z0[static_cast<size_t>(j)] = invD + NB[t0 * d + j] + pe[j];
        wk.s0[static_cast<size_t>(j)] = geluT(wk.z0[static_cast<size_t>(j)]);
    }

    double loss = 0;
    for (int64_t i = 0; i < n; ++i) {
        T* xi = wk.x.data() + i * d;
        if (i == 0) {
            std::copy(wk.s0.begin(), wk.s0.end(), xi);
        } else {
            T mx = POS[0];
            for (int64_t j = 1; j < i; ++j) mx = std::max(mx, POS[j]);
            T sum = 0;
            T* a = wk.mix.data() + i * n;
            for (int64_t j = 0; j < i; ++j) sum += (a[j] = std::exp(POS[j] - mx));
            for (int64_t j = 0; j < i; ++j) {
                a[j] /= sum;
                const T* yj = wk.y.data() + s.offsets[static_cast<size_t>(j)] * d; // edge j's positive
                for (int64_t c = 0; c < d; ++c) xi[c] += a[j] * yj[c];
            }
        }
        const int32_t src = s.tokens[static_cast<size_t>(i)];
        const T* pei = pe + (i + 1) * d;
        const int64_t cb = s.offsets[static_cast<size_t>(i)], ce = s.offsets[static_cast<size_t>(i) + 1];
        T emax = -std::numeric_limits<T>::infinity();
        for (int64_t k = cb; k < ce; ++k) {
            const int64_t slot = model.edges.slot(src, s.candidates[static_cast<size_t>(k)]);
            wk.slot[static_cast<size_t>(k)] = slot;
            T* zk = wk.z.data() + k * d;
            T* yk = wk.y.data() + k * d;
            edgeAffine(xi, W + slot * d * d, B + slot * d, pei, zk, d);
            T sq = 0;
            for (int64_t j = 0; j < d; ++j) {
                yk[j] = geluT(zk[j]);
                sq += yk[j] * yk[j];
            }
            wk.e[static_cast<size_t>(k)] = std::sqrt(sq);
            emax = std::max(emax, wk.e[static_cast<size_t>(k)]);
        }
        double sumExp = 0;
        for (int64_t k = cb; k < ce; ++k) sumExp += std::exp(static_cast<double>(wk.e[static_cast<size_t>(k)] - emax));
        loss += static_cast<double>(emax) + std::log(sumExp) - static_cast<double>(wk.e[static_cast<size_t>(cb)]);
    }
    loss /= static_cast<double>(n);
    if (!withGrad) return loss;

    // Backward, last edge first: dyPos[i] collects what later edges' mixing sends back to y_i.
    std::vector<T> dyPos(static_cast<size_t>(n) * D, 0), dx(D), dy(D), dz(D), da(static_cast<size_t>(n));
    const T edgeScale = gradScale / static_cast<T>(n);
    for (int64_t i = n - 1; i >= 0; --i) {
        const T* xi = wk.x.data() + i * d;
        const int64_t cb = s.offsets[static_cast<size_t>(i)], ce = s.offsets[static_cast<size_t>(i) + 1];
        T emax = -std::numeric_limits<T>::infinity();
        for (int64_t k = cb; k < ce; ++k) emax = std::max(emax, wk.e[static_cast<size_t>(k)]);
        T sumExp = 0;
        for (int64_t k = cb; k < ce; ++k) sumExp += std::exp(wk.e[static_cast<size_t>(k)] - emax);
        std::fill(dx.begin(), dx.end(), T(0));
        for (int64_t k = cb; k < ce; ++k) {
            const T p = std::exp(wk.e[static_cast<size_t>(k)] - emax) / sumExp;
            const T ge = (p - (k == cb ? T(1) : T(0))) * edgeScale;
            const T ek = wk.e[static_cast<size_t>(k)];
            const T* yk = wk.y.data() + k * d;
            const T* zk = wk.z.data() + k * d;
            const T coef = ek > 0 ? ge / ek : T(0);
            for (int64_t j = 0; j < d; ++j) dy[static_cast<size_t>(j)] = coef * yk[j];
            if (k == cb)
                for (int64_t j = 0; j < d; ++j) dy[static_cast<size_t>(j)] += dyPos[static_cast<size_t>(i * d + j)];
            for (int64_t j = 0; j < d; ++j) dz[static_cast<size_t>(j)] = dy[static_cast<size_t>(j)] * geluGrad(zk[j]);
            const int64_t slot = wk.slot[static_cast<size_t>(k)];
            const int64_t r = acc->row(slot);
            T* gw = acc->w.data() + r * d * d;
            T* gb = acc->b.data() + r * d;
            const T* w = W + slot * d * d;
            for (int64_t a = 0; a < d; ++a) {
                const T xa = xi[a];
                T* gwRow = gw + a * d;
                const T* wRow = w + a * d;
                T acc2 = 0;
                for (int64_t j = 0; j < d; ++j) {
                    gwRow[j] += xa * dz[static_cast<size_t>(j)];
                    acc2 += wRow[j] * dz[static_cast<size_t>(j)];
                }
                dx[static_cast<size_t>(a)] += acc2;
            }
            for (int64_t j = 0; j < d; ++j) gb[j] += dz[static_cast<size_t>(j)];
        }
        if (i == 0) {
            const int32_t t0i = s.tokens[0];
            for (int64_t j = 0; j < d; ++j)
                acc->nodeBias[static_cast<size_t>(t0i * d + j)] +=
                    dx[static_cast<size_t>(j)] * geluGrad(wk.z0[static_cast<size_t>(j)]);
        } else {
            const T* a = wk.mix.data() + i * n;
            T dot = 0;
            for (int64_t j = 0; j < i; ++j) {
                const T* yj = wk.y.data() + s.offsets[static_cast<size_t>(j)] * d;
                T v = 0;
                for (int64_t c = 0; c < d; ++c) {
                    v += dx[static_cast<size_t>(c)] * yj[c];
                    dyPos[static_cast<size_t>(j * d + c)] += a[j] * dx[static_cast<size_t>(c)];
                }
                da[static_cast<size_t>(j)] = v;
                dot += a[j] * v;
            }
            for (int64_t j = 0; j < i; ++j) acc->positions[static_cast<size_t>(j)] += a[j] * (da[static_cast<size_t>(j)] - dot);
        }
    }
    return loss;
}

template <class T>
LossResult lossImpl(const Model& model, std::span<const LossSample> batch, const LossOptions& options) {
    const int64_t d = model.dim(), V = model.vocabSize(), P = model.config.maxPositions;
    const auto pe = detail::peTable<T>(P, d);
    const auto nSamples = static_cast<int64_t>(batch.size());
    int threads = options.threads > 0 ? options.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    threads = static_cast<int>(std::min<int64_t>(threads, nSamples));
    const T gradScale = T(1) / static_cast<T>(nSamples);

    LossResult result;
    result.sampleLosses.assign(static_cast<size_t>(nSamples), 0);
    std::vector<GradAccumulator<T>> accs;
    if (options.computeGradients)
        for (int t = 0; t < threads; ++t) accs.emplace_back(d, V, P);

    // contiguous chunks per thread: the same partition for the same thread count
    auto work = [&](int t) {
        SampleWork<T> wk;
        const int64_t b = nSamples * t / threads, e = nSamples * (t + 1) / threads;
        for (int64_t k = b; k < e; ++k)
            result.sampleLosses[static_cast<size_t>(k)] = sampleForwardBackward<T>(
                model, batch[static_cast<size_t>(k)], pe->data(), options.computeGradients, gradScale,
                options.computeGradients ? &accs[static_cast<size_t>(t)] : nullptr, wk);
    };
    if (threads == 1) {
        work(0);
    } else {
        std::vector<std::thread> pool;
        std::exception_ptr failure;
        std::mutex failureMutex;
        for (int t = 0; t < threads; ++t)
            pool.emplace_back([&, t] {
                try {
                    work(t);
                } catch (...) {
                    std::lock_guard lock(failureMutex);
                    if (!failure) failure = std::current_exception();
                }
            });
        for (auto& th : pool) th.join();
        if (failure) std::rethrow_exception(failure);
    }

    for (const auto& s : batch) {
        result.edges += s.numEdges();
        result.candidateEdges += static_cast<int64_t>(s.candidates.size());
    }
    double total = 0;
    for (double l : result.sampleLosses) total += l;
    result.loss = total / static_cast<double>(nSamples);
    if (!options.computeGradients) return result;

    // merge the per-thread accumulators in thread order
    std::vector<int64_t> slots;
    for (const auto& a : accs) slots.insert(slots.end(), a.slots.begin(), a.slots.end());
    std::sort(slots.begin(), slots.end());
    slots.erase(std::unique(slots.begin(), slots.end()), slots.end());
    const auto opts = at::TensorOptions().dtype(model.dtype());
    auto& g = result.grad;
    g.slots = slots;
    g.weights = at::zeros({static_cast<int64_t>(slots.size()), d, d}, opts);
    g.biases = at::zeros({static_cast<int64_t>(slots.size()), 1, d}, opts);
    g.nodeBias = at::zeros({V, 1, d}, opts);
    g.positions = at::zeros({1, P, 1}, opts);
    T* gw = g.weights.data_ptr<T>();
    T* gb = g.biases.data_ptr<T>();
    T* gn = g.nodeBias.data_ptr<T>();
    T* gp = g.positions.data_ptr<T>();
    for (const auto& a : accs) {
        for (size_t r = 0; r < a.slots.size(); ++r) {
            const auto out = std::lower_bound(slots.begin(), slots.end(), a.slots[r]) - slots.begin();
            for (int64_t j = 0; j < d * d; ++j) gw[out * d * d + j] += a.w[r * static_cast<size_t>(d * d) + static_cast<size_t>(j)];
            for (int64_t j = 0; j < d; ++j) gb[out * d + j] += a.b[r * static_cast<size_t>(d) + static_cast<size_t>(j)];
        }
        for (size_t j = 0; j < a.nodeBias.size(); ++j) gn[j] += a.nodeBias[j];
        for (size_t j = 0; j < a.positions.size(); ++j) gp[j] += a.positions[j];
    }
    return result;
}

} // namespace

LossResult sampledLoss(const Model& model, std::span<const LossSample> batch, const LossOptions& options) {
    model.validate();
    if (batch.empty()) throw InputError("empty training batch");
    for (size_t k = 0; k < batch.size(); ++k) checkSample(model, batch[k], k);
    return model.dtype() == at::kDouble ? lossImpl<double>(model, batch, options)
                                        : lossImpl<float>(model, batch, options);
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
    for (double l : out.edgeLosses) total += l;
    out.loss = total / static_cast<double>(out.edgeLosses.size());
    out.perplexity = std::exp(out.loss);
    return out;
}

} // namespace brillm
