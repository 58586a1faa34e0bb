// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Tokenizer: text to token ids and back, behind one small query API.
//
// Two implementations: CharTokenizer (tokenizer_char.h, one node per character, the released
// Chinese model) and ByteLevelBpeTokenizer (bpe_tokenizer.h, HuggingFace byte-level BPE, the
// released English model). loadTokenizer() picks one from the file's content.
//
// Thread-safety: a constructed tokenizer is immutable; encode/decode and the lookups may be
// called from any number of threads at once.
// Errors: loading throws TokenizerError (file and what was expected); encode throws
// InputError for text that is not valid UTF-8; decode throws InputError for unknown ids.

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace brillm {

struct Encoding {
    std::vector<int32_t> ids;
    // The vocabulary string of each id; for a HuggingFace added token, the text it matched
    // (with the spaces its lstrip/rstrip took, after normalisation for normalized ones).
    std::vector<std::string> tokens;
    // Byte range [first, second) of the input text each token came from. Tokens produced by a
    // changed normalisation span cover that whole span; a prefix space added by the
    // pre-tokenizer covers nothing.
    std::vector<std::pair<size_t, size_t>> offsets;

    size_t size() const { return ids.size(); }
};

enum class TokenizerKind { Char, ByteLevelBpe };

class Tokenizer {
public:
    virtual ~Tokenizer() = default;

    virtual TokenizerKind kind() const = 0;
    // Where it was loaded from, or a short description.
    virtual const std::string& source() const = 0;

    virtual Encoding encode(std::string_view text) const = 0;
    // Ids only (no strings, no offsets), appended to out: the fast path for corpus tools.
    virtual void encodeIds(std::string_view text, std::vector<int32_t>& out) const = 0;
    std::vector<int32_t> encodeIds(std::string_view text) const {
        std::vector<int32_t> ids;
        encodeIds(text, ids);
        return ids;
    }

    // skipSpecial drops special tokens (as HuggingFace's skip_special_tokens).
    virtual std::string decode(std::span<const int32_t> ids, bool skipSpecial = false) const = 0;

    // Ids are 0 .. vocabSize()-1 (every id in that range has a token).
    virtual int64_t vocabSize() const = 0;
    virtual std::optional<int32_t> tokenToId(std::string_view token) const = 0;
    // Throws InputError for ids outside [0, vocabSize()).
    virtual const std::string& idToToken(int32_t id) const = 0;

    virtual std::optional<int32_t> unknownId() const = 0;
    virtual std::vector<int32_t> specialIds() const = 0;
};

struct TokenizerOptions {
    // Character tokenizers only: NFKC-normalise text before splitting (off for the released
    // Chinese vocabulary, whose entries are not all NFKC). Ignored for tokenizer.json files,
    // which name their own normaliser.
    bool charNfkc = false;
    // Character tokenizers only: the unknown token; empty = "<unk>", "[UNK]" or "<UNK>",
    // whichever the vocabulary has.
    std::string charUnknownToken;
};

// Detects the kind from the content: a JSON object with a "model" section is a HuggingFace
// tokenizer.json, a flat {token: id} object is a character node dictionary.
// Throws TokenizerError naming the file (and the position for malformed JSON).
std::unique_ptr<Tokenizer> loadTokenizer(const std::filesystem::path& path, const TokenizerOptions& options = {});

// The id sequences are padded with: "[PAD]" when the vocabulary has it, else "" (the
// reference's Chinese padding string) when present, else nothing.
std::optional<int32_t> defaultPadId(const Tokenizer& tokenizer);

// Reads a whole file; throws TokenizerError("cannot read FILE ...") when it cannot.
std::string readTokenizerFile(const std::filesystem::path& path);

} // namespace brillm
