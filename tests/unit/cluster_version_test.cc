// Unit tests for cluster/version.h: version vectors, DVV writes and sync, pruning, the record
// codec, context tokens and the PN-counter. Randomized tests are seeded and print the seed
// (SCOPED_TRACE) so a failure replays exactly.
#include "cluster/version.h"

#include <gtest/gtest.h>

#include <cmath>
#include <xxhash.h>

#include <algorithm>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "cluster/env.h"
#include "protocol/resp.h"

namespace dynakv::cluster {
namespace {

// ---- helpers ------------------------------------------------------------------------------

VersionVector RandomVV(Random& rng, int actors, int max_counter) {
  VersionVector vv;
  for (int a = 1; a <= actors; ++a) {
    if (rng.Uniform(3) == 0) continue;
    uint64_t c = 1 + rng.Uniform(max_counter);
    // Timestamps grow with the counter, as they do for a real actor, so Merge's max of
    // timestamps agrees with its max of counters and == is meaningful.
    vv.Raise(a, c, c * 1000 + a);
  }
  return vv;
}

NewValue Plain(std::string v) {
  NewValue nv;
  nv.value = std::move(v);
  return nv;
}

std::multiset<std::string> Values(const Record& r) {
  std::multiset<std::string> out;
  for (const Sibling& s : r.siblings) out.insert(s.value);
  return out;
}

bool SortedByDot(const Record& r) {
  return std::is_sorted(r.siblings.begin(), r.siblings.end(), [](const Sibling& a, const Sibling& b) {
    return std::tie(a.dot.actor, a.dot.counter) < std::tie(b.dot.actor, b.dot.counter);
  });
}

// Every sibling's dot is covered by the record's own context (the DVV invariant).
bool ContextCoversSiblings(const Record& r) {
  for (const Sibling& s : r.siblings)
    if (!r.context.Covers(s.dot)) return false;
  return true;
}

// A small cluster of replicas, each with its own actor, driven by one seed. Clients read a
// replica's context, hold it for a while (it goes stale), then write through some replica;
// replicas sync pairwise with Join. This is how real records come about.
struct Sim {
  explicit Sim(uint64_t seed, int replicas, int clients, VersionLimits lim = {})
      : rng(seed), recs(replicas), client_ctx(clients), limits(lim) {}

  void Step() {
    now += 1 + rng.Uniform(5);
    int r = static_cast<int>(rng.Uniform(recs.size()));
    int c = static_cast<int>(rng.Uniform(client_ctx.size()));
    switch (rng.Uniform(4)) {
      case 0:  // read
        client_ctx[c] = recs[r].context;
        break;
      case 1:
      case 2: {  // write with the (possibly stale) context last read
        NewValue v = Plain("v" + std::to_string(next_value++));
        if (rng.Uniform(8) == 0) v.kind = ValueKind::kTombstone, v.value.clear();
        Status st = ApplyWrite(&recs[r], client_ctx[c], ActorOf(r), v, now, limits);
        ASSERT_TRUE(st.ok()) << st.ToString();
        if (rng.Uniform(2) == 0) client_ctx[c] = recs[r].context;  // DPUT's reply
        break;
      }
      case 3: {  // anti-entropy between two replicas
        int o = static_cast<int>(rng.Uniform(recs.size()));
        Record j = Join(recs[r], recs[o]);
        // A replica may prune whenever it stores a record, so an actor can lose its own
        // entry on its own replica and later reissue low counters.
        Prune(&j, now, limits);
        recs[r] = j;
        if (rng.Uniform(2) == 0) recs[o] = j;
        break;
      }
    }
  }
  static ActorId ActorOf(int r) { return 0x1000 + r; }
  Record JoinAll() const {
    Record all;
    for (const Record& r : recs) all = Join(all, r);
    return all;
  }

  SeededRandom rng;
  std::vector<Record> recs;
  std::vector<VersionVector> client_ctx;
  VersionLimits limits;
  uint64_t now = 1'000'000;
  int next_value = 0;
};

// ---- VersionVector ------------------------------------------------------------------------

TEST(VersionVectorTest, BasicsAndInvariants) {
  VersionVector vv;
  EXPECT_TRUE(vv.empty());
  EXPECT_EQ(vv.Get(7), 0u);
  vv.Raise(7, 0, 5);  // counter 0 never creates an entry
  EXPECT_TRUE(vv.empty());
  vv.Raise(9, 2, 10);
  vv.Raise(3, 1, 20);
  vv.Raise(9, 1, 30);  // lower counter: counter kept, timestamp max'ed
  ASSERT_EQ(vv.size(), 2u);
  EXPECT_EQ(vv.entries()[0].actor, 3u);
  EXPECT_EQ(vv.Get(9), 2u);
  EXPECT_EQ(vv.Find(9)->timestamp_ms, 30u);
  EXPECT_TRUE(vv.Covers({9, 2}));
  EXPECT_FALSE(vv.Covers({9, 3}));
  EXPECT_FALSE(vv.Covers({4, 1}));
  vv.Erase(3);
  EXPECT_EQ(vv.Get(3), 0u);
  EXPECT_EQ(vv.Find(3), nullptr);
}

TEST(VersionVectorTest, MergeIsCommutativeAssociativeIdempotent) {
  for (uint64_t seed = 1; seed <= 500; ++seed) {
    SCOPED_TRACE(seed);
    SeededRandom rng(seed);
    VersionVector a = RandomVV(rng, 6, 5), b = RandomVV(rng, 6, 5), c = RandomVV(rng, 6, 5);
    auto merge = [](VersionVector x, const VersionVector& y) { x.Merge(y); return x; };
    EXPECT_EQ(merge(a, b), merge(b, a));
    EXPECT_EQ(merge(merge(a, b), c), merge(a, merge(b, c)));
    EXPECT_EQ(merge(a, a), a);
    EXPECT_TRUE(merge(a, b).Descends(a));
    EXPECT_TRUE(merge(a, b).Descends(b));
  }
}

TEST(VersionVectorTest, CompareAgreesWithMerge) {
  int seen[4] = {0, 0, 0, 0};
  for (uint64_t seed = 1; seed <= 1000; ++seed) {
    SCOPED_TRACE(seed);
    SeededRandom rng(seed);
    // Few actors and small counters so every ordering shows up often.
    VersionVector a = RandomVV(rng, 3, 2), b = RandomVV(rng, 3, 2);
    VersionVector m = a;
    m.Merge(b);
    Ordering o = a.Compare(b);
    seen[static_cast<int>(o)]++;
    EXPECT_EQ(o == Ordering::kEqual, a == b);
    EXPECT_EQ(o == Ordering::kBefore, m == b && a != b);
    EXPECT_EQ(o == Ordering::kAfter, m == a && a != b);
    EXPECT_EQ(o == Ordering::kConcurrent, m != a && m != b);
    EXPECT_EQ(a.Descends(b), m == a);
    // Compare is antisymmetric.
    Ordering r = b.Compare(a);
    Ordering mirrored = o == Ordering::kBefore  ? Ordering::kAfter
                        : o == Ordering::kAfter ? Ordering::kBefore
                                                : o;
    EXPECT_EQ(r, mirrored);
  }
  for (int k = 0; k < 4; ++k) EXPECT_GT(seen[k], 0) << "ordering " << k << " never generated";
}

TEST(VersionVectorTest, CompareIgnoresTimestamps) {
  VersionVector a, b;
  a.Raise(1, 3, 100);
  b.Raise(1, 3, 999);
  EXPECT_EQ(a.Compare(b), Ordering::kEqual);
  EXPECT_TRUE(a.Descends(b));
}

// ---- ApplyWrite ---------------------------------------------------------------------------

TEST(ApplyWriteTest, FirstWriteAndDot) {
  Record rec;
  Dot dot;
  ASSERT_TRUE(ApplyWrite(&rec, {}, 5, Plain("x"), 100, {}, &dot).ok());
  EXPECT_EQ(dot, (Dot{5, 1}));
  ASSERT_EQ(rec.siblings.size(), 1u);
  EXPECT_EQ(rec.siblings[0].dot, dot);
  EXPECT_EQ(rec.siblings[0].timestamp_ms, 100u);
  EXPECT_EQ(rec.siblings[0].value, "x");
  EXPECT_EQ(rec.context.Get(5), 1u);
  EXPECT_EQ(rec.context.Find(5)->timestamp_ms, 100u);
}

TEST(ApplyWriteTest, CounterIsMaxOfRecordAndContextPlusOne) {
  Record rec;
  ASSERT_TRUE(ApplyWrite(&rec, {}, 5, Plain("a"), 100, {}).ok());
  VersionVector ctx;
  ctx.Raise(5, 7, 150);  // a client context that saw more of actor 5 than this replica
  ctx.Raise(6, 2, 150);
  Dot dot;
  ASSERT_TRUE(ApplyWrite(&rec, ctx, 5, Plain("b"), 200, {}, &dot).ok());
  EXPECT_EQ(dot, (Dot{5, 8}));
  EXPECT_EQ(rec.context.Get(6), 2u);  // context merged in
  EXPECT_EQ(rec.context.Get(5), 8u);
  ASSERT_EQ(rec.siblings.size(), 1u);  // (5,1) covered by ctx
  EXPECT_EQ(rec.siblings[0].value, "b");
}

// DeCandia et al. Figure 3, with DVV: D1..D5 written through Sx, Sy, Sz.
TEST(ApplyWriteTest, PaperShoppingCart) {
  const ActorId sx = 1, sy = 2, sz = 3;
  Record x;
  ASSERT_TRUE(ApplyWrite(&x, {}, sx, Plain("D1"), 10, {}).ok());
  ASSERT_TRUE(ApplyWrite(&x, x.context, sx, Plain("D2"), 20, {}).ok());
  ASSERT_EQ(x.siblings.size(), 1u);
  EXPECT_EQ(x.context.Get(sx), 2u);
  VersionVector read = x.context;  // both clients read D2
  Record y = x, z = x;
  ASSERT_TRUE(ApplyWrite(&y, read, sy, Plain("D3"), 30, {}).ok());
  ASSERT_TRUE(ApplyWrite(&z, read, sz, Plain("D4"), 31, {}).ok());
  Record joined = Join(y, z);
  ASSERT_EQ(joined.siblings.size(), 2u);
  EXPECT_EQ(Values(joined), (std::multiset<std::string>{"D3", "D4"}));
  EXPECT_EQ(joined.context.Get(sx), 2u);
  EXPECT_EQ(joined.context.Get(sy), 1u);
  EXPECT_EQ(joined.context.Get(sz), 1u);
  // The client reconciles and writes with the joined context through Sx.
  ASSERT_TRUE(ApplyWrite(&x, joined.context, sx, Plain("D5"), 40, {}).ok());
  ASSERT_EQ(x.siblings.size(), 1u);
  EXPECT_EQ(x.siblings[0].dot, (Dot{sx, 3}));
  // Every replica converges on D5 alone.
  EXPECT_EQ(Values(Join(Join(x, y), z)), (std::multiset<std::string>{"D5"}));
}

// The same story on one coordinator, as the brief of the store tells it: {A:1}; two
// concurrent updates with the same context; a merged write supersedes both.
TEST(ApplyWriteTest, ConcurrentUpdatesOnOneCoordinator) {
  const ActorId a = 42;
  Record rec;
  ASSERT_TRUE(ApplyWrite(&rec, {}, a, Plain("v1"), 10, {}).ok());
  VersionVector ctx = rec.context;
  EXPECT_EQ(ctx.Get(a), 1u);
  ASSERT_TRUE(ApplyWrite(&rec, ctx, a, Plain("cart+book"), 20, {}).ok());
  ASSERT_TRUE(ApplyWrite(&rec, ctx, a, Plain("cart+pen"), 21, {}).ok());
  ASSERT_EQ(rec.siblings.size(), 2u);
  EXPECT_EQ(Values(rec), (std::multiset<std::string>{"cart+book", "cart+pen"}));
  EXPECT_TRUE(SortedByDot(rec));
  ASSERT_TRUE(ApplyWrite(&rec, rec.context, a, Plain("cart+book+pen"), 30, {}).ok());
  ASSERT_EQ(rec.siblings.size(), 1u);
  EXPECT_EQ(rec.siblings[0].value, "cart+book+pen");
}

TEST(ApplyWriteTest, TombstoneIsAWriteWithItsOwnDot) {
  Record rec;
  ASSERT_TRUE(ApplyWrite(&rec, {}, 1, Plain("x"), 10, {}).ok());
  NewValue del;
  del.kind = ValueKind::kTombstone;
  Dot dot;
  ASSERT_TRUE(ApplyWrite(&rec, rec.context, 1, del, 20, {}, &dot).ok());
  EXPECT_EQ(dot, (Dot{1, 2}));
  EXPECT_TRUE(LiveSiblings(rec, 20).empty());
  EXPECT_TRUE(IsDeleted(rec, 20));
  EXPECT_EQ(Winner(rec, 20), nullptr);
  EXPECT_EQ(rec.context.Get(1), 2u);  // the context still covers the tombstone
}

// N writers that each write with the context they last read (and then the one DPUT returned)
// never produce more than N siblings, over any interleaving (riak_kv#1648). With one record
// the coordinating actor varies per write. With several replicas a read may hit a replica
// that has not yet seen the reader's own last write; the bound then needs monotonic reads
// (a client never forgets what it saw), so there the client merges what it reads.
TEST(ApplyWriteTest, NoSiblingExplosion) {
  for (uint64_t seed = 1; seed <= 400; ++seed) {
    SCOPED_TRACE(seed);
    SeededRandom rng(seed);
    const size_t writers = 1 + rng.Uniform(6);
    const int replicas = seed % 2 ? 1 : 2 + static_cast<int>(rng.Uniform(2));
    std::vector<Record> recs(replicas);
    std::vector<VersionVector> ctx(writers);
    uint64_t now = 1000;
    for (int step = 0; step < 200; ++step) {
      now += 1 + rng.Uniform(3);
      size_t w = rng.Uniform(writers);
      int r = static_cast<int>(rng.Uniform(replicas));
      ActorId actor = replicas == 1 ? 100 + rng.Uniform(3) : 100 + r;
      switch (rng.Uniform(3)) {
        case 0:
          if (replicas == 1) {
            ctx[w] = recs[r].context;
          } else {
            ctx[w].Merge(recs[r].context);
          }
          break;
        case 1:
          ASSERT_TRUE(ApplyWrite(&recs[r], ctx[w], actor, Plain("w"), now, {}).ok());
          ctx[w] = recs[r].context;
          break;
        case 2: {
          int o = static_cast<int>(rng.Uniform(replicas));
          recs[r] = recs[o] = Join(recs[r], recs[o]);
          break;
        }
      }
      for (const Record& rec : recs) ASSERT_LE(rec.siblings.size(), writers);
    }
    Record all;
    for (const Record& rec : recs) all = Join(all, rec);
    EXPECT_LE(all.siblings.size(), writers);
  }
}

TEST(ApplyWriteTest, SiblingLimitLeavesRecordUnchanged) {
  VersionLimits lim;
  lim.max_siblings = 3;
  Record rec;
  for (int i = 0; i < 3; ++i)
    ASSERT_TRUE(ApplyWrite(&rec, {}, 1 + i, Plain("v" + std::to_string(i)), 10 + i, lim).ok());
  ASSERT_EQ(rec.siblings.size(), 3u);
  Record before = rec;
  Dot dot{77, 77};
  Status st = ApplyWrite(&rec, {}, 9, Plain("too many"), 20, lim, &dot);
  EXPECT_EQ(st.code(), Code::kLimit);
  EXPECT_EQ(rec, before);
  EXPECT_EQ(dot, (Dot{77, 77}));  // untouched on failure
  // A write whose context covers a sibling still fits.
  VersionVector ctx;
  ctx.Raise(1, 1, 10);
  ASSERT_TRUE(ApplyWrite(&rec, ctx, 9, Plain("replaces v0"), 21, lim).ok());
  EXPECT_EQ(rec.siblings.size(), 3u);
  // And a write with the full context collapses everything.
  ASSERT_TRUE(ApplyWrite(&rec, rec.context, 9, Plain("all"), 22, lim).ok());
  EXPECT_EQ(rec.siblings.size(), 1u);
}

// ---- Join ---------------------------------------------------------------------------------

TEST(JoinTest, CommutativeAssociativeIdempotentOnSimulatedHistories) {
  for (uint64_t seed = 1; seed <= 300; ++seed) {
    SCOPED_TRACE(seed);
    Sim sim(seed, 4, 5);
    std::vector<Record> snapshots;
    for (int step = 0; step < 120; ++step) {
      sim.Step();
      if (step % 10 == 9) snapshots.push_back(sim.recs[sim.rng.Uniform(sim.recs.size())]);
    }
    for (const Record& r : sim.recs) snapshots.push_back(r);
    for (int k = 0; k < 20; ++k) {
      const Record& a = snapshots[sim.rng.Uniform(snapshots.size())];
      const Record& b = snapshots[sim.rng.Uniform(snapshots.size())];
      const Record& c = snapshots[sim.rng.Uniform(snapshots.size())];
      Record ab = Join(a, b);
      ASSERT_EQ(ab, Join(b, a));
      ASSERT_EQ(Join(ab, c), Join(a, Join(b, c)));
      ASSERT_EQ(Join(a, a), a);
      ASSERT_EQ(Join(ab, a), ab);  // absorbing what one already has changes nothing
      ASSERT_TRUE(SortedByDot(ab));
      ASSERT_TRUE(ContextCoversSiblings(ab));
    }
  }
}

TEST(JoinTest, WithEmptyIsIdentity) {
  Sim sim(7, 3, 3);
  for (int i = 0; i < 100; ++i) sim.Step();
  for (const Record& r : sim.recs) {
    EXPECT_EQ(Join(r, Record{}), r);
    EXPECT_EQ(Join(Record{}, r), r);
  }
}

// JoinKeeps(r) promises Join(Record{}, r) == r, which lets a read quorum take its first
// reply as the join so far without copying it; it must say no to every record Join would
// change: siblings out of order, a write twice, several siblings where one is lww.
TEST(JoinTest, JoinKeepsExactlyTheRecordsJoinLeavesAlone) {
  size_t kept = 0, changed = 0;
  for (uint64_t seed = 1; seed <= 200; ++seed) {
    SCOPED_TRACE(seed);
    Sim sim(seed, 3, 4);
    for (int i = 0; i < 60; ++i) sim.Step();
    for (Record r : sim.recs) {
      // Disorder a copy at random: reversed siblings, a sibling twice, an lww mark.
      switch (sim.rng.Uniform(4)) {
        case 0: std::reverse(r.siblings.begin(), r.siblings.end()); break;
        case 1: if (!r.siblings.empty()) r.siblings.push_back(r.siblings.back()); break;
        case 2: if (!r.siblings.empty()) r.siblings[sim.rng.Uniform(r.siblings.size())].lww = true; break;
        default: break;
      }
      bool same = Join(Record{}, r) == r;
      ASSERT_EQ(JoinKeeps(r), same);
      (same ? kept : changed)++;
    }
  }
  EXPECT_GT(kept, 100u);  // both answers were exercised
  EXPECT_GT(changed, 100u);
}

// Join reads canonical inputs in place and sorts a copy of any other: siblings in any order
// give the same join.
TEST(JoinTest, SiblingOrderOfTheInputsDoesNotMatter) {
  size_t shuffled = 0;
  for (uint64_t seed = 1; seed <= 100; ++seed) {
    SCOPED_TRACE(seed);
    Sim sim(seed, 3, 4);
    for (int i = 0; i < 80; ++i) sim.Step();
    for (size_t i = 0; i + 1 < sim.recs.size(); ++i) {
      Record a = sim.recs[i], b = sim.recs[i + 1];
      Record want = Join(a, b);
      std::reverse(a.siblings.begin(), a.siblings.end());
      std::rotate(b.siblings.begin(), b.siblings.begin() + (b.siblings.empty() ? 0 : 1), b.siblings.end());
      shuffled += a.siblings.size() > 1 || b.siblings.size() > 1;
      ASSERT_EQ(Join(a, b), want);
      ASSERT_EQ(Join(b, a), want);
    }
  }
  EXPECT_GT(shuffled, 50u);
}

TEST(JoinTest, ConvergesAndKeepsEveryUnsupersededWrite) {
  for (uint64_t seed = 1; seed <= 100; ++seed) {
    SCOPED_TRACE(seed);
    Sim sim(seed, 3, 4);
    for (int i = 0; i < 150; ++i) sim.Step();
    Record all = sim.JoinAll();
    // Joining in any order reaches the same state.
    Record rev;
    for (auto it = sim.recs.rbegin(); it != sim.recs.rend(); ++it) rev = Join(*it, rev);
    EXPECT_EQ(all, rev);
    // A client that read `all` and writes supersedes every sibling.
    Record r = all;
    ASSERT_TRUE(ApplyWrite(&r, all.context, 999, Plain("final"), sim.now + 1, {}).ok());
    EXPECT_EQ(r.siblings.size(), 1u);
    for (const Record& rep : sim.recs) EXPECT_EQ(Values(Join(rep, r)), Values(r));
  }
}

// ---- Prune --------------------------------------------------------------------------------

TEST(PruneTest, RespectsSmallBigYoungOld) {
  VersionLimits lim;
  lim.prune_small = 3;
  lim.prune_big = 6;
  lim.prune_young_ms = 100;
  lim.prune_old_ms = 1000;
  const uint64_t now = 100'000;

  Record rec;
  // 10 entries, all between young and old: only "big" applies -> down to 6.
  for (ActorId a = 1; a <= 10; ++a) rec.context.Raise(a, 1, now - 500 - a);
  Record r = rec;
  Prune(&r, now, lim);
  EXPECT_EQ(r.context.size(), 6u);
  EXPECT_EQ(r.context.Get(10), 0u);  // the oldest went first
  EXPECT_EQ(r.context.Get(1), 1u);

  // All old: down to small.
  r = Record{};
  for (ActorId a = 1; a <= 10; ++a) r.context.Raise(a, 1, now - 5000 - a);
  Prune(&r, now, lim);
  EXPECT_EQ(r.context.size(), 3u);

  // All young: nothing, however many.
  r = Record{};
  for (ActorId a = 1; a <= 20; ++a) r.context.Raise(a, 1, now - 10);
  Prune(&r, now, lim);
  EXPECT_EQ(r.context.size(), 20u);

  // At most small: nothing, however old.
  r = Record{};
  for (ActorId a = 1; a <= 3; ++a) r.context.Raise(a, 1, 1);
  Prune(&r, now, lim);
  EXPECT_EQ(r.context.size(), 3u);

  // Timestamps from the future (clock skew) count as young.
  r = Record{};
  for (ActorId a = 1; a <= 10; ++a) r.context.Raise(a, 1, now + 5000);
  Prune(&r, now, lim);
  EXPECT_EQ(r.context.size(), 10u);
}

TEST(PruneTest, NeverDropsAnEntryASiblingNames) {
  VersionLimits lim;
  lim.prune_small = 2;
  lim.prune_big = 4;
  lim.prune_young_ms = 0;
  lim.prune_old_ms = 0;
  const uint64_t now = 1'000'000;
  Record rec;
  for (ActorId a = 1; a <= 30; ++a) rec.context.Raise(a, 3, a);  // all ancient
  for (ActorId a : {1, 5, 17, 29, 30}) {
    Sibling s;
    s.dot = {a, 2};
    s.timestamp_ms = a;
    s.value = std::to_string(a);
    rec.siblings.push_back(s);
  }
  Prune(&rec, now, lim);
  EXPECT_EQ(rec.context.size(), 5u);  // only the pinned ones remain, more than small
  EXPECT_TRUE(ContextCoversSiblings(rec));
  EXPECT_EQ(rec.siblings.size(), 5u);
}

TEST(PruneTest, ApplyWriteBoundsContextSize) {
  VersionLimits lim;
  lim.prune_small = 4;
  lim.prune_big = 8;
  lim.prune_young_ms = 10;
  lim.prune_old_ms = 1000;
  Record rec;
  uint64_t now = 1000;
  // 200 incarnations each overwrite the key with the full context, far apart in time.
  for (ActorId a = 1; a <= 200; ++a) {
    now += 50;
    ASSERT_TRUE(ApplyWrite(&rec, rec.context, a, Plain("x"), now, lim).ok());
    ASSERT_LE(rec.context.size(), lim.prune_big);
    ASSERT_EQ(rec.siblings.size(), 1u);
    ASSERT_TRUE(ContextCoversSiblings(rec));
  }
}

// The same random history run twice, once with an aggressively pruning configuration: the
// pruned run may show extra siblings (false conflicts) but never loses a write that the
// unpruned run kept. Pruned actors keep writing, so dots get reissued.
TEST(PruneTest, PrunedClocksOnlyAddSiblings) {
  VersionLimits keep;
  keep.max_siblings = 1000;
  keep.prune_small = 1000;
  keep.prune_big = 1000;
  VersionLimits aggressive = keep;
  aggressive.prune_small = 1;
  aggressive.prune_big = 2;
  aggressive.prune_young_ms = 3;
  aggressive.prune_old_ms = 6;
  int extra_total = 0;
  for (uint64_t seed = 1; seed <= 300; ++seed) {
    SCOPED_TRACE(seed);
    Sim plain(seed, 4, 4, keep), pruned(seed, 4, 4, aggressive);
    for (int i = 0; i < 150; ++i) {
      plain.Step();
      pruned.Step();
      if (HasFatalFailure()) return;
    }
    std::multiset<std::string> want = Values(plain.JoinAll());
    std::multiset<std::string> got = Values(pruned.JoinAll());
    for (const std::string& v : want) EXPECT_TRUE(got.count(v)) << "lost write " << v;
    extra_total += static_cast<int>(got.size()) - static_cast<int>(want.size());
    // Every replica individually too: what a replica keeps unpruned, it keeps pruned.
    for (size_t r = 0; r < plain.recs.size(); ++r) {
      std::multiset<std::string> pw = Values(plain.recs[r]), pg = Values(pruned.recs[r]);
      for (const std::string& v : pw) EXPECT_TRUE(pg.count(v)) << "replica " << r << " lost " << v;
    }
  }
  EXPECT_GT(extra_total, 0) << "pruning never bit; the test exercises nothing";
}

// The hazard Supersedes() exists for: an actor's entry is pruned, it reissues (A,1), and a
// replica whose context still says A:5 must not mistake the new write for an old one.
TEST(PruneTest, ReissuedDotIsNotCoveredByOldContext) {
  const ActorId a = 1, b = 2;
  Record ra;
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(ApplyWrite(&ra, ra.context, a, Plain("old"), 10 + i, {}).ok());
  ASSERT_TRUE(ApplyWrite(&ra, ra.context, b, Plain("b"), 20, {}).ok());
  Record other = ra;  // a replica that saw A:5
  ASSERT_EQ(other.context.Get(a), 5u);
  ra.context.Erase(a);  // what Prune() does to an unpinned, old entry
  Dot dot;
  ASSERT_TRUE(ApplyWrite(&ra, {}, a, Plain("new"), 1000, {}, &dot).ok());
  EXPECT_EQ(dot, (Dot{a, 1}));  // the dot is reissued...
  Record j = Join(ra, other);
  EXPECT_EQ(Values(j), (std::multiset<std::string>{"b", "new"}));  // ...but not lost
  EXPECT_EQ(j, Join(other, ra));
  // A client holding the old context (A:5) writing via B does not drop it either.
  Record rb = j;
  ASSERT_TRUE(ApplyWrite(&rb, other.context, b, Plain("b2"), 1001, {}).ok());
  EXPECT_EQ(Values(rb), (std::multiset<std::string>{"b2", "new"}));
}

// ---- Winner / ResolveValue ----------------------------------------------------------------

Sibling MakeSibling(ActorId a, uint64_t c, uint64_t ts, std::string v,
                    ValueKind k = ValueKind::kPlain, uint64_t expiry = 0) {
  Sibling s;
  s.dot = {a, c};
  s.timestamp_ms = ts;
  s.kind = k;
  s.value = std::move(v);
  s.expiry_ms = expiry;
  return s;
}

// JoinTakingValues is Join, with the big plain values moved out of its inputs (their versions
// stay, SameVersions as before) rather than copied; small values and counters are copied.
TEST(JoinTest, JoinTakingValuesIsJoinWithoutCopies) {
  size_t moved = 0;
  for (uint64_t seed = 1; seed <= 60; ++seed) {
    SCOPED_TRACE(seed);
    Sim sim(seed, 3, 3);
    for (int i = 0; i < 40; ++i) sim.Step();
    for (size_t x = 0; x < sim.recs.size(); ++x) {
      for (size_t y = 0; y < sim.recs.size(); ++y) {
        Record a = sim.recs[x], b = sim.recs[y];
        // Make some values big: the same bytes for the same write on both sides.
        for (Record* r : {&a, &b}) {
          for (Sibling& sib : r->siblings) {
            if (sib.kind == ValueKind::kPlain && sib.dot.counter % 2 == 0) {
              sib.value = std::string(kEncodeInPlaceBytes, char('a' + sib.dot.counter % 26)) + sib.value;
            }
          }
        }
        const Record want = Join(a, b);
        Record ta = a, tb = b;
        Record got = JoinTakingValues(ta, tb);
        ASSERT_EQ(got, want);
        EXPECT_TRUE(SameVersions(ta, a));
        EXPECT_TRUE(SameVersions(tb, b));
        for (size_t i = 0; i < a.siblings.size(); ++i) {
          bool big = a.siblings[i].kind == ValueKind::kPlain && a.siblings[i].value.size() >= kEncodeInPlaceBytes;
          if (big) ++moved;
          EXPECT_EQ(ta.siblings[i].value, big ? std::string() : a.siblings[i].value);
        }
      }
    }
  }
  EXPECT_GT(moved, 100u);
}

// SameRecord is == except that a plain value's or tombstone's bytes are not compared (its
// write names it); a counter's value, which merges under one dot, is. On every pair of
// simulated replicas it agrees with == wherever the values are those of their writes.
TEST(JoinTest, SameRecordIsEqualityOfWrites) {
  for (uint64_t seed = 1; seed <= 100; ++seed) {
    SCOPED_TRACE(seed);
    Sim sim(seed, 3, 4);
    for (int i = 0; i < 60; ++i) sim.Step();
    for (const Record& a : sim.recs) {
      for (const Record& b : sim.recs) ASSERT_EQ(SameRecord(a, b), a == b);
      Record other = a;
      for (Sibling& sib : other.siblings) sib.value += "!";  // same writes, other bytes
      EXPECT_TRUE(SameRecord(a, other));
      EXPECT_TRUE(SameVersions(a, other));
      if (!a.siblings.empty()) {
        other = a;
        other.siblings[0].expiry_ms += 1;
        EXPECT_FALSE(SameRecord(a, other));
        other = a;
        other.siblings[0].dot.counter += 1000;
        EXPECT_FALSE(SameRecord(a, other));
      }
      other = a;
      other.context.Raise(99, 1, 5);
      EXPECT_FALSE(SameRecord(a, other));
    }
  }
  Record c1, c2;
  c1.siblings = {MakeSibling(1, 1, 10, EncodeCounter(PNCounter{}), ValueKind::kCounter)};
  PNCounter more;
  more.Add(1, 5);
  c2.siblings = {MakeSibling(1, 1, 10, EncodeCounter(more), ValueKind::kCounter)};
  EXPECT_TRUE(SameVersions(c1, c2));
  EXPECT_FALSE(SameRecord(c1, c2));  // a counter's state is compared
  EXPECT_TRUE(SameRecord(c2, c2));
}

TEST(WinnerTest, NewestThenLargerDot) {
  Record r;
  r.siblings = {MakeSibling(1, 1, 50, "a"), MakeSibling(2, 1, 70, "b"), MakeSibling(3, 1, 60, "c")};
  ASSERT_NE(Winner(r, 0), nullptr);
  EXPECT_EQ(Winner(r, 0)->value, "b");
  // Tie on timestamp: the larger actor wins, then the larger counter.
  r.siblings = {MakeSibling(5, 1, 70, "x"), MakeSibling(2, 9, 70, "y"), MakeSibling(5, 2, 70, "z")};
  EXPECT_EQ(Winner(r, 0)->value, "z");
  // Newest is a tombstone: nothing.
  r.siblings = {MakeSibling(1, 1, 50, "a"), MakeSibling(2, 1, 70, "", ValueKind::kTombstone)};
  EXPECT_EQ(Winner(r, 0), nullptr);
  std::string v;
  EXPECT_TRUE(ResolveValue(r, 0, &v).IsNotFound());
  // Newest is expired: the next one wins, tombstone or not.
  r.siblings = {MakeSibling(1, 1, 50, "a"), MakeSibling(2, 1, 70, "b", ValueKind::kPlain, 100)};
  EXPECT_EQ(Winner(r, 99)->value, "b");
  EXPECT_EQ(Winner(r, 100)->value, "a");
  EXPECT_EQ(LiveSiblings(r, 100).size(), 1u);
  EXPECT_FALSE(IsDeleted(r, 100));
  r.siblings[0].expiry_ms = 80;
  EXPECT_EQ(Winner(r, 100), nullptr);
  EXPECT_TRUE(IsDeleted(r, 100));
  EXPECT_EQ(Winner(Record{}, 0), nullptr);
  EXPECT_TRUE(IsDeleted(Record{}, 0));
}

TEST(WinnerTest, DeterministicAcrossReplicasAndOrder) {
  for (uint64_t seed = 1; seed <= 200; ++seed) {
    SCOPED_TRACE(seed);
    Sim sim(seed, 3, 4);
    for (int i = 0; i < 80; ++i) sim.Step();
    Record a = Join(Join(sim.recs[0], sim.recs[1]), sim.recs[2]);
    Record b = Join(sim.recs[2], Join(sim.recs[1], sim.recs[0]));
    const Sibling* wa = Winner(a, sim.now);
    const Sibling* wb = Winner(b, sim.now);
    ASSERT_EQ(wa == nullptr, wb == nullptr);
    if (wa != nullptr) {
      EXPECT_EQ(*wa, *wb);
    }
    // Shuffling the sibling vector does not change the choice.
    Record shuffled = a;
    std::reverse(shuffled.siblings.begin(), shuffled.siblings.end());
    const Sibling* ws = Winner(shuffled, sim.now);
    ASSERT_EQ(ws == nullptr, wa == nullptr);
    if (ws != nullptr) {
      EXPECT_EQ(*ws, *wa);
    }
  }
}

TEST(ResolveValueTest, PlainAndCounter) {
  Record r;
  r.siblings = {MakeSibling(1, 1, 10, "hello")};
  std::string v;
  const Sibling* w = nullptr;
  ASSERT_TRUE(ResolveValue(r, 0, &v, &w).ok());
  EXPECT_EQ(v, "hello");
  EXPECT_EQ(w, &r.siblings[0]);

  PNCounter c1, c2;
  c1.base = 10;
  c1.Add(1, 5);
  c2.base = 10;
  c2.Add(2, -3);
  r.siblings = {MakeSibling(1, 1, 10, EncodeCounter(c1), ValueKind::kCounter),
                MakeSibling(2, 1, 20, EncodeCounter(c2), ValueKind::kCounter),
                MakeSibling(3, 1, 5, "plain, older")};
  ASSERT_TRUE(ResolveValue(r, 0, &v).ok());
  EXPECT_EQ(v, "12");
  // An expired counter sibling does not count.
  r.siblings[0].expiry_ms = 50;
  ASSERT_TRUE(ResolveValue(r, 60, &v).ok());
  EXPECT_EQ(v, "7");
  // A corrupt counter payload is reported, not guessed at.
  r.siblings[1].value = "\x01";
  EXPECT_EQ(ResolveValue(r, 0, &v).code(), Code::kCorruption);
}

// INCR on two partitioned replicas, each merging what it knows and adding in its own slot:
// after sync the value counts every increment.
TEST(ResolveValueTest, ConcurrentIncrementsLoseNothing) {
  for (uint64_t seed = 1; seed <= 100; ++seed) {
    SCOPED_TRACE(seed);
    SeededRandom rng(seed);
    std::vector<Record> recs(3);
    uint64_t now = 1000;
    int64_t expected = 0;
    for (int step = 0; step < 60; ++step) {
      ++now;
      int r = static_cast<int>(rng.Uniform(3));
      if (rng.Uniform(4) == 0) {
        int o = static_cast<int>(rng.Uniform(3));
        recs[r] = recs[o] = Join(recs[r], recs[o]);
        continue;
      }
      PNCounter c;
      for (const Sibling& s : recs[r].siblings) {
        PNCounter part;
        ASSERT_TRUE(DecodeCounter(s.value, &part).ok());
        c.Merge(part);
      }
      int64_t delta = static_cast<int64_t>(rng.Uniform(21)) - 10;
      c.Add(7 + r, delta);
      expected += delta;
      NewValue nv;
      nv.kind = ValueKind::kCounter;
      nv.value = EncodeCounter(c);
      ASSERT_TRUE(ApplyWrite(&recs[r], recs[r].context, 7 + r, nv, now, {}).ok());
    }
    Record all = Join(Join(recs[0], recs[1]), recs[2]);
    std::string v;
    if (all.siblings.empty()) continue;
    ASSERT_TRUE(ResolveValue(all, now, &v).ok());
    EXPECT_EQ(v, std::to_string(expected));
  }
}

// ---- PNCounter ----------------------------------------------------------------------------

TEST(PNCounterTest, AddMergeValue) {
  PNCounter a, b;
  a.base = 100;
  a.Add(2, 5);
  a.Add(1, -7);
  a.Add(2, 0);
  ASSERT_EQ(a.slots.size(), 2u);
  EXPECT_EQ(a.slots[0].actor, 1u);  // sorted
  EXPECT_EQ(a.slots[0].dec, 7u);
  EXPECT_EQ(a.Value(), 98);
  b = a;
  b.Add(3, 10);
  a.Add(2, 1);
  PNCounter m = a;
  m.Merge(b);
  EXPECT_EQ(m.Value(), 100 + 6 - 7 + 10);
  PNCounter m2 = b;
  m2.Merge(a);
  EXPECT_EQ(m, m2);
  PNCounter m3 = m;
  m3.Merge(m);
  EXPECT_EQ(m3, m);
}

TEST(PNCounterTest, ExtremesWrap) {
  PNCounter c;
  c.base = std::numeric_limits<int64_t>::max();
  c.Add(1, 1);
  EXPECT_EQ(c.Value(), std::numeric_limits<int64_t>::min());
  PNCounter d;
  d.Add(1, std::numeric_limits<int64_t>::min());
  EXPECT_EQ(d.slots[0].dec, uint64_t{1} << 63);
  EXPECT_EQ(d.Value(), std::numeric_limits<int64_t>::min());
}

TEST(PNCounterTest, CodecRoundTripAndTruncation) {
  for (uint64_t seed = 1; seed <= 200; ++seed) {
    SCOPED_TRACE(seed);
    SeededRandom rng(seed);
    PNCounter c;
    c.base = static_cast<int64_t>(rng.Next());
    for (int i = 0; i < 5; ++i) c.Add(rng.Uniform(4), static_cast<int64_t>(rng.Next()));
    std::string enc = EncodeCounter(c);
    PNCounter d;
    ASSERT_TRUE(DecodeCounter(enc, &d).ok());
    EXPECT_EQ(c, d);
    for (size_t n = 0; n < enc.size(); ++n)
      EXPECT_EQ(DecodeCounter(enc.substr(0, n), &d).code(), Code::kCorruption) << n;
    EXPECT_EQ(DecodeCounter(enc + "x", &d).code(), Code::kCorruption);
  }
}

// ---- FloatCounter (sorted-set scores) ------------------------------------------------------

TEST(FloatCounterTest, AddMergeValue) {
  FloatCounter a;
  a.base = 1.5;
  a.Add(2, 2.25);
  a.Add(1, -0.5);
  a.Add(2, 0);
  ASSERT_EQ(a.slots.size(), 2u);
  EXPECT_EQ(a.slots[0].actor, 1u);  // sorted
  EXPECT_EQ(a.slots[0].dec, 0.5);
  EXPECT_EQ(a.Value(), 3.25);
  FloatCounter b = a;
  b.Add(3, 10);
  a.Add(2, 1);
  FloatCounter m = a;
  m.Merge(b);
  EXPECT_EQ(m.Value(), 1.5 + 3.25 - 0.5 + 10);
  // inf - inf from two actors reads as 0, never NaN.
  FloatCounter inf;
  inf.Add(1, std::numeric_limits<double>::infinity());
  inf.Add(2, -std::numeric_limits<double>::infinity());
  EXPECT_EQ(inf.Value(), 0.0);
}

// Merge is commutative, associative and idempotent, and every replica computes the same
// value bits from the merged state, over random histories of three actors.
TEST(FloatCounterTest, MergeIsACrdtJoinOverRandomHistories) {
  for (uint64_t seed = 1; seed <= 300; ++seed) {
    SCOPED_TRACE(seed);
    SeededRandom rng(seed);
    std::vector<FloatCounter> replica(3);
    for (int step = 0; step < 30; ++step) {
      size_t r = rng.Uniform(3);
      if (rng.Uniform(3) == 0) {
        replica[r].Merge(replica[rng.Uniform(3)]);
      } else {
        double d = (static_cast<double>(rng.Uniform(2001)) - 1000.0) / 8;  // exact in binary
        replica[r].Add(r + 1, d);
      }
    }
    const FloatCounter &x = replica[0], &y = replica[1], &z = replica[2];
    FloatCounter xy = x, yx = y;
    xy.Merge(y);
    yx.Merge(x);
    EXPECT_EQ(xy, yx);
    FloatCounter xy_z = xy, y_z = y;
    xy_z.Merge(z);
    y_z.Merge(z);
    FloatCounter x_yz = x;
    x_yz.Merge(y_z);
    EXPECT_EQ(xy_z, x_yz);
    FloatCounter xx = x;
    xx.Merge(x);
    EXPECT_EQ(xx, x);
    // Every increment counts once: the merge of all equals the sum of each actor's adds.
    double want = 0;
    for (const auto& s : xy_z.slots) want += s.inc - s.dec;
    EXPECT_EQ(xy_z.Value(), want);
  }
}

// ---- LongFloatCounter (HINCRBYFLOAT) ------------------------------------------------------

// The join laws over random histories of three actors, with increments that are not exact
// in binary (0.1 is HINCRBYFLOAT's usual step): the merged state holds each actor's running
// sum of its own adds, bit for bit.
TEST(LongFloatCounterTest, MergeIsACrdtJoinOverRandomHistories) {
  for (uint64_t seed = 1; seed <= 300; ++seed) {
    SCOPED_TRACE(seed);
    SeededRandom rng(seed);
    std::vector<LongFloatCounter> replica(3);
    std::vector<long double> own(3, 0);  // each actor's adds, summed in order
    for (int step = 0; step < 30; ++step) {
      size_t r = rng.Uniform(3);
      if (rng.Uniform(3) == 0) {
        replica[r].Merge(replica[rng.Uniform(3)]);
      } else {
        long double d = (static_cast<long double>(rng.Uniform(2001)) - 1000.0L) / 10;
        replica[r].Add(r + 1, d);
        own[r] += d;
      }
    }
    const LongFloatCounter &x = replica[0], &y = replica[1], &z = replica[2];
    LongFloatCounter xy = x, yx = y;
    xy.Merge(y);
    yx.Merge(x);
    EXPECT_EQ(xy, yx);
    LongFloatCounter xy_z = xy, y_z = y;
    xy_z.Merge(z);
    y_z.Merge(z);
    LongFloatCounter x_yz = x;
    x_yz.Merge(y_z);
    EXPECT_EQ(xy_z, x_yz);
    LongFloatCounter xx = x;
    xx.Merge(x);
    EXPECT_EQ(xx, x);
    long double want = 0;
    for (size_t a = 0; a < 3; a++) want += own[a];
    EXPECT_EQ(xy_z.Value(), want);
  }
}

// A running sum per actor loses nothing to a large swing, as Redis's one running sum does
// not (separate sums of the positive and negative adds would read 1e20 + 1 - 1e20 = 0).
TEST(LongFloatCounterTest, LargeSwingsKeepSmallIncrements) {
  LongFloatCounter c;
  c.Add(1, 1e20L);
  c.Add(1, -1e20L);
  c.Add(1, 1);
  EXPECT_EQ(c.Value(), 1);
  // Folding counters into a fresh one keeps a negative base (SET k -5, INCR k is -4).
  LongFloatCounter neg;
  neg.base = -5;
  neg.Add(2, 1);
  LongFloatCounter total;
  bool any = false;
  MergeCounterInto(&total, &any, neg);
  EXPECT_EQ(total.Value(), -4);
  PNCounter pn;
  pn.base = -5;
  pn.Add(2, 1);
  PNCounter pn_total;
  any = false;
  MergeCounterInto(&pn_total, &any, pn);
  EXPECT_EQ(pn_total.Value(), -4);
}

// One actor's increments from a new field give exactly Redis's sequential long double sum,
// formatted as Redis formats it.
TEST(LongFloatCounterTest, OneActorMatchesRedisSequentialSums) {
  LongFloatCounter c;
  long double redis = 0;
  for (long double d : {0.1L, 0.2L, 0.3L, 10.5L, 0.1L}) {
    c.Add(7, d);
    redis += d;
    EXPECT_EQ(c.Value(), redis);
  }
  EXPECT_EQ(protocol::FormatRedisLongDouble(c.Value()), "11.2");
  LongFloatCounter h;
  h.base = 10.5L;
  h.Add(1, 0.1L);
  EXPECT_EQ(protocol::FormatRedisLongDouble(h.Value()), "10.6");  // not 10.59999999999999964
}

TEST(LongFloatCounterTest, CodecRoundTripAndRefusals) {
  for (uint64_t seed = 1; seed <= 100; ++seed) {
    SCOPED_TRACE(seed);
    SeededRandom rng(seed);
    LongFloatCounter c;
    c.base = static_cast<long double>(static_cast<int64_t>(rng.Next())) / 1000;
    for (int i = 0; i < 5; ++i) c.Add(rng.Uniform(4), static_cast<long double>(static_cast<int32_t>(rng.Next())) / 7);
    c.Add(9, 1e4000L);  // beyond double's range: long double keeps it
    std::string enc = EncodeLongFloatCounter(c);
    EXPECT_TRUE(IsLongFloatCounter(enc));
    EXPECT_FALSE(IsFloatCounter(enc));
    LongFloatCounter d;
    ASSERT_TRUE(DecodeLongFloatCounter(enc, &d).ok());
    EXPECT_EQ(c, d);  // exact: every bit of each long double survives
    for (size_t n = 0; n < enc.size(); ++n)
      EXPECT_EQ(DecodeLongFloatCounter(enc.substr(0, n), &d).code(), Code::kCorruption) << n;
    EXPECT_EQ(DecodeLongFloatCounter(enc + "x", &d).code(), Code::kCorruption);
    // No other counter's codec takes these bytes, nor this one theirs.
    PNCounter p;
    FloatCounter f;
    EXPECT_EQ(DecodeCounter(enc, &p).code(), Code::kCorruption);
    EXPECT_EQ(DecodeFloatCounter(enc, &f).code(), Code::kCorruption);
    EXPECT_EQ(DecodeLongFloatCounter(EncodeCounter(p), &d).code(), Code::kCorruption);
    EXPECT_EQ(DecodeLongFloatCounter(EncodeFloatCounter(f), &d).code(), Code::kCorruption);
  }
  // A slot with no increment (seq 0) is refused.
  LongFloatCounter one;
  one.Add(1, 2.5L);
  std::string enc = EncodeLongFloatCounter(one);
  std::string bad = enc;
  ASSERT_EQ(bad[1 + 10 + 1 + 8], 1);  // the slot's seq
  bad[1 + 10 + 1 + 8] = 0;
  LongFloatCounter d;
  EXPECT_EQ(DecodeLongFloatCounter(bad, &d).code(), Code::kCorruption);
}

TEST(LongFloatCounterTest, FloatAddPayloadRoundTrips) {
  long double delta = 0, base = 0;
  bool has_base = true;
  ASSERT_TRUE(DecodeFloatAdd(EncodeFloatAdd(0.1L, nullptr), &delta, &has_base, &base));
  EXPECT_EQ(delta, 0.1L);
  EXPECT_FALSE(has_base);
  long double b = -1e300L;
  ASSERT_TRUE(DecodeFloatAdd(EncodeFloatAdd(-3.25L, &b), &delta, &has_base, &base));
  EXPECT_EQ(delta, -3.25L);
  EXPECT_TRUE(has_base);
  EXPECT_EQ(base, b);
  EXPECT_FALSE(DecodeFloatAdd("", &delta, &has_base, &base));
  EXPECT_FALSE(DecodeFloatAdd(EncodeFloatAdd(1, nullptr) + "x", &delta, &has_base, &base));
  EXPECT_FALSE(DecodeFloatAdd("12.5", &delta, &has_base, &base));
  if constexpr (std::numeric_limits<long double>::digits == 64) {
    // The x87 bytes, pinned (tests/fuzz/corpus/counter_fuzz/float_add_with_base holds them):
    // 0.1 = 0xCCCCCCCCCCCCCCCD x 2^(-3-64), 10.5 = 0xA8 << 56 x 2^(4-64).
    long double ten = 10.5L;
    std::string enc = EncodeFloatAdd(0.1L, &ten);
    static const char kHex[] = "0123456789abcdef";
    std::string hex;
    for (unsigned char ch : enc) hex += {kHex[ch >> 4], kHex[ch & 15]};
    EXPECT_EQ(hex, "00cdcccccccccccccc05010000000000000000a808");
  }
}

TEST(FloatCounterTest, CodecRoundTripAndRefusals) {
  for (uint64_t seed = 1; seed <= 100; ++seed) {
    SCOPED_TRACE(seed);
    SeededRandom rng(seed);
    FloatCounter c;
    c.base = static_cast<double>(static_cast<int64_t>(rng.Next())) / 1024;
    for (int i = 0; i < 5; ++i) c.Add(rng.Uniform(4), static_cast<double>(static_cast<int32_t>(rng.Next())) / 3);
    std::string enc = EncodeFloatCounter(c);
    EXPECT_TRUE(IsFloatCounter(enc));
    FloatCounter d;
    ASSERT_TRUE(DecodeFloatCounter(enc, &d).ok());
    EXPECT_EQ(c, d);
    for (size_t n = 0; n < enc.size(); ++n)
      EXPECT_EQ(DecodeFloatCounter(enc.substr(0, n), &d).code(), Code::kCorruption) << n;
    EXPECT_EQ(DecodeFloatCounter(enc + "x", &d).code(), Code::kCorruption);
    // The integer counter's codec and this one refuse each other's bytes.
    PNCounter p;
    EXPECT_EQ(DecodeCounter(enc, &p).code(), Code::kCorruption);
    EXPECT_FALSE(IsFloatCounter(EncodeCounter(p)));
    EXPECT_EQ(DecodeFloatCounter(EncodeCounter(p), &d).code(), Code::kCorruption);
  }
  // A NaN base or a negative slot is corruption.
  FloatCounter bad;
  bad.base = std::nan("");
  FloatCounter d;
  EXPECT_EQ(DecodeFloatCounter(EncodeFloatCounter(bad), &d).code(), Code::kCorruption);
  FloatCounter neg;
  neg.slots.push_back({1, -1.0, 0});
  EXPECT_EQ(DecodeFloatCounter(EncodeFloatCounter(neg), &d).code(), Code::kCorruption);
  FloatCounter unsorted;
  unsorted.slots = {{2, 1, 0}, {1, 1, 0}};
  EXPECT_EQ(DecodeFloatCounter(EncodeFloatCounter(unsorted), &d).code(), Code::kCorruption);
}

// ---- Record codec -------------------------------------------------------------------------

Record RandomRecord(Random& rng) {
  Record r;
  for (ActorId a = 1; a <= rng.Uniform(6); ++a) r.context.Raise(rng.Next() | 1, 1 + rng.Uniform(1000), rng.Next() >> 20);
  size_t n = rng.Uniform(5);
  for (size_t i = 0; i < n; ++i) {
    Sibling s;
    s.dot = {rng.Next(), 1 + rng.Uniform(1u << 20)};
    s.timestamp_ms = rng.Next() >> 22;
    s.kind = static_cast<ValueKind>(rng.Uniform(3));
    s.expiry_ms = rng.Uniform(2) ? 0 : rng.Next();
    s.flags = static_cast<uint32_t>(rng.Next());
    s.value.resize(rng.Uniform(40));
    for (char& ch : s.value) ch = static_cast<char>(rng.Next());
    r.siblings.push_back(s);
  }
  std::sort(r.siblings.begin(), r.siblings.end(), [](const Sibling& a, const Sibling& b) {
    return std::tie(a.dot.actor, a.dot.counter) < std::tie(b.dot.actor, b.dot.counter);
  });
  return r;
}

// Seals a hand-built body the way its format byte says: 1 = XXH64 (old), 2 = XXH3-64.
std::string WithChecksum(std::string body) {
  uint64_t h = !body.empty() && body[0] == 1 ? XXH64(body.data(), body.size(), 0)
                                              : XXH3_64bits_withSeed(body.data(), body.size(), 0);
  for (int i = 0; i < 8; ++i) body.push_back(static_cast<char>((h >> (8 * i)) & 0xff));
  return body;
}

TEST(RecordCodecTest, RoundTripTruncationAndBitFlips) {
  for (uint64_t seed = 1; seed <= 300; ++seed) {
    SCOPED_TRACE(seed);
    SeededRandom rng(seed);
    Record r = RandomRecord(rng);
    std::string enc = EncodeRecord(r);
    Record d;
    ASSERT_TRUE(DecodeRecord(enc, &d).ok());
    ASSERT_EQ(d, r);
    const Record sentinel = d;
    for (size_t n = 0; n < enc.size(); ++n) {
      ASSERT_EQ(DecodeRecord(std::string_view(enc).substr(0, n), &d).code(), Code::kCorruption) << n;
    }
    EXPECT_EQ(d, sentinel);  // failures leave *out alone
    for (int k = 0; k < 50; ++k) {
      std::string bad = enc;
      int flips = 1 + static_cast<int>(rng.Uniform(3));
      for (int f = 0; f < flips; ++f) bad[rng.Uniform(bad.size())] ^= static_cast<char>(1 << rng.Uniform(8));
      if (bad == enc) continue;
      ASSERT_EQ(DecodeRecord(bad, &d).code(), Code::kCorruption);
    }
    EXPECT_EQ(DecodeRecord(enc + std::string(1, '\0'), &d).code(), Code::kCorruption);
  }
}

// DecodeRecordViews gives what DecodeRecord gives, with each value as a view into the bytes
// instead of a copy, and refuses what it refuses; RecordSeal tells two encodings apart.
TEST(RecordCodecTest, ViewsPointAtTheValuesInsideTheBytes) {
  for (uint64_t seed = 1; seed <= 200; ++seed) {
    SCOPED_TRACE(seed);
    SeededRandom rng(seed);
    Record r = RandomRecord(rng);
    std::string enc = EncodeRecord(r);
    Record d;
    std::vector<std::string_view> views;
    ASSERT_TRUE(DecodeRecordViews(enc, &d, &views).ok());
    ASSERT_EQ(views.size(), r.siblings.size());
    for (size_t i = 0; i < views.size(); ++i) {
      EXPECT_EQ(views[i], r.siblings[i].value);
      EXPECT_TRUE(views[i].empty() || (views[i].data() >= enc.data() && views[i].data() + views[i].size() <= enc.data() + enc.size()));
      EXPECT_TRUE(d.siblings[i].value.empty());
      d.siblings[i].value = r.siblings[i].value;
    }
    EXPECT_EQ(d, r);
    std::string bad = enc;
    bad[rng.Uniform(bad.size())] ^= 1;
    EXPECT_EQ(DecodeRecordViews(bad, &d, &views).code(), Code::kCorruption);
    Record r2 = r;
    ASSERT_TRUE(ApplyWrite(&r2, r.context, 77, Plain("other"), 5000, {}).ok());
    EXPECT_NE(RecordSeal(EncodeRecord(r2)), RecordSeal(enc));
    EXPECT_EQ(RecordSeal(EncodeRecord(r)), RecordSeal(enc));
  }
}

// Decoding gives back what was encoded, with room past every value of kDecodeSlackAt bytes
// or more (a reply's header goes in front without a new buffer); the decoder that leaves
// values out agrees with it on everything else.
TEST(RecordCodecTest, DecodingWithOrWithoutValuesAgrees) {
  for (uint64_t seed = 1; seed <= 100; ++seed) {
    SCOPED_TRACE(seed);
    SeededRandom rng(seed);
    Record r = RandomRecord(rng);
    // Some siblings get big values: one, several of one size, or none.
    for (auto& sib : r.siblings) {
      if (rng.Uniform(3) == 0) sib.value.assign(64 * 1024 + rng.Uniform(3) * 70000, char('a' + rng.Uniform(26)));
    }
    std::string enc = EncodeRecord(r);
    Record whole;
    ASSERT_TRUE(DecodeRecord(enc, &whole).ok());
    EXPECT_EQ(whole, r);
    for (const Sibling& sib : whole.siblings) {
      if (sib.value.size() >= kDecodeSlackAt) {
        EXPECT_GE(sib.value.capacity(), sib.value.size() + kEncodeInPlaceRoom);
      }
    }
    Record meta;
    ASSERT_TRUE(DecodeRecord(enc, &meta, /*values=*/false).ok());
    ASSERT_EQ(meta.siblings.size(), r.siblings.size());
    EXPECT_EQ(meta.context, r.context);
    for (size_t i = 0; i < r.siblings.size(); ++i) {
      Sibling want = r.siblings[i];
      want.value.clear();
      EXPECT_EQ(meta.siblings[i], want) << i;
    }
    std::string bad = enc;
    bad[bad.size() / 2] ^= 1;
    Record d;
    EXPECT_EQ(DecodeRecord(bad, &d).code(), Code::kCorruption);
    EXPECT_EQ(DecodeRecord(bad, &d, /*values=*/false).code(), Code::kCorruption);
  }
}

// DecodeRecordVersions (the walks of ReplicaStore::Scan without values) gives what
// DecodeRecord(values = false) gives. A record under kScanCheckedBytes is verified as
// before; a bigger one is parsed without its checksum, so a flipped value byte goes unseen
// (whoever acts on it loads it verified), while a broken structure is still refused and
// random bytes of that size never crash the parse.
TEST(RecordCodecTest, VersionsOfABigRecordSkipTheChecksum) {
  for (uint64_t seed = 1; seed <= 60; ++seed) {
    SCOPED_TRACE(seed);
    SeededRandom rng(seed);
    Record r = RandomRecord(rng);
    if (r.siblings.empty()) continue;
    bool big = seed % 2 == 0;
    if (big) r.siblings[rng.Uniform(r.siblings.size())].value.assign(kScanCheckedBytes + rng.Uniform(5000), 'v');
    std::string enc = EncodeRecord(r);
    Record meta, want;
    ASSERT_TRUE(DecodeRecord(enc, &want, /*values=*/false).ok());
    ASSERT_TRUE(DecodeRecordVersions(enc, &meta).ok());
    EXPECT_EQ(meta, want);
    // A flipped byte inside the biggest value: the checksum alone can tell.
    size_t at = enc.find(std::string(64, 'v'));
    if (at == std::string::npos) at = enc.size() / 2;
    std::string bad = enc;
    bad[at + 10] ^= 1;
    Record d;
    EXPECT_EQ(DecodeRecord(bad, &d, /*values=*/false).code(), Code::kCorruption);
    if (big) {
      ASSERT_TRUE(DecodeRecordVersions(bad, &d).ok());
      EXPECT_EQ(d, want);
    } else {
      EXPECT_EQ(DecodeRecordVersions(bad, &d).code(), Code::kCorruption);
    }
    // Truncated or extended: the structure no longer parses, checksum or not.
    EXPECT_EQ(DecodeRecordVersions(std::string_view(enc).substr(0, enc.size() - 9), &d).code(), Code::kCorruption);
    EXPECT_EQ(DecodeRecordVersions(enc + std::string(9, '\0'), &d).code(), Code::kCorruption);
  }
  SeededRandom rng(99);
  for (int i = 0; i < 200; ++i) {
    std::string junk(kScanCheckedBytes + rng.Uniform(100), '\0');
    for (char& c : junk) c = static_cast<char>(rng.Uniform(4) ? rng.Uniform(3) : rng.Next());
    junk[0] = 2;
    Record d;
    Status st = DecodeRecordVersions(junk, &d);
    EXPECT_TRUE(st.ok() || st.code() == Code::kCorruption);
  }
}

// EncodeRecord(Record&&) writes exactly EncodeRecord(const&)'s bytes; with a value of at least
// kEncodeInPlaceBytes it takes that value's buffer (the record around it, no copy when the
// buffer has room) and leaves the value empty; smaller records are left as they were.
TEST(RecordCodecTest, EncodingThatTakesTheBigValueAgrees) {
  for (uint64_t seed = 1; seed <= 40; ++seed) {
    SCOPED_TRACE(seed);
    SeededRandom rng(seed);
    Record r = RandomRecord(rng);
    if (r.siblings.empty()) r.siblings.push_back(MakeSibling(7, 1, 5, "x"));
    size_t big = rng.Uniform(r.siblings.size());
    bool is_big = rng.Uniform(4) != 0;
    r.siblings[big].value.assign(is_big ? kEncodeInPlaceBytes + rng.Uniform(5000) : 1000 + rng.Uniform(5000),
                                 char('a' + rng.Uniform(26)));
    const std::string want = EncodeRecord(r);
    Record taken = r;
    bool room = rng.Uniform(2) == 0;  // room for the record around the value, as RespParser leaves
    if (room) taken.siblings[big].value.reserve(taken.siblings[big].value.size() + 4096);
    const char* buffer = taken.siblings[big].value.data();
    std::string got = EncodeRecord(std::move(taken));
    EXPECT_EQ(got, want);
    if (is_big) {
      EXPECT_TRUE(taken.siblings[big].value.empty());
      EXPECT_EQ(got.data() == buffer, room) << "in place exactly when the buffer has room";
      Record back;
      ASSERT_TRUE(DecodeRecord(got, &back).ok());
      EXPECT_EQ(back, r);
    } else {
      EXPECT_EQ(taken, r);
    }
  }
}

TEST(RecordCodecTest, SimulatedRecordsRoundTrip) {
  Sim sim(3, 3, 3);
  for (int i = 0; i < 200; ++i) {
    sim.Step();
    for (const Record& r : sim.recs) {
      Record d;
      ASSERT_TRUE(DecodeRecord(EncodeRecord(r), &d).ok());
      ASSERT_EQ(d, r);
    }
  }
}

// Bodies with a valid checksum but hostile structure: the checksum is no defence against a
// peer or a bug, so the parser must hold on its own.
TEST(RecordCodecTest, HostileBodiesWithValidChecksum) {
  Record d;
  // Huge counts that the input cannot hold.
  EXPECT_EQ(DecodeRecord(WithChecksum(std::string("\x01\xff\xff\xff\xff\x0f", 6)), &d).code(),
            Code::kCorruption);
  EXPECT_EQ(DecodeRecord(WithChecksum(std::string("\x01\x00\xff\xff\x7f", 5)), &d).code(),
            Code::kCorruption);
  // A value length far beyond the input.
  std::string body("\x01\x00\x01", 3);
  body += std::string(8, '\x01');                // actor
  body += std::string("\x01\x01\x00\x00\x00", 5);  // counter ts kind expiry flags
  body += std::string("\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 10);  // len = 2^64-1
  EXPECT_EQ(DecodeRecord(WithChecksum(body), &d).code(), Code::kCorruption);
  // Unknown format and unknown value kind.
  EXPECT_EQ(DecodeRecord(WithChecksum(std::string("\x03\x00\x00", 3)), &d).code(), Code::kCorruption);
  std::string kind = EncodeRecord(Record{{}, {MakeSibling(1, 1, 1, "x")}});
  kind.resize(kind.size() - 8);
  kind[1 + 1 + 1 + 8 + 1 + 1] = 9;
  EXPECT_EQ(DecodeRecord(WithChecksum(kind), &d).code(), Code::kCorruption);
  // Unsorted / duplicate / zero-counter context entries.
  VersionVector vv;
  vv.Raise(1, 1, 1);
  vv.Raise(2, 1, 1);
  std::string enc = EncodeRecord(Record{vv, {}});
  std::string dup = enc.substr(0, enc.size() - 8);
  std::copy_n(dup.begin() + 2, 8, dup.begin() + 12);  // second actor := first actor
  EXPECT_EQ(DecodeRecord(WithChecksum(dup), &d).code(), Code::kCorruption);
  std::string zero = enc.substr(0, enc.size() - 8);
  zero[10] = 0;  // first counter := 0
  EXPECT_EQ(DecodeRecord(WithChecksum(zero), &d).code(), Code::kCorruption);
  // A minimal valid empty record is accepted.
  ASSERT_TRUE(DecodeRecord(WithChecksum(std::string("\x01\x00\x00", 3)), &d).ok());
  EXPECT_EQ(d, Record{});
}

// Records written before format 2 (sealed with XXH64) still decode, to the same record.
TEST(RecordCodecTest, FormatOneRecordsStillDecode) {
  for (uint64_t seed = 1; seed <= 50; ++seed) {
    SeededRandom inner(seed);
    Record r = RandomRecord(inner);
    std::string v2 = EncodeRecord(r);
    ASSERT_EQ(v2[0], 2);
    std::string body = v2.substr(0, v2.size() - 8);
    body[0] = 1;
    Record d;
    ASSERT_TRUE(DecodeRecord(WithChecksum(body), &d).ok()) << seed;
    EXPECT_EQ(EncodeRecord(d), v2);
    // A format-1 body sealed with the format-2 hash (or the reverse) is corrupt.
    std::string wrong = body + v2.substr(v2.size() - 8);
    EXPECT_EQ(DecodeRecord(wrong, &d).code(), Code::kCorruption);
  }
}

// Random bodies with valid checksums: never a crash; whatever is accepted re-encodes to the
// same bytes (one encoding per record).
TEST(RecordCodecTest, RandomBodiesNeverCrash) {
  SeededRandom rng(12345);
  int accepted = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string body;
    if (rng.Uniform(2)) {
      SeededRandom inner(rng.Next());
      body = EncodeRecord(RandomRecord(inner));
      body.resize(body.size() - 8);
      for (int f = 0; f < 3; ++f) body[rng.Uniform(body.size())] = static_cast<char>(rng.Next());
      if (body[0] == 1) body[0] = 2;  // format 1 decodes too, but re-encodes as format 2
    } else {
      body.resize(rng.Uniform(40));
      for (char& c : body) c = static_cast<char>(rng.Uniform(4) ? rng.Uniform(3) : rng.Next());
      if (!body.empty()) body[0] = 2;
    }
    std::string enc = WithChecksum(body);
    Record d;
    Status st = DecodeRecord(enc, &d);
    if (st.ok()) {
      ++accepted;
      EXPECT_EQ(EncodeRecord(d), enc);
    } else {
      EXPECT_EQ(st.code(), Code::kCorruption);
    }
  }
  EXPECT_GT(accepted, 0);
}

// ---- context token ------------------------------------------------------------------------

bool Printable(const std::string& s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c > 0x20 && c < 0x7f; });
}

TEST(ContextTokenTest, RoundTrip) {
  for (const std::string secret : {"", "s3cret"}) {
    SCOPED_TRACE(secret);
    for (uint64_t seed = 1; seed <= 200; ++seed) {
      SeededRandom rng(seed);
      VersionVector vv;
      for (size_t i = 0; i < rng.Uniform(8); ++i) vv.Raise(rng.Next(), 1 + rng.Next() % 100000, rng.Next() >> 20);
      std::string t = EncodeContext(vv, secret);
      EXPECT_TRUE(Printable(t)) << t;
      if (vv.empty()) {
        EXPECT_EQ(t, "");
      } else {
        EXPECT_EQ(t.substr(0, 2), "c1");
      }
      VersionVector d;
      d.Raise(1, 1, 1);
      ASSERT_TRUE(DecodeContext(t, secret, 16 * 1024, &d).ok()) << t;
      EXPECT_EQ(d, vv);
    }
  }
}

TEST(ContextTokenTest, EmptyTokenIsEmptyContext) {
  VersionVector d;
  d.Raise(1, 1, 1);
  ASSERT_TRUE(DecodeContext("", "k", 10, &d).ok());
  EXPECT_TRUE(d.empty());
}

TEST(ContextTokenTest, TamperForgeryAndSize) {
  VersionVector vv;
  vv.Raise(0x1234567890abcdefull, 17, 1'700'000'000'000ull);
  vv.Raise(42, 3, 1'700'000'000'123ull);
  for (const std::string secret : {"", "key-one"}) {
    SCOPED_TRACE(secret);
    std::string t = EncodeContext(vv, secret);
    VersionVector d;
    // Every single-character change is refused, whatever the replacement.
    const std::string alphabet =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ \x01";
    for (size_t i = 0; i < t.size(); ++i) {
      for (char c : alphabet) {
        if (c == t[i]) continue;
        std::string bad = t;
        bad[i] = c;
        Status st = DecodeContext(bad, secret, 16 * 1024, &d);
        ASSERT_EQ(st.code(), Code::kInvalidArgument) << "pos " << i << " char " << c;
        ASSERT_EQ(st.message(), "invalid context");
      }
    }
    // Truncated and extended.
    for (size_t n = 1; n < t.size(); ++n)
      ASSERT_EQ(DecodeContext(t.substr(0, n), secret, 16 * 1024, &d).code(), Code::kInvalidArgument) << n;
    EXPECT_EQ(DecodeContext(t + "A", secret, 16 * 1024, &d).code(), Code::kInvalidArgument);
    EXPECT_EQ(DecodeContext(t + t, secret, 16 * 1024, &d).code(), Code::kInvalidArgument);
    // Over the size bound, even though it is otherwise valid.
    EXPECT_TRUE(DecodeContext(t, secret, t.size(), &d).ok());
    EXPECT_EQ(DecodeContext(t, secret, t.size() - 1, &d).code(), Code::kInvalidArgument);
    // Junk.
    for (const char* junk : {"c1", "c1.", ".", "c1..", "x1abc.def", "c1AAAA.AAAA", "hello"})
      EXPECT_EQ(DecodeContext(junk, secret, 16 * 1024, &d).code(), Code::kInvalidArgument) << junk;
  }
  // Minted with another secret (or none) is refused when a secret is set.
  VersionVector d;
  EXPECT_EQ(DecodeContext(EncodeContext(vv, "other"), "key-one", 16 * 1024, &d).code(),
            Code::kInvalidArgument);
  EXPECT_EQ(DecodeContext(EncodeContext(vv, ""), "key-one", 16 * 1024, &d).code(),
            Code::kInvalidArgument);
  EXPECT_EQ(DecodeContext(EncodeContext(vv, "key-one"), "", 16 * 1024, &d).code(),
            Code::kInvalidArgument);
}

TEST(ContextTokenTest, LargeContextIsBounded) {
  VersionVector vv;
  for (ActorId a = 1; a <= 2000; ++a) vv.Raise(a * 0x9E3779B97F4A7C15ull, a, a);
  std::string t = EncodeContext(vv, "k");
  VersionVector d;
  EXPECT_EQ(DecodeContext(t, "k", 16 * 1024, &d).code(), Code::kInvalidArgument);
  ASSERT_TRUE(DecodeContext(t, "k", t.size(), &d).ok());
  EXPECT_EQ(d, vv);
}

TEST(ContextCasTest, StableNonZeroAndSensitive) {
  VersionVector a, b;
  EXPECT_NE(ContextCas(a), 0u);
  a.Raise(1, 1, 10);
  b.Raise(1, 1, 10);
  EXPECT_EQ(ContextCas(a), ContextCas(b));
  std::set<uint64_t> seen{ContextCas(VersionVector{}), ContextCas(a)};
  for (uint64_t c = 2; c < 200; ++c) {
    b.Raise(1, c, 10 + c);
    EXPECT_NE(ContextCas(b), 0u);
    EXPECT_TRUE(seen.insert(ContextCas(b)).second);
  }
}

}  // namespace
}  // namespace dynakv::cluster
