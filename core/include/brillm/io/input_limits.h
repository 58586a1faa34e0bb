// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Bounds on what the program reads from files given to it, so that a hostile or careless input
// fails with a message instead of a hang, a stack overflow or an output of hundreds of MB.
//
// - Only regular files are read as models, checkpoints, vocabularies, tokenizers, patches and
//   run files: a FIFO (or a device) would block the open or the read forever. The check is
//   fstat on the one descriptor that is then read, opened with O_NONBLOCK so that opening a
//   FIFO returns at once.
// - JSON nests at most kMaxJsonDepth levels: nlohmann's DOM, dump() and every recursive walk
//   over it use the C++ stack per level (100 000 levels overflowed it). The check is a linear
//   pre-scan of the bracket depth, outside strings.

#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>

namespace brillm {

inline constexpr size_t kMaxJsonDepth = 128;
// A JSON file read whole (tokenizer.json, a node dictionary, a frequency table, a patch file):
// the largest real ones are a few tens of MB.
inline constexpr size_t kMaxJsonFileBytes = size_t{1} << 30;

// "" when `text` nests at most maxDepth arrays/objects; otherwise what is wrong, e.g.
// "JSON nests deeper than 128 levels (at byte 129)". Malformed JSON passes (the parser reports it).
std::string jsonDepthProblem(std::string_view text, size_t maxDepth = kMaxJsonDepth);

// Opens path read-only (O_CLOEXEC) if it is a regular file; returns the descriptor, or -1 with
// `error` set ("cannot open 'P': ...", "'P' is not a regular file (a FIFO)"). Never blocks.
int openRegularFile(const std::string& path, std::string& error);

// Reads a whole regular file of at most maxBytes into out; false with `error` set otherwise.
bool readRegularFile(const std::filesystem::path& path, std::string& out, std::string& error,
                     size_t maxBytes = kMaxJsonFileBytes);

} // namespace brillm
