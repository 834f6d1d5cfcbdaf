// tests/integration/limits_test.cc: limits not covered elsewhere, each with a clear error, no
// crash and nothing lost (README, "Limits"): many idle half-sent connections (slowloris) under
// limits.timeout; the sibling cap (DPUT beyond limits.max_siblings); the hint cap
// (limits.max_hints); garbage, truncated frames and huge length prefixes on the cluster port. (maxclients, the idle timeout and the slow
// reader's output buffer are in single_node_test.cc; memcached key and item size in
// memcache_transcript.txt, compared with a real memcached.)
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/harness.h"

namespace dynakv::itest {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

std::string Str(const Reply& r) { return r && r->str ? std::string(r->str, r->len) : std::string(); }

int64_t InfoField(Conn& c, const std::string& section, const std::string& field) {
  std::string info = Str(c("INFO", section));
  size_t p = info.find(field + ":");
  if (p == std::string::npos) return -1;
  return std::stoll(info.substr(p + field.size() + 1));
}

// A plain TCP connection to 127.0.0.1:port (-1 on failure).
int Dial(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(uint16_t(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    close(fd);
    return -1;
  }
  timeval tv{2, 0};
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return fd;
}

bool SendAll(int fd, const std::string& bytes) {
  size_t off = 0;
  while (off < bytes.size()) {
    ssize_t n = send(fd, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return false;
    off += size_t(n);
  }
  return true;
}

// True once the peer closed fd (read returns 0 or an error other than a timeout).
bool PeerClosed(int fd) {
  char buf[4096];
  for (int i = 0; i < 1000; i++) {
    ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n == 0) return true;
    if (n < 0) return errno != EAGAIN && errno != EWOULDBLOCK;
  }
  return false;
}

// Slowloris: 300 connections each send half a command and go quiet. They hold no more than
// their own slot; with limits.timeout = 1 they are all closed within a few seconds, while a
// busy client keeps being served, and new clients get in afterwards.
TEST(Limits, SlowlorisHalfSentCommandsAreClosedByTheIdleTimeout) {
  constexpr int kIdle = 300;
  ServerConfig cfg;
  cfg.SetInt("limits", "timeout", 1);
  cfg.SetInt("limits", "maxclients", kIdle + 10);
  ServerProcess server(cfg);
  ASSERT_TRUE(server.Start()) << server.last_error();
  std::vector<int> fds;
  for (int i = 0; i < kIdle; i++) {
    int fd = Dial(server.port());
    ASSERT_GE(fd, 0) << "connection " << i;
    fds.push_back(fd);
    // A bulk string announced as 1000 bytes, 5 sent; and some only a command header.
    ASSERT_TRUE(SendAll(fd, i % 2 ? "*2\r\n$3\r\nSET\r\n$1000\r\nabcde" : "*3\r\n$3\r\nSE"));
  }
  std::vector<double> rtts;
  Conn busy(server.port());
  auto t0 = Clock::now();
  while (Clock::now() - t0 < 3500ms) {
    auto a = Clock::now();
    ASSERT_TRUE(IsStatus(busy("PING"), "PONG")) << "a busy client must be served (and not timed out)";
    rtts.push_back(std::chrono::duration<double, std::milli>(Clock::now() - a).count());
    std::this_thread::sleep_for(100ms);
  }
  int closed = 0;
  for (int fd : fds) {
    closed += PeerClosed(fd);
    close(fd);
  }
  EXPECT_EQ(closed, kIdle) << "every idle half-sent connection is closed after limits.timeout";
  EXPECT_TRUE(WaitUntil([&] { return InfoField(busy, "clients", "connected_clients") == 1; }, 5s));
  double worst = *std::max_element(rtts.begin(), rtts.end());
  EXPECT_LT(worst, 500.0) << "the busy client waited " << worst << " ms";
  // The slots are free again: a full set of new clients gets in.
  std::vector<std::unique_ptr<Conn>> fresh;
  for (int i = 0; i < kIdle; i++) {
    fresh.push_back(std::make_unique<Conn>(server.port(), 5000));
    ASSERT_TRUE(IsStatus((*fresh.back())("PING"), "PONG")) << "fresh client " << i;
  }
  EXPECT_TRUE(server.Running());
}

// DPUT beyond limits.max_siblings: the write fails with a clear error, the siblings already
// there are intact, and a write with the merged context resolves them.
TEST(Limits, SiblingCapRefusesTheWriteAndKeepsTheSiblings) {
  constexpr int kMax = 5;
  ServerConfig cfg;
  cfg.SetInt("limits", "max_siblings", kMax);
  ServerProcess server(cfg);
  ASSERT_TRUE(server.Start()) << server.last_error();
  Conn c(server.port());
  Reply d = c("DGET", "cart");
  ASSERT_TRUE(d && d->type == REDIS_REPLY_ARRAY && d->elements == 2) << Describe(d);
  std::string ctx0(d->element[0]->str, d->element[0]->len);
  for (int i = 0; i < kMax; i++) {
    Reply p = c("DPUT", "cart", "v" + std::to_string(i), ctx0);
    ASSERT_TRUE(p && p->type == REDIS_REPLY_STRING) << "sibling " << i << ": " << Describe(p);
  }
  EXPECT_TRUE(IsError(c("DPUT", "cart", "one-too-many", ctx0),
                      "ERR too many siblings (" + std::to_string(kMax + 1) + " > " + std::to_string(kMax) + ")"));
  d = c("DGET", "cart");
  ASSERT_TRUE(d && d->type == REDIS_REPLY_ARRAY && d->elements == 2) << Describe(d);
  ASSERT_EQ(d->element[1]->elements, size_t(kMax)) << Describe(d);
  for (size_t i = 0; i < d->element[1]->elements; i++) {
    EXPECT_NE(std::string(d->element[1]->element[i]->str), "one-too-many");
  }
  // SET supersedes what the coordinator knows: never refused by the cap.
  std::string merged(d->element[0]->str, d->element[0]->len);
  Reply p = c("DPUT", "cart", "resolved", merged);
  ASSERT_TRUE(p && p->type == REDIS_REPLY_STRING) << Describe(p);
  d = c("DGET", "cart");
  ASSERT_TRUE(d && d->type == REDIS_REPLY_ARRAY && d->elements == 2) << Describe(d);
  ASSERT_EQ(d->element[1]->elements, 1u) << Describe(d);
  EXPECT_TRUE(IsBulk(c("GET", "cart"), "resolved"));
  EXPECT_TRUE(IsStatus(c("SET", "cart", "plain"), "OK"));
  EXPECT_TRUE(IsBulk(c("GET", "cart"), "plain"));
  EXPECT_TRUE(server.Running());
}

// limits.max_hints on real processes: 4 nodes, N=3 W=3, a cap of 3 hints per node, one node
// killed. Writes that need a stand-in are acknowledged until the stand-ins are full, then
// refused with an error naming the cap; no node holds more than its cap. After the owner
// restarts, the hints are delivered, every acknowledged write reads back through every node,
// and W=3 writes succeed again.
TEST(Limits, HintCapRefusesWritesBeyondItAndLosesNothing) {
  constexpr int kCap = 3;
  ClusterOptions opts;
  opts.nodes = 4;
  opts.n = 3, opts.r = 2, opts.w = 3;
  opts.extra.SetInt("cluster", "gossip_interval_ms", 100)
      .SetInt("cluster", "suspect_after_ms", 500)
      .SetInt("cluster", "down_after_ms", 1500)
      .SetInt("limits", "max_hints", kCap);
  Cluster cl(opts);
  ASSERT_TRUE(cl.Start()) << cl.last_error();
  cl.node(3).Kill();
  Conn c0(cl.node(0).port());
  // Once n4 is down in every view, W=3 writes go to stand-ins (a coordinator that still
  // thought n4 up would time out waiting for it instead); wait for that.
  ASSERT_TRUE(WaitUntil([&] {
    for (size_t n = 0; n < 3; n++) {
      Conn c(cl.node(n).port());
      if (InfoField(c, "dynamo", "members_down") != 1) return false;
    }
    return true;
  }, 10s));
  std::vector<std::string> acked;
  int refused = 0;
  for (int i = 0; i < 60 && refused < 10; i++) {
    std::string k = "cap:" + std::to_string(i);
    Reply r = c0("SET", k, "v" + std::to_string(i));
    ASSERT_TRUE(r) << "no reply";
    if (r->type == REDIS_REPLY_STATUS) {
      acked.push_back(k);
    } else {
      ASSERT_EQ(r->type, REDIS_REPLY_ERROR);
      EXPECT_NE(Str(r).find("hint store full"), std::string::npos) << Str(r);
      refused++;
    }
  }
  EXPECT_GE(refused, 10) << "the cap never refused a write";
  int64_t held = 0;
  for (size_t n = 0; n < 3; n++) {
    Conn c(cl.node(n).port());
    int64_t h = InfoField(c, "dynamo", "hints_pending_n4");
    EXPECT_LE(h, kCap) << "node " << n;
    held += std::max<int64_t>(h, 0);
  }
  EXPECT_GT(held, 0);
  std::printf("hint cap %d: %zu writes acknowledged, %d refused, %lld hints held\n", kCap,
              acked.size(), refused, (long long)held);
  ASSERT_TRUE(cl.node(3).Restart()) << cl.node(3).last_error();
  ASSERT_TRUE(WaitUntil([&] {
    for (size_t n = 0; n < 3; n++) {
      Conn c(cl.node(n).port());
      if (InfoField(c, "dynamo", "hints_pending") != 0) return false;
    }
    return true;
  }, 20s)) << "hints were not delivered";
  for (size_t n = 0; n < cl.size(); n++) {
    Conn c(cl.node(n).port());
    for (size_t i = 0; i < acked.size(); i++) {
      std::string want = "v" + acked[i].substr(acked[i].find(':') + 1);
      EXPECT_TRUE(IsBulk(c("GET", acked[i]), want)) << acked[i] << " through node " << n;
    }
  }
  ASSERT_TRUE(cl.WaitAllUp(10s)) << cl.last_error();
  for (int i = 0; i < 20; i++) {
    EXPECT_TRUE(IsStatus(c0("SET", "after:" + std::to_string(i), "x"), "OK")) << i;
  }
}

// Junk on the cluster port: random bytes, a huge length prefix (4 GB), a prefix just over the
// frame limit, a truncated frame left hanging, and well-formed frames of garbage. The node
// survives, keeps serving clients and its peers, and loses nothing.
TEST(Limits, GarbageAndHugeLengthPrefixesOnTheClusterPort) {
  ClusterOptions opts;
  opts.extra.SetInt("cluster", "gossip_interval_ms", 100);
  Cluster cl(opts);
  ASSERT_TRUE(cl.Start()) << cl.last_error();
  Conn c0(cl.node(0).port());
  for (int i = 0; i < 100; i++) {
    ASSERT_TRUE(IsStatus(c0("SET", "before:" + std::to_string(i), std::to_string(i)), "OK"));
  }
  std::string addr = cl.cluster_addr(1);
  int cport = std::stoi(addr.substr(addr.rfind(':') + 1));
  std::mt19937 rng(14);
  auto random_bytes = [&](size_t n) {
    std::string s(n, '\0');
    for (auto& ch : s) ch = char(rng() & 0xff);
    return s;
  };
  auto u32 = [](uint32_t v) {
    std::string s(4, '\0');
    s[0] = char(v >> 24), s[1] = char(v >> 16), s[2] = char(v >> 8), s[3] = char(v);
    return s;
  };
  std::vector<std::string> attacks = {
      random_bytes(64 * 1024),
      u32(0xffffffffu) + random_bytes(1024),
      u32(640u * 1024 * 1024 + 1) + "x",
      u32(0) + u32(0) + u32(1) + "z",
      u32(1000) + random_bytes(1000) + u32(20) + random_bytes(20),
      "GET / HTTP/1.1\r\nHost: x\r\n\r\n",
      "*1\r\n$4\r\nPING\r\n",
  };
  for (int i = 0; i < 50; i++) {
    size_t n = 1 + rng() % 512;
    attacks.push_back(u32(uint32_t(n)) + random_bytes(n));
  }
  for (size_t i = 0; i < attacks.size(); i++) {
    int fd = Dial(cport);
    ASSERT_GE(fd, 0) << "attack " << i << ": the cluster port stopped accepting";
    SendAll(fd, attacks[i]);  // the node may close on us mid-way: fine
    close(fd);
  }
  // A truncated frame whose sender goes quiet: held, not waited on by anyone else.
  int hanging = Dial(cport);
  ASSERT_GE(hanging, 0);
  SendAll(hanging, u32(100 * 1024 * 1024) + random_bytes(4096));

  ASSERT_TRUE(cl.node(1).Running()) << "node 1 died from junk on its cluster port\n" << cl.node(1).Stderr();
  Conn c1(cl.node(1).port());
  EXPECT_TRUE(IsStatus(c1("PING"), "PONG"));
  // It still serves its peers: quorum writes through every coordinator, reads everywhere.
  ASSERT_TRUE(cl.WaitAllUp(10s)) << cl.last_error();
  for (size_t n = 0; n < cl.size(); n++) {
    Conn c(cl.node(n).port());
    for (int i = 0; i < 50; i++) {
      std::string k = "after:" + std::to_string(n) + ":" + std::to_string(i);
      ASSERT_TRUE(IsStatus(c("SET", k, k), "OK")) << "node " << n;
    }
  }
  for (size_t n = 0; n < cl.size(); n++) {
    Conn c(cl.node(n).port());
    for (int i = 0; i < 100; i++) {
      EXPECT_TRUE(IsBulk(c("GET", "before:" + std::to_string(i)), std::to_string(i))) << "node " << n;
    }
    for (size_t m = 0; m < cl.size(); m++) {
      std::string k = "after:" + std::to_string(m) + ":0";
      EXPECT_TRUE(IsBulk(c("GET", k), k)) << "node " << n;
    }
  }
  close(hanging);
  for (size_t n = 0; n < cl.size(); n++) EXPECT_TRUE(cl.node(n).Running()) << "node " << n;
}

}  // namespace
}  // namespace dynakv::itest
