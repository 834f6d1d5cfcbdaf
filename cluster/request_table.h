// cluster/request_table.h: request ids and deadlines for everything a node waits on (reads
// and writes it coordinates, forwards, hint deliveries, anti-entropy exchanges, scans).
//
// Ids are unique per life of the node and start at a random point each life, so a late
// reply to the previous life's request #k cannot complete this life's request #k. Each
// request has a kind; when its deadline passes the table calls the handler its kind
// registered, once. A module that finished a request early simply ignores the expiry of an
// id it no longer knows. Replies are routed by the modules themselves (each keeps its own
// pending state keyed by id). See docs/ARCHITECTURE.md, "Requests and timers".
//
// Thread-safety: single-threaded; owned by one Node.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <utility>
#include <vector>

namespace dynakv::cluster {

enum class RequestKind : uint8_t {
  kRead,          // a read this node coordinates
  kWrite,         // a write this node coordinates
  kForward,       // a client request handed to a preference-list node
  kHintDelivery,  // a hinted record on its way to its owner
  kAntiEntropy,   // one step of a Merkle exchange
  kScan,          // a page of keys asked of another node
  kHandoff,       // a chunk of a partition on its way to a new owner
  kRange,         // a collection range read this node coordinates
  kCount,
};

class RequestTable {
 public:
  using ExpireHandler = std::function<void(uint64_t id)>;

  void OnExpire(RequestKind kind, ExpireHandler fn) {
    handlers_[static_cast<size_t>(kind)] = std::move(fn);
  }
  // The first id of this life.
  void Reset(uint64_t first_id) { next_id_ = first_id; }

  // A new id, expiring at deadline_ms.
  uint64_t Add(RequestKind kind, uint64_t deadline_ms) {
    uint64_t id = next_id_++;
    timers_.emplace(deadline_ms, std::make_pair(id, kind));
    return id;
  }

  // Calls the handler of every request whose deadline is <= now_ms, in deadline order.
  // Collects first: handlers may add requests.
  void ExpireDue(uint64_t now_ms);

  size_t size() const { return timers_.size(); }

 private:
  uint64_t next_id_ = 1;
  std::multimap<uint64_t, std::pair<uint64_t, RequestKind>> timers_;  // deadline -> id, kind
  std::array<ExpireHandler, static_cast<size_t>(RequestKind::kCount)> handlers_;
};

}  // namespace dynakv::cluster
