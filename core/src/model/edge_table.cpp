// SPDX-License-Identifier: GPL-3.0-or-later
#include "brillm/model/edge_table.h"

#include "brillm/error.h"

#include <algorithm>
#include <string>

namespace brillm {

namespace {

void checkVocab(int64_t vocabSize) {
    if (vocabSize <= 0 || vocabSize > INT32_MAX)
        throw ShapeError("edge table: vocabulary size must be in [1, 2^31), got " + std::to_string(vocabSize));
}

// Counting sort of pairs by source into CSR, then sort each (short) row by target.
EdgeTable buildCsr(int64_t vocabSize, std::span<const std::pair<int32_t, int32_t>> pairs, std::vector<int64_t>& rowPtr,
                   std::vector<int32_t>& targets) {
    rowPtr.assign(static_cast<size_t>(vocabSize) + 1, 0);
    for (const auto& [s, t] : pairs) {
        if (s < 0 || s >= vocabSize || t < 0 || t >= vocabSize)
            throw ShapeError("edge table: pair (" + std::to_string(s) + ", " + std::to_string(t) +
                             ") outside the vocabulary of " + std::to_string(vocabSize) + " nodes");
        ++rowPtr[static_cast<size_t>(s) + 1];
    }
    for (size_t i = 1; i < rowPtr.size(); ++i)
        rowPtr[i] += rowPtr[i - 1];
    targets.assign(pairs.size(), 0);
    std::vector<int64_t> fill(rowPtr.begin(), rowPtr.end() - 1);
    for (const auto& [s, t] : pairs)
        targets[static_cast<size_t>(fill[static_cast<size_t>(s)]++)] = t;
    for (int64_t s = 0; s < vocabSize; ++s) {
        auto b = targets.begin() + rowPtr[static_cast<size_t>(s)];
        auto e = targets.begin() + rowPtr[static_cast<size_t>(s) + 1];
        std::sort(b, e);
        if (auto dup = std::adjacent_find(b, e); dup != e)
            throw ShapeError("edge table: pair (" + std::to_string(s) + ", " + std::to_string(*dup) + ") listed twice");
    }
    return EdgeTable::fromCsr(vocabSize, std::move(rowPtr), std::move(targets));
}

} // namespace

EdgeTable EdgeTable::fromCsr(int64_t vocabSize, std::vector<int64_t> rowPtr, std::vector<int32_t> targets) {
    checkVocab(vocabSize);
    if (static_cast<int64_t>(rowPtr.size()) != vocabSize + 1)
        throw ShapeError("edge table: row pointer array has " + std::to_string(rowPtr.size()) +
                         " entries, expected vocabulary size + 1 = " + std::to_string(vocabSize + 1));
    if (rowPtr.front() != 0 || rowPtr.back() != static_cast<int64_t>(targets.size()))
        throw ShapeError("edge table: row pointers must run from 0 to the number of targets (" +
                         std::to_string(targets.size()) + ")");
    for (int64_t s = 0; s < vocabSize; ++s) {
        const int64_t b = rowPtr[static_cast<size_t>(s)], e = rowPtr[static_cast<size_t>(s) + 1];
        if (e < b) throw ShapeError("edge table: row pointers decrease at source " + std::to_string(s));
        for (int64_t k = b; k < e; ++k) {
            const int32_t t = targets[static_cast<size_t>(k)];
            if (t < 0 || t >= vocabSize)
                throw ShapeError("edge table: target " + std::to_string(t) + " of source " + std::to_string(s) +
                                 " outside the vocabulary of " + std::to_string(vocabSize) + " nodes");
            if (k > b && targets[static_cast<size_t>(k) - 1] >= t)
                throw ShapeError("edge table: targets of source " + std::to_string(s) + " are not strictly increasing");
        }
    }
    EdgeTable table;
    table.m_vocabSize = vocabSize;
    table.m_rowPtr = std::move(rowPtr);
    table.m_targets = std::move(targets);
    return table;
}

EdgeTable EdgeTable::fromPairs(int64_t vocabSize, std::span<const std::pair<int32_t, int32_t>> pairs) {
    checkVocab(vocabSize);
    std::vector<int64_t> rowPtr;
    std::vector<int32_t> targets;
    return buildCsr(vocabSize, pairs, rowPtr, targets);
}

EdgeTable EdgeTable::fromCounts(int64_t vocabSize, std::span<const BigramCount> counts, uint64_t minCount) {
    checkVocab(vocabSize);
    if (minCount == 0) throw InputError("edge table: min_count must be at least 1");
    std::vector<std::pair<int32_t, int32_t>> pairs;
    pairs.reserve(counts.size());
    for (const auto& c : counts)
        if (c.count >= minCount) pairs.emplace_back(c.source, c.target);
    std::vector<int64_t> rowPtr;
    std::vector<int32_t> targets;
    return buildCsr(vocabSize, pairs, rowPtr, targets);
}

EdgeTable EdgeTable::fromReferenceZeroLists(int64_t vocabSize, const std::vector<std::vector<int32_t>>& zeroListed) {
    checkVocab(vocabSize);
    if (static_cast<int64_t>(zeroListed.size()) != vocabSize)
        throw ShapeError("edge table: zero lists cover " + std::to_string(zeroListed.size()) + " sources, expected " +
                         std::to_string(vocabSize));
    std::vector<int64_t> rowPtr(static_cast<size_t>(vocabSize) + 1, 0);
    std::vector<int32_t> targets;
    std::vector<uint8_t> zero(static_cast<size_t>(vocabSize), 0);
    for (int64_t s = 0; s < vocabSize; ++s) {
        const auto& list = zeroListed[static_cast<size_t>(s)];
        for (int32_t t : list) {
            if (t < 0 || t >= vocabSize)
                throw ShapeError("edge table: zero-count target " + std::to_string(t) + " of source " +
                                 std::to_string(s) + " outside the vocabulary");
            zero[static_cast<size_t>(t)] = 1;
        }
        for (int32_t t = 0; t < vocabSize; ++t)
            if (!zero[static_cast<size_t>(t)]) targets.push_back(t);
        for (int32_t t : list)
            zero[static_cast<size_t>(t)] = 0;
        rowPtr[static_cast<size_t>(s) + 1] = static_cast<int64_t>(targets.size());
    }
    EdgeTable table;
    table.m_vocabSize = vocabSize;
    table.m_rowPtr = std::move(rowPtr);
    table.m_targets = std::move(targets);
    return table;
}

EdgeTable EdgeTable::dense(int64_t vocabSize) {
    checkVocab(vocabSize);
    std::vector<int64_t> rowPtr(static_cast<size_t>(vocabSize) + 1);
    std::vector<int32_t> targets(static_cast<size_t>(vocabSize * vocabSize));
    for (int64_t s = 0; s <= vocabSize; ++s)
        rowPtr[static_cast<size_t>(s)] = s * vocabSize;
    for (size_t k = 0; k < targets.size(); ++k)
        targets[k] = static_cast<int32_t>(k % static_cast<size_t>(vocabSize));
    EdgeTable table;
    table.m_vocabSize = vocabSize;
    table.m_rowPtr = std::move(rowPtr);
    table.m_targets = std::move(targets);
    return table;
}

void EdgeTable::checkId(int64_t id, const char* what) const {
    if (id < 0 || id >= m_vocabSize)
        throw InputError(std::string("unknown ") + what + " node id " + std::to_string(id) + " (vocabulary has " +
                         std::to_string(m_vocabSize) + " nodes)");
}

int64_t EdgeTable::slot(int64_t source, int64_t target) const {
    checkId(source, "source");
    checkId(target, "target");
    const auto row = ownTargets(source);
    const auto it = std::lower_bound(row.begin(), row.end(), static_cast<int32_t>(target));
    if (it == row.end() || *it != target) return kSharedSlot;
    return firstSlot(source) + (it - row.begin());
}

std::span<const int32_t> EdgeTable::ownTargets(int64_t source) const {
    checkId(source, "source");
    const auto b = static_cast<size_t>(m_rowPtr[static_cast<size_t>(source)]);
    const auto e = static_cast<size_t>(m_rowPtr[static_cast<size_t>(source) + 1]);
    return {m_targets.data() + b, e - b};
}

int64_t EdgeTable::ownCount(int64_t source) const {
    checkId(source, "source");
    return m_rowPtr[static_cast<size_t>(source) + 1] - m_rowPtr[static_cast<size_t>(source)];
}

std::pair<int32_t, int32_t> EdgeTable::pairOfSlot(int64_t slot) const {
    if (slot < 1 || slot > numOwn())
        throw InputError("slot " + std::to_string(slot) + " is not an own slot (1.." + std::to_string(numOwn()) + ")");
    const int64_t k = slot - 1;
    const auto it = std::upper_bound(m_rowPtr.begin(), m_rowPtr.end(), k);
    const auto source = static_cast<int32_t>((it - m_rowPtr.begin()) - 1);
    return {source, m_targets[static_cast<size_t>(k)]};
}

} // namespace brillm
