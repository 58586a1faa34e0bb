// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// The studio's window tests drive a real MainWindow as a user does: these open a model and wait
// for it, and type a prompt and wait until every view has settled.

#include "studio/main_window.h"
#include "studio/studio_document.h"
#include "views/completion_panel.h"

#include <QLineEdit>
#include <QSignalSpy>
#include <QSize>
#include <QTest>

namespace brillm::viz::testwindow {

// A window without the demo model, in the light theme, at `size`.
inline StudioOptions windowOptions(QSize size = QSize(1440, 900)) {
    StudioOptions o;
    o.noDemo = true;
    o.size = size;
    o.theme = QStringLiteral("light");
    return o;
}

// Opens a model file (or a sharded model's directory) and waits until the document has it.
inline bool openAndWait(MainWindow& w, const QString& path) {
    QSignalSpy loaded(w.document(), &StudioDocument::modelChanged);
    w.openModel(path);
    return loaded.wait(20000);
}

// Types a prompt into the Completion panel and presses Enter, as a user does; waits until every
// view shows the completion.
inline bool completeByTyping(MainWindow& w, const QString& prompt) {
    QSignalSpy settled(w.document(), &StudioDocument::viewsSettled);
    QLineEdit* edit = w.completionPanel()->promptEdit();
    edit->clear();
    QTest::keyClicks(edit, prompt);
    QTest::keyClick(edit, Qt::Key_Return);
    return settled.wait(20000);
}

} // namespace brillm::viz::testwindow
