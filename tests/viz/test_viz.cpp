// SPDX-License-Identifier: GPL-3.0-or-later
// The studio's widgets and models, offscreen: item models through QAbstractItemModelTester,
// views rendered with QWidget::grab and checked for content, the worker and the job tracker.
#include "common/exportable_view.h"
#include "studio/demo_launcher.h"
#include "studio/job_tracker.h"
#include "studio/main_window.h"
#include "studio/studio_document.h"
#include "studio/studio_worker.h"
#include "test_models.h"
#include "tracing/trace_export.h"
#include "tracing/trace_models.h"
#include "views/completion_panel.h"
#include "views/cortex_layout.h"
#include "views/cortex_map_view.h"
#include "views/edge_inspector.h"
#include "views/energy_heatmap_view.h"
#include "views/graph_layout.h"
#include "views/signal_path_view.h"
#include "views/token_graph_view.h"

#include <brillm/io/model_file.h>
#include <brillm/model/decode.h>

#include <QAbstractItemModelTester>
#include <QApplication>
#include <QDir>
#include <QDockWidget>
#include <QElapsedTimer>
#include <QFile>
#include <QFileInfo>
#include <QGraphicsScene>
#include <QImage>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QSettings>
#include <QSignalSpy>
#include <QStandardPaths>
#include <QTemporaryDir>
#include <QTest>
#include <QThread>

#include <gtest/gtest.h>

#include <cmath>

using namespace brillm;
using namespace brillm::viz;

namespace {

const char* kText = "the cat sat on the mat. the dog sat on the log. a cat and a dog met.";

QString tempModel(QTemporaryDir& dir, const char* text = kText) {
    const QString path = dir.filePath(QStringLiteral("model.brillm"));
    testmodels::makeCharModel(path.toStdString(), text);
    return path;
}

// Pixels of img inside r that differ from the background colour.
int inkPixels(const QImage& img, QRect r, QColor background) {
    r = r.intersected(img.rect());
    int n = 0;
    for (int y = r.top(); y <= r.bottom(); ++y)
        for (int x = r.left(); x <= r.right(); ++x) {
            const QColor c = img.pixelColor(x, y);
            if (std::abs(c.red() - background.red()) + std::abs(c.green() - background.green()) +
                    std::abs(c.blue() - background.blue()) >
                40)
                ++n;
        }
    return n;
}

int distinctColors(const QImage& img) {
    QSet<QRgb> colors;
    for (int y = 0; y < img.height(); y += 3)
        for (int x = 0; x < img.width(); x += 3)
            colors.insert(img.pixel(x, y));
    return static_cast<int>(colors.size());
}

// Runs a completion in the document and waits for it (and for every view) to finish.
bool completeAndSettle(StudioDocument& doc, const QString& prompt, int maxTokens = 10) {
    QSignalSpy settled(&doc, &StudioDocument::viewsSettled);
    DecodeOptions o;
    o.maxNewTokens = maxTokens;
    doc.complete(prompt, o);
    return settled.wait(20000);
}

} // namespace

// ---------------------------------------------------------------- plain parts

TEST(JobTracker, DropsStaleResults) {
    JobTracker t;
    const quint64 a = t.start();
    const quint64 b = t.start();
    EXPECT_FALSE(t.accept(a));
    EXPECT_TRUE(t.accept(b));
    EXPECT_EQ(t.dropped(), 1u);
    t.invalidate();
    EXPECT_FALSE(t.accept(b));
    EXPECT_FALSE(t.isCurrent(0));
}

TEST(StudioModel, LoadsLabelsAndEncodes) {
    QTemporaryDir dir;
    const auto m = StudioModel::load(tempModel(dir));
    ASSERT_TRUE(m->codec);
    EXPECT_EQ(m->labels.size(), m->vocabSize());
    const auto ids = m->encode(QStringLiteral("the cat"));
    ASSERT_EQ(ids.size(), 7u);
    EXPECT_EQ(m->text(ids[0]), QStringLiteral("t"));
    EXPECT_EQ(m->label(ids[3]), QStringLiteral("␣"));
    EXPECT_EQ(m->findNode(QStringLiteral("␣")), ids[3]);
    EXPECT_FALSE(m->cacheKey.isEmpty());
}

TEST(StudioModel, LoadErrorNamesTheFile) {
    try {
        StudioModel::load(QStringLiteral("/nonexistent/model.brillm"));
        FAIL() << "no exception";
    } catch (const std::exception& e) {
        EXPECT_NE(std::string(e.what()).find("/nonexistent/model.brillm"), std::string::npos);
    }
}

TEST(TraceModels, StepTableModelPassesTheTester) {
    QTemporaryDir dir;
    const auto m = StudioModel::load(tempModel(dir));
    const auto prompt = m->encode(QStringLiteral("the"));
    DecodeOptions o;
    o.maxNewTokens = 8;
    const Trace trace = decode(m->model(), prompt, o);
    StepTableModel model;
    QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::Fatal);
    model.setModel(m);
    model.setTrace(trace, 3);
    EXPECT_EQ(model.rowCount(), static_cast<int>(trace.steps.size()));
    EXPECT_EQ(model.columnCount(), StepTableModel::ColumnCount);
    EXPECT_EQ(model.data(model.index(0, StepTableModel::Source)).toString(), m->label(trace.steps[0].source));
    EXPECT_FALSE(model.data(model.index(0, StepTableModel::GeneratedRole)).isValid() &&
                 model.data(model.index(0, 0), StepTableModel::GeneratedRole).toBool());
    EXPECT_TRUE(model.data(model.index(model.rowCount() - 1, 0), StepTableModel::GeneratedRole).toBool());
    model.clear();
    for (const auto& s : trace.steps)
        model.appendStep(s);
    EXPECT_EQ(model.rowCount(), static_cast<int>(trace.steps.size()));
}

TEST(TraceModels, CandidateTableModelPassesTheTester) {
    QTemporaryDir dir;
    const auto m = StudioModel::load(tempModel(dir));
    DecodeOptions o;
    o.maxNewTokens = 3;
    const Trace trace = decode(m->model(), m->encode(QStringLiteral("a ")), o);
    const auto& step = trace.steps.back();
    const auto top = topCandidates(m->model(), step, 5);
    ASSERT_EQ(top.size(), 5u);
    EXPECT_EQ(top[0].node, step.best);
    for (size_t i = 1; i < top.size(); ++i)
        EXPECT_GE(top[i - 1].energy, top[i].energy);
    CandidateTableModel model;
    QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::Fatal);
    model.setCandidates(m, top);
    EXPECT_EQ(model.rowCount(), 5);
    EXPECT_EQ(model.nodeAt(0), step.best);
    EXPECT_EQ(model.nodeAt(99), -1);
    model.clear();
    EXPECT_EQ(model.rowCount(), 0);
}

TEST(TraceExport, JsonMatchesTheTraceSchema) {
    QTemporaryDir dir;
    const auto m = StudioModel::load(tempModel(dir));
    DecodeOptions o;
    o.maxNewTokens = 4;
    const Trace trace = decode(m->model(), m->encode(QStringLiteral("the")), o);
    const QJsonObject root = QJsonDocument::fromJson(traceToJson(trace, m.get(), o)).object();
    EXPECT_EQ(root[QStringLiteral("format")].toString(), QStringLiteral("brillm-trace"));
    EXPECT_EQ(root[QStringLiteral("token_strings")].toArray().size(), static_cast<qsizetype>(trace.tokens.size()));
    const QJsonArray steps = root[QStringLiteral("steps")].toArray();
    ASSERT_EQ(steps.size(), static_cast<qsizetype>(trace.steps.size()));
    const QJsonObject s0 = steps[0].toObject();
    for (const char* key : {"source", "target", "source_token", "energies", "mix_weights", "rank", "probability",
                            "slot", "shared", "pe_index", "best", "ties", "input", "output"})
        EXPECT_TRUE(s0.contains(QLatin1String(key))) << key;
    // Self-loops are excluded: the source's own energy is null.
    const QJsonArray energies = s0[QStringLiteral("energies")].toArray();
    ASSERT_EQ(energies.size(), m->vocabSize());
    EXPECT_TRUE(energies[trace.steps[0].source].isNull());
    EXPECT_EQ(s0[QStringLiteral("target")].toInt(), trace.steps[0].target);
    EXPECT_EQ(steps[2].toObject()[QStringLiteral("mix_weights")].toArray().size(), 2);
    const QByteArray csv = traceToCsv(trace, m.get(), 3);
    EXPECT_EQ(csv.count('\n'), static_cast<qsizetype>(trace.steps.size()) + 1);
    EXPECT_TRUE(csv.startsWith("step,generated,source,target"));
}

TEST(GraphLayout, DotPlacesNodesAndEdges) {
    GraphInput in;
    for (int i = 0; i < 5; ++i)
        in.nodes.push_back({QSizeF(30, 18)});
    in.edges = {{0, 1, 10}, {1, 2, 10}, {1, 3, 1}, {3, 4, 1}};
    const GraphLayout out = layoutGraph(in);
    ASSERT_TRUE(out.error.isEmpty()) << out.error.toStdString();
    ASSERT_EQ(out.nodeCenters.size(), 5u);
    EXPECT_LT(out.nodeCenters[0].x(), out.nodeCenters[1].x()); // rankdir LR
    EXPECT_LT(out.nodeCenters[1].x(), out.nodeCenters[2].x());
    for (const auto& p : out.edgePaths)
        EXPECT_GE(p.size(), 2u);
    EXPECT_TRUE(out.bounds.contains(out.nodeCenters[4]));
}

TEST(CortexLayout, ComputedOnceThenCached) {
    QTemporaryDir dir;
    const auto m = StudioModel::load(tempModel(dir));
    const QString cache = dir.filePath(QStringLiteral("cache"));
    const CortexLayout a = cortexLayout(*m, cache);
    EXPECT_FALSE(a.fromCache);
    ASSERT_EQ(static_cast<int64_t>(a.positions.size()), m->vocabSize());
    for (const auto& p : a.positions) {
        EXPECT_GE(p.x(), -1e-6);
        EXPECT_LE(p.x(), 1 + 1e-6);
    }
    EXPECT_TRUE(QFile::exists(cortexCachePath(cache, m->cacheKey)));
    const CortexLayout b = cortexLayout(*m, cache);
    EXPECT_TRUE(b.fromCache);
    ASSERT_EQ(b.positions.size(), a.positions.size());
    EXPECT_NEAR(b.positions[3].x(), a.positions[3].x(), 1e-6);
}

TEST(DemoLauncher, ParsesProgressLinesAndReportsMissingCli) {
    DemoLauncher d;
    QSignalSpy progress(&d, &DemoLauncher::progress);
    QSignalSpy ready(&d, &DemoLauncher::modelReady);
    QSignalSpy failed(&d, &DemoLauncher::failed);
    EXPECT_TRUE(d.handleLine(R"({"progress": 0.5, "message": "training"})"));
    EXPECT_FALSE(d.handleLine("not json"));
    EXPECT_TRUE(d.handleLine(R"({"progress": 1.0, "model": "/tmp/m.brillm", "prompt": "It is"})"));
    ASSERT_EQ(progress.size(), 1);
    EXPECT_DOUBLE_EQ(progress[0][0].toDouble(), 0.5);
    ASSERT_EQ(ready.size(), 1);
    EXPECT_EQ(ready[0][0].toString(), QStringLiteral("/tmp/m.brillm"));
    EXPECT_EQ(ready[0][1].toString(), QStringLiteral("It is"));
    DemoLauncher missing;
    QSignalSpy failed2(&missing, &DemoLauncher::failed);
    missing.setProgram(QStringLiteral("/nonexistent/brillm"));
    missing.start();
    EXPECT_EQ(failed2.size(), 1);
}

// ---------------------------------------------------------------- worker and document

// The worker emits from its own thread, so a signal can arrive before the test starts waiting for
// it; QSignalSpy::wait() only counts emissions after it is called. Wait for a total instead.
static bool waitForCount(QSignalSpy& spy, qsizetype count, int ms) {
    QElapsedTimer timer;
    timer.start();
    while (spy.size() < count && timer.elapsed() < ms)
        spy.wait(20);
    return spy.size() >= count;
}

TEST(StudioWorker, StreamsStepsAndCancels) {
    QTemporaryDir dir;
    const auto m = StudioModel::load(tempModel(dir));
    QThread thread;
    StudioWorker worker;
    worker.moveToThread(&thread);
    thread.start();
    QSignalSpy steps(&worker, &StudioWorker::stepAvailable);
    QSignalSpy done(&worker, &StudioWorker::completionAvailable);
    CompletionRequest req{m->encode(QStringLiteral("the")), DecodeOptions{}, 3};
    req.options.maxNewTokens = 20;
    QMetaObject::invokeMethod(
        &worker, [&] { worker.complete(1, m, req); }, Qt::QueuedConnection);
    ASSERT_TRUE(waitForCount(done, 1, 10000));
    EXPECT_EQ(steps.size(), 2 + 20);
    EXPECT_EQ(done[0][1].value<TracePtr>()->stopReason, "max_tokens");
    // Cancelled before it starts: stops after the first step.
    worker.cancel(2);
    QMetaObject::invokeMethod(
        &worker, [&] { worker.complete(2, m, req); }, Qt::QueuedConnection);
    ASSERT_TRUE(waitForCount(done, 2, 10000));
    EXPECT_EQ(done[1][1].value<TracePtr>()->stopReason, "cancelled");
    thread.quit();
    thread.wait();
}

TEST(StudioDocument, DropsTheResultsOfAReplacedCompletion) {
    QTemporaryDir dir;
    StudioDocument doc;
    doc.setModel(StudioModel::load(tempModel(dir)));
    DecodeOptions o;
    o.maxNewTokens = 200;
    doc.complete(QStringLiteral("a cat"), o);
    QSignalSpy finished(&doc, &StudioDocument::viewsSettled);
    o.maxNewTokens = 5;
    doc.complete(QStringLiteral("the dog"), o); // replaces the first: its steps must not show
    ASSERT_TRUE(finished.wait(20000));
    const auto& t = doc.trace();
    EXPECT_EQ(t.tokens.size(), 7u + 5u);
    EXPECT_EQ(doc.model()->text(t.tokens[0]), QStringLiteral("t"));
    EXPECT_EQ(t.stopReason, "max_tokens");
    EXPECT_EQ(doc.historySize(), 1);
}

TEST(StudioDocument, ReportsLoadErrorsAndBadPrompts) {
    StudioDocument doc;
    QSignalSpy failed(&doc, &StudioDocument::modelFailed);
    doc.openModel(QStringLiteral("/nonexistent/model.brillm"));
    ASSERT_TRUE(failed.wait(5000));
    EXPECT_TRUE(failed[0][1].toString().contains(QStringLiteral("nonexistent")));
    QSignalSpy bad(&doc, &StudioDocument::completionFailed);
    doc.complete(QStringLiteral("x"), {});
    EXPECT_EQ(bad.size(), 1); // no model
    QTemporaryDir dir;
    doc.setModel(StudioModel::load(tempModel(dir)));
    doc.complete(QString(), {});
    EXPECT_EQ(bad.size(), 2); // empty prompt
    EXPECT_FALSE(doc.isGenerating());
}

TEST(StudioDocument, BranchesAndGoesBack) {
    QTemporaryDir dir;
    StudioDocument doc;
    doc.setModel(StudioModel::load(tempModel(dir)));
    ASSERT_TRUE(completeAndSettle(doc, QStringLiteral("the"), 6));
    const Trace first = doc.trace();
    const int step = 3;
    const auto& s = first.steps[step];
    const auto cands = topCandidates(doc.model()->model(), s, 3);
    const int32_t other = cands[0].node == s.target ? cands[1].node : cands[0].node;
    QSignalSpy settled(&doc, &StudioDocument::viewsSettled);
    doc.branchAt(step, other);
    ASSERT_TRUE(settled.wait(20000));
    EXPECT_EQ(doc.trace().tokens[step + 1], other);
    EXPECT_EQ(doc.forcedAt(), step + 1);
    EXPECT_EQ(doc.historySize(), 2);
    EXPECT_TRUE(doc.canGoBack());
    doc.back();
    EXPECT_EQ(doc.trace().tokens, first.tokens);
    EXPECT_TRUE(doc.canGoForward());
    doc.forward();
    EXPECT_EQ(doc.trace().tokens[step + 1], other);
}

// ---------------------------------------------------------------- widgets, offscreen

class StudioWindowTest : public ::testing::Test {
protected:
    void SetUp() override {
        ASSERT_TRUE(m_dir.isValid());
        StudioOptions o;
        o.noDemo = true;
        o.size = QSize(1500, 950);
        o.theme = QStringLiteral("light");
        m_window = std::make_unique<MainWindow>(o);
        m_window->cortexMapView()->setCacheDir(m_dir.filePath(QStringLiteral("cache")));
        m_window->show();
        auto* doc = m_window->document();
        QSignalSpy loaded(doc, &StudioDocument::modelChanged);
        doc->openModel(tempModel(m_dir));
        ASSERT_TRUE(loaded.wait(10000));
        ASSERT_TRUE(completeAndSettle(*doc, QStringLiteral("the cat"), 10));
        QApplication::processEvents();
    }
    StudioDocument& doc() { return *m_window->document(); }
    QTemporaryDir m_dir;
    std::unique_ptr<MainWindow> m_window;
};

TEST_F(StudioWindowTest, CompletionShowsClickableTokens) {
    auto* flow = m_window->completionPanel()->tokenFlow();
    EXPECT_EQ(doc().trace().tokens.size(), 17u);
    const QImage img = flow->grab().toImage();
    const QRect r0 = flow->tokenRect(0);
    ASSERT_FALSE(r0.isEmpty());
    EXPECT_GT(inkPixels(img, r0, img.pixelColor(img.width() - 2, img.height() - 2)), 10);
    const QRect last = flow->tokenRect(16);
    ASSERT_FALSE(last.isEmpty());
    QTest::mouseClick(flow, Qt::LeftButton, {}, last.center());
    EXPECT_EQ(doc().selectedStep(), 15);
    EXPECT_GT(m_window->completionPanel()->candidateModel()->rowCount(), 0);
}

TEST_F(StudioWindowTest, SignalPathDrawsNodesAndArcs) {
    doc().selectStep(8);
    auto* canvas = m_window->signalPathView()->canvas();
    const QImage img = canvas->grab().toImage();
    const QColor bg = img.pixelColor(2, img.height() - 2);
    const QPointF c = canvas->nodeCenter(1);
    EXPECT_GT(inkPixels(img, QRect(c.toPoint() - QPoint(12, 8), QSize(24, 16)), bg), 20);
    // Mixing arcs below the path.
    EXPECT_GT(inkPixels(img, QRect(0, 140, img.width(), 100), bg), 200);
}

TEST_F(StudioWindowTest, TokenGraphHasLabelsHoverAndSearch) {
    auto* graph = m_window->tokenGraphView();
    ASSERT_GT(graph->nodeCount(), 17);
    EXPECT_FALSE(graph->isLayingOut());
    bool sawLabel = false;
    for (int i = 0; i < graph->nodeCount(); ++i)
        if (graph->nodeToolTip(i).contains(QStringLiteral("<b>c</b>"))) sawLabel = true;
    EXPECT_TRUE(sawLabel);
    graph->highlightNode(1, true);
    EXPECT_GE(graph->highlightedEdgeCount(), 2); // in-edge and out-edges of node 1
    graph->highlightNode(1, false);
    EXPECT_EQ(graph->highlightedEdgeCount(), 0);
    EXPECT_TRUE(graph->search(QStringLiteral("c")));
    EXPECT_FALSE(graph->search(QStringLiteral("no such token")));
    const QImage img = graph->canvas()->viewport()->grab().toImage();
    EXPECT_GT(distinctColors(img), 8);
}

TEST_F(StudioWindowTest, HeatmapCoversEveryStep) {
    auto* heat = m_window->heatmapView();
    m_window->dock(QStringLiteral("heatmap"))->raise();
    QApplication::processEvents();
    EXPECT_EQ(heat->data().steps, static_cast<int>(doc().trace().steps.size()));
    EXPECT_EQ(heat->data().columns[0].front().rank, 1);
    const QImage img = heat->grab().toImage();
    EXPECT_GT(distinctColors(img), 12);
}

TEST_F(StudioWindowTest, CortexMapColoursNodes) {
    auto* cortex = m_window->cortexMapView();
    if (!cortex->canvas()->hasLayout()) {
        QSignalSpy ready(cortex, &CortexMapView::layoutReady);
        ASSERT_TRUE(ready.wait(20000));
    }
    m_window->dock(QStringLiteral("cortex"))->raise();
    doc().selectStep(5);
    QApplication::processEvents();
    const QImage img = cortex->canvas()->grab().toImage();
    EXPECT_GT(distinctColors(img), 10);
    EXPECT_EQ(cortex->canvas()->nodeAt(QPointF(-100, -100)), -1);
    cortex->setPlaying(true);
    EXPECT_TRUE(cortex->isPlaying());
    cortex->setPlaying(false);
}

TEST_F(StudioWindowTest, EdgeInspectorFollowsTheSelection) {
    doc().selectStep(4);
    auto* insp = m_window->edgeInspector();
    const auto& s = doc().trace().steps[4];
    EXPECT_EQ(insp->parameters().source, s.source);
    EXPECT_EQ(insp->parameters().target, s.target);
    EXPECT_EQ(insp->parameters().slot, doc().model()->model().edges.slot(s.source, s.target));
    EXPECT_EQ(insp->parameters().weight.size(), 32u * 32u);
    EXPECT_TRUE(insp->statisticsText().contains(QStringLiteral("mean")));
    const auto st = matrixStats({1, 2, 3, 4});
    EXPECT_DOUBLE_EQ(st.mean, 2.5);
    EXPECT_NEAR(st.frobenius, std::sqrt(30.0), 1e-12);
}

TEST_F(StudioWindowTest, ExportsEveryViewAndTheTrace) {
    const QString out = m_dir.filePath(QStringLiteral("export"));
    ASSERT_TRUE(m_window->exportAll(out).isEmpty());
    for (const char* name :
         {"completion", "signal-path", "token-graph", "energy-heatmap", "cortex-map", "edge-inspector"}) {
        QImage png(QDir(out).filePath(QLatin1String(name) + QStringLiteral(".png")));
        EXPECT_FALSE(png.isNull()) << name;
        EXPECT_GT(distinctColors(png), 4) << name;
        QFile svg(QDir(out).filePath(QLatin1String(name) + QStringLiteral(".svg")));
        ASSERT_TRUE(svg.open(QIODevice::ReadOnly)) << name;
        EXPECT_TRUE(svg.readAll().contains("<svg")) << name;
    }
    EXPECT_TRUE(QFile::exists(QDir(out).filePath(QStringLiteral("trace.json"))));
    EXPECT_TRUE(QFile::exists(QDir(out).filePath(QStringLiteral("trace.csv"))));
}

TEST_F(StudioWindowTest, BranchFromTheCandidateTable) {
    doc().selectStep(9);
    auto* panel = m_window->completionPanel();
    const int32_t taken = doc().trace().steps[9].target;
    int row = 0;
    while (panel->candidateModel()->nodeAt(row) == taken)
        ++row;
    const int32_t pick = panel->candidateModel()->nodeAt(row);
    QSignalSpy settled(&doc(), &StudioDocument::viewsSettled);
    panel->branchWithRow(row);
    ASSERT_TRUE(settled.wait(20000));
    EXPECT_EQ(doc().trace().tokens[10], pick);
    EXPECT_EQ(doc().historyIndex(), 1);
}

// "skip special tokens" (default on) bans the codec's special nodes, and the completion never
// takes one; off bans nothing.
TEST_F(StudioWindowTest, SkipSpecialTokensBansTheCodecsSpecialNodes) {
    // a model whose vocabulary has special tokens, with their edges made the strongest
    const QString path = m_dir.filePath(QStringLiteral("special.brillm"));
    {
        const int64_t V = 6;
        Model m = Model::randomInit({V, 4, 32}, EdgeTable::dense(V), 5);
        for (int32_t s = 0; s < V; ++s)
            for (int32_t t : {2, 4})
                m.biases[m.edges.slot(s, t)].fill_(3.0);
        ModelMetadata meta;
        meta.vocabulary = {"a", "b", "<unk>", "c", "[PAD]", "d"};
        ModelFile::save(path.toStdString(), m, meta);
    }
    QSignalSpy loaded(&doc(), &StudioDocument::modelChanged);
    doc().openModel(path);
    ASSERT_TRUE(loaded.wait(10000));
    auto* panel = m_window->completionPanel();
    panel->setSkipSpecial(true);
    EXPECT_EQ(panel->options().bannedTokens, (std::vector<int32_t>{2, 4}));
    QSignalSpy settled(&doc(), &StudioDocument::viewsSettled);
    auto o = panel->options();
    o.maxNewTokens = 8;
    doc().complete(QStringLiteral("ab"), o);
    ASSERT_TRUE(settled.wait(20000));
    const auto& tokens = doc().trace().tokens;
    ASSERT_GT(tokens.size(), 2u);
    for (size_t k = 2; k < tokens.size(); ++k)
        EXPECT_TRUE(tokens[k] != 2 && tokens[k] != 4) << tokens[k];
    panel->setSkipSpecial(false);
    EXPECT_TRUE(panel->options().bannedTokens.empty());
    // without the ban the strengthened special edges win
    QSignalSpy settled2(&doc(), &StudioDocument::viewsSettled);
    doc().complete(QStringLiteral("ab"), panel->options());
    ASSERT_TRUE(settled2.wait(20000));
    EXPECT_TRUE(doc().trace().tokens[2] == 2 || doc().trace().tokens[2] == 4);
    panel->setSkipSpecial(true);
}

// Every dock in its default place still fits a 1366 x 768 laptop screen.
TEST_F(StudioWindowTest, FitsALaptopScreen) {
    const QSize min = m_window->minimumSizeHint().expandedTo(m_window->minimumSize());
    std::string docks;
    for (auto* d : m_window->findChildren<QDockWidget*>())
        docks += d->objectName().toStdString() + " " + std::to_string(d->minimumSizeHint().width()) + "x" +
                 std::to_string(d->minimumSizeHint().height()) + "; ";
    for (auto* d : m_window->findChildren<QDockWidget*>())
        if (d->minimumSizeHint().width() > 600)
            for (auto* w : d->findChildren<QWidget*>())
                if (w->minimumSizeHint().width() > 250 && w->isVisibleTo(d))
                    docks += "\n  " + d->objectName().toStdString() + "/" + w->metaObject()->className() + ":" +
                             w->objectName().toStdString() + " " + std::to_string(w->minimumSizeHint().width());
    EXPECT_LE(min.width(), 1366) << docks;
    EXPECT_LE(min.height(), 768) << docks;
}

TEST_F(StudioWindowTest, ThemeAndRecentFilesPersist) {
    m_window->setTheme(Theme::Dark);
    EXPECT_TRUE(isDarkPalette());
    EXPECT_EQ(QSettings().value(QStringLiteral("theme")).toString(), QStringLiteral("dark"));
    const QImage dark = m_window->signalPathView()->canvas()->grab().toImage();
    EXPECT_LT(dark.pixelColor(2, dark.height() - 2).lightnessF(), 0.3);
    m_window->setTheme(Theme::Light);
    EXPECT_FALSE(isDarkPalette());
    const QStringList recent = QSettings().value(QStringLiteral("recentFiles")).toStringList();
    ASSERT_FALSE(recent.isEmpty());
    EXPECT_EQ(recent.first(), QFileInfo(doc().model()->path).absoluteFilePath());
}
