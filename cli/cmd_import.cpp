// SPDX-License-Identifier: GPL-3.0-or-later
// brillm import: a reference checkpoint (torch.save state dict) to a BriLLM model file.
#include "args.h"
#include "commands.h"

#include "brillm/io/checkpoint_import.h"

#include <chrono>
#include <cstdio>
#include <iostream>
#include <unistd.h>

namespace brillm::cli {

// Progress on standard error, at most a few times a second, only on a terminal.
FileProgress terminalProgress(const char* what) {
    if (!::isatty(2)) return {};
    auto last = std::make_shared<std::chrono::steady_clock::time_point>();
    return [what, last](uint64_t done, uint64_t total) {
        const auto now = std::chrono::steady_clock::now();
        if (done < total && now - *last < std::chrono::milliseconds(250)) return true;
        *last = now;
        std::fprintf(stderr, "\r%s %5.1f%% of %.2f GB", what,
                     total ? 100.0 * static_cast<double>(done) / static_cast<double>(total) : 100.0,
                     static_cast<double>(total) / 1e9);
        if (done >= total) std::fputc('\n', stderr);
        return true;
    };
}

int runImport(const Args& args) {
    ImportOptions o;
    std::string dtype;
    bool noCrc = false, quiet = false;
    ArgParser p(
        "brillm import",
        "Converts a reference BriLLM checkpoint - a torch.save state dict such as model_en.bin or model_zh.bin,\n"
        "keys optionally prefixed 'module.', or a trainer checkpoint {\"model_state_dict\": ...} - into a BriLLM\n"
        "model file. The slot of each node pair is rebuilt as the reference does, from the node dictionary and\n"
        "the frequency table (a pair listed with count 0 shares slot 0, every other pair owns one), and must\n"
        "match the number of slots in the file. Nothing in the checkpoint is executed.");
    p.option("state-dict", &o.stateDictPath, "FILE", "torch.save file to import");
    p.option("vocab", &o.vocabPath, "FILE", "node dictionary {token: id}, e.g. vocab_wiki_4k_en.json");
    p.option("frequency", &o.frequencyPath, "FILE",
             "word_frequency.json the model was trained with (needed unless dense)");
    p.option("tokenizer", &o.tokenizerPath, "FILE", "tokenizer.json to embed in the model file (English model)");
    p.option("tokenizer-kind", &o.tokenizerKind, "KIND",
             "tokenizer kind to record (default: detected; 'char' without --tokenizer)");
    p.option("dtype", &dtype, "f32|f16|bf16|f64",
             "storage dtype of the model file (default: the checkpoint's); bf16 and f16 files are decoded in\n"
             "place, at half the memory and half the bytes per token of f32 (training converts them to f32)");
    p.option("out", &o.outPath, "FILE", "model file to write (atomically)");
    p.flag("no-crc", &noCrc, "skip the zip CRC-32 check of the parameter data");
    p.flag("quiet", &quiet, "print nothing but errors");
    p.required("state-dict");
    p.required("vocab");
    p.required("out");
    if (!p.parse(args)) return 0;
    if (!dtype.empty()) {
        o.dtype = parseFloatDtype(dtype);
        if (!o.dtype) throw UsageError("--dtype: '" + dtype + "' is not one of f32, f16, bf16, f64");
    }
    o.verifyCrc = !noCrc;
    if (!quiet) o.progress = terminalProgress("writing");

    const auto start = std::chrono::steady_clock::now();
    const ImportReport r = importTorchCheckpoint(o);
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (quiet) return 0;
    std::printf("imported %s (%s) in %.1f s\n", o.stateDictPath.c_str(), r.layout.c_str(), secs);
    std::printf("  V = %lld, d = %lld, P = %lld, %lld slots (1 shared + %lld own edges), %s -> %s\n",
                static_cast<long long>(r.config.vocabSize), static_cast<long long>(r.config.dim),
                static_cast<long long>(r.config.maxPositions), static_cast<long long>(r.numSlots),
                static_cast<long long>(r.numSlots - 1), shortName(r.sourceDtype), shortName(r.storedDtype));
    for (const auto& note : r.notes)
        std::printf("  note: %s\n", note.c_str());
    std::printf("wrote %s\n", o.outPath.c_str());
    return 0;
}

} // namespace brillm::cli
