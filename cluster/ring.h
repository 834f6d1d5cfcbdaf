// cluster/ring.h: the consistent-hash ring (Dynamo §4.2) with virtual nodes.
//
// Every node derives the tokens of every member deterministically from its id
// (token i of node X = XXH3_64bits(X + "#" + i)), so two nodes that agree on the member
// set (ids and token counts) compute the same ring without exchanging tokens. A node with
// more tokens owns proportionally more of the key space (heterogeneous capacity).
// A key belongs at position XXH3_64bits(key); its preference list is the first N distinct
// physical nodes met walking clockwise from there (duplicates of a physical node skipped).
//
// Thread-safety: a value type; const methods may be called concurrently, mutation needs
// exclusive access (in practice: one node's loop).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace dynakv::cluster {

class Ring {
 public:
  struct Member {
    std::string id;
    int tokens = 0;
  };

  static constexpr int kMaxTokensPerNode = 4096;  // bounds the ring's memory per member

  // Replaces the member set and recomputes the ring. Duplicate ids: the last wins.
  // Token counts are clamped to [1, kMaxTokensPerNode].
  void Build(std::vector<Member> members);

  static uint64_t KeyHash(std::string_view key);
  static uint64_t TokenFor(std::string_view node_id, int i);

  // Up to n distinct node ids clockwise from the key (fewer when the ring has fewer nodes).
  std::vector<std::string> PreferenceList(std::string_view key, size_t n) const;

  // The nodes after the top n (the sloppy-quorum fallbacks), in walk order, at most `count`.
  std::vector<std::string> NextAfter(std::string_view key, size_t n, size_t count) const;

  // Every distinct node in clockwise order from the key: the first n are the preference
  // list, the rest are the fallbacks. Returns indexes into members(); no string copies.
  void Walk(uint64_t hash, size_t max, std::vector<uint32_t>* out) const;

  // (token, node id) pairs in ring order.
  std::vector<std::pair<uint64_t, std::string>> Tokens() const;

  const std::vector<Member>& members() const { return members_; }
  size_t node_count() const { return members_.size(); }
  bool empty() const { return members_.empty(); }
  // Same member set and token counts (so the same ring).
  bool SameMembers(const std::vector<Member>& members) const;

 private:
  struct Token {
    uint64_t pos;
    uint32_t member;
  };
  std::vector<Member> members_;  // sorted by id
  std::vector<Token> tokens_;    // sorted by pos
};

}  // namespace dynakv::cluster
