// tests/sim/scenario.h: one simulation scenario (workload + faults + duration), read from a
// small TOML file in tests/sim/scenarios/, in the manner of FoundationDB's tests/fast/*.toml.
//
// A scenario says *what* may happen; the seed decides *when* and *to whom*. Every field has a
// default, so a scenario file only lists what it changes. Unknown keys are an error (a typo
// must not silently turn a fault off). See tests/sim/scenarios/README.md for the format.
//
// Thread-safety: a plain value type.
#pragma once

#include <cstdint>
#include <string>

#include "cluster/keyspace.h"
#include "storage/status.h"

namespace dynakv::sim {

struct Range {
  uint64_t min = 0, max = 0;  // inclusive
};

struct Scenario {
  std::string name;  // [scenario] name, defaults to the file's stem
  std::string path;  // the file it came from (for the replay command)

  // [cluster]
  int nodes = 5;
  int n = 3, r = 2, w = 2;
  // [[keyspace]] policies (cluster/keyspace.h): prefix, n, r, w (0 = the [cluster] value,
  // capped at n). conflict = "lww" is not offered: the checker's model keeps every
  // acknowledged write, which last-writer-wins by design does not.
  std::vector<cluster::KeyspacePolicy> keyspaces;
  int tokens = 32;
  std::string secret;  // cluster_secret ("" = checksum frames, else HMAC)

  // [timing]: all in simulated milliseconds.
  uint64_t tick_ms = 10;
  uint64_t duration_ms = 8000;          // the chaos phase: workload + faults
  uint64_t request_timeout_ms = 500;
  uint64_t read_retry_ms = 50;  // 0: reads ask all N replicas
  uint64_t gossip_interval_ms = 100;
  uint64_t suspect_after_ms = 1000;
  uint64_t down_after_ms = 2000;
  uint64_t clock_skew_ms = 50;          // each node's wall clock is off by up to +-this
  uint64_t outlier_skew_ms = 0;         // n1's wall clock is this far ahead, n2's this far behind
  uint64_t settle_max_ms = 20000;       // healing must go quiet within this

  // [network]
  double drop_rate = 0;       // each frame is lost with this probability
  double dup_rate = 0;        // each frame is delivered twice with this probability
  double reorder_rate = 0;    // each frame is held back an extra reorder_delay_ms
  Range delay_ms{1, 5};       // one-way latency
  uint64_t reorder_delay_ms = 200;

  // [partitions]
  bool partitions = false;
  Range partition_gap_ms{500, 2000};     // time between a heal and the next cut
  Range partition_length_ms{300, 2500};  // how long a cut lasts
  double asymmetric = 0.3;               // share of cuts that block one direction only

  // [crashes]
  int crashes = 0;                   // crash + restart events in the chaos phase
  int wipes = 0;                     // crash + data-directory loss + restart
  Range downtime_ms{100, 3000};
  double mid_write = 0.5;            // share of crashes that hit between apply and Commit
  double clean = 0;                  // share of the other crashes that are clean stops instead
                                     // (Node::SaveForRestart and a commit first, as SIGTERM)
  int max_down = 0;                  // at most this many nodes down at once (0 = nodes - 1)

  // [workload]: op mix weights; each class has its own `keys` keys.
  int clients = 4;
  int keys = 4;
  Range think_ms{0, 40};
  int cart = 3;     // DGET, add a unique item to the union of the siblings, DPUT with context
  int set = 1;      // blind SET (put without context)
  int del = 1;      // DGET, DDEL with context, put again with the delete's context
  int erase = 0;    // DGET, DDEL with context, and no put after it (the key stays deleted)
  int counter = 1;  // INCR-style kCounterAdd +1
  int score = 0;    // ZINCRBY-style kScoreAdd +0.5 on a sorted-set member's score counter
  int cset = 0;     // SADD / SREM of a client's own members through the collection steps
  int czadd = 0;    // ZADD / ZREM of a client's own members of a sorted set, the same way
  int chash = 0;    // HINCRBY +1 of one hash field every client increments (collection steps)
  int czset = 0;    // ZINCRBY +0.5 of one sorted-set member every client increments (collection steps)
  int chset = 0;    // HSET (a unique value) / HDEL of a client's own fields of the chash hashes
  int chfloat = 0;  // HINCRBYFLOAT +0.5 of one hash field every client increments (collection steps)
  int clist = 0;    // LPUSH/RPUSH of a unique value, or LPOP/RPOP, through the list engine

  // No fault of any kind: no frame dropped, duplicated or reordered, no partition, crash,
  // wipe, membership change, outlier clock or dead node. Every client operation must then
  // succeed (the `clean` invariant).
  bool FaultFree() const {
    return drop_rate == 0 && dup_rate == 0 && reorder_rate == 0 && !partitions && crashes == 0 &&
           wipes == 0 && !membership && outlier_skew_ms == 0 && !availability;
  }

  // [availability]: after healing, keep `down` nodes dead long enough to be declared down
  // and require every write from a live node to succeed (sloppy quorum + hinted handoff).
  bool availability = false;
  int availability_down = 1;
  int availability_writes = 20;

  // [anti_entropy]: Merkle anti-entropy between replicas (cluster/merkle.h, node.cc).
  uint64_t ae_interval_ms = 0;   // NodeConfig::ae_interval_ms; 0 = off
  // Heal with an R=N read of every key (read repair makes replicas converge). Off: only
  // anti-entropy may make them converge; the run waits for it (up to settle_max_ms).
  bool final_read_sweep = true;

  // [reaper]: tombstone and expiry GC (cluster/reaper.h) on every node, one slice every
  // interval_ms, reaping what has been dead for grace_ms (after an all-replica read).
  uint64_t reap_grace_ms = 0;      // 0 = no reaper
  uint64_t reap_interval_ms = 100;

  // [membership]: cluster membership changes during the chaos phase (DYNAMO JOIN / LEAVE /
  // REMOVE; ownership handoff). Hosts n1..n<initial_nodes> form the cluster at bootstrap;
  // the others are spare hosts (fresh, empty MemEngine, own address), started when they join.
  // Events happen at seeded random times; one that would leave fewer than n members owning
  // ranges, or that finds no eligible node (running, not about to crash), is skipped.
  bool membership = false;  // the section is present: final-member-set checks + `handoff`
  int initial_nodes = 0;    // 0 = nodes
  int joins = 0;            // spares that start and join (Node::Join via a live member)
  int leaves = 0;           // members that call Node::Leave() (kept running until removed
                            // in their own view, or until the end of healing)
  int removes = 0;          // members crashed for good, then Node::Remove(id) on a live one
  int replaces = 0;         // a spare joins, then a member is crashed and removed
  int InitialNodes() const { return initial_nodes > 0 ? initial_nodes : nodes; }
  // Members owning ranges at the end, if no event is skipped.
  int FinalMembers() const { return InitialNodes() + joins - leaves - removes; }
};

// Reads and validates a scenario file. Errors name the file and the key.
Status LoadScenario(const std::string& path, Scenario* out);

}  // namespace dynakv::sim
