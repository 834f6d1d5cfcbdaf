// cluster/node.cc: Node::Impl, the request coordinator, replica handlers, gossip wiring and
// hinted handoff. See node.h for the contract and the storage layout.
#include "cluster/node.h"

#include <algorithm>
#include <cstring>
#include <charconv>
#include <deque>
#include <map>
#include <set>
#include <utility>

#include <xxhash.h>

#include "cluster/membership.h"
#include "cluster/merkle.h"
#include "cluster/message.h"
#include "cluster/record_cache.h"
#include "protocol/resp.h"
#include "cluster/ring.h"

namespace dynakv::cluster {

namespace {

constexpr std::string_view kDataPrefix = "d/";
constexpr std::string_view kDataEnd = "d0";  // '0' == '/' + 1: end of the "d/" range
constexpr std::string_view kHintPrefix = "h/";
constexpr std::string_view kHintEnd = "h0";
constexpr std::string_view kIncarnationKey = "m/incarnation";
constexpr std::string_view kMembersKey = "m/members";
constexpr size_t kMaxHints = 100000;          // hinted records held for others, at most
constexpr size_t kHintScanBatch = 64;         // hints examined per delivery pass
constexpr size_t kScanChunk = 256;            // ScanLocal visits in chunks (see there)
// Anti-entropy bounds: keys hashed into the Merkle trees per OnTick, and records (and their
// value bytes) one exchange message carries. A leaf bigger than the cap is sent in part,
// from a random offset, so repeated rounds cover it.
constexpr size_t kAeBuildChunk = 1024;
constexpr size_t kAeBuildBytes = 4u << 20;  // and at most this many stored bytes hashed
constexpr size_t kAeMaxKeys = 1000;
constexpr size_t kAeMaxBytes = 8u << 20;
// With periodic rounds off, trees are built on demand (DYNAMO SYNC, or a peer's request) and
// a build older than this is rebuilt before it answers a peer.
constexpr uint64_t kAeOnDemandMaxAgeMs = 5000;
// A DYNAMO SYNC round the peer cannot answer yet (its trees are being built) is retried.
constexpr int kAeSyncRetries = 50;
static_assert(MerkleTree::kLeaves <= kMaxAeHashes, "a leaf level must fit one message");

std::string DataKey(std::string_view key) {
  std::string k;
  k.reserve(kDataPrefix.size() + key.size());
  k.append(kDataPrefix);
  k.append(key);
  return k;
}

std::string HintKey(std::string_view owner, std::string_view key) {
  std::string k;
  k.reserve(kHintPrefix.size() + owner.size() + 1 + key.size());
  k.append(kHintPrefix);
  k.append(owner);
  k.push_back('\0');  // ids never hold NUL, so the owner ends unambiguously
  k.append(key);
  return k;
}

bool SplitHintKey(std::string_view hk, std::string* owner, std::string* key) {
  if (hk.substr(0, kHintPrefix.size()) != kHintPrefix) return false;
  hk.remove_prefix(kHintPrefix.size());
  size_t nul = hk.find('\0');
  if (nul == std::string_view::npos) return false;
  owner->assign(hk.substr(0, nul));
  key->assign(hk.substr(nul + 1));
  return true;
}

}  // namespace

struct Node::Impl {
  // A read this node coordinates. Completes after r good replies; stays until every target
  // answered (or the deadline) so read repair can fix the replicas that differed.
  struct PendingRead {
    std::string key;
    int r = 0;
    std::vector<std::string> targets;  // node ids not yet answered
    size_t target_count = 0;
    struct Reply {
      std::string node;
      Record record;
    };
    std::vector<Reply> replies;  // good replies
    size_t failed = 0;
    Record joined;
    bool done = false;
    ReadCallback cb;
  };
  // A write this node coordinates. Completes after w acks (the local write counts).
  struct PendingWrite {
    int w = 0;
    std::vector<std::string> awaiting;  // node ids (hint holders included) not yet acked
    size_t acks = 0, failed = 0;
    WriteReply reply;
    WriteCallback cb;
  };
  // A request handed to a preference-list node to coordinate.
  struct PendingForward {
    ReadCallback read_cb;
    WriteCallback write_cb;
  };
  struct PendingScan {
    ScanCallback cb;
  };
  // A hinted record on its way to its owner; deleted here once the owner acked.
  struct HintDelivery {
    std::string hint_key;
    std::string bytes;  // the hint as sent: a newer hint for the key is kept
  };
  // Anti-entropy: the Merkle tree for one peer (the keys we both replicate) and, per leaf,
  // which keys are in it (indexes into AeSnapshot::keys), so the records of a differing leaf
  // are found without another scan.
  struct AePeer {
    MerkleTree tree;
    std::vector<std::vector<uint32_t>> leaf_keys;  // kLeaves lists, or empty
  };
  // The trees of every peer, from one scan of the local data under one ring.
  struct AeSnapshot {
    uint64_t ring_hash = 0;
    std::vector<std::string> keys;  // local keys we replicate with at least one peer
    std::map<std::string, AePeer> peers;
  };

  NodeConfig cfg;
  Transport* transport;
  Clock* clock;
  Random* random;
  storage::Engine* engine;
  Logger* logger;
  bool standalone;
  Membership membership;
  Ring ring;
  ActorId actor = 0;
  uint64_t incarnation = 0;  // as persisted under kIncarnationKey
  NodeStats stats;
  uint64_t next_req_id = 1;
  uint64_t key_count = 0;   // local records, dead or alive
  uint64_t live_count = 0;  // local records with a live value when last written (expiry aside)
  uint64_t hint_count = 0;
  std::string hint_cursor;          // where the next hint delivery pass starts
  uint64_t next_hint_pass_ms = 0;
  uint64_t next_sibling_warn_ms = 0;
  RecordCache cache{cfg.record_cache_bytes};
  std::map<uint64_t, PendingRead> reads;
  std::map<uint64_t, PendingWrite> writes;
  std::map<uint64_t, PendingForward> forwards;
  std::map<uint64_t, PendingScan> scans;
  static constexpr size_t kForwardSeenMax = 100000;
  std::set<std::pair<std::string, uint64_t>> forward_seen;
  std::deque<std::pair<uint64_t, std::pair<std::string, uint64_t>>> forward_seen_order;
  std::map<uint64_t, HintDelivery> deliveries;
  std::set<std::string> hints_in_flight;
  std::multimap<uint64_t, uint64_t> timers;  // deadline_ms -> req_id (any of the maps above)
  // Anti-entropy state (see "anti-entropy" below).
  uint64_t ring_hash = 0;               // fingerprint of the ring (members, tokens, n)
  std::vector<std::string> ae_partners; // nodes that share at least one replica set with us
  AeSnapshot ae_ready;                  // the last complete build
  bool ae_have_ready = false;
  AeSnapshot ae_next;                   // the build in progress
  bool ae_building = false;
  std::string ae_cursor;                // engine key the build continues from
  uint64_t ae_next_build_ms = 0, ae_next_round_ms = 0;
  uint64_t ae_ready_ms = 0;             // when ae_ready was completed
  bool ae_sync_pending = false;         // DYNAMO SYNC: all partners once the build is done
  struct AeRound {
    std::string peer;
    int retries = 0;  // left, when the peer is not ready
  };
  std::map<uint64_t, AeRound> ae_pending;  // req_id -> round, for both request kinds
  std::vector<std::pair<uint64_t, AeRound>> ae_retry;  // (due_ms, round)

  Impl(NodeConfig c, Transport* t, Clock* cl, Random* r, storage::Engine* e, Logger* l)
      : cfg(std::move(c)),
        transport(t),
        clock(cl),
        random(r),
        engine(e),
        logger(l),
        standalone(cfg.cluster_addr.empty()),
        membership(MembershipConfig{cfg.id, cfg.cluster_addr, cfg.client_addr, cfg.tokens,
                                    cfg.seeds, cfg.gossip_interval_ms, cfg.suspect_after_ms,
                                    cfg.down_after_ms},
                   r) {
    ring.Build({{cfg.id, cfg.tokens}});
    OnRingChanged();
  }

  void Log(Logger::Level level, const std::string& msg) {
    if (logger) logger->Log(level, msg);
  }

  // ---- storage -------------------------------------------------------------------------

  // OK with *rec (empty and *found = false when absent). A corrupt local record is logged
  // and treated as absent: the other replicas' copies are joined back in by the next write
  // or read repair, which is better than refusing the key forever.
  // take: the caller will store the key (StoreLocal) on success; the cached record is moved
  // out rather than copied (see RecordCache::Take).
  // DataKey(key) in a buffer reused across calls (no allocation, two memcpy: it is built up
  // to four times per SET); valid until the next call. A key too long for any engine goes
  // through a string, so the engine still sees it and says why it is refused.
  std::string_view DataKeyView(std::string_view key) {
    if (key.size() > sizeof(data_key_buf) - kDataPrefix.size()) {
      data_key_long.assign(kDataPrefix);
      data_key_long.append(key);
      return data_key_long;
    }
    std::memcpy(data_key_buf, kDataPrefix.data(), kDataPrefix.size());
    if (!key.empty()) std::memcpy(data_key_buf + kDataPrefix.size(), key.data(), key.size());
    return {data_key_buf, kDataPrefix.size() + key.size()};
  }
  char data_key_buf[storage::kKeyBytesMax + 1];  // one more than any engine takes
  std::string data_key_long;
  uint64_t expiring_writes = 0;  // see Node::ExpiringWrites

  Status LoadLocal(std::string_view key, Record* rec, bool* found, bool take = false) {
    if (take) {
      if (cache.Take(key, rec, found)) return Status::OK();
    } else if (const Record* hit = cache.Find(key, found)) {
      *rec = *hit;
      return Status::OK();
    }
    std::string bytes;
    Status s = engine->Get(DataKeyView(key), &bytes);
    *rec = Record();
    *found = false;
    if (s.IsNotFound()) {
      cache.Put(key, *rec, false);
      return Status::OK();
    }
    if (!s.ok()) return s;
    s = DecodeRecord(bytes, rec);
    if (!s.ok()) {
      Log(Logger::Level::kError, "corrupt local record for a key, treated as absent: " +
                                     s.ToString());
      *rec = Record();
      return Status::OK();
    }
    *found = true;
    cache.Put(key, *rec, true);
    return Status::OK();
  }

  // was_live: whether the record this replaces had a live value (keeps live_count exact, so
  // DBSIZE need not scan).
  // The record goes into the cache by copy, or by move when the caller passes an rvalue.
  template <typename R>
  Status StoreLocal(std::string_view key, R&& rec, bool existed, bool was_live) {
    if (rec.siblings.size() >= cfg.limits.warn_siblings) WarnSiblings(key, rec.siblings.size());
    Status s = engine->PutOwned(DataKeyView(key), EncodeRecord(rec));
    if (s.ok()) {
      if (!existed) ++key_count;
      bool live = !IsDeleted(rec, clock->WallMs());
      if (live && !was_live) ++live_count;
      if (!live && was_live && live_count > 0) --live_count;
      for (const Sibling& sib : rec.siblings) {
        if (sib.expiry_ms != 0 || sib.kind == ValueKind::kTombstone) {
          ++expiring_writes;
          break;
        }
      }
      cache.Put(key, std::forward<R>(rec), true);
    } else {
      cache.Erase(key);
    }
    return s;
  }

  // Replica side: Join `incoming` into the local copy; persists only when it changed.
  // *changed (if given) says whether the local copy changed.
  Status JoinLocal(std::string_view key, const Record& incoming, bool* changed = nullptr,
                   Record* merged_out = nullptr) {
    if (changed) *changed = false;
    Record local;
    bool found = false;
    Status s = LoadLocal(key, &local, &found);
    if (!s.ok()) return s;
    Record merged = cluster::Join(local, incoming);
    if (found && merged == local) {
      if (merged_out) *merged_out = std::move(merged);
      return Status::OK();
    }
    s = StoreLocal(key, merged, found, found && !IsDeleted(local, clock->WallMs()));
    if (s.ok() && changed) *changed = true;
    if (merged_out) *merged_out = std::move(merged);
    return s;
  }

  // Many siblings mean clients write without merging (or without a context). At most one
  // warning a second, so a hot key cannot flood the log.
  void WarnSiblings(std::string_view key, size_t n) {
    uint64_t now = clock->NowMs();
    if (now < next_sibling_warn_ms) return;
    next_sibling_warn_ms = now + 1000;
    std::string shown(key.substr(0, 64));
    for (char& ch : shown) {
      if (ch < ' ' || ch > '~') ch = '?';
    }
    Log(Logger::Level::kWarn, "key '" + shown + "' has " + std::to_string(n) +
                                  " siblings (limit " + std::to_string(cfg.limits.max_siblings) +
                                  "): clients should DGET and DPUT with the merged context");
  }

  Status PersistIncarnation() {
    uint64_t inc = membership.self().incarnation;
    if (inc == incarnation) return Status::OK();
    incarnation = inc;
    return engine->Put(kIncarnationKey, std::to_string(inc));
  }

  ActorId FreshActor() {
    ActorId a = 0;
    while (a == 0) a = random->Next();
    return a;
  }

  // ---- messaging -----------------------------------------------------------------------

  void Send(const std::string& addr, Message* m) {
    m->from_id = cfg.id;
    m->from_addr = cfg.cluster_addr;
    transport->Send(addr, EncodeFrame(*m, cfg.cluster_secret));
  }

  const std::string* AddrOf(const std::string& id) const {
    const MemberState* m = membership.Find(id);
    return m ? &m->cluster_addr : nullptr;
  }

  void SendTo(const std::string& id, Message* m) {
    if (const std::string* addr = AddrOf(id)) Send(*addr, m);
  }

  void SendGossip(const std::string& addr, bool reply_wanted) {
    Message m;
    m.type = MsgType::kGossip;
    m.reply_wanted = reply_wanted;
    m.members = membership.Digest();
    Send(addr, &m);
  }

  void RebuildRing() {
    if (standalone) return;
    auto members = membership.RingMembers();
    if (!ring.SameMembers(members)) {
      ring.Build(std::move(members));
      OnRingChanged();
      PersistMembers();
    }
  }

  // Saved with the data (same group commit) whenever the ring changes; read back by Start().
  void PersistMembers() {
    Message mm;
    mm.type = MsgType::kGossip;
    mm.from_id = cfg.id;
    mm.from_addr = cfg.cluster_addr;
    for (const auto& st : membership.Digest()) {
      if (st.id != cfg.id) mm.members.push_back(st);
    }
    Status s = engine->Put(kMembersKey, EncodeFrame(mm, ""));
    if (!s.ok()) Log(Logger::Level::kWarn, "could not persist the member list: " + s.ToString());
  }

  // ---- placement -----------------------------------------------------------------------

  std::vector<std::string> Preference(std::string_view key) const {
    return ring.PreferenceList(key, static_cast<size_t>(std::max(cfg.n, 1)));
  }

  bool Contains(const std::vector<std::string>& v, const std::string& id) const {
    return std::find(v.begin(), v.end(), id) != v.end();
  }

  // First preference-list node we believe reachable; else the first one (it may be back).
  const std::string& ForwardTarget(const std::vector<std::string>& pref) const {
    for (const auto& id : pref) {
      if (membership.IsReachable(id)) return id;
    }
    return pref.front();
  }

  uint64_t NewRequest(uint64_t timeout_ms) {
    uint64_t id = next_req_id++;
    timers.emplace(clock->NowMs() + timeout_ms, id);
    return id;
  }

  Status CheckQuorum(int* q, int def, const char* what) const {
    if (*q == 0) *q = def;
    if (*q < 1 || *q > cfg.n) {
      return Status::Invalid(std::string(what) + " must be between 1 and n (" +
                             std::to_string(cfg.n) + ")");
    }
    return Status::OK();
  }

  // ---- reads ---------------------------------------------------------------------------

  void Read(const std::string& key, int r, ReadCallback done) {
    Status s = CheckQuorum(&r, cfg.r, "r");
    if (!s.ok()) return done(s, ReadReply{});
    ++stats.reads;
    if (standalone) {
      // The single-node hot path: one Get, one decode, no messages.
      if (r > 1) return done(Status::Unavailable("only 1 replica (standalone node)"), {});
      ReadReply reply;
      bool found = false;
      s = LoadLocal(key, &reply.record, &found);
      return done(s, std::move(reply));
    }
    CoordinateRead(key, r, std::move(done), /*forwarded=*/false, cfg.request_timeout_ms);
  }

  void CoordinateRead(const std::string& key, int r, ReadCallback done, bool forwarded,
                      uint64_t timeout_ms) {
    std::vector<std::string> pref = Preference(key);
    if (pref.empty()) return done(Status::Unavailable("no nodes own this key"), {});
    if (!forwarded && !Contains(pref, cfg.id)) {
      // Let a replica coordinate: its actor is already in the key's clock, so clocks stay
      // small, and its local copy saves a round trip.
      return Forward(ForwardTarget(pref), key, /*is_write=*/false, r, nullptr,
                     std::move(done), nullptr);
    }
    if (pref.size() < static_cast<size_t>(r)) {
      return done(Status::Unavailable("r=" + std::to_string(r) + " but only " +
                                      std::to_string(pref.size()) + " replicas"),
                  {});
    }
    uint64_t id = NewRequest(timeout_ms);
    PendingRead& p = reads[id];
    p.key = key;
    p.r = r;
    p.target_count = pref.size();
    p.cb = std::move(done);
    bool local = false;
    for (auto& t : pref) {
      if (t == cfg.id) {
        local = true;
        continue;
      }
      p.targets.push_back(t);
      Message m;
      m.type = MsgType::kReadReq;
      m.req_id = id;
      m.key = key;
      SendTo(t, &m);
    }
    if (local) {
      p.targets.push_back(cfg.id);
      Record rec;
      bool found = false;
      Status s = LoadLocal(key, &rec, &found);
      OnReadReply(id, cfg.id, s, std::move(rec));
    } else {
      ReadProgress(id);
    }
  }

  void OnReadReply(uint64_t id, const std::string& from, const Status& s, Record rec) {
    auto it = reads.find(id);
    if (it == reads.end()) return;  // finished: a late or duplicate reply
    PendingRead& p = it->second;
    auto t = std::find(p.targets.begin(), p.targets.end(), from);
    if (t == p.targets.end()) return;  // not asked, or answered already (duplicate)
    p.targets.erase(t);
    if (s.ok()) {
      p.joined = cluster::Join(p.joined, rec);
      p.replies.push_back({from, std::move(rec)});
    } else {
      ++p.failed;
    }
    ReadProgress(id);
  }

  void ReadProgress(uint64_t id) {
    auto it = reads.find(id);
    if (it == reads.end()) return;
    PendingRead& p = it->second;
    bool all_in = p.targets.empty();
    if (!p.done) {
      Status s;
      if (p.replies.size() >= static_cast<size_t>(p.r)) {
        s = Status::OK();
      } else if (p.replies.size() + p.targets.size() < static_cast<size_t>(p.r)) {
        s = Status::Unavailable("too few replicas answered the read");
      } else {
        return;  // keep waiting
      }
      p.done = true;
      ReadCallback cb = std::move(p.cb);
      ReadReply reply{p.joined};
      if (all_in) FinishRead(id);
      cb(s, std::move(reply));  // last: the callback may re-enter the node
      return;
    }
    if (all_in) FinishRead(id);
  }

  // Read repair (Dynamo §4.7): push the reconciled record to every replica that answered
  // with something different, then forget the request.
  void FinishRead(uint64_t id) {
    auto it = reads.find(id);
    if (it == reads.end()) return;
    PendingRead p = std::move(it->second);
    reads.erase(it);
    for (const auto& reply : p.replies) {
      if (reply.record == p.joined) continue;
      ++stats.read_repairs;
      if (reply.node == cfg.id) {
        Status s = JoinLocal(p.key, p.joined);
        if (!s.ok()) Log(Logger::Level::kWarn, "local read repair failed: " + s.ToString());
        continue;
      }
      Message m;
      m.type = MsgType::kReadRepair;
      m.key = p.key;
      m.record = p.joined;
      SendTo(reply.node, &m);
    }
  }

  // ---- writes --------------------------------------------------------------------------

  void Write(const std::string& key, WriteRequest req, WriteCallback done) {
    Status s = CheckQuorum(&req.w, cfg.w, "w");
    if (!s.ok()) return done(s, WriteReply{});
    ++stats.writes;
    if (standalone) {
      if (req.w > 1) return done(Status::Unavailable("only 1 replica (standalone node)"), {});
      WriteReply reply;
      bool existed = false, was_live = false;
      s = ApplyLocal(key, req, &reply.record, &existed, &was_live);
      if (!s.ok()) return done(s, WriteReply{});
      if (req.want_context) reply.context = reply.record.context;
      if (req.want_record) {
        s = StoreLocal(key, reply.record, existed, was_live);
      } else {
        s = StoreLocal(key, std::move(reply.record), existed, was_live);
        reply.record = Record();
      }
      if (!s.ok()) return done(s, WriteReply{});
      return done(Status::OK(), std::move(reply));
    }
    CoordinateWrite(key, std::move(req), std::move(done), /*forwarded=*/false,
                    cfg.request_timeout_ms);
  }

  // The coordinator's half of a write: assign the dot (only coordinators do) on top of the
  // local copy. *rec receives the new record; nothing is persisted here.
  Status ApplyLocal(const std::string& key, WriteRequest& req, Record* rec,
                    bool* existed, bool* was_live) {
    Status s = LoadLocal(key, rec, existed, /*take=*/true);
    if (!s.ok()) return s;
    *was_live = *existed && !IsDeleted(*rec, clock->WallMs());
    return ApplyOp(req, rec);
  }

  // A stand-in coordinator (every preference-list node down) keeps the write as a hint for
  // `owner`. It builds on what it holds for the key (the hint it may already hold, a local
  // copy from an older ring), but once an earlier hint was delivered and deleted it no longer
  // knows the dots it issued for the key; so each stand-in write takes a fresh, never-used
  // actor and its dot can never repeat one (kv679; found by the simulator: partition.toml
  // seed 488 reissued a stand-in dot). The price: one clock entry per stand-in write, which
  // Prune() bounds.
  Status ApplyStandIn(const std::string& key, const std::string& owner, WriteRequest& req,
                      Record* rec) {
    bool found = false;
    Status s = LoadLocal(key, rec, &found);
    if (!s.ok()) return s;
    std::string bytes;
    s = engine->Get(HintKey(owner, key), &bytes);
    if (s.ok()) {
      Record hinted;
      if (DecodeRecord(bytes, &hinted).ok()) *rec = cluster::Join(*rec, hinted);
    } else if (!s.IsNotFound()) {
      return s;
    }
    return ApplyOp(req, rec, FreshActor());
  }

  // The request's payload is moved into the record (callers use only req.w afterwards).
  Status ApplyOp(WriteRequest& req, Record* rec) { return ApplyOp(req, rec, actor); }
  Status ApplyOp(WriteRequest& req, Record* rec, ActorId who) {
    uint64_t now_ms = clock->WallMs();
    if (req.op == OpKind::kCounterAdd) return ApplyCounter(rec, req.delta, now_ms, who);
    NewValue v;
    if (req.op == OpKind::kDelete) {
      v.kind = ValueKind::kTombstone;
    } else {
      v = std::move(req.value);
    }
    // SET without a context supersedes every version this replica knows.
    const VersionVector& ctx = req.has_context ? req.context : rec->context;
    return ApplyWrite(rec, ctx, who, std::move(v), now_ms, cfg.limits);
  }

  // INCR/DECR: merge the live counter siblings (so concurrent increments from other
  // coordinators are kept), add in our slot, and supersede everything we know.
  Status ApplyCounter(Record* rec, int64_t delta, uint64_t now_ms, ActorId who) {
    PNCounter c;
    NewValue v;
    v.kind = ValueKind::kCounter;
    const Sibling* win = Winner(*rec, now_ms);
    if (win && win->kind == ValueKind::kPlain) {
      // A plain value SET after the counter resets it: it becomes the base.
      if (!protocol::ParseRedisInt(win->value, &c.base)) {
        return Status::Invalid("value is not an integer or out of range");
      }
      v.expiry_ms = win->expiry_ms;
      v.flags = win->flags;
    } else if (win) {
      for (const Sibling* sib : LiveSiblings(*rec, now_ms)) {
        if (sib->kind != ValueKind::kCounter) continue;
        PNCounter other;
        Status s = DecodeCounter(sib->value, &other);
        if (!s.ok()) return s;
        c.Merge(other);
      }
      v.expiry_ms = win->expiry_ms;  // INCR keeps the TTL, as in Redis
      v.flags = win->flags;
    }
    int64_t result = 0;
    if (__builtin_add_overflow(c.Value(), delta, &result)) {
      return Status::Invalid("increment or decrement would overflow");
    }
    c.Add(who, delta);
    v.value = EncodeCounter(c);
    return ApplyWrite(rec, rec->context, who, std::move(v), now_ms, cfg.limits);
  }

  void CoordinateWrite(const std::string& key, WriteRequest req, WriteCallback done,
                       bool forwarded, uint64_t timeout_ms) {
    std::vector<uint32_t> walk;
    size_t n = static_cast<size_t>(std::max(cfg.n, 1));
    ring.Walk(Ring::KeyHash(key), ring.node_count(), &walk);
    if (walk.empty()) return done(Status::Unavailable("no nodes own this key"), {});
    std::vector<std::string> pref;
    for (size_t i = 0; i < std::min(n, walk.size()); ++i) {
      pref.push_back(ring.members()[walk[i]].id);
    }
    bool stand_in = false;
    if (!forwarded && !Contains(pref, cfg.id)) {
      bool any_reachable = std::any_of(pref.begin(), pref.end(), [&](const std::string& id) {
        return membership.IsReachable(id);
      });
      if (any_reachable) {
        return Forward(ForwardTarget(pref), key, /*is_write=*/true, 0, &req, nullptr,
                       std::move(done));
      }
      // Every preference-list node is down (Dynamo §4.6): rather than fail, coordinate here
      // and hold the write as a hint for the first of them; the rest go to fallbacks.
      stand_in = true;
    }
    if (pref.size() < static_cast<size_t>(req.w)) {
      return done(Status::Unavailable("w=" + std::to_string(req.w) + " but only " +
                                      std::to_string(pref.size()) + " replicas"),
                  {});
    }
    WriteReply reply;
    Status s;
    if (stand_in) {
      s = ApplyStandIn(key, pref.front(), req, &reply.record);
      if (s.ok()) s = StoreHint(pref.front(), key, reply.record);
    } else {
      bool existed = false, was_live = false;
      s = ApplyLocal(key, req, &reply.record, &existed, &was_live);
      if (s.ok()) s = StoreLocal(key, reply.record, existed, was_live);
    }
    if (!s.ok()) return done(s, {});
    reply.context = reply.record.context;

    uint64_t id = NewRequest(timeout_ms);
    PendingWrite& p = writes[id];
    p.w = req.w;
    p.cb = std::move(done);
    p.acks = (stand_in || Contains(pref, cfg.id)) ? 1 : 0;
    // Sloppy quorum: a preference-list node we believe down is stood in for by the next
    // reachable node past the top N, which holds the record as a hint for it.
    size_t fallback = pref.size();
    for (const auto& t : pref) {
      if (t == cfg.id || (stand_in && t == pref.front())) continue;
      Message m;
      m.req_id = id;
      m.key = key;
      m.record = reply.record;
      std::string to = t;
      if (!membership.IsReachable(t)) {
        while (fallback < walk.size()) {
          const std::string& cand = ring.members()[walk[fallback++]].id;
          if (cand != cfg.id && membership.IsReachable(cand)) {
            to = cand;
            break;
          }
        }
      }
      if (to != t) {
        m.type = MsgType::kHintedWrite;
        m.hint_owner = t;
      } else {
        m.type = MsgType::kWriteReq;
      }
      p.awaiting.push_back(to);
      SendTo(to, &m);
    }
    p.reply = std::move(reply);
    WriteProgress(id);
  }

  void OnWriteAck(uint64_t id, const std::string& from, const Status& s) {
    if (auto d = deliveries.find(id); d != deliveries.end()) return OnHintAck(d, s);
    auto it = writes.find(id);
    if (it == writes.end()) return;
    PendingWrite& p = it->second;
    auto a = std::find(p.awaiting.begin(), p.awaiting.end(), from);
    if (a == p.awaiting.end()) return;  // duplicate or stray
    p.awaiting.erase(a);
    if (s.ok()) {
      ++p.acks;
    } else {
      ++p.failed;
    }
    WriteProgress(id);
  }

  void WriteProgress(uint64_t id) {
    auto it = writes.find(id);
    if (it == writes.end()) return;
    PendingWrite& p = it->second;
    Status s;
    if (p.acks >= static_cast<size_t>(p.w)) {
      s = Status::OK();
    } else if (p.acks + p.awaiting.size() < static_cast<size_t>(p.w)) {
      s = Status::Unavailable("too few replicas acknowledged the write");
    } else {
      return;
    }
    WriteCallback cb = std::move(p.cb);
    WriteReply reply = s.ok() ? std::move(p.reply) : WriteReply{};
    writes.erase(it);
    cb(s, std::move(reply));
  }

  // ---- forwarding ----------------------------------------------------------------------

  void Forward(const std::string& to, const std::string& key, bool is_write, int r,
               const WriteRequest* req, ReadCallback read_cb, WriteCallback write_cb) {
    ++stats.forwarded;
    uint64_t id = NewRequest(cfg.request_timeout_ms);
    PendingForward& f = forwards[id];
    f.read_cb = std::move(read_cb);
    f.write_cb = std::move(write_cb);
    Message m;
    m.type = MsgType::kForwardReq;
    m.req_id = id;
    m.key = key;
    m.is_write = is_write;
    m.r = r;
    if (req) {
      m.w = req->w;
      m.op = req->op;
      m.value = req->value;
      m.delta = req->delta;
      m.has_context = req->has_context;
      m.context = req->context;
    }
    SendTo(to, &m);
  }

  // A duplicated forward frame must not coordinate the same client request twice (a second
  // dot for one write; a counter add counted twice). Remember (sender, request id) for ten
  // request timeouts, bounded in count.
  bool SeenForward(const std::string& from, uint64_t req_id) {
    uint64_t now = clock->NowMs();
    while (!forward_seen_order.empty() && forward_seen_order.front().first <= now) {
      forward_seen.erase(forward_seen_order.front().second);
      forward_seen_order.pop_front();
    }
    auto key = std::make_pair(from, req_id);
    if (forward_seen.count(key)) return true;
    if (forward_seen.size() >= kForwardSeenMax) {
      forward_seen.erase(forward_seen_order.front().second);
      forward_seen_order.pop_front();
    }
    forward_seen.insert(key);
    forward_seen_order.emplace_back(now + 10 * cfg.request_timeout_ms, key);
    return false;
  }

  void OnForwardReq(Message& m) {
    if (SeenForward(m.from_id, m.req_id)) return;
    std::string reply_to = m.from_addr;
    uint64_t req_id = m.req_id;
    // Our deadline is shorter than the forwarder's, so our answer (even Unavailable)
    // normally reaches it before it gives up.
    uint64_t timeout_ms = std::max<uint64_t>(cfg.request_timeout_ms * 3 / 4, 1);
    auto respond = [this, reply_to, req_id](const Status& s, VersionVector ctx, Record rec) {
      Message resp;
      resp.type = MsgType::kForwardResp;
      resp.req_id = req_id;
      resp.set_status(s);
      resp.context = std::move(ctx);
      resp.record = std::move(rec);
      Send(reply_to, &resp);
    };
    if (m.is_write) {
      WriteRequest req;
      req.op = m.op;
      req.value = std::move(m.value);
      req.delta = m.delta;
      req.has_context = m.has_context;
      req.context = std::move(m.context);
      req.w = m.w;
      Status s = CheckQuorum(&req.w, cfg.w, "w");
      if (!s.ok()) return respond(s, {}, {});
      CoordinateWrite(
          m.key, std::move(req),
          [respond](Status st, WriteReply wr) {
            respond(st, std::move(wr.context), std::move(wr.record));
          },
          /*forwarded=*/true, timeout_ms);
    } else {
      int r = m.r;
      Status s = CheckQuorum(&r, cfg.r, "r");
      if (!s.ok()) return respond(s, {}, {});
      CoordinateRead(
          m.key, r,
          [respond](Status st, ReadReply rr) {
            VersionVector ctx = rr.record.context;
            respond(st, std::move(ctx), std::move(rr.record));
          },
          /*forwarded=*/true, timeout_ms);
    }
  }

  void OnForwardResp(Message& m) {
    auto it = forwards.find(m.req_id);
    if (it == forwards.end()) return;
    PendingForward f = std::move(it->second);
    forwards.erase(it);
    Status s = m.status();
    if (f.read_cb) {
      f.read_cb(s, s.ok() ? ReadReply{std::move(m.record)} : ReadReply{});
    } else if (f.write_cb) {
      f.write_cb(s, s.ok() ? WriteReply{std::move(m.context), std::move(m.record)}
                           : WriteReply{});
    }
  }

  // ---- hinted handoff ------------------------------------------------------------------

  Status StoreHint(const std::string& owner, const std::string& key, const Record& rec) {
    if (owner.empty() || owner.find('\0') != std::string::npos) {
      return Status::Invalid("bad hint owner");
    }
    std::string hk = HintKey(owner, key);
    std::string bytes;
    Record merged = rec;
    Status s = engine->Get(hk, &bytes);
    bool existed = s.ok();
    if (existed) {
      Record old;
      if (DecodeRecord(bytes, &old).ok()) merged = cluster::Join(old, rec);
    } else if (!s.IsNotFound()) {
      return s;
    } else if (hint_count >= kMaxHints) {
      return Status::Limit("hint store full");
    }
    s = engine->Put(hk, EncodeRecord(merged));
    if (!s.ok()) return s;
    if (!existed) ++hint_count;
    ++stats.hints_stored;
    return Status::OK();
  }

  // One bounded pass over the hints: send each to its owner once the owner is reachable.
  void DeliverHints(uint64_t now_ms) {
    if (hint_count == 0 || now_ms < next_hint_pass_ms) return;
    next_hint_pass_ms = now_ms + std::max<uint64_t>(cfg.gossip_interval_ms, 1);
    std::vector<std::pair<std::string, std::string>> batch;
    std::string start = hint_cursor.empty() ? std::string(kHintPrefix) : hint_cursor;
    Status s = engine->Scan(start, kHintEnd, kHintScanBatch,
                            [&](std::string_view k, std::string_view v) {
                              batch.emplace_back(std::string(k), std::string(v));
                              return true;
                            });
    if (!s.ok()) return;
    hint_cursor = batch.size() < kHintScanBatch ? std::string()
                                                : batch.back().first + std::string(1, '\0');
    for (auto& [hk, bytes] : batch) {
      std::string owner, key;
      if (!SplitHintKey(hk, &owner, &key)) continue;
      if (hints_in_flight.count(hk)) continue;
      const MemberState* m = membership.Find(owner);
      // An owner we do not know yet (right after a restart, before gossip): keep the hint.
      // It is an acknowledged copy; dropping it could lose the write.
      if (m == nullptr) continue;
      std::string target = owner;
      if (m->status == MemberStatus::kRemoved || owner == cfg.id) {
        // The owner is gone for good (or is us): the key's current replicas take it.
        target.clear();
        for (const auto& id : Preference(key)) {
          if (id == cfg.id) {
            Record rec;
            if (DecodeRecord(bytes, &rec).ok() && JoinLocal(key, rec).ok()) target = cfg.id;
            break;
          }
          if (membership.IsReachable(id)) {
            target = id;
            break;
          }
        }
        if (target.empty()) continue;  // nobody to take it now; retry next pass
        if (target == cfg.id) {
          if (engine->Delete(hk).ok() && hint_count > 0) --hint_count;
          continue;
        }
      }
      if (!membership.IsReachable(target)) continue;
      Message msg;
      msg.type = MsgType::kWriteReq;
      msg.key = key;
      if (!DecodeRecord(bytes, &msg.record).ok()) {
        if (engine->Delete(hk).ok() && hint_count > 0) --hint_count;
        continue;
      }
      uint64_t id = NewRequest(cfg.request_timeout_ms);
      msg.req_id = id;
      hints_in_flight.insert(hk);
      deliveries[id] = HintDelivery{hk, std::move(bytes)};
      SendTo(target, &msg);
    }
  }

  void OnHintAck(std::map<uint64_t, HintDelivery>::iterator it, const Status& s) {
    HintDelivery d = std::move(it->second);
    deliveries.erase(it);
    hints_in_flight.erase(d.hint_key);
    if (!s.ok()) return;
    std::string now;
    // Delete only what was delivered: a hint that grew meanwhile is delivered next pass.
    if (engine->Get(d.hint_key, &now).ok() && now == d.bytes) {
      if (engine->Delete(d.hint_key).ok() && hint_count > 0) --hint_count;
    }
    ++stats.hints_delivered;
  }

  // ---- anti-entropy (Dynamo §4.7) -------------------------------------------------------
  //
  // A round between us (A) and a peer P, over the keys both replicate (merkle.h):
  //   A -> P  kAeTreeReq   A's interior hashes of A's tree for P, and A's ring fingerprint
  //   P -> A  kAeTreeResp  the interior nodes that differ and P's leaf hashes under them
  //                        (empty: the trees agree, the round is over)
  //   A -> P  kAeKeysReq   A's records of (some of) the differing leaves; the leaves sent
  //                        whole are listed
  //   P -> A  kAeKeysResp  P Joins them in and answers with its own record of every key
  //                        where it now differs from what A sent, plus its records of the
  //                        keys of the whole leaves that A did not send; A Joins those.
  // Both sides only Join, so a lost or repeated message costs work, never data; a round
  // that times out is simply forgotten. Trees compare only under the same ring, so both
  // sides mean the same key set. Trees are snapshots (rebuilt every ae_interval_ms, one
  // chunk per tick): a record changed since the last build costs at most a useless
  // exchange, and the next build sees it.

  void OnRingChanged() {
    uint64_t h = XXH3_64bits_withSeed(nullptr, 0, static_cast<uint64_t>(cfg.n));
    for (const auto& m : ring.members()) {
      h = XXH3_64bits_withSeed(m.id.data(), m.id.size(), h);
      h = XXH3_64bits_withSeed(&m.tokens, sizeof m.tokens, h);
    }
    ring_hash = h;
    // The peers we share a replica set with: walk the preference list of every arc.
    std::set<std::string> partners;
    size_t n = static_cast<size_t>(std::max(cfg.n, 1));
    std::vector<uint32_t> walk;
    for (const auto& [pos, id] : ring.Tokens()) {
      ring.Walk(pos, n, &walk);
      bool mine = false;
      for (uint32_t i : walk) mine |= ring.members()[i].id == cfg.id;
      if (!mine) continue;
      for (uint32_t i : walk) {
        if (ring.members()[i].id != cfg.id) partners.insert(ring.members()[i].id);
      }
    }
    ae_partners.assign(partners.begin(), partners.end());
  }

  bool AeShares(std::string_view key, const std::string& peer) const {
    std::vector<std::string> pref = Preference(key);
    return Contains(pref, cfg.id) && Contains(pref, peer);
  }

  bool AeReady() const { return ae_have_ready && ae_ready.ring_hash == ring_hash; }

  const AePeer& AePeerOf(const std::string& peer) const {
    static const AePeer kEmpty;
    auto it = ae_ready.peers.find(peer);
    return it == ae_ready.peers.end() ? kEmpty : it->second;
  }

  void AeStartBuild(uint64_t now) {
    ae_next = AeSnapshot();
    ae_next.ring_hash = ring_hash;
    ae_cursor = std::string(kDataPrefix);
    ae_building = true;
    ae_next_build_ms = now + cfg.ae_interval_ms;
  }

  // One bounded chunk of the tree build. Hashes the stored bytes as they are (EncodeRecord
  // output is canonical), so the build decodes nothing.
  void AeBuildStep(uint64_t now) {
    if (ae_building && ae_next.ring_hash != ring_hash) AeStartBuild(now);  // ring moved
    if (!ae_building) return;
    size_t n = static_cast<size_t>(std::max(cfg.n, 1));
    std::vector<uint32_t> walk;
    size_t seen = 0, hashed = 0;
    bool more = false;
    std::string last;
    Status s = engine->Scan(ae_cursor, kDataEnd, kAeBuildChunk,
                            [&](std::string_view k, std::string_view v) {
                              if (hashed >= kAeBuildBytes) {
                                more = true;  // big values: continue next tick
                                return false;
                              }
                              ++seen;
                              hashed += k.size() + v.size();
                              last.assign(k);
                              std::string_view key = k.substr(kDataPrefix.size());
                              ring.Walk(Ring::KeyHash(key), n, &walk);
                              bool mine = false;
                              for (uint32_t i : walk) mine |= ring.members()[i].id == cfg.id;
                              if (!mine || walk.size() < 2) return true;
                              uint32_t idx = static_cast<uint32_t>(ae_next.keys.size());
                              ae_next.keys.emplace_back(key);
                              size_t leaf = MerkleTree::LeafOf(key);
                              uint64_t h = MerkleTree::ItemHash(key, v);
                              for (uint32_t i : walk) {
                                const std::string& id = ring.members()[i].id;
                                if (id == cfg.id) continue;
                                AePeer& p = ae_next.peers[id];
                                if (p.leaf_keys.empty()) p.leaf_keys.resize(MerkleTree::kLeaves);
                                p.tree.Add(leaf, h);
                                p.leaf_keys[leaf].push_back(idx);
                              }
                              return true;
                            });
    if (!s.ok()) {
      Log(Logger::Level::kWarn, "anti-entropy tree build failed: " + s.ToString());
      ae_building = false;
      return;
    }
    if (more || seen == kAeBuildChunk) {
      ae_cursor = std::move(last);
      ae_cursor.push_back('\0');
      return;
    }
    ae_ready = std::move(ae_next);
    ae_next = AeSnapshot();
    ae_have_ready = true;
    ae_ready_ms = now;
    ae_building = false;
  }

  void AeTick(uint64_t now) {
    bool periodic = cfg.ae_interval_ms > 0;
    if (!ae_building && periodic && now >= ae_next_build_ms) AeStartBuild(now);
    AeBuildStep(now);
    if (!AeReady()) return;
    if (ae_sync_pending && !ae_building) {
      ae_sync_pending = false;
      for (const auto& p : ae_partners) {
        if (membership.IsReachable(p)) AeStartRound(p, kAeSyncRetries);
      }
    }
    if (!ae_retry.empty()) {
      std::vector<std::pair<uint64_t, AeRound>> later;
      for (auto& [due, round] : ae_retry) {
        if (due > now) {
          later.emplace_back(due, std::move(round));
        } else if (membership.IsReachable(round.peer)) {
          AeStartRound(round.peer, round.retries);
        }
      }
      ae_retry.swap(later);
    }
    if (!periodic) return;
    // Jittered, so the nodes of a cluster do not all sync at once; the first round waits an
    // interval too (a node that just started has nothing to offer yet, and read repair and
    // hinted handoff get the first go).
    uint64_t iv = cfg.ae_interval_ms;
    auto next = [&] { return now + iv - iv / 4 + random->Uniform(iv / 2 + 1); };
    if (ae_next_round_ms == 0) ae_next_round_ms = next();
    if (now < ae_next_round_ms) return;
    ae_next_round_ms = next();
    std::vector<const std::string*> up;
    for (const auto& p : ae_partners) {
      if (membership.IsReachable(p)) up.push_back(&p);
    }
    if (!up.empty()) AeStartRound(*up[random->Uniform(up.size())]);
  }

  size_t SyncNow() {
    if (standalone) return 0;
    // A fresh build, then a round with every reachable partner (AeTick).
    AeStartBuild(clock->NowMs());
    ae_sync_pending = true;
    size_t n = 0;
    for (const auto& p : ae_partners) n += membership.IsReachable(p) ? 1 : 0;
    return n;
  }

  void AeStartRound(const std::string& peer, int retries = 0) {
    for (const auto& [id, p] : ae_pending) {
      if (p.peer == peer) return;  // one exchange per peer at a time
    }
    uint64_t id = NewRequest(cfg.request_timeout_ms);
    ae_pending[id] = AeRound{peer, retries};
    Message m;
    m.type = MsgType::kAeTreeReq;
    m.req_id = id;
    m.ring_hash = ae_ready.ring_hash;
    m.hashes = AePeerOf(peer).tree.InteriorHashes();
    SendTo(peer, &m);
  }

  void OnAeTreeReq(const Message& m) {
    Message resp;
    resp.type = MsgType::kAeTreeResp;
    resp.req_id = m.req_id;
    uint64_t now = clock->NowMs();
    bool stale = !AeReady() ||
                 (cfg.ae_interval_ms == 0 && now - ae_ready_ms > kAeOnDemandMaxAgeMs);
    if (stale && !ae_building) AeStartBuild(now);  // on demand; the sender retries
    if (stale || m.ring_hash != ring_hash) {
      resp.set_status(Status::Unavailable("anti-entropy: trees not built yet, or rings differ"));
    } else {
      const MerkleTree& tree = AePeerOf(m.from_id).tree;
      resp.buckets = tree.DiffInterior(m.hashes);
      for (uint32_t b : resp.buckets) {
        resp.hashes.insert(resp.hashes.end(), tree.children(b),
                           tree.children(b) + MerkleTree::kFanout);
      }
    }
    Send(m.from_addr, &resp);
  }

  // Appends the local record of `key` if there is one; false once a cap is reached.
  bool AeAppend(const std::string& key, Message* out, size_t* bytes) {
    if (out->records.size() >= kAeMaxKeys || *bytes >= kAeMaxBytes) return false;
    Record rec;
    bool found = false;
    if (!LoadLocal(key, &rec, &found).ok() || !found) return true;
    *bytes += key.size() + 64;
    for (const auto& sib : rec.siblings) *bytes += sib.value.size() + 48;
    out->records.emplace_back(key, std::move(rec));
    return true;
  }

  void OnAeTreeResp(const Message& m) {
    auto it = ae_pending.find(m.req_id);
    if (it == ae_pending.end() || it->second.peer != m.from_id) return;
    AeRound round = std::move(it->second);
    ae_pending.erase(it);
    std::string peer = round.peer;
    if (!m.status().ok()) {
      if (round.retries > 0) {
        --round.retries;
        uint64_t due = clock->NowMs() + std::max<uint64_t>(cfg.gossip_interval_ms, 50);
        ae_retry.emplace_back(due, std::move(round));
      }
      return;
    }
    if (m.buckets.empty()) {
      ++stats.ae_rounds;  // in sync
      return;
    }
    if (!AeReady() || m.hashes.size() != m.buckets.size() * MerkleTree::kFanout) return;
    const AePeer& mine = AePeerOf(peer);
    std::vector<uint32_t> leaves;
    for (size_t i = 0; i < m.buckets.size(); ++i) {
      if (m.buckets[i] >= MerkleTree::kInterior) return;
      auto d = mine.tree.DiffLeaves(m.buckets[i], &m.hashes[i * MerkleTree::kFanout]);
      leaves.insert(leaves.end(), d.begin(), d.end());
    }
    if (leaves.empty()) {
      ++stats.ae_rounds;  // our tree was rebuilt meanwhile and now agrees
      return;
    }
    Message req;
    req.type = MsgType::kAeKeysReq;
    size_t bytes = 0;
    // Start at a random differing leaf: when the caps cut a round short, the next rounds
    // pick up other leaves.
    size_t start = random->Uniform(leaves.size());
    for (size_t j = 0; j < leaves.size(); ++j) {
      uint32_t leaf = leaves[(start + j) % leaves.size()];
      static const std::vector<uint32_t> kNone;
      const std::vector<uint32_t>& list = mine.leaf_keys.empty() ? kNone : mine.leaf_keys[leaf];
      bool first = req.records.empty() && req.buckets.empty();
      if (!first && req.records.size() + list.size() > kAeMaxKeys) break;
      // A leaf too big for one message goes in part, from a random offset.
      size_t off = first && list.size() > kAeMaxKeys ? random->Uniform(list.size()) : 0;
      bool whole = true;
      for (size_t k = 0; k < list.size() && whole; ++k) {
        whole = AeAppend(ae_ready.keys[list[(off + k) % list.size()]], &req, &bytes);
      }
      if (!whole) break;
      req.buckets.push_back(leaf);
    }
    uint64_t id = NewRequest(cfg.request_timeout_ms);
    req.req_id = id;
    ae_pending[id] = std::move(round);
    SendTo(peer, &req);
  }

  void OnAeKeysReq(const Message& m) {
    Message resp;
    resp.type = MsgType::kAeKeysResp;
    resp.req_id = m.req_id;
    std::set<std::string_view> sent;
    size_t bytes = 0;
    for (const auto& [key, rec] : m.records) {
      sent.insert(key);
      if (!AeShares(key, m.from_id)) continue;  // not ours to keep (rings differ)
      bool changed = false;
      Record merged;
      Status s = JoinLocal(key, rec, &changed, &merged);
      if (!s.ok()) {
        Log(Logger::Level::kWarn, "anti-entropy: record not applied: " + s.ToString());
        continue;
      }
      if (changed) ++stats.ae_keys_repaired;
      if (!(merged == rec)) {
        bytes += key.size() + 64;
        for (const auto& sib : merged.siblings) bytes += sib.value.size() + 48;
        resp.records.emplace_back(key, std::move(merged));
      }
    }
    // Keys of the whole leaves that the sender does not hold.
    if (AeReady()) {
      const AePeer& mine = AePeerOf(m.from_id);
      for (uint32_t leaf : m.buckets) {
        if (mine.leaf_keys.empty() || leaf >= MerkleTree::kLeaves) break;
        bool room = true;
        for (uint32_t idx : mine.leaf_keys[leaf]) {
          const std::string& key = ae_ready.keys[idx];
          if (sent.count(key) || !AeShares(key, m.from_id)) continue;
          if (!(room = AeAppend(key, &resp, &bytes))) break;
        }
        if (!room) break;
      }
    }
    Send(m.from_addr, &resp);
  }

  void OnAeKeysResp(const Message& m) {
    auto it = ae_pending.find(m.req_id);
    if (it == ae_pending.end() || it->second.peer != m.from_id) return;
    std::string peer = std::move(it->second.peer);
    ae_pending.erase(it);
    if (!m.status().ok()) return;
    for (const auto& [key, rec] : m.records) {
      if (!AeShares(key, peer)) continue;
      bool changed = false;
      Status s = JoinLocal(key, rec, &changed);
      if (!s.ok()) {
        Log(Logger::Level::kWarn, "anti-entropy: record not applied: " + s.ToString());
        continue;
      }
      if (changed) ++stats.ae_keys_repaired;
    }
    ++stats.ae_rounds;
  }

  // ---- inbound -------------------------------------------------------------------------

  void OnMessage(std::string_view frame) {
    Message m;
    Status s = DecodeFrame(frame, cfg.cluster_secret, &m);
    if (!s.ok()) {
      Log(Logger::Level::kWarn, "dropped inter-node frame: " + s.ToString());
      return;
    }
    if (standalone || m.from_addr.empty()) return;
    if (membership.self().status == MemberStatus::kRemoved && m.type != MsgType::kGossip) {
      return;
    }
    switch (m.type) {
      case MsgType::kGossip: {
        bool changed = membership.Merge(m.members, clock->NowMs());
        if (changed) RebuildRing();
        (void)PersistIncarnation();
        if (m.reply_wanted) SendGossip(m.from_addr, /*reply_wanted=*/false);
        break;
      }
      case MsgType::kReadReq: {
        Message resp;
        resp.type = MsgType::kReadResp;
        resp.req_id = m.req_id;
        bool found = false;
        resp.set_status(LoadLocal(m.key, &resp.record, &found));
        resp.found = found;
        Send(m.from_addr, &resp);
        break;
      }
      case MsgType::kReadResp:
        OnReadReply(m.req_id, m.from_id, m.status(), std::move(m.record));
        break;
      case MsgType::kWriteReq:
      case MsgType::kHintedWrite: {
        Status ws = m.type == MsgType::kWriteReq ? JoinLocal(m.key, m.record)
                                                  : StoreHint(m.hint_owner, m.key, m.record);
        Message ack;
        ack.type = MsgType::kWriteAck;
        ack.req_id = m.req_id;
        ack.set_status(ws);
        Send(m.from_addr, &ack);  // released by the owner only after engine Commit
        break;
      }
      case MsgType::kWriteAck:
        OnWriteAck(m.req_id, m.from_id, m.status());
        break;
      case MsgType::kReadRepair: {
        Status rs = JoinLocal(m.key, m.record);
        if (!rs.ok()) Log(Logger::Level::kWarn, "read repair not applied: " + rs.ToString());
        break;
      }
      case MsgType::kForwardReq:
        OnForwardReq(m);
        break;
      case MsgType::kForwardResp:
        OnForwardResp(m);
        break;
      case MsgType::kScanReq: {
        Message resp;
        resp.type = MsgType::kScanResp;
        resp.req_id = m.req_id;
        bool done = false;
        resp.set_status(LivePage(m.key, static_cast<size_t>(m.r), &resp.keys, &resp.key, &done));
        resp.found = done;
        Send(m.from_addr, &resp);
        break;
      }
      case MsgType::kScanResp: {
        auto it = scans.find(m.req_id);
        if (it == scans.end()) break;
        ScanCallback cb = std::move(it->second.cb);
        scans.erase(it);
        cb(m.status(), std::move(m.keys), std::move(m.key), m.found);
        break;
      }
      case MsgType::kAeTreeReq:
        OnAeTreeReq(m);
        break;
      case MsgType::kAeTreeResp:
        OnAeTreeResp(m);
        break;
      case MsgType::kAeKeysReq:
        OnAeKeysReq(m);
        break;
      case MsgType::kAeKeysResp:
        OnAeKeysResp(m);
        break;
    }
  }

  // One page of live local keys after start_after. *last is the last key visited (live or
  // not), *done when the scan reached the end.
  Status LivePage(const std::string& start_after, size_t limit, std::vector<std::string>* keys,
                  std::string* last, bool* done) {
    size_t visited = 0;
    uint64_t now = clock->WallMs();
    *last = start_after;
    Status s = ScanLocal(start_after, limit, [&](std::string_view k, const Record& rec) {
      ++visited;
      last->assign(k);
      if (Winner(rec, now) != nullptr) keys->emplace_back(k);
      return true;
    });
    *done = visited < limit;
    return s;
  }

  std::vector<std::string> ScanMembers() const {
    if (standalone) return {cfg.id};
    std::vector<std::string> out;
    for (const auto& m : membership.Digest()) {
      if (m.id == cfg.id || membership.IsReachable(m.id)) out.push_back(m.id);
    }
    std::sort(out.begin(), out.end());
    return out;
  }

  void ScanNode(const std::string& node_id, const std::string& start_after, size_t limit,
                ScanCallback done) {
    limit = std::clamp<size_t>(limit, 1, kMaxScanKeys);
    if (node_id == cfg.id || standalone) {
      std::vector<std::string> keys;
      std::string last;
      bool fin = false;
      Status s = LivePage(start_after, limit, &keys, &last, &fin);
      return done(s, std::move(keys), std::move(last), fin);
    }
    const std::string* addr = AddrOf(node_id);
    if (addr == nullptr) return done(Status::Unavailable("unknown node " + node_id), {}, {}, true);
    uint64_t id = NewRequest(cfg.request_timeout_ms);
    scans[id].cb = std::move(done);
    Message m;
    m.type = MsgType::kScanReq;
    m.req_id = id;
    m.key = start_after;
    m.r = static_cast<int32_t>(limit);
    Send(*addr, &m);
  }

  bool OwnsForScan(const std::string& node_id, const std::string& key,
                   const std::vector<std::string>& snapshot) const {
    if (standalone) return true;
    for (const auto& id : Preference(key)) {
      if (std::find(snapshot.begin(), snapshot.end(), id) != snapshot.end()) return id == node_id;
    }
    return false;
  }

  void OnTick() {
    uint64_t now = clock->NowMs();
    if (!standalone) {
      std::vector<std::string> to;
      membership.Tick(now, &to);
      for (const auto& addr : to) SendGossip(addr, /*reply_wanted=*/true);
      DeliverHints(now);
      AeTick(now);
    }
    // Expire requests. Collect first: callbacks may start new requests (new timers).
    std::vector<uint64_t> due;
    while (!timers.empty() && timers.begin()->first <= now) {
      due.push_back(timers.begin()->second);
      timers.erase(timers.begin());
    }
    for (uint64_t id : due) Expire(id);
  }

  void Expire(uint64_t id) {
    if (auto it = reads.find(id); it != reads.end()) {
      PendingRead& p = it->second;
      if (p.done) return FinishRead(id);  // repair what answered
      ++stats.coordinator_timeouts;
      p.done = true;
      ReadCallback cb = std::move(p.cb);
      FinishRead(id);
      return cb(Status::Unavailable("read timed out waiting for replicas"), {});
    }
    if (auto it = writes.find(id); it != writes.end()) {
      ++stats.coordinator_timeouts;
      WriteCallback cb = std::move(it->second.cb);
      writes.erase(it);
      return cb(Status::Unavailable("write timed out waiting for replicas"), {});
    }
    if (auto it = forwards.find(id); it != forwards.end()) {
      ++stats.coordinator_timeouts;
      PendingForward f = std::move(it->second);
      forwards.erase(it);
      Status s = Status::Unavailable("forwarded request timed out");
      if (f.read_cb) return f.read_cb(s, {});
      if (f.write_cb) return f.write_cb(s, {});
      return;
    }
    if (auto it = deliveries.find(id); it != deliveries.end()) {
      hints_in_flight.erase(it->second.hint_key);
      deliveries.erase(it);
    }
    if (ae_pending.erase(id)) return;  // an anti-entropy exchange the peer did not answer
    if (auto it = scans.find(id); it != scans.end()) {
      ++stats.coordinator_timeouts;
      ScanCallback cb = std::move(it->second.cb);
      scans.erase(it);
      return cb(Status::Unavailable("scan timed out waiting for a node"), {}, {}, true);
    }
  }

  // ---- local views ---------------------------------------------------------------------

  Status Start() {
    std::string bytes;
    uint64_t inc = 0;
    Status s = engine->Get(kIncarnationKey, &bytes);
    if (s.ok()) {
      auto [p, ec] = std::from_chars(bytes.data(), bytes.data() + bytes.size(), inc);
      if (ec != std::errc() || p != bytes.data() + bytes.size()) {
        return Status::Corruption("bad persisted incarnation");
      }
    } else if (!s.IsNotFound()) {
      return s;
    }
    ++inc;
    s = engine->Put(kIncarnationKey, std::to_string(inc));
    if (s.code() == Code::kNoSpace) {
      // A full store must still come up to serve reads (and deletes that free space). The
      // incarnation only orders our gossip; an unsaved one is refuted like any stale view.
      // Dots stay safe: the actor id below is fresh and random whatever is persisted.
      Log(Logger::Level::kWarn, "storage full: incarnation not persisted: " + s.ToString());
    } else if (!s.ok()) {
      return s;
    }
    incarnation = inc;
    actor = FreshActor();  // never reuse dots of a previous life (kv679)
    // Request ids start at a random point each life, so a late reply to the previous life's
    // request #k cannot complete this life's request #k.
    next_req_id = (random->Next() & 0x7fffffffffffull) + 1;
    s = RecountLocal();
    if (!s.ok()) return s;
    hint_count = 0;
    s = engine->Scan(kHintPrefix, kHintEnd, 0, [&](std::string_view, std::string_view) {
      ++hint_count;
      return true;
    });
    if (!s.ok()) return s;
    if (!standalone) {
      membership.Start(clock->NowMs(), incarnation);
      // The members we knew before the restart: without them a restarted node would
      // coordinate with a ring of itself (or of whoever restarted with it) until gossip
      // arrives, and place writes on nodes that do not own them.
      std::string saved;
      if (engine->Get(kMembersKey, &saved).ok()) {
        Message mm;
        if (DecodeFrame(saved, "", &mm).ok() && mm.type == MsgType::kGossip) {
          membership.Restore(mm.members, clock->NowMs());
        }
      }
      RebuildRing();
    }
    return Status::OK();
  }

  // Recounts the local records (all, and live) from the engine: at start, and after the
  // engine took back writes whose counts were already taken (a failed group commit).
  Status RecountLocal() {
    key_count = 0;
    live_count = 0;
    uint64_t now_ms = clock->WallMs();
    return engine->Scan(kDataPrefix, kDataEnd, 0, [&](std::string_view, std::string_view bytes) {
      ++key_count;
      Record rec;
      if (DecodeRecord(bytes, &rec).ok() && !IsDeleted(rec, now_ms)) ++live_count;
      return true;
    });
  }

  Status ScanLocal(std::string_view start_after, size_t limit,
                   const std::function<bool(std::string_view, const Record&)>& visit) {
    // The engine forbids re-entering it from a scan visitor, and `visit` is the caller's
    // code; so copy a chunk out, then visit it.
    std::string from = DataKey(start_after);
    if (!start_after.empty()) from.push_back('\0');  // first key after start_after
    size_t visited = 0;
    while (limit == 0 || visited < limit) {
      size_t want = limit == 0 ? kScanChunk : std::min(kScanChunk, limit - visited);
      std::vector<std::pair<std::string, std::string>> chunk;
      Status s = engine->Scan(from, kDataEnd, want, [&](std::string_view k, std::string_view v) {
        chunk.emplace_back(std::string(k), std::string(v));
        return true;
      });
      if (!s.ok()) return s;
      for (auto& [k, v] : chunk) {
        Record rec;
        s = DecodeRecord(v, &rec);
        if (!s.ok()) continue;  // logged by reads; SCAN skips it
        ++visited;
        if (!visit(std::string_view(k).substr(kDataPrefix.size()), rec)) return Status::OK();
      }
      if (chunk.size() < want) break;
      from = chunk.back().first;
      from.push_back('\0');
    }
    return Status::OK();
  }

  Status FlushLocal() {
    for (auto [begin, end] : {std::pair{kDataPrefix, kDataEnd}, std::pair{kHintPrefix, kHintEnd}}) {
      while (true) {
        std::vector<storage::WriteOp> batch;
        Status s = engine->Scan(begin, end, 1024, [&](std::string_view k, std::string_view) {
          batch.push_back({storage::WriteOp::Kind::kDelete, std::string(k), {}});
          return true;
        });
        if (!s.ok()) return s;
        if (batch.empty()) break;
        s = engine->Write(batch);
        if (!s.ok()) return s;
      }
    }
    cache.Clear();
    key_count = 0;
    live_count = 0;
    hint_count = 0;
    hints_in_flight.clear();
    hint_cursor.clear();
    ae_have_ready = false;
    ae_ready = AeSnapshot();
    ae_building = false;
    ae_next = AeSnapshot();
    ae_retry.clear();
    // A new actor: dots we issued before the flush may live on at other replicas.
    actor = FreshActor();
    return Status::OK();
  }

  // Deletes the local record once every sibling has been dead (tombstone or expired) for
  // grace_ms. The grace period is what keeps a replica that missed the delete from handing
  // the old value back by read repair: it must have received the tombstone (by the write
  // itself, a hint, or read repair) within the grace period.
  Status ReapLocal(const std::string& key, uint64_t grace_ms, uint64_t expiry_grace_ms) {
    if (expiry_grace_ms == UINT64_MAX) expiry_grace_ms = grace_ms;
    Record rec;
    bool found = false;
    Status s = LoadLocal(key, &rec, &found);
    if (!s.ok()) return s;
    if (!found) return Status::NotFound();
    uint64_t now = clock->WallMs();
    for (const auto& sib : rec.siblings) {
      bool expired = sib.expiry_ms != 0 && sib.expiry_ms + expiry_grace_ms <= now;
      bool old_tomb = sib.kind == ValueKind::kTombstone && sib.timestamp_ms + grace_ms <= now;
      if (!expired && !old_tomb) return Status::NotFound();
    }
    // A hint we still hold for this key means a replica has not seen the latest write.
    if (hint_count > 0) {
      for (const auto& m : membership.Digest()) {
        std::string ignored;
        if (engine->Get(HintKey(m.id, key), &ignored).ok()) return Status::NotFound();
      }
    }
    s = engine->Delete(DataKey(key));
    cache.Erase(key);
    if (s.ok() && key_count > 0) --key_count;
    // A record that died by expiry (not all tombstones) was counted live when last stored.
    bool expired_value = std::any_of(rec.siblings.begin(), rec.siblings.end(), [](const Sibling& sib) {
      return sib.kind != ValueKind::kTombstone;
    });
    if (s.ok() && expired_value && live_count > 0) --live_count;
    return s;
  }

  std::vector<MemberInfo> Members() const {
    std::vector<MemberInfo> out;
    if (standalone) {
      out.push_back({cfg.id, cfg.cluster_addr, cfg.client_addr, "up", cfg.tokens, 0, incarnation});
      return out;
    }
    for (const auto& m : membership.Digest()) {
      out.push_back({m.id, m.cluster_addr, m.client_addr, MemberStatusName(m.status),
                     static_cast<int>(m.tokens), m.heartbeat, m.incarnation});
    }
    return out;
  }

  Status JoinCluster(const std::string& addr) {
    if (standalone) {
      return Status::NotSupported("standalone node: set listen.cluster to join a cluster");
    }
    if (addr.empty()) return Status::Invalid("empty cluster address");
    membership.AddSeed(addr);
    SendGossip(addr, /*reply_wanted=*/true);
    return Status::OK();
  }

  Status LeaveCluster() {
    if (standalone) return Status::NotSupported("standalone node");
    membership.Leave(clock->NowMs());
    RebuildRing();
    Status s = PersistIncarnation();
    // Tell everyone now rather than waiting for gossip to spread it.
    for (const auto& m : membership.Digest()) {
      if (m.id != cfg.id && m.status != MemberStatus::kRemoved) {
        SendGossip(m.cluster_addr, /*reply_wanted=*/false);
      }
    }
    return s;
  }

  Status RemoveMember(const std::string& id) {
    if (standalone) return Status::NotSupported("standalone node");
    Status s = membership.Remove(id, clock->NowMs());
    if (s.ok()) RebuildRing();
    return s;
  }
};

Node::Node(NodeConfig cfg, Transport* transport, Clock* clock, Random* random,
           storage::Engine* engine, Logger* logger)
    : impl_(std::make_unique<Impl>(std::move(cfg), transport, clock, random, engine, logger)) {}
Node::~Node() = default;

Status Node::Start() { return impl_->Start(); }
void Node::OnMessage(std::string_view frame) { impl_->OnMessage(frame); }
void Node::OnTick() { impl_->OnTick(); }
void Node::Read(const std::string& key, int r, ReadCallback done) {
  impl_->Read(key, r, std::move(done));
}
void Node::Prefetch(std::string_view key, int stage) {
  if (key.empty() || key.size() > storage::kKeyBytesMax) return;
  impl_->cache.Prefetch(key, stage);
  if (stage <= 2) impl_->engine->Prefetch(impl_->DataKeyView(key), stage);  // engines use 1-2
}

void Node::Write(const std::string& key, WriteRequest req, WriteCallback done) {
  impl_->Write(key, std::move(req), std::move(done));
}
Status Node::ScanLocal(std::string_view start_after, size_t limit,
                       const std::function<bool(std::string_view, const Record&)>& visit) {
  return impl_->ScanLocal(start_after, limit, visit);
}
uint64_t Node::LocalKeyCountEstimate() { return impl_->key_count; }
uint64_t Node::LocalLiveKeyCount() const { return impl_->live_count; }
uint64_t Node::ExpiringWrites() const { return impl_->expiring_writes; }
Status Node::FlushLocal() { return impl_->FlushLocal(); }
void Node::DropCaches() {
  impl_->cache.Clear();
  (void)impl_->RecountLocal();
}
std::vector<std::string> Node::ScanMembers() const { return impl_->ScanMembers(); }
void Node::ScanNode(const std::string& node_id, const std::string& start_after, size_t limit,
                    ScanCallback done) {
  impl_->ScanNode(node_id, start_after, limit, std::move(done));
}
bool Node::OwnsForScan(const std::string& node_id, const std::string& key,
                       const std::vector<std::string>& snapshot) const {
  return impl_->OwnsForScan(node_id, key, snapshot);
}
Status Node::ReapLocal(const std::string& key, uint64_t grace_ms, uint64_t expiry_grace_ms) {
  return impl_->ReapLocal(key, grace_ms, expiry_grace_ms);
}
size_t Node::SyncNow() { return impl_->SyncNow(); }
std::vector<MemberInfo> Node::Members() const { return impl_->Members(); }
Status Node::Join(const std::string& cluster_addr) { return impl_->JoinCluster(cluster_addr); }
Status Node::Leave() { return impl_->LeaveCluster(); }
Status Node::Remove(const std::string& node_id) { return impl_->RemoveMember(node_id); }
std::vector<std::pair<uint64_t, std::string>> Node::RingTokens() const {
  return impl_->ring.Tokens();
}
std::vector<std::string> Node::PreferenceList(const std::string& key) const {
  return impl_->Preference(key);
}
const NodeConfig& Node::config() const { return impl_->cfg; }
ActorId Node::actor() const { return impl_->actor; }
NodeStats Node::stats() const {
  NodeStats st = impl_->stats;
  st.cache_hits = impl_->cache.hits();
  st.cache_misses = impl_->cache.misses();
  return st;
}

}  // namespace dynakv::cluster
