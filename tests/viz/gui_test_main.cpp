// SPDX-License-Identifier: GPL-3.0-or-later
// Test main for widget tests: forces a headless Qt platform, isolates settings and caches.
#include "studio/studio_worker.h"

#include <QApplication>
#include <QSettings>
#include <QStandardPaths>
#include <QTemporaryDir>

#include <gtest/gtest.h>

int main(int argc, char** argv) {
    qputenv("QT_QPA_PLATFORM", "offscreen");
    QStandardPaths::setTestModeEnabled(true);
    QApplication app(argc, argv);
    // One settings file per test process: CTest runs several at once, and tests check what the
    // studio wrote there (recent files, theme).
    QTemporaryDir settingsDir;
    QSettings::setPath(QSettings::NativeFormat, QSettings::UserScope, settingsDir.path());
    QSettings::setPath(QSettings::IniFormat, QSettings::UserScope, settingsDir.path());
    QApplication::setOrganizationName(QStringLiteral("BriLLM-tests"));
    QApplication::setApplicationName(QStringLiteral("brillm-studio-tests"));
    brillm::viz::registerStudioMetaTypes();
    ::testing::InitGoogleTest(&argc, argv);
    return RUN_ALL_TESTS();
}
