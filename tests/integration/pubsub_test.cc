// tests/integration/pubsub_test.cc: Pub/Sub against real dynakv-server processes, through raw
// sockets so every reply's RESP type is checked (the expected replies were taken from
// redis-server 7.0): one node on RESP2 (subscribe/psubscribe counts, messages, PUBSUB
// introspection, the subscribed-context restriction, unsubscribe-all, RESET, disconnects,
// order and completeness under a pipelined flood, the pubsub output-buffer limit) and on
// RESP3 (push frames, other commands allowed, a publisher's own message before its reply);
// and a 3-node cluster (README, "Pub/Sub"): a PUBLISH through one node reaches subscribers
// on the others exactly once and in order and counts local receivers only, SSUBSCRIBE /
// SPUBLISH across nodes, and a killed subscriber node does not slow or break publishers.
//
// Every server is stopped by PID by the harness; every wait is bounded.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/harness.h"

namespace dynakv::itest {
namespace {

using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;

// Sends one command and reads one reply, described (harness.h RValue::Describe):
// bulk $"x", nil $null, RESP3 null _null, integer :n, array *[...], push >[...].
std::string Cmd(RawConn& c, const std::vector<std::string>& args, int timeout_ms = 5000) {
  if (!c.SendCmd(args)) return "<send failed>";
  return c.Read(timeout_ms).Describe();
}
std::string Next(RawConn& c, int timeout_ms = 5000) { return c.Read(timeout_ms).Describe(); }
// What Next() gives when nothing arrives in time.
const std::string kNothing = "?\"\"";

std::string Msg(const std::string& ch, const std::string& m, char t = '*') {
  return std::string(1, t) + "[$\"message\", $\"" + ch + "\", $\"" + m + "\"]";
}
std::string PMsg(const std::string& pat, const std::string& ch, const std::string& m, char t = '*') {
  return std::string(1, t) + "[$\"pmessage\", $\"" + pat + "\", $\"" + ch + "\", $\"" + m + "\"]";
}
std::string SMsg(const std::string& ch, const std::string& m, char t = '*') {
  return std::string(1, t) + "[$\"smessage\", $\"" + ch + "\", $\"" + m + "\"]";
}
std::string Ack(const std::string& verb, const std::string& ch, int n, char t = '*') {
  return std::string(1, t) + "[$\"" + verb + "\", $\"" + ch + "\", :" + std::to_string(n) + "]";
}
std::string OnlyErr(const std::string& cmd) {
  return "-\"ERR Can't execute '" + cmd +
         "': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context\"";
}

std::vector<std::string> SortedBulks(const RValue& v) {
  std::vector<std::string> out;
  for (const auto& e : v.elems) out.push_back(e.str);
  std::sort(out.begin(), out.end());
  return out;
}

class PubSubSingle : public ::testing::Test {
 protected:
  void Start(ServerConfig cfg = {}) {
    server_ = std::make_unique<ServerProcess>(std::move(cfg), "ps1");
    ASSERT_TRUE(server_->Start()) << server_->last_error();
  }
  void TearDown() override {
    if (server_) {
      EXPECT_TRUE(server_->Running()) << "dynakv-server is no longer running (crashed?)";
    }
    if (HasFailure() && server_) {
      std::string log = server_->Stderr();
      if (log.size() > 4000) log = "..." + log.substr(log.size() - 4000);
      std::printf("---- dynakv-server stderr (tail) ----\n%s\n", log.c_str());
    }
  }
  int port() const { return server_->port(); }
  std::unique_ptr<ServerProcess> server_;
};

TEST_F(PubSubSingle, Resp2SubscribePublishIntrospectUnsubscribe) {
  Start();
  RawConn sub(port()), pub(port());
  ASSERT_TRUE(sub.ok() && pub.ok());
  ASSERT_TRUE(sub.SendCmd({"SUBSCRIBE", "c1", "c2", "c1"}));
  EXPECT_EQ(Next(sub), Ack("subscribe", "c1", 1));
  EXPECT_EQ(Next(sub), Ack("subscribe", "c2", 2));
  EXPECT_EQ(Next(sub), Ack("subscribe", "c1", 2));  // again: same reply, same count
  ASSERT_TRUE(sub.SendCmd({"PSUBSCRIBE", "c*", "x?"}));
  EXPECT_EQ(Next(sub), Ack("psubscribe", "c*", 3));
  EXPECT_EQ(Next(sub), Ack("psubscribe", "x?", 4));

  // The RESP2 subscribed context.
  EXPECT_EQ(Cmd(sub, {"GET", "k"}), OnlyErr("get"));
  EXPECT_EQ(Cmd(sub, {"set", "k", "v"}), OnlyErr("set"));
  EXPECT_EQ(Cmd(sub, {"CLIENT", "INFO"}), OnlyErr("client|info"));
  EXPECT_EQ(Cmd(sub, {"FOO"}), "-\"ERR unknown command 'FOO', with args beginning with: \"");
  EXPECT_EQ(Cmd(sub, {"PING"}), "*[$\"pong\", $\"\"]");
  EXPECT_EQ(Cmd(sub, {"PING", "hi"}), "*[$\"pong\", $\"hi\"]");
  EXPECT_EQ(Cmd(sub, {"PING", "a", "b"}), "-\"ERR wrong number of arguments for 'ping' command\"");

  EXPECT_EQ(Cmd(pub, {"PUBLISH", "c1", "hello"}), ":2");  // c1 and c* (one client, twice)
  EXPECT_EQ(Next(sub), Msg("c1", "hello"));
  EXPECT_EQ(Next(sub), PMsg("c*", "c1", "hello"));
  EXPECT_EQ(Cmd(pub, {"PUBLISH", "xy", "2"}), ":1");
  EXPECT_EQ(Next(sub), PMsg("x?", "xy", "2"));
  EXPECT_EQ(Cmd(pub, {"PUBLISH", "nobody", "3"}), ":0");
  EXPECT_EQ(Next(sub, 300), kNothing);

  ASSERT_TRUE(pub.SendCmd({"PUBSUB", "CHANNELS"}));
  EXPECT_EQ(SortedBulks(pub.Read()), (std::vector<std::string>{"c1", "c2"}));
  EXPECT_EQ(Cmd(pub, {"PUBSUB", "CHANNELS", "c1*"}), "*[$\"c1\"]");
  EXPECT_EQ(Cmd(pub, {"PUBSUB", "NUMSUB", "c1", "zz"}), "*[$\"c1\", :1, $\"zz\", :0]");
  EXPECT_EQ(Cmd(pub, {"PUBSUB", "NUMSUB"}), "*[]");
  EXPECT_EQ(Cmd(pub, {"PUBSUB", "NUMPAT"}), ":2");
  ASSERT_TRUE(pub.SendCmd({"INFO", "stats"}));
  std::string info = pub.Read().str;
  EXPECT_NE(info.find("\r\npubsub_channels:2\r\npubsub_patterns:2\r\npubsubshard_channels:0\r\n"),
            std::string::npos) << info;
  ASSERT_TRUE(pub.SendCmd({"CLIENT", "LIST"}));
  std::string list = pub.Read().str;
  EXPECT_NE(list.find(" flags=P db=0 sub=2 psub=2 ssub=0 "), std::string::npos) << list;
  EXPECT_NE(list.find(" flags=N db=0 sub=0 psub=0 ssub=0 "), std::string::npos) << list;

  ASSERT_TRUE(sub.SendCmd({"UNSUBSCRIBE", "c1", "nope"}));
  EXPECT_EQ(Next(sub), Ack("unsubscribe", "c1", 3));
  EXPECT_EQ(Next(sub), Ack("unsubscribe", "nope", 3));
  ASSERT_TRUE(sub.SendCmd({"PUNSUBSCRIBE"}));  // all patterns, one reply each
  std::vector<std::string> got = {Next(sub), Next(sub)};
  std::sort(got.begin(), got.end());
  EXPECT_EQ(got, (std::vector<std::string>{Ack("punsubscribe", "c*", 2), Ack("punsubscribe", "x?", 1)}) );
  EXPECT_EQ(Cmd(sub, {"UNSUBSCRIBE"}), Ack("unsubscribe", "c2", 0));
  EXPECT_EQ(Cmd(sub, {"UNSUBSCRIBE"}), "*[$\"unsubscribe\", $null, :0]");  // nothing left
  EXPECT_EQ(Cmd(sub, {"PUNSUBSCRIBE"}), "*[$\"punsubscribe\", $null, :0]");
  EXPECT_EQ(Cmd(sub, {"SUNSUBSCRIBE"}), "*[$\"sunsubscribe\", $null, :0]");
  EXPECT_EQ(Cmd(sub, {"GET", "k"}), "$null");  // out of the subscribed context
  EXPECT_EQ(Cmd(pub, {"PUBSUB", "NUMPAT"}), ":0");
  EXPECT_EQ(Cmd(pub, {"PUBSUB", "CHANNELS"}), "*[]");
}

TEST_F(PubSubSingle, ShardChannelsAreTheirOwnNamespace) {
  Start();
  RawConn sub(port()), pub(port());
  ASSERT_TRUE(sub.SendCmd({"SSUBSCRIBE", "s1", "s2"}));
  EXPECT_EQ(Next(sub), Ack("ssubscribe", "s1", 1));
  EXPECT_EQ(Next(sub), Ack("ssubscribe", "s2", 2));
  EXPECT_EQ(Cmd(sub, {"SUBSCRIBE", "c9"}), Ack("subscribe", "c9", 1));  // counted apart
  EXPECT_EQ(Cmd(sub, {"GET", "k"}), OnlyErr("get"));
  EXPECT_EQ(Cmd(pub, {"SPUBLISH", "s1", "m1"}), ":1");
  EXPECT_EQ(Cmd(pub, {"PUBLISH", "s1", "m2"}), ":0");  // a channel, not the shard channel
  EXPECT_EQ(Next(sub), SMsg("s1", "m1"));
  ASSERT_TRUE(pub.SendCmd({"PUBSUB", "SHARDCHANNELS"}));
  EXPECT_EQ(SortedBulks(pub.Read()), (std::vector<std::string>{"s1", "s2"}));
  EXPECT_EQ(Cmd(pub, {"PUBSUB", "SHARDCHANNELS", "*2"}), "*[$\"s2\"]");
  EXPECT_EQ(Cmd(pub, {"PUBSUB", "SHARDNUMSUB", "s1", "s3"}), "*[$\"s1\", :1, $\"s3\", :0]");
  EXPECT_EQ(Cmd(pub, {"PUBSUB", "CHANNELS"}), "*[$\"c9\"]");
  EXPECT_EQ(Cmd(sub, {"SUNSUBSCRIBE", "s2"}), Ack("sunsubscribe", "s2", 1));
  EXPECT_EQ(Cmd(sub, {"RESET"}), "+\"RESET\"");
  EXPECT_EQ(Cmd(sub, {"GET", "k"}), "$null");
  EXPECT_EQ(Cmd(pub, {"SPUBLISH", "s1", "x"}), ":0");
  EXPECT_EQ(Cmd(pub, {"PUBLISH", "c9", "x"}), ":0");
  EXPECT_EQ(Next(sub, 300), kNothing);
}

TEST_F(PubSubSingle, Resp3PushesAndOtherCommandsAllowed) {
  Start();
  RawConn sub(port()), pub(port());
  ASSERT_TRUE(sub.SendCmd({"HELLO", "3"}));
  ASSERT_EQ(sub.Read().type, '%');
  EXPECT_EQ(Cmd(sub, {"SUBSCRIBE", "r3"}), Ack("subscribe", "r3", 1, '>'));
  EXPECT_EQ(Cmd(sub, {"GET", "k"}), "_null");  // RESP3: anything goes
  EXPECT_EQ(Cmd(sub, {"PING"}), "+\"PONG\"");
  // Its own message comes first, then PUBLISH's count, as from Redis.
  ASSERT_TRUE(sub.SendCmd({"PUBLISH", "r3", "self"}));
  EXPECT_EQ(Next(sub), Msg("r3", "self", '>'));
  EXPECT_EQ(Next(sub), ":1");
  EXPECT_EQ(Cmd(sub, {"PSUBSCRIBE", "r*"}), Ack("psubscribe", "r*", 2, '>'));
  EXPECT_EQ(Cmd(sub, {"SSUBSCRIBE", "sh"}), Ack("ssubscribe", "sh", 1, '>'));
  EXPECT_EQ(Cmd(pub, {"PUBLISH", "r3", "x"}), ":2");
  EXPECT_EQ(Cmd(pub, {"SPUBLISH", "sh", "y"}), ":1");
  EXPECT_EQ(Next(sub), Msg("r3", "x", '>'));
  EXPECT_EQ(Next(sub), PMsg("r*", "r3", "x", '>'));
  EXPECT_EQ(Next(sub), SMsg("sh", "y", '>'));
  // A push between replies does not disturb them.
  ASSERT_TRUE(sub.SendCmd({"SET", "k", "v"}));
  EXPECT_EQ(Next(sub), "+\"OK\"");
  EXPECT_EQ(Cmd(pub, {"PUBLISH", "r3", "between"}), ":2");
  EXPECT_EQ(Cmd(sub, {"GET", "k"}), Msg("r3", "between", '>'));
  EXPECT_EQ(Next(sub), PMsg("r*", "r3", "between", '>'));
  EXPECT_EQ(Next(sub), "$\"v\"");
  EXPECT_EQ(Cmd(sub, {"UNSUBSCRIBE"}), Ack("unsubscribe", "r3", 1, '>'));
  EXPECT_EQ(Cmd(sub, {"UNSUBSCRIBE"}), ">[$\"unsubscribe\", _null, :1]");  // r* remains
  EXPECT_EQ(Cmd(sub, {"RESET"}), "+\"RESET\"");  // back to RESP2, nothing subscribed
  EXPECT_EQ(Cmd(sub, {"GET", "nothing"}), "$null");
  EXPECT_EQ(Cmd(pub, {"PUBLISH", "r3", "x"}), ":0");
  EXPECT_EQ(Cmd(pub, {"SPUBLISH", "sh", "x"}), ":0");
}

TEST_F(PubSubSingle, ArgumentErrorsAsRedis) {
  Start();
  RawConn c(port());
  EXPECT_EQ(Cmd(c, {"SUBSCRIBE"}), "-\"ERR wrong number of arguments for 'subscribe' command\"");
  EXPECT_EQ(Cmd(c, {"PUBLISH", "x"}), "-\"ERR wrong number of arguments for 'publish' command\"");
  EXPECT_EQ(Cmd(c, {"SPUBLISH", "x"}), "-\"ERR wrong number of arguments for 'spublish' command\"");
  EXPECT_EQ(Cmd(c, {"PUBSUB"}), "-\"ERR wrong number of arguments for 'pubsub' command\"");
  EXPECT_EQ(Cmd(c, {"PUBSUB", "FOO"}), "-\"ERR unknown subcommand 'FOO'. Try PUBSUB HELP.\"");
  EXPECT_EQ(Cmd(c, {"PUBSUB", "NUMPAT", "x"}), "-\"ERR wrong number of arguments for 'pubsub|numpat' command\"");
  EXPECT_EQ(Cmd(c, {"PUBSUB", "CHANNELS", "a", "b"}),
            "-\"ERR unknown subcommand or wrong number of arguments for 'CHANNELS'. Try PUBSUB HELP.\"");
  EXPECT_EQ(Cmd(c, {"RESET", "x"}), "-\"ERR wrong number of arguments for 'reset' command\"");
  ASSERT_TRUE(c.SendCmd({"PUBSUB", "HELP"}));
  RValue help = c.Read();
  EXPECT_EQ(help.type, '*');
  EXPECT_EQ(help.elems.size(), 14u);
}

TEST_F(PubSubSingle, DisconnectAndResetDropSubscriptions) {
  Start();
  RawConn pub(port());
  {
    RawConn gone(port());
    EXPECT_EQ(Cmd(gone, {"SUBSCRIBE", "x"}), Ack("subscribe", "x", 1));
    EXPECT_EQ(Cmd(gone, {"PSUBSCRIBE", "x*"}), Ack("psubscribe", "x*", 2));
    EXPECT_EQ(Cmd(pub, {"PUBSUB", "NUMSUB", "x"}), "*[$\"x\", :1]");
  }  // closed
  EXPECT_TRUE(WaitUntil([&] { return Cmd(pub, {"PUBLISH", "x", "m"}) == ":0"; }, 5s));
  EXPECT_EQ(Cmd(pub, {"PUBSUB", "NUMSUB", "x"}), "*[$\"x\", :0]");
  EXPECT_EQ(Cmd(pub, {"PUBSUB", "NUMPAT"}), ":0");
  RawConn r(port());
  EXPECT_EQ(Cmd(r, {"SUBSCRIBE", "y"}), Ack("subscribe", "y", 1));
  EXPECT_EQ(Cmd(r, {"QUIT"}), "+\"OK\"");  // allowed in the context
  EXPECT_TRUE(r.WaitClosed(5000));
  EXPECT_TRUE(WaitUntil([&] { return Cmd(pub, {"PUBSUB", "NUMSUB", "y"}) == "*[$\"y\", :0]"; }, 5s));
}

// A pipelined flood: every message arrives, whole and in publish order, and the replies of
// the publisher are all there.
TEST_F(PubSubSingle, FloodArrivesCompleteAndInOrder) {
  Start();
  RawConn sub(port()), pub(port());
  EXPECT_EQ(Cmd(sub, {"SUBSCRIBE", "flood"}), Ack("subscribe", "flood", 1));
  constexpr int kMessages = 5000;
  std::string pad(100, 'p');  // Describe() shows 200 bytes
  std::string batch;
  for (int i = 0; i < kMessages; ++i) {
    std::string m = std::to_string(i) + pad;
    batch += "*3\r\n$7\r\nPUBLISH\r\n$5\r\nflood\r\n$" + std::to_string(m.size()) + "\r\n" + m + "\r\n";
  }
  auto t0 = SteadyClock::now();
  ASSERT_TRUE(pub.Send(batch));
  int ok = 0;
  for (int i = 0; i < kMessages; ++i) ok += pub.Read().Describe() == ":1";
  EXPECT_EQ(ok, kMessages);
  for (int i = 0; i < kMessages; ++i) {
    std::string got = Next(sub);
    ASSERT_EQ(got, Msg("flood", std::to_string(i) + pad)) << "message " << i;
  }
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(SteadyClock::now() - t0).count();
  std::printf("[pubsub] %d pipelined messages of ~100 B published and received in %lld ms\n", kMessages,
              static_cast<long long>(ms));
  EXPECT_EQ(Next(sub, 200), kNothing);
}

// A subscriber that does not read is cut off at limits.client_output_buffer_limit_pubsub,
// like Redis's client-output-buffer-limit pubsub; the publisher and other subscribers go on.
TEST_F(PubSubSingle, SlowSubscriberIsDisconnectedAtTheLimit) {
  ServerConfig cfg;
  cfg.SetInt("limits", "client_output_buffer_limit_pubsub", 1 << 20);
  Start(cfg);
  RawConn slow(port()), fast(port()), pub(port());
  EXPECT_EQ(Cmd(slow, {"SUBSCRIBE", "big"}), Ack("subscribe", "big", 1));
  EXPECT_EQ(Cmd(fast, {"SUBSCRIBE", "other"}), Ack("subscribe", "other", 1));
  std::string payload(100 * 1024, 'z');
  bool cut = false;
  for (int i = 0; i < 2000 && !cut; ++i) {  // up to 200 MB; kernel buffers take a few MB
    std::string r = Cmd(pub, {"PUBLISH", "big", payload});
    ASSERT_TRUE(r == ":1" || r == ":0") << r;
    cut = r == ":0";
  }
  EXPECT_TRUE(cut) << "the slow subscriber was never disconnected";
  EXPECT_EQ(Cmd(pub, {"PUBSUB", "NUMSUB", "big"}), "*[$\"big\", :0]");
  ASSERT_TRUE(pub.SendCmd({"INFO", "stats"}));
  std::string info = pub.Read().str;
  EXPECT_NE(info.find("client_output_buffer_limit_disconnections:1"), std::string::npos) << info;
  EXPECT_TRUE(slow.WaitClosed(10000));
  EXPECT_EQ(Cmd(pub, {"PUBLISH", "other", "still here"}), ":1");
  EXPECT_EQ(Next(fast), Msg("other", "still here"));
  EXPECT_NE(server_->Stderr().find("closed for overcoming of output buffer limits"), std::string::npos);
}

// ---- a 3-node cluster -------------------------------------------------------------------------

class PubSubCluster : public ::testing::Test {
 protected:
  void SetUp() override {
    ClusterOptions o;
    o.nodes = 3;
    o.extra.SetInt("cluster", "gossip_interval_ms", 100)
        .SetInt("cluster", "suspect_after_ms", 500)
        .SetInt("cluster", "down_after_ms", 1500)
        .SetInt("cluster", "request_timeout_ms", 500);
    cluster_ = std::make_unique<Cluster>(std::move(o));
    ASSERT_TRUE(cluster_->Start(20s)) << cluster_->last_error();
  }
  void TearDown() override {
    if (HasFailure() && cluster_) {
      for (size_t i = 0; i < cluster_->size(); ++i) {
        std::string log = cluster_->node(i).Stderr();
        if (log.size() > 2000) log = "..." + log.substr(log.size() - 2000);
        std::printf("---- node %zu stderr (tail) ----\n%s\n", i, log.c_str());
      }
    }
  }
  int port(size_t i) { return cluster_->node(i).port(); }
  std::unique_ptr<Cluster> cluster_;
};

TEST_F(PubSubCluster, PublishReachesEveryNodeExactlyOnceAndCountsLocally) {
  RawConn a(port(0)), b(port(1)), c(port(2));
  EXPECT_EQ(Cmd(b, {"SUBSCRIBE", "news"}), Ack("subscribe", "news", 1));
  EXPECT_EQ(Cmd(c, {"SUBSCRIBE", "news"}), Ack("subscribe", "news", 1));
  EXPECT_EQ(Cmd(c, {"PSUBSCRIBE", "n*"}), Ack("psubscribe", "n*", 2));
  RawConn pub(port(0));
  EXPECT_EQ(Cmd(pub, {"PUBLISH", "news", "hi"}), ":0");  // Redis Cluster: local receivers only
  EXPECT_EQ(Next(b), Msg("news", "hi"));
  EXPECT_EQ(Next(c), Msg("news", "hi"));
  EXPECT_EQ(Next(c), PMsg("n*", "news", "hi"));
  EXPECT_EQ(Next(b, 500), kNothing);  // once
  EXPECT_EQ(Next(c, 300), kNothing);
  // PUBSUB is local too.
  EXPECT_EQ(Cmd(pub, {"PUBSUB", "NUMSUB", "news"}), "*[$\"news\", :0]");
  RawConn b2(port(1));
  EXPECT_EQ(Cmd(b2, {"PUBSUB", "NUMSUB", "news"}), "*[$\"news\", :1]");
  // A local subscriber on the publishing node counts, and gets it once as well.
  EXPECT_EQ(Cmd(a, {"SUBSCRIBE", "news"}), Ack("subscribe", "news", 1));
  EXPECT_EQ(Cmd(pub, {"PUBLISH", "news", "two"}), ":1");
  EXPECT_EQ(Next(a), Msg("news", "two"));
  EXPECT_EQ(Next(b), Msg("news", "two"));
  EXPECT_EQ(Next(c), Msg("news", "two"));
  EXPECT_EQ(Next(c), PMsg("n*", "news", "two"));
  EXPECT_EQ(Next(a, 300), kNothing);
  EXPECT_EQ(Next(b, 100), kNothing);
  // Through another node, pipelined: in order, each once.
  RawConn pubc(port(2));
  std::string batch;
  constexpr int kMessages = 300;
  for (int i = 0; i < kMessages; ++i) {
    std::string m = "m" + std::to_string(i);
    batch += "*3\r\n$7\r\nPUBLISH\r\n$4\r\nnews\r\n$" + std::to_string(m.size()) + "\r\n" + m + "\r\n";
  }
  ASSERT_TRUE(pubc.Send(batch));
  for (int i = 0; i < kMessages; ++i) ASSERT_EQ(pubc.Read().Describe(), ":2") << i;  // c's two
  for (int i = 0; i < kMessages; ++i) {
    ASSERT_EQ(Next(a), Msg("news", "m" + std::to_string(i))) << i;
    ASSERT_EQ(Next(b), Msg("news", "m" + std::to_string(i))) << i;
  }
  EXPECT_EQ(Next(a, 300), kNothing);
  EXPECT_EQ(Next(b, 100), kNothing);
}

TEST_F(PubSubCluster, ShardChannelsAcrossNodes) {
  RawConn b(port(1)), c(port(2)), pub(port(0));
  EXPECT_EQ(Cmd(b, {"SSUBSCRIBE", "{u}feed"}), Ack("ssubscribe", "{u}feed", 1));
  EXPECT_EQ(Cmd(c, {"SSUBSCRIBE", "{u}feed"}), Ack("ssubscribe", "{u}feed", 1));
  EXPECT_EQ(Cmd(c, {"SUBSCRIBE", "{u}feed"}), Ack("subscribe", "{u}feed", 1));
  EXPECT_EQ(Cmd(pub, {"SPUBLISH", "{u}feed", "s"}), ":0");
  EXPECT_EQ(Next(b), SMsg("{u}feed", "s"));
  EXPECT_EQ(Next(c), SMsg("{u}feed", "s"));
  EXPECT_EQ(Next(b, 300), kNothing);
  EXPECT_EQ(Next(c, 100), kNothing);
  // PUBLISH on the same name reaches the channel subscriber only.
  EXPECT_EQ(Cmd(pub, {"PUBLISH", "{u}feed", "p"}), ":0");
  EXPECT_EQ(Next(c), Msg("{u}feed", "p"));
  EXPECT_EQ(Next(b, 300), kNothing);
  // SPUBLISH on a subscriber's own node counts it.
  RawConn pubb(port(1));
  EXPECT_EQ(Cmd(pubb, {"SPUBLISH", "{u}feed", "t"}), ":1");
  EXPECT_EQ(Next(b), SMsg("{u}feed", "t"));
  EXPECT_EQ(Next(c), SMsg("{u}feed", "t"));
}

// A message never overtakes a reply its subscriber is still owed: a RESP2 client pipelines a
// GET that must wait for replicas (two of three nodes just killed: it ends in -UNAVAILABLE
// after the request timeout) and a SUBSCRIBE; a message published meanwhile comes after both
// replies, where a RESP2 client expects it.
TEST_F(PubSubCluster, MessageWaitsBehindAPendingReply) {
  RawConn sub(port(0)), pub(port(0));
  EXPECT_EQ(Cmd(sub, {"PING"}), "+\"PONG\"");
  cluster_->node(1).Kill();
  cluster_->node(2).Kill();
  ASSERT_TRUE(sub.Send("*2\r\n$3\r\nGET\r\n$1\r\nk\r\n*2\r\n$9\r\nSUBSCRIBE\r\n$2\r\nch\r\n"));
  ASSERT_TRUE(WaitUntil([&] { return Cmd(pub, {"PUBSUB", "NUMSUB", "ch"}) == "*[$\"ch\", :1]"; }, 2s, 5ms));
  EXPECT_EQ(Cmd(pub, {"PUBLISH", "ch", "late"}), ":1");
  std::string first = Next(sub);
  EXPECT_EQ(first.rfind("-\"UNAVAILABLE", 0), 0u) << first;
  EXPECT_EQ(Next(sub), Ack("subscribe", "ch", 1));
  EXPECT_EQ(Next(sub), Msg("ch", "late"));
}

TEST_F(PubSubCluster, KilledSubscriberNodeDoesNotBreakPublishers) {
  RawConn b(port(1)), c(port(2)), pub(port(0));
  EXPECT_EQ(Cmd(b, {"SUBSCRIBE", "live"}), Ack("subscribe", "live", 1));
  EXPECT_EQ(Cmd(c, {"SUBSCRIBE", "live"}), Ack("subscribe", "live", 1));
  EXPECT_EQ(Cmd(pub, {"PUBLISH", "live", "before"}), ":0");
  EXPECT_EQ(Next(b), Msg("live", "before"));
  EXPECT_EQ(Next(c), Msg("live", "before"));
  cluster_->node(2).Kill();
  // Before, during and after failure detection (down after 1.5 s): every PUBLISH answers at
  // once and the live subscriber gets every message, in order.
  long long worst_ms = 0;
  constexpr int kMessages = 60;
  for (int i = 0; i < kMessages; ++i) {
    auto t0 = SteadyClock::now();
    ASSERT_EQ(Cmd(pub, {"PUBLISH", "live", std::to_string(i)}, 2000), ":0") << i;
    worst_ms = std::max<long long>(
        worst_ms, std::chrono::duration_cast<std::chrono::milliseconds>(SteadyClock::now() - t0).count());
    std::this_thread::sleep_for(50ms);
  }
  for (int i = 0; i < kMessages; ++i) ASSERT_EQ(Next(b), Msg("live", std::to_string(i))) << i;
  EXPECT_EQ(Next(b, 300), kNothing);
  std::printf("[pubsub] node killed: %d publishes over %d ms, slowest reply %lld ms\n", kMessages,
              kMessages * 50, worst_ms);
  EXPECT_LT(worst_ms, 1000);
}

}  // namespace
}  // namespace dynakv::itest
