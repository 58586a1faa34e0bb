// SPDX-License-Identifier: GPL-3.0-or-later
#include "studio/automation.h"

#include "studio/main_window.h"
#include "studio/studio_document.h"

#include <QApplication>
#include <QDir>
#include <QFileInfo>
#include <QTimer>

#include <algorithm>
#include <cstdio>
#include <ctime>

namespace brillm::viz {

namespace {
// CPU time of the calling thread: tells work on the UI thread from time the OS gave to others.
double threadCpuMs() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) * 1e-6;
}
} // namespace

// ---------------------------------------------------------------- UiStallMonitor

UiStallMonitor::UiStallMonitor(QObject* parent) : QObject(parent), m_timer(new QTimer(this)) {
    m_timer->setInterval(10);
    connect(m_timer, &QTimer::timeout, this, &UiStallMonitor::tick);
    m_timer->start();
}

void UiStallMonitor::startWindow() {
    m_windowStallMs = 0;
    m_windowBusyMs = 0;
    m_measuring = true;
}

void UiStallMonitor::tick() {
    const double cpu = threadCpuMs();
    if (m_heartbeat.isValid()) {
        const double gap = std::max(0.0, static_cast<double>(m_heartbeat.nsecsElapsed()) * 1e-6 - 10.0);
        const double busy = cpu - m_lastCpuMs;
        m_maxStallMs = std::max(m_maxStallMs, gap);
        if (m_measuring) {
            m_windowStallMs = std::max(m_windowStallMs, gap);
            m_windowBusyMs = std::max(m_windowBusyMs, busy);
        }
    }
    m_lastCpuMs = cpu;
    m_heartbeat.restart();
}

// ---------------------------------------------------------------- StudioAutomation

StudioAutomation::StudioAutomation(MainWindow* window, StudioDocument* doc, const StudioOptions& options)
    : QObject(window), m_window(window), m_doc(doc), m_options(options), m_stalls(new UiStallMonitor(this)) {
    // A completion's window of measurement: from its request until every view shows it (and a
    // little after, for the last repaints).
    connect(doc, &StudioDocument::traceReset, this, [this] {
        if (m_doc->isGenerating()) m_stalls->startWindow();
    });
    connect(doc, &StudioDocument::viewsSettled, this, [this] {
        QTimer::singleShot(0, m_stalls, &UiStallMonitor::stopWindow); // the last repaints count too
        onSettled();
    });
    // Connected after the window's own handler: a model opened without a prompt to complete
    // ends a headless run.
    connect(doc, &StudioDocument::modelChanged, this, [this] {
        if (m_doc->hasModel() && !m_doc->isGenerating() && isHeadless()) finish(0);
    });
}

bool StudioAutomation::isActive() const {
    return m_options.quitAfterCompletion || !m_options.screenshot.isEmpty() || !m_options.exportDir.isEmpty();
}

void StudioAutomation::fail(const QString& message) {
    std::fprintf(stderr, "brillm-studio: %s\n", qPrintable(message));
    finish(1);
}

void StudioAutomation::whenDrained(std::function<void()> fn) {
    // A zero timer fires after the events queued before it (repaints, queued replots, deferred
    // layouts) were handled; posted events are flushed once more before fn, outside any signal.
    QTimer::singleShot(0, this, [fn = std::move(fn)] {
        QCoreApplication::sendPostedEvents();
        fn();
    });
}

void StudioAutomation::onSettled() {
    if (!isActive() || m_done) return;
    whenDrained([this] {
        if (m_options.selectStep >= 0) m_doc->selectStep(m_options.selectStep);
        whenDrained([this] { finish(0); });
    });
}

void StudioAutomation::finish(int code) {
    if (m_done) return;
    m_done = true;
    if (code == 0 && !m_options.screenshot.isEmpty()) {
        QDir().mkpath(QFileInfo(m_options.screenshot).absolutePath());
        if (!m_window->grab().save(m_options.screenshot)) {
            std::fprintf(stderr, "brillm-studio: cannot write %s\n", qPrintable(m_options.screenshot));
            code = 1;
        }
    }
    if (code == 0 && !m_options.exportDir.isEmpty()) {
        const QString err = m_window->exportAll(m_options.exportDir);
        if (!err.isEmpty()) {
            std::fprintf(stderr, "brillm-studio: %s\n", qPrintable(err));
            code = 1;
        }
    }
    if (m_options.reportTimings) {
        std::printf("{\"tokens\": %lld, \"decode_ms\": %.1f, \"views_ms\": %.1f, \"max_ui_stall_ms\": %.1f, "
                    "\"completion_ui_stall_ms\": %.1f, \"completion_ui_busy_ms\": %.1f, \"vocab_size\": %lld}\n",
                    static_cast<long long>(m_doc->lastNewTokens()), m_doc->lastDecodeMs(), m_doc->lastViewsMs(),
                    m_stalls->maxStallMs(), m_stalls->windowStallMs(), m_stalls->windowBusyMs(),
                    static_cast<long long>(m_doc->hasModel() ? m_doc->model()->vocabSize() : 0));
        std::fflush(stdout);
    }
    if (m_options.quitAfterCompletion) QTimer::singleShot(0, qApp, [code] { QCoreApplication::exit(code); });
}

} // namespace brillm::viz
