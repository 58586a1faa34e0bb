// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// The HuggingFace ByteLevel pre-tokenizer, shared by ByteLevelBpeTokenizer and BpeTrainer:
// the GPT-2 split regex
//   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
// evaluated by hand over code points (first matching alternative wins, as in Oniguruma),
// and the GPT-2 byte-to-unicode alphabet. Pure functions; thread-safe.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace brillm::bpe {

// Splits valid UTF-8 text into the regex's consecutive matches (they cover the text).
// Appends views into `text` to out.
void splitGpt2(std::string_view text, std::vector<std::string_view>& out);

// The printable stand-in of a byte (e.g. ' ' -> "Ġ", '\n' -> "Ċ"), as UTF-8.
const std::string& byteToUnicode(uint8_t byte);
// The byte a stand-in code point denotes, or -1 when cp is not in the alphabet.
int byteFromUnicode(char32_t cp);
// Maps every byte of raw to its stand-in.
std::string toByteLevel(std::string_view raw);

} // namespace brillm::bpe
