// tests/integration/http_test.cc: the operator's views against real dynakv-server processes:
// the HTTP listener (listen.http: /health, /metrics checked by promtool, /cluster.json, /,
// 404/405, a taken port), DYNAMO STATUS / STATUS JSON on a 3-node cluster through hiredis
// (RESP2), RESP3 (HELLO 3) and redis-cli, INFO's # Dynamo fields, /health turning 503 when
// too few replicas are reachable, a real Prometheus scraping a 3-node cluster (a PromQL
// write rate through its HTTP API), and headless Chromium rendering the cluster page (DOM
// checked for every member, a screenshot kept at build/cluster-view.png).
// Prometheus, promtool, Chromium and redis-cli are Debian packages (scripts/install-deps.sh);
// a test that needs one skips with a message when it is absent.
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "tests/integration/harness.h"

namespace dynakv::itest {
namespace {

using namespace std::chrono_literals;

std::string BuildDir() { return DYNAKV_BUILD_DIR; }

bool Executable(const std::string& path) { return ::access(path.c_str(), X_OK) == 0; }

// The first of `names` found on PATH (or as an absolute path), or "".
std::string FindTool(std::initializer_list<const char*> names) {
  for (const char* n : names) {
    std::string name = n;
    if (name[0] == '/') {
      if (Executable(name)) return name;
      continue;
    }
    const char* path = std::getenv("PATH");
    std::string dirs = path ? path : "/usr/bin:/bin";
    std::istringstream in(dirs);
    std::string d;
    while (std::getline(in, d, ':')) {
      if (!d.empty() && Executable(d + "/" + name)) return d + "/" + name;
    }
  }
  return "";
}

std::string ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// A child process of this test: output to a file, stdin from a file (or /dev/null), killed
// by PID (SIGTERM, then SIGKILL) when it goes out of scope; it also dies with this thread.
class Child {
 public:
  Child(const std::vector<std::string>& argv, const std::string& out_path, const std::string& in_path = "/dev/null") {
    pid_ = ::fork();
    if (pid_ == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      int in = ::open(in_path.c_str(), O_RDONLY);
      int out = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (in >= 0) ::dup2(in, 0);
      if (out >= 0) {
        ::dup2(out, 1);
        ::dup2(out, 2);
      }
      std::vector<char*> args;
      for (auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      ::execv(args[0], args.data());
      ::_exit(127);
    }
  }
  ~Child() { Stop(); }
  // Waits (bounded) for the exit; -1 if it did not exit in time (then it is killed).
  int Wait(std::chrono::milliseconds limit) {
    if (pid_ <= 0) return -1;
    auto deadline = std::chrono::steady_clock::now() + limit;
    for (int i = 0; i < 1000000; i++) {
      int st = 0;
      pid_t r = ::waitpid(pid_, &st, WNOHANG);
      if (r == pid_) {
        pid_ = -1;
        return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
      }
      if (std::chrono::steady_clock::now() >= deadline) break;
      std::this_thread::sleep_for(20ms);
    }
    Stop();
    return -1;
  }
  void Stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    for (int i = 0; i < 250; i++) {
      if (::waitpid(pid_, nullptr, WNOHANG) == pid_) {
        pid_ = -1;
        return;
      }
      std::this_thread::sleep_for(20ms);
    }
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
};

// Runs argv to completion (bounded); returns its exit code and output (stdout+stderr).
int RunTool(const std::vector<std::string>& argv, std::string* output, std::chrono::milliseconds limit,
        const std::string& stdin_path = "/dev/null") {
  std::string out_path = BuildDir() + "/http_test_run.out";
  int code;
  {
    Child c(argv, out_path, stdin_path);
    code = c.Wait(limit);
  }
  if (output) *output = ReadFile(out_path);
  return code;
}

struct HttpResponse {
  int status = 0;
  std::string headers, body;
};

// A minimal HTTP/1.0 GET (or another method) on 127.0.0.1, bounded by timeouts.
HttpResponse Http(int port, const std::string& path, const std::string& method = "GET") {
  HttpResponse r;
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return r;
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(uint16_t(port));
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    ::close(fd);
    return r;
  }
  std::string req = method + " " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
  if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) != ssize_t(req.size())) {
    ::close(fd);
    return r;
  }
  std::string all;
  char buf[16384];
  for (int i = 0; i < 100000; i++) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    all.append(buf, size_t(n));
  }
  ::close(fd);
  size_t sp = all.find(' ');
  size_t hdr_end = all.find("\r\n\r\n");
  if (sp == std::string::npos || hdr_end == std::string::npos) return r;
  r.status = std::atoi(all.c_str() + sp + 1);
  r.headers = all.substr(0, hdr_end);
  r.body = all.substr(hdr_end + 4);
  return r;
}

std::string UrlEncode(const std::string& s) {
  std::string o;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      o.push_back(char(c));
    } else {
      char b[4];
      std::snprintf(b, sizeof b, "%%%02X", c);
      o += b;
    }
  }
  return o;
}

// A server (or cluster node) with listen.http on a free port.
int AddHttp(ServerProcess& p) {
  int port = PickFreePort();
  p.config().SetStr("listen", "http", "127.0.0.1:" + std::to_string(port));
  return port;
}

ClusterOptions FastCluster() {
  ClusterOptions o;
  o.extra.SetInt("cluster", "gossip_interval_ms", 100)
      .SetInt("cluster", "suspect_after_ms", 600)
      .SetInt("cluster", "down_after_ms", 1500)
      .SetInt("cluster", "request_timeout_ms", 500);
  return o;
}

std::string Text(const Reply& r) { return r && r->str ? std::string(r->str, r->len) : ""; }

// ---- one node ------------------------------------------------------------------------------

TEST(Http, EndpointsOnOneNode) {
  ServerProcess s;
  int port = AddHttp(s);
  ASSERT_TRUE(s.Start()) << s.last_error();
  auto c = s.Connect();
  for (int i = 0; i < 20; i++) ASSERT_TRUE(IsStatus(c->Cmd({"SET", "k" + std::to_string(i), "v"}), "OK"));
  ASSERT_TRUE(IsBulk(c->Cmd({"GET", "k1"}), "v"));

  HttpResponse h = Http(port, "/health");
  EXPECT_EQ(h.status, 200) << h.headers;
  EXPECT_EQ(h.body, "OK\n");

  // /metrics is refreshed about once a second: wait for the SETs to show.
  HttpResponse m;
  ASSERT_TRUE(WaitUntil(
      [&] {
        m = Http(port, "/metrics");
        return m.body.find("dynakv_commands_total{cmd=\"set\"} 20\n") != std::string::npos;
      },
      5s, 100ms))
      << m.body.substr(0, 3000);
  EXPECT_EQ(m.status, 200);
  EXPECT_NE(m.headers.find("Content-Type: text/plain; version=0.0.4"), std::string::npos) << m.headers;
  EXPECT_NE(m.body.find("dynakv_build_info{version=\"0.1.0\",node=\"n1\"} 1\n"), std::string::npos);
  EXPECT_NE(m.body.find("dynakv_command_duration_seconds_count{cmd=\"set\"} 20\n"), std::string::npos);
  EXPECT_NE(m.body.find("dynakv_quorum_duration_seconds_count{op=\"write\"} 20\n"), std::string::npos);
  EXPECT_NE(m.body.find("dynakv_quorum_duration_seconds_count{op=\"read\"} 1\n"), std::string::npos);
  EXPECT_NE(m.body.find("dynakv_read_siblings_bucket{le=\"1\"} 1\n"), std::string::npos);
  EXPECT_NE(m.body.find("dynakv_keys 20\n"), std::string::npos);

  // promtool (Debian prometheus) lints the exposition.
  std::string promtool = FindTool({"promtool"});
  if (promtool.empty()) {
    std::printf("[http] promtool not found (Debian package prometheus): exposition lint skipped\n");
  } else {
    std::string in_path = BuildDir() + "/http_test_metrics.txt";
    std::ofstream(in_path) << m.body;
    std::string out;
    int code = RunTool({promtool, "check", "metrics"}, &out, 30s, in_path);
    EXPECT_EQ(code, 0) << "promtool check metrics:\n" << out;
    EXPECT_EQ(out, "") << out;
  }

  HttpResponse j = Http(port, "/cluster.json");
  EXPECT_EQ(j.status, 200);
  EXPECT_NE(j.headers.find("application/json"), std::string::npos);
  EXPECT_NE(j.body.find("\"node\":\"n1\""), std::string::npos) << j.body;
  EXPECT_NE(j.body.find("\"members\":[{\"id\":\"n1\""), std::string::npos) << j.body;

  HttpResponse page = Http(port, "/");
  EXPECT_EQ(page.status, 200);
  EXPECT_NE(page.headers.find("text/html"), std::string::npos);
  EXPECT_NE(page.body.find("/cluster.json"), std::string::npos);

  EXPECT_EQ(Http(port, "/nope").status, 404);
  EXPECT_EQ(Http(port, "/metrics/x").status, 404);
  EXPECT_EQ(Http(port, "/metrics", "POST").status, 405);
  HttpResponse head = Http(port, "/health", "HEAD");
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.body, "");
  // Garbage, a huge header and a half request on the HTTP port do not hurt the node.
  for (std::string junk : {std::string("\x16\x03\x01garbage\r\n\r\n"), "GET /" + std::string(100000, 'a') + " HTTP/1.1\r\n\r\n",
                           std::string("GET /health HTTP/1.1\r\nHost: x\r\n")}) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(uint16_t(port));
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
    ::send(fd, junk.data(), junk.size(), MSG_NOSIGNAL);
    ::close(fd);
  }
  EXPECT_TRUE(IsStatus(c->Cmd({"PING"}), "PONG"));
  EXPECT_EQ(Http(port, "/health").status, 200);
  // SIGTERM stops the HTTP threads too, promptly and cleanly.
  auto t0 = std::chrono::steady_clock::now();
  ExitInfo e = s.Stop();
  EXPECT_TRUE(e.exited);
  EXPECT_EQ(e.code, 0) << s.Stderr();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 3s);
  EXPECT_EQ(Http(port, "/health").status, 0) << "nothing listens after exit";
}

TEST(Http, OffByDefault) {
  ServerProcess s;
  ASSERT_TRUE(s.Start()) << s.last_error();
  ASSERT_TRUE(WaitUntil([&] { return s.Stderr().find("dynakv ready") != std::string::npos; }, 5s));
  EXPECT_EQ(s.Stderr().find(", http "), std::string::npos) << s.Stderr();
  ServerProcess on;
  int port = AddHttp(on);
  ASSERT_TRUE(on.Start()) << on.last_error();
  ASSERT_TRUE(WaitUntil([&] { return on.Stderr().find("dynakv ready") != std::string::npos; }, 5s));
  EXPECT_NE(on.Stderr().find(", http 127.0.0.1:" + std::to_string(port)), std::string::npos) << on.Stderr();
}

TEST(Http, TakenPortStopsStartUpWithAClearMessage) {
  ServerProcess a;
  int port = AddHttp(a);
  ASSERT_TRUE(a.Start()) << a.last_error();
  ServerProcess b;
  b.config().SetStr("listen", "http", "127.0.0.1:" + std::to_string(port));
  EXPECT_FALSE(b.Start(5s));
  EXPECT_NE(b.Stderr().find("listen.http"), std::string::npos) << b.Stderr();
  EXPECT_NE(b.Stderr().find("127.0.0.1:" + std::to_string(port)), std::string::npos) << b.Stderr();
  TempDir d;
  std::string cfg = d.Write("bad.toml", "[listen]\nhttp = \"nonsense\"\n");
  RunResult r = RunBinary({"--config", cfg}, 10s);
  EXPECT_NE(r.exit.code, 0);
  EXPECT_NE(r.err.find("listen.http"), std::string::npos) << r.err;
}

// ---- a 3-node cluster -----------------------------------------------------------------------

class HttpCluster : public ::testing::Test {
 protected:
  void StartCluster(ClusterOptions o = FastCluster()) {
    cluster_ = std::make_unique<Cluster>(o);
    for (size_t i = 0; i < cluster_->size(); i++) ports_.push_back(AddHttp(cluster_->node(i)));
    ASSERT_TRUE(cluster_->Start()) << cluster_->last_error();
  }
  ServerProcess& node(size_t i) { return cluster_->node(i); }
  std::unique_ptr<Cluster> cluster_;
  std::vector<int> ports_;
};

TEST_F(HttpCluster, DynamoStatusThroughRedisCliResp2AndResp3) {
  StartCluster();
  auto c = node(0).Connect();
  for (int i = 0; i < 30; i++) ASSERT_TRUE(IsStatus(c->Cmd({"SET", "s" + std::to_string(i), "v"}), "OK"));
  // RESP2: a bulk string, one row per member.
  Reply r = c->Cmd({"DYNAMO", "STATUS"});
  ASSERT_TRUE(r && r->type == REDIS_REPLY_STRING) << Describe(r);
  std::string text = Text(r);
  EXPECT_NE(text.find("node n1  healthy  N=3 R=2 W=2  3 members"), std::string::npos) << text;
  for (const char* id : {"n1*", "n2", "n3"}) {
    EXPECT_NE(text.find(std::string("\nup       ") + id + " "), std::string::npos) << id << "\n" << text;
  }
  EXPECT_NE(text.find(cluster_->cluster_addr(1)), std::string::npos) << text;
  EXPECT_LE(std::count(text.begin(), text.end(), '\n'), 24) << "one screen";

  // RESP3 after HELLO 3: a verbatim string (txt).
  RawConn raw(node(0).port());
  ASSERT_TRUE(raw.SendCmd({"HELLO", "3"}));
  ASSERT_EQ(raw.Read().type, '%');
  ASSERT_TRUE(raw.SendCmd({"DYNAMO", "STATUS"}));
  RValue v = raw.Read();
  EXPECT_EQ(v.type, '=') << v.Describe();
  EXPECT_NE(v.str.find("n3"), std::string::npos) << v.Describe();
  ASSERT_TRUE(raw.SendCmd({"DYNAMO", "STATUS", "JSON"}));
  RValue js = raw.Read();
  EXPECT_EQ(js.type, '$') << js.Describe();
  for (const char* id : {"n1", "n2", "n3"}) {
    EXPECT_NE(js.str.find(std::string("{\"id\":\"") + id + "\""), std::string::npos) << js.str;
  }
  ASSERT_TRUE(raw.SendCmd({"DYNAMO", "STATUS", "XML"}));
  EXPECT_EQ(raw.Read().type, '-');

  // redis-cli, as an operator types it (RESP2, then RESP3 with -3).
  std::string cli = FindTool({"redis-cli"});
  if (cli.empty()) GTEST_SKIP() << "redis-cli not found (Debian package redis-tools)";
  std::string out;
  ASSERT_EQ(RunTool({cli, "-p", std::to_string(node(1).port()), "DYNAMO", "STATUS"}, &out, 20s), 0) << out;
  EXPECT_NE(out.find("node n2  healthy"), std::string::npos) << out;
  EXPECT_NE(out.find("n2*"), std::string::npos) << out;
  ASSERT_EQ(RunTool({cli, "-3", "-p", std::to_string(node(2).port()), "DYNAMO", "STATUS", "JSON"}, &out, 20s), 0) << out;
  EXPECT_NE(out.find("\"node\":\"n3\""), std::string::npos) << out;
  for (const char* id : {"n1", "n2", "n3"}) EXPECT_NE(out.find(std::string("\"id\":\"") + id + "\""), std::string::npos);

  // Every member reports its load every 5 s (kLoad): node 1 soon knows node 3's 30 keys.
  std::string json;
  for (int i = 0; i < 100; i++) {
    Reply j = c->Cmd({"DYNAMO", "STATUS", "JSON"});
    json = Text(j);
    size_t at = json.find("{\"id\":\"n3\"");
    if (at != std::string::npos && json.find("\"keys\":30", at) != std::string::npos &&
        json.find("\"keys\":30", at) < json.find('}', at)) {
      break;
    }
    json.clear();
    std::this_thread::sleep_for(100ms);
  }
  EXPECT_FALSE(json.empty()) << "n3's load never reached n1";
}

TEST_F(HttpCluster, InfoDynamoFieldsAndTheirClusterTwins) {
  StartCluster();
  auto c = node(0).Connect();
  for (int i = 0; i < 10; i++) ASSERT_TRUE(IsStatus(c->Cmd({"SET", "i" + std::to_string(i), "v"}), "OK"));
  for (int i = 0; i < 5; i++) ASSERT_TRUE(IsBulk(c->Cmd({"GET", "i" + std::to_string(i)}), "v"));
  std::string info = Text(c->Cmd({"INFO", "dynamo"}));
  auto field = [&](const std::string& k) {
    size_t p = info.find("\r\n" + k + ":");
    if (p == std::string::npos) return std::string("<missing>");
    p += k.size() + 3;
    return info.substr(p, info.find("\r\n", p) - p);
  };
  EXPECT_EQ(field("members"), "3");
  EXPECT_EQ(field("cluster_members"), "3");
  EXPECT_EQ(field("members_up"), "3");
  EXPECT_EQ(field("cluster_members_up"), "3");
  EXPECT_EQ(field("partitions_owned"), "16384");
  EXPECT_EQ(field("cluster_partitions_owned"), "16384");
  EXPECT_EQ(field("write_quorum_calls"), "10");
  EXPECT_EQ(field("read_quorum_calls"), "5");
  EXPECT_EQ(field("read_siblings_1"), "5");
  EXPECT_NE(field("write_quorum_p50_usec"), "0");
  EXPECT_EQ(field("cluster_write_quorum_p99_usec"), field("write_quorum_p99_usec"));
  for (const char* k : {"hints_pending", "transfers_in_flight", "ae_rounds", "ae_keys_repaired", "read_repairs",
                        "coordinator_read_timeouts", "coordinator_write_timeouts", "hints_pending_n2"}) {
    EXPECT_NE(field(k), "<missing>") << k << "\n" << info;
    EXPECT_EQ(field(std::string("cluster_") + k), field(k)) << k;
  }
  EXPECT_NE(field("member_n2").find("state=up,address=127.0.0.1:"), std::string::npos) << info;
}

TEST_F(HttpCluster, HealthTurns503WhenReplicasAreUnreachable) {
  StartCluster();
  // Right after start the snapshot may predate the peers (503 until it sees R/W of them).
  ASSERT_TRUE(WaitUntil([&] { return Http(ports_[0], "/health").status == 200; }, 5s, 100ms));
  auto c = node(0).Connect();
  node(2).Kill();
  // Once n3 is seen down, 2 of 3 are reachable: enough for R=W=2.
  ASSERT_TRUE(WaitUntil([&] { return Text(c->Cmd({"INFO", "dynamo"})).find("member_n3:state=down") != std::string::npos; },
                        15s, 100ms));
  HttpResponse two = Http(ports_[0], "/health");
  EXPECT_EQ(two.status, 200) << "2 of 3 reachable, R=W=2: " << two.body << Http(ports_[0], "/cluster.json").body;
  HttpResponse h;
  node(1).Kill();
  ASSERT_TRUE(WaitUntil(
      [&] {
        h = Http(ports_[0], "/health");
        return h.status == 503;
      },
      15s, 200ms))
      << h.status << " " << h.body;
  EXPECT_EQ(h.body, "only 1 of 3 members reachable; R=2 W=2 need 2\n");
  Reply st = c->Cmd({"DYNAMO", "STATUS"});
  EXPECT_NE(Text(st).find("UNHEALTHY"), std::string::npos) << Text(st);
}

// A real Prometheus scrapes the three nodes; PromQL through its HTTP API gives the write rate.
TEST_F(HttpCluster, PrometheusScrapesTheClusterAndPromQLSeesTheWriteRate) {
  std::string prom = FindTool({"prometheus"});
  if (prom.empty()) GTEST_SKIP() << "prometheus not found (Debian package prometheus): scrape test skipped";
  StartCluster();
  std::string dir = BuildDir() + "/prometheus-test";
  RemoveTree(dir);
  ::mkdir(dir.c_str(), 0755);
  std::string yml = "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n"
                    "  - job_name: dynakv\n    static_configs:\n      - targets: [";
  for (size_t i = 0; i < ports_.size(); i++) yml += (i ? ", " : "") + ("'127.0.0.1:" + std::to_string(ports_[i]) + "'");
  yml += "]\n";
  std::ofstream(dir + "/prometheus.yml") << yml;
  int pport = PickFreePort();
  Child p({prom, "--config.file=" + dir + "/prometheus.yml", "--storage.tsdb.path=" + dir + "/data",
           "--web.listen-address=127.0.0.1:" + std::to_string(pport), "--log.level=warn"},
          dir + "/prometheus.log");
  ASSERT_TRUE(WaitUntil([&] { return Http(pport, "/-/ready").status == 200; }, 30s, 200ms))
      << ReadFile(dir + "/prometheus.log");
  // Every target healthy.
  ASSERT_TRUE(WaitUntil(
      [&] {
        std::string t = Http(pport, "/api/v1/targets").body;
        size_t up = 0;
        for (size_t at = t.find("\"health\":\"up\""); at != std::string::npos; at = t.find("\"health\":\"up\"", at + 1)) up++;
        return up == 3;
      },
      30s, 250ms))
      << Http(pport, "/api/v1/targets").body;
  // Writes through every node for a while, then the rate over the last 30 s.
  std::vector<std::unique_ptr<Conn>> conns;
  for (size_t i = 0; i < 3; i++) conns.push_back(node(i).Connect());
  std::string query = "sum(rate(dynakv_commands_total{cmd=\"set\"}[30s]))";
  std::string url = "/api/v1/query?query=" + UrlEncode(query);
  double rate = 0;
  std::string body;
  auto t0 = std::chrono::steady_clock::now();
  for (int round = 0; round < 600 && std::chrono::steady_clock::now() - t0 < 60s; round++) {
    for (int k = 0; k < 20; k++) {
      auto& c = *conns[size_t(k) % 3];
      ASSERT_TRUE(IsStatus(c.Cmd({"SET", "p:" + std::to_string(round) + ":" + std::to_string(k), "v"}), "OK"));
    }
    std::this_thread::sleep_for(100ms);
    if (round % 10 != 9) continue;
    body = Http(pport, url).body;
    size_t at = body.find("\"value\":[");
    if (at == std::string::npos) continue;
    size_t q = body.find(",\"", at);
    if (q == std::string::npos) continue;
    rate = std::atof(body.c_str() + q + 2);
    if (rate > 0 && std::chrono::steady_clock::now() - t0 > 8s) break;
  }
  std::printf("[http] PromQL %s = %.2f writes/s (%s)\n", query.c_str(), rate, body.c_str());
  std::ofstream(BuildDir() + "/prometheus-query.txt") << query << " = " << rate << "\n" << body << "\n";
  EXPECT_GT(rate, 0.0) << body;
  EXPECT_NE(body.find("\"status\":\"success\""), std::string::npos) << body;
}

// Headless Chromium loads "/" of a live node; after its JavaScript ran, the DOM names every
// member; a screenshot is kept at build/cluster-view.png.
TEST_F(HttpCluster, ChromiumRendersTheClusterPage) {
  std::string chromium = FindTool({"chromium", "chromium-browser", "google-chrome"});
  if (chromium.empty()) GTEST_SKIP() << "chromium not found (Debian package chromium): page test skipped";
  StartCluster();
  auto c = node(0).Connect();
  for (int i = 0; i < 50; i++) ASSERT_TRUE(IsStatus(c->Cmd({"SET", "c" + std::to_string(i), "v"}), "OK"));
  for (int i = 0; i < 20; i++) c->Cmd({"GET", "c" + std::to_string(i)});
  std::this_thread::sleep_for(1200ms);  // the next HTTP snapshot holds them
  std::string profile = BuildDir() + "/chromium-profile";
  std::string url = "http://127.0.0.1:" + std::to_string(ports_[0]) + "/";
  std::vector<std::string> common = {chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                                     "--no-first-run", "--user-data-dir=" + profile, "--virtual-time-budget=5000"};
  std::vector<std::string> dump = common;
  dump.push_back("--dump-dom");
  dump.push_back(url);
  std::string dom;
  int code = RunTool(dump, &dom, 90s);
  ASSERT_EQ(code, 0) << dom.substr(0, 3000);
  for (const char* id : {"n1", "n2", "n3"}) {
    EXPECT_NE(dom.find(std::string("id=\"member-") + id + "\""), std::string::npos) << id << "\n" << dom.substr(0, 4000);
    EXPECT_NE(dom.find(std::string("data-member=\"") + id + "\""), std::string::npos) << id;
  }
  EXPECT_NE(dom.find("class=\"badge h-ok\">healthy"), std::string::npos) << "health badge";
  EXPECT_NE(dom.find("partitions 0-"), std::string::npos) << "ring strip";
  EXPECT_NE(dom.find("write quorum"), std::string::npos) << "latency table";
  std::string shot = BuildDir() + "/cluster-view.png";
  ::unlink(shot.c_str());
  std::vector<std::string> snap = common;
  snap.push_back("--window-size=1280,1000");
  snap.push_back("--screenshot=" + shot);
  snap.push_back(url);
  std::string out;
  code = RunTool(snap, &out, 90s);
  EXPECT_EQ(code, 0) << out;
  std::string png = ReadFile(shot);
  ASSERT_GT(png.size(), 1000u) << out;
  EXPECT_EQ(png.substr(1, 3), "PNG");
  std::printf("[http] screenshot: %s (%zu bytes)\n", shot.c_str(), png.size());
}

}  // namespace
}  // namespace dynakv::itest
