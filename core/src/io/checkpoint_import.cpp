// SPDX-License-Identifier: GPL-3.0-or-later
#include "brillm/io/checkpoint_import.h"

#include "text/frequency_json.h"

#include "brillm/error.h"
#include "brillm/io/input_limits.h"
#include "brillm/io/mapped_file.h"
#include "brillm/text/vocabulary.h"
#include "io/detail/shape_text.h"

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace brillm {

namespace {

using nlohmann::json;

using detail::shapeText;

std::string baseName(const std::string& path) {
    return std::filesystem::path(path).filename().string();
}

std::string utcNow() {
    const std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

const TorchTensorRecord& requireTensor(const TorchCheckpoint& c, const char* key) {
    if (const TorchTensorRecord* r = c.find(key)) return *r;
    std::string keys;
    for (const auto& t : c.tensors())
        keys += (keys.empty() ? "" : ", ") + t.originalKey;
    throw CheckpointError("'" + c.path() + "' has no \"" + key + "\" tensor: not a BriLLM state dict (its " +
                          c.stateDict().layout + " holds: " + keys + ")");
}

void expectRank(const TorchCheckpoint& c, const TorchTensorRecord& r, size_t rank, const char* layout) {
    if (r.shape.size() != rank)
        throw CheckpointError("'" + c.path() + "': \"" + r.originalKey + "\" has shape " + shapeText(r.shape) +
                              ", expected " + layout);
    if (!isFloating(r.dtype))
        throw CheckpointError("'" + c.path() + "': \"" + r.originalKey + "\" holds " + shortName(r.dtype) +
                              " values, expected a floating dtype");
}

std::string detectTokenizerKind(const std::string& text, const std::string& path) {
    if (const auto deep = jsonDepthProblem(text); !deep.empty()) throw CheckpointError("'" + path + "': " + deep);
    json j;
    try {
        j = json::parse(text);
    } catch (const json::exception& e) {
        throw CheckpointError("'" + path + "' is not valid JSON: " + e.what());
    }
    const auto model = j.find("model");
    if (!j.is_object() || model == j.end() || !model->is_object() || !model->contains("type"))
        throw CheckpointError("'" + path +
                              "' is not a HuggingFace tokenizer.json (no \"model\" section with a \"type\")");
    std::string type = (*model)["type"].is_string() ? (*model)["type"].get<std::string>() : "unknown";
    for (char& ch : type)
        ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    const bool byteLevel =
        j.contains("pre_tokenizer") && j["pre_tokenizer"].dump().find("\"ByteLevel\"") != std::string::npos;
    return byteLevel && type == "bpe" ? "byte-level-bpe" : type;
}

} // namespace

at::Tensor tensorFromCheckpoint(const TorchCheckpoint& checkpoint, const TorchTensorRecord& r) {
    const auto bytes = checkpoint.storageBytes(r);
    const size_t es = elementSize(r.dtype);
    const auto opts = at::TensorOptions().dtype(toScalarType(r.dtype));
    // The mapping is private copy-on-write memory, so handing out a writable pointer is safe.
    auto* base = const_cast<std::byte*>(bytes.data());
    if (reinterpret_cast<uintptr_t>(base) % es == 0) {
        auto keep = checkpoint.file();
        return at::from_blob(
            base + static_cast<size_t>(r.storageOffset) * es, r.shape, r.stride,
            [keep](void*) mutable { keep.reset(); }, opts);
    }
    at::Tensor storage = at::empty({r.storageNumel}, opts);
    std::memcpy(storage.data_ptr(), base, static_cast<size_t>(r.storageNumel) * es);
    return storage.as_strided(r.shape, r.stride, r.storageOffset);
}

ZeroFrequencyLists readZeroFrequencyLists(const std::string& path, const NodeVocabulary& vocabulary) {
    ZeroFrequencyLists out;
    out.zeroListed.resize(static_cast<size_t>(vocabulary.size()));
    const auto file = MappedFile::open(path);
    const char* text = reinterpret_cast<const char*>(file->bytes().data());
    if (const auto deep = jsonDepthProblem({text, file->size()}); !deep.empty())
        throw CheckpointError("'" + path + "' is not a valid frequency table: " + deep);
    detail::FrequencyJsonRules rules;
    rules.skipUnknownTokens = true; // the released tables name tokens the dictionary may lack
    rules.allowFractional = true;
    const auto r = detail::readFrequencyJson({text, file->size()}, vocabulary, rules,
                                             [&](int32_t source, int32_t target, detail::FrequencyCount c) {
                                                 if (c.value == 0) {
                                                     out.zeroListed[static_cast<size_t>(source)].push_back(target);
                                                     ++out.zeroPairs;
                                                 } else {
                                                     ++out.countedPairs;
                                                 }
                                             });
    out.unknownTokens = r.unknownTokens;
    if (!r.ok())
        throw CheckpointError("'" + path + "' is not a valid frequency table: " +
                              (r.syntaxError.empty() ? r.problem : "malformed JSON: " + r.syntaxError));
    return out;
}

ImportReport importTorchCheckpoint(const ImportOptions& o) {
    if (o.stateDictPath.empty() || o.vocabPath.empty() || o.outPath.empty())
        throw CheckpointError("import needs a state dict, a node dictionary and an output file");
    const TorchCheckpoint ckpt = TorchCheckpoint::open(o.stateDictPath);
    ImportReport report;
    report.layout = ckpt.stateDict().layout;
    report.notes = ckpt.stateDict().notes;

    const TorchTensorRecord& w = requireTensor(ckpt, "weights");
    const TorchTensorRecord& b = requireTensor(ckpt, "biases");
    const TorchTensorRecord& nb = requireTensor(ckpt, "node_bias");
    const TorchTensorRecord& pos = requireTensor(ckpt, "positions");
    for (const auto& t : ckpt.tensors())
        if (t.key != "weights" && t.key != "biases" && t.key != "node_bias" && t.key != "positions")
            report.notes.push_back("tensor \"" + t.originalKey + "\" " + shapeText(t.shape) +
                                   " is not a BriLLM parameter and was ignored");
    expectRank(ckpt, w, 3, "[N, d, d]");
    expectRank(ckpt, b, 3, "[N, 1, d]");
    expectRank(ckpt, nb, 3, "[V, 1, d]");
    expectRank(ckpt, pos, 3, "[1, P, 1]");
    const int64_t n = w.shape[0], d = w.shape[1];
    if (w.shape[2] != d || d <= 0 || n <= 0)
        throw CheckpointError("'" + o.stateDictPath + "': \"weights\" has shape " + shapeText(w.shape) +
                              ", expected [N, d, d]");
    const int64_t v = nb.shape[0];
    auto expectShape = [&](const TorchTensorRecord& r, std::vector<int64_t> want, const char* layout) {
        if (r.shape != want)
            throw CheckpointError("'" + o.stateDictPath + "': \"" + r.originalKey + "\" has shape " +
                                  shapeText(r.shape) + ", expected " + layout + " = " + shapeText(want) +
                                  " to match \"weights\" " + shapeText(w.shape));
    };
    expectShape(b, {n, 1, d}, "[N, 1, d]");
    expectShape(nb, {v, 1, d}, "[V, 1, d]");
    if (pos.shape[0] != 1 || pos.shape[2] != 1 || pos.shape[1] < 2)
        throw CheckpointError("'" + o.stateDictPath + "': \"positions\" has shape " + shapeText(pos.shape) +
                              ", expected [1, P, 1] with P >= 2");
    for (const TorchTensorRecord* r : {&b, &nb, &pos})
        if (r->dtype != w.dtype)
            throw CheckpointError("'" + o.stateDictPath + "': \"" + r->originalKey + "\" is " + shortName(r->dtype) +
                                  " but \"weights\" is " + shortName(w.dtype) + "; expected one dtype");

    const NodeVocabulary vocab = NodeVocabulary::load(o.vocabPath);
    if (vocab.size() != v)
        throw CheckpointError("'" + o.stateDictPath + "' has " + std::to_string(v) + " nodes (\"node_bias\" " +
                              shapeText(nb.shape) + ") but the node dictionary '" + o.vocabPath + "' lists " +
                              std::to_string(vocab.size()) + " tokens");

    EdgeTable edges;
    if (!o.frequencyPath.empty()) {
        const ZeroFrequencyLists zero = readZeroFrequencyLists(o.frequencyPath, vocab);
        if (zero.unknownTokens > 0)
            report.notes.push_back(std::to_string(zero.unknownTokens) + " token strings of '" +
                                   baseName(o.frequencyPath) +
                                   "' are not in the node dictionary and were skipped (as the reference does)");
        edges = EdgeTable::fromReferenceZeroLists(v, zero.zeroListed);
        if (edges.numSlots() != n)
            throw CheckpointError("'" + o.stateDictPath + "' has " + std::to_string(n) + " edge slots (\"weights\" " +
                                  shapeText(w.shape) + "), but the node dictionary '" + o.vocabPath + "' (" +
                                  std::to_string(v) + " nodes) and the frequency table '" + o.frequencyPath +
                                  "' give " + std::to_string(edges.numSlots()) + " (1 shared + " +
                                  std::to_string(edges.numOwn()) + " own edges; " + std::to_string(zero.zeroPairs) +
                                  " pairs listed with count 0): were they the ones this model was trained with?");
    } else {
        if (n != v * v + 1)
            throw CheckpointError(
                "'" + o.stateDictPath + "' has " + std::to_string(n) +
                " edge slots; without a frequency table only a dense model (V*V + 1 = " + std::to_string(v * v + 1) +
                " slots) can be imported: give the word_frequency.json it was trained with");
        edges = EdgeTable::dense(v);
    }

    if (o.verifyCrc)
        for (const TorchTensorRecord* r : {&w, &b, &nb, &pos})
            ckpt.storageBytes(*r, /*verifyCrc=*/true);

    ModelMetadata meta;
    meta.vocabulary = vocab.tokens();
    if (!o.tokenizerPath.empty()) {
        std::string error;
        if (!readRegularFile(o.tokenizerPath, meta.tokenizerJson, error))
            throw CheckpointError("cannot read tokenizer '" + o.tokenizerPath + "': " + error);
        meta.tokenizerKind = detectTokenizerKind(meta.tokenizerJson, o.tokenizerPath);
    } else {
        meta.tokenizerKind = "char";
    }
    if (!o.tokenizerKind.empty()) meta.tokenizerKind = o.tokenizerKind;

    report.config.vocabSize = v;
    report.config.dim = d;
    report.config.maxPositions = pos.shape[1];
    report.numSlots = n;
    report.sourceDtype = w.dtype;
    report.storedDtype = o.dtype.value_or(w.dtype);

    json provenance = {
        {"imported_at", utcNow()},
        {"tool", "brillm import"},
        {"source",
         {{"file", baseName(o.stateDictPath)},
          {"format", "torch.save"},
          {"layout", report.layout},
          {"dtype", shortName(w.dtype)},
          {"extras", json::parse(ckpt.stateDict().extrasJson)}}},
        {"node_dictionary", baseName(o.vocabPath)},
        {"frequency_table", o.frequencyPath.empty() ? json(nullptr) : json(baseName(o.frequencyPath))},
        {"tokenizer", o.tokenizerPath.empty() ? json(nullptr) : json(baseName(o.tokenizerPath))},
    };
    meta.provenanceJson = provenance.dump(-1, ' ', false, json::error_handler_t::replace);

    Model model;
    model.config = report.config;
    model.edges = std::move(edges);
    model.weights = tensorFromCheckpoint(ckpt, w);
    model.biases = tensorFromCheckpoint(ckpt, b);
    model.nodeBias = tensorFromCheckpoint(ckpt, nb);
    model.positions = tensorFromCheckpoint(ckpt, pos);
    // a model file of NaN would load and then fail in every command: refuse it here, and report
    // a partly non-finite one (brillm verify lists which tensors)
    int64_t nonFinite = 0, total = 0;
    for (const at::Tensor* t : {&model.weights, &model.biases, &model.nodeBias, &model.positions}) {
        total += t->numel();
        nonFinite += t->numel() - at::isfinite(*t).sum().item<int64_t>();
    }
    if (total > 0 && nonFinite == total)
        throw CheckpointError("'" + o.stateDictPath + "': every parameter is NaN or Inf (" + std::to_string(total) +
                              " values): not a usable model");
    if (nonFinite > 0)
        report.notes.push_back("warning: " + std::to_string(nonFinite) + " of " + std::to_string(total) +
                               " parameters are NaN or Inf; the model will fail where they are used (brillm verify "
                               "lists the tensors)");
    ModelSaveOptions save;
    save.dtype = report.storedDtype;
    save.progress = o.progress;
    ModelFile::save(o.outPath, model, meta, save);
    return report;
}

} // namespace brillm
