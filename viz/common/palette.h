// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Colours every view shares: the light/dark/system theme and the energy colour map.

#include <QColor>
#include <QPalette>
#include <QString>

namespace brillm::viz {

enum class Theme { System, Light, Dark };

Theme themeFromString(const QString& name);
QString themeToString(Theme theme);
// Applies the theme to the application (Fusion style; System keeps the platform palette).
void applyTheme(Theme theme);
// True when the application's current palette has a dark window background.
bool isDarkPalette();

// Roles the views paint with, derived from the application palette.
struct ViewColors {
    QColor background, text, mutedText, grid;
    QColor prompt, generated, forced, selected, shared, own, highlight;
    static ViewColors current();
};

// Perceptually ordered colour map (viridis-like), t in [0, 1].
QColor energyColor(double t);
// Diverging map for differences (blue - white/black - red), t in [-1, 1].
QColor divergingColor(double t, bool dark);

} // namespace brillm::viz
