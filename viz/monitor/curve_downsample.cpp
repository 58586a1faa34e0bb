// SPDX-License-Identifier: GPL-3.0-or-later
#include "monitor/curve_downsample.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>

namespace brillm::viz {

namespace {
constexpr double kNan = std::numeric_limits<double>::quiet_NaN();

struct Emitter {
    const std::vector<double>& x;
    const std::vector<double>& y;
    DownsampledCurve& out;
    double lastFinite = kNan;

    void point(std::size_t i) {
        out.line.x.push_back(x[i]);
        out.line.y.push_back(y[i]);
    }
    void nonFinite(std::size_t i) {
        out.line.x.push_back(x[i]);
        out.line.y.push_back(kNan); // QCustomPlot breaks a line at NaN
        out.nanX.push_back(x[i]);
        out.nanY.push_back(lastFinite);
        out.nanIsInf.push_back(std::isinf(y[i]));
    }
    // Every point of [b, e) as it is.
    void all(std::size_t b, std::size_t e) {
        for (std::size_t i = b; i < e; ++i) {
            if (std::isfinite(y[i])) {
                point(i);
                lastFinite = y[i];
            } else {
                nonFinite(i);
            }
        }
    }
};
} // namespace

DownsampledCurve minMaxDownsample(const std::vector<double>& x, const std::vector<double>& y, double xMin, double xMax,
                                  int columns) {
    DownsampledCurve out;
    const std::size_t n = std::min(x.size(), y.size());
    if (n == 0) return out;
    columns = std::max(columns, 1);
    // The visible points plus one neighbour on each side.
    std::size_t b = static_cast<std::size_t>(
        std::lower_bound(x.begin(), x.begin() + static_cast<std::ptrdiff_t>(n), xMin) - x.begin());
    std::size_t e = static_cast<std::size_t>(
        std::upper_bound(x.begin(), x.begin() + static_cast<std::ptrdiff_t>(n), xMax) - x.begin());
    if (b > 0) --b;
    if (e < n) ++e;
    Emitter em{x, y, out};
    // The marker of a first visible NaN needs the finite value before the window.
    for (std::size_t i = b; i-- > 0;)
        if (std::isfinite(y[i])) {
            em.lastFinite = y[i];
            break;
        }
    if (e - b <= static_cast<std::size_t>(4 * columns) || !(xMax > xMin)) {
        em.all(b, e);
        return out;
    }
    out.line.x.reserve(static_cast<std::size_t>(4 * columns) + 4);
    out.line.y.reserve(static_cast<std::size_t>(4 * columns) + 4);
    const double scale = columns / (xMax - xMin);
    std::size_t i = b;
    while (i < e) {
        if (x[i] < xMin || x[i] > xMax) { // a neighbour outside the range
            em.all(i, i + 1);
            ++i;
            continue;
        }
        const int col = std::clamp(static_cast<int>((x[i] - xMin) * scale), 0, columns - 1);
        // [i, j): this column's points.
        std::size_t j = i;
        constexpr std::size_t kNone = std::numeric_limits<std::size_t>::max();
        std::size_t first = kNone, last = kNone, lo = kNone, hi = kNone, bad = kNone;
        double lastFiniteBeforeBad = em.lastFinite;
        double runningFinite = em.lastFinite;
        while (j < e && x[j] <= xMax && std::clamp(static_cast<int>((x[j] - xMin) * scale), 0, columns - 1) == col) {
            if (std::isfinite(y[j])) {
                if (first == kNone) first = j;
                last = j;
                if (lo == kNone || y[j] < y[lo]) lo = j;
                if (hi == kNone || y[j] > y[hi]) hi = j;
                runningFinite = y[j];
            } else if (bad == kNone) {
                bad = j;
                lastFiniteBeforeBad = runningFinite;
            }
            ++j;
        }
        std::array<std::size_t, 5> picks{first, lo, hi, last, bad};
        std::sort(picks.begin(), picks.end());
        std::size_t prev = kNone;
        for (std::size_t p : picks) {
            if (p == kNone || p == prev) continue;
            prev = p;
            if (p == bad) {
                em.lastFinite = lastFiniteBeforeBad;
                em.nonFinite(p);
            } else {
                em.point(p);
            }
        }
        em.lastFinite = runningFinite;
        i = j;
    }
    return out;
}

std::vector<double> emaSmooth(const std::vector<double>& y, double w) {
    std::vector<double> out(y.size());
    w = std::clamp(w, 0.0, 0.999999);
    double s = 0, wn = 1; // wn = w^n
    for (std::size_t i = 0; i < y.size(); ++i) {
        if (!std::isfinite(y[i])) {
            out[i] = kNan;
            s = 0;
            wn = 1;
            continue;
        }
        s = w * s + (1 - w) * y[i];
        wn *= w;
        out[i] = s / (1 - wn);
    }
    return out;
}

SpikeDetector::SpikeDetector(int window, double sigmas, int minHistory, double relFloor)
    : m_window(std::max(window, 2)), m_minHistory(std::clamp(minHistory, 2, std::max(window, 2))), m_sigmas(sigmas),
      m_relFloor(relFloor) {}

double SpikeDetector::mean() const {
    return m_values.empty() ? kNan : m_sum / static_cast<double>(m_values.size());
}

double SpikeDetector::stddev() const {
    if (m_values.size() < 2) return kNan;
    const double n = static_cast<double>(m_values.size());
    const double m = m_sum / n;
    return std::sqrt(std::max(0.0, (m_sumSq / n - m * m) * n / (n - 1)));
}

void SpikeDetector::reset() {
    m_values.clear();
    m_sum = m_sumSq = 0;
}

bool SpikeDetector::push(double y) {
    if (!std::isfinite(y)) return false;
    bool spike = false;
    if (static_cast<int>(m_values.size()) >= m_minHistory) {
        const double m = mean();
        const double sd = std::max(stddev(), m_relFloor * std::abs(m));
        spike = y > m + m_sigmas * sd;
    }
    m_values.push_back(y);
    m_sum += y;
    m_sumSq += y * y;
    if (static_cast<int>(m_values.size()) > m_window) {
        const double old = m_values.front();
        m_values.pop_front();
        m_sum -= old;
        m_sumSq -= old * old;
    }
    return spike;
}

std::vector<std::size_t> detectSpikes(const std::vector<double>& y, int window, double sigmas, int minHistory,
                                      double relFloor) {
    SpikeDetector d(window, sigmas, minHistory, relFloor);
    std::vector<std::size_t> out;
    for (std::size_t i = 0; i < y.size(); ++i)
        if (d.push(y[i])) out.push_back(i);
    return out;
}

} // namespace brillm::viz
