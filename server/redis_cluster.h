// server/redis_cluster.h: the ring as cluster-aware Redis clients see it
// (cluster.redis_cluster_api; README, "Cluster-aware clients").
//
// The ring's 16384 partitions are Redis Cluster's hash slots, and every dynakv node can
// coordinate every key, so a Redis Cluster client only needs a map that sends each slot to
// a good node: each run of partitions is shown with its preference list, the first owner
// (the coordinator) as the "master" and the other owners as "replicas". This file builds
// the replies of CLUSTER SLOTS, SHARDS, NODES and INFO from a ClusterView (a snapshot of the
// members and the partition runs that commands_dynamo.cc takes from cluster::Node), and
// keeps the per-epoch first-owner tables that decide MOVED after a ring change (MovedDue).
//
// Node ids: Redis clients expect 40 hex characters; RedisNodeId derives them from the
// dynakv node id (SHA-1), so every node shows every member under the same id.
//
// Thread-safety: value types and pure functions; a SlotHistory belongs to one Server (loop
// thread).
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "cluster/node.h"
#include "protocol/resp.h"

namespace dynakv::server {

// 40 lower-case hex characters: SHA-1 of "dynakv:" + the dynakv node id.
std::string RedisNodeId(std::string_view dynakv_id);

struct ClusterNodeInfo {
  std::string id;        // dynakv node id
  std::string redis_id;  // RedisNodeId(id)
  std::string host;      // from the member's advertised RESP address
  int port = 0;
  int cport = 0;         // its inter-node port (0 when standalone)
  std::string status;    // joining up suspect down leaving
  bool myself = false;
};

struct ClusterView {
  std::vector<ClusterNodeInfo> nodes;  // in id order; removed members are left out
  struct Range {
    uint32_t first = 0, last = 0;      // inclusive slots
    std::vector<uint32_t> owners;      // indexes into nodes; owners[0] is the master
  };
  std::vector<Range> ranges;           // in slot order, covering 0..16383
  size_t self = 0;                     // index of this node in nodes
  uint64_t epoch = 0;                  // cluster::Node::RingEpoch() it was taken at
};

// Builds the view. An owner missing from `members` is skipped; a run left without owners
// (a standalone node's empty ring) is shown as served by this node.
ClusterView MakeClusterView(const std::string& self_id,
                            const std::vector<cluster::MemberInfo>& members,
                            const std::vector<cluster::Node::PartitionRange>& ranges,
                            uint64_t epoch);

// CLUSTER SLOTS: [[first, last, [host, port, id, {}], ...], ...]; replicas that are down are
// left out, as Redis leaves out failed replicas.
void WriteClusterSlots(protocol::RespWriter& w, const ClusterView& v);
// CLUSTER SHARDS: one shard per distinct preference list: {slots: [first, last, ...],
// nodes: [{id, port, ip, endpoint, role, replication-offset, health}, ...]}.
void WriteClusterShards(protocol::RespWriter& w, const ClusterView& v);
// CLUSTER NODES text: one line per node, every node a master of the slots it coordinates.
std::string ClusterNodesText(const ClusterView& v);
// CLUSTER INFO text.
std::string ClusterInfoText(const ClusterView& v);

// First owners of every slot for the last few ring epochs that clients fetched a map at.
class SlotHistory {
 public:
  static constexpr size_t kKeep = 8;  // epochs kept; older fetches count as "moved"
  void Remember(const ClusterView& v);  // no-op if v.epoch is already known
  // The first owner of `slot` at `epoch`, or nullptr if that epoch is not (or no longer)
  // known.
  const std::string* FirstOwner(uint64_t epoch, uint32_t slot) const;
  bool Has(uint64_t epoch) const;

 private:
  struct Entry {
    uint64_t epoch = 0;
    std::vector<std::string> ids;
    std::vector<uint16_t> first;  // per slot, an index into ids
  };
  std::deque<Entry> entries_;  // oldest first
};

// The serialized map replies (CLUSTER SLOTS/SHARDS/NODES, per RESP version) of the current
// view, so a burst of clients re-fetching after a ring change costs one build: a 3-node map
// is ~13,600 slot ranges, ~3.4 MB. A reply is reused while the signature (the ring epoch and
// every member's id, state and addresses) is unchanged.
class MapReplyCache {
 public:
  static std::string Signature(uint64_t epoch, const std::vector<cluster::MemberInfo>& members);
  const std::string* Find(const std::string& signature, const std::string& what) const;
  // Stores a reply; replies of another signature are dropped. Returns the stored bytes.
  const std::string& Put(const std::string& signature, const std::string& what, std::string bytes);

 private:
  std::string signature_;
  std::map<std::string, std::string> replies_;
};

// Whether a connection that fetched the slot map at ring epoch `fetched` (0 = never) gets
// MOVED for a key of `slot` now that the ring is at `now`: only after a change, only when
// the slot's first owner differs from the one the client was shown (or that map is no
// longer known), and never towards this node itself.
bool MovedDue(const SlotHistory& h, uint64_t fetched, uint64_t now, uint32_t slot,
              const std::string& now_first, const std::string& self_id);

}  // namespace dynakv::server
