// cluster/write_coordinator.h: writes this node coordinates (Dynamo §4.5). The coordinator
// applies the operation to its own copy (it alone assigns the write's dot), then sends the
// new record to the rest of the preference list and answers once W copies are durable
// (WriteQuorum; its own counts). A preference-list node believed down is stood in for by
// the next reachable node past the top N, which keeps the record as a hint (sloppy quorum,
// §4.6). When every preference-list node is down this node stands in as coordinator.
// A write for a key this node does not replicate goes to a replica (Forwarder).
// See docs/ARCHITECTURE.md, "The path of a request".
//
// Thread-safety: single-threaded; owned by one Node.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "cluster/node.h"
#include "cluster/node_context.h"
#include "cluster/quorum.h"

namespace dynakv::cluster {

class Forwarder;
class Hints;

class WriteCoordinator {
 public:
  using WriteCallback = Node::WriteCallback;

  WriteCoordinator(NodeContext* ctx, Forwarder* forwarder, Hints* hints)
      : ctx_(ctx), forwarder_(forwarder), hints_(hints) {}

  // A client write: the standalone fast path, else Coordinate.
  void Write(const std::string& key, WriteRequest req, WriteCallback done);
  // forwarded: another node handed us the request; coordinate even if we are not a replica.
  void Coordinate(const std::string& key, WriteRequest req, WriteCallback done,
                  bool forwarded, uint64_t timeout_ms);
  void OnAck(uint64_t id, const std::string& from, const Status& s);
  void Expire(uint64_t id);
  // Called with the key after this node stored a write it coordinated (keyspaces of
  // different n only: Handoff::NoteStored, for a forwarded write this node is not a replica of).
  void OnStored(std::function<void(const std::string&)> fn) { on_stored_ = std::move(fn); }

  // A one-slot transaction (Node::BeginBatch/EndBatch; docs/ARCHITECTURE.md,
  // "Transactions"): between the two, a write for a key this node replicates is applied
  // here at once and answered with copies = 1, and its record waits in the batch; EndBatch
  // sends every record as one kWriteBatch per replica (or to a fallback as hints) and
  // answers `done` at W acknowledgements of the whole batch.
  void BeginBatch();
  void EndBatch(WriteCallback done);
  bool batching() const { return batching_; }

 private:
  struct Pending {
    WriteQuorum quorum;
    WriteReply reply;
    WriteCallback cb;
    // After the reply, the request stays until every replica answered or its deadline, only
    // to count late acknowledgements into `progress` (WAIT).
    std::shared_ptr<WriteProgress> progress;
    std::string refusal;  // the first replica's refusal ("n3: hint store full"), for the error
  };
  Status LoadForWrite(const std::string& key, const WriteRequest& req, Record* rec, bool* existed);
  Status ApplyLocal(const std::string& key, WriteRequest& req, Record* rec, bool* existed,
                    bool* was_live);
  Status ApplyStandIn(const std::string& key, const std::string& owner, WriteRequest& req,
                      Record* rec);
  bool Lww(const std::string& key) const;
  Status ApplyOp(WriteRequest& req, Record* rec, ActorId who, bool lww);
  Status ApplyCounter(Record* rec, const WriteRequest& req, uint64_t now_ms, ActorId who,
                      bool lww);
  Status ApplyScoreAdd(Record* rec, const WriteRequest& req, uint64_t now_ms, ActorId who);
  Status ApplyFloatAdd(Record* rec, const WriteRequest& req, uint64_t now_ms, ActorId who);
  void Progress(uint64_t id);
  std::string SendTarget(const std::string& owner, const std::string& key,
                         std::vector<uint32_t>* walk, size_t* fallback) const;

  NodeContext* ctx_;
  Forwarder* forwarder_;
  Hints* hints_;
  std::map<uint64_t, Pending> writes_;
  bool batching_ = false;
  std::vector<std::string> batch_pref_;  // the batch's preference list (one slot: one list)
  int batch_w_ = 1;
  std::function<void(const std::string&)> on_stored_;                      // the largest W of the batch's keys (their policies')
  std::vector<std::pair<std::string, Record>> batch_;
};

}  // namespace dynakv::cluster
