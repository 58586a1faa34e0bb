// SPDX-License-Identifier: GPL-3.0-or-later
#include "views/cortex_layout.h"

#include "views/graph_layout.h"

#include <QDataStream>
#include <QDir>
#include <QElapsedTimer>
#include <QFile>
#include <QSaveFile>

#include <algorithm>
#include <cmath>

namespace brillm::viz {

namespace {
constexpr quint32 kMagic = 0x58435242; // "BRCX"
constexpr quint32 kVersion = 1;

std::vector<QPointF> spiral(int64_t n) {
    std::vector<QPointF> p(static_cast<size_t>(n));
    const double golden = M_PI * (3 - std::sqrt(5.0));
    for (int64_t i = 0; i < n; ++i) {
        const double r = std::sqrt((static_cast<double>(i) + 0.5) / static_cast<double>(std::max<int64_t>(1, n))) * 0.5;
        const double a = static_cast<double>(i) * golden;
        p[static_cast<size_t>(i)] = QPointF(0.5 + r * std::cos(a), 0.5 + r * std::sin(a));
    }
    return p;
}

void normalise(std::vector<QPointF>& p) {
    if (p.empty()) return;
    double x0 = p[0].x(), x1 = x0, y0 = p[0].y(), y1 = y0;
    for (const auto& q : p) {
        x0 = std::min(x0, q.x());
        x1 = std::max(x1, q.x());
        y0 = std::min(y0, q.y());
        y1 = std::max(y1, q.y());
    }
    const double s = std::max({x1 - x0, y1 - y0, 1e-9});
    const double ox = (s - (x1 - x0)) / 2, oy = (s - (y1 - y0)) / 2;
    for (auto& q : p)
        q = QPointF((q.x() - x0 + ox) / s, (q.y() - y0 + oy) / s);
}
} // namespace

QString cortexCachePath(const QString& cacheDir, const QString& cacheKey) {
    return QDir(cacheDir).filePath(QStringLiteral("cortex-%1.bin").arg(cacheKey));
}

CortexLayout computeCortexLayout(const Model& model, int maxEdgesPerNode) {
    QElapsedTimer timer;
    timer.start();
    CortexLayout out;
    const int64_t V = model.vocabSize();
    const auto& edges = model.edges;
    GraphInput input;
    input.engine = QStringLiteral("sfdp");
    input.nodes.assign(static_cast<size_t>(V), GraphInput::Node{QSizeF(2, 2)});
    for (int64_t s = 0; s < V; ++s) {
        const auto targets = edges.ownTargets(s);
        const auto n = static_cast<int64_t>(targets.size());
        if (n == 0) continue;
        const int64_t take = std::min<int64_t>(n, maxEdgesPerNode);
        for (int64_t k = 0; k < take; ++k) {
            const int32_t t = targets[static_cast<size_t>(k * n / take)];
            if (t != s) input.edges.push_back({static_cast<int>(s), t, 1.0});
        }
    }
    if (!input.edges.empty() && V > 1) {
        const GraphLayout layout = layoutGraph(input);
        if (layout.error.isEmpty() && static_cast<int64_t>(layout.nodeCenters.size()) == V) {
            out.positions = layout.nodeCenters;
            out.method = QStringLiteral("sfdp");
        }
    }
    if (out.positions.empty()) {
        out.positions = spiral(V);
        out.method = QStringLiteral("spiral");
    }
    normalise(out.positions);
    out.seconds = static_cast<double>(timer.nsecsElapsed()) * 1e-9;
    return out;
}

namespace {
constexpr double kOwnRadius = 0.42; // of a spiral item; the spiral gives each one unit of spacing

struct Ranked {
    std::vector<int32_t> own; // own-slot candidates by energy, then node id
    int64_t shared = 0;
    int32_t firstShared = -1;
    double sharedProbability = 0;
    double sharedEnergy = 0;
};

Ranked rankCandidates(const Model& model, const TraceStep& step) {
    Ranked r;
    const auto& e = step.energies;
    for (size_t t = 0; t < e.size(); ++t) {
        if (std::isnan(e[t])) continue;
        const auto node = static_cast<int32_t>(t);
        if (model.edges.isShared(step.source, node)) {
            if (r.shared++ == 0) {
                r.firstShared = node;
                r.sharedEnergy = e[t];
            }
            r.sharedProbability += step.probabilities.empty() ? 0 : step.probabilities[t];
        } else {
            r.own.push_back(node);
        }
    }
    std::sort(r.own.begin(), r.own.end(), [&](int32_t a, int32_t b) { return e[a] > e[b] || (e[a] == e[b] && a < b); });
    return r;
}

// Rank of an own candidate among all candidates (energy, then node id, as topCandidates ranks).
int64_t rankOf(const TraceStep& step, const Ranked& r, size_t ownIndex) {
    const int32_t node = r.own[ownIndex];
    const double e = step.energies[static_cast<size_t>(node)];
    int64_t rank = static_cast<int64_t>(ownIndex) + 1;
    if (r.shared == 0) return rank;
    if (r.sharedEnergy > e) return rank + r.shared;
    if (r.sharedEnergy == e) // rare: count the tied shared nodes with a smaller id
        for (int32_t t = r.firstShared; t < node; ++t)
            if (!std::isnan(step.energies[static_cast<size_t>(t)]) && step.energies[static_cast<size_t>(t)] == e)
                ++rank;
    return rank;
}

// Source, taken, aggregate, then own candidates by rank; energy range and bounds.
CortexScene finish(CortexScene s) {
    std::stable_sort(s.items.begin(), s.items.end(), [](const CortexItem& a, const CortexItem& b) {
        auto prio = [](const CortexItem& i) { return i.source ? 0 : i.taken ? 1 : i.node < 0 ? 2 : 3; };
        if (prio(a) != prio(b)) return prio(a) < prio(b);
        return a.rank < b.rank;
    });
    s.aggregate = -1;
    s.lo = std::numeric_limits<double>::infinity();
    s.hi = -s.lo;
    bool first = true;
    for (size_t i = 0; i < s.items.size(); ++i) {
        const auto& it = s.items[i];
        if (it.node < 0) s.aggregate = static_cast<int>(i);
        if (!it.source || it.rank > 0) {
            s.lo = std::min(s.lo, it.energy);
            s.hi = std::max(s.hi, it.energy);
        }
        const QRectF box(it.pos.x() - it.radius, it.pos.y() - it.radius, 2 * it.radius, 2 * it.radius);
        s.bounds = first ? box : s.bounds.united(box);
        first = false;
    }
    if (!std::isfinite(s.lo)) s.lo = 0, s.hi = 1;
    if (s.hi - s.lo < 1e-12) s.hi = s.lo + 1e-12;
    return s;
}

CortexItem aggregateItem(const Ranked& r, const TraceStep& step) {
    CortexItem a;
    a.node = -1;
    a.count = r.shared;
    a.energy = r.sharedEnergy;
    a.probability = r.sharedProbability;
    int64_t above = 0;
    for (int32_t n : r.own)
        if (step.energies[static_cast<size_t>(n)] > r.sharedEnergy) ++above;
    a.rank = above + 1;
    a.taken = step.shared && static_cast<size_t>(step.target) < step.energies.size() &&
              !std::isnan(step.energies[static_cast<size_t>(step.target)]);
    return a;
}
} // namespace

CortexScene rankedCortexScene(const Model& model, const TraceStep& step, int64_t maxOwn) {
    CortexScene s;
    CortexItem src;
    src.node = step.source;
    src.source = true;
    src.radius = 0.6;
    s.items.push_back(src);
    if (step.energies.empty()) return finish(std::move(s));
    const Ranked r = rankCandidates(model, step);
    s.ownCandidates = static_cast<int64_t>(r.own.size());
    s.ownShown = std::min<int64_t>(s.ownCandidates, maxOwn);
    const double golden = M_PI * (3 - std::sqrt(5.0));
    for (int64_t k = 0; k < s.ownShown; ++k) {
        CortexItem it;
        it.node = r.own[static_cast<size_t>(k)];
        it.rank = rankOf(step, r, static_cast<size_t>(k));
        it.energy = step.energies[static_cast<size_t>(it.node)];
        it.probability = step.probabilities.empty() ? 0 : step.probabilities[static_cast<size_t>(it.node)];
        it.taken = it.node == step.target;
        const double rad = std::sqrt(static_cast<double>(k) + 1.8), ang = static_cast<double>(k) * golden;
        it.pos = QPointF(rad * std::cos(ang), rad * std::sin(ang));
        it.radius = kOwnRadius;
        s.items.push_back(it);
    }
    if (r.shared > 0) {
        CortexItem a = aggregateItem(r, step);
        // Area in proportion to the count (as dense as the spiral), capped so that the spiral stays readable.
        const double spiral = std::sqrt(static_cast<double>(s.ownShown) + 1.8) + kOwnRadius;
        a.radius = std::clamp(kOwnRadius * std::sqrt(static_cast<double>(r.shared)), 1.2, std::max(2.5, spiral * 0.55));
        a.pos = QPointF(spiral + 1.5 + a.radius, 0);
        s.items.push_back(a);
    }
    return finish(std::move(s));
}

CortexScene mapCortexScene(const Model& model, const TraceStep& step, const std::vector<QPointF>& positions) {
    CortexScene s;
    const auto V = static_cast<double>(std::max<size_t>(1, positions.size()));
    const double r = std::clamp(0.3 / std::sqrt(V), 0.002, 0.03);
    auto at = [&](int32_t node) {
        return node >= 0 && static_cast<size_t>(node) < positions.size() ? positions[static_cast<size_t>(node)]
                                                                         : QPointF(0.5, 0.5);
    };
    CortexItem src;
    src.node = step.source;
    src.source = true;
    src.pos = at(step.source);
    src.radius = r * 1.5;
    s.items.push_back(src);
    if (step.energies.empty()) return finish(std::move(s));
    const Ranked rk = rankCandidates(model, step);
    s.ownCandidates = s.ownShown = static_cast<int64_t>(rk.own.size());
    for (size_t k = 0; k < rk.own.size(); ++k) {
        CortexItem it;
        it.node = rk.own[k];
        it.rank = rankOf(step, rk, k);
        it.energy = step.energies[static_cast<size_t>(it.node)];
        it.probability = step.probabilities.empty() ? 0 : step.probabilities[static_cast<size_t>(it.node)];
        it.taken = it.node == step.target;
        it.pos = at(it.node);
        it.radius = r * 1.3;
        s.items.push_back(it);
    }
    if (rk.shared > 0) {
        // Beside the candidates (not beside the whole map), so that fitting the scene frames them.
        QRectF box;
        for (const auto& it : s.items)
            box = box.united(QRectF(it.pos.x() - it.radius, it.pos.y() - it.radius, 2 * it.radius, 2 * it.radius));
        const double size = std::max({box.width(), box.height(), 12 * r});
        CortexItem a = aggregateItem(rk, step);
        a.radius = std::clamp(0.3 * size, 3 * r, 0.07);
        a.pos = QPointF(box.right() + 0.15 * size + a.radius, box.center().y());
        s.items.push_back(a);
    }
    return finish(std::move(s));
}

CortexLayout cortexLayout(const StudioModel& model, const QString& cacheDir) {
    const QString path = cortexCachePath(cacheDir, model.cacheKey);
    const int64_t V = model.vocabSize();
    QFile in(path);
    if (!cacheDir.isEmpty() && in.open(QIODevice::ReadOnly)) {
        QDataStream ds(&in);
        quint32 magic = 0, version = 0, n = 0;
        QString method;
        ds >> magic >> version >> n >> method;
        if (magic == kMagic && version == kVersion && static_cast<int64_t>(n) == V) {
            CortexLayout out;
            out.positions.resize(n);
            for (auto& p : out.positions) {
                float x = 0, y = 0;
                ds >> x >> y;
                p = QPointF(x, y);
            }
            if (ds.status() == QDataStream::Ok) {
                out.method = method;
                out.fromCache = true;
                return out;
            }
        }
    }
    CortexLayout out = computeCortexLayout(model.model());
    if (!cacheDir.isEmpty() && QDir().mkpath(cacheDir)) {
        QSaveFile f(path);
        if (f.open(QIODevice::WriteOnly)) {
            QDataStream ds(&f);
            ds << kMagic << kVersion << static_cast<quint32>(V) << out.method;
            for (const auto& p : out.positions)
                ds << static_cast<float>(p.x()) << static_cast<float>(p.y());
            f.commit();
        }
    }
    return out;
}

} // namespace brillm::viz
