// SPDX-License-Identifier: GPL-3.0-or-later
#include "model_session.h"

#include "brillm/error.h"
#include "brillm/io/sharded_model.h"
#include "brillm/model/device_edges.h"

#include <cmath>
#include <cstdio>

namespace brillm::cli {

ModelSession ModelSession::open(const std::string& path) {
    ModelSession s;
    // a model file, or a --shard-edges model (a directory with shards.json): its shards mapped
    s.loaded = openModel(path);
    noteMergedShards(s.loaded);
    if (!s.loaded.metadata.vocabulary.empty())
        s.codec.emplace(TextCodec::fromMetadata(s.loaded.metadata, s.loaded.model.vocabSize()));
    return s;
}

void noteMergedShards(const LoadedModel& loaded) {
    if (loaded.shards > 0 && !loaded.mergedBecause.empty())
        std::fprintf(stderr, "note: %s: %d shards merged in memory, not mapped (%s)\n", loaded.path.c_str(),
                     loaded.shards, loaded.mergedBecause.c_str());
}

std::vector<int32_t> ModelSession::encodePrompt(const std::string& text, bool idsGiven) const {
    if (idsGiven || !codec) {
        std::vector<int32_t> ids;
        for (int64_t v : parseIdList(text, idsGiven ? "prompt-ids" : "prompt")) {
            if (v < 0 || v >= model().vocabSize())
                throw InputError("node id " + std::to_string(v) + " is outside the model's " +
                                 std::to_string(model().vocabSize()) + " nodes");
            ids.push_back(static_cast<int32_t>(v));
        }
        return ids;
    }
    return codec->encode(text).nodes;
}

std::string ModelSession::nodeLabel(int32_t node) const {
    if (codec) return codec->nodeText(node);
    std::string label = "#";
    label += std::to_string(node);
    return label;
}

std::string ModelSession::nodeToken(int32_t node) const {
    return codec ? codec->nodeToken(node) : std::to_string(node);
}

std::string ModelSession::decode(std::span<const int32_t> nodes) const {
    if (codec) return codec->decode(nodes);
    std::string out;
    for (int32_t n : nodes) {
        if (!out.empty()) out += ' ';
        out += std::to_string(n);
    }
    return out;
}

void DecodeArgs::registerOn(ArgParser& p) {
    p.option("max-new-tokens", &maxNewTokens, "N", "tokens to generate (default {default})");
    p.flag("greedy", &greedy, "greedy decoding (the default unless --temperature/--top-k/--top-p is given)");
    p.option("temperature", &temperature, "T", "sample from softmax(energy / T)");
    p.option("top-k", &topK, "K", "sample among the K best candidates only");
    p.option("top-p", &topP, "P", "sample among the smallest set of candidates holding probability P");
    p.option("seed", &seed, "S", "seed of the sampler (default {default})");
    p.flag("reference-decode", &referenceDecode,
           "reproduce the released decoder: PE[i] for edge i, temperature/top-k/top-p ignored");
    p.flag("keep-self-loops", &keepSelfLoops, "let a node follow itself (the released decoder excludes it)");
    p.list("stop", &stop, "TOKEN", "stop after generating this token (vocabulary string or #id); repeatable");
    p.list("ban", &ban, "TOKEN", "never generate this token (vocabulary string or #id); repeatable");
    p.option("device", &device, "DEV",
             "where each step's candidates are scored (default {default}): cpu, cuda, cuda:N, or auto (the GPU for\n"
             "models with 256 MB of edge parameters or more, when one is usable); on a GPU the model's edges are\n"
             "copied there first (needs a CUDA LibTorch)");
}

DecodeOptions DecodeArgs::options(const ArgParser& p, const ModelSession& session) const {
    DecodeOptions o;
    // every option's range, checked before the model runs (--top-k 0 used to be taken silently)
    const int64_t V = session.model().vocabSize();
    if (maxNewTokens < 0 || maxNewTokens > 1'000'000)
        throw UsageError("--max-new-tokens must be in [0, 1000000]; got " + std::to_string(maxNewTokens));
    if (p.given("top-k") && (topK < 1 || topK > V))
        throw UsageError("--top-k must be in [1, " + std::to_string(V) +
                         "] (the model's nodes; omit it for no limit); got " + std::to_string(topK));
    if (p.given("top-p") && !(topP > 0 && topP <= 1))
        throw UsageError("--top-p must be in (0, 1]; got " + std::to_string(topP));
    if (p.given("temperature") && !(temperature > 0 && std::isfinite(temperature)))
        throw UsageError("--temperature must be a positive finite number; got " + std::to_string(temperature));
    o.maxNewTokens = maxNewTokens;
    const bool sampling = p.given("temperature") || p.given("top-k") || p.given("top-p");
    if (greedy && sampling) throw UsageError("--greedy cannot be combined with --temperature, --top-k or --top-p");
    o.greedy = !sampling;
    if (p.given("temperature")) o.temperature = temperature;
    o.topK = topK;
    o.topP = topP;
    o.seed = seed;
    o.referenceDecode = referenceDecode;
    o.excludeSelfLoop = !keepSelfLoops;
    const auto tokenId = [&](const std::string& s, const char* option) -> int32_t {
        if (s.size() > 1 && s[0] == '#') {
            const auto id = parseIdList(s.substr(1), option).at(0);
            if (id < 0 || id >= session.model().vocabSize())
                throw UsageError(std::string("--") + option + ": node id " + std::to_string(id) +
                                 " is outside the model");
            return static_cast<int32_t>(id);
        }
        const auto id = session.codec ? session.codec->vocabulary().id(s) : std::nullopt;
        if (!id)
            throw UsageError(std::string("--") + option + ": '" + s +
                             "' is not a token of the model's vocabulary (use #ID for a node id)");
        return *id;
    };
    for (const auto& s : stop)
        o.stopTokens.push_back(tokenId(s, "stop"));
    for (const auto& s : ban)
        o.bannedTokens.push_back(tokenId(s, "ban"));
    std::optional<c10::Device> dev;
    try {
        dev = scoringDevice(device, session.model());
    } catch (const InputError& e) {
        throw UsageError(std::string("--device: ") + e.what());
    }
    if (dev) o.device = std::make_shared<const DeviceEdges>(session.model(), *dev);
    return o;
}

nlohmann::json jsonNumber(double v) {
    return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr);
}

} // namespace brillm::cli
