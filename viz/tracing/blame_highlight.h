// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// What error tracing asks the path and graph views to highlight: the edges and earlier
// positions most responsible for a margin. weight is signed and relative, in [-1, 1]:
// positive pushes towards the winner A, negative towards B.

#include <QList>
#include <QMetaType>

#include <cstdint>

namespace brillm::viz {

struct EdgeHighlight {
    int32_t source = -1;
    int32_t target = -1;
    double weight = 0;
};

struct PositionHighlight {
    int64_t position = 0; // the edge index whose signal later steps mix
    double weight = 0;
};

using EdgeHighlights = QList<EdgeHighlight>;
using PositionHighlights = QList<PositionHighlight>;

} // namespace brillm::viz

Q_DECLARE_METATYPE(brillm::viz::EdgeHighlights)
Q_DECLARE_METATYPE(brillm::viz::PositionHighlights)
