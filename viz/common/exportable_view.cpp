// SPDX-License-Identifier: GPL-3.0-or-later
#include "common/exportable_view.h"

#include "common/palette.h"

#include <QFileInfo>
#include <QImage>
#include <QPainter>
#include <QSvgGenerator>
#include <QWidget>

#include <functional>

namespace brillm::viz {

namespace {
QString write(const QString& path, QSize size, const QString& title, const std::function<void(QPainter&)>& paint) {
    if (size.isEmpty()) size = QSize(800, 600);
    const QString suffix = QFileInfo(path).suffix().toLower();
    if (suffix == QLatin1String("svg")) {
        QSvgGenerator svg;
        svg.setFileName(path);
        svg.setSize(size);
        svg.setViewBox(QRect(QPoint(0, 0), size));
        svg.setTitle(title);
        svg.setDescription(QStringLiteral("Exported from BriLLM Studio"));
        QPainter p;
        if (!p.begin(&svg)) return QStringLiteral("cannot write %1").arg(path);
        paint(p);
        p.end();
        return {};
    }
    const qreal scale = 2.0; // crisp on high-density screens and in documents
    QImage image(size * scale, QImage::Format_ARGB32_Premultiplied);
    image.setDevicePixelRatio(scale);
    image.fill(ViewColors::current().background);
    {
        QPainter p(&image);
        p.setRenderHint(QPainter::Antialiasing);
        p.setRenderHint(QPainter::TextAntialiasing);
        paint(p);
    }
    if (!image.save(path)) return QStringLiteral("cannot write %1").arg(path);
    return {};
}
} // namespace

QString exportView(ExportableView& view, const QString& path) {
    return write(path, view.exportSize(), view.exportName(), [&](QPainter& p) { view.renderExport(p); });
}

QString exportWidget(QWidget& widget, const QString& path) {
    return write(path, widget.size(), widget.windowTitle(), [&](QPainter& p) { widget.render(&p); });
}

} // namespace brillm::viz
