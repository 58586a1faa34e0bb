// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// ModelFile: BriLLM's own model file (docs/model-file.md) - open, load, save, verify.
//
// open() maps the file (MappedFile) and checks the whole header (ModelFileHeader::parse);
// it reads no parameter data, so it takes milliseconds whatever the model's size. Tensors are
// zero-copy views on the mapping (at::from_blob with a deleter that holds the mapping), so a
// Model keeps working after the ModelFile is gone, resident memory grows only with the pages
// touched, and writes into a tensor stay private to the process (copy-on-write).
// Files stored in F16 or BF16 are used in place too: model() gives their tensors as stored, and
// the core's kernels read the half-precision values and compute in float32 - half the memory
// and half the bytes per decoded token of a float32 file, and no conversion at open. Training
// needs float32 parameters: model(at::kFloat) (or Model::toDtype) makes the float32 copy.
//
// save() is atomic (CheckpointWriter): on any failure or cancellation the previous file is
// left untouched. The checksum (SHA-256 of the data section) is written by save() and checked
// only by verify(), never on open.
//
// Errors: CheckpointError naming the file and what was expected; CancelledError when a
// progress callback returns false. A ModelFile is immutable; its methods may be called from
// several threads at once.

#include "brillm/io/checkpoint_dtype.h"
#include "brillm/io/mapped_file.h"
#include "brillm/io/model_file_header.h"
#include "brillm/model/model.h"

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace brillm {

// What a model file carries besides the parameters.
struct ModelMetadata {
    std::vector<std::string> vocabulary; // token strings in node-id order; empty when unknown
    std::string tokenizerKind;           // "char", "byte-level-bpe", ...; empty when unknown
    std::string tokenizerJson;           // the whole tokenizer.json text; empty when none
    std::string provenanceJson = "{}";   // free-form JSON object: corpus, steps, source file, ...
};

// Called with bytes done and total; return false to cancel.
using FileProgress = std::function<bool(uint64_t done, uint64_t total)>;

// The page size model files are aligned to for mapping (a multiple of every system's 4 KiB).
inline constexpr uint64_t kModelFilePageSize = 4096;

struct ModelSaveOptions {
    std::optional<StorageDtype> dtype; // storage dtype; default: the model's (F16/BF16 round to nearest even)
    FileProgress progress;             // optional
    // When set, the header is padded with spaces (safetensors allows it; every reader skips them)
    // so that the weights tensor starts at a file offset congruent to this value modulo
    // kModelFilePageSize - where the shard writer needs a shard's rows to map them at their global
    // slots (sharded_model.h). Ignored when the padding would not be a multiple of 4 (it then
    // keeps every tensor but possibly edges.row_ptr aligned to its element size).
    std::optional<uint64_t> weightsPageOffset;
};

struct ModelVerifyReport {
    struct TensorCheck {
        std::string name;
        int64_t numel = 0;
        int64_t nonFinite = 0;       // NaN or +-Inf entries
        int64_t firstNonFinite = -1; // flat index of the first, -1 when none
    };
    std::string storedChecksum;   // from the header; empty when the file has none
    std::string computedChecksum; // "sha256:<hex>" of the data section as read from disk
    std::vector<TensorCheck> tensors;
    std::vector<std::string> problems; // empty when the file passed every check

    bool ok() const { return problems.empty(); }
};

struct LoadedModel {
    Model model;
    ModelMetadata metadata;
    StorageDtype storedDtype = StorageDtype::F32;
    std::string path;
    // A sharded model (sharded_model.h): its shard count (0: one model file) and, when its shards
    // were merged in memory instead of mapped, why (empty when mapped).
    int shards = 0;
    std::string mergedBecause;
    // a sharded model: the first source of each shard, then V (shards + 1 entries); empty otherwise
    std::vector<int64_t> shardSourceBegin;
};

class ModelFile {
public:
    static ModelFile open(const std::string& path);
    // The same over bytes already in memory (tests, fuzzers); verify() then reads the bytes.
    static ModelFile fromMapping(std::shared_ptr<const MappedFile> mapping);

    // open(path).model(dtype) plus the metadata.
    static LoadedModel load(const std::string& path, std::optional<at::ScalarType> dtype = std::nullopt);

    // Writes `model` atomically. The model's tensors may be float32, float64, float16 or
    // bfloat16, on any device, contiguous or not; they are converted in chunks of a few MB, so
    // saving never holds a second full copy. Checks the shapes against config and edges and the
    // vocabulary length (empty or V) first; throws CheckpointError, or CancelledError.
    static void save(const std::string& path, const Model& model, const ModelMetadata& metadata,
                     const ModelSaveOptions& options = {});

    const ModelFileHeader& header() const { return m_header; }
    const std::string& path() const { return m_mapping->path(); }
    const std::shared_ptr<const MappedFile>& mapping() const { return m_mapping; }
    ModelConfig config() const;
    const EdgeTable& edges() const { return m_header.edges; }
    ModelMetadata metadata() const;

    // A tensor of the file as stored (any name in the header), zero-copy; copied only when a
    // foreign file places it at an offset not aligned to its element size.
    at::Tensor tensor(const std::string& name) const;
    // The model for the core's kernels. Default: as stored (float32, float64, bfloat16 or
    // float16), zero-copy views on the mapping. A dtype (kFloat, kDouble, kBFloat16, kHalf)
    // converts, reading every parameter once, unless it is the stored one.
    Model model(std::optional<at::ScalarType> dtype = std::nullopt) const;

    // Recomputes the checksum of the data section - reading the file from disk in order, not
    // through the mapping - and counts NaN/Inf entries of every parameter tensor. Problems are
    // reported, not thrown; I/O errors throw CheckpointError.
    ModelVerifyReport verify(const FileProgress& progress = {}) const;

private:
    ModelFile() = default;

    std::shared_ptr<const MappedFile> m_mapping;
    ModelFileHeader m_header;
};

at::ScalarType toScalarType(StorageDtype dtype);
// Throws CheckpointError for scalar types no checkpoint file holds (complex, quantised, ...).
StorageDtype toStorageDtype(at::ScalarType type);

} // namespace brillm
