// SPDX-License-Identifier: GPL-3.0-or-later
// brillm merge-shards: the shards of a --shard-edges model (a directory with shards.json) as one model file.
#include "args.h"
#include "commands.h"

#include "brillm/io/model_file.h"
#include "brillm/training/shard.h"

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
    const auto set = training::ShardSet::open(shards);
    const Model model = set.merged();
    ModelFile::save(out, model, set.metadata());
    if (!quiet)
        std::printf("wrote %s: %d shards merged, V=%lld, %lld own edges, d=%lld\n", out.c_str(), set.shards(),
                    static_cast<long long>(model.vocabSize()), static_cast<long long>(model.edges.numOwn()),
                    static_cast<long long>(model.dim()));
    return 0;
}

} // namespace brillm::cli
