// SPDX-License-Identifier: GPL-3.0-or-later
// The views made legible (issue #15): the cortex map's zoom, pan, aggregate and labels, the
// heatmap's scales, cell labels and full-size edge cells, the signal path's layout and legend,
// the token graph's readable fit, the edge inspector's hover readout and the completion as
// text. Each is driven as a user meets it: a MainWindow at 1440x900, input events, and the
// geometry of what was drawn. With BRILLM_VIEWS_MODEL and BRILLM_SCREENSHOT_DIR set, one test
// also writes screenshots of every view with that (real) model, for a person to look at.
#include "common/label_placer.h"
#include "studio/main_window.h"
#include "studio/studio_document.h"
#include "test_models.h"
#include "tracing/trace_models.h"
#include "views/completion_panel.h"
#include "views/cortex_layout.h"
#include "views/cortex_map_view.h"
#include "views/edge_inspector.h"
#include "views/energy_heatmap_view.h"
#include "views/signal_path_view.h"
#include "views/token_graph_view.h"

#include <brillm/io/model_file.h>
#include <brillm/model/model.h>

#include <qcustomplot.h>

#include <QApplication>
#include <QComboBox>
#include <QDockWidget>
#include <QGraphicsScene>
#include <QHelpEvent>
#include <QLabel>
#include <QLineF>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QScrollBar>
#include <QSignalSpy>
#include <QTabBar>
#include <QTemporaryDir>
#include <QTest>
#include <QTextDocument>
#include <QToolTip>
#include <QWheelEvent>

#include <gtest/gtest.h>

#include <cmath>
#include <iostream>
#include <random>
#include <set>

using namespace brillm;
using namespace brillm::viz;

namespace {

// V nodes named like words (2 to 9 letters; node longNode gets a very long name), each source
// with ownPerNode own targets, the rest on the shared slot; small d so that V = 4000 stays light.
StudioModelPtr wordModel(int V, int ownPerNode, int32_t longNode = -1, unsigned seed = 5) {
    std::mt19937 rng(seed);
    std::uniform_int_distribution<int> len(2, 9), letter(0, 25);
    std::vector<std::string> vocab;
    for (int n = 0; n < V; ++n) {
        std::string w;
        const int l = len(rng);
        for (int k = 0; k < l; ++k)
            w.push_back(static_cast<char>('a' + letter(rng)));
        if (n == longNode) w = "extraordinarily_long_token_name_that_no_node_can_show_whole";
        vocab.push_back(w);
    }
    std::uniform_int_distribution<int32_t> pick(0, V - 1);
    std::vector<std::pair<int32_t, int32_t>> pairs;
    for (int32_t s = 0; s < V; ++s) {
        std::set<int32_t> t;
        while (static_cast<int>(t.size()) < ownPerNode)
            t.insert(pick(rng));
        for (int32_t x : t)
            pairs.push_back({s, x});
    }
    ModelConfig config;
    config.vocabSize = V;
    config.dim = 8;
    LoadedModel loaded;
    loaded.model = Model::randomInit(config, EdgeTable::fromPairs(V, pairs), seed);
    // As in a trained model, the shared slot carries little energy: a negative bias under the GELU.
    loaded.model.biases.select(0, 0).fill_(-3.0);
    loaded.metadata.vocabulary = vocab;
    return StudioModel::fromLoaded(std::move(loaded), QStringLiteral("/nonexistent/words-%1.brillm").arg(V));
}

bool completeAndSettle(StudioDocument& doc, const QString& prompt, int maxTokens) {
    QSignalSpy settled(&doc, &StudioDocument::viewsSettled);
    DecodeOptions o;
    o.maxNewTokens = maxTokens;
    doc.complete(prompt, o);
    return settled.wait(60000);
}

bool pairwiseDisjoint(const std::vector<QRectF>& rects, QString* why = nullptr) {
    for (size_t i = 0; i < rects.size(); ++i)
        for (size_t j = i + 1; j < rects.size(); ++j)
            if (rects[i].intersects(rects[j])) {
                if (why) *why = QStringLiteral("%1 and %2 overlap").arg(i).arg(j);
                return false;
            }
    return true;
}

QDockWidget* dockOf(MainWindow& w, const char* name) {
    return w.findChild<QDockWidget*>(QLatin1String(name));
}

// Clicks the tab of a tabified dock, as a user raises it.
bool clickTab(MainWindow& w, const QString& title) {
    for (QTabBar* bar : w.findChildren<QTabBar*>())
        for (int i = 0; i < bar->count(); ++i)
            if (bar->tabText(i) == title && bar->isVisible()) {
                QTest::mouseClick(bar, Qt::LeftButton, {}, bar->tabRect(i).center());
                QApplication::processEvents();
                return true;
            }
    return false;
}

void wheel(QWidget* w, QPointF pos, int delta) {
    QWheelEvent e(pos, w->mapToGlobal(pos), QPoint(), QPoint(0, delta), Qt::NoButton, Qt::NoModifier, Qt::NoScrollPhase,
                  false);
    QApplication::sendEvent(w, &e);
}

void drag(QWidget* w, QPointF from, QPointF to) {
    QMouseEvent press(QEvent::MouseButtonPress, from, w->mapToGlobal(from), Qt::LeftButton, Qt::LeftButton,
                      Qt::NoModifier);
    QApplication::sendEvent(w, &press);
    for (int k = 1; k <= 5; ++k) {
        const QPointF p = from + (to - from) * (k / 5.0);
        QMouseEvent move(QEvent::MouseMove, p, w->mapToGlobal(p), Qt::NoButton, Qt::LeftButton, Qt::NoModifier);
        QApplication::sendEvent(w, &move);
    }
    QMouseEvent release(QEvent::MouseButtonRelease, to, w->mapToGlobal(to), Qt::LeftButton, Qt::NoButton,
                        Qt::NoModifier);
    QApplication::sendEvent(w, &release);
}

void repaint(QWidget* w) {
    w->repaint();
    QApplication::processEvents();
}

} // namespace

// ---------------------------------------------------------------- label placement

TEST(LabelPlacer, PlacedLabelsNeverOverlapAndSpreadingAddsLabels) {
    std::mt19937 rng(3);
    std::uniform_real_distribution<double> u(0, 1);
    std::vector<QPointF> pts(400);
    for (auto& p : pts)
        p = QPointF(u(rng), u(rng));
    auto place = [&](double scale) {
        std::vector<LabelRequest> req;
        std::vector<QRectF> marks;
        for (const auto& p : pts) {
            const QPointF a(20 + p.x() * scale, 20 + p.y() * scale);
            req.push_back({a, 6, QSizeF(42, 13)});
            marks.push_back(QRectF(a.x() - 3, a.y() - 3, 6, 6));
        }
        const auto boxes = placeLabels(req, marks, QRectF(0, 0, 40 + scale, 40 + scale));
        std::vector<QRectF> placed;
        for (const auto& b : boxes)
            if (!b.isNull()) placed.push_back(b);
        QString why;
        EXPECT_TRUE(pairwiseDisjoint(placed, &why)) << why.toStdString();
        for (const auto& b : placed)
            for (const auto& m : marks)
                EXPECT_FALSE(b.intersects(m));
        return placed.size();
    };
    const size_t tight = place(400), spread = place(1600);
    EXPECT_GT(tight, 10u);
    EXPECT_LT(tight, pts.size());  // crowded: some labels had to be dropped
    EXPECT_GT(spread, tight + 50); // zooming in (spreading the anchors) shows more labels
}

// ---------------------------------------------------------------- the cortex scene

class CortexSceneTest : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        s_model = wordModel(4000, 40);
        StudioDocument doc;
        doc.setModel(s_model);
        ASSERT_TRUE(completeAndSettle(doc, QStringLiteral("#12 #345 #678"), 6));
        s_trace = doc.trace();
    }
    static void TearDownTestSuite() { s_model.reset(); }
    static inline StudioModelPtr s_model;
    static inline Trace s_trace;
};

TEST_F(CortexSceneTest, OneAggregateHoldsEverySharedSlotCandidate) {
    const Model& model = s_model->model();
    for (const auto& step : s_trace.steps) {
        const CortexScene sc = rankedCortexScene(model, step);
        int64_t shared = 0, own = 0;
        double sharedP = 0;
        for (size_t t = 0; t < step.energies.size(); ++t) {
            if (std::isnan(step.energies[t])) continue;
            if (model.edges.isShared(step.source, static_cast<int64_t>(t))) {
                ++shared;
                sharedP += step.probabilities[t];
            } else {
                ++own;
            }
        }
        ASSERT_GT(shared, 3000);
        ASSERT_GE(sc.aggregate, 0);
        const auto& ag = sc.items[static_cast<size_t>(sc.aggregate)];
        EXPECT_EQ(ag.count, shared);
        EXPECT_EQ(ag.count, step.sharedCandidates);
        EXPECT_NEAR(ag.probability, sharedP, 1e-9);
        EXPECT_EQ(sc.ownCandidates, own);
        // One item per own-slot candidate, plus the source and the aggregate: not V marks.
        EXPECT_EQ(static_cast<int64_t>(sc.items.size()), own + 2);
        int aggregates = 0;
        for (const auto& it : sc.items)
            aggregates += it.node < 0 ? 1 : 0;
        EXPECT_EQ(aggregates, 1);
        // Ranks are the candidates' ranks among all of them (as the candidate table has them).
        const auto top = topCandidates(model, step, static_cast<int>(own + shared));
        for (const auto& it : sc.items) {
            if (it.node < 0 || it.source) continue;
            const auto c = std::find_if(top.begin(), top.end(), [&](const Candidate& x) { return x.node == it.node; });
            ASSERT_NE(c, top.end());
            EXPECT_EQ(it.rank, c->rank);
        }
    }
}

TEST_F(CortexSceneTest, RankedLayoutSpreadsTheCandidatesInRankOrder) {
    const CortexScene sc = rankedCortexScene(s_model->model(), s_trace.steps[2]);
    std::vector<const CortexItem*> own;
    for (const auto& it : sc.items)
        if (it.node >= 0 && !it.source) own.push_back(&it);
    std::sort(own.begin(), own.end(), [](auto* a, auto* b) { return a->rank < b->rank; });
    ASSERT_GT(own.size(), 30u);
    // No two marks overlap, none covers the aggregate, and a better rank is never farther out.
    for (size_t i = 0; i < sc.items.size(); ++i)
        for (size_t j = i + 1; j < sc.items.size(); ++j) {
            const auto &a = sc.items[i], &b = sc.items[j];
            EXPECT_GT(std::hypot(a.pos.x() - b.pos.x(), a.pos.y() - b.pos.y()), a.radius + b.radius) << i << " " << j;
        }
    for (size_t k = 1; k < own.size(); ++k)
        EXPECT_LE(std::hypot(own[k - 1]->pos.x(), own[k - 1]->pos.y()), std::hypot(own[k]->pos.x(), own[k]->pos.y()));
}

// ---------------------------------------------------------------- views in the window

class LegibleViewsTest : public ::testing::Test {
protected:
    void SetUp() override {
        ASSERT_TRUE(m_dir.isValid());
        StudioOptions o;
        o.noDemo = true;
        o.size = QSize(1440, 900);
        o.theme = QStringLiteral("light");
        m_window = std::make_unique<MainWindow>(o);
        m_window->cortexMapView()->setCacheDir(m_dir.filePath(QStringLiteral("cache")));
        m_window->resize(1440, 900);
        m_window->show();
        ASSERT_TRUE(QTest::qWaitForWindowExposed(m_window.get()));
        doc().setModel(wordModel(4000, 40, /*longNode=*/7));
        // 4 prompt tokens and 32 generated: the 36-token path of the issue.
        ASSERT_TRUE(completeAndSettle(doc(), QStringLiteral("#7 #345 #678 #901"), 32));
        QApplication::processEvents();
    }
    StudioDocument& doc() { return *m_window->document(); }
    QTemporaryDir m_dir;
    std::unique_ptr<MainWindow> m_window;
};

TEST_F(LegibleViewsTest, CortexMapZoomsPansAndPlacesLabelsApart) {
    ASSERT_TRUE(clickTab(*m_window, QStringLiteral("Cortex map")));
    doc().selectStep(3);
    auto* canvas = m_window->cortexMapView()->canvas();
    repaint(canvas);
    ASSERT_GE(canvas->scene().aggregate, 0);
    const auto labelsFit = canvas->labelRects().size();
    QString why;
    EXPECT_TRUE(pairwiseDisjoint(canvas->labelRects(), &why)) << why.toStdString();
    EXPECT_GT(labelsFit, 5u);
    // Labels never cover a mark: the source, the candidates, the aggregate.
    const QTransform t0 = canvas->viewTransform();
    for (const auto& it : canvas->scene().items) {
        const QPointF c = t0.map(it.pos);
        const double r = CortexCanvas::markRadius(it, t0.m11());
        for (const auto& l : canvas->labelRects())
            EXPECT_FALSE(l.intersects(QRectF(c.x() - r, c.y() - r, 2 * r, 2 * r)));
    }
    // The wheel zooms about the cursor: the point under it stays put.
    const auto rank1 = std::find_if(canvas->scene().items.begin(), canvas->scene().items.end(),
                                    [](const CortexItem& i) { return i.rank == 1 || (i.node < 0 && i.rank == 1); });
    ASSERT_NE(rank1, canvas->scene().items.end());
    const QPointF anchor = t0.map(rank1->pos);
    for (int k = 0; k < 4; ++k)
        wheel(canvas, anchor, 120);
    repaint(canvas);
    const QTransform t1 = canvas->viewTransform();
    EXPECT_NEAR(canvas->zoom(), std::pow(1.25, 4), 1e-9);
    EXPECT_NEAR(t1.m11(), t0.m11() * std::pow(1.25, 4), 1e-6 * t1.m11());
    EXPECT_LT(QLineF(t1.map(rank1->pos), anchor).length(), 0.5);
    QTest::keyClick(canvas, Qt::Key_Plus);
    EXPECT_GT(canvas->zoom(), std::pow(1.25, 4));
    repaint(canvas);
    EXPECT_TRUE(pairwiseDisjoint(canvas->labelRects(), &why)) << why.toStdString();
    // Dragging pans by the distance dragged.
    const QPointF before = canvas->pan();
    drag(canvas, QPointF(300, 300), QPointF(380, 260));
    EXPECT_NEAR(canvas->pan().x() - before.x(), 80, 1e-6);
    EXPECT_NEAR(canvas->pan().y() - before.y(), -40, 1e-6);
    // Fit returns to the whole map.
    QTest::keyClick(canvas, Qt::Key_0);
    EXPECT_DOUBLE_EQ(canvas->zoom(), 1.0);
    EXPECT_EQ(canvas->pan(), QPointF());
}

TEST_F(LegibleViewsTest, ZoomingInShowsMoreCortexLabels) {
    ASSERT_TRUE(clickTab(*m_window, QStringLiteral("Cortex map")));
    doc().selectStep(5);
    auto* canvas = m_window->cortexMapView()->canvas();
    repaint(canvas);
    // Of the candidates in view, the share that carries a label grows as one zooms in.
    auto labelledShare = [&] {
        const QTransform t = canvas->viewTransform();
        int inView = 0;
        for (const auto& it : canvas->scene().items)
            inView += canvas->mapArea().contains(t.map(it.pos)) ? 1 : 0;
        return static_cast<double>(canvas->labelRects().size()) / std::max(1, inView);
    };
    const double fitted = labelledShare();
    ASSERT_LT(fitted, 0.9) << "crowded at fit: not every label has room";
    canvas->zoomBy(2.5, canvas->viewTransform().map(canvas->scene().items.front().pos));
    repaint(canvas);
    EXPECT_GT(labelledShare(), fitted + 0.1);
    QString why;
    EXPECT_TRUE(pairwiseDisjoint(canvas->labelRects(), &why)) << why.toStdString();
}

TEST_F(LegibleViewsTest, ShortcutMaximisesTheCortexMapOnceItsTabIsRaised) {
    // Focus is elsewhere (the prompt), as after typing; the user raises the map's tab.
    m_window->activateWindow();
    ASSERT_TRUE(QTest::qWaitForWindowActive(m_window.get()));
    m_window->completionPanel()->promptEdit()->setFocus();
    QApplication::processEvents();
    ASSERT_TRUE(clickTab(*m_window, QStringLiteral("Cortex map")));
    QTest::keyClick(m_window.get(), Qt::Key_M, Qt::ControlModifier | Qt::ShiftModifier);
    QApplication::processEvents();
    EXPECT_TRUE(dockOf(*m_window, "dock.cortex")->isVisible());
    EXPECT_FALSE(dockOf(*m_window, "dock.completion")->isVisible());
    EXPECT_FALSE(dockOf(*m_window, "dock.tokenGraph")->isVisible());
    QTest::keyClick(m_window.get(), Qt::Key_M, Qt::ControlModifier | Qt::ShiftModifier);
    QApplication::processEvents();
    EXPECT_TRUE(dockOf(*m_window, "dock.completion")->isVisible());
}

TEST_F(LegibleViewsTest, HeatmapNormalisesPerStepAndDrawsFullEdgeCells) {
    ASSERT_TRUE(clickTab(*m_window, QStringLiteral("Energy heatmap")));
    auto* heat = m_window->heatmapView();
    heat->setTopK(6);
    QTest::qWait(120);
    heat->plot()->replot(QCustomPlot::rpImmediateRefresh);
    // Per step (the default): every column spans 0 to 1, whatever the scale of its energies.
    EXPECT_EQ(heat->scale(), HeatmapScale::PerStep);
    for (const auto& col : heat->data().columns) {
        EXPECT_DOUBLE_EQ(heatmapValue(HeatmapScale::PerStep, col.front(), col), 1.0);
        EXPECT_DOUBLE_EQ(heatmapValue(HeatmapScale::PerStep, col.back(), col), 0.0);
    }
    // The choice is visible and changes the colour scale's label.
    heat->scaleBox()->setCurrentIndex(heat->scaleBox()->findText(QStringLiteral("log₁₀ energy")));
    QTest::qWait(120);
    EXPECT_EQ(heat->scale(), HeatmapScale::Log10Energy);
    // Edge rows and columns as big as the others: the first cell is painted out to x = -0.5.
    heat->plot()->replot(QCustomPlot::rpImmediateRefresh);
    const QImage img = heat->plot()->grab().toImage();
    QCPAxis* x = heat->plot()->xAxis;
    QCPAxis* y = heat->plot()->yAxis;
    const QColor bg = img.pixelColor(2, 2);
    auto painted = [&](double kx, double vy) {
        const QColor c = img.pixelColor(static_cast<int>(x->coordToPixel(kx)), static_cast<int>(y->coordToPixel(vy)));
        return std::abs(c.red() - bg.red()) + std::abs(c.green() - bg.green()) + std::abs(c.blue() - bg.blue()) > 30;
    };
    const double S = heat->data().steps, K = heat->data().k;
    EXPECT_TRUE(painted(-0.42, 1));
    EXPECT_TRUE(painted(S - 1 + 0.42, 1));
    EXPECT_TRUE(painted(S / 2, 0.58));
    EXPECT_TRUE(painted(S / 2, K + 0.42));
    // Token labels where they fit, each inside its cell, none overlapping.
    const double cellW = std::abs(x->coordToPixel(1) - x->coordToPixel(0));
    // Maximised (Ctrl+Shift+M, as a user gives the heatmap the window), the cells have room.
    m_window->activateWindow();
    ASSERT_TRUE(QTest::qWaitForWindowActive(m_window.get()));
    QTest::mouseClick(heat->plot(), Qt::LeftButton, {},
                      QPoint(static_cast<int>(x->coordToPixel(2)), static_cast<int>(y->coordToPixel(2))));
    QTest::keyClick(m_window.get(), Qt::Key_M, Qt::ControlModifier | Qt::ShiftModifier);
    QApplication::processEvents();
    heat->setTopK(4);
    QTest::qWait(150);
    heat->plot()->replot(QCustomPlot::rpImmediateRefresh);
    const double wideCell = std::abs(x->coordToPixel(1) - x->coordToPixel(0));
    EXPECT_GT(wideCell, cellW);
    EXPECT_FALSE(heat->cellLabelRects().empty());
    QString why;
    EXPECT_TRUE(pairwiseDisjoint(heat->cellLabelRects(), &why)) << why.toStdString();
    for (const auto& r : heat->cellLabelRects())
        EXPECT_LE(r.width(), wideCell - 2);
}

TEST_F(LegibleViewsTest, SignalPathKeepsLabelsOffNodesAndItsLegendInView) {
    auto* view = m_window->signalPathView();
    auto* canvas = view->canvas();
    const int n = static_cast<int>(doc().trace().tokens.size());
    ASSERT_EQ(n, 36);
    std::vector<QRectF> boxes;
    for (int i = 0; i < n; ++i)
        boxes.push_back(canvas->nodeRect(i));
    for (int i = 0; i + 1 < n; ++i)
        boxes.push_back(canvas->edgeLabelRect(i));
    QString why;
    EXPECT_TRUE(pairwiseDisjoint(boxes, &why)) << why.toStdString();
    // Short tokens are shown whole; the long one is elided, and its tooltip has it all.
    const QFontMetrics fm(canvas->font());
    for (int i = 1; i < n; ++i)
        if (fm.horizontalAdvance(canvas->nodeLabel(i)) < 150) {
            EXPECT_EQ(canvas->nodeText(i), canvas->nodeLabel(i)) << i;
        }
    EXPECT_TRUE(canvas->nodeLabel(0).startsWith(QStringLiteral("extraordinarily")));
    EXPECT_TRUE(canvas->nodeText(0).endsWith(QStringLiteral("…")));
    view->horizontalScrollBar()->setValue(0);
    const QPoint at = canvas->nodeRect(0).center().toPoint();
    QHelpEvent help(QEvent::ToolTip, at, canvas->mapToGlobal(at));
    QApplication::sendEvent(canvas, &help);
    EXPECT_TRUE(QToolTip::text().contains(canvas->nodeLabel(0)));
    // Streaming scrolled to the end: the legend is still in view, above the path.
    view->horizontalScrollBar()->setValue(view->horizontalScrollBar()->maximum());
    EXPECT_GT(view->horizontalScrollBar()->maximum(), 0);
    QApplication::processEvents();
    EXPECT_TRUE(view->legend()->isVisible());
    EXPECT_TRUE(view->legend()->text().contains(QStringLiteral("edge labels")));
    EXPECT_LE(view->legend()->geometry().bottom(), view->viewport()->geometry().top());
    // Selecting a step scrolls sideways only.
    doc().selectStep(20);
    QApplication::processEvents();
    EXPECT_EQ(view->verticalScrollBar()->value(), 0);
    const double x20 = canvas->nodeCenter(20).x() - view->horizontalScrollBar()->value();
    EXPECT_GT(x20, 0);
    EXPECT_LT(x20, view->viewport()->width());
}

TEST_F(LegibleViewsTest, TokenGraphFitStaysReadable) {
    auto* graph = m_window->tokenGraphView();
    if (graph->isLayingOut()) {
        QSignalSpy done(graph, &TokenGraphView::layoutFinished);
        ASSERT_TRUE(done.wait(60000));
    }
    QPushButton* fit = nullptr;
    for (auto* b : graph->findChildren<QPushButton*>())
        if (b->text().contains(QStringLiteral("Fit"))) fit = b;
    ASSERT_NE(fit, nullptr);
    graph->canvas()->zoomBy(0.2);
    QTest::mouseClick(fit, Qt::LeftButton);
    QApplication::processEvents();
    const double s = graph->canvas()->transform().m11();
    EXPECT_GE(s, GraphCanvas::kMinReadableScale - 1e-9);
    // The 36-token path is wider than the view at that scale: it scrolls sideways.
    const QRectF bounds = graph->scene()->itemsBoundingRect();
    EXPECT_GT(bounds.width() * s, graph->canvas()->viewport()->width());
    EXPECT_GT(graph->canvas()->horizontalScrollBar()->maximum(), 0);
}

TEST_F(LegibleViewsTest, EdgeInspectorShowsValuesOnHoverAndItsWholeStatistics) {
    ASSERT_TRUE(clickTab(*m_window, QStringLiteral("Edge inspector")));
    doc().selectStep(4);
    auto* insp = m_window->edgeInspector();
    QApplication::processEvents();
    insp->plot()->replot(QCustomPlot::rpImmediateRefresh);
    // The statistics table is whole, in the default dock size of a 1440x900 window.
    QLabel* stats = insp->statisticsLabel();
    EXPECT_EQ(stats->visibleRegion().boundingRect(), stats->rect());
    QTextDocument measure;
    measure.setDefaultFont(stats->font());
    measure.setHtml(stats->text());
    EXPECT_GE(stats->height() + 1, measure.size().height());
    // Hover the weight matrix: row, column and value of the cell.
    QCPAxisRect* first = insp->plot()->axisRect(0);
    const int d = static_cast<int>(insp->parameters().dim);
    const QPointF at(first->axis(QCPAxis::atBottom)->coordToPixel(3), first->axis(QCPAxis::atLeft)->coordToPixel(5));
    QTest::mouseMove(insp->plot(), at.toPoint());
    QMouseEvent move(QEvent::MouseMove, at, insp->plot()->mapToGlobal(at), Qt::NoButton, Qt::NoButton, Qt::NoModifier);
    QApplication::sendEvent(insp->plot(), &move);
    const QString text = insp->readoutLabel()->text();
    EXPECT_TRUE(text.contains(QStringLiteral("row 5, column 3"))) << text.toStdString();
    EXPECT_TRUE(text.contains(QString::number(insp->parameters().weight[static_cast<size_t>(5 * d + 3)], 'g', 6)))
        << text.toStdString();
}

TEST_F(LegibleViewsTest, CompletionReadsAsSelectableText) {
    auto* panel = m_window->completionPanel();
    const auto& tokens = doc().trace().tokens;
    QString expected;
    for (int32_t t : tokens)
        expected += doc().model()->text(t);
    EXPECT_EQ(panel->completionText(), expected);
    QPlainTextEdit* text = panel->textView();
    EXPECT_TRUE(text->isVisible());
    EXPECT_TRUE(text->isReadOnly());
    EXPECT_TRUE(text->textInteractionFlags() & Qt::TextSelectableByMouse);
    text->selectAll();
    EXPECT_EQ(text->textCursor().selectedText(), expected);
}

// ---------------------------------------------------------------- screenshots (a real model)

TEST(ViewsScreenshots, EveryViewAtTwoWindowSizes) {
    const QString model = qEnvironmentVariable("BRILLM_VIEWS_MODEL"),
                  out = qEnvironmentVariable("BRILLM_SCREENSHOT_DIR");
    if (model.isEmpty() || out.isEmpty()) GTEST_SKIP() << "set BRILLM_VIEWS_MODEL and BRILLM_SCREENSHOT_DIR";
    const QString prompt =
        qEnvironmentVariable("BRILLM_VIEWS_PROMPT", QStringLiteral("It is a truth universally acknowledged, that"));
    QTemporaryDir cache;
    for (const QSize size : {QSize(1440, 900), QSize(1600, 1000)}) {
        StudioOptions o;
        o.noDemo = true;
        o.size = size;
        o.theme = QStringLiteral("light");
        MainWindow w(o);
        w.cortexMapView()->setCacheDir(cache.path());
        w.resize(size);
        w.show();
        ASSERT_TRUE(QTest::qWaitForWindowExposed(&w));
        QSignalSpy loaded(w.document(), &StudioDocument::modelChanged);
        w.document()->openModel(model);
        ASSERT_TRUE(loaded.wait(60000));
        w.completionPanel()->setPrompt(prompt);
        ASSERT_TRUE(completeAndSettle(*w.document(), prompt, 32));
        w.document()->selectStep(12);
        QTest::qWait(300);
        const QString tag = QStringLiteral("%1x%2").arg(size.width()).arg(size.height());
        w.grab().save(QStringLiteral("%1/window-%2.png").arg(out, tag));
        for (const auto& [title, file] : {std::pair{"Cortex map", "cortex"}, std::pair{"Energy heatmap", "heatmap"},
                                          std::pair{"Edge inspector", "edge"}, std::pair{"Signal path", "path"}}) {
            clickTab(w, QString::fromLatin1(title));
            QTest::qWait(200);
            w.grab().save(QStringLiteral("%1/%2-%3.png").arg(out, QLatin1String(file), tag));
        }
        // The heatmap maximised by the shortcut: room for token labels in the cells.
        clickTab(w, QStringLiteral("Energy heatmap"));
        QTest::keyClick(&w, Qt::Key_M, Qt::ControlModifier | Qt::ShiftModifier);
        QTest::qWait(300);
        w.grab().save(QStringLiteral("%1/heatmap-max-%2.png").arg(out, tag));
        QTest::keyClick(&w, Qt::Key_M, Qt::ControlModifier | Qt::ShiftModifier);
        QTest::qWait(100);
        // The cortex map maximised by its shortcut, then zoomed with the wheel.
        clickTab(w, QStringLiteral("Cortex map"));
        QTest::keyClick(&w, Qt::Key_M, Qt::ControlModifier | Qt::ShiftModifier);
        QTest::qWait(300);
        w.grab().save(QStringLiteral("%1/cortex-max-%2.png").arg(out, tag));
        auto* canvas = w.cortexMapView()->canvas();
        for (int k = 0; k < 4; ++k)
            wheel(canvas, canvas->mapArea().center(), 120);
        QTest::qWait(200);
        w.grab().save(QStringLiteral("%1/cortex-zoom-%2.png").arg(out, tag));
        w.cortexMapView()->modeBox()->setCurrentIndex(1);
        if (!w.cortexMapView()->canvas()->hasLayout()) {
            QSignalSpy ready(w.cortexMapView(), &CortexMapView::layoutReady);
            ready.wait(120000);
        }
        QTest::qWait(200);
        w.grab().save(QStringLiteral("%1/cortex-map-%2.png").arg(out, tag));
        QTest::keyClick(&w, Qt::Key_M, Qt::ControlModifier | Qt::ShiftModifier);
        QTest::qWait(100);
        auto* graph = w.tokenGraphView();
        graph->canvas()->zoomToFit();
        QTest::qWait(200);
        w.grab().save(QStringLiteral("%1/graph-%2.png").arg(out, tag));
    }
}

// With a codec, the text is the codec's decoding of the path (as `brillm generate` prints it).
TEST(CompletionText, IsTheCodecsDecodingOfThePath) {
    QTemporaryDir dir;
    const QString path = dir.filePath(QStringLiteral("chars.brillm"));
    testmodels::makeCharModel(path.toStdString(), "the cat sat on the mat. the dog sat on the log.");
    StudioOptions o;
    o.noDemo = true;
    MainWindow w(o);
    w.cortexMapView()->setCacheDir(dir.filePath(QStringLiteral("cache")));
    w.show();
    QSignalSpy loaded(w.document(), &StudioDocument::modelChanged);
    w.document()->openModel(path);
    ASSERT_TRUE(loaded.wait(10000));
    ASSERT_TRUE(w.document()->model()->codec);
    ASSERT_TRUE(completeAndSettle(*w.document(), QStringLiteral("the c"), 12));
    const auto& tokens = w.document()->trace().tokens;
    const QString decoded = QString::fromStdString(w.document()->model()->codec->decode(tokens));
    EXPECT_EQ(w.completionPanel()->completionText(), decoded);
    EXPECT_TRUE(decoded.startsWith(QStringLiteral("the c")));
    EXPECT_GT(decoded.size(), 12);
}
