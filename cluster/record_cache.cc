// cluster/record_cache.cc: LRU row cache of decoded Records.
#include "cluster/record_cache.h"

namespace dynakv::cluster {

size_t RecordCache::Cost(std::string_view key, const Record& rec) {
  // Approximate heap footprint: the key twice (entry + node), the clock, every sibling.
  size_t n = 96 + key.size() + rec.context.size() * sizeof(VVEntry);
  for (const auto& s : rec.siblings) n += sizeof(Sibling) + s.value.size();
  return n;
}

const Record* RecordCache::Find(std::string_view key, bool* found) {
  auto it = map_.find(key);
  if (it == map_.end()) {
    ++misses_;
    return nullptr;
  }
  ++hits_;
  lru_.splice(lru_.begin(), lru_, it->second);
  *found = it->second->found;
  return &it->second->rec;
}

void RecordCache::Put(std::string_view key, const Record& rec, bool found) {
  if (capacity_bytes_ == 0) return;
  size_t cost = Cost(key, rec);
  auto it = map_.find(key);
  if (it != map_.end() && cost <= capacity_bytes_ / 8) {
    // Update in place: the common case (a write to a cached key) keeps its list node.
    Entry& e = *it->second;
    e.rec = rec;
    e.found = found;
    bytes_ = bytes_ - e.bytes + cost;
    e.bytes = cost;
    lru_.splice(lru_.begin(), lru_, it->second);
    EvictTo(capacity_bytes_);
    return;
  }
  Erase(key);
  if (cost > capacity_bytes_ / 8) return;  // one huge value must not flush the whole cache
  EvictTo(capacity_bytes_ - cost);
  lru_.push_front(Entry{std::string(key), rec, found, cost});
  map_.emplace(std::string_view(lru_.front().key), lru_.begin());
  bytes_ += cost;
}

void RecordCache::Erase(std::string_view key) {
  auto it = map_.find(key);
  if (it == map_.end()) return;
  auto node = it->second;
  map_.erase(it);
  bytes_ -= node->bytes;
  lru_.erase(node);
}

void RecordCache::Clear() {
  map_.clear();
  lru_.clear();
  bytes_ = 0;
}

void RecordCache::EvictTo(size_t target) {
  while (bytes_ > target && !lru_.empty()) {
    auto& last = lru_.back();
    map_.erase(std::string_view(last.key));
    bytes_ -= last.bytes;
    lru_.pop_back();
  }
}

}  // namespace dynakv::cluster
