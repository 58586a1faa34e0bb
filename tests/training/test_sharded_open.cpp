// SPDX-License-Identifier: GPL-3.0-or-later
// Opening a sharded model (brillm/io/sharded_model.h): the shards' weight rows mapped at their
// global slots equal the merged model bit for bit (1, 2, 3 shards, a shard without rows, f32 and
// bf16, matrices of a page, half a page and a sixteenth), decode over them like the one-file model,
// are backed by the shard files (not copied), old unaligned shards fall back to merging with the
// reason, a missing or truncated shard is named; and every CLI command opens a shard directory.
#include "brillm/error.h"
#include "brillm/io/model_file.h"
#include "brillm/io/sharded_model.h"
#include "brillm/model/decode.h"
#include "brillm/training/shard.h"
#include "run_command.h"
#include "training_test_util.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <tuple>

namespace fs = std::filesystem;
using namespace brillm;
using brillm::test::runCommand;
using brillm::test::shellQuote;

namespace {

Model randomModel(int64_t V, int64_t d, at::ScalarType dtype, uint32_t seed) {
    ModelConfig c;
    c.vocabSize = V;
    c.dim = d;
    c.maxPositions = 16;
    Model m = Model::randomInit(c, training::test_util::unevenRandomTable(V, 0.2, seed), seed, dtype);
    m.positions = at::rand({1, c.maxPositions, 1}).to(dtype); // not all ones: the mix is exercised
    return m;
}

// The plan of `parts` balanced parts, or with `emptyFirst` a first part of no sources.
ShardPlan planOf(const EdgeTable& edges, int parts, bool emptyFirst) {
    if (!emptyFirst) return ShardPlan::balanced(edges, parts);
    ShardPlan p = ShardPlan::balanced(edges, parts - 1);
    p.sourceBegin.insert(p.sourceBegin.begin(), 0);
    p.slotBegin.insert(p.slotBegin.begin(), 0);
    return p;
}

// Writes `full` as the shards of `plan` into dir (as the trainer does).
void writeShards(const fs::path& dir, const Model& full, const ShardPlan& plan) {
    fs::create_directories(dir);
    for (int r = 0; r < plan.parts(); ++r)
        training::saveShard(dir, r, plan, training::shardModel(full, plan.begin(r), plan.end(r)), ModelMetadata{},
                            nullptr);
    training::writeShardManifest(dir, plan, full.edges, full.dim());
}

bool sameTensor(const at::Tensor& a, const at::Tensor& b) {
    return a.sizes() == b.sizes() && at::equal(a.to(at::kFloat), b.to(at::kFloat));
}

void expectSameModel(const Model& a, const Model& b) {
    EXPECT_EQ(a.edges, b.edges);
    EXPECT_TRUE(sameTensor(a.weights, b.weights));
    EXPECT_TRUE(sameTensor(a.biases, b.biases));
    EXPECT_TRUE(sameTensor(a.nodeBias, b.nodeBias));
    EXPECT_TRUE(sameTensor(a.positions, b.positions));
}

// Bytes of [from, to) covered by mappings of files whose name ends with `suffix`, from /proc/self/smaps.
uint64_t fileBackedBytes(const void* from, uint64_t size, const std::string& suffix) {
    std::ifstream in("/proc/self/maps");
    const auto lo = reinterpret_cast<uintptr_t>(from), hi = lo + size;
    uint64_t covered = 0;
    std::string line;
    while (std::getline(in, line)) {
        std::istringstream ls(line);
        std::string range, perms, offset, dev, inode, path;
        ls >> range >> perms >> offset >> dev >> inode >> path;
        const auto dash = range.find('-');
        const uintptr_t a = std::stoull(range.substr(0, dash), nullptr, 16),
                        b = std::stoull(range.substr(dash + 1), nullptr, 16);
        if (b <= lo || a >= hi) continue;
        if (path.size() >= suffix.size() && path.compare(path.size() - suffix.size(), suffix.size(), suffix) == 0)
            covered += std::min(b, hi) - std::max(a, lo);
    }
    return covered;
}

class ShardedOpenTest : public ::testing::Test {
protected:
    void SetUp() override {
        m_dir = fs::temp_directory_path() / ("brillm-sharded-open-" + std::to_string(::getpid()));
        fs::remove_all(m_dir);
        fs::create_directories(m_dir);
    }
    void TearDown() override { fs::remove_all(m_dir); }
    fs::path m_dir;
};

} // namespace

TEST_F(ShardedOpenTest, MappedEqualsMergedBitForBitAndDecodesTheSame) {
    // f32 d=32: a matrix is one page; bf16 d=32: half a page; f32 d=8: a sixteenth (rows share pages)
    for (const auto& [dtype, d] : {std::pair{at::kFloat, int64_t{32}}, std::pair{at::kBFloat16, int64_t{32}},
                                   std::pair{at::kFloat, int64_t{8}}}) {
        const Model full = randomModel(48, d, dtype, 7);
        const fs::path one = m_dir / "one.brillm";
        ModelFile::save(one.string(), full, ModelMetadata{});
        const Model single = ModelFile::load(one.string()).model;
        for (const auto& [parts, emptyFirst] :
             {std::pair{1, false}, std::pair{2, false}, std::pair{3, false}, std::pair{3, true}}) {
            SCOPED_TRACE(std::string(c10::toString(dtype)) + " d=" + std::to_string(d) + ", " + std::to_string(parts) +
                         " shards" + (emptyFirst ? " (the first without rows)" : ""));
            const fs::path dir = m_dir / ("shards-" + std::to_string(parts) + (emptyFirst ? "e" : ""));
            fs::remove_all(dir);
            writeShards(dir, full, planOf(full.edges, parts, emptyFirst));
            const auto set = ShardSet::open(dir);
            ASSERT_EQ(set.shards(), parts);
            EXPECT_EQ(set.mappingProblem(), "");
            const LoadedModel opened = openShardedModel(dir);
            EXPECT_EQ(opened.shards, parts);
            EXPECT_EQ(opened.mergedBecause, "");
            EXPECT_EQ(opened.model.dtype(), dtype); // as stored, no float32 copy
            const Model merged = set.merged();
            expectSameModel(opened.model, merged);
            expectSameModel(opened.model, full);
            // decoding and tracing over the mapped rows: the tokens and energies of the one-file model
            DecodeOptions o;
            o.maxNewTokens = 10;
            const std::vector<int32_t> prompt{5, 0, 17};
            const Trace a = decode(opened.model, prompt, o), b = decode(single, prompt, o);
            EXPECT_EQ(a.tokens, b.tokens);
            ASSERT_EQ(a.steps.size(), b.steps.size());
            for (size_t k = 0; k < a.steps.size(); ++k) {
                EXPECT_EQ(a.steps[k].energy, b.steps[k].energy) << "step " << k;
                EXPECT_EQ(a.steps[k].output, b.steps[k].output) << "step " << k;
            }
            if (dtype == at::kFloat) {
                const Trace c = tracePath(opened.model, a.tokens), m = tracePath(merged, a.tokens);
                ASSERT_EQ(c.steps.size(), m.steps.size());
                for (size_t k = 0; k < c.steps.size(); ++k)
                    EXPECT_EQ(c.steps[k].energy, m.steps[k].energy) << "step " << k;
            }
        }
    }
}

#ifdef __linux__
TEST_F(ShardedOpenTest, TheWeightsAreTheShardFilesPagesNotACopy) {
    const Model full = randomModel(64, 32, at::kFloat, 3); // f32 d=32: one page per matrix
    const fs::path dir = m_dir / "shards";
    writeShards(dir, full, ShardPlan::balanced(full.edges, 3));
    const LoadedModel opened = openShardedModel(dir);
    ASSERT_EQ(opened.mergedBecause, "");
    const auto& w = opened.model.weights;
    const uint64_t bytes = static_cast<uint64_t>(w.numel() * w.element_size());
    const uint64_t page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
    // every page but the shared slot's and at most two per shard (shared with a neighbour) comes
    // from a shard file
    const uint64_t backed = fileBackedBytes(w.data_ptr(), bytes, ".brillm");
    EXPECT_GE(backed + (1 + 2 * 3) * page, bytes) << backed << " of " << bytes << " bytes file-backed";
    EXPECT_GT(backed, bytes / 2);
    // the merged model is a copy: none of its weights is file-backed
    const Model merged = ShardSet::open(dir).merged();
    EXPECT_EQ(fileBackedBytes(merged.weights.data_ptr(),
                              static_cast<uint64_t>(merged.weights.numel() * merged.weights.element_size()), ".brillm"),
              0u);
    // writes through the tensor stay private (copy-on-write), the file is unchanged
    const float before = full.weights[5][0][0].item<float>();
    opened.model.weights[5][0][0] = 42.0f;
    EXPECT_EQ(ShardSet::open(dir).merged().weights[5][0][0].item<float>(), before);
}
#endif

TEST_F(ShardedOpenTest, UnalignedShardsAreMergedInMemoryAndSaySo) {
    const Model full = randomModel(40, 32, at::kFloat, 5);
    const fs::path dir = m_dir / "old";
    fs::create_directories(dir);
    const ShardPlan plan = ShardPlan::balanced(full.edges, 2);
    for (int r = 0; r < 2; ++r) {
        // as a writer that does not align the rows would place them: off by 8 bytes
        const uint64_t matrix = 32 * 32 * 4;
        ModelSaveOptions o;
        o.weightsPageOffset =
            (static_cast<uint64_t>(plan.slotBegin[static_cast<size_t>(r)]) * matrix + 8) % kModelFilePageSize;
        ModelFile::save((dir / shardFileName(r, 2)).string(), training::shardModel(full, plan.begin(r), plan.end(r)),
                        ModelMetadata{}, o);
    }
    training::writeShardManifest(dir, plan, full.edges, full.dim());
    const auto set = ShardSet::open(dir);
    const std::string problem = set.mappingProblem();
    EXPECT_NE(problem.find(shardFileName(0, 2)), std::string::npos) << problem;
    EXPECT_NE(problem.find("page offset"), std::string::npos) << problem;
    EXPECT_THROW((void)set.mapped(), CheckpointError);
    const LoadedModel opened = openShardedModel(dir);
    EXPECT_EQ(opened.mergedBecause, problem);
    expectSameModel(opened.model, full);
    // the CLI says so once, and still works
    const auto r = runCommand(std::string(BRILLM_CLI) + " generate --model " + shellQuote(dir.string()) +
                              " --prompt-ids 3,4 --max-new-tokens 3");
    EXPECT_EQ(r.code, 0) << r.out;
    EXPECT_NE(r.out.find("merged in memory, not mapped"), std::string::npos) << r.out;
    const auto info = runCommand(std::string(BRILLM_CLI) + " info " + shellQuote(dir.string()));
    EXPECT_EQ(info.code, 0) << info.out;
    EXPECT_NE(info.out.find("sharded      2 shards, merged in memory ("), std::string::npos) << info.out;
}

TEST_F(ShardedOpenTest, AMissingOrTruncatedShardIsNamed) {
    const Model full = randomModel(40, 8, at::kFloat, 9);
    const fs::path dir = m_dir / "shards";
    writeShards(dir, full, ShardPlan::balanced(full.edges, 3));
    const fs::path victim = dir / shardFileName(1, 3);
    const auto size = fs::file_size(victim);
    fs::resize_file(victim, size / 2);
    try {
        (void)openShardedModel(dir);
        ADD_FAILURE() << "a truncated shard opened";
    } catch (const CheckpointError& e) {
        EXPECT_NE(std::string(e.what()).find(victim.string()), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("truncated"), std::string::npos) << e.what();
    }
    fs::remove(victim);
    try {
        (void)openShardedModel(dir);
        ADD_FAILURE() << "a missing shard opened";
    } catch (const CheckpointError& e) {
        EXPECT_NE(std::string(e.what()).find(victim.string()), std::string::npos) << e.what();
    }
    const auto r = runCommand(std::string(BRILLM_CLI) + " info " + shellQuote(dir.string()));
    EXPECT_NE(r.code, 0);
    EXPECT_NE(r.out.find(shardFileName(1, 3)), std::string::npos) << r.out;
}

TEST_F(ShardedOpenTest, AManifestThatLiesIsRefusedNamingIt) {
    // shards.json is read before the shards: every field it gives is checked against them, and a
    // huge vocabulary is refused before anything of its size is allocated
    const Model full = randomModel(40, 8, at::kFloat, 10);
    const fs::path dir = m_dir / "shards";
    writeShards(dir, full, ShardPlan::balanced(full.edges, 2));
    const fs::path manifest = dir / "shards.json";
    std::string original;
    {
        std::ifstream in(manifest);
        original.assign(std::istreambuf_iterator<char>(in), {});
    }
    const auto withField = [&](const std::string& key, const std::string& value) {
        auto j = nlohmann::json::parse(original);
        j[key] = nlohmann::json::parse(value);
        if (key == "vocab_size") j["files"].back()["source_end"] = j[key]; // the last shard claims to reach it
        std::ofstream(manifest, std::ios::trunc) << j.dump();
    };
    for (const auto& [key, value] : std::vector<std::pair<std::string, std::string>>{{"vocab_size", "1000000000000000"},
                                                                                     {"vocab_size", "41"},
                                                                                     {"num_slots", "3"},
                                                                                     {"format", "\"something-else\""},
                                                                                     {"shards", "5"},
                                                                                     {"files", "[]"}}) {
        withField(key, value);
        try {
            (void)openShardedModel(dir);
            ADD_FAILURE() << key << " = " << value << " opened";
        } catch (const CheckpointError& e) {
            EXPECT_NE(std::string(e.what()).find("shards.json"), std::string::npos) << key << ": " << e.what();
        }
    }
    std::ofstream(manifest, std::ios::trunc) << original;
    EXPECT_NO_THROW((void)openShardedModel(dir));
}

TEST_F(ShardedOpenTest, EveryCommandOpensAShardDirectory) {
    const Model full = randomModel(48, 16, at::kFloat, 11);
    const fs::path dir = m_dir / "shards", one = m_dir / "one.brillm";
    writeShards(dir, full, ShardPlan::balanced(full.edges, 3));
    ModelFile::save(one.string(), full, ModelMetadata{});
    const std::string cli = std::string(BRILLM_CLI) + " ";
    const std::string D = shellQuote(dir.string()), O = shellQuote(one.string());
    auto ok = [&](const std::string& args) {
        const auto r = runCommand(cli + args);
        EXPECT_EQ(r.code, 0) << args << "\n" << r.out;
        return r.out;
    };
    // info: the shards and how they open
    const auto info = ok("info " + D);
    EXPECT_NE(info.find("sharded      3 shards, mapped"), std::string::npos) << info;
    EXPECT_NE(ok("info --json " + D).find("\"opens\": \"mapped\""), std::string::npos);
    // verify: every shard's checksum; a damaged shard fails naming it
    const auto verified = ok("verify " + D);
    EXPECT_NE(verified.find("verified"), std::string::npos) << verified;
    EXPECT_NE(verified.find(shardFileName(2, 3) + ": checksum"), std::string::npos) << verified;
    // generate, score and trace: what the one-file model gives (but the timing line and the path)
    const auto firstLine = [](const std::string& s) { return s.substr(0, s.find('\n')); };
    const auto generated = ok("generate --model " + D + " --prompt-ids 3,9 --max-new-tokens 6");
    EXPECT_EQ(firstLine(generated), firstLine(ok("generate --model " + O + " --prompt-ids 3,9 --max-new-tokens 6")));
    EXPECT_EQ(generated.find("note:"), std::string::npos) << generated; // mapped: nothing to say
    EXPECT_EQ(ok("score --model " + D + " --ids 3,9,4,1"), ok("score --model " + O + " --ids 3,9,4,1"));
    const auto withoutPath = [](std::string s, const fs::path& p) {
        const auto at = s.find(p.string());
        return at == std::string::npos ? s : s.erase(at, p.string().size());
    };
    const auto traced = ok("trace --model " + D + " --prompt-ids 3,9 --max-new-tokens 2");
    EXPECT_NE(traced.find("\"steps\""), std::string::npos) << traced;
    EXPECT_EQ(withoutPath(traced, dir),
              withoutPath(ok("trace --model " + O + " --prompt-ids 3,9 --max-new-tokens 2"), one));
    // blame: the same explanation (but the model's path)
    const std::string blame = " --ids --prompt 3,9 --expect 4,1,7";
    const auto blamed = ok("blame --model " + D + blame);
    EXPECT_FALSE(blamed.empty());
    EXPECT_EQ(withoutPath(blamed, dir), withoutPath(ok("blame --model " + O + blame), one));
    // export: one file equal to the model
    ok("export --quiet --model " + D + " --format brillm --out " + shellQuote((m_dir / "exported.brillm").string()));
    expectSameModel(ModelFile::load((m_dir / "exported.brillm").string()).model, full);
    // merge-shards: one file equal to the model, from the mapped shards
    EXPECT_NE(ok("merge-shards --shards " + D + " --out " + shellQuote((m_dir / "merged.brillm").string()))
                  .find("3 shards merged (mapped)"),
              std::string::npos);
    expectSameModel(ModelFile::load((m_dir / "merged.brillm").string()).model, full);
    // patch: new and apply on the directory, the output one file (an own edge of source 0 zeroed)
    const auto p = shellQuote((m_dir / "p.json").string());
    ASSERT_GT(full.edges.rowPtr()[1], 0);
    const std::string edge = "0>" + std::to_string(full.edges.targets()[0]);
    ok("patch new --model " + D + " --ids --zero " + shellQuote(edge) + " --out " + p);
    ok("patch apply --model " + D + " --patch " + p + " --out " + shellQuote((m_dir / "patched.brillm").string()));
    ok("patch apply --model " + O + " --patch " + p + " --out " + shellQuote((m_dir / "patched1.brillm").string()));
    expectSameModel(ModelFile::load((m_dir / "patched.brillm").string()).model,
                    ModelFile::load((m_dir / "patched1.brillm").string()).model);
    // verify fails on a damaged shard (a weight changed in place) and names it
    {
        const fs::path victim = dir / shardFileName(2, 3);
        std::fstream f(victim, std::ios::in | std::ios::out | std::ios::binary);
        f.seekp(static_cast<std::streamoff>(fs::file_size(victim) / 2));
        f.write("\x01\x02\x03\x04", 4);
    }
    const auto bad = runCommand(cli + "verify " + D);
    EXPECT_EQ(bad.code, 1) << bad.out;
    EXPECT_NE(bad.out.find("FAIL " + shardFileName(2, 3)), std::string::npos) << bad.out;
}
