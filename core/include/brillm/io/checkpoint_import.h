// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Import of a reference BriLLM checkpoint (a torch.save state dict: model_en.bin, model_zh.bin,
// or a trainer checkpoint) into our model file.
//
// The state dict holds weights [N, d, d], biases [N, 1, d], node_bias [V, 1, d] and positions
// [1, P, 1] but not which node pair owns which of the N slots: that is rebuilt as the
// reference does, from the node dictionary ({token: id}) and the bigram-frequency table
// (word_frequency.json, {source: {target: count}}): a pair listed with count 0 shares slot 0,
// every other pair owns a slot, numbered in row-major (source id, target id) order. Without a
// frequency table only a dense checkpoint (N = V*V + 1) can be imported. The number of slots
// must match N exactly.
//
// Errors: CheckpointError (or TokenizerError for the node dictionary) naming the file and what
// was expected; CancelledError from the progress callback. The output is written atomically.

#include "brillm/io/checkpoint_dtype.h"
#include "brillm/io/model_file.h"
#include "brillm/io/torch_checkpoint.h"
#include "brillm/model/edge_table.h"
#include "brillm/model/model.h"

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace brillm {

class NodeVocabulary;

struct ImportOptions {
    std::string stateDictPath;         // torch.save file (required)
    std::string vocabPath;             // {token: id} node dictionary (required)
    std::string frequencyPath;         // word_frequency.json; empty: dense checkpoints only
    std::string tokenizerPath;         // tokenizer.json to embed; optional
    std::string tokenizerKind;         // empty: detected (tokenizer.json -> its model type, none -> "char")
    std::string outPath;               // our model file (required)
    std::optional<StorageDtype> dtype; // default: the checkpoint's dtype
    bool verifyCrc = true;             // check the zip CRC-32 of every parameter storage
    FileProgress progress;             // while writing
};

struct ImportReport {
    ModelConfig config;
    int64_t numSlots = 0;
    StorageDtype sourceDtype = StorageDtype::F32;
    StorageDtype storedDtype = StorageDtype::F32;
    std::string layout;             // "state dict", "trainer checkpoint (...)"
    std::vector<std::string> notes; // ignored keys, removed prefixes, unknown tokens, ...
};

ImportReport importTorchCheckpoint(const ImportOptions& options);

// The pieces, usable alone -------------------------------------------------------------------

// A tensor of a checkpoint as an ATen tensor: a zero-copy view on the mapping (strides and
// offset as saved) that keeps the mapping alive; copied only when the storage is misaligned.
at::Tensor tensorFromCheckpoint(const TorchCheckpoint& checkpoint, const TorchTensorRecord& record);

struct ZeroFrequencyLists {
    std::vector<std::vector<int32_t>> zeroListed; // [V]: targets listed with count 0, per source
    int64_t zeroPairs = 0;                        // pairs listed with count 0
    int64_t countedPairs = 0;                     // pairs listed with a count above 0
    int64_t unknownTokens = 0;                    // source or target strings the node dictionary lacks (skipped)
};

// Streams a word_frequency.json (SAX, no document tree: the released tables hold up to V*V
// pairs). Throws CheckpointError naming the file on malformed JSON or a non-numeric count.
ZeroFrequencyLists readZeroFrequencyLists(const std::string& path, const NodeVocabulary& vocabulary);

} // namespace brillm
