// SPDX-License-Identifier: GPL-3.0-or-later
#include "text/tokenizer_json.h"

#include "brillm/error.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <unistd.h>

namespace brillm::detail {

std::string jsonPosition(const std::string& file, std::string_view text, size_t byte) {
    size_t line = 1, column = 1;
    const size_t end = std::min(byte, text.size());
    for (size_t i = 0; i < end; ++i) {
        if (text[i] == '\n') {
            ++line;
            column = 1;
        } else {
            ++column;
        }
    }
    return file + ":" + std::to_string(line) + ":" + std::to_string(column) + " (byte " + std::to_string(byte) + ")";
}

std::string describeJsonError(const std::string& file, std::string_view text, const nlohmann::json::exception& e) {
    if (const auto* pe = dynamic_cast<const nlohmann::json::parse_error*>(&e)) {
        // nlohmann's byte is 1-based: the position of the offending character.
        const size_t byte = pe->byte > 0 ? pe->byte - 1 : 0;
        std::string what = pe->what();
        if (const auto p = what.find("parse error"); p != std::string::npos) what = what.substr(p);
        return jsonPosition(file, text, byte) + ": malformed JSON: " + what;
    }
    return file + ": unexpected JSON content: " + e.what();
}

bool readWholeFile(const std::filesystem::path& path, std::string& out) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return false;
    std::ostringstream ss;
    ss << in.rdbuf();
    if (in.bad()) return false;
    out = std::move(ss).str();
    return true;
}

} // namespace brillm::detail
