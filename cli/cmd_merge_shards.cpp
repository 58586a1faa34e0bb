// SPDX-License-Identifier: GPL-3.0-or-later
// brillm merge-shards: the shards of a --shard-edges model (a directory with shards.json) as one model file.
#include "args.h"
#include "commands.h"

#include "brillm/io/model_file.h"
#include "brillm/io/sharded_model.h"

#include <cstdio>

namespace brillm::cli {

int runMergeShards(const Args& args) {
    std::string shards, out;
    bool quiet = false;
    ArgParser p("brillm merge-shards",
                "Merges the shards of a model trained with --shard-edges (RUN_DIR/model-shards, or a checkpoint of\n"
                "such a run) into one model file, whatever number of ranks wrote them. Every other command also\n"
                "opens the shard directory directly.");
    p.option("shards", &shards, "DIR", "the shard directory (holding shards.json)");
    p.option("out", &out, "FILE", "the model file to write (atomically)");
    p.flag("quiet", &quiet, "print nothing but errors");
    p.required("shards");
    p.required("out");
    if (!p.parse(args)) return 0;
    // the shards mapped (or merged in memory when they cannot be), written in chunks in their dtype:
    // no second copy of the weights in memory
    const LoadedModel loaded = openShardedModel(shards);
    const Model& model = loaded.model;
    ModelSaveOptions options;
    options.dtype = loaded.storedDtype;
    ModelFile::save(out, model, loaded.metadata, options);
    if (!quiet)
        std::printf("wrote %s: %d shards merged (%s), V=%lld, %lld own edges, d=%lld\n", out.c_str(), loaded.shards,
                    loaded.mergedBecause.empty() ? "mapped" : "read into memory",
                    static_cast<long long>(model.vocabSize()), static_cast<long long>(model.edges.numOwn()),
                    static_cast<long long>(model.dim()));
    return 0;
}

} // namespace brillm::cli
