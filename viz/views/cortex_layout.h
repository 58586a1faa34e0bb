// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Fixed 2-D positions for all V nodes of a model (the "cortex"): Graphviz sfdp over a sparse
// sample of the own-edge graph (nodes that share trained edges end up close), with a
// sunflower spiral as the fallback. Computed once per model file and cached on disk.
// Pure functions; safe on any thread.

#include "studio/studio_model.h"

#include <brillm/model/decode.h>

#include <QPointF>
#include <QRectF>
#include <QString>

#include <vector>

namespace brillm::viz {

struct CortexLayout {
    std::vector<QPointF> positions; // [V], in [0, 1] x [0, 1]
    QString method;                 // "sfdp", "spiral"
    double seconds = 0;
    bool fromCache = false;
};

// maxEdgesPerNode own edges of each source go into the layout graph (spread over its row).
CortexLayout computeCortexLayout(const Model& model, int maxEdgesPerNode = 6);
// From cacheDir when a layout for model.cacheKey is there; else computed and written there.
CortexLayout cortexLayout(const StudioModel& model, const QString& cacheDir);
QString cortexCachePath(const QString& cacheDir, const QString& cacheKey);

// What the cortex map draws at one step. The candidates on the shared slot all carry one
// energy (they are tied), so they are ONE item, the aggregate, with their count and total
// probability; every own-slot candidate is an item of its own, ranked by energy.
struct CortexItem {
    int32_t node = -1; // -1: the shared-slot aggregate
    QPointF pos;       // world coordinates (the map's fit/zoom/pan maps them to pixels)
    double radius = 1; // world units
    int64_t rank = 0;  // 1-based among all candidates (the aggregate: its first rank); 0: source
    int64_t count = 1; // candidates this item stands for (the aggregate: the tied ones)
    double energy = 0;
    double probability = 0; // the aggregate: the sum over its candidates
    bool source = false, taken = false;
};
struct CortexScene {
    std::vector<CortexItem> items; // priority order: source, taken, aggregate, then by rank
    int aggregate = -1;            // index of the aggregate in items, -1 if no shared candidate
    int64_t ownCandidates = 0;     // own-slot candidates (items besides the source and aggregate)
    int64_t ownShown = 0;          // of which drawn (at most maxOwn)
    double lo = 0, hi = 1;         // energy range of the drawn candidates
    QRectF bounds;                 // world box of all items
};
// "Ranked": the source at the centre, own-slot candidates on a sunflower spiral in rank order
// (rank 1 nearest, every candidate an equal share of the area, so none overlap), the shared
// aggregate beside the spiral with an area that grows with its count.
CortexScene rankedCortexScene(const Model& model, const TraceStep& step, int64_t maxOwn = 3000);
// "Vocabulary map": own-slot candidates at their fixed positions (positions: [V] in [0, 1]^2),
// the aggregate beside them; the scene's bounds are theirs, so fitting it frames (and spreads)
// the candidates, the rest of the map around them.
CortexScene mapCortexScene(const Model& model, const TraceStep& step, const std::vector<QPointF>& positions);

} // namespace brillm::viz
