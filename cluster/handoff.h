// cluster/handoff.h: ownership handoff. When the ring changes (a join, a leave, a removal),
// partitions gain owners that hold nothing yet, and nodes hold partitions they no longer
// own. This module moves the data, so that no acknowledged write is lost and every
// partition ends with N copies again (Dynamo §4.2's incremental scalability; Riak's
// ownership and repair handoff).
//
// Two rules, both per partition and both derived from local state, so a restart, a second
// ring change or a lost message never needs coordination:
//   - A node that holds records of a partition it does not own (it left, was displaced by a
//     joiner, or got a stray write) streams the partition to every current owner, and drops
//     its copy only once each of them acknowledged the last chunk durably. This check runs
//     every second, so nothing depends on having seen the ring change happen.
//   - When the ring changes, a node that owned a partition before and still does streams it
//     to each owner the change added. Every such node does (not one elected sender), so a
//     write held by any surviving replica reaches the newcomer even if one sender dies.
// Transfers to one target node form a stream: a chunk (bounded in records and bytes) takes
// the next records of that target's partitions in partition order, so thousands of small
// partitions move in few round trips. One chunk in flight per stream, at most
// handoff_concurrency streams at once, all under a byte-rate budget. The receiver Joins
// each record (the DVV sync: a concurrent write is never lost) and acks once durable; the
// sender persists its cursor ("m/xfer/...") after each ack, so a crash on either side
// resumes from the last acknowledged chunk, not from zero. A partition written to while a
// transfer ran is sent over again before the copy is dropped.
// See docs/ARCHITECTURE.md, "Ownership handoff".
//
// Thread-safety: single-threaded; owned by one Node.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "cluster/node_context.h"

namespace dynakv::cluster {

class Hints;

class Handoff {
 public:
  Handoff(NodeContext* ctx, Hints* hints) : ctx_(ctx), hints_(hints) {}

  // Loads the persisted transfers (at start).
  Status Load();
  // The ring changed from `old` to the current one: plan the transfers to new owners.
  void OnRingChanged(const PartitionRing& old);
  // A record of record key `rkey` was stored here. With keyspaces of different n, when its
  // n does not reach this node's place in the partition's owner list (a write from a
  // coordinator with an older ring, a chunk sent before a later change moved this node
  // down), the partition goes to the key's replicas, as a stray partition would.
  void NoteStored(std::string_view rkey);
  void Tick(uint64_t now);
  void OnChunk(const Message& m);
  void OnAck(const Message& m);
  void Expire(uint64_t id);
  // After FLUSHALL: nothing left to hand off.
  void Reset();

  std::vector<Node::TransferInfo> Transfers() const;

 private:
  // The transfers one level of partition p's owner list (its first `level` nodes) needs.
  void OnRingChangedAt(uint32_t p, int level, const PartitionRing& old);
  using XferKey = std::pair<uint32_t, std::string>;  // (partition, target)
  struct Transfer {
    std::string cursor;          // last client key the target acknowledged ("" = none)
    bool active = false;         // part of the chunk in flight
    uint64_t started_ms = 0;
    uint32_t writes_at_start = 0;  // ReplicaStore::partition_writes when this pass began
    uint64_t records = 0, bytes = 0;
    uint32_t restarts = 0;  // bumped when the transfer starts over (a chunk in flight is then moot)
  };
  // The chunk in flight to one target: which transfers it advances, and how far.
  struct Part {
    uint32_t partition = 0;
    std::string last;  // its last key in the chunk
    bool end = false;  // the chunk holds the rest of the partition
    uint64_t records = 0, bytes = 0;
    uint32_t restarts = 0;  // the transfer's when the chunk was sent
  };
  struct Stream {
    uint64_t req_id = 0;    // of the chunk in flight; 0 = none
    uint64_t retry_ms = 0;  // not before this (after a failure)
    std::vector<Part> parts;
  };

  void Add(uint32_t p, const std::string& target);
  void Finish(std::map<XferKey, Transfer>::iterator it);
  void Cancel(std::map<XferKey, Transfer>::iterator it);
  void Persist(const XferKey& k, const std::string& cursor);
  void Unpersist(const XferKey& k);
  void CheckStrays();
  void MaybeDrop(uint32_t p);
  bool Pump(const std::string& target, uint64_t now);
  // Ends a transfer whose partition was sent whole: done, or (written meanwhile) again.
  void EndOfPartition(std::map<XferKey, Transfer>::iterator it);
  void MaybeFinishLeave();
  bool HasTransfer(uint32_t p) const { return per_partition_[p] > 0; }

  NodeContext* ctx_;
  Hints* hints_;
  std::map<XferKey, Transfer> xfers_;
  std::vector<uint16_t> per_partition_ = std::vector<uint16_t>(kPartitions, 0);
  std::map<std::string, Stream> streams_;        // by target
  std::map<uint64_t, std::string> by_req_;       // chunk in flight -> target
  uint64_t next_stray_check_ms_ = 0;
  double budget_bytes_ = 0;    // token bucket for handoff_bytes_per_s
  uint64_t budget_ms_ = 0;
  // The log (LogProgress): partitions queued per target since the last line, and the totals
  // of the transfers since the node last had none.
  void LogProgress(uint64_t now);
  std::map<std::string, uint32_t> queued_;
  uint64_t next_progress_log_ms_ = 0;
  uint64_t run_done_ = 0, run_records0_ = 0, run_bytes0_ = 0, run_started_ms_ = 0;
  bool run_active_ = false;
};

}  // namespace dynakv::cluster
