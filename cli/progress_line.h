// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// A console progress line on standard error: redrawn in place on a terminal (throttled to
// 10 Hz), one line per update every few seconds when redirected.

#include <chrono>
#include <string>

namespace brillm::cli {

class ProgressLine {
public:
    explicit ProgressLine(bool silent = false);
    void update(const std::string& text, double fraction);
    // A line of its own above the progress line.
    void message(const std::string& text);
    void finish();
    static std::string duration(double seconds);

private:
    bool m_silent, m_tty;
    std::string m_last;
    bool m_drawn = false;
    std::chrono::steady_clock::time_point m_lastDraw{};
};

} // namespace brillm::cli
