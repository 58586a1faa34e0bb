// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// TorchZipWriter: writes the zip container of a torch.save file - stored (uncompressed)
// entries whose data starts at a multiple of 64 bytes (torch pads the local header's extra
// field the same way), CRC-32 per entry, and zip64 records wherever a size or offset needs them.
// Torch-free. Not thread-safe. Throws CheckpointError (from the underlying writer) on I/O
// failure and on misuse (writing more or fewer bytes than announced).

#include "brillm/io/checkpoint_writer.h"

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace brillm {

class TorchZipWriter {
public:
    // forceZip64: write zip64 records even for small archives (tests).
    explicit TorchZipWriter(CheckpointWriter& out, bool forceZip64 = false);

    // Starts an entry of exactly `size` bytes, to be given by write() calls.
    void beginEntry(const std::string& name, uint64_t size);
    void write(std::span<const std::byte> data);
    void endEntry();
    void addEntry(const std::string& name, std::span<const std::byte> data);
    void addEntry(const std::string& name, const std::string& text) {
        addEntry(name, {reinterpret_cast<const std::byte*>(text.data()), text.size()});
    }
    // Writes the central directory and the end records. Call once, after the last entry.
    void finish();

private:
    struct Entry {
        std::string name;
        uint64_t headerOffset = 0;
        uint64_t size = 0;
        uint32_t crc = 0;
        bool zip64 = false;
    };

    CheckpointWriter& m_out;
    bool m_forceZip64;
    std::vector<Entry> m_entries;
    bool m_open = false;
    uint64_t m_written = 0;
};

} // namespace brillm
