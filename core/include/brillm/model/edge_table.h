// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// EdgeTable: which ordered node pairs (source, target) own a parameter slot.
//
// Slot 0 is the shared slot: every pair without its own slot uses it. Own slots are numbered
// 1, 2, ... in row-major (source id, target id) order, exactly as the BriLLM reference numbers
// them. Storage is CSR by source: rowPtr [V+1], targets [numOwn] (sorted within a row), and
// the slot of CSR entry k is k + 1, so no slot array is stored.
//
// Immutable after construction; safe to share between threads.

#include <cstdint>
#include <span>
#include <vector>

namespace brillm {

struct BigramCount {
    int32_t source = 0;
    int32_t target = 0;
    uint64_t count = 0;
};

class EdgeTable {
public:
    static constexpr int64_t kSharedSlot = 0;

    EdgeTable() = default;

    // Validates the arrays: rowPtr has V+1 non-decreasing entries from 0, targets within a row
    // strictly increasing and in [0, V). Throws ShapeError otherwise.
    static EdgeTable fromCsr(int64_t vocabSize, std::vector<int64_t> rowPtr, std::vector<int32_t> targets);

    // Own slots for the given pairs (any order). Duplicates or out-of-range ids throw ShapeError.
    // Linear in the number of pairs plus V.
    static EdgeTable fromPairs(int64_t vocabSize, std::span<const std::pair<int32_t, int32_t>> pairs);

    // Own slots for pairs counted at least minCount times (minCount >= 1); the rest share slot 0.
    static EdgeTable fromCounts(int64_t vocabSize, std::span<const BigramCount> counts, uint64_t minCount = 1);

    // The reference's rule for a word_frequency.json: a pair listed with count 0 is shared,
    // every other pair (listed with a count > 0, or not listed at all) owns a slot.
    // zeroListed[s] holds the targets listed with count 0 for source s (any order).
    static EdgeTable fromReferenceZeroLists(int64_t vocabSize, const std::vector<std::vector<int32_t>>& zeroListed);

    // Every pair owns a slot (the dense graph). Only sensible for small V.
    static EdgeTable dense(int64_t vocabSize);

    int64_t vocabSize() const { return m_vocabSize; }
    int64_t numOwn() const { return static_cast<int64_t>(m_targets.size()); }
    // Rows of the weight tensor: the shared slot plus one per own pair.
    int64_t numSlots() const { return numOwn() + 1; }

    // Slot of (source, target): 0 when shared. Throws InputError for ids outside [0, V).
    int64_t slot(int64_t source, int64_t target) const;
    bool isShared(int64_t source, int64_t target) const { return slot(source, target) == kSharedSlot; }

    // A source's own targets, sorted; their slots are firstSlot(source) + index.
    std::span<const int32_t> ownTargets(int64_t source) const;
    int64_t firstSlot(int64_t source) const { return m_rowPtr[static_cast<size_t>(source)] + 1; }
    int64_t ownCount(int64_t source) const;

    // Inverse lookup: the (source, target) pair of an own slot (>= 1). Throws InputError otherwise.
    std::pair<int32_t, int32_t> pairOfSlot(int64_t slot) const;

    const std::vector<int64_t>& rowPtr() const { return m_rowPtr; }
    const std::vector<int32_t>& targets() const { return m_targets; }

    // Parameter count of the weights and biases with this sparsity versus the dense graph.
    int64_t sparseEdgeParameters(int64_t dim) const { return numSlots() * (dim * dim + dim); }
    int64_t denseEdgeParameters(int64_t dim) const { return m_vocabSize * m_vocabSize * (dim * dim + dim); }

    friend bool operator==(const EdgeTable&, const EdgeTable&) = default;

private:
    void checkId(int64_t id, const char* what) const;

    int64_t m_vocabSize = 0;
    std::vector<int64_t> m_rowPtr{0};
    std::vector<int32_t> m_targets;
};

} // namespace brillm
