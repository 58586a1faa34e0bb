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
    for (auto& q : p) q = QPointF((q.x() - x0 + ox) / s, (q.y() - y0 + oy) / s);
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
            for (const auto& p : out.positions) ds << static_cast<float>(p.x()) << static_cast<float>(p.y());
            f.commit();
        }
    }
    return out;
}

} // namespace brillm::viz
