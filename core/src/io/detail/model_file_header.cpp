// SPDX-License-Identifier: GPL-3.0-or-later
#include "brillm/io/model_file_header.h"

#include "brillm/error.h"
#include "brillm/io/input_limits.h"
#include "io/detail/shape_text.h"

#include <nlohmann/json.hpp>

#include <bit>
#include <cstring>
#include <limits>
#include <sstream>

namespace brillm {

namespace {

using nlohmann::json;

[[noreturn]] void bad(const std::string& file, const std::string& what) {
    throw CheckpointError("'" + file + "' is not a valid BriLLM model file: " + what);
}

using detail::shapeText;

const std::string& requireMeta(const SafetensorsHeader& layout, const std::string& key, const std::string& file) {
    const auto it = layout.metadata.find(key);
    if (it == layout.metadata.end()) bad(file, "\"__metadata__\" has no \"" + key + "\" entry");
    return it->second;
}

json parseMetaJson(const std::string& text, const std::string& key, const std::string& file) {
    // provenance, vocabulary and config are parsed to a DOM and walked recursively (info dumps it)
    if (const auto deep = jsonDepthProblem(text); !deep.empty()) bad(file, "metadata \"" + key + "\": " + deep);
    try {
        return json::parse(text);
    } catch (const json::exception& e) {
        bad(file, "metadata \"" + key + "\" is not valid JSON: " + e.what());
    }
}

int64_t positiveField(const json& config, const char* name, int64_t maxValue, const std::string& file) {
    const auto it = config.find(name);
    if (it == config.end() || !it->is_number_integer())
        bad(file, std::string("metadata \"config\" needs an integer \"") + name + "\"");
    const auto v = it->get<int64_t>();
    if (v <= 0 || v > maxValue)
        bad(file, std::string("config \"") + name + "\" is " + std::to_string(v) + ", expected 1.." +
                      std::to_string(maxValue));
    return v;
}

const SafetensorsEntry& expectTensor(const ModelFileHeader& h, const char* name, StorageDtype dtype,
                                     const std::vector<int64_t>& shape, const std::string& file,
                                     const std::string& why) {
    const SafetensorsEntry* e = h.layout.find(name);
    if (!e) bad(file, std::string("no tensor \"") + name + "\"");
    if (e->dtype != dtype)
        bad(file, std::string("tensor \"") + name + "\" has dtype " + safetensorsName(e->dtype) + ", expected " +
                      safetensorsName(dtype));
    if (e->shape != shape)
        bad(file, std::string("tensor \"") + name + "\" has shape " + shapeText(e->shape) + ", expected " +
                      shapeText(shape) + why);
    return *e;
}

template <class T> std::vector<T> copyArray(std::span<const std::byte> bytes) {
    std::vector<T> out(bytes.size() / sizeof(T));
    if (!out.empty()) std::memcpy(out.data(), bytes.data(), out.size() * sizeof(T));
    return out;
}

} // namespace

ModelFileHeader ModelFileHeader::parse(std::span<const std::byte> file, const std::string& fileName) {
    static_assert(std::endian::native == std::endian::little, "the model file is little-endian");
    ModelFileHeader h;
    h.layout = SafetensorsHeader::parse(file, fileName);
    const auto& meta = h.layout.metadata;

    // Identity and version first: a foreign safetensors file gets a message that says so.
    const auto fmt = meta.find("format");
    if (fmt == meta.end())
        bad(fileName, "it is a safetensors file without a \"format\" metadata entry (expected \"" +
                          std::string(kModelFileFormat) + "\")");
    if (fmt->second != kModelFileFormat)
        bad(fileName, "format is \"" + fmt->second + "\", expected \"" + kModelFileFormat + "\"");
    const std::string& version = requireMeta(h.layout, "format_version", fileName);
    int v = 0;
    {
        size_t used = 0;
        try {
            v = std::stoi(version, &used);
        } catch (const std::exception&) {
            used = 0;
        }
        if (used == 0 || used != version.size() || v < 1)
            bad(fileName, "format_version \"" + version + "\" is not a version number");
    }
    if (v > kModelFileVersion)
        throw CheckpointError("'" + fileName + "' has model file format version " + std::to_string(v) +
                              ", newer than this build reads (" + std::to_string(kModelFileVersion) +
                              "): use a newer BriLLM Studio");
    h.formatVersion = v;

    const json config = parseMetaJson(requireMeta(h.layout, "config", fileName), "config", fileName);
    if (!config.is_object()) bad(fileName, "metadata \"config\" is not a JSON object");
    h.vocabSize = positiveField(config, "vocab_size", std::numeric_limits<int32_t>::max(), fileName);
    h.dim = positiveField(config, "dim", 1 << 16, fileName);
    h.maxPositions = positiveField(config, "max_positions", std::numeric_limits<int32_t>::max(), fileName);

    const std::string& dtypeName = requireMeta(h.layout, "dtype", fileName);
    const auto dt = dtypeFromSafetensorsName(dtypeName);
    if (!dt || !isFloating(*dt)) bad(fileName, "dtype \"" + dtypeName + "\" is not one of F32, F64, F16, BF16");
    h.dtype = *dt;

    // The edge table, then every parameter tensor against config and edges.
    const SafetensorsEntry& rowPtr =
        expectTensor(h, kRowPtr, StorageDtype::I64, {h.vocabSize + 1}, fileName, " (vocab_size + 1)");
    const SafetensorsEntry* targets = h.layout.find(kTargets);
    if (!targets) bad(fileName, std::string("no tensor \"") + kTargets + "\"");
    if (targets->dtype != StorageDtype::I32 || targets->shape.size() != 1)
        bad(fileName, std::string("tensor \"") + kTargets + "\" must be a 1-D I32 array");
    try {
        h.edges = EdgeTable::fromCsr(h.vocabSize, copyArray<int64_t>(h.layout.bytesOf(rowPtr, file)),
                                     copyArray<int32_t>(h.layout.bytesOf(*targets, file)));
    } catch (const Error& e) {
        bad(fileName, std::string("the edge table is inconsistent: ") + e.what());
    }
    const int64_t n = h.edges.numSlots(), d = h.dim;
    const std::string slotsWhy = " (" + std::to_string(n) + " slots = 1 shared + " + std::to_string(n - 1) +
                                 " own edges, d = " + std::to_string(d) + ")";
    expectTensor(h, kWeights, h.dtype, {n, d, d}, fileName, slotsWhy);
    expectTensor(h, kBiases, h.dtype, {n, 1, d}, fileName, slotsWhy);
    expectTensor(h, kNodeBias, h.dtype, {h.vocabSize, 1, d}, fileName, " (vocab_size, 1, d)");
    expectTensor(h, kPositions, h.dtype, {1, h.maxPositions, 1}, fileName, " (1, max_positions, 1)");
    for (const auto& e : h.layout.entries) {
        const std::string& nm = e.name;
        if (nm != kWeights && nm != kBiases && nm != kNodeBias && nm != kPositions && nm != kRowPtr && nm != kTargets)
            h.notes.push_back("tensor \"" + nm + "\" is not part of format version " +
                              std::to_string(kModelFileVersion) + " and was ignored");
    }

    if (const auto it = meta.find("vocabulary"); it != meta.end()) {
        const json vocab = parseMetaJson(it->second, "vocabulary", fileName);
        if (!vocab.is_array()) bad(fileName, "metadata \"vocabulary\" is not a JSON array");
        if (!vocab.empty() && static_cast<int64_t>(vocab.size()) != h.vocabSize)
            bad(fileName, "the vocabulary lists " + std::to_string(vocab.size()) +
                              " tokens, expected vocab_size = " + std::to_string(h.vocabSize));
        h.vocabulary.reserve(vocab.size());
        for (const auto& t : vocab) {
            if (!t.is_string()) bad(fileName, "metadata \"vocabulary\" holds a non-string entry");
            h.vocabulary.push_back(t.get<std::string>());
        }
    }
    if (const auto it = meta.find("tokenizer_kind"); it != meta.end()) h.tokenizerKind = it->second;
    if (const auto it = meta.find("tokenizer_json"); it != meta.end()) h.tokenizerJson = it->second;
    if (const auto it = meta.find("writer"); it != meta.end()) h.writer = it->second;
    if (const auto it = meta.find("provenance"); it != meta.end()) {
        if (!parseMetaJson(it->second, "provenance", fileName).is_object())
            bad(fileName, "metadata \"provenance\" is not a JSON object");
        h.provenanceJson = it->second;
    }
    if (const auto it = meta.find("checksum"); it != meta.end()) {
        const std::string& c = it->second;
        const bool ok = c.size() == 7 + 64 && c.compare(0, 7, "sha256:") == 0 &&
                        c.find_first_not_of("0123456789abcdef", 7) == std::string::npos;
        if (!ok) bad(fileName, "metadata \"checksum\" is not \"sha256:\" followed by 64 lower-case hex digits");
        h.checksum = c;
    }
    return h;
}

std::map<std::string, std::string> ModelFileHeader::metadata() const {
    std::map<std::string, std::string> m;
    m["format"] = kModelFileFormat;
    m["format_version"] = std::to_string(formatVersion);
    m["config"] = json{{"vocab_size", vocabSize}, {"dim", dim}, {"max_positions", maxPositions}}.dump();
    m["dtype"] = safetensorsName(dtype);
    try {
        m["vocabulary"] = json(vocabulary).dump();
    } catch (const json::exception&) {
        for (size_t i = 0; i < vocabulary.size(); ++i) {
            try {
                (void)json(vocabulary[i]).dump();
            } catch (const json::exception&) {
                throw CheckpointError("vocabulary token " + std::to_string(i) + " is not valid UTF-8");
            }
        }
        throw;
    }
    m["tokenizer_kind"] = tokenizerKind;
    if (!tokenizerJson.empty()) m["tokenizer_json"] = tokenizerJson;
    m["provenance"] = provenanceJson.empty() ? "{}" : provenanceJson;
    if (!checksum.empty()) m["checksum"] = checksum;
    if (!writer.empty()) m["writer"] = writer;
    return m;
}

} // namespace brillm
