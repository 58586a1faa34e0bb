// SPDX-License-Identifier: GPL-3.0-or-later
// brillm train: train a BriLLM model from a corpus, or resume a run.
#include "args.h"
#include "commands.h"
#include "launcher.h"
#include "progress_line.h"

#include "brillm/training/distributed.h"
#include "brillm/training/trainer.h"

#include <nlohmann/json.hpp>

#include <cmath>
#include <csignal>
#include <cstdlib>
#include <iostream>

namespace brillm::cli {

namespace {

volatile std::sig_atomic_t g_interrupted = 0;
void onInterrupt(int) {
    g_interrupted = 1;
}

} // namespace

int runTrain(const Args& args) {
    using namespace brillm::training;
    // the recipe first: its settings are the defaults the other options change
    std::string recipe = "default";
    for (size_t i = 0; i < args.size(); ++i) {
        if (args[i] == "--recipe" && i + 1 < args.size()) recipe = args[i + 1];
        if (args[i].rfind("--recipe=", 0) == 0) recipe = args[i].substr(9);
    }
    TrainConfig c = recipeConfig(recipe);
    std::vector<std::string> corpus;
    std::string out, resumeDir, negativeMode = toString(c.negativeMode), optimizer = toString(c.optimizer),
                                schedule = toString(c.schedule), edges = toString(c.edges), loss = toString(c.loss),
                                init = toString(c.init);
    bool quiet = false, json = false;
    ArgParser p("brillm train",
                "Train a BriLLM model from text files, writing a run directory (config.json, metrics.jsonl,\n"
                "checkpoints/, model.brillm; docs/training-runs.md), or resume one with --resume. Ctrl-C\n"
                "stops after writing a checkpoint.\n"
                "\n"
                "Data-parallel training (docs/distributed.md): --nproc-per-node N starts N ranks on this\n"
                "machine. Under torchrun or Slurm (RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE,\n"
                "MASTER_ADDR, MASTER_PORT, or SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID with\n"
                "MASTER_ADDR/MASTER_PORT exported) each process joins the job as its rank, e.g.\n"
                "  torchrun --nproc_per_node 4 --no_python brillm train --corpus c.txt --out run\n"
                "--batch is the global batch: rank r trains sequences r, r+R, ... of it. Rank 0 writes the\n"
                "run directory and prints progress; other ranks print only errors. A failed rank stops the\n"
                "others within --dist-timeout; --resume continues with any number of ranks.\n"
                "\n"
                "Recipes (docs/training-recipe.md): the default starts from the corpus's Kneser-Ney bigram\n"
                "model with its trigram correction (--init bigram, --context-code 4) and minimises the exact\n"
                "loss over all V candidates (--loss exact) with sparse SGD; --recipe reference trains as BriLLM0.5's "
                "train.py did (random init, 400\n"
                "frequency negatives, dense AdamW at lr 0.05). Options after the recipe change its settings;\n"
                "the defaults shown are the default recipe's.");
    p.option("recipe", &recipe, "default|reference", "the settings to start from (default {default})");
    p.list("corpus", &corpus, "FILE", "training text (UTF-8); repeatable");
    p.option("out", &out, "DIR", "the run directory to create");
    p.option("resume", &resumeDir, "DIR", "continue this run from its latest checkpoint");
    p.option("tokenizer", &c.tokenizer, "FILE", "tokenizer.json (BPE) or {token: id} node dictionary to use");
    p.option("vocab-kind", &c.vocabKind, "char|bpe",
             "without --tokenizer: build this kind from the corpus (default {default})");
    p.option("vocab-size", &c.vocabSize, "V", "without --tokenizer: nodes to build (default {default})");
    p.option("init-model", &c.initModel, "FILE", "start from this model file instead of an initialisation");
    p.option("init", &init, "bigram|random",
             "initialisation: the corpus's bigram model, or the reference's uniform noise (default {default})");
    p.option("init-scale", &c.initScale, "S",
             "bigram init: half-width of the noise on the matrices and node biases (default {default})");
    p.option("position-slope", &c.positionSlope, "A",
             "bigram init: position logits 1 + A*j, A > 0 favours recent edges (default {default})");
    p.option("context-code", &c.contextCode, "R",
             "bigram init: source codes of length R carry the trigram correction (default {default}; 0: off)");
    p.option("loss", &loss, "exact|sampled|sampled-own",
             "exact: over all V candidates (default); sampled: the reference's K negatives; sampled-own: K own "
             "targets, corrected");
    p.option("dim", &c.dim, "D", "signal dimension d (default {default})");
    p.option("max-seq-length", &c.maxSeqLength, "L", "tokens per training sequence (default {default})");
    p.option("edges", &edges, "real|reference",
             "edges trained per sequence (default {default}; reference: the first L-2, padding too)");
    p.option("min-count", &c.minCount, "N", "a pair seen N times owns a slot (default {default})");
    p.option("validation-windows", &c.validationWindows, "N",
             "paragraphs of about N windows held back to choose the init and the kept parameters (default {default}; "
             "0: none)");
    p.option("steps", &c.steps, "N", "total optimiser steps (default {default})");
    p.option("max-minutes", &c.maxMinutes, "M",
             "stop after M minutes (checkpoint, held-out evaluation, model file; default off)");
    p.option("batch", &c.batchSize, "B", "sequences per step (default {default})");
    p.option("negatives", &c.negatives, "K", "sampled loss: negatives per edge (default {default})");
    p.option("negative-mode", &negativeMode, "frequency|random", "how negatives are chosen (default {default})");
    p.option("optimizer", &optimizer, "sgd|adagrad|adamw|sparse-adamw",
             "sparse SGD, row-wise Adagrad, dense AdamW (the reference) or sparse AdamW (default {default})");
    p.option("lr", &c.lr, "LR", "learning rate (default {default})");
    p.option("weight-decay", &c.weightDecay, "W", "decoupled weight decay (default {default})");
    p.option("schedule", &schedule, "constant|cosine", "learning-rate schedule (default {default})");
    p.option("warmup", &c.warmupSteps, "N", "linear warm-up steps (default {default})");
    p.option("clip-norm", &c.clipNorm, "G", "clip the global gradient norm to G (default off)");
    p.option("seed", &c.seed, "S", "seed of initialisation, data order and negatives (default {default})");
    int64_t threads = 0;
    p.option("threads", &threads, "N", "CPU threads (default: all cores; may change on --resume)");
    std::string device = "cpu", precision = "fp32";
    p.option("device", &device, "DEV",
             "cpu (default), cuda or cuda:N: where the training step runs (may change on --resume)");
    p.option("precision", &precision, "P",
             "fp32 (default); on CUDA also bf16 or fp16 (autocast; fp16 with dynamic loss scaling)");
    p.list("held-out-corpus", &c.heldOutCorpus, "FILE",
           "held-out text (repeatable): its windows are evaluated, none of the corpus is held out");
    p.option("held-out", &c.heldOutFraction, "F",
             "without --held-out-corpus: fraction of windows held out (default {default})");
    p.option("eval-every", &c.evalEvery, "N", "exact held-out loss every N steps (default {default}; 0 off)");
    p.option("eval-samples", &c.evalSamples, "N", "held-out windows evaluated (default {default}; 0: all)");
    p.option("checkpoint-every", &c.checkpointEvery, "N", "checkpoint every N steps (default {default})");
    p.option("checkpoint-minutes", &c.checkpointMinutes, "M", "also checkpoint every M minutes (default off)");
    p.option("keep", &c.keepCheckpoints, "K", "checkpoints kept (default {default})");
    p.option("max-non-finite", &c.maxNonFinite, "N", "stop after N non-finite steps in a row (default {default})");
    int64_t nprocPerNode = 0;
    std::string distBackend = "auto";
    double distTimeout = 300;
    p.option("nproc-per-node", &nprocPerNode, "N",
             "start N local ranks (data-parallel on 127.0.0.1; 1: one rank in this process)");
    p.option("dist-backend", &distBackend, "auto|gloo|nccl",
             "process-group backend (default auto: nccl for --device cuda where the build has NCCL, else gloo)");
    p.option("dist-timeout", &distTimeout, "SECONDS",
             "a rank that does not answer within this stops the run (default {default})");
    p.flag("shard-edges", &c.shardEdges,
           "shard the edge table by source over the ranks (each holds 1/R of the rows and their optimizer "
           "state; CPU ranks over gloo or GPU ranks over nccl, float32; the final model is RUN_DIR/model-shards, merge "
           "it with brillm merge-shards)");
    int64_t shards = 0;
    p.option("shards", &shards, "S",
             "with --shard-edges (implied): shard groups of S ranks, the ranks' count / S replicas of them (2-D "
             "layout: each replica trains its part of the batch, the replicas of a shard average its gradients); "
             "default: every rank one shard (may change on --resume)");
    std::string shardBalance = "memory";
    p.option("shard-balance", &shardBalance, "memory|work",
             "with --shard-edges: split the sources so that the shards hold equal numbers of rows (memory, the "
             "default) or evaluate equal numbers of candidates per epoch, from the training text (work; each "
             "shard's rows at most 25% above an equal share)");
    p.flag("quiet", &quiet, "no progress line");
    p.flag("json", &json, "progress as JSON lines on standard output");
    if (!p.parse(args)) return 0;
    c.threads = static_cast<int>(threads);
    if (p.given("shards")) {
        if (shards < 1 || shards > 65536) throw UsageError("--shards must be in [1, 65536]");
        c.shards = static_cast<int>(shards);
        c.shardEdges = true;
    }
    c.device = device;
    c.precision = precision;

    distBackend = resolveBackend(distBackend, device);
    checkBackend(distBackend);
    if (!(distTimeout > 0)) throw UsageError("--dist-timeout must be a positive number of seconds");
    const auto env = distributedEnvFromEnvironment();
    if (p.given("nproc-per-node")) {
        if (env && env->worldSize > 1)
            throw UsageError("--nproc-per-node cannot be used inside a launched job (RANK/WORLD_SIZE or SLURM_* are "
                             "set): the launcher already started the ranks");
        if (nprocPerNode < 1 || nprocPerNode > 1024) throw UsageError("--nproc-per-node must be in [1, 1024]");
        if (nprocPerNode > 1) {
            // the same arguments minus --nproc-per-node, in each worker
            Args workerArgs{"train"};
            for (size_t i = 0; i < args.size(); ++i) {
                if (args[i] == "--nproc-per-node") {
                    ++i;
                    continue;
                }
                if (args[i].rfind("--nproc-per-node=", 0) == 0) continue;
                workerArgs.push_back(args[i]);
            }
            return launchLocalWorkers(static_cast<int>(nprocPerNode), workerArgs);
        }
    }
    std::unique_ptr<Communicator> comm;
    DistributedOptions distOptions{distBackend, distTimeout};
    if (device.rfind("cuda:", 0) == 0) // the GPU named (parseTrainingDevice checks it)
        distOptions.cudaDevice = std::atoi(device.c_str() + 5);
    if (env && env->worldSize > 1) {
        comm = Communicator::connect(*env, distOptions);
    } else if (!env && nprocPerNode == 1) { // one rank, through the process group (a smoke test of the backend)
        DistributedEnv one;
        one.masterPort = findFreePort();
        one.source = "--nproc-per-node 1";
        comm = Communicator::connect(one, distOptions);
    }
    const bool leader = !comm || comm->rank() == 0;
    if (!leader) quiet = true, json = false;

    const bool resuming = p.given("resume");
    if (resuming == p.given("out")) throw UsageError("give --out DIR for a new run or --resume DIR to continue one");
    if (resuming) {
        for (const char* opt : {"recipe",
                                "corpus",
                                "tokenizer",
                                "vocab-kind",
                                "vocab-size",
                                "init-model",
                                "init",
                                "init-scale",
                                "position-slope",
                                "context-code",
                                "loss",
                                "validation-windows",
                                "held-out-corpus",
                                "dim",
                                "max-seq-length",
                                "edges",
                                "min-count",
                                "batch",
                                "negatives",
                                "negative-mode",
                                "optimizer",
                                "seed",
                                "lr",
                                "weight-decay",
                                "schedule",
                                "warmup",
                                "clip-norm",
                                "held-out",
                                "eval-every",
                                "eval-samples",
                                "checkpoint-every",
                                "checkpoint-minutes",
                                "keep",
                                "max-non-finite",
                                "shard-edges",
                                "shard-balance"})
            if (p.given(opt))
                throw UsageError(
                    std::string("--") + opt + " cannot change on --resume: the run keeps the settings in " + resumeDir +
                    "/config.json (only --steps, --max-minutes, --device, --precision, --shards and --threads "
                    "may be given)");
    } else {
        if (corpus.empty()) throw UsageError("name the training text with --corpus FILE");
        c.corpus = corpus;
        c.negativeMode = negativeModeFromString(negativeMode);
        c.optimizer = optimizerFromString(optimizer);
        c.schedule = scheduleFromString(schedule);
        c.edges = edgeSelectionFromString(edges);
        if (p.given("shard-balance")) {
            c.shardBalance = shardBalanceFromString(shardBalance);
            c.shardEdges = true;
        }
        c.loss = lossKindFromString(loss);
        c.init = initKindFromString(init);
        if (!c.heldOutCorpus.empty()) c.heldOutFraction = 0;
    }

    ProgressLine progress(quiet || json);
    TrainCallbacks cb;
    cb.onPrepare = [&](const std::string& stage, double f) {
        progress.update("preparing: " + stage, f);
        return g_interrupted == 0;
    };
    cb.onLog = [&](const std::string& msg) {
        if (leader) progress.message(msg);
    };
    cb.onStep = [&](const StepReport& r) {
        if (!leader) return g_interrupted == 0;
        if (json) {
            nlohmann::json j = {{"step", r.step},
                                {"steps", r.totalSteps},
                                {"loss", r.loss},
                                {"samples_per_s", r.samplesPerSecond},
                                {"eta_s", r.etaSeconds}};
            if (r.evalLoss) j["eval_loss"] = *r.evalLoss;
            std::cout << j.dump() << std::endl;
        } else {
            char buf[256];
            std::snprintf(buf, sizeof buf, "step %lld/%lld  loss %.4f  ppl %.2f%s  %.1f samples/s  %.0f tok/s  ETA %s",
                          static_cast<long long>(r.step), static_cast<long long>(r.totalSteps), r.loss, r.perplexity,
                          r.evalLoss ? ("  held-out " + std::to_string(*r.evalLoss).substr(0, 6)).c_str() : "",
                          r.samplesPerSecond, r.tokensPerSecond, ProgressLine::duration(r.etaSeconds).c_str());
            std::string line = buf;
            if (r.worldSize > 1) {
                std::snprintf(buf, sizeof buf, "  %d ranks, %.2f MB exchanged/step (dense all-reduce %.2f MB)",
                              r.worldSize, static_cast<double>(r.exchangeBytes) / 1e6,
                              static_cast<double>(r.denseBytes) / 1e6);
                line += buf;
            }
            progress.update(line, static_cast<double>(r.step) / static_cast<double>(r.totalSteps));
        }
        return g_interrupted == 0;
    };
    std::signal(SIGINT, onInterrupt);
    std::signal(SIGTERM, onInterrupt);
    ResumeOverrides overrides;
    if (p.given("steps")) overrides.steps = c.steps;
    if (p.given("max-minutes")) overrides.maxMinutes = c.maxMinutes;
    if (p.given("device")) overrides.device = device;
    if (p.given("precision")) overrides.precision = precision;
    if (p.given("shards")) overrides.shards = static_cast<int>(shards);
    if (p.given("threads")) overrides.threads = c.threads;
    const auto result = resuming ? resume(resumeDir, overrides, cb, comm.get()) : train(c, out, cb, comm.get());
    progress.finish();
    if (!leader) return result.stoppedEarly ? 130 : 0;
    std::cerr << (result.stoppedEarly    ? "stopped"
                  : result.budgetReached ? "time budget reached"
                                         : "done")
              << " at step " << result.steps << ", loss " << result.lastLoss;
    if (result.lastEvalLoss)
        std::cerr << ", held-out loss " << *result.lastEvalLoss << " (perplexity " << std::exp(*result.lastEvalLoss)
                  << ")";
    std::cerr << "\nmodel: " << result.modelPath.string() << '\n';
    return result.stoppedEarly ? 130 : 0;
}

} // namespace brillm::cli
