// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// The ranges of the training settings, checked before a run writes anything (a value outside
// them would be stored in config.json and either fail later, break every --resume, or train
// something other than what was asked: --held-out nan wrote null, --lr 1e30 skipped every step).
//
// Messages name the `brillm train` option, its range and the value given. The ranges are
// documented in docs/training-runs.md ("Option ranges").

#include "brillm/training/train_config.h"

#include <cstdint>

namespace brillm::training {

// Upper bounds that keep a run within what one machine can hold: an edge matrix is dim x dim
// floats, and the vocabulary is the graph's node count.
inline constexpr int64_t kMaxTrainDim = 1024;
inline constexpr int64_t kMaxTrainVocabSize = 1'000'000;
inline constexpr double kMaxTrainLr = 100.0;

// Every setting that can be checked without the data. Throws InputError naming the first
// option out of range. --checkpoint-every 0 is valid (checkpoint only at the end), --keep 0 is
// not (the newest checkpoint is what --resume continues from).
void validateTrainConfig(const TrainConfig& c);

// The settings that depend on the vocabulary of V nodes, once it is known (built or loaded):
// the sampled loss's --negatives must leave room for the positive (K <= V - 1). Throws InputError.
void validateAgainstVocabulary(const TrainConfig& c, int64_t vocabSize);

} // namespace brillm::training
