// cluster/read_coordinator.h: reads this node coordinates (Dynamo §4.5): ask the key's
// preference list, answer once R replicas replied (ReadQuorum), keep listening until all
// answered or the deadline passed, then read-repair the replicas that differed (§4.7).
// A read for a key this node does not replicate goes to a replica (Forwarder).
// See docs/ARCHITECTURE.md, "The path of a request".
//
// Thread-safety: single-threaded; owned by one Node.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "cluster/node.h"
#include "cluster/node_context.h"
#include "cluster/quorum.h"

namespace dynakv::cluster {

class Forwarder;

class ReadCoordinator {
 public:
  using ReadCallback = Node::ReadCallback;

  ReadCoordinator(NodeContext* ctx, Forwarder* forwarder) : ctx_(ctx), forwarder_(forwarder) {}

  // A client read: the standalone fast path, else Coordinate.
  // reaping: the reaper's all-replica read of a record it believes dead; a dead record is
  // then not handed to a replica that has none (it reaped it already; see Finish).
  void Read(const std::string& key, int r, ReadCallback done, bool reaping = false);
  // forwarded: another node handed us the request; coordinate even if we are not a replica.
  void Coordinate(const std::string& key, int r, ReadCallback done, bool forwarded,
                  uint64_t timeout_ms, bool reaping = false);
  void OnReply(uint64_t id, const std::string& from, const Status& s, Record rec);
  void Expire(uint64_t id);
  // A replica's side: answer a kReadReq from the local copy.
  void OnReadReq(const Message& m);

 private:
  struct Pending {
    std::string key;
    ReadQuorum quorum;
    bool done = false;  // the client has its answer; waiting on for read repair
    bool reaping = false;
    ReadCallback cb;
  };
  void Progress(uint64_t id);
  void Finish(uint64_t id);

  NodeContext* ctx_;
  Forwarder* forwarder_;
  std::map<uint64_t, Pending> reads_;
};

}  // namespace dynakv::cluster
