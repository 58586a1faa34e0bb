// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Test-only helpers shared by the trainer's tests: small corpora and the metrics stream.

#include "brillm/model/edge_table.h"
#include "brillm/training/train_config.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <unistd.h>

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

// A random edge table: each pair owns a slot with probability `density`, three times that for
// every fifth source (uneven rows, as a balanced shard plan must handle).
inline EdgeTable unevenRandomTable(int64_t V, double density, uint32_t seed) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<double> u(0, 1);
    std::vector<std::pair<int32_t, int32_t>> pairs;
    for (int32_t s = 0; s < V; ++s)
        for (int32_t t = 0; t < V; ++t)
            if (u(rng) < density * (s % 5 == 0 ? 3 : 1)) pairs.emplace_back(s, t);
    return EdgeTable::fromPairs(V, pairs);
}

// The first `lines` lines of the bundled English corpus.
inline void writeAustenExcerpt(const std::filesystem::path& file, int lines) {
    std::ifstream in(std::string(BRILLM_SOURCE_DIR) + "/resources/corpora/en_austen.txt");
    std::ofstream out(file);
    std::string line;
    for (int i = 0; i < lines && std::getline(in, line); ++i)
        out << line << '\n';
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

// A fresh scratch folder per test (named after the test and the process), removed afterwards.
class ScratchTest : public ::testing::Test {
protected:
    explicit ScratchTest(std::string prefix) : m_prefix(std::move(prefix)) {}
    void SetUp() override {
        m_dir =
            std::filesystem::temp_directory_path() / (m_prefix + "-" + std::to_string(::getpid()) + "-" +
                                                      ::testing::UnitTest::GetInstance()->current_test_info()->name());
        std::filesystem::remove_all(m_dir);
        std::filesystem::create_directories(m_dir);
    }
    void TearDown() override { std::filesystem::remove_all(m_dir); }
    std::string m_prefix;
    std::filesystem::path m_dir;
};

// A run on the toy corpus (written into the scratch folder) with a character vocabulary:
// the settings the trainer tests share; each fixture adjusts batch, evaluation and threads.
class ToyRunTest : public ScratchTest {
protected:
    explicit ToyRunTest(std::string prefix) : ScratchTest(std::move(prefix)) {}
    void SetUp() override {
        ScratchTest::SetUp();
        writeToyCorpus(m_dir / "corpus.txt");
    }
    TrainConfig toyConfig(int64_t steps) const {
        TrainConfig c;
        c.corpus = {(m_dir / "corpus.txt").string()};
        c.vocabKind = "char";
        c.vocabSize = 64;
        c.dim = 8;
        c.maxSeqLength = 12;
        c.steps = steps;
        c.negatives = 6;
        c.lr = 0.02;
        c.seed = 7;
        return c;
    }
};

} // namespace brillm::training::test_util
