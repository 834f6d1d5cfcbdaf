// tests/unit/storage_mem_test.cc: MemEngine's fault injection (crash, wipe, full disk).
#include <string>

#include "storage/mem_engine.h"
#include "tests/unit/storage_test_util.h"

namespace dynakv::storage {
namespace {

using testing::Key;

std::optional<std::string> Read(Engine& e, std::string_view key) {
  std::string v;
  Status s = e.Get(key, &v);
  if (s.IsNotFound()) return std::nullopt;
  EXPECT_TRUE(s.ok()) << s.ToString();
  return v;
}

TEST(MemEngine, CrashDropsPendingKeepsCommitted) {
  auto e = NewMemEngine(SyncMode::kBatch);
  ASSERT_TRUE(e->Put("a", "committed").ok());
  ASSERT_TRUE(e->Put("b", "committed").ok());
  ASSERT_TRUE(e->Commit().ok());
  ASSERT_TRUE(e->Put("a", "pending").ok());
  ASSERT_TRUE(e->Delete("b").ok());
  ASSERT_TRUE(e->Put("c", "pending").ok());
  EXPECT_EQ(Read(*e, "a"), "pending");
  e->SimulateCrash();
  EXPECT_FALSE(e->HasPending());
  EXPECT_EQ(Read(*e, "a"), "committed");
  EXPECT_EQ(Read(*e, "b"), "committed");
  EXPECT_EQ(Read(*e, "c"), std::nullopt);
  EXPECT_EQ(e->live_bytes(), e->committed_bytes());
  EXPECT_EQ(e->live_bytes(), 2u * (1 + 9));
}

TEST(MemEngine, SyncAlwaysSurvivesCrash) {
  auto e = NewMemEngine(SyncMode::kAlways);
  ASSERT_TRUE(e->Put("a", "1").ok());
  e->SimulateCrash();
  EXPECT_EQ(Read(*e, "a"), "1");
}

TEST(MemEngine, WipeLosesEverything) {
  auto e = NewMemEngine();
  ASSERT_TRUE(e->Put("a", "1").ok());
  ASSERT_TRUE(e->Commit().ok());
  ASSERT_TRUE(e->Put("b", "1").ok());
  e->Wipe();
  EXPECT_EQ(Read(*e, "a"), std::nullopt);
  EXPECT_EQ(Read(*e, "b"), std::nullopt);
  EXPECT_EQ(e->committed_count(), 0u);
  EXPECT_EQ(e->live_bytes(), 0u);
  ASSERT_TRUE(e->Put("c", "1").ok());  // still usable
  EXPECT_EQ(Read(*e, "c"), "1");
}

TEST(MemEngine, FailWritesAppliesNothing) {
  auto e = NewMemEngine();
  ASSERT_TRUE(e->Put("a", "1").ok());
  e->SetFailWrites(Status::NoSpace("disk full"));
  EXPECT_EQ(e->Put("b", "1").code(), Code::kNoSpace);
  EXPECT_EQ(e->Delete("a").code(), Code::kNoSpace);
  EXPECT_EQ(Read(*e, "a"), "1");
  EXPECT_EQ(Read(*e, "b"), std::nullopt);
  ASSERT_TRUE(e->Commit().ok());  // earlier pending writes still commit
  e->SetFailWrites(Status::OK());
  ASSERT_TRUE(e->Put("b", "1").ok());
}

TEST(MemEngine, ByteBudgetActsLikeAFullDisk) {
  auto e = NewMemEngine();
  e->SetByteBudget(1000);
  const std::string value(90, 'v');  // 11-byte key + 90 = 101 bytes per entry
  int stored = 0;
  Status s;
  for (int i = 0; i < 100; ++i) {
    s = e->Put(Key(i), value);
    if (!s.ok()) break;
    ++stored;
    if (i % 3 == 0) {
      ASSERT_TRUE(e->Commit().ok());
    }
  }
  EXPECT_EQ(s.code(), Code::kNoSpace) << s.ToString();
  EXPECT_EQ(stored, 9);
  EXPECT_LE(e->live_bytes(), 1000u);
  // A batch that would cross the budget applies nothing, not even its first op.
  EXPECT_EQ(e->Write({{WriteOp::Kind::kPut, "x", "1"}, {WriteOp::Kind::kPut, "y", value}}).code(),
            Code::kNoSpace);
  EXPECT_EQ(Read(*e, "x"), std::nullopt);
  // Pending writes from before the failure still commit; nothing acknowledged is lost.
  ASSERT_TRUE(e->Commit().ok());
  e->SimulateCrash();
  for (int i = 0; i < stored; ++i) {
    EXPECT_EQ(Read(*e, Key(i)), value) << i;
  }
  // Shrinking writes are always allowed, and free room for new ones.
  ASSERT_TRUE(e->Delete(Key(0)).ok());
  ASSERT_TRUE(e->Put(Key(1), "short").ok());
  ASSERT_TRUE(e->Put("new", value).ok());
  // A batch that deletes as much as it adds fits.
  ASSERT_TRUE(
      e->Write({{WriteOp::Kind::kDelete, Key(2), ""}, {WriteOp::Kind::kPut, Key(2), value}}).ok());
  ASSERT_TRUE(e->Commit().ok());
  e->SetByteBudget(0);
  ASSERT_TRUE(e->Put("unbounded", std::string(10000, 'x')).ok());
}

TEST(MemEngine, FailedCommitDropsPendingOnly) {
  auto e = NewMemEngine();
  ASSERT_TRUE(e->Put("a", "1").ok());
  ASSERT_TRUE(e->Commit().ok());
  ASSERT_TRUE(e->Put("a", "2").ok());
  ASSERT_TRUE(e->Put("b", "2").ok());
  e->SetFailCommits(Status::IOError("fsync failed"));
  EXPECT_EQ(e->Commit().code(), Code::kIOError);
  EXPECT_FALSE(e->HasPending());
  EXPECT_EQ(Read(*e, "a"), "1");
  EXPECT_EQ(Read(*e, "b"), std::nullopt);
  e->SetFailCommits(Status::OK());
  ASSERT_TRUE(e->Put("b", "3").ok());
  ASSERT_TRUE(e->Commit().ok());
  e->SimulateCrash();
  EXPECT_EQ(Read(*e, "b"), "3");
  EXPECT_EQ(e->Stats().commits, 2u);
}

// Same ops, same state: the simulator replays runs from a seed.
TEST(MemEngine, Deterministic) {
  auto run = [] {
    auto e = NewMemEngine();
    for (int i = 0; i < 500; ++i) {
      EXPECT_TRUE(e->Put(Key((i * 7919) % 301), std::to_string(i)).ok());
      if (i % 11 == 0) {
        EXPECT_TRUE(e->Delete(Key((i * 31) % 301)).ok());
      }
      if (i % 17 == 0) {
        EXPECT_TRUE(e->Commit().ok());
      }
    }
    e->SimulateCrash();
    std::string dump;
    EXPECT_TRUE(e->Scan("", "", 0, [&](std::string_view k, std::string_view v) {
                   dump.append(k).append("=").append(v).append(";");
                   return true;
                 }).ok());
    return dump;
  };
  EXPECT_EQ(run(), run());
}

}  // namespace
}  // namespace dynakv::storage
