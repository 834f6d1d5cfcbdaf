// tests/unit/storage_lmdb_test.cc: LmdbEngine specifics: durability across reopen and
// SIGKILL, map growth, a full map, a full disk (via RLIMIT_FSIZE), and throughput numbers.
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "storage/engine.h"
#include "tests/unit/storage_test_util.h"

namespace dynakv::storage {
namespace {

using testing::Key;
using testing::TempDir;

std::unique_ptr<Engine> MustOpen(const LmdbOptions& o) {
  auto r = OpenLmdb(o);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? std::move(r.value()) : nullptr;
}

LmdbOptions Opts(const std::string& dir, SyncMode sync = SyncMode::kBatch) {
  LmdbOptions o;
  o.dir = dir;
  o.sync = sync;
  return o;
}

std::optional<std::string> Read(Engine& e, std::string_view key) {
  std::string v;
  Status s = e.Get(key, &v);
  if (s.IsNotFound()) return std::nullopt;
  EXPECT_TRUE(s.ok()) << s.ToString();
  return v;
}

std::string Value(int i, size_t bytes) {
  std::string v = std::to_string(i) + ":";
  v.resize(bytes, static_cast<char>('a' + i % 26));
  return v;
}

TEST(LmdbEngine, CreatesMissingDirectory) {
  TempDir d;
  auto e = MustOpen(Opts(d.Sub("a/b/c")));
  ASSERT_NE(e, nullptr);
  ASSERT_TRUE(e->Put("k", "v").ok());
  ASSERT_TRUE(e->Commit().ok());
}

TEST(LmdbEngine, OpenErrorNamesDirectory) {
  TempDir d;
  std::ofstream(d.Sub("file")) << "not a directory";
  auto r = OpenLmdb(Opts(d.Sub("file/db")));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find(d.Sub("file/db")), std::string::npos)
      << r.status().ToString();
}

TEST(LmdbEngine, CloseCommitsPendingAndReopenSeesIt) {
  TempDir d;
  {
    auto e = MustOpen(Opts(d.path()));
    ASSERT_TRUE(e->Put("committed", "1").ok());
    ASSERT_TRUE(e->Commit().ok());
    ASSERT_TRUE(e->Put("pending", "2").ok());
    ASSERT_TRUE(e->Delete("committed").ok());
  }  // the destructor commits and syncs: a clean shutdown loses nothing
  auto e = MustOpen(Opts(d.path()));
  EXPECT_EQ(Read(*e, "pending"), "2");
  EXPECT_EQ(Read(*e, "committed"), std::nullopt);
}

TEST(LmdbEngine, GetAfterCommitSeesNewSnapshot) {
  // The cached read txn must not serve a stale snapshot after a commit.
  TempDir d;
  auto e = MustOpen(Opts(d.path()));
  ASSERT_TRUE(e->Put("k", "1").ok());
  ASSERT_TRUE(e->Commit().ok());
  EXPECT_EQ(Read(*e, "k"), "1");
  ASSERT_TRUE(e->Put("k", "2").ok());
  EXPECT_EQ(Read(*e, "k"), "2");
  ASSERT_TRUE(e->Commit().ok());
  EXPECT_EQ(Read(*e, "k"), "2");
  ASSERT_TRUE(e->Delete("k").ok());
  ASSERT_TRUE(e->Commit().ok());
  EXPECT_EQ(Read(*e, "k"), std::nullopt);
}

TEST(LmdbEngine, MapGrowsAndEverythingSurvivesReopen) {
  TempDir d;
  LmdbOptions o = Opts(d.path());
  o.map_size_bytes = 64 << 10;
  const int kKeys = 6000;
  const size_t kValueBytes = 1000;  // ~6 MB in all, ~100x the initial map
  uint64_t first_map = 0;
  {
    auto e = MustOpen(o);
    first_map = e->Stats().map_size;
    EXPECT_EQ(first_map, 64u << 10);
    for (int i = 0; i < kKeys; ++i) {
      ASSERT_TRUE(e->Put(Key(i), Value(i, kValueBytes)).ok()) << i;
      // Mostly 50-op group commits, but one long uncommitted stretch so the map fills
      // while many writes are pending and must be replayed into the grown map.
      if (i % 50 == 49 && (i < 2000 || i > 4500)) {
        ASSERT_TRUE(e->Commit().ok());
      }
      if (i % 500 == 0) {
        ASSERT_EQ(Read(*e, Key(i / 2)), Value(i / 2, kValueBytes));
      }
    }
    ASSERT_TRUE(e->Commit().ok());
    ASSERT_TRUE(e->Checkpoint().ok());  // fold the write-ahead log into LMDB
    EngineStats st = e->Stats();
    EXPECT_GE(st.map_size, 8u << 20);
    EXPECT_GE(st.used_bytes, kKeys * kValueBytes);
    EXPECT_LE(st.used_bytes, st.map_size);
  }
  auto e = MustOpen(o);  // the small configured size is superseded by the file's
  EXPECT_GE(e->Stats().map_size, 8u << 20);
  int n = 0;
  ASSERT_TRUE(e->Scan("", "", 0, [&](std::string_view k, std::string_view v) {
                 EXPECT_EQ(k, Key(n));
                 EXPECT_EQ(v, Value(n, kValueBytes));
                 ++n;
                 return true;
               }).ok());
  EXPECT_EQ(n, kKeys);
}

// The map fills up at a checkpoint (writes go to the log and the memtable first): what was
// acknowledged stays readable, new data is refused with NoSpace until deletes make room,
// and nothing is lost across a reopen with the same or a larger limit.
TEST(LmdbEngine, FullMapReturnsNoSpaceAndLosesNothing) {
  TempDir d;
  LmdbOptions o = Opts(d.path());
  o.map_size_bytes = 64 << 10;
  o.map_size_max_bytes = 512 << 10;
  auto e = MustOpen(o);
  const size_t kValueBytes = 2000;
  int committed = 0;
  Status s;
  for (int i = 0; i < 1000; ++i) {
    s = e->Put(Key(i), Value(i, kValueBytes));
    if (!s.ok()) break;
    s = e->Commit();
    if (!s.ok()) break;
    committed = i + 1;
    if (i % 10 == 9 && !(s = e->Checkpoint()).ok()) break;
  }
  ASSERT_EQ(s.code(), Code::kNoSpace) << s.ToString();
  EXPECT_NE(s.message().find(d.path()), std::string::npos) << s.message();
  EXPECT_GT(committed, 50);
  EXPECT_FALSE(e->HasPending());
  EXPECT_EQ(e->Stats().map_size, 512u << 10);
  for (int i = 0; i < committed; ++i) {
    ASSERT_EQ(Read(*e, Key(i)), Value(i, kValueBytes)) << i;
  }
  // Full: new data is refused (nothing of the batch applied), deletes are accepted (LMDB
  // itself needs free pages even to delete, so the remedy for a full map is a larger limit).
  std::vector<WriteOp> big;
  for (int i = 0; i < 3; ++i) big.push_back({WriteOp::Kind::kPut, "big" + Key(i), Value(i, kValueBytes)});
  EXPECT_EQ(e->Write(big).code(), Code::kNoSpace);
  EXPECT_EQ(Read(*e, "big" + Key(0)), std::nullopt);
  EXPECT_FALSE(e->HasPending());
  for (int i = 0; i < 40; ++i) ASSERT_TRUE(e->Delete(Key(i)).ok());
  ASSERT_TRUE(e->Commit().ok());
  for (int i = 0; i < 40; ++i) ASSERT_EQ(Read(*e, Key(i)), std::nullopt) << i;

  // Reopen with the same limit, then with a larger one: the same data both times; with
  // room to grow the checkpoint succeeds and new data is accepted again.
  for (uint64_t max : {uint64_t(512) << 10, uint64_t(8) << 20}) {
    e.reset();
    o.map_size_max_bytes = max;
    e = MustOpen(o);
    ASSERT_NE(e, nullptr);
    EXPECT_EQ(Read(*e, "big" + Key(0)), std::nullopt);
    for (int i = 0; i < 40; ++i) ASSERT_EQ(Read(*e, Key(i)), std::nullopt) << i;
    for (int i = 40; i < committed; ++i) {
      ASSERT_EQ(Read(*e, Key(i)), Value(i, kValueBytes)) << i;
    }
  }
  EXPECT_TRUE(e->Checkpoint().ok());
  ASSERT_TRUE(e->Put("small-1", "a").ok());
  ASSERT_TRUE(e->Commit().ok());
  ASSERT_TRUE(e->Checkpoint().ok());
  EXPECT_EQ(Read(*e, "small-1"), "a");
}

// A full disk, simulated with a file-size limit: LMDB's page writes fail at commit.
TEST(LmdbEngine, FullDiskAtCommitIsReportedAndEngineStaysUsable) {
  TempDir d;
  LmdbOptions o = Opts(d.path());
  o.map_size_bytes = 64 << 20;
  auto e = MustOpen(o);
  const size_t kValueBytes = 1000;
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE(e->Put(Key(i), Value(i, kValueBytes)).ok());
  }
  ASSERT_TRUE(e->Commit().ok());

  rlimit old_limit;
  ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &old_limit), 0);
  auto old_handler = signal(SIGXFSZ, SIG_IGN);  // get EFBIG instead of being killed
  rlimit tight = old_limit;
  tight.rlim_cur = 1 << 20;
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &tight), 0);
  int committed = 100;
  Status s;
  for (int i = 100; i < 5000; i += 50) {
    for (int j = i; j < i + 50; ++j) {
      ASSERT_TRUE(e->Put(Key(j), Value(j, kValueBytes)).ok());
    }
    s = e->Commit();
    if (!s.ok()) break;
    committed = i + 50;
  }
  // A write that fails part-way comes back from LMDB as EIO, a refused one as EFBIG.
  EXPECT_TRUE(s.code() == Code::kNoSpace || s.code() == Code::kIOError) << s.ToString();
  EXPECT_FALSE(e->HasPending());
  for (int i = 0; i < committed; ++i) {
    ASSERT_EQ(Read(*e, Key(i)), Value(i, kValueBytes)) << i;
  }
  EXPECT_EQ(Read(*e, Key(committed)), std::nullopt);  // the failed group is gone

  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &old_limit), 0);
  signal(SIGXFSZ, old_handler);
  // Room again: the engine works without a restart.
  ASSERT_TRUE(e->Put("after", "ok").ok());
  ASSERT_TRUE(e->Commit().ok());
  e.reset();
  e = MustOpen(o);
  EXPECT_EQ(Read(*e, "after"), "ok");
  for (int i = 0; i < committed; ++i) {
    ASSERT_EQ(Read(*e, Key(i)), Value(i, kValueBytes)) << i;
  }
}

// Runs `child` in a forked process that reports progress through a pipe, and SIGKILLs it
// once `kill_after` 4-byte records arrived. Returns every record the child wrote.
std::vector<uint32_t> RunAndKill(int kill_after, const std::function<void(int fd)>& child) {
  int fds[2];
  EXPECT_EQ(pipe(fds), 0);
  pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    child(fds[1]);
    _exit(0);
  }
  close(fds[1]);
  std::vector<uint32_t> got;
  uint32_t rec;
  while (static_cast<int>(got.size()) < kill_after && read(fds[0], &rec, 4) == 4) {
    got.push_back(rec);
  }
  kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  while (read(fds[0], &rec, 4) == 4) got.push_back(rec);  // acks sent before the kill
  close(fds[0]);
  return got;
}

TEST(LmdbEngine, SigkillLosesNoAcknowledgedWriteWithSyncAlways) {
  TempDir d;
  const int kAckedBeforeKill = 300;
  auto acked = RunAndKill(kAckedBeforeKill, [&](int fd) {
    auto r = OpenLmdb(Opts(d.path(), SyncMode::kAlways));
    if (!r.ok()) _exit(2);
    for (uint32_t i = 0; i < 1000000; ++i) {
      if (!r.value()->Put(Key(i), Value(i, 100)).ok()) _exit(3);
      if (write(fd, &i, 4) != 4) _exit(4);  // acknowledged only after the sync
    }
  });
  ASSERT_GE(static_cast<int>(acked.size()), kAckedBeforeKill);
  auto e = MustOpen(Opts(d.path()));
  for (uint32_t i : acked) {
    ASSERT_EQ(Read(*e, Key(i)), Value(i, 100)) << i;
  }
}

TEST(LmdbEngine, SigkillLosesUncommittedWrites) {
  TempDir d;
  auto got = RunAndKill(1, [&](int fd) {
    auto r = OpenLmdb(Opts(d.path(), SyncMode::kBatch));
    if (!r.ok()) _exit(2);
    Engine& e = *r.value();
    if (!e.Put("committed", "1").ok() || !e.Commit().ok()) _exit(3);
    if (!e.Put("pending", "2").ok()) _exit(3);
    uint32_t one = 1;
    if (write(fd, &one, 4) != 4) _exit(4);
    pause();  // killed here, with a write txn open
  });
  ASSERT_EQ(got.size(), 1u);
  auto e = MustOpen(Opts(d.path()));
  EXPECT_EQ(Read(*e, "committed"), "1");
  EXPECT_EQ(Read(*e, "pending"), std::nullopt);
}

// Throughput numbers for the report; run with --gtest_also_run_disabled_tests.
TEST(LmdbEngine, DISABLED_Throughput) {
  TempDir d;
  using Clock = std::chrono::steady_clock;
  auto rate = [](int ops, Clock::time_point t0) {
    return ops / std::chrono::duration<double>(Clock::now() - t0).count();
  };
  for (SyncMode mode : {SyncMode::kBatch, SyncMode::kNone}) {
    TempDir dd;
    auto e = MustOpen(Opts(dd.path(), mode));
    const int kOps = mode == SyncMode::kBatch ? 50000 : 200000;
    auto t0 = Clock::now();
    for (int i = 0; i < kOps; ++i) {
      ASSERT_TRUE(e->Put(Key(i), Value(i, 100)).ok());
      if (i % 50 == 49) {
        ASSERT_TRUE(e->Commit().ok());
      }
    }
    ASSERT_TRUE(e->Commit().ok());
    fflush(stdout);
    printf("put+commit, 50-op groups, 100 B values, sync=%s: %.0f ops/s (%.0f commits/s)\n",
           mode == SyncMode::kBatch ? "batch" : "none", rate(kOps, t0), rate(kOps / 50, t0));
    t0 = Clock::now();
    for (int i = 0; i < kOps; ++i) {  // same keys again: the file does not grow
      ASSERT_TRUE(e->Put(Key(i), Value(i + 1, 100)).ok());
      if (i % 50 == 49) {
        ASSERT_TRUE(e->Commit().ok());
      }
    }
    ASSERT_TRUE(e->Commit().ok());
    printf("  same, overwriting existing keys: %.0f ops/s\n", rate(kOps, t0));
    fflush(stdout);
    t0 = Clock::now();
    std::string v;
    const int kGets = 200000;
    for (int i = 0; i < kGets; ++i) {
      ASSERT_TRUE(e->Get(Key(static_cast<int>((i * 7919ull) % kOps)), &v).ok());
    }
    printf("get (no pending writes), %d keys: %.0f ops/s\n", kOps, rate(kGets, t0));
    fflush(stdout);
    t0 = Clock::now();
    for (int i = 0; i < kGets / 10; ++i) {
      if (i % 50 == 0) {
        ASSERT_TRUE(e->Commit().ok());
        ASSERT_TRUE(e->Put(Key(i), "x").ok());
      }
      ASSERT_TRUE(e->Get(Key(static_cast<int>((i * 7919ull) % kOps)), &v).ok());
    }
    ASSERT_TRUE(e->Commit().ok());
    printf("get mixed with a put+commit every 50 gets: %.0f gets/s\n", rate(kGets / 10, t0));
    fflush(stdout);
  }
  {
    auto e = MustOpen(Opts(d.path(), SyncMode::kAlways));
    const int kOps = 500;
    auto t0 = Clock::now();
    for (int i = 0; i < kOps; ++i) {
      ASSERT_TRUE(e->Put(Key(i), Value(i, 100)).ok());
    }
    printf("put, sync=always: %.0f ops/s\n", rate(kOps, t0));
  }
}

}  // namespace
}  // namespace dynakv::storage
