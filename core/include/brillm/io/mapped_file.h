// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// MappedFile: a whole file mapped into memory, the backing store of zero-copy tensors.
//
// The mapping is private and copy-on-write (MAP_PRIVATE | MAP_NORESERVE): pages are read from
// the file only when touched, so resident memory grows with the pages used, and a write
// through a tensor lands in a private copy of that page, never in the file. Replacing the file
// on disk by rename (as every writer of this project does) leaves an open mapping intact;
// truncating it in place while mapped is undefined behaviour (SIGBUS), as for any mmap.
//
// Held by shared_ptr: tensors made from the mapping keep it alive through their deleters.
// Immutable after construction; safe to share between threads.

#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace brillm {

class MappedFile {
public:
    // Throws CheckpointError naming the file when it cannot be opened, is not a regular file,
    // or cannot be mapped. An empty file gives an empty byte range.
    static std::shared_ptr<const MappedFile> open(const std::string& path);
    // Owns a copy of the bytes in memory; `name` stands in for the path in messages (tests,
    // fuzzers).
    static std::shared_ptr<const MappedFile> fromBytes(std::vector<std::byte> bytes, std::string name);

    ~MappedFile();
    MappedFile(const MappedFile&) = delete;
    MappedFile& operator=(const MappedFile&) = delete;

    std::span<const std::byte> bytes() const { return {m_data, m_size}; }
    size_t size() const { return m_size; }
    // For at::from_blob, which takes a non-const pointer: the pages are copy-on-write.
    std::byte* writableData() const { return m_data; }
    // The path given to open(), or the name given to fromBytes().
    const std::string& path() const { return m_path; }
    // True when backed by a file mapping (not fromBytes).
    bool isMapped() const { return m_mapped; }
    bool contains(const void* p) const {
        const auto* b = static_cast<const std::byte*>(p);
        return m_size != 0 && b >= m_data && b < m_data + m_size;
    }

private:
    MappedFile() = default;

    std::byte* m_data = nullptr;
    size_t m_size = 0;
    bool m_mapped = false;
    std::vector<std::byte> m_owned;
    std::string m_path;
};

} // namespace brillm
