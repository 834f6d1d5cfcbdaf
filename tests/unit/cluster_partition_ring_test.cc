// PartitionRing: Redis slot hashing, balance, movement per join, zones, weights, walks.
#include "cluster/partition_ring.h"

#include <gtest/gtest.h>
#include <xxhash.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <set>
#include <string>
#include <vector>

namespace dynakv::cluster {
namespace {

using Member = PartitionRing::Member;

std::vector<Member> Nodes(int count, uint32_t weight = 100) {
  std::vector<Member> m;
  for (int i = 0; i < count; ++i) m.push_back({"node-" + std::to_string(i), weight, ""});
  return m;
}

PartitionRing Built(std::vector<Member> members, size_t n) {
  PartitionRing r;
  r.Build(std::move(members), n);
  return r;
}

// Bit-at-a-time CRC16-XMODEM, independent of the table the module uses.
uint16_t ReferenceCrc16(std::string_view s) {
  uint16_t crc = 0;
  for (unsigned char c : s) {
    crc ^= static_cast<uint16_t>(c << 8);
    for (int b = 0; b < 8; ++b) {
      crc = (crc & 0x8000) ? static_cast<uint16_t>((crc << 1) ^ 0x1021)
                           : static_cast<uint16_t>(crc << 1);
    }
  }
  return crc;
}

// The ids of partition p's owners (ids, not indexes: indexes shift when members change).
std::set<std::string> OwnerIds(const PartitionRing& r, uint32_t p) {
  std::set<std::string> ids;
  for (uint32_t m : r.Owners(p)) ids.insert(r.members()[m].id);
  return ids;
}

double HeaviestOverMean(const PartitionRing& r) {
  auto load = r.Load();
  double total = 0, heaviest = 0;
  for (uint32_t l : load) {
    total += l;
    heaviest = std::max<double>(heaviest, l);
  }
  return heaviest / (total / static_cast<double>(load.size()));
}

// --- slots -------------------------------------------------------------------------------

TEST(Crc16Test, RedisCheckValue) {
  EXPECT_EQ(Crc16("123456789"), 0x31C3);  // the value Redis's crc16.c documents
  EXPECT_EQ(Crc16(""), 0);
  EXPECT_EQ(Crc16("foo"), 0xAF96);
}

TEST(Crc16Test, MatchesBitwiseReference) {
  std::mt19937 rng(7);
  for (int i = 0; i < 2000; ++i) {
    std::string s(rng() % 64, '\0');
    for (auto& c : s) c = static_cast<char>(rng());
    ASSERT_EQ(Crc16(s), ReferenceCrc16(s)) << "length " << s.size();
  }
}

TEST(KeySlotTest, RedisExamples) {
  EXPECT_EQ(KeyPartition("foo"), 12182u);
  EXPECT_EQ(KeyPartition("bar"), 5061u);
  EXPECT_EQ(KeyPartition("123456789"), 0x31C3u % 16384);
  EXPECT_EQ(KeyPartition(""), 0u);
  for (int i = 0; i < 1000; ++i) {
    std::string k = "key:" + std::to_string(i);
    ASSERT_LT(KeyPartition(k), kPartitions);
    ASSERT_EQ(KeyPartition(k), ReferenceCrc16(k) % 16384u);
  }
}

TEST(KeySlotTest, HashTags) {
  const uint32_t user = KeyPartition("user1000");
  EXPECT_EQ(user, 3443u);
  EXPECT_EQ(KeyPartition("{user1000}.following"), user);
  EXPECT_EQ(KeyPartition("{user1000}.followers"), user);
  EXPECT_EQ(KeyPartition("x{user1000}y{z}"), user);  // only the first {...} counts
  // Empty first tag: the whole key, even though a later tag is not empty.
  EXPECT_EQ(KeyPartition("foo{}{bar}"), 8363u);
  EXPECT_NE(KeyPartition("foo{}{bar}"), KeyPartition("bar"));
  // The tag runs from the first '{' to the first '}' after it.
  EXPECT_EQ(KeyPartition("foo{{bar}}zap"), KeyPartition("{bar"));
  EXPECT_EQ(KeyPartition("foo{{bar}}zap"), 4015u);
  EXPECT_EQ(KeyPartition("foo{bar}{zap}"), KeyPartition("bar"));
  EXPECT_EQ(KeyPartition("{}"), 15257u);  // whole key
  EXPECT_EQ(KeyPartition("{"), ReferenceCrc16("{") % 16384u);
  EXPECT_EQ(KeyPartition("}{"), ReferenceCrc16("}{") % 16384u);  // '}' before '{'
  EXPECT_EQ(KeyPartition("a{b"), ReferenceCrc16("a{b") % 16384u);
}

// --- placement ---------------------------------------------------------------------------

TEST(PartitionRingTest, BalancedWithEqualWeights) {
  for (int k = 3; k <= 64; ++k) {
    auto r = Built(Nodes(k), 3);
    double ratio = HeaviestOverMean(r);
    if (k <= 8 || k % 8 == 0) std::printf("  balance %2d nodes: heaviest/mean %.4f\n", k, ratio);
    EXPECT_LE(ratio, k <= 16 ? 1.05 : 1.10) << k << " nodes";
    // Tighter: the load cap itself (plain rendezvous passes the line above for these ids but
    // reaches 1.089 at 62 nodes; this catches a cap that stopped working).
    EXPECT_LE(ratio, PartitionRing::kLoadCapPercent / 100.0 + 1e-9) << k << " nodes";
    // Nobody starves either.
    auto load = r.Load();
    EXPECT_GE(*std::min_element(load.begin(), load.end()), 0.9 * 3 * kPartitions / k)
        << k << " nodes";
  }
}

TEST(PartitionRingTest, EveryListHasNDistinctMembers) {
  auto r = Built(Nodes(10), 3);
  for (uint32_t p = 0; p < kPartitions; ++p) {
    auto o = r.Owners(p);
    ASSERT_EQ(o.size(), 3u);
    ASSERT_EQ(std::set<uint32_t>(o.begin(), o.end()).size(), 3u) << p;
    for (uint32_t m : o) ASSERT_LT(m, r.node_count());
  }
}

// A join moves about 1/(k+1) of the replicas (the newcomer's share) and little else.
TEST(PartitionRingTest, AJoinMovesAboutOneInKPlusOne) {
  double worst = 0;
  PartitionRing before = Built(Nodes(3), 3);
  for (int k = 3; k <= 63; ++k) {
    PartitionRing after = Built(Nodes(k + 1), 3);
    const std::string added = "node-" + std::to_string(k);
    size_t moved = 0, to_newcomer = 0;
    for (uint32_t p = 0; p < kPartitions; ++p) {
      auto old_ids = OwnerIds(before, p);
      for (const auto& id : OwnerIds(after, p)) {
        if (old_ids.count(id) == 0) {
          ++moved;
          to_newcomer += id == added;
        }
      }
    }
    const double total = 3.0 * kPartitions;
    double scaled = moved / total * (k + 1);  // 1.0 = exactly the newcomer's fair share
    worst = std::max(worst, scaled);
    if (k % 10 == 3 || k == 63) {
      std::printf("  join %2d -> %2d: moved %zu of %.0f replicas = %.4f/(k+1), %zu to newcomer\n",
                  k, k + 1, moved, total, scaled, to_newcomer);
    }
    EXPECT_LE(scaled, 1.1) << "join " << k << " -> " << k + 1;
    EXPECT_GE(to_newcomer, 0.9 * total / (k + 1)) << "join " << k << " -> " << k + 1;
    before = std::move(after);
  }
  std::printf("  worst join movement: %.4f/(k+1)\n", worst);
}

TEST(PartitionRingTest, ReplicasSpanZones) {
  std::vector<Member> m;
  for (int i = 0; i < 9; ++i) {
    m.push_back({"node-" + std::to_string(i), 100, "zone-" + std::to_string(i % 3)});
  }
  auto r = Built(m, 3);
  for (uint32_t p = 0; p < kPartitions; ++p) {
    std::set<std::string> zones;
    for (uint32_t o : r.Owners(p)) zones.insert(r.members()[o].zone);
    ASSERT_EQ(zones.size(), 3u) << "partition " << p;
  }
  double ratio = HeaviestOverMean(r);
  std::printf("  9 nodes in 3 zones: heaviest/mean %.4f\n", ratio);
  EXPECT_LE(ratio, 1.05);
}

TEST(PartitionRingTest, FewerZonesThanReplicasUsesAllZones) {
  std::vector<Member> m;
  for (int i = 0; i < 6; ++i) {
    m.push_back({"node-" + std::to_string(i), 100, i % 2 ? "east" : "west"});
  }
  auto r = Built(m, 3);
  for (uint32_t p = 0; p < kPartitions; ++p) {
    auto o = r.Owners(p);
    ASSERT_EQ(o.size(), 3u);
    ASSERT_EQ(std::set<uint32_t>(o.begin(), o.end()).size(), 3u);
    std::set<std::string> zones;
    for (uint32_t x : o) zones.insert(r.members()[x].zone);
    ASSERT_EQ(zones.size(), 2u) << "partition " << p;
  }
}

TEST(PartitionRingTest, MembersWithoutAZoneAreEachTheirOwnZone) {
  // Two in zone "a", three without a zone, n=3: never two "a" nodes in one list, and the
  // zoneless nodes may share a list with each other.
  std::vector<Member> m = {
      {"a1", 100, "a"}, {"a2", 100, "a"}, {"x", 100, ""}, {"y", 100, ""}, {"z", 100, ""}};
  auto r = Built(m, 3);
  size_t all_zoneless = 0;
  for (uint32_t p = 0; p < kPartitions; ++p) {
    int in_a = 0;
    for (uint32_t o : r.Owners(p)) in_a += r.members()[o].zone == "a";
    ASSERT_LE(in_a, 1) << "partition " << p;
    all_zoneless += in_a == 0;
  }
  EXPECT_GT(all_zoneless, 0u);
}

TEST(PartitionRingTest, DeterministicAndOrderIndependent) {
  auto m = Nodes(12);
  m[3].weight = 250;
  m[5].zone = "z1";
  m[6].zone = "z1";
  auto a = Built(m, 3);
  std::reverse(m.begin(), m.end());
  auto b = Built(m, 3);
  std::shuffle(m.begin(), m.end(), std::mt19937(42));
  auto c = Built(m, 3);
  ASSERT_EQ(a.members(), b.members());
  EXPECT_EQ(a.Fingerprint(), b.Fingerprint());
  EXPECT_EQ(a.Fingerprint(), c.Fingerprint());
  for (uint32_t p = 0; p < kPartitions; ++p) {
    auto oa = a.Owners(p), ob = b.Owners(p), oc = c.Owners(p);
    ASSERT_TRUE(std::equal(oa.begin(), oa.end(), ob.begin(), ob.end())) << p;
    ASSERT_TRUE(std::equal(oa.begin(), oa.end(), oc.begin(), oc.end())) << p;
  }
}

// Nodes of one cluster must compute the same table; a change to the placement rules must
// come with a new kPlacementVersion. This pins the equal-weight table (integer-only path).
TEST(PartitionRingTest, PlacementIsPinned) {
  auto r = Built(Nodes(5), 3);
  std::vector<uint32_t> table;
  for (uint32_t p = 0; p < kPartitions; ++p) {
    auto o = r.Owners(p);
    table.insert(table.end(), o.begin(), o.end());
  }
  uint64_t h = XXH3_64bits(table.data(), table.size() * sizeof(uint32_t));
  EXPECT_EQ(PartitionRing::kPlacementVersion, 1u);
  EXPECT_EQ(h, 0xa3e59a3a6253aaccull)
      << std::hex << "table hash 0x" << h
      << ": placement changed; bump kPlacementVersion and update this value";
}

// Loosely (within 15%): with n > 1 a heavy node in a small cluster holds less than its
// proportional share (see partition_ring.h), so this uses nine nodes.
TEST(PartitionRingTest, TwiceTheWeightHoldsAboutTwiceTheReplicas) {
  for (size_t n : {1, 3}) {
    auto m = Nodes(8);
    m.push_back({"big", 200, ""});
    auto r = Built(m, n);
    auto load = r.Load();
    double small = 0, big = 0;
    for (size_t i = 0; i < load.size(); ++i) {
      if (r.members()[i].id == "big") {
        big = load[i];
      } else {
        small += load[i] / 8.0;
      }
    }
    std::printf("  n=%zu: weight 200 vs 100 holds %.3fx\n", n, big / small);
    EXPECT_NEAR(big / small, 2.0, 0.3) << "n=" << n;
  }
}

TEST(PartitionRingTest, OwnersArePrefixOfWalkAndWalkListsEveryMemberOnce) {
  auto m = Nodes(7);
  m[2].weight = 300;
  m[4].zone = "z";
  m[5].zone = "z";
  auto r = Built(m, 3);
  std::vector<uint32_t> walk;
  for (uint32_t p = 0; p < kPartitions; p += 7) {
    auto o = r.Owners(p);
    r.Walk(p, 100, &walk);
    ASSERT_EQ(walk.size(), 7u);
    ASSERT_TRUE(std::equal(o.begin(), o.end(), walk.begin())) << p;
    ASSERT_EQ(std::set<uint32_t>(walk.begin(), walk.end()).size(), 7u) << p;
    // A shorter walk is a prefix of the longer one.
    std::vector<uint32_t> five, two;
    r.Walk(p, 5, &five);
    r.Walk(p, 2, &two);
    ASSERT_TRUE(std::equal(five.begin(), five.end(), walk.begin()));
    ASSERT_TRUE(std::equal(two.begin(), two.end(), walk.begin()));
  }
  r.Walk(0, 0, &walk);
  EXPECT_TRUE(walk.empty());
}

TEST(PartitionRingTest, NLargerThanMemberCountUsesEveryMember) {
  auto r = Built(Nodes(2), 3);
  EXPECT_EQ(r.n(), 3u);
  EXPECT_EQ(r.node_count(), 2u);
  for (uint32_t p = 0; p < kPartitions; ++p) {
    auto o = r.Owners(p);
    ASSERT_EQ(o.size(), 2u);
    ASSERT_NE(o[0], o[1]);
  }
  EXPECT_EQ(r.Load(), (std::vector<uint32_t>{kPartitions, kPartitions}));
  std::vector<uint32_t> walk;
  r.Walk(9, 10, &walk);
  EXPECT_EQ(walk.size(), 2u);
}

TEST(PartitionRingTest, SingleMemberOwnsEverything) {
  auto r = Built({{"solo", 100, "z"}}, 3);
  for (uint32_t p = 0; p < kPartitions; ++p) {
    auto o = r.Owners(p);
    ASSERT_EQ(o.size(), 1u);
    ASSERT_EQ(o[0], 0u);
  }
  EXPECT_EQ(r.Load(), std::vector<uint32_t>{kPartitions});
}

TEST(PartitionRingTest, EmptyRing) {
  PartitionRing fresh;
  EXPECT_TRUE(fresh.empty());
  EXPECT_TRUE(fresh.Owners(0).empty());
  auto r = Built({}, 3);
  EXPECT_TRUE(r.empty());
  EXPECT_EQ(r.node_count(), 0u);
  EXPECT_TRUE(r.Owners(kPartitions - 1).empty());
  std::vector<uint32_t> walk = {1, 2};
  r.Walk(5, 3, &walk);
  EXPECT_TRUE(walk.empty());
  EXPECT_TRUE(r.Load().empty());
  // n=0 gives empty lists too.
  auto zero = Built(Nodes(3), 0);
  EXPECT_TRUE(zero.Owners(0).empty());
}

TEST(PartitionRingTest, NormalizesMembersAndComparesThem) {
  std::vector<Member> m = {{"b", 0, ""}, {"a", 100, "z"}, {"c", 99999, ""}, {"a", 300, "y"}};
  auto r = Built(m, 3);
  ASSERT_EQ(r.node_count(), 3u);
  EXPECT_EQ(r.members()[0], (Member{"a", 300, "y"}));  // last duplicate wins
  EXPECT_EQ(r.members()[1].weight, 1u);                // clamped up
  EXPECT_EQ(r.members()[2].weight, PartitionRing::kMaxWeight);

  EXPECT_TRUE(r.SameMembers(m, 3));
  std::vector<Member> same = {{"c", PartitionRing::kMaxWeight, ""}, {"a", 300, "y"}, {"b", 1, ""}};
  EXPECT_TRUE(r.SameMembers(same, 3));
  EXPECT_FALSE(r.SameMembers(same, 2));
  auto other = same;
  other[1].weight = 301;
  EXPECT_FALSE(r.SameMembers(other, 3));
  other = same;
  other[1].zone = "x";
  EXPECT_FALSE(r.SameMembers(other, 3));
  other = same;
  other.pop_back();
  EXPECT_FALSE(r.SameMembers(other, 3));

  // The fingerprint follows the same notion of sameness.
  EXPECT_EQ(Built(same, 3).Fingerprint(), r.Fingerprint());
  EXPECT_NE(Built(same, 2).Fingerprint(), r.Fingerprint());
  other = same;
  other[1].zone = "x";
  EXPECT_NE(Built(other, 3).Fingerprint(), r.Fingerprint());
  other = same;
  other[1].weight = 301;
  EXPECT_NE(Built(other, 3).Fingerprint(), r.Fingerprint());
}

TEST(PartitionRingTest, BuildIsFast) {
  auto m = Nodes(64);
  double best_ms = 1e9;
  for (int i = 0; i < 3; ++i) {
    PartitionRing r;
    auto t0 = std::chrono::steady_clock::now();
    r.Build(m, 3);
    auto t1 = std::chrono::steady_clock::now();
    best_ms = std::min(best_ms, std::chrono::duration<double, std::milli>(t1 - t0).count());
  }
  m[0].weight = 150;  // the weighted path (a logarithm per score)
  double weighted_ms = 1e9;
  for (int i = 0; i < 3; ++i) {
    PartitionRing r;
    auto t0 = std::chrono::steady_clock::now();
    r.Build(m, 3);
    auto t1 = std::chrono::steady_clock::now();
    weighted_ms = std::min(weighted_ms, std::chrono::duration<double, std::milli>(t1 - t0).count());
  }
  std::printf("  Build, 64 nodes x %u partitions: %.1f ms equal weights, %.1f ms weighted\n",
              kPartitions, best_ms, weighted_ms);
  RecordProperty("build_ms_64_nodes", std::to_string(best_ms));
#if defined(__OPTIMIZE__) && !defined(__SANITIZE_ADDRESS__)
  EXPECT_LT(best_ms, 100);
  EXPECT_LT(weighted_ms, 100);
#endif
}

}  // namespace
}  // namespace dynakv::cluster
