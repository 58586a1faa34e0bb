// SPDX-License-Identifier: GPL-3.0-or-later
#include "brillm/text/tokenizer_char.h"

#include "brillm/error.h"
#include "brillm/text/unicode.h"

namespace brillm {
namespace {

bool looksSpecial(const std::string& token) {
    if (token.size() < 3) return false;
    return (token.front() == '<' && token.back() == '>') || (token.front() == '[' && token.back() == ']');
}

} // namespace

CharTokenizer::CharTokenizer(NodeVocabulary vocabulary, bool nfkc, const std::string& unknownToken)
    : m_vocab(std::move(vocabulary)), m_nfkc(nfkc), m_byCodePoint(0x10000, -1) {
    if (m_vocab.empty()) throw TokenizerError(m_vocab.source() + ": the vocabulary is empty");
    if (!unknownToken.empty()) {
        m_unknown = m_vocab.id(unknownToken);
        if (!m_unknown)
            throw TokenizerError(m_vocab.source() + ": the unknown token \"" + unknownToken +
                                 "\" is not in the vocabulary");
    } else {
        m_unknown = m_vocab.unknownId();
    }
    for (int32_t id = 0; id < static_cast<int32_t>(m_vocab.size()); ++id) {
        const std::string& t = m_vocab.token(id);
        if (looksSpecial(t)) m_special.push_back(id);
        if (t.empty() || !unicode::isValidUtf8(t)) continue;
        size_t pos = 0;
        const char32_t cp = unicode::decodeNext(t, pos);
        if (pos != t.size()) continue; // not a single character
        if (cp < 0x10000)
            m_byCodePoint[cp] = id;
        else
            m_astral.emplace(cp, id);
    }
}

template <class Emit> void CharTokenizer::run(std::string_view input, Emit&& emit) const {
    if (const size_t bad = unicode::findInvalidUtf8(input); bad != unicode::kValid)
        throw InputError("invalid UTF-8 at byte " + std::to_string(bad) + " of the text to tokenise");
    unicode::NormalizedText norm;
    std::string_view text = input;
    const bool mapOffsets = m_nfkc;
    if (m_nfkc) {
        norm = unicode::normalizeWithOffsets(input, unicode::NormalForm::Nfkc);
        text = norm.text;
    }
    size_t pos = 0;
    while (pos < text.size()) {
        const size_t begin = pos;
        const char32_t cp = unicode::decodeNext(text, pos);
        int32_t id = -1;
        if (cp < 0x10000) {
            id = m_byCodePoint[cp];
        } else if (const auto it = m_astral.find(cp); it != m_astral.end()) {
            id = it->second;
        }
        if (id < 0) {
            if (!m_unknown)
                throw InputError("character " + unicode::codePointName(cp) + " at byte " + std::to_string(begin) +
                                 " is not in " + m_vocab.source() + ", which has no unknown token");
            id = *m_unknown;
        }
        if (mapOffsets)
            emit(id, norm.sourceBegin[begin], norm.sourceEnd[pos - 1]);
        else
            emit(id, begin, pos);
    }
}

Encoding CharTokenizer::encode(std::string_view text) const {
    Encoding e;
    run(text, [&](int32_t id, size_t b, size_t en) {
        e.ids.push_back(id);
        e.tokens.push_back(m_vocab.token(id));
        e.offsets.emplace_back(b, en);
    });
    return e;
}

void CharTokenizer::encodeIds(std::string_view text, std::vector<int32_t>& out) const {
    run(text, [&](int32_t id, size_t, size_t) { out.push_back(id); });
}

std::string CharTokenizer::decode(std::span<const int32_t> ids, bool skipSpecial) const {
    std::string out;
    for (const int32_t id : ids) {
        const std::string& t = m_vocab.token(id);
        if (skipSpecial && looksSpecial(t)) continue;
        out += t;
    }
    return out;
}

} // namespace brillm
