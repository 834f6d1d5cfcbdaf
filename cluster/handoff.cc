// cluster/handoff.cc: see handoff.h.
#include "cluster/handoff.h"

#include <algorithm>
#include <set>
#include <span>

#include "cluster/hints.h"
#include "cluster/key_layout.h"

namespace dynakv::cluster {

namespace {
constexpr size_t kChunkRecords = 1024;
constexpr size_t kChunkBytes = 1u << 20;
constexpr uint64_t kStrayCheckMs = 1000;
constexpr uint64_t kRetryMs = 200;
constexpr uint64_t kProgressLogMs = 10000;  // a "handoff progress" line this often

}  // namespace

Status Handoff::Load() {
  std::vector<std::pair<std::string, std::string>> rows;
  Status s = ctx_->engine->Scan(kXferPrefix, kXferEnd, 0, [&](std::string_view k, std::string_view v) {
    rows.emplace_back(std::string(k), std::string(v));
    return true;
  });
  if (!s.ok()) return s;
  uint64_t now = ctx_->clock->NowMs();
  for (auto& [k, v] : rows) {
    uint32_t p = 0;
    std::string target;
    if (!SplitTransferKey(k, &p, &target)) continue;
    Transfer t;
    t.cursor = v;  // resume after the last acknowledged chunk
    t.started_ms = now;
    t.writes_at_start = ctx_->store.partition_writes(p);
    if (xfers_.emplace(XferKey{p, target}, std::move(t)).second) ++per_partition_[p];
  }
  return Status::OK();
}

void Handoff::Persist(const XferKey& k, const std::string& cursor) {
  Status s = ctx_->engine->Put(TransferKey(k.first, k.second), cursor);
  if (!s.ok()) ctx_->Log(Logger::Level::kWarn, "handoff: cursor not persisted: " + s.ToString());
}

void Handoff::Unpersist(const XferKey& k) {
  (void)ctx_->engine->Delete(TransferKey(k.first, k.second));
}

void Handoff::Add(uint32_t p, const std::string& target) {
  if (target == ctx_->cfg.id) return;
  XferKey k{p, target};
  if (xfers_.count(k)) return;
  Transfer t;
  t.started_ms = ctx_->clock->NowMs();
  t.writes_at_start = ctx_->store.partition_writes(p);
  xfers_.emplace(k, std::move(t));
  ++per_partition_[p];
  ++queued_[target];
  Persist(k, "");
}

void Handoff::OnRingChanged(const PartitionRing& old) {
  // With keyspaces of different n (keyspace.h) the owner list's first L nodes are the
  // replicas of the keys whose n is L: each such prefix ("level") is compared on its own,
  // so a node that moves up into a key's first n receives it (from the node that moved out
  // or from the ones that stayed) as a newcomer to the whole list would.
  for (uint32_t p = 0; p < kPartitions; ++p) {
    if (ctx_->store.partition_count(p) == 0) continue;
    for (int level : ctx_->keyspaces.levels()) OnRingChangedAt(p, level, old);
  }
  if (ctx_->keyspaces.mixed_n()) {
    // A pending transfer whose target moved up the owner list now needs records its chunks
    // so far left out (their n did not reach its old place): send the partition again from
    // the start (found by the simulator: keyspaces-membership.toml, seed 291).
    const Placement& pl = ctx_->placement;
    for (auto& [k, t] : xfers_) {
      int now_pos = pl.PositionOf(k.first, k.second);
      if (now_pos < 0) continue;
      int old_pos = -1;
      auto before = old.Owners(k.first);
      for (size_t i = 0; i < before.size(); ++i) {
        if (old.members()[before[i]].id == k.second) old_pos = int(i);
      }
      if (old_pos >= 0 && now_pos >= old_pos) continue;
      t.cursor.clear();
      t.writes_at_start = ctx_->store.partition_writes(k.first);
      ++t.restarts;  // the ack of a chunk in flight must not move the cursor past them again
      Persist(k, t.cursor);
    }
  }
  next_stray_check_ms_ = 0;  // and partitions we hold without having owned them
}

void Handoff::OnRingChangedAt(uint32_t p, int level, const PartitionRing& old) {
  const Placement& pl = ctx_->placement;
  const std::string& self = ctx_->cfg.id;
  auto old_has = [&](std::span<const uint32_t> before, const std::string& id) {
    return std::any_of(before.begin(), before.end(),
                       [&](uint32_t j) { return old.members()[j].id == id; });
  };
  {
    auto before = old.Owners(p);
    before = before.first(std::min(before.size(), size_t(level)));
    // Not ours before: the stray check decides. Except below the widest level, while we
    // still hand p on from an earlier change: the target we chose then may have moved down
    // past these keys' n meanwhile (the chunks to it now leave them out), so whoever this
    // change put into the level gets them from us (found by the simulator:
    // keyspaces-membership.toml, seed 43, lost n = 1 counters).
    bool was = old_has(before, self);
    if (!was && !(level < ctx_->keyspaces.max_n() && HasTransfer(p))) return;
    auto now = pl.Owners(p, size_t(level));
    bool owns = std::any_of(now.begin(), now.end(), [&](uint32_t i) { return pl.IdAt(i) == self; });
    std::vector<std::string> added;
    for (uint32_t i : now) {
      if (!old_has(before, pl.IdAt(i))) added.push_back(pl.IdAt(i));
    }
    if (!was) {
      for (const auto& id : added) Add(p, id);
      return;
    }
    if (!owns) {
      // We lost p (at this level): to the owners the change added (they lack it); when it added none (the
      // cluster shrank below N), to every owner. The stray check would send to every owner,
      // which the ones that kept p do not need.
      if (added.empty()) {
        for (uint32_t i : now) Add(p, pl.IdAt(i));
      } else {
        for (const auto& id : added) Add(p, id);
      }
      return;
    }
    // We kept p: every owner that kept it sends it to the newcomers, so each write that any
    // surviving replica holds reaches them (electing one sender lost copies when membership
    // changes overlapped: the simulator's join.toml, under-replicated).
    for (const auto& id : added) Add(p, id);
  }
}

void Handoff::NoteStored(std::string_view rkey) {
  if (!ctx_->keyspaces.mixed_n()) return;
  uint32_t p = Placement::PartitionOf(rkey);
  int pos = ctx_->placement.PositionIn(p);
  if (pos < 0) return;  // not an owner at all: CheckStrays sends p to every owner
  int n = ctx_->PolicyOf(rkey).n;
  if (pos < n) return;
  for (uint32_t i : ctx_->placement.Owners(p, size_t(n))) Add(p, ctx_->placement.IdAt(i));
}

// Partitions we hold but do not own go to every owner.
void Handoff::CheckStrays() {
  const Placement& pl = ctx_->placement;
  if (pl.node_count() < 2 && pl.Owns(0)) return;  // alone: we own everything
  for (uint32_t p = 0; p < kPartitions; ++p) {
    if (ctx_->store.partition_count(p) == 0 || pl.Owns(p) || HasTransfer(p)) continue;
    for (uint32_t i : pl.Owners(p)) Add(p, pl.IdAt(i));
    if (!HasTransfer(p)) MaybeDrop(p);
  }
}

void Handoff::Tick(uint64_t now) {
  if (now >= next_stray_check_ms_) {
    next_stray_check_ms_ = now + kStrayCheckMs;
    CheckStrays();
  }
  // Refill the byte budget (at most one second's worth banked).
  uint64_t rate = ctx_->cfg.handoff_bytes_per_s;
  if (budget_ms_ == 0) budget_ms_ = now;
  budget_bytes_ = std::min<double>(budget_bytes_ + double(rate) * double(now - budget_ms_) / 1000.0,
                                   double(rate));
  budget_ms_ = now;
  // The targets with something to send, in order; the streams already busy count first.
  std::set<std::string> targets;
  for (const auto& [k, t] : xfers_) targets.insert(k.second);
  size_t busy = 0;
  for (const auto& [target, st] : streams_) busy += st.req_id != 0 ? 1 : 0;
  size_t limit = static_cast<size_t>(std::max(ctx_->cfg.handoff_concurrency, 1));
  for (const auto& target : targets) {
    if (busy >= limit || budget_bytes_ <= 0) break;
    if (streams_[target].req_id != 0) continue;
    if (Pump(target, now)) ++busy;
  }
  MaybeFinishLeave();
  LogProgress(now);
}

// One line when transfers are queued (per tick, all targets), one every kProgressLogMs while
// they run, one when the last is done (the server's log rate-limits each kind too).
void Handoff::LogProgress(uint64_t now) {
  const NodeStats& st = ctx_->stats;
  if (!queued_.empty()) {
    std::string msg = "handoff start:";
    uint32_t total = 0;
    for (const auto& [target, n] : queued_) {
      msg += (total == 0 ? " " : ", ") + std::to_string(n) + " partition(s) to " + target;
      total += n;
    }
    queued_.clear();
    if (!run_active_) {
      run_active_ = true;
      run_done_ = st.handoff_transfers_done;
      run_records0_ = st.handoff_records_sent;
      run_bytes0_ = st.handoff_bytes_sent;
      run_started_ms_ = now;
      next_progress_log_ms_ = now + kProgressLogMs;
    }
    ctx_->Log(Logger::Level::kInfo, msg + " (" + std::to_string(xfers_.size()) + " transfers pending)");
  }
  if (!run_active_) return;
  if (xfers_.empty()) {
    run_active_ = false;
    ctx_->Log(Logger::Level::kInfo,
              "handoff end: all transfers done: " + std::to_string(st.handoff_transfers_done - run_done_) +
                  " partition transfers, " + std::to_string(st.handoff_records_sent - run_records0_) +
                  " records, " + std::to_string(st.handoff_bytes_sent - run_bytes0_) + " bytes in " +
                  std::to_string(now - run_started_ms_) + " ms");
    return;
  }
  if (now >= next_progress_log_ms_) {
    next_progress_log_ms_ = now + kProgressLogMs;
    ctx_->Log(Logger::Level::kInfo,
              "handoff progress: " + std::to_string(st.handoff_transfers_done - run_done_) + " done, " +
                  std::to_string(xfers_.size()) + " pending, " +
                  std::to_string(st.handoff_records_sent - run_records0_) + " records and " +
                  std::to_string(st.handoff_bytes_sent - run_bytes0_) + " bytes sent");
  }
}

// Sends the next chunk to `target`: the next records of its transfers, in partition order.
// True if a chunk went out. Transfers that turn out finished or moot end here.
bool Handoff::Pump(const std::string& target, uint64_t now) {
  Stream& st = streams_[target];
  if (now < st.retry_ms) return false;
  if (!ctx_->membership.IsReachable(target)) return false;
  const Placement& pl = ctx_->placement;
  Message m;
  m.type = MsgType::kHandoffChunk;
  size_t bytes = 0;
  st.parts.clear();
  std::vector<std::map<XferKey, Transfer>::iterator> done;
  for (auto it = xfers_.begin(); it != xfers_.end();) {
    auto next = std::next(it);
    if (it->first.second != target) {
      it = next;
      continue;
    }
    if (m.records.size() >= kChunkRecords || bytes >= kChunkBytes) break;
    uint32_t p = it->first.first;
    Transfer& t = it->second;
    auto owners = pl.Owners(p);
    bool still_owner = std::any_of(owners.begin(), owners.end(),
                                   [&](uint32_t i) { return pl.IdAt(i) == target; });
    if (!still_owner) {  // the ring moved on: this target no longer needs it
      Cancel(it);
      MaybeDrop(p);
      it = next;
      continue;
    }
    size_t before = m.records.size();
    bool end = true;
    Status s = ctx_->store.ReadPartition(p, t.cursor, kChunkRecords - before,
                                         kChunkBytes - std::min(bytes, kChunkBytes), &m.records,
                                         &end);
    if (!s.ok()) {
      ctx_->Log(Logger::Level::kWarn, "handoff: partition read failed: " + s.ToString());
      break;
    }
    if (m.records.size() == before) {
      // Nothing (more) to send: the target has everything up to the cursor.
      EndOfPartition(it);
      it = next;
      continue;
    }
    Part part;
    part.partition = p;
    part.restarts = t.restarts;
    part.last = m.records.back().first;
    part.end = end;
    if (ctx_->keyspaces.mixed_n()) {
      // Only the records whose keyspace's n reaches the target's place in the owner list
      // (a chunk may so carry none: it still moves the cursor on).
      int pos = pl.PositionOf(p, target);
      m.records.erase(std::remove_if(m.records.begin() + ptrdiff_t(before), m.records.end(),
                                     [&](const auto& kr) { return ctx_->PolicyOf(kr.first).n <= pos; }),
                      m.records.end());
    }
    part.records = m.records.size() - before;
    for (size_t i = before; i < m.records.size(); ++i) {
      const auto& [k, rec] = m.records[i];
      part.bytes += k.size() + 32;
      for (const auto& sib : rec.siblings) part.bytes += sib.value.size() + 48;
    }
    bytes += part.bytes;
    t.active = true;
    st.parts.push_back(std::move(part));
    if (!end) break;  // this partition filled the chunk
    it = next;
  }
  if (st.parts.empty()) return false;
  budget_bytes_ -= double(bytes);
  st.req_id = ctx_->NewRequest(RequestKind::kHandoff, ctx_->cfg.request_timeout_ms);
  m.req_id = st.req_id;
  by_req_[st.req_id] = target;
  ctx_->SendTo(target, &m);
  return true;
}

void Handoff::EndOfPartition(std::map<XferKey, Transfer>::iterator it) {
  Transfer& t = it->second;
  uint32_t p = it->first.first;
  if (ctx_->store.partition_writes(p) != t.writes_at_start && ctx_->store.partition_count(p) > 0) {
    // Written while we sent: once more from the start (Joins make the repeat harmless).
    t.cursor.clear();
    t.writes_at_start = ctx_->store.partition_writes(p);
    Persist(it->first, t.cursor);
    return;
  }
  Finish(it);
}

void Handoff::OnChunk(const Message& m) {
  Status result;
  uint64_t joined = 0;
  for (const auto& [key, rec] : m.records) {
    Status s = ctx_->store.Join(key, rec);
    if (!s.ok()) {
      result = s;
      break;
    }
    NoteStored(key);
    ++joined;
  }
  ctx_->stats.handoff_records_received += joined;
  Message ack;
  ack.type = MsgType::kHandoffAck;
  ack.req_id = m.req_id;
  ack.set_status(result);
  ctx_->Send(m.from_addr, &ack);  // released by the owner of the loop only after Commit
}

void Handoff::OnAck(const Message& m) {
  auto r = by_req_.find(m.req_id);
  if (r == by_req_.end() || r->second != m.from_id) return;
  std::string target = r->second;
  by_req_.erase(r);
  Stream& st = streams_[target];
  if (st.req_id != m.req_id) return;
  st.req_id = 0;
  std::vector<Part> parts = std::move(st.parts);
  st.parts.clear();
  bool ok = m.status().ok();
  if (!ok) {
    st.retry_ms = ctx_->clock->NowMs() + kRetryMs;
    ctx_->Log(Logger::Level::kWarn, "handoff: " + target + " refused a chunk: " +
                                        m.status().ToString());
  }
  for (const Part& part : parts) {
    auto it = xfers_.find(XferKey{part.partition, target});
    if (it == xfers_.end()) continue;  // cancelled meanwhile
    Transfer& t = it->second;
    t.active = false;
    if (!ok || part.restarts != t.restarts) continue;
    t.cursor = part.last;
    t.records += part.records;
    t.bytes += part.bytes;
    ctx_->stats.handoff_records_sent += part.records;
    ctx_->stats.handoff_bytes_sent += part.bytes;
    if (part.end) {
      EndOfPartition(it);
    } else {
      Persist(it->first, t.cursor);
    }
  }
}

void Handoff::Expire(uint64_t id) {
  auto r = by_req_.find(id);
  if (r == by_req_.end()) return;
  std::string target = r->second;
  by_req_.erase(r);
  Stream& st = streams_[target];
  if (st.req_id != id) return;
  st.req_id = 0;  // resent from the cursors
  st.retry_ms = ctx_->clock->NowMs() + kRetryMs;
  for (const Part& part : st.parts) {
    auto it = xfers_.find(XferKey{part.partition, target});
    if (it != xfers_.end()) it->second.active = false;
  }
  st.parts.clear();
}

void Handoff::Finish(std::map<XferKey, Transfer>::iterator it) {
  uint32_t p = it->first.first;
  ++ctx_->stats.handoff_transfers_done;
  Cancel(it);
  MaybeDrop(p);
}

void Handoff::Cancel(std::map<XferKey, Transfer>::iterator it) {
  uint32_t p = it->first.first;
  Unpersist(it->first);
  xfers_.erase(it);
  if (per_partition_[p] > 0) --per_partition_[p];
}

// A partition we do not own, handed to every owner: drop our copy.
void Handoff::MaybeDrop(uint32_t p) {
  if (HasTransfer(p) || ctx_->placement.Owns(p) || ctx_->store.partition_count(p) == 0) return;
  if (ctx_->placement.Owners(p).empty()) return;  // nobody to hold it: keep it
  uint64_t dropped = 0;
  Status s = ctx_->store.DropPartition(p, &dropped);
  if (!s.ok()) {
    ctx_->Log(Logger::Level::kWarn, "handoff: dropping a handed-off partition failed: " + s.ToString());
    return;
  }
  ++ctx_->stats.handoff_partitions_dropped;
  // Like FLUSHALL: the dots we issued for these keys live on at their owners, and we no
  // longer know them; a write we coordinate for one of them later (a forwarded request, a
  // stale ring) must not reissue one (Riak's kv679; found by the simulator, leave-crash
  // seed 126). A fresh actor cannot.
  ctx_->actor = ctx_->FreshActor();
}

// A leaving node that holds nothing more (data handed off, hints delivered) is removed.
void Handoff::MaybeFinishLeave() {
  if (ctx_->membership.self().status != MemberStatus::kLeaving) return;
  if (!xfers_.empty() || ctx_->store.key_count() != 0 || hints_->count() != 0) return;
  ctx_->membership.FinishLeave();
  ctx_->Log(Logger::Level::kInfo, "left the cluster: every partition handed off");
}

void Handoff::Reset() {
  queued_.clear();
  for (const auto& [k, t] : xfers_) Unpersist(k);
  xfers_.clear();
  by_req_.clear();
  streams_.clear();
  std::fill(per_partition_.begin(), per_partition_.end(), 0);
}

std::vector<Node::TransferInfo> Handoff::Transfers() const {
  std::vector<Node::TransferInfo> out;
  uint64_t now = ctx_->clock->NowMs();
  for (const auto& [k, t] : xfers_) {
    Node::TransferInfo i;
    i.partition = k.first;
    i.to = k.second;
    i.active = t.active;
    i.records_sent = t.records;
    i.bytes_sent = t.bytes;
    uint64_t held = ctx_->store.partition_count(k.first);
    i.records_left = held > t.records ? held - t.records : 0;
    double secs = double(now - t.started_ms) / 1000.0;
    i.records_per_s = secs > 0 ? double(t.records) / secs : 0;
    out.push_back(std::move(i));
  }
  return out;
}

}  // namespace dynakv::cluster
