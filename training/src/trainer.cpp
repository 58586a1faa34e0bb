// SPDX-License-Identifier: GPL-3.0-or-later
#include "brillm/training/trainer.h"

#include "brillm/loss.h"
#include "brillm/model_file.h"
#include "brillm/tokenizer.h"
#include "brillm/vocabulary.h"
#include "brillm/training/optimizer.h"
#include "brillm/training/run_directory.h"
#include "brillm/training/training_data.h"

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cmath>
#include <condition_variable>
#include <deque>
#include <fstream>
#include <mutex>
#include <thread>
#include <unistd.h>

namespace brillm::training {

namespace {

using Clock = std::chrono::steady_clock;

double residentMegabytes() {
    std::ifstream statm("/proc/self/statm");
    long pages = 0, resident = 0;
    if (!(statm >> pages >> resident)) return 0;
    return static_cast<double>(resident) * static_cast<double>(sysconf(_SC_PAGESIZE)) / 1e6;
}

double wallTime() {
    return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

nlohmann::json finiteOrNull(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); }

// Produces the batches of steps [first, last) on a background thread, a few steps ahead.
class Prefetcher {
public:
    Prefetcher(BatchSource& source, int64_t first, int64_t last) : m_source(source), m_next(first), m_last(last) {
        m_thread = std::thread([this] { run(); });
    }
    ~Prefetcher() {
        {
            std::lock_guard lock(m_mutex);
            m_stop = true;
        }
        m_cv.notify_all();
        m_thread.join();
    }
    std::vector<LossSample> pop() {
        std::unique_lock lock(m_mutex);
        m_cv.wait(lock, [&] { return !m_queue.empty() || m_failure; });
        if (m_queue.empty()) std::rethrow_exception(m_failure);
        auto b = std::move(m_queue.front());
        m_queue.pop_front();
        m_cv.notify_all();
        return b;
    }

private:
    void run() {
        try {
            for (int64_t step = m_next; step < m_last; ++step) {
                auto b = m_source.batch(step);
                std::unique_lock lock(m_mutex);
                m_cv.wait(lock, [&] { return m_queue.size() < kDepth || m_stop; });
                if (m_stop) return;
                m_queue.push_back(std::move(b));
                m_cv.notify_all();
            }
        } catch (...) {
            std::lock_guard lock(m_mutex);
            m_failure = std::current_exception();
            m_cv.notify_all();
        }
    }
    static constexpr size_t kDepth = 3;
    BatchSource& m_source;
    int64_t m_next, m_last;
    std::mutex m_mutex;
    std::condition_variable m_cv;
    std::deque<std::vector<LossSample>> m_queue;
    std::exception_ptr m_failure;
    bool m_stop = false;
    std::thread m_thread;
};

bool parametersFinite(const Model& m) {
    for (const at::Tensor* t : {&m.weights, &m.biases, &m.nodeBias, &m.positions})
        if (!at::isfinite(*t).all().item<bool>()) return false;
    return true;
}

struct Session {
    RunDirectory run;
    TrainConfig config;
    TrainingData data;
    Model model;
    ModelMetadata metadata;
    TrainerState state;
    std::optional<AdamW> optimizer;
};

TrainResult runLoop(Session& s, const TrainCallbacks& cb) {
    const TrainConfig& c = s.config;
    const auto log = [&](const std::string& msg) {
        if (cb.onLog) cb.onLog(msg);
    };
    BatchSource source(s.data, c);
    const auto heldOut = source.heldOutPaths(c.evalSamples);
    const int threads = c.threads > 0 ? c.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    TrainResult result;
    result.modelPath = s.run.path() / "model.brillm";
    if (s.state.step >= c.steps) {
        log("the run already has " + std::to_string(s.state.step) + " of " + std::to_string(c.steps) + " steps");
        s.run.saveFinalModel(s.model, s.metadata);
        return result;
    }

    const auto sessionStart = Clock::now();
    auto lastCheckpoint = Clock::now();
    double stepTimeEma = 0;
    Prefetcher prefetch(source, s.state.step, c.steps);
    LossWorkspace workspace;
    auto checkpoint = [&] {
        if (!parametersFinite(s.model))
            throw TrainingError("the parameters hold NaN or Inf at step " + std::to_string(s.state.step) +
                                "; no checkpoint is written over the last good one");
        s.state.elapsedSeconds += std::chrono::duration<double>(Clock::now() - lastCheckpoint).count();
        lastCheckpoint = Clock::now();
        const auto dir = s.run.saveCheckpoint(s.model, s.metadata, *s.optimizer, s.state, c.keepCheckpoints);
        s.run.appendMetrics(nlohmann::json{{"type", "checkpoint"}, {"step", s.state.step}, {"time", wallTime()},
                                           {"path", dir.string()}}
                                .dump());
        log("checkpoint " + dir.string());
    };
    const double sessionElapsedBase = s.state.elapsedSeconds;

    while (s.state.step < c.steps) {
        const auto t0 = Clock::now();
        const auto batch = prefetch.pop();
        StepReport r;
        r.totalSteps = c.steps;
        r.learningRate = learningRate(c, s.state.step);
        int64_t tokens = 0;
        for (const auto& b : batch) tokens += b.numEdges() + 1;
        const auto loss = sampledLoss(s.model, batch, LossOptions{true, threads}, &workspace);
        r.loss = loss.loss;
        r.perplexity = std::exp(loss.loss);
        r.gradNorm = gradientNorm(loss.grad);
        r.skipped = !std::isfinite(r.loss) || !std::isfinite(r.gradNorm);
        if (r.skipped) {
            ++s.state.nonFiniteTotal;
            ++s.state.nonFiniteStreak;
            log("step " + std::to_string(s.state.step + 1) + ": non-finite loss or gradient, step skipped (" +
                std::to_string(s.state.nonFiniteStreak) + " in a row)");
        } else {
            const double scale = c.clipNorm > 0 && r.gradNorm > c.clipNorm ? c.clipNorm / r.gradNorm : 1.0;
            s.optimizer->step(s.model, loss.grad, r.learningRate, scale);
            s.state.optimizerSteps = s.optimizer->steps();
            s.state.nonFiniteStreak = 0;
        }
        ++s.state.step;
        r.step = s.state.step;
        const double dt = std::chrono::duration<double>(Clock::now() - t0).count();
        stepTimeEma = stepTimeEma == 0 ? dt : 0.9 * stepTimeEma + 0.1 * dt;
        r.samplesPerSecond = static_cast<double>(batch.size()) / dt;
        r.tokensPerSecond = static_cast<double>(tokens) / dt;
        r.elapsedSeconds = sessionElapsedBase + std::chrono::duration<double>(Clock::now() - sessionStart).count();
        r.etaSeconds = stepTimeEma * static_cast<double>(c.steps - s.state.step);
        result.losses.push_back(r.skipped ? std::nan("") : r.loss);
        result.lastLoss = r.loss;

        nlohmann::json m = {{"type", "step"},
                            {"step", r.step},
                            {"time", wallTime()},
                            {"elapsed", r.elapsedSeconds},
                            {"loss", finiteOrNull(r.loss)},
                            {"ppl", finiteOrNull(r.perplexity)},
                            {"lr", r.learningRate},
                            {"grad_norm", finiteOrNull(r.gradNorm)},
                            {"samples_per_s", r.samplesPerSecond},
                            {"tokens_per_s", r.tokensPerSecond},
                            {"memory_mb", residentMegabytes()},
                            {"skipped", r.skipped}};
        if (r.skipped) m["non_finite"] = std::isnan(r.loss) || std::isnan(r.gradNorm) ? "nan" : "inf";
        s.run.appendMetrics(m.dump());

        if (c.evalEvery > 0 && !heldOut.empty() && (r.step % c.evalEvery == 0 || r.step == c.steps)) {
            double total = 0;
            int64_t edges = 0;
            for (const auto& path : heldOut) {
                const auto ex = exactLoss(s.model, path);
                total += ex.loss * static_cast<double>(ex.edgeLosses.size());
                edges += static_cast<int64_t>(ex.edgeLosses.size());
            }
            r.evalLoss = total / static_cast<double>(edges);
            result.lastEvalLoss = r.evalLoss;
            s.run.appendMetrics(nlohmann::json{{"type", "eval"},
                                               {"step", r.step},
                                               {"time", wallTime()},
                                               {"loss", finiteOrNull(*r.evalLoss)},
                                               {"ppl", finiteOrNull(std::exp(*r.evalLoss))},
                                               {"sequences", heldOut.size()},
                                               {"edges", edges}}
                                    .dump());
        }
        if (s.state.nonFiniteStreak >= c.maxNonFinite)
            throw TrainingError("stopping: " + std::to_string(s.state.nonFiniteStreak) +
                                " steps in a row had a non-finite loss or gradient (step " + std::to_string(r.step) +
                                "); try a lower learning rate or --clip-norm. The last checkpoint is intact.");

        bool stop = cb.onStep && !cb.onStep(r);
        const bool due = (c.checkpointEvery > 0 && r.step % c.checkpointEvery == 0) ||
                         (c.checkpointMinutes > 0 &&
                          std::chrono::duration<double>(Clock::now() - lastCheckpoint).count() >= 60 * c.checkpointMinutes);
        if (due || stop || r.step == c.steps) checkpoint();
        if (stop) {
            result.stoppedEarly = true;
            log("stopped at step " + std::to_string(r.step));
            break;
        }
    }
    result.steps = s.state.step;
    s.run.saveFinalModel(s.model, s.metadata);
    return result;
}

AdamWSettings settingsOf(const TrainConfig& c) {
    AdamWSettings a;
    a.kind = c.optimizer;
    a.beta1 = c.beta1;
    a.beta2 = c.beta2;
    a.eps = c.eps;
    a.weightDecay = c.weightDecay;
    a.threads = c.threads;
    return a;
}

void checkConfig(const TrainConfig& c) {
    if (c.steps < 1) throw InputError("steps must be at least 1");
    if (c.batchSize < 1) throw InputError("batch size must be at least 1");
    if (c.negatives < 1) throw InputError("negatives must be at least 1");
    if (c.dim < 2 || c.dim % 2) throw InputError("the dimension d must be even and at least 2");
    if (!(c.lr > 0)) throw InputError("the learning rate must be positive");
    if (c.maxSeqLength < 2 || c.maxSeqLength > 512) throw InputError("max_seq_length must be in [2, 512]");
    if (c.maxNonFinite < 1) throw InputError("max_non_finite must be at least 1");
}

nlohmann::json provenance(const TrainConfig& c, const TrainingData& d) {
    return {{"trainer", "brillm train"},
            {"corpus", c.corpus},
            {"paragraphs", d.paragraphs},
            {"tokens", d.tokens},
            {"train_sequences", d.train.size()},
            {"held_out_sequences", d.heldOut.size()},
            {"max_seq_length", c.maxSeqLength},
            {"negatives", c.negatives},
            {"negative_mode", toString(c.negativeMode)},
            {"optimizer", toString(c.optimizer)},
            {"min_count", c.minCount},
            {"seed", c.seed}};
}

} // namespace

TrainResult train(const TrainConfig& config, const std::filesystem::path& runDir, const TrainCallbacks& cb) {
    checkConfig(config);
    Session s{RunDirectory::create(runDir, config), config, {}, {}, {}, {}, std::nullopt};
    std::shared_ptr<const TextCodec> codec;
    std::optional<LoadedModel> init;
    if (!config.initModel.empty()) {
        init = ModelFile::load(config.initModel);
        codec = std::make_shared<TextCodec>(TextCodec::fromMetadata(init->metadata, init->model.vocabSize()));
        if (!config.tokenizer.empty()) {
            const auto given = NodeVocabulary::fromTokenizer(*loadTokenizer(config.tokenizer));
            if (given.tokens() != codec->vocabulary().tokens())
                throw InputError("the tokenizer " + config.tokenizer + " (" + std::to_string(given.size()) +
                                 " tokens) does not match the vocabulary of " + config.initModel + " (" +
                                 std::to_string(codec->vocabSize()) + " nodes)");
        }
    }
    s.data = prepareTrainingData(config, cb.onPrepare, codec);
    if (init) {
        s.model = init->model.toDtype(at::kFloat);
        s.metadata = init->metadata;
    } else {
        const int64_t V = s.data.vocabSize();
        s.model = Model::randomInit({V, config.dim, 512}, s.data.bigrams.toEdgeTable(config.minCount), config.seed);
        s.metadata.vocabulary = s.data.codec->vocabulary().tokens();
        s.metadata.tokenizerKind = s.data.tokenizerKind;
        s.metadata.tokenizerJson = s.data.tokenizerJson;
    }
    s.metadata.provenanceJson = provenance(config, s.data).dump();
    s.optimizer.emplace(s.model, settingsOf(config));
    if (cb.onLog)
        cb.onLog("data: " + std::to_string(s.data.tokens) + " tokens, " + std::to_string(s.data.train.size()) +
                 " training and " + std::to_string(s.data.heldOut.size()) + " held-out sequences; model: V=" +
                 std::to_string(s.model.vocabSize()) + ", " + std::to_string(s.model.edges.numOwn()) + " own edges, d=" +
                 std::to_string(s.model.dim()));
    return runLoop(s, cb);
}

TrainResult resume(const std::filesystem::path& runDir, std::optional<int64_t> steps, const TrainCallbacks& cb) {
    auto run = RunDirectory::open(runDir);
    TrainConfig config = run.config();
    if (steps) config.steps = *steps;
    checkConfig(config);
    const auto latest = run.latestCheckpoint();
    if (!latest) throw InputError("'" + runDir.string() + "' has no checkpoint to resume from yet");
    auto ck = run.loadCheckpoint(*latest);
    Session s{std::move(run), config, {}, {}, {}, ck.state, std::nullopt};
    auto codec = std::make_shared<TextCodec>(TextCodec::fromMetadata(ck.model.metadata, ck.model.model.vocabSize()));
    s.data = prepareTrainingData(config, cb.onPrepare, codec);
    s.data.tokenizerJson = ck.model.metadata.tokenizerJson;
    s.data.tokenizerKind = ck.model.metadata.tokenizerKind;
    s.model = std::move(ck.model.model);
    s.metadata = ck.model.metadata;
    s.optimizer.emplace(s.model, settingsOf(config));
    s.optimizer->loadState(ck.optimizer, ck.state.optimizerSteps);
    if (cb.onLog) cb.onLog("resuming " + runDir.string() + " from " + latest->string());
    return runLoop(s, cb);
}

} // namespace brillm::training
