// SPDX-License-Identifier: GPL-3.0-or-later
// brillm export: a BriLLM model file to a torch.save state dict (or to another model file).
#include "args.h"
#include "commands.h"

#include "brillm/error.h"
#include "brillm/io/checkpoint_export.h"
#include "brillm/io/model_file.h"
#include "brillm/io/sharded_model.h"
#include "model_session.h"

#include <cstdio>

namespace brillm::cli {

FileProgress terminalProgress(const char* what);

int runExport(const Args& args) {
    std::string modelPath, format, out, dtypeText, prefix, vocabOut, frequencyOut;
    bool quiet = false;
    ArgParser p(
        "brillm export",
        "Writes a model file as a torch.save state dict (--format torch) that the reference Python code loads with\n"
        "model.load_state_dict(torch.load(FILE)), or as a model file in another dtype (--format brillm). The\n"
        "reference rebuilds the slot map from its node dictionary and word_frequency.json: use the ones the\n"
        "model was imported or trained with.");
    p.option("model", &modelPath, "FILE", "BriLLM model file (or a sharded model's directory) to export");
    p.option("format", &format, "torch|brillm", "output format");
    p.option("out", &out, "FILE", "file to write (atomically)");
    p.option("dtype", &dtypeText, "f32|f16|bf16|f64", "dtype of the written tensors (default: as stored)");
    p.option("prefix", &prefix, "TEXT", "torch: a prefix for every key, e.g. 'module.'");
    p.option("vocab-out", &vocabOut, "FILE", "torch: also write the node dictionary {token: id} the reference reads");
    p.option("frequency-out", &frequencyOut, "FILE",
             "torch: also write a word_frequency.json that rebuilds this model's slot map (own pairs 1, shared 0)");
    p.flag("quiet", &quiet, "print nothing but errors");
    p.required("model");
    p.required("format");
    p.required("out");
    if (!p.parse(args)) return 0;
    std::optional<StorageDtype> dtype;
    if (!dtypeText.empty()) {
        dtype = parseFloatDtype(dtypeText);
        if (!dtype) throw UsageError("--dtype: '" + dtypeText + "' is not one of f32, f16, bf16, f64");
    }
    if (format != "torch" && format != "brillm") throw UsageError("--format: '" + format + "' is not torch or brillm");
    if (format == "brillm" && (!prefix.empty() || !vocabOut.empty() || !frequencyOut.empty()))
        throw UsageError("--prefix, --vocab-out and --frequency-out apply to --format torch only");

    // The tensors as stored: no float32 detour for an F16/BF16 file; a sharded model's rows mapped.
    const LoadedModel loaded = openModel(modelPath);
    noteMergedShards(loaded);
    if (!dtype) dtype = loaded.storedDtype;
    const Model& model = loaded.model;
    const std::vector<std::string>& tokens = loaded.metadata.vocabulary;
    const FileProgress progress = quiet ? FileProgress{} : terminalProgress("writing");
    if (format == "torch") {
        TorchExportOptions o;
        o.dtype = dtype;
        o.keyPrefix = prefix;
        o.progress = progress;
        exportTorchStateDict(out, model, o);
        if ((!vocabOut.empty() || !frequencyOut.empty()) && tokens.empty())
            throw CheckpointError("'" + modelPath + "' names no vocabulary: --vocab-out and --frequency-out need one");
        if (!vocabOut.empty()) writeReferenceVocabulary(vocabOut, tokens);
        if (!frequencyOut.empty()) writeReferenceFrequencyTable(frequencyOut, model.edges, tokens);
    } else {
        ModelSaveOptions o;
        o.dtype = dtype;
        o.progress = progress;
        ModelFile::save(out, model, loaded.metadata, o);
    }
    if (!quiet) std::printf("wrote %s (%s, %s)\n", out.c_str(), format.c_str(), shortName(*dtype));
    return 0;
}

} // namespace brillm::cli
