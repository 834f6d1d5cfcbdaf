// Integration tests of the Redis Cluster API (cluster.redis_cluster_api; README,
// "Cluster-aware clients") against real dynakv-server processes on 127.0.0.1:
//  - CLUSTER SLOTS/SHARDS/NODES/INFO/MYID agree with DYNAMO RING and across nodes;
//  - COUNTKEYSINSLOT / GETKEYSINSLOT show this replica's keys of a slot; READONLY etc.;
//  - after a join, a connection that fetched the map before gets one MOVED for a slot whose
//    first owner changed, and is served afterwards; redis-cli -c follows that MOVED;
//  - real cluster clients: redis-py RedisCluster, ioredis Cluster, node-redis createCluster,
//    redis-benchmark --cluster.
#include <fcntl.h>
#include <sys/stat.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <map>
#include <set>

#include "cluster/partition_ring.h"
#include "server/redis_cluster.h"
#include "tests/integration/harness.h"

namespace dynakv::itest {
namespace {

using namespace std::chrono_literals;

std::string Str(const redisReply* r) { return r ? std::string(r->str, r->len) : std::string(); }
std::string Str(const Reply& r) { return Str(r.get()); }

// moved_all: cluster.redis_cluster_moved = "all" (every connection may get MOVED).
ServerConfig Common(bool moved_all = false) {
  ServerConfig c;
  if (moved_all) c.SetStr("cluster", "redis_cluster_moved", "all");
  c.SetInt("cluster", "gossip_interval_ms", 100)
      .SetInt("cluster", "suspect_after_ms", 1000)
      .SetInt("cluster", "down_after_ms", 3000)
      .SetInt("cluster", "request_timeout_ms", 1000)
      .SetInt("cluster", "anti_entropy_interval_ms", 0)
      .Set("cluster", "redis_cluster_api", "true");
  return c;
}

// One CLUSTER SLOTS row: [first, last, (port, id) of each listed node].
struct SlotRow {
  long long first = 0, last = 0;
  std::vector<std::pair<int, std::string>> nodes;
};

// Parses CLUSTER SLOTS strictly (Redis 7's shape: [ip, port, id, {}] per node).
bool ParseSlots(const Reply& r, std::vector<SlotRow>* out, std::string* why) {
  out->clear();
  if (!r || r->type != REDIS_REPLY_ARRAY) return *why = "not an array: " + Describe(r), false;
  for (size_t i = 0; i < r->elements; i++) {
    const redisReply* row = r->element[i];
    if (row->type != REDIS_REPLY_ARRAY || row->elements < 3 || row->element[0]->type != REDIS_REPLY_INTEGER ||
        row->element[1]->type != REDIS_REPLY_INTEGER) {
      return *why = "bad row " + Describe(r), false;
    }
    SlotRow s;
    s.first = row->element[0]->integer;
    s.last = row->element[1]->integer;
    for (size_t j = 2; j < row->elements; j++) {
      const redisReply* n = row->element[j];
      if (n->type != REDIS_REPLY_ARRAY || n->elements != 4 || Str(n->element[0]) != "127.0.0.1" ||
          n->element[1]->type != REDIS_REPLY_INTEGER || n->element[2]->len != 40 ||
          n->element[3]->type != REDIS_REPLY_ARRAY || n->element[3]->elements != 0) {
        return *why = "bad node entry in " + Describe(r), false;
      }
      s.nodes.emplace_back(int(n->element[1]->integer), Str(n->element[2]));
    }
    out->push_back(std::move(s));
  }
  return true;
}

// The first owner (dynakv id) of every slot, from DYNAMO RING.
std::vector<std::string> FirstOwners(Conn& c) {
  std::vector<std::string> out(cluster::kPartitions);
  Reply r = c("DYNAMO", "RING");
  if (!r || r->type != REDIS_REPLY_ARRAY) return {};
  for (size_t i = 0; i < r->elements; i++) {
    const redisReply* row = r->element[i];
    if (row->elements != 3 || row->element[2]->elements == 0) return {};
    for (long long p = row->element[0]->integer; p <= row->element[1]->integer; p++) {
      out[size_t(p)] = Str(row->element[2]->element[0]);
    }
  }
  return out;
}

// A key whose slot satisfies pred (by the same CRC16 the servers use).
template <typename Pred>
std::string KeyWhere(const std::string& prefix, Pred pred) {
  for (int i = 0; i < 2000000; i++) {
    std::string k = prefix + std::to_string(i);
    if (pred(cluster::KeyPartition(k))) return k;
  }
  return "";
}

// A child process with its stdin and stdout on pipes (redis-cli -c in its line mode), stopped
// by PID in the destructor (and killed with the test process: PR_SET_PDEATHSIG).
class Piped {
 public:
  explicit Piped(const std::vector<std::string>& argv) {
    int in[2], out[2];
    if (pipe(in) != 0 || pipe(out) != 0) return;
    pid_ = fork();
    if (pid_ == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive the test (redis-server, node, ...)
      dup2(in[0], 0);
      dup2(out[1], 1);
      dup2(out[1], 2);
      close(in[1]);
      close(out[0]);
      std::vector<char*> args;
      for (auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      execvp(args[0], args.data());
      _exit(127);
    }
    close(in[0]);
    close(out[1]);
    to_ = in[1];
    from_ = out[0];
  }
  ~Piped() {
    if (to_ >= 0) close(to_);
    if (from_ >= 0) close(from_);
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  bool ok() const { return pid_ > 0; }
  void Line(const std::string& s) {
    std::string l = s + "\n";
    (void)!write(to_, l.data(), l.size());
  }
  // Reads until `want` appears in the output (true) or the time is up.
  bool ReadUntil(const std::string& want, std::chrono::milliseconds limit) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (got_.find(want) == std::string::npos) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return false;
      pollfd p{from_, POLLIN, 0};
      if (poll(&p, 1, int(left.count())) <= 0) continue;
      char buf[4096];
      ssize_t n = read(from_, buf, sizeof buf);
      if (n <= 0) return false;
      got_.append(buf, size_t(n));
    }
    return true;
  }
  const std::string& output() const { return got_; }
  // Closes its stdin, reads until EOF and reaps it. False (and kills it) if that takes
  // longer than `limit`; *code gets the exit code.
  bool Finish(std::chrono::milliseconds limit, int* code) {
    close(to_);
    to_ = -1;
    auto deadline = std::chrono::steady_clock::now() + limit;
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return false;
      pollfd p{from_, POLLIN, 0};
      if (poll(&p, 1, int(left.count())) <= 0) continue;
      char buf[4096];
      ssize_t n = read(from_, buf, sizeof buf);
      if (n <= 0) break;
      got_.append(buf, size_t(n));
    }
    int st = 0;
    if (waitpid(pid_, &st, 0) != pid_) return false;
    pid_ = -1;
    *code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    return true;
  }

 private:
  pid_t pid_ = -1;
  int to_ = -1, from_ = -1;
  std::string got_;
};

::testing::AssertionResult Runs(const std::vector<std::string>& args, std::chrono::milliseconds limit,
                                std::string* out = nullptr);

class ClusterApi : public ::testing::Test {
 protected:
  void StartCluster(int nodes, bool moved_all = false) {
    moved_all_ = moved_all;
    ClusterOptions o;
    o.nodes = nodes;
    o.extra = Common(moved_all);
    cluster_ = std::make_unique<Cluster>(std::move(o));
    ASSERT_TRUE(cluster_->Start(20s)) << cluster_->last_error();
    for (size_t i = 0; i < cluster_->size(); i++) {
      conns_.push_back(node(i).Connect(5000));
      ASSERT_TRUE(conns_.back()->ok()) << conns_.back()->error();
    }
    // Every node lists every other with its ring (members converge before the ring views).
    ASSERT_TRUE(WaitUntil(
        [&] {
          auto first = FirstOwners(c(0));
          for (size_t i = 1; i < cluster_->size(); i++) {
            if (FirstOwners(c(i)) != first) return false;
          }
          return !first.empty();
        },
        10s, 50ms));
  }
  // A fourth node joining through node 0, with the same settings.
  ServerProcess& AddNode(const std::string& name) {
    ServerConfig c = Common(moved_all_);
    int cport = PickFreePort();
    c.SetStr("listen", "cluster", "127.0.0.1:" + std::to_string(cport))
        .Set("cluster", "seeds", "[" + ServerConfig::Quote(cluster_->cluster_addr(0)) + "]")
        .SetInt("replication", "n", 3)
        .SetInt("replication", "r", 2)
        .SetInt("replication", "w", 2);
    extra_.push_back(std::make_unique<ServerProcess>(c, name));
    return *extra_.back();
  }
  ServerProcess& node(size_t i) { return cluster_->node(i); }
  Conn& c(size_t i) { return *conns_.at(i); }
  // Waits (10 s) until every node of the cluster lists `id` as the first owner of some slot.
  bool WaitFirstOwnerEverywhere(const std::string& id) {
    return WaitUntil(
        [&] {
          for (size_t i = 0; i < cluster_->size(); i++) {
            auto f = FirstOwners(c(i));
            if (std::count(f.begin(), f.end(), id) == 0) return false;
          }
          return true;
        },
        10s, 50ms);
  }
  std::vector<int> Ports() {
    std::vector<int> p;
    for (size_t i = 0; i < cluster_->size(); i++) p.push_back(node(i).port());
    return p;
  }
  void TearDown() override {
    if (!HasFailure()) return;
    auto tail = [](ServerProcess& p) {
      std::string log = p.Stderr();
      if (log.size() > 2000) log = "..." + log.substr(log.size() - 2000);
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
  bool moved_all_ = false;
  void RunRedisPyAcrossAJoin(bool moved_all);
};

TEST_F(ClusterApi, SlotMapIsTheRingOnEveryNode) {
  StartCluster(3);
  std::map<int, std::string> id_of_port, name_of_port;  // redis port -> 40-hex id, dynakv id
  for (size_t i = 0; i < 3; i++) {
    Reply myid = c(i)("CLUSTER", "MYID");
    ASSERT_TRUE(myid && myid->type == REDIS_REPLY_STRING) << Describe(myid);
    EXPECT_EQ(Str(myid), server::RedisNodeId(node(i).name()));
    id_of_port[node(i).port()] = Str(myid);
    name_of_port[node(i).port()] = node(i).name();
  }
  auto first = FirstOwners(c(0));
  ASSERT_FALSE(first.empty());
  std::string slots0;
  for (size_t i = 0; i < 3; i++) {
    Reply r = c(i)("CLUSTER", "SLOTS");
    std::vector<SlotRow> rows;
    std::string why;
    ASSERT_TRUE(ParseSlots(r, &rows, &why)) << why;
    if (i == 0) slots0 = Describe(r);
    EXPECT_EQ(Describe(r), slots0) << "every node shows the same map";
    long long next = 0;
    for (auto& row : rows) {
      EXPECT_EQ(row.first, next) << "rows cover the slots in order";
      next = row.last + 1;
      ASSERT_EQ(row.nodes.size(), 3u) << "N = 3: a master and two replicas";
      std::set<int> distinct;
      for (auto& [port, id] : row.nodes) {
        ASSERT_TRUE(id_of_port.count(port)) << "port " << port << " is a node's client port";
        EXPECT_EQ(id, id_of_port[port]);
        distinct.insert(port);
      }
      EXPECT_EQ(distinct.size(), 3u);
      // The master is the partition's first owner (the coordinator of DYNAMO RING).
      EXPECT_EQ(name_of_port[row.nodes[0].first], first[size_t(row.first)]);
      EXPECT_EQ(name_of_port[row.nodes[0].first], first[size_t(row.last)]);
    }
    EXPECT_EQ(next, 16384);

    // CLUSTER NODES: three masters, myself once, and together the slots are all there.
    Reply nodes = c(i)("CLUSTER", "NODES");
    ASSERT_TRUE(nodes && nodes->type == REDIS_REPLY_STRING) << Describe(nodes);
    std::string text = Str(nodes);
    size_t lines = 0, myself = 0;
    long long slots = 0;
    size_t pos = 0;
    while (pos < text.size()) {
      size_t nl = text.find('\n', pos);
      ASSERT_NE(nl, std::string::npos) << text;
      std::string line = text.substr(pos, nl - pos);
      pos = nl + 1;
      lines++;
      std::vector<std::string> f;
      for (size_t a = 0, b; a <= line.size(); a = b + 1) {
        b = line.find(' ', a);
        if (b == std::string::npos) b = line.size();
        f.push_back(line.substr(a, b - a));
      }
      ASSERT_GE(f.size(), 8u) << line;
      EXPECT_EQ(f[0].size(), 40u) << line;
      int port = std::stoi(f[1].substr(f[1].find(':') + 1));
      EXPECT_EQ(f[0], id_of_port[port]) << line;
      EXPECT_NE(f[1].find('@'), std::string::npos) << line;
      if (f[2] == "myself,master") {
        myself++;
        EXPECT_EQ(port, node(i).port()) << line;
      } else {
        EXPECT_EQ(f[2], "master") << line;
      }
      EXPECT_EQ(f[3], "-");
      EXPECT_EQ(f[7], "connected");
      for (size_t k = 8; k < f.size(); k++) {
        auto dash = f[k].find('-');
        long long a = std::stoll(f[k].substr(0, dash));
        long long b = dash == std::string::npos ? a : std::stoll(f[k].substr(dash + 1));
        slots += b - a + 1;
        EXPECT_EQ(first[size_t(a)], name_of_port[port]) << line;
      }
    }
    EXPECT_EQ(lines, 3u) << text;
    EXPECT_EQ(myself, 1u) << text;
    EXPECT_EQ(slots, 16384) << text;

    Reply info = c(i)("CLUSTER", "INFO");
    std::string it = Str(info);
    for (const char* want : {"cluster_state:ok\r\n", "cluster_slots_assigned:16384\r\n",
                             "cluster_slots_ok:16384\r\n", "cluster_known_nodes:3\r\n",
                             "cluster_size:3\r\n"}) {
      EXPECT_NE(it.find(want), std::string::npos) << want << " in " << it;
    }
    EXPECT_NE(Str(c(i)("INFO", "cluster")).find("cluster_enabled:1\r\n"), std::string::npos);
  }

  // CLUSTER SHARDS (RESP3): every slot once, a master and two replicas per shard.
  RawConn raw(node(1).port());
  ASSERT_TRUE(raw.SendCmd({"HELLO", "3"}));
  ASSERT_EQ(raw.Read().type, '%');
  ASSERT_TRUE(raw.SendCmd({"CLUSTER", "SHARDS"}));
  RValue shards = raw.Read();
  ASSERT_EQ(shards.type, '*') << shards.Describe();
  long long covered = 0;
  for (auto& sh : shards.elems) {
    ASSERT_EQ(sh.type, '%') << sh.Describe();
    const RValue* sl = sh.Get("slots");
    const RValue* ns = sh.Get("nodes");
    ASSERT_TRUE(sl && ns) << sh.Describe();
    for (size_t k = 0; k + 1 < sl->elems.size(); k += 2) covered += sl->elems[k + 1].num - sl->elems[k].num + 1;
    ASSERT_EQ(ns->elems.size(), 3u);
    EXPECT_EQ(ns->elems[0].Get("role")->str, "master");
    EXPECT_EQ(ns->elems[1].Get("role")->str, "replica");
    EXPECT_EQ(ns->elems[0].Get("health")->str, "online");
    EXPECT_EQ(id_of_port[int(ns->elems[0].Get("port")->num)], ns->elems[0].Get("id")->str);
  }
  EXPECT_EQ(covered, 16384);

  for (const char* cmd : {"READONLY", "READWRITE", "ASKING"}) EXPECT_TRUE(IsStatus(c(0)(cmd), "OK")) << cmd;
  EXPECT_TRUE(IsError(c(0)("CLUSTER", "COUNTKEYSINSLOT", "16384"), "ERR Invalid slot"));
  EXPECT_TRUE(IsError(c(0)("CLUSTER", "COUNTKEYSINSLOT", "x"), "ERR value is not an integer or out of range"));
  EXPECT_TRUE(IsError(c(0)("CLUSTER", "GETKEYSINSLOT", "0", "-1"), "ERR Invalid slot or number of keys"));
  EXPECT_TRUE(IsError(c(0)("CLUSTER", "FOO"), "ERR unknown subcommand 'FOO'. Try CLUSTER HELP."));
  EXPECT_TRUE(IsError(c(0)("CLUSTER", "MYID", "x"), "ERR wrong number of arguments for 'cluster|myid' command"));
  EXPECT_TRUE(IsErrorPrefix(c(0)("CLUSTER", "ADDSLOTS", "1"), "ERR CLUSTER addslots is not supported"));
}

// A member that goes down is shown as Redis shows a failed node: "fail" in CLUSTER NODES,
// left out of CLUSTER SLOTS as a replica (kept as a master), counted in cluster_slots_fail;
// the cached map of the earlier view is not served again.
TEST_F(ClusterApi, DownNodeIsShownFailed) {
  StartCluster(3);
  std::string slots_before = Describe(c(0)("CLUSTER", "SLOTS"));
  std::string id3 = server::RedisNodeId("n3");
  node(2).Kill();
  ASSERT_TRUE(WaitUntil([&] { return Str(c(0)("CLUSTER", "NODES")).find(id3 + " ") != std::string::npos &&
                                     Str(c(0)("CLUSTER", "NODES")).find("master,fail - ") != std::string::npos; },
                        10s, 100ms))
      << Str(c(0)("CLUSTER", "NODES"));
  std::string nodes = Str(c(0)("CLUSTER", "NODES"));
  auto line = nodes.substr(nodes.find(id3));
  line = line.substr(0, line.find('\n'));
  EXPECT_NE(line.find(" master,fail - 0 0 3 disconnected"), std::string::npos) << line;
  Reply r = c(0)("CLUSTER", "SLOTS");
  EXPECT_NE(Describe(r), slots_before);
  std::vector<SlotRow> rows;
  std::string why;
  ASSERT_TRUE(ParseSlots(r, &rows, &why)) << why;
  int port3 = node(2).port();
  long long fail = 0;
  for (auto& row : rows) {
    bool master3 = row.nodes[0].first == port3;
    EXPECT_EQ(row.nodes.size(), master3 ? 3u : 2u);
    for (size_t j = 1; j < row.nodes.size(); j++) EXPECT_NE(row.nodes[j].first, port3);
    if (master3) fail += row.last - row.first + 1;
  }
  EXPECT_GT(fail, 0);
  EXPECT_NE(Str(c(0)("CLUSTER", "INFO")).find("cluster_slots_fail:" + std::to_string(fail) + "\r\n"),
            std::string::npos);
}

TEST_F(ClusterApi, KeysInSlotAreThisReplicasLiveKeys) {
  StartCluster(3);
  std::set<std::string> want;
  for (int i = 0; i < 20; i++) {
    std::string k = "{slotted}k" + std::to_string(i);
    ASSERT_TRUE(IsStatus(c(i % 3)("SET", k, "v"), "OK"));
    want.insert(k);
  }
  ASSERT_TRUE(IsInt(c(0)("DEL", "{slotted}k7"), 1));
  want.erase("{slotted}k7");
  long long slot = cluster::KeyPartition("{slotted}k0");
  std::string s = std::to_string(slot);
  // N = 3 of 3 nodes: every node holds a replica of the slot (W = 2, so wait for the third).
  for (size_t i = 0; i < 3; i++) {
    EXPECT_TRUE(WaitUntil([&] { return IsInt(c(i)("CLUSTER", "COUNTKEYSINSLOT", s), 19); }, 5s))
        << Describe(c(i)("CLUSTER", "COUNTKEYSINSLOT", s));
    Reply all = c(i)("CLUSTER", "GETKEYSINSLOT", s, "100");
    std::vector<std::string> got;
    ASSERT_TRUE(all && all->type == REDIS_REPLY_ARRAY) << Describe(all);
    for (size_t j = 0; j < all->elements; j++) got.push_back(Str(all->element[j]));
    EXPECT_EQ(std::set<std::string>(got.begin(), got.end()), want);
    EXPECT_TRUE(std::is_sorted(got.begin(), got.end()));
    Reply five = c(i)("CLUSTER", "GETKEYSINSLOT", s, "5");
    ASSERT_TRUE(IsArray(five, 5));
    EXPECT_EQ(Str(five->element[0]), got[0]);
  }
  std::string other = std::to_string((slot + 1) % 16384);
  EXPECT_TRUE(IsInt(c(0)("CLUSTER", "COUNTKEYSINSLOT", other), 0));
  EXPECT_TRUE(IsArray(c(0)("CLUSTER", "GETKEYSINSLOT", other, "10"), 0));
}

// The MOVED rule: a connection that fetched the map before n4 joined gets exactly one MOVED,
// for a slot whose first owner changed (to n4's client address); then it is served again.
// Connections that never fetched a map never see MOVED. redis-cli -c follows the MOVED.
TEST_F(ClusterApi, OneMovedAfterAJoinThenServed) {
  StartCluster(3);
  auto before = FirstOwners(c(0));
  ASSERT_FALSE(before.empty());
  auto fetched = node(0).Connect(5000);
  Reply slots = (*fetched)("CLUSTER", "SLOTS");
  ASSERT_TRUE(slots && slots->type == REDIS_REPLY_ARRAY);
  auto plain = node(0).Connect(5000);  // never fetches a map
  Piped cli({"redis-cli", "-c", "-p", std::to_string(node(0).port())});
  ASSERT_TRUE(cli.ok());
  cli.Line("CLUSTER SLOTS");  // redis-cli fetches the map on its connection too
  ASSERT_TRUE(cli.ReadUntil("16383", 5s)) << cli.output();

  ServerProcess& n4 = AddNode("n4");
  ASSERT_TRUE(n4.Start()) << n4.last_error();
  std::vector<std::string> after;
  ASSERT_TRUE(WaitUntil(
      [&] {
        after = FirstOwners(c(0));
        return std::count(after.begin(), after.end(), "n4") > 0;
      },
      10s, 50ms));
  // Slots n1 coordinated before and n4 now; and slots n1 keeps.
  std::string moved = KeyWhere("mv:", [&](uint32_t p) { return before[p] == "n1" && after[p] == "n4"; });
  std::string moved2 = KeyWhere("mv2:", [&](uint32_t p) { return before[p] == "n1" && after[p] == "n4"; });
  std::string moved3 = KeyWhere("mv3:", [&](uint32_t p) { return before[p] == "n1" && after[p] == "n4"; });
  std::string kept = KeyWhere("kp:", [&](uint32_t p) { return before[p] == "n1" && after[p] == "n1"; });
  std::string other = KeyWhere("ot:", [&](uint32_t p) { return before[p] != "n1" && after[p] == before[p]; });
  ASSERT_FALSE(moved.empty() || moved2.empty() || moved3.empty() || kept.empty() || other.empty());
  std::string n4addr = "127.0.0.1:" + std::to_string(n4.port());
  std::string slot = std::to_string(cluster::KeyPartition(moved));

  EXPECT_TRUE(IsStatus((*fetched)("SET", kept, "k"), "OK")) << "its slot did not move";
  EXPECT_TRUE(IsStatus((*fetched)("SET", other, "o"), "OK")) << "nor did this one";
  EXPECT_TRUE(IsError((*fetched)("SET", moved, "m"), "MOVED " + slot + " " + n4addr));
  EXPECT_TRUE(IsStatus((*fetched)("SET", moved, "m"), "OK")) << "once: then served here";
  EXPECT_TRUE(IsStatus((*fetched)("SET", moved2, "m2"), "OK")) << "the connection counts as refreshed";
  EXPECT_TRUE(IsStatus((*plain)("SET", moved, "p"), "OK")) << "no map fetched, no MOVED";
  auto c4 = n4.Connect(5000);
  EXPECT_TRUE(IsBulk((*c4)("GET", moved), "p"));
  EXPECT_TRUE(IsBulk((*c4)("GET", kept), "k"));

  // A new fetch, then no MOVED while the ring stays as it is.
  ASSERT_TRUE((*fetched)("CLUSTER", "NODES"));
  EXPECT_TRUE(IsBulk((*fetched)("GET", moved2), "m2"));

  // redis-cli -c follows the MOVED to n4 and is served there.
  cli.Line("SET " + moved3 + " c");
  ASSERT_TRUE(cli.ReadUntil("OK", 5s)) << cli.output();
  std::string slot3 = std::to_string(cluster::KeyPartition(moved3));
  EXPECT_NE(cli.output().find("-> Redirected to slot [" + slot3 + "] located at " + n4addr), std::string::npos)
      << cli.output();
  EXPECT_TRUE(IsBulk((*c4)("GET", moved3), "c"));
}

// redis-py's RedisCluster built its map before n4 joined. It fetches CLUSTER SLOTS on a
// connection it does not keep, so under the default rule it is never sent MOVED and keeps
// its map (every request is still served); with cluster.redis_cluster_moved = "all" its
// connection to n1 gets one MOVED for a slot that moved to n4, and redis-py routes that slot
// to n4 from then on. Every SET and GET succeeds either way.
TEST_F(ClusterApi, RedisPyAcrossAJoin) {
  for (bool moved_all : {false, true}) {
    SCOPED_TRACE(moved_all ? "redis_cluster_moved = all" : "redis_cluster_moved = fetched");
    RunRedisPyAcrossAJoin(moved_all);
    if (HasFatalFailure()) return;
    extra_.clear();
    conns_.clear();
    cluster_.reset();
  }
}

void ClusterApi::RunRedisPyAcrossAJoin(bool moved_all) {
  StartCluster(3, moved_all);
  auto before = FirstOwners(c(0));
  auto plain = node(0).Connect(5000);  // opened before the join, never fetches a map
  ASSERT_TRUE(IsStatus((*plain)("SET", "plain:warm", "x"), "OK"));
  ServerProcess& n4 = AddNode("n4");
  std::vector<std::string> args = {"/usr/bin/python3", std::string(DYNAKV_ITEST_SRC_DIR) + "/cluster_clients_join.py",
                                   std::to_string(n4.port())};
  for (int p : Ports()) args.push_back(std::to_string(p));
  Piped py(args);
  ASSERT_TRUE(py.ReadUntil("READY", 30s)) << py.output();
  ASSERT_TRUE(n4.Start()) << n4.last_error();
  ASSERT_TRUE(WaitFirstOwnerEverywhere("n4"));
  py.Line("go");
  int code = -1;
  ASSERT_TRUE(py.Finish(60s, &code)) << py.output();
  EXPECT_EQ(code, 0) << py.output();
  auto at = py.output().find("ROUTED ");
  ASSERT_NE(at, std::string::npos) << py.output();
  int routed = std::stoi(py.output().substr(at + 7));
  std::printf("[clusterapi] redis-py across a join (moved_all=%d): %d keys routed to n4\n", moved_all, routed);
  if (moved_all) {
    EXPECT_GT(routed, 0) << "redis-py followed a MOVED to n4\n" << py.output();
  } else {
    EXPECT_EQ(routed, 0) << "no MOVED without a fetch on the connection\n" << py.output();
  }
  // A plain connection from before the join: one MOVED under "all", none under "fetched".
  auto after = FirstOwners(c(0));
  std::string moved = KeyWhere("pm:", [&](uint32_t p) { return before[p] == "n1" && after[p] == "n4"; });
  ASSERT_FALSE(moved.empty());
  if (moved_all) {
    EXPECT_TRUE(IsErrorPrefix((*plain)("SET", moved, "x"), "MOVED "));
  }
  EXPECT_TRUE(IsStatus((*plain)("SET", moved, "x"), "OK"));
}

// ioredis's Cluster built its map before n4 joined. It fetches CLUSTER SLOTS on a duplicate
// connection, so it needs cluster.redis_cluster_moved = "all": its connection to n1 then
// gets one MOVED for a key of a slot that moved from n1 to n4, ioredis follows it and
// refreshes its whole map, and every command succeeds.
TEST_F(ClusterApi, IoredisFollowsMovedAcrossAJoin) {
  StartCluster(3, /*moved_all=*/true);
  std::string src = DYNAKV_ITEST_SRC_DIR, cache = DYNAKV_NODE_CLIENT_DIR;
  ASSERT_TRUE(Runs({"bash", src + "/npm_install.sh", cache, "redis@4", "ioredis@5"}, 280s));
  ServerProcess& n4 = AddNode("n4");
  std::vector<std::string> args = {"env", "NODE_PATH=" + cache + "/node_modules", "node",
                                   src + "/cluster_clients_join.js", std::to_string(n4.port())};
  for (int p : Ports()) args.push_back(std::to_string(p));
  Piped js(args);
  ASSERT_TRUE(js.ReadUntil("READY", 30s)) << js.output();
  ASSERT_TRUE(n4.Start()) << n4.last_error();
  ASSERT_TRUE(WaitFirstOwnerEverywhere("n4"));
  js.Line("go");
  int code = -1;
  ASSERT_TRUE(js.Finish(60s, &code)) << js.output();
  EXPECT_EQ(code, 0) << js.output();
  std::printf("[clusterapi] ioredis across a join: %s\n", js.output().c_str());
  auto at = js.output().find("ROUTED ");
  ASSERT_NE(at, std::string::npos) << js.output();
  EXPECT_GT(std::stoi(js.output().substr(at + 7)), 0) << "ioredis moved keys to n4 after MOVED\n" << js.output();
}

// Runs a command line (bounded); its output goes to the test log.
::testing::AssertionResult Runs(const std::vector<std::string>& args, std::chrono::milliseconds limit,
                                std::string* out) {
  Piped p(args);
  int code = -1;
  bool finished = p.ok() && p.Finish(limit, &code);
  std::string all = p.output();
  std::printf("[clusterapi] %s: %s\n", args[0].c_str(), all.substr(0, 3000).c_str());
  if (out) *out = all;
  if (!finished) return ::testing::AssertionFailure() << args[0] << " did not finish in time: " << all;
  if (code != 0) return ::testing::AssertionFailure() << args[0] << " exited " << code << ": " << all;
  return ::testing::AssertionSuccess();
}

// Real cluster clients against a 3-node cluster: redis-py RedisCluster, ioredis Cluster,
// node-redis createCluster (npm-installed into the build dir), redis-benchmark --cluster.
TEST_F(ClusterApi, RealClusterClients) {
  StartCluster(3);
  std::vector<std::string> ports;
  for (int p : Ports()) ports.push_back(std::to_string(p));
  std::string src = DYNAKV_ITEST_SRC_DIR, cache = DYNAKV_NODE_CLIENT_DIR;

  std::vector<std::string> py = {"/usr/bin/python3", src + "/cluster_clients.py"};
  py.insert(py.end(), ports.begin(), ports.end());
  EXPECT_TRUE(Runs(py, 60s));

  ASSERT_TRUE(Runs({"bash", src + "/npm_install.sh", cache, "redis@4", "ioredis@5"}, 280s));
  std::vector<std::string> js = {"env", "NODE_PATH=" + cache + "/node_modules", "node", src + "/cluster_clients.js"};
  js.insert(js.end(), ports.begin(), ports.end());
  EXPECT_TRUE(Runs(js, 60s));

  auto Commands = [](Conn& conn) {
    std::string t = Str(conn("INFO", "stats"));
    auto at = t.find("total_commands_processed:");
    return at == std::string::npos ? -1 : std::stoll(t.substr(at + 25));
  };
  std::vector<long long> before;
  for (size_t i = 0; i < 3; i++) before.push_back(Commands(c(i)));
  std::string out;
  EXPECT_TRUE(Runs({"redis-benchmark", "--cluster", "-h", "127.0.0.1", "-p", ports[1], "-t", "set,get", "-n",
                    "20000", "-q"},
                   120s, &out));
  EXPECT_NE(out.find("Cluster has 3 master nodes"), std::string::npos) << out;
  EXPECT_NE(out.find("SET: "), std::string::npos) << out;
  EXPECT_NE(out.find("GET: "), std::string::npos) << out;
  EXPECT_EQ(out.find("rror"), std::string::npos) << out;
  // The benchmark sent each node the keys of the slots it is master of (~1/3 of 40000).
  for (size_t i = 0; i < 3; i++) {
    long long done = Commands(c(i)) - before[i];
    EXPECT_GT(done, 5000) << "node " << i << " got " << done << " commands";
  }
}

// A standalone node with the option on is a one-node Redis Cluster that serves every slot.
TEST(ClusterApiStandalone, OneNodeServesEverySlot) {
  ServerConfig cfg;
  cfg.Set("cluster", "redis_cluster_api", "true");
  ServerProcess s(cfg, "solo");
  ASSERT_TRUE(s.Start()) << s.last_error();
  auto c = s.Connect(5000);
  std::string id = server::RedisNodeId("solo"), port = std::to_string(s.port());
  Reply slots = (*c)("CLUSTER", "SLOTS");
  EXPECT_EQ(Describe(slots), Describe((*c)("CLUSTER", "SLOTS")));
  std::vector<SlotRow> rows;
  std::string why;
  ASSERT_TRUE(ParseSlots(slots, &rows, &why)) << why;
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].first, 0);
  EXPECT_EQ(rows[0].last, 16383);
  ASSERT_EQ(rows[0].nodes.size(), 1u);
  EXPECT_EQ(rows[0].nodes[0], std::make_pair(s.port(), id));
  EXPECT_TRUE(IsBulk((*c)("CLUSTER", "NODES"),
                     id + " 127.0.0.1:" + port + "@0 myself,master - 0 0 1 connected 0-16383\n"));
  EXPECT_TRUE(IsStatus((*c)("SET", "a", "1"), "OK"));
  EXPECT_TRUE(IsInt((*c)("CLUSTER", "COUNTKEYSINSLOT", std::to_string(cluster::KeyPartition("a"))), 1));
  std::string out;
  EXPECT_TRUE(Runs({"redis-cli", "-c", "-p", port, "GET", "a"}, 10s, &out));
  EXPECT_EQ(out, "1\n");
}

// Clients are given listen.advertise_redis; a wildcard listen address without it is refused
// at start-up (the option on), naming the key.
TEST(ClusterApiStandalone, AdvertisedAddressAndWildcardListen) {
  int p = PickFreePort();
  ServerConfig cfg;
  cfg.Set("cluster", "redis_cluster_api", "true").SetStr("listen", "advertise_redis", "localhost:" + std::to_string(p));
  ServerProcess s(cfg, "adv");
  ASSERT_TRUE(s.Start()) << s.last_error();
  auto c = s.Connect(5000);
  Reply nodes = (*c)("CLUSTER", "NODES");
  EXPECT_EQ(Str(nodes).find(server::RedisNodeId("adv") + " localhost:" + std::to_string(p) + "@0 myself,master"), 0u)
      << Describe(nodes);
  Reply members = (*c)("DYNAMO", "MEMBERS");
  EXPECT_NE(Describe(members).find("localhost:" + std::to_string(p)), std::string::npos) << Describe(members);

  TempDir dir;
  RunResult r = RunBinary({"--listen.redis", "0.0.0.0:" + std::to_string(PickFreePort()), "--cluster.redis_cluster_api",
                           "true", "--node.data_dir", dir.path() + "/data"},
                          10s);
  ASSERT_TRUE(r.exit.exited);
  EXPECT_NE(r.exit.code, 0);
  EXPECT_NE(r.err.find("listen.advertise_redis"), std::string::npos) << r.err;
}

// The shape of a RESP value: types, map keys and string lengths of ids, not the values.
std::string Shape(const RValue& v) {
  std::string s(1, v.type);
  if (v.type == '$' && v.str.size() == 40) s += "id";
  if (v.type == '*' || v.type == '%') {
    s += "[";
    for (size_t i = 0; i < v.elems.size(); i++) {
      if (v.type == '%' && i % 2 == 0) s += v.elems[i].str + "=";
      else s += Shape(v.elems[i]) + ",";
    }
    s += "]";
  }
  return s;
}

RValue Ask(int port, const std::vector<std::string>& cmd, int proto = 2) {
  RawConn c(port);
  if (proto == 3) {
    c.SendCmd({"HELLO", "3"});
    c.Read();
  }
  c.SendCmd(cmd);
  return c.Read();
}

// The replies' shapes and the error texts against a real Redis 7 cluster (three
// redis-server --cluster-enabled yes, no replicas): a Redis Cluster client must not be able
// to tell the difference in what it parses.
TEST(ClusterApiVsRedis, RepliesHaveRedisClusterShapesAndErrors) {
  TempDir dir;
  std::vector<std::unique_ptr<Piped>> redis;
  std::vector<int> rports;
  for (int i = 0; i < 3; i++) {
    int port = PickFreePort(), bus = PickFreePort();
    std::string d = dir.path() + "/r" + std::to_string(i);
    mkdir(d.c_str(), 0755);
    redis.push_back(std::make_unique<Piped>(std::vector<std::string>{
        "redis-server", "--port", std::to_string(port), "--bind", "127.0.0.1", "--cluster-enabled", "yes",
        "--cluster-port", std::to_string(bus), "--cluster-config-file", d + "/nodes.conf", "--dir", d, "--save", "",
        "--appendonly", "no", "--logfile", d + "/log"}));
    rports.push_back(port);
  }
  for (int p : rports) {
    ASSERT_TRUE(WaitUntil([&] { return Ask(p, {"PING"}).str == "PONG"; }, 10s)) << "redis-server on " << p;
  }
  std::vector<std::string> create = {"redis-cli", "--cluster", "create"};
  for (int p : rports) create.push_back("127.0.0.1:" + std::to_string(p));
  create.push_back("--cluster-yes");
  ASSERT_TRUE(Runs(create, 60s));
  ASSERT_TRUE(WaitUntil(
      [&] {
        for (int p : rports) {
          if (Ask(p, {"CLUSTER", "INFO"}).str.find("cluster_state:ok") == std::string::npos) return false;
        }
        return true;
      },
      20s, 100ms));

  ClusterOptions o;
  o.n = 1;  // one owner per slot: a master and no replicas, as the Redis cluster above
  o.r = 1;
  o.w = 1;
  o.extra = Common();
  Cluster dk(std::move(o));
  ASSERT_TRUE(dk.Start(20s)) << dk.last_error();
  int dport = dk.node(0).port();

  for (int proto : {2, 3}) {
    RValue want = Ask(rports[0], {"CLUSTER", "SLOTS"}, proto), got = Ask(dport, {"CLUSTER", "SLOTS"}, proto);
    ASSERT_FALSE(want.elems.empty() || got.elems.empty());
    EXPECT_EQ(Shape(got.elems[0]), Shape(want.elems[0])) << "CLUSTER SLOTS row, RESP" << proto;
    want = Ask(rports[0], {"CLUSTER", "SHARDS"}, proto);
    got = Ask(dport, {"CLUSTER", "SHARDS"}, proto);
    ASSERT_FALSE(want.elems.empty() || got.elems.empty());
    // The slot list's length differs (Redis: one range per shard here); the rest must not.
    auto strip = [](RValue shard) {
      for (size_t i = 0; i + 1 < shard.elems.size(); i += 2) {
        if (shard.elems[i].str == "slots") shard.elems[i + 1].elems.resize(2);
        if (shard.elems[i].str == "nodes") shard.elems[i + 1].elems.resize(1);
      }
      return Shape(shard);
    };
    EXPECT_EQ(strip(got.elems[0]), strip(want.elems[0])) << "CLUSTER SHARDS, RESP" << proto;
    for (const char* sub : {"NODES", "INFO"}) {
      EXPECT_EQ(Ask(dport, {"CLUSTER", sub}, proto).type, Ask(rports[0], {"CLUSTER", sub}, proto).type) << sub;
    }
    EXPECT_EQ(Shape(Ask(dport, {"CLUSTER", "MYID"}, proto)), Shape(Ask(rports[0], {"CLUSTER", "MYID"}, proto)));
  }
  // CLUSTER NODES: the same fields per line, and the same flags for myself.
  auto fields = [](const std::string& text, bool myself) {
    std::vector<std::string> f;
    size_t pos = 0;
    while (pos < text.size()) {
      size_t nl = text.find('\n', pos);
      std::string line = text.substr(pos, nl - pos);
      pos = nl == std::string::npos ? text.size() : nl + 1;
      if ((line.find("myself") != std::string::npos) != myself) continue;
      for (size_t a = 0, b; a <= line.size(); a = b + 1) {
        b = line.find(' ', a);
        if (b == std::string::npos) b = line.size();
        f.push_back(line.substr(a, b - a));
      }
      break;
    }
    return f;
  };
  std::string rn = Ask(rports[0], {"CLUSTER", "NODES"}).str, dn = Ask(dport, {"CLUSTER", "NODES"}).str;
  for (bool myself : {true, false}) {
    auto r = fields(rn, myself), d = fields(dn, myself);
    ASSERT_GE(r.size(), 9u) << rn;
    ASSERT_GE(d.size(), 9u) << dn;
    EXPECT_EQ(d[0].size(), r[0].size());
    EXPECT_EQ(d[1].substr(0, 10), r[1].substr(0, 10)) << "127.0.0.1:port@cport";
    EXPECT_NE(d[1].find('@'), std::string::npos);
    EXPECT_EQ(d[2], r[2]) << "flags";
    EXPECT_EQ(d[3], r[3]) << "master field";
    EXPECT_EQ(d[7], r[7]) << "link state";
  }
  // CLUSTER INFO: every field dynakv gives, Redis gives too.
  std::string ri = Ask(rports[0], {"CLUSTER", "INFO"}).str, di = Ask(dport, {"CLUSTER", "INFO"}).str;
  for (size_t pos = 0; pos < di.size();) {
    size_t colon = di.find(':', pos), nl = di.find("\r\n", pos);
    ASSERT_NE(nl, std::string::npos) << di;
    std::string key = di.substr(pos, colon - pos + 1);
    EXPECT_TRUE(ri.rfind(key, 0) == 0 || ri.find("\n" + key) != std::string::npos) << key << " not in\n" << ri;
    pos = nl + 2;
  }
  // The same error texts.
  const std::vector<std::vector<std::string>> bad = {
      {"CLUSTER", "COUNTKEYSINSLOT", "16384"}, {"CLUSTER", "COUNTKEYSINSLOT", "-1"},
      {"CLUSTER", "COUNTKEYSINSLOT", "x"},     {"CLUSTER", "COUNTKEYSINSLOT"},
      {"CLUSTER", "GETKEYSINSLOT", "0", "-1"}, {"CLUSTER", "GETKEYSINSLOT", "16384", "1"},
      {"CLUSTER", "GETKEYSINSLOT", "0", "x"},  {"CLUSTER", "NOSUCH"},
      {"CLUSTER", "MYID", "x"},                {"CLUSTER", "KEYSLOT"},
      {"CLUSTER"},                             {"READONLY", "x"},
      {"ASKING", "x"},
  };
  for (const auto& cmd : bad) {
    RValue r = Ask(rports[0], cmd), d = Ask(dport, cmd);
    std::string what;
    for (auto& a : cmd) what += a + " ";
    EXPECT_EQ(r.type, '-') << what;
    EXPECT_EQ(d.type, '-') << what;
    EXPECT_EQ(d.str, r.str) << what;
  }
  for (const char* ok : {"READONLY", "READWRITE", "ASKING"}) {
    EXPECT_EQ(Ask(dport, {ok}).Describe(), Ask(rports[0], {ok}).Describe()) << ok;
  }
}

}  // namespace
}  // namespace dynakv::itest
