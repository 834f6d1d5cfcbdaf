// tests/integration/ops_test.cc: operations against real dynakv-server processes: DYNAMO
// BACKUP (a snapshot holds every acknowledged write, a node starts on it, anti-entropy brings
// back what came later, bad paths are refused) and logging (log.file, reopen on SIGHUP for
// logrotate, rate-limited cluster events). README, "Operations".
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "tests/integration/harness.h"

namespace dynakv::itest {
namespace {

using namespace std::chrono_literals;

std::string Str(const Reply& r) { return r ? std::string(r->str ? r->str : "", r->len) : ""; }

std::string ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

bool Exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

long long LocalKeys(const ServerProcess& p) {
  auto c = p.Connect(2000);
  if (!c->ok()) return -1;
  Reply r = c->Cmd({"INFO", "keyspace"});
  if (!r || r->type != REDIS_REPLY_STRING) return -1;
  std::string text = Str(r);
  size_t at = text.find("db0:keys=");
  if (at == std::string::npos) return 0;
  return std::strtoll(text.c_str() + at + 9, nullptr, 10);
}

// DGET's [context, [value]] -> the value; a description otherwise.
std::string OnlySibling(const Reply& r) {
  if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2 || r->element[1]->type != REDIS_REPLY_ARRAY ||
      r->element[1]->elements != 1) {
    return "not one sibling: " + Describe(r);
  }
  const redisReply* v = r->element[1]->element[0];
  return std::string(v->str, v->len);
}

size_t Count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t p = text.find(what); p != std::string::npos; p = text.find(what, p + 1)) n++;
  return n;
}

// ---- DYNAMO BACKUP --------------------------------------------------------------------------

// Keys written before the backup are in it, keys written after are not; the node was killed
// (SIGKILL: no final checkpoint) and a fresh node started on the copy has the first ones.
TEST(OpsBackup, SnapshotHoldsAcknowledgedWritesAndStartsANode) {
  TempDir tmp;
  std::string backup = tmp.path() + "/backup";
  ServerProcess p;
  ASSERT_TRUE(p.Start()) << p.last_error();
  auto c = p.Connect();
  for (int i = 0; i < 200; i++) {
    ASSERT_TRUE(IsStatus((*c)("SET", "before:" + std::to_string(i), "v" + std::to_string(i)), "OK"));
  }
  ASSERT_TRUE(IsStatus((*c)("DYNAMO", "BACKUP", backup), "OK"));
  EXPECT_TRUE(Exists(backup + "/data.mdb"));
  for (int i = 0; i < 50; i++) ASSERT_TRUE(IsStatus((*c)("SET", "after:" + std::to_string(i), "x"), "OK"));
  // The live node still has everything and keeps serving.
  EXPECT_TRUE(IsBulk((*c)("GET", "after:49"), "x"));
  p.Kill();

  ServerConfig rc;
  rc.SetStr("node", "data_dir", backup);
  ServerProcess restored(rc);
  ASSERT_TRUE(restored.Start()) << restored.last_error();
  auto r = restored.Connect();
  for (int i = 0; i < 200; i += 37) {
    EXPECT_TRUE(IsBulk((*r)("GET", "before:" + std::to_string(i)), "v" + std::to_string(i)));
  }
  EXPECT_TRUE(IsBulk((*r)("GET", "before:199"), "v199"));
  EXPECT_TRUE(IsNil((*r)("GET", "after:0")));
  EXPECT_TRUE(IsInt((*r)("DBSIZE"), 200));
}

// A backup taken while writes stream in from other clients: every write acknowledged before
// BACKUP was sent is in the copy, and the loop keeps answering during the copy.
TEST(OpsBackup, UnderLoadEveryAcknowledgedWriteIsInTheCopy) {
  TempDir tmp;
  ServerProcess p;
  ASSERT_TRUE(p.Start()) << p.last_error();
  auto c = p.Connect();
  // ~20 MB so the copy takes a moment.
  std::string big(20000, 'b');
  for (int i = 0; i < 1000; i++) c->Append({"SET", "big:" + std::to_string(i), big});
  for (int i = 0; i < 1000; i++) ASSERT_TRUE(IsStatus(c->Read(), "OK"));
  std::atomic<bool> stop{false};
  std::atomic<int> acked{0};
  std::thread writer([&] {
    auto w = p.Connect();
    for (int i = 0; i < 100000 && !stop.load(); i++) {
      if (!IsStatus((*w)("SET", "live:" + std::to_string(i), "y"), "OK")) break;
      acked.store(i + 1);
    }
  });
  ASSERT_TRUE(WaitUntil([&] { return acked.load() > 50; }, 10s));
  int acked_before = acked.load();
  auto b = p.Connect();
  ASSERT_TRUE(IsStatus((*b)("DYNAMO", "BACKUP", tmp.path() + "/b1"), "OK"));
  int acked_after = acked.load();
  stop = true;
  writer.join();
  EXPECT_GT(acked_after, acked_before) << "writes went on while the backup ran";
  p.Kill();

  ServerConfig rc;
  rc.SetStr("node", "data_dir", tmp.path() + "/b1");
  ServerProcess restored(rc);
  ASSERT_TRUE(restored.Start()) << restored.last_error();
  auto r = restored.Connect();
  for (int i = 0; i < acked_before; i++) {
    ASSERT_TRUE(IsBulk((*r)("GET", "live:" + std::to_string(i)), "y")) << "live:" << i << " of " << acked_before;
  }
  EXPECT_TRUE(IsBulk((*r)("GET", "big:999"), big));
}

TEST(OpsBackup, RefusesBadPaths) {
  TempDir tmp;
  ServerProcess p;
  ASSERT_TRUE(p.Start()) << p.last_error();
  auto c = p.Connect();
  ASSERT_TRUE(IsStatus((*c)("SET", "k", "v"), "OK"));
  std::string full = tmp.path() + "/full";
  ::mkdir(full.c_str(), 0755);
  tmp.Write("full/something", "x");
  EXPECT_TRUE(IsError((*c)("DYNAMO", "BACKUP", full), "ERR backup directory '" + full + "' exists and is not empty"));
  std::string file = tmp.Write("afile", "x");
  EXPECT_TRUE(IsError((*c)("DYNAMO", "BACKUP", file), "ERR backup path '" + file + "' exists and is not a directory"));
  EXPECT_TRUE(IsError((*c)("DYNAMO", "BACKUP", "relative/dir"), "ERR backup path must be an absolute path"));
  EXPECT_TRUE(IsErrorPrefix((*c)("DYNAMO", "BACKUP"), "ERR unknown subcommand or wrong number of arguments for 'BACKUP'"));
  // An empty directory is fine, and so is a path whose parents do not exist yet.
  std::string empty = tmp.path() + "/empty";
  ::mkdir(empty.c_str(), 0755);
  EXPECT_TRUE(IsStatus((*c)("DYNAMO", "BACKUP", empty), "OK"));
  EXPECT_TRUE(IsStatus((*c)("DYNAMO", "BACKUP", tmp.path() + "/a/b/c"), "OK"));
  // The same path twice: the second is refused (it holds the first).
  EXPECT_TRUE(IsErrorPrefix((*c)("DYNAMO", "BACKUP", empty), "ERR backup directory"));
  // The memory engine has nothing to copy.
  ServerConfig mc;
  mc.SetStr("storage", "engine", "memory");
  ServerProcess m(mc, "m1");
  ASSERT_TRUE(m.Start()) << m.last_error();
  auto mcn = m.Connect();
  EXPECT_TRUE(IsError((*mcn)("DYNAMO", "BACKUP", tmp.path() + "/m"), "ERR backup needs storage.engine = lmdb"));
  EXPECT_TRUE(p.Running());
}

// 3 nodes, N=3: C's backup misses the later keys; C restored from it gets them back from its
// peers by anti-entropy (DYNAMO SYNC), without any client read.
TEST(OpsBackup, RestoredClusterNodeCatchesUpByAntiEntropy) {
  TempDir tmp;
  ClusterOptions o;
  o.nodes = 3;
  o.extra.SetInt("cluster", "gossip_interval_ms", 100)
      .SetInt("cluster", "suspect_after_ms", 1000)
      .SetInt("cluster", "down_after_ms", 2000)
      .SetInt("cluster", "request_timeout_ms", 1000)
      .SetInt("cluster", "anti_entropy_interval_ms", 0);
  Cluster cl(std::move(o));
  ASSERT_TRUE(cl.Start(20s)) << cl.last_error();
  size_t A = 0, C = 2;
  auto a = cl.node(A).Connect();
  auto cc = cl.node(C).Connect();
  for (int i = 0; i < 20; i++) ASSERT_TRUE(IsStatus((*a)("SET", "k" + std::to_string(i), "v" + std::to_string(i)), "OK"));
  ASSERT_TRUE(WaitUntil([&] { return LocalKeys(cl.node(C)) >= 20; }, 10s, 50ms));
  std::string backup = tmp.path() + "/c-backup";
  ASSERT_TRUE(IsStatus((*cc)("DYNAMO", "BACKUP", backup), "OK"));
  for (int i = 0; i < 10; i++) ASSERT_TRUE(IsStatus((*a)("SET", "p" + std::to_string(i), "w" + std::to_string(i)), "OK"));
  ASSERT_TRUE(WaitUntil([&] { return LocalKeys(cl.node(C)) >= 30; }, 10s, 50ms));
  cl.node(C).Kill();

  // Restore: C's data directory replaced by the backup, same node id and addresses.
  RemoveTree(cl.node(C).data_dir());
  ASSERT_EQ(::rename(backup.c_str(), cl.node(C).data_dir().c_str()), 0);
  ASSERT_TRUE(cl.node(C).Restart()) << cl.node(C).last_error();
  ASSERT_TRUE(cl.WaitAllUp(15s)) << cl.last_error();
  long long restored = LocalKeys(cl.node(C));
  EXPECT_GE(restored, 20);
  EXPECT_LT(restored, 30) << "the later keys are not in the backup";
  cc = cl.node(C).Connect();
  Reply sync = (*cc)("DYNAMO", "SYNC");
  ASSERT_TRUE(sync && sync->type == REDIS_REPLY_INTEGER) << Describe(sync);
  EXPECT_TRUE(WaitUntil(
      [&] {
        if (LocalKeys(cl.node(C)) >= 30) return true;
        auto s = cl.node(C).Connect(2000);
        (*s)("DYNAMO", "SYNC");  // a round may have found a peer's tree still building
        return false;
      },
      20s, 300ms))
      << "C's local records: " << LocalKeys(cl.node(C));
  // C alone answers with the right values.
  cl.node(0).Kill();
  cl.node(1).Kill();
  cc = cl.node(C).Connect();
  EXPECT_EQ(OnlySibling((*cc)("DGET", "p7", "R", "1")), "w7");
  EXPECT_EQ(OnlySibling((*cc)("DGET", "k3", "R", "1")), "v3");
}


// ---- logging ---------------------------------------------------------------------------------

// log.file, then logrotate's move: rename the file, SIGHUP by PID, the next line lands in a
// new file of the old name. The secret never appears.
TEST(OpsLog, FileReopensOnSighup) {
  TempDir tmp;
  std::string file = tmp.path() + "/dynakv.log";
  ServerConfig c;
  c.SetStr("log", "file", file).SetStr("log", "level", "debug").SetStr("security", "requirepass", "s3cret-pass-XYZ");
  ServerProcess p(c);
  ASSERT_TRUE(p.Start()) << p.last_error();
  ASSERT_TRUE(WaitUntil([&] { return ReadFile(file).find("dynakv ready") != std::string::npos; }, 5s));
  EXPECT_EQ(p.Stderr().find("dynakv ready"), std::string::npos) << "logs go to the file, not stderr";
  std::string rotated = file + ".1";
  ASSERT_EQ(::rename(file.c_str(), rotated.c_str()), 0);
  ASSERT_EQ(::kill(p.pid(), SIGHUP), 0);
  ASSERT_TRUE(WaitUntil([&] { return Exists(file); }, 5s)) << "no new file after SIGHUP";
  EXPECT_TRUE(p.Running()) << "SIGHUP must not end the process";
  auto conn = p.Connect();
  ASSERT_TRUE(IsStatus((*conn)("AUTH", "s3cret-pass-XYZ"), "OK"));
  ASSERT_TRUE(IsStatus((*conn)("DYNAMO", "BACKUP", tmp.path() + "/bk"), "OK"));
  ASSERT_TRUE(WaitUntil([&] { return ReadFile(file).find("backup done: " + tmp.path() + "/bk") != std::string::npos; }, 5s))
      << ReadFile(file);
  EXPECT_NE(ReadFile(file).find("log reopened: " + file), std::string::npos);
  EXPECT_EQ(ReadFile(rotated).find("backup done"), std::string::npos);
  p.Stop();
  EXPECT_NE(ReadFile(file).find("shutdown complete"), std::string::npos);
  for (const std::string& text : {ReadFile(file), ReadFile(rotated), p.Stderr()}) {
    EXPECT_EQ(text.find("s3cret-pass-XYZ"), std::string::npos) << "a secret in the log";
  }
  // A log file that cannot be opened stops start-up with a message naming it.
  // (spdlog creates missing directories, so the parent here is a regular file.)
  std::string blocker = tmp.Write("not-a-dir", "x");
  RunResult bad = RunBinary({"--port", std::to_string(PickFreePort()), "--node.data_dir", tmp.path() + "/d2",
                             "--log.file", blocker + "/x.log"},
                            10s);
  EXPECT_TRUE(bad.exit.exited);
  EXPECT_NE(bad.exit.code, 0);
  EXPECT_NE(bad.err.find("cannot open log file " + blocker + "/x.log"), std::string::npos) << bad.err;
}

// Cluster events in the log: a member seen up, a failure detected (suspect, then down), and
// the member back up; anti-entropy repairs.
TEST(OpsLog, MembershipFailuresAndRepairsAreLogged) {
  ClusterOptions o;
  o.nodes = 3;
  o.extra.SetInt("cluster", "gossip_interval_ms", 100)
      .SetInt("cluster", "suspect_after_ms", 600)
      .SetInt("cluster", "down_after_ms", 1200)
      .SetInt("cluster", "anti_entropy_interval_ms", 0);
  Cluster cl(std::move(o));
  ASSERT_TRUE(cl.Start(20s)) << cl.last_error();
  ServerProcess& a = cl.node(0);
  std::string c_id = cl.node(2).name();
  EXPECT_TRUE(WaitUntil([&] { return a.Stderr().find("membership: ") != std::string::npos; }, 5s)) << a.Stderr();
  // The lines come at most once a second, each with the latest status of every member that
  // changed: wait until A has logged C at all before killing it.
  EXPECT_TRUE(WaitUntil([&] { return a.Stderr().find(c_id + " (127.0.0.1:") != std::string::npos; }, 5s)) << a.Stderr();
  cl.node(2).Kill();
  EXPECT_TRUE(WaitUntil([&] { return a.Stderr().find("failure detector: " + c_id + " is now ") != std::string::npos; }, 10s))
      << a.Stderr();
  EXPECT_TRUE(WaitUntil([&] { return a.Stderr().find(c_id + " is now down") != std::string::npos; }, 10s)) << a.Stderr();
  auto ac = a.Connect();
  for (int i = 0; i < 10; i++) ASSERT_TRUE(IsStatus((*ac)("SET", "log:" + std::to_string(i), "v"), "OK"));
  std::this_thread::sleep_for(5300ms);  // past the peer links' reconnect backoff: C really missed them
  ASSERT_TRUE(cl.node(2).Restart()) << cl.node(2).last_error();
  ASSERT_TRUE(cl.WaitAllUp(15s)) << cl.last_error();
  EXPECT_TRUE(WaitUntil([&] { return a.Stderr().find(c_id + " is now up") != std::string::npos; }, 10s)) << a.Stderr();
  auto cc = cl.node(2).Connect();
  EXPECT_TRUE(WaitUntil(
      [&] {
        if (cl.node(2).Stderr().find("anti-entropy repair: ") != std::string::npos) return true;
        (*cc)("DYNAMO", "SYNC");
        return false;
      },
      20s, 300ms))
      << cl.node(2).Stderr();
  // Each kind at most once a second: the lines of one kind are >= 1 s apart... checked
  // coarsely: far fewer "failure detector" lines than ticks.
  EXPECT_LT(Count(a.Stderr(), "failure detector: "), 10u);
}


// A join moves partitions: the senders log the start, and the end with the totals.
TEST(OpsLog, HandoffStartAndEndAreLogged) {
  ClusterOptions o;
  o.nodes = 3;
  o.extra.SetInt("cluster", "gossip_interval_ms", 100).SetInt("cluster", "anti_entropy_interval_ms", 0);
  Cluster cl(o);
  ASSERT_TRUE(cl.Start(20s)) << cl.last_error();
  auto a = cl.node(0).Connect();
  for (int i = 0; i < 300; i++) a->Append({"SET", "h:" + std::to_string(i), "v"});
  for (int i = 0; i < 300; i++) ASSERT_TRUE(IsStatus(a->Read(), "OK"));
  ServerConfig c = o.extra;
  int cport = PickFreePort();
  c.SetStr("listen", "cluster", "127.0.0.1:" + std::to_string(cport))
      .Set("cluster", "seeds", "[" + ServerConfig::Quote(cl.cluster_addr(0)) + "]")
      .SetInt("node", "weight", o.weight)
      .SetInt("replication", "n", o.n)
      .SetInt("replication", "r", o.r)
      .SetInt("replication", "w", o.w);
  ServerProcess n4(c, "n4");
  ASSERT_TRUE(n4.Start()) << n4.last_error();
  auto logs = [&] {
    std::string all;
    for (size_t i = 0; i < 3; i++) all += cl.node(i).Stderr();
    return all;
  };
  EXPECT_TRUE(WaitUntil([&] { return logs().find("handoff start: ") != std::string::npos; }, 20s, 100ms)) << logs();
  EXPECT_NE(logs().find("partition(s) to n4"), std::string::npos) << logs();
  EXPECT_TRUE(WaitUntil([&] { return logs().find("handoff end: all transfers done: ") != std::string::npos; }, 60s, 200ms))
      << logs();
  EXPECT_TRUE(WaitUntil([&] { return cl.node(0).Stderr().find("n4 (127.0.0.1:" + std::to_string(cport) + ") is") != std::string::npos; }, 5s))
      << cl.node(0).Stderr();
}

}  // namespace
}  // namespace dynakv::itest
