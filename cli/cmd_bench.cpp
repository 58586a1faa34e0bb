// SPDX-License-Identifier: GPL-3.0-or-later
// brillm bench decode | train | distributed: the core's speed on synthetic sparse models, next to
// the reference's approach in plain LibTorch and the memory floor measured in the same run. The
// baselines, workloads and the bandwidth probe live in bench/baselines (brillm_bench); this file
// is the harness: options, timing, the report.
#include "args.h"
#include "commands.h"

#include "baselines/plain_decode.h"
#include "baselines/plain_trainer.h"
#include "baselines/synthetic.h"
#include "brillm/error.h"
#include "brillm/io/checkpoint_dtype.h"
#include "brillm/model/decode.h"
#include "brillm/model/device_edges.h"
#include "brillm/model/loss.h"
#include "brillm/model/signal.h"
#include "brillm/model/vector_target.h"
#ifdef BRILLM_WITH_TRAINING
#include "launcher.h"

#include "brillm/training/device_loss.h"
#include "brillm/training/distributed.h"
#include "brillm/training/optimizer.h"
#endif

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <sstream>
#include <thread>

namespace brillm::cli {

namespace {

using Clock = std::chrono::steady_clock;
using bench::measureReadBandwidth;
using bench::syntheticTable;

double seconds(Clock::time_point a, Clock::time_point b) {
    return std::chrono::duration<double>(b - a).count();
}

std::vector<std::string> splitList(const std::string& text) {
    std::vector<std::string> out;
    std::stringstream in(text);
    for (std::string item; std::getline(in, item, ',');)
        if (!item.empty()) out.push_back(item);
    return out;
}

// --target: "best" (default), "all" (every target this build and CPU have), or a list.
std::vector<std::string> parseTargets(const std::string& text) {
    if (text.empty() || text == "best") return {vectorTargets().front()};
    if (text == "all") return vectorTargets();
    const auto known = vectorTargets();
    std::vector<std::string> out;
    for (const auto& t : splitList(text)) {
        setVectorTarget(t); // throws for an unknown or unsupported target
        out.push_back(activeVectorTarget());
    }
    setVectorTarget("best");
    return out;
}

// --dtype for decoding: f32, bf16, f16 or a list; "all" = f32,bf16,f16.
std::vector<StorageDtype> parseDecodeDtypes(const std::string& text) {
    std::vector<StorageDtype> out;
    for (const auto& t : splitList(text == "all" ? "f32,bf16,f16" : text)) {
        const auto dt = parseFloatDtype(t);
        if (!dt || *dt == StorageDtype::F64) throw UsageError("--dtype: '" + t + "' is not one of f32, bf16, f16");
        out.push_back(*dt);
    }
    if (out.empty()) throw UsageError("--dtype needs at least one of f32, bf16, f16");
    return out;
}

at::ScalarType scalarOf(StorageDtype dt) {
    return dt == StorageDtype::BF16 ? at::kBFloat16 : dt == StorageDtype::F16 ? at::kHalf : at::kFloat;
}

int benchDecode(const Args& args) {
    int64_t V = 4000, E = 200000, dim = 32, runTokens = 32, minTokens = 20000, plainTokens = 128, rounds = 1;
    uint64_t seed = 1;
    std::string targetText = "best", dtypeText = "f32", deviceText = "cpu";
    bool json = false;
    ArgParser p("brillm bench decode",
                "Greedy decoding speed (tokens/s, one thread) on a synthetic model with random own edges,\n"
                "next to the reference's approach in plain LibTorch (gather every candidate's matrix, bmm,\n"
                "GELU, norm, argmax, under no_grad) and the memory floor: the bytes a token must read over\n"
                "the read bandwidth measured in the same run. Each vector target and parameter dtype asked\n"
                "for is measured on the same model and the same start nodes.");
    p.option("vocab", &V, "V", "number of nodes (default {default})");
    p.option("own-edges", &E, "E", "own (non-shared) edges (default {default})");
    p.option("dim", &dim, "D", "signal dimension d (default {default})");
    p.option("run-tokens", &runTokens, "N", "tokens per decode from a random start node (default {default})");
    p.option("tokens", &minTokens, "N", "tokens to decode in total per measurement (default {default})");
    p.option("plain-tokens", &plainTokens, "N", "tokens per round for the plain LibTorch version (default {default})");
    p.option("target", &targetText, "T",
             "vector target(s) (default {default}): best, all, or a list such as AVX3,AVX2,SSE4");
    p.option("dtype", &dtypeText, "DT", "parameter dtype(s) (default {default}): f32, bf16, f16, a list, or all");
    p.option("device", &deviceText, "DEV",
             "where the candidates are scored (default {default}): cpu (the vector kernels), or cuda / cuda:N\n"
             "(ATen on the GPU, DeviceEdges; the floor is then the GPU's read bandwidth)");
    p.option(
        "rounds", &rounds, "R",
        "measure every combination and the plain version R times, interleaved; the best is kept (default {default})");
    p.option("seed", &seed, "S", "seed of the synthetic model (default {default})");
    p.flag("json", &json, "print one JSON object");
    if (!p.parse(args)) return 0;
    if (V < 2 || E < 0 || dim < 2 || dim % 2 || runTokens < 1 || minTokens < 1 || plainTokens < 1 || rounds < 1)
        throw UsageError("need --vocab >= 2, --own-edges >= 0, an even --dim >= 2 and positive token counts");
    const auto targets = parseTargets(targetText);
    const auto dtypes = parseDecodeDtypes(dtypeText);
    const c10::Device device = parseComputeDevice(deviceText);
    if (device.is_cuda() && p.given("target"))
        throw UsageError("--target chooses the CPU's vector unit; with --device " + deviceText +
                         " the candidates are scored on the GPU");

    const auto tBuild = Clock::now();
    auto table = syntheticTable(V, E, seed);
    const auto tTable = Clock::now();
    const Model model = Model::randomInit({V, dim, 512}, std::move(table), seed);
    const auto tModel = Clock::now();
    if (!json)
        std::cerr << "synthetic model: V=" << V << " own edges=" << E << " d=" << dim << " ("
                  << static_cast<double>(model.weights.numel()) * 4 / 1e6
                  << " MB of float32 weights); edge table built in " << seconds(tBuild, tTable) << " s\n";
    std::map<StorageDtype, Model> models;
    std::map<StorageDtype, std::shared_ptr<const DeviceEdges>> onDevice;
    for (auto dt : dtypes) {
        models.emplace(dt, dt == StorageDtype::F32 ? model : model.toDtype(scalarOf(dt)));
        if (device.is_cuda()) onDevice.emplace(dt, std::make_shared<const DeviceEdges>(models.at(dt), device));
    }
    const auto readBandwidth = [&] {
        return device.is_cuda() ? bench::measureDeviceReadBandwidth(device, size_t{1} << 30)
                                : measureReadBandwidth(size_t{1} << 29);
    };

    double bandwidth = readBandwidth();

    // ours: greedy decoding without dense traces, single thread, the same start nodes for every
    // combination; the best of `rounds` interleaved measurements
    DecodeOptions o;
    o.maxNewTokens = runTokens;
    o.recordTrace = false;
    struct Result {
        std::string target;
        StorageDtype dtype;
        double tokensPerSecond = 0;
        int64_t tokens = 0;
        double bytesPerToken = 0;
        bool matchesPlain = false;
    };
    std::vector<Result> results;
    for (const auto& t : targets)
        for (auto dt : dtypes)
            results.push_back({t, dt});
    // the reference's approach (float32) is measured in every round too, after ours, and its best
    // kept as well: its speed varies more than ours between runs (it allocates and fills a
    // V x d x d gather every token), and the ratio should not depend on catching it on a bad round
    const int32_t start = static_cast<int32_t>((seed * 2654435761u) % static_cast<uint64_t>(V));
    double plainTps = 0;
    for (int64_t round = 0; round < rounds; ++round) {
        for (auto& r : results) {
            setVectorTarget(r.target);
            const Model& m = models.at(r.dtype);
            o.device = device.is_cuda() ? onDevice.at(r.dtype) : nullptr;
            const double edgeBytes = static_cast<double>(dim * dim + dim) * static_cast<double>(elementSize(r.dtype));
            std::mt19937_64 rng(seed + 7);
            std::uniform_int_distribution<int32_t> node(0, static_cast<int32_t>(V) - 1);
            decode(m, std::vector<int32_t>{node(rng)}, o); // warm-up
            int64_t produced = 0;
            double bytes = 0;
            const auto t0 = Clock::now();
            while (produced < minTokens) {
                const auto trace = decode(m, std::vector<int32_t>{node(rng)}, o);
                for (const auto& s : trace.steps) {
                    bytes +=
                        edgeBytes * static_cast<double>(m.edges.ownCount(s.source) + (s.sharedCandidates > 0 ? 1 : 0));
                    ++produced;
                }
            }
            const double tps = static_cast<double>(produced) / seconds(t0, Clock::now());
            if (tps > r.tokensPerSecond) {
                r.tokensPerSecond = tps;
                r.tokens = produced;
                r.bytesPerToken = bytes / static_cast<double>(produced);
            }
        }
        plainTps = std::max(plainTps, bench::plainLibTorchDecode(model, start, plainTokens).tokensPerSecond);
    }

    // the reference's approach on the same values (widened to float32), once per dtype: every
    // combination's tokens checked against it from one start node
    std::map<StorageDtype, bench::PlainDecode> plain;
    for (auto dt : dtypes)
        plain.emplace(dt, bench::plainLibTorchDecode(models.at(dt).toDtype(at::kFloat), start, plainTokens));
    DecodeOptions check;
    check.maxNewTokens = plainTokens;
    check.recordTrace = false;
    bool allAgree = true;
    for (auto& r : results) {
        setVectorTarget(r.target);
        check.device = device.is_cuda() ? onDevice.at(r.dtype) : nullptr;
        r.matchesPlain =
            decode(models.at(r.dtype), std::vector<int32_t>{start}, check).tokens == plain.at(r.dtype).tokens;
        allAgree = allAgree && r.matchesPlain;
    }
    setVectorTarget("best");
    bandwidth = std::max(bandwidth, readBandwidth());
    const double plainFloorTps = bandwidth / (static_cast<double>(dim * dim + dim) * 4 * static_cast<double>(V));

    nlohmann::json rows = nlohmann::json::array();
    for (const auto& r : results) {
        const double floorTps = bandwidth / r.bytesPerToken;
        rows.push_back({{"target", r.target},
                        {"dtype", shortName(r.dtype)},
                        {"tokens", r.tokens},
                        {"tokens_per_s", r.tokensPerSecond},
                        {"bytes_per_token", r.bytesPerToken},
                        {"memory_floor_tokens_per_s", floorTps},
                        {"fraction_of_floor", r.tokensPerSecond / floorTps},
                        {"speedup_vs_plain", r.tokensPerSecond / plainTps},
                        {"plain_matches_ours", r.matchesPlain}});
    }
    nlohmann::json j = {
        {"benchmark", "decode"},
        {"vocab", V},
        {"own_edges", E},
        {"dim", dim},
        {"threads", 1},
        {"device", device.str()},
        {"run_tokens", runTokens},
        {"rounds", rounds},
        {"read_bandwidth_gb_s", bandwidth / 1e9},
        {"plain_libtorch_tokens_per_s", plainTps},
        {"plain_libtorch_threads", at::get_num_threads()},
        {"plain_libtorch_memory_floor_tokens_per_s", plainFloorTps},
        {"model_init_s", seconds(tTable, tModel)},
        {"edge_table_build_s", seconds(tBuild, tTable)},
        {"results", rows},
    };
    if (json) {
        std::cout << j.dump() << '\n';
        return allAgree ? 0 : 1;
    }
    std::cout << "decode, V=" << V << ", " << E << " own edges, d=" << dim << ", 1 thread, scored on " << device.str()
              << "; read bandwidth " << bandwidth / 1e9 << " GB/s\n"
              << "  plain LibTorch: " << plainTps << " tokens/s (" << at::get_num_threads() << " threads)\n";
    for (const auto& r : results) {
        const double floorTps = bandwidth / r.bytesPerToken;
        std::cout << "  " << r.target << " " << shortName(r.dtype) << ": " << r.tokensPerSecond << " tokens/s, "
                  << r.bytesPerToken / 1e3 << " kB per token, " << 100 * r.tokensPerSecond / floorTps
                  << "% of the memory floor (" << floorTps << "), " << r.tokensPerSecond / plainTps
                  << "x plain; same tokens: " << (r.matchesPlain ? "yes" : "NO") << "\n";
    }
    return allAgree ? 0 : 1;
}

#ifdef BRILLM_WITH_TRAINING
// ---- bench train ----------------------------------------------------------------------------

using bench::PlainTrainer;
using bench::syntheticBatch;
using bench::TrainBatch;

int benchTrain(const Args& args) {
    int64_t V = 1000, E = 100000, batch = 8, len = 32, k = 400, steps = 8, plainSteps = 1, dim = 32, threads = 0;
    uint64_t seed = 1;
    std::string optimizer = "adamw", deviceText = "cpu", precisionText = "fp32", target = "best";
    bool json = false;
    ArgParser p("brillm bench train",
                "Training speed (samples/s) of one AdamW step on a synthetic model: our sparse loss and\n"
                "optimizer next to a plain LibTorch autograd version of the same step (gathered matrices,\n"
                "dense gradients) and the memory floor of the optimizer's traffic.");
    p.option("vocab", &V, "V", "nodes (default {default})");
    p.option("own-edges", &E, "E", "own edges (default {default})");
    p.option("batch", &batch, "B", "samples per step (default {default})");
    p.option("seq-len", &len, "L", "tokens per sample (default {default})");
    p.option("negatives", &k, "K", "negatives per edge (default {default})");
    p.option("optimizer", &optimizer, "adamw|sparse-adamw", "optimizer (default {default})");
    p.option("steps", &steps, "N", "measured steps (default {default})");
    p.option("plain-steps", &plainSteps, "N", "steps of the plain LibTorch version (default {default}; 0 skips it)");
    p.option("dim", &dim, "D", "signal dimension (default {default})");
    p.option("threads", &threads, "N", "threads (default: all cores)");
    p.option("target", &target, "T", "vector target of the CPU loss (default: the best this CPU has)");
    p.option("seed", &seed, "S", "seed (default {default})");
    p.option("device", &deviceText, "DEV", "cpu (default) or cuda: the GPU step (ATen + autograd, no plain version)");
    p.option("precision", &precisionText, "P", "fp32 (default), bf16 or fp16 (CUDA autocast)");
    p.flag("json", &json, "print one JSON object");
    if (!p.parse(args)) return 0;
    if (V < 2 || E < 0 || batch < 1 || len < 2 || k < 1 || steps < 1)
        throw UsageError("need --vocab >= 2, --batch >= 1, --seq-len >= 2, --negatives >= 1, --steps >= 1");
    training::AdamWSettings settings;
    settings.kind = training::optimizerFromString(optimizer);
    settings.threads = static_cast<int>(threads);
    setVectorTarget(target);

    const at::Device device = training::parseTrainingDevice(deviceText);
    const auto precision = training::precisionFromString(precisionText);
    if (!device.is_cpu()) plainSteps = 0;
    Model model = Model::randomInit({V, dim, 512}, syntheticTable(V, E, seed), seed);
    std::mt19937_64 rng(seed + 3);
    std::vector<TrainBatch> batches;
    for (int64_t s = 0; s < steps + 1; ++s)
        batches.push_back(syntheticBatch(model, batch, len, k, rng));

    model = model.toDevice(device);
    training::AdamW opt(model, settings);
    const LossOptions lo{true, static_cast<int>(threads)};
    LossWorkspace workspace;
    training::DeviceLossWorkspace deviceWorkspace;
    double lossTime = 0, optTime = 0;
    int64_t touched = 0;
    // the first step warms up allocations and page tables
    for (int64_t s = 0; s <= steps; ++s) {
        const auto t0 = Clock::now();
        const auto& samples = batches[static_cast<size_t>(s)].samples;
        const auto r = device.is_cpu()
                           ? sampledLoss(model, samples, lo, &workspace)
                           : training::deviceSampledLoss(model, samples, {precision, 1.0, &deviceWorkspace});
        const auto t1 = Clock::now();
        opt.step(model, r.grad, 1e-3);
        if (!device.is_cpu()) (void)model.positions.sum().item<double>(); // wait for the GPU
        const auto t2 = Clock::now();
        if (s == 0) continue;
        lossTime += seconds(t0, t1);
        optTime += seconds(t1, t2);
        touched += static_cast<int64_t>(r.grad.slots.size());
    }
    const double stepTime = (lossTime + optTime) / static_cast<double>(steps);
    const double ours = static_cast<double>(batch) / stepTime;

    double plain = 0;
    if (plainSteps > 0) {
        PlainTrainer pt(model);
        pt.step(batches[0], dim, 1e-3); // warm-up
        const auto t0 = Clock::now();
        for (int64_t s = 0; s < plainSteps; ++s)
            pt.step(batches[static_cast<size_t>(1 + s % steps)], dim, 1e-3);
        plain = static_cast<double>(batch * plainSteps) / seconds(t0, Clock::now());
    }

    // optimizer traffic: dense AdamW reads and writes p, m, v of every slot (6 x 4 bytes per
    // parameter) plus the touched gradient rows; sparse only the touched rows
    double bandwidth = 0;
    if (device.is_cpu()) {
        bandwidth = measureReadBandwidth(size_t{1} << 29);
    } else { // device memory: bytes read + written by a 1 GB device-to-device copy, best of 5
        auto src = at::ones({int64_t{1} << 28}, at::TensorOptions().device(device).dtype(at::kFloat));
        auto dst = at::empty_like(src);
        for (int pass = 0; pass < 6; ++pass) {
            (void)dst.sum().item<float>();
            const auto c0 = Clock::now();
            dst.copy_(src);
            (void)dst[0].item<float>();
            if (pass > 0)
                bandwidth =
                    std::max(bandwidth, 2.0 * 4.0 * static_cast<double>(src.numel()) / seconds(c0, Clock::now()));
        }
    }
    const double rowBytes = static_cast<double>(dim * dim + dim) * 4;
    const double avgTouched = static_cast<double>(touched) / static_cast<double>(steps);
    const double optimizerBytes =
        settings.kind == training::OptimizerKind::AdamW
            ? rowBytes * static_cast<double>(model.edges.numSlots()) * 6 + rowBytes * avgTouched
            : rowBytes * avgTouched * 7;
    const double floorSamples = static_cast<double>(batch) * bandwidth / optimizerBytes;
    nlohmann::json j = {
        {"benchmark", "train"},
        {"vocab", V},
        {"own_edges", E},
        {"batch", batch},
        {"seq_len", len},
        {"negatives", k},
        {"optimizer", optimizer},
        {"device", device.str()},
        {"precision", training::toString(precision)},
        {"vector_target", activeVectorTarget()},
        {"threads", threads > 0 ? threads : static_cast<int64_t>(std::thread::hardware_concurrency())},
        {"steps", steps},
        {"samples_per_s", ours},
        {"loss_seconds_per_step", lossTime / static_cast<double>(steps)},
        {"optimizer_seconds_per_step", optTime / static_cast<double>(steps)},
        {"touched_slots_per_step", avgTouched},
        {"plain_libtorch_samples_per_s", plainSteps > 0 ? nlohmann::json(plain) : nlohmann::json(nullptr)},
        {"speedup_vs_plain", plainSteps > 0 ? nlohmann::json(ours / plain) : nlohmann::json(nullptr)},
        {"read_bandwidth_gb_s", bandwidth / 1e9},
        {"optimizer_bytes_per_step", optimizerBytes},
        {"memory_floor_samples_per_s", floorSamples},
        {"fraction_of_floor", ours / floorSamples}};
    if (json) {
        std::cout << j.dump() << '\n';
        return 0;
    }
    std::cout << "train, V=" << V << ", " << E << " own edges, batch " << batch << ", seq " << len << ", k=" << k
              << ", " << optimizer << ", " << activeVectorTarget() << "\n"
              << "  ours:           " << ours << " samples/s (loss " << 1e3 * lossTime / static_cast<double>(steps)
              << " ms + optimizer " << 1e3 * optTime / static_cast<double>(steps) << " ms per step, " << avgTouched
              << " slots touched)\n";
    if (plainSteps > 0) std::cout << "  plain LibTorch: " << plain << " samples/s (speedup " << ours / plain << "x)\n";
    std::cout << "  memory floor:   " << floorSamples << " samples/s (optimizer traffic " << optimizerBytes / 1e6
              << " MB per step at " << bandwidth / 1e9 << " GB/s); ours reaches " << 100 * ours / floorSamples << "%\n";
    return 0;
}

// ---- bench distributed ----------------------------------------------------------------------

// The data-parallel step on the synthetic model of `bench train`: each rank computes its share
// of the global batch, the sparse gradients are exchanged, every rank runs AdamW. Reports the
// exchange's bytes against a dense all-reduce of every parameter (the reference's DDP).
int benchDistributed(const Args& args) {
    int64_t V = 1000, E = 100000, batch = 8, len = 32, k = 400, steps = 8, dim = 32, threads = 0, nproc = 0;
    uint64_t seed = 1;
    double timeout = 300;
    std::string optimizer = "adamw";
    bool json = false;
    ArgParser p("brillm bench distributed",
                "Data-parallel training step on the synthetic model of `bench train`: samples/s and the bytes\n"
                "each rank puts into the sparse gradient exchange per step, next to a dense all-reduce of\n"
                "every parameter. Start it with --nproc-per-node N, torchrun or srun; alone it runs 1 rank.");
    p.option("vocab", &V, "V", "nodes (default {default})");
    p.option("own-edges", &E, "E", "own edges (default {default})");
    p.option("batch", &batch, "B", "global batch: samples per step over all ranks (default {default})");
    p.option("seq-len", &len, "L", "tokens per sample (default {default})");
    p.option("negatives", &k, "K", "negatives per edge (default {default})");
    p.option("optimizer", &optimizer, "adamw|sparse-adamw", "optimizer (default {default})");
    p.option("steps", &steps, "N", "measured steps (default {default})");
    p.option("dim", &dim, "D", "signal dimension (default {default})");
    p.option("threads", &threads, "N", "threads per rank (default: the cores shared among local ranks)");
    p.option("seed", &seed, "S", "seed (default {default})");
    p.option("nproc-per-node", &nproc, "N", "start N local ranks");
    p.option("dist-timeout", &timeout, "SECONDS", "collective timeout (default {default})");
    p.flag("json", &json, "print one JSON object (rank 0)");
    if (!p.parse(args)) return 0;
    if (V < 2 || E < 0 || batch < 1 || len < 2 || k < 1 || steps < 1)
        throw UsageError("need --vocab >= 2, --batch >= 1, --seq-len >= 2, --negatives >= 1, --steps >= 1");
    const auto env = training::distributedEnvFromEnvironment();
    const bool inJob = env && env->worldSize > 1;
    if (nproc > 1 && !inJob) {
        Args workerArgs{"bench", "distributed"};
        for (size_t i = 0; i < args.size(); ++i) {
            if (args[i] == "--nproc-per-node") {
                ++i;
                continue;
            }
            if (args[i].rfind("--nproc-per-node=", 0) != 0) workerArgs.push_back(args[i]);
        }
        return launchLocalWorkers(static_cast<int>(nproc), workerArgs);
    }
    std::unique_ptr<training::Communicator> comm;
    if (inJob) comm = training::Communicator::connect(*env, training::DistributedOptions{"gloo", timeout});
    const int R = comm ? comm->worldSize() : 1, rank = comm ? comm->rank() : 0;
    if (batch < R) throw UsageError("--batch must be at least the number of ranks");
    const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    const int rankThreads =
        threads > 0 ? static_cast<int>(threads) : std::max(1, cores / (env ? env->localWorldSize : 1));
    at::set_num_threads(rankThreads);

    training::AdamWSettings settings;
    settings.kind = training::optimizerFromString(optimizer);
    settings.threads = rankThreads;
    Model model = Model::randomInit({V, dim, 512}, syntheticTable(V, E, seed), seed);
    std::mt19937_64 rng(seed + 3);
    std::vector<std::vector<LossSample>> local; // this rank's share of each global batch
    for (int64_t s = 0; s < steps + 1; ++s) {
        auto global = syntheticBatch(model, batch, len, k, rng);
        std::vector<LossSample> mine;
        for (size_t i = static_cast<size_t>(rank); i < global.samples.size(); i += static_cast<size_t>(R))
            mine.push_back(std::move(global.samples[i]));
        local.push_back(std::move(mine));
    }
    training::AdamW opt(model, settings);
    std::optional<training::GradientExchange> exchange;
    if (comm) exchange.emplace(*comm);
    const LossOptions lo{true, rankThreads};
    LossWorkspace workspace;
    double lossTime = 0, exchangeTime = 0, optTime = 0, exchangeBytes = 0, unionSlots = 0, localSlots = 0;
    uint64_t denseBytes = 0;
    for (int64_t s = 0; s <= steps; ++s) { // step 0 warms up
        const auto& mine = local[static_cast<size_t>(s)];
        const auto t0 = Clock::now();
        const auto r = sampledLoss(model, mine, lo, &workspace);
        const auto t1 = Clock::now();
        const SparseGradients* grad = &r.grad;
        if (comm) {
            double sum = 0;
            for (double l : r.sampleLosses)
                sum += l;
            grad = &exchange->exchange(model, r.grad, static_cast<int64_t>(mine.size()), sum);
        }
        const auto t2 = Clock::now();
        opt.step(model, *grad, 1e-3);
        const auto t3 = Clock::now();
        if (s == 0) continue;
        lossTime += seconds(t0, t1);
        exchangeTime += seconds(t1, t2);
        optTime += seconds(t2, t3);
        localSlots += static_cast<double>(r.grad.slots.size());
        unionSlots += static_cast<double>(grad->slots.size());
        if (comm)
            exchangeBytes += static_cast<double>(exchange->stats().exchangeBytes),
                denseBytes = exchange->stats().denseBytes;
    }
    const auto n = static_cast<double>(steps);
    if (!comm) {
        const int64_t dd = dim * dim + dim;
        denseBytes =
            static_cast<uint64_t>(model.edges.numSlots() * dd + model.nodeBias.numel() + model.positions.numel()) * 4;
    }
    bool identical = true;
    if (comm) {
        at::Tensor digest = at::full({1}, static_cast<int64_t>(training::parameterDigest(model)), at::kLong);
        const auto all = comm->allGather(digest, "replica check");
        for (int q = 1; q < R; ++q)
            identical = identical && all[q][0].item<int64_t>() == all[0][0].item<int64_t>();
    }
    if (rank != 0) return identical ? 0 : 1;
    const double stepTime = (lossTime + exchangeTime + optTime) / n;
    nlohmann::json j = {
        {"benchmark", "distributed"},
        {"vocab", V},
        {"own_edges", E},
        {"batch", batch},
        {"seq_len", len},
        {"negatives", k},
        {"optimizer", optimizer},
        {"world_size", R},
        {"threads_per_rank", rankThreads},
        {"steps", steps},
        {"samples_per_s", static_cast<double>(batch) / stepTime},
        {"loss_seconds_per_step", lossTime / n},
        {"exchange_seconds_per_step", exchangeTime / n},
        {"optimizer_seconds_per_step", optTime / n},
        {"touched_slots_per_rank", localSlots / n},
        {"touched_slots_union", unionSlots / n},
        {"exchange_bytes_per_step", comm ? nlohmann::json(exchangeBytes / n) : nlohmann::json(nullptr)},
        {"dense_bytes_per_step", denseBytes},
        {"exchange_fraction_of_dense",
         comm ? nlohmann::json(exchangeBytes / n / static_cast<double>(denseBytes)) : nlohmann::json(nullptr)},
        {"replicas_identical", identical}};
    if (json) {
        std::cout << j.dump() << '\n';
        return identical ? 0 : 1;
    }
    std::cout << "distributed, " << R << " rank(s), V=" << V << ", " << E << " own edges, global batch " << batch
              << ", seq " << len << ", k=" << k << ", " << optimizer << "\n"
              << "  " << static_cast<double>(batch) / stepTime << " samples/s (loss " << 1e3 * lossTime / n
              << " ms, exchange " << 1e3 * exchangeTime / n << " ms, optimizer " << 1e3 * optTime / n
              << " ms per step)\n"
              << "  slots touched: " << localSlots / n << " on this rank, " << unionSlots / n << " on any rank\n";
    if (comm)
        std::cout << "  exchange: " << exchangeBytes / n / 1e6
                  << " MB per rank and step; a dense all-reduce: " << static_cast<double>(denseBytes) / 1e6 << " MB ("
                  << 100 * exchangeBytes / n / static_cast<double>(denseBytes) << "%)\n"
                  << "  parameters identical on all ranks: " << (identical ? "yes" : "NO") << "\n";
    return identical ? 0 : 1;
}

#endif // BRILLM_WITH_TRAINING

// ---- bench targets -------------------------------------------------------------------------

int benchTargets(const Args& args) {
    ArgParser p("brillm bench targets",
                "The vector targets the kernels can run on here (compiled into this build and supported by\n"
                "this CPU), best first, one per line; the first is the default. --target and\n"
                "BRILLM_VECTOR_TARGET choose another.");
    if (!p.parse(args)) return 0;
    for (const auto& t : vectorTargets())
        std::cout << t << '\n';
    return 0;
}

} // namespace

int runBench(const Args& args) {
    return dispatchSubcommand(
        "brillm bench", args,
        {
            {"decode", "decoding speed on a synthetic model", benchDecode},
            {"targets", "the vector targets of this build and CPU, best first", benchTargets},
            {"blame", "error tracing: a blame report against brute-force ablation", runBenchBlame},
#ifdef BRILLM_WITH_TRAINING
            {"train", "training speed on a synthetic model", benchTrain},
            {"distributed", "data-parallel step: sparse gradient exchange bytes, samples/s", benchDistributed},
#endif
        });
}

} // namespace brillm::cli
