// SPDX-License-Identifier: GPL-3.0-or-later
// brillm eval: the exact held-out perplexity of a model, next to Kneser-Ney n-gram baselines
// computed on the same tokens.
#include "commands.h"
#include "model_session.h"
#include "progress_line.h"

#include "brillm/error.h"
#include "brillm/model/corpus_eval.h"
#include "brillm/model/ngram_baseline.h"
#include "brillm/text/tokenizer.h"
#include "brillm/text/vocabulary.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <memory>
#include <optional>
#include <thread>
#include <unistd.h>

namespace brillm::cli {
namespace {

using Clock = std::chrono::steady_clock;

double secondsSince(Clock::time_point t) {
    return std::chrono::duration<double>(Clock::now() - t).count();
}

std::vector<std::filesystem::path> paths(const std::vector<std::string>& v) {
    return {v.begin(), v.end()};
}

std::string joined(const std::vector<std::string>& v) {
    std::string s;
    for (const auto& x : v)
        s += (s.empty() ? "" : ", ") + x;
    return s;
}

// The window the model was trained with: its provenance's max_seq_length, else 32.
int64_t trainingWindow(const ModelMetadata& metadata) {
    const auto j = nlohmann::json::parse(metadata.provenanceJson, nullptr, false);
    if (j.is_object() && j.contains("max_seq_length") && j["max_seq_length"].is_number_integer())
        return j["max_seq_length"].get<int64_t>();
    return 32;
}

// A codec without a model, as the trainer builds one from --tokenizer: a tokenizer.json (node
// ids = its ids, or those of a node dictionary --vocab) or a character node dictionary.
TextCodec codecFromFiles(const std::string& tokenizerPath, const std::string& vocabPath) {
    std::shared_ptr<const Tokenizer> tok = loadTokenizer(tokenizerPath);
    NodeVocabulary nodes = vocabPath.empty() ? NodeVocabulary::fromTokenizer(*tok) : NodeVocabulary::load(vocabPath);
    if (tok->kind() == TokenizerKind::Char) return TextCodec(std::move(nodes));
    return TextCodec(std::move(nodes), std::move(tok));
}

struct Row {
    std::string name;    // shown in the table
    std::string id;      // JSON name
    int order = 0;       // n-gram order, 0 for the model
    std::string variant; // JSON
    NgramEvaluation eval;
    std::vector<double> discounts;
    double trainSeconds = 0, evalSeconds = 0;
};

} // namespace

int runEval(const Args& args) {
    std::string modelPath, tokenizerPath, vocabPath, baseline, orders = "1,2,3,4";
    std::vector<std::string> corpus, trainCorpus;
    int64_t window = 0, threads = 0, maxWindows = 0;
    bool json = false;
    ArgParser p("brillm eval",
                "The exact held-out loss of a model: every token after the first of each paragraph of the corpus\n"
                "is predicted once, with a softmax over all V nodes, in windows of the training length that overlap\n"
                "by one token (the trainer's cut). Prints tokens, NLL, loss, perplexity and bits per byte (NLL in\n"
                "bits over the UTF-8 bytes of the evaluated paragraphs).\n"
                "With --baseline kn, interpolated Kneser-Ney n-gram models trained on --train-corpus (encoded with\n"
                "the same codec) are evaluated on the same tokens, plus the diagnostic 'uniform unseen' bigram: the\n"
                "KN bigram with every successor a source never had in training given an equal share (the best an\n"
                "edge table whose unseen pairs share one slot can represent). Without --model, --tokenizer gives\n"
                "the codec and only the baselines are computed.");
    p.option("model", &modelPath, "FILE", "the model file (or a sharded model's directory, its shards mapped)");
    p.list("corpus", &corpus, "FILE", "held-out text (repeat for several files)");
    p.option("window", &window, "L", "tokens per window (default: the model's max_seq_length, else 32)");
    p.option("threads", &threads, "N", "worker threads (default: all cores)");
    p.option("max-windows", &maxWindows, "N", "evaluate only the first N windows (default: all)");
    p.option("baseline", &baseline, "kn", "also evaluate Kneser-Ney n-gram baselines");
    p.list("train-corpus", &trainCorpus, "FILE", "--baseline: the text the baselines are trained on (repeatable)");
    p.option("orders", &orders, "LIST", "--baseline: the n-gram orders, 1 to 6 (default {default})");
    p.option("tokenizer", &tokenizerPath, "FILE", "without --model: tokenizer.json or character node dictionary");
    p.option("vocab", &vocabPath, "FILE",
             "with --tokenizer: node dictionary {token: id} (default: the tokenizer's ids)");
    p.flag("json", &json, "print one JSON object");
    p.required("corpus");
    if (!p.parse(args)) return 0;

    const bool withModel = p.given("model");
    const bool withBaselines = p.given("baseline");
    if (withBaselines && baseline != "kn")
        throw UsageError("--baseline must be kn (Kneser-Ney), got '" + baseline + "'");
    if (withBaselines && trainCorpus.empty()) throw UsageError("--baseline kn needs --train-corpus FILE");
    if (!withBaselines && (!trainCorpus.empty() || p.given("orders")))
        throw UsageError("--train-corpus and --orders go with --baseline kn");
    if (withModel && p.given("tokenizer"))
        throw UsageError("--tokenizer is for baselines without a model; with --model its own codec is used");
    if (!withModel && !withBaselines) throw UsageError("give --model, or --baseline kn with --tokenizer");
    if (!withModel && !p.given("tokenizer")) throw UsageError("--baseline kn without --model needs --tokenizer FILE");
    if (p.given("vocab") && !p.given("tokenizer")) throw UsageError("--vocab goes with --tokenizer");
    if (p.given("window") && window < 2) throw UsageError("--window must be at least 2");
    if (threads < 0 || threads > 1024) throw UsageError("--threads must be between 0 and 1024");
    if (maxWindows < 0) throw UsageError("--max-windows must be positive (0: all)");
    std::vector<int> orderList;
    if (withBaselines)
        for (const int64_t n : parseIdList(orders, "orders")) {
            if (n < 1 || n > 6) throw UsageError("--orders: " + std::to_string(n) + " is not an order from 1 to 6");
            if (std::find(orderList.begin(), orderList.end(), static_cast<int>(n)) == orderList.end())
                orderList.push_back(static_cast<int>(n));
        }

    const auto started = Clock::now();
    std::optional<ModelSession> session;
    std::optional<TextCodec> codec;
    if (withModel) {
        session = ModelSession::open(modelPath);
        if (!session->codec)
            throw InputError(modelPath + " carries no vocabulary, so it cannot read text; eval needs a model with one");
        codec = *session->codec;
        if (!p.given("window")) window = trainingWindow(session->loaded.metadata);
    } else {
        codec = codecFromFiles(tokenizerPath, vocabPath);
        if (!p.given("window")) window = 32;
    }
    const int64_t V = codec->vocabSize();
    const int workers =
        threads > 0 ? static_cast<int>(threads) : std::max(1, static_cast<int>(std::thread::hardware_concurrency()));

    ProgressLine progress(json || !::isatty(STDERR_FILENO));
    progress.update("reading the held-out text", 0.0);
    const auto held = readEncodedParagraphs(paths(corpus), *codec, workers);
    if (held.paragraphs.empty())
        throw InputError("the held-out text (" + joined(corpus) + ") has no paragraph of two or more tokens (" +
                         std::to_string(held.paragraphsRead) + " paragraphs read)");
    const auto covered = paragraphsCoveredByWindows(held.paragraphs, window, maxWindows);

    std::optional<CorpusEvalResult> result;
    double modelSeconds = 0;
    if (withModel) {
        CorpusEvalOptions o;
        o.windowLength = window;
        o.threads = workers;
        o.maxWindows = maxWindows;
        const auto t0 = Clock::now();
        o.progress = [&](int64_t done, int64_t total) {
            const double f = total > 0 ? static_cast<double>(done) / static_cast<double>(total) : 1.0;
            const double s = secondsSince(t0);
            const double eta = done > 0 ? s * static_cast<double>(total - done) / static_cast<double>(done) : -1;
            progress.update("scoring window " + std::to_string(done) + " / " + std::to_string(total) + ", " +
                                ProgressLine::duration(s) + " (ETA " + ProgressLine::duration(eta) + ")",
                            f);
            return true;
        };
        result = evaluateCorpus(session->model(), held.paragraphs, o);
        modelSeconds = secondsSince(t0);
    }
    const bool complete =
        result ? result->complete
               : covered.size() == held.paragraphs.size() && covered.back().size() == held.paragraphs.back().size();
    const int64_t bytes = complete ? held.bytes : 0; // bits per byte only for whole paragraphs

    std::vector<Row> rows;
    EncodedCorpus train;
    if (withBaselines) {
        progress.update("reading the training text", 0.0);
        train = readEncodedParagraphs(paths(trainCorpus), *codec, workers);
        if (train.paragraphs.empty())
            throw InputError("the training text (" + joined(trainCorpus) + ") has no paragraph of two or more tokens");
        struct Job {
            int order;
            KneserNeyVariant variant;
        };
        std::vector<Job> jobs;
        for (const int n : orderList)
            jobs.push_back({n, KneserNeyVariant::Interpolated});
        jobs.push_back({2, KneserNeyVariant::UniformUnseen});
        rows.resize(jobs.size());
        // one thread per baseline: each trains and evaluates on its own
        std::vector<std::thread> pool;
        std::vector<std::exception_ptr> failures(jobs.size());
        std::atomic<size_t> next{0};
        const auto work = [&] {
            for (size_t i; (i = next.fetch_add(1)) < jobs.size();) {
                try {
                    Row& r = rows[i];
                    const Job& job = jobs[i];
                    const auto t0 = Clock::now();
                    const KneserNey kn(V, job.order, train.paragraphs, job.variant);
                    r.trainSeconds = secondsSince(t0);
                    const auto t1 = Clock::now();
                    r.eval = kn.evaluate(covered);
                    r.evalSeconds = secondsSince(t1);
                    r.order = job.order;
                    for (int n = 1; n <= job.order; ++n)
                        r.discounts.push_back(kn.discount(n));
                    const bool uniform = job.variant == KneserNeyVariant::UniformUnseen;
                    r.variant = uniform ? "uniform-unseen" : "interpolated";
                    r.id = "kn" + std::to_string(job.order) + (uniform ? "-uniform-unseen" : "");
                    r.name = job.order == 1 ? "KN unigram" : "KN " + std::to_string(job.order) + "-gram";
                    if (uniform) r.name = "KN bigram, uniform unseen";
                } catch (...) {
                    failures[i] = std::current_exception();
                }
            }
        };
        progress.update("training and evaluating " + std::to_string(jobs.size()) + " Kneser-Ney baselines", 0.5);
        const int baselineThreads = std::max(1, std::min(workers, static_cast<int>(jobs.size())));
        for (int t = 1; t < baselineThreads; ++t)
            pool.emplace_back(work);
        work();
        for (auto& t : pool)
            t.join();
        for (const auto& f : failures)
            if (f) std::rethrow_exception(f);
    }
    progress.finish();
    const int64_t predicted = result ? result->tokens : [&] {
        int64_t n = 0;
        for (const auto& s : covered)
            n += static_cast<int64_t>(s.size()) - 1;
        return n;
    }();

    if (json) {
        nlohmann::json out;
        out["corpus"] = corpus;
        out["vocab_size"] = V;
        out["paragraphs"] = held.paragraphs.size();
        out["short_paragraphs"] = held.shortParagraphs;
        out["unknown"] = held.unknown;
        out["bytes"] = held.bytes;
        out["complete"] = complete;
        out["window"] = window;
        out["tokens"] = predicted;
        out["model"] = withModel ? nlohmann::json(modelPath) : nlohmann::json(nullptr);
        out["windows"] = result ? nlohmann::json(result->windows) : nlohmann::json(nullptr);
        out["nll"] = result ? jsonNumber(result->nll) : nlohmann::json(nullptr);
        out["loss"] = result ? jsonNumber(result->loss) : nlohmann::json(nullptr);
        out["perplexity"] = result ? jsonNumber(result->perplexity) : nlohmann::json(nullptr);
        out["bits_per_byte"] = result ? jsonNumber(bitsPerByte(result->nll, bytes)) : nlohmann::json(nullptr);
        out["seconds"] = modelSeconds;
        out["threads"] = workers;
        if (withBaselines) {
            out["train_corpus"] = trainCorpus;
            out["train_paragraphs"] = train.paragraphs.size();
            out["train_tokens"] = train.tokens;
            out["baselines"] = nlohmann::json::array();
            for (const auto& r : rows)
                out["baselines"].push_back({{"name", r.id},
                                            {"kind", "kneser-ney"},
                                            {"order", r.order},
                                            {"variant", r.variant},
                                            {"tokens", r.eval.tokens},
                                            {"nll", jsonNumber(r.eval.nll)},
                                            {"loss", jsonNumber(r.eval.loss())},
                                            {"perplexity", jsonNumber(r.eval.perplexity())},
                                            {"bits_per_byte", jsonNumber(bitsPerByte(r.eval.nll, bytes))},
                                            {"discounts", r.discounts},
                                            {"train_seconds", r.trainSeconds},
                                            {"eval_seconds", r.evalSeconds}});
        }
        out["total_seconds"] = secondsSince(started);
        std::cout << out.dump() << '\n';
        return 0;
    }

    std::printf("held-out      %s: %zu paragraphs (%lld with fewer than two tokens left out), %lld tokens, "
                "%lld bytes, %lld unknown\n",
                joined(corpus).c_str(), held.paragraphs.size(), static_cast<long long>(held.shortParagraphs),
                static_cast<long long>(held.tokens), static_cast<long long>(held.bytes),
                static_cast<long long>(held.unknown));
    if (withBaselines)
        std::printf("training text %s: %zu paragraphs, %lld tokens\n", joined(trainCorpus).c_str(),
                    train.paragraphs.size(), static_cast<long long>(train.tokens));
    if (result)
        std::printf("model         %s: V = %lld, window %lld, %lld windows, %d threads, %.1f s\n", modelPath.c_str(),
                    static_cast<long long>(V), static_cast<long long>(window), static_cast<long long>(result->windows),
                    workers, modelSeconds);
    if (!complete)
        std::printf("note          --max-windows %lld: a prefix of the text is evaluated; no bits per byte\n",
                    static_cast<long long>(maxWindows));
    std::printf("\n%-27s %10s %14s %9s %11s %10s\n", "", "tokens", "NLL (nats)", "loss", "perplexity", "bits/byte");
    const auto line = [&](const std::string& name, int64_t tokens, double nll) {
        const double loss = nll / static_cast<double>(tokens);
        const double bpb = bitsPerByte(nll, bytes);
        char b[32] = "-";
        if (std::isfinite(bpb)) std::snprintf(b, sizeof b, "%.4f", bpb);
        std::printf("%-27s %10lld %14.1f %9.4f %11.2f %10s\n", name.c_str(), static_cast<long long>(tokens), nll, loss,
                    std::exp(loss), b);
    };
    if (result) line("model", result->tokens, result->nll);
    for (const auto& r : rows)
        line(r.name, r.eval.tokens, r.eval.nll);
    if (withBaselines) {
        double trainS = 0, evalS = 0;
        for (const auto& r : rows) {
            trainS += r.trainSeconds;
            evalS += r.evalSeconds;
        }
        std::printf("\nbaselines: %.1f s training, %.1f s evaluating (summed over %zu models); total %.1f s\n", trainS,
                    evalS, rows.size(), secondsSince(started));
    }
    return 0;
}

} // namespace brillm::cli
