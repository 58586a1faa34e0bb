// SPDX-License-Identifier: GPL-3.0-or-later
// BigramTable (JSON and binary forms, edge tables, parameter report) and BigramCounter.
#include "brillm/error.h"
#include "brillm/text/bigram_counter.h"
#include "brillm/text/bigram_table.h"
#include "brillm/text/tokenizer.h"
#include "brillm/text/tokenizer_char.h"
#include "brillm/text/vocabulary.h"
#include "tokenizer_test_util.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <map>
#include <sstream>

namespace brillm {
namespace {

std::string slurp(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

BigramTable sampleTable() {
    return BigramTable::fromCounts(4, {{0, 1, 3}, {0, 2, 5}, {2, 0, 1}, {0, 1, 2}, {3, 3, 7}, {1, 2, 0}});
}

TEST(BigramTable, SumsDuplicatesAndLooksUp) {
    const auto t = sampleTable();
    EXPECT_EQ(t.vocabSize(), 4);
    EXPECT_EQ(t.numPairs(), 5);
    EXPECT_EQ(t.totalCount(), 18u);
    EXPECT_EQ(t.count(0, 1), 5u);
    EXPECT_EQ(t.count(0, 3), 0u);
    EXPECT_EQ(t.pairsAtLeast(5), 3);
    EXPECT_THROW(BigramTable::fromCounts(4, {{0, 4, 1}}), InputError);
}

TEST(BigramTable, JsonHasTheReferenceShapeAndRoundTrips) {
    const auto nodes = NodeVocabulary::fromTokens({"a", "b", "\"c\"", "中"});
    const auto t = sampleTable();
    const auto j = nlohmann::ordered_json::parse(t.toJson(nodes));
    // Targets most frequent first (ties by node id); sources in node order.
    EXPECT_EQ(j.dump(), R"({"a":{"b":5,"\"c\"":5},"b":{"\"c\"":0},"\"c\"":{"a":1},"中":{"中":7}})");
    // With every unseen pair listed as 0, the reference's rule gives the same edges as ours.
    const auto dense = nlohmann::ordered_json::parse(t.toJson(nodes, /*listZeros=*/true));
    EXPECT_EQ(dense.size(), 4u);
    for (const auto& [src, row] : dense.items())
        EXPECT_EQ(row.size(), 4u) << src;
    EXPECT_EQ(dense["b"].dump(), R"({"\"c\"":0,"a":0,"b":0,"中":0})");
    const auto reread = BigramTable::parseJson(t.toJson(nodes, true), nodes, "dense.json");
    EXPECT_EQ(reread.toReferenceEdgeTable(), t.toEdgeTable(1));
    EXPECT_EQ(reread.toEdgeTable(1), t.toEdgeTable(1));
    test::TempDir dir;
    t.saveJson(dir.path() / "wf.json", nodes);
    EXPECT_EQ(BigramTable::loadJson(dir.path() / "wf.json", nodes), t);
    EXPECT_EQ(BigramTable::load(dir.path() / "wf.json", &nodes), t);
    EXPECT_THROW(BigramTable::load(dir.path() / "wf.json", nullptr), InputError);
}

TEST(BigramTable, JsonErrorsNameFileAndProblem) {
    const auto nodes = NodeVocabulary::fromTokens({"a", "b"});
    const auto err = [&](const std::string& text) {
        try {
            BigramTable::parseJson(text, nodes, "wf.json");
        } catch (const InputError& e) {
            return std::string(e.what());
        }
        return std::string("(no error)");
    };
    EXPECT_NE(err(R"({"a": {"z": 1}})").find("token \"z\" is not in the node vocabulary"), std::string::npos);
    EXPECT_NE(err(R"({"a": {"b": -1}})").find("is a negative number, expected a non-negative integer"),
              std::string::npos);
    EXPECT_NE(err(R"({"a": [1]})").find("the entry of \"a\" is an array, expected an object"), std::string::npos);
    EXPECT_NE(err("{\"a\": {\"b\": 1}\n,,}").find("wf.json:2:2"), std::string::npos) << err("{\"a\": {\"b\": 1}\n,,}");
}

TEST(BigramTable, BinaryRoundTripAndCorruption) {
    test::TempDir dir;
    const auto t = sampleTable();
    const auto p = dir.path() / "wf.bin";
    t.saveBinary(p);
    EXPECT_EQ(BigramTable::loadBinary(p), t);
    EXPECT_EQ(BigramTable::load(p, nullptr), t);
    std::string bytes = slurp(p);
    const auto expectError = [&](std::string data, const std::string& what) {
        const auto q = dir.write("bad.bin", data);
        try {
            BigramTable::loadBinary(q);
            ADD_FAILURE() << "no error, expected " << what;
        } catch (const InputError& e) {
            EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
        }
    };
    std::string flipped = bytes;
    flipped[60] ^= 1;
    expectError(flipped, "checksum mismatch");
    expectError(bytes.substr(0, bytes.size() - 3), "truncated");
    std::string magic = bytes;
    magic[0] = 'X';
    expectError(magic, "expected the magic");
    std::string version = bytes;
    version[8] = 9;
    expectError(version, "version 9 is not supported");
    EXPECT_THROW(BigramTable::loadBinary(dir.path() / "none.bin"), InputError);
}

TEST(BigramTable, EdgeTablesAndTheReferenceRule) {
    const auto t = sampleTable();
    const EdgeTable own1 = t.toEdgeTable(1);
    EXPECT_EQ(own1.numOwn(), 4); // (1,2) has count 0
    EXPECT_TRUE(own1.isShared(1, 2));
    EXPECT_FALSE(own1.isShared(0, 2));
    EXPECT_EQ(t.toEdgeTable(5).numOwn(), 3);
    EXPECT_THROW(t.toEdgeTable(0), InputError);
    // Reference: only the pair listed with 0 is shared; unlisted pairs own slots.
    const EdgeTable ref = t.toReferenceEdgeTable();
    EXPECT_EQ(ref.numOwn(), 16 - 1);
    EXPECT_TRUE(ref.isShared(1, 2));
}

TEST(EdgeParameterReport, DenseGraphOfThePaper) {
    const auto t = BigramTable::fromCounts(4000, {{0, 1, 9}});
    const auto r = edgeParameterReport(t.toEdgeTable(1), 32);
    EXPECT_EQ(r.denseParameters, int64_t{4000} * 4000 * 1056 + 4000 * 32 + 512);
    EXPECT_EQ(r.sparseParameters, 2 * 1056 + 4000 * 32 + 512);
    const std::string text = formatEdgeParameterReport(r);
    EXPECT_NE(text.find("16.90 B"), std::string::npos) << text;
    EXPECT_NE(text.find("own edges            1 of 16000000"), std::string::npos) << text;
}

// Reference count: one thread, no tricks.
std::map<std::pair<int32_t, int32_t>, uint64_t> naiveCounts(const Tokenizer& tok, const std::filesystem::path& file) {
    std::map<std::pair<int32_t, int32_t>, uint64_t> m;
    std::ifstream in(file);
    std::string line;
    while (std::getline(in, line)) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        const auto ids = tok.encodeIds(line);
        for (size_t i = 1; i < ids.size(); ++i)
            ++m[{ids[i - 1], ids[i]}];
    }
    return m;
}

TEST(BigramCounter, MatchesANaiveCountWithOneAndTwoThreads) {
    const auto tok = loadTokenizer(test::fixture("austen_bpe_600.json"));
    const auto corpus = test::fixture("austen_sample.txt");
    const auto want = naiveCounts(*tok, corpus);
    std::optional<BigramTable> first;
    for (const int threads : {1, 2, 3}) {
        BigramCountOptions o;
        o.threads = threads;
        o.chunkBytes = 8192; // many chunks
        uint64_t lastDone = 0;
        o.progress = [&](uint64_t done, uint64_t total) {
            EXPECT_LE(done, total);
            lastDone = done;
            return true;
        };
        const auto r = BigramCounter(*tok, {}, tok->vocabSize(), o).count({corpus});
        EXPECT_EQ(lastDone, std::filesystem::file_size(corpus));
        ASSERT_EQ(r.table.numPairs(), static_cast<int64_t>(want.size()));
        for (const auto& p : r.table.pairs())
            ASSERT_EQ(p.count, (want.at({p.source, p.target})));
        if (first)
            EXPECT_EQ(r.table, *first);
        else
            first = r.table;
    }
}

TEST(BigramCounter, NodeMapEmptyCorpusInvalidUtf8AndCancel) {
    test::TempDir dir;
    const CharTokenizer tok(NodeVocabulary::fromTokens({"<unk>", "a", "b", "c"}));
    const auto f = dir.write("c.txt", "abab\nba\n\nxc\n");
    auto r = BigramCounter(tok, {}, 4).count({f});
    EXPECT_EQ(r.table.count(1, 2), 2u);
    EXPECT_EQ(r.table.count(2, 1), 2u);
    EXPECT_EQ(r.table.count(0, 3), 1u); // x -> <unk>
    EXPECT_EQ(r.table.count(2, 2), 0u); // not across lines
    EXPECT_EQ(r.tokens, 8u);
    // Node map: a and b are one node, c has none (breaks the chain).
    r = BigramCounter(tok, {0, 1, 1, -1}, 2).count({f});
    EXPECT_EQ(r.table.count(1, 1), 4u);
    EXPECT_EQ(r.table.numPairs(), 1);
    EXPECT_THROW(BigramCounter(tok, {0, 1}, 2), InputError);
    EXPECT_THROW(BigramCounter(tok, {}, 3), InputError);
    EXPECT_THROW(BigramCounter(tok, {0, 1, 5, 0}, 2), InputError);

    EXPECT_THROW(BigramCounter(tok, {}, 4).count({dir.write("e.txt", "\n\n")}), InputError);
    const auto bad = dir.write("bad.txt", "ab\nb\xfe\n");
    try {
        BigramCounter(tok, {}, 4).count({bad});
        FAIL();
    } catch (const InputError& e) {
        EXPECT_NE(std::string(e.what()).find(bad.string() + ":2:"), std::string::npos) << e.what();
    }
    BigramCountOptions skip;
    skip.onInvalidUtf8 = InvalidUtf8Policy::Skip;
    r = BigramCounter(tok, {}, 4, skip).count({bad});
    EXPECT_EQ(r.corpus.skippedLines, 1u);
    EXPECT_EQ(r.table.count(1, 2), 1u);
    BigramCountOptions cancel;
    cancel.progress = [](uint64_t, uint64_t) { return false; };
    EXPECT_THROW(BigramCounter(tok, {}, 4, cancel).count({f}), CancelledError);
}

} // namespace
} // namespace brillm
