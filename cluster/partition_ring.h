// cluster/partition_ring.h: key -> partition -> preference list, with Q fixed partitions.
//
// Dynamo's strategy 3 (paper §6.2): the key space is cut into Q = 16384 equal partitions
// that never split or merge, and ownership is assigned per partition, so handoff moves whole
// partitions and a node's data is a list of partitions rather than arbitrary hash ranges.
// A key's partition is Redis Cluster's hash slot (CRC16-XMODEM of the key, or of its first
// non-empty {hashtag}, mod 16384), so the same numbers can be shown to cluster-aware Redis
// clients and a hashtag keeps related keys together. See docs/ARCHITECTURE.md.
//
// Placement is computed, not coordinated: every node derives the same table from the same
// member set (id, weight, zone) and the replica count n. Per partition the members are
// ranked by weighted rendezvous hashing (highest random weight; Thaler & Ravishankar), which
// moves only the partitions a joining node ranks in the top n of; the preference list takes
// the first n distinct nodes in that ranking, preferring one node per zone, and skipping a
// node that already holds kLoadCapPercent % of its fair share of replicas (bounded loads,
// Mirrokni et al.). Plain rendezvous leaves the heaviest of 64 equal nodes near 1.09x the
// mean, and above 1.10x for some sets of ids; the cap holds it to 1.05x at the cost of a few
// extra moves per join (nodes near the cap pass some partitions on; measured at most
// 0.05/(k+1) of the replicas next to the newcomer's 1/(k+1)). Partitions are assigned in
// index order, so the result stays a function of the member set alone.
//
// Weights: with n = 1 a node's share is proportional to its weight; with n > 1 a node with
// a large share holds less than proportional (it cannot be in a list twice, and the ranking
// is sampling without replacement): with n = 3, one node of weight 200 holds ~1.87x a
// weight-100 node's replicas among sixteen of them, ~1.74x among eight, ~1.48x among four.
// The cap only bounds the other direction (nobody holds much more than its share).
//
// Fingerprint() identifies the table (including the placement version), for nodes to check
// that they agree. Equal-weight rings rank by integer hash comparisons only; weighted rings
// use std::log, and a libm that rounds a logarithm differently could (very rarely) rank two
// nodes differently, so the nodes of a weighted cluster should run the same build.
//
// Thread-safety: a value type; const methods may run concurrently, Build needs exclusive
// access (in practice: one node's loop builds a new ring and swaps it in).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace dynakv::cluster {

constexpr uint32_t kPartitions = 16384;

// CRC16-XMODEM (poly 0x1021, init 0, no reflection, no final xor): Redis Cluster's crc16.
uint16_t Crc16(std::string_view data);

// Redis Cluster's HASH_SLOT: the whole key is hashed unless it has a '{' followed later by a
// '}' with at least one byte between them; then only the bytes between the first '{' and
// the first '}' after it are hashed ("{a}x" -> "a"; "{}{a}" -> the whole key).
uint32_t KeyPartition(std::string_view key);

class PartitionRing {
 public:
  struct Member {
    std::string id;
    uint32_t weight = 100;  // relative capacity: twice the weight, about twice the replicas
    std::string zone;       // failure domain; "" = a zone of its own
    bool operator==(const Member&) const = default;
  };

  static constexpr uint32_t kMaxWeight = 10000;
  // The load bound: while placing, a node that already holds this percentage of its fair
  // share (n * Q * weight / total weight) is passed over unless nothing else fits. 105 keeps
  // the heaviest node within 1.05x of the mean; lower bounds move more partitions per join.
  static constexpr uint32_t kLoadCapPercent = 105;
  // Part of the fingerprint: a change to the placement rules must change it, so that nodes
  // running different rules see that their tables differ.
  static constexpr uint32_t kPlacementVersion = 1;

  // Replaces the member set (duplicate ids: the last wins; weight clamped to [1,
  // kMaxWeight]) and recomputes every partition's preference list of min(n, members)
  // distinct nodes. O(Q * members).
  void Build(std::vector<Member> members, size_t n);

  // True when Build(members, n) would give this ring (same normalized members and n).
  bool SameMembers(const std::vector<Member>& members, size_t n) const;

  const std::vector<Member>& members() const { return members_; }  // sorted by id
  size_t node_count() const { return members_.size(); }
  size_t n() const { return n_; }  // as requested; each list has min(n, node_count()) owners
  bool empty() const { return members_.empty(); }

  // Preference list of partition p (< kPartitions): indexes into members(), in the order
  // picked (rank order, except for nodes a zone or the load cap passed over; the first is
  // the coordinator). Empty for an empty ring. Valid until the next Build.
  std::span<const uint32_t> Owners(uint32_t p) const;

  // Every member at most once, at most `max` of them: Owners(p) first (exactly, as a
  // prefix), then the others in rendezvous rank order (the sloppy-quorum fallbacks).
  // Computed on demand (O(members log members)); the hot path uses Owners.
  void Walk(uint32_t p, size_t max, std::vector<uint32_t>* out) const;

  // How many partitions each member holds a replica of (index = member index).
  std::vector<uint32_t> Load() const;

  // Hash of (placement version, n, members with weight and zone). Equal rings have equal
  // fingerprints; a difference means the tables (may) differ.
  uint64_t Fingerprint() const { return fingerprint_; }

 private:
  // Rank key of member i for partition p: smaller ranks first.
  uint64_t RankKey(uint32_t i, uint32_t p) const;

  std::vector<Member> members_;    // sorted by id, deduplicated, weights clamped
  std::vector<uint64_t> seeds_;    // XXH3 of each member id: the per-node hash seed
  std::vector<double> weights_;    // members_[i].weight as a double
  std::vector<uint32_t> zone_of_;  // zone class per member ("" = a class of its own)
  bool uniform_ = true;            // all weights equal: rank by the hash itself
  size_t n_ = 0;
  size_t width_ = 0;              // min(n_, members): owners per partition
  std::vector<uint32_t> owners_;  // kPartitions * width_, partition-major
  uint64_t fingerprint_ = 0;
};

}  // namespace dynakv::cluster
