// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// TorchCheckpoint: a torch.save file opened in place - the zip (TorchZipReader), the state dict
// found in its data.pkl (TorchPickleReader), and every tensor's storage located and
// bounds-checked. No parameter data is read or copied: storageBytes() is a span of the
// mapping. Torch-free; the ATen view is made by checkpoint_import.h.
//
// Accepts PyTorch >= 1.6 files in little-endian byte order: plain state dicts, keys prefixed
// "module.", and the trainer's {"model_state_dict": ..., "args": ..., "epoch": ...}.
// Throws CheckpointError naming the file and what was expected. Immutable after open; safe to
// share between threads.

#include "brillm/io/mapped_file.h"
#include "brillm/io/torch_pickle_reader.h"
#include "brillm/io/torch_zip_reader.h"

#include <memory>
#include <span>
#include <string>
#include <vector>

namespace brillm {

class TorchCheckpoint {
public:
    static TorchCheckpoint open(const std::string& path);
    static TorchCheckpoint fromMapping(std::shared_ptr<const MappedFile> file);

    const std::string& path() const { return m_zip.path(); }
    const std::string& archiveName() const { return m_archive; }
    const TorchStateDict& stateDict() const { return m_stateDict; }
    const std::vector<TorchTensorRecord>& tensors() const { return m_stateDict.tensors; }
    // The record of a key (prefix already removed), or nullptr.
    const TorchTensorRecord* find(const std::string& key) const;
    // The bytes of the record's whole storage (the zip entry), unaligned in general. verifyCrc
    // reads them all once to check the zip's CRC-32 (CheckpointError on a mismatch).
    std::span<const std::byte> storageBytes(const TorchTensorRecord& record, bool verifyCrc = false) const;
    // Whether the tensor is laid out densely in row-major order (no copy needed to read it).
    static bool isContiguous(const TorchTensorRecord& record);

    const std::shared_ptr<const MappedFile>& file() const { return m_zip.file(); }

private:
    explicit TorchCheckpoint(TorchZipReader zip) : m_zip(std::move(zip)) {}

    TorchZipReader m_zip;
    std::string m_archive;
    TorchStateDict m_stateDict;
};

} // namespace brillm
