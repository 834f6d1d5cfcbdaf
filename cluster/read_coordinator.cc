// cluster/read_coordinator.cc: see read_coordinator.h.
#include "cluster/read_coordinator.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "cluster/forwarder.h"

namespace dynakv::cluster {

void ReadCoordinator::Read(const std::string& key, int r, ReadCallback done, bool reaping, size_t big_at) {
  const KeyspacePolicy& pol = ctx_->PolicyOf(key);
  Status s = ctx_->CheckQuorum(&r, pol.r, pol.n, "r");
  if (!s.ok()) return done(s, ReadReply{});
  ++ctx_->stats.reads;
  if (ctx_->standalone || ctx_->batching) {
    // The single-node hot path: one Get, one decode, no messages. Also a one-slot
    // transaction's reads (docs/ARCHITECTURE.md, "Transactions"): this replica's copy.
    if (r > 1 && !ctx_->batching) return done(Status::Unavailable("only 1 replica (standalone node)"), {});
    ReadReply reply;
    s = LoadOwn(key, ctx_->batching ? 0 : big_at, &reply);
    return done(s, std::move(reply));
  }
  Coordinate(key, r, std::move(done), /*forwarded=*/false, ctx_->cfg.request_timeout_ms, reaping, big_at);
}

// This node's copy as the whole answer (it is the key's only replica); with big_at > 0 a
// record of big_at bytes or more without its values (ReadReply::big, rkey).
Status ReadCoordinator::LoadOwn(const std::string& key, size_t big_at, ReadReply* reply) {
  bool found = false;
  Status s = big_at > 0 ? ctx_->store.LoadLeavingBig(key, &reply->record, &found, big_at, &reply->big)
                        : ctx_->store.Load(key, &reply->record, &found);
  if (reply->big) reply->rkey = key;
  return s;
}

void ReadCoordinator::Coordinate(const std::string& key, int r, ReadCallback done,
                                 bool forwarded, uint64_t timeout_ms, bool reaping, size_t big_at) {
  const std::string& self = ctx_->cfg.id;
  std::vector<std::string> pref = ctx_->placement.Preference(key, size_t(ctx_->PolicyOf(key).n));
  if (pref.empty()) return done(Status::Unavailable("no nodes own this key"), {});
  if (!forwarded && !Contains(pref, self)) {
    // Let a replica coordinate: its actor is already in the key's clock, so clocks stay
    // small, and its local copy saves a round trip.
    return forwarder_->Forward(forwarder_->Target(pref), key, /*is_write=*/false, r, nullptr,
                               std::move(done), nullptr);
  }
  // The reaper asks every replica: with fewer nodes than the key's n (a keyspace wider than
  // the cluster, or a cluster shrunk below N), every replica there is.
  if (reaping && pref.size() < static_cast<size_t>(r)) r = static_cast<int>(pref.size());
  if (pref.size() < static_cast<size_t>(r)) {
    return done(Status::Unavailable("r=" + std::to_string(r) + " but only " +
                                    std::to_string(pref.size()) + " replicas"),
                {});
  }
  if (pref.size() == 1 && pref.front() == self) {
    // This node is the key's only replica (a 1-node cluster): its copy is the answer, with
    // nobody to ask and nothing to repair, as on a standalone node.
    ReadReply reply;
    Status s = LoadOwn(key, big_at, &reply);
    return done(s, std::move(reply));
  }
  uint64_t id = ctx_->NewRequest(RequestKind::kRead, timeout_ms);
  Pending& p = reads_[id];
  p.key = key;
  p.quorum = ReadQuorum(r);
  p.cb = std::move(done);
  p.reaping = reaping;
  // Ask R replicas: this node's copy (free) and the first reachable peers; the rest wait as
  // spares (docs/ARCHITECTURE.md, "Reads ask R replicas"). Fewer than R reachable: ask all.
  bool local = Contains(pref, self);
  size_t want = static_cast<size_t>(r) - (local ? 1 : 0);
  p.quorum.Reserve(pref.size());
  // The peers to ask now, as bits of `asked` by position in pref (no copies of their ids
  // until Ask); with ask_rest every other peer too, after those.
  uint64_t asked = 0;
  bool ask_rest = true;
  if (ctx_->cfg.read_retry_ms > 0) {
    asked = ctx_->FirstAsked(pref, want, &ask_rest);
    size_t n_ask = static_cast<size_t>(__builtin_popcountll(asked));
    if (!ask_rest && pref.size() > n_ask + (local ? 1 : 0)) {
      p.spares.reserve(pref.size() - n_ask - (local ? 1 : 0));
      for (size_t i = 0; i < pref.size(); ++i) {
        if (!(asked >> i & 1) && pref[i] != self) p.spares.push_back(pref[i]);
      }
    }
    p.started_ms = ctx_->clock->NowMs();
    p.retry_at_ms = p.started_ms + retry_wait_.For(ctx_->cfg.read_retry_ms, timeout_ms);
  }
  for (size_t i = 0; i < pref.size(); ++i) {
    if (asked >> i & 1) Ask(id, pref[i], &p);
  }
  for (size_t i = 0; ask_rest && i < pref.size(); ++i) {
    if (!(asked >> i & 1) && pref[i] != self) Ask(id, pref[i], &p);
  }
  if (local) {
    p.quorum.Expect(self);
    Record rec;
    bool found = false, big = false;
    size_t bytes = 0;
    Status s = r >= 2 ? ctx_->store.LoadLeavingBig(key, &rec, &found, kEncodeInPlaceBytes, &big, &bytes)
                      : ctx_->store.Load(key, &rec, &found);
    p.crossing_ms = big ? CrossingMs(bytes) : CrossingMs(rec);  // the peers' copies are likely as big
    if (p.crossing_ms > 0) {
      // No speculative retry while a big reply is on its way (it would send another): the
      // spares wait for a failed reply or the first deadline.
      p.held_spares = std::move(p.spares);
      p.spares.clear();
    }
    if (big) {
      if (OnlyPlain(rec)) {
        p.own = std::move(rec);
        p.own_held = true;
        return Progress(id);
      }
      s = ctx_->store.Load(key, &rec, &found);  // a counter's or header's value merges: whole
    }
    OnReply(id, self, s, std::move(rec));
  } else {
    Progress(id);
  }
}

void ReadCoordinator::OnReadReq(const Message& m) {
  Message resp;
  resp.type = MsgType::kReadResp;
  resp.req_id = m.req_id;
  bool found = false;
  const Record* rec = nullptr;
  std::shared_ptr<const std::string> big;
  resp.set_status(ctx_->store.PeekOrShare(m.key, &rec, &found, &big));
  if (big != nullptr) {
    // A big record goes as the engine holds it: its values not decoded, not copied into the
    // frame. A small note goes first (the peer's queue keeps the order), so the reader knows
    // to wait for it even when its own copy has not arrived yet.
    Message coming;
    coming.type = MsgType::kReadComing;
    coming.req_id = m.req_id;
    coming.load_bytes = big->size();
    ctx_->Send(m.from_addr, &coming);
    resp.found = true;
    return ctx_->SendSplit(m.from_addr, ctx_->EncodeSplit(&resp, std::move(big)));
  }
  resp.found = found;
  resp.record_ref = rec;  // encoded by Send, before the store can change
  ctx_->Send(m.from_addr, &resp);
}

void ReadCoordinator::OnComing(uint64_t id, uint64_t bytes) {
  auto it = reads_.find(id);
  if (it == reads_.end() || it->second.done || it->second.crossed) return;
  Pending& p = it->second;
  p.crossing_ms = std::max(p.crossing_ms, CrossingMs(size_t(bytes)));
  if (p.crossing_ms == 0) return;
  for (auto& t : p.spares) p.held_spares.push_back(std::move(t));
  p.spares.clear();
}

void ReadCoordinator::OnReply(uint64_t id, const std::string& from, const Status& s,
                              Record rec) {
  auto it = reads_.find(id);
  if (it == reads_.end()) return;  // finished: a late or duplicate reply
  Pending& p = it->second;
  // A failed reply needs nothing of this node's copy: it stays held for the next reply.
  bool same = false;
  if (p.own_held && from != ctx_->cfg.id && s.ok()) {
    // The same writes (plain values: the same bytes): the peer's copy answers, and this
    // node's versions stand for its own reply (SameRecord to the joined one: no repair).
    same = SameVersions(rec, p.own);
    if (!same) ReleaseOwn(&p);
  }
  // Not asked, or answered already (duplicate): ignored.
  if (!p.quorum.Add(from, s.ok(), std::move(rec))) return;
  if (same) {
    p.own_held = false;
    p.quorum.Add(ctx_->cfg.id, true, std::move(p.own));
    p.own = Record();
    ++ctx_->stats.big_reads_from_peer;
  }
  if (from != ctx_->cfg.id && p.started_ms != 0) retry_wait_.Note(ctx_->clock->NowMs() - p.started_ms);
  if (!s.ok() && !p.done) AskSpares(id, &p);  // before the verdict
  Progress(id);
}

// This node's held copy (Pending::own) joins the quorum whole: loaded now, as Load would have
// at the start.
void ReadCoordinator::ReleaseOwn(Pending* p) {
  p->own_held = false;
  p->own = Record();
  Record rec;
  bool found = false;
  Status s = ctx_->store.Load(p->key, &rec, &found);
  p->quorum.Add(ctx_->cfg.id, s.ok(), std::move(rec));
}

void ReadCoordinator::Ask(uint64_t id, std::string replica, Pending* p) {
  Message m;
  m.type = MsgType::kReadReq;
  m.req_id = id;
  m.key = p->key;
  ctx_->SendTo(replica, &m);
  p->quorum.Expect(std::move(replica));
}

void ReadCoordinator::AskSpares(uint64_t id, Pending* p) {
  for (auto& t : p->held_spares) p->spares.push_back(std::move(t));
  p->held_spares.clear();
  for (auto& t : p->spares) {
    ++ctx_->stats.read_retries;
    Ask(id, std::move(t), p);
  }
  p->spares.clear();
}

// Reads are created in id order with nearly nondecreasing retry times (the wait follows the
// replicas' recent reply time), so the due ones lead the map (among those still holding
// spares). A read whose shorter wait overtook an earlier one's is never asked early, only
// late: once the reads ahead of it are decided or due themselves.
void ReadCoordinator::OnTick(uint64_t now_ms) {
  for (auto& [id, p] : reads_) {
    if (p.spares.empty() || p.done) continue;
    if (p.retry_at_ms > now_ms) break;
    AskSpares(id, &p);
  }
}

void ReadCoordinator::Progress(uint64_t id) {
  auto it = reads_.find(id);
  if (it == reads_.end()) return;
  Pending& p = it->second;
  bool all_in = p.quorum.AllIn();
  if (!p.done) {
    Status s;
    if (!Decided(p.quorum.Check(), "too few replicas answered the read", &s)) return;
    p.done = true;
    ReadCallback cb = std::move(p.cb);
    ReadReply reply;
    if (all_in) {
      Finish(id, &reply.record);
    } else if (HoldsBigValue(p.quorum.joined())) {
      // Not copied for read repair: the replicas still to answer are left to anti-entropy.
      reply.record = p.quorum.TakeJoined();
      p.taken = true;
    } else {
      reply.record = p.quorum.joined();
    }
    cb(s, std::move(reply));  // last: the callback may re-enter the node
    return;
  }
  if (all_in) Finish(id);
}

// Read repair (Dynamo §4.7): push the reconciled record to every replica that answered
// with something different, then forget the request; the reconciled record goes to
// *joined_out when given.
void ReadCoordinator::Finish(uint64_t id, Record* joined_out) {
  auto it = reads_.find(id);
  if (it == reads_.end()) return;
  Pending p = std::move(it->second);
  reads_.erase(it);
  if (p.taken) return;
  const Record& joined = p.quorum.joined();
  // A record dead past the grace period is being reaped: a replica that has no copy any
  // more (it reaped it) is not handed it back, or two replicas' reapers would hand a
  // tombstone to and fro forever (found by the simulator, reap.toml). The reaper's own read
  // never hands a dead record to a replica without one: each replica ages a record by its
  // own clock (reaper.h), so the timestamp test alone let two reapers under clock skew
  // re-seed each other without end (skew-hours, seed 941).
  uint64_t grace = ctx_->cfg.tombstone_grace_ms;
  uint64_t now = ctx_->clock->WallMs();
  bool reapable = p.reaping ? IsDeleted(joined, now) : DeadFor(joined, now, grace, grace);
  const bool big = HoldsBigValue(joined);
  std::vector<const std::string*> stale;  // big: the peers to repair, after the loop
  for (const auto& reply : p.quorum.replies()) {
    if (SameRecord(reply.record, joined)) continue;
    if (reapable && reply.record.siblings.empty()) continue;
    ++ctx_->stats.read_repairs;
    if (reply.node == ctx_->cfg.id) {
      Status s = ctx_->store.Join(p.key, joined);
      if (!s.ok()) ctx_->Log(Logger::Level::kWarn, "local read repair failed: " + s.ToString());
      continue;
    }
    if (big) {
      stale.push_back(&reply.node);
      continue;
    }
    Message m;
    m.type = MsgType::kReadRepair;
    m.key = p.key;
    m.record_ref = &joined;  // encoded by SendTo
    ctx_->SendTo(reply.node, &m);
  }
  if (!stale.empty()) {
    // A big record is encoded once, taking its value's buffer when nobody needs the record
    // any more, and goes as a split frame (its trailer off the loop, no copy per replica):
    // encoded into each replica's frame, a 100 MB repair was a copy and a hash per replica,
    // in one turn.
    Message m;
    m.type = MsgType::kReadRepair;
    m.key = p.key;
    std::shared_ptr<const std::string> bytes =
        joined_out != nullptr ? std::make_shared<const std::string>(EncodeRecord(joined))
                              : std::make_shared<const std::string>(EncodeRecord(p.quorum.TakeJoined()));
    SplitFrame split = ctx_->EncodeSplit(&m, std::move(bytes));
    for (const std::string* node : stale) ctx_->SendSplitTo(*node, split);
  }
  if (joined_out != nullptr) *joined_out = p.quorum.TakeJoined();
}

void ReadCoordinator::Expire(uint64_t id) {
  auto it = reads_.find(id);
  if (it == reads_.end()) return;
  Pending& p = it->second;
  if (p.done) return Finish(id);  // repair what answered
  if (p.crossing_ms > 0) {  // a big record: more time, once, and the spares asked now
    AskSpares(id, &p);
    ctx_->requests.Rearm(id, RequestKind::kRead, ctx_->clock->NowMs() + p.crossing_ms);
    p.crossing_ms = 0;
    p.crossed = true;
    return;
  }
  ++ctx_->stats.coordinator_timeouts;
  ++ctx_->stats.read_timeouts;
  p.done = true;
  ReadCallback cb = std::move(p.cb);
  Finish(id);
  cb(Status::Unavailable("read timed out waiting for replicas"), {});
}

}  // namespace dynakv::cluster
