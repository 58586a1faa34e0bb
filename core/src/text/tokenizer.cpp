// SPDX-License-Identifier: GPL-3.0-or-later
#include "brillm/text/tokenizer.h"

#include "brillm/error.h"
#include "brillm/io/input_limits.h"
#include "brillm/text/bpe_tokenizer.h"
#include "brillm/text/tokenizer_char.h"
#include "brillm/text/vocabulary.h"
#include "text/tokenizer_json.h"

namespace brillm {

std::string readTokenizerFile(const std::filesystem::path& path) {
    std::error_code ec;
    if (!std::filesystem::exists(path, ec))
        throw TokenizerError("cannot read tokenizer " + path.string() + ": no such file");
    std::string text, error;
    if (!readRegularFile(path, text, error))
        throw TokenizerError("cannot read tokenizer " + path.string() + ": " + error);
    if (const auto deep = jsonDepthProblem(text); !deep.empty()) throw TokenizerError(path.string() + ": " + deep);
    return text;
}

std::unique_ptr<Tokenizer> loadTokenizer(const std::filesystem::path& path, const TokenizerOptions& options) {
    const std::string text = readTokenizerFile(path);
    // A tokenizer.json is an object with a "model" key near its top; a node dictionary is a
    // flat {token: id} object. Parse once as a DOM to tell them apart robustly.
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(text);
    } catch (const nlohmann::json::exception& e) {
        throw TokenizerError(detail::describeJsonError(path.string(), text, e));
    }
    if (j.is_object() && j.contains("model") && j.at("model").is_object())
        return ByteLevelBpeTokenizer::parse(text, path.string());
    if (j.is_object()) {
        return std::make_unique<CharTokenizer>(NodeVocabulary::parse(text, path.string()), options.charNfkc,
                                               options.charUnknownToken);
    }
    throw TokenizerError(path.string() + ": expected a HuggingFace tokenizer.json or a {token: id} node dictionary");
}

std::optional<int32_t> defaultPadId(const Tokenizer& tokenizer) {
    if (auto id = tokenizer.tokenToId("[PAD]")) return id;
    if (auto id = tokenizer.tokenToId("")) return id;
    return std::nullopt;
}

} // namespace brillm
