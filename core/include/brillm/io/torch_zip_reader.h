// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// TorchZipReader: the zip container of a torch.save file (PyTorch >= 1.6), read in place.
//
// Parses the end-of-central-directory record (zip64 included: the released checkpoints are
// larger than 4 GB) and the central directory, bounds-checking every offset against the file.
// torch.save stores its records uncompressed ("<archive>/data.pkl", "<archive>/data/<key>",
// "<archive>/version", ...), so an entry's bytes are a span of the mapping; compressed or
// encrypted entries are rejected with a clear CheckpointError when read. Torch-free.
// Immutable after construction; safe to share between threads.

#include "brillm/io/mapped_file.h"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace brillm {

struct ZipEntry {
    std::string name;
    uint64_t headerOffset = 0; // local file header
    uint64_t dataOffset = 0;   // first byte of the (stored) data
    uint64_t size = 0;         // uncompressed
    uint64_t compressedSize = 0;
    uint32_t crc = 0;
    uint16_t method = 0; // 0 = stored
    uint16_t flags = 0;
};

class TorchZipReader {
public:
    // Throws CheckpointError naming the file: not a zip (a legacy pre-1.6 torch.save file is
    // recognised and named as such), a truncated file, or an inconsistent directory.
    explicit TorchZipReader(std::shared_ptr<const MappedFile> file);

    const std::vector<ZipEntry>& entries() const { return m_entries; }
    const ZipEntry* find(std::string_view name) const;
    // The stored bytes of an entry. Throws CheckpointError for a compressed or encrypted entry,
    // or (verifyCrc) a CRC-32 mismatch.
    std::span<const std::byte> data(const ZipEntry& entry, bool verifyCrc = false) const;

    const std::string& path() const { return m_file->path(); }
    const std::shared_ptr<const MappedFile>& file() const { return m_file; }

private:
    std::shared_ptr<const MappedFile> m_file;
    std::vector<ZipEntry> m_entries;
};

} // namespace brillm
