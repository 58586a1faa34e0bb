// SPDX-License-Identifier: GPL-3.0-or-later
// Opening a sharded model: the shards mapped at their global slots (openShardedModel) against the
// shards merged in memory (mergeShards) and the one-file model (ModelFile::load). Measures the
// open time, the decode time of some greedy tokens, and the resident bytes afterwards: the
// process's VmRSS growth and the Rss of the mappings that hold the weights (/proc/self/smaps).
// bench/sharded_open_bench.sh runs it; results: bench/results/sharded-open.md.
//
//   sharded_open_bench write DIR [V] [OWN_PER_NODE] [DIM] [SHARDS]   DIR/one.brillm + DIR/shards/
//   sharded_open_bench measure one|mapped|merged PATH [TOKENS] [cold]  one JSON line on stdout
// "cold" evicts the model's files from the page cache first (posix_fadvise DONTNEED: this
// process's files only, clean pages), so the open reads from disk.
#include "brillm/io/model_file.h"
#include "brillm/io/sharded_model.h"
#include "brillm/model/decode.h"
#include "brillm/training/shard.h"

#include <ATen/ATen.h>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using namespace brillm;

namespace {

double nowMs() {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// VmRSS of this process, in bytes.
uint64_t residentBytes() {
    std::ifstream in("/proc/self/status");
    std::string line;
    while (std::getline(in, line))
        if (line.rfind("VmRSS:", 0) == 0) return std::stoull(line.substr(6)) * 1024;
    return 0;
}

// The Rss of every mapping that overlaps [p, p + size), from /proc/self/smaps.
uint64_t residentOfMappings(const void* p, uint64_t size) {
    const auto lo = reinterpret_cast<uintptr_t>(p), hi = lo + size;
    std::ifstream in("/proc/self/smaps");
    std::string line;
    bool inside = false;
    uint64_t rss = 0;
    while (std::getline(in, line)) {
        const auto dash = line.find('-');
        const auto space = line.find(' ');
        if (dash != std::string::npos && space != std::string::npos && dash < space &&
            line.find_first_not_of("0123456789abcdef") == dash) {
            const uintptr_t a = std::stoull(line.substr(0, dash), nullptr, 16),
                            b = std::stoull(line.substr(dash + 1, space - dash - 1), nullptr, 16);
            inside = a < hi && b > lo;
        } else if (inside && line.rfind("Rss:", 0) == 0) {
            rss += std::stoull(line.substr(4)) * 1024;
        }
    }
    return rss;
}

void evict(const fs::path& path) {
    std::vector<fs::path> files;
    if (fs::is_directory(path)) {
        for (const auto& e : fs::directory_iterator(path))
            files.push_back(e.path());
    } else {
        files.push_back(path);
    }
    for (const auto& f : files) {
        const int fd = ::open(f.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) continue;
        ::fdatasync(fd);
        ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
        ::close(fd);
    }
}

int write(const fs::path& dir, int64_t V, int64_t ownPerNode, int64_t d, int shards) {
    std::mt19937 rng(1);
    std::vector<std::pair<int32_t, int32_t>> pairs;
    for (int32_t s = 0; s < V; ++s) {
        std::vector<int32_t> targets(static_cast<size_t>(V));
        for (int32_t t = 0; t < V; ++t)
            targets[static_cast<size_t>(t)] = t;
        std::shuffle(targets.begin(), targets.end(), rng);
        for (int64_t k = 0; k < ownPerNode; ++k)
            pairs.emplace_back(s, targets[static_cast<size_t>(k)]);
    }
    ModelConfig c;
    c.vocabSize = V;
    c.dim = d;
    c.maxPositions = 512;
    const Model m = Model::randomInit(c, EdgeTable::fromPairs(V, pairs), 1);
    fs::create_directories(dir / "shards");
    ModelFile::save((dir / "one.brillm").string(), m, ModelMetadata{});
    const ShardPlan plan = ShardPlan::balanced(m.edges, shards);
    for (int r = 0; r < shards; ++r)
        training::saveShard(dir / "shards", r, plan, training::shardModel(m, plan.begin(r), plan.end(r)),
                            ModelMetadata{}, nullptr);
    training::writeShardManifest(dir / "shards", plan, m.edges, d);
    std::printf("wrote %s: V=%lld, %lld own edges, d=%lld, weights %.1f MB; %d shards\n", dir.c_str(),
                static_cast<long long>(V), static_cast<long long>(m.edges.numOwn()), static_cast<long long>(d),
                static_cast<double>(m.weights.numel() * 4) / 1e6, shards);
    return 0;
}

int measure(const std::string& mode, const fs::path& path, int64_t tokens, bool cold) {
    if (cold) evict(path);
    const uint64_t before = residentBytes();
    const double t0 = nowMs();
    LoadedModel loaded;
    if (mode == "one")
        loaded = ModelFile::load(path.string());
    else if (mode == "mapped")
        loaded = openShardedModel(path);
    else if (mode == "merged")
        loaded = mergeShards(path);
    else
        throw std::runtime_error("mode must be one, mapped or merged");
    const double t1 = nowMs();
    const uint64_t afterOpen = residentBytes();
    DecodeOptions o;
    o.maxNewTokens = tokens;
    o.recordTrace = false;
    std::vector<int32_t> prompt{1, 2, 3, 4};
    const Trace t = decode(loaded.model, prompt, o);
    const double t2 = nowMs();
    const auto& w = loaded.model.weights;
    const uint64_t weightBytes = static_cast<uint64_t>(w.numel() * w.element_size());
    std::printf("{\"mode\": \"%s\", \"cold\": %s, \"open_ms\": %.1f, \"decode_ms\": %.1f, \"tokens\": %zu, "
                "\"rss_growth_after_open_mb\": %.1f, \"rss_growth_after_decode_mb\": %.1f, "
                "\"weights_mb\": %.1f, \"weights_mappings_rss_mb\": %.1f, \"merged_because\": \"%s\"}\n",
                mode.c_str(), cold ? "true" : "false", t1 - t0, t2 - t1, t.generated().size(),
                static_cast<double>(afterOpen - before) / 1e6, static_cast<double>(residentBytes() - before) / 1e6,
                static_cast<double>(weightBytes) / 1e6,
                static_cast<double>(residentOfMappings(w.data_ptr(), weightBytes)) / 1e6, loaded.mergedBecause.c_str());
    return 0;
}

} // namespace

int main(int argc, char** argv) {
    try {
        const std::vector<std::string> a(argv + 1, argv + argc);
        if (a.size() >= 2 && a[0] == "write")
            return write(a[1], a.size() > 2 ? std::stoll(a[2]) : 2000, a.size() > 3 ? std::stoll(a[3]) : 38,
                         a.size() > 4 ? std::stoll(a[4]) : 32, a.size() > 5 ? std::stoi(a[5]) : 4);
        if (a.size() >= 3 && a[0] == "measure")
            return measure(a[1], a[2], a.size() > 3 ? std::stoll(a[3]) : 64, a.size() > 4 && a[4] == "cold");
        std::fprintf(stderr, "usage: sharded_open_bench write DIR [V] [OWN_PER_NODE] [DIM] [SHARDS]\n"
                             "       sharded_open_bench measure one|mapped|merged PATH [TOKENS] [cold]\n");
        return 2;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "sharded_open_bench: %s\n", e.what());
        return 1;
    }
}
