// cluster/anti_entropy.h: Merkle anti-entropy (Dynamo §4.7). Every ae_interval_ms the node
// compares Merkle trees (merkle.h) with one random reachable peer it shares replicas with,
// over the keys both replicate, and the two exchange and Join the records of the leaves
// that differ. Trees are rebuilt from a scan of the local data, a bounded chunk per tick,
// never on the client path; each exchange moves a bounded number of records. It only Joins
// (the DVV sync), so it never resurrects a deleted value.
//
// A round between us (A) and a peer P:
//   A -> P  kAeTreeReq   A's interior hashes of A's tree for P, and A's ring fingerprint
//   P -> A  kAeTreeResp  the interior nodes that differ and P's leaf hashes under them
//                        (empty: the trees agree, the round is over)
//   A -> P  kAeKeysReq   A's records of (some of) the differing leaves; the leaves sent
//                        whole are listed
//   P -> A  kAeKeysResp  P Joins them in and answers with its own record of every key
//                        where it now differs from what A sent, plus its records of the
//                        keys of the whole leaves that A did not send; A Joins those.
// A lost or repeated message costs work, never data; a round that times out is forgotten.
// Trees compare only under the same ring, so both sides mean the same key set.
// See docs/ARCHITECTURE.md, "Anti-entropy".
//
// Thread-safety: single-threaded; owned by one Node.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "cluster/merkle.h"
#include "cluster/node_context.h"

namespace dynakv::cluster {

class AntiEntropy {
 public:
  explicit AntiEntropy(NodeContext* ctx) : ctx_(ctx) {}

  void Tick(uint64_t now);
  // DYNAMO SYNC: a fresh build, then a round with every reachable partner. Returns how
  // many peers will be contacted.
  size_t SyncNow();
  void OnTreeReq(const Message& m);
  void OnTreeResp(const Message& m);
  void OnKeysReq(const Message& m);
  void OnKeysResp(const Message& m);
  void Expire(uint64_t id) { pending_.erase(id); }
  // After FLUSHALL: the trees describe data that is gone.
  void Reset();

 private:
  // The Merkle tree for one peer (the keys we both replicate) and, per leaf, which keys are
  // in it (indexes into Snapshot::keys), so the records of a differing leaf are found
  // without another scan.
  struct Peer {
    MerkleTree tree;
    std::vector<std::vector<uint32_t>> leaf_keys;  // kLeaves lists, or empty
  };
  // The trees of every peer, from one scan of the local data under one ring.
  struct Snapshot {
    uint64_t ring_hash = 0;
    std::vector<std::string> keys;  // local keys we replicate with at least one peer
    std::map<std::string, Peer> peers;
  };
  struct Round {
    std::string peer;
    int retries = 0;  // left, when the peer is not ready
  };

  bool Shares(std::string_view key, const std::string& peer) const;
  bool Ready() const;
  const Peer& PeerOf(const std::string& peer) const;
  void StartBuild(uint64_t now);
  void BuildStep(uint64_t now);
  void StartRound(const std::string& peer, int retries = 0);
  bool Append(const std::string& key, Message* out, size_t* bytes);

  NodeContext* ctx_;
  Snapshot ready_;               // the last complete build
  bool have_ready_ = false;
  Snapshot next_;                // the build in progress
  bool building_ = false;
  std::string cursor_;           // engine key the build continues from
  uint64_t next_build_ms_ = 0, next_round_ms_ = 0;
  uint64_t ready_ms_ = 0;        // when ready_ was completed
  bool sync_pending_ = false;    // DYNAMO SYNC: all partners once the build is done
  std::map<uint64_t, Round> pending_;               // req_id -> round, both request kinds
  std::vector<std::pair<uint64_t, Round>> retry_;   // (due_ms, round)
};

}  // namespace dynakv::cluster
