// tests/integration/harness.h: runs real dynakv-server processes on 127.0.0.1 for the
// integration suites, and talks to them through hiredis (RESP2) or a raw socket (RESP3,
// malformed input).
//
// ServerProcess owns one server: a fresh temp dir (config, data, logs), free ports, the child
// PID. Its destructor always SIGKILLs the child by PID and removes the temp dir, so a failing
// test never leaks a process or a directory. Every wait loop is bounded in time.
// Cluster starts 3/5 ServerProcess nodes that seed each other (listen.cluster, N/R/W).
//
// Environment: DYNAKV_SERVER_BIN overrides the binary under test; DYNAKV_ITEST_KEEP=1 keeps
// the temp dirs (config, data, stderr.log) for a post-mortem.
//
// Thread-safety: a ServerProcess/Cluster is driven from one thread, except Kill()/pid(), which
// may be called from another thread (the crash tests SIGKILL mid-stream). A Conn is used by
// one thread at a time. Start()/Restart() from the thread that will outlive the server: the
// child gets PR_SET_PDEATHSIG, so it dies with the thread that forked it.
#pragma once

#include <hiredis/hiredis.h>
#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace dynakv::itest {

// Path of the dynakv-server binary under test (compile definition DYNAKV_SERVER_BIN).
std::string ServerBinary();

// A port that was free a moment ago (bind port 0, read it back, close). Never returns the same
// port twice within one test process.
int PickFreePort();

// ---- hiredis connection -------------------------------------------------------------------

struct ReplyDeleter {
  void operator()(redisReply* r) const {
    if (r) freeReplyObject(r);
  }
};
using Reply = std::unique_ptr<redisReply, ReplyDeleter>;

// A human-readable dump of a reply, for assertion messages.
std::string Describe(const redisReply* r);
inline std::string Describe(const Reply& r) { return Describe(r.get()); }

class Conn {
 public:
  // Connects with a connect timeout and a per-command I/O timeout.
  Conn(int port, int timeout_ms = 10000);
  ~Conn();
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;

  bool ok() const { return c_ != nullptr && c_->err == 0; }
  std::string error() const;
  redisContext* raw() { return c_; }
  void SetTimeout(int timeout_ms);

  // One command, binary safe (redisCommandArgv). Null Reply on an I/O error / disconnect.
  Reply Cmd(const std::vector<std::string>& args);
  template <typename... A>
  Reply operator()(const A&... a) {
    return Cmd(std::vector<std::string>{std::string(a)...});
  }
  // Pipelining: queue without reading, then read replies in order.
  void Append(const std::vector<std::string>& args);
  Reply Read();
  // Sends what Append queued without waiting for a reply (Append alone only buffers: hiredis
  // writes on the next Read). False on an I/O error.
  bool Send();

 private:
  redisContext* c_ = nullptr;
};

// ---- raw socket with a tiny RESP2/RESP3 reader --------------------------------------------

struct RValue {
  char type = 0;  // the RESP type byte: + - : $ * % ~ _ , # = ( |, or 0 for "no reply"
  std::string str;  // simple/bulk/verbatim/error text, double/bignum text
  int64_t num = 0;
  bool null = false;           // $-1, *-1, _
  std::vector<RValue> elems;   // arrays, sets, pushes; maps as k,v,k,v...
  std::string Describe() const;
  // For maps: the value of a bulk/simple key, or nullptr.
  const RValue* Get(std::string_view key) const;
};

class RawConn {
 public:
  explicit RawConn(int port, int timeout_ms = 5000);
  ~RawConn();
  RawConn(const RawConn&) = delete;
  RawConn& operator=(const RawConn&) = delete;
  bool ok() const { return fd_ >= 0; }
  int fd() const { return fd_; }
  bool Send(std::string_view bytes);
  bool SendCmd(const std::vector<std::string>& args);  // encodes as a RESP array
  // Reads one complete reply (type 0 on timeout / EOF).
  RValue Read(int timeout_ms = 5000);
  // Reads until the peer closes (true) or the timeout passes (false); appends to *got.
  bool WaitClosed(int timeout_ms, std::string* got = nullptr);
  void Close();

 private:
  bool Fill(int timeout_ms);  // reads more bytes into buf_; false on EOF/timeout
  bool ParseOne(size_t* pos, RValue* out, bool* need_more);
  int fd_ = -1;
  bool eof_ = false;
  std::string buf_;
};

// ---- one server process -------------------------------------------------------------------

// TOML settings by section and key; values are raw TOML text ("2", "\"always\"", "[..]").
class ServerConfig {
 public:
  ServerConfig& Set(const std::string& section, const std::string& key, const std::string& raw_toml);
  ServerConfig& SetStr(const std::string& section, const std::string& key, const std::string& value);
  ServerConfig& SetInt(const std::string& section, const std::string& key, int64_t value);
  bool Has(const std::string& section, const std::string& key) const;
  // TOML appended after the sections as is (arrays of tables: [[keyspace]] ...).
  ServerConfig& AppendRaw(const std::string& toml);
  const std::string& raw() const { return raw_; }
  std::string Render(bool with_raw = true) const;
  static std::string Quote(const std::string& s);

 private:
  std::map<std::string, std::map<std::string, std::string>> v_;
  std::string raw_;
};

struct ExitInfo {
  bool exited = false;  // false: still running after the timeout
  int code = -1;        // exit code if it exited normally
  int signal = 0;       // terminating signal, if any
};

class ServerProcess {
 public:
  // `overrides` are applied over the defaults (standalone, N=R=W=1, lmdb, sync=batch, memcache
  // off, ports picked here). The redis port and data dir stay fixed across Restart().
  explicit ServerProcess(ServerConfig overrides = {}, std::string name = "n1");
  ~ServerProcess();
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  // Forks/execs the binary and waits (bounded) until the RESP port accepts. False (with the
  // reason in last_error()) if the child exited or did not come up in time.
  bool Start(std::chrono::milliseconds wait = std::chrono::seconds(10));
  // SIGTERM, wait (bounded), then SIGKILL. Returns how it ended.
  ExitInfo Stop(std::chrono::milliseconds wait = std::chrono::seconds(10));
  // SIGKILL and reap. Safe to call from another thread (only signals; reaping happens in the
  // owning thread on the next Start/Stop/Wait/destructor if called concurrently).
  void Kill();
  void SignalKill();  // async-safe variant: only kill(pid, SIGKILL)
  bool Restart(std::chrono::milliseconds wait = std::chrono::seconds(10));
  // Waits for the child to exit on its own (bounded).
  ExitInfo Wait(std::chrono::milliseconds wait);
  bool Running();

  int port() const { return port_; }
  pid_t pid() const { return pid_.load(); }
  const std::string& dir() const { return dir_; }
  std::string data_dir() const { return dir_ + "/data"; }
  std::string config_path() const { return dir_ + "/dynakv.toml"; }
  const std::string& name() const { return name_; }
  const std::string& last_error() const { return last_error_; }
  std::string Stderr() const;  // everything the server wrote to stderr so far
  long RssKb() const;          // VmRSS of the child, -1 if unknown
  ServerConfig& config() { return cfg_; }  // edit before Start()/Restart()

  std::unique_ptr<Conn> Connect(int timeout_ms = 10000) const;

 private:
  bool Spawn();
  bool WaitReady(std::chrono::milliseconds wait);
  ExitInfo Reap(std::chrono::milliseconds wait);

  std::string name_;
  std::string dir_;
  int port_ = 0;
  ServerConfig cfg_;
  std::atomic<pid_t> pid_{-1};
  bool started_ = false;  // once up, the port is part of the test (Restart reuses it)
  std::string last_error_;
};

// ---- a local cluster ----------------------------------------------------------------------

struct ClusterOptions {
  int nodes = 3;
  int n = 3, r = 2, w = 2;
  int weight = 100;
  ServerConfig extra;  // applied to every node (e.g. gossip/timeout tuning)
};

class Cluster {
 public:
  explicit Cluster(ClusterOptions opts);
  // Starts every node and waits (bounded) until each sees all members "up".
  bool Start(std::chrono::milliseconds wait = std::chrono::seconds(20));
  bool WaitAllUp(std::chrono::milliseconds wait);
  size_t size() const { return nodes_.size(); }
  ServerProcess& node(size_t i) { return *nodes_.at(i); }
  std::string cluster_addr(size_t i) const;
  const std::string& last_error() const { return last_error_; }

 private:
  ClusterOptions opts_;
  std::vector<std::unique_ptr<ServerProcess>> nodes_;
  std::vector<std::string> addrs_;  // cluster addresses, by node index
  std::string last_error_;
};

// A fixture for tests on a 3-node cluster (N=3 R=2 W=2) with fast failure detection (down
// after 1.5 s), 1 s request timeouts and no anti-entropy, and one connection per node.
class ThreeNodeTest : public ::testing::Test {
 protected:
  // raw_toml: appended to every node's file as is (e.g. [[keyspace]] tables).
  void StartCluster(const std::string& raw_toml = "") {
    ClusterOptions o;
    o.nodes = 3;
    o.n = 3;
    o.r = 2;
    o.w = 2;
    o.extra.SetInt("cluster", "gossip_interval_ms", 100)
        .SetInt("cluster", "suspect_after_ms", 500)
        .SetInt("cluster", "down_after_ms", 1500)
        .SetInt("cluster", "request_timeout_ms", 1000)
        .SetInt("cluster", "anti_entropy_interval_ms", 0)
        .AppendRaw(raw_toml);
    cluster_ = std::make_unique<Cluster>(std::move(o));
    ASSERT_TRUE(cluster_->Start(std::chrono::seconds(20))) << cluster_->last_error();
    for (size_t i = 0; i < cluster_->size(); i++) {
      conns_.push_back(cluster_->node(i).Connect(5000));
      ASSERT_TRUE(conns_.back()->ok()) << conns_.back()->error();
    }
  }
  Conn& c(size_t i) { return *conns_.at(i); }

  std::unique_ptr<Cluster> cluster_;
  std::vector<std::unique_ptr<Conn>> conns_;
};

// ---- running the binary directly (bad configs, --help) ------------------------------------

struct RunResult {
  ExitInfo exit;
  std::string out, err;
  std::chrono::milliseconds elapsed{0};
};
RunResult RunBinary(const std::vector<std::string>& args, std::chrono::milliseconds timeout);

// A fresh temp dir (mkdtemp under /tmp) removed by the destructor.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }
  std::string Write(const std::string& name, const std::string& content) const;

 private:
  std::string path_;
};
void RemoveTree(const std::string& path);

// ---- assertions on hiredis replies --------------------------------------------------------

::testing::AssertionResult IsStatus(const Reply& r, std::string_view want);
::testing::AssertionResult IsBulk(const Reply& r, std::string_view want);
::testing::AssertionResult IsInt(const Reply& r, long long want);
::testing::AssertionResult IsNil(const Reply& r);
::testing::AssertionResult IsError(const Reply& r, std::string_view exact);
::testing::AssertionResult IsErrorPrefix(const Reply& r, std::string_view prefix);
::testing::AssertionResult IsArray(const Reply& r, size_t n);
// An array of bulk strings equal to `want`, in order.
::testing::AssertionResult IsBulkArray(const Reply& r, const std::vector<std::string>& want);

// Bounded poll: calls pred every `step` until true or `limit` passes.
template <typename Pred>
bool WaitUntil(Pred pred, std::chrono::milliseconds limit,
               std::chrono::milliseconds step = std::chrono::milliseconds(20)) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  for (int i = 0; i < 1000000; i++) {
    if (pred()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(step);
  }
  return false;
}

}  // namespace dynakv::itest

