// SPDX-License-Identifier: GPL-3.0-or-later
// Test main for widget tests: forces a headless Qt platform, isolates settings and caches.
#include "studio_worker.h"

#include <QApplication>
#include <QStandardPaths>

#include <gtest/gtest.h>

int main(int argc, char** argv) {
    qputenv("QT_QPA_PLATFORM", "offscreen");
    QStandardPaths::setTestModeEnabled(true);
    QApplication app(argc, argv);
    QApplication::setOrganizationName(QStringLiteral("BriLLM-tests"));
    QApplication::setApplicationName(QStringLiteral("brillm-studio-tests"));
    brillm::viz::registerStudioMetaTypes();
    ::testing::InitGoogleTest(&argc, argv);
    return RUN_ALL_TESTS();
}
