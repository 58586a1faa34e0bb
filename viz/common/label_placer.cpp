// SPDX-License-Identifier: GPL-3.0-or-later
#include "common/label_placer.h"

#include <algorithm>
#include <cmath>
#include <unordered_map>

namespace brillm::viz {

namespace {
// Boxes bucketed by the grid cells they touch; a query visits only the cells its box touches.
class BoxGrid {
public:
    explicit BoxGrid(double cell) : m_cell(cell) {}
    void add(const QRectF& r) {
        const auto idx = static_cast<int>(m_boxes.size());
        m_boxes.push_back(r);
        forCells(r, [&](int64_t key) { m_cells[key].push_back(idx); });
    }
    bool hits(const QRectF& r) const {
        bool hit = false;
        forCells(r, [&](int64_t key) {
            if (hit) return;
            const auto it = m_cells.find(key);
            if (it == m_cells.end()) return;
            for (int i : it->second)
                if (m_boxes[static_cast<size_t>(i)].intersects(r)) {
                    hit = true;
                    return;
                }
        });
        return hit;
    }

private:
    template <typename F> void forCells(const QRectF& r, F&& f) const {
        const auto x0 = static_cast<int64_t>(std::floor(r.left() / m_cell)),
                   x1 = static_cast<int64_t>(std::floor(r.right() / m_cell));
        const auto y0 = static_cast<int64_t>(std::floor(r.top() / m_cell)),
                   y1 = static_cast<int64_t>(std::floor(r.bottom() / m_cell));
        for (int64_t y = y0; y <= y1; ++y)
            for (int64_t x = x0; x <= x1; ++x)
                f((y << 32) ^ (x & 0xffffffff));
    }
    double m_cell;
    std::vector<QRectF> m_boxes;
    std::unordered_map<int64_t, std::vector<int>> m_cells;
};
} // namespace

std::vector<QRectF> placeLabels(const std::vector<LabelRequest>& requests, const std::vector<QRectF>& obstacles,
                                const QRectF& bounds, int maxLabels) {
    std::vector<QRectF> out(requests.size());
    BoxGrid marks(48), labels(48);
    for (const auto& o : obstacles)
        if (o.intersects(bounds)) marks.add(o);
    int placed = 0;
    for (size_t i = 0; i < requests.size() && placed < maxLabels; ++i) {
        const auto& q = requests[i];
        if (!bounds.contains(q.anchor)) continue;
        const double w = q.size.width(), h = q.size.height(), x = q.anchor.x(), y = q.anchor.y();
        for (int ring = 0; ring < (q.far ? 3 : 1) && out[i].isNull(); ++ring) {
            const double g = q.gap + ring * (h + 4);
            const double d = g * 0.72; // diagonal offsets: just outside a round mark
            const QRectF options[8] = {
                {x + g, y - h / 2, w, h}, {x - g - w, y - h / 2, w, h}, {x - w / 2, y - g - h, w, h},
                {x - w / 2, y + g, w, h}, {x + d, y - d - h, w, h},     {x - d - w, y - d - h, w, h},
                {x + d, y + d, w, h},     {x - d - w, y + d, w, h},
            };
            for (const QRectF& r : options) {
                if (!bounds.contains(r) || labels.hits(r) || marks.hits(r)) continue;
                out[i] = r;
                labels.add(r);
                ++placed;
                break;
            }
        }
    }
    return out;
}

} // namespace brillm::viz
