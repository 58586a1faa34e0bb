// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Fixed 2-D positions for all V nodes of a model (the "cortex"): Graphviz sfdp over a sparse
// sample of the own-edge graph (nodes that share trained edges end up close), with a
// sunflower spiral as the fallback. Computed once per model file and cached on disk.
// Pure functions; safe on any thread.

#include "studio/studio_model.h"

#include <QPointF>
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

} // namespace brillm::viz
