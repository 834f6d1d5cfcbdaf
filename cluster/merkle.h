// cluster/merkle.h: the hash tree that anti-entropy (Dynamo §4.7) compares between two
// replicas, so they find the keys they disagree on without shipping their data.
//
// One tree covers one key set: on node A, the tree "for peer P" holds every key of A's local
// data whose preference list names both A and P (the keys the two replicate in common; see
// node.cc). A key goes to leaf LeafOf(key) (a hash of the key, independent of the ring, so
// leaves fill evenly); a leaf's hash is the wrapping sum of ItemHash(key, stored record
// bytes) of its keys. A sum is order-free (the tree can be filled in any scan order) and
// supports Remove. Stored bytes are EncodeRecord() output, which is canonical: equal records
// give equal bytes, so equal replicas give equal trees.
//
// Shape: kLeaves leaves, grouped kFanout to an interior node, kInterior interior nodes, one
// root. The exchange compares the interior level first (kInterior hashes on the wire), then
// only the leaves below the interior nodes that differ.
//
// A tree is a snapshot: it is not updated on the client write path (that would cost every
// write); the node rebuilds it from a scan of its data, a bounded chunk per tick.
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
  static uint64_t ItemHash(std::string_view key, std::string_view record_bytes);

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
