// SPDX-License-Identifier: GPL-3.0-or-later
// brillm verify: checksum, shapes and a NaN/Inf scan of a model file; non-zero exit on failure.
#include "args.h"
#include "commands.h"

#include "brillm/error.h"
#include "brillm/model_file.h"

#include <chrono>
#include <cstdio>
#include <optional>

namespace brillm::cli {

FileProgress terminalProgress(const char* what);

int runVerify(const Args& args) {
    std::string path;
    bool quiet = false;
    ArgParser p("brillm verify",
                "Checks a model file: the header and every shape against the config and the edge table, the SHA-256\n"
                "checksum of all tensor data (read from disk), and every parameter for NaN or Inf. Exits 1 when any\n"
                "check fails.");
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
    if (!quiet) std::printf("%s: %s (%.1f s)\n", path.c_str(), r.ok() ? "verified" : "FAILED", secs);
    return r.ok() ? 0 : 1;
}

} // namespace brillm::cli
