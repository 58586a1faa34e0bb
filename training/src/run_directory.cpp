// SPDX-License-Identifier: GPL-3.0-or-later
#include "brillm/training/run_directory.h"

#include "brillm/checkpoint_writer.h"
#include "brillm/error.h"
#include "brillm/mapped_file.h"
#include "brillm/safetensors.h"

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>

namespace fs = std::filesystem;

namespace brillm::training {

namespace {

std::string readText(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    if (!in) throw InputError("cannot read " + p.string());
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

std::string checkpointName(int64_t step) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "step-%08lld", static_cast<long long>(step));
    return buf;
}

void writeOptimizerState(const fs::path& path, const AdamW& optimizer) {
    const auto state = optimizer.state();
    std::vector<SafetensorsEntry> entries;
    std::vector<at::Tensor> tensors;
    for (const auto& [name, t] : state) {
        SafetensorsEntry e;
        e.name = name;
        e.dtype = toStorageDtype(t.scalar_type());
        e.shape = t.sizes().vec();
        entries.push_back(e);
        tensors.push_back(t.contiguous());
    }
    const std::string prefix = SafetensorsHeader::serialize(entries, {{"format", "brillm-optimizer"},
                                                                     {"optimizer", toString(optimizer.settings().kind)}});
    CheckpointWriter out(path.string());
    out.write(prefix.data(), prefix.size());
    // serialize() may reorder nothing: entries keep their order, laid out contiguously
    for (size_t i = 0; i < entries.size(); ++i) {
        const auto& t = tensors[i];
        out.write(t.data_ptr(), static_cast<size_t>(t.numel()) * t.element_size());
    }
    out.commit();
}

std::vector<std::pair<std::string, at::Tensor>> readOptimizerState(const fs::path& path) {
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

} // namespace

void writeFileAtomic(const fs::path& path, const std::string& text) {
    CheckpointWriter out(path.string());
    out.write(text.data(), text.size());
    out.commit();
}

RunDirectory RunDirectory::create(const fs::path& dir, const TrainConfig& config) {
    std::error_code ec;
    if (fs::exists(dir / "config.json", ec))
        throw InputError("'" + dir.string() + "' already holds a training run; resume it with --resume " + dir.string() +
                         " or choose another directory");
    fs::create_directories(dir / "checkpoints", ec);
    if (ec) throw InputError("cannot create the run directory '" + dir.string() + "': " + ec.message());
    RunDirectory r;
    r.m_dir = dir;
    r.m_config = config;
    try {
        writeFileAtomic(dir / "config.json", config.toJson() + "\n");
    } catch (const Error& e) {
        throw InputError("the run directory '" + dir.string() + "' is not writable: " + e.what());
    }
    r.m_metrics = std::fopen((dir / "metrics.jsonl").string().c_str(), "ab");
    if (!r.m_metrics) throw InputError("cannot write " + (dir / "metrics.jsonl").string());
    return r;
}

RunDirectory RunDirectory::open(const fs::path& dir, bool writable) {
    const auto cfg = dir / "config.json";
    std::error_code ec;
    if (!fs::exists(cfg, ec)) throw InputError("'" + dir.string() + "' is not a training run (no config.json)");
    RunDirectory r;
    r.m_dir = dir;
    r.m_config = TrainConfig::fromJson(readText(cfg), cfg.string());
    r.m_readOnly = !writable;
    if (r.m_readOnly) return r;
    r.m_metrics = std::fopen((dir / "metrics.jsonl").string().c_str(), "ab");
    if (!r.m_metrics) throw InputError("cannot append to " + (dir / "metrics.jsonl").string());
    return r;
}

RunDirectory::~RunDirectory() {
    if (m_metrics) std::fclose(m_metrics);
}

RunDirectory::RunDirectory(RunDirectory&& o) noexcept
    : m_dir(std::move(o.m_dir)), m_config(std::move(o.m_config)), m_metrics(std::exchange(o.m_metrics, nullptr)),
      m_readOnly(o.m_readOnly) {}

RunDirectory& RunDirectory::operator=(RunDirectory&& o) noexcept {
    if (this != &o) {
        if (m_metrics) std::fclose(m_metrics);
        m_dir = std::move(o.m_dir);
        m_config = std::move(o.m_config);
        m_metrics = std::exchange(o.m_metrics, nullptr);
        m_readOnly = o.m_readOnly;
    }
    return *this;
}

void RunDirectory::appendMetrics(const std::string& jsonLine) {
    if (m_readOnly) throw Error("the run directory " + m_dir.string() + " was opened read-only (a rank other than 0)");
    std::fputs(jsonLine.c_str(), m_metrics);
    std::fputc('\n', m_metrics);
    std::fflush(m_metrics);
}

fs::path RunDirectory::saveCheckpoint(const Model& model, const ModelMetadata& metadata, const AdamW& optimizer,
                                      const TrainerState& state, int64_t keep) {
    if (m_readOnly) throw Error("the run directory " + m_dir.string() + " was opened read-only (a rank other than 0)");
    const auto name = checkpointName(state.step);
    const auto finalDir = m_dir / "checkpoints" / name;
    const auto tmpDir = m_dir / "checkpoints" / (".tmp-" + name);
    std::error_code ec;
    fs::remove_all(tmpDir, ec);
    fs::create_directories(tmpDir, ec);
    if (ec) throw InputError("cannot create " + tmpDir.string() + ": " + ec.message());
    ModelFile::save((tmpDir / "model.brillm").string(), model, metadata);
    writeOptimizerState(tmpDir / "optimizer.safetensors", optimizer);
    const nlohmann::json s = {{"step", state.step},
                              {"optimizer_steps", state.optimizerSteps},
                              {"non_finite_total", state.nonFiniteTotal},
                              {"non_finite_streak", state.nonFiniteStreak},
                              {"elapsed_seconds", state.elapsedSeconds},
                              {"world_size", state.worldSize}};
    writeFileAtomic(tmpDir / "state.json", s.dump(2) + "\n");
    fs::remove_all(finalDir, ec);
    fs::rename(tmpDir, finalDir, ec);
    if (ec) throw InputError("cannot move the checkpoint into place at " + finalDir.string() + ": " + ec.message());
    writeFileAtomic(m_dir / "latest", name + "\n");

    // keep the newest `keep` checkpoints
    std::vector<fs::path> all;
    for (const auto& e : fs::directory_iterator(m_dir / "checkpoints"))
        if (e.is_directory() && e.path().filename().string().rfind("step-", 0) == 0) all.push_back(e.path());
    std::sort(all.begin(), all.end());
    for (size_t i = 0; keep > 0 && i + static_cast<size_t>(keep) < all.size(); ++i) fs::remove_all(all[i], ec);
    return finalDir;
}

std::optional<fs::path> RunDirectory::latestCheckpoint() const {
    std::error_code ec;
    if (!fs::exists(m_dir / "latest", ec)) return std::nullopt;
    std::string name = readText(m_dir / "latest");
    while (!name.empty() && (name.back() == '\n' || name.back() == '\r')) name.pop_back();
    const auto p = m_dir / "checkpoints" / name;
    if (!fs::exists(p / "state.json", ec)) throw InputError("the latest checkpoint named in " + (m_dir / "latest").string() + " is missing");
    return p;
}

LoadedCheckpoint RunDirectory::loadCheckpoint(const fs::path& checkpoint) const {
    LoadedCheckpoint c;
    c.directory = checkpoint.string();
    c.model = ModelFile::load((checkpoint / "model.brillm").string());
    c.model.model = c.model.model.clone(); // own the memory: training writes to it
    c.optimizer = readOptimizerState(checkpoint / "optimizer.safetensors");
    nlohmann::json s;
    try {
        s = nlohmann::json::parse(readText(checkpoint / "state.json"));
        c.state.step = s.at("step").get<int64_t>();
        c.state.optimizerSteps = s.at("optimizer_steps").get<int64_t>();
        c.state.nonFiniteTotal = s.value("non_finite_total", int64_t{0});
        c.state.nonFiniteStreak = s.value("non_finite_streak", int64_t{0});
        c.state.elapsedSeconds = s.value("elapsed_seconds", 0.0);
        c.state.worldSize = s.value("world_size", 1);
    } catch (const nlohmann::json::exception& e) {
        throw InputError((checkpoint / "state.json").string() + ": not a trainer state: " + e.what());
    }
    return c;
}

void RunDirectory::saveFinalModel(const Model& model, const ModelMetadata& metadata) {
    if (m_readOnly) throw Error("the run directory " + m_dir.string() + " was opened read-only (a rank other than 0)");
    ModelFile::save((m_dir / "model.brillm").string(), model, metadata);
}

} // namespace brillm::training
