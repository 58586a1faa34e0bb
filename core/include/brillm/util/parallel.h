// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// The one way the core and the trainer run work on several threads: start `threads` workers,
// keep the first exception any of them throws, join them all, and rethrow it on the calling
// thread. A worker that throws never terminates the process.
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace brillm {

// The thread count to use: `requested` when positive, else the machine's hardware threads;
// never more than `work` items and never below 1.
int threadCount(int requested, int64_t work);

// Runs worker(t) for t = 0 .. threads-1, worker 0 on the calling thread. Every worker runs to
// its end even when another throws; afterwards the first exception (in time) is rethrown.
// Workers that should stop early when another fails check a flag of their own.
void runThreads(int threads, const std::function<void(int)>& worker);

// Splits [0, n) into `threads` contiguous chunks (the same partition for the same count) and
// runs body(begin, end) for each on its own thread through runThreads. With one thread, or
// fewer than minPerThread items per thread, runs body(0, n) on the calling thread.
void parallelChunks(int64_t n, int threads, const std::function<void(int64_t, int64_t)>& body,
                    int64_t minPerThread = 1);

} // namespace brillm
