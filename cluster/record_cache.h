// cluster/record_cache.h: an LRU cache of decoded local Records (a row cache), bounded in
// bytes, in front of the storage engine.
//
// Eviction is CLOCK (second chance), see record_cache.cc.
//
// Why: every client read and every coordinated write first loads the key's local Record;
// through LMDB that is a B-tree lookup, a copy, a checksum and a decode. Hot keys skip all of
// it. The cache also remembers misses ("this replica has no record"), so a write to a new
// key costs no engine lookup on its second attempt.
//
// Coherence: Node::Impl updates the cache on every successful local store and erases it on
// reap and flush; if the engine drops writes it had accepted (a failed group commit), the
// owner must Clear() it (Node::DropCaches).
//
// Thread-safety: single-threaded, like the Node that owns it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <list>
#include <string>
#include <string_view>
#include <unordered_map>

#include "cluster/version.h"

namespace dynakv::cluster {

class RecordCache {
 public:
  explicit RecordCache(size_t capacity_bytes) : capacity_bytes_(capacity_bytes) {}

  // The cached entry for key, or nullptr. *found says whether the replica has a record.
  const Record* Find(std::string_view key, bool* found);
  void Put(std::string_view key, const Record& rec, bool found);
  void Erase(std::string_view key);
  void Clear();

  size_t bytes() const { return bytes_; }
  size_t entries() const { return map_.size(); }
  uint64_t hits() const { return hits_; }
  uint64_t misses() const { return misses_; }

 private:
  struct Entry {
    std::string key;
    Record rec;
    bool found = false;
    size_t bytes = 0;
    bool referenced = false;  // CLOCK bit: used since the hand last passed
  };
  static size_t Cost(std::string_view key, const Record& rec);
  Entry* Lookup(std::string_view key);
  void EvictTo(size_t target);
  Entry* last_ = nullptr;  // the entry found or stored last (a write loads, then stores)

  size_t capacity_bytes_;
  size_t bytes_ = 0;
  uint64_t hits_ = 0, misses_ = 0;
  std::list<Entry> lru_;  // front = most recently inserted or given a second chance
  std::unordered_map<std::string_view, std::list<Entry>::iterator> map_;  // views into lru_
};

}  // namespace dynakv::cluster
