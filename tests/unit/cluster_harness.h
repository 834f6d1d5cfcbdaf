// tests/unit/cluster_harness.h: real Nodes over MemEngine on an in-test fake network with a
// fake clock, for the cluster unit tests. The harness commits every engine before it
// delivers the frames sent in a step, as the server does (node.h: acks are released only
// after Commit). Header-only: each test file gets its own copy (anonymous namespace).
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <deque>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "cluster/key_layout.h"
#include "cluster/message.h"
#include "cluster/node.h"
#include "storage/mem_engine.h"

namespace dynakv::cluster {
namespace {

// The node ids that own at least one partition in this node's view of the ring.
inline std::set<std::string> RingNodes(const Node& n) {
  std::set<std::string> ids;
  for (const auto& range : n.RingRanges()) ids.insert(range.owners.begin(), range.owners.end());
  return ids;
}


class FakeClock final : public Clock {
 public:
  uint64_t NowMs() override { return now_ms; }
  uint64_t WallMs() override { return 1'700'000'000'000ull + now_ms; }
  uint64_t now_ms = 1000;
};

class NullLogger final : public Logger {
 public:
  void Log(Level, std::string_view) override {}
};

class Cluster;

class FakeTransport final : public Transport {
 public:
  FakeTransport(Cluster* c, std::string from) : cluster_(c), from_(std::move(from)) {}
  void Send(const std::string& to, std::string frame) override;

 private:
  Cluster* cluster_;
  std::string from_;
};

struct Host {
  NodeConfig cfg;
  std::unique_ptr<storage::MemEngine> engine;
  std::unique_ptr<FakeTransport> transport;
  std::unique_ptr<Node> node;
  bool alive = true;
};

class Cluster {
 public:
  struct Packet {
    std::string from, to, frame;
  };

  explicit Cluster(uint64_t seed = 1) : random_(seed) {}

  NodeConfig Config(const std::string& id, int n = 3, int r = 2, int w = 2) {
    NodeConfig c;
    c.id = id;
    c.cluster_addr = "addr-" + id;
    c.client_addr = "client-" + id;
    c.weight = 100;
    c.n = n;
    c.r = r;
    c.w = w;
    c.request_timeout_ms = 500;
    c.gossip_interval_ms = 100;
    c.suspect_after_ms = 1000;
    c.down_after_ms = 2000;
    if (!hosts_.empty()) c.seeds = {hosts_.begin()->second.cfg.cluster_addr};
    return c;
  }

  Node* Add(NodeConfig cfg) {
    Host& h = hosts_[cfg.id];
    h.cfg = cfg;
    h.engine = std::make_unique<storage::MemEngine>();
    h.transport = std::make_unique<FakeTransport>(this, cfg.cluster_addr);
    h.node = std::make_unique<Node>(cfg, h.transport.get(), &clock, &random_, h.engine.get(),
                                    &logger_);
    by_addr_[cfg.cluster_addr] = cfg.id;
    EXPECT_TRUE(h.node->Start().ok());
    return h.node.get();
  }

  Node* node(const std::string& id) { return hosts_.at(id).node.get(); }
  Host& host(const std::string& id) { return hosts_.at(id); }
  void Kill(const std::string& id) { hosts_.at(id).alive = false; }
  void Revive(const std::string& id) { hosts_.at(id).alive = true; }
  // A crash and restart: what was committed survives, the Node object starts over.
  void Restart(const std::string& id) {
    Host& h = hosts_.at(id);
    (void)h.engine->Commit();
    h.node = std::make_unique<Node>(h.cfg, h.transport.get(), &clock, &random_, h.engine.get(),
                                    &logger_);
    EXPECT_TRUE(h.node->Start().ok());
    h.alive = true;
  }

  void Enqueue(const std::string& from, const std::string& to, std::string frame) {
    auto it = by_addr_.find(from);
    if (it != by_addr_.end() && !hosts_.at(it->second).alive) return;  // the dead are silent
    if (drop_percent && random_.Uniform(100) < drop_percent) return;
    if (count_types) {
      Message m;
      if (DecodeFrame(frame, "", &m).ok()) ++sent[m.type];
    }
    auto dest = by_addr_.find(to);
    if (dest != by_addr_.end() && held.count(dest->second) && frame.size() >= held_min_bytes) {  // slow, not lost
      held_.push_back({from, to, std::move(frame)});
      return;
    }
    queue_.push_back({from, to, std::move(frame)});
    if (duplicate_all) queue_.push_back(queue_.back());
  }

  // Commit (the server's rule: before releasing sends), then deliver until quiet.
  void Deliver() {
    for (int round = 0; round < 1000; ++round) {
      for (auto& [id, h] : hosts_) (void)h.engine->Commit();
      if (queue_.empty()) return;
      std::deque<Packet> batch;
      batch.swap(queue_);
      if (reverse_order) std::reverse(batch.begin(), batch.end());
      if (batched) {
        DeliverBatched(batch);
        continue;
      }
      for (auto& p : batch) {
        auto it = by_addr_.find(p.to);
        if (it == by_addr_.end()) continue;
        Host& h = hosts_.at(it->second);
        if (!h.alive) continue;
        h.node->OnMessage(p.frame);
      }
    }
    FAIL() << "network never went quiet";
  }

  void Step(uint64_t ms) {
    clock.now_ms += ms;
    for (auto& [id, h] : hosts_) {
      if (h.alive) h.node->OnTick();
    }
    Deliver();
  }

  void RunFor(uint64_t ms, uint64_t step_ms = 10) {
    for (uint64_t t = 0; t < ms; t += step_ms) Step(step_ms);
  }

  // Runs until *flag or the budget is spent.
  void RunUntil(const bool* flag, uint64_t max_ms = 5000) {
    Deliver();
    for (uint64_t t = 0; !*flag && t < max_ms; t += 10) Step(10);
  }

  // The server's way: a round's frames to one node go to OnMessages together, in order, with
  // a garbage frame in the middle (dropped with a log line; the rest still count).
  void DeliverBatched(std::deque<Packet>& batch) {
    std::map<std::string, std::vector<std::string_view>> to_node;
    for (auto& p : batch) {
      auto it = by_addr_.find(p.to);
      if (it != by_addr_.end()) to_node[it->second].push_back(p.frame);
    }
    for (auto& [id, frames] : to_node) {
      Host& h = hosts_.at(id);
      if (!h.alive) continue;
      if (frames.size() > 1) frames.insert(frames.begin() + frames.size() / 2, "garbage");
      ++batches_delivered;
      h.node->OnMessages(frames);
    }
  }

  FakeClock clock;
  bool batched = false;
  int batches_delivered = 0;
  bool duplicate_all = false;
  bool reverse_order = false;
  uint64_t drop_percent = 0;
  bool count_types = false;         // count the frames sent, by type, into `sent`
  std::map<MsgType, int> sent;
  std::set<std::string> held;       // frames to these nodes wait until Release
  size_t held_min_bytes = 0;        // ... those of at least this many bytes (0: all)
  void Release() {
    held.clear();
    held_min_bytes = 0;
    for (auto& p : held_) queue_.push_back(std::move(p));
    held_.clear();
    Deliver();
  }

 private:
  SeededRandom random_;
  NullLogger logger_;
  std::map<std::string, Host> hosts_;
  std::map<std::string, std::string> by_addr_;
  std::deque<Packet> queue_;
  std::deque<Packet> held_;
};

inline void FakeTransport::Send(const std::string& to, std::string frame) {
  cluster_->Enqueue(from_, to, std::move(frame));
}

struct Outcome {
  int calls = 0;
  bool done = false;
  uint64_t done_ms = 0;  // the test clock when it completed
  Status status;
  Record record;
  VersionVector context;
};

inline Outcome DoWrite(Cluster& c, Node* n, const std::string& key, WriteRequest req) {
  auto out = std::make_shared<Outcome>();
  n->Write(key, std::move(req), [out](Status s, WriteReply r) {
    ++out->calls;
    out->done = true;
    out->status = s;
    out->record = std::move(r.record);
    out->context = std::move(r.context);
  });
  c.RunUntil(&out->done);
  c.RunFor(50);  // let stragglers arrive: the callback must not fire again
  EXPECT_EQ(out->calls, 1);
  return *out;
}

inline Outcome Put(Cluster& c, Node* n, const std::string& key, const std::string& value,
            const VersionVector* ctx = nullptr, int w = 0) {
  WriteRequest req;
  req.value.value = value;
  req.w = w;
  if (ctx) {
    req.has_context = true;
    req.context = *ctx;
  }
  return DoWrite(c, n, key, std::move(req));
}

// Starts a read without driving the network; the outcome fills in when it completes.
inline std::shared_ptr<Outcome> StartRead(Cluster& c, Node* n, const std::string& key, int r) {
  auto out = std::make_shared<Outcome>();
  FakeClock* clock = &c.clock;
  n->Read(key, r, [out, clock](Status s, ReadReply rr) {
    ++out->calls;
    out->done = true;
    out->done_ms = clock->now_ms;
    out->status = s;
    out->record = std::move(rr.record);
  });
  return out;
}

inline Outcome Get(Cluster& c, Node* n, const std::string& key, int r = 0) {
  auto out = StartRead(c, n, key, r);
  c.RunUntil(&out->done);
  c.RunFor(50);
  EXPECT_EQ(out->calls, 1);
  return *out;
}

inline std::vector<std::string> Values(const Record& rec) {
  std::vector<std::string> v;
  for (const Sibling* s : LiveSiblings(rec, 1'800'000'000'000ull)) v.push_back(s->value);
  std::sort(v.begin(), v.end());
  return v;
}

// Three nodes that know each other.
inline void Boot(Cluster& c, int count, int n = 3, int r = 2, int w = 2) {
  for (int i = 1; i <= count; ++i) c.Add(c.Config("n" + std::to_string(i), n, r, w));
  c.RunFor(1500);
}

inline size_t UpCount(Node* n) {
  size_t up = 0;
  for (auto& m : n->Members()) up += m.status == "up";
  return up;
}

inline Record LocalRecord(Cluster& c, const std::string& id, const std::string& key) {
  std::string bytes;
  Record rec;
  if (c.host(id).engine->Get(DataKey(key), &bytes).ok()) { EXPECT_TRUE(DecodeRecord(bytes, &rec).ok()); }
  return rec;
}

}  // namespace
}  // namespace dynakv::cluster
