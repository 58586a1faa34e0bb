// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// TextCodec: text <-> node ids for one model.
//
// A model's nodes are token strings (its vocabulary, in node-id order). The tokenizer that cut
// the training text may number the same strings differently (the released English model: BPE
// ids from wiki_bpe_tokenizer_4000_bytelevel.json, node ids from vocab_wiki_4k_en.json), so
// text is encoded by the tokenizer, mapped to node ids by token string, and decoded back the
// same way. A model without a tokenizer.json (character models) splits text by characters.
//
// Immutable after construction; every method may be called from several threads at once.
// Errors: construction throws TokenizerError; encode throws InputError for invalid UTF-8 or,
// when the vocabulary has no unknown token, for a token it lacks; decode throws InputError
// for an unknown node id.

#include "brillm/text/tokenizer.h"
#include "brillm/text/vocabulary.h"

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace brillm {

struct ModelMetadata;

class TextCodec {
public:
    // nodes: the model's vocabulary. tokenizer: null for a character model (a CharTokenizer
    // over nodes is made).
    TextCodec(NodeVocabulary nodes, std::shared_ptr<const Tokenizer> tokenizer = nullptr);

    // From a model file's metadata: its tokenizer.json when embedded, else its vocabulary as a
    // character model. Throws TokenizerError when the metadata has neither (or they disagree
    // with vocabSize).
    static TextCodec fromMetadata(const ModelMetadata& metadata, int64_t vocabSize);

    struct Encoded {
        std::vector<int32_t> nodes;      // node ids
        std::vector<std::string> tokens; // the token strings, as stored in the vocabulary
        int64_t unknown = 0; // pieces of text the tokenizer or the vocabulary did not know (now the unknown node)
    };
    Encoded encode(std::string_view text) const;

    // Node ids back to text (byte-level tokens decoded to UTF-8, special tokens kept unless skipSpecial).
    std::string decode(std::span<const int32_t> nodes, bool skipSpecial = false) const;
    // How one node reads on its own (for labels): its decoded text, e.g. " the" for "Ġthe".
    std::string nodeText(int32_t node) const;
    // The raw vocabulary string of a node.
    const std::string& nodeToken(int32_t node) const { return m_nodes.token(node); }

    const NodeVocabulary& vocabulary() const { return m_nodes; }
    // Nodes that are not text: the tokenizer's special tokens and the usual names ([PAD], [UNK],
    // <unk>, [CLS], [SEP], [MASK]) where the vocabulary has them; sorted. Decoding bans them by
    // default in the studio and `brillm demo`.
    std::vector<int32_t> specialNodes() const;
    const Tokenizer& tokenizer() const { return *m_tokenizer; }
    int64_t vocabSize() const { return m_nodes.size(); }

private:
    NodeVocabulary m_nodes;
    std::shared_ptr<const Tokenizer> m_tokenizer;
    std::vector<int32_t> m_tokenToNode; // tokenizer id -> node id (-1: none)
    std::vector<int32_t> m_nodeToToken; // node id -> tokenizer id (-1: none)
};

} // namespace brillm
