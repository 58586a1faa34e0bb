// SPDX-License-Identifier: GPL-3.0-or-later
#include "brillm/model/signal.h"

#include "brillm/error.h"
#include "brillm/model/device_edges.h"
#include "model/kernels.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <mutex>
#include <string>

namespace brillm {

std::vector<double> positionalEncoding(int64_t rows, int64_t dim) {
    if (rows <= 0 || dim <= 0 || dim % 2 != 0)
        throw ShapeError("positional encoding needs rows > 0 and an even dimension, got dim " + std::to_string(dim));
    std::vector<double> pe(static_cast<size_t>(rows * dim));
    for (int64_t p = 0; p < rows; ++p)
        for (int64_t j = 0; j < dim / 2; ++j) {
            const double f = std::pow(10000.0, static_cast<double>(2 * j) / static_cast<double>(dim));
            pe[static_cast<size_t>(p * dim + 2 * j)] = std::sin(static_cast<double>(p) * f);
            pe[static_cast<size_t>(p * dim + 2 * j + 1)] = std::cos(static_cast<double>(p) * f);
        }
    return pe;
}

double gelu(double z) {
    return 0.5 * z * (1.0 + std::erf(z * M_SQRT1_2));
}

using detail::geluT;
using detail::peTable;

// ---- CandidateScores --------------------------------------------------------------------

int64_t CandidateScores::numCandidates() const {
    int64_t n = numShared;
    for (int32_t t : ownTargets)
        if (t != excluded) ++n;
    return n;
}

bool CandidateScores::isOwn(int32_t target) const {
    return std::binary_search(ownTargets.begin(), ownTargets.end(), target);
}

bool CandidateScores::isCandidate(int32_t target) const {
    return target >= 0 && target < vocabSize && target != excluded;
}

double CandidateScores::rawEnergy(int32_t target) const {
    if (target < 0 || target >= vocabSize)
        throw InputError("unknown node id " + std::to_string(target) + " (vocabulary has " + std::to_string(vocabSize) +
                         " nodes)");
    const auto it = std::lower_bound(ownTargets.begin(), ownTargets.end(), target);
    if (it != ownTargets.end() && *it == target) return ownEnergies[static_cast<size_t>(it - ownTargets.begin())];
    return sharedEnergy;
}

double CandidateScores::energy(int32_t target) const {
    const double e = rawEnergy(target);
    return isCandidate(target) ? e : std::numeric_limits<double>::quiet_NaN();
}

double CandidateScores::logProbability(int32_t target) const {
    if (!isCandidate(target)) return -std::numeric_limits<double>::infinity();
    return rawEnergy(target) - logSumExp;
}

double CandidateScores::probability(int32_t target) const {
    return std::exp(logProbability(target));
}

int64_t CandidateScores::rank(int32_t target) const {
    if (!isCandidate(target)) return 0;
    const double et = rawEnergy(target);
    int64_t before = 0;
    for (size_t k = 0; k < ownTargets.size(); ++k) {
        const int32_t t = ownTargets[k];
        if (t == excluded || t == target) continue;
        const double e = ownEnergies[k];
        if (e > et || (e == et && t < target)) ++before;
    }
    if (numShared > 0) {
        if (sharedEnergy > et) {
            before += numShared - (isOwn(target) ? 0 : 1);
        } else if (sharedEnergy == et) {
            // shared candidates with an id below target: ids below target minus own ones and the excluded one
            const auto ownBelow = std::lower_bound(ownTargets.begin(), ownTargets.end(), target) - ownTargets.begin();
            int64_t sharedBelow = target - ownBelow;
            if (excluded >= 0 && excluded < target && !isOwn(excluded)) --sharedBelow;
            before += sharedBelow;
        }
    }
    return before + 1;
}

CandidateScores::Best CandidateScores::best() const {
    Best b;
    b.energy = -std::numeric_limits<double>::infinity();
    b.ties = 0;
    auto consider = [&](int32_t t, double e, int64_t count) {
        if (e > b.energy) {
            b = {t, e, count};
        } else if (e == b.energy) {
            b.ties += count;
            if (t < b.target) b.target = t;
        }
    };
    for (size_t k = 0; k < ownTargets.size(); ++k)
        if (ownTargets[k] != excluded) consider(ownTargets[k], ownEnergies[k], 1);
    if (numShared > 0) {
        // the lowest id on the shared slot: the first id that is neither own nor excluded
        int32_t t = 0;
        size_t k = 0;
        while (true) {
            while (k < ownTargets.size() && ownTargets[k] < t)
                ++k;
            if ((k < ownTargets.size() && ownTargets[k] == t) || t == excluded) {
                ++t;
                continue;
            }
            break;
        }
        consider(t, sharedEnergy, numShared);
    }
    return b;
}

std::vector<std::pair<int32_t, double>> CandidateScores::top(int64_t k) const {
    std::vector<std::pair<int32_t, double>> all;
    all.reserve(static_cast<size_t>(vocabSize));
    const auto dense = denseEnergies();
    for (int32_t t = 0; t < vocabSize; ++t)
        if (t != excluded) all.emplace_back(t, dense[static_cast<size_t>(t)]);
    const auto cmp = [](const auto& a, const auto& b) {
        return a.second > b.second || (a.second == b.second && a.first < b.first);
    };
    if (k > 0 && k < static_cast<int64_t>(all.size())) {
        std::partial_sort(all.begin(), all.begin() + k, all.end(), cmp);
        all.resize(static_cast<size_t>(k));
    } else {
        std::sort(all.begin(), all.end(), cmp);
    }
    return all;
}

std::vector<double> CandidateScores::denseEnergies() const {
    std::vector<double> e(static_cast<size_t>(vocabSize), sharedEnergy);
    for (size_t k = 0; k < ownTargets.size(); ++k)
        e[static_cast<size_t>(ownTargets[k])] = ownEnergies[k];
    if (excluded >= 0) e[static_cast<size_t>(excluded)] = std::numeric_limits<double>::quiet_NaN();
    return e;
}

std::vector<double> CandidateScores::denseProbabilities() const {
    auto p = denseEnergies();
    for (double& v : p)
        v = std::isnan(v) ? 0.0 : std::exp(v - logSumExp);
    return p;
}

// ---- SignalPath --------------------------------------------------------------------------

SignalPath::SignalPath(const Model& model, PositionConvention convention)
    : m_model(&model), m_convention(convention), m_dim(model.config.dim) {
    model.validate();
    m_double = model.dtype() == at::kDouble;
    if (m_double)
        m_peD = peTable<double>(model.config.maxPositions, m_dim);
    else
        m_peF = peTable<float>(model.config.maxPositions, m_dim);
}

template <> const std::vector<float>& SignalPath::rows<float>() const {
    return m_rowsF;
}
template <> const std::vector<double>& SignalPath::rows<double>() const {
    return m_rowsD;
}
template <> std::vector<float>& SignalPath::rows<float>() {
    return m_rowsF;
}
template <> std::vector<double>& SignalPath::rows<double>() {
    return m_rowsD;
}

int64_t SignalPath::peIndex(int64_t edgeIndex) const {
    return m_convention == PositionConvention::Training ? edgeIndex + 1 : edgeIndex;
}

bool SignalPath::canAdvance() const {
    return started() && numEdges() < m_model->maxEdges() && peIndex(numEdges()) < m_model->config.maxPositions;
}

void SignalPath::requireStarted() const {
    if (!started()) throw InputError("the path has not been started (empty prompt)");
}

template <class T> void SignalPath::initial(int32_t t0) {
    const int64_t d = m_dim;
    const auto nbRow = detail::readRange<T>(m_model->nodeBias, static_cast<int64_t>(t0) * d, d);
    const T* nb = nbRow.data();
    auto& r = rows<T>();
    r.assign(static_cast<size_t>(d), T(0));
    const T* pe0 = nullptr;
    if constexpr (std::is_same_v<T, double>)
        pe0 = m_peD->data();
    else
        pe0 = m_peF->data();
    const T invD = T(1) / static_cast<T>(d);
    for (int64_t j = 0; j < d; ++j)
        r[static_cast<size_t>(j)] = geluT(invD + nb[j] + pe0[j]);
}

void SignalPath::start(int32_t t0) {
    if (t0 < 0 || t0 >= m_model->vocabSize())
        throw InputError("unknown node id " + std::to_string(t0) + " (vocabulary has " +
                         std::to_string(m_model->vocabSize()) + " nodes)");
    m_nodes.assign(1, t0);
    m_rowsF.clear();
    m_rowsD.clear();
    m_inputEdges = -1;
    if (m_double)
        initial<double>(t0);
    else
        initial<float>(t0);
}

template <class T> void SignalPath::computeInput(T* x) const {
    const int64_t d = m_dim, i = numEdges();
    // scoreNext and then advance need the same x: computed once per edge
    auto& cache = [this]() -> std::vector<T>& {
        if constexpr (std::is_same_v<T, double>)
            return m_inputD;
        else
            return m_inputF;
    }();
    if (m_inputEdges == i && static_cast<int64_t>(cache.size()) == d) {
        std::copy(cache.begin(), cache.end(), x);
        return;
    }
    computeInputUncached<T>(x);
    cache.assign(x, x + d);
    m_inputEdges = i;
}

template <class T> void SignalPath::computeInputUncached(T* x) const {
    const int64_t d = m_dim, i = numEdges();
    const auto& r = rows<T>();
    if (i == 0) {
        std::copy(r.begin(), r.begin() + d, x);
        return;
    }
    // softmax over positions[0:i], in T as the reference does
    std::vector<T> a(static_cast<size_t>(i));
    detail::readRange<T>(m_model->positions, 0, i, a.data());
    T mx = a[0];
    for (int64_t j = 1; j < i; ++j)
        mx = std::max(mx, a[static_cast<size_t>(j)]);
    T sum = 0;
    for (int64_t j = 0; j < i; ++j)
        sum += (a[static_cast<size_t>(j)] = std::exp(a[static_cast<size_t>(j)] - mx));
    std::fill(x, x + d, T(0));
    for (int64_t j = 0; j < i; ++j) {
        const T w = a[static_cast<size_t>(j)] / sum;
        const T* y = r.data() + (j + 1) * d;
        for (int64_t c = 0; c < d; ++c)
            x[c] += w * y[c];
    }
}

std::vector<double> SignalPath::nextInput() const {
    requireStarted();
    if (m_double) {
        std::vector<double> x(static_cast<size_t>(m_dim));
        computeInput<double>(x.data());
        return x;
    }
    std::vector<float> x(static_cast<size_t>(m_dim));
    computeInput<float>(x.data());
    return {x.begin(), x.end()};
}

std::vector<double> SignalPath::nextMixWeights() const {
    requireStarted();
    const int64_t i = numEdges();
    std::vector<double> a(static_cast<size_t>(i));
    if (i == 0) return a;
    auto softmaxInto = [&](auto zero) {
        using T = decltype(zero);
        const auto p = detail::readRange<T>(m_model->positions, 0, i);
        T mx = p[0];
        for (int64_t j = 1; j < i; ++j)
            mx = std::max(mx, p[static_cast<size_t>(j)]);
        T sum = 0;
        std::vector<T> e(static_cast<size_t>(i));
        for (int64_t j = 0; j < i; ++j)
            sum += (e[static_cast<size_t>(j)] = std::exp(p[static_cast<size_t>(j)] - mx));
        for (int64_t j = 0; j < i; ++j)
            a[static_cast<size_t>(j)] = static_cast<double>(e[static_cast<size_t>(j)] / sum);
    };
    if (m_double)
        softmaxInto(0.0);
    else
        softmaxInto(0.0f);
    return a;
}

template <class T> CandidateScores SignalPath::score(const ScoreOptions& options) const {
    const int64_t d = m_dim, i = numEdges();
    const int32_t src = current();
    const int64_t pi = peIndex(i);
    std::vector<T> x(static_cast<size_t>(d));
    computeInput<T>(x.data());
    const T* pe = nullptr;
    if constexpr (std::is_same_v<T, double>)
        pe = m_peD->data() + pi * d;
    else
        pe = m_peF->data() + pi * d;
    const EdgeTable& edges = m_model->edges;
    const int64_t V = m_model->vocabSize();

    CandidateScores s;
    s.vocabSize = V;
    s.source = src;
    s.edgeIndex = i;
    s.peIndex = pi;
    s.excluded = options.excludeSelfLoop ? src : -1;
    const auto own = edges.ownTargets(src);
    s.ownTargets.assign(own.begin(), own.end());
    s.ownEnergies.resize(own.size());
    // the own targets' slots are consecutive: one kernel call over all of them
    std::vector<T> e(own.size());
    s.numShared = V - static_cast<int64_t>(own.size());
    if (s.excluded >= 0 && !std::binary_search(own.begin(), own.end(), s.excluded)) --s.numShared;
    T shared = 0;
    if constexpr (std::is_same_v<T, float>) {
        if (options.device) {
            if (!options.device->fits(*m_model))
                throw InputError("the device copy of the edges (" + std::to_string(options.device->numSlots()) +
                                 " slots, d = " + std::to_string(options.device->dim()) +
                                 ") was made from another model");
            options.device->energies(x.data(), pe, edges.firstSlot(src), static_cast<int64_t>(own.size()), e.data(),
                                     s.numShared > 0 ? &shared : nullptr);
        }
    } else {
        if (options.device) throw InputError("a float64 model is scored on the CPU only (the checking mode)");
    }
    if (!options.device) {
        simd::edgeForward(x.data(), pe, d,
                          detail::edgeSet(*m_model, edges.firstSlot(src), static_cast<int64_t>(own.size())), e.data(),
                          nullptr, nullptr);
        if (s.numShared > 0)
            simd::edgeForward(x.data(), pe, d, detail::edgeSet(*m_model, EdgeTable::kSharedSlot, 1), &shared, nullptr,
                              nullptr);
    }
    std::copy(e.begin(), e.end(), s.ownEnergies.begin());
    if (s.numShared > 0) s.sharedEnergy = static_cast<double>(shared);

    // log-sum-exp over the candidates, the shared group counted numShared times
    double mx = -std::numeric_limits<double>::infinity();
    for (size_t k = 0; k < own.size(); ++k)
        if (own[k] != s.excluded) mx = std::max(mx, s.ownEnergies[k]);
    if (s.numShared > 0) mx = std::max(mx, s.sharedEnergy);
    double sum = 0;
    if (mx != -std::numeric_limits<double>::infinity()) {
        // the own targets' terms in the vector kernel (float64), the excluded target's dropped
        const auto n = static_cast<int64_t>(own.size());
        if (const auto it = std::lower_bound(own.begin(), own.end(), s.excluded);
            it != own.end() && *it == s.excluded) {
            std::vector<double> terms(s.ownEnergies);
            terms[static_cast<size_t>(it - own.begin())] = -std::numeric_limits<double>::infinity();
            sum = simd::sumExpShifted(terms.data(), n, mx);
        } else {
            sum = simd::sumExpShifted(s.ownEnergies.data(), n, mx);
        }
    }
    if (s.numShared > 0) sum += static_cast<double>(s.numShared) * std::exp(s.sharedEnergy - mx);
    s.maxEnergy = mx;
    s.logSumExp = mx + std::log(sum);
    return s;
}

CandidateScores SignalPath::scoreNext(const ScoreOptions& options) const {
    requireStarted();
    if (!canAdvance())
        throw InputError("the path has " + std::to_string(numEdges()) + " edges, the most the position table of " +
                         std::to_string(m_model->config.maxPositions) + " entries allows");
    return m_double ? score<double>(options) : score<float>(options);
}

template <class T> double SignalPath::step(int32_t target) {
    const int64_t d = m_dim, i = numEdges();
    const int64_t slot = m_model->edges.slot(current(), target);
    std::vector<T> x(static_cast<size_t>(d)), y(static_cast<size_t>(d));
    computeInput<T>(x.data());
    const T* pe = nullptr;
    if constexpr (std::is_same_v<T, double>)
        pe = m_peD->data() + peIndex(i) * d;
    else
        pe = m_peF->data() + peIndex(i) * d;
    T e = 0;
    simd::edgeForward(x.data(), pe, d, detail::edgeSet(*m_model, slot, 1), &e, nullptr, y.data());
    auto& r = rows<T>();
    r.insert(r.end(), y.begin(), y.end());
    m_nodes.push_back(target);
    return static_cast<double>(e);
}

double SignalPath::advance(int32_t target) {
    requireStarted();
    if (target < 0 || target >= m_model->vocabSize())
        throw InputError("unknown node id " + std::to_string(target) + " (vocabulary has " +
                         std::to_string(m_model->vocabSize()) + " nodes)");
    if (!canAdvance())
        throw InputError("a path can have at most " + std::to_string(m_model->maxEdges()) +
                         " edges (the position table has " + std::to_string(m_model->config.maxPositions) +
                         " entries)");
    return m_double ? step<double>(target) : step<float>(target);
}

std::vector<double> SignalPath::edgeSignal(int64_t edgeIndex) const {
    requireStarted();
    if (edgeIndex < 0 || edgeIndex >= numEdges())
        throw InputError("edge " + std::to_string(edgeIndex) + " is not on the path (" + std::to_string(numEdges()) +
                         " edges)");
    const auto b = static_cast<size_t>((edgeIndex + 1) * m_dim), e = b + static_cast<size_t>(m_dim);
    if (m_double)
        return {m_rowsD.begin() + static_cast<std::ptrdiff_t>(b), m_rowsD.begin() + static_cast<std::ptrdiff_t>(e)};
    return {m_rowsF.begin() + static_cast<std::ptrdiff_t>(b), m_rowsF.begin() + static_cast<std::ptrdiff_t>(e)};
}

std::vector<double> SignalPath::initialSignal() const {
    requireStarted();
    if (m_double) return {m_rowsD.begin(), m_rowsD.begin() + m_dim};
    return {m_rowsF.begin(), m_rowsF.begin() + m_dim};
}

void SignalPath::truncate(int64_t edges) {
    requireStarted();
    if (edges < 0 || edges > numEdges())
        throw InputError("cannot truncate a path of " + std::to_string(numEdges()) + " edges to " +
                         std::to_string(edges));
    m_nodes.resize(static_cast<size_t>(edges + 1));
    m_inputEdges = -1;
    const auto n = static_cast<size_t>((edges + 1) * m_dim);
    if (m_double)
        m_rowsD.resize(n);
    else
        m_rowsF.resize(n);
}

} // namespace brillm
