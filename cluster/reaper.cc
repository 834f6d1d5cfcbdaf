// cluster/reaper.cc: see reaper.h.
#include "cluster/reaper.h"

#include <vector>

namespace dynakv::cluster {

namespace {

// Identifies a record's state: any write, delete or repair that reaches it changes one of
// these fields (a new dot, a new context entry).
uint64_t Fingerprint(const Record& rec) {
  uint64_t h = 1469598103934665603ull;
  auto mix = [&h](uint64_t v) {
    h ^= v;
    h *= 1099511628211ull;
    h ^= h >> 29;
  };
  for (const VVEntry& e : rec.context.entries()) {
    mix(e.actor);
    mix(e.counter);
  }
  for (const Sibling& s : rec.siblings) {
    mix(s.dot.actor);
    mix(s.dot.counter);
    mix(uint64_t(s.kind));
    mix(s.expiry_ms);
    mix(s.timestamp_ms);
  }
  mix(rec.siblings.size());
  return h;
}

}  // namespace

void Reaper::Step() {
  uint64_t now = clock_->WallMs();
  uint64_t writes = node_->ExpiringWrites();
  if (idle_ && writes == pass_start_writes_) return;
  if (idle_ || cursor_.empty()) {  // a new pass starts
    idle_ = false;
    pass_saw_expiring_ = false;
    pass_start_writes_ = writes;
    ++pass_;
  }
  if (!cfg_.standalone) return StepClustered(now, clock_->NowMs());
  uint64_t grace = cfg_.tombstone_grace_ms;
  std::vector<std::string> dead;
  std::string last;
  size_t seen = 0;
  Status s = node_->ScanRecords(cursor_, cfg_.slice, [&](std::string_view key, const Record& rec) {
    seen++;
    last.assign(key);
    bool all_dead = !rec.siblings.empty();
    for (const auto& sib : rec.siblings) {
      bool expired = sib.expiry_ms != 0 && sib.expiry_ms <= now;
      bool old_tomb = sib.kind == ValueKind::kTombstone && sib.timestamp_ms + grace <= now;
      if (sib.expiry_ms != 0 || sib.kind == ValueKind::kTombstone) pass_saw_expiring_ = true;
      if (!expired && !old_tomb) all_dead = false;
    }
    if (all_dead) dead.emplace_back(key);
    return true;
  }, /*values=*/false);
  cursor_ = seen < cfg_.slice ? std::string() : last;
  if (s.ok() && cursor_.empty() && !pass_saw_expiring_) idle_ = true;
  for (const auto& k : dead) {
    if (node_->ReapLocal(k, grace, 0).ok() && on_reaped_) on_reaped_();
  }
}

void Reaper::StepClustered(uint64_t wall, uint64_t mono) {
  uint64_t grace = cfg_.tombstone_grace_ms;
  std::vector<std::pair<std::string, uint64_t>> ripe;  // (record key, fingerprint)
  std::string last;
  size_t seen = 0;
  Status s = node_->ScanRecords(cursor_, cfg_.slice, [&](std::string_view key, const Record& rec) {
    seen++;
    last.assign(key);
    for (const auto& sib : rec.siblings) {
      if (sib.expiry_ms != 0 || sib.kind == ValueKind::kTombstone) pass_saw_expiring_ = true;
    }
    bool dead = !rec.siblings.empty() && IsDeleted(rec, wall);
    auto it = watched_.find(std::string(key));
    if (!dead) {
      if (it != watched_.end()) watched_.erase(it);
      return true;
    }
    uint64_t fp = Fingerprint(rec);
    if (it == watched_.end()) {
      if (watched_.size() < kMaxWatched) watched_.emplace(std::string(key), Watch{mono, fp, pass_});
      return true;
    }
    Watch& w = it->second;
    w.pass = pass_;
    if (w.fp != fp) {  // changed since first seen dead: its grace starts over
      w.fp = fp;
      w.since_ms = mono;
    } else if (w.since_ms + grace <= mono) {
      ripe.emplace_back(std::string(key), fp);
    }
    return true;
  }, /*values=*/false);
  cursor_ = seen < cfg_.slice ? std::string() : last;
  if (s.ok() && cursor_.empty()) {
    // The pass is over: forget records it no longer met (reaped, flushed, handed off).
    for (auto it = watched_.begin(); it != watched_.end();) {
      it = it->second.pass == pass_ ? std::next(it) : watched_.erase(it);
    }
    if (!pass_saw_expiring_) idle_ = true;
  }
  for (auto& [key, print] : ripe) {
    // (init-captures: clang 14 cannot capture structured bindings)
    // The all-replica read: the key's n (its keyspace policy's, else replication.n).
    int all = node_->keyspaces().ForRecord(key).n;
    node_->ReadForReap(key, all, [this, k = key, fp = print](Status st, ReadReply rr) {
      if (!st.ok() || !IsDeleted(rr.record, clock_->WallMs())) return;
      // Only the state that aged: a repair or write since then starts the grace over.
      Status rs = node_->ReapLocalIf(k, [&](const Record& rec) {
        return Fingerprint(rec) == fp && IsDeleted(rec, clock_->WallMs()) && !rec.siblings.empty();
      });
      if (rs.ok()) {
        watched_.erase(k);
        if (on_reaped_) on_reaped_();
      }
    });
  }
}

}  // namespace dynakv::cluster
