// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// BigramTable: how often node `target` follows node `source` in a corpus (the edge
// frequencies that decide which edges own a parameter slot and which negatives training
// samples). Stored as CSR by source: rowPtr [V+1], targets [pairs] sorted within a row,
// counts [pairs].
//
// Two file forms:
//   - the reference's word_frequency.json: {source_token: {target_token: count, ...}, ...},
//     sources in node order, targets most frequent first (ties by node id);
//   - a compact binary form (little-endian): "BRLMBGRM", u32 version (1), u32 flags (0),
//     u64 V, u64 pairs, u64 total, u64 rowPtr[V+1], i32 targets[pairs], u64 counts[pairs],
//     u64 FNV-1a checksum of everything before it. Written atomically (temp file + rename).
// Immutable after construction; safe to share between threads.

#include "brillm/model/edge_table.h"

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

namespace brillm {

class NodeVocabulary;

class BigramTable {
public:
    static constexpr uint32_t kBinaryVersion = 1;

    BigramTable() = default;

    // Sums duplicate pairs. Throws InputError for ids outside [0, vocabSize).
    static BigramTable fromCounts(int64_t vocabSize, std::vector<BigramCount> counts);

    // JSON: token names through `nodes` (whose size is V). Throws InputError naming the file
    // for malformed JSON (line, column, byte), unknown tokens or non-integer counts.
    static BigramTable loadJson(const std::filesystem::path& path, const NodeVocabulary& nodes);
    static BigramTable parseJson(std::string_view text, const NodeVocabulary& nodes, const std::string& sourceName);
    // Binary: throws InputError for a wrong magic, a newer version, a truncated or corrupt file.
    static BigramTable loadBinary(const std::filesystem::path& path);
    // Either form, told apart by the magic. `nodes` is needed for JSON only.
    static BigramTable load(const std::filesystem::path& path, const NodeVocabulary* nodes);

    // Pairs with a count, targets most frequent first. Our readers take an unlisted pair as
    // count 0. listZeros also lists every unseen pair with 0 (V*V entries, as the reference's
    // file), so that the reference's rule (listed 0 = shared, unlisted = own slot) reads the
    // same edges. Throws InputError when the vocabulary size differs.
    std::string toJson(const NodeVocabulary& nodes, bool listZeros = false) const;
    void saveJson(const std::filesystem::path& path, const NodeVocabulary& nodes, bool listZeros = false) const;
    void saveBinary(const std::filesystem::path& path) const;

    int64_t vocabSize() const { return m_vocabSize; }
    int64_t numPairs() const { return static_cast<int64_t>(m_targets.size()); }
    uint64_t totalCount() const { return m_total; }
    uint64_t count(int32_t source, int32_t target) const;
    // Pairs (row-major) and per-row views.
    std::vector<BigramCount> pairs() const;
    std::span<const int32_t> targets(int32_t source) const;
    std::span<const uint64_t> counts(int32_t source) const;
    // Number of pairs counted at least minCount times.
    int64_t pairsAtLeast(uint64_t minCount) const;

    // Own slots for pairs counted at least minCount (>= 1) times; the rest share slot 0.
    EdgeTable toEdgeTable(uint64_t minCount = 1) const;
    // The reference's reading of a word_frequency.json: listed with count 0 = shared, any
    // other pair (listed with a count, or not listed) owns a slot.
    EdgeTable toReferenceEdgeTable() const;

    friend bool operator==(const BigramTable&, const BigramTable&) = default;

private:
    int64_t m_vocabSize = 0;
    uint64_t m_total = 0;
    std::vector<int64_t> m_rowPtr{0};
    std::vector<int32_t> m_targets;
    std::vector<uint64_t> m_counts;
};

// Parameter count of the edge weights and biases (d*d + d per slot), the node biases (V*d)
// and the position weights (512) for an edge table, next to the dense graph, like Table 2
// of the BriLLM paper (V = 4000, d = 32: 16.90 B dense).
struct EdgeParameterReport {
    int64_t vocabSize = 0;
    int64_t dim = 0;
    int64_t ownEdges = 0;
    int64_t denseEdges = 0;
    int64_t sparseParameters = 0; // shared slot + own slots + node biases + positions
    int64_t denseParameters = 0;  // V*V slots + node biases + positions
    double fraction() const {
        return denseParameters ? static_cast<double>(sparseParameters) / static_cast<double>(denseParameters) : 0.0;
    }
};
EdgeParameterReport edgeParameterReport(const EdgeTable& table, int64_t dim);
// A small aligned table for terminals ("1.23 B" style numbers next to exact counts).
std::string formatEdgeParameterReport(const EdgeParameterReport& report);

} // namespace brillm
