// SPDX-License-Identifier: GPL-3.0-or-later
// The studio as a researcher uses it (issue #15): error tracing agrees with `brillm blame` to the
// last digit, compare decodes greedily and says so, the banned mass of "skip special tokens",
// blame highlights cleared on unrelated completions, exports that record model, edits and
// settings, the saturation warning, sessions, docks found by name. Real windows, driven by
// input events where a user would use them; small models made on the spot.
#include "monitor/new_training_dialog.h"
#include "studio/main_window.h"
#include "studio/model_edits.h"
#include "studio/session.h"
#include "studio/studio_document.h"
#include "studio_window_util.h"
#include "test_models.h"
#include "tracing/error_trace_panel.h"
#include "tracing/trace_export.h"
#include "tracing/trace_models.h"
#include "views/compare_view.h"
#include "views/completion_panel.h"
#include "views/cortex_map_view.h"
#include "views/energy_heatmap_view.h"
#include "views/signal_path_view.h"
#include "views/token_graph_view.h"

#include <brillm/error.h>
#include <brillm/io/model_file.h>
#include <brillm/model/blame.h>
#include <brillm/model/continuation.h>
#include <brillm/model/decode.h>
#include <brillm/model/device_edges.h>
#include <brillm/model/model_edit.h>

#include <QApplication>
#include <QComboBox>
#include <QDir>
#include <QDockWidget>
#include <QFile>
#include <QFileInfo>
#include <QHeaderView>
#include <QImage>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QLabel>
#include <QLineEdit>
#include <QListWidget>
#include <QMessageBox>
#include <QProcess>
#include <QPushButton>
#include <QSettings>
#include <QSignalSpy>
#include <QStandardItemModel>
#include <QTableView>
#include <QTemporaryDir>
#include <QTest>
#include <QTimer>

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>

using namespace brillm;
using namespace brillm::viz;
using namespace brillm::viz::testwindow;

namespace {

const std::string kSourceDir = BRILLM_SOURCE_DIR;

std::string makeAustenBpeModel(const QTemporaryDir& dir) {
    std::ifstream in(kSourceDir + "/tests/fixtures/tokenizer/austen_sample.txt", std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    return testmodels::makeBpeModel(dir.filePath(QStringLiteral("bpe.brillm")).toStdString(),
                                    kSourceDir + "/tests/fixtures/tokenizer/austen_bpe_600.json", text.str());
}

// Runs `brillm ARGS` and returns its stdout as JSON (fails the test on a non-zero exit).
#ifndef BRILLM_CLI_PATH
#define BRILLM_CLI_PATH ""
#endif
QJsonObject runCliJson(const QStringList& args) {
    QProcess p;
    p.start(QStringLiteral(BRILLM_CLI_PATH), args);
    EXPECT_TRUE(p.waitForFinished(60000));
    EXPECT_EQ(p.exitCode(), 0) << p.readAllStandardError().toStdString();
    const auto out = p.readAllStandardOutput();
    QJsonParseError err{};
    const auto doc = QJsonDocument::fromJson(out, &err);
    EXPECT_EQ(err.error, QJsonParseError::NoError) << out.toStdString();
    return doc.object();
}

template <class T> T* child(QWidget& w, const char* name) {
    T* c = w.findChild<T*>(QString::fromLatin1(name));
    EXPECT_NE(c, nullptr) << name;
    return c;
}

} // namespace

// ---------------------------------------------------------------- error tracing == brillm blame

TEST(StudioErrorTrace, TokenisesTheContinuationWithThePromptAndAgreesWithBrillmBlame) {
    if (std::string(BRILLM_CLI_PATH).empty()) GTEST_SKIP() << "the brillm CLI is not built";
    QTemporaryDir dir;
    const std::string path = makeAustenBpeModel(dir);
    const QString prompt = QStringLiteral("It is a truth universally acknowledged");
    const QString expect = QStringLiteral(", that a single man");

    // The case is one where tokenising the continuation alone differs (the tokenizer adds a
    // prefix space: ", that" alone starts with "Ġ,"), so the test can fail.
    StudioDocument doc;
    doc.setModel(StudioModel::load(QString::fromStdString(path)));
    const auto& m = *doc.model();
    const auto joint = m.encodeContinuation(prompt, expect);
    ASSERT_TRUE(joint.joint);
    ASSERT_NE(joint.expected, m.encode(expect));
    std::vector<int32_t> all = m.encode(prompt + expect);
    std::vector<int32_t> cat = joint.prompt;
    cat.insert(cat.end(), joint.expected.begin(), joint.expected.end());
    ASSERT_EQ(cat, all);

    // The contract on other boundaries, against the codec itself: either the joint encoding is the
    // prompt's tokens followed by the continuation's, or (a token spans the boundary) the
    // continuation is encoded alone and joint says so.
    int fallbacks = 0;
    for (const auto& [p, e] :
         std::vector<std::pair<QString, QString>>{{QStringLiteral("It is a tru"), QStringLiteral("th")},
                                                  {QStringLiteral("Mr"), QStringLiteral("s. Dashwood")},
                                                  {QStringLiteral("the family of"), QStringLiteral(" Dashwood")},
                                                  {QStringLiteral("It is"), QString()}}) {
        const auto c = m.encodeContinuation(p, e);
        EXPECT_EQ(c.prompt, m.encode(p));
        const auto whole = m.encode(p + e);
        const bool prefix =
            whole.size() > c.prompt.size() && std::equal(c.prompt.begin(), c.prompt.end(), whole.begin());
        if (e.isEmpty()) {
            EXPECT_TRUE(c.expected.empty());
        } else if (prefix) {
            EXPECT_TRUE(c.joint) << p.toStdString();
            EXPECT_EQ(c.expected,
                      std::vector<int32_t>(whole.begin() + static_cast<std::ptrdiff_t>(c.prompt.size()), whole.end()));
        } else {
            EXPECT_FALSE(c.joint) << p.toStdString();
            EXPECT_EQ(c.expected, m.encode(e));
            ++fallbacks;
        }
    }
    EXPECT_GE(fallbacks, 1); // "tru" + "th" is one token in running text

    // The studio: typed into the panel and traced with the button.
    ErrorTracePanel panel(&doc);
    panel.resize(900, 700);
    panel.show();
    QTest::keyClicks(child<QLineEdit>(panel, "trace.prompt"), prompt);
    QTest::keyClicks(child<QLineEdit>(panel, "trace.expected"), expect);
    QSignalSpy blamed(&panel, &ErrorTracePanel::blameReady);
    QTest::mouseClick(child<QPushButton>(panel, "trace.run"), Qt::LeftButton);
    ASSERT_TRUE(blamed.wait(20000));
    ASSERT_TRUE(panel.forcedPath());
    const auto& fp = panel.forcedPath()->path;
    EXPECT_EQ(panel.forcedPath()->request.expected, joint.expected);

    // The CLI, the same case (no special tokens banned: the document's last options ban none).
    ASSERT_TRUE(doc.lastOptions().bannedTokens.empty());
    const QJsonObject cli =
        runCliJson({QStringLiteral("blame"), QStringLiteral("--model"), QString::fromStdString(path),
                    QStringLiteral("--prompt"), prompt, QStringLiteral("--expect"), expect, QStringLiteral("--json")});
    EXPECT_TRUE(cli.value(QStringLiteral("tokenised_jointly")).toBool());
    const QJsonArray steps = cli.value(QStringLiteral("steps")).toArray();
    ASSERT_EQ(steps.size(), static_cast<qsizetype>(fp.steps.size()));
    for (qsizetype i = 0; i < steps.size(); ++i) {
        const QJsonObject s = steps[i].toObject();
        const auto& g = fp.steps[static_cast<size_t>(i)];
        EXPECT_EQ(s.value(QStringLiteral("expected")).toInt(), g.expected) << i;
        EXPECT_EQ(s.value(QStringLiteral("winner")).toInt(), g.winner) << i;
        EXPECT_EQ(s.value(QStringLiteral("expected_rank")).toInteger(), g.expectedRank) << i;
        EXPECT_EQ(s.value(QStringLiteral("expected_probability")).toDouble(), g.expectedProbability) << i;
        EXPECT_EQ(s.value(QStringLiteral("margin")).toDouble(), g.margin) << i;
    }
    EXPECT_EQ(cli.value(QStringLiteral("first_wrong")).toInteger(), fp.firstWrong);
    // The explained step: the same margin and contributors to the last digit.
    ASSERT_TRUE(panel.blameResult());
    const QJsonObject b = cli.value(QStringLiteral("blame")).toObject();
    EXPECT_EQ(b.value(QStringLiteral("step")).toInteger(), panel.blameResult()->report.step);
    EXPECT_EQ(b.value(QStringLiteral("margin")).toDouble(), panel.blameResult()->report.margin);
    const QJsonArray cs = b.value(QStringLiteral("contributors")).toArray();
    ASSERT_FALSE(cs.isEmpty());
    for (qsizetype k = 0; k < cs.size(); ++k)
        EXPECT_EQ(cs[k].toObject().value(QStringLiteral("effect")).toDouble(),
                  panel.blameResult()->report.contributors[static_cast<size_t>(k)].effect)
            << k;

    // With special tokens banned on both sides (the studio's "Skip special tokens").
    std::vector<int32_t> banned = m.codec->specialNodes();
    ASSERT_FALSE(banned.empty());
    const QJsonObject cliBan = runCliJson(
        {QStringLiteral("blame"), QStringLiteral("--model"), QString::fromStdString(path), QStringLiteral("--prompt"),
         prompt, QStringLiteral("--expect"), expect, QStringLiteral("--ban-special"), QStringLiteral("--json")});
    const ForcedPath ref =
        forcePath(m.model(), joint.prompt, joint.expected, PositionConvention::Training, true, banned);
    const QJsonArray bs = cliBan.value(QStringLiteral("steps")).toArray();
    ASSERT_EQ(bs.size(), static_cast<qsizetype>(ref.steps.size()));
    for (qsizetype i = 0; i < bs.size(); ++i) {
        EXPECT_EQ(bs[i].toObject().value(QStringLiteral("winner")).toInt(), ref.steps[static_cast<size_t>(i)].winner);
        EXPECT_EQ(bs[i].toObject().value(QStringLiteral("margin")).toDouble(),
                  ref.steps[static_cast<size_t>(i)].margin);
    }
}

// ---------------------------------------------------------------- helpers for windows

namespace {

const char* kCharText = "the cat sat on the mat. the dog sat on the log. a cat and a dog met.";

QString charModel(const QTemporaryDir& dir, unsigned seed = 1) {
    const QString path = dir.filePath(QStringLiteral("char-%1.brillm").arg(seed));
    testmodels::makeCharModel(path.toStdString(), kCharText, seed);
    return path;
}

// Clicks the button of the next modal message box (opened by what runs next) that has `role`.
void answerNextMessageBox(QMessageBox::StandardButton button) {
    QTimer::singleShot(0, [button] {
        auto* box = qobject_cast<QMessageBox*>(QApplication::activeModalWidget());
        if (!box) {
            answerNextMessageBox(button); // not open yet
            return;
        }
        QTest::mouseClick(box->button(button), Qt::LeftButton);
    });
}

void saveShot(QWidget& w, const char* name) {
    const QString path = QStringLiteral("/tmp/studio1-%1.png").arg(QLatin1String(name));
    w.grab().save(path);
}

} // namespace

// ---------------------------------------------------------------- compare

TEST(StudioCompare, DecodesGreedilyUnlessToldAndSaysWhichSettings) {
    QTemporaryDir dir;
    MainWindow w(windowOptions());
    w.show();
    ASSERT_TRUE(openAndWait(w, charModel(dir)));
    // The Completion panel samples (hot, seeded): the document's last options are sampling ones.
    DecodeOptions sampling = w.completionPanel()->options();
    sampling.greedy = false;
    sampling.temperature = 3.0;
    sampling.seed = 11;
    sampling.maxNewTokens = 12;
    w.completionPanel()->setOptions(sampling);
    ASSERT_TRUE(completeByTyping(w, QStringLiteral("the c")));
    ASSERT_FALSE(w.document()->lastOptions().greedy);

    CompareView* c = w.compareView();
    w.dock(QStringLiteral("compare"))->show();
    w.dock(QStringLiteral("compare"))->raise();
    c->setMode(CompareMode::BeforeAfterEdits);
    c->setPrompts(QStringLiteral("the c"));
    c->setMaxTokens(12);
    QSignalSpy ready(c, &CompareView::comparisonReady);
    QTest::mouseClick(child<QPushButton>(*c, "compare.run"), Qt::LeftButton);
    ASSERT_TRUE(ready.wait(20000));
    const auto& m = *w.document()->model();
    DecodeOptions greedy;
    greedy.maxNewTokens = 12;
    greedy.bannedTokens = w.document()->lastOptions().bannedTokens;
    const Trace expect = decode(m.model(), m.encode(QStringLiteral("the c")), greedy);
    EXPECT_TRUE(c->result()->request.options.greedy);
    EXPECT_EQ(c->result()->left.tokens, expect.tokens);
    EXPECT_EQ(c->result()->right.tokens, expect.tokens);
    EXPECT_TRUE(c->explanationText().contains(QStringLiteral("Decoding: greedy")))
        << c->explanationText().toStdString();
    saveShot(w, "compare-greedy");

    // Told otherwise (the combo, by keyboard): the panel's sampling settings, and it says so.
    auto* decoding = child<QComboBox>(*c, "compare.decoding");
    decoding->setFocus();
    QTest::keyClick(decoding, Qt::Key_Down);
    ASSERT_TRUE(c->useCompletionSettings());
    QTest::mouseClick(child<QPushButton>(*c, "compare.run"), Qt::LeftButton);
    ASSERT_TRUE(ready.wait(20000));
    EXPECT_FALSE(c->result()->request.options.greedy);
    EXPECT_EQ(c->result()->request.options.seed, 11u);
    EXPECT_TRUE(c->explanationText().contains(QStringLiteral("sampling: T 3"))) << c->explanationText().toStdString();
}

// ---------------------------------------------------------------- skip special tokens

TEST(StudioSkipSpecial, ShowsTheBannedMassAndTheRankAmongAllCandidates) {
    QTemporaryDir dir;
    const std::string path = makeAustenBpeModel(dir);
    MainWindow w(windowOptions());
    w.show();
    ASSERT_TRUE(openAndWait(w, QString::fromStdString(path)));
    w.completionPanel()->setSkipSpecial(true);
    ASSERT_TRUE(completeByTyping(w, QStringLiteral("It is a truth")));
    auto* doc = w.document();
    const auto& banned = doc->lastOptions().bannedTokens;
    ASSERT_FALSE(banned.empty());
    // Every step: the mass and ranks against an independent computation from the energies.
    bool sawAbove = false;
    for (const auto& s : doc->trace().steps) {
        const BannedMass b = bannedMass(s, banned);
        double z = 0, zb = 0, top = -1e300;
        for (double e : s.energies)
            if (!std::isnan(e)) top = std::max(top, e);
        int64_t above = 0, aboveAll = 0;
        const double et = s.energies[static_cast<size_t>(s.target)];
        for (size_t t = 0; t < s.energies.size(); ++t) {
            const double e = s.energies[t];
            if (std::isnan(e)) continue;
            const double w = std::exp(e - top);
            z += w;
            const bool isBanned = std::find(banned.begin(), banned.end(), static_cast<int32_t>(t)) != banned.end();
            if (isBanned) zb += w;
            const bool before =
                static_cast<int32_t>(t) != s.target && (e > et || (e == et && static_cast<int32_t>(t) < s.target));
            if (before) ++aboveAll;
            if (before && isBanned) ++above;
        }
        EXPECT_NEAR(b.mass, zb / z, 1e-9);
        EXPECT_EQ(s.rank, aboveAll + 1);
        EXPECT_EQ(b.bannedAbove, above);
        EXPECT_EQ(b.rankAllowed, aboveAll + 1 - above);
        sawAbove |= above > 0;
    }
    // The panel says it for the selected step.
    doc->selectStep(static_cast<int>(doc->trace().steps.size()) - 1);
    const QString info = w.completionPanel()->stepInfoText();
    EXPECT_TRUE(info.contains(QStringLiteral("Skipped special tokens hold"))) << info.toStdString();
    EXPECT_TRUE(info.contains(QStringLiteral("(all candidates)"))) << info.toStdString();
    saveShot(*w.completionPanel(), "skip-special");
    (void)sawAbove;
}

// ---------------------------------------------------------------- energies without bound

TEST(StudioEnergyWarning, FlagsSaturatedProbabilitiesAndHugeEnergies) {
    QTemporaryDir dir;
    const QString path = charModel(dir);
    // The same model with every own edge scaled up: energies grow without bound.
    auto loaded = ModelFile::load(path.toStdString());
    std::vector<ModelEdit> edits;
    for (int64_t slot = 1; slot < loaded.model.edges.numSlots(); ++slot) {
        const auto [s, t] = loaded.model.edges.pairOfSlot(slot);
        edits.push_back({EditKind::ScaleEdge, s, t, 30.0});
    }
    loaded.model = applyEdits(loaded.model, edits);
    const auto hot = StudioModel::fromLoaded(std::move(loaded), path);

    MainWindow w(windowOptions());
    w.show();
    ASSERT_TRUE(openAndWait(w, path));
    ASSERT_TRUE(completeByTyping(w, QStringLiteral("the c")));
    EXPECT_TRUE(w.completionPanel()->energyWarningText().isEmpty())
        << w.completionPanel()->energyWarningText().toStdString();
    EXPECT_FALSE(energyHealth(w.document()->trace()).warn());

    QSignalSpy changed(w.document(), &StudioDocument::modelChanged);
    w.document()->setModel(hot);
    ASSERT_TRUE(completeByTyping(w, QStringLiteral("the c")));
    const EnergyHealth h = energyHealth(w.document()->trace());
    // Independently: the largest |energy| and the first step whose best candidate has p = 1.
    double maxAbs = 0;
    int firstSat = -1;
    for (size_t i = 0; i < w.document()->trace().steps.size(); ++i) {
        const auto& s = w.document()->trace().steps[i];
        for (double e : s.energies)
            if (!std::isnan(e)) maxAbs = std::max(maxAbs, std::abs(e));
        const double pBest = s.probabilities[static_cast<size_t>(s.best)];
        if (firstSat < 0 && s.candidates > 1 && pBest >= 1.0 - 1e-9) firstSat = static_cast<int>(i);
    }
    EXPECT_DOUBLE_EQ(h.maxAbsEnergy, maxAbs);
    EXPECT_EQ(h.firstSaturated, firstSat);
    ASSERT_TRUE(h.warn());
    const QString warning = w.completionPanel()->energyWarningText();
    EXPECT_TRUE(warning.contains(QStringLiteral("grow without bound"))) << warning.toStdString();
    EXPECT_TRUE(w.findChild<QLabel*>(QStringLiteral("completion.energyWarning"))->isVisible());
    saveShot(w, "energy-warning");
}

// ---------------------------------------------------------------- blame highlights, exports

TEST(StudioWindowWorkflow, BlameHighlightsLeaveWithUnrelatedCompletionsAndExportsRecordEverything) {
    QTemporaryDir dir;
    const QString path = charModel(dir);
    MainWindow w(windowOptions());
    w.show();
    ASSERT_TRUE(openAndWait(w, path));
    auto* doc = w.document();
    auto* panel = w.errorTracePanel();
    w.dock(QStringLiteral("errorTrace"))->raise();
    QTest::keyClicks(child<QLineEdit>(*panel, "trace.prompt"), QStringLiteral("the c"));
    QTest::keyClicks(child<QLineEdit>(*panel, "trace.expected"), QStringLiteral("og sat"));
    QSignalSpy blamed(panel, &ErrorTracePanel::blameReady);
    QSignalSpy settled(doc, &StudioDocument::viewsSettled);
    QTest::mouseClick(child<QPushButton>(*panel, "trace.run"), Qt::LeftButton);
    ASSERT_TRUE(blamed.wait(20000));
    if (doc->isGenerating() || settled.isEmpty()) {
        ASSERT_TRUE(settled.wait(20000));
    }
    QApplication::processEvents();
    ASSERT_FALSE(w.signalPathView()->canvas()->highlightedEdges().empty());
    saveShot(w, "blame-highlights");

    // An unrelated completion: the highlights go.
    ASSERT_TRUE(completeByTyping(w, QStringLiteral("a dog")));
    QApplication::processEvents();
    EXPECT_TRUE(w.signalPathView()->canvas()->highlightedEdges().empty());
    EXPECT_TRUE(w.tokenGraphView()->highlightedEdges().empty());
    saveShot(w, "blame-cleared");
    // Back to the forced path (the previous branch): they return.
    doc->back();
    QApplication::processEvents();
    EXPECT_FALSE(w.signalPathView()->canvas()->highlightedEdges().empty());
    doc->forward();

    // An edit, then every export records model, edits and decoding.
    const TraceStep t = doc->trace().steps.front(); // a copy: the rerun replaces the trace
    QSignalSpy edited(doc, &StudioDocument::modelEdited);
    w.modelEdits()->knockoutEdge(t.source, t.target);
    ASSERT_TRUE(edited.wait(20000));
    if (doc->isGenerating()) {
        ASSERT_TRUE(settled.wait(20000));
    }
    const QString out = dir.filePath(QStringLiteral("export"));
    ASSERT_EQ(w.exportAll(out), QString());
    QFile f(QDir(out).filePath(QStringLiteral("trace.json")));
    ASSERT_TRUE(f.open(QIODevice::ReadOnly));
    const QJsonObject root = QJsonDocument::fromJson(f.readAll()).object();
    EXPECT_EQ(root.value(QStringLiteral("model")).toString(), doc->originalModel()->path);
    const QJsonArray edits = root.value(QStringLiteral("edits")).toArray();
    ASSERT_EQ(edits.size(), 1);
    EXPECT_EQ(edits[0].toObject().value(QStringLiteral("op")).toString(), QStringLiteral("knockout_edge"));
    EXPECT_EQ(edits[0].toObject().value(QStringLiteral("source")).toInt(), t.source);
    EXPECT_EQ(edits[0].toObject().value(QStringLiteral("target")).toInt(), t.target);
    const QJsonObject options = root.value(QStringLiteral("options")).toObject();
    EXPECT_EQ(options.value(QStringLiteral("greedy")).toBool(), doc->lastOptions().greedy);
    EXPECT_TRUE(options.contains(QStringLiteral("banned_tokens")));
    const QImage png(QDir(out).filePath(QStringLiteral("signal-path.png")));
    EXPECT_TRUE(png.text(QStringLiteral("Description")).contains(QStringLiteral("1 edit: knock out")))
        << png.text(QStringLiteral("Description")).toStdString();
    EXPECT_TRUE(QImage(QDir(out).filePath(QStringLiteral("studio.png")))
                    .text(QStringLiteral("Description"))
                    .contains(QStringLiteral("decoding: greedy")));
    QFile svg(QDir(out).filePath(QStringLiteral("signal-path.svg")));
    ASSERT_TRUE(svg.open(QIODevice::ReadOnly));
    EXPECT_TRUE(svg.readAll().contains("<desc>model " + doc->originalModel()->path.toUtf8()));
    QFile csv(QDir(out).filePath(QStringLiteral("trace.csv")));
    ASSERT_TRUE(csv.open(QIODevice::ReadOnly));
    EXPECT_TRUE(csv.readLine().startsWith("# model "));
}

// ---------------------------------------------------------------- the trace format, one writer

TEST(TraceFormat, TheCliAndTheStudioWriteTheSameJson) {
    if (std::string(BRILLM_CLI_PATH).empty()) GTEST_SKIP() << "the brillm CLI is not built";
    QTemporaryDir dir;
    const std::string path = makeAustenBpeModel(dir);
    const auto m = StudioModel::load(QString::fromStdString(path));
    DecodeOptions o;
    o.maxNewTokens = 6;
    const Trace trace = decode(m->model(), m->encode(QStringLiteral("It is a truth")), o);
    const QJsonObject studio = QJsonDocument::fromJson(traceToJson(trace, m.get(), o)).object();
    const QJsonObject cli =
        runCliJson({QStringLiteral("trace"), QStringLiteral("--model"), QString::fromStdString(path),
                    QStringLiteral("--prompt"), QStringLiteral("It is a truth"), QStringLiteral("--max-new-tokens"),
                    QStringLiteral("6"), QStringLiteral("--greedy")});
    ASSERT_FALSE(cli.isEmpty());
    EXPECT_EQ(studio, cli); // field for field, number for number (the same writer)
    // What docs/trace-format.md promises, against the trace itself.
    EXPECT_EQ(cli.value(QStringLiteral("format")).toString(), QStringLiteral("brillm-trace"));
    EXPECT_EQ(cli.value(QStringLiteral("version")).toInt(), 1);
    for (const char* key : {"model", "vocab_size", "dim", "edits", "options", "prompt_tokens", "tokens",
                            "token_strings", "text", "stop_reason", "initial_signal", "steps"})
        EXPECT_TRUE(cli.contains(QLatin1String(key))) << key;
    EXPECT_EQ(cli.value(QStringLiteral("text")).toString().toStdString(), m->codec->decode(trace.tokens));
    EXPECT_TRUE(cli.value(QStringLiteral("options")).toObject().value(QStringLiteral("seed")).isDouble());
    const QJsonArray steps = cli.value(QStringLiteral("steps")).toArray();
    ASSERT_EQ(steps.size(), static_cast<qsizetype>(trace.steps.size()));
    for (qsizetype i = 0; i < steps.size(); ++i) {
        const QJsonObject s = steps[i].toObject();
        const auto& ts = trace.steps[static_cast<size_t>(i)];
        EXPECT_EQ(s.value(QStringLiteral("energy")).toDouble(), ts.energy);
        EXPECT_EQ(s.value(QStringLiteral("rank")).toInteger(), ts.rank);
        EXPECT_EQ(s.value(QStringLiteral("energies")).toArray().size(), m->vocabSize());
        EXPECT_EQ(s.value(QStringLiteral("target_token")).toString().toStdString(), m->codec->nodeToken(ts.target));
    }
}

// ---------------------------------------------------------------- sessions

TEST(StudioSession, SaveAndReopenTheWholeState) {
    QTemporaryDir dir;
    const QString path = charModel(dir);
    const QString sessionPath = dir.filePath(QStringLiteral("s.brillm-session"));
    StudioSession saved;
    std::vector<std::vector<int32_t>> branchTokens;
    std::vector<double> energies;
    int selected = -1;
    {
        MainWindow a(windowOptions());
        a.show();
        ASSERT_TRUE(openAndWait(a, path));
        ASSERT_TRUE(completeByTyping(a, QStringLiteral("the c")));
        auto* doc = a.document();
        // A second branch: the runner-up at step 3.
        QSignalSpy settled(doc, &StudioDocument::viewsSettled);
        const auto cands = topCandidates(doc->model()->model(), doc->trace().steps[3], 2);
        doc->branchAt(3, cands[1].node);
        ASSERT_TRUE(settled.wait(20000));
        QSignalSpy edited(doc, &StudioDocument::modelEdited);
        a.modelEdits()->knockoutEdge(doc->trace().steps[1].source, doc->trace().steps[1].target);
        ASSERT_TRUE(edited.wait(20000));
        if (doc->isGenerating()) {
            ASSERT_TRUE(settled.wait(20000));
        }
        doc->selectStep(4);
        a.errorTracePanel()->setPrompt(QStringLiteral("the d"));
        a.errorTracePanel()->setExpected(QStringLiteral("og"));
        a.compareView()->setPrompts(QStringLiteral("a cat"), QStringLiteral("a dog"));
        // view settings other than the defaults, chosen as a user does (the views' combo boxes)
        a.heatmapView()->setScale(HeatmapScale::Probability);
        a.cortexMapView()->modeBox()->setCurrentIndex(1);
        EXPECT_TRUE(a.hasUnsavedEdits());
        ASSERT_EQ(a.saveSession(sessionPath), QString());
        EXPECT_FALSE(a.hasUnsavedEdits());
        saved = a.currentSession();
        for (const auto& b : doc->history())
            branchTokens.push_back(b.trace->tokens);
        for (const auto& s : doc->trace().steps)
            energies.push_back(s.energy);
        selected = doc->selectedStep();
        ASSERT_GE(branchTokens.size(), 2u); // the two completions (and the edit's rerun)
    }
    MainWindow b(windowOptions());
    b.show();
    QSignalSpy restored(&b, &MainWindow::sessionRestored);
    QSignalSpy viewsSettled(b.document(), &StudioDocument::viewsSettled);
    ASSERT_EQ(b.openSession(sessionPath), QString());
    ASSERT_TRUE(restored.wait(30000));
    if (viewsSettled.isEmpty()) {
        ASSERT_TRUE(viewsSettled.wait(20000)); // every view shows the restored branch
    }
    auto* doc = b.document();
    ASSERT_TRUE(doc->hasModel());
    EXPECT_EQ(doc->originalModel()->path, path);
    EXPECT_EQ(b.modelEdits()->appliedEdits(), saved.edits);
    EXPECT_EQ(doc->editCount(), 1);
    ASSERT_EQ(doc->historySize(), static_cast<int>(branchTokens.size()));
    for (size_t i = 0; i < branchTokens.size(); ++i)
        EXPECT_EQ(doc->history()[i].trace->tokens, branchTokens[i]);
    EXPECT_EQ(doc->historyIndex(), saved.branchIndex);
    EXPECT_EQ(doc->selectedStep(), selected);
    std::vector<double> e;
    for (const auto& s : doc->trace().steps)
        e.push_back(s.energy);
    EXPECT_EQ(e, energies); // recomputed exactly
    EXPECT_EQ(b.completionPanel()->prompt(), saved.prompt);
    EXPECT_EQ(b.errorTracePanel()->prompt(), QStringLiteral("the d"));
    EXPECT_EQ(b.errorTracePanel()->expected(), QStringLiteral("og"));
    EXPECT_EQ(b.compareView()->rightPrompt(), QStringLiteral("a dog"));
    EXPECT_EQ(b.heatmapView()->scale(), HeatmapScale::Probability);
    EXPECT_EQ(b.cortexMapView()->canvas()->mode(), CortexCanvas::Mode::Map);
    EXPECT_FALSE(b.hasUnsavedEdits());
    saveShot(b, "session-restored");

    // A bad session file: a clear message, nothing changed.
    QFile bad(dir.filePath(QStringLiteral("bad.brillm-session")));
    ASSERT_TRUE(bad.open(QIODevice::WriteOnly));
    bad.write(R"({"format": "brillm-studio-session", "version": 1, "branches": [{"tokens": [-3]}]})");
    bad.close();
    const QString err = b.openSession(bad.fileName());
    EXPECT_TRUE(err.contains(QStringLiteral("node ids"))) << err.toStdString();
}

TEST(StudioSession, TheNextStartReopensTheLastSessionOrTheLastModel) {
    QTemporaryDir dir;
    const QString path = charModel(dir);
    QFile::remove(MainWindow::lastSessionPath());
    {
        MainWindow a(windowOptions());
        a.show();
        ASSERT_TRUE(openAndWait(a, path)); // also a recent file
    }
    // No session yet: the second start opens the last model.
    StudioOptions o = windowOptions();
    o.restoreLast = true;
    {
        MainWindow b(o);
        QSignalSpy loaded(b.document(), &StudioDocument::modelChanged);
        b.show();
        ASSERT_TRUE(loaded.wait(20000));
        EXPECT_EQ(b.document()->model()->path, path);
        ASSERT_TRUE(completeByTyping(b, QStringLiteral("the d")));
        b.close(); // keeps the session
    }
    ASSERT_TRUE(QFileInfo(MainWindow::lastSessionPath()).isFile());
    MainWindow c(o);
    QSignalSpy restored(&c, &MainWindow::sessionRestored);
    c.show();
    ASSERT_TRUE(restored.wait(30000));
    EXPECT_EQ(c.document()->historySize(), 1);
    EXPECT_EQ(c.completionPanel()->prompt(), QStringLiteral("the d"));
    QFile::remove(MainWindow::lastSessionPath());
}

TEST(StudioSession, QuittingWithUnsavedEditsAsksFirst) {
    QTemporaryDir dir;
    MainWindow w(windowOptions());
    w.show();
    ASSERT_TRUE(openAndWait(w, charModel(dir)));
    ASSERT_TRUE(completeByTyping(w, QStringLiteral("the c")));
    QSignalSpy edited(w.document(), &StudioDocument::modelEdited);
    w.modelEdits()->knockoutEdge(w.document()->trace().steps[0].source, w.document()->trace().steps[0].target);
    ASSERT_TRUE(edited.wait(20000));
    ASSERT_TRUE(w.hasUnsavedEdits());
    answerNextMessageBox(QMessageBox::Cancel);
    EXPECT_FALSE(w.close());
    EXPECT_TRUE(w.isVisible());
    answerNextMessageBox(QMessageBox::Discard);
    EXPECT_TRUE(w.close());
    QFile::remove(MainWindow::lastSessionPath());
}

// ---------------------------------------------------------------- docks, layout, training dialog

TEST(StudioLayout, DocksHaveNamesAndTheDefaultLayoutFitsALaptop) {
    MainWindow w(windowOptions());
    w.show();
    QApplication::processEvents();
    QApplication::processEvents();
    for (QDockWidget* d : w.docks()) {
        EXPECT_TRUE(d->objectName().startsWith(QStringLiteral("dock."))) << d->windowTitle().toStdString();
        EXPECT_EQ(w.dock(d->objectName()), d);
    }
    for (const char* name : {"completion", "signalPath", "tokenGraph", "heatmap", "cortex", "edge", "steps", "training",
                             "errorTrace", "edits", "compare"})
        EXPECT_NE(w.dock(QLatin1String(name)), nullptr) << name;
    // The blame contributors table shows at least 8 rows at 1440x900.
    w.dock(QStringLiteral("errorTrace"))->raise();
    QApplication::processEvents();
    QTableView* t = w.errorTracePanel()->contributorTable();
    const int rowHeight = t->verticalHeader()->defaultSectionSize();
    EXPECT_GE(t->viewport()->height() / rowHeight, 8) << t->viewport()->height();
    saveShot(w, "layout-1440x900");
}

TEST(StudioTraining, TheNewTrainingDialogShowsThePreviousCorpusAndAsks) {
    QTemporaryDir dir;
    const QString corpus = dir.filePath(QStringLiteral("corpus.txt"));
    QFile cf(corpus);
    ASSERT_TRUE(cf.open(QIODevice::WriteOnly));
    cf.write(kCharText);
    cf.close();
    QSettings().setValue(QStringLiteral("training/corpus"), QStringList{corpus});
    NewTrainingDialog d;
    d.show();
    auto* note = d.findChild<QLabel*>(QStringLiteral("training.corpusNote"));
    ASSERT_NE(note, nullptr);
    EXPECT_TRUE(note->isVisible());
    EXPECT_TRUE(note->text().contains(QStringLiteral("previous run")));
    auto* list = d.findChild<QListWidget*>(QStringLiteral("training.corpus"));
    ASSERT_EQ(list->count(), 1);
    EXPECT_TRUE(list->item(0)->text().contains(QStringLiteral("corpus.txt")));
    EXPECT_EQ(d.request().corpus, QStringList{corpus});
    TrainingRequest r = d.request();
    r.runDirectory = dir.filePath(QStringLiteral("run"));
    d.setRequest(r);
    saveShot(d, "new-training");
    // Start: the question; No keeps the dialog open, Yes starts.
    answerNextMessageBox(QMessageBox::No);
    d.accept();
    EXPECT_EQ(d.result(), QDialog::Rejected);
    EXPECT_TRUE(d.isVisible());
    answerNextMessageBox(QMessageBox::Yes);
    d.accept();
    EXPECT_EQ(d.result(), QDialog::Accepted);
}

// ---------------------------------------------------------------- a 5 MB vocabulary string

// Every view lays out node labels; a label as long as the token made the studio take seconds
// per megabyte (text layout in the heatmap's ticks, the chips, the graph). Labels are bounded,
// so the views' work does not grow with the token: checked on the labels themselves, and by
// putting the token on the path in a real window.
TEST(StudioModelLoad, AFiveMegabyteTokenGetsABoundedLabel) {
    QTemporaryDir dir;
    const QString path = dir.filePath(QStringLiteral("huge.brillm"));
    constexpr size_t kBytes = 5'000'000;
    testmodels::makeHugeTokenModel(path.toStdString(), "the cat sat on the mat.", kBytes);
    const auto m = StudioModel::load(path);
    const auto huge = static_cast<int32_t>(m->vocabSize() - 1);
    EXPECT_EQ(m->text(huge).size(), static_cast<qsizetype>(kBytes)); // the text stays whole
    constexpr qsizetype kMaxLabelChars = 64;                         // studio_model.cpp
    for (int32_t n = 0; n < m->vocabSize(); ++n)
        EXPECT_LE(m->label(n).size(), kMaxLabelChars + 1) << n;
    EXPECT_EQ(m->label(huge), visibleToken(m->text(huge).left(kMaxLabelChars)) + QStringLiteral("…"));
    EXPECT_TRUE(m->label(huge).startsWith(QStringLiteral("word␣word␣")));
    EXPECT_EQ(m->label(0), visibleToken(m->text(0))); // short ones unchanged

    MainWindow w(windowOptions());
    w.show();
    ASSERT_TRUE(openAndWait(w, path));
    ASSERT_TRUE(completeByTyping(w, QStringLiteral("the c")));
    QSignalSpy settled(w.document(), &StudioDocument::viewsSettled);
    w.document()->branchAt(1, huge); // the huge token on the path: every view shows it
    ASSERT_TRUE(settled.wait(60000));
    EXPECT_EQ(w.document()->trace().tokens[2], huge);
    saveShot(w, "huge-token");
}

// ---------------------------------------------------------------- where candidates are scored

TEST(StudioScoringDevice, TheChooserIsKeptAndAGpuRequestWithoutOneFailsWithAMessage) {
    QSettings().remove(QStringLiteral("completion/device"));
    QTemporaryDir dir;
    const QString path = charModel(dir);
    {
        MainWindow w(windowOptions());
        w.show();
        ASSERT_TRUE(openAndWait(w, path));
        auto* device = child<QComboBox>(*w.completionPanel(), "completion.device");
        ASSERT_EQ(device->count(), 3);
        EXPECT_EQ(device->currentData().toString(), QStringLiteral("auto"));
        EXPECT_EQ(w.document()->scoringDevice(), QStringLiteral("auto"));
        const auto* items = qobject_cast<QStandardItemModel*>(device->model());
        ASSERT_TRUE(items);
        EXPECT_EQ(items->item(2)->isEnabled(), cudaAvailable());

        // the user picks CPU with the keyboard: the document takes it, and it is kept
        device->setFocus();
        QTest::keyClick(device, Qt::Key_Down);
        EXPECT_EQ(w.document()->scoringDevice(), QStringLiteral("cpu"));
        EXPECT_EQ(QSettings().value(QStringLiteral("completion/device")).toString(), QStringLiteral("cpu"));
        ASSERT_TRUE(completeByTyping(w, QStringLiteral("the c")));
        const auto& m = *w.document()->model();
        DecodeOptions o = w.completionPanel()->options();
        EXPECT_EQ(w.document()->trace().tokens, decode(m.model(), m.encode(QStringLiteral("the c")), o).tokens);
        // the status line says where the candidates were scored
        EXPECT_EQ(w.document()->lastScoredOn(), QStringLiteral("CPU"));
        const auto* timing = w.findChild<QLabel*>(QStringLiteral("status.timing"));
        ASSERT_TRUE(timing);
        EXPECT_TRUE(timing->text().contains(QStringLiteral("scored on CPU"))) << timing->text().toStdString();

        if (!cudaAvailable()) {
            // a GPU asked for where there is none (a settings file from another machine): the
            // completion fails with a message, in a dialog, and the studio goes on
            w.document()->setScoringDevice(QStringLiteral("cuda"));
            QSignalSpy failed(w.document(), &StudioDocument::completionFailed);
            answerNextMessageBox(QMessageBox::Ok);
            w.completionPanel()->run();
            ASSERT_TRUE(failed.wait(20000));
            EXPECT_TRUE(failed.first().first().toString().contains(QStringLiteral("no CUDA")))
                << failed.first().first().toString().toStdString();
            w.document()->setScoringDevice(QStringLiteral("cpu"));
            ASSERT_TRUE(completeByTyping(w, QStringLiteral("the d")));
        }
    }
    // the next start shows the kept choice; a kept GPU choice without a GPU falls back to auto
    {
        MainWindow w(windowOptions());
        EXPECT_EQ(child<QComboBox>(*w.completionPanel(), "completion.device")->currentData().toString(),
                  QStringLiteral("cpu"));
    }
    QSettings().setValue(QStringLiteral("completion/device"), QStringLiteral("cuda"));
    {
        MainWindow w(windowOptions());
        EXPECT_EQ(w.document()->scoringDevice(), cudaAvailable() ? QStringLiteral("cuda") : QStringLiteral("auto"));
    }
    QSettings().remove(QStringLiteral("completion/device"));
}
