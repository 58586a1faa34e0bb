// SPDX-License-Identifier: GPL-3.0-or-later
// Opening a large model file (label "slow"): a 200 M-parameter file (BRILLM_LARGE_PARAMS to
// change) is written, evicted from the page cache, then opened; the open must take well under
// a second and resident memory must grow only with the pages touched. Prints the timings.
#include "test_checkpoint_util.h"

#include "brillm/io/model_file.h"
#include "io/detail/sha256.h"

#include <ATen/ATen.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fcntl.h>
#include <random>
#include <unistd.h>

namespace brillm {
namespace {

double residentMb() {
    FILE* f = std::fopen("/proc/self/statm", "r");
    long size = 0, resident = 0;
    if (f) {
        if (std::fscanf(f, "%ld %ld", &size, &resident) != 2) resident = 0;
        std::fclose(f);
    }
    return static_cast<double>(resident) * static_cast<double>(::sysconf(_SC_PAGESIZE)) / 1e6;
}

double since(std::chrono::steady_clock::time_point t) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

void evict(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY);
    if (fd < 0) return;
    ::fdatasync(fd);
    ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    ::close(fd);
}

TEST(ModelFileLarge, OpensInstantlyAndMapsLazily) {
    const char* env = std::getenv("BRILLM_LARGE_PARAMS");
    const double params = env ? std::atof(env) : 200e6;
    const int64_t v = 4000, d = 32;
    const int64_t slots = std::max<int64_t>(2, static_cast<int64_t>(params / static_cast<double>(d * d + d)));
    test::ScratchDir dir;
    const std::string path = dir.file("large.brillm");
    {
        // Own edges spread over all sources; values need not be random for this test.
        std::vector<std::pair<int32_t, int32_t>> pairs;
        pairs.reserve(static_cast<size_t>(slots - 1));
        const int64_t perSource = (slots - 1 + v - 1) / v;
        for (int64_t s = 0; s < v && static_cast<int64_t>(pairs.size()) < slots - 1; ++s)
            for (int64_t k = 0; k < perSource && static_cast<int64_t>(pairs.size()) < slots - 1; ++k)
                pairs.emplace_back(static_cast<int32_t>(s), static_cast<int32_t>((s * 7919 + k * 13) % v));
        Model m;
        m.config.vocabSize = v;
        m.config.dim = d;
        m.config.maxPositions = 512;
        m.edges = EdgeTable::fromPairs(v, pairs);
        m.weights = at::full({m.edges.numSlots(), d, d}, 0.25f);
        m.biases = at::full({m.edges.numSlots(), 1, d}, -0.5f);
        m.nodeBias = at::zeros({v, 1, d});
        m.positions = at::ones({1, 512, 1});
        const auto t = std::chrono::steady_clock::now();
        ModelFile::save(path, m, {});
        std::printf("saved %.0f M parameters (%.2f GB) in %.2f s\n",
                    static_cast<double>(m.weights.numel() + m.biases.numel()) / 1e6,
                    static_cast<double>(std::filesystem::file_size(path)) / 1e9, since(t));
    }
    evict(path);
    const double before = residentMb();
    auto t = std::chrono::steady_clock::now();
    const LoadedModel loaded = ModelFile::load(path);
    const double openSecs = since(t);
    const double afterOpen = residentMb();
    std::printf("open + model(): %.1f ms, resident +%.1f MB (file %.2f GB)\n", openSecs * 1e3, afterOpen - before,
                static_cast<double>(std::filesystem::file_size(path)) / 1e9);
    // opening maps the file and reads none of its 0.8 GB of parameters: resident memory, not the
    // time printed above (timings belong in bench/), is what is checked
    EXPECT_LT(afterOpen - before, 100.0);

    // One decoding step reads the edges of one source: resident memory grows by about that.
    t = std::chrono::steady_clock::now();
    const int64_t source = 1234;
    const int64_t first = loaded.model.edges.firstSlot(source), count = loaded.model.edges.ownCount(source);
    const double sum = loaded.model.weights.narrow(0, first, count).sum().item<double>() +
                       loaded.model.biases.narrow(0, first, count).sum().item<double>();
    const double touched = static_cast<double>(count * (d * d + d) * 4) / 1e6;
    std::printf("first step (%lld edges, %.1f MB): %.1f ms, resident +%.1f MB, sum %.1f\n",
                static_cast<long long>(count), touched, since(t) * 1e3, residentMb() - afterOpen, sum);
    EXPECT_LT(residentMb() - afterOpen, touched + 50.0);

    t = std::chrono::steady_clock::now();
    const ModelVerifyReport r = ModelFile::open(path).verify();
    const double verifySecs = since(t);
    std::printf("verify (SHA-256 + NaN scan): %.2f s, %.2f GB/s\n", verifySecs,
                static_cast<double>(std::filesystem::file_size(path)) / 1e9 / verifySecs);
    EXPECT_TRUE(r.ok());
}

} // namespace
} // namespace brillm
