// SPDX-License-Identifier: GPL-3.0-or-later
#include "brillm/text/bpe_pretokenizer.h"

#include "brillm/text/unicode.h"

#include <array>

namespace brillm::bpe {
namespace {

enum class Cls : uint8_t { Space, OtherWs, Letter, Number, Other };

Cls classify(char32_t cp) {
    if (cp == U' ') return Cls::Space;
    if (unicode::isWhiteSpace(cp)) return Cls::OtherWs;
    if (unicode::isLetter(cp)) return Cls::Letter;
    if (unicode::isNumber(cp)) return Cls::Number;
    return Cls::Other;
}

bool isWs(Cls c) {
    return c == Cls::Space || c == Cls::OtherWs;
}

struct Alphabet {
    std::array<std::string, 256> byteToChar;
    std::array<int16_t, 512> charToByte{};
    Alphabet() {
        charToByte.fill(-1);
        std::array<bool, 256> direct{};
        for (int b = '!'; b <= '~'; ++b)
            direct[static_cast<size_t>(b)] = true;
        for (int b = 0xA1; b <= 0xAC; ++b)
            direct[static_cast<size_t>(b)] = true;
        for (int b = 0xAE; b <= 0xFF; ++b)
            direct[static_cast<size_t>(b)] = true;
        char32_t next = 256;
        for (int b = 0; b < 256; ++b) {
            const char32_t cp = direct[static_cast<size_t>(b)] ? static_cast<char32_t>(b) : next++;
            unicode::appendUtf8(byteToChar[static_cast<size_t>(b)], cp);
            charToByte[cp] = static_cast<int16_t>(b);
        }
    }
};

const Alphabet& alphabet() {
    static const Alphabet a;
    return a;
}

} // namespace

void splitGpt2(std::string_view text, std::vector<std::string_view>& out) {
    // Code points and their byte offsets; the class of each is computed once.
    thread_local std::vector<char32_t> cps;
    thread_local std::vector<Cls> cls;
    thread_local std::vector<uint32_t> at;
    cps.clear();
    cls.clear();
    at.clear();
    size_t pos = 0;
    while (pos < text.size()) {
        at.push_back(static_cast<uint32_t>(pos));
        const char32_t cp = unicode::decodeNext(text, pos);
        cps.push_back(cp);
        cls.push_back(classify(cp));
    }
    at.push_back(static_cast<uint32_t>(text.size()));
    const size_t n = cps.size();
    const auto runOf = [&](size_t from, auto pred) {
        size_t k = from;
        while (k < n && pred(cls[k]))
            ++k;
        return k;
    };
    size_t i = 0;
    while (i < n) {
        size_t end = 0;
        const char32_t c = cps[i];
        // 's|'t|'re|'ve|'m|'ll|'d
        if (c == U'\'' && i + 1 < n) {
            const char32_t c1 = cps[i + 1];
            if (c1 == U's' || c1 == U't' || c1 == U'm' || c1 == U'd') {
                end = i + 2;
            } else if (i + 2 < n) {
                const char32_t c2 = cps[i + 2];
                if ((c1 == U'r' && c2 == U'e') || (c1 == U'v' && c2 == U'e') || (c1 == U'l' && c2 == U'l')) end = i + 3;
            }
        }
        if (end == 0) {
            // ` ?X+` for X = \p{L}, \p{N}, [^\s\p{L}\p{N}]: the optional space is U+0020 only.
            const size_t j = (cls[i] == Cls::Space && i + 1 < n) ? i + 1 : i;
            const Cls cj = cls[j];
            if (j == i + 1 || !isWs(cj)) {
                if (cj == Cls::Letter || cj == Cls::Number || cj == Cls::Other)
                    end = runOf(j, [cj](Cls x) { return x == cj; });
            }
        }
        if (end == 0) {
            // \s+(?!\S) backtracks to leave the last space before a non-space; else \s+.
            const size_t e = runOf(i, isWs);
            if (e == n || e - i == 1)
                end = e;
            else
                end = e - 1;
        }
        out.push_back(text.substr(at[i], at[end] - at[i]));
        i = end;
    }
}

const std::string& byteToUnicode(uint8_t byte) {
    return alphabet().byteToChar[byte];
}

int byteFromUnicode(char32_t cp) {
    return cp < 512 ? alphabet().charToByte[cp] : -1;
}

std::string toByteLevel(std::string_view raw) {
    std::string out;
    out.reserve(raw.size() * 2);
    for (const char c : raw)
        out += byteToUnicode(static_cast<uint8_t>(c));
    return out;
}

} // namespace brillm::bpe
