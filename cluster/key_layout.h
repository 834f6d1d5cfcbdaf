// cluster/key_layout.h: how one node lays its state out in the storage engine's single
// ordered key space. Every module that touches the engine names its keys through here.
//
//   "d/" + P + rkey              this replica's Record of record key `rkey` (EncodeRecord);
//                                P is its partition (2 bytes, big-endian), so one
//                                partition's records are one key range: handoff streams and
//                                drops them as a range scan (Riak keeps one store per
//                                partition, too)
//   "h/" + owner + '\0' + key    a hinted Record held for `owner` while it is down
//   "m/incarnation"              the incarnation counter (membership)
//   "m/members"                  the member list as last seen (restored at start)
//   "m/leaving"                  present while this node is leaving (survives a restart)
//   "m/xfer/" + P + target       an outbound partition transfer and its acked cursor
//   "m/ae-hashes"                anti-entropy partition hashes saved by a clean stop, read
//                                and deleted by the next start (AntiEntropy::SaveHashes)
//
// Record keys. The cluster core replicates Records named by a record key ("rkey"). A plain
// key (a string, a counter, a collection's header) is its own record key, except that a
// client key whose first byte is 0xFF gets one more 0xFF in front. A collection's element
// (a hash field, a set member, ...) is the record key
//     0xFF, type (one byte, never 0xFF), varint(key length), key, element
// so it lands in its collection's partition (the partition of `key`), one collection's
// elements are one ordered range, and no client key can be mistaken for one. Scans that list
// client keys skip element records; handoff, anti-entropy, hints and the reaper treat every
// record alike, so they cover the elements for free.
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
constexpr std::string_view kAeHashesKey = "m/ae-hashes";
constexpr std::string_view kXferPrefix = "m/xfer/";
constexpr std::string_view kXferEnd = "m/xfer0";
constexpr size_t kDataKeyHead = 4;  // "d/" + 2 partition bytes

constexpr char kRecordEscape = '\xff';

// The record key of client key `key` (a plain record). Only a key that starts with 0xFF
// changes, so the common case costs one compare: use PlainRecordKeyRef on hot paths.
std::string PlainRecordKey(std::string_view key);
inline bool NeedsEscape(std::string_view key) {
  return !key.empty() && key[0] == kRecordEscape;
}
// `key` itself, or its escaped form built in *buf.
inline const std::string& PlainRecordKeyRef(const std::string& key, std::string* buf) {
  if (!NeedsEscape(key)) return key;
  *buf = PlainRecordKey(key);
  return *buf;
}
// The record key of `element` of collection `key` of type `type` (a byte other than 0xFF).
std::string ElementKey(char type, std::string_view key, std::string_view element);
// The first record key of a collection's elements: every ElementKey(type, key, e) starts
// with it, and nothing else does.
std::string ElementPrefix(char type, std::string_view key);
// What a record key names. A malformed key (a 0xFF that starts neither form) is kOther:
// it is replicated like any record but is no client's key.
enum class RecordKind { kPlain, kElement, kOther };
struct ParsedRecordKey {
  RecordKind kind = RecordKind::kOther;
  char type = 0;                 // kElement
  std::string_view key;          // the client key (kPlain, kElement)
  std::string_view element;      // kElement
};
ParsedRecordKey ParseRecordKey(std::string_view rkey);
inline bool IsPlainRecordKey(std::string_view rkey) {
  return rkey.empty() || rkey[0] != kRecordEscape ||
         (rkey.size() >= 2 && rkey[1] == kRecordEscape);
}
// The partition of a record key: its client key's (for an element, its collection's).
inline uint32_t RecordPartition(std::string_view rkey) {
  if (rkey.empty() || rkey[0] != kRecordEscape) return KeyPartition(rkey);
  ParsedRecordKey p = ParseRecordKey(rkey);
  return KeyPartition(p.kind == RecordKind::kOther ? rkey : p.key);
}

std::string DataKey(std::string_view key);  // of a record key
// The record key inside a data key.
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
    uint32_t p = RecordPartition(key);
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
