// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Pure curve functions of the training monitor: min/max downsampling per pixel column, EMA
// smoothing and spike detection. No Qt, no state beyond what the caller passes.

#include <cstddef>
#include <deque>
#include <vector>

namespace brillm::viz {

struct Curve {
    std::vector<double> x, y;
    std::size_t size() const { return x.size(); }
};

struct DownsampledCurve {
    Curve line;               // finite points; a NaN y where the line must break
    std::vector<double> nanX; // x of the non-finite y values (one per column at most)
    std::vector<double> nanY; // where to mark them: the last finite y before, NaN when none
    std::vector<bool> nanIsInf;
};

// Reduces (x, y) with x ascending to at most 4 points per pixel column over [xMin, xMax]
// (columns >= 1): the first, the smallest, the largest and the last finite point of each
// column, in x order, so spikes survive at any zoom and the line keeps its shape. Points left
// of xMin and right of xMax contribute only their nearest neighbour (the line reaches the
// edges). Non-finite y values are never drawn: each column that holds one breaks the line there
// and reports one marker. Without reduction needed (few points), every point is kept.
DownsampledCurve minMaxDownsample(const std::vector<double>& x, const std::vector<double>& y, double xMin, double xMax,
                                  int columns);

// Exponential moving average with weight w in [0, 1) (0: no smoothing), TensorBoard's
// convention: s_t = w * s_{t-1} + (1 - w) * y_t, debiased by dividing by 1 - w^n where n counts
// the values since the last restart. Debiasing (instead of starting at y_0) keeps the first
// values from being dragged towards y_0 or towards 0. A non-finite y gives NaN at its index and
// restarts the average after it, so one NaN does not poison the rest of the curve.
std::vector<double> emaSmooth(const std::vector<double>& y, double w);

// Spike detection against the mean and standard deviation of the previous `window` finite
// values: y is a spike when y > mean + sigmas * max(std, relFloor * |mean|) and at least
// `minHistory` values precede it. relFloor keeps a perfectly flat history from calling a tiny
// rise a spike. Spikes enter the window too, so a lasting level shift stops alerting.
class SpikeDetector {
public:
    explicit SpikeDetector(int window = 100, double sigmas = 6.0, int minHistory = 20, double relFloor = 0.01);
    // Pushes y; true when it is a spike. Non-finite values are ignored (returns false).
    bool push(double y);
    double mean() const;
    double stddev() const;
    void reset();

private:
    int m_window, m_minHistory;
    double m_sigmas, m_relFloor;
    std::deque<double> m_values;
    double m_sum = 0, m_sumSq = 0;
};

// Indices of the spikes of y (the same rule, over the whole series).
std::vector<std::size_t> detectSpikes(const std::vector<double>& y, int window, double sigmas, int minHistory = 20,
                                      double relFloor = 0.01);

} // namespace brillm::viz
