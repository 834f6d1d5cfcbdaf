// cluster/read_coordinator.h: reads this node coordinates (Dynamo §4.5): ask R replicas of
// the key's preference list (itself first, then the reachable ones in order), answer once R
// replied (ReadQuorum), then read-repair the replicas that differed (§4.7). The other N-R
// are spares, asked when an asked replica fails or has not answered within
// cfg.read_retry_ms (a speculative retry); read_retry_ms = 0 asks all N at once, as Dynamo.
// A read for a key this node does not replicate goes to a replica (Forwarder).
// See docs/ARCHITECTURE.md, "The path of a request" and "Reads ask R replicas".
//
// Thread-safety: single-threaded; owned by one Node.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

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
  // big_at (> 0): where this node is the key's only replica, a record of big_at bytes or more
  // comes back without its values and ReadReply::big set (Node::ReadLeavingBig).
  void Read(const std::string& key, int r, ReadCallback done, bool reaping = false, size_t big_at = 0);
  // forwarded: another node handed us the request; coordinate even if we are not a replica.
  void Coordinate(const std::string& key, int r, ReadCallback done, bool forwarded,
                  uint64_t timeout_ms, bool reaping = false, size_t big_at = 0);
  void OnReply(uint64_t id, const std::string& from, const Status& s, Record rec);
  void Expire(uint64_t id);
  // Asks the spares of every read that has waited read_retry_ms (call every tick).
  void OnTick(uint64_t now_ms);
  // A replica's side: answer a kReadReq from the local copy.
  void OnReadReq(const Message& m);
  // A replica said a big reply of `bytes` is on its way (kReadComing): the read gets the time
  // it takes to cross at its first deadline, as one whose own copy is big, and asks no spare
  // meanwhile (a second big reply would only slow the first). Once per read.
  void OnComing(uint64_t id, uint64_t bytes);

 private:
  struct Pending {
    std::string key;
    ReadQuorum quorum;
    bool done = false;  // the client has its answer; waiting on for read repair
    bool reaping = false;
    bool taken = false;  // the client's answer took the joined record (a big one): no repair
    uint64_t crossing_ms = 0;  // more time for a big record, given at the first deadline
    bool crossed = false;      // that time was given (once per read)
    std::vector<std::string> held_spares;  // a big read's spares: asked on a failure or then
    ReadCallback cb;
    std::vector<std::string> spares;  // replicas not asked yet
    uint64_t retry_at_ms = 0;         // when the spares are asked if the read is undecided
    uint64_t started_ms = 0;
    // This node's copy, when big (kEncodeInPlaceBytes or more, plain values) and R >= 2: its
    // versions only, held back from the quorum until a peer's reply comes. A peer's copy with
    // the same versions then answers for both, so the coordinator does not copy its own
    // 100 MB out of the store in one loop turn; a reply with other versions has it load its
    // copy whole (ReleaseOwn) and join as before. A failed reply leaves it held.
    Record own;
    bool own_held = false;
  };
  Status LoadOwn(const std::string& key, size_t big_at, ReadReply* reply);
  void Ask(uint64_t id, std::string replica, Pending* p);  // a kReadReq, and expect its reply
  void AskSpares(uint64_t id, Pending* p);
  void ReleaseOwn(Pending* p);
  void Progress(uint64_t id);
  void Finish(uint64_t id, Record* joined_out = nullptr);

  NodeContext* ctx_;
  Forwarder* forwarder_;
  std::map<uint64_t, Pending> reads_;
  RetryWait retry_wait_;  // when a read asks its spares (quorum.h)
};

}  // namespace dynakv::cluster
