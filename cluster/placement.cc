// cluster/placement.cc: see placement.h.
#include "cluster/placement.h"

#include <algorithm>
#include <set>
#include <utility>

#include <xxhash.h>

namespace dynakv::cluster {

Placement::Placement(std::string self_id, int n, int self_tokens)
    : self_(std::move(self_id)), n_(static_cast<size_t>(std::max(n, 1))) {
  ring_.Build({{self_, self_tokens}});
  Derive();
}

bool Placement::Rebuild(std::vector<Ring::Member> members) {
  if (ring_.SameMembers(members)) return false;
  ring_.Build(std::move(members));
  Derive();
  return true;
}

std::vector<std::string> Placement::Preference(std::string_view key) const {
  return ring_.PreferenceList(key, n_);
}

void Placement::Walk(std::string_view key, size_t max, std::vector<uint32_t>* out) const {
  ring_.Walk(Ring::KeyHash(key), max, out);
}

void Placement::Derive() {
  uint64_t h = XXH3_64bits_withSeed(nullptr, 0, static_cast<uint64_t>(n_));
  for (const auto& m : ring_.members()) {
    h = XXH3_64bits_withSeed(m.id.data(), m.id.size(), h);
    h = XXH3_64bits_withSeed(&m.tokens, sizeof m.tokens, h);
  }
  ring_hash_ = h;
  // The peers we share a replica set with: walk the preference list of every arc.
  std::set<std::string> partners;
  std::vector<uint32_t> walk;
  for (const auto& [pos, id] : ring_.Tokens()) {
    ring_.Walk(pos, n_, &walk);
    bool mine = false;
    for (uint32_t i : walk) mine |= ring_.members()[i].id == self_;
    if (!mine) continue;
    for (uint32_t i : walk) {
      if (ring_.members()[i].id != self_) partners.insert(ring_.members()[i].id);
    }
  }
  partners_.assign(partners.begin(), partners.end());
}

}  // namespace dynakv::cluster
