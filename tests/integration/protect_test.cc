// Integration tests for "Reliability and security" against real dynakv-server processes:
// - protected mode: a node listening on 0.0.0.0 with no password refuses a client that comes
//   from a non-loopback address (Redis 7's -DENIED text; SERVER_ERROR on the memcached port)
//   and closes; requirepass or security.protected_mode = false lets it in; 127.0.0.1 always
//   gets in. The non-loopback address is a veth (or dummy) interface made for the test
//   (10.250.x.1, removed at the end); without one (no root / no iproute2) an address the host
//   already has; with neither the tests skip, saying why.
// - secrets: requirepass and cluster_secret never appear in CONFIG GET *, INFO everything,
//   CLIENT LIST, DYNAMO STATUS, the stderr log (debug level, a clean stop and a crash),
//   --help, or the errors for bad configs and flags right next to the secret.
// - the shutdown watchdog: a loop stuck in DEBUG SLEEP 60 still exits within
//   limits.shutdown_timeout after SIGTERM, with the watchdog's log line, and every
//   acknowledged write is there after a restart; DEBUG is refused unless enabled.
#include <arpa/inet.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "tests/integration/harness.h"

namespace dynakv::itest {
namespace {

using namespace std::chrono_literals;

constexpr const char* kPass = "Pw-91c4e07b-secret";
constexpr const char* kClusterSecret = "Cs-5d2f8a13-secret";

const std::string kDenied =
    "-DENIED Redis is running in protected mode because protected mode is enabled and no "
    "password is set for the default user. In this mode connections are only accepted from "
    "the loopback interface. If you want to connect from external computers to Redis you may "
    "adopt one of the following solutions: 1) Just disable protected mode sending the command "
    "'CONFIG SET protected-mode no' from the loopback interface by connecting to Redis from "
    "the same host the server is running, however MAKE SURE Redis is not publicly accessible "
    "from internet if you do so. Use CONFIG REWRITE to make this change permanent. 2) "
    "Alternatively you can just disable the protected mode by editing the Redis configuration "
    "file, and setting the protected mode option to 'no', and then restarting the server. 3) "
    "If you started the server manually just for testing, restart it with the "
    "'--protected-mode no' option. 4) Setup a an authentication password for the default "
    "user. NOTE: You only need to do one of the above things in order for the server to start "
    "accepting connections from the outside.\r\n";

// ---- a non-loopback address on this host --------------------------------------------------

std::string g_addr;         // the address clients connect to (and so come from)
std::string g_link;         // the interface we created, "" if none
std::string g_skip_reason;  // why there is no address

bool Sh(const std::string& cmd) { return std::system((cmd + " >/dev/null 2>&1").c_str()) == 0; }

std::string ExistingNonLoopbackV4() {
  ifaddrs* ifs = nullptr;
  if (getifaddrs(&ifs) != 0) return "";
  std::string found;
  for (ifaddrs* i = ifs; i && found.empty(); i = i->ifa_next) {
    if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET) continue;
    if (!(i->ifa_flags & IFF_UP) || (i->ifa_flags & IFF_LOOPBACK)) continue;
    char ip[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(i->ifa_addr)->sin_addr, ip, sizeof(ip));
    if (std::string(ip).rfind("127.", 0) != 0) found = ip;
  }
  freeifaddrs(ifs);
  return found;
}

class ProtectedModeTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    int tag = int(getpid() % 200) + 20;
    std::string addr = "10.250." + std::to_string(tag) + ".1";
    std::string link = "dkvp" + std::to_string(getpid() % 100000);
    // A veth pair (works without the dummy module) or a dummy interface; either holds a
    // local, non-loopback address that connections from this host come from.
    if (Sh("ip link add " + link + " type veth peer name " + link + "p") ||
        Sh("ip link add " + link + " type dummy")) {
      g_link = link;
      Sh("ip link set " + link + "p up");
      if (Sh("ip addr add " + addr + "/24 dev " + link) && Sh("ip link set " + link + " up")) {
        g_addr = addr;
      }
    }
    if (g_addr.empty()) g_addr = ExistingNonLoopbackV4();
    std::printf("[ protect ] non-loopback client address %s (%s)\n", g_addr.c_str(),
                g_link.empty() ? "an address the host already has" : ("interface " + link).c_str());
    if (g_addr.empty()) {
      g_skip_reason = "no non-loopback address: cannot create a veth/dummy interface (needs root "
                      "and iproute2) and the host has no other IPv4 address";
    }
  }
  static void TearDownTestSuite() {
    if (!g_link.empty()) Sh("ip link del " + g_link);
    g_link.clear();
  }
  void SetUp() override {
    if (!g_skip_reason.empty()) GTEST_SKIP() << g_skip_reason;
  }
};

// Connects to host:port, sends `send` (if any), and reads until the peer closes or `ms` pass.
// *closed says whether the peer closed.
std::string Exchange(const std::string& host, int port, const std::string& send, int ms, bool* closed) {
  *closed = false;
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return "<socket failed>";
  sockaddr_in sa = {};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(uint16_t(port));
  inet_pton(AF_INET, host.c_str(), &sa.sin_addr);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0) {
    ::close(fd);
    return "<connect failed>";
  }
  if (!send.empty()) {
    ssize_t w = ::write(fd, send.data(), send.size());
    (void)w;
  }
  std::string got;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  for (int i = 0; i < 10000; i++) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    pollfd p = {fd, POLLIN, 0};
    if (::poll(&p, 1, int(left.count())) <= 0) break;
    char buf[4096];
    ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n <= 0) {
      *closed = true;
      break;
    }
    got.append(buf, size_t(n));
  }
  ::close(fd);
  return got;
}

struct Node {
  std::unique_ptr<ServerProcess> p;
  int mc_port = 0;
};

Node StartAnyAddress(ServerConfig extra) {
  Node n;
  n.mc_port = PickFreePort();
  n.p = std::make_unique<ServerProcess>(std::move(extra));
  n.p->config()
      .SetStr("listen", "redis", "0.0.0.0:" + std::to_string(n.p->port()))
      .SetStr("listen", "memcache", "0.0.0.0:" + std::to_string(n.mc_port));
  EXPECT_TRUE(n.p->Start()) << n.p->last_error();
  return n;
}

TEST_F(ProtectedModeTest, RemoteClientWithoutPasswordIsDenied) {
  Node n = StartAnyAddress({});
  bool closed = false;
  // The refusal comes before any command, then the connection is closed.
  std::string got = Exchange(g_addr, n.p->port(), "", 3000, &closed);
  EXPECT_EQ(got, kDenied);
  EXPECT_TRUE(closed);
  got = Exchange(g_addr, n.p->port(), "PING\r\n", 3000, &closed);
  EXPECT_EQ(got, kDenied);
  EXPECT_TRUE(closed);
  // memcached port: one SERVER_ERROR line, then closed.
  got = Exchange(g_addr, n.mc_port, "version\r\n", 3000, &closed);
  EXPECT_EQ(got.rfind("SERVER_ERROR ", 0), 0u) << got;
  EXPECT_NE(got.find("protected mode"), std::string::npos) << got;
  EXPECT_EQ(got.find('\n'), got.size() - 1) << got;
  EXPECT_TRUE(closed);
  // Loopback clients are served.
  got = Exchange("127.0.0.1", n.p->port(), "PING\r\n", 300, &closed);
  EXPECT_EQ(got, "+PONG\r\n");
  got = Exchange("127.0.0.1", n.mc_port, "version\r\n", 300, &closed);
  EXPECT_EQ(got.rfind("VERSION ", 0), 0u) << got;
  auto c = n.p->Connect();
  EXPECT_TRUE(IsBulkArray(c->Cmd({"CONFIG", "GET", "protected-mode"}), {"protected-mode", "yes"}));
  Reply info = c->Cmd({"INFO", "stats"});
  ASSERT_TRUE(info && info->type == REDIS_REPLY_STRING);
  EXPECT_NE(std::string(info->str, info->len).find("rejected_connections:3"), std::string::npos)
      << info->str;
}

TEST_F(ProtectedModeTest, RemoteClientWithPasswordIsServed) {
  ServerConfig cfg;
  cfg.SetStr("security", "requirepass", kPass);
  Node n = StartAnyAddress(cfg);
  bool closed = false;
  std::string got = Exchange(g_addr, n.p->port(),
                             std::string("AUTH ") + kPass + "\r\nPING\r\n", 500, &closed);
  EXPECT_EQ(got, "+OK\r\n+PONG\r\n");
  EXPECT_FALSE(closed);
  got = Exchange(g_addr, n.mc_port, "version\r\n", 500, &closed);
  EXPECT_EQ(got.find("protected mode"), std::string::npos) << got;
  EXPECT_FALSE(closed);
}

TEST_F(ProtectedModeTest, ProtectedModeOffServesRemoteClients) {
  ServerConfig cfg;
  cfg.Set("security", "protected_mode", "false");
  Node n = StartAnyAddress(cfg);
  bool closed = false;
  std::string got = Exchange(g_addr, n.p->port(), "PING\r\n", 500, &closed);
  EXPECT_EQ(got, "+PONG\r\n");
  EXPECT_FALSE(closed);
  got = Exchange(g_addr, n.mc_port, "version\r\n", 500, &closed);
  EXPECT_EQ(got.rfind("VERSION ", 0), 0u) << got;
  auto c = n.p->Connect();
  EXPECT_TRUE(IsBulkArray(c->Cmd({"CONFIG", "GET", "protected-mode"}), {"protected-mode", "no"}));
}

// ---- secrets ------------------------------------------------------------------------------

void ExpectNoSecret(const std::string& where, const std::string& text) {
  EXPECT_EQ(text.find(kPass), std::string::npos) << where << " shows requirepass:\n" << text;
  EXPECT_EQ(text.find(kClusterSecret), std::string::npos) << where << " shows cluster_secret:\n" << text;
}

std::string Flatten(const redisReply* r) {
  if (!r) return "";
  std::string s;
  if (r->str) s.append(r->str, r->len);
  s += "\n";
  for (size_t i = 0; i < r->elements; i++) s += Flatten(r->element[i]);
  return s;
}

TEST(SecretsTest, NeverShown) {
  ServerConfig cfg;
  cfg.SetStr("security", "requirepass", kPass)
      .SetStr("security", "cluster_secret", kClusterSecret)
      .SetStr("log", "level", "debug");
  ServerProcess p(cfg);
  p.config().SetStr("listen", "cluster", "127.0.0.1:" + std::to_string(PickFreePort()));
  ASSERT_TRUE(p.Start()) << p.last_error();
  {
    auto c = p.Connect();
    ASSERT_TRUE(IsStatus(c->Cmd({"AUTH", kPass}), "OK"));
    ASSERT_TRUE(IsStatus(c->Cmd({"SET", "k", "v"}), "OK"));
    Reply all = c->Cmd({"CONFIG", "GET", "*"});
    ASSERT_TRUE(all && all->elements > 10) << Describe(all);
    ExpectNoSecret("CONFIG GET *", Flatten(all.get()));
    Reply rp = c->Cmd({"CONFIG", "GET", "requirepass"});
    EXPECT_TRUE(IsBulkArray(rp, {"requirepass", ""}));
    for (const char* q : {"*secret*", "*pass*", "masterauth", "cluster*"}) {
      ExpectNoSecret(std::string("CONFIG GET ") + q, Flatten(c->Cmd({"CONFIG", "GET", q}).get()));
    }
    ExpectNoSecret("INFO everything", Flatten(c->Cmd({"INFO", "everything"}).get()));
    ExpectNoSecret("CLIENT LIST", Flatten(c->Cmd({"CLIENT", "LIST"}).get()));
    ExpectNoSecret("DYNAMO STATUS", Flatten(c->Cmd({"DYNAMO", "STATUS"}).get()));
    ExpectNoSecret("DYNAMO MEMBERS", Flatten(c->Cmd({"DYNAMO", "MEMBERS"}).get()));
    ExpectNoSecret("wrong AUTH", Flatten(c->Cmd({"AUTH", "nope"}).get()));
    ExpectNoSecret("CONFIG SET", Flatten(c->Cmd({"CONFIG", "SET", "requirepass", "x"}).get()));
  }
  ExitInfo e = p.Stop();
  EXPECT_TRUE(e.exited);
  ExpectNoSecret("stderr (debug log, clean stop)", p.Stderr());
  EXPECT_NE(p.Stderr().find("dynakv ready"), std::string::npos);

  // A crash: the default action of SIGABRT/SIGSEGV prints nothing of ours; check anyway.
  ASSERT_TRUE(p.Restart()) << p.last_error();
  ::kill(p.pid(), SIGSEGV);
  EXPECT_TRUE(p.Wait(5s).exited);
  ExpectNoSecret("stderr (after SIGSEGV)", p.Stderr());

  RunResult help = RunBinary({"--help"}, 5s);
  EXPECT_EQ(help.exit.code, 0);
  EXPECT_NE(help.out.find("security.requirepass"), std::string::npos);
  ExpectNoSecret("--help", help.out + help.err);
  help = RunBinary({"--requirepass", kPass, "--security.cluster_secret", kClusterSecret, "--help"}, 5s);
  ExpectNoSecret("--help with secrets set", help.out + help.err);

  // Bad configs with the secret right next to the error.
  TempDir dir;
  const std::string p1 = kPass, cs = kClusterSecret;
  std::vector<std::string> bad = {
      "[security]\nrequirepass = " + p1 + "\n",
      "[security]\nrequirepass = \"" + p1 + "\n",
      "[security]\nrequirepass = \"a\\q" + p1 + "\"\n",
      "[security]\nrequirepass = 7\ncluster_secret = " + cs + " x\n",
      "[security]\nrequirepass = [\"" + p1 + "\"]\n",
      "[security]\nrequirepass = \"" + p1 + "\"\ncluster_secret = \"" + cs +
          "\"\n[limits]\nmaxclients = \"" + p1 + "\"\n",
      "[security]\nrequirepass = \"" + p1 + "\"\ncluster_secret = \"" + cs + "\"\nbogus = 1\n",
      "[security]\nrequirepass = \"" + p1 + "\"\n[replication]\nn = 9\nr = 10\n",
  };
  for (size_t i = 0; i < bad.size(); i++) {
    std::string path = dir.Write("bad" + std::to_string(i) + ".toml", bad[i]);
    RunResult r = RunBinary({"--config", path}, 5s);
    ASSERT_TRUE(r.exit.exited);
    EXPECT_EQ(r.exit.code, 2) << r.err;
    EXPECT_NE(r.err.find(path), std::string::npos) << r.err;
    ExpectNoSecret("config error " + std::to_string(i), r.out + r.err);
  }
  RunResult r = RunBinary({"--x", "--requirepass", kPass}, 5s);
  EXPECT_EQ(r.exit.code, 2) << r.err;
  ExpectNoSecret("flag error", r.out + r.err);
  r = RunBinary({"--requirepass", kPass, "--security.cluster_secret", kClusterSecret,
                 "--limits.maxclients", kPass},
                5s);
  EXPECT_EQ(r.exit.code, 2) << r.err;
  EXPECT_NE(r.err.find("limits.maxclients"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find(kClusterSecret), std::string::npos) << r.err;
}

// ---- DEBUG and the shutdown watchdog ------------------------------------------------------

TEST(DebugCommandTest, OffByDefaultAsRedis) {
  ServerProcess p;
  ASSERT_TRUE(p.Start()) << p.last_error();
  auto c = p.Connect();
  EXPECT_TRUE(IsError(c->Cmd({"DEBUG", "SLEEP", "0"}),
                      "ERR DEBUG command not allowed. If the enable-debug-command option is set to "
                      "\"local\", you can run it from a local connection, otherwise you need to "
                      "set this option in the configuration file, and then restart the server."));
  EXPECT_TRUE(IsBulkArray(c->Cmd({"CONFIG", "GET", "enable-debug-command"}), {"enable-debug-command", "no"}));
}

TEST(DebugCommandTest, SleepBlocksTheNode) {
  ServerConfig cfg;
  cfg.Set("debug", "enable_debug_command", "true");
  ServerProcess p(cfg);
  ASSERT_TRUE(p.Start()) << p.last_error();
  auto c = p.Connect();
  EXPECT_TRUE(IsStatus(c->Cmd({"DEBUG", "SLEEP", "0"}), "OK"));
  EXPECT_TRUE(IsError(c->Cmd({"DEBUG", "foo"}), "ERR unknown subcommand or wrong number of arguments for 'foo'. Try DEBUG HELP."));
  EXPECT_TRUE(IsError(c->Cmd({"DEBUG", "SLEEP"}), "ERR unknown subcommand or wrong number of arguments for 'SLEEP'. Try DEBUG HELP."));
  EXPECT_TRUE(IsErrorPrefix(c->Cmd({"DEBUG"}), "ERR wrong number of arguments for 'debug' command"));
  Reply h = c->Cmd({"DEBUG", "HELP"});
  ASSERT_TRUE(h && h->type == REDIS_REPLY_ARRAY && h->elements >= 3) << Describe(h);
  // Another client waits for the sleeper: the loop is blocked.
  RawConn sleeper(p.port());
  ASSERT_TRUE(sleeper.SendCmd({"DEBUG", "SLEEP", "1"}));
  std::this_thread::sleep_for(100ms);
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(IsStatus(c->Cmd({"PING"}), "PONG"));
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_GE(ms, 600) << "PING was answered while DEBUG SLEEP 1 ran";
  EXPECT_EQ(sleeper.Read(3000).str, "OK");
}

// Writes `n` keys on `c`; returns how many were acknowledged (+OK).
int WriteKeys(Conn& c, int n, const std::string& prefix) {
  for (int i = 0; i < n; i++) c.Append({"SET", prefix + std::to_string(i), "v" + std::to_string(i)});
  int acked = 0;
  for (int i = 0; i < n; i++) {
    Reply r = c.Read();
    if (r && r->type == REDIS_REPLY_STATUS && std::string(r->str) == "OK") acked++;
  }
  return acked;
}

TEST(ShutdownWatchdogTest, StuckLoopStillStopsAndKeepsAcknowledgedWrites) {
  ServerConfig cfg;
  cfg.Set("debug", "enable_debug_command", "true").SetInt("limits", "shutdown_timeout", 1);
  ServerProcess p(cfg);
  ASSERT_TRUE(p.Start()) << p.last_error();
  const int kKeys = 500;
  {
    auto c = p.Connect();
    ASSERT_EQ(WriteKeys(*c, kKeys, "key:"), kKeys);
  }
  RawConn sleeper(p.port());
  ASSERT_TRUE(sleeper.SendCmd({"DEBUG", "SLEEP", "60"}));
  // Make sure the loop is inside the sleep: a PING on another connection gets no answer.
  RawConn probe(p.port());
  ASSERT_TRUE(probe.SendCmd({"PING"}));
  EXPECT_EQ(probe.Read(300).type, 0) << "the loop answered: DEBUG SLEEP did not block it";
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_EQ(::kill(p.pid(), SIGTERM), 0);
  ExitInfo e = p.Wait(10s);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_TRUE(e.exited) << "still running 10 s after SIGTERM";
  EXPECT_LT(ms, 3000) << "exit took " << ms << " ms with limits.shutdown_timeout = 1";
  EXPECT_GE(ms, 900) << "exited before the timeout";
  EXPECT_EQ(e.code, 1);
  std::string log = p.Stderr();
  EXPECT_NE(log.find("shutdown watchdog: the shutdown did not finish within limits.shutdown_timeout = 1 s"),
            std::string::npos)
      << log;
  std::printf("[ watchdog ] SIGTERM -> exit in %lld ms (shutdown_timeout = 1 s)\n", (long long)ms);

  ASSERT_TRUE(p.Restart()) << p.last_error();
  auto c = p.Connect();
  int missing = 0;
  for (int i = 0; i < kKeys; i++) {
    if (!IsBulk(c->Cmd({"GET", "key:" + std::to_string(i)}), "v" + std::to_string(i))) missing++;
  }
  EXPECT_EQ(missing, 0) << "acknowledged keys lost";
}

TEST(ShutdownWatchdogTest, CleanShutdownAndZeroTimeoutWaitForTheLoop) {
  // A responsive loop: SIGTERM stops cleanly (exit 0), no watchdog line.
  {
    ServerConfig cfg;
    cfg.SetInt("limits", "shutdown_timeout", 1);
    ServerProcess p(cfg);
    ASSERT_TRUE(p.Start()) << p.last_error();
    ExitInfo e = p.Stop();
    EXPECT_TRUE(e.exited);
    EXPECT_EQ(e.code, 0);
    EXPECT_EQ(p.Stderr().find("shutdown watchdog"), std::string::npos) << p.Stderr();
    EXPECT_NE(p.Stderr().find("shutdown complete"), std::string::npos) << p.Stderr();
  }
  // shutdown_timeout = 0: no watchdog; the node waits for DEBUG SLEEP 2 and then stops cleanly.
  ServerConfig cfg;
  cfg.Set("debug", "enable_debug_command", "true").SetInt("limits", "shutdown_timeout", 0);
  ServerProcess p(cfg);
  ASSERT_TRUE(p.Start()) << p.last_error();
  {
    auto c = p.Connect();
    ASSERT_EQ(WriteKeys(*c, 50, "z:"), 50);
  }
  RawConn sleeper(p.port());
  ASSERT_TRUE(sleeper.SendCmd({"DEBUG", "SLEEP", "2"}));
  std::this_thread::sleep_for(300ms);
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_EQ(::kill(p.pid(), SIGTERM), 0);
  ExitInfo e = p.Wait(10s);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_TRUE(e.exited);
  EXPECT_EQ(e.code, 0);
  EXPECT_GE(ms, 1000) << "exited while the loop still slept";
  EXPECT_EQ(p.Stderr().find("shutdown watchdog"), std::string::npos);
  ASSERT_TRUE(p.Restart()) << p.last_error();
  auto c = p.Connect();
  EXPECT_TRUE(IsBulk(c->Cmd({"GET", "z:49"}), "v49"));
}

}  // namespace
}  // namespace dynakv::itest
