// SPDX-License-Identifier: GPL-3.0-or-later
#include "text/frequency_json.h"

#include "brillm/text/vocabulary.h"

#include <nlohmann/json.hpp>

#include <cmath>

namespace brillm::detail {
namespace {

class FrequencyHandler : public nlohmann::json_sax<nlohmann::json> {
public:
    FrequencyHandler(const NodeVocabulary& nodes, const FrequencyJsonRules& rules,
                     const std::function<void(int32_t, int32_t, FrequencyCount)>& onPair, FrequencyJsonResult& out)
        : m_nodes(nodes), m_rules(rules), m_onPair(onPair), m_out(out) {}

    bool null() override { return bad("null"); }
    bool boolean(bool) override { return bad("a boolean"); }
    bool number_integer(number_integer_t v) override {
        if (v < 0) return bad("a negative number");
        return value({static_cast<uint64_t>(v), static_cast<double>(v)});
    }
    bool number_unsigned(number_unsigned_t v) override { return value({v, static_cast<double>(v)}); }
    bool number_float(number_float_t v, const string_t&) override {
        if (!m_rules.allowFractional) return bad("a fractional number");
        if (!(v >= 0.0) || !std::isfinite(v)) return bad("a negative or non-finite number");
        return value({v == std::floor(v) && v < 1.8e19 ? static_cast<uint64_t>(v) : 0, v});
    }
    bool string(string_t&) override { return bad("a string"); }
    bool binary(binary_t&) override { return bad("binary data"); }
    bool start_object(std::size_t) override {
        if (m_depth == 1 && !m_haveKey) return bad("an object without a source token");
        if (++m_depth > 2) return bad("an object nested too deeply");
        m_haveKey = false;
        return true;
    }
    bool end_object() override {
        if (--m_depth == 1) m_source = kNone;
        m_haveKey = false;
        return true;
    }
    bool start_array(std::size_t) override { return bad("an array"); }
    bool end_array() override { return true; }
    bool key(string_t& k) override {
        const auto id = m_nodes.id(k);
        int32_t found = kUnknown;
        if (id) {
            found = *id;
        } else if (m_rules.skipUnknownTokens) {
            ++m_out.unknownTokens;
        } else {
            m_out.problem = "token \"" + k + "\" is not in the node vocabulary " + m_nodes.source();
            return false;
        }
        (m_depth == 1 ? m_source : m_target) = found;
        m_haveKey = true;
        return true;
    }
    bool parse_error(std::size_t position, const std::string&, const nlohmann::detail::exception& e) override {
        m_out.syntaxByte = position > 0 ? position - 1 : 0;
        m_out.syntaxError = e.what();
        return false;
    }

private:
    static constexpr int32_t kNone = -1, kUnknown = -2;

    bool value(FrequencyCount c) {
        if (m_depth != 2) return bad("a number outside a source's object");
        if (m_source >= 0 && m_target >= 0) m_onPair(m_source, m_target, c);
        return true;
    }
    std::string name(int32_t id) const { return id >= 0 ? "\"" + m_nodes.token(id) + "\"" : "an unknown token"; }
    bool bad(const std::string& what) {
        if (m_depth == 0)
            m_out.problem = "expected a JSON object {source: {target: count}}, found " + what;
        else if (m_depth == 1)
            m_out.problem = "the entry of " + name(m_source) + " is " + what + ", expected an object {target: count}";
        else
            m_out.problem =
                "the count of " + name(m_source) + " -> " + name(m_target) + " is " + what +
                (m_rules.allowFractional ? ", expected a non-negative number" : ", expected a non-negative integer");
        return false;
    }

    const NodeVocabulary& m_nodes;
    const FrequencyJsonRules& m_rules;
    const std::function<void(int32_t, int32_t, FrequencyCount)>& m_onPair;
    FrequencyJsonResult& m_out;
    int m_depth = 0;
    bool m_haveKey = false;
    int32_t m_source = kNone, m_target = kNone;
};

} // namespace

FrequencyJsonResult readFrequencyJson(std::string_view text, const NodeVocabulary& nodes,
                                      const FrequencyJsonRules& rules,
                                      const std::function<void(int32_t, int32_t, FrequencyCount)>& onPair) {
    FrequencyJsonResult out;
    FrequencyHandler h(nodes, rules, onPair, out);
    bool ok = false;
    try {
        ok = nlohmann::json::sax_parse(text.begin(), text.end(), &h, nlohmann::json::input_format_t::json,
                                       /*strict=*/true);
    } catch (const nlohmann::json::exception& e) {
        if (out.syntaxError.empty()) out.syntaxError = e.what();
    }
    if (!ok && out.ok()) out.problem = "invalid frequency table";
    return out;
}

} // namespace brillm::detail
