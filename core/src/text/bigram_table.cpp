// SPDX-License-Identifier: GPL-3.0-or-later
#include "brillm/text/bigram_table.h"

#include "brillm/error.h"
#include "brillm/io/checkpoint_writer.h"
#include "brillm/io/input_limits.h"
#include "brillm/text/vocabulary.h"
#include "text/frequency_json.h"
#include "text/tokenizer_json.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <bit>
#include <cstdio>
#include <cstring>
#include <limits>
#include <numeric>
#include <sstream>

#include <unistd.h>

namespace brillm {
namespace {

constexpr char kMagic[8] = {'B', 'R', 'L', 'M', 'B', 'G', 'R', 'M'};
constexpr int64_t kPositions = 512;

static_assert(std::endian::native == std::endian::little, "the binary bigram form is written in host order");

uint64_t fnv1a(const char* data, size_t n, uint64_t h = 1469598103934665603ULL) {
    for (size_t i = 0; i < n; ++i) {
        h ^= static_cast<unsigned char>(data[i]);
        h *= 1099511628211ULL;
    }
    return h;
}

template <class T> void put(std::string& out, const T& v) {
    out.append(reinterpret_cast<const char*>(&v), sizeof v);
}

std::string humanCount(int64_t n) {
    char buf[32];
    const double v = static_cast<double>(n);
    if (v >= 1e9)
        std::snprintf(buf, sizeof buf, "%.2f B", v / 1e9);
    else if (v >= 1e6)
        std::snprintf(buf, sizeof buf, "%.2f M", v / 1e6);
    else if (v >= 1e3)
        std::snprintf(buf, sizeof buf, "%.2f k", v / 1e3);
    else
        std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(n));
    return buf;
}

} // namespace

BigramTable BigramTable::fromCounts(int64_t vocabSize, std::vector<BigramCount> counts) {
    if (vocabSize < 0 || vocabSize > std::numeric_limits<int32_t>::max())
        throw InputError("invalid vocabulary size " + std::to_string(vocabSize));
    for (const auto& c : counts)
        if (c.source < 0 || c.source >= vocabSize || c.target < 0 || c.target >= vocabSize)
            throw InputError("bigram (" + std::to_string(c.source) + ", " + std::to_string(c.target) +
                             ") is outside the vocabulary [0, " + std::to_string(vocabSize) + ")");
    std::sort(counts.begin(), counts.end(), [](const BigramCount& a, const BigramCount& b) {
        return a.source != b.source ? a.source < b.source : a.target < b.target;
    });
    BigramTable t;
    t.m_vocabSize = vocabSize;
    t.m_rowPtr.assign(static_cast<size_t>(vocabSize) + 1, 0);
    for (size_t i = 0; i < counts.size(); ++i) {
        const auto& c = counts[i];
        t.m_total += c.count;
        if (!t.m_targets.empty() && i > 0 && counts[i - 1].source == c.source && counts[i - 1].target == c.target) {
            t.m_counts.back() += c.count;
            continue;
        }
        t.m_targets.push_back(c.target);
        t.m_counts.push_back(c.count);
        t.m_rowPtr[static_cast<size_t>(c.source) + 1] += 1;
    }
    std::partial_sum(t.m_rowPtr.begin(), t.m_rowPtr.end(), t.m_rowPtr.begin());
    return t;
}

uint64_t BigramTable::count(int32_t source, int32_t target) const {
    const auto row = targets(source);
    const auto it = std::lower_bound(row.begin(), row.end(), target);
    if (it == row.end() || *it != target) return 0;
    return m_counts[static_cast<size_t>(m_rowPtr[static_cast<size_t>(source)] + (it - row.begin()))];
}

std::vector<BigramCount> BigramTable::pairs() const {
    std::vector<BigramCount> out;
    out.reserve(m_targets.size());
    for (int64_t s = 0; s < m_vocabSize; ++s)
        for (int64_t k = m_rowPtr[static_cast<size_t>(s)]; k < m_rowPtr[static_cast<size_t>(s) + 1]; ++k)
            out.push_back(
                {static_cast<int32_t>(s), m_targets[static_cast<size_t>(k)], m_counts[static_cast<size_t>(k)]});
    return out;
}

std::span<const int32_t> BigramTable::targets(int32_t source) const {
    if (source < 0 || source >= m_vocabSize)
        throw InputError("node id " + std::to_string(source) + " is outside the bigram table");
    const auto b = static_cast<size_t>(m_rowPtr[static_cast<size_t>(source)]);
    const auto e = static_cast<size_t>(m_rowPtr[static_cast<size_t>(source) + 1]);
    return std::span<const int32_t>(m_targets).subspan(b, e - b);
}

std::span<const uint64_t> BigramTable::counts(int32_t source) const {
    const auto row = targets(source);
    const auto b = static_cast<size_t>(m_rowPtr[static_cast<size_t>(source)]);
    return std::span<const uint64_t>(m_counts).subspan(b, row.size());
}

int64_t BigramTable::pairsAtLeast(uint64_t minCount) const {
    return std::count_if(m_counts.begin(), m_counts.end(), [&](uint64_t c) { return c >= minCount; });
}

EdgeTable BigramTable::toEdgeTable(uint64_t minCount) const {
    if (minCount < 1) throw InputError("min_count must be at least 1");
    const auto all = pairs();
    return EdgeTable::fromCounts(m_vocabSize, all, minCount);
}

EdgeTable BigramTable::toReferenceEdgeTable() const {
    std::vector<std::vector<int32_t>> zero(static_cast<size_t>(m_vocabSize));
    for (const auto& p : pairs())
        if (p.count == 0) zero[static_cast<size_t>(p.source)].push_back(p.target);
    return EdgeTable::fromReferenceZeroLists(m_vocabSize, zero);
}

std::string BigramTable::toJson(const NodeVocabulary& nodes, bool listZeros) const {
    if (nodes.size() != m_vocabSize)
        throw InputError("the node vocabulary " + nodes.source() + " has " + std::to_string(nodes.size()) +
                         " tokens, the bigram table " + std::to_string(m_vocabSize));
    // Token names, JSON-escaped once.
    std::vector<std::string> names(static_cast<size_t>(m_vocabSize));
    for (int32_t i = 0; i < m_vocabSize; ++i)
        names[static_cast<size_t>(i)] = nlohmann::json(nodes.token(i)).dump();
    std::string out = "{\n";
    bool firstRow = true;
    std::vector<size_t> order;
    std::vector<bool> listed;
    for (int32_t s = 0; s < m_vocabSize; ++s) {
        const auto row = targets(s);
        if (row.empty() && !listZeros) continue;
        const auto cnt = counts(s);
        order.resize(row.size());
        std::iota(order.begin(), order.end(), size_t{0});
        std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return cnt[a] > cnt[b]; });
        out += firstRow ? "  " : ",\n  ";
        firstRow = false;
        out += names[static_cast<size_t>(s)] + ": {";
        bool first = true;
        for (size_t k = 0; k < order.size(); ++k) {
            if (!first) out += ", ";
            first = false;
            out += names[static_cast<size_t>(row[order[k]])] + ": " + std::to_string(cnt[order[k]]);
        }
        if (listZeros) {
            listed.assign(static_cast<size_t>(m_vocabSize), false);
            for (const int32_t t : row)
                listed[static_cast<size_t>(t)] = true;
            for (int32_t t = 0; t < m_vocabSize; ++t) {
                if (listed[static_cast<size_t>(t)]) continue;
                if (!first) out += ", ";
                first = false;
                out += names[static_cast<size_t>(t)] + ": 0";
            }
        }
        out += "}";
    }
    out += "\n}\n";
    return out;
}

void BigramTable::saveJson(const std::filesystem::path& path, const NodeVocabulary& nodes, bool listZeros) const {
    writeFileAtomically(path.string(), toJson(nodes, listZeros));
}
BigramTable BigramTable::parseJson(std::string_view text, const NodeVocabulary& nodes, const std::string& sourceName) {
    std::vector<BigramCount> counts;
    const auto h =
        detail::readFrequencyJson(text, nodes, {}, [&](int32_t source, int32_t target, detail::FrequencyCount c) {
            counts.push_back({source, target, c.integer});
        });
    if (!h.syntaxError.empty()) {
        std::string what = h.syntaxError;
        if (const auto p = what.find("parse error"); p != std::string::npos) what = what.substr(p);
        throw InputError(detail::jsonPosition(sourceName, text, h.syntaxByte) + ": malformed JSON: " + what);
    }
    if (!h.ok()) throw InputError(sourceName + ": " + h.problem);
    return fromCounts(nodes.size(), std::move(counts));
}

BigramTable BigramTable::loadJson(const std::filesystem::path& path, const NodeVocabulary& nodes) {
    std::string text, error;
    if (!readRegularFile(path, text, error))
        throw InputError("cannot read bigram table " + path.string() + ": " + error);
    return parseJson(text, nodes, path.string());
}

void BigramTable::saveBinary(const std::filesystem::path& path) const {
    std::string out;
    out.reserve(48 + m_rowPtr.size() * 8 + m_targets.size() * 12 + 8);
    out.append(kMagic, sizeof kMagic);
    put(out, kBinaryVersion);
    put(out, uint32_t{0});
    put(out, static_cast<uint64_t>(m_vocabSize));
    put(out, static_cast<uint64_t>(m_targets.size()));
    put(out, m_total);
    out.append(reinterpret_cast<const char*>(m_rowPtr.data()), m_rowPtr.size() * sizeof(int64_t));
    out.append(reinterpret_cast<const char*>(m_targets.data()), m_targets.size() * sizeof(int32_t));
    out.append(reinterpret_cast<const char*>(m_counts.data()), m_counts.size() * sizeof(uint64_t));
    put(out, fnv1a(out.data(), out.size()));
    writeFileAtomically(path.string(), out);
}

BigramTable BigramTable::loadBinary(const std::filesystem::path& path) {
    std::string data;
    const std::string name = path.string();
    std::string error;
    if (!readRegularFile(path, data, error, SIZE_MAX))
        throw InputError("cannot read bigram table " + name + ": " + error);
    constexpr size_t kHeader = 8 + 4 + 4 + 8 + 8 + 8;
    if (data.size() < kHeader + 8 || std::memcmp(data.data(), kMagic, sizeof kMagic) != 0)
        throw InputError(name + ": not a BriLLM binary bigram table (expected the magic \"BRLMBGRM\")");
    const auto get = [&](size_t at, auto& v) { std::memcpy(&v, data.data() + at, sizeof v); };
    uint32_t version = 0;
    uint64_t vocab = 0, numPairs = 0, total = 0;
    get(8, version);
    if (version != kBinaryVersion)
        throw InputError(name + ": bigram table version " + std::to_string(version) +
                         " is not supported (this build reads version " + std::to_string(kBinaryVersion) + ")");
    get(16, vocab);
    get(24, numPairs);
    get(32, total);
    if (vocab > static_cast<uint64_t>(std::numeric_limits<int32_t>::max()) || numPairs > vocab * vocab)
        throw InputError(name + ": corrupt header (V = " + std::to_string(vocab) +
                         ", pairs = " + std::to_string(numPairs) + ")");
    const size_t expected = kHeader + (vocab + 1) * 8 + numPairs * 4 + numPairs * 8 + 8;
    if (data.size() != expected)
        throw InputError(name + ": truncated or oversized file (" + std::to_string(data.size()) + " bytes, expected " +
                         std::to_string(expected) + ")");
    uint64_t stored = 0;
    get(expected - 8, stored);
    if (fnv1a(data.data(), expected - 8) != stored)
        throw InputError(name + ": checksum mismatch (the file is corrupt)");
    BigramTable t;
    t.m_vocabSize = static_cast<int64_t>(vocab);
    t.m_total = total;
    t.m_rowPtr.resize(vocab + 1);
    t.m_targets.resize(numPairs);
    t.m_counts.resize(numPairs);
    size_t at = kHeader;
    std::memcpy(t.m_rowPtr.data(), data.data() + at, t.m_rowPtr.size() * 8);
    at += t.m_rowPtr.size() * 8;
    std::memcpy(t.m_targets.data(), data.data() + at, numPairs * 4);
    at += numPairs * 4;
    std::memcpy(t.m_counts.data(), data.data() + at, numPairs * 8);
    // Structural checks (the EdgeTable validator covers rows and targets).
    try {
        (void)EdgeTable::fromCsr(t.m_vocabSize, t.m_rowPtr, t.m_targets);
    } catch (const Error& e) {
        throw InputError(name + ": corrupt CSR arrays: " + e.what());
    }
    if (t.m_rowPtr.back() != static_cast<int64_t>(numPairs))
        throw InputError(name + ": corrupt CSR arrays (row pointers do not end at the pair count)");
    return t;
}

BigramTable BigramTable::load(const std::filesystem::path& path, const NodeVocabulary* nodes) {
    std::string head(8, '\0');
    {
        std::string error;
        const int fd = openRegularFile(path.string(), error);
        if (fd < 0) throw InputError("cannot read bigram table " + path.string() + ": " + error);
        const ssize_t n = ::read(fd, head.data(), 8);
        ::close(fd);
        head.resize(n > 0 ? static_cast<size_t>(n) : 0);
    }
    if (head.size() == 8 && std::memcmp(head.data(), kMagic, 8) == 0) return loadBinary(path);
    if (!nodes) throw InputError(path.string() + ": a JSON bigram table needs the node vocabulary (token names)");
    return loadJson(path, *nodes);
}

EdgeParameterReport edgeParameterReport(const EdgeTable& table, int64_t dim) {
    EdgeParameterReport r;
    r.vocabSize = table.vocabSize();
    r.dim = dim;
    r.ownEdges = table.numOwn();
    r.denseEdges = r.vocabSize * r.vocabSize;
    const int64_t extra = r.vocabSize * dim + kPositions;
    r.sparseParameters = table.sparseEdgeParameters(dim) + extra;
    r.denseParameters = table.denseEdgeParameters(dim) + extra;
    return r;
}

std::string formatEdgeParameterReport(const EdgeParameterReport& r) {
    std::ostringstream os;
    char pct[32];
    std::snprintf(pct, sizeof pct, "%.2f%%", 100.0 * r.fraction());
    char edgePct[32];
    std::snprintf(edgePct, sizeof edgePct, "%.2f%%",
                  r.denseEdges ? 100.0 * static_cast<double>(r.ownEdges) / static_cast<double>(r.denseEdges) : 0.0);
    os << "nodes (V)            " << r.vocabSize << "\n"
       << "hidden size (d)      " << r.dim << "  (" << r.dim * r.dim + r.dim << " parameters per edge slot)\n"
       << "own edges            " << r.ownEdges << " of " << r.denseEdges << " (" << edgePct
       << "), plus 1 shared slot\n"
       << "parameters, dense    " << humanCount(r.denseParameters) << "  (" << r.denseParameters << ")\n"
       << "parameters, sparse   " << humanCount(r.sparseParameters) << "  (" << r.sparseParameters << ", " << pct
       << " of dense)\n";
    return os.str();
}

} // namespace brillm
