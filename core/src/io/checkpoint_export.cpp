// SPDX-License-Identifier: GPL-3.0-or-later
#include "brillm/io/checkpoint_export.h"

#include "io/detail/checkpoint_chunks.h"

#include "brillm/error.h"
#include "brillm/io/checkpoint_writer.h"
#include "io/detail/torch_pickle_writer.h"
#include "io/detail/torch_zip_writer.h"

#include <nlohmann/json.hpp>

namespace brillm {

namespace {

std::string quoted(const std::string& token, size_t id) {
    try {
        return nlohmann::json(token).dump();
    } catch (const nlohmann::json::exception&) {
        throw CheckpointError("token " + std::to_string(id) + " is not valid UTF-8");
    }
}

} // namespace

void exportTorchStateDict(const std::string& path, const Model& model, const TorchExportOptions& options) {
    const struct {
        const char* key;
        const at::Tensor* tensor;
    } items[] = {{"weights", &model.weights},
                 {"biases", &model.biases},
                 {"node_bias", &model.nodeBias},
                 {"positions", &model.positions}};
    for (const auto& it : items)
        if (!it.tensor->defined())
            throw CheckpointError("cannot export '" + path + "': model tensor '" + it.key + "' is undefined");
    const StorageDtype dtype = options.dtype.value_or(toStorageDtype(model.weights.scalar_type()));
    if (!isFloating(dtype)) throw CheckpointError("cannot export '" + path + "': the dtype must be floating");
    const std::string& archive = options.archiveName;
    if (archive.empty() || archive.find('/') != std::string::npos)
        throw CheckpointError("cannot export '" + path + "': bad archive name \"" + archive + "\"");

    std::vector<PickleTensor> specs;
    uint64_t total = 0;
    for (size_t k = 0; k < std::size(items); ++k) {
        specs.push_back({options.keyPrefix + items[k].key, dtype, items[k].tensor->sizes().vec(), std::to_string(k)});
        total += static_cast<uint64_t>(items[k].tensor->numel()) * elementSize(dtype);
    }

    CheckpointWriter out(path);
    TorchZipWriter zip(out, options.forceZip64);
    zip.addEntry(archive + "/data.pkl", TorchPickleWriter::stateDict(specs));
    zip.addEntry(archive + "/byteorder", std::string("little"));
    const at::ScalarType target = toScalarType(dtype);
    uint64_t done = 0;
    for (size_t k = 0; k < std::size(items); ++k) {
        const at::Tensor& t = *items[k].tensor;
        zip.beginEntry(archive + "/data/" + specs[k].storageKey, static_cast<uint64_t>(t.numel()) * elementSize(dtype));
        detail::forEachChunk(t, target, [&](const void* p, size_t bytes) {
            zip.write({static_cast<const std::byte*>(p), bytes});
            done += bytes;
            if (options.progress && !options.progress(done, total)) throw CancelledError();
        });
        zip.endEntry();
    }
    zip.addEntry(archive + "/version", std::string("3\n"));
    zip.finish();
    out.commit();
}

} // namespace brillm

namespace brillm {

void writeReferenceVocabulary(const std::string& path, const std::vector<std::string>& tokens) {
    std::string text = "{\n";
    for (size_t i = 0; i < tokens.size(); ++i)
        text += "  " + quoted(tokens[i], i) + ": " + std::to_string(i) + (i + 1 < tokens.size() ? ",\n" : "\n");
    text += "}\n";
    CheckpointWriter out(path);
    out.write(text.data(), text.size());
    out.commit();
}

void writeReferenceFrequencyTable(const std::string& path, const EdgeTable& edges,
                                  const std::vector<std::string>& tokens) {
    const int64_t v = edges.vocabSize();
    if (static_cast<int64_t>(tokens.size()) != v)
        throw CheckpointError("cannot write '" + path + "': " + std::to_string(tokens.size()) + " tokens for " +
                              std::to_string(v) + " nodes");
    std::vector<std::string> names(tokens.size());
    for (size_t i = 0; i < tokens.size(); ++i)
        names[i] = quoted(tokens[i], i);
    CheckpointWriter out(path);
    std::string line;
    std::vector<uint8_t> own(static_cast<size_t>(v));
    out.write("{", 1);
    for (int64_t s = 0; s < v; ++s) {
        line = (s ? ",\n" : "\n") + names[static_cast<size_t>(s)] + ": {";
        bool first = true;
        const auto row = edges.ownTargets(s);
        for (int32_t t : row) {
            own[static_cast<size_t>(t)] = 1;
            line += (first ? "" : ", ") + names[static_cast<size_t>(t)] + ": 1";
            first = false;
        }
        for (int64_t t = 0; t < v; ++t) {
            if (own[static_cast<size_t>(t)]) continue;
            line += (first ? "" : ", ") + names[static_cast<size_t>(t)] + ": 0";
            first = false;
        }
        for (int32_t t : row)
            own[static_cast<size_t>(t)] = 0;
        line += "}";
        out.write(line.data(), line.size());
    }
    out.write("\n}\n", 3);
    out.commit();
}

} // namespace brillm
