// tests/integration/cluster_test.cc: 3, 4 and 5 real dynakv-server processes on 127.0.0.1
// (N=3 R=2 W=2, fast gossip and timeouts) driven through hiredis: ring convergence and the
// DYNAMO MEMBERS 5-tuple, any node serving any key (forwarding), siblings across
// coordinators, SIGKILL of one and of two nodes (availability, -UNAVAILABLE without hangs,
// recovery after restart on the same data dir), joining through a seed and DYNAMO JOIN,
// per-request R/W, read repair, Merkle anti-entropy (DYNAMO SYNC), the INCR counter CRDT
// across coordinators, multi-key fan-out and cluster_secret isolation (the README, "Commands", §4).
//
// Each test starts its own cluster (fresh temp dirs, free ports); every process is stopped by
// PID by the harness destructors; every wait is bounded in time. Timings that a test asserts
// (failover, convergence, UNAVAILABLE latency) are printed so a slow machine shows up in the
// log before it shows up as a failure.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <signal.h>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/harness.h"

namespace dynakv::itest {
namespace {

using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;

// Timing knobs shared by every node in this file (the README, "Configuration" [cluster]).
constexpr int kGossipMs = 100;
constexpr int kSuspectMs = 500;
constexpr int kDownMs = 1500;
constexpr int kRequestTimeoutMs = 500;
constexpr int kWeight = 100;  // node.weight of every node

std::string Str(const redisReply* r) { return r && r->str ? std::string(r->str, r->len) : std::string(); }
std::string Str(const Reply& r) { return Str(r.get()); }

long long MsSince(SteadyClock::time_point t0) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(SteadyClock::now() - t0).count();
}

bool IsOkStatus(const Reply& r) { return r && r->type == REDIS_REPLY_STATUS && Str(r) == "OK"; }
bool IsErr(const Reply& r) { return r && r->type == REDIS_REPLY_ERROR; }
bool IsUnavailable(const Reply& r) { return IsErr(r) && Str(r).rfind("UNAVAILABLE", 0) == 0; }

// DGET reply: [context, [value...]]; sorted values.
std::vector<std::string> Siblings(const Reply& dget) {
  std::vector<std::string> out;
  if (!dget || dget->type != REDIS_REPLY_ARRAY || dget->elements != 2) return out;
  const redisReply* arr = dget->element[1];
  if (arr->type != REDIS_REPLY_ARRAY) return out;
  for (size_t i = 0; i < arr->elements; i++) out.push_back(Str(arr->element[i]));
  std::sort(out.begin(), out.end());
  return out;
}

::testing::AssertionResult IsDget(const Reply& r) {
  if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 2 && r->element[0]->type == REDIS_REPLY_STRING &&
      r->element[1]->type == REDIS_REPLY_ARRAY) {
    return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure() << "expected a DGET reply [context, [values]], got " << Describe(r);
}

::testing::AssertionResult IsContext(const Reply& r) {
  if (r && r->type == REDIS_REPLY_STRING && r->len > 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "expected a DPUT context (non-empty bulk), got " << Describe(r);
}

// One row of DYNAMO MEMBERS: [id, cluster addr, client addr, status, weight].
struct Member {
  std::string id, cluster_addr, client_addr, status;
  long long weight = -1;
};

// Parses DYNAMO MEMBERS strictly (the 5-tuple format of the README, "Commands"). False + *why if the
// reply does not have that shape.
bool ParseMembers(const Reply& r, std::vector<Member>* out, std::string* why) {
  out->clear();
  if (!r || r->type != REDIS_REPLY_ARRAY) {
    *why = "DYNAMO MEMBERS is not an array: " + Describe(r);
    return false;
  }
  static const std::set<std::string> kStatuses = {"joining", "up", "suspect", "down", "leaving", "removed"};
  for (size_t i = 0; i < r->elements; i++) {
    const redisReply* m = r->element[i];
    if (m->type != REDIS_REPLY_ARRAY || m->elements != 5) {
      *why = "member " + std::to_string(i) + " is not a 5-element array: " + Describe(m);
      return false;
    }
    for (int j = 0; j < 4; j++) {
      if (m->element[j]->type != REDIS_REPLY_STRING) {
        *why = "member " + std::to_string(i) + " field " + std::to_string(j) + " is not a bulk string: " + Describe(m);
        return false;
      }
    }
    if (m->element[4]->type != REDIS_REPLY_INTEGER) {
      *why = "member " + std::to_string(i) + " weight is not an integer: " + Describe(m);
      return false;
    }
    Member row{Str(m->element[0]), Str(m->element[1]), Str(m->element[2]), Str(m->element[3]), m->element[4]->integer};
    if (!kStatuses.count(row.status)) {
      *why = "member " + row.id + " has unknown status '" + row.status + "'";
      return false;
    }
    out->push_back(std::move(row));
  }
  return true;
}

// The members a node reports ({} if it does not answer).
std::vector<Member> MembersOf(const ServerProcess& p) {
  std::vector<Member> out;
  auto c = p.Connect(2000);
  if (!c->ok()) return out;
  std::string why;
  if (!ParseMembers(c->Cmd({"DYNAMO", "MEMBERS"}), &out, &why)) out.clear();
  return out;
}

std::string StatusIn(const std::vector<Member>& ms, const std::string& id) {
  for (auto& m : ms) {
    if (m.id == id) return m.status;
  }
  return "";
}

std::string DescribeMembers(const std::vector<Member>& ms) {
  std::string s = "[";
  for (auto& m : ms) {
    s += (s.size() > 1 ? ", " : "") + m.id + "(" + m.status + " " + m.cluster_addr + " " + m.client_addr + " " +
         std::to_string(m.weight) + ")";
  }
  return s + "]";
}

// A field of INFO dynamo as a number (-1 if missing).
long long InfoNum(Conn& c, const std::string& field) {
  Reply r = c("INFO", "dynamo");
  if (!r || r->type != REDIS_REPLY_STRING) return -1;
  std::string text = Str(r);
  std::string key = "\n" + field + ":";
  size_t p = text.find(key);
  if (p == std::string::npos) {
    if (text.rfind(field + ":", 0) != 0) return -1;
    p = 0;
  } else {
    p += 1;
  }
  p += field.size() + 1;
  return std::strtoll(text.c_str() + p, nullptr, 10);
}
long long InfoNum(const ServerProcess& p, const std::string& field) {
  auto c = p.Connect(2000);
  return c->ok() ? InfoNum(*c, field) : -1;
}

// DYNAMO HINTS (a map; flattened under RESP2) -> hints_delivered, or -1.
long long HintsDelivered(const ServerProcess& p) {
  auto c = p.Connect(2000);
  if (!c->ok()) return -1;
  Reply r = c->Cmd({"DYNAMO", "HINTS"});
  if (!r || r->type != REDIS_REPLY_ARRAY) return -1;
  for (size_t i = 0; i + 1 < r->elements; i += 2) {
    if (Str(r->element[i]) == "hints_delivered" && r->element[i + 1]->type == REDIS_REPLY_INTEGER) {
      return r->element[i + 1]->integer;
    }
  }
  return -1;
}

// The node's own record count from INFO keyspace ("db0:keys=N"; absent means 0). Local:
// it does not ask other replicas, so observing it cannot cause a read repair. -1 on error.
long long LocalKeys(const ServerProcess& p) {
  auto c = p.Connect(2000);
  if (!c->ok()) return -1;
  Reply r = c->Cmd({"INFO", "keyspace"});
  if (!r || r->type != REDIS_REPLY_STRING) return -1;
  std::string text = Str(r);
  size_t at = text.find("db0:keys=");
  if (at == std::string::npos) return 0;
  return std::strtoll(text.c_str() + at + 9, nullptr, 10);
}

// A command with its wall-clock duration.
struct Timed {
  Reply reply;
  long long ms = 0;
};
Timed TimedCmd(Conn& c, const std::vector<std::string>& args) {
  auto t0 = SteadyClock::now();
  Timed t;
  t.reply = c.Cmd(args);
  t.ms = MsSince(t0);
  return t;
}

std::string Join(const std::vector<std::string>& v) {
  std::string s;
  for (auto& x : v) s += (s.empty() ? "" : " ") + x;
  return s;
}

// ---- fixture ------------------------------------------------------------------------------

class ClusterTest : public ::testing::Test {
 protected:
  // Settings every node of this file shares (the cluster ones and any extra node).
  // Periodic anti-entropy is off (ae_interval_ms = 0) unless a test asks for it: the tests of
  // read repair and hinted handoff count those repairs, and a background round could do the
  // repair first.
  static ServerConfig Common(const std::string& secret = "", int ae_interval_ms = 0) {
    ServerConfig c;
    c.SetInt("cluster", "gossip_interval_ms", kGossipMs)
        .SetInt("cluster", "suspect_after_ms", kSuspectMs)
        .SetInt("cluster", "down_after_ms", kDownMs)
        .SetInt("cluster", "request_timeout_ms", kRequestTimeoutMs)
        .SetInt("cluster", "anti_entropy_interval_ms", ae_interval_ms)
        .Set("debug", "enable_debug_command", "true");  // DEBUG SLEEP: a command that is slow
    if (!secret.empty()) c.SetStr("security", "cluster_secret", secret);
    return c;
  }

  // Starts `nodes` processes seeding each other and waits until all see all "up".
  void StartCluster(int nodes, const std::string& secret = "", int ae_interval_ms = 0) {
    ClusterOptions o;
    o.nodes = nodes;
    o.n = 3;
    o.r = 2;
    o.w = 2;
    o.weight = kWeight;
    o.extra = Common(secret, ae_interval_ms);
    cluster_ = std::make_unique<Cluster>(std::move(o));
    auto t0 = SteadyClock::now();
    ASSERT_TRUE(cluster_->Start(20s)) << cluster_->last_error() << "\n" << StateDump();
    converge_ms_ = MsSince(t0);
    std::printf("[cluster] %d nodes up and converged in %lld ms\n", nodes, converge_ms_);
    for (size_t i = 0; i < cluster_->size(); i++) {
      conns_.push_back(node(i).Connect(5000));
      ASSERT_TRUE(conns_.back()->ok()) << conns_.back()->error();
    }
  }

  // A node outside the Cluster helper (join tests): same N/R/W and timings, its own cluster
  // port; seeds are cluster addresses (may be empty).
  ServerProcess& AddNode(const std::string& name, const std::vector<std::string>& seeds,
                         const std::string& secret = "") {
    ServerConfig c = Common(secret);
    std::string list = "[";
    for (auto& s : seeds) list += (list.size() > 1 ? ", " : "") + ServerConfig::Quote(s);
    list += "]";
    int cport = PickFreePort();
    c.SetStr("listen", "cluster", "127.0.0.1:" + std::to_string(cport))
        .Set("cluster", "seeds", list)
        .SetInt("node", "weight", kWeight)
        .SetInt("replication", "n", 3)
        .SetInt("replication", "r", 2)
        .SetInt("replication", "w", 2);
    extra_.push_back(std::make_unique<ServerProcess>(c, name));
    extra_addrs_.push_back("127.0.0.1:" + std::to_string(cport));
    return *extra_.back();
  }
  const std::string& extra_addr(size_t i) const { return extra_addrs_.at(i); }

  ServerProcess& node(size_t i) { return cluster_->node(i); }
  Conn& c(size_t i) { return *conns_.at(i); }
  // A fresh connection (after a restart the old one is dead).
  void Reconnect(size_t i) {
    conns_.at(i) = node(i).Connect(5000);
    ASSERT_TRUE(conns_.at(i)->ok()) << conns_.at(i)->error();
  }

  // Waits until every node in `observers` reports member `id` with status `want`.
  bool WaitStatus(const std::vector<ServerProcess*>& observers, const std::string& id, const std::string& want,
                  std::chrono::milliseconds limit, long long* took_ms = nullptr) {
    auto t0 = SteadyClock::now();
    bool ok = WaitUntil(
        [&] {
          for (auto* o : observers) {
            if (StatusIn(MembersOf(*o), id) != want) return false;
          }
          return true;
        },
        limit, 50ms);
    if (took_ms) *took_ms = MsSince(t0);
    return ok;
  }

  // Members as every live process sees them, for failure messages.
  std::string StateDump() {
    std::string s;
    auto one = [&](ServerProcess& p) {
      s += "  " + p.name() + " (pid " + std::to_string(p.pid()) + "): ";
      s += p.Running() ? DescribeMembers(MembersOf(p)) : std::string("not running");
      s += "\n";
    };
    if (cluster_) {
      for (size_t i = 0; i < cluster_->size(); i++) one(node(i));
    }
    for (auto& e : extra_) one(*e);
    return "members as seen by each node:\n" + s;
  }

  void TearDown() override {
    if (!HasFailure()) return;
    std::printf("%s", StateDump().c_str());
    auto tail = [](ServerProcess& p) {
      std::string log = p.Stderr();
      if (log.size() > 3000) log = "..." + log.substr(log.size() - 3000);
      std::printf("---- %s stderr (tail) ----\n%s\n", p.name().c_str(), log.c_str());
    };
    if (cluster_) {
      for (size_t i = 0; i < cluster_->size(); i++) tail(node(i));
    }
    for (auto& e : extra_) tail(*e);
  }

  std::unique_ptr<Cluster> cluster_;
  std::vector<std::unique_ptr<Conn>> conns_;
  std::vector<std::unique_ptr<ServerProcess>> extra_;
  std::vector<std::string> extra_addrs_;
  long long converge_ms_ = 0;
};

// Checks one node's DYNAMO MEMBERS against the cluster: every node listed once, 5-tuple,
// cluster and client addresses right, status "up", weight as configured.
void ExpectMembersExact(ClusterTest* t, Cluster& cl, size_t observer) {
  auto conn = cl.node(observer).Connect(2000);
  ASSERT_TRUE(conn->ok());
  Reply r = conn->Cmd({"DYNAMO", "MEMBERS"});
  std::vector<Member> ms;
  std::string why;
  ASSERT_TRUE(ParseMembers(r, &ms, &why)) << why;
  ASSERT_EQ(ms.size(), cl.size()) << "seen by " << cl.node(observer).name() << ": " << DescribeMembers(ms);
  std::set<std::string> seen;
  for (auto& m : ms) {
    EXPECT_TRUE(seen.insert(m.id).second) << "member listed twice: " << m.id;
    bool found = false;
    for (size_t j = 0; j < cl.size(); j++) {
      if (cl.node(j).name() != m.id) continue;
      found = true;
      EXPECT_EQ(m.cluster_addr, cl.cluster_addr(j)) << m.id;
      EXPECT_EQ(m.client_addr, "127.0.0.1:" + std::to_string(cl.node(j).port())) << m.id;
    }
    EXPECT_TRUE(found) << "unknown member id " << m.id;
    EXPECT_EQ(m.status, "up") << m.id << " as seen by " << cl.node(observer).name();
    EXPECT_EQ(m.weight, kWeight) << m.id;
  }
  (void)t;
}

// ---- ring convergence ---------------------------------------------------------------------

TEST_F(ClusterTest, ThreeNodeRingConvergesWithFiveTupleMembers) {
  StartCluster(3);
  EXPECT_LT(converge_ms_, 10000) << "3 nodes with 100 ms gossip should converge within a few seconds";
  for (size_t i = 0; i < 3; i++) ExpectMembersExact(this, *cluster_, i);

  // Every node builds the same ring: rows [first, last, [owners]] covering the 16384
  // partitions in order, 3 distinct owners each (N=3 of 3 nodes), identical everywhere.
  std::vector<std::string> first;
  for (size_t i = 0; i < 3; i++) {
    Reply ring = c(i)("DYNAMO", "RING");
    ASSERT_TRUE(ring && ring->type == REDIS_REPLY_ARRAY && ring->elements > 0) << Describe(ring);
    std::vector<std::string> flat;
    std::map<std::string, int> per_node;
    long long next = 0;
    for (size_t j = 0; j < ring->elements; j++) {
      const redisReply* e = ring->element[j];
      ASSERT_TRUE(e->type == REDIS_REPLY_ARRAY && e->elements == 3) << Describe(e);
      ASSERT_EQ(e->element[0]->type, REDIS_REPLY_INTEGER);
      ASSERT_EQ(e->element[1]->type, REDIS_REPLY_INTEGER);
      EXPECT_EQ(e->element[0]->integer, next) << "rows must cover the partitions in order";
      EXPECT_GE(e->element[1]->integer, e->element[0]->integer);
      next = e->element[1]->integer + 1;
      const redisReply* owners = e->element[2];
      ASSERT_TRUE(owners->type == REDIS_REPLY_ARRAY && owners->elements == 3) << Describe(e);
      std::string row = std::to_string(e->element[0]->integer) + "-" + std::to_string(e->element[1]->integer);
      std::set<std::string> distinct;
      for (size_t k = 0; k < owners->elements; k++) {
        row += "," + Str(owners->element[k]);
        distinct.insert(Str(owners->element[k]));
        per_node[Str(owners->element[k])]++;
      }
      EXPECT_EQ(distinct.size(), 3u) << row;
      flat.push_back(row);
    }
    EXPECT_EQ(next, 16384) << "the rows must end at the last partition";
    EXPECT_EQ(per_node.size(), 3u);
    if (i == 0) first = flat;
    else EXPECT_TRUE(flat == first) << node(i).name() << " has a different ring than " << node(0).name();
  }
  // Same preference list everywhere, N=3 distinct nodes.
  for (int k = 0; k < 10; k++) {
    std::string key = "pl:" + std::to_string(k);
    Reply p0 = c(0)("DYNAMO", "PREFLIST", key);
    ASSERT_TRUE(p0 && p0->type == REDIS_REPLY_ARRAY && p0->elements == 3) << Describe(p0);
    std::set<std::string> ids;
    for (size_t j = 0; j < 3; j++) ids.insert(Str(p0->element[j]));
    EXPECT_EQ(ids.size(), 3u);
    for (size_t i = 1; i < 3; i++) EXPECT_EQ(Describe(c(i)("DYNAMO", "PREFLIST", key)), Describe(p0));
  }
  // INFO has the Dynamo section with the member count.
  EXPECT_EQ(InfoNum(c(0), "members"), 3);
}

// ---- any node serves any key; siblings across coordinators ---------------------------------

TEST_F(ClusterTest, FiveNodesWriteOneReadAnotherAndSiblingsAcrossCoordinators) {
  StartCluster(5);
  EXPECT_LT(converge_ms_, 15000);
  for (size_t i = 0; i < 5; i++) ExpectMembersExact(this, *cluster_, i);

  // Which node coordinates which key (the first node of its preference list coordinates;
  // any other node forwards).
  auto pref = [&](const std::string& key) {
    std::vector<std::string> ids;
    Reply p = c(0)("DYNAMO", "PREFLIST", key);
    if (p && p->type == REDIS_REPLY_ARRAY)
      for (size_t j = 0; j < p->elements; j++) ids.push_back(Str(p->element[j]));
    return ids;
  };
  long long fwd_before = 0;
  for (size_t i = 0; i < 5; i++) fwd_before += InfoNum(c(i), "forwarded");

  constexpr int kKeys = 200;
  int via_non_replica = 0;
  for (int k = 0; k < kKeys; k++) {
    std::string key = "wr:" + std::to_string(k), val = "value-" + std::to_string(k * 7919);
    size_t w = size_t(k) % 5;
    auto ids = pref(key);
    ASSERT_EQ(ids.size(), 3u) << key;
    if (std::find(ids.begin(), ids.end(), node(w).name()) == ids.end()) via_non_replica++;
    ASSERT_TRUE(IsOkStatus(c(w)("SET", key, val))) << key << " via " << node(w).name() << ": "
                                                   << Describe(c(w)("GET", key));
  }
  for (int k = 0; k < kKeys; k++) {
    std::string key = "wr:" + std::to_string(k), val = "value-" + std::to_string(k * 7919);
    for (size_t d : {2u, 3u}) {
      size_t r = (size_t(k) + d) % 5;
      EXPECT_TRUE(IsBulk(c(r)("GET", key), val)) << key << " written via " << node(k % 5).name() << ", read via "
                                                  << node(r).name();
    }
  }
  long long fwd_after = 0;
  for (size_t i = 0; i < 5; i++) fwd_after += InfoNum(c(i), "forwarded");
  std::printf("[cluster] %d of %d writes went through a node outside the key's preference list; forwarded %lld\n",
              via_non_replica, kKeys, fwd_after - fwd_before);
  EXPECT_GT(via_non_replica, 20) << "with 5 nodes and N=3 many keys are written via a non-replica";
  EXPECT_GT(fwd_after - fwd_before, 0) << "requests through non-replicas must be forwarded";

  // Siblings: two different coordinators (both replicas of the key, so neither forwards)
  // write from the same (empty) context; a third, non-replica node sees both.
  std::string key = "sib:0";
  std::vector<std::string> ids;
  for (int k = 0; k < 100; k++) {
    key = "sib:" + std::to_string(k);
    ids = pref(key);
    if (ids.size() == 3) break;
  }
  ASSERT_EQ(ids.size(), 3u);
  auto index_of = [&](const std::string& id) {
    for (size_t i = 0; i < 5; i++)
      if (node(i).name() == id) return i;
    return size_t(99);
  };
  size_t a = index_of(ids[0]), b = index_of(ids[1]), outsider = 99;
  for (size_t i = 0; i < 5; i++)
    if (std::find(ids.begin(), ids.end(), node(i).name()) == ids.end()) outsider = i;
  ASSERT_LT(a, 5u);
  ASSERT_LT(b, 5u);
  ASSERT_LT(outsider, 5u);

  Reply d0 = c(a)("DGET", key);
  ASSERT_TRUE(IsDget(d0));
  EXPECT_TRUE(Siblings(d0).empty());
  std::string ctx0 = Str(d0->element[0]);
  ASSERT_TRUE(IsContext(c(a)("DPUT", key, "from-a", ctx0)));
  ASSERT_TRUE(IsContext(c(b)("DPUT", key, "from-b", ctx0)));
  Reply d1 = c(outsider)("DGET", key);
  ASSERT_TRUE(IsDget(d1));
  EXPECT_EQ(Siblings(d1), (std::vector<std::string>{"from-a", "from-b"}))
      << "concurrent DPUTs via " << ids[0] << " and " << ids[1] << ", read via " << node(outsider).name();
  // The same siblings from every node, with R=3 too.
  for (size_t i = 0; i < 5; i++) {
    EXPECT_EQ(Siblings(c(i)("DGET", key, "R", "3")), (std::vector<std::string>{"from-a", "from-b"}))
        << "via " << node(i).name();
  }
  // GET picks the same winner everywhere.
  std::string winner = Str(c(0)("GET", key));
  EXPECT_TRUE(winner == "from-a" || winner == "from-b") << winner;
  for (size_t i = 1; i < 5; i++) EXPECT_TRUE(IsBulk(c(i)("GET", key), winner)) << "via " << node(i).name();
  // Resolving through the outsider with the merged context leaves one value everywhere.
  ASSERT_TRUE(IsContext(c(outsider)("DPUT", key, "merged", Str(d1->element[0]))));
  for (size_t i = 0; i < 5; i++) {
    EXPECT_EQ(Siblings(c(i)("DGET", key)), (std::vector<std::string>{"merged"})) << "via " << node(i).name();
  }
  // A stale context through yet another coordinator makes a sibling again.
  ASSERT_TRUE(IsContext(c(b)("DPUT", key, "stale", ctx0)));
  EXPECT_EQ(Siblings(c(a)("DGET", key)), (std::vector<std::string>{"merged", "stale"}));
}

// ---- failures ------------------------------------------------------------------------------

TEST_F(ClusterTest, KillOneOfThreeKeepsReadsAndWritesAvailable) {
  StartCluster(3);
  constexpr int kBefore = 100;
  for (int k = 0; k < kBefore; k++) {
    ASSERT_TRUE(IsOkStatus(c(k % 3)("SET", "pre:" + std::to_string(k), "v" + std::to_string(k))));
  }
  ASSERT_TRUE(IsContext(c(0)("DPUT", "pre:d", "dv", "")));

  node(2).Kill();
  auto t_kill = SteadyClock::now();

  // Successes must resume quickly (they may never stop: W=2/R=2 with two live replicas).
  long long first_ok_ms = -1;
  int consecutive = 0, failures = 0, ops = 0;
  std::string last_failure;
  WaitUntil(
      [&] {
        size_t via = size_t(ops) % 2;
        std::string key = "during:" + std::to_string(ops), val = "x" + std::to_string(ops);
        ops++;
        Reply w = c(via)("SET", key, val);
        Reply r = c(1 - via)("GET", key);
        if (IsOkStatus(w) && r && r->type == REDIS_REPLY_STRING && Str(r) == val) {
          if (first_ok_ms < 0) first_ok_ms = MsSince(t_kill);
          consecutive++;
        } else {
          failures++;
          consecutive = 0;
          last_failure = Describe(w) + " / " + Describe(r);
        }
        return consecutive >= 30;
      },
      10s, 5ms);
  long long stable_ms = MsSince(t_kill);
  std::printf("[cluster] after SIGKILL of 1/3: first success at %lld ms, 30 in a row by %lld ms, %d failures of %d\n",
              first_ok_ms, stable_ms, failures, ops);
  ASSERT_GE(first_ok_ms, 0) << "no successful write+read after killing one node of three; last: " << last_failure;
  EXPECT_LT(first_ok_ms, 3000) << "successes must resume within a few seconds";
  EXPECT_GE(consecutive, 30) << "writes/reads did not become stable within 10 s; last failure: " << last_failure;

  // Once the failure detector has marked n3 down, nothing fails any more.
  long long down_ms = 0;
  EXPECT_TRUE(WaitStatus({&node(0), &node(1)}, node(2).name(), "down", 8s, &down_ms)) << StateDump();
  std::printf("[cluster] survivors saw n3 down %lld ms after waiting\n", down_ms);
  for (int k = 0; k < 60; k++) {
    size_t via = size_t(k) % 2;
    std::string key = "after:" + std::to_string(k);
    EXPECT_TRUE(IsOkStatus(c(via)("SET", key, "a"))) << key;
    EXPECT_TRUE(IsBulk(c(1 - via)("GET", key), "a")) << key;
  }
  Reply d = c(1)("DGET", "after:dput");
  ASSERT_TRUE(IsDget(d));
  EXPECT_TRUE(IsContext(c(0)("DPUT", "after:dput", "dv2", Str(d->element[0]))));
  EXPECT_EQ(Siblings(c(1)("DGET", "after:dput")), (std::vector<std::string>{"dv2"}));
  EXPECT_TRUE(IsInt(c(0)("INCR", "after:ctr"), 1));
  EXPECT_TRUE(IsInt(c(1)("INCR", "after:ctr"), 2));

  // Everything acknowledged before the kill is still readable through both survivors.
  for (int k = 0; k < kBefore; k++) {
    std::string key = "pre:" + std::to_string(k), val = "v" + std::to_string(k);
    EXPECT_TRUE(IsBulk(c(k % 2)("GET", key), val)) << key;
  }
  EXPECT_EQ(Siblings(c(1)("DGET", "pre:d")), (std::vector<std::string>{"dv"}));
}

TEST_F(ClusterTest, KillTwoOfThreeIsUnavailableFastThenRestartRecovers) {
  StartCluster(3);
  constexpr int kAcked = 50;
  for (int k = 0; k < kAcked; k++) {
    ASSERT_TRUE(IsOkStatus(c(k % 3)("SET", "acked:" + std::to_string(k), "v" + std::to_string(k))));
  }
  ASSERT_TRUE(IsInt(c(0)("INCRBY", "acked:ctr", "5"), 5));

  node(1).Kill();
  node(2).Kill();
  c(0).SetTimeout(10000);  // a hang would show as a long reply time, not a client timeout

  // Right after the kill (not yet detected) and after n2/n3 are marked down: every request
  // through n1 gets -UNAVAILABLE, quickly, and no write reports success with W=2. A few
  // commands are timed one by one; the rest go in one pipeline (the server handles them
  // concurrently, so the whole batch must also come back within the bound).
  auto check_all_unavailable = [&](const std::string& phase) {
    std::vector<std::vector<std::string>> one_by_one = {
        {"SET", "u:k", "v"},
        {"GET", "acked:1"},
        {"DGET", "acked:2"},
        {"DPUT", "u:d", "v", "", "W", "2"},
    };
    for (auto& cmd : one_by_one) {
      Timed t = TimedCmd(c(0), cmd);
      EXPECT_TRUE(IsUnavailable(t.reply)) << phase << ": " << Join(cmd) << " -> " << Describe(t.reply);
      EXPECT_LT(t.ms, 3000) << phase << ": " << Join(cmd) << " took " << t.ms << " ms";
    }
    std::vector<std::vector<std::string>> batch = {
        {"DPUT", "u:d", "v", ""},
        {"INCR", "u:ctr"},
        {"DEL", "acked:3", "u:k"},
        {"EXISTS", "acked:4"},
        {"MSET", "u:m1", "a", "u:m2", "b"},
        {"MGET", "acked:5", "acked:6"},
        {"DGET", "acked:7", "R", "2"},
        {"DDEL", "u:dd", ""},
    };
    for (int k = 0; k < 20; k++) batch.push_back({"SET", "u:w" + std::to_string(k), "v"});
    auto t0 = SteadyClock::now();
    for (auto& cmd : batch) c(0).Append(cmd);
    for (auto& cmd : batch) {
      Reply r = c(0).Read();
      EXPECT_FALSE(IsOkStatus(r)) << phase << ": " << Join(cmd) << " reported success with 1/3 nodes alive";
      EXPECT_TRUE(IsUnavailable(r)) << phase << ": " << Join(cmd) << " -> " << Describe(r);
    }
    long long batch_ms = MsSince(t0);
    EXPECT_LT(batch_ms, 3000) << phase << ": " << batch.size() << " pipelined requests took " << batch_ms << " ms";
    std::printf("[cluster] %s: %zu pipelined requests all answered in %lld ms\n", phase.c_str(), batch.size(),
                batch_ms);
  };
  check_all_unavailable("just after kill");
  EXPECT_TRUE(WaitStatus({&node(0)}, node(1).name(), "down", 8s)) << StateDump();
  EXPECT_TRUE(WaitStatus({&node(0)}, node(2).name(), "down", 8s)) << StateDump();
  check_all_unavailable("after detection");
  // W=1 / R=1 still work on the survivor (it is a replica of every key with 3 nodes).
  EXPECT_TRUE(IsContext(c(0)("DPUT", "u:one", "solo", "", "W", "1")));
  EXPECT_EQ(Siblings(c(0)("DGET", "acked:9", "R", "1")), (std::vector<std::string>{"v9"}));

  // Restart both on their data dirs; the cluster recovers.
  auto t_restart = SteadyClock::now();
  ASSERT_TRUE(node(1).Restart()) << node(1).last_error();
  ASSERT_TRUE(node(2).Restart()) << node(2).last_error();
  ASSERT_TRUE(cluster_->WaitAllUp(15s)) << cluster_->last_error() << "\n" << StateDump();
  long long up_ms = MsSince(t_restart);
  Reconnect(1);
  Reconnect(2);

  // Reads and writes through every node succeed again (a short window while peer links
  // reconnect is allowed).
  long long first_ok = -1;
  bool ok = WaitUntil(
      [&] {
        for (size_t i = 0; i < 3; i++) {
          std::string key = "rec:" + std::to_string(i);
          if (!IsOkStatus(c(i)("SET", key, "r"))) return false;
          if (!IsBulk(c((i + 1) % 3)("GET", key), "r")) return false;
        }
        return true;
      },
      10s, 50ms);
  first_ok = MsSince(t_restart);
  std::printf("[cluster] restart of 2/3: all up after %lld ms, reads+writes through every node by %lld ms\n", up_ms,
              first_ok);
  ASSERT_TRUE(ok) << "reads/writes did not recover within 10 s after all members were up\n" << StateDump();
  EXPECT_LT(first_ok, 10000);
  for (int k = 0; k < 30; k++) {
    std::string key = "rec2:" + std::to_string(k);
    EXPECT_TRUE(IsOkStatus(c(k % 3)("SET", key, "z"))) << key;
    EXPECT_TRUE(IsBulk(c((k + 1) % 3)("GET", key), "z")) << key;
  }
  // Every acknowledged write from before the failure is present, through the restarted nodes.
  for (int k = 0; k < kAcked; k++) {
    std::string key = "acked:" + std::to_string(k), val = "v" + std::to_string(k);
    EXPECT_TRUE(IsBulk(c(1 + k % 2)("GET", key), val)) << key;
  }
  EXPECT_TRUE(IsBulk(c(2)("GET", "acked:ctr"), "5"));
  EXPECT_EQ(Siblings(c(1)("DGET", "u:one", "R", "3")), (std::vector<std::string>{"solo"}))
      << "the W=1 write is read back with R=3 (read repair joins it in)";
}

// ---- membership changes ---------------------------------------------------------------------

TEST_F(ClusterTest, FreshNodeJoinsThroughOneSeedAndDynamoJoin) {
  StartCluster(3);
  for (int k = 0; k < 50; k++) ASSERT_TRUE(IsOkStatus(c(k % 3)("SET", "bj:" + std::to_string(k), "b")));

  // n4 knows only n1's cluster address.
  ServerProcess& n4 = AddNode("n4", {cluster_->cluster_addr(0)});
  ASSERT_TRUE(n4.Start()) << n4.last_error();
  std::vector<ServerProcess*> all4 = {&node(0), &node(1), &node(2), &n4};
  long long join_ms = 0;
  ASSERT_TRUE(WaitStatus(all4, "n4", "up", 5s, &join_ms)) << StateDump();
  std::printf("[cluster] n4 (one seed) listed up by all 4 nodes after %lld ms\n", join_ms);
  EXPECT_LT(join_ms, 3000) << "a few gossip rounds (100 ms each)";
  // n4 learns everyone (not just its seed), all up, in the 5-tuple format.
  ASSERT_TRUE(WaitUntil(
      [&] {
        auto ms = MembersOf(n4);
        if (ms.size() != 4) return false;
        for (auto& m : ms)
          if (m.status != "up") return false;
        return true;
      },
      5s, 50ms))
      << StateDump();
  for (auto& m : MembersOf(node(1))) {
    if (m.id != "n4") continue;
    EXPECT_EQ(m.cluster_addr, extra_addr(0));
    EXPECT_EQ(m.client_addr, "127.0.0.1:" + std::to_string(n4.port()));
    EXPECT_EQ(m.weight, kWeight);
  }
  // It serves requests with the others (ring views agree once everyone lists n4).
  auto ring_of = [](Conn& conn) {
    std::string flat;
    Reply r = conn("DYNAMO", "RING");
    if (!r || r->type != REDIS_REPLY_ARRAY) return flat;
    for (size_t j = 0; j < r->elements; j++) {
      const redisReply* e = r->element[j];
      if (e->type != REDIS_REPLY_ARRAY || e->elements != 3) continue;
      flat += std::to_string(e->element[0]->integer) + ":";
      for (size_t k = 0; k < e->element[2]->elements; k++) flat += Str(e->element[2]->element[k]) + ",";
      flat += ";";
    }
    return flat;
  };
  ASSERT_TRUE(WaitUntil(
      [&] {
        std::string p = ring_of(c(0));
        if (p.find("n4,") == std::string::npos) return false;
        for (size_t i = 1; i < 3; i++)
          if (ring_of(c(i)) != p) return false;
        auto c4 = n4.Connect(2000);
        return ring_of(*c4) == p;
      },
      5s, 50ms))
      << "the four nodes do not agree on a ring that includes n4";
  auto c4 = n4.Connect(5000);
  // Data written before the join stays readable (N=3 of 4: at least 2 old holders per key).
  for (int k = 0; k < 50; k++) {
    std::string key = "bj:" + std::to_string(k);
    EXPECT_TRUE(IsBulk((*c4)("GET", key), "b")) << key << " via the new node";
  }
  for (int k = 0; k < 20; k++) {
    std::string key = "j4:" + std::to_string(k);
    EXPECT_TRUE(IsOkStatus((*c4)("SET", key, "via-n4"))) << key;
    EXPECT_TRUE(IsBulk(c(size_t(k) % 3)("GET", key), "via-n4")) << key;
  }

  // n5 starts with a cluster listener and no seeds: alone until DYNAMO JOIN.
  ServerProcess& n5 = AddNode("n5", {});
  ASSERT_TRUE(n5.Start()) << n5.last_error();
  auto c5 = n5.Connect(5000);
  std::this_thread::sleep_for(std::chrono::milliseconds(3 * kGossipMs));
  auto alone = MembersOf(n5);
  ASSERT_EQ(alone.size(), 1u) << DescribeMembers(alone);
  EXPECT_EQ(alone[0].id, "n5");
  for (size_t i = 0; i < 3; i++) EXPECT_EQ(StatusIn(MembersOf(node(i)), "n5"), "") << "n5 has not joined yet";
  EXPECT_TRUE(IsOkStatus((*c5)("DYNAMO", "JOIN", cluster_->cluster_addr(1))));
  std::vector<ServerProcess*> all5 = {&node(0), &node(1), &node(2), &n4, &n5};
  long long join5_ms = 0;
  ASSERT_TRUE(WaitStatus(all5, "n5", "up", 5s, &join5_ms)) << StateDump();
  std::printf("[cluster] n5 (DYNAMO JOIN) listed up by all 5 nodes after %lld ms\n", join5_ms);
  EXPECT_LT(join5_ms, 3000);
  ASSERT_TRUE(WaitUntil([&] { return MembersOf(n5).size() == 5; }, 5s, 50ms)) << StateDump();
  for (auto* p : all5) {
    for (auto& m : MembersOf(*p)) EXPECT_EQ(m.status, "up") << m.id << " as seen by " << p->name();
  }

  // DYNAMO JOIN on a standalone node (no listen.cluster) is refused with an error.
  ServerProcess solo;
  ASSERT_TRUE(solo.Start()) << solo.last_error();
  auto cs = solo.Connect(5000);
  EXPECT_TRUE(IsErr((*cs)("DYNAMO", "JOIN", cluster_->cluster_addr(0)))) << "standalone node cannot join";
  EXPECT_TRUE(IsErr((*c5)("DYNAMO", "JOIN"))) << "missing argument";
}

// ---- per-request quorum options ------------------------------------------------------------

TEST_F(ClusterTest, PerRequestQuorumOptions) {
  StartCluster(3);
  // All up: R 3 / W 3 work, and so do 1 and 2.
  Reply d = c(0)("DGET", "q", "R", "3");
  ASSERT_TRUE(IsDget(d));
  Reply p = c(1)("DPUT", "q", "v3", Str(d->element[0]), "W", "3");
  ASSERT_TRUE(IsContext(p));
  EXPECT_EQ(Siblings(c(2)("DGET", "q", "R", "3")), (std::vector<std::string>{"v3"}));
  EXPECT_EQ(Siblings(c(2)("DGET", "q", "R", "1")), (std::vector<std::string>{"v3"}))
      << "W=3 stored it on every replica, so R=1 anywhere sees it";
  EXPECT_TRUE(IsContext(c(2)("DPUT", "q", "v1", Str(p), "w", "1"))) << "option names are case-insensitive";
  EXPECT_TRUE(IsDget(c(1)("DGET", "q", "r", "2")));
  EXPECT_TRUE(IsInt(c(0)("DDEL", "q2", "", "W", "3"), 1));

  // Out of range / malformed: -ERR (not UNAVAILABLE), on every node.
  for (size_t i = 0; i < 3; i++) {
    for (const char* bad : {"0", "4", "-1", "99"}) {
      Reply rr = c(i)("DGET", "q", "R", bad);
      EXPECT_TRUE(IsErrorPrefix(rr, "ERR")) << "R " << bad << ": " << Describe(rr);
      Reply wr = c(i)("DPUT", "q", "x", "", "W", bad);
      EXPECT_TRUE(IsErrorPrefix(wr, "ERR")) << "W " << bad << ": " << Describe(wr);
      Reply dr = c(i)("DDEL", "q", "", "W", bad);
      EXPECT_TRUE(IsErrorPrefix(dr, "ERR")) << "DDEL W " << bad << ": " << Describe(dr);
    }
    EXPECT_TRUE(IsErrorPrefix(c(i)("DGET", "q", "R", "two"), "ERR"));
    EXPECT_TRUE(IsErrorPrefix(c(i)("DGET", "q", "R"), "ERR"));
    EXPECT_TRUE(IsErrorPrefix(c(i)("DPUT", "q", "x", "", "W"), "ERR"));
    EXPECT_TRUE(IsErrorPrefix(c(i)("DGET", "q", "W", "2"), "ERR")) << "DGET takes R, not W";
  }
  // The rejected W=0/4 writes stored nothing.
  EXPECT_EQ(Siblings(c(0)("DGET", "q", "R", "3")), (std::vector<std::string>{"v1"}));

  // One node down: W 3 / R 3 cannot be met (-UNAVAILABLE, fast); W 2 / R 2 can.
  node(2).Kill();
  ASSERT_TRUE(WaitStatus({&node(0), &node(1)}, node(2).name(), "down", 8s)) << StateDump();
  for (size_t i = 0; i < 2; i++) {
    Reply dd = c(i)("DGET", "q", "R", "2");
    ASSERT_TRUE(IsDget(dd));
    std::string ctx = Str(dd->element[0]);
    Timed w3 = TimedCmd(c(i), {"DPUT", "q", "w3", ctx, "W", "3"});
    EXPECT_TRUE(IsUnavailable(w3.reply)) << "W 3 with 2/3 up: " << Describe(w3.reply);
    EXPECT_LT(w3.ms, 3000);
    Timed r3 = TimedCmd(c(i), {"DGET", "q", "R", "3"});
    EXPECT_TRUE(IsUnavailable(r3.reply)) << "R 3 with 2/3 up: " << Describe(r3.reply);
    EXPECT_LT(r3.ms, 3000);
    Reply w2 = c(i)("DPUT", "q", "w2-" + std::to_string(i), ctx, "W", "2");
    EXPECT_TRUE(IsContext(w2)) << "W 2 with 2/3 up";
    EXPECT_TRUE(IsDget(c(1 - i)("DGET", "q", "R", "2")));
    EXPECT_TRUE(IsContext(c(i)("DPUT", "q1", "w1", "", "W", "1")));
    EXPECT_TRUE(IsDget(c(i)("DGET", "q", "R", "1")));
  }
  // Out-of-range values are still -ERR (validated before any replica is asked).
  EXPECT_TRUE(IsErrorPrefix(c(0)("DGET", "q", "R", "4"), "ERR"));
  EXPECT_TRUE(IsErrorPrefix(c(0)("DPUT", "q", "x", "", "W", "0"), "ERR"));
}

// A whole-collection read (HGETALL: a header read, then a range read of the elements) asks
// R = 2 replicas, this node and the first reachable peer, and the third is a spare. With that
// peer frozen (SIGSTOP: not yet suspected, so still asked first), the read goes to the spare
// after the retry wait and answers well within the request timeout, for the elements' range
// read as for the header's point read.
TEST_F(ClusterTest, CollectionReadsAskTheSpareWhenAReplicaFreezes) {
  StartCluster(3);
  const int kKeys = 12, kFields = 30;
  for (int k = 0; k < kKeys; k++) {
    std::vector<std::string> args = {"HSET", "frz:" + std::to_string(k)};
    for (int f = 0; f < kFields; f++) {
      args.push_back("f" + std::to_string(f));
      args.push_back("v" + std::to_string(f));
    }
    ASSERT_TRUE(IsInt(c(0).Cmd(args), kFields)) << k;
  }
  long long retries_before = InfoNum(c(0), "read_retries");
  ASSERT_GE(retries_before, 0);
  ASSERT_EQ(::kill(node(2).pid(), SIGSTOP), 0);
  auto t0 = SteadyClock::now();
  std::vector<long long> took;
  // Before node 2 is declared down (kDownMs): until then reads still ask it first.
  for (int k = 0; k < kKeys && MsSince(t0) < kDownMs - 400; k++) {
    Timed all = TimedCmd(c(0), {"HGETALL", "frz:" + std::to_string(k)});
    took.push_back(all.ms);
    EXPECT_TRUE(IsArray(all.reply, 2 * kFields)) << k << ": " << Describe(all.reply);
    EXPECT_LT(all.ms, kRequestTimeoutMs) << k << ": waited for the frozen replica";
  }
  long long retries = InfoNum(c(0), "read_retries") - retries_before;
  ASSERT_EQ(::kill(node(2).pid(), SIGCONT), 0);
  std::string ms;
  for (long long t : took) ms += " " + std::to_string(t);
  std::printf("[spare] %zu HGETALLs with a frozen replica, ms:%s; spares asked: %lld\n", took.size(),
              ms.c_str(), retries);
  EXPECT_GE(took.size(), 3u);
  // A key whose first asked peer is node 2 asks the spare twice: its header, its elements.
  EXPECT_GE(retries, 2) << "no read asked node 2 first (12 keys): the test proved nothing";
}

// SLOWLOG counts a command's execution, as Redis: a write that waited half a second for a
// frozen replica (W=3, then UNAVAILABLE at the request timeout) is not in it; a command that
// held the loop (DEBUG SLEEP) is. INFO commandstats still counts the whole wait.
TEST_F(ClusterTest, SlowlogCountsExecutionNotTheWaitForReplicas) {
  StartCluster(3);
  ASSERT_TRUE(IsStatus(c(0)("SLOWLOG", "RESET"), "OK"));
  ASSERT_EQ(::kill(node(2).pid(), SIGSTOP), 0);
  Timed w3 = TimedCmd(c(0), {"DPUT", "slowlog-key", "v", "", "W", "3"});
  Timed set = TimedCmd(c(0), {"SET", "slowlog-key2", "v"});  // W=2: two of three answer
  ASSERT_EQ(::kill(node(2).pid(), SIGCONT), 0);
  EXPECT_TRUE(IsUnavailable(w3.reply)) << Describe(w3.reply);
  EXPECT_GE(w3.ms, kRequestTimeoutMs - 50);
  EXPECT_TRUE(IsStatus(set.reply, "OK")) << Describe(set.reply);
  Reply log = c(0)("SLOWLOG", "GET", "-1");
  ASSERT_TRUE(log && log->type == REDIS_REPLY_ARRAY) << Describe(log);
  for (size_t i = 0; i < log->elements; i++) {
    std::string name = log->element[i]->element[3]->element[0]->str;
    EXPECT_NE(name, "DPUT") << "the wait for a frozen replica is not execution: " << Describe(log);
  }
  ASSERT_TRUE(IsStatus(c(0)("DEBUG", "SLEEP", "0.05"), "OK"));
  log = c(0)("SLOWLOG", "GET", "1");
  ASSERT_TRUE(IsArray(log, 1)) << Describe(log);
  EXPECT_EQ(std::string(log->element[0]->element[3]->element[0]->str), "DEBUG");
  EXPECT_GE(log->element[0]->element[2]->integer, 45000);
  Reply stats = c(0)("INFO", "commandstats");
  ASSERT_TRUE(stats && stats->type == REDIS_REPLY_STRING);
  std::string text(stats->str, stats->len);
  size_t at = text.find("cmdstat_dput:");
  ASSERT_NE(at, std::string::npos) << text;
  long long usec = std::atoll(text.c_str() + text.find("usec=", at) + 5);
  EXPECT_GE(usec, (kRequestTimeoutMs - 50) * 1000LL) << "commandstats counts the whole wait";
}

// ---- read repair -----------------------------------------------------------------------------

TEST_F(ClusterTest, ReadRepairDeliversAWriteTheRestartedReplicaMissed) {
  StartCluster(3);
  size_t A = 0, B = 1, C = 2;
  node(C).Kill();
  // Written with W=2 while C is down: A and B hold it, C does not (with 3 nodes there is no
  // fallback node, so no hint is kept for C either).
  ASSERT_TRUE(IsOkStatus(c(A)("SET", "rr:k", "repaired-value")));
  ASSERT_TRUE(IsContext(c(A)("DPUT", "rr:d", "dv", "")));
  // A's replica message to C may sit in A's peer queue until the next reconnect attempt
  // (backoff <= 5 s); were C back by then, the original write would simply arrive late. Stay
  // down past that, so C really missed it.
  std::this_thread::sleep_for(5300ms);

  long long rr_before = 0, hd_before = 0;
  for (size_t i : {A, B}) {
    rr_before += InfoNum(node(i), "read_repairs");
    hd_before += HintsDelivered(node(i));
  }

  ASSERT_TRUE(node(C).Restart()) << node(C).last_error();
  ASSERT_TRUE(cluster_->WaitAllUp(15s)) << cluster_->last_error() << "\n" << StateDump();
  Reconnect(C);
  EXPECT_EQ(LocalKeys(node(C)), 0) << "C must have missed the writes (INFO keyspace counts its own records)";

  // R=3 through A: needs C's answer (possibly after A's link to C reconnects), returns the
  // value, and repairs C.
  Reply got;
  bool ok = WaitUntil(
      [&] {
        got = c(A)("DGET", "rr:k", "R", "3");
        return IsDget(got) && Siblings(got) == std::vector<std::string>{"repaired-value"};
      },
      10s, 100ms);
  ASSERT_TRUE(ok) << "DGET rr:k R 3 through A: " << Describe(got);
  EXPECT_EQ(Siblings(c(A)("DGET", "rr:d", "R", "3")), (std::vector<std::string>{"dv"}));

  long long rr_after = 0, hd_after = 0;
  for (size_t i : {A, B, C}) {
    rr_after += InfoNum(node(i), "read_repairs");
    hd_after += std::max(0LL, HintsDelivered(node(i)));
  }
  std::printf("[cluster] read_repairs %lld -> %lld, hints_delivered %lld -> %lld\n", rr_before, rr_after, hd_before,
              hd_after);
  EXPECT_GT(rr_after + hd_after, rr_before + hd_before)
      << "read repair (INFO read_repairs) or hinted handoff (DYNAMO HINTS) must have delivered the write to C";

  // Wait (bounded) until C holds both records locally, then take A and B away: C alone,
  // with R=1, has the values.
  EXPECT_TRUE(WaitUntil([&] { return LocalKeys(node(C)) >= 2; }, 3s, 50ms))
      << "C's local records after the repair: " << LocalKeys(node(C));
  node(A).Kill();
  node(B).Kill();
  Reply solo = c(C)("DGET", "rr:k", "R", "1");
  EXPECT_TRUE(IsDget(solo) && Siblings(solo) == std::vector<std::string>{"repaired-value"})
      << "C (A and B dead) does not have the repaired value: " << Describe(solo);
  EXPECT_EQ(Siblings(c(C)("DGET", "rr:d", "R", "1")), (std::vector<std::string>{"dv"}));
  // And C alone cannot meet R=2.
  EXPECT_TRUE(IsUnavailable(c(C)("GET", "rr:k")));
}

// ---- Merkle anti-entropy ------------------------------------------------------------------------

// C misses writes while it is down; after its restart nobody reads the keys, yet C gets
// them: first by DYNAMO SYNC on C, then (a second batch) by the periodic rounds alone.
TEST_F(ClusterTest, AntiEntropyRepairsARestartedReplicaWithoutReads) {
  StartCluster(3, "", /*ae_interval_ms=*/500);
  size_t A = 0, C = 2;
  node(C).Kill();
  for (int i = 0; i < 20; i++) {
    ASSERT_TRUE(IsOkStatus(c(A)("SET", "ae:k" + std::to_string(i), "v" + std::to_string(i))));
  }
  // Past the peer links' reconnect backoff (see ReadRepairDelivers...), so the replica
  // messages to C are really lost.
  std::this_thread::sleep_for(5300ms);
  ASSERT_TRUE(node(C).Restart()) << node(C).last_error();
  ASSERT_TRUE(cluster_->WaitAllUp(15s)) << cluster_->last_error() << "\n" << StateDump();
  Reconnect(C);

  Reply sync = c(C)("DYNAMO", "SYNC");
  ASSERT_TRUE(sync && sync->type == REDIS_REPLY_INTEGER) << Describe(sync);
  EXPECT_EQ(sync->integer, 2) << "C shares replicas with both other nodes";
  auto t0 = SteadyClock::now();
  EXPECT_TRUE(WaitUntil([&] { return LocalKeys(node(C)) >= 20; }, 15s, 100ms))
      << "C's local records: " << LocalKeys(node(C));
  std::printf("[cluster] anti-entropy filled the restarted replica in %lld ms\n", MsSince(t0));
  long long repaired = 0, read_repairs = 0;
  for (size_t i = 0; i < 3; i++) {
    repaired += InfoNum(node(i), "ae_keys_repaired");
    read_repairs += InfoNum(node(i), "read_repairs");
  }
  EXPECT_GE(repaired, 20);
  EXPECT_EQ(read_repairs, 0) << "no client read happened: anti-entropy did the repair";
  // Rounds count at the node that started them, when the answer arrives (C's SYNC or a
  // periodic round of A or B may have done the work).
  EXPECT_TRUE(WaitUntil(
      [&] {
        long long rounds = 0;
        for (size_t i = 0; i < 3; i++) rounds += std::max(0LL, InfoNum(c(i), "ae_rounds"));
        return rounds > 0;
      },
      5s, 100ms));

  // Periodic rounds, no SYNC: a second batch C misses.
  node(C).Kill();
  for (int i = 0; i < 10; i++) {
    ASSERT_TRUE(IsOkStatus(c(A)("SET", "ae:p" + std::to_string(i), "w" + std::to_string(i))));
  }
  std::this_thread::sleep_for(5300ms);
  ASSERT_TRUE(node(C).Restart()) << node(C).last_error();
  ASSERT_TRUE(cluster_->WaitAllUp(15s)) << cluster_->last_error() << "\n" << StateDump();
  EXPECT_TRUE(WaitUntil([&] { return LocalKeys(node(C)) >= 30; }, 20s, 100ms))
      << "C's local records: " << LocalKeys(node(C));
  // And the values are right: C alone answers with R=1.
  node(A).Kill();
  node(1).Kill();
  Reconnect(C);
  EXPECT_EQ(Siblings(c(C)("DGET", "ae:k7", "R", "1")), (std::vector<std::string>{"v7"}));
  EXPECT_EQ(Siblings(c(C)("DGET", "ae:p3", "R", "1")), (std::vector<std::string>{"w3"}));
}

// ---- sloppy quorum and hinted handoff (5 nodes) -----------------------------------------------

// DYNAMO HINTS field summed over processes (dead ones count 0).
long long SumHints(const std::vector<ServerProcess*>& ps, const std::string& field) {
  long long sum = 0;
  for (auto* p : ps) {
    auto c = p->Connect(2000);
    if (!c->ok()) continue;
    Reply r = c->Cmd({"DYNAMO", "HINTS"});
    if (!r || r->type != REDIS_REPLY_ARRAY) continue;
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
      if (Str(r->element[i]) == field && r->element[i + 1]->type == REDIS_REPLY_INTEGER) sum += r->element[i + 1]->integer;
    }
  }
  return sum;
}

TEST_F(ClusterTest, FiveNodesSloppyQuorumHandsHintsBackAfterRestart) {
  StartCluster(5);
  std::vector<ServerProcess*> others = {&node(0), &node(1), &node(2), &node(3)};
  // Keys n1 must forward, and would forward to n5 (first in their preference list).
  std::vector<std::string> fwd_keys;
  for (int k = 0; k < 2000 && fwd_keys.size() < 400; k++) {
    std::string key = "fw:" + std::to_string(k);
    Reply p = c(0)("DYNAMO", "PREFLIST", key);
    ASSERT_TRUE(p && p->type == REDIS_REPLY_ARRAY && p->elements == 3) << Describe(p);
    if (Str(p->element[0]) != "n5") continue;
    if (Str(p->element[1]) == "n1" || Str(p->element[2]) == "n1") continue;
    fwd_keys.push_back(key);
  }
  ASSERT_GE(fwd_keys.size(), 20u);

  node(4).Kill();
  auto t_kill = SteadyClock::now();
  // Until n1 stops trusting n5, such requests may time out; then they must succeed again
  // (forwarded to the next live replica).
  long long first_ok_ms = -1;
  int consecutive = 0, failures = 0;
  size_t next = 0;
  WaitUntil(
      [&] {
        const std::string& key = fwd_keys[next++ % fwd_keys.size()];
        Reply w = c(0)("SET", key, "f");
        if (IsOkStatus(w) && IsBulk(c(0)("GET", key), "f")) {
          if (first_ok_ms < 0) first_ok_ms = MsSince(t_kill);
          consecutive++;
        } else {
          failures++;
          consecutive = 0;
        }
        return consecutive >= 20;
      },
      10s, 5ms);
  std::printf("[cluster] 5 nodes, n5 killed: requests n1 forwards toward n5 succeed again after %lld ms "
              "(%d failed meanwhile), stable by %lld ms\n",
              first_ok_ms, failures, MsSince(t_kill));
  ASSERT_GE(first_ok_ms, 0) << "forwarded requests never recovered after n5 died";
  EXPECT_LT(first_ok_ms, 5000);
  EXPECT_GE(consecutive, 20);
  ASSERT_TRUE(WaitStatus(others, "n5", "down", 8s)) << StateDump();
  long long stored_before = SumHints(others, "hints_stored");

  // Keys whose preference list includes the dead n5: a fallback node past the top 3 stands
  // in for it, so even W=3 is met (Dynamo §4.6).
  std::vector<std::string> keys;
  for (int k = 0; k < 400 && keys.size() < 24; k++) {
    std::string key = "hh:" + std::to_string(k);
    Reply p = c(0)("DYNAMO", "PREFLIST", key);
    ASSERT_TRUE(p && p->type == REDIS_REPLY_ARRAY) << Describe(p);
    for (size_t j = 0; j < p->elements; j++)
      if (Str(p->element[j]) == "n5") keys.push_back(key);
  }
  ASSERT_GE(keys.size(), 10u);
  for (size_t k = 0; k < keys.size(); k++) {
    if (k % 3 == 0) {
      Reply w = c(k % 4)("DPUT", keys[k], "hinted-" + keys[k], "", "W", "3");
      EXPECT_TRUE(IsContext(w)) << "W=3 with one preference-list node down and 4 nodes alive (sloppy quorum): "
                                << keys[k] << " via " << node(k % 4).name();
    } else {
      EXPECT_TRUE(IsOkStatus(c(k % 4)("SET", keys[k], "hinted-" + keys[k]))) << keys[k];
    }
  }
  long long stored_after = SumHints(others, "hints_stored");
  std::printf("[cluster] hints_stored %lld -> %lld for %zu keys owned partly by the dead n5\n", stored_before,
              stored_after, keys.size());
  EXPECT_GE(stored_after - stored_before, (long long)keys.size()) << "one hint per key for n5";

  // Every hint stored since n5 died (these keys and the fw: writes above, each key written
  // once) goes back to n5 once it is up again.
  long long delivered_before = SumHints(others, "hints_delivered");
  long long to_deliver = stored_after - delivered_before;
  auto t0 = SteadyClock::now();
  ASSERT_TRUE(node(4).Restart()) << node(4).last_error();
  ASSERT_TRUE(cluster_->WaitAllUp(15s)) << cluster_->last_error() << "\n" << StateDump();
  Reconnect(4);
  long long delivered = 0;
  bool ok = WaitUntil(
      [&] {
        delivered = SumHints(others, "hints_delivered") - delivered_before;
        return delivered >= to_deliver;
      },
      12s, 100ms);
  std::printf("[cluster] %lld of %lld hints delivered to the restarted n5 within %lld ms of its restart\n",
              delivered, to_deliver, MsSince(t0));
  EXPECT_TRUE(ok) << "only " << delivered << " of " << to_deliver << " hints delivered";
  // n5's own copy (R=1 through n5, a replica of these keys, answers from its local record
  // first), without any read repair having touched these keys.
  for (auto& key : keys) {
    EXPECT_EQ(Siblings(c(4)("DGET", key, "R", "1")), (std::vector<std::string>{"hinted-" + key}))
        << key << " was not handed off to n5";
  }
}

// ---- counter CRDT across coordinators --------------------------------------------------------

TEST_F(ClusterTest, ConcurrentIncrThroughAllThreeNodesIsExact) {
  StartCluster(3);
  constexpr int kPerThread = 300;
  std::atomic<int> errors{0};
  std::vector<std::string> first_error(3);
  std::vector<bool> monotonic(3, true);
  std::vector<std::thread> threads;
  auto t0 = SteadyClock::now();
  for (size_t t = 0; t < 3; t++) {
    threads.emplace_back([&, t] {
      auto conn = node(t).Connect(10000);  // Connect() only reads immutable fields
      long long last = 0;
      for (int i = 0; i < kPerThread; i++) {
        Reply r = conn->Cmd({"INCR", "ctr"});
        if (!r || r->type != REDIS_REPLY_INTEGER) {
          if (errors.fetch_add(1) < 1000 && first_error[t].empty()) first_error[t] = Describe(r);
          continue;
        }
        if (r->integer <= last) monotonic[t] = false;
        last = r->integer;
      }
    });
  }
  for (auto& th : threads) th.join();
  std::printf("[cluster] 3 x %d concurrent INCR took %lld ms\n", kPerThread, MsSince(t0));
  EXPECT_EQ(errors.load(), 0) << first_error[0] << " | " << first_error[1] << " | " << first_error[2];
  for (size_t t = 0; t < 3; t++) EXPECT_TRUE(monotonic[t]) << "INCR results through " << node(t).name() << " went backwards";
  for (size_t i = 0; i < 3; i++) {
    EXPECT_TRUE(IsBulk(c(i)("GET", "ctr"), std::to_string(3 * kPerThread))) << "via " << node(i).name();
  }
  // One more increment anywhere continues from the total.
  EXPECT_TRUE(IsInt(c(1)("INCRBY", "ctr", "100"), 3 * kPerThread + 100));
  EXPECT_TRUE(IsBulk(c(2)("GET", "ctr"), std::to_string(3 * kPerThread + 100)));
}

// ---- multi-key commands ----------------------------------------------------------------------

TEST_F(ClusterTest, MultiKeyCommandsFanOutAcrossFiveNodes) {
  StartCluster(5);
  constexpr int kKeys = 40;
  std::vector<std::string> mset = {"MSET"}, mget = {"MGET"}, exists = {"EXISTS"};
  std::set<std::string> coordinators;
  for (int k = 0; k < kKeys; k++) {
    std::string key = "mk:" + std::to_string(k);
    mset.push_back(key);
    mset.push_back("val" + std::to_string(k));
    mget.push_back(key);
    exists.push_back(key);
    Reply p = c(0)("DYNAMO", "PREFLIST", key);
    if (p && p->type == REDIS_REPLY_ARRAY && p->elements > 0) coordinators.insert(Str(p->element[0]));
  }
  EXPECT_GE(coordinators.size(), 4u) << "the keys should spread over the ring";
  ASSERT_TRUE(IsOkStatus(c(0).Cmd(mset)));

  // MGET through another node, with two missing keys mixed in.
  std::vector<std::string> mget_mixed = mget;
  mget_mixed.insert(mget_mixed.begin() + 1, "mk:missing-a");
  mget_mixed.push_back("mk:missing-b");
  Reply g = c(3).Cmd(mget_mixed);
  ASSERT_TRUE(g && g->type == REDIS_REPLY_ARRAY && g->elements == size_t(kKeys + 2)) << Describe(g);
  // Reply order: missing-a, mk:0 .. mk:39, missing-b.
  EXPECT_EQ(g->element[0]->type, REDIS_REPLY_NIL) << Describe(g->element[0]);
  for (int k = 0; k < kKeys; k++) {
    const redisReply* e = g->element[k + 1];
    EXPECT_TRUE(e->type == REDIS_REPLY_STRING && Str(e) == "val" + std::to_string(k)) << "mk:" << k << ": "
                                                                                      << Describe(e);
  }
  EXPECT_EQ(g->element[kKeys + 1]->type, REDIS_REPLY_NIL) << Describe(g->element[kKeys + 1]);

  // EXISTS counts per key (a repeated key counts twice, as in Redis).
  std::vector<std::string> ex = exists;
  ex.push_back("mk:0");
  ex.push_back("mk:nope");
  EXPECT_TRUE(IsInt(c(2).Cmd(ex), kKeys + 1));

  // DEL half of them (plus a missing key) through a third node.
  std::vector<std::string> del = {"DEL"};
  for (int k = 0; k < kKeys / 2; k++) del.push_back("mk:" + std::to_string(k));
  del.push_back("mk:nope");
  EXPECT_TRUE(IsInt(c(4).Cmd(del), kKeys / 2));
  for (size_t i = 0; i < 5; i++) {
    Reply after = c(i).Cmd(mget);
    ASSERT_TRUE(after && after->type == REDIS_REPLY_ARRAY && after->elements == size_t(kKeys)) << Describe(after);
    for (int k = 0; k < kKeys; k++) {
      const redisReply* e = after->element[k];
      if (k < kKeys / 2) {
        EXPECT_EQ(e->type, REDIS_REPLY_NIL) << "deleted mk:" << k << " via " << node(i).name() << ": " << Describe(e);
      } else {
        EXPECT_TRUE(e->type == REDIS_REPLY_STRING && Str(e) == "val" + std::to_string(k))
            << "mk:" << k << " via " << node(i).name();
      }
    }
    EXPECT_TRUE(IsInt(c(i).Cmd(exists), kKeys / 2)) << "via " << node(i).name();
  }
  // A second DEL of the same keys deletes nothing.
  EXPECT_TRUE(IsInt(c(1).Cmd(del), 0));
  // MSET overwrites across nodes; MGET through each node agrees.
  ASSERT_TRUE(IsOkStatus(c(2)("MSET", "mk:0", "again", "mk:39", "new39")));
  for (size_t i = 0; i < 5; i++) {
    EXPECT_TRUE(IsBulkArray(c(i)("MGET", "mk:0", "mk:39", "mk:20"), {"again", "new39", "val20"}))
        << "via " << node(i).name();
  }
}

// SCAN, KEYS and DBSIZE cover the ring: with 5 nodes and N=3 no node holds every key, yet a
// SCAN through any node returns each live key exactly once (duplicates only if the ring
// changed mid-walk, which it does not here), KEYS agrees, and DBSIZE is a sane estimate.
TEST_F(ClusterTest, ScanKeysAndDbsizeCoverTheWholeRing) {
  StartCluster(5);
  constexpr int kKeys = 300;
  std::set<std::string> want;
  for (int k = 0; k < kKeys; k++) {
    std::string key = "scan:" + std::to_string(k);
    ASSERT_TRUE(IsOkStatus(c(k % 5)("SET", key, "v")));
    want.insert(key);
  }
  ASSERT_TRUE(IsOkStatus(c(0)("SET", "other:1", "x")));
  ASSERT_TRUE(IsInt(c(1)("DEL", "scan:0"), 1));
  want.erase("scan:0");
  for (size_t i = 0; i < 5; i++) {
    std::multiset<std::string> got;
    std::string cursor = "0";
    int calls = 0;
    do {
      Reply r = c(i)("SCAN", cursor, "MATCH", "scan:*", "COUNT", "50");
      ASSERT_TRUE(r && r->type == REDIS_REPLY_ARRAY && r->elements == 2) << Describe(r);
      cursor = Str(r->element[0]);
      for (size_t j = 0; j < r->element[1]->elements; j++) got.insert(Str(r->element[1]->element[j]));
      ASSERT_LT(++calls, 1000) << "SCAN does not terminate via " << node(i).name();
    } while (cursor != "0");
    EXPECT_EQ(got.size(), want.size()) << "SCAN via " << node(i).name() << " (duplicates or misses)";
    EXPECT_EQ(std::set<std::string>(got.begin(), got.end()), want) << "SCAN via " << node(i).name();

    Reply keys = c(i)("KEYS", "scan:*");
    ASSERT_TRUE(keys && keys->type == REDIS_REPLY_ARRAY) << Describe(keys);
    std::set<std::string> kset;
    for (size_t j = 0; j < keys->elements; j++) kset.insert(Str(keys->element[j]));
    EXPECT_EQ(keys->elements, want.size()) << "KEYS via " << node(i).name();
    EXPECT_EQ(kset, want) << "KEYS via " << node(i).name();

    // Each node holds ~3/5 of the records; DBSIZE scales that back up (an estimate).
    Reply d = c(i)("DBSIZE");
    ASSERT_TRUE(d && d->type == REDIS_REPLY_INTEGER) << Describe(d);
    EXPECT_GT(d->integer, kKeys * 6 / 10) << "DBSIZE via " << node(i).name();
    EXPECT_LT(d->integer, kKeys * 14 / 10) << "DBSIZE via " << node(i).name();
  }
}

// ---- cluster_secret --------------------------------------------------------------------------

// Big values between nodes under a cluster_secret: a record of 1 MB or more crosses as its
// stored bytes in a split frame whose HMAC trailer is computed on the thread pool while the
// head and value go out (server/peer_transport.cc, TrailerWork). Small writes pipelined
// right behind it wait for that trailer on each link: every frame must arrive whole and in
// order, or the peers reject the stream and the reads below fail.
TEST_F(ClusterTest, BigValuesCrossWithAClusterSecret) {
  StartCluster(3, "integration-secret-beta");
  std::string big(3u << 20, 'b');
  for (size_t i = 0; i < big.size(); i += 4093) big[i] = static_cast<char>('0' + i % 10);
  RawConn raw(node(0).port(), 20000);
  ASSERT_TRUE(raw.ok());
  ASSERT_TRUE(raw.SendCmd({"SET", "sec:big", big}));
  for (int k = 0; k < 20; k++) ASSERT_TRUE(raw.SendCmd({"SET", "sec:small:" + std::to_string(k), "v" + std::to_string(k)}));
  for (int k = 0; k <= 20; k++) {
    RValue r = raw.Read(20000);
    ASSERT_EQ(r.type, '+') << "reply " << k << ": " << r.Describe();
  }
  ASSERT_TRUE(raw.SendCmd({"WAIT", "3", "20000"}));  // every copy stored: reads at R=2 agree
  RValue copies = raw.Read(25000);
  EXPECT_EQ(copies.num, 3) << copies.Describe();
  for (size_t i = 1; i < 3; i++) {
    Reply r = c(i)("GET", "sec:big");
    ASSERT_TRUE(r && r->type == REDIS_REPLY_STRING) << node(i).name() << ": " << Describe(r);
    EXPECT_TRUE(std::string_view(r->str, r->len) == big) << node(i).name() << " read " << r->len << " bytes";
    for (int k = 0; k < 20; k++) {
      EXPECT_TRUE(IsBulk(c(i)("GET", "sec:small:" + std::to_string(k)), "v" + std::to_string(k))) << k;
    }
  }
  // Overwritten through another node: the new value crosses back the same way.
  big[17] = 'Z';
  ASSERT_TRUE(IsOkStatus(c(2)("SET", "sec:big", big)));
  Reply r = c(0)("GET", "sec:big");
  ASSERT_TRUE(r && r->type == REDIS_REPLY_STRING) << Describe(r);
  EXPECT_TRUE(std::string_view(r->str, r->len) == big);
}

TEST_F(ClusterTest, NodeWithWrongClusterSecretCannotJoin) {
  const std::string kSecret = "integration-secret-alpha";
  StartCluster(3, kSecret);
  ASSERT_TRUE(IsOkStatus(c(0)("SET", "sec:k", "v")));
  EXPECT_TRUE(IsBulk(c(1)("GET", "sec:k"), "v"));

  // An intruder seeding from every member, with another secret.
  ServerProcess& bad = AddNode("n4", {cluster_->cluster_addr(0), cluster_->cluster_addr(1), cluster_->cluster_addr(2)},
                               "some-other-secret");
  ASSERT_TRUE(bad.Start()) << bad.last_error();
  // A positive control: the same set-up with the right secret joins.
  ServerProcess& good = AddNode("n5", {cluster_->cluster_addr(0)}, kSecret);
  ASSERT_TRUE(good.Start()) << good.last_error();

  // For 2 s (20 gossip rounds) n4 never appears anywhere and sees no one; n5 joins.
  auto t0 = SteadyClock::now();
  int polls = 0;
  for (; MsSince(t0) < 2000 && polls < 200; polls++) {
    for (size_t i = 0; i < 3; i++) {
      auto ms = MembersOf(node(i));
      ASSERT_FALSE(ms.empty()) << node(i).name() << " did not answer DYNAMO MEMBERS";
      ASSERT_EQ(StatusIn(ms, "n4"), "") << node(i).name() << " lists the node with the wrong secret: "
                                        << DescribeMembers(ms);
    }
    auto own = MembersOf(bad);
    ASSERT_EQ(own.size(), 1u) << "n4 must not learn the cluster: " << DescribeMembers(own);
    std::this_thread::sleep_for(200ms);
  }
  EXPECT_TRUE(WaitStatus({&node(0), &node(1), &node(2), &good}, "n5", "up", 5s)) << StateDump();
  EXPECT_EQ(StatusIn(MembersOf(good), "n4"), "");

  // n4 cannot serve W=2 writes (or R=2 reads): it has no peers.
  auto cb = bad.Connect(5000);
  Timed w = TimedCmd(*cb, {"SET", "sec:intruder", "x"});
  EXPECT_TRUE(IsUnavailable(w.reply)) << Describe(w.reply);
  EXPECT_LT(w.ms, 3000);
  Timed dp = TimedCmd(*cb, {"DPUT", "sec:intruder", "x", "", "W", "2"});
  EXPECT_TRUE(IsUnavailable(dp.reply)) << Describe(dp.reply);
  Timed r = TimedCmd(*cb, {"GET", "sec:k"});
  EXPECT_TRUE(IsUnavailable(r.reply)) << "n4 must not read the cluster's data: " << Describe(r.reply);
  // Nothing it tried reached the cluster.
  EXPECT_TRUE(IsNil(c(2)("GET", "sec:intruder")));
  // The cluster is unaffected.
  EXPECT_TRUE(IsOkStatus(c(2)("SET", "sec:k2", "w")));
  EXPECT_TRUE(IsBulk(c(0)("GET", "sec:k2"), "w"));
}

}  // namespace
}  // namespace dynakv::itest
