// SPDX-License-Identifier: GPL-3.0-or-later
#include "brillm/text/unicode.h"

#include "brillm/error.h"

#include <unicode/bytestream.h>
#include <unicode/edits.h>
#include <unicode/normalizer2.h>
#include <unicode/stringpiece.h>
#include <unicode/uchar.h>

#include <array>
#include <cstdio>

namespace brillm::unicode {
namespace {

// Length of the valid sequence at text[i], or 0 with badLength = bytes of the maximal
// ill-formed prefix (Unicode table 3-7, the rule Rust's from_utf8_lossy follows).
size_t validSequenceAt(std::string_view text, size_t i, size_t& badLength) {
    const auto byte = [&](size_t k) -> int {
        return i + k < text.size() ? static_cast<unsigned char>(text[i + k]) : -1;
    };
    const auto cont = [](int b) { return b >= 0x80 && b <= 0xBF; };
    const int b0 = byte(0);
    if (b0 < 0x80) return 1;
    badLength = 1;
    if (b0 >= 0xC2 && b0 <= 0xDF) return cont(byte(1)) ? 2 : 0;
    if (b0 >= 0xE0 && b0 <= 0xEF) {
        const int b1 = byte(1);
        const bool ok1 = b0 == 0xE0 ? (b1 >= 0xA0 && b1 <= 0xBF) : b0 == 0xED ? (b1 >= 0x80 && b1 <= 0x9F) : cont(b1);
        if (!ok1) return 0;
        badLength = 2;
        return cont(byte(2)) ? 3 : 0;
    }
    if (b0 >= 0xF0 && b0 <= 0xF4) {
        const int b1 = byte(1);
        const bool ok1 = b0 == 0xF0 ? (b1 >= 0x90 && b1 <= 0xBF) : b0 == 0xF4 ? (b1 >= 0x80 && b1 <= 0x8F) : cont(b1);
        if (!ok1) return 0;
        badLength = 2;
        if (!cont(byte(2))) return 0;
        badLength = 3;
        return cont(byte(3)) ? 4 : 0;
    }
    return 0;
}

const icu::Normalizer2& normalizer(NormalForm form) {
    UErrorCode status = U_ZERO_ERROR;
    const icu::Normalizer2* n = nullptr;
    switch (form) {
    case NormalForm::Nfc:
        n = icu::Normalizer2::getNFCInstance(status);
        break;
    case NormalForm::Nfd:
        n = icu::Normalizer2::getNFDInstance(status);
        break;
    case NormalForm::Nfkc:
        n = icu::Normalizer2::getNFKCInstance(status);
        break;
    case NormalForm::Nfkd:
        n = icu::Normalizer2::getNFKDInstance(status);
        break;
    case NormalForm::None:
        break;
    }
    if (U_FAILURE(status) || n == nullptr)
        throw Error(std::string("ICU normaliser unavailable: ") + u_errorName(status));
    return *n;
}

bool isAscii(std::string_view text) {
    for (char c : text)
        if (static_cast<unsigned char>(c) >= 0x80) return false;
    return true;
}

void requireValid(std::string_view text) {
    const size_t bad = findInvalidUtf8(text);
    if (bad != kValid) throw InputError("invalid UTF-8 at byte " + std::to_string(bad));
}

// Category bits for ASCII, so the hot path of the pre-tokenizer never calls ICU.
enum : uint8_t { kWs = 1, kL = 2, kN = 4, kW = 8, kCc = 16 };
constexpr std::array<uint8_t, 128> makeAsciiTable() {
    std::array<uint8_t, 128> t{};
    for (int c = 0; c < 128; ++c) {
        uint8_t v = 0;
        if ((c >= 9 && c <= 13) || c == 32) v |= kWs;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) v |= kL | kW;
        if (c >= '0' && c <= '9') v |= kN | kW;
        if (c == '_') v |= kW;
        if (c < 32 || c == 127) v |= kCc;
        t[static_cast<size_t>(c)] = v;
    }
    return t;
}
constexpr auto kAscii = makeAsciiTable();

} // namespace

size_t findInvalidUtf8(std::string_view text) {
    size_t i = 0;
    while (i < text.size()) {
        // ASCII runs dominate real text: skip 8 bytes at a time.
        while (i + 8 <= text.size()) {
            uint64_t word = 0;
            for (size_t k = 0; k < 8; ++k)
                word |= static_cast<uint64_t>(static_cast<unsigned char>(text[i + k])) << (8 * k);
            if (word & 0x8080808080808080ULL) break;
            i += 8;
        }
        if (i >= text.size()) break;
        size_t bad = 0;
        const size_t n = validSequenceAt(text, i, bad);
        if (n == 0) return i;
        i += n;
    }
    return kValid;
}

char32_t decodeNext(std::string_view text, size_t& pos) {
    const auto b = [&](size_t k) { return static_cast<char32_t>(static_cast<unsigned char>(text[pos + k])); };
    const char32_t b0 = b(0);
    char32_t cp;
    size_t n;
    if (b0 < 0x80) {
        cp = b0;
        n = 1;
    } else if (b0 < 0xE0) {
        cp = ((b0 & 0x1F) << 6) | (b(1) & 0x3F);
        n = 2;
    } else if (b0 < 0xF0) {
        cp = ((b0 & 0x0F) << 12) | ((b(1) & 0x3F) << 6) | (b(2) & 0x3F);
        n = 3;
    } else {
        cp = ((b0 & 0x07) << 18) | ((b(1) & 0x3F) << 12) | ((b(2) & 0x3F) << 6) | (b(3) & 0x3F);
        n = 4;
    }
    pos += n;
    return cp;
}

void appendUtf8(std::string& out, char32_t cp) {
    if (cp < 0x80) {
        out.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
        out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
        out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
        out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
}

std::string fromUtf8Lossy(std::string_view bytes) {
    std::string out;
    out.reserve(bytes.size());
    size_t i = 0;
    while (i < bytes.size()) {
        size_t bad = 0;
        const size_t n = validSequenceAt(bytes, i, bad);
        if (n == 0) {
            out += "\xEF\xBF\xBD";
            i += bad;
        } else {
            out.append(bytes.substr(i, n));
            i += n;
        }
    }
    return out;
}

bool isWhiteSpace(char32_t cp) {
    if (cp < 128) return kAscii[cp] & kWs;
    return u_isUWhiteSpace(static_cast<UChar32>(cp));
}

bool isLetter(char32_t cp) {
    if (cp < 128) return kAscii[cp] & kL;
    return (U_GET_GC_MASK(static_cast<UChar32>(cp)) & U_GC_L_MASK) != 0;
}

bool isNumber(char32_t cp) {
    if (cp < 128) return kAscii[cp] & kN;
    return (U_GET_GC_MASK(static_cast<UChar32>(cp)) & U_GC_N_MASK) != 0;
}

bool isWordChar(char32_t cp) {
    if (cp < 128) return kAscii[cp] & kW;
    const auto c = static_cast<UChar32>(cp);
    return u_hasBinaryProperty(c, UCHAR_ALPHABETIC) ||
           (U_GET_GC_MASK(c) & (U_GC_M_MASK | U_GC_ND_MASK | U_GC_PC_MASK)) != 0 ||
           u_hasBinaryProperty(c, UCHAR_JOIN_CONTROL);
}

bool isControl(char32_t cp) {
    if (cp < 128) return kAscii[cp] & kCc;
    return u_charType(static_cast<UChar32>(cp)) == U_CONTROL_CHAR;
}

NormalForm normalFormFromName(std::string_view name) {
    if (name == "NFC") return NormalForm::Nfc;
    if (name == "NFD") return NormalForm::Nfd;
    if (name == "NFKC") return NormalForm::Nfkc;
    if (name == "NFKD") return NormalForm::Nfkd;
    throw TokenizerError("unsupported normalizer '" + std::string(name) + "' (expected NFC, NFD, NFKC or NFKD)");
}

std::string normalize(std::string_view text, NormalForm form) {
    if (form == NormalForm::None || isAscii(text)) return std::string(text);
    requireValid(text);
    std::string out;
    out.reserve(text.size() + text.size() / 8);
    icu::StringByteSink<std::string> sink(&out);
    UErrorCode status = U_ZERO_ERROR;
    normalizer(form).normalizeUTF8(0, icu::StringPiece(text.data(), static_cast<int32_t>(text.size())), sink, nullptr,
                                   status);
    if (U_FAILURE(status)) throw InputError(std::string("Unicode normalisation failed: ") + u_errorName(status));
    return out;
}

NormalizedText normalizeWithOffsets(std::string_view text, NormalForm form) {
    NormalizedText r;
    const auto identity = [&] {
        r.text = std::string(text);
        r.sourceBegin.resize(text.size());
        r.sourceEnd.resize(text.size());
        size_t i = 0;
        while (i < text.size()) {
            const size_t n = std::min(sequenceLength(static_cast<unsigned char>(text[i])), text.size() - i);
            for (size_t k = 0; k < n; ++k) {
                r.sourceBegin[i + k] = static_cast<uint32_t>(i);
                r.sourceEnd[i + k] = static_cast<uint32_t>(i + n);
            }
            i += n;
        }
    };
    if (form == NormalForm::None || isAscii(text)) {
        identity();
        return r;
    }
    requireValid(text);
    icu::Edits edits;
    icu::StringByteSink<std::string> sink(&r.text);
    UErrorCode status = U_ZERO_ERROR;
    normalizer(form).normalizeUTF8(0, icu::StringPiece(text.data(), static_cast<int32_t>(text.size())), sink, &edits,
                                   status);
    if (U_FAILURE(status)) throw InputError(std::string("Unicode normalisation failed: ") + u_errorName(status));
    r.sourceBegin.resize(r.text.size());
    r.sourceEnd.resize(r.text.size());
    auto it = edits.getFineIterator();
    while (it.next(status)) {
        const auto src = static_cast<uint32_t>(it.sourceIndex());
        const auto dst = static_cast<size_t>(it.destinationIndex());
        const auto oldLen = static_cast<uint32_t>(it.oldLength());
        const auto newLen = static_cast<size_t>(it.newLength());
        if (!it.hasChange()) {
            // Unchanged text: per-character identity.
            size_t k = 0;
            while (k < newLen) {
                const size_t n = sequenceLength(static_cast<unsigned char>(r.text[dst + k]));
                for (size_t j = 0; j < n; ++j) {
                    r.sourceBegin[dst + k + j] = src + static_cast<uint32_t>(k);
                    r.sourceEnd[dst + k + j] = src + static_cast<uint32_t>(k + n);
                }
                k += n;
            }
        } else {
            for (size_t k = 0; k < newLen; ++k) {
                r.sourceBegin[dst + k] = src;
                r.sourceEnd[dst + k] = src + oldLen;
            }
        }
    }
    if (U_FAILURE(status)) throw InputError(std::string("Unicode normalisation failed: ") + u_errorName(status));
    return r;
}

std::string codePointName(char32_t cp) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "U+%04X", static_cast<unsigned>(cp));
    return buf;
}

} // namespace brillm::unicode
