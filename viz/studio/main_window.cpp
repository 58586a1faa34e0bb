// SPDX-License-Identifier: GPL-3.0-or-later
#include "studio/main_window.h"

#include "common/exportable_view.h"
#include "monitor/training_monitor.h"
#include "studio/demo_launcher.h"
#include "studio/model_edits.h"
#include "studio/session.h"
#include "studio/studio_document.h"
#include "tracing/error_trace_panel.h"
#include "tracing/trace_export.h"
#include "tracing/trace_models.h"
#include "views/compare_view.h"
#include "views/completion_panel.h"
#include "views/cortex_map_view.h"
#include "views/edge_inspector.h"
#include "views/energy_heatmap_view.h"
#include "views/signal_path_view.h"
#include "views/token_graph_view.h"

#include <QActionGroup>
#include <QApplication>
#include <QCloseEvent>
#include <QComboBox>
#include <QDir>
#include <QDockWidget>
#include <QDragEnterEvent>
#include <QFileDialog>
#include <QFileInfo>
#include <QHeaderView>
#include <QImage>
#include <QLabel>
#include <QLineEdit>
#include <QMenuBar>
#include <QMessageBox>
#include <QMimeData>
#include <QProgressBar>
#include <QSaveFile>
#include <QScreen>
#include <QSettings>
#include <QShortcut>
#include <QStandardPaths>
#include <QStatusBar>
#include <QTableView>
#include <QTimer>
#include <QToolBar>
#include <QUndoStack>

#include <cstdio>
#include <ctime>

// Resources of a static library are registered by hand (outside any namespace).
static void initStudioResources() {
    Q_INIT_RESOURCE(studio);
}

namespace brillm::viz {

namespace {
constexpr int kMaxRecent = 10;

const char* kExamplePromptEn = "The history of";
} // namespace

MainWindow::MainWindow(const StudioOptions& options, QWidget* parent)
    : QMainWindow(parent), m_options(options), m_doc(new StudioDocument(this)) {
    initStudioResources();
    setWindowTitle(tr("BriLLM Studio"));
    setWindowIcon(QIcon(QStringLiteral(":/studio/icons/brillm-studio.svg")));
    setAcceptDrops(true);
    setDockOptions(QMainWindow::AnimatedDocks | QMainWindow::AllowNestedDocks | QMainWindow::AllowTabbedDocks |
                   QMainWindow::GroupedDragging);
    createDocks();
    createTraceDocks();
    createActions();
    createTraceActions();

    m_modelLabel = new QLabel(tr("no model"));
    m_modelLabel->setObjectName(QStringLiteral("status.model"));
    m_timingLabel = new QLabel;
    m_timingLabel->setObjectName(QStringLiteral("status.timing"));
    m_progress = new QProgressBar;
    m_progress->setMaximumWidth(180);
    m_progress->setRange(0, 100);
    m_progress->setVisible(false);
    statusBar()->addPermanentWidget(m_timingLabel);
    statusBar()->addPermanentWidget(m_progress);
    statusBar()->addPermanentWidget(m_modelLabel);

    m_demo = new DemoLauncher(this);
    if (!options.demoProgram.isEmpty()) m_demo->setProgram(options.demoProgram);
    connect(m_demo, &DemoLauncher::progress, this, [this](double f, const QString& msg) {
        m_progress->setVisible(true);
        m_progress->setValue(static_cast<int>(f * 100));
        if (!msg.isEmpty()) statusBar()->showMessage(tr("Demo: %1").arg(msg));
    });
    connect(m_demo, &DemoLauncher::modelReady, this, [this](const QString& path, const QString& prompt) {
        m_progress->setVisible(false);
        QSettings().setValue(QStringLiteral("demo/prepared"), true);
        m_pendingPrompt = prompt.isEmpty() ? QString::fromUtf8(kExamplePromptEn) : prompt;
        openModel(path);
    });
    connect(m_demo, &DemoLauncher::failed, this, [this](const QString& msg) {
        m_progress->setVisible(false);
        reportError(tr("No demo model"), tr("No demo model: %1. Open a model file (Ctrl+O).").arg(msg), false);
    });

    connect(m_doc, &StudioDocument::modelLoading, this, [this](const QString& path) {
        statusBar()->showMessage(tr("Loading %1…").arg(QFileInfo(path).fileName()));
        m_progress->setVisible(true);
        m_progress->setRange(0, 0);
    });
    connect(m_doc, &StudioDocument::modelChanged, this, &MainWindow::onModelChanged);
    connect(m_doc, &StudioDocument::modelFailed, this, &MainWindow::onModelFailed);
    connect(m_doc, &StudioDocument::completionFailed, this, &MainWindow::onCompletionFailed);
    connect(m_doc, &StudioDocument::viewsSettled, this, &MainWindow::onSettled);
    connect(m_doc, &StudioDocument::busyChanged, this, &MainWindow::updateStatus);
    connect(m_doc, &StudioDocument::traceFinished, this, &MainWindow::updateStatus);
    connect(m_doc, &StudioDocument::progress, this, [this](double f, const QString&) {
        if (f >= 0 && m_doc->isGenerating()) {
            m_progress->setVisible(true);
            m_progress->setRange(0, 100);
            m_progress->setValue(static_cast<int>(f * 100));
        }
    });
    connect(qApp, &QApplication::focusChanged, this, [this](QWidget*, QWidget* now) {
        for (QWidget* w = now; w; w = w->parentWidget())
            if (auto* d = qobject_cast<QDockWidget*>(w)) {
                m_lastDock = d;
                return;
            }
    });
    // Raising a tab counts as choosing that view (Ctrl+Shift+M maximises it), as focusing it does.
    connect(this, &QMainWindow::tabifiedDockWidgetActivated, this, [this](QDockWidget* d) { m_lastDock = d; });

    restoreSettings();
    if (!options.theme.isEmpty()) setTheme(themeFromString(options.theme));
    if (options.maxTokens >= 0) {
        auto o = m_completion->options();
        o.maxNewTokens = options.maxTokens;
        m_completion->setOptions(o);
    }
    if (options.size.isValid()) resize(options.size);

    // Connected after every view's and ModelEdits' own handlers: a session being restored
    // goes on once they have caught up.
    connect(m_doc, &StudioDocument::modelChanged, this, &MainWindow::continueRestore);
    connect(m_doc, &StudioDocument::modelEdited, this, &MainWindow::continueRestore);
    connect(m_doc, &StudioDocument::historyRestored, this, &MainWindow::continueRestore);
    connect(m_doc, &StudioDocument::modelFailed, this, [this] {
        if (m_restoring) finishRestore(tr("the session's model could not be opened"));
    });
    m_automation = new StudioAutomation(this, m_doc, options);

    const QString lastSession = lastSessionPath();
    const QStringList recent = QSettings().value(QStringLiteral("recentFiles")).toStringList();
    if (!options.session.isEmpty()) {
        QTimer::singleShot(0, this, [this] {
            const QString err = openSession(m_options.session);
            if (!err.isEmpty()) reportError(tr("Cannot open the session"), err);
        });
    } else if (!options.modelPath.isEmpty()) {
        m_pendingPrompt = options.prompt;
        QTimer::singleShot(0, this, [this] { openModel(m_options.modelPath); });
    } else if (options.restoreLast && QFileInfo(lastSession).isFile()) {
        // The last session: the model, its edits, the branches and the view settings.
        QTimer::singleShot(0, this, [this, lastSession] {
            const QString err = openSession(lastSession);
            if (!err.isEmpty())
                statusBar()->showMessage(tr("The last session could not be reopened: %1").arg(err), 8000);
        });
    } else if (options.restoreLast && !recent.isEmpty() && QFileInfo(recent.first()).isFile()) {
        QTimer::singleShot(0, this, [this, path = recent.first()] { openModel(path); });
    } else if (!options.noDemo &&
               (options.quitAfterCompletion || !QSettings().value(QStringLiteral("demo/prepared"), false).toBool())) {
        QTimer::singleShot(0, this, &MainWindow::startDemo);
    } else {
        statusBar()->showMessage(tr("Open a model file (Ctrl+O) or drop one on the window."));
    }
}

MainWindow::~MainWindow() = default;

// A dock for w, named for the layout and the tests (dock("...")), kept in m_docks.
QDockWidget* MainWindow::makeDock(const QString& title, const QString& name, QWidget* w) {
    auto* d = new QDockWidget(title, this);
    d->setObjectName(name);
    d->setWidget(w);
    d->setFeatures(QDockWidget::DockWidgetMovable | QDockWidget::DockWidgetFloatable | QDockWidget::DockWidgetClosable);
    m_docks.push_back(d);
    return d;
}

void MainWindow::createDocks() {
    m_completion = new CompletionPanel(m_doc);
    m_signalPath = new SignalPathView(m_doc);
    m_graph = new TokenGraphView(m_doc);
    m_heatmap = new EnergyHeatmapView(m_doc);
    m_cortex = new CortexMapView(m_doc);
    m_inspector = new EdgeInspector(m_doc);
    m_steps = new StepTableModel(this);
    m_stepTable = new QTableView;
    m_stepTable->setModel(m_steps);
    m_stepTable->setSelectionBehavior(QAbstractItemView::SelectRows);
    m_stepTable->setSelectionMode(QAbstractItemView::SingleSelection);
    m_stepTable->verticalHeader()->hide();
    m_stepTable->verticalHeader()->setDefaultSectionSize(m_stepTable->fontMetrics().height() + 6);
    m_stepTable->horizontalHeader()->setStretchLastSection(true);
    m_stepTable->setAlternatingRowColors(true);

    auto* dCompletion = makeDock(tr("Completion"), QStringLiteral("dock.completion"), m_completion);
    auto* dPath = makeDock(tr("Signal path"), QStringLiteral("dock.signalPath"), m_signalPath);
    auto* dGraph = makeDock(tr("Token graph"), QStringLiteral("dock.tokenGraph"), m_graph);
    auto* dHeat = makeDock(tr("Energy heatmap"), QStringLiteral("dock.heatmap"), m_heatmap);
    auto* dCortex = makeDock(tr("Cortex map"), QStringLiteral("dock.cortex"), m_cortex);
    auto* dEdge = makeDock(tr("Edge inspector"), QStringLiteral("dock.edge"), m_inspector);
    auto* dSteps = makeDock(tr("Steps"), QStringLiteral("dock.steps"), m_stepTable);
    m_training = new TrainingMonitor;
    auto* dTraining = makeDock(tr("Training"), QStringLiteral("dock.training"), m_training);

    // No central widget: every view is a dock, so any of them can take the whole window.
    auto* central = new QWidget;
    central->setMaximumSize(0, 0);
    setCentralWidget(central);
    addDockWidget(Qt::LeftDockWidgetArea, dCompletion);
    addDockWidget(Qt::RightDockWidgetArea, dGraph);
    splitDockWidget(dCompletion, dPath, Qt::Vertical);
    tabifyDockWidget(dPath, dSteps);
    dPath->raise();
    addDockWidget(Qt::RightDockWidgetArea, dHeat);
    splitDockWidget(dGraph, dHeat, Qt::Vertical);
    tabifyDockWidget(dHeat, dCortex);
    tabifyDockWidget(dCortex, dEdge);
    tabifyDockWidget(dEdge, dTraining);
    dHeat->raise();
    // The default proportions, once the window has its size (a saved layout replaces them).
    QTimer::singleShot(0, this, [this] {
        if (QSettings().value(QStringLiteral("window/state")).toByteArray().isEmpty()) applyDefaultLayout();
    });
    m_lastDock = dGraph;

    connect(m_doc, &StudioDocument::modelChanged, this, [this] { m_steps->setModel(m_doc->model()); });
    connect(m_doc, &StudioDocument::traceReset, this,
            [this] { m_steps->setTrace(m_doc->trace(), m_doc->userPromptTokens()); });
    connect(m_doc, &StudioDocument::stepAppended, this, [this](int newest) {
        for (int i = m_steps->rowCount(); i <= newest; ++i)
            m_steps->appendStep(m_doc->trace().steps[static_cast<size_t>(i)]);
    });
    connect(m_doc, &StudioDocument::traceFinished, this, [this] {
        if (m_steps->rowCount() != static_cast<int>(m_doc->trace().steps.size()))
            m_steps->setTrace(m_doc->trace(), m_doc->userPromptTokens());
    });
    connect(m_doc, &StudioDocument::selectionChanged, this, [this](int step) {
        if (step >= 0 && step < m_steps->rowCount() && m_stepTable->currentIndex().row() != step) {
            const QSignalBlocker b(m_stepTable->selectionModel());
            m_stepTable->selectRow(step);
        }
    });
    connect(m_stepTable->selectionModel(), &QItemSelectionModel::currentRowChanged, this, [this](const QModelIndex& i) {
        if (i.isValid()) m_doc->selectStep(i.row());
    });
}

void MainWindow::createTraceDocks() {
    m_edits = new ModelEdits(m_doc, this);
    m_errorTrace = new ErrorTracePanel(m_doc);
    m_editsPanel = new EditsPanel(m_doc, m_edits);
    m_compare = new CompareView(m_doc, m_edits);
    auto* dTrace = makeDock(tr("Error tracing"), QStringLiteral("dock.errorTrace"), m_errorTrace);
    auto* dEdits = makeDock(tr("Edits"), QStringLiteral("dock.edits"), m_editsPanel);
    auto* dCompare = makeDock(tr("Compare"), QStringLiteral("dock.compare"), m_compare);
    if (auto* completion = findChild<QDockWidget*>(QStringLiteral("dock.completion"))) {
        tabifyDockWidget(completion, dTrace);
        completion->raise();
    }
    if (auto* steps = findChild<QDockWidget*>(QStringLiteral("dock.steps"))) tabifyDockWidget(steps, dEdits);
    if (auto* edge = findChild<QDockWidget*>(QStringLiteral("dock.edge"))) tabifyDockWidget(edge, dCompare);
    if (auto* heat = findChild<QDockWidget*>(QStringLiteral("dock.heatmap"))) heat->raise();
    if (auto* path = findChild<QDockWidget*>(QStringLiteral("dock.signalPath"))) path->raise();

    connect(m_errorTrace, &ErrorTracePanel::highlightsChanged, this,
            [this](const EdgeHighlights& edges, const PositionHighlights& positions) {
                m_signalPath->setHighlightedEdges(edges);
                m_signalPath->setHighlightedPositions(positions);
                m_graph->setHighlightedEdges(edges);
            });
    auto warn = [this](const QString& title) {
        return [this, title](const QString& message) { reportError(title, message); };
    };
    connect(m_errorTrace, &ErrorTracePanel::failed, this, warn(tr("Error tracing")));
    connect(m_compare, &CompareView::failed, this, warn(tr("Compare")));
    connect(m_edits, &ModelEdits::failed, this, warn(tr("Edits")));
    connect(m_editsPanel, &EditsPanel::message, this,
            [this](const QString& text) { statusBar()->showMessage(text, 8000); });
    connect(m_doc, &StudioDocument::modelEdited, this, [this](int n) {
        if (!m_doc->hasModel()) return;
        const QString name = QFileInfo(m_doc->originalModel()->path).fileName();
        m_modelLabel->setText(
            n > 0 ? tr("%1 · <b>edited (%2 edit%3)</b>").arg(m_doc->model()->summary()).arg(n).arg(n == 1 ? "" : "s")
                  : m_doc->model()->summary());
        setWindowTitle(n > 0 ? tr("%1 [edited] - BriLLM Studio").arg(name) : tr("%1 - BriLLM Studio").arg(name));
    });
}

void MainWindow::createTraceActions() {
    QMenu* edit = new QMenu(tr("&Edit"), this);
    menuBar()->insertMenu(menuBar()->actions().value(1), edit); // after File
    QAction* undo = m_edits->undoStack()->createUndoAction(this, tr("&Undo edit"));
    undo->setShortcut(QKeySequence::Undo);
    QAction* redo = m_edits->undoStack()->createRedoAction(this, tr("&Redo edit"));
    redo->setShortcuts({QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_Z), QKeySequence(Qt::CTRL | Qt::Key_Y)});
    edit->addAction(undo);
    edit->addAction(redo);
    edit->addSeparator();
    edit->addAction(tr("Remove &all edits"), m_edits, &ModelEdits::clear);
    edit->addAction(tr("&Load patch…"), m_editsPanel, &EditsPanel::loadPatchDialog);
    edit->addAction(tr("&Save patch…"), m_editsPanel, &EditsPanel::savePatchDialog);
    edit->addAction(tr("&Write patched model…"), m_editsPanel, &EditsPanel::writePatchedModelDialog);

    QMenu* analyse = new QMenu(tr("&Analyse"), this);
    menuBar()->insertMenu(menuBar()->actions().value(menuBar()->actions().size() - 1), analyse); // before Help
    QAction* trace = analyse->addAction(tr("&Error tracing…"), this, [this] {
        if (auto* d = findChild<QDockWidget*>(QStringLiteral("dock.errorTrace"))) {
            d->show();
            d->raise();
        }
        if (m_errorTrace->prompt().isEmpty()) m_errorTrace->setPrompt(m_completion->prompt());
        m_errorTrace->setFocus();
    });
    trace->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_T));
    QAction* compare = analyse->addAction(tr("&Compare…"), this, [this] {
        if (auto* d = findChild<QDockWidget*>(QStringLiteral("dock.compare"))) {
            d->show();
            d->raise();
        }
    });
    compare->setShortcut(QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_C));
    analyse->addSeparator();
    for (const char* name : {"dock.errorTrace", "dock.edits", "dock.compare"})
        if (auto* d = findChild<QDockWidget*>(QLatin1String(name))) analyse->addAction(d->toggleViewAction());
}

void MainWindow::createActions() {
    QMenu* file = menuBar()->addMenu(tr("&File"));
    QAction* open = file->addAction(tr("&Open model…"), this, &MainWindow::openDialog);
    open->setShortcut(QKeySequence::Open);
    QAction* openSharded = file->addAction(tr("Open s&harded model…"), this, &MainWindow::openShardedDialog);
    openSharded->setObjectName(QStringLiteral("action.openShardedModel"));
    openSharded->setStatusTip(tr("Open the directory of a model trained with --shard-edges (holding shards.json)"));
    m_recentMenu = file->addMenu(tr("Open &recent"));
    file->addAction(tr("Open the &demo model"), this, &MainWindow::startDemo);
    file->addSeparator();
    QAction* openSessionAction = file->addAction(tr("Open &session…"), this, &MainWindow::openSessionDialog);
    openSessionAction->setShortcut(QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_O));
    openSessionAction->setObjectName(QStringLiteral("action.openSession"));
    QAction* saveSessionAction = file->addAction(tr("Save s&ession…"), this, &MainWindow::saveSessionDialog);
    saveSessionAction->setShortcut(QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_S));
    saveSessionAction->setObjectName(QStringLiteral("action.saveSession"));
    createTrainingActions(file);
    file->addSeparator();
    QAction* png = file->addAction(tr("Export view as &PNG…"), this, [this] { exportCurrent(QStringLiteral("png")); });
    png->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_E));
    QAction* svg = file->addAction(tr("Export view as &SVG…"), this, [this] { exportCurrent(QStringLiteral("svg")); });
    svg->setShortcut(QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_E));
    file->addAction(tr("Export &all views…"), this, &MainWindow::exportAllDialog);
    QAction* trace = file->addAction(tr("Export &trace (JSON, CSV)…"), this, &MainWindow::exportTrace);
    trace->setShortcut(QKeySequence::Save);
    file->addSeparator();
    QAction* quit = file->addAction(tr("&Quit"), this, &QWidget::close);
    quit->setShortcut(QKeySequence::Quit);

    QMenu* run = menuBar()->addMenu(tr("&Run"));
    QAction* complete = run->addAction(tr("&Complete"), m_completion, &CompletionPanel::run);
    complete->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_Return));
    QAction* stop = run->addAction(tr("&Stop"), m_doc, &StudioDocument::cancel);
    stop->setShortcut(QKeySequence(Qt::Key_Escape));
    QAction* prompt = run->addAction(tr("Edit &prompt"), this, [this] {
        m_completion->promptEdit()->setFocus();
        m_completion->promptEdit()->selectAll();
    });
    prompt->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_L));
    run->addSeparator();
    QAction* prev =
        run->addAction(tr("Previous step"), this, [this] { m_doc->selectStep(std::max(0, m_doc->shownStep() - 1)); });
    prev->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_BracketLeft));
    QAction* next = run->addAction(tr("Next step"), this, [this] {
        m_doc->selectStep(std::min(static_cast<int>(m_doc->trace().steps.size()) - 1, m_doc->shownStep() + 1));
    });
    next->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_BracketRight));
    QAction* back = run->addAction(tr("Previous &branch"), m_doc, &StudioDocument::back);
    back->setShortcut(QKeySequence(Qt::ALT | Qt::Key_Left));
    QAction* fwd = run->addAction(tr("Next b&ranch"), m_doc, &StudioDocument::forward);
    fwd->setShortcut(QKeySequence(Qt::ALT | Qt::Key_Right));
    QAction* play = run->addAction(tr("&Play / pause the cortex map"), m_cortex, &CortexMapView::togglePlaying);
    play->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_P));

    QMenu* view = menuBar()->addMenu(tr("&View"));
    for (QDockWidget* d : m_docks)
        view->addAction(d->toggleViewAction());
    view->addSeparator();
    QAction* maxi = view->addAction(tr("&Maximise current view"), this, &MainWindow::toggleMaximiseView);
    maxi->setShortcut(QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_M));
    QAction* fit = view->addAction(tr("Zoom token graph to &fit"), m_graph->canvas(), &GraphCanvas::zoomToFit);
    fit->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_0));
    QAction* full =
        view->addAction(tr("&Full screen"), this, [this] { isFullScreen() ? showNormal() : showFullScreen(); });
    full->setShortcut(QKeySequence::FullScreen);
    QMenu* theme = view->addMenu(tr("&Theme"));
    m_themeGroup = new QActionGroup(this);
    for (auto [t, label] : {std::pair{Theme::System, tr("Follow the &system")}, std::pair{Theme::Light, tr("&Light")},
                            std::pair{Theme::Dark, tr("&Dark")}}) {
        QAction* a = theme->addAction(label);
        a->setCheckable(true);
        a->setData(themeToString(t));
        m_themeGroup->addAction(a);
        connect(a, &QAction::triggered, this, [this, t] { setTheme(t); });
    }
    view->addAction(tr("&Reset layout"), this, [this] {
        QSettings().remove(QStringLiteral("window/state"));
        applyDefaultLayout();
        statusBar()->showMessage(tr("The default layout is back."), 4000);
    });

    QMenu* help = menuBar()->addMenu(tr("&Help"));
    QAction* keys = help->addAction(tr("&Keyboard shortcuts"), this, &MainWindow::showShortcuts);
    keys->setShortcut(QKeySequence::HelpContents);
    help->addAction(tr("&About BriLLM Studio"), this, &MainWindow::showAbout);

    QToolBar* tb = addToolBar(tr("Main"));
    tb->setObjectName(QStringLiteral("toolbar.main"));
    tb->setMovable(false);
    tb->addAction(open);
    tb->addAction(complete);
    tb->addAction(stop);
    tb->addSeparator();
    tb->addAction(back);
    tb->addAction(fwd);
    tb->addSeparator();
    tb->addAction(png);
    tb->addAction(trace);
    tb->setToolButtonStyle(Qt::ToolButtonTextOnly);
    rebuildRecentMenu();
}

// File > Open Run Directory and the Training menu; each shows the Training dock.
void MainWindow::createTrainingActions(QMenu* file) {
    auto showTraining = [this] {
        if (auto* d = qobject_cast<QDockWidget*>(m_training->parentWidget())) {
            d->show();
            d->raise();
        }
    };
    file->addAction(tr("Open r&un directory…"), this, [this, showTraining] {
        showTraining();
        m_training->openRunDialog();
    });
    QMenu* training = menuBar()->addMenu(tr("&Training"));
    training->addAction(tr("&New training…"), this, [this, showTraining] {
        showTraining();
        m_training->newTrainingDialog();
    });
    training->addAction(tr("&Stop training"), this, [this] { m_training->stopTraining(); });
    training->addAction(tr("&Resume training"), this, [this, showTraining] {
        showTraining();
        m_training->resumeTraining();
    });
    connect(m_training, &TrainingMonitor::statusMessage, this,
            [this](const QString& m) { statusBar()->showMessage(m, 8000); });
    connect(m_training, &TrainingMonitor::alertRaised, this, [this](const TrainingAlert& a) {
        statusBar()->showMessage(tr("Training alert: %1").arg(a.message), 15000);
    });
}

void MainWindow::restoreSettings() {
    QSettings s;
    const QByteArray geometry = s.value(QStringLiteral("window/geometry")).toByteArray();
    if (geometry.isEmpty() || !restoreGeometry(geometry)) resize(1440, 900);
    restoreState(s.value(QStringLiteral("window/state")).toByteArray());
    setTheme(themeFromString(s.value(QStringLiteral("theme"), QStringLiteral("system")).toString()));
    DecodeOptions o;
    o.maxNewTokens = s.value(QStringLiteral("decode/maxTokens"), 32).toInt();
    o.greedy = s.value(QStringLiteral("decode/greedy"), true).toBool();
    o.temperature = s.value(QStringLiteral("decode/temperature"), 1.0).toDouble();
    o.topK = s.value(QStringLiteral("decode/topK"), 0).toInt();
    o.topP = s.value(QStringLiteral("decode/topP"), 1.0).toDouble();
    o.seed = s.value(QStringLiteral("decode/seed"), 0).toULongLong();
    o.excludeSelfLoop = s.value(QStringLiteral("decode/excludeSelfLoop"), true).toBool();
    o.referenceDecode = s.value(QStringLiteral("decode/referenceDecode"), false).toBool();
    m_completion->setOptions(o);
    m_completion->setSkipSpecial(s.value(QStringLiteral("decode/skipSpecial"), true).toBool());
    m_completion->setPrompt(s.value(QStringLiteral("decode/lastPrompt")).toString());
}

void MainWindow::saveSettings() {
    QSettings s;
    s.setValue(QStringLiteral("window/geometry"), saveGeometry());
    if (m_stateBeforeMaximise.isEmpty()) s.setValue(QStringLiteral("window/state"), saveState());
    const DecodeOptions o = m_completion->options();
    s.setValue(QStringLiteral("decode/maxTokens"), static_cast<int>(o.maxNewTokens));
    s.setValue(QStringLiteral("decode/greedy"), o.greedy);
    s.setValue(QStringLiteral("decode/temperature"), o.temperature);
    s.setValue(QStringLiteral("decode/topK"), static_cast<int>(o.topK));
    s.setValue(QStringLiteral("decode/topP"), o.topP);
    s.setValue(QStringLiteral("decode/seed"), static_cast<qulonglong>(o.seed));
    s.setValue(QStringLiteral("decode/excludeSelfLoop"), o.excludeSelfLoop);
    s.setValue(QStringLiteral("decode/referenceDecode"), o.referenceDecode);
    s.setValue(QStringLiteral("decode/skipSpecial"), m_completion->skipSpecial());
    s.setValue(QStringLiteral("decode/lastPrompt"), m_completion->prompt());
}

void MainWindow::closeEvent(QCloseEvent* event) {
    if (!m_automation->isHeadless() && hasUnsavedEdits()) {
        const auto answer =
            QMessageBox::question(this, tr("Unsaved edits"),
                                  tr("The model has %1 unsaved edit%2. Save the session before quitting?")
                                      .arg(m_edits->count())
                                      .arg(m_edits->count() == 1 ? "" : "s"),
                                  QMessageBox::Save | QMessageBox::Discard | QMessageBox::Cancel, QMessageBox::Save);
        if (answer == QMessageBox::Cancel) {
            event->ignore();
            return;
        }
        if (answer == QMessageBox::Save) {
            saveSessionDialog();
            if (hasUnsavedEdits()) { // the dialog was cancelled, or writing failed
                event->ignore();
                return;
            }
        }
    }
    if (!m_automation->isHeadless()) {
        saveSettings();
        // Kept for the next start (reopened unless --no-session).
        if (m_doc->hasModel() && !m_restoring) {
            QDir().mkpath(QFileInfo(lastSessionPath()).absolutePath());
            const QString err = saveSession(lastSessionPath());
            if (!err.isEmpty()) std::fprintf(stderr, "brillm-studio: %s\n", qPrintable(err));
        }
    }
    m_doc->cancel();
    m_demo->cancel();
    event->accept();
}

void MainWindow::setTheme(Theme theme) {
    applyTheme(theme);
    QSettings().setValue(QStringLiteral("theme"), themeToString(theme));
    if (m_themeGroup)
        for (QAction* a : m_themeGroup->actions())
            a->setChecked(a->data().toString() == themeToString(theme));
    // Views that bake colours into items or plots rebuild from the document.
    Q_EMIT m_doc->traceReset();
    if (m_doc->hasTrace() && !m_doc->isGenerating()) Q_EMIT m_doc->traceFinished();
}

void MainWindow::addRecent(const QString& path) {
    QSettings s;
    QStringList recent = s.value(QStringLiteral("recentFiles")).toStringList();
    const QString abs = QFileInfo(path).absoluteFilePath();
    recent.removeAll(abs);
    recent.prepend(abs);
    while (recent.size() > kMaxRecent)
        recent.removeLast();
    s.setValue(QStringLiteral("recentFiles"), recent);
    rebuildRecentMenu();
}

void MainWindow::rebuildRecentMenu() {
    m_recentMenu->clear();
    const QStringList recent = QSettings().value(QStringLiteral("recentFiles")).toStringList();
    int i = 0;
    for (const QString& path : recent) {
        QAction* a = m_recentMenu->addAction(QStringLiteral("&%1 %2").arg(++i % 10).arg(QFileInfo(path).fileName()),
                                             this, [this, path] { openModel(path); });
        a->setToolTip(path);
        a->setStatusTip(path);
    }
    if (recent.isEmpty()) m_recentMenu->addAction(tr("(none)"))->setEnabled(false);
    m_recentMenu->addSeparator();
    m_recentMenu->addAction(tr("Clear"), this, [this] {
        QSettings().remove(QStringLiteral("recentFiles"));
        rebuildRecentMenu();
    });
}

void MainWindow::openModel(const QString& path) {
    m_doc->openModel(path);
}

void MainWindow::openDialog() {
    const QString dir = QSettings().value(QStringLiteral("lastDir")).toString();
    const QString path = QFileDialog::getOpenFileName(
        this, tr("Open a BriLLM model"), dir, tr("BriLLM models (*.brillm *.safetensors shards.json);;All files (*)"));
    if (path.isEmpty()) return;
    QSettings().setValue(QStringLiteral("lastDir"), QFileInfo(path).absolutePath());
    openModel(path);
}

void MainWindow::openShardedDialog() {
    const QString dir = QSettings().value(QStringLiteral("lastDir")).toString();
    const QString path = QFileDialog::getExistingDirectory(
        this, tr("Open a sharded BriLLM model (the directory holding shards.json)"), dir);
    if (path.isEmpty()) return;
    QSettings().setValue(QStringLiteral("lastDir"), QFileInfo(path).absolutePath());
    openModel(path);
}

void MainWindow::dragEnterEvent(QDragEnterEvent* event) {
    if (event->mimeData()->hasUrls())
        for (const QUrl& u : event->mimeData()->urls())
            if (u.isLocalFile()) {
                event->acceptProposedAction();
                return;
            }
}

void MainWindow::dropEvent(QDropEvent* event) {
    for (const QUrl& u : event->mimeData()->urls())
        if (u.isLocalFile()) {
            openModel(u.toLocalFile());
            event->acceptProposedAction();
            return;
        }
}

void MainWindow::startDemo() {
    if (m_demo->isRunning()) return;
    m_demo->start(QStringLiteral("en"));
}

void MainWindow::onModelChanged() {
    m_progress->setVisible(false);
    m_progress->setRange(0, 100);
    if (!m_doc->hasModel()) return;
    const auto& m = *m_doc->model();
    addRecent(m.path);
    setWindowTitle(tr("%1 - BriLLM Studio").arg(QFileInfo(m.path).fileName()));
    m_modelLabel->setText(m.summary());
    m_modelLabel->setToolTip(m.shardNote().isEmpty() ? m.path : m.path + QLatin1Char('\n') + m.shardNote());
    statusBar()->showMessage(tr("Loaded %1 in %2 ms%3")
                                 .arg(QFileInfo(m.path).fileName())
                                 .arg(m.loadSeconds * 1e3, 0, 'f', 0)
                                 .arg(m.codec ? QString() : tr(" (no vocabulary: type node ids like #3 #17)")),
                             8000);
    if (!m_pendingPrompt.isEmpty()) {
        m_completion->setPrompt(m_pendingPrompt);
        m_pendingPrompt.clear();
        m_completion->run();
    }
}

void MainWindow::onModelFailed(const QString& path, const QString& message) {
    m_progress->setVisible(false);
    m_progress->setRange(0, 100);
    statusBar()->showMessage(tr("Could not open %1").arg(QFileInfo(path).fileName()), 8000);
    reportError(tr("Cannot open the model"), tr("cannot open %1: %2").arg(path, message));
}

void MainWindow::onCompletionFailed(const QString& message) {
    if (m_restoring) finishRestore(message);
    reportError(tr("Cannot complete"), message);
}

void MainWindow::reportError(const QString& title, const QString& message, bool dialog) {
    statusBar()->showMessage(message, 8000);
    if (m_automation->isHeadless()) {
        m_automation->fail(message);
        return;
    }
    if (dialog) QMessageBox::warning(this, title, message);
}

void MainWindow::updateStatus() {
    if (m_doc->isGenerating()) {
        statusBar()->showMessage(tr("Generating… (Esc stops)"));
        return;
    }
    m_progress->setVisible(m_doc->isLoading());
    if (!m_doc->hasTrace()) return;
    const auto& t = m_doc->trace();
    if (t.stopReason == "cancelled")
        statusBar()->showMessage(tr("Stopped."), 4000);
    else
        statusBar()->clearMessage();
}

void MainWindow::onSettled(double ms) {
    const double decodeMs = m_doc->lastDecodeMs();
    const auto n = m_doc->lastNewTokens();
    m_timingLabel->setText(
        tr("%1 tokens: decode %2 ms (%3 tok/s, scored on %4) · all views %5 ms · UI thread max busy %6 ms")
            .arg(n)
            .arg(decodeMs, 0, 'f', 0)
            .arg(decodeMs > 0 ? n / (decodeMs * 1e-3) : 0.0, 0, 'f', 0)
            .arg(m_doc->lastScoredOn())
            .arg(ms, 0, 'f', 0)
            .arg(m_automation->stalls()->windowBusyMs(), 0, 'f', 0));
}

double MainWindow::maxUiStallMs() const {
    return m_automation->stalls()->maxStallMs();
}

QDockWidget* MainWindow::dock(const QString& name) const {
    const QString full = name.startsWith(QLatin1String("dock.")) ? name : QStringLiteral("dock.") + name;
    for (QDockWidget* d : m_docks)
        if (d->objectName() == full) return d;
    return nullptr;
}

QList<QPair<QDockWidget*, ExportableView*>> MainWindow::exportableViews() const {
    QList<QPair<QDockWidget*, ExportableView*>> out;
    for (QDockWidget* d : m_docks) {
        ExportableView* v = dynamic_cast<ExportableView*>(d->widget());
        if (!v && d->widget() == m_completion) v = m_completion->tokenFlow();
        if (v) out.push_back({d, v});
    }
    return out;
}

QDockWidget* MainWindow::currentDock() const {
    return m_lastDock ? m_lastDock.data() : m_docks.value(2);
}

void MainWindow::exportCurrent(const QString& format) {
    QDockWidget* dock = currentDock();
    ExportableView* view = nullptr;
    for (const auto& [d, v] : exportableViews())
        if (d == dock) view = v;
    const QString dir = QSettings().value(QStringLiteral("exportDir"), QDir::homePath()).toString();
    const QString name = view ? view->exportName() : dock->objectName().section(QLatin1Char('.'), 1);
    const QString path = QFileDialog::getSaveFileName(
        this, tr("Export %1").arg(dock->windowTitle()), QDir(dir).filePath(name + QLatin1Char('.') + format),
        format == QLatin1String("svg") ? tr("SVG (*.svg)") : tr("PNG (*.png)"));
    if (path.isEmpty()) return;
    QSettings().setValue(QStringLiteral("exportDir"), QFileInfo(path).absolutePath());
    QString err = view ? exportView(*view, path) : exportWidget(*dock->widget(), path);
    if (err.isEmpty()) err = stampExport(path);
    if (!err.isEmpty())
        QMessageBox::warning(this, tr("Export failed"), err);
    else
        statusBar()->showMessage(tr("Wrote %1").arg(path), 5000);
}

QString MainWindow::exportAll(const QString& dir) {
    if (!QDir().mkpath(dir)) return tr("cannot create %1").arg(dir);
    for (const auto& [d, v] : exportableViews())
        for (const char* ext : {"png", "svg"}) {
            const QString path = QDir(dir).filePath(v->exportName() + QLatin1Char('.') + QLatin1String(ext));
            QString err = exportView(*v, path);
            if (err.isEmpty()) err = stampExport(path);
            if (!err.isEmpty()) return err;
        }
    QImage window = grab().toImage();
    window.setText(QStringLiteral("Description"), provenance());
    if (!window.save(QDir(dir).filePath(QStringLiteral("studio.png")))) return tr("cannot write studio.png");
    if (m_doc->hasTrace()) {
        for (const char* name : {"trace.json", "trace.csv"}) {
            const QString err = saveTrace(QDir(dir).filePath(QLatin1String(name)), m_doc->trace(), m_doc->model().get(),
                                          m_doc->userPromptTokens(), m_doc->lastOptions(), m_edits->appliedEdits());
            if (!err.isEmpty()) return err;
        }
    }
    return {};
}

void MainWindow::exportAllDialog() {
    const QString dir =
        QFileDialog::getExistingDirectory(this, tr("Export every view into"),
                                          QSettings().value(QStringLiteral("exportDir"), QDir::homePath()).toString());
    if (dir.isEmpty()) return;
    const QString err = exportAll(dir);
    if (!err.isEmpty())
        QMessageBox::warning(this, tr("Export failed"), err);
    else
        statusBar()->showMessage(tr("Wrote every view to %1").arg(dir), 5000);
}

void MainWindow::exportTrace() {
    if (!m_doc->hasTrace()) {
        statusBar()->showMessage(tr("No trace to export yet."), 4000);
        return;
    }
    const QString dir = QSettings().value(QStringLiteral("exportDir"), QDir::homePath()).toString();
    QString selected;
    const QString path =
        QFileDialog::getSaveFileName(this, tr("Export trace"), QDir(dir).filePath(QStringLiteral("trace.json")),
                                     tr("JSON (*.json);;CSV (*.csv)"), &selected);
    if (path.isEmpty()) return;
    QSettings().setValue(QStringLiteral("exportDir"), QFileInfo(path).absolutePath());
    const QString err = saveTrace(path, m_doc->trace(), m_doc->model().get(), m_doc->userPromptTokens(),
                                  m_doc->lastOptions(), m_edits->appliedEdits());
    if (!err.isEmpty())
        QMessageBox::warning(this, tr("Export failed"), err);
    else
        statusBar()->showMessage(tr("Wrote %1").arg(path), 5000);
}

QString MainWindow::provenance() const {
    return provenanceLine(m_doc->model().get(), m_edits->appliedEdits(), m_doc->lastOptions());
}

QString MainWindow::stampExport(const QString& path) const {
    // PNG: a "Description" text chunk; SVG: a <desc> element right after the <svg> tag.
    const QString line = provenance();
    const QString suffix = QFileInfo(path).suffix().toLower();
    if (suffix == QLatin1String("png")) {
        QImage image(path);
        if (image.isNull()) return tr("cannot read back %1").arg(path);
        image.setText(QStringLiteral("Description"), line);
        QSaveFile f(path);
        if (!f.open(QIODevice::WriteOnly) || !image.save(&f, "PNG") || !f.commit())
            return tr("cannot write %1: %2").arg(path, f.errorString());
        return {};
    }
    if (suffix == QLatin1String("svg")) {
        QFile in(path);
        if (!in.open(QIODevice::ReadOnly)) return tr("cannot read back %1").arg(path);
        QByteArray svg = in.readAll();
        in.close();
        const qsizetype open = svg.indexOf("<svg");
        const qsizetype end = open < 0 ? -1 : svg.indexOf('>', open);
        if (end < 0) return tr("%1 is not SVG").arg(path);
        svg.insert(end + 1, "\n<desc>" + line.toHtmlEscaped().toUtf8() + "</desc>");
        QSaveFile f(path);
        if (!f.open(QIODevice::WriteOnly) || f.write(svg) != svg.size() || !f.commit())
            return tr("cannot write %1: %2").arg(path, f.errorString());
    }
    return {};
}

void MainWindow::toggleMaximiseView() {
    if (!m_stateBeforeMaximise.isEmpty()) {
        restoreState(m_stateBeforeMaximise);
        m_stateBeforeMaximise.clear();
        return;
    }
    QDockWidget* keep = currentDock();
    if (!keep) return;
    m_stateBeforeMaximise = saveState();
    for (QDockWidget* d : m_docks)
        if (d != keep) d->hide();
    keep->show();
    keep->raise();
    statusBar()->showMessage(tr("%1 maximised - Ctrl+Shift+M restores the layout").arg(keep->windowTitle()), 5000);
}

void MainWindow::applyDefaultLayout() {
    // Proportions for a laptop screen (1440x900) up: the left column (completion / error
    // tracing tabs over the signal path) gets the height the tables need, the right column the
    // graph over the heatmap.
    auto* completion = dock(QStringLiteral("completion"));
    auto* path = dock(QStringLiteral("signalPath"));
    auto* graph = dock(QStringLiteral("tokenGraph"));
    auto* heat = dock(QStringLiteral("heatmap"));
    for (QDockWidget* d : m_docks)
        d->show();
    if (!completion || !path || !graph || !heat) return;
    resizeDocks({completion, graph}, {width() * 48 / 100, width() * 52 / 100}, Qt::Horizontal);
    resizeDocks({completion, path}, {height() * 67 / 100, height() * 25 / 100}, Qt::Vertical);
    resizeDocks({graph, heat}, {height() * 42 / 100, height() * 48 / 100}, Qt::Vertical);
}

// ---------------------------------------------------------------- sessions

QString MainWindow::lastSessionPath() {
    return QDir(QStandardPaths::writableLocation(QStandardPaths::AppDataLocation))
        .filePath(QStringLiteral("last-session.brillm-session"));
}

bool MainWindow::hasUnsavedEdits() const {
    return m_edits->count() > 0 && !m_edits->undoStack()->isClean();
}

StudioSession MainWindow::currentSession() const {
    StudioSession s;
    if (m_doc->originalModel()) s.modelPath = m_doc->originalModel()->path;
    s.edits = m_edits->appliedEdits();
    s.prompt = m_completion->prompt();
    s.options = m_completion->options();
    s.skipSpecial = m_completion->skipSpecial();
    for (const Branch& b : m_doc->history()) {
        SavedBranch sb;
        sb.tokens = b.trace->tokens;
        sb.promptTokens = b.trace->promptTokens;
        sb.userPromptTokens = b.userPromptTokens;
        sb.forcedAt = b.forcedAt;
        sb.selectedStep = b.selectedStep;
        sb.description = b.description;
        sb.stopReason = QString::fromStdString(b.trace->stopReason);
        sb.options = b.options;
        s.branches.push_back(std::move(sb));
    }
    s.branchIndex = m_doc->historyIndex();
    if (s.branchIndex >= 0 && s.branchIndex < static_cast<int>(s.branches.size()))
        s.branches[static_cast<size_t>(s.branchIndex)].selectedStep = m_doc->selectedStep();
    s.tracePrompt = m_errorTrace->prompt();
    s.traceExpected = m_errorTrace->expected();
    s.compareMode = static_cast<int>(m_compare->mode());
    s.compareLeft = m_compare->leftPrompt();
    s.compareRight = m_compare->rightPrompt();
    s.compareUsesCompletionSettings = m_compare->useCompletionSettings();
    s.heatmapScale = static_cast<int>(m_heatmap->scale());
    s.cortexMode = static_cast<int>(m_cortex->canvas()->mode());
    s.theme = QSettings().value(QStringLiteral("theme"), QStringLiteral("system")).toString();
    s.windowState = m_stateBeforeMaximise.isEmpty() ? saveState() : m_stateBeforeMaximise;
    return s;
}

QString MainWindow::saveSession(const QString& path) {
    const QString err = saveSessionFile(path, currentSession());
    if (err.isEmpty()) {
        m_edits->undoStack()->setClean();
        if (path != lastSessionPath()) QSettings().setValue(QStringLiteral("session/lastFile"), path);
    }
    return err;
}

void MainWindow::applySessionSettings(const StudioSession& s) {
    if (!s.theme.isEmpty()) setTheme(themeFromString(s.theme));
    if (!s.windowState.isEmpty()) {
        m_stateBeforeMaximise.clear();
        restoreState(s.windowState);
    }
    m_completion->setOptions(s.options);
    m_completion->setSkipSpecial(s.skipSpecial);
    m_completion->setPrompt(s.prompt);
    m_errorTrace->setPrompt(s.tracePrompt);
    m_errorTrace->setExpected(s.traceExpected);
    m_compare->setMode(static_cast<CompareMode>(s.compareMode));
    m_compare->setPrompts(s.compareLeft, s.compareRight);
    m_compare->setUseCompletionSettings(s.compareUsesCompletionSettings);
    if (s.heatmapScale >= 0) m_heatmap->setScale(static_cast<HeatmapScale>(s.heatmapScale));
    if (s.cortexMode >= 0) m_cortex->modeBox()->setCurrentIndex(s.cortexMode);
}

QString MainWindow::openSession(const QString& path) {
    auto s = std::make_unique<StudioSession>();
    const QString err = loadSessionFile(path, s.get());
    if (!err.isEmpty()) return err;
    applySessionSettings(*s);
    m_pendingPrompt.clear();
    m_restoring = std::move(s);
    m_restoreStage = 0;
    statusBar()->showMessage(tr("Restoring the session %1…").arg(QFileInfo(path).fileName()));
    if (m_restoring->modelPath.isEmpty()) {
        finishRestore();
        return {};
    }
    m_restoreStage = 1; // waiting for the model
    openModel(m_restoring->modelPath);
    return {};
}

// One step of a restore per document signal: the model is open -> its edits are built ->
// the branches are traced again.
void MainWindow::continueRestore() {
    if (!m_restoring || !m_doc->hasModel()) return;
    if (m_restoreStage == 1) {
        if (m_doc->originalModel()->path != QFileInfo(m_restoring->modelPath).absoluteFilePath() &&
            m_doc->originalModel()->path != m_restoring->modelPath)
            return; // another model finished loading first
        if (!m_restoring->edits.empty()) {
            m_restoreStage = 2;
            m_edits->setEdits(m_restoring->edits, tr("edits of the session"));
            return;
        }
        m_restoreStage = 2;
    }
    if (m_restoreStage == 2) {
        if (m_edits->isBuilding() || m_doc->editCount() != static_cast<int>(m_restoring->edits.size())) return;
        m_edits->undoStack()->setClean(); // the edits are the session's, saved
        m_restoreStage = 3;
        if (m_restoring->branches.empty()) {
            finishRestore();
            return;
        }
        m_doc->restoreHistory(m_restoring->branches, m_restoring->branchIndex);
        return;
    }
    if (m_restoreStage == 3 && !m_doc->isGenerating()) finishRestore();
}

void MainWindow::finishRestore(const QString& error) {
    if (!m_restoring) return;
    m_restoring.reset();
    m_restoreStage = 0;
    if (error.isEmpty())
        statusBar()->showMessage(tr("Session restored."), 5000);
    else
        statusBar()->showMessage(tr("The session was restored in part: %1").arg(error), 8000);
    Q_EMIT sessionRestored();
}

void MainWindow::saveSessionDialog() {
    const QString dir = QSettings().value(QStringLiteral("session/dir"), QDir::homePath()).toString();
    QString path = QFileDialog::getSaveFileName(this, tr("Save the session"),
                                                QDir(dir).filePath(QStringLiteral("session.brillm-session")),
                                                tr("Studio sessions (*.brillm-session);;All files (*)"));
    if (path.isEmpty()) return;
    QSettings().setValue(QStringLiteral("session/dir"), QFileInfo(path).absolutePath());
    const QString err = saveSession(path);
    if (!err.isEmpty())
        QMessageBox::warning(this, tr("Cannot save the session"), err);
    else
        statusBar()->showMessage(tr("Wrote %1").arg(path), 5000);
}

void MainWindow::openSessionDialog() {
    const QString dir = QSettings().value(QStringLiteral("session/dir"), QDir::homePath()).toString();
    const QString path = QFileDialog::getOpenFileName(this, tr("Open a session"), dir,
                                                      tr("Studio sessions (*.brillm-session);;All files (*)"));
    if (path.isEmpty()) return;
    QSettings().setValue(QStringLiteral("session/dir"), QFileInfo(path).absolutePath());
    const QString err = openSession(path);
    if (!err.isEmpty()) QMessageBox::warning(this, tr("Cannot open the session"), err);
}

void MainWindow::showShortcuts() {
    QString html = QStringLiteral("<table cellpadding=3>");
    for (QAction* a : findChildren<QAction*>())
        if (!a->shortcut().isEmpty())
            html += QStringLiteral("<tr><td><b>%1</b></td><td>%2</td></tr>")
                        .arg(a->shortcut().toString(QKeySequence::NativeText).toHtmlEscaped(),
                             a->text().remove(QLatin1Char('&')).toHtmlEscaped());
    html += tr("<tr><td><b>Enter</b></td><td>complete the prompt</td></tr>"
               "<tr><td><b>wheel / drag</b></td><td>zoom / pan the token graph</td></tr></table>");
    QMessageBox::information(this, tr("Keyboard shortcuts"), html);
}

void MainWindow::showAbout() {
    QMessageBox::about(this, tr("About BriLLM Studio"),
                       tr("<h3>BriLLM Studio %1</h3><p>See inside a BriLLM language model: which signal reached "
                          "which node, with what energy, and why each token won.</p><p>GPL-3.0-or-later. Uses Qt, "
                          "QCustomPlot, Graphviz and LibTorch.</p>")
                           .arg(QCoreApplication::applicationVersion()));
}

} // namespace brillm::viz
