// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// UTF-8 and Unicode helpers shared by the tokenizers and the corpus tools.
//
// Character classes and normalisation come from ICU, so they follow ICU's Unicode version.
// The classes are the ones the Rust `regex` and Oniguruma engines of HuggingFace tokenizers
// use: \s = White_Space, \p{L} = general category L*, \p{N} = N*, \w = Alphabetic | M* | Nd |
// Pc | Join_Control. All functions are pure and thread-safe.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace brillm::unicode {

inline constexpr size_t kValid = static_cast<size_t>(-1);

// Byte offset of the first ill-formed sequence (overlong forms, surrogates and code points
// above U+10FFFF are ill-formed), or kValid.
size_t findInvalidUtf8(std::string_view text);
inline bool isValidUtf8(std::string_view text) {
    return findInvalidUtf8(text) == kValid;
}

// Decodes the code point at pos and advances pos. The text must be valid UTF-8.
char32_t decodeNext(std::string_view text, size_t& pos);
void appendUtf8(std::string& out, char32_t cp);
// Number of bytes of the UTF-8 sequence starting with this lead byte (1 for invalid leads).
inline size_t sequenceLength(unsigned char lead) {
    return lead < 0xC0 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : lead < 0xF8 ? 4 : 1;
}

// Bytes to text, each maximal ill-formed subsequence replaced by U+FFFD (Rust's
// String::from_utf8_lossy, which the HuggingFace ByteLevel decoder uses).
std::string fromUtf8Lossy(std::string_view bytes);

bool isWhiteSpace(char32_t cp); // \s
bool isLetter(char32_t cp);     // \p{L}
bool isNumber(char32_t cp);     // \p{N}
bool isWordChar(char32_t cp);   // \w
bool isControl(char32_t cp);    // general category Cc

enum class NormalForm { None, Nfc, Nfd, Nfkc, Nfkd };

// Parses "NFC", "NFD", "NFKC", "NFKD" (as HuggingFace names them); throws TokenizerError.
NormalForm normalFormFromName(std::string_view name);

// Normalises valid UTF-8. Throws InputError for ill-formed input.
std::string normalize(std::string_view text, NormalForm form);

// Normalises and also returns, for every byte of the result, the [begin, end) byte range of
// the input it came from (changed spans map as a whole onto their source span).
struct NormalizedText {
    std::string text;
    std::vector<uint32_t> sourceBegin; // [text.size()]
    std::vector<uint32_t> sourceEnd;   // [text.size()]
};
NormalizedText normalizeWithOffsets(std::string_view text, NormalForm form);

// "U+00E9" for messages.
std::string codePointName(char32_t cp);

} // namespace brillm::unicode
