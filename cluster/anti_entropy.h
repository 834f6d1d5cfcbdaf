// cluster/anti_entropy.h: Merkle anti-entropy (Dynamo §4.7). Every ae_interval_ms the node
// compares Merkle trees (merkle.h) with one random reachable peer it shares replicas with,
// over the keys both replicate, and the two exchange and Join the records of the leaves
// that differ. It only Joins (the DVV sync), so it never resurrects a deleted value.
//
// The trees are kept up to date incrementally, per partition: each partition this node
// shares with a peer has a hash (the sum of its records' item hashes, merkle.h), and a
// partition is rehashed only when the replica store says it changed since it was last
// hashed (ReplicaStore::partition_changes). A pass over the changed partitions runs every
// ae_interval_ms, a bounded chunk per tick, never on the client path; an idle node with a
// large store hashes nothing. Each partition's hash is kept as kAeSegments segment sums (a
// record's segment: the top bits of its key's hash). A peer's tree is derived from the
// partition hashes when a round needs it: leaf i holds partitions [i*16, i*16+16), those
// shared with that peer.
//
// A round between us (A) and a peer P narrows the difference down level by level, so the
// bytes sent grow with the number of differing keys, not with the size of the leaves:
//   A -> P  kAeTreeReq    A's interior hashes of A's tree for P, and A's ring fingerprint
//   P -> A  kAeTreeResp   the interior nodes that differ and P's leaf hashes under them
//                         (empty: the trees agree, the round is over)
//   A -> P  kAePartsReq   the differing leaves and A's 16 partition hashes under each
//   P -> A  kAePartsResp  the partitions that differ and P's segment hashes of each
//   A -> P  kAeDigestReq  the differing segments (cells) and A's keys there, each with its
//                         item hash (a digest: no values)
//   P -> A  kAeDigestResp P's records where the item hashes differ or A lacks the key, and
//                         the keys whose records P wants (it lacks them, or they differ)
//   A -> P  kAeKeysReq    A Joined P's records and sends its records of the wanted keys
//   P -> A  kAeKeysResp   P Joins them and answers with its record wherever it still
//                         differs from what A sent; A Joins those. The round is over.
// A record dead past its grace period (PastGrace) is not sent to a peer that lacks the key,
// in either direction: the peer may have reaped it, and a copy would restart that replica's
// grace period, so two replicas reaping at different times would trade it for ever.
// A segment with more keys than one digest message takes is listed by sixteenths (cells,
// the next bits of the key hash), as many as fit from a random one on. A lost or repeated message costs
// work, never data; a round that times out is forgotten, and the next finds what is left.
// Trees compare only under the same ring, so both sides mean the same key set.
// See docs/ARCHITECTURE.md, "Anti-entropy".
//
// Thread-safety: single-threaded; owned by one Node.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cluster/merkle.h"
#include "cluster/node_context.h"

namespace dynakv::cluster {

// Segments per partition (a power of 2): the unit below a partition that a round compares.
constexpr uint32_t kAeSegments = 16;

class AntiEntropy {
 public:
  explicit AntiEntropy(NodeContext* ctx);

  void Tick(uint64_t now);
  // DYNAMO SYNC: a fresh build, then a round with every reachable partner. Returns how
  // many peers will be contacted.
  size_t SyncNow();
  void OnTreeReq(const Message& m);
  void OnTreeResp(const Message& m);
  void OnPartsReq(const Message& m);
  void OnPartsResp(const Message& m);
  void OnDigestReq(const Message& m);
  void OnDigestResp(const Message& m);
  void OnKeysReq(const Message& m);
  void OnKeysResp(const Message& m);
  void Expire(uint64_t id) { pending_.erase(id); }
  // After FLUSHALL: the trees describe data that is gone.
  void Reset();
  // Restart without rehashing the store. At a clean stop, SaveHashes encodes the hashes of
  // the partitions that are current (hashed since their last change); the next start hands
  // them to RestoreHashes, and its first pass hashes only the other partitions. False (and
  // nothing taken) when the bytes are damaged or the tree layout or keyspace policies have
  // changed since. Node deletes the saved hashes as it reads them, before any write of
  // its new life, so a later crash never finds hashes of a store that has moved on.
  std::string SaveHashes() const;
  bool RestoreHashes(std::string_view bytes);

 private:
  struct Round {
    std::string peer;
    int retries = 0;  // left, when the peer is not ready
  };

  bool Shares(std::string_view key, const std::string& peer) const;
  bool SharesPartition(uint32_t p, const std::string& peer) const;
  bool Ready() const;
  // The tree of the partitions this node shares with `peer`, from the partition hashes.
  MerkleTree TreeFor(const std::string& peer) const;
  // Partition p's hash, and its kAeSegments segment hashes, over the records this node and
  // `peer` both replicate (0 when p is not shared, or not hashed yet).
  uint64_t PartHashFor(uint32_t p, const std::string& peer) const;
  void SegHashesFor(uint32_t p, const std::string& peer, uint64_t* out) const;
  // Partition p's segment hashes (levels_.size() * kAeSegments, by level), as of the
  // store's change count `changes`; its level hashes are their sums.
  void SetPartition(uint32_t p, const uint64_t* segs, uint32_t changes);
  void StartPass(uint64_t now);
  void PassStep(uint64_t now);
  void StartRound(const std::string& peer, int retries = 0);
  // The next step of a round: a new request id for it, then the message to `peer`.
  void Continue(Round round, Message* m);
  // Continue, or, when the step found nothing to send, count the round as finished.
  void ContinueOrFinish(Round round, Message* m, bool nothing_to_send);
  void SendAe(const std::string& peer, Message* m);
  void ReplyAe(const Message& req, Message* m);
  // Takes the round `m` answers out of pending_ (false: unknown, or not from its peer).
  bool TakeRound(const Message& m, Round* round);
  // Appends the digests (key, item hash) of this node's records of partition p in the
  // differing segments `segs` (a bit per segment) to *req, with their cells; false when the
  // message has no room left for them. Adds the records it read to *scanned.
  bool AppendDigests(uint32_t p, uint32_t segs, const std::string& peer, Message* req,
                     size_t* scanned);
  // Keys one digest message lists, at most (NodeConfig::ae_digest_keys).
  size_t DigestCap() const;
  // Dead past the grace period by its timestamps (the test read repair makes): a record the
  // replicas may be reaping, never handed to a peer that has no copy of it.
  bool PastGrace(const Record& rec) const;
  // Joins records from `peer`; returns how many changed the local copy. `differing`: gets
  // the local record (after the Join) of every key where it is not the one that came.
  uint64_t JoinAll(const std::vector<std::pair<std::string, Record>>& records,
                   const std::string& peer, Message* differing = nullptr);

  NodeContext* ctx_;
  // Per partition: the hash of its records, the store's change count it was taken at, and
  // whether it was taken at all (since start, FLUSHALL, or the partition last being unshared).
  // Keyspace policies with different n (keyspace.h): a record is compared only between the
  // first n owners of its partition, so each partition keeps one hash per distinct n
  // ("level"), and the tree for a peer sums the levels both nodes replicate.
  // part_hash_[p * levels_.size() + i] sums partition p's records whose n is levels_[i];
  // seg_hash_[(p * levels_.size() + i) * kAeSegments + s] the same records in segment s.
  size_t LevelOf(std::string_view rkey) const;
  uint64_t TreeTag() const;
  std::vector<int> levels_;        // the distinct n of the policies, ascending
  std::vector<uint8_t> level_of_;  // n -> index into levels_
  std::vector<uint64_t> part_hash_;
  std::vector<uint64_t> seg_hash_;
  std::vector<uint32_t> part_seen_;
  std::vector<bool> part_valid_;
  // The pass in progress: the next partition, and within a partition cut short by the
  // per-tick budget, the engine key to go on from, the sum so far and the change count at
  // its start.
  bool passing_ = false;
  uint32_t pass_part_ = 0;
  std::string pass_cursor_;
  std::vector<uint64_t> pass_sums_;  // per (level, segment)
  uint32_t pass_changes_ = 0;
  uint64_t pass_ring_ = 0;       // the ring the pass started under
  bool have_ready_ = false;      // a pass completed under ready_ring_
  uint64_t ready_ring_ = 0;
  uint64_t next_pass_ms_ = 0, next_round_ms_ = 0;
  uint64_t ready_ms_ = 0;        // when the last pass completed
  bool sync_pending_ = false;    // DYNAMO SYNC: all partners once the pass is done
  std::map<uint64_t, Round> pending_;               // req_id -> round, both request kinds
  std::vector<std::pair<uint64_t, Round>> retry_;   // (due_ms, round)
};

}  // namespace dynakv::cluster
