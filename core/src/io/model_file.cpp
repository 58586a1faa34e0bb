// SPDX-License-Identifier: GPL-3.0-or-later
#include "brillm/io/model_file.h"

#include "io/detail/checkpoint_chunks.h"

#include "brillm/error.h"
#include "brillm/io/checkpoint_writer.h"
#include "io/detail/sha256.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <sstream>

#include <fcntl.h>
#include <unistd.h>

namespace brillm {

namespace {

constexpr size_t kVerifyChunk = size_t{8} << 20;

std::string shapeText(at::IntArrayRef shape) {
    std::ostringstream os;
    os << '[';
    for (size_t i = 0; i < shape.size(); ++i)
        os << (i ? ", " : "") << shape[i];
    os << ']';
    return os.str();
}

void expectSaveShape(const std::string& path, const char* name, const at::Tensor& t,
                     std::initializer_list<int64_t> want) {
    if (!t.defined()) throw CheckpointError("cannot save '" + path + "': model tensor '" + name + "' is undefined");
    if (t.sizes() != at::IntArrayRef(want))
        throw CheckpointError("cannot save '" + path + "': model tensor '" + name + "' has shape " +
                              shapeText(t.sizes()) + ", expected " + shapeText(want));
    const auto st = t.scalar_type();
    if (st != at::kFloat && st != at::kDouble && st != at::kHalf && st != at::kBFloat16)
        throw CheckpointError("cannot save '" + path + "': model tensor '" + name +
                              "' is not float32, float64, float16 or bfloat16");
}

// Counts NaN/Inf by bit pattern: all exponent bits set.
template <class U>
void scanNonFinite(const std::byte* p, size_t count, U expMask, int64_t base, ModelVerifyReport::TensorCheck& c) {
    for (size_t i = 0; i < count; ++i) {
        U bits;
        std::memcpy(&bits, p + i * sizeof(U), sizeof(U));
        if ((bits & expMask) == expMask) {
            if (c.nonFinite++ == 0) c.firstNonFinite = base + static_cast<int64_t>(i);
        }
    }
}

void scanChunk(StorageDtype dt, const std::byte* p, size_t bytes, int64_t base, ModelVerifyReport::TensorCheck& c) {
    switch (dt) {
    case StorageDtype::F32:
        scanNonFinite<uint32_t>(p, bytes / 4, 0x7f800000u, base, c);
        break;
    case StorageDtype::F64:
        scanNonFinite<uint64_t>(p, bytes / 8, 0x7ff0000000000000ull, base, c);
        break;
    case StorageDtype::F16:
        scanNonFinite<uint16_t>(p, bytes / 2, uint16_t{0x7c00}, base, c);
        break;
    case StorageDtype::BF16:
        scanNonFinite<uint16_t>(p, bytes / 2, uint16_t{0x7f80}, base, c);
        break;
    default:
        break;
    }
}

} // namespace

at::ScalarType toScalarType(StorageDtype dtype) {
    switch (dtype) {
    case StorageDtype::F64:
        return at::kDouble;
    case StorageDtype::F32:
        return at::kFloat;
    case StorageDtype::F16:
        return at::kHalf;
    case StorageDtype::BF16:
        return at::kBFloat16;
    case StorageDtype::I64:
        return at::kLong;
    case StorageDtype::I32:
        return at::kInt;
    case StorageDtype::I16:
        return at::kShort;
    case StorageDtype::I8:
        return at::kChar;
    case StorageDtype::U8:
        return at::kByte;
    case StorageDtype::Bool:
        return at::kBool;
    }
    return at::kFloat;
}

StorageDtype toStorageDtype(at::ScalarType type) {
    switch (type) {
    case at::kDouble:
        return StorageDtype::F64;
    case at::kFloat:
        return StorageDtype::F32;
    case at::kHalf:
        return StorageDtype::F16;
    case at::kBFloat16:
        return StorageDtype::BF16;
    case at::kLong:
        return StorageDtype::I64;
    case at::kInt:
        return StorageDtype::I32;
    case at::kShort:
        return StorageDtype::I16;
    case at::kChar:
        return StorageDtype::I8;
    case at::kByte:
        return StorageDtype::U8;
    case at::kBool:
        return StorageDtype::Bool;
    default:
        break;
    }
    throw CheckpointError(std::string("tensors of type ") + c10::toString(type) + " cannot be stored in a checkpoint");
}

ModelFile ModelFile::open(const std::string& path) {
    return fromMapping(MappedFile::open(path));
}

ModelFile ModelFile::fromMapping(std::shared_ptr<const MappedFile> mapping) {
    ModelFile f;
    f.m_header = ModelFileHeader::parse(mapping->bytes(), mapping->path());
    f.m_mapping = std::move(mapping);
    return f;
}

LoadedModel ModelFile::load(const std::string& path, std::optional<at::ScalarType> dtype) {
    const ModelFile f = open(path);
    return {f.model(dtype), f.metadata(),         f.header().dtype,       path,
            /*shards=*/0,   /*mergedBecause=*/{}, /*shardSourceBegin=*/{}};
}

ModelConfig ModelFile::config() const {
    ModelConfig c;
    c.vocabSize = m_header.vocabSize;
    c.dim = m_header.dim;
    c.maxPositions = m_header.maxPositions;
    return c;
}

ModelMetadata ModelFile::metadata() const {
    ModelMetadata m;
    m.vocabulary = m_header.vocabulary;
    m.tokenizerKind = m_header.tokenizerKind;
    m.tokenizerJson = m_header.tokenizerJson;
    m.provenanceJson = m_header.provenanceJson;
    return m;
}

at::Tensor ModelFile::tensor(const std::string& name) const {
    const SafetensorsEntry* e = m_header.layout.find(name);
    if (!e) throw CheckpointError("'" + path() + "' has no tensor \"" + name + "\"");
    const auto opts = at::TensorOptions().dtype(toScalarType(e->dtype));
    std::byte* p = m_mapping->writableData() + m_header.layout.dataStart + e->begin;
    if (e->byteSize() == 0) return at::empty(e->shape, opts);
    if (reinterpret_cast<uintptr_t>(p) % elementSize(e->dtype) != 0) {
        at::Tensor copy = at::empty(e->shape, opts);
        std::memcpy(copy.data_ptr(), p, e->byteSize());
        return copy;
    }
    auto keep = m_mapping;
    return at::from_blob(
        p, e->shape, [keep](void*) mutable { keep.reset(); }, opts);
}

Model ModelFile::model(std::optional<at::ScalarType> dtype) const {
    const at::ScalarType want = dtype.value_or(toScalarType(m_header.dtype));
    if (want != at::kFloat && want != at::kDouble && want != at::kBFloat16 && want != at::kHalf)
        throw CheckpointError("a model for the core's kernels must be float32, float64, bfloat16 or float16");
    auto get = [&](const char* name) {
        at::Tensor t = tensor(name);
        return t.scalar_type() == want ? t : t.to(want);
    };
    Model m;
    m.config = config();
    m.edges = m_header.edges;
    m.weights = get(ModelFileHeader::kWeights);
    m.biases = get(ModelFileHeader::kBiases);
    m.nodeBias = get(ModelFileHeader::kNodeBias);
    m.positions = get(ModelFileHeader::kPositions);
    m.validate();
    return m;
}

ModelVerifyReport ModelFile::verify(const FileProgress& progress) const {
    ModelVerifyReport r;
    r.storedChecksum = m_header.checksum;
    const auto& layout = m_header.layout;

    int fd = -1;
    if (m_mapping->isMapped()) {
        fd = ::open(path().c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) throw CheckpointError("cannot open '" + path() + "': " + std::strerror(errno));
        ::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    }
    struct Closer {
        int fd;
        ~Closer() {
            if (fd >= 0) ::close(fd);
        }
    } closer{fd};
    std::vector<std::byte> buffer(fd >= 0 ? kVerifyChunk : 0);
    // Reads [offset, offset + size) of the file: from disk for a mapped file, else from memory.
    auto readAt = [&](uint64_t offset, size_t size) -> const std::byte* {
        if (fd < 0) return m_mapping->bytes().data() + offset;
        size_t got = 0;
        while (got < size) {
            const ssize_t n = ::pread(fd, buffer.data() + got, size - got, static_cast<off_t>(offset + got));
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0)
                throw CheckpointError("cannot read '" + path() + "'" +
                                      (n < 0 ? std::string(": ") + std::strerror(errno) : ": the file shrank"));
            got += static_cast<size_t>(n);
        }
        return buffer.data();
    };

    Sha256 sha;
    uint64_t done = 0;
    const uint64_t total = layout.dataSize;
    for (const auto& e : layout.entries) {
        const bool param = e.name == ModelFileHeader::kWeights || e.name == ModelFileHeader::kBiases ||
                           e.name == ModelFileHeader::kNodeBias || e.name == ModelFileHeader::kPositions;
        ModelVerifyReport::TensorCheck check{e.name, e.numel(), 0, -1};
        const size_t es = elementSize(e.dtype);
        const size_t chunk = kVerifyChunk / es * es;
        for (uint64_t off = 0; off < e.byteSize(); off += chunk) {
            const size_t n = static_cast<size_t>(std::min<uint64_t>(chunk, e.byteSize() - off));
            const std::byte* p = readAt(layout.dataStart + e.begin + off, n);
            sha.update({p, n});
            if (param && isFloating(e.dtype)) scanChunk(e.dtype, p, n, static_cast<int64_t>(off / es), check);
            done += n;
            if (progress && !progress(done, total)) throw CancelledError();
        }
        if (param) {
            if (check.nonFinite > 0)
                r.problems.push_back("tensor \"" + e.name + "\" has " + std::to_string(check.nonFinite) +
                                     " NaN/Inf entries (first at flat index " + std::to_string(check.firstNonFinite) +
                                     ")");
            r.tensors.push_back(check);
        }
    }
    r.computedChecksum = "sha256:" + Sha256::hex(sha.finish());
    if (r.storedChecksum.empty())
        r.problems.push_back("the file carries no checksum");
    else if (r.storedChecksum != r.computedChecksum)
        r.problems.push_back("checksum mismatch: the header says " + r.storedChecksum + ", the data gives " +
                             r.computedChecksum + " - the file is damaged");
    return r;
}

void ModelFile::save(const std::string& path, const Model& model, const ModelMetadata& metadata,
                     const ModelSaveOptions& options) {
    const ModelConfig& c = model.config;
    if (c.vocabSize != model.edges.vocabSize())
        throw CheckpointError("cannot save '" + path + "': the config has " + std::to_string(c.vocabSize) +
                              " nodes but the edge table " + std::to_string(model.edges.vocabSize()));
    if (c.dim <= 0 || c.maxPositions <= 0)
        throw CheckpointError("cannot save '" + path + "': the config needs positive dim and max_positions");
    const int64_t n = model.edges.numSlots(), d = c.dim;
    expectSaveShape(path, "weights", model.weights, {n, d, d});
    expectSaveShape(path, "biases", model.biases, {n, 1, d});
    expectSaveShape(path, "node_bias", model.nodeBias, {c.vocabSize, 1, d});
    expectSaveShape(path, "positions", model.positions, {1, c.maxPositions, 1});
    if (!metadata.vocabulary.empty() && static_cast<int64_t>(metadata.vocabulary.size()) != c.vocabSize)
        throw CheckpointError("cannot save '" + path + "': the vocabulary has " +
                              std::to_string(metadata.vocabulary.size()) + " tokens, the model " +
                              std::to_string(c.vocabSize) + " nodes");
    const StorageDtype dtype = options.dtype.value_or(toStorageDtype(model.weights.scalar_type()));
    if (!isFloating(dtype)) throw CheckpointError("cannot save '" + path + "': the storage dtype must be floating");

    ModelFileHeader h;
    h.vocabSize = c.vocabSize;
    h.dim = d;
    h.maxPositions = c.maxPositions;
    h.dtype = dtype;
    h.vocabulary = metadata.vocabulary;
    h.tokenizerKind = metadata.tokenizerKind;
    h.tokenizerJson = metadata.tokenizerJson;
    h.provenanceJson = metadata.provenanceJson.empty() ? "{}" : metadata.provenanceJson;
    h.writer = "BriLLM Studio";
    // A placeholder of the final length: the digest is patched in once the data is written.
    const std::string placeholder = "sha256:" + std::string(64, '0');
    h.checksum = placeholder;

    struct Item {
        const char* name;
        StorageDtype dtype;
        std::vector<int64_t> shape;
        const at::Tensor* tensor; // nullptr: an edge array
    };
    std::vector<Item> items = {
        {ModelFileHeader::kRowPtr, StorageDtype::I64, {c.vocabSize + 1}, nullptr},
        {ModelFileHeader::kWeights, dtype, {n, d, d}, &model.weights},
        {ModelFileHeader::kBiases, dtype, {n, 1, d}, &model.biases},
        {ModelFileHeader::kNodeBias, dtype, {c.vocabSize, 1, d}, &model.nodeBias},
        {ModelFileHeader::kPositions, dtype, {1, c.maxPositions, 1}, &model.positions},
        {ModelFileHeader::kTargets, StorageDtype::I32, {n - 1}, nullptr},
    };
    // Larger elements first: every tensor then starts at a multiple of its element size.
    std::stable_sort(items.begin(), items.end(),
                     [](const Item& a, const Item& b) { return elementSize(a.dtype) > elementSize(b.dtype); });
    std::vector<SafetensorsEntry> entries;
    for (const auto& it : items)
        entries.push_back({it.name, it.dtype, it.shape, 0, 0});
    std::string prefix = SafetensorsHeader::serialize(entries, h.metadata());
    if (options.weightsPageOffset) {
        uint64_t weightsAt = prefix.size();
        for (const auto& e : entries)
            if (e.name == ModelFileHeader::kWeights) weightsAt += e.begin;
        const uint64_t pad =
            (*options.weightsPageOffset % kModelFilePageSize + kModelFilePageSize - weightsAt % kModelFilePageSize) %
            kModelFilePageSize;
        // A multiple of 4 keeps every tensor aligned to its element size except, when the
        // padding is 4 modulo 8 (a half-precision shard with an odd number of own slots: its
        // weights follow the I32 targets), edges.row_ptr, which is then read by copy.
        if (pad % 4 == 0 && pad > 0) {
            // the same header, padded with spaces: the 8-byte length grows by the padding
            const uint64_t len = prefix.size() - 8 + pad;
            prefix.append(static_cast<size_t>(pad), ' ');
            for (int i = 0; i < 8; ++i)
                prefix[static_cast<size_t>(i)] = static_cast<char>((len >> (8 * i)) & 0xFF);
        }
    }
    const size_t checksumPos = prefix.find(placeholder);
    if (checksumPos == std::string::npos) throw CheckpointError("internal error: checksum placeholder not found");

    CheckpointWriter out(path);
    out.write(prefix.data(), prefix.size());
    Sha256 sha;
    const uint64_t total = entries.back().end;
    uint64_t done = 0;
    auto emit = [&](const void* p, size_t bytes) {
        out.write(p, bytes);
        sha.update(p, bytes);
        done += bytes;
        if (options.progress && !options.progress(done, total)) throw CancelledError();
    };
    const at::ScalarType target = toScalarType(dtype);
    for (const auto& it : items) {
        if (it.tensor == nullptr) {
            if (std::string(it.name) == ModelFileHeader::kRowPtr)
                emit(model.edges.rowPtr().data(), model.edges.rowPtr().size() * sizeof(int64_t));
            else
                emit(model.edges.targets().data(), model.edges.targets().size() * sizeof(int32_t));
            continue;
        }
        detail::forEachChunk(*it.tensor, target, emit);
    }
    const std::string digest = "sha256:" + Sha256::hex(sha.finish());
    out.writeAt(checksumPos, {reinterpret_cast<const std::byte*>(digest.data()), digest.size()});
    out.commit();
}

} // namespace brillm
