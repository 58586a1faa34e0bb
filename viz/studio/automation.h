// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// StudioAutomation: the command-line hooks the end-to-end test and the screenshot runs drive
// (--screenshot, --export-views, --select-step, --quit-after-completion, --report-timings), kept
// out of the window's ordinary handlers. It follows the document: once every view shows the
// completion it selects the requested step, waits until the event queue is drained (no fixed
// sleeps), saves the screenshot and the exports, prints the timings and quits. In headless runs
// (--quit-after-completion) errors go to stderr and the exit code is 1, instead of a dialog.
//
// UiStallMonitor: a 10 ms timer whose longest gap between ticks is how long the UI thread was
// blocked; with the thread's CPU time it tells work on the UI thread from time the OS gave away.

#include <QElapsedTimer>
#include <QObject>
#include <QSize>
#include <QString>

#include <functional>

class QTimer;

namespace brillm::viz {

class MainWindow;
class StudioDocument;

struct StudioOptions {
    QString modelPath;   // open this model at start (no demo)
    QString prompt;      // complete this once the model is open
    int maxTokens = -1;  // overrides the saved setting when >= 0
    int selectStep = -1; // select this step once the completion is done
    QString screenshot;  // save a screenshot of the window once every view is up to date
    QString exportDir;   // export every view (PNG + SVG) and the trace (JSON + CSV) there
    bool quitAfterCompletion = false;
    bool noDemo = false;        // never start the demo preparation
    bool reportTimings = false; // print one JSON line of timings to stdout when done
    QString theme;              // light, dark, system; empty: the saved setting
    QSize size;                 // window size; empty: the saved geometry
    QString demoProgram;        // the brillm CLI; empty: next to the studio
    QString session;            // open this session file at start
    // Reopen the last session (or, without one, the last model) when no model or session is
    // given. Off by default (tests, headless runs); the app turns it on unless --no-session.
    bool restoreLast = false;
};

class UiStallMonitor : public QObject {
    Q_OBJECT
public:
    explicit UiStallMonitor(QObject* parent = nullptr);
    double maxStallMs() const { return m_maxStallMs; }
    // From start() until stop(): the longest stall and the most CPU time between two ticks.
    void startWindow();
    void stopWindow() { m_measuring = false; }
    double windowStallMs() const { return m_windowStallMs; }
    double windowBusyMs() const { return m_windowBusyMs; }

private:
    void tick();
    QTimer* m_timer;
    QElapsedTimer m_heartbeat;
    double m_maxStallMs = 0;
    double m_windowStallMs = 0;
    double m_windowBusyMs = 0;
    double m_lastCpuMs = 0;
    bool m_measuring = false;
};

class StudioAutomation : public QObject {
    Q_OBJECT
public:
    StudioAutomation(MainWindow* window, StudioDocument* doc, const StudioOptions& options);

    // Anything to do once the completion is shown (a screenshot, exports, quitting)?
    bool isActive() const;
    // Headless: errors are printed and end the run with exit code 1 instead of a dialog.
    bool isHeadless() const { return m_options.quitAfterCompletion; }
    // Reports an error of a headless run and ends it.
    void fail(const QString& message);
    UiStallMonitor* stalls() const { return m_stalls; }

private:
    void onModelChanged(bool promptPending);
    void onSettled();
    void finish(int code);
    // Runs fn once the events queued so far (repaints, queued replots) are handled.
    void whenDrained(std::function<void()> fn);

    MainWindow* m_window;
    StudioDocument* m_doc;
    StudioOptions m_options;
    UiStallMonitor* m_stalls;
    bool m_done = false;
};

} // namespace brillm::viz
