// tests/unit/storage_engine_test.cc: the storage::Engine contract, run against every engine.
//
// Each typed test runs for MemEngine and LmdbEngine, so the simulator's engine and the
// production engine are held to the same behaviour (order, atomicity, pending visibility).
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "storage/engine.h"
#include "storage/mem_engine.h"
#include "tests/unit/storage_test_util.h"

namespace dynakv::storage {
namespace {

using testing::Key;
using testing::TempDir;

struct MemMaker {
  static std::unique_ptr<Engine> Open(const std::string&, SyncMode sync) {
    return NewMemEngine(sync);
  }
  // A restart keeps committed state; the in-memory model of that is a crash.
  static void Restart(std::unique_ptr<Engine>& e, const std::string&, SyncMode) {
    static_cast<MemEngine*>(e.get())->SimulateCrash();
  }
};

// LmdbEngine with the log written O_DIRECT|O_DSYNC (the default) or, Direct = false,
// through the page cache + fdatasync (the fallback where the file system refuses O_DIRECT).
template <bool Direct>
struct LmdbMakerT {
  static std::unique_ptr<Engine> Open(const std::string& dir, SyncMode sync) {
    LmdbOptions o;
    o.dir = dir;
    o.sync = sync;
    o.map_size_bytes = 1 << 20;  // small, so growth happens in ordinary tests too
    o.direct_log = Direct;
    auto r = OpenLmdb(o);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? std::move(r.value()) : nullptr;
  }
  static void Restart(std::unique_ptr<Engine>& e, const std::string& dir, SyncMode sync) {
    e.reset();
    e = Open(dir, sync);
  }
};
using LmdbMaker = LmdbMakerT<true>;
using LmdbBufferedMaker = LmdbMakerT<false>;

struct MakerNames {
  template <typename T>
  static std::string GetName(int) {
    if (std::is_same_v<T, MemMaker>) return "Mem";
    return std::is_same_v<T, LmdbMaker> ? "Lmdb" : "LmdbBuffered";
  }
};

template <typename M>
class EngineTest : public ::testing::Test {
 protected:
  void SetUp() override { Open(SyncMode::kBatch); }
  void Open(SyncMode sync) {
    engine_.reset();
    sync_ = sync;
    engine_ = M::Open(dir_.Sub("db"), sync);
    ASSERT_NE(engine_, nullptr);
  }
  void Restart() { M::Restart(engine_, dir_.Sub("db"), sync_); }

  std::optional<std::string> Read(std::string_view key) {
    std::string v = "<unchanged>";
    Status s = engine_->Get(key, &v);
    if (s.IsNotFound()) {
      EXPECT_EQ(v, "<unchanged>");  // a miss leaves *value alone
      return std::nullopt;
    }
    EXPECT_TRUE(s.ok()) << s.ToString();
    return v;
  }

  std::vector<std::pair<std::string, std::string>> ScanAll(std::string_view start = {},
                                                           std::string_view end = {},
                                                           size_t limit = 0) {
    std::vector<std::pair<std::string, std::string>> out;
    Status s = engine_->Scan(start, end, limit, [&](std::string_view k, std::string_view v) {
      out.emplace_back(std::string(k), std::string(v));
      return true;
    });
    EXPECT_TRUE(s.ok()) << s.ToString();
    return out;
  }

  TempDir dir_;
  SyncMode sync_ = SyncMode::kBatch;
  std::unique_ptr<Engine> engine_;
};

using Makers = ::testing::Types<MemMaker, LmdbMaker, LmdbBufferedMaker>;
TYPED_TEST_SUITE(EngineTest, Makers, MakerNames);

// What Scan(start, end, limit) must visit, from a std::map model.
std::vector<std::pair<std::string, std::string>> ModelScan(
    const std::map<std::string, std::string>& model, const std::string& start,
    const std::string& end, size_t limit) {
  std::vector<std::pair<std::string, std::string>> want;
  for (auto it = model.lower_bound(start); it != model.end(); ++it) {
    if (!end.empty() && it->first >= end) break;
    want.emplace_back(*it);
    if (limit && want.size() >= limit) break;
  }
  return want;
}

WriteOp PutOp(std::string k, std::string v) {
  return WriteOp{WriteOp::Kind::kPut, std::move(k), std::move(v)};
}
WriteOp DelOp(std::string k) { return WriteOp{WriteOp::Kind::kDelete, std::move(k), {}}; }

TYPED_TEST(EngineTest, GetPutDeleteMiss) {
  Engine& e = *this->engine_;
  EXPECT_EQ(this->Read("a"), std::nullopt);
  ASSERT_TRUE(e.Put("a", "1").ok());
  EXPECT_EQ(this->Read("a"), "1");
  ASSERT_TRUE(e.Put("a", "22").ok());  // overwrite
  EXPECT_EQ(this->Read("a"), "22");
  ASSERT_TRUE(e.Commit().ok());
  EXPECT_EQ(this->Read("a"), "22");
  ASSERT_TRUE(e.Delete("a").ok());
  EXPECT_EQ(this->Read("a"), std::nullopt);  // pending delete hides the committed value
  ASSERT_TRUE(e.Delete("never-there").ok());  // deleting a missing key is fine
  ASSERT_TRUE(e.Commit().ok());
  EXPECT_EQ(this->Read("a"), std::nullopt);
  ASSERT_TRUE(e.Put("empty-value", "").ok());
  EXPECT_EQ(this->Read("empty-value"), "");
}

TYPED_TEST(EngineTest, KeyLimits) {
  Engine& e = *this->engine_;
  std::string max_key(kKeyBytesMax, 'k');
  std::string long_key(kKeyBytesMax + 1, 'k');
  EXPECT_TRUE(e.Put(max_key, "v").ok());
  EXPECT_EQ(this->Read(max_key), "v");
  Status s = e.Put(long_key, "v");
  EXPECT_EQ(s.code(), Code::kInvalidArgument) << s.ToString();
  EXPECT_NE(s.message().find("512"), std::string::npos) << s.message();
  EXPECT_EQ(e.Put("", "v").code(), Code::kInvalidArgument);
  std::string v;
  EXPECT_EQ(e.Get(long_key, &v).code(), Code::kInvalidArgument);
  EXPECT_EQ(e.Get("", &v).code(), Code::kInvalidArgument);
  // Large values are fine.
  std::string big(3 << 20, 'x');
  big[12345] = '\0';
  ASSERT_TRUE(e.Put("big", big).ok());
  ASSERT_TRUE(e.Commit().ok());
  EXPECT_EQ(this->Read("big"), big);
}

TYPED_TEST(EngineTest, BatchIsAtomic) {
  Engine& e = *this->engine_;
  ASSERT_TRUE(e.Put("keep", "old").ok());
  ASSERT_TRUE(e.Commit().ok());
  ASSERT_TRUE(e.Put("pending", "p").ok());
  // A bad op anywhere in the batch rejects the whole batch.
  std::vector<WriteOp> bad = {PutOp("x", "1"), DelOp("keep"), PutOp(std::string(600, 'z'), "v"),
                              PutOp("y", "2")};
  EXPECT_EQ(e.Write(bad).code(), Code::kInvalidArgument);
  EXPECT_EQ(this->Read("x"), std::nullopt);
  EXPECT_EQ(this->Read("y"), std::nullopt);
  EXPECT_EQ(this->Read("keep"), "old");
  EXPECT_EQ(this->Read("pending"), "p");  // earlier pending writes are untouched
  // Ops apply in order: the last op on a key wins.
  ASSERT_TRUE(e.Write({PutOp("d", "1"), PutOp("d", "2"), PutOp("e", "1"), DelOp("e"),
                       DelOp("keep"), PutOp("keep", "new")})
                  .ok());
  EXPECT_EQ(this->Read("d"), "2");
  EXPECT_EQ(this->Read("e"), std::nullopt);
  EXPECT_EQ(this->Read("keep"), "new");
  ASSERT_TRUE(e.Write({}).ok());
  ASSERT_TRUE(e.Commit().ok());
  this->Restart();
  EXPECT_EQ(this->Read("d"), "2");
  EXPECT_EQ(this->Read("e"), std::nullopt);
  EXPECT_EQ(this->Read("keep"), "new");
  EXPECT_EQ(this->Read("pending"), "p");
  EXPECT_EQ(this->Read("x"), std::nullopt);
}

TYPED_TEST(EngineTest, BinaryKeysAndValues) {
  Engine& e = *this->engine_;
  std::string k1("a\0b", 3), k2("a\0", 2), k3("a", 1), k4("\xff\x00\xff", 3), k5("\x00", 1);
  std::string v1("\0\0\0", 3), v2("x\0y\xff", 4);
  for (auto& [k, v] : std::vector<std::pair<std::string, std::string>>{
           {k1, v1}, {k2, v2}, {k3, ""}, {k4, v1}, {k5, v2}}) {
    ASSERT_TRUE(e.Put(k, v).ok());
  }
  EXPECT_EQ(this->Read(k1), v1);
  EXPECT_EQ(this->Read(k2), v2);
  EXPECT_EQ(this->Read(k3), "");
  EXPECT_EQ(this->Read(std::string("a\0c", 3)), std::nullopt);
  ASSERT_TRUE(e.Commit().ok());
  this->Restart();
  auto all = this->ScanAll();
  // Bytewise order: unsigned bytes, a prefix sorts first.
  std::vector<std::pair<std::string, std::string>> want = {
      {k5, v2}, {k3, ""}, {k2, v2}, {k1, v1}, {k4, v1}};
  EXPECT_EQ(all, want);
}

TYPED_TEST(EngineTest, ScanOrderRangeLimitStop) {
  Engine& e = *this->engine_;
  for (std::string k : {"b", "a", "ab", "c", "ba", "\x80", "d"}) {
    ASSERT_TRUE(e.Put(k, k + "v").ok());
  }
  ASSERT_TRUE(e.Commit().ok());
  auto keys = [](const std::vector<std::pair<std::string, std::string>>& kv) {
    std::vector<std::string> out;
    for (auto& [k, v] : kv) {
      EXPECT_EQ(v, k + "v");
      out.push_back(k);
    }
    return out;
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(keys(this->ScanAll()), (V{"a", "ab", "b", "ba", "c", "d", "\x80"}));
  EXPECT_EQ(keys(this->ScanAll("ab", "c")), (V{"ab", "b", "ba"}));       // [start, end)
  EXPECT_EQ(keys(this->ScanAll("aa", "bb")), (V{"ab", "b", "ba"}));      // bounds need not exist
  EXPECT_EQ(keys(this->ScanAll("b", "", 2)), (V{"b", "ba"}));            // limit
  EXPECT_EQ(keys(this->ScanAll("e")), (V{"\x80"}));
  EXPECT_EQ(keys(this->ScanAll("\x81")), V{});
  EXPECT_EQ(keys(this->ScanAll("c", "c")), V{});
  EXPECT_EQ(keys(this->ScanAll(std::string(600, 'b'))), (V{"c", "d", "\x80"}));  // past the key limit
  // The visitor stops the scan by returning false.
  int visited = 0;
  ASSERT_TRUE(e.Scan("", "", 0, [&](std::string_view, std::string_view) { return ++visited < 3; })
                  .ok());
  EXPECT_EQ(visited, 3);
}

TYPED_TEST(EngineTest, ScanSeesPendingWrites) {
  Engine& e = *this->engine_;
  for (std::string k : {"a", "b", "c", "d"}) {
    ASSERT_TRUE(e.Put(k, "old").ok());
  }
  ASSERT_TRUE(e.Commit().ok());
  ASSERT_TRUE(e.Write({DelOp("b"), PutOp("c", "new"), PutOp("bb", "new"), PutOp("e", "new"),
                       DelOp("zz")})
                  .ok());
  using KV = std::vector<std::pair<std::string, std::string>>;
  EXPECT_EQ(this->ScanAll(),
            (KV{{"a", "old"}, {"bb", "new"}, {"c", "new"}, {"d", "old"}, {"e", "new"}}));
  EXPECT_EQ(this->ScanAll("b", "", 2), (KV{{"bb", "new"}, {"c", "new"}}));  // deleted b skipped
  ASSERT_TRUE(e.Commit().ok());
  EXPECT_EQ(this->ScanAll("b", "", 2), (KV{{"bb", "new"}, {"c", "new"}}));
}

TYPED_TEST(EngineTest, CommitAndStats) {
  Engine& e = *this->engine_;
  EXPECT_FALSE(e.HasPending());
  ASSERT_TRUE(e.Commit().ok());  // nothing to do
  EXPECT_EQ(e.Stats().commits, 0u);
  ASSERT_TRUE(e.Put("a", "1").ok());
  EXPECT_TRUE(e.HasPending());
  ASSERT_TRUE(e.Put("b", "2").ok());
  ASSERT_TRUE(e.Commit().ok());
  EXPECT_FALSE(e.HasPending());
  EngineStats st = e.Stats();
  EXPECT_EQ(st.commits, 1u);  // two writes, one group commit
  EXPECT_EQ(st.syncs, 1u);
  EXPECT_GT(st.used_bytes, 0u);
}

TYPED_TEST(EngineTest, SyncAlwaysCommitsEachWrite) {
  this->Open(SyncMode::kAlways);
  Engine& e = *this->engine_;
  ASSERT_TRUE(e.Put("a", "1").ok());
  EXPECT_FALSE(e.HasPending());
  ASSERT_TRUE(e.Put("b", "2").ok());
  EXPECT_EQ(e.Stats().commits, 2u);
  EXPECT_EQ(e.Stats().syncs, 2u);
  this->Restart();
  EXPECT_EQ(this->Read("a"), "1");
  EXPECT_EQ(this->Read("b"), "2");
}

TYPED_TEST(EngineTest, SyncNoneCommitsWithoutFsync) {
  this->Open(SyncMode::kNone);
  Engine& e = *this->engine_;
  ASSERT_TRUE(e.Put("a", "1").ok());
  ASSERT_TRUE(e.Commit().ok());
  EXPECT_EQ(e.Stats().commits, 1u);
  EXPECT_EQ(e.Stats().syncs, 0u);
  this->Restart();
  EXPECT_EQ(this->Read("a"), "1");
}

TYPED_TEST(EngineTest, CommittedWritesSurviveRestart) {
  Engine& e = *this->engine_;
  for (int i = 0; i < 1000; ++i) {
    ASSERT_TRUE(e.Put(Key(i), "v" + std::to_string(i)).ok());
  }
  ASSERT_TRUE(e.Commit().ok());
  this->Restart();
  for (int i = 0; i < 1000; ++i) {
    ASSERT_EQ(this->Read(Key(i)), "v" + std::to_string(i));
  }
}

// A seeded random workload checked op by op against a std::map model.
// View shows what Get returns, without a copy: pending, committed and checkpointed values,
// a miss (see is not called) and a refused key. A value of 64 KB and more takes the log's
// append path (no sizing pass) and must read back the same after a restart.
TYPED_TEST(EngineTest, ViewSeesWhatGetSees) {
  auto view = [&](std::string_view key, std::string* out) {
    int calls = 0;
    // Through engine_ each time: Restart() below replaces the engine.
    Status s = this->engine_->View(key, [&](std::string_view v) {
      ++calls;
      out->assign(v);
    });
    EXPECT_EQ(calls, s.ok() ? 1 : 0) << key;
    return s;
  };
  Engine& e = *this->engine_;  // until Restart()
  std::string big(200 * 1024, 'b');
  for (size_t i = 0; i < big.size(); i += 997) big[i] = char('a' + i % 26);
  ASSERT_TRUE(e.Put("small", "v1").ok());
  ASSERT_TRUE(e.PutOwned("big", big).ok());
  std::string got;
  ASSERT_TRUE(view("small", &got).ok());
  EXPECT_EQ(got, "v1");
  ASSERT_TRUE(view("big", &got).ok());
  EXPECT_EQ(got, big);
  EXPECT_TRUE(view("missing", &got).IsNotFound());
  EXPECT_EQ(view("", &got).code(), Code::kInvalidArgument);
  ASSERT_TRUE(e.Commit().ok());
  ASSERT_TRUE(e.Checkpoint().ok());  // LmdbEngine: now read from the map, not the memtable
  ASSERT_TRUE(view("big", &got).ok());
  EXPECT_EQ(got, big);
  ASSERT_TRUE(e.Delete("small").ok());
  EXPECT_TRUE(view("small", &got).IsNotFound());  // a pending delete hides the stored value
  big[7] = '!';
  ASSERT_TRUE(e.PutOwned("big", big).ok());
  ASSERT_TRUE(e.Commit().ok());
  this->Restart();  // the log replays the big put
  ASSERT_TRUE(view("big", &got).ok());
  EXPECT_EQ(got, big);
  EXPECT_EQ(this->Read("big"), big);
  EXPECT_TRUE(view("small", &got).IsNotFound());
}

TYPED_TEST(EngineTest, MatchesModelUnderRandomOps) {
  Engine& e = *this->engine_;
  std::mt19937 rng(12345);
  std::map<std::string, std::string> model;
  auto rand_key = [&] {
    std::string k(1 + rng() % 3, 'a');
    for (char& c : k) c = static_cast<char>("ab\0\xff"[rng() % 4]);
    return k;
  };
  for (int step = 0; step < 4000; ++step) {
    int what = rng() % 10;
    if (what < 5) {
      std::vector<WriteOp> batch;
      int n = 1 + rng() % 4;
      for (int i = 0; i < n; ++i) {
        std::string k = rand_key();
        if (rng() % 3 == 0) {
          batch.push_back(DelOp(k));
        } else {
          batch.push_back(PutOp(k, std::to_string(rng() % 1000)));
        }
      }
      ASSERT_TRUE(e.Write(batch).ok());
      for (auto& op : batch) {
        if (op.kind == WriteOp::Kind::kPut) {
          model[op.key] = op.value;
        } else {
          model.erase(op.key);
        }
      }
    } else if (what < 7) {
      std::string k = rand_key();
      auto it = model.find(k);
      ASSERT_EQ(this->Read(k), it == model.end() ? std::nullopt : std::optional(it->second));
    } else if (what < 9) {
      std::string a = rand_key(), b = rng() % 4 ? rand_key() : std::string();
      size_t limit = rng() % 4;
      ASSERT_EQ(this->ScanAll(a, b, limit), ModelScan(model, a, b, limit)) << "step " << step;
    } else {
      ASSERT_TRUE(e.Commit().ok());
    }
  }
  ASSERT_TRUE(e.Commit().ok());
  this->Restart();
  std::vector<std::pair<std::string, std::string>> want(model.begin(), model.end());
  EXPECT_EQ(this->ScanAll(), want);
}

// The same against a model with many keys and checkpoints mixed in: LmdbEngine keeps writes
// in memtables (a live one, and a frozen one being checkpointed on its own thread) and merges
// them with LMDB on reads and scans; past a few thousand table keys a scan checkpoints first.
// Checked: every read and scan, between and during background checkpoints, and restarts.
TYPED_TEST(EngineTest, MatchesModelWithCheckpointsAndLargeTables) {
  std::mt19937 rng(777);
  std::map<std::string, std::string> model;
  auto rand_key = [&] {
    char buf[16];
    std::snprintf(buf, sizeof(buf), "k%05u", static_cast<unsigned>(rng() % 12000));
    return std::string(buf);
  };
  for (int step = 0; step < 60000; ++step) {
    Engine& e = *this->engine_;
    int what = rng() % 1000;
    if (what < 700) {
      std::vector<WriteOp> batch;
      int n = 1 + rng() % 3;
      for (int i = 0; i < n; ++i) {
        std::string k = rand_key();
        if (rng() % 4 == 0) batch.push_back(DelOp(k));
        else batch.push_back(PutOp(k, std::to_string(step) + std::string(rng() % 40, 'v')));
      }
      ASSERT_TRUE(e.Write(batch).ok());
      for (auto& op : batch) {
        if (op.kind == WriteOp::Kind::kPut) model[op.key] = op.value;
        else model.erase(op.key);
      }
    } else if (what < 850) {
      std::string k = rand_key();
      auto it = model.find(k);
      ASSERT_EQ(this->Read(k), it == model.end() ? std::nullopt : std::optional(it->second))
          << "step " << step << " key " << k;
    } else if (what < 880) {
      std::string a = rand_key(), b = rng() % 3 ? rand_key() : std::string();
      size_t limit = rng() % 3 ? rng() % 50 : 0;
      ASSERT_EQ(this->ScanAll(a, b, limit), ModelScan(model, a, b, limit)) << "step " << step;
    } else if (what < 980) {
      ASSERT_TRUE(e.Commit().ok());
    } else if (what < 995) {
      ASSERT_TRUE(e.Commit().ok());
      ASSERT_TRUE(e.StartCheckpoint().ok());
    } else if (what < 999 || rng() % 8 != 0) {
      ASSERT_TRUE(e.Checkpoint().ok());
    } else {
      ASSERT_TRUE(e.Commit().ok());
      this->Restart();
    }
  }
  ASSERT_TRUE(this->engine_->Commit().ok());
  this->Restart();
  std::vector<std::pair<std::string, std::string>> want(model.begin(), model.end());
  EXPECT_EQ(this->ScanAll(), want);
}

}  // namespace
}  // namespace dynakv::storage
