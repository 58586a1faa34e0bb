// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Private helpers for the JSON files the tokenizer and corpus code read and write.

#include <nlohmann/json.hpp>

#include <filesystem>
#include <string>
#include <string_view>

namespace brillm::detail {

// "FILE:LINE:COLUMN (byte N): what" for a nlohmann parse error at byte offset `byte`.
std::string jsonPosition(const std::string& file, std::string_view text, size_t byte);
// A message for any nlohmann exception raised while parsing `text` from `file`.
std::string describeJsonError(const std::string& file, std::string_view text, const nlohmann::json::exception& e);

// Reads a whole file as bytes; throws the given error type's message via the returned bool.
bool readWholeFile(const std::filesystem::path& path, std::string& out);

} // namespace brillm::detail
