// SPDX-License-Identifier: GPL-3.0-or-later
// Hostile inputs that used to hang or crash (issue 18): a FIFO given as a model, tokenizer,
// vocabulary or patch; JSON nested 100 000 levels deep in a model's metadata, a tokenizer or a
// patch file.
#include "run_command.h"
#include "test_checkpoint_util.h"

#include "brillm/error.h"
#include "brillm/io/checkpoint_export.h"
#include "brillm/io/checkpoint_import.h"
#include "brillm/io/input_limits.h"
#include "brillm/io/mapped_file.h"
#include "brillm/io/model_file.h"
#include "brillm/model/device_edges.h"
#include "brillm/model/model_edit.h"
#include "brillm/text/tokenizer.h"
#include "brillm/text/vocabulary.h"

#include <ATen/ATen.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <functional>
#include <limits>
#include <thread>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>

namespace brillm {
namespace {

using test::ScratchDir;

std::string nested(size_t depth) {
    return std::string(depth, '[') + std::string(depth, ']');
}

TEST(JsonDepth, CountsBracketsOutsideStrings) {
    EXPECT_EQ(jsonDepthProblem(nested(128)), "");
    EXPECT_EQ(jsonDepthProblem("{\"a\":" + nested(127) + "}"), "");
    const auto deep = jsonDepthProblem(nested(129));
    EXPECT_NE(deep.find("deeper than 128 levels (at byte 128)"), std::string::npos) << deep;
    EXPECT_NE(jsonDepthProblem("{\"a\":" + nested(128) + "}"), "");
    // brackets inside strings, and escaped quotes, are text
    EXPECT_EQ(jsonDepthProblem("[\"" + std::string(1000, '[') + "\\\"" + std::string(1000, '{') + "\"]"), "");
    EXPECT_EQ(jsonDepthProblem(nested(5), 5), "");
    EXPECT_NE(jsonDepthProblem(nested(6), 5), "");
}

// Runs f, which must throw E mentioning `fragment`; a FIFO that f blocks on is opened for writing
// after 5 s so that the test fails instead of hanging.
template <class E>
void expectNoHang(const std::string& fifo, const std::function<void()>& f, const std::string& fragment) {
    std::atomic<bool> done{false}, rescued{false};
    std::thread guard([&] {
        for (int i = 0; i < 500 && !done; ++i)
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        if (done) return;
        rescued = true;
        const int fd = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK);
        if (fd >= 0) ::close(fd);
    });
    try {
        f();
        ADD_FAILURE() << "no error for the FIFO";
    } catch (const E& e) {
        EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
    } catch (const std::exception& e) {
        ADD_FAILURE() << "unexpected error type: " << e.what();
    }
    done = true;
    guard.join();
    EXPECT_FALSE(rescued) << "blocked on the FIFO";
}

TEST(InputGuards, AFifoIsRefusedAtOnceAsAModelTokenizerVocabularyOrPatch) {
    ScratchDir dir;
    const std::string fifo = dir.file("pipe");
    ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
    const std::string what = "is not a regular file (a FIFO)";
    expectNoHang<CheckpointError>(
        fifo, [&] { MappedFile::open(fifo); }, what);
    expectNoHang<CheckpointError>(
        fifo, [&] { ModelFile::load(fifo); }, what);
    expectNoHang<TokenizerError>(
        fifo, [&] { loadTokenizer(fifo); }, what);
    expectNoHang<TokenizerError>(
        fifo, [&] { NodeVocabulary::load(fifo); }, what);
    expectNoHang<InputError>(
        fifo, [&] { loadPatch(fifo); }, what);
    std::string text, error;
    EXPECT_FALSE(readRegularFile(dir.path(), text, error));
    EXPECT_NE(error.find("a directory"), std::string::npos) << error;
}

TEST(InputGuards, ReadRegularFileKeepsToItsSizeBound) {
    ScratchDir dir;
    test::writeText(dir.file("f"), std::string(100, 'x'));
    std::string text, error;
    EXPECT_TRUE(readRegularFile(dir.file("f"), text, error, 100));
    EXPECT_EQ(text.size(), 100u);
    EXPECT_FALSE(readRegularFile(dir.file("f"), text, error, 99));
    EXPECT_NE(error.find("larger than the 99 bytes"), std::string::npos) << error;
}

TEST(InputGuards, DeeplyNestedJsonFilesAreRefused) {
    ScratchDir dir;
    test::writeText(dir.file("tok.json"), "{\"model\":" + std::string(100000, '[') + "}");
    try {
        loadTokenizer(dir.file("tok.json"));
        ADD_FAILURE() << "no error";
    } catch (const TokenizerError& e) {
        EXPECT_NE(std::string(e.what()).find("deeper than 128 levels"), std::string::npos) << e.what();
    }
    test::writeText(dir.file("patch.json"), "{\"edits\":" + nested(100000) + "}");
    test::expectError<InputError>([&] { loadPatch(dir.file("patch.json")); }, {"patch.json", "deeper than 128 levels"});
}

// A model whose provenance nests `depth` levels (what the 0.9 MB file held).
std::string deepProvenanceModel(const ScratchDir& dir, size_t depth) {
    ModelMetadata meta;
    meta.vocabulary = {"a", "b", "c", "d", "e", "f"};
    meta.tokenizerKind = "char";
    meta.provenanceJson = "{\"x\":" + nested(depth) + "}";
    const std::string path = dir.file("deep.brillm");
    ModelFile::save(path, test::smallModel(), meta);
    return path;
}

TEST(InputGuards, ADeepProvenanceFailsToLoadWithAMessage) {
    ScratchDir dir;
    const auto path = deepProvenanceModel(dir, 100000);
    test::expectError<CheckpointError>([&] { ModelFile::load(path); },
                                       {"deep.brillm", "provenance", "deeper than 128 levels"});
}

using CliResult = test::CommandResult;

// The CLI under `timeout`: a hang shows as exit 124, a crash as a signal (code -1).
CliResult brillmCli(const std::string& args) {
    return test::runCommand("timeout 30 " + test::shellQuote(BRILLM_CLI_PATH) + " " + args, size_t{1} << 20);
}

TEST(InputGuardsCli, InfoOnADeepProvenanceGivesAClearErrorNotACrash) {
    ScratchDir dir;
    const auto path = deepProvenanceModel(dir, 100000);
    for (const char* flags : {"", "--json "}) {
        const CliResult r = brillmCli(std::string("info ") + flags + path);
        EXPECT_EQ(r.code, 1) << r.out;
        EXPECT_NE(r.out.find("deeper than 128 levels"), std::string::npos) << r.out;
        EXPECT_LT(r.out.size(), 4096u);
    }
}

TEST(InputGuardsCli, AFifoAsAModelFailsAtOnce) {
    ScratchDir dir;
    const std::string fifo = dir.file("pipe");
    ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
    for (const std::string& args : {"info " + fifo, "verify " + fifo, "generate --model " + fifo + " --prompt ab"}) {
        const CliResult r = brillmCli(args);
        EXPECT_NE(r.code, 0) << args;
        EXPECT_NE(r.code, 124) << args << ": hung";
        EXPECT_NE(r.out.find("not a regular file"), std::string::npos) << args << ": " << r.out;
    }
}

// --- a model file verify passes opens everywhere; NaN parameters fail clearly ----------------

// V = 6, d = 4 (even, unlike test::smallModel), P = 8.
Model evenModel() {
    ModelConfig c;
    c.vocabSize = 6;
    c.dim = 4;
    c.maxPositions = 8;
    const std::vector<std::pair<int32_t, int32_t>> pairs = {{0, 1}, {1, 2}, {2, 3}, {3, 4}, {4, 5}, {5, 0}};
    return Model::randomInit(c, EdgeTable::fromPairs(6, pairs), 3);
}

std::string saveModel(const ScratchDir& dir, const std::string& name, const Model& model,
                      std::vector<std::string> vocabulary = {"a", "b", "c", "d", "e", "f"}) {
    ModelMetadata meta;
    meta.vocabulary = std::move(vocabulary);
    meta.tokenizerKind = "char";
    const std::string path = dir.file(name);
    ModelFile::save(path, model, meta);
    return path;
}

Model nanModel() {
    Model m = evenModel();
    const double nan = std::numeric_limits<double>::quiet_NaN();
    for (at::Tensor* t : {&m.weights, &m.biases, &m.nodeBias, &m.positions})
        t->fill_(nan);
    return m;
}

TEST(ModelChecksCli, VerifyRunsTheChecksOfEveryCommand) {
    ScratchDir dir;
    EXPECT_EQ(brillmCli("verify " + saveModel(dir, "ok.brillm", evenModel())).code, 0);
    // duplicate tokens: generate refuses them, so verify does
    const auto dup = saveModel(dir, "dup.brillm", evenModel(), {"a", "b", "a", "d", "e", "f"});
    CliResult r = brillmCli("verify " + dup);
    EXPECT_EQ(r.code, 1) << r.out;
    EXPECT_NE(r.out.find("FAIL vocabulary and tokenizer"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("\"a\" appears twice"), std::string::npos) << r.out;
    EXPECT_NE(brillmCli("generate --model " + dup + " --prompt ab").code, 0);
    // an odd dimension
    r = brillmCli("verify " + saveModel(dir, "odd.brillm", test::smallModel(), {"a", "b", "c", "d", "e", "f"}));
    EXPECT_EQ(r.code, 1) << r.out;
    EXPECT_NE(r.out.find("FAIL dimension: d = 3 is odd"), std::string::npos) << r.out;
    // a malformed embedded tokenizer
    ModelMetadata meta;
    meta.vocabulary = {"a", "b", "c", "d", "e", "f"};
    meta.tokenizerKind = "byte-level-bpe";
    meta.tokenizerJson = "{\"model\": {\"type\": \"BPE\", \"vocab\": 5}}";
    ModelFile::save(dir.file("tok.brillm"), evenModel(), meta);
    r = brillmCli("verify " + dir.file("tok.brillm"));
    EXPECT_EQ(r.code, 1) << r.out;
    EXPECT_NE(r.out.find("FAIL vocabulary and tokenizer: tokenizer embedded in the model file"), std::string::npos)
        << r.out;
}

TEST(ModelChecksCli, NanParametersFailClearlyInGenerateTraceAndScore) {
    ScratchDir dir;
    const auto path = saveModel(dir, "nan.brillm", nanModel());
    for (const std::string& args :
         {"generate --model " + path + " --prompt ab", "generate --model " + path + " --prompt ab --temperature 0.5",
          "trace --model " + path + " --prompt ab", "trace --model " + path + " --path abc"}) {
        const CliResult r = brillmCli(args);
        EXPECT_EQ(r.code, 1) << args << ": " << r.out;
        EXPECT_NE(r.out.find("energies are not finite"), std::string::npos) << args << ": " << r.out;
        EXPECT_EQ(r.out.find("-1"), std::string::npos) << args << ": " << r.out;
    }
    const CliResult score = brillmCli("score --model " + path + " --text abc");
    EXPECT_EQ(score.code, 1) << score.out;
    EXPECT_NE(score.out.find("the loss of this text is not finite"), std::string::npos) << score.out;
    EXPECT_EQ(brillmCli("verify " + path).code, 1);
}

TEST(ModelChecks, ImportOfAnAllNanCheckpointFails) {
    ScratchDir dir;
    exportTorchStateDict(dir.file("nan.pt"), nanModel());
    const std::vector<std::string> tokens = {"a", "b", "c", "d", "e", "f"};
    writeReferenceVocabulary(dir.file("vocab.json"), tokens);
    writeReferenceFrequencyTable(dir.file("freq.json"), evenModel().edges, tokens);
    ImportOptions o;
    o.frequencyPath = dir.file("freq.json");
    o.stateDictPath = dir.file("nan.pt");
    o.vocabPath = dir.file("vocab.json");
    o.outPath = dir.file("out.brillm");
    test::expectError<CheckpointError>([&] { importTorchCheckpoint(o); }, {"nan.pt", "every parameter is NaN or Inf"});
    EXPECT_FALSE(std::filesystem::exists(o.outPath));
    // partly NaN: imported, with a warning
    Model half = evenModel();
    half.weights[0].fill_(std::numeric_limits<double>::quiet_NaN());
    exportTorchStateDict(dir.file("half.pt"), half);
    o.stateDictPath = dir.file("half.pt");
    const auto report = importTorchCheckpoint(o);
    bool warned = false;
    for (const auto& n : report.notes)
        warned = warned || n.find("are NaN or Inf") != std::string::npos;
    EXPECT_TRUE(warned);
}

TEST(OptionRangesCli, DecodingOptionsOutOfRangeAreRefused) {
    ScratchDir dir;
    const auto path = saveModel(dir, "m.brillm", evenModel());
    struct Case {
        std::string args, message;
    };
    for (const Case& c : std::vector<Case>{
             {"generate --model " + path + " --prompt ab --top-k 0", "--top-k must be in [1, 6]"},
             {"generate --model " + path + " --prompt ab --top-k 7", "--top-k must be in [1, 6]"},
             {"trace --model " + path + " --prompt ab --top-k 0", "--top-k must be in [1, 6]"},
             {"generate --model " + path + " --prompt ab --top-p 0", "--top-p must be in (0, 1]"},
             {"generate --model " + path + " --prompt ab --temperature nan", "--temperature must be a positive"},
             {"generate --model " + path + " --prompt ab --max-new-tokens -1", "--max-new-tokens must be in"},
             {"score --model " + path + " --text abc --negatives 0", "--negatives must be at least 1"},
             {"vocab build --corpus " + path + " --kind char --size 1 --out " + dir.file("v.json"),
              "--size must be in [2,"},
             {"edges info " + path + " --dim 0", "--dim must be in [1, 65536]"},
             {"generate --model " + path + " --prompt ab --device gpu",
              "--device: unknown device 'gpu' (expected cpu, cuda, cuda:N or auto)"},
         }) {
        const CliResult r = brillmCli(c.args);
        EXPECT_EQ(r.code, 2) << c.args << ": " << r.out;
        EXPECT_NE(r.out.find(c.message), std::string::npos) << c.args << ": " << r.out;
    }
}

TEST(OptionRangesCli, DeviceScoringTakesTheSameTokensOrSaysWhyNot) {
    ScratchDir dir;
    const auto path = saveModel(dir, "m.brillm", evenModel());
    const CliResult cpu = brillmCli("generate --model " + path + " --prompt-ids 1,2 --max-new-tokens 8 --json");
    ASSERT_EQ(cpu.code, 0) << cpu.out;
    const CliResult onDevice =
        brillmCli("generate --model " + path + " --prompt-ids 1,2 --max-new-tokens 8 --json --device auto");
    ASSERT_EQ(onDevice.code, 0) << onDevice.out;
    // the nodes chosen are the same (energies agree within float rounding, the path's signals exactly)
    const auto nodes = [](const std::string& out) {
        const auto j = nlohmann::json::parse(out.substr(out.find('{')));
        return j.at("generated_nodes").dump();
    };
    EXPECT_EQ(nodes(onDevice.out), nodes(cpu.out));
    // and it says where: a model this small stays on the CPU under auto
    const auto scoredOn = [](const std::string& out) {
        return nlohmann::json::parse(out.substr(out.find('{'))).at("scored_on").get<std::string>();
    };
    EXPECT_EQ(scoredOn(cpu.out), "cpu");
    EXPECT_EQ(scoredOn(onDevice.out), "cpu");
    if (!cudaAvailable()) {
        const CliResult r = brillmCli("trace --model " + path + " --prompt-ids 1,2 --device cuda");
        EXPECT_EQ(r.code, 2) << r.out;
        EXPECT_NE(r.out.find("no CUDA"), std::string::npos) << r.out;
    }
}

TEST(OptionRangesCli, VocabCheckRefusesAMissingUnkTokenAndABpeWithoutMerges) {
    ScratchDir dir;
    std::ifstream in(std::string(BRILLM_SOURCE_DIR) + "/tests/fixtures/tokenizer/austen_bpe_600.json");
    const auto good = nlohmann::json::parse(in);
    EXPECT_EQ(
        brillmCli("vocab check " + std::string(BRILLM_SOURCE_DIR) + "/tests/fixtures/tokenizer/austen_bpe_600.json")
            .code,
        0);
    auto noUnk = good;
    noUnk["model"]["unk_token"] = "<missing>";
    test::writeText(dir.file("nounk.json"), noUnk.dump());
    CliResult r = brillmCli("vocab check " + dir.file("nounk.json"));
    EXPECT_EQ(r.code, 1) << r.out;
    EXPECT_NE(r.out.find("unk_token \"<missing>\" is not in the vocabulary"), std::string::npos) << r.out;
    auto noMerges = good;
    noMerges["model"]["merges"] = nlohmann::json::array();
    test::writeText(dir.file("nomerges.json"), noMerges.dump());
    r = brillmCli("vocab check " + dir.file("nomerges.json"));
    EXPECT_EQ(r.code, 1) << r.out;
    EXPECT_NE(r.out.find("without merges"), std::string::npos) << r.out;
}

} // namespace
} // namespace brillm
