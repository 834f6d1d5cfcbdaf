// tests/integration/hash_cluster_test.cc: hashes and sets on a real 3-node cluster (N=3 R=2
// W=2). Hashes:
// fields written through one node are read through the others; HINCRBY through every node
// at once adds up (a PN-counter per field, no lost increment); HDEL and DEL through one node
// are seen by the others; a hash keeps taking writes and reads with one node killed, and the
// restarted node serves them. The replies themselves are compared with redis-server's by
// transcript_test.sh (hash_transcript.txt). Sorted sets: members added through every node at
// once are all there, in one score order through every node; ZREM, ZPOPMIN and ZINCRBY
// through one node are seen by the others; a node down and back.
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

// A flat array reply (HGETALL, ZRANGE ... WITHSCORES) as pairs, in reply order.
std::vector<std::pair<std::string, std::string>> Pairs(const Reply& r) {
  std::vector<std::pair<std::string, std::string>> out;
  EXPECT_TRUE(r && r->type == REDIS_REPLY_ARRAY) << Describe(r);
  if (!r || r->type != REDIS_REPLY_ARRAY) return out;
  for (size_t i = 0; i + 1 < r->elements; i += 2)
    out.emplace_back(std::string(r->element[i]->str, r->element[i]->len),
                     std::string(r->element[i + 1]->str, r->element[i + 1]->len));
  return out;
}

class HashClusterTest : public ThreeNodeTest {
 protected:
  // HGETALL as field -> value pairs, in reply order.
  std::vector<std::pair<std::string, std::string>> GetAll(size_t node, const std::string& key) {
    return Pairs(c(node)("HGETALL", key));
  }
};

TEST_F(HashClusterTest, FieldsWrittenThroughOneNodeAreReadThroughTheOthers) {
  StartCluster();
  for (int k = 0; k < 20; k++) {
    std::string key = "ch:" + std::to_string(k);
    size_t w = size_t(k) % 3;
    ASSERT_TRUE(IsInt(c(w)("HSET", key, "a", "1", "b", std::to_string(k)), 2)) << key;
    ASSERT_TRUE(IsInt(c((w + 1) % 3)("HSET", key, "c", "x"), 1)) << key;
    std::vector<std::pair<std::string, std::string>> want = {{"a", "1"}, {"b", std::to_string(k)}, {"c", "x"}};
    for (size_t r = 0; r < 3; r++) {
      EXPECT_EQ(GetAll(r, key), want) << key << " via node " << r;
      EXPECT_TRUE(IsInt(c(r)("HLEN", key), 3)) << key;
      Reply t = c(r)("TYPE", key);
      ASSERT_TRUE(t && t->type == REDIS_REPLY_STATUS) << Describe(t);
      EXPECT_EQ(std::string(t->str), "hash");
    }
    ASSERT_TRUE(IsInt(c((w + 2) % 3)("HDEL", key, "a", "zz"), 1)) << key;
    for (size_t r = 0; r < 3; r++) EXPECT_TRUE(IsNil(c(r)("HGET", key, "a"))) << key << " via node " << r;
  }
  ASSERT_TRUE(IsInt(c(0)("DEL", "ch:0", "ch:1"), 2));
  for (size_t r = 0; r < 3; r++) {
    EXPECT_TRUE(IsInt(c(r)("EXISTS", "ch:0", "ch:1", "ch:2"), 1)) << "via node " << r;
    EXPECT_TRUE(IsArray(c(r)("HGETALL", "ch:0"), 0)) << "via node " << r;
  }
  // A DEL does not leave old fields behind for the next hash at the key.
  ASSERT_TRUE(IsInt(c(1)("HSET", "ch:0", "new", "1"), 1));
  std::vector<std::pair<std::string, std::string>> only_new = {{"new", "1"}};
  for (size_t r = 0; r < 3; r++) EXPECT_EQ(GetAll(r, "ch:0"), only_new) << "via node " << r;
}

// SCAN ... TYPE over the whole ring, through every node: each key once, only its own type.
TEST_F(HashClusterTest, ScanTypeListsEachTypeAcrossTheRing) {
  StartCluster();
  std::set<std::string> want[3];  // string, hash, set
  for (int k = 0; k < 30; k++) {
    std::string id = std::to_string(k);
    size_t via = size_t(k) % 3;
    ASSERT_TRUE(IsStatus(c(via)("SET", "st:" + id, id), "OK"));
    ASSERT_TRUE(IsInt(c(via)("HSET", "ht:" + id, "f", id), 1));
    ASSERT_TRUE(IsInt(c(via)("SADD", "et:" + id, id), 1));
    want[0].insert("st:" + id);
    want[1].insert("ht:" + id);
    want[2].insert("et:" + id);
  }
  const char* types[3] = {"string", "hash", "set"};
  for (size_t node = 0; node < 3; node++) {
    for (int t = 0; t < 3; t++) {
      std::set<std::string> got;
      std::string cursor = "0";
      for (int page = 0; page < 1000; page++) {
        Reply r = c(node)("SCAN", cursor, "COUNT", "7", "TYPE", types[t]);
        ASSERT_TRUE(r && r->type == REDIS_REPLY_ARRAY && r->elements == 2) << Describe(r);
        cursor.assign(r->element[0]->str, r->element[0]->len);
        for (size_t i = 0; i < r->element[1]->elements; i++) {
          got.emplace(r->element[1]->element[i]->str, r->element[1]->element[i]->len);
        }
        if (cursor == "0") break;
      }
      EXPECT_EQ(cursor, "0");
      EXPECT_EQ(got, want[t]) << types[t] << " via node " << node;
    }
    Reply none = c(node)("SCAN", "0", "COUNT", "1000", "TYPE", "zset");
    ASSERT_TRUE(IsArray(none, 2));
    EXPECT_EQ(none->element[1]->elements, 0u) << "no sorted set exists";
  }
}

// RENAME and COPY of hashes and sets through one node, read through the others; the
// source's elements do not linger under its old name, and a re-created source starts empty.
TEST_F(HashClusterTest, RenameAndCopyCollectionsAcrossNodes) {
  StartCluster();
  ASSERT_TRUE(IsInt(c(0)("HSET", "rh", "a", "1", "b", "2"), 2));
  ASSERT_TRUE(IsInt(c(0)("HINCRBY", "rh", "n", "7"), 7));
  ASSERT_TRUE(IsInt(c(1)("SADD", "rs", "x", "y"), 2));
  ASSERT_TRUE(IsStatus(c(2)("SET", "rstr", "v"), "OK"));
  ASSERT_TRUE(IsStatus(c(0)("RENAME", "rh", "rh2"), "OK"));
  ASSERT_TRUE(IsInt(c(1)("COPY", "rs", "rs2"), 1));
  ASSERT_TRUE(IsStatus(c(2)("RENAME", "rs", "rstr"), "OK"));  // a set over a string
  std::vector<std::pair<std::string, std::string>> want = {{"a", "1"}, {"b", "2"}, {"n", "7"}};
  for (size_t r = 0; r < 3; r++) {
    EXPECT_EQ(GetAll(r, "rh2"), want) << "via node " << r;
    EXPECT_TRUE(IsInt(c(r)("EXISTS", "rh", "rs"), 0)) << "via node " << r;
    EXPECT_TRUE(IsInt(c(r)("SCARD", "rs2"), 2)) << "via node " << r;
    EXPECT_TRUE(IsInt(c(r)("SCARD", "rstr"), 2)) << "via node " << r;
    EXPECT_TRUE(IsInt(c(r)("SISMEMBER", "rstr", "y"), 1)) << "via node " << r;
  }
  EXPECT_TRUE(IsInt(c(1)("HINCRBY", "rh2", "n", "1"), 8));
  ASSERT_TRUE(IsInt(c(2)("HSET", "rh", "only", "1"), 1));
  std::vector<std::pair<std::string, std::string>> fresh = {{"only", "1"}};
  for (size_t r = 0; r < 3; r++) EXPECT_EQ(GetAll(r, "rh"), fresh) << "via node " << r;
}

TEST_F(HashClusterTest, ConcurrentHincrbyThroughEveryNodeAddsUp) {
  StartCluster();
  constexpr int kPerNode = 60;
  std::vector<std::thread> threads;
  std::vector<int> ok(3, 0);
  for (size_t n = 0; n < 3; n++) {
    threads.emplace_back([&, n] {
      Conn conn(cluster_->node(n).port(), 5000);
      for (int i = 0; i < kPerNode; i++) {
        Reply r = conn("HINCRBY", "counter:h", "hits", "1");
        if (r && r->type == REDIS_REPLY_INTEGER) ok[n]++;
      }
    });
  }
  for (auto& t : threads) t.join();
  ASSERT_EQ(ok, std::vector<int>(3, kPerNode)) << "every HINCRBY is acknowledged";
  for (size_t r = 0; r < 3; r++) {
    Reply v = c(r)("HGET", "counter:h", "hits");
    ASSERT_TRUE(v && v->type == REDIS_REPLY_STRING) << Describe(v);
    EXPECT_EQ(std::string(v->str, v->len), std::to_string(3 * kPerNode)) << "via node " << r;
  }
  EXPECT_TRUE(IsErrorPrefix(c(0)("INCR", "counter:h"), "WRONGTYPE"));
  EXPECT_TRUE(IsErrorPrefix(c(1)("GET", "counter:h"), "WRONGTYPE"));
}

// HINCRBYFLOAT makes the field a float counter: increments through every node at once all
// count (a read-and-write-back, as before, lost most of them), and the reply and HGET are
// Redis's text. 0.125 is exact in binary, so the expected text is exact too.
TEST_F(HashClusterTest, ConcurrentHincrbyfloatThroughEveryNodeAddsUp) {
  StartCluster();
  ASSERT_TRUE(IsInt(c(0)("HSET", "counter:f", "amount", "10.5"), 1));
  constexpr int kPerNode = 40;
  std::vector<std::thread> threads;
  std::vector<int> ok(3, 0);
  for (size_t n = 0; n < 3; n++) {
    threads.emplace_back([&, n] {
      Conn conn(cluster_->node(n).port(), 5000);
      for (int i = 0; i < kPerNode; i++) {
        Reply r = conn("HINCRBYFLOAT", "counter:f", "amount", "0.125");
        if (r && r->type == REDIS_REPLY_STRING) ok[n]++;
      }
    });
  }
  for (auto& t : threads) t.join();
  ASSERT_EQ(ok, std::vector<int>(3, kPerNode)) << "every HINCRBYFLOAT is acknowledged";
  for (size_t r = 0; r < 3; r++) {
    Reply v = c(r)("HGET", "counter:f", "amount");
    ASSERT_TRUE(v && v->type == REDIS_REPLY_STRING) << Describe(v);
    EXPECT_EQ(std::string(v->str, v->len), "25.5") << "via node " << r;  // 10.5 + 120 x 0.125
  }
  Reply inc = c(1)("HINCRBYFLOAT", "counter:f", "amount", "0.1");
  ASSERT_TRUE(inc && inc->type == REDIS_REPLY_STRING) << Describe(inc);
  EXPECT_EQ(std::string(inc->str, inc->len), "25.6");  // as Redis formats 25.5 + 0.1 in long double
  EXPECT_TRUE(IsErrorPrefix(c(2)("HINCRBY", "counter:f", "amount", "1"), "ERR hash value is not an integer"));
  ASSERT_TRUE(IsInt(c(2)("HSET", "counter:f", "text", "abc"), 1));
  EXPECT_TRUE(IsErrorPrefix(c(0)("HINCRBYFLOAT", "counter:f", "text", "1"), "ERR hash value is not a float"));
}

TEST_F(HashClusterTest, WritesAndReadsGoOnWithOneNodeDown) {
  StartCluster();
  ASSERT_TRUE(IsInt(c(0)("HSET", "down:h", "before", "1"), 1));
  cluster_->node(2).Kill();
  for (int i = 0; i < 20; i++) {
    ASSERT_TRUE(IsInt(c(i % 2)("HSET", "down:h", "f" + std::to_string(i), "v"), 1)) << i;
  }
  EXPECT_TRUE(IsInt(c(1)("HLEN", "down:h"), 21));
  ASSERT_TRUE(cluster_->node(2).Restart(20s));
  conns_[2] = cluster_->node(2).Connect(5000);
  ASSERT_TRUE(c(2).ok());
  // R=2: the restarted node's read is answered with a replica that has every field.
  Reply len;
  for (int attempt = 0; attempt < 50; attempt++) {
    len = c(2)("HLEN", "down:h");
    if (len && len->type == REDIS_REPLY_INTEGER && len->integer == 21) break;
    std::this_thread::sleep_for(100ms);
  }
  EXPECT_TRUE(IsInt(len, 21));
  EXPECT_EQ(GetAll(2, "down:h").size(), 21u);
}

// Sets: three clients SADD distinct members through the three nodes at once, on a key none
// of them has seen: every member is there through every node (concurrent creations make
// several generations, all live); SREM through one node is seen by the others.
TEST_F(HashClusterTest, SetMembersAddedThroughEveryNodeAtOnceAreAllThere) {
  StartCluster();
  constexpr int kPerNode = 40;
  std::vector<std::thread> threads;
  std::vector<int> ok(3, 0);
  for (size_t n = 0; n < 3; n++) {
    threads.emplace_back([&, n] {
      Conn conn(cluster_->node(n).port(), 5000);
      for (int i = 0; i < kPerNode; i++) {
        Reply r = conn("SADD", "cset", "m" + std::to_string(n) + "-" + std::to_string(i));
        if (r && r->type == REDIS_REPLY_INTEGER && r->integer == 1) ok[n]++;
      }
    });
  }
  for (auto& t : threads) t.join();
  ASSERT_EQ(ok, std::vector<int>(3, kPerNode)) << "every SADD is acknowledged as new";
  for (size_t r = 0; r < 3; r++) {
    EXPECT_TRUE(IsInt(c(r)("SCARD", "cset"), 3 * kPerNode)) << "via node " << r;
    EXPECT_TRUE(IsInt(c(r)("SISMEMBER", "cset", "m2-39"), 1)) << "via node " << r;
  }
  ASSERT_TRUE(IsInt(c(0)("SREM", "cset", "m1-0", "m2-0", "nope"), 2));
  for (size_t r = 0; r < 3; r++) {
    EXPECT_TRUE(IsInt(c(r)("SCARD", "cset"), 3 * kPerNode - 2)) << "via node " << r;
    EXPECT_TRUE(IsInt(c(r)("SISMEMBER", "cset", "m1-0"), 0)) << "via node " << r;
  }
  Reply t = c(2)("TYPE", "cset");
  ASSERT_TRUE(t && t->type == REDIS_REPLY_STATUS) << Describe(t);
  EXPECT_EQ(std::string(t->str), "set");
  EXPECT_TRUE(IsErrorPrefix(c(1)("HGET", "cset", "x"), "WRONGTYPE"));
}

// ZRANGE key 0 -1 WITHSCORES as (member, score) pairs.
std::vector<std::pair<std::string, std::string>> Zrange(Conn& conn, const std::string& key) {
  return Pairs(conn("ZRANGE", key, "0", "-1", "WITHSCORES"));
}

TEST_F(HashClusterTest, SortedSetMembersAddedThroughEveryNodeAtOnceAreAllThereInOneOrder) {
  StartCluster();
  constexpr int kPerNode = 30;
  std::vector<std::thread> threads;
  std::vector<int> ok(3, 0);
  for (size_t n = 0; n < 3; n++) {
    threads.emplace_back([&, n] {
      Conn conn(cluster_->node(n).port(), 5000);
      for (int i = 0; i < kPerNode; i++) {
        // Scores interleave the nodes' members: node n's i-th member scores 3i + n.
        Reply r = conn("ZADD", "board", std::to_string(3 * i + int(n)), "p" + std::to_string(n) + "-" + std::to_string(i));
        if (r && r->type == REDIS_REPLY_INTEGER && r->integer == 1) ok[n]++;
      }
    });
  }
  for (auto& t : threads) t.join();
  ASSERT_EQ(ok, std::vector<int>(3, kPerNode)) << "every ZADD is acknowledged as new";
  std::vector<std::pair<std::string, std::string>> want;
  for (int i = 0; i < kPerNode; i++)
    for (int n = 0; n < 3; n++) want.emplace_back("p" + std::to_string(n) + "-" + std::to_string(i), std::to_string(3 * i + n));
  for (size_t r = 0; r < 3; r++) {
    EXPECT_EQ(Zrange(c(r), "board"), want) << "via node " << r;
    EXPECT_TRUE(IsInt(c(r)("ZCARD", "board"), 3 * kPerNode)) << "via node " << r;
    EXPECT_TRUE(IsInt(c(r)("ZRANK", "board", "p1-10"), 31)) << "via node " << r;
  }
  // Changes through one node are read through the others.
  ASSERT_TRUE(IsInt(c(0)("ZREM", "board", "p0-0", "nope"), 1));
  Reply popped = c(1)("ZPOPMIN", "board");
  ASSERT_TRUE(popped && popped->type == REDIS_REPLY_ARRAY && popped->elements == 2) << Describe(popped);
  EXPECT_EQ(std::string(popped->element[0]->str), "p1-0");
  Reply inc = c(2)("ZINCRBY", "board", "1000.5", "p2-0");
  ASSERT_TRUE(inc && inc->type == REDIS_REPLY_STRING) << Describe(inc);
  EXPECT_EQ(std::string(inc->str), "1002.5");
  for (size_t r = 0; r < 3; r++) {
    EXPECT_TRUE(IsInt(c(r)("ZCARD", "board"), 3 * kPerNode - 2)) << "via node " << r;
    Reply top = c(r)("ZREVRANGE", "board", "0", "0", "WITHSCORES");
    ASSERT_TRUE(top && top->type == REDIS_REPLY_ARRAY && top->elements == 2) << Describe(top);
    EXPECT_EQ(std::string(top->element[0]->str), "p2-0") << "via node " << r;
    EXPECT_EQ(std::string(top->element[1]->str), "1002.5") << "via node " << r;
    Reply t = c(r)("TYPE", "board");
    ASSERT_TRUE(t && t->type == REDIS_REPLY_STATUS) << Describe(t);
    EXPECT_EQ(std::string(t->str), "zset");
  }
  EXPECT_TRUE(IsErrorPrefix(c(1)("SADD", "board", "x"), "WRONGTYPE"));
}

// ZINCRBY is a score counter: 50 increments of 0.5 through each of three nodes at once, on a
// member a ZADD set to 1, give 76 through every node; a ZADD then sets the score again.
TEST_F(HashClusterTest, ConcurrentZincrbyThroughEveryNodeAddsUp) {
  StartCluster();
  ASSERT_TRUE(IsInt(c(0)("ZADD", "zc", "1", "m"), 1));
  constexpr int kPerNode = 50;
  std::vector<std::thread> threads;
  std::vector<int> ok(3, 0);
  for (size_t n = 0; n < 3; n++) {
    threads.emplace_back([&, n] {
      Conn conn(cluster_->node(n).port(), 5000);
      for (int i = 0; i < kPerNode; i++) {
        Reply r = n == 0 ? conn("ZINCRBY", "zc", "0.5", "m") : conn("ZADD", "zc", "INCR", "0.5", "m");
        if (r && r->type == REDIS_REPLY_STRING) ok[n]++;
      }
    });
  }
  for (auto& t : threads) t.join();
  ASSERT_EQ(ok, std::vector<int>(3, kPerNode)) << "every increment is acknowledged";
  for (size_t r = 0; r < 3; r++) {
    Reply v = c(r)("ZSCORE", "zc", "m");
    ASSERT_TRUE(v && v->type == REDIS_REPLY_STRING) << Describe(v);
    EXPECT_EQ(std::string(v->str, v->len), "76") << "via node " << r;
  }
  ASSERT_TRUE(IsInt(c(1)("ZADD", "zc", "CH", "3", "m"), 1));
  for (size_t r = 0; r < 3; r++) {
    Reply v = c(r)("ZSCORE", "zc", "m");
    ASSERT_TRUE(v && v->type == REDIS_REPLY_STRING) << Describe(v);
    EXPECT_EQ(std::string(v->str, v->len), "3") << "via node " << r;
  }
  Reply inc = c(2)("ZINCRBY", "zc", "2", "m");
  ASSERT_TRUE(inc && inc->type == REDIS_REPLY_STRING) << Describe(inc);
  EXPECT_EQ(std::string(inc->str, inc->len), "5");
}

// A sorted set or hash created through three nodes at once can have several live
// generations, a member's score (a field's value) in one of them; ZINCRBY (HINCRBY,
// HINCRBYFLOAT) then still starts from that value. 20 keys of each, each created by three concurrent writes
// released together, then one increment per key. Without IncrementAcross every run failed.
TEST_F(HashClusterTest, IncrementsAfterAConcurrentCreationStartFromTheValue) {
  StartCluster();
  constexpr int kKeys = 20;
  for (const char* kind : {"zset", "hash", "float"}) {
    const bool zset = std::string(kind) == "zset", fl = std::string(kind) == "float";
    for (int k = 0; k < kKeys; k++) {
      std::string key = std::string("mg:") + kind + ":" + std::to_string(k);
      std::atomic<int> ready{0};
      std::vector<std::thread> threads;
      for (size_t n = 0; n < 3; n++) {
        threads.emplace_back([&, n] {
          ready++;
          while (ready.load() < 3) std::this_thread::yield();
          std::string m = "m" + std::to_string(n), v = std::to_string(n + 1);
          Reply r = zset ? c(n)("ZADD", key, v, m) : c(n)("HSET", key, m, v);
          EXPECT_TRUE(IsInt(r, 1)) << key << Describe(r);
        });
      }
      for (auto& t : threads) t.join();
    }
    for (int k = 0; k < kKeys; k++) {
      std::string key = std::string("mg:") + kind + ":" + std::to_string(k);
      int m = k % 3;
      std::string member = "m" + std::to_string(m);
      Reply inc = zset ? c((k + 1) % 3)("ZINCRBY", key, "10", member)
                  : fl ? c((k + 1) % 3)("HINCRBYFLOAT", key, member, "10.5")
                       : c((k + 1) % 3)("HINCRBY", key, member, "10");
      ASSERT_TRUE(inc && (inc->type == REDIS_REPLY_STRING || inc->type == REDIS_REPLY_INTEGER)) << Describe(inc);
      const std::string want = fl ? std::to_string(m + 11) + ".5" : std::to_string(m + 11);
      if (zset || fl) EXPECT_EQ(std::string(inc->str, inc->len), want) << key;
      else EXPECT_EQ(inc->integer, m + 11) << key;
      for (size_t r = 0; r < 3; r++) {
        Reply v = zset ? c(r)("ZSCORE", key, member) : c(r)("HGET", key, member);
        ASSERT_TRUE(v && v->type == REDIS_REPLY_STRING) << Describe(v);
        EXPECT_EQ(std::string(v->str, v->len), want) << key << " via node " << r;
        EXPECT_TRUE(IsInt(c(r)(zset ? "ZCARD" : "HLEN", key), 3)) << key;
      }
    }
  }
}

// Many concurrent adds to one collection through one node, as redis-benchmark -t hset -P 16
// -c 50 makes them: every add is acknowledged and present through every node, with the
// header writes coalesced per key and the creating burst sharing one generation. (The
// failure that coalescing fixed, "too many siblings" on the header, needed
// redis-benchmark's continuous load; this test's rounds do not reproduce it, and take 4.3 s
// instead of 2.4 s without coalescing.) 50 connections x 16 pipelined commands, 6 times.
TEST_F(HashClusterTest, ManyConcurrentAddsToOneKeyThroughOneNode) {
  StartCluster();
  constexpr int kConns = 50, kDepth = 16, kRounds = 6;
  for (const char* cmd : {"HSET", "SADD", "ZADD"}) {
    const std::string c_str = cmd;
    std::string key = "burst:" + c_str;
    std::vector<std::unique_ptr<Conn>> conns;
    for (int i = 0; i < kConns; i++) conns.push_back(cluster_->node(0).Connect(10000));
    int ok = 0;
    for (int round = 0; round < kRounds; round++) {
      for (int i = 0; i < kConns; i++) {
        for (int j = 0; j < kDepth; j++) {
          std::string m = "m" + std::to_string(round) + "-" + std::to_string(i) + "-" + std::to_string(j);
          if (c_str == "HSET") conns[i]->Append({cmd, key, m, "v"});
          else if (c_str == "SADD") conns[i]->Append({cmd, key, m});
          else conns[i]->Append({cmd, key, std::to_string(j), m});
        }
      }
      for (int i = 0; i < kConns; i++) {
        for (int j = 0; j < kDepth; j++) {
          Reply r = conns[i]->Read();
          if (IsInt(r, 1)) ok++;
          else if (ok >= 0) ADD_FAILURE() << cmd << " " << Describe(r);
        }
      }
    }
    EXPECT_EQ(ok, kConns * kDepth * kRounds) << cmd;
    const char* count = c_str == "HSET" ? "HLEN" : c_str == "SADD" ? "SCARD" : "ZCARD";
    for (size_t r = 0; r < 3; r++) EXPECT_TRUE(IsInt(c(r)(count, key), kConns * kDepth * kRounds)) << cmd << " via node " << r;
  }
}

TEST_F(HashClusterTest, SortedSetWritesGoOnWithOneNodeDown) {
  StartCluster();
  ASSERT_TRUE(IsInt(c(0)("ZADD", "down:z", "0", "before"), 1));
  cluster_->node(2).Kill();
  for (int i = 0; i < 20; i++) {
    ASSERT_TRUE(IsInt(c(i % 2)("ZADD", "down:z", std::to_string(i + 1), "m" + std::to_string(i)), 1)) << i;
  }
  ASSERT_TRUE(cluster_->node(2).Restart(20s));
  conns_[2] = cluster_->node(2).Connect(5000);
  ASSERT_TRUE(c(2).ok());
  Reply n;
  for (int attempt = 0; attempt < 50; attempt++) {
    n = c(2)("ZCOUNT", "down:z", "-inf", "+inf");
    if (n && n->type == REDIS_REPLY_INTEGER && n->integer == 21) break;
    std::this_thread::sleep_for(100ms);
  }
  EXPECT_TRUE(IsInt(n, 21));
  auto all = Zrange(c(2), "down:z");
  ASSERT_EQ(all.size(), 21u);
  EXPECT_EQ(all.front().first, "before");
  EXPECT_EQ(all.back(), std::make_pair(std::string("m19"), std::string("20")));
}

}  // namespace
}  // namespace dynakv::itest
