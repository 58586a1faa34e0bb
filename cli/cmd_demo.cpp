// SPDX-License-Identifier: GPL-3.0-or-later
// brillm demo: the demo models, trained from the bundled corpora on first use and cached.
#include "args.h"
#include "commands.h"
#include "progress_line.h"

#include "brillm/error.h"
#include "brillm/io/model_file.h"
#include "brillm/model/decode.h"
#include "brillm/text/text_codec.h"
#include "brillm/training/trainer.h"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <unistd.h>

namespace fs = std::filesystem;

namespace brillm::cli {

namespace {

struct DemoSpec {
    const char* lang;
    const char* corpus;
    const char* vocabKind;
    int64_t vocabSize;
    uint64_t minCount;
    const char* prompt;
};

// Small enough to train in a minute or two on two cores, large enough to read as the language.
constexpr DemoSpec kDemos[] = {
    {"en", "en_austen.txt", "bpe", 1500, 1, "It is a truth universally acknowledged"},
    {"zh", "zh_poetry_songci.txt", "char", 2500, 1, "春风"},
};
constexpr int kDemoVersion = 3; // 3: the default recipe (bigram + context init, exact loss)

fs::path executableDir() {
    std::error_code ec;
    const auto exe = fs::read_symlink("/proc/self/exe", ec);
    return ec ? fs::current_path() : exe.parent_path();
}

fs::path findCorpus(const std::string& name) {
    for (const auto& dir :
         {executableDir() / ".." / "share" / "brillm" / "corpora", fs::path(BRILLM_SOURCE_RESOURCES) / "corpora"}) {
        std::error_code ec;
        if (fs::is_regular_file(dir / name, ec)) return fs::weakly_canonical(dir / name);
    }
    throw InputError("the demo corpus '" + name + "' was not found (looked in <prefix>/share/brillm/corpora and " +
                     std::string(BRILLM_SOURCE_RESOURCES) + "/corpora); give one with --corpus FILE");
}

fs::path cacheDir(const std::string& given) {
    if (!given.empty()) return given;
    if (const char* d = std::getenv("BRILLM_CACHE_DIR"); d && *d) return d;
    if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) return fs::path(x) / "brillm";
    if (const char* h = std::getenv("HOME"); h && *h) return fs::path(h) / ".cache" / "brillm";
    return fs::temp_directory_path() / "brillm-cache";
}

} // namespace

int runDemo(const Args& args) {
    std::string lang = "en", prompt, prepare, cache, corpus;
    int64_t maxNew = 32, steps = 150;
    bool progressJson = false, retrain = false;
    ArgParser p("brillm demo",
                "Complete a prompt with a demo model. The demo models are trained from the bundled corpora\n"
                "(resources/corpora: Jane Austen for English, Song ci for Chinese) the first time they are\n"
                "needed - one to two minutes on two cores - and cached (BRILLM_CACHE_DIR, else\n"
                "$XDG_CACHE_HOME/brillm, else ~/.cache/brillm).");
    p.option("lang", &lang, "en|zh", "which demo model (default {default})");
    p.option("prompt", &prompt, "TEXT", "the prompt (default: an example for the language)");
    p.option("max-new-tokens", &maxNew, "N", "tokens to generate (default {default})");
    p.option("prepare", &prepare, "en|zh", "only make sure the model exists and print its path");
    p.flag("progress-json", &progressJson, "progress as JSON lines on standard output (for the studio)");
    p.flag("retrain", &retrain, "train the demo model again even if it is cached");
    p.option("cache-dir", &cache, "DIR", "where demo models are kept");
    p.option("corpus", &corpus, "FILE", "train on this text instead of the bundled corpus");
    p.option("steps", &steps, "N", "training steps of the default recipe (default {default}; at most 2 minutes)");
    if (!p.parse(args)) return 0;
    if (!prepare.empty()) lang = prepare;
    const DemoSpec* spec = nullptr;
    for (const auto& d : kDemos)
        if (lang == d.lang) spec = &d;
    if (!spec) throw UsageError("--lang must be 'en' or 'zh', got '" + lang + "'");

    const auto emit = [&](const nlohmann::json& j) {
        if (progressJson) std::cout << j.dump() << std::endl;
    };
    const fs::path runDir =
        cacheDir(cache) / ("demo-" + lang + "-v" + std::to_string(kDemoVersion) + (corpus.empty() ? "" : "-custom"));
    const fs::path modelPath = runDir / "model.brillm";
    std::error_code ec;
    if (retrain || !fs::exists(modelPath, ec)) {
        fs::remove_all(runDir, ec);
        training::TrainConfig c;
        c.corpus = {corpus.empty() ? findCorpus(spec->corpus).string() : corpus};
        c.vocabKind = spec->vocabKind;
        c.vocabSize = spec->vocabSize;
        c.minCount = spec->minCount;
        c.steps = steps;
        c.maxMinutes = 2;
        c.evalEvery = 50;
        c.evalSamples = 32;
        c.checkpointEvery = 0;
        c.keepCheckpoints = 1;
        const bool quiet = progressJson || !isatty(STDERR_FILENO);
        ProgressLine line(progressJson);
        if (!progressJson)
            std::cerr << "Training the " << (lang == "en" ? "English" : "Chinese") << " demo model from "
                      << c.corpus.front() << " (once; cached in " << runDir.string() << ")\n";
        training::TrainCallbacks cb;
        cb.onPrepare = [&](const std::string& stage, double f) {
            emit({{"progress", 0.1 * f}, {"message", "preparing: " + stage}});
            line.update("preparing: " + stage, 0.1 * f);
            return true;
        };
        cb.onStep = [&](const training::StepReport& r) {
            const double f = 0.1 + 0.9 * static_cast<double>(r.step) / static_cast<double>(r.totalSteps);
            char buf[160];
            std::snprintf(buf, sizeof buf, "training step %lld/%lld, loss %.3f, ETA %s", static_cast<long long>(r.step),
                          static_cast<long long>(r.totalSteps), r.loss, ProgressLine::duration(r.etaSeconds).c_str());
            if (progressJson && (r.step % 5 == 0 || r.step == r.totalSteps)) emit({{"progress", f}, {"message", buf}});
            if (!quiet || r.step % 50 == 0 || r.step == r.totalSteps) line.update(buf, f);
            return true;
        };
        const auto t0 = std::chrono::steady_clock::now();
        training::train(c, runDir, cb);
        line.finish();
        if (!progressJson)
            std::cerr << "Demo model ready in "
                      << std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() << " s\n";
    }
    if (!prepare.empty()) {
        if (progressJson)
            emit({{"progress", 1.0}, {"model", modelPath.string()}, {"prompt", spec->prompt}});
        else
            std::cout << modelPath.string() << '\n';
        return 0;
    }

    const auto loaded = ModelFile::load(modelPath.string());
    const auto codec = TextCodec::fromMetadata(loaded.metadata, loaded.model.vocabSize());
    if (prompt.empty()) prompt = spec->prompt;
    const auto nodes = codec.encode(prompt).nodes;
    if (nodes.empty()) throw InputError("the prompt has no tokens");
    DecodeOptions o;
    o.maxNewTokens = maxNew;
    o.recordTrace = false;
    // padding ends a training text and [UNK] stands for anything: neither reads well in a demo
    o.bannedTokens = codec.specialNodes();
    std::cout << prompt << std::flush;
    std::vector<int32_t> generated;
    std::string shown;
    const auto trace = decode(loaded.model, nodes, o, [&](const TraceStep& s) {
        if (!s.generated) return true;
        generated.push_back(s.target);
        const auto text = codec.decode(generated, /*skipSpecial=*/true);
        if (text.compare(0, shown.size(), shown) == 0 && text.find("\xEF\xBF\xBD") == std::string::npos) {
            std::cout << text.substr(shown.size()) << std::flush;
            shown = text;
        }
        return true;
    });
    std::cout << '\n';
    std::cerr << "[" << trace.generated().size() << " tokens, stop: " << trace.stopReason << "; model "
              << modelPath.string() << "]\nSee why each token won: " << (executableDir() / "brillm").string()
              << " trace --model " << modelPath.string() << " --prompt '" << prompt << "' --max-new-tokens 8 --json\n"
              << "Trace a continuation you expected to the edges behind it: " << (executableDir() / "brillm").string()
              << " blame --model " << modelPath.string() << " --prompt '" << prompt << "' --expect ' was not'\n";
    return 0;
}

} // namespace brillm::cli
