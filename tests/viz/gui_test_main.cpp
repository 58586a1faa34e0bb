// SPDX-License-Identifier: GPL-3.0-or-later
// Test main for widget tests: forces a headless Qt platform, isolates settings and caches.
#include "studio/studio_worker.h"

#include <QApplication>
#include <QDir>
#include <QSettings>
#include <QStandardPaths>
#include <QTemporaryDir>

#include <gtest/gtest.h>

int main(int argc, char** argv) {
    qputenv("QT_QPA_PLATFORM", "offscreen");
    // One home per test process: CTest runs several at once, and in test mode QStandardPaths
    // puts app data (the last session), caches and configuration under $HOME/.qttest, which
    // concurrent tests would otherwise share and race on.
    QTemporaryDir home(QDir::tempPath() + QStringLiteral("/brillm-gui-test-XXXXXX"));
    if (home.isValid()) qputenv("HOME", home.path().toLocal8Bit());
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
