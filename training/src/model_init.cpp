// SPDX-License-Identifier: GPL-3.0-or-later
#include "brillm/training/model_init.h"

#include "brillm/error.h"
#include "brillm/signal.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <random>

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
    for (auto& c : cont) c = (c + 1) / (types + static_cast<double>(V));

    BigramDistribution out;
    out.ownProbability.resize(static_cast<size_t>(edges.numOwn()));
    out.sharedMass.resize(static_cast<size_t>(V));
    for (int32_t s = 0; s < V; ++s) {
        const auto targets = counts.targets(s);
        const auto cs = counts.counts(s);
        double total = 0;
        for (const uint64_t c : cs) total += static_cast<double>(c);
        const double backoff = total > 0 ? D * static_cast<double>(targets.size()) / total : 1.0;
        const auto own = edges.ownTargets(s);
        double ownMass = 0;
        size_t k = 0; // merge the sorted own targets with the sorted counted ones
        for (size_t o = 0; o < own.size(); ++o) {
            while (k < targets.size() && targets[k] < own[o]) ++k;
            const double c = k < targets.size() && targets[k] == own[o] ? static_cast<double>(cs[k]) : 0.0;
            const double p = (total > 0 ? std::max(c - D, 0.0) / total : 0.0) + backoff * cont[static_cast<size_t>(own[o])];
            out.ownProbability[static_cast<size_t>(edges.firstSlot(s) - 1) + o] = p;
            ownMass += p;
        }
        out.sharedMass[static_cast<size_t>(s)] = std::max(1.0 - ownMass, 1e-12);
    }
    return out;
}

namespace {

// The energy of GELU(c * u + PE[p]) with u = ones / sqrt(d), averaged over the PE rows used, on a
// grid of c; inverted by interpolation.
class EnergyCalibration {
public:
    EnergyCalibration(int64_t d, int64_t rows) {
        const auto pe = positionalEncoding(rows, d);
        const double u = 1.0 / std::sqrt(static_cast<double>(d));
        for (double c = kLow; c <= kHigh + 1e-9; c += kStep) {
            double mean = 0;
            for (int64_t p = 1; p < rows; ++p) {
                double sq = 0;
                for (int64_t j = 0; j < d; ++j) {
                    const double z = c * u + pe[static_cast<size_t>(p * d + j)];
                    const double y = 0.5 * z * (1.0 + std::erf(z * M_SQRT1_2));
                    sq += y * y;
                }
                mean += std::sqrt(sq);
            }
            mean /= static_cast<double>(rows - 1);
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
    double minEnergy() const { return m_energy.front(); }

private:
    static constexpr double kLow = -20, kHigh = 200, kStep = 0.05;
    std::vector<double> m_energy;
};

} // namespace

Model bigramInitModel(const BigramTable& counts, EdgeTable edges, const ModelConfig& config, const BigramInitOptions& options) {
    const auto dist = smoothedBigrams(counts, edges);
    const int64_t V = config.vocabSize, d = config.dim, P = config.maxPositions;
    // uniform noise everywhere first (the reference's init, narrowed), then the biases
    Model m = Model::randomInit(config, std::move(edges), options.seed);
    const double noise = options.noise;
    m.weights.mul_(2 * noise);
    m.nodeBias.mul_(2 * noise);
    const EnergyCalibration calibration(d, std::clamp<int64_t>(options.positionsUsed, 2, P));

    // energies relative to the shared slot's: log(p / share); the shared energy is placed so that
    // the smallest own energy stays where GELU still has a gradient
    const auto& rowPtr = m.edges.rowPtr();
    std::vector<double> logRatio(dist.ownProbability.size());
    double lowest = 0;
    for (int64_t s = 0; s < V; ++s) {
        const auto ownN = m.edges.ownCount(s);
        const double share = dist.sharedMass[static_cast<size_t>(s)] / static_cast<double>(std::max<int64_t>(1, V - ownN));
        for (int64_t k = rowPtr[static_cast<size_t>(s)]; k < rowPtr[static_cast<size_t>(s) + 1]; ++k) {
            logRatio[static_cast<size_t>(k)] = std::log(dist.ownProbability[static_cast<size_t>(k)] / share);
            lowest = std::min(lowest, logRatio[static_cast<size_t>(k)]);
        }
    }
    const double floorEnergy = std::max(2.0, calibration.minEnergy() + 0.5);
    const double sharedEnergy = std::clamp(floorEnergy - lowest, floorEnergy + 1.0, floorEnergy + 6.0);
    float* B = m.biases.data_ptr<float>();
    const double u = 1.0 / std::sqrt(static_cast<double>(d));
    const auto setBias = [&](int64_t slot, double energy) {
        const double c = calibration.lengthFor(std::max(energy, floorEnergy)) * u;
        for (int64_t j = 0; j < d; ++j) B[slot * d + j] = static_cast<float>(c);
    };
    setBias(EdgeTable::kSharedSlot, sharedEnergy);
    for (size_t k = 0; k < logRatio.size(); ++k) setBias(static_cast<int64_t>(k) + 1, sharedEnergy + logRatio[k]);
    float* pos = m.positions.data_ptr<float>();
    for (int64_t j = 0; j < P; ++j) pos[j] = static_cast<float>(1.0 + options.positionSlope * static_cast<double>(j));
    return m;
}

} // namespace brillm::training
