// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// The benchmarks' synthetic workloads and the machine's read bandwidth (the memory floor).

#include "brillm/model/edge_table.h"
#include "brillm/model/loss.h"
#include "brillm/model/model.h"

#include <c10/core/Device.h>

#include <cstddef>
#include <cstdint>
#include <random>
#include <vector>

namespace brillm::bench {

// E distinct own pairs drawn uniformly from the V*V graph. Throws InputError when E > V*V.
EdgeTable syntheticTable(int64_t V, int64_t E, uint64_t seed);

// A training batch and the slot of every candidate (the plain trainer's gather indices).
struct TrainBatch {
    std::vector<LossSample> samples;
    std::vector<std::vector<int64_t>> slots; // per sample: slot of every candidate, edge by edge
};

// Sequences from random walks over own edges (so positives are mostly own slots) and, like
// frequency negatives, the source's own targets first, topped up with random nodes.
TrainBatch syntheticBatch(const Model& m, int64_t batch, int64_t len, int64_t k, std::mt19937_64& rng);

// Single-thread read bandwidth in bytes/s: the sum of a buffer much larger than the caches,
// best of a few passes.
double measureReadBandwidth(size_t bytes);

// Read bandwidth of a compute device in bytes/s: the sum of a `bytes` float32 tensor on it,
// best of a few passes (for the CPU, measureReadBandwidth).
double measureDeviceReadBandwidth(const c10::Device& device, size_t bytes);

} // namespace brillm::bench
