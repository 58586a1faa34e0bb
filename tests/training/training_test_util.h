// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Test-only helpers shared by the trainer's tests: small corpora and the metrics stream.

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

namespace brillm::training::test_util {

// 300 sentences of a toy grammar (subject verb object): enough structure to learn, fixed seed.
inline void writeToyCorpus(const std::filesystem::path& file) {
    std::mt19937 rng(5);
    const char* subjects[] = {"the cat", "a dog", "my friend", "the old man", "she"};
    const char* verbs[] = {"sees", "likes", "walks to", "finds", "waits for"};
    const char* objects[] = {"the house.", "a tree.", "the river.", "her garden.", "the town."};
    std::ofstream out(file);
    for (int i = 0; i < 300; ++i)
        out << subjects[rng() % 5] << ' ' << verbs[rng() % 5] << ' ' << objects[rng() % 5] << '\n';
}

// The first `lines` lines of the bundled English corpus.
inline void writeAustenExcerpt(const std::filesystem::path& file, int lines) {
    std::ifstream in(std::string(BRILLM_SOURCE_DIR) + "/resources/corpora/en_austen.txt");
    std::ofstream out(file);
    std::string line;
    for (int i = 0; i < lines && std::getline(in, line); ++i) out << line << '\n';
}

// The `step` records of a run's metrics.jsonl (every line must be JSON).
inline std::vector<nlohmann::json> stepRecords(const std::filesystem::path& metrics) {
    std::vector<nlohmann::json> out;
    std::ifstream in(metrics);
    std::string line;
    while (std::getline(in, line)) {
        auto j = nlohmann::json::parse(line);
        if (j.at("type") == "step") out.push_back(std::move(j));
    }
    return out;
}

} // namespace brillm::training::test_util
