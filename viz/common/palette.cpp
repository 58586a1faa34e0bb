// SPDX-License-Identifier: GPL-3.0-or-later
#include "common/palette.h"

#include <QApplication>
#include <QStyle>
#include <QStyleFactory>

#include <algorithm>
#include <array>
#include <cmath>

namespace brillm::viz {

Theme themeFromString(const QString& name) {
    if (name.compare(QLatin1String("light"), Qt::CaseInsensitive) == 0) return Theme::Light;
    if (name.compare(QLatin1String("dark"), Qt::CaseInsensitive) == 0) return Theme::Dark;
    return Theme::System;
}

QString themeToString(Theme theme) {
    switch (theme) {
    case Theme::Light:
        return QStringLiteral("light");
    case Theme::Dark:
        return QStringLiteral("dark");
    default:
        return QStringLiteral("system");
    }
}

namespace {
QPalette darkPalette() {
    QPalette p;
    const QColor window(37, 39, 43), base(28, 30, 33), text(222, 224, 228), disabled(120, 124, 130);
    p.setColor(QPalette::Window, window);
    p.setColor(QPalette::WindowText, text);
    p.setColor(QPalette::Base, base);
    p.setColor(QPalette::AlternateBase, window);
    p.setColor(QPalette::ToolTipBase, QColor(50, 53, 58));
    p.setColor(QPalette::ToolTipText, text);
    p.setColor(QPalette::PlaceholderText, disabled);
    p.setColor(QPalette::Text, text);
    p.setColor(QPalette::Button, QColor(48, 51, 56));
    p.setColor(QPalette::ButtonText, text);
    p.setColor(QPalette::BrightText, Qt::red);
    p.setColor(QPalette::Link, QColor(102, 170, 255));
    p.setColor(QPalette::Highlight, QColor(56, 120, 200));
    p.setColor(QPalette::HighlightedText, Qt::white);
    p.setColor(QPalette::Mid, QColor(70, 73, 78));
    p.setColor(QPalette::Dark, QColor(20, 21, 23));
    for (auto role : {QPalette::WindowText, QPalette::Text, QPalette::ButtonText})
        p.setColor(QPalette::Disabled, role, disabled);
    return p;
}
} // namespace

void applyTheme(Theme theme) {
    static const QString platformStyle = qApp->style() ? qApp->style()->name() : QString();
    static const QPalette platformPalette = QApplication::palette();
    switch (theme) {
    case Theme::Dark:
        QApplication::setStyle(QStyleFactory::create(QStringLiteral("Fusion")));
        QApplication::setPalette(darkPalette());
        break;
    case Theme::Light:
        QApplication::setStyle(QStyleFactory::create(QStringLiteral("Fusion")));
        QApplication::setPalette(QApplication::style()->standardPalette());
        break;
    case Theme::System:
        if (!platformStyle.isEmpty()) QApplication::setStyle(QStyleFactory::create(platformStyle));
        QApplication::setPalette(platformPalette);
        break;
    }
}

bool isDarkPalette() {
    return QApplication::palette().color(QPalette::Window).lightnessF() < 0.45;
}

ViewColors ViewColors::current() {
    const QPalette p = QApplication::palette();
    const bool dark = isDarkPalette();
    ViewColors c;
    c.background = p.color(QPalette::Base);
    c.text = p.color(QPalette::Text);
    c.mutedText = dark ? QColor(150, 155, 162) : QColor(110, 114, 120);
    c.grid = dark ? QColor(70, 74, 80) : QColor(215, 218, 222);
    c.prompt = dark ? QColor(120, 170, 240) : QColor(35, 95, 190);
    c.generated = dark ? QColor(110, 205, 130) : QColor(20, 135, 60);
    c.forced = dark ? QColor(240, 170, 80) : QColor(200, 110, 0);
    c.selected = dark ? QColor(255, 215, 0) : QColor(230, 150, 0);
    c.shared = dark ? QColor(240, 110, 110) : QColor(200, 40, 40);
    c.own = dark ? QColor(180, 185, 195) : QColor(90, 95, 105);
    c.highlight = p.color(QPalette::Highlight);
    return c;
}

QColor energyColor(double t) {
    // Viridis, sampled at 9 stops.
    static constexpr std::array<std::array<int, 3>, 9> stops{{{68, 1, 84},
                                                              {71, 44, 122},
                                                              {59, 81, 139},
                                                              {44, 113, 142},
                                                              {33, 144, 141},
                                                              {39, 173, 129},
                                                              {92, 200, 99},
                                                              {170, 220, 50},
                                                              {253, 231, 37}}};
    if (!std::isfinite(t)) return QColor(128, 128, 128);
    t = std::clamp(t, 0.0, 1.0) * (stops.size() - 1);
    const auto i = std::min<size_t>(static_cast<size_t>(t), stops.size() - 2);
    const double f = t - static_cast<double>(i);
    auto mix = [&](int c) { return static_cast<int>(std::lround(stops[i][c] * (1 - f) + stops[i + 1][c] * f)); };
    return QColor(mix(0), mix(1), mix(2));
}

QColor divergingColor(double t, bool dark) {
    t = std::clamp(std::isfinite(t) ? t : 0.0, -1.0, 1.0);
    const QColor mid = dark ? QColor(30, 30, 34) : QColor(247, 247, 247);
    const QColor end = t < 0 ? QColor(33, 102, 172) : QColor(178, 24, 43);
    const double f = std::abs(t);
    return QColor::fromRgbF(static_cast<float>(mid.redF() * (1 - f) + end.redF() * f),
                            static_cast<float>(mid.greenF() * (1 - f) + end.greenF() * f),
                            static_cast<float>(mid.blueF() * (1 - f) + end.blueF() * f));
}

} // namespace brillm::viz
