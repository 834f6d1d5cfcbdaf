// cluster/record_cache.h: a cache of decoded local Records (a row cache), bounded in bytes,
// in front of the storage engine.
//
// Eviction is CLOCK (second chance), see record_cache.cc.
//
// Why: every client read and every coordinated write first loads the key's local Record;
// through LMDB that is a B-tree lookup, a copy, a checksum and a decode. Hot keys skip all of
// it. The cache also remembers misses ("this replica has no record"), so a write to a new
// key costs no engine lookup on its second attempt.
//
// Layout: an open-addressing table (linear probing, power-of-two size, at most 5/8 full,
// backward-shift deletion, no tombstones) of 16-byte slots {hash, Entry*}; each Entry is one
// allocation holding the Record header and the key bytes right after it. A lookup reads the
// slot array, then one Entry, and compares the full 64-bit hash before touching the key.
// Why: with std::unordered_map<string_view, list iterator> a lookup took 4-5 cache misses
// (buckets -> hash node -> list node -> heap key) and was the largest single cost of a SET
// with many keys.
//
// Coherence: Node::Impl updates the cache on every successful local store and erases it on
// reap and flush; if the engine drops writes it had accepted (a failed group commit), the
// owner must Clear() it (Node::DropCaches).
//
// Thread-safety: single-threaded, like the Node that owns it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "cluster/version.h"

namespace dynakv::cluster {

class RecordCache {
 public:
  explicit RecordCache(size_t capacity_bytes) : capacity_bytes_(capacity_bytes) {}
  ~RecordCache();
  RecordCache(const RecordCache&) = delete;
  RecordCache& operator=(const RecordCache&) = delete;

  // The cached entry for key, or nullptr. *found says whether the replica has a record.
  // The pointer is valid until the next Put, Erase or Clear.
  const Record* Find(std::string_view key, bool* found);
  // Whether key has a live entry (a record or a known absence), without counting a hit or a
  // miss; a Find of the same key next is then cheap (the last lookup is remembered).
  bool Has(std::string_view key) {
    const Entry* e = Lookup(key);
    return e != nullptr && !e->taken;
  }
  // For a read-modify-write: moves the cached record out into *out (true), or false on a
  // miss. Until the next Put of the key the entry counts as a miss, so a caller that fails
  // half-way and never puts it back only costs a reload.
  bool Take(std::string_view key, Record* out, bool* found);
  void Put(std::string_view key, const Record& rec, bool found);
  void Put(std::string_view key, Record&& rec, bool found);  // moves rec in
  // Whether Put would keep rec: one record may take at most an eighth of the cache.
  bool Keeps(std::string_view key, const Record& rec) const {
    return capacity_bytes_ > 0 && Cost(key, rec) <= capacity_bytes_ / 8;
  }
  // A hint, no effect on contents: stage 1 loads the key's home slot into the CPU cache,
  // stage 2 (after stage 1 for a batch of keys) the entry that slot chain names, stage 3 the
  // record's sibling and clock arrays, stage 4 the first bytes of a lone sibling's value
  // (what a read copies into its reply). Called for the commands of a pipeline before they
  // run, so their cache misses overlap.
  void Prefetch(std::string_view key, int stage) const;
  void Erase(std::string_view key);
  void Clear();

  size_t bytes() const { return bytes_; }
  size_t entries() const { return count_; }
  uint64_t hits() const { return hits_; }
  uint64_t misses() const { return misses_; }

 private:
  // Allocated with the key's bytes inline right after it (see NewEntry).
  struct Entry {
    Record rec;
    size_t bytes = 0;
    size_t key_len = 0;
    bool found = false;
    bool referenced = false;  // CLOCK bit: used since the hand last passed
    bool taken = false;       // rec was moved out by Take; a miss until the next Put
    std::string_view key() const { return {reinterpret_cast<const char*>(this + 1), key_len}; }
  };
  struct Slot {
    uint64_t hash = 0;
    Entry* entry = nullptr;  // nullptr = empty
  };
  static constexpr size_t kNone = ~size_t{0};

  static size_t Cost(std::string_view key, const Record& rec);
  template <typename R>
  void PutImpl(std::string_view key, R&& rec, bool found);
  template <typename R>
  static Entry* NewEntry(std::string_view key, R&& rec, bool found, size_t cost);
  void FreeEntry(Entry* e);
  Entry* Lookup(std::string_view key);
  Entry* Hit(std::string_view key, bool* found);
  size_t FindSlot(std::string_view key, uint64_t hash) const;  // kNone when absent
  void Insert(uint64_t hash, Entry* e);  // key must be absent; grows when needed
  void RemoveSlot(size_t i);             // frees the entry, backward-shifts the chain
  void Grow();
  void EvictTo(size_t target);
  Entry* last_ = nullptr;  // the entry found or stored last (a write loads, then stores)

  size_t capacity_bytes_;
  size_t bytes_ = 0;
  uint64_t hits_ = 0, misses_ = 0;
  Slot* slots_ = nullptr;  // mask_ + 1 slots, or none before the first Put
  size_t mask_ = 0;
  size_t count_ = 0;  // live entries
  size_t hand_ = 0;   // CLOCK hand: a slot index
};

}  // namespace dynakv::cluster
