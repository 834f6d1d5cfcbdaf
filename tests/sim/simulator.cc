// tests/sim/simulator.cc: see simulator.h.
//
// Invariants (ids as printed after "INVARIANT VIOLATED:"):
//   lost-write     1. every acknowledged cart item is in the merged value and on every
//                     replica; an acknowledged SET/put is still there unless a write to the key
//                     was invoked after it; counter >= acknowledged increments.
//   durability     an acknowledged write is durable (committed) on >= W nodes, data or hint,
//                     at the moment the client sees the ack (the README, "Commands").
//   convergence    2. after healing + the R=N sweep, all N replicas hold the same siblings,
//                     equal to what the R=N read returned; every node has the same ring.
//                     With [anti_entropy] final_read_sweep = false there is no sweep: the
//                     replicas must converge through Merkle anti-entropy alone.
//   sibling-bound  3. siblings <= writers of the key, counted per client as 1 + every write of
//                     that client that a later acked write of the same client did not
//                     provably supersede (failed writes count: they may have been applied).
//   phantom        4. no value, item, key or counter increment exists that no client wrote.
//   resurrection   4. no value covered by an acknowledged delete comes back.
//   dot-reuse      a dot (actor, counter) of a key always names the same sibling: a restarted
//                     or wiped node never reissues old dots (Riak kv679).
//   availability   5. sloppy quorum: with only `down` nodes dead (and declared down) and >= W
//                     live nodes, every write from a live node succeeds.
//   liveness       every request completes once within request_timeout_ms (+2 ticks); healing
//                     goes quiet; the final R=N reads succeed.
//   clean          in a scenario with no fault at all (Scenario::FaultFree: smoke), every
//                     client operation succeeds: a lost or unanswered message shows as a
//                     failure there, where elsewhere it would pass as a fault's.
//   hints-drained  after healing no hinted record is left undelivered.
//   gc             ([reaper] scenarios) after healing, every wholly dead record (tombstones,
//                     expired values) is reaped from every member within settle_max_ms: no
//                     replica hands a dead record back to one that reaped it (read repair,
//                     anti-entropy), which would restart its grace period for ever.
//   handoff        ([membership] scenarios) once the cluster has settled after the chaos
//                     phase, and before anything reads (no read repair, no R=N sweep yet),
//                     every acknowledged write is held in the local record (engine, not
//                     hints) of at least one of its final owners (the final preference list):
//                     ownership handoff moved it to the nodes that own it now.
//   under-replicated  ([membership] scenarios) same moment: every acknowledged write (no
//                     wipe since it was invoked) is held locally by at least W of its final
//                     owners, and by at least as many as held it just before a membership
//                     change (capped at N): a join, leave or remove never lowers a write's
//                     replication (a leaver hands its copies over, a removed node's copies
//                     are re-replicated, a joined node receives what it now owns).
//   order          (clist workload) of two acknowledged pushes by one client through one
//                     coordinator life, an RPUSH lands after and an LPUSH before the earlier
//                     one (CheckLists).
//   callback       a reply comes exactly once, from the coordinator's own step.
//   sans-io        frames are only sent from inside a step (the owner-of-the-loop rule).
//
// Writes lost *legitimately* (a wipe destroyed every copy of a key's state) make the key
// "tainted": it then skips the checks that assume no data loss (lost-write, resurrection,
// sibling-bound) but keeps convergence, phantom and dot-reuse. A key is tainted only when,
// at the moment of the wipe, the wiped node held state for it that no other node (data or
// hint) held; the summary counts them. A node crashed for good to be removed ([membership]
// removes, replaces) is a wipe in this sense.
//
// Membership ([membership] section): hosts n1..n<initial_nodes> start at bootstrap, the rest
// are spares that start empty when they join. The final member set (hosts that joined and
// did not leave or get removed) is what healing waits for and what the checks use: final
// preference lists (Node::PreferenceList on a final member), final owners' local records,
// one ring on every final member. A node that left keeps running until its own view says
// it is removed or healing ends; then it is stopped and no longer checked as a replica (its
// clients' acknowledged writes still count).
#include "tests/sim/simulator.h"

#include <algorithm>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <tuple>

#include "cluster/collection.h"
#include "cluster/collection_engine.h"
#include "cluster/env.h"
#include "cluster/key_layout.h"
#include "cluster/list_engine.h"
#include "cluster/node.h"
#include "cluster/reaper.h"
#include "cluster/version.h"
#include "protocol/resp.h"
#include "storage/mem_engine.h"

namespace dynakv::sim {

using cluster::ActorId;
using cluster::Dot;
using cluster::Node;
using cluster::OpKind;
using cluster::Record;
using cluster::Sibling;
using cluster::ValueKind;
using cluster::VersionVector;

bool ParseSabotage(std::string_view name, Sabotage* out) {
  if (name == "none") *out = Sabotage::kNone;
  else if (name == "drop-replica-writes") *out = Sabotage::kDropReplicaWrites;
  else if (name == "phantom") *out = Sabotage::kPhantom;
  else if (name == "resurrect") *out = Sabotage::kResurrect;
  else return false;
  return true;
}

const char* SabotageName(Sabotage s) {
  switch (s) {
    case Sabotage::kNone: return "none";
    case Sabotage::kDropReplicaWrites: return "drop-replica-writes";
    case Sabotage::kPhantom: return "phantom";
    case Sabotage::kResurrect: return "resurrect";
  }
  return "?";
}

namespace {

constexpr uint64_t kEpochMs = 1'700'000'000'000ull;  // wall clock at simulated time 0
constexpr size_t kTimelineMax = 400;
constexpr size_t kViolationsMax = 40;

uint64_t Mix(uint64_t a, uint64_t b) {
  cluster::SeededRandom r(a * 0x9E3779B97F4A7C15ull ^ (b + 0x632BE59BD9B4E019ull));
  return r.Next();
}

// Storage layout of the core (cluster/key_layout.h): data and hint keys.
std::string DataKey(const std::string& key) { return cluster::DataKey(key); }
// The czset workload's keys (its counters are sorted-set scores); chash's are hashes.
bool IsZsetKey(const std::string& key) { return key.rfind("czset-", 0) == 0; }
// The chfloat workload's keys: hashes whose counter HINCRBYFLOAT increments.
bool IsFloatKey(const std::string& key) { return key.rfind("chflt-", 0) == 0; }
// The member workloads' keys: cset's are sets, czadd's sorted sets (ZADD / ZREM).
char MemberKeyType(const std::string& key) {
  if (key.rfind("chash-", 0) == 0) return static_cast<char>(cluster::CollectionType::kHash);
  return static_cast<char>(key.rfind("czadd-", 0) == 0 ? cluster::CollectionType::kZset
                                                       : cluster::CollectionType::kSet);
}

enum class Cls { kCart, kSet, kDel, kCounter, kAvail, kScore, kCollSet, kCollHash };
const char* ClsName(Cls c) {
  switch (c) {
    case Cls::kCart: return "cart";
    case Cls::kSet: return "set";
    case Cls::kDel: return "del";
    case Cls::kCounter: return "counter";
    case Cls::kAvail: return "avail";
    case Cls::kScore: return "score";
    case Cls::kCollSet: return "cset";
    case Cls::kCollHash: return "chash";
  }
  return "?";
}

std::string DotStr(const Dot& d) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%016" PRIx64 ":%" PRIu64, d.actor, d.counter);
  return buf;
}

std::set<std::string> SplitItems(const std::string& v) {
  std::set<std::string> out;
  size_t start = 0;
  while (start <= v.size()) {
    size_t comma = v.find(',', start);
    if (comma == std::string::npos) comma = v.size();
    if (comma > start) out.insert(v.substr(start, comma - start));
    start = comma + 1;
  }
  return out;
}

std::string JoinItems(const std::set<std::string>& items) {
  std::string v;
  for (const auto& i : items) {
    if (!v.empty()) v.push_back(',');
    v += i;
  }
  return v;
}

std::string CtxStr(const VersionVector& vv) {
  std::string s = "[";
  for (const auto& e : vv.entries()) {
    if (s.size() > 1) s += " ";
    s += DotStr({e.actor, e.counter}).substr(12);
  }
  return s + "]";
}

std::string SiblingsStr(const Record& rec) {
  std::string s = "{";
  for (const auto& sib : rec.siblings) {
    if (s.size() > 1) s += ", ";
    s += DotStr(sib.dot) + "=";
    if (sib.kind == ValueKind::kTombstone) s += "<tombstone>";
    else if (sib.kind == ValueKind::kCounter && cluster::IsFloatCounter(sib.value)) {
      cluster::FloatCounter c;
      s += cluster::DecodeFloatCounter(sib.value, &c).ok() ? "<score counter " + std::to_string(c.Value()) + ">"
                                                           : "<bad score counter>";
    } else if (sib.kind == ValueKind::kCounter) {
      cluster::PNCounter c;
      s += cluster::DecodeCounter(sib.value, &c).ok() ? "<counter " + std::to_string(c.Value()) + ">"
                                                      : "<bad counter>";
    } else {
      s += "\"" + (sib.value.size() > 60 ? sib.value.substr(0, 60) + "..." : sib.value) + "\"";
    }
  }
  return s + "}";
}

class Sim;

class SimClock final : public cluster::Clock {
 public:
  SimClock(const uint64_t* now, uint64_t mono_offset, int64_t skew)
      : now_(now), mono_offset_(mono_offset), skew_(skew) {}
  uint64_t NowMs() override { return *now_ + mono_offset_; }
  uint64_t WallMs() override { return static_cast<uint64_t>(static_cast<int64_t>(kEpochMs + *now_) + skew_); }

 private:
  const uint64_t* now_;
  uint64_t mono_offset_;
  int64_t skew_;
};

class SimTransport final : public cluster::Transport {
 public:
  SimTransport(Sim* sim, int host) : sim_(sim), host_(host) {}
  void Send(const std::string& to_addr, std::string frame) override;

 private:
  Sim* sim_;
  int host_;
};

class SimLogger final : public cluster::Logger {
 public:
  SimLogger(Sim* sim, int host) : sim_(sim), host_(host) {}
  void Log(Level level, std::string_view msg) override;

 private:
  Sim* sim_;
  int host_;
};

// A host's place in the cluster ([membership]); without that section every host is a member.
enum class Role : uint8_t {
  kSpare,    // not started yet: joins later
  kMember,   // in the cluster (running or crashed-and-restarting): a final member if it stays
  kLeaving,  // called Leave(); runs until its own view says removed, or healing ends
  kLeft,     // left; stopped for good
  kDoomed,   // crashed for good; Remove(id) not called yet
  kRemoved,  // crashed for good and removed
};
const char* RoleName(Role r) {
  switch (r) {
    case Role::kSpare: return "spare";
    case Role::kMember: return "member";
    case Role::kLeaving: return "leaving";
    case Role::kLeft: return "left";
    case Role::kDoomed: return "doomed";
    case Role::kRemoved: return "removed";
  }
  return "?";
}

struct Host;
// A host of the collection steps (cluster/collection_engine.h) on one simulated node, as the
// server is on a real one: the commands' steps run against its node and its wall clock.
// It hosts the list engine (cluster/list_engine.h) the same way (clist workload).
struct SimCollections : cluster::ListHost {
  Host* host = nullptr;
  Node* node() override;
  uint64_t WallMs() override;
  uint64_t DrawGeneration() override;  // from its own seeded stream: runs replay
  uint64_t MonoMs() override;
  uint64_t TombstoneGraceMs() override;
  uint64_t DrawListTag() override;  // its own seeded stream too
  std::unique_ptr<cluster::SeededRandom> gens;  // apart from the node's, which it must not shift
  std::unique_ptr<cluster::SeededRandom> tags;
};

struct Host {
  int index = 0;
  Role role = Role::kMember;
  std::string id, addr;
  cluster::NodeConfig cfg;
  std::unique_ptr<storage::MemEngine> engine;
  std::unique_ptr<SimTransport> transport;
  std::unique_ptr<SimClock> clock;
  std::unique_ptr<SimLogger> logger;
  std::unique_ptr<cluster::SeededRandom> random;
  std::unique_ptr<Node> node;  // null while crashed
  std::unique_ptr<cluster::Reaper> reaper;  // with [reaper]; null while crashed
  SimCollections coll;                       // the collection steps' host (cset workload)
  uint64_t life = 0;           // bumped at every start and crash: stale ticks are ignored
  uint64_t starts = 0;
  // Crash armed for "between apply and Commit": fires after the next step that left
  // pending writes, or at crash_deadline_ms at the latest.
  bool crash_armed = false, crash_wipe = false;
  uint64_t crash_deadline_ms = 0, restart_after_ms = 0;
  // One step's output, held until after Commit.
  std::vector<std::pair<std::string, std::string>> outbox;
  std::vector<std::function<void()>> replies;
};

Node* SimCollections::node() { return host->node.get(); }
uint64_t SimCollections::WallMs() { return host->clock->WallMs(); }
uint64_t SimCollections::DrawGeneration() { return gens->Next(); }
uint64_t SimCollections::MonoMs() { return host->clock->NowMs(); }
uint64_t SimCollections::TombstoneGraceMs() { return host->cfg.tombstone_grace_ms; }
uint64_t SimCollections::DrawListTag() { return tags->Next(); }

// One LPUSH/RPUSH (a unique value) or LPOP/RPOP (count 1) of the clist workload.
struct ListOp {
  bool push = true, left = false;
  std::string value;              // push: the value written
  std::vector<std::string> got;   // pop: what it returned (when acknowledged)
  int client = 0, host = 0;
  uint64_t life = 0;              // the coordinator's life at invocation
  uint64_t invoked_ms = 0, completed_ms = UINT64_MAX;  // completed: when the client saw the outcome
  enum class Outcome { kPending, kAcked, kFailed } outcome = Outcome::kPending;
};

// One SADD or SREM of the cset workload (each member belongs to one client, whose commands
// on it run one after the other).
struct CollOp {
  bool add = true;
  std::string value;  // a hash field's HSET: the unique value written
  enum class Outcome { kPending, kAcked, kFailed } outcome = Outcome::kPending;
};

// One client-visible write, as the checkers see it.
struct WriteRec {
  uint64_t seq = 0;  // global invocation order
  int client = 0;
  std::string key;
  Cls cls = Cls::kCart;
  OpKind op = OpKind::kPut;
  std::string value;  // put: the unique value written
  std::string item;   // cart: the unique item this write added
  VersionVector req_ctx;  // has_context writes: the client's context
  bool has_ctx = false;
  uint64_t invoked_ms = 0;
  uint64_t completed_ms = UINT64_MAX;  // when the client saw the outcome
  uint64_t wipes_at_invoke = 0;
  enum class Outcome { kPending, kAcked, kFailed } outcome = Outcome::kPending;
  std::optional<Sibling> sibling;  // acked: our sibling, found in the reply record
  VersionVector cover_ctx;         // acked: what this write superseded
  std::vector<std::string> deleted_values;  // delete: the live values its context covered
  // [membership]: the most owners (data records, per the then preference list) that held it
  // just before a membership change; handoff must not leave it on fewer (under-replicated).
  int owner_copies = 0;
};

struct KeyState {
  Cls cls = Cls::kCart;
  std::set<std::string> attempted_values;  // set/del/avail values; cart: whole cart values
  std::set<std::string> attempted_items;   // cart items
  std::vector<size_t> writes;              // indexes into Sim::writes_, invocation order
  std::set<std::string> deleted_values;    // covered by an acknowledged delete
  int64_t ctr_attempted = 0, ctr_acked = 0;
  bool tainted = false;
  std::string taint_reason;
};

// A Node::Read/Write in progress, from the client's side.
struct Call {
  int host = 0;
  uint64_t life = 0;
  uint64_t start_ms = 0;
  std::string what;
  std::function<void(Status, Record)> on_done;
  // Node requests the call makes one after another, each bounded by request_timeout_ms: 1
  // for a read or write; a collection command's steps (header read, element reads, writes,
  // the emptiness walk, the header's delete) are up to 5.
  uint64_t rounds = 1;
};

class Sim {
 public:
  Sim(const Scenario& sc, const RunOptions& opt)
      : sc_(sc),
        ks_(cluster::KeyspacePolicy{"", sc.n, sc.r, sc.w, false}, sc.keyspaces),
        opt_(opt),
        net_rng_(Mix(opt.seed, 1)),
        fault_rng_(Mix(opt.seed, 2)),
        client_rng_(Mix(opt.seed, 3)),
        setup_rng_(Mix(opt.seed, 4)),
        member_rng_(Mix(opt.seed, 5)) {}

  RunResult Run();

  // ---- called by the env adapters ----
  void OnSend(int host, const std::string& to, std::string frame) {
    Host& h = hosts_[host];
    if (stepping_ != &h) {
      Violate("sans-io", h.id + " sent a frame outside of a step (not from OnMessage/OnTick/"
                               "Read/Write/Start)");
      return;
    }
    h.outbox.emplace_back(to, std::move(frame));
  }
  void OnLog(int host, cluster::Logger::Level level, std::string_view msg) {
    static const char* kNames[] = {"debug", "info", "warn", "error"};
    std::string line = hosts_[host].id + " " + kNames[static_cast<int>(level)] + ": " +
                       std::string(msg);
    Note(line, /*timeline=*/level >= cluster::Logger::Level::kWarn);
  }

 private:
  // ---- events ----
  void At(uint64_t t, std::function<void()> fn) {
    events_.emplace(std::make_pair(std::max(t, now_), next_event_seq_++), std::move(fn));
  }
  void RunUntil(uint64_t t) {
    while (!events_.empty() && events_.begin()->first.first <= t) {
      auto it = events_.begin();
      now_ = it->first.first;
      std::function<void()> fn = std::move(it->second);
      events_.erase(it);
      fn();
    }
    now_ = std::max(now_, t);
  }

  uint64_t Uniform(cluster::Random& r, const Range& range) {
    return range.min + r.Uniform(range.max - range.min + 1);
  }
  double Chance(cluster::Random& r) { return static_cast<double>(r.Next() >> 11) * 0x1.0p-53; }

  void Hash(uint64_t v) {
    for (int i = 0; i < 8; ++i) {
      trace_hash_ ^= (v >> (8 * i)) & 0xff;
      trace_hash_ *= 0x100000001b3ull;
    }
  }
  void Hash(std::string_view s) {
    for (unsigned char c : s) {
      trace_hash_ ^= c;
      trace_hash_ *= 0x100000001b3ull;
    }
    Hash(s.size());
  }

  void Note(const std::string& line, bool timeline = true) {
    char t[32];
    std::snprintf(t, sizeof t, "t=%6" PRIu64 " ", now_);
    std::string l = t + line;
    if (opt_.verbose) std::fprintf(stderr, "%s\n", l.c_str());
    if (!timeline) return;
    timeline_.push_back(std::move(l));
    if (timeline_.size() > kTimelineMax) timeline_.pop_front();
  }

  void Violate(const std::string& inv, const std::string& detail) {
    ++violation_count_;
    // Keep the first few, and always the first of every kind.
    bool new_kind = std::none_of(violations_.begin(), violations_.end(),
                                 [&](const Violation& v) { return v.invariant == inv; });
    if (violations_.size() < kViolationsMax || new_kind) violations_.push_back({inv, detail});
    Note("VIOLATION " + inv + ": " + detail);
  }

  // ---- hosts ----
  void SetUp();
  void StartNode(Host& h);
  void Step(Host& h, const std::function<void(Node&)>& fn, const char* what = "");
  void TraceKey(Host& h, const char* what) {
    std::string bytes, shown;
    if (h.engine->Get(DataKey(opt_.trace_key), &bytes).ok()) {
      Record rec;
      if (cluster::DecodeRecord(bytes, &rec).ok()) shown = SiblingsStr(rec) + " ctx=" + CtxStr(rec.context);
    }
    auto hints = HintsOf(h);
    if (auto it = hints.find(opt_.trace_key); it != hints.end()) {
      for (auto& r : it->second) shown += " HINT" + SiblingsStr(r);
    }
    std::string& last = traced_[h.index];
    if (shown != last) {
      std::fprintf(stderr, "t=%" PRIu64 " %s [%s] %s = %s\n", now_, h.id.c_str(), what,
                   opt_.trace_key.c_str(), shown.c_str());
      last = shown;
    }
  }
  std::map<int, std::string> traced_;
  void CrashNow(Host& h, bool wipe, const char* how);
  void AccumulateStats(Host& h);
  void DropCalls(Host& h);
  void ArmCrash(Host& h, bool wipe, bool mid_write, uint64_t downtime_ms, bool clean = false);
  void ScheduleTick(Host& h);
  void Tick(int idx, uint64_t life);
  void ScheduleReap(Host& h);
  std::vector<int> LiveHosts() const {
    std::vector<int> v;
    for (const auto& h : hosts_) {
      if (h.node) v.push_back(h.index);
    }
    return v;
  }
  int HostByAddr(const std::string& addr) const {
    auto it = by_addr_.find(addr);
    return it == by_addr_.end() ? -1 : it->second;
  }
  int HostById(const std::string& id) const { return HostByAddr("sim-" + id + ":7000"); }
  // Members and leavers come back after a crash; spares, left and removed hosts do not.
  static bool Restartable(const Host& h) {
    return h.role == Role::kMember || h.role == Role::kLeaving;
  }
  size_t Participants() const {
    size_t n = 0;
    for (const auto& h : hosts_) n += Restartable(h);
    return n;
  }
  int OwningMembers() const {
    int n = 0;
    for (const auto& h : hosts_) n += h.role == Role::kMember;
    return n;
  }
  bool AllMembersRunning() const {
    for (const auto& h : hosts_) {
      if (h.role == Role::kMember && !h.node) return false;
    }
    return true;
  }
  // The final member whose ring and preference lists the checks use (n1 without membership).
  Host& RefHost() {
    for (auto& h : hosts_) {
      if (h.role == Role::kMember && h.node) return h;
    }
    return hosts_[0];
  }
  // Running members a membership event may act on (not about to crash), in index order.
  std::vector<int> Eligible() const {
    std::vector<int> v;
    for (const auto& h : hosts_) {
      if (h.role == Role::kMember && h.node && !h.crash_armed) v.push_back(h.index);
    }
    return v;
  }
  // `of`'s status in `viewer`'s Members() ("" if it does not know it).
  static std::string StatusIn(const Host& viewer, const std::string& of) {
    for (const auto& m : viewer.node->Members()) {
      if (m.id == of) return m.status;
    }
    return "";
  }

  // ---- membership ([membership]) ----
  void ScheduleMembership();
  int JoinSpare(const char* why);
  void DoLeave();
  void DoRemove();
  void DoReplace();
  void Doom(Host& h, const char* why);
  void AwaitRemoval(int idx, const char* kind);
  void WatchLeaver(int idx);
  void Retire(Host& h, const char* why);
  void CheckHandoff();
  void OracleHandoff();
  void SnapshotCopies(const std::string& before);
  static bool Holds(const Record& r, const Dot& d) {
    if (r.context.Covers(d)) return true;
    for (const auto& s : r.siblings) {
      if (s.dot == d) return true;
    }
    return false;
  }

  // ---- network ----
  void Transmit(int from, const std::string& to_addr, std::string frame);
  void DeliverBatch(uint64_t t, int from, int to);
  void SchedulePartitions();
  void Heal(const char* why);

  // ---- clients ----
  bool IssueRead(int host, const std::string& key, int r, std::string what,
                 std::function<void(Status, Record)> done);
  bool IssueWrite(int host, const std::string& key, cluster::WriteRequest req,
                  std::string what, std::function<void(Status, Record)> done);
  void FinishCall(uint64_t id, Status s, Record rec);
  void ClientNext(int c);
  void ClientOp(int c);
  void OpCart(int c, int host, const std::string& key);
  void OpSet(int c, int host, const std::string& key);
  void OpDel(int c, int host, const std::string& key, bool recreate = true);
  void OpCounter(int c, int host, const std::string& key);
  void OpScore(int c, int host, const std::string& key);
  void OpCollSet(int c, int host, const std::string& key);
  void OpCollCounter(int c, int host, const std::string& key, bool zset);
  void OpList(int c, int host, const std::string& key);
  void CheckLists();
  void DropListValue(const std::string& key, const std::string& value);
  void CheckHashCounters();
  bool IssueReadRecord(int host, const std::string& rkey, int r, std::string what,
                       std::function<void(Status, Record)> done);
  void CheckCollections();
  void DropMember(const std::string& key, const std::string& member);
  size_t NewWrite(int client, const std::string& key, Cls cls, OpKind op);
  void OnWriteDone(size_t w, Status s, const Record& rec);
  void CheckReadPhantoms(const std::string& key, const Record& rec, const std::string& where);
  KeyState& Key(const std::string& key, Cls cls) {
    auto [it, fresh] = keys_.try_emplace(key);
    if (fresh) it->second.cls = cls;
    return it->second;
  }

  // ---- inspection ----
  // This host's committed state for `key`: its data record and every hint it holds for it.
  std::vector<Record> StateOf(Host& h, const std::string& key);
  std::map<std::string, std::vector<Record>> HintsOf(Host& h);
  void TaintOnWipe(Host& h, const char* what = "wipe");
  void RegisterDot(const std::string& key, const Sibling& s, const std::string& where);
  void CheckDurable(const WriteRec& w);

  // ---- phases ----
  bool Quiet(std::string* why);
  bool Settle(const char* phase);
  void AvailabilityProbe();
  void FinalSweep();
  bool ReplicasAgree(std::string* why);
  void AwaitAntiEntropy();
  size_t DeadRecords(std::string* first);
  void AwaitReaped();
  void CheckInvariants();
  RunResult Result();
  void DoSabotage(const char* hook, const std::string& key, const WriteRec* w);

  const Scenario& sc_;
  // The keyspace policies every node runs with: a key's n, r and w for the checks.
  const cluster::Keyspaces ks_;
  const cluster::KeyspacePolicy& Pol(const std::string& key) const { return ks_.ForKey(key); }
  const RunOptions& opt_;
  cluster::SeededRandom net_rng_, fault_rng_, client_rng_, setup_rng_;
  cluster::SeededRandom member_rng_;  // [membership] events only: no draws without the section
  uint64_t now_ = 0;
  std::map<std::pair<uint64_t, uint64_t>, std::function<void()>> events_;
  uint64_t next_event_seq_ = 0;
  uint64_t trace_hash_ = 0xcbf29ce484222325ull;
  uint64_t reaped_ = 0;  // records the reapers deleted

  std::vector<Host> hosts_;
  std::map<std::string, int> by_addr_;
  Host* stepping_ = nullptr;

  // Network state. blocked_[a][b]: frames from a to b are lost.
  std::vector<std::vector<bool>> blocked_;
  bool faults_on_ = true;
  uint64_t data_in_flight_ = 0;

  // Clients.
  bool clients_on_ = false;
  std::vector<uint64_t> client_seq_;
  std::map<uint64_t, Call> calls_;
  uint64_t next_call_ = 1;
  std::map<std::string, KeyState> keys_;
  std::vector<WriteRec> writes_;
  uint64_t next_write_seq_ = 1;
  std::map<std::string, Record> final_reads_;
  std::map<std::tuple<std::string, ActorId, uint64_t>, std::string> dots_;

  // Accounting.
  uint64_t wipes_done_ = 0, crashes_done_ = 0, partitions_done_ = 0;
  uint64_t frames_sent_ = 0, frames_dropped_ = 0, frames_duped_ = 0;
  uint64_t batches_ = 0, batched_frames_ = 0;  // deliveries of more than one frame
  // Frames in flight from one peer to one host that arrive at one time: delivered together,
  // as one Node::OnMessages batch, as the server hands over the frames a peer connection
  // read in one loop turn. So the batch paths (held write acks, prefetch) run here too.
  struct InFlight {
    std::string frame;
    bool data;
  };
  std::map<std::tuple<uint64_t, int, int>, std::vector<InFlight>> inbox_;  // (time, to, from)
  uint64_t data_sent_ = 0;  // non-gossip frames handed to the network (membership settling)
  // [membership]: events scheduled but not finished; done per kind.
  int member_ops_pending_ = 0;
  int joins_done_ = 0, leaves_done_ = 0, removes_done_ = 0, replaces_done_ = 0;
  std::map<std::string, std::pair<uint64_t, uint64_t>> op_stats_;  // class -> (ok, failed)
  // cset workload: key -> member -> its SADDs and SREMs in invocation order.
  std::map<std::string, std::map<std::string, std::vector<CollOp>>> coll_ops_;
  // chash / czset workloads: key -> increments of its element "ctr" (attempted, acknowledged).
  std::map<std::string, std::pair<int64_t, int64_t>> hctr_;
  // clist workload: key -> its pushes and pops in invocation order.
  std::map<std::string, std::vector<ListOp>> list_ops_;
  cluster::NodeStats node_totals_;
  std::vector<Violation> violations_;
  uint64_t violation_count_ = 0;
  std::deque<std::string> timeline_;
  bool sabotage_done_ = false;
};

void SimTransport::Send(const std::string& to_addr, std::string frame) {
  sim_->OnSend(host_, to_addr, std::move(frame));
}
void SimLogger::Log(Level level, std::string_view msg) { sim_->OnLog(host_, level, msg); }

// ---- hosts ------------------------------------------------------------------------------

void Sim::SetUp() {
  hosts_.resize(static_cast<size_t>(sc_.nodes));
  blocked_.assign(hosts_.size(), std::vector<bool>(hosts_.size(), false));
  std::vector<std::string> seeds;
  const int initial = sc_.InitialNodes();  // = nodes without [membership]
  for (int i = 0; i < std::min(initial, 3); ++i) {
    seeds.push_back("sim-n" + std::to_string(i + 1) + ":7000");
  }
  for (int i = 0; i < sc_.nodes; ++i) {
    Host& h = hosts_[i];
    h.index = i;
    h.role = i < initial ? Role::kMember : Role::kSpare;
    h.id = "n" + std::to_string(i + 1);
    h.addr = "sim-" + h.id + ":7000";
    by_addr_[h.addr] = i;
    cluster::NodeConfig& c = h.cfg;
    c.id = h.id;
    c.cluster_addr = h.addr;
    c.client_addr = "sim-" + h.id + ":6379";
    c.seeds = seeds;
    (void)sc_.tokens;  // the token ring is gone: every node has weight 100
    c.n = sc_.n;
    c.r = sc_.r;
    c.w = sc_.w;
    c.keyspaces = sc_.keyspaces;
    c.request_timeout_ms = sc_.request_timeout_ms;
    c.read_retry_ms = sc_.read_retry_ms;
    c.gossip_interval_ms = sc_.gossip_interval_ms;
    c.suspect_after_ms = sc_.suspect_after_ms;
    c.down_after_ms = sc_.down_after_ms;
    c.cluster_secret = sc_.secret;
    c.ae_interval_ms = sc_.ae_interval_ms;
    if (sc_.reap_grace_ms > 0) c.tombstone_grace_ms = sc_.reap_grace_ms;
    h.engine = std::make_unique<storage::MemEngine>(storage::SyncMode::kBatch);
    h.transport = std::make_unique<SimTransport>(this, i);
    // Monotonic clocks start anywhere; wall clocks are skewed by up to +-clock_skew_ms.
    uint64_t mono = 1000 + setup_rng_.Uniform(1'000'000);
    int64_t skew = static_cast<int64_t>(setup_rng_.Uniform(2 * sc_.clock_skew_ms + 1)) -
                   static_cast<int64_t>(sc_.clock_skew_ms);
    // Clock-skew scenarios: n1 runs hours ahead, n2 hours behind (a badly set clock, not jitter).
    if (i == 0) skew += static_cast<int64_t>(sc_.outlier_skew_ms);
    if (i == 1) skew -= static_cast<int64_t>(sc_.outlier_skew_ms);
    h.clock = std::make_unique<SimClock>(&now_, mono, skew);
    h.coll.host = &h;
    h.logger = std::make_unique<SimLogger>(this, i);
  }
}

void Sim::StartNode(Host& h) {
  ++h.life;
  ++h.starts;
  h.crash_armed = false;
  h.random = std::make_unique<cluster::SeededRandom>(Mix(opt_.seed, 1000 + h.index * 1000 + h.starts));
  h.coll.gens = std::make_unique<cluster::SeededRandom>(Mix(opt_.seed, 500 + h.index * 1000 + h.starts));
  h.coll.tags = std::make_unique<cluster::SeededRandom>(Mix(opt_.seed, 700 + h.index * 1000 + h.starts));
  h.node = std::make_unique<Node>(h.cfg, h.transport.get(), h.clock.get(), h.random.get(),
                                  h.engine.get(), h.logger.get());
  Status st;
  Step(h, [&](Node& n) { st = n.Start(); });
  if (!st.ok()) Violate("liveness", h.id + " failed to start: " + st.ToString());
  Note(h.id + " started (life " + std::to_string(h.starts) + ", actor " +
       DotStr({h.node ? h.node->actor() : 0, 0}).substr(0, 16) + ")");
  ScheduleTick(h);
  if (sc_.reap_grace_ms > 0 && h.node) {
    cluster::ReaperConfig rc;
    rc.tombstone_grace_ms = sc_.reap_grace_ms;
    rc.standalone = false;
    h.reaper = std::make_unique<cluster::Reaper>(h.node.get(), h.clock.get(), rc,
                                                 [this] { ++reaped_; });
    ScheduleReap(h);
  }
}

// The server's reaper timer, per node: one slice every reap_interval_ms.
// Self-rescheduling callbacks (reaper, polls, partitions) hold only a weak reference to
// themselves; each scheduled run holds the strong one, so the last run frees the function.
// (A function holding a shared_ptr to itself was never freed: ASan's leak check found it.)
std::function<void()> Again(const std::shared_ptr<std::function<void()>>& f) {
  return [f] { (*f)(); };
}
std::function<void()> Again(const std::weak_ptr<std::function<void()>>& f) { return Again(f.lock()); }

void Sim::ScheduleReap(Host& h) {
  uint64_t life = h.life;
  int idx = h.index;
  auto self = std::make_shared<std::function<void()>>();
  *self = [this, idx, life, self = std::weak_ptr<std::function<void()>>(self)]() {
    Host& hh = hosts_[idx];
    if (hh.life != life || !hh.node || !hh.reaper) return;
    Step(hh, [&](Node&) { hh.reaper->Step(); }, "reap");
    if (hh.life == life && hh.node) At(now_ + sc_.reap_interval_ms, Again(self));
  };
  At(now_ + sc_.reap_interval_ms, Again(self));
}

void Sim::ScheduleTick(Host& h) {
  uint64_t life = h.life;
  int idx = h.index;
  // Each node ticks on its own phase.
  uint64_t first = now_ + 1 + (static_cast<uint64_t>(idx) * 7 + h.starts) % sc_.tick_ms;
  At(first, [this, idx, life]() { Tick(idx, life); });
}

// One tick of node idx's life `life`, and the next one scheduled. (A function that held a
// shared_ptr to itself never freed: ASan's leak check found it.)
void Sim::Tick(int idx, uint64_t life) {
  Host& hh = hosts_[idx];
  if (hh.life != life || !hh.node) return;
  Step(hh, [](Node& n) { n.OnTick(); }, "tick");
  if (hh.life == life && hh.node) At(now_ + sc_.tick_ms, [this, idx, life]() { Tick(idx, life); });
}

// One step of the node's loop: the call, then Commit, then release frames and replies.
void Sim::Step(Host& h, const std::function<void(Node&)>& fn, const char* what) {
  if (!h.node) return;
  stepping_ = &h;
  fn(*h.node);
  stepping_ = nullptr;
  if (h.crash_armed && (h.engine->HasPending() || now_ >= h.crash_deadline_ms)) {
    // Power cut after the apply, before the fsync: pending writes and every frame and reply
    // of this step are gone.
    CrashNow(h, h.crash_wipe, h.engine->HasPending() ? "between apply and Commit" : "idle");
    return;
  }
  Status s = h.engine->Commit();
  if (!s.ok()) Violate("liveness", h.id + " commit failed: " + s.ToString());
  if (!opt_.trace_key.empty()) TraceKey(h, what);
  std::vector<std::pair<std::string, std::string>> out;
  out.swap(h.outbox);
  std::vector<std::function<void()>> replies;
  replies.swap(h.replies);
  for (auto& [to, frame] : out) Transmit(h.index, to, std::move(frame));
  for (auto& r : replies) r();
}

void Sim::AccumulateStats(Host& h) {
  cluster::NodeStats st = h.node->stats();
  node_totals_.read_repairs += st.read_repairs;
  node_totals_.hints_stored += st.hints_stored;
  node_totals_.hints_delivered += st.hints_delivered;
  node_totals_.coordinator_timeouts += st.coordinator_timeouts;
  node_totals_.forwarded += st.forwarded;
  node_totals_.ae_rounds += st.ae_rounds;
  node_totals_.ae_keys_repaired += st.ae_keys_repaired;
}

// The clients connected to a node that stopped see their connection drop: outcome unknown.
void Sim::DropCalls(Host& h) {
  std::vector<uint64_t> lost;
  for (auto& [id, c] : calls_) {
    if (c.host == h.index) lost.push_back(id);
  }
  for (uint64_t id : lost) {
    Call c = std::move(calls_[id]);
    calls_.erase(id);
    At(now_ + 1, [c = std::move(c)]() {
      c.on_done(Status::Unavailable("connection lost: coordinator crashed"), Record{});
    });
  }
}

void Sim::CrashNow(Host& h, bool wipe, const char* how) {
  if (!h.node) return;
  AccumulateStats(h);
  h.engine->SimulateCrash();
  h.outbox.clear();
  h.replies.clear();
  h.reaper.reset();
  h.node.reset();
  h.coll.header_flights.clear();  // the server's in-flight header writes die with it
  h.coll.list_queues.reset();     // and so do its list queues and head hints
  ++h.life;
  h.crash_armed = false;
  ++crashes_done_;
  if (wipe) {
    TaintOnWipe(h);
    h.engine->Wipe();
    ++wipes_done_;
  }
  Note(h.id + (wipe ? " WIPED (crash + data dir lost), " : " CRASHED, ") + how);
  DropCalls(h);
}

void Sim::ArmCrash(Host& h, bool wipe, bool mid_write, uint64_t downtime_ms, bool clean) {
  int idx = h.index;
  auto restart = [this, idx, downtime_ms]() {
    At(now_ + downtime_ms, [this, idx]() {
      Host& hh = hosts_[idx];
      if (!hh.node && faults_on_ && Restartable(hh)) StartNode(hh);
    });
  };
  if (clean) {  // never mid-write or a wipe (schedule_crashes)
    // What the server does after its loop stops on SIGTERM: save for the next start, commit.
    (void)h.node->SaveForRestart();
    (void)h.engine->Commit();
  }
  if (!mid_write) {
    CrashNow(h, wipe, clean ? "clean stop" : "idle");
    restart();
    return;
  }
  h.crash_armed = true;
  h.crash_wipe = wipe;
  h.crash_deadline_ms = now_ + 500;
  uint64_t life = h.life;
  // The crash fires in Step; this only makes sure it happens by the deadline and schedules
  // the restart either way.
  auto poll = std::make_shared<std::function<void()>>();
  *poll = [this, idx, life, poll = std::weak_ptr<std::function<void()>>(poll), restart]() {
    Host& hh = hosts_[idx];
    if (hh.life != life) return restart();  // it crashed (or was restarted) meanwhile
    if (!hh.crash_armed) return;
    if (now_ >= hh.crash_deadline_ms) {
      CrashNow(hh, hh.crash_wipe, "idle (deadline)");
      return restart();
    }
    At(now_ + 5, Again(poll));
  };
  At(now_ + 5, Again(poll));
}

// ---- network ----------------------------------------------------------------------------

void Sim::Transmit(int from, const std::string& to_addr, std::string frame) {
  ++frames_sent_;
  int to = HostByAddr(to_addr);
  if (to < 0) {
    ++frames_dropped_;
    return;
  }
  // Frame layout (message.h): magic u16, version u8, type u8. Type 1 is gossip; 12 and 13
  // are anti-entropy tree summaries, as periodic as gossip. Everything else (anti-entropy
  // record exchanges included) is data: the cluster is not quiet while it is in flight.
  uint8_t ftype = frame.size() < 4 ? 0 : static_cast<uint8_t>(frame[3]);
  bool data = ftype != 1 && ftype != 12 && ftype != 13;
  if (data) ++data_sent_;
  if (blocked_[from][to] || (faults_on_ && Chance(net_rng_) < sc_.drop_rate)) {
    ++frames_dropped_;
    return;
  }
  int copies = 1;
  if (faults_on_ && Chance(net_rng_) < sc_.dup_rate) {
    copies = 2;
    ++frames_duped_;
  }
  for (int i = 0; i < copies; ++i) {
    uint64_t delay = Uniform(net_rng_, sc_.delay_ms);
    if (faults_on_ && Chance(net_rng_) < sc_.reorder_rate) delay += sc_.reorder_delay_ms;
    if (data) ++data_in_flight_;
    uint64_t t = now_ + delay;
    std::vector<InFlight>& q = inbox_[{t, to, from}];
    if (q.empty()) At(t, [this, t, from, to]() { DeliverBatch(t, from, to); });
    q.push_back({frame, data});
  }
}

void Sim::DeliverBatch(uint64_t t, int from, int to) {
  auto it = inbox_.find({t, to, from});
  if (it == inbox_.end()) return;
  std::vector<InFlight> batch = std::move(it->second);
  inbox_.erase(it);
  Host& h = hosts_[to];
  std::vector<std::string_view> frames;
  frames.reserve(batch.size());
  for (const InFlight& f : batch) {
    if (f.data) --data_in_flight_;
    // A cut made while the frame was in flight loses it too; the dead receive nothing.
    if (!h.node || blocked_[from][to]) {
      ++frames_dropped_;
      continue;
    }
    Hash(now_);
    Hash(static_cast<uint64_t>(to));
    Hash(f.frame);
    frames.push_back(f.frame);
  }
  if (frames.empty()) return;
  static const char* kTypes[] = {"?",           "gossip",       "read-req",    "read-resp",
                                 "write-req",   "write-ack",    "forward-req", "forward-resp",
                                 "read-repair", "hinted-write", "scan-req",    "scan-resp",
                                 "ae-tree-req", "ae-tree-resp", "ae-keys-req", "ae-keys-resp"};
  uint8_t type = frames[0].size() >= 4 ? static_cast<uint8_t>(frames[0][3]) : 0;
  std::string what = std::string(kTypes[type <= 15 ? type : 0]) + " from " + hosts_[from].id;
  if (frames.size() > 1) {
    ++batches_;
    batched_frames_ += frames.size();
    what += " and " + std::to_string(frames.size() - 1) + " more";
  }
  Step(h, [&](Node& n) { n.OnMessages(frames); }, what.c_str());
}

void Sim::Heal(const char* why) {
  bool any = false;
  for (auto& row : blocked_) {
    for (auto b : row) any |= b;
    std::fill(row.begin(), row.end(), false);
  }
  if (any) Note(std::string("partition healed (") + why + ")");
}

void Sim::SchedulePartitions() {
  auto cut = std::make_shared<std::function<void()>>();
  *cut = [this, cut = std::weak_ptr<std::function<void()>>(cut)]() {
    if (!faults_on_ || hosts_.size() < 2) return;
    // A random proper, non-empty side A; the rest is side B.
    size_t n = hosts_.size();
    std::vector<bool> side(n, false);
    size_t a = 1 + fault_rng_.Uniform(n - 1);
    std::vector<size_t> order(n);
    for (size_t i = 0; i < n; ++i) order[i] = i;
    for (size_t i = n - 1; i > 0; --i) std::swap(order[i], order[fault_rng_.Uniform(i + 1)]);
    for (size_t i = 0; i < a; ++i) side[order[i]] = true;
    bool asym = Chance(fault_rng_) < sc_.asymmetric;
    std::string desc;
    for (size_t x = 0; x < n; ++x) {
      for (size_t y = 0; y < n; ++y) {
        if (side[x] && !side[y]) blocked_[x][y] = true;
        if (!asym && !side[x] && side[y]) blocked_[x][y] = true;
      }
    }
    std::string sa, sb;
    for (size_t i = 0; i < n; ++i) (side[i] ? sa : sb) += hosts_[i].id + " ";
    ++partitions_done_;
    Note(std::string(asym ? "ASYMMETRIC partition: " : "partition: ") + "{ " + sa +
         (asym ? "} -/-> { " : "} <-/-> { ") + sb + "}");
    uint64_t len = Uniform(fault_rng_, sc_.partition_length_ms);
    At(now_ + len, [this, cut = cut.lock()]() {
      if (!faults_on_) return;
      Heal("timer");
      At(now_ + Uniform(fault_rng_, sc_.partition_gap_ms), Again(cut));
    });
  };
  At(now_ + Uniform(fault_rng_, sc_.partition_gap_ms), Again(cut));
}

// ---- clients ----------------------------------------------------------------------------

bool Sim::IssueRead(int host, const std::string& key, int r, std::string what,
                    std::function<void(Status, Record)> done) {
  Host& h = hosts_[host];
  if (!h.node) return false;
  uint64_t id = next_call_++;
  calls_[id] = Call{host, h.life, now_, what + " " + key + " via " + h.id, std::move(done)};
  Step(h, [&](Node& n) {
    n.Read(key, r, [this, id](Status s, cluster::ReadReply rr) {
      FinishCall(id, std::move(s), std::move(rr.record));
    });
  }, "client read");
  return true;
}

bool Sim::IssueWrite(int host, const std::string& key, cluster::WriteRequest req,
                     std::string what, std::function<void(Status, Record)> done) {
  Host& h = hosts_[host];
  if (!h.node) return false;
  uint64_t id = next_call_++;
  calls_[id] = Call{host, h.life, now_, what + " " + key + " via " + h.id, std::move(done)};
  Step(h, [&](Node& n) {
    n.Write(key, std::move(req), [this, id](Status s, cluster::WriteReply wr) {
      FinishCall(id, std::move(s), std::move(wr.record));
    });
  }, "client write");
  return true;
}

// The node completed a request: hold the reply until the coordinator's step commits.
void Sim::FinishCall(uint64_t id, Status s, Record rec) {
  auto it = calls_.find(id);
  if (it == calls_.end()) {
    Violate("callback", "request #" + std::to_string(id) +
                            " completed twice, or after its connection was gone");
    return;
  }
  Call c = std::move(it->second);
  calls_.erase(it);
  Host* h = stepping_;
  if (!h || h->index != c.host || h->life != c.life) {
    Violate("callback", c.what + " completed outside its coordinator's step");
  }
  auto release = [this, c = std::move(c), s = std::move(s), rec = std::move(rec)]() mutable {
    uint64_t took = now_ - c.start_ms;
    if (took > c.rounds * sc_.request_timeout_ms + 2 * sc_.tick_ms) {
      Violate("liveness", c.what + " completed after " + std::to_string(took) +
                              " ms; request_timeout_ms is " +
                              std::to_string(sc_.request_timeout_ms) + " (x" + std::to_string(c.rounds) + ")");
    }
    Hash(now_);
    Hash(static_cast<uint64_t>(s.code()));
    c.on_done(std::move(s), std::move(rec));
  };
  if (h) {
    h->replies.push_back(std::move(release));
  } else {
    release();
  }
}

size_t Sim::NewWrite(int client, const std::string& key, Cls cls, OpKind op) {
  WriteRec w;
  w.seq = next_write_seq_++;
  w.client = client;
  w.key = key;
  w.cls = cls;
  w.op = op;
  w.invoked_ms = now_;
  w.wipes_at_invoke = wipes_done_;
  writes_.push_back(std::move(w));
  Key(key, cls).writes.push_back(writes_.size() - 1);
  return writes_.size() - 1;
}

void Sim::CheckReadPhantoms(const std::string& key, const Record& rec, const std::string& where) {
  auto it = keys_.find(key);
  for (const Sibling* s : cluster::LiveSiblings(rec, kEpochMs + now_)) {
    if (s->kind != ValueKind::kPlain) continue;
    if (it == keys_.end()) {
      Violate("phantom", where + ": key " + key + " was never written but reads " + SiblingsStr(rec));
      return;
    }
    const KeyState& ks = it->second;
    if (ks.cls == Cls::kCart) {
      for (const auto& item : SplitItems(s->value)) {
        if (!ks.attempted_items.count(item)) {
          Violate("phantom", where + ": cart " + key + " holds item \"" + item +
                                 "\" that no client added; siblings " + SiblingsStr(rec));
        }
      }
    } else if (!ks.attempted_values.count(s->value)) {
      Violate("phantom", where + ": " + key + " holds value \"" + s->value +
                             "\" that no client wrote; siblings " + SiblingsStr(rec));
    }
  }
}

void Sim::ClientNext(int c) {
  if (!clients_on_) return;
  At(now_ + Uniform(client_rng_, sc_.think_ms), [this, c]() { ClientOp(c); });
}

void Sim::ClientOp(int c) {
  if (!clients_on_) return;
  std::vector<int> live = LiveHosts();
  if (live.empty()) return ClientNext(c);
  int host = live[client_rng_.Uniform(live.size())];
  int total = sc_.cart + sc_.set + sc_.del + sc_.erase + sc_.counter + sc_.score + sc_.cset + sc_.czadd + sc_.chash + sc_.czset +
              sc_.chset + sc_.chfloat + sc_.clist;
  int pick = static_cast<int>(client_rng_.Uniform(static_cast<uint64_t>(total)));
  std::string k = std::to_string(client_rng_.Uniform(static_cast<uint64_t>(sc_.keys)));
  if ((pick -= sc_.cart) < 0) return OpCart(c, host, "cart-" + k);
  if ((pick -= sc_.set) < 0) return OpSet(c, host, "set-" + k);
  if ((pick -= sc_.del) < 0) return OpDel(c, host, "del-" + k);
  if ((pick -= sc_.erase) < 0) return OpDel(c, host, "del-" + k, /*recreate=*/false);
  if ((pick -= sc_.counter) < 0) return OpCounter(c, host, "ctr-" + k);
  if ((pick -= sc_.score) < 0) return OpScore(c, host, "score-" + k);
  if ((pick -= sc_.cset) < 0) return OpCollSet(c, host, "cset-" + k);
  if ((pick -= sc_.czadd) < 0) return OpCollSet(c, host, "czadd-" + k);
  if ((pick -= sc_.chash) < 0) return OpCollCounter(c, host, "chash-" + k, /*zset=*/false);
  if ((pick -= sc_.czset) < 0) return OpCollCounter(c, host, "czset-" + k, /*zset=*/true);
  if ((pick -= sc_.chset) < 0) return OpCollSet(c, host, "chash-" + k);  // HSET / HDEL of the client's own fields
  if ((pick -= sc_.chfloat) < 0) return OpCollCounter(c, host, "chflt-" + k, /*zset=*/false);
  return OpList(c, host, "clist-" + k);
}

// DGET; add a unique item to the union of the siblings; DPUT with the read's context.
void Sim::OpCart(int c, int host, const std::string& key) {
  Key(key, Cls::kCart);
  bool ok = IssueRead(host, key, 0, "cart read", [this, c, host, key](Status s, Record rec) {
    if (!s.ok()) {
      ++op_stats_["cart"].second;
      return ClientNext(c);
    }
    CheckReadPhantoms(key, rec, "cart read");
    std::set<std::string> items;
    for (const Sibling* sib : cluster::LiveSiblings(rec, kEpochMs + now_)) {
      if (sib->kind != ValueKind::kPlain) continue;
      for (auto& i : SplitItems(sib->value)) items.insert(i);
    }
    std::string item = "c" + std::to_string(c) + "." + std::to_string(++client_seq_[c]);
    items.insert(item);
    size_t w = NewWrite(c, key, Cls::kCart, OpKind::kPut);
    WriteRec& wr = writes_[w];
    wr.item = item;
    wr.value = JoinItems(items);
    wr.has_ctx = true;
    wr.req_ctx = rec.context;
    KeyState& ks = keys_[key];
    ks.attempted_items.insert(item);
    ks.attempted_values.insert(wr.value);
    cluster::WriteRequest req;
    req.op = OpKind::kPut;
    req.value.value = wr.value;
    req.has_context = true;
    req.context = rec.context;
    bool sent = IssueWrite(host, key, std::move(req), "cart add " + item,
                           [this, c, w](Status s2, Record rec2) {
                             OnWriteDone(w, s2, rec2);
                             ClientNext(c);
                           });
    if (!sent) {
      OnWriteDone(w, Status::Unavailable("coordinator down"), {});
      ClientNext(c);
    }
  });
  if (!ok) ClientNext(c);
}

// Blind SET: a put without context.
void Sim::OpSet(int c, int host, const std::string& key) {
  if (!hosts_[host].node) return ClientNext(c);
  size_t w = NewWrite(c, key, Cls::kSet, OpKind::kPut);
  WriteRec& wr = writes_[w];
  wr.value = "s" + std::to_string(c) + "." + std::to_string(++client_seq_[c]);
  keys_[key].attempted_values.insert(wr.value);
  cluster::WriteRequest req;
  req.value.value = wr.value;
  IssueWrite(host, key, std::move(req), "set " + wr.value, [this, c, w](Status s, Record rec) {
    OnWriteDone(w, s, rec);
    ClientNext(c);
  });
}

// DGET; DDEL with the read's context; on success (and with `recreate`) put a new value with
// the delete's context.
void Sim::OpDel(int c, int host, const std::string& key, bool recreate) {
  Key(key, Cls::kDel);
  bool ok = IssueRead(host, key, 0, "del read", [this, c, host, key, recreate](Status s, Record rec) {
    if (!s.ok()) {
      ++op_stats_["del"].second;
      return ClientNext(c);
    }
    CheckReadPhantoms(key, rec, "del read");
    size_t d = NewWrite(c, key, Cls::kDel, OpKind::kDelete);
    WriteRec& dw = writes_[d];
    dw.has_ctx = true;
    dw.req_ctx = rec.context;
    for (const Sibling* sib : cluster::LiveSiblings(rec, kEpochMs + now_)) {
      dw.deleted_values.push_back(sib->value);
    }
    cluster::WriteRequest del;
    del.op = OpKind::kDelete;
    del.has_context = true;
    del.context = rec.context;
    bool sent = IssueWrite(
        host, key, std::move(del), "delete", [this, c, host, key, d, recreate](Status s2, Record rec2) {
          OnWriteDone(d, s2, rec2);
          if (!s2.ok() || !recreate) return ClientNext(c);
          // Recreate, superseding the tombstone (the delete's reply context covers it).
          size_t p = NewWrite(c, key, Cls::kDel, OpKind::kPut);
          WriteRec& pw = writes_[p];
          pw.value = "r" + std::to_string(c) + "." + std::to_string(++client_seq_[c]);
          pw.has_ctx = true;
          pw.req_ctx = rec2.context;
          keys_[key].attempted_values.insert(pw.value);
          cluster::WriteRequest put;
          put.value.value = pw.value;
          put.has_context = true;
          put.context = rec2.context;
          bool sent2 = IssueWrite(host, key, std::move(put), "recreate " + pw.value,
                                  [this, c, p](Status s3, Record rec3) {
                                    OnWriteDone(p, s3, rec3);
                                    ClientNext(c);
                                  });
          if (!sent2) {
            OnWriteDone(p, Status::Unavailable("coordinator down"), {});
            ClientNext(c);
          }
        });
    if (!sent) {
      OnWriteDone(d, Status::Unavailable("coordinator down"), {});
      ClientNext(c);
    }
  });
  if (!ok) ClientNext(c);
}

void Sim::OpCounter(int c, int host, const std::string& key) {
  if (!hosts_[host].node) return ClientNext(c);
  size_t w = NewWrite(c, key, Cls::kCounter, OpKind::kCounterAdd);
  ++keys_[key].ctr_attempted;
  cluster::WriteRequest req;
  req.op = OpKind::kCounterAdd;
  req.delta = 1;
  IssueWrite(host, key, std::move(req), "incr", [this, c, w](Status s, Record rec) {
    OnWriteDone(w, s, rec);
    ClientNext(c);
  });
}

// ZINCRBY's core op: +0.5 (exact in binary, so the sum is exact) on a score counter.
void Sim::OpScore(int c, int host, const std::string& key) {
  if (!hosts_[host].node) return ClientNext(c);
  size_t w = NewWrite(c, key, Cls::kScore, OpKind::kScoreAdd);
  ++keys_[key].ctr_attempted;
  cluster::WriteRequest req;
  req.op = OpKind::kScoreAdd;
  req.delta = cluster::ScoreDeltaBits(0.5);
  IssueWrite(host, key, std::move(req), "zincrby", [this, c, w](Status s, Record rec) {
    OnWriteDone(w, s, rec);
    ClientNext(c);
  });
}

// SADD or SREM of one of the client's own members of a set, as the server runs them: the
// collection steps of cluster/collection_engine.h (header read, element read, element and
// header writes, and for a removal that empties the set, the header's delete).
void Sim::OpCollSet(int c, int host, const std::string& key) {
  Host& h = hosts_[host];
  if (!h.node) return ClientNext(c);
  const char type = MemberKeyType(key);
  const bool hash = type == static_cast<char>(cluster::CollectionType::kHash);
  std::string member = "c" + std::to_string(c) + (hash ? ".f" : ".m") + std::to_string(client_rng_.Uniform(3));
  bool add = client_rng_.Uniform(3) != 0;  // two adds to a removal: the sets stay non-empty
  std::vector<CollOp>& ops = coll_ops_[key][member];
  ops.push_back(CollOp{add, {}});
  // HSET writes a value no other write uses, and ZADD a score no other write uses, so the
  // checker can tell which write it sees (a member's score is a register, as a field's value).
  const bool zset = type == static_cast<char>(cluster::CollectionType::kZset);
  if (hash && add) ops.back().value = "h" + std::to_string(c) + "." + std::to_string(++client_seq_[c]);
  if (zset && add) ops.back().value = cluster::EncodeScore(c * 100000.0 + double(++client_seq_[c]));
  std::string value = ops.back().value;
  size_t idx = ops.size() - 1;
  uint64_t id = next_call_++;
  const char* verb = hash ? (add ? "hset " : "hdel ") : (add ? "sadd " : "srem ");
  calls_[id] = Call{host, h.life, now_, std::string(verb) + member + " " + key + " via " + h.id,
                    [this, c, key, member, idx](Status s, Record) {
                      CollOp& op = coll_ops_[key][member][idx];
                      op.outcome = s.ok() ? CollOp::Outcome::kAcked : CollOp::Outcome::kFailed;
                      if (s.ok() && op.add && opt_.sabotage == Sabotage::kDropReplicaWrites) {
                        DropMember(key, member);
                      }
                      auto& st = op_stats_[key.rfind("czadd-", 0) == 0 ? "czadd"
                                           : key.rfind("chash-", 0) == 0 ? "chset" : "cset"];
                      ++(s.ok() ? st.first : st.second);
                      ClientNext(c);
                    }};
  calls_[id].rounds = 5;
  Step(h, [&](Node&) {
    cluster::UpdateElements(
        &h.coll, key, type, {member},
        [add, value](size_t, const std::optional<std::string>&) {
          // ZADD writes its score as ZADD does (EncodeScore), HSET its value, SADD nothing.
          return add ? cluster::ElementChange{cluster::ElementChange::kSet, value}
                     : cluster::ElementChange{cluster::ElementChange::kDelete, {}};
        },
        [this, id](Status st, cluster::UpdateResult) { FinishCall(id, std::move(st), Record{}); });
  }, "client collection op");
}

// Each hash's counter field and sorted set's score member, from every final owner's own
// engine (its value across the live generations, as a read resolves it): the owners agree,
// and the value lies between the acknowledged and the attempted increments (a counter loses
// no increment and counts none twice). Scores are counted in +0.5 steps (exact in binary).
void Sim::CheckHashCounters() {
  uint64_t now = kEpochMs + now_;
  for (auto& [key, ctr] : hctr_) {
    bool zset = IsZsetKey(key);
    const char type = static_cast<char>(zset ? cluster::CollectionType::kZset : cluster::CollectionType::kHash);
    std::optional<int64_t> first;
    std::string first_id;
    for (const std::string& id : RefHost().node->PreferenceList(key)) {
      Host& h = hosts_[HostById(id)];
      Record hdr;
      std::string bytes;
      if (h.engine->Get(DataKey(key), &bytes).ok()) (void)cluster::DecodeRecord(bytes, &hdr);
      cluster::HeaderView view;
      if (!cluster::ViewHeader(hdr, now, &view).ok()) Violate("convergence", key + ": bad header on " + id);
      std::vector<cluster::ElementView> views;
      for (uint64_t g : view.gens) {
        Record er;
        std::string eb;
        if (!h.engine->Get(DataKey(cluster::GenElementKey(type, key, g, "ctr")), &eb).ok()) continue;
        if (!cluster::DecodeRecord(eb, &er).ok()) {
          Violate("convergence", key + ": field ctr undecodable on " + id);
          continue;
        }
        cluster::ElementView ev;
        if (cluster::ResolveElement(er, now, &ev).ok()) views.push_back(std::move(ev));
      }
      cluster::ElementView all = cluster::ResolveAcross(views);
      int64_t v = 0;
      double score = 0;
      const bool fl = IsFloatKey(key);
      if (all.present && (zset ? !cluster::DecodeScore(all.value, &score)
                          : fl ? !all.float_counter
                               : !protocol::ParseRedisInt(all.value, &v))) {
        Violate("convergence", key + ": element ctr is not a number on " + id);
        continue;
      }
      if (zset) v = static_cast<int64_t>(score * 2);
      if (fl && all.present) v = static_cast<int64_t>(all.number * 2);
      if (!first) {
        first = v;
        first_id = id;
      } else if (*first != v) {
        Violate("convergence", "hash " + key + ": ctr is " + std::to_string(*first) + " on " + first_id + " but " +
                                   std::to_string(v) + " on " + id);
      }
    }
    if (!first) continue;
    auto [attempted, acked] = ctr;
    if (*first < acked) {
      Violate("lost-write", key + ": ctr is " + std::to_string(*first) + " steps after " + std::to_string(acked) +
                                " acknowledged increments");
    } else if (*first > attempted) {
      Violate("phantom", key + ": ctr is " + std::to_string(*first) + " steps but only " +
                             std::to_string(attempted) + " increments were attempted");
    }
  }
}

// Sabotage (drop-replica-writes): erase an acknowledged SADD's member, in every generation,
// from every engine, behind the nodes' backs. Must trip "lost-write" in CheckCollections.
void Sim::DropMember(const std::string& key, const std::string& member) {
  std::string prefix = cluster::ElementPrefix(MemberKeyType(key), key);
  for (auto& host : hosts_) {
    std::vector<std::string> doomed;
    (void)host.engine->Scan("d/", "d0", 0, [&](std::string_view dk, std::string_view) {
      std::string_view rk = cluster::ClientKeyOf(dk);
      if (rk.size() == prefix.size() + 8 + member.size() && rk.substr(0, prefix.size()) == prefix &&
          rk.substr(prefix.size() + 8) == member) {
        doomed.emplace_back(dk);
      }
      return true;
    });
    for (auto& k : doomed) (void)host.engine->Delete(k);
    (void)host.engine->Commit();
    if (host.node) host.node->DropCaches();  // we changed the engine behind the node's back
  }
  if (!sabotage_done_) Note("SABOTAGE: erased acknowledged SADD of " + member + " to " + key + " everywhere");
  sabotage_done_ = true;
}

// HINCRBY +1 of the one field "ctr" of a hash (chash), or ZINCRBY +0.5 of the one member
// "ctr" of a sorted set (czset), that every client increments, as the server runs them
// (AddToCounter / AddToScore: header read, the element in every live generation when there
// are several, then the counter add and the header write).
void Sim::OpCollCounter(int c, int host, const std::string& key, bool zset) {
  Host& h = hosts_[host];
  if (!h.node) return ClientNext(c);
  ++hctr_[key].first;
  uint64_t id = next_call_++;
  const bool fl = IsFloatKey(key);
  const char* cls = zset ? "czset" : fl ? "chfloat" : "chash";
  calls_[id] = Call{host, h.life, now_, std::string(zset ? "zincrby" : fl ? "hincrbyfloat" : "hincrby") + " ctr " + key + " via " + h.id,
                    [this, c, key, cls](Status s, Record) {
                      if (s.ok()) ++hctr_[key].second;
                      auto& st = op_stats_[cls];
                      ++(s.ok() ? st.first : st.second);
                      ClientNext(c);
                    }};
  calls_[id].rounds = 5;
  auto done = [this, id](Status st, cluster::ElementView) { FinishCall(id, std::move(st), Record{}); };
  Step(h, [&](Node&) {
    if (zset) {
      cluster::AddToScore(&h.coll, key, "ctr", 0.5, Status::Corruption("sorted set member holds no score"), done);
    } else if (fl) {
      cluster::AddToFloat(&h.coll, key, static_cast<char>(cluster::CollectionType::kHash), "ctr", 0.5L,
                          Status::Invalid("hash value is not a float"), done);
    } else {
      cluster::AddToCounter(&h.coll, key, static_cast<char>(cluster::CollectionType::kHash), "ctr", 1,
                            Status::Invalid("hash value is not an integer"), done);
    }
  }, "client collection op");
}

// LPUSH or RPUSH of a unique value, or LPOP or RPOP of one element, of a list, as the server
// runs them: the list engine (cluster/list_engine.h) on the coordinator's ListHost, through
// its per-key queue (so a command may wait behind the other clients' commands on the key).
void Sim::OpList(int c, int host, const std::string& key) {
  Host& h = hosts_[host];
  if (!h.node) return ClientNext(c);
  ListOp op;
  op.push = client_rng_.Uniform(2) != 0;  // as many pops as pushes: lists empty and start again
  op.left = client_rng_.Uniform(2) == 0;
  op.client = c;
  op.host = host;
  op.life = h.life;
  op.invoked_ms = now_;
  if (op.push) op.value = "l" + std::to_string(c) + "." + std::to_string(++client_seq_[c]);
  std::vector<ListOp>& ops = list_ops_[key];
  ops.push_back(op);
  size_t idx = ops.size() - 1;
  uint64_t id = next_call_++;
  std::string verb = std::string(op.left ? "l" : "r") + (op.push ? "push " + op.value : "pop");
  calls_[id] = Call{host, h.life, now_, verb + " " + key + " via " + h.id, [this, c, key, idx](Status s, Record) {
                      ListOp& lo = list_ops_[key][idx];
                      lo.outcome = s.ok() ? ListOp::Outcome::kAcked : ListOp::Outcome::kFailed;
                      lo.completed_ms = now_;
                      if (s.ok() && lo.push && opt_.sabotage == Sabotage::kDropReplicaWrites) {
                        DropListValue(key, lo.value);
                      }
                      auto& st = op_stats_["clist"];
                      ++(s.ok() ? st.first : st.second);
                      ClientNext(c);
                    }};
  // A list command waits in its key's queue behind the other clients' (one each), each of
  // which takes up to 5 steps (header read, element reads, writes, the emptied list's delete).
  calls_[id].rounds = 5 * (static_cast<uint64_t>(sc_.clients) + 1);
  Step(h, [&](Node&) {
    if (op.push) {
      cluster::ListPush(&h.coll, key, op.left, {op.value}, false,
                        [this, id](Status st, int64_t) { FinishCall(id, std::move(st), Record{}); });
    } else {
      cluster::ListPop(&h.coll, key, op.left, 1,
                       [this, id, key, idx](Status st, bool, std::vector<std::string> got) {
                         if (st.ok()) list_ops_[key][idx].got = std::move(got);
                         FinishCall(id, std::move(st), Record{});
                       });
    }
  }, "client list op");
}

// Sabotage (drop-replica-writes): erase the element record an acknowledged push wrote, from
// every engine, behind the nodes' backs. Must trip "lost-write" in CheckLists.
void Sim::DropListValue(const std::string& key, const std::string& value) {
  std::string prefix = DataKey(cluster::ElementPrefix(cluster::kListType, key));
  for (auto& host : hosts_) {
    std::vector<std::string> doomed;
    (void)host.engine->Scan(prefix, "", 0, [&](std::string_view dk, std::string_view v) {
      if (dk.substr(0, prefix.size()) != prefix) return false;
      Record rec;
      if (cluster::DecodeRecord(v, &rec).ok()) {
        for (const Sibling& sib : rec.siblings) {
          if (sib.value == value) doomed.emplace_back(dk);
        }
      }
      return true;
    });
    for (auto& k : doomed) (void)host.engine->Delete(k);
    (void)host.engine->Commit();
    if (host.node) host.node->DropCaches();
  }
  if (!sabotage_done_) Note("SABOTAGE: erased acknowledged push of " + value + " to " + key + " everywhere");
  sabotage_done_ = true;
}

// The clist workload's invariants, on the healed cluster. First an R=N read of every list's
// header and of all its elements in each live generation (range reads, which repair), then,
// from every final owner's own engine, the list in position order: the owners hold the same
// elements in the same order (convergence); every element was pushed by a client and is held
// once (phantom); no element an acknowledged pop returned is back (resurrection); every
// acknowledged push's value is in the list or was returned by an acknowledged pop, except
// for at most one per pop whose outcome its client never learned (lost-write); and two
// pushes of one client through one coordinator life are in the order Redis gives them
// (order: an RPUSH lands after, an LPUSH before, an earlier push's element).
void Sim::CheckLists() {
  auto open = std::make_shared<int>(0);
  uint64_t deadline = now_ + sc_.settle_max_ms;
  for (auto& [key, ops] : list_ops_) {
    std::vector<int> live = LiveHosts();
    int host = live[fault_rng_.Uniform(live.size())];
    ++*open;
    std::string k = key;
    bool sent = IssueRead(host, k, Pol(k).n, "final R=N list header read", [this, k, host, open](Status s, Record rec) {
      --*open;
      if (!s.ok()) return Violate("liveness", "final R=N read of list " + k + " failed: " + s.ToString());
      cluster::HeaderView view;
      if (!cluster::ViewHeader(rec, kEpochMs + now_, &view).ok()) return Violate("convergence", k + ": bad header");
      for (uint64_t g : view.gens) {
        // Page through the generation at R=N; each page's call starts the next. The function
        // refers to itself weakly: the call in flight holds it, so nothing leaks when a call
        // fails or the host is down.
        auto page = std::make_shared<std::function<void(std::string)>>();
        std::weak_ptr<std::function<void(std::string)>> weak = page;
        std::string prefix = cluster::GenElementPrefix(cluster::kListType, k, g);
        *page = [this, host, k, prefix, open, weak](std::string after) {
          Host& h = hosts_[host];
          if (!h.node) return;
          ++*open;
          uint64_t id = next_call_++;
          auto reply = std::make_shared<cluster::Node::RangeReply>();
          calls_[id] = Call{host, h.life, now_, "final R=N range read of " + k + " via " + h.id,
                            [this, k, open, self = weak.lock(), reply](Status s2, Record) {
                              --*open;
                              if (!s2.ok()) {
                                Violate("liveness", "final R=N range read of " + k + " failed: " + s2.ToString());
                              } else if (!reply->done && !reply->elements.empty()) {
                                (*self)(reply->elements.back().first);
                              }
                            }};
          Step(h, [&](Node& n) {
            n.ReadRange(prefix, after, 1000, Pol(k).n, [this, id, reply](Status s2, cluster::Node::RangeReply rr) {
              *reply = std::move(rr);
              FinishCall(id, std::move(s2), Record{});
            });
          }, "client range read");
        };
        (*page)("");
      }
    });
    if (!sent) --*open;
  }
  while (*open > 0 && now_ < deadline) RunUntil(now_ + sc_.tick_ms);
  Settle("the list sweep");
  uint64_t now = kEpochMs + now_;
  for (auto& entry : list_ops_) {
    const std::string& key = entry.first;  // not a structured binding: a lambda below uses it
    auto& ops = entry.second;
    std::optional<std::vector<std::pair<std::string, std::string>>> first;
    std::string first_id;
    for (const std::string& id : RefHost().node->PreferenceList(key)) {
      Host& h = hosts_[HostById(id)];
      Record hdr;
      std::string bytes;
      if (h.engine->Get(DataKey(key), &bytes).ok()) (void)cluster::DecodeRecord(bytes, &hdr);
      cluster::HeaderView view;
      if (!cluster::ViewHeader(hdr, now, &view).ok()) Violate("convergence", key + ": bad header on " + id);
      std::vector<std::pair<std::string, std::string>> items;  // (position, value)
      for (uint64_t g : view.gens) {
        std::string prefix = DataKey(cluster::GenElementPrefix(cluster::kListType, key, g));
        (void)h.engine->Scan(prefix, "", 0, [&](std::string_view dk, std::string_view v) {
          if (dk.substr(0, prefix.size()) != prefix) return false;
          std::string pos(dk.substr(prefix.size()));
          if (!cluster::IsListPosition(pos)) return true;  // the length counter
          Record er;
          cluster::ElementView ev;
          if (!cluster::DecodeRecord(v, &er).ok() || !cluster::ResolveElement(er, now, &ev).ok()) {
            Violate("convergence", key + ": element undecodable on " + id);
          } else if (ev.present) {
            items.emplace_back(std::move(pos), std::move(ev.value));
          }
          return true;
        });
      }
      std::sort(items.begin(), items.end());
      if (!first) {
        first = std::move(items);
        first_id = id;
      } else if (*first != items) {
        Violate("convergence", "list " + key + ": " + first_id + " and " + id + " hold different elements (" +
                                   std::to_string(first->size()) + " and " + std::to_string(items.size()) + ")");
      }
    }
    if (!first) continue;
    std::set<std::string> pushed, popped;
    std::vector<uint64_t> doubt_ends;  // when each pop in doubt completed (it removed at most one)
    for (const ListOp& op : ops) {
      if (op.push) pushed.insert(op.value);
    }
    for (const ListOp& op : ops) {
      if (!op.push && op.outcome != ListOp::Outcome::kAcked) doubt_ends.push_back(op.completed_ms);
      if (!op.push && op.outcome == ListOp::Outcome::kAcked) {
        for (const std::string& v : op.got) {
          popped.insert(v);
          if (!pushed.count(v)) Violate("phantom", "a pop of list " + key + " returned " + v + ", which no client pushed");
        }
      }
    }
    std::map<std::string, size_t> at;  // value -> index in the list
    for (size_t i = 0; i < first->size(); i++) {
      const std::string& v = (*first)[i].second;
      if (!pushed.count(v)) Violate("phantom", "list " + key + " holds " + v + ", which no client pushed");
      if (popped.count(v) && wipes_done_ == 0) Violate("resurrection", "list " + key + " holds " + v + ", which an acknowledged pop returned");
      if (!at.emplace(v, i).second) Violate("phantom", "list " + key + " holds " + v + " twice");
    }
    // Each acknowledged push missing from the list, and returned by no acknowledged pop, must
    // be matched to its own pop in doubt that could have taken it: one that completed after
    // the push was invoked. Pushes in invocation order each take the earliest-ending such pop
    // (a greedy that finds a full matching whenever one exists).
    std::vector<const ListOp*> missing;
    for (const ListOp& op : ops) {
      if (op.push && op.outcome == ListOp::Outcome::kAcked && !at.count(op.value) && !popped.count(op.value)) {
        missing.push_back(&op);
      }
    }
    std::sort(doubt_ends.begin(), doubt_ends.end());
    std::multiset<uint64_t> free_pops(doubt_ends.begin(), doubt_ends.end());
    const ListOp* unexcused = nullptr;
    size_t unexcused_count = 0;
    for (const ListOp* m : missing) {  // ops are in invocation order already
      auto it = free_pops.lower_bound(m->invoked_ms);
      if (it != free_pops.end()) {
        free_pops.erase(it);
      } else {
        if (!unexcused) unexcused = m;
        unexcused_count++;
      }
    }
    // A wipe may destroy every copy of a push (the taint model above covers plain keys only).
    if (wipes_done_ == 0 && unexcused) {
      Violate("lost-write", "list " + key + " lost " + std::to_string(unexcused_count) + " acknowledged push(es) (" +
                                unexcused->value + " ...) that no pop in doubt could have taken (" +
                                std::to_string(doubt_ends.size()) + " in doubt)");
    }
    std::map<std::pair<int, uint64_t>, std::vector<const ListOp*>> runs;  // (host, life) -> acked pushes
    for (const ListOp& op : ops) {
      if (op.push && op.outcome == ListOp::Outcome::kAcked && at.count(op.value)) {
        runs[{op.host * 1000 + op.client, op.life}].push_back(&op);
      }
    }
    for (auto& [who, pushes] : runs) {
      for (size_t i = 1; i < pushes.size(); i++) {
        const ListOp& a = *pushes[i - 1];
        const ListOp& b = *pushes[i];
        bool ok = b.left ? at[b.value] < at[a.value] : at[b.value] > at[a.value];
        if (!ok) {
          Violate("order", "list " + key + ": " + std::string(b.left ? "LPUSH " : "RPUSH ") + b.value + " after " +
                               a.value + " (one client, one coordinator) is on the wrong side of it");
        }
      }
    }
  }
}

bool Sim::IssueReadRecord(int host, const std::string& rkey, int r, std::string what,
                          std::function<void(Status, Record)> done) {
  Host& h = hosts_[host];
  if (!h.node) return false;
  uint64_t id = next_call_++;
  calls_[id] = Call{host, h.life, now_, what + " via " + h.id, std::move(done)};
  Step(h, [&](Node& n) {
    n.ReadRecord(rkey, r, [this, id](Status s, cluster::ReadReply rr) {
      FinishCall(id, std::move(s), std::move(rr.record));
    });
  }, "client read");
  return true;
}

// The cset workload's invariants, on the healed cluster. First an R=N read of every set's
// header and of each member in each of its live generations (read repair; the element
// records are not among the keys the final sweep reads), then, from every final owner's own
// engine: the owners hold the same members (convergence), every present member was added by
// some client (phantom), and each member is as its client's commands left it: present after
// an acknowledged SADD, absent after an acknowledged SREM, unless a command whose outcome the
// client never learned could have done otherwise (an add-wins set keeps an add the removal
// did not observe, so any unacknowledged SADD allows the member to stay).
void Sim::CheckCollections() {
  auto open = std::make_shared<int>(0);
  uint64_t deadline = now_ + sc_.settle_max_ms;
  // Every collection key with the elements to read: the sets' members, the hashes' counter.
  std::vector<std::tuple<std::string, char, std::vector<std::string>>> sweep;
  for (auto& [key, members] : coll_ops_) {
    std::vector<std::string> names;
    for (auto& [m, ops] : members) names.push_back(m);
    sweep.emplace_back(key, MemberKeyType(key), std::move(names));
  }
  for (auto& [key, ctr] : hctr_) {
    sweep.emplace_back(key, static_cast<char>(IsZsetKey(key) ? cluster::CollectionType::kZset : cluster::CollectionType::kHash),
                       std::vector<std::string>{"ctr"});
  }
  for (auto& item : sweep) {
    const std::string& key = std::get<0>(item);
    char type = std::get<1>(item);
    std::vector<std::string> names = std::get<2>(item);
    std::vector<int> live = LiveHosts();
    int host = live[fault_rng_.Uniform(live.size())];
    ++*open;
    std::string k = key;
    bool sent = IssueRead(host, key, Pol(key).n, "final R=N header read", [this, k, host, names, open, type](Status s, Record rec) {
      --*open;
      if (!s.ok()) return Violate("liveness", "final R=N read of collection " + k + " failed: " + s.ToString());
      cluster::HeaderView view;
      if (!cluster::ViewHeader(rec, kEpochMs + now_, &view).ok()) return Violate("convergence", k + ": bad header");
      for (uint64_t g : view.gens) {
        for (const auto& m : names) {
          ++*open;
          bool sent = IssueReadRecord(host, cluster::GenElementKey(type, k, g, m), Pol(k).n,
                                      "final R=N member read " + m + " of " + k,
                                      [this, open, k, m](Status s2, Record) {
                                        --*open;
                                        if (!s2.ok()) {
                                          Violate("liveness", "final R=N read of " + m + " in " + k +
                                                                  " failed: " + s2.ToString());
                                        }
                                      });
          if (!sent) --*open;
        }
      }
    });
    if (!sent) --*open;
  }
  while (*open > 0 && now_ < deadline) RunUntil(now_ + sc_.tick_ms);
  Settle("the collection sweep");
  CheckHashCounters();
  uint64_t now = kEpochMs + now_;
  for (auto& [key, members] : coll_ops_) {
    const char type = MemberKeyType(key);
    std::optional<std::set<std::string>> first;
    std::string first_id;
    // Hash fields and sorted-set members hold a register (a value, a score) to check.
    const bool is_zset = type == static_cast<char>(cluster::CollectionType::kZset);
    const bool hash = type == static_cast<char>(cluster::CollectionType::kHash) || is_zset;
    const std::string kind = is_zset ? "sorted set " : hash ? "hash " : "set ";
    const char* add_cmd = is_zset ? "ZADD" : hash ? "HSET" : "SADD";
    const char* rem_cmd = is_zset ? "ZREM" : hash ? "HDEL" : "SREM";
    auto show = [is_zset](const std::string& v) {
      double d = 0;
      return is_zset && cluster::DecodeScore(v, &d) ? std::to_string(d) : v;
    };
    // Hash fields: the value each owner shows (resolved across generations), and the values
    // of the first owner's live siblings.
    std::optional<std::map<std::string, std::string>> first_shown;
    std::map<std::string, std::set<std::string>> live_values;
    for (const std::string& id : RefHost().node->PreferenceList(key)) {
      Host& h = hosts_[HostById(id)];
      std::set<std::string> present;
      std::map<std::string, std::vector<cluster::ElementView>> views;
      std::map<std::string, std::set<std::string>> values;
      Record hdr;
      std::string bytes;
      if (h.engine->Get(DataKey(key), &bytes).ok()) (void)cluster::DecodeRecord(bytes, &hdr);
      cluster::HeaderView view;
      if (!cluster::ViewHeader(hdr, now, &view).ok()) Violate("convergence", key + ": bad header on " + id);
      for (uint64_t g : view.gens) {
        for (auto& [m, ops] : members) {
          Record er;
          std::string eb;
          if (!h.engine->Get(DataKey(cluster::GenElementKey(type, key, g, m)), &eb).ok()) continue;
          if (!cluster::DecodeRecord(eb, &er).ok()) {
            Violate("convergence", key + ": member " + m + " undecodable on " + id);
            continue;
          }
          cluster::ElementView ev;
          if (cluster::ResolveElement(er, now, &ev).ok() && ev.present) present.insert(m);
          if (!hash) continue;
          if (ev.present) views[m].push_back(ev);
          for (const Sibling* sib : cluster::LiveSiblings(er, now)) values[m].insert(sib->value);
        }
      }
      std::map<std::string, std::string> shown;
      for (auto& [m, vs] : views) {
        cluster::ElementView all = cluster::ResolveAcross(vs);
        if (all.present) shown[m] = all.value;
      }
      if (!first) {
        first = present;
        first_id = id;
        first_shown = shown;
        live_values = values;
      } else if (*first != present) {
        Violate("convergence", "set " + key + ": " + first_id + " and " + id + " hold different members");
      } else if (hash && *first_shown != shown) {
        Violate("convergence", kind + key + ": " + first_id + " and " + id + " show different values");
      }
    }
    if (!first) continue;
    for (auto& [m, ops] : members) {
      bool is = first->count(m) > 0;
      int last_acked = -1;
      bool any_failed_add = false;
      for (size_t i = 0; i < ops.size(); ++i) {
        if (ops[i].outcome == CollOp::Outcome::kAcked) last_acked = static_cast<int>(i);
        if (ops[i].outcome != CollOp::Outcome::kAcked && ops[i].add) any_failed_add = true;
      }
      bool later_failed_rem = false;
      for (size_t i = static_cast<size_t>(last_acked + 1); i < ops.size(); ++i) {
        if (ops[i].outcome != CollOp::Outcome::kAcked && !ops[i].add) later_failed_rem = true;
      }
      if (last_acked < 0) {
        if (is && !any_failed_add) Violate("phantom", kind + key + " holds " + m + ", which no client added");
        continue;
      }
      if (hash) {
        // Every live value of the field was written to it by its client (phantom); the last
        // acknowledged HSET's value is still there, as the value or as a concurrent sibling,
        // unless a later command in doubt may have replaced or removed it (lost-write).
        std::set<std::string> written;
        for (const CollOp& op : ops) {
          if (op.add) written.insert(op.value);
        }
        for (const std::string& v : live_values[m]) {
          if (!written.count(v)) Violate("phantom", kind + key + " " + m + " holds \"" + show(v) + "\", which its client never wrote");
        }
        bool later_in_doubt = false;
        for (size_t i = static_cast<size_t>(last_acked + 1); i < ops.size(); ++i) {
          later_in_doubt |= ops[i].outcome != CollOp::Outcome::kAcked;
        }
        const CollOp& last = ops[static_cast<size_t>(last_acked)];
        if (last.add && !later_in_doubt && !live_values[m].count(last.value)) {
          Violate("lost-write", kind + key + " " + m + " lost \"" + show(last.value) + "\", its last acknowledged " + add_cmd);
        }
      }
      const std::string what = kind + key;
      if (ops[static_cast<size_t>(last_acked)].add) {
        if (!is && !later_failed_rem) {
          Violate("lost-write", what + " lost " + m + ": its last acknowledged command was " + add_cmd);
        }
      } else if (is && !any_failed_add) {
        Violate("resurrection", what + " holds " + m + ", removed by an acknowledged " + rem_cmd + " with no add in doubt");
      }
    }
  }
}

void Sim::OnWriteDone(size_t wi, Status s, const Record& rec) {
  WriteRec& w = writes_[wi];
  KeyState& ks = keys_[w.key];
  auto& st = op_stats_[ClsName(w.cls)];
  w.completed_ms = now_;
  if (!opt_.trace_key.empty() && w.key == opt_.trace_key) {
    std::fprintf(stderr, "t=%" PRIu64 " CLIENT c%d %s %s invoked t=%" PRIu64 " ctx=%s -> %s %s\n", now_,
                 w.client, ClsName(w.cls), w.op == OpKind::kDelete ? "<delete>" : w.value.c_str(),
                 w.invoked_ms, CtxStr(w.req_ctx).c_str(), s.ToString().c_str(),
                 s.ok() ? SiblingsStr(rec).c_str() : "");
  }
  if (!s.ok()) {
    w.outcome = WriteRec::Outcome::kFailed;
    ++st.second;
    return;
  }
  w.outcome = WriteRec::Outcome::kAcked;
  ++st.first;
  // Find our sibling in the coordinator's record after the write.
  std::vector<const Sibling*> mine;
  for (const auto& sib : rec.siblings) {
    if (w.op == OpKind::kPut && sib.kind == ValueKind::kPlain && sib.value == w.value) {
      mine.push_back(&sib);
    } else if ((w.op == OpKind::kCounterAdd || w.op == OpKind::kScoreAdd) && sib.kind == ValueKind::kCounter) {
      mine.push_back(&sib);  // the counter write superseded everything the coordinator knew
    } else if (w.op == OpKind::kDelete && sib.kind == ValueKind::kTombstone &&
               !cluster::Supersedes(w.req_ctx, sib)) {
      mine.push_back(&sib);
    }
  }
  if (mine.size() == 1) {
    w.sibling = *mine[0];
    RegisterDot(w.key, *mine[0], "ack of " + std::string(ClsName(w.cls)) + " write");
  } else if (w.op == OpKind::kPut && mine.empty()) {
    Violate("lost-write", "acknowledged put of \"" + w.value + "\" to " + w.key +
                              " is not in the coordinator's own record " + SiblingsStr(rec));
  } else if (w.op == OpKind::kPut) {
    // Values are unique per client write, so two siblings with our value mean the
    // coordinator applied one client write twice (two dots).
    Violate("idempotence", "one put of \"" + w.value + "\" to " + w.key + " was applied " +
                               std::to_string(mine.size()) + " times: " + SiblingsStr(rec));
  }
  // What this write superseded: the client's context, or (blind writes) all the
  // coordinator knew, which its record's context now records.
  w.cover_ctx = w.has_ctx ? w.req_ctx : rec.context;
  if (w.op == OpKind::kCounterAdd || w.op == OpKind::kScoreAdd) ++ks.ctr_acked;
  if (w.op == OpKind::kDelete) {
    for (const auto& v : w.deleted_values) ks.deleted_values.insert(v);
  }
  CheckDurable(w);
  DoSabotage("ack", w.key, &w);
}

// ---- inspection -------------------------------------------------------------------------

std::map<std::string, std::vector<Record>> Sim::HintsOf(Host& h) {
  std::map<std::string, std::vector<Record>> out;
  std::vector<std::pair<std::string, std::string>> raw;
  (void)h.engine->Scan("h/", "h0", 0, [&](std::string_view k, std::string_view v) {
    raw.emplace_back(std::string(k), std::string(v));
    return true;
  });
  for (auto& [k, v] : raw) {
    size_t nul = k.find('\0', 2);
    if (nul == std::string::npos) continue;
    Record rec;
    if (!cluster::DecodeRecord(v, &rec).ok()) continue;
    out[k.substr(nul + 1)].push_back(std::move(rec));
  }
  return out;
}

std::vector<Record> Sim::StateOf(Host& h, const std::string& key) {
  std::vector<Record> out;
  std::string bytes;
  if (h.engine->Get(DataKey(key), &bytes).ok()) {
    Record rec;
    if (cluster::DecodeRecord(bytes, &rec).ok()) out.push_back(std::move(rec));
  }
  auto hints = HintsOf(h);
  if (auto it = hints.find(key); it != hints.end()) {
    for (auto& r : it->second) out.push_back(std::move(r));
  }
  return out;
}

// Before a wipe (pending already dropped): a key is tainted when the wiped node holds
// state for it that the union of every other node's data and hints does not.
void Sim::TaintOnWipe(Host& wiped, const char* what) {
  for (auto& [key, ks] : keys_) {
    Record others, all;
    for (auto& h : hosts_) {
      // Hosts gone for good (left, removed) hold nothing the cluster can still use.
      if (h.index != wiped.index && !Restartable(h)) continue;
      for (const Record& r : StateOf(h, key)) {
        all = cluster::Join(all, r);
        if (h.index != wiped.index) others = cluster::Join(others, r);
      }
    }
    if (!(all == others) && !ks.tainted) {
      ks.tainted = true;
      ks.taint_reason = std::string(what) + " of " + wiped.id + " at t=" + std::to_string(now_);
      Note("key " + key + " tainted: the " + what + " of " + wiped.id +
           " destroyed state held nowhere else");
    }
  }
}

void Sim::RegisterDot(const std::string& key, const Sibling& s, const std::string& where) {
  std::string sig = std::to_string(static_cast<int>(s.kind)) + "|" + std::to_string(s.timestamp_ms) +
                    "|" + s.value;
  auto [it, fresh] = dots_.try_emplace({key, s.dot.actor, s.dot.counter}, sig);
  if (!fresh && it->second != sig) {
    Violate("dot-reuse", where + ": dot " + DotStr(s.dot) + " of key " + key +
                             " names two different siblings (a reissued dot, kv679)");
  }
}

// At the moment the client sees the ack, >= W nodes must hold the write durably (data or
// hint), either as the sibling itself or superseded by a later write they hold.
void Sim::CheckDurable(const WriteRec& w) {
  if (!w.sibling || w.wipes_at_invoke != wipes_done_) return;  // a wipe may have taken a copy
  const Dot& d = w.sibling->dot;
  int holders = 0;
  std::string who;
  for (auto& h : hosts_) {
    bool has = false;
    for (const Record& r : StateOf(h, w.key)) {
      if (r.context.Covers(d)) has = true;
      for (const auto& s : r.siblings) has |= s.dot == d;
    }
    if (has) {
      ++holders;
      who += h.id + " ";
    }
  }
  if (holders < Pol(w.key).w) {
    Violate("durability", std::string(ClsName(w.cls)) + " write to " + w.key + " (dot " +
                              DotStr(d) + ") acknowledged with W=" + std::to_string(Pol(w.key).w) +
                              " but durable on only " + std::to_string(holders) +
                              " node(s): " + who);
  }
}

// ---- sabotage (checker self-tests) -------------------------------------------------------

void Sim::DoSabotage(const char* hook, const std::string& key, const WriteRec* w) {
  std::string h = hook;
  if (opt_.sabotage == Sabotage::kDropReplicaWrites && h == "ack" && w->cls == Cls::kCart) {
    for (auto& host : hosts_) {
      (void)host.engine->Delete(DataKey(key));
      std::vector<std::string> hk;
      (void)host.engine->Scan("h/", "h0", 0, [&](std::string_view k, std::string_view) {
        size_t nul = k.find('\0');
        if (nul != std::string_view::npos && k.substr(nul + 1) == key) hk.emplace_back(k);
        return true;
      });
      for (auto& k : hk) (void)host.engine->Delete(k);
      (void)host.engine->Commit();
      // We changed the engine behind the node's back: its row cache must forget (node.h).
      if (host.node) host.node->DropCaches();
    }
    if (!sabotage_done_) Note("SABOTAGE: erased acknowledged cart write to " + key + " everywhere");
    sabotage_done_ = true;
  }
  if (opt_.sabotage == Sabotage::kResurrect && h == "chaos-end" && !sabotage_done_) {
    // Put the values of an acknowledged delete back on a replica of the key, under dots of a
    // made-up actor that the tombstone's context does not cover (as if the delete had been
    // forgotten there).
    for (auto& [k, ks] : keys_) {
      if (ks.deleted_values.empty() || ks.tainted) continue;
      Host& host = hosts_[HostById(RefHost().node->PreferenceList(k)[0])];
      std::string bytes;
      Record rec, planted;
      if (host.engine->Get(DataKey(k), &bytes).ok()) (void)cluster::DecodeRecord(bytes, &rec);
      uint64_t c = 0;
      for (const auto& v : ks.deleted_values) {
        Sibling s;
        s.dot = {0x5AB07A6E, ++c};
        s.timestamp_ms = kEpochMs + now_;
        s.value = v;
        planted.siblings.push_back(s);
      }
      planted.context.Raise(0x5AB07A6E, c, kEpochMs + now_);
      rec = cluster::Join(rec, planted);  // Join keeps the record canonical (sorted siblings)
      (void)host.engine->Put(DataKey(k), cluster::EncodeRecord(rec));
      (void)host.engine->Commit();
      if (host.node) host.node->DropCaches();
      Note("SABOTAGE: resurrected the deleted values of " + k + " on " + host.id);
      sabotage_done_ = true;
      break;
    }
  }
  if (opt_.sabotage == Sabotage::kPhantom && h == "chaos-end" && !sabotage_done_) {
    for (auto& [k, ks] : keys_) {
      if (ks.cls != Cls::kCart && ks.cls != Cls::kSet) continue;
      Host& host = RefHost();
      std::string bytes;
      Record rec, planted;
      if (host.engine->Get(DataKey(k), &bytes).ok()) (void)cluster::DecodeRecord(bytes, &rec);
      Sibling s;
      s.dot = {0xBAD0BAD0, 1};
      s.timestamp_ms = kEpochMs + now_;
      s.value = "phantom";
      planted.siblings.push_back(s);
      planted.context.Raise(0xBAD0BAD0, 1, kEpochMs + now_);
      rec = cluster::Join(rec, planted);
      (void)host.engine->Put(DataKey(k), cluster::EncodeRecord(rec));
      (void)host.engine->Commit();
      if (host.node) host.node->DropCaches();
      Note("SABOTAGE: planted a phantom sibling in " + k + " on " + host.id);
      sabotage_done_ = true;
      break;
    }
  }
}

// ---- membership ([membership]) ------------------------------------------------------------

// Joins, leaves, removes and replaces at seeded random times in the chaos phase (the same
// window as crashes). Every choice comes from member_rng_, so the other streams (network,
// faults, clients) draw exactly what they would without these events.
void Sim::ScheduleMembership() {
  auto when = [&]() {
    return now_ + sc_.duration_ms / 10 + member_rng_.Uniform(sc_.duration_ms * 3 / 4 + 1);
  };
  auto plan = [&](int count, std::function<void()> fn) {
    for (int i = 0; i < count; ++i) {
      ++member_ops_pending_;
      At(when(), fn);
    }
  };
  plan(sc_.joins, [this]() {
    if (JoinSpare("join") >= 0) ++joins_done_;
    --member_ops_pending_;
  });
  plan(sc_.leaves, [this]() { DoLeave(); });
  plan(sc_.removes, [this]() { DoRemove(); });
  plan(sc_.replaces, [this]() { DoReplace(); });
}

// Starts the next spare host (empty engine, the cluster's seeds) and has it join through a
// random running member. Returns its index, or -1 when there is no spare or no contact.
int Sim::JoinSpare(const char* why) {
  int spare = -1;
  for (const auto& h : hosts_) {
    if (h.role == Role::kSpare) {
      spare = h.index;
      break;
    }
  }
  std::vector<int> contacts = Eligible();
  if (spare < 0 || contacts.empty()) {
    Note(std::string("MEMBERSHIP: ") + why + " skipped (" +
         (spare < 0 ? "no spare host left" : "no running member to contact") + ")");
    return -1;
  }
  Host& c = hosts_[contacts[member_rng_.Uniform(contacts.size())]];
  Host& h = hosts_[spare];
  SnapshotCopies(h.id + " joins");
  h.role = Role::kMember;
  Note("MEMBERSHIP: " + h.id + " joins through " + c.id + " (" + why + ")");
  StartNode(h);
  Status st;
  Step(h, [&](Node& n) { st = n.Join(c.addr); }, "join");
  if (!st.ok()) Violate("liveness", h.id + ": Join(" + c.addr + ") failed: " + st.ToString());
  return spare;
}

void Sim::DoLeave() {
  --member_ops_pending_;
  std::vector<int> cand = Eligible();
  if (cand.empty() || OwningMembers() - 1 < sc_.n) {
    Note(std::string("MEMBERSHIP: leave skipped (") +
         (cand.empty() ? "no running member" : "it would leave fewer than n members") + ")");
    return;
  }
  Host& h = hosts_[cand[member_rng_.Uniform(cand.size())]];
  SnapshotCopies(h.id + " leaves");
  Status st;
  Step(h, [&](Node& n) { st = n.Leave(); }, "leave");
  if (!st.ok()) {
    Violate("liveness", h.id + ": Leave() failed: " + st.ToString());
    return;
  }
  h.role = Role::kLeaving;
  ++leaves_done_;
  Note("MEMBERSHIP: " + h.id + " leaves (DYNAMO LEAVE)");
  WatchLeaver(h.index);
}

void Sim::DoRemove() {
  std::vector<int> cand = Eligible();
  if (cand.empty() || OwningMembers() - 1 < sc_.n) {
    Note(std::string("MEMBERSHIP: remove skipped (") +
         (cand.empty() ? "no running member" : "it would leave fewer than n members") + ")");
    --member_ops_pending_;
    return;
  }
  Host& v = hosts_[cand[member_rng_.Uniform(cand.size())]];
  Doom(v, "to be removed");
  AwaitRemoval(v.index, "remove");
}

// A spare joins; once every running member sees it up, a random other member is crashed for
// good and, once seen down, removed (Node has no Replace yet: Remove(old) after the join).
void Sim::DoReplace() {
  int spare = JoinSpare("replace");
  if (spare < 0) {
    --member_ops_pending_;
    return;
  }
  auto poll = std::make_shared<std::function<void()>>();
  *poll = [this, spare, poll = std::weak_ptr<std::function<void()>>(poll)]() {
    const Host& s = hosts_[spare];
    bool up = s.role == Role::kMember && s.node;
    for (const auto& h : hosts_) {
      if (up && h.role == Role::kMember && h.node) up = StatusIn(h, s.id) == "up";
    }
    if (!up) return At(now_ + sc_.tick_ms, Again(poll));
    std::vector<int> cand;
    for (int i : Eligible()) {
      if (i != spare) cand.push_back(i);
    }
    if (OwningMembers() - 1 < sc_.n) {
      Note("MEMBERSHIP: replace: removal skipped (it would leave fewer than n members)");
      --member_ops_pending_;
      return;
    }
    if (cand.empty()) return At(now_ + sc_.tick_ms, Again(poll));  // every other member is down
    Host& v = hosts_[cand[member_rng_.Uniform(cand.size())]];
    Note("MEMBERSHIP: " + s.id + " is up everywhere; it replaces " + v.id);
    Doom(v, "to be replaced");
    AwaitRemoval(v.index, "replace");
  };
  At(now_ + sc_.tick_ms, Again(poll));
}

// Crashed for good: its data is lost (keys whose only state it held are tainted, as by a
// wipe); it never restarts.
void Sim::Doom(Host& h, const char* why) {
  SnapshotCopies(h.id + " dies for good");
  CrashNow(h, false, why);
  h.role = Role::kDoomed;
  TaintOnWipe(h, "permanent crash");
}

// Once every running member sees the doomed node down, a random running member removes it.
void Sim::AwaitRemoval(int idx, const char* kind) {
  auto poll = std::make_shared<std::function<void()>>();
  *poll = [this, idx, kind, poll = std::weak_ptr<std::function<void()>>(poll)]() {
    Host& v = hosts_[idx];
    if (v.role != Role::kDoomed) return;
    bool seen = false, all_down = true;
    for (const auto& h : hosts_) {
      if (h.role != Role::kMember || !h.node) continue;
      seen = true;
      std::string st = StatusIn(h, v.id);
      all_down &= st == "down" || st == "removed";
    }
    std::vector<int> cand = Eligible();
    if (seen && all_down && !cand.empty()) {
      Host& r = hosts_[cand[member_rng_.Uniform(cand.size())]];
      Status st;
      Step(r, [&](Node& n) { st = n.Remove(v.id); }, "remove");
      if (st.ok()) {
        v.role = Role::kRemoved;
        --member_ops_pending_;
        ++(std::string(kind) == "replace" ? replaces_done_ : removes_done_);
        Note("MEMBERSHIP: " + r.id + " removes " + v.id + " (DYNAMO REMOVE, " + kind + ")");
        return;
      }
      Note("MEMBERSHIP: " + r.id + ": Remove(" + v.id + ") failed: " + st.ToString());
    }
    At(now_ + sc_.tick_ms, Again(poll));
  };
  At(now_ + sc_.tick_ms, Again(poll));
}

// A leaver runs until its own view says it is removed (its handoff is done); then it stops.
void Sim::WatchLeaver(int idx) {
  auto poll = std::make_shared<std::function<void()>>();
  *poll = [this, idx, poll = std::weak_ptr<std::function<void()>>(poll)]() {
    Host& h = hosts_[idx];
    if (h.role != Role::kLeaving) return;
    if (h.node && StatusIn(h, h.id) == "removed") {
      Retire(h, "removed in its own view");
      return;
    }
    At(now_ + sc_.tick_ms, Again(poll));
  };
  At(now_ + sc_.tick_ms, Again(poll));
}

// Stops a node that left, for good (a clean stop between steps: nothing is pending).
void Sim::Retire(Host& h, const char* why) {
  if (h.node) {
    AccumulateStats(h);
    (void)h.engine->Commit();
    h.reaper.reset();
    h.node.reset();
  }
  ++h.life;
  h.crash_armed = false;
  h.outbox.clear();
  h.replies.clear();
  h.role = Role::kLeft;
  Note("MEMBERSHIP: " + h.id + " stopped for good (" + why + ")");
  DropCalls(h);
}

// Just before a membership change: how many owners (the preference list as a running member
// sees it now) hold each acknowledged write in their data records.
void Sim::SnapshotCopies(const std::string& before) {
  Host& ref = RefHost();
  if (!ref.node) return;
  for (auto& [key, ks] : keys_) {
    std::vector<Record> owners;
    for (auto& id : ref.node->PreferenceList(key)) {
      int idx = HostById(id);
      std::string bytes;
      Record r;
      if (idx >= 0 && hosts_[idx].engine->Get(DataKey(key), &bytes).ok()) {
        (void)cluster::DecodeRecord(bytes, &r);
      }
      owners.push_back(std::move(r));
    }
    for (size_t wi : ks.writes) {
      WriteRec& w = writes_[wi];
      if (w.outcome != WriteRec::Outcome::kAcked || !w.sibling) continue;
      int held = 0;
      for (const Record& r : owners) held += Holds(r, w.sibling->dot);
      w.owner_copies = std::max(w.owner_copies, held);
    }
  }
  Note("membership: owner copies counted before " + before);
}

// --oracle-handoff: every key's final owners get the Join of the records of every node that
// still has data (not the removed ones), as a perfect handoff would leave them.
void Sim::OracleHandoff() {
  Host& ref = RefHost();
  if (!ref.node) return;
  for (auto& [key, ks] : keys_) {
    Record all;
    for (auto& h : hosts_) {
      if (!Restartable(h) && h.role != Role::kLeft) continue;
      std::string bytes;
      Record r;
      if (h.engine->Get(DataKey(key), &bytes).ok() && cluster::DecodeRecord(bytes, &r).ok()) {
        all = cluster::Join(all, r);
      }
    }
    if (all.siblings.empty() && all.context.entries().empty()) continue;
    for (auto& id : ref.node->PreferenceList(key)) {
      Host& h = hosts_[HostById(id)];
      std::string bytes;
      Record r;
      if (h.engine->Get(DataKey(key), &bytes).ok()) (void)cluster::DecodeRecord(bytes, &r);
      (void)h.engine->Put(DataKey(key), cluster::EncodeRecord(cluster::Join(r, all)));
    }
  }
  for (auto& h : hosts_) {
    if (!h.node) continue;
    (void)h.engine->Commit();
    h.node->DropCaches();  // we changed the engine behind the node's back (node.h)
  }
  Note("ORACLE: every key's records moved to its final owners");
}

// `handoff` and `under-replicated`: the cluster has settled after the chaos phase and nothing
// has read since (no R=N sweep yet, so no read repair hides a missing transfer). Every
// acknowledged write must be in the local record (the engine's data, not hints) of at least
// one final owner; and of at least W of them, and of at least as many as held it before a
// membership change (SnapshotCopies: a change must not lower a write's replication; a removed
// node's copies are re-replicated), unless a wipe happened since it was invoked.
// "Holds" = has the write's sibling, or a context that covers its dot (it was superseded by
// a write that saw it).
void Sim::CheckHandoff() {
  Host& ref = RefHost();
  for (auto& [key, ks] : keys_) {
    if (ks.tainted) continue;
    std::vector<std::string> pref = ref.node->PreferenceList(key);
    std::vector<std::pair<std::string, Record>> owners;
    for (auto& id : pref) {
      Record r;
      int idx = HostById(id);
      std::string bytes;
      if (idx >= 0 && hosts_[idx].engine->Get(DataKey(key), &bytes).ok()) {
        (void)cluster::DecodeRecord(bytes, &r);
      }
      owners.emplace_back(id, std::move(r));
    }
    // One violation per key and kind: its first write that fails, and how many more do.
    std::map<std::string, std::pair<std::string, int>> found;  // id -> (detail, count)
    for (size_t wi : ks.writes) {
      const WriteRec& w = writes_[wi];
      if (w.outcome != WriteRec::Outcome::kAcked || !w.sibling) continue;
      // No exemption for later writes (unlike lost-write): a write leaves a replica's record
      // only when a context that covers its dot supersedes it, and covered counts as held.
      // A blind SET does not cover siblings its coordinator never saw.
      const Dot& d = w.sibling->dot;
      int held = 0;
      std::string have, lack;
      for (auto& [id, r] : owners) {
        if (Holds(r, d)) {
          ++held;
          have += " " + id;
        } else {
          lack += " " + id;
        }
      }
      // At least W, and as many as its owners held before the last change (capped at N).
      int need = std::max(Pol(key).w, std::min(Pol(key).n, w.owner_copies));
      if (held >= need) continue;
      if (held > 0 && w.wipes_at_invoke != wipes_done_) continue;  // a wipe may have taken one
      auto& [detail, count] = found[held == 0 ? "handoff" : "under-replicated"];
      if (count++ > 0) continue;
      // Where it is instead (old owners, departed nodes; data or hint): the proof that the
      // write was stored and then not moved.
      std::string elsewhere;
      for (auto& h : hosts_) {
        if (std::find(pref.begin(), pref.end(), h.id) != pref.end()) continue;
        for (const Record& r : StateOf(h, key)) {
          if (Holds(r, d)) {
            elsewhere += " " + h.id + "(" + RoleName(h.role) + ")";
            break;
          }
        }
      }
      std::string what = std::string("acknowledged ") + ClsName(w.cls) + " " +
                         (w.op == OpKind::kDelete ? "delete"
                          : (w.op == OpKind::kCounterAdd || w.op == OpKind::kScoreAdd) ? "increment"
                          : w.cls == Cls::kCart ? "add of \"" + w.item + "\""
                                                : "put of \"" + w.value + "\"") +
                         " to " + key + " (dot " + DotStr(d) + ", t=" +
                         std::to_string(w.invoked_ms) + ".." + std::to_string(w.completed_ms) + ")";
      std::string where = "; held only by non-owners:" + (elsewhere.empty() ? " none" : elsewhere);
      if (held == 0) {
        detail = what + " is in the local record of none of its final owners {" + lack + " }" +
                 where;
      } else {
        detail = what + " is held locally by " + std::to_string(held) + " of its final owners {" +
                 have + " }, not by {" + lack + " }; it needs " + std::to_string(need) + " (W=" +
                 std::to_string(Pol(key).w) +
                 (w.owner_copies > 0 ? "; " + std::to_string(w.owner_copies) +
                                           " owners held it before a membership change)"
                                     : ")") +
                 where;
      }
    }
    for (auto& [inv, dc] : found) {
      Violate(inv, dc.first + (dc.second > 1 ? " (and " + std::to_string(dc.second - 1) +
                                                   " more acknowledged write(s) to " + key + ")"
                                             : ""));
    }
  }
}

// ---- phases -----------------------------------------------------------------------------

bool Sim::Quiet(std::string* why) {
  if (!calls_.empty()) return *why = std::to_string(calls_.size()) + " client request(s) open", false;
  if (data_in_flight_ > 0) {
    return *why = std::to_string(data_in_flight_) + " non-gossip frame(s) in flight", false;
  }
  for (auto& h : hosts_) {
    if (h.role == Role::kDoomed) return *why = "the removal of " + h.id + " is pending", false;
    if (!h.node && Restartable(h)) return *why = h.id + " is down", false;
  }
  if (member_ops_pending_ > 0) {
    return *why = std::to_string(member_ops_pending_) + " membership change(s) in progress", false;
  }
  for (auto& h : hosts_) {
    if (!Restartable(h)) continue;  // spares hold nothing; a departed node's hints are gone
    size_t hints = 0;
    (void)h.engine->Scan("h/", "h0", 0, [&](std::string_view, std::string_view) {
      ++hints;
      return true;
    });
    if (hints) return *why = h.id + " still holds " + std::to_string(hints) + " hint(s)", false;
  }
  // Every running node knows every host that ever started: members as up, departed nodes
  // as owning nothing (leaving or removed). Without [membership]: all hosts, all up.
  size_t known = 0;
  for (auto& h : hosts_) known += h.role != Role::kSpare;
  for (auto& h : hosts_) {
    if (!h.node) continue;
    auto members = h.node->Members();
    if (members.size() != known) {
      return *why = h.id + " knows " + std::to_string(members.size()) + " members", false;
    }
    for (auto& m : members) {
      int idx = HostByAddr(m.cluster_addr);
      Role role = idx < 0 ? Role::kSpare : hosts_[idx].role;
      bool ok = role == Role::kMember ? m.status == "up"
                : role == Role::kRemoved ? m.status == "removed"
                : role == Role::kLeaving || role == Role::kLeft
                    ? m.status == "leaving" || m.status == "removed"
                    : false;
      if (!ok) return *why = h.id + " sees " + m.id + " as " + m.status, false;
    }
  }
  return true;
}

// Runs until the cluster is quiet (twice, a request timeout apart), or reports why not.
bool Sim::Settle(const char* phase) {
  uint64_t deadline = now_ + sc_.settle_max_ms;
  std::string why;
  bool quiet_once = false;
  uint64_t recheck_at = 0, data_mark = 0;
  while (now_ < deadline) {
    RunUntil(now_ + sc_.tick_ms);
    if (!Quiet(&why)) {
      quiet_once = false;
      continue;
    }
    if (!quiet_once) {
      quiet_once = true;
      recheck_at = now_ + sc_.request_timeout_ms + 2 * sc_.tick_ms;
      data_mark = data_sent_;
    } else if (sc_.membership && data_sent_ != data_mark) {
      // With membership changes, data moves between samples (handoff streams in batches):
      // quiet means no data frame at all was sent for the whole window. Start it again.
      recheck_at = now_ + sc_.request_timeout_ms + 2 * sc_.tick_ms;
      data_mark = data_sent_;
    } else if (now_ >= recheck_at) {
      Note(std::string("quiet after ") + phase);
      return true;
    }
  }
  std::string inv = why.find("hint") != std::string::npos ? "hints-drained" : "liveness";
  Violate(inv, std::string("the cluster did not go quiet within settle_max_ms after ") + phase +
                   ": " + why);
  return false;
}

// Sloppy quorum (Dynamo §4.6): with `down` nodes dead and declared down, every write from a
// live node reaches W healthy nodes (stand-ins holding hints) and must succeed.
void Sim::AvailabilityProbe() {
  std::vector<int> order;  // the final members (every host without [membership])
  for (const auto& h : hosts_) {
    if (h.role == Role::kMember) order.push_back(h.index);
  }
  int down = std::min(sc_.availability_down, static_cast<int>(order.size()) - sc_.w);
  for (size_t i = order.size() - 1; i > 0; --i) std::swap(order[i], order[fault_rng_.Uniform(i + 1)]);
  std::vector<int> victims(order.begin(), order.begin() + down);
  for (int v : victims) CrashNow(hosts_[v], false, "for the availability probe");
  // Wait until every live node has declared every victim down.
  uint64_t deadline = now_ + 3 * sc_.down_after_ms + 10 * sc_.gossip_interval_ms;
  auto all_down = [&]() {
    for (auto& h : hosts_) {
      if (!h.node) continue;
      for (auto& m : h.node->Members()) {
        int idx = HostByAddr(m.cluster_addr);
        if (idx >= 0 && !hosts_[idx].node && hosts_[idx].role == Role::kMember &&
            m.status != "down") {
          return false;
        }
      }
    }
    return true;
  };
  while (!all_down() && now_ < deadline) RunUntil(now_ + sc_.tick_ms);
  if (!all_down()) {
    Violate("liveness", "failure detection: dead nodes were not declared down in time");
  }
  Note("availability probe: " + std::to_string(down) + " node(s) down, " +
       std::to_string(sc_.availability_writes) + " writes");
  const int probe_client = sc_.clients;  // the probe counts as one more writer
  for (int i = 0; i < sc_.availability_writes; ++i) {
    std::vector<int> live = LiveHosts();
    int host = live[fault_rng_.Uniform(live.size())];
    std::string key = "avail-" + std::to_string(i);
    Key(key, Cls::kAvail);
    size_t w = NewWrite(probe_client, key, Cls::kAvail, OpKind::kPut);
    writes_[w].value = "a." + std::to_string(i);
    keys_[key].attempted_values.insert(writes_[w].value);
    cluster::WriteRequest req;
    req.value.value = writes_[w].value;
    auto result = std::make_shared<std::optional<Status>>();
    IssueWrite(host, key, std::move(req), "probe write", [this, w, result](Status s, Record rec) {
      OnWriteDone(w, s, rec);
      *result = s;
    });
    uint64_t deadline = now_ + sc_.settle_max_ms;
    while (!*result && now_ < deadline) RunUntil(now_ + sc_.tick_ms);
    if (!*result) {
      Violate("liveness", "probe write of " + key + " never completed");
    } else if (!(*result)->ok()) {
      std::string pref;
      for (auto& p : hosts_[host].node->PreferenceList(key)) {
        pref += p + (hosts_[HostById(p)].node ? "(up) " : "(DOWN) ");
      }
      Violate("availability",
              "write of " + key + " via " + hosts_[host].id + " failed (" + (*result)->ToString() +
                  ") with " + std::to_string(static_cast<int>(order.size()) - down) +
                  " live nodes >= W=" +
                  std::to_string(sc_.w) + "; preference list " + pref);
    }
  }
  for (int v : victims) StartNode(hosts_[v]);
}

// Without anti-entropy ([anti_entropy] interval_ms = 0), replicas of a key nobody reads again
// converge only through read repair: so healing ends with a read of every key at R=N, which
// repairs every replica that differs from the reconciled record.
void Sim::FinalSweep() {
  auto open = std::make_shared<int>(0);
  for (auto& [key, ks] : keys_) {
    std::vector<int> live = LiveHosts();
    int host = live[fault_rng_.Uniform(live.size())];
    ++*open;
    std::string k = key;
    IssueRead(host, key, Pol(key).n, "final R=N read", [this, k, open](Status s, Record rec) {
      --*open;
      if (!s.ok()) {
        Violate("liveness", "final R=N read of " + k + " on the healed cluster failed: " + s.ToString());
        return;
      }
      CheckReadPhantoms(k, rec, "final read");
      final_reads_[k] = std::move(rec);
    });
  }
  uint64_t deadline = now_ + sc_.settle_max_ms;
  while (*open > 0 && now_ < deadline) RunUntil(now_ + sc_.tick_ms);
}

// True when every key's N replicas hold the same siblings (what the convergence check
// compares), from the engines' committed state; *why names the first key that differs.
bool Sim::ReplicasAgree(std::string* why) {
  for (auto& [key, ks] : keys_) {
    std::vector<std::string> pref = RefHost().node->PreferenceList(key);
    std::optional<std::vector<Sibling>> first;
    for (auto& id : pref) {
      Host& h = hosts_[HostById(id)];
      Record r;
      std::string bytes;
      if (h.engine->Get(DataKey(key), &bytes).ok()) (void)cluster::DecodeRecord(bytes, &r);
      if (!first) {
        first = r.siblings;
      } else if (*first != r.siblings) {
        *why = key + " differs on " + id;
        return false;
      }
    }
  }
  return true;
}

// No R=N sweep: wait (up to settle_max_ms) for anti-entropy to make every key's replicas
// agree. No client reads; if it never happens, CheckInvariants reports the convergence
// violations.
void Sim::AwaitAntiEntropy() {
  uint64_t start = now_, deadline = now_ + sc_.settle_max_ms;
  std::string why;
  while (now_ < deadline) {
    if (AllMembersRunning() && ReplicasAgree(&why)) {
      Note("anti-entropy: every replica agrees after " + std::to_string(now_ - start) + " ms");
      return;
    }
    RunUntil(now_ + 10 * sc_.tick_ms);
  }
  Note("anti-entropy: replicas still differ after settle_max_ms (" + why + ")");
}

// Wholly dead records (IsDeleted by the host's own wall clock) stored on the final members;
// *first names one.
size_t Sim::DeadRecords(std::string* first) {
  size_t dead = 0;
  for (auto& h : hosts_) {
    if (h.role != Role::kMember || !h.node) continue;
    const uint64_t wall = h.clock->WallMs();
    (void)h.engine->Scan("", "", 0, [&](std::string_view k, std::string_view v) {
      Record r;
      if (!cluster::IsDataKey(k) || !cluster::DecodeRecord(v, &r).ok() || !cluster::IsDeleted(r, wall)) {
        return true;
      }
      if (dead++ == 0) *first = std::string(cluster::ClientKeyOf(k)) + " on " + h.id;
      return true;
    });
  }
  return dead;
}

// With the reaper on: after healing every member reaps what is wholly dead, within
// settle_max_ms (each record waits its grace period after the last change a member saw).
void Sim::AwaitReaped() {
  if (sc_.reap_grace_ms == 0 || !AllMembersRunning()) return;
  uint64_t start = now_, deadline = now_ + sc_.settle_max_ms;
  std::string first;
  size_t dead = 0;
  while ((dead = DeadRecords(&first)) > 0 && now_ < deadline) RunUntil(now_ + 10 * sc_.tick_ms);
  if (dead > 0) {
    Violate("gc", std::to_string(dead) + " wholly dead record(s) still stored " +
                      std::to_string(now_ - start) + " ms after healing, e.g. " + first);
  } else {
    Note("gc: every dead record reaped after " + std::to_string(now_ - start) + " ms");
  }
}

void Sim::CheckInvariants() {
  uint64_t wall = kEpochMs + now_;
  // Membership: one ring on every final member, made of exactly the final members.
  Host& ref = RefHost();
  auto ring = ref.node->RingRanges();
  std::set<std::string> ring_ids, member_ids;
  for (auto& range : ring) ring_ids.insert(range.owners.begin(), range.owners.end());
  for (auto& h : hosts_) {
    if (h.role != Role::kMember) continue;
    member_ids.insert(h.id);
    if (h.node->RingRanges() != ring) {
      Violate("convergence", h.id + "'s ring differs from " + ref.id + "'s");
    }
  }
  if (sc_.membership && ring_ids != member_ids) {
    std::string a, b;
    for (auto& id : ring_ids) a += " " + id;
    for (auto& id : member_ids) b += " " + id;
    Violate("convergence", ref.id + "'s ring is made of {" + a + " } but the final members are {" +
                               b + " }");
  }
  // Every final member's local records (Node::ScanLocal) and hints. Departed nodes are no
  // replicas any more: whatever they still hold is not checked.
  std::vector<std::map<std::string, Record>> local(hosts_.size());
  for (auto& h : hosts_) {
    if (h.role != Role::kMember) continue;
    Status s = h.node->ScanLocal("", 0, [&](std::string_view k, const Record& r) {
      local[h.index][std::string(k)] = r;
      return true;
    });
    if (!s.ok()) Violate("liveness", h.id + " ScanLocal failed: " + s.ToString());
    for (auto& [k, recs] : HintsOf(h)) {
      for (auto& r : recs) {
        for (auto& sib : r.siblings) RegisterDot(k, sib, "hint on " + h.id);
      }
    }
    for (auto& [k, r] : local[h.index]) {
      // The collection workloads' headers and elements: CheckCollections and CheckLists
      // check them.
      cluster::ParsedRecordKey pk = cluster::ParseRecordKey(k);
      if (pk.kind != cluster::RecordKind::kOther &&
          (coll_ops_.count(std::string(pk.key)) || hctr_.count(std::string(pk.key)) ||
           list_ops_.count(std::string(pk.key)))) {
        continue;
      }
      if (!keys_.count(k)) Violate("phantom", h.id + " holds key " + k + " that no client wrote");
      for (auto& sib : r.siblings) RegisterDot(k, sib, "record on " + h.id);
      CheckReadPhantoms(k, r, "record on " + h.id);
    }
  }
  for (auto& [key, ks] : keys_) {
    std::vector<std::string> pref = ref.node->PreferenceList(key);
    Record merged;
    std::vector<std::pair<std::string, Record>> reps;
    for (auto& id : pref) {
      int idx = HostById(id);
      Record r;
      if (idx < 0 || hosts_[idx].role != Role::kMember) {
        Violate("convergence", key + ": the preference list names " + id +
                                   ", which is not a member");
      } else if (auto it = local[idx].find(key); it != local[idx].end()) {
        r = it->second;
      }
      merged = cluster::Join(merged, r);
      reps.emplace_back(id, std::move(r));
    }
    // 2. Convergence. With the reaper on, a record that is wholly dead (tombstones, expired
    // values) reads as no record: each replica reaps it after its own grace period, counted
    // from when it saw it (cluster/reaper.h), so for a while one replica may hold a tombstone
    // that another has already reaped. Clients see the same (nothing) either way.
    auto canon = [&](const Record& r) {
      return sc_.reap_grace_ms > 0 && cluster::IsDeleted(r, wall) ? std::vector<Sibling>{} : r.siblings;
    };
    for (auto& [id, r] : reps) {
      if (canon(r) != canon(reps[0].second)) {
        Violate("convergence", key + ": replica " + id + " holds " + SiblingsStr(r) + " but " +
                                   reps[0].first + " holds " + SiblingsStr(reps[0].second));
      }
    }
    if (auto it = final_reads_.find(key); it != final_reads_.end()) {
      if (canon(it->second) != canon(merged)) {
        Violate("convergence", key + ": the final R=N read returned " + SiblingsStr(it->second) +
                                   " but the replicas now hold " + SiblingsStr(merged));
      }
    }
    std::vector<const Sibling*> live = cluster::LiveSiblings(merged, wall);
    std::set<std::string> values, items;
    for (const Sibling* s : live) {
      if (s->kind != ValueKind::kPlain) continue;
      values.insert(s->value);
      for (auto& i : SplitItems(s->value)) items.insert(i);
    }
    // Counters: acked <= value <= attempted (the upper bound holds even when tainted).
    if (ks.cls == Cls::kCounter || ks.cls == Cls::kScore) {
      int64_t v = 0;
      std::string text;
      if (ks.cls == Cls::kScore) {
        // The score in units of the +0.5 increments.
        cluster::ElementView ev;
        double score = 0;
        Status s = cluster::ResolveElement(merged, wall, &ev);
        if (!s.ok() || (ev.present && !cluster::DecodeScore(ev.value, &score))) {
          Violate("phantom", key + ": score does not resolve: " + s.ToString());
        }
        v = static_cast<int64_t>(score * 2);
      } else {
        Status s = cluster::ResolveValue(merged, wall, &text);
        if (s.ok()) v = std::stoll(text);
        else if (!s.IsNotFound()) Violate("phantom", key + ": counter does not resolve: " + s.ToString());
      }
      if (v > ks.ctr_attempted) {
        Violate("phantom", key + ": counter is " + std::to_string(v) + " but only " +
                               std::to_string(ks.ctr_attempted) + " increments were attempted");
      }
      if (!ks.tainted && v < ks.ctr_acked) {
        Violate("lost-write", key + ": counter is " + std::to_string(v) + " but " +
                                  std::to_string(ks.ctr_acked) + " increments were acknowledged");
      }
    }
    if (ks.tainted) continue;
    // 1. No acknowledged write is lost.
    for (size_t wi : ks.writes) {
      const WriteRec& w = writes_[wi];
      if (w.outcome != WriteRec::Outcome::kAcked || w.op != OpKind::kPut) continue;
      if (w.cls == Cls::kCart) {
        for (auto& [id, r] : reps) {
          std::set<std::string> here;
          for (const Sibling* s : cluster::LiveSiblings(r, wall)) {
            for (auto& i : SplitItems(s->value)) here.insert(i);
          }
          if (!here.count(w.item)) {
            Violate("lost-write", "acknowledged cart add of \"" + w.item + "\" to " + key +
                                      " (t=" + std::to_string(w.invoked_ms) + ") is missing on " +
                                      id + ", which holds " + SiblingsStr(r));
          }
        }
        continue;
      }
      if (values.count(w.value)) continue;
      // A put may be superseded by any write that could have been applied after it: one
      // invoked later, one still running when it was invoked, or one that failed (its
      // outcome is unknown; a delayed request may still be applied at any time).
      bool could = false;
      for (size_t wj : ks.writes) {
        const WriteRec& x = writes_[wj];
        if (&x == &w) continue;
        could |= x.seq > w.seq || x.completed_ms >= w.invoked_ms ||
                 x.outcome != WriteRec::Outcome::kAcked;
      }
      if (!could) {
        Violate("lost-write", "acknowledged put of \"" + w.value + "\" to " + key + " (t=" +
                                  std::to_string(w.invoked_ms) + ".." +
                                  std::to_string(w.completed_ms) +
                                  ") is gone, though every other write to the key was "
                                  "acknowledged before it began; replicas hold " +
                                  SiblingsStr(merged));
      }
    }
    // 4. Deleted values stay deleted.
    for (auto& v : ks.deleted_values) {
      if (values.count(v)) {
        Violate("resurrection", key + ": \"" + v + "\" was deleted by an acknowledged delete "
                                      "but is back: " + SiblingsStr(merged));
      }
    }
    // 3. Bounded siblings.
    std::map<int, std::vector<const WriteRec*>> by_client;
    for (size_t wi : ks.writes) by_client[writes_[wi].client].push_back(&writes_[wi]);
    size_t bound = 0;
    for (auto& [c, ws] : by_client) {
      for (size_t i = 0; i < ws.size(); ++i) {
        const WriteRec* w = ws[i];
        bool superseded = false;
        if (w->outcome == WriteRec::Outcome::kAcked && w->sibling) {
          for (size_t j = i + 1; j < ws.size() && !superseded; ++j) {
            superseded = ws[j]->outcome == WriteRec::Outcome::kAcked &&
                         cluster::Supersedes(ws[j]->cover_ctx, *w->sibling);
          }
        }
        if (!superseded) ++bound;
      }
    }
    if (merged.siblings.size() > bound) {
      Violate("sibling-bound", key + ": " + std::to_string(merged.siblings.size()) +
                                   " siblings but at most " + std::to_string(bound) +
                                   " writes could still be concurrent: " + SiblingsStr(merged));
    }
  }
}

RunResult Sim::Run() {
  SetUp();
  client_seq_.assign(static_cast<size_t>(sc_.clients) + 1, 0);
  // Bootstrap on a clean network.
  faults_on_ = false;
  for (auto& h : hosts_) {
    if (h.role == Role::kMember) StartNode(h);  // spares start when they join
  }
  faults_on_ = true;
  if (!Settle("bootstrap")) return Result();
  // Chaos: workload plus faults.
  uint64_t chaos_end = now_ + sc_.duration_ms;
  clients_on_ = true;
  for (int c = 0; c < sc_.clients; ++c) ClientNext(c);
  if (sc_.partitions) SchedulePartitions();
  auto schedule_crashes = [&](int count, bool wipe) {
    for (int i = 0; i < count; ++i) {
      uint64_t at = now_ + sc_.duration_ms / 10 + fault_rng_.Uniform(sc_.duration_ms * 3 / 4 + 1);
      bool mid = Chance(fault_rng_) < sc_.mid_write;
      // (drawn only with [crashes] clean set, so other scenarios replay as before)
      bool clean = !wipe && !mid && sc_.clean > 0 && Chance(fault_rng_) < sc_.clean;
      uint64_t downtime = Uniform(fault_rng_, sc_.downtime_ms);
      uint64_t pick = fault_rng_.Next();
      At(at, [this, wipe, mid, downtime, pick, clean]() {
        if (!faults_on_) return;
        std::vector<int> live = LiveHosts();
        if (live.size() <= 1) return;  // keep one node for the clients
        size_t armed = 0;
        for (const auto& h : hosts_) armed += h.crash_armed;
        // Down = members and leavers not running (spares and departed hosts do not count).
        size_t participants = Participants();
        size_t max_down = sc_.max_down > 0 ? static_cast<size_t>(sc_.max_down) : participants - 1;
        if (participants - live.size() + armed >= max_down) return;
        Host& h = hosts_[live[pick % live.size()]];
        if (h.crash_armed) return;
        ArmCrash(h, wipe, mid, downtime, clean);
      });
    }
  };
  schedule_crashes(sc_.crashes, false);
  schedule_crashes(sc_.wipes, true);
  if (sc_.membership) ScheduleMembership();
  RunUntil(chaos_end);
  // Heal: faults off, clients stop, every node back.
  clients_on_ = false;
  faults_on_ = false;
  Heal("end of chaos");
  for (auto& h : hosts_) {
    if (h.crash_armed) CrashNow(h, h.crash_wipe, "idle (end of chaos)");
    if (!h.node && Restartable(h)) StartNode(h);
  }
  Note("chaos over; healing");
  Settle("healing");
  if (sc_.membership) {
    // End of healing: a node still leaving is stopped now (its handoff had its chance).
    for (auto& h : hosts_) {
      if (h.role == Role::kLeaving) Retire(h, "still leaving at the end of healing");
    }
    // Before anything reads (read repair would hide a missing handoff).
    if (opt_.oracle_handoff) OracleHandoff();
    if (AllMembersRunning()) CheckHandoff();
  }
  DoSabotage("chaos-end", "", nullptr);  // after the last client request finished
  if (sc_.availability) {
    AvailabilityProbe();
    Settle("the availability probe");
  }
  if (sc_.final_read_sweep) {
    FinalSweep();
    Settle("the R=N read sweep");
  } else {
    AwaitAntiEntropy();
    Settle("anti-entropy");
  }
  for (auto& h : hosts_) {
    if (h.role == Role::kMember && !h.node) {
      Violate("liveness", h.id + " is not running after healing");
    }
  }
  if (AllMembersRunning()) CheckInvariants();
  if (sc_.FaultFree()) {
    for (const auto& [cls, st] : op_stats_) {
      if (st.second > 0) {
        Violate("clean", std::to_string(st.second) + " " + cls +
                             " operation(s) failed in a run with no fault");
      }
    }
  }
  if (AllMembersRunning() && (!coll_ops_.empty() || !hctr_.empty())) CheckCollections();
  if (AllMembersRunning() && !list_ops_.empty()) CheckLists();
  AwaitReaped();  // after the checks: they read the replicas as healing left them
  return Result();
}

RunResult Sim::Result() {
  RunResult res;
  res.violations = violations_;
  if (violation_count_ > violations_.size()) {  // (the "..." line is not an invariant)
    res.violations.push_back({"...", std::to_string(violation_count_ - violations_.size()) +
                                         " more violation(s) not shown"});
  }
  res.trace_hash = trace_hash_;
  res.timeline.assign(timeline_.begin(), timeline_.end());
  for (auto& h : hosts_) {
    if (!h.node) continue;
    auto st = h.node->stats();
    node_totals_.read_repairs += st.read_repairs;
    node_totals_.hints_stored += st.hints_stored;
    node_totals_.hints_delivered += st.hints_delivered;
    node_totals_.coordinator_timeouts += st.coordinator_timeouts;
    node_totals_.forwarded += st.forwarded;
    node_totals_.ae_rounds += st.ae_rounds;
    node_totals_.ae_keys_repaired += st.ae_keys_repaired;
  }
  std::ostringstream sum;
  sum << "sim_ms=" << now_ << " ops(ok/fail):";
  for (auto& [cls, st] : op_stats_) sum << " " << cls << "=" << st.first << "/" << st.second;
  size_t tainted = 0;
  for (auto& [k, ks] : keys_) tainted += ks.tainted;
  sum << " keys=" << keys_.size() << " tainted=" << tainted << " frames=" << frames_sent_
      << " dropped=" << frames_dropped_ << " duped=" << frames_duped_
      << " batched=" << batched_frames_ << "/" << batches_
      << " crashes=" << crashes_done_ << " wipes=" << wipes_done_
      << " partitions=" << partitions_done_ << " read_repairs=" << node_totals_.read_repairs
      << " hints=" << node_totals_.hints_stored << "/" << node_totals_.hints_delivered
      << " timeouts=" << node_totals_.coordinator_timeouts;
  if (sc_.membership) {
    sum << " joins=" << joins_done_ << "/" << sc_.joins << " leaves=" << leaves_done_ << "/"
        << sc_.leaves << " removes=" << removes_done_ << "/" << sc_.removes
        << " replaces=" << replaces_done_ << "/" << sc_.replaces;
  }
  if (sc_.reap_grace_ms > 0) sum << " reaped=" << reaped_;
  if (sc_.ae_interval_ms > 0) {
    sum << " ae_rounds=" << node_totals_.ae_rounds
        << " ae_repaired=" << node_totals_.ae_keys_repaired;
  }
  res.summary = sum.str();
  return res;
}

}  // namespace

RunResult RunSimulation(const Scenario& scenario, const RunOptions& options) {
  Sim sim(scenario, options);
  return sim.Run();
}

}  // namespace dynakv::sim
