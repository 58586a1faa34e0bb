// SPDX-License-Identifier: GPL-3.0-or-later
#include "brillm/util/parallel.h"

#include <algorithm>

namespace brillm {

int threadCount(int requested, int64_t work) {
    int t = requested > 0 ? requested : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    if (work < t) t = static_cast<int>(std::max<int64_t>(1, work));
    return std::max(1, t);
}

void runThreads(int threads, const std::function<void(int)>& worker) {
    if (threads <= 1) {
        worker(0);
        return;
    }
    std::exception_ptr failure;
    std::mutex failureMutex;
    const auto guarded = [&](int t) {
        try {
            worker(t);
        } catch (...) {
            std::lock_guard lock(failureMutex);
            if (!failure) failure = std::current_exception();
        }
    };
    std::vector<std::thread> pool;
    pool.reserve(static_cast<size_t>(threads - 1));
    try {
        for (int t = 1; t < threads; ++t)
            pool.emplace_back(guarded, t);
    } catch (...) {
        // could not start a thread: finish the ones running, then report
        for (auto& th : pool)
            th.join();
        throw;
    }
    guarded(0);
    for (auto& th : pool)
        th.join();
    if (failure) std::rethrow_exception(failure);
}

void parallelChunks(int64_t n, int threads, const std::function<void(int64_t, int64_t)>& body, int64_t minPerThread) {
    if (n <= 0) return;
    const int64_t perThread = std::max<int64_t>(1, minPerThread);
    threads =
        static_cast<int>(std::clamp<int64_t>(std::min<int64_t>(threads, n / perThread), 1, threads > 0 ? threads : 1));
    if (threads <= 1) {
        body(0, n);
        return;
    }
    runThreads(threads, [&](int t) { body(n * t / threads, n * (t + 1) / threads); });
}

} // namespace brillm
