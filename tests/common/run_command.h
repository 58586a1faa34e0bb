// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Runs a shell command line for the CLI tests: stdout and stderr together, the exit code
// (-1 when the process died of a signal), output capped so that a runaway command cannot
// exhaust the test's memory.
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <string>

namespace brillm::test {

struct CommandResult {
    int code = -1;
    std::string out; // stdout and stderr together
};

inline CommandResult runCommand(const std::string& commandLine, size_t maxOutput = size_t{1} << 24) {
    CommandResult r;
    FILE* p = ::popen((commandLine + " 2>&1").c_str(), "r");
    if (!p) return r;
    std::array<char, 4096> buf{};
    size_t n;
    while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0)
        if (r.out.size() < maxOutput) r.out.append(buf.data(), n);
    const int status = ::pclose(p);
    r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return r;
}

// A path quoted for the shell (single quotes; a quote inside is closed, escaped and reopened).
inline std::string shellQuote(const std::string& s) {
    std::string q = "'";
    for (const char c : s)
        q += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return q + "'";
}

} // namespace brillm::test
