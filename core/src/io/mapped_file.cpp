// SPDX-License-Identifier: GPL-3.0-or-later
#include "brillm/io/mapped_file.h"

#include "brillm/error.h"
#include "brillm/io/input_limits.h"

#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace brillm {

namespace {

std::string sysError(const std::string& what, const std::string& path) {
    return "cannot " + what + " '" + path + "': " + std::strerror(errno);
}

} // namespace

std::shared_ptr<const MappedFile> MappedFile::open(const std::string& path) {
    // one descriptor, opened without blocking and checked with fstat before it is mapped: a FIFO
    // given as a model must fail at once, not wait for a writer
    std::string error;
    const int fd = openRegularFile(path, error);
    if (fd < 0) throw CheckpointError(error);
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
        const std::string msg = sysError("stat", path);
        ::close(fd);
        throw CheckpointError(msg);
    }
    std::shared_ptr<MappedFile> file(new MappedFile());
    file->m_path = path;
    file->m_size = static_cast<size_t>(st.st_size);
    if (file->m_size > 0) {
        void* p = ::mmap(nullptr, file->m_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_NORESERVE, fd, 0);
        if (p == MAP_FAILED) {
            const std::string msg = sysError("map", path);
            ::close(fd);
            throw CheckpointError(msg);
        }
        file->m_data = static_cast<std::byte*>(p);
        file->m_mapped = true;
    }
    ::close(fd); // the mapping stays valid without the descriptor
    return file;
}

std::shared_ptr<const MappedFile> MappedFile::fromBytes(std::vector<std::byte> bytes, std::string name) {
    std::shared_ptr<MappedFile> file(new MappedFile());
    file->m_owned = std::move(bytes);
    file->m_data = file->m_owned.data();
    file->m_size = file->m_owned.size();
    file->m_path = std::move(name);
    return file;
}

MappedFile::~MappedFile() {
    if (m_mapped) ::munmap(m_data, m_size);
}

} // namespace brillm
