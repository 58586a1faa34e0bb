// SPDX-License-Identifier: GPL-3.0-or-later
// trace_screenshot MODEL PROMPT EXPECTED OUTDIR: drives the studio's error tracing, edits and
// compare view offscreen on a real model, saves screenshots for the docs and prints the timings
// as one JSON line (forced path, blame, applyEdits, edit until the re-run completion is done).
#include "studio/main_window.h"
#include "studio/model_edits.h"
#include "studio/studio_document.h"
#include "studio/studio_worker.h"
#include "tracing/error_trace_models.h"
#include "tracing/error_trace_panel.h"
#include "views/compare_view.h"
#include "views/token_graph_view.h"

#include <QApplication>
#include <QDir>
#include <QDockWidget>
#include <QElapsedTimer>
#include <QSignalSpy>
#include <QStandardPaths>
#include <QTest>

#include <cstdio>

using namespace brillm::viz;

namespace {
bool waitFor(QObject* obj, const char* signal, int ms = 60000) {
    QSignalSpy spy(obj, signal);
    return spy.wait(ms);
}
void raise(MainWindow& w, const char* name) {
    if (auto* d = w.findChild<QDockWidget*>(QLatin1String(name))) {
        d->show();
        d->raise();
    }
}
void settle(int ms) {
    QElapsedTimer t;
    t.start();
    while (t.elapsed() < ms) {
        QApplication::processEvents();
        QTest::qWait(20);
    }
}
} // namespace

int main(int argc, char** argv) {
    if (argc < 5) {
        std::fprintf(stderr, "usage: trace_screenshot MODEL PROMPT EXPECTED OUTDIR\n");
        return 2;
    }
    if (qEnvironmentVariableIsEmpty("QT_QPA_PLATFORM")) qputenv("QT_QPA_PLATFORM", "offscreen");
    QStandardPaths::setTestModeEnabled(true);
    QApplication app(argc, argv);
    QApplication::setOrganizationName(QStringLiteral("BriLLM-screenshots"));
    QApplication::setApplicationName(QStringLiteral("trace-screenshot"));
    registerStudioMetaTypes();
    const QString model = QString::fromLocal8Bit(argv[1]), prompt = QString::fromUtf8(argv[2]),
                  expected = QString::fromUtf8(argv[3]), out = QString::fromLocal8Bit(argv[4]);
    QDir().mkpath(out);

    StudioOptions o;
    o.noDemo = true;
    o.size = QSize(1600, 1000);
    o.theme = QStringLiteral("light");
    MainWindow w(o);
    w.show();
    auto* doc = w.document();
    doc->openModel(model);
    if (!waitFor(doc, SIGNAL(modelChanged()))) {
        std::fprintf(stderr, "cannot open %s\n", qPrintable(model));
        return 1;
    }
    raise(w, "dock.errorTrace");
    auto* panel = w.errorTracePanel();
    panel->setPrompt(prompt);
    panel->setExpected(expected);
    QElapsedTimer timer;
    timer.start();
    panel->run();
    if (!waitFor(panel, SIGNAL(blameReady()))) return 1;
    const double traceMs = static_cast<double>(timer.nsecsElapsed()) * 1e-6;
    const double forcedMs = panel->forcedPath()->ms, blameMs = panel->blameResult()->ms;
    settle(1500);
    w.grab().save(QDir(out).filePath(QStringLiteral("error-trace.png")));

    // Knock out the strongest path edge that pushes towards the winner, then compare.
    const brillm::Contributor* top = nullptr;
    for (int r = 0; r < panel->contributorModel()->rowCount() && !top; ++r) {
        const auto* c = panel->contributorModel()->contributorAt(r);
        if ((c->kind == brillm::ContributorKind::PathEdge || c->kind == brillm::ContributorKind::CandidateEdge) &&
            c->effect > 0)
            top = c;
    }
    double applyMs = 0, editMs = 0;
    if (top) {
        auto* edits = w.modelEdits();
        QSignalSpy rerun(edits, &ModelEdits::rerunFinished);
        edits->knockoutEdge(top->source, top->target);
        if (!rerun.wait(60000)) return 1;
        applyMs = edits->lastApplyMs();
        editMs = edits->lastEditToCompletionMs();
        if (!panel->blameResult() || panel->isBusy()) waitFor(panel, SIGNAL(blameReady()));
    }
    raise(w, "dock.edits");
    raise(w, "dock.compare");
    auto* cmp = w.compareView();
    cmp->setMode(CompareMode::BeforeAfterEdits);
    cmp->setPrompts(prompt);
    cmp->setMaxTokens(16);
    cmp->run();
    if (!waitFor(cmp, SIGNAL(comparisonReady()))) return 1;
    settle(1500);
    w.grab().save(QDir(out).filePath(QStringLiteral("edits-compare.png")));
    std::printf(
        "{\"vocab_size\": %lld, \"path_edges\": %d, \"trace_ms\": %.1f, \"force_path_ms\": %.1f, \"blame_ms\": %.1f, "
        "\"apply_edits_ms\": %.1f, \"edit_to_completion_ms\": %.1f, \"compare_ms\": %.1f}\n",
        static_cast<long long>(doc->model()->vocabSize()), panel->stepModel()->rowCount(), traceMs, forcedMs, blameMs,
        applyMs, editMs, cmp->result()->ms);
    return 0;
}
