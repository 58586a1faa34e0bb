// SPDX-License-Identifier: GPL-3.0-or-later
#include "baselines/blame_brute_force.h"

#include "brillm/model/signal.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <limits>

namespace brillm::bench {

double marginFromScratch(const Model& m, const std::vector<int32_t>& path, int32_t a, int32_t b) {
    SignalPath p(m);
    p.start(path[0]);
    for (size_t k = 1; k < path.size(); ++k)
        p.advance(path[k]);
    const auto s = p.scoreNext(ScoreOptions{false});
    return s.rawEnergy(a) - s.rawEnergy(b);
}

double bruteForce(Model& m, const BlameReport& report) {
    const auto& q = report.query;
    double worst = 0;
    for (const auto& c : report.contributors) {
        double after = 0;
        switch (c.kind) {
        case ContributorKind::PathEdge:
        case ContributorKind::CandidateEdge: {
            if (!c.applicable) continue;
            const auto W = m.weights[c.slot].clone(), B = m.biases[c.slot].clone();
            m.weights[c.slot].copy_(m.weights[0]);
            m.biases[c.slot].copy_(m.biases[0]);
            after = marginFromScratch(m, q.path, q.a, q.b);
            m.weights[c.slot].copy_(W);
            m.biases[c.slot].copy_(B);
            break;
        }
        case ContributorKind::Position: {
            if (c.edgeIndex == 0) continue; // an empty mixture has no from-scratch equivalent
            auto pos = m.positions[0][c.edgeIndex][0];
            const double old = pos.item<double>();
            pos.fill_(-std::numeric_limits<double>::infinity());
            after = marginFromScratch(m, q.path, q.a, q.b);
            pos.fill_(old);
            break;
        }
        case ContributorKind::StartNode: {
            const auto nb = m.nodeBias[c.source].clone();
            m.nodeBias[c.source].zero_();
            after = marginFromScratch(m, q.path, q.a, q.b);
            m.nodeBias[c.source].copy_(nb);
            break;
        }
        }
        worst = std::max(worst, std::abs(after - c.marginAfter));
    }
    return worst;
}

} // namespace brillm::bench
