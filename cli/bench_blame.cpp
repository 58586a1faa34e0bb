// SPDX-License-Identifier: GPL-3.0-or-later
// brillm bench blame: the time of a full blame report (every contributor's exact leave-one-out
// plus the margin's gradient) against the simplest correct version: for every contributor,
// ablate it in a float64 copy of the model and recompute the margin from scratch.
#include "args.h"
#include "commands.h"

#include "baselines/blame_brute_force.h"
#include "brillm/error.h"
#include "brillm/model/blame.h"
#include "brillm/model/signal.h"

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cmath>
#include <iostream>
#include <limits>
#include <random>

namespace brillm::cli {

namespace {

using Clock = std::chrono::steady_clock;
using bench::bruteForce;

} // namespace

int runBenchBlame(const Args& args) {
    int64_t V = 1000, E = 100000, dim = 32, repeats = 3;
    std::vector<std::string> lengths;
    bool json = false;
    ArgParser p("brillm bench blame",
                "Time of a blame report (exact leave-one-out of every contributor plus the margin's gradient)\n"
                "for paths of several lengths on a synthetic model, next to brute force (each ablation in a\n"
                "float64 copy of the model, margin recomputed from scratch by the decoder's scorer).");
    p.option("vocab", &V, "V", "number of nodes (default {default})");
    p.option("own-edges", &E, "E", "own edges (default {default})");
    p.option("dim", &dim, "D", "signal dimension (default {default})");
    p.list("length", &lengths, "N", "path length in nodes (repeatable; default 8, 32, 128, 511)");
    p.option("repeats", &repeats, "R", "timed repetitions, best kept (default {default})");
    p.flag("json", &json, "print one JSON object");
    if (!p.parse(args)) return 0;
    if (lengths.empty()) lengths = {"8", "32", "128", "511"};
    if (V < 3 || E < 0 || E > V * V || dim < 2 || dim % 2 || repeats < 1)
        throw UsageError("need --vocab >= 3, 0 <= --own-edges <= V*V, an even --dim and --repeats >= 1");

    std::mt19937_64 rng(7);
    std::vector<std::pair<int32_t, int32_t>> pairs;
    {
        std::uniform_int_distribution<int64_t> pick(0, V * V - 1);
        std::vector<char> seen(static_cast<size_t>(V * V), 0);
        while (static_cast<int64_t>(pairs.size()) < E) {
            const int64_t x = pick(rng);
            if (!seen[static_cast<size_t>(x)]) {
                seen[static_cast<size_t>(x)] = 1;
                pairs.emplace_back(static_cast<int32_t>(x / V), static_cast<int32_t>(x % V));
            }
        }
    }
    const Model model = Model::randomInit({V, dim, 512}, EdgeTable::fromPairs(V, pairs), 3);
    Model model64 = model.toDtype(at::kDouble);
    std::uniform_int_distribution<int32_t> node(0, static_cast<int32_t>(V) - 1);

    nlohmann::json runs = nlohmann::json::array();
    for (const auto& text : lengths) {
        const int64_t n = std::stoll(text);
        if (n < 1 || n > 511) throw UsageError("--length must be in [1, 511]");
        // a random walk along own edges (as text mostly follows trained edges), and two own
        // candidates of the last node, so that the margin and the ablations are not trivially 0
        const auto ownStep = [&](int32_t from, int32_t avoid) {
            const auto own = model.edges.ownTargets(from);
            for (int attempt = 0; attempt < 8 && !own.empty(); ++attempt) {
                const int32_t t = own[std::uniform_int_distribution<size_t>(0, own.size() - 1)(rng)];
                if (t != avoid) return t;
            }
            int32_t t;
            do
                t = node(rng);
            while (t == avoid);
            return t;
        };
        BlameQuery q;
        q.path.push_back(node(rng));
        while (static_cast<int64_t>(q.path.size()) < n)
            q.path.push_back(ownStep(q.path.back(), -1));
        q.a = ownStep(q.path.back(), -1);
        q.b = ownStep(q.path.back(), q.a);
        double best = std::numeric_limits<double>::infinity();
        BlameReport report;
        for (int64_t r = 0; r < repeats; ++r) {
            const auto t0 = Clock::now();
            report = blame(model, q);
            best = std::min(best, std::chrono::duration<double>(Clock::now() - t0).count());
        }
        const auto t0 = Clock::now();
        const double disagreement = bruteForce(model64, report);
        const double brute = std::chrono::duration<double>(Clock::now() - t0).count();
        // multiply-adds of one forward pass from the start: mixtures sum_k k d, edges n d^2
        const double forwardFlops = 2.0 * (static_cast<double>(n * (n - 1) / 2) * static_cast<double>(dim) +
                                           static_cast<double>(n + 1) * static_cast<double>(dim * dim));
        runs.push_back({{"path_nodes", n},
                        {"contributors", report.contributors.size()},
                        {"blame_ms", best * 1e3},
                        {"brute_force_ms", brute * 1e3},
                        {"speedup_vs_brute_force", brute / best},
                        {"forward_pass_mflop", forwardFlops / 1e6},
                        {"max_abs_disagreement", disagreement}});
        if (!json)
            std::cout << "path " << n << " nodes, " << report.contributors.size() << " contributors: blame "
                      << best * 1e3 << " ms, brute force " << brute * 1e3 << " ms (" << brute / best
                      << "x), largest disagreement " << disagreement << '\n';
    }
    if (json)
        std::cout
            << nlohmann::json{{"benchmark", "blame"}, {"vocab", V}, {"own_edges", E}, {"dim", dim}, {"runs", runs}}
                   .dump()
            << '\n';
    return 0;
}

} // namespace brillm::cli
