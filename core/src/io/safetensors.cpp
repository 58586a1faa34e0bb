// SPDX-License-Identifier: GPL-3.0-or-later
#include "brillm/io/safetensors.h"

#include "brillm/error.h"
#include "brillm/io/input_limits.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstring>
#include <limits>

namespace brillm {

namespace {

using nlohmann::json;

[[noreturn]] void bad(const std::string& file, const std::string& what) {
    throw CheckpointError("'" + file + "' is not a valid safetensors file: " + what);
}

uint64_t readLe64(const std::byte* p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; --i)
        v = (v << 8) | std::to_integer<uint64_t>(p[i]);
    return v;
}

// A non-negative integer that fits int64.
bool asIndex(const json& j, uint64_t& out) {
    if (j.is_number_unsigned()) {
        out = j.get<uint64_t>();
    } else if (j.is_number_integer()) {
        const auto v = j.get<int64_t>();
        if (v < 0) return false;
        out = static_cast<uint64_t>(v);
    } else {
        return false;
    }
    return out <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
}

} // namespace

int64_t SafetensorsEntry::numel() const {
    int64_t n = 1;
    for (int64_t s : shape)
        n *= s;
    return n;
}

const SafetensorsEntry* SafetensorsHeader::find(const std::string& name) const {
    for (const auto& e : entries)
        if (e.name == name) return &e;
    return nullptr;
}

SafetensorsHeader SafetensorsHeader::parse(std::span<const std::byte> file, const std::string& fileName) {
    if (file.size() < 8)
        bad(fileName, "the file has " + std::to_string(file.size()) +
                          " bytes, expected at least 8 (the header length) - truncated or not a model file");
    const uint64_t headerLen = readLe64(file.data());
    if (headerLen < 2 || headerLen > kMaxHeaderSize)
        bad(fileName, "header length " + std::to_string(headerLen) + " is outside 2.." +
                          std::to_string(kMaxHeaderSize) + " bytes - not a model file");
    if (headerLen > file.size() - 8)
        bad(fileName, "the header claims " + std::to_string(headerLen) + " bytes but only " +
                          std::to_string(file.size() - 8) + " follow - the file is truncated");
    const char* text = reinterpret_cast<const char*>(file.data() + 8);
    if (text[0] != '{') bad(fileName, "the header does not start with '{' - not a model file");

    if (const auto deep = jsonDepthProblem({text, static_cast<size_t>(headerLen)}); !deep.empty())
        bad(fileName, "header: " + deep);
    json header;
    try {
        header = json::parse(text, text + headerLen);
    } catch (const json::exception& e) {
        bad(fileName, std::string("malformed header JSON: ") + e.what());
    }
    if (!header.is_object()) bad(fileName, "the header is not a JSON object");

    SafetensorsHeader out;
    out.dataStart = 8 + headerLen;
    out.dataSize = file.size() - out.dataStart;
    for (auto it = header.begin(); it != header.end(); ++it) {
        const std::string& name = it.key();
        const json& v = it.value();
        if (name == "__metadata__") {
            if (!v.is_object()) bad(fileName, "\"__metadata__\" must be an object of strings");
            for (auto m = v.begin(); m != v.end(); ++m) {
                if (!m.value().is_string()) bad(fileName, "\"__metadata__\" entry \"" + m.key() + "\" is not a string");
                out.metadata.emplace(m.key(), m.value().get<std::string>());
            }
            continue;
        }
        const std::string where = "tensor \"" + name + "\"";
        if (!v.is_object()) bad(fileName, where + " is not an object");
        const auto dt = v.find("dtype");
        const auto sh = v.find("shape");
        const auto off = v.find("data_offsets");
        if (dt == v.end() || sh == v.end() || off == v.end())
            bad(fileName, where + " needs \"dtype\", \"shape\" and \"data_offsets\"");
        SafetensorsEntry e;
        e.name = name;
        if (!dt->is_string()) bad(fileName, where + ": \"dtype\" is not a string");
        const auto dtype = dtypeFromSafetensorsName(dt->get_ref<const std::string&>());
        if (!dtype) bad(fileName, where + ": unsupported dtype \"" + dt->get<std::string>() + "\"");
        e.dtype = *dtype;
        if (!sh->is_array()) bad(fileName, where + ": \"shape\" is not an array");
        if (sh->size() > 64) bad(fileName, where + ": more than 64 dimensions");
        uint64_t numel = 1;
        bool overflow = false;
        for (const auto& d : *sh) {
            uint64_t n = 0;
            if (!asIndex(d, n)) bad(fileName, where + ": \"shape\" entries must be non-negative integers");
            e.shape.push_back(static_cast<int64_t>(n));
            if (n != 0 && numel > std::numeric_limits<uint64_t>::max() / n) overflow = true;
            numel *= n;
        }
        if (!off->is_array() || off->size() != 2 || !asIndex((*off)[0], e.begin) || !asIndex((*off)[1], e.end))
            bad(fileName, where + ": \"data_offsets\" must be two non-negative integers [begin, end]");
        if (e.end < e.begin) bad(fileName, where + ": \"data_offsets\" end precedes begin");
        const uint64_t es = elementSize(e.dtype);
        if (overflow || numel > std::numeric_limits<uint64_t>::max() / es || numel * es != e.end - e.begin)
            bad(fileName, where + ": " + std::to_string(e.end - e.begin) + " bytes do not match its shape and dtype " +
                              safetensorsName(e.dtype));
        out.entries.push_back(std::move(e));
    }
    std::sort(out.entries.begin(), out.entries.end(), [](const SafetensorsEntry& a, const SafetensorsEntry& b) {
        return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
    });
    uint64_t expected = 0;
    for (const auto& e : out.entries) {
        if (e.begin < expected)
            bad(fileName, "tensor \"" + e.name + "\" overlaps the tensor before it (offset " + std::to_string(e.begin) +
                              ", expected " + std::to_string(expected) + ")");
        if (e.begin > expected)
            bad(fileName, "a hole before tensor \"" + e.name + "\" (offset " + std::to_string(e.begin) + ", expected " +
                              std::to_string(expected) + ")");
        expected = e.end;
    }
    if (expected != out.dataSize)
        bad(fileName, "the tensors cover " + std::to_string(expected) + " bytes but the data section has " +
                          std::to_string(out.dataSize) +
                          (expected > out.dataSize ? " - the file is truncated" : " - trailing bytes"));
    return out;
}

std::string SafetensorsHeader::serialize(std::vector<SafetensorsEntry>& entries,
                                         const std::map<std::string, std::string>& metadata) {
    json header = json::object();
    if (!metadata.empty()) header["__metadata__"] = metadata;
    uint64_t offset = 0;
    for (auto& e : entries) {
        uint64_t numel = 1;
        for (int64_t s : e.shape) {
            if (s < 0) throw CheckpointError("tensor \"" + e.name + "\" has a negative dimension");
            numel *= static_cast<uint64_t>(s);
        }
        e.begin = offset;
        e.end = offset + numel * elementSize(e.dtype);
        offset = e.end;
        if (e.name == "__metadata__" || header.contains(e.name))
            throw CheckpointError("tensor name \"" + e.name + "\" is reserved or used twice");
        header[e.name] = {{"dtype", safetensorsName(e.dtype)}, {"shape", e.shape}, {"data_offsets", {e.begin, e.end}}};
    }
    std::string text;
    try {
        text = header.dump();
    } catch (const json::exception& e) {
        throw CheckpointError(std::string("cannot encode the model file header: ") + e.what());
    }
    text.append((8 - (8 + text.size()) % 8) % 8, ' ');
    if (text.size() > kMaxHeaderSize)
        throw CheckpointError("the model file header would be " + std::to_string(text.size()) +
                              " bytes, above the safetensors limit of " + std::to_string(kMaxHeaderSize));
    std::string out(8, '\0');
    uint64_t n = text.size();
    for (int i = 0; i < 8; ++i)
        out[static_cast<size_t>(i)] = static_cast<char>((n >> (8 * i)) & 0xFF);
    return out + text;
}

} // namespace brillm
