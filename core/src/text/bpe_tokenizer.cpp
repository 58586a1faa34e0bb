// SPDX-License-Identifier: GPL-3.0-or-later
#include "brillm/text/bpe_tokenizer.h"

#include "brillm/error.h"
#include "brillm/io/input_limits.h"
#include "brillm/text/bpe_pretokenizer.h"
#include "text/tokenizer_json.h"

#include <nlohmann/json.hpp>

#include <atomic>
#include <cstdio>
#include <queue>

namespace brillm {

using nlohmann::json;

struct ByteLevelBpeTokenizer::Trie {
    struct Node {
        std::vector<std::pair<uint8_t, int32_t>> children;
        int32_t token = -1; // index into m_added
    };
    std::vector<Node> nodes{Node{}};
    std::array<bool, 256> first{};

    bool empty() const { return nodes.size() == 1; }
    void insert(std::string_view pattern, int32_t token) {
        if (pattern.empty()) return;
        first[static_cast<uint8_t>(pattern[0])] = true;
        int32_t at = 0;
        for (const char c : pattern) {
            const auto b = static_cast<uint8_t>(c);
            int32_t next = -1;
            for (const auto& [key, child] : nodes[static_cast<size_t>(at)].children)
                if (key == b) next = child;
            if (next < 0) {
                next = static_cast<int32_t>(nodes.size());
                nodes[static_cast<size_t>(at)].children.emplace_back(b, next);
                nodes.emplace_back();
            }
            at = next;
        }
        // The first token with a pattern wins, as HuggingFace's pattern order does.
        if (nodes[static_cast<size_t>(at)].token < 0) nodes[static_cast<size_t>(at)].token = token;
    }
    // Longest pattern starting at text[i]: (length, token) or (0, -1).
    std::pair<size_t, int32_t> longestAt(std::string_view text, size_t i) const {
        std::pair<size_t, int32_t> best{0, -1};
        int32_t at = 0;
        for (size_t k = i; k < text.size(); ++k) {
            const auto b = static_cast<uint8_t>(text[k]);
            int32_t next = -1;
            for (const auto& [key, child] : nodes[static_cast<size_t>(at)].children)
                if (key == b) next = child;
            if (next < 0) break;
            at = next;
            if (nodes[static_cast<size_t>(at)].token >= 0) best = {k + 1 - i, nodes[static_cast<size_t>(at)].token};
        }
        return best;
    }
};

namespace {

std::atomic<uint64_t> g_nextInstance{1};

// Last / first code point of a valid UTF-8 text.
char32_t lastCodePoint(std::string_view s) {
    size_t p = s.size() - 1;
    while (p > 0 && (static_cast<unsigned char>(s[p]) & 0xC0) == 0x80)
        --p;
    return unicode::decodeNext(s, p);
}
char32_t firstCodePoint(std::string_view s) {
    size_t p = 0;
    return unicode::decodeNext(s, p);
}
// Start of the trailing White_Space run of s (\s*$ found leftmost).
size_t trailingSpaceStart(std::string_view s) {
    size_t end = s.size();
    while (end > 0) {
        size_t p = end - 1;
        while (p > 0 && (static_cast<unsigned char>(s[p]) & 0xC0) == 0x80)
            --p;
        size_t q = p;
        if (!unicode::isWhiteSpace(unicode::decodeNext(s, q))) break;
        end = p;
    }
    return end;
}
// End of the leading White_Space run of s (^\s*).
size_t leadingSpaceEnd(std::string_view s) {
    size_t p = 0;
    while (p < s.size()) {
        size_t q = p;
        if (!unicode::isWhiteSpace(unicode::decodeNext(s, q))) break;
        p = q;
    }
    return p;
}

uint64_t pairKey(int32_t a, int32_t b) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
}

// Field access that turns nlohmann type errors into messages naming the file and field.
class Reader {
public:
    explicit Reader(std::string source) : m_source(std::move(source)) {}
    [[noreturn]] void fail(const std::string& what) const { throw TokenizerError(m_source + ": " + what); }
    bool isNull(const json& j, const char* key) const { return !j.contains(key) || j.at(key).is_null(); }
    bool flag(const json& j, const char* key, bool dflt, const std::string& where) const {
        if (isNull(j, key)) return dflt;
        if (!j.at(key).is_boolean()) fail(where + "." + key + " must be true or false");
        return j.at(key).get<bool>();
    }
    std::string text(const json& j, const char* key, const std::string& where) const {
        if (isNull(j, key)) return {};
        if (!j.at(key).is_string()) fail(where + "." + key + " must be a string");
        return j.at(key).get<std::string>();
    }
    std::string type(const json& j, const std::string& where) const {
        if (!j.is_object()) fail(where + " must be an object or null");
        if (!j.contains("type") || !j.at("type").is_string()) fail(where + " has no \"type\"");
        return j.at("type").get<std::string>();
    }
    const std::string& source() const { return m_source; }

private:
    std::string m_source;
};

void parseNormalizer(const Reader& r, const json& j, std::vector<unicode::NormalForm>& out, const std::string& where) {
    if (j.is_null()) return;
    const std::string type = r.type(j, where);
    if (type == "Sequence") {
        if (!j.contains("normalizers") || !j.at("normalizers").is_array())
            r.fail(where + ".normalizers must be an array");
        for (size_t i = 0; i < j.at("normalizers").size(); ++i)
            parseNormalizer(r, j.at("normalizers")[i], out, where + ".normalizers[" + std::to_string(i) + "]");
        return;
    }
    if (type == "NFC" || type == "NFD" || type == "NFKC" || type == "NFKD") {
        out.push_back(unicode::normalFormFromName(type));
        return;
    }
    r.fail("unsupported normalizer type '" + type + "' in " + where + " (supported: NFC, NFD, NFKC, NFKD, Sequence)");
}

} // namespace

ByteLevelBpeTokenizer::ByteLevelBpeTokenizer()
    : m_instance(g_nextInstance.fetch_add(1)), m_rawTrie(std::make_unique<Trie>()),
      m_normTrie(std::make_unique<Trie>()) {
    m_byteId.fill(-1);
    m_fallbackId.fill(-1);
}

ByteLevelBpeTokenizer::~ByteLevelBpeTokenizer() = default;

std::unique_ptr<ByteLevelBpeTokenizer> ByteLevelBpeTokenizer::load(const std::filesystem::path& path) {
    return parse(readTokenizerFile(path), path.string());
}

std::unique_ptr<ByteLevelBpeTokenizer> ByteLevelBpeTokenizer::parse(std::string_view text,
                                                                    const std::string& sourceName) {
    if (const auto deep = jsonDepthProblem(text); !deep.empty()) throw TokenizerError(sourceName + ": " + deep);
    json j;
    try {
        j = json::parse(text.begin(), text.end());
    } catch (const json::exception& e) {
        throw TokenizerError(detail::describeJsonError(sourceName, text, e));
    }
    const Reader r(sourceName);
    if (!j.is_object()) r.fail("expected a JSON object (a HuggingFace tokenizer.json)");
    std::unique_ptr<ByteLevelBpeTokenizer> t(new ByteLevelBpeTokenizer());
    t->m_source = sourceName;

    try {
        if (!r.isNull(j, "truncation"))
            r.fail("\"truncation\" is set; truncating tokenizers are not supported (set it to null)");
        if (!r.isNull(j, "padding"))
            r.fail("\"padding\" is set; padding tokenizers are not supported (set it to null)");
        if (j.contains("normalizer")) parseNormalizer(r, j.at("normalizer"), t->m_normalizers, "normalizer");

        if (r.isNull(j, "pre_tokenizer"))
            r.fail("pre_tokenizer is null; only the ByteLevel pre-tokenizer is supported");
        const json& pre = j.at("pre_tokenizer");
        if (const std::string type = r.type(pre, "pre_tokenizer"); type != "ByteLevel")
            r.fail("unsupported pre_tokenizer type '" + type + "' (only ByteLevel is supported)");
        t->m_addPrefixSpace = r.flag(pre, "add_prefix_space", true, "pre_tokenizer");
        t->m_useRegex = r.flag(pre, "use_regex", true, "pre_tokenizer");

        if (!r.isNull(j, "post_processor")) {
            if (const std::string type = r.type(j.at("post_processor"), "post_processor"); type != "ByteLevel")
                r.fail("unsupported post_processor type '" + type + "' (supported: null, ByteLevel)");
        }
        t->m_byteLevelDecoder = false;
        if (!r.isNull(j, "decoder")) {
            if (const std::string type = r.type(j.at("decoder"), "decoder"); type != "ByteLevel")
                r.fail("unsupported decoder type '" + type + "' (supported: null, ByteLevel)");
            t->m_byteLevelDecoder = true;
        }

        if (r.isNull(j, "model")) r.fail("no \"model\" section");
        const json& model = j.at("model");
        if (!model.is_object()) r.fail("\"model\" must be an object");
        std::string modelType =
            model.contains("type") && model.at("type").is_string() ? model.at("type").get<std::string>() : "";
        if (modelType.empty() && model.contains("merges")) modelType = "BPE";
        if (modelType != "BPE")
            r.fail("unsupported model type '" + (modelType.empty() ? std::string("(none)") : modelType) +
                   "' (only BPE is supported; WordPiece, Unigram and WordLevel are not)");
        if (!r.isNull(model, "dropout")) {
            if (!model.at("dropout").is_number()) r.fail("model.dropout must be a number or null");
            if (model.at("dropout").get<double>() != 0.0) r.fail("model.dropout is set; BPE dropout is not supported");
        }
        t->m_unkToken = r.text(model, "unk_token", "model");
        t->m_prefix = r.text(model, "continuing_subword_prefix", "model");
        t->m_suffix = r.text(model, "end_of_word_suffix", "model");
        t->m_fuseUnk = r.flag(model, "fuse_unk", false, "model");
        t->m_byteFallback = r.flag(model, "byte_fallback", false, "model");
        t->m_ignoreMerges = r.flag(model, "ignore_merges", false, "model");

        // Vocabulary: model tokens, then added tokens (which may reuse model ids).
        if (!model.contains("vocab") || !model.at("vocab").is_object())
            r.fail("model.vocab must be an object {token: id}");
        std::vector<std::string> byId;
        std::vector<bool> filled;
        const auto place = [&](const std::string& token, int64_t id, const char* where) {
            if (id < 0 || id > 50'000'000)
                r.fail(std::string(where) + ": token \"" + token + "\" has an invalid id " + std::to_string(id));
            const auto u = static_cast<size_t>(id);
            if (u >= byId.size()) {
                byId.resize(u + 1);
                filled.resize(u + 1, false);
            }
            if (filled[u] && byId[u] != token)
                r.fail(std::string(where) + ": id " + std::to_string(id) + " is given to both \"" + byId[u] +
                       "\" and \"" + token + "\"");
            byId[u] = token;
            filled[u] = true;
        };
        for (const auto& [token, id] : model.at("vocab").items()) {
            if (!id.is_number_integer()) r.fail("model.vocab: the id of \"" + token + "\" is not an integer");
            place(token, id.get<int64_t>(), "model.vocab");
            t->m_vocab.emplace(token, id.get<int32_t>());
        }
        if (j.contains("added_tokens") && !j.at("added_tokens").is_null()) {
            if (!j.at("added_tokens").is_array()) r.fail("added_tokens must be an array");
            for (const auto& a : j.at("added_tokens")) {
                if (!a.is_object() || !a.contains("content") || !a.at("content").is_string() || !a.contains("id") ||
                    !a.at("id").is_number_integer())
                    r.fail("added_tokens: every entry needs a string \"content\" and an integer \"id\"");
                AddedToken at;
                at.content = a.at("content").get<std::string>();
                at.id = a.at("id").get<int32_t>();
                at.singleWord = r.flag(a, "single_word", false, "added_tokens");
                at.lstrip = r.flag(a, "lstrip", false, "added_tokens");
                at.rstrip = r.flag(a, "rstrip", false, "added_tokens");
                at.normalized = r.flag(a, "normalized", !r.flag(a, "special", false, "added_tokens"), "added_tokens");
                at.special = r.flag(a, "special", false, "added_tokens");
                if (at.content.empty()) continue; // HuggingFace ignores empty added tokens
                if (const auto it = t->m_vocab.find(at.content); it != t->m_vocab.end() && it->second != at.id)
                    r.fail("added token \"" + at.content + "\" has id " + std::to_string(at.id) +
                           " but the model vocabulary gives it " + std::to_string(it->second));
                place(at.content, at.id, "added_tokens");
                if (t->m_addedByText.emplace(at.content, at.id).second) t->m_added.push_back(at);
            }
        }
        for (size_t i = 0; i < filled.size(); ++i)
            if (!filled[i])
                r.fail("token ids are not contiguous: id " + std::to_string(i) + " has no token (" +
                       std::to_string(filled.size()) + " ids expected)");
        if (byId.empty()) r.fail("the vocabulary is empty");
        t->m_idToToken = std::move(byId);

        // Merges: "a b" strings (older files) or ["a", "b"] pairs.
        if (model.contains("merges") && !model.at("merges").is_null()) {
            const json& merges = model.at("merges");
            if (!merges.is_array()) r.fail("model.merges must be an array");
            t->m_merges.reserve(merges.size() * 2);
            const size_t prefixLen = t->m_prefix.size();
            for (size_t rank = 0; rank < merges.size(); ++rank) {
                const json& m = merges[rank];
                std::string a, b;
                if (m.is_string()) {
                    const std::string s = m.get<std::string>();
                    const auto sp = s.find(' ');
                    if (sp == std::string::npos || s.find(' ', sp + 1) != std::string::npos)
                        r.fail("model.merges[" + std::to_string(rank) + "] \"" + s +
                               "\" is not two tokens separated by one space");
                    a = s.substr(0, sp);
                    b = s.substr(sp + 1);
                } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
                    a = m[0].get<std::string>();
                    b = m[1].get<std::string>();
                } else {
                    r.fail("model.merges[" + std::to_string(rank) + "] is neither \"a b\" nor [\"a\", \"b\"]");
                }
                const auto ia = t->m_vocab.find(a), ib = t->m_vocab.find(b);
                if (ia == t->m_vocab.end() || ib == t->m_vocab.end())
                    r.fail("model.merges[" + std::to_string(rank) + "] uses \"" + (ia == t->m_vocab.end() ? a : b) +
                           "\", which is not in model.vocab");
                const std::string merged = a + (b.size() >= prefixLen ? b.substr(prefixLen) : std::string());
                const auto in = t->m_vocab.find(merged);
                if (in == t->m_vocab.end())
                    r.fail("model.merges[" + std::to_string(rank) + "] produces \"" + merged +
                           "\", which is not in model.vocab");
                t->m_merges.insert_or_assign(pairKey(ia->second, ib->second),
                                             std::pair<uint32_t, int32_t>{static_cast<uint32_t>(rank), in->second});
            }
        }
    } catch (const json::exception& e) {
        r.fail(std::string("unexpected content: ") + e.what());
    }

    for (int b = 0; b < 256; ++b) {
        if (const auto it = t->m_vocab.find(bpe::byteToUnicode(static_cast<uint8_t>(b))); it != t->m_vocab.end())
            t->m_byteId[static_cast<size_t>(b)] = it->second;
        char name[8];
        std::snprintf(name, sizeof name, "<0x%02X>", b);
        if (const auto it = t->m_vocab.find(std::string_view(name)); it != t->m_vocab.end())
            t->m_fallbackId[static_cast<size_t>(b)] = it->second;
    }
    if (!t->m_unkToken.empty()) {
        if (const auto it = t->m_vocab.find(t->m_unkToken); it != t->m_vocab.end()) t->m_unk = it->second;
    }

    t->m_isSpecial.assign(t->m_idToToken.size(), false);
    t->m_isAdded.assign(t->m_idToToken.size(), false);
    std::unordered_map<std::string, bool> specialContent;
    for (size_t i = 0; i < t->m_added.size(); ++i) {
        const AddedToken& a = t->m_added[i];
        t->m_isAdded[static_cast<size_t>(a.id)] = true;
        // HuggingFace reports (and decodes) a normalized added token by its normalised form.
        if (a.normalized) {
            std::string n = t->normalizeText(a.content);
            t->m_addedByText.emplace(n, a.id);
            t->m_idToToken[static_cast<size_t>(a.id)] = std::move(n);
        }
        if (a.special) specialContent[a.content] = true;
    }
    for (size_t id = 0; id < t->m_idToToken.size(); ++id)
        if (specialContent.count(t->m_idToToken[id])) t->m_isSpecial[id] = true;
    // HuggingFace matches special tokens first, then the other added tokens, in file order.
    for (const bool pass : {true, false}) {
        for (size_t i = 0; i < t->m_added.size(); ++i) {
            const AddedToken& a = t->m_added[i];
            if (a.special != pass) continue;
            if (a.normalized)
                t->m_normTrie->insert(t->normalizeText(a.content), static_cast<int32_t>(i));
            else
                t->m_rawTrie->insert(a.content, static_cast<int32_t>(i));
        }
    }
    return t;
}

std::optional<int32_t> ByteLevelBpeTokenizer::tokenToId(std::string_view token) const {
    if (const auto it = m_addedByText.find(token); it != m_addedByText.end()) return it->second;
    if (const auto it = m_vocab.find(token); it != m_vocab.end()) return it->second;
    return std::nullopt;
}

const std::string& ByteLevelBpeTokenizer::idToToken(int32_t id) const {
    if (id < 0 || static_cast<size_t>(id) >= m_idToToken.size())
        throw InputError("token id " + std::to_string(id) + " is outside the vocabulary [0, " +
                         std::to_string(m_idToToken.size()) + ") of " + m_source);
    return m_idToToken[static_cast<size_t>(id)];
}

std::vector<int32_t> ByteLevelBpeTokenizer::specialIds() const {
    std::vector<int32_t> ids;
    for (size_t i = 0; i < m_isSpecial.size(); ++i)
        if (m_isSpecial[i]) ids.push_back(static_cast<int32_t>(i));
    return ids;
}

std::string ByteLevelBpeTokenizer::normalizeText(std::string_view text) const {
    std::string s(text);
    for (const auto form : m_normalizers)
        s = unicode::normalize(s, form);
    return s;
}

unicode::NormalizedText ByteLevelBpeTokenizer::normalizeTextWithOffsets(std::string_view text) const {
    if (m_normalizers.empty()) return unicode::normalizeWithOffsets(text, unicode::NormalForm::None);
    unicode::NormalizedText acc = unicode::normalizeWithOffsets(text, m_normalizers[0]);
    for (size_t k = 1; k < m_normalizers.size(); ++k) {
        unicode::NormalizedText next = unicode::normalizeWithOffsets(acc.text, m_normalizers[k]);
        for (size_t i = 0; i < next.text.size(); ++i) {
            const uint32_t b = next.sourceBegin[i], e = next.sourceEnd[i];
            next.sourceBegin[i] = acc.sourceBegin[b];
            next.sourceEnd[i] = acc.sourceEnd[e - 1];
        }
        acc = std::move(next);
    }
    return acc;
}

void ByteLevelBpeTokenizer::findAdded(std::string_view text, const Trie& trie, std::vector<Split>& out) const {
    out.clear();
    if (trie.empty() || text.empty()) {
        out.push_back({0, text.size(), -1});
        return;
    }
    size_t startOffset = 0;
    size_t i = 0;
    while (i < text.size()) {
        if (!trie.first[static_cast<uint8_t>(text[i])]) {
            ++i;
            continue;
        }
        const auto [len, index] = trie.longestAt(text, i);
        if (index < 0) {
            ++i;
            continue;
        }
        size_t start = i, stop = i + len;
        i = stop; // leftmost-longest matches never overlap
        const AddedToken& tok = m_added[static_cast<size_t>(index)];
        if (tok.singleWord) {
            const bool startSpace = start == 0 || !unicode::isWordChar(lastCodePoint(text.substr(0, start)));
            const bool stopSpace = stop == text.size() || !unicode::isWordChar(firstCodePoint(text.substr(stop)));
            if (!startSpace || !stopSpace) continue;
        }
        if (tok.lstrip) start = std::max(trailingSpaceStart(text.substr(0, start)), startOffset);
        if (tok.rstrip) stop += leadingSpaceEnd(text.substr(stop));
        if (startOffset < start) out.push_back({startOffset, start, -1});
        out.push_back({start, stop, tok.id});
        startOffset = stop;
    }
    if (startOffset != text.size()) out.push_back({startOffset, text.size(), -1});
}

void ByteLevelBpeTokenizer::bpeWord(std::string_view word, std::vector<Symbol>& out) const {
    struct Cache {
        uint64_t owner = 0;
        std::unordered_map<std::string, std::vector<Symbol>, Hash, std::equal_to<>> words;
    };
    thread_local Cache cache;
    constexpr size_t kMaxEntries = 1 << 16;
    constexpr size_t kMaxWordBytes = 256;
    if (cache.owner != m_instance) {
        cache.words.clear();
        cache.owner = m_instance;
    }
    if (word.size() <= kMaxWordBytes) {
        if (const auto it = cache.words.find(word); it != cache.words.end()) {
            out.insert(out.end(), it->second.begin(), it->second.end());
            return;
        }
    }
    const size_t first = out.size();
    bpeWordUncached(word, out);
    if (word.size() <= kMaxWordBytes) {
        if (cache.words.size() >= kMaxEntries) cache.words.clear();
        cache.words.emplace(std::string(word),
                            std::vector<Symbol>(out.begin() + static_cast<ptrdiff_t>(first), out.end()));
    }
}

void ByteLevelBpeTokenizer::bpeWordUncached(std::string_view word, std::vector<Symbol>& out) const {
    struct Sym {
        int32_t id;
        int32_t prev, next;
        uint32_t len;
        bool alive;
    };
    thread_local std::vector<Sym> syms;
    syms.clear();
    const auto add = [&](int32_t id, uint32_t len) {
        const auto n = static_cast<int32_t>(syms.size());
        syms.push_back({id, n - 1, -1, len, true});
        if (n > 0) syms[static_cast<size_t>(n - 1)].next = n;
    };

    if (m_ignoreMerges) {
        if (const auto it = m_vocab.find(bpe::toByteLevel(word)); it != m_vocab.end()) {
            out.push_back({it->second, static_cast<uint32_t>(word.size())});
            return;
        }
    }

    const bool plain = m_prefix.empty() && m_suffix.empty();
    int32_t unkId = -1; // a pending unknown run, added when a known symbol follows
    uint32_t unkLen = 0;
    const auto flushUnk = [&] {
        if (unkId >= 0) add(unkId, unkLen);
        unkId = -1;
        unkLen = 0;
    };
    for (size_t i = 0; i < word.size(); ++i) {
        const auto byte = static_cast<uint8_t>(word[i]);
        int32_t id = -1;
        std::string s;
        if (plain) {
            id = m_byteId[byte];
        } else {
            s = (i > 0 ? m_prefix : std::string()) + bpe::byteToUnicode(byte) +
                (i + 1 == word.size() ? m_suffix : std::string());
            if (const auto it = m_vocab.find(s); it != m_vocab.end()) id = it->second;
        }
        if (id >= 0) {
            flushUnk();
            add(id, 1);
            continue;
        }
        if (m_byteFallback) {
            if (plain) s = bpe::byteToUnicode(byte);
            bool all = true;
            for (const char c : s)
                all = all && m_fallbackId[static_cast<uint8_t>(c)] >= 0;
            if (all) {
                for (size_t k = 0; k < s.size(); ++k)
                    add(m_fallbackId[static_cast<uint8_t>(s[k])], k == 0 ? 1 : 0);
                continue;
            }
        }
        if (m_unkToken.empty()) continue; // HuggingFace drops the character
        if (!m_unk) throw InputError(m_source + ": unk_token \"" + m_unkToken + "\" is not in the vocabulary");
        if (unkId >= 0 && m_fuseUnk) {
            unkLen += 1;
        } else {
            flushUnk();
            unkId = *m_unk;
            unkLen = 1;
        }
    }
    flushUnk();

    // HuggingFace's Word::merge_all: lowest rank first, then leftmost position.
    struct Merge {
        uint32_t rank;
        int32_t pos;
        int32_t newId;
    };
    const auto later = [](const Merge& a, const Merge& b) {
        return a.rank != b.rank ? a.rank > b.rank : a.pos > b.pos;
    };
    thread_local std::vector<Merge> heapStore;
    heapStore.clear();
    std::priority_queue<Merge, std::vector<Merge>, decltype(later)> queue(later, std::move(heapStore));
    for (size_t i = 0; i + 1 < syms.size(); ++i) {
        if (const auto it = m_merges.find(pairKey(syms[i].id, syms[i + 1].id)); it != m_merges.end())
            queue.push({it->second.first, static_cast<int32_t>(i), it->second.second});
    }
    while (!queue.empty()) {
        const Merge top = queue.top();
        queue.pop();
        Sym& cur = syms[static_cast<size_t>(top.pos)];
        if (!cur.alive || cur.next < 0) continue;
        const Sym right = syms[static_cast<size_t>(cur.next)];
        const auto it = m_merges.find(pairKey(cur.id, right.id));
        if (it == m_merges.end() || it->second.second != top.newId) continue;
        syms[static_cast<size_t>(cur.next)].alive = false;
        cur.id = top.newId;
        cur.len += right.len;
        cur.next = right.next;
        if (right.next >= 0) syms[static_cast<size_t>(right.next)].prev = top.pos;
        if (cur.prev >= 0) {
            if (const auto p = m_merges.find(pairKey(syms[static_cast<size_t>(cur.prev)].id, cur.id));
                p != m_merges.end())
                queue.push({p->second.first, cur.prev, p->second.second});
        }
        if (cur.next >= 0) {
            if (const auto p = m_merges.find(pairKey(cur.id, syms[static_cast<size_t>(cur.next)].id));
                p != m_merges.end())
                queue.push({p->second.first, top.pos, p->second.second});
        }
    }
    for (const Sym& s : syms)
        if (s.alive) out.push_back({s.id, s.len});
}

template <bool kOffsets, class Emit> void ByteLevelBpeTokenizer::run(std::string_view text, Emit&& emit) const {
    if (const size_t bad = unicode::findInvalidUtf8(text); bad != unicode::kValid)
        throw InputError("invalid UTF-8 at byte " + std::to_string(bad) + " of the text to tokenise");
    thread_local std::vector<Split> rawSplits, normSplits;
    thread_local std::vector<std::string_view> words;
    thread_local std::vector<Symbol> symbols;
    thread_local std::string buffer;
    // Nested calls on one thread would share these buffers; encode never recurses.
    std::vector<Split> raw;
    raw.swap(rawSplits);
    findAdded(text, *m_rawTrie, raw);

    for (const Split& seg : raw) {
        if (seg.id >= 0) {
            // As HuggingFace, an added token's string is the text it matched (stripped spaces included).
            emit(seg.id, seg.begin, seg.end, text.substr(seg.begin, seg.end - seg.begin));
            continue;
        }
        if (seg.begin >= seg.end) continue;
        const std::string_view segment = text.substr(seg.begin, seg.end - seg.begin);
        unicode::NormalizedText norm;
        if constexpr (kOffsets) {
            norm = normalizeTextWithOffsets(segment);
        } else {
            norm.text = normalizeText(segment);
        }
        const std::string& ns = norm.text;
        // Normalised byte range -> original byte range.
        const auto original = [&](size_t lo, size_t hi) -> std::pair<size_t, size_t> {
            if constexpr (kOffsets) {
                if (lo >= hi) {
                    const size_t at = lo < ns.size() ? norm.sourceBegin[lo] : segment.size();
                    return {seg.begin + at, seg.begin + at};
                }
                return {seg.begin + norm.sourceBegin[lo], seg.begin + norm.sourceEnd[hi - 1]};
            } else {
                return {lo, hi};
            }
        };
        findAdded(ns, *m_normTrie, normSplits);
        for (const Split& piece : normSplits) {
            if (piece.id >= 0) {
                const auto [b, e] = original(piece.begin, piece.end);
                emit(piece.id, b, e, std::string_view(ns).substr(piece.begin, piece.end - piece.begin));
                continue;
            }
            if (piece.begin >= piece.end) continue;
            const std::string_view pieceText = std::string_view(ns).substr(piece.begin, piece.end - piece.begin);
            size_t prefix = 0;
            buffer.clear();
            if (m_addPrefixSpace && pieceText.front() != ' ') {
                buffer.push_back(' ');
                prefix = 1;
            }
            buffer.append(pieceText);
            words.clear();
            if (m_useRegex)
                bpe::splitGpt2(buffer, words);
            else
                words.emplace_back(buffer);
            for (const std::string_view w : words) {
                symbols.clear();
                bpeWord(w, symbols);
                size_t at = static_cast<size_t>(w.data() - buffer.data());
                for (const Symbol& s : symbols) {
                    const size_t lo = piece.begin + std::max(at, prefix) - prefix;
                    const size_t hi = piece.begin + std::max(at + s.len, prefix) - prefix;
                    const auto [b, e] = original(lo, hi);
                    emit(s.id, b, e, std::string_view());
                    at += s.len;
                }
            }
        }
    }
    raw.swap(rawSplits);
}

Encoding ByteLevelBpeTokenizer::encode(std::string_view text) const {
    Encoding e;
    run<true>(text, [&](int32_t id, size_t b, size_t en, std::string_view matched) {
        e.ids.push_back(id);
        e.tokens.push_back(matched.data() ? std::string(matched) : m_idToToken[static_cast<size_t>(id)]);
        e.offsets.emplace_back(b, en);
    });
    return e;
}

void ByteLevelBpeTokenizer::encodeIds(std::string_view text, std::vector<int32_t>& out) const {
    run<false>(text, [&](int32_t id, size_t, size_t, std::string_view) { out.push_back(id); });
}

std::string ByteLevelBpeTokenizer::decode(std::span<const int32_t> ids, bool skipSpecial) const {
    std::string bytes;
    bool firstToken = true;
    for (const int32_t id : ids) {
        const std::string& token = idToToken(id);
        if (skipSpecial && m_isSpecial[static_cast<size_t>(id)]) continue;
        if (!m_byteLevelDecoder) {
            if (!firstToken) bytes.push_back(' ');
            bytes += token;
            firstToken = false;
            continue;
        }
        // A token whose characters are all in the byte alphabet becomes those bytes; any
        // other token (an added token like "[CLS]" is usually in the alphabet) stays as is.
        std::string decoded;
        bool all = true;
        size_t pos = 0;
        while (pos < token.size()) {
            const int b = bpe::byteFromUnicode(unicode::decodeNext(token, pos));
            if (b < 0) {
                all = false;
                break;
            }
            decoded.push_back(static_cast<char>(b));
        }
        bytes += all ? decoded : token;
    }
    return m_byteLevelDecoder ? unicode::fromUtf8Lossy(bytes) : bytes;
}

} // namespace brillm
