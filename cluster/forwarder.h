// cluster/forwarder.h: client requests for keys this node does not replicate are handed
// to a preference-list node to coordinate (its actor is already in the key's clock, so
// clocks stay small, and its local copy saves a round trip). Both sides live here: the
// sender waits for the answer (or the deadline); the receiver coordinates the request with
// a shorter deadline and answers. A duplicated forward frame is coordinated once.
// See docs/ARCHITECTURE.md, "The path of a request".
//
// Thread-safety: single-threaded; owned by one Node.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "cluster/node.h"
#include "cluster/node_context.h"

namespace dynakv::cluster {

class ReadCoordinator;
class WriteCoordinator;

class Forwarder {
 public:
  Forwarder(NodeContext* ctx) : ctx_(ctx) {}
  void Wire(ReadCoordinator* reads, WriteCoordinator* writes) {
    reads_ = reads;
    writes_ = writes;
  }

  // The first preference-list node we believe reachable; else the first one (it may be back).
  const std::string& Target(const std::vector<std::string>& pref) const;
  void Forward(const std::string& to, const std::string& key, bool is_write, int r,
               const WriteRequest* req, Node::ReadCallback read_cb,
               Node::WriteCallback write_cb);
  void OnForwardReq(Message& m);
  void OnForwardResp(Message& m);
  void Expire(uint64_t id);

 private:
  struct Pending {
    Node::ReadCallback read_cb;
    Node::WriteCallback write_cb;
    int w = 0;  // the write's W (0 = the configured one): the copies its success reports
  };
  bool Seen(const std::string& from, uint64_t req_id);

  static constexpr size_t kSeenMax = 100000;
  NodeContext* ctx_;
  ReadCoordinator* reads_ = nullptr;
  WriteCoordinator* writes_ = nullptr;
  std::map<uint64_t, Pending> forwards_;
  std::set<std::pair<std::string, uint64_t>> seen_;
  std::deque<std::pair<uint64_t, std::pair<std::string, uint64_t>>> seen_order_;
};

}  // namespace dynakv::cluster
