// cluster/hints.cc: see hints.h.
#include "cluster/hints.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "cluster/key_layout.h"

namespace dynakv::cluster {

namespace {
constexpr size_t kHintScanBatch = 64;  // hints examined per delivery pass
}  // namespace

Status Hints::Store(const std::string& owner, const std::string& key, const Record& rec) {
  if (owner.empty() || owner.find('\0') != std::string::npos) {
    return Status::Invalid("bad hint owner");
  }
  std::string hk = HintKey(owner, key);
  std::string bytes;
  Status s = ctx_->engine->Get(hk, &bytes);
  bool existed = s.ok();
  std::string encoded;  // rec itself for a first hint (a big one is not copied first)
  if (existed) {
    Record old;
    encoded = DecodeRecord(bytes, &old).ok() ? EncodeRecord(cluster::Join(old, rec)) : EncodeRecord(rec);
  } else if (!s.IsNotFound()) {
    return s;
  } else if (count_ >= ctx_->cfg.max_hints) {
    return Status::Limit("hint store full");
  } else {
    encoded = EncodeRecord(rec);
  }
  s = ctx_->engine->Put(hk, std::move(encoded));
  if (!s.ok()) return s;
  if (!existed) {
    ++count_;
    ++by_owner_[owner];
  }
  ++ctx_->stats.hints_stored;
  return Status::OK();
}

Status Hints::Peek(const std::string& owner, const std::string& key, Record* rec, bool* have) {
  *have = false;
  std::string bytes;
  Status s = ctx_->engine->Get(HintKey(owner, key), &bytes);
  if (s.ok()) {
    *have = DecodeRecord(bytes, rec).ok();
    return Status::OK();
  }
  return s.IsNotFound() ? Status::OK() : s;
}

bool Hints::HeldFor(const std::string& key) const {
  if (count_ == 0) return false;
  for (const auto& m : ctx_->membership.Digest()) {
    std::string ignored;
    if (ctx_->engine->Get(HintKey(m.id, key), &ignored).ok()) return true;
  }
  return false;
}

void Hints::Deliver(uint64_t now_ms) {
  if (count_ == 0 || now_ms < next_pass_ms_) return;
  next_pass_ms_ = now_ms + std::max<uint64_t>(ctx_->cfg.gossip_interval_ms, 1);
  const std::string& self = ctx_->cfg.id;
  Membership& membership = ctx_->membership;
  std::vector<std::pair<std::string, std::string>> batch;
  std::string start = cursor_.empty() ? std::string(kHintPrefix) : cursor_;
  Status s = ctx_->engine->Scan(start, kHintEnd, kHintScanBatch,
                                [&](std::string_view k, std::string_view v) {
                                  batch.emplace_back(std::string(k), std::string(v));
                                  return true;
                                });
  if (!s.ok()) return;
  cursor_ = batch.size() < kHintScanBatch ? std::string()
                                          : batch.back().first + std::string(1, '\0');
  for (auto& [hk, bytes] : batch) {
    std::string owner, key;
    if (!SplitHintKey(hk, &owner, &key)) continue;
    if (in_flight_.count(hk)) continue;
    const MemberState* m = membership.Find(owner);
    // An owner we do not know yet (right after a restart, before gossip): keep the hint.
    // It is an acknowledged copy; dropping it could lose the write.
    if (m == nullptr) continue;
    std::string target = owner;
    if (m->status == MemberStatus::kRemoved || m->status == MemberStatus::kLeaving ||
        owner == self) {
      // The owner is gone for good, or leaving (it owns nothing now), or is us: the key's
      // current replicas take it.
      target.clear();
      for (const auto& id : ctx_->placement.Preference(key, size_t(ctx_->PolicyOf(key).n))) {
        if (id == self) {
          Record rec;
          if (DecodeRecord(bytes, &rec).ok() && ctx_->store.Join(key, rec).ok()) target = self;
          break;
        }
        if (membership.IsReachable(id)) {
          target = id;
          break;
        }
      }
      if (target.empty()) continue;  // nobody to take it now; retry next pass
      if (target == self) {
        if (ctx_->engine->Delete(hk).ok()) Dropped(hk);
        continue;
      }
    }
    if (!membership.IsReachable(target)) continue;
    Message msg;
    msg.type = MsgType::kWriteReq;
    msg.key = key;
    // A big hint goes as the bytes it is stored as (EncodeSplitFrame; checked here, not
    // decoded and encoded again), and gets time to cross, as a big write does: without it a
    // 100 MB hint timed out before its ack and went again every pass.
    bool big = bytes.size() >= kEncodeInPlaceBytes;
    Record head;
    std::vector<std::string_view> values;
    if (!(big ? DecodeRecordViews(bytes, &head, &values) : DecodeRecord(bytes, &msg.record)).ok()) {
      if (ctx_->engine->Delete(hk).ok()) Dropped(hk);
      continue;
    }
    uint64_t id = ctx_->NewRequest(RequestKind::kHintDelivery,
                                   ctx_->cfg.request_timeout_ms + (big ? CrossingMs(bytes.size()) : 0));
    msg.req_id = id;
    in_flight_.insert(hk);
    auto shared = std::make_shared<const std::string>(std::move(bytes));
    deliveries_[id] = Delivery{hk, shared};
    if (big) {
      ctx_->SendSplitTo(target, ctx_->EncodeSplit(&msg, std::move(shared)));
    } else {
      ctx_->SendTo(target, &msg);
    }
  }
}

bool Hints::OnAck(uint64_t id, const Status& s) {
  auto it = deliveries_.find(id);
  if (it == deliveries_.end()) return false;
  Delivery d = std::move(it->second);
  deliveries_.erase(it);
  in_flight_.erase(d.hint_key);
  if (!s.ok()) return true;
  std::string now;
  // Delete only what was delivered: a hint that grew meanwhile is delivered next pass.
  if (ctx_->engine->Get(d.hint_key, &now).ok() && now == *d.bytes) {
    if (ctx_->engine->Delete(d.hint_key).ok()) Dropped(d.hint_key);
  }
  ++ctx_->stats.hints_delivered;
  return true;
}

void Hints::Expire(uint64_t id) {
  auto it = deliveries_.find(id);
  if (it == deliveries_.end()) return;
  in_flight_.erase(it->second.hint_key);
  deliveries_.erase(it);
}

void Hints::Dropped(const std::string& hint_key) {
  if (count_ > 0) --count_;
  std::string owner, key;
  if (!SplitHintKey(hint_key, &owner, &key)) return;
  auto it = by_owner_.find(owner);
  if (it != by_owner_.end() && --it->second == 0) by_owner_.erase(it);
}

Status Hints::Recount() {
  count_ = 0;
  by_owner_.clear();
  return ctx_->engine->Scan(kHintPrefix, kHintEnd, 0, [&](std::string_view k, std::string_view) {
    ++count_;
    std::string owner, key;
    if (SplitHintKey(k, &owner, &key)) ++by_owner_[owner];
    return true;
  });
}

void Hints::ResetAfterFlush() {
  count_ = 0;
  by_owner_.clear();
  in_flight_.clear();
  cursor_.clear();
}

}  // namespace dynakv::cluster
