// tests/unit/storage_backup_test.cc: Engine::StartBackup / PollBackup (LmdbEngine): the copy
// holds every committed write, including those only in the write-ahead log; writes made while
// it runs stay out of it and stay in the live store; bad paths and a second backup are refused;
// MemEngine says it cannot.
#include <chrono>
#include <fstream>
#include <string>
#include <thread>

#include "storage/engine.h"
#include "storage/mem_engine.h"
#include "tests/unit/storage_test_util.h"

namespace dynakv::storage {
namespace {

using testing::Key;
using testing::TempDir;

std::unique_ptr<Engine> Open(const std::string& dir) {
  LmdbOptions o;
  o.dir = dir;
  auto r = OpenLmdb(o);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? std::move(r.value()) : nullptr;
}

// Polls (bounded) until the backup reports; its outcome.
Status Wait(Engine& e) {
  Status s;
  for (int i = 0; i < 3000; i++) {
    if (e.PollBackup(&s)) return s;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return Status::Timeout("backup did not finish in 30 s");
}

TEST(StorageBackup, CopyHoldsCommittedWritesIncludingTheLog) {
  TempDir t;
  auto e = Open(t.Sub("live"));
  ASSERT_TRUE(e);
  for (int i = 0; i < 1000; i++) ASSERT_TRUE(e->Put(Key(i), "v" + std::to_string(i)).ok());
  ASSERT_TRUE(e->Commit().ok());  // in the log only: no checkpoint ran yet
  ASSERT_TRUE(e->Delete(Key(5)).ok());
  ASSERT_TRUE(e->Commit().ok());
  ASSERT_TRUE(e->StartBackup(t.Sub("copy")).ok());
  // Writes while the copy runs: in the live store, not in the copy.
  for (int i = 1000; i < 1100; i++) ASSERT_TRUE(e->Put(Key(i), "late").ok());
  ASSERT_TRUE(e->Commit().ok());
  ASSERT_TRUE(e->StartCheckpoint().ok());  // deferred while the copy runs
  ASSERT_TRUE(Wait(*e).ok());
  Status again;
  EXPECT_FALSE(e->PollBackup(&again)) << "the outcome is reported once";
  std::string v;
  ASSERT_TRUE(e->Get(Key(1050), &v).ok());
  EXPECT_EQ(v, "late");
  ASSERT_TRUE(e->Checkpoint().ok());

  auto c = Open(t.Sub("copy"));
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->Get(Key(999), &v).ok());
  EXPECT_EQ(v, "v999");
  EXPECT_TRUE(c->Get(Key(5), &v).IsNotFound()) << "the delete is in the copy too";
  EXPECT_TRUE(c->Get(Key(1000), &v).IsNotFound()) << "written after the backup started";
  size_t n = 0;
  ASSERT_TRUE(c->Scan("key", "kez", 0, [&](std::string_view, std::string_view) { return ++n, true; }).ok());
  EXPECT_EQ(n, 999u);
  // The copy is a working store.
  ASSERT_TRUE(c->Put("new", "x").ok());
  ASSERT_TRUE(c->Commit().ok());
}

TEST(StorageBackup, RefusesBadPathsAndASecondBackup) {
  TempDir t;
  auto e = Open(t.Sub("live"));
  ASSERT_TRUE(e);
  ASSERT_TRUE(e->Put("k", "v").ok());
  ASSERT_TRUE(e->Commit().ok());
  std::filesystem::create_directories(t.Sub("full"));
  std::ofstream(t.Sub("full/x")) << "x";
  Status s = e->StartBackup(t.Sub("full"));
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_EQ(s.message(), "backup directory '" + t.Sub("full") + "' exists and is not empty");
  s = e->StartBackup(t.Sub("full/x"));
  EXPECT_EQ(s.message(), "backup path '" + t.Sub("full/x") + "' exists and is not a directory");
  EXPECT_EQ(e->StartBackup("").code(), Code::kInvalidArgument);
  // An empty directory and missing parents are fine; one at a time.
  std::filesystem::create_directories(t.Sub("empty"));
  ASSERT_TRUE(e->StartBackup(t.Sub("empty")).ok());
  EXPECT_EQ(e->StartBackup(t.Sub("a/b")).code(), Code::kLimit);
  ASSERT_TRUE(Wait(*e).ok());
  ASSERT_TRUE(e->StartBackup(t.Sub("a/b")).ok());
  ASSERT_TRUE(Wait(*e).ok());
  EXPECT_TRUE(std::filesystem::exists(t.Sub("a/b/data.mdb")));
}

// The engine closed while a backup runs: the destructor waits for it, and the copy is whole.
TEST(StorageBackup, CloseWhileRunningFinishesTheCopy) {
  TempDir t;
  {
    auto e = Open(t.Sub("live"));
    ASSERT_TRUE(e);
    std::string big(4000, 'z');
    for (int i = 0; i < 5000; i++) ASSERT_TRUE(e->Put(Key(i), big).ok());
    ASSERT_TRUE(e->Commit().ok());
    ASSERT_TRUE(e->StartBackup(t.Sub("copy")).ok());
  }
  auto c = Open(t.Sub("copy"));
  ASSERT_TRUE(c);
  std::string v;
  ASSERT_TRUE(c->Get(Key(4999), &v).ok());
  EXPECT_EQ(v.size(), 4000u);
}

// A checkpoint already running when the backup starts: the backup waits for it, then folds
// the rest; every write committed before StartBackup is in the copy.
TEST(StorageBackup, CheckpointRunningAtStartIsFollowedByTheRest) {
  TempDir t;
  auto e = Open(t.Sub("live"));
  ASSERT_TRUE(e);
  std::string big(2000, 'q');
  for (int i = 0; i < 20000; i++) ASSERT_TRUE(e->Put(Key(i), big).ok());
  ASSERT_TRUE(e->Commit().ok());
  ASSERT_TRUE(e->StartCheckpoint().ok());  // on its thread: ~40 MB to apply
  for (int i = 20000; i < 20100; i++) ASSERT_TRUE(e->Put(Key(i), "second").ok());
  ASSERT_TRUE(e->Commit().ok());
  ASSERT_TRUE(e->StartBackup(t.Sub("copy")).ok());
  ASSERT_TRUE(Wait(*e).ok());
  e.reset();
  auto c = Open(t.Sub("copy"));
  ASSERT_TRUE(c);
  std::string v;
  ASSERT_TRUE(c->Get(Key(19999), &v).ok());
  EXPECT_EQ(v, big);
  ASSERT_TRUE(c->Get(Key(20099), &v).ok()) << "committed after the running checkpoint began, before the backup";
  EXPECT_EQ(v, "second");
}

TEST(StorageBackup, MemEngineCannot) {
  TempDir t;
  auto m = NewMemEngine();
  Status s = m->StartBackup(t.Sub("m"));
  EXPECT_EQ(s.code(), Code::kNotSupported);
  EXPECT_EQ(s.message(), "backup needs storage.engine = lmdb");
}

}  // namespace
}  // namespace dynakv::storage
