// cluster/key_layout.h: how one node lays its state out in the storage engine's single
// ordered key space. Every module that touches the engine names its keys through here.
//
//   "d/" + key                   this replica's Record of `key` (EncodeRecord)
//   "h/" + owner + '\0' + key    a hinted Record held for `owner` while it is down
//   "m/incarnation"              the incarnation counter (membership)
//   "m/members"                  the member list as last seen (restored at start)
//
// See docs/ARCHITECTURE.md, "Storage layout". Thread-safety: pure functions and constants.
#pragma once

#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "storage/engine.h"

namespace dynakv::cluster {

constexpr std::string_view kDataPrefix = "d/";
constexpr std::string_view kDataEnd = "d0";  // '0' == '/' + 1: end of the "d/" range
constexpr std::string_view kHintPrefix = "h/";
constexpr std::string_view kHintEnd = "h0";
constexpr std::string_view kIncarnationKey = "m/incarnation";
constexpr std::string_view kMembersKey = "m/members";

std::string DataKey(std::string_view key);
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
    if (key.size() > sizeof(buf_) - kDataPrefix.size()) {
      long_.assign(kDataPrefix);
      long_.append(key);
      return long_;
    }
    std::memcpy(buf_, kDataPrefix.data(), kDataPrefix.size());
    if (!key.empty()) std::memcpy(buf_ + kDataPrefix.size(), key.data(), key.size());
    return {buf_, kDataPrefix.size() + key.size()};
  }

 private:
  char buf_[storage::kKeyBytesMax + 1];  // one more than any engine takes
  std::string long_;
};

}  // namespace dynakv::cluster
