// Unit tests for ReplicaStore's counts (cluster/replica_store.h): the startup recount of a big
// store goes on a chunk at a time while writes, reaps and partition drops happen, and ends
// with the counts a full recount of the final store gives.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "cluster/partition_ring.h"
#include "cluster/replica_store.h"
#include "storage/mem_engine.h"
#include "tests/unit/cluster_harness.h"

namespace dynakv::cluster {
namespace {

Record Value(uint64_t counter, bool tombstone = false) {
  Sibling sib;
  sib.dot = Dot{7, counter};
  sib.timestamp_ms = 1'700'000'000'000ull;
  sib.kind = tombstone ? ValueKind::kTombstone : ValueKind::kPlain;
  if (!tombstone) sib.value = "v" + std::to_string(counter);
  Record rec;
  rec.context.Raise(sib.dot.actor, sib.dot.counter, sib.timestamp_ms);
  rec.siblings.push_back(std::move(sib));
  return rec;
}

std::string Key(int i) { return "key:" + std::to_string(i); }

struct Counts {
  uint64_t keys = 0, live = 0;
  std::vector<uint32_t> parts;
  bool operator==(const Counts&) const = default;
};

Counts CountsOf(const ReplicaStore& s) {
  Counts c{s.key_count(), s.live_count(), {}};
  for (uint32_t p = 0; p < kPartitions; ++p) c.parts.push_back(s.partition_count(p));
  return c;
}

// The counts a fresh store takes of the engine, counted to the end at once.
Counts FullRecount(storage::Engine* engine, Clock* clock, const VersionLimits* limits) {
  ReplicaStore fresh(engine, clock, nullptr, 0, limits);
  EXPECT_TRUE(fresh.Recount().ok());
  while (fresh.counting()) EXPECT_TRUE(fresh.RecountStep(1 << 30).ok());
  return CountsOf(fresh);
}

TEST(ReplicaStoreTest, SmallStoreIsCountedAtOnce) {
  storage::MemEngine engine;
  FakeClock clock;
  VersionLimits limits;
  ReplicaStore store(&engine, &clock, nullptr, 1 << 20, &limits);
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(store.Store(Key(i), Value(i + 1, i % 10 == 0), false, false).ok());
  ReplicaStore restarted(&engine, &clock, nullptr, 1 << 20, &limits);
  ASSERT_TRUE(restarted.Recount().ok());
  EXPECT_FALSE(restarted.counting());
  EXPECT_EQ(restarted.key_count(), 100u);
  EXPECT_EQ(restarted.live_count(), 90u);
}

// A store past kRecountInline is counted in chunks; writes ahead of and behind the cursor,
// reaps and a partition drop in between all end in exact counts.
TEST(ReplicaStoreTest, ChunkedRecountStaysExactUnderWrites) {
  storage::MemEngine engine;
  FakeClock clock;
  VersionLimits limits;
  const int n = int(ReplicaStore::kRecountInline) * 6 + 1000;
  {
    ReplicaStore loader(&engine, &clock, nullptr, 0, &limits);
    for (int i = 0; i < n; ++i) {
      ASSERT_TRUE(loader.Store(Key(i), Value(i + 1, i % 7 == 0), false, false).ok());
    }
  }
  ReplicaStore store(&engine, &clock, nullptr, 1 << 20, &limits);
  ASSERT_TRUE(store.Recount().ok());
  ASSERT_TRUE(store.counting());
  EXPECT_LT(store.key_count(), uint64_t(n));  // only the first chunk so far
  uint64_t counter = 1'000'000;
  int steps = 0;
  for (int round = 0; store.counting(); ++round) {
    ASSERT_LT(++steps, 10000);
    // Writes spread over the key space: some behind the cursor, some ahead of it.
    for (int j = 0; j < 50; ++j) {
      int i = (round * 7919 + j * 104729) % (n + 5000);  // past n: new keys
      Record old;
      bool found = false;
      ASSERT_TRUE(store.Load(Key(i), &old, &found).ok());
      bool was_live = found && !IsDeleted(old, clock.WallMs());
      bool tomb = (i + round) % 3 == 0;
      ASSERT_TRUE(store.Store(Key(i), Value(++counter, tomb), found, was_live).ok());
      int e = (round * 31 + j * 613) % n;
      if (e % 5 == 0) {
        Record rec;
        ASSERT_TRUE(store.Load(Key(e), &rec, &found).ok());
        if (found) {
          ASSERT_TRUE(store.Erase(Key(e), rec).ok());
        }
      }
    }
    if (round == 3) {
      uint64_t dropped = 0;
      ASSERT_TRUE(store.DropPartition(RecordPartition(Key(n / 2)), &dropped).ok());
      EXPECT_GT(dropped, 0u);
    }
    ASSERT_TRUE(store.RecountStep(2048).ok());
  }
  EXPECT_GT(steps, 10);
  Counts got = CountsOf(store);
  Counts want = FullRecount(&engine, &clock, &limits);
  EXPECT_EQ(got.keys, want.keys);
  EXPECT_EQ(got.live, want.live);
  EXPECT_TRUE(got == want) << "per-partition counts differ";
  // And the counts go on moving exactly once counting is over.
  ASSERT_TRUE(store.Store(Key(n + 99999), Value(++counter), false, false).ok());
  EXPECT_EQ(store.key_count(), want.keys + 1);
  EXPECT_EQ(store.live_count(), want.live + 1);
}

TEST(ReplicaStoreTest, FlushEndsACountInProgress) {
  storage::MemEngine engine;
  FakeClock clock;
  VersionLimits limits;
  {
    ReplicaStore loader(&engine, &clock, nullptr, 0, &limits);
    for (int i = 0; i < int(ReplicaStore::kRecountInline) + 10; ++i) {
      ASSERT_TRUE(loader.Store(Key(i), Value(i + 1), false, false).ok());
    }
  }
  ReplicaStore store(&engine, &clock, nullptr, 0, &limits);
  ASSERT_TRUE(store.Recount().ok());
  ASSERT_TRUE(store.counting());
  std::vector<storage::WriteOp> wipe;
  ASSERT_TRUE(engine.Scan(kDataPrefix, kDataEnd, 0, [&](std::string_view k, std::string_view) {
    wipe.push_back({storage::WriteOp::Kind::kDelete, std::string(k), {}});
    return true;
  }).ok());
  ASSERT_TRUE(engine.Write(wipe).ok());
  store.ResetAfterFlush();
  EXPECT_FALSE(store.counting());
  EXPECT_EQ(store.key_count(), 0u);
  ASSERT_TRUE(store.Store(Key(1), Value(1), false, false).ok());
  EXPECT_EQ(store.key_count(), 1u);
  EXPECT_EQ(store.live_count(), 1u);
}

// JoinTaking (a write that arrived, given away, its big value maybe only in its encoding)
// leaves the store as Join leaves it: records, counts and all, over writes as coordinators
// make them (concurrent, superseding, stale, duplicated, deletes; big and small values).
TEST(ReplicaStoreTest, JoinTakingStoresWhatJoinStores) {
  storage::MemEngine e_join, e_take, e_bytes;
  FakeClock clock;
  VersionLimits limits;
  ReplicaStore joined(&e_join, &clock, nullptr, 1 << 20, &limits);
  ReplicaStore taken(&e_take, &clock, nullptr, 1 << 20, &limits);
  ReplicaStore from_bytes(&e_bytes, &clock, nullptr, 1 << 20, &limits);
  SeededRandom rnd(11);
  std::vector<Record> coordinators(3);  // each coordinator's copy of the key
  size_t big_kept = 0, small = 0;
  for (int step = 0; step < 200; ++step) {
    std::string key = Key(int(rnd.Uniform(3)));
    size_t who = rnd.Uniform(3);
    Record& r = coordinators[who];
    if (rnd.Uniform(3) == 0) r = Join(r, coordinators[rnd.Uniform(3)]);  // it learned more
    NewValue v;
    if (rnd.Uniform(8) == 0) {
      v.kind = ValueKind::kTombstone;
    } else if (rnd.Uniform(2) == 0) {
      v.value.assign(kEncodeInPlaceBytes + rnd.Uniform(100), char('a' + step % 26));
    } else {
      v.value = "small " + std::to_string(step);
    }
    VersionVector ctx = rnd.Uniform(4) == 0 ? VersionVector() : r.context;  // blind or not
    clock.now_ms += 1;
    ASSERT_TRUE(ApplyWrite(&r, ctx, ActorId(who + 1), v, clock.WallMs(), limits).ok());
    for (int delivery = 0; delivery < (rnd.Uniform(4) == 0 ? 2 : 1); ++delivery) {
      ASSERT_TRUE(joined.Join(key, r).ok());
      ASSERT_TRUE(taken.JoinTaking(key, Record(r)).ok());
      Record versions = r;
      std::string bytes;
      if (HoldsBigValue(r)) {
        bytes = EncodeRecord(r);
        versions.siblings[BiggestValue(versions)].value.clear();
      }
      ASSERT_TRUE(from_bytes.JoinTaking(key, std::move(versions), std::move(bytes)).ok());
      Record want, got, got_bytes;
      bool f1 = false, f2 = false, f3 = false;
      ASSERT_TRUE(joined.Load(key, &want, &f1).ok());
      ASSERT_TRUE(taken.Load(key, &got, &f2).ok());
      ASSERT_TRUE(from_bytes.Load(key, &got_bytes, &f3).ok());
      ASSERT_TRUE(f1 && f2 && f3);
      ASSERT_TRUE(got == want) << "step " << step;
      ASSERT_TRUE(got_bytes == want) << "step " << step;
      ASSERT_EQ(CountsOf(taken), CountsOf(joined));
      ASSERT_EQ(CountsOf(from_bytes), CountsOf(joined));
      (HoldsBigValue(want) && want == r ? big_kept : small)++;
    }
  }
  EXPECT_GT(big_kept, 20u);  // the path that stores the record as it came was taken
  EXPECT_GT(small, 20u);
}

}  // namespace
}  // namespace dynakv::cluster
