// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Shared helpers of the checkpoint tests: a scratch directory, the committed fixtures, byte
// files, and a matcher for error messages.

#include "brillm/model/edge_table.h"
#include "brillm/model/model.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <cstddef>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <unistd.h>

namespace brillm::test {

inline std::filesystem::path fixtureDir() {
    return std::filesystem::path(BRILLM_SOURCE_DIR) / "tests" / "fixtures" / "checkpoint";
}
inline std::string fixture(const std::string& name) {
    return (fixtureDir() / name).string();
}

inline nlohmann::json expectedValues() {
    std::ifstream in(fixtureDir() / "expected.json");
    return nlohmann::json::parse(in);
}

// A fresh directory per test, removed afterwards.
class ScratchDir {
public:
    ScratchDir() {
        static std::atomic<int> counter{0};
        m_path = std::filesystem::temp_directory_path() /
                 ("brillm-ckpt-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
        std::filesystem::remove_all(m_path);
        std::filesystem::create_directories(m_path);
    }
    ~ScratchDir() {
        std::error_code ec;
        std::filesystem::remove_all(m_path, ec);
    }
    std::string file(const std::string& name) const { return (m_path / name).string(); }
    const std::filesystem::path& path() const { return m_path; }
    size_t entries() const {
        return static_cast<size_t>(std::distance(std::filesystem::directory_iterator(m_path), {}));
    }

private:
    std::filesystem::path m_path;
};

// Every element of a tensor as a double, for number-by-number comparisons.
inline std::vector<double> values(const at::Tensor& t) {
    const at::Tensor d = t.to(at::kDouble).contiguous();
    return {d.data_ptr<double>(), d.data_ptr<double>() + d.numel()};
}

inline std::vector<std::byte> readBytes(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::vector<char> c((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::vector<std::byte> out(c.size());
    for (size_t i = 0; i < c.size(); ++i)
        out[i] = static_cast<std::byte>(c[i]);
    return out;
}

inline void writeBytes(const std::string& path, const std::vector<std::byte>& bytes) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

inline void writeText(const std::string& path, const std::string& text) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << text;
}

// Runs f, expects an exception of type E whose message contains every fragment.
template <class E, class F> void expectError(F&& f, std::initializer_list<std::string> fragments) {
    try {
        f();
        ADD_FAILURE() << "no exception; expected one mentioning '" << *fragments.begin() << "'";
    } catch (const E& e) {
        const std::string msg = e.what();
        for (const auto& frag : fragments)
            EXPECT_NE(msg.find(frag), std::string::npos) << "message: " << msg << "\nlacks: " << frag;
    }
}

// A small model with a few own edges: V = 6, d = 3, P = 7.
inline Model smallModel(at::ScalarType dtype = at::kFloat, uint64_t seed = 7) {
    const std::vector<std::pair<int32_t, int32_t>> pairs = {{0, 1}, {1, 2}, {2, 3}, {3, 3}, {5, 0}, {5, 4}, {2, 5}};
    ModelConfig c;
    c.vocabSize = 6;
    c.dim = 3;
    c.maxPositions = 7;
    return Model::randomInit(c, EdgeTable::fromPairs(6, pairs), seed, dtype);
}

} // namespace brillm::test
