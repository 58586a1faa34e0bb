// SPDX-License-Identifier: GPL-3.0-or-later
// Hostile inputs that used to hang or crash (issue 18): a FIFO given as a model, tokenizer,
// vocabulary or patch; JSON nested 100 000 levels deep in a model's metadata, a tokenizer or a
// patch file.
#include "test_checkpoint_util.h"

#include "brillm/error.h"
#include "brillm/input_limits.h"
#include "brillm/mapped_file.h"
#include "brillm/model_edit.h"
#include "brillm/model_file.h"
#include "brillm/tokenizer.h"
#include "brillm/vocabulary.h"

#include <array>
#include <chrono>
#include <cstdio>
#include <functional>
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
template <class E> void expectNoHang(const std::string& fifo, const std::function<void()>& f, const std::string& fragment) {
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
    expectNoHang<CheckpointError>(fifo, [&] { MappedFile::open(fifo); }, what);
    expectNoHang<CheckpointError>(fifo, [&] { ModelFile::load(fifo); }, what);
    expectNoHang<TokenizerError>(fifo, [&] { loadTokenizer(fifo); }, what);
    expectNoHang<TokenizerError>(fifo, [&] { NodeVocabulary::load(fifo); }, what);
    expectNoHang<InputError>(fifo, [&] { loadPatch(fifo); }, what);
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

struct CliResult {
    int code = -1;
    std::string out;
};

// The CLI under `timeout`: a hang shows as exit 124, a crash as a signal (code -1).
CliResult brillmCli(const std::string& args) {
    const std::string cmd = "timeout 30 " + std::string(BRILLM_CLI_PATH) + " " + args + " 2>&1";
    CliResult r;
    FILE* p = ::popen(cmd.c_str(), "r");
    if (!p) return r;
    std::array<char, 4096> buf{};
    size_t n;
    while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0 && r.out.size() < (1u << 20))
        r.out.append(buf.data(), n);
    const int status = ::pclose(p);
    r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return r;
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

} // namespace
} // namespace brillm
