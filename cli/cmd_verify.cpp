// SPDX-License-Identifier: GPL-3.0-or-later
// brillm verify: checksum, shapes and a NaN/Inf scan of a model file; non-zero exit on failure.
#include "args.h"
#include "commands.h"

#include "brillm/error.h"
#include "brillm/io/model_file.h"
#include "brillm/io/sharded_model.h"
#include "brillm/text/text_codec.h"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace brillm::cli {

FileProgress terminalProgress(const char* what);

int runVerify(const Args& args) {
    std::string path;
    bool quiet = false;
    ArgParser p("brillm verify",
                "Checks a model file: the header and every shape against the config and the edge table, the SHA-256\n"
                "checksum of all tensor data (read from disk), every parameter for NaN or Inf, and what the other\n"
                "commands need to open it: an even dimension, a vocabulary of V distinct tokens, a valid embedded\n"
                "tokenizer. Exits 1 when any check fails.");
    p.positional("MODEL", &path, "model file, or a sharded model's directory (every shard file is checked)");
    p.flag("quiet", &quiet, "print only problems");
    if (!p.parse(args)) return 0;

    const auto start = std::chrono::steady_clock::now();
    // a sharded model: the manifest against every shard's header, then each shard file's data
    std::optional<ShardSet> set;
    std::vector<const ModelFile*> files;
    std::optional<ModelFile> opened;
    try {
        if (isShardedModel(path)) {
            set = ShardSet::open(path);
            for (int q = 0; q < set->shards(); ++q)
                files.push_back(&set->file(q));
            if (!quiet)
                std::printf("ok   manifest of %d shards (%lld slots in all)\n", set->shards(),
                            static_cast<long long>(set->edges().numSlots()));
        } else {
            opened = ModelFile::open(path);
            files.push_back(&*opened);
        }
    } catch (const CheckpointError& e) {
        std::printf("FAIL header and shapes: %s\n", e.what());
        return 1;
    }
    const ModelFile& f = *files.front();
    if (!quiet)
        std::printf("ok   header and shapes (V = %lld, d = %lld, %lld slots, %s)\n",
                    static_cast<long long>(f.header().vocabSize), static_cast<long long>(f.header().dim),
                    static_cast<long long>(set ? set->edges().numSlots() : f.header().edges.numSlots()),
                    safetensorsName(f.header().dtype));
    // every check a command makes when it opens the model, so that a file verify passes opens
    // everywhere: the signal's dimension, the vocabulary (no duplicates, V tokens) and the
    // embedded tokenizer
    std::vector<std::string> usable;
    if (f.header().dim % 2 != 0)
        usable.push_back("dimension: d = " + std::to_string(f.header().dim) +
                         " is odd; the positional encoding needs an even d (generate, trace and score refuse it)");
    const ModelMetadata meta = set ? set->metadata() : f.metadata();
    if (!meta.vocabulary.empty()) {
        try {
            (void)TextCodec::fromMetadata(meta, f.header().vocabSize);
            if (!quiet)
                std::printf("ok   vocabulary (%zu tokens)%s\n", meta.vocabulary.size(),
                            meta.tokenizerJson.empty() ? "" : " and embedded tokenizer");
        } catch (const Error& e) {
            usable.push_back(std::string("vocabulary and tokenizer: ") + e.what());
        }
    }
    bool ok = usable.empty();
    for (const ModelFile* file : files) {
        const std::string name = set ? std::filesystem::path(file->path()).filename().string() + ": " : "";
        const ModelVerifyReport r = file->verify(quiet ? FileProgress{} : terminalProgress("reading"));
        if (!quiet) {
            if (r.storedChecksum == r.computedChecksum)
                std::printf("ok   %schecksum %s\n", name.c_str(), r.computedChecksum.c_str());
            for (const auto& t : r.tensors)
                if (t.nonFinite == 0)
                    std::printf("ok   %s%-10s %lld values, all finite\n", name.c_str(), t.name.c_str(),
                                static_cast<long long>(t.numel));
        }
        for (const auto& problem : r.problems)
            std::printf("FAIL %s%s\n", name.c_str(), problem.c_str());
        ok = ok && r.ok();
    }
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    for (const auto& problem : usable)
        std::printf("FAIL %s\n", problem.c_str());
    if (!quiet) std::printf("%s: %s (%.1f s)\n", path.c_str(), ok ? "verified" : "FAILED", secs);
    return ok ? 0 : 1;
}

} // namespace brillm::cli
