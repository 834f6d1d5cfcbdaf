// tests/integration/tx_keyspace_test.cc: MULTI/EXEC/WATCH and the keyspace commands
// (RENAME, COPY, DUMP/RESTORE, OBJECT, ...) against real dynakv-server processes: one
// standalone node, and a 3-node cluster (N=3 R=2 W=2) for what crosses nodes (WATCH with a
// writer on another node, a transaction's writes read through another node).
#include <xxhash.h>

#include <atomic>
#include <thread>

#include "tests/integration/harness.h"

namespace dynakv::itest {
namespace {

using namespace std::chrono_literals;

std::string Str(const Reply& r) { return r && r->str ? std::string(r->str, r->len) : std::string("<none>"); }

class TxTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<ServerProcess>();
    ASSERT_TRUE(server_->Start()) << server_->last_error();
    c_ = server_->Connect();
    ASSERT_TRUE(c_->ok()) << c_->error();
  }
  Conn& c() { return *c_; }
  std::unique_ptr<ServerProcess> server_;
  std::unique_ptr<Conn> c_;
};

TEST_F(TxTest, QueuesRunsInOrderAndKeepsRunTimeErrorsInTheArray) {
  EXPECT_EQ(Str(c()("MULTI")), "OK");
  EXPECT_EQ(Str(c()("INCR", "a")), "QUEUED");
  EXPECT_EQ(Str(c()("SET", "b", "x")), "QUEUED");
  EXPECT_EQ(Str(c()("INCR", "b")), "QUEUED");
  EXPECT_EQ(Str(c()("GET", "a")), "QUEUED");
  Reply r = c()("EXEC");
  ASSERT_TRUE(r && r->type == REDIS_REPLY_ARRAY) << Describe(r);
  ASSERT_EQ(r->elements, 4u) << Describe(r);
  EXPECT_EQ(r->element[0]->integer, 1);
  EXPECT_EQ(std::string(r->element[1]->str), "OK");
  EXPECT_EQ(r->element[2]->type, REDIS_REPLY_ERROR);
  EXPECT_EQ(std::string(r->element[2]->str), "ERR value is not an integer or out of range");
  EXPECT_EQ(std::string(r->element[3]->str), "1");
  // An empty transaction answers an empty array.
  EXPECT_EQ(Str(c()("MULTI")), "OK");
  r = c()("EXEC");
  ASSERT_TRUE(r && r->type == REDIS_REPLY_ARRAY && r->elements == 0) << Describe(r);
}

TEST_F(TxTest, RedisErrorsForMisuseAndExecAbort) {
  EXPECT_EQ(Str(c()("EXEC")), "ERR EXEC without MULTI");
  EXPECT_EQ(Str(c()("DISCARD")), "ERR DISCARD without MULTI");
  EXPECT_EQ(Str(c()("MULTI")), "OK");
  EXPECT_EQ(Str(c()("MULTI")), "ERR MULTI calls can not be nested");
  EXPECT_EQ(Str(c()("WATCH", "x")), "ERR WATCH inside MULTI is not allowed");
  EXPECT_EQ(Str(c()("SET", "k", "1")), "QUEUED");
  EXPECT_EQ(Str(c()("NOSUCHCMD")).rfind("ERR unknown command 'NOSUCHCMD'", 0), 0u);
  EXPECT_EQ(Str(c()("EXEC")), "EXECABORT Transaction discarded because of previous errors.");
  EXPECT_EQ(c()("EXISTS", "k")->integer, 0) << "an aborted transaction ran a command";
  // A wrong arity while queuing aborts too; DISCARD drops the queue.
  EXPECT_EQ(Str(c()("MULTI")), "OK");
  EXPECT_EQ(Str(c()("SET", "k")), "ERR wrong number of arguments for 'set' command");
  EXPECT_EQ(Str(c()("EXEC")), "EXECABORT Transaction discarded because of previous errors.");
  EXPECT_EQ(Str(c()("MULTI")), "OK");
  EXPECT_EQ(Str(c()("SET", "k", "v")), "QUEUED");
  EXPECT_EQ(Str(c()("DISCARD")), "OK");
  EXPECT_EQ(c()("EXISTS", "k")->integer, 0);
  EXPECT_EQ(Str(c()("PING")), "PONG") << "DISCARD left the connection in MULTI";
  // RESET leaves the transaction too.
  EXPECT_EQ(Str(c()("MULTI")), "OK");
  EXPECT_EQ(Str(c()("SET", "k", "v")), "QUEUED");
  EXPECT_EQ(Str(c()("RESET")), "RESET");
  EXPECT_EQ(Str(c()("EXEC")), "ERR EXEC without MULTI");
  EXPECT_EQ(c()("EXISTS", "k")->integer, 0);
}

TEST_F(TxTest, WatchAbortsWhenAnotherClientWritesAndNotOtherwise) {
  auto other = server_->Connect();
  ASSERT_EQ(Str(c()("SET", "w", "1")), "OK");
  EXPECT_EQ(Str(c()("WATCH", "w", "untouched")), "OK");
  ASSERT_EQ(Str((*other)("SET", "w", "2")), "OK");
  EXPECT_EQ(Str(c()("MULTI")), "OK");
  EXPECT_EQ(Str(c()("SET", "w", "mine")), "QUEUED");
  Reply r = c()("EXEC");
  ASSERT_TRUE(r && r->type == REDIS_REPLY_NIL) << Describe(r);
  EXPECT_EQ(Str(c()("GET", "w")), "2");
  // EXEC unwatches: the next transaction runs.
  EXPECT_EQ(Str(c()("MULTI")), "OK");
  EXPECT_EQ(Str(c()("SET", "w", "mine")), "QUEUED");
  r = c()("EXEC");
  ASSERT_TRUE(r && r->type == REDIS_REPLY_ARRAY && r->elements == 1) << Describe(r);
  // A watched key that did not exist and was created and deleted in between: aborted.
  EXPECT_EQ(Str(c()("WATCH", "ghost")), "OK");
  (*other)("SET", "ghost", "x");
  (*other)("DEL", "ghost");
  EXPECT_EQ(Str(c()("MULTI")), "OK");
  EXPECT_EQ(Str(c()("SET", "ghost", "mine")), "QUEUED");
  r = c()("EXEC");
  EXPECT_TRUE(r && r->type == REDIS_REPLY_NIL) << Describe(r);
  // UNWATCH forgets; a write to another key does not abort.
  EXPECT_EQ(Str(c()("WATCH", "w")), "OK");
  EXPECT_EQ(Str(c()("UNWATCH")), "OK");
  (*other)("SET", "w", "3");
  EXPECT_EQ(Str(c()("WATCH", "w2")), "OK");
  (*other)("SET", "unrelated", "3");
  EXPECT_EQ(Str(c()("MULTI")), "OK");
  EXPECT_EQ(Str(c()("INCR", "n")), "QUEUED");
  r = c()("EXEC");
  ASSERT_TRUE(r && r->type == REDIS_REPLY_ARRAY && r->elements == 1) << Describe(r);
}

// On one node a transaction is isolated: a writer hammering the same key on another
// connection never lands between the transaction's commands.
TEST_F(TxTest, ExecIsIsolatedOnOneNode) {
  std::atomic<bool> stop{false};
  std::atomic<int> writes{0};
  int port = server_->port();
  std::thread writer([&] {
    Conn w(port);
    for (int i = 0; i < 100000 && !stop.load(); i++) {
      if (!w("SET", "iso", "0")) break;
      writes++;
    }
  });
  int rounds = 0;
  for (; rounds < 40; rounds++) {
    c().Append({"MULTI"});
    c().Append({"SET", "iso", "1"});
    for (int i = 0; i < 30; i++) c().Append({"INCR", "iso"});
    c().Append({"GET", "iso"});
    c().Append({"EXEC"});
    for (int i = 0; i < 33; i++) ASSERT_TRUE(c().Read());
    Reply r = c().Read();
    ASSERT_TRUE(r && r->type == REDIS_REPLY_ARRAY && r->elements == 32) << Describe(r);
    ASSERT_EQ(std::string(r->element[31]->str), "31") << "another client's SET ran inside EXEC (round " << rounds << ")";
  }
  stop = true;
  writer.join();
  EXPECT_GT(writes.load(), 0);
}

// Commands pipelined after EXEC run after the whole transaction.
TEST_F(TxTest, CommandsAfterExecSeeItsWrites) {
  c().Append({"MULTI"});
  for (int i = 0; i < 20; i++) c().Append({"SET", "p" + std::to_string(i), "v" + std::to_string(i)});
  c().Append({"EXEC"});
  c().Append({"MGET", "p0", "p19"});
  for (int i = 0; i < 21; i++) ASSERT_TRUE(c().Read());
  Reply exec = c().Read();
  ASSERT_TRUE(exec && exec->elements == 20) << Describe(exec);
  Reply r = c().Read();
  ASSERT_TRUE(r && r->elements == 2) << Describe(r);
  EXPECT_EQ(std::string(r->element[0]->str), "v0");
  EXPECT_EQ(std::string(r->element[1]->str), "v19");
}

TEST_F(TxTest, ExecRepliesInResp3) {
  RawConn raw(server_->port());
  ASSERT_TRUE(raw.SendCmd({"HELLO", "3"}));
  ASSERT_EQ(raw.Read().type, '%');
  ASSERT_TRUE(raw.SendCmd({"MULTI"}));
  EXPECT_EQ(raw.Read().str, "OK");
  ASSERT_TRUE(raw.SendCmd({"GET", "nokey"}));
  EXPECT_EQ(raw.Read().str, "QUEUED");
  ASSERT_TRUE(raw.SendCmd({"EXEC"}));
  RValue v = raw.Read();
  ASSERT_EQ(v.type, '*') << v.Describe();
  ASSERT_EQ(v.elems.size(), 1u);
  EXPECT_EQ(v.elems[0].type, '_') << v.Describe();
  // A WATCH abort is a RESP3 null.
  ASSERT_TRUE(raw.SendCmd({"WATCH", "r3"}));
  EXPECT_EQ(raw.Read().str, "OK");
  c()("SET", "r3", "x");
  ASSERT_TRUE(raw.SendCmd({"MULTI"}));
  raw.Read();
  ASSERT_TRUE(raw.SendCmd({"EXEC"}));
  EXPECT_EQ(raw.Read().type, '_');
}

TEST_F(TxTest, InfoTakesSeveralSectionsInRedisOrder) {
  std::string info = Str(c()("INFO", "clients", "server"));
  EXPECT_NE(info.find("# Server"), std::string::npos) << info;
  EXPECT_NE(info.find("# Clients"), std::string::npos) << info;
  EXPECT_LT(info.find("# Server"), info.find("# Clients")) << info;
  EXPECT_EQ(info.find("# Memory"), std::string::npos) << info;
  std::string all = Str(c()("INFO", "everything"));
  EXPECT_NE(all.find("# Keyspace"), std::string::npos);
  EXPECT_NE(all.find("# Dynamo"), std::string::npos);
  EXPECT_EQ(Str(c()("INFO", "nosuchsection")), "");
}

TEST_F(TxTest, RenameMovesValueAndTtl) {
  c()("SET", "src", "hello", "EX", "100");
  EXPECT_EQ(Str(c()("RENAME", "src", "dst")), "OK");
  EXPECT_EQ(c()("EXISTS", "src")->integer, 0);
  EXPECT_EQ(Str(c()("GET", "dst")), "hello");
  long long ttl = c()("TTL", "dst")->integer;
  EXPECT_TRUE(ttl >= 98 && ttl <= 100) << ttl;
  EXPECT_EQ(Str(c()("RENAME", "nosuch", "x")), "ERR no such key");
  EXPECT_EQ(Str(c()("RENAME", "dst", "dst")), "OK");
  c()("SET", "taken", "t");
  EXPECT_EQ(c()("RENAMENX", "dst", "taken")->integer, 0);
  EXPECT_EQ(Str(c()("GET", "taken")), "t");
  EXPECT_EQ(c()("RENAMENX", "dst", "free")->integer, 1);
  EXPECT_EQ(Str(c()("GET", "free")), "hello");
  // RENAME overwrites the destination, and a counter keeps its value.
  c()("INCRBY", "ctr", "41");
  EXPECT_EQ(Str(c()("RENAME", "ctr", "taken")), "OK");
  EXPECT_EQ(c()("INCR", "taken")->integer, 42);
}

TEST_F(TxTest, CopyWithAndWithoutReplace) {
  c()("SET", "a", "1");
  c()("SET", "b", "2");
  EXPECT_EQ(c()("COPY", "a", "b")->integer, 0);
  EXPECT_EQ(Str(c()("GET", "b")), "2");
  EXPECT_EQ(c()("COPY", "a", "b", "REPLACE")->integer, 1);
  EXPECT_EQ(Str(c()("GET", "b")), "1");
  EXPECT_EQ(Str(c()("GET", "a")), "1");
  EXPECT_EQ(c()("COPY", "nosuch", "c")->integer, 0);
  EXPECT_EQ(Str(c()("COPY", "a", "a")), "ERR source and destination objects are the same");
  EXPECT_EQ(Str(c()("COPY", "a", "c", "DB", "3")), "ERR DB index is out of range");
  EXPECT_EQ(Str(c()("COPY", "a", "c", "BOGUS")), "ERR syntax error");
}

TEST_F(TxTest, DumpRestoreRoundTripAndRefusals) {
  std::string blob("bin\0\r\nvalue", 11);
  c().Cmd({"SET", "d", blob});
  Reply dump = c()("DUMP", "d");
  ASSERT_TRUE(dump && dump->type == REDIS_REPLY_STRING) << Describe(dump);
  std::string payload(dump->str, dump->len);
  EXPECT_EQ(Str(c().Cmd({"RESTORE", "d2", "0", payload})), "OK");
  EXPECT_EQ(Str(c()("GET", "d2")), blob);
  EXPECT_EQ(c()("TTL", "d2")->integer, -1);
  EXPECT_EQ(Str(c().Cmd({"RESTORE", "d2", "0", payload})), "BUSYKEY Target key name already exists.");
  EXPECT_EQ(Str(c().Cmd({"RESTORE", "d2", "5000", payload, "REPLACE"})), "OK");
  long long pttl = c()("PTTL", "d2")->integer;
  EXPECT_TRUE(pttl > 4000 && pttl <= 5000) << pttl;
  // A flipped bit, a truncated payload, garbage and a huge declared value are refused.
  std::string bad = payload;
  bad[2] ^= 1;
  EXPECT_EQ(Str(c().Cmd({"RESTORE", "d3", "0", bad})), "ERR DUMP payload version or checksum are wrong");
  EXPECT_EQ(Str(c().Cmd({"RESTORE", "d3", "0", payload.substr(0, 5)})), "ERR DUMP payload version or checksum are wrong");
  EXPECT_EQ(Str(c().Cmd({"RESTORE", "d3", "0", std::string(1000, '\xff')})), "ERR DUMP payload version or checksum are wrong");
  EXPECT_EQ(Str(c().Cmd({"RESTORE", "d3", "-5", payload})), "ERR Invalid TTL value, must be >= 0");
  EXPECT_EQ(c()("EXISTS", "d3")->integer, 0);
  // ABSTTL in the past stores nothing.
  EXPECT_EQ(Str(c().Cmd({"RESTORE", "d4", "1000", payload, "ABSTTL"})), "OK");
  EXPECT_EQ(c()("EXISTS", "d4")->integer, 0);
  EXPECT_TRUE(c()("DUMP", "nosuch")->type == REDIS_REPLY_NIL);
}

// Hashes, sets and sorted sets: DUMP then RESTORE (under another name, over a string with
// REPLACE, with a TTL) gives the same collection; a payload whose checksum holds but whose
// body lies (a count past the end, an unordered element, a bad score) is refused; OBJECT and
// MEMORY USAGE answer for them.
TEST_F(TxTest, DumpRestoreObjectMemoryOfCollections) {
  c()("HSET", "h", "f1", "v1", "f2", std::string(100, 'x'));
  c()("HINCRBY", "h", "n", "5");
  c()("SADD", "s", "1", "2", "3");
  c()("SADD", "s2", "a", "b");
  c()("ZADD", "z", "1.5", "a", "-2", "b", "inf", "c");
  c()("ZINCRBY", "z", "1", "a");
  c()("SET", "str", "v");
  for (const char* k : {"h", "s", "z"}) {
    Reply dump = c()("DUMP", k);
    ASSERT_TRUE(dump && dump->type == REDIS_REPLY_STRING) << k << Describe(dump);
    std::string payload(dump->str, dump->len);
    std::string copy = std::string(k) + ":copy";
    EXPECT_EQ(Str(c().Cmd({"RESTORE", copy, "0", payload})), "OK") << k;
    EXPECT_EQ(Str(c().Cmd({"RESTORE", copy, "0", payload})), "BUSYKEY Target key name already exists.");
    EXPECT_EQ(Str(c().Cmd({"RESTORE", "str", "9000", payload, "REPLACE"})), "OK") << k;
    long long pttl = c()("PTTL", "str")->integer;
    EXPECT_TRUE(pttl > 8000 && pttl <= 9000) << k << " " << pttl;
    EXPECT_EQ(Str(c()("TYPE", "str")), Str(c()("TYPE", k)));
    // Truncated or flipped: refused, nothing written.
    std::string bad = payload;
    bad[3] ^= 1;
    EXPECT_EQ(Str(c().Cmd({"RESTORE", "nope", "0", bad})), "ERR DUMP payload version or checksum are wrong");
    EXPECT_EQ(c()("EXISTS", "nope")->integer, 0);
    c()("DEL", "str");
    c()("SET", "str", "v");
  }
  EXPECT_EQ(Str(c()("HGET", "h:copy", "f1")), "v1");
  EXPECT_EQ(Str(c()("HGET", "h:copy", "n")), "5");
  EXPECT_EQ(c()("HLEN", "h:copy")->integer, 3);
  EXPECT_EQ(c()("SCARD", "s:copy")->integer, 3);
  EXPECT_EQ(c()("SISMEMBER", "s:copy", "2")->integer, 1);
  Reply z = c()("ZRANGE", "z:copy", "0", "-1", "WITHSCORES");
  ASSERT_TRUE(z && z->type == REDIS_REPLY_ARRAY && z->elements == 6) << Describe(z);
  EXPECT_EQ(Str(c()("ZSCORE", "z:copy", "a")), "2.5");
  EXPECT_EQ(Str(c()("ZSCORE", "z:copy", "c")), "inf");
  EXPECT_EQ(c()("ZRANK", "z:copy", "b")->integer, 0);

  // A checksummed payload whose body is wrong is refused too.
  auto seal = [](std::string body) {
    body.push_back('\x01');
    body.push_back('\0');
    uint64_t h = XXH64(body.data(), body.size(), 0x64756d70646b7631ULL);
    for (int i = 0; i < 8; i++) body.push_back(char((h >> (8 * i)) & 0xff));
    return body;
  };
  const std::string kBad = "ERR DUMP payload version or checksum are wrong";
  // (The same layout, well formed, is accepted.)
  EXPECT_EQ(Str(c().Cmd({"RESTORE", "x", "0", seal(std::string("h\x01\x01" "a\x01" "b", 6))})), "OK");
  EXPECT_EQ(Str(c()("HGET", "x", "a")), "b");
  c()("DEL", "x");
  EXPECT_EQ(Str(c().Cmd({"RESTORE", "x", "0", seal(std::string("h\x05\x01" "a\x01" "b", 6))})), kBad);  // 5 declared, 1 given
  EXPECT_EQ(Str(c().Cmd({"RESTORE", "x", "0", seal(std::string("s\x02\x01" "b\x00\x01" "a\x00", 9))})), kBad);  // unordered
  EXPECT_EQ(Str(c().Cmd({"RESTORE", "x", "0", seal(std::string("z\x01\x01" "a\x03" "abc", 8))})), kBad);  // no score
  EXPECT_EQ(Str(c().Cmd({"RESTORE", "x", "0", seal(std::string("s\x01\x01" "a\x01" "v", 6))})), kBad);  // member value
  EXPECT_EQ(Str(c().Cmd({"RESTORE", "x", "0", seal(std::string("q", 1))})), kBad);  // unknown type
  EXPECT_EQ(Str(c().Cmd({"RESTORE", "x", "0", seal(std::string("h\x01\xff\xff\xff\xff\xff\xff\xff\xff\xff\x7f", 12))})), kBad);
  EXPECT_EQ(c()("EXISTS", "x")->integer, 0);

  // OBJECT ENCODING as Redis 7.0 would answer for these sizes; REFCOUNT 1; MEMORY USAGE
  // counts the elements.
  EXPECT_EQ(Str(c()("OBJECT", "ENCODING", "h")), "hashtable");  // a 100-byte value
  c()("HSET", "hs", "a", "b");
  EXPECT_EQ(Str(c()("OBJECT", "ENCODING", "hs")), "listpack");
  EXPECT_EQ(Str(c()("OBJECT", "ENCODING", "s")), "intset");
  EXPECT_EQ(Str(c()("OBJECT", "ENCODING", "s2")), "hashtable");
  EXPECT_EQ(Str(c()("OBJECT", "ENCODING", "z")), "listpack");
  EXPECT_EQ(c()("OBJECT", "REFCOUNT", "z")->integer, 1);
  EXPECT_GE(c()("OBJECT", "IDLETIME", "z")->integer, 0);
  long long small = c()("MEMORY", "USAGE", "hs")->integer;
  long long big = c()("MEMORY", "USAGE", "h")->integer;
  EXPECT_GT(small, 20);
  EXPECT_GT(big, small + 100) << "the 100-byte field value is counted";
}

TEST_F(TxTest, ObjectMemoryTouchRandomkey) {
  Reply r = c()("RANDOMKEY");
  EXPECT_EQ(r->type, REDIS_REPLY_NIL) << Describe(r);
  c()("SET", "i", "12345");
  c()("SET", "e", "short");
  c()("SET", "raw", std::string(100, 'x'));
  EXPECT_EQ(Str(c()("OBJECT", "ENCODING", "i")), "int");
  EXPECT_EQ(Str(c()("OBJECT", "ENCODING", "e")), "embstr");
  EXPECT_EQ(Str(c()("OBJECT", "ENCODING", "raw")), "raw");
  EXPECT_EQ(c()("OBJECT", "ENCODING", "nosuch")->type, REDIS_REPLY_NIL);
  EXPECT_EQ(c()("OBJECT", "REFCOUNT", "e")->integer, 1);
  EXPECT_GE(c()("OBJECT", "IDLETIME", "e")->integer, 0);
  EXPECT_EQ(Str(c()("OBJECT", "NOPE", "e")), "ERR unknown subcommand 'NOPE'. Try OBJECT HELP.");
  long long mem = c()("MEMORY", "USAGE", "raw")->integer;
  EXPECT_GT(mem, 100);
  EXPECT_LT(mem, 400);
  EXPECT_EQ(c()("MEMORY", "USAGE", "nosuch")->type, REDIS_REPLY_NIL);
  EXPECT_EQ(c()("TOUCH", "i", "e", "nosuch")->integer, 2);
  for (int i = 0; i < 10; i++) {
    std::string k = Str(c()("RANDOMKEY"));
    EXPECT_TRUE(k == "i" || k == "e" || k == "raw") << k;
  }
}

TEST_F(TxTest, WaitCountsTheLastWritesCopies) {
  auto fresh = server_->Connect();
  EXPECT_EQ((*fresh)("WAIT", "1", "0")->integer, 0) << "no write on this connection";
  c()("SET", "wk", "v");
  EXPECT_EQ(c()("WAIT", "1", "0")->integer, 1);
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(c()("WAIT", "3", "0")->integer, 1) << "a standalone node has one copy, final at once";
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 1s);
  EXPECT_EQ(Str(c()("WAIT", "1", "-1")), "ERR timeout is negative");
  EXPECT_EQ(Str(c()("WAIT", "x", "0")), "ERR value is not an integer or out of range");
}

TEST_F(TxTest, ShutdownStopsGracefullyAndKeepsTheData) {
  ASSERT_EQ(Str(c()("SET", "kept", "yes")), "OK");
  EXPECT_EQ(Str(c()("SHUTDOWN", "ABORT")), "ERR No shutdown in progress.");
  EXPECT_EQ(Str(c()("SHUTDOWN", "BOGUS")), "ERR syntax error");
  Reply r = c()("SHUTDOWN", "NOSAVE");
  EXPECT_TRUE(r == nullptr || r->type == REDIS_REPLY_NIL) << Describe(r);  // no reply: closed
  ExitInfo e = server_->Wait(10s);
  ASSERT_TRUE(e.exited) << "SHUTDOWN did not stop the server";
  EXPECT_EQ(e.code, 0);
  ASSERT_TRUE(server_->Restart()) << server_->last_error();
  auto again = server_->Connect();
  EXPECT_EQ(Str((*again)("GET", "kept")), "yes");
}

// ---- across a cluster ----------------------------------------------------------------------

class TxClusterTest : public ::testing::Test {
 protected:
  void SetUp() override { StartCluster(2); }
  void StartCluster(int w) {
    ClusterOptions o;
    o.nodes = 3;
    o.w = w;
    o.extra.SetInt("cluster", "gossip_interval_ms", 100)
        .SetInt("cluster", "suspect_after_ms", 1000)
        .SetInt("cluster", "down_after_ms", 2000)
        .SetInt("cluster", "request_timeout_ms", 1000);
    cluster_ = std::make_unique<Cluster>(std::move(o));
    ASSERT_TRUE(cluster_->Start(20s)) << cluster_->last_error();
    for (size_t i = 0; i < 3; i++) conns_.push_back(cluster_->node(i).Connect(5000));
  }
  Conn& c(size_t i) { return *conns_.at(i); }
  std::unique_ptr<Cluster> cluster_;
  std::vector<std::unique_ptr<Conn>> conns_;
};

TEST_F(TxClusterTest, WatchSeesAWriteThroughAnotherNode) {
  ASSERT_EQ(Str(c(0)("SET", "cart", "a")), "OK");
  EXPECT_EQ(Str(c(0)("WATCH", "cart")), "OK");
  ASSERT_EQ(Str(c(1)("SET", "cart", "b")), "OK");  // another coordinator, W=2
  EXPECT_EQ(Str(c(0)("MULTI")), "OK");
  EXPECT_EQ(Str(c(0)("SET", "cart", "mine")), "QUEUED");
  Reply r = c(0)("EXEC");
  ASSERT_TRUE(r && r->type == REDIS_REPLY_NIL) << Describe(r);
  EXPECT_EQ(Str(c(2)("GET", "cart")), "b");
  // Unchanged: the transaction runs, and its writes are read through the other nodes.
  EXPECT_EQ(Str(c(0)("WATCH", "cart")), "OK");
  EXPECT_EQ(Str(c(0)("MULTI")), "OK");
  EXPECT_EQ(Str(c(0)("SET", "cart", "mine")), "QUEUED");
  EXPECT_EQ(Str(c(0)("INCR", "cart:n")), "QUEUED");
  r = c(0)("EXEC");
  ASSERT_TRUE(r && r->type == REDIS_REPLY_ARRAY && r->elements == 2) << Describe(r);
  EXPECT_EQ(Str(c(1)("GET", "cart")), "mine");
  EXPECT_EQ(Str(c(2)("GET", "cart:n")), "1");
}

TEST_F(TxClusterTest, RenameAndCopyAcrossNodes) {
  ASSERT_EQ(Str(c(0)("SET", "from", "v", "EX", "200")), "OK");
  EXPECT_EQ(Str(c(1)("RENAME", "from", "to")), "OK");
  EXPECT_EQ(c(2)("EXISTS", "from")->integer, 0);
  EXPECT_EQ(Str(c(2)("GET", "to")), "v");
  long long ttl = c(0)("TTL", "to")->integer;
  EXPECT_TRUE(ttl > 190 && ttl <= 200) << ttl;
  EXPECT_EQ(c(2)("COPY", "to", "copy")->integer, 1);
  EXPECT_EQ(Str(c(0)("GET", "copy")), "v");
  Reply dump = c(1)("DUMP", "copy");
  ASSERT_TRUE(dump && dump->type == REDIS_REPLY_STRING);
  EXPECT_EQ(Str(c(2).Cmd({"RESTORE", "restored", "0", std::string(dump->str, dump->len)})), "OK");
  EXPECT_EQ(Str(c(0)("GET", "restored")), "v");
}

// A transaction whose keys share one hash slot ({hashtag}) runs as one batch on the node
// that coordinates it: a writer through another node never lands between its commands.
TEST_F(TxClusterTest, OneSlotTransactionIsIsolatedInACluster) {
  std::atomic<bool> stop{false};
  std::atomic<int> writes{0};
  int port = cluster_->node(1).port();
  std::thread writer([&] {
    Conn w(port);
    for (int i = 0; i < 100000 && !stop.load(); i++) {
      if (!w("SET", "{acct}balance", "0")) break;
      writes++;
    }
  });
  for (int round = 0; round < 30; round++) {
    c(0).Append({"MULTI"});
    c(0).Append({"SET", "{acct}balance", "1"});
    for (int i = 0; i < 20; i++) c(0).Append({"INCR", "{acct}balance"});
    c(0).Append({"SET", "{acct}log", "round" + std::to_string(round)});
    c(0).Append({"GET", "{acct}balance"});
    c(0).Append({"EXEC"});
    for (int i = 0; i < 24; i++) ASSERT_TRUE(c(0).Read());
    Reply r = c(0).Read();
    ASSERT_TRUE(r && r->type == REDIS_REPLY_ARRAY && r->elements == 23) << Describe(r);
    ASSERT_EQ(std::string(r->element[22]->str), "21") << "a write through another node landed inside EXEC";
  }
  stop = true;
  writer.join();
  EXPECT_GT(writes.load(), 0);
  // The batch reached the other replicas: read there with R=2 (and WAIT counts its copies).
  c(0)("MULTI");
  c(0)("SET", "{acct}x", "1");
  c(0)("SET", "{acct}y", "2");
  Reply r = c(0)("EXEC");
  ASSERT_TRUE(r && r->elements == 2) << Describe(r);
  EXPECT_GE(c(0)("WAIT", "3", "2000")->integer, 3);
  EXPECT_EQ(Str(c(2)("GET", "{acct}y")), "2");
  EXPECT_EQ(Str(c(1)("GET", "{acct}x")), "1");
}

// The rate-limit recipe: INCR then EXPIRE in one transaction. A counter keeps its CRDT
// form under EXPIRE/PERSIST, so increments through other nodes still add up.
TEST_F(TxClusterTest, IncrThenExpireKeepsTheCounter) {
  EXPECT_EQ(Str(c(0)("MULTI")), "OK");
  EXPECT_EQ(Str(c(0)("INCR", "rate")), "QUEUED");
  EXPECT_EQ(Str(c(0)("EXPIRE", "rate", "100")), "QUEUED");
  Reply r = c(0)("EXEC");
  ASSERT_TRUE(r && r->elements == 2) << Describe(r);
  EXPECT_EQ(r->element[0]->integer, 1);
  EXPECT_EQ(r->element[1]->integer, 1) << Describe(r);
  for (int i = 0; i < 30; i++) ASSERT_EQ(c(i % 3)("INCR", "rate")->type, REDIS_REPLY_INTEGER);
  EXPECT_EQ(Str(c(1)("GET", "rate")), "31");
  long long ttl = c(2)("TTL", "rate")->integer;
  EXPECT_TRUE(ttl > 90 && ttl <= 100) << ttl;
  EXPECT_EQ(c(1)("PERSIST", "rate")->integer, 1);
  EXPECT_EQ(c(0)("TTL", "rate")->integer, -1);
  EXPECT_EQ(c(2)("INCRBY", "rate", "9")->integer, 40);
  EXPECT_EQ(c(0)("PEXPIRE", "rate", "1")->integer, 1);
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(c(1)("EXISTS", "rate")->integer, 0);
}

// Commands pipelined after EXEC wait for the whole transaction, in a cluster too.
TEST_F(TxClusterTest, PipelinedAfterExecSeesTheTransaction) {
  for (int round = 0; round < 5; round++) {
    std::string v = "r" + std::to_string(round);
    c(0).Append({"MULTI"});
    for (int i = 0; i < 10; i++) c(0).Append({"SET", "pk" + std::to_string(i), v});
    c(0).Append({"EXEC"});
    c(0).Append({"GET", "pk9"});
    for (int i = 0; i < 11; i++) ASSERT_TRUE(c(0).Read());
    Reply exec = c(0).Read();
    ASSERT_TRUE(exec && exec->elements == 10) << Describe(exec);
    EXPECT_EQ(Str(c(0).Read()), v);
  }
}

// WAIT with W=1: the reply comes at one copy, WAIT waits for the others; with a replica
// down it answers what was reached once the request's deadline makes the count final.
class WaitClusterTest : public TxClusterTest {
 protected:
  void SetUp() override { StartCluster(1); }
};

TEST_F(WaitClusterTest, WaitsForMoreCopiesThanW) {
  for (int i = 0; i < 20; i++) {
    std::string k = "wait" + std::to_string(i);
    c(0).Append({"SET", k, "v"});
    c(0).Append({"WAIT", "3", "2000"});
    ASSERT_EQ(Str(c(0).Read()), "OK");
    Reply r = c(0).Read();
    ASSERT_TRUE(r && r->type == REDIS_REPLY_INTEGER) << Describe(r);
    EXPECT_EQ(r->integer, 3) << k;
  }
  EXPECT_GE(c(1)("WAIT", "0", "0")->integer, 0);
  // One replica down: WAIT 3 cannot be met; it answers 2 once the count is final (the
  // write's deadline, 1 s), well before its own 10 s timeout.
  cluster_->node(2).Kill();
  int checked = 0;
  for (int i = 0; i < 40 && checked < 5; i++) {
    std::string k = "down" + std::to_string(i);
    // Only keys whose preference list holds the dead node (with 3 nodes and N=3: all).
    ASSERT_EQ(Str(c(0)("SET", k, "v")), "OK");
    auto t0 = std::chrono::steady_clock::now();
    Reply r = c(0)("WAIT", "3", "10000");
    auto took = std::chrono::steady_clock::now() - t0;
    ASSERT_TRUE(r && r->type == REDIS_REPLY_INTEGER) << Describe(r);
    EXPECT_EQ(r->integer, 2) << k;
    EXPECT_LT(took, 5s);
    checked++;
  }
  EXPECT_EQ(checked, 5);
}

}  // namespace
}  // namespace dynakv::itest
