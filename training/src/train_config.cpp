// SPDX-License-Identifier: GPL-3.0-or-later
#include "brillm/training/train_config.h"

#include "brillm/error.h"

#include <nlohmann/json.hpp>

namespace brillm::training {

namespace {

template <class E>
E fromName(const std::string& s, std::initializer_list<std::pair<const char*, E>> names, const char* what) {
    std::string all;
    for (const auto& [n, e] : names) {
        if (s == n) return e;
        all += (all.empty() ? "" : ", ") + std::string(n);
    }
    throw InputError(std::string("unknown ") + what + " '" + s + "' (expected one of: " + all + ")");
}

} // namespace

TrainConfig recipeConfig(const std::string& name) {
    TrainConfig c;
    if (name == "default") return c;
    if (name != "reference") throw InputError("unknown recipe '" + name + "' (expected one of: default, reference)");
    c.recipe = name;
    c.init = InitKind::Random;
    c.loss = LossKind::Sampled;
    c.validationWindows = 0;
    c.negatives = 400;
    c.negativeMode = NegativeMode::Frequency;
    c.optimizer = OptimizerKind::AdamW;
    c.lr = 5e-2;
    c.schedule = LrSchedule::Constant;
    c.batchSize = 32;
    c.steps = 1500;
    return c;
}

const char* toString(LossKind k) {
    return k == LossKind::Exact ? "exact" : k == LossKind::Sampled ? "sampled" : "sampled-own";
}
const char* toString(InitKind k) {
    return k == InitKind::Bigram ? "bigram" : "random";
}
LossKind lossKindFromString(const std::string& s) {
    return fromName<LossKind>(
        s, {{"exact", LossKind::Exact}, {"sampled", LossKind::Sampled}, {"sampled-own", LossKind::SampledOwn}}, "loss");
}
InitKind initKindFromString(const std::string& s) {
    return fromName<InitKind>(s, {{"bigram", InitKind::Bigram}, {"random", InitKind::Random}}, "init");
}

const char* toString(NegativeMode m) {
    return m == NegativeMode::Frequency ? "frequency" : "random";
}
const char* toString(OptimizerKind k) {
    switch (k) {
    case OptimizerKind::AdamW:
        return "adamw";
    case OptimizerKind::SparseAdamW:
        return "sparse-adamw";
    case OptimizerKind::Sgd:
        return "sgd";
    case OptimizerKind::Adagrad:
        return "adagrad";
    }
    return "?";
}
const char* toString(LrSchedule s) {
    return s == LrSchedule::Constant ? "constant" : "cosine";
}
const char* toString(EdgeSelection e) {
    return e == EdgeSelection::Real ? "real" : "reference";
}

const char* toString(ShardBalance b) {
    return b == ShardBalance::Work ? "work" : "memory";
}

NegativeMode negativeModeFromString(const std::string& s) {
    return fromName<NegativeMode>(s, {{"frequency", NegativeMode::Frequency}, {"random", NegativeMode::Random}},
                                  "negative mode");
}
OptimizerKind optimizerFromString(const std::string& s) {
    return fromName<OptimizerKind>(s,
                                   {{"adamw", OptimizerKind::AdamW},
                                    {"sparse-adamw", OptimizerKind::SparseAdamW},
                                    {"sgd", OptimizerKind::Sgd},
                                    {"adagrad", OptimizerKind::Adagrad}},
                                   "optimizer");
}
LrSchedule scheduleFromString(const std::string& s) {
    return fromName<LrSchedule>(s, {{"constant", LrSchedule::Constant}, {"cosine", LrSchedule::WarmupCosine}},
                                "schedule");
}
EdgeSelection edgeSelectionFromString(const std::string& s) {
    return fromName<EdgeSelection>(s, {{"real", EdgeSelection::Real}, {"reference", EdgeSelection::Reference}},
                                   "edge selection");
}

ShardBalance shardBalanceFromString(const std::string& s) {
    return fromName<ShardBalance>(s, {{"memory", ShardBalance::Memory}, {"work", ShardBalance::Work}}, "shard balance");
}

std::string TrainConfig::toJson() const {
    nlohmann::json j = {
        {"recipe", recipe},
        {"corpus", corpus},
        {"held_out_corpus", heldOutCorpus},
        {"tokenizer", tokenizer},
        {"vocab_kind", vocabKind},
        {"vocab_size", vocabSize},
        {"init_model", initModel},
        {"max_seq_length", maxSeqLength},
        {"edges", toString(edges)},
        {"held_out_fraction", heldOutFraction},
        {"held_out_max", heldOutMax},
        {"min_count", minCount},
        {"validation_windows", validationWindows},
        {"dim", dim},
        {"init", toString(init)},
        {"init_scale", initScale},
        {"position_slope", positionSlope},
        {"context_code", contextCode},
        {"loss", toString(loss)},
        {"steps", steps},
        {"batch_size", batchSize},
        {"negatives", negatives},
        {"negative_mode", toString(negativeMode)},
        {"optimizer", toString(optimizer)},
        {"lr", lr},
        {"beta1", beta1},
        {"beta2", beta2},
        {"eps", eps},
        {"weight_decay", weightDecay},
        {"schedule", toString(schedule)},
        {"warmup_steps", warmupSteps},
        {"min_lr_fraction", minLrFraction},
        {"clip_norm", clipNorm},
        {"seed", seed},
        {"threads", threads},
        {"device", device},
        {"precision", precision},
        {"eval_every", evalEvery},
        {"eval_samples", evalSamples},
        {"checkpoint_every", checkpointEvery},
        {"checkpoint_minutes", checkpointMinutes},
        {"keep_checkpoints", keepCheckpoints},
        {"max_non_finite", maxNonFinite},
        {"max_minutes", maxMinutes},
        {"shard_edges", shardEdges},
        {"shards", shards},
        {"shard_balance", toString(shardBalance)},
    };
    return j.dump(2);
}

TrainConfig TrainConfig::fromJson(const std::string& text, const std::string& source) {
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(text);
    } catch (const nlohmann::json::parse_error& e) {
        throw InputError(source + ": malformed JSON at byte " + std::to_string(e.byte) + ": " + e.what());
    }
    if (!j.is_object()) throw InputError(source + ": expected a JSON object of training settings");
    // a config.json without a "loss" key predates the recipes: it trained with the reference's
    TrainConfig c = j.contains("loss") ? TrainConfig{} : recipeConfig("reference");
    try {
        const auto get = [&](const char* key, auto& out) {
            if (j.contains(key)) out = j.at(key).get<std::remove_reference_t<decltype(out)>>();
        };
        get("recipe", c.recipe);
        get("corpus", c.corpus);
        get("held_out_corpus", c.heldOutCorpus);
        get("tokenizer", c.tokenizer);
        get("vocab_kind", c.vocabKind);
        get("vocab_size", c.vocabSize);
        get("init_model", c.initModel);
        get("max_seq_length", c.maxSeqLength);
        if (j.contains("edges")) c.edges = edgeSelectionFromString(j.at("edges").get<std::string>());
        get("held_out_fraction", c.heldOutFraction);
        get("held_out_max", c.heldOutMax);
        get("min_count", c.minCount);
        get("validation_windows", c.validationWindows);
        get("dim", c.dim);
        if (j.contains("init")) c.init = initKindFromString(j.at("init").get<std::string>());
        get("init_scale", c.initScale);
        get("position_slope", c.positionSlope);
        get("context_code", c.contextCode);
        if (j.contains("loss")) c.loss = lossKindFromString(j.at("loss").get<std::string>());
        get("steps", c.steps);
        get("batch_size", c.batchSize);
        get("negatives", c.negatives);
        if (j.contains("negative_mode"))
            c.negativeMode = negativeModeFromString(j.at("negative_mode").get<std::string>());
        if (j.contains("optimizer")) c.optimizer = optimizerFromString(j.at("optimizer").get<std::string>());
        get("lr", c.lr);
        get("beta1", c.beta1);
        get("beta2", c.beta2);
        get("eps", c.eps);
        get("weight_decay", c.weightDecay);
        if (j.contains("schedule")) c.schedule = scheduleFromString(j.at("schedule").get<std::string>());
        get("warmup_steps", c.warmupSteps);
        get("min_lr_fraction", c.minLrFraction);
        get("clip_norm", c.clipNorm);
        get("seed", c.seed);
        get("threads", c.threads);
        get("device", c.device);
        get("precision", c.precision);
        get("eval_every", c.evalEvery);
        get("eval_samples", c.evalSamples);
        get("checkpoint_every", c.checkpointEvery);
        get("checkpoint_minutes", c.checkpointMinutes);
        get("keep_checkpoints", c.keepCheckpoints);
        get("max_non_finite", c.maxNonFinite);
        get("max_minutes", c.maxMinutes);
        get("shard_edges", c.shardEdges);
        get("shards", c.shards);
        if (j.contains("shard_balance"))
            c.shardBalance = shardBalanceFromString(j.at("shard_balance").get<std::string>());
    } catch (const nlohmann::json::exception& e) {
        throw InputError(source + ": a training setting has the wrong type: " + e.what());
    }
    return c;
}

std::vector<std::string> TrainConfig::differencesForResume(const TrainConfig& o) const {
    std::vector<std::string> d;
    const auto cmp = [&](const char* name, bool same) {
        if (!same) d.emplace_back(name);
    };
    cmp("corpus", corpus == o.corpus);
    cmp("tokenizer", tokenizer == o.tokenizer);
    cmp("vocab_kind", vocabKind == o.vocabKind);
    cmp("vocab_size", vocabSize == o.vocabSize);
    cmp("init_model", initModel == o.initModel);
    cmp("max_seq_length", maxSeqLength == o.maxSeqLength);
    cmp("edges", edges == o.edges);
    cmp("held_out_fraction", heldOutFraction == o.heldOutFraction);
    cmp("held_out_max", heldOutMax == o.heldOutMax);
    cmp("min_count", minCount == o.minCount);
    cmp("validation_windows", validationWindows == o.validationWindows);
    cmp("dim", dim == o.dim);
    cmp("held_out_corpus", heldOutCorpus == o.heldOutCorpus);
    cmp("init", init == o.init);
    cmp("loss", loss == o.loss);
    cmp("batch_size", batchSize == o.batchSize);
    cmp("negatives", negatives == o.negatives);
    cmp("negative_mode", negativeMode == o.negativeMode);
    cmp("optimizer", optimizer == o.optimizer);
    cmp("seed", seed == o.seed);
    cmp("shard_edges", shardEdges == o.shardEdges);
    return d;
}

} // namespace brillm::training
