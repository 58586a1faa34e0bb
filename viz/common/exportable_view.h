// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// ExportableView: a view that can render itself to any QPainter (PNG through QImage, SVG
// through QSvgGenerator). Views with a vector form (scenes, plots) render it; the rest fall
// back to QWidget::render.

#include <QSize>
#include <QString>

class QPainter;
class QWidget;

namespace brillm::viz {

class ExportableView {
public:
    virtual ~ExportableView() = default;
    // A short file-name stem: "signal-path", "token-graph", ...
    virtual QString exportName() const = 0;
    // The natural size of the exported picture.
    virtual QSize exportSize() const = 0;
    // Paints the whole view into a painter whose device has exportSize().
    virtual void renderExport(QPainter& painter) = 0;
};

// Write a view to a file; the format comes from the suffix (.png or .svg). Returns an error
// message, empty on success.
QString exportView(ExportableView& view, const QString& path);
// The same for any widget (QWidget::render).
QString exportWidget(QWidget& widget, const QString& path);

} // namespace brillm::viz
