// SPDX-License-Identifier: GPL-3.0-or-later
#include "brillm/text/bigram_counter.h"
#include "brillm/util/parallel.h"

#include "brillm/error.h"
#include "brillm/text/tokenizer.h"

#include <chrono>
#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>

namespace brillm {
namespace {

// Open-addressing counter keyed by (source << 32 | target); ~0 marks an empty slot.
class PairCounter {
public:
    PairCounter() {
        m_keys.assign(m_capacity, kEmpty);
        m_values.assign(m_capacity, 0);
    }
    void add(uint64_t key, uint64_t n = 1) {
        size_t i = hash(key) & (m_capacity - 1);
        while (true) {
            if (m_keys[i] == key) {
                m_values[i] += n;
                return;
            }
            if (m_keys[i] == kEmpty) {
                m_keys[i] = key;
                m_values[i] = n;
                if (++m_size * 2 > m_capacity) grow();
                return;
            }
            i = (i + 1) & (m_capacity - 1);
        }
    }
    template <class F> void forEach(F&& f) const {
        for (size_t i = 0; i < m_capacity; ++i)
            if (m_keys[i] != kEmpty) f(m_keys[i], m_values[i]);
    }
    size_t size() const { return m_size; }

private:
    static constexpr uint64_t kEmpty = ~uint64_t{0};
    static size_t hash(uint64_t k) {
        k ^= k >> 33;
        k *= 0xff51afd7ed558ccdULL;
        k ^= k >> 33;
        return static_cast<size_t>(k);
    }
    void grow() {
        std::vector<uint64_t> keys = std::move(m_keys), values = std::move(m_values);
        m_capacity *= 2;
        m_keys.assign(m_capacity, kEmpty);
        m_values.assign(m_capacity, 0);
        m_size = 0;
        for (size_t i = 0; i < keys.size(); ++i)
            if (keys[i] != kEmpty) add(keys[i], values[i]);
    }
    size_t m_capacity = 1 << 12;
    size_t m_size = 0;
    std::vector<uint64_t> m_keys, m_values;
};

// A bounded single-producer multi-consumer queue of chunks.
class ChunkQueue {
public:
    explicit ChunkQueue(size_t capacity) : m_capacity(capacity) {}
    bool push(CorpusChunk&& c) {
        std::unique_lock lock(m_mutex);
        m_notFull.wait(lock, [&] { return m_items.size() < m_capacity || m_stopped; });
        if (m_stopped) return false;
        m_items.push_back(std::move(c));
        m_notEmpty.notify_one();
        return true;
    }
    bool pop(CorpusChunk& c) {
        std::unique_lock lock(m_mutex);
        m_notEmpty.wait(lock, [&] { return !m_items.empty() || m_closed || m_stopped; });
        if (m_stopped || m_items.empty()) return false;
        c = std::move(m_items.front());
        m_items.pop_front();
        m_notFull.notify_one();
        return true;
    }
    void close() {
        std::lock_guard lock(m_mutex);
        m_closed = true;
        m_notEmpty.notify_all();
    }
    void stop() {
        std::lock_guard lock(m_mutex);
        m_stopped = true;
        m_notEmpty.notify_all();
        m_notFull.notify_all();
    }

private:
    std::mutex m_mutex;
    std::condition_variable m_notEmpty, m_notFull;
    std::deque<CorpusChunk> m_items;
    size_t m_capacity;
    bool m_closed = false, m_stopped = false;
};

} // namespace

BigramCounter::BigramCounter(const Tokenizer& tokenizer, std::vector<int32_t> nodeMap, int64_t numNodes,
                             BigramCountOptions options)
    : m_tokenizer(tokenizer), m_nodeMap(std::move(nodeMap)), m_numNodes(numNodes), m_options(std::move(options)) {
    if (m_options.threads < 1) throw InputError("the number of threads must be at least 1");
    if (m_nodeMap.empty()) {
        if (numNodes != tokenizer.vocabSize())
            throw InputError("without a node map the node count (" + std::to_string(numNodes) +
                             ") must equal the tokenizer's vocabulary size (" + std::to_string(tokenizer.vocabSize()) +
                             ")");
    } else {
        if (static_cast<int64_t>(m_nodeMap.size()) != tokenizer.vocabSize())
            throw InputError("the node map has " + std::to_string(m_nodeMap.size()) + " entries, the tokenizer " +
                             std::to_string(tokenizer.vocabSize()) + " ids");
        for (const int32_t n : m_nodeMap)
            if (n < -1 || n >= numNodes)
                throw InputError("node map entry " + std::to_string(n) + " is outside [0, " + std::to_string(numNodes) +
                                 ")");
    }
}

BigramCountResult BigramCounter::count(const std::vector<std::filesystem::path>& files) const {
    const auto started = std::chrono::steady_clock::now();
    CorpusOptions corpusOptions;
    corpusOptions.onInvalidUtf8 = m_options.onInvalidUtf8;
    corpusOptions.chunkBytes = m_options.chunkBytes;
    CorpusReader reader(files, corpusOptions);

    const auto workers = static_cast<size_t>(m_options.threads);
    ChunkQueue queue(2 * workers);
    std::vector<PairCounter> counters(workers);
    std::vector<uint64_t> tokenCounts(workers, 0);
    // thread 0 reads the corpus into the queue, the others tokenise and count; whoever fails
    // stops the queue so that the other side does not wait for it, and runThreads rethrows
    runThreads(static_cast<int>(workers) + 1, [&](int t) {
        try {
            if (t == 0) {
                CorpusChunk chunk;
                while (reader.next(chunk)) {
                    if (m_options.progress && !m_options.progress(reader.stats().bytes, reader.totalBytes()))
                        throw CancelledError();
                    if (!queue.push(std::move(chunk))) break; // a worker failed
                    chunk = CorpusChunk{};
                }
                queue.close();
                return;
            }
            const auto w = static_cast<size_t>(t - 1);
            PairCounter& counter = counters[w];
            CorpusChunk chunk;
            std::vector<int32_t> ids;
            while (queue.pop(chunk)) {
                for (size_t i = 0; i < chunk.size(); ++i) {
                    ids.clear();
                    m_tokenizer.encodeIds(chunk.line(i), ids);
                    tokenCounts[w] += ids.size();
                    int32_t prev = -1;
                    for (const int32_t id : ids) {
                        const int32_t node = m_nodeMap.empty() ? id : m_nodeMap[static_cast<size_t>(id)];
                        if (prev >= 0 && node >= 0)
                            counter.add((static_cast<uint64_t>(prev) << 32) | static_cast<uint32_t>(node));
                        prev = node;
                    }
                }
            }
        } catch (...) {
            queue.stop();
            throw;
        }
    });
    reader.requireNonEmpty();

    // Merge into the largest map, then emit.
    size_t largest = 0;
    for (size_t w = 1; w < workers; ++w)
        if (counters[w].size() > counters[largest].size()) largest = w;
    for (size_t w = 0; w < workers; ++w)
        if (w != largest) counters[w].forEach([&](uint64_t k, uint64_t v) { counters[largest].add(k, v); });
    std::vector<BigramCount> pairs;
    pairs.reserve(counters[largest].size());
    counters[largest].forEach([&](uint64_t k, uint64_t v) {
        pairs.push_back({static_cast<int32_t>(k >> 32), static_cast<int32_t>(k & 0xffffffffu), v});
    });

    BigramCountResult r;
    r.table = BigramTable::fromCounts(m_numNodes, std::move(pairs));
    r.corpus = reader.stats();
    for (const auto n : tokenCounts)
        r.tokens += n;
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    if (m_options.progress) m_options.progress(reader.stats().bytes, reader.totalBytes());
    return r;
}

} // namespace brillm
