// SPDX-License-Identifier: GPL-3.0-or-later
#include "brillm/checkpoint_export.h"

#include "checkpoint_chunks.h"

#include "brillm/checkpoint_writer.h"
#include "brillm/error.h"
#include "brillm/torch_pickle_writer.h"
#include "brillm/torch_zip_writer.h"

namespace brillm {

void exportTorchStateDict(const std::string& path, const Model& model, const TorchExportOptions& options) {
    const struct {
        const char* key;
        const at::Tensor* tensor;
    } items[] = {{"weights", &model.weights}, {"biases", &model.biases}, {"node_bias", &model.nodeBias},
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
