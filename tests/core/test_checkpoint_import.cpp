// SPDX-License-Identifier: GPL-3.0-or-later
// Import of the torch.save fixtures into model files, checked number by number against the
// values Python wrote, the slot map against the reference rule, and import/export round trips.
#include "test_checkpoint_util.h"

#include "brillm/error.h"
#include "brillm/io/checkpoint_export.h"
#include "brillm/io/checkpoint_import.h"
#include "brillm/io/model_file.h"
#include "brillm/text/vocabulary.h"

#include <ATen/ATen.h>

#include <cstring>
#include <filesystem>

namespace brillm {
namespace {

using nlohmann::json;
using test::expectError;
using test::fixture;
using test::ScratchDir;
using test::values;

class ImportTest : public ::testing::Test {
protected:
    ImportOptions options(const std::string& stateDict, const std::string& out) const {
        ImportOptions o;
        o.stateDictPath = fixture(stateDict);
        o.vocabPath = fixture("vocab.json");
        o.frequencyPath = fixture("word_frequency.json");
        o.outPath = dir.file(out);
        return o;
    }
    void expectModel(const std::string& path, const json& values_, at::ScalarType dtype = at::kFloat) const {
        const LoadedModel m = ModelFile::load(path);
        EXPECT_EQ(values(m.model.weights), values_["weights"].get<std::vector<double>>());
        EXPECT_EQ(values(m.model.biases), values_["biases"].get<std::vector<double>>());
        EXPECT_EQ(values(m.model.nodeBias), values_["node_bias"].get<std::vector<double>>());
        EXPECT_EQ(values(m.model.positions), values_["positions"].get<std::vector<double>>());
        EXPECT_EQ(m.model.dtype(), dtype);
    }

    ScratchDir dir;
    json expected = test::expectedValues();
};

TEST_F(ImportTest, PlainStateDictSlotsAndValues) {
    const ImportReport r = importTorchCheckpoint(options("plain.pt", "plain.brillm"));
    EXPECT_EQ(r.config.vocabSize, 5);
    EXPECT_EQ(r.config.dim, 4);
    EXPECT_EQ(r.config.maxPositions, 8);
    EXPECT_EQ(r.numSlots, expected["num_slots"].get<int64_t>());
    EXPECT_EQ(r.layout, "state dict");
    const ModelFile f = ModelFile::open(dir.file("plain.brillm"));
    // The slot of every pair, as the reference numbers them.
    for (const auto& row : expected["slots"]) {
        const int64_t s = row[0], t = row[1], slot = row[2];
        EXPECT_EQ(f.edges().slot(s, t), slot) << s << " -> " << t;
    }
    expectModel(dir.file("plain.brillm"), expected["plain"]);
    EXPECT_EQ(f.metadata().vocabulary, expected["tokens"].get<std::vector<std::string>>());
    EXPECT_EQ(f.metadata().tokenizerKind, "char");
    EXPECT_TRUE(f.metadata().tokenizerJson.empty());
    const json prov = json::parse(f.metadata().provenanceJson);
    EXPECT_EQ(prov["source"]["file"], "plain.pt");
    EXPECT_EQ(prov["frequency_table"], "word_frequency.json");
    EXPECT_TRUE(f.verify().ok());
    std::string notes;
    for (const auto& n : r.notes)
        notes += n + "\n";
    EXPECT_NE(notes.find("not in the node dictionary"), std::string::npos) << notes;
}

TEST_F(ImportTest, TrainerCheckpointGivesTheSameModel) {
    const ImportReport r = importTorchCheckpoint(options("trainer.pt", "trainer.brillm"));
    expectModel(dir.file("trainer.brillm"), expected["plain"]);
    std::string notes;
    for (const auto& n : r.notes)
        notes += n + "\n";
    EXPECT_NE(notes.find("cond_proj.weight"), std::string::npos) << notes;
    EXPECT_NE(notes.find("module."), std::string::npos) << notes;
    const json prov = json::parse(ModelFile::open(dir.file("trainer.brillm")).metadata().provenanceJson);
    EXPECT_EQ(prov["source"]["extras"]["args"], expected["trainer_args"]);
    // Same parameters, same data section.
    importTorchCheckpoint(options("plain.pt", "plain.brillm"));
    EXPECT_EQ(ModelFile::open(dir.file("plain.brillm")).header().checksum,
              ModelFile::open(dir.file("trainer.brillm")).header().checksum);
}

TEST_F(ImportTest, Float16KeptOrConverted) {
    importTorchCheckpoint(options("half.pt", "half.brillm"));
    const ModelFile f = ModelFile::open(dir.file("half.brillm"));
    EXPECT_EQ(f.header().dtype, StorageDtype::F16);
    expectModel(dir.file("half.brillm"), expected["half"], at::kHalf); // used in place
    ImportOptions o = options("half.pt", "half32.brillm");
    o.dtype = StorageDtype::F32;
    const ImportReport r = importTorchCheckpoint(o);
    EXPECT_EQ(r.sourceDtype, StorageDtype::F16);
    EXPECT_EQ(r.storedDtype, StorageDtype::F32);
    EXPECT_EQ(ModelFile::open(dir.file("half32.brillm")).header().dtype, StorageDtype::F32);
    expectModel(dir.file("half32.brillm"), expected["half"]);
    o = options("plain.pt", "bf16.brillm");
    o.dtype = StorageDtype::BF16;
    importTorchCheckpoint(o);
    const LoadedModel bf = ModelFile::load(dir.file("bf16.brillm"));
    const at::Tensor want = at::tensor(expected["plain"]["weights"].get<std::vector<double>>())
                                .to(at::kFloat)
                                .to(at::kBFloat16)
                                .to(at::kFloat);
    EXPECT_EQ(bf.model.dtype(), at::kBFloat16); // used in place
    EXPECT_TRUE(at::equal(bf.model.weights.reshape(-1).to(at::kFloat), want));
}

TEST_F(ImportTest, DenseWithoutFrequencyTable) {
    ImportOptions o = options("dense.pt", "dense.brillm");
    o.frequencyPath.clear();
    const ImportReport r = importTorchCheckpoint(o);
    EXPECT_EQ(r.numSlots, 26);
    const ModelFile f = ModelFile::open(dir.file("dense.brillm"));
    EXPECT_EQ(f.edges().numOwn(), 25);
    EXPECT_EQ(f.edges().slot(3, 2), 3 * 5 + 2 + 1);
    expectModel(dir.file("dense.brillm"), expected["dense"]);
}

TEST_F(ImportTest, EmbedsTheTokenizerVerbatim) {
    ImportOptions o = options("plain.pt", "tok.brillm");
    o.tokenizerPath = std::string(BRILLM_SHARED_DIR) + "/brillm0.5/wiki_bpe_tokenizer_4000_bytelevel.json";
    if (!std::filesystem::is_regular_file(o.tokenizerPath)) GTEST_SKIP() << "needs ../shared: " << o.tokenizerPath;
    importTorchCheckpoint(o);
    const ModelMetadata m = ModelFile::open(dir.file("tok.brillm")).metadata();
    EXPECT_EQ(m.tokenizerKind, "byte-level-bpe");
    const auto bytes = test::readBytes(o.tokenizerPath);
    EXPECT_EQ(m.tokenizerJson, std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
    o.tokenizerKind = "custom";
    o.outPath = dir.file("tok2.brillm");
    importTorchCheckpoint(o);
    EXPECT_EQ(ModelFile::open(dir.file("tok2.brillm")).metadata().tokenizerKind, "custom");
    o.tokenizerPath = fixture("word_frequency.json");
    expectError<CheckpointError>([&] { importTorchCheckpoint(o); },
                                 {"word_frequency.json", "not a HuggingFace tokenizer.json"});
}

TEST_F(ImportTest, ImportExportImportIsBitExact) {
    importTorchCheckpoint(options("trainer.pt", "first.brillm"));
    const LoadedModel first = ModelFile::load(dir.file("first.brillm"));
    exportTorchStateDict(dir.file("exported.pt"), first.model);
    ImportOptions o = options("trainer.pt", "second.brillm");
    o.stateDictPath = dir.file("exported.pt");
    importTorchCheckpoint(o);
    const ModelFile second = ModelFile::open(dir.file("second.brillm"));
    EXPECT_EQ(second.header().checksum, ModelFile::open(dir.file("first.brillm")).header().checksum);
    EXPECT_TRUE(second.edges() == first.model.edges);
    expectModel(dir.file("second.brillm"), expected["plain"]);
}

TEST_F(ImportTest, OurModelsRoundTripThroughTheReferenceFiles) {
    // Any edge table (here not derived from a frequency table) survives export with a
    // generated node dictionary and frequency table, and import back.
    const Model m = test::smallModel();
    ModelMetadata meta;
    meta.vocabulary = {"<unk>", "的", "Ġthe", "a\"b", "x", "y"};
    ModelFile::save(dir.file("ours.brillm"), m, meta);
    exportTorchStateDict(dir.file("ours.pt"), m);
    writeReferenceVocabulary(dir.file("vocab.json"), meta.vocabulary);
    writeReferenceFrequencyTable(dir.file("freq.json"), m.edges, meta.vocabulary);
    EXPECT_EQ(NodeVocabulary::load(dir.file("vocab.json")).tokens(), meta.vocabulary);
    const json freq = json::parse(test::readBytes(dir.file("freq.json")));
    EXPECT_EQ(freq.size(), 6u);
    EXPECT_EQ(freq["<unk>"].size(), 6u);
    EXPECT_EQ(freq["<unk>"]["的"], 1);
    EXPECT_EQ(freq["<unk>"]["<unk>"], 0);
    ImportOptions o;
    o.stateDictPath = dir.file("ours.pt");
    o.vocabPath = dir.file("vocab.json");
    o.frequencyPath = dir.file("freq.json");
    o.outPath = dir.file("back.brillm");
    importTorchCheckpoint(o);
    const ModelFile back = ModelFile::open(dir.file("back.brillm"));
    EXPECT_TRUE(back.edges() == m.edges);
    EXPECT_EQ(back.header().checksum, ModelFile::open(dir.file("ours.brillm")).header().checksum);
    EXPECT_EQ(back.metadata().vocabulary, meta.vocabulary);
}

TEST_F(ImportTest, MismatchesAreNamedWithBothNumbers) {
    // Without a frequency table a sparse checkpoint cannot be imported.
    ImportOptions o = options("plain.pt", "x.brillm");
    o.frequencyPath.clear();
    expectError<CheckpointError>([&] { importTorchCheckpoint(o); },
                                 {"plain.pt", "18 edge slots", "26 slots", "word_frequency.json"});
    // A frequency table with one zero-count pair more: one slot fewer than the file has.
    json freq = json::parse(test::readBytes(fixture("word_frequency.json")));
    freq["Ġb"]["c"] = 0;
    test::writeText(dir.file("freq.json"), freq.dump());
    o = options("plain.pt", "x.brillm");
    o.frequencyPath = dir.file("freq.json");
    expectError<CheckpointError>([&] { importTorchCheckpoint(o); },
                                 {"plain.pt", "has 18 edge slots", "give 17 (1 shared + 16 own edges", "freq.json"});
    // A node dictionary of another size.
    test::writeText(dir.file("vocab4.json"), R"({"<unk>": 0, "的": 1, "a": 2, "Ġb": 3})");
    o = options("plain.pt", "x.brillm");
    o.vocabPath = dir.file("vocab4.json");
    expectError<CheckpointError>([&] { importTorchCheckpoint(o); },
                                 {"plain.pt", "has 5 nodes", "vocab4.json", "lists 4 tokens"});
    // Not a BriLLM state dict.
    o = options("bad_global.pt", "x.brillm");
    expectError<CheckpointError>([&] { importTorchCheckpoint(o); }, {"bad_global.pt", "disallowed GLOBAL"});
    // Broken frequency tables.
    test::writeText(dir.file("broken.json"), R"({"a": {"b": 1, )");
    o = options("plain.pt", "x.brillm");
    o.frequencyPath = dir.file("broken.json");
    expectError<CheckpointError>([&] { importTorchCheckpoint(o); }, {"broken.json", "malformed JSON"});
    test::writeText(dir.file("strings.json"), R"({"a": {"c": "3"}})");
    o.frequencyPath = dir.file("strings.json");
    expectError<CheckpointError>([&] { importTorchCheckpoint(o); }, {"strings.json", "\"a\" -> \"c\" is a string"});
    test::writeText(dir.file("list.json"), R"([1, 2])");
    o.frequencyPath = dir.file("list.json");
    expectError<CheckpointError>([&] { importTorchCheckpoint(o); }, {"list.json", "an array"});
    EXPECT_FALSE(std::filesystem::exists(dir.file("x.brillm")));
}

TEST_F(ImportTest, ZeroFrequencyListsFollowTheReferenceRule) {
    const NodeVocabulary vocab = NodeVocabulary::load(fixture("vocab.json"));
    const ZeroFrequencyLists z = readZeroFrequencyLists(fixture("word_frequency.json"), vocab);
    EXPECT_EQ(z.zeroPairs, 8);
    EXPECT_EQ(z.countedPairs, 3);
    EXPECT_EQ(z.unknownTokens, 2);
    ASSERT_EQ(z.zeroListed.size(), 5u);
    EXPECT_EQ(z.zeroListed[0].size(), 5u);
    EXPECT_EQ(z.zeroListed[1], (std::vector<int32_t>{4, 1}));
}

} // namespace
} // namespace brillm
