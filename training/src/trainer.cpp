// SPDX-License-Identifier: GPL-3.0-or-later
#include "brillm/training/trainer.h"

#include "brillm/io/model_file.h"
#include "brillm/model/corpus_eval.h"
#include "brillm/model/loss.h"
#include "brillm/text/tokenizer.h"
#include "brillm/text/vocabulary.h"
#include "brillm/training/config_check.h"
#include "brillm/training/device_loss.h"
#include "brillm/training/distributed.h"
#include "brillm/training/model_init.h"
#include "brillm/training/optimizer.h"
#include "brillm/training/run_directory.h"
#include "brillm/training/shard.h"
#include "brillm/training/shard_loss.h"
#include "brillm/training/training_data.h"
#include "brillm/version.h"

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cmath>
#include <condition_variable>
#include <deque>
#include <fstream>
#include <limits>
#include <mutex>
#include <sstream>
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

// The peak resident set of this process so far (VmHWM), in MB; 0 where /proc does not say.
double peakResidentMegabytes() {
    std::ifstream status("/proc/self/status");
    std::string line;
    while (std::getline(status, line))
        if (line.rfind("VmHWM:", 0) == 0) return std::atof(line.c_str() + 6) * 1024.0 / 1e6; // kB
    return 0;
}

double wallTime() {
    return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

nlohmann::json finiteOrNull(double v) {
    return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr);
}

// Produces the batches of steps [first, last) on a background thread, a few steps ahead.
class Prefetcher {
public:
    Prefetcher(BatchSource& source, int64_t first, int64_t last, int rank, int worldSize)
        : m_source(source), m_next(first), m_last(last), m_rank(rank), m_worldSize(worldSize) {
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
                auto b = m_source.batch(step, m_rank, m_worldSize);
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
    int m_rank, m_worldSize;
    std::mutex m_mutex;
    std::condition_variable m_cv;
    std::deque<std::vector<LossSample>> m_queue;
    std::exception_ptr m_failure;
    bool m_stop = false;
    std::thread m_thread;
};

std::vector<std::vector<int32_t>> pathsOf(const std::vector<Sequence>& windows) {
    std::vector<std::vector<int32_t>> out;
    out.reserve(windows.size());
    for (const auto& w : windows)
        out.emplace_back(w.ids.begin(), w.ids.begin() + w.length);
    return out;
}

bool parametersFinite(const Model& m) {
    for (const at::Tensor* t : {&m.weights, &m.biases, &m.nodeBias, &m.positions})
        if (!at::isfinite(*t).all().item<bool>()) return false;
    return true;
}

struct Session {
    Clock::time_point started = Clock::now(); // the time budget counts from here
    std::filesystem::path runPath;
    std::optional<RunDirectory> run; // rank 0 (or the single process) only: the one writer
    TrainConfig config;
    TrainingData data;
    Model model;
    ModelMetadata metadata;
    TrainerState state;
    std::optional<AdamW> optimizer;
    Communicator* comm = nullptr;
    // --shard-edges: `model` is this rank's shard (shard.h); the plan and the whole edge table beside it,
    // the layout (shard groups x replicas) and the process groups of this rank's shard group and
    // replica group (null for a single shard or a single replica; the job's group where it is one)
    struct Shard {
        ShardPlan plan;
        EdgeTable globalEdges;
        ShardLayout layout;
        int index = 0;   // this rank's shard
        int replica = 0; // and replica
        std::unique_ptr<Communicator> ownShardGroup, ownReplicaGroup;
        Communicator* shardGroup = nullptr;
        Communicator* replicaGroup = nullptr;
        std::vector<double> work; // each source's work (shardWork): what --shard-balance work balances
    };
    std::optional<Shard> shard;
    at::Device device{at::kCPU};
    Precision precision = Precision::Float32;
    int rank() const { return comm ? comm->rank() : 0; }
    int worldSize() const { return comm ? comm->worldSize() : 1; }
    bool writer() const { return rank() == 0; }
    // sharded: whether this rank writes its shard into checkpoints and the final model (replica 0's ranks)
    bool shardWriter() const { return !shard || shard->replica == 0; }
    const EdgeTable& globalEdges() const { return shard ? shard->globalEdges : model.edges; }
};

// Dynamic loss scaling for float16 (as torch.cuda.amp.GradScaler): halve on overflow, double
// after a run of good steps.
struct LossScaler {
    double scale = 65536.0;
    int64_t goodSteps = 0;
    static constexpr int64_t kGrowthInterval = 2000;
};

// CPU threads of this rank: the config's, or the cores shared among the ranks on this machine.
int threadCount(const TrainConfig& c, const Communicator* comm) {
    if (c.threads > 0) return c.threads;
    const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    return std::max(1, cores / (comm ? std::max(1, comm->env().localWorldSize) : 1));
}

// Every rank must hold the same step and bit-identical parameters; checked at the start, at
// each checkpoint and at the end (one all-gather of a digest: O(parameters) to hash).
// Sharded, the replicated parts (the shared slot, node_bias, positions) are compared.
// In the 2-D layout the ranks holding the same shard (its replicas) must also hold the same rows.
uint64_t checkReplicas(Communicator& comm, const Session& s, const std::string& when) {
    Model replicated = s.model;
    if (s.shard) {
        replicated.weights = s.model.weights.narrow(0, 0, 1);
        replicated.biases = s.model.biases.narrow(0, 0, 1);
    }
    const uint64_t digest = parameterDigest(replicated);
    if (s.shard && s.shard->layout.replicas > 1) {
        at::Tensor shardDigest = at::empty({2}, at::kLong);
        shardDigest.data_ptr<int64_t>()[0] = s.shard->index;
        shardDigest.data_ptr<int64_t>()[1] = static_cast<int64_t>(parameterDigest(s.model));
        const at::Tensor all = comm.allGather(shardDigest, "replica check of the shards");
        const int64_t* a = all.data_ptr<int64_t>();
        for (int r = 0; r < comm.worldSize(); ++r)
            for (int q = 0; q < r; ++q)
                if (a[2 * r] == a[2 * q] && a[2 * r + 1] != a[2 * q + 1])
                    throw TrainingError("rank " + std::to_string(comm.rank()) + ": the replicas of shard " +
                                        std::to_string(a[2 * r]) + " differ " + when + " (ranks " + std::to_string(q) +
                                        " and " + std::to_string(r) + " hold different rows)");
    }
    at::Tensor mine = at::empty({6}, at::kLong);
    int64_t* p = mine.data_ptr<int64_t>();
    p[0] = s.state.step;
    p[1] = s.state.optimizerSteps;
    p[2] = s.model.vocabSize();
    p[3] = s.globalEdges().numSlots();
    p[4] = s.model.dim();
    p[5] = static_cast<int64_t>(digest);
    const at::Tensor all = comm.allGather(mine, "replica check");
    const int64_t* a = all.data_ptr<int64_t>();
    const auto describe = [&](int r) {
        const int64_t* q = a + r * 6;
        char buf[200];
        std::snprintf(buf, sizeof buf, "rank %d: step %lld, V=%lld, %lld slots, d=%lld, digest %016llx", r,
                      static_cast<long long>(q[0]), static_cast<long long>(q[2]), static_cast<long long>(q[3]),
                      static_cast<long long>(q[4]), static_cast<unsigned long long>(q[5]));
        return std::string(buf);
    };
    for (int r = 1; r < comm.worldSize(); ++r)
        if (!std::equal(a, a + 6, a + r * 6))
            throw TrainingError("rank " + std::to_string(comm.rank()) + ": the ranks' models differ " + when + " (" +
                                describe(0) + "; " + describe(r) +
                                "): every rank needs the same corpus, settings and checkpoint");
    return digest;
}

// Runs a stage on every rank; a rank that fails makes all of them stop (no rank is left waiting
// in a collective for one that gave up).
template <class F> void setupStage(Communicator* comm, const std::string& stage, F&& f) {
    if (!comm) {
        f();
        return;
    }
    std::exception_ptr failure;
    try {
        f();
    } catch (...) {
        failure = std::current_exception();
    }
    comm->agree(failure, stage);
}

// The training loop of one session, split by what it does: the step's loss and gradients
// (single process, data parallel or sharded), the update, the statistics and metrics, the
// validation and held-out evaluations, checkpoints, and the collective stop decision.
class RunLoop {
public:
    RunLoop(Session& session, const TrainCallbacks& callbacks)
        : s(session), c(session.config), cb(callbacks), source(session.data, c, &session.globalEdges()),
          heldOut(source.heldOutPaths(c.evalSamples)), threads(threadCount(c, session.comm)), R(session.worldSize()),
          rank(session.rank()), comm(session.comm), validation(pathsOf(session.data.validation)) {}

    TrainResult run();

private:
    struct StepOutcome {
        const SparseGradients* grad = nullptr;
        int64_t samples = 0;
        int64_t tokens = 0;
        int64_t localEdges = 0;
        int64_t localRows = 0;
    };
    void log(const std::string& msg) const {
        if (cb.onLog) cb.onLog(msg);
    }
    StepOutcome computeStep(const std::vector<LossSample>& batch, StepReport& r);
    void update(StepReport& r, const SparseGradients& grad);
    nlohmann::json rankStatistics(StepReport& r, const StepOutcome& o, double dt, double memoryMb);
    void writeStepMetrics(const StepReport& r, nlohmann::json ranks, double memoryMb);
    bool decide(const StepReport& r, bool& dueByTime, bool& budgetReached);
    double shardedExactLoss(const std::vector<std::vector<int32_t>>& paths, int64_t* edgesOut);
    void validate(const StepReport& r, bool final);
    void restoreBest(const StepReport& r);
    void evaluate(StepReport& r);
    void checkpoint();
    void saveFinalModel();
    bool parametersFiniteEverywhere();

    Session& s;
    const TrainConfig& c;
    const TrainCallbacks& cb;
    BatchSource source;
    std::vector<std::vector<int32_t>> heldOut;
    const int threads;
    const int R, rank;
    Communicator* comm;
    TrainResult result;
    Clock::time_point sessionStart = Clock::now(), lastCheckpoint = Clock::now();
    double stepTimeEma = 0, sessionElapsedBase = 0;
    LossWorkspace workspace;
    LossScaler scaler;
    DeviceLossWorkspace deviceWorkspace;
    std::optional<GradientExchange> exchange;
    std::optional<ReplicaExchange> replicaExchange; // sharded with several replicas
    LossResult loss;                                // single process and data parallel
    ShardedLossResult shardLoss;                    // sharded
    // The validation windows (held back from the training text): their exact loss at each evaluation,
    // and at the end the parameters that predicted them best (the start included) are kept. Every
    // rank computes the same numbers on the same model, so they agree without a collective.
    std::vector<std::vector<int32_t>> validation;
    double bestValidation = std::numeric_limits<double>::infinity();
    int64_t bestStep = 0;
    Model best;
    bool restorePending = false;
    double lastValidation = 0;
};

// The exact loss (over all V targets) of paths with the sharded table: every rank of a shard group
// scores all of its replica's paths (q, q + replicas, ...), each edge on the owner of its source;
// the replicas' sums are added in replica order (the same numbers on every rank).
double RunLoop::shardedExactLoss(const std::vector<std::vector<int32_t>>& paths, int64_t* edgesOut) {
    const auto& sh = *s.shard;
    std::vector<LossSample> samples;
    for (size_t k = static_cast<size_t>(sh.replica); k < paths.size(); k += static_cast<size_t>(sh.layout.replicas))
        if (paths[k].size() >= 2) samples.push_back(LossSample::exactCandidates(paths[k], sh.globalEdges));
    double nll = 0;
    int64_t edges = 0;
    if (!samples.empty()) {
        // where the step is the ATen one (a GPU), so is the evaluation: the shard stays on its device
        const auto e =
            atenShardStep(s.model)
                ? atenShardedLoss(s.model, sh.plan, sh.index, samples, /*withGradients=*/false, sh.shardGroup,
                                  &deviceWorkspace)
                : shardedLoss(s.model, sh.plan, sh.index, samples, /*withGradients=*/false, threads, sh.shardGroup);
        for (double v : e.sampleNll)
            nll += v;
        edges = e.edges;
    }
    if (sh.replicaGroup) {
        at::Tensor mine = at::empty({2}, at::kDouble);
        mine.data_ptr<double>()[0] = nll;
        mine.data_ptr<double>()[1] = static_cast<double>(edges);
        const at::Tensor all = sh.replicaGroup->allGather(mine, "exact loss of the replicas");
        nll = 0;
        edges = 0;
        for (int q = 0; q < sh.layout.replicas; ++q) {
            nll += all[q][0].item<double>();
            edges += static_cast<int64_t>(all[q][1].item<double>());
        }
    }
    if (edgesOut) *edgesOut = edges;
    return edges > 0 ? nll / static_cast<double>(edges) : 0.0;
}

void RunLoop::validate(const StepReport& r, bool final) {
    if (validation.empty()) return;
    const double v = s.shard ? shardedExactLoss(validation, nullptr)
                             : windowsLoss(s.model.toDevice(at::Device(at::kCPU)), validation, threads);
    if (s.writer())
        s.run->appendMetrics(nlohmann::json{
            {"type", "validation"},
            {"step", r.step},
            {"time", wallTime()},
            {"loss", finiteOrNull(v)},
            {"ppl", finiteOrNull(std::exp(v))},
            {"windows",
             validation.size()}}.dump());
    if (v < bestValidation) {
        bestValidation = v;
        bestStep = r.step;
        // kept in host memory: on a GPU a second copy of the parameters would take device memory
        if (!final) best = s.model.weights.is_cpu() ? s.model.clone() : s.model.toDevice(at::Device(at::kCPU));
    } else if (final && best.weights.defined()) {
        restorePending = true;
        lastValidation = v;
    }
}

// After the final checkpoint (which keeps the trajectory, so that a resume continues it exactly):
// the parameters that predicted the validation windows best go into the final model.
void RunLoop::restoreBest(const StepReport& r) {
    if (!restorePending) return;
    restorePending = false;
    for (auto [to, from] : {std::pair{&s.model.weights, &best.weights},
                            {&s.model.biases, &best.biases},
                            {&s.model.nodeBias, &best.nodeBias},
                            {&s.model.positions, &best.positions}})
        to->copy_(*from);
    log("the model keeps the parameters of step " + std::to_string(bestStep) + ": validation loss " +
        std::to_string(bestValidation) + " against " + std::to_string(lastValidation) + " at step " +
        std::to_string(r.step));
    if (s.writer())
        s.run->appendMetrics(nlohmann::json{
            {"type", "restore"},
            {"step", r.step},
            {"time", wallTime()},
            {"from_step", bestStep},
            {"validation_loss",
             bestValidation}}.dump());
}

// The exact held-out loss (over all V candidates), written to the metrics: rank q evaluates
// windows q, q + R, ... on this rank's threads and the sums are all-reduced; sharded, the ranks
// evaluate every window together.
void RunLoop::evaluate(StepReport& r) {
    double total = 0;
    int64_t edges = 0;
    if (s.shard) {
        total = shardedExactLoss(heldOut, &edges) * static_cast<double>(edges);
    } else {
        const Model evalModel = s.model.toDevice(at::Device(at::kCPU)); // the exact loss runs on the host
        std::vector<std::vector<int32_t>> mine;
        for (size_t i = static_cast<size_t>(rank); i < heldOut.size(); i += static_cast<size_t>(R))
            mine.push_back(heldOut[i]);
        if (!mine.empty()) {
            CorpusEvalOptions o;
            o.windowLength = c.maxSeqLength; // each held-out window is evaluated whole
            o.threads = threads;
            const auto e = evaluateCorpus(evalModel, mine, o);
            total = e.nll;
            edges = e.tokens;
        }
        if (comm) {
            at::Tensor sums = at::empty({2}, at::kDouble);
            sums.data_ptr<double>()[0] = total;
            sums.data_ptr<double>()[1] = static_cast<double>(edges);
            comm->allReduceSum(sums, "held-out loss");
            total = sums.data_ptr<double>()[0];
            edges = static_cast<int64_t>(sums.data_ptr<double>()[1]);
        }
    }
    r.evalLoss = total / static_cast<double>(edges);
    result.lastEvalLoss = r.evalLoss;
    if (s.writer())
        s.run->appendMetrics(nlohmann::json{
            {"type", "eval"},
            {"step", r.step},
            {"time", wallTime()},
            {"loss", finiteOrNull(*r.evalLoss)},
            {"ppl", finiteOrNull(std::exp(*r.evalLoss))},
            {"sequences", heldOut.size()},
            {"edges", edges}}.dump());
}

// Identical on every rank unsharded; a shard's rows are its own, so the ranks agree on it.
bool RunLoop::parametersFiniteEverywhere() {
    bool finite = parametersFinite(s.model);
    if (s.shard && comm) {
        at::Tensor bad = at::full({1}, finite ? 0 : 1, at::kInt);
        comm->allReduceSum(bad, "parameter check");
        finite = bad.item<int>() == 0;
    }
    return finite;
}

void RunLoop::checkpoint() {
    if (!parametersFiniteEverywhere())
        throw TrainingError("the parameters hold NaN or Inf at step " + std::to_string(s.state.step) +
                            "; no checkpoint is written over the last good one");
    if (comm) result.parameterDigest = checkReplicas(*comm, s, "at step " + std::to_string(s.state.step));
    s.state.elapsedSeconds += std::chrono::duration<double>(Clock::now() - lastCheckpoint).count();
    lastCheckpoint = Clock::now();
    std::filesystem::path dir;
    if (s.shard) { // every rank writes its shard into the writer's staging directory
        s.state.shards = s.shard->plan.parts();
        const auto staging = RunDirectory::checkpointStaging(s.runPath, s.state.step);
        setupStage(comm, "preparing the checkpoint", [&] {
            if (s.writer()) s.run->prepareCheckpoint(s.state.step);
        });
        setupStage(comm, "writing the checkpoint shards", [&] {
            if (!s.shardWriter()) return; // replica 0 writes the shards; the others hold the same
            const auto state = s.optimizer->state();
            saveShard(staging, s.shard->index, s.shard->plan, s.model, s.metadata, &state);
        });
        setupStage(comm, "committing the checkpoint", [&] {
            if (!s.writer()) return;
            writeShardManifest(staging, s.shard->plan, s.shard->globalEdges, s.model.dim());
            dir = s.run->commitCheckpoint(s.state, c.keepCheckpoints);
        });
        if (!s.writer()) return;
    } else {
        if (!s.writer()) return;
        dir = s.run->saveCheckpoint(s.model, s.metadata, *s.optimizer, s.state, c.keepCheckpoints);
    }
    s.run->appendMetrics(
        nlohmann::json{{"type", "checkpoint"}, {"step", s.state.step}, {"time", wallTime()}, {"path", dir.string()}}
            .dump());
    log("checkpoint " + dir.string());
}

void RunLoop::saveFinalModel() {
    if (!s.shard) {
        if (s.writer()) s.run->saveFinalModel(s.model, s.metadata);
        return;
    }
    const auto dir = RunDirectory::shardedModelDirectory(s.runPath);
    setupStage(comm, "preparing the sharded model", [&] {
        if (!s.writer()) return;
        s.run->noteWritten();
        std::filesystem::remove_all(dir);
        std::filesystem::create_directories(dir);
    });
    setupStage(comm, "writing the model shards", [&] {
        if (s.shardWriter()) saveShard(dir, s.shard->index, s.shard->plan, s.model, s.metadata, /*optimizer=*/nullptr);
    });
    setupStage(comm, "writing the shard manifest", [&] {
        if (s.writer()) writeShardManifest(dir, s.shard->plan, s.shard->globalEdges, s.model.dim());
    });
}

// The batch's loss and the gradients every rank applies: one process; data parallel (this rank's
// share, then the sparse exchange); or sharded (the whole global batch per edge index).
RunLoop::StepOutcome RunLoop::computeStep(const std::vector<LossSample>& batch, StepReport& r) {
    StepOutcome o;
    for (const auto& b : batch)
        o.tokens += b.numEdges() + 1;
    o.samples = static_cast<int64_t>(batch.size());
    if (s.shard) {
        const auto& sh = *s.shard;
        shardLoss = shardedReplicaLoss(s.model, sh.plan, sh.index, batch, threads, sh.shardGroup,
                                       replicaExchange ? &*replicaExchange : nullptr, &deviceWorkspace);
        if (replicaExchange) o.samples = shardLoss.globalSamples;
        o.grad = &shardLoss.grad;
        o.localEdges = shardLoss.localEdges;
        o.localRows = shardLoss.localRows;
        r.loss = shardLoss.loss;
        r.gradNorm = shardLoss.gradNorm;
        r.exchangeBytes = shardLoss.bytesSent + shardLoss.replicaBytesSent;
        const auto& m = s.model;
        r.denseBytes = static_cast<uint64_t>(s.shard->globalEdges.numSlots() * (m.dim() * m.dim() + m.dim()) +
                                             m.nodeBias.numel() + m.positions.numel()) *
                       static_cast<uint64_t>(m.weights.element_size());
        return o;
    }
    // a rank whose share of the batch has no trained edge contributes nothing (single process: an error)
    loss = LossResult{};
    if (!comm || !batch.empty()) {
        if (s.device.is_cpu())
            loss = sampledLoss(s.model, batch, LossOptions{true, threads}, &workspace);
        else
            loss = deviceSampledLoss(s.model, batch, DeviceLossOptions{s.precision, scaler.scale, &deviceWorkspace});
    }
    o.grad = &loss.grad;
    r.loss = loss.loss;
    if (comm) {
        double lossSum = 0;
        for (double l : loss.sampleLosses)
            lossSum += l;
        o.grad = &exchange->exchange(s.model, loss.grad, o.samples, lossSum);
        const auto& st = exchange->stats();
        o.samples = st.globalSamples;
        r.loss = st.globalLossSum / static_cast<double>(st.globalSamples);
        r.exchangeBytes = st.exchangeBytes;
        r.denseBytes = st.denseBytes;
    }
    r.gradNorm = gradientNorm(*o.grad);
    return o;
}

// The optimizer step, or a skipped step (non-finite loss or gradient; a float16 overflow lowers the scale).
void RunLoop::update(StepReport& r, const SparseGradients& grad) {
    r.perplexity = std::exp(r.loss);
    r.skipped = !std::isfinite(r.loss) || !std::isfinite(r.gradNorm);
    const bool fp16 = s.precision == Precision::Float16;
    if (fp16 && r.skipped && std::isfinite(r.loss)) {
        // a float16 overflow of the scaled gradients, not a diverging run: smaller scale, retry
        scaler.scale /= 2;
        scaler.goodSteps = 0;
        log("step " + std::to_string(s.state.step + 1) + ": float16 gradient overflow, step skipped; loss scale now " +
            std::to_string(scaler.scale));
    } else if (r.skipped) {
        ++s.state.nonFiniteTotal;
        ++s.state.nonFiniteStreak;
        log("step " + std::to_string(s.state.step + 1) + ": non-finite loss or gradient, step skipped (" +
            std::to_string(s.state.nonFiniteStreak) + " in a row)");
    } else {
        const double scale = c.clipNorm > 0 && r.gradNorm > c.clipNorm ? c.clipNorm / r.gradNorm : 1.0;
        s.optimizer->step(s.model, grad, r.learningRate, scale);
        s.state.optimizerSteps = s.optimizer->steps();
        s.state.nonFiniteStreak = 0;
        if (fp16 && ++scaler.goodSteps >= LossScaler::kGrowthInterval) {
            scaler.scale *= 2;
            scaler.goodSteps = 0;
        }
    }
    ++s.state.step;
    r.step = s.state.step;
}

// Every rank's throughput and memory (and, sharded, its edge table), for rank 0's metrics line.
nlohmann::json RunLoop::rankStatistics(StepReport& r, const StepOutcome& o, double dt, double memoryMb) {
    nlohmann::json ranks = nlohmann::json::array();
    if (!comm) return ranks;
    constexpr int kFields = 9;
    at::Tensor mine = at::empty({kFields}, at::kDouble);
    double* p = mine.data_ptr<double>();
    // sharded: every rank drives the whole batch; its share is the edges whose candidates it evaluated
    p[0] = s.shard ? static_cast<double>(o.samples) / R : static_cast<double>(o.samples);
    p[1] = s.shard ? static_cast<double>(o.localEdges) : static_cast<double>(o.tokens);
    p[2] = dt;
    p[3] = memoryMb;
    p[4] = static_cast<double>(edgeTableBytes(s.model));
    p[5] = static_cast<double>(r.exchangeBytes);
    p[6] = static_cast<double>(s.shard ? shardLoss.replicaBytesSent : 0);
    p[7] = peakResidentMegabytes();
    p[8] = static_cast<double>(o.localRows);
    const at::Tensor all = comm->allGather(mine, "step statistics");
    const double* a = all.data_ptr<double>();
    double globalTokens = 0;
    for (int q = 0; q < R; ++q) {
        const double* e = a + q * kFields;
        nlohmann::json one = {
            {"rank", q}, {"samples_per_s", e[0] / e[2]}, {"memory_mb", e[3]}, {"peak_memory_mb", e[7]}};
        if (s.shard) {
            one["edges_per_s"] = e[1] / e[2];
            one["candidate_rows"] = static_cast<int64_t>(e[8]); // the step's candidates it evaluated: its work
            one["edge_table_bytes"] = static_cast<uint64_t>(e[4]);
            one["exchange_bytes"] = static_cast<uint64_t>(e[5]);
            if (s.shard->layout.replicas > 1) {
                one["shard"] = s.shard->layout.shardOf(q);
                one["replica"] = s.shard->layout.replicaOf(q);
                one["replica_exchange_bytes"] = static_cast<uint64_t>(e[6]);
            }
        } else {
            one["tokens_per_s"] = e[1] / e[2];
            globalTokens += e[1];
        }
        ranks.push_back(std::move(one));
    }
    if (!s.shard) r.tokensPerSecond = globalTokens / dt; // the global batch over this rank's step time, like samples
    return ranks;
}

void RunLoop::writeStepMetrics(const StepReport& r, nlohmann::json ranks, double memoryMb) {
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
                        {"memory_mb", memoryMb},
                        {"skipped", r.skipped}};
    if (r.skipped) m["non_finite"] = std::isnan(r.loss) || std::isnan(r.gradNorm) ? "nan" : "inf";
    if (!s.device.is_cpu()) {
        m["device"] = s.device.str();
        m["precision"] = toString(s.precision);
        m["gpu_memory_mb"] = deviceMemoryMegabytes(s.device);
        if (s.precision == Precision::Float16) m["loss_scale"] = scaler.scale;
    }
    if (comm) {
        m["world_size"] = R;
        m["ranks"] = std::move(ranks);
        m["exchange_bytes"] = r.exchangeBytes;
        m["dense_bytes"] = r.denseBytes;
        if (exchange) m["touched_slots"] = exchange->stats().unionSlots;
    }
    if (s.shard) {
        m["shards"] = s.shard->plan.parts();
        m["replicas"] = s.shard->layout.replicas;
        m["edge_table_bytes"] = edgeTableBytes(s.model);
        if (replicaExchange) m["touched_slots"] = shardLoss.touchedSlots;
    }
    if (s.writer()) s.run->appendMetrics(m.dump());
}

// One decision for all ranks: any rank's stop, rank 0's clocks. Returns the stop request.
bool RunLoop::decide(const StepReport& r, bool& dueByTime, bool& budgetReached) {
    bool stop = cb.onStep && !cb.onStep(r);
    const bool overBudget =
        c.maxMinutes > 0 && std::chrono::duration<double>(Clock::now() - s.started).count() >= 60 * c.maxMinutes;
    dueByTime = c.checkpointMinutes > 0 &&
                std::chrono::duration<double>(Clock::now() - lastCheckpoint).count() >= 60 * c.checkpointMinutes;
    budgetReached = overBudget;
    if (comm) {
        at::Tensor flags = at::empty({3}, at::kInt);
        flags.data_ptr<int>()[0] = stop ? 1 : 0;
        flags.data_ptr<int>()[1] = dueByTime && rank == 0 ? 1 : 0;
        flags.data_ptr<int>()[2] = overBudget && rank == 0 ? 1 : 0;
        comm->allReduceSum(flags, "stop and checkpoint decision");
        stop = flags.data_ptr<int>()[0] > 0;
        dueByTime = flags.data_ptr<int>()[1] > 0;
        budgetReached = flags.data_ptr<int>()[2] > 0;
    }
    budgetReached = budgetReached && !stop && r.step < c.steps;
    return stop;
}

TrainResult RunLoop::run() {
    result.modelPath = s.shard ? RunDirectory::shardedModelDirectory(s.runPath) : s.runPath / "model.brillm";
    s.state.worldSize = R;
    if (comm) result.parameterDigest = checkReplicas(*comm, s, "at the start");
    if (s.state.step >= c.steps) {
        log("the run already has " + std::to_string(s.state.step) + " of " + std::to_string(c.steps) + " steps");
        saveFinalModel();
        return result;
    }
    // sharded: every rank prepares its replica's whole part of the global batch (it drives every sample)
    Prefetcher prefetch(source, s.state.step, c.steps, s.shard ? s.shard->replica : rank,
                        s.shard ? s.shard->layout.replicas : R);
    if (s.precision != Precision::Float16) scaler.scale = 1.0;
    if (comm && !s.shard) exchange.emplace(*comm);
    if (s.shard && s.shard->replicaGroup) replicaExchange.emplace(*s.shard->replicaGroup);
    bestStep = s.state.step;
    sessionElapsedBase = s.state.elapsedSeconds;
    if (!validation.empty()) {
        StepReport start;
        start.step = s.state.step;
        validate(start, /*final=*/false);
    }

    while (s.state.step < c.steps) {
        const auto t0 = Clock::now();
        if (comm) comm->setStep(s.state.step + 1);
        const auto batch = prefetch.pop();
        StepReport r;
        r.totalSteps = c.steps;
        r.worldSize = R;
        r.learningRate = learningRate(c, s.state.step);
        const StepOutcome o = computeStep(batch, r);
        update(r, *o.grad);
        const double dt = std::chrono::duration<double>(Clock::now() - t0).count();
        stepTimeEma = stepTimeEma == 0 ? dt : 0.9 * stepTimeEma + 0.1 * dt;
        r.samplesPerSecond = static_cast<double>(o.samples) / dt;
        r.tokensPerSecond = static_cast<double>(o.tokens) / dt;
        const double memoryMb = residentMegabytes();
        auto ranks = rankStatistics(r, o, dt, memoryMb);
        r.elapsedSeconds = sessionElapsedBase + std::chrono::duration<double>(Clock::now() - sessionStart).count();
        r.etaSeconds = stepTimeEma * static_cast<double>(c.steps - s.state.step);
        result.losses.push_back(r.skipped ? std::nan("") : r.loss);
        result.lastLoss = r.loss;
        writeStepMetrics(r, std::move(ranks), memoryMb);

        const bool last = r.step == c.steps;
        if (c.evalEvery > 0 && r.step % c.evalEvery == 0 && !last) {
            validate(r, /*final=*/false);
            if (!heldOut.empty()) evaluate(r);
        }
        if (s.state.nonFiniteStreak >= c.maxNonFinite)
            throw TrainingError("stopping: " + std::to_string(s.state.nonFiniteStreak) +
                                " steps in a row had a non-finite loss or gradient (step " + std::to_string(r.step) +
                                "); try a lower learning rate or --clip-norm. The last checkpoint is intact.");
        bool dueByTime = false, budgetReached = false;
        const bool stop = decide(r, dueByTime, budgetReached);
        const bool end = last || stop || budgetReached;
        if (end) validate(r, /*final=*/true);
        const bool due = (c.checkpointEvery > 0 && r.step % c.checkpointEvery == 0) || dueByTime;
        if (due || end) checkpoint();
        if (end) { // the best parameters into the final model, then their held-out loss
            restoreBest(r);
            if (c.evalEvery > 0 && !heldOut.empty()) evaluate(r);
        }
        if (budgetReached) {
            result.budgetReached = true;
            log("the time budget of " + std::to_string(c.maxMinutes) + " minutes is reached at step " +
                std::to_string(r.step));
            break;
        }
        if (stop) {
            result.stoppedEarly = true;
            log("stopped at step " + std::to_string(r.step));
            break;
        }
    }
    result.steps = s.state.step;
    saveFinalModel();
    return result;
}

TrainResult runLoop(Session& s, const TrainCallbacks& cb) {
    RunLoop loop(s, cb);
    return loop.run();
}

// --shard-balance work: how far above an equal share of the own slots a shard may grow
constexpr double kShardMemorySlack = 0.25;

// --shard-edges: the layout of this session's ranks, the plan for its shard count and this rank's
// place in them (the model is sharded by the caller).
void planShards(Session& s, const EdgeTable& global) {
    Session::Shard sh;
    sh.layout = ShardLayout::of(s.worldSize(), s.config.shards);
    sh.work = shardWork(s.data.bigrams, global, s.config.loss, s.config.negatives);
    sh.plan = s.config.shardBalance == ShardBalance::Work
                  ? ShardPlan::balancedByWork(global, sh.layout.shards, sh.work, kShardMemorySlack)
                  : ShardPlan::balanced(global, sh.layout.shards);
    sh.globalEdges = global;
    sh.index = sh.layout.shardOf(s.rank());
    sh.replica = sh.layout.replicaOf(s.rank());
    s.shard = std::move(sh);
}

// The whole model is built first (the initialisation is not sharded), then this rank keeps its rows.
void shardSession(Session& s, const EdgeTable& global) {
    planShards(s, global);
    s.model = shardModel(s.model, s.shard->plan.begin(s.shard->index), s.shard->plan.end(s.shard->index));
}

// The process groups of the 2-D layout, once every rank has set up: a shard group per replica (its
// consecutive ranks) and a replica group per shard (the ranks `shards` apart). With one replica the
// shard group is the job's group; with one shard there is no shard group and the replica group is
// the job's.
void connectShardGroups(Session& s) {
    if (!s.shard || !s.comm) return;
    auto& sh = *s.shard;
    const int S = sh.layout.shards, Q = sh.layout.replicas;
    if (S > 1 && Q > 1) {
        std::vector<int> group, replicas;
        for (int k = 0; k < S; ++k)
            group.push_back(sh.replica * S + k);
        for (int q = 0; q < Q; ++q)
            replicas.push_back(q * S + sh.index);
        sh.ownShardGroup = s.comm->subgroup(group, "shard group of replica " + std::to_string(sh.replica));
        sh.ownReplicaGroup = s.comm->subgroup(replicas, "replica group of shard " + std::to_string(sh.index));
    }
    sh.shardGroup = S == 1 ? nullptr : Q == 1 ? s.comm : sh.ownShardGroup.get();
    sh.replicaGroup = Q == 1 ? nullptr : S == 1 ? s.comm : sh.ownReplicaGroup.get();
}

// The session's device and precision from the config; the model moves there (before the
// optimizer's moments are made, so that they live beside it).
void placeOnDevice(Session& s, const TrainConfig& c, bool moveModel = true) {
    s.device = parseTrainingDevice(c.device);
    s.precision = precisionFromString(c.precision);
    if (s.precision != Precision::Float32 && !s.device.is_cuda())
        throw InputError(std::string("--precision ") + toString(s.precision) + " needs --device cuda (CUDA autocast)");
    if (s.comm && s.comm->options().backend == "nccl") {
        // NCCL: every rank trains on the GPU its collectives run on (cuda:LOCAL_RANK)
        if (!s.device.is_cuda())
            throw InputError("the nccl backend trains on the GPU: give --device cuda (each rank uses cuda:LOCAL_RANK), "
                             "or --dist-backend gloo to train on the CPU");
        if (!s.device.has_index())
            s.device = s.comm->device();
        else if (s.device != s.comm->device())
            throw InputError("--device " + s.device.str() + " is not the GPU of this rank's NCCL process group (" +
                             s.comm->device().str() + ")");
    } else if (s.comm && !s.device.is_cpu()) {
        throw InputError(std::string("data-parallel training on GPUs needs --dist-backend nccl") +
                         (ncclAvailable()
                              ? ""
                              : ", which this build of the trainer lacks (build against a CUDA LibTorch with NCCL)") +
                         "; the gloo backend trains on the CPU (--device cpu)");
    }
    if (moveModel) s.model = s.model.toDevice(s.device);
}

AdamWSettings settingsOf(const TrainConfig& c, const Communicator* comm) {
    AdamWSettings a;
    a.kind = c.optimizer;
    a.beta1 = c.beta1;
    a.beta2 = c.beta2;
    a.eps = c.eps;
    a.weightDecay = c.weightDecay;
    a.threads = threadCount(c, comm);
    return a;
}

void checkConfig(const TrainConfig& c, const Communicator* comm) {
    validateTrainConfig(c); // every range; what depends on the ranks follows
    if (comm && !c.shardEdges && c.batchSize < comm->worldSize())
        throw InputError("the batch of " + std::to_string(c.batchSize) + " sequences is smaller than the " +
                         std::to_string(comm->worldSize()) +
                         " ranks: each rank trains every R-th sequence of the global batch");
    if (c.shards > 0 && !c.shardEdges) throw InputError("--shards needs --shard-edges");
    if (comm && c.shardEdges) {
        const auto layout = ShardLayout::of(comm->worldSize(), c.shards);
        if (c.batchSize < layout.replicas)
            throw InputError("the batch of " + std::to_string(c.batchSize) + " sequences is smaller than the " +
                             std::to_string(layout.replicas) +
                             " replicas: each replica trains every Q-th sequence of the global batch");
    }
}

nlohmann::json provenance(const TrainConfig& c, const TrainingData& d) {
    return {{"trainer", "brillm train"},
            {"brillm_version", versionString()},
            {"corpus", c.corpus},
            {"paragraphs", d.paragraphs},
            {"tokens", d.tokens},
            {"train_sequences", d.train.size()},
            {"held_out_sequences", d.heldOut.size()},
            {"max_seq_length", c.maxSeqLength},
            {"recipe", c.recipe},
            {"loss", toString(c.loss)},
            {"init", toString(c.init)},
            {"negatives", c.negatives},
            {"negative_mode", toString(c.negativeMode)},
            {"optimizer", toString(c.optimizer)},
            {"min_count", c.minCount},
            {"seed", c.seed}};
}

// "shards by memory: own slots 25/25/25/25%, work 44/22/18/16%" for the log: each shard's share of
// the table's rows and of the candidates the loss evaluates (from the training text)
std::string planText(const Session& s) {
    const auto& sh = *s.shard;
    const auto& rowPtr = sh.globalEdges.rowPtr();
    double totalWork = 0;
    for (const double w : sh.work)
        totalWork += w;
    std::ostringstream slots, work;
    for (int r = 0; r < sh.plan.parts(); ++r) {
        const int64_t b = sh.plan.begin(r), e = sh.plan.end(r);
        double w = 0;
        for (int64_t k = b; k < e; ++k)
            w += sh.work[static_cast<size_t>(k)];
        const auto own = static_cast<double>(rowPtr[static_cast<size_t>(e)] - rowPtr[static_cast<size_t>(b)]);
        const auto numOwn = static_cast<double>(std::max<int64_t>(1, sh.globalEdges.numOwn()));
        slots << (r > 0 ? "/" : "") << std::lround(100 * own / numOwn);
        work << (r > 0 ? "/" : "") << std::lround(totalWork > 0 ? 100 * w / totalWork : 0);
    }
    std::ostringstream out;
    out << "shards by " << toString(s.config.shardBalance) << ": own slots " << slots.str() << "%, work " << work.str()
        << "% (--shard-balance memory|work)";
    return out.str();
}

// " (2 shards x 2 replicas)" for the 2-D layout, else ""
std::string layoutText(const Session& s) {
    if (!s.shard || s.shard->layout.replicas == 1) return "";
    const int S = s.shard->layout.shards;
    return " (" + std::to_string(S) + (S == 1 ? " shard x " : " shards x ") + std::to_string(s.shard->layout.replicas) +
           " replicas)";
}

BigramInitOptions bigramOptions(const TrainConfig& config) {
    BigramInitOptions o;
    o.noise = config.initScale;
    o.positionSlope = config.positionSlope;
    o.positionsUsed = config.maxSeqLength;
    o.seed = config.seed;
    o.contextCode = config.contextCode;
    return o;
}

// "bigram init with the trigram correction at scale ... in N s" (`init`: null for the random init;
// `shard`: a sharded init)
void logInit(const TrainCallbacks& cb, const TrainConfig& config, const ValidatedInit* init,
             const Session::Shard* shard, Clock::time_point t0) {
    if (!cb.onLog) return;
    std::string msg = init ? "bigram init" : "random init";
    if (init && config.contextCode > 0) {
        char buf[64];
        msg += " with the trigram correction at scale " + std::to_string(init->contextScale).substr(0, 4) +
               " (exact loss on the validation windows by scale, 0 without source codes:";
        for (const auto& [scale, loss] : init->validationLoss) {
            if (scale < 0)
                std::snprintf(buf, sizeof buf, "; without codes %.4f", loss);
            else
                std::snprintf(buf, sizeof buf, " %.2f: %.4f", scale, loss);
            msg += buf;
        }
        msg += ")";
    }
    if (shard)
        msg += " of this rank's shard (sources " + std::to_string(shard->plan.begin(shard->index)) + " to " +
               std::to_string(shard->plan.end(shard->index)) + ")";
    cb.onLog(msg + " in " + std::to_string(std::chrono::duration<double>(Clock::now() - t0).count()).substr(0, 5) +
             " s");
}

} // namespace

TrainResult train(const TrainConfig& config, const std::filesystem::path& runDir, const TrainCallbacks& cb,
                  Communicator* comm) {
    Session s;
    s.runPath = runDir;
    s.config = config;
    s.comm = comm;
    bool shardedBigramInit = false;
    // a run that fails before its first step leaves no directory behind (a rerun can use --out again)
    try {
        setupStage(comm, "setting up the run", [&] {
            checkConfig(config, comm);
            if (s.writer()) s.run.emplace(RunDirectory::create(runDir, config));
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
            validateAgainstVocabulary(config, s.data.vocabSize());
            if (init) {
                s.model = init->model.toDtype(at::kFloat);
                s.metadata = init->metadata;
            } else {
                const int64_t V = s.data.vocabSize();
                auto edges = s.data.bigrams.toEdgeTable(config.minCount);
                if (config.shardEdges) { // each rank builds only the rows of its sources
                    planShards(s, edges);
                    if (config.init == InitKind::Bigram) {
                        shardedBigramInit = true; // once the shard groups exist (it may score candidates with them)
                    } else {
                        const auto t0 = Clock::now();
                        const int64_t b = s.shard->plan.begin(s.shard->index), e = s.shard->plan.end(s.shard->index);
                        s.model = randomInitShard({V, config.dim, 512}, edges, config.seed, b, e);
                        logInit(cb, config, nullptr, &*s.shard, t0);
                    }
                } else if (config.init == InitKind::Bigram) {
                    const auto t0 = Clock::now();
                    auto init = validatedInit(s.data.bigrams, pathsOf(s.data.train), pathsOf(s.data.validation), edges,
                                              {V, config.dim, 512}, bigramOptions(config), threadCount(config, comm));
                    s.model = std::move(init.model);
                    logInit(cb, config, &init, nullptr, t0);
                } else {
                    s.model = Model::randomInit({V, config.dim, 512}, std::move(edges), config.seed);
                }
                s.metadata.vocabulary = s.data.codec->vocabulary().tokens();
                s.metadata.tokenizerKind = s.data.tokenizerKind;
                s.metadata.tokenizerJson = s.data.tokenizerJson;
            }
            s.metadata.provenanceJson = provenance(config, s.data).dump();
            if (config.shardEdges && !s.shard) shardSession(s, s.model.edges);
            placeOnDevice(s, config, /*moveModel=*/!shardedBigramInit);
            if (!shardedBigramInit) s.optimizer.emplace(s.model, settingsOf(config, comm));
        });
        connectShardGroups(s);
        if (shardedBigramInit) {
            // the bigram init of this rank's shard; the trigram correction's scale chosen by the sharded exact
            // loss on the validation windows, every rank of the shard group scoring the candidates together
            const auto t0 = Clock::now();
            const auto& sh = *s.shard;
            auto init = validatedInitShard(s.data.bigrams, pathsOf(s.data.train), pathsOf(s.data.validation),
                                           sh.globalEdges, {s.data.vocabSize(), config.dim, 512}, bigramOptions(config),
                                           threadCount(config, comm), sh.plan, sh.index, sh.shardGroup);
            s.model = init.model.toDevice(s.device);
            logInit(cb, config, &init, &*s.shard, t0);
            s.optimizer.emplace(s.model, settingsOf(config, comm));
        }
        if (cb.onLog)
            cb.onLog("data: " + std::to_string(s.data.tokens) + " tokens, " + std::to_string(s.data.train.size()) +
                     " training and " + std::to_string(s.data.heldOut.size()) +
                     " held-out sequences; model: V=" + std::to_string(s.model.vocabSize()) + ", " +
                     std::to_string(s.model.edges.numOwn()) + " own edges, d=" + std::to_string(s.model.dim()) +
                     (comm ? "; " + std::to_string(comm->worldSize()) + " ranks" + layoutText(s) : ""));
        if (cb.onLog && s.shard && s.shard->plan.parts() > 1) cb.onLog(planText(s));
        return runLoop(s, cb);
    } catch (...) {
        if (s.run) s.run->abandonIfNew();
        throw;
    }
}

TrainResult resume(const std::filesystem::path& runDir, std::optional<int64_t> steps, const TrainCallbacks& cb,
                   Communicator* comm) {
    ResumeOverrides o;
    o.steps = steps;
    return resume(runDir, o, cb, comm);
}

TrainResult resume(const std::filesystem::path& runDir, const ResumeOverrides& overrides, const TrainCallbacks& cb,
                   Communicator* comm) {
    const auto& steps = overrides.steps;
    Session s;
    s.runPath = runDir;
    s.comm = comm;
    std::filesystem::path latest;
    int previousWorldSize = 1;
    setupStage(comm, "loading the run to resume", [&] {
        auto run = RunDirectory::open(runDir, /*writable=*/s.writer());
        TrainConfig config = run.config();
        if (steps) config.steps = *steps;
        config.maxMinutes = overrides.maxMinutes.value_or(0); // a budget is for the session that was given it
        if (overrides.device) config.device = *overrides.device;
        if (overrides.precision) config.precision = *overrides.precision;
        if (overrides.threads) config.threads = *overrides.threads; // a property of the machine, not of the run
        if (overrides.shards) {
            if (!config.shardEdges)
                throw InputError("--shards needs a run trained with --shard-edges; " + runDir.string() + " is not");
            config.shards = *overrides.shards;
        }
        checkConfig(config, comm);
        const auto found = run.latestCheckpoint();
        if (!found) throw InputError("'" + runDir.string() + "' has no checkpoint to resume from yet");
        latest = *found;
        LoadedCheckpoint ck;
        std::optional<ShardSet> shards;
        if (config.shardEdges) { // each rank reads the rows of its sources, whatever rank count wrote them
            ck.state = run.loadState(latest);
            if (ck.state.shards <= 0)
                throw InputError(latest.string() +
                                 " is not a sharded checkpoint, but the run trains with --shard-edges");
            shards.emplace(ShardSet::open(latest));
            ck.model.metadata = shards->metadata();
            ck.model.model.config = shards->config();
        } else {
            ck = run.loadCheckpoint(latest);
        }
        s.config = config;
        s.state = ck.state;
        previousWorldSize = ck.state.worldSize;
        auto codec =
            std::make_shared<TextCodec>(TextCodec::fromMetadata(ck.model.metadata, ck.model.model.vocabSize()));
        s.data = prepareTrainingData(config, cb.onPrepare, codec);
        s.data.tokenizerJson = ck.model.metadata.tokenizerJson;
        s.data.tokenizerKind = ck.model.metadata.tokenizerKind;
        s.metadata = ck.model.metadata;
        if (shards) {
            planShards(s, shards->edges());
            const int64_t b = s.shard->plan.begin(s.shard->index), e = s.shard->plan.end(s.shard->index);
            s.model = shards->rows(b, e);
            ck.optimizer = optimizerRows(*shards, b, e);
        } else {
            s.model = std::move(ck.model.model);
        }
        placeOnDevice(s, config);
        s.optimizer.emplace(s.model, settingsOf(config, comm));
        s.optimizer->loadState(ck.optimizer, ck.state.optimizerSteps);
        if (s.writer()) s.run.emplace(std::move(run));
    });
    connectShardGroups(s);
    if (cb.onLog) {
        std::string msg = "resuming " + runDir.string() + " from " + latest.string();
        if (previousWorldSize != s.worldSize())
            msg += " (written by " + std::to_string(previousWorldSize) + " rank" + (previousWorldSize == 1 ? "" : "s") +
                   ", continued by " + std::to_string(s.worldSize()) + layoutText(s) + ")";
        cb.onLog(msg);
        if (s.shard && s.shard->plan.parts() > 1) cb.onLog(planText(s));
    }
    return runLoop(s, cb);
}

} // namespace brillm::training
