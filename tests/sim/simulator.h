// tests/sim/simulator.h: the deterministic cluster simulator (docs/ARCHITECTURE.md, "Layers"), in the manner of
// TigerBeetle's VOPR and FoundationDB's simulation.
//
// One run = one Scenario + one seed. It runs 1..16 real cluster::Node instances on one thread
// over a SimTransport (seeded drop, delay, duplication, reordering, symmetric and asymmetric
// partitions, heal), a SimClock per node (monotonic time plus a skewed wall clock) and a
// MemEngine per node (crash = pending writes lost, wipe = data directory lost). Clients run
// cart-add / blind SET / delete+recreate / counter workloads through Node::Read/Write.
// Nothing outside the seed decides what happens, so the same seed replays the same run.
//
// The owner-of-the-loop rule from node.h is modelled exactly: each delivered frame, tick or
// client call on a node is one "step"; after it the simulator calls engine->Commit() and only
// then releases the frames the node handed to Transport::Send and the client replies. A crash
// between apply and Commit drops the pending writes *and* that step's frames and replies.
//
// After the chaos phase the simulator heals everything, restarts every node, lets the
// cluster go quiet, reads every key with R=N (read repair) and checks the invariants listed
// in simulator.cc (lost writes, convergence, bounded siblings, phantoms, resurrection,
// durability at ack time, dot reuse, sloppy-quorum availability, liveness; with membership
// changes, ownership handoff).
//
// Membership ([membership] in the scenario): spare hosts join, members leave or die and are
// removed during the chaos phase; healing and every check then use the final member set.
//
// Thread-safety: a run is single-threaded and shares nothing with other runs.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tests/sim/scenario.h"

namespace dynakv::sim {

// Checker self-tests: break the system on purpose; the named invariant must then fire.
enum class Sabotage {
  kNone,
  // After a cart add is acknowledged, delete the key from every replica's engine (data and
  // hints) behind the core's back. Must trip "lost-write".
  kDropReplicaWrites,
  // At the end of the chaos phase, plant a sibling no client wrote in one replica. Must trip
  // "phantom".
  kPhantom,
  // After a delete is acknowledged, put the deleted siblings back into one replica's engine
  // with their original dots and a context that forgot the delete. Must trip "resurrection".
  kResurrect,
};
bool ParseSabotage(std::string_view name, Sabotage* out);
const char* SabotageName(Sabotage s);

struct RunOptions {
  uint64_t seed = 1;
  Sabotage sabotage = Sabotage::kNone;
  bool verbose = false;  // stream the timeline and node logs to stderr as they happen
  std::string trace_key; // debugging: print every change of this key's records and writes
  // Checker self-test for [membership] scenarios: once healing has settled, put every key's
  // records, joined over every node that still has its data (members and nodes that left;
  // not removed ones), into its final owners' engines behind the nodes' backs: what a
  // perfect ownership handoff (and re-replication) would leave. The scenarios must pass.
  bool oracle_handoff = false;
};

struct Violation {
  std::string invariant;  // stable id: lost-write, convergence, phantom, ...
  std::string detail;
};

struct RunResult {
  std::vector<Violation> violations;
  std::string summary;               // one line of counts
  uint64_t trace_hash = 0;           // fingerprint of every event; equal seeds => equal hash
  std::vector<std::string> timeline; // the last faults and notable events (for failures)
  bool ok() const { return violations.empty(); }
};

RunResult RunSimulation(const Scenario& scenario, const RunOptions& options);

}  // namespace dynakv::sim
