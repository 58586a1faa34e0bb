// SPDX-License-Identifier: GPL-3.0-or-later
#include "launcher.h"

#include "brillm/error.h"
#include "brillm/training/distributed.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <iostream>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

extern char** environ;

namespace brillm::cli {

namespace {

volatile std::sig_atomic_t g_forward = 0; // the last signal to forward to the workers

void onSignal(int sig) {
    g_forward = sig;
}

std::string selfExecutable() {
    std::string path(4096, '\0');
    const ssize_t n = ::readlink("/proc/self/exe", path.data(), path.size() - 1);
    if (n <= 0) throw Error(std::string("cannot find this executable (/proc/self/exe): ") + std::strerror(errno));
    path.resize(static_cast<size_t>(n));
    return path;
}

std::string describeStatus(int status) {
    if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
    if (WIFSIGNALED(status))
        return std::string("was killed by signal ") + std::to_string(WTERMSIG(status)) + " (" +
               strsignal(WTERMSIG(status)) + ")";
    return "stopped (status " + std::to_string(status) + ")";
}

bool isLaunchVariable(const char* entry) {
    for (const char* name :
         {"RANK=", "WORLD_SIZE=", "LOCAL_RANK=", "LOCAL_WORLD_SIZE=", "MASTER_ADDR=", "MASTER_PORT="})
        if (std::strncmp(entry, name, std::strlen(name)) == 0) return true;
    return false;
}

} // namespace

int launchLocalWorkers(int workers, const std::vector<std::string>& arguments, double graceSeconds) {
    const std::string exe = selfExecutable();
    const int port = training::findFreePort();

    struct sigaction sa {};
    sa.sa_handler = onSignal;
    sigemptyset(&sa.sa_mask);
    struct sigaction oldInt {
    }, oldTerm{};
    sigaction(SIGINT, &sa, &oldInt);
    sigaction(SIGTERM, &sa, &oldTerm);

    std::vector<pid_t> pids(static_cast<size_t>(workers), -1);
    std::vector<bool> alive(static_cast<size_t>(workers), false);
    const auto signalAll = [&](int sig) {
        for (size_t r = 0; r < pids.size(); ++r)
            if (alive[r]) ::kill(pids[r], sig);
    };

    for (int r = 0; r < workers; ++r) {
        std::vector<std::string> env;
        for (char** e = environ; *e; ++e)
            if (!isLaunchVariable(*e)) env.emplace_back(*e);
        env.push_back("RANK=" + std::to_string(r));
        env.push_back("WORLD_SIZE=" + std::to_string(workers));
        env.push_back("LOCAL_RANK=" + std::to_string(r));
        env.push_back("LOCAL_WORLD_SIZE=" + std::to_string(workers));
        env.push_back("MASTER_ADDR=127.0.0.1");
        env.push_back("MASTER_PORT=" + std::to_string(port));
        std::vector<std::string> argv{exe};
        argv.insert(argv.end(), arguments.begin(), arguments.end());
        std::vector<char*> cargv, cenv;
        for (auto& a : argv)
            cargv.push_back(a.data());
        cargv.push_back(nullptr);
        for (auto& e : env)
            cenv.push_back(e.data());
        cenv.push_back(nullptr);
        // fork + exec rather than posix_spawn: the rank must ask for PR_SET_PDEATHSIG before it
        // runs, so that a launcher killed outright (SIGKILL, OOM killer) takes its ranks with it
        // instead of leaving them to train on and hold the run directory. SIGKILL, not SIGTERM:
        // without the launcher nobody would stop a rank that waits in a collective for one that
        // already died. Checkpoints are atomic, so the run resumes from `latest`. The setting
        // survives exec. Between fork and exec only async-signal-safe calls.
        const pid_t parent = ::getpid();
        const pid_t pid = ::fork();
        if (pid == 0) {
            if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) ::_exit(127);
            // the launcher may have died before prctl: then the rank was already re-parented
            if (::getppid() != parent) ::_exit(128 + SIGKILL);
            ::execve(exe.c_str(), cargv.data(), cenv.data());
            ::_exit(127);
        }
        if (pid < 0) {
            const int err = errno;
            signalAll(SIGKILL);
            for (size_t q = 0; q < pids.size(); ++q)
                if (alive[q]) ::waitpid(pids[q], nullptr, 0);
            throw Error("cannot start rank " + std::to_string(r) + " (" + exe + "): " + std::strerror(err));
        }
        pids[static_cast<size_t>(r)] = pid;
        alive[static_cast<size_t>(r)] = true;
    }

    const std::string name = "brillm" + (arguments.empty() ? std::string() : " " + arguments[0]);
    using Clock = std::chrono::steady_clock;
    int running = workers, failedRank = -1, failedStatus = 0, worstExit = 0;
    bool forwarded = false;
    bool killPending = false;
    Clock::time_point killAt{};
    while (running > 0) {
        if (const int sig = g_forward; sig != 0) {
            g_forward = 0;
            forwarded = true;
            signalAll(sig);
        }
        if (killPending && Clock::now() >= killAt) {
            signalAll(SIGKILL);
            killPending = false;
        }
        int status = 0;
        const pid_t pid = ::waitpid(-1, &status, WNOHANG);
        if (pid == 0 || (pid < 0 && errno == EINTR)) {
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
            continue;
        }
        if (pid < 0) break; // no children left
        int rank = -1;
        for (size_t r = 0; r < pids.size(); ++r)
            if (pids[r] == pid && alive[r]) rank = static_cast<int>(r);
        if (rank < 0) continue;
        alive[static_cast<size_t>(rank)] = false;
        --running;
        const bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
        if (WIFEXITED(status)) worstExit = std::max(worstExit, WEXITSTATUS(status));
        if (!ok && failedRank < 0 && !forwarded) {
            failedRank = rank;
            failedStatus = status;
            if (running > 0) {
                std::cerr << name << ": rank " << rank << " of " << workers << ' ' << describeStatus(status)
                          << "; stopping the other ranks\n";
                signalAll(SIGTERM);
                killPending = true;
                killAt = Clock::now() + std::chrono::milliseconds(static_cast<int64_t>(graceSeconds * 1000));
            }
        }
    }
    sigaction(SIGINT, &oldInt, nullptr);
    sigaction(SIGTERM, &oldTerm, nullptr);
    if (failedRank >= 0) {
        std::cerr << name << ": failed: rank " << failedRank << " of " << workers << ' ' << describeStatus(failedStatus)
                  << "; resume the run from its last checkpoint with --resume (any number of ranks)\n";
        return WIFEXITED(failedStatus) && WEXITSTATUS(failedStatus) != 0 ? WEXITSTATUS(failedStatus) : 1;
    }
    return worstExit;
}

} // namespace brillm::cli
