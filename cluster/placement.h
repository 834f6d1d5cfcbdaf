// cluster/placement.h: where keys live. Wraps the ring with the replication factor N and
// this node's id, and derives what the rest of the node asks about placement: a key's
// preference list, the walk past it (sloppy-quorum fallbacks), a fingerprint of the ring
// (anti-entropy compares trees only under the same ring) and the peers this node shares a
// replica set with (anti-entropy partners). See docs/ARCHITECTURE.md, "Placement".
//
// Thread-safety: single-threaded; owned by one Node.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "cluster/ring.h"

namespace dynakv::cluster {

class Placement {
 public:
  Placement(std::string self_id, int n, int self_tokens);

  // Replaces the member set; true when the ring changed (then the derived views are new).
  bool Rebuild(std::vector<Ring::Member> members);

  // The key's preference list: up to N node ids.
  std::vector<std::string> Preference(std::string_view key) const;
  // Every node in walk order from the key (the preference list first, then the fallbacks),
  // at most `max`, as indexes; IdAt names them.
  void Walk(std::string_view key, size_t max, std::vector<uint32_t>* out) const;
  const std::string& IdAt(uint32_t i) const { return ring_.members()[i].id; }

  size_t n() const { return n_; }
  size_t node_count() const { return ring_.node_count(); }
  const std::string& self() const { return self_; }
  uint64_t ring_hash() const { return ring_hash_; }
  // Nodes that share at least one replica set with this one, by id.
  const std::vector<std::string>& partners() const { return partners_; }
  const Ring& ring() const { return ring_; }

 private:
  void Derive();

  std::string self_;
  size_t n_;
  Ring ring_;
  uint64_t ring_hash_ = 0;           // fingerprint of the ring (members, tokens, n)
  std::vector<std::string> partners_;
};

}  // namespace dynakv::cluster
