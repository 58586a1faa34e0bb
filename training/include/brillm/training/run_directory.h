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
//
// A run directory has one writer at a time: create() and a writable open() take an exclusive
// flock on RUN_DIR/.lock (holding the writer's pid and host) for the object's lifetime, and a
// second writer is refused with a message naming the holder. Two resumes of one run would
// otherwise interleave metrics.jsonl and race on the checkpoint renames.
// Not thread-safe. Errors: InputError for an unusable directory or a resume that does not fit.

#include "brillm/io/model_file.h"
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
    double elapsedSeconds = 0; // training time before this session
    int worldSize = 1;         // ranks of the session that wrote the checkpoint (a resume may use others)
    int shards = 0;            // > 0: a --shard-edges checkpoint of that many shards (shard.h)
};

struct LoadedCheckpoint {
    std::string directory;
    LoadedModel model; // tensors owned (copied out of the file), ready to train
    std::vector<std::pair<std::string, at::Tensor>> optimizer;
    TrainerState state;
};

class RunDirectory {
public:
    // A new run: creates the directory (and parents), takes the lock, checks it is writable,
    // writes config.json. Refuses a directory that already holds a run (config.json: resume it),
    // a non-empty directory that holds no run (its files would be overwritten or appended to),
    // a path that is not a directory, and a directory locked by another writer.
    static RunDirectory create(const std::filesystem::path& dir, const TrainConfig& config);
    // An existing run, to resume: reads config.json. A writable one takes the lock first. A
    // read-only one (the ranks other than 0 of a distributed run) takes no lock, reads config and
    // checkpoints and throws Error on any write.
    static RunDirectory open(const std::filesystem::path& dir, bool writable = true);

    // For a start that failed before its first step: removes everything create() made (config.json,
    // metrics.jsonl, checkpoints/, .lock, and the directory and parents it created; a directory
    // that existed empty before is left, empty) and releases the lock, so that a rerun with the
    // same --out works. Does nothing (returns false) for a run from open(), or once anything of
    // a step was written (appendMetrics, saveCheckpoint, saveFinalModel). Never throws; the
    // object keeps only its path afterwards. Returns true when it removed the run.
    bool abandonIfNew() noexcept;
    // True while the object holds RUN_DIR/.lock (create() and open(dir, true)).
    bool holdsLock() const { return m_lockFd >= 0; }

    const std::filesystem::path& path() const { return m_dir; }
    const TrainConfig& config() const { return m_config; }

    // Appends one line (a JSON object) and flushes it.
    void appendMetrics(const std::string& jsonLine);

    std::filesystem::path saveCheckpoint(const Model& model, const ModelMetadata& metadata, const AdamW& optimizer,
                                         const TrainerState& state, int64_t keep);
    std::optional<std::filesystem::path> latestCheckpoint() const;
    // An unsharded checkpoint (InputError for a sharded one: read it with ShardSet).
    LoadedCheckpoint loadCheckpoint(const std::filesystem::path& checkpoint) const;
    TrainerState loadState(const std::filesystem::path& checkpoint) const;

    // A checkpoint written by several ranks (the shards of --shard-edges): the writer prepares the
    // staging directory, every rank writes its files into checkpointStaging(step) (a path any
    // rank can compute), then the writer commits: state.json, the rename into place, `latest`,
    // and pruning to the newest `keep`. saveCheckpoint() is the three in one for one model.
    static std::filesystem::path checkpointStaging(const std::filesystem::path& runDir, int64_t step);
    std::filesystem::path prepareCheckpoint(int64_t step);
    std::filesystem::path commitCheckpoint(const TrainerState& state, int64_t keep);
    // The final model of a sharded run: RUN_DIR/model-shards (shards.json and one file per shard).
    static std::filesystem::path shardedModelDirectory(const std::filesystem::path& runDir) {
        return runDir / "model-shards";
    }
    // The writer marks the run as having written a step (a sharded final model written by the ranks).
    void noteWritten() { m_wroteStep = true; }
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
    int m_lockFd = -1;                   // the open RUN_DIR/.lock holding the flock; -1: none
    bool m_created = false;              // made by create() (abandonIfNew may remove it)
    bool m_wroteStep = false;            // metrics, a checkpoint or the final model written
    std::filesystem::path m_createdRoot; // the topmost directory create() made; empty: none

    void release() noexcept;
};

// Optimizer state as a safetensors file (atomically) and back.
void writeOptimizerFile(const std::filesystem::path& path, const std::vector<std::pair<std::string, at::Tensor>>& state,
                        const std::string& optimizerName);
std::vector<std::pair<std::string, at::Tensor>> readOptimizerFile(const std::filesystem::path& path);

// Writes text to path atomically (temporary file, fsync, rename).
void writeFileAtomic(const std::filesystem::path& path, const std::string& text);

} // namespace brillm::training
