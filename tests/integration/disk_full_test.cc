// tests/integration/disk_full_test.cc: a real dynakv-server running out of space, two ways:
//   - the LMDB map reaches storage.map_size_max_mb (the write fails in the engine), and
//   - the file system refuses to grow a file (RLIMIT_FSIZE inherited by the server, so the
//     write-ahead log append or LMDB's page write fails with EFBIG at commit time).
// Either way: the failing write gets "-ERR disk full, write not stored: ...", no write that
// was acknowledged is lost, nothing that was refused shows up, the server stays up and keeps
// serving reads, and after SIGTERM + restart (with room again) exactly the acknowledged data
// is there.
//
// Each test starts its own server (fresh temp dir, free port); the harness SIGKILLs it by PID
// if the test fails half-way.
#include <signal.h>
#include <sys/resource.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "tests/integration/harness.h"

namespace dynakv::itest {
namespace {

using namespace std::chrono_literals;

std::string Str(const Reply& r) { return r && r->str ? std::string(r->str, r->len) : std::string(); }

std::string KeyName(int i) { return "k" + std::to_string(i); }
std::string ValueOf(int i) {
  std::string v = "value-" + std::to_string(i) + "-";
  v.resize(1024, static_cast<char>('a' + i % 26));
  return v;
}

void DumpStderrOnFailure(ServerProcess& s) {
  if (!::testing::Test::HasFailure()) return;
  std::string log = s.Stderr();
  if (log.size() > 4000) log = "..." + log.substr(log.size() - 4000);
  std::printf("---- dynakv-server stderr (tail) ----\n%s\n", log.c_str());
}

struct FillResult {
  std::map<std::string, std::string> acked;  // every key whose SET got +OK
  std::vector<std::string> refused;          // keys whose SET got an error
  std::string first_error;                   // text of the first error reply
};

// SETs 1 KB values, `pipeline` at a time, until a SET fails (or `max_keys`). Reconnects when
// the server closes the connection after an error (the commit-failure path does that).
FillResult FillUntilFull(ServerProcess& s, int max_keys, int pipeline) {
  FillResult out;
  auto c = s.Connect();
  EXPECT_TRUE(c->ok()) << c->error();
  for (int base = 0; base < max_keys && out.first_error.empty(); base += pipeline) {
    for (int i = base; i < base + pipeline; ++i) c->Append({"SET", KeyName(i), ValueOf(i)});
    for (int i = base; i < base + pipeline; ++i) {
      Reply r = c->Read();
      if (!r) {
        // Connection closed by the server after a failed commit: the rest of this pipeline
        // got no reply, so none of it is known to be stored (or not). Leave them out of both.
        if (out.first_error.empty()) out.first_error = "(connection closed without a reply)";
        break;
      }
      if (r->type == REDIS_REPLY_STATUS && Str(r) == "OK") {
        out.acked[KeyName(i)] = ValueOf(i);
      } else if (r->type == REDIS_REPLY_ERROR) {
        if (out.first_error.empty()) out.first_error = Str(r);
        out.refused.push_back(KeyName(i));
      } else {
        ADD_FAILURE() << "unexpected reply to SET " << KeyName(i) << ": " << Describe(r);
      }
    }
  }
  return out;
}

// Every acknowledged key reads back its value; every refused key is absent.
void ExpectExactly(ServerProcess& s, const std::map<std::string, std::string>& acked,
                   const std::vector<std::string>& absent) {
  auto c = s.Connect();
  ASSERT_TRUE(c->ok()) << c->error();
  int bad = 0;
  for (const auto& [k, v] : acked) {
    Reply r = (*c)("GET", k);
    if (!IsBulk(r, v)) {
      ADD_FAILURE() << "GET " << k << " -> " << Describe(r).substr(0, 80);
      if (++bad == 5) return;
    }
  }
  for (const auto& k : absent) {
    Reply r = (*c)("GET", k);
    if (!IsNil(r)) {
      ADD_FAILURE() << "refused key " << k << " is present: " << Describe(r).substr(0, 80);
      if (++bad == 5) return;
    }
  }
  Reply n = (*c)("DBSIZE");
  EXPECT_TRUE(IsInt(n, static_cast<long long>(acked.size()))) << Describe(n);
}

// The LMDB map may not grow past 2 MB: SETs fail with "ERR disk full" in the engine.
TEST(DiskFull, MapLimitRefusesWritesKeepsDataAndSurvivesRestart) {
  ServerConfig cfg;
  cfg.SetInt("storage", "map_size_mb", 1).SetInt("storage", "map_size_max_mb", 2);
  ServerProcess s(cfg);
  ASSERT_TRUE(s.Start()) << s.last_error();

  FillResult f = FillUntilFull(s, 20000, 20);
  ASSERT_FALSE(f.first_error.empty()) << "2 MB map never filled up after " << f.acked.size() << " keys";
  EXPECT_EQ(f.first_error.rfind("ERR disk full", 0), 0u) << f.first_error;
  EXPECT_GT(f.acked.size(), 200u);
  ASSERT_TRUE(s.Running()) << "dynakv-server died when the map filled up";

  auto c = s.Connect();
  ASSERT_TRUE(c->ok()) << c->error();
  EXPECT_TRUE(IsStatus((*c)("PING"), "PONG"));
  // Still (nearly) full: another new key is refused the same way or, if a page came free,
  // stored; either way the connection stays usable and the answer is the truth.
  std::vector<std::string> absent = f.refused;
  Reply again = (*c)("SET", "one-more", ValueOf(1));
  if (again && again->type == REDIS_REPLY_STATUS) {
    EXPECT_EQ(Str(again), "OK");
    f.acked["one-more"] = ValueOf(1);
  } else {
    EXPECT_TRUE(IsErrorPrefix(again, "ERR disk full")) << Describe(again);
    absent.push_back("one-more");
  }
  EXPECT_TRUE(IsStatus((*c)("PING"), "PONG"));
  ASSERT_NO_FATAL_FAILURE(ExpectExactly(s, f.acked, absent));

  // DEL while full: either it is acknowledged (then the key is gone, also after a restart)
  // or it is refused as disk full (then the key is still there). Both are fine; a lie is not.
  auto acked = f.acked;
  int dels = 0;
  for (auto it = f.acked.begin(); it != f.acked.end() && dels < 10; ++it, ++dels) {
    Reply r = (*c)("DEL", it->first);
    if (r && r->type == REDIS_REPLY_INTEGER) {
      EXPECT_EQ(r->integer, 1) << "DEL " << it->first;
      acked.erase(it->first);
      absent.push_back(it->first);
    } else {
      EXPECT_TRUE(IsErrorPrefix(r, "ERR disk full")) << "DEL " << it->first << ": " << Describe(r);
    }
  }
  EXPECT_TRUE(IsStatus((*c)("PING"), "PONG"));
  ASSERT_NO_FATAL_FAILURE(ExpectExactly(s, acked, absent));
  c.reset();

  ExitInfo e = s.Stop();
  EXPECT_TRUE(e.exited && e.code == 0) << "exit code " << e.code << ", signal " << e.signal;
  // The operator's remedy for a full map is a larger limit; the data comes back with it.
  // (Restarting with the same limit is FullNodeRestartsWithTheSameLimit.)
  s.config().SetInt("storage", "map_size_max_mb", 4);
  ASSERT_TRUE(s.Restart()) << s.last_error();
  ASSERT_NO_FATAL_FAILURE(ExpectExactly(s, acked, absent));
  DumpStderrOnFailure(s);
}

// Once the map is full the node must still start with the same storage.map_size_max_mb (to
// serve reads): Node::Start() cannot rewrite its incarnation key in a completely full map, so
// it carries on without persisting it (the actor id is fresh and random anyway).
TEST(DiskFull, FullNodeRestartsWithTheSameLimit) {
  ServerConfig cfg;
  cfg.SetInt("storage", "map_size_mb", 1).SetInt("storage", "map_size_max_mb", 2);
  ServerProcess s(cfg);
  ASSERT_TRUE(s.Start()) << s.last_error();
  FillResult f = FillUntilFull(s, 20000, 20);
  ASSERT_EQ(f.first_error.rfind("ERR disk full", 0), 0u) << f.first_error;
  ExitInfo e = s.Stop();
  EXPECT_TRUE(e.exited && e.code == 0) << "exit code " << e.code << ", signal " << e.signal;
  ASSERT_TRUE(s.Restart()) << s.last_error();
  ASSERT_NO_FATAL_FAILURE(ExpectExactly(s, f.acked, f.refused));
  DumpStderrOnFailure(s);
}

// Sets RLIMIT_FSIZE (and ignores SIGXFSZ) in this process for as long as it lives, so that a
// server started meanwhile inherits both: every file it writes is capped at `bytes`.
class FileSizeLimit {
 public:
  explicit FileSizeLimit(rlim_t bytes) {
    old_handler_ = signal(SIGXFSZ, SIG_IGN);
    EXPECT_EQ(getrlimit(RLIMIT_FSIZE, &old_), 0);
    rlimit tight = old_;
    tight.rlim_cur = bytes;
    EXPECT_EQ(setrlimit(RLIMIT_FSIZE, &tight), 0);
  }
  ~FileSizeLimit() {
    setrlimit(RLIMIT_FSIZE, &old_);
    signal(SIGXFSZ, old_handler_);
  }

 private:
  rlimit old_{};
  sighandler_t old_handler_ = nullptr;
};

// The file system is "full" (files may not grow past 1 MB): the write-ahead log append (or the
// checkpoint into LMDB) fails at commit time. The writes of that commit are refused with
// "ERR disk full", nothing refused shows up later, nothing acknowledged is lost.
TEST(DiskFull, FileSystemLimitAtCommitRefusesWritesKeepsDataAndSurvivesRestart) {
  ServerProcess s;
  {
    FileSizeLimit limit(1 << 20);  // the server inherits it at fork/exec
    ASSERT_TRUE(s.Start()) << s.last_error();
  }
  FillResult f = FillUntilFull(s, 20000, 20);
  ASSERT_FALSE(f.first_error.empty()) << "never failed after " << f.acked.size() << " keys";
  EXPECT_EQ(f.first_error.rfind("ERR disk full", 0), 0u) << f.first_error;
  EXPECT_GT(f.acked.size(), 100u);
  ASSERT_TRUE(s.Running()) << "dynakv-server died when the disk filled up";

  {
    auto c = s.Connect();
    ASSERT_TRUE(c->ok()) << c->error();
    EXPECT_TRUE(IsStatus((*c)("PING"), "PONG"));
  }
  ASSERT_NO_FATAL_FAILURE(ExpectExactly(s, f.acked, f.refused));

  // Restart without the limit (room again): the data is all there and writes work.
  ExitInfo e = s.Stop();
  EXPECT_TRUE(e.exited) << "signal " << e.signal;
  ASSERT_TRUE(s.Restart()) << s.last_error();
  ASSERT_NO_FATAL_FAILURE(ExpectExactly(s, f.acked, f.refused));
  auto c = s.Connect();
  EXPECT_TRUE(IsStatus((*c)("SET", "after", "1"), "OK"));
  EXPECT_TRUE(IsBulk((*c)("GET", "after"), "1"));
  DumpStderrOnFailure(s);
}

}  // namespace
}  // namespace dynakv::itest
