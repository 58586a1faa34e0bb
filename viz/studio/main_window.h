// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// MainWindow: the studio's window - every view in a dock widget, menus and shortcuts, the
// status bar with timings, recent files, drag and drop, theme and layout persistence, the demo
// model on first start, and the command-line hooks the end-to-end test drives.

#include "common/palette.h"

#include <QElapsedTimer>
#include <QMainWindow>
#include <QPointer>

class QAction;
class QActionGroup;
class QDockWidget;
class QLabel;
class QMenu;
class QProgressBar;
class QTableView;

namespace brillm::viz {

class CompareView;
class CompletionPanel;
class CortexMapView;
class EditsPanel;
class ErrorTracePanel;
class ModelEdits;
class DemoLauncher;
class EdgeInspector;
class EnergyHeatmapView;
class ExportableView;
class SignalPathView;
class StepTableModel;
class StudioDocument;
class TokenGraphView;
class TrainingMonitor;

struct StudioOptions {
    QString modelPath;          // open this model at start (no demo)
    QString prompt;             // complete this once the model is open
    int maxTokens = -1;         // overrides the saved setting when >= 0
    int selectStep = -1;        // select this step once the completion is done
    QString screenshot;         // save a screenshot of the window once every view is up to date
    QString exportDir;          // export every view (PNG + SVG) and the trace (JSON + CSV) there
    bool quitAfterCompletion = false;
    bool noDemo = false;        // never start the demo preparation
    bool reportTimings = false; // print one JSON line of timings to stdout when done
    QString theme;              // light, dark, system; empty: the saved setting
    QSize size;                 // window size; empty: the saved geometry
    QString demoProgram;        // the brillm CLI; empty: next to the studio
};

class MainWindow : public QMainWindow {
    Q_OBJECT
public:
    explicit MainWindow(const StudioOptions& options = {}, QWidget* parent = nullptr);
    ~MainWindow() override;

    StudioDocument* document() const { return m_doc; }
    CompletionPanel* completionPanel() const { return m_completion; }
    SignalPathView* signalPathView() const { return m_signalPath; }
    TokenGraphView* tokenGraphView() const { return m_graph; }
    EnergyHeatmapView* heatmapView() const { return m_heatmap; }
    CortexMapView* cortexMapView() const { return m_cortex; }
    EdgeInspector* edgeInspector() const { return m_inspector; }
    ErrorTracePanel* errorTracePanel() const { return m_errorTrace; }
    ModelEdits* modelEdits() const { return m_edits; }
    EditsPanel* editsPanel() const { return m_editsPanel; }
    CompareView* compareView() const { return m_compare; }
    TrainingMonitor* trainingMonitor() const { return m_training; }
    QList<QDockWidget*> docks() const { return m_docks; }
    // Every view that can be exported, with its dock.
    QList<QPair<QDockWidget*, ExportableView*>> exportableViews() const;
    double maxUiStallMs() const { return m_maxStallMs; }

    void openModel(const QString& path);
    void setTheme(Theme theme);
    // Writes each view as NAME.png and NAME.svg, and the trace as trace.json/trace.csv, into dir.
    QString exportAll(const QString& dir);

protected:
    void closeEvent(QCloseEvent* event) override;
    void dragEnterEvent(QDragEnterEvent* event) override;
    void dropEvent(QDropEvent* event) override;

private:
    void createDocks();
    void createActions();
    void createTraceDocks();   // error tracing, edits, compare (issue #8)
    void createTraceActions();
    void createTrainingActions(QMenu* file);
    void restoreSettings();
    void saveSettings();
    void addRecent(const QString& path);
    void rebuildRecentMenu();
    void openDialog();
    void exportCurrent(const QString& format);
    void exportTrace();
    void exportAllDialog();
    void toggleMaximiseView();
    QDockWidget* currentDock() const;
    void startDemo();
    void onModelChanged();
    void onModelFailed(const QString& path, const QString& message);
    void onCompletionFailed(const QString& message);
    void onSettled(double ms);
    void updateStatus();
    void showShortcuts();
    void showAbout();
    void finishAutomation(int code);

    StudioOptions m_options;
    StudioDocument* m_doc;
    CompletionPanel* m_completion = nullptr;
    SignalPathView* m_signalPath = nullptr;
    TokenGraphView* m_graph = nullptr;
    EnergyHeatmapView* m_heatmap = nullptr;
    CortexMapView* m_cortex = nullptr;
    EdgeInspector* m_inspector = nullptr;
    TrainingMonitor* m_training = nullptr;
    QTableView* m_stepTable = nullptr;
    StepTableModel* m_steps = nullptr;
    DemoLauncher* m_demo = nullptr;
    ErrorTracePanel* m_errorTrace = nullptr;
    ModelEdits* m_edits = nullptr;
    EditsPanel* m_editsPanel = nullptr;
    CompareView* m_compare = nullptr;
    QList<QDockWidget*> m_docks;
    QPointer<QDockWidget> m_lastDock;
    QByteArray m_stateBeforeMaximise;

    QMenu* m_recentMenu = nullptr;
    QActionGroup* m_themeGroup = nullptr;
    QLabel* m_modelLabel = nullptr;
    QLabel* m_timingLabel = nullptr;
    QProgressBar* m_progress = nullptr;
    QString m_pendingPrompt;
    bool m_automationDone = false;

    // UI stall monitor: a 10 ms timer; the longest gap between its ticks is how long the UI
    // thread was blocked.
    QElapsedTimer m_heartbeat;
    double m_maxStallMs = 0;
    double m_windowStallMs = 0; // from a completion's request until every view shows it
    double m_windowBusyMs = 0;  // the most CPU time the UI thread spent between two ticks
    double m_lastCpuMs = 0;
    bool m_measuring = false;
};

} // namespace brillm::viz
