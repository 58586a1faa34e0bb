// SPDX-License-Identifier: GPL-3.0-or-later
#include "brillm/error.h"
#include "brillm/model/edge_table.h"

#include <gtest/gtest.h>

#include <random>
#include <set>

using namespace brillm;

TEST(EdgeTable, SlotsAreRowMajorAfterTheSharedSlot) {
    const std::vector<std::pair<int32_t, int32_t>> pairs{{2, 0}, {0, 2}, {0, 1}, {2, 2}};
    const auto t = EdgeTable::fromPairs(3, pairs);
    EXPECT_EQ(t.numOwn(), 4);
    EXPECT_EQ(t.numSlots(), 5);
    EXPECT_EQ(t.slot(0, 1), 1);
    EXPECT_EQ(t.slot(0, 2), 2);
    EXPECT_EQ(t.slot(2, 0), 3);
    EXPECT_EQ(t.slot(2, 2), 4);
    EXPECT_EQ(t.slot(0, 0), 0);
    EXPECT_EQ(t.slot(1, 1), 0);
    EXPECT_TRUE(t.isShared(1, 0));
    EXPECT_EQ(t.ownCount(1), 0);
    EXPECT_EQ(t.pairOfSlot(3), std::make_pair(2, 0));
    EXPECT_THROW(t.pairOfSlot(0), InputError);
    EXPECT_THROW(t.slot(3, 0), InputError);
}

TEST(EdgeTable, MatchesTheReferenceNumberingOnARandomTable) {
    // The reference loops s over the vocabulary, t over the vocabulary, and hands out the next
    // slot to every pair that is not shared. Do exactly that and compare.
    const int V = 60;
    std::mt19937 rng(7);
    std::vector<std::pair<int32_t, int32_t>> pairs;
    std::set<std::pair<int32_t, int32_t>> own;
    for (int s = 0; s < V; ++s)
        for (int t = 0; t < V; ++t)
            if (rng() % 7 == 0) own.insert({s, t});
    pairs.assign(own.begin(), own.end());
    std::shuffle(pairs.begin(), pairs.end(), rng);
    const auto table = EdgeTable::fromPairs(V, pairs);
    int64_t next = 1;
    for (int s = 0; s < V; ++s)
        for (int t = 0; t < V; ++t) {
            const int64_t want = own.count({s, t}) ? next++ : 0;
            ASSERT_EQ(table.slot(s, t), want) << s << "->" << t;
            if (want) {
                EXPECT_EQ(table.pairOfSlot(want), std::make_pair(s, t));
            }
        }
    EXPECT_EQ(table.numSlots(), next);
}

TEST(EdgeTable, ReferenceZeroListsGiveEveryUnlistedPairASlot) {
    // source 0 lists target 1 with count 0 -> shared; all other pairs own a slot
    std::vector<std::vector<int32_t>> zero{{1}, {}, {0, 2}};
    const auto t = EdgeTable::fromReferenceZeroLists(3, zero);
    EXPECT_EQ(t.numOwn(), 9 - 3);
    EXPECT_EQ(t.slot(0, 0), 1);
    EXPECT_EQ(t.slot(0, 1), 0);
    EXPECT_EQ(t.slot(0, 2), 2);
    EXPECT_EQ(t.slot(1, 2), 5);
    EXPECT_EQ(t.slot(2, 1), 6);
    EXPECT_EQ(t.slot(2, 0), 0);
}

TEST(EdgeTable, CountsBelowMinCountShareTheSlot) {
    const std::vector<BigramCount> c{{0, 1, 5}, {1, 0, 1}, {1, 1, 2}};
    const auto t = EdgeTable::fromCounts(2, c, 2);
    EXPECT_EQ(t.numOwn(), 2);
    EXPECT_EQ(t.slot(1, 0), 0);
    EXPECT_EQ(t.slot(1, 1), 2);
    EXPECT_THROW(EdgeTable::fromCounts(2, c, 0), InputError);
}

TEST(EdgeTable, RejectsBadInput) {
    const std::vector<std::pair<int32_t, int32_t>> dup{{0, 1}, {0, 1}};
    EXPECT_THROW(EdgeTable::fromPairs(2, dup), ShapeError);
    const std::vector<std::pair<int32_t, int32_t>> out{{0, 2}};
    EXPECT_THROW(EdgeTable::fromPairs(2, out), ShapeError);
    EXPECT_THROW(EdgeTable::fromCsr(2, {0, 1}, {0}), ShapeError);       // rowPtr too short
    EXPECT_THROW(EdgeTable::fromCsr(2, {0, 2, 2}, {1, 0}), ShapeError); // not increasing
    EXPECT_THROW(EdgeTable::fromCsr(0, {0}, {}), ShapeError);
    EXPECT_NO_THROW(EdgeTable::fromCsr(2, {0, 2, 3}, {0, 1, 1}));
}

TEST(EdgeTable, DenseOwnsEveryPair) {
    const auto t = EdgeTable::dense(4);
    EXPECT_EQ(t.numSlots(), 17);
    EXPECT_EQ(t.slot(3, 3), 16);
    EXPECT_EQ(t.denseEdgeParameters(32), t.sparseEdgeParameters(32) - (32 * 32 + 32));
}
