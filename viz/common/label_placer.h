// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Greedy label placement with collision rejection, for views that label many points: requests
// are taken in priority order (index 0 first); each label goes to the first of eight positions
// around its anchor (right, left, above, below, then the diagonals; for key labels also the
// same eight further out) that overlaps no label
// placed before, no obstacle (the drawn marks) and stays inside the bounds; a label with no
// free position is dropped. Zooming in spreads the anchors, so more labels fit. Pure function,
// any thread; a uniform grid keeps it near linear in the number of requests.

#include <QRectF>
#include <QSizeF>

#include <vector>

namespace brillm::viz {

struct LabelRequest {
    QPointF anchor;   // the mark's centre, in the coordinates of the result
    double gap = 4;   // distance from the anchor to the label's near edge (mark radius + padding)
    QSizeF size;      // the label's box
    bool far = false; // when the eight near places are taken, also try them further out (key labels)
};

// The box of each request, or a null QRectF for a label that found no room. At most
// maxLabels labels are placed (the rest are dropped, lowest priority first).
std::vector<QRectF> placeLabels(const std::vector<LabelRequest>& requests, const std::vector<QRectF>& obstacles,
                                const QRectF& bounds, int maxLabels = 1000);

} // namespace brillm::viz
