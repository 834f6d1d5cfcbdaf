// Unit tests for cluster/record_cache: hits, misses, in-place updates, the byte budget,
// CLOCK second chances, and that erase/clear never leave a stale entry behind.
#include <gtest/gtest.h>

#include "cluster/record_cache.h"

namespace dynakv::cluster {
namespace {

Record Rec(const std::string& value, uint64_t counter = 1) {
  Record r;
  r.context.Raise(7, counter, 100);
  Sibling s;
  s.dot = {7, counter};
  s.value = value;
  r.siblings.push_back(s);
  return r;
}

TEST(RecordCache, HitsMissesAndNegativeEntries) {
  RecordCache c(1 << 20);
  bool found = true;
  EXPECT_EQ(c.Find("a", &found), nullptr);
  c.Put("a", Rec("x"), true);
  c.Put("gone", Record(), false);
  const Record* r = c.Find("a", &found);
  ASSERT_NE(r, nullptr);
  EXPECT_TRUE(found);
  EXPECT_EQ(r->siblings.at(0).value, "x");
  ASSERT_NE(c.Find("gone", &found), nullptr);
  EXPECT_FALSE(found);  // "this replica has no record" is cached too
  EXPECT_EQ(c.hits(), 2u);
  EXPECT_EQ(c.misses(), 1u);
}

TEST(RecordCache, UpdateInPlaceAndEraseAndClear) {
  RecordCache c(1 << 20);
  bool found = false;
  c.Put("k", Rec("one"), true);
  ASSERT_NE(c.Find("k", &found), nullptr);  // remembered as the last entry
  c.Put("k", Rec("two", 2), true);
  EXPECT_EQ(c.entries(), 1u);
  EXPECT_EQ(c.Find("k", &found)->siblings.at(0).value, "two");
  c.Erase("k");
  EXPECT_EQ(c.Find("k", &found), nullptr);  // not served from the remembered entry
  c.Put("k", Rec("three"), true);
  c.Clear();
  EXPECT_EQ(c.Find("k", &found), nullptr);
  EXPECT_EQ(c.bytes(), 0u);
  EXPECT_EQ(c.entries(), 0u);
}

TEST(RecordCache, StaysWithinItsBudget) {
  const size_t kBudget = 64 * 1024;
  RecordCache c(kBudget);
  for (int i = 0; i < 5000; i++) {
    c.Put("key" + std::to_string(i), Rec(std::string(100, 'v')), true);
    ASSERT_LE(c.bytes(), kBudget);
  }
  EXPECT_GT(c.entries(), 50u);
  EXPECT_LT(c.entries(), 5000u);
  // A value bigger than an eighth of the budget is not cached at all.
  c.Put("huge", Rec(std::string(kBudget / 4, 'h')), true);
  bool found = false;
  EXPECT_EQ(c.Find("huge", &found), nullptr);
  EXPECT_LE(c.bytes(), kBudget);
}

TEST(RecordCache, ReferencedEntriesGetASecondChance) {
  // Room for about 10 entries; keep touching "hot" while 100 cold keys stream through.
  RecordCache c(4000);
  c.Put("hot", Rec("h"), true);
  bool found = false;
  for (int i = 0; i < 100; i++) {
    c.Put("cold" + std::to_string(i), Rec(std::string(100, 'c')), true);
    ASSERT_NE(c.Find("hot", &found), nullptr) << "evicted after " << i << " cold inserts";
  }
  EXPECT_EQ(c.Find("cold0", &found), nullptr);  // the cold ones did get evicted
}

TEST(RecordCache, ZeroCapacityCachesNothing) {
  RecordCache c(0);
  c.Put("a", Rec("x"), true);
  bool found = false;
  EXPECT_EQ(c.Find("a", &found), nullptr);
  EXPECT_EQ(c.entries(), 0u);
}

}  // namespace
}  // namespace dynakv::cluster
