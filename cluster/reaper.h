// cluster/reaper.h: tombstone and expiry garbage collection, Redis's active expire cycle
// made safe for replicas. Each Step walks one slice of the local keyspace and drops the
// records whose every sibling has been dead (a tombstone, or a value past its TTL) for the
// grace period.
//
// In a cluster a tombstone may only go once no replica can bring the old value back
// (Cassandra's gc_grace trap): the key is first read from all N replicas. That read
// succeeds only when every replica answered, and its read repair hands the tombstone to any
// that lacked it; the local copy is dropped only if the union of all replicas is still dead
// (Node::ReapLocalIf re-checks, and keeps a key for which a hint is held). A single node has
// no replica to resurrect from, so expired values go at once, as in Redis.
//
// In a cluster the grace period is measured by this node's monotonic clock, from the pass
// that first found the record dead in exactly its present state, not from the tombstone's
// timestamp: that timestamp is the writer's wall clock, and a writer hours ahead or behind
// would make a tombstone reapable at once (before its delete was even acknowledged) or only
// hours later. Watching a record costs one entry in memory (at most kMaxWatched; beyond that
// a dead record waits for a later pass). A restart forgets the watch, so aging starts over:
// later, never sooner. A record that changes (a new write, a read repair) starts over too.
//
// A pass that met nothing expirable puts the reaper to sleep until the node stores a record
// that can expire or be reaped (Node::ExpiringWrites moves).
// Driven by the owner of the loop (the server's timer, the simulator's ticks); sans-I/O.
// See docs/ARCHITECTURE.md, "Reaper".
//
// Thread-safety: single-threaded, on the loop of the Node it reaps.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <unordered_map>

#include "cluster/env.h"
#include "cluster/node.h"

namespace dynakv::cluster {

struct ReaperConfig {
  uint64_t tombstone_grace_ms = 10ull * 60 * 1000;
  bool standalone = true;   // expired values go at once (no replica to resurrect from)
  size_t slice = 200;       // records examined per Step
};

class Reaper {
 public:
  static constexpr size_t kMaxWatched = size_t(1) << 20;  // dead records being aged, at most

  // on_reaped runs once per record deleted (for the clustered path, after the N-read).
  Reaper(Node* node, Clock* clock, ReaperConfig cfg, std::function<void()> on_reaped = {})
      : node_(node), clock_(clock), cfg_(cfg), on_reaped_(std::move(on_reaped)) {}

  void Step();
  size_t watched() const { return watched_.size(); }

 private:
  // A dead record being aged (clustered path): since when (NowMs) it has been dead in the
  // state whose fingerprint is fp, and the pass that last saw it.
  struct Watch {
    uint64_t since_ms = 0;
    uint64_t fp = 0;
    uint64_t pass = 0;
  };
  void StepClustered(uint64_t wall, uint64_t mono);

  Node* node_;
  Clock* clock_;
  ReaperConfig cfg_;
  std::function<void()> on_reaped_;
  std::string cursor_;
  bool idle_ = false;
  bool pass_saw_expiring_ = false;
  uint64_t pass_start_writes_ = 0;
  uint64_t pass_ = 0;
  std::unordered_map<std::string, Watch> watched_;
};

}  // namespace dynakv::cluster
