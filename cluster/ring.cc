// cluster/ring.cc: see ring.h.
#include "cluster/ring.h"

#include <xxhash.h>

#include <algorithm>

namespace dynakv::cluster {

uint64_t Ring::KeyHash(std::string_view key) { return XXH3_64bits(key.data(), key.size()); }

uint64_t Ring::TokenFor(std::string_view node_id, int i) {
  std::string s;
  s.reserve(node_id.size() + 12);
  s.append(node_id);
  s.push_back('#');
  s.append(std::to_string(i));
  return XXH3_64bits(s.data(), s.size());
}

void Ring::Build(std::vector<Member> members) {
  // Sort by id so that the member order (and the tie-break on token collisions) does not
  // depend on the order members were learned in.
  std::stable_sort(members.begin(), members.end(),
                   [](const Member& a, const Member& b) { return a.id < b.id; });
  members_.clear();
  for (auto& m : members) {
    m.tokens = std::clamp(m.tokens, 1, kMaxTokensPerNode);
    if (!members_.empty() && members_.back().id == m.id) {
      members_.back() = std::move(m);
    } else {
      members_.push_back(std::move(m));
    }
  }
  tokens_.clear();
  size_t total = 0;
  for (const auto& m : members_) total += static_cast<size_t>(m.tokens);
  tokens_.reserve(total);
  for (uint32_t idx = 0; idx < members_.size(); ++idx) {
    for (int i = 0; i < members_[idx].tokens; ++i) {
      tokens_.push_back(Token{TokenFor(members_[idx].id, i), idx});
    }
  }
  std::sort(tokens_.begin(), tokens_.end(), [](const Token& a, const Token& b) {
    return a.pos != b.pos ? a.pos < b.pos : a.member < b.member;
  });
}

bool Ring::SameMembers(const std::vector<Member>& members) const {
  if (members.size() != members_.size()) return false;
  std::vector<const Member*> sorted;
  sorted.reserve(members.size());
  for (const auto& m : members) sorted.push_back(&m);
  std::sort(sorted.begin(), sorted.end(),
            [](const Member* a, const Member* b) { return a->id < b->id; });
  for (size_t i = 0; i < sorted.size(); ++i) {
    if (sorted[i]->id != members_[i].id ||
        std::clamp(sorted[i]->tokens, 1, kMaxTokensPerNode) != members_[i].tokens) {
      return false;
    }
  }
  return true;
}

void Ring::Walk(uint64_t hash, size_t max, std::vector<uint32_t>* out) const {
  out->clear();
  if (tokens_.empty() || max == 0) return;
  max = std::min(max, members_.size());
  // First token at or after the key's position (the key's range ends at that token).
  auto it = std::lower_bound(tokens_.begin(), tokens_.end(), hash,
                             [](const Token& t, uint64_t h) { return t.pos < h; });
  size_t start = static_cast<size_t>(it - tokens_.begin());
  for (size_t k = 0; k < tokens_.size() && out->size() < max; ++k) {
    uint32_t m = tokens_[(start + k) % tokens_.size()].member;
    if (std::find(out->begin(), out->end(), m) == out->end()) out->push_back(m);
  }
}

std::vector<std::string> Ring::PreferenceList(std::string_view key, size_t n) const {
  std::vector<uint32_t> idx;
  Walk(KeyHash(key), n, &idx);
  std::vector<std::string> out;
  out.reserve(idx.size());
  for (uint32_t i : idx) out.push_back(members_[i].id);
  return out;
}

std::vector<std::string> Ring::NextAfter(std::string_view key, size_t n, size_t count) const {
  std::vector<uint32_t> idx;
  Walk(KeyHash(key), n + count, &idx);
  std::vector<std::string> out;
  for (size_t i = n; i < idx.size(); ++i) out.push_back(members_[idx[i]].id);
  return out;
}

std::vector<std::pair<uint64_t, std::string>> Ring::Tokens() const {
  std::vector<std::pair<uint64_t, std::string>> out;
  out.reserve(tokens_.size());
  for (const auto& t : tokens_) out.emplace_back(t.pos, members_[t.member].id);
  return out;
}

}  // namespace dynakv::cluster
