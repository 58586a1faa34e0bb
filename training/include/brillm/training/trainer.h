// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// The trainer: prepares the data, builds or loads the model, and runs AdamW steps on the
// sparse loss, writing metrics, checkpoints and the final model into a run directory.
//
// Batches are prepared on a background thread while the current step computes. Runs are
// reproducible on the CPU: the same config and thread count give the same losses, and a run
// resumed from a checkpoint continues with exactly the losses the uninterrupted run has.
// A non-finite loss or gradient skips the step (counted, logged); maxNonFinite in a row stop
// the run with TrainingError. Checkpoints are never written with non-finite parameters.
//
// Distributed (data-parallel) runs: every rank calls train() or resume() with the same
// arguments and its own Communicator (distributed.h). Rank r trains samples r, r + R, ... of
// each step's global batch; the sparse gradients are exchanged so that every rank applies the
// identical update. Rank 0 alone writes the run directory (config, metrics, checkpoints, final
// model); a resume may use another rank count. A failed or vanished rank makes the others
// throw TrainingError within the communicator's timeout.

#include "brillm/error.h"
#include "brillm/training/train_config.h"

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace brillm::training {

class Communicator;

class TrainingError : public Error {
public:
    using Error::Error;
};

struct StepReport {
    int64_t step = 0; // 1-based: steps done
    int64_t totalSteps = 0;
    double loss = 0; // sampled-negative loss of the batch
    double perplexity = 0;
    double learningRate = 0;
    double gradNorm = 0; // before clipping
    double samplesPerSecond = 0;
    double tokensPerSecond = 0;
    double elapsedSeconds = 0;
    double etaSeconds = 0;
    bool skipped = false;           // non-finite loss or gradient: no update
    std::optional<double> evalLoss; // exact held-out loss, when evaluated at this step
    // distributed runs (worldSize > 1): samplesPerSecond and tokensPerSecond are sums over ranks
    int worldSize = 1;
    uint64_t exchangeBytes = 0; // payload this rank put into the step's gradient exchange
    uint64_t denseBytes = 0;    // what a dense all-reduce of every parameter would put in
};

struct TrainCallbacks {
    std::function<bool(const std::string& stage, double fraction)> onPrepare; // false cancels
    std::function<bool(const StepReport&)> onStep;                            // false stops the run after a checkpoint
    std::function<void(const std::string&)> onLog; // notable events (checkpoints, skipped steps)
};

struct TrainResult {
    int64_t steps = 0;
    double lastLoss = 0;
    std::optional<double> lastEvalLoss;
    std::filesystem::path modelPath; // RUN_DIR/model.brillm
    bool stoppedEarly = false;       // stopped by a callback (Ctrl-C, the studio's stop)
    bool budgetReached = false;      // stopped by TrainConfig::maxMinutes (checkpoint, evaluation and model written)
    std::vector<double> losses;      // per step run in this session (NaN for skipped steps)
    uint64_t parameterDigest = 0; // distributed runs: parameterDigest() of the final model, checked equal on all ranks
};

// A new run in runDir (which must not hold one already). `comm`: this rank's process group in a
// distributed run (not owned; nullptr: a single process).
TrainResult train(const TrainConfig& config, const std::filesystem::path& runDir, const TrainCallbacks& callbacks = {},
                  Communicator* comm = nullptr);

// Continues the run in runDir from its latest checkpoint, to `steps` total when given.
// Throws InputError when the directory has no run or no checkpoint.
TrainResult resume(const std::filesystem::path& runDir, std::optional<int64_t> steps = std::nullopt,
                   const TrainCallbacks& callbacks = {}, Communicator* comm = nullptr);

// What a resume may change: the total steps, and where and in which precision it computes (a run
// can move between the CPU and a GPU; its maths and data stay those of config.json).
struct ResumeOverrides {
    std::optional<int64_t> steps;
    std::optional<std::string> device;    // "cpu", "cuda", "cuda:N"
    std::optional<std::string> precision; // "fp32", "fp16", "bf16"
    std::optional<double> maxMinutes;     // the time budget of this session (none: no budget)
    std::optional<int> shards;            // --shard-edges: the shard groups of this session (0: every rank one shard)
    std::optional<int> threads;           // CPU threads of this session (0: the machine's cores shared among its ranks)
};
TrainResult resume(const std::filesystem::path& runDir, const ResumeOverrides& overrides,
                   const TrainCallbacks& callbacks = {}, Communicator* comm = nullptr);

} // namespace brillm::training
