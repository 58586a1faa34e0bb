// SPDX-License-Identifier: GPL-3.0-or-later
// brillm verify: checksum, shapes and a NaN/Inf scan of a model file; non-zero exit on failure.
#include "args.h"
#include "commands.h"

#include "brillm/error.h"
#include "brillm/io/model_file.h"
#include "brillm/text/text_codec.h"

#include <chrono>
#include <cstdio>
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
    p.positional("MODEL", &path, "model file");
    p.flag("quiet", &quiet, "print only problems");
    if (!p.parse(args)) return 0;

    const auto start = std::chrono::steady_clock::now();
    std::optional<ModelFile> opened;
    try {
        opened = ModelFile::open(path);
    } catch (const CheckpointError& e) {
        std::printf("FAIL header and shapes: %s\n", e.what());
        return 1;
    }
    const ModelFile& f = *opened;
    if (!quiet)
        std::printf("ok   header and shapes (V = %lld, d = %lld, %lld slots, %s)\n",
                    static_cast<long long>(f.header().vocabSize), static_cast<long long>(f.header().dim),
                    static_cast<long long>(f.header().edges.numSlots()), safetensorsName(f.header().dtype));
    // every check a command makes when it opens the model, so that a file verify passes opens
    // everywhere: the signal's dimension, the vocabulary (no duplicates, V tokens) and the
    // embedded tokenizer
    std::vector<std::string> usable;
    if (f.header().dim % 2 != 0)
        usable.push_back("dimension: d = " + std::to_string(f.header().dim) +
                         " is odd; the positional encoding needs an even d (generate, trace and score refuse it)");
    const ModelMetadata meta = f.metadata();
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
    const ModelVerifyReport r = f.verify(quiet ? FileProgress{} : terminalProgress("reading"));
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (!quiet) {
        if (r.storedChecksum == r.computedChecksum) std::printf("ok   checksum %s\n", r.computedChecksum.c_str());
        for (const auto& t : r.tensors)
            if (t.nonFinite == 0)
                std::printf("ok   %-10s %lld values, all finite\n", t.name.c_str(), static_cast<long long>(t.numel));
    }
    for (const auto& problem : r.problems)
        std::printf("FAIL %s\n", problem.c_str());
    for (const auto& problem : usable)
        std::printf("FAIL %s\n", problem.c_str());
    const bool ok = r.ok() && usable.empty();
    if (!quiet) std::printf("%s: %s (%.1f s)\n", path.c_str(), ok ? "verified" : "FAILED", secs);
    return ok ? 0 : 1;
}

} // namespace brillm::cli
