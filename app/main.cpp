// SPDX-License-Identifier: GPL-3.0-or-later
// brillm-studio: the desktop studio. Everything lives in brillm_viz; this file parses the
// command line (including the hooks the end-to-end test and the screenshot run use); --help and
// --version are answered without a display.

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

// Every option of the studio; the names match the CLI's (`--max-new-tokens`).
struct StudioCommandLine {
    QCommandLineParser parser;
    QCommandLineOption model{{QStringLiteral("m"), QStringLiteral("model")},
                             QStringLiteral("Open this model file."),
                             QStringLiteral("FILE")};
    QCommandLineOption prompt{{QStringLiteral("p"), QStringLiteral("prompt")},
                              QStringLiteral("Complete this prompt once the model is open."),
                              QStringLiteral("TEXT")};
    QCommandLineOption maxNewTokens{QStringLiteral("max-new-tokens"),
                                    QStringLiteral("Tokens to generate (as brillm generate)."), QStringLiteral("N")};
    QCommandLineOption maxTokens{QStringLiteral("max-tokens"), QStringLiteral("Old name of --max-new-tokens."),
                                 QStringLiteral("N")};
    QCommandLineOption selectStep{QStringLiteral("select-step"),
                                  QStringLiteral("Select this step after the completion."), QStringLiteral("N")};
    QCommandLineOption screenshot{QStringLiteral("screenshot"),
                                  QStringLiteral("Save a screenshot of the window once every view is up to date."),
                                  QStringLiteral("PNG")};
    QCommandLineOption exportDir{
        QStringLiteral("export-views"),
        QStringLiteral("Export every view (PNG, SVG) and the trace (JSON, CSV) into DIR once done."),
        QStringLiteral("DIR")};
    QCommandLineOption quit{QStringLiteral("quit-after-completion"),
                            QStringLiteral("Quit once the completion is shown (and the screenshot saved); exit code 1 "
                                           "on any error. Without --model: the demo model.")};
    QCommandLineOption noDemo{QStringLiteral("no-demo"),
                              QStringLiteral("Do not prepare the demo model on first start.")};
    QCommandLineOption session{QStringLiteral("session"),
                               QStringLiteral("Open this session file (File > Save session)."), QStringLiteral("FILE")};
    QCommandLineOption noSession{QStringLiteral("no-session"),
                                 QStringLiteral("Do not reopen the last session (or the last model).")};
    QCommandLineOption timings{QStringLiteral("report-timings"),
                               QStringLiteral("Print the completion's timings as one JSON line.")};
    QCommandLineOption theme{QStringLiteral("theme"), QStringLiteral("light, dark or system."),
                             QStringLiteral("THEME")};
    QCommandLineOption size{QStringLiteral("size"), QStringLiteral("Window size, e.g. 1600x1000."),
                            QStringLiteral("WxH")};
    QCommandLineOption demoProgram{QStringLiteral("brillm"), QStringLiteral("The brillm CLI used for the demo model."),
                                   QStringLiteral("PATH")};

    StudioCommandLine() {
        parser.setApplicationDescription(QStringLiteral("BriLLM Studio: see inside a BriLLM language model."));
        parser.addHelpOption();
        parser.addVersionOption();
        maxTokens.setFlags(QCommandLineOption::HiddenFromHelp);
        for (const auto* o : {&model, &prompt, &maxNewTokens, &maxTokens, &selectStep, &screenshot, &exportDir, &quit,
                              &noDemo, &session, &noSession, &timings, &theme, &size, &demoProgram})
            parser.addOption(*o);
        parser.addPositionalArgument(QStringLiteral("model"), QStringLiteral("A model file to open (same as --model)."),
                                     QStringLiteral("[model]"));
    }
};

void setApplicationNames() {
    QCoreApplication::setApplicationName(QStringLiteral("brillm-studio"));
    QCoreApplication::setOrganizationName(QStringLiteral("BriLLM"));
    QCoreApplication::setApplicationVersion(QString::fromLatin1(brillm::versionString()));
}
} // namespace

int main(int argc, char** argv) {
    // --help and --version need no display: answered before the QApplication (which would
    // need one) exists.
    setApplicationNames();
    for (int i = 1; i < argc; ++i) {
        const QByteArray a(argv[i]);
        if (a == "--") break;
        if (a == "-h" || a == "--help" || a == "-?" || a == "--help-all" || a == "-v" || a == "--version") {
            QStringList args;
            for (int k = 0; k < argc; ++k)
                args << QString::fromLocal8Bit(argv[k]);
            StudioCommandLine cl;
            cl.parser.parse(args);
            if (cl.parser.isSet(QStringLiteral("version"))) cl.parser.showVersion();
            cl.parser.showHelp(0);
        }
    }
    StudioApplication app(argc, argv);
    setApplicationNames();
    QApplication::setApplicationDisplayName(QStringLiteral("BriLLM Studio"));
    QApplication::setDesktopFileName(QStringLiteral(BRILLM_APP_ID));

    StudioCommandLine cl;
    QCommandLineParser& parser = cl.parser;
    parser.process(app);

    brillm::viz::registerStudioMetaTypes();
    brillm::viz::StudioOptions o;
    o.modelPath = parser.value(cl.model);
    if (o.modelPath.isEmpty() && !parser.positionalArguments().isEmpty())
        o.modelPath = parser.positionalArguments().first();
    if (!o.modelPath.isEmpty()) o.modelPath = QFileInfo(o.modelPath).absoluteFilePath();
    o.prompt = parser.value(cl.prompt);
    const QCommandLineOption& maxOption = parser.isSet(cl.maxNewTokens) ? cl.maxNewTokens : cl.maxTokens;
    if (parser.isSet(maxOption)) {
        bool ok = false;
        o.maxTokens = parser.value(maxOption).toInt(&ok);
        if (!ok || o.maxTokens < 0) {
            std::fprintf(stderr, "brillm-studio: --max-new-tokens must be a non-negative integer, not '%s'\n",
                         qPrintable(parser.value(maxOption)));
            return 2;
        }
    }
    o.selectStep = parser.isSet(cl.selectStep) ? parser.value(cl.selectStep).toInt() : -1;
    o.screenshot = parser.value(cl.screenshot);
    o.exportDir = parser.value(cl.exportDir);
    o.quitAfterCompletion = parser.isSet(cl.quit);
    o.noDemo = parser.isSet(cl.noDemo);
    o.session = parser.value(cl.session);
    if (!o.session.isEmpty()) o.session = QFileInfo(o.session).absoluteFilePath();
    o.restoreLast = !parser.isSet(cl.noSession) && !o.quitAfterCompletion;
    o.reportTimings = parser.isSet(cl.timings);
    o.theme = parser.value(cl.theme);
    o.demoProgram = parser.value(cl.demoProgram);
    const auto m = QRegularExpression(QStringLiteral("^(\\d+)x(\\d+)$")).match(parser.value(cl.size));
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
