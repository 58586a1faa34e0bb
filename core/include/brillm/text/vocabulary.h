// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// NodeVocabulary: the node dictionary of a BriLLM model, token string <-> node id.
//
// The file form is the reference's flat JSON object {token: id} (vocab_wiki_4k.json,
// vocab_wiki_4k_en.json). Ids must be exactly 0 .. V-1, each token and each id once.
// Immutable after construction; safe to share between threads.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace brillm {

class Tokenizer;

class NodeVocabulary {
public:
    NodeVocabulary() = default;

    // tokens[i] gets id i. Throws TokenizerError on a duplicate token.
    static NodeVocabulary fromTokens(std::vector<std::string> tokens, std::string source = "<memory>");
    // Every token of a tokenizer, in id order.
    static NodeVocabulary fromTokenizer(const Tokenizer& tokenizer);

    // Throws TokenizerError naming the file: unreadable, malformed JSON (line, column, byte),
    // not an object of non-negative integer ids, a duplicate token, two tokens with one id,
    // or ids that are not contiguous from 0 (the first missing id is named).
    static NodeVocabulary load(const std::filesystem::path& path);
    static NodeVocabulary parse(std::string_view json, const std::string& sourceName);

    // {token: id} in id order, UTF-8, one entry per line.
    std::string toJson() const;
    // Atomic: writes a temporary file next to path and renames it. Throws Error on I/O failure.
    void save(const std::filesystem::path& path) const;

    int64_t size() const { return static_cast<int64_t>(m_tokens.size()); }
    bool empty() const { return m_tokens.empty(); }
    std::optional<int32_t> id(std::string_view token) const;
    // Throws InputError for ids outside [0, size()).
    const std::string& token(int32_t id) const;
    const std::vector<std::string>& tokens() const { return m_tokens; }
    const std::string& source() const { return m_source; }

    // The id of "<unk>", "[UNK]" or "<UNK>" (first found), if any.
    std::optional<int32_t> unknownId() const;

    // For each tokenizer id, the node id of the same token string. Tokens this vocabulary
    // lacks map to unknownId(), or -1 without one; *missing counts them.
    std::vector<int32_t> mapFrom(const Tokenizer& tokenizer, int64_t* missing = nullptr) const;

    // The way back: for each node id, the tokenizer id of the same token string, or -1 when
    // the tokenizer lacks it; *missing counts those.
    std::vector<int32_t> mapTo(const Tokenizer& tokenizer, int64_t* missing = nullptr) const;

private:
    struct Hash {
        using is_transparent = void;
        size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
    };
    std::vector<std::string> m_tokens;
    std::unordered_map<std::string, int32_t, Hash, std::equal_to<>> m_ids;
    std::string m_source;
};

} // namespace brillm
