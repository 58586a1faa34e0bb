// SPDX-License-Identifier: GPL-3.0-or-later
#include "brillm/io/input_limits.h"

#include <cerrno>
#include <cstring>
#include <sstream>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace brillm {

std::string jsonDepthProblem(std::string_view text, size_t maxDepth) {
    size_t depth = 0;
    bool inString = false;
    for (size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (inString) {
            if (c == '\\')
                ++i; // the escaped character cannot end the string
            else if (c == '"')
                inString = false;
            continue;
        }
        if (c == '"') {
            inString = true;
        } else if (c == '[' || c == '{') {
            if (++depth > maxDepth)
                return "JSON nests deeper than " + std::to_string(maxDepth) + " levels (at byte " + std::to_string(i) +
                       ")";
        } else if ((c == ']' || c == '}') && depth > 0) {
            --depth;
        }
    }
    return "";
}

namespace {

const char* kindOf(mode_t m) {
    if (S_ISDIR(m)) return "a directory";
    if (S_ISFIFO(m)) return "a FIFO";
    if (S_ISCHR(m)) return "a character device";
    if (S_ISBLK(m)) return "a block device";
    if (S_ISSOCK(m)) return "a socket";
    return "not a plain file";
}

// (an ostringstream: GCC 12 warns falsely about std::string concatenations with to_string here)
std::string tooLarge(const std::string& path, size_t maxBytes) {
    std::ostringstream s;
    s << "'" << path << "' is larger than the " << maxBytes << " bytes this file may have";
    return s.str();
}

} // namespace

int openRegularFile(const std::string& path, std::string& error) {
    // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        error = "cannot open '" + path + "': " + std::strerror(errno);
        return -1;
    }
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
        error = "cannot stat '" + path + "': " + std::strerror(errno);
        ::close(fd);
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        error = "'" + path + "' is not a regular file (" + kindOf(st.st_mode) + ")";
        ::close(fd);
        return -1;
    }
    // regular files ignore O_NONBLOCK, but clear it so the descriptor reads as usual
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    return fd;
}

bool readRegularFile(const std::filesystem::path& path, std::string& out, std::string& error, size_t maxBytes) {
    const int fd = openRegularFile(path.string(), error);
    if (fd < 0) return false;
    struct stat st {};
    if (::fstat(fd, &st) != 0 || static_cast<uint64_t>(st.st_size) > maxBytes) {
        error = tooLarge(path.string(), maxBytes);
        ::close(fd);
        return false;
    }
    out.clear();
    out.reserve(static_cast<size_t>(st.st_size));
    char buf[1 << 16];
    for (;;) {
        const ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            error = "cannot read '" + path.string() + "': " + std::strerror(errno);
            ::close(fd);
            return false;
        }
        if (n == 0) break;
        if (out.size() + static_cast<size_t>(n) > maxBytes) { // grew while being read
            error = tooLarge(path.string(), maxBytes);
            ::close(fd);
            return false;
        }
        out.append(buf, static_cast<size_t>(n));
    }
    ::close(fd);
    return true;
}

} // namespace brillm
