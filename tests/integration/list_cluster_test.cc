// tests/integration/list_cluster_test.cc: lists on real processes. Standalone: a blocked
// BLPOP is woken by a push on another connection, times out with nil, serves blocked clients
// in arrival order, and a blocked client that disconnects takes nothing; a pipeline's pushes
// and pops keep their order; a queue drained by many pipelined pops gives each element once.
// A pipeline's pushes run as one batch but still serve a blocked pop after each push.
// 3-node cluster (N=3 R=2 W=2): elements pushed through every node at once all survive in
// one order read through every node; a BLPOP on one node is woken by a push through another;
// pops through one node are seen by the others; a list keeps working with a node killed. The
// replies themselves are compared with redis-server's by transcript_test.sh
// (list_transcript.txt).
#include <atomic>
#include <chrono>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/harness.h"

namespace dynakv::itest {
namespace {

using namespace std::chrono_literals;

std::vector<std::string> Strings(const Reply& r) {
  std::vector<std::string> out;
  EXPECT_TRUE(r && r->type == REDIS_REPLY_ARRAY) << Describe(r);
  if (!r || r->type != REDIS_REPLY_ARRAY) return out;
  for (size_t i = 0; i < r->elements; i++) out.emplace_back(r->element[i]->str, r->element[i]->len);
  return out;
}

std::string Str(const Reply& r) {
  EXPECT_TRUE(r && r->type == REDIS_REPLY_STRING) << Describe(r);
  if (!r || r->type != REDIS_REPLY_STRING) return "";
  return std::string(r->str, r->len);
}

TEST(ListStandaloneTest, BlockingPopsWakeOnPushTimeOutAndServeInArrivalOrder) {
  ServerProcess srv;
  ASSERT_TRUE(srv.Start()) << srv.last_error();
  Conn a(srv.port()), b(srv.port()), c(srv.port());
  // Woken by a push on another connection.
  auto t0 = std::chrono::steady_clock::now();
  a.Append({"BLPOP", "q1", "q0", "5"});
  ASSERT_TRUE(a.Send());  // Append alone only buffers
  std::this_thread::sleep_for(200ms);
  ASSERT_TRUE(IsInt(b("RPUSH", "q0", "x"), 1));
  EXPECT_EQ(Strings(a.Read()), (std::vector<std::string>{"q0", "x"}));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s) << "woken by the push, not the timeout";
  EXPECT_TRUE(IsInt(b("EXISTS", "q0"), 0)) << "the popped list is gone";
  // A timeout answers a null array after about the time asked.
  t0 = std::chrono::steady_clock::now();
  Reply r = a("BLPOP", "q1", "0.3");
  ASSERT_TRUE(r && r->type == REDIS_REPLY_NIL) << Describe(r);
  auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_GE(took, 280ms);
  EXPECT_LT(took, 2s);
  // Two blocked clients: the first to block gets the first element.
  a.Append({"BRPOP", "q2", "0"});
  ASSERT_TRUE(a.Send());  // Append alone only buffers
  std::this_thread::sleep_for(100ms);
  c.Append({"BRPOP", "q2", "0"});
  ASSERT_TRUE(c.Send());  // Append alone only buffers
  std::this_thread::sleep_for(100ms);
  ASSERT_TRUE(IsInt(b("RPUSH", "q2", "first"), 1));
  EXPECT_EQ(Strings(a.Read()), (std::vector<std::string>{"q2", "first"}));
  ASSERT_TRUE(IsInt(b("RPUSH", "q2", "second"), 1));
  EXPECT_EQ(Strings(c.Read()), (std::vector<std::string>{"q2", "second"}));
  // BLMOVE woken by a push moves the element.
  a.Append({"BLMOVE", "q3", "q4", "LEFT", "RIGHT", "5"});
  ASSERT_TRUE(a.Send());  // Append alone only buffers
  std::this_thread::sleep_for(100ms);
  ASSERT_TRUE(IsInt(b("LPUSH", "q3", "m"), 1));
  EXPECT_EQ(Str(a.Read()), "m");
  EXPECT_EQ(Strings(b("LRANGE", "q4", "0", "-1")), (std::vector<std::string>{"m"}));
  // A client that disconnects while blocked takes nothing.
  {
    Conn d(srv.port());
    d.Append({"BLPOP", "q5", "0"});
    ASSERT_TRUE(d.Send());  // Append alone only buffers
    std::this_thread::sleep_for(100ms);
  }
  std::this_thread::sleep_for(100ms);
  ASSERT_TRUE(IsInt(b("RPUSH", "q5", "kept"), 1));
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(Strings(b("LRANGE", "q5", "0", "-1")), (std::vector<std::string>{"kept"}));
}

TEST(ListStandaloneTest, APipelineKeepsItsOrderAndPipelinedPopsTakeEachElementOnce) {
  ServerProcess srv;
  ASSERT_TRUE(srv.Start()) << srv.last_error();
  Conn a(srv.port());
  a.Append({"RPUSH", "p", "1"});
  a.Append({"LPOP", "p"});
  a.Append({"RPUSH", "p", "2", "3"});
  a.Append({"LPUSH", "p", "0"});
  a.Append({"LRANGE", "p", "0", "-1"});
  a.Append({"RPOP", "p"});
  a.Append({"LLEN", "p"});
  EXPECT_TRUE(IsInt(a.Read(), 1));
  EXPECT_EQ(Str(a.Read()), "1");
  EXPECT_TRUE(IsInt(a.Read(), 2));
  EXPECT_TRUE(IsInt(a.Read(), 3));
  EXPECT_EQ(Strings(a.Read()), (std::vector<std::string>{"0", "2", "3"}));
  EXPECT_EQ(Str(a.Read()), "3");
  EXPECT_TRUE(IsInt(a.Read(), 2));
  // 4 connections x 250 pipelined LPOPs drain 1000 elements: each is returned once.
  ASSERT_TRUE(IsInt(a("DEL", "p"), 1));
  for (int i = 0; i < 1000; i += 100) {
    std::vector<std::string> cmd = {"RPUSH", "work"};
    for (int j = i; j < i + 100; j++) cmd.push_back(std::to_string(j));
    ASSERT_TRUE(IsInt(a.Cmd(cmd), i + 100));
  }
  std::vector<std::unique_ptr<Conn>> conns;
  for (int k = 0; k < 4; k++) conns.push_back(std::make_unique<Conn>(srv.port()));
  for (auto& cn : conns)
    for (int i = 0; i < 250; i++) cn->Append({"LPOP", "work"});
  std::multiset<std::string> got;
  for (auto& cn : conns) {
    for (int i = 0; i < 250; i++) {
      Reply r = cn->Read();
      ASSERT_TRUE(r && r->type == REDIS_REPLY_STRING) << Describe(r);
      got.insert(std::string(r->str, r->len));
    }
  }
  EXPECT_EQ(got.size(), 1000u);
  EXPECT_EQ(std::set<std::string>(got.begin(), got.end()).size(), 1000u) << "an element was popped twice";
  EXPECT_TRUE(IsInt(a("EXISTS", "work"), 0));
}

// A pipeline's pushes and pops run as one batch (held list queues), except on a key a pop is
// blocked on: there each push must serve the blocked client before the next command runs,
// as in Redis (it serves blocked clients after every command).
TEST(ListStandaloneTest, ABlockedPopIsServedBeforeThePipelinesNextCommand) {
  ServerProcess srv;
  ASSERT_TRUE(srv.Start()) << srv.last_error();
  Conn a(srv.port()), b(srv.port());
  b.Append({"BLPOP", "bk", "0"});
  ASSERT_TRUE(b.Send());
  std::this_thread::sleep_for(200ms);
  a.Append({"LPUSH", "bk", "first"});
  a.Append({"LPUSH", "bk", "second"});
  EXPECT_TRUE(IsInt(a.Read(), 1));
  EXPECT_TRUE(IsInt(a.Read(), 1)) << "the blocked client took the first push before the second ran";
  EXPECT_EQ(Strings(b.Read()), (std::vector<std::string>{"bk", "first"}));
  EXPECT_EQ(Strings(a("LRANGE", "bk", "0", "-1")), (std::vector<std::string>{"second"}));
  // A push then a pop in one pipeline: the blocked client gets the element, the pop nothing.
  b.Append({"BLPOP", "bk2", "0"});
  ASSERT_TRUE(b.Send());
  std::this_thread::sleep_for(200ms);
  a.Append({"RPUSH", "bk2", "x"});
  a.Append({"LPOP", "bk2"});
  EXPECT_TRUE(IsInt(a.Read(), 1));
  Reply pop = a.Read();
  EXPECT_TRUE(pop && pop->type == REDIS_REPLY_NIL) << Describe(pop);
  EXPECT_EQ(Strings(b.Read()), (std::vector<std::string>{"bk2", "x"}));
  // With nobody blocked, a pipeline's pops see each other: a counted pop after the pop that
  // emptied the list answers nil (Redis), not an empty array.
  a.Append({"RPUSH", "bk3", "y"});
  a.Append({"LPOP", "bk3"});
  a.Append({"LPOP", "bk3", "1"});
  EXPECT_TRUE(IsInt(a.Read(), 1));
  EXPECT_EQ(Str(a.Read()), "y");
  pop = a.Read();
  EXPECT_TRUE(pop && pop->type == REDIS_REPLY_NIL) << Describe(pop);
}

TEST(ListStandaloneTest, WatchOnACollectionKeyIsAbortedByAPush) {
  ServerProcess srv;
  ASSERT_TRUE(srv.Start()) << srv.last_error();
  Conn a(srv.port()), b(srv.port());
  ASSERT_TRUE(IsInt(a("RPUSH", "wl", "x"), 1));
  ASSERT_TRUE(IsInt(a("HSET", "wh", "f", "1"), 1));
  // Unchanged: EXEC runs.
  Reply ok = a("WATCH", "wl", "wh");
  ASSERT_TRUE(ok && ok->type == REDIS_REPLY_STATUS) << Describe(ok) << " (WATCH takes any type, as in Redis)";
  a("MULTI");
  a("LLEN", "wl");
  Reply r = a("EXEC");
  ASSERT_TRUE(r && r->type == REDIS_REPLY_ARRAY && r->elements == 1) << Describe(r);
  // A push through another connection in between: EXEC answers null.
  a("WATCH", "wl");
  ASSERT_TRUE(IsInt(b("LPUSH", "wl", "y"), 2));
  a("MULTI");
  a("LLEN", "wl");
  r = a("EXEC");
  EXPECT_TRUE(r && r->type == REDIS_REPLY_NIL) << Describe(r);
  // So does a field added to a watched hash.
  a("WATCH", "wh");
  ASSERT_TRUE(IsInt(b("HSET", "wh", "g", "2"), 1));
  a("MULTI");
  a("HLEN", "wh");
  r = a("EXEC");
  EXPECT_TRUE(r && r->type == REDIS_REPLY_NIL) << Describe(r);
}

class ListClusterTest : public ThreeNodeTest {};

TEST_F(ListClusterTest, PushesThroughEveryNodeAtOnceAllSurviveInOneOrder) {
  StartCluster();
  // Three clients, one per node, push 40 elements each to the same 10 lists at once.
  std::vector<std::thread> ts;
  std::atomic<int> errors{0};
  for (size_t n = 0; n < 3; n++) {
    ts.emplace_back([&, n] {
      std::unique_ptr<Conn> cn = cluster_->node(n).Connect(5000);
      for (int i = 0; i < 40; i++) {
        for (int k = 0; k < 10; k++) {
          Reply r = (*cn)(i % 2 ? "RPUSH" : "LPUSH", "cl:" + std::to_string(k), std::to_string(n) + ":" + std::to_string(i));
          if (!r || r->type != REDIS_REPLY_INTEGER) errors++;
        }
      }
    });
  }
  for (auto& t : ts) t.join();
  ASSERT_EQ(errors.load(), 0);
  for (int k = 0; k < 10; k++) {
    std::string key = "cl:" + std::to_string(k);
    std::vector<std::string> first = Strings(c(0)("LRANGE", key, "0", "-1"));
    EXPECT_EQ(first.size(), 120u) << key;
    EXPECT_EQ(std::set<std::string>(first.begin(), first.end()).size(), 120u) << key;
    // Each node's own pushes keep their relative order: its LPUSHes in reverse, then (after
    // every LPUSH) its RPUSHes in order.
    for (size_t n = 0; n < 3; n++) {
      std::vector<std::string> mine;
      for (const auto& e : first)
        if (e.rfind(std::to_string(n) + ":", 0) == 0) mine.push_back(e);
      std::vector<std::string> want;
      for (int i = 38; i >= 0; i -= 2) want.push_back(std::to_string(n) + ":" + std::to_string(i));
      for (int i = 1; i < 40; i += 2) want.push_back(std::to_string(n) + ":" + std::to_string(i));
      EXPECT_EQ(mine, want) << key << " node " << n;
    }
    for (size_t r = 1; r < 3; r++) EXPECT_EQ(Strings(c(r)("LRANGE", key, "0", "-1")), first) << key << " via " << r;
    for (size_t r = 0; r < 3; r++) EXPECT_TRUE(IsInt(c(r)("LLEN", key), 120)) << key << " via " << r;
  }
}

// Commands queued behind an EXEC that finishes in a peer's callback (keys in two slots) are
// run from there, outside the client's input: they must not be held (held list queues, held
// header writes), or nothing would close them and their replies would never come.
TEST_F(ListClusterTest, CommandsAfterAnExecFinishedByAPeerAnswer) {
  StartCluster();
  std::unique_ptr<Conn> cn = cluster_->node(0).Connect(5000);
  for (int round = 0; round < 3; round++) {
    std::string r = std::to_string(round);
    cn->Append({"MULTI"});
    cn->Append({"SET", "{a}x" + r, "1"});
    cn->Append({"SET", "{b}y" + r, "1"});
    cn->Append({"EXEC"});
    cn->Append({"HSET", "qh" + r, "f", "1"});
    cn->Append({"HSET", "qh" + r, "g", "2"});
    cn->Append({"LPUSH", "ql" + r, "v"});  // last, on an idle queue: held, were it allowed
    EXPECT_TRUE(IsStatus(cn->Read(), "OK"));
    EXPECT_TRUE(IsStatus(cn->Read(), "QUEUED"));
    EXPECT_TRUE(IsStatus(cn->Read(), "QUEUED"));
    Reply exec = cn->Read();
    ASSERT_TRUE(exec && exec->type == REDIS_REPLY_ARRAY && exec->elements == 2) << Describe(exec);
    EXPECT_TRUE(IsInt(cn->Read(), 1)) << "round " << r;
    EXPECT_TRUE(IsInt(cn->Read(), 1)) << "round " << r;
    EXPECT_TRUE(IsInt(cn->Read(), 1)) << "round " << r << ": the push behind the EXEC never answered";
  }
}

TEST_F(ListClusterTest, ABlockedPopIsWokenByAPushThroughAnotherNode) {
  StartCluster();
  for (int round = 0; round < 5; round++) {
    std::string key = "bq:" + std::to_string(round);
    std::unique_ptr<Conn> waiter = cluster_->node(0).Connect(5000);
    auto t0 = std::chrono::steady_clock::now();
    waiter->Append({"BLPOP", key, "10"});
    ASSERT_TRUE(waiter->Send());  // Append alone only buffers
    std::this_thread::sleep_for(200ms);
    ASSERT_TRUE(IsInt(c(1 + round % 2)("RPUSH", key, "job" + std::to_string(round)), 1));
    EXPECT_EQ(Strings(waiter->Read()), (std::vector<std::string>{key, "job" + std::to_string(round)}));
    // Woken by the announcement, well before the once-a-second retry would find it.
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 900ms) << "round " << round;
    EXPECT_TRUE(WaitUntil([&] { return IsInt(c(2)("EXISTS", key), 0); }, 3s)) << key;
  }
}

TEST_F(ListClusterTest, PopsAreSeenEverywhereAndAListOutlivesANode) {
  StartCluster();
  ASSERT_TRUE(IsInt(c(0)("RPUSH", "pq", "a", "b", "c", "d", "e"), 5));
  EXPECT_EQ(Str(c(1)("LPOP", "pq")), "a");
  EXPECT_EQ(Str(c(2)("RPOP", "pq")), "e");
  EXPECT_EQ(Strings(c(0)("LRANGE", "pq", "0", "-1")), (std::vector<std::string>{"b", "c", "d"}));
  EXPECT_TRUE(IsInt(c(0)("LLEN", "pq"), 3));
  EXPECT_TRUE(IsInt(c(2)("LINSERT", "pq", "AFTER", "b", "b2"), 4));
  EXPECT_EQ(Strings(c(1)("LRANGE", "pq", "0", "-1")), (std::vector<std::string>{"b", "b2", "c", "d"}));
  cluster_->node(2).Kill();
  conns_[2].reset();
  ASSERT_TRUE(IsInt(c(0)("RPUSH", "pq", "f"), 5));
  EXPECT_EQ(Str(c(1)("LPOP", "pq")), "b");
  EXPECT_EQ(Strings(c(0)("LRANGE", "pq", "0", "-1")), (std::vector<std::string>{"b2", "c", "d", "f"}));
  ASSERT_TRUE(cluster_->node(2).Restart()) << cluster_->node(2).last_error();
  conns_[2] = cluster_->node(2).Connect(5000);
  EXPECT_EQ(Strings(c(2)("LRANGE", "pq", "0", "-1")), (std::vector<std::string>{"b2", "c", "d", "f"}));
}

}  // namespace
}  // namespace dynakv::itest
