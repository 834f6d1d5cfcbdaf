// storage/mem_engine.h: MemEngine, an in-memory storage::Engine with fault injection.
//
// What it is for: unit tests and the deterministic cluster simulator (docs/ARCHITECTURE.md, "Layers"). Like
// LevelDB's memenv + fault_injection_test, it models the one thing that matters about a
// disk: what survives a crash. State is split in two, a committed map (what an fsync made
// durable) and a pending overlay (applied, visible to Get/Scan, not yet durable).
//   SimulateCrash()  drops the pending overlay: a power cut before fsync.
//   Wipe()           drops everything: the data directory is lost.
//   SetFailWrites()  makes every Write fail with a given status (e.g. a full disk).
//   SetByteBudget()  caps live bytes (key + value); a Write that would exceed it returns
//                    NoSpace and applies nothing, like LMDB at map_size_max_bytes.
//   SetFailCommits() makes Commit fail (an fsync error): pending writes are dropped.
// It is deterministic: ordered std::map only, no hashing, no clock, no randomness.
// With SyncMode::kNone a Commit still moves writes to the committed map: the model is a
// process crash, where the OS page cache survives.
//
// Thread-safety: none; one thread (the simulated node) uses it, as any Engine.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "storage/engine.h"

namespace dynakv::storage {

class MemEngine final : public Engine {
 public:
  explicit MemEngine(SyncMode sync = SyncMode::kBatch) : sync_(sync) {}

  Status Get(std::string_view key, std::string* value) override;
  Status View(std::string_view key, const std::function<void(std::string_view)>& see) override;
  Status Write(const std::vector<WriteOp>& batch) override;
  Status Scan(std::string_view start, std::string_view end, size_t limit,
              const std::function<bool(std::string_view, std::string_view)>& visit) override;
  Status Commit() override;
  bool HasPending() const override { return !pending_.empty(); }
  EngineStats Stats() const override;

  // Drops every pending (uncommitted) write; committed data survives.
  void SimulateCrash();
  // Drops everything, committed or not, as if the data directory were deleted.
  void Wipe();
  // While `s` is not OK every Write returns `s` and applies nothing. Pass OK to clear.
  void SetFailWrites(Status s) { fail_writes_ = std::move(s); }
  // While `s` is not OK every Commit with pending writes returns `s` and drops them.
  void SetFailCommits(Status s) { fail_commits_ = std::move(s); }
  // Caps live bytes (sum of key + value sizes of live entries, pending included).
  // 0 = unlimited. Lowering it below the current size only blocks writes that grow the store.
  void SetByteBudget(uint64_t bytes) { budget_bytes_ = bytes; }

  // Live bytes including pending writes, and committed only.
  uint64_t live_bytes() const { return live_bytes_; }
  uint64_t committed_bytes() const { return committed_bytes_; }
  size_t committed_count() const { return committed_.size(); }

 private:
  // The value `key` has in the pending-over-committed view, or nullopt when absent.
  std::optional<std::string_view> Lookup(std::string_view key) const;

  SyncMode sync_;
  std::map<std::string, std::string, std::less<>> committed_;
  // nullopt marks a pending delete.
  std::map<std::string, std::optional<std::string>, std::less<>> pending_;
  uint64_t live_bytes_ = 0;
  uint64_t committed_bytes_ = 0;
  uint64_t budget_bytes_ = 0;
  Status fail_writes_;
  Status fail_commits_;
  uint64_t commits_ = 0;
  uint64_t syncs_ = 0;
};

}  // namespace dynakv::storage
