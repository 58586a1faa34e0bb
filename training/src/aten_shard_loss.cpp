// SPDX-License-Identifier: GPL-3.0-or-later
// The sharded training step with ATen operations on the shard's device (atenShardedLoss,
// shard_loss.h): shardedLoss's sweep - x_i on every rank, edge i on the owner of its source, the
// positives' outputs and the input gradients all-reduced per edge index - with each edge index's
// candidates evaluated by batched products (in chunks within a gather bound) and differentiated
// by autograd.
#include "brillm/error.h"
#include "brillm/training/distributed.h"
#include "brillm/training/shard_loss.h"
#include "model/kernels.h" // groupCandidates: the core loss's grouping of an edge's candidates
#include "shard_step.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <limits>

namespace brillm::training {

namespace {

using at::indexing::Slice;

// What one batched product may gather when the caller sets no bound: 512 MiB of matrices.
constexpr int64_t kDefaultGatherBytes = int64_t{512} << 20;

// This rank's edges of the batch on the host, ordered by edge index: for each owned edge (b, i)
// its candidates grouped into rows as the core loss groups them (one row per own candidate, one
// for all candidates on the shared slot), each row with the log of its total weight. Ragged: a
// chunk of edges is padded to its own most rows when it is evaluated (padding weight -inf, so
// that it adds nothing).
struct OwnedEdges {
    std::vector<int64_t> begin;     // [L + 1]: the edges of index i are [begin[i], begin[i + 1])
    std::vector<int64_t> sample;    // [E]: the edge's sample
    std::vector<int64_t> posRow;    // [E]: the positive's row
    std::vector<double> scale;      // [E]: the edge's weight in the batch's mean loss, 1 / (B n_b)
    std::vector<int64_t> rowStart;  // [E + 1]: edge e's rows are [rowStart[e], rowStart[e + 1])
    std::vector<int64_t> rowSlot;   // [rows]: each row's local slot
    std::vector<double> logWeight;  // [rows]
    std::vector<int64_t> touched;   // with gradients: the local slots any row reads, ascending
    std::vector<int64_t> rowOfSlot; // with gradients, [rows]: each row's index into `touched`
    int64_t size() const { return static_cast<int64_t>(sample.size()); }
    int64_t rows() const { return rowStart.back(); }
    int64_t rowCount(int64_t e) const {
        return rowStart[static_cast<size_t>(e) + 1] - rowStart[static_cast<size_t>(e)];
    }
};

OwnedEdges ownedEdges(const Model& m, const ShardPlan& plan, int rank, std::span<const LossSample> batch, int64_t L,
                      bool withGrad) {
    OwnedEdges o;
    const auto B = static_cast<int64_t>(batch.size());
    std::vector<int64_t> slotBuf;
    std::vector<double> negBuf;
    o.begin.push_back(0);
    o.rowStart.push_back(0);
    for (int64_t i = 0; i < L; ++i) {
        for (int64_t b = 0; b < B; ++b) {
            const auto& s = batch[static_cast<size_t>(b)];
            if (i >= s.numEdges() || plan.ownerOf(s.tokens[static_cast<size_t>(i)]) != rank) continue;
            const int64_t cb = s.offsets[static_cast<size_t>(i)], C = s.offsets[static_cast<size_t>(i) + 1] - cb;
            slotBuf.resize(static_cast<size_t>(C));
            negBuf.assign(static_cast<size_t>(C), 0.0);
            int64_t posRow = 0;
            double posWeight = 1;
            const int64_t rows = brillm::detail::groupCandidates<double>(
                m.edges, s.tokens[static_cast<size_t>(i)], s.candidates.data() + cb,
                s.weights.empty() ? nullptr : s.weights.data() + cb, C, slotBuf.data(), negBuf.data(), posRow,
                posWeight);
            negBuf[static_cast<size_t>(posRow)] += posWeight; // a row's weight: its negatives' and the positive's
            for (int64_t u = 0; u < rows; ++u) {
                const double w = negBuf[static_cast<size_t>(u)];
                o.rowSlot.push_back(slotBuf[static_cast<size_t>(u)]);
                o.logWeight.push_back(w > 0 ? std::log(w) : -std::numeric_limits<double>::infinity());
            }
            o.rowStart.push_back(o.rowStart.back() + rows);
            o.sample.push_back(b);
            o.posRow.push_back(posRow);
            o.scale.push_back(1.0 / (static_cast<double>(B) * static_cast<double>(s.numEdges())));
        }
        o.begin.push_back(o.size());
    }
    if (withGrad) {
        o.touched = o.rowSlot;
        std::sort(o.touched.begin(), o.touched.end());
        o.touched.erase(std::unique(o.touched.begin(), o.touched.end()), o.touched.end());
        o.rowOfSlot.reserve(o.rowSlot.size());
        for (const int64_t slot : o.rowSlot)
            o.rowOfSlot.push_back(std::lower_bound(o.touched.begin(), o.touched.end(), slot) - o.touched.begin());
    }
    return o;
}

// Edges [a, b) padded to `width` rows: each row's index (into `touched` with gradients, else its
// slot; padding: the edge's first row) and log weight (padding: -inf), on the device.
std::pair<at::Tensor, at::Tensor> paddedRows(const OwnedEdges& o, int64_t a, int64_t b, int64_t width, bool withGrad,
                                             const at::TensorOptions& options) {
    const auto& index = withGrad ? o.rowOfSlot : o.rowSlot;
    at::Tensor rows = at::empty({b - a, width}, at::kLong);
    at::Tensor logW = at::full({b - a, width}, -std::numeric_limits<double>::infinity(), at::kDouble);
    int64_t* r = rows.data_ptr<int64_t>();
    double* w = logW.data_ptr<double>();
    for (int64_t e = a; e < b; ++e) {
        const int64_t from = o.rowStart[static_cast<size_t>(e)], n = o.rowCount(e);
        for (int64_t u = 0; u < width; ++u)
            r[(e - a) * width + u] = index[static_cast<size_t>(from + (u < n ? u : 0))];
        for (int64_t u = 0; u < n; ++u)
            w[(e - a) * width + u] = o.logWeight[static_cast<size_t>(from + u)];
    }
    return {rows.to(options.device()), logW.to(options.device(), options.dtype().toScalarType())};
}

at::Tensor longTensor(const std::vector<int64_t>& v, const at::Device& device) {
    return at::tensor(at::ArrayRef<int64_t>(v), at::kLong).to(device);
}

at::Tensor realTensor(const std::vector<double>& v, const at::TensorOptions& options) {
    return at::tensor(at::ArrayRef<double>(v), at::kDouble).to(options.device(), options.dtype().toScalarType());
}

} // namespace

namespace shard_step {

ShardedLossResult atenShardStep(const Model& m, const ShardPlan& plan, int rank, std::span<const LossSample> batch,
                                bool withGrad, bool norm, Communicator* comm, DeviceLossWorkspace* workspace,
                                int64_t maxGatherBytes) {
    const at::Device device = m.weights.device();
    const auto opt = m.weights.options();
    const int64_t d = m.dim(), V = m.vocabSize(), dd = d * d;
    const auto B = static_cast<int64_t>(batch.size());
    int64_t L = 0;
    for (const auto& s : batch)
        L = std::max(L, s.numEdges());
    const OwnedEdges own = ownedEdges(m, plan, rank, batch, L, withGrad);
    const auto U = static_cast<int64_t>(own.touched.size());
    const int64_t matrixBytes = dd * static_cast<int64_t>(m.weights.element_size());
    const int64_t gatherBytes = maxGatherBytes > 0 ? maxGatherBytes : kDefaultGatherBytes;

    DeviceLossWorkspace local;
    DeviceLossWorkspace& ws = workspace ? *workspace : local;
    ws.prepare(m);
    const at::Tensor& pe = ws.pe;
    std::vector<int64_t> starts;
    for (const auto& s : batch)
        starts.push_back(s.tokens[0]);
    const at::Tensor startsHost = at::tensor(at::ArrayRef<int64_t>(starts), at::kLong);
    const at::Tensor sampleDev = longTensor(own.sample, device);
    const at::Tensor posDev = longTensor(own.posRow, device);
    const at::Tensor scaleDev = realTensor(own.scale, opt);

    // Leaves: the rows this rank's candidates read (without gradients, the model's own tensors are
    // read directly), the start nodes' biases, the position logits.
    const at::Tensor touchedDev = longTensor(own.touched, device);
    const at::Tensor Wt = withGrad ? m.weights.index_select(0, touchedDev).detach().requires_grad_(true) : m.weights;
    const at::Tensor Bt = withGrad ? m.biases.index_select(0, touchedDev).detach().requires_grad_(true) : m.biases;
    const at::Tensor NBt = m.nodeBias.index_select(0, startsHost.to(device)).detach().requires_grad_(withGrad);
    const at::Tensor Pt = m.positions.detach().clone().requires_grad_(withGrad);

    ShardedLossResult out;
    out.localEdges = own.size();
    out.localRows = own.rows();
    // per edge index: the mix x_i as every rank computes it (graph), its copy the owner's edges
    // start from (leaf), the all-reduced positive outputs (leaf), the owner's positives and losses
    std::vector<at::Tensor> xMix(static_cast<size_t>(L)), xLeaf(static_cast<size_t>(L)), Y(static_cast<size_t>(L)),
        yPos(static_cast<size_t>(L)), edgeLoss(static_cast<size_t>(L));
    const at::Tensor s0 = at::gelu(NBt.squeeze(1) + pe[0] + 1.0 / static_cast<double>(d)); // [B, d]
    for (int64_t i = 0; i < L; ++i) {
        const auto k = static_cast<size_t>(i);
        if (i == 0) {
            xMix[k] = s0;
        } else {
            const at::Tensor a = Pt.index({0, Slice(0, i), 0}).softmax(0); // [i]
            xMix[k] = (at::stack(at::ArrayRef<at::Tensor>(Y.data(), k), 1) * a.view({1, i, 1})).sum(1);
        }
        xLeaf[k] = withGrad ? xMix[k].detach().requires_grad_(true) : xMix[k];
        at::Tensor ySum = at::zeros({B, d}, opt);
        const int64_t e0 = own.begin[k], M = own.begin[k + 1] - e0;
        if (M > 0) {
            // in chunks of owned edges whose gathered matrices fit the bound (at least one edge), each
            // padded only to its own most rows
            std::vector<at::Tensor> losses, outputs;
            for (int64_t a = e0; a < e0 + M;) {
                int64_t b = a, Cc = 0;
                while (b < e0 + M) {
                    const int64_t wider = std::max(Cc, own.rowCount(b));
                    if (b > a && (b + 1 - a) * wider * matrixBytes > gatherBytes) break;
                    Cc = wider;
                    ++b;
                }
                const int64_t n = b - a; // edges in this chunk
                const auto [rowIndex, logWeight] = paddedRows(own, a, b, Cc, withGrad, opt);
                const at::Tensor rows = rowIndex.reshape({n * Cc});
                const at::Tensor x = xLeaf[k].index_select(0, sampleDev.narrow(0, a, n));
                const at::Tensor W = Wt.index_select(0, rows).view({n, Cc, d, d});
                const at::Tensor bias = Bt.index_select(0, rows).view({n, Cc, d});
                const at::Tensor z = at::matmul(x.view({n, 1, 1, d}), W).view({n, Cc, d}) + bias + pe[i + 1];
                const at::Tensor y = at::gelu(z);
                const at::Tensor e = y.norm(2, {2}); // [n, Cc]
                const at::Tensor pos = posDev.narrow(0, a, n);
                losses.push_back(at::logsumexp(e + logWeight, {1}) - e.gather(1, pos.view({n, 1})).squeeze(1));
                outputs.push_back(y.gather(1, pos.view({n, 1, 1}).expand({n, 1, d})).squeeze(1)); // [n, d]
                a = b;
            }
            edgeLoss[k] = losses.size() == 1 ? losses[0] : at::cat(losses);
            yPos[k] = outputs.size() == 1 ? outputs[0] : at::cat(outputs);
            ySum.index_copy_(0, sampleDev.narrow(0, e0, M), yPos[k].detach());
        }
        allReduceCounted(comm, ySum, "sharded forward (edge outputs)", out.bytesSent);
        Y[k] = withGrad ? ySum.requires_grad_(true) : ySum;
    }

    // the edge losses, each from its owner (a sum with zeros: exact), summed per sample in edge order
    std::vector<double> losses(static_cast<size_t>(B * L), 0.0);
    {
        std::vector<at::Tensor> mine;
        for (const auto& t : edgeLoss)
            if (t.defined()) mine.push_back(t.detach());
        if (!mine.empty()) {
            const at::Tensor host = at::cat(mine).to(at::kCPU, at::kDouble).contiguous();
            const double* h = host.data_ptr<double>();
            for (int64_t i = 0; i < L; ++i)
                for (int64_t e = own.begin[static_cast<size_t>(i)]; e < own.begin[static_cast<size_t>(i) + 1]; ++e)
                    losses[static_cast<size_t>(own.sample[static_cast<size_t>(e)] * L + i)] = h[e];
        }
    }
    at::Tensor lossT = at::from_blob(losses.data(), {B * L}, at::kDouble);
    allReduceCounted(comm, lossT, "sharded edge losses", out.bytesSent);
    double total = 0;
    for (int64_t b = 0; b < B; ++b) {
        const int64_t n = batch[static_cast<size_t>(b)].numEdges();
        double l = 0;
        for (int64_t i = 0; i < n; ++i)
            l += losses[static_cast<size_t>(b * L + i)];
        out.sampleNll.push_back(l);
        out.sampleLosses.push_back(l / static_cast<double>(n));
        total += out.sampleLosses.back();
        out.edges += n;
    }
    out.loss = total / static_cast<double>(B);
    if (!withGrad) return out;

    // backward, edge index by edge index in reverse: the owner differentiates its edges (their losses
    // and, through its positive's output, everything later), the input gradients are all-reduced, then
    // every rank differentiates the mix x_i into the earlier outputs, the positions and node_bias
    for (int64_t i = L - 1; i >= 0; --i) {
        const auto k = static_cast<size_t>(i);
        const int64_t e0 = own.begin[k], M = own.begin[k + 1] - e0;
        at::Tensor dx;
        if (M > 0) {
            at::Tensor objective = (edgeLoss[k] * scaleDev.narrow(0, e0, M)).sum();
            if (Y[k].grad().defined())
                objective = objective + (yPos[k] * Y[k].grad().index_select(0, sampleDev.narrow(0, e0, M))).sum();
            objective.backward();
            dx = xLeaf[k].grad().contiguous();
        } else {
            dx = at::zeros({B, d}, opt);
        }
        edgeLoss[k] = yPos[k] = at::Tensor(); // this edge index's graph is done
        allReduceCounted(comm, dx, "sharded backward (input gradients)", out.bytesSent);
        (xMix[k] * dx).sum().backward();
        xMix[k] = xLeaf[k] = at::Tensor();
    }

    // the gradient rows in slot order; the shared slot's summed over the ranks
    auto& g = out.grad;
    g.slots = own.touched;
    g.weights = Wt.grad().defined() ? Wt.grad() : at::zeros({U, d, d}, opt);
    g.biases = Bt.grad().defined() ? Bt.grad() : at::zeros({U, 1, d}, opt);
    const bool sharedHere = U > 0 && own.touched.front() == EdgeTable::kSharedSlot;
    at::Tensor shared = at::zeros({dd + d + 1}, opt);
    if (sharedHere) {
        shared.narrow(0, 0, dd).copy_(g.weights[0].reshape({dd}));
        shared.narrow(0, dd, d).copy_(g.biases[0].reshape({d}));
        shared.narrow(0, dd + d, 1).fill_(1);
    }
    allReduceCounted(comm, shared, "sharded shared-slot gradient", out.bytesSent);
    if (shared[dd + d].item<double>() > 0) {
        const at::Tensor w0 = shared.narrow(0, 0, dd).view({1, d, d}), b0 = shared.narrow(0, dd, d).view({1, 1, d});
        if (sharedHere) {
            g.weights[0].copy_(w0[0]);
            g.biases[0].copy_(b0[0]);
        } else {
            g.slots.insert(g.slots.begin(), EdgeTable::kSharedSlot);
            g.weights = at::cat({w0, g.weights});
            g.biases = at::cat({b0, g.biases});
        }
    }
    // node_bias: the start nodes' rows added on the host, in sample order (no atomics: the same bits on every rank)
    const at::Tensor nb = NBt.grad().defined() ? NBt.grad().to(at::kCPU) : at::zeros({B, 1, d}, opt.device(at::kCPU));
    g.nodeBias = at::zeros({V, 1, d}, nb.options()).index_add_(0, startsHost, nb).to(device);
    g.positions = Pt.grad().defined() ? Pt.grad() : at::zeros_like(m.positions);
    if (norm) out.gradNorm = shardedGradientNorm(g, comm, out.bytesSent);
    return out;
}

} // namespace shard_step

ShardedLossResult atenShardedLoss(const Model& shard, const ShardPlan& plan, int rank,
                                  std::span<const LossSample> batch, bool withGradients, Communicator* comm,
                                  DeviceLossWorkspace* workspace, int64_t maxGatherBytes) {
    shard.validate();
    if (shard.dtype() != at::kFloat && shard.dtype() != at::kDouble)
        throw InputError("the sharded loss needs float32 (or, on the CPU, float64) parameters");
    if (rank < 0 || rank >= plan.parts()) throw InputError("shard rank outside the plan");
    shard_step::checkShardSamples(shard, batch);
    return shard_step::atenShardStep(shard, plan, rank, batch, withGradients, true, comm, workspace, maxGatherBytes);
}

} // namespace brillm::training
