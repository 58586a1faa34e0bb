// SPDX-License-Identifier: GPL-3.0-or-later
#include "brillm/io/sharded_model.h"

#include "brillm/error.h"
#include "brillm/io/input_limits.h"
#include "io/detail/sha256.h"

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace fs = std::filesystem;

namespace brillm {

ShardPlan ShardPlan::balanced(const EdgeTable& edges, int parts) {
    if (parts < 1) throw InputError("a shard plan needs at least one part");
    const auto& rowPtr = edges.rowPtr();
    const int64_t V = edges.vocabSize(), own = edges.numOwn();
    ShardPlan p;
    p.sourceBegin.push_back(0);
    for (int r = 1; r < parts; ++r) {
        const int64_t target = own * r / parts;
        // the first source whose rows start at or after the target count (rowPtr is non-decreasing)
        const auto it = std::lower_bound(rowPtr.begin(), rowPtr.begin() + V, target);
        p.sourceBegin.push_back(std::max(p.sourceBegin.back(), static_cast<int64_t>(it - rowPtr.begin())));
    }
    p.sourceBegin.push_back(V);
    for (const int64_t b : p.sourceBegin)
        p.slotBegin.push_back(rowPtr[static_cast<size_t>(b)]);
    return p;
}

namespace {

// Ends of contiguous ranges from the greedy rule: a range grows while its work stays within
// maxWork and its own slots within maxSlots (a single source always fits). Stops early (returns
// more than `limit` ends) once the limit is passed.
std::vector<int64_t> greedyEnds(const std::vector<int64_t>& rowPtr, std::span<const double> work, double maxWork,
                                double maxSlots, size_t limit) {
    std::vector<int64_t> ends;
    const auto V = static_cast<int64_t>(work.size());
    double w = 0, m = 0;
    int64_t count = 0;
    for (int64_t s = 0; s < V; ++s) {
        const double ws = work[static_cast<size_t>(s)];
        const auto ms = static_cast<double>(rowPtr[static_cast<size_t>(s) + 1] - rowPtr[static_cast<size_t>(s)]);
        if (count > 0 && (w + ws > maxWork || m + ms > maxSlots)) {
            ends.push_back(s);
            if (ends.size() > limit) return ends;
            w = m = 0;
            count = 0;
        }
        w += ws;
        m += ms;
        ++count;
    }
    ends.push_back(V);
    return ends;
}

} // namespace

ShardPlan ShardPlan::balancedByWork(const EdgeTable& edges, int parts, std::span<const double> work,
                                    double memorySlack) {
    if (parts < 1) throw InputError("a shard plan needs at least one part");
    const int64_t V = edges.vocabSize();
    if (static_cast<int64_t>(work.size()) != V)
        throw InputError("a work-balanced shard plan needs one work entry per source (" + std::to_string(V) +
                         "), got " + std::to_string(work.size()));
    double total = 0, largest = 0;
    for (const double w : work) {
        if (!(w >= 0) || !std::isfinite(w)) throw InputError("a shard plan's work entries must be finite and >= 0");
        total += w;
        largest = std::max(largest, w);
    }
    const auto& rowPtr = edges.rowPtr();
    int64_t longestRow = 0;
    for (int64_t s = 0; s < V; ++s)
        longestRow = std::max(longestRow, rowPtr[static_cast<size_t>(s) + 1] - rowPtr[static_cast<size_t>(s)]);
    const double maxSlots = std::max((1.0 + std::max(0.0, memorySlack)) * static_cast<double>(edges.numOwn()) / parts,
                                     static_cast<double>(longestRow));
    const auto limit = static_cast<size_t>(parts);
    const auto fits = [&](double maxWork) {
        return greedyEnds(rowPtr, work, maxWork, maxSlots, limit).size() <= limit;
    };
    if (parts == 1 || !fits(total)) return balanced(edges, parts);
    // the smallest bound on the largest part's work that `parts` greedy ranges meet (the greedy
    // rule uses the fewest ranges for a bound, so the bound is the optimum for contiguous ranges)
    double lo = largest, hi = total;
    if (fits(lo)) hi = lo;
    for (int it = 0; it < 100 && hi - lo > 1e-12 * std::max(1.0, total); ++it) {
        const double mid = lo + (hi - lo) / 2;
        (fits(mid) ? hi : lo) = mid;
    }
    std::vector<int64_t> ends = greedyEnds(rowPtr, work, hi, maxSlots, limit);
    // fewer ranges than parts: split the range of most work (then most sources) in two at its
    // work midpoint (splitting raises neither a range's work nor its rows)
    std::vector<int64_t> begins{0};
    begins.insert(begins.end(), ends.begin(), ends.end()); // begins[k], begins[k + 1]: range k
    while (static_cast<int>(begins.size()) - 1 < parts) {
        int best = -1;
        double bestWork = -1;
        for (size_t k = 0; k + 1 < begins.size(); ++k) {
            if (begins[k + 1] - begins[k] < 2) continue;
            double w = 0;
            for (int64_t s = begins[k]; s < begins[k + 1]; ++s)
                w += work[static_cast<size_t>(s)];
            if (w > bestWork) bestWork = w, best = static_cast<int>(k);
        }
        if (best < 0) { // fewer sources than parts: empty ranges at the end
            begins.push_back(V);
            continue;
        }
        const int64_t b = begins[static_cast<size_t>(best)], e = begins[static_cast<size_t>(best) + 1];
        double acc = 0;
        int64_t cut = b + 1;
        for (int64_t s = b; s < e - 1; ++s) {
            acc += work[static_cast<size_t>(s)];
            cut = s + 1;
            if (acc >= bestWork / 2) break;
        }
        begins.insert(begins.begin() + best + 1, cut);
    }
    ShardPlan p;
    p.sourceBegin = begins;
    for (const int64_t b : p.sourceBegin)
        p.slotBegin.push_back(rowPtr[static_cast<size_t>(b)]);
    return p;
}

int ShardPlan::ownerOf(int64_t source) const {
    const auto it = std::upper_bound(sourceBegin.begin(), sourceBegin.end(), source);
    return std::clamp(static_cast<int>(it - sourceBegin.begin()) - 1, 0, parts() - 1);
}

EdgeTable shardEdgeTable(const EdgeTable& global, int64_t begin, int64_t end) {
    const auto& rowPtr = global.rowPtr();
    const int64_t V = global.vocabSize();
    const int64_t base = rowPtr[static_cast<size_t>(begin)], top = rowPtr[static_cast<size_t>(end)];
    std::vector<int64_t> local(static_cast<size_t>(V) + 1);
    for (int64_t s = 0; s <= V; ++s)
        local[static_cast<size_t>(s)] = std::clamp(rowPtr[static_cast<size_t>(s)], base, top) - base;
    std::vector<int32_t> targets(global.targets().begin() + base, global.targets().begin() + top);
    return EdgeTable::fromCsr(V, std::move(local), std::move(targets));
}

std::string shardFileName(int rank, int shards, const char* suffix) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "shard-%05d-of-%05d", rank, shards);
    return std::string(buf) + suffix;
}

bool isShardedModel(const fs::path& path) {
    std::error_code ec;
    if (fs::is_directory(path, ec)) return fs::exists(path / "shards.json", ec);
    return path.filename() == "shards.json" && fs::exists(path, ec);
}

ShardSet ShardSet::open(const fs::path& dirOrManifest) {
    std::error_code ec;
    ShardSet s;
    s.m_dir = fs::is_directory(dirOrManifest, ec) ? dirOrManifest : dirOrManifest.parent_path();
    const auto manifest = s.m_dir / "shards.json";
    std::string text, error;
    if (!readRegularFile(manifest, text, error, size_t{64} << 20))
        throw CheckpointError("cannot read " + manifest.string() + ": " + error);
    int64_t V = 0, slots = 0;
    try {
        const auto j = nlohmann::json::parse(text);
        if (j.at("format").get<std::string>() != "brillm-shards")
            throw CheckpointError(manifest.string() + ": not a sharded model (format is not brillm-shards)");
        V = j.at("vocab_size").get<int64_t>();
        slots = j.at("num_slots").get<int64_t>();
        const auto& files = j.at("files");
        if (!files.is_array() || files.empty() || files.size() != j.at("shards").get<size_t>())
            throw CheckpointError(manifest.string() + ": 'files' must list every shard");
        s.m_plan.sourceBegin.push_back(0);
        for (const auto& f : files) {
            const auto name = f.at("file").get<std::string>();
            if (name.find('/') != std::string::npos || name.empty() || name[0] == '.')
                throw CheckpointError(manifest.string() + ": shard file '" + name + "' must be a plain file name");
            if (f.at("source_begin").get<int64_t>() != s.m_plan.sourceBegin.back())
                throw CheckpointError(manifest.string() + ": shard " + name +
                                      " does not start where the previous one ends (source " +
                                      std::to_string(s.m_plan.sourceBegin.back()) + ")");
            const int64_t end = f.at("source_end").get<int64_t>();
            if (end < s.m_plan.sourceBegin.back() || end > V)
                throw CheckpointError(manifest.string() + ": shard " + name + " ends outside [begin, V]");
            s.m_plan.sourceBegin.push_back(end);
            s.m_files.push_back(std::make_shared<ModelFile>(ModelFile::open((s.m_dir / name).string())));
        }
        if (s.m_plan.sourceBegin.back() != V)
            throw CheckpointError(manifest.string() + ": the shards cover sources up to " +
                                  std::to_string(s.m_plan.sourceBegin.back()) + ", not V = " + std::to_string(V));
    } catch (const nlohmann::json::exception& e) {
        throw CheckpointError(manifest.string() + ": malformed shard manifest: " + e.what());
    }
    // The global table: each shard's rowPtr is 0 before its range and flat after it, so the sum
    // over shards is the global rowPtr; targets follow in shard order.
    s.m_config = s.m_files.front()->config();
    for (const auto& f : s.m_files) // before anything of the manifest's V is allocated
        if (f->config().vocabSize != V || f->config().dim != s.m_config.dim ||
            f->config().maxPositions != s.m_config.maxPositions)
            throw CheckpointError(f->path() + ": V, d or the position table differ from the other shards' or from " +
                                  manifest.string() + " (V = " + std::to_string(V) + ")");
    std::vector<int64_t> rowPtr(static_cast<size_t>(V) + 1, 0);
    std::vector<int32_t> targets;
    for (size_t q = 0; q < s.m_files.size(); ++q) {
        const auto& f = *s.m_files[q];
        const auto& e = f.edges();
        const auto where = f.path();
        const int64_t b = s.m_plan.begin(static_cast<int>(q)), en = s.m_plan.end(static_cast<int>(q));
        if (e.rowPtr()[static_cast<size_t>(b)] != 0 || e.rowPtr()[static_cast<size_t>(en)] != e.numOwn())
            throw CheckpointError(where + ": holds rows outside its sources [" + std::to_string(b) + ", " +
                                  std::to_string(en) + ")");
        for (int64_t v = 0; v <= V; ++v)
            rowPtr[static_cast<size_t>(v)] += e.rowPtr()[static_cast<size_t>(v)];
        targets.insert(targets.end(), e.targets().begin(), e.targets().end());
    }
    s.m_edges = EdgeTable::fromCsr(V, std::move(rowPtr), std::move(targets));
    for (const int64_t b : s.m_plan.sourceBegin)
        s.m_plan.slotBegin.push_back(s.m_edges.rowPtr()[static_cast<size_t>(b)]);
    if (s.m_edges.numSlots() != slots)
        throw CheckpointError(manifest.string() + ": the shards hold " + std::to_string(s.m_edges.numSlots()) +
                              " slots, the manifest says " + std::to_string(slots));
    return s;
}

ModelMetadata ShardSet::metadata() const {
    ModelMetadata m = m_files.front()->metadata();
    auto prov = nlohmann::json::parse(m.provenanceJson.empty() ? "{}" : m.provenanceJson, nullptr, false);
    if (prov.is_object()) {
        prov.erase("shard");
        m.provenanceJson = prov.dump();
    }
    return m;
}

at::Tensor ShardSet::gatherRows(const std::function<at::Tensor(int)>& get, int64_t begin, int64_t end) const {
    const auto& rowPtr = m_edges.rowPtr();
    std::vector<at::Tensor> parts{get(0).narrow(0, 0, 1).to(at::kFloat)};
    for (int q = 0; q < m_plan.parts(); ++q) {
        const int64_t b = std::max(begin, m_plan.begin(q)), e = std::min(end, m_plan.end(q));
        if (b >= e) continue;
        const int64_t base = rowPtr[static_cast<size_t>(m_plan.begin(q))];
        const int64_t from = rowPtr[static_cast<size_t>(b)] - base + 1,
                      n = rowPtr[static_cast<size_t>(e)] - rowPtr[static_cast<size_t>(b)];
        if (n > 0) parts.push_back(get(q).narrow(0, from, n).to(at::kFloat));
    }
    return at::cat(parts, 0); // reads only the mapped pages of these rows
}

Model ShardSet::rows(int64_t begin, int64_t end) const {
    if (begin < 0 || end > m_config.vocabSize || begin > end)
        throw InputError("sources [" + std::to_string(begin) + ", " + std::to_string(end) + ") outside [0, " +
                         std::to_string(m_config.vocabSize) + ")");
    Model m;
    m.config = m_config;
    m.edges = shardEdgeTable(m_edges, begin, end);
    m.weights = gatherRows([&](int q) { return m_files[static_cast<size_t>(q)]->tensor(ModelFileHeader::kWeights); },
                           begin, end);
    m.biases = gatherRows([&](int q) { return m_files[static_cast<size_t>(q)]->tensor(ModelFileHeader::kBiases); },
                          begin, end);
    m.nodeBias = m_files.front()->tensor(ModelFileHeader::kNodeBias).to(at::kFloat).clone();
    m.positions = m_files.front()->tensor(ModelFileHeader::kPositions).to(at::kFloat).clone();
    m.validate();
    return m;
}

namespace {

uint64_t pageSize() {
    const long p = ::sysconf(_SC_PAGESIZE);
    return p > 0 ? static_cast<uint64_t>(p) : kModelFilePageSize;
}

// One anonymous address range (private, lazily zero-filled, never reserved in swap) over which
// the shards' rows are mapped; unmapped, with everything mapped into it, when the last tensor
// holding it goes.
class AddressRange {
public:
    explicit AddressRange(size_t bytes) : m_size(bytes) {
        void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (p == MAP_FAILED)
            throw CheckpointError("cannot reserve " + std::to_string(bytes) +
                                  " bytes of address space for a sharded model: " + std::strerror(errno));
        m_base = static_cast<std::byte*>(p);
    }
    ~AddressRange() { ::munmap(m_base, m_size); }
    AddressRange(const AddressRange&) = delete;
    AddressRange& operator=(const AddressRange&) = delete;
    std::byte* base() const { return m_base; }

private:
    std::byte* m_base = nullptr;
    size_t m_size = 0;
};

// The file offset of local slot 1 of a shard's weights.
uint64_t firstRowOffset(const ModelFile& f, uint64_t matrixBytes) {
    const SafetensorsEntry* e = f.header().layout.find(ModelFileHeader::kWeights);
    return f.header().layout.dataStart + e->begin + matrixBytes;
}

} // namespace

std::string ShardSet::mappingProblem() const {
    const StorageDtype dtype = m_files.front()->header().dtype;
    for (const auto& f : m_files) {
        if (f->header().dtype != dtype)
            return f->path() + " is stored as " + safetensorsName(f->header().dtype) + ", shard 0 as " +
                   safetensorsName(dtype);
        if (!f->mapping()->isMapped()) return f->path() + " is not a mapped file";
    }
    const uint64_t page = pageSize();
    if (kModelFilePageSize % page != 0)
        return "the system's page size (" + std::to_string(page) + " bytes) does not divide the " +
               std::to_string(kModelFilePageSize) + " the shard files are aligned to";
    const uint64_t matrix = static_cast<uint64_t>(dim() * dim()) * elementSize(dtype);
    for (int q = 0; q < shards(); ++q) {
        const int64_t own = m_plan.slotBegin[static_cast<size_t>(q) + 1] - m_plan.slotBegin[static_cast<size_t>(q)];
        if (own == 0) continue;
        const uint64_t fileAt = firstRowOffset(file(q), matrix);
        const uint64_t globalAt = static_cast<uint64_t>(m_plan.slotBegin[static_cast<size_t>(q)] + 1) * matrix;
        if ((fileAt % page) != (globalAt % page))
            return file(q).path() + " places its weight rows at file offset " + std::to_string(fileAt) +
                   ", not at the page offset of their global slots (" + std::to_string(globalAt % page) + " modulo " +
                   std::to_string(page) + "): written before shard files were aligned for mapping";
    }
    return {};
}

Model ShardSet::mapped() const {
    if (const auto problem = mappingProblem(); !problem.empty())
        throw CheckpointError("cannot map the shards of " + m_dir.string() + ": " + problem);
    const StorageDtype dtype = m_files.front()->header().dtype;
    const auto type = toScalarType(dtype);
    const int64_t N = m_edges.numSlots(), d = dim();
    const uint64_t page = pageSize();
    const uint64_t matrix = static_cast<uint64_t>(d * d) * elementSize(dtype);
    const uint64_t total = static_cast<uint64_t>(N) * matrix;
    auto range = std::make_shared<AddressRange>(static_cast<size_t>(total));
    std::byte* base = range->base();
    const auto copy = [&](int q, uint64_t globalFrom, uint64_t globalTo, uint64_t fileAtGlobalFrom) {
        if (globalTo <= globalFrom) return;
        const auto bytes = file(q).mapping()->bytes();
        std::memcpy(base + globalFrom, bytes.data() + fileAtGlobalFrom, static_cast<size_t>(globalTo - globalFrom));
    };
    // the shared slot, from shard 0
    copy(0, 0, matrix, firstRowOffset(file(0), matrix) - matrix);
    for (int q = 0; q < shards(); ++q) {
        const int64_t own = m_plan.slotBegin[static_cast<size_t>(q) + 1] - m_plan.slotBegin[static_cast<size_t>(q)];
        if (own == 0) continue;
        const ModelFile& f = file(q);
        const uint64_t from = static_cast<uint64_t>(m_plan.slotBegin[static_cast<size_t>(q)] + 1) * matrix;
        const uint64_t to = from + static_cast<uint64_t>(own) * matrix;
        const uint64_t fileFrom = firstRowOffset(f, matrix);
        const uint64_t pageFrom = (from + page - 1) / page * page, pageTo = to / page * page;
        if (pageFrom >= pageTo) { // the rows lie within pages shared with the neighbours: copied
            copy(q, from, to, fileFrom);
            continue;
        }
        std::string error;
        const int fd = openRegularFile(f.path(), error);
        if (fd < 0) throw CheckpointError(error);
        struct stat st {};
        const bool same = ::fstat(fd, &st) == 0 && static_cast<uint64_t>(st.st_size) == f.mapping()->size();
        void* p =
            same ? ::mmap(base + pageFrom, static_cast<size_t>(pageTo - pageFrom), PROT_READ | PROT_WRITE,
                          MAP_PRIVATE | MAP_FIXED | MAP_NORESERVE, fd, static_cast<off_t>(fileFrom + (pageFrom - from)))
                 : MAP_FAILED;
        const int mapErrno = errno;
        ::close(fd);
        if (!same) throw CheckpointError(f.path() + " changed on disk while the sharded model was being opened");
        if (p == MAP_FAILED)
            throw CheckpointError("cannot map the weight rows of " + f.path() + ": " + std::strerror(mapErrno));
        copy(q, from, pageFrom, fileFrom);
        copy(q, pageTo, to, fileFrom + (pageTo - from));
    }
    Model m;
    m.config = m_config;
    m.edges = m_edges;
    m.weights = at::from_blob(
        base, {N, d, d}, [range](void*) mutable { range.reset(); }, at::TensorOptions().dtype(type));
    // biases in the stored dtype: row 0 from shard 0, then each shard's own rows
    std::vector<at::Tensor> biases{file(0).tensor(ModelFileHeader::kBiases).narrow(0, 0, 1)};
    for (int q = 0; q < shards(); ++q) {
        const at::Tensor b = file(q).tensor(ModelFileHeader::kBiases);
        if (b.size(0) > 1) biases.push_back(b.narrow(0, 1, b.size(0) - 1));
    }
    m.biases = at::cat(biases, 0);
    m.nodeBias = file(0).tensor(ModelFileHeader::kNodeBias).clone();
    m.positions = file(0).tensor(ModelFileHeader::kPositions).clone();
    m.validate();
    return m;
}

LoadedModel openShardedModel(const fs::path& dirOrManifest) {
    const auto set = ShardSet::open(dirOrManifest);
    LoadedModel out;
    out.metadata = set.metadata();
    out.path = set.directory().string();
    out.storedDtype = set.file(0).header().dtype;
    out.shards = set.shards();
    out.shardSourceBegin = set.plan().sourceBegin;
    out.mergedBecause = set.mappingProblem();
    out.model = out.mergedBecause.empty() ? set.mapped() : set.merged();
    return out;
}

LoadedModel openModel(const std::string& path) {
    if (isShardedModel(path)) return openShardedModel(path);
    return ModelFile::load(path);
}

std::string modelChecksum(const std::string& path) {
    if (!isShardedModel(path)) return ModelFile::open(path).header().checksum;
    const auto set = ShardSet::open(path);
    Sha256 sha;
    for (int q = 0; q < set.shards(); ++q) {
        const std::string& c = set.file(q).header().checksum;
        sha.update(c.data(), c.size());
        sha.update("\n", 1);
    }
    return "sha256:" + Sha256::hex(sha.finish());
}

LoadedModel mergeShards(const fs::path& dirOrManifest) {
    const auto set = ShardSet::open(dirOrManifest);
    LoadedModel out;
    out.model = set.merged();
    out.metadata = set.metadata();
    out.path = set.directory().string();
    out.shards = set.shards();
    out.shardSourceBegin = set.plan().sourceBegin;
    out.mergedBecause = "merged on request";
    return out;
}

} // namespace brillm
