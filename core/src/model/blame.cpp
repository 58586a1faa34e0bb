// SPDX-License-Identifier: GPL-3.0-or-later
#include "brillm/model/blame.h"

#include "brillm/error.h"
#include "model/kernels.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <optional>
#include <string>

namespace brillm {

std::string toString(AblationMode mode) {
    return mode == AblationMode::Shared ? "shared" : "zero";
}

std::string toString(ContributorKind kind) {
    switch (kind) {
    case ContributorKind::PathEdge:
        return "path_edge";
    case ContributorKind::CandidateEdge:
        return "candidate_edge";
    case ContributorKind::Position:
        return "position";
    case ContributorKind::StartNode:
        return "start_node";
    }
    return "unknown";
}

namespace {

using Vec = std::vector<double>;
using Pair = std::pair<int32_t, int32_t>;

// The parameters the computation reads, converted to float64 on demand (from any storage).
class Params {
public:
    explicit Params(const Model& m) : m_model(m), m_d(m.dim()) {
        m_pe = detail::peTable<double>(m.config.maxPositions, m_d);
        m_positions = detail::readRange<double>(m.positions, 0, m.config.maxPositions);
    }
    int64_t dim() const { return m_d; }
    const double* pe(int64_t row) const { return m_pe->data() + row * m_d; }
    double position(int64_t j) const { return m_positions[static_cast<size_t>(j)]; }
    Vec matrix(int64_t slot) const { return readRange(m_model.weights, slot * m_d * m_d, m_d * m_d); }
    Vec bias(int64_t slot) const { return readRange(m_model.biases, slot * m_d, m_d); }
    Vec nodeBias(int32_t node) const { return readRange(m_model.nodeBias, static_cast<int64_t>(node) * m_d, m_d); }

private:
    static Vec readRange(const at::Tensor& t, int64_t offset, int64_t n) {
        return detail::readRange<double>(t, offset, n);
    }
    const Model& m_model;
    int64_t m_d;
    std::shared_ptr<const std::vector<double>> m_pe;
    Vec m_positions;
};

struct EdgeParams {
    Vec W; // [d, d]
    Vec b; // [d]
};

// z = x W + b + pe; y = GELU(z). Returns ||y||. (The float64 vector kernel.)
double edgeForward(const Vec& x, const EdgeParams& p, const double* pe, Vec& z, Vec& y) {
    const auto d = static_cast<int64_t>(x.size());
    z.resize(static_cast<size_t>(d));
    y.resize(static_cast<size_t>(d));
    double e = 0;
    simd::edgeForward(x.data(), pe, d, simd::EdgeSet{p.W.data(), p.b.data(), simd::Storage::F64, nullptr, 0, 1}, &e,
                      z.data(), y.data());
    return e;
}

// The forward pass of a query, in float64, with hooks for ablations. Rows are kept so that a
// leave-one-out can restart from the first step it changes.
class Forward {
public:
    Forward(const Model& model, const Params& params, const BlameQuery& q)
        : m_model(model), m_params(params), m_q(q), m_d(params.dim()), m_i(static_cast<int64_t>(q.path.size()) - 1) {
        m_dropped.assign(static_cast<size_t>(std::max<int64_t>(m_i, 0)), false);
    }

    int64_t steps() const { return m_i; }
    int64_t peRow(int64_t k) const { return m_q.convention == PositionConvention::Training ? k + 1 : k; }
    Pair pathPair(int64_t k) const { return {m_q.path[static_cast<size_t>(k)], m_q.path[static_cast<size_t>(k) + 1]}; }
    Pair candidatePair(int32_t c) const { return {m_q.path.back(), c}; }

    const EdgeParams& original(const Pair& p) {
        auto it = m_cache.find(p);
        if (it == m_cache.end()) {
            const int64_t slot = m_model.edges.slot(p.first, p.second);
            it = m_cache.emplace(p, EdgeParams{m_params.matrix(slot), m_params.bias(slot)}).first;
        }
        return it->second;
    }

    // Ablation state
    void setAblatedPair(std::optional<Pair> p, const EdgeParams* replacement) {
        m_ablated = p;
        m_replacement = replacement;
    }
    void setDropped(int64_t j, bool dropped) { m_dropped[static_cast<size_t>(j)] = dropped; }
    void setStartZero(bool zero) { m_startZero = zero; }

    const EdgeParams& paramsOf(const Pair& p) {
        if (m_ablated && *m_ablated == p) return *m_replacement;
        return original(p);
    }

    // Runs from step `from` (0 = the initial signal too), reusing the rows before it.
    //
    // The mixtures are kept as running sums with a running maximum (an online softmax):
    // S_k = sum_{j<k} exp(p_j - M_k) y_j, Z_k = sum_{j<k} exp(p_j - M_k), M_k = max_{j<k} p_j
    // over the positions not dropped, and x_k = S_k / Z_k. Each x_k costs O(d) instead of O(k d),
    // and a restart at step `from` needs only the sums up to it.
    void run(int64_t from) {
        const auto d = static_cast<size_t>(m_d);
        if (from == 0 || m_x.empty()) {
            m_x.assign(static_cast<size_t>(m_i + 1), Vec(d));
            m_z.assign(static_cast<size_t>(m_i), Vec(d));
            m_y.assign(static_cast<size_t>(m_i), Vec(d));
            m_sum.assign(static_cast<size_t>(m_i + 1), Vec(d, 0.0));
            m_norm.assign(static_cast<size_t>(m_i + 1), 0.0);
            m_max.assign(static_cast<size_t>(m_i + 1), -std::numeric_limits<double>::infinity());
            m_u.assign(d, 0.0);
            const Vec nb = m_startZero ? Vec(d, 0.0) : m_params.nodeBias(m_q.path[0]);
            const double* pe0 = m_params.pe(0);
            for (size_t c = 0; c < d; ++c) {
                m_u[c] = 1.0 / static_cast<double>(m_d) + nb[c] + pe0[c];
                m_x[0][c] = detail::geluT(m_u[c]);
            }
            from = 0;
        }
        for (int64_t k = std::max<int64_t>(from, 0); k <= m_i; ++k) {
            if (k > 0) accumulate(k);
            if (k < m_i)
                edgeForward(m_x[static_cast<size_t>(k)], paramsOf(pathPair(k)), m_params.pe(peRow(k)),
                            m_z[static_cast<size_t>(k)], m_y[static_cast<size_t>(k)]);
        }
    }

    // The mixing weight of position j in x_k of the last run (j < k).
    double weight(int64_t k, int64_t j) const {
        if (m_dropped[static_cast<size_t>(j)] || m_norm[static_cast<size_t>(k)] == 0) return 0;
        return std::exp(m_params.position(j) - m_max[static_cast<size_t>(k)]) / m_norm[static_cast<size_t>(k)];
    }

    double energy(int32_t c, Vec* z = nullptr, Vec* y = nullptr) {
        Vec zz, yy;
        const double e =
            edgeForward(m_x[static_cast<size_t>(m_i)], paramsOf(candidatePair(c)), m_params.pe(peRow(m_i)), zz, yy);
        if (z) *z = std::move(zz);
        if (y) *y = std::move(yy);
        return e;
    }
    double margin() { return energy(m_q.a) - energy(m_q.b); }

    const Vec& x(int64_t k) const { return m_x[static_cast<size_t>(k)]; }
    const Vec& y(int64_t k) const { return m_y[static_cast<size_t>(k)]; }
    const Vec& z(int64_t k) const { return m_z[static_cast<size_t>(k)]; }
    const Vec& u() const { return m_u; }

private:
    // S_k, Z_k, M_k from S_{k-1}, ... and y_{k-1}; then x_k.
    void accumulate(int64_t k) {
        const auto ks = static_cast<size_t>(k);
        Vec& S = m_sum[ks];
        S = m_sum[ks - 1];
        double Z = m_norm[ks - 1], M = m_max[ks - 1];
        if (!m_dropped[ks - 1]) {
            const double p = m_params.position(k - 1);
            if (p > M) {
                const double r = std::isfinite(M) ? std::exp(M - p) : 0.0;
                for (double& v : S)
                    v *= r;
                Z *= r;
                M = p;
            }
            const double w = std::exp(p - M);
            const Vec& y = m_y[ks - 1];
            for (size_t c = 0; c < S.size(); ++c)
                S[c] += w * y[c];
            Z += w;
        }
        m_norm[ks] = Z;
        m_max[ks] = M;
        Vec& x = m_x[ks];
        for (size_t c = 0; c < x.size(); ++c)
            x[c] = Z > 0 ? S[c] / Z : 0.0; // every position dropped: x = 0
    }

    const Model& m_model;
    const Params& m_params;
    const BlameQuery& m_q;
    int64_t m_d, m_i;
    std::map<Pair, EdgeParams> m_cache;
    std::optional<Pair> m_ablated;
    const EdgeParams* m_replacement = nullptr;
    std::vector<bool> m_dropped;
    bool m_startZero = false;
    Vec m_u;
    std::vector<Vec> m_x, m_z, m_y;
    std::vector<Vec> m_sum; // S_k
    Vec m_norm, m_max;      // Z_k, M_k
};

struct Gradients {
    std::map<Pair, EdgeParams> edges; // d m / d (W, b) of each pair, summed over its occurrences
    Vec positions;                    // d m / d positions[j], j < i
    Vec nodeBias;                     // d m / d node_bias[t_0]
    std::vector<Vec> dx;              // d m / d x_k, k = 0..i
};

// The backward pass of z = x W + b for the pair p: its gradient (W, b) gets x^T dz and dz, and
// the return value is dL/dx = dz W^T.
Vec backThroughEdge(Gradients& g, const Pair& p, const Vec& x, const Vec& dz, const Vec& W, int64_t d) {
    auto& e = g.edges[p];
    if (e.W.empty()) {
        e.W.assign(static_cast<size_t>(d * d), 0.0);
        e.b.assign(static_cast<size_t>(d), 0.0);
    }
    Vec acc(static_cast<size_t>(d * simd::kAccStride), 0.0), dx(static_cast<size_t>(d), 0.0);
    simd::linearBackward(x.data(), W.data(), dz.data(), e.W.data(), e.b.data(), acc.data(), d);
    simd::reduceRows(acc.data(), dx.data(), d);
    return dx;
}

// Backward pass of the margin through the unablated forward pass.
Gradients marginGradients(Forward& f, const BlameQuery& q, int64_t d) {
    const int64_t i = f.steps();
    Gradients g;
    g.positions.assign(static_cast<size_t>(i), 0.0);
    g.dx.assign(static_cast<size_t>(i + 1), Vec(static_cast<size_t>(d), 0.0));
    for (const auto& [c, sign] : {std::pair{q.a, 1.0}, std::pair{q.b, -1.0}}) {
        Vec z, y;
        const double e = f.energy(c, &z, &y);
        if (e == 0) continue; // the norm's gradient at 0 is taken as 0
        Vec dz(static_cast<size_t>(d));
        for (int64_t k = 0; k < d; ++k)
            dz[static_cast<size_t>(k)] = sign * y[static_cast<size_t>(k)] / e;
        simd::geluBackward(z.data(), dz.data(), d);
        const Pair p = f.candidatePair(c);
        const Vec dx = backThroughEdge(g, p, f.x(i), dz, f.original(p).W, d);
        for (int64_t k = 0; k < d; ++k)
            g.dx[static_cast<size_t>(i)][static_cast<size_t>(k)] += dx[static_cast<size_t>(k)];
    }
    std::vector<Vec> dy(static_cast<size_t>(i), Vec(static_cast<size_t>(d), 0.0));
    for (int64_t k = i; k >= 1; --k) {
        // x_k = sum_j a_j y_j, a = softmax(positions[0:k])
        Vec a(static_cast<size_t>(k));
        for (int64_t j = 0; j < k; ++j)
            a[static_cast<size_t>(j)] = f.weight(k, j);
        const Vec& dxk = g.dx[static_cast<size_t>(k)];
        Vec da(static_cast<size_t>(k));
        double dot = 0;
        for (int64_t j = 0; j < k; ++j) {
            const Vec& yj = f.y(j);
            double s = 0;
            for (int64_t c = 0; c < d; ++c) {
                s += dxk[static_cast<size_t>(c)] * yj[static_cast<size_t>(c)];
                dy[static_cast<size_t>(j)][static_cast<size_t>(c)] +=
                    a[static_cast<size_t>(j)] * dxk[static_cast<size_t>(c)];
            }
            da[static_cast<size_t>(j)] = s;
            dot += a[static_cast<size_t>(j)] * s;
        }
        for (int64_t j = 0; j < k; ++j)
            g.positions[static_cast<size_t>(j)] += a[static_cast<size_t>(j)] * (da[static_cast<size_t>(j)] - dot);
        // dy_{k-1} is complete: every x after it has been handled
        const int64_t e = k - 1;
        Vec dz = dy[static_cast<size_t>(e)];
        simd::geluBackward(f.z(e).data(), dz.data(), d);
        const Pair p = f.pathPair(e);
        g.dx[static_cast<size_t>(e)] = backThroughEdge(g, p, f.x(e), dz, f.original(p).W, d);
    }
    g.nodeBias.assign(static_cast<size_t>(d), 0.0);
    for (int64_t c = 0; c < d; ++c)
        g.nodeBias[static_cast<size_t>(c)] =
            g.dx[0][static_cast<size_t>(c)] * detail::geluGrad(f.u()[static_cast<size_t>(c)]);
    return g;
}

double dotDiff(const EdgeParams& grad, const EdgeParams& to, const EdgeParams& from) {
    double s = 0;
    for (size_t k = 0; k < grad.W.size(); ++k)
        s += grad.W[k] * (to.W[k] - from.W[k]);
    for (size_t k = 0; k < grad.b.size(); ++k)
        s += grad.b[k] * (to.b[k] - from.b[k]);
    return s;
}

double norm(const EdgeParams& g) {
    double s = 0;
    for (double v : g.W)
        s += v * v;
    for (double v : g.b)
        s += v * v;
    return std::sqrt(s);
}

void checkQuery(const Model& model, const BlameQuery& q) {
    if (q.path.empty()) throw InputError("blame needs a path of at least one node");
    const int64_t V = model.vocabSize();
    const auto checkId = [&](int32_t t, const char* what) {
        if (t < 0 || t >= V)
            throw InputError(std::string(what) + " " + std::to_string(t) + " is not a node id (the vocabulary has " +
                             std::to_string(V) + " nodes)");
    };
    for (int32_t t : q.path)
        checkId(t, "path node");
    checkId(q.a, "candidate A");
    checkId(q.b, "candidate B");
    if (q.a == q.b) throw InputError("blame compares two different candidates; both are " + std::to_string(q.a));
    const auto i = static_cast<int64_t>(q.path.size()) - 1;
    const int64_t peRow = q.convention == PositionConvention::Training ? i + 1 : i;
    if (i > model.maxEdges() - 1 || peRow >= model.config.maxPositions)
        throw InputError("a path of " + std::to_string(q.path.size()) +
                         " nodes cannot be extended: the position table has " +
                         std::to_string(model.config.maxPositions) + " entries");
}

} // namespace

double blameMargin(const Model& model, const BlameQuery& query) {
    model.validate();
    checkQuery(model, query);
    Params params(model);
    Forward f(model, params, query);
    f.run(0);
    return f.margin();
}

BlameReport blame(const Model& model, const BlameQuery& q) {
    model.validate();
    checkQuery(model, q);
    const int64_t d = model.dim();
    Params params(model);
    Forward f(model, params, q);
    f.run(0);

    BlameReport r;
    r.query = q;
    r.step = f.steps();
    r.energyA = f.energy(q.a);
    r.energyB = f.energy(q.b);
    r.margin = r.energyA - r.energyB;
    {
        SignalPath path(model, q.convention);
        path.start(q.path[0]);
        for (size_t k = 1; k < q.path.size(); ++k)
            path.advance(q.path[k]);
        const auto scores = path.scoreNext(ScoreOptions{q.excludeSelfLoop});
        r.rankA = scores.rank(q.a);
        r.rankB = scores.rank(q.b);
    }
    const Gradients g = marginGradients(f, q, d);
    const int64_t i = f.steps();

    // The edges: every distinct pair on the path and the two candidate pairs.
    struct EdgeUse {
        int64_t first = -1;      // first path occurrence, or i for a candidate-only pair
        int64_t occurrences = 0; // on the path
    };
    std::map<Pair, EdgeUse> uses;
    for (int64_t k = 0; k < i; ++k) {
        auto& u = uses[f.pathPair(k)];
        if (u.first < 0) u.first = k;
        ++u.occurrences;
    }
    for (int32_t c : {q.a, q.b}) {
        auto& u = uses[f.candidatePair(c)];
        if (u.first < 0) u.first = i;
    }
    const EdgeParams shared{params.matrix(0), params.bias(0)};
    const EdgeParams zero{Vec(static_cast<size_t>(d * d), 0.0), Vec(static_cast<size_t>(d), 0.0)};

    for (const auto& [pair, use] : uses) {
        Contributor c;
        c.kind = use.occurrences > 0 ? ContributorKind::PathEdge : ContributorKind::CandidateEdge;
        c.edgeIndex = use.first;
        c.occurrences = std::max<int64_t>(use.occurrences, 1);
        c.source = pair.first;
        c.target = pair.second;
        c.slot = model.edges.slot(pair.first, pair.second);
        const EdgeParams& orig = f.original(pair);
        const auto gi = g.edges.find(pair);
        const EdgeParams* replacement = q.mode == AblationMode::Shared ? &shared : &zero;
        c.applicable = !(q.mode == AblationMode::Shared && c.slot == EdgeTable::kSharedSlot);
        if (gi != g.edges.end()) {
            c.gradientNorm = norm(gi->second);
            if (c.applicable) c.gradientEstimate = -dotDiff(gi->second, *replacement, orig);
        }
        if (c.applicable) {
            f.setAblatedPair(pair, replacement);
            f.run(use.first);
            c.marginAfter = f.margin();
            f.setAblatedPair(std::nullopt, nullptr);
            f.run(use.first);
        } else {
            c.marginAfter = r.margin;
        }
        c.effect = r.margin - c.marginAfter;
        r.contributors.push_back(c);
    }

    // Positions: y_j dropped from every later mixture.
    for (int64_t j = 0; j < i; ++j) {
        Contributor c;
        c.kind = ContributorKind::Position;
        c.edgeIndex = j;
        c.source = q.path[static_cast<size_t>(j)];
        c.target = q.path[static_cast<size_t>(j) + 1];
        c.slot = model.edges.slot(c.source, c.target);
        c.gradientNorm = std::abs(g.positions[static_cast<size_t>(j)]);
        // first order: sum_k dm/dx_k . dx_k, where dropping y_j moves x_k to the renormalised rest
        double est = 0;
        for (int64_t k = j + 1; k <= i; ++k) {
            const double a = f.weight(k, j);
            const Vec& xk = f.x(k);
            const Vec& yj = f.y(j);
            const Vec& dxk = g.dx[static_cast<size_t>(k)];
            for (int64_t e = 0; e < d; ++e) {
                const auto se = static_cast<size_t>(e);
                const double delta = a < 1 ? a * (xk[se] - yj[se]) / (1 - a) : -xk[se];
                est += dxk[se] * delta;
            }
        }
        c.gradientEstimate = -est;
        f.setDropped(j, true);
        f.run(j + 1);
        c.marginAfter = f.margin();
        f.setDropped(j, false);
        f.run(j + 1);
        c.effect = r.margin - c.marginAfter;
        r.contributors.push_back(c);
    }

    // The start node's bias, zeroed.
    {
        Contributor c;
        c.kind = ContributorKind::StartNode;
        c.edgeIndex = 0;
        c.source = q.path[0];
        double gn = 0, est = 0;
        const Vec nb = params.nodeBias(q.path[0]);
        for (int64_t e = 0; e < d; ++e) {
            gn += g.nodeBias[static_cast<size_t>(e)] * g.nodeBias[static_cast<size_t>(e)];
            est += g.nodeBias[static_cast<size_t>(e)] * nb[static_cast<size_t>(e)];
        }
        c.gradientNorm = std::sqrt(gn);
        c.gradientEstimate = est; // -grad . (0 - nb)
        f.setStartZero(true);
        f.run(0);
        c.marginAfter = f.margin();
        f.setStartZero(false);
        c.effect = r.margin - c.marginAfter;
        r.contributors.push_back(c);
    }

    std::stable_sort(r.contributors.begin(), r.contributors.end(), [](const Contributor& x, const Contributor& y) {
        const double ax = std::abs(x.effect), ay = std::abs(y.effect);
        if (ax != ay) return ax > ay;
        if (x.kind != y.kind) return x.kind < y.kind;
        return x.edgeIndex < y.edgeIndex;
    });
    return r;
}

ForcedPath forcePath(const Model& model, std::span<const int32_t> prompt, std::span<const int32_t> expected,
                     PositionConvention convention, bool excludeSelfLoop, std::span<const int32_t> banned) {
    if (prompt.empty()) throw InputError("the prompt is empty: error tracing needs at least one prompt token");
    std::vector<int32_t> nodes(prompt.begin(), prompt.end());
    nodes.insert(nodes.end(), expected.begin(), expected.end());
    const int64_t V = model.vocabSize();
    for (int32_t t : nodes)
        if (t < 0 || t >= V)
            throw InputError("node id " + std::to_string(t) + " is not in the vocabulary (" + std::to_string(V) +
                             " nodes)");
    if (static_cast<int64_t>(nodes.size()) - 1 > model.maxEdges())
        throw InputError("a path of " + std::to_string(nodes.size()) + " nodes is longer than the position table of " +
                         std::to_string(model.config.maxPositions) + " entries allows");
    const auto isBanned = [&](int32_t t) { return std::find(banned.begin(), banned.end(), t) != banned.end(); };
    SignalPath path(model, convention);
    path.start(nodes[0]);
    ForcedPath out;
    const auto promptEdges = static_cast<int64_t>(prompt.size()) - 1;
    for (size_t k = 1; k < nodes.size(); ++k) {
        const auto scores = path.scoreNext(ScoreOptions{excludeSelfLoop});
        ForcedStep f;
        f.index = path.numEdges();
        f.inPrompt = f.index < promptEdges;
        f.source = path.current();
        f.expected = nodes[k];
        auto best = scores.best();
        if (isBanned(best.target)) {
            best.target = -1;
            for (const auto& [t, e] : scores.top(0))
                if (!isBanned(t)) {
                    best.target = t;
                    best.energy = e;
                    break;
                }
        }
        f.winner = best.target;
        f.winnerEnergy = best.target >= 0 ? best.energy : std::numeric_limits<double>::quiet_NaN();
        f.expectedRank = scores.rank(f.expected);
        f.expectedProbability = scores.probability(f.expected);
        f.expectedEnergy = scores.rawEnergy(f.expected);
        f.wrong = f.winner != f.expected;
        f.margin = f.wrong ? f.winnerEnergy - f.expectedEnergy : 0.0;
        if (f.wrong && out.firstWrongAny < 0) out.firstWrongAny = f.index;
        if (f.wrong && !f.inPrompt && out.firstWrong < 0) out.firstWrong = f.index;
        out.steps.push_back(f);
        path.advance(nodes[k]);
    }
    return out;
}

} // namespace brillm
