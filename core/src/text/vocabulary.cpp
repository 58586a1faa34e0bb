// SPDX-License-Identifier: GPL-3.0-or-later
#include "brillm/text/vocabulary.h"

#include "brillm/error.h"
#include "brillm/io/checkpoint_writer.h"
#include "brillm/io/input_limits.h"
#include "brillm/text/tokenizer.h"
#include "text/tokenizer_json.h"

#include <nlohmann/json.hpp>

#include <limits>

namespace brillm {
namespace {

using nlohmann::json;

// SAX handler for a flat {string: non-negative integer} object, keeping file order.
class FlatDictHandler : public nlohmann::json_sax<json> {
public:
    std::vector<std::pair<std::string, int64_t>> entries;
    std::string problem; // set on content errors (not syntax errors)
    std::string syntaxError;
    size_t syntaxByte = 0;

    bool null() override { return bad("null"); }
    bool boolean(bool) override { return bad("a boolean"); }
    bool number_integer(number_integer_t v) override { return value(v); }
    bool number_unsigned(number_unsigned_t v) override {
        return v > static_cast<number_unsigned_t>(std::numeric_limits<int32_t>::max()) ? bad("an id above 2^31")
                                                                                       : value(static_cast<int64_t>(v));
    }
    bool number_float(number_float_t, const string_t&) override { return bad("a fractional number"); }
    bool string(string_t&) override { return bad("a string"); }
    bool binary(binary_t&) override { return bad("binary data"); }
    bool start_object(std::size_t) override {
        if (m_depth++ != 0) return bad("a nested object");
        return true;
    }
    bool key(string_t& k) override {
        m_key = k;
        return true;
    }
    bool end_object() override {
        --m_depth;
        return true;
    }
    bool start_array(std::size_t) override { return bad("an array"); }
    bool end_array() override { return true; }
    bool parse_error(std::size_t position, const std::string&, const nlohmann::detail::exception& e) override {
        syntaxByte = position > 0 ? position - 1 : 0;
        syntaxError = e.what();
        return false;
    }

private:
    bool value(int64_t v) {
        if (m_depth != 1) return bad("a number outside an object");
        if (v < 0) {
            problem = "token \"" + m_key + "\" has a negative id " + std::to_string(v);
            return false;
        }
        entries.emplace_back(m_key, v);
        return true;
    }
    bool bad(const std::string& what) {
        problem = m_depth == 1 ? "the value of token \"" + m_key + "\" is " + what + ", expected an integer id"
                               : "expected a JSON object {token: id}, found " + what;
        return false;
    }
    int m_depth = 0;
    std::string m_key;
};

} // namespace

NodeVocabulary NodeVocabulary::fromTokens(std::vector<std::string> tokens, std::string source) {
    NodeVocabulary v;
    v.m_source = std::move(source);
    v.m_ids.reserve(tokens.size());
    for (size_t i = 0; i < tokens.size(); ++i) {
        auto [it, inserted] = v.m_ids.emplace(tokens[i], static_cast<int32_t>(i));
        if (!inserted)
            throw TokenizerError(v.m_source + ": token \"" + tokens[i] + "\" appears twice (ids " +
                                 std::to_string(it->second) + " and " + std::to_string(i) + ")");
    }
    v.m_tokens = std::move(tokens);
    return v;
}

NodeVocabulary NodeVocabulary::fromTokenizer(const Tokenizer& tokenizer) {
    std::vector<std::string> tokens;
    tokens.reserve(static_cast<size_t>(tokenizer.vocabSize()));
    for (int64_t i = 0; i < tokenizer.vocabSize(); ++i)
        tokens.push_back(tokenizer.idToToken(static_cast<int32_t>(i)));
    return fromTokens(std::move(tokens), tokenizer.source());
}

NodeVocabulary NodeVocabulary::load(const std::filesystem::path& path) {
    std::string text, error;
    if (!readRegularFile(path, text, error))
        throw TokenizerError("cannot read vocabulary " + path.string() + ": " + error);
    return parse(text, path.string());
}

NodeVocabulary NodeVocabulary::parse(std::string_view text, const std::string& sourceName) {
    FlatDictHandler h;
    const bool ok = json::sax_parse(text.begin(), text.end(), &h, json::input_format_t::json, /*strict=*/true);
    if (!h.syntaxError.empty()) {
        std::string what = h.syntaxError;
        if (const auto p = what.find("parse error"); p != std::string::npos) what = what.substr(p);
        throw TokenizerError(detail::jsonPosition(sourceName, text, h.syntaxByte) + ": malformed JSON: " + what);
    }
    if (!ok || !h.problem.empty())
        throw TokenizerError(sourceName + ": " + (h.problem.empty() ? "invalid vocabulary" : h.problem));
    if (h.entries.empty()) throw TokenizerError(sourceName + ": the vocabulary is empty");

    const size_t n = h.entries.size();
    std::vector<std::string> tokens(n);
    std::vector<bool> seen(n, false);
    std::unordered_map<std::string_view, int64_t> firstId;
    for (const auto& [token, id] : h.entries) {
        if (auto [it, inserted] = firstId.emplace(token, id); !inserted)
            throw TokenizerError(sourceName + ": token \"" + token + "\" is listed twice (ids " +
                                 std::to_string(it->second) + " and " + std::to_string(id) + ")");
        if (static_cast<size_t>(id) >= n) continue; // reported below as a gap
        if (seen[static_cast<size_t>(id)])
            throw TokenizerError(sourceName + ": id " + std::to_string(id) + " is given to both \"" +
                                 tokens[static_cast<size_t>(id)] + "\" and \"" + token + "\"");
        seen[static_cast<size_t>(id)] = true;
        tokens[static_cast<size_t>(id)] = token;
    }
    for (size_t i = 0; i < n; ++i) {
        if (!seen[i]) {
            int64_t maxId = 0;
            for (const auto& e : h.entries)
                maxId = std::max(maxId, e.second);
            throw TokenizerError(sourceName + ": ids are not contiguous: " + std::to_string(n) + " tokens but id " +
                                 std::to_string(i) + " is missing (largest id " + std::to_string(maxId) +
                                 "); expected ids 0.." + std::to_string(n - 1));
        }
    }
    return fromTokens(std::move(tokens), sourceName);
}

std::string NodeVocabulary::toJson() const {
    std::string out = "{\n";
    for (size_t i = 0; i < m_tokens.size(); ++i) {
        out += "  " + json(m_tokens[i]).dump() + ": " + std::to_string(i);
        out += i + 1 < m_tokens.size() ? ",\n" : "\n";
    }
    out += "}\n";
    return out;
}

void NodeVocabulary::save(const std::filesystem::path& path) const {
    writeFileAtomically(path.string(), toJson());
}

std::optional<int32_t> NodeVocabulary::id(std::string_view token) const {
    const auto it = m_ids.find(token);
    if (it == m_ids.end()) return std::nullopt;
    return it->second;
}

const std::string& NodeVocabulary::token(int32_t id) const {
    if (id < 0 || static_cast<size_t>(id) >= m_tokens.size())
        throw InputError("node id " + std::to_string(id) + " is outside the vocabulary [0, " +
                         std::to_string(m_tokens.size()) + ") of " + m_source);
    return m_tokens[static_cast<size_t>(id)];
}

std::optional<int32_t> NodeVocabulary::unknownId() const {
    for (const char* t : {"<unk>", "[UNK]", "<UNK>"})
        if (auto i = id(t)) return i;
    return std::nullopt;
}

std::vector<int32_t> NodeVocabulary::mapFrom(const Tokenizer& tokenizer, int64_t* missing) const {
    const int32_t fallback = unknownId().value_or(-1);
    std::vector<int32_t> map(static_cast<size_t>(tokenizer.vocabSize()));
    int64_t lacking = 0;
    for (size_t i = 0; i < map.size(); ++i) {
        const auto node = id(tokenizer.idToToken(static_cast<int32_t>(i)));
        if (!node) ++lacking;
        map[i] = node.value_or(fallback);
    }
    if (missing) *missing = lacking;
    return map;
}

std::vector<int32_t> NodeVocabulary::mapTo(const Tokenizer& tokenizer, int64_t* missing) const {
    std::vector<int32_t> map(m_tokens.size(), -1);
    int64_t lacking = 0;
    for (size_t i = 0; i < map.size(); ++i) {
        if (const auto id = tokenizer.tokenToId(m_tokens[i]))
            map[i] = *id;
        else
            ++lacking;
    }
    if (missing) *missing = lacking;
    return map;
}

} // namespace brillm
