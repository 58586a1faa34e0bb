// SPDX-License-Identifier: GPL-3.0-or-later
#include "brillm/training/model_init.h"

#include "brillm/error.h"
#include "brillm/model/corpus_eval.h"
#include "brillm/model/signal.h"
#include "brillm/training/shard.h"
#include "brillm/training/shard_loss.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <random>
#include <unordered_map>

namespace brillm::training {

BigramDistribution smoothedBigrams(const BigramTable& counts, const EdgeTable& edges) {
    const int64_t V = edges.vocabSize();
    if (counts.vocabSize() != V)
        throw InputError("the bigram counts have " + std::to_string(counts.vocabSize()) + " nodes, the edge table " +
                         std::to_string(V));
    std::vector<double> cont(static_cast<size_t>(V), 0.0);
    double n1 = 0, n2 = 0, types = 0;
    for (int32_t s = 0; s < V; ++s)
        for (const uint64_t c : counts.counts(s)) {
            n1 += c == 1;
            n2 += c == 2;
        }
    for (int32_t s = 0; s < V; ++s)
        for (const int32_t t : counts.targets(s)) {
            cont[static_cast<size_t>(t)] += 1;
            types += 1;
        }
    const double D = n1 + 2 * n2 > 0 && n1 > 0 ? n1 / (n1 + 2 * n2) : 0.5;
    for (auto& c : cont)
        c = (c + 1) / (types + static_cast<double>(V));

    BigramDistribution out;
    out.ownProbability.resize(static_cast<size_t>(edges.numOwn()));
    out.sharedMass.resize(static_cast<size_t>(V));
    for (int32_t s = 0; s < V; ++s) {
        const auto targets = counts.targets(s);
        const auto cs = counts.counts(s);
        double total = 0;
        for (const uint64_t c : cs)
            total += static_cast<double>(c);
        const double backoff = total > 0 ? D * static_cast<double>(targets.size()) / total : 1.0;
        const auto own = edges.ownTargets(s);
        double ownMass = 0;
        size_t k = 0; // merge the sorted own targets with the sorted counted ones
        for (size_t o = 0; o < own.size(); ++o) {
            while (k < targets.size() && targets[k] < own[o])
                ++k;
            const double c = k < targets.size() && targets[k] == own[o] ? static_cast<double>(cs[k]) : 0.0;
            const double p =
                (total > 0 ? std::max(c - D, 0.0) / total : 0.0) + backoff * cont[static_cast<size_t>(own[o])];
            out.ownProbability[static_cast<size_t>(edges.firstSlot(s) - 1) + o] = p;
            ownMass += p;
        }
        out.sharedMass[static_cast<size_t>(s)] = std::max(1.0 - ownMass, 1e-12);
    }
    return out;
}

TrigramCounts countTrigrams(const std::vector<std::vector<int32_t>>& windows, int64_t vocabSize) {
    const auto V = static_cast<uint64_t>(vocabSize);
    std::unordered_map<uint64_t, uint32_t> map;
    TrigramCounts out;
    out.windowStarts.assign(static_cast<size_t>(vocabSize), 0);
    for (const auto& w : windows) {
        if (w.size() < 2) continue;
        ++out.windowStarts[static_cast<size_t>(w[0])];
        for (size_t i = 2; i < w.size(); ++i)
            ++map[(static_cast<uint64_t>(w[i - 2]) * V + static_cast<uint64_t>(w[i - 1])) * V +
                  static_cast<uint64_t>(w[i])];
    }
    std::vector<std::pair<uint64_t, uint32_t>> all(map.begin(), map.end());
    std::sort(all.begin(), all.end());
    out.keys.reserve(all.size());
    out.counts.reserve(all.size());
    for (const auto& [k, c] : all) {
        out.keys.push_back(k);
        out.counts.push_back(c);
    }
    return out;
}

namespace {

double gelu(double z) {
    return 0.5 * z * (1.0 + std::erf(z * M_SQRT1_2));
}

// The energy of GELU(c * u + r + PE[p]) with u = ones / sqrt(d) and r a source code (a random
// direction orthogonal to u of length `code`), averaged over the PE rows used and a few codes,
// on a grid of c; inverted by interpolation.
class EnergyCalibration {
public:
    EnergyCalibration(int64_t d, int64_t rows, double code, uint64_t seed) {
        const auto pe = positionalEncoding(rows, d);
        const double u = 1.0 / std::sqrt(static_cast<double>(d));
        std::mt19937_64 rng(seed ^ 0xca11b7a7eULL);
        std::vector<std::vector<double>> codes;
        for (int k = 0; k < (code > 0 ? 8 : 1); ++k)
            codes.push_back(randomCode(d, code, rng));
        for (double c = kLow; c <= kHigh + 1e-9; c += kStep) {
            double mean = 0;
            for (const auto& r : codes)
                for (int64_t p = 1; p < rows; ++p) {
                    double sq = 0;
                    for (int64_t j = 0; j < d; ++j) {
                        const double y = gelu(c * u + r[static_cast<size_t>(j)] + pe[static_cast<size_t>(p * d + j)]);
                        sq += y * y;
                    }
                    mean += std::sqrt(sq);
                }
            mean /= static_cast<double>((rows - 1) * static_cast<int64_t>(codes.size()));
            m_energy.push_back(m_energy.empty() ? mean : std::max(mean, m_energy.back())); // monotone
        }
    }
    // The bias length c whose mean energy is e (clamped to the grid).
    double lengthFor(double e) const {
        const auto it = std::lower_bound(m_energy.begin(), m_energy.end(), e);
        if (it == m_energy.begin()) return kLow;
        if (it == m_energy.end()) return kHigh;
        const auto i = static_cast<size_t>(it - m_energy.begin());
        const double e0 = m_energy[i - 1], e1 = m_energy[i];
        const double f = e1 > e0 ? (e - e0) / (e1 - e0) : 0.0;
        return kLow + (static_cast<double>(i - 1) + f) * kStep;
    }
    // d energy / d c at length c.
    double slopeAt(double c) const {
        const auto i =
            static_cast<size_t>(std::clamp((c - kLow) / kStep, 0.0, static_cast<double>(m_energy.size() - 2)));
        return std::max((m_energy[i + 1] - m_energy[i]) / kStep, 0.05);
    }
    double minEnergy() const { return m_energy.front(); }

    // A direction orthogonal to ones(d), of the given length (zero for length 0).
    static std::vector<double> randomCode(int64_t d, double length, std::mt19937_64& rng) {
        std::vector<double> r(static_cast<size_t>(d), 0.0);
        if (length <= 0) return r;
        std::normal_distribution<double> normal;
        double mean = 0, norm = 0;
        for (auto& x : r)
            mean += (x = normal(rng));
        mean /= static_cast<double>(d);
        for (auto& x : r) {
            x -= mean;
            norm += x * x;
        }
        norm = std::sqrt(norm);
        for (auto& x : r)
            x *= length / norm;
        return r;
    }

private:
    static constexpr double kLow = -20, kHigh = 200, kStep = 0.05;
    std::vector<double> m_energy;
};

// Cholesky factor of a symmetric positive definite d x d matrix (row-major, lower triangle), in place.
void choleskyFactor(std::vector<double>& A, int64_t d) {
    for (int64_t j = 0; j < d; ++j) {
        double s = A[static_cast<size_t>(j * d + j)];
        for (int64_t k = 0; k < j; ++k)
            s -= A[static_cast<size_t>(j * d + k)] * A[static_cast<size_t>(j * d + k)];
        const double l = std::sqrt(std::max(s, 1e-12));
        A[static_cast<size_t>(j * d + j)] = l;
        for (int64_t i = j + 1; i < d; ++i) {
            double t = A[static_cast<size_t>(i * d + j)];
            for (int64_t k = 0; k < j; ++k)
                t -= A[static_cast<size_t>(i * d + k)] * A[static_cast<size_t>(j * d + k)];
            A[static_cast<size_t>(i * d + j)] = t / l;
        }
    }
}

// Solves L L^T x = b in place (L from choleskyFactor).
void choleskySolve(const std::vector<double>& L, double* b, int64_t d) {
    for (int64_t i = 0; i < d; ++i) {
        double t = b[i];
        for (int64_t k = 0; k < i; ++k)
            t -= L[static_cast<size_t>(i * d + k)] * b[k];
        b[i] = t / L[static_cast<size_t>(i * d + i)];
    }
    for (int64_t i = d - 1; i >= 0; --i) {
        double t = b[i];
        for (int64_t k = i + 1; k < d; ++k)
            t -= L[static_cast<size_t>(k * d + i)] * b[k];
        b[i] = t / L[static_cast<size_t>(i * d + i)];
    }
}

// The trigram correction: for an own edge s -> v, the Kneser-Ney trigram (one discount D3, backing
// off to the bigram the biases encode) changes the energy by
//   delta(a, s, v) = log(1 + (c(a s v) - D3) / (D3 * N1+(a s .) * p2(v | s)))
// after the predecessor a (0 for a trigram never seen; the shared targets' share scales by the
// same backoff weight, so their energy needs no correction). The input x of the edge after a -> s
// is (mostly, with recency-favouring positions) that edge's output, whose bias carries a's code;
// its mean over positions stands for it. Each own edge's matrix gets W += w u^T / (dE/dc), with w
// the ridge regression of delta on x over the predecessors of s weighted by their counts (window
// starts, whose input is the start signal, count with delta = 0).
// `m` holds the rows of sources [begin, end) of the table `global` (the whole model for [0, V)):
// its slot k >= 1 is the global slot k + global.rowPtr[begin]; `length` is indexed by global slot.
void contextInit(Model& m, const EdgeTable& global, int64_t begin, int64_t end, const BigramDistribution& dist,
                 const TrigramCounts& tri, const std::vector<double>& codes, const std::vector<double>& length,
                 const EnergyCalibration& calibration, const BigramInitOptions& options, int64_t rows) {
    const int64_t V = m.vocabSize(), d = m.dim();
    const int64_t base = global.rowPtr()[static_cast<size_t>(begin)]; // own slots before the range
    const int64_t ownHere = global.rowPtr()[static_cast<size_t>(end)] - base;
    const auto Vu = static_cast<uint64_t>(V);
    const auto D_ = static_cast<size_t>(d);
    const double u = 1.0 / std::sqrt(static_cast<double>(d));
    const auto pe = positionalEncoding(rows, d);
    const int64_t nPos = std::min<int64_t>(rows - 1, 16);
    double n1 = 0, n2 = 0;
    for (const uint32_t c : tri.counts) {
        n1 += c == 1;
        n2 += c == 2;
    }
    const double D3 = n1 > 0 ? n1 / (n1 + 2 * n2) : 0.5;

    // per source of the range: its Gram matrix, weight and squared norms; per own slot of the range: its rhs
    const auto sources = static_cast<size_t>(end - begin);
    std::vector<double> G(sources * D_ * D_, 0.0), rhs(static_cast<size_t>(ownHere) * D_, 0.0);
    std::vector<double> weight(sources, 0.0), sq(sources, 0.0), x(D_);
    // w is kept orthogonal to u: reading the input's length (the previous edge's energy, itself
    // shifted by its own correction) would chain the corrections along the path
    const auto project = [&] {
        double along = 0;
        for (size_t i = 0; i < D_; ++i)
            along += x[i] * u;
        for (size_t i = 0; i < D_; ++i)
            x[i] -= along * u;
    };
    const auto addPoint = [&](int64_t s, double w) {
        project();
        s -= begin;
        double* g = G.data() + static_cast<size_t>(s) * D_ * D_;
        double n = 0;
        for (size_t i = 0; i < D_; ++i) {
            n += x[i] * x[i];
            for (size_t j = 0; j < D_; ++j)
                g[i * D_ + j] += w * x[i] * x[j];
        }
        weight[static_cast<size_t>(s)] += w;
        sq[static_cast<size_t>(s)] += w * n;
    };
    for (size_t i = 0; i < tri.keys.size();) {
        const uint64_t context = tri.keys[i] / Vu; // a * V + s
        size_t j = i;
        double total = 0;
        while (j < tri.keys.size() && tri.keys[j] / Vu == context)
            total += tri.counts[j++];
        const auto a = static_cast<int64_t>(context / Vu), s = static_cast<int64_t>(context % Vu);
        if (s < begin || s >= end) {
            i = j;
            continue;
        }
        const int64_t slot = global.slot(a, s);
        std::fill(x.begin(), x.end(), 0.0);
        for (int64_t p = 1; p <= nPos; ++p)
            for (int64_t k = 0; k < d; ++k)
                x[static_cast<size_t>(k)] +=
                    gelu(length[static_cast<size_t>(slot)] * u + (slot ? codes[static_cast<size_t>(a * d + k)] : 0.0) +
                         pe[static_cast<size_t>(p * d + k)]);
        for (auto& e : x)
            e /= static_cast<double>(nPos);
        addPoint(s, total);
        const auto distinct = static_cast<double>(j - i);
        for (size_t k = i; k < j; ++k) {
            const int64_t sv = global.slot(s, static_cast<int64_t>(tri.keys[k] % Vu));
            if (sv == EdgeTable::kSharedSlot) continue;
            const double p2 = dist.ownProbability[static_cast<size_t>(sv - 1)];
            const double delta = std::log1p((tri.counts[k] - D3) / (D3 * distinct * p2));
            double* r = rhs.data() + static_cast<size_t>(sv - 1 - base) * D_;
            for (size_t q = 0; q < D_; ++q)
                r[q] += total * delta * x[q];
        }
        i = j;
    }
    const float* NB = m.nodeBias.data_ptr<float>();
    for (int64_t s = begin; s < end; ++s) {
        const uint64_t starts = tri.windowStarts[static_cast<size_t>(s)];
        if (!starts) continue;
        for (int64_t k = 0; k < d; ++k)
            x[static_cast<size_t>(k)] = gelu(1.0 / static_cast<double>(d) + NB[s * d + k] + pe[static_cast<size_t>(k)]);
        addPoint(s, static_cast<double>(starts));
    }

    float* W = m.weights.data_ptr<float>();
    const auto& rowPtr = global.rowPtr();
    for (int64_t s = begin; s < end; ++s) {
        const auto si = static_cast<size_t>(s - begin);
        if (weight[si] <= 0) continue;
        std::vector<double> A(G.begin() + static_cast<std::ptrdiff_t>(si * D_ * D_),
                              G.begin() + static_cast<std::ptrdiff_t>((si + 1) * D_ * D_));
        const double lambda = options.ridge * sq[si] / static_cast<double>(d);
        for (size_t i = 0; i < D_; ++i)
            A[i * D_ + i] += lambda;
        choleskyFactor(A, d);
        for (int64_t k = rowPtr[static_cast<size_t>(s)]; k < rowPtr[static_cast<size_t>(s) + 1]; ++k) {
            double* w = rhs.data() + static_cast<size_t>(k - base) * D_;
            choleskySolve(A, w, d);
            const double scale = options.contextScale * u / calibration.slopeAt(length[static_cast<size_t>(k + 1)]);
            float* Wk = W + (k - base + 1) * d * d; // W[row i][col j] += w_i * u_j / slope
            for (int64_t i = 0; i < d; ++i)
                for (int64_t j2 = 0; j2 < d; ++j2)
                    Wk[i * d + j2] += static_cast<float>(w[i] * scale);
        }
    }
}

// The bigram init of `m`, which holds uniform noise (Model::randomInit's, or its rows for a shard)
// for the rows of sources [begin, end) of `global` (the whole model for [0, V)).
void applyBigramInit(Model& m, const EdgeTable& global, int64_t begin, int64_t end, const BigramTable& counts,
                     const BigramInitOptions& options, const TrigramCounts* trigrams) {
    const auto dist = smoothedBigrams(counts, global);
    const int64_t V = m.config.vocabSize, d = m.config.dim, P = m.config.maxPositions;
    const bool context = options.contextCode > 0;
    if (context && !trigrams) throw InputError("the context init needs the trigram counts of the training windows");
    const double noise = options.noise;
    m.weights.mul_(2 * noise);
    m.nodeBias.mul_(2 * noise);
    const int64_t rows = std::clamp<int64_t>(options.positionsUsed, 2, P);
    const EnergyCalibration calibration(d, rows, options.contextCode, options.seed);

    // energies relative to the shared slot's: log(p / share); the shared energy is placed so that
    // the smallest own energy stays where GELU still has a gradient (over the whole table)
    const auto& rowPtr = global.rowPtr();
    const int64_t base = rowPtr[static_cast<size_t>(begin)];
    std::vector<double> logRatio(dist.ownProbability.size());
    double lowest = 0;
    for (int64_t s = 0; s < V; ++s) {
        const auto ownN = global.ownCount(s);
        const double share =
            dist.sharedMass[static_cast<size_t>(s)] / static_cast<double>(std::max<int64_t>(1, V - ownN));
        for (int64_t k = rowPtr[static_cast<size_t>(s)]; k < rowPtr[static_cast<size_t>(s) + 1]; ++k) {
            logRatio[static_cast<size_t>(k)] = std::log(dist.ownProbability[static_cast<size_t>(k)] / share);
            lowest = std::min(lowest, logRatio[static_cast<size_t>(k)]);
        }
    }
    const double floorEnergy = std::max(2.0, calibration.minEnergy() + 0.5);
    const double sharedEnergy = std::clamp(floorEnergy - lowest, floorEnergy + 1.0, floorEnergy + 6.0);
    const double u = 1.0 / std::sqrt(static_cast<double>(d));
    std::mt19937_64 rng(options.seed ^ 0xc0de5ULL);
    std::vector<double> codes(static_cast<size_t>(V * d), 0.0);
    if (context)
        for (int64_t a = 0; a < V; ++a) {
            const auto r = EnergyCalibration::randomCode(d, options.contextCode, rng);
            std::copy(r.begin(), r.end(), codes.begin() + a * d);
        }
    // the bias lengths of every global slot (the context init reads its predecessors' anywhere);
    // the biases of the slots held here
    std::vector<double> length(static_cast<size_t>(global.numSlots()));
    float* B = m.biases.data_ptr<float>();
    const auto setBias = [&](int64_t slot, int64_t source, double energy) {
        const double c = calibration.lengthFor(std::max(energy, floorEnergy));
        length[static_cast<size_t>(slot)] = c;
        const int64_t local = slot == EdgeTable::kSharedSlot ? 0 : slot - base;
        if (slot != EdgeTable::kSharedSlot && (source < begin || source >= end)) return;
        for (int64_t j = 0; j < d; ++j)
            B[local * d + j] =
                static_cast<float>(c * u + (source >= 0 ? codes[static_cast<size_t>(source * d + j)] : 0.0));
    };
    setBias(EdgeTable::kSharedSlot, -1, sharedEnergy);
    for (int64_t s = 0; s < V; ++s)
        for (int64_t k = rowPtr[static_cast<size_t>(s)]; k < rowPtr[static_cast<size_t>(s) + 1]; ++k)
            setBias(k + 1, s, sharedEnergy + logRatio[static_cast<size_t>(k)]);
    float* pos = m.positions.data_ptr<float>();
    for (int64_t j = 0; j < P; ++j)
        pos[j] = static_cast<float>(1.0 + options.positionSlope * static_cast<double>(j));
    if (context) contextInit(m, global, begin, end, dist, *trigrams, codes, length, calibration, options, rows);
}

// `count` rows of `rowLength` values starting at `first`, and row 0, of a tensor of `rows` rows that
// uniform_(-0.5, 0.5, gen) fills in one call: the same draws, made in chunks, the others dropped.
at::Tensor uniformRows(at::Generator& gen, int64_t rows, int64_t rowLength, int64_t first, int64_t count) {
    at::Tensor out = at::empty({1 + count, rowLength}, at::kFloat);
    float* o = out.data_ptr<float>();
    const int64_t total = rows * rowLength, from = first * rowLength, to = (first + count) * rowLength;
    constexpr int64_t kChunk = int64_t{1} << 20;
    at::Tensor chunk = at::empty({std::min(kChunk, total)}, at::kFloat);
    for (int64_t c0 = 0; c0 < total; c0 += kChunk) {
        const int64_t n = std::min(kChunk, total - c0);
        at::Tensor part = chunk.narrow(0, 0, n);
        part.uniform_(-0.5, 0.5, gen);
        const float* p = part.data_ptr<float>();
        for (int64_t k = c0; k < std::min(c0 + n, rowLength); ++k) // row 0
            o[k] = p[k - c0];
        for (int64_t k = std::max(c0, from); k < std::min(c0 + n, to); ++k)
            o[rowLength + k - from] = p[k - c0];
    }
    return out;
}

} // namespace

Model bigramInitModel(const BigramTable& counts, EdgeTable edges, const ModelConfig& config,
                      const BigramInitOptions& options, const TrigramCounts* trigrams) {
    // uniform noise everywhere first (the reference's init, narrowed), then the biases
    Model m = Model::randomInit(config, std::move(edges), options.seed);
    applyBigramInit(m, m.edges, 0, config.vocabSize, counts, options, trigrams);
    return m;
}

Model randomInitShard(const ModelConfig& config, const EdgeTable& global, uint64_t seed, int64_t begin, int64_t end) {
    if (config.vocabSize != global.vocabSize() || begin < 0 || begin > end || end > config.vocabSize)
        throw InputError("a shard's init needs sources [begin, end) of the table's " +
                         std::to_string(global.vocabSize()) + " nodes");
    at::Generator gen = at::detail::createCPUGenerator(seed);
    const int64_t n = global.numSlots(), d = config.dim;
    const int64_t first = global.rowPtr()[static_cast<size_t>(begin)] + 1;
    const int64_t count = global.rowPtr()[static_cast<size_t>(end)] + 1 - first;
    Model m;
    m.config = config;
    m.edges = shardEdgeTable(global, begin, end);
    m.weights = uniformRows(gen, n, d * d, first, count).view({1 + count, d, d});
    m.biases = uniformRows(gen, n, d, first, count).view({1 + count, 1, d});
    m.nodeBias = at::empty({config.vocabSize, 1, d}, at::kFloat).uniform_(-0.5, 0.5, gen);
    m.positions = at::ones({1, config.maxPositions, 1}, at::kFloat);
    m.validate();
    return m;
}

Model bigramInitShard(const BigramTable& counts, const EdgeTable& global, const ModelConfig& config,
                      const BigramInitOptions& options, const TrigramCounts* trigrams, int64_t begin, int64_t end) {
    Model m = randomInitShard(config, global, options.seed, begin, end);
    applyBigramInit(m, global, begin, end, counts, options, trigrams);
    return m;
}

double windowsLoss(const Model& model, const std::vector<std::vector<int32_t>>& windows, int threads) {
    size_t longest = 0;
    for (const auto& w : windows)
        longest = std::max(longest, w.size());
    if (longest < 2) return 0.0;
    // each window is one "paragraph" no longer than the window length: evaluated whole
    CorpusEvalOptions o;
    o.windowLength = static_cast<int64_t>(longest);
    o.threads = threads;
    return evaluateCorpus(model, windows, o).loss;
}

namespace {

// validatedInit's steps, whatever holds the model: build(options, trigrams) makes the bigram init
// (the whole table or a shard's rows), loss(model) scores it on the validation windows.
template <class Build, class Loss>
ValidatedInit chooseContextScale(const std::vector<std::vector<int32_t>>& trainWindows,
                                 const std::vector<std::vector<int32_t>>& validationWindows, int64_t vocabSize,
                                 BigramInitOptions options, const Build& build, const Loss& loss) {
    ValidatedInit out;
    if (options.contextCode <= 0) {
        out.model = build(options, nullptr);
        return out;
    }
    const auto trigrams = countTrigrams(trainWindows, vocabSize);
    options.contextScale = 1;
    out.model = build(options, &trigrams);
    out.contextScale = 1;
    if (validationWindows.empty()) return out;
    // the bigram init alone (no codes: they cost a little where the correction does not pay)
    auto plain = options;
    plain.contextCode = 0;
    double best = loss(build(plain, nullptr));
    out.validationLoss.emplace_back(0.0, best);
    out.contextScale = 0;
    options.contextScale = 0;
    const Model m0 = build(options, &trigrams);
    const at::Tensor delta = out.model.weights - m0.weights;
    for (const double scale : {0.25, 0.5, 0.75, 1.0}) {
        out.model.weights.copy_(m0.weights + delta * scale);
        const double l = loss(out.model);
        out.validationLoss.emplace_back(scale, l);
        if (l < best - 1e-9) best = l, out.contextScale = scale;
    }
    if (out.contextScale == 0)
        out.model = build(plain, nullptr);
    else
        out.model.weights.copy_(m0.weights + delta * out.contextScale);
    return out;
}

} // namespace

ValidatedInit validatedInit(const BigramTable& counts, const std::vector<std::vector<int32_t>>& trainWindows,
                            const std::vector<std::vector<int32_t>>& validationWindows, const EdgeTable& edges,
                            const ModelConfig& config, BigramInitOptions options, int threads) {
    return chooseContextScale(
        trainWindows, validationWindows, config.vocabSize, options,
        [&](const BigramInitOptions& o, const TrigramCounts* trigrams) {
            return bigramInitModel(counts, edges, config, o, trigrams);
        },
        [&](const Model& m) { return windowsLoss(m, validationWindows, threads); });
}

namespace {

// The exact loss per predicted token of the windows on a sharded model (every rank of the shard
// group takes part): windowsLoss's number up to float rounding.
double shardedWindowsLoss(const Model& shard, const EdgeTable& global, const ShardPlan& plan, int rank,
                          const std::vector<std::vector<int32_t>>& windows, int threads, Communicator* comm) {
    std::vector<LossSample> samples;
    for (const auto& w : windows)
        if (w.size() >= 2) samples.push_back(LossSample::exactCandidates(w, global));
    if (samples.empty()) return 0.0;
    const auto e = shardedLoss(shard, plan, rank, samples, /*withGradients=*/false, threads, comm);
    double nll = 0;
    for (double v : e.sampleNll)
        nll += v;
    return nll / static_cast<double>(e.edges);
}

} // namespace

ValidatedInit validatedInitShard(const BigramTable& counts, const std::vector<std::vector<int32_t>>& trainWindows,
                                 const std::vector<std::vector<int32_t>>& validationWindows, const EdgeTable& global,
                                 const ModelConfig& config, BigramInitOptions options, int threads,
                                 const ShardPlan& plan, int shard, Communicator* shardGroup) {
    // the steps of validatedInit, on this shard's rows
    const int64_t b = plan.begin(shard), e = plan.end(shard);
    return chooseContextScale(
        trainWindows, validationWindows, config.vocabSize, options,
        [&](const BigramInitOptions& o, const TrigramCounts* trigrams) {
            return bigramInitShard(counts, global, config, o, trigrams, b, e);
        },
        [&](const Model& m) {
            return shardedWindowsLoss(m, global, plan, shard, validationWindows, threads, shardGroup);
        });
}

} // namespace brillm::training
