// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// RunDirectory: everything a training run leaves on disk (format: docs/training-runs.md).
//
//   RUN_DIR/config.json                 the TrainConfig
//   RUN_DIR/metrics.jsonl               one JSON object per line, flushed per line
//   RUN_DIR/checkpoints/step-NNNNNNNN/  model.brillm, optimizer.safetensors, state.json
//   RUN_DIR/latest                      the name of the newest complete checkpoint
//   RUN_DIR/model.brillm                the final model
//
// A checkpoint is written into a temporary directory and renamed into place, and `latest`
// is replaced atomically after it: a crash never leaves `latest` naming a partial checkpoint.
// Not thread-safe. Errors: InputError for an unusable directory or a resume that does not fit.

#include "brillm/model_file.h"
#include "brillm/training/optimizer.h"
#include "brillm/training/train_config.h"

#include <cstdio>
#include <filesystem>
#include <optional>
#include <string>

namespace brillm::training {

struct TrainerState {
    int64_t step = 0;           // steps done (the next step to run)
    int64_t optimizerSteps = 0; // AdamW's t (skipped steps excluded)
    int64_t nonFiniteTotal = 0;
    int64_t nonFiniteStreak = 0;
    double elapsedSeconds = 0;  // training time before this session
    int worldSize = 1;          // ranks of the session that wrote the checkpoint (a resume may use others)
};

struct LoadedCheckpoint {
    std::string directory;
    LoadedModel model; // tensors owned (copied out of the file), ready to train
    std::vector<std::pair<std::string, at::Tensor>> optimizer;
    TrainerState state;
};

class RunDirectory {
public:
    // A new run: creates the directory (and parents), refuses one that already holds a run,
    // checks it is writable, writes config.json.
    static RunDirectory create(const std::filesystem::path& dir, const TrainConfig& config);
    // An existing run, to resume: reads config.json. A read-only one (the ranks other than 0 of
    // a distributed run) reads config and checkpoints and throws Error on any write.
    static RunDirectory open(const std::filesystem::path& dir, bool writable = true);

    const std::filesystem::path& path() const { return m_dir; }
    const TrainConfig& config() const { return m_config; }

    // Appends one line (a JSON object) and flushes it.
    void appendMetrics(const std::string& jsonLine);

    std::filesystem::path saveCheckpoint(const Model& model, const ModelMetadata& metadata, const AdamW& optimizer,
                                         const TrainerState& state, int64_t keep);
    std::optional<std::filesystem::path> latestCheckpoint() const;
    LoadedCheckpoint loadCheckpoint(const std::filesystem::path& checkpoint) const;
    void saveFinalModel(const Model& model, const ModelMetadata& metadata);

    ~RunDirectory();
    RunDirectory(RunDirectory&&) noexcept;
    RunDirectory& operator=(RunDirectory&&) noexcept;

private:
    RunDirectory() = default;
    std::filesystem::path m_dir;
    TrainConfig m_config;
    std::FILE* m_metrics = nullptr;
    bool m_readOnly = false;
};

// Writes text to path atomically (temporary file, fsync, rename).
void writeFileAtomic(const std::filesystem::path& path, const std::string& text);

} // namespace brillm::training
