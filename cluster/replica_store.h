// cluster/replica_store.h: this node's replica of the data: the "d/" records in the engine,
// the row cache in front of them, and the counts INFO and DBSIZE show. Every local read and
// write of a Record goes through here, so the cache and the counts stay exact.
//
// It knows nothing of the ring, quorums or messages. A corrupt local record is logged and
// treated as absent: the other replicas' copies are joined back in by the next write, read
// repair or anti-entropy, which is better than refusing the key forever.
// See docs/ARCHITECTURE.md, "Replica store".
//
// Thread-safety: single-threaded; owned by one Node.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_set>
#include <utility>
#include <vector>

#include "cluster/env.h"
#include "cluster/key_layout.h"
#include "cluster/record_cache.h"
#include "cluster/version.h"
#include "storage/engine.h"

namespace dynakv::cluster {

class ReplicaStore {
 public:
  ReplicaStore(storage::Engine* engine, Clock* clock, Logger* logger, size_t cache_bytes,
               const VersionLimits* limits)
      : engine_(engine), clock_(clock), logger_(logger), limits_(limits), cache_(cache_bytes) {}

  // OK with *rec (empty and *found = false when absent).
  // take: the caller will Store the key on success; the cached record is moved out rather
  // than copied (see RecordCache::Take).
  Status Load(std::string_view key, Record* rec, bool* found, bool take = false);
  // Load for a write that replaces every sibling (a plain write without a context; take as
  // above): a stored record of kVersionsOnlyBytes or more comes back with its versions but
  // without its values (*without_values = true; not cached), so a SET over a 100 MB value
  // does not copy the old one. Smaller records come back whole, as from Load.
  static constexpr size_t kVersionsOnlyBytes = 64 * 1024;
  Status LoadVersions(std::string_view key, Record* rec, bool* found, bool* without_values);
  // Load (not taking from the cache), except that a stored record of `big_at` bytes or more
  // comes back without its values and *big set (the caller copies what it needs from the
  // engine's bytes itself: a big GET, server/commands_strings.cc); *stored_bytes, when
  // given, gets that record's size.
  Status LoadLeavingBig(std::string_view key, Record* rec, bool* found, size_t big_at, bool* big,
                        size_t* stored_bytes = nullptr);
  // As Load, without the copy: *rec points at the cached record (an empty one when absent),
  // valid until the next Store, Join, Erase or Load of any key (the cache may evict).
  Status Peek(std::string_view key, const Record** rec, bool* found);
  // Peek for a reply that can carry a big record as it is stored (EncodeSplitFrame): a stored
  // record of kEncodeInPlaceBytes or more comes back as *big, its bytes (SharedBytes, or one
  // copy of the engine's, checksum verified), with *rec holding only its versions. Otherwise
  // *big is null and this is Peek, at Peek's cost.
  Status PeekOrShare(std::string_view key, const Record** rec, bool* found,
                     std::shared_ptr<const std::string>* big);

  // Store for a record already encoded: `bytes` are its EncodeRecord bytes, `versions` the
  // record with some or all of its values left out (only its versions are read). The row
  // cache drops the key (a record stored this way is a big one, which it would not keep).
  Status StoreEncoded(std::string_view key, const Record& versions, std::string bytes, bool existed,
                      bool was_live);

  // Persists `rec` as the local record of `key` (into the engine's pending batch).
  // existed / was_live: whether there was a record and whether its value was live, so the
  // counts stay exact without a scan. The record goes into the cache by copy, or by move
  // when the caller passes an rvalue.
  template <typename R>
  Status Store(std::string_view key, R&& rec, bool existed, bool was_live);

  // Replica side: Join `incoming` into the local copy; persists only when it changed.
  // *changed (if given) says whether the local copy changed; *merged_out gets the result.
  Status Join(std::string_view key, const Record& incoming, bool* changed = nullptr,
              Record* merged_out = nullptr);
  // The same for a record the caller gives away (a write that arrived, its value in the
  // frame's buffer: DecodeFrameTaking). When it holds a value of kEncodeInPlaceBytes or more
  // and the join is `incoming` itself (it covers every local sibling, as a SET over the key
  // does), it is stored as it came: its values moved, not copied, and the local record read
  // without its values. Otherwise as Join above.
  // With `encoded`: incoming's encoding, from which its biggest value was left out
  // (Message::record_bytes); stored as it is when the join keeps it.
  Status JoinTaking(std::string_view key, Record&& incoming, std::string encoded = {});

  // Deletes the local record of `key`, which was `rec` (the reaper's last step).
  Status Erase(std::string_view key, const Record& rec);

  // Visits the records with record key strictly greater than start_after in (partition,
  // record key) order, at most `limit` (0 = all); the visitor returns false to stop.
  // Corrupt records are skipped. plain_only: only plain records (no collection elements),
  // and start_after and the visited keys are client keys; element records are sought past,
  // not read. values = false: the visited records' values are left empty, and a big one's
  // checksum is not verified (DecodeRecordVersions): load a record before acting on it.
  Status Scan(std::string_view start_after, size_t limit,
              const std::function<bool(std::string_view key, const Record&)>& visit,
              bool plain_only = false, bool values = true);
  // One collection's element records (ElementPrefix `prefix`) with element strictly after
  // `after` ("" = from the first), in element order, at most `limit` (0 = all). *end says
  // none is left. Elements are returned without the prefix.
  Status ScanElements(std::string_view prefix, std::string_view after, size_t limit,
                      std::vector<std::pair<std::string, Record>>* out, bool* end);

  // Recounts the records (all, and live) from the engine: at start, and after the engine
  // took back writes whose counts were already taken (a failed group commit). The first
  // kRecountInline records are counted at once; a bigger store goes on being counted by
  // RecountStep, a chunk per call (Node::OnTick), so a node restarts in the same time with
  // 1M or 10M keys. While counting() the counts cover the keys before the cursor only; a
  // write behind the cursor moves them as usual, one ahead of it is counted when reached.
  static constexpr size_t kRecountInline = 8192;
  Status Recount();
  // Counts up to `budget` more records, stopping early once `max_ms` of the clock's
  // monotonic time have passed; OK and nothing to do when not counting().
  Status RecountStep(size_t budget, uint64_t max_ms = UINT64_MAX);
  bool counting() const { return counting_; }
  // After the "d/" range was deleted (FLUSHALL): forget the cache and the counts.
  void ResetAfterFlush();
  void ClearCache() { cache_.Clear(); }

  // Whether the row cache holds key's record or its absence (it never keeps a big record).
  bool Cached(std::string_view key) { return cache_.Has(key); }
  // The stored bytes of key's record, seen through `see` during the call (no copy, no
  // decode, the row cache bypassed: the engine always holds the latest record); NotFound
  // when there is none.
  Status View(std::string_view key, const std::function<void(std::string_view)>& see) {
    return engine_->View(data_key_.Of(key), see);
  }
  // The stored record's bytes (EncodeRecord) when the engine holds them in a shared buffer
  // (a big record just stored; Engine::SharedValue), else null.
  std::shared_ptr<const std::string> SharedBytes(std::string_view key) {
    return engine_->SharedValue(data_key_.Of(key));
  }


  // Pipeline hint (Node::Prefetch): stage 1..3 for the cache, 1..2 for the engine.
  void Prefetch(std::string_view key, int stage) {
    cache_.Prefetch(key, stage);
    if (stage <= 2) engine_->Prefetch(data_key_.Of(key), stage);
  }

  // Ownership handoff (handoff.h): records per partition, a counter of stores per partition
  // (a transfer that saw it move while it ran goes over the partition again), one chunk of
  // a partition's records after `after` (client key; "" = from the start), and dropping a
  // partition that has been handed to its owners.
  uint32_t partition_count(uint32_t p) const { return part_count_[p]; }
  uint32_t partition_writes(uint32_t p) const { return part_writes_[p]; }
  // Changes to the partition's records of any kind (store, reap, drop, flush): anti-entropy
  // rehashes a partition only when this moved (anti_entropy.h).
  uint32_t partition_changes(uint32_t p) const { return part_changes_[p]; }
  Status ReadPartition(uint32_t p, const std::string& after, size_t max_records,
                       size_t max_bytes, std::vector<std::pair<std::string, Record>>* out,
                       bool* end);
  Status DropPartition(uint32_t p, uint64_t* dropped);

  // Whether `key` was reaped (Erase) since the last call that said yes. Reaping forgets
  // the dots this node issued for the key, and a record that comes back (a replica write,
  // read repair) need not mention them; a coordinator must not reissue them (Riak's
  // kv679), so it takes a fresh actor when this says yes (found by the simulator,
  // reap.toml). Keys are kept as 64-bit hashes (a collision costs one needless new actor);
  // past kMaxForgotten of them, the next write of any key counts.
  bool Forgot(std::string_view key);

  uint64_t key_count() const { return key_count_; }
  uint64_t live_count() const { return live_count_; }
  uint64_t expiring_writes() const { return expiring_writes_; }
  uint64_t cache_hits() const { return cache_.hits(); }
  uint64_t cache_misses() const { return cache_.misses(); }

 private:
  Status LoadImpl(std::string_view key, Record* rec, bool* found, bool take, bool* without_values,
                  size_t skip_values_at = kVersionsOnlyBytes, size_t* stored_bytes = nullptr);
  // Whether the counts include the record at engine key `k` (see Recount).
  bool Counted(std::string_view k) const { return !counting_ || k < count_cursor_; }
  void Log(Logger::Level level, const std::string& msg) {
    if (logger_) logger_->Log(level, msg);
  }
  void WarnSiblings(std::string_view key, size_t n);
  // Store's and StoreEncoded's write of the bytes and the counts it keeps (not the cache).
  Status Persist(std::string_view key, const Record& rec, std::string bytes, bool existed, bool was_live);

  storage::Engine* engine_;
  Clock* clock_;
  Logger* logger_;
  const VersionLimits* limits_;
  RecordCache cache_;
  Record scratch_;  // Peek's record on a cache miss
  DataKeyBuffer data_key_;
  uint64_t key_count_ = 0;        // local records, dead or alive
  uint64_t live_count_ = 0;       // local records with a live value when last written
  uint64_t expiring_writes_ = 0;  // stores of a record that can expire or be reaped
  uint64_t next_sibling_warn_ms_ = 0;
  bool counting_ = false;      // a Recount is under way
  std::string count_cursor_;   // the engine keys before it are counted
  static constexpr size_t kMaxForgotten = 100000;
  std::unordered_set<uint64_t> forgotten_;
  bool forgot_all_ = false;  // forgotten_ overflowed
  std::vector<uint32_t> part_count_ = std::vector<uint32_t>(kPartitions, 0);
  std::vector<uint32_t> part_writes_ = std::vector<uint32_t>(kPartitions, 0);
  std::vector<uint32_t> part_changes_ = std::vector<uint32_t>(kPartitions, 0);
};

template <typename R>
Status ReplicaStore::Store(std::string_view key, R&& rec, bool existed, bool was_live) {
  if (rec.siblings.size() >= limits_->warn_siblings) WarnSiblings(key, rec.siblings.size());
  // A record given up by the caller that the cache would not keep (a big value) gives its
  // value's buffer to the encoding (EncodeRecord(Record&&): a 100 MB SET is not copied here).
  bool taken = false;
  std::string bytes;
  if constexpr (!std::is_lvalue_reference_v<R>) {
    taken = !cache_.Keeps(key, rec);
    bytes = taken ? EncodeRecord(std::move(rec)) : EncodeRecord(rec);
  } else {
    bytes = EncodeRecord(rec);
  }
  Status s = Persist(key, rec, std::move(bytes), existed, was_live);
  if (s.ok()) {
    if (taken) {
      cache_.Erase(key);  // rec lost its value to the encoding; the cache would not keep it
    } else {
      cache_.Put(key, std::forward<R>(rec), true);
    }
  } else {
    cache_.Erase(key);
  }
  return s;
}

}  // namespace dynakv::cluster
