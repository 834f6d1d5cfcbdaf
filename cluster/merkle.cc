// cluster/merkle.cc: see merkle.h.
#include "cluster/merkle.h"

#include <xxhash.h>

namespace dynakv::cluster {

namespace {
constexpr uint64_t kLeafSeed = 0x6D65726B6C65ull;   // "merkle": not the ring's hash
constexpr uint64_t kInteriorSeed = 0x696E746572ull;
constexpr uint64_t kRootSeed = 0x726F6F74ull;
static_assert((MerkleTree::kLeaves & (MerkleTree::kLeaves - 1)) == 0, "leaves: a power of 2");
}  // namespace

size_t MerkleTree::LeafOf(std::string_view key) {
  return static_cast<size_t>(XXH3_64bits_withSeed(key.data(), key.size(), kLeafSeed) %
                             kLeaves);
}

uint64_t MerkleTree::KeyHash(std::string_view key) { return XXH3_64bits(key.data(), key.size()); }

uint64_t MerkleTree::ItemHash(uint64_t key_hash, std::string_view record_bytes) {
  // The key seeds the record hash, so the same record under two keys hashes differently and
  // a key present with an empty record still counts.
  return XXH3_64bits_withSeed(record_bytes.data(), record_bytes.size(), key_hash) | 1;
}

void MerkleTree::Add(size_t leaf, uint64_t item_hash) {
  leaves_[leaf % kLeaves] += item_hash;
  ++items_;
}

void MerkleTree::Remove(size_t leaf, uint64_t item_hash) {
  leaves_[leaf % kLeaves] -= item_hash;
  if (items_ > 0) --items_;
}

uint64_t MerkleTree::interior(size_t i) const {
  return XXH3_64bits_withSeed(children(i), kFanout * sizeof(uint64_t), kInteriorSeed);
}

std::vector<uint64_t> MerkleTree::InteriorHashes() const {
  std::vector<uint64_t> out(kInterior);
  for (size_t i = 0; i < kInterior; ++i) out[i] = interior(i);
  return out;
}

uint64_t MerkleTree::Root() const {
  std::vector<uint64_t> in = InteriorHashes();
  return XXH3_64bits_withSeed(in.data(), in.size() * sizeof(uint64_t), kRootSeed);
}

std::vector<uint32_t> MerkleTree::DiffInterior(const std::vector<uint64_t>& other) const {
  std::vector<uint32_t> out;
  for (size_t i = 0; i < kInterior; ++i) {
    if (other.size() != kInterior || other[i] != interior(i)) out.push_back(static_cast<uint32_t>(i));
  }
  return out;
}

std::vector<uint32_t> MerkleTree::DiffLeaves(size_t i, const uint64_t* other_children) const {
  std::vector<uint32_t> out;
  const uint64_t* mine = children(i);
  for (size_t j = 0; j < kFanout; ++j) {
    if (mine[j] != other_children[j]) out.push_back(static_cast<uint32_t>(i * kFanout + j));
  }
  return out;
}

}  // namespace dynakv::cluster
