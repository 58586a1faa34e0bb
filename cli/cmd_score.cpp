// SPDX-License-Identifier: GPL-3.0-or-later
// brillm score: how well a model predicts a text.
#include "commands.h"
#include "model_session.h"

#include "brillm/error.h"
#include "brillm/model/loss.h"

#include <cmath>
#include <iostream>
#include <random>
#include <unordered_set>

namespace brillm::cli {

int runScore(const Args& args) {
    std::string modelPath, text, ids;
    int64_t negatives = 400;
    uint64_t seed = 0;
    bool json = false;
    ArgParser p("brillm score",
                "The exact loss and perplexity of a text over all candidates (every node, as in training:\n"
                "self-loops included), per edge and in total; and the sampled-negative loss as training\n"
                "computes it, with K random negatives per edge drawn with --seed.");
    p.option("model", &modelPath, "FILE", "the model file (or a sharded model's directory, its shards mapped)");
    p.option("text", &text, "TEXT", "the text to score");
    p.option("ids", &ids, "IDS", "the text as comma-separated node ids instead");
    p.option("negatives", &negatives, "K", "negatives per edge for the sampled loss (default {default}, at most V-1)");
    p.option("seed", &seed, "S", "seed of the negative sampler (default {default})");
    p.flag("json", &json, "print one JSON object");
    p.required("model");
    if (!p.parse(args)) return 0;
    if (p.given("text") == p.given("ids")) throw UsageError("give exactly one of --text and --ids");
    if (negatives < 1) throw UsageError("--negatives must be at least 1 (at most V-1 are used)");

    const auto session = ModelSession::open(modelPath);
    const auto nodes = session.encodePrompt(p.given("text") ? text : ids, p.given("ids"));
    if (nodes.size() < 2) throw InputError("the text must have at least two tokens to have an edge to score");
    const auto exact = exactLoss(session.model(), nodes);

    const int64_t V = session.model().vocabSize();
    const int64_t k = std::min<int64_t>(negatives, V - 1);
    std::mt19937_64 rng(seed);
    std::uniform_int_distribution<int32_t> pick(0, static_cast<int32_t>(V) - 1);
    std::vector<std::vector<int32_t>> neg(nodes.size() - 1);
    for (size_t i = 0; i + 1 < nodes.size(); ++i) {
        std::unordered_set<int32_t> chosen;
        while (static_cast<int64_t>(chosen.size()) < k) {
            const int32_t v = pick(rng);
            if (v != nodes[i + 1] && chosen.insert(v).second) neg[i].push_back(v);
        }
    }
    const auto sample = LossSample::fromNegatives(nodes, neg);
    const auto sampled = sampledLoss(session.model(), std::span<const LossSample>(&sample, 1), LossOptions{false, 1});
    // a loss of nan with exit 0 would pass for a score: the model's parameters are not finite
    if (!std::isfinite(exact.loss) || !std::isfinite(sampled.loss))
        throw InputError("the loss of this text is not finite (" + std::to_string(exact.loss) +
                         "): the parameters of " + modelPath +
                         " on its path hold NaN or Inf values; check the file with brillm verify");

    if (json) {
        nlohmann::json edges = nlohmann::json::array();
        for (size_t i = 0; i < exact.edgeLosses.size(); ++i)
            edges.push_back({{"source", nodes[i]},
                             {"target", nodes[i + 1]},
                             {"token", session.nodeToken(nodes[i + 1])},
                             {"loss", exact.edgeLosses[i]}});
        std::cout << nlohmann::json{{"edges", exact.edgeLosses.size()},
                                    {"exact_loss", exact.loss},
                                    {"perplexity", exact.perplexity},
                                    {"sampled_loss", sampled.loss},
                                    {"sampled_perplexity", std::exp(sampled.loss)},
                                    {"negatives", k},
                                    {"seed", seed},
                                    {"per_edge", edges}}
                         .dump()
                  << '\n';
        return 0;
    }
    std::cout << "edges:                 " << exact.edgeLosses.size() << '\n'
              << "exact loss:            " << exact.loss << "  (perplexity " << exact.perplexity << ", over all " << V
              << " candidates)\n"
              << "sampled loss (k=" << k << "):  " << sampled.loss << "  (perplexity " << std::exp(sampled.loss)
              << ", seed " << seed << ")\n"
              << "hardest edges:\n";
    std::vector<size_t> order(exact.edgeLosses.size());
    for (size_t i = 0; i < order.size(); ++i)
        order[i] = i;
    std::sort(order.begin(), order.end(),
              [&](size_t a, size_t b) { return exact.edgeLosses[a] > exact.edgeLosses[b]; });
    for (size_t r = 0; r < std::min<size_t>(5, order.size()); ++r) {
        const size_t i = order[r];
        std::cout << "  edge " << i << ": '" << session.nodeLabel(nodes[i]) << "' -> '"
                  << session.nodeLabel(nodes[i + 1]) << "'  loss " << exact.edgeLosses[i] << '\n';
    }
    return 0;
}

} // namespace brillm::cli
