// SPDX-License-Identifier: GPL-3.0-or-later
#include "progress_line.h"

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <unistd.h>

namespace brillm::cli {

ProgressLine::ProgressLine(bool silent) : m_silent(silent), m_tty(isatty(STDERR_FILENO) != 0) {}

void ProgressLine::update(const std::string& text, double fraction) {
    if (m_silent) return;
    const auto now = std::chrono::steady_clock::now();
    const double since = std::chrono::duration<double>(now - m_lastDraw).count();
    const bool done = fraction >= 1.0;
    if (!done && since < (m_tty ? 0.1 : 5.0)) {
        m_last = text;
        return;
    }
    m_lastDraw = now;
    m_last = text;
    const int width = 20;
    const int filled = std::max(0, std::min(width, static_cast<int>(fraction * width + 0.5)));
    std::string bar(static_cast<size_t>(width) + 3, '.');
    bar.front() = '[';
    std::fill_n(bar.begin() + 1, filled, '#');
    bar[static_cast<size_t>(width) + 1] = ']';
    bar.back() = ' ';
    if (m_tty) {
        std::cerr << "\r\033[K" << bar << text << std::flush;
        m_drawn = true;
    } else {
        std::cerr << bar << text << '\n';
    }
}

void ProgressLine::message(const std::string& text) {
    if (m_silent) return;
    if (m_tty && m_drawn) std::cerr << "\r\033[K";
    std::cerr << text << '\n';
    if (m_tty && m_drawn) std::cerr << m_last << std::flush;
}

void ProgressLine::finish() {
    if (m_silent) return;
    if (m_tty && m_drawn) std::cerr << '\n';
    m_drawn = false;
}

std::string ProgressLine::duration(double s) {
    if (!(s >= 0) || s > 1e8) return "?";
    char buf[32];
    const auto t = static_cast<long>(s + 0.5);
    if (t >= 3600)
        std::snprintf(buf, sizeof buf, "%ldh%02ldm", t / 3600, (t / 60) % 60);
    else if (t >= 60)
        std::snprintf(buf, sizeof buf, "%ldm%02lds", t / 60, t % 60);
    else
        std::snprintf(buf, sizeof buf, "%lds", t);
    return buf;
}

} // namespace brillm::cli
