// cluster/keyspace.h: keyspace policies, Riak's bucket types for a key-value store without
// buckets. A [[keyspace]] entry of the configuration matches every client key that starts
// with its prefix and sets, for those keys:
//   n, r, w   replicas, and the default read and write quorums (a client's explicit R or W,
//             DGET/DPUT/WAIT, still overrides r and w);
//   lww       conflict = "lww": a string (SET, DEL, INCR, memcached writes) keeps one value,
//             the last writer's, instead of DVV siblings (version.h, "last writer wins").
// The longest matching prefix wins; a key no entry matches takes the replication defaults.
// A collection's elements follow their collection's key. Placement takes a key's replicas as
// the first n of its partition's preference list, which is as long as the largest n of any
// policy (placement.h); anti-entropy and handoff compare and move each record only between
// the nodes among its own first n. See docs/ARCHITECTURE.md, "Keyspace policies".
//
// Every node of a cluster must be configured with the same policies (DYNAMO KEYSPACES shows
// them, with a fingerprint to compare).
//
// Thread-safety: immutable after construction.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace dynakv::cluster {

struct KeyspacePolicy {
  std::string prefix;      // "" = the default policy (every key no entry matches)
  int n = 1, r = 1, w = 1;
  bool lww = false;        // conflict = "lww" (strings); false = "siblings"
  bool operator==(const KeyspacePolicy&) const = default;
};

// At most this many [[keyspace]] entries (each lookup walks them).
constexpr size_t kMaxKeyspaces = 64;
constexpr size_t kMaxKeyspacePrefix = 256;

class Keyspaces {
 public:
  Keyspaces() = default;
  // `entries`' n, r, w must be set (the configuration fills a missing one from `def`).
  Keyspaces(KeyspacePolicy def, std::vector<KeyspacePolicy> entries);

  // The policy of a client key: the entry with the longest prefix of it, else the default.
  const KeyspacePolicy& ForKey(std::string_view key) const {
    if (entries_.empty()) return def_;
    return Match(key);
  }
  // The same for a record key (cluster/key_layout.h): an element follows its collection.
  const KeyspacePolicy& ForRecord(std::string_view rkey) const;
  const KeyspacePolicy& Default() const { return def_; }
  // The entries, longest prefix first (ties in byte order).
  const std::vector<KeyspacePolicy>& entries() const { return entries_; }
  // The largest n of any policy: how long a partition's preference list is.
  int max_n() const { return max_n_; }
  // Whether some policy's n is below max_n (records of different widths share partitions).
  bool mixed_n() const { return mixed_n_; }
  // The distinct n of the policies, ascending (max_n() last).
  const std::vector<int>& levels() const { return levels_; }
  // A stable hash of every policy, so operators can compare nodes (DYNAMO KEYSPACES).
  uint64_t Fingerprint() const;

 private:
  const KeyspacePolicy& Match(std::string_view key) const;

  KeyspacePolicy def_;
  std::vector<KeyspacePolicy> entries_;
  int max_n_ = 1;
  std::vector<int> levels_{1};
  bool mixed_n_ = false;
};

}  // namespace dynakv::cluster
