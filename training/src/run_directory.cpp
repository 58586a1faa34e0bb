// SPDX-License-Identifier: GPL-3.0-or-later
#include "brillm/training/run_directory.h"

#include "brillm/error.h"
#include "brillm/io/checkpoint_writer.h"
#include "brillm/io/input_limits.h"
#include "brillm/io/mapped_file.h"
#include "brillm/io/safetensors.h"
#include "io/detail/checkpoint_chunks.h" // a tensor streamed to a file in chunks (brillm_core_internal)

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

namespace fs = std::filesystem;

namespace brillm::training {

namespace {

// A run's JSON files (config.json, state.json, latest): small, regular, shallow.
std::string readText(const fs::path& p) {
    std::string text, error;
    if (!readRegularFile(p, text, error, size_t{16} << 20))
        throw InputError("cannot read " + p.string() + ": " + error);
    if (const auto deep = jsonDepthProblem(text, 32); !deep.empty()) throw InputError(p.string() + ": " + deep);
    return text;
}

std::string checkpointName(int64_t step) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "step-%08lld", static_cast<long long>(step));
    return buf;
}

} // namespace

void writeOptimizerFile(const fs::path& path, const std::vector<std::pair<std::string, at::Tensor>>& state,
                        const std::string& optimizerName) {
    std::vector<SafetensorsEntry> entries;
    for (const auto& [name, t] : state) {
        SafetensorsEntry e;
        e.name = name;
        e.dtype = toStorageDtype(t.scalar_type());
        e.shape = t.sizes().vec();
        entries.push_back(e);
    }
    const std::string prefix =
        SafetensorsHeader::serialize(entries, {{"format", "brillm-optimizer"}, {"optimizer", optimizerName}});
    CheckpointWriter out(path.string());
    out.write(prefix.data(), prefix.size());
    // serialize() may reorder nothing: entries keep their order, laid out contiguously
    // each tensor in chunks of a few MB, copied to the host chunk by chunk where it lives on a GPU
    for (const auto& [name, t] : state)
        brillm::detail::forEachChunk(t, t.scalar_type(), [&](const void* p, size_t bytes) { out.write(p, bytes); });
    out.commit();
}

std::vector<std::pair<std::string, at::Tensor>> readOptimizerFile(const fs::path& path) {
    const auto mapping = MappedFile::open(path.string());
    const auto header = SafetensorsHeader::parse(mapping->bytes(), path.string());
    std::vector<std::pair<std::string, at::Tensor>> out;
    for (const auto& e : header.entries) {
        const auto bytes = header.bytesOf(e, mapping->bytes());
        auto t = at::empty(e.shape, at::TensorOptions().dtype(toScalarType(e.dtype)));
        if (static_cast<size_t>(t.numel()) * t.element_size() != bytes.size())
            throw CheckpointError(path.string() + ": tensor '" + e.name + "' has the wrong size");
        std::memcpy(t.data_ptr(), bytes.data(), bytes.size());
        out.emplace_back(e.name, t);
    }
    return out;
}

namespace {

// A directory holds no run and nothing else when it has no entries but a stale .lock.
bool isEmptyDirectory(const fs::path& dir) {
    std::error_code ec;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
        if (it->path().filename() != ".lock") return false;
    return !ec;
}

void refuseUnusable(const fs::path& dir) {
    std::error_code ec;
    if (!fs::exists(dir, ec)) return;
    if (!fs::is_directory(dir, ec))
        throw InputError("'" + dir.string() +
                         "' exists and is not a directory; give a new or empty directory as --out");
    if (fs::exists(dir / "config.json", ec))
        throw InputError("'" + dir.string() + "' already holds a training run; resume it with --resume " +
                         dir.string() + " or choose another directory");
    if (!isEmptyDirectory(dir))
        throw InputError("'" + dir.string() +
                         "' is not empty and holds no training run (no config.json): its files would be overwritten; "
                         "give a new or empty directory as --out (or --resume DIR for an existing run)");
}

// The identity a lock holder writes into RUN_DIR/.lock, shown to a refused second writer.
std::string lockHolderText() {
    char host[256] = {};
    if (::gethostname(host, sizeof host - 1) != 0) std::strcpy(host, "unknown");
    return std::to_string(::getpid()) + " " + host + "\n";
}

// Takes the exclusive lock of a run directory without waiting (a second writer must fail, not
// queue behind a run that may last days). Returns the descriptor that holds it.
int takeLock(const fs::path& dir) {
    const auto path = dir / ".lock";
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0) throw InputError("cannot open the lock file " + path.string() + ": " + std::strerror(errno));
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
        const int err = errno;
        char buf[300] = {};
        const ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
        ::close(fd);
        if (err != EWOULDBLOCK) throw InputError("cannot lock " + path.string() + ": " + std::strerror(err));
        std::string holder = "another process";
        std::istringstream in(std::string(buf, n > 0 ? static_cast<size_t>(n) : 0));
        long long pid = 0;
        std::string host;
        if (in >> pid >> host) holder = "pid " + std::to_string(pid) + " on host " + host;
        throw InputError("the run directory '" + dir.string() + "' is in use by another brillm train (" + holder +
                         ", lock " + path.string() + "); wait for it to end or stop it, or use another directory");
    }
    const std::string me = lockHolderText();
    // best effort: the flock is the lock, the text only names its holder
    if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, me.data(), me.size(), 0) != static_cast<ssize_t>(me.size())) {
    }
    return fd;
}

// The topmost of `dir` and its ancestors that does not exist yet: what create_directories makes.
fs::path firstMissingAncestor(const fs::path& dir) {
    std::error_code ec;
    fs::path root, p = dir;
    while (!p.empty() && !fs::exists(p, ec)) {
        root = p;
        if (!p.has_parent_path() || p.parent_path() == p) break;
        p = p.parent_path();
    }
    return root;
}

} // namespace

void writeFileAtomic(const fs::path& path, const std::string& text) {
    CheckpointWriter out(path.string());
    out.write(text.data(), text.size());
    out.commit();
}

RunDirectory RunDirectory::create(const fs::path& dir, const TrainConfig& config) {
    refuseUnusable(dir); // before touching anything: a refused directory is left as it was
    RunDirectory r;
    r.m_dir = dir;
    r.m_config = config;
    r.m_created = true;
    r.m_createdRoot = firstMissingAncestor(dir);
    try {
        std::error_code ec;
        fs::create_directories(dir, ec);
        if (ec) throw InputError("cannot create the run directory '" + dir.string() + "': " + ec.message());
        r.m_lockFd = takeLock(dir);
        // again under the lock: another writer may have started a run here since the first look;
        // then nothing here is ours to remove
        try {
            refuseUnusable(dir);
        } catch (...) {
            r.m_created = false;
            throw;
        }
        fs::create_directories(dir / "checkpoints", ec);
        if (ec) throw InputError("cannot create the run directory '" + dir.string() + "': " + ec.message());
        try {
            writeFileAtomic(dir / "config.json", config.toJson() + "\n");
        } catch (const Error& e) {
            throw InputError("the run directory '" + dir.string() + "' is not writable: " + e.what());
        }
        r.m_metrics = std::fopen((dir / "metrics.jsonl").string().c_str(), "ab");
        if (!r.m_metrics) throw InputError("cannot write " + (dir / "metrics.jsonl").string());
    } catch (...) {
        if (r.m_lockFd >= 0)
            r.abandonIfNew();
        else if (r.m_created && !r.m_createdRoot.empty()) {
            std::error_code ec; // only the empty directories made above: never another writer's files
            for (fs::path p = dir; !p.empty(); p = p.parent_path()) {
                if (!fs::remove(p, ec) || p == r.m_createdRoot) break;
            }
        }
        throw;
    }
    return r;
}

RunDirectory RunDirectory::open(const fs::path& dir, bool writable) {
    const auto cfg = dir / "config.json";
    std::error_code ec;
    if (!fs::exists(cfg, ec)) throw InputError("'" + dir.string() + "' is not a training run (no config.json)");
    RunDirectory r;
    r.m_dir = dir;
    r.m_readOnly = !writable;
    if (writable) r.m_lockFd = takeLock(dir); // before reading: the holder may be rewriting it
    r.m_config = TrainConfig::fromJson(readText(cfg), cfg.string());
    if (r.m_readOnly) return r;
    r.m_metrics = std::fopen((dir / "metrics.jsonl").string().c_str(), "ab");
    if (!r.m_metrics) throw InputError("cannot append to " + (dir / "metrics.jsonl").string());
    return r;
}

void RunDirectory::release() noexcept {
    if (m_metrics) std::fclose(m_metrics);
    m_metrics = nullptr;
    if (m_lockFd >= 0) ::close(m_lockFd); // closing the last descriptor releases the flock
    m_lockFd = -1;
}

bool RunDirectory::abandonIfNew() noexcept {
    if (!m_created || m_wroteStep || m_lockFd < 0) return false;
    if (m_metrics) std::fclose(m_metrics);
    m_metrics = nullptr;
    std::error_code ec;
    fs::remove(m_dir / "config.json", ec);
    fs::remove(m_dir / "metrics.jsonl", ec);
    fs::remove_all(m_dir / "checkpoints", ec);
    // the lock file goes while still held, so no other writer can take it in between
    fs::remove(m_dir / ".lock", ec);
    ::close(m_lockFd);
    m_lockFd = -1;
    if (!m_createdRoot.empty()) {
        // fs::remove deletes only empty directories: a file someone put there meanwhile stays
        for (fs::path p = m_dir; !p.empty(); p = p.parent_path()) {
            if (!fs::remove(p, ec) || p == m_createdRoot) break;
        }
    }
    m_created = false;
    return true;
}

RunDirectory::~RunDirectory() {
    release();
}

RunDirectory::RunDirectory(RunDirectory&& o) noexcept
    : m_dir(std::move(o.m_dir)), m_config(std::move(o.m_config)), m_metrics(std::exchange(o.m_metrics, nullptr)),
      m_readOnly(o.m_readOnly), m_lockFd(std::exchange(o.m_lockFd, -1)), m_created(std::exchange(o.m_created, false)),
      m_wroteStep(o.m_wroteStep), m_createdRoot(std::move(o.m_createdRoot)) {}

RunDirectory& RunDirectory::operator=(RunDirectory&& o) noexcept {
    if (this != &o) {
        release();
        m_dir = std::move(o.m_dir);
        m_config = std::move(o.m_config);
        m_metrics = std::exchange(o.m_metrics, nullptr);
        m_readOnly = o.m_readOnly;
        m_lockFd = std::exchange(o.m_lockFd, -1);
        m_created = std::exchange(o.m_created, false);
        m_wroteStep = o.m_wroteStep;
        m_createdRoot = std::move(o.m_createdRoot);
    }
    return *this;
}

void RunDirectory::appendMetrics(const std::string& jsonLine) {
    if (m_readOnly) throw Error("the run directory " + m_dir.string() + " was opened read-only (a rank other than 0)");
    m_wroteStep = true;
    std::fputs(jsonLine.c_str(), m_metrics);
    std::fputc('\n', m_metrics);
    std::fflush(m_metrics);
}

fs::path RunDirectory::checkpointStaging(const fs::path& runDir, int64_t step) {
    return runDir / "checkpoints" / (".tmp-" + checkpointName(step));
}

fs::path RunDirectory::prepareCheckpoint(int64_t step) {
    if (m_readOnly) throw Error("the run directory " + m_dir.string() + " was opened read-only (a rank other than 0)");
    m_wroteStep = true;
    const auto tmpDir = checkpointStaging(m_dir, step);
    std::error_code ec;
    fs::remove_all(tmpDir, ec);
    fs::create_directories(tmpDir, ec);
    if (ec) throw InputError("cannot create " + tmpDir.string() + ": " + ec.message());
    return tmpDir;
}

fs::path RunDirectory::commitCheckpoint(const TrainerState& state, int64_t keep) {
    if (m_readOnly) throw Error("the run directory " + m_dir.string() + " was opened read-only (a rank other than 0)");
    const auto name = checkpointName(state.step);
    const auto finalDir = m_dir / "checkpoints" / name;
    const auto tmpDir = checkpointStaging(m_dir, state.step);
    nlohmann::json s = {{"step", state.step},
                        {"optimizer_steps", state.optimizerSteps},
                        {"non_finite_total", state.nonFiniteTotal},
                        {"non_finite_streak", state.nonFiniteStreak},
                        {"elapsed_seconds", state.elapsedSeconds},
                        {"world_size", state.worldSize}};
    if (state.shards > 0) s["shards"] = state.shards;
    writeFileAtomic(tmpDir / "state.json", s.dump(2) + "\n");
    std::error_code ec;
    fs::remove_all(finalDir, ec);
    fs::rename(tmpDir, finalDir, ec);
    if (ec) throw InputError("cannot move the checkpoint into place at " + finalDir.string() + ": " + ec.message());
    writeFileAtomic(m_dir / "latest", name + "\n");

    // keep the newest `keep` checkpoints
    std::vector<fs::path> all;
    for (const auto& e : fs::directory_iterator(m_dir / "checkpoints"))
        if (e.is_directory() && e.path().filename().string().rfind("step-", 0) == 0) all.push_back(e.path());
    std::sort(all.begin(), all.end());
    for (size_t i = 0; keep > 0 && i + static_cast<size_t>(keep) < all.size(); ++i)
        fs::remove_all(all[i], ec);
    return finalDir;
}

fs::path RunDirectory::saveCheckpoint(const Model& model, const ModelMetadata& metadata, const AdamW& optimizer,
                                      const TrainerState& state, int64_t keep) {
    const auto tmpDir = prepareCheckpoint(state.step);
    ModelFile::save((tmpDir / "model.brillm").string(), model, metadata);
    writeOptimizerFile(tmpDir / "optimizer.safetensors", optimizer.state(), toString(optimizer.settings().kind));
    return commitCheckpoint(state, keep);
}

std::optional<fs::path> RunDirectory::latestCheckpoint() const {
    std::error_code ec;
    if (!fs::exists(m_dir / "latest", ec)) return std::nullopt;
    std::string name = readText(m_dir / "latest");
    while (!name.empty() && (name.back() == '\n' || name.back() == '\r'))
        name.pop_back();
    const auto p = m_dir / "checkpoints" / name;
    if (!fs::exists(p / "state.json", ec))
        throw InputError("the latest checkpoint named in " + (m_dir / "latest").string() + " is missing");
    return p;
}

TrainerState RunDirectory::loadState(const fs::path& checkpoint) const {
    TrainerState st;
    try {
        const auto s = nlohmann::json::parse(readText(checkpoint / "state.json"));
        st.step = s.at("step").get<int64_t>();
        st.optimizerSteps = s.at("optimizer_steps").get<int64_t>();
        st.nonFiniteTotal = s.value("non_finite_total", int64_t{0});
        st.nonFiniteStreak = s.value("non_finite_streak", int64_t{0});
        st.elapsedSeconds = s.value("elapsed_seconds", 0.0);
        st.worldSize = s.value("world_size", 1);
        st.shards = s.value("shards", 0);
    } catch (const nlohmann::json::exception& e) {
        throw InputError((checkpoint / "state.json").string() + ": not a trainer state: " + e.what());
    }
    return st;
}

LoadedCheckpoint RunDirectory::loadCheckpoint(const fs::path& checkpoint) const {
    LoadedCheckpoint c;
    c.directory = checkpoint.string();
    c.state = loadState(checkpoint);
    if (c.state.shards > 0)
        throw InputError(checkpoint.string() + " holds " + std::to_string(c.state.shards) +
                         " shards of the edge table (a --shard-edges run): it is read shard by shard");
    c.model = ModelFile::load((checkpoint / "model.brillm").string());
    c.model.model = c.model.model.clone(); // own the memory: training writes to it
    c.optimizer = readOptimizerFile(checkpoint / "optimizer.safetensors");
    return c;
}

void RunDirectory::saveFinalModel(const Model& model, const ModelMetadata& metadata) {
    if (m_readOnly) throw Error("the run directory " + m_dir.string() + " was opened read-only (a rank other than 0)");
    m_wroteStep = true;
    ModelFile::save((m_dir / "model.brillm").string(), model, metadata);
}

} // namespace brillm::training
