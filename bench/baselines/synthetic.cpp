// SPDX-License-Identifier: GPL-3.0-or-later
#include "baselines/synthetic.h"

#include "brillm/error.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <new>
#include <span>
#include <string>
#include <unordered_set>

#ifdef __linux__
#include <sys/mman.h>
#endif

namespace brillm::bench {

EdgeTable syntheticTable(int64_t V, int64_t E, uint64_t seed) {
    if (E > V * V) throw InputError("--own-edges " + std::to_string(E) + " exceeds V*V = " + std::to_string(V * V));
    std::mt19937_64 rng(seed);
    std::unordered_set<int64_t> seen;
    seen.reserve(static_cast<size_t>(E) * 2);
    std::vector<std::pair<int32_t, int32_t>> pairs;
    pairs.reserve(static_cast<size_t>(E));
    std::uniform_int_distribution<int64_t> pick(0, V * V - 1);
    while (static_cast<int64_t>(pairs.size()) < E) {
        const int64_t p = pick(rng);
        if (seen.insert(p).second) pairs.emplace_back(static_cast<int32_t>(p / V), static_cast<int32_t>(p % V));
    }
    return EdgeTable::fromPairs(V, pairs);
}

TrainBatch syntheticBatch(const Model& m, int64_t batch, int64_t len, int64_t k, std::mt19937_64& rng) {
    const int64_t V = m.vocabSize();
    std::uniform_int_distribution<int32_t> node(0, static_cast<int32_t>(V) - 1);
    TrainBatch out;
    std::vector<uint8_t> used(static_cast<size_t>(V), 0);
    for (int64_t b = 0; b < batch; ++b) {
        std::vector<int32_t> tokens{node(rng)};
        while (static_cast<int64_t>(tokens.size()) < len) {
            const auto own = m.edges.ownTargets(tokens.back());
            tokens.push_back(own.empty() ? node(rng)
                                         : own[std::uniform_int_distribution<size_t>(0, own.size() - 1)(rng)]);
        }
        std::vector<std::vector<int32_t>> neg(tokens.size() - 1);
        for (size_t i = 0; i + 1 < tokens.size(); ++i) {
            const int32_t t = tokens[i + 1];
            used[static_cast<size_t>(t)] = 1;
            for (int32_t v : m.edges.ownTargets(tokens[i])) {
                if (static_cast<int64_t>(neg[i].size()) == k) break;
                if (!used[static_cast<size_t>(v)]) neg[i].push_back(v), used[static_cast<size_t>(v)] = 1;
            }
            while (static_cast<int64_t>(neg[i].size()) < std::min<int64_t>(k, V - 1)) {
                const int32_t v = node(rng);
                if (!used[static_cast<size_t>(v)]) neg[i].push_back(v), used[static_cast<size_t>(v)] = 1;
            }
            used[static_cast<size_t>(t)] = 0;
            for (int32_t v : neg[i])
                used[static_cast<size_t>(v)] = 0;
        }
        out.samples.push_back(LossSample::fromNegatives(std::move(tokens), neg));
        std::vector<int64_t> slots;
        const auto& s = out.samples.back();
        for (int64_t i = 0; i < s.numEdges(); ++i)
            for (int64_t c = s.offsets[static_cast<size_t>(i)]; c < s.offsets[static_cast<size_t>(i) + 1]; ++c)
                slots.push_back(m.edges.slot(s.tokens[static_cast<size_t>(i)], s.candidates[static_cast<size_t>(c)]));
        out.slots.push_back(std::move(slots));
    }
    return out;
}

double measureReadBandwidth(size_t bytes) {
    using Clock = std::chrono::steady_clock;
    // on transparent huge pages where the OS offers them, as the models' edge matrices are
    // (Model::randomInit, toDtype): the best read bandwidth a core gets
    constexpr size_t kHuge = size_t{2} << 20;
    bytes = (bytes + kHuge - 1) / kHuge * kHuge;
    std::unique_ptr<float, decltype(&std::free)> mem(static_cast<float*>(std::aligned_alloc(kHuge, bytes)), &std::free);
    if (!mem) throw std::bad_alloc();
#ifdef __linux__
    ::madvise(mem.get(), bytes, MADV_HUGEPAGE);
#endif
    const std::span<float> buf(mem.get(), bytes / sizeof(float));
    std::fill(buf.begin(), buf.end(), 1.0f);
    double best = 0;
    volatile float sink = 0;
    for (int pass = 0; pass < 4; ++pass) {
        const auto t0 = Clock::now();
        float acc[8] = {};
        const size_t n = buf.size() / 8 * 8;
        for (size_t i = 0; i < n; i += 8)
            for (int k = 0; k < 8; ++k)
                acc[k] += buf[i + static_cast<size_t>(k)];
        const auto t1 = Clock::now();
        float s = 0;
        for (float a : acc)
            s += a;
        sink = sink + s;
        if (pass > 0)
            best = std::max(best, static_cast<double>(bytes) / std::chrono::duration<double>(t1 - t0).count());
    }
    return best;
}

double measureDeviceReadBandwidth(const c10::Device& device, size_t bytes) {
    if (device.is_cpu()) return measureReadBandwidth(bytes);
    using Clock = std::chrono::steady_clock;
    const auto buf = at::ones({static_cast<int64_t>(bytes / sizeof(float))}, at::TensorOptions().device(device));
    double best = 0;
    for (int pass = 0; pass < 5; ++pass) {
        const auto t0 = Clock::now();
        const float s = buf.sum().item<float>(); // item() waits for the device
        const auto t1 = Clock::now();
        if (pass > 0 && s > 0)
            best = std::max(best, static_cast<double>(bytes) / std::chrono::duration<double>(t1 - t0).count());
    }
    return best;
}

} // namespace brillm::bench
