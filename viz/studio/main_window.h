// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// MainWindow: the studio's window - every view in a dock widget (each with an objectName,
// "dock.completion", ...), menus and shortcuts, the status bar with timings, recent files, drag
// and drop, theme and layout persistence, sessions, the demo model on first start. The
// command-line hooks of the end-to-end test live in StudioAutomation (automation.h).

#include "common/palette.h"
#include "studio/automation.h"

#include <QElapsedTimer>
#include <QMainWindow>
#include <QPointer>

#include <memory>

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
struct StudioSession;
class TokenGraphView;
class TrainingMonitor;

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
    // The dock with objectName "dock.NAME" (name without the prefix accepted), or null.
    QDockWidget* dock(const QString& name) const;
    // Every view that can be exported, with its dock.
    QList<QPair<QDockWidget*, ExportableView*>> exportableViews() const;
    double maxUiStallMs() const;
    StudioAutomation* automation() const { return m_automation; }

    void openModel(const QString& path);
    void openShardedDialog();
    // Sessions (session.h). Both return an error message, empty on success; openSession
    // restores asynchronously (model, edits, branches) and emits sessionRestored when done.
    QString saveSession(const QString& path);
    QString openSession(const QString& path);
    StudioSession currentSession() const;
    bool isRestoringSession() const { return m_restoring != nullptr; }
    // Where the session is kept between runs (reopened on start with restoreLast).
    static QString lastSessionPath();
    // Edits not yet saved in a session or a patch: quitting asks first.
    bool hasUnsavedEdits() const;
    void setTheme(Theme theme);
    // Writes each view as NAME.png and NAME.svg, and the trace as trace.json/trace.csv, into dir.
    QString exportAll(const QString& dir);

Q_SIGNALS:
    void sessionRestored();

protected:
    void closeEvent(QCloseEvent* event) override;
    void dragEnterEvent(QDragEnterEvent* event) override;
    void dropEvent(QDropEvent* event) override;

private:
    void createDocks();
    QDockWidget* makeDock(const QString& title, const QString& name, QWidget* w);
    void createActions();
    void createTraceDocks(); // error tracing, edits, compare (issue #8)
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
    // An error: a dialog (or only the status bar), or in a headless run stderr and exit code 1.
    void reportError(const QString& title, const QString& message, bool dialog = true);
    void applyDefaultLayout();
    void saveSessionDialog();
    void openSessionDialog();
    void continueRestore();
    void finishRestore(const QString& error = {});
    // The view settings and inputs of a session (everything but the model, edits and branches).
    void applySessionSettings(const StudioSession& s);
    // Writes where an exported image came from (model, edits, decoding) into it.
    QString stampExport(const QString& path) const;
    QString provenance() const;

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
    StudioAutomation* m_automation = nullptr;
    std::unique_ptr<StudioSession> m_restoring; // a session being restored, step by step
    int m_restoreStage = 0;
};

} // namespace brillm::viz
