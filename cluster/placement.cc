// cluster/placement.cc: see placement.h.
#include "cluster/placement.h"

#include <algorithm>
#include <set>
#include <utility>

namespace dynakv::cluster {

Placement::Placement(std::string self_id, int n, uint32_t self_weight, std::string self_zone)
    : self_(std::move(self_id)), n_(static_cast<size_t>(std::max(n, 1))) {
  ring_.Build({{self_, self_weight, std::move(self_zone)}}, n_);
  Derive();
}

bool Placement::Rebuild(std::vector<PartitionRing::Member> members) {
  if (ring_.SameMembers(members, n_)) return false;
  ring_.Build(std::move(members), n_);
  Derive();
  return true;
}

std::vector<std::string> Placement::OwnersOf(uint32_t partition, size_t n) const {
  std::vector<std::string> out;
  auto owners = Owners(partition, n);
  out.reserve(owners.size());  // one allocation: this runs for every request
  for (uint32_t i : owners) out.push_back(IdAt(i));
  return out;
}

std::vector<std::string> Placement::Preference(std::string_view rkey, size_t n) const {
  return OwnersOf(PartitionOf(rkey), n);
}

int Placement::PositionOf(uint32_t partition, const std::string& id) const {
  auto owners = ring_.Owners(partition);
  for (size_t i = 0; i < owners.size(); ++i) {
    if (IdAt(owners[i]) == id) return int(i);
  }
  return -1;
}

int Placement::PositionIn(uint32_t partition) const {
  return owned_[partition] ? PositionOf(partition, self_) : -1;
}

void Placement::Walk(std::string_view key, size_t max, std::vector<uint32_t>* out) const {
  ring_.Walk(PartitionOf(key), max, out);
}

void Placement::Derive() {
  owned_.assign(kPartitions, false);
  std::set<uint32_t> partners;
  uint32_t me = UINT32_MAX;
  for (uint32_t i = 0; i < ring_.node_count(); ++i) {
    if (IdAt(i) == self_) me = i;
  }
  for (uint32_t p = 0; p < kPartitions && me != UINT32_MAX; ++p) {
    auto owners = ring_.Owners(p);
    if (std::find(owners.begin(), owners.end(), me) == owners.end()) continue;
    owned_[p] = true;
    for (uint32_t i : owners) {
      if (i != me) partners.insert(i);
    }
  }
  partners_.clear();
  for (uint32_t i : partners) partners_.push_back(IdAt(i));  // members are sorted by id
}

}  // namespace dynakv::cluster
