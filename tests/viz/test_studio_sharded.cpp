// SPDX-License-Identifier: GPL-3.0-or-later
// The studio on a sharded model (a directory written by `brillm train --shard-edges`): the
// window opens the directory, its model line says it is sharded and mapped, a typed prompt
// completes as over the one-file model, and a session keeps the directory as its model.
#include "studio/main_window.h"
#include "studio/session.h"
#include "studio/studio_document.h"
#include "studio/studio_model.h"
#include "studio_window_util.h"
#include "test_models.h"
#include "views/completion_panel.h"
#include "views/edge_inspector.h"

#include <brillm/error.h>
#include <brillm/io/model_file.h>
#include <brillm/io/sharded_model.h>
#include <brillm/model/decode.h>
#include <brillm/training/shard.h>

#include <QAction>
#include <QDir>
#include <QFileInfo>
#include <QLabel>
#include <QLineEdit>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>

#include <gtest/gtest.h>

#include <filesystem>

using namespace brillm;
using namespace brillm::viz;
using namespace brillm::viz::testwindow;

namespace {

// A character model as one file, and the same model as `parts` shards in dir/shards.
std::pair<QString, QString> makeModels(const QTemporaryDir& dir, int parts) {
    const QString one = dir.filePath(QStringLiteral("char.brillm"));
    testmodels::makeCharModel(one.toStdString(), "the cat sat on the mat. the dog sat on the log. a cat and a dog met.",
                              4);
    const LoadedModel loaded = ModelFile::load(one.toStdString());
    const QString shards = dir.filePath(QStringLiteral("shards"));
    QDir().mkpath(shards);
    const ShardPlan plan = ShardPlan::balanced(loaded.model.edges, parts);
    for (int r = 0; r < parts; ++r)
        training::saveShard(shards.toStdString(), r, plan,
                            training::shardModel(loaded.model, plan.begin(r), plan.end(r)), loaded.metadata, nullptr);
    training::writeShardManifest(shards.toStdString(), plan, loaded.model.edges, loaded.model.dim());
    return {one, shards};
}

} // namespace

TEST(StudioSharded, OpensAShardDirectoryCompletesAPromptAndKeepsItInASession) {
    QTemporaryDir dir;
    const auto [one, shards] = makeModels(dir, 3);
    MainWindow w(windowOptions(QSize(1280, 800)));
    w.show();
    ASSERT_NE(w.findChild<QAction*>(QStringLiteral("action.openShardedModel")), nullptr);
    ASSERT_TRUE(openAndWait(w, shards));
    const auto model = w.document()->originalModel();
    ASSERT_TRUE(model);
    EXPECT_EQ(model->path, shards);
    EXPECT_EQ(model->loaded.shards, 3);
    EXPECT_EQ(model->loaded.mergedBecause, "");
    auto* line = w.findChild<QLabel*>(QStringLiteral("status.model"));
    ASSERT_NE(line, nullptr);
    EXPECT_TRUE(line->text().contains(QStringLiteral("sharded: 3 shards, mapped"))) << line->text().toStdString();

    // a prompt typed into the Completion panel: the tokens and energies of the one-file model
    ASSERT_TRUE(completeByTyping(w, QStringLiteral("the c")));
    const Trace& got = w.document()->trace();
    const auto single = StudioModel::load(one);
    const std::vector<int32_t> prompt = single->encode(QStringLiteral("the c"));
    const Trace want = decode(single->model(), prompt, w.completionPanel()->options());
    ASSERT_GT(got.tokens.size(), prompt.size());
    EXPECT_EQ(got.tokens, want.tokens);
    ASSERT_EQ(got.steps.size(), want.steps.size());
    for (size_t k = 0; k < got.steps.size(); ++k)
        EXPECT_EQ(got.steps[k].energy, want.steps[k].energy) << "step " << k;

    // the edge inspector says which shard holds an own edge, and that the shared slot is in all of them
    auto* inspector = w.findChild<EdgeInspector*>();
    ASSERT_NE(inspector, nullptr);
    const auto& edges = model->model().edges;
    const ShardPlan plan = ShardPlan::balanced(edges, 3);
    int checked = 0;
    for (int32_t source = 0; source < edges.vocabSize() && checked < 3; ++source) {
        if (edges.ownCount(source) == 0 || plan.ownerOf(source) != checked) continue;
        inspector->inspect(source, edges.ownTargets(source)[0]);
        const QString want = QStringLiteral("in shard %1 of 3 (shard-%2-of-00003.brillm)")
                                 .arg(checked)
                                 .arg(checked, 5, 10, QLatin1Char('0'));
        EXPECT_TRUE(inspector->headerText().contains(want)) << inspector->headerText().toStdString();
        ++checked;
    }
    EXPECT_EQ(checked, 3);
    for (int32_t target = 0; target < edges.vocabSize(); ++target)
        if (edges.slot(0, target) == EdgeTable::kSharedSlot) {
            inspector->inspect(0, target);
            EXPECT_TRUE(inspector->headerText().contains(QStringLiteral("replicated in every shard")))
                << inspector->headerText().toStdString();
            break;
        }

    // a session records the directory and reopens it
    const QString sessionPath = dir.filePath(QStringLiteral("s.brillm-session"));
    ASSERT_EQ(w.saveSession(sessionPath), QString());
    MainWindow b(windowOptions(QSize(1280, 800)));
    b.show();
    QSignalSpy restored(&b, &MainWindow::sessionRestored);
    ASSERT_EQ(b.openSession(sessionPath), QString());
    ASSERT_TRUE(restored.wait(30000));
    ASSERT_TRUE(b.document()->hasModel());
    EXPECT_EQ(b.document()->originalModel()->path, shards);
    EXPECT_EQ(b.document()->originalModel()->loaded.shards, 3);
}

TEST(StudioSharded, ShardsJsonOpensItsDirectoryAndAPlainDirectoryIsRefused) {
    QTemporaryDir dir;
    const auto [one, shards] = makeModels(dir, 2);
    const auto viaManifest = StudioModel::load(QDir(shards).filePath(QStringLiteral("shards.json")));
    EXPECT_EQ(viaManifest->path, QFileInfo(shards).absoluteFilePath());
    EXPECT_TRUE(viaManifest->summary().contains(QStringLiteral("sharded: 2 shards, mapped")));
    EXPECT_TRUE(viaManifest->shardNote().contains(QStringLiteral("mapped")));
    try {
        (void)StudioModel::load(dir.path());
        ADD_FAILURE() << "a directory without shards.json opened";
    } catch (const CheckpointError& e) {
        EXPECT_NE(std::string(e.what()).find("shards.json"), std::string::npos) << e.what();
    }
}
