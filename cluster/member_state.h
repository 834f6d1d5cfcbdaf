// cluster/member_state.h: what gossip says about one cluster member (a plain value).
//
// Split from membership.h so the message codec can carry it without depending on the
// failure detector. Thread-safety: value types; no shared state.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace dynakv::cluster {

// Lifecycle of a member. Ring ownership: joining/up/suspect/down own their ranges (down is
// temporary, Dynamo §4.6: failures are handled by sloppy quorum, not by re-partitioning);
// leaving and removed own nothing. Removed is permanent (a tombstone kept in gossip).
enum class MemberStatus : uint8_t {
  kJoining = 0,
  kUp = 1,
  kSuspect = 2,
  kDown = 3,
  kLeaving = 4,
  kRemoved = 5,
};
constexpr uint8_t kMaxMemberStatus = 5;

const char* MemberStatusName(MemberStatus s);
inline bool OwnsRange(MemberStatus s) {
  return s == MemberStatus::kJoining || s == MemberStatus::kUp || s == MemberStatus::kSuspect ||
         s == MemberStatus::kDown;
}

struct MemberState {
  std::string id;
  std::string cluster_addr;
  std::string client_addr;
  MemberStatus status = MemberStatus::kJoining;
  uint32_t weight = 100;     // capacity: share of the partitions (PartitionRing)
  std::string zone;          // replicas of a partition go to distinct zones where possible
  uint64_t heartbeat = 0;    // bumped by the member itself every gossip round
  uint64_t incarnation = 0;  // bumped by the member at start and to refute suspicion
  bool operator==(const MemberState&) const = default;
};

}  // namespace dynakv::cluster
