// cluster/node_context.h: what every module of one node shares: its configuration, the
// doors to the world (Transport, Clock, Random, Logger, the engine), membership, placement,
// the replica store, the request table, the counters and the node's actor id. node.cc
// builds one and hands it to each module; modules talk to each other only through the
// narrow interfaces node.cc wires. See docs/ARCHITECTURE.md, "Modules".
//
// Thread-safety: single-threaded; owned by one Node.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "cluster/env.h"
#include "cluster/keyspace.h"
#include "cluster/membership.h"
#include "cluster/message.h"
#include "cluster/node.h"
#include "cluster/placement.h"
#include "cluster/replica_store.h"
#include "cluster/request_table.h"
#include "storage/engine.h"
#include "storage/status.h"

namespace dynakv::cluster {

struct NodeContext {
  NodeContext(NodeConfig c, Transport* t, Clock* cl, Random* r, storage::Engine* e, Logger* l)
      : cfg(std::move(c)),
        transport(t),
        clock(cl),
        random(r),
        engine(e),
        logger(l),
        standalone(cfg.cluster_addr.empty()),
        keyspaces(KeyspacePolicy{"", cfg.n, cfg.r, cfg.w, false}, cfg.keyspaces),
        membership(MembershipConfig{cfg.id, cfg.cluster_addr, cfg.client_addr, cfg.weight,
                                    cfg.zone, cfg.seeds, cfg.gossip_interval_ms, cfg.suspect_after_ms,
                                    cfg.down_after_ms},
                   r),
        placement(cfg.id, keyspaces.max_n(), cfg.weight, cfg.zone),
        store(e, cl, l, cfg.record_cache_bytes, &cfg.limits) {}

  NodeConfig cfg;
  Transport* transport;
  Clock* clock;
  Random* random;
  storage::Engine* engine;
  Logger* logger;
  bool standalone;
  Keyspaces keyspaces;
  // A one-slot transaction runs (Node::BeginBatch): reads are this replica's copy and writes
  // wait in the write coordinator's batch. Only ever set within one synchronous call.
  bool batching = false;
  Membership membership;
  Placement placement;
  ReplicaStore store;
  RequestTable requests;
  NodeStats stats;
  ActorId actor = 0;

  void Log(Logger::Level level, const std::string& msg) {
    if (logger) logger->Log(level, msg);
  }

  void Send(const std::string& addr, Message* m) {
    m->from_id = cfg.id;
    m->from_addr = cfg.cluster_addr;
    transport->Send(addr, EncodeFrame(*m, cfg.cluster_secret));
  }
  const std::string* AddrOf(const std::string& id) const {
    const MemberState* m = membership.Find(id);
    return m ? &m->cluster_addr : nullptr;
  }
  void SendTo(const std::string& id, Message* m) {
    if (const std::string* addr = AddrOf(id)) Send(*addr, m);
  }
  // Encode once, send to several: the frame Send would send, and sending such a frame.
  std::string Encode(Message* m) {
    m->from_id = cfg.id;
    m->from_addr = cfg.cluster_addr;
    return EncodeFrame(*m, cfg.cluster_secret);
  }
  void SendFrameTo(const std::string& id, std::string frame) {
    if (const std::string* addr = AddrOf(id)) transport->Send(*addr, std::move(frame));
  }
  // The same for a frame around a big record's stored bytes (EncodeSplitFrame).
  SplitFrame EncodeSplit(Message* m, std::shared_ptr<const std::string> record_bytes) {
    m->from_id = cfg.id;
    m->from_addr = cfg.cluster_addr;
    return EncodeSplitFrame(*m, cfg.cluster_secret, std::move(record_bytes));
  }
  void SendSplit(const std::string& addr, const SplitFrame& frame) { transport->SendSplit(addr, frame); }
  void SendSplitTo(const std::string& id, const SplitFrame& frame) {
    if (const std::string* addr = AddrOf(id)) transport->SendSplit(*addr, frame);
  }

  // The replicas a read asks first (docs/ARCHITECTURE.md, "Reads ask R replicas"), as bits
  // by position in pref: the first `want` that are not this node and that the failure
  // detector holds reachable. With fewer reachable, *all is set: every other replica is
  // asked too, these first. N is at most 16 (config.cc).
  uint64_t FirstAsked(const std::vector<std::string>& pref, size_t want, bool* all) const {
    DKV_ASSERT(pref.size() <= 64);
    uint64_t asked = 0;
    size_t n = 0;
    for (size_t i = 0; i < pref.size(); ++i) {
      if (pref[i] == cfg.id) continue;
      if (n < want && membership.IsReachable(pref[i])) {
        asked |= uint64_t{1} << i;
        ++n;
      }
    }
    *all = n < want;
    return asked;
  }

  uint64_t NewRequest(RequestKind kind, uint64_t timeout_ms) {
    return requests.Add(kind, clock->NowMs() + timeout_ms);
  }

  ActorId FreshActor() {
    ActorId a = 0;
    while (a == 0) a = random->Next();
    return a;
  }

  // r or w as the client gave it (0 = the configured default); must lie in [1, n].
  // The keyspace policy of a record key (keyspace.h).
  const KeyspacePolicy& PolicyOf(std::string_view rkey) const { return keyspaces.ForRecord(rkey); }
  // Resolves a request's R or W (0: the policy's default) and checks it against the key's n.
  Status CheckQuorum(int* q, int def, int n, const char* what) const {
    if (*q == 0) *q = def;
    if (*q < 1 || *q > n) {
      return Status::Invalid(std::string(what) + " must be between 1 and n (" +
                             std::to_string(n) + ")");
    }
    return Status::OK();
  }
};

inline bool Contains(const std::vector<std::string>& v, const std::string& id) {
  return std::find(v.begin(), v.end(), id) != v.end();
}

}  // namespace dynakv::cluster
