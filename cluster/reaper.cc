// cluster/reaper.cc: see reaper.h.
#include "cluster/reaper.h"

#include <vector>

namespace dynakv::cluster {

void Reaper::Step() {
  uint64_t now = clock_->WallMs();
  uint64_t grace = cfg_.tombstone_grace_ms;
  // In a cluster expired values wait out the grace period like tombstones.
  uint64_t expiry_grace = cfg_.standalone ? 0 : grace;
  uint64_t writes = node_->ExpiringWrites();
  if (idle_ && writes == pass_start_writes_) return;
  if (idle_ || cursor_.empty()) {  // a new pass starts
    idle_ = false;
    pass_saw_expiring_ = false;
    pass_start_writes_ = writes;
  }
  std::vector<std::string> dead;
  std::string last;
  size_t seen = 0;
  Status s = node_->ScanRecords(cursor_, cfg_.slice, [&](std::string_view key, const Record& rec) {
    seen++;
    last.assign(key);
    bool all_dead = !rec.siblings.empty();
    for (const auto& sib : rec.siblings) {
      bool expired = sib.expiry_ms != 0 && sib.expiry_ms + expiry_grace <= now;
      bool old_tomb = sib.kind == ValueKind::kTombstone && sib.timestamp_ms + grace <= now;
      if (sib.expiry_ms != 0 || sib.kind == ValueKind::kTombstone) pass_saw_expiring_ = true;
      if (!expired && !old_tomb) all_dead = false;
    }
    if (all_dead) dead.emplace_back(key);
    return true;
  });
  cursor_ = seen < cfg_.slice ? std::string() : last;
  if (s.ok() && cursor_.empty() && !pass_saw_expiring_) idle_ = true;
  if (cfg_.standalone) {
    for (const auto& k : dead) {
      if (node_->ReapLocal(k, grace, expiry_grace).ok() && on_reaped_) on_reaped_();
    }
    return;
  }
  for (const auto& k : dead) {
    node_->ReadRecord(k, cfg_.n, [this, k, grace](Status st, ReadReply rr) {
      if (!st.ok() || !IsDeleted(rr.record, clock_->WallMs())) return;
      if (node_->ReapLocal(k, grace).ok() && on_reaped_) on_reaped_();
    });
  }
}

}  // namespace dynakv::cluster
