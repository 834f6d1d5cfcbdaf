// cluster/merkle.h: the hash tree that anti-entropy (Dynamo §4.7) compares between two
// replicas, so they find the keys they disagree on without shipping their data.
//
// One tree covers one key set: on node A, the tree "for peer P" holds every record of A's
// local data whose partition's preference list names both A and P (the keys the two
// replicate in common). A leaf's hash is a wrapping sum of item hashes, ItemHash(key, stored
// record bytes). A sum is order-free and supports Remove, so it can be kept up to date
// rather than rebuilt. Stored bytes are EncodeRecord() output, which is canonical: equal
// records give equal bytes, so equal replicas give equal trees.
//
// Anti-entropy (anti_entropy.h) fills leaf i with the hashes of partitions 16i..16i+15, each
// the sum over that partition's records, kept per partition and redone only when the
// partition changed. LeafOf(key) (a hash of the key, independent of the ring) is the other
// way to place items, for trees over arbitrary key sets.
//
// Shape: kLeaves leaves, grouped kFanout to an interior node, kInterior interior nodes, one
// root. The exchange compares the interior level first (kInterior hashes on the wire), then
// only the leaves below the interior nodes that differ.
//
// Thread-safety: a value type; no shared state.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace dynakv::cluster {

class MerkleTree {
 public:
  static constexpr size_t kLeaves = 1024;
  static constexpr size_t kFanout = 32;
  static constexpr size_t kInterior = kLeaves / kFanout;

  static size_t LeafOf(std::string_view key);
  // ItemHash(key, bytes) == ItemHash(KeyHash(key), bytes); anti-entropy also places records
  // in segments by KeyHash.
  static uint64_t KeyHash(std::string_view key);
  static uint64_t ItemHash(uint64_t key_hash, std::string_view record_bytes);
  static uint64_t ItemHash(std::string_view key, std::string_view record_bytes) {
    return ItemHash(KeyHash(key), record_bytes);
  }

  void Add(size_t leaf, uint64_t item_hash);
  void Remove(size_t leaf, uint64_t item_hash);
  void Add(std::string_view key, std::string_view record_bytes) {
    Add(LeafOf(key), ItemHash(key, record_bytes));
  }

  uint64_t leaf(size_t i) const { return leaves_[i]; }
  // The kFanout leaf hashes under interior node i.
  const uint64_t* children(size_t i) const { return &leaves_[i * kFanout]; }
  uint64_t interior(size_t i) const;
  std::vector<uint64_t> InteriorHashes() const;  // kInterior hashes
  uint64_t Root() const;
  size_t items() const { return items_; }

  // Interior indexes where `other` (kInterior hashes of the peer's tree) differs from ours.
  // A wrong-sized `other` differs everywhere.
  std::vector<uint32_t> DiffInterior(const std::vector<uint64_t>& other) const;
  // Leaf indexes under interior node i where `other_children` (kFanout leaf hashes of the
  // peer's interior node i) differ from ours.
  std::vector<uint32_t> DiffLeaves(size_t i, const uint64_t* other_children) const;

 private:
  std::array<uint64_t, kLeaves> leaves_{};
  size_t items_ = 0;
};

}  // namespace dynakv::cluster
