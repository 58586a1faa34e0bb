// SPDX-License-Identifier: GPL-3.0-or-later
// brillm-studio: the desktop studio. Everything lives in brillm_viz; this file parses the
// command line (including the hooks the end-to-end test and the screenshot run use).

#include "studio/main_window.h"
#include "studio/studio_worker.h"

#include "brillm/version.h"

#include <QApplication>
#include <QCommandLineParser>
#include <QDir>
#include <QElapsedTimer>
#include <QFileInfo>
#include <QRegularExpression>

#include <cstdio>
#include <exception>

namespace {
// With BRILLM_STUDIO_SLOW_EVENTS=MS, events that keep the UI thread longer than MS are logged:
// how the "UI never blocks" bar is checked and kept.
class StudioApplication : public QApplication {
public:
    using QApplication::QApplication;
    bool notify(QObject* receiver, QEvent* event) override {
        if (m_slowMs <= 0) return QApplication::notify(receiver, event);
        QElapsedTimer t;
        t.start();
        const int type = event->type();
        const bool r = QApplication::notify(receiver, event);
        const double ms = static_cast<double>(t.nsecsElapsed()) * 1e-6;
        if (ms >= m_slowMs)
            std::fprintf(stderr, "slow event: %.1f ms, type %d, %s %s\n", ms, type, receiver->metaObject()->className(),
                         qPrintable(receiver->objectName()));
        return r;
    }
    double m_slowMs = qEnvironmentVariableIntValue("BRILLM_STUDIO_SLOW_EVENTS");
};
} // namespace

int main(int argc, char** argv) {
    StudioApplication app(argc, argv);
    QApplication::setApplicationName(QStringLiteral("brillm-studio"));
    QApplication::setOrganizationName(QStringLiteral("BriLLM"));
    QApplication::setApplicationDisplayName(QStringLiteral("BriLLM Studio"));
    QApplication::setApplicationVersion(QString::fromLatin1(brillm::versionString()));
    QApplication::setDesktopFileName(QStringLiteral(BRILLM_APP_ID));

    QCommandLineParser parser;
    parser.setApplicationDescription(QStringLiteral("BriLLM Studio: see inside a BriLLM language model."));
    parser.addHelpOption();
    parser.addVersionOption();
    const QCommandLineOption model({QStringLiteral("m"), QStringLiteral("model")}, QStringLiteral("Open this model file."), QStringLiteral("FILE"));
    const QCommandLineOption prompt({QStringLiteral("p"), QStringLiteral("prompt")}, QStringLiteral("Complete this prompt once the model is open."), QStringLiteral("TEXT"));
    const QCommandLineOption maxTokens(QStringLiteral("max-tokens"), QStringLiteral("Tokens to generate."), QStringLiteral("N"));
    const QCommandLineOption selectStep(QStringLiteral("select-step"), QStringLiteral("Select this step after the completion."), QStringLiteral("N"));
    const QCommandLineOption screenshot(QStringLiteral("screenshot"), QStringLiteral("Save a screenshot of the window once every view is up to date."), QStringLiteral("PNG"));
    const QCommandLineOption exportDir(QStringLiteral("export-views"), QStringLiteral("Export every view (PNG, SVG) and the trace (JSON, CSV) into DIR once done."), QStringLiteral("DIR"));
    const QCommandLineOption quit(QStringLiteral("quit-after-completion"), QStringLiteral("Quit once the completion is shown (and the screenshot saved); exit code 1 on any error. Without --model: the demo model."));
    const QCommandLineOption noDemo(QStringLiteral("no-demo"), QStringLiteral("Do not prepare the demo model on first start."));
    const QCommandLineOption timings(QStringLiteral("report-timings"), QStringLiteral("Print the completion's timings as one JSON line."));
    const QCommandLineOption theme(QStringLiteral("theme"), QStringLiteral("light, dark or system."), QStringLiteral("THEME"));
    const QCommandLineOption size(QStringLiteral("size"), QStringLiteral("Window size, e.g. 1600x1000."), QStringLiteral("WxH"));
    const QCommandLineOption demoProgram(QStringLiteral("brillm"), QStringLiteral("The brillm CLI used for the demo model."), QStringLiteral("PATH"));
    for (const auto* o : {&model, &prompt, &maxTokens, &selectStep, &screenshot, &exportDir, &quit, &noDemo, &timings, &theme, &size, &demoProgram})
        parser.addOption(*o);
    parser.addPositionalArgument(QStringLiteral("model"), QStringLiteral("A model file to open (same as --model)."), QStringLiteral("[model]"));
    parser.process(app);

    brillm::viz::registerStudioMetaTypes();
    brillm::viz::StudioOptions o;
    o.modelPath = parser.value(model);
    if (o.modelPath.isEmpty() && !parser.positionalArguments().isEmpty()) o.modelPath = parser.positionalArguments().first();
    if (!o.modelPath.isEmpty()) o.modelPath = QFileInfo(o.modelPath).absoluteFilePath();
    o.prompt = parser.value(prompt);
    o.maxTokens = parser.isSet(maxTokens) ? parser.value(maxTokens).toInt() : -1;
    o.selectStep = parser.isSet(selectStep) ? parser.value(selectStep).toInt() : -1;
    o.screenshot = parser.value(screenshot);
    o.exportDir = parser.value(exportDir);
    o.quitAfterCompletion = parser.isSet(quit);
    o.noDemo = parser.isSet(noDemo);
    o.reportTimings = parser.isSet(timings);
    o.theme = parser.value(theme);
    o.demoProgram = parser.value(demoProgram);
    const auto m = QRegularExpression(QStringLiteral("^(\\d+)x(\\d+)$")).match(parser.value(size));
    if (m.hasMatch()) o.size = QSize(m.captured(1).toInt(), m.captured(2).toInt());
    if (o.quitAfterCompletion && o.modelPath.isEmpty() && o.noDemo) {
        std::fprintf(stderr, "brillm-studio: --quit-after-completion needs --model (or the demo)\n");
        return 2;
    }

    try {
        brillm::viz::MainWindow window(o);
        window.show();
        return QApplication::exec();
    } catch (const std::exception& e) {
        std::fprintf(stderr, "brillm-studio: %s\n", e.what());
        return 1;
    }
}
