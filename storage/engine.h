// storage/engine.h: the storage::Engine interface, bytes in, bytes out.
//
// Modeled on LevelDB's DB: a small abstract class, every method says what happens on success,
// on a miss and on an error. Keys sort bytewise (memcmp, shorter first on a tie).
//
// Write model (group commit): Put/Delete/Write apply to the engine's *pending* state at once,
// so the next Get or Scan sees them, but they are durable only after Commit() returns OK.
// The server calls Commit() once per event-loop iteration and releases replies after it, so
// writes that arrive together share one fsync and none is acknowledged before it is durable.
// With SyncMode::kAlways every Write commits and syncs before returning.
//
// Thread-safety: an Engine is used from one thread (its node's loop). Not thread-safe.
// (An engine may run work of its own on other threads, invisibly to that one thread.)
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "storage/status.h"

namespace dynakv::storage {

enum class SyncMode { kAlways, kBatch, kNone };

// Longest key either engine accepts: LMDB's compiled-in limit (mdb_env_get_maxkeysize), kept
// the same in MemEngine so the simulator rejects exactly what production rejects. Longer
// keys and empty keys are InvalidArgument; a layer above must hash long keys if it needs them.
inline constexpr size_t kKeyBytesMax = 511;

// OK when `key` can be stored: 1..kKeyBytesMax bytes. Otherwise InvalidArgument.
inline Status CheckKey(std::string_view key) {
  if (key.empty()) return Status::Invalid("empty key");
  if (key.size() > kKeyBytesMax) {
    return Status::Invalid("key of " + std::to_string(key.size()) + " bytes exceeds the " +
                           std::to_string(kKeyBytesMax) + "-byte limit");
  }
  return Status::OK();
}

struct WriteOp {
  enum class Kind : uint8_t { kPut, kDelete };
  Kind kind = Kind::kPut;
  std::string key;
  std::string value;  // empty for kDelete
};

struct EngineStats {
  uint64_t commits = 0;     // Commit() calls that wrote something
  uint64_t syncs = 0;       // fsyncs issued
  uint64_t map_size = 0;    // LMDB map size in bytes (0 for MemEngine)
  uint64_t used_bytes = 0;  // approximate bytes in use
  uint64_t checkpoints = 0; // write-ahead log folded into the store
  uint64_t wal_bytes = 0;   // current write-ahead log size
};

class Engine {
 public:
  virtual ~Engine() = default;

  // On success stores the value of `key` in *value and returns OK. If absent returns
  // NotFound and leaves *value unchanged. Other errors: IOError, Corruption.
  virtual Status Get(std::string_view key, std::string* value) = 0;

  // The same lookup without copying: on success calls see(value) once, with bytes valid only
  // during the call, and returns OK; NotFound (see not called) when absent. `see` must not
  // call into the engine. A reader that keeps only part of a big value (a record's versions,
  // one value out of several) then copies only that part. The default copies through Get.
  virtual Status View(std::string_view key, const std::function<void(std::string_view)>& see) {
    std::string value;
    Status s = Get(key, &value);
    if (s.ok()) see(value);
    return s;
  }

  // The stored bytes of `key` when the engine holds them in a shared, immutable buffer (a
  // big value PutOwned kept whole: LmdbEngine's kLogByRef and more), so a caller may keep
  // them past the call without a copy; null otherwise (absent, deleted, small, or held
  // another way). The default holds nothing shared.
  virtual std::shared_ptr<const std::string> SharedValue(std::string_view key) { return nullptr; }

  // Apply one atomic batch to the pending state. On error nothing of the batch is applied.
  // NoSpace when the store is full and could not grow: the caller reports it; no data lost.
  virtual Status Write(const std::vector<WriteOp>& batch) = 0;

  // Same as Write, for a batch the caller gives away (saves copying the values again).
  virtual Status WriteOwned(std::vector<WriteOp>&& batch) { return Write(batch); }

  Status Put(std::string_view key, std::string_view value) {
    return PutOwned(key, std::string(value));
  }
  // One put of a value the caller gives away (the hottest write: every SET). Engines may
  // override it to skip building a one-op batch.
  virtual Status PutOwned(std::string_view key, std::string value) {
    std::vector<WriteOp> batch(1);
    batch[0].key.assign(key);
    batch[0].value = std::move(value);
    return WriteOwned(std::move(batch));
  }
  Status Delete(std::string_view key) {
    std::vector<WriteOp> batch(1);
    batch[0].kind = WriteOp::Kind::kDelete;
    batch[0].key.assign(key);
    return WriteOwned(std::move(batch));
  }

  // A hint before a batch of operations on these keys (see RecordCache::Prefetch): stages
  // 1 then 2, each for every key of the batch. No effect on contents.
  virtual void Prefetch(std::string_view key, int stage) {}

  // Visit keys in [start, end) in order (end empty = no upper bound), at most `limit`
  // entries (0 = unlimited). The visitor returns false to stop early. Sees pending writes.
  // The visitor must not call into the engine.
  virtual Status Scan(std::string_view start, std::string_view end, size_t limit,
                      const std::function<bool(std::string_view key, std::string_view value)>&
                          visit) = 0;

  // Make every pending write durable according to the sync mode (kNone: commit, no fsync).
  // Returns OK when there was nothing to do. After an error the pending writes are dropped
  // (they were never acknowledged) and the engine stays usable.
  virtual Status Commit() = 0;

  // True when there are writes not yet committed.
  virtual bool HasPending() const = 0;

  // Asynchronous group commit, so the loop keeps working while the disk flushes:
  // BeginCommit() (owning thread) makes the pending writes ready to sync and returns a
  // ticket; SyncTicket(ticket) does the slow part and may run on any thread (it touches only
  // the file and the ticket's buffers, which the engine leaves alone until FinishCommit); FinishCommit(ticket, what SyncTicket returned) back on the owning thread makes
  // the writes committed. Up to CommitPipelineDepth() tickets may be outstanding;
  // FinishCommit is called in BeginCommit order; Commit() and Checkpoint() are not called
  // while a ticket is outstanding. A ticket with needs_sync = false is already committed.
  // The default runs Commit() synchronously. On error from BeginCommit, as from Commit().
  struct CommitTicket {
    int fd = -1;
    bool needs_sync = false;
    // Set when the slow part is a durable write of these bytes at `offset` (fd opened with
    // O_DIRECT|O_DSYNC) rather than an fdatasync; the engine owns the bytes until FinishCommit.
    const char* data = nullptr;
    size_t len = 0;
    uint64_t offset = 0;
    // When fill_to (== data) is set, SyncTicket first fills those bytes: fill_len bytes copied
    // from fill_from, zeros to len, and pad_head's 8 bytes at fill_len when has_pad. The owner
    // thus hands the copy of a big batch to the thread that writes it (a 100 MB value's log
    // blocks are not filled on the owner's loop).
    char* fill_to = nullptr;
    const char* fill_from = nullptr;
    size_t fill_len = 0;
    // Bytes the records name instead of holding them (a big value's, shared with the
    // memtable), in order: `data` goes in before fill_from[at]. fill_len counts them too.
    // The record the piece ends has its head at sum_at in the filled bytes, and its checksum
    // still to be XORed in (FillPieces hashes the record once it is whole: on the thread
    // that writes it, not the owner's loop).
    struct Piece {
      size_t at;
      const char* data;
      size_t len;
      size_t sum_at;
    };
    std::vector<Piece> fill_refs;
    bool has_pad = false;
    char pad_head[8] = {};
    // When >= 0, SyncTicket first fsyncs this directory: a log file was created, renamed or
    // removed since the last durable write, and the new log's name must be durable before
    // anything in it is acknowledged. (Done here, off the owner's loop: a directory fsync
    // waits for the file system's journal, 20-25 ms while a checkpoint writes.)
    int dir_fd = -1;
  };
  virtual Result<CommitTicket> BeginCommit() {
    Status s = Commit();
    if (!s.ok()) return s;
    return CommitTicket{};
  }
  static Status SyncTicket(const CommitTicket& t);
  // Copies `len` bytes of log into `to`: records[0, len - the pieces' bytes) with each piece
  // put in before records[piece.at], then completes the checksum of each piece's record.
  static void FillPieces(char* to, const char* records, size_t len, const std::vector<CommitTicket::Piece>& pieces);
  // An error means the batch (and every batch begun after it) is not durable: the caller
  // must fail their acknowledgements; the engine has taken their writes back.
  virtual Status FinishCommit(const CommitTicket& t, const Status& sync_status) { return Status::OK(); }
  // How many tickets may usefully be outstanding at once (their writes then overlap).
  virtual size_t CommitPipelineDepth() const { return 1; }
  // True when the owner should run SyncTicket itself, right after the next BeginCommit,
  // instead of handing it to a worker thread (the slow part is one short durable write).
  virtual bool CommitInline() const { return false; }

  // Engines with a write-ahead log (LmdbEngine) fold the log into the main store here and
  // start a new log; the server calls it about once a second. Committed writes are durable
  // before and after it, so an error costs nothing but a longer log (reported, retried).
  virtual Status Checkpoint() { return Status::OK(); }

  // The same, without waiting: an engine may fold the log in on a thread of its own and
  // finish later (LmdbEngine does). Not called while a commit ticket is outstanding. Returns
  // the error of an earlier background checkpoint, once.
  virtual Status StartCheckpoint() { return Checkpoint(); }

  // Backup (DYNAMO BACKUP): a consistent copy of the committed store written into `dir`,
  // which is created (with its parents) and must not exist or be an empty directory
  // (InvalidArgument otherwise, naming it). Starting it makes every committed write part of
  // the copy (LmdbEngine folds its log into LMDB first), so the caller commits what it has
  // acknowledged and calls it with no commit ticket outstanding. The work runs on threads
  // of the engine's own; the owner drives it by calling PollBackup (owner thread, any time,
  // e.g. every few ms), which returns true once, with the outcome in *result, when it has
  // finished. One at a time: Limit while one runs.
  // Restore = open an engine on the copy. NotSupported for engines without files.
  virtual Status StartBackup(const std::string& dir) {
    return Status::NotSupported("backup needs storage.engine = lmdb");
  }
  virtual bool PollBackup(Status* result) { return false; }

  virtual EngineStats Stats() const = 0;
};

struct LmdbOptions {
  std::string dir;                             // created if missing
  SyncMode sync = SyncMode::kBatch;
  uint64_t map_size_bytes = 1ull << 30;        // initial; doubles on MDB_MAP_FULL
  uint64_t map_size_max_bytes = 1ull << 40;    // never grows past this: NoSpace instead
  bool direct_log = true;  // sync = batch: write the log O_DIRECT|O_DSYNC when possible
};

// Opens (creating if needed) an LMDB environment in opts.dir. Errors name the directory.
Result<std::unique_ptr<Engine>> OpenLmdb(const LmdbOptions& opts);

// In-memory engine for tests and the simulator. Committed state survives SimulateCrash();
// pending (uncommitted) writes are lost by it, like a power cut before fsync. With
// SyncMode::kAlways every Write is committed immediately.
class MemEngine;
std::unique_ptr<MemEngine> NewMemEngine(SyncMode sync = SyncMode::kBatch);

}  // namespace dynakv::storage
