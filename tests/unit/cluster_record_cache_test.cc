// Unit tests for cluster/record_cache: hits, misses, in-place updates, the byte budget,
// CLOCK second chances, and that erase/clear never leave a stale entry behind. The table
// tests (growth, backward-shift deletion, random operations against a std::map model) use
// thousands of keys so probe chains get long and the table rehashes several times.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <random>
#include <string>
#include <utility>
#include <vector>

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

// Take moves the record out for a read-modify-write; until it is put back the key is a miss
// (a failed write that never puts it back costs a reload, never a stale or empty record).
TEST(RecordCache, TakeMovesOutAndMissesUntilPutBack) {
  RecordCache c(1 << 20);
  bool found = false;
  Record out;
  EXPECT_FALSE(c.Take("k", &out, &found));
  c.Put("k", Rec("one"), true);
  c.Put("absent", Record(), false);
  ASSERT_TRUE(c.Take("k", &out, &found));
  EXPECT_TRUE(found);
  EXPECT_EQ(out.siblings.at(0).value, "one");
  EXPECT_EQ(c.Find("k", &found), nullptr);
  EXPECT_FALSE(c.Take("k", &out, &found));  // not twice
  out.siblings.at(0).value = "two";
  c.Put("k", std::move(out), true);
  const Record* r = c.Find("k", &found);
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->siblings.at(0).value, "two");
  Record none;
  ASSERT_TRUE(c.Take("absent", &none, &found));
  EXPECT_FALSE(found);
  c.Erase("absent");  // a failed write: the taken entry goes away
  EXPECT_EQ(c.Find("absent", &found), nullptr);
  EXPECT_EQ(c.entries(), 1u);
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

std::string NumKey(int i) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "key:%012d", i);
  return buf;
}

TEST(RecordCache, ManyKeysUnderEvictionNeverServeAWrongRecord) {
  const size_t kBudget = 1 << 20;  // a few thousand of the 50,000 entries fit
  RecordCache c(kBudget);
  const int kKeys = 50000;
  for (int i = 0; i < kKeys; i++) {
    c.Put(NumKey(i), Rec(std::string(100, 'v') + std::to_string(i), i + 1), true);
    ASSERT_LE(c.bytes(), kBudget);
    if (i % 7 == 0) {  // touch an older key now and then so CLOCK has bits to clear
      bool found = false;
      int j = i / 2;
      const Record* r = c.Find(NumKey(j), &found);
      if (r != nullptr) {
        ASSERT_EQ(r->siblings.at(0).value, std::string(100, 'v') + std::to_string(j));
      }
    }
  }
  EXPECT_GT(c.entries(), 1000u);
  EXPECT_LT(c.entries(), 10000u);
  size_t hits = 0;
  for (int i = 0; i < kKeys; i++) {
    bool found = false;
    const Record* r = c.Find(NumKey(i), &found);
    if (r == nullptr) continue;
    ++hits;
    ASSERT_TRUE(found);
    ASSERT_EQ(*r, Rec(std::string(100, 'v') + std::to_string(i), i + 1)) << NumKey(i);
  }
  EXPECT_EQ(hits, c.entries());  // every entry is reachable
  bool found = false;
  EXPECT_NE(c.Find(NumKey(kKeys - 1), &found), nullptr);  // the newest one is kept
}

TEST(RecordCache, RandomOperationsMatchAModel) {
  // Keys of many lengths, some binary, plus the empty key; a budget that forces eviction.
  std::vector<std::string> keys;
  for (int i = 0; i < 3000; i++) keys.push_back(NumKey(i));
  for (int i = 0; i < 200; i++) keys.push_back(std::string(i % 40, '\0') + std::to_string(i));
  keys.push_back("");
  keys.push_back(std::string(1, '\0'));
  for (uint64_t seed : {1, 2, 3, 42, 12345}) {
    std::mt19937_64 rng(seed);
    const size_t kBudget = seed == 42 ? 1 << 22 : 200 * 1000;  // 42: no eviction
    RecordCache c(kBudget);
    std::map<std::string, std::pair<Record, bool>> model;  // what may be cached, per key
    uint64_t hits = 0, misses = 0;
    for (int op = 0; op < 30000; op++) {
      const std::string& k = keys[rng() % keys.size()];
      uint64_t dice = rng() % 100;
      if (dice < 45) {
        bool found = false;
        const Record* r = c.Find(k, &found);
        auto it = model.find(k);
        if (r == nullptr) {
          ++misses;
        } else {
          ++hits;
          ASSERT_NE(it, model.end()) << "seed " << seed << " op " << op << ": stale entry";
          ASSERT_EQ(*r, it->second.first) << "seed " << seed << " op " << op;
          ASSERT_EQ(found, it->second.second);
        }
      } else if (dice < 90) {
        // Mostly small values, now and then one over the budget / 8 (never cached).
        size_t len = rng() % 20 == 0 ? kBudget / 6 : rng() % 400;
        Record rec = Rec(std::string(len, static_cast<char>('a' + op % 26)), op + 1);
        bool found = rng() % 4 != 0;
        if (!found) rec = Record();  // a cached miss: always small
        if (found && len >= kBudget / 8) {
          model.erase(k);
        } else {
          model[k] = {rec, found};
        }
        if (rng() % 2) {
          c.Put(k, std::move(rec), found);
        } else {
          c.Put(k, rec, found);
        }
      } else if (dice < 99) {
        c.Erase(k);
        model.erase(k);
      } else if (rng() % 20 == 0) {
        c.Clear();
        model.clear();
        ASSERT_EQ(c.bytes(), 0u);
        ASSERT_EQ(c.entries(), 0u);
      }
      ASSERT_LE(c.bytes(), kBudget);
      ASSERT_LE(c.entries(), model.size());
      ASSERT_EQ(c.entries() == 0, c.bytes() == 0);
    }
    EXPECT_EQ(c.hits(), hits);
    EXPECT_EQ(c.misses(), misses);
    // Finally every key: cached entries are exactly right, and all of them are reachable.
    size_t reachable = 0;
    for (const auto& k : keys) {
      bool found = false;
      const Record* r = c.Find(k, &found);
      if (r == nullptr) continue;
      ++reachable;
      auto it = model.find(k);
      ASSERT_NE(it, model.end());
      ASSERT_EQ(*r, it->second.first);
      ASSERT_EQ(found, it->second.second);
    }
    EXPECT_EQ(reachable, c.entries()) << "seed " << seed;
    if (seed == 42) {
      EXPECT_EQ(reachable, model.size());  // nothing had to be evicted
    }
  }
}

TEST(RecordCache, GrowsAcrossRehashesAndErasesInsideProbeChains) {
  // No eviction: 20,000 entries take the table from 16 slots through 11 rehashes.
  RecordCache c(size_t{1} << 32);
  const int kKeys = 20000;
  bool found = false;
  for (int i = 0; i < kKeys; i++) {
    c.Put(NumKey(i), Rec("v" + std::to_string(i)), true);
    if ((i & (i + 1)) == 0) {  // after each power of two, everything so far is there
      for (int j = 0; j <= i; j++) {
        const Record* r = c.Find(NumKey(j), &found);
        ASSERT_NE(r, nullptr) << NumKey(j) << " lost after " << i + 1 << " inserts";
        ASSERT_EQ(r->siblings.at(0).value, "v" + std::to_string(j));
      }
    }
  }
  EXPECT_EQ(c.entries(), static_cast<size_t>(kKeys));
  // Erase in random order; backward shift must keep every other key reachable.
  std::vector<int> order(kKeys);
  for (int i = 0; i < kKeys; i++) order[i] = i;
  std::shuffle(order.begin(), order.end(), std::mt19937_64(7));
  std::vector<bool> gone(kKeys, false);
  for (int n = 0; n < kKeys / 2; n++) {
    c.Erase(NumKey(order[n]));
    gone[order[n]] = true;
    if (n % 1000 == 999) {
      for (int j = 0; j < kKeys; j++) {
        const Record* r = c.Find(NumKey(j), &found);
        ASSERT_EQ(r == nullptr, gone[j]) << NumKey(j) << " after " << n + 1 << " erases";
        if (r != nullptr) {
          ASSERT_EQ(r->siblings.at(0).value, "v" + std::to_string(j));
        }
      }
    }
  }
  EXPECT_EQ(c.entries(), static_cast<size_t>(kKeys / 2));
  for (int j = 0; j < kKeys; j++) c.Erase(NumKey(j));
  EXPECT_EQ(c.entries(), 0u);
  EXPECT_EQ(c.bytes(), 0u);
}

TEST(RecordCache, EraseEveryKeyOfAFullTable) {
  // Sizes just below each growth point (5/8 full) give the longest chains; after every
  // erase all remaining keys must still be found and the erased one must not.
  for (int n : {10, 20, 40, 80, 160, 320, 640}) {
    RecordCache c(size_t{1} << 30);
    for (int i = 0; i < n; i++) c.Put(NumKey(i), Rec(std::to_string(i)), true);
    std::vector<int> order(n);
    for (int i = 0; i < n; i++) order[i] = i;
    std::shuffle(order.begin(), order.end(), std::mt19937_64(n));
    std::vector<bool> gone(n, false);
    bool found = false;
    for (int k : order) {
      c.Erase(NumKey(k));
      gone[k] = true;
      for (int j = 0; j < n; j++) {
        ASSERT_EQ(c.Find(NumKey(j), &found) == nullptr, gone[j]) << "n " << n << " key " << j;
      }
    }
    EXPECT_EQ(c.entries(), 0u);
  }
}

TEST(RecordCache, ClockKeepsHotKeysThroughAScan) {
  // About 300 entries fit; 20 hot keys are read every few inserts while 20,000 one-time keys
  // stream through.
  RecordCache c(100 * 1000);
  std::vector<std::string> hot;
  for (int i = 0; i < 20; i++) {
    hot.push_back("hot" + std::to_string(i));
    c.Put(hot.back(), Rec("h" + std::to_string(i)), true);
  }
  bool found = false;
  for (int i = 0; i < 20000; i++) {
    c.Put("scan" + std::to_string(i), Rec(std::string(200, 's')), true);
    if (i % 5 == 0) {
      for (const auto& h : hot) {
        const Record* r = c.Find(h, &found);
        ASSERT_NE(r, nullptr) << h << " evicted after " << i << " scan inserts";
      }
    }
  }
  size_t scan_left = 0;
  for (int i = 0; i < 20000; i++) {
    scan_left += c.Find("scan" + std::to_string(i), &found) != nullptr;
  }
  EXPECT_LT(scan_left, 400u);
  EXPECT_EQ(scan_left + hot.size(), c.entries());
}

TEST(RecordCache, ASecondChanceIsOnlyOne) {
  // Keys read once and then never again must age out: the hand clears their bit on one pass
  // and evicts them on the next.
  RecordCache c(100 * 1000);
  bool found = false;
  for (int i = 0; i < 50; i++) {
    c.Put("once" + std::to_string(i), Rec("o"), true);
    ASSERT_NE(c.Find("once" + std::to_string(i), &found), nullptr);
  }
  for (int i = 0; i < 5000; i++) {
    c.Put("scan" + std::to_string(i), Rec(std::string(200, 's')), true);
  }
  for (int i = 0; i < 50; i++) {
    EXPECT_EQ(c.Find("once" + std::to_string(i), &found), nullptr) << i;
  }
}

TEST(RecordCache, BinaryKeysAndTheEmptyKeyAreDistinct) {
  RecordCache c(1 << 20);
  const std::vector<std::string> keys = {"",
                                         std::string(1, '\0'),
                                         std::string(2, '\0'),
                                         "a",
                                         std::string("a\0b", 3),
                                         std::string("a\0c", 3),
                                         std::string("a\0b\0", 4),
                                         std::string(40, '\0') + "x",
                                         std::string(40, '\0') + "y"};
  for (size_t i = 0; i < keys.size(); i++) c.Put(keys[i], Rec("v" + std::to_string(i)), true);
  EXPECT_EQ(c.entries(), keys.size());
  bool found = false;
  for (size_t i = 0; i < keys.size(); i++) {
    const Record* r = c.Find(keys[i], &found);
    ASSERT_NE(r, nullptr) << i;
    EXPECT_EQ(r->siblings.at(0).value, "v" + std::to_string(i));
  }
  c.Erase("");
  EXPECT_EQ(c.Find("", &found), nullptr);
  EXPECT_NE(c.Find(std::string(1, '\0'), &found), nullptr);
  c.Erase(std::string("a\0b", 3));
  EXPECT_EQ(c.Find(std::string("a\0b", 3), &found), nullptr);
  EXPECT_NE(c.Find("a", &found), nullptr);
  EXPECT_NE(c.Find(std::string("a\0b\0", 4), &found), nullptr);
  EXPECT_EQ(c.entries(), keys.size() - 2);
}

TEST(RecordCache, PutMovesTheRecordInWithTheSameAccounting) {
  RecordCache moved(1 << 20), copied(1 << 20);
  Record r = Rec(std::string(500, 'm'));
  copied.Put("k", r, true);
  moved.Put("k", std::move(r), true);
  EXPECT_TRUE(r.siblings.empty());  // NOLINT(bugprone-use-after-move): it was moved from
  EXPECT_EQ(moved.bytes(), copied.bytes());
  bool found = false;
  const Record* got = moved.Find("k", &found);
  ASSERT_NE(got, nullptr);
  EXPECT_EQ(*got, Rec(std::string(500, 'm')));
  // In place (the key is cached): moved in as well.
  Record r2 = Rec("two", 2);
  moved.Put("k", std::move(r2), false);
  copied.Put("k", Rec("two", 2), false);
  EXPECT_EQ(moved.entries(), 1u);
  EXPECT_EQ(moved.bytes(), copied.bytes());
  got = moved.Find("k", &found);
  ASSERT_NE(got, nullptr);
  EXPECT_FALSE(found);
  EXPECT_EQ(got->siblings.at(0).value, "two");
}

TEST(RecordCache, OversizedUpdateDropsTheStaleEntry) {
  RecordCache c(8000);
  c.Put("k", Rec("small"), true);
  bool found = false;
  ASSERT_NE(c.Find("k", &found), nullptr);  // "k" is now the remembered entry
  c.Put("k", Rec(std::string(2000, 'x')), true);
  EXPECT_EQ(c.Find("k", &found), nullptr);
  EXPECT_EQ(c.entries(), 0u);
  EXPECT_EQ(c.bytes(), 0u);
}

// Prefetch is a hint: at every stage (Node::kPrefetchStages), for hits, misses, taken
// entries, negative entries and records of 0, 1 or 2 siblings with short, empty or long
// values, it changes no entry and counts no hit or miss (the sanitizer build also checks
// that stage 4 reads only live siblings).
TEST(RecordCache, PrefetchChangesNothing) {
  RecordCache c(1 << 20);
  c.Put("short", Rec("x"), true);
  c.Put("empty", Rec(""), true);
  c.Put("long", Rec(std::string(1000, 'L')), true);
  Record two = Rec("a");
  Sibling b = two.siblings[0];
  b.dot = {8, 1};
  b.value = std::string(200, 'b');
  two.siblings.push_back(b);
  c.Put("two", two, true);
  c.Put("none", Record(), false);
  c.Put("taken", Rec("t"), true);
  Record out;
  bool found = false;
  ASSERT_TRUE(c.Take("taken", &out, &found));
  const uint64_t hits = c.hits(), misses = c.misses();
  const size_t bytes = c.bytes(), entries = c.entries();
  for (int stage = 1; stage <= 4; ++stage) {
    for (const char* k : {"short", "empty", "long", "two", "none", "taken", "missing", ""}) c.Prefetch(k, stage);
  }
  EXPECT_EQ(c.hits(), hits);
  EXPECT_EQ(c.misses(), misses);
  EXPECT_EQ(c.bytes(), bytes);
  EXPECT_EQ(c.entries(), entries);
  ASSERT_NE(c.Find("long", &found), nullptr);
  EXPECT_EQ(c.Find("long", &found)->siblings.at(0).value, std::string(1000, 'L'));
  ASSERT_NE(c.Find("two", &found), nullptr);
  EXPECT_EQ(*c.Find("two", &found), two);
  EXPECT_EQ(c.Find("taken", &found), nullptr);
}

}  // namespace
}  // namespace dynakv::cluster
