// Ring: balance, minimal movement on join, heterogeneous capacity, preference lists.
#include "cluster/ring.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>
#include <string>

namespace dynakv::cluster {
namespace {

std::vector<Ring::Member> Nodes(int count, int tokens) {
  std::vector<Ring::Member> m;
  for (int i = 0; i < count; ++i) m.push_back({"node-" + std::to_string(i), tokens});
  return m;
}

// Exact primary ownership: the fraction of the hash space each node's arcs cover.
std::map<std::string, double> ArcShares(const Ring& ring) {
  auto toks = ring.Tokens();
  std::map<std::string, double> share;
  for (size_t i = 0; i < toks.size(); ++i) {
    uint64_t prev = toks[(i + toks.size() - 1) % toks.size()].first;
    uint64_t arc = toks[i].first - prev;  // wraps correctly for the first token
    share[toks[i].second] += static_cast<double>(arc) / 18446744073709551616.0;
  }
  return share;
}

// What each node holds as one of the `replicas` owners of each arc (Dynamo: a node stores
// every key it is in the preference list of).
std::map<std::string, double> ReplicaShares(const Ring& ring, size_t replicas) {
  auto toks = ring.Tokens();
  std::map<std::string, double> share;
  std::vector<uint32_t> walk;
  for (size_t i = 0; i < toks.size(); ++i) {
    uint64_t prev = toks[(i + toks.size() - 1) % toks.size()].first;
    double arc = static_cast<double>(toks[i].first - prev) / 18446744073709551616.0;
    ring.Walk(toks[i].first, replicas, &walk);
    for (uint32_t m : walk) share[ring.members()[m].id] += arc / replicas;
  }
  return share;
}

double HeaviestOverMean(const std::map<std::string, double>& share) {
  double heaviest = 0, total = 0;
  for (auto& [id, s] : share) {
    heaviest = std::max(heaviest, s);
    total += s;
  }
  return heaviest / (total / share.size());
}

// Random token placement has a known spread (Cassandra's 256 vnodes): the primary ranges
// alone are within ~1.15x of the mean, the data a node holds with N=3 within 1.1x.
TEST(RingTest, BalancedWith256Tokens) {
  for (int n = 3; n <= 10; ++n) {
    Ring ring;
    ring.Build(Nodes(n, 256));
    auto primary = ArcShares(ring);
    ASSERT_EQ(primary.size(), static_cast<size_t>(n));
    EXPECT_LE(HeaviestOverMean(primary), 1.15) << "n=" << n;
    if (n > 3) { EXPECT_LE(HeaviestOverMean(ReplicaShares(ring, 3)), 1.1) << "n=" << n; }
  }
}

TEST(RingTest, BalancedBySampledKeys) {
  Ring ring;
  ring.Build(Nodes(5, 256));
  std::map<std::string, int> count;
  const int kKeys = 200000;
  for (int i = 0; i < kKeys; ++i) count[ring.PreferenceList("key:" + std::to_string(i), 1)[0]]++;
  int heaviest = 0;
  for (auto& [id, c] : count) heaviest = std::max(heaviest, c);
  EXPECT_LE(heaviest, 1.15 * kKeys / 5);
}

TEST(RingTest, AddingANodeMovesAboutOneInNPlusOneKeysOnlyToIt) {
  for (int n = 3; n <= 8; ++n) {
    Ring before, after;
    before.Build(Nodes(n, 256));
    after.Build(Nodes(n + 1, 256));
    const std::string added = "node-" + std::to_string(n);
    const int kKeys = 50000;
    int moved = 0;
    for (int i = 0; i < kKeys; ++i) {
      std::string k = "k" + std::to_string(i);
      std::string a = before.PreferenceList(k, 1)[0], b = after.PreferenceList(k, 1)[0];
      if (a != b) {
        ++moved;
        EXPECT_EQ(b, added);  // keys only ever move to the newcomer
      }
    }
    double expect = static_cast<double>(kKeys) / (n + 1);
    EXPECT_NEAR(moved, expect, 0.15 * expect) << "n=" << n;
  }
}

TEST(RingTest, TwiceTheTokensHoldsTwiceTheKeys) {
  auto members = Nodes(4, 256);
  members.push_back({"big", 512});
  Ring ring;
  ring.Build(members);
  auto share = ArcShares(ring);
  double small_mean = 0;
  for (auto& [id, s] : share) {
    if (id != "big") small_mean += s / 4;
  }
  EXPECT_NEAR(share["big"] / small_mean, 2.0, 0.25);
}

TEST(RingTest, PreferenceListIsDistinctDeterministicAndOrderIndependent) {
  Ring a, b;
  auto m = Nodes(6, 64);
  a.Build(m);
  std::reverse(m.begin(), m.end());
  b.Build(m);
  EXPECT_EQ(a.Tokens(), b.Tokens());
  for (int i = 0; i < 1000; ++i) {
    std::string k = "x" + std::to_string(i);
    auto p = a.PreferenceList(k, 3);
    ASSERT_EQ(p.size(), 3u);
    EXPECT_EQ(std::set<std::string>(p.begin(), p.end()).size(), 3u);
    EXPECT_EQ(p, b.PreferenceList(k, 3));
    // The fallbacks continue the same walk and never repeat the top N.
    auto next = a.NextAfter(k, 3, 2);
    ASSERT_EQ(next.size(), 2u);
    for (auto& id : next) EXPECT_EQ(std::count(p.begin(), p.end(), id), 0);
    auto five = a.PreferenceList(k, 5);
    EXPECT_EQ(five[3], next[0]);
    EXPECT_EQ(five[4], next[1]);
  }
}

TEST(RingTest, NLargerThanNodesUsesAllNodes) {
  Ring ring;
  ring.Build(Nodes(2, 16));
  EXPECT_EQ(ring.PreferenceList("k", 3).size(), 2u);
  EXPECT_TRUE(ring.NextAfter("k", 3, 2).empty());
  Ring empty;
  EXPECT_TRUE(empty.PreferenceList("k", 3).empty());
}

TEST(RingTest, SameMembers) {
  Ring ring;
  ring.Build(Nodes(3, 8));
  auto m = Nodes(3, 8);
  std::reverse(m.begin(), m.end());
  EXPECT_TRUE(ring.SameMembers(m));
  m[0].tokens = 9;
  EXPECT_FALSE(ring.SameMembers(m));
}

}  // namespace
}  // namespace dynakv::cluster
