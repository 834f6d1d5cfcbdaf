// tests/integration/elastic_test.cc: ownership handoff (cluster/handoff.h) with real
// dynakv-server processes on 127.0.0.1 (N=3 R=2 W=2, 100 ms gossip): three nodes join a
// 5-node cluster while a writer runs; two nodes leave (DYNAMO LEAVE) and a dead one is removed
// (DYNAMO REMOVE) from a 6-node cluster while a writer runs; bad membership requests are
// refused and change nothing. the README, "Commands" / §3a, README "Cluster administration".
//
// What "nothing is lost" means here, checked in this order (a read may repair, so the local
// counts are taken before any read):
//   1. every node's LOCAL live record count equals the number of written keys whose
//      preference list (DYNAMO PREFLIST) names that node, and the sum over nodes is exactly
//      3 x keys: every key is on its 3 final owners and nowhere else (a joined node that
//      stayed empty, or a displaced owner that kept its copy, fails this);
//   2. every acknowledged SET reads back with its value through GET (unreadable must be 0);
//   3. for a sample, DGET key R 3 answers with exactly the written value.
// The local count is memcached `stats` curr_items (Node::LocalLiveKeyCount): INFO keyspace
// `db0:keys` is, in a cluster, this node's live records scaled by members / N (README,
// "DBSIZE ... an estimate in a cluster"), so it is printed next to it but not summed.
//
// Figures printed (never asserted: a 2-core machine under load is slow in its own way): keys
// acknowledged, unreadable, handoff records/bytes sent, handoff duration, records/s, MB/s, and
// the writer's acknowledged SETs/s in the second before the first membership change vs during
// the change.
//
// Every process is stopped by PID (harness destructors); every loop is bounded in count and
// time.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/harness.h"

namespace dynakv::itest {
namespace {

using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;

// Timing knobs shared by every node in this file (the same as cluster_test.cc's Common()).
constexpr int kGossipMs = 100;
constexpr int kSuspectMs = 500;
constexpr int kDownMs = 1500;
constexpr int kRequestTimeoutMs = 500;
constexpr int kWeight = 100;
constexpr int kN = 3;
constexpr size_t kValueBytes = 100;  // every written value is padded to this size
const char* const kIdle = "No transfers active";

std::string Str(const redisReply* r) { return r && r->str ? std::string(r->str, r->len) : std::string(); }
std::string Str(const Reply& r) { return Str(r.get()); }

long long MsSince(SteadyClock::time_point t0) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(SteadyClock::now() - t0).count();
}
long long MsBetween(SteadyClock::time_point a, SteadyClock::time_point b) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(b - a).count();
}

bool IsOkStatus(const Reply& r) { return r && r->type == REDIS_REPLY_STATUS && Str(r) == "OK"; }

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

// One row of DYNAMO MEMBERS: [id, cluster addr, client addr, status, weight].
struct Member {
  std::string id, cluster_addr, client_addr, status;
  long long weight = -1;
};

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
        *why = "member " + std::to_string(i) + " field " + std::to_string(j) + " is not a bulk string";
        return false;
      }
    }
    if (m->element[4]->type != REDIS_REPLY_INTEGER) {
      *why = "member " + std::to_string(i) + " weight is not an integer";
      return false;
    }
    Member row{Str(m->element[0]), Str(m->element[1]), Str(m->element[2]), Str(m->element[3]), m->element[4]->integer};
    if (!kStatuses.count(row.status)) {
      *why = "member " + row.id + " has unknown status '" + row.status + "'";
      return false;
    }
    out->push_back(std::move(row));
  }
  std::sort(out->begin(), out->end(), [](const Member& a, const Member& b) { return a.id < b.id; });
  return true;
}

// The members a node reports, sorted by id ({} if it does not answer).
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

// A numeric field of one INFO section (-1 if missing or no answer).
long long InfoNum(const ServerProcess& p, const std::string& section, const std::string& field) {
  auto c = p.Connect(2000);
  if (!c->ok()) return -1;
  Reply r = c->Cmd({"INFO", section});
  if (!r || (r->type != REDIS_REPLY_STRING)) return -1;
  std::string text = "\n" + Str(r);
  size_t p0 = text.find("\n" + field + ":");
  if (p0 == std::string::npos) return -1;
  return std::strtoll(text.c_str() + p0 + field.size() + 2, nullptr, 10);
}

// INFO keyspace db0:keys (absent means 0; -1 on error). In a cluster this is NOT the local
// count (see the file comment); printed for comparison only.
long long InfoDbKeys(const ServerProcess& p) {
  auto c = p.Connect(2000);
  if (!c->ok()) return -1;
  Reply r = c->Cmd({"INFO", "keyspace"});
  if (!r || (r->type != REDIS_REPLY_STRING)) return -1;
  std::string text = Str(r);
  size_t at = text.find("db0:keys=");
  if (at == std::string::npos) return 0;
  return std::strtoll(text.c_str() + at + 9, nullptr, 10);
}

// memcached `stats` curr_items on 127.0.0.1:port: the node's exact local live record count
// (LocalLiveKeyCount, O(1), no peer is asked, so it cannot cause a repair). -1 on error.
long long MemcacheCurrItems(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(uint16_t(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  long long result = -1;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
    const char req[] = "stats\r\n";
    if (::send(fd, req, sizeof req - 1, MSG_NOSIGNAL) == ssize_t(sizeof req - 1)) {
      std::string buf;
      auto deadline = SteadyClock::now() + 3s;
      for (int i = 0; i < 1000 && buf.find("END\r\n") == std::string::npos; i++) {
        long long left = MsBetween(SteadyClock::now(), deadline);
        if (left <= 0) break;
        pollfd pfd{fd, POLLIN, 0};
        if (::poll(&pfd, 1, int(left)) <= 0) break;
        char tmp[4096];
        ssize_t n = ::recv(fd, tmp, sizeof tmp, 0);
        if (n <= 0) break;
        buf.append(tmp, size_t(n));
      }
      size_t at = buf.find("STAT curr_items ");
      if (buf.find("END\r\n") != std::string::npos && at != std::string::npos) {
        result = std::strtoll(buf.c_str() + at + 16, nullptr, 10);
      }
    }
  }
  ::close(fd);
  return result;
}

// DYNAMO TRANSFERS: true iff exactly the status "No transfers active". *text gets the reply.
bool TransfersIdle(const ServerProcess& p, std::string* text = nullptr) {
  auto c = p.Connect(2000);
  if (!c->ok()) {
    if (text) *text = "no connection";
    return false;
  }
  Reply r = c->Cmd({"DYNAMO", "TRANSFERS"});
  if (text) {
    *text = Describe(r);
    if (text->size() > 600) *text = text->substr(0, 600) + "...";
  }
  return r && r->type == REDIS_REPLY_STATUS && Str(r) == kIdle;
}

std::string Pad(std::string v) {
  if (v.size() < kValueBytes) v.append(kValueBytes - v.size(), 'x');
  return v;
}

// ---- the background writer ----------------------------------------------------------------

// SETs k<prefix>0 .. k<prefix>(max-1) once each, in order, round-robin through `ports`, until
// stopped, out of keys or past `limit`. Records which SETs were acknowledged (+OK) and when.
// At most one write per `min_gap` (0 = as fast as the cluster answers).
class Writer {
 public:
  Writer(std::vector<int> ports, std::string prefix, int max_keys, std::chrono::milliseconds limit,
         std::chrono::microseconds min_gap)
      : ports_(std::move(ports)),
        prefix_(std::move(prefix)),
        max_(max_keys),
        limit_(limit),
        gap_(min_gap),
        values_(size_t(max_keys)),
        state_(size_t(max_keys), 0),
        ack_ms_(size_t(max_keys), -1) {}
  ~Writer() { Stop(); }

  void Start() {
    t0_ = SteadyClock::now();
    th_ = std::thread([this] { Run(); });
  }
  void Stop() {
    stop_ = true;
    if (th_.joinable()) th_.join();
  }
  SteadyClock::time_point t0() const { return t0_; }
  long long now_ms() const { return MsSince(t0_); }
  int attempted() const { return attempted_.load(); }
  int acked_so_far() const { return acked_.load(); }
  bool finished() const { return finished_.load(); }
  // After Stop():
  std::string key(int i) const { return prefix_ + std::to_string(i); }
  const std::string& value(int i) const { return values_.at(size_t(i)); }
  bool acked(int i) const { return state_.at(size_t(i)) == 1; }
  bool failed(int i) const { return state_.at(size_t(i)) == 2; }
  void MarkAcked(int i) { state_.at(size_t(i)) = 1; }
  long long ack_ms(int i) const { return ack_ms_.at(size_t(i)); }
  int errors() const { return errors_; }
  const std::string& last_error() const { return last_error_; }
  long long end_ms() const { return end_ms_; }
  // Acknowledged SETs per second over [from_ms, to_ms) of the writer's clock.
  double AckRate(long long from_ms, long long to_ms) const {
    if (to_ms <= from_ms) return 0;
    long long n = 0;
    for (long long t : ack_ms_) n += (t >= from_ms && t < to_ms) ? 1 : 0;
    return double(n) * 1000.0 / double(to_ms - from_ms);
  }

 private:
  void Run() {
    std::vector<std::unique_ptr<Conn>> conns;
    for (int p : ports_) conns.push_back(std::make_unique<Conn>(p, 3000));
    auto next = SteadyClock::now();
    for (int i = 0; i < max_ && !stop_; i++) {
      if (SteadyClock::now() - t0_ >= limit_) break;
      if (gap_.count() > 0) {
        std::this_thread::sleep_until(next);
        next = std::max(next, SteadyClock::now()) + gap_;  // late: no catch-up burst
      }
      size_t via = size_t(i) % conns.size();
      if (!conns[via]->ok()) conns[via] = std::make_unique<Conn>(ports_[via], 3000);
      values_[size_t(i)] = Pad("v" + std::to_string(i) + "-" + prefix_ + "-");
      attempted_ = i + 1;
      Reply r = conns[via]->Cmd({"SET", key(i), values_[size_t(i)]});
      if (IsOkStatus(r)) {
        state_[size_t(i)] = 1;
        ack_ms_[size_t(i)] = MsSince(t0_);
        acked_++;
      } else {
        state_[size_t(i)] = 2;
        errors_++;
        last_error_ = "via port " + std::to_string(ports_[via]) + ": " + Describe(r);
        if (!r) conns[via] = std::make_unique<Conn>(ports_[via], 3000);
      }
    }
    end_ms_ = MsSince(t0_);
    finished_ = true;
  }

  std::vector<int> ports_;
  std::string prefix_;
  int max_;
  std::chrono::milliseconds limit_;
  std::chrono::microseconds gap_;
  std::vector<std::string> values_;
  std::vector<char> state_;  // 0 not attempted, 1 acknowledged, 2 failed
  std::vector<long long> ack_ms_;
  SteadyClock::time_point t0_;
  std::thread th_;
  std::atomic<bool> stop_{false}, finished_{false};
  std::atomic<int> attempted_{0}, acked_{0};
  int errors_ = 0;
  std::string last_error_;
  long long end_ms_ = 0;
};

// ---- fixture ------------------------------------------------------------------------------

class ElasticTest : public ::testing::Test {
 protected:
  struct NodeRec {
    std::unique_ptr<ServerProcess> proc;
    std::string caddr;
    int mc_port = 0;
  };

  static ServerConfig Common() {
    ServerConfig c;
    c.SetInt("cluster", "gossip_interval_ms", kGossipMs)
        .SetInt("cluster", "suspect_after_ms", kSuspectMs)
        .SetInt("cluster", "down_after_ms", kDownMs)
        .SetInt("cluster", "request_timeout_ms", kRequestTimeoutMs)
        .SetInt("cluster", "anti_entropy_interval_ms", 0);  // only handoff moves data here
    return c;
  }

  // A node n<k> with its own cluster and memcached ports (memcached only for `stats`).
  size_t NewNode(const std::vector<std::string>& seeds, int cport = 0) {
    if (cport == 0) cport = PickFreePort();
    int mport = PickFreePort();
    std::string list = "[";
    for (auto& s : seeds) list += (list.size() > 1 ? ", " : "") + ServerConfig::Quote(s);
    list += "]";
    ServerConfig c = Common();
    c.SetStr("listen", "cluster", "127.0.0.1:" + std::to_string(cport))
        .SetStr("listen", "memcache", "127.0.0.1:" + std::to_string(mport))
        .Set("cluster", "seeds", list)
        .SetInt("node", "weight", kWeight)
        .SetInt("replication", "n", kN)
        .SetInt("replication", "r", 2)
        .SetInt("replication", "w", 2);
    NodeRec rec;
    rec.proc = std::make_unique<ServerProcess>(c, "n" + std::to_string(nodes_.size() + 1));
    rec.caddr = "127.0.0.1:" + std::to_string(cport);
    rec.mc_port = mport;
    nodes_.push_back(std::move(rec));
    return nodes_.size() - 1;
  }

  // `k` nodes seeding each other; all started, and every one sees all k "up".
  void StartCluster(size_t k) {
    std::vector<int> cports;
    for (size_t i = 0; i < k; i++) cports.push_back(PickFreePort());
    for (size_t i = 0; i < k; i++) {
      std::vector<std::string> seeds;
      for (size_t j = 0; j < k; j++) {
        if (j != i) seeds.push_back("127.0.0.1:" + std::to_string(cports[j]));
      }
      NewNode(seeds, cports[i]);
    }
    auto t0 = SteadyClock::now();
    for (size_t i = 0; i < k; i++) ASSERT_TRUE(node(i).Start()) << node(i).last_error();
    std::vector<size_t> all;
    for (size_t i = 0; i < k; i++) all.push_back(i);
    ASSERT_TRUE(WaitMembers(all, Expect(all, "up"), 20s)) << StateDump();
    std::printf("[elastic] %zu nodes up and converged in %lld ms\n", k, MsSince(t0));
  }

  ServerProcess& node(size_t i) { return *nodes_.at(i).proc; }
  std::string id(size_t i) { return node(i).name(); }
  std::vector<std::string> CAddrs(const std::vector<size_t>& idx) {
    std::vector<std::string> out;
    for (size_t i : idx) out.push_back(nodes_.at(i).caddr);
    return out;
  }
  std::vector<int> Ports(const std::vector<size_t>& idx) {
    std::vector<int> out;
    for (size_t i : idx) out.push_back(node(i).port());
    return out;
  }
  std::map<std::string, std::string> Expect(const std::vector<size_t>& idx, const std::string& status) {
    std::map<std::string, std::string> m;
    for (size_t i : idx) m[id(i)] = status;
    return m;
  }

  // Every observer lists exactly the members of `want` with those statuses.
  bool MembersAre(const std::vector<size_t>& observers, const std::map<std::string, std::string>& want) {
    for (size_t o : observers) {
      auto ms = MembersOf(node(o));
      if (ms.size() != want.size()) return false;
      for (auto& m : ms) {
        auto it = want.find(m.id);
        if (it == want.end() || it->second != m.status) return false;
      }
    }
    return true;
  }
  bool WaitMembers(const std::vector<size_t>& observers, const std::map<std::string, std::string>& want,
                   std::chrono::milliseconds limit) {
    return WaitUntil([&] { return MembersAre(observers, want); }, limit, 50ms);
  }

  // Waits (bounded) until the membership is `want` on every observer and DYNAMO TRANSFERS is
  // idle on every node of `idle_on`, and that has held continuously for `stable` (a node
  // notices a partition it holds but no longer owns within a second: a single idle reading
  // right after a ring change proves little). *first_ok = when the quiet stretch began.
  bool WaitQuiescent(const std::vector<size_t>& observers, const std::map<std::string, std::string>& want,
                     const std::vector<size_t>& idle_on, std::chrono::milliseconds limit,
                     SteadyClock::time_point* first_ok, std::chrono::milliseconds stable = 1500ms) {
    bool have = false;
    SteadyClock::time_point since;
    bool ok = WaitUntil(
        [&] {
          bool quiet = MembersAre(observers, want);
          for (size_t i : idle_on) quiet = quiet && TransfersIdle(node(i));
          auto now = SteadyClock::now();
          if (!quiet) {
            have = false;
            return false;
          }
          if (!have) {
            have = true;
            since = now;
          }
          return now - since >= stable;
        },
        limit, 100ms);
    if (ok && first_ok) *first_ok = since;
    return ok;
  }

  long long LocalCount(size_t i) { return MemcacheCurrItems(nodes_.at(i).mc_port); }
  long long SumInfo(const std::vector<size_t>& idx, const std::string& field) {
    long long s = 0;
    for (size_t i : idx) s += std::max(0LL, InfoNum(node(i), "dynamo", field));
    return s;
  }

  // For every key of `w` that exists, which node ids hold it (DYNAMO PREFLIST through `via`,
  // pipelined). Returns the expected local count per node id.
  std::map<std::string, long long> ExpectedCounts(const Writer& w, int keys, size_t via) {
    std::map<std::string, long long> want;
    auto c = node(via).Connect(10000);
    EXPECT_TRUE(c->ok()) << c->error();
    if (!c->ok()) return want;
    constexpr int kBatch = 200;
    for (int from = 0; from < keys; from += kBatch) {
      int to = std::min(keys, from + kBatch);
      for (int i = from; i < to; i++) c->Append({"DYNAMO", "PREFLIST", w.key(i)});
      for (int i = from; i < to; i++) {
        Reply r = c->Read();
        if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != size_t(kN)) {
          ADD_FAILURE() << "DYNAMO PREFLIST " << w.key(i) << " -> " << Describe(r);
          return want;
        }
        for (size_t j = 0; j < r->elements; j++) want[Str(r->element[j])]++;
      }
    }
    return want;
  }

  // Re-SETs (same value) the keys whose SET was not acknowledged, so that every key of
  // [0, keys) exists with 3 copies and the count check can be exact. Returns how many.
  int RewriteUnacked(Writer& w, int keys, const std::vector<size_t>& via) {
    int n = 0;
    std::vector<std::unique_ptr<Conn>> conns;
    for (size_t i : via) conns.push_back(node(i).Connect(5000));
    for (int i = 0; i < keys; i++) {
      if (w.acked(i)) continue;
      n++;
      bool ok = false;
      for (int attempt = 0; attempt < 5 && !ok; attempt++) {
        Conn& c = *conns[size_t(i + attempt) % conns.size()];
        ok = IsOkStatus(c.Cmd({"SET", w.key(i), w.value(i)}));
        if (!ok) std::this_thread::sleep_for(200ms);
      }
      EXPECT_TRUE(ok) << "re-SET of " << w.key(i) << " after the handoff failed 5 times";
      if (ok) w.MarkAcked(i);
    }
    return n;
  }

  // Check 1: each node's local live count equals its share (from PREFLIST), sum = 3 x keys.
  // Waits (bounded) for the counts to settle: a W=2 SET's third copy may still be landing.
  void CheckLocalCounts(const Writer& w, int keys, const std::vector<size_t>& live, const std::vector<size_t>& empty,
                        const char* tag) {
    std::map<std::string, long long> want = ExpectedCounts(w, keys, live.at(0));
    long long want_sum = 0;
    for (auto& [nid, n] : want) want_sum += n;
    EXPECT_EQ(want_sum, (long long)kN * keys) << "preference lists of N distinct nodes";
    for (auto& [nid, n] : want) {
      bool known = false;
      for (size_t i : live) known |= id(i) == nid;
      EXPECT_TRUE(known) << "PREFLIST names " << nid << ", which is not one of the final nodes";
    }
    std::map<size_t, long long> got;
    long long sum = 0;
    auto read_all = [&] {
      got.clear();
      sum = 0;
      bool match = true;
      for (size_t i : live) {
        got[i] = LocalCount(i);
        sum += got[i];
        match = match && got[i] == (want.count(id(i)) ? want[id(i)] : 0);
      }
      for (size_t i : empty) {
        got[i] = LocalCount(i);
        sum += got[i];
        match = match && got[i] == 0;
      }
      return match && sum == (long long)kN * keys;
    };
    auto t0 = SteadyClock::now();
    bool ok = WaitUntil(read_all, 15s, 200ms);
    std::printf("[elastic] %s local live records (memcached curr_items) after %lld ms, sum %lld, want 3 x %d = %lld:\n",
                tag, MsSince(t0), sum, keys, (long long)kN * keys);
    long long info_sum = 0;
    for (auto& [i, n] : got) {
      long long exp = want.count(id(i)) ? want[id(i)] : 0;
      long long info = InfoDbKeys(node(i));
      info_sum += info;
      std::printf("[elastic]   %s: local %lld (owns %lld of the keys), INFO db0:keys %lld, partitions_owned %lld\n",
                  id(i).c_str(), n, exp, info, InfoNum(node(i), "dynamo", "partitions_owned"));
    }
    std::printf("[elastic] %s sum of INFO keyspace db0:keys over the same nodes: %lld (scaled by members/N in a "
                "cluster, so not the local count)\n",
                tag, info_sum);
    EXPECT_TRUE(ok) << tag << " local record counts do not match the final owners (sum " << sum << ", want "
                    << (long long)kN * keys << "); see the per-node lines above\n"
                    << TransfersDump();
    EXPECT_EQ(sum, (long long)kN * keys) << "every key on exactly its " << kN << " owners and nowhere else";
  }

  // Check 2: every acknowledged key reads back (GET, round-robin over `via`). Returns the
  // number unreadable.
  int CountUnreadable(const Writer& w, int keys, const std::vector<size_t>& via) {
    std::vector<std::unique_ptr<Conn>> conns;
    for (size_t i : via) conns.push_back(node(i).Connect(5000));
    int bad = 0, shown = 0;
    constexpr int kBatch = 100;
    for (int from = 0; from < keys; from += kBatch) {
      int to = std::min(keys, from + kBatch);
      Conn& c = *conns[size_t(from / kBatch) % conns.size()];
      for (int i = from; i < to; i++) c.Append({"GET", w.key(i)});
      for (int i = from; i < to; i++) {
        Reply r = c.Read();
        if (!w.acked(i)) continue;
        if (!r || r->type != REDIS_REPLY_STRING || Str(r) != w.value(i)) {
          bad++;
          if (shown++ < 5) ADD_FAILURE() << "acknowledged " << w.key(i) << " reads back as " << Describe(r);
        }
      }
    }
    return bad;
  }

  // Check 3: DGET key R 3 on every `step`-th key: all three replicas answer, one value.
  int CountDgetR3Failures(const Writer& w, int keys, const std::vector<size_t>& via, int step) {
    std::vector<std::unique_ptr<Conn>> conns;
    for (size_t i : via) conns.push_back(node(i).Connect(5000));
    int bad = 0, shown = 0, n = 0;
    for (int i = 0; i < keys; i += step, n++) {
      Reply r = conns[size_t(n) % conns.size()]->Cmd({"DGET", w.key(i), "R", "3"});
      if (Siblings(r) != std::vector<std::string>{w.value(i)}) {
        bad++;
        if (shown++ < 5) ADD_FAILURE() << "DGET " << w.key(i) << " R 3 -> " << Describe(r);
      }
    }
    return bad;
  }

  std::string TransfersDump() {
    std::string s;
    for (auto& n : nodes_) {
      if (!n.proc->Running()) continue;
      std::string t;
      TransfersIdle(*n.proc, &t);
      s += "  " + n.proc->name() + " TRANSFERS: " + t + "\n";
    }
    return s;
  }

  std::string StateDump() {
    std::string s = "members as seen by each node:\n";
    for (auto& n : nodes_) {
      s += "  " + n.proc->name() + " (pid " + std::to_string(n.proc->pid()) + "): ";
      s += n.proc->Running() ? DescribeMembers(MembersOf(*n.proc)) : std::string("not running");
      s += "\n";
    }
    return s + TransfersDump();
  }

  void TearDown() override {
    if (!HasFailure()) return;
    std::printf("%s", StateDump().c_str());
    for (auto& n : nodes_) {
      std::string log = n.proc->Stderr();
      if (log.size() > 2500) log = "..." + log.substr(log.size() - 2500);
      std::printf("---- %s stderr (tail) ----\n%s\n", n.proc->name().c_str(), log.c_str());
    }
  }

  // recs0/bytes0: the totals when the last change began (what the last window moved is the
  // difference).
  void PrintHandoffFigures(const char* tag, const std::vector<size_t>& idx, long long recs0, long long bytes0,
                           long long ms_from_last, long long ms_from_first) {
    long long recs = SumInfo(idx, "handoff_records_sent");
    long long bytes = SumInfo(idx, "handoff_bytes_sent");
    long long recv = SumInfo(idx, "handoff_records_received");
    long long done = SumInfo(idx, "handoff_transfers_done");
    long long dropped = SumInfo(idx, "handoff_partitions_dropped");
    auto rate = [](long long n, long long ms) { return ms > 0 ? double(n) * 1000.0 / double(ms) : 0.0; };
    std::printf("[elastic] %s handoff: %lld records sent (%lld received), %lld bytes, %lld transfers done, "
                "%lld partitions dropped\n",
                tag, recs, recv, bytes, done, dropped);
    std::printf("[elastic] %s handoff: %lld ms from the last change until all transfers done, %lld records / %lld "
                "bytes sent in that window -> %.0f records/s, %.2f MB/s; %lld ms from the first change, all records "
                "-> %.0f records/s, %.2f MB/s (MB = 10^6 bytes; the end is seen by polling, ~150 ms resolution)\n",
                tag, ms_from_last, recs - recs0, bytes - bytes0, rate(recs - recs0, ms_from_last),
                rate(bytes - bytes0, ms_from_last) / 1e6, ms_from_first, rate(recs, ms_from_first),
                rate(bytes, ms_from_first) / 1e6);
  }

  std::vector<NodeRec> nodes_;
};

// ---- 1. joins -----------------------------------------------------------------------------

TEST_F(ElasticTest, ThreeJoinsUnderWriteLoadLoseNothing) {
  constexpr int kMaxKeys = 5000;
  StartCluster(5);
  std::vector<size_t> first5 = {0, 1, 2, 3, 4};

  // Unpaced: the acknowledged rate before vs during the joins is the foreground figure.
  Writer w(Ports(first5), "j", kMaxKeys, 30s, 0us);
  w.Start();
  // Some data first (what the joiners must receive), and a second of baseline rate.
  ASSERT_TRUE(WaitUntil([&] { return w.now_ms() >= 1200 && w.acked_so_far() >= 3000; }, 20s, 10ms))
      << "writer: " << w.acked_so_far() << " acked, last error " << (w.finished() ? w.last_error() : "-");
  long long first_join_ms = w.now_ms();
  int acked_before = w.acked_so_far();

  std::vector<size_t> all = first5;
  SteadyClock::time_point t_first = SteadyClock::now(), t_last;
  long long recs0 = 0, bytes0 = 0;
  for (int j = 0; j < 3; j++) {
    size_t k = NewNode(CAddrs(first5));
    if (j == 2) {
      recs0 = SumInfo(all, "handoff_records_sent");
      bytes0 = SumInfo(all, "handoff_bytes_sent");
    }
    auto t0 = SteadyClock::now();
    ASSERT_TRUE(node(k).Start()) << node(k).last_error();
    if (j == 2) t_last = SteadyClock::now();
    all.push_back(k);
    ASSERT_TRUE(WaitMembers(all, Expect(all, "up"), 15s)) << id(k) << " did not join\n" << StateDump();
    std::printf("[elastic] %s joined (up on all %zu nodes) %lld ms after its start; writer at %d acked\n",
                id(k).c_str(), all.size(), MsSince(t0), w.acked_so_far());
  }
  w.Stop();
  long long writer_stop_ms = w.end_ms();
  int keys = w.attempted();
  std::printf("[elastic] writer: %d SETs sent, %d acknowledged, %d failed (last: %s); %d acked before the first "
              "join, %d during/after the joins; writer ran %lld ms\n",
              keys, w.acked_so_far(), w.errors(), w.last_error().c_str(), acked_before,
              w.acked_so_far() - acked_before, writer_stop_ms);
  ASSERT_GT(keys, 1000) << "the writer wrote too little to mean anything";
  EXPECT_GT(w.acked_so_far() - acked_before, 0) << "no write was acknowledged while the nodes joined";

  SteadyClock::time_point t_done;
  ASSERT_TRUE(WaitQuiescent(all, Expect(all, "up"), all, 60s, &t_done))
      << "transfers did not finish within 60 s\n" << StateDump();
  long long from_last = MsBetween(t_last, t_done), from_first = MsBetween(t_first, t_done);

  int rewritten = RewriteUnacked(w, keys, first5);
  std::printf("[elastic] joins: %d unacknowledged SETs re-sent after the handoff (so every key exists)\n", rewritten);

  // 1. counts first (reads repair), 2. GET of every acknowledged key, 3. DGET R 3 sample.
  CheckLocalCounts(w, keys, all, {}, "joins:");
  int unreadable = CountUnreadable(w, keys, all);
  int dget_bad = CountDgetR3Failures(w, keys, all, 20);
  EXPECT_EQ(unreadable, 0);
  EXPECT_EQ(dget_bad, 0);

  // Foreground throughput: the second before the first join vs while the nodes joined and
  // their partitions moved (until the writer stopped or the transfers ended, if sooner).
  double before = w.AckRate(first_join_ms - 1000, first_join_ms);
  long long during_end = std::min(writer_stop_ms, first_join_ms + MsBetween(t_first, t_done));
  double during = w.AckRate(first_join_ms, during_end);
  std::printf("[elastic] joins: keys acknowledged %d (of %d written; %d re-sent after), unreadable %d, DGET R 3 "
              "failures %d of %d\n",
              w.acked_so_far(), keys, rewritten, unreadable, dget_bad, (keys + 19) / 20);
  PrintHandoffFigures("joins:", all, recs0, bytes0, from_last, from_first);
  std::printf("[elastic] joins: foreground acknowledged SETs/s: %.0f in the second before the first join, %.0f "
              "during the joins/transfers (%lld ms) -> ratio %.2f (writer unpaced, one SET at a time)\n",
              before, during, during_end - first_join_ms, before > 0 ? during / before : 0.0);
}

// ---- 2. leaves and a removal --------------------------------------------------------------

TEST_F(ElasticTest, TwoLeavesAndARemoveLoseNothing) {
  constexpr int kMaxKeys = 5000;
  StartCluster(6);
  std::vector<size_t> six = {0, 1, 2, 3, 4, 5};
  std::vector<size_t> survivors = {0, 1, 2};
  const size_t leave1 = 3, leave2 = 4, victim = 5;

  // Writes go through the nodes that stay (a leaving node's clients would have to move).
  // Paced (<= 1000/s) so that the M keys span both leaves and the crash.
  Writer w(Ports(survivors), "l", kMaxKeys, 40s, 1000us);
  w.Start();
  ASSERT_TRUE(WaitUntil([&] { return w.now_ms() >= 1200 && w.acked_so_far() >= 2500; }, 20s, 10ms))
      << "writer: " << w.acked_so_far() << " acked, last error " << (w.finished() ? w.last_error() : "-");
  long long first_change_ms = w.now_ms();
  int acked_before = w.acked_so_far();
  SteadyClock::time_point t_first = SteadyClock::now();

  // Two leaves, one after the other, writes continuing.
  std::vector<size_t> remaining = six;
  std::vector<long long> phase_ms = {first_change_ms};  // writer clock: leave1, leave2, kill, stop
  for (size_t leaver : {leave1, leave2}) {
    if (leaver == leave2) phase_ms.push_back(w.now_ms());
    auto c = node(leaver).Connect(5000);
    auto t0 = SteadyClock::now();
    ASSERT_TRUE(IsOkStatus((*c)("DYNAMO", "LEAVE"))) << id(leaver);
    std::erase(remaining, leaver);
    std::vector<size_t> observers = remaining;
    observers.push_back(leaver);
    ASSERT_TRUE(WaitUntil(
        [&] {
          for (size_t o : observers) {
            if (StatusIn(MembersOf(node(o)), id(leaver)) != "removed") return false;
          }
          return true;
        },
        40s, 100ms))
        << id(leaver) << " never showed removed everywhere\n" << StateDump();
    std::printf("[elastic] %s left (removed on every remaining node) %lld ms after DYNAMO LEAVE; writer at %d "
                "acked\n",
                id(leaver).c_str(), MsSince(t0), w.acked_so_far());
    EXPECT_EQ(LocalCount(leaver), 0) << id(leaver) << " finished leaving but still holds records";
  }

  // A crash, detected, then removed by the operator.
  phase_ms.push_back(w.now_ms());
  node(victim).Kill();
  auto t_kill = SteadyClock::now();
  ASSERT_TRUE(WaitUntil(
      [&] {
        for (size_t o : survivors) {
          if (StatusIn(MembersOf(node(o)), id(victim)) != "down") return false;
        }
        return true;
      },
      10s, 50ms))
      << StateDump();
  std::printf("[elastic] %s SIGKILLed; down on the survivors after %lld ms; writer at %d acked\n", id(victim).c_str(),
              MsSince(t_kill), w.acked_so_far());
  w.Stop();
  long long writer_stop_ms = w.end_ms();
  int keys = w.attempted();
  std::printf("[elastic] writer: %d SETs sent, %d acknowledged, %d failed (last: %s); %d acked before the first "
              "leave; writer ran %lld ms\n",
              keys, w.acked_so_far(), w.errors(), w.last_error().c_str(), acked_before, writer_stop_ms);
  ASSERT_GT(keys, 1000) << "the writer wrote too little to mean anything";

  std::vector<size_t> alive = {0, 1, 2, leave1, leave2};
  long long recs0 = SumInfo(alive, "handoff_records_sent"), bytes0 = SumInfo(alive, "handoff_bytes_sent");
  auto c0 = node(0).Connect(5000);
  ASSERT_TRUE(IsOkStatus((*c0)("DYNAMO", "REMOVE", id(victim)))) << StateDump();
  SteadyClock::time_point t_remove = SteadyClock::now(), t_done;
  std::map<std::string, std::string> want = Expect(survivors, "up");
  for (size_t i : {leave1, leave2, victim}) want[id(i)] = "removed";
  std::vector<size_t> idle_on = {0, 1, 2, leave1, leave2};
  ASSERT_TRUE(WaitQuiescent(survivors, want, idle_on, 60s, &t_done))
      << "the survivors did not agree on the removal and finish their transfers within 60 s\n"
      << StateDump();

  int rewritten = RewriteUnacked(w, keys, survivors);
  std::printf("[elastic] leaves: %d unacknowledged SETs re-sent after the handoff (so every key exists)\n", rewritten);

  CheckLocalCounts(w, keys, survivors, {leave1, leave2}, "leaves+remove:");
  int unreadable = CountUnreadable(w, keys, survivors);
  int dget_bad = CountDgetR3Failures(w, keys, survivors, 20);
  EXPECT_EQ(unreadable, 0);
  EXPECT_EQ(dget_bad, 0);

  phase_ms.push_back(writer_stop_ms);
  double before = w.AckRate(first_change_ms - 1000, first_change_ms);
  double during = w.AckRate(first_change_ms, phase_ms[2]);
  std::printf("[elastic] leaves+remove: keys acknowledged %d (of %d written; %d re-sent after), unreadable %d, DGET "
              "R 3 failures %d of %d (handoff counters below exclude %s, whose counters died with it)\n",
              w.acked_so_far(), keys, rewritten, unreadable, dget_bad, (keys + 19) / 20, id(victim).c_str());
  PrintHandoffFigures("leaves+remove:", alive, recs0, bytes0, MsBetween(t_remove, t_done),
                      MsBetween(t_first, t_done));
  std::printf("[elastic] leaves+remove: foreground acknowledged SETs/s: %.0f in the second before the first leave, "
              "%.0f during the two leaves (%lld ms) -> ratio %.2f; %.0f/s during %s's leave, %.0f/s between the "
              "SIGKILL and the survivors marking it down (%lld ms) (writer paced to <= 1000/s)\n",
              before, during, phase_ms[2] - first_change_ms, before > 0 ? during / before : 0.0,
              w.AckRate(phase_ms[1], phase_ms[2]), id(leave2).c_str(), w.AckRate(phase_ms[2], phase_ms[3]),
              phase_ms[3] - phase_ms[2]);
}

// ---- 3. refused requests ------------------------------------------------------------------

TEST_F(ElasticTest, BadMembershipRequestsAreRefused) {
  StartCluster(3);
  std::vector<size_t> three = {0, 1, 2};
  auto snapshot = [&](const std::vector<size_t>& idx) {
    std::string s;
    for (size_t i : idx) s += id(i) + ": " + DescribeMembers(MembersOf(node(i))) + "\n";
    return s;
  };
  // The views once they stop moving (a node that has left hears the last changes late):
  // two snapshots 5 gossip rounds apart agree (bounded).
  auto settled = [&](const std::vector<size_t>& idx) {
    std::string prev = snapshot(idx), cur;
    for (int i = 0; i < 20; i++) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5 * kGossipMs));
      cur = snapshot(idx);
      if (cur == prev) return cur;
      prev = cur;
    }
    ADD_FAILURE() << "DYNAMO MEMBERS never settled:\n" << cur;
    return cur;
  };
  // After a refused request, give gossip a few rounds to spread any change, then compare the
  // views of the nodes still in the cluster (`idx`). A node that has left is silent and its
  // failure detector goes on judging peers it no longer hears from, so only its own row is
  // checked: it must stay "removed".
  auto unchanged = [&](const std::vector<size_t>& idx, const std::string& before, const std::string& what) {
    std::this_thread::sleep_for(std::chrono::milliseconds(4 * kGossipMs));
    EXPECT_EQ(snapshot(idx), before) << "DYNAMO MEMBERS changed after the refused " << what;
    for (size_t i : three) {
      if (std::find(idx.begin(), idx.end(), i) != idx.end()) continue;
      EXPECT_EQ(StatusIn(MembersOf(node(i)), id(i)), "removed") << id(i) << "'s own row after the refused " << what;
    }
  };

  // An idle cluster: exactly the simple string.
  for (size_t i : three) {
    auto c = node(i).Connect(5000);
    EXPECT_TRUE(IsStatus((*c)("DYNAMO", "TRANSFERS"), kIdle)) << id(i);
  }
  std::string before = settled(three);
  auto c0 = node(0).Connect(5000);

  Reply r = (*c0)("DYNAMO", "REMOVE", id(0));
  EXPECT_TRUE(IsErrorPrefix(r, "ERR")) << "removing itself";
  std::printf("[elastic] DYNAMO REMOVE <own id> -> %s\n", Describe(r).c_str());
  unchanged(three, before, "DYNAMO REMOVE <own id>");

  r = (*c0)("DYNAMO", "REMOVE", "nosuchnode");
  EXPECT_TRUE(IsErrorPrefix(r, "ERR")) << "an unknown id";
  std::printf("[elastic] DYNAMO REMOVE nosuchnode -> %s\n", Describe(r).c_str());
  unchanged(three, before, "DYNAMO REMOVE nosuchnode");

  r = (*c0)("DYNAMO", "REMOVE");
  EXPECT_TRUE(IsErrorPrefix(r, "ERR")) << "no id";
  r = (*c0)("DYNAMO", "LEAVE", "now");
  EXPECT_TRUE(IsErrorPrefix(r, "ERR")) << "LEAVE takes no argument";
  unchanged(three, before, "DYNAMO REMOVE / DYNAMO LEAVE with the wrong arguments");

  // n3 leaves (accepted), then asks again once it is removed: refused, nothing changes.
  auto c2 = node(2).Connect(5000);
  EXPECT_TRUE(IsOkStatus((*c2)("DYNAMO", "LEAVE")));
  std::map<std::string, std::string> after_leave = Expect({0, 1}, "up");
  after_leave[id(2)] = "removed";
  ASSERT_TRUE(WaitMembers({0, 1}, after_leave, 20s)) << "n3 did not finish leaving\n" << StateDump();
  EXPECT_EQ(StatusIn(MembersOf(node(2)), id(2)), "removed") << StateDump();
  for (size_t i : three) EXPECT_TRUE(IsStatus(node(i).Connect(5000)->Cmd({"DYNAMO", "TRANSFERS"}), kIdle)) << id(i);
  before = settled({0, 1});
  r = (*c2)("DYNAMO", "LEAVE");
  EXPECT_TRUE(IsErrorPrefix(r, "ERR")) << "LEAVE on a node that has left";
  std::printf("[elastic] second DYNAMO LEAVE (on a removed node) -> %s\n", Describe(r).c_str());
  unchanged({0, 1}, before, "second DYNAMO LEAVE");

  // Removing a node that already left is refused too.
  r = (*c0)("DYNAMO", "REMOVE", id(2));
  EXPECT_TRUE(IsErrorPrefix(r, "ERR")) << "removing a removed node";
  std::printf("[elastic] DYNAMO REMOVE <removed node> -> %s\n", Describe(r).c_str());
  unchanged({0, 1}, before, "DYNAMO REMOVE <removed node>");

  // n2 leaves too; n1 is then the last node, and it may not leave.
  auto c1 = node(1).Connect(5000);
  EXPECT_TRUE(IsOkStatus((*c1)("DYNAMO", "LEAVE")));
  std::map<std::string, std::string> last = {{id(0), "up"}, {id(1), "removed"}, {id(2), "removed"}};
  ASSERT_TRUE(WaitMembers({0, 1}, last, 20s)) << "n2 did not finish leaving\n" << StateDump();
  before = settled({0});
  r = (*c0)("DYNAMO", "LEAVE");
  EXPECT_TRUE(IsErrorPrefix(r, "ERR")) << "the last node leaving";
  std::printf("[elastic] DYNAMO LEAVE on the last node -> %s\n", Describe(r).c_str());
  unchanged({0}, before, "DYNAMO LEAVE on the last node");
  EXPECT_TRUE(IsStatus((*c0)("DYNAMO", "TRANSFERS"), kIdle));
}

}  // namespace
}  // namespace dynakv::itest
