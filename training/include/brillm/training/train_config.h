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
// The loss: exact (softmax over all V targets: each source's own targets plus the shared slot
// weighted by the targets it stands for); sampled (the reference's: the positive and k negatives,
// uncorrected, for reproducing it); or sampled-own (k of the source's other own targets drawn
// uniformly, each weighted by (own - 1) / k so that the sum over them is an unbiased estimate of
// the sum over all, plus the shared slot at its exact multiplicity: the exact loss when k >=
// own - 1, a cheaper estimate of it for sources with many own targets).
enum class LossKind { Exact, Sampled, SampledOwn };
// The initial parameters: bigram (the edges' energies set so that step 0 predicts like an
// interpolated Kneser-Ney bigram model of the training text; model_init.h) or random (the
// reference: uniform in [-0.5, 0.5), positions all ones).
enum class InitKind { Bigram, Random };
// adamw: torch's AdamW on every parameter (the reference); sparse-adamw: AdamW on the touched slots
// only; sgd: plain (sparse) gradient descent; adagrad: Adagrad with one accumulator per edge slot
// (row-wise, as embedding tables use) and per entry for node biases and positions.
enum class OptimizerKind { AdamW, SparseAdamW, Sgd, Adagrad };
enum class LrSchedule { Constant, WarmupCosine };
// --shard-balance: the sources' split over the shards (ShardPlan): memory (equal own-slot counts)
// or work (the candidates each shard evaluates per epoch, from the training text's bigram counts,
// as equal as contiguous ranges allow with each shard's rows at most 25% above an equal share).
enum class ShardBalance { Memory, Work };
enum class EdgeSelection {
    Real,      // every edge whose source is a real token (the last real token -> [PAD] included)
    Reference, // the reference's first max_seq_length - 2 edges of the padded sample, padding included
};

// Defaults are the project's recipe (docs/training-recipe.md); recipeConfig("reference") gives
// the BriLLM0.5 reference's settings.
struct TrainConfig {
    std::string recipe = "default"; // the named recipe the settings started from (informational)
    // data
    std::vector<std::string> corpus; // text files; paragraphs (lines up to a blank line) are joined
    std::string tokenizer;           // tokenizer.json or {token: id} file; empty: build one from the corpus
    std::string vocabKind = "char";  // when building: "char" or "bpe"
    int64_t vocabSize = 4000;        // when building
    std::string initModel;           // start from this model file instead of a random init
    int64_t maxSeqLength = 32;
    EdgeSelection edges = EdgeSelection::Real;
    std::vector<std::string> heldOutCorpus; // held-out text files; when given, no training sequence is held out
    double heldOutFraction = 0.01;          // without heldOutCorpus: windows held out of the corpus
    int64_t heldOutMax = 256;               // held-out windows at most (taken from the corpus)
    uint64_t minCount = 1;                  // a pair seen this often owns a slot
    int64_t validationWindows = 400;        // windows held back from the training text (at most 5%; 0: none)
    // model
    int64_t dim = 32;
    InitKind init = InitKind::Bigram;
    double initScale = 0.02;    // bigram init: half-width of the uniform noise on weights and node biases
    double positionSlope = 3.0; // bigram init: positions[j] = 1 + slope * j (0: all ones; > 0 favours recent edges)
    double contextCode = 4.0;   // bigram init: > 0 adds the trigram correction read from source codes of this length
    // optimisation
    LossKind loss = LossKind::Exact;
    int64_t steps = 1500;
    int64_t batchSize = 32;
    int64_t negatives = 400; // sampled loss only
    NegativeMode negativeMode = NegativeMode::Frequency;
    OptimizerKind optimizer = OptimizerKind::Sgd;
    double lr = 0.05;
    double beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weightDecay = 0.0;
    LrSchedule schedule = LrSchedule::Constant;
    int64_t warmupSteps = 0;
    double minLrFraction = 0.1; // cosine floor, as a fraction of lr
    double clipNorm = 0.0;      // 0: no clipping
    uint64_t seed = 0;
    int threads = 0;                // 0: all cores
    std::string device = "cpu";     // "cpu", "cuda" or "cuda:N" (a resume may change it)
    std::string precision = "fp32"; // "fp32"; on CUDA also "fp16" or "bf16" (autocast)
    // run
    int64_t evalEvery = 100; // 0: never
    int64_t evalSamples = 64;
    int64_t checkpointEvery = 500; // steps; 0: only at the end
    double checkpointMinutes = 0;  // also every M minutes; 0: off
    int64_t keepCheckpoints = 3;
    int64_t maxNonFinite = 10; // consecutive skipped steps before the run stops
    double maxMinutes = 0;     // stop cleanly (checkpoint, held-out evaluation, model) after M minutes; 0: off
    bool shardEdges = false;   // the edge table sharded by source over the ranks (docs/distributed.md)
    int shards = 0;            // with shardEdges: shard groups of this many ranks x replicas; 0: every rank one shard
    ShardBalance shardBalance = ShardBalance::Memory; // with shardEdges: how the sources are split

    std::string toJson() const;
    static TrainConfig fromJson(const std::string& json, const std::string& source);
    // Names of the settings that differ in a way a resume cannot accept.
    std::vector<std::string> differencesForResume(const TrainConfig& other) const;
};

// The settings of a named recipe: "default" (TrainConfig's defaults) or "reference" (BriLLM0.5's
// train.py: random init, 400 frequency negatives, dense AdamW at lr 0.05). Throws InputError.
TrainConfig recipeConfig(const std::string& name);

const char* toString(NegativeMode m);
const char* toString(LossKind k);
const char* toString(InitKind k);
const char* toString(OptimizerKind k);
const char* toString(LrSchedule s);
const char* toString(EdgeSelection e);
const char* toString(ShardBalance b);
NegativeMode negativeModeFromString(const std::string& s);
LossKind lossKindFromString(const std::string& s);
InitKind initKindFromString(const std::string& s);
OptimizerKind optimizerFromString(const std::string& s);
LrSchedule scheduleFromString(const std::string& s);
EdgeSelection edgeSelectionFromString(const std::string& s);
ShardBalance shardBalanceFromString(const std::string& s);

} // namespace brillm::training
