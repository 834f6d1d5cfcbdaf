// storage/lmdb_engine.cc: the LMDB-backed Engine, the default on a real node.
//
// One file for one job, though a long one: the log, the in-memory tables, the checkpoint
// thread and rollback share one set of invariants (what is durable, what a reader may see,
// which thread may touch LMDB), stated below; split across files, each piece would have to
// restate them. Its interface is storage/engine.h.
//
// Layout: one environment in LmdbOptions::dir, its one unnamed database, keys in LMDB's
// default memcmp order (which is the Engine's order), plus a write-ahead log in the same
// directory (wal-<generation>.log).
//
// Write path (LevelDB's shape, with LMDB as the sorted store): a write is appended to the
// log buffer and applied to an in-memory table (`mem_`, a hash map: reads see it at once).
// The group commit makes the buffered records durable with one log write: with sync =
// batch on a file system that allows it, whole blocks written O_DIRECT|O_DSYNC (see
// BeginCommit and PrepareBlocks: the writing thread fills the blocks from the records, so the
// loop does not copy a batch); otherwise a write and an fdatasync. No B-tree work happens
// on the request path; a
// 100-byte SET into LMDB would cost a B-tree descent, page copies and, at commit, a 4 KB
// page write, and profiles showed LMDB at ~30% of the loop thread's cycles.
//
// Checkpoint: about once a second (or when the table grows large) the table is frozen
// (`imm_`), new writes start a new log generation, and a background thread applies the
// frozen table to LMDB in key order, in one write txn committed with LMDB's own synced
// two-phase commit. When it is done (noticed on the loop thread) the frozen table is dropped
// and the log generations it covered are retired (the newest is kept as a spare file and
// recycled as a later generation: overwriting allocated blocks makes each fdatasync cheaper).
// Reads look in mem_, then imm_, then LMDB (one cached read-only txn, renewed after each
// checkpoint). Only the background thread writes to LMDB while it runs; every other LMDB
// write (recovery, map growth, synchronous Checkpoint) happens on the owner's thread while
// it does not run.
//
// Rollback: the ops of the group not yet durable in the log can be taken back (a failed log
// append must not leave unacknowledged writes visible): each one records the table entry it
// replaced in `undo_`, dropped once the log write that holds it succeeded (in direct mode:
// once it is durable; in buffered mode a failed fdatasync ends the process).
//
// Recovery: at open, every remaining log generation is replayed in order into the table,
// then checkpointed. The store is always "the last checkpoint plus some prefix of the logged
// ops" (a checkpoint may commit in several LMDB txns), and replaying the logs over any such
// state yields the final state, because each op is a blind put or delete of a whole value.
// A torn record at the tail of a log (crash mid-write) fails its checksum and ends the
// replay of that file: it was never acknowledged.
//
// A full map (map_size_max_bytes reached) is found by the checkpoint: the writes already
// accepted stay durable in the log and readable from the table, and later writes that add
// data get NoSpace until a checkpoint succeeds (deletes are still accepted).
//
// A failed direct write takes back its batch and every batch begun after it (their ops stay
// in undo_ until their write is durable) and cuts the log where it began.
//
// Backup (StartBackup): first the whole log is folded into LMDB by the checkpoint thread (a
// checkpoint of everything committed so far; PollBackup notices when it is done), then a
// thread of the engine's own copies the environment with mdb_env_copy2(MDB_CP_COMPACT),
// which reads one LMDB snapshot: the copy holds every write committed before the call,
// needs no log, and opens like any data directory. Until it is done no other checkpoint
// starts (the log and the table grow instead), and while the copy runs the map is never
// resized or reopened: LMDB allows neither while a read txn of this process is live.
//
// sync = none: the log is written but never fsynced and LMDB runs with MDB_NOSYNC; a process
// crash loses nothing (the page cache has it), a power cut can lose acknowledged writes.
//
// Thread-safety: one owner thread (see engine.h), plus the engine's own checkpoint thread,
// which touches only imm_ (read-only while it runs) and LMDB.
#include <fcntl.h>
#include <lmdb.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <deque>
#include <filesystem>
#include <iterator>
#include <memory>
#include <system_error>
#include <thread>
#include <new>
#include <utility>

#include "storage/engine.h"

namespace dynakv::storage {
namespace {

// A big value read from LMDB's map is copied out of file pages that this process may not
// have mapped yet: one page fault per 4 KB (25,600 for 100 MB, about 0.4 s on our VMs). One
// madvise maps them all first, in the kernel, for a few ms (Linux 5.14+; on older kernels the
// call fails and the copy faults as before). docs/ARCHITECTURE.md, "Big values".
constexpr size_t kPrefaultBytes = 1 << 20;
void PrefaultMapped(const void* p, size_t n) {
#ifndef MADV_POPULATE_READ
  constexpr int MADV_POPULATE_READ = 22;
#endif
  if (n < kPrefaultBytes) return;
  const uintptr_t page = uintptr_t(::sysconf(_SC_PAGESIZE));
  uintptr_t begin = reinterpret_cast<uintptr_t>(p) & ~(page - 1);
  uintptr_t end = reinterpret_cast<uintptr_t>(p) + n;
  (void)::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_POPULATE_READ);
}

MDB_val ToVal(std::string_view s) { return MDB_val{s.size(), const_cast<char*>(s.data())}; }
std::string_view FromVal(const MDB_val& v) {
  return std::string_view(static_cast<const char*>(v.mv_data), v.mv_size);
}

// A memtable entry. A big value (kLogByRef and more, PutOwned) is kept as a shared buffer,
// which the log buffer names instead of copying it (see AppendPutRef): the loop then never
// copies a 100 MB value into the log (docs/ARCHITECTURE.md, "Big values").
struct MemEntry {
  std::string value;                          // the stored bytes, unless `shared` holds them
  std::shared_ptr<const std::string> shared;  // a big value's bytes, shared with the log
  bool del = false;
  std::string_view bytes() const { return shared ? std::string_view(*shared) : std::string_view(value); }
};
// A memtable: an open-addressing hash table (linear probing, 16-byte slots holding the
// key's hash and its node) over individually allocated nodes with the key inline. A lookup
// touches the slot array and one node; std::unordered_map (bucket, previous node, node, key)
// took about twice the cache misses, and this table is on every write. Nodes never move, so
// KeyOrder and the undo log may point at them. Erase (rare: undo) shifts the chain back.
struct MemNode {
  uint64_t hash;
  MemEntry e;
  uint32_t key_len;
  std::string_view key() const { return {reinterpret_cast<const char*>(this + 1), key_len}; }
};

class MemTable {
 public:
  MemTable() = default;
  MemTable(MemTable&& o) noexcept { *this = std::move(o); }
  MemTable& operator=(MemTable&& o) noexcept {
    if (this != &o) {
      FreeAll();
      slots_ = std::exchange(o.slots_, nullptr);
      mask_ = std::exchange(o.mask_, 0);
      count_ = std::exchange(o.count_, 0);
    }
    return *this;
  }
  MemTable(const MemTable&) = delete;
  MemTable& operator=(const MemTable&) = delete;
  ~MemTable() { FreeAll(); }

  size_t size() const { return count_; }
  bool empty() const { return count_ == 0; }

  void Prefetch(std::string_view key, int stage) const {
    if (count_ == 0 || stage > 2) return;  // a node has no further arrays worth loading
    uint64_t h = Hash(key);
    size_t i = h & mask_;
    if (stage == 1) {
      __builtin_prefetch(&slots_[i]);
      return;
    }
    for (size_t n = 0; n < 8 && slots_[i].node != nullptr; ++n, i = (i + 1) & mask_) {
      if (slots_[i].hash == h) {
        __builtin_prefetch(slots_[i].node);
        return;
      }
    }
  }

  MemNode* Find(std::string_view key) const {
    if (count_ == 0) return nullptr;
    uint64_t h = Hash(key);
    for (size_t i = h & mask_;; i = (i + 1) & mask_) {
      MemNode* n = slots_[i].node;
      if (n == nullptr) return nullptr;
      if (slots_[i].hash == h && n->key() == key) return n;
    }
  }

  // The node for key, created (with an empty entry) if absent; second = created.
  std::pair<MemNode*, bool> Emplace(std::string_view key) {
    if (slots_ == nullptr || (count_ + 1) * 8 > (mask_ + 1) * 5) Grow();
    uint64_t h = Hash(key);
    size_t i = h & mask_;
    for (;; i = (i + 1) & mask_) {
      MemNode* n = slots_[i].node;
      if (n == nullptr) break;
      if (slots_[i].hash == h && n->key() == key) return {n, false};
    }
    void* mem = ::operator new(sizeof(MemNode) + key.size());
    MemNode* n = new (mem) MemNode{h, MemEntry{}, static_cast<uint32_t>(key.size())};
    if (!key.empty()) std::memcpy(reinterpret_cast<char*>(n + 1), key.data(), key.size());
    slots_[i] = Slot{h, n};
    ++count_;
    return {n, true};
  }

  void Erase(MemNode* node) {
    size_t i = node->hash & mask_;
    while (slots_[i].node != node) i = (i + 1) & mask_;
    Free(node);
    --count_;
    // Backward shift: move later members of the chain into the hole when their home slot
    // is not between the hole and them (cyclically).
    for (size_t j = (i + 1) & mask_; slots_[j].node != nullptr; j = (j + 1) & mask_) {
      size_t home = slots_[j].hash & mask_;
      if (((j - home) & mask_) >= ((j - i) & mask_)) {
        slots_[i] = slots_[j];
        i = j;
      }
    }
    slots_[i] = Slot{};
  }

  template <typename F>
  void ForEach(F&& f) const {
    for (size_t i = 0; count_ != 0 && i <= mask_; ++i) {
      if (slots_[i].node != nullptr) f(slots_[i].node);
    }
  }

 private:
  struct Slot {
    uint64_t hash = 0;
    MemNode* node = nullptr;
  };
  static uint64_t Hash(std::string_view k) { return XXH3_64bits(k.data(), k.size()); }
  static void Free(MemNode* n) {
    n->~MemNode();
    ::operator delete(n);
  }
  void FreeAll() {
    ForEach([](MemNode* n) { Free(n); });
    delete[] slots_;
    slots_ = nullptr;
    mask_ = 0;
    count_ = 0;
  }
  void Grow() {
    size_t cap = slots_ == nullptr ? 1024 : (mask_ + 1) * 2;
    Slot* old = slots_;
    size_t old_cap = old == nullptr ? 0 : mask_ + 1;
    slots_ = new Slot[cap];
    mask_ = cap - 1;
    for (size_t i = 0; i < old_cap; ++i) {
      if (old[i].node == nullptr) continue;
      size_t j = old[i].hash & mask_;
      while (slots_[j].node != nullptr) j = (j + 1) & mask_;
      slots_[j] = old[i];
    }
    delete[] old;
  }

  Slot* slots_ = nullptr;
  size_t mask_ = 0;
  size_t count_ = 0;
};

// The key order of a memtable, for scans, kept as a few sorted runs of pointers to its keys
// (keys in a node-based map never move): keys added since the last scan wait unsorted in
// `fresh` and are sorted into a run of their own when a scan needs them; runs are merged
// when a newer one grows to half the size of the one before (binary-counter style), so each
// key is sorted and merged O(log n) times and a scan never sorts the whole table.
struct KeyOrder {
  std::vector<std::vector<const MemNode*>> runs;
  std::vector<const MemNode*> fresh;
  bool valid = true;  // false: rebuild from the table (after an erase)

  void Clear() {
    runs.clear();
    fresh.clear();
    valid = true;
  }
  static bool Less(const MemNode* a, const MemNode* b) { return a->key() < b->key(); }
  void Update(const MemTable& table) {
    if (!valid) {
      Clear();
      table.ForEach([&](const MemNode* n) { fresh.push_back(n); });
    }
    if (fresh.empty()) return;
    std::sort(fresh.begin(), fresh.end(), Less);
    runs.push_back(std::move(fresh));
    fresh.clear();
    while (runs.size() >= 2 && runs.back().size() * 2 >= runs[runs.size() - 2].size()) {
      std::vector<const MemNode*> merged;
      auto& a = runs[runs.size() - 2];
      auto& b = runs.back();
      merged.reserve(a.size() + b.size());
      std::merge(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(merged), Less);
      runs.pop_back();
      runs.back() = std::move(merged);
    }
  }
};

class LmdbEngine final : public Engine {
 public:
  explicit LmdbEngine(const LmdbOptions& opts) : opts_(opts) {}

  // Shutdown must not lose writes: pending writes are committed and synced whatever the
  // sync mode (even kNone), then checkpointed and the env is closed. Errors can only be
  // logged (the log keeps the writes).
  ~LmdbEngine() override {
    // A backup under way is finished first (its caller is told nothing, but the copy is whole).
    for (int i = 0; i < 100 && backup_phase_ != BackupPhase::kIdle; ++i) {
      WaitCheckpoint();
      if (backup_thread_.joinable()) backup_thread_.join();
      Status ignored;
      PollBackup(&ignored);
    }
    if (backup_thread_.joinable()) backup_thread_.join();
    backup_phase_ = BackupPhase::kIdle;
    WaitCheckpoint();
    if (!opened_) {
      CloseEnv();
      CloseFd(&wal_fd_);
      CloseFd(&spare_fd_);
      CloseFd(&direct_fd_);
      CloseFd(&dir_fd_);
      JoinReclaim();
      return;
    }
    if (Status s = Commit(); !s.ok()) {
      std::fprintf(stderr, "dynakv: storage: final commit failed: %s\n", s.ToString().c_str());
    }
    if (Status s = Checkpoint(); !s.ok()) {
      std::fprintf(stderr, "dynakv: storage: final checkpoint failed (the log keeps the writes): %s\n",
                   s.ToString().c_str());
    }
    if (env_ != nullptr) mdb_env_sync(env_, 1);
    if (Status s = SyncDirIfDirty(); !s.ok()) {
      std::fprintf(stderr, "dynakv: storage: %s\n", s.ToString().c_str());
    }
    CloseEnv();
    CloseFd(&wal_fd_);
    CloseFd(&spare_fd_);
    CloseFd(&direct_fd_);
    CloseFd(&dir_fd_);
    JoinReclaim();
  }

  Status Open() {
    std::error_code ec;
    std::filesystem::create_directories(opts_.dir, ec);
    if (ec) return Status::IOError("cannot create data directory " + opts_.dir + ": " + ec.message());
    long page = sysconf(_SC_PAGESIZE);
    page_bytes_ = page > 0 ? static_cast<uint64_t>(page) : 4096;
    // A spare log left by the last run is reused as the next generation (its records fail
    // that generation's checksum).
    if (opts_.sync != SyncMode::kNone) spare_fd_ = ::open(SparePath().c_str(), O_WRONLY | O_CLOEXEC);
    dir_fd_ = ::open(opts_.dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir_fd_ < 0) return Status::IOError("cannot open data directory " + opts_.dir + ": " + std::strerror(errno));
    if (Status s = OpenEnv(); !s.ok()) return s;
    SetMemLimit();
    if (Status s = RecoverWal(); !s.ok()) return s;
    opened_ = true;
    return Status::OK();
  }

  Status Get(std::string_view key, std::string* value) override {
    std::string_view v;
    Status s = Find(key, &v);
    if (s.ok()) value->assign(v);
    return s;
  }

  Status View(std::string_view key, const std::function<void(std::string_view)>& see) override {
    std::string_view v;
    Status s = Find(key, &v);
    if (s.ok()) see(v);
    return s;
  }

  std::shared_ptr<const std::string> SharedValue(std::string_view key) override {
    if (!CheckKey(key).ok()) return nullptr;
    const MemEntry* e = FindMem(key);
    return e != nullptr && !e->del ? e->shared : nullptr;
  }

  Status Write(const std::vector<WriteOp>& batch) override {
    std::vector<WriteOp> copy(batch);
    return WriteOwned(std::move(copy));
  }

  Status WriteOwned(std::vector<WriteOp>&& batch) override {
    if (batch.empty()) return Status::OK();
    uint64_t bytes = 0;
    bool adds = false;
    for (const WriteOp& op : batch) {
      if (Status s = CheckKey(op.key); !s.ok()) return s;
      bytes += op.key.size() + op.value.size() + 21;  // kind + two varints, at most
      adds |= op.kind == WriteOp::Kind::kPut;
    }
    // One log record holds the batch, and its length field has 31 bits.
    if (bytes >= kRecordBytesMax) {
      return Status::Limit("batch of " + std::to_string(bytes) + " bytes exceeds the " +
                           std::to_string(kRecordBytesMax) + "-byte log record limit");
    }
    if (adds && !full_.ok() && !replaying_) return full_;
    if (!replaying_) AppendRecord(batch);
    for (WriteOp& op : batch) ApplyMem(op.key, op.kind, std::move(op.value), /*undoable=*/!replaying_);
    if (opts_.sync == SyncMode::kAlways && !replaying_) return Commit();
    return Status::OK();
  }

  void Prefetch(std::string_view key, int stage) override { mem_.Prefetch(key, stage); }

  // WriteOwned for one put, without the batch vector and the key string.
  Status PutOwned(std::string_view key, std::string value) override {
    if (Status s = CheckKey(key); !s.ok()) return s;
    uint64_t bytes = key.size() + value.size() + 21;
    if (bytes >= kRecordBytesMax) {
      return Status::Limit("value of " + std::to_string(value.size()) + " bytes exceeds the " +
                           std::to_string(kRecordBytesMax) + "-byte log record limit");
    }
    if (!full_.ok()) return full_;
    if (value.size() >= kLogByRef) {
      auto shared = std::make_shared<const std::string>(std::move(value));
      AppendPutRef(key, shared);
      ApplyMem(key, WriteOp::Kind::kPut, std::string(), /*undoable=*/true, std::move(shared));
    } else {
      AppendPut(key, value);
      ApplyMem(key, WriteOp::Kind::kPut, std::move(value), /*undoable=*/true);
    }
    if (opts_.sync == SyncMode::kAlways) return Commit();
    return Status::OK();
  }

  // Merges the tables' sorted runs (see KeyOrder) with an LMDB cursor; a key in several
  // sources is reported once, with its newest value. Deletes in the tables hide older values
  // but cost a step each, so a scan over tables holding many deletes first checkpoints them
  // when it safely can (see FlushForScan).
  Status Scan(std::string_view start, std::string_view end, size_t limit,
              const std::function<bool(std::string_view, std::string_view)>& visit) override {
    if (static_cast<size_t>(mem_dels_ + imm_dels_) > kScanMergeMax) FlushForScan();
    struct Cursor {
      const std::vector<const MemNode*>* run;
      size_t at;
    };
    std::vector<Cursor> runs;
    auto add_runs = [&](KeyOrder* order, const MemTable& table) {
      order->Update(table);
      for (const auto& r : order->runs) {
        auto it = std::lower_bound(r.begin(), r.end(), start,
                                   [](const MemNode* n, std::string_view s) { return n->key() < s; });
        if (it != r.end()) runs.push_back(Cursor{&r, static_cast<size_t>(it - r.begin())});
      }
    };
    if (!mem_.empty()) add_runs(&mem_order_, mem_);
    if (imm_) add_runs(&imm_order_, *imm_);

    if (int rc = EnsureReadTxn(); rc != 0) return Error(rc, "begin read txn");
    MDB_cursor* cur = nullptr;
    if (int rc = mdb_cursor_open(read_txn_, dbi_, &cur); rc != 0) return Error(rc, "cursor open");
    MDB_val k, v;
    int rc;
    if (start.empty()) {
      rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
    } else {
      // LMDB rejects seek keys longer than it can store; seeking to the longest storable
      // prefix and skipping smaller keys lands on the same first key.
      k = ToVal(start.substr(0, max_key_bytes_));
      rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
      while (rc == 0 && FromVal(k) < start) rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }
    size_t seen = 0;
    for (;;) {
      // The smallest key among the runs (a handful of them), then LMDB.
      const MemNode* least = nullptr;
      for (const Cursor& c : runs) {
        if (c.at < c.run->size() && (least == nullptr || KeyOrder::Less((*c.run)[c.at], least))) {
          least = (*c.run)[c.at];
        }
      }
      if (least != nullptr && !end.empty() && least->key() >= end) least = nullptr;
      bool db_ok = rc == 0 && (end.empty() || FromVal(k) < end);
      if (least == nullptr && !db_ok) break;
      std::string_view key, value;
      bool skip = false;
      if (least != nullptr && (!db_ok || least->key() <= FromVal(k))) {
        key = least->key();
        if (db_ok && key == FromVal(k)) rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
        for (Cursor& c : runs) {
          if (c.at < c.run->size() && (*c.run)[c.at]->key() == key) ++c.at;
        }
        const MemEntry* e = FindMem(key);
        DKV_ASSERT(e != nullptr);
        value = e->bytes();
        skip = e->del;
      } else {
        key = FromVal(k);
        value = FromVal(v);
        rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
      }
      if (skip) continue;
      if (!visit(key, value)) break;
      if (limit != 0 && ++seen >= limit) break;
    }
    mdb_cursor_close(cur);
    if (rc != 0 && rc != MDB_NOTFOUND) return Error(rc, "scan");
    return Status::OK();
  }

  Status Commit() override {
    logged_ = false;
    if (!lost_.ok()) {
      // Unacknowledged writes were dropped outside a commit (see FlushForScan); report it
      // now, when the caller would otherwise acknowledge them, and drop what came since.
      Status s = std::move(lost_);
      lost_ = Status::OK();
      return DropUnlogged(std::move(s));
    }
    if (wal_buf_.empty()) return Status::OK();
    Status s = AppendWal();
    if (!s.ok()) return DropUnlogged(std::move(s));
    ClearLog();
    undo_.clear();
    ++commits_;
    MaybeCheckpoint();
    return Status::OK();
  }

  // logged_: LogBufferedNow made buffered writes durable on its own (a checkpoint started
  // from FinishCommit or a scan); the owner still has to commit once, so that it learns they
  // are durable and releases the replies that wait for them.
  bool HasPending() const override { return !wal_buf_.empty() || !lost_.ok() || logged_; }

  // Synchronous: folds everything committed into LMDB before returning (tests, shutdown,
  // recovery). The server uses StartCheckpoint.
  Status Checkpoint() override {
    // The in-flight fdatasync uses the current log's descriptor; rotating now would close it.
    if (syncs_in_flight_ > 0 || backup_phase_ != BackupPhase::kIdle) return Status::OK();
    WaitCheckpoint();
    Status err = TakeCheckpointError();
    if (!wal_buf_.empty() || !lost_.ok()) {
      if (Status s = Commit(); !s.ok()) return s;
    }
    if (Status s = Freeze(); !s.ok()) return s;
    if (!imm_) return err;
    for (;;) {
      ResetReadTxn();  // no snapshot of ours pins pages the txn could reuse
      int rc = ApplyFrozen(*imm_, !full_.ok());
      Status s;
      if (!Finish(rc, &s)) return s;
    }
  }

  Status StartCheckpoint() override {
    PollCheckpoint();
    ReleaseIdleSpares();
    if (backup_phase_ != BackupPhase::kIdle) return Status::OK();  // after the backup (see the file comment)
    checkpoint_failed_ = false;
    Status err = TakeCheckpointError();
    if (running_ || syncs_in_flight_ > 0 || !wal_buf_.empty() || !lost_.ok()) return err;
    if (imm_ && !imm_retry_ && mem_.empty()) return err;  // failed before, nothing new
    if (Status s = Freeze(); !s.ok()) return s;
    if (imm_) Launch();
    return err;
  }

  // Two phases, neither blocking the owner for long: folding (everything committed so far is
  // frozen and checkpointed by the usual checkpoint thread; a checkpoint already running is
  // let finish and the rest frozen after it), then copying (a thread of its own). PollBackup
  // moves from one to the next.
  Status StartBackup(const std::string& dir) override {
    if (backup_phase_ != BackupPhase::kIdle) return Status::Limit("a backup is already running");
    if (syncs_in_flight_ > 0) return Status::Unavailable("backup: a commit is in flight");
    if (dir.empty()) return Status::Invalid("backup path is empty");
    std::error_code ec;
    auto st = std::filesystem::status(dir, ec);
    if (std::filesystem::exists(st)) {
      if (!std::filesystem::is_directory(st)) {
        return Status::Invalid("backup path '" + dir + "' exists and is not a directory");
      }
      if (!std::filesystem::is_empty(dir, ec) || ec) {
        return Status::Invalid("backup directory '" + dir + "' exists and is not empty");
      }
    }
    if (!LogBufferedNow()) return Status::Unavailable("backup: pending writes could not be logged; try again");
    std::filesystem::create_directories(dir, ec);
    if (ec) return Status::IOError("cannot create backup directory " + dir + ": " + ec.message());
    PollCheckpoint();
    backup_dir_ = dir;
    backup_phase_ = BackupPhase::kFolding;
    backup_refreeze_ = running_;
    if (!running_) {
      if (Status s = Freeze(); !s.ok()) {
        backup_phase_ = BackupPhase::kIdle;
        return s;
      }
      if (imm_) Launch();
    }
    return Status::OK();
  }

  bool PollBackup(Status* result) override {
    auto fail = [&](Status s) {
      backup_phase_ = BackupPhase::kIdle;
      *result = std::move(s);
      MaybeCheckpoint();
      return true;
    };
    switch (backup_phase_) {
      case BackupPhase::kIdle: return false;
      case BackupPhase::kFolding: {
        PollCheckpoint();
        if (running_) return false;
        if (backup_refreeze_) {  // the checkpoint that ran at StartBackup is done: the rest now
          if (!lost_.ok()) return fail(Status::Unavailable("backup: pending writes could not be logged"));
          if (syncs_in_flight_ > 0 || !LogBufferedNow()) return false;
          backup_refreeze_ = false;
          if (Status s = Freeze(); !s.ok()) return fail(s);
          if (imm_) {
            Launch();
            return false;
          }
        }
        if (imm_) {  // the fold failed; the owner's next StartCheckpoint retries and reports it
          Status err = TakeCheckpointError();
          if (err.ok()) err = Status::Unavailable("backup: the log could not be folded into LMDB");
          checkpoint_error_ = err;
          return fail(err);
        }
        // LMDB holds every write committed before StartBackup: copy one snapshot of it.
        backup_phase_ = BackupPhase::kCopying;
        backup_done_.store(false, std::memory_order_relaxed);
        backup_thread_ = std::thread([this] {
          backup_rc_ = mdb_env_copy2(env_, backup_dir_.c_str(), MDB_CP_COMPACT);
          if (backup_rc_ == 0) {  // the copy's data file is durable before it is reported
            int fd = ::open((backup_dir_ + "/data.mdb").c_str(), O_RDONLY | O_CLOEXEC);
            if (fd < 0 || ::fsync(fd) != 0) backup_rc_ = errno ? errno : EIO;
            if (fd >= 0) ::close(fd);
            int dfd = ::open(backup_dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
            if (dfd >= 0) {
              ::fsync(dfd);
              ::close(dfd);
            }
          }
          backup_done_.store(true, std::memory_order_release);
        });
        return false;
      }
      case BackupPhase::kCopying: {
        if (!backup_done_.load(std::memory_order_acquire)) return false;
        if (backup_thread_.joinable()) backup_thread_.join();
        return fail(backup_rc_ == 0 ? Status::OK() : Error(backup_rc_, ("backup to " + backup_dir_).c_str()));
      }
    }
    return false;
  }

  EngineStats Stats() const override {
    EngineStats st;
    st.commits = commits_;
    st.syncs = syncs_;
    MDB_envinfo info;
    MDB_stat stat;
    if (env_ != nullptr && mdb_env_info(env_, &info) == 0 && mdb_env_stat(env_, &stat) == 0) {
      st.map_size = info.me_mapsize;
      st.used_bytes = (static_cast<uint64_t>(info.me_last_pgno) + 1) * stat.ms_psize;
    }
    st.checkpoints = checkpoints_;
    st.wal_bytes = wal_bytes_;
    return st;
  }

  // Asynchronous group commit. Direct mode (the log opened O_DIRECT|O_DSYNC, sync = batch):
  // BeginCommit seals the buffered records, reserves whole blocks for them (filled by the
  // worker, PrepareBlocks) and their place in the
  // log; a worker thread writes them (durable when the write returns); several tickets may
  // be in flight and their writes overlap (the device serves them in parallel, which fsyncs
  // of one file do not); FinishCommit (owner thread, in ticket order) acknowledges. Otherwise
  // the owner writes the log and a worker fdatasyncs it, one ticket at a time.
  Result<CommitTicket> BeginCommit() override {
    logged_ = false;
    if (lost_.ok() && wal_buf_.empty()) return CommitTicket{};  // nothing (more) to commit
    if (!lost_.ok() || opts_.sync != SyncMode::kBatch) {
      DKV_ASSERT(syncs_in_flight_ == 0);
      Status s = Commit();
      if (!s.ok()) return s;
      return CommitTicket{};
    }
    CommitTicket t;
    t.needs_sync = true;
    if (Direct()) {
      if (!poison_.ok()) return DropUnlogged(poison_);  // an earlier write failed; draining
      DirectWrite w;
      w.offset = wal_bytes_;
      PrepareBlocks(&w, &t);  // SyncTicket fills them, on the worker
      w.undo_count = undo_.size() - undo_in_flight_;
      undo_in_flight_ = undo_.size();
      t.fd = direct_fd_;
      t.dir_fd = DirForTicket();
      t.len = w.len;
      t.offset = w.offset;
      wal_bytes_ += w.len;
      writes_.push_back(std::move(w));
      // Point the ticket into the queued write, never into the local one: a short records
      // string lives inside the object, and the move above copied it elsewhere.
      const DirectWrite& queued = writes_.back();
      t.data = queued.buf.get();
      t.fill_to = queued.buf.get();
      t.fill_from = queued.records.data();
      t.fill_refs = Pieces(queued.refs);
    } else {
      DKV_ASSERT(undo_in_flight_ == 0);  // (a later fdatasync covers earlier tickets too)
      // Written here, the records could reach the disk (writeback) before a worker's
      // directory fsync: a recycled log under its old name, partly overwritten. So the
      // directory is synced first, here (this fallback runs where O_DIRECT is refused,
      // tmpfs and some overlays, where that fsync is cheap).
      if (Status s = SyncDirIfDirty(); !s.ok()) return DropUnlogged(std::move(s));
      Status s = WriteWal();
      if (!s.ok()) return DropUnlogged(std::move(s));
      ClearLog();
      undo_.clear();  // written: an fsync failure from here on ends the process (FinishCommit)
      t.fd = wal_fd_;
    }
    ++syncs_in_flight_;
    ++syncs_;
    return t;
  }

  Status FinishCommit(const CommitTicket& t, const Status& sync_status) override {
    if (!t.needs_sync) return Status::OK();
    DKV_ASSERT(syncs_in_flight_ > 0);
    --syncs_in_flight_;
    if (t.data == nullptr) {
      if (!sync_status.ok()) {
        // After a failed fsync the page cache may have dropped the dirty pages and a retry
        // could report success for data that is gone (PostgreSQL's "fsyncgate"). Nothing of
        // this batch was acknowledged; restart and let recovery replay what the log holds.
        std::fprintf(stderr, "dynakv: storage: write-ahead log fsync failed in %s: %s; exiting so "
                     "that recovery replays the log\n", opts_.dir.c_str(), sync_status.ToString().c_str());
        std::abort();
      }
      ++commits_;
      MaybeCheckpoint();
      return Status::OK();
    }
    DKV_ASSERT(!writes_.empty() && writes_.front().offset == t.offset);
    DirectWrite w = std::move(writes_.front());
    writes_.pop_front();
    Recycle(&w);
    if (t.dir_fd >= 0) {
      --dir_tickets_in_flight_;
      if (!sync_status.ok()) dir_dirty_ = true;  // the next write syncs it
    }
    if (!sync_status.ok() && poison_.ok()) {
      // Not durable, and every later ticket sits behind a hole that recovery stops at: take
      // back all their writes, fail them all, and reuse this place in the log once drained.
      poison_ = Status(sync_status.code(), sync_status.message() + " in " + opts_.dir);
      poison_offset_ = w.offset;
      // Cut the log here: complete records of the failed write may have reached the disk
      // and must not be replayed. Later writes in flight land beyond a hole, where recovery
      // stops. (Also gives the space back.)
      if (::ftruncate(wal_fd_, static_cast<off_t>(poison_offset_)) != 0) {}
      Status dropped = DropUnlogged(poison_, /*all=*/true);
      (void)dropped;
    }
    if (!poison_.ok()) {
      Status s = poison_;
      if (writes_.empty()) {
        wal_bytes_ = poison_offset_;
        poison_ = Status::OK();
      }
      return s;
    }
    for (size_t i = 0; i < w.undo_count; ++i) undo_.pop_front();
    undo_in_flight_ -= w.undo_count;
    ++commits_;
    MaybeCheckpoint();
    return Status::OK();
  }

  // One ticket at a time: deeper pipelines (2 or 4 direct writes in flight) measured slower
  // here (more, smaller batches: more CPU per write), though the engine supports them.
  size_t CommitPipelineDepth() const override { return 1; }
  // A small direct write is one durable write of a few blocks (~0.1 ms here). Issued by the
  // loop at the end of each iteration (as Redis's appendfsync always does in beforeSleep) it
  // measured ~25% more SET -P1 throughput than on a worker thread: no thread switches, and
  // the clients that arrive meanwhile form larger batches. A big batch (deep pipelines) goes
  // to the worker so the loop keeps parsing while the disk writes (~4% more SET -P16).
  static constexpr size_t kInlineCommitBytes = 8 << 10;
  // Not while the directory needs its fsync: that goes to the worker with the write.
  bool CommitInline() const override {
    return Direct() && LogBytes() <= kInlineCommitBytes && !dir_dirty_;
  }

 private:
  // ---- memtable ------------------------------------------------------------------------

  const MemEntry* FindMem(std::string_view key) const {
    if (const MemNode* n = mem_.Find(key)) return &n->e;
    if (imm_) {
      if (const MemNode* n = imm_->Find(key)) return &n->e;
    }
    return nullptr;
  }

  // `shared`, when given, holds the value's bytes instead of `value` (a big value, PutOwned).
  void ApplyMem(std::string_view key, WriteOp::Kind kind, std::string value, bool undoable,
                std::shared_ptr<const std::string> shared = nullptr) {
    auto [node, inserted] = mem_.Emplace(key);
    MemEntry& e = node->e;
    if (inserted) {
      mem_bytes_ += node->key_len + kEntryOverhead;
      mem_order_.fresh.push_back(node);
    } else {
      mem_bytes_ -= e.bytes().size();
      mem_dels_ -= e.del;
    }
    mem_bytes_ += shared ? shared->size() : value.size();
    if (undoable) undo_.push_back(Undo{node, !inserted, std::move(e)});
    e.del = kind == WriteOp::Kind::kDelete;
    e.value = std::move(value);
    e.shared = std::move(shared);
    mem_dels_ += e.del;
  }

  // Takes the unlogged ops back out of the table (newest first) and reports `why`. Ops of
  // tickets in flight stay unless `all` (a failed durable write: see FinishCommit).
  Status DropUnlogged(Status why, bool all = false) {
    ClearLog();
    size_t keep = all ? 0 : undo_in_flight_;
    for (auto u = undo_.rbegin(); u != undo_.rend() - static_cast<std::ptrdiff_t>(keep); ++u) {
      MemNode* node = u->node;
      mem_bytes_ -= node->e.bytes().size();
      mem_dels_ -= node->e.del;
      if (u->existed) {
        node->e = std::move(u->old);
        mem_bytes_ += node->e.bytes().size();
        mem_dels_ += node->e.del;
      } else {
        mem_bytes_ -= node->key_len + kEntryOverhead;
        mem_order_.valid = false;  // it may point at the node
        mem_.Erase(node);
      }
    }
    undo_.resize(keep);
    if (all) undo_in_flight_ = 0;
    return why;
  }

  // ---- checkpoints ---------------------------------------------------------------------

  // After a commit: start a checkpoint early when the table or the log has grown large;
  // when the table outgrows a hard limit while one runs, wait for it (backpressure).
  void MaybeCheckpoint() {
    PollCheckpoint();
    if (backup_phase_ != BackupPhase::kIdle) return;  // PollBackup calls again once the copy is done
    if (checkpoint_failed_) return;  // retried by the owner's periodic StartCheckpoint
    if (mem_bytes_ < mem_limit_ && mem_.size() < kCheckpointKeys &&
        wal_bytes_ < kCheckpointWalBytes) {
      return;
    }
    if (running_ && mem_bytes_ < kMemHardBytes) return;
    if (syncs_in_flight_ > 0 || !LogBufferedNow()) return;
    WaitCheckpoint();
    Status s = StartCheckpoint();
    if (!s.ok()) checkpoint_error_ = s;
  }

  // The table is checkpointed once it holds a quarter of the room left in the map (up to
  // kCheckpointMemBytes), so that near map_size_max_bytes a full map is found after a few
  // writes rather than after a second's worth of them.
  void SetMemLimit() {
    MDB_envinfo info;
    MDB_stat stat;
    uint64_t room = opts_.map_size_max_bytes;
    if (env_ != nullptr && mdb_env_info(env_, &info) == 0 && mdb_env_stat(env_, &stat) == 0) {
      uint64_t used = (static_cast<uint64_t>(info.me_last_pgno) + 1) * stat.ms_psize;
      room = used < room ? room - used : 0;
    }
    mem_limit_ = std::clamp<uint64_t>(room / 4, 64 << 10, kCheckpointMemBytes);
  }

  // Writes and syncs the records buffered for the caller's next group commit now, so that
  // the tables can be frozen. They are durable afterwards (the group commit has nothing left
  // to do for them); if that fails they are taken back and the caller's next Commit reports
  // it (lost_), so nothing unlogged is acknowledged. True when nothing is buffered after it.
  bool LogBufferedNow() {
    if (!lost_.ok()) return false;
    if (wal_buf_.empty()) return true;
    Status s = AppendWal();
    if (!s.ok()) {
      lost_ = DropUnlogged(std::move(s));
      return false;
    }
    ClearLog();
    undo_.clear();
    ++commits_;
    logged_ = true;
    return true;
  }

  // Moves mem_ into imm_ (merging into a frozen table whose checkpoint failed) and starts
  // a new log generation; imm_ then covers every op logged in generations <= imm_upto_.
  // Requires: no checkpoint running, nothing buffered, no fsync in flight.
  Status Freeze() {
    DKV_ASSERT(!running_ && wal_buf_.empty() && undo_.empty() && syncs_in_flight_ == 0);
    if (mem_.empty() && wal_fd_ >= 0) return Status::OK();
    uint64_t upto = wal_gen_;
    if (Status s = StartGeneration(); !s.ok()) return s;  // keep logging to the old one
    if (!mem_.empty()) {
      if (!imm_) {
        imm_ = std::make_unique<MemTable>(std::move(mem_));  // nodes (and keys) stay put
        imm_order_ = std::move(mem_order_);
        imm_dels_ = mem_dels_;
      } else {
        mem_.ForEach([&](MemNode* n) {
          MemEntry& to = imm_->Emplace(n->key()).first->e;
          imm_dels_ += int64_t(n->e.del) - int64_t(to.del);
          to = std::move(n->e);
        });
        imm_order_.valid = false;
      }
      mem_ = MemTable();
      mem_order_.Clear();
      mem_bytes_ = 0;
      mem_dels_ = 0;
    }
    imm_upto_ = upto;
    imm_retry_ = true;
    if (!imm_) return RetireGenerations(upto);
    return Status::OK();
  }

  void Launch() {
    DKV_ASSERT(imm_ && !running_);
    done_.store(false, std::memory_order_relaxed);
    running_ = true;
    bool deletes_first = !full_.ok();
    thread_ = std::thread([this, deletes_first] {
      thread_rc_ = ApplyFrozen(*imm_, deletes_first);
      done_.store(true, std::memory_order_release);
    });
  }

  // Owner thread: finishes a checkpoint whose thread is done (wait: block until it is).
  void PollCheckpoint(bool wait = false) {
    if (reclaim_done_.load(std::memory_order_acquire)) JoinReclaim();
    while (running_) {
      if (!wait && !done_.load(std::memory_order_acquire)) return;
      thread_.join();
      running_ = false;
      Status s;
      if (Finish(thread_rc_, &s)) {
        Launch();  // the map grew: try again
        continue;
      }
      if (!s.ok()) checkpoint_error_ = s;
    }
  }
  void WaitCheckpoint() { PollCheckpoint(/*wait=*/true); }

  Status TakeCheckpointError() {
    Status s = std::move(checkpoint_error_);
    checkpoint_error_ = Status::OK();
    return s;
  }

  // Applies a frozen table to LMDB in key order (any thread; the only LMDB writer while it
  // runs). Returns an LMDB error code. The txn is committed early when it holds more dirty
  // pages than LMDB allows (MDB_TXN_FULL): every op is logged, so a partial checkpoint is
  // just an earlier state that the log replays over.
  // With a full map (deletes_first) the deletes go first, in a txn of their own: LMDB
  // reuses the pages a txn frees only in later txns, so that is how deletes make room.
  int ApplyFrozen(const MemTable& table, bool deletes_first) {
    std::vector<const MemNode*> items;
    items.reserve(table.size());
    table.ForEach([&](const MemNode* n) { items.push_back(n); });
    std::sort(items.begin(), items.end(), KeyOrder::Less);
    if (env_ == nullptr) return MDB_PANIC;
    size_t first = 0;
    if (deletes_first) {
      auto puts = std::stable_partition(items.begin(), items.end(), [](const MemNode* n) { return n->e.del; });
      if (puts != items.begin() && puts != items.end()) {
        if (int rc = ApplyInOrder(items, 0, static_cast<size_t>(puts - items.begin())); rc != 0) return rc;
        first = static_cast<size_t>(puts - items.begin());
      }
    }
    return ApplyInOrder(items, first, items.size());
  }

  // Applies items[first, last) in one LMDB txn. A txn that holds more dirty pages than LMDB
  // allows fails with MDB_TXN_FULL and is unusable (it can only be aborted); then the same
  // items are applied again in txns of half as many ops, each committed on its own. Every op
  // is logged, so a checkpoint that lands in several commits is just an earlier state that the
  // log replays over.
  int ApplyInOrder(const std::vector<const MemNode*>& items, size_t first, size_t last) {
    size_t per_txn = last - first;
    size_t done = first;  // items before this are committed
    while (done < last) {
      MDB_txn* txn = nullptr;
      int rc = mdb_txn_begin(env_, nullptr, 0, &txn);
      if (rc != 0) return rc;
      size_t end = std::min(last, done + per_txn), i = done;
      for (; i < end && rc == 0; ++i) {
        MDB_val k = ToVal(items[i]->key());
        const MemEntry& e = items[i]->e;
        if (e.del) {
          rc = mdb_del(txn, dbi_, &k, nullptr);
          if (rc == MDB_NOTFOUND) rc = 0;  // deleting a missing key is not an error
        } else {
          MDB_val v = ToVal(e.bytes());
          rc = mdb_put(txn, dbi_, &k, &v, 0);
        }
      }
      if (rc == MDB_TXN_FULL && per_txn > 1) {
        mdb_txn_abort(txn);
        per_txn = std::max<size_t>(1, (i - 1 - done) / 2);
        continue;
      }
      if (rc != 0) {
        mdb_txn_abort(txn);
        return rc;
      }
      if ((rc = mdb_txn_commit(txn)) != 0) return rc;  // frees the txn whatever it returns
      done = end;
    }
    return 0;
  }

  // Frees a checkpointed table on a thread of its own: ~100k nodes and values, which took
  // 1-2% of the loop thread under SET load when freed there. One at a time; small tables
  // are freed here. The thread is joined once done (PollCheckpoint) or by the next Reclaim.
  static constexpr size_t kReclaimInlineKeys = 4096;
  void Reclaim(std::unique_ptr<MemTable> table) {
    JoinReclaim();
    if (table->size() < kReclaimInlineKeys) return;
    reclaim_done_.store(false, std::memory_order_relaxed);
    reclaim_ = std::thread([t = std::move(table), done = &reclaim_done_]() mutable {
      t.reset();
      done->store(true, std::memory_order_release);
    });
  }
  void JoinReclaim() {
    if (reclaim_.joinable()) reclaim_.join();
  }

  // Owner thread, after ApplyFrozen returned rc (no checkpoint running). True when it
  // should be tried again (the map grew); otherwise *s is the outcome.
  bool Finish(int rc, Status* s) {
    ResetReadTxn();  // a new snapshot (also: no txn may be live while the map grows)
    SetMemLimit();
    if (rc == 0) {
      Reclaim(std::move(imm_));
      imm_order_.Clear();
      imm_dels_ = 0;
      full_ = Status::OK();
      checkpoint_failed_ = false;
      ++checkpoints_;
      *s = RetireGenerations(imm_upto_);
      return false;
    }
    imm_retry_ = false;
    checkpoint_failed_ = true;
    if (rc == MDB_MAP_FULL) {
      if (Grow()) return true;
      full_ = Status::NoSpace("LMDB map in " + opts_.dir + " is full at " +
                              std::to_string(MapSize()) + " bytes (map_size_max_bytes " +
                              std::to_string(opts_.map_size_max_bytes) + ")");
      *s = full_;
      return false;
    }
    if (rc == MDB_PANIC) ReopenAfterPanic();
    *s = Error(rc, "checkpoint");
    return false;
  }

  // A scan over large tables: checkpoint them first, when that is possible here.
  void FlushForScan() {
    if (syncs_in_flight_ > 0 || backup_phase_ != BackupPhase::kIdle) return;
    WaitCheckpoint();
    if (!LogBufferedNow()) return;
    if (Status s = Freeze(); !s.ok() || !imm_) return;
    for (;;) {
      Status s;
      ResetReadTxn();
      if (!Finish(ApplyFrozen(*imm_, !full_.ok()), &s)) {
        if (!s.ok()) checkpoint_error_ = s;
        return;
      }
    }
  }

  // ---- LMDB environment ----------------------------------------------------------------

  Status OpenEnv() {
    int rc = mdb_env_create(&env_);
    if (rc != 0) return Error(rc, "create env");
    uint64_t map = RoundUp(opts_.map_size_bytes);
    if ((rc = mdb_env_set_mapsize(env_, map)) != 0) return FailOpen(rc, "set map size");
    // Checkpoints use LMDB's own two-phase synced commit (data pages, then the meta page):
    // MDB_NOSYNC followed by a later fsync could let the meta page reach the disk before
    // the pages it points to. sync = none gives that up on purpose. MDB_NOTLS: the read txn
    // lives on the owner thread while the checkpoint thread writes.
    unsigned flags = MDB_NOTLS | MDB_NORDAHEAD;
    if (opts_.sync == SyncMode::kNone) flags |= MDB_NOSYNC;
    rc = mdb_env_open(env_, opts_.dir.c_str(), flags, 0644);
    if (rc != 0) return FailOpen(rc, "open env");
    max_key_bytes_ = static_cast<size_t>(mdb_env_get_maxkeysize(env_));
    DKV_ASSERT(max_key_bytes_ >= kKeyBytesMax);
    MDB_txn* txn = nullptr;
    if ((rc = mdb_txn_begin(env_, nullptr, 0, &txn)) != 0) return FailOpen(rc, "begin txn");
    if ((rc = mdb_dbi_open(txn, nullptr, 0, &dbi_)) != 0) {
      mdb_txn_abort(txn);
      return FailOpen(rc, "open database");
    }
    if ((rc = mdb_txn_commit(txn)) != 0) return FailOpen(rc, "commit open");
    return Status::OK();
  }

  Status FailOpen(int rc, const char* what) {
    Status s = Error(rc, what);
    mdb_env_close(env_);
    env_ = nullptr;
    return s;
  }

  void CloseEnv() {
    if (env_ == nullptr) return;
    if (read_txn_ != nullptr) mdb_txn_abort(read_txn_);
    read_txn_ = nullptr;
    read_live_ = false;
    mdb_env_close(env_);
    env_ = nullptr;
  }

  static void CloseFd(int* fd) {
    if (*fd >= 0) ::close(*fd);
    *fd = -1;
  }

  // After a failed meta-page write LMDB marks the env fatally broken (MDB_PANIC) and
  // refuses every txn; reopening from the last good meta page makes the engine usable.
  int ReopenAfterPanic() {
    CloseEnv();
    Status s = OpenEnv();
    return s.ok() ? 0 : MDB_PANIC;
  }

  uint64_t RoundUp(uint64_t bytes) const {
    return (bytes + page_bytes_ - 1) / page_bytes_ * page_bytes_;
  }

  int EnsureReadTxn() {
    if (read_live_) return 0;
    if (env_ == nullptr) return MDB_PANIC;  // a reopen failed; every op reports it
    int rc;
    if (read_txn_ == nullptr) {
      rc = mdb_txn_begin(env_, nullptr, MDB_RDONLY, &read_txn_);
    } else {
      rc = mdb_txn_renew(read_txn_);
    }
    if (rc == MDB_MAP_RESIZED && !running_ && backup_phase_ != BackupPhase::kCopying) {  // another process grew the map; adopt its size
      mdb_env_set_mapsize(env_, 0);
      rc = read_txn_ == nullptr ? mdb_txn_begin(env_, nullptr, MDB_RDONLY, &read_txn_)
                                : mdb_txn_renew(read_txn_);
    }
    if (rc == MDB_PANIC && !running_ && backup_phase_ != BackupPhase::kCopying && (rc = ReopenAfterPanic()) == 0) {
      rc = mdb_txn_begin(env_, nullptr, MDB_RDONLY, &read_txn_);
    }
    if (rc == 0) read_live_ = true;
    return rc;
  }

  void ResetReadTxn() {
    if (read_live_) mdb_txn_reset(read_txn_);
    read_live_ = false;
  }

  uint64_t MapSize() const {
    MDB_envinfo info;
    return env_ != nullptr && mdb_env_info(env_, &info) == 0 ? info.me_mapsize : 0;
  }

  // Doubles the map, capped at map_size_max_bytes. False when it cannot grow. No txn may
  // be live in this process while the map is remapped (no checkpoint runs, the read txn is
  // reset).
  bool Grow() {
    DKV_ASSERT(!running_);
    uint64_t cur = MapSize();
    uint64_t max = opts_.map_size_max_bytes / page_bytes_ * page_bytes_;
    if (cur == 0 || cur >= max) return false;
    uint64_t next = cur * 2 < max ? cur * 2 : max;
    ResetReadTxn();
    return mdb_env_set_mapsize(env_, next) == 0;
  }

  Status Error(int rc, const char* what) const {
    std::string msg = std::string("lmdb ") + what + " in " + opts_.dir + ": " + mdb_strerror(rc);
    switch (rc) {
      case MDB_NOTFOUND: return Status::NotFound(msg);
      case MDB_MAP_FULL:
      case ENOSPC:
      case EFBIG:  // file-size limit: as full as a full disk
      case EDQUOT: return Status::NoSpace(msg);
      case MDB_BAD_VALSIZE: return Status::Invalid(msg);
      case MDB_TXN_FULL: return Status::Limit(msg);
      case MDB_CORRUPTED:
      case MDB_PAGE_NOTFOUND:
      case MDB_INVALID:
      case MDB_VERSION_MISMATCH: return Status::Corruption(msg);
      default: return Status::IOError(msg);
    }
  }

  // ---- write-ahead log ---------------------------------------------------------------

  static constexpr uint64_t kCheckpointMemBytes = 64ull << 20;  // memtable bytes
  static constexpr size_t kCheckpointKeys = 200000;               // memtable keys
  static constexpr uint64_t kMemHardBytes = 512ull << 20;         // wait for the checkpoint
  static constexpr size_t kScanMergeMax = 4096;                   // see Scan
  static constexpr size_t kEntryOverhead = 64;                    // per memtable key, approx.
  static constexpr uint64_t kCheckpointWalBytes = 256ull << 20;
  static constexpr uint32_t kRecordBytesMax = 1u << 31;
  static constexpr uint64_t kRecycleBytesMax = 64ull << 20;
  static constexpr uint64_t kPreallocBytes = 16ull << 20;

  static void PutVarint(std::string* out, uint64_t v) {
    char buf[10];
    out->append(buf, static_cast<size_t>(RawVarint(buf, v) - buf));
  }
  static bool GetVarint(std::string_view* in, uint64_t* v) {
    *v = 0;
    for (int shift = 0; shift < 64 && !in->empty(); shift += 7) {
      uint8_t b = static_cast<uint8_t>(in->front());
      in->remove_prefix(1);
      *v |= uint64_t(b & 0x7f) << shift;
      if (!(b & 0x80)) return true;
    }
    return false;
  }
  static void PutU32(char* p, uint32_t v) { std::memcpy(p, &v, 4); }
  static uint32_t GetU32(const char* p) {
    uint32_t v;
    std::memcpy(&v, p, 4);
    return v;
  }

  // Record: [u32 payload length | kXxh3Flag][u32 checksum(payload)][payload: varint n,
  // n x (u8 kind, varint klen, key, varint vlen, value)]. Little-endian; the log never leaves
  // the host. The checksum is the low half of XXH3-64 (about 3x cheaper than XXH32 on short
  // records); records without the flag bit (logs written before it) carry XXH32.
  static constexpr uint32_t kXxh3Flag = 1u << 31;
  static uint32_t PayloadSum(const char* p, size_t len) {
    return static_cast<uint32_t>(XXH3_64bits(p, len));
  }

  // The stored bytes of `key` (the memtable's entry, else LMDB's map, mapped in whole since
  // every reader reads all of it), valid until the next call into the engine.
  Status Find(std::string_view key, std::string_view* out) {
    if (Status s = CheckKey(key); !s.ok()) return s;
    const MemEntry* e = FindMem(key);
    if (e != nullptr) {
      if (e->del) return Status::NotFound();
      *out = e->bytes();
      return Status::OK();
    }
    if (int rc = EnsureReadTxn(); rc != 0) return Error(rc, "begin read txn");
    MDB_val k = ToVal(key), v;
    int rc = mdb_get(read_txn_, dbi_, &k, &v);
    if (rc == MDB_NOTFOUND) return Status::NotFound();
    if (rc != 0) return Error(rc, "get");
    PrefaultMapped(v.mv_data, v.mv_size);
    *out = std::string_view(static_cast<const char*>(v.mv_data), v.mv_size);
    return Status::OK();
  }

  // Before an append of `extra` bytes that wal_buf_ has no room for: continue in the spare
  // records buffer (PrepareBlocks, Recycle) when that has the room, as its pages are already
  // in use; growing wal_buf_ would copy into fresh memory (100 MB for a 100 MB value).
  void RoomInLog(size_t extra) {
    size_t need = wal_buf_.size() + extra;
    if (wal_buf_.capacity() >= need || spare_records_.capacity() < need) return;
    if (TooBigToKeep(spare_records_.capacity(), need)) {  // a big value is past: let it go
      std::string().swap(spare_records_);
      return;
    }
    spare_records_.assign(wal_buf_);
    wal_buf_.swap(spare_records_);
    spare_records_.clear();
  }

  void AppendRecord(const std::vector<WriteOp>& batch) {
    size_t bytes = 8 + 10;
    for (const WriteOp& op : batch) bytes += 1 + 20 + op.key.size() + op.value.size();
    RoomInLog(bytes);
    size_t at = wal_buf_.size();
    wal_buf_.append(8, '\0');
    PutVarint(&wal_buf_, batch.size());
    for (const WriteOp& op : batch) AppendOp(op.kind == WriteOp::Kind::kPut ? 'P' : 'D', op.key, op.value);
    SealRecord(at);
  }

  // One op of a log record: its kind, then key and value, each after its varint length.
  void AppendOp(char kind, std::string_view key, std::string_view value) {
    wal_buf_.push_back(kind);
    PutVarint(&wal_buf_, key.size());
    wal_buf_.append(key);
    PutVarint(&wal_buf_, value.size());
    wal_buf_.append(value);
  }

  // Fills in the head (length and payload checksum) of the log record begun at `at`, which
  // ends at the end of wal_buf_.
  void SealRecord(size_t at) {
    size_t len = wal_buf_.size() - at - 8;
    PutU32(&wal_buf_[at], static_cast<uint32_t>(len) | kXxh3Flag);
    PutU32(&wal_buf_[at + 4], PayloadSum(wal_buf_.data() + at + 8, len));
  }

  // AppendRecord for a batch of one put (every SET): a small one sized once and written in place.
  static constexpr size_t kAppendBigValue = 64 * 1024;
  void AppendPut(std::string_view key, std::string_view value) {
    size_t len = 2 + VarintLen(key.size()) + key.size() + VarintLen(value.size()) + value.size();
    RoomInLog(8 + len);
    size_t at = wal_buf_.size();
    if (value.size() >= kAppendBigValue) {
      // Appended, as AppendRecord does, not sized first: resize would zero the bytes the
      // copy then overwrites, a pass over 100 MB for nothing.
      wal_buf_.append(8, '\0');
      wal_buf_.push_back(1);  // varint 1: one op
      AppendOp('P', key, value);
    } else {
      wal_buf_.resize(at + 8 + len);
      char* p = wal_buf_.data() + at + 8;
      *p++ = 1;  // varint 1: one op
      *p++ = 'P';
      p = RawVarint(p, key.size());
      if (!key.empty()) std::memcpy(p, key.data(), key.size());
      p = RawVarint(p + key.size(), value.size());
      if (!value.empty()) std::memcpy(p, value.data(), value.size());
    }
    SealRecord(at);
  }
  // AppendPut for a big value held in a shared buffer (PutOwned): the log buffer gets the
  // record's head, key and value length; the value itself is named in wal_refs_, and the
  // writers (PrepareBlocks' fill on the commit thread, SealBlocks, WriteWal) put it in
  // place, so the loop never copies it. Same bytes in the log as AppendPut's. The record's
  // checksum is left 0 here and XORed in once the record is whole (Engine::FillPieces, on
  // the commit thread for a group commit; SumRefsInPlace for the buffered log), so the loop
  // does not hash the value either.
  static constexpr size_t kLogByRef = 1 << 20;
  void AppendPutRef(std::string_view key, std::shared_ptr<const std::string> value) {
    size_t head = 2 + VarintLen(key.size()) + key.size() + VarintLen(value->size());
    RoomInLog(8 + head);
    size_t at = wal_buf_.size();
    wal_buf_.resize(at + 8 + head);
    char* p = wal_buf_.data() + at + 8;
    *p++ = 1;  // varint 1: one op
    *p++ = 'P';
    p = RawVarint(p, key.size());
    if (!key.empty()) std::memcpy(p, key.data(), key.size());
    RawVarint(p + key.size(), value->size());
    PutU32(&wal_buf_[at], static_cast<uint32_t>(head + value->size()) | kXxh3Flag);
    PutU32(&wal_buf_[at + 4], 0);  // the checksum: see above
    wal_ref_bytes_ += value->size();
    wal_refs_.push_back(LogRef{wal_buf_.size(), at, std::move(value)});
  }
  struct LogRef {
    size_t at;                                  // its bytes go in before wal_buf_[at]
    size_t head;                                // its record's head in wal_buf_
    std::shared_ptr<const std::string> bytes;
  };
  // The buffered log's writer has no blocks to fill: it XORs each named value's record
  // checksum in here, head and value hashed as one run of bytes (XXH3's streaming digest
  // equals the one-shot one FillPieces takes).
  void SumRefsInPlace() {
    for (const LogRef& r : wal_refs_) {
      if (!xxh_) xxh_.reset(XXH3_createState());
      XXH3_64bits_reset(xxh_.get());
      XXH3_64bits_update(xxh_.get(), wal_buf_.data() + r.head + 8, r.at - r.head - 8);
      XXH3_64bits_update(xxh_.get(), r.bytes->data(), r.bytes->size());
      PutU32(&wal_buf_[r.head + 4], GetU32(&wal_buf_[r.head + 4]) ^ static_cast<uint32_t>(XXH3_64bits_digest(xxh_.get())));
    }
  }
  // The log's length with the named values: what the buffered records take in the file.
  size_t LogBytes() const { return wal_buf_.size() + wal_ref_bytes_; }
  void ClearLog() {
    wal_buf_.clear();
    wal_refs_.clear();
    wal_ref_bytes_ = 0;
  }
  static std::vector<CommitTicket::Piece> Pieces(const std::vector<LogRef>& refs) {
    std::vector<CommitTicket::Piece> out;
    out.reserve(refs.size());
    size_t before = 0;  // the named bytes in front of this record in the filled log
    for (const LogRef& r : refs) {
      out.push_back({r.at, r.bytes->data(), r.bytes->size(), r.head + before});
      before += r.bytes->size();
    }
    return out;
  }
  static size_t VarintLen(uint64_t v) {
    size_t n = 1;
    for (; v >= 0x80; v >>= 7) ++n;
    return n;
  }
  static char* RawVarint(char* p, uint64_t v) {
    for (; v >= 0x80; v >>= 7) *p++ = static_cast<char>(v | 0x80);
    *p++ = static_cast<char>(v);
    return p;
  }

  static bool DecodeRecord(std::string_view payload, std::vector<WriteOp>* ops) {
    uint64_t n;
    if (!GetVarint(&payload, &n) || n > payload.size()) return false;
    ops->clear();
    if (n == 0) {  // padding up to a block boundary (direct mode): replays as nothing
      return std::all_of(payload.begin(), payload.end(), [](char c) { return c == 0; });
    }
    for (uint64_t i = 0; i < n; i++) {
      if (payload.empty()) return false;
      char kind = payload.front();
      payload.remove_prefix(1);
      if (kind != 'P' && kind != 'D') return false;
      uint64_t klen, vlen;
      if (!GetVarint(&payload, &klen) || klen > payload.size()) return false;
      WriteOp op;
      op.kind = kind == 'P' ? WriteOp::Kind::kPut : WriteOp::Kind::kDelete;
      op.key.assign(payload.substr(0, klen));
      payload.remove_prefix(klen);
      if (!GetVarint(&payload, &vlen) || vlen > payload.size()) return false;
      op.value.assign(payload.substr(0, vlen));
      payload.remove_prefix(vlen);
      ops->push_back(std::move(op));
    }
    return payload.empty();
  }

  std::string WalPath(uint64_t gen) const {
    char name[40];
    std::snprintf(name, sizeof(name), "wal-%016llx.log", static_cast<unsigned long long>(gen));
    return (std::filesystem::path(opts_.dir) / name).string();
  }

  std::vector<std::pair<uint64_t, std::string>> ListWal() const {
    std::vector<std::pair<uint64_t, std::string>> out;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(opts_.dir, ec)) {
      std::string name = e.path().filename().string();
      if (name.size() == 24 && name.rfind("wal-", 0) == 0 && name.substr(20) == ".log") {
        out.emplace_back(std::strtoull(name.substr(4, 16).c_str(), nullptr, 16), e.path().string());
      }
    }
    std::sort(out.begin(), out.end());
    return out;
  }

  // The log's directory entries (a generation started, retired logs removed or kept as the
  // spare) are made durable lazily: dir_dirty_ says they changed, and the next durable log
  // write fsyncs the directory first, on the thread that writes (a group commit's worker;
  // see CommitTicket::dir_fd). A record is acknowledged only after its log write, so no
  // acknowledged record can be in a log whose name might not survive a power cut. A retired
  // log that comes back after one comes back whole (nothing is written into a recycled log
  // before its new name is durable) and is replayed again, which is harmless: its ops are
  // already in LMDB, and every later generation is replayed after it.
  //
  // A direct group commit fsyncs the directory on its worker, before its write. While such
  // a ticket is in flight every later one does too: its write must not reach a recycled log
  // before that log's new name is durable, whichever ticket's fsync finishes first.
  int DirForTicket() {
    if (!dir_dirty_ && dir_tickets_in_flight_ == 0) return -1;
    dir_dirty_ = false;
    ++dir_tickets_in_flight_;
    return dir_fd_;
  }
  Status SyncDirIfDirty() {
    if (!dir_dirty_) return Status::OK();
    if (::fsync(dir_fd_) != 0) return Status::IOError("fsync " + opts_.dir + ": " + std::strerror(errno));
    dir_dirty_ = false;
    return Status::OK();
  }

  // Writes wal_buf_ at the end of the log and makes it durable. On failure the log is cut
  // back to its last good length so later records stay reachable.
  Status AppendWal() {
    if (Status s = SyncDirIfDirty(); !s.ok()) return s;  // before anything is written
    if (Direct()) {
      DKV_ASSERT(syncs_in_flight_ == 0);
      size_t len = 0;
      auto buf = SealBlocks(&len);
      CommitTicket t;
      t.fd = direct_fd_;
      t.needs_sync = true;
      t.data = buf.get();
      t.len = len;
      t.offset = wal_bytes_;
      ++syncs_;
      if (Status s = SyncTicket(t); !s.ok()) {
        if (::ftruncate(wal_fd_, static_cast<off_t>(wal_bytes_)) != 0) {}  // see FinishCommit
        return Status(s.code(), s.message() + " in " + opts_.dir);
      }
      wal_bytes_ += len;
      return Status::OK();
    }
    if (Status s = WriteWal(); !s.ok()) return s;
    if (opts_.sync != SyncMode::kNone) {
      ++syncs_;
      if (::fdatasync(wal_fd_) != 0) {
        // The bytes may or may not be on disk; nothing was acknowledged. Cut them off.
        int err = errno;
        uint64_t keep = wal_bytes_ - wal_pending_bytes_;
        if (::ftruncate(wal_fd_, static_cast<off_t>(keep)) == 0) wal_bytes_ = keep;
        return ErrnoStatus(err, "write-ahead log fsync");
      }
    }
    return Status::OK();
  }

  // Direct mode: wal_buf_'s records sealed for this generation (see GenMix), then a padding
  // record up to the next block boundary, in a block-aligned buffer. Every direct write
  // starts on a fresh block, so no write ever rewrites a block holding acknowledged records,
  // and writes in flight never share a block.
  static constexpr size_t kBlock = 4096;
  struct FreeDeleter {
    void operator()(char* p) const { std::free(p); }
  };
  using Block = std::unique_ptr<char, FreeDeleter>;
  struct DirectWrite {
    uint64_t offset = 0;
    size_t len = 0;
    size_t undo_count = 0;  // its ops at the front of undo_ (after earlier tickets')
    Block buf;              // len bytes, block-aligned, filled by SyncTicket (PrepareBlocks)
    size_t buf_capacity = 0;
    std::string records;    // the sealed records the blocks are filled from
    std::vector<LogRef> refs;  // the big values the records name (AppendPutRef)
  };
  bool Direct() const { return direct_fd_ >= 0; }

  // A group commit's blocks, as SealBlocks lays them out, but only reserved here: the ticket
  // tells SyncTicket to fill them from w->records (wal_buf_'s records, moved, not copied;
  // the ticket's pointers are set once w is in writes_, where it stays put),
  // so the loop does not copy the batch. The buffers come back through Recycle, so a stream
  // of big values reuses memory already faulted in.
  void PrepareBlocks(DirectWrite* w, CommitTicket* t) {
    SealRecords(&wal_buf_, wal_refs_);
    size_t used = LogBytes();
    size_t pad = PadFor(used);
    w->len = used + pad;
    if (spare_block_ && spare_block_capacity_ >= w->len && !TooBigToKeep(spare_block_capacity_, w->len)) {
      w->buf = std::move(spare_block_);
      w->buf_capacity = spare_block_capacity_;
    } else {
      spare_block_.reset();
      w->buf = NewBlock(w->len);
      w->buf_capacity = w->len;
    }
    spare_block_capacity_ = 0;
    w->records.swap(wal_buf_);
    w->refs.swap(wal_refs_);  // kept (and the values alive) until FinishCommit
    wal_ref_bytes_ = 0;
    wal_buf_.swap(spare_records_);  // empty, with the capacity of an earlier batch
    wal_buf_.clear();
    if (TooBigToKeep(wal_buf_.capacity(), used)) std::string().swap(wal_buf_);
    t->fill_len = used;  // fill_to and fill_from: BeginCommit, once w is queued
    t->has_pad = pad != 0;
    if (t->has_pad) PadHead(pad, t->pad_head);
  }
  // The spare buffers of a big batch, unused for kSpareIdle, are given back (called about
  // once a second through StartCheckpoint): an idle node does not keep a past 100 MB value's
  // log buffers.
  static constexpr auto kSpareIdle = std::chrono::seconds(10);
  void ReleaseIdleSpares() {
    if (!writes_.empty() || std::chrono::steady_clock::now() - spares_used_ < kSpareIdle) return;
    if (spare_records_.capacity() > (1u << 20)) std::string().swap(spare_records_);
    if (spare_block_capacity_ > (1u << 20)) {
      spare_block_.reset();
      spare_block_capacity_ = 0;
    }
    if (wal_buf_.empty() && wal_buf_.capacity() > (1u << 20)) std::string().swap(wal_buf_);
  }
  // Keeps a finished write's buffers for the next ones (the larger of each kind).
  void Recycle(DirectWrite* w) {
    spares_used_ = std::chrono::steady_clock::now();
    if (w->records.capacity() > spare_records_.capacity()) {
      spare_records_.swap(w->records);
      spare_records_.clear();
    }
    if (w->buf && w->buf_capacity > spare_block_capacity_) {
      spare_block_ = std::move(w->buf);
      spare_block_capacity_ = w->buf_capacity;
    }
  }
  // A kept buffer far larger than what is needed now (a big value is past) is given back.
  static bool TooBigToKeep(size_t capacity, size_t need) {
    return capacity > (1u << 20) && capacity / 4 > need;
  }

  Block SealBlocks(size_t* len_out) {
    SealRecords(&wal_buf_, wal_refs_);
    size_t used = LogBytes();
    size_t pad = PadFor(used);
    size_t len = used + pad;
    Block block = NewBlock(len);
    char* p = block.get();
    FillPieces(p, wal_buf_.data(), used, Pieces(wal_refs_));
    std::memset(p + used, 0, pad);
    if (pad != 0) PadHead(pad, p + used);
    *len_out = len;
    return block;
  }

  // The bytes that round `used` up to whole blocks: a padding record, so at least 9.
  static size_t PadFor(size_t used) {
    size_t pad = (kBlock - used % kBlock) % kBlock;
    if (pad != 0 && pad < 9) pad += kBlock;  // a padding record needs 8 + 1 bytes
    return pad;
  }
  // The padding record's 8-byte head, for `pad` bytes of [len][sum][varint 0 ops][zeros]: a
  // valid record that replays as nothing.
  void PadHead(size_t pad, char* out) const {
    static const char kZeros[2 * kBlock] = {};
    uint32_t plen = static_cast<uint32_t>(pad - 8);
    PutU32(out, plen | kXxh3Flag);
    PutU32(out + 4, PayloadSum(kZeros, plen) ^ GenMix(wal_gen_));
  }
  static Block NewBlock(size_t len) {
    void* mem = nullptr;
    if (posix_memalign(&mem, kBlock, len) != 0) throw std::bad_alloc();
    return Block(static_cast<char*>(mem));
  }

  // XORs this generation's mix into the checksum of every record in *buf; a record whose
  // value `refs` names (its head at LogRef::head) holds that value's bytes only in the log
  // it is filled into (AppendPutRef).
  void SealRecords(std::string* buf, const std::vector<LogRef>& refs) const {
    uint32_t mix = GenMix(wal_gen_);
    size_t r = 0;
    for (size_t at = 0; at + 8 <= buf->size();) {
      uint32_t len = GetU32(&(*buf)[at]) & ~kXxh3Flag;
      PutU32(&(*buf)[at + 4], GetU32(&(*buf)[at + 4]) ^ mix);
      size_t next = at + 8 + len;
      if (r < refs.size() && refs[r].head == at) next -= refs[r++].bytes->size();
      at = next;
    }
  }

  // Writes wal_buf_ at the end of the log (no fsync). On failure the log is cut back to its
  // last good length so later records stay reachable.
  // Records are checksummed with their log generation mixed in, so when a log file is
  // recycled (see StartGeneration) the stale records of its previous life behind the write
  // position fail the check and end recovery there.
  static uint32_t GenMix(uint64_t gen) {
    return static_cast<uint32_t>((gen * 0x9E3779B97F4A7C15ull) >> 32) | 1u;
  }

  Status WriteWal() {
    if (wal_fd_ < 0) return Status::IOError("write-ahead log in " + opts_.dir + " is not open");
    SumRefsInPlace();
    SealRecords(&wal_buf_, wal_refs_);
    uint64_t off = wal_bytes_;
    int err = 0;
    auto write_all = [&](const char* p, size_t left) {
      while (left > 0 && err == 0) {
        ssize_t n = ::pwrite(wal_fd_, p, left, static_cast<off_t>(off));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
          err = n < 0 ? errno : ENOSPC;
          return;
        }
        p += n;
        left -= static_cast<size_t>(n);
        off += static_cast<uint64_t>(n);
      }
    };
    size_t from = 0;
    for (const LogRef& r : wal_refs_) {  // the records, with each named value in its place
      write_all(wal_buf_.data() + from, r.at - from);
      write_all(r.bytes->data(), r.bytes->size());
      from = r.at;
    }
    write_all(wal_buf_.data() + from, wal_buf_.size() - from);
    if (err != 0) {
      if (::ftruncate(wal_fd_, static_cast<off_t>(wal_bytes_)) != 0) {}
      return ErrnoStatus(err, "write-ahead log write");
    }
    wal_pending_bytes_ = off - wal_bytes_;
    wal_bytes_ = off;
    return Status::OK();
  }

  Status ErrnoStatus(int err, const char* what) const {
    std::string msg = std::string(what) + " in " + opts_.dir + ": " + std::strerror(err);
    if (err == ENOSPC || err == EFBIG || err == EDQUOT) return Status::NoSpace(msg);
    return Status::IOError(msg);
  }

  std::string SparePath() const {
    return (std::filesystem::path(opts_.dir) / "spare-wal.tmp").string();
  }

  // Starts log generation wal_gen_ + 1 (its name is made durable by the first write into
  // it: DirForTicket, SyncDirIfDirty), reusing the spare log when there is one: overwriting
  // blocks a file already has makes each fdatasync flush data only, not the file size
  // (measured here: about half the time of an append). Its old records fail the new
  // generation's checksum.
  Status StartGeneration() {
    uint64_t next = wal_gen_ + 1;
    int fd = -1;
    if (spare_fd_ >= 0 && std::rename(SparePath().c_str(), WalPath(next).c_str()) == 0) {
      fd = spare_fd_;
      spare_fd_ = -1;
    } else {
      CloseFd(&spare_fd_);
      fd = ::open(WalPath(next).c_str(), O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0644);
      if (fd < 0) return ErrnoStatus(errno, "create write-ahead log");
      if (opts_.sync == SyncMode::kBatch) Preallocate(fd);
    }
    if (opts_.sync != SyncMode::kNone) dir_dirty_ = true;  // synced by the next log write
    CloseFd(&wal_fd_);
    CloseFd(&direct_fd_);
    wal_fd_ = fd;
    wal_gen_ = next;
    wal_bytes_ = 0;
    // Group commits write the log directly (see BeginCommit) where the file system allows
    // O_DIRECT; elsewhere (tmpfs, some overlays) they fall back to write + fdatasync.
    if (opts_.sync == SyncMode::kBatch && opts_.direct_log) {
      direct_fd_ = ::open(WalPath(next).c_str(), O_WRONLY | O_DIRECT | O_DSYNC | O_CLOEXEC);
    }
    return Status::OK();
  }

  // The generations <= upto are in LMDB now: keep the newest as the spare, delete the rest.
  Status RetireGenerations(uint64_t upto) {
    bool keep_spare = spare_fd_ < 0 && opts_.sync != SyncMode::kNone;
    std::error_code ec;
    auto files = ListWal();
    for (auto it = files.rbegin(); it != files.rend(); ++it) {
      if (it->first > upto || it->first == wal_gen_) continue;
      if (keep_spare) {
        keep_spare = false;
        // A log grown past kRecycleBytesMax is removed rather than cut down and kept: its
        // rename is not durable yet (SyncDirIfDirty), and a power cut must never bring back a
        // retired log that was changed, only a whole one. The next generation then starts
        // in a new file.
        int fd = ::open(it->second.c_str(), O_WRONLY | O_CLOEXEC);
        struct stat st;
        if (fd >= 0 && ::fstat(fd, &st) == 0 &&
            static_cast<uint64_t>(st.st_size) <= kRecycleBytesMax &&
            std::rename(it->second.c_str(), SparePath().c_str()) == 0) {
          spare_fd_ = fd;
          continue;
        }
        if (fd >= 0) ::close(fd);
      }
      std::filesystem::remove(it->second, ec);
    }
    if (opts_.sync != SyncMode::kNone) dir_dirty_ = true;
    return Status::OK();
  }

  // Writes zeros over the first kPreallocBytes of a new log, so the group commits of its
  // first generation overwrite allocated blocks too (see StartGeneration). Zeros are not a
  // valid record. Best effort: on any error the log simply grows by appending.
  void Preallocate(int fd) {
    static const std::string kZeros(1 << 20, '\0');
    for (uint64_t off = 0; off < kPreallocBytes; off += kZeros.size()) {
      if (::pwrite(fd, kZeros.data(), kZeros.size(), static_cast<off_t>(off)) !=
          static_cast<ssize_t>(kZeros.size())) {
        if (::ftruncate(fd, 0) != 0) {}
        return;
      }
    }
    if (::fdatasync(fd) != 0) {
      if (::ftruncate(fd, 0) != 0) {}
    }
  }

  // Replays every log generation left by the previous run into the table, then
  // checkpoints. If the checkpoint fails (a full map, a full disk) the engine still opens:
  // the replayed ops stay in the table, the old logs stay on disk, and new writes go to a
  // new generation after them.
  Status RecoverWal() {
    auto files = ListWal();
    replaying_ = true;
    std::vector<WriteOp> ops;
    for (const auto& [gen, path] : files) {
      wal_gen_ = std::max(wal_gen_, gen);
      int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) {
        replaying_ = false;
        return ErrnoStatus(errno, "open write-ahead log");
      }
      struct stat st;
      if (::fstat(fd, &st) != 0) {
        int err = errno;
        ::close(fd);
        replaying_ = false;
        return ErrnoStatus(err, "stat write-ahead log");
      }
      uint64_t left = static_cast<uint64_t>(st.st_size);
      std::string header(8, '\0'), payload;
      while (true) {
        if (left < 8 || ::read(fd, header.data(), 8) != 8) break;
        left -= 8;
        uint32_t len = GetU32(header.data()), sum = GetU32(header.data() + 4);
        bool xxh3 = (len & kXxh3Flag) != 0;
        len &= ~kXxh3Flag;
        // A torn header can claim any length: check it against the file before allocating.
        if (len > kRecordBytesMax || len > left) break;
        payload.resize(len);
        if (::read(fd, payload.data(), len) != static_cast<ssize_t>(len)) break;  // torn tail
        left -= len;
        uint32_t got = xxh3 ? PayloadSum(payload.data(), len) : XXH32(payload.data(), len, 0);
        if ((got ^ GenMix(gen)) != sum || !DecodeRecord(payload, &ops)) break;
        if (Status s = WriteOwned(std::move(ops)); !s.ok()) {
          ::close(fd);
          replaying_ = false;
          return Status(s.code(), "replaying write-ahead log " + path + ": " + s.message());
        }
        ops.clear();
      }
      ::close(fd);
    }
    replaying_ = false;
    // wal_fd_ < 0 here: the checkpoint starts a fresh generation (and retires the old ones
    // once their ops are in LMDB).
    Status s = Checkpoint();
    if (s.ok()) return s;
    std::fprintf(stderr, "dynakv: storage: checkpoint after recovery failed, keeping the log: %s\n",
                 s.ToString().c_str());
    return wal_fd_ >= 0 ? Status::OK() : StartGeneration();
  }

  LmdbOptions opts_;
  uint64_t page_bytes_ = 4096;
  size_t max_key_bytes_ = kKeyBytesMax;
  MDB_env* env_ = nullptr;
  MDB_dbi dbi_ = 0;
  MDB_txn* read_txn_ = nullptr;    // cached read-only txn, live or reset
  bool read_live_ = false;

  struct Undo {
    MemNode* node;               // nodes never move
    bool existed;                // false: the op created the entry
    MemEntry old;                // what the op replaced
  };
  MemTable mem_;                   // writes since the last freeze
  uint64_t mem_bytes_ = 0;         // approximate footprint of mem_
  uint64_t mem_limit_ = kCheckpointMemBytes;  // checkpoint when mem_bytes_ reaches it
  KeyOrder mem_order_, imm_order_; // key order of mem_ and imm_, for Scan
  int64_t mem_dels_ = 0, imm_dels_ = 0;  // deletes held in mem_ and imm_
  std::unique_ptr<MemTable> imm_;  // frozen, being (or failed to be) checkpointed
  uint64_t imm_upto_ = 0;          // imm_ holds every op of the generations <= this
  bool imm_retry_ = false;         // imm_ changed since its checkpoint last failed
  std::deque<Undo> undo_;          // ops applied to mem_ and not yet durable in the log
  size_t undo_in_flight_ = 0;      // leading entries of undo_ that belong to tickets in flight
  std::thread thread_;             // the checkpoint thread, while running_
  std::thread reclaim_;            // frees the last checkpointed table (Reclaim)
  std::atomic<bool> reclaim_done_{false};  // reclaim_ finished (set by it)
  bool running_ = false;
  std::atomic<bool> done_{false};  // thread_ finished (set by it)
  int thread_rc_ = 0;              // its LMDB result (read after join)
  Status checkpoint_error_;        // a failed background checkpoint, reported once
  bool checkpoint_failed_ = false; // the last one failed: no early retry from commits
  Status full_;                    // NoSpace while the map is full (see the file comment)
  Status lost_;                    // unlogged writes dropped outside Commit; Commit reports it

  size_t syncs_in_flight_ = 0;     // BeginCommit tickets awaiting FinishCommit
  std::string wal_buf_;            // records not yet written to the log
  std::vector<LogRef> wal_refs_;   // big values those records name, in order (AppendPutRef)
  size_t wal_ref_bytes_ = 0;       // their bytes
  struct XxhFree {
    void operator()(XXH3_state_t* p) const { XXH3_freeState(p); }
  };
  std::unique_ptr<XXH3_state_t, XxhFree> xxh_;  // AppendPutRef's streaming checksum
  bool logged_ = false;  // see HasPending
  int wal_fd_ = -1;
  int spare_fd_ = -1;              // a retired log kept for reuse (SparePath)
  int direct_fd_ = -1;             // the current log opened O_DIRECT|O_DSYNC, or -1
  int dir_fd_ = -1;                // opts_.dir, for its fsync (SyncDirIfDirty)
  bool dir_dirty_ = false;         // log files created/renamed/removed since its last fsync
  size_t dir_tickets_in_flight_ = 0;  // tickets that fsync the directory (DirForTicket)
  std::deque<DirectWrite> writes_; // direct writes in flight, oldest first
  std::string spare_records_;      // a finished write's records buffer, for reuse (Recycle)
  Block spare_block_;              // and its blocks' buffer
  size_t spare_block_capacity_ = 0;
  std::chrono::steady_clock::time_point spares_used_{};  // the last Recycle
  Status poison_;                  // a direct write failed; later tickets fail until drained
  uint64_t poison_offset_ = 0;     // where the failed write began (reused once drained)
  uint64_t wal_gen_ = 0;
  uint64_t wal_bytes_ = 0;         // written length of the current log
  uint64_t wal_pending_bytes_ = 0; // bytes of the last WriteWal (cut off if its fsync fails)
  bool replaying_ = false;
  bool opened_ = false;            // Open() succeeded: the destructor may commit and checkpoint
  uint64_t checkpoints_ = 0;
  uint64_t commits_ = 0;
  // StartBackup / PollBackup: folding the log into LMDB, then copying LMDB on backup_thread_.
  enum class BackupPhase { kIdle, kFolding, kCopying };
  BackupPhase backup_phase_ = BackupPhase::kIdle;
  bool backup_refreeze_ = false;   // a checkpoint ran at StartBackup: freeze the rest after it
  std::thread backup_thread_;      // mdb_env_copy2, while kCopying
  std::atomic<bool> backup_done_{false};  // backup_thread_ finished (set by it)
  int backup_rc_ = 0;              // its result (read after join)
  std::string backup_dir_;
  uint64_t syncs_ = 0;
};

}  // namespace

Result<std::unique_ptr<Engine>> OpenLmdb(const LmdbOptions& opts) {
  auto engine = std::make_unique<LmdbEngine>(opts);
  if (Status s = engine->Open(); !s.ok()) return s;
  return std::unique_ptr<Engine>(std::move(engine));
}

}  // namespace dynakv::storage
