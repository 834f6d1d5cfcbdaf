// cluster/record_cache.cc: row cache of decoded Records with CLOCK (second-chance) eviction.
//
// Why CLOCK and not a move-to-front LRU: with random keys every hit would splice a list node
// to the front, touching two neighbours' cache lines; profiles showed that, plus the hash
// lookup, as the largest single cost of a SET. A hit now only sets a bit. And a write first
// loads then stores the same key, so the entry found last is remembered (`last_`) and the
// store skips the second hash lookup.
//
// The hand sweeps the slot array itself (no list): empty slots are skipped, a referenced
// entry loses its bit, an unreferenced one is evicted. Slot order is hash order, so a new
// entry lands at a random distance ahead of the hand rather than just behind it. Deletion
// shifts later entries of the probe chain back by one; when the hand evicts, the hole is at
// the hand, so the entry shifted into it is examined next. Any other Erase may shift an entry
// from just ahead of the hand to behind it: that entry is skipped once, which is harmless.
// Shifts move slots, not Entry objects, so `last_` only dies when its entry is freed.
#include "cluster/record_cache.h"

#include <cstring>
#include <new>
#include <utility>

#include <xxhash.h>

namespace dynakv::cluster {

namespace {

uint64_t Hash(std::string_view key) { return XXH3_64bits(key.data(), key.size()); }

}  // namespace

RecordCache::~RecordCache() {
  Clear();
  delete[] slots_;
}

size_t RecordCache::Cost(std::string_view key, const Record& rec) {
  // Approximate heap footprint: the entry with its key, its slot, the clock, every sibling.
  size_t n = 96 + key.size() + rec.context.size() * sizeof(VVEntry);
  for (const auto& s : rec.siblings) n += sizeof(Sibling) + s.value.size();
  return n;
}

template <typename R>
RecordCache::Entry* RecordCache::NewEntry(std::string_view key, R&& rec, bool found,
                                          size_t cost) {
  void* mem = ::operator new(sizeof(Entry) + key.size());
  Entry* e;
  try {
    e = new (mem) Entry{std::forward<R>(rec), cost, key.size(), found, false};
  } catch (...) {
    ::operator delete(mem);
    throw;
  }
  if (!key.empty()) std::memcpy(reinterpret_cast<char*>(e + 1), key.data(), key.size());
  return e;
}

void RecordCache::FreeEntry(Entry* e) {
  if (last_ == e) last_ = nullptr;
  e->~Entry();
  ::operator delete(e);
}

size_t RecordCache::FindSlot(std::string_view key, uint64_t hash) const {
  if (count_ == 0) return kNone;
  for (size_t i = hash & mask_;; i = (i + 1) & mask_) {
    const Slot& s = slots_[i];
    if (s.entry == nullptr) return kNone;  // the table is never full: chains end
    if (s.hash == hash && s.entry->key() == key) return i;
  }
}

RecordCache::Entry* RecordCache::Lookup(std::string_view key) {
  if (last_ != nullptr && last_->key() == key) return last_;
  size_t i = FindSlot(key, Hash(key));
  if (i == kNone) return nullptr;
  last_ = slots_[i].entry;
  return last_;
}

void RecordCache::Prefetch(std::string_view key, int stage) const {
  if (slots_ == nullptr || count_ == 0) return;
  uint64_t hash = Hash(key);
  size_t i = hash & mask_;
  if (stage == 1) {
    __builtin_prefetch(&slots_[i]);
    return;
  }
  for (size_t n = 0; n < 8 && slots_[i].entry != nullptr; ++n, i = (i + 1) & mask_) {
    if (slots_[i].hash != hash) continue;
    const Entry* e = slots_[i].entry;
    if (stage == 2) {
      __builtin_prefetch(e);
    } else if (e->key() != key) {
    } else if (stage == 3) {  // the record's arrays, which a write reads first
      if (!e->rec.siblings.empty()) __builtin_prefetch(e->rec.siblings.data());
      if (!e->rec.context.entries().empty()) __builtin_prefetch(e->rec.context.entries().data());
    } else if (e->rec.siblings.size() == 1) {  // stage 4: the value a read copies out
      const std::string& v = e->rec.siblings[0].value;
      __builtin_prefetch(v.data());
      if (v.size() > 64) __builtin_prefetch(v.data() + 64);
    }
    return;
  }
}

// A lookup that counts: the live (not taken) entry for key, marked used, or nullptr.
RecordCache::Entry* RecordCache::Hit(std::string_view key, bool* found) {
  Entry* e = Lookup(key);
  if (e == nullptr || e->taken) {
    ++misses_;
    return nullptr;
  }
  ++hits_;
  e->referenced = true;
  *found = e->found;
  return e;
}

const Record* RecordCache::Find(std::string_view key, bool* found) {
  Entry* e = Hit(key, found);
  return e == nullptr ? nullptr : &e->rec;
}

bool RecordCache::Take(std::string_view key, Record* out, bool* found) {
  Entry* e = Hit(key, found);
  if (e == nullptr) return false;
  e->taken = true;
  *out = std::move(e->rec);
  return true;
}

void RecordCache::Put(std::string_view key, const Record& rec, bool found) {
  PutImpl(key, rec, found);
}

void RecordCache::Put(std::string_view key, Record&& rec, bool found) {
  PutImpl(key, std::move(rec), found);
}

template <typename R>
void RecordCache::PutImpl(std::string_view key, R&& rec, bool found) {
  if (capacity_bytes_ == 0) return;
  size_t cost = Cost(key, rec);
  bool fits = cost <= capacity_bytes_ / 8;  // one huge value must not flush the whole cache (Keeps)
  uint64_t hash = 0;
  Entry* e = last_;
  if (e == nullptr || e->key() != key) {
    hash = Hash(key);
    size_t i = FindSlot(key, hash);
    e = i == kNone ? nullptr : slots_[i].entry;
  }
  if (e != nullptr) {
    if (!fits) {
      Erase(key);
      return;
    }
    // Update in place: the common case (a write to a cached key) keeps its entry and slot.
    e->rec = std::forward<R>(rec);
    e->taken = false;
    e->found = found;
    e->referenced = true;
    bytes_ = bytes_ - e->bytes + cost;
    e->bytes = cost;
    last_ = e;
    EvictTo(capacity_bytes_);
    return;
  }
  if (!fits) return;
  // Copy rec before evicting: it may point into an entry that EvictTo frees.
  Entry* fresh = NewEntry(key, std::forward<R>(rec), found, cost);
  EvictTo(capacity_bytes_ - cost);
  Insert(hash, fresh);
  last_ = fresh;
  bytes_ += cost;
}

void RecordCache::Insert(uint64_t hash, Entry* e) {
  if (slots_ == nullptr || (count_ + 1) * 8 > (mask_ + 1) * 5) Grow();
  size_t i = hash & mask_;
  while (slots_[i].entry != nullptr) i = (i + 1) & mask_;
  slots_[i] = Slot{hash, e};
  ++count_;
}

void RecordCache::Grow() {
  size_t n = slots_ == nullptr ? 16 : 2 * (mask_ + 1);
  Slot* old = slots_;
  size_t old_n = old == nullptr ? 0 : mask_ + 1;
  slots_ = new Slot[n];
  mask_ = n - 1;
  for (size_t j = 0; j < old_n; j++) {
    if (old[j].entry == nullptr) continue;
    size_t i = old[j].hash & mask_;
    while (slots_[i].entry != nullptr) i = (i + 1) & mask_;
    slots_[i] = old[j];
  }
  delete[] old;
  hand_ &= mask_;
}

void RecordCache::RemoveSlot(size_t i) {
  Entry* e = slots_[i].entry;
  bytes_ -= e->bytes;
  --count_;
  FreeEntry(e);
  // Backward shift: pull later members of the chain into the hole unless that would put one
  // before its home slot, i.e. unless its home lies cyclically in (hole, j].
  for (size_t j = (i + 1) & mask_; slots_[j].entry != nullptr; j = (j + 1) & mask_) {
    size_t home = slots_[j].hash & mask_;
    if (((j - home) & mask_) >= ((j - i) & mask_)) {
      slots_[i] = slots_[j];
      i = j;
    }
  }
  slots_[i] = Slot{};
}

void RecordCache::Erase(std::string_view key) {
  size_t i = FindSlot(key, Hash(key));
  if (i != kNone) RemoveSlot(i);
}

void RecordCache::Clear() {
  last_ = nullptr;
  for (size_t i = 0; count_ > 0 && i <= mask_; i++) {
    if (slots_[i].entry == nullptr) continue;
    FreeEntry(slots_[i].entry);
    slots_[i] = Slot{};
    --count_;
  }
  bytes_ = 0;
  hand_ = 0;
}

void RecordCache::EvictTo(size_t target) {
  // Two sweeps clear every bit and then evict everything, so after 2 * slots advances the
  // hand stops giving second chances: the loop always ends within the budget.
  size_t chances = 2 * (mask_ + 1);
  while (bytes_ > target && count_ > 0) {
    Slot& s = slots_[hand_];
    if (s.entry != nullptr) {
      if (!s.entry->referenced || chances == 0) {
        RemoveSlot(hand_);  // the hand stays: the next entry of the chain may shift here
        continue;
      }
      s.entry->referenced = false;
    }
    hand_ = (hand_ + 1) & mask_;
    if (chances > 0) --chances;
  }
}

}  // namespace dynakv::cluster
