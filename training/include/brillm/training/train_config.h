// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// TrainConfig: everything that defines a training run. Written to RUN_DIR/config.json; a
// resume must find the same values for everything that changes the maths (see
// TrainConfig::differencesForResume).

#include <cstdint>
#include <string>
#include <vector>

namespace brillm::training {

enum class NegativeMode { Frequency, Random };
enum class OptimizerKind { AdamW, SparseAdamW };
enum class LrSchedule { Constant, WarmupCosine };
enum class EdgeSelection {
    Real,      // every edge whose source is a real token (the last real token -> [PAD] included)
    Reference, // the reference's first max_seq_length - 2 edges of the padded sample, padding included
};

struct TrainConfig {
    // data
    std::vector<std::string> corpus;  // text files; paragraphs (lines up to a blank line) are joined
    std::string tokenizer;            // tokenizer.json or {token: id} file; empty: build one from the corpus
    std::string vocabKind = "char";   // when building: "char" or "bpe"
    int64_t vocabSize = 4000;         // when building
    std::string initModel;            // start from this model file instead of a random init
    int64_t maxSeqLength = 32;
    EdgeSelection edges = EdgeSelection::Real;
    double heldOutFraction = 0.01;
    int64_t heldOutMax = 256;         // held-out sequences at most
    uint64_t minCount = 1;            // a pair seen this often owns a slot
    // model
    int64_t dim = 32;
    // optimisation
    int64_t steps = 1500;
    int64_t batchSize = 32;
    int64_t negatives = 400;
    NegativeMode negativeMode = NegativeMode::Frequency;
    OptimizerKind optimizer = OptimizerKind::AdamW;
    double lr = 5e-2;
    double beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weightDecay = 0.0;
    LrSchedule schedule = LrSchedule::Constant;
    int64_t warmupSteps = 0;
    double minLrFraction = 0.1;       // cosine floor, as a fraction of lr
    double clipNorm = 0.0;            // 0: no clipping
    uint64_t seed = 0;
    int threads = 0;                  // 0: all cores
    std::string device = "cpu";       // "cpu", "cuda" or "cuda:N" (a resume may change it)
    std::string precision = "fp32";   // "fp32"; on CUDA also "fp16" or "bf16" (autocast)
    // run
    int64_t evalEvery = 100;          // 0: never
    int64_t evalSamples = 64;
    int64_t checkpointEvery = 500;    // steps; 0: only at the end
    double checkpointMinutes = 0;     // also every M minutes; 0: off
    int64_t keepCheckpoints = 3;
    int64_t maxNonFinite = 10;        // consecutive skipped steps before the run stops

    std::string toJson() const;
    static TrainConfig fromJson(const std::string& json, const std::string& source);
    // Names of the settings that differ in a way a resume cannot accept.
    std::vector<std::string> differencesForResume(const TrainConfig& other) const;
};

const char* toString(NegativeMode m);
const char* toString(OptimizerKind k);
const char* toString(LrSchedule s);
const char* toString(EdgeSelection e);
NegativeMode negativeModeFromString(const std::string& s);
OptimizerKind optimizerFromString(const std::string& s);
LrSchedule scheduleFromString(const std::string& s);
EdgeSelection edgeSelectionFromString(const std::string& s);

} // namespace brillm::training
