// SPDX-License-Identifier: GPL-3.0-or-later
// Model edits and patch files: every edit is checked through the production scorer against the
// edit's definition, materialised pairs keep every other pair's parameters, and patch files
// round-trip and reject malformed input with the file's name.
#include "brillm/error.h"
#include "brillm/model/model_edit.h"
#include "brillm/model/signal.h"
#include "reference_model.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <unistd.h>

namespace brillm {
namespace {

using testing::randomModel;

CandidateScores scoresAfter(const Model& m, const std::vector<int32_t>& path) {
    SignalPath p(m);
    p.start(path[0]);
    for (size_t k = 1; k < path.size(); ++k)
        p.advance(path[k]);
    return p.scoreNext(ScoreOptions{false});
}

// Every pair's (W, b) in `edited` equals the original's, except the listed pairs.
void expectOthersUnchanged(const Model& original, const Model& edited,
                           const std::vector<std::pair<int32_t, int32_t>>& changed) {
    const int64_t V = original.vocabSize();
    for (int32_t s = 0; s < V; ++s)
        for (int32_t t = 0; t < V; ++t) {
            if (std::find(changed.begin(), changed.end(), std::pair{s, t}) != changed.end()) continue;
            const auto so = original.edges.slot(s, t), se = edited.edges.slot(s, t);
            ASSERT_TRUE(at::equal(original.weights[so], edited.weights[se])) << s << "->" << t;
            ASSERT_TRUE(at::equal(original.biases[so], edited.biases[se])) << s << "->" << t;
        }
}

std::pair<int32_t, int32_t> findPair(const Model& m, bool shared) {
    for (int32_t s = 0; s < m.vocabSize(); ++s)
        for (int32_t t = 0; t < m.vocabSize(); ++t)
            if (s != t && m.edges.isShared(s, t) == shared) return {s, t};
    return {-1, -1};
}

TEST(ModelEdit, KnockoutOwnEdgeSilencesIt) {
    const auto m = randomModel(10, 4, 0.5, 3, at::kFloat, 32);
    const auto [s, t] = findPair(m, false);
    const auto before = m.weights.clone();
    const auto e = applyEdits(m, {{EditKind::KnockoutEdge, s, t}});
    EXPECT_TRUE(at::equal(m.weights, before)); // the input is untouched
    EXPECT_EQ(e.edges, m.edges);
    expectOthersUnchanged(m, e, {{s, t}});
    const std::vector<int32_t> path{(s + 1) % 10, s};
    const auto sc = scoresAfter(e, path);
    EXPECT_EQ(sc.rawEnergy(t), 0.0);
    // a path through it passes nothing on: the next input is exactly zero
    SignalPath p(e);
    p.start(s);
    EXPECT_EQ(p.advance(t), 0.0);
    for (double v : p.nextInput())
        EXPECT_EQ(v, 0.0);
}

TEST(ModelEdit, EditOfASharedPairMaterialisesIt) {
    const auto m = randomModel(10, 4, 0.4, 5, at::kDouble, 32);
    const auto [s, t] = findPair(m, true);
    ASSERT_GE(s, 0);
    const auto mat = materialisedPairs(m, {{EditKind::ScaleEdge, s, t, 0.5}});
    ASSERT_EQ(mat.size(), 1u);
    EXPECT_EQ(mat[0], (std::pair{s, t}));
    const auto e = applyEdits(m, {{EditKind::ScaleEdge, s, t, 0.5}});
    EXPECT_EQ(e.edges.numOwn(), m.edges.numOwn() + 1);
    EXPECT_NE(e.edges.slot(s, t), 0);
    expectOthersUnchanged(m, e, {{s, t}});
    EXPECT_TRUE(at::allclose(e.weights[e.edges.slot(s, t)], m.weights[0] * 0.5, 0, 0));
    EXPECT_TRUE(at::allclose(e.biases[e.edges.slot(s, t)], m.biases[0] * 0.5, 0, 0));
    // scaled by hand: y = GELU(0.5 (x W0 + b0) + PE)
    const std::vector<int32_t> path{(s + 3) % 10, s};
    SignalPath p(m);
    p.start(path[0]);
    p.advance(s);
    const auto x = p.nextInput();
    const auto pe = positionalEncoding(32, 4);
    double ss = 0;
    for (int c = 0; c < 4; ++c) {
        double z = m.biases[0][0][c].item<double>();
        for (int r = 0; r < 4; ++r)
            z += x[static_cast<size_t>(r)] * m.weights[0][r][c].item<double>();
        const double y = gelu(0.5 * z + pe[static_cast<size_t>(2 * 4 + c)]);
        ss += y * y;
    }
    EXPECT_NEAR(scoresAfter(e, path).rawEnergy(t), std::sqrt(ss), 1e-12);
}

TEST(ModelEdit, SwapSharedAndZero) {
    const auto m = randomModel(10, 4, 0.5, 7, at::kDouble, 32);
    const auto [s, t] = findPair(m, false);
    const std::vector<int32_t> path{(s + 1) % 10, s};
    const auto swapped = applyEdits(m, {{EditKind::SwapShared, s, t}});
    const auto sc = scoresAfter(swapped, path);
    // the swapped edge scores exactly as a shared-slot candidate of the same step
    const auto orig = scoresAfter(m, path);
    double sharedEnergy = std::numeric_limits<double>::quiet_NaN();
    for (int32_t c = 0; c < 10; ++c)
        if (m.edges.isShared(s, c)) sharedEnergy = orig.rawEnergy(c);
    ASSERT_FALSE(std::isnan(sharedEnergy));
    EXPECT_EQ(sc.rawEnergy(t), sharedEnergy);

    const auto zeroed = applyEdits(m, {{EditKind::ZeroEdge, s, t}});
    const auto pe = positionalEncoding(32, 4);
    double ss = 0;
    for (int c = 0; c < 4; ++c) {
        const double y = gelu(pe[static_cast<size_t>(2 * 4 + c)]);
        ss += y * y;
    }
    EXPECT_NEAR(scoresAfter(zeroed, path).rawEnergy(t), std::sqrt(ss), 1e-12);
    // edits apply in order: scale then swap is a swap
    const auto both = applyEdits(m, {{EditKind::ScaleEdge, s, t, 3.0}, {EditKind::SwapShared, s, t}});
    EXPECT_TRUE(at::equal(both.weights, swapped.weights));
}

TEST(ModelEdit, KnockoutNodeSilencesEveryEdgeOfTheNode) {
    const auto m = randomModel(8, 4, 0.4, 11, at::kFloat, 32);
    const int32_t n = 5;
    const auto e = applyEdits(m, {{EditKind::KnockoutNode, n}});
    int64_t sharedOfN = 0;
    for (int32_t v = 0; v < 8; ++v)
        sharedOfN += m.edges.isShared(n, v) + (v != n && m.edges.isShared(v, n));
    EXPECT_EQ(e.edges.numOwn(), m.edges.numOwn() + sharedOfN); // the node's shared pairs, materialised
    std::vector<std::pair<int32_t, int32_t>> changed;
    for (int32_t v = 0; v < 8; ++v) {
        changed.emplace_back(n, v);
        changed.emplace_back(v, n);
    }
    expectOthersUnchanged(m, e, changed);
    for (int32_t src = 0; src < 8; ++src) {
        const auto sc = scoresAfter(e, {(src + 1) % 8, src});
        EXPECT_EQ(sc.rawEnergy(n), 0.0) << src;
    }
    const auto from = scoresAfter(e, {2, n});
    for (int32_t c = 0; c < 8; ++c)
        EXPECT_EQ(from.rawEnergy(c), 0.0);
}

TEST(ModelEdit, BadEdits) {
    const auto m = randomModel(6, 4, 0.5, 1, at::kFloat, 8);
    EXPECT_THROW(applyEdits(m, {{EditKind::KnockoutEdge, 1, 6}}), InputError);
    EXPECT_THROW(applyEdits(m, {{EditKind::KnockoutNode, -1}}), InputError);
    EXPECT_THROW(applyEdits(m, {{EditKind::ScaleEdge, 1, 2, std::nan("")}}), InputError);
    EXPECT_THROW(editKindFromString("delete"), InputError);
    EXPECT_EQ(editKindFromString("scale_edge"), EditKind::ScaleEdge);
}

TEST(ModelPatch, RoundTripAndNames) {
    ModelPatch p;
    p.vocabSize = 6;
    p.modelSha256 = "abc123";
    p.edits = {{EditKind::KnockoutEdge, 1, 2},
               {EditKind::ScaleEdge, 3, 4, 0.25},
               {EditKind::KnockoutNode, 5},
               {EditKind::SwapShared, 0, 1},
               {EditKind::ZeroEdge, 2, 2}};
    const std::vector<std::string> vocab{"a", "b", "c", "d", "e", "f"};
    p.nameIds(vocab);
    EXPECT_EQ(p.names.size(), 6u);
    const auto dir = std::filesystem::temp_directory_path() / ("brillm-patch-" + std::to_string(getpid()));
    std::filesystem::create_directories(dir);
    const auto file = dir / "edits.json";
    savePatch(p, file);
    const auto q = loadPatch(file);
    EXPECT_EQ(q.edits, p.edits);
    EXPECT_EQ(q.vocabSize, 6);
    EXPECT_EQ(q.modelSha256, "abc123");
    EXPECT_EQ(q.names, p.names);
    EXPECT_TRUE(q.nameMismatches(vocab).empty());
    auto other = vocab;
    other[4] = "E";
    const auto mm = q.nameMismatches(other);
    ASSERT_EQ(mm.size(), 1u);
    EXPECT_NE(mm[0].find("'E'"), std::string::npos);
    EXPECT_EQ(p.edits[1].describe(&vocab), "scale 'd' -> 'e' by 0.25");
    EXPECT_EQ(p.edits[2].describe(), "knock out node 5");
    std::filesystem::remove_all(dir);
}

TEST(ModelPatch, MalformedFilesNameTheFileAndTheProblem) {
    const auto expectError = [](const std::string& json, const std::string& fragment) {
        try {
            patchFromJson(json, "my.patch");
            ADD_FAILURE() << "accepted: " << json;
        } catch (const InputError& e) {
            const std::string msg = e.what();
            EXPECT_NE(msg.find("my.patch"), std::string::npos) << msg;
            EXPECT_NE(msg.find(fragment), std::string::npos) << msg;
        }
    };
    expectError("{", "not a JSON patch file");
    expectError(R"({"format":"other"})", "not a BriLLM patch file");
    expectError(R"({"format":"brillm-patch","version":2})", "unsupported patch version");
    expectError(R"({"format":"brillm-patch","version":1,"edits":[]})", "vocab_size");
    expectError(R"({"format":"brillm-patch","version":1,"model":{"vocab_size":4}})", "edits");
    expectError(R"({"format":"brillm-patch","version":1,"model":{"vocab_size":4},"edits":[{"op":"cut"}]})",
                "unknown edit");
    expectError(
        R"({"format":"brillm-patch","version":1,"model":{"vocab_size":4},"edits":[{"op":"knockout_edge","source":1,"target":4}]})",
        "outside the vocabulary");
    expectError(
        R"({"format":"brillm-patch","version":1,"model":{"vocab_size":4},"edits":[{"op":"scale_edge","source":1,"target":2}]})",
        "factor");
    EXPECT_THROW(loadPatch("/nonexistent/x.patch"), InputError);
}

} // namespace
} // namespace brillm
