// MerkleTree: order independence, add/remove, and that the top-down diff finds exactly the
// leaves whose keys differ.
#include "cluster/merkle.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>
#include <string>

namespace dynakv::cluster {
namespace {

std::map<std::string, std::string> Sample(int n) {
  std::map<std::string, std::string> kv;
  for (int i = 0; i < n; ++i) kv["key-" + std::to_string(i)] = "rec-" + std::to_string(i * 7);
  return kv;
}

MerkleTree Build(const std::map<std::string, std::string>& kv) {
  MerkleTree t;
  for (const auto& [k, v] : kv) t.Add(k, v);
  return t;
}

// Every leaf the two trees disagree on, found the way the exchange does: interior level
// first, then the leaves under the differing interior nodes only.
std::set<uint32_t> TopDownDiff(const MerkleTree& a, const MerkleTree& b) {
  std::set<uint32_t> out;
  for (uint32_t i : a.DiffInterior(b.InteriorHashes())) {
    for (uint32_t leaf : a.DiffLeaves(i, b.children(i))) out.insert(leaf);
  }
  return out;
}

TEST(MerkleTest, EmptyTreesAgree) {
  MerkleTree a, b;
  EXPECT_EQ(a.Root(), b.Root());
  EXPECT_TRUE(a.DiffInterior(b.InteriorHashes()).empty());
  EXPECT_EQ(a.items(), 0u);
}

TEST(MerkleTest, SameContentInAnyOrderGivesTheSameTree) {
  auto kv = Sample(5000);
  std::vector<std::pair<std::string, std::string>> items(kv.begin(), kv.end());
  std::mt19937 rng(7);
  std::shuffle(items.begin(), items.end(), rng);
  MerkleTree a = Build(kv), b;
  for (const auto& [k, v] : items) b.Add(k, v);
  EXPECT_EQ(a.Root(), b.Root());
  EXPECT_EQ(a.InteriorHashes(), b.InteriorHashes());
  EXPECT_TRUE(TopDownDiff(a, b).empty());
  EXPECT_EQ(a.items(), 5000u);
}

TEST(MerkleTest, RemoveUndoesAdd) {
  auto kv = Sample(100);
  MerkleTree a = Build(kv);
  uint64_t root = a.Root();
  a.Add("extra", "x");
  EXPECT_NE(a.Root(), root);
  a.Remove(MerkleTree::LeafOf("extra"), MerkleTree::ItemHash("extra", "x"));
  EXPECT_EQ(a.Root(), root);
}

TEST(MerkleTest, DiffFindsExactlyTheChangedLeaves) {
  auto kv = Sample(20000);
  auto other = kv;
  std::set<uint32_t> want;
  other["key-17"] = "changed";             // a different record
  want.insert(static_cast<uint32_t>(MerkleTree::LeafOf("key-17")));
  other.erase("key-4242");                 // a key one side lacks
  want.insert(static_cast<uint32_t>(MerkleTree::LeafOf("key-4242")));
  other["only-here"] = "v";                // a key only the other side has
  want.insert(static_cast<uint32_t>(MerkleTree::LeafOf("only-here")));
  MerkleTree a = Build(kv), b = Build(other);
  EXPECT_NE(a.Root(), b.Root());
  EXPECT_EQ(TopDownDiff(a, b), want);
  EXPECT_EQ(TopDownDiff(b, a), want);
  // At most one interior node per changed leaf is sent down a level.
  EXPECT_LE(a.DiffInterior(b.InteriorHashes()).size(), want.size());
}

TEST(MerkleTest, SameRecordUnderAnotherKeyDiffers) {
  MerkleTree a, b;
  a.Add("k1", "v");
  b.Add("k2", "v");
  EXPECT_NE(a.Root(), b.Root());
  // A key with an empty record still counts.
  MerkleTree c, d;
  c.Add("k", "");
  EXPECT_NE(c.Root(), d.Root());
}

TEST(MerkleTest, LeavesSpreadEvenly) {
  std::vector<int> count(MerkleTree::kLeaves);
  const int n = 100 * static_cast<int>(MerkleTree::kLeaves);
  for (int i = 0; i < n; ++i) ++count[MerkleTree::LeafOf("user:" + std::to_string(i))];
  for (int c : count) {
    EXPECT_GT(c, 40);
    EXPECT_LT(c, 180);
  }
}

TEST(MerkleTest, WrongSizedPeerLevelDiffersEverywhere) {
  MerkleTree a;
  EXPECT_EQ(a.DiffInterior({1, 2, 3}).size(), MerkleTree::kInterior);
}

}  // namespace
}  // namespace dynakv::cluster
