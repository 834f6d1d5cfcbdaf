// storage/lmdb_engine.cc: the LMDB-backed Engine, the default on a real node.
//
// Layout: one environment in LmdbOptions::dir, its one unnamed database, keys in LMDB's
// default memcmp order (which is the Engine's order). The env is opened with MDB_NOSYNC
// (we fsync ourselves, once per group commit), MDB_NOTLS (our cached read txn is not tied
// to a thread-local reader slot) and MDB_NORDAHEAD (random point reads; readahead only
// pollutes the page cache).
//
// Group commit: one write txn is opened lazily by the first Write after a Commit and stays
// open until the next Commit, so a loop iteration's writes share one commit and one fsync.
// Every op applied in that txn is also kept in `pending_`: when LMDB fails mid-batch the
// txn is unusable and must be aborted, and the pending list lets us rebuild it exactly
// (replay), either in a grown map (MDB_MAP_FULL) or without the failing batch. This is
// also how a failed batch leaves nothing behind without the cost of a nested txn per Write
// (LMDB mallocs a ~2 MB dirty list for every child txn).
//
// Reads: through the open write txn when there is one (pending writes are visible), else
// through one cached read-only txn. That txn stays live across Gets and is only reset when
// the committed state changes (a write txn begins) or the map is resized, so a GET costs
// one mdb_get plus a copy, and one mdb_txn_renew after each commit.
//
// Thread-safety: none (see engine.h).
#include <lmdb.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
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
    if (env_ == nullptr) return;
    if (Status s = Commit(); !s.ok()) {
      std::fprintf(stderr, "dynakv: storage: final commit failed: %s\n", s.ToString().c_str());
    }
    if (env_ != nullptr && opts_.sync == SyncMode::kNone) mdb_env_sync(env_, 1);
    CloseEnv();
  }

  Status Open() {
    std::error_code ec;
    std::filesystem::create_directories(opts_.dir, ec);
    if (ec) return Status::IOError("cannot create data directory " + opts_.dir + ": " + ec.message());
    long page = sysconf(_SC_PAGESIZE);
    page_bytes_ = page > 0 ? static_cast<uint64_t>(page) : 4096;
    return OpenEnv();
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
    if (batch.empty()) return Status::OK();
    for (const WriteOp& op : batch) {
      if (Status s = CheckKey(op.key); !s.ok()) return s;
    }
    int rc = EnsureWriteTxn();
    if (rc == 0) rc = Apply(write_txn_, batch.data(), batch.data() + batch.size());
    if (rc != 0) {
      if (Status s = Recover(batch, rc); !s.ok()) return s;
    }
    pending_.insert(pending_.end(), batch.begin(), batch.end());
    if (opts_.sync == SyncMode::kAlways) return Commit();
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
      // Pending writes were lost while rebuilding the txn (see Recover); report it now,
      // when the caller would otherwise acknowledge them.
      Status s = std::move(lost_);
      lost_ = Status::OK();
      AbortWriteTxn();
      pending_.clear();
      unsynced_ = false;
      return s;
    }
    if (write_txn_ != nullptr) {
      int rc = mdb_txn_commit(write_txn_);
      write_txn_ = nullptr;  // commit frees the txn whatever it returns
      // Saving the freelist at commit can itself need a page: grow, rebuild, commit again.
      while (rc == MDB_MAP_FULL && Grow()) {
        rc = Replay();
        if (rc == 0) {
          rc = mdb_txn_commit(write_txn_);
          write_txn_ = nullptr;
        }
      }
      pending_.clear();
      if (rc != 0) {
        unsynced_ = false;
        return Error(rc, "commit");
      }
      ResetReadTxn();  // the committed state changed; the next read renews
      ++commits_;
      unsynced_ = true;
    }
    if (!unsynced_) return Status::OK();
    unsynced_ = false;
    if (opts_.sync == SyncMode::kNone) return Status::OK();
    ++syncs_;
    // The commit is in the file but not durable; it was never acknowledged, so failing
    // here is safe to report as "maybe applied".
    if (int rc = mdb_env_sync(env_, 1); rc != 0) return Error(rc, "fsync");
    return Status::OK();
  }

  bool HasPending() const override {
    return write_txn_ != nullptr || unsynced_ || !lost_.ok();
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
    return st;
  }

 private:
  Status OpenEnv() {
    int rc = mdb_env_create(&env_);
    if (rc != 0) return Error(rc, "create env");
    uint64_t map = RoundUp(opts_.map_size_bytes);
    if ((rc = mdb_env_set_mapsize(env_, map)) != 0) return FailOpen(rc, "set map size");
    rc = mdb_env_open(env_, opts_.dir.c_str(), MDB_NOSYNC | MDB_NOTLS | MDB_NORDAHEAD, 0644);
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

  // Begins a fresh write txn holding exactly pending_. Returns an LMDB error code.
  int Replay() {
    AbortWriteTxn();
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
          pending_.clear();
          if (crc != 0) {
            if (lost_.ok()) lost_ = Error(crc, "early commit");
          } else {
            ++commits_;
            unsynced_ = true;
          }
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

  LmdbOptions opts_;
  uint64_t page_bytes_ = 4096;
  size_t max_key_bytes_ = kKeyBytesMax;
  MDB_env* env_ = nullptr;
  MDB_dbi dbi_ = 0;
  MDB_txn* write_txn_ = nullptr;   // the open group-commit txn, or null
  MDB_txn* read_txn_ = nullptr;    // cached read-only txn, live or reset
  bool read_live_ = false;
  std::vector<WriteOp> pending_;   // every op applied in write_txn_, for replay
  bool unsynced_ = false;          // committed to the file but not yet fsynced
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
