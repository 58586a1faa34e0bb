// SPDX-License-Identifier: GPL-3.0-or-later
// --shard-edges through the brillm executable: two ranks as processes (--nproc-per-node 2),
// merge-shards, and a command opening the shard directory directly; the 2-D layout (--shards).
#include "brillm/io/model_file.h"
#include "brillm/training/shard.h"
#include "training_test_util.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <tuple>

namespace fs = std::filesystem;
using namespace brillm;
using namespace brillm::training;

namespace {

class ShardingCliTest : public ::testing::Test {
protected:
    void SetUp() override {
        m_dir = fs::temp_directory_path() / ("brillm-shard-cli-" + std::to_string(::getpid()));
        fs::remove_all(m_dir);
        fs::create_directories(m_dir);
        test_util::writeToyCorpus(m_dir / "corpus.txt");
    }
    void TearDown() override { fs::remove_all(m_dir); }
    // Runs brillm with `args`; returns its exit status, standard output and standard error.
    std::tuple<int, std::string, std::string> sh(const std::string& args) const {
        const std::string cmd = std::string(BRILLM_CLI) + " " + args + " > " + (m_dir / "out.txt").string() + " 2> " +
                                (m_dir / "err.txt").string();
        const int rc = std::system(cmd.c_str());
        const auto read = [](const fs::path& p) {
            std::ifstream in(p);
            return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        };
        return {rc, read(m_dir / "out.txt"), read(m_dir / "err.txt")};
    }
    fs::path m_dir;
};

} // namespace

TEST_F(ShardingCliTest, TrainsShardedOnTwoProcessesMergesAndOpensTheShards) {
    const auto run = m_dir / "run";
    auto [rc, out, err] =
        sh("train --nproc-per-node 2 --shard-edges --corpus " + (m_dir / "corpus.txt").string() + " --out " +
           run.string() + " --vocab-size 64 --dim 8 --max-seq-length 12 --steps 3 --batch 4 --threads 1 --quiet");
    ASSERT_EQ(rc, 0) << err;
    ASSERT_TRUE(fs::exists(run / "model-shards" / shardFileName(1, 2)));
    std::tie(rc, out, err) = sh("merge-shards --quiet --shards " + (run / "model-shards").string() + " --out " +
                                (m_dir / "merged.brillm").string());
    ASSERT_EQ(rc, 0) << err;
    const auto merged = ModelFile::load((m_dir / "merged.brillm").string());
    const auto direct = mergeShards(run / "model-shards");
    EXPECT_EQ(merged.model.edges, direct.model.edges);
    EXPECT_TRUE(at::equal(merged.model.weights, direct.model.weights));
    EXPECT_TRUE(at::equal(merged.model.nodeBias, direct.model.nodeBias));
    // the shard directory scores like the merged file
    std::tie(rc, out, err) = sh("score --model " + (run / "model-shards").string() + " --text 'the cat sees a tree.'");
    ASSERT_EQ(rc, 0) << err;
    const std::string fromShards = out;
    std::tie(rc, out, err) =
        sh("score --model " + (m_dir / "merged.brillm").string() + " --text 'the cat sees a tree.'");
    ASSERT_EQ(rc, 0) << err;
    EXPECT_FALSE(fromShards.empty());
    EXPECT_EQ(fromShards, out);
}

// --shards 2 on 4 processes: 2 shards x 2 replicas, one set of 2 shard files, the layout in the
// metrics; a shard count that does not divide the ranks is refused, naming both.
TEST_F(ShardingCliTest, TrainsTwoShardsTimesTwoReplicasAndRefusesALayoutThatDoesNotDivide) {
    const auto run = m_dir / "grid";
    const std::string common = " --corpus " + (m_dir / "corpus.txt").string() +
                               " --vocab-size 64 --dim 8 --max-seq-length 12 --steps 2 --batch 4 --threads 1 --quiet";
    auto [rc, out, err] = sh("train --nproc-per-node 4 --shards 2 --out " + run.string() + common);
    ASSERT_EQ(rc, 0) << err;
    EXPECT_EQ(ShardSet::open(run / "model-shards").shards(), 2);
    EXPECT_FALSE(fs::exists(run / "model-shards" / shardFileName(2, 4)));
    const auto steps = test_util::stepRecords(run / "metrics.jsonl");
    ASSERT_EQ(steps.size(), 2u);
    EXPECT_EQ(steps.back().at("replicas"), 2);
    EXPECT_EQ(steps.back().at("ranks").size(), 4u);
    std::tie(rc, out, err) = sh("train --nproc-per-node 2 --shards 3 --out " + (m_dir / "bad").string() + common);
    EXPECT_NE(rc, 0);
    EXPECT_NE(err.find("--shards 3 does not divide the 2 ranks"), std::string::npos) << err;
}

// --shard-balance work implies --shard-edges and is kept in the run's config; a value it does not
// know is refused, naming the accepted ones.
TEST_F(ShardingCliTest, ShardBalanceWorkTrainsAndAnUnknownBalanceIsRefused) {
    const auto run = m_dir / "work";
    const std::string common = " --corpus " + (m_dir / "corpus.txt").string() +
                               " --vocab-size 64 --dim 8 --max-seq-length 12 --steps 2 --batch 4 --threads 1";
    auto [rc, out, err] = sh("train --nproc-per-node 2 --shard-balance work --out " + run.string() + common);
    ASSERT_EQ(rc, 0) << err;
    EXPECT_NE((out + err).find("shards by work: own slots "), std::string::npos) << out << err;
    EXPECT_EQ(ShardSet::open(run / "model-shards").shards(), 2);
    std::ifstream config(run / "config.json");
    const std::string text((std::istreambuf_iterator<char>(config)), std::istreambuf_iterator<char>());
    EXPECT_NE(text.find("\"shard_balance\": \"work\""), std::string::npos) << text;
    // resumed on 3 ranks with another thread count: re-partitioned by work
    std::tie(rc, out, err) = sh("train --nproc-per-node 3 --resume " + run.string() + " --steps 3 --threads 1");
    ASSERT_EQ(rc, 0) << err;
    EXPECT_NE((out + err).find("continued by 3"), std::string::npos) << out << err;
    EXPECT_NE((out + err).find("shards by work: own slots "), std::string::npos) << out << err;
    std::tie(rc, out, err) = sh("train --shard-balance speed --out " + (m_dir / "bad").string() + common);
    EXPECT_NE(rc, 0);
    EXPECT_NE(err.find("memory"), std::string::npos) << err;
    EXPECT_FALSE(fs::exists(m_dir / "bad"));
}
