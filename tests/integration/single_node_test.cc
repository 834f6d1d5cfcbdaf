// tests/integration/single_node_test.cc: one real dynakv-server (N=R=W=1) driven through
// hiredis: Redis 7 command semantics and exact reply types / error texts, expiry, pipelining,
// big and binary values, malformed input, limits (auth, maxclients, idle timeout, output
// buffer), durability across SIGTERM and SIGKILL, config errors, and the causal API
// (DGET/DPUT/DDEL, the README, "Commands").
//
// Each test starts its own server (fresh temp dir, free port) so tests are independent and
// can be run one by one with --gtest_filter.
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/harness.h"

namespace dynakv::itest {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

std::string Str(const Reply& r) { return r && r->str ? std::string(r->str, r->len) : std::string(); }
std::string Str(const redisReply* r) { return r && r->str ? std::string(r->str, r->len) : std::string(); }

#define EXPECT_ALIVE(c) EXPECT_TRUE(IsStatus((c)("PING"), "PONG")) << "connection unusable after the previous error"

class SingleNode : public ::testing::Test {
 protected:
  // Subclasses / tests can change cfg before StartServer().
  void StartServer(ServerConfig cfg = {}) {
    server_ = std::make_unique<ServerProcess>(std::move(cfg));
    ASSERT_TRUE(server_->Start()) << server_->last_error();
    conn_ = server_->Connect();
    ASSERT_TRUE(conn_->ok()) << conn_->error();
  }
  void SetUp() override {
    if (!auto_start_) return;
    StartServer();
  }
  void TearDown() override {
    // A crash after the last command would otherwise go unnoticed.
    if (server_) {
      EXPECT_TRUE(server_->Running()) << "dynakv-server is no longer running (crashed?)";
    }
    if (HasFailure() && server_) {
      std::string log = server_->Stderr();
      if (log.size() > 4000) log = "..." + log.substr(log.size() - 4000);
      std::printf("---- dynakv-server stderr (tail) ----\n%s\n", log.c_str());
    }
  }
  Conn& c() { return *conn_; }

  bool auto_start_ = true;
  std::unique_ptr<ServerProcess> server_;
  std::unique_ptr<Conn> conn_;
};

// Tests that need a non-default config start the server themselves.
class SingleNodeCustom : public SingleNode {
 protected:
  SingleNodeCustom() { auto_start_ = false; }
};

// ---- connection and basic string commands ---------------------------------------------------

TEST_F(SingleNode, PingEcho) {
  EXPECT_TRUE(IsStatus(c()("PING"), "PONG"));
  EXPECT_TRUE(IsBulk(c()("PING", "hello"), "hello"));
  EXPECT_TRUE(IsBulk(c()("ECHO", "hi there"), "hi there"));
  EXPECT_TRUE(IsBulk(c()("ECHO", ""), ""));
  EXPECT_TRUE(IsError(c()("ECHO"), "ERR wrong number of arguments for 'echo' command"));
  EXPECT_ALIVE(c());
  EXPECT_TRUE(IsError(c()("PING", "a", "b"), "ERR wrong number of arguments for 'ping' command"));
  EXPECT_ALIVE(c());
}

TEST_F(SingleNode, SetGetDelExistsType) {
  EXPECT_TRUE(IsNil(c()("GET", "k")));
  EXPECT_TRUE(IsStatus(c()("SET", "k", "v"), "OK"));
  EXPECT_TRUE(IsBulk(c()("GET", "k"), "v"));
  EXPECT_TRUE(IsStatus(c()("SET", "k", "v2"), "OK"));
  EXPECT_TRUE(IsBulk(c()("GET", "k"), "v2"));
  EXPECT_TRUE(IsStatus(c()("TYPE", "k"), "string"));
  EXPECT_TRUE(IsStatus(c()("TYPE", "nokey"), "none"));
  EXPECT_TRUE(IsStatus(c()("SET", "k2", "x"), "OK"));
  EXPECT_TRUE(IsInt(c()("EXISTS", "k"), 1));
  EXPECT_TRUE(IsInt(c()("EXISTS", "k", "k2", "nokey"), 2));
  EXPECT_TRUE(IsInt(c()("EXISTS", "k", "k"), 2)) << "Redis counts a repeated key twice";
  EXPECT_TRUE(IsInt(c()("DEL", "k", "k2", "nokey"), 2));
  EXPECT_TRUE(IsInt(c()("DEL", "k"), 0));
  EXPECT_TRUE(IsNil(c()("GET", "k")));
  EXPECT_TRUE(IsInt(c()("EXISTS", "k", "k2"), 0));
  EXPECT_TRUE(IsStatus(c()("TYPE", "k"), "none"));
  // A deleted key can be written again.
  EXPECT_TRUE(IsStatus(c()("SET", "k", "again"), "OK"));
  EXPECT_TRUE(IsBulk(c()("GET", "k"), "again"));
  EXPECT_TRUE(IsInt(c()("UNLINK", "k"), 1));
  EXPECT_TRUE(IsNil(c()("GET", "k")));
}

TEST_F(SingleNode, SetOptions) {
  EXPECT_TRUE(IsNil(c()("SET", "k", "v", "XX")));
  EXPECT_TRUE(IsNil(c()("GET", "k")));
  EXPECT_TRUE(IsStatus(c()("SET", "k", "v", "NX"), "OK"));
  EXPECT_TRUE(IsNil(c()("SET", "k", "w", "NX")));
  EXPECT_TRUE(IsBulk(c()("GET", "k"), "v"));
  EXPECT_TRUE(IsStatus(c()("SET", "k", "w", "XX"), "OK"));
  EXPECT_TRUE(IsBulk(c()("SET", "k", "x", "GET"), "w"));
  EXPECT_TRUE(IsNil(c()("SET", "fresh", "x", "GET")));
  EXPECT_TRUE(IsBulk(c()("GET", "k"), "x"));
  EXPECT_TRUE(IsStatus(c()("SET", "k", "y", "EX", "100"), "OK"));
  Reply ttl = c()("TTL", "k");
  ASSERT_TRUE(ttl && ttl->type == REDIS_REPLY_INTEGER) << Describe(ttl);
  EXPECT_GE(ttl->integer, 99);
  EXPECT_LE(ttl->integer, 100);
  EXPECT_TRUE(IsStatus(c()("SET", "k", "z", "KEEPTTL"), "OK"));
  ttl = c()("TTL", "k");
  ASSERT_TRUE(ttl && ttl->type == REDIS_REPLY_INTEGER) << Describe(ttl);
  EXPECT_GE(ttl->integer, 98) << "KEEPTTL must keep the TTL";
  EXPECT_TRUE(IsStatus(c()("SET", "k", "z"), "OK"));
  EXPECT_TRUE(IsInt(c()("TTL", "k"), -1)) << "a plain SET clears the TTL";

  EXPECT_TRUE(IsError(c()("SET", "k", "v", "EX", "0"), "ERR invalid expire time in 'set' command"));
  EXPECT_ALIVE(c());
  EXPECT_TRUE(IsError(c()("SET", "k", "v", "EX", "abc"), "ERR value is not an integer or out of range"));
  EXPECT_ALIVE(c());
  EXPECT_TRUE(IsError(c()("SET", "k", "v", "BOGUS"), "ERR syntax error"));
  EXPECT_ALIVE(c());
  EXPECT_TRUE(IsError(c()("SET", "k", "v", "NX", "XX"), "ERR syntax error"));
  EXPECT_ALIVE(c());
  EXPECT_TRUE(IsError(c()("SET", "k", "v", "EX", "10", "PX", "100"), "ERR syntax error"));
  EXPECT_ALIVE(c());
  EXPECT_TRUE(IsBulk(c()("GET", "k"), "z")) << "failed SETs must not change the key";
}

TEST_F(SingleNode, AppendStrlenGetrangeSetrange) {
  EXPECT_TRUE(IsInt(c()("APPEND", "k", "Hello"), 5));
  EXPECT_TRUE(IsInt(c()("APPEND", "k", " World"), 11));
  EXPECT_TRUE(IsBulk(c()("GET", "k"), "Hello World"));
  EXPECT_TRUE(IsInt(c()("STRLEN", "k"), 11));
  EXPECT_TRUE(IsInt(c()("STRLEN", "nokey"), 0));

  EXPECT_TRUE(IsStatus(c()("SET", "s", "This is a string"), "OK"));
  EXPECT_TRUE(IsBulk(c()("GETRANGE", "s", "0", "3"), "This"));
  EXPECT_TRUE(IsBulk(c()("GETRANGE", "s", "-3", "-1"), "ing"));
  EXPECT_TRUE(IsBulk(c()("GETRANGE", "s", "0", "-1"), "This is a string"));
  EXPECT_TRUE(IsBulk(c()("GETRANGE", "s", "10", "100"), "string"));
  EXPECT_TRUE(IsBulk(c()("GETRANGE", "s", "5", "2"), ""));
  EXPECT_TRUE(IsBulk(c()("GETRANGE", "nokey", "0", "-1"), ""));
  EXPECT_TRUE(IsError(c()("GETRANGE", "s", "a", "1"), "ERR value is not an integer or out of range"));
  EXPECT_ALIVE(c());

  EXPECT_TRUE(IsInt(c()("SETRANGE", "k", "6", "Redis"), 11));
  EXPECT_TRUE(IsBulk(c()("GET", "k"), "Hello Redis"));
  EXPECT_TRUE(IsInt(c()("SETRANGE", "pad", "5", "Redis"), 10));
  EXPECT_TRUE(IsBulk(c()("GET", "pad"), std::string("\0\0\0\0\0Redis", 10)));
  EXPECT_TRUE(IsInt(c()("SETRANGE", "k", "0", ""), 11));
  EXPECT_TRUE(IsError(c()("SETRANGE", "k", "-1", "x"), "ERR offset is out of range"));
  EXPECT_ALIVE(c());
}

TEST_F(SingleNode, IncrFamily) {
  EXPECT_TRUE(IsInt(c()("INCR", "n"), 1));
  EXPECT_TRUE(IsInt(c()("INCRBY", "n", "10"), 11));
  EXPECT_TRUE(IsInt(c()("DECR", "n"), 10));
  EXPECT_TRUE(IsInt(c()("DECRBY", "n", "15"), -5));
  EXPECT_TRUE(IsBulk(c()("GET", "n"), "-5"));
  EXPECT_TRUE(IsStatus(c()("TYPE", "n"), "string"));

  // INCR on a plain string that holds an integer.
  EXPECT_TRUE(IsStatus(c()("SET", "p", "10"), "OK"));
  EXPECT_TRUE(IsInt(c()("INCR", "p"), 11));
  EXPECT_TRUE(IsBulk(c()("GET", "p"), "11"));
  // SET after INCR replaces the counter.
  EXPECT_TRUE(IsStatus(c()("SET", "n", "100"), "OK"));
  EXPECT_TRUE(IsInt(c()("INCR", "n"), 101));

  EXPECT_TRUE(IsStatus(c()("SET", "s", "abc"), "OK"));
  EXPECT_TRUE(IsError(c()("INCR", "s"), "ERR value is not an integer or out of range"));
  EXPECT_ALIVE(c());
  EXPECT_TRUE(IsBulk(c()("GET", "s"), "abc"));
  EXPECT_TRUE(IsError(c()("INCRBY", "n", "x"), "ERR value is not an integer or out of range"));
  EXPECT_ALIVE(c());
  EXPECT_TRUE(IsError(c()("INCRBY", "n", "1.5"), "ERR value is not an integer or out of range"));
  EXPECT_ALIVE(c());
  // The stored value must be an integer in Redis's own syntax too (no leading zeros, no '+').
  EXPECT_TRUE(IsStatus(c()("SET", "z", "007"), "OK"));
  EXPECT_TRUE(IsError(c()("INCR", "z"), "ERR value is not an integer or out of range"));
  EXPECT_TRUE(IsError(c()("INCRBY", "n", "-0"), "ERR value is not an integer or out of range"));
  EXPECT_TRUE(IsStatus(c()("SET", "max", "9223372036854775807"), "OK"));
  EXPECT_TRUE(IsError(c()("INCR", "max"), "ERR increment or decrement would overflow"));
  EXPECT_ALIVE(c());
  EXPECT_TRUE(IsBulk(c()("GET", "max"), "9223372036854775807"));

  // INCRBYFLOAT (examples from the Redis documentation).
  EXPECT_TRUE(IsStatus(c()("SET", "f", "10.50"), "OK"));
  EXPECT_TRUE(IsBulk(c()("INCRBYFLOAT", "f", "0.1"), "10.6"));
  EXPECT_TRUE(IsBulk(c()("INCRBYFLOAT", "f", "-5"), "5.6"));
  EXPECT_TRUE(IsStatus(c()("SET", "f", "5.0e3"), "OK"));
  EXPECT_TRUE(IsBulk(c()("INCRBYFLOAT", "f", "2.0e2"), "5200"));
  EXPECT_TRUE(IsBulk(c()("INCRBYFLOAT", "newf", "1.5"), "1.5"));
  EXPECT_TRUE(IsError(c()("INCRBYFLOAT", "s", "1"), "ERR value is not a valid float"));
  EXPECT_ALIVE(c());
  EXPECT_TRUE(IsError(c()("INCRBYFLOAT", "f", "abc"), "ERR value is not a valid float"));
  EXPECT_ALIVE(c());
}

TEST_F(SingleNode, MultiKeyAndGetVariants) {
  EXPECT_TRUE(IsStatus(c()("MSET", "a", "1", "b", "2"), "OK"));
  Reply r = c()("MGET", "a", "b", "nokey");
  ASSERT_TRUE(IsArray(r, 3));
  EXPECT_EQ(Str(r->element[0]), "1");
  EXPECT_EQ(Str(r->element[1]), "2");
  EXPECT_EQ(r->element[2]->type, REDIS_REPLY_NIL) << Describe(r);
  EXPECT_TRUE(IsError(c()("MSET", "a", "1", "b"), "ERR wrong number of arguments for 'mset' command"));
  EXPECT_ALIVE(c());
  EXPECT_TRUE(IsInt(c()("MSETNX", "a", "9", "c", "3"), 0));
  EXPECT_TRUE(IsNil(c()("GET", "c"))) << "MSETNX is all or nothing";
  EXPECT_TRUE(IsBulk(c()("GET", "a"), "1"));
  EXPECT_TRUE(IsInt(c()("MSETNX", "c", "3", "d", "4"), 1));
  EXPECT_TRUE(IsBulkArray(c()("MGET", "c", "d"), {"3", "4"}));

  EXPECT_TRUE(IsInt(c()("SETNX", "e", "5"), 1));
  EXPECT_TRUE(IsInt(c()("SETNX", "e", "6"), 0));
  EXPECT_TRUE(IsBulk(c()("GET", "e"), "5"));

  EXPECT_TRUE(IsBulk(c()("GETSET", "e", "7"), "5"));
  EXPECT_TRUE(IsBulk(c()("GET", "e"), "7"));
  EXPECT_TRUE(IsNil(c()("GETSET", "f", "1")));
  EXPECT_TRUE(IsBulk(c()("GET", "f"), "1"));

  EXPECT_TRUE(IsBulk(c()("GETDEL", "e"), "7"));
  EXPECT_TRUE(IsNil(c()("GETDEL", "e")));
  EXPECT_TRUE(IsNil(c()("GET", "e")));

  EXPECT_TRUE(IsBulk(c()("GETEX", "f"), "1"));
  EXPECT_TRUE(IsInt(c()("TTL", "f"), -1));
  EXPECT_TRUE(IsBulk(c()("GETEX", "f", "EX", "100"), "1"));
  Reply ttl = c()("TTL", "f");
  ASSERT_TRUE(ttl && ttl->type == REDIS_REPLY_INTEGER) << Describe(ttl);
  EXPECT_GE(ttl->integer, 99);
  EXPECT_LE(ttl->integer, 100);
  EXPECT_TRUE(IsBulk(c()("GETEX", "f", "PERSIST"), "1"));
  EXPECT_TRUE(IsInt(c()("TTL", "f"), -1));
  EXPECT_TRUE(IsNil(c()("GETEX", "nokey", "EX", "10")));
  EXPECT_TRUE(IsError(c()("GETEX", "f", "BOGUS"), "ERR syntax error"));
  EXPECT_ALIVE(c());
  EXPECT_TRUE(IsError(c()("GETEX", "f", "EX", "0"), "ERR invalid expire time in 'getex' command"));
  EXPECT_ALIVE(c());
}

TEST_F(SingleNode, ExpireFamily) {
  EXPECT_TRUE(IsInt(c()("EXPIRE", "nokey", "100"), 0));
  EXPECT_TRUE(IsInt(c()("TTL", "nokey"), -2));
  EXPECT_TRUE(IsInt(c()("PTTL", "nokey"), -2));
  EXPECT_TRUE(IsInt(c()("EXPIRETIME", "nokey"), -2));
  EXPECT_TRUE(IsStatus(c()("SET", "k", "v"), "OK"));
  EXPECT_TRUE(IsInt(c()("TTL", "k"), -1));
  EXPECT_TRUE(IsInt(c()("PTTL", "k"), -1));
  EXPECT_TRUE(IsInt(c()("EXPIRETIME", "k"), -1));

  int64_t now_s = std::chrono::duration_cast<std::chrono::seconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count();
  EXPECT_TRUE(IsInt(c()("EXPIRE", "k", "100"), 1));
  Reply r = c()("TTL", "k");
  ASSERT_TRUE(r && r->type == REDIS_REPLY_INTEGER) << Describe(r);
  EXPECT_GE(r->integer, 99);
  EXPECT_LE(r->integer, 100);
  r = c()("PTTL", "k");
  ASSERT_TRUE(r && r->type == REDIS_REPLY_INTEGER) << Describe(r);
  EXPECT_GT(r->integer, 98000);
  EXPECT_LE(r->integer, 100000);
  r = c()("EXPIRETIME", "k");
  ASSERT_TRUE(r && r->type == REDIS_REPLY_INTEGER) << Describe(r);
  EXPECT_NEAR(double(r->integer), double(now_s + 100), 3.0);
  r = c()("PEXPIRETIME", "k");
  ASSERT_TRUE(r && r->type == REDIS_REPLY_INTEGER) << Describe(r);
  EXPECT_NEAR(double(r->integer), double(now_s + 100) * 1000, 3000.0);
  EXPECT_TRUE(IsBulk(c()("GET", "k"), "v")) << "EXPIRE keeps the value";

  // NX / XX / GT / LT
  EXPECT_TRUE(IsInt(c()("EXPIRE", "k", "200", "NX"), 0));
  EXPECT_TRUE(IsInt(c()("EXPIRE", "k", "200", "XX"), 1));
  EXPECT_TRUE(IsInt(c()("EXPIRE", "k", "100", "GT"), 0));
  EXPECT_TRUE(IsInt(c()("EXPIRE", "k", "100", "LT"), 1));
  r = c()("TTL", "k");
  ASSERT_TRUE(r && r->type == REDIS_REPLY_INTEGER) << Describe(r);
  EXPECT_LE(r->integer, 100);

  EXPECT_TRUE(IsInt(c()("PEXPIRE", "k", "5000"), 1));
  r = c()("TTL", "k");
  ASSERT_TRUE(r && r->type == REDIS_REPLY_INTEGER) << Describe(r);
  EXPECT_GE(r->integer, 4);
  EXPECT_LE(r->integer, 5);

  EXPECT_TRUE(IsInt(c()("PERSIST", "k"), 1));
  EXPECT_TRUE(IsInt(c()("TTL", "k"), -1));
  EXPECT_TRUE(IsInt(c()("PERSIST", "k"), 0));
  EXPECT_TRUE(IsInt(c()("PERSIST", "nokey"), 0));

  EXPECT_TRUE(IsInt(c()("EXPIREAT", "k", std::to_string(now_s + 1000)), 1));
  r = c()("TTL", "k");
  ASSERT_TRUE(r && r->type == REDIS_REPLY_INTEGER) << Describe(r);
  EXPECT_NEAR(double(r->integer), 1000.0, 3.0);
  EXPECT_TRUE(IsInt(c()("PEXPIREAT", "k", std::to_string((now_s + 2000) * 1000)), 1));
  r = c()("EXPIRETIME", "k");
  EXPECT_TRUE(IsInt(r, now_s + 2000));

  // A time in the past deletes the key.
  EXPECT_TRUE(IsInt(c()("EXPIREAT", "k", std::to_string(now_s - 10)), 1));
  EXPECT_TRUE(IsNil(c()("GET", "k")));
  EXPECT_TRUE(IsInt(c()("EXISTS", "k"), 0));

  EXPECT_TRUE(IsError(c()("EXPIRE", "k", "abc"), "ERR value is not an integer or out of range"));
  EXPECT_ALIVE(c());
  EXPECT_TRUE(IsError(c()("EXPIRE", "k"), "ERR wrong number of arguments for 'expire' command"));
  EXPECT_ALIVE(c());
}

TEST_F(SingleNode, KeysReallyExpire) {
  EXPECT_TRUE(IsStatus(c()("SET", "k", "v", "PX", "100"), "OK"));
  EXPECT_TRUE(IsStatus(c()("PSETEX", "k2", "100", "v"), "OK"));
  EXPECT_TRUE(IsStatus(c()("SET", "k3", "v"), "OK"));
  EXPECT_TRUE(IsInt(c()("PEXPIRE", "k3", "100"), 1));
  EXPECT_TRUE(IsStatus(c()("SET", "keep", "v"), "OK"));
  EXPECT_TRUE(IsBulk(c()("GET", "k"), "v"));
  std::this_thread::sleep_for(250ms);
  for (const char* k : {"k", "k2", "k3"}) {
    EXPECT_TRUE(IsNil(c()("GET", k))) << k;
    EXPECT_TRUE(IsInt(c()("EXISTS", k), 0)) << k;
    EXPECT_TRUE(IsInt(c()("TTL", k), -2)) << k;
  }
  EXPECT_TRUE(IsBulk(c()("GET", "keep"), "v"));
  Reply keys = c()("KEYS", "*");
  EXPECT_TRUE(IsBulkArray(keys, {"keep"})) << "expired keys must not be listed";
  // The background reaper drops them (like Redis's active expiry): DBSIZE falls to 1.
  bool reaped = false;
  for (int i = 0; i < 60 && !reaped; i++) {
    Reply d = c()("DBSIZE");
    reaped = d && d->type == REDIS_REPLY_INTEGER && d->integer == 1;
    if (!reaped) std::this_thread::sleep_for(50ms);
  }
  EXPECT_TRUE(reaped) << "expired keys still counted by DBSIZE after 3 s";
  // SETEX in seconds and an expired key that is written again lives on.
  EXPECT_TRUE(IsStatus(c()("SETEX", "k", "100", "back"), "OK"));
  EXPECT_TRUE(IsBulk(c()("GET", "k"), "back"));
  EXPECT_TRUE(IsError(c()("SETEX", "k", "0", "x"), "ERR invalid expire time in 'setex' command"));
  EXPECT_ALIVE(c());
}

// The reaper sleeps once a full pass met nothing that can expire; a key written with a TTL
// afterwards must wake it, and be dropped once expired.
TEST_F(SingleNode, ReaperWakesForTtlWrittenAfterAnIdlePass) {
  for (int i = 0; i < 50; i++) ASSERT_TRUE(IsStatus(c()("SET", "plain:" + std::to_string(i), "v"), "OK"));
  std::this_thread::sleep_for(600ms);  // several 100 ms reaper ticks: a full pass, then idle
  ASSERT_TRUE(IsStatus(c()("SET", "short", "v", "PX", "100"), "OK"));
  EXPECT_TRUE(IsInt(c()("DBSIZE"), 51));
  bool reaped = false;
  for (int i = 0; i < 60 && !reaped; i++) {
    std::this_thread::sleep_for(50ms);
    Reply d = c()("DBSIZE");
    reaped = d && d->type == REDIS_REPLY_INTEGER && d->integer == 50;
  }
  EXPECT_TRUE(reaped) << "a TTL written after an idle reaper pass was never reaped";
  EXPECT_NE(Str(c()("INFO", "stats")).find("expired_keys:1\r\n"), std::string::npos);
}

// CVE-2022-36021's pattern with a 40-byte key present froze the node (the recursive glob
// matcher took minutes); KEYS and SCAN MATCH now answer it at once, and a second client is
// served meanwhile.
TEST_F(SingleNode, PathologicalGlobDoesNotStallTheNode) {
  ASSERT_TRUE(IsStatus(c()("SET", std::string(40, 'a'), "v"), "OK"));
  std::string pat;
  for (int i = 0; i < 20; i++) pat += "a*";
  pat += "b";
  auto t0 = std::chrono::steady_clock::now();
  Reply keys = c()("KEYS", pat);
  ASSERT_TRUE(keys && keys->type == REDIS_REPLY_ARRAY) << Describe(keys);
  EXPECT_EQ(keys->elements, 0u);
  Reply scan = c()("SCAN", "0", "MATCH", pat, "COUNT", "1000");
  ASSERT_TRUE(scan && scan->type == REDIS_REPLY_ARRAY && scan->elements == 2) << Describe(scan);
  EXPECT_EQ(scan->element[1]->elements, 0u);
  auto other = server_->Connect();
  EXPECT_TRUE(IsStatus((*other)("PING"), "PONG"));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
}

// A key's partition is its Redis Cluster hash slot (Redis's documented examples).
TEST_F(SingleNode, ClusterKeyslotIsTheRedisHashSlot) {
  EXPECT_TRUE(IsInt(c()("CLUSTER", "KEYSLOT", "somekey"), 11058));
  EXPECT_TRUE(IsInt(c()("CLUSTER", "KEYSLOT", "foo{hash_tag}"), 2515));
  EXPECT_TRUE(IsInt(c()("CLUSTER", "KEYSLOT", "{hash_tag}bar"), 2515));
  // Without cluster.redis_cluster_api the rest answers as a standalone Redis does.
  EXPECT_TRUE(IsError(c()("CLUSTER", "NODES"), "ERR This instance has cluster support disabled"));
  EXPECT_TRUE(IsError(c()("CLUSTER", "SLOTS"), "ERR This instance has cluster support disabled"));
  EXPECT_TRUE(IsError(c()("READONLY"), "ERR This instance has cluster support disabled"));
  EXPECT_TRUE(IsError(c()("ASKING"), "ERR This instance has cluster support disabled"));
  EXPECT_TRUE(IsError(c()("CLUSTER", "NOPE"), "ERR unknown subcommand 'NOPE'. Try CLUSTER HELP."));
  EXPECT_TRUE(IsError(c()("CLUSTER", "KEYSLOT"), "ERR wrong number of arguments for 'cluster|keyslot' command"));
  Reply inf = c()("INFO", "cluster");
  ASSERT_TRUE(inf && inf->type == REDIS_REPLY_STRING) << Describe(inf);
  EXPECT_EQ(std::string(inf->str, inf->len), "# Cluster\r\ncluster_enabled:0\r\n");
}

TEST_F(SingleNode, KeysScanDbsizeFlushall) {
  std::set<std::string> want;
  for (int i = 0; i < 300; i++) {
    std::string k = "scan:" + std::to_string(i);
    c().Append({"SET", k, "v"});
    want.insert(k);
  }
  for (int i = 0; i < 25; i++) c().Append({"SET", "other:" + std::to_string(i), "v"});
  for (int i = 0; i < 325; i++) ASSERT_TRUE(IsStatus(c().Read(), "OK"));

  EXPECT_TRUE(IsInt(c()("DBSIZE"), 325));
  Reply keys = c()("KEYS", "scan:1?");
  ASSERT_TRUE(keys && keys->type == REDIS_REPLY_ARRAY) << Describe(keys);
  EXPECT_EQ(keys->elements, 10u);  // scan:10 .. scan:19
  keys = c()("KEYS", "*");
  ASSERT_TRUE(keys && keys->type == REDIS_REPLY_ARRAY) << Describe(keys);
  EXPECT_EQ(keys->elements, 325u);

  // SCAN with MATCH + COUNT, iterated until the cursor comes back as "0".
  std::set<std::string> got;
  std::string cursor = "0";
  int calls = 0;
  do {
    Reply r = c()("SCAN", cursor, "MATCH", "scan:*", "COUNT", "17");
    ASSERT_TRUE(IsArray(r, 2));
    ASSERT_EQ(r->element[0]->type, REDIS_REPLY_STRING) << "the cursor is a bulk string: " << Describe(r);
    ASSERT_EQ(r->element[1]->type, REDIS_REPLY_ARRAY) << Describe(r);
    cursor = Str(r->element[0]);
    for (size_t i = 0; i < r->element[1]->elements; i++) {
      std::string k = Str(r->element[1]->element[i]);
      EXPECT_EQ(k.rfind("scan:", 0), 0u) << "MATCH not applied: " << k;
      got.insert(k);
    }
    ASSERT_LT(++calls, 2000) << "SCAN never returned cursor 0";
  } while (cursor != "0");
  EXPECT_EQ(got, want);
  EXPECT_GT(calls, 1) << "COUNT 17 over 325 keys should take several calls";

  // Plain SCAN without options also terminates and sees everything.
  got.clear();
  cursor = "0";
  calls = 0;
  do {
    Reply r = c()("SCAN", cursor);
    ASSERT_TRUE(IsArray(r, 2));
    cursor = Str(r->element[0]);
    for (size_t i = 0; i < r->element[1]->elements; i++) got.insert(Str(r->element[1]->element[i]));
    ASSERT_LT(++calls, 2000);
  } while (cursor != "0");
  EXPECT_EQ(got.size(), 325u);

  EXPECT_TRUE(IsError(c()("SCAN", "abc"), "ERR invalid cursor"));
  EXPECT_ALIVE(c());
  EXPECT_TRUE(IsError(c()("SCAN", "0", "COUNT", "x"), "ERR value is not an integer or out of range"));
  EXPECT_ALIVE(c());
  EXPECT_TRUE(IsError(c()("SCAN", "0", "BOGUS"), "ERR syntax error"));
  EXPECT_ALIVE(c());

  EXPECT_TRUE(IsStatus(c()("FLUSHALL"), "OK"));
  EXPECT_TRUE(IsInt(c()("DBSIZE"), 0));
  EXPECT_TRUE(IsArray(c()("KEYS", "*"), 0));
  EXPECT_TRUE(IsNil(c()("GET", "scan:1")));
  Reply r = c()("SCAN", "0");
  ASSERT_TRUE(IsArray(r, 2));
  EXPECT_EQ(Str(r->element[0]), "0");
  EXPECT_EQ(r->element[1]->elements, 0u);
  // Usable after FLUSHALL.
  EXPECT_TRUE(IsStatus(c()("SET", "k", "v"), "OK"));
  EXPECT_TRUE(IsBulk(c()("GET", "k"), "v"));
  EXPECT_TRUE(IsInt(c()("DBSIZE"), 1));
  EXPECT_TRUE(IsStatus(c()("FLUSHDB"), "OK"));
  EXPECT_TRUE(IsInt(c()("DBSIZE"), 0));
}

TEST_F(SingleNode, DbsizeExcludesDeletedKeys) {
  for (int i = 0; i < 10; i++) ASSERT_TRUE(IsStatus(c()("SET", "k" + std::to_string(i), "v"), "OK"));
  EXPECT_TRUE(IsInt(c()("DBSIZE"), 10));
  EXPECT_TRUE(IsInt(c()("DEL", "k0", "k1"), 2));
  EXPECT_TRUE(IsBulk(c()("GETDEL", "k2"), "v"));
  EXPECT_TRUE(IsInt(c()("DBSIZE"), 7)) << "Redis's DBSIZE does not count deleted keys";
  Reply info = c()("INFO", "keyspace");
  EXPECT_NE(Str(info).find("db0:keys=7,"), std::string::npos) << Str(info);
  // Writing a deleted key again counts it once.
  ASSERT_TRUE(IsStatus(c()("SET", "k0", "again"), "OK"));
  EXPECT_TRUE(IsInt(c()("DBSIZE"), 8));
}

TEST_F(SingleNode, Select) {
  EXPECT_TRUE(IsStatus(c()("SELECT", "0"), "OK"));
  EXPECT_TRUE(IsError(c()("SELECT", "1"), "ERR DB index is out of range"));
  EXPECT_ALIVE(c());
  EXPECT_TRUE(IsError(c()("SELECT", "abc"), "ERR value is not an integer or out of range"));
  EXPECT_ALIVE(c());
}

TEST_F(SingleNode, ClientCommands) {
  EXPECT_TRUE(IsNil(c()("CLIENT", "GETNAME")));
  EXPECT_TRUE(IsStatus(c()("CLIENT", "SETNAME", "itest-a"), "OK"));
  EXPECT_TRUE(IsBulk(c()("CLIENT", "GETNAME"), "itest-a"));
  EXPECT_TRUE(IsError(c()("CLIENT", "SETNAME", "has space"),
                      "ERR Client names cannot contain spaces, newlines or special characters."));
  EXPECT_ALIVE(c());
  Reply id1 = c()("CLIENT", "ID");
  ASSERT_TRUE(id1 && id1->type == REDIS_REPLY_INTEGER) << Describe(id1);
  EXPECT_GT(id1->integer, 0);
  EXPECT_TRUE(IsInt(c()("CLIENT", "ID"), id1->integer)) << "stable for a connection";

  auto other = server_->Connect();
  ASSERT_TRUE(other->ok());
  Reply id2 = (*other)("CLIENT", "ID");
  ASSERT_TRUE(id2 && id2->type == REDIS_REPLY_INTEGER) << Describe(id2);
  EXPECT_NE(id2->integer, id1->integer);
  EXPECT_TRUE(IsStatus((*other)("CLIENT", "SETNAME", "itest-b"), "OK"));

  Reply list = c()("CLIENT", "LIST");
  ASSERT_TRUE(list && list->type == REDIS_REPLY_STRING) << "CLIENT LIST is a bulk string in RESP2: " << Describe(list);
  std::string text = Str(list);
  EXPECT_NE(text.find("id=" + std::to_string(id1->integer) + " "), std::string::npos) << text;
  EXPECT_NE(text.find("id=" + std::to_string(id2->integer) + " "), std::string::npos) << text;
  EXPECT_NE(text.find("name=itest-a "), std::string::npos) << text;
  EXPECT_NE(text.find("name=itest-b "), std::string::npos) << text;
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 2) << "one line per client: " << text;
  EXPECT_NE(text.find("addr=127.0.0.1:"), std::string::npos) << text;
  EXPECT_NE(text.find("cmd=client"), std::string::npos) << text;

  EXPECT_TRUE(IsErrorPrefix(c()("CLIENT", "BOGUS"), "ERR unknown subcommand"));
  EXPECT_ALIVE(c());
}

TEST_F(SingleNode, Hello3ReturnsResp3Map) {
  RawConn raw(server_->port());
  ASSERT_TRUE(raw.ok());
  ASSERT_TRUE(raw.SendCmd({"HELLO", "3"}));
  RValue hello = raw.Read();
  ASSERT_EQ(hello.type, '%') << "HELLO 3 must answer with a RESP3 map: " << hello.Describe();
  ASSERT_NE(hello.Get("server"), nullptr) << hello.Describe();
  EXPECT_EQ(hello.Get("server")->str, "redis");
  ASSERT_NE(hello.Get("proto"), nullptr);
  EXPECT_EQ(hello.Get("proto")->type, ':');
  EXPECT_EQ(hello.Get("proto")->num, 3);
  ASSERT_NE(hello.Get("version"), nullptr);
  EXPECT_EQ(hello.Get("version")->str.substr(0, 2), "7.") << "clients gate features on the version";
  ASSERT_NE(hello.Get("id"), nullptr);
  EXPECT_EQ(hello.Get("id")->type, ':');
  ASSERT_NE(hello.Get("mode"), nullptr);
  EXPECT_EQ(hello.Get("mode")->str, "standalone");
  ASSERT_NE(hello.Get("role"), nullptr);
  ASSERT_NE(hello.Get("modules"), nullptr);

  // In RESP3 a missing key is the null type, and CONFIG GET is a map.
  ASSERT_TRUE(raw.SendCmd({"GET", "nokey"}));
  RValue nil = raw.Read();
  EXPECT_EQ(nil.type, '_') << nil.Describe();
  ASSERT_TRUE(raw.SendCmd({"CONFIG", "GET", "maxclients"}));
  RValue cfg = raw.Read();
  EXPECT_EQ(cfg.type, '%') << cfg.Describe();
  ASSERT_TRUE(raw.SendCmd({"SET", "k", "v"}));
  EXPECT_EQ(raw.Read().str, "OK");
  ASSERT_TRUE(raw.SendCmd({"GET", "k"}));
  RValue v = raw.Read();
  EXPECT_EQ(v.type, '$');
  EXPECT_EQ(v.str, "v");

  // Back to RESP2: the map is a flat array; null is $-1.
  ASSERT_TRUE(raw.SendCmd({"HELLO", "2"}));
  RValue h2 = raw.Read();
  EXPECT_EQ(h2.type, '*') << h2.Describe();
  EXPECT_EQ(h2.elems.size(), 14u) << h2.Describe();
  ASSERT_TRUE(raw.SendCmd({"GET", "nokey"}));
  RValue nil2 = raw.Read();
  EXPECT_EQ(nil2.type, '$');
  EXPECT_TRUE(nil2.null);

  ASSERT_TRUE(raw.SendCmd({"HELLO", "4"}));
  RValue bad = raw.Read();
  EXPECT_EQ(bad.type, '-');
  EXPECT_EQ(bad.str.substr(0, 7), "NOPROTO") << bad.str;

  // hiredis (RESP2) sees HELLO 2 as a flat array of 14.
  Reply h = c()("HELLO", "2");
  ASSERT_TRUE(IsArray(h, 14));
  EXPECT_EQ(Str(h->element[0]), "server");
}

TEST_F(SingleNode, CommandConfigInfoTime) {
  Reply count = c()("COMMAND", "COUNT");
  ASSERT_TRUE(count && count->type == REDIS_REPLY_INTEGER) << Describe(count);
  EXPECT_GE(count->integer, 40);
  Reply all = c()("COMMAND");
  ASSERT_TRUE(all && all->type == REDIS_REPLY_ARRAY) << Describe(all);
  EXPECT_EQ(int64_t(all->elements), count->integer);
  Reply info = c()("COMMAND", "INFO", "get");
  ASSERT_TRUE(IsArray(info, 1));
  ASSERT_EQ(info->element[0]->type, REDIS_REPLY_ARRAY);
  ASSERT_GE(info->element[0]->elements, 6u);
  EXPECT_EQ(Str(info->element[0]->element[0]), "get");
  EXPECT_EQ(info->element[0]->element[1]->integer, 2);

  Reply cfg = c()("CONFIG", "GET", "maxclients");
  EXPECT_TRUE(IsBulkArray(cfg, {"maxclients", "10000"}));
  cfg = c()("CONFIG", "GET", "port");
  EXPECT_TRUE(IsBulkArray(cfg, {"port", std::to_string(server_->port())}));
  cfg = c()("CONFIG", "GET", "*");
  ASSERT_TRUE(cfg && cfg->type == REDIS_REPLY_ARRAY) << Describe(cfg);
  EXPECT_EQ(cfg->elements % 2, 0u);
  EXPECT_GE(cfg->elements, 10u);
  EXPECT_TRUE(IsArray(c()("CONFIG", "GET", "no-such-param"), 0));
  EXPECT_TRUE(IsError(c()("CONFIG"), "ERR wrong number of arguments for 'config' command"));
  EXPECT_ALIVE(c());

  Reply inf = c()("INFO");
  ASSERT_TRUE(inf && inf->type == REDIS_REPLY_STRING) << "INFO is a bulk string in RESP2: " << Describe(inf);
  std::string text = Str(inf);
  for (const char* s : {"# Server\r\n", "redis_version:", "# Clients\r\n", "connected_clients:", "# Memory\r\n",
                        "# Persistence\r\n", "# Stats\r\n", "# Replication\r\n", "# Keyspace\r\n", "# Dynamo\r\n",
                        "node_id:n1\r\n", "tcp_port:" }) {
    EXPECT_NE(text.find(s), std::string::npos) << "INFO lacks '" << s << "':\n" << text;
  }
  EXPECT_NE(text.find("tcp_port:" + std::to_string(server_->port()) + "\r\n"), std::string::npos);
  inf = c()("INFO", "dynamo");
  text = Str(inf);
  EXPECT_EQ(text.rfind("# Dynamo\r\n", 0), 0u) << text;
  EXPECT_EQ(text.find("# Server"), std::string::npos) << "INFO dynamo returns only that section";
  inf = c()("INFO", "server");
  text = Str(inf);
  EXPECT_EQ(text.rfind("# Server\r\n", 0), 0u) << text;
  EXPECT_EQ(text.find("# Dynamo"), std::string::npos);
  inf = c()("INFO", "keyspace");
  EXPECT_EQ(Str(inf).rfind("# Keyspace", 0), 0u) << Describe(inf);

  Reply t = c()("TIME");
  ASSERT_TRUE(IsArray(t, 2));
  ASSERT_EQ(t->element[0]->type, REDIS_REPLY_STRING);
  ASSERT_EQ(t->element[1]->type, REDIS_REPLY_STRING);
  int64_t secs = std::stoll(Str(t->element[0]));
  int64_t micros = std::stoll(Str(t->element[1]));
  int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count();
  EXPECT_NEAR(double(secs), double(now), 5.0);
  EXPECT_GE(micros, 0);
  EXPECT_LT(micros, 1000000);
}

TEST_F(SingleNode, ErrorsKeepConnectionUsable) {
  EXPECT_TRUE(IsError(c()("GET"), "ERR wrong number of arguments for 'get' command"));
  EXPECT_ALIVE(c());
  EXPECT_TRUE(IsError(c()("GET", "a", "b"), "ERR wrong number of arguments for 'get' command"));
  EXPECT_ALIVE(c());
  EXPECT_TRUE(IsError(c()("SET", "k"), "ERR wrong number of arguments for 'set' command"));
  EXPECT_ALIVE(c());
  EXPECT_TRUE(IsError(c()("FOOBAR", "a", "b"), "ERR unknown command 'FOOBAR', with args beginning with: 'a' 'b' "));
  EXPECT_ALIVE(c());
  EXPECT_TRUE(IsError(c()("NOSUCHCMD"), "ERR unknown command 'NOSUCHCMD', with args beginning with: "));
  EXPECT_ALIVE(c());
  EXPECT_TRUE(IsError(c()("SET", "k", "v", "XYZ"), "ERR syntax error"));
  EXPECT_ALIVE(c());
  EXPECT_TRUE(IsError(c()("INCRBY", "k", "nope"), "ERR value is not an integer or out of range"));
  EXPECT_ALIVE(c());
  EXPECT_TRUE(IsError(c()("EXPIRE", "k", "99999999999999999999"), "ERR value is not an integer or out of range"));
  EXPECT_ALIVE(c());
  // Command names are case-insensitive.
  EXPECT_TRUE(IsStatus(c()("sEt", "k", "v"), "OK"));
  EXPECT_TRUE(IsBulk(c()("get", "k"), "v"));
  // Inline commands (telnet style) work too.
  RawConn raw(server_->port());
  ASSERT_TRUE(raw.ok());
  ASSERT_TRUE(raw.Send("PING\r\n"));
  RValue pong = raw.Read();
  EXPECT_EQ(pong.type, '+');
  EXPECT_EQ(pong.str, "PONG");
  ASSERT_TRUE(raw.Send("GET k\r\n"));
  EXPECT_EQ(raw.Read().str, "v");
}

// ---- pipelining, big values, binary safety ------------------------------------------------

TEST_F(SingleNode, DeepPipeline10k) {
  constexpr int kCmds = 10000;
  for (int i = 0; i < kCmds; i++) {
    std::string k = "p:" + std::to_string(i / 2);
    if (i % 2 == 0) c().Append({"SET", k, "value-" + std::to_string(i / 2)});
    else c().Append({"GET", k});
  }
  for (int i = 0; i < kCmds; i++) {
    Reply r = c().Read();
    ASSERT_TRUE(r) << "reply " << i << ": " << c().error();
    if (i % 2 == 0) ASSERT_TRUE(IsStatus(r, "OK")) << "reply " << i;
    else ASSERT_TRUE(IsBulk(r, "value-" + std::to_string(i / 2))) << "reply " << i << " out of order?";
  }
  EXPECT_TRUE(IsInt(c()("DBSIZE"), kCmds / 2));
  EXPECT_ALIVE(c());
}

// Under steady pipelined writes a group commit is nearly always in flight; the log must
// still be checkpointed into LMDB about once a second (and so stay short), and every write
// must read back afterwards, also after a restart.
long long InfoNumber(const std::string& info, const std::string& field) {
  size_t at = info.find(field + ":");
  if (at == std::string::npos) return -1;
  return std::stoll(info.substr(at + field.size() + 1));
}

TEST_F(SingleNode, CheckpointsKeepUpUnderSteadyWrites) {
  std::string before = Str(c()("INFO", "persistence"));
  long long cp0 = InfoNumber(before, "storage_checkpoints");
  ASSERT_GE(cp0, 0) << before;
  const auto deadline = Clock::now() + 3500ms;
  int n = 0;
  while (Clock::now() < deadline && n < 2'000'000) {
    for (int i = 0; i < 200; i++, n++) c().Append({"SET", "steady:" + std::to_string(n % 5000), std::to_string(n)});
    for (int i = 0; i < 200; i++) ASSERT_TRUE(IsStatus(c().Read(), "OK")) << c().error();
  }
  std::string after = Str(c()("INFO", "persistence"));
  EXPECT_GE(InfoNumber(after, "storage_checkpoints"), cp0 + 2) << after;
  EXPECT_LT(InfoNumber(after, "storage_wal_bytes"), 64ll << 20) << after;
  auto check = [&](Conn& conn) {
    for (int k = 0; k < 5000 && k < n; k++) {
      int last = k + (n - 1 - k) / 5000 * 5000;  // the last value written to steady:k
      ASSERT_TRUE(IsBulk(conn("GET", "steady:" + std::to_string(k)), std::to_string(last))) << k;
    }
  };
  check(c());
  ASSERT_TRUE(server_->Restart()) << server_->last_error();
  auto again = server_->Connect();
  ASSERT_TRUE(again->ok());
  check(*again);
}

TEST_F(SingleNode, HundredMegabyteValue) {
  const size_t kSize = 100u << 20;
  std::string big(kSize, '\0');
  std::mt19937_64 rng(42);
  for (size_t i = 0; i + 8 <= kSize; i += 8) {
    uint64_t x = rng();
    std::memcpy(&big[i], &x, 8);
  }
  c().SetTimeout(60000);
  ASSERT_TRUE(IsStatus(c().Cmd({"SET", "big", big}), "OK"));
  EXPECT_TRUE(IsInt(c()("STRLEN", "big"), int64_t(kSize)));
  Reply r = c().Cmd({"GET", "big"});
  ASSERT_TRUE(r && r->type == REDIS_REPLY_STRING) << Describe(r);
  ASSERT_EQ(r->len, kSize);
  EXPECT_EQ(std::memcmp(r->str, big.data(), kSize), 0) << "the 100 MB value came back different";
  r.reset();
  EXPECT_TRUE(IsBulk(c()("GETRANGE", "big", "1000", "1007"), big.substr(1000, 8)));
  EXPECT_TRUE(IsInt(c()("DEL", "big"), 1));
  EXPECT_ALIVE(c());
}

TEST_F(SingleNode, BinaryKeysAndValues) {
  std::string key("bin\0key\r\nwith\r\n\0crlf", 20);
  std::string val;
  for (int i = 0; i < 256; i++) val.push_back(char(i));
  val += std::string("\r\n$5\r\n\0\0*1\r\n", 12);
  ASSERT_TRUE(IsStatus(c().Cmd({"SET", key, val}), "OK"));
  EXPECT_TRUE(IsBulk(c().Cmd({"GET", key}), val));
  EXPECT_TRUE(IsNil(c().Cmd({"GET", std::string("bin\0key", 7)}))) << "the key is not cut at NUL";
  EXPECT_TRUE(IsInt(c().Cmd({"EXISTS", key}), 1));
  EXPECT_TRUE(IsInt(c().Cmd({"STRLEN", key}), int64_t(val.size())));
  EXPECT_TRUE(IsInt(c().Cmd({"APPEND", key, std::string("\0\r\n", 3)}), int64_t(val.size() + 3)));
  EXPECT_TRUE(IsBulk(c().Cmd({"GET", key}), val + std::string("\0\r\n", 3)));
  Reply keys = c()("KEYS", "bin*");
  EXPECT_TRUE(IsBulkArray(keys, {key}));
  Reply mget = c().Cmd({"MGET", key, "nokey"});
  ASSERT_TRUE(IsArray(mget, 2));
  EXPECT_EQ(Str(mget->element[0]), val + std::string("\0\r\n", 3));
  // Empty key and empty value are legal.
  EXPECT_TRUE(IsStatus(c().Cmd({"SET", "", ""}), "OK"));
  EXPECT_TRUE(IsBulk(c().Cmd({"GET", ""}), ""));
  EXPECT_TRUE(IsInt(c().Cmd({"EXISTS", ""}), 1));
  // DPUT/DGET are binary safe as well.
  Reply ctx = c().Cmd({"DPUT", key, val, ""});
  ASSERT_TRUE(ctx && ctx->type == REDIS_REPLY_STRING) << Describe(ctx);
  Reply d = c().Cmd({"DGET", key});
  ASSERT_TRUE(IsArray(d, 2));
  bool found = false;
  for (size_t i = 0; i < d->element[1]->elements; i++) found |= Str(d->element[1]->element[i]) == val;
  EXPECT_TRUE(found) << Describe(d);
  EXPECT_TRUE(IsInt(c().Cmd({"DEL", key}), 1));
  EXPECT_TRUE(IsNil(c().Cmd({"GET", key})));
}

// ---- malformed input ----------------------------------------------------------------------

TEST_F(SingleNode, ProtocolGarbageDisconnectsOnlyThatClient) {
  ASSERT_TRUE(IsStatus(c()("SET", "k", "v"), "OK"));
  struct Case {
    const char* name;
    std::string bytes;
    const char* want;
  } cases[] = {
      {"bad multibulk length", "*abc\r\n", "ERR Protocol error: invalid multibulk length"},
      {"bulk length over the limit", "*1\r\n$99999999999\r\n", "ERR Protocol error: invalid bulk length"},
      {"negative bulk length", "*1\r\n$-5\r\n", "ERR Protocol error: invalid bulk length"},
      {"expected $", "*1\r\n+PING\r\n", "ERR Protocol error: expected '$', got '+'"},
      {"bulk not terminated by CRLF", "*1\r\n$4\r\nPINGxx", "ERR Protocol error"},
  };
  for (const auto& tc : cases) {
    SCOPED_TRACE(tc.name);
    RawConn bad(server_->port());
    ASSERT_TRUE(bad.ok());
    ASSERT_TRUE(bad.Send(tc.bytes));
    RValue r = bad.Read(5000);
    EXPECT_EQ(r.type, '-') << r.Describe();
    EXPECT_EQ(r.str.rfind(tc.want, 0), 0u) << "got: " << r.str;
    EXPECT_TRUE(bad.WaitClosed(5000)) << "the server must close the connection after a protocol error";
    // A client connected at the same time keeps working.
    EXPECT_TRUE(IsBulk(c()("GET", "k"), "v"));
  }
}

TEST_F(SingleNode, HugeDeclaredLengthsAreNotAllocated) {
  ASSERT_TRUE(IsStatus(c()("SET", "k", "v"), "OK"));
  long before = server_->RssKb();
  ASSERT_GT(before, 0);
  // Declared sizes just under the limits (512 MB bulk, 1M args), followed by a few bytes.
  // Several connections at once: if the server reserved what they declare it would need GBs.
  std::vector<std::unique_ptr<RawConn>> conns;
  for (int i = 0; i < 8; i++) {
    auto rc = std::make_unique<RawConn>(server_->port());
    ASSERT_TRUE(rc->ok());
    ASSERT_TRUE(rc->Send("*2\r\n$3\r\nSET\r\n$536870000\r\nabcdef"));
    conns.push_back(std::move(rc));
  }
  for (int i = 0; i < 4; i++) {
    auto rc = std::make_unique<RawConn>(server_->port());
    ASSERT_TRUE(rc->Send("*1000000\r\n$3\r\nSET\r\n"));
    conns.push_back(std::move(rc));
  }
  std::this_thread::sleep_for(300ms);
  EXPECT_TRUE(IsBulk(c()("GET", "k"), "v")) << "the server must stay responsive";
  long after = server_->RssKb();
  EXPECT_LT(after - before, 64 * 1024) << "RSS grew from " << before << " kB to " << after
                                       << " kB: declared lengths were allocated up front";
  EXPECT_TRUE(server_->Running());
  conns.clear();
  std::this_thread::sleep_for(100ms);
  EXPECT_TRUE(IsBulk(c()("GET", "k"), "v"));
}

// ---- limits -------------------------------------------------------------------------------

TEST_F(SingleNodeCustom, RequirePass) {
  ServerConfig cfg;
  cfg.SetStr("security", "requirepass", "s3cret");
  StartServer(cfg);
  EXPECT_TRUE(IsError(c()("GET", "k"), "NOAUTH Authentication required."));
  EXPECT_TRUE(IsError(c()("PING"), "NOAUTH Authentication required."));
  EXPECT_TRUE(IsError(c()("SET", "k", "v"), "NOAUTH Authentication required."));
  EXPECT_TRUE(IsError(c()("AUTH", "wrong"), "WRONGPASS invalid username-password pair or user is disabled."));
  EXPECT_TRUE(IsError(c()("AUTH", "default", "wrong"),
                      "WRONGPASS invalid username-password pair or user is disabled."));
  EXPECT_TRUE(IsError(c()("GET", "k"), "NOAUTH Authentication required.")) << "a failed AUTH must not log in";
  EXPECT_TRUE(IsStatus(c()("AUTH", "s3cret"), "OK"));
  EXPECT_TRUE(IsStatus(c()("SET", "k", "v"), "OK"));
  EXPECT_TRUE(IsBulk(c()("GET", "k"), "v"));

  auto c2 = server_->Connect();
  EXPECT_TRUE(IsError((*c2)("GET", "k"), "NOAUTH Authentication required.")) << "auth is per connection";
  EXPECT_TRUE(IsStatus((*c2)("AUTH", "default", "s3cret"), "OK"));
  EXPECT_TRUE(IsBulk((*c2)("GET", "k"), "v"));

  // HELLO with AUTH logs in and switches protocol in one go.
  RawConn raw(server_->port());
  ASSERT_TRUE(raw.SendCmd({"HELLO", "3", "AUTH", "default", "bad"}));
  RValue r = raw.Read();
  EXPECT_EQ(r.type, '-');
  EXPECT_EQ(r.str.rfind("WRONGPASS", 0), 0u) << r.str;
  ASSERT_TRUE(raw.SendCmd({"HELLO", "3", "AUTH", "default", "s3cret"}));
  r = raw.Read();
  EXPECT_EQ(r.type, '%') << r.Describe();
  ASSERT_TRUE(raw.SendCmd({"GET", "k"}));
  EXPECT_EQ(raw.Read().str, "v");

  // The password is never shown: CONFIG GET reads it as "", INFO does not carry it.
  Reply cfg_get = c()("CONFIG", "GET", "requirepass");
  ASSERT_TRUE(cfg_get && cfg_get->type == REDIS_REPLY_ARRAY && cfg_get->elements == 2) << Describe(cfg_get);
  EXPECT_EQ(std::string(cfg_get->element[1]->str, cfg_get->element[1]->len), "");
  Reply all = c()("CONFIG", "GET", "*");
  EXPECT_EQ(Describe(all).find("s3cret"), std::string::npos) << Describe(all);
  EXPECT_EQ(Describe(c()("INFO", "everything")).find("s3cret"), std::string::npos);
}

TEST_F(SingleNodeCustom, AuthWithoutPasswordConfigured) {
  StartServer();
  Reply r = c()("AUTH", "x");
  EXPECT_TRUE(IsErrorPrefix(r, "ERR AUTH <password> called without any password configured"));
  EXPECT_ALIVE(c());
}

TEST_F(SingleNodeCustom, MaxClients) {
  ServerConfig cfg;
  cfg.SetInt("limits", "maxclients", 2);
  StartServer(cfg);  // conn_ is client 1
  // The harness's readiness probe was a connection too; wait until the server has seen it go.
  ASSERT_TRUE(WaitUntil(
      [&] {
        std::string list = Str(c()("CLIENT", "LIST"));
        return std::count(list.begin(), list.end(), '\n') == 1;
      },
      5s));
  auto second = server_->Connect();
  ASSERT_TRUE(second->ok());
  EXPECT_ALIVE(c());
  EXPECT_ALIVE(*second);
  {
    RawConn third(server_->port());
    ASSERT_TRUE(third.ok()) << "the TCP connect itself succeeds; the server answers and closes";
    RValue r = third.Read(5000);
    EXPECT_EQ(r.type, '-') << r.Describe();
    EXPECT_EQ(r.str, "ERR max number of clients reached");
    EXPECT_TRUE(third.WaitClosed(5000));
  }
  EXPECT_ALIVE(c());
  EXPECT_ALIVE(*second);
  // Once a slot frees up, a new client gets in.
  second.reset();
  bool got_in = WaitUntil(
      [&] {
        Conn again(server_->port(), 2000);
        Reply r = again("PING");
        return IsStatus(r, "PONG");
      },
      5s, 50ms);
  EXPECT_TRUE(got_in);
  Reply info = c()("INFO", "stats");
  EXPECT_NE(Str(info).find("rejected_connections:"), std::string::npos);
  EXPECT_EQ(Str(info).find("rejected_connections:0\r\n"), std::string::npos) << Str(info);
}

TEST_F(SingleNodeCustom, IdleTimeout) {
  ServerConfig cfg;
  cfg.SetInt("limits", "timeout", 1);
  StartServer(cfg);
  RawConn idle(server_->port());
  ASSERT_TRUE(idle.ok());
  ASSERT_TRUE(idle.SendCmd({"PING"}));
  ASSERT_EQ(idle.Read().str, "PONG");
  auto t0 = Clock::now();
  // A busy client is not closed meanwhile.
  std::atomic<bool> busy_ok{true};
  std::thread busy([&] {
    Conn b(server_->port());
    auto end = Clock::now() + 2500ms;
    while (Clock::now() < end) {
      if (!IsStatus(b("PING"), "PONG")) busy_ok = false;
      std::this_thread::sleep_for(200ms);
    }
  });
  bool closed = idle.WaitClosed(5000);
  auto took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0);
  busy.join();
  EXPECT_TRUE(closed) << "an idle connection must be closed with limits.timeout = 1";
  EXPECT_GE(took.count(), 900);
  EXPECT_LE(took.count(), 3000);
  EXPECT_TRUE(busy_ok) << "an active connection must not be closed";
  // conn_ sat idle too and is gone by now.
  Reply r = c()("PING");
  EXPECT_FALSE(IsStatus(r, "PONG")) << "the idle hiredis connection should have been closed";
  auto fresh = server_->Connect();
  EXPECT_ALIVE(*fresh);
}

TEST_F(SingleNodeCustom, SlowReaderIsDisconnected) {
  ServerConfig cfg;
  cfg.SetInt("limits", "client_output_buffer_limit", 1 << 20);
  StartServer(cfg);
  const std::string value(100 * 1024, 'x');
  ASSERT_TRUE(IsStatus(c().Cmd({"SET", "v100k", value}), "OK"));

  RawConn slow(server_->port());
  ASSERT_TRUE(slow.ok());
  constexpr int kGets = 2000;  // 200 MB of replies, never read
  std::string burst;
  for (int i = 0; i < kGets; i++) burst += "*2\r\n$3\r\nGET\r\n$5\r\nv100k\r\n";
  slow.Send(burst);  // may fail part-way once the server drops us; that is fine

  bool dropped = WaitUntil(
      [&] {
        Reply info = c()("INFO", "stats");
        std::string s = Str(info);
        return s.find("client_output_buffer_limit_disconnections:0\r\n") == std::string::npos &&
               s.find("client_output_buffer_limit_disconnections:") != std::string::npos;
      },
      10s, 50ms);
  EXPECT_TRUE(dropped) << "the slow reader was not disconnected for its output buffer";
  // Others keep working, including big replies.
  EXPECT_TRUE(IsBulk(c().Cmd({"GET", "v100k"}), value));
  auto other = server_->Connect();
  EXPECT_TRUE(IsBulk(other->Cmd({"GET", "v100k"}), value));
  std::string got;
  EXPECT_TRUE(slow.WaitClosed(10000, &got)) << "the slow reader's connection must be closed";
  EXPECT_LT(got.size(), size_t(kGets) * value.size() / 2) << "the server buffered the whole backlog";
  EXPECT_TRUE(server_->Running());
  // Freed buffers go back to the OS within about 10 s (server/allocator.h: big buffers are
  // kept that long for reuse, small ones decay over 10 s).
  long rss = 0;
  EXPECT_TRUE(WaitUntil([&] { return (rss = server_->RssKb()) < 256 * 1024; }, 16s))
      << "server RSS " << rss << " kB after the slow reader";
}

// ---- durability ---------------------------------------------------------------------------

TEST_F(SingleNode, DataSurvivesSigtermAndRestart) {
  for (int i = 0; i < 200; i++) c().Append({"SET", "d:" + std::to_string(i), "val-" + std::to_string(i)});
  for (int i = 0; i < 200; i++) ASSERT_TRUE(IsStatus(c().Read(), "OK"));
  ASSERT_TRUE(IsStatus(c()("SET", "ttl", "x", "EX", "1000"), "OK"));
  ASSERT_TRUE(IsInt(c()("INCRBY", "ctr", "42"), 42));
  ASSERT_TRUE(IsInt(c()("DEL", "d:7"), 1));
  Reply db = c()("DBSIZE");
  ASSERT_TRUE(db && db->type == REDIS_REPLY_INTEGER) << Describe(db);
  long long dbsize_before = db->integer;
  conn_.reset();
  ExitInfo e = server_->Stop();
  EXPECT_TRUE(e.exited) << "SIGTERM did not stop the server in time";
  EXPECT_EQ(e.code, 0) << "clean shutdown exits 0";
  ASSERT_TRUE(server_->Restart()) << server_->last_error();
  conn_ = server_->Connect();
  for (int i = 0; i < 200; i++) {
    if (i == 7) {
      EXPECT_TRUE(IsNil(c()("GET", "d:7"))) << "a delete must survive restart too";
      continue;
    }
    ASSERT_TRUE(IsBulk(c()("GET", "d:" + std::to_string(i)), "val-" + std::to_string(i))) << i;
  }
  Reply ttl = c()("TTL", "ttl");
  ASSERT_TRUE(ttl && ttl->type == REDIS_REPLY_INTEGER) << Describe(ttl);
  EXPECT_GT(ttl->integer, 990);
  EXPECT_TRUE(IsBulk(c()("GET", "ctr"), "42"));
  EXPECT_TRUE(IsInt(c()("INCR", "ctr"), 43));
  EXPECT_TRUE(IsInt(c()("DBSIZE"), dbsize_before)) << "DBSIZE changed across restart";
}

// Writers issue SETs and record every acknowledged key; another thread SIGKILLs the server
// after `kill_after` more acks; after restart every key acknowledged in any round must be
// there. Repeated for `rounds` kill/restart cycles. `writers` connections write one command
// at a time; one more connection pipelines batches of 32 (so group commit has company).
void KillMidStream(const std::string& sync, int writers, int kill_after, int rounds,
                   const std::string& log_io = "direct") {
  ServerConfig cfg;
  cfg.SetStr("storage", "sync", sync);
  cfg.SetStr("storage", "log_io", log_io);
  auto server = std::make_unique<ServerProcess>(cfg);
  ASSERT_TRUE(server->Start()) << server->last_error();
  std::mutex mu;
  std::vector<std::pair<std::string, std::string>> acked;  // over all rounds
  for (int round = 0; round < rounds; round++) {
    SCOPED_TRACE("round " + std::to_string(round));
    std::atomic<int> acks{0};
    std::vector<std::thread> threads;
    auto record = [&](const std::string& k, const std::string& v) {
      std::lock_guard<std::mutex> lock(mu);
      acked.emplace_back(k, v);
      acks++;
    };
    auto key = [round](int w, int i) {
      return "r" + std::to_string(round) + ":w" + std::to_string(w) + ":" + std::to_string(i);
    };
    auto value = [](const std::string& k) { return "value-of-" + k + std::string(64, 'x'); };
    for (int w = 0; w < writers; w++) {
      threads.emplace_back([&, w] {
        Conn conn(server->port(), 5000);
        for (int i = 0; i < 1000000 && conn.ok(); i++) {
          std::string k = key(w, i), v = value(k);
          if (!IsStatus(conn.Cmd({"SET", k, v}), "OK")) break;  // died: never acknowledged
          record(k, v);
        }
      });
    }
    threads.emplace_back([&] {
      Conn conn(server->port(), 5000);
      const int w = writers;
      for (int batch = 0; batch < 100000 && conn.ok(); batch++) {
        for (int j = 0; j < 32; j++) {
          std::string k = key(w, batch * 32 + j);
          conn.Append({"SET", k, value(k)});
        }
        for (int j = 0; j < 32; j++) {
          std::string k = key(w, batch * 32 + j);
          if (!IsStatus(conn.Read(), "OK")) return;
          record(k, value(k));
        }
      }
    });
    bool reached = WaitUntil([&] { return acks.load() >= kill_after; }, 30s, 1ms);
    server->SignalKill();  // mid-stream: writers are blocked on replies right now
    for (auto& th : threads) th.join();
    server->Kill();  // reap
    ASSERT_TRUE(reached) << "writers reached only " << acks.load() << " of " << kill_after << " acks";
    ASSERT_TRUE(server->Restart()) << server->last_error();
    auto conn = server->Connect();
    std::vector<std::pair<std::string, std::string>> check;
    {
      std::lock_guard<std::mutex> lock(mu);
      check = acked;
    }
    for (auto& [k, v] : check) conn->Append({"GET", k});
    size_t missing = 0;
    std::string first_missing;
    for (auto& [k, v] : check) {
      Reply r = conn->Read();
      if (!IsBulk(r, v) && missing++ == 0) first_missing = k + " -> " + Describe(r);
    }
    ASSERT_EQ(missing, 0u) << missing << " of " << check.size() << " acknowledged writes lost with sync=" << sync
                           << "; first: " << first_missing << "\n---- server stderr ----\n" << server->Stderr();
  }
}

TEST_F(SingleNodeCustom, SigkillLosesNoAckedWriteSyncAlways) { KillMidStream("always", 2, 300, 3); }

TEST_F(SingleNodeCustom, SigkillLosesNoAckedWriteSyncBatch) { KillMidStream("batch", 4, 1500, 3); }
// The fallback commit path: log written through the page cache, fdatasync on a worker thread.
TEST_F(SingleNodeCustom, SigkillLosesNoAckedWriteSyncBatchBufferedLog) {
  KillMidStream("batch", 4, 1500, 3, "buffered");
}

// ---- configuration errors -----------------------------------------------------------------

struct BadConfigCase {
  const char* name;
  std::string toml;           // appended to a valid base (listen.redis on a free port)
  std::vector<std::string> must_mention;
};

TEST(Config, BadConfigFilesStopStartupNamingFileAndKey) {
  TempDir dir;
  int port = PickFreePort();
  auto base = [&](const std::string& extra_node, const std::string& rest) {
    return "[node]\nid = \"n1\"\ndata_dir = \"" + dir.path() + "/data\"\n" + extra_node +
           "[listen]\nredis = \"127.0.0.1:" + std::to_string(port) + "\"\nmemcache = \"\"\n" + rest;
  };
  std::vector<BadConfigCase> cases = {
      {"wrong type", base("", "[replication]\nn = \"three\"\n"), {"replication.n"}},
      {"unknown key", base("", "[limits]\nmaxclient = 5\n"), {"limits.maxclient"}},
      {"unknown section", base("", "[bogus]\nx = 1\n"), {"bogus"}},
      {"r > n", base("", "[replication]\nn = 1\nr = 2\nw = 1\n"), {"replication.r"}},
      {"w > n", base("", "[replication]\nn = 1\nr = 1\nw = 2\n"), {"replication.w"}},
      {"bad enum", base("", "[storage]\nsync = \"sometimes\"\n"), {"storage.sync"}},
      {"bad address", base("", "[cluster]\nseeds = [\"nohostport\"]\n"), {"cluster.seeds"}},
      {"toml syntax", base("", "[limits\nmaxclients = 3\n"), {}},
      {"wrong type string for int", base("", "[limits]\ntimeout = \"1s\"\n"), {"limits.timeout"}},
  };
  for (size_t i = 0; i < cases.size(); i++) {
    const auto& tc = cases[i];
    SCOPED_TRACE(tc.name);
    std::string path = dir.Write("bad" + std::to_string(i) + ".toml", tc.toml);
    RunResult r = RunBinary({"--config", path}, 5s);
    ASSERT_TRUE(r.exit.exited) << "the server started with a bad config (still running after 5 s)";
    EXPECT_NE(r.exit.code, 0) << "stderr: " << r.err;
    EXPECT_EQ(r.exit.signal, 0) << "crashed instead of exiting: " << r.err;
    EXPECT_LT(r.elapsed.count(), 3000);
    EXPECT_NE(r.err.find(path), std::string::npos) << "stderr must name the file: " << r.err;
    for (const auto& m : tc.must_mention) {
      EXPECT_NE(r.err.find(m), std::string::npos) << "stderr must name '" << m << "': " << r.err;
    }
  }
  // A missing file.
  RunResult r = RunBinary({"--config", dir.path() + "/nope.toml"}, 5s);
  ASSERT_TRUE(r.exit.exited);
  EXPECT_NE(r.exit.code, 0);
  EXPECT_NE(r.err.find(dir.path() + "/nope.toml"), std::string::npos) << r.err;
  // A bad flag.
  r = RunBinary({"--replication.n", "x"}, 5s);
  ASSERT_TRUE(r.exit.exited);
  EXPECT_NE(r.exit.code, 0);
  EXPECT_NE(r.err.find("replication.n"), std::string::npos) << r.err;
  r = RunBinary({"--no-such-flag", "1"}, 5s);
  ASSERT_TRUE(r.exit.exited);
  EXPECT_NE(r.exit.code, 0);
  EXPECT_NE(r.err.find("no-such-flag"), std::string::npos) << r.err;
}

TEST(Config, HelpListsOptionsAndExitsZero) {
  RunResult r = RunBinary({"--help"}, 5s);
  ASSERT_TRUE(r.exit.exited);
  EXPECT_EQ(r.exit.code, 0) << r.err;
  for (const char* opt : {"--config", "--port", "--replication.n", "--replication.r", "--replication.w",
                          "--storage.sync", "--limits.maxclients", "--security.requirepass", "--listen.redis",
                          "--cluster.seeds", "--node.data_dir"}) {
    EXPECT_NE(r.out.find(opt), std::string::npos) << "--help lacks " << opt << ":\n" << r.out;
  }
  r = RunBinary({"-h"}, 5s);
  ASSERT_TRUE(r.exit.exited);
  EXPECT_EQ(r.exit.code, 0);
}

TEST(Config, FlagsAreValidatedLikeTheFile) {
  TempDir dir;
  std::string path = dir.Write("ok.toml", "[node]\nid = \"n1\"\ndata_dir = \"" + dir.path() +
                                              "/data\"\n[listen]\nredis = \"127.0.0.1:" +
                                              std::to_string(PickFreePort()) + "\"\nmemcache = \"\"\n");
  // A flag that breaks a cross-field rule fails start-up naming the option.
  RunResult r = RunBinary({"--config", path, "--replication.r", "5"}, 5s);
  ASSERT_TRUE(r.exit.exited) << "started despite r > n";
  EXPECT_NE(r.exit.code, 0);
  EXPECT_NE(r.err.find("replication.r"), std::string::npos) << r.err;
}

// ---- causal API: DGET / DPUT / DDEL -------------------------------------------------------

std::vector<std::string> Siblings(const Reply& dget) {
  std::vector<std::string> out;
  if (!dget || dget->type != REDIS_REPLY_ARRAY || dget->elements != 2) return out;
  const redisReply* arr = dget->element[1];
  for (size_t i = 0; i < arr->elements; i++) out.push_back(Str(arr->element[i]));
  std::sort(out.begin(), out.end());
  return out;
}

::testing::AssertionResult IsDget(const Reply& r) {
  if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 2 && r->element[0]->type == REDIS_REPLY_STRING &&
      r->element[1]->type == REDIS_REPLY_ARRAY) {
    std::string ctx = Str(r->element[0]);
    for (char ch : ctx) {
      if (ch < 33 || ch > 126) return ::testing::AssertionFailure() << "context is not printable ASCII: " << Describe(r);
    }
    return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure() << "expected [context, [values...]], got " << Describe(r);
}

std::string Tamper(std::string token) {
  // Flip one character in the middle of the payload (before the '.' that starts the MAC).
  size_t dot = token.find('.');
  size_t i = (dot == std::string::npos ? token.size() : dot) / 2;
  if (i < 2) i = token.size() / 2;
  token[i] = token[i] == 'A' ? 'B' : 'A';
  return token;
}

TEST_F(SingleNode, DgetDputDdelSiblings) {
  Reply d = c()("DGET", "k");
  ASSERT_TRUE(IsDget(d));
  EXPECT_EQ(d->element[1]->elements, 0u) << "missing key: no values";
  std::string ctx0 = Str(d->element[0]);

  auto c2 = server_->Connect();
  Reply p1 = c()("DPUT", "k", "v1", ctx0);
  ASSERT_TRUE(p1 && p1->type == REDIS_REPLY_STRING) << Describe(p1);
  EXPECT_FALSE(Str(p1).empty()) << "DPUT returns the new context";
  Reply p2 = (*c2)("DPUT", "k", "v2", ctx0);
  ASSERT_TRUE(p2 && p2->type == REDIS_REPLY_STRING) << Describe(p2);

  d = c()("DGET", "k");
  ASSERT_TRUE(IsDget(d));
  EXPECT_EQ(Siblings(d), (std::vector<std::string>{"v1", "v2"})) << "two writes from the same context are concurrent";
  std::string merged = Str(d->element[0]);

  // GET picks one winner deterministically.
  Reply g1 = c()("GET", "k");
  ASSERT_TRUE(g1 && g1->type == REDIS_REPLY_STRING) << Describe(g1);
  EXPECT_TRUE(Str(g1) == "v1" || Str(g1) == "v2") << Describe(g1);
  EXPECT_TRUE(IsBulk(c()("GET", "k"), Str(g1)));
  EXPECT_TRUE(IsBulk((*c2)("GET", "k"), Str(g1))) << "same winner from another connection";
  EXPECT_TRUE(IsInt(c()("EXISTS", "k"), 1));

  // Writing with the merged context resolves the conflict.
  Reply p3 = c()("DPUT", "k", "v3", merged);
  ASSERT_TRUE(p3 && p3->type == REDIS_REPLY_STRING) << Describe(p3);
  d = c()("DGET", "k");
  ASSERT_TRUE(IsDget(d));
  EXPECT_EQ(Siblings(d), (std::vector<std::string>{"v3"}));
  EXPECT_TRUE(IsBulk(c()("GET", "k"), "v3"));

  // The context DPUT returned is enough to supersede that write.
  Reply p4 = c()("DPUT", "k", "v4", Str(p3));
  ASSERT_TRUE(p4 && p4->type == REDIS_REPLY_STRING) << Describe(p4);
  EXPECT_EQ(Siblings(c()("DGET", "k")), (std::vector<std::string>{"v4"}));

  // A stale context makes a sibling; the newest timestamp wins GET, deterministically.
  Reply p5 = (*c2)("DPUT", "k", "v5", Str(p3));
  ASSERT_TRUE(p5 && p5->type == REDIS_REPLY_STRING) << Describe(p5);
  d = c()("DGET", "k");
  EXPECT_EQ(Siblings(d), (std::vector<std::string>{"v4", "v5"}));
  Reply ga = c()("GET", "k");
  Reply gb = (*c2)("GET", "k");
  ASSERT_TRUE(ga && ga->type == REDIS_REPLY_STRING) << Describe(ga);
  EXPECT_TRUE(IsBulk(gb, Str(ga)));

  // DDEL with the current context: deleted, and DGET shows no values.
  std::string cur = Str(d->element[0]);
  EXPECT_TRUE(IsInt(c()("DDEL", "k", cur), 1));
  d = c()("DGET", "k");
  ASSERT_TRUE(IsDget(d));
  EXPECT_EQ(d->element[1]->elements, 0u) << Describe(d);
  EXPECT_FALSE(Str(d->element[0]).empty()) << "the context still covers the tombstone";
  EXPECT_TRUE(IsNil(c()("GET", "k")));
  EXPECT_TRUE(IsInt(c()("EXISTS", "k"), 0));

  // Writing after the delete with its context: one value.
  Reply p6 = c()("DPUT", "k", "v6", Str(d->element[0]));
  ASSERT_TRUE(p6 && p6->type == REDIS_REPLY_STRING) << Describe(p6);
  EXPECT_EQ(Siblings(c()("DGET", "k")), (std::vector<std::string>{"v6"}));

  // The empty context is concurrent with everything: a sibling.
  Reply p7 = (*c2)("DPUT", "k", "v7", "");
  ASSERT_TRUE(p7 && p7->type == REDIS_REPLY_STRING) << Describe(p7);
  EXPECT_EQ(Siblings(c()("DGET", "k")), (std::vector<std::string>{"v6", "v7"}));
  // SET without a context supersedes every version the node knows.
  EXPECT_TRUE(IsStatus(c()("SET", "k", "plain"), "OK"));
  EXPECT_EQ(Siblings(c()("DGET", "k")), (std::vector<std::string>{"plain"}));

  // W / R options are validated against N = 1.
  EXPECT_TRUE(IsDget(c()("DGET", "k", "R", "1")));
  EXPECT_TRUE(IsErrorPrefix(c()("DGET", "k", "R", "2"), "ERR"));
  EXPECT_ALIVE(c());
  EXPECT_TRUE(IsErrorPrefix(c()("DPUT", "k", "x", "", "W", "0"), "ERR"));
  EXPECT_ALIVE(c());
  EXPECT_TRUE(IsErrorPrefix(c()("DPUT", "k", "x", "", "BOGUS"), "ERR syntax error"));
  EXPECT_ALIVE(c());
  EXPECT_TRUE(IsError(c()("DPUT", "k", "x"), "ERR wrong number of arguments for 'dput' command"));
  EXPECT_ALIVE(c());
}

TEST_F(SingleNode, InvalidContextsAreRefusedAndHarmless) {
  Reply p = c()("DPUT", "k", "v1", "");
  ASSERT_TRUE(p && p->type == REDIS_REPLY_STRING) << Describe(p);
  Reply d = c()("DGET", "k");
  ASSERT_TRUE(IsDget(d));
  std::string good = Str(d->element[0]);
  ASSERT_GT(good.size(), 4u);

  std::vector<std::pair<std::string, std::string>> bad = {
      {"garbage", "this-is-not-a-context"},
      {"binary garbage", std::string("\x01\x02\x00\xff", 4)},
      {"truncated", good.substr(0, good.size() / 2)},
      {"truncated by one", good.substr(0, good.size() - 1)},
      {"tampered", Tamper(good)},
      {"extended", good + "A"},
      {"huge", std::string(100000, 'A')},
  };
  for (auto& [name, ctx] : bad) {
    SCOPED_TRACE(name);
    ASSERT_NE(ctx, good);
    EXPECT_TRUE(IsErrorPrefix(c().Cmd({"DPUT", "k", "evil", ctx}), "ERR invalid context"));
    EXPECT_ALIVE(c());
    EXPECT_TRUE(IsErrorPrefix(c().Cmd({"DDEL", "k", ctx}), "ERR invalid context"));
    EXPECT_ALIVE(c());
    // The key is unharmed.
    Reply after = c()("DGET", "k");
    EXPECT_EQ(Siblings(after), (std::vector<std::string>{"v1"}));
    EXPECT_TRUE(IsBulk(c()("GET", "k"), "v1"));
  }
  // A genuine context of another key is refused too: tokens are bound to their key.
  ASSERT_TRUE(c()("DPUT", "other", "o1", ""));
  Reply od = c()("DGET", "other");
  ASSERT_TRUE(IsDget(od));
  std::string other_ctx = Str(od->element[0]);
  EXPECT_TRUE(IsErrorPrefix(c().Cmd({"DPUT", "k", "evil", other_ctx}), "ERR invalid context"));
  EXPECT_TRUE(IsErrorPrefix(c().Cmd({"DDEL", "k", other_ctx}), "ERR invalid context"));
  EXPECT_EQ(Siblings(c()("DGET", "k")), (std::vector<std::string>{"v1"}));
  // The genuine context still works afterwards.
  EXPECT_TRUE(IsInt(c()("DDEL", "k", good), 1));
  EXPECT_TRUE(IsNil(c()("GET", "k")));
}

TEST_F(SingleNodeCustom, ContextFromAnotherClusterSecretIsRefused) {
  ServerConfig a_cfg, b_cfg;
  a_cfg.SetStr("security", "cluster_secret", "alpha-secret");
  b_cfg.SetStr("security", "cluster_secret", "beta-secret");
  ServerProcess a(a_cfg, "a"), b(b_cfg, "b");
  ASSERT_TRUE(a.Start()) << a.last_error();
  ASSERT_TRUE(b.Start()) << b.last_error();
  auto ca = a.Connect();
  auto cb = b.Connect();
  Reply pa = (*ca)("DPUT", "k", "from-a", "");
  ASSERT_TRUE(pa && pa->type == REDIS_REPLY_STRING) << Describe(pa);
  Reply pb = (*cb)("DPUT", "k", "from-b", "");
  ASSERT_TRUE(pb && pb->type == REDIS_REPLY_STRING) << Describe(pb);
  Reply da = (*ca)("DGET", "k");
  ASSERT_TRUE(IsDget(da));
  std::string token_a = Str(da->element[0]);

  // A's token is good on A ...
  Reply ok = (*ca)("DPUT", "k", "a2", token_a);
  ASSERT_TRUE(ok && ok->type == REDIS_REPLY_STRING) << Describe(ok);
  // ... and refused by B (different secret), leaving B's key alone.
  EXPECT_TRUE(IsErrorPrefix((*cb)("DPUT", "k", "forged", token_a), "ERR invalid context"));
  EXPECT_TRUE(IsErrorPrefix((*cb)("DDEL", "k", token_a), "ERR invalid context"));
  EXPECT_ALIVE(*cb);
  EXPECT_EQ(Siblings((*cb)("DGET", "k")), (std::vector<std::string>{"from-b"}));
  // A tampered token is refused by its own node as well.
  Reply da2 = (*ca)("DGET", "k");
  EXPECT_TRUE(IsErrorPrefix((*ca)("DPUT", "k", "x", Tamper(Str(da2->element[0]))), "ERR invalid context"));
  EXPECT_EQ(Siblings((*ca)("DGET", "k")), (std::vector<std::string>{"a2"}));
}

// Clients that send one command and wait for its reply (the -P 1 pattern) have their
// commands run together at the end of the poll phase (Server::RunDeferred), beside a client
// that pipelines. In lock step, round after round: every client sees its own commands in
// order and its own writes at once, and nothing is lost or run twice.
TEST_F(SingleNode, OneCommandClientsInLockStepKeepOrder) {
  constexpr int kClients = 24, kRounds = 150, kPipe = 8;
  std::vector<std::unique_ptr<Conn>> conns;
  for (int i = 0; i <= kClients; i++) conns.push_back(std::make_unique<Conn>(server_->port()));
  auto flush = [](Conn& conn) {
    int done = 0;
    while (!done) ASSERT_EQ(redisBufferWrite(conn.raw(), &done), REDIS_OK);
  };
  std::vector<std::string> want(kClients);
  std::string pipe_want;
  for (int r = 0; r < kRounds; r++) {
    for (int i = 0; i < kClients; i++) {
      std::string k = "ls:" + std::to_string(i);
      if (r % 3 == 2) conns[i]->Append({"GET", k});
      else conns[i]->Append({"APPEND", k, std::to_string(r) + ","});
    }
    for (int j = 0; j < kPipe; j++) conns[kClients]->Append({"APPEND", "ls:pipe", std::to_string(r * kPipe + j) + ","});
    for (auto& conn : conns) flush(*conn);
    for (int i = 0; i < kClients; i++) {
      Reply rep = conns[i]->Read();
      ASSERT_TRUE(rep) << "client " << i << " round " << r << ": " << conns[i]->error();
      if (r % 3 == 2) {
        ASSERT_TRUE(IsBulk(rep, want[i])) << "client " << i << " round " << r;
      } else {
        want[i] += std::to_string(r) + ",";
        ASSERT_TRUE(IsInt(rep, static_cast<long long>(want[i].size()))) << "client " << i << " round " << r;
      }
    }
    for (int j = 0; j < kPipe; j++) {
      pipe_want += std::to_string(r * kPipe + j) + ",";
      ASSERT_TRUE(IsInt(conns[kClients]->Read(), static_cast<long long>(pipe_want.size()))) << "round " << r;
    }
  }
  for (int i = 0; i < kClients; i++) EXPECT_TRUE(IsBulk(c()("GET", "ls:" + std::to_string(i)), want[i]));
  EXPECT_TRUE(IsBulk(c()("GET", "ls:pipe"), pipe_want));
}

TEST_F(SingleNode, ConcurrentIncrIsExact) {
  constexpr int kPerThread = 500;
  std::atomic<int> errors{0};
  auto worker = [&] {
    Conn conn(server_->port());
    for (int i = 0; i < kPerThread; i++) {
      Reply r = conn("INCR", "ctr");
      if (!r || r->type != REDIS_REPLY_INTEGER) errors++;
    }
  };
  std::thread t1(worker), t2(worker);
  t1.join();
  t2.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_TRUE(IsBulk(c()("GET", "ctr"), std::to_string(2 * kPerThread)));
  EXPECT_TRUE(IsInt(c()("INCRBY", "ctr", "0"), 2 * kPerThread));
}

}  // namespace
}  // namespace dynakv::itest
