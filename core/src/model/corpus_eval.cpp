// SPDX-License-Identifier: GPL-3.0-or-later
#include "brillm/model/corpus_eval.h"
#include "brillm/util/parallel.h"

#include "brillm/error.h"
#include "brillm/model/loss.h"
#include "brillm/text/corpus_sequences.h"
#include "brillm/text/text_codec.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <exception>
#include <limits>
#include <mutex>
#include <string>
#include <thread>

namespace brillm {

namespace {

struct Window {
    size_t paragraph;
    size_t begin, length;
};

} // namespace

std::vector<std::vector<int32_t>> paragraphsCoveredByWindows(std::span<const std::vector<int32_t>> paragraphs,
                                                             int64_t windowLength, int64_t maxWindows) {
    std::vector<std::vector<int32_t>> out;
    int64_t left = maxWindows > 0 ? maxWindows : std::numeric_limits<int64_t>::max();
    for (const auto& p : paragraphs) {
        if (left == 0) break;
        const auto windows = overlappingWindows(p.size(), windowLength);
        if (static_cast<int64_t>(windows.size()) <= left) {
            out.push_back(p);
            left -= static_cast<int64_t>(windows.size());
            continue;
        }
        const auto& last = windows[static_cast<size_t>(left - 1)];
        out.emplace_back(p.begin(), p.begin() + static_cast<ptrdiff_t>(last.first + last.second));
        break;
    }
    return out;
}

CorpusEvalResult evaluateCorpus(const Model& model, std::span<const std::vector<int32_t>> paragraphs,
                                const CorpusEvalOptions& options) {
    const int64_t L = options.windowLength;
    if (L < 2) throw InputError("the evaluation window needs at least two tokens, got " + std::to_string(L));
    if (L - 1 > model.maxEdges())
        throw InputError("an evaluation window of " + std::to_string(L) + " tokens has more edges than the model's " +
                         std::to_string(model.maxEdges()) + " positions allow");
    if (options.maxWindows < 0) throw InputError("maxWindows must be 0 (all) or positive");
    const int64_t V = model.vocabSize();

    std::vector<Window> windows;
    bool complete = true;
    for (size_t p = 0; p < paragraphs.size() && complete; ++p) {
        for (size_t k = 0; k < paragraphs[p].size(); ++k)
            if (paragraphs[p][k] < 0 || paragraphs[p][k] >= V)
                throw InputError("paragraph " + std::to_string(p) + ", token " + std::to_string(k) + ": node id " +
                                 std::to_string(paragraphs[p][k]) + " is outside the model's " + std::to_string(V) +
                                 " nodes");
        for (const auto& [b, n] : overlappingWindows(paragraphs[p].size(), L)) {
            if (options.maxWindows > 0 && static_cast<int64_t>(windows.size()) == options.maxWindows) {
                complete = false;
                break;
            }
            windows.push_back({p, b, n});
        }
    }
    if (windows.empty()) throw InputError("nothing to evaluate: no paragraph has two tokens");

    const size_t W = windows.size();
    std::vector<double> windowNll(W, 0.0);
    std::atomic<size_t> next{0};
    std::atomic<int64_t> done{0};
    std::atomic<bool> stop{false};
    std::mutex m;
    std::condition_variable cv;
    const int workers = threadCount(options.threads, static_cast<int64_t>(W));
    int running = workers;
    bool cancelled = false;

    const auto work = [&] {
        try {
            for (size_t i; !stop.load(std::memory_order_relaxed) && (i = next.fetch_add(1)) < W;) {
                const Window& w = windows[i];
                const auto tokens = std::span<const int32_t>(paragraphs[w.paragraph]).subspan(w.begin, w.length);
                const ExactLoss e = exactLoss(model, tokens);
                // the window's own sum, in edge order: the same whichever thread computes it
                double sum = 0;
                for (const double l : e.edgeLosses)
                    sum += l;
                windowNll[i] = sum;
                done.fetch_add(1, std::memory_order_relaxed);
            }
        } catch (...) {
            stop = true;
            std::lock_guard lock(m);
            --running;
            cv.notify_all();
            throw;
        }
        std::lock_guard lock(m);
        --running;
        cv.notify_all();
    };
    // with a progress callback, the calling thread reports and the others work
    const auto monitor = [&] {
        try {
            std::unique_lock lock(m);
            while (running > 0) {
                cv.wait_for(lock, std::chrono::milliseconds(100), [&] { return running == 0; });
                if (running > 0 && !cancelled) {
                    lock.unlock();
                    const bool go = options.progress(done.load(), static_cast<int64_t>(W));
                    lock.lock();
                    if (!go) {
                        cancelled = true;
                        stop = true;
                    }
                }
            }
        } catch (...) {
            stop = true;
            throw;
        }
    };
    if (options.progress)
        runThreads(workers + 1, [&](int t) { t == 0 ? monitor() : work(); });
    else
        runThreads(workers, [&](int) { work(); });
    if (cancelled) throw CancelledError();
    if (options.progress && !options.progress(static_cast<int64_t>(W), static_cast<int64_t>(W))) throw CancelledError();

    CorpusEvalResult r;
    r.windows = static_cast<int64_t>(W);
    r.complete = complete;
    if (options.perParagraph) {
        r.paragraphNll.assign(paragraphs.size(), 0.0);
        r.paragraphTokens.assign(paragraphs.size(), 0);
    }
    size_t lastParagraph = std::numeric_limits<size_t>::max();
    for (size_t i = 0; i < W; ++i) {
        const Window& w = windows[i];
        r.nll += windowNll[i];
        r.tokens += static_cast<int64_t>(w.length) - 1;
        if (w.paragraph != lastParagraph) ++r.paragraphs;
        lastParagraph = w.paragraph;
        if (options.perParagraph) {
            r.paragraphNll[w.paragraph] += windowNll[i];
            r.paragraphTokens[w.paragraph] += static_cast<int64_t>(w.length) - 1;
        }
    }
    r.loss = r.nll / static_cast<double>(r.tokens);
    r.perplexity = std::exp(r.loss);
    return r;
}

EncodedCorpus readEncodedParagraphs(std::span<const std::filesystem::path> files, const TextCodec& codec, int threads) {
    std::vector<std::string> text;
    for (const auto& f : files) {
        std::error_code ec;
        if (!std::filesystem::is_regular_file(f, ec))
            throw InputError("cannot read the corpus " + f.string() +
                             (std::filesystem::exists(f, ec) ? ": not a regular file" : ": no such file"));
        auto p = readParagraphs(f);
        text.insert(text.end(), std::make_move_iterator(p.begin()), std::make_move_iterator(p.end()));
    }

    // encode in parallel into per-paragraph slots, so the order never depends on the threads
    std::vector<std::vector<int32_t>> ids(text.size());
    std::vector<int64_t> unknown(text.size(), 0);
    const int T = threadCount(threads, static_cast<int64_t>(text.size()));
    std::atomic<size_t> next{0};
    runThreads(T, [&](int) {
        try {
            for (size_t i; (i = next.fetch_add(1)) < text.size();) {
                auto e = codec.encode(text[i]);
                ids[i] = std::move(e.nodes);
                unknown[i] = e.unknown;
            }
        } catch (...) {
            next = text.size(); // the others stop too
            throw;
        }
    });

    EncodedCorpus out;
    out.paragraphsRead = static_cast<int64_t>(text.size());
    for (size_t i = 0; i < text.size(); ++i) {
        out.unknown += unknown[i];
        if (ids[i].size() < 2) {
            ++out.shortParagraphs;
            continue;
        }
        out.tokens += static_cast<int64_t>(ids[i].size());
        out.predicted += static_cast<int64_t>(ids[i].size()) - 1;
        out.bytes += static_cast<int64_t>(text[i].size());
        out.paragraphs.push_back(std::move(ids[i]));
    }
    return out;
}

double bitsPerByte(double nll, int64_t bytes) {
    if (bytes <= 0) return std::numeric_limits<double>::quiet_NaN();
    return nll / std::log(2.0) / static_cast<double>(bytes);
}

} // namespace brillm
