// cluster/keyspace.cc: see keyspace.h.
#include "cluster/keyspace.h"

#include <xxhash.h>

#include <algorithm>

#include "cluster/key_layout.h"

namespace dynakv::cluster {

Keyspaces::Keyspaces(KeyspacePolicy def, std::vector<KeyspacePolicy> entries)
    : def_(std::move(def)), entries_(std::move(entries)) {
  def_.prefix.clear();
  std::sort(entries_.begin(), entries_.end(), [](const KeyspacePolicy& a, const KeyspacePolicy& b) {
    if (a.prefix.size() != b.prefix.size()) return a.prefix.size() > b.prefix.size();
    return a.prefix < b.prefix;
  });
  max_n_ = def_.n;
  for (const auto& e : entries_) max_n_ = std::max(max_n_, e.n);
  levels_ = {def_.n};
  for (const auto& e : entries_) levels_.push_back(e.n);
  std::sort(levels_.begin(), levels_.end());
  levels_.erase(std::unique(levels_.begin(), levels_.end()), levels_.end());
  mixed_n_ = levels_.size() > 1;
}

const KeyspacePolicy& Keyspaces::Match(std::string_view key) const {
  for (const auto& e : entries_) {
    if (key.size() >= e.prefix.size() && key.compare(0, e.prefix.size(), e.prefix) == 0) return e;
  }
  return def_;
}

const KeyspacePolicy& Keyspaces::ForRecord(std::string_view rkey) const {
  if (entries_.empty()) return def_;
  if (rkey.empty() || rkey[0] != kRecordEscape) return Match(rkey);
  ParsedRecordKey p = ParseRecordKey(rkey);
  return p.kind == RecordKind::kOther ? def_ : Match(p.key);
}

uint64_t Keyspaces::Fingerprint() const {
  std::string s;
  auto add = [&](const KeyspacePolicy& e) {
    s += std::to_string(e.prefix.size()) + ":" + e.prefix + "/" + std::to_string(e.n) + "/" +
         std::to_string(e.r) + "/" + std::to_string(e.w) + (e.lww ? "/lww;" : "/siblings;");
  };
  add(def_);
  for (const auto& e : entries_) add(e);
  return XXH64(s.data(), s.size(), 0x6b657973ull);
}

}  // namespace dynakv::cluster
