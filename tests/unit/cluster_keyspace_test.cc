// Keyspace policies (cluster/keyspace.h): prefix matching, last-writer-wins records
// (version.h) and their merge laws, and real Nodes placing, replicating, reading, handing off
// and repairing keys by their keyspace's n, r, w and conflict rule.
#include "cluster/keyspace.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "cluster/env.h"
#include "cluster/key_layout.h"
#include "cluster/version.h"
#include "tests/unit/cluster_harness.h"

namespace dynakv::cluster {
namespace {

// ---- matching ------------------------------------------------------------------------------

Keyspaces Sample() {
  return Keyspaces({"", 3, 2, 2, false}, {{"cache:", 1, 1, 1, true},
                                          {"cache:big:", 2, 1, 2, false},
                                          {"audit:", 5, 3, 3, false}});
}

TEST(KeyspacesTest, LongestPrefixWinsAndTheRestTakeTheDefault) {
  Keyspaces ks = Sample();
  EXPECT_EQ(ks.ForKey("cache:x").prefix, "cache:");
  EXPECT_TRUE(ks.ForKey("cache:x").lww);
  EXPECT_EQ(ks.ForKey("cache:big:1").prefix, "cache:big:");
  EXPECT_EQ(ks.ForKey("cache:big:1").n, 2);
  EXPECT_EQ(ks.ForKey("cache:bi").prefix, "cache:");
  EXPECT_EQ(ks.ForKey("audit:").n, 5);
  EXPECT_EQ(ks.ForKey("cache").prefix, "");  // shorter than every prefix
  EXPECT_EQ(ks.ForKey("").n, 3);
  EXPECT_EQ(ks.ForKey("user:1").r, 2);
  EXPECT_EQ(ks.max_n(), 5);
  EXPECT_TRUE(ks.mixed_n());
  EXPECT_EQ(ks.levels(), (std::vector<int>{1, 2, 3, 5}));
  // Longest prefix first, whatever order the configuration gave.
  ASSERT_EQ(ks.entries().size(), 3u);
  EXPECT_EQ(ks.entries()[0].prefix, "cache:big:");
}

TEST(KeyspacesTest, ElementsFollowTheirCollectionAndEscapedKeysTheirClientKey) {
  Keyspaces ks = Sample();
  EXPECT_EQ(ks.ForRecord(ElementKey('h', "cache:big:h", "field")).prefix, "cache:big:");
  EXPECT_EQ(ks.ForRecord(ElementPrefix('s', "audit:s")).n, 5);
  EXPECT_EQ(ks.ForRecord(ElementKey('h', "user:1", "cache:x")).prefix, "");  // the element's name does not count
  EXPECT_EQ(ks.ForRecord(PlainRecordKey("\xff" "cache:x")).prefix, "");     // its client key starts with 0xFF
  EXPECT_EQ(ks.ForRecord("cache:k").prefix, "cache:");
  EXPECT_EQ(ks.ForRecord(std::string("\xff", 1)).prefix, "");  // malformed: the default
}

TEST(KeyspacesTest, NoEntriesIsTheDefaultEverywhere) {
  Keyspaces ks({"", 3, 2, 2, false}, {});
  EXPECT_EQ(&ks.ForKey("cache:x"), &ks.Default());
  EXPECT_FALSE(ks.mixed_n());
  EXPECT_EQ(ks.levels(), std::vector<int>{3});
  // Same n everywhere is not mixed, even with entries.
  EXPECT_FALSE(Keyspaces({"", 3, 2, 2, false}, {{"a", 3, 1, 1, true}}).mixed_n());
}

TEST(KeyspacesTest, FingerprintNamesEveryPolicyField) {
  uint64_t base = Sample().Fingerprint();
  EXPECT_EQ(base, Sample().Fingerprint());
  EXPECT_NE(base, Keyspaces({"", 3, 2, 2, false}, {{"cache:", 1, 1, 1, false},
                                                   {"cache:big:", 2, 1, 2, false},
                                                   {"audit:", 5, 3, 3, false}})
                      .Fingerprint());
  EXPECT_NE(base, Keyspaces({"", 3, 2, 1, false}, {{"cache:", 1, 1, 1, true},
                                                   {"cache:big:", 2, 1, 2, false},
                                                   {"audit:", 5, 3, 3, false}})
                      .Fingerprint());
}

// ---- last writer wins ----------------------------------------------------------------------

NewValue Lww(std::string v, ValueKind kind = ValueKind::kPlain) {
  NewValue nv;
  nv.kind = kind;
  nv.value = std::move(v);
  nv.lww = true;
  return nv;
}

TEST(LwwTest, AWriteKeepsOneValueWhateverTheContext) {
  Record rec;
  ASSERT_TRUE(ApplyWrite(&rec, {}, 1, Lww("a"), 1000, {}).ok());
  ASSERT_TRUE(ApplyWrite(&rec, {}, 2, Lww("b"), 1001, {}).ok());  // empty context: still replaces
  ASSERT_EQ(rec.siblings.size(), 1u);
  EXPECT_EQ(rec.siblings[0].value, "b");
  EXPECT_TRUE(rec.siblings[0].lww);
  EXPECT_EQ(rec.context.Get(1), 1u);  // the replaced write is still counted
}

TEST(LwwTest, AWriteThatSawAValueBeatsItWhateverTheClocks) {
  Record rec;
  ASSERT_TRUE(ApplyWrite(&rec, {}, 1, Lww("from the future"), 9000, {}).ok());
  Record replica = rec;
  ASSERT_TRUE(ApplyWrite(&rec, rec.context, 2, Lww("later, slow clock"), 1000, {}).ok());
  EXPECT_GT(rec.siblings[0].timestamp_ms, 9000u);
  EXPECT_EQ(Join(replica, rec).siblings.at(0).value, "later, slow clock");
  EXPECT_EQ(Join(rec, replica).siblings.at(0).value, "later, slow clock");
  // A DVV write (a collection's header, say) over an lww value does the same.
  NewValue header;
  header.kind = ValueKind::kCollection;
  header.value = "h";
  Record over = replica;
  ASSERT_TRUE(ApplyWrite(&over, {}, 3, header, 1000, {}).ok());
  ASSERT_EQ(over.siblings.size(), 1u);
  EXPECT_EQ(Join(replica, over).siblings.at(0).value, "h");
}

TEST(LwwTest, ConcurrentWritesResolveToTheNewestOnEveryReplica) {
  Record a, b;
  ASSERT_TRUE(ApplyWrite(&a, {}, 1, Lww("older"), 1000, {}).ok());
  ASSERT_TRUE(ApplyWrite(&b, {}, 2, Lww("newer"), 1005, {}).ok());
  Record ab = Join(a, b), ba = Join(b, a);
  EXPECT_EQ(ab, ba);
  ASSERT_EQ(ab.siblings.size(), 1u);
  EXPECT_EQ(ab.siblings[0].value, "newer");
  EXPECT_EQ(ab.context.Get(1), 1u);
  EXPECT_EQ(ab.context.Get(2), 1u);
  // Same timestamp: the larger dot, as GET's Winner picks.
  Record c, d;
  ASSERT_TRUE(ApplyWrite(&c, {}, 7, Lww("actor 7"), 1000, {}).ok());
  ASSERT_TRUE(ApplyWrite(&d, {}, 8, Lww("actor 8"), 1000, {}).ok());
  EXPECT_EQ(Join(c, d).siblings.at(0).value, "actor 8");
  // A tombstone that is newer wins too (DEL), and one that is older loses.
  Record del = a;
  ASSERT_TRUE(ApplyWrite(&del, a.context, 1, Lww("", ValueKind::kTombstone), 1002, {}).ok());
  EXPECT_EQ(Join(del, b).siblings.at(0).value, "newer");
  EXPECT_EQ(Join(del, a).siblings.at(0).kind, ValueKind::kTombstone);
}

TEST(LwwTest, CodecKeepsTheFlagAndOldRecordsDecodeWithout) {
  Record rec;
  ASSERT_TRUE(ApplyWrite(&rec, {}, 1, Lww("v", ValueKind::kCounter), 1000, {}).ok());
  Record back;
  ASSERT_TRUE(DecodeRecord(EncodeRecord(rec), &back).ok());
  EXPECT_EQ(back, rec);
  EXPECT_TRUE(back.siblings.at(0).lww);
  EXPECT_EQ(back.siblings.at(0).kind, ValueKind::kCounter);
  Record plain;
  NewValue nv;
  nv.value = "x";
  ASSERT_TRUE(ApplyWrite(&plain, {}, 1, nv, 1000, {}).ok());
  ASSERT_TRUE(DecodeRecord(EncodeRecord(plain), &back).ok());
  EXPECT_FALSE(back.siblings.at(0).lww);
  // The flag costs no byte: the same encoding size as without it.
  Record unflagged = rec;
  unflagged.siblings[0].lww = false;
  EXPECT_EQ(EncodeRecord(unflagged).size(), EncodeRecord(rec).size());
  EXPECT_NE(EncodeRecord(unflagged), EncodeRecord(rec));
}

// Random histories of lww writes (clocks skewed per actor, contexts from anywhere) and
// syncs: Join stays commutative, associative and idempotent, every state holds at most one
// value, and once every replica has synced they all hold the newest write by (timestamp, dot).
TEST(LwwTest, JoinIsACrdtJoinAndConvergesToTheNewestWrite) {
  for (uint64_t seed = 1; seed <= 200; ++seed) {
    SCOPED_TRACE(seed);
    SeededRandom rng(seed);
    const int replicas = 2 + int(rng.Uniform(3));
    std::vector<Record> recs(replicas);
    std::vector<Record> seen;
    std::vector<int64_t> skew(replicas);
    for (auto& s : skew) s = int64_t(rng.Uniform(2000)) - 1000;
    Sibling newest;
    bool any = false;
    uint64_t now = 10'000;
    for (int step = 0; step < 150; ++step) {
      now += rng.Uniform(5);
      int r = int(rng.Uniform(replicas));
      if (rng.Uniform(3) != 0) {
        VersionVector ctx = rng.Uniform(2) ? recs[r].context : VersionVector{};
        ValueKind kind = rng.Uniform(5) == 0 ? ValueKind::kTombstone : ValueKind::kPlain;
        ASSERT_TRUE(ApplyWrite(&recs[r], ctx, ActorId(100 + r), Lww(std::to_string(step), kind),
                               uint64_t(int64_t(now) + skew[r]), {})
                        .ok());
        ASSERT_EQ(recs[r].siblings.size(), 1u);
        const Sibling& s = recs[r].siblings[0];
        if (!any || std::tie(newest.timestamp_ms, newest.dot.actor, newest.dot.counter) <
                        std::tie(s.timestamp_ms, s.dot.actor, s.dot.counter)) {
          newest = s;
          any = true;
        }
      } else {
        int o = int(rng.Uniform(replicas));
        recs[r] = recs[o] = Join(recs[r], recs[o]);
      }
      if (step % 7 == 0) seen.push_back(recs[r]);
    }
    for (int k = 0; k < 30 && !seen.empty(); ++k) {
      const Record& a = seen[rng.Uniform(seen.size())];
      const Record& b = seen[rng.Uniform(seen.size())];
      const Record& c = seen[rng.Uniform(seen.size())];
      Record ab = Join(a, b);
      ASSERT_EQ(ab, Join(b, a));
      ASSERT_EQ(Join(ab, c), Join(a, Join(b, c)));
      ASSERT_EQ(Join(a, a), a);
      ASSERT_LE(ab.siblings.size(), 1u);
    }
    Record all;
    for (const Record& rec : recs) all = Join(all, rec);
    if (!any) continue;
    ASSERT_EQ(all.siblings.size(), 1u);
    EXPECT_EQ(all.siblings[0], newest);
  }
}

// ---- nodes -----------------------------------------------------------------------------------

NodeConfig WithKeyspaces(Cluster& c, const std::string& id) {
  NodeConfig cfg = c.Config(id, 3, 2, 2);
  cfg.keyspaces = {{"one:", 1, 1, 1, false}, {"five:", 5, 3, 3, false}, {"lww:", 3, 2, 2, true}};
  return cfg;
}

void BootKeyspaces(Cluster& c, int count) {
  for (int i = 1; i <= count; ++i) c.Add(WithKeyspaces(c, "n" + std::to_string(i)));
  c.RunFor(1500);
}

std::vector<std::string> Holders(Cluster& c, int count, const std::string& key) {
  std::vector<std::string> ids;
  for (int i = 1; i <= count; ++i) {
    std::string id = "n" + std::to_string(i);
    if (!LocalRecord(c, id, key).siblings.empty()) ids.push_back(id);
  }
  return ids;
}

TEST(KeyspaceNodeTest, EachKeyIsStoredOnItsKeyspacesNReplicas) {
  Cluster c;
  BootKeyspaces(c, 6);
  for (int i = 0; i < 20; ++i) {
    for (const std::string prefix : {"one:", "five:", "plain:"}) {
      std::string key = prefix + std::to_string(i);
      auto w = Put(c, c.node("n" + std::to_string(1 + i % 6)), key, "v");
      ASSERT_TRUE(w.status.ok()) << key << ": " << w.status.ToString();
      std::vector<std::string> pref = c.node("n1")->PreferenceList(key);
      size_t n = prefix == "one:" ? 1 : prefix == "five:" ? 5 : 3;
      ASSERT_EQ(pref.size(), n) << key;
      std::vector<std::string> held = Holders(c, 6, key);
      std::sort(pref.begin(), pref.end());
      EXPECT_EQ(held, pref) << key;
    }
  }
  // The ring lists five owners per partition now (DYNAMO RING).
  EXPECT_EQ(c.node("n1")->RingRanges().front().owners.size(), 5u);
}

TEST(KeyspaceNodeTest, QuorumDefaultsAndBoundsComeFromTheKeysPolicy) {
  Cluster c;
  BootKeyspaces(c, 5);
  ASSERT_EQ(c.node("n1")->PreferenceList("five:q").size(), 5u);
  // An explicit quorum above the key's n is refused, though it is within another's.
  EXPECT_EQ(Put(c, c.node("n1"), "one:k", "v", nullptr, 2).status.code(), Code::kInvalidArgument);
  EXPECT_TRUE(Put(c, c.node("n1"), "one:k", "v", nullptr, 1).status.ok());
  EXPECT_EQ(Get(c, c.node("n1"), "one:k", 3).status.code(), Code::kInvalidArgument);
  EXPECT_TRUE(Put(c, c.node("n1"), "five:k", "v", nullptr, 5).status.ok());
  // one: (n = r = w = 1) keeps working with every other node down.
  std::string lone = c.node("n1")->PreferenceList("one:alone").at(0);
  for (int i = 1; i <= 5; ++i) {
    if ("n" + std::to_string(i) != lone) c.Kill("n" + std::to_string(i));
  }
  EXPECT_TRUE(Put(c, c.node(lone), "one:alone", "v").status.ok());
  auto r = Get(c, c.node(lone), "one:alone");
  ASSERT_TRUE(r.status.ok());
  EXPECT_EQ(Values(r.record), std::vector<std::string>{"v"});
  // ...while a five: key (W = 3 of 5) cannot be acknowledged by one node.
  EXPECT_EQ(Put(c, c.node(lone), "five:x", "v").status.code(), Code::kUnavailable);
}

// The reaper's all-replica read of a key whose keyspace is wider than the cluster asks
// every node there is (five: has n = 5 on three nodes), rather than failing forever.
TEST(KeyspaceNodeTest, ReaperReadOfAKeyWiderThanTheClusterAsksEveryNode) {
  Cluster c;
  BootKeyspaces(c, 3);
  ASSERT_TRUE(Put(c, c.node("n1"), "five:gone", "v").status.ok());
  WriteRequest del;
  del.op = OpKind::kDelete;
  ASSERT_TRUE(DoWrite(c, c.node("n1"), "five:gone", std::move(del)).status.ok());
  auto out = std::make_shared<Outcome>();
  c.node("n2")->ReadForReap("five:gone", 5, [out](Status s, ReadReply rr) {
    out->done = true;
    out->status = s;
    out->record = std::move(rr.record);
  });
  c.RunUntil(&out->done);
  ASSERT_TRUE(out->done);
  ASSERT_TRUE(out->status.ok()) << out->status.ToString();
  EXPECT_TRUE(IsDeleted(out->record, 1'800'000'000'000ull));
  // A client's read at R = 5 is still refused: there are not five replicas to answer.
  EXPECT_EQ(Get(c, c.node("n2"), "five:gone", 5).status.code(), Code::kUnavailable);
}

TEST(KeyspaceNodeTest, LwwKeysNeverGrowSiblingsAcrossCoordinators) {
  Cluster c;
  BootKeyspaces(c, 3);
  VersionVector none;
  // The same (empty) context through two coordinators: siblings, except under lww.
  auto a = Put(c, c.node("n1"), "lww:k", "first", &none);
  c.clock.now_ms += 5;
  auto b = Put(c, c.node("n2"), "lww:k", "second", &none);
  ASSERT_TRUE(a.status.ok() && b.status.ok());
  auto r = Get(c, c.node("n3"), "lww:k", 3);
  ASSERT_TRUE(r.status.ok());
  EXPECT_EQ(Values(r.record), std::vector<std::string>{"second"});
  auto pa = Put(c, c.node("n1"), "plain:k", "first", &none);
  auto pb = Put(c, c.node("n2"), "plain:k", "second", &none);
  ASSERT_TRUE(pa.status.ok() && pb.status.ok());
  EXPECT_EQ(Values(Get(c, c.node("n3"), "plain:k", 3).record),
            (std::vector<std::string>{"first", "second"}));
  // Every replica holds the one value.
  for (auto id : {"n1", "n2", "n3"}) EXPECT_EQ(Values(LocalRecord(c, id, "lww:k")), std::vector<std::string>{"second"}) << id;
}

TEST(KeyspaceNodeTest, JoinHandsEachKeyToItsNewReplicasOnly) {
  Cluster c;
  BootKeyspaces(c, 5);
  std::vector<std::string> keys;
  for (int i = 0; i < 200; ++i) keys.push_back((i % 2 ? "one:" : "plain:") + std::to_string(i));
  for (auto& k : keys) ASSERT_TRUE(Put(c, c.node("n1"), k, "v-" + k).status.ok()) << k;
  c.Add(WithKeyspaces(c, "n6"));
  c.RunFor(5000);
  size_t moved_one = 0;
  for (auto& k : keys) {
    std::vector<std::string> owners = c.node("n1")->PreferenceList(k);
    EXPECT_EQ(c.node("n6")->PreferenceList(k), owners) << k;
    for (auto& id : owners) {
      EXPECT_EQ(Values(LocalRecord(c, id, k)), std::vector<std::string>{"v-" + k}) << k << " on " << id;
    }
    auto r = Get(c, c.node("n2"), k);
    ASSERT_TRUE(r.status.ok()) << k;
    EXPECT_EQ(Values(r.record), std::vector<std::string>{"v-" + k}) << k;
    if (k.rfind("one:", 0) == 0 && owners[0] == "n6") ++moved_one;
  }
  EXPECT_GT(moved_one, 5u);  // about 1/6 of the n = 1 keys moved to n6
  // n6 received only what it is among the first n of: no n = 1 key it does not coordinate.
  for (auto& k : keys) {
    std::vector<std::string> owners = c.node("n1")->PreferenceList(k);
    if (std::find(owners.begin(), owners.end(), "n6") == owners.end()) {
      EXPECT_TRUE(LocalRecord(c, "n6", k).siblings.empty()) << k;
    }
  }
  // n6 takes writes for the n = 1 keys it now holds alone, then leaves: the node each moves
  // to (an owner of the partition already, further down its list) must receive them.
  for (auto& k : keys) ASSERT_TRUE(Put(c, c.node("n2"), k, "w-" + k).status.ok()) << k;
  ASSERT_TRUE(c.node("n6")->Leave().ok());
  c.RunFor(8000);
  for (auto& k : keys) {
    std::vector<std::string> owners = c.node("n1")->PreferenceList(k);
    EXPECT_EQ(std::find(owners.begin(), owners.end(), "n6"), owners.end()) << k;
    auto r = Get(c, c.node("n3"), k);
    ASSERT_TRUE(r.status.ok()) << k;
    EXPECT_EQ(Values(r.record), std::vector<std::string>{"w-" + k}) << k;
  }
}

TEST(KeyspaceNodeTest, AntiEntropyRepairsWithinEachKeysReplicasOnly) {
  Cluster c;
  for (int i = 1; i <= 4; ++i) {
    NodeConfig cfg = WithKeyspaces(c, "n" + std::to_string(i));
    cfg.ae_interval_ms = 200;
    c.Add(cfg);
  }
  c.RunFor(1500);
  // Writes that reach only their coordinator (every other frame lost)...
  c.drop_percent = 100;
  std::vector<std::string> keys;
  for (int i = 0; i < 60; ++i) keys.push_back((i % 3 == 0 ? "one:" : i % 3 == 1 ? "plain:" : "five:") + std::to_string(i));
  for (auto& k : keys) {
    Node* coord = c.node(c.node("n1")->PreferenceList(k)[0]);
    WriteRequest req;
    req.value.value = "v-" + k;
    req.w = 1;
    coord->Write(k, std::move(req), [](Status, WriteReply) {});
  }
  c.RunFor(600);  // the coordinators time out waiting for acks
  c.drop_percent = 0;
  // ...reach every replica through anti-entropy alone, and no node that is not one.
  c.RunFor(15000);
  for (auto& k : keys) {
    std::vector<std::string> owners = c.node("n1")->PreferenceList(k);
    std::vector<std::string> held = Holders(c, 4, k);
    std::sort(owners.begin(), owners.end());
    EXPECT_EQ(held, owners) << k;
  }
}

}  // namespace
}  // namespace dynakv::cluster
