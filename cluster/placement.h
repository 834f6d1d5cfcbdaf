// cluster/placement.h: where keys live. Wraps the partitioned ring (partition_ring.h: Q =
// 16384 fixed partitions, a key's partition is its Redis Cluster hash slot) with this
// node's id, and derives what the rest of the node asks about placement: a key's
// preference list, the walk past it (sloppy-quorum fallbacks), which partitions this node
// replicates, a fingerprint of the ring (anti-entropy compares trees only under the same
// ring) and the peers this node shares a replica set with (anti-entropy partners).
// See docs/ARCHITECTURE.md, "Placement".
//
// Thread-safety: single-threaded; owned by one Node.
#pragma once

#include <algorithm>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "cluster/key_layout.h"
#include "cluster/partition_ring.h"

namespace dynakv::cluster {

class Placement {
 public:
  Placement(std::string self_id, int n, uint32_t self_weight, std::string self_zone);

  // Replaces the member set; true when the ring changed (then the derived views are new).
  bool Rebuild(std::vector<PartitionRing::Member> members);

  // Of a record key (cluster/key_layout.h): an element lives in its collection's partition.
  static uint32_t PartitionOf(std::string_view rkey) { return RecordPartition(rkey); }

  // A record key's preference list: its first n partition owners (n: the key's keyspace
  // policy, at most n()), as node ids, the coordinator first.
  std::vector<std::string> Preference(std::string_view rkey, size_t n) const;
  std::vector<std::string> OwnersOf(uint32_t partition, size_t n = SIZE_MAX) const;
  // The partition's owners as indexes into the member list (IdAt names them); no copies.
  // Up to n() of them: the widest keyspace's. A key's replicas are the first n of them.
  std::span<const uint32_t> Owners(uint32_t partition) const { return ring_.Owners(partition); }
  std::span<const uint32_t> Owners(uint32_t partition, size_t n) const {
    auto o = ring_.Owners(partition);
    return o.first(std::min(n, o.size()));
  }
  // This node's place in the partition's owner list (0 = coordinator), or -1.
  int PositionIn(uint32_t partition) const;
  int PositionOf(uint32_t partition, const std::string& id) const;
  // Every node in walk order for the key's partition (the preference list first, then the
  // fallbacks), at most `max`, as indexes. Computed on demand: not for the hot path.
  void Walk(std::string_view key, size_t max, std::vector<uint32_t>* out) const;
  const std::string& IdAt(uint32_t i) const { return ring_.members()[i].id; }
  // Whether this node is in the partition's owner list (at any of its n() places).
  bool Owns(uint32_t partition) const { return owned_[partition]; }

  size_t n() const { return n_; }
  size_t node_count() const { return ring_.node_count(); }
  const std::string& self() const { return self_; }
  uint64_t ring_hash() const { return ring_.Fingerprint(); }
  // Nodes that share at least one replica set with this one, by id.
  const std::vector<std::string>& partners() const { return partners_; }
  const PartitionRing& ring() const { return ring_; }

 private:
  void Derive();

  std::string self_;
  size_t n_;
  PartitionRing ring_;
  std::vector<bool> owned_;  // kPartitions flags: self in the preference list
  std::vector<std::string> partners_;
};

}  // namespace dynakv::cluster
