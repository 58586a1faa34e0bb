// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// CharTokenizer: one node per Unicode code point over a node dictionary {token: id}, as the
// released Chinese BriLLM model (vocab_wiki_4k.json) tokenises: text is split into code points
// and each one not in the dictionary becomes the unknown token (`<unk>`, id 0 there).
// Multi-character entries of the dictionary (such as "<unk>" itself) are never produced by
// encode, only by the unknown rule. Immutable; thread-safe.

#include "brillm/text/tokenizer.h"
#include "brillm/text/vocabulary.h"

#include <unordered_map>

namespace brillm {

class CharTokenizer final : public Tokenizer {
public:
    // unknownToken: empty picks "<unk>", "[UNK]" or "<UNK>" when present. Without an unknown
    // token, encoding a character outside the vocabulary throws InputError.
    // Throws TokenizerError when a non-empty unknownToken is not in the vocabulary.
    CharTokenizer(NodeVocabulary vocabulary, bool nfkc = false, const std::string& unknownToken = {});

    TokenizerKind kind() const override { return TokenizerKind::Char; }
    const std::string& source() const override { return m_vocab.source(); }
    Encoding encode(std::string_view text) const override;
    void encodeIds(std::string_view text, std::vector<int32_t>& out) const override;
    using Tokenizer::encodeIds;
    // Concatenates the tokens; special tokens are "<...>"/"[...]" entries of more than one
    // character (skipped when skipSpecial).
    std::string decode(std::span<const int32_t> ids, bool skipSpecial = false) const override;
    int64_t vocabSize() const override { return m_vocab.size(); }
    std::optional<int32_t> tokenToId(std::string_view token) const override { return m_vocab.id(token); }
    const std::string& idToToken(int32_t id) const override { return m_vocab.token(id); }
    std::optional<int32_t> unknownId() const override { return m_unknown; }
    std::vector<int32_t> specialIds() const override { return m_special; }

    const NodeVocabulary& vocabulary() const { return m_vocab; }
    bool nfkc() const { return m_nfkc; }

private:
    template <class Emit> void run(std::string_view text, Emit&& emit) const;

    NodeVocabulary m_vocab;
    bool m_nfkc = false;
    std::optional<int32_t> m_unknown;
    std::vector<int32_t> m_special;
    std::vector<int32_t> m_byCodePoint; // [0x10000] BMP fast path, -1 = absent
    std::unordered_map<char32_t, int32_t> m_astral;
};

} // namespace brillm
