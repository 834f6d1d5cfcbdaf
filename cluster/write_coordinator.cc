// cluster/write_coordinator.cc: see write_coordinator.h.
#include "cluster/write_coordinator.h"

#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

#include "cluster/collection.h"
#include "cluster/forwarder.h"
#include "cluster/hints.h"
#include "protocol/resp.h"

namespace dynakv::cluster {

void WriteCoordinator::Write(const std::string& key, WriteRequest req, WriteCallback done) {
  const KeyspacePolicy& pol = ctx_->PolicyOf(key);
  Status s = ctx_->CheckQuorum(&req.w, pol.w, pol.n, "w");
  if (!s.ok()) return done(s, WriteReply{});
  ++ctx_->stats.writes;
  if (ctx_->standalone) {
    if (req.w > 1) return done(Status::Unavailable("only 1 replica (standalone node)"), {});
    WriteReply reply;
    bool existed = false, was_live = false;
    s = ApplyLocal(key, req, &reply.record, &existed, &was_live);
    if (!s.ok()) return done(s, WriteReply{});
    if (req.want_context) reply.context = reply.record.context;
    if (req.want_record) {
      s = ctx_->store.Store(key, reply.record, existed, was_live);
    } else {
      s = ctx_->store.Store(key, std::move(reply.record), existed, was_live);
      reply.record = Record();
    }
    if (!s.ok()) return done(s, WriteReply{});
    reply.copies = 1;
    return done(Status::OK(), std::move(reply));
  }
  Coordinate(key, std::move(req), std::move(done), /*forwarded=*/false,
             ctx_->cfg.request_timeout_ms);
}

// The coordinator's half of a write: assign the dot (only coordinators do) on top of the
// local copy. *rec receives the new record; nothing is persisted here.
Status WriteCoordinator::ApplyLocal(const std::string& key, WriteRequest& req, Record* rec,
                                    bool* existed, bool* was_live) {
  Status s = LoadForWrite(key, req, rec, existed);
  if (!s.ok()) return s;
  // A key we reaped: our actor's dots for it live on elsewhere and we forgot them.
  if (ctx_->store.Forgot(key)) ctx_->actor = ctx_->FreshActor();
  *was_live = *existed && !IsDeleted(*rec, ctx_->clock->WallMs());
  return ApplyOp(req, rec, ctx_->actor, Lww(key));
}

// A plain write without a context supersedes every sibling this replica holds (ApplyWrite
// with the record's own context; an lww write replaces them all), so their values are never
// read: a big record is loaded without them and a SET over a 100 MB value does not copy it
// (docs/ARCHITECTURE.md, "Big values"). Any other write builds on the values it loads.
Status WriteCoordinator::LoadForWrite(const std::string& key, const WriteRequest& req, Record* rec,
                                      bool* existed) {
  if ((req.op != OpKind::kPut && req.op != OpKind::kDelete) || req.has_context) {
    return ctx_->store.Load(key, rec, existed, /*take=*/true);
  }
  bool without_values = false;
  Status s = ctx_->store.LoadVersions(key, rec, existed, &without_values);
  if (!s.ok() || !without_values) return s;
  // Defensive, as ApplyWrite is: a record covers its siblings, but a sibling it did not cover
  // would be kept, and then its value must be there.
  const VersionVector& vv = rec->context;
  if (std::all_of(rec->siblings.begin(), rec->siblings.end(), [&](const Sibling& x) { return Supersedes(vv, x); })) {
    return s;
  }
  return ctx_->store.Load(key, rec, existed, /*take=*/true);
}

// A stand-in coordinator (every preference-list node down) keeps the write as a hint for
// `owner`. It builds on what it holds for the key (the hint it may already hold, a local
// copy from an older ring), but once an earlier hint was delivered and deleted it no longer
// knows the dots it issued for the key; so each stand-in write takes a fresh, never-used
// actor and its dot can never repeat one (kv679; found by the simulator: partition.toml
// seed 488 reissued a stand-in dot). The price: one clock entry per stand-in write, which
// Prune() bounds.
Status WriteCoordinator::ApplyStandIn(const std::string& key, const std::string& owner,
                                      WriteRequest& req, Record* rec) {
  bool found = false;
  Status s = ctx_->store.Load(key, rec, &found);
  if (!s.ok()) return s;
  Record hinted;
  bool have = false;
  s = hints_->Peek(owner, key, &hinted, &have);
  if (!s.ok()) return s;
  if (have) *rec = cluster::Join(*rec, hinted);
  return ApplyOp(req, rec, ctx_->FreshActor(), Lww(key));
}

// A plain key of a keyspace with conflict = "lww": its strings, tombstones and counters are
// written as last-writer-wins values (version.h). A collection's header and elements never.
bool WriteCoordinator::Lww(const std::string& key) const {
  return ctx_->PolicyOf(key).lww && IsPlainRecordKey(key);
}

// The request's payload is moved into the record (callers use only req.w afterwards).
Status WriteCoordinator::ApplyOp(WriteRequest& req, Record* rec, ActorId who, bool lww) {
  uint64_t now_ms = ctx_->clock->WallMs();
  if (req.op == OpKind::kCounterAdd) return ApplyCounter(rec, req, now_ms, who, lww);
  if (req.op == OpKind::kScoreAdd) return ApplyScoreAdd(rec, req, now_ms, who);
  if (req.op == OpKind::kFloatAdd) return ApplyFloatAdd(rec, req, now_ms, who);
  NewValue v;
  if (req.op == OpKind::kDelete) {
    v.kind = ValueKind::kTombstone;
  } else {
    v = std::move(req.value);
  }
  v.lww = lww && v.kind != ValueKind::kCollection;
  // SET without a context supersedes every version this replica knows.
  const VersionVector& ctx = req.has_context ? req.context : rec->context;
  return ApplyWrite(rec, ctx, who, std::move(v), now_ms, ctx_->cfg.limits);
}

// INCR/DECR: merge the live counter siblings (so concurrent increments from other
// coordinators are kept), add in our slot, and supersede everything we know.
Status WriteCoordinator::ApplyCounter(Record* rec, const WriteRequest& req, uint64_t now_ms,
                                      ActorId who, bool lww) {
  const int64_t delta = req.delta;
  PNCounter c;
  NewValue v;
  v.kind = ValueKind::kCounter;
  v.lww = lww;
  const Sibling* win = Winner(*rec, now_ms);
  if (win && win->kind == ValueKind::kCollection) {
    // INCR on a hash, set, ...: the counter must not supersede the collection's header.
    return Status::Invalid(kWrongTypeError);
  }
  // A base the server read across a collection's generations (HINCRBY; see
  // cluster/collection_engine.cc IncrementAcross): it starts the counter when this record holds
  // none to continue.
  int64_t hint = 0;
  bool has_hint = !req.value.value.empty() && protocol::ParseRedisInt(req.value.value, &hint);
  const bool int_counter = win && win->kind == ValueKind::kCounter && !IsFloatCounter(win->value) &&
                           !IsLongFloatCounter(win->value);
  if (has_hint && !int_counter) {
    c.base = hint;
  } else if (win && win->kind == ValueKind::kCounter && !int_counter) {
    // HINCRBY on a field HINCRBYFLOAT made a float counter: the number it shows, when it is
    // an integer, starts an integer counter that supersedes it (Redis reads the field's text).
    ElementView shown;
    Status s = ResolveElement(*rec, now_ms, &shown);
    if (!s.ok()) return s;
    if (shown.score_counter || !protocol::ParseRedisInt(shown.value, &c.base)) {
      return Status::Invalid("value is not an integer or out of range");
    }
  } else if (win && win->kind == ValueKind::kPlain) {
    // A plain value SET after the counter resets it: it becomes the base.
    if (!protocol::ParseRedisInt(win->value, &c.base)) {
      return Status::Invalid("value is not an integer or out of range");
    }
    v.expiry_ms = win->expiry_ms;
    v.flags = win->flags;
  } else if (win) {
    bool any = false;
    for (const Sibling* sib : LiveSiblings(*rec, now_ms)) {
      if (sib->kind != ValueKind::kCounter || IsFloatCounter(sib->value) || IsLongFloatCounter(sib->value)) continue;
      PNCounter other;
      Status s = DecodeCounter(sib->value, &other);
      if (!s.ok()) return s;
      MergeCounterInto(&c, &any, other);
    }
    v.expiry_ms = win->expiry_ms;  // INCR keeps the TTL, as in Redis
    v.flags = win->flags;
  }
  if (req.value.kind == ValueKind::kCounter) v.expiry_ms = req.value.expiry_ms;  // EXPIRE
  int64_t result = 0;
  if (__builtin_add_overflow(c.Value(), delta, &result)) {
    return Status::Invalid("increment or decrement would overflow");
  }
  c.Add(who, delta);
  v.value = EncodeCounter(c);
  return ApplyWrite(rec, rec->context, who, std::move(v), now_ms, ctx_->cfg.limits);
}

// ZINCRBY on a sorted-set member's element record: add in our slot of the score counter
// (merged from the concurrent ones, or started from the register's score), superseding
// everything we know. Elements carry no TTL (the collection's header does).
Status WriteCoordinator::ApplyScoreAdd(Record* rec, const WriteRequest& req, uint64_t now_ms,
                                       ActorId who) {
  const double delta = ScoreDelta(req.delta);
  if (std::isnan(delta)) return Status::Invalid("value is not a valid float");
  // The request's value, when it holds a score, is the base the server read across the
  // collection's generations (used only to start a counter).
  double hint = 0;
  bool has_hint = DecodeScore(req.value.value, &hint);
  FloatCounter c;
  Status s = ScoreCounterOf(*rec, now_ms, &c, has_hint ? &hint : nullptr);
  if (!s.ok()) return s;
  if (std::isnan(c.Value() + delta)) return Status::Invalid("resulting score is not a number (NaN)");
  c.Add(who, delta);
  NewValue v;
  v.kind = ValueKind::kCounter;
  v.value = EncodeFloatCounter(c);
  return ApplyWrite(rec, rec->context, who, std::move(v), now_ms, ctx_->cfg.limits);
}

// HINCRBYFLOAT on a hash field's element record: add in our slot of the float counter
// (merged from the concurrent ones, or started from the number the field shows), in long
// double as Redis adds, superseding everything we know.
Status WriteCoordinator::ApplyFloatAdd(Record* rec, const WriteRequest& req, uint64_t now_ms, ActorId who) {
  long double delta = 0, hint = 0;
  bool has_hint = false;
  if (!DecodeFloatAdd(req.value.value, &delta, &has_hint, &hint)) return Status::Invalid("value is not a valid float");
  LongFloatCounter c;
  Status s = LongFloatCounterOf(*rec, now_ms, &c, has_hint ? &hint : nullptr);
  if (!s.ok()) return s;
  long double result = c.Value() + delta;
  if (std::isnan(result) || std::isinf(result)) return Status::Invalid("increment would produce NaN or Infinity");
  c.Add(who, delta);
  // Our slot's running sum may overflow where the value does not (1e4932, -1e4932, 1e4932).
  if (!c.Finite() || !std::isfinite(c.Value())) return Status::Invalid("increment would produce NaN or Infinity");
  NewValue v;
  v.kind = ValueKind::kCounter;
  v.value = EncodeLongFloatCounter(c);
  return ApplyWrite(rec, rec->context, who, std::move(v), now_ms, ctx_->cfg.limits);
}

void WriteCoordinator::Coordinate(const std::string& key, WriteRequest req, WriteCallback done,
                                  bool forwarded, uint64_t timeout_ms) {
  const std::string& self = ctx_->cfg.id;
  const Placement& placement = ctx_->placement;
  const Membership& membership = ctx_->membership;
  std::span<const uint32_t> owners =
      placement.Owners(Placement::PartitionOf(key), size_t(ctx_->PolicyOf(key).n));
  if (owners.empty()) return done(Status::Unavailable("no nodes own this key"), {});
  std::vector<std::string> pref;
  pref.reserve(owners.size());
  for (uint32_t i : owners) pref.push_back(placement.IdAt(i));
  bool stand_in = false;
  if (!forwarded && !Contains(pref, self)) {
    bool any_reachable = std::any_of(pref.begin(), pref.end(), [&](const std::string& id) {
      return membership.IsReachable(id);
    });
    if (any_reachable) {
      return forwarder_->Forward(forwarder_->Target(pref), key, /*is_write=*/true, 0, &req,
                                 nullptr, std::move(done));
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
  if (batching_ && !stand_in && !forwarded && Contains(pref, self) &&
      (batch_.empty() || batch_pref_ == pref)) {
    WriteReply reply;
    bool existed = false, was_live = false;
    Status bs = ApplyLocal(key, req, &reply.record, &existed, &was_live);
    if (bs.ok()) bs = ctx_->store.Store(key, reply.record, existed, was_live);
    if (!bs.ok()) return done(bs, {});
    reply.context = reply.record.context;
    reply.copies = 1;
    if (batch_.empty()) {
      batch_pref_ = pref;
      batch_w_ = req.w;
    }
    batch_w_ = std::max(batch_w_, req.w);
    batch_.emplace_back(key, reply.record);
    return done(Status::OK(), std::move(reply));
  }
  WriteReply reply;
  Status s;
  // A big record the engine keeps in a shared buffer goes to the replicas as those bytes
  // (EncodeSplitFrame): not read back, not copied into a frame, not copied per replica.
  std::shared_ptr<const std::string> stored_bytes;
  if (stand_in) {
    s = ApplyStandIn(key, pref.front(), req, &reply.record);
    if (s.ok()) s = hints_->Store(pref.front(), key, reply.record);
  } else {
    bool existed = false, was_live = false;
    s = ApplyLocal(key, req, &reply.record, &existed, &was_live);
    if (s.ok() && req.want_record) {
      s = ctx_->store.Store(key, reply.record, existed, was_live);
    } else if (s.ok()) {
      bool big = HoldsBigValue(reply.record);
      if (big) reply.context = reply.record.context;
      s = ctx_->store.Store(key, std::move(reply.record), existed, was_live);  // no copy
      reply.record = Record();
      if (s.ok() && big) stored_bytes = ctx_->store.SharedBytes(key);
    }
    if (s.ok() && on_stored_ && ctx_->keyspaces.mixed_n()) on_stored_(key);
  }
  if (!s.ok()) return done(s, {});
  // What the replicas get: the record as stored, read back from the row cache when the
  // caller did not want it in the reply (it moved there).
  const Record* stored = &reply.record;
  if (!stand_in && !req.want_record && stored_bytes == nullptr) {
    bool found = false;
    s = ctx_->store.Peek(key, &stored, &found);
    if (!s.ok()) return done(s, {});
  }
  if (stored_bytes == nullptr) reply.context = stored->context;
  if (!stand_in && pref.size() == 1 && pref.front() == self) {
    // This node is the key's only replica (a 1-node cluster): the write is as complete as it
    // will be, with nothing to wait for, as on a standalone node.
    reply.copies = 1;
    return done(Status::OK(), std::move(reply));
  }

  // A big record gets time to cross (its size: the stored bytes, or its values).
  uint64_t crossing = stored_bytes ? CrossingMs(stored_bytes->size()) : CrossingMs(*stored);
  uint64_t id = ctx_->NewRequest(RequestKind::kWrite, timeout_ms + crossing);
  Pending& p = writes_[id];
  p.quorum = WriteQuorum(req.w, (stand_in || Contains(pref, self)) ? 1 : 0);
  p.quorum.Reserve(pref.size());
  p.cb = std::move(done);
  // Sloppy quorum: a preference-list node we believe down is stood in for by the next
  // reachable node past the top N, which holds the record as a hint for it.
  std::vector<uint32_t> walk;  // the fallbacks past the top N, computed only when needed
  size_t fallback = pref.size();
  std::string frame;  // the kWriteReq frame: the same bytes for every replica, encoded once
  SplitFrame split;   // the same, around stored_bytes
  Message m;          // one message for every replica (a Message is large to build)
  m.req_id = id;
  m.key = key;
  m.record_ref = stored_bytes ? nullptr : stored;  // encoded here, no copy per replica
  for (const auto& t : pref) {
    if (t == self || (stand_in && t == pref.front())) continue;
    std::string to = SendTarget(t, key, &walk, &fallback);
    p.quorum.Expect(to);
    if (to != t) {
      m.type = MsgType::kHintedWrite;
      m.hint_owner = t;
      if (stored_bytes) {
        ctx_->SendSplitTo(to, ctx_->EncodeSplit(&m, stored_bytes));
      } else {
        ctx_->SendTo(to, &m);
      }
      m.hint_owner.clear();
      continue;
    }
    m.type = MsgType::kWriteReq;
    if (stored_bytes) {
      if (split.middle == nullptr) split = ctx_->EncodeSplit(&m, stored_bytes);
      ctx_->SendSplitTo(to, split);
      continue;
    }
    if (frame.empty()) frame = ctx_->Encode(&m);
    ctx_->SendFrameTo(to, frame);
  }
  p.reply = std::move(reply);
  Progress(id);
}

// Sloppy quorum: a preference-list node believed down is stood in for by the next reachable
// node past the top N (walk and *fallback carry the position across the list's nodes).
std::string WriteCoordinator::SendTarget(const std::string& owner, const std::string& key,
                                         std::vector<uint32_t>* walk, size_t* fallback) const {
  const Placement& placement = ctx_->placement;
  const Membership& membership = ctx_->membership;
  if (membership.IsReachable(owner)) return owner;
  if (walk->empty()) placement.Walk(key, placement.node_count(), walk);
  while (*fallback < walk->size()) {
    const std::string& cand = placement.IdAt((*walk)[(*fallback)++]);
    if (cand != ctx_->cfg.id && membership.IsReachable(cand)) return cand;
  }
  return owner;
}

void WriteCoordinator::BeginBatch() {
  batching_ = true;
  ctx_->batching = true;
  batch_.clear();
  batch_pref_.clear();
}

void WriteCoordinator::EndBatch(WriteCallback done) {
  batching_ = false;
  ctx_->batching = false;
  std::vector<std::pair<std::string, Record>> records = std::move(batch_);
  std::vector<std::string> pref = std::move(batch_pref_);
  batch_.clear();
  batch_pref_.clear();
  if (records.empty()) {
    WriteReply reply;
    reply.copies = 1;
    return done(Status::OK(), std::move(reply));
  }
  const std::string& self = ctx_->cfg.id;
  const std::string first_key = records.front().first;
  uint64_t id = ctx_->NewRequest(RequestKind::kWrite, ctx_->cfg.request_timeout_ms);
  Pending& p = writes_[id];
  p.quorum = WriteQuorum(batch_w_, 1);
  p.cb = std::move(done);
  std::vector<uint32_t> walk;  // fallbacks past the top N, as Coordinate picks them
  size_t fallback = pref.size();
  Message m;
  m.type = MsgType::kWriteBatch;
  m.req_id = id;
  m.records = std::move(records);
  for (const auto& t : pref) {
    if (t == self) continue;
    std::string to = SendTarget(t, first_key, &walk, &fallback);
    m.hint_owner = to != t ? t : std::string();
    p.quorum.Expect(to);
    ctx_->SendTo(to, &m);
  }
  Progress(id);
}

void WriteCoordinator::OnAck(uint64_t id, const std::string& from, const Status& s) {
  auto it = writes_.find(id);
  if (it == writes_.end()) return;
  if (!it->second.quorum.Ack(from, s.ok())) return;  // duplicate or stray
  if (!s.ok() && it->second.refusal.empty()) it->second.refusal = from + ": " + s.message();
  Progress(id);
}

void WriteCoordinator::Progress(uint64_t id) {
  auto it = writes_.find(id);
  if (it == writes_.end()) return;
  Pending& p = it->second;
  if (p.progress) {  // replied already: count a late acknowledgement
    p.progress->copies = uint32_t(p.quorum.acks());
    if (p.quorum.AllAnswered()) {
      p.progress->final = true;
      writes_.erase(it);
    }
    return;
  }
  Status s;
  if (!Decided(p.quorum.Check(), "too few replicas acknowledged the write", &s)) return;
  if (!s.ok() && !p.refusal.empty()) s = Status::Unavailable(s.message() + " (" + p.refusal + ")");
  WriteCallback cb = std::move(p.cb);
  WriteReply reply = s.ok() ? std::move(p.reply) : WriteReply{};
  if (s.ok()) reply.copies = uint32_t(p.quorum.acks());
  if (s.ok() && !p.quorum.AllAnswered()) {
    p.progress = std::make_shared<WriteProgress>();
    p.progress->copies = reply.copies;
    reply.progress = p.progress;
  } else {
    writes_.erase(it);
  }
  cb(s, std::move(reply));
}

void WriteCoordinator::Expire(uint64_t id) {
  auto it = writes_.find(id);
  if (it == writes_.end()) return;
  if (it->second.progress) {  // replied; some replica never answered
    it->second.progress->final = true;
    writes_.erase(it);
    return;
  }
  ++ctx_->stats.coordinator_timeouts;
  ++ctx_->stats.write_timeouts;
  WriteCallback cb = std::move(it->second.cb);
  writes_.erase(it);
  cb(Status::Unavailable("write timed out waiting for replicas"), {});
}

}  // namespace dynakv::cluster
