// SPDX-License-Identifier: GPL-3.0-or-later
#include "brillm/text/text_codec.h"

#include "brillm/error.h"
#include "brillm/io/model_file.h"
#include "brillm/text/bpe_tokenizer.h"
#include "brillm/text/tokenizer_char.h"

#include <algorithm>
#include <string>

namespace brillm {

TextCodec::TextCodec(NodeVocabulary nodes, std::shared_ptr<const Tokenizer> tokenizer) : m_nodes(std::move(nodes)) {
    if (m_nodes.empty()) throw TokenizerError("text codec: the model has no vocabulary");
    if (!tokenizer) tokenizer = std::make_shared<CharTokenizer>(m_nodes);
    m_tokenizer = std::move(tokenizer);
    const int64_t T = m_tokenizer->vocabSize(), V = m_nodes.size();
    m_tokenToNode.assign(static_cast<size_t>(T), -1);
    m_nodeToToken.assign(static_cast<size_t>(V), -1);
    for (int32_t t = 0; t < T; ++t) {
        const auto node = m_nodes.id(m_tokenizer->idToToken(t));
        if (node) {
            m_tokenToNode[static_cast<size_t>(t)] = *node;
            m_nodeToToken[static_cast<size_t>(*node)] = t;
        }
    }
}

TextCodec TextCodec::fromMetadata(const ModelMetadata& metadata, int64_t vocabSize) {
    if (metadata.vocabulary.empty())
        throw TokenizerError("the model file carries no vocabulary, so its nodes cannot be read as text");
    if (static_cast<int64_t>(metadata.vocabulary.size()) != vocabSize)
        throw TokenizerError("the model file's vocabulary has " + std::to_string(metadata.vocabulary.size()) +
                             " tokens but the model has " + std::to_string(vocabSize) + " nodes");
    auto nodes = NodeVocabulary::fromTokens(metadata.vocabulary, "model vocabulary");
    std::shared_ptr<const Tokenizer> tok;
    if (!metadata.tokenizerJson.empty())
        tok = ByteLevelBpeTokenizer::parse(metadata.tokenizerJson, "tokenizer embedded in the model file");
    return TextCodec(std::move(nodes), std::move(tok));
}

TextCodec::Encoded TextCodec::encode(std::string_view text) const {
    Encoded out;
    const auto ids = m_tokenizer->encodeIds(text);
    const auto unk = m_nodes.unknownId();
    const auto tokenizerUnk = m_tokenizer->unknownId();
    out.nodes.reserve(ids.size());
    out.tokens.reserve(ids.size());
    for (int32_t id : ids) {
        if (tokenizerUnk && id == *tokenizerUnk) ++out.unknown;
        int32_t node = m_tokenToNode[static_cast<size_t>(id)];
        if (node < 0) {
            if (!unk)
                throw InputError("token '" + m_tokenizer->idToToken(id) +
                                 "' is not a node of the model, and its vocabulary has no unknown token");
            node = *unk;
            ++out.unknown;
        }
        out.nodes.push_back(node);
        out.tokens.push_back(m_nodes.token(node));
    }
    return out;
}

std::string TextCodec::decode(std::span<const int32_t> nodes, bool skipSpecial) const {
    std::vector<int32_t> ids;
    ids.reserve(nodes.size());
    std::string out;
    for (int32_t n : nodes) {
        const std::string& token = m_nodes.token(n); // throws InputError for unknown ids
        const int32_t id = m_nodeToToken[static_cast<size_t>(n)];
        if (id >= 0) {
            ids.push_back(id);
            continue;
        }
        // a node the tokenizer does not know: flush and show its raw string
        out += m_tokenizer->decode(ids, skipSpecial);
        ids.clear();
        out += token;
    }
    out += m_tokenizer->decode(ids, skipSpecial);
    return out;
}

std::string TextCodec::nodeText(int32_t node) const {
    const int32_t one[1] = {node};
    return decode(one);
}

std::vector<int32_t> TextCodec::specialNodes() const {
    std::vector<int32_t> out;
    for (int32_t t : m_tokenizer->specialIds())
        if (t >= 0 && static_cast<size_t>(t) < m_tokenToNode.size() && m_tokenToNode[static_cast<size_t>(t)] >= 0)
            out.push_back(m_tokenToNode[static_cast<size_t>(t)]);
    for (const char* name : {"[PAD]", "[UNK]", "<unk>", "[CLS]", "[SEP]", "[MASK]"})
        if (const auto id = m_nodes.id(name)) out.push_back(*id);
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
}

} // namespace brillm
