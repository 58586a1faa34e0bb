// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// parallelFor: f(i) for i in [0, n) on up to `threads` threads (contiguous chunks, the calling
// thread takes the first). The first exception thrown by any f is rethrown after all threads
// have joined; the others' later items still run. threads <= 1 or n < 2: on the calling thread.

#include <algorithm>
#include <cstdint>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace brillm {

template <class F> void parallelFor(int64_t n, int threads, F&& f) {
    threads = static_cast<int>(std::min<int64_t>(std::max(threads, 1), std::max<int64_t>(n, 1)));
    if (threads <= 1) {
        for (int64_t i = 0; i < n; ++i)
            f(i);
        return;
    }
    std::exception_ptr failure;
    std::mutex failureMutex;
    const auto chunk = [&](int t) {
        try {
            for (int64_t i = n * t / threads; i < n * (t + 1) / threads; ++i)
                f(i);
        } catch (...) {
            std::lock_guard lock(failureMutex);
            if (!failure) failure = std::current_exception();
        }
    };
    std::vector<std::thread> pool;
    for (int t = 1; t < threads; ++t)
        pool.emplace_back(chunk, t);
    chunk(0);
    for (auto& th : pool)
        th.join();
    if (failure) std::rethrow_exception(failure);
}

} // namespace brillm
