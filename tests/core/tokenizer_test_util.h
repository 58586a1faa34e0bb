// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Helpers shared by the tokenizer and corpus tests: fixture paths, temporary files, escaping.

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <string_view>

namespace brillm::test {

inline std::filesystem::path fixture(const std::string& name) {
    return std::filesystem::path(BRILLM_SOURCE_DIR) / "tests" / "fixtures" / "tokenizer" / name;
}
inline std::filesystem::path shared(const std::string& name) {
    return std::filesystem::path(BRILLM_SHARED_DIR) / name;
}
inline std::filesystem::path releasedBpe() {
    return shared("brillm0.5/wiki_bpe_tokenizer_4000_bytelevel.json");
}
inline std::filesystem::path releasedZhVocab() {
    return shared("brillm0.5/vocab_wiki_4k.json");
}
inline std::filesystem::path releasedEnVocab() {
    return shared("brillm0.5/vocab_wiki_4k_en.json");
}

// A folder removed with its content when the object goes away.
class TempDir {
public:
    TempDir() {
        std::random_device rd;
        m_path =
            std::filesystem::temp_directory_path() / ("brillm-tok-test-" + std::to_string(rd()) + std::to_string(rd()));
        std::filesystem::create_directories(m_path);
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(m_path, ec);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const std::filesystem::path& path() const { return m_path; }
    std::filesystem::path write(const std::string& name, std::string_view content) const {
        const auto p = m_path / name;
        std::ofstream(p, std::ios::binary) << content;
        return p;
    }

private:
    std::filesystem::path m_path;
};

// Printable form of a test string for failure messages.
inline std::string escaped(std::string_view s) {
    std::string out;
    for (const char c : s) {
        const auto u = static_cast<unsigned char>(c);
        if (u == '\\')
            out += "\\\\";
        else if (u == '\n')
            out += "\\n";
        else if (u == '\t')
            out += "\\t";
        else if (u == '\r')
            out += "\\r";
        else if (u < 0x20 || u == 0x7f) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\x%02x", u);
            out += buf;
        } else
            out.push_back(c);
    }
    return out;
}

} // namespace brillm::test
