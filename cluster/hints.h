// cluster/hints.h: hinted handoff (Dynamo §4.6). A node that stands in for an unreachable
// preference-list node keeps the record under "h/" + owner + '\0' + key, durably, and
// counts it towards W. A bounded pass every gossip interval sends each hint to its owner
// once the owner is reachable; the hint is deleted only when the owner acknowledged that
// exact version (a hint that grew meanwhile goes next pass). Hints for an owner that is
// gone for good go to the key's current replicas. Bounded in count (NodeConfig::max_hints):
// past it a stand-in refuses the hint, so the write counts one copy fewer towards W.
// See docs/ARCHITECTURE.md, "Hinted handoff".
//
// Thread-safety: single-threaded; owned by one Node.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>

#include "cluster/node_context.h"

namespace dynakv::cluster {

class Hints {
 public:
  explicit Hints(NodeContext* ctx) : ctx_(ctx) {}

  // Joins `rec` into the hint held for `owner` (a new hint counts against
  // NodeConfig::max_hints; past it: kLimit "hint store full", nothing stored).
  Status Store(const std::string& owner, const std::string& key, const Record& rec);
  // The hint held for (owner, key): *have = false when there is none (or it is corrupt).
  Status Peek(const std::string& owner, const std::string& key, Record* rec, bool* have);
  // Whether any hint for `key` is held (the reaper keeps such a key: a replica has not seen
  // the latest write yet).
  bool HeldFor(const std::string& key) const;

  // One bounded delivery pass, at most one per gossip interval.
  void Deliver(uint64_t now_ms);
  // A kWriteAck: true if it answered one of our deliveries (then it is handled).
  bool OnAck(uint64_t id, const Status& s);
  void Expire(uint64_t id);

  // Counts the held hints (at start).
  Status Recount();
  // After the "h/" range was deleted (FLUSHALL).
  void ResetAfterFlush();
  uint64_t count() const { return count_; }
  // Held hints by owner (kept with count_; INFO and DYNAMO STATUS show it).
  const std::map<std::string, uint64_t>& by_owner() const { return by_owner_; }

 private:
  // A hinted record on its way to its owner; deleted here once the owner acked.
  struct Delivery {
    std::string hint_key;
    // The hint as sent: a newer hint for the key is kept. Shared with the frame a big one
    // went out in (its stored bytes are the frame's record, not a copy).
    std::shared_ptr<const std::string> bytes;
  };

  void Dropped(const std::string& hint_key);  // a hint was deleted: count it out

  NodeContext* ctx_;
  uint64_t count_ = 0;
  std::map<std::string, uint64_t> by_owner_;
  std::string cursor_;  // where the next delivery pass starts
  uint64_t next_pass_ms_ = 0;
  std::map<uint64_t, Delivery> deliveries_;
  std::set<std::string> in_flight_;
};

}  // namespace dynakv::cluster
