// Node: real Node instances over MemEngine on an in-test fake network with a fake clock
// (tests/unit/cluster_harness.h).
#include "cluster/key_layout.h"
#include "cluster/collection.h"
#include "cluster/node.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <deque>
#include <map>
#include <set>

#include "cluster/message.h"
#include "storage/mem_engine.h"
#include "tests/unit/cluster_harness.h"

namespace dynakv::cluster {
namespace {

TEST(NodeTest, MembershipConverges) {
  Cluster c;
  Boot(c, 5);
  for (int i = 1; i <= 5; ++i) {
    Node* n = c.node("n" + std::to_string(i));
    EXPECT_EQ(n->Members().size(), 5u);
    EXPECT_EQ(UpCount(n), 5u) << i;
    EXPECT_EQ(RingNodes(*n).size(), 5u);
    EXPECT_EQ(n->RingRanges(), c.node("n1")->RingRanges());
  }
}

// The Redis Cluster API's view (server/redis_cluster.h): RingEpoch moves on a ring change
// and only then, FirstOwner is the first node of each DYNAMO RING run, and
// LivePartitionKeys lists a replica's live keys of one partition.
TEST(NodeTest, RingEpochFirstOwnerAndPartitionKeys) {
  Cluster c;
  Boot(c, 3);
  Node* n1 = c.node("n1");
  uint64_t epoch = n1->RingEpoch();
  EXPECT_GT(epoch, 1u) << "the peers joined n1's ring";
  c.RunFor(1000);
  EXPECT_EQ(n1->RingEpoch(), epoch) << "gossip that changes no owner changes no epoch";
  for (const auto& r : n1->RingRanges()) {
    ASSERT_EQ(n1->FirstOwner(r.first), r.owners.at(0));
    ASSERT_EQ(n1->FirstOwner(r.last), r.owners.at(0));
  }
  c.Add(c.Config("n4"));
  c.RunFor(1500);
  EXPECT_GT(n1->RingEpoch(), epoch) << "a join changes the ring";
  size_t firsts = 0;
  for (uint32_t p = 0; p < kPartitions; ++p) firsts += n1->FirstOwner(p) == "n4";
  EXPECT_GT(firsts, 2000u) << "n4 coordinates about a quarter of the slots";

  for (int i = 0; i < 12; ++i) ASSERT_TRUE(Put(c, n1, "{pk}" + std::to_string(i), "v").status.ok());
  WriteRequest del;
  del.op = OpKind::kDelete;
  ASSERT_TRUE(DoWrite(c, n1, "{pk}3", std::move(del)).status.ok());
  uint32_t p = KeyPartition("{pk}0");
  auto owners = n1->PreferenceList("{pk}0");
  ASSERT_EQ(owners.size(), 3u);
  for (const auto& id : {"n1", "n2", "n3", "n4"}) {
    std::vector<std::string> keys;
    uint64_t count = 0;
    ASSERT_TRUE(c.node(id)->LivePartitionKeys(p, 5, &keys, &count).ok());
    bool owner = std::find(owners.begin(), owners.end(), id) != owners.end();
    EXPECT_EQ(count, owner ? 11u : 0u) << id;
    EXPECT_EQ(keys.size(), owner ? 5u : 0u) << id;
    EXPECT_TRUE(std::is_sorted(keys.begin(), keys.end()));
    EXPECT_EQ(std::find(keys.begin(), keys.end(), "{pk}3"), keys.end()) << "deleted";
    uint64_t other = 1;
    ASSERT_TRUE(c.node(id)->LivePartitionKeys((p + 1) % kPartitions, 5, nullptr, &other).ok());
    EXPECT_EQ(other, 0u);
  }
  uint64_t none = 0;
  EXPECT_FALSE(n1->LivePartitionKeys(kPartitions, 1, nullptr, &none).ok());
}

TEST(NodeTest, FreshNodeJoiningThroughASeedIsSeenByAll) {
  Cluster c;
  Boot(c, 3);
  c.Add(c.Config("n4"));
  c.RunFor(1500);
  for (auto id : {"n1", "n2", "n3", "n4"}) EXPECT_EQ(UpCount(c.node(id)), 4u) << id;
}

TEST(NodeTest, JoinByAdminCommand) {
  Cluster c;
  Boot(c, 2);
  NodeConfig lone = c.Config("x");
  lone.seeds.clear();
  Node* x = c.Add(lone);
  c.RunFor(500);
  EXPECT_EQ(x->Members().size(), 1u);
  ASSERT_TRUE(x->Join("addr-n2").ok());
  c.RunFor(1000);
  EXPECT_EQ(UpCount(x), 3u);
  EXPECT_EQ(UpCount(c.node("n1")), 3u);
}

TEST(NodeTest, WriteThroughOneReadThroughAnother) {
  Cluster c;
  Boot(c, 3);
  auto w = Put(c, c.node("n1"), "k", "v1");
  ASSERT_TRUE(w.status.ok()) << w.status.ToString();
  EXPECT_EQ(Values(w.record), std::vector<std::string>{"v1"});
  auto r = Get(c, c.node("n3"), "k");
  ASSERT_TRUE(r.status.ok());
  EXPECT_EQ(Values(r.record), std::vector<std::string>{"v1"});
  EXPECT_EQ(r.record.context, w.context);
  // Every replica holds it (W=2, but the third got the write too).
  for (auto id : {"n1", "n2", "n3"}) EXPECT_EQ(Values(LocalRecord(c, id, "k")).size(), 1u);
  auto miss = Get(c, c.node("n2"), "absent");
  ASSERT_TRUE(miss.status.ok());
  EXPECT_TRUE(miss.record.siblings.empty());
}

// The server hands a node all the frames that arrived in one turn (Node::OnMessages: decoded
// together, keys prefetched, then handled in order, into a vector kept between calls). The
// same writes, reads and concurrent siblings as one frame at a time, garbage dropped.
TEST(NodeTest, FramesHandledInBatchesAsTheServerDeliversThem) {
  Cluster c;
  c.batched = true;
  Boot(c, 3);  // each node sent its kLoad (saying it understands kWriteAcks) on seeing the others up
  c.count_types = true;
  c.sent.clear();
  std::vector<std::shared_ptr<Outcome>> writes;
  for (int i = 0; i < 60; ++i) {
    auto out = std::make_shared<Outcome>();
    WriteRequest req;
    req.value.value = "v" + std::to_string(i);
    c.node("n" + std::to_string(1 + i % 3))->Write("k" + std::to_string(i), std::move(req),
                                                   [out](Status s, WriteReply r) {
                                                     ++out->calls;
                                                     out->done = true;
                                                     out->status = s;
                                                     out->record = std::move(r.record);
                                                   });
    writes.push_back(out);
  }
  c.RunFor(200);
  EXPECT_GT(c.batches_delivered, 0);
  for (int i = 0; i < 60; ++i) {
    ASSERT_EQ(writes[size_t(i)]->calls, 1) << i;
    ASSERT_TRUE(writes[size_t(i)]->status.ok()) << i << " " << writes[size_t(i)]->status.ToString();
  }
  // The 120 replica writes arrived in batches: their acks went as one kWriteAcks per peer
  // and batch, not a frame each.
  EXPECT_EQ(c.sent[MsgType::kWriteReq], 120);
  EXPECT_GT(c.sent[MsgType::kWriteAcks], 0);
  EXPECT_LE(c.sent[MsgType::kWriteAck] + c.sent[MsgType::kWriteAcks], 12);
  c.count_types = false;
  std::vector<std::shared_ptr<Outcome>> reads;
  for (int i = 0; i < 60; ++i) {
    reads.push_back(StartRead(c, c.node("n" + std::to_string(1 + (i + 1) % 3)), "k" + std::to_string(i), 3));
  }
  c.RunFor(200);
  for (int i = 0; i < 60; ++i) {
    ASSERT_EQ(reads[size_t(i)]->calls, 1) << i;
    ASSERT_TRUE(reads[size_t(i)]->status.ok()) << i;
    EXPECT_EQ(Values(reads[size_t(i)]->record), std::vector<std::string>{"v" + std::to_string(i)});
  }
  // Two coordinators write one key with no context in the same round: two siblings.
  for (const char* id : {"n1", "n2"}) {
    WriteRequest req;
    req.value.value = std::string("from-") + id;
    c.node(id)->Write("both", std::move(req), [](Status, WriteReply) {});
  }
  c.RunFor(200);
  EXPECT_EQ(Values(Get(c, c.node("n3"), "both", 3).record),
            (std::vector<std::string>{"from-n1", "from-n2"}));
  for (auto id : {"n1", "n2", "n3"}) EXPECT_EQ(Values(LocalRecord(c, id, "both")).size(), 2u);
}

TEST(NodeTest, OneOfThreeDownStillServesQuorum) {
  Cluster c;
  Boot(c, 3);
  c.Kill("n3");
  auto w = Put(c, c.node("n1"), "k", "v");
  ASSERT_TRUE(w.status.ok()) << w.status.ToString();
  auto r = Get(c, c.node("n2"), "k");
  ASSERT_TRUE(r.status.ok());
  EXPECT_EQ(Values(r.record), std::vector<std::string>{"v"});
  // Also after failure detection has marked it down.
  c.RunFor(3000);
  EXPECT_TRUE(Put(c, c.node("n2"), "k2", "v").status.ok());
  EXPECT_TRUE(Get(c, c.node("n1"), "k2").status.ok());
}

TEST(NodeTest, TwoOfThreeDownIsUnavailableAfterTheTimeout) {
  Cluster c;
  Boot(c, 3);
  c.Kill("n2");
  c.Kill("n3");
  uint64_t t0 = c.clock.now_ms;
  auto w = Put(c, c.node("n1"), "k", "v");
  EXPECT_EQ(w.status.code(), Code::kUnavailable);
  EXPECT_LE(c.clock.now_ms - t0, 500u + 100u);
  auto r = Get(c, c.node("n1"), "k");
  EXPECT_EQ(r.status.code(), Code::kUnavailable);
  EXPECT_GE(c.node("n1")->stats().coordinator_timeouts, 2u);
  EXPECT_EQ(c.node("n1")->stats().write_timeouts, 1u);  // by kind (INFO, /metrics)
  EXPECT_EQ(c.node("n1")->stats().read_timeouts, 1u);
  // R=1 / W=1 still work on the lone survivor.
  EXPECT_TRUE(Put(c, c.node("n1"), "k", "v", nullptr, 1).status.ok());
  EXPECT_TRUE(Get(c, c.node("n1"), "k", 1).status.ok());
}

TEST(NodeTest, QuorumLargerThanClusterIsUnavailableAtOnce) {
  Cluster c;
  Boot(c, 2);  // N=3 configured, two nodes
  auto w = Put(c, c.node("n1"), "k", "v", nullptr, 3);
  EXPECT_EQ(w.status.code(), Code::kUnavailable);
  EXPECT_TRUE(Put(c, c.node("n1"), "k", "v", nullptr, 2).status.ok());
}

TEST(NodeTest, BadQuorumIsInvalidArgument) {
  Cluster c;
  Boot(c, 3);
  EXPECT_EQ(Get(c, c.node("n1"), "k", 4).status.code(), Code::kInvalidArgument);
  EXPECT_EQ(Get(c, c.node("n1"), "k", -1).status.code(), Code::kInvalidArgument);
  EXPECT_EQ(Put(c, c.node("n1"), "k", "v", nullptr, 9).status.code(), Code::kInvalidArgument);
}

TEST(NodeTest, ReadRepairFixesAStaleReplica) {
  Cluster c;
  Boot(c, 3);
  c.Kill("n3");
  ASSERT_TRUE(Put(c, c.node("n1"), "k", "new").status.ok());
  c.Revive("n3");
  EXPECT_TRUE(LocalRecord(c, "n3", "k").siblings.empty());
  // Read through the stale replica: a read asks R=2 replicas, its own copy among them, so
  // the stale copy is certainly one of the answers (a read elsewhere may not ask n3).
  auto r = Get(c, c.node("n3"), "k", 2);
  ASSERT_TRUE(r.status.ok());
  EXPECT_EQ(Values(r.record), std::vector<std::string>{"new"});
  c.RunFor(100);
  EXPECT_EQ(Values(LocalRecord(c, "n3", "k")), std::vector<std::string>{"new"});
  EXPECT_EQ(LocalRecord(c, "n3", "k"), LocalRecord(c, "n1", "k"));
  EXPECT_GE(c.node("n3")->stats().read_repairs, 1u);
}

// Three nodes with read_retry_ms = 0: every read asks all N, as the Dynamo paper's do.
void BootAskingAllN(Cluster& c) {
  for (int i = 1; i <= 3; ++i) {
    NodeConfig cfg = c.Config("n" + std::to_string(i));
    cfg.read_retry_ms = 0;
    c.Add(cfg);
  }
  c.RunFor(1500);
}

// Reads ask R replicas (read_coordinator.h): with R=2 a coordinating replica asks one peer,
// the first reachable other replica in preference order. The spare is asked only when that
// peer stays silent for read_retry_ms, and the read then succeeds long before the request
// would time out. With read_retry_ms = 0 every read asks all N, as the Dynamo paper does.
TEST(NodeTest, ReadsAskRReplicasAndTheSpareWhenOneIsSilent) {
  Cluster c;
  Boot(c, 3);
  ASSERT_TRUE(Put(c, c.node("n1"), "k", "v").status.ok());
  c.count_types = true;
  auto r = Get(c, c.node("n1"), "k", 2);
  ASSERT_TRUE(r.status.ok());
  EXPECT_EQ(Values(r.record), std::vector<std::string>{"v"});
  EXPECT_EQ(c.sent[MsgType::kReadReq], 1);
  EXPECT_EQ(c.node("n1")->stats().read_retries, 0u);

  std::vector<std::string> pref = c.node("n1")->PreferenceList("k");
  ASSERT_EQ(pref.size(), 3u);
  std::string asked = pref[0] == "n1" ? pref[1] : pref[0];
  c.Kill(asked);  // silent, but not yet suspected: the coordinator still asks it first
  c.sent.clear();
  uint64_t start = c.clock.now_ms;
  auto out = StartRead(c, c.node("n1"), "k", 2);
  c.RunUntil(&out->done);
  uint64_t took = c.clock.now_ms - start;
  ASSERT_TRUE(out->status.ok()) << out->status.ToString();
  EXPECT_EQ(Values(out->record), std::vector<std::string>{"v"});
  EXPECT_GE(took, 50u);   // read_retry_ms
  EXPECT_LE(took, 100u);  // a tick or two later; the request timeout is 500
  EXPECT_EQ(c.sent[MsgType::kReadReq], 2);
  EXPECT_EQ(c.node("n1")->stats().read_retries, 1u);
  c.Revive(asked);

  Cluster all;
  BootAskingAllN(all);
  ASSERT_TRUE(Put(all, all.node("n1"), "k", "v").status.ok());
  all.count_types = true;
  ASSERT_TRUE(Get(all, all.node("n1"), "k", 2).status.ok());
  EXPECT_EQ(all.sent[MsgType::kReadReq], 2);
}

// The wait before asking a spare follows how long replicas have been taking: after a reply
// that took ~100 ms, a read whose asked replica is slow for 110 ms waits for it rather than
// asking the spare at read_retry_ms (an overloaded node must not double its own load). The
// wait is capped at a quarter of the request timeout (500 ms here): after a 400 ms reply the
// spare is still asked at 125 ms, so the read never times out for want of asking it.
TEST(NodeTest, ReadRetryWaitFollowsRecentReplyTimes) {
  Cluster c;
  Boot(c, 3);
  ASSERT_TRUE(Put(c, c.node("n1"), "k", "v").status.ok());
  std::vector<std::string> pref = c.node("n1")->PreferenceList("k");
  std::string asked = pref[0] == "n1" ? pref[1] : pref[0];
  auto read = [&](uint64_t hold_ms) {
    c.held.insert(asked);
    uint64_t start = c.clock.now_ms;
    auto out = StartRead(c, c.node("n1"), "k", 2);
    while (c.clock.now_ms - start < hold_ms) c.Step(10);  // the slow replica, all along
    c.Release();
    c.RunUntil(&out->done);
    c.RunFor(50);
    EXPECT_TRUE(out->status.ok()) << out->status.ToString();
    return out->done_ms - start;
  };
  // 1: the asked replica is slow for 100 ms: the spare answers at ~50 ms; the slow reply
  // arrives at 100 ms and is counted.
  EXPECT_LE(read(100), 70u);
  EXPECT_EQ(c.node("n1")->stats().read_retries, 1u);
  // 2: slow for 110 ms: the read now waits min(2 x ~100, 125) ms before asking the spare,
  // so the asked replica's own answer (released at 110 ms) decides it.
  read(110);
  EXPECT_EQ(c.node("n1")->stats().read_retries, 1u);
  // 3, 4: a 400 ms reply; the next read still asks the spare at 125 ms, not 800.
  read(400);
  EXPECT_EQ(c.node("n1")->stats().read_retries, 2u);
  uint64_t took = read(300);
  EXPECT_EQ(c.node("n1")->stats().read_retries, 3u);
  EXPECT_LE(took, 150u);
}

// A replica that is down by the failure detector is not asked: the read goes to the
// reachable spare at once, with no wait.
TEST(NodeTest, ReadsSkipAReplicaKnownDown) {
  Cluster c;
  Boot(c, 3);
  ASSERT_TRUE(Put(c, c.node("n1"), "k", "v").status.ok());
  std::vector<std::string> pref = c.node("n1")->PreferenceList("k");
  std::string first = pref[0] == "n1" ? pref[1] : pref[0];
  c.Kill(first);
  c.RunFor(2500);  // suspected, then down
  c.count_types = true;
  uint64_t start = c.clock.now_ms;
  auto out = StartRead(c, c.node("n1"), "k", 2);
  c.RunUntil(&out->done);
  ASSERT_TRUE(out->status.ok()) << out->status.ToString();
  EXPECT_LT(c.clock.now_ms - start, 50u);
  EXPECT_EQ(c.sent[MsgType::kReadReq], 1);
  EXPECT_EQ(Values(out->record), std::vector<std::string>{"v"});
}

TEST(NodeTest, NonReplicaForwardsToAReplica) {
  Cluster c;
  Boot(c, 5);
  // A key whose preference list leaves n1 out.
  std::string key;
  for (int i = 0; key.empty(); ++i) {
    std::string k = "key" + std::to_string(i);
    auto pref = c.node("n1")->PreferenceList(k);
    if (std::find(pref.begin(), pref.end(), "n1") == pref.end()) key = k;
  }
  auto w = Put(c, c.node("n1"), key, "fw");
  ASSERT_TRUE(w.status.ok()) << w.status.ToString();
  EXPECT_GE(c.node("n1")->stats().forwarded, 1u);
  EXPECT_TRUE(LocalRecord(c, "n1", key).siblings.empty());  // n1 stores nothing
  auto r = Get(c, c.node("n1"), key);
  ASSERT_TRUE(r.status.ok());
  EXPECT_EQ(Values(r.record), std::vector<std::string>{"fw"});
  // The coordinator's actor is a replica's, never n1's.
  for (const auto& s : r.record.siblings) EXPECT_NE(s.dot.actor, c.node("n1")->actor());
}

TEST(NodeTest, ConcurrentWritesWithTheSameContextMakeSiblings) {
  Cluster c;
  Boot(c, 3);
  auto base = Put(c, c.node("n1"), "k", "v0");
  ASSERT_TRUE(base.status.ok());
  auto a = Put(c, c.node("n1"), "k", "a", &base.context);
  auto b = Put(c, c.node("n2"), "k", "b", &base.context);
  ASSERT_TRUE(a.status.ok());
  ASSERT_TRUE(b.status.ok());
  auto r = Get(c, c.node("n3"), "k", 3);
  ASSERT_TRUE(r.status.ok());
  EXPECT_EQ(Values(r.record), (std::vector<std::string>{"a", "b"}));
  // A write with the read context resolves them.
  auto fix = Put(c, c.node("n3"), "k", "ab", &r.record.context);
  ASSERT_TRUE(fix.status.ok());
  EXPECT_EQ(Values(Get(c, c.node("n2"), "k", 3).record), std::vector<std::string>{"ab"});
  // A write without context supersedes what the coordinator knows.
  ASSERT_TRUE(Put(c, c.node("n1"), "k", "set").status.ok());
  EXPECT_EQ(Values(Get(c, c.node("n2"), "k", 3).record), std::vector<std::string>{"set"});
}

// Values of 64 KB and more: a write without a context loads the old record without its
// values (it supersedes them all, ReplicaStore::LoadVersions), a write with a context loads
// them, and keeps whole every sibling the context does not cover. On one node (where no
// replica's copy could fill a value back in), then on three; the row cache is off, so every
// write loads from the engine.
void BootUncached(Cluster& c, int count, int n, int r, int w) {
  for (int i = 1; i <= count; ++i) {
    NodeConfig cfg = c.Config("n" + std::to_string(i), n, r, w);
    cfg.record_cache_bytes = 0;
    c.Add(cfg);
  }
  c.RunFor(1500);
}

// Keys (prefix + a number) that n1 coordinates (first in their preference list) with n5
// among their replicas: the hinted-handoff tests take n5 down.
std::vector<std::string> KeysFromN1WithN5(Cluster& c, const std::string& prefix, size_t count) {
  std::vector<std::string> keys;
  for (int i = 0; keys.size() < count; ++i) {
    std::string k = prefix + std::to_string(i);
    auto p = c.node("n1")->PreferenceList(k);
    if (p[0] == "n1" && std::find(p.begin(), p.end(), "n5") != p.end()) keys.push_back(k);
  }
  return keys;
}

std::string BigValue(char fill) {
  std::string v(200 * 1024, fill);
  v[12345] = '#';
  return v;
}

TEST(NodeTest, WritesOverBigSiblingsKeepWhatTheyDoNotSupersedeOnOneNode) {
  Cluster c;
  BootUncached(c, 1, 1, 1, 1);
  Node* n1 = c.node("n1");
  auto base = Put(c, n1, "k", BigValue('0'));
  auto a = Put(c, n1, "k", BigValue('a'), &base.context);
  auto b = Put(c, n1, "k", BigValue('b'), &base.context);
  ASSERT_TRUE(base.status.ok() && a.status.ok() && b.status.ok());
  EXPECT_EQ(Values(Get(c, n1, "k").record), (std::vector<std::string>{BigValue('a'), BigValue('b')}));
  ASSERT_TRUE(Put(c, n1, "k", BigValue('c'), &a.context).status.ok());
  EXPECT_EQ(Values(Get(c, n1, "k").record), (std::vector<std::string>{BigValue('b'), BigValue('c')}));
  ASSERT_TRUE(Put(c, n1, "k", BigValue('d')).status.ok());
  EXPECT_EQ(Values(Get(c, n1, "k").record), std::vector<std::string>{BigValue('d')});
}

TEST(NodeTest, WritesOverBigSiblingsKeepWhatTheyDoNotSupersede) {
  Cluster c;
  BootUncached(c, 3, 3, 2, 2);
  auto big = BigValue;
  auto base = Put(c, c.node("n1"), "k", big('0'));
  ASSERT_TRUE(base.status.ok());
  auto a = Put(c, c.node("n1"), "k", big('a'), &base.context);
  auto b = Put(c, c.node("n2"), "k", big('b'), &base.context);
  ASSERT_TRUE(a.status.ok() && b.status.ok());
  EXPECT_EQ(Values(Get(c, c.node("n3"), "k", 3).record), (std::vector<std::string>{big('a'), big('b')}));
  // Supersedes a only: b is kept, value and all, on every replica.
  auto a2 = Put(c, c.node("n1"), "k", big('c'), &a.context);
  ASSERT_TRUE(a2.status.ok());
  for (const char* n : {"n1", "n2", "n3"}) {
    auto r = Get(c, c.node(n), "k", 3);
    ASSERT_TRUE(r.status.ok());
    EXPECT_EQ(Values(r.record), (std::vector<std::string>{big('b'), big('c')})) << n;
  }
  // Without a context: one value, on every replica.
  ASSERT_TRUE(Put(c, c.node("n2"), "k", big('d')).status.ok());
  for (const char* n : {"n1", "n2", "n3"}) {
    EXPECT_EQ(Values(Get(c, c.node(n), "k", 3).record), std::vector<std::string>{big('d')}) << n;
  }
  WriteRequest del;
  del.op = OpKind::kDelete;
  ASSERT_TRUE(DoWrite(c, c.node("n3"), "k", std::move(del)).status.ok());
  auto gone = Get(c, c.node("n1"), "k", 3);
  ASSERT_TRUE(gone.status.ok());
  EXPECT_TRUE(Values(gone.record).empty());
  EXPECT_FALSE(gone.record.context.empty());
}

// A big record gets time to cross between the nodes: 20 ms per MB past the request timeout
// (500 ms here), for a write and for a read. With both peers slow for 550 ms, a small
// record's write and read time out; a 10 MB one's (200 ms more) complete.
TEST(NodeTest, BigRecordsGetTimeToCross) {
  Cluster c;
  Boot(c, 3);
  for (bool big : {false, true}) {
    SCOPED_TRACE(big ? "10 MB" : "small");
    const std::string key = big ? "big" : "small";
    WriteRequest req;
    req.value.value = big ? std::string(10u << 20, 'b') : "v";
    auto wrote = std::make_shared<Outcome>();
    c.held = {"n2", "n3"};
    c.node("n1")->Write(key, std::move(req), [wrote](Status s, WriteReply) {
      wrote->done = true;
      wrote->status = s;
    });
    c.RunFor(550);
    c.Release();
    c.RunUntil(&wrote->done);
    ASSERT_TRUE(wrote->done);
    EXPECT_EQ(wrote->status.ok(), big) << wrote->status.ToString();
    if (!big) {
      ASSERT_TRUE(Put(c, c.node("n1"), key, "v").status.ok());
    }
    c.held = {"n2", "n3"};
    c.count_types = true;
    c.sent.clear();
    auto read = StartRead(c, c.node("n1"), key, 2);
    c.RunFor(400);
    // A small read asks its spare after read_retry_ms (50); a big one does not send a second
    // big reply on its way while the first is coming (only at its first deadline).
    EXPECT_EQ(c.sent[MsgType::kReadReq], big ? 1 : 2);
    c.RunFor(150);
    c.count_types = false;
    c.Release();
    c.RunUntil(&read->done);
    ASSERT_TRUE(read->done);
    EXPECT_EQ(read->status.ok(), big) << read->status.ToString();
    if (big) {
      EXPECT_EQ(Values(read->record), std::vector<std::string>{std::string(10u << 20, 'b')});
    }
  }
}

// kWriteAcks goes only to a peer whose last kLoad said it understands it: a node of an
// older release (here n2's load as such a node sends it, without features) would drop it,
// and writes it coordinates would miss their acks. It gets one kWriteAck per write.
TEST(NodeTest, WriteAcksGoBatchedOnlyToPeersThatUnderstandThem) {
  Cluster c;
  c.batched = true;
  Boot(c, 3);
  c.RunFor(5100);
  Message old;
  old.type = MsgType::kLoad;
  old.from_id = "n2";
  old.from_addr = c.node("n2")->config().cluster_addr;
  std::string frame = EncodeFrame(old, "");
  ASSERT_TRUE(DecodeFrame(frame, "", &old).ok());
  EXPECT_EQ(old.features, 0u);
  c.node("n1")->OnMessage(frame);
  c.node("n3")->OnMessage(frame);
  for (const char* coordinator : {"n2", "n1"}) {
    SCOPED_TRACE(coordinator);
    c.count_types = true;
    c.sent.clear();
    std::vector<std::shared_ptr<Outcome>> writes;
    for (int i = 0; i < 30; ++i) {
      auto out = std::make_shared<Outcome>();
      WriteRequest req;
      req.value.value = "v";
      c.node(coordinator)->Write(std::string(coordinator) + "-" + std::to_string(i), std::move(req),
                                 [out](Status s, WriteReply) {
                                   out->done = true;
                                   out->status = s;
                                 });
      writes.push_back(out);
    }
    c.RunFor(200);
    for (auto& w : writes) ASSERT_TRUE(w->done && w->status.ok()) << w->status.ToString();
    if (std::string(coordinator) == "n2") {
      EXPECT_EQ(c.sent[MsgType::kWriteAcks], 0);
      EXPECT_EQ(c.sent[MsgType::kWriteAck], 60);
    } else {  // n1 still says it understands them
      EXPECT_GT(c.sent[MsgType::kWriteAcks], 0);
      EXPECT_LT(c.sent[MsgType::kWriteAck], 60);
    }
    c.count_types = false;
  }
}

// A read through a node whose own copy of a big record has not arrived: the replica that
// answers with the big record says first that it is coming (kReadComing), so the read waits
// for it past request_timeout_ms instead of failing at its first deadline, and asks no spare
// meanwhile.
TEST(NodeTest, ABigReadReplySaysItIsComing) {
  Cluster c;
  Boot(c, 3);
  const std::string value(10u << 20, 'c');
  c.Kill("n2");  // its copy is lost on the way; n1 and n3 make W=2
  WriteRequest req;
  req.value.value = value;
  ASSERT_TRUE(DoWrite(c, c.node("n1"), "big", std::move(req)).status.ok());
  c.Revive("n2");
  EXPECT_TRUE(LocalRecord(c, "n2", "big").siblings.empty());
  c.held = {"n2"};
  c.held_min_bytes = 1u << 20;  // the note passes; the big reply is slow
  c.count_types = true;
  c.sent.clear();
  auto read = StartRead(c, c.node("n2"), "big", 2);
  c.RunFor(400);  // request_timeout_ms is 500 here; 10 MB get ~200 ms more
  EXPECT_EQ(c.sent[MsgType::kReadComing], 1);
  EXPECT_EQ(c.sent[MsgType::kReadReq], 1) << "a spare was asked while the big reply was coming";
  c.RunFor(250);
  EXPECT_FALSE(read->done) << read->status.ToString();
  c.count_types = false;
  c.Release();
  c.RunUntil(&read->done);
  ASSERT_TRUE(read->done);
  ASSERT_TRUE(read->status.ok()) << read->status.ToString();
  EXPECT_EQ(Values(read->record), std::vector<std::string>{value});
}

// A 2 MB value v1 written through n1 and on all three replicas, then v2 over it while
// `misses` is down, so that replica alone still holds v1.
void WriteBigThenMissOne(Cluster& c, const std::string& v1, const std::string& v2, const char* misses) {
  WriteRequest req;
  req.value.value = v1;
  auto w1 = DoWrite(c, c.node("n1"), "big", std::move(req));
  ASSERT_TRUE(w1.status.ok());
  c.RunFor(100);  // the third copy lands
  c.Kill(misses);
  WriteRequest over;
  over.value.value = v2;
  over.has_context = true;
  over.context = w1.context;
  ASSERT_TRUE(DoWrite(c, c.node("n1"), "big", std::move(over)).status.ok());
  c.Revive(misses);
  ASSERT_EQ(Values(LocalRecord(c, misses, "big")), std::vector<std::string>{v1});
}

// A big record read through one of its replicas at R=2: the coordinator holds its own copy's
// versions back and a peer's copy with the same versions answers for both, so its own copy is
// never loaded whole. A stale coordinator (a write it missed) loads its copy after all, joins,
// answers the newer value and is repaired.
TEST(NodeTest, ABigReadTakesAPeersEqualCopyInsteadOfItsOwn) {
  Cluster c;
  Boot(c, 3);
  const std::string v1(2u << 20, '1'), v2(2u << 20, '2');
  WriteRequest req;
  req.value.value = v1;
  ASSERT_TRUE(DoWrite(c, c.node("n1"), "big", std::move(req)).status.ok());
  c.RunFor(100);  // the third copy lands
  auto r = Get(c, c.node("n1"), "big", 2);
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  EXPECT_EQ(Values(r.record), std::vector<std::string>{v1});
  EXPECT_EQ(c.node("n1")->stats().big_reads_from_peer, 1u);
  EXPECT_EQ(c.node("n1")->stats().read_repairs, 0u);

  ASSERT_NO_FATAL_FAILURE(WriteBigThenMissOne(c, v1, v2, "n2"));
  auto stale = Get(c, c.node("n2"), "big", 2);
  ASSERT_TRUE(stale.status.ok()) << stale.status.ToString();
  EXPECT_EQ(Values(stale.record), std::vector<std::string>{v2});
  EXPECT_EQ(c.node("n2")->stats().big_reads_from_peer, 0u);
  c.RunFor(100);
  EXPECT_EQ(Values(LocalRecord(c, "n2", "big")), std::vector<std::string>{v2}) << "the stale copy was not repaired";
}

// Read repair of a big record reaches a stale peer as one encoding in a split frame (not a
// frame encoded per replica).
TEST(NodeTest, ABigReadRepairReachesAStalePeer) {
  Cluster c;
  Boot(c, 3);
  const std::string v1(2u << 20, 'x'), v2(2u << 20, 'y');
  ASSERT_NO_FATAL_FAILURE(WriteBigThenMissOne(c, v1, v2, "n3"));
  uint64_t repairs = c.node("n1")->stats().read_repairs;
  auto r = Get(c, c.node("n1"), "big", 3);  // every replica answers: n3's copy differs
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  EXPECT_EQ(Values(r.record), std::vector<std::string>{v2});
  EXPECT_EQ(c.node("n1")->stats().read_repairs, repairs + 1);
  c.RunFor(200);
  EXPECT_EQ(Values(LocalRecord(c, "n3", "big")), std::vector<std::string>{v2}) << "the stale peer was not repaired";
}

TEST(NodeTest, DeleteIsATombstone) {
  Cluster c;
  Boot(c, 3);
  auto w = Put(c, c.node("n1"), "k", "v");
  WriteRequest del;
  del.op = OpKind::kDelete;
  del.has_context = true;
  del.context = w.context;
  ASSERT_TRUE(DoWrite(c, c.node("n2"), "k", del).status.ok());
  auto r = Get(c, c.node("n3"), "k", 3);
  ASSERT_TRUE(r.status.ok());
  EXPECT_TRUE(Values(r.record).empty());
  EXPECT_FALSE(r.record.context.empty());
}

int64_t CounterOf(const Record& rec) {
  std::string v;
  EXPECT_TRUE(ResolveValue(rec, 1'800'000'000'000ull, &v).ok());
  return std::stoll(v);
}

TEST(NodeTest, ConcurrentCountersFromTwoCoordinatorsLoseNothing) {
  Cluster c;
  Boot(c, 3);
  auto set = Put(c, c.node("n1"), "cnt", "10");  // a plain integer becomes the base
  ASSERT_TRUE(set.status.ok());
  int done = 0, calls = 0;
  bool all = false;
  const int kEach = 20;
  for (int i = 0; i < kEach; ++i) {
    for (auto id : {"n1", "n2"}) {
      WriteRequest req;
      req.op = OpKind::kCounterAdd;
      req.delta = id[1] == '1' ? 1 : 2;
      c.node(id)->Write("cnt", req, [&](Status s, WriteReply) {
        EXPECT_TRUE(s.ok()) << s.ToString();
        ++calls;
        if (++done == 2 * kEach) all = true;
      });
    }
    if (i % 3 == 0) c.Deliver();  // interleave: some adds see others, some do not
  }
  c.RunUntil(&all);
  EXPECT_EQ(calls, 2 * kEach);
  auto r = Get(c, c.node("n3"), "cnt", 3);
  ASSERT_TRUE(r.status.ok());
  EXPECT_EQ(CounterOf(r.record), 10 + kEach * 3);
  // A non-integer is refused.
  ASSERT_TRUE(Put(c, c.node("n1"), "s", "abc").status.ok());
  WriteRequest bad;
  bad.op = OpKind::kCounterAdd;
  bad.delta = 1;
  auto e = DoWrite(c, c.node("n1"), "s", bad);
  EXPECT_EQ(e.status.code(), Code::kInvalidArgument);
  EXPECT_EQ(e.status.message(), "value is not an integer or out of range");
}

// ZINCRBY's op: score counter adds through two coordinators, interleaved with deliveries
// (some adds see the others, some do not), starting from a ZADD register; every increment
// counts. A NaN result is refused and changes nothing.
TEST(NodeTest, ConcurrentScoreAddsFromTwoCoordinatorsLoseNothing) {
  Cluster c;
  Boot(c, 3);
  ASSERT_TRUE(Put(c, c.node("n1"), "zel", EncodeScore(0.25)).status.ok());
  int done = 0, calls = 0;
  bool all = false;
  const int kEach = 20;
  for (int i = 0; i < kEach; ++i) {
    for (auto id : {"n1", "n2"}) {
      WriteRequest req;
      req.op = OpKind::kScoreAdd;
      req.delta = ScoreDeltaBits(id[1] == '1' ? 1.5 : -0.5);
      c.node(id)->Write("zel", req, [&](Status s, WriteReply) {
        EXPECT_TRUE(s.ok()) << s.ToString();
        ++calls;
        if (++done == 2 * kEach) all = true;
      });
    }
    if (i % 3 == 0) c.Deliver();
  }
  c.RunUntil(&all);
  EXPECT_EQ(calls, 2 * kEach);
  auto r = Get(c, c.node("n3"), "zel", 3);
  ASSERT_TRUE(r.status.ok());
  ElementView ev;
  ASSERT_TRUE(ResolveElement(r.record, 1'800'000'000'000ull, &ev).ok());
  double score = 0;
  ASSERT_TRUE(DecodeScore(ev.value, &score));
  EXPECT_EQ(score, 0.25 + kEach * 1.0);
  // +inf then -inf: NaN, refused with Redis's text; the score stays +inf.
  WriteRequest inf;
  inf.op = OpKind::kScoreAdd;
  inf.delta = ScoreDeltaBits(std::numeric_limits<double>::infinity());
  ASSERT_TRUE(DoWrite(c, c.node("n1"), "zinf", inf).status.ok());
  inf.delta = ScoreDeltaBits(-std::numeric_limits<double>::infinity());
  auto e = DoWrite(c, c.node("n2"), "zinf", inf);
  EXPECT_EQ(e.status.code(), Code::kInvalidArgument);
  EXPECT_EQ(e.status.message(), "resulting score is not a number (NaN)");
  auto back = Get(c, c.node("n3"), "zinf", 3);
  ASSERT_TRUE(ResolveElement(back.record, 1'800'000'000'000ull, &ev).ok());
  ASSERT_TRUE(DecodeScore(ev.value, &score));
  EXPECT_EQ(score, std::numeric_limits<double>::infinity());
}

// HINCRBYFLOAT's float counter (OpKind::kFloatAdd) the same way: increments of 0.1 (not
// exact in binary) through two coordinators at once all count, in long double, and the
// field reads as Redis formats the sum. A field holding text refuses it; an overflow to
// infinity is refused with Redis's text and changes nothing.
TEST(NodeTest, ConcurrentFloatAddsFromTwoCoordinatorsLoseNothing) {
  Cluster c;
  Boot(c, 3);
  ASSERT_TRUE(Put(c, c.node("n1"), "hf", "10.5").status.ok());
  int done = 0;
  bool all = false;
  const int kEach = 20;
  for (int i = 0; i < kEach; ++i) {
    for (auto id : {"n1", "n2"}) {
      WriteRequest req;
      req.op = OpKind::kFloatAdd;
      req.value.value = EncodeFloatAdd(id[1] == '1' ? 0.1L : -0.05L, nullptr);
      c.node(id)->Write("hf", req, [&](Status s, WriteReply) {
        EXPECT_TRUE(s.ok()) << s.ToString();
        if (++done == 2 * kEach) all = true;
      });
    }
    if (i % 3 == 0) c.Deliver();
  }
  c.RunUntil(&all);
  auto r = Get(c, c.node("n3"), "hf", 3);
  ASSERT_TRUE(r.status.ok());
  ElementView ev;
  ASSERT_TRUE(ResolveElement(r.record, 1'800'000'000'000ull, &ev).ok());
  EXPECT_TRUE(ev.float_counter);
  EXPECT_EQ(ev.value, "11.5");  // 10.5 + 20 x 0.1 - 20 x 0.05
  // Text is no float; an add past the largest long double is refused.
  ASSERT_TRUE(Put(c, c.node("n1"), "htext", "abc").status.ok());
  WriteRequest one;
  one.op = OpKind::kFloatAdd;
  one.value.value = EncodeFloatAdd(1, nullptr);
  auto t = DoWrite(c, c.node("n2"), "htext", one);
  EXPECT_EQ(t.status.code(), Code::kInvalidArgument);
  EXPECT_EQ(t.status.message(), "hash value is not a float");
  WriteRequest big;
  big.op = OpKind::kFloatAdd;
  big.value.value = EncodeFloatAdd(std::numeric_limits<long double>::max(), nullptr);
  ASSERT_TRUE(DoWrite(c, c.node("n1"), "hbig", big).status.ok());
  auto o = DoWrite(c, c.node("n2"), "hbig", big);
  EXPECT_EQ(o.status.message(), "increment would produce NaN or Infinity");
  // HINCRBY continues a float counter that holds an integer, and refuses one that does not.
  auto float_add = [](long double d) {
    WriteRequest q;
    q.op = OpKind::kFloatAdd;
    q.value.value = EncodeFloatAdd(d, nullptr);
    return q;
  };
  WriteRequest inc;
  inc.op = OpKind::kCounterAdd;
  inc.delta = 1;
  EXPECT_EQ(DoWrite(c, c.node("n3"), "hf", inc).status.message(), "value is not an integer or out of range");
  ASSERT_TRUE(DoWrite(c, c.node("n1"), "hf", float_add(0.5L)).status.ok());  // 12
  auto hi = DoWrite(c, c.node("n3"), "hf", inc);
  ASSERT_TRUE(hi.status.ok()) << hi.status.ToString();
  ASSERT_TRUE(ResolveElement(hi.record, 1'800'000'000'000ull, &ev).ok());
  EXPECT_EQ(ev.value, "13");
  ASSERT_TRUE(DoWrite(c, c.node("n1"), "hf", float_add(0.25L)).status.ok());  // 13.25
  auto bad = DoWrite(c, c.node("n2"), "hf", inc);
  EXPECT_EQ(bad.status.message(), "value is not an integer or out of range");
}

TEST(NodeTest, DuplicatedAndReorderedMessagesStillCompleteOnce) {
  Cluster c;
  Boot(c, 3);
  c.duplicate_all = true;
  c.reverse_order = true;
  for (int i = 0; i < 10; ++i) {
    std::string k = "k" + std::to_string(i);
    ASSERT_TRUE(Put(c, c.node("n" + std::to_string(1 + i % 3)), k, "v").status.ok());
    auto r = Get(c, c.node("n" + std::to_string(1 + (i + 1) % 3)), k, 3);
    ASSERT_TRUE(r.status.ok());
    EXPECT_EQ(Values(r.record), std::vector<std::string>{"v"});
  }
}

// Lossy network, random coordinators and ops: every request completes exactly once, within
// the request timeout (+ one forwarding hop), OK or Unavailable, never anything else.
TEST(NodeTest, LossyNetworkEveryRequestCompletesOnceInTime) {
  for (uint64_t seed = 1; seed <= 5; ++seed) {
    Cluster c(seed);
    Boot(c, 4);
    c.drop_percent = 20;
    SeededRandom rnd(seed * 31);
    struct Req {
      int calls = 0;
      uint64_t started = 0, finished = 0;
    };
    std::vector<std::shared_ptr<Req>> reqs;
    for (int i = 0; i < 60; ++i) {
      Node* n = c.node("n" + std::to_string(1 + rnd.Uniform(4)));
      std::string key = "k" + std::to_string(rnd.Uniform(8));
      auto req = std::make_shared<Req>();
      req->started = c.clock.now_ms;
      reqs.push_back(req);
      auto check = [req, &c](const Status& s) {
        ++req->calls;
        req->finished = c.clock.now_ms;
        EXPECT_TRUE(s.ok() || s.code() == Code::kUnavailable) << s.ToString();
      };
      switch (rnd.Uniform(3)) {
        case 0:
          n->Read(key, 0, [check](Status s, ReadReply) { check(s); });
          break;
        case 1: {
          WriteRequest w;
          w.value.value = "v" + std::to_string(i);
          n->Write(key, w, [check](Status s, WriteReply) { check(s); });
          break;
        }
        default: {
          WriteRequest w;
          w.op = OpKind::kDelete;
          n->Write(key, w, [check](Status s, WriteReply) { check(s); });
          break;
        }
      }
      c.RunFor(10 * rnd.Uniform(5));
    }
    c.RunFor(2000);
    for (auto& r : reqs) {
      EXPECT_EQ(r->calls, 1) << "seed " << seed;
      EXPECT_LE(r->finished - r->started, 500u + 20u) << "seed " << seed;
    }
  }
}

TEST(NodeTest, GarbageFramesDoNotCrash) {
  Cluster c;
  Boot(c, 3);
  SeededRandom rnd(3);
  Node* n = c.node("n1");
  for (int i = 0; i < 5000; ++i) {
    std::string g(rnd.Uniform(100), '\0');
    for (auto& ch : g) ch = static_cast<char>(rnd.Next());
    n->OnMessage(g);
  }
  // Well-formed but unsolicited replies are ignored too.
  Message m;
  m.from_id = "n2";
  m.from_addr = "addr-n2";
  for (MsgType t : {MsgType::kReadResp, MsgType::kWriteAck, MsgType::kForwardResp}) {
    m.type = t;
    m.req_id = 987654;
    n->OnMessage(EncodeFrame(m, ""));
  }
  EXPECT_TRUE(Put(c, n, "k", "v").status.ok());
}

TEST(NodeTest, WrongSecretCannotJoinOrWrite) {
  Cluster c;
  for (int i = 1; i <= 3; ++i) {
    NodeConfig cfg = c.Config("n" + std::to_string(i));
    cfg.cluster_secret = "good";
    c.Add(cfg);
  }
  c.RunFor(1500);
  NodeConfig evil = c.Config("evil");
  evil.cluster_secret = "bad";
  Node* e = c.Add(evil);
  c.RunFor(1500);
  for (auto id : {"n1", "n2", "n3"}) {
    EXPECT_EQ(UpCount(c.node(id)), 3u);
    for (auto& m : c.node(id)->Members()) EXPECT_NE(m.id, "evil");
  }
  // Its frames are refused: it cannot replicate a write to anyone.
  auto w = Put(c, e, "k", "v");
  EXPECT_FALSE(w.status.ok());
  for (auto id : {"n1", "n2", "n3"}) EXPECT_TRUE(LocalRecord(c, id, "k").siblings.empty());
}

TEST(NodeTest, SloppyQuorumAndHintedHandoff) {
  Cluster c;
  Boot(c, 5, /*n=*/3, /*r=*/2, /*w=*/3);
  // A key whose preference list holds n1 and n5; n5 goes down.
  const std::string key = KeysFromN1WithN5(c, "h", 1)[0];
  c.Kill("n5");
  c.RunFor(2500);  // n5 is now down in everyone's view
  auto w = Put(c, c.node("n1"), key, "hinted");
  ASSERT_TRUE(w.status.ok()) << w.status.ToString();  // W=3 met with a stand-in
  uint64_t stored = 0;
  for (auto id : {"n2", "n3", "n4"}) stored += c.node(id)->stats().hints_stored;
  EXPECT_EQ(stored, 1u);
  // The stand-in shows the hint as pending for n5 (INFO's hints_pending_n5).
  uint64_t pending = 0;
  for (auto id : {"n2", "n3", "n4"}) {
    auto by = c.node(id)->PendingHints();
    for (auto& [owner, n] : by) EXPECT_EQ(owner, "n5") << id;
    if (by.count("n5")) pending += by["n5"];
  }
  EXPECT_EQ(pending, 1u);
  EXPECT_TRUE(LocalRecord(c, "n5", key).siblings.empty());
  c.Revive("n5");
  c.RunFor(2000);
  EXPECT_EQ(Values(LocalRecord(c, "n5", key)), std::vector<std::string>{"hinted"});
  uint64_t delivered = 0;
  for (auto id : {"n2", "n3", "n4"}) delivered += c.node(id)->stats().hints_delivered;
  EXPECT_EQ(delivered, 1u);
  for (auto id : {"n2", "n3", "n4"}) EXPECT_TRUE(c.node(id)->PendingHints().empty()) << id;
}

// A big hint goes to its owner as the bytes it is stored as, and its delivery gets the same
// time to cross as a big write (20 MB: request_timeout_ms + ~400 ms). Held on its way past
// request_timeout_ms, it is sent once and delivered whole; before, it timed out and went
// again.
TEST(NodeTest, BigHintsGetTimeToCross) {
  Cluster c;
  Boot(c, 5, /*n=*/3, /*r=*/2, /*w=*/3);
  const std::string key = KeysFromN1WithN5(c, "bh", 1)[0];
  c.Kill("n5");
  c.RunFor(2500);
  const std::string value(20u << 20, 'h');
  WriteRequest req;
  req.value.value = value;
  ASSERT_TRUE(DoWrite(c, c.node("n1"), key, std::move(req)).status.ok());
  c.held = {"n5"};
  c.count_types = true;
  c.sent.clear();
  c.Revive("n5");
  for (int i = 0; i < 500 && c.sent[MsgType::kWriteReq] == 0; ++i) c.RunFor(10);
  ASSERT_EQ(c.sent[MsgType::kWriteReq], 1) << "the hint was not sent";
  c.RunFor(700);  // past request_timeout_ms (500 here), within the ~400 ms 20 MB get more
  EXPECT_EQ(c.sent[MsgType::kWriteReq], 1) << "the delivery timed out and the hint went again";
  c.count_types = false;
  c.Release();
  c.RunFor(1000);
  EXPECT_EQ(Values(LocalRecord(c, "n5", key)), std::vector<std::string>{value});
  uint64_t delivered = 0;
  for (auto id : {"n2", "n3", "n4"}) {
    delivered += c.node(id)->stats().hints_delivered;
    EXPECT_TRUE(c.node(id)->PendingHints().empty()) << id;
  }
  EXPECT_EQ(delivered, 1u);
}

// limits.max_hints: a stand-in holding its cap of hints refuses another, so a write that
// needs it fails (W is not met, and the error names the refusal) rather than being
// acknowledged with fewer than W durable copies. What was acknowledged reaches its owner when
// it returns, and the stand-ins then take hints again.
TEST(NodeTest, HintCapRefusesTheStandInAndLosesNothing) {
  Cluster c;
  for (int i = 1; i <= 5; ++i) {
    NodeConfig cfg = c.Config("n" + std::to_string(i), /*n=*/3, /*r=*/2, /*w=*/3);
    cfg.max_hints = 2;
    c.Add(cfg);
  }
  c.RunFor(1500);
  const std::vector<std::string> keys = KeysFromN1WithN5(c, "cap", 24);
  c.Kill("n5");
  c.RunFor(2500);
  std::vector<std::string> acked, refused;
  for (const auto& k : keys) {
    auto w = Put(c, c.node("n1"), k, "v-" + k);
    if (w.status.ok()) {
      acked.push_back(k);
    } else {
      refused.push_back(k);
      EXPECT_NE(w.status.message().find("hint store full"), std::string::npos) << w.status.ToString();
    }
  }
  // Each stand-in (n2..n4) holds at most its cap, and every acknowledged write is one of them.
  uint64_t held = 0;
  for (auto id : {"n2", "n3", "n4"}) {
    auto by = c.node(id)->PendingHints();
    EXPECT_LE(by["n5"], 2u) << id;
    held += by["n5"];
  }
  EXPECT_EQ(held, acked.size());
  EXPECT_GE(acked.size(), 2u);
  EXPECT_LE(acked.size(), 6u);
  ASSERT_FALSE(refused.empty());
  // A refused write was not acknowledged, and W=2 (no stand-in needed) still works.
  auto w2 = Put(c, c.node("n1"), refused[0], "w2", nullptr, /*w=*/2);
  EXPECT_TRUE(w2.status.ok()) << w2.status.ToString();
  c.Revive("n5");
  c.RunFor(3000);
  for (const auto& k : acked) {
    EXPECT_EQ(Values(LocalRecord(c, "n5", k)), std::vector<std::string>{"v-" + k}) << k;
  }
  for (auto id : {"n2", "n3", "n4"}) EXPECT_TRUE(c.node(id)->PendingHints().empty()) << id;
  // Delivered hints free the cap: with n5 down again, a W=3 write gets its stand-in.
  c.Kill("n5");
  c.RunFor(2500);
  auto again = Put(c, c.node("n1"), refused.back(), "again");
  EXPECT_TRUE(again.status.ok()) << again.status.ToString();
}

TEST(NodeTest, LeaveAndRemove) {
  Cluster c;
  Boot(c, 4);
  ASSERT_TRUE(c.node("n4")->Leave().ok());
  c.RunFor(500);
  // n4 held nothing to hand off: it went from leaving to removed at once.
  for (auto id : {"n1", "n2", "n3"}) {
    EXPECT_EQ(RingNodes(*c.node(id)).size(), 3u) << id;
    for (auto& m : c.node(id)->Members()) {
      if (m.id == "n4") { EXPECT_EQ(m.status, "removed"); }
    }
  }
  EXPECT_EQ(c.node("n4")->Leave().code(), Code::kInvalidArgument);  // already gone
  c.Kill("n3");
  c.RunFor(3000);
  ASSERT_TRUE(c.node("n1")->Remove("n3").ok());
  EXPECT_EQ(c.node("n1")->Remove("n1").code(), Code::kInvalidArgument);
  EXPECT_EQ(c.node("n1")->Remove("nope").code(), Code::kNotFound);
  c.RunFor(1000);
  c.Revive("n3");  // comes back: it learns it was removed and stays out
  c.RunFor(1000);
  for (auto id : {"n1", "n2"}) {
    EXPECT_EQ(RingNodes(*c.node(id)).size(), 2u) << id;
    for (auto& m : c.node(id)->Members()) {
      if (m.id == "n3") { EXPECT_EQ(m.status, "removed"); }
    }
  }
}

TEST(NodeTest, RestartBumpsIncarnationAndActorAndKeepsData) {
  Cluster c;
  Boot(c, 3);
  ASSERT_TRUE(Put(c, c.node("n2"), "k", "v").status.ok());
  ActorId before = c.node("n2")->actor();
  Host& h = c.host("n2");
  h.engine->SimulateCrash();
  SeededRandom rnd(99);
  h.node = std::make_unique<Node>(h.cfg, h.transport.get(), &c.clock, &rnd, h.engine.get(),
                                  nullptr);
  ASSERT_TRUE(h.node->Start().ok());
  EXPECT_NE(h.node->actor(), before);
  c.RunFor(1000);
  EXPECT_EQ(UpCount(c.node("n1")), 3u);
  EXPECT_EQ(Values(Get(c, h.node.get(), "k", 3).record), std::vector<std::string>{"v"});
  for (auto& m : c.node("n1")->Members()) {
    if (m.id == "n2") { EXPECT_EQ(m.incarnation, 2u); }
  }
}

TEST(NodeTest, ScanFlushAndCount) {
  Cluster c;
  Boot(c, 1, /*n=*/1, /*r=*/1, /*w=*/1);
  Node* n = c.node("n1");
  for (int i = 0; i < 600; ++i) ASSERT_TRUE(Put(c, n, "k" + std::to_string(1000 + i), "v").status.ok());
  EXPECT_EQ(n->LocalKeyCountEstimate(), 600u);
  std::vector<std::string> keys;
  ASSERT_TRUE(n->ScanLocal("", 0, [&](std::string_view k, const Record&) {
                 keys.emplace_back(k);
                 return true;
               }).ok());
  EXPECT_EQ(keys.size(), 600u);
  // In (partition, key) order: a partition's records are one range (handoff moves them).
  auto order = [](const std::string& a, const std::string& b) {
    return std::make_pair(KeyPartition(a), a) < std::make_pair(KeyPartition(b), b);
  };
  EXPECT_TRUE(std::is_sorted(keys.begin(), keys.end(), order));
  std::vector<std::string> all = keys;
  size_t at = std::find(all.begin(), all.end(), "k1100") - all.begin();
  ASSERT_LT(at + 10, all.size());
  keys.clear();
  ASSERT_TRUE(n->ScanLocal("k1100", 10, [&](std::string_view k, const Record&) {
                 keys.emplace_back(k);
                 return true;
               }).ok());
  ASSERT_EQ(keys.size(), 10u);
  EXPECT_EQ(keys.front(), all[at + 1]);
  EXPECT_EQ(keys.back(), all[at + 10]);
  ActorId a = n->actor();
  ASSERT_TRUE(n->FlushLocal().ok());
  EXPECT_NE(n->actor(), a);
  EXPECT_EQ(n->LocalKeyCountEstimate(), 0u);
  size_t left = 0;
  ASSERT_TRUE(n->ScanLocal("", 0, [&](std::string_view, const Record&) { return ++left, true; }).ok());
  EXPECT_EQ(left, 0u);
}

// A standalone node (no cluster address: N=R=W=1) over a MemEngine; it must never send.
struct StandaloneNode {
  struct NoNet : Transport {
    void Send(const std::string&, std::string) override { ADD_FAILURE() << "sent a frame"; }
  };
  FakeClock clock;
  SeededRandom rnd{1};
  storage::MemEngine engine;
  NoNet net;
  Node node{NodeConfig{}, &net, &clock, &rnd, &engine, nullptr};
};

// Keys up to the engine's limit (less the node's data prefix) are stored and read back; one
// byte more, or far more, is refused with the engine's reason, and the node goes on working.
TEST(NodeTest, KeysAtAndBeyondTheLengthLimit) {
  StandaloneNode sa;
  Node& n = sa.node;
  ASSERT_TRUE(n.Start().ok());
  auto write = [&](const std::string& key, const std::string& value) {
    Status out = Status::IOError("no callback");
    WriteRequest req;
    req.value.value = value;
    n.Write(key, req, [&](Status s, WriteReply) { out = s; });
    return out;
  };
  size_t fits = 0;
  for (size_t len = storage::kKeyBytesMax; len > 0 && fits == 0; --len) {
    if (write(std::string(len, 'k'), "v").ok()) fits = len;
  }
  ASSERT_GT(fits, storage::kKeyBytesMax - 8);  // only the node's short prefix is taken
  for (size_t len : {fits - 1, fits}) {
    std::string key(len, 'a');
    ASSERT_TRUE(write(key, "v" + std::to_string(len)).ok()) << len;
    n.Read(key, 0, [&](Status s, ReadReply r) {
      ASSERT_TRUE(s.ok());
      ASSERT_EQ(r.record.siblings.size(), 1u);
      EXPECT_EQ(r.record.siblings[0].value, "v" + std::to_string(len));
    });
  }
  for (size_t len : {fits + 1, fits + 2, size_t{5000}, size_t{100000}}) {
    Status s = write(std::string(len, 'b'), "v");
    EXPECT_EQ(s.code(), Code::kInvalidArgument) << len << ": " << s.ToString();
    EXPECT_NE(s.message().find("limit"), std::string::npos) << s.ToString();
  }
  EXPECT_TRUE(write("after", "ok").ok());
}

// A value the row cache will not keep is encoded in its own buffer (EncodeRecord(Record&&)):
// the cache must not keep the record it took the value from, and the value must reach reads,
// overwrites and (in a cluster) every replica whole.
TEST(NodeTest, BigValuesTakenIntoTheirRecordAreReadBackWhole) {
  FakeClock clock;
  SeededRandom rnd{1};
  storage::MemEngine engine;
  StandaloneNode::NoNet net;
  NodeConfig cfg;
  cfg.record_cache_bytes = 8u << 20;  // keeps records up to 1 MB
  Node n{cfg, &net, &clock, &rnd, &engine, nullptr};
  ASSERT_TRUE(n.Start().ok());
  auto write = [&](const std::string& key, const std::string& value) {
    WriteRequest req;
    req.value.value.reserve(value.size() + 4096);  // the room RespParser leaves
    req.value.value = value;
    Status out = Status::IOError("no callback");
    n.Write(key, std::move(req), [&](Status s, WriteReply) { out = s; });
    return out;
  };
  auto read = [&](const std::string& key) {
    std::string v = "<no reply>";
    n.Read(key, 0, [&](Status s, ReadReply r) {
      ASSERT_TRUE(s.ok()) << s.ToString();
      ASSERT_EQ(r.record.siblings.size(), 1u);
      v = r.record.siblings[0].value;
    });
    return v;
  };
  const std::string big(kEncodeInPlaceBytes * 2, 'b'), other(kEncodeInPlaceBytes + 3, 'o');
  ASSERT_TRUE(write("k", "small").ok());
  EXPECT_EQ(read("k"), "small");  // cached
  ASSERT_TRUE(write("k", big).ok());
  EXPECT_EQ(read("k"), big);
  EXPECT_EQ(read("k"), big);  // again: the cache did not keep a hollow record
  ASSERT_TRUE(write("k", other).ok());
  EXPECT_EQ(read("k"), other);
  ASSERT_TRUE(write("k", "small again").ok());
  EXPECT_EQ(read("k"), "small again");
  std::string stored;
  ASSERT_TRUE(engine.Get(DataKey("k"), &stored).ok());
  Record rec;
  ASSERT_TRUE(DecodeRecord(stored, &rec).ok());
  ASSERT_EQ(rec.siblings.size(), 1u);
  EXPECT_EQ(rec.siblings[0].value, "small again");

  // Three nodes: the coordinator takes the value into its record, and the replicas still get
  // the whole value (the frame is built from the stored record).
  Cluster c;
  for (auto id : {"n1", "n2", "n3"}) {
    NodeConfig nc = c.Config(id);
    nc.record_cache_bytes = 8u << 20;
    c.Add(nc);
  }
  c.RunFor(1500);  // as Boot: membership settles
  std::string value = big;
  value.reserve(big.size() + 4096);
  auto w = Put(c, c.node("n1"), "kb", value);
  ASSERT_TRUE(w.status.ok()) << w.status.ToString();
  c.RunFor(100);
  for (auto id : {"n1", "n2", "n3"}) {
    auto r = Get(c, c.node(id), "kb", 3);
    ASSERT_TRUE(r.status.ok()) << id;
    EXPECT_TRUE(Values(r.record) == std::vector<std::string>{big}) << id;
    EXPECT_TRUE(Values(LocalRecord(c, id, "kb")) == std::vector<std::string>{big}) << id;
  }
}

TEST(NodeTest, StandaloneIsSynchronous) {
  StandaloneNode sa;
  Node& n = sa.node;
  ASSERT_TRUE(n.Start().ok());
  int calls = 0;
  WriteRequest req;
  req.value.value = "1";
  VersionVector ctx;
  n.Write("k", req, [&](Status s, WriteReply r) {
    ASSERT_TRUE(s.ok());
    ctx = r.context;
    ++calls;
  });
  EXPECT_EQ(calls, 1);
  WriteRequest inc;
  inc.op = OpKind::kCounterAdd;
  inc.delta = 41;
  n.Write("k", inc, [&](Status s, WriteReply r) {
    ASSERT_TRUE(s.ok());
    EXPECT_EQ(CounterOf(r.record), 42);
    ++calls;
  });
  EXPECT_EQ(calls, 2);
  n.Read("k", 0, [&](Status s, ReadReply r) {
    ASSERT_TRUE(s.ok());
    EXPECT_EQ(CounterOf(r.record), 42);
    ++calls;
  });
  EXPECT_EQ(calls, 3);
  n.Read("k", 2, [&](Status s, ReadReply) {
    EXPECT_EQ(s.code(), Code::kInvalidArgument);
    ++calls;
  });
  EXPECT_EQ(calls, 4);
  // A write that does not ask for the context or the record (SET) gets neither; the record
  // is stored with its context all the same, and the next write that asks gets one that
  // covers both.
  WriteRequest bare;
  bare.value.value = "v";
  bare.want_record = false;
  bare.want_context = false;
  n.Write("b", bare, [&](Status s, WriteReply r) {
    ASSERT_TRUE(s.ok());
    EXPECT_TRUE(r.context.entries().empty());
    EXPECT_TRUE(r.record.siblings.empty());
    ++calls;
  });
  WriteRequest full;
  full.value.value = "w";
  n.Write("b", full, [&](Status s, WriteReply r) {
    ASSERT_TRUE(s.ok());
    ASSERT_EQ(r.context.entries().size(), 1u);
    EXPECT_EQ(r.context.entries()[0].counter, 2u);
    EXPECT_EQ(r.context, r.record.context);
    ++calls;
  });
  n.Read("b", 0, [&](Status s, ReadReply r) {
    ASSERT_TRUE(s.ok());
    ASSERT_EQ(r.record.siblings.size(), 1u);
    EXPECT_EQ(r.record.siblings[0].value, "w");
    ++calls;
  });
  EXPECT_EQ(calls, 7);
  EXPECT_EQ(n.Members().size(), 1u);
  EXPECT_EQ(n.PreferenceList("k"), std::vector<std::string>{"n1"});
  EXPECT_EQ(n.Join("x:1").code(), Code::kNotSupported);
  n.OnTick();
  n.OnMessage("garbage");
}

}  // namespace
}  // namespace dynakv::cluster

namespace dynakv::cluster {
namespace {

// A node that joins gets every partition it now owns from the nodes that held it; nodes
// that lost ownership hand theirs over and drop their copies; nothing is left in transfer.
TEST(HandoffTest, JoinMovesPartitionsToTheNewOwner) {
  Cluster c;
  Boot(c, 4);
  std::vector<std::string> keys;
  for (int i = 0; i < 300; ++i) keys.push_back("hk" + std::to_string(i));
  for (auto& k : keys) ASSERT_TRUE(Put(c, c.node("n1"), k, "v-" + k).status.ok()) << k;
  c.Add(c.Config("n5"));
  c.RunFor(4000);
  size_t moved = 0;
  for (auto& k : keys) {
    std::vector<std::string> owners = c.node("n1")->PreferenceList(k);
    ASSERT_EQ(owners.size(), 3u);
    EXPECT_EQ(c.node("n5")->PreferenceList(k), owners) << k;
    for (auto id : {"n1", "n2", "n3", "n4", "n5"}) {
      bool owner = std::find(owners.begin(), owners.end(), id) != owners.end();
      Record rec = LocalRecord(c, id, k);
      if (owner) {
        EXPECT_EQ(Values(rec), std::vector<std::string>{"v-" + k}) << k << " on owner " << id;
      } else {
        EXPECT_TRUE(rec.siblings.empty()) << k << " still on non-owner " << id;
      }
    }
    moved += std::find(owners.begin(), owners.end(), "n5") != owners.end();
  }
  EXPECT_GT(moved, 30u);  // about 3/5 of the keys gain n5 as an owner
  EXPECT_GT(c.node("n5")->stats().handoff_records_received, 0u);
  uint64_t dropped = 0;
  for (auto id : {"n1", "n2", "n3", "n4", "n5"}) {
    EXPECT_TRUE(c.node(id)->Transfers().empty()) << id;
    dropped += c.node(id)->stats().handoff_partitions_dropped;
  }
  EXPECT_GT(dropped, 0u);
}

// A leaving node streams a big partition in chunks; killed after the first acknowledged
// chunk and restarted, it goes on from its persisted cursor (the receiver gets each record
// once), keeps leaving, and ends removed with nothing left.
TEST(HandoffTest, LeaveResumesFromTheLastAcknowledgedChunkAfterACrash) {
  Cluster c;
  Boot(c, 4);
  // A hashtag whose partition n1 replicates: all the keys land in that one partition.
  std::string tag;
  for (int t = 0; tag.empty(); ++t) {
    std::string cand = "{t" + std::to_string(t) + "}";
    auto pref = c.node("n1")->PreferenceList(cand);
    if (std::find(pref.begin(), pref.end(), "n1") != pref.end()) tag = cand;
  }
  const int kKeys = 2500;  // more than two chunks
  for (int i = 0; i < kKeys; ++i) {
    ASSERT_TRUE(Put(c, c.node("n1"), tag + std::to_string(i), "x").status.ok());
  }
  std::vector<std::string> before = c.node("n2")->PreferenceList(tag);
  ASSERT_TRUE(c.node("n1")->Leave().ok());
  // Step until the first chunk to the new owner is acknowledged (a step ends quiet: no
  // chunk in flight), then crash n1.
  std::string newcomer;
  uint64_t sent = 0;
  for (int step = 0; step < 500 && sent == 0; ++step) {
    c.Step(10);
    for (auto& t : c.node("n1")->Transfers()) {
      if (t.records_sent > 0) {
        sent = t.records_sent;
        newcomer = t.to;
      }
    }
  }
  ASSERT_GT(sent, 0u);
  ASSERT_LT(sent, uint64_t(kKeys));
  uint64_t received_before = c.node(newcomer)->stats().handoff_records_received;
  c.Restart("n1");
  c.RunFor(5000);
  for (auto& m : c.node("n1")->Members()) {
    if (m.id == "n1") { EXPECT_EQ(m.status, "removed"); }
  }
  EXPECT_EQ(c.node("n1")->LocalKeyCountEstimate(), 0u);
  // Resumed, not restarted: after the restart n1 sent the rest once, not the whole
  // partition again (its counters start at zero with the new life).
  EXPECT_EQ(c.node("n1")->stats().handoff_records_sent, uint64_t(kKeys) - sent)
      << "sent before the crash " << sent;
  EXPECT_GE(c.node(newcomer)->stats().handoff_records_received, received_before + kKeys - sent);
  std::vector<std::string> owners = c.node("n2")->PreferenceList(tag);
  EXPECT_EQ(std::find(owners.begin(), owners.end(), "n1"), owners.end());
  for (auto& id : owners) {
    EXPECT_EQ(LocalRecord(c, id, tag + "0").siblings.size(), 1u) << id;
    EXPECT_EQ(LocalRecord(c, id, tag + std::to_string(kKeys - 1)).siblings.size(), 1u) << id;
  }
}

// The receiver crashes in the middle of a transfer (after the first acknowledged chunk):
// the chunk it was sent next is never acknowledged, the sender resends from its cursor once
// the receiver is back, and every record arrives; the sender then drops its copy.
TEST(HandoffTest, ReceiverCrashMidTransferLosesNothing) {
  Cluster c;
  Boot(c, 4);
  std::string tag;
  for (int t = 0; tag.empty(); ++t) {
    std::string cand = "{r" + std::to_string(t) + "}";
    auto pref = c.node("n1")->PreferenceList(cand);
    if (std::find(pref.begin(), pref.end(), "n1") != pref.end()) tag = cand;
  }
  const int kKeys = 2500;
  for (int i = 0; i < kKeys; ++i) {
    ASSERT_TRUE(Put(c, c.node("n1"), tag + std::to_string(i), "x").status.ok());
  }
  ASSERT_TRUE(c.node("n1")->Leave().ok());
  std::string newcomer;
  for (int step = 0; step < 500 && newcomer.empty(); ++step) {
    c.Step(10);
    for (auto& t : c.node("n1")->Transfers()) {
      if (t.records_sent > 0) newcomer = t.to;
    }
  }
  ASSERT_FALSE(newcomer.empty());
  c.Kill(newcomer);  // down: chunks to it go unanswered
  c.RunFor(300);
  c.Restart(newcomer);
  c.RunFor(6000);
  for (auto& m : c.node("n1")->Members()) {
    if (m.id == "n1") { EXPECT_EQ(m.status, "removed"); }
  }
  EXPECT_EQ(c.node("n1")->LocalKeyCountEstimate(), 0u);
  for (auto& id : c.node("n2")->PreferenceList(tag)) {
    for (int i = 0; i < kKeys; i += 97) {
      EXPECT_EQ(LocalRecord(c, id, tag + std::to_string(i)).siblings.size(), 1u) << id << " " << i;
    }
    EXPECT_EQ(LocalRecord(c, id, tag + std::to_string(kKeys - 1)).siblings.size(), 1u) << id;
  }
}

// Bad membership requests are refused and change nothing.
TEST(HandoffTest, BadMembershipRequestsChangeNothing) {
  Cluster c;
  Boot(c, 2, /*n=*/2, /*r=*/1, /*w=*/1);
  EXPECT_EQ(c.node("n1")->Remove("n1").code(), Code::kInvalidArgument);
  EXPECT_EQ(c.node("n1")->Remove("nope").code(), Code::kNotFound);
  auto ring = c.node("n1")->RingRanges();
  ASSERT_TRUE(c.node("n2")->Leave().ok());
  c.RunFor(2000);
  // n1 is the last node now: it cannot leave (nobody could take its data).
  EXPECT_EQ(c.node("n1")->Leave().code(), Code::kInvalidArgument);
  EXPECT_EQ(RingNodes(*c.node("n1")), std::set<std::string>{"n1"});
}

// auto_commit = false: changes are validated, listed by Plan() with the moves they imply,
// applied by Commit() (and only then), dropped by ClearPlan().
TEST(HandoffTest, StagedChangesWaitForCommit) {
  Cluster c;
  for (int i = 1; i <= 4; ++i) {
    NodeConfig cfg = c.Config("n" + std::to_string(i));
    cfg.auto_commit = false;
    c.Add(cfg);
  }
  c.RunFor(1500);
  Node* n1 = c.node("n1");
  EXPECT_EQ(n1->Commit().code(), Code::kInvalidArgument);  // nothing planned
  bool staged = false;
  ASSERT_TRUE(n1->Remove("n4", &staged).ok());
  EXPECT_TRUE(staged);
  EXPECT_EQ(n1->Remove("nope", &staged).code(), Code::kNotFound);  // still validated
  c.RunFor(500);
  EXPECT_EQ(RingNodes(*n1).size(), 4u);  // nothing happened yet
  Node::PlanInfo plan = n1->Plan();
  ASSERT_EQ(plan.changes.size(), 1u);
  EXPECT_EQ(plan.changes[0], "remove n4");
  EXPECT_GT(plan.partitions_moving, 0u);
  uint32_t n4_after = 1;
  for (auto& m : plan.nodes) {
    if (m.id == "n4") n4_after = m.after;
  }
  EXPECT_EQ(n4_after, 0u);
  n1->ClearPlan();
  EXPECT_TRUE(n1->Plan().changes.empty());
  EXPECT_EQ(n1->Commit().code(), Code::kInvalidArgument);
  ASSERT_TRUE(n1->Remove("n4").ok());
  ASSERT_TRUE(n1->Commit().ok());
  c.RunFor(1000);
  EXPECT_EQ(RingNodes(*n1).size(), 3u);
  EXPECT_EQ(RingNodes(*c.node("n2")).size(), 3u);
}

// REPLACE of a dead node: the new node joins, then the old one is removed; its partitions
// come from the surviving replicas. Refused for a live node and onto a member.
TEST(HandoffTest, ReplaceADeadNode) {
  Cluster c;
  Boot(c, 4);
  std::vector<std::string> keys;
  for (int i = 0; i < 200; ++i) keys.push_back("rk" + std::to_string(i));
  for (auto& k : keys) ASSERT_TRUE(Put(c, c.node("n1"), k, "v").status.ok());
  EXPECT_EQ(c.node("n1")->Replace("n4", "addr-n5").code(), Code::kInvalidArgument);  // alive
  EXPECT_EQ(c.node("n1")->Replace("n3", "addr-n2").code(), Code::kInvalidArgument);  // member
  c.Kill("n4");
  c.RunFor(3000);
  ASSERT_TRUE(c.node("n1")->Replace("n4", "addr-n5").ok());
  NodeConfig cfg = c.Config("n5");
  cfg.seeds.clear();  // found through the REPLACE's join
  c.Add(cfg);
  c.RunFor(5000);
  for (auto& m : c.node("n1")->Members()) {
    if (m.id == "n4") { EXPECT_EQ(m.status, "removed"); }
    if (m.id == "n5") { EXPECT_EQ(m.status, "up"); }
  }
  for (auto& k : keys) {
    for (auto& id : c.node("n1")->PreferenceList(k)) {
      EXPECT_NE(id, "n4");
      EXPECT_EQ(Values(LocalRecord(c, id, k)), std::vector<std::string>{"v"}) << k << " on " << id;
    }
  }
}

}  // namespace
}  // namespace dynakv::cluster

// ---- pub/sub fan-out (Node::Publish) --------------------------------------------------------

namespace dynakv::cluster {
namespace {

struct Delivered {
  std::string node, channel, message;
  bool sharded = false;
  bool operator==(const Delivered&) const = default;
};

// Installs a handler on each node that records what it delivers.
void RecordPublishes(Cluster& c, const std::vector<std::string>& ids, std::vector<Delivered>* log) {
  for (const auto& id : ids) {
    c.node(id)->SetPublishHandler([log, id](const std::string& ch, const std::string& msg, bool sharded) {
      log->push_back({id, ch, msg, sharded});
    });
  }
}

TEST(PubSubFanOutTest, PublishReachesEveryOtherNodeExactlyOnce) {
  Cluster c;
  Boot(c, 3);
  std::vector<Delivered> log;
  RecordPublishes(c, {"n1", "n2", "n3"}, &log);
  EXPECT_EQ(c.node("n1")->Publish("news", "hello", false), 2u);
  c.RunFor(200);
  std::sort(log.begin(), log.end(), [](auto& a, auto& b) { return a.node < b.node; });
  EXPECT_EQ(log, (std::vector<Delivered>{{"n2", "news", "hello", false}, {"n3", "news", "hello", false}}));
  // SPUBLISH goes to every node too (README, "Pub/Sub"), flagged as a shard message.
  log.clear();
  std::string big(100000, 'x');
  EXPECT_EQ(c.node("n3")->Publish("{user}feed", big, true), 2u);
  c.RunFor(200);
  std::sort(log.begin(), log.end(), [](auto& a, auto& b) { return a.node < b.node; });
  EXPECT_EQ(log, (std::vector<Delivered>{{"n1", "{user}feed", big, true}, {"n2", "{user}feed", big, true}}));
}

TEST(PubSubFanOutTest, MessagesFromOnePublisherArriveInOrder) {
  Cluster c;
  Boot(c, 3);
  std::vector<Delivered> log;
  RecordPublishes(c, {"n2"}, &log);
  for (int i = 0; i < 50; ++i) c.node("n1")->Publish("ch", std::to_string(i), false);
  c.RunFor(200);
  ASSERT_EQ(log.size(), 50u);
  for (int i = 0; i < 50; ++i) EXPECT_EQ(log[i].message, std::to_string(i));
}

TEST(PubSubFanOutTest, DeadNodeIsSkippedAndDoesNotBlockTheOthers) {
  Cluster c;
  Boot(c, 3);
  std::vector<Delivered> log;
  RecordPublishes(c, {"n1", "n2", "n3"}, &log);
  c.Kill("n3");
  // While n3 is only silent, it is still sent to (and the frame is lost): best effort.
  c.node("n1")->Publish("a", "1", false);
  c.RunFor(200);
  EXPECT_EQ(log, (std::vector<Delivered>{{"n2", "a", "1", false}}));
  c.RunFor(3000);  // down_after_ms = 2000: n3 is down now
  log.clear();
  EXPECT_EQ(c.node("n1")->Publish("a", "2", false), 1u);
  c.RunFor(200);
  EXPECT_EQ(log, (std::vector<Delivered>{{"n2", "a", "2", false}}));
  // Back up: it receives again, once.
  c.Revive("n3");
  c.RunFor(3000);
  log.clear();
  EXPECT_EQ(c.node("n2")->Publish("a", "3", false), 2u);
  c.RunFor(200);
  std::sort(log.begin(), log.end(), [](auto& a, auto& b) { return a.node < b.node; });
  EXPECT_EQ(log, (std::vector<Delivered>{{"n1", "a", "3", false}, {"n3", "a", "3", false}}));
}

TEST(PubSubFanOutTest, WrongSecretPublishIsRefused) {
  Cluster c;
  for (int i = 1; i <= 2; ++i) {
    NodeConfig cfg = c.Config("n" + std::to_string(i));
    cfg.cluster_secret = "good";
    c.Add(cfg);
  }
  c.RunFor(1500);
  std::vector<Delivered> log;
  RecordPublishes(c, {"n1", "n2"}, &log);
  Message m;
  m.type = MsgType::kPublish;
  m.from_id = "evil";
  m.from_addr = "addr-evil";
  m.key = "ch";
  m.value.value = "forged";
  c.node("n1")->OnMessage(EncodeFrame(m, "bad"));
  c.node("n1")->OnMessage(EncodeFrame(m, ""));
  EXPECT_TRUE(log.empty());
  c.node("n1")->OnMessage(EncodeFrame(m, "good"));
  EXPECT_EQ(log, (std::vector<Delivered>{{"n1", "ch", "forged", false}}));
}

TEST(PubSubFanOutTest, StandaloneSendsNothing) {
  StandaloneNode sa;
  ASSERT_TRUE(sa.node.Start().ok());
  EXPECT_EQ(sa.node.Publish("ch", "m", false), 0u);
}

}  // namespace
}  // namespace dynakv::cluster

namespace dynakv::cluster {
namespace {

// A one-slot transaction's batch (Node::BeginBatch/EndBatch): each write answers at once
// from the coordinator's copy, reads inside are local and synchronous, and EndBatch answers
// at W once the replicas acknowledged the whole batch as one message; the records are then
// on every live replica.
TEST(NodeBatchTest, WritesGoOutAsOneBatchAndAnswerAtW) {
  Cluster c;
  Boot(c, 3);
  Node* n1 = c.node("n1");
  c.Kill("n3");  // still believed up: the batch waits for n2 alone (W=2)
  n1->BeginBatch();
  int answered = 0;
  for (const char* k : {"{cart}a", "{cart}b"}) {
    WriteRequest req;
    req.value.value = std::string("v-") + k;
    n1->Write(k, std::move(req), [&](Status s, WriteReply r) {
      EXPECT_TRUE(s.ok()) << s.ToString();
      EXPECT_EQ(r.copies, 1u);
      answered++;
    });
  }
  WriteRequest inc;
  inc.op = OpKind::kCounterAdd;
  inc.delta = 5;
  n1->Write("{cart}n", std::move(inc), [&](Status s, WriteReply) {
    EXPECT_TRUE(s.ok());
    answered++;
  });
  EXPECT_EQ(answered, 3) << "a batched write must answer synchronously";
  bool read_done = false;
  n1->Read("{cart}a", 2, [&](Status s, ReadReply rr) {
    EXPECT_TRUE(s.ok());
    EXPECT_EQ(Values(rr.record), std::vector<std::string>{"v-{cart}a"});
    read_done = true;
  });
  EXPECT_TRUE(read_done) << "a read inside a batch is this replica's copy, answered at once";
  auto out = std::make_shared<Outcome>();
  uint32_t copies = 0;
  n1->EndBatch([&, out](Status s, WriteReply r) {
    out->calls++;
    out->done = true;
    out->status = s;
    copies = r.copies;
  });
  EXPECT_FALSE(out->done) << "EndBatch must wait for a replica";
  c.RunUntil(&out->done);
  c.RunFor(600);  // past the request deadline: no second call
  EXPECT_EQ(out->calls, 1);
  EXPECT_TRUE(out->status.ok()) << out->status.ToString();
  EXPECT_EQ(copies, 2u);
  std::vector<std::string> on_n2;
  ASSERT_TRUE(c.node("n2")->ScanLocal("", 0, [&](std::string_view k, const Record&) {
    on_n2.emplace_back(k);
    return true;
  }).ok());
  std::sort(on_n2.begin(), on_n2.end());
  EXPECT_EQ(on_n2, (std::vector<std::string>{"{cart}a", "{cart}b", "{cart}n"}));
  // After EndBatch, writes are ordinary again: they wait for W.
  Outcome after = Put(c, n1, "{cart}a", "later");
  EXPECT_TRUE(after.status.ok());
  EXPECT_EQ(Values(Get(c, c.node("n2"), "{cart}a").record), std::vector<std::string>{"later"});
}

// With no replica reachable in time the batch fails at the deadline (the writes stay on the
// coordinator, as a failed single write does), and an empty batch answers at once.
TEST(NodeBatchTest, TooFewAcksFailAndEmptyBatchAnswersAtOnce) {
  Cluster c;
  Boot(c, 3);
  Node* n1 = c.node("n1");
  n1->BeginBatch();
  bool empty_done = false;
  n1->EndBatch([&](Status s, WriteReply) {
    EXPECT_TRUE(s.ok());
    empty_done = true;
  });
  EXPECT_TRUE(empty_done);
  c.Kill("n2");
  c.Kill("n3");
  n1->BeginBatch();
  WriteRequest req;
  req.value.value = "x";
  n1->Write("{t}k", std::move(req), [](Status s, WriteReply) { EXPECT_TRUE(s.ok()); });
  auto out = std::make_shared<Outcome>();
  n1->EndBatch([out](Status s, WriteReply) {
    out->calls++;
    out->done = true;
    out->status = s;
  });
  c.RunUntil(&out->done, 2000);
  ASSERT_TRUE(out->done);
  EXPECT_EQ(out->calls, 1);
  EXPECT_FALSE(out->status.ok());
}

}  // namespace
}  // namespace dynakv::cluster

// ---- collection elements (record keys, cluster/key_layout.h; range reads, range_reader.h)

namespace dynakv::cluster {
namespace {

Outcome PutRecord(Cluster& c, Node* n, const std::string& rkey, const std::string& value) {
  auto out = std::make_shared<Outcome>();
  WriteRequest req;
  req.value.value = value;
  n->WriteRecord(rkey, std::move(req), [out](Status s, WriteReply) {
    ++out->calls;
    out->done = true;
    out->status = s;
  });
  c.RunUntil(&out->done);
  c.RunFor(50);
  EXPECT_EQ(out->calls, 1);
  return *out;
}

struct RangeOutcome {
  int calls = 0;
  bool done = false;
  Status status;
  Node::RangeReply reply;
};

RangeOutcome Range(Cluster& c, Node* n, const std::string& prefix, const std::string& after,
                   size_t limit, int r = 0) {
  auto out = std::make_shared<RangeOutcome>();
  n->ReadRange(prefix, after, limit, r, [out](Status s, Node::RangeReply rr) {
    ++out->calls;
    out->done = true;
    out->status = s;
    out->reply = std::move(rr);
  });
  c.RunUntil(&out->done);
  c.RunFor(100);
  EXPECT_EQ(out->calls, 1);
  return *out;
}

std::vector<std::string> Elements(const Node::RangeReply& r) {
  std::vector<std::string> out;
  for (auto& [e, rec] : r.elements) out.push_back(e);
  return out;
}

TEST(ElementRecordTest, RangeReadPagesThroughACollectionFromAnyNode) {
  Cluster c;
  Boot(c, 5);
  std::vector<std::string> members;
  for (int i = 0; i < 25; ++i) {
    std::string m = "m" + std::string(i < 10 ? "0" : "") + std::to_string(i);
    members.push_back(m);
    ASSERT_TRUE(PutRecord(c, c.node("n1"), ElementKey('s', "tags", m), "").status.ok());
  }
  // Another collection in the same slot and a plain key of the same name stay apart.
  ASSERT_TRUE(PutRecord(c, c.node("n2"), ElementKey('s', "tags2", "zz"), "").status.ok());
  ASSERT_TRUE(PutRecord(c, c.node("n2"), ElementKey('h', "tags", "field"), "v").status.ok());
  ASSERT_TRUE(Put(c, c.node("n3"), "tags", "header").status.ok());
  std::string prefix = ElementPrefix('s', "tags");
  for (auto id : {"n1", "n2", "n3", "n4", "n5"}) {  // replicas and non-replicas alike
    std::vector<std::string> got;
    std::string after;
    for (int page = 0; page < 10; ++page) {
      RangeOutcome r = Range(c, c.node(id), prefix, after, 10);
      ASSERT_TRUE(r.status.ok()) << id << " " << r.status.ToString();
      for (auto& e : Elements(r.reply)) got.push_back(e);
      if (r.reply.done) break;
      ASSERT_FALSE(r.reply.elements.empty());
      after = r.reply.elements.back().first;
    }
    EXPECT_EQ(got, members) << id;
  }
  // A page of everything, at R = 3.
  RangeOutcome all = Range(c, c.node("n4"), prefix, "", 0, 3);
  ASSERT_TRUE(all.status.ok());
  EXPECT_TRUE(all.reply.done);
  EXPECT_EQ(Elements(all.reply), members);
  // An empty collection is an empty, finished page.
  RangeOutcome none = Range(c, c.node("n1"), ElementPrefix('s', "nothing"), "", 0);
  ASSERT_TRUE(none.status.ok());
  EXPECT_TRUE(none.reply.done);
  EXPECT_TRUE(none.reply.elements.empty());
}

TEST(ElementRecordTest, ElementsAreNotKeysButEscapedKeysAre) {
  Cluster c;
  Boot(c, 3, 3, 2, 2);
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(PutRecord(c, c.node("n1"), ElementKey('h', "h", "f" + std::to_string(i)), "v").status.ok());
  }
  const std::string odd = "\xff" "h\x01h";  // a client key that looks like an element key
  ASSERT_TRUE(Put(c, c.node("n1"), odd, "plain").status.ok());
  ASSERT_TRUE(Put(c, c.node("n1"), "h", "header").status.ok());
  auto g = Get(c, c.node("n2"), odd);
  ASSERT_TRUE(g.status.ok());
  EXPECT_EQ(Values(g.record), std::vector<std::string>{"plain"});
  EXPECT_EQ(c.node("n1")->PreferenceList(odd), c.node("n1")->PreferenceList("x{" + odd + "}"));
  for (auto id : {"n1", "n2", "n3"}) {
    std::set<std::string> keys;
    ASSERT_TRUE(c.node(id)->ScanLocal("", 0, [&](std::string_view k, const Record&) {
      keys.insert(std::string(k));
      return true;
    }).ok());
    EXPECT_EQ(keys, (std::set<std::string>{"h", odd})) << id;
    EXPECT_EQ(c.node(id)->LocalLiveKeyCount(), 2u) << id;
    size_t records = 0;
    ASSERT_TRUE(c.node(id)->ScanRecords("", 0, [&](std::string_view, const Record&) {
      ++records;
      return true;
    }).ok());
    EXPECT_EQ(records, 7u) << id;
    // Page by page with a cursor from the visited keys, as SCAN and the reaper do.
    std::vector<std::string> paged;
    std::string cursor;
    for (int i = 0; i < 10; ++i) {
      size_t seen = 0;
      ASSERT_TRUE(c.node(id)->ScanLocal(cursor, 1, [&](std::string_view k, const Record&) {
        ++seen;
        cursor.assign(k);
        paged.push_back(cursor);
        return true;
      }).ok());
      if (seen == 0) break;
    }
    EXPECT_EQ(paged.size(), 2u) << id;
  }
  bool scanned = false;
  std::vector<std::string> remote;
  c.node("n1")->ScanNode("n2", "", 100, [&](Status s, std::vector<std::string> keys, std::string, bool) {
    EXPECT_TRUE(s.ok());
    remote = std::move(keys);
    scanned = true;
  });
  c.RunUntil(&scanned);
  std::sort(remote.begin(), remote.end());
  EXPECT_EQ(remote, (std::vector<std::string>{"h", odd}));
}

TEST(ElementRecordTest, RangeReadRepairsAStaleReplicaElementByElement) {
  Cluster c;
  Boot(c, 3);
  c.Kill("n3");
  for (int i = 0; i < 6; ++i) {
    ASSERT_TRUE(PutRecord(c, c.node("n1"), ElementKey('s', "s", "e" + std::to_string(i)), "").status.ok());
  }
  c.Revive("n3");
  RangeOutcome stale = Range(c, c.node("n3"), ElementPrefix('s', "s"), "", 0, 2);
  // n3 coordinates, asks R = 2 replicas (itself and a peer that has the elements), and
  // repairs its own copy element by element.
  ASSERT_TRUE(stale.status.ok());
  c.RunFor(200);
  for (int i = 0; i < 6; ++i) {
    std::string rk = ElementKey('s', "s", "e" + std::to_string(i));
    EXPECT_EQ(LocalRecord(c, "n3", rk), LocalRecord(c, "n1", rk)) << i;
    EXPECT_FALSE(LocalRecord(c, "n3", rk).siblings.empty()) << i;
  }
  EXPECT_GE(c.node("n3")->stats().read_repairs, 6u);
  // Two of three down: R=2 cannot be met.
  c.Kill("n2");
  c.Kill("n3");
  c.RunFor(3000);
  RangeOutcome down = Range(c, c.node("n1"), ElementPrefix('s', "s"), "", 0, 2);
  EXPECT_FALSE(down.status.ok());
}

// Range reads ask R replicas, as point reads do (range_reader.h): with R=2 a coordinating
// replica asks one peer; a silent peer's spare is asked after read_retry_ms and the page
// still comes long before the request timeout; read_retry_ms = 0 asks all N.
TEST(ElementRecordTest, RangeReadsAskRReplicasAndTheSpareWhenOneIsSilent) {
  Cluster c;
  Boot(c, 3);
  const std::string prefix = ElementPrefix('s', "s");
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(PutRecord(c, c.node("n1"), ElementKey('s', "s", "e" + std::to_string(i)), "").status.ok());
  }
  c.count_types = true;
  RangeOutcome first = Range(c, c.node("n1"), prefix, "", 0, 2);
  ASSERT_TRUE(first.status.ok());
  EXPECT_EQ(first.reply.elements.size(), 4u);
  EXPECT_EQ(c.sent[MsgType::kRangeReq], 1);
  EXPECT_EQ(c.sent[MsgType::kRangeResp], 1);
  EXPECT_EQ(c.node("n1")->stats().read_retries, 0u);

  std::vector<std::string> pref = c.node("n1")->PreferenceList(prefix);
  ASSERT_EQ(pref.size(), 3u);
  std::string asked = pref[0] == "n1" ? pref[1] : pref[0];
  c.Kill(asked);  // silent, not yet suspected: asked first
  c.sent.clear();
  uint64_t start = c.clock.now_ms;
  auto out = std::make_shared<RangeOutcome>();
  c.node("n1")->ReadRange(prefix, "", 0, 2, [out](Status s, Node::RangeReply rr) {
    ++out->calls;
    out->done = true;
    out->status = s;
    out->reply = std::move(rr);
  });
  c.RunUntil(&out->done);
  uint64_t took = c.clock.now_ms - start;
  ASSERT_TRUE(out->status.ok()) << out->status.ToString();
  EXPECT_EQ(out->reply.elements.size(), 4u);
  EXPECT_GE(took, 50u);   // read_retry_ms
  EXPECT_LE(took, 100u);  // a tick or two later; the request timeout is 500
  EXPECT_EQ(c.sent[MsgType::kRangeReq], 2);
  EXPECT_EQ(c.node("n1")->stats().read_retries, 1u);
  c.RunFor(600);
  EXPECT_EQ(out->calls, 1);
  c.Revive(asked);

  Cluster all;
  BootAskingAllN(all);
  ASSERT_TRUE(PutRecord(all, all.node("n1"), ElementKey('s', "s", "x"), "").status.ok());
  all.count_types = true;
  ASSERT_TRUE(Range(all, all.node("n1"), prefix, "", 0, 2).status.ok());
  EXPECT_EQ(all.sent[MsgType::kRangeReq], 2);
}

TEST(ElementRecordTest, HandoffMovesElementsWithTheirCollection) {
  Cluster c;
  Boot(c, 4);
  std::vector<std::string> colls;
  for (int i = 0; i < 40; ++i) colls.push_back("c" + std::to_string(i));
  for (auto& k : colls) {
    for (int e = 0; e < 3; ++e) {
      ASSERT_TRUE(PutRecord(c, c.node("n1"), ElementKey('h', k, "f" + std::to_string(e)), "v").status.ok());
    }
  }
  c.Add(c.Config("n5"));
  c.RunFor(4000);
  size_t moved = 0;
  for (auto& k : colls) {
    std::vector<std::string> owners = c.node("n1")->PreferenceList(k);
    bool n5 = std::find(owners.begin(), owners.end(), "n5") != owners.end();
    moved += n5;
    for (auto id : {"n1", "n2", "n3", "n4", "n5"}) {
      bool owner = std::find(owners.begin(), owners.end(), id) != owners.end();
      for (int e = 0; e < 3; ++e) {
        Record rec = LocalRecord(c, id, ElementKey('h', k, "f" + std::to_string(e)));
        EXPECT_EQ(!rec.siblings.empty(), owner) << k << " on " << id;
      }
    }
  }
  EXPECT_GT(moved, 5u);
}

}  // namespace
}  // namespace dynakv::cluster

namespace dynakv::cluster {
namespace {

// DYNAMO STATUS shows every member's load: each node reports its own every 5 s.
TEST(NodeTest, MembersReportTheirLoad) {
  Cluster c;
  Boot(c, 3);
  for (int i = 0; i < 30; ++i) ASSERT_TRUE(Put(c, c.node("n1"), "load" + std::to_string(i), "v").status.ok());
  c.RunFor(6000);
  for (auto id : {"n1", "n2", "n3"}) {
    for (auto other : {"n1", "n2", "n3"}) {
      uint64_t keys = 0, bytes = 0;
      ASSERT_TRUE(c.node(id)->MemberLoad(other, &keys, &bytes)) << id << " about " << other;
      EXPECT_EQ(keys, c.node(other)->LocalLiveKeyCount()) << id << " about " << other;
      EXPECT_EQ(keys, 30u);  // N=3 on 3 nodes: every node holds every key
    }
  }
  uint64_t keys = 0, bytes = 0;
  EXPECT_FALSE(c.node("n1")->MemberLoad("nobody", &keys, &bytes));
  // A member that stopped reporting is unknown again after 30 s.
  c.Kill("n3");
  c.RunFor(31000);
  EXPECT_FALSE(c.node("n1")->MemberLoad("n3", &keys, &bytes));
  EXPECT_TRUE(c.node("n1")->MemberLoad("n2", &keys, &bytes));
}

}  // namespace
}  // namespace dynakv::cluster
