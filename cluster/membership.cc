// cluster/membership.cc: see membership.h.
#include "cluster/membership.h"

#include <algorithm>
#include <tuple>

namespace dynakv::cluster {

namespace {

// Tie-break on equal (incarnation, heartbeat): the graver status wins.
int Gravity(MemberStatus s) { return static_cast<int>(s); }

bool Newer(const MemberState& a, const MemberState& b) {
  return std::tie(a.incarnation, a.heartbeat) > std::tie(b.incarnation, b.heartbeat);
}

}  // namespace

Membership::Membership(MembershipConfig cfg, Random* random)
    : cfg_(std::move(cfg)), random_(random) {
  std::erase(cfg_.seeds, cfg_.cluster_addr);
  Entry e;
  e.state.id = cfg_.id;
  e.state.cluster_addr = cfg_.cluster_addr;
  e.state.client_addr = cfg_.client_addr;
  e.state.weight = std::clamp<uint32_t>(cfg_.weight, 1, PartitionRing::kMaxWeight);
  e.state.zone = cfg_.zone;
  entries_[cfg_.id] = e;
}

void Membership::Start(uint64_t now_ms, uint64_t incarnation) {
  MemberState& s = Self();
  s.incarnation = incarnation;
  s.heartbeat = 1;
  s.status = cfg_.seeds.empty() ? MemberStatus::kUp : MemberStatus::kJoining;
  entries_[cfg_.id].last_change_ms = now_ms;
  next_gossip_ms_ = now_ms;  // gossip at the first tick
}

void Membership::Restore(const std::vector<MemberState>& saved, uint64_t now_ms) {
  for (const auto& st : saved) {
    if (st.id.empty() || st.id == cfg_.id || entries_.count(st.id)) continue;
    if (entries_.size() >= cfg_.max_members) break;
    Entry e;
    e.state = st;
    e.last_change_ms = now_ms;
    entries_.emplace(st.id, std::move(e));
  }
}

void Membership::AddSeed(const std::string& addr) {
  if (addr != cfg_.cluster_addr &&
      std::find(cfg_.seeds.begin(), cfg_.seeds.end(), addr) == cfg_.seeds.end()) {
    cfg_.seeds.push_back(addr);
  }
}

void Membership::Tick(uint64_t now_ms, std::vector<std::string>* gossip_to) {
  // Failure detection: only members that claim to be alive and own ranges are judged.
  for (auto& [id, e] : entries_) {
    if (id == cfg_.id) continue;
    MemberStatus st = e.state.status;
    if (st != MemberStatus::kJoining && st != MemberStatus::kUp && st != MemberStatus::kSuspect) {
      continue;
    }
    uint64_t quiet_ms = now_ms - std::min(now_ms, e.last_change_ms);
    if (quiet_ms >= cfg_.down_after_ms) {
      e.state.status = MemberStatus::kDown;
    } else if (quiet_ms >= cfg_.suspect_after_ms && st != MemberStatus::kSuspect) {
      e.state.status = MemberStatus::kSuspect;
    }
  }

  if (now_ms < next_gossip_ms_) return;
  next_gossip_ms_ = now_ms + std::max<uint64_t>(cfg_.gossip_interval_ms, 1);
  ++rounds_;
  if (Self().status == MemberStatus::kRemoved) return;  // a removed node stays silent
  BumpSelf();
  entries_[cfg_.id].last_change_ms = now_ms;

  std::vector<const MemberState*> live, down;
  for (const auto& [id, e] : entries_) {
    if (id == cfg_.id) continue;
    switch (e.state.status) {
      case MemberStatus::kDown: down.push_back(&e.state); break;
      case MemberStatus::kRemoved: break;
      default: live.push_back(&e.state); break;
    }
  }
  auto add = [&](const std::string& addr) {
    if (addr.empty() || addr == cfg_.cluster_addr) return;
    if (std::find(gossip_to->begin(), gossip_to->end(), addr) == gossip_to->end()) {
      gossip_to->push_back(addr);
    }
  };
  if (live.empty()) {
    for (const auto& s : cfg_.seeds) add(s);
  } else {
    add(live[random_->Uniform(live.size())]->cluster_addr);
    if (!cfg_.seeds.empty() && cfg_.seed_every_rounds > 0 &&
        rounds_ % static_cast<uint64_t>(cfg_.seed_every_rounds) == 0) {
      add(cfg_.seeds[random_->Uniform(cfg_.seeds.size())]);
    }
  }
  // Probe a down member now and then (probability down/(live+1), like Cassandra), so a
  // healed partition is noticed even when no seed spans it.
  if (!down.empty() && random_->Uniform(live.size() + 1 + down.size()) < down.size()) {
    add(down[random_->Uniform(down.size())]->cluster_addr);
  }
}

void Membership::MergeSelf(const MemberState& r) {
  MemberState& s = Self();
  if (s.status == MemberStatus::kRemoved) return;
  if (r.status == MemberStatus::kRemoved) {
    s.status = MemberStatus::kRemoved;  // an operator removed us; permanent
    return;
  }
  if (s.status == MemberStatus::kJoining) {
    s.status = MemberStatus::kUp;  // we have gossiped with someone: joined
    BumpSelf();
  }
  // Refute: someone holds a view of us that is as recent as ours but graver (suspect/down),
  // or more recent than ours (our incarnation counter was lost): outbid it.
  bool graver_view = (r.status == MemberStatus::kSuspect || r.status == MemberStatus::kDown) &&
                     !Newer(s, r);
  if (graver_view || r.incarnation > s.incarnation) {
    s.incarnation = std::max(s.incarnation, r.incarnation) + 1;
    BumpSelf();
  }
}

bool Membership::Merge(const std::vector<MemberState>& remote, uint64_t now_ms) {
  bool ring_changed = false;
  bool heard_peer = false;
  for (const auto& r : remote) {
    if (r.id.empty()) continue;
    if (r.id == cfg_.id) {
      MemberStatus before = Self().status;
      MergeSelf(r);
      ring_changed |= OwnsRange(before) != OwnsRange(Self().status);
      continue;
    }
    heard_peer = true;
    auto it = entries_.find(r.id);
    if (it == entries_.end()) {
      if (entries_.size() >= cfg_.max_members) continue;
      Entry e;
      e.state = r;
      e.last_change_ms = now_ms;
      entries_.emplace(r.id, std::move(e));
      ring_changed |= OwnsRange(r.status);
      continue;
    }
    Entry& e = it->second;
    MemberState before = e.state;
    if (e.state.status == MemberStatus::kRemoved) continue;  // tombstone: sticky
    if (r.status == MemberStatus::kRemoved) {
      e.state.status = MemberStatus::kRemoved;
    } else if (Newer(r, e.state)) {
      e.state = r;
      e.last_change_ms = now_ms;
    } else if (!Newer(e.state, r) && Gravity(r.status) > Gravity(e.state.status)) {
      e.state.status = r.status;
    }
    ring_changed |= OwnsRange(before.status) != OwnsRange(e.state.status) ||
                    before.weight != e.state.weight || before.zone != e.state.zone;
  }
  if (heard_peer && Self().status == MemberStatus::kJoining) {
    Self().status = MemberStatus::kUp;
    BumpSelf();
  }
  return ring_changed;
}

std::vector<MemberState> Membership::Digest() const {
  std::vector<MemberState> out;
  out.reserve(entries_.size());
  for (const auto& [id, e] : entries_) out.push_back(e.state);
  return out;
}

const MemberState* Membership::Find(const std::string& id) const {
  auto it = entries_.find(id);
  return it == entries_.end() ? nullptr : &it->second.state;
}

bool Membership::IsReachable(const std::string& id) const {
  const MemberState* m = Find(id);
  return m && m->status != MemberStatus::kDown && m->status != MemberStatus::kRemoved;
}

std::vector<PartitionRing::Member> Membership::RingMembers() const {
  std::vector<PartitionRing::Member> out;
  for (const auto& [id, e] : entries_) {
    if (OwnsRange(e.state.status)) out.push_back({id, e.state.weight, e.state.zone});
  }
  return out;
}

void Membership::Leave(uint64_t now_ms) {
  MemberState& s = Self();
  if (s.status == MemberStatus::kRemoved) return;
  s.status = MemberStatus::kLeaving;
  // A fresh incarnation makes "leaving" win over any view of us others hold.
  ++s.incarnation;
  BumpSelf();
}

void Membership::FinishLeave() {
  MemberState& s = Self();
  if (s.status != MemberStatus::kLeaving) return;
  s.status = MemberStatus::kRemoved;
  ++s.incarnation;
  BumpSelf();
}

Status Membership::Remove(const std::string& id, uint64_t now_ms) {
  if (id == cfg_.id) return Status::Invalid("cannot remove this node; use DYNAMO LEAVE");
  auto it = entries_.find(id);
  if (it == entries_.end()) return Status::NotFound("unknown node id " + id);
  it->second.state.status = MemberStatus::kRemoved;
  return Status::OK();
}

}  // namespace dynakv::cluster
