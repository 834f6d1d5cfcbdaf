// cluster/membership.h: who is in the cluster, and who seems alive (gossip + failure
// detection). Sans-I/O: the caller passes the time in and sends the gossip this returns.
//
// Every member gossips a MemberState about itself: status, token count, a heartbeat it bumps
// every round and an incarnation it bumps at every start and whenever it hears that others
// suspect it (SWIM-style refutation). Views merge by recency of (incarnation, heartbeat);
// on a tie the graver status wins (joining < up < suspect < down < leaving < removed), so an
// observation of failure spreads until the member itself proves otherwise. Removed is a
// permanent tombstone (only DYNAMO REMOVE makes it), sticky regardless of recency.
//
// Failure detection is by timeout: a member whose heartbeat has not advanced (as seen here)
// for suspect_after_ms becomes suspect, after down_after_ms down. Down is temporary: the
// member is up again as soon as a newer heartbeat arrives. Down members keep their ring
// ranges (Dynamo §4.6: failures are transient; sloppy quorum covers them); leaving and
// removed members own nothing.
//
// Thread-safety: single-threaded; owned by one Node.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "cluster/env.h"
#include "cluster/member_state.h"
#include "cluster/partition_ring.h"
#include "storage/status.h"

namespace dynakv::cluster {

struct MembershipConfig {
  std::string id;
  std::string cluster_addr;
  std::string client_addr;
  uint32_t weight = 100;
  std::string zone;
  std::vector<std::string> seeds;  // cluster addresses; our own address is ignored
  uint64_t gossip_interval_ms = 200;
  uint64_t suspect_after_ms = 2000;
  uint64_t down_after_ms = 5000;
  int seed_every_rounds = 5;       // also gossip to a seed every this many rounds
  size_t max_members = 4096;       // gossip from beyond this many members is ignored
};

class Membership {
 public:
  Membership(MembershipConfig cfg, Random* random);

  // Resets our own state to `incarnation` (the caller persists it, bumped per start).
  // Without seeds we are the first member and up at once; otherwise joining until we have
  // heard from a peer.
  void Start(uint64_t now_ms, uint64_t incarnation);

  // Advances failure detection; when a gossip round is due, bumps our heartbeat and appends
  // the cluster addresses to gossip to (a random live peer, now and then a seed or a down
  // member, every seed while we know no live peer).
  void Tick(uint64_t now_ms, std::vector<std::string>* gossip_to);

  // Merges a peer's digest. Returns true when the ring membership (ids, weights, zones, owning
  // status) changed, so the caller rebuilds its Ring.
  bool Merge(const std::vector<MemberState>& remote, uint64_t now_ms);

  std::vector<MemberState> Digest() const;  // every member we know, ourselves included
  const MemberState* Find(const std::string& id) const;
  const MemberState& self() const { return entries_.at(cfg_.id).state; }
  std::vector<PartitionRing::Member> RingMembers() const;
  size_t size() const { return entries_.size(); }

  // Peers count as reachable unless down (or gone).
  bool IsReachable(const std::string& id) const;

  // Re-adds the peers persisted before a restart (never ourselves), as if just heard from:
  // failure detection marks the ones that stay silent suspect and then down, as usual.
  void Restore(const std::vector<MemberState>& saved, uint64_t now_ms);

  void AddSeed(const std::string& cluster_addr);
  void Leave(uint64_t now_ms);
  // A leaving node that has handed every partition to its new owners: removed (final).
  void FinishLeave();
  // InvalidArgument for ourselves (use Leave), NotFound for an unknown id.
  Status Remove(const std::string& id, uint64_t now_ms);

 private:
  struct Entry {
    MemberState state;
    uint64_t last_change_ms = 0;  // when the (incarnation, heartbeat) last advanced here
  };
  void MergeSelf(const MemberState& r);
  void BumpSelf() { ++entries_[cfg_.id].state.heartbeat; }
  MemberState& Self() { return entries_[cfg_.id].state; }

  MembershipConfig cfg_;
  Random* random_;
  std::map<std::string, Entry> entries_;  // by id; ordered so digests are deterministic
  uint64_t next_gossip_ms_ = 0;
  uint64_t rounds_ = 0;
};

}  // namespace dynakv::cluster
