// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// ByteLevelBpeTokenizer: a HuggingFace tokenizer.json with a byte-level BPE model, such as the
// released English BriLLM tokenizer (wiki_bpe_tokenizer_4000_bytelevel.json). Produces the
// same ids as HuggingFace tokenizers' encode() for any valid UTF-8 input:
//   1. added tokens matched in the raw text (leftmost-longest; single_word, lstrip, rstrip),
//   2. the normaliser (NFC/NFD/NFKC/NFKD or a Sequence of them, via ICU) on the rest, then
//      added tokens with normalized=true matched in the normalised text,
//   3. the ByteLevel pre-tokenizer (add_prefix_space per piece, GPT-2 regex, byte alphabet),
//   4. BPE merges by rank (HuggingFace's priority order), unk_token / fuse_unk /
//      byte_fallback / continuing_subword_prefix / end_of_word_suffix / ignore_merges.
// decode() is HuggingFace's decode with the ByteLevel decoder: every token's stand-in
// characters back to bytes, then UTF-8 with ill-formed sequences replaced by U+FFFD.
//
// Supported file sections: normalizer null|NFC|NFD|NFKC|NFKD|Sequence of those;
// pre_tokenizer ByteLevel; post_processor null|ByteLevel; decoder null|ByteLevel; model BPE
// without dropout; truncation and padding null. Anything else throws TokenizerError naming
// the section and type.
//
// Immutable and thread-safe. encode keeps a small per-thread word cache.

#include "brillm/text/tokenizer.h"
#include "brillm/text/unicode.h"

#include <array>
#include <memory>
#include <unordered_map>

namespace brillm {

struct AddedToken {
    std::string content;
    int32_t id = 0;
    bool singleWord = false;
    bool lstrip = false;
    bool rstrip = false;
    bool normalized = true;
    bool special = false;
};

class ByteLevelBpeTokenizer final : public Tokenizer {
public:
    // Throws TokenizerError naming the file (malformed JSON with its position, unsupported
    // sections, merges naming tokens not in the vocabulary, ids that are not 0..N-1).
    static std::unique_ptr<ByteLevelBpeTokenizer> load(const std::filesystem::path& path);
    static std::unique_ptr<ByteLevelBpeTokenizer> parse(std::string_view json, const std::string& sourceName);

    ~ByteLevelBpeTokenizer() override;

    TokenizerKind kind() const override { return TokenizerKind::ByteLevelBpe; }
    const std::string& source() const override { return m_source; }
    Encoding encode(std::string_view text) const override;
    void encodeIds(std::string_view text, std::vector<int32_t>& out) const override;
    using Tokenizer::encodeIds;
    std::string decode(std::span<const int32_t> ids, bool skipSpecial = false) const override;
    int64_t vocabSize() const override { return static_cast<int64_t>(m_idToToken.size()); }
    std::optional<int32_t> tokenToId(std::string_view token) const override;
    const std::string& idToToken(int32_t id) const override;
    std::optional<int32_t> unknownId() const override { return m_unk; }
    std::vector<int32_t> specialIds() const override;

    const std::vector<AddedToken>& addedTokens() const { return m_added; }
    size_t numMerges() const { return m_merges.size(); }
    // model.unk_token as written ("" when none); unknownId() is empty when it is not in the vocabulary.
    const std::string& unknownToken() const { return m_unkToken; }
    bool addPrefixSpace() const { return m_addPrefixSpace; }

private:
    ByteLevelBpeTokenizer();
    struct Trie;
    struct Symbol {
        int32_t id;
        uint32_t len; // bytes of the pre-token
    };
    struct Piece; // a run of text between added tokens, after normalisation

    template <bool kOffsets, class Emit> void run(std::string_view text, Emit&& emit) const;
    // BPE of one pre-token (raw bytes); symbols appended to out.
    void bpeWord(std::string_view word, std::vector<Symbol>& out) const;
    void bpeWordUncached(std::string_view word, std::vector<Symbol>& out) const;
    // Added-token matches in text: (begin, end, id) plus the gaps, covering text.
    struct Split {
        size_t begin, end;
        int32_t id; // -1 = plain text
    };
    void findAdded(std::string_view text, const Trie& trie, std::vector<Split>& out) const;
    std::string normalizeText(std::string_view text) const;
    unicode::NormalizedText normalizeTextWithOffsets(std::string_view text) const;

    struct Hash {
        using is_transparent = void;
        size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
    };

    std::string m_source;
    uint64_t m_instance = 0; // keys the per-thread word cache
    std::vector<std::string> m_idToToken;
    std::unordered_map<std::string, int32_t, Hash, std::equal_to<>> m_vocab;       // model vocabulary
    std::unordered_map<std::string, int32_t, Hash, std::equal_to<>> m_addedByText; // added tokens
    std::vector<AddedToken> m_added;
    std::vector<bool> m_isSpecial; // [vocabSize]
    std::vector<bool> m_isAdded;   // [vocabSize]
    std::unique_ptr<Trie> m_rawTrie, m_normTrie;
    std::unordered_map<uint64_t, std::pair<uint32_t, int32_t>> m_merges; // (left,right) -> (rank, new id)
    std::array<int32_t, 256> m_byteId{};                                 // id of each byte's stand-in, -1 when absent
    std::optional<int32_t> m_unk;
    std::string m_unkToken;
    bool m_fuseUnk = false;
    bool m_byteFallback = false;
    bool m_ignoreMerges = false;
    std::string m_prefix, m_suffix;          // continuing_subword_prefix, end_of_word_suffix
    std::array<int32_t, 256> m_fallbackId{}; // <0xAB> tokens, -1 when absent
    std::vector<unicode::NormalForm> m_normalizers;
    bool m_addPrefixSpace = true;
    bool m_useRegex = true;
    bool m_byteLevelDecoder = true;
};

} // namespace brillm
