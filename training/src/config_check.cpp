// SPDX-License-Identifier: GPL-3.0-or-later
#include "brillm/training/config_check.h"

#include "brillm/error.h"

#include <cmath>
#include <sstream>
#include <string>

namespace brillm::training {

namespace {

// Doubles as a person would type them (1e+30, nan, -0.5), not std::to_string's fixed six digits.
std::string show(double v) {
    std::ostringstream s;
    s << v;
    return s.str();
}

[[noreturn]] void outOfRange(const std::string& option, const std::string& range, const std::string& given) {
    throw InputError("--" + option + " must be " + range + "; got " + given);
}

void intIn(const char* option, int64_t v, int64_t lo, int64_t hi, const std::string& range) {
    if (v < lo || v > hi) outOfRange(option, range, std::to_string(v));
}

// A finite double in [lo, hi] (hiOpen: [lo, hi)). NaN fails every comparison, so test the
// accepted range rather than the rejected one.
void realIn(const char* option, double v, double lo, double hi, bool hiOpen, const std::string& range) {
    const bool ok = std::isfinite(v) && v >= lo && (hiOpen ? v < hi : v <= hi);
    if (!ok) outOfRange(option, range, show(v));
}

bool isDevice(const std::string& d) {
    if (d.empty() || d == "cpu" || d == "cuda") return true;
    if (d.rfind("cuda:", 0) != 0 || d.size() == 5 || d.size() > 8) return false;
    for (size_t i = 5; i < d.size(); ++i)
        if (d[i] < '0' || d[i] > '9') return false;
    return true;
}

} // namespace

void validateTrainConfig(const TrainConfig& c) {
    if (c.recipe != "default" && c.recipe != "reference")
        outOfRange("recipe", "default or reference", "'" + c.recipe + "'");
    if (c.corpus.empty()) throw InputError("--corpus must name at least one text file");
    for (const auto& f : c.corpus)
        if (f.empty()) throw InputError("--corpus must name a file; got an empty path");
    for (const auto& f : c.heldOutCorpus)
        if (f.empty()) throw InputError("--held-out-corpus must name a file; got an empty path");
    if (c.tokenizer.empty()) {
        if (c.vocabKind != "char" && c.vocabKind != "bpe")
            outOfRange("vocab-kind", "char or bpe", "'" + c.vocabKind + "'");
        intIn("vocab-size", c.vocabSize, 2, kMaxTrainVocabSize,
              "in [2, " + std::to_string(kMaxTrainVocabSize) + "] (nodes of the vocabulary to build)");
    }
    intIn("max-seq-length", c.maxSeqLength, 2, 512, "in [2, 512]");
    if (c.heldOutCorpus.empty())
        realIn("held-out", c.heldOutFraction, 0.0, 1.0, true, "a fraction in [0, 1) (0: nothing held out)");
    intIn("held-out max", c.heldOutMax, 0, INT64_MAX, "at least 0");
    if (c.minCount < 1) outOfRange("min-count", "at least 1", std::to_string(c.minCount));
    if (c.validationWindows < 0 || c.validationWindows > 1'000'000)
        outOfRange("validation-windows", "0 .. 1 000 000 (0: none)", std::to_string(c.validationWindows));

    if (c.dim < 2 || c.dim > kMaxTrainDim || c.dim % 2 != 0)
        outOfRange("dim", "even and in [2, " + std::to_string(kMaxTrainDim) + "] (each edge holds a dim x dim matrix)",
                   std::to_string(c.dim));
    realIn("init-scale", c.initScale, 0.0, 1e6, false, "finite and at least 0");
    realIn("position-slope", c.positionSlope, -1e6, 1e6, false, "a finite number");

    intIn("steps", c.steps, 1, INT64_MAX / 2, "at least 1");
    intIn("batch", c.batchSize, 1, 1 << 20, "in [1, 1048576]");
    intIn("negatives", c.negatives, 1, kMaxTrainVocabSize, "at least 1 (and at most V - 1)");
    realIn("lr", c.lr, 0.0, kMaxTrainLr, false, "in (0, " + show(kMaxTrainLr) + "]");
    if (c.lr == 0.0) outOfRange("lr", "in (0, " + show(kMaxTrainLr) + "]", show(c.lr));
    realIn("beta1", c.beta1, 0.0, 1.0, true, "in [0, 1)");
    realIn("beta2", c.beta2, 0.0, 1.0, true, "in [0, 1)");
    realIn("eps", c.eps, 0.0, 1.0, false, "in (0, 1]");
    if (c.eps == 0.0) outOfRange("eps", "in (0, 1]", show(c.eps));
    realIn("weight-decay", c.weightDecay, 0.0, 1e6, false, "finite and at least 0");
    intIn("warmup", c.warmupSteps, 0, INT64_MAX / 2, "at least 0 (steps of linear warm-up)");
    realIn("min-lr-fraction", c.minLrFraction, 0.0, 1.0, false, "in [0, 1]");
    realIn("clip-norm", c.clipNorm, 0.0, 1e30, false, "finite and at least 0 (0: no clipping)");
    intIn("threads", c.threads, 0, 4096, "in [0, 4096] (0: all cores)");
    intIn("shards", c.shards, 0, 65536, "in [0, 65536] (0: every rank one shard)");
    if (!isDevice(c.device)) outOfRange("device", "cpu, cuda or cuda:N", "'" + c.device + "'");
    const bool fp32 = c.precision == "fp32" || c.precision == "float32";
    if (!fp32 && c.precision != "fp16" && c.precision != "float16" && c.precision != "bf16" &&
        c.precision != "bfloat16")
        outOfRange("precision", "fp32, fp16 or bf16", "'" + c.precision + "'");
    if (!fp32 && c.shardEdges)
        throw InputError("--shard-edges trains in float32 (the sharded step has no " + c.precision +
                         " path); give --precision fp32");
    if (!fp32 && c.device.rfind("cuda", 0) != 0)
        throw InputError("--precision " + c.precision + " needs --device cuda; on the CPU training runs in fp32");

    intIn("eval-every", c.evalEvery, 0, INT64_MAX / 2, "at least 0 (0: never)");
    intIn("eval-samples", c.evalSamples, 0, INT64_MAX / 2, "at least 0 (0: all held-out windows)");
    intIn("checkpoint-every", c.checkpointEvery, 0, INT64_MAX / 2, "at least 0 (0: only at the end)");
    realIn("checkpoint-minutes", c.checkpointMinutes, 0.0, 1e9, false, "finite and at least 0 (0: off)");
    intIn("keep", c.keepCheckpoints, 1, 1'000'000,
          "at least 1 (the newest checkpoint is what --resume continues from)");
    intIn("max-non-finite", c.maxNonFinite, 1, INT64_MAX / 2, "at least 1");
    realIn("max-minutes", c.maxMinutes, 0.0, 1e9, false, "finite and at least 0 (0: off)");
}

void validateAgainstVocabulary(const TrainConfig& c, int64_t vocabSize) {
    if (c.loss == LossKind::Sampled && c.negatives > vocabSize - 1)
        throw InputError("--negatives must be at most V - 1 = " + std::to_string(vocabSize - 1) +
                         " for the sampled loss over this vocabulary of " + std::to_string(vocabSize) + " nodes; got " +
                         std::to_string(c.negatives));
}

} // namespace brillm::training
