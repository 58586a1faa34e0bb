// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// ModelFileHeader: everything in a BriLLM model file except the parameter data - the tensor
// layout, the metadata and the edge table. Torch-free (fuzzed on its own); model_file.h adds
// the tensors. The format is documented in docs/model-file.md.
//
// A model file is a safetensors file whose tensors are
//   weights [N, d, d], biases [N, 1, d], node_bias [V, 1, d], positions [1, P, 1]  (one dtype:
//   F32, F64, F16 or BF16), edges.row_ptr I64 [V + 1], edges.targets I32 [N - 1]
// and whose "__metadata__" holds strings (JSON text where structured):
//   format "brillm-model", format_version "1", config {"vocab_size","dim","max_positions"},
//   dtype, vocabulary [tokens in id order], tokenizer_kind, tokenizer_json (optional, the whole
//   tokenizer.json), provenance {free-form}, checksum "sha256:<hex of the data section>",
//   writer (informational).

#include "brillm/io/checkpoint_dtype.h"
#include "brillm/io/safetensors.h"
#include "brillm/model/edge_table.h"

#include <cstddef>
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <vector>

namespace brillm {

inline constexpr const char* kModelFileFormat = "brillm-model";
inline constexpr int kModelFileVersion = 1;

struct ModelFileHeader {
    // Tensor names in the file.
    static constexpr const char* kWeights = "weights";
    static constexpr const char* kBiases = "biases";
    static constexpr const char* kNodeBias = "node_bias";
    static constexpr const char* kPositions = "positions";
    static constexpr const char* kRowPtr = "edges.row_ptr";
    static constexpr const char* kTargets = "edges.targets";

    SafetensorsHeader layout; // where each tensor lies
    int formatVersion = kModelFileVersion;
    int64_t vocabSize = 0;                  // V
    int64_t dim = 0;                        // d
    int64_t maxPositions = 0;               // P
    StorageDtype dtype = StorageDtype::F32; // of the four parameter tensors
    EdgeTable edges;
    std::vector<std::string> vocabulary; // token strings in node-id order; empty when unknown
    std::string tokenizerKind;           // "char", "byte-level-bpe", ...; empty when unknown
    std::string tokenizerJson;           // the whole tokenizer.json text; empty when none
    std::string provenanceJson = "{}";   // a JSON object
    std::string checksum;                // "sha256:<64 hex digits>"; empty when the file has none
    std::string writer;                  // program that wrote the file (informational)
    std::vector<std::string> notes;      // things a reader may want to know (ignored tensors)

    // Parses and checks the whole header against the data section: format and version, config,
    // dtypes and shapes of every tensor against the config and the edge table, the edge table
    // itself (EdgeTable::fromCsr), the vocabulary length, the provenance JSON. Reads only the
    // edge arrays from the data section. Throws CheckpointError naming the file and what was
    // expected.
    static ModelFileHeader parse(std::span<const std::byte> file, const std::string& fileName);

    // The "__metadata__" strings for these fields (the checksum as it is).
    std::map<std::string, std::string> metadata() const;
};

} // namespace brillm
