// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// CheckpointWriter: an output file that appears atomically. Every file the program writes
// (models, checkpoints, tokenizers, vocabularies, run-directory records, corpus splits) goes
// through it or through writeFileAtomically below: the one atomic writer.
//
// Bytes go to a temporary file in the target's directory (".NAME.tmp-PID-N", created with
// mode 0666 minus the umask); commit() flushes, fsyncs, renames it over the target and fsyncs
// the directory. Until commit() returns, the target is untouched: an error, an exception or a
// crash part-way leaves the previous file (or none) where it was. The destructor removes the
// temporary file of an uncommitted writer.
//
// Every I/O failure throws CheckpointError naming the target file. Not thread-safe.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace brillm {

class CheckpointWriter {
public:
    explicit CheckpointWriter(std::string path);
    ~CheckpointWriter();
    CheckpointWriter(const CheckpointWriter&) = delete;
    CheckpointWriter& operator=(const CheckpointWriter&) = delete;

    void write(std::span<const std::byte> data);
    void write(const void* data, size_t size) { write({static_cast<const std::byte*>(data), size}); }
    // Overwrites bytes already written (a checksum or size patched in after the data).
    void writeAt(uint64_t offset, std::span<const std::byte> data);
    // Bytes written so far (the offset of the next write()).
    uint64_t position() const { return m_position; }

    // Flushes and fsyncs the temporary file without renaming it: a caller that writes several
    // files syncs them all before committing any (commit() then only renames).
    void sync();
    void commit();

    const std::string& path() const { return m_path; }
    const std::string& tempPath() const { return m_tempPath; }

private:
    void flush();
    void writeAll(const std::byte* p, size_t n, uint64_t offset);
    [[noreturn]] void fail(const std::string& what) const;

    std::string m_path, m_tempPath;
    int m_fd = -1;
    bool m_committed = false;
    uint64_t m_position = 0;
    uint64_t m_flushed = 0; // bytes already in the file
    bool m_synced = false;  // sync() done and nothing written since
    std::vector<std::byte> m_buffer;
};

// Writes `bytes` to `path` atomically (a CheckpointWriter written and committed at once).
void writeFileAtomically(const std::string& path, std::string_view bytes);

} // namespace brillm
