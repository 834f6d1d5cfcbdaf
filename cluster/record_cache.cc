// cluster/record_cache.cc: row cache of decoded Records with CLOCK (second-chance) eviction.
//
// Why CLOCK and not a move-to-front LRU: with random keys every hit would splice a list node
// to the front, touching two neighbours' cache lines; profiles showed that, plus the hash
// lookup, as the largest single cost of a SET. A hit now only sets a bit. And a write first
// loads then stores the same key, so the entry found last is remembered (`last_`) and the
// store skips the second hash lookup.
#include "cluster/record_cache.h"

namespace dynakv::cluster {

size_t RecordCache::Cost(std::string_view key, const Record& rec) {
  // Approximate heap footprint: the key twice (entry + node), the clock, every sibling.
  size_t n = 96 + key.size() + rec.context.size() * sizeof(VVEntry);
  for (const auto& s : rec.siblings) n += sizeof(Sibling) + s.value.size();
  return n;
}

RecordCache::Entry* RecordCache::Lookup(std::string_view key) {
  if (last_ != nullptr && last_->key == key) return last_;
  auto it = map_.find(key);
  if (it == map_.end()) return nullptr;
  last_ = &*it->second;
  return last_;
}

const Record* RecordCache::Find(std::string_view key, bool* found) {
  Entry* e = Lookup(key);
  if (e == nullptr) {
    ++misses_;
    return nullptr;
  }
  ++hits_;
  e->referenced = true;
  *found = e->found;
  return &e->rec;
}

void RecordCache::Put(std::string_view key, const Record& rec, bool found) {
  if (capacity_bytes_ == 0) return;
  size_t cost = Cost(key, rec);
  Entry* e = Lookup(key);
  if (e != nullptr && cost <= capacity_bytes_ / 8) {
    // Update in place: the common case (a write to a cached key) keeps its list node.
    e->rec = rec;
    e->found = found;
    e->referenced = true;
    bytes_ = bytes_ - e->bytes + cost;
    e->bytes = cost;
    EvictTo(capacity_bytes_);
    return;
  }
  Erase(key);
  if (cost > capacity_bytes_ / 8) return;  // one huge value must not flush the whole cache
  EvictTo(capacity_bytes_ - cost);
  lru_.push_front(Entry{std::string(key), rec, found, cost, false});
  map_.emplace(std::string_view(lru_.front().key), lru_.begin());
  last_ = &lru_.front();
  bytes_ += cost;
}

void RecordCache::Erase(std::string_view key) {
  auto it = map_.find(key);
  if (it == map_.end()) return;
  auto node = it->second;
  if (last_ == &*node) last_ = nullptr;
  map_.erase(it);
  bytes_ -= node->bytes;
  lru_.erase(node);
}

void RecordCache::Clear() {
  last_ = nullptr;
  map_.clear();
  lru_.clear();
  bytes_ = 0;
}

void RecordCache::EvictTo(size_t target) {
  // CLOCK: the tail is the oldest; a referenced entry gets a second chance at the front.
  size_t spins = 0;
  while (bytes_ > target && !lru_.empty()) {
    auto& last = lru_.back();
    if (last.referenced && spins++ < lru_.size()) {
      last.referenced = false;
      lru_.splice(lru_.begin(), lru_, std::prev(lru_.end()));
      continue;
    }
    if (last_ == &last) last_ = nullptr;
    map_.erase(std::string_view(last.key));
    bytes_ -= last.bytes;
    lru_.pop_back();
  }
}

}  // namespace dynakv::cluster
