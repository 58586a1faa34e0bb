// SPDX-License-Identifier: GPL-3.0-or-later
// Error tracing, edits and comparison in the studio, offscreen: the forced-path table against
// the core's forcePath()/tracePath(), the blame table against blame(), edits with undo/redo
// against applyEdits(), patches and patched model files, the compare view's divergence, stale
// results dropped. Small random character models made on the spot.
#include "studio/analysis_worker.h"
#include "studio/main_window.h"
#include "studio/model_edits.h"
#include "studio/studio_document.h"
#include "test_models.h"
#include "tracing/error_trace_models.h"
#include "tracing/error_trace_panel.h"
#include "tracing/trace_models.h"
#include "views/compare_view.h"
#include "views/signal_path_view.h"
#include "views/token_graph_view.h"

#include <brillm/io/model_file.h>
#include <brillm/model/blame.h>
#include <brillm/model/decode.h>
#include <brillm/model/model_edit.h>

#include <QAbstractItemModelTester>
#include <QApplication>
#include <QMenu>
#include <QSignalSpy>
#include <QTableView>
#include <QTemporaryDir>
#include <QTest>
#include <QUndoStack>

#include <gtest/gtest.h>

#include <set>

using namespace brillm;
using namespace brillm::viz;

namespace {

const char* kText = "the cat sat on the mat. the dog sat on the log. a cat and a dog met.";

StudioModelPtr loadTempModel(QTemporaryDir& dir, unsigned seed = 1) {
    const QString path = dir.filePath(QStringLiteral("model-%1.brillm").arg(seed));
    testmodels::makeCharModel(path.toStdString(), kText, seed);
    return StudioModel::load(path);
}

bool completeAndSettle(StudioDocument& doc, const QString& prompt, int maxTokens) {
    QSignalSpy settled(&doc, &StudioDocument::viewsSettled);
    DecodeOptions o;
    o.maxNewTokens = maxTokens;
    doc.complete(prompt, o);
    return settled.wait(20000);
}

std::vector<int32_t> greedy(const Model& m, const std::vector<int32_t>& prompt, int n) {
    DecodeOptions o;
    o.maxNewTokens = n;
    return decode(m, prompt, o).tokens;
}

// A continuation whose first token is NOT the greedy choice (the runner-up), so the first wrong
// step is known: the last prompt step.
std::vector<int32_t> wrongContinuation(const StudioModel& m, const std::vector<int32_t>& prompt) {
    DecodeOptions o;
    o.maxNewTokens = 1;
    const Trace t = decode(m.model(), prompt, o);
    const auto top = topCandidates(m.model(), t.steps.back(), 2);
    std::vector<int32_t> expected{top[1].node};
    const auto more = m.encode(QStringLiteral("at on"));
    expected.insert(expected.end(), more.begin(), more.end());
    return expected;
}

QString textOf(const StudioModel& m, const std::vector<int32_t>& nodes) {
    QString s;
    for (int32_t n : nodes)
        s += m.text(n);
    return s;
}

} // namespace

// ---------------------------------------------------------------- item models

TEST(ErrorTraceModels, ForcedStepTableShowsTheCoresNumbers) {
    QTemporaryDir dir;
    const auto m = loadTempModel(dir);
    const auto prompt = m->encode(QStringLiteral("the c"));
    const auto expected = wrongContinuation(*m, prompt);
    const ForcedPath fp = forcePath(m->model(), prompt, expected);
    std::vector<int32_t> path = prompt;
    path.insert(path.end(), expected.begin(), expected.end());
    const Trace tr = tracePath(m->model(), path);
    ASSERT_EQ(fp.firstWrong, static_cast<int64_t>(prompt.size()) - 1);

    ForcedStepTableModel model;
    QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::Fatal);
    model.setPath(m, fp);
    ASSERT_EQ(model.rowCount(), static_cast<int>(path.size()) - 1);
    for (int r = 0; r < model.rowCount(); ++r) {
        const auto& s = fp.steps[static_cast<size_t>(r)];
        const auto& ts = tr.steps[static_cast<size_t>(r)];
        auto value = [&](int col) { return model.data(model.index(r, col), ForcedStepTableModel::ValueRole); };
        EXPECT_EQ(value(ForcedStepTableModel::Rank).toLongLong(), ts.rank) << r;
        EXPECT_NEAR(value(ForcedStepTableModel::Probability).toDouble(), ts.probability, 1e-9) << r;
        EXPECT_NEAR(value(ForcedStepTableModel::ExpectedEnergy).toDouble(), ts.energy, 1e-5) << r;
        EXPECT_EQ(value(ForcedStepTableModel::Winner).toInt(), ts.best) << r;
        EXPECT_NEAR(value(ForcedStepTableModel::Margin).toDouble(), s.margin, 0) << r;
        EXPECT_NEAR(s.margin, ts.bestEnergy - ts.energy, 1e-5) << r;
        EXPECT_EQ(model.data(model.index(r, 0), ForcedStepTableModel::FirstWrongRole).toBool(), r == fp.firstWrong)
            << r;
        EXPECT_EQ(model.data(model.index(r, 0), ForcedStepTableModel::WrongRole).toBool(), ts.best != ts.target) << r;
        EXPECT_EQ(model.data(model.index(r, ForcedStepTableModel::Edge)).toString(),
                  QStringLiteral("%1 → %2").arg(m->label(ts.source), m->label(ts.target)));
    }
    EXPECT_TRUE(model.data(model.index(static_cast<int>(fp.firstWrong), 0), Qt::BackgroundRole).isValid());
    model.clear();
    EXPECT_EQ(model.rowCount(), 0);
}

TEST(ErrorTraceModels, ContributorTableKeepsTheReportsOrder) {
    QTemporaryDir dir;
    const auto m = loadTempModel(dir);
    BlameQuery q;
    q.path = m->encode(QStringLiteral("the cat s"));
    const auto top = topCandidates(m->model(), tracePath(m->model(), q.path).steps.back(), 1);
    DecodeOptions o;
    o.maxNewTokens = 1;
    const Trace t = decode(m->model(), q.path, o);
    const auto cands = topCandidates(m->model(), t.steps.back(), 3);
    q.a = cands[0].node;
    q.b = cands[2].node;
    const BlameReport report = blame(m->model(), q);
    ContributorTableModel model;
    QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::Fatal);
    model.setReport(m, report);
    ASSERT_EQ(model.rowCount(), static_cast<int>(report.contributors.size()));
    for (int r = 0; r < model.rowCount(); ++r) {
        const auto& c = report.contributors[static_cast<size_t>(r)];
        EXPECT_EQ(model.data(model.index(r, 0), ContributorTableModel::KindRole).toInt(), static_cast<int>(c.kind));
        EXPECT_DOUBLE_EQ(
            model.data(model.index(r, ContributorTableModel::Effect), ContributorTableModel::ValueRole).toDouble(),
            c.effect);
        EXPECT_DOUBLE_EQ(
            model.data(model.index(r, ContributorTableModel::Gradient), ContributorTableModel::ValueRole).toDouble(),
            c.gradientEstimate);
        if (r > 0) {
            const double prev =
                std::abs(model.data(model.index(r - 1, ContributorTableModel::Effect), ContributorTableModel::ValueRole)
                             .toDouble());
            EXPECT_GE(prev, std::abs(c.effect));
        }
        const double rel =
            model.data(model.index(r, ContributorTableModel::Effect), ContributorTableModel::RelativeRole).toDouble();
        EXPECT_LE(std::abs(rel), 1.0 + 1e-12);
    }
}

// ---------------------------------------------------------------- error tracing panel

TEST(ErrorTracePanel, ForcesThePathSelectsTheFirstWrongStepAndBlamesIt) {
    QTemporaryDir dir;
    StudioDocument doc;
    const auto m = loadTempModel(dir);
    doc.setModel(m);
    ErrorTracePanel panel(&doc);
    const QString prompt = QStringLiteral("the c");
    const auto promptIds = m->encode(prompt);
    const auto expected = wrongContinuation(*m, promptIds);
    panel.setPrompt(prompt);
    panel.setExpected(textOf(*m, expected));
    EXPECT_TRUE(panel.tokensText().contains(m->label(expected[0]).toHtmlEscaped()));
    QSignalSpy highlights(&panel, &ErrorTracePanel::highlightsChanged);
    QSignalSpy blamed(&panel, &ErrorTracePanel::blameReady);
    panel.run();
    ASSERT_TRUE(blamed.wait(20000));

    const ForcedPath fp = forcePath(m->model(), promptIds, expected);
    const int first = static_cast<int>(fp.firstWrong);
    ASSERT_EQ(first, static_cast<int>(promptIds.size()) - 1);
    ASSERT_EQ(panel.stepModel()->rowCount(), static_cast<int>(fp.steps.size()));
    EXPECT_EQ(panel.selectedStep(), first);
    EXPECT_EQ(panel.stepTable()->currentIndex().row(), first);
    EXPECT_TRUE(panel.summaryText().contains(QStringLiteral("First wrong step: %1").arg(first)));

    // The blame is "why the winner, not the expected token" at that step, exactly the core's.
    const auto& s = fp.steps[static_cast<size_t>(first)];
    BlameQuery q;
    q.path.assign(promptIds.begin(), promptIds.begin() + first + 1);
    q.a = s.winner;
    q.b = s.expected;
    const BlameReport report = blame(m->model(), q);
    ASSERT_TRUE(panel.blameResult());
    EXPECT_EQ(panel.blameResult()->report.query.a, s.winner);
    EXPECT_EQ(panel.blameResult()->report.query.b, s.expected);
    EXPECT_DOUBLE_EQ(panel.blameResult()->report.margin, report.margin);
    auto* cm = panel.contributorModel();
    ASSERT_EQ(cm->rowCount(), static_cast<int>(report.contributors.size()));
    for (int r = 0; r < cm->rowCount(); ++r) {
        const auto& c = report.contributors[static_cast<size_t>(r)];
        EXPECT_EQ(cm->contributorAt(r)->kind, c.kind) << r;
        EXPECT_EQ(cm->contributorAt(r)->edgeIndex, c.edgeIndex) << r;
        EXPECT_EQ(cm->contributorAt(r)->source, c.source) << r;
        EXPECT_EQ(cm->contributorAt(r)->target, c.target) << r;
        EXPECT_DOUBLE_EQ(cm->contributorAt(r)->effect, c.effect) << r;
    }
    // The highlights are the top contributors of that report.
    ASSERT_GE(highlights.size(), 1);
    const auto edges = highlights.last()[0].value<EdgeHighlights>();
    const auto positions = highlights.last()[1].value<PositionHighlights>();
    EdgeHighlights expectEdges;
    PositionHighlights expectPositions;
    int n = 0;
    for (const auto& c : report.contributors) {
        if (n >= panel.topCount()) break;
        if (!c.applicable || c.effect == 0) continue;
        ++n;
        if (c.kind == ContributorKind::PathEdge || c.kind == ContributorKind::CandidateEdge)
            expectEdges.push_back({c.source, c.target, 0});
        else if (c.kind == ContributorKind::Position)
            expectPositions.push_back({c.edgeIndex, 0});
    }
    ASSERT_EQ(edges.size(), expectEdges.size());
    for (qsizetype i = 0; i < edges.size(); ++i) {
        EXPECT_EQ(edges[i].source, expectEdges[i].source);
        EXPECT_EQ(edges[i].target, expectEdges[i].target);
    }
    ASSERT_EQ(positions.size(), expectPositions.size());

    // B picked by hand: the rank-3 candidate.
    QSignalSpy again(&panel, &ErrorTracePanel::blameReady);
    const Trace tr = tracePath(m->model(), q.path);
    DecodeOptions o;
    o.maxNewTokens = 1;
    const auto cands = topCandidates(m->model(), decode(m->model(), q.path, o).steps.back(), 3);
    panel.blamePair(s.winner, cands[2].node);
    ASSERT_TRUE(again.wait(20000));
    q.b = cands[2].node;
    EXPECT_DOUBLE_EQ(panel.blameResult()->report.margin, blame(m->model(), q).margin);

    // The document shows the forced path, at the selected step.
    std::vector<int32_t> path = promptIds;
    path.insert(path.end(), expected.begin(), expected.end());
    EXPECT_EQ(doc.trace().tokens, path);
    EXPECT_EQ(doc.selectedStep(), first);
}

TEST(ErrorTracePanel, DropsStaleResults) {
    QTemporaryDir dir;
    StudioDocument doc;
    const auto m = loadTempModel(dir);
    doc.setModel(m);
    ErrorTracePanel panel(&doc);
    panel.setShowInViews(false);
    panel.setPrompt(QStringLiteral("the"));
    panel.setExpected(QStringLiteral(" cat"));
    panel.run();
    panel.setExpected(QStringLiteral(" dog sat"));
    QSignalSpy blamed(&panel, &ErrorTracePanel::blameReady);
    panel.run(); // replaces the first: its result must not show
    ASSERT_TRUE(blamed.wait(20000));
    QTest::qWait(100);
    EXPECT_GE(panel.forcedJobs().dropped(), 1u);
    ASSERT_TRUE(panel.forcedPath());
    EXPECT_EQ(panel.forcedPath()->request.expected, m->encode(QStringLiteral(" dog sat")));
    EXPECT_EQ(panel.stepModel()->rowCount(), 2 + 8);
    // Two steps picked in a row: only the second one's blame shows.
    const auto dropped = panel.blameJobs().dropped();
    QSignalSpy again(&panel, &ErrorTracePanel::blameReady);
    panel.selectStep(1);
    panel.selectStep(5);
    ASSERT_TRUE(again.wait(20000));
    QTest::qWait(100);
    EXPECT_EQ(again.size(), 1);
    EXPECT_GE(panel.blameJobs().dropped(), dropped + 1);
    EXPECT_EQ(panel.blameResult()->report.step, 5);
    EXPECT_EQ(panel.contributorModel()->report().step, 5);
}

TEST(ErrorTracePanel, BadInputIsReportedNotThrown) {
    StudioDocument doc;
    ErrorTracePanel panel(&doc);
    QSignalSpy failed(&panel, &ErrorTracePanel::failed);
    panel.run();
    EXPECT_EQ(failed.size(), 1); // no model
    QTemporaryDir dir;
    doc.setModel(loadTempModel(dir));
    panel.setPrompt(QString());
    panel.run();
    EXPECT_EQ(failed.size(), 2); // empty prompt
    panel.setPrompt(QStringLiteral("the"));
    panel.setExpected(QStringLiteral("xyz€")); // characters the model does not know
    panel.run();
    EXPECT_EQ(failed.size(), 3);
    EXPECT_TRUE(failed.last()[0].toString().contains(QStringLiteral("cannot take")));
    EXPECT_FALSE(panel.isBusy());
}

// ---------------------------------------------------------------- edits

TEST(ModelEdits, EditUndoRedoRestoreTheCompletionsExactly) {
    QTemporaryDir dir;
    StudioDocument doc;
    const auto m = loadTempModel(dir);
    doc.setModel(m);
    ModelEdits edits(&doc);
    const QString prompt = QStringLiteral("the c");
    ASSERT_TRUE(completeAndSettle(doc, prompt, 12));
    const auto original = doc.trace().tokens;
    const auto promptIds = m->encode(prompt);
    ASSERT_EQ(original, greedy(m->model(), promptIds, 12));

    // Knock out the edge the model took at its first generated step: the completion must change.
    const int step = static_cast<int>(promptIds.size()) - 1;
    const int32_t s = original[static_cast<size_t>(step)], t = original[static_cast<size_t>(step + 1)];
    doc.selectStep(step + 3);
    QSignalSpy rerun(&edits, &ModelEdits::rerunFinished);
    edits.knockoutEdge(s, t);
    ASSERT_TRUE(rerun.wait(20000));
    EXPECT_EQ(doc.editCount(), 1);
    EXPECT_NE(doc.model(), doc.originalModel());
    const auto expectedEdited = greedy(applyEdits(m->model(), edits.edits()), promptIds, 12);
    const auto edited = doc.trace().tokens;
    EXPECT_EQ(edited, expectedEdited);
    EXPECT_NE(edited, original);
    EXPECT_EQ(doc.selectedStep(), step + 3); // the re-run keeps the step in view
    EXPECT_EQ(doc.trace().steps[static_cast<size_t>(step)].energy == 0,
              doc.trace().tokens[static_cast<size_t>(step + 1)] == t);

    edits.undoStack()->undo();
    ASSERT_TRUE(rerun.wait(20000));
    EXPECT_EQ(doc.editCount(), 0);
    EXPECT_EQ(doc.model(), doc.originalModel());
    EXPECT_EQ(doc.trace().tokens, original);

    edits.undoStack()->redo();
    ASSERT_TRUE(rerun.wait(20000));
    EXPECT_EQ(doc.editCount(), 1);
    EXPECT_EQ(doc.trace().tokens, edited);
    EXPECT_GT(edits.lastEditToCompletionMs(), 0);
}

TEST(ModelEdits, MenuOffersEveryEditAndStaleBuildsAreDropped) {
    QTemporaryDir dir;
    StudioDocument doc;
    const auto m = loadTempModel(dir);
    doc.setModel(m);
    ModelEdits edits(&doc);
    const auto ids = m->encode(QStringLiteral("th"));
    QMenu menu;
    edits.fillMenu(&menu, ids[0], ids[1], nullptr);
    QStringList texts;
    for (QAction* a : menu.actions())
        if (!a->isSeparator()) texts << a->text();
    for (const char* want : {"Knock out edge", "Scale edge…", "Swap with shared matrix", "Zero edge"})
        EXPECT_TRUE(texts.contains(QString::fromUtf8(want))) << want;
    EXPECT_TRUE(texts.contains(QStringLiteral("Knock out node %1").arg(m->label(ids[0]))));
    QSignalSpy ready(&edits, &ModelEdits::editedModelReady);
    for (QAction* a : menu.actions())
        if (a->text() == QStringLiteral("Zero edge")) a->trigger();
    edits.knockoutNode(ids[1]); // before the first build is back: the first one is stale
    ASSERT_TRUE(ready.wait(20000));
    QTest::qWait(100);
    EXPECT_EQ(ready.size(), 1);
    EXPECT_GE(edits.builds().dropped(), 1u);
    EXPECT_EQ(doc.editCount(), 2);
    ASSERT_EQ(edits.count(), 2);
    EXPECT_EQ(edits.edits()[0].kind, EditKind::ZeroEdge);
    EXPECT_EQ(edits.edits()[1].kind, EditKind::KnockoutNode);
    // The edited model is applyEdits() of the original.
    const Model expect = applyEdits(m->model(), edits.edits());
    EXPECT_TRUE(doc.model()->model().weights.equal(expect.weights));
    EXPECT_TRUE(doc.model()->model().biases.equal(expect.biases));
    EXPECT_EQ(doc.model()->model().edges, expect.edges);
    // A newly opened model starts with no edits.
    QTemporaryDir dir2;
    doc.setModel(loadTempModel(dir2, 3));
    EXPECT_EQ(edits.count(), 0);
    EXPECT_FALSE(edits.undoStack()->canUndo());
}

TEST(ModelEdits, PatchRoundTripsAndThePatchedModelCompletesLikeApplyEdits) {
    QTemporaryDir dir;
    StudioDocument doc;
    const auto m = loadTempModel(dir);
    doc.setModel(m);
    ModelEdits edits(&doc);
    const auto ids = m->encode(QStringLiteral("the cat"));
    QSignalSpy ready(&edits, &ModelEdits::editedModelReady);
    edits.setEdits({{EditKind::KnockoutEdge, ids[0], ids[1], 1.0},
                    {EditKind::ScaleEdge, ids[1], ids[2], 0.25},
                    {EditKind::SwapShared, ids[2], ids[3], 1.0},
                    {EditKind::ZeroEdge, ids[4], ids[5], 1.0},
                    {EditKind::KnockoutNode, ids[6], -1, 1.0}},
                   QStringLiteral("five edits"));
    ASSERT_TRUE(ready.wait(20000));

    const QString patchPath = dir.filePath(QStringLiteral("edits.patch.json"));
    ASSERT_TRUE(edits.savePatch(patchPath).isEmpty());
    const ModelPatch loaded = loadPatch(patchPath.toStdString());
    EXPECT_EQ(loaded.edits, edits.edits());
    EXPECT_EQ(loaded.vocabSize, m->vocabSize());
    EXPECT_FALSE(loaded.names.empty());
    for (const auto& [id, name] : loaded.names)
        EXPECT_EQ(name, m->loaded.metadata.vocabulary[static_cast<size_t>(id)]);
    EXPECT_EQ(loaded.modelSha256, ModelFile::open(m->path.toStdString()).header().checksum);
    EXPECT_FALSE(loaded.modelSha256.empty());
    // Loaded into the GUI: the same list, undoable.
    StudioDocument doc2;
    doc2.setModel(m);
    ModelEdits edits2(&doc2);
    QSignalSpy ready2(&edits2, &ModelEdits::editedModelReady);
    ASSERT_TRUE(edits2.loadPatch(patchPath).isEmpty());
    EXPECT_EQ(edits2.edits(), edits.edits());
    ASSERT_TRUE(ready2.wait(20000));
    EXPECT_TRUE(edits2.undoStack()->canUndo());
    // A patch for another vocabulary is refused with a message.
    ModelPatch other = loaded;
    other.vocabSize = m->vocabSize() + 1;
    const QString otherPath = dir.filePath(QStringLiteral("other.patch.json"));
    savePatch(other, otherPath.toStdString());
    EXPECT_FALSE(edits2.loadPatch(otherPath).isEmpty());
    EXPECT_EQ(edits2.edits(), edits.edits());
    // Names of another vocabulary are refused unless forced.
    ModelPatch renamed = loaded;
    renamed.names.begin()->second += "x";
    const QString renamedPath = dir.filePath(QStringLiteral("renamed.patch.json"));
    savePatch(renamed, renamedPath.toStdString());
    bool namesDiffer = false;
    EXPECT_FALSE(edits2.loadPatch(renamedPath, false, &namesDiffer).isEmpty());
    EXPECT_TRUE(namesDiffer);
    EXPECT_TRUE(edits2.loadPatch(renamedPath, true).isEmpty());

    const QString out = dir.filePath(QStringLiteral("patched.brillm"));
    QSignalSpy written(&edits, &ModelEdits::modelWritten);
    QSignalSpy failed(&edits, &ModelEdits::failed);
    edits.writePatchedModel(out);
    ASSERT_TRUE(written.wait(20000)) << (failed.isEmpty() ? std::string() : failed[0][0].toString().toStdString());
    const LoadedModel patched = ModelFile::load(out.toStdString());
    const Model expect = applyEdits(m->model(), edits.edits());
    const auto prompt = m->encode(QStringLiteral("the c"));
    EXPECT_EQ(greedy(patched.model, prompt, 20), greedy(expect, prompt, 20));
    EXPECT_TRUE(patched.model.weights.equal(expect.weights));
    EXPECT_EQ(patched.metadata.vocabulary, m->loaded.metadata.vocabulary);
    EXPECT_NE(patched.metadata.provenanceJson.find("\"patched\""), std::string::npos);
    EXPECT_NE(patched.metadata.provenanceJson.find("studio test model"), std::string::npos); // the original's kept
}

// ---------------------------------------------------------------- compare

class CompareTest : public ::testing::Test {
protected:
    void SetUp() override {
        m = loadTempModel(dir);
        doc.setModel(m);
        prompt = m->encode(QStringLiteral("the c"));
        tokens = greedy(m->model(), prompt, kTokens);
        // The first generated step whose pair occurs nowhere earlier on the path: knocking it out
        // changes that step and nothing before it.
        const auto p = static_cast<int>(prompt.size());
        for (int g = 1; g < kTokens && k < 0; ++g) {
            const auto pair = std::pair{tokens[static_cast<size_t>(p - 1 + g)], tokens[static_cast<size_t>(p + g)]};
            bool earlier = false;
            for (int i = 0; i < p - 1 + g; ++i)
                earlier =
                    earlier || std::pair{tokens[static_cast<size_t>(i)], tokens[static_cast<size_t>(i + 1)]} == pair;
            if (!earlier) k = g;
        }
        ASSERT_GE(k, 1);
        knocked = {tokens[static_cast<size_t>(p - 1 + k)], tokens[static_cast<size_t>(p + k)]};
    }
    static constexpr int kTokens = 16;
    QTemporaryDir dir;
    StudioDocument doc;
    StudioModelPtr m;
    std::vector<int32_t> prompt, tokens;
    int k = -1;
    std::pair<int32_t, int32_t> knocked;
};

TEST_F(CompareTest, BeforeAfterEditsFindsTheKnockedOutStep) {
    ModelEdits edits(&doc);
    CompareView view(&doc, &edits);
    QSignalSpy ready(&edits, &ModelEdits::editedModelReady);
    edits.knockoutEdge(knocked.first, knocked.second);
    edits.scaleEdge(tokens[0], tokens[1], 1.0); // on the path, changes nothing
    while (doc.editCount() != 2)
        ASSERT_TRUE(ready.wait(20000));
    view.setMode(CompareMode::BeforeAfterEdits);
    view.setPrompts(QStringLiteral("the c"));
    view.setMaxTokens(kTokens);
    QSignalSpy done(&view, &CompareView::comparisonReady);
    view.run();
    ASSERT_TRUE(done.wait(20000));
    const auto& r = *view.result();
    EXPECT_EQ(r.divergence, k);
    EXPECT_EQ(r.left.tokens, tokens);
    EXPECT_EQ(r.right.tokens, greedy(applyEdits(m->model(), edits.edits()), prompt, kTokens));
    EXPECT_EQ(r.relevantEdits, (std::vector<int>{0, 1}));
    ASSERT_TRUE(r.rightBlame);
    EXPECT_FALSE(r.leftBlame);
    EXPECT_EQ(r.rightBlame->query.a, r.right.tokens[static_cast<size_t>(r.rightStep + 1)]);
    EXPECT_EQ(r.rightBlame->query.b, knocked.second);
    // The knocked-out candidate edge is among the contributors.
    bool found = false;
    for (const auto& c : r.rightBlame->contributors)
        found = found ||
                (c.kind == ContributorKind::CandidateEdge && c.source == knocked.first && c.target == knocked.second);
    EXPECT_TRUE(found);
    EXPECT_EQ(view.rightContributors()->rowCount(), static_cast<int>(r.rightBlame->contributors.size()));
    EXPECT_TRUE(view.tableModel()->data(view.tableModel()->index(k, 0), ComparisonTableModel::DivergenceRole).toBool());
    EXPECT_TRUE(view.explanationText().contains(QStringLiteral("diverge at new token %1").arg(k)));
}

TEST_F(CompareTest, TwoModelsBlameEachSide) {
    const QString second = dir.filePath(QStringLiteral("second.brillm"));
    ModelFile::save(second.toStdString(),
                    applyEdits(m->model(), {{EditKind::KnockoutEdge, knocked.first, knocked.second, 1.0}}),
                    m->loaded.metadata);
    CompareView view(&doc, nullptr);
    QSignalSpy loaded(&view, &CompareView::secondModelReady);
    view.openSecondModel(second);
    ASSERT_TRUE(loaded.wait(20000));
    view.setMode(CompareMode::TwoModels);
    view.setPrompts(QStringLiteral("the c"));
    view.setMaxTokens(kTokens);
    QSignalSpy done(&view, &CompareView::comparisonReady);
    view.run();
    ASSERT_TRUE(done.wait(20000));
    const auto& r = *view.result();
    EXPECT_EQ(r.divergence, k);
    ASSERT_TRUE(r.leftBlame);
    ASSERT_TRUE(r.rightBlame);
    EXPECT_EQ(r.leftBlame->query.a, knocked.second);
    EXPECT_EQ(r.rightBlame->query.b, knocked.second);
    EXPECT_GT(r.leftBlame->margin, 0);
}

TEST_F(CompareTest, TwoPromptsDivergeWhereTheirContinuationsDiffer) {
    CompareView view(&doc, nullptr);
    view.setMode(CompareMode::TwoPrompts);
    view.setPrompts(QStringLiteral("the c"), QStringLiteral("a d"));
    view.setMaxTokens(kTokens);
    QSignalSpy done(&view, &CompareView::comparisonReady);
    view.run();
    ASSERT_TRUE(done.wait(20000));
    const auto& r = *view.result();
    const auto a = greedy(m->model(), prompt, kTokens);
    const auto bp = m->encode(QStringLiteral("a d"));
    const auto b = greedy(m->model(), bp, kTokens);
    int64_t expect = -1;
    for (int g = 0; g < kTokens && expect < 0; ++g)
        if (a[prompt.size() + static_cast<size_t>(g)] != b[bp.size() + static_cast<size_t>(g)]) expect = g;
    EXPECT_EQ(r.divergence, expect);
    if (expect >= 0) {
        ASSERT_TRUE(r.leftBlame);
        ASSERT_TRUE(r.rightBlame);
        EXPECT_EQ(r.leftBlame->query.b, r.rightBlame->query.a);
    }
    EXPECT_EQ(view.tableModel()->rowCount(), kTokens);
}

// ---------------------------------------------------------------- in the main window

TEST(StudioWindowTrace, HighlightsTheBlamedEdgesInThePathAndGraph) {
    QTemporaryDir dir;
    StudioOptions o;
    o.noDemo = true;
    o.size = QSize(1500, 950);
    o.theme = QStringLiteral("light");
    MainWindow w(o);
    w.show();
    auto* doc = w.document();
    doc->setModel(loadTempModel(dir));
    auto* panel = w.errorTracePanel();
    const auto& m = *doc->model();
    const auto promptIds = m.encode(QStringLiteral("the c"));
    panel->setPrompt(QStringLiteral("the c"));
    panel->setExpected(textOf(m, wrongContinuation(m, promptIds)));
    QSignalSpy blamed(panel, &ErrorTracePanel::blameReady);
    QSignalSpy settled(doc, &StudioDocument::viewsSettled);
    panel->run();
    ASSERT_TRUE(blamed.wait(20000));
    if (doc->isGenerating() || settled.isEmpty()) {
        ASSERT_TRUE(settled.wait(20000));
    }
    QApplication::processEvents();
    const auto& edges = w.signalPathView()->canvas()->highlightedEdges();
    ASSERT_FALSE(edges.empty());
    std::set<int> expectSteps;
    for (size_t i = 0; i < doc->trace().steps.size(); ++i)
        for (const auto& h : edges)
            if (h.source == doc->trace().steps[i].source && h.target == doc->trace().steps[i].target)
                expectSteps.insert(static_cast<int>(i));
    const auto steps = w.signalPathView()->canvas()->highlightedSteps();
    EXPECT_EQ(std::set<int>(steps.begin(), steps.end()), expectSteps);
    // The expected token's edge at the blamed step is a candidate edge of the report: on the path.
    EXPECT_TRUE(expectSteps.count(panel->selectedStep()) > 0 || edges.size() < panel->topCount());
    EXPECT_EQ(w.tokenGraphView()->highlightedEdges().size(), edges.size());
    if (w.tokenGraphView()->isLayingOut()) {
        QSignalSpy laid(w.tokenGraphView(), &TokenGraphView::layoutFinished);
        ASSERT_TRUE(laid.wait(20000));
    }
    EXPECT_FALSE(expectSteps.empty());
    EXPECT_GE(w.tokenGraphView()->blamedEdgeCount(), static_cast<int>(expectSteps.size()));
    // Knock out a blamed edge from the contributors: the panel traces the edited model again.
    const Contributor* c = nullptr;
    for (int r = 0; r < panel->contributorModel()->rowCount() && !c; ++r) {
        const auto* x = panel->contributorModel()->contributorAt(r);
        if (x->kind == ContributorKind::PathEdge) c = x;
    }
    ASSERT_NE(c, nullptr);
    QSignalSpy forced(panel, &ErrorTracePanel::forcedPathReady);
    w.modelEdits()->knockoutEdge(c->source, c->target);
    ASSERT_TRUE(forced.wait(20000));
    EXPECT_EQ(panel->forcedPath()->model, doc->model());
    EXPECT_EQ(doc->editCount(), 1);
    EXPECT_TRUE(w.editsPanel()->stateText().contains(QStringLiteral("Edited (1 edit)")));
}
