// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// What the model-using commands share: open a model file, read text through its codec, and
// the decoding options every such command accepts.

#include "args.h"

#include "brillm/io/model_file.h"
#include "brillm/model/decode.h"
#include "brillm/text/text_codec.h"

#include <nlohmann/json.hpp>

#include <optional>
#include <string>

namespace brillm::cli {

struct ModelSession {
    LoadedModel loaded;
    std::optional<TextCodec> codec; // absent when the file carries no vocabulary

    // A model file or a sharded model's directory (or its shards.json).
    static ModelSession open(const std::string& path);
    const Model& model() const { return loaded.model; }
    // Text or, with a vocabulary-less model, a comma-separated list of node ids.
    std::vector<int32_t> encodePrompt(const std::string& text, bool idsGiven) const;
    std::string nodeLabel(int32_t node) const; // readable text of one node
    std::string nodeToken(int32_t node) const; // raw vocabulary string (or the id)
    std::string decode(std::span<const int32_t> nodes) const;
};

// On stderr, once per open: a sharded model merged in memory instead of mapped, and why.
void noteMergedShards(const LoadedModel& loaded);

// --max-new-tokens, --greedy, --temperature, --top-k, --top-p, --seed, --reference-decode,
// --keep-self-loops, --stop, --ban, --device: registered on p, turned into DecodeOptions after parsing.
struct DecodeArgs {
    int64_t maxNewTokens = 32;
    bool greedy = false;
    double temperature = -1; // < 0: not given
    int64_t topK = 0;
    double topP = 1.0;
    uint64_t seed = 0;
    bool referenceDecode = false;
    bool keepSelfLoops = false;
    std::vector<std::string> stop;
    std::vector<std::string> ban;
    std::string device = "cpu";

    void registerOn(ArgParser& p);
    DecodeOptions options(const ArgParser& p, const ModelSession& session) const;
};

// A JSON number, or null for NaN / infinities.
nlohmann::json jsonNumber(double v);

} // namespace brillm::cli
