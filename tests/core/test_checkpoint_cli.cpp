// SPDX-License-Identifier: GPL-3.0-or-later
// The brillm import / export / info / verify commands, run as a user runs them: exit codes,
// output, and error messages that name the file.
#include "run_command.h"
#include "test_checkpoint_util.h"

#include "brillm/io/model_file.h"
#include "brillm/io/safetensors.h"
#include "brillm/model/blame.h"
#include "brillm/model/model_edit.h"
#include <ATen/ATen.h>

#include <array>
#include <cstdio>
#include <sys/wait.h>

namespace brillm {
namespace {

using nlohmann::json;
using test::fixture;
using test::ScratchDir;

using CliRun = test::CommandResult;

CliRun brillm(const std::string& args) {
    return test::runCommand(test::shellQuote(BRILLM_CLI_PATH) + " " + args);
}

bool contains(const std::string& s, const std::string& part) {
    return s.find(part) != std::string::npos;
}

class CliTest : public ::testing::Test {
protected:
    std::string importPlain(const std::string& name) {
        const std::string out = dir.file(name);
        const CliRun r = brillm("import --state-dict " + fixture("plain.pt") + " --vocab " + fixture("vocab.json") +
                                " --frequency " + fixture("word_frequency.json") + " --out " + out);
        EXPECT_EQ(r.code, 0) << r.out;
        return out;
    }
    ScratchDir dir;
};

// Each launch costs about a second (LibTorch's shared libraries), so the cases are few and full.
TEST_F(CliTest, EveryCommandHasHelp) {
    const CliRun all = brillm("--help");
    for (const char* cmd : {"import", "export", "info", "verify"}) {
        EXPECT_TRUE(contains(all.out, cmd)) << all.out;
        const CliRun r = brillm(std::string(cmd) + " --help");
        EXPECT_EQ(r.code, 0) << cmd;
        EXPECT_TRUE(contains(r.out, "usage: brillm " + std::string(cmd))) << r.out;
    }
}

TEST_F(CliTest, ImportInfoVerifyExport) {
    const std::string model = importPlain("m.brillm");
    CliRun r = brillm("info " + model);
    EXPECT_EQ(r.code, 0) << r.out;
    EXPECT_TRUE(contains(r.out, "V = 5, d = 4, P = 8")) << r.out;
    EXPECT_TRUE(contains(r.out, "17 own of 25 pairs")) << r.out;
    r = brillm("info --json " + model);
    ASSERT_EQ(r.code, 0) << r.out;
    const json j = json::parse(r.out);
    EXPECT_EQ(j["config"]["vocab_size"], 5);
    EXPECT_EQ(j["edges"]["own"], 17);
    EXPECT_EQ(j["dtype"], "F32");
    EXPECT_EQ(j["tokenizer"]["kind"], "char");
    EXPECT_EQ(j["parameters"]["sparse"], 18 * 20 + 5 * 4 + 8);
    EXPECT_EQ(j["parameters"]["dense"], 25 * 20 + 5 * 4 + 8);

    r = brillm("export --model " + model + " --format torch --out " + dir.file("m.pt") + " --vocab-out " +
               dir.file("v.json") + " --frequency-out " + dir.file("f.json"));
    EXPECT_EQ(r.code, 0) << r.out;
    r = brillm("import --state-dict " + dir.file("m.pt") + " --vocab " + dir.file("v.json") + " --frequency " +
               dir.file("f.json") + " --out " + dir.file("back.brillm"));
    EXPECT_EQ(r.code, 0) << r.out;
    EXPECT_EQ(json::parse(brillm("info --json " + dir.file("back.brillm")).out)["checksum"], j["checksum"]);
    r = brillm("info " + dir.file("m.pt"));
    EXPECT_EQ(r.code, 0) << r.out;
    EXPECT_TRUE(contains(r.out, "weights")) << r.out;
    r = brillm("export --model " + model + " --format brillm --dtype bf16 --out " + dir.file("bf16.brillm"));
    EXPECT_EQ(r.code, 0) << r.out;
    r = brillm("info --json " + dir.file("bf16.brillm"));
    EXPECT_EQ(json::parse(r.out)["dtype"], "BF16");
    r = brillm("verify " + dir.file("bf16.brillm"));
    EXPECT_EQ(r.code, 0) << r.out;
    EXPECT_TRUE(contains(r.out, "verified")) << r.out;
}

TEST_F(CliTest, VerifyFailsOnDamage) {
    const std::string model = importPlain("m.brillm");
    auto bytes = test::readBytes(model);
    const SafetensorsHeader layout = SafetensorsHeader::parse(bytes, model);
    bytes[layout.dataStart + layout.find("weights")->begin + 3] ^= std::byte{0x40};
    test::writeBytes(dir.file("damaged.brillm"), bytes);
    CliRun r = brillm("verify " + dir.file("damaged.brillm"));
    EXPECT_EQ(r.code, 1) << r.out;
    EXPECT_TRUE(contains(r.out, "checksum mismatch")) << r.out;
    bytes.resize(bytes.size() / 2);
    test::writeBytes(dir.file("truncated.brillm"), bytes);
    r = brillm("verify " + dir.file("truncated.brillm"));
    EXPECT_EQ(r.code, 1) << r.out;
    EXPECT_TRUE(contains(r.out, "truncated.brillm")) << r.out;
    EXPECT_TRUE(contains(r.out, "truncated")) << r.out;
}

TEST_F(CliTest, ErrorsNameTheFileAndExitNonZero) {
    CliRun r = brillm("import --state-dict " + fixture("plain.pt") + " --vocab " + fixture("vocab.json") + " --out " +
                      dir.file("x.brillm"));
    EXPECT_EQ(r.code, 1);
    EXPECT_TRUE(contains(r.out, "plain.pt")) << r.out;
    EXPECT_TRUE(contains(r.out, "frequency")) << r.out;
    r = brillm("import --state-dict " + fixture("bad_list.pt") + " --vocab " + fixture("vocab.json") + " --out " +
               dir.file("x.brillm"));
    EXPECT_EQ(r.code, 1);
    EXPECT_TRUE(contains(r.out, "bad_list.pt")) << r.out;
    r = brillm("info " + fixture("vocab.json"));
    EXPECT_EQ(r.code, 1);
    EXPECT_TRUE(contains(r.out, "vocab.json")) << r.out;
    r = brillm("export --model m --format onnx --out y");
    EXPECT_EQ(r.code, 2) << r.out;
    EXPECT_FALSE(std::filesystem::exists(dir.file("x.brillm")));
}

// brillm patch new / show / apply and brillm blame, against the library on the same model.
TEST_F(CliTest, PatchAndBlame) {
    const std::string model = importPlain("m.brillm");
    CliRun r = brillm("patch new --model " + model +
                      " --ids --knockout-edge '1>2' --scale '0>3=0.5' --knockout-node 4 --out " + dir.file("p.json"));
    ASSERT_EQ(r.code, 0) << r.out;
    r = brillm("patch show " + dir.file("p.json"));
    EXPECT_EQ(r.code, 0) << r.out;
    EXPECT_TRUE(contains(r.out, "3 edits")) << r.out;
    EXPECT_TRUE(contains(r.out, "knock out node")) << r.out;
    r = brillm("patch apply --model " + model + " --patch " + dir.file("p.json") + " --out " + dir.file("e.brillm"));
    ASSERT_EQ(r.code, 0) << r.out;
    const auto original = ModelFile::load(model);
    const auto patch = loadPatch(dir.file("p.json"));
    ASSERT_EQ(patch.edits.size(), 3u);
    EXPECT_EQ(patch.edits[0].kind, EditKind::KnockoutNode);
    const auto expected = applyEdits(original.model, patch.edits);
    const auto written = ModelFile::load(dir.file("e.brillm"));
    EXPECT_EQ(written.model.edges, expected.edges);
    EXPECT_TRUE(at::equal(written.model.weights, expected.weights));
    EXPECT_TRUE(at::equal(written.model.biases, expected.biases));
    EXPECT_EQ(written.metadata.vocabulary, original.metadata.vocabulary);
    EXPECT_TRUE(contains(written.metadata.provenanceJson, "patched")) << written.metadata.provenanceJson;

    // a patch for another vocabulary size is refused, naming the patch file
    ModelPatch other = patch;
    other.vocabSize = 7;
    savePatch(other, dir.file("other.json"));
    r = brillm("patch apply --model " + model + " --patch " + dir.file("other.json") + " --out " +
               dir.file("x.brillm"));
    EXPECT_EQ(r.code, 1) << r.out;
    EXPECT_TRUE(contains(r.out, "other.json")) << r.out;
    EXPECT_FALSE(std::filesystem::exists(dir.file("x.brillm")));

    r = brillm("blame --model " + model + " --ids --prompt 0,1 --expect 2,3 --step 2 --a 0 --b 4 --top 0 --json");
    ASSERT_EQ(r.code, 0) << r.out;
    const json j = json::parse(r.out);
    const std::vector<int32_t> prompt{0, 1}, cont{2, 3};
    const auto forced = forcePath(original.model, prompt, cont);
    ASSERT_EQ(j["steps"].size(), forced.steps.size());
    for (size_t k = 0; k < forced.steps.size(); ++k) {
        EXPECT_EQ(j["steps"][k]["winner"], forced.steps[k].winner);
        EXPECT_EQ(j["steps"][k]["expected_rank"], forced.steps[k].expectedRank);
    }
    const auto report = blame(original.model, {{0, 1, 2}, 0, 4});
    EXPECT_DOUBLE_EQ(j["blame"]["margin"].get<double>(), report.margin);
    ASSERT_EQ(j["blame"]["contributors"].size(), report.contributors.size());
    EXPECT_DOUBLE_EQ(j["blame"]["contributors"][0]["effect"].get<double>(), report.contributors[0].effect);
    r = brillm("blame --model " + model + " --ids --prompt 0,1 --expect 2 --mode sideways");
    EXPECT_EQ(r.code, 2) << r.out;
    EXPECT_TRUE(contains(r.out, "--mode")) << r.out;
}

} // namespace
} // namespace brillm
