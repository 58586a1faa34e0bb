// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Export of a Model as a torch.save state dict that the reference Python code loads:
//   model.load_state_dict(torch.load(path))     (weights_only=True works too)
// Keys "weights", "biases", "node_bias", "positions" (optionally prefixed), contiguous tensors
// in the zip layout torch.save writes. The slot map is not part of a state dict: the reference
// rebuilds it from its vocabulary and frequency table, so those must match the model's edges.
//
// The write is atomic (CheckpointWriter) and streams each tensor in chunks. Throws
// CheckpointError, or CancelledError when the progress callback returns false.

#include "brillm/io/checkpoint_dtype.h"
#include "brillm/io/model_file.h"
#include "brillm/model/model.h"

#include <optional>
#include <string>
#include <vector>

namespace brillm {

struct TorchExportOptions {
    std::optional<StorageDtype> dtype;   // default: the model's dtype
    std::string archiveName = "archive"; // the zip's top folder (torch uses the file stem or "archive")
    std::string keyPrefix;               // e.g. "module." for a distributed-run state dict
    bool forceZip64 = false;             // zip64 records even when not needed (tests)
    FileProgress progress;
};

void exportTorchStateDict(const std::string& path, const Model& model, const TorchExportOptions& options = {});

// The reference's node dictionary {token: id}, tokens in id order. Atomic; throws
// CheckpointError (also for a token that is not valid UTF-8).
void writeReferenceVocabulary(const std::string& path, const std::vector<std::string>& tokens);

// A word_frequency.json from which the reference's rule rebuilds exactly `edges`: for each
// source, its own targets with count 1, then every shared target with count 0 (V*V entries,
// as the reference's own file). It carries no corpus counts: the reference's training would
// draw negatives from the own targets. Atomic; throws CheckpointError.
void writeReferenceFrequencyTable(const std::string& path, const EdgeTable& edges,
                                  const std::vector<std::string>& tokens);

} // namespace brillm
