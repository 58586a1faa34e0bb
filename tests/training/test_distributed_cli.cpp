// SPDX-License-Identifier: GPL-3.0-or-later
// Data-parallel training with processes of the brillm executable: the local launcher, the
// torchrun contract, and ranks that die or hang.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "brillm/training/distributed.h"

#include <chrono>
#include <csignal>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <random>
#include <spawn.h>
#include <sstream>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

extern char** environ;

namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;

struct Process {
    pid_t pid = -1;
    fs::path err;
};

// Starts brillm with `args`, extra environment entries, stdout to /dev/null and stderr to errFile.
Process start(const std::vector<std::string>& args, const std::vector<std::string>& extraEnv, const fs::path& errFile) {
    std::vector<std::string> argv{BRILLM_CLI};
    argv.insert(argv.end(), args.begin(), args.end());
    std::vector<std::string> env;
    for (char** e = environ; *e; ++e)
        env.emplace_back(*e);
    env.insert(env.end(), extraEnv.begin(), extraEnv.end());
    std::vector<char*> a, e;
    for (auto& s : argv)
        a.push_back(s.data());
    a.push_back(nullptr);
    for (auto& s : env)
        e.push_back(s.data());
    e.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, errFile.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    Process p;
    p.err = errFile;
    const int rc = posix_spawn(&p.pid, BRILLM_CLI, &fa, nullptr, a.data(), e.data());
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) throw std::runtime_error("cannot start " + std::string(BRILLM_CLI));
    return p;
}

// Waits at most `seconds`; returns the wait status, or nullopt on timeout (the process is then killed).
std::optional<int> waitFor(pid_t pid, double seconds) {
    const auto end = Clock::now() + std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
    while (Clock::now() < end) {
        int status = 0;
        if (::waitpid(pid, &status, WNOHANG) == pid) return status;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    return std::nullopt;
}

std::string readAll(const fs::path& p) {
    std::ifstream in(p);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

int countSteps(const fs::path& metrics) {
    std::ifstream in(metrics);
    std::string line;
    int n = 0;
    while (std::getline(in, line))
        n += line.find("\"type\":\"step\"") != std::string::npos;
    return n;
}

bool waitForSteps(const fs::path& metrics, int steps, double seconds) {
    const auto end = Clock::now() + std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
    while (Clock::now() < end) {
        if (countSteps(metrics) >= steps) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
}

// The launcher's worker that got RANK=rank (-1 when none).
pid_t workerOfRank(pid_t launcher, int rank) {
    std::ifstream in("/proc/" + std::to_string(launcher) + "/task/" + std::to_string(launcher) + "/children");
    pid_t c;
    while (in >> c) {
        std::string env(1, '\0');
        env += readAll("/proc/" + std::to_string(c) + "/environ");
        std::string key("\0RANK=", 6);
        key += std::to_string(rank);
        key.push_back('\0');
        if (env.find(key) != std::string::npos) return c;
    }
    return -1;
}

class DistributedCliTest : public ::testing::Test {
protected:
    void SetUp() override {
        m_dir = fs::temp_directory_path() / ("brillm-dist-cli-" + std::to_string(::getpid()) + "-" +
                                             ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::remove_all(m_dir);
        fs::create_directories(m_dir);
        std::mt19937 rng(3);
        const char* words[] = {"the cat", "a dog", "sees", "likes", "the house.", "a tree.", "my friend", "waits for"};
        std::ofstream out(m_dir / "corpus.txt");
        for (int i = 0; i < 200; ++i)
            out << words[rng() % 8] << ' ' << words[rng() % 8] << ' ' << words[rng() % 8] << '\n';
    }
    void TearDown() override { fs::remove_all(m_dir); }

    std::vector<std::string> trainArgs(const std::string& out, int steps) const {
        return {"train",
                "--corpus",
                (m_dir / "corpus.txt").string(),
                "--out",
                (m_dir / out).string(),
                "--vocab-size",
                "64",
                "--dim",
                "8",
                "--max-seq-length",
                "12",
                "--batch",
                "4",
                "--negatives",
                "6",
                "--steps",
                std::to_string(steps),
                "--eval-every",
                "0",
                "--checkpoint-every",
                "5",
                "--threads",
                "1",
                "--quiet",
                "--dist-timeout",
                "5"};
    }
    fs::path m_dir;
};

} // namespace

TEST_F(DistributedCliTest, NprocPerNodeTrainsAndAnotherRankCountResumes) {
    auto args = trainArgs("run", 10);
    args.insert(args.end(), {"--nproc-per-node", "2"});
    auto p = start(args, {}, m_dir / "err.txt");
    const auto status = waitFor(p.pid, 120);
    ASSERT_TRUE(status.has_value()) << "timed out";
    ASSERT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << readAll(p.err);
    EXPECT_TRUE(fs::exists(m_dir / "run" / "model.brillm"));
    std::ifstream in(m_dir / "run" / "metrics.jsonl");
    std::string line;
    int steps = 0;
    while (std::getline(in, line)) {
        const auto j = nlohmann::json::parse(line);
        if (j.at("type") != "step") continue;
        ++steps;
        EXPECT_EQ(j.at("world_size"), 2);
        EXPECT_EQ(j.at("ranks").size(), 2u);
        EXPECT_LT(j.at("exchange_bytes").get<uint64_t>(), j.at("dense_bytes").get<uint64_t>());
    }
    EXPECT_EQ(steps, 10);
    // rank 1 printed nothing: the only output is rank 0's summary
    EXPECT_EQ(readAll(p.err).find("rank 1"), std::string::npos) << readAll(p.err);

    // one process continues the run to 14 steps
    p = start({"train", "--resume", (m_dir / "run").string(), "--steps", "14", "--quiet"}, {}, m_dir / "err2.txt");
    const auto resumed = waitFor(p.pid, 120);
    ASSERT_TRUE(resumed && WIFEXITED(*resumed) && WEXITSTATUS(*resumed) == 0) << readAll(p.err);
    EXPECT_EQ(countSteps(m_dir / "run" / "metrics.jsonl"), 14);
}

TEST_F(DistributedCliTest, NprocPerNodeOneTrainsOneRankThroughTheProcessGroup) {
    auto args = trainArgs("run", 4);
    args.insert(args.end(), {"--nproc-per-node", "1", "--dist-backend", "gloo"});
    auto p = start(args, {}, m_dir / "err.txt");
    const auto status = waitFor(p.pid, 120);
    ASSERT_TRUE(status.has_value()) << "timed out";
    ASSERT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << readAll(p.err);
    std::ifstream in(m_dir / "run" / "metrics.jsonl");
    std::string line;
    int steps = 0;
    while (std::getline(in, line)) {
        const auto j = nlohmann::json::parse(line);
        if (j.at("type") != "step") continue;
        ++steps;
        EXPECT_EQ(j.at("world_size"), 1); // the metrics of a distributed run: it went through the communicator
        EXPECT_GT(j.at("exchange_bytes").get<uint64_t>(), 0u);
    }
    EXPECT_EQ(steps, 4);
}

TEST_F(DistributedCliTest, AKilledRankMakesTheOtherExitWithAnErrorWithinTheTimeout) {
    const int port = brillm::training::findFreePort();
    std::vector<Process> ranks;
    for (int r = 0; r < 2; ++r)
        ranks.push_back(start(trainArgs("run", 100000),
                              {"RANK=" + std::to_string(r), "WORLD_SIZE=2", "LOCAL_RANK=" + std::to_string(r),
                               "LOCAL_WORLD_SIZE=2", "MASTER_ADDR=127.0.0.1", "MASTER_PORT=" + std::to_string(port)},
                              m_dir / ("err" + std::to_string(r) + ".txt")));
    ASSERT_TRUE(waitForSteps(m_dir / "run" / "metrics.jsonl", 3, 120))
        << readAll(ranks[0].err) << readAll(ranks[1].err);
    ::kill(ranks[1].pid, SIGKILL);
    const auto t0 = Clock::now();
    const auto status = waitFor(ranks[0].pid, 30);
    const double waited = std::chrono::duration<double>(Clock::now() - t0).count();
    ::waitpid(ranks[1].pid, nullptr, 0);
    ASSERT_TRUE(status.has_value()) << "rank 0 still ran 30 s after rank 1 was killed";
    EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) != 0);
    EXPECT_LT(waited, 5.0 + 5.0) << "--dist-timeout is 5 s";
    const auto err = readAll(ranks[0].err);
    EXPECT_NE(err.find("rank 0 of 2"), std::string::npos) << err;
    EXPECT_NE(err.find("at step"), std::string::npos) << err;
}

TEST_F(DistributedCliTest, AHungRankMakesTheOtherExitWithinTheTimeout) {
    const int port = brillm::training::findFreePort();
    std::vector<Process> ranks;
    for (int r = 0; r < 2; ++r)
        ranks.push_back(start(trainArgs("run", 100000),
                              {"RANK=" + std::to_string(r), "WORLD_SIZE=2", "MASTER_ADDR=127.0.0.1",
                               "MASTER_PORT=" + std::to_string(port)},
                              m_dir / ("err" + std::to_string(r) + ".txt")));
    ASSERT_TRUE(waitForSteps(m_dir / "run" / "metrics.jsonl", 3, 120))
        << readAll(ranks[0].err) << readAll(ranks[1].err);
    ::kill(ranks[1].pid, SIGSTOP); // alive, sockets open, silent
    const auto t0 = Clock::now();
    const auto status = waitFor(ranks[0].pid, 30);
    const double waited = std::chrono::duration<double>(Clock::now() - t0).count();
    ::kill(ranks[1].pid, SIGKILL);
    ::waitpid(ranks[1].pid, nullptr, 0);
    ASSERT_TRUE(status.has_value()) << "rank 0 still ran 30 s after rank 1 stopped answering";
    EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) != 0);
    EXPECT_LT(waited, 5.0 + 5.0) << "--dist-timeout is 5 s, and 2 s to find the silent rank";
    EXPECT_NE(readAll(ranks[0].err).find("rank 0 of 2"), std::string::npos) << readAll(ranks[0].err);
    // issue 18: the failure named rank 0 only; the heartbeats name the rank that went silent
    EXPECT_NE(readAll(ranks[0].err).find("rank 1 went silent"), std::string::npos) << readAll(ranks[0].err);
}

TEST_F(DistributedCliTest, TheLauncherStopsTheJobAndNamesTheFailedRank) {
    auto args = trainArgs("run", 100000);
    args.insert(args.end(), {"--nproc-per-node", "2"});
    auto p = start(args, {}, m_dir / "err.txt");
    ASSERT_TRUE(waitForSteps(m_dir / "run" / "metrics.jsonl", 6, 120)) << readAll(p.err); // a checkpoint at 5
    const pid_t rank1 = workerOfRank(p.pid, 1);
    ASSERT_GT(rank1, 0);
    ::kill(rank1, SIGKILL);
    const auto status = waitFor(p.pid, 30);
    ASSERT_TRUE(status.has_value()) << "the launcher did not stop";
    EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) != 0);
    const auto err = readAll(p.err);
    EXPECT_NE(err.find("rank 1 of 2 was killed by signal 9"), std::string::npos) << err;
    // the run can go on from its last checkpoint, here with one process
    ASSERT_TRUE(fs::exists(m_dir / "run" / "latest")) << err;
}

namespace {

// A process that is gone or a zombie waiting for init to reap it: either way it trains no more.
bool processGone(pid_t pid) {
    if (::kill(pid, 0) != 0) return true;
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string stat;
    std::getline(in, stat);
    const auto close = stat.rfind(')');
    return close == std::string::npos || (close + 2 < stat.size() && stat[close + 2] == 'Z');
}

} // namespace

// issue 18: a launcher killed outright took none of its ranks with it; they trained to the end.
TEST_F(DistributedCliTest, RanksDieWithAKilledLauncher) {
    auto args = trainArgs("run", 100000);
    args.insert(args.end(), {"--nproc-per-node", "2"});
    auto p = start(args, {}, m_dir / "err.txt");
    ASSERT_TRUE(waitForSteps(m_dir / "run" / "metrics.jsonl", 2, 120)) << readAll(p.err);
    const pid_t rank0 = workerOfRank(p.pid, 0), rank1 = workerOfRank(p.pid, 1);
    ASSERT_GT(rank0, 0);
    ASSERT_GT(rank1, 0);
    ::kill(p.pid, SIGKILL);
    ::waitpid(p.pid, nullptr, 0);
    const auto end = Clock::now() + std::chrono::seconds(5);
    while (Clock::now() < end && !(processGone(rank0) && processGone(rank1)))
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    const bool gone0 = processGone(rank0), gone1 = processGone(rank1);
    if (!gone0) ::kill(rank0, SIGKILL);
    if (!gone1) ::kill(rank1, SIGKILL);
    EXPECT_TRUE(gone0) << "rank 0 still runs 5 s after its launcher was killed";
    EXPECT_TRUE(gone1) << "rank 1 still runs 5 s after its launcher was killed";
}

// issue 18: two writers of one run directory interleaved metrics.jsonl and crashed on rename.
TEST_F(DistributedCliTest, ASecondWriterOfARunIsRefusedWithTheHoldersPid) {
    auto first = start(trainArgs("run", 100000), {}, m_dir / "err1.txt");
    ASSERT_TRUE(waitForSteps(m_dir / "run" / "metrics.jsonl", 6, 120)) << readAll(first.err); // a checkpoint at 5
    auto second = start({"train", "--resume", (m_dir / "run").string(), "--quiet"}, {}, m_dir / "err2.txt");
    const auto status = waitFor(second.pid, 30);
    ::kill(first.pid, SIGKILL);
    ::waitpid(first.pid, nullptr, 0);
    ASSERT_TRUE(status.has_value()) << "the second writer did not stop";
    EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) != 0);
    const auto err = readAll(second.err);
    EXPECT_NE(err.find("in use by another brillm train (pid " + std::to_string(first.pid)), std::string::npos) << err;
    char host[256] = {};
    ::gethostname(host, sizeof host - 1);
    EXPECT_NE(err.find(std::string("on host ") + host), std::string::npos) << err;
    // the lock went with its holder: now a resume may continue the run
    const auto latest = readAll(m_dir / "run" / "latest"); // step-NNNNNNNN
    ASSERT_GT(latest.size(), 5u);
    const int done = std::stoi(latest.substr(5));
    auto third = start({"train", "--resume", (m_dir / "run").string(), "--steps", std::to_string(done + 2), "--quiet"},
                       {}, m_dir / "err3.txt");
    const auto st3 = waitFor(third.pid, 60);
    ASSERT_TRUE(st3.has_value());
    EXPECT_TRUE(WIFEXITED(*st3) && WEXITSTATUS(*st3) == 0) << readAll(third.err);
}

// issue 18: --out into a non-empty directory that held no run replaced its model.brillm and
// appended to its metrics.jsonl.
TEST_F(DistributedCliTest, TrainRefusesANonEmptyDirectoryThatIsNoRun) {
    fs::create_directories(m_dir / "other");
    { std::ofstream(m_dir / "other" / "model.brillm") << "precious"; }
    auto p = start(trainArgs("other", 3), {}, m_dir / "err.txt");
    const auto status = waitFor(p.pid, 60);
    ASSERT_TRUE(status.has_value());
    EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) != 0);
    const auto err = readAll(p.err);
    EXPECT_NE(err.find("is not empty and holds no training run"), std::string::npos) << err;
    EXPECT_EQ(readAll(m_dir / "other" / "model.brillm"), "precious");
    EXPECT_FALSE(fs::exists(m_dir / "other" / "config.json"));
    EXPECT_FALSE(fs::exists(m_dir / "other" / "metrics.jsonl"));
}

// issue 18: a start that failed before its first step left config.json, metrics.jsonl and
// checkpoints/ behind, and then both a rerun and --resume refused the directory.
TEST_F(DistributedCliTest, AFailedStartLeavesNothingBehindAndARerunWorks) {
    auto args = trainArgs("runs/new", 3);
    args[2] = (m_dir / "missing.txt").string(); // --corpus
    auto p = start(args, {}, m_dir / "err.txt");
    auto status = waitFor(p.pid, 60);
    ASSERT_TRUE(status.has_value());
    EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) != 0);
    EXPECT_NE(readAll(p.err).find("missing.txt"), std::string::npos) << readAll(p.err);
    EXPECT_FALSE(fs::exists(m_dir / "runs")) << "the failed start left its directory";
    // an option out of range: refused before anything is written
    args = trainArgs("runs/new", 3);
    args.insert(args.end(), {"--held-out", "nan"});
    p = start(args, {}, m_dir / "err2.txt");
    status = waitFor(p.pid, 60);
    ASSERT_TRUE(status.has_value());
    EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) != 0);
    EXPECT_NE(readAll(p.err).find("--held-out must be a fraction in [0, 1)"), std::string::npos) << readAll(p.err);
    EXPECT_FALSE(fs::exists(m_dir / "runs"));
    // the same --out, now with the corpus: trains
    p = start(trainArgs("runs/new", 3), {}, m_dir / "err3.txt");
    status = waitFor(p.pid, 120);
    ASSERT_TRUE(status.has_value());
    EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << readAll(p.err);
    EXPECT_TRUE(fs::exists(m_dir / "runs" / "new" / "model.brillm"));
}

// issue 18: `--resume RUN --lr 0.1` exited 0 and trained with the old rate. Settings a resume does
// not apply are refused, naming the option, before anything runs.
TEST_F(DistributedCliTest, AResumeRefusesSettingsItWouldNotApply) {
    auto p = start(trainArgs("run", 2), {}, m_dir / "err.txt");
    auto status = waitFor(p.pid, 120);
    ASSERT_TRUE(status.has_value() && WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << readAll(p.err);
    const auto metricsBefore = readAll(m_dir / "run" / "metrics.jsonl");
    for (const auto& extra : {std::vector<std::string>{"--lr", "0.1"}, {"--eval-every", "3"}, {"--batch", "8"}}) {
        std::vector<std::string> args{"train", "--resume", (m_dir / "run").string(), "--steps", "4", "--quiet"};
        args.insert(args.end(), extra.begin(), extra.end());
        auto r = start(args, {}, m_dir / "err2.txt");
        status = waitFor(r.pid, 60);
        ASSERT_TRUE(status.has_value());
        EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) != 0) << extra[0];
        EXPECT_NE(readAll(r.err).find(extra[0] + " cannot change on --resume"), std::string::npos) << readAll(r.err);
    }
    EXPECT_EQ(readAll(m_dir / "run" / "metrics.jsonl"), metricsBefore); // nothing ran
}
