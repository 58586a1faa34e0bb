// SPDX-License-Identifier: GPL-3.0-or-later
// brillm bench decode: decoding speed of the core on a synthetic sparse model, next to a plain
// LibTorch version of the same maths and the memory-bandwidth floor measured in the same run.
#include "args.h"
#include "commands.h"

#include "brillm/model/decode.h"
#include "brillm/error.h"
#include "brillm/model/loss.h"
#include "brillm/model/signal.h"
#ifdef BRILLM_WITH_TRAINING
#include "launcher.h"

#include "brillm/training/distributed.h"
#include "brillm/training/device_loss.h"
#include "brillm/training/optimizer.h"
#endif

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>
#include <ATen/Parallel.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstring>
#include <iostream>
#include <memory>
#include <optional>
#include <random>
#include <thread>
#include <unordered_set>

namespace brillm::cli {

namespace {

using Clock = std::chrono::steady_clock;

double seconds(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); }

// Random distinct own pairs, uniform over the V*V graph.
EdgeTable syntheticTable(int64_t V, int64_t E, uint64_t seed) {
    if (E > V * V) throw InputError("--own-edges " + std::to_string(E) + " exceeds V*V = " + std::to_string(V * V));
    std::mt19937_64 rng(seed);
    std::unordered_set<int64_t> seen;
    seen.reserve(static_cast<size_t>(E) * 2);
    std::vector<std::pair<int32_t, int32_t>> pairs;
    pairs.reserve(static_cast<size_t>(E));
    std::uniform_int_distribution<int64_t> pick(0, V * V - 1);
    while (static_cast<int64_t>(pairs.size()) < E) {
        const int64_t p = pick(rng);
        if (seen.insert(p).second) pairs.emplace_back(static_cast<int32_t>(p / V), static_cast<int32_t>(p % V));
    }
    return EdgeTable::fromPairs(V, pairs);
}

// Read bandwidth: sum a buffer much larger than the caches; best of a few passes.
double measureReadBandwidth(size_t bytes) {
    std::vector<float> buf(bytes / sizeof(float), 1.0f);
    double best = 0;
    volatile float sink = 0;
    for (int pass = 0; pass < 4; ++pass) {
        const auto t0 = Clock::now();
        float acc[8] = {};
        const size_t n = buf.size() / 8 * 8;
        for (size_t i = 0; i < n; i += 8)
            for (int k = 0; k < 8; ++k) acc[k] += buf[i + static_cast<size_t>(k)];
        const auto t1 = Clock::now();
        float s = 0;
        for (float a : acc) s += a;
        sink = sink + s;
        if (pass > 0) best = std::max(best, static_cast<double>(bytes) / seconds(t0, t1));
    }
    return best;
}

struct PlainResult {
    double tokensPerSecond = 0;
    std::vector<int32_t> tokens;
};

// The same greedy decode written with LibTorch ops, as the reference does it: gather every
// candidate's matrix and bias, bmm, GELU, norm, argmax. Used for speed and as a cross-check.
PlainResult plainLibTorchDecode(const Model& m, int32_t start, int64_t steps) {
    const int64_t V = m.vocabSize(), d = m.dim();
    const auto peVec = positionalEncoding(m.config.maxPositions, d);
    const auto pe = at::tensor(peVec, at::kDouble).reshape({m.config.maxPositions, d}).to(m.dtype());
    c10::NoGradGuard noGrad;
    auto s = at::gelu(at::full({d}, 1.0 / static_cast<double>(d), m.weights.options()) + m.nodeBias[start][0] + pe[0]);
    std::vector<at::Tensor> cache;
    std::vector<int64_t> slots(static_cast<size_t>(V));
    int32_t cur = start;
    PlainResult r;
    r.tokens.push_back(start);
    const auto t0 = Clock::now();
    for (int64_t i = 0; i < steps; ++i) {
        at::Tensor x = s;
        if (i > 0) {
            const auto a = m.positions.index({0, at::indexing::Slice(0, i), 0}).softmax(0);
            x = (at::stack(cache) * a.unsqueeze(1)).sum(0);
        }
        std::fill(slots.begin(), slots.end(), 0);
        const auto own = m.edges.ownTargets(cur);
        for (size_t k = 0; k < own.size(); ++k) slots[static_cast<size_t>(own[k])] = m.edges.firstSlot(cur) + static_cast<int64_t>(k);
        const auto idx = at::from_blob(slots.data(), {V}, at::kLong);
        const auto W = m.weights.index_select(0, idx);
        const auto b = m.biases.index_select(0, idx);
        const auto y = at::gelu(at::bmm(x.reshape({1, 1, d}).expand({V, 1, d}), W) + b + pe[i + 1]).squeeze(1);
        auto e = y.norm(2, {1});
        e[cur] = -std::numeric_limits<double>::infinity(); // self-loop excluded
        const auto next = static_cast<int32_t>(e.argmax().item<int64_t>());
        cache.push_back(y[next]);
        cur = next;
        r.tokens.push_back(next);
    }
    r.tokensPerSecond = static_cast<double>(steps) / seconds(t0, Clock::now());
    return r;
}

int benchDecode(const Args& args) {
    int64_t V = 4000, E = 200000, dim = 32, runTokens = 32, minTokens = 20000, plainTokens = 64;
    uint64_t seed = 1;
    bool json = false;
    ArgParser p("brillm bench decode",
                "Greedy decoding speed (tokens/s, one thread) on a synthetic model with random own edges,\n"
                "next to a plain LibTorch version of the same maths (gather the candidates' matrices, bmm,\n"
                "GELU, norm) and the memory floor: the bytes a token must read over the read bandwidth\n"
                "measured in the same run.");
    p.option("vocab", &V, "V", "number of nodes (default 4000)");
    p.option("own-edges", &E, "E", "own (non-shared) edges (default 200000)");
    p.option("dim", &dim, "D", "signal dimension d (default 32)");
    p.option("run-tokens", &runTokens, "N", "tokens per decode from a random start node (default 32)");
    p.option("tokens", &minTokens, "N", "tokens to decode in total (default 20000)");
    p.option("plain-tokens", &plainTokens, "N", "tokens for the plain LibTorch version (default 64)");
    p.option("seed", &seed, "S", "seed of the synthetic model (default 1)");
    p.flag("json", &json, "print one JSON object");
    if (!p.parse(args)) return 0;
    if (V < 2 || E < 0 || dim < 2 || dim % 2 || runTokens < 1 || minTokens < 1 || plainTokens < 1)
        throw UsageError("need --vocab >= 2, --own-edges >= 0, an even --dim >= 2 and positive token counts");

    const auto tBuild = Clock::now();
    auto table = syntheticTable(V, E, seed);
    const auto tTable = Clock::now();
    const Model model = Model::randomInit({V, dim, 512}, std::move(table), seed);
    const auto tModel = Clock::now();
    if (!json)
        std::cerr << "synthetic model: V=" << V << " own edges=" << E << " d=" << dim << " ("
                  << model.weights.numel() * 4 / 1e6 << " MB of weights); edge table built in "
                  << seconds(tBuild, tTable) << " s\n";

    // ours: greedy decoding without dense traces, single thread
    DecodeOptions o;
    o.maxNewTokens = runTokens;
    o.recordTrace = false;
    std::mt19937_64 rng(seed + 7);
    std::uniform_int_distribution<int32_t> node(0, static_cast<int32_t>(V) - 1);
    int64_t produced = 0;
    double bytes = 0;
    const double edgeBytes = static_cast<double>(dim * dim + dim) * 4;
    // warm-up run
    decode(model, std::vector<int32_t>{node(rng)}, o);
    const auto t0 = Clock::now();
    while (produced < minTokens) {
        const auto trace = decode(model, std::vector<int32_t>{node(rng)}, o);
        for (const auto& s : trace.steps) {
            bytes += edgeBytes * static_cast<double>(model.edges.ownCount(s.source) + (s.sharedCandidates > 0 ? 1 : 0));
            ++produced;
        }
    }
    const double ours = static_cast<double>(produced) / seconds(t0, Clock::now());
    const double bytesPerToken = bytes / static_cast<double>(produced);

    // cross-check on one run and time the plain version
    const int32_t start = node(rng);
    DecodeOptions check;
    check.maxNewTokens = plainTokens;
    check.recordTrace = false;
    const auto oursPath = decode(model, std::vector<int32_t>{start}, check).tokens;
    const auto plain = plainLibTorchDecode(model, start, plainTokens);
    const bool agree = oursPath == plain.tokens;

    const double bandwidth = measureReadBandwidth(size_t{1} << 29);
    const double floorTps = bandwidth / bytesPerToken;
    const double plainFloorTps = bandwidth / (edgeBytes * static_cast<double>(V));

    nlohmann::json j = {
        {"benchmark", "decode"},
        {"vocab", V},
        {"own_edges", E},
        {"dim", dim},
        {"threads", 1},
        {"tokens", produced},
        {"tokens_per_s", ours},
        {"bytes_per_token", bytesPerToken},
        {"read_bandwidth_gb_s", bandwidth / 1e9},
        {"memory_floor_tokens_per_s", floorTps},
        {"fraction_of_floor", ours / floorTps},
        {"plain_libtorch_tokens_per_s", plain.tokensPerSecond},
        {"plain_libtorch_threads", at::get_num_threads()},
        {"plain_libtorch_memory_floor_tokens_per_s", plainFloorTps},
        {"speedup_vs_plain", ours / plain.tokensPerSecond},
        {"plain_matches_ours", agree},
        {"model_init_s", seconds(tTable, tModel)},
        {"edge_table_build_s", seconds(tBuild, tTable)},
    };
    if (json) {
        std::cout << j.dump() << '\n';
    } else {
        std::cout << "decode, V=" << V << ", " << E << " own edges, d=" << dim << ", 1 thread\n"
                  << "  ours:            " << ours << " tokens/s (" << bytesPerToken / 1e3 << " kB of edges per token)\n"
                  << "  plain LibTorch:  " << plain.tokensPerSecond << " tokens/s (" << at::get_num_threads()
                  << " threads; same tokens: " << (agree ? "yes" : "NO") << ")\n"
                  << "  memory floor:    " << floorTps << " tokens/s at " << bandwidth / 1e9
                  << " GB/s read bandwidth; ours reaches " << 100 * ours / floorTps << "% of it\n"
                  << "  speedup vs plain: " << ours / plain.tokensPerSecond << "x\n";
    }
    return agree ? 0 : 1;
}

#ifdef BRILLM_WITH_TRAINING
// ---- bench train ----------------------------------------------------------------------------

struct TrainBatch {
    std::vector<LossSample> samples;
    std::vector<std::vector<int64_t>> slots; // per sample: slot of every candidate, edge by edge
};

// Sequences from random walks over own edges (so positives are mostly own slots) and, like
// frequency negatives, the source's own targets first, topped up with random nodes.
TrainBatch syntheticBatch(const Model& m, int64_t batch, int64_t len, int64_t k, std::mt19937_64& rng) {
    const int64_t V = m.vocabSize();
    std::uniform_int_distribution<int32_t> node(0, static_cast<int32_t>(V) - 1);
    TrainBatch out;
    std::vector<uint8_t> used(static_cast<size_t>(V), 0);
    for (int64_t b = 0; b < batch; ++b) {
        std::vector<int32_t> tokens{node(rng)};
        while (static_cast<int64_t>(tokens.size()) < len) {
            const auto own = m.edges.ownTargets(tokens.back());
            tokens.push_back(own.empty() ? node(rng) : own[std::uniform_int_distribution<size_t>(0, own.size() - 1)(rng)]);
        }
        std::vector<std::vector<int32_t>> neg(tokens.size() - 1);
        for (size_t i = 0; i + 1 < tokens.size(); ++i) {
            const int32_t t = tokens[i + 1];
            used[static_cast<size_t>(t)] = 1;
            for (int32_t v : m.edges.ownTargets(tokens[i])) {
                if (static_cast<int64_t>(neg[i].size()) == k) break;
                if (!used[static_cast<size_t>(v)]) neg[i].push_back(v), used[static_cast<size_t>(v)] = 1;
            }
            while (static_cast<int64_t>(neg[i].size()) < std::min<int64_t>(k, V - 1)) {
                const int32_t v = node(rng);
                if (!used[static_cast<size_t>(v)]) neg[i].push_back(v), used[static_cast<size_t>(v)] = 1;
            }
            used[static_cast<size_t>(t)] = 0;
            for (int32_t v : neg[i]) used[static_cast<size_t>(v)] = 0;
        }
        out.samples.push_back(LossSample::fromNegatives(std::move(tokens), neg));
        std::vector<int64_t> slots;
        const auto& s = out.samples.back();
        for (int64_t i = 0; i < s.numEdges(); ++i)
            for (int64_t c = s.offsets[static_cast<size_t>(i)]; c < s.offsets[static_cast<size_t>(i) + 1]; ++c)
                slots.push_back(m.edges.slot(s.tokens[static_cast<size_t>(i)], s.candidates[static_cast<size_t>(c)]));
        out.slots.push_back(std::move(slots));
    }
    return out;
}

// The same training step with LibTorch autograd, written the way the reference is: gather the
// candidates' matrices, bmm, GELU, norm, cross-entropy, backward into dense gradients, AdamW.
struct PlainTrainer {
    at::Tensor w, b, nb, pos, pe;
    std::vector<at::Tensor> m, v;
    int64_t t = 0;
    explicit PlainTrainer(const Model& model) {
        w = model.weights.clone().requires_grad_(true);
        b = model.biases.clone().requires_grad_(true);
        nb = model.nodeBias.clone().requires_grad_(true);
        pos = model.positions.clone().requires_grad_(true);
        const auto peVec = positionalEncoding(model.config.maxPositions, model.dim());
        pe = at::tensor(peVec, at::kDouble).reshape({model.config.maxPositions, model.dim()}).to(at::kFloat);
        for (const auto& p : {w, b, nb, pos}) {
            m.push_back(at::zeros_like(p));
            v.push_back(at::zeros_like(p));
        }
    }
    double step(const TrainBatch& batch, int64_t d, double lr) {
        at::Tensor total = at::zeros({});
        for (size_t s = 0; s < batch.samples.size(); ++s) {
            const auto& smp = batch.samples[s];
            auto sig = at::gelu(at::full({d}, 1.0 / static_cast<double>(d)) + nb[smp.tokens[0]][0] + pe[0]);
            std::vector<at::Tensor> cache;
            at::Tensor loss = at::zeros({});
            size_t c0 = 0;
            for (int64_t i = 0; i < smp.numEdges(); ++i) {
                at::Tensor x = sig;
                if (i > 0) x = (at::stack(cache) * pos.index({0, at::indexing::Slice(0, i), 0}).softmax(0).unsqueeze(1)).sum(0);
                const int64_t C = smp.offsets[static_cast<size_t>(i) + 1] - smp.offsets[static_cast<size_t>(i)];
                const auto idx = at::tensor(std::vector<int64_t>(batch.slots[s].begin() + static_cast<std::ptrdiff_t>(c0),
                                                                 batch.slots[s].begin() + static_cast<std::ptrdiff_t>(c0) + C),
                                            at::kLong);
                c0 += static_cast<size_t>(C);
                const auto y = at::gelu(at::bmm(x.reshape({1, 1, d}).expand({C, 1, d}), w.index_select(0, idx)).squeeze(1) +
                                        b.index_select(0, idx).squeeze(1) + pe[i + 1]);
                const auto e = y.norm(2, {1});
                loss = loss + (at::logsumexp(e, 0) - e[0]);
                cache.push_back(y[0]);
            }
            total = total + loss / static_cast<double>(smp.numEdges());
        }
        total = total / static_cast<double>(batch.samples.size());
        total.backward();
        ++t;
        c10::NoGradGuard ng;
        const double bc1 = 1 - std::pow(0.9, static_cast<double>(t)), bc2 = 1 - std::pow(0.999, static_cast<double>(t));
        std::vector<at::Tensor> params{w, b, nb, pos};
        for (size_t k = 0; k < params.size(); ++k) {
            auto g = params[k].grad();
            m[k].mul_(0.9).add_(g, 0.1);
            v[k].mul_(0.999).addcmul_(g, g, 0.001);
            params[k].addcdiv_(m[k], v[k].sqrt().div_(std::sqrt(bc2)).add_(1e-8), -lr / bc1);
            g.zero_();
        }
        return total.item<double>();
    }
};

int benchTrain(const Args& args) {
    int64_t V = 1000, E = 100000, batch = 8, len = 32, k = 400, steps = 8, plainSteps = 1, dim = 32, threads = 0;
    uint64_t seed = 1;
    std::string optimizer = "adamw", deviceText = "cpu", precisionText = "fp32";
    bool json = false;
    ArgParser p("brillm bench train",
                "Training speed (samples/s) of one AdamW step on a synthetic model: our sparse loss and\n"
                "optimizer next to a plain LibTorch autograd version of the same step (gathered matrices,\n"
                "dense gradients) and the memory floor of the optimizer's traffic.");
    p.option("vocab", &V, "V", "nodes (default 1000)");
    p.option("own-edges", &E, "E", "own edges (default 100000)");
    p.option("batch", &batch, "B", "samples per step (default 8)");
    p.option("seq-len", &len, "L", "tokens per sample (default 32)");
    p.option("negatives", &k, "K", "negatives per edge (default 400)");
    p.option("optimizer", &optimizer, "adamw|sparse-adamw", "optimizer (default adamw)");
    p.option("steps", &steps, "N", "measured steps (default 8)");
    p.option("plain-steps", &plainSteps, "N", "steps of the plain LibTorch version (default 1; 0 skips it)");
    p.option("dim", &dim, "D", "signal dimension (default 32)");
    p.option("threads", &threads, "N", "threads (default: all cores)");
    p.option("seed", &seed, "S", "seed (default 1)");
    p.option("device", &deviceText, "DEV", "cpu (default) or cuda: the GPU step (ATen + autograd, no plain version)");
    p.option("precision", &precisionText, "P", "fp32 (default), bf16 or fp16 (CUDA autocast)");
    p.flag("json", &json, "print one JSON object");
    if (!p.parse(args)) return 0;
    if (V < 2 || E < 0 || batch < 1 || len < 2 || k < 1 || steps < 1)
        throw UsageError("need --vocab >= 2, --batch >= 1, --seq-len >= 2, --negatives >= 1, --steps >= 1");
    training::AdamWSettings settings;
    settings.kind = training::optimizerFromString(optimizer);
    settings.threads = static_cast<int>(threads);

    const at::Device device = training::parseTrainingDevice(deviceText);
    const auto precision = training::precisionFromString(precisionText);
    if (!device.is_cpu()) plainSteps = 0;
    Model model = Model::randomInit({V, dim, 512}, syntheticTable(V, E, seed), seed);
    std::mt19937_64 rng(seed + 3);
    std::vector<TrainBatch> batches;
    for (int64_t s = 0; s < steps + 1; ++s) batches.push_back(syntheticBatch(model, batch, len, k, rng));

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
        const auto r = device.is_cpu() ? sampledLoss(model, samples, lo, &workspace)
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
        for (int64_t s = 0; s < plainSteps; ++s) pt.step(batches[static_cast<size_t>(1 + s % steps)], dim, 1e-3);
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
            if (pass > 0) bandwidth = std::max(bandwidth, 2.0 * 4.0 * static_cast<double>(src.numel()) / seconds(c0, Clock::now()));
        }
    }
    const double rowBytes = static_cast<double>(dim * dim + dim) * 4;
    const double avgTouched = static_cast<double>(touched) / static_cast<double>(steps);
    const double optimizerBytes = settings.kind == training::OptimizerKind::AdamW
                                      ? rowBytes * static_cast<double>(model.edges.numSlots()) * 6 + rowBytes * avgTouched
                                      : rowBytes * avgTouched * 7;
    const double floorSamples = static_cast<double>(batch) * bandwidth / optimizerBytes;
    nlohmann::json j = {{"benchmark", "train"},
                        {"vocab", V},
                        {"own_edges", E},
                        {"batch", batch},
                        {"seq_len", len},
                        {"negatives", k},
                        {"optimizer", optimizer},
                        {"device", device.str()},
                        {"precision", training::toString(precision)},
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
    std::cout << "train, V=" << V << ", " << E << " own edges, batch " << batch << ", seq " << len << ", k=" << k << ", "
              << optimizer << "\n"
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
    p.option("vocab", &V, "V", "nodes (default 1000)");
    p.option("own-edges", &E, "E", "own edges (default 100000)");
    p.option("batch", &batch, "B", "global batch: samples per step over all ranks (default 8)");
    p.option("seq-len", &len, "L", "tokens per sample (default 32)");
    p.option("negatives", &k, "K", "negatives per edge (default 400)");
    p.option("optimizer", &optimizer, "adamw|sparse-adamw", "optimizer (default adamw)");
    p.option("steps", &steps, "N", "measured steps (default 8)");
    p.option("dim", &dim, "D", "signal dimension (default 32)");
    p.option("threads", &threads, "N", "threads per rank (default: the cores shared among local ranks)");
    p.option("seed", &seed, "S", "seed (default 1)");
    p.option("nproc-per-node", &nproc, "N", "start N local ranks");
    p.option("dist-timeout", &timeout, "SECONDS", "collective timeout (default 300)");
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
    const int rankThreads = threads > 0 ? static_cast<int>(threads) : std::max(1, cores / (env ? env->localWorldSize : 1));
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
            for (double l : r.sampleLosses) sum += l;
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
        if (comm) exchangeBytes += static_cast<double>(exchange->stats().exchangeBytes), denseBytes = exchange->stats().denseBytes;
    }
    const auto n = static_cast<double>(steps);
    if (!comm) {
        const int64_t dd = dim * dim + dim;
        denseBytes = static_cast<uint64_t>(model.edges.numSlots() * dd + model.nodeBias.numel() + model.positions.numel()) * 4;
    }
    bool identical = true;
    if (comm) {
        at::Tensor digest = at::full({1}, static_cast<int64_t>(training::parameterDigest(model)), at::kLong);
        const auto all = comm->allGather(digest, "replica check");
        for (int q = 1; q < R; ++q) identical = identical && all[q][0].item<int64_t>() == all[0][0].item<int64_t>();
    }
    if (rank != 0) return identical ? 0 : 1;
    const double stepTime = (lossTime + exchangeTime + optTime) / n;
    nlohmann::json j = {{"benchmark", "distributed"},
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
                        {"exchange_fraction_of_dense", comm ? nlohmann::json(exchangeBytes / n / static_cast<double>(denseBytes))
                                                            : nlohmann::json(nullptr)},
                        {"replicas_identical", identical}};
    if (json) {
        std::cout << j.dump() << '\n';
        return identical ? 0 : 1;
    }
    std::cout << "distributed, " << R << " rank(s), V=" << V << ", " << E << " own edges, global batch " << batch << ", seq "
              << len << ", k=" << k << ", " << optimizer << "\n"
              << "  " << static_cast<double>(batch) / stepTime << " samples/s (loss " << 1e3 * lossTime / n << " ms, exchange "
              << 1e3 * exchangeTime / n << " ms, optimizer " << 1e3 * optTime / n << " ms per step)\n"
              << "  slots touched: " << localSlots / n << " on this rank, " << unionSlots / n << " on any rank\n";
    if (comm)
        std::cout << "  exchange: " << exchangeBytes / n / 1e6 << " MB per rank and step; a dense all-reduce: "
                  << static_cast<double>(denseBytes) / 1e6 << " MB (" << 100 * exchangeBytes / n / static_cast<double>(denseBytes)
                  << "%)\n"
                  << "  parameters identical on all ranks: " << (identical ? "yes" : "NO") << "\n";
    return identical ? 0 : 1;
}

#endif // BRILLM_WITH_TRAINING

} // namespace

int runBench(const Args& args) {
    return dispatchSubcommand("brillm bench", args,
                              {{"decode", "decoding speed on a synthetic model", benchDecode},
                               {"blame", "error tracing: a blame report against brute-force ablation", runBenchBlame},
#ifdef BRILLM_WITH_TRAINING
                               {"train", "training speed on a synthetic model", benchTrain},
                               {"distributed", "data-parallel step: sparse gradient exchange bytes, samples/s", benchDistributed},
#endif
                              });
}

} // namespace brillm::cli
