// tests/unit/storage_wal_test.cc: LmdbEngine's write-ahead log (wal-<gen>.log in the data
// dir): recovery of committed writes after a crash that skips the final checkpoint, torn and
// corrupt log tails, ordered replay of several generations, idempotent replay over a newer
// LMDB state, log rotation by Checkpoint(), a failed log append (RLIMIT_FSIZE -> EFBIG) that
// must not acknowledge anything (also when a scan's FlushForScan makes it), the sync modes
// none / always, and seeded SIGKILLs at random moments of a mixed workload (sync and async
// group commits, background checkpoints, reads and scans checked against a model).
//
// Crashes are real: a forked child opens the engine, writes and commits, then ends with
// _exit() or SIGKILL, so no destructor runs (no final commit, no checkpoint) and the data dir
// holds exactly what a crash leaves. The parent then reopens and compares the whole keyspace
// with a std::map model. Checks inside a child go through CHILD_CHECK / CHILD_OK, which send
// the failure text back through a pipe (gtest assertions in a child would be lost).
//
// Thread-safety: single-threaded test code (fork is safe here).
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <xxhash.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "storage/engine.h"
#include "tests/unit/storage_test_util.h"

namespace dynakv::storage {
namespace {

using testing::Key;
using testing::TempDir;
using Model = std::map<std::string, std::string>;
namespace fs = std::filesystem;

LmdbOptions Opts(const std::string& dir, SyncMode sync = SyncMode::kBatch) {
  LmdbOptions o;
  o.dir = dir;
  o.sync = sync;
  o.map_size_bytes = 64ull << 20;
  return o;
}

std::unique_ptr<Engine> MustOpen(const LmdbOptions& o) {
  auto r = OpenLmdb(o);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? std::move(r.value()) : nullptr;
}

std::optional<std::string> Read(Engine& e, std::string_view key) {
  std::string v;
  Status s = e.Get(key, &v);
  if (s.IsNotFound()) return std::nullopt;
  EXPECT_TRUE(s.ok()) << s.ToString();
  return v;
}

// The whole keyspace, through Scan (so it sees exactly what a client would).
Model Dump(Engine& e) {
  Model m;
  Status s = e.Scan("", "", 0, [&](std::string_view k, std::string_view v) {
    m.emplace(std::string(k), std::string(v));
    return true;
  });
  EXPECT_TRUE(s.ok()) << s.ToString();
  return m;
}

// A readable diff of the first few differences, for assertion messages.
std::string Diff(const Model& want, const Model& got) {
  std::ostringstream out;
  int shown = 0;
  for (const auto& [k, v] : want) {
    auto it = got.find(k);
    if (it == got.end()) {
      out << "missing " << k << "; ";
    } else if (it->second != v) {
      out << k << " has a " << it->second.size() << "-byte value, want " << v.size() << " bytes; ";
    } else {
      continue;
    }
    if (++shown == 8) return out.str() + "...";
  }
  for (const auto& [k, v] : got) {
    if (want.count(k) == 0) {
      out << "unexpected " << k << "; ";
      if (++shown == 8) return out.str() + "...";
    }
  }
  return out.str();
}

#define EXPECT_MODEL(engine, model)                             \
  do {                                                          \
    Model got_ = Dump(engine);                                  \
    EXPECT_TRUE(got_ == (model)) << Diff((model), got_);        \
  } while (0)

void ApplyToModel(Model* m, const std::vector<WriteOp>& batch) {
  for (const WriteOp& op : batch) {
    if (op.kind == WriteOp::Kind::kPut) {
      (*m)[op.key] = op.value;
    } else {
      m->erase(op.key);
    }
  }
}

// A commit group: the batches written between two Commit() calls.
using Group = std::vector<std::vector<WriteOp>>;

// Deterministic random groups over a small keyspace, so puts overwrite and deletes hit live
// keys (and sometimes missing ones). Values include empty ones and a few multi-page ones.
std::vector<Group> RandomGroups(uint32_t seed, int groups, const std::string& prefix,
                                int keyspace = 200) {
  std::mt19937 rng(seed);
  std::vector<Group> out;
  for (int g = 0; g < groups; ++g) {
    Group group;
    int batches = 1 + static_cast<int>(rng() % 4);
    for (int b = 0; b < batches; ++b) {
      std::vector<WriteOp> batch;
      int ops = 1 + static_cast<int>(rng() % 3);
      for (int o = 0; o < ops; ++o) {
        WriteOp op;
        op.key = prefix + Key(static_cast<int>(rng() % keyspace));
        if (rng() % 10 < 7) {
          op.kind = WriteOp::Kind::kPut;
          uint32_t r = rng() % 100;
          size_t len = r < 5 ? 0 : r < 8 ? 5000 + rng() % 9000 : rng() % 300;
          op.value.resize(len);
          for (char& c : op.value) c = static_cast<char>(rng());  // binary, with NULs
        } else {
          op.kind = WriteOp::Kind::kDelete;
        }
        batch.push_back(std::move(op));
      }
      group.push_back(std::move(batch));
    }
    out.push_back(std::move(group));
  }
  return out;
}

Model ModelOf(const std::vector<Group>& groups, Model m = {}) {
  for (const Group& g : groups) {
    for (const auto& batch : g) ApplyToModel(&m, batch);
  }
  return m;
}

// ---- crashing children --------------------------------------------------------------------

// Handed to the child body; Fail() reports through the pipe and ends the child.
class Child {
 public:
  explicit Child(int fd) : fd_(fd) {}
  [[noreturn]] void Fail(const std::string& msg) {
    ssize_t n = ::write(fd_, msg.data(), msg.size());
    (void)n;
    _exit(1);
  }

 private:
  int fd_;
};

#define CHILD_CHECK(child, cond)                                                          \
  do {                                                                                    \
    if (!(cond)) (child).Fail(std::string(__FILE__) + ":" + std::to_string(__LINE__) +    \
                              ": check failed: " #cond);                                  \
  } while (0)

#define CHILD_OK(child, expr)                                                             \
  do {                                                                                    \
    Status s_ = (expr);                                                                   \
    if (!s_.ok()) (child).Fail(std::string(__FILE__) + ":" + std::to_string(__LINE__) +   \
                               ": " #expr " -> " + s_.ToString());                        \
  } while (0)

#define CHILD_MODEL(child, engine, model)                                                 \
  do {                                                                                    \
    Model got_ = Dump(engine);                                                            \
    if (got_ != (model)) (child).Fail(std::string(__FILE__) + ":" +                      \
                                      std::to_string(__LINE__) + ": state differs: " +    \
                                      Diff((model), got_));                               \
  } while (0)

enum class End { kExit, kSigkill };

// The forked child's side: runs `body`, then dies without running any destructor (SIGKILL
// of its own, or _exit(0)). Nothing may unwind back into gtest here: the child would go on
// running tests (and destructors such as the parent's TempDir).
[[noreturn]] void ChildMain(int fd, const std::function<void(Child&)>& body, bool sigkill) {
  Child child(fd);
  try {
    body(child);
  } catch (const std::exception& ex) {
    child.Fail(std::string("exception in the child: ") + ex.what());
  } catch (...) {
    child.Fail("unknown exception in the child");
  }
  if (sigkill) ::kill(::getpid(), SIGKILL);
  _exit(0);
}

// The parent's side: everything the child wrote (its failures), then closes the pipe.
std::string ReadAll(int fd) {
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  ::close(fd);
  return out;
}

// Forks a child that runs ChildMain(body, sigkill); returns its pid (< 0: fork failed) and
// the read end of the pipe its failures come through in *read_fd.
pid_t ForkChild(const std::function<void(Child&)>& body, bool sigkill, int* read_fd) {
  int fds[2];
  if (pipe(fds) != 0) return -1;
  std::fflush(nullptr);
  pid_t pid = fork();
  if (pid == 0) {
    ::close(fds[0]);
    ChildMain(fds[1], body, sigkill);
  }
  ::close(fds[1]);
  *read_fd = fds[0];
  if (pid < 0) ::close(fds[0]);
  return pid;
}

// Runs `body` in a forked child that then dies without running any destructor: _exit(0) or
// SIGKILL (its own). Asserts (gtest, in the parent) that the body passed and the child ended
// that way.
void RunCrashingChild(End end, const std::function<void(Child&)>& body) {
  int fd = -1;
  pid_t pid = ForkChild(body, end == End::kSigkill, &fd);
  ASSERT_GE(pid, 0);
  std::string failure = ReadAll(fd);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_EQ(failure, "") << "in the child";
  if (end == End::kSigkill) {
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "status " << status;
  } else {
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
        << "status " << status << (WIFSIGNALED(status) ? " (killed by a signal)" : "");
  }
}

// Opens in the child; a failure ends it. The engine is deliberately leaked: a destructor
// (final commit + checkpoint) running at the end of the child's body would hide the crash.
Engine* ChildOpen(Child& child, const LmdbOptions& o) {
  auto r = OpenLmdb(o);
  if (!r.ok()) child.Fail("open: " + r.status().ToString());
  return r.value().release();
}

void ChildWriteGroups(Child& child, Engine& e, const std::vector<Group>& groups) {
  for (const Group& g : groups) {
    for (const auto& batch : g) CHILD_OK(child, e.Write(batch));
    CHILD_OK(child, e.Commit());
  }
}

// ---- log files ----------------------------------------------------------------------------

struct WalFile {
  uint64_t gen;
  std::string path;
  uint64_t size;
};

std::vector<WalFile> WalFiles(const std::string& dir) {
  std::vector<WalFile> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    std::string name = e.path().filename().string();
    if (name.rfind("wal-", 0) == 0 && name.size() > 8 && name.substr(name.size() - 4) == ".log") {
      out.push_back({std::stoull(name.substr(4, name.size() - 8), nullptr, 16), e.path().string(),
                     static_cast<uint64_t>(fs::file_size(e.path()))});
    }
  }
  std::sort(out.begin(), out.end(), [](const WalFile& a, const WalFile& b) { return a.gen < b.gen; });
  return out;
}

std::string WalPath(const std::string& dir, uint64_t gen) {
  char name[40];
  std::snprintf(name, sizeof name, "wal-%016llx.log", static_cast<unsigned long long>(gen));
  return dir + "/" + name;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
  ASSERT_TRUE(out.good()) << path;
}

void AppendFile(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::app);
  out << bytes;
  ASSERT_TRUE(out.good()) << path;
}

// The log's record format, written independently of the engine: [u32 payload length]
// [u32 xxh32(payload)][payload: varint n, n x (u8 'P'/'D', varint klen, key, varint vlen,
// value)], little-endian.
void PutVarint(std::string* out, uint64_t v) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>(v | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

std::string EncodeRecord(const std::vector<WriteOp>& batch) {
  std::string payload;
  PutVarint(&payload, batch.size());
  for (const WriteOp& op : batch) {
    payload.push_back(op.kind == WriteOp::Kind::kPut ? 'P' : 'D');
    PutVarint(&payload, op.key.size());
    payload += op.key;
    PutVarint(&payload, op.value.size());
    payload += op.value;
  }
  uint32_t len = static_cast<uint32_t>(payload.size());
  uint32_t sum = XXH32(payload.data(), payload.size(), 0);
  std::string rec(8, '\0');
  std::memcpy(&rec[0], &len, 4);
  std::memcpy(&rec[4], &sum, 4);
  return rec + payload;
}

std::vector<WriteOp> PutOp(const std::string& k, const std::string& v) {
  return {WriteOp{WriteOp::Kind::kPut, k, v}};
}

std::vector<WriteOp> DelOp(const std::string& k) {
  return {WriteOp{WriteOp::Kind::kDelete, k, ""}};
}

// ---- recovery without a checkpoint ----------------------------------------------------------

// The crash skips the destructor's commit+checkpoint: every committed write must come back
// from the log alone, uncommitted ones must not.
void CrashRecoveryCase(End end) {
  TempDir d;
  const auto groups = RandomGroups(7, 400, "");
  const Model model = ModelOf(groups);
  RunCrashingChild(end, [&](Child& child) {
    auto e = ChildOpen(child, Opts(d.path()));
    uint64_t checkpoints_at_open = e->Stats().checkpoints;
    ChildWriteGroups(child, *e, groups);
    CHILD_CHECK(child, e->Stats().checkpoints == checkpoints_at_open);  // only the log has it
    CHILD_CHECK(child, e->Stats().wal_bytes > 0);
    // Pending at the crash, never acknowledged: an overwrite, a delete, a new key.
    auto first = model.begin();
    CHILD_OK(child, e->Put(first->first, "uncommitted overwrite"));
    CHILD_OK(child, e->Delete(std::next(first)->first));
    CHILD_OK(child, e->Put("uncommitted-new", "x"));
    CHILD_CHECK(child, e->HasPending());
  });
  auto files = WalFiles(d.path());
  ASSERT_EQ(files.size(), 1u);
  EXPECT_GT(files[0].size, 0u) << "the child checkpointed; this test would not test the log";

  auto e = MustOpen(Opts(d.path()));
  ASSERT_NE(e, nullptr);
  EXPECT_MODEL(*e, model);
  EXPECT_EQ(e->Stats().wal_bytes, 0u);  // recovery checkpointed
  EXPECT_FALSE(e->HasPending());
  ASSERT_EQ(WalFiles(d.path()).size(), 1u);
  EXPECT_GT(WalFiles(d.path())[0].gen, files[0].gen);
  e.reset();
  e = MustOpen(Opts(d.path()));
  EXPECT_MODEL(*e, model);
}

TEST(LmdbWal, ExitWithoutCheckpointRecoversEveryCommittedWrite) { CrashRecoveryCase(End::kExit); }
TEST(LmdbWal, SigkillWithoutCheckpointRecoversEveryCommittedWrite) {
  CrashRecoveryCase(End::kSigkill);
}

// PutOwned (the server's one-put path, every SET) writes its log record in place: keys and
// values whose lengths sit on varint boundaries replay exactly after a crash, in both log modes.
TEST(LmdbWal, OnePutRecordsReplayAcrossLengthBoundaries) {
  for (bool direct : {true, false}) {
    TempDir d;
    Model model;
    size_t i = 0;
    for (size_t klen : {1, 127, 128, 511}) {
      for (size_t vlen : {0, 1, 127, 128, 16383, 16384, 70000}) {
        std::string key = std::to_string(i++) + "-";
        if (key.size() < klen) key.append(klen - key.size(), 'k');
        std::string value(vlen, '\0');
        for (size_t j = 0; j < vlen; ++j) value[j] = static_cast<char>(j * 31 + i);
        model[key] = value;
      }
    }
    LmdbOptions o = Opts(d.path());
    o.direct_log = direct;
    RunCrashingChild(End::kSigkill, [&](Child& child) {
      auto e = ChildOpen(child, o);
      size_t n = 0;
      for (const auto& [k, v] : model) {
        CHILD_OK(child, e->PutOwned(k, v));
        if (++n % 5 == 0) CHILD_OK(child, e->Commit());  // several records per batch
      }
      CHILD_OK(child, e->Commit());
    });
    auto e = MustOpen(o);
    ASSERT_NE(e, nullptr);
    SCOPED_TRACE(direct ? "direct log" : "buffered log");
    EXPECT_MODEL(*e, model);
  }
}

// Overwrites the stack below the caller (what a later call would leave there).
[[gnu::noinline]] void ClobberStack() {
  volatile char junk[64 * 1024];
  for (size_t i = 0; i < sizeof junk; ++i) junk[i] = static_cast<char>(0x5a ^ i);
}

// A group commit as the server runs it: BeginCommit on the owner, the stack below reused,
// SyncTicket on another thread, FinishCommit back on the owner.
void CommitOnAWorker(Child& child, Engine* e) {
  Result<Engine::CommitTicket> t = e->BeginCommit();
  CHILD_OK(child, t.status());
  ClobberStack();
  Status synced;
  std::thread worker([&] { synced = Engine::SyncTicket(t.value()); });
  worker.join();
  CHILD_OK(child, synced);
  CHILD_OK(child, e->FinishCommit(t.value(), synced));
}

// Group commits in direct mode are filled by SyncTicket from the records BeginCommit queued
// (PrepareBlocks): batches of every size, the tiniest (a records string short enough to live
// inside its object) and big ones whose buffers are then recycled or given back, replay
// exactly after a crash, with the stack reused between BeginCommit and SyncTicket and
// SyncTicket on another thread, as the server runs it.
TEST(LmdbWal, GroupCommitsFilledOnTheWorkerReplay) {
  TempDir d;
  LmdbOptions o = Opts(d.path());
  o.direct_log = true;
  {
    // Where the file system refuses O_DIRECT (tmpfs) the engine falls back to write +
    // fdatasync, and there is nothing to fill.
    TempDir probe_dir;
    LmdbOptions po = Opts(probe_dir.path());
    po.direct_log = true;
    auto probe = MustOpen(po);
    ASSERT_NE(probe, nullptr);
    ASSERT_TRUE(probe->Put("p", "1").ok());
    Result<Engine::CommitTicket> t = probe->BeginCommit();
    ASSERT_TRUE(t.ok());
    bool direct = t.value().data != nullptr;
    ASSERT_TRUE(probe->FinishCommit(t.value(), Engine::SyncTicket(t.value())).ok());
    if (!direct) GTEST_SKIP() << "no O_DIRECT log in " << probe_dir.path();
  }
  std::vector<std::vector<WriteOp>> batches;
  auto put = [](std::string k, std::string v) { return WriteOp{WriteOp::Kind::kPut, std::move(k), std::move(v)}; };
  auto del = [](std::string k) { return WriteOp{WriteOp::Kind::kDelete, std::move(k), {}}; };
  batches.push_back({put("a", "")});  // a 13-byte log record
  batches.push_back({put("k", "v")});
  batches.push_back({del("k")});
  batches.push_back({put("ab", "c")});
  batches.push_back({put("big", std::string(3u << 20, 'b'))});
  batches.push_back({put("b", "1"), put("c", std::string(5000, 'c'))});
  batches.push_back({put("big2", std::string(5u << 20, 'B')), del("a")});
  batches.push_back({put("d", "4")});  // the big buffers are now far too big: given back
  batches.push_back({put("e", std::string(70000, 'e'))});
  Model model;
  for (const auto& b : batches) ApplyToModel(&model, b);
  RunCrashingChild(End::kSigkill, [&](Child& child) {
    auto e = ChildOpen(child, o);
    for (const auto& b : batches) {
      CHILD_OK(child, e->Write(b));
      CommitOnAWorker(child, e);
    }
  });
  auto e = MustOpen(o);
  ASSERT_NE(e, nullptr);
  EXPECT_MODEL(*e, model);
}

// A value of 1 MB or more given to PutOwned is kept as one shared buffer that the log names
// instead of copying (AppendPutRef): the memtable serves the caller's own bytes, and the
// records replay exactly after a crash, whichever way the log is written: direct blocks
// filled on a worker thread (BeginCommit/SyncTicket), direct blocks filled by Commit
// (SealBlocks), or the buffered log (WriteWal). Each batch mixes big and small records, and
// overwrites a big value before it is durable (the first value's record must still be written
// whole).
TEST(LmdbWal, BigValuesNamedByTheLogReplay) {
  enum class Path { kWorker, kCommit, kBuffered };
  for (Path path : {Path::kWorker, Path::kCommit, Path::kBuffered}) {
    SCOPED_TRACE(path == Path::kWorker ? "worker" : path == Path::kCommit ? "commit" : "buffered");
    TempDir d;
    LmdbOptions o = Opts(d.path());
    o.map_size_bytes = 256ull << 20;
    o.direct_log = path != Path::kBuffered;
    auto big = [](char c, size_t n) {
      std::string v(n, c);
      for (size_t j = 0; j < n; j += 4096) v[j] = static_cast<char>(j / 4096);
      return v;
    };
    std::vector<std::vector<std::pair<std::string, std::string>>> batches = {
        {{"a", "1"}, {"big1", big('x', 1u << 20)}, {"b", "2"}},
        {{"big2", big('y', (3u << 20) + 5)}, {"big3", big('z', 2u << 20)}, {"c", std::string(70000, 'c')}},
        {{"big1", big('w', (1u << 20) + 1)}, {"big1", big('v', 4u << 20)}, {"d", ""}},
        {{"big2", "small now"}, {"e", big('u', 1u << 20)}},
    };
    Model model;
    for (const auto& b : batches)
      for (const auto& [k, v] : b) model[k] = v;
    RunCrashingChild(End::kSigkill, [&](Child& child) {
      auto e = ChildOpen(child, o);
      for (const auto& b : batches) {
        for (const auto& [k, v] : b) {
          std::string value = v;
          const char* bytes = value.data();
          CHILD_OK(child, e->PutOwned(k, std::move(value)));
          if (v.size() >= (1u << 20)) {  // the memtable holds the caller's buffer, not a copy
            const char* seen = nullptr;
            CHILD_OK(child, e->View(k, [&](std::string_view got) { seen = got.data(); }));
            if (seen != bytes) child.Fail("a big value was copied into the memtable");
          }
        }
        if (path == Path::kWorker) {
          CommitOnAWorker(child, e);
        } else {
          CHILD_OK(child, e->Commit());
        }
      }
    });
    auto e = MustOpen(o);
    ASSERT_NE(e, nullptr);
    EXPECT_MODEL(*e, model);
  }
}

// A new log generation's name (and the retired logs' removal) is made durable by the next
// log write, on the thread that writes (CommitTicket::dir_fd), not by the owner's loop when
// the generation starts: a directory fsync waits for the file system journal, 20-25 ms while
// a checkpoint writes. The first commit after a rotation carries the directory and is not
// run inline; the next ones carry nothing; sync = none never syncs it. Writes acknowledged
// that way across rotations survive a SIGKILL.
TEST(LmdbWal, NewGenerationsDirectoryIsSyncedByTheNextLogWrite) {
  TempDir d;
  LmdbOptions o = Opts(d.path());
  o.direct_log = true;
  {
    auto e = MustOpen(o);
    ASSERT_NE(e, nullptr);
    auto commit = [&](const std::string& k, bool* had_dir) {
      ASSERT_TRUE(e->Put(k, "v").ok());
      Result<Engine::CommitTicket> t = e->BeginCommit();
      ASSERT_TRUE(t.ok());
      *had_dir = t.value().dir_fd >= 0;
      Status synced;
      std::thread worker([&] { synced = Engine::SyncTicket(t.value()); });
      worker.join();
      ASSERT_TRUE(synced.ok()) << synced.ToString();
      ASSERT_TRUE(e->FinishCommit(t.value(), synced).ok());
    };
    bool had_dir = false;
    ASSERT_TRUE(e->Put("x", "0").ok());
    EXPECT_FALSE(e->CommitInline()) << "open started a generation: its directory is not synced yet";
    ASSERT_TRUE(e->Commit().ok());  // the synchronous path syncs it too
    commit("a", &had_dir);
    EXPECT_FALSE(had_dir) << "already synced by the commit before";
    ASSERT_TRUE(e->Checkpoint().ok());  // retires the old generation, starts a new one
    commit("b", &had_dir);
    EXPECT_TRUE(had_dir) << "the first write into a new generation syncs the directory";
    commit("c", &had_dir);
    EXPECT_FALSE(had_dir);
    ASSERT_TRUE(e->Checkpoint().ok());
    commit("d", &had_dir);
    EXPECT_TRUE(had_dir);
    // Two tickets in flight after a rotation: the second fsyncs the directory too, since
    // its write may finish before the first one's fsync.
    ASSERT_TRUE(e->Checkpoint().ok());
    ASSERT_TRUE(e->Put("e", "v").ok());
    Result<Engine::CommitTicket> t1 = e->BeginCommit();
    ASSERT_TRUE(t1.ok());
    ASSERT_TRUE(e->Put("f", "v").ok());
    Result<Engine::CommitTicket> t2 = e->BeginCommit();
    ASSERT_TRUE(t2.ok());
    if (t1.value().data != nullptr) {  // direct writes (where O_DIRECT is allowed)
      EXPECT_GE(t1.value().dir_fd, 0);
      EXPECT_GE(t2.value().dir_fd, 0);
    }
    ASSERT_TRUE(e->FinishCommit(t1.value(), Engine::SyncTicket(t1.value())).ok());
    ASSERT_TRUE(e->FinishCommit(t2.value(), Engine::SyncTicket(t2.value())).ok());
    commit("g", &had_dir);
    EXPECT_FALSE(had_dir);
  }
  {
    // Buffered writes (no O_DIRECT) are written by the owner, and could reach the disk before
    // a worker's fsync: the owner syncs the directory before writing, and the ticket carries
    // nothing.
    TempDir bd;
    LmdbOptions bo = Opts(bd.path());
    bo.direct_log = false;
    auto e = MustOpen(bo);
    ASSERT_NE(e, nullptr);
    ASSERT_TRUE(e->Checkpoint().ok());
    ASSERT_TRUE(e->Put("k", "v").ok());
    Result<Engine::CommitTicket> t = e->BeginCommit();
    ASSERT_TRUE(t.ok());
    EXPECT_EQ(t.value().data, nullptr);
    EXPECT_LT(t.value().dir_fd, 0);
    ASSERT_TRUE(e->FinishCommit(t.value(), Engine::SyncTicket(t.value())).ok());
  }
  {
    TempDir nd;
    auto e = MustOpen(Opts(nd.path(), SyncMode::kNone));
    ASSERT_NE(e, nullptr);
    ASSERT_TRUE(e->Checkpoint().ok());
    ASSERT_TRUE(e->Put("k", "v").ok());
    Result<Engine::CommitTicket> t = e->BeginCommit();
    ASSERT_TRUE(t.ok());
    EXPECT_LT(t.value().dir_fd, 0) << "sync = none never syncs the directory";
    ASSERT_TRUE(e->FinishCommit(t.value(), Engine::SyncTicket(t.value())).ok());
  }
  Model model;
  std::vector<std::vector<WriteOp>> batches;
  for (int i = 0; i < 12; ++i) {
    batches.push_back({WriteOp{WriteOp::Kind::kPut, "k" + std::to_string(i % 5), "v" + std::to_string(i)}});
  }
  for (const auto& b : batches) ApplyToModel(&model, b);
  TempDir cd;
  LmdbOptions co = Opts(cd.path());
  co.direct_log = true;
  RunCrashingChild(End::kSigkill, [&](Child& child) {
    auto e = ChildOpen(child, co);
    for (size_t i = 0; i < batches.size(); ++i) {
      CHILD_OK(child, e->Write(batches[i]));
      Result<Engine::CommitTicket> t = e->BeginCommit();
      CHILD_OK(child, t.status());
      Status synced;
      std::thread worker([&] { synced = Engine::SyncTicket(t.value()); });
      worker.join();
      CHILD_OK(child, synced);
      CHILD_OK(child, e->FinishCommit(t.value(), synced));
      if (i % 3 == 2) CHILD_OK(child, e->Checkpoint());
    }
  });
  auto e = MustOpen(co);
  ASSERT_NE(e, nullptr);
  EXPECT_MODEL(*e, model);
}

// Two crashes in a row, with writes in between: the second recovery replays the generation
// the first recovery started.
TEST(LmdbWal, RepeatedCrashesAccumulate) {
  TempDir d;
  Model model;
  for (int round = 0; round < 4; ++round) {
    const auto groups = RandomGroups(100 + round, 60, "r" + std::to_string(round % 2) + "-");
    Model before = model;
    model = ModelOf(groups, model);
    RunCrashingChild(round % 2 ? End::kSigkill : End::kExit, [&](Child& child) {
      auto e = ChildOpen(child, Opts(d.path()));
      CHILD_MODEL(child, *e, before);
      ChildWriteGroups(child, *e, groups);
    });
  }
  auto e = MustOpen(Opts(d.path()));
  EXPECT_MODEL(*e, model);
}

// ---- torn / corrupt tails -------------------------------------------------------------------

enum class Tail { kGarbage, kHeaderOnly, kTruncatedRecord, kBadChecksum, kBadPayload, kHugeLength };

std::string TailBytes(Tail t) {
  std::string rec = EncodeRecord(PutOp("torn", std::string(3000, 't')));
  switch (t) {
    case Tail::kGarbage: {
      std::mt19937 rng(3);
      std::string g(777, '\0');
      for (char& c : g) c = static_cast<char>(rng());
      return g;
    }
    case Tail::kHeaderOnly:
      return rec.substr(0, 5);
    case Tail::kTruncatedRecord:
      return rec.substr(0, rec.size() / 2);
    case Tail::kBadChecksum:
      rec[4] ^= 0x5a;
      return rec;
    case Tail::kBadPayload: {
      // Right length, checksum over the damaged bytes, but the payload does not decode.
      std::string payload = "\x05" "Xgarbage";
      uint32_t len = static_cast<uint32_t>(payload.size());
      uint32_t sum = XXH32(payload.data(), payload.size(), 0);
      std::string r(8, '\0');
      std::memcpy(&r[0], &len, 4);
      std::memcpy(&r[4], &sum, 4);
      return r + payload;
    }
    case Tail::kHugeLength: {
      // A torn header claiming a ~2 GB record: replay must not allocate for it.
      uint32_t len = 0x7ffffff0, sum = 0;
      std::string r(8, '\0');
      std::memcpy(&r[0], &len, 4);
      std::memcpy(&r[4], &sum, 4);
      return r + "only a few bytes follow";
    }
  }
  return {};
}

class LmdbWalTornTail : public ::testing::TestWithParam<Tail> {};

TEST_P(LmdbWalTornTail, EarlierWritesSurviveAndLaterWritesStayReachable) {
  TempDir d;
  const auto a = RandomGroups(11, 150, "");
  const auto b = RandomGroups(12, 80, "");
  const Model model_a = ModelOf(a);
  const Model model_ab = ModelOf(b, model_a);

  RunCrashingChild(End::kExit, [&](Child& child) {
    auto e = ChildOpen(child, Opts(d.path()));
    ChildWriteGroups(child, *e, a);
  });
  auto files = WalFiles(d.path());
  ASSERT_EQ(files.size(), 1u);
  ASSERT_NO_FATAL_FAILURE(AppendFile(files.back().path, TailBytes(GetParam())));

  // Recover in a child with a 1 GB address-space limit (a 2 GB allocation for a torn length
  // would throw there), check A, write B and crash again before any checkpoint: B lives only
  // in the generation this recovery started.
  RunCrashingChild(End::kExit, [&](Child& child) {
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
    // (ASan and TSan reserve terabytes of address space up front.)
    rlimit as{1ull << 30, 1ull << 30};
    getrlimit(RLIMIT_AS, &as);
    as.rlim_cur = 1ull << 30;
    CHILD_CHECK(child, setrlimit(RLIMIT_AS, &as) == 0);
#endif
    auto e = ChildOpen(child, Opts(d.path()));
    CHILD_MODEL(child, *e, model_a);
    ChildWriteGroups(child, *e, b);
    CHILD_CHECK(child, e->Stats().wal_bytes > 0);
  });
  auto e = MustOpen(Opts(d.path()));
  ASSERT_NE(e, nullptr);
  EXPECT_MODEL(*e, model_ab);
  EXPECT_EQ(Read(*e, "torn"), std::nullopt);
  EXPECT_EQ(WalFiles(d.path()).size(), 1u);
  // And it goes on working.
  ASSERT_TRUE(e->Put("after", "1").ok());
  ASSERT_TRUE(e->Commit().ok());
  e.reset();
  e = MustOpen(Opts(d.path()));
  EXPECT_EQ(Read(*e, "after"), "1");
  EXPECT_EQ(Dump(*e).size(), model_ab.size() + 1);
}

std::string TailName(const ::testing::TestParamInfo<Tail>& info) {
  static const char* const kNames[] = {"Garbage",     "HeaderOnly", "TruncatedRecord",
                                       "BadChecksum", "BadPayload", "HugeLength"};
  return kNames[static_cast<int>(info.param)];
}

INSTANTIATE_TEST_SUITE_P(Tails, LmdbWalTornTail,
                         ::testing::Values(Tail::kGarbage, Tail::kHeaderOnly,
                                           Tail::kTruncatedRecord, Tail::kBadChecksum,
                                           Tail::kBadPayload, Tail::kHugeLength),
                         TailName);

// The recovery checkpoint cannot run (LMDB's file may not grow: RLIMIT_FSIZE), so the torn
// log stays on disk and new writes go to a new generation after it. The next recovery must
// replay the old log up to its torn record and then still reach the new generation.
TEST(LmdbWal, TornLogKeptByFailedRecoveryCheckpointDoesNotHideLaterGeneration) {
  TempDir d;
  const auto a = RandomGroups(21, 300, "");
  const Model model_a = ModelOf(a);
  Model model_ab = model_a;
  RunCrashingChild(End::kExit, [&](Child& child) {
    auto e = ChildOpen(child, Opts(d.path()));
    ChildWriteGroups(child, *e, a);
  });
  auto files = WalFiles(d.path());
  ASSERT_EQ(files.size(), 1u);
  ASSERT_NO_FATAL_FAILURE(AppendFile(files[0].path, TailBytes(Tail::kBadChecksum)));
  const uint64_t data_bytes = fs::file_size(d.Sub("data.mdb"));
  ASSERT_GT(files[0].size, 4 * data_bytes) << "the replay must not fit in data.mdb as it is";

  std::vector<WriteOp> b;
  for (int i = 0; i < 20; ++i) {
    b.push_back({WriteOp::Kind::kPut, "b-" + Key(i), "v" + std::to_string(i)});
  }
  b.push_back({WriteOp::Kind::kDelete, model_a.begin()->first, ""});
  ApplyToModel(&model_ab, b);

  RunCrashingChild(End::kExit, [&](Child& child) {
    signal(SIGXFSZ, SIG_IGN);
    rlimit lim;
    CHILD_CHECK(child, getrlimit(RLIMIT_FSIZE, &lim) == 0);
    lim.rlim_cur = data_bytes;  // LMDB's data file cannot grow; a small log still fits
    CHILD_CHECK(child, setrlimit(RLIMIT_FSIZE, &lim) == 0);
    auto e = ChildOpen(child, Opts(d.path()));
    CHILD_MODEL(child, *e, model_a);
    CHILD_CHECK(child, e->Stats().checkpoints == 0);  // the recovery checkpoint failed
    CHILD_CHECK(child, WalFiles(d.path()).size() == 2);
    CHILD_OK(child, e->Write(b));
    CHILD_OK(child, e->Commit());
    CHILD_MODEL(child, *e, model_ab);
  });
  auto e = MustOpen(Opts(d.path()));
  ASSERT_NE(e, nullptr);
  EXPECT_MODEL(*e, model_ab);
  EXPECT_EQ(Read(*e, "torn"), std::nullopt);
  EXPECT_EQ(WalFiles(d.path()).size(), 1u);
}

// An open whose recovery checkpoint fails (here: the log holds more than the map may grow to)
// must leave the logs as they were, so that the operator can fix the cause and open again
// without losing a thing. Meanwhile the engine serves what the log holds.
TEST(LmdbWal, FailedReplayKeepsTheLog) {
  TempDir d;
  Model model;
  for (int i = 0; i < 3000; ++i) model[Key(i)] = std::string(1000, static_cast<char>('a' + i % 26));
  RunCrashingChild(End::kExit, [&](Child& child) {
    Engine* e = ChildOpen(child, Opts(d.path()));
    int n = 0;
    for (const auto& [k, v] : model) {
      CHILD_OK(child, e->Put(k, v));
      if (++n % 100 == 0) CHILD_OK(child, e->Commit());
    }
    CHILD_OK(child, e->Commit());
  });
  const auto files = WalFiles(d.path());
  ASSERT_EQ(files.size(), 1u);
  const std::string log = ReadFile(files[0].path);

  LmdbOptions small = Opts(d.path());
  small.map_size_bytes = small.map_size_max_bytes = 1 << 20;
  for (int attempt = 0; attempt < 2; ++attempt) {
    // The replay fits in memory but its checkpoint does not fit in the map: the engine
    // opens, serves every acknowledged write, refuses new data, and keeps the log.
    auto e = MustOpen(small);
    ASSERT_NE(e, nullptr);
    EXPECT_MODEL(*e, model);
    EXPECT_EQ(e->Put("new", "x").code(), Code::kNoSpace);
    EXPECT_EQ(e->Checkpoint().code(), Code::kNoSpace);
    ASSERT_TRUE(fs::exists(files[0].path) && ReadFile(files[0].path) == log)
        << "a failed recovery checkpoint changed or deleted the log";
  }
  auto e = MustOpen(Opts(d.path()));
  ASSERT_NE(e, nullptr);
  EXPECT_MODEL(*e, model);
  EXPECT_FALSE(fs::exists(files[0].path)) << "a successful checkpoint retires the old log";
}

// ---- several generations ------------------------------------------------------------------

// Two generations with ops on disk (an older one whose ops are also checkpointed, a newer one
// that overwrites them): replay runs in generation order, so the newer ops win.
TEST(LmdbWal, GenerationsReplayInOrder) {
  TempDir d;
  const auto a = RandomGroups(31, 200, "");
  const auto b = RandomGroups(32, 200, "");  // same keyspace: overwrites and deletes of A
  const Model model_a = ModelOf(a);
  const Model model_ab = ModelOf(b, model_a);
  ASSERT_NE(model_a, model_ab);

  RunCrashingChild(End::kExit, [&](Child& child) {
    auto e = ChildOpen(child, Opts(d.path()));
    ChildWriteGroups(child, *e, a);
  });
  auto files_a = WalFiles(d.path());
  ASSERT_EQ(files_a.size(), 1u);
  const std::string log_a = ReadFile(files_a[0].path);

  RunCrashingChild(End::kSigkill, [&](Child& child) {
    auto e = ChildOpen(child, Opts(d.path()));  // replays A, checkpoints, deletes A's log
    CHILD_MODEL(child, *e, model_a);
    ChildWriteGroups(child, *e, b);
  });
  auto files_b = WalFiles(d.path());
  ASSERT_EQ(files_b.size(), 1u);
  ASSERT_GT(files_b[0].gen, files_a[0].gen);
  ASSERT_GT(files_b[0].size, 0u);
  // Put A's log back: as if the crash came before the rotation deleted it. (Records are
  // sealed with their generation number, so the files keep their own numbers; ListWal sorts
  // numerically, which ListWalSortsNumerically checks across hex digit boundaries.)
  for (auto [ga, gb] : {std::pair<uint64_t, uint64_t>{files_a[0].gen, files_b[0].gen}}) {
    SCOPED_TRACE("generations " + std::to_string(ga) + ", " + std::to_string(gb));
    TempDir copy;
    fs::copy(d.path(), copy.path(), fs::copy_options::recursive | fs::copy_options::overwrite_existing);
    fs::remove(copy.path() + "/" + fs::path(files_b[0].path).filename().string());
    ASSERT_NO_FATAL_FAILURE(WriteFile(WalPath(copy.path(), ga), log_a));
    fs::copy_file(files_b[0].path, WalPath(copy.path(), gb));
    ASSERT_EQ(WalFiles(copy.path()).size(), 2u);

    auto e = MustOpen(Opts(copy.path()));
    ASSERT_NE(e, nullptr);
    EXPECT_MODEL(*e, model_ab);
    auto left = WalFiles(copy.path());
    ASSERT_EQ(left.size(), 1u);  // both replayed generations deleted
    EXPECT_GT(left[0].gen, gb);  // numbering continues after the newest
    EXPECT_EQ(e->Stats().wal_bytes, 0u);  // (the file itself is preallocated with zeros)
    // The new generation is where new writes go, and it is replayed after a crash.
    e.reset();
    RunCrashingChild(End::kExit, [&](Child& child) {
      auto e2 = ChildOpen(child, Opts(copy.path()));
      CHILD_OK(child, e2->Put("later", "x"));
      CHILD_OK(child, e2->Commit());
    });
    e = MustOpen(Opts(copy.path()));
    Model want = model_ab;
    want["later"] = "x";
    EXPECT_MODEL(*e, want);
  }
}

// An old log whose ops are all checkpointed already (crash after LMDB's commit, before the
// rotation deleted it): replaying it over the newer LMDB state changes nothing, even though
// it is full of overwrites and deletes.
TEST(LmdbWal, ReplayOverCheckpointedStateIsIdempotent) {
  TempDir d;
  const auto groups = RandomGroups(41, 300, "", 60);  // small keyspace: many re-puts/deletes
  const Model model = ModelOf(groups);
  auto e = MustOpen(Opts(d.path()));
  for (const Group& g : groups) {
    for (const auto& batch : g) ASSERT_TRUE(e->Write(batch).ok());
    ASSERT_TRUE(e->Commit().ok());
  }
  auto files = WalFiles(d.path());
  ASSERT_EQ(files.size(), 1u);
  const std::string old_log = ReadFile(files[0].path);
  ASSERT_GT(old_log.size(), 0u);
  ASSERT_TRUE(e->Checkpoint().ok());
  EXPECT_FALSE(fs::exists(files[0].path));
  e.reset();

  ASSERT_NO_FATAL_FAILURE(WriteFile(files[0].path, old_log));
  e = MustOpen(Opts(d.path()));
  ASSERT_NE(e, nullptr);
  EXPECT_MODEL(*e, model);
  e.reset();
  ASSERT_NO_FATAL_FAILURE(WriteFile(files[0].path, old_log));  // and once more
  e = MustOpen(Opts(d.path()));
  EXPECT_MODEL(*e, model);
  EXPECT_FALSE(fs::exists(files[0].path));
}

// ---- Checkpoint() -------------------------------------------------------------------------

TEST(LmdbWal, CheckpointEmptiesTheLogAndDeletesOldGenerations) {
  TempDir d;
  auto e = MustOpen(Opts(d.path()));
  Model model;
  uint64_t last_gen = WalFiles(d.path()).at(0).gen;
  for (int round = 0; round < 5; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    const auto groups = RandomGroups(50 + round, 40, "");
    for (const Group& g : groups) {
      for (const auto& batch : g) ASSERT_TRUE(e->Write(batch).ok());
      ASSERT_TRUE(e->Commit().ok());
    }
    model = ModelOf(groups, model);
    EngineStats st = e->Stats();
    ASSERT_GT(st.wal_bytes, 0u);
    auto files = WalFiles(d.path());
    ASSERT_EQ(files.size(), 1u);
    EXPECT_EQ(files[0].gen, last_gen);
    // The stat is the write position; a recycled log file can be longer (stale records of
    // its previous generation, which fail this generation's checksums).
    EXPECT_GE(files[0].size, st.wal_bytes);

    ASSERT_TRUE(e->Checkpoint().ok());
    EXPECT_EQ(e->Stats().wal_bytes, 0u);
    EXPECT_EQ(e->Stats().checkpoints, st.checkpoints + 1);
    files = WalFiles(d.path());
    ASSERT_EQ(files.size(), 1u);
    EXPECT_GT(files[0].gen, last_gen);
    EXPECT_FALSE(fs::exists(WalPath(d.path(), last_gen)));
    last_gen = files[0].gen;
    EXPECT_MODEL(*e, model);
  }
  // With nothing written since, a checkpoint changes nothing on disk.
  ASSERT_TRUE(e->Checkpoint().ok());
  EXPECT_EQ(e->Stats().wal_bytes, 0u);
  // Uncommitted writes are committed (logged) first, then folded in.
  ASSERT_TRUE(e->Put("pending", "p").ok());
  ASSERT_TRUE(e->Checkpoint().ok());
  EXPECT_FALSE(e->HasPending());
  EXPECT_EQ(e->Stats().wal_bytes, 0u);
  model["pending"] = "p";
  // Crash now: everything is in LMDB; the log holds nothing of this generation.
  ASSERT_EQ(WalFiles(d.path()).size(), 1u);
  e.reset();
  e = MustOpen(Opts(d.path()));
  EXPECT_MODEL(*e, model);
}

// ---- a failed log append ------------------------------------------------------------------

// The log write fails with EFBIG (RLIMIT_FSIZE, as full as a full disk). Commit() says
// NoSpace, the unacknowledged ops vanish (new keys gone, overwritten and deleted keys back to
// their acknowledged values), the log is cut back so later records stay reachable, and once
// there is room again the engine works without a restart. A crash afterwards recovers
// exactly the acknowledged data. All in a child: the limit and SIGXFSZ stay there.
TEST(LmdbWal, FailedLogAppendIsNotAcknowledged) {
  TempDir d;
  Model model;
  for (int i = 0; i < 50; ++i) model[Key(i)] = std::string(1000, static_cast<char>('a' + i % 26));
  model["overwrite-me"] = "v1";
  model["delete-me"] = "d";
  Model after = model;
  after.erase(Key(3));
  after["small"] = "s";
  for (int i = 0; i < 20; ++i) after["after-" + Key(i)] = std::to_string(i);

  RunCrashingChild(End::kExit, [&](Child& child) {
    auto e = ChildOpen(child, Opts(d.path()));
    for (const auto& [k, v] : model) CHILD_OK(child, e->Put(k, v));
    CHILD_OK(child, e->Commit());
    const uint64_t wal = e->Stats().wal_bytes;
    CHILD_CHECK(child, wal > 50000);

    signal(SIGXFSZ, SIG_IGN);
    rlimit old_lim, lim;
    CHILD_CHECK(child, getrlimit(RLIMIT_FSIZE, &old_lim) == 0);
    lim = old_lim;
    lim.rlim_cur = wal + 8192;  // room for a small record (a block or two), not for the group below
    CHILD_CHECK(child, setrlimit(RLIMIT_FSIZE, &lim) == 0);

    // Many new keys: taking them back erases them from the memtable's probe chains.
    for (int i = 0; i < 3000; ++i) {
      CHILD_OK(child, e->Put("lost-" + Key(i), std::string(i < 20 ? 1000 : 20, 'x')));
    }
    CHILD_OK(child, e->Put("overwrite-me", "v2"));
    CHILD_OK(child, e->Delete("delete-me"));
    CHILD_CHECK(child, Read(*e, "overwrite-me") == "v2");  // pending writes are visible
    Status s = e->Commit();
    if (s.code() != Code::kNoSpace) child.Fail("commit over the limit: " + s.ToString());
    CHILD_CHECK(child, !e->HasPending());
    CHILD_MODEL(child, *e, model);  // nothing of the failed group is visible
    CHILD_CHECK(child, e->Stats().wal_bytes == wal);
    CHILD_CHECK(child, WalFiles(d.path()).size() == 1 && WalFiles(d.path())[0].size == wal);
    CHILD_OK(child, e->Commit());  // nothing left to commit

    // Still under the limit: a small group commits.
    CHILD_OK(child, e->Put("small", "s"));
    CHILD_OK(child, e->Commit());

    CHILD_CHECK(child, setrlimit(RLIMIT_FSIZE, &old_lim) == 0);  // room again
    for (int i = 0; i < 20; ++i) CHILD_OK(child, e->Put("after-" + Key(i), std::to_string(i)));
    CHILD_OK(child, e->Commit());
    CHILD_OK(child, e->Delete(Key(3)));
    CHILD_OK(child, e->Commit());
    CHILD_MODEL(child, *e, after);
  });
  auto e = MustOpen(Opts(d.path()));
  ASSERT_NE(e, nullptr);
  EXPECT_MODEL(*e, after);
}

// The same with sync = always, where the failure comes back from the Write itself.
TEST(LmdbWal, FailedLogAppendWithSyncAlwaysFailsTheWrite) {
  TempDir d;
  Model model = {{"a", "1"}, {"b", "2"}};
  RunCrashingChild(End::kExit, [&](Child& child) {
    auto e = ChildOpen(child, Opts(d.path(), SyncMode::kAlways));
    for (const auto& [k, v] : model) CHILD_OK(child, e->Put(k, v));
    signal(SIGXFSZ, SIG_IGN);
    rlimit old_lim, lim;
    CHILD_CHECK(child, getrlimit(RLIMIT_FSIZE, &old_lim) == 0);
    lim = old_lim;
    lim.rlim_cur = e->Stats().wal_bytes + 100;
    CHILD_CHECK(child, setrlimit(RLIMIT_FSIZE, &lim) == 0);
    Status s = e->Put("big", std::string(5000, 'b'));
    if (s.code() != Code::kNoSpace) child.Fail("put over the limit: " + s.ToString());
    s = e->Write({{WriteOp::Kind::kDelete, "a", ""}, {WriteOp::Kind::kPut, "c", std::string(200, 'c')}});
    if (s.code() != Code::kNoSpace) child.Fail("batch over the limit: " + s.ToString());
    CHILD_CHECK(child, !e->HasPending());
    CHILD_MODEL(child, *e, model);
    CHILD_CHECK(child, setrlimit(RLIMIT_FSIZE, &old_lim) == 0);
    CHILD_OK(child, e->Put("c", "3"));
  });
  model["c"] = "3";
  auto e = MustOpen(Opts(d.path()));
  EXPECT_MODEL(*e, model);
}

// ---- sync modes -----------------------------------------------------------------------------

// sync = none never fsyncs, but a process crash loses nothing: the page cache has the log.
TEST(LmdbWal, SyncNoneRecoversAfterProcessCrash) {
  TempDir d;
  const auto groups = RandomGroups(61, 300, "");
  const Model model = ModelOf(groups);
  RunCrashingChild(End::kSigkill, [&](Child& child) {
    auto e = ChildOpen(child, Opts(d.path(), SyncMode::kNone));
    ChildWriteGroups(child, *e, groups);
    CHILD_CHECK(child, e->Stats().syncs == 0);
    CHILD_CHECK(child, e->Stats().wal_bytes > 0);
  });
  auto e = MustOpen(Opts(d.path(), SyncMode::kNone));
  ASSERT_NE(e, nullptr);
  EXPECT_MODEL(*e, model);
}

// sync = always: every Write is its own durable commit; no Commit() call is needed.
TEST(LmdbWal, SyncAlwaysCommitsEveryWrite) {
  TempDir d;
  const auto groups = RandomGroups(71, 100, "");
  const Model model = ModelOf(groups);
  RunCrashingChild(End::kSigkill, [&](Child& child) {
    auto e = ChildOpen(child, Opts(d.path(), SyncMode::kAlways));
    for (const Group& g : groups) {
      for (const auto& batch : g) {
        EngineStats before = e->Stats();
        CHILD_OK(child, e->Write(batch));
        EngineStats st = e->Stats();
        CHILD_CHECK(child, !e->HasPending());
        CHILD_CHECK(child, st.commits == before.commits + 1);
        CHILD_CHECK(child, st.syncs >= before.syncs + 1);
        CHILD_CHECK(child, st.wal_bytes > before.wal_bytes || st.checkpoints > before.checkpoints);
        CHILD_OK(child, e->Commit());  // nothing left
        CHILD_CHECK(child, e->Stats().commits == st.commits);
      }
    }
  });
  auto e = MustOpen(Opts(d.path()));
  ASSERT_NE(e, nullptr);
  EXPECT_MODEL(*e, model);
}

// Log generations are replayed in numeric order, also across hex digit boundaries
// (0x9 < 0xa, 0xff < 0x100). The records are built by hand here: [u32 len][u32 xxh32 of the
// payload xor the generation's mix][payload: n, then (kind, klen, key, vlen, value)].
uint32_t TestGenMix(uint64_t gen) { return static_cast<uint32_t>((gen * 0x9E3779B97F4A7C15ull) >> 32) | 1u; }
// xxh3: the current format (length with bit 31 set, low half of XXH3-64); otherwise the
// original one (XXH32), which logs written by older builds still carry.
std::string HandRecord(uint64_t gen, const std::string& key, const std::string& value,
                       bool xxh3 = false) {
  std::string payload;
  payload.push_back(1);  // one op (varint)
  payload.push_back('P');
  payload.push_back(static_cast<char>(key.size()));
  payload += key;
  payload.push_back(static_cast<char>(value.size()));
  payload += value;
  uint32_t len = static_cast<uint32_t>(payload.size());
  uint32_t sum = (xxh3 ? static_cast<uint32_t>(XXH3_64bits(payload.data(), payload.size()))
                       : XXH32(payload.data(), payload.size(), 0)) ^ TestGenMix(gen);
  if (xxh3) len |= 1u << 31;
  std::string rec(8, '\0');
  std::memcpy(rec.data(), &len, 4);
  std::memcpy(rec.data() + 4, &sum, 4);
  return rec + payload;
}

TEST(LmdbWal, ListWalSortsNumerically) {
  for (auto [ga, gb] : {std::pair<uint64_t, uint64_t>{9, 10}, {0xff, 0x100}}) {
    SCOPED_TRACE("generations " + std::to_string(ga) + ", " + std::to_string(gb));
    TempDir d;
    { auto e = MustOpen(Opts(d.path())); }
    for (const auto& f : WalFiles(d.path())) fs::remove(f.path);
    ASSERT_NO_FATAL_FAILURE(WriteFile(WalPath(d.path(), ga), HandRecord(ga, "k", "old")));
    ASSERT_NO_FATAL_FAILURE(WriteFile(WalPath(d.path(), gb), HandRecord(gb, "k", "new")));
    // A record sealed for another generation is refused (a recycled file's stale tail).
    ASSERT_NO_FATAL_FAILURE(WriteFile(WalPath(d.path(), gb + 1), HandRecord(gb, "k", "stale")));
    auto e = MustOpen(Opts(d.path()));
    ASSERT_NE(e, nullptr);
    std::string v;
    ASSERT_TRUE(e->Get("k", &v).ok());
    EXPECT_EQ(v, "new");
  }
}

// Both checksum formats replay, in one file; a record whose flag says XXH3 but whose sum is
// XXH32 (or damaged) ends the replay like any torn record.
TEST(LmdbWal, OldAndNewChecksumFormatsReplay) {
  TempDir d;
  { auto e = MustOpen(Opts(d.path())); }
  for (const auto& f : WalFiles(d.path())) fs::remove(f.path);
  const uint64_t gen = 7;
  std::string bad = HandRecord(gen, "c", "never", /*xxh3=*/true);
  bad[4] ^= 0x01;
  ASSERT_NO_FATAL_FAILURE(WriteFile(WalPath(d.path(), gen),
                                    HandRecord(gen, "a", "old-format") +
                                        HandRecord(gen, "b", "new-format", /*xxh3=*/true) +
                                        bad + HandRecord(gen, "d", "after-the-tear", true)));
  auto e = MustOpen(Opts(d.path()));
  ASSERT_NE(e, nullptr);
  std::string v;
  ASSERT_TRUE(e->Get("a", &v).ok());
  EXPECT_EQ(v, "old-format");
  ASSERT_TRUE(e->Get("b", &v).ok());
  EXPECT_EQ(v, "new-format");
  EXPECT_TRUE(e->Get("c", &v).IsNotFound());
  EXPECT_TRUE(e->Get("d", &v).IsNotFound());
}

// A batch too large for one log record (31-bit length) is refused whole, not truncated.
TEST(LmdbWal, BatchLargerThanOneLogRecordIsRefused) {
  TempDir d;
  auto e = MustOpen(Opts(d.path()));
  ASSERT_NE(e, nullptr);
  std::vector<WriteOp> batch;
  for (int i = 0; i < 4; ++i) {
    batch.push_back(WriteOp{WriteOp::Kind::kPut, "k" + std::to_string(i), std::string(512u << 20, 'x')});
  }
  Status s = e->WriteOwned(std::move(batch));
  EXPECT_EQ(s.code(), Code::kLimit) << s.ToString();
  std::string v;
  EXPECT_TRUE(e->Get("k0", &v).IsNotFound());
  EXPECT_TRUE(e->Put("small", "ok").ok());
  EXPECT_TRUE(e->Commit().ok());
}

// ---- random kills during a mixed workload ---------------------------------------------------

// The op stream of the kill workloads: deterministic in its seed, so the parent can rebuild
// the model of any prefix of it that the child reached. Batches of 1-3 puts (binary values of
// 0..2 KB) and deletes over `keys` keys.
class OpStream {
 public:
  OpStream(uint32_t seed, int keys, std::string prefix = "w")
      : rng_(seed), keys_(keys), prefix_(std::move(prefix)) {}
  std::vector<WriteOp> Next() {
    std::vector<WriteOp> batch(1 + rng_() % 3);
    for (WriteOp& op : batch) {
      op.key = prefix_ + Key(static_cast<int>(rng_() % static_cast<uint32_t>(keys_)));
      if (rng_() % 4 == 0) {
        op.kind = WriteOp::Kind::kDelete;
        continue;
      }
      uint32_t r = rng_() % 100;
      size_t len = r < 5 ? 0 : r < 25 ? 1024 + rng_() % 1025 : rng_() % 400;
      op.value.resize(len);
      uint64_t x = rng_() | (uint64_t{rng_()} << 32);
      for (char& c : op.value) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        c = static_cast<char>(x >> 56);
      }
    }
    return batch;
  }

 private:
  std::mt19937 rng_;
  int keys_;
  std::string prefix_;
};

// The child's position in its OpStream, in shared memory: the parent reads it once the child
// is dead (a store before SIGKILL is visible: same page).
struct Progress {
  std::atomic<int64_t> applied{0};      // batches handed to the engine: the log holds at most these
  std::atomic<int64_t> acked{0};        // batches whose commit returned OK: the log holds these
  std::atomic<int64_t> checkpoints{0};  // StartCheckpoint() and Checkpoint() calls
  std::atomic<int64_t> async_commits{0};
};

class SharedProgress {
 public:
  SharedProgress() {
    void* p = ::mmap(nullptr, sizeof(Progress), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                     -1, 0);
    EXPECT_NE(p, MAP_FAILED);
    p_ = new (p) Progress();
  }
  ~SharedProgress() {
    p_->~Progress();
    ::munmap(p_, sizeof(Progress));
  }
  SharedProgress(const SharedProgress&) = delete;
  SharedProgress& operator=(const SharedProgress&) = delete;
  Progress* get() const { return p_; }
  Progress* operator->() const { return p_; }

 private:
  Progress* p_;
};

// Runs `body` in a forked child that always dies by SIGKILL: the parent's, sent once ready()
// holds (polled every 200 us) plus delay_us, or its own when the body returns. Asserts (in the
// parent) that the body did not fail.
void RunKilledChild(const std::function<void(Child&)>& body, const std::function<bool()>& ready,
                    int delay_us) {
  int fd = -1;
  pid_t pid = ForkChild(body, /*sigkill=*/true, &fd);
  ASSERT_GE(pid, 0);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  bool ended = false;  // the child wrote a failure or died on its own
  while (!ready()) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 0) > 0) {
      ended = true;
      break;
    }
    if (std::chrono::steady_clock::now() > deadline) {
      ADD_FAILURE() << "the child neither got ready nor died within 120 s (hung?)";
      break;
    }
    ::usleep(200);
  }
  if (!ended) {
    ::usleep(static_cast<useconds_t>(delay_us));
    ::kill(pid, SIGKILL);  // harmless if it is already dead (not yet reaped)
  }
  std::string failure = ReadAll(fd);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_EQ(failure, "") << "in the child";
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "status " << status;
}

std::optional<std::string> Lookup(const Model& m, const std::string& key) {
  auto it = m.find(key);
  if (it == m.end()) return std::nullopt;
  return it->second;
}

using Rows = std::vector<std::pair<std::string, std::string>>;

Rows ModelScan(const Model& m, const std::string& start, const std::string& end, size_t limit) {
  Rows out;
  for (auto it = m.lower_bound(start); it != m.end(); ++it) {
    if (!end.empty() && it->first >= end) break;
    out.emplace_back(*it);
    if (limit != 0 && out.size() >= limit) break;
  }
  return out;
}

Status EngineScan(Engine& e, const std::string& start, const std::string& end, size_t limit,
                  Rows* out) {
  out->clear();
  return e.Scan(start, end, limit, [&](std::string_view k, std::string_view v) {
    out->emplace_back(std::string(k), std::string(v));
    return true;
  });
}

// Get and Scan checks against a model of everything written (pending writes included).
class ChildChecker {
 public:
  ChildChecker(Child& child, Engine& e, const Model& model) : child_(child), e_(e), model_(model) {}
  void Get(const std::string& key) {
    std::string v;
    Status s = e_.Get(key, &v);
    auto want = Lookup(model_, key);
    if (!want) {
      if (!s.IsNotFound()) child_.Fail("Get(" + key + ") -> " + s.ToString() + ", want NotFound");
    } else if (!s.ok() || v != *want) {
      child_.Fail("Get(" + key + ") -> " + s.ToString() + " with " + std::to_string(v.size()) +
                  " bytes, want " + std::to_string(want->size()) + " bytes");
    }
  }
  void Scan(const std::string& start, const std::string& end, size_t limit) {
    Rows got;
    Status s = EngineScan(e_, start, end, limit, &got);
    if (!s.ok()) child_.Fail("Scan -> " + s.ToString());
    Rows want = ModelScan(model_, start, end, limit);
    if (got != want) {
      Model g(got.begin(), got.end()), w(want.begin(), want.end());
      child_.Fail("Scan [" + start + ", " + end + ") limit " + std::to_string(limit) + ": " +
                  std::to_string(got.size()) + " rows, want " + std::to_string(want.size()) +
                  ": " + Diff(w, g));
    }
  }

 private:
  Child& child_;
  Engine& e_;
  const Model& model_;
};

constexpr int kKillKeys = 3000;
// Commit tickets the kill workload keeps outstanding at once (the engine allows overlapping
// tickets; the server keeps one).
constexpr int kOverlappingTickets = 3;

// When the child kills itself (the parent's timed kill aside).
struct KillPlan {
  int64_t max_batches = 4000;     // then it kills itself anyway
  int kill_after_checkpoint = 0;  // > 0: after its n-th StartCheckpoint() ...
  int kill_delay_batches = 0;     // ... and this many more batches (0: at once, mid-apply)
};

// The child of the kill tests: opens (recovering what the last kill left, which must be
// `start`), then runs OpStream(seed) with reads and scans checked against a model, sync and
// async group commits (BeginCommit / SyncTicket on a thread while writes go on / FinishCommit),
// StartCheckpoint() every ~200 ops and now and then Checkpoint(), until it is killed.
void KillWorkload(Child& child, const LmdbOptions& o, uint32_t seed, const Model& start,
                  Progress* progress, const KillPlan& plan) {
  Engine* e = ChildOpen(child, o);
  CHILD_MODEL(child, *e, start);
  OpStream ops(seed, kKillKeys);
  std::mt19937 ctl(seed * 7919u + 1);
  Model visible = start;
  ChildChecker check(child, *e, visible);
  int64_t n = 0;  // batches written
  int64_t kill_at = -1;
  // Mostly ~100 batches (~200 ops) between checkpoints; now and then ~1000, for a larger
  // table to apply (more time for a kill to land in the middle of it).
  auto checkpoint_gap = [&] {
    return static_cast<int>(ctl() % 5 == 0 ? 500 + ctl() % 1000 : 80 + ctl() % 40);
  };
  int since_checkpoint = 0, next_checkpoint = checkpoint_gap();
  int started = 0;
  auto rand_key = [&] { return "w" + Key(static_cast<int>(ctl() % kKillKeys)); };
  auto write_next = [&] {
    std::vector<WriteOp> batch = ops.Next();
    ApplyToModel(&visible, batch);
    progress->applied.store(n + 1);
    CHILD_OK(child, e->WriteOwned(std::move(batch)));
    ++n;
    if (o.sync == SyncMode::kAlways) progress->acked.store(n);  // each Write commits
    ++since_checkpoint;
    if (ctl() % 3 == 0) check.Get(rand_key());
  };
  auto scan = [&] {
    int a = static_cast<int>(ctl() % kKillKeys);
    std::string end = ctl() % 4 == 0 ? "" : "w" + Key(a + static_cast<int>(ctl() % 300));
    size_t limit = ctl() % 3 == 0 ? 0 : 1 + ctl() % 100;
    check.Scan("w" + Key(a), end, limit);
  };
  while (n < plan.max_batches) {
    if (kill_at >= 0 && n >= kill_at) ::kill(::getpid(), SIGKILL);
    int group = 1 + static_cast<int>(ctl() % 6);
    for (int g = 0; g < group; ++g) write_next();
    if (ctl() % 40 == 0) scan();
    if (ctl() % 3 == 0) {
      // Asynchronous group commits: each fsync runs on a thread of its own while writes,
      // reads and scans go on (up to kOverlappingTickets of them at once); a ticket
      // acknowledges only what was written before its BeginCommit, in ticket order.
      struct Ticket {
        int64_t upto;
        Result<Engine::CommitTicket> t;
        Status synced;
        std::thread syncer;
      };
      std::vector<std::unique_ptr<Ticket>> tickets;
      int count = 1 + (ctl() % 2 == 0 ? kOverlappingTickets - 1 : 0);
      for (int k = 0; k < count; ++k) {
        tickets.push_back(std::make_unique<Ticket>(Ticket{n, e->BeginCommit(), Status::OK(), {}}));
        Ticket* t = tickets.back().get();
        CHILD_OK(child, t->t.status());
        t->syncer = std::thread([t] { t->synced = Engine::SyncTicket(t->t.value()); });
        int more = static_cast<int>(ctl() % 4);
        for (int i = 0; i < more; ++i) write_next();
        if (ctl() % 8 == 0) scan();
      }
      for (auto& t : tickets) {
        t->syncer.join();
        CHILD_OK(child, e->FinishCommit(t->t.value(), t->synced));
        CHILD_OK(child, t->synced);
        progress->acked.store(t->upto);
        progress->async_commits.fetch_add(1);
      }
      continue;
    }
    CHILD_OK(child, e->Commit());
    progress->acked.store(n);
    if (since_checkpoint < next_checkpoint) continue;
    since_checkpoint = 0;
    next_checkpoint = checkpoint_gap();
    progress->checkpoints.fetch_add(1);
    if (ctl() % 8 == 0) {
      CHILD_OK(child, e->Checkpoint());
      continue;
    }
    CHILD_OK(child, e->StartCheckpoint());
    if (++started == plan.kill_after_checkpoint) {
      if (plan.kill_delay_batches == 0) ::kill(::getpid(), SIGKILL);  // the apply has just begun
      kill_at = n + plan.kill_delay_batches;
    }
  }
}

// Seeded kills at random moments: by the parent after a random number of batches plus a random
// delay, or by the child itself right after (or a few batches after) a StartCheckpoint(), while
// the background apply runs. Four kills in a row on one directory. After each, the reopened
// store must hold exactly some prefix of the written batches that includes every acknowledged
// one (SIGKILL keeps the page cache, so whatever reached the log comes back; nothing else may).
// Sync mode batch for most seeds, none and always for every sixth.
class LmdbWalKill : public ::testing::TestWithParam<uint32_t> {};

TEST_P(LmdbWalKill, StoreIsAPrefixHoldingEveryAcknowledgedBatch) {
  const uint32_t seed = GetParam();
  const SyncMode sync = seed % 6 == 0   ? SyncMode::kNone
                        : seed % 6 == 3 ? SyncMode::kAlways
                                        : SyncMode::kBatch;
  TempDir d;
  std::mt19937 rng(seed);
  // Some batch seeds write the log through the page cache + fdatasync (the fallback where
  // O_DIRECT is refused) instead of O_DIRECT|O_DSYNC.
  auto opts = [&] {
    LmdbOptions o = Opts(d.path(), sync);
    o.direct_log = seed % 6 != 4;
    return o;
  };
  Model model;  // what the store holds after the last kill, as verified
  for (int round = 0; round < 4; ++round) {
    const uint32_t stream_seed = seed * 1000 + static_cast<uint32_t>(round);
    const bool self_kill = (seed + static_cast<uint32_t>(round)) % 2 == 0;
    KillPlan plan;
    int64_t target = 0;
    int delay_us = 0;
    if (self_kill) {
      plan.kill_after_checkpoint = 1 + static_cast<int>(rng() % 6);
      plan.kill_delay_batches = rng() % 3 == 0 ? 0 : static_cast<int>(rng() % 20);
    } else {
      target = 20 + rng() % 1500;
      delay_us = static_cast<int>(rng() % 3000);
    }
    SharedProgress progress;
    RunKilledChild(
        [&](Child& child) {
          KillWorkload(child, opts(), stream_seed, model, progress.get(), plan);
        },
        [&] { return !self_kill && progress->applied.load() >= target; }, delay_us);
    const int64_t acked = progress->acked.load(), applied = progress->applied.load();
    std::ostringstream where;
    where << "seed " << seed << " round " << round << " ("
          << (self_kill ? "self-kill after StartCheckpoint #" +
                              std::to_string(plan.kill_after_checkpoint) + " + " +
                              std::to_string(plan.kill_delay_batches) + " batches"
                        : "killed by the parent after " + std::to_string(target) +
                              " batches + " + std::to_string(delay_us) + " us")
          << "): " << applied << " batches written, " << acked << " acknowledged, "
          << progress->checkpoints.load() << " checkpoints, " << progress->async_commits.load()
          << " async commits";
    SCOPED_TRACE(where.str());
    if (HasFatalFailure()) return;
    ASSERT_LE(acked, applied);
    ASSERT_GT(applied, 0);

    auto e = MustOpen(opts());
    ASSERT_NE(e, nullptr);
    const Model got = Dump(*e);
    OpStream ops(stream_seed, kKillKeys);
    Model want = model;
    int64_t k = 0;
    for (; k < acked; ++k) ApplyToModel(&want, ops.Next());
    const Model at_acked = want;
    bool match = got == want;
    while (!match && k < applied) {
      ApplyToModel(&want, ops.Next());
      ++k;
      match = got == want;
    }
    ASSERT_TRUE(match) << "the store is no prefix of the written batches with every acknowledged "
                          "one; against the acknowledged prefix: "
                       << Diff(at_acked, got);
    // And point reads agree with the scan.
    for (int i = 0; i < kKillKeys; ++i) {
      std::string key = "w" + Key(i);
      ASSERT_EQ(Read(*e, key), Lookup(got, key)) << key;
    }
    model = got;
  }
}

INSTANTIATE_TEST_SUITE_P(Seeds, LmdbWalKill, ::testing::Range(1u, 13u));

// Model files, for a child to hand its acknowledged state to the parent.
void SaveModel(const std::string& path, const Model& m) {
  std::string out;
  for (const auto& [k, v] : m) {
    PutVarint(&out, k.size());
    out += k;
    PutVarint(&out, v.size());
    out += v;
  }
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << out;
  f.flush();
}

bool GetTestVarint(std::string_view* in, uint64_t* v) {
  *v = 0;
  for (int shift = 0; shift < 64 && !in->empty(); shift += 7) {
    uint8_t b = static_cast<uint8_t>(in->front());
    in->remove_prefix(1);
    *v |= uint64_t(b & 0x7f) << shift;
    if (!(b & 0x80)) return true;
  }
  return false;
}

Model LoadModel(const std::string& path) {
  std::string bytes = ReadFile(path);
  std::string_view in = bytes;
  Model m;
  uint64_t kl, vl;
  while (!in.empty()) {
    if (!GetTestVarint(&in, &kl) || kl > in.size()) break;
    std::string k(in.substr(0, kl));
    in.remove_prefix(kl);
    if (!GetTestVarint(&in, &vl) || vl > in.size()) break;
    m[k] = std::string(in.substr(0, vl));
    in.remove_prefix(vl);
  }
  return m;
}

// Reads, scans and writes (new keys, overwrites and deletes of keys that the background
// checkpoint is applying) while it runs, checked against a model; three checkpoints of ~10 MB
// each, then a kill during a fourth, with a few unacknowledged writes pending. The parent
// reopens and must find exactly the acknowledged state.
TEST(LmdbWal, ReadsScansAndWritesWhileBackgroundCheckpointRuns) {
  TempDir d;
  const std::string model_path = d.Sub("acked-model");
  const std::string dir = d.Sub("db");
  constexpr int kBulk = 12000;
  RunCrashingChild(End::kSigkill, [&](Child& child) {
    Engine* e = ChildOpen(child, Opts(dir));
    Model visible, acked;
    ChildChecker check(child, *e, visible);
    OpStream ops(4242, kBulk + kBulk / 10, "b");  // overwrites and deletes of bulk keys, new keys
    std::mt19937 ctl(99);
    auto rand_key = [&] { return "b" + Key(static_cast<int>(ctl() % (kBulk + kBulk / 10))); };
    int during = 0;  // batches written while a checkpoint ran
    for (int round = 0; round < 4; ++round) {
      // A large table to apply: every bulk key, rewritten each round.
      for (int i = 0; i < kBulk; ++i) {
        std::string k = "b" + Key(i);
        std::string v =
            std::to_string(round) + ":" + std::string(1500 + (i * 7) % 500, 'a' + i % 26);
        visible[k] = v;
        CHILD_OK(child, e->Put(k, v));
        if (i % 1000 == 999) CHILD_OK(child, e->Commit());
      }
      CHILD_OK(child, e->Commit());
      acked = visible;
      const uint64_t before = e->Stats().checkpoints;
      CHILD_OK(child, e->StartCheckpoint());
      bool running = true;
      for (int step = 0; running || step < 20; ++step) {
        auto batch = ops.Next();
        ApplyToModel(&visible, batch);
        CHILD_OK(child, e->WriteOwned(std::move(batch)));
        for (int i = 0; i < 8; ++i) check.Get(rand_key());
        for (int i = 0; i < 2; ++i) {
          int a = static_cast<int>(ctl() % kBulk);
          check.Scan("b" + Key(a), ctl() % 2 ? "" : "b" + Key(a + 500), 1 + ctl() % 200);
        }
        if ((step == 1 || step == 4) && round < 3) check.Scan("", "", 0);  // everything
        if (round == 3 && step == 3) {
          // Killed mid-apply, with writes pending that nobody acknowledged.
          SaveModel(model_path, acked);
          std::ofstream(d.Sub("during")) << during << (running ? " running" : " done");
          CHILD_CHECK(child, e->HasPending());
          ::kill(::getpid(), SIGKILL);
        }
        if (step < 8 || step % 8 == 7) {
          CHILD_OK(child, e->Commit());
          acked = visible;
          // Commit polls the checkpoint: unchanged stats mean it still ran at this commit.
          if (running && e->Stats().checkpoints == before) {
            during += step < 8 ? 1 : 8;
          } else {
            running = false;
          }
        }
        CHILD_CHECK(child, step < 100000);
      }
      CHILD_OK(child, e->Commit());
      acked = visible;
      check.Scan("", "", 0);
    }
    child.Fail("not reached");
  });
  ASSERT_TRUE(fs::exists(model_path));
  const Model acked = LoadModel(model_path);
  ASSERT_GT(acked.size(), static_cast<size_t>(kBulk / 2));
  // How many batches were written while a checkpoint ran (as far as the commits could tell),
  // and whether the last one still ran at the last commit before the kill.
  std::istringstream during(ReadFile(d.Sub("during")));
  int batches = 0;
  std::string at_kill;
  during >> batches >> at_kill;
  RecordProperty("batches_during_checkpoints", batches);
  RecordProperty("checkpoint_at_kill", at_kill);
  std::printf("batches written during background checkpoints: %d; at the kill: %s\n", batches,
              at_kill.c_str());
  EXPECT_GE(batches, 2) << "the checkpoints ended too soon to test anything";
  auto e = MustOpen(Opts(dir));
  ASSERT_NE(e, nullptr);
  EXPECT_MODEL(*e, acked);
  e.reset();
  e = MustOpen(Opts(dir));
  EXPECT_MODEL(*e, acked);
}

// ---- a failed log append inside a scan's checkpoint (FlushForScan) -------------------------

// Puts `batch` into the engine and the model of what it should show.
#define CHILD_PEND(child, engine, visible, batch)     \
  do {                                                \
    std::vector<WriteOp> b_ = (batch);                \
    ApplyToModel(&(visible), b_);                     \
    CHILD_OK(child, (engine)->Write(b_));             \
  } while (0)

// RLIMIT_FSIZE for the child, relative to nothing or to the current log's length.
class FileSizeLimit {
 public:
  explicit FileSizeLimit(Child& child) : child_(child) {
    signal(SIGXFSZ, SIG_IGN);
    CHILD_CHECK(child_, getrlimit(RLIMIT_FSIZE, &old_) == 0);
  }
  void Set(uint64_t bytes) {
    rlimit lim = old_;
    lim.rlim_cur = bytes;
    CHILD_CHECK(child_, setrlimit(RLIMIT_FSIZE, &lim) == 0);
  }
  void Lift() { CHILD_CHECK(child_, setrlimit(RLIMIT_FSIZE, &old_) == 0); }

 private:
  Child& child_;
  rlimit old_;
};

void ChildCheckCommitFails(Child& child, Engine& e, const char* what) {
  Status s = e.Commit();
  if (s.code() != Code::kNoSpace && s.code() != Code::kIOError) {
    child.Fail(std::string(what) + ": Commit() -> " + s.ToString() + ", want NoSpace or IOError");
  }
}

// A scan over tables holding more than 4096 deletes first checkpoints them (FlushForScan),
// which writes the group buffered for the caller's next Commit() to the log early. Here that
// write fails (RLIMIT_FSIZE -> EFBIG). The scan must still work, the unlogged writes (and
// those made after the scan, before the commit) must vanish, the next Commit() must report
// the failure, and after a kill the store holds exactly the acknowledged writes. Case 1: the
// deletes themselves are the unlogged group. Case 2: the deletes are committed and a small
// group on top of them cannot be logged. Then with room again, a scan does checkpoint.
TEST(LmdbWal, FailedLogAppendInScanFlushIsNotAcknowledged) {
  TempDir d;
  const std::string dir = d.Sub("db");
  const std::string model_path = d.Sub("acked-model");
  RunCrashingChild(End::kSigkill, [&](Child& child) {
    Engine* e = ChildOpen(child, Opts(dir));
    Model acked;
    for (int i = 0; i < 6000; ++i) acked[Key(i)] = "v" + std::to_string(i);
    for (const auto& [k, v] : acked) CHILD_OK(child, e->Put(k, v));
    CHILD_OK(child, e->Commit());
    FileSizeLimit limit(child);
    Model visible = acked;
    Rows rows;

    // Case 1.
    limit.Set(e->Stats().wal_bytes + 1000);
    for (int i = 0; i < 5000; ++i) CHILD_PEND(child, e, visible, DelOp(Key(i)));
    CHILD_PEND(child, e, visible, PutOp("new-1", "n"));
    CHILD_PEND(child, e, visible, PutOp(Key(10), "resurrected"));
    CHILD_PEND(child, e, visible, PutOp(Key(5500), "overwritten"));
    CHILD_CHECK(child, Read(*e, Key(1)) == std::nullopt);
    CHILD_CHECK(child, Read(*e, Key(5500)) == "overwritten");
    CHILD_OK(child, EngineScan(*e, "", "", 0, &rows));
    Model scanned(rows.begin(), rows.end());
    CHILD_CHECK(child, scanned == acked || scanned == visible);
    CHILD_CHECK(child, e->HasPending());
    CHILD_OK(child, e->Put("after-scan-1", "x"));  // not acknowledged either
    CHILD_CHECK(child, Read(*e, "after-scan-1") == "x");
    ChildCheckCommitFails(child, *e, "case 1");
    CHILD_CHECK(child, !e->HasPending());
    CHILD_MODEL(child, *e, acked);
    CHILD_CHECK(child, Read(*e, "after-scan-1") == std::nullopt);
    CHILD_CHECK(child, Read(*e, Key(1)) == acked[Key(1)]);
    CHILD_CHECK(child, Read(*e, Key(5500)) == acked[Key(5500)]);
    CHILD_OK(child, e->Commit());  // nothing left to report

    // Case 2.
    limit.Lift();
    visible = acked;
    for (int i = 0; i < 5000; ++i) CHILD_PEND(child, e, visible, DelOp(Key(i)));
    CHILD_OK(child, e->Commit());
    acked = visible;
    const uint64_t checkpoints = e->Stats().checkpoints;
    limit.Set(e->Stats().wal_bytes);
    CHILD_PEND(child, e, visible, PutOp(Key(2), "back"));
    CHILD_PEND(child, e, visible, DelOp(Key(5999)));
    CHILD_PEND(child, e, visible, PutOp("new-2", std::string(3000, 'z')));
    CHILD_OK(child, EngineScan(*e, "", "", 0, &rows));
    scanned = Model(rows.begin(), rows.end());
    CHILD_CHECK(child, scanned == acked || scanned == visible);
    CHILD_OK(child, e->Put("after-scan-2", "x"));
    ChildCheckCommitFails(child, *e, "case 2");
    CHILD_CHECK(child, e->Stats().checkpoints == checkpoints);
    // With nothing buffered, a scan can checkpoint the committed deletes (a new log generation
    // under the limit is fine: nothing needs to be written to it).
    CHILD_MODEL(child, *e, acked);
    CHILD_CHECK(child, e->Stats().checkpoints > checkpoints);

    // Room again: the engine goes on.
    limit.Lift();
    visible = acked;
    CHILD_PEND(child, e, visible, PutOp("later", "l"));
    CHILD_OK(child, e->Commit());
    acked = visible;
    CHILD_MODEL(child, *e, acked);
    CHILD_PEND(child, e, visible, PutOp("unacknowledged", "u"));  // pending at the kill
    SaveModel(model_path, acked);
  });
  const Model acked = LoadModel(model_path);
  ASSERT_EQ(acked.size(), 1001u);
  auto e = MustOpen(Opts(dir));
  ASSERT_NE(e, nullptr);
  EXPECT_MODEL(*e, acked);
}

// The same with the deletes frozen in a background checkpoint that fails too (LMDB cannot
// write its pages under the limit): FlushForScan waits for it, finds it failed, and then
// cannot log the buffered group either. The frozen deletes must keep hiding the values in
// LMDB, nothing unlogged may show, and Checkpoint() succeeds once there is room.
TEST(LmdbWal, FailedLogAppendInScanFlushAfterFailedBackgroundCheckpoint) {
  TempDir d;
  const std::string dir = d.Sub("db");
  const std::string model_path = d.Sub("acked-model");
  RunCrashingChild(End::kSigkill, [&](Child& child) {
    Engine* e = ChildOpen(child, Opts(dir));
    Model acked;
    for (int i = 0; i < 6000; ++i) acked[Key(i)] = std::string(200, 'a' + i % 26);
    for (const auto& [k, v] : acked) CHILD_OK(child, e->Put(k, v));
    CHILD_OK(child, e->Checkpoint());  // into LMDB
    Model visible = acked;
    for (int i = 0; i < 5000; ++i) CHILD_PEND(child, e, visible, DelOp(Key(i)));
    CHILD_OK(child, e->Commit());
    acked = visible;
    const uint64_t checkpoints = e->Stats().checkpoints;

    FileSizeLimit limit(child);
    limit.Set(64 << 10);  // LMDB's pages lie beyond it; the new log has 64 KB
    CHILD_OK(child, e->StartCheckpoint());  // freezes the deletes; the apply will fail
    for (int i = 0; i < 150; ++i) {
      CHILD_PEND(child, e, visible, PutOp("new-" + Key(i), std::string(1000, 'n')));
    }
    CHILD_PEND(child, e, visible, PutOp(Key(3), "resurrected"));
    CHILD_PEND(child, e, visible, DelOp(Key(5999)));
    CHILD_CHECK(child, Read(*e, Key(3)) == "resurrected");
    Rows rows;
    CHILD_OK(child, EngineScan(*e, "", "", 0, &rows));
    Model scanned(rows.begin(), rows.end());
    CHILD_CHECK(child, scanned == acked || scanned == visible);
    CHILD_CHECK(child, e->Stats().checkpoints == checkpoints);  // the apply failed
    CHILD_OK(child, e->Put("after-scan", "x"));
    ChildCheckCommitFails(child, *e, "under the limit");
    CHILD_CHECK(child, !e->HasPending());
    CHILD_MODEL(child, *e, acked);
    CHILD_CHECK(child, Read(*e, Key(3)) == std::nullopt);
    CHILD_CHECK(child, Read(*e, Key(5999)) == acked[Key(5999)]);

    limit.Lift();
    Status s = e->StartCheckpoint();  // may report the failed background checkpoint, once
    if (!s.ok() && s.code() != Code::kNoSpace && s.code() != Code::kIOError) {
      child.Fail("StartCheckpoint after the failure: " + s.ToString());
    }
    CHILD_OK(child, e->Checkpoint());
    CHILD_CHECK(child, e->Stats().checkpoints > checkpoints);
    CHILD_MODEL(child, *e, acked);
    visible = acked;
    CHILD_PEND(child, e, visible, PutOp("later", "l"));
    CHILD_OK(child, e->Commit());
    acked = visible;
    CHILD_PEND(child, e, visible, PutOp("unacknowledged", "u"));
    SaveModel(model_path, acked);
  });
  const Model acked = LoadModel(model_path);
  ASSERT_EQ(acked.size(), 1001u);
  auto e = MustOpen(Opts(dir));
  ASSERT_NE(e, nullptr);
  EXPECT_MODEL(*e, acked);
}

}  // namespace
}  // namespace dynakv::storage
