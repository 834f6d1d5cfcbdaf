// tests/integration/keyspace_test.cc: [[keyspace]] policies on a real 3-node cluster
// (default N=3 R=2 W=2): DYNAMO KEYSPACES and the fingerprint in INFO agree on every node;
// a key's preference list has its keyspace's n; an n = 1 key lives on one node only (its
// reads fail while that node is down and work again after its restart, while a default key
// stays readable throughout); conflict = "lww" keeps one value where the default keeps
// siblings; a bad [[keyspace]] entry stops start-up with the file, the entry and the reason.
#include <algorithm>
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

constexpr const char* kPolicies = R"(
[[keyspace]]
prefix = "cache:"
n = 1
conflict = "lww"

[[keyspace]]
prefix = "pair:"
n = 2
r = 1
w = 2
)";

class KeyspaceClusterTest : public ThreeNodeTest {
 protected:
  void SetUp() override { StartCluster(kPolicies); }
  std::vector<std::string> Preflist(size_t via, const std::string& key) {
    std::vector<std::string> ids;
    Reply r = c(via)("DYNAMO", "PREFLIST", key);
    EXPECT_TRUE(r && r->type == REDIS_REPLY_ARRAY) << Describe(r);
    for (size_t i = 0; r && i < r->elements; i++) ids.emplace_back(r->element[i]->str, r->element[i]->len);
    return ids;
  }
  // The values DGET shows (the siblings), sorted.
  std::vector<std::string> Siblings(size_t via, const std::string& key) {
    Reply r = c(via)("DGET", key, "R", "2");
    std::vector<std::string> out;
    EXPECT_TRUE(r && r->type == REDIS_REPLY_ARRAY && r->elements == 2) << Describe(r);
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2) return out;
    for (size_t i = 0; i < r->element[1]->elements; i++) {
      out.emplace_back(r->element[1]->element[i]->str, r->element[1]->element[i]->len);
    }
    std::sort(out.begin(), out.end());
    return out;
  }
};

TEST_F(KeyspaceClusterTest, EveryNodeListsThePoliciesAndTheSameFingerprint) {
  std::string fp;
  for (size_t i = 0; i < 3; i++) {
    Reply r = c(i)("DYNAMO", "KEYSPACES");
    ASSERT_TRUE(r && r->type == REDIS_REPLY_ARRAY && r->elements == 3) << Describe(r);
    auto row = [&](size_t k) {
      const redisReply* e = r->element[k];
      EXPECT_EQ(e->elements, 5u);
      return std::string(e->element[0]->str, e->element[0]->len) + "/" +
             std::to_string(e->element[1]->integer) + "/" + std::to_string(e->element[2]->integer) + "/" +
             std::to_string(e->element[3]->integer) + "/" +
             std::string(e->element[4]->str, e->element[4]->len);
    };
    EXPECT_EQ(row(0), "/3/2/2/siblings");
    EXPECT_EQ(row(1), "cache:/1/1/1/lww");  // longest prefix first; r and w capped at n
    EXPECT_EQ(row(2), "pair:/2/1/2/siblings");
    Reply info = c(i)("INFO", "dynamo");
    ASSERT_TRUE(info && info->type == REDIS_REPLY_STRING) << Describe(info);
    std::string text(info->str, info->len);
    size_t at = text.find("keyspace_fingerprint:");
    ASSERT_NE(at, std::string::npos) << text;
    std::string mine = text.substr(at, text.find('\r', at) - at);
    if (i == 0) fp = mine;
    EXPECT_EQ(mine, fp) << "node " << i;
    EXPECT_NE(text.find("keyspaces:2\r\n"), std::string::npos) << text;
  }
  EXPECT_TRUE(IsErrorPrefix(c(0)("DYNAMO", "KEYSPACES", "extra"), "ERR"));
}

TEST_F(KeyspaceClusterTest, PreferenceListsHaveTheKeyspacesN) {
  for (size_t i = 0; i < 3; i++) {
    EXPECT_EQ(Preflist(i, "cache:a").size(), 1u);
    EXPECT_EQ(Preflist(i, "pair:a").size(), 2u);
    EXPECT_EQ(Preflist(i, "other:a").size(), 3u);
    EXPECT_EQ(Preflist(i, "cache:a"), Preflist(0, "cache:a"));
  }
  // A write that asks for more copies than the key's n is refused as bad input.
  EXPECT_TRUE(IsErrorPrefix(c(0)("DPUT", "cache:w", "v", "", "W", "2"), "ERR"));
  EXPECT_TRUE(IsErrorPrefix(c(0)("DGET", "pair:w", "R", "3"), "ERR"));
}

TEST_F(KeyspaceClusterTest, AnOneCopyKeyIsOnItsOneNodeOnly) {
  // Keys on each node, so whichever node is killed holds some.
  std::vector<std::string> keys;
  for (int i = 0; i < 30; i++) keys.push_back("cache:k" + std::to_string(i));
  for (size_t i = 0; i < keys.size(); i++) {
    ASSERT_TRUE(IsStatus(c(i % 3)("SET", keys[i], "v" + std::to_string(i)), "OK")) << keys[i];
    ASSERT_TRUE(IsStatus(c(i % 3)("SET", "plain:" + keys[i], "p"), "OK"));
  }
  const std::string victim = "n2";
  std::set<std::string> on_victim;
  for (auto& k : keys) {
    if (Preflist(0, k).at(0) == victim) on_victim.insert(k);
  }
  ASSERT_FALSE(on_victim.empty());
  ASSERT_LT(on_victim.size(), keys.size());
  cluster_->node(1).Kill();
  for (size_t i = 0; i < keys.size(); i++) {
    Reply r = c(0)("GET", keys[i]);
    if (on_victim.count(keys[i])) {
      // Its only copy is down: a clear error, not a stale or missing value.
      EXPECT_TRUE(IsErrorPrefix(r, "UNAVAILABLE")) << keys[i] << ": " << Describe(r);
    } else {
      EXPECT_TRUE(IsBulk(r, "v" + std::to_string(i))) << keys[i];
    }
    EXPECT_TRUE(IsBulk(c(2)("GET", "plain:" + keys[i]), "p"));  // N = 3 keys read on
  }
  ASSERT_TRUE(cluster_->node(1).Restart());
  ASSERT_TRUE(cluster_->WaitAllUp(15s));
  for (size_t i = 0; i < keys.size(); i++) {
    EXPECT_TRUE(WaitUntil([&] { return bool(IsBulk(c(0)("GET", keys[i]), "v" + std::to_string(i))); }, 5s))
        << keys[i];
  }
}

TEST_F(KeyspaceClusterTest, LastWriterWinsKeepsOneValueWhereSiblingsKeepBoth) {
  // Two writes through two nodes, each with the empty context: concurrent.
  for (std::string key : {"cache:lww", "pair:dvv"}) {
    Reply first = c(0)("DPUT", key, "first", "");
    ASSERT_TRUE(first && first->type == REDIS_REPLY_STRING) << Describe(first);
    std::this_thread::sleep_for(5ms);
    Reply second = c(2)("DPUT", key, "second", "");
    ASSERT_TRUE(second && second->type == REDIS_REPLY_STRING) << Describe(second);
  }
  Reply lww = c(1)("DGET", "cache:lww");
  ASSERT_TRUE(lww && lww->type == REDIS_REPLY_ARRAY && lww->elements == 2) << Describe(lww);
  ASSERT_EQ(lww->element[1]->elements, 1u) << Describe(lww);
  EXPECT_EQ(std::string(lww->element[1]->element[0]->str), "second");
  EXPECT_TRUE(IsBulk(c(0)("GET", "cache:lww"), "second"));
  EXPECT_EQ(Siblings(1, "pair:dvv"), (std::vector<std::string>{"first", "second"}));
  // INCR under lww: one value, and a later SET replaces it whatever the context.
  EXPECT_TRUE(IsInt(c(0)("INCR", "cache:n"), 1));
  EXPECT_TRUE(IsInt(c(1)("INCR", "cache:n"), 2));
  EXPECT_TRUE(IsStatus(c(2)("SET", "cache:n", "10"), "OK"));
  EXPECT_TRUE(IsBulk(c(0)("GET", "cache:n"), "10"));
  // DEL is a write like the others.
  EXPECT_TRUE(IsInt(c(1)("DEL", "cache:lww"), 1));
  EXPECT_TRUE(IsNil(c(2)("GET", "cache:lww")));
}

TEST(KeyspaceConfigTest, BadEntriesStopStartUpWithTheFileAndTheReason) {
  struct Case {
    std::string toml, want;
  };
  std::vector<Case> cases = {
      {"[[keyspace]]\nn = 2\n", "prefix: missing"},
      {"[[keyspace]]\nprefix = \"a\"\nconflict = \"crdt\"\n", "conflict: must be siblings or lww"},
      {"[[keyspace]]\nprefix = \"a\"\nn = 2\n", "needs listen.cluster"},  // standalone
      {"[[keyspace]]\nprefix = \"a\"\nn = 1\nr = 2\n", "must be in 1..n"},
      {"[keyspace]\nprefix = \"a\"\n", "[[keyspace]]"},
  };
  for (auto& tc : cases) {
    TempDir dir;
    std::string path = dir.Write("bad.toml", tc.toml);
    RunResult r = RunBinary({"--config", path, "--port", std::to_string(PickFreePort())}, 10s);
    ASSERT_TRUE(r.exit.exited) << tc.toml;
    EXPECT_NE(r.exit.code, 0) << tc.toml;
    EXPECT_NE(r.err.find(tc.want), std::string::npos) << tc.toml << "\n" << r.err;
    EXPECT_NE(r.err.find("bad.toml"), std::string::npos) << r.err;
  }
}

}  // namespace
}  // namespace dynakv::itest
