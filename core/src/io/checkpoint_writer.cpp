// SPDX-License-Identifier: GPL-3.0-or-later
#include "brillm/io/checkpoint_writer.h"

#include "brillm/error.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace brillm {

namespace {

constexpr size_t kBufferSize = size_t{1} << 20;
std::atomic<uint64_t> g_tempCounter{0};

} // namespace

CheckpointWriter::CheckpointWriter(std::string path) : m_path(std::move(path)) {
    const std::filesystem::path target(m_path);
    if (target.filename().empty()) throw CheckpointError("cannot write '" + m_path + "': not a file name");
    const std::filesystem::path dir = target.parent_path();
    for (int attempt = 0; attempt < 100 && m_fd < 0; ++attempt) {
        std::string name(1, '.');
        name += target.filename().string();
        name += ".tmp-";
        name += std::to_string(::getpid());
        name += '-';
        name += std::to_string(g_tempCounter.fetch_add(1));
        m_tempPath = (dir / name).string();
        m_fd = ::open(m_tempPath.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (m_fd < 0 && errno != EEXIST)
            throw CheckpointError("cannot write '" + m_path + "': cannot create a temporary file in '" +
                                  (dir.empty() ? std::string(".") : dir.string()) + "': " + std::strerror(errno));
    }
    if (m_fd < 0) throw CheckpointError("cannot write '" + m_path + "': no free temporary file name");
    m_buffer.reserve(kBufferSize);
}

CheckpointWriter::~CheckpointWriter() {
    if (m_fd >= 0) ::close(m_fd);
    if (!m_committed && !m_tempPath.empty()) ::unlink(m_tempPath.c_str());
}

void CheckpointWriter::fail(const std::string& what) const {
    throw CheckpointError("cannot write '" + m_path + "': " + what + ": " + std::strerror(errno));
}

void CheckpointWriter::writeAll(const std::byte* p, size_t n, uint64_t offset) {
    while (n > 0) {
        const ssize_t w = ::pwrite(m_fd, p, std::min(n, size_t{1} << 30), static_cast<off_t>(offset));
        if (w < 0) {
            if (errno == EINTR) continue;
            fail("write failed");
        }
        if (w == 0) {
            errno = EIO;
            fail("write made no progress");
        }
        p += w;
        n -= static_cast<size_t>(w);
        offset += static_cast<uint64_t>(w);
    }
}

void CheckpointWriter::flush() {
    if (m_buffer.empty()) return;
    writeAll(m_buffer.data(), m_buffer.size(), m_flushed);
    m_flushed += m_buffer.size();
    m_buffer.clear();
}

void CheckpointWriter::write(std::span<const std::byte> data) {
    if (m_committed || m_fd < 0) throw CheckpointError("cannot write '" + m_path + "': already committed");
    m_synced = false;
    if (m_buffer.size() + data.size() <= kBufferSize) {
        m_buffer.insert(m_buffer.end(), data.begin(), data.end());
    } else {
        flush();
        if (data.size() < kBufferSize) {
            m_buffer.insert(m_buffer.end(), data.begin(), data.end());
        } else {
            writeAll(data.data(), data.size(), m_flushed);
            m_flushed += data.size();
        }
    }
    m_position += data.size();
}

void CheckpointWriter::writeAt(uint64_t offset, std::span<const std::byte> data) {
    if (m_committed || m_fd < 0) throw CheckpointError("cannot write '" + m_path + "': already committed");
    if (offset + data.size() > m_position || offset + data.size() < offset)
        throw CheckpointError("cannot write '" + m_path + "': patch beyond the bytes written");
    flush();
    m_synced = false;
    writeAll(data.data(), data.size(), offset);
}

void CheckpointWriter::sync() {
    if (m_committed || m_fd < 0) throw CheckpointError("cannot write '" + m_path + "': already committed");
    flush();
    if (::fsync(m_fd) != 0) fail("fsync failed");
    m_synced = true;
}

void CheckpointWriter::commit() {
    if (!m_synced) sync();
    if (::close(m_fd) != 0) {
        m_fd = -1;
        fail("close failed");
    }
    m_fd = -1;
    if (::rename(m_tempPath.c_str(), m_path.c_str()) != 0) fail("cannot rename the temporary file into place");
    m_committed = true;
    // Make the rename itself durable; a failure here no longer endangers the data.
    std::filesystem::path dir = std::filesystem::path(m_path).parent_path();
    if (dir.empty()) dir = std::filesystem::current_path();
    const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        ::fsync(dfd);
        ::close(dfd);
    }
}

void writeFileAtomically(const std::string& path, std::string_view bytes) {
    CheckpointWriter out(path);
    out.write(bytes.data(), bytes.size());
    out.commit();
}

} // namespace brillm
