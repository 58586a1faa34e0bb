// SPDX-License-Identifier: GPL-3.0-or-later
#include "brillm/training/shard_loss.h"

#include "brillm/error.h"
#include "brillm/training/distributed.h"
#include "brillm/util/parallel.h"
#include "model/kernels.h" // the core loss's GELU, candidate grouping and edge sets (brillm_core_internal)
#include "shard_step.h"
#include "simd/edge_kernels.h" // the core loss's vector edge kernels (Highway, dispatched at run time)

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>

namespace brillm::training {

namespace shard_step {

void checkShardSamples(const Model& shard, std::span<const LossSample> batch) {
    if (batch.empty()) throw InputError("empty training batch");
    const int64_t V = shard.vocabSize();
    for (size_t k = 0; k < batch.size(); ++k) {
        const auto& s = batch[k];
        const auto where = "training sample " + std::to_string(k) + ": ";
        const int64_t n = s.numEdges();
        if (n < 1) throw InputError(where + "needs at least two tokens");
        if (n > shard.maxEdges())
            throw InputError(where + std::to_string(n) + " edges, the position table allows " +
                             std::to_string(shard.maxEdges()));
        if (static_cast<int64_t>(s.offsets.size()) != n + 1 || s.offsets.front() != 0 ||
            s.offsets.back() != static_cast<int64_t>(s.candidates.size()))
            throw InputError(where + "candidate offsets must have one entry per edge plus one");
        if (!s.weights.empty() && s.weights.size() != s.candidates.size())
            throw InputError(where + "needs one weight per candidate");
        for (int32_t t : s.tokens)
            if (t < 0 || t >= V) throw InputError(where + "unknown node id " + std::to_string(t));
        for (int64_t i = 0; i < n; ++i) {
            const int64_t b = s.offsets[static_cast<size_t>(i)], e = s.offsets[static_cast<size_t>(i) + 1];
            if (e <= b || s.candidates[static_cast<size_t>(b)] != s.tokens[static_cast<size_t>(i) + 1])
                throw InputError(where + "edge " + std::to_string(i) + " must list its target first");
            for (int64_t c = b; c < e; ++c)
                if (s.candidates[static_cast<size_t>(c)] < 0 || s.candidates[static_cast<size_t>(c)] >= V)
                    throw InputError(where + "unknown candidate node id");
        }
    }
}

void allReduceCounted(Communicator* comm, at::Tensor& t, const char* what, uint64_t& bytes) {
    if (!comm) return;
    bytes += static_cast<uint64_t>(t.numel() * t.element_size());
    comm->allReduceSum(t, what);
}

double shardedGradientNorm(const SparseGradients& g, Communicator* comm, uint64_t& bytes) {
    const auto squares = [](const at::Tensor& t) {
        return t.defined() && t.numel() > 0 ? t.to(at::kDouble).square().sum().item<double>() : 0.0;
    };
    const auto U = static_cast<int64_t>(g.slots.size());
    const int64_t own = U > 0 && g.slots.front() == EdgeTable::kSharedSlot ? 1 : 0; // the first own row
    at::Tensor sq = at::full(
        {1}, squares(g.weights.narrow(0, own, U - own)) + squares(g.biases.narrow(0, own, U - own)), at::kDouble);
    allReduceCounted(comm, sq, "sharded gradient norm", bytes);
    double total = sq.item<double>() + squares(g.nodeBias) + squares(g.positions);
    if (own == 1) total += squares(g.weights[0]) + squares(g.biases[0]);
    return std::sqrt(total);
}

SparseGradients gradientsOn(const SparseGradients& g, const at::Device& device) {
    SparseGradients out;
    out.slots = g.slots;
    for (auto [to, from] : {std::pair{&out.weights, &g.weights},
                            {&out.biases, &g.biases},
                            {&out.nodeBias, &g.nodeBias},
                            {&out.positions, &g.positions}})
        *to = from->defined() && from->device() != device ? from->to(device) : *from;
    return out;
}

} // namespace shard_step

namespace {

using shard_step::allReduceCounted;
using shard_step::shardedGradientNorm;

using detail::geluGrad;
using detail::geluT;
using T = float;

// A worker's gradient rows for the shard's slots (local numbering), kept in first-touch order.
struct Rows {
    int64_t d = 0;
    std::vector<int32_t> rowOf;
    std::vector<int64_t> slots;
    std::vector<T> w, b;
    void reset(int64_t dim, int64_t numSlots) {
        d = dim;
        rowOf.assign(static_cast<size_t>(numSlots), -1);
        slots.clear();
    }
    int64_t row(int64_t slot) {
        int32_t& r = rowOf[static_cast<size_t>(slot)];
        if (r < 0) {
            r = static_cast<int32_t>(slots.size());
            slots.push_back(slot);
            w.resize(slots.size() * static_cast<size_t>(d * d));
            b.resize(slots.size() * static_cast<size_t>(d));
            std::fill_n(w.end() - d * d, d * d, T(0));
            std::fill_n(b.end() - d, d, T(0));
        }
        return r;
    }
};

struct Scratch {
    std::vector<T> z, y, e, negWeight, dy;
    std::vector<T> dxAcc; // [d, kAccStride]: W dz summed lane-wise (simd::linearBackward)
    std::vector<int64_t> slot;
    int64_t rows = 0; // candidate rows evaluated (summed into ShardedLossResult::localRows)
};

// dLoss/dy = dy of one candidate (dy becomes dLoss/dz) into its slot's rows, W dz into the
// accumulator wk.dxAcc (reduced into dLoss/dx with simd::reduceRows): the core loss's kernels.
inline void edgeBackward(const T* x, const T* w, const T* z, T* dy, T* gw, T* gb, Scratch& wk, int64_t d) {
    simd::geluBackward(z, dy, d);
    simd::linearBackward(x, w, dy, gw, gb, wk.dxAcc.data(), d);
}

// The whole batch's per-edge state; [B, L, ...] with L the longest sample's edge count.
struct Sweep {
    int64_t B = 0, L = 0, d = 0;
    std::vector<int64_t> n;
    std::vector<T> z0, s0, x, posY, posZ, dxNeg, mix, posE, posGe;
    std::vector<int64_t> posSlot;
    std::vector<double> edgeLoss;
    size_t at(int64_t b, int64_t i) const { return static_cast<size_t>(b * L + i); }
};

template <int D>
void evaluateEdge(const Model& m, const LossSample& s, int64_t b, int64_t i, const T* pe, bool withGrad, T edgeScale,
                  Sweep& sw, Scratch& wk, Rows* acc) {
    const int64_t d = D > 0 ? D : sw.d;
    const T* W = m.weights.data_ptr<T>();
    const T* xi = sw.x.data() + sw.at(b, i) * static_cast<size_t>(d);
    const int32_t src = s.tokens[static_cast<size_t>(i)];
    const T* pei = pe + (i + 1) * d;
    const int64_t cb = s.offsets[static_cast<size_t>(i)], C = s.offsets[static_cast<size_t>(i) + 1] - cb;
    wk.z.resize(static_cast<size_t>(C * d));
    wk.y.resize(static_cast<size_t>(C * d));
    wk.e.resize(static_cast<size_t>(C));
    wk.slot.resize(static_cast<size_t>(C));
    wk.negWeight.assign(static_cast<size_t>(C), T(0));
    wk.dy.resize(static_cast<size_t>(d));
    const float* weights = s.weights.empty() ? nullptr : s.weights.data() + cb;
    T posWeight = 1;
    int64_t posRow = 0;
    const int64_t rows = detail::groupCandidates<T>(m.edges, src, s.candidates.data() + cb, weights, C, wk.slot.data(),
                                                    wk.negWeight.data(), posRow, posWeight);
    wk.rows += rows;
    // every distinct candidate edge in one kernel call, as the core loss
    simd::edgeForward(xi, pei, d, detail::edgeSet(m, 0, rows, wk.slot.data()), wk.e.data(), wk.z.data(), wk.y.data());
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
    sw.edgeLoss[sw.at(b, i)] = static_cast<double>(emax) + std::log(sumExp) - static_cast<double>(ePos);
    const size_t row = sw.at(b, i) * static_cast<size_t>(d);
    std::copy_n(wk.z.data() + posRow * d, d, sw.posZ.data() + row);
    std::copy_n(wk.y.data() + posRow * d, d, sw.posY.data() + row);
    sw.posE[sw.at(b, i)] = ePos;
    sw.posSlot[sw.at(b, i)] = wk.slot[static_cast<size_t>(posRow)];
    if (!withGrad) return;
    const T sumExpT = static_cast<T>(sumExp);
    sw.posGe[sw.at(b, i)] = (posWeight * std::exp(ePos - emax) / sumExpT - T(1)) * edgeScale;
    T* dxi = sw.dxNeg.data() + row;
    wk.dxAcc.assign(static_cast<size_t>(d * simd::kAccStride), T(0));
    for (int64_t u = 0; u < rows; ++u) {
        const T count = wk.negWeight[static_cast<size_t>(u)];
        if (count <= 0) continue;
        const T eu = wk.e[static_cast<size_t>(u)];
        const T ge = count * std::exp(eu - emax) / sumExpT * edgeScale;
        const T coef = eu > 0 ? ge / eu : T(0);
        const T* yu = wk.y.data() + u * d;
        for (int64_t j = 0; j < d; ++j)
            wk.dy[static_cast<size_t>(j)] = coef * yu[j];
        const int64_t slot = wk.slot[static_cast<size_t>(u)];
        const int64_t r = acc->row(slot);
        edgeBackward(xi, W + slot * d * d, wk.z.data() + u * d, wk.dy.data(), acc->w.data() + r * d * d,
                     acc->b.data() + r * d, wk, d);
    }
    simd::reduceRows(wk.dxAcc.data(), dxi, d);
}

template <int D>
void backwardPositive(const Model& m, int64_t b, int64_t i, Sweep& sw, const std::vector<T>& dyPos, Scratch& wk,
                      Rows& acc, T* dxOut) {
    const int64_t d = D > 0 ? D : sw.d;
    const size_t row = sw.at(b, i) * static_cast<size_t>(d);
    const T e0 = sw.posE[sw.at(b, i)];
    const T coef = e0 > 0 ? sw.posGe[sw.at(b, i)] / e0 : T(0);
    wk.dy.resize(static_cast<size_t>(d));
    for (int64_t j = 0; j < d; ++j)
        wk.dy[static_cast<size_t>(j)] = coef * sw.posY[row + j] + dyPos[row + j];
    std::copy_n(sw.dxNeg.data() + row, d, dxOut);
    const int64_t slot = sw.posSlot[sw.at(b, i)];
    const int64_t r = acc.row(slot);
    wk.dxAcc.assign(static_cast<size_t>(d * simd::kAccStride), T(0));
    edgeBackward(sw.x.data() + row, m.weights.data_ptr<T>() + slot * d * d, sw.posZ.data() + row, wk.dy.data(),
                 acc.w.data() + r * d * d, acc.b.data() + r * d, wk, d);
    simd::reduceRows(wk.dxAcc.data(), dxOut, d);
}

template <int D>
ShardedLossResult run(const Model& m, const ShardPlan& plan, int rank, std::span<const LossSample> batch, bool withGrad,
                      bool norm, int threads, Communicator* comm) {
    const int64_t d = m.dim(), V = m.vocabSize(), P = m.config.maxPositions;
    const auto pe = detail::peTable<T>(P, d);
    const T* POS = m.positions.data_ptr<T>();
    const T* NB = m.nodeBias.data_ptr<T>();
    Sweep sw;
    sw.B = static_cast<int64_t>(batch.size());
    sw.d = d;
    for (const auto& s : batch) {
        sw.n.push_back(s.numEdges());
        sw.L = std::max(sw.L, s.numEdges());
    }
    const auto BL = static_cast<size_t>(sw.B * sw.L), BLd = BL * static_cast<size_t>(d);
    sw.z0.resize(static_cast<size_t>(sw.B * d));
    sw.s0.resize(static_cast<size_t>(sw.B * d));
    sw.x.assign(BLd, 0);
    sw.posY.assign(BLd, 0);
    sw.posZ.assign(BLd, 0);
    sw.dxNeg.assign(withGrad ? BLd : 0, 0);
    sw.mix.assign(BL * static_cast<size_t>(sw.L), 0);
    sw.posE.assign(BL, 0);
    sw.posGe.assign(BL, 0);
    sw.posSlot.assign(BL, 0);
    sw.edgeLoss.assign(BL, 0);
    const T gradScale = T(1) / static_cast<T>(sw.B);

    ShardedLossResult out;
    const int workers = std::max(1, threads);
    std::vector<Rows> accs(static_cast<size_t>(workers));
    std::vector<Scratch> scratch(static_cast<size_t>(workers));
    if (withGrad)
        for (auto& a : accs)
            a.reset(d, m.edges.numSlots());

    for (int64_t b = 0; b < sw.B; ++b) {
        const int32_t t0 = batch[static_cast<size_t>(b)].tokens[0];
        for (int64_t j = 0; j < d; ++j) {
            const size_t k = static_cast<size_t>(b * d + j);
            sw.z0[k] = T(1) / static_cast<T>(d) + NB[t0 * d + j] + (*pe)[static_cast<size_t>(j)];
            sw.s0[k] = geluT(sw.z0[k]);
        }
    }
    // the samples whose edge i this rank evaluates
    const auto mineAt = [&](int64_t i) {
        std::vector<int64_t> mine;
        for (int64_t b = 0; b < sw.B; ++b)
            if (i < sw.n[static_cast<size_t>(b)] &&
                plan.ownerOf(batch[static_cast<size_t>(b)].tokens[static_cast<size_t>(i)]) == rank)
                mine.push_back(b);
        return mine;
    };
    const auto onWorkers = [&](const std::vector<int64_t>& items, const auto& body) {
        const int n = static_cast<int>(std::min<int64_t>(workers, static_cast<int64_t>(items.size())));
        if (n <= 1) {
            for (int64_t b : items)
                body(b, 0);
            return;
        }
        runThreads(n, [&](int t) {
            const size_t from = items.size() * static_cast<size_t>(t) / static_cast<size_t>(n);
            const size_t to = items.size() * static_cast<size_t>(t + 1) / static_cast<size_t>(n);
            for (size_t k = from; k < to; ++k)
                body(items[k], t);
        });
    };

    // forward, edge index by edge index
    at::Tensor ybuf = at::empty({sw.B, d}, at::kFloat);
    for (int64_t i = 0; i < sw.L; ++i) {
        for (int64_t b = 0; b < sw.B; ++b) { // x_i on every rank (the same arithmetic as loss.cpp)
            if (i >= sw.n[static_cast<size_t>(b)]) continue;
            T* xi = sw.x.data() + sw.at(b, i) * static_cast<size_t>(d);
            if (i == 0) {
                std::copy_n(sw.s0.data() + b * d, d, xi);
                continue;
            }
            T mx = POS[0];
            for (int64_t j = 1; j < i; ++j)
                mx = std::max(mx, POS[j]);
            T sum = 0;
            T* a = sw.mix.data() + sw.at(b, i) * static_cast<size_t>(sw.L);
            for (int64_t j = 0; j < i; ++j)
                sum += (a[j] = std::exp(POS[j] - mx));
            for (int64_t j = 0; j < i; ++j) {
                a[j] /= sum;
                const T* yj = sw.posY.data() + sw.at(b, j) * static_cast<size_t>(d);
                for (int64_t c = 0; c < d; ++c)
                    xi[c] += a[j] * yj[c];
            }
        }
        const auto mine = mineAt(i);
        out.localEdges += static_cast<int64_t>(mine.size());
        onWorkers(mine, [&](int64_t b, int t) {
            const T edgeScale = gradScale / static_cast<T>(sw.n[static_cast<size_t>(b)]);
            evaluateEdge<D>(m, batch[static_cast<size_t>(b)], b, i, pe->data(), withGrad, edgeScale, sw,
                            scratch[static_cast<size_t>(t)], withGrad ? &accs[static_cast<size_t>(t)] : nullptr);
        });
        if (!comm) continue;
        ybuf.zero_();
        T* yb = ybuf.data_ptr<T>();
        for (int64_t b : mine)
            std::copy_n(sw.posY.data() + sw.at(b, i) * static_cast<size_t>(d), d, yb + b * d);
        allReduceCounted(comm, ybuf, "sharded forward (edge outputs)", out.bytesSent);
        for (int64_t b = 0; b < sw.B; ++b)
            if (i < sw.n[static_cast<size_t>(b)])
                std::copy_n(yb + b * d, d, sw.posY.data() + sw.at(b, i) * static_cast<size_t>(d));
    }
    for (const auto& wk : scratch)
        out.localRows += wk.rows;
    // the edge losses, each from its owner (a sum with zeros: exact); summed per sample in edge order as loss.cpp
    at::Tensor losses = at::from_blob(sw.edgeLoss.data(), {static_cast<int64_t>(BL)}, at::kDouble);
    allReduceCounted(comm, losses, "sharded edge losses", out.bytesSent);
    double total = 0;
    for (int64_t b = 0; b < sw.B; ++b) {
        double l = 0;
        for (int64_t i = 0; i < sw.n[static_cast<size_t>(b)]; ++i)
            l += sw.edgeLoss[sw.at(b, i)];
        out.sampleNll.push_back(l);
        out.sampleLosses.push_back(l / static_cast<double>(sw.n[static_cast<size_t>(b)]));
        total += out.sampleLosses.back();
        out.edges += sw.n[static_cast<size_t>(b)];
    }
    out.loss = total / static_cast<double>(sw.B);
    if (!withGrad) return out;

    // backward: the reverse sweep; dx_i comes from the owner of t_i, the mixing's gradients follow on every rank
    std::vector<T> dyPos(BLd, 0), gNode(static_cast<size_t>(V * d), 0), gPos(static_cast<size_t>(P), 0),
        da(static_cast<size_t>(sw.L));
    at::Tensor dxbuf = at::zeros({sw.B, d}, at::kFloat);
    T* dxb = dxbuf.data_ptr<T>();
    for (int64_t i = sw.L - 1; i >= 0; --i) {
        const auto mine = mineAt(i);
        dxbuf.zero_();
        onWorkers(mine, [&](int64_t b, int t) {
            backwardPositive<D>(m, b, i, sw, dyPos, scratch[static_cast<size_t>(t)], accs[static_cast<size_t>(t)],
                                dxb + b * d);
        });
        allReduceCounted(comm, dxbuf, "sharded backward (input gradients)", out.bytesSent);
        for (int64_t b = 0; b < sw.B; ++b) {
            if (i >= sw.n[static_cast<size_t>(b)]) continue;
            const T* dx = dxb + b * d;
            if (i == 0) {
                const int32_t t0 = batch[static_cast<size_t>(b)].tokens[0];
                for (int64_t j = 0; j < d; ++j)
                    gNode[static_cast<size_t>(t0 * d + j)] += dx[j] * geluGrad(sw.z0[static_cast<size_t>(b * d + j)]);
                continue;
            }
            const T* a = sw.mix.data() + sw.at(b, i) * static_cast<size_t>(sw.L);
            T dot = 0;
            for (int64_t j = 0; j < i; ++j) {
                const size_t rj = sw.at(b, j) * static_cast<size_t>(d);
                T v = 0;
                for (int64_t c = 0; c < d; ++c) {
                    v += dx[c] * sw.posY[rj + static_cast<size_t>(c)];
                    dyPos[rj + static_cast<size_t>(c)] += a[j] * dx[c];
                }
                da[static_cast<size_t>(j)] = v;
                dot += a[j] * v;
            }
            for (int64_t j = 0; j < i; ++j)
                gPos[static_cast<size_t>(j)] += a[j] * (da[static_cast<size_t>(j)] - dot);
        }
    }

    // merge the workers' rows, sorted by slot; the shared slot is summed over the ranks
    std::vector<int64_t> slots;
    for (const auto& a : accs)
        slots.insert(slots.end(), a.slots.begin(), a.slots.end());
    std::sort(slots.begin(), slots.end());
    slots.erase(std::unique(slots.begin(), slots.end()), slots.end());
    const int64_t dd = d * d;
    at::Tensor shared = at::zeros({dd + d + 1}, at::kFloat);
    if (!slots.empty() && slots.front() == EdgeTable::kSharedSlot) {
        T* p = shared.data_ptr<T>();
        p[dd + d] = 1;
        for (const auto& a : accs) {
            const int32_t r = a.rowOf[0];
            if (r < 0) continue;
            for (int64_t j = 0; j < dd; ++j)
                p[j] += a.w[static_cast<size_t>(r * dd + j)];
            for (int64_t j = 0; j < d; ++j)
                p[dd + j] += a.b[static_cast<size_t>(r * d + j)];
        }
    }
    allReduceCounted(comm, shared, "sharded shared-slot gradient", out.bytesSent);
    const T* sh = shared.data_ptr<T>();
    if (sh[dd + d] > 0 && (slots.empty() || slots.front() != EdgeTable::kSharedSlot))
        slots.insert(slots.begin(), EdgeTable::kSharedSlot);
    const auto U = static_cast<int64_t>(slots.size());
    auto& g = out.grad;
    g.slots = slots;
    g.weights = at::zeros({U, d, d}, at::kFloat);
    g.biases = at::zeros({U, 1, d}, at::kFloat);
    g.nodeBias = at::from_blob(gNode.data(), {V, 1, d}, at::kFloat).clone();
    g.positions = at::from_blob(gPos.data(), {1, P, 1}, at::kFloat).clone();
    T* gw = g.weights.data_ptr<T>();
    T* gb = g.biases.data_ptr<T>();
    for (int64_t r = 0; r < U; ++r) {
        const int64_t slot = slots[static_cast<size_t>(r)];
        T* ow = gw + r * dd;
        T* ob = gb + r * d;
        if (slot == EdgeTable::kSharedSlot) {
            std::copy_n(sh, dd, ow);
            std::copy_n(sh + dd, d, ob);
            continue;
        }
        for (const auto& a : accs) {
            const int32_t ar = a.rowOf[static_cast<size_t>(slot)];
            if (ar < 0) continue;
            for (int64_t j = 0; j < dd; ++j)
                ow[j] += a.w[static_cast<size_t>(ar * dd + j)];
            for (int64_t j = 0; j < d; ++j)
                ob[j] += a.b[static_cast<size_t>(ar * d + j)];
        }
    }
    if (norm) out.gradNorm = shardedGradientNorm(g, comm, out.bytesSent);
    return out;
}

} // namespace

ShardedLossResult shardedLoss(const Model& shard, const ShardPlan& plan, int rank, std::span<const LossSample> batch,
                              bool withGradients, int threads, Communicator* comm) {
    shard.validate();
    if (shard.dtype() != at::kFloat || !shard.weights.is_cpu())
        throw InputError("the sharded loss runs on float32 CPU tensors");
    if (rank < 0 || rank >= plan.parts()) throw InputError("shard rank outside the plan");
    shard_step::checkShardSamples(shard, batch);
    return shard.dim() == 32 ? run<32>(shard, plan, rank, batch, withGradients, true, threads, comm)
                             : run<0>(shard, plan, rank, batch, withGradients, true, threads, comm);
}

ShardLayout ShardLayout::of(int worldSize, int shards) {
    if (worldSize < 1) throw InputError("a shard layout needs at least one rank");
    ShardLayout l;
    l.shards = worldSize == 1 ? 1 : shards > 0 ? shards : worldSize;
    if (l.shards > worldSize || worldSize % l.shards != 0)
        throw InputError("--shards " + std::to_string(shards) + " does not divide the " + std::to_string(worldSize) +
                         " ranks of this job (shard groups of " + std::to_string(shards) +
                         " ranks, one per replica): give --shards N with N a divisor of " + std::to_string(worldSize) +
                         " (on --resume too; N = " + std::to_string(worldSize) + ": every rank one shard)");
    l.replicas = worldSize / l.shards;
    return l;
}

bool atenShardStep(const Model& shard) {
    if (!shard.weights.is_cpu()) return true;
    const char* env = std::getenv("BRILLM_SHARD_STEP");
    return env != nullptr && std::strcmp(env, "aten") == 0;
}

ShardedLossResult shardedReplicaLoss(const Model& shard, const ShardPlan& plan, int shardRank,
                                     std::span<const LossSample> replicaBatch, int threads, Communicator* shardGroup,
                                     ReplicaExchange* replicas, DeviceLossWorkspace* workspace) {
    const bool aten = atenShardStep(shard);
    if (!replicas)
        return aten ? atenShardedLoss(shard, plan, shardRank, replicaBatch, true, shardGroup, workspace)
                    : shardedLoss(shard, plan, shardRank, replicaBatch, true, threads, shardGroup);
    shard.validate();
    if (shard.dtype() != at::kFloat || (!aten && !shard.weights.is_cpu()))
        throw InputError("the sharded loss runs on float32 tensors");
    if (shardRank < 0 || shardRank >= plan.parts()) throw InputError("shard rank outside the plan");
    shard_step::checkShardSamples(shard, replicaBatch);
    ShardedLossResult out =
        aten ? shard_step::atenShardStep(shard, plan, shardRank, replicaBatch, true, false, shardGroup, workspace)
        : shard.dim() == 32 ? run<32>(shard, plan, shardRank, replicaBatch, true, false, threads, shardGroup)
                            : run<0>(shard, plan, shardRank, replicaBatch, true, false, threads, shardGroup);
    double lossSum = 0;
    for (double l : out.sampleLosses)
        lossSum += l;
    // the replica exchange works on host memory (with NCCL its collectives take the host buffers to the GPU)
    const at::Device device = shard.weights.device();
    out.grad = shard_step::gradientsOn(replicas->exchange(shard, shard_step::gradientsOn(out.grad, at::kCPU),
                                                          static_cast<int64_t>(replicaBatch.size()), lossSum),
                                       device);
    const auto& st = replicas->stats();
    out.loss = st.globalLossSum / static_cast<double>(st.globalSamples);
    out.globalSamples = st.globalSamples;
    out.replicaBytesSent = st.exchangeBytes;
    out.touchedSlots = st.unionSlots;
    out.gradNorm = shardedGradientNorm(out.grad, shardGroup, out.bytesSent);
    return out;
}

} // namespace brillm::training
