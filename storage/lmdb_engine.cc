// storage/lmdb_engine.cc: the LMDB-backed Engine, the default on a real node.
//
// Layout: one environment in LmdbOptions::dir, its one unnamed database, keys in LMDB's
// default memcmp order (which is the Engine's order), plus a write-ahead log in the same
// directory (wal-<generation>.log).
//
// Why a log: a B-tree commit writes every page a batch dirtied (a 100-byte SET costs a 4 KB
// page write) and LMDB syncs twice per commit. Group commit per event-loop iteration on that
// path is bounded by page writes. So durability comes from the log instead: Commit() appends
// the iteration's ops to the log in one write and fdatasyncs it (one sequential write and one
// flush, whatever the batch touched). The ops also go into one long-lived LMDB write txn that
// reads see at once; Checkpoint() (about once a second, or when the txn grows large) commits
// that txn with LMDB's own synced two-phase commit, then starts a new log generation and
// deletes the old ones.
//
// Recovery: at open, every remaining log generation is replayed in order into LMDB, then
// checkpointed. The store is always "the last checkpoint plus some prefix of the logged ops"
// (an early commit on MDB_TXN_FULL can land part of a log), and replaying the whole log over
// any such state yields the final state, because each op is a blind put or delete of a whole
// value. A torn record at the tail of a log (crash mid-write) fails its checksum and ends the
// replay of that file: it was never acknowledged.
//
// Every op applied in the open txn is also kept in `pending_`: when LMDB fails mid-batch the
// txn is unusable and must be aborted, and the pending list lets us rebuild it exactly
// (replay), either in a grown map (MDB_MAP_FULL) or without the failing batch. This is
// also how a failed batch leaves nothing behind without the cost of a nested txn per Write
// (LMDB mallocs a ~2 MB dirty list for every child txn). `acked_ops_` counts the prefix of
// pending_ that is durable in the log; losing that prefix in-process is a broken invariant.
//
// Reads: through the open write txn when there is one (pending writes are visible), else
// through one cached read-only txn.
//
// sync = none: the log is written but never fsynced and LMDB runs with MDB_NOSYNC; a process
// crash loses nothing (the page cache has it), a power cut can lose acknowledged writes.
//
// Thread-safety: none (see engine.h).
#include <fcntl.h>
#include <lmdb.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include <algorithm>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "storage/engine.h"

namespace dynakv::storage {
namespace {

MDB_val ToVal(std::string_view s) { return MDB_val{s.size(), const_cast<char*>(s.data())}; }
std::string_view FromVal(const MDB_val& v) {
  return std::string_view(static_cast<const char*>(v.mv_data), v.mv_size);
}

class LmdbEngine final : public Engine {
 public:
  explicit LmdbEngine(const LmdbOptions& opts) : opts_(opts) {}

  // Shutdown must not lose writes: pending writes are committed and synced whatever the
  // sync mode (even kNone), then the env is closed. An error here can only be logged.
  ~LmdbEngine() override {
    if (!opened_) {
      // Open() failed part-way (e.g. a replay error): the txn holds an arbitrary prefix of
      // the log. Committing it and rotating would delete the rest of the log; the logs stay
      // as they are for the next open.
      CloseEnv();
      if (wal_fd_ >= 0) ::close(wal_fd_);
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
    CloseEnv();
    if (wal_fd_ >= 0) ::close(wal_fd_);
  }

  Status Open() {
    std::error_code ec;
    std::filesystem::create_directories(opts_.dir, ec);
    if (ec) return Status::IOError("cannot create data directory " + opts_.dir + ": " + ec.message());
    long page = sysconf(_SC_PAGESIZE);
    page_bytes_ = page > 0 ? static_cast<uint64_t>(page) : 4096;
    if (Status s = OpenEnv(); !s.ok()) return s;
    if (Status s = RecoverWal(); !s.ok()) return s;
    opened_ = true;
    return Status::OK();
  }

  Status Get(std::string_view key, std::string* value) override {
    if (Status s = CheckKey(key); !s.ok()) return s;
    MDB_txn* txn = write_txn_;
    if (txn == nullptr) {
      if (int rc = EnsureReadTxn(); rc != 0) return Error(rc, "begin read txn");
      txn = read_txn_;
    }
    MDB_val k = ToVal(key), v;
    int rc = mdb_get(txn, dbi_, &k, &v);
    if (rc == MDB_NOTFOUND) return Status::NotFound();
    if (rc != 0) return Error(rc, "get");
    value->assign(static_cast<const char*>(v.mv_data), v.mv_size);
    return Status::OK();
  }

  Status Write(const std::vector<WriteOp>& batch) override {
    std::vector<WriteOp> copy(batch);
    return WriteOwned(std::move(copy));
  }

  Status WriteOwned(std::vector<WriteOp>&& batch) override {
    if (batch.empty()) return Status::OK();
    uint64_t bytes = 0;
    for (const WriteOp& op : batch) {
      if (Status s = CheckKey(op.key); !s.ok()) return s;
      bytes += op.key.size() + op.value.size() + 21;  // kind + two varints, at most
    }
    // One log record holds the batch, and its length field has 31 bits.
    if (bytes >= kRecordBytesMax) {
      return Status::Limit("batch of " + std::to_string(bytes) + " bytes exceeds the " +
                           std::to_string(kRecordBytesMax) + "-byte log record limit");
    }
    int rc = EnsureWriteTxn();
    if (rc == 0) rc = Apply(write_txn_, batch.data(), batch.data() + batch.size());
    if (rc != 0) {
      if (Status s = Recover(batch, rc); !s.ok()) return s;
    }
    if (!replaying_) AppendRecord(batch);
    for (WriteOp& op : batch) {
      txn_bytes_ += op.key.size() + op.value.size();
      pending_.push_back(std::move(op));
    }
    if (opts_.sync == SyncMode::kAlways && !replaying_) return Commit();
    return Status::OK();
  }

  Status Scan(std::string_view start, std::string_view end, size_t limit,
              const std::function<bool(std::string_view, std::string_view)>& visit) override {
    MDB_txn* txn = write_txn_;
    if (txn == nullptr) {
      if (int rc = EnsureReadTxn(); rc != 0) return Error(rc, "begin read txn");
      txn = read_txn_;
    }
    MDB_cursor* cur = nullptr;
    if (int rc = mdb_cursor_open(txn, dbi_, &cur); rc != 0) return Error(rc, "cursor open");
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
    while (rc == 0) {
      std::string_view key = FromVal(k);
      if (!end.empty() && key >= end) break;
      if (!visit(key, FromVal(v))) break;
      if (limit != 0 && ++seen >= limit) break;
      rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }
    mdb_cursor_close(cur);
    if (rc != 0 && rc != MDB_NOTFOUND) return Error(rc, "scan");
    return Status::OK();
  }

  Status Commit() override {
    if (!lost_.ok()) {
      // Unacknowledged pending writes were lost while rebuilding the txn (see Recover);
      // report it now, when the caller would otherwise acknowledge them.
      // Writes made since then are in the same unacknowledged group: drop them too, or they
      // would stay visible (and reach LMDB at the next checkpoint) after this error.
      Status s = std::move(lost_);
      lost_ = Status::OK();
      return DropUnlogged(std::move(s));
    }
    if (wal_buf_.empty()) return Status::OK();
    Status s = AppendWal();
    if (!s.ok()) {
      return DropUnlogged(std::move(s));
    }
    wal_buf_.clear();
    acked_ops_ = written_ops_ = pending_.size();
    ++commits_;
    if (txn_bytes_ >= kCheckpointTxnBytes || pending_.size() >= kCheckpointOps ||
        wal_bytes_ >= kCheckpointWalBytes) {
      // Acknowledged writes are already durable in the log; a failed checkpoint is retried.
      if (Status c = CheckpointTxn(); !c.ok()) ++checkpoint_failures_;
    }
    return Status::OK();
  }

  // The ops not yet in the log were never acknowledged: take them back out of the txn,
  // keeping the logged prefix, and report `why`.
  Status DropUnlogged(Status why) {
    wal_buf_.clear();
    pending_.resize(written_ops_);
    RestorePending();
    return why;
  }

  Status Checkpoint() override {
    // The in-flight fdatasync uses the current log's descriptor; rotating now would close it.
    if (sync_in_flight_) return Status::OK();
    if (!wal_buf_.empty()) {
      if (Status s = Commit(); !s.ok()) return s;
    }
    return CheckpointTxn();
  }

  // The checkpoint proper. Ops applied but not yet logged (wal_buf_) are committed into LMDB
  // with the rest; they stay in wal_buf_ and reach the next log generation with the next
  // Commit, which is what acknowledges them (replaying them then is harmless). Not calling
  // Commit here keeps a commit from happening behind the caller's group-commit bookkeeping.
  Status CheckpointTxn() {
    if (sync_in_flight_) return Status::OK();
    if (write_txn_ == nullptr) {
      if (wal_fd_ < 0 || (wal_bytes_ > 0 && pending_.empty())) return RotateWal();
      return Status::OK();
    }
    int rc = mdb_txn_commit(write_txn_);
    write_txn_ = nullptr;  // commit frees the txn whatever it returns
    // Saving the freelist at commit can itself need a page: grow, rebuild, commit again.
    while (rc == MDB_MAP_FULL && Grow()) {
      rc = Replay();
      if (rc == 0 && write_txn_ != nullptr) {
        rc = mdb_txn_commit(write_txn_);
        write_txn_ = nullptr;
      }
    }
    if (rc != 0) {
      // The log still holds every op; rebuild the txn so reads stay right, retry later.
      RestorePending();
      return Error(rc, "checkpoint commit");
    }
    ResetReadTxn();
    pending_.clear();
    acked_ops_ = written_ops_ = 0;
    ++pending_epoch_;
    txn_bytes_ = 0;
    ++checkpoints_;
    return RotateWal();
  }

  bool HasPending() const override { return !wal_buf_.empty() || !lost_.ok(); }

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

 private:
  Status OpenEnv() {
    int rc = mdb_env_create(&env_);
    if (rc != 0) return Error(rc, "create env");
    uint64_t map = RoundUp(opts_.map_size_bytes);
    if ((rc = mdb_env_set_mapsize(env_, map)) != 0) return FailOpen(rc, "set map size");
    // Checkpoints use LMDB's own two-phase synced commit (data pages, then the meta page):
    // MDB_NOSYNC followed by a later fsync could let the meta page reach the disk before
    // the pages it points to. sync = none gives that up on purpose.
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
    AbortWriteTxn();
    if (read_txn_ != nullptr) mdb_txn_abort(read_txn_);
    read_txn_ = nullptr;
    read_live_ = false;
    mdb_env_close(env_);
    env_ = nullptr;
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
    if (rc == MDB_MAP_RESIZED) {  // another process grew the map; adopt its size
      mdb_env_set_mapsize(env_, 0);
      rc = read_txn_ == nullptr ? mdb_txn_begin(env_, nullptr, MDB_RDONLY, &read_txn_)
                                : mdb_txn_renew(read_txn_);
    }
    if (rc == MDB_PANIC && (rc = ReopenAfterPanic()) == 0) {
      rc = mdb_txn_begin(env_, nullptr, MDB_RDONLY, &read_txn_);
    }
    if (rc == 0) read_live_ = true;
    return rc;
  }

  void ResetReadTxn() {
    if (read_live_) mdb_txn_reset(read_txn_);
    read_live_ = false;
  }

  int EnsureWriteTxn() {
    if (write_txn_ != nullptr) return 0;
    if (env_ == nullptr) return MDB_PANIC;
    // Release the old snapshot so the write txn can reuse the pages it pins.
    ResetReadTxn();
    int rc = mdb_txn_begin(env_, nullptr, 0, &write_txn_);
    if (rc == MDB_MAP_RESIZED) {
      mdb_env_set_mapsize(env_, 0);
      rc = mdb_txn_begin(env_, nullptr, 0, &write_txn_);
    }
    if (rc == MDB_PANIC && (rc = ReopenAfterPanic()) == 0) {
      rc = mdb_txn_begin(env_, nullptr, 0, &write_txn_);
    }
    if (rc != 0) write_txn_ = nullptr;
    return rc;
  }

  void AbortWriteTxn() {
    if (write_txn_ != nullptr) mdb_txn_abort(write_txn_);
    write_txn_ = nullptr;
  }

  int Apply(MDB_txn* txn, const WriteOp* begin, const WriteOp* end) {
    for (const WriteOp* op = begin; op != end; ++op) {
      MDB_val k = ToVal(op->key);
      int rc;
      if (op->kind == WriteOp::Kind::kPut) {
        MDB_val v = ToVal(op->value);
        rc = mdb_put(txn, dbi_, &k, &v, 0);
      } else {
        rc = mdb_del(txn, dbi_, &k, nullptr);
        if (rc == MDB_NOTFOUND) rc = 0;  // deleting a missing key is not an error
      }
      if (rc != 0) return rc;
    }
    return 0;
  }

  // Rebuilds the write txn to hold exactly pending_ (no txn at all when pending_ is
  // empty, so HasPending stays honest). Returns an LMDB error code.
  int Replay() {
    AbortWriteTxn();
    if (pending_.empty()) return 0;
    int rc = EnsureWriteTxn();
    if (rc == 0) rc = Apply(write_txn_, pending_.data(), pending_.data() + pending_.size());
    if (rc != 0) AbortWriteTxn();
    return rc;
  }

  // Rebuilds the txn with pending_ alone after a failure, growing the map if that is what
  // it takes. If even that fails the pending writes are gone: remember it for Commit.
  void RestorePending() {
    int rc;
    while ((rc = Replay()) == MDB_MAP_FULL && Grow()) {
    }
    if (rc != 0) {
      // Acknowledged ops are durable in the log but could not be put back into the txn:
      // serving reads without them would show lost writes. Stop; recovery replays the log.
      if (written_ops_ > 0) {
        std::fprintf(stderr, "dynakv: storage: cannot rebuild acknowledged writes in %s (%s); "
                     "exiting so that recovery replays the write-ahead log\n",
                     opts_.dir.c_str(), mdb_strerror(rc));
        std::abort();
      }
      pending_.clear();
      if (lost_.ok()) lost_ = Error(rc, "rebuild pending writes");
    }
  }

  // `batch` failed with `rc` in the open txn (which LMDB now refuses to use). Retries it
  // on top of the replayed pending writes after growing the map (MAP_FULL) or committing
  // the earlier writes (TXN_FULL: too many dirty pages in one txn). On OK the batch is
  // applied in write_txn_ but not yet appended to pending_. On error the batch is not
  // applied and the earlier pending writes are.
  Status Recover(const std::vector<WriteOp>& batch, int rc) {
    for (;;) {
      AbortWriteTxn();
      if (rc == MDB_MAP_FULL) {
        if (!Grow()) {
          Status s = Status::NoSpace("LMDB map in " + opts_.dir + " is full at " +
                                     std::to_string(MapSize()) + " bytes (map_size_max_bytes " +
                                     std::to_string(opts_.map_size_max_bytes) + ")");
          RestorePending();
          return s;
        }
      } else if (rc == MDB_TXN_FULL && !pending_.empty()) {
        // Commit the earlier writes early (without fsync: Commit() will sync them, and
        // they are not acknowledged before it), then retry the batch on its own.
        RestorePending();
        if (write_txn_ != nullptr) {
          int crc = mdb_txn_commit(write_txn_);
          write_txn_ = nullptr;
          if (crc != 0) {
            RestorePending();  // aborts if acknowledged ops cannot be rebuilt
            return Error(crc, "early commit");
          }
          // These ops are now in LMDB; the unlogged tail of them stays in wal_buf_ and is
          // logged by the next Commit (replaying it over this state is harmless).
          pending_.clear();
          acked_ops_ = written_ops_ = 0;
          ++pending_epoch_;
          txn_bytes_ = 0;
        }
      } else {
        Status s = rc == MDB_TXN_FULL
                       ? Status::Limit("batch of " + std::to_string(batch.size()) +
                                       " ops dirties more pages than one LMDB txn holds")
                       : Error(rc, "write");
        RestorePending();
        return s;
      }
      rc = Replay();
      if (rc == 0) rc = EnsureWriteTxn();
      if (rc == 0) rc = Apply(write_txn_, batch.data(), batch.data() + batch.size());
      if (rc == 0) return Status::OK();
    }
  }

  uint64_t MapSize() const {
    MDB_envinfo info;
    return env_ != nullptr && mdb_env_info(env_, &info) == 0 ? info.me_mapsize : 0;
  }

  // Doubles the map, capped at map_size_max_bytes. False when it cannot grow. No txn may
  // be live in this process while the map is remapped.
  bool Grow() {
    uint64_t cur = MapSize();
    uint64_t max = opts_.map_size_max_bytes / page_bytes_ * page_bytes_;
    if (cur == 0 || cur >= max) return false;
    uint64_t next = cur * 2 < max ? cur * 2 : max;
    AbortWriteTxn();
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

  static constexpr uint64_t kCheckpointTxnBytes = 64ull << 20;
  static constexpr size_t kCheckpointOps = 200000;
  static constexpr uint64_t kCheckpointWalBytes = 256ull << 20;
  static constexpr uint32_t kRecordBytesMax = 1u << 31;
  static constexpr uint64_t kRecycleBytesMax = 64ull << 20;
  static constexpr uint64_t kPreallocBytes = 16ull << 20;

  static void PutVarint(std::string* out, uint64_t v) {
    while (v >= 0x80) {
      out->push_back(static_cast<char>(v | 0x80));
      v >>= 7;
    }
    out->push_back(static_cast<char>(v));
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

  void AppendRecord(const std::vector<WriteOp>& batch) {
    size_t at = wal_buf_.size();
    wal_buf_.append(8, '\0');
    PutVarint(&wal_buf_, batch.size());
    for (const WriteOp& op : batch) {
      wal_buf_.push_back(op.kind == WriteOp::Kind::kPut ? 'P' : 'D');
      PutVarint(&wal_buf_, op.key.size());
      wal_buf_.append(op.key);
      PutVarint(&wal_buf_, op.value.size());
      wal_buf_.append(op.value);
    }
    size_t len = wal_buf_.size() - at - 8;
    PutU32(&wal_buf_[at], static_cast<uint32_t>(len) | kXxh3Flag);
    PutU32(&wal_buf_[at + 4], PayloadSum(wal_buf_.data() + at + 8, len));
  }

  static bool DecodeRecord(std::string_view payload, std::vector<WriteOp>* ops) {
    uint64_t n;
    if (!GetVarint(&payload, &n) || n > payload.size()) return false;
    ops->clear();
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

  Status SyncDir() {
    int dfd = ::open(opts_.dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) return Status::IOError("open " + opts_.dir + ": " + std::strerror(errno));
    int rc = ::fsync(dfd);
    ::close(dfd);
    if (rc != 0) return Status::IOError("fsync " + opts_.dir + ": " + std::strerror(errno));
    return Status::OK();
  }

  // Writes wal_buf_ at the end of the log and makes it durable. On failure the log is cut
  // back to its last good length so later records stay reachable.
  Status AppendWal() {
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

  // Writes wal_buf_ at the end of the log (no fsync). On failure the log is cut back to its
  // last good length so later records stay reachable.
  // Records are checksummed with their log generation mixed in, so when a log file is
  // recycled (see RotateWal) the stale records of its previous life behind the write
  // position fail the check and end recovery there.
  static uint32_t GenMix(uint64_t gen) {
    return static_cast<uint32_t>((gen * 0x9E3779B97F4A7C15ull) >> 32) | 1u;
  }

  Status WriteWal() {
    if (wal_fd_ < 0) return Status::IOError("write-ahead log in " + opts_.dir + " is not open");
    uint32_t mix = GenMix(wal_gen_);
    for (size_t at = 0; at + 8 <= wal_buf_.size();) {
      uint32_t len = GetU32(&wal_buf_[at]) & ~kXxh3Flag;
      PutU32(&wal_buf_[at + 4], GetU32(&wal_buf_[at + 4]) ^ mix);
      at += 8 + len;
    }
    const char* p = wal_buf_.data();
    size_t left = wal_buf_.size();
    uint64_t off = wal_bytes_;
    while (left > 0) {
      ssize_t n = ::pwrite(wal_fd_, p, left, static_cast<off_t>(off));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        int err = n < 0 ? errno : ENOSPC;
        if (::ftruncate(wal_fd_, static_cast<off_t>(wal_bytes_)) != 0) {}
        return ErrnoStatus(err, "write-ahead log write");
      }
      p += n;
      left -= static_cast<size_t>(n);
      off += static_cast<uint64_t>(n);
    }
    wal_pending_bytes_ = off - wal_bytes_;
    wal_bytes_ = off;
    return Status::OK();
  }

 public:
  // Asynchronous group commit: the loop thread writes the log, a worker thread fsyncs it,
  // and FinishCommit (loop thread) marks the ops acknowledged. One ticket at a time.
  Result<CommitTicket> BeginCommit() override {
    DKV_ASSERT(!sync_in_flight_);
    if (!lost_.ok() || wal_buf_.empty() || opts_.sync != SyncMode::kBatch) {
      Status s = Commit();
      if (!s.ok()) return s;
      return CommitTicket{};
    }
    Status s = WriteWal();
    if (!s.ok()) return DropUnlogged(std::move(s));
    wal_buf_.clear();
    written_ops_ = pending_.size();
    CommitTicket t;
    t.fd = wal_fd_;
    t.needs_sync = true;
    t.ops = written_ops_;
    t.epoch = pending_epoch_;
    sync_in_flight_ = true;
    ++syncs_;
    return t;
  }

  void FinishCommit(const CommitTicket& t, const Status& sync_status) override {
    if (!t.needs_sync) return;
    sync_in_flight_ = false;
    if (!sync_status.ok()) {
      // After a failed fsync the page cache may have dropped the dirty pages and a retry
      // could report success for data that is gone (PostgreSQL's "fsyncgate"). Nothing of
      // this batch was acknowledged; restart and let recovery replay what the log holds.
      std::fprintf(stderr, "dynakv: storage: write-ahead log fsync failed in %s: %s; exiting so "
                   "that recovery replays the log\n", opts_.dir.c_str(), sync_status.ToString().c_str());
      std::abort();
    }
    // If an LMDB commit emptied pending_ meanwhile (a forced early commit is synced), those
    // ops are durable anyway.
    if (t.epoch == pending_epoch_) acked_ops_ = std::max(acked_ops_, std::min(t.ops, pending_.size()));
    ++commits_;
    if (txn_bytes_ >= kCheckpointTxnBytes || pending_.size() >= kCheckpointOps ||
        wal_bytes_ >= kCheckpointWalBytes) {
      if (Status c = CheckpointTxn(); !c.ok()) ++checkpoint_failures_;
    }
  }

 private:
  Status ErrnoStatus(int err, const char* what) const {
    std::string msg = std::string(what) + " in " + opts_.dir + ": " + std::strerror(err);
    if (err == ENOSPC || err == EFBIG || err == EDQUOT) return Status::NoSpace(msg);
    return Status::IOError(msg);
  }

  // Starts log generation wal_gen_ + 1 (durably created) and deletes the older ones, whose
  // ops the last checkpoint made durable in LMDB.
  Status RotateWal(bool delete_old = true) {
    uint64_t next = wal_gen_ + 1;
    if (delete_old && wal_fd_ >= 0 && opts_.sync != SyncMode::kNone) {
      // Recycle the checkpointed log as the next generation: overwriting blocks the file
      // already has makes each fdatasync flush data only, not the file size (measured here:
      // about half the time of an append). Its old records fail the next generation's
      // checksum. A file grown past kRecycleBytesMax is cut back first.
      if (std::rename(WalPath(wal_gen_).c_str(), WalPath(next).c_str()) == 0) {
        struct stat st;
        if (::fstat(wal_fd_, &st) == 0 && static_cast<uint64_t>(st.st_size) > kRecycleBytesMax) {
          if (::ftruncate(wal_fd_, static_cast<off_t>(kRecycleBytesMax)) != 0) {}
        }
        if (Status s = SyncDir(); !s.ok()) return s;
        wal_gen_ = next;
        wal_bytes_ = 0;
        for (const auto& [gen, path] : ListWal()) {
          if (gen < next) std::filesystem::remove(path);
        }
        return Status::OK();
      }
    }
    int fd = ::open(WalPath(next).c_str(), O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return ErrnoStatus(errno, "create write-ahead log");
    if (opts_.sync == SyncMode::kBatch) Preallocate(fd);
    if (opts_.sync != SyncMode::kNone) {
      if (Status s = SyncDir(); !s.ok()) {
        ::close(fd);
        return s;
      }
    }
    if (wal_fd_ >= 0) ::close(wal_fd_);
    wal_fd_ = fd;
    wal_gen_ = next;
    wal_bytes_ = 0;
    if (!delete_old) return Status::OK();
    for (const auto& [gen, path] : ListWal()) {
      if (gen < next) std::filesystem::remove(path);
    }
    return Status::OK();
  }

  // Writes zeros over the first kPreallocBytes of a new log, so the group commits of its
  // first generation overwrite allocated blocks too (see RotateWal). Zeros are not a valid
  // record. Best effort: on any error the log simply grows by appending.
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

  // Replays every log generation left by the previous run, then checkpoints.
  Status RecoverWal() {
    auto files = ListWal();
    replaying_ = true;
    std::vector<WriteOp> ops;
    uint64_t replayed = 0;
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
        if (Status s = Write(ops); !s.ok()) {
          ::close(fd);
          replaying_ = false;
          return Status(s.code(), "replaying write-ahead log " + path + ": " + s.message());
        }
        ++replayed;
      }
      ::close(fd);
    }
    replaying_ = false;
    acked_ops_ = written_ops_ = pending_.size();
    // Checkpoint commits the replayed ops and rotates to a fresh log (deleting the old).
    // If it cannot (a full map), the engine still opens: the replayed ops stay in the open
    // txn, the old logs stay on disk, and new writes go to a new generation after them.
    Status s = Checkpoint();
    if (s.ok()) return s;
    ++checkpoint_failures_;
    std::fprintf(stderr, "dynakv: storage: checkpoint after recovery failed, keeping the log: %s\n",
                 s.ToString().c_str());
    return wal_fd_ >= 0 ? Status::OK() : RotateWal(/*delete_old=*/false);
  }

  LmdbOptions opts_;
  uint64_t page_bytes_ = 4096;
  size_t max_key_bytes_ = kKeyBytesMax;
  MDB_env* env_ = nullptr;
  MDB_dbi dbi_ = 0;
  MDB_txn* write_txn_ = nullptr;   // the open group-commit txn, or null
  MDB_txn* read_txn_ = nullptr;    // cached read-only txn, live or reset
  bool read_live_ = false;
  std::vector<WriteOp> pending_;   // every op applied in write_txn_, for replay
  size_t acked_ops_ = 0;           // prefix of pending_ that is durable in the log
  size_t written_ops_ = 0;         // prefix of pending_ written to the log (maybe not synced)
  uint64_t pending_epoch_ = 0;     // bumped whenever pending_ is emptied by an LMDB commit
  bool sync_in_flight_ = false;    // a BeginCommit ticket awaits FinishCommit
  uint64_t txn_bytes_ = 0;         // key+value bytes in the open txn (checkpoint trigger)
  std::string wal_buf_;            // records not yet written to the log
  int wal_fd_ = -1;
  uint64_t wal_gen_ = 0;
  uint64_t wal_bytes_ = 0;         // written length of the current log
  uint64_t wal_pending_bytes_ = 0; // bytes of the last WriteWal (cut off if its fsync fails)
  bool replaying_ = false;
  bool opened_ = false;            // Open() succeeded: the destructor may commit and checkpoint
  uint64_t checkpoints_ = 0;
  uint64_t checkpoint_failures_ = 0;
  Status lost_;                    // pending writes lost while rebuilding; Commit reports it
  uint64_t commits_ = 0;
  uint64_t syncs_ = 0;
};

}  // namespace

Result<std::unique_ptr<Engine>> OpenLmdb(const LmdbOptions& opts) {
  auto engine = std::make_unique<LmdbEngine>(opts);
  if (Status s = engine->Open(); !s.ok()) return s;
  return std::unique_ptr<Engine>(std::move(engine));
}

}  // namespace dynakv::storage
