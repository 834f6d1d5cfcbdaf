// Merkle anti-entropy between real Nodes (MemEngine, fake network, fake clock): replicas
// that diverged while messages were lost converge with no client read at all.
#include <gtest/gtest.h>

#include <deque>
#include <map>
#include <memory>

#include "cluster/key_layout.h"
#include "cluster/node.h"
#include "storage/mem_engine.h"

namespace dynakv::cluster {
namespace {

class AeClock final : public Clock {
 public:
  uint64_t NowMs() override { return now_ms; }
  uint64_t WallMs() override { return 1'700'000'000'000ull + now_ms; }
  uint64_t now_ms = 1000;
};

class AeLogger final : public Logger {
 public:
  void Log(Level, std::string_view) override {}
};

class AeNet;

class AeTransport final : public Transport {
 public:
  AeTransport(AeNet* net, std::string from) : net_(net), from_(std::move(from)) {}
  void Send(const std::string& to, std::string frame) override;

 private:
  AeNet* net_;
  std::string from_;
};

struct AeHost {
  std::unique_ptr<storage::MemEngine> engine;
  std::unique_ptr<AeTransport> transport;
  std::unique_ptr<Node> node;
  bool alive = true;
};

// A tiny cluster: every frame is delivered unless its sender or receiver is dead; the
// engines are committed before the frames of a step go out (node.h's durability rule).
class AeNet {
 public:
  NodeConfig Config(const std::string& id, uint64_t ae_interval_ms) {
    NodeConfig c;
    c.id = id;
    c.cluster_addr = "addr-" + id;
    c.client_addr = "client-" + id;
    c.weight = 100;
    c.n = 3;
    c.r = 2;
    c.w = 2;
    c.request_timeout_ms = 500;
    c.gossip_interval_ms = 100;
    c.suspect_after_ms = 1000;
    c.down_after_ms = 2000;
    c.ae_interval_ms = ae_interval_ms;
    if (!hosts_.empty()) c.seeds = {"addr-" + hosts_.begin()->first};
    return c;
  }

  void Add(const NodeConfig& cfg) {
    AeHost& h = hosts_[cfg.id];
    h.engine = std::make_unique<storage::MemEngine>();
    h.transport = std::make_unique<AeTransport>(this, cfg.id);
    h.node = std::make_unique<Node>(cfg, h.transport.get(), &clock, &random_, h.engine.get(),
                                    &logger_);
    ASSERT_TRUE(h.node->Start().ok());
  }

  void Enqueue(const std::string& from, const std::string& to_addr, std::string frame) {
    std::string to = to_addr.substr(5);  // "addr-" + id
    if (!hosts_.count(to) || !hosts_[from].alive) return;
    queue_.push_back({to, std::move(frame)});
  }

  void Deliver() {
    for (int round = 0; round < 1000; ++round) {
      for (auto& [id, h] : hosts_) (void)h.engine->Commit();
      if (queue_.empty()) return;
      std::deque<std::pair<std::string, std::string>> batch;
      batch.swap(queue_);
      for (auto& [to, frame] : batch) {
        AeHost& h = hosts_.at(to);
        if (h.alive) h.node->OnMessage(frame);
      }
    }
    FAIL() << "network never went quiet";
  }

  void RunFor(uint64_t ms) {
    for (uint64_t t = 0; t < ms; t += 10) {
      clock.now_ms += 10;
      for (auto& [id, h] : hosts_) {
        if (h.alive) h.node->OnTick();
      }
      Deliver();
    }
  }

  // Stops `id` and starts it again on the same engine: cleanly (SaveForRestart, then the
  // final commit) or as a crash (its uncommitted writes are lost).
  void Restart(const std::string& id, const NodeConfig& cfg, bool clean) {
    AeHost& h = hosts_.at(id);
    if (clean) {
      ASSERT_TRUE(h.node->SaveForRestart().ok());
      ASSERT_TRUE(h.engine->Commit().ok());
    } else {
      h.engine->SimulateCrash();
    }
    h.node.reset();
    h.node = std::make_unique<Node>(cfg, h.transport.get(), &clock, &random_, h.engine.get(),
                                    &logger_);
    ASSERT_TRUE(h.node->Start().ok());
  }

  Node* node(const std::string& id) { return hosts_.at(id).node.get(); }
  AeHost& host(const std::string& id) { return hosts_.at(id); }

  Status Write(const std::string& via, const std::string& key, WriteRequest req) {
    auto done = std::make_shared<std::optional<Status>>();
    node(via)->Write(key, std::move(req), [done](Status s, WriteReply) { *done = s; });
    for (int i = 0; i < 200 && !*done; ++i) RunFor(10);
    return done->value_or(Status::Unavailable("no reply"));
  }

  Status Put(const std::string& via, const std::string& key, const std::string& value) {
    WriteRequest req;
    req.value.value = value;
    return Write(via, key, std::move(req));
  }

  // The record as this replica stores it (no read through the coordinator).
  Record Local(const std::string& id, const std::string& key) {
    std::string bytes;
    Record rec;
    if (host(id).engine->Get(DataKey(key), &bytes).ok()) {
      EXPECT_TRUE(DecodeRecord(bytes, &rec).ok());
    }
    return rec;
  }

  AeClock clock;

 private:
  SeededRandom random_{42};
  AeLogger logger_;
  std::map<std::string, AeHost> hosts_;
  std::deque<std::pair<std::string, std::string>> queue_;
};

void AeTransport::Send(const std::string& to, std::string frame) {
  net_->Enqueue(from_, to, std::move(frame));
}

void Boot(AeNet& net, uint64_t ae_interval_ms) {
  for (const char* id : {"n1", "n2", "n3"}) net.Add(net.Config(id, ae_interval_ms));
  net.RunFor(1500);
}

// Boot, with rounds only on SyncNow and tombstones kept `grace_ms`.
void BootWithGrace(AeNet& net, uint64_t grace_ms) {
  for (const char* id : {"n1", "n2", "n3"}) {
    NodeConfig c = net.Config(id, 0);
    c.tombstone_grace_ms = grace_ms;
    net.Add(c);
  }
  net.RunFor(1500);
}

std::vector<std::string> LiveValues(const Record& rec) {
  std::vector<std::string> v;
  for (const Sibling* s : LiveSiblings(rec, 1'800'000'000'000ull)) v.push_back(s->value);
  std::sort(v.begin(), v.end());
  return v;
}

// n3 misses writes while it is cut off (its frames lost; with three nodes and N=3 there is
// no fallback to hold a hint). After it is back, the periodic rounds alone bring it up to
// date: nobody reads a key.
TEST(AntiEntropyTest, ReplicaThatMissedWritesConvergesWithoutReads) {
  AeNet net;
  Boot(net, 300);
  net.host("n3").alive = false;
  for (int i = 0; i < 40; ++i) {
    ASSERT_TRUE(net.Put("n1", "k" + std::to_string(i), "v" + std::to_string(i)).ok()) << i;
  }
  for (int i = 0; i < 40; ++i) {
    EXPECT_TRUE(net.Local("n3", "k" + std::to_string(i)).siblings.empty());
  }
  net.host("n3").alive = true;
  net.RunFor(6000);
  uint64_t reads = 0, read_repairs = 0, repaired = 0, rounds = 0;
  for (const char* id : {"n1", "n2", "n3"}) {
    NodeStats st = net.node(id)->stats();
    reads += st.reads;
    read_repairs += st.read_repairs;
    repaired += st.ae_keys_repaired;
    rounds += st.ae_rounds;
  }
  EXPECT_EQ(reads, 0u);
  EXPECT_EQ(read_repairs, 0u);
  EXPECT_GE(repaired, 40u);
  EXPECT_GT(rounds, 0u);
  for (int i = 0; i < 40; ++i) {
    std::string k = "k" + std::to_string(i);
    Record want = net.Local("n1", k);
    ASSERT_FALSE(want.siblings.empty());
    EXPECT_EQ(net.Local("n3", k), want) << k;
    EXPECT_EQ(net.Local("n2", k), want) << k;
  }
}

// The trees are kept per partition and only changed partitions are hashed again: once the
// first pass is done, intervals without writes hash nothing, and one write rehashes only its
// own partition (a few records of the 600), never the whole store. Rounds still agree.
TEST(AntiEntropyTest, OnlyChangedPartitionsAreHashedAgain) {
  AeNet net;
  Boot(net, 300);
  for (int i = 0; i < 600; ++i) {
    ASSERT_TRUE(net.Put("n1", "k" + std::to_string(i), "v").ok()) << i;
  }
  net.RunFor(1000);  // a pass over the writes
  uint64_t first = net.node("n2")->stats().ae_records_hashed;
  EXPECT_GE(first, 600u);
  uint64_t rounds = net.node("n2")->stats().ae_rounds;
  net.RunFor(2000);  // several intervals, no writes
  EXPECT_EQ(net.node("n2")->stats().ae_records_hashed, first);
  EXPECT_GT(net.node("n2")->stats().ae_rounds, rounds);  // rounds go on, from the kept hashes
  EXPECT_EQ(net.node("n2")->stats().ae_keys_repaired, 0u);
  ASSERT_TRUE(net.Put("n1", "k7", "changed").ok());
  net.RunFor(1000);
  uint64_t again = net.node("n2")->stats().ae_records_hashed - first;
  EXPECT_GE(again, 1u);
  EXPECT_LE(again, 10u);  // k7's partition: 600 keys over 16384 partitions
  EXPECT_EQ(LiveValues(net.Local("n2", "k7")), std::vector<std::string>{"changed"});
}

// Writes on both sides of a cut become siblings on every replica; and a delete the cut-off
// replica missed reaches it as a tombstone (AE only Joins: the old value never comes back).
TEST(AntiEntropyTest, BothSidesDivergeAndJoinWithoutResurrection) {
  AeNet net;
  Boot(net, 0);  // rounds only on SyncNow
  ASSERT_TRUE(net.Put("n1", "gone", "old").ok());
  net.RunFor(100);
  ASSERT_EQ(LiveValues(net.Local("n3", "gone")), std::vector<std::string>{"old"});

  net.host("n3").alive = false;
  ASSERT_TRUE(net.Put("n1", "both", "left").ok());
  WriteRequest del;
  del.op = OpKind::kDelete;  // no context: supersedes what the coordinator knows
  ASSERT_TRUE(net.Write("n1", "gone", del).ok());
  net.host("n3").alive = true;
  net.host("n1").alive = false;
  net.host("n2").alive = false;
  WriteRequest w1;
  w1.value.value = "right";
  w1.w = 1;
  ASSERT_TRUE(net.Write("n3", "both", w1).ok());
  net.host("n1").alive = true;
  net.host("n2").alive = true;
  net.RunFor(3000);  // everyone sees everyone up again

  EXPECT_EQ(net.node("n3")->SyncNow(), 2u);
  net.RunFor(1000);
  EXPECT_EQ(net.node("n1")->SyncNow(), 2u);
  net.RunFor(1000);
  for (const char* id : {"n1", "n2", "n3"}) {
    EXPECT_EQ(LiveValues(net.Local(id, "both")), (std::vector<std::string>{"left", "right"}))
        << id;
    Record g = net.Local(id, "gone");
    EXPECT_TRUE(LiveValues(g).empty()) << id;
    EXPECT_FALSE(g.siblings.empty()) << id << ": the tombstone is kept";
    EXPECT_EQ(net.Local(id, "both"), net.Local("n1", "both"));
    EXPECT_EQ(g, net.Local("n1", "gone"));
  }
}

// Replicas reap a dead record (a tombstone, or a value whose TTL ran out) at their own times
// (cluster/reaper.h). Once its grace period is over, anti-entropy does not hand it back to a replica that has already reaped it, in
// either direction of a round: each copy would restart that replica's grace period, and two
// replicas reaping turn about would trade the record for ever. A tombstone still within its
// grace period does reach a replica without the key. Fails when OnDigestReq or OnDigestResp
// sends a dead record past its grace period to a peer without the key.
TEST(AntiEntropyTest, ADeadRecordPastItsGraceIsNotHandedBackToAReplicaThatReapedIt) {
  AeNet net;
  BootWithGrace(net, 1000);
  for (const char* key : {"dead", "fresh"}) {
    ASSERT_TRUE(net.Put("n1", key, "v").ok());
    WriteRequest del;
    del.op = OpKind::kDelete;
    ASSERT_TRUE(net.Write("n1", key, del).ok());
    if (std::string(key) == "dead") {
      // And a value whose TTL runs out at once: expired past its grace with "dead".
      WriteRequest ttl;
      ttl.value.value = "short-lived";
      ttl.value.expiry_ms = net.clock.WallMs() + 50;
      ASSERT_TRUE(net.Write("n1", "expired", std::move(ttl)).ok());
      net.RunFor(1500);  // past their grace
    }
  }
  net.RunFor(100);
  for (const char* id : {"n1", "n2", "n3"}) {
    ASSERT_FALSE(net.Local(id, "dead").siblings.empty()) << id;
    ASSERT_FALSE(net.Local(id, "fresh").siblings.empty()) << id;
    ASSERT_FALSE(net.Local(id, "expired").siblings.empty()) << id;
  }
  // n1 reaps both ("fresh" by force, as a replica whose reaper ran early).
  ASSERT_TRUE(net.node("n1")->ReapLocal("fresh", 0).ok());
  // n1 asks (its digests lack the keys), then n2 and n3 ask (n1 names the keys it lacks).
  for (const char* id : {"n1", "n2", "n3"}) {
    for (const char* key : {"dead", "expired"}) {
      if (!net.Local("n1", key).siblings.empty()) {
        ASSERT_TRUE(net.node("n1")->ReapLocal(key, 1000).ok()) << key;
      }
    }
    EXPECT_EQ(net.node(id)->SyncNow(), 2u) << id;
    net.RunFor(500);
    for (const char* key : {"dead", "expired"}) {
      EXPECT_TRUE(net.Local("n1", key).siblings.empty()) << key << " handed back by a round " << id << " started";
    }
  }
  EXPECT_FALSE(net.Local("n1", "fresh").siblings.empty()) << "a tombstone within its grace is repaired";
  EXPECT_EQ(net.Local("n1", "fresh"), net.Local("n2", "fresh"));
  for (const char* id : {"n2", "n3"}) {
    EXPECT_FALSE(net.Local(id, "dead").siblings.empty()) << id;
    EXPECT_FALSE(net.Local(id, "expired").siblings.empty()) << id;
  }
}

// The other side of the rule above: a replica that holds an older live version of the key
// still gets the tombstone, however old it is, whichever side starts the round. Fails when
// the sender of a round holds back a dead record past its grace from a replier that sent its
// own older record (checked by mutation). (The replier holding back its tombstone from a
// sender that listed the key is repaired by the round's last step anyway: the sender's
// records of the keys the replier named are answered with the replier's joined record.)
TEST(AntiEntropyTest, ATombstonePastItsGraceStillReachesAReplicaWithAnOlderValue) {
  AeNet net;
  BootWithGrace(net, 1000);
  // n3 misses the delete of `key` and holds the old value past the tombstone's grace.
  auto stale_on_n3 = [&](const std::string& key) {
    ASSERT_TRUE(net.Put("n1", key, "old").ok());
    net.RunFor(100);
    net.host("n3").alive = false;
    WriteRequest del;
    del.op = OpKind::kDelete;
    ASSERT_TRUE(net.Write("n1", key, del).ok());
    net.host("n3").alive = true;
    net.RunFor(1500);  // past the grace period
    ASSERT_EQ(LiveValues(net.Local("n3", key)), std::vector<std::string>{"old"}) << key;
    ASSERT_TRUE(LiveValues(net.Local("n1", key)).empty()) << key;
  };
  // A round n1 starts: n3 names the key and sends its record; n1 sends the tombstone.
  ASSERT_NO_FATAL_FAILURE(stale_on_n3("kA"));
  EXPECT_EQ(net.node("n1")->SyncNow(), 2u);
  net.RunFor(500);
  EXPECT_TRUE(LiveValues(net.Local("n3", "kA")).empty()) << "a round n1 started";
  EXPECT_EQ(net.Local("n3", "kA"), net.Local("n1", "kA"));
  // A round n3 starts: its digest lists the key; the repliers send the tombstone.
  ASSERT_NO_FATAL_FAILURE(stale_on_n3("kB"));
  EXPECT_EQ(net.node("n3")->SyncNow(), 2u);
  net.RunFor(500);
  EXPECT_TRUE(LiveValues(net.Local("n3", "kB")).empty()) << "a round n3 started";
  EXPECT_EQ(net.Local("n3", "kB"), net.Local("n1", "kB"));
}

// A clean stop saves the partition hashes that are current, and the next start hashes only
// the partitions written since: none here. After a crash (no save since the last start,
// which consumed the saved hashes) the whole store is hashed again, and so are hashes that
// are damaged. Either way the next rounds find the replicas in agreement. Fails when the
// start ignores the saved hashes (the first case hashes 600 records) or keeps them after
// reading them (the crash case reuses them).
TEST(AntiEntropyTest, ACleanRestartKeepsThePartitionHashes) {
  AeNet net;
  Boot(net, 300);
  for (int i = 0; i < 600; ++i) ASSERT_TRUE(net.Put("n1", "k" + std::to_string(i), "v").ok()) << i;
  net.RunFor(1000);  // a pass over the writes
  ASSERT_GE(net.node("n2")->stats().ae_records_hashed, 600u);
  const NodeConfig cfg = net.Config("n2", 300);
  // What the stop will save (nothing changes before it does).
  std::string before, after, gone;
  ASSERT_TRUE(net.node("n2")->SaveForRestart().ok());
  ASSERT_TRUE(net.host("n2").engine->Get(kAeHashesKey, &before).ok());
  ASSERT_NO_FATAL_FAILURE(net.Restart("n2", cfg, /*clean=*/true));
  EXPECT_TRUE(net.host("n2").engine->Get(kAeHashesKey, &gone).IsNotFound()) << "read once";
  net.RunFor(2000);
  NodeStats st = net.node("n2")->stats();
  EXPECT_EQ(st.ae_records_hashed, 0u);
  EXPECT_GT(st.ae_rounds, 0u);
  EXPECT_EQ(st.ae_keys_repaired, 0u);
  // The kept hashes are the ones saved, not merely some marked valid.
  ASSERT_TRUE(net.node("n2")->SaveForRestart().ok());
  ASSERT_TRUE(net.host("n2").engine->Get(kAeHashesKey, &after).ok());
  EXPECT_GT(before.size(), 1000u);
  EXPECT_EQ(after, before);
  ASSERT_TRUE(net.host("n2").engine->Delete(kAeHashesKey).ok());

  // Written while n2 runs, then a crash: nothing saved, so everything is hashed again.
  ASSERT_TRUE(net.Put("n1", "k7", "changed").ok());
  net.RunFor(500);
  ASSERT_TRUE(net.host("n2").engine->Commit().ok());
  ASSERT_NO_FATAL_FAILURE(net.Restart("n2", cfg, /*clean=*/false));
  net.RunFor(2000);
  EXPECT_GE(net.node("n2")->stats().ae_records_hashed, 600u);
  EXPECT_EQ(LiveValues(net.Local("n2", "k7")), std::vector<std::string>{"changed"});

  // Damaged hashes are refused: the store is hashed, and the node runs.
  ASSERT_TRUE(net.node("n2")->SaveForRestart().ok());
  std::string bytes;
  ASSERT_TRUE(net.host("n2").engine->Get(kAeHashesKey, &bytes).ok());
  bytes[bytes.size() / 2] ^= 1;
  ASSERT_TRUE(net.host("n2").engine->Put(kAeHashesKey, bytes).ok());
  ASSERT_TRUE(net.host("n2").engine->Commit().ok());  // survives the crash: the start reads it
  ASSERT_NO_FATAL_FAILURE(net.Restart("n2", cfg, /*clean=*/false));
  EXPECT_TRUE(net.host("n2").engine->Get(kAeHashesKey, &gone).IsNotFound()) << "read once";
  net.RunFor(2000);
  EXPECT_GE(net.node("n2")->stats().ae_records_hashed, 600u);
  EXPECT_EQ(net.node("n2")->stats().ae_keys_repaired, 0u);
}

// Found by tests/fuzz/node_state_fuzz.cc: a row in the "d/" range that DataKey() cannot make
// (shorter than "d/" + partition, or a partition out of range: corruption, a foreign tool)
// threw out_of_range in the anti-entropy build (std::terminate) or read past the placement
// table. Scans skip such rows; the node serves and syncs the rest.
TEST(AntiEntropyTest, MalformedDataKeysAreSkipped) {
  AeNet net;
  Boot(net, 0);
  ASSERT_TRUE(net.Put("n1", "k", "v").ok());
  net.RunFor(100);
  Record rec = net.Local("n1", "k");
  ASSERT_FALSE(rec.siblings.empty());
  std::vector<storage::WriteOp> bad;
  for (std::string key : {std::string("d/"), std::string("d/x"), std::string("d/\xff\xffk", 5),
                          std::string("d/\x40\x00k", 5)}) {
    bad.push_back({storage::WriteOp::Kind::kPut, key, EncodeRecord(rec)});
    EXPECT_FALSE(IsDataKey(key)) << key;
  }
  ASSERT_TRUE(net.host("n1").engine->Write(bad).ok());
  ASSERT_TRUE(net.host("n1").engine->Commit().ok());
  EXPECT_TRUE(IsDataKey(DataKey("k")));
  EXPECT_TRUE(IsDataKey(DataKey("")));

  EXPECT_EQ(net.node("n1")->SyncNow(), 2u);
  net.RunFor(1000);
  std::vector<std::string> keys;
  ASSERT_TRUE(net.node("n1")
                  ->ScanLocal("", 0, [&](std::string_view k, const Record&) {
                    keys.emplace_back(k);
                    return true;
                  })
                  .ok());
  EXPECT_EQ(keys, std::vector<std::string>{"k"});
  EXPECT_EQ(LiveValues(net.Local("n2", "k")), std::vector<std::string>{"v"});
}

// More differing keys than one exchange may carry: several bounded rounds get there.
TEST(AntiEntropyTest, LargeDivergenceConvergesInBoundedRounds) {
  AeNet net;
  Boot(net, 0);
  // Plant 10000 records on n1 and n2 behind the nodes' backs (as if n3 had missed them all).
  const int kKeys = 10000;
  for (int i = 0; i < kKeys; ++i) {
    Record rec;
    NewValue v;
    v.value = "v" + std::to_string(i);
    ASSERT_TRUE(ApplyWrite(&rec, {}, 77, v, 1'700'000'000'000ull, VersionLimits{}).ok());
    std::string bytes = EncodeRecord(rec);
    for (const char* id : {"n1", "n2"}) {
      ASSERT_TRUE(net.host(id).engine->Put(DataKey("bulk" + std::to_string(i)), bytes).ok());
    }
  }
  for (const char* id : {"n1", "n2"}) {
    ASSERT_TRUE(net.host(id).engine->Commit().ok());
    net.node(id)->DropCaches();
  }
  uint64_t before = net.node("n3")->stats().ae_keys_repaired;
  net.node("n3")->SyncNow();
  net.RunFor(200);
  uint64_t after_one = net.node("n3")->stats().ae_keys_repaired - before;
  EXPECT_GT(after_one, 0u);
  EXPECT_LT(after_one, static_cast<uint64_t>(kKeys));  // bounded: 2 peers x <= 4096 records
  for (int round = 0; round < 10; ++round) {
    net.node("n3")->SyncNow();
    net.RunFor(200);
  }
  int missing = 0;
  for (int i = 0; i < kKeys; ++i) {
    missing += net.Local("n3", "bulk" + std::to_string(i)).siblings.empty() ? 1 : 0;
  }
  EXPECT_EQ(missing, 0);
}

// Plants `keys` records named prefix + i (100-byte values) on all three nodes behind their
// backs, then has the nodes recount: n3 misses every `every`-th and holds the older version
// of the one after it. *newer gets the records n3 should end with where it differs.
void PlantDivergence(AeNet& net, const std::string& prefix, int keys, int every,
                     std::map<std::string, Record>* newer) {
  for (int i = 0; i < keys; ++i) {
    std::string key = prefix + std::to_string(i);
    Record rec;
    NewValue v;
    v.value = std::string(100, 'a' + i % 26);
    ASSERT_TRUE(ApplyWrite(&rec, {}, 77, v, 1'700'000'000'000ull, VersionLimits{}).ok());
    Record n3rec = rec;
    if (i % every == 1) {  // n3 holds the older version of these
      v.value = "newer";
      ASSERT_TRUE(ApplyWrite(&rec, rec.context, 77, v, 1'700'000'000'001ull, VersionLimits{}).ok());
      (*newer)[key] = rec;
    }
    for (const char* id : {"n1", "n2", "n3"}) {
      if (std::string(id) == "n3" && i % every == 0) {
        (*newer)[key] = rec;  // n3 misses these
        continue;
      }
      const Record& mine = std::string(id) == "n3" ? n3rec : rec;
      ASSERT_TRUE(net.host(id).engine->Put(DataKey(key), EncodeRecord(mine)).ok());
    }
  }
  for (const char* id : {"n1", "n2", "n3"}) {
    ASSERT_TRUE(net.host(id).engine->Commit().ok());
    net.node(id)->DropCaches();
  }
}

uint64_t AeBytesSent(AeNet& net) {
  uint64_t b = 0;
  for (const char* id : {"n1", "n2", "n3"}) b += net.node(id)->stats().ae_bytes_sent;
  return b;
}

// Replicas of 100,000 keys that differ in 40 (20 missing on n3, 20 older there) are brought
// into sync sending about 1.5 KB per differing key in all (n3 compares with both peers, so
// each difference is sent twice, and at this sparseness the tree levels cost most): the round
// narrows the difference from leaves (about 100 keys each here) to partitions, segments and
// key digests before any record moves. Sending each differing leaf's records whole, as
// before, cost about 100 records (~17 KB) per differing key and peer.
TEST(AntiEntropyTest, RepairBytesGrowWithTheDifferenceNotTheLeaves) {
  AeNet net;
  Boot(net, 0);
  std::map<std::string, Record> newer;
  ASSERT_NO_FATAL_FAILURE(PlantDivergence(net, "k", 100000, 5000, &newer));
  ASSERT_EQ(newer.size(), 40u);
  net.RunFor(3000);  // the counts and the partition hashes catch up
  uint64_t before = AeBytesSent(net);
  net.node("n3")->SyncNow();
  net.RunFor(4000);  // each node hashes its 100,000 records first, 1,024 a tick
  uint64_t bytes = AeBytesSent(net) - before;
  for (const auto& [key, rec] : newer) EXPECT_EQ(net.Local("n3", key), rec) << key;
  // 40 differing keys (about 115 bytes of key and value each), two peers compared.
  EXPECT_GT(bytes, 0u);
  EXPECT_LT(bytes, 40u * 2000) << "bytes per differing key: " << bytes / 40;
  std::printf("anti-entropy bytes per differing key: %llu\n", (unsigned long long)(bytes / 40));
}

// One partition of 4,000 records (a hash tag puts every key there) where n3 differs in 4:
// the round compares that partition's segment hashes and digests only the differing
// segments (about 250 keys each), not the whole partition.
TEST(AntiEntropyTest, BigPartitionIsComparedBySegments) {
  AeNet net;
  Boot(net, 0);
  std::map<std::string, Record> newer;
  ASSERT_NO_FATAL_FAILURE(PlantDivergence(net, "{big}", 4000, 2000, &newer));
  ASSERT_EQ(newer.size(), 4u);
  net.RunFor(500);
  uint64_t before = AeBytesSent(net);
  net.node("n3")->SyncNow();
  net.RunFor(1000);
  uint64_t bytes = AeBytesSent(net) - before;
  for (const auto& [key, rec] : newer) EXPECT_EQ(net.Local("n3", key), rec) << key;
  // At most 4 of the 16 segments differ: per peer, their digests (~250 keys of ~24 bytes
  // each), 4 records each way and the hash levels (~12 KB). The whole partition's digests
  // alone would be ~96 KB per peer, and its records ~600 KB.
  EXPECT_GT(bytes, 0u);
  EXPECT_LT(bytes, 2u * (4 * 250 * 24 + 4 * 400 + 12000)) << bytes;
}

// A segment with more keys than one digest message takes (the cap lowered to 100 here; by
// default 20,000, which only a big collection's elements reach) is compared a run of its
// sixteenths per round: repeated rounds find every difference.
TEST(AntiEntropyTest, SegmentBiggerThanAMessageIsComparedBySixteenths) {
  AeNet net;
  for (const char* id : {"n1", "n2", "n3"}) {
    NodeConfig cfg = net.Config(id, 0);
    cfg.ae_digest_keys = 100;
    net.Add(cfg);
  }
  net.RunFor(1500);
  const int kKeys = 4000;  // one partition, 16 segments of ~250 keys
  std::map<std::string, Record> want;
  for (int i = 0; i < kKeys; ++i) {
    std::string key = "{big}" + std::to_string(i);
    Record rec;
    NewValue v;
    v.value = "v" + std::to_string(i);
    ASSERT_TRUE(ApplyWrite(&rec, {}, 77, v, 1'700'000'000'000ull, VersionLimits{}).ok());
    for (const char* id : {"n1", "n2", "n3"}) {
      if (std::string(id) == "n3" && i % 1000 == 7) {
        want[key] = rec;  // n3 misses these
        continue;
      }
      ASSERT_TRUE(net.host(id).engine->Put(DataKey(key), EncodeRecord(rec)).ok());
    }
  }
  ASSERT_EQ(want.size(), 4u);
  for (const char* id : {"n1", "n2", "n3"}) {
    ASSERT_TRUE(net.host(id).engine->Commit().ok());
    net.node(id)->DropCaches();
  }
  net.RunFor(500);
  auto missing = [&] {
    int n = 0;
    for (const auto& [key, rec] : want) n += net.Local("n3", key) == rec ? 0 : 1;
    return n;
  };
  int rounds = 0;
  for (; rounds < 100 && missing() > 0; ++rounds) {
    net.node("n3")->SyncNow();
    net.RunFor(300);
  }
  EXPECT_EQ(missing(), 0) << "after " << rounds << " rounds";
}

TEST(AntiEntropyTest, StandaloneNodeHasNoPeers) {
  AeClock clock;
  AeLogger logger;
  SeededRandom random(1);
  storage::MemEngine engine;
  NodeConfig cfg;  // no cluster address: standalone
  Node node(cfg, nullptr, &clock, &random, &engine, &logger);
  ASSERT_TRUE(node.Start().ok());
  EXPECT_EQ(node.SyncNow(), 0u);
  node.OnTick();
  EXPECT_EQ(node.stats().ae_rounds, 0u);
}

}  // namespace
}  // namespace dynakv::cluster
