// cluster/key_layout.h: how one node lays its state out in the storage engine's single
// ordered key space. Every module that touches the engine names its keys through here.
//
//   "d/" + P + key               this replica's Record of `key` (EncodeRecord); P is the
//                                key's partition (2 bytes, big-endian), so one partition's
//                                records are one key range: handoff streams and drops them
//                                as a range scan (Riak keeps one store per partition, too)
//   "h/" + owner + '\0' + key    a hinted Record held for `owner` while it is down
//   "m/incarnation"              the incarnation counter (membership)
//   "m/members"                  the member list as last seen (restored at start)
//   "m/leaving"                  present while this node is leaving (survives a restart)
//   "m/xfer/" + P + target       an outbound partition transfer and its acked cursor
//
// See docs/ARCHITECTURE.md, "Storage layout". Thread-safety: pure functions and constants.
#pragma once

#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "cluster/partition_ring.h"
#include "storage/engine.h"

namespace dynakv::cluster {

constexpr std::string_view kDataPrefix = "d/";
constexpr std::string_view kDataEnd = "d0";  // '0' == '/' + 1: end of the "d/" range
constexpr std::string_view kHintPrefix = "h/";
constexpr std::string_view kHintEnd = "h0";
constexpr std::string_view kIncarnationKey = "m/incarnation";
constexpr std::string_view kMembersKey = "m/members";
constexpr std::string_view kLeavingKey = "m/leaving";
constexpr std::string_view kXferPrefix = "m/xfer/";
constexpr std::string_view kXferEnd = "m/xfer0";
constexpr size_t kDataKeyHead = 4;  // "d/" + 2 partition bytes

std::string DataKey(std::string_view key);
// The client key inside a data key.
inline std::string_view ClientKeyOf(std::string_view data_key) {
  return data_key.substr(kDataKeyHead);
}
// [begin, end) of partition p's data keys.
std::string PartitionBegin(uint32_t p);
std::string PartitionEnd(uint32_t p);
// The partition a data key is in (its 2 bytes after "d/"), without hashing the key.
inline uint32_t PartitionOfDataKey(std::string_view data_key) {
  return (uint32_t(uint8_t(data_key[2])) << 8) | uint8_t(data_key[3]);
}
// Whether a key from a scan of the "d/" range is one DataKey() can make: long enough to hold
// the partition, and the partition in range. Scans skip any other key (a corrupt or foreign
// row must not crash the node: found by tests/fuzz/node_state_fuzz.cc).
inline bool IsDataKey(std::string_view k) {
  return k.size() >= kDataKeyHead && k.substr(0, kDataPrefix.size()) == kDataPrefix &&
         PartitionOfDataKey(k) < kPartitions;
}
// "m/xfer/" + P + target, and back (false if it is not one).
std::string TransferKey(uint32_t p, std::string_view target);
bool SplitTransferKey(std::string_view k, uint32_t* p, std::string* target);
std::string HintKey(std::string_view owner, std::string_view key);
// Splits a hint key into its owner and client key; false if it is not one.
bool SplitHintKey(std::string_view hk, std::string* owner, std::string* key);

// Deletes every engine key in [begin, end), in batches (FLUSHALL).
Status DeleteRange(storage::Engine* engine, std::string_view begin, std::string_view end);

// DataKey(key) built in a buffer reused across calls (no allocation, two memcpy: the write
// path builds it up to four times per SET); valid until the next call. A key too long for
// any engine goes through a string, so the engine still sees it and says why it is refused.
class DataKeyBuffer {
 public:
  std::string_view Of(std::string_view key) {
    uint32_t p = KeyPartition(key);
    partition_ = p;
    if (key.size() > sizeof(buf_) - kDataKeyHead) {
      long_ = DataKey(key);
      return long_;
    }
    std::memcpy(buf_, kDataPrefix.data(), kDataPrefix.size());
    buf_[2] = static_cast<char>(p >> 8);
    buf_[3] = static_cast<char>(p & 0xff);
    if (!key.empty()) std::memcpy(buf_ + kDataKeyHead, key.data(), key.size());
    return {buf_, kDataKeyHead + key.size()};
  }
  uint32_t partition() const { return partition_; }  // of the last key built

 private:
  char buf_[storage::kKeyBytesMax + 1];  // one more than any engine takes
  std::string long_;
  uint32_t partition_ = 0;
};

}  // namespace dynakv::cluster
