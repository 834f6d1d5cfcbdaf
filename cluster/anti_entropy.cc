// cluster/anti_entropy.cc: see anti_entropy.h.
#include "cluster/anti_entropy.h"

#include <algorithm>
#include <bitset>
#include <cstring>
#include <map>
#include <unordered_map>
#include <unordered_set>

#include <xxhash.h>

#include "cluster/key_layout.h"

namespace dynakv::cluster {

namespace {
// Records hashed per tick, and the caps on one exchange message: records (and their value
// bytes), partitions compared, and keys digested. A round cut short by a cap leaves the rest
// differing, and later rounds take it.
constexpr size_t kAeBuildChunk = 1024;
constexpr size_t kAeBuildBytes = 4u << 20;  // and at most this many stored bytes hashed
constexpr size_t kAeMaxRecords = 4096;
constexpr size_t kAeMaxBytes = 8u << 20;
constexpr size_t kAeMaxParts = 4096;
// Records a digest request may scan to find its keys (whole partitions; the replier scans
// about as many): bounds the loop turn that builds or answers it.
constexpr size_t kAeScanCap = 65536;
// With periodic rounds off, trees are built on demand (DYNAMO SYNC, or a peer's request) and
// a build older than this is rebuilt before it answers a peer.
constexpr uint64_t kAeOnDemandMaxAgeMs = 5000;
// A DYNAMO SYNC round the peer cannot answer yet (its trees are being built) is retried,
// every gossip interval (200 ms by default): long enough for a peer that hashes 10M records
// at kAeBuildChunk a tick.
constexpr int kAeSyncRetries = 3000;
static_assert(MerkleTree::kLeaves <= kMaxAeHashes, "a leaf level must fit one message");
// Leaf i of a peer's tree holds partitions [i * kPartsPerLeaf, (i + 1) * kPartsPerLeaf).
constexpr uint32_t kPartsPerLeaf = kPartitions / MerkleTree::kLeaves;
static_assert(kPartsPerLeaf * MerkleTree::kLeaves == kPartitions, "leaves split partitions evenly");
static_assert(kPartitions * kAeSegments * 32 <= kMaxAeBucket, "every cell index fits a message");
static_assert(kAeMaxParts * kAeSegments <= kMaxAeHashes && kAeMaxRecords <= kMaxAeRecords,
              "the caps fit what a message decodes");
// Mixed into the ring fingerprint a tree request carries: a node whose trees are laid out
// otherwise (per-key leaves; or leaves exchanged whole, before segments) sees "rings differ"
// and answers nothing, rather than comparing trees or exchanges that cannot agree.
constexpr uint64_t kTreeLayout = 0x7365676d656e7473ull;  // "segments"

// A record's segment (top bits of its key hash) and its sixteenth of the segment (the next
// four bits): together, its bit in a partition's 256-bit cell mask.
constexpr uint32_t kSegBits = 4;
static_assert((1u << kSegBits) == kAeSegments, "kAeSegments is 2^kSegBits");
constexpr uint32_t kWholeSegment = 16;    // a cell code: every sixteenth
constexpr uint32_t kWholePartition = 17;  // a cell code (on segment 0): every segment
// A partition of at most this many records is compared key by key without its segment
// hashes (they would cost more bytes than its digests), flagged in a parts response.
constexpr uint32_t kAeSmallPartition = 2 * kAeSegments;
constexpr uint32_t kNoSegments = 1u << 20;  // the flag, on a parts response's partition
static_assert(kPartitions < kNoSegments && (kNoSegments << 1) <= kMaxAeBucket, "the flag fits");
uint32_t SegmentOf(uint64_t kh) { return uint32_t(kh >> (64 - kSegBits)); }
uint32_t CellOf(uint64_t kh) { return uint32_t(kh >> (64 - kSegBits - 4)); }  // seg * 16 + sixteenth
}  // namespace

AntiEntropy::AntiEntropy(NodeContext* ctx)
    : ctx_(ctx), part_seen_(kPartitions, 0), part_valid_(kPartitions, false) {
  levels_ = ctx_->keyspaces.levels();
  level_of_.assign(size_t(levels_.back()) + 1, 0);
  for (size_t i = 0; i < levels_.size(); ++i) level_of_[size_t(levels_[i])] = uint8_t(i);
  part_hash_.assign(size_t(kPartitions) * levels_.size(), 0);
  seg_hash_.assign(size_t(kPartitions) * levels_.size() * kAeSegments, 0);
  pass_sums_.assign(levels_.size() * kAeSegments, 0);
}

// Mixed into the ring fingerprint of a tree request: the tree layout, and the keyspace
// policies when there are any (nodes whose policies differ mean different key sets).
uint64_t AntiEntropy::TreeTag() const {
  const Keyspaces& ks = ctx_->keyspaces;
  return kTreeLayout ^ (ks.entries().empty() ? 0 : ks.Fingerprint());
}

size_t AntiEntropy::LevelOf(std::string_view rkey) const {
  if (levels_.size() == 1) return 0;
  return level_of_[size_t(ctx_->PolicyOf(rkey).n)];
}

// Both this node and the peer are among the key's first n owners (its keyspace's n).
bool AntiEntropy::Shares(std::string_view key, const std::string& peer) const {
  uint32_t p = Placement::PartitionOf(key);
  if (!SharesPartition(p, peer)) return false;
  if (levels_.size() == 1) return true;
  int n = ctx_->PolicyOf(key).n;
  const Placement& placement = ctx_->placement;
  return placement.PositionIn(p) < n && placement.PositionOf(p, peer) < n;
}

bool AntiEntropy::SharesPartition(uint32_t p, const std::string& peer) const {
  const Placement& placement = ctx_->placement;
  if (!placement.Owns(p)) return false;
  for (uint32_t i : placement.Owners(p)) {
    if (placement.IdAt(i) == peer) return true;
  }
  return false;
}

bool AntiEntropy::Ready() const {
  return have_ready_ && ready_ring_ == ctx_->placement.ring_hash();
}

MerkleTree AntiEntropy::TreeFor(const std::string& peer) const {
  MerkleTree tree;
  for (uint32_t p = 0; p < kPartitions; ++p) {
    if (part_valid_[p] && SharesPartition(p, peer)) tree.Add(p / kPartsPerLeaf, PartHashFor(p, peer));
  }
  return tree;
}

// With several levels, the records both replicate are those whose n reaches past the later
// of the two nodes' places in p's owner list.
uint64_t AntiEntropy::PartHashFor(uint32_t p, const std::string& peer) const {
  if (!part_valid_[p] || !SharesPartition(p, peer)) return 0;
  const size_t nl = levels_.size();
  if (nl == 1) return part_hash_[p];
  const Placement& placement = ctx_->placement;
  int need = std::max(placement.PositionIn(p), placement.PositionOf(p, peer)) + 1;
  uint64_t h = 0;
  for (size_t i = 0; i < nl; ++i) {
    if (levels_[i] >= need) h += part_hash_[size_t(p) * nl + i];
  }
  return h;
}

void AntiEntropy::SegHashesFor(uint32_t p, const std::string& peer, uint64_t* out) const {
  std::fill(out, out + kAeSegments, 0);
  if (!part_valid_[p] || !SharesPartition(p, peer)) return;
  const size_t nl = levels_.size();
  const Placement& placement = ctx_->placement;
  int need = nl == 1 ? 0 : std::max(placement.PositionIn(p), placement.PositionOf(p, peer)) + 1;
  for (size_t i = 0; i < nl; ++i) {
    if (nl > 1 && levels_[i] < need) continue;
    const uint64_t* seg = &seg_hash_[(size_t(p) * nl + i) * kAeSegments];
    for (uint32_t s = 0; s < kAeSegments; ++s) out[s] += seg[s];
  }
}

void AntiEntropy::StartPass(uint64_t now) {
  passing_ = true;
  pass_part_ = 0;
  pass_cursor_.clear();
  pass_ring_ = ctx_->placement.ring_hash();
  next_pass_ms_ = now + ctx_->cfg.ae_interval_ms;
}

// One bounded chunk of a pass: the partitions this node shares with some peer and that
// changed since they were last hashed are hashed again from the stored bytes as they are
// (EncodeRecord output is canonical, so equal records hash alike on every replica; nothing
// is decoded). A partition no longer shared is forgotten, so it is hashed afresh if it is
// shared again.
void AntiEntropy::PassStep(uint64_t now) {
  const Placement& placement = ctx_->placement;
  if (passing_ && pass_ring_ != placement.ring_hash()) StartPass(now);  // ring moved
  if (!passing_) return;
  size_t seen = 0, hashed = 0;
  while (pass_part_ < kPartitions) {
    uint32_t p = pass_part_;
    if (!placement.Owns(p) || placement.Owners(p).size() < 2) {
      part_valid_[p] = false;
      ++pass_part_;
      continue;
    }
    if (pass_cursor_.empty()) {
      if (part_valid_[p] && part_seen_[p] == ctx_->store.partition_changes(p)) {
        ++pass_part_;  // unchanged since hashed
        continue;
      }
      if (seen >= kAeBuildChunk || hashed >= kAeBuildBytes) return;  // the next tick
      pass_cursor_ = PartitionBegin(p);
      std::fill(pass_sums_.begin(), pass_sums_.end(), 0);
      pass_changes_ = ctx_->store.partition_changes(p);
    }
    bool more = false;
    std::string last;
    Status s = ctx_->engine->Scan(pass_cursor_, PartitionEnd(p), 0,
                                  [&](std::string_view k, std::string_view v) {
                                    if (seen >= kAeBuildChunk || hashed >= kAeBuildBytes) {
                                      more = true;  // the budget: go on next tick
                                      return false;
                                    }
                                    ++seen;
                                    ++ctx_->stats.ae_records_hashed;
                                    hashed += k.size() + v.size();
                                    last.assign(k);
                                    if (!IsDataKey(k)) return true;  // corrupt row: not ours
                                    std::string_view rkey = ClientKeyOf(k);
                                    uint64_t kh = MerkleTree::KeyHash(rkey);
                                    pass_sums_[LevelOf(rkey) * kAeSegments + SegmentOf(kh)] +=
                                        MerkleTree::ItemHash(kh, v);
                                    return true;
                                  });
    if (!s.ok()) {
      ctx_->Log(Logger::Level::kWarn, "anti-entropy partition hash failed: " + s.ToString());
      passing_ = false;
      return;
    }
    if (more) {
      pass_cursor_ = std::move(last);
      pass_cursor_.push_back('\0');
      return;
    }
    // Taken as of the change count at its start: a write while it was cut short makes the
    // next pass hash it again.
    SetPartition(p, pass_sums_.data(), pass_changes_);
    pass_cursor_.clear();
    ++pass_part_;
  }
  passing_ = false;
  have_ready_ = true;
  ready_ring_ = pass_ring_;
  ready_ms_ = now;
}

void AntiEntropy::Tick(uint64_t now) {
  const Membership& membership = ctx_->membership;
  const std::vector<std::string>& partners = ctx_->placement.partners();
  bool periodic = ctx_->cfg.ae_interval_ms > 0;
  if (!passing_ && ((periodic && now >= next_pass_ms_) ||
                    (have_ready_ && ready_ring_ != ctx_->placement.ring_hash()))) {
    StartPass(now);
  }
  PassStep(now);
  if (!Ready()) return;
  if (sync_pending_ && !passing_) {
    sync_pending_ = false;
    for (const auto& p : partners) {
      if (membership.IsReachable(p)) StartRound(p, kAeSyncRetries);
    }
  }
  if (!retry_.empty()) {
    std::vector<std::pair<uint64_t, Round>> later;
    for (auto& [due, round] : retry_) {
      if (due > now) {
        later.emplace_back(due, std::move(round));
      } else if (membership.IsReachable(round.peer)) {
        StartRound(round.peer, round.retries);
      }
    }
    retry_.swap(later);
  }
  if (!periodic) return;
  // Jittered, so the nodes of a cluster do not all sync at once; the first round waits an
  // interval too (a node that just started has nothing to offer yet, and read repair and
  // hinted handoff get the first go).
  uint64_t iv = ctx_->cfg.ae_interval_ms;
  auto next = [&] { return now + iv - iv / 4 + ctx_->random->Uniform(iv / 2 + 1); };
  if (next_round_ms_ == 0) next_round_ms_ = next();
  if (now < next_round_ms_) return;
  next_round_ms_ = next();
  std::vector<const std::string*> up;
  for (const auto& p : partners) {
    if (membership.IsReachable(p)) up.push_back(&p);
  }
  if (!up.empty()) StartRound(*up[ctx_->random->Uniform(up.size())]);
}

size_t AntiEntropy::SyncNow() {
  if (ctx_->standalone) return 0;
  // A fresh pass, then a round with every reachable partner (Tick).
  StartPass(ctx_->clock->NowMs());
  sync_pending_ = true;
  size_t n = 0;
  for (const auto& p : ctx_->placement.partners()) n += ctx_->membership.IsReachable(p) ? 1 : 0;
  return n;
}

// Layout: "AEH2", TreeTag (8 bytes), kPartitions and kAeSegments (4 each), the level count
// (4), then per saved partition its number (4) and its segment hashes (8 each, levels *
// kAeSegments; the level hashes are their sums), and an XXH3 of all that (8). Host byte
// order: the file never leaves the node.
namespace {
constexpr std::string_view kSavedMagic = "AEH2";
template <typename T>
void PutRaw(std::string* out, T v) {
  out->append(reinterpret_cast<const char*>(&v), sizeof v);
}
template <typename T>
T GetRaw(const char* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
}  // namespace

std::string AntiEntropy::SaveHashes() const {
  const size_t nl = levels_.size();
  std::string out(kSavedMagic);
  PutRaw<uint64_t>(&out, TreeTag());
  PutRaw<uint32_t>(&out, kPartitions);
  PutRaw<uint32_t>(&out, kAeSegments);
  PutRaw<uint32_t>(&out, uint32_t(nl));
  for (uint32_t p = 0; p < kPartitions; ++p) {
    if (!part_valid_[p] || part_seen_[p] != ctx_->store.partition_changes(p)) continue;
    PutRaw<uint32_t>(&out, p);
    const uint64_t* seg = &seg_hash_[size_t(p) * nl * kAeSegments];
    out.append(reinterpret_cast<const char*>(seg), nl * kAeSegments * sizeof(uint64_t));
  }
  PutRaw<uint64_t>(&out, XXH3_64bits(out.data(), out.size()));
  return out;
}

bool AntiEntropy::RestoreHashes(std::string_view bytes) {
  const size_t nl = levels_.size();
  const size_t head = kSavedMagic.size() + 8 + 3 * 4, entry = 4 + nl * kAeSegments * 8;
  if (bytes.size() < head + 8 || bytes.substr(0, kSavedMagic.size()) != kSavedMagic) return false;
  const size_t body = bytes.size() - 8;
  if (GetRaw<uint64_t>(bytes.data() + body) != XXH3_64bits(bytes.data(), body)) return false;
  const char* h = bytes.data() + kSavedMagic.size();
  if (GetRaw<uint64_t>(h) != TreeTag() || GetRaw<uint32_t>(h + 8) != kPartitions ||
      GetRaw<uint32_t>(h + 12) != kAeSegments || GetRaw<uint32_t>(h + 16) != nl ||
      (body - head) % entry != 0) {
    return false;
  }
  std::vector<uint32_t> parts;
  for (size_t at = head; at < body; at += entry) {
    uint32_t p = GetRaw<uint32_t>(bytes.data() + at);
    if (p >= kPartitions || (!parts.empty() && p <= parts.back())) return false;
    parts.push_back(p);
  }
  std::vector<uint64_t> segs(nl * kAeSegments);  // aligned: the bytes need not be
  for (size_t i = 0; i < parts.size(); ++i) {
    std::memcpy(segs.data(), bytes.data() + head + i * entry + 4, segs.size() * 8);
    SetPartition(parts[i], segs.data(), ctx_->store.partition_changes(parts[i]));
  }
  ctx_->Log(Logger::Level::kInfo, "anti-entropy: " + std::to_string(parts.size()) +
                                      " partition hashes kept from the last clean stop");
  return true;
}

void AntiEntropy::SetPartition(uint32_t p, const uint64_t* segs, uint32_t changes) {
  const size_t nl = levels_.size();
  std::copy(segs, segs + nl * kAeSegments, seg_hash_.begin() + ptrdiff_t(size_t(p) * nl * kAeSegments));
  for (size_t i = 0; i < nl; ++i) {
    uint64_t sum = 0;
    for (uint32_t seg = 0; seg < kAeSegments; ++seg) sum += segs[i * kAeSegments + seg];
    part_hash_[size_t(p) * nl + i] = sum;
  }
  part_seen_[p] = changes;
  part_valid_[p] = true;
}

void AntiEntropy::Reset() {
  have_ready_ = false;
  passing_ = false;
  pass_cursor_.clear();
  std::fill(part_valid_.begin(), part_valid_.end(), false);
  retry_.clear();
}

void AntiEntropy::SendAe(const std::string& peer, Message* m) {
  std::string frame = ctx_->Encode(m);
  ctx_->stats.ae_bytes_sent += frame.size();
  ctx_->SendFrameTo(peer, std::move(frame));
}

void AntiEntropy::ReplyAe(const Message& req, Message* m) {
  std::string frame = ctx_->Encode(m);
  ctx_->stats.ae_bytes_sent += frame.size();
  ctx_->transport->Send(req.from_addr, std::move(frame));
}

void AntiEntropy::Continue(Round round, Message* m) {
  uint64_t id = ctx_->NewRequest(RequestKind::kAntiEntropy, ctx_->cfg.request_timeout_ms);
  m->req_id = id;
  std::string peer = round.peer;
  pending_[id] = std::move(round);
  SendAe(peer, m);
}

void AntiEntropy::ContinueOrFinish(Round round, Message* m, bool nothing_to_send) {
  if (nothing_to_send) {
    ++ctx_->stats.ae_rounds;
    return;
  }
  Continue(std::move(round), m);
}

bool AntiEntropy::TakeRound(const Message& m, Round* round) {
  auto it = pending_.find(m.req_id);
  if (it == pending_.end() || it->second.peer != m.from_id) return false;
  *round = std::move(it->second);
  pending_.erase(it);
  return true;
}

void AntiEntropy::StartRound(const std::string& peer, int retries) {
  for (const auto& [id, p] : pending_) {
    if (p.peer == peer) return;  // one exchange per peer at a time
  }
  Message m;
  m.type = MsgType::kAeTreeReq;
  m.ring_hash = ready_ring_ ^ TreeTag();
  m.hashes = TreeFor(peer).InteriorHashes();
  Continue(Round{peer, retries}, &m);
}

void AntiEntropy::OnTreeReq(const Message& m) {
  Message resp;
  resp.type = MsgType::kAeTreeResp;
  resp.req_id = m.req_id;
  uint64_t now = ctx_->clock->NowMs();
  bool stale = !Ready() ||
               (ctx_->cfg.ae_interval_ms == 0 && now - ready_ms_ > kAeOnDemandMaxAgeMs);
  if (stale && !passing_) StartPass(now);  // on demand; the sender retries
  if (stale || m.ring_hash != (ctx_->placement.ring_hash() ^ TreeTag())) {
    resp.set_status(Status::Unavailable("anti-entropy: trees not built yet, or rings differ"));
  } else {
    const MerkleTree tree = TreeFor(m.from_id);
    resp.buckets = tree.DiffInterior(m.hashes);
    for (uint32_t b : resp.buckets) {
      resp.hashes.insert(resp.hashes.end(), tree.children(b),
                         tree.children(b) + MerkleTree::kFanout);
    }
  }
  ReplyAe(m, &resp);
}

// Appends a record to an exchange message; false once a cap is reached.
static bool AppendAeRecord(const std::string& key, Record rec, Message* out, size_t* bytes) {
  if (out->records.size() >= kAeMaxRecords || *bytes >= kAeMaxBytes) return false;
  *bytes += key.size() + 64;
  for (const auto& sib : rec.siblings) *bytes += sib.value.size() + 48;
  out->records.emplace_back(key, std::move(rec));
  return true;
}

void AntiEntropy::OnTreeResp(const Message& m) {
  Round round;
  if (!TakeRound(m, &round)) return;
  const std::string& peer = round.peer;
  if (!m.status().ok()) {
    if (round.retries > 0) {
      --round.retries;
      uint64_t due = ctx_->clock->NowMs() + std::max<uint64_t>(ctx_->cfg.gossip_interval_ms, 50);
      retry_.emplace_back(due, std::move(round));
    }
    return;
  }
  if (m.buckets.empty()) {
    ++ctx_->stats.ae_rounds;  // in sync
    return;
  }
  if (!Ready() || m.hashes.size() != m.buckets.size() * MerkleTree::kFanout) return;
  const MerkleTree mine = TreeFor(peer);
  Message req;
  req.type = MsgType::kAePartsReq;
  req.ring_hash = ready_ring_ ^ TreeTag();
  for (size_t i = 0; i < m.buckets.size(); ++i) {
    if (m.buckets[i] >= MerkleTree::kInterior) return;
    for (uint32_t leaf : mine.DiffLeaves(m.buckets[i], &m.hashes[i * MerkleTree::kFanout])) {
      req.buckets.push_back(leaf);
      for (uint32_t j = 0; j < kPartsPerLeaf; ++j) {
        req.hashes.push_back(PartHashFor(leaf * kPartsPerLeaf + j, peer));
      }
    }
  }
  // Empty: our tree was rebuilt meanwhile and now agrees.
  ContinueOrFinish(std::move(round), &req, req.buckets.empty());
}

void AntiEntropy::OnPartsReq(const Message& m) {
  Message resp;
  resp.type = MsgType::kAePartsResp;
  resp.req_id = m.req_id;
  if (!Ready() || m.ring_hash != (ctx_->placement.ring_hash() ^ TreeTag())) {
    resp.set_status(Status::Unavailable("anti-entropy: trees not built yet, or rings differ"));
  } else if (m.hashes.size() != m.buckets.size() * kPartsPerLeaf) {
    resp.set_status(Status::Invalid("anti-entropy: partition hashes do not match leaves"));
  } else {
    uint64_t segs[kAeSegments];
    for (size_t i = 0; i < m.buckets.size() && resp.buckets.size() < kAeMaxParts; ++i) {
      if (m.buckets[i] >= MerkleTree::kLeaves) continue;
      for (uint32_t j = 0; j < kPartsPerLeaf && resp.buckets.size() < kAeMaxParts; ++j) {
        uint32_t p = m.buckets[i] * kPartsPerLeaf + j;
        if (PartHashFor(p, m.from_id) == m.hashes[i * kPartsPerLeaf + j]) continue;
        if (ctx_->store.partition_count(p) <= kAeSmallPartition) {
          resp.buckets.push_back(p | kNoSegments);
          continue;
        }
        resp.buckets.push_back(p);
        SegHashesFor(p, m.from_id, segs);
        resp.hashes.insert(resp.hashes.end(), segs, segs + kAeSegments);
      }
    }
  }
  ReplyAe(m, &resp);
}

bool AntiEntropy::AppendDigests(uint32_t p, uint32_t segs, const std::string& peer, Message* req,
                                size_t* scanned) {
  struct Digest {
    std::string key;
    uint64_t item;
    uint32_t cell;  // segment * 16 + sixteenth
  };
  std::vector<Digest> found[kAeSegments];
  Status s = ctx_->engine->Scan(PartitionBegin(p), PartitionEnd(p), 0,
                                [&](std::string_view k, std::string_view v) {
                                  ++*scanned;
                                  if (!IsDataKey(k)) return true;
                                  std::string_view rkey = ClientKeyOf(k);
                                  uint64_t kh = MerkleTree::KeyHash(rkey);
                                  uint32_t seg = SegmentOf(kh);
                                  if (!(segs >> seg & 1)) return true;
                                  if (levels_.size() > 1 && !Shares(rkey, peer)) return true;
                                  found[seg].push_back(
                                      {std::string(rkey), MerkleTree::ItemHash(kh, v), CellOf(kh)});
                                  return true;
                                });
  if (!s.ok()) {
    ctx_->Log(Logger::Level::kWarn, "anti-entropy: partition read failed: " + s.ToString());
    return false;
  }
  const uint32_t all = (1u << kAeSegments) - 1;
  size_t total = 0;
  for (const auto& f : found) total += f.size();
  if (segs == all && total + req->keys.size() <= DigestCap()) {
    // Every segment, whole: one cell code for the partition.
    req->buckets.push_back(((p * kAeSegments) << 5) | kWholePartition);
    for (auto& f : found) {
      for (auto& d : f) {
        req->keys.push_back(std::move(d.key));
        req->hashes.push_back(d.item);
      }
    }
    return true;
  }
  for (uint32_t seg = 0; seg < kAeSegments; ++seg) {
    if (!(segs >> seg & 1)) continue;
    const uint32_t cell_base = (p * kAeSegments + seg) << 5;
    auto add = [&](uint32_t code) {
      req->buckets.push_back(cell_base | code);
      for (auto& d : found[seg]) {
        if (code != kWholeSegment && (d.cell & 15) != code) continue;
        req->keys.push_back(std::move(d.key));
        req->hashes.push_back(d.item);
      }
    };
    const size_t cap = DigestCap();
    size_t room = cap - std::min(cap, req->keys.size());
    if (found[seg].size() <= room) {
      add(kWholeSegment);
      continue;
    }
    if (!req->keys.empty()) return false;  // the next round
    // One segment bigger than a message (a big collection's elements share its partition):
    // as many of its sixteenths as fit, from a random one on, so later rounds cover the rest.
    size_t in_sixteenth[16] = {};
    for (const auto& d : found[seg]) ++in_sixteenth[d.cell & 15];
    uint32_t first = uint32_t(ctx_->random->Uniform(16));
    for (uint32_t j = 0; j < 16; ++j) {
      uint32_t code = (first + j) % 16;
      if (req->keys.size() + in_sixteenth[code] > cap) break;
      add(code);
    }
    if (req->buckets.empty()) {
      ctx_->Log(Logger::Level::kWarn, "anti-entropy: a segment of partition " + std::to_string(p) +
                                          " is too big to compare (" +
                                          std::to_string(in_sixteenth[first]) + " keys in a sixteenth)");
    }
    return false;  // the message is full
  }
  return true;
}

bool AntiEntropy::PastGrace(const Record& rec) const {
  uint64_t grace = ctx_->cfg.tombstone_grace_ms;
  return DeadFor(rec, ctx_->clock->WallMs(), grace, grace);
}

size_t AntiEntropy::DigestCap() const {
  return std::clamp<size_t>(ctx_->cfg.ae_digest_keys, 1, kMaxAeDigests);
}

void AntiEntropy::OnPartsResp(const Message& m) {
  Round round;
  if (!TakeRound(m, &round)) return;
  const std::string& peer = round.peer;
  if (!m.status().ok() || !Ready()) return;
  // Where each partition's segment hashes start (small partitions come without them).
  std::vector<size_t> at(m.buckets.size());
  size_t hashes = 0;
  for (size_t i = 0; i < m.buckets.size(); ++i) {
    at[i] = hashes;
    if (!(m.buckets[i] & kNoSegments)) hashes += kAeSegments;
  }
  if (hashes != m.hashes.size()) return;
  Message req;
  req.type = MsgType::kAeDigestReq;
  uint64_t mine[kAeSegments];
  // Start at a random differing partition: when the caps cut a round short, the next
  // rounds pick up others.
  size_t start = m.buckets.empty() ? 0 : ctx_->random->Uniform(m.buckets.size());
  size_t scanned = 0;
  for (size_t j = 0; j < m.buckets.size() && scanned < kAeScanCap; ++j) {
    size_t i = (start + j) % m.buckets.size();
    uint32_t p = m.buckets[i] & ~kNoSegments;
    if (p >= kPartitions || !SharesPartition(p, peer)) continue;
    uint32_t segs = 0;
    if (m.buckets[i] & kNoSegments) {
      segs = (1u << kAeSegments) - 1;
    } else {
      SegHashesFor(p, peer, mine);
      for (uint32_t s = 0; s < kAeSegments; ++s) {
        if (mine[s] != m.hashes[at[i] + s]) segs |= 1u << s;
      }
    }
    if (segs != 0 && !AppendDigests(p, segs, peer, &req, &scanned)) break;
  }
  // Empty: our hashes moved meanwhile and now agree.
  ContinueOrFinish(std::move(round), &req, req.buckets.empty());
}

void AntiEntropy::OnDigestReq(const Message& m) {
  Message resp;
  resp.type = MsgType::kAeDigestResp;
  resp.req_id = m.req_id;
  if (m.keys.size() != m.hashes.size()) {
    resp.set_status(Status::Invalid("anti-entropy: digests without hashes"));
    ReplyAe(m, &resp);
    return;
  }
  // The cells asked about, per partition: a bit per (segment, sixteenth).
  std::map<uint32_t, std::bitset<kAeSegments * 16>> cells;
  for (uint32_t b : m.buckets) {
    uint32_t code = b & 31, seg_id = b >> 5;
    uint32_t p = seg_id / kAeSegments, seg = seg_id % kAeSegments;
    if (code > kWholePartition || p >= kPartitions || !SharesPartition(p, m.from_id)) continue;
    auto& mask = cells[p];
    if (code == kWholePartition) {
      mask.set();
      continue;
    }
    for (uint32_t x = 0; x < 16; ++x) {
      if (code == kWholeSegment || code == x) mask.set(seg * 16 + x);
    }
  }
  struct Theirs {
    uint64_t item;
    bool seen = false;
  };
  std::unordered_map<std::string_view, Theirs> theirs;
  theirs.reserve(m.keys.size());
  for (size_t i = 0; i < m.keys.size(); ++i) theirs[m.keys[i]] = Theirs{m.hashes[i]};
  size_t bytes = 0;
  bool full = false;
  for (const auto& cell : cells) {
    const uint32_t p = cell.first;
    const auto& mask = cell.second;  // a plain reference: lambdas may not capture a binding
    Status s = ctx_->engine->Scan(PartitionBegin(p), PartitionEnd(p), 0,
                                  [&](std::string_view k, std::string_view v) {
                                    if (!IsDataKey(k)) return true;
                                    std::string_view rkey = ClientKeyOf(k);
                                    uint64_t kh = MerkleTree::KeyHash(rkey);
                                    if (!mask.test(CellOf(kh))) return true;
                                    if (levels_.size() > 1 && !Shares(rkey, m.from_id)) return true;
                                    auto it = theirs.find(rkey);
                                    if (it != theirs.end()) {
                                      it->second.seen = true;
                                      if (it->second.item == MerkleTree::ItemHash(kh, v)) return true;
                                      resp.keys.emplace_back(rkey);  // differs: theirs too
                                    }
                                    Record rec;
                                    if (full || !DecodeRecord(v, &rec).ok()) return true;
                                    if (it == theirs.end() && PastGrace(rec)) return true;
                                    full = !AppendAeRecord(std::string(rkey), std::move(rec), &resp, &bytes);
                                    return true;
                                  });
    if (!s.ok()) {
      ctx_->Log(Logger::Level::kWarn, "anti-entropy: partition read failed: " + s.ToString());
      resp.set_status(s);
      resp.records.clear();
      resp.keys.clear();
      ReplyAe(m, &resp);
      return;
    }
  }
  // Their keys we do not hold, in the cells asked about.
  for (const auto& [key, t] : theirs) {
    if (t.seen || resp.keys.size() >= DigestCap()) continue;
    auto c = cells.find(Placement::PartitionOf(key));
    if (c == cells.end() || !c->second.test(CellOf(MerkleTree::KeyHash(key)))) continue;
    if (levels_.size() > 1 && !Shares(key, m.from_id)) continue;
    resp.keys.emplace_back(key);
  }
  ReplyAe(m, &resp);
}

uint64_t AntiEntropy::JoinAll(const std::vector<std::pair<std::string, Record>>& records,
                              const std::string& peer, Message* differing) {
  uint64_t repaired = 0;
  size_t bytes = 0;
  for (const auto& [key, rec] : records) {
    if (!Shares(key, peer)) continue;  // not ours to keep (rings differ)
    bool changed = false;
    Record merged;
    Status s = ctx_->store.Join(key, rec, &changed, differing ? &merged : nullptr);
    if (!s.ok()) {
      ctx_->Log(Logger::Level::kWarn, "anti-entropy: record not applied: " + s.ToString());
      continue;
    }
    if (changed) {
      ++ctx_->stats.ae_keys_repaired;
      ++repaired;
    }
    if (differing && !(merged == rec)) (void)AppendAeRecord(key, std::move(merged), differing, &bytes);
  }
  if (repaired > 0) {
    ctx_->Log(Logger::Level::kInfo, "anti-entropy repair: " + std::to_string(repaired) +
                                        " key(s) updated from " + peer);
  }
  return repaired;
}

void AntiEntropy::OnDigestResp(const Message& m) {
  Round round;
  if (!TakeRound(m, &round)) return;
  if (!m.status().ok()) return;
  JoinAll(m.records, round.peer);
  // The records it asked for: ours after joining its, so the one reply settles both.
  Message req;
  req.type = MsgType::kAeKeysReq;
  size_t bytes = 0;
  // A key it names without sending its record is one it lacks (or one a full message left
  // out: a later round takes that).
  std::unordered_set<std::string_view> held;
  for (const auto& r : m.records) held.insert(r.first);
  for (const auto& key : m.keys) {
    if (!Shares(key, round.peer)) continue;
    Record rec;
    bool found = false;
    if (!ctx_->store.Load(key, &rec, &found).ok() || !found) continue;
    if (!held.count(key) && PastGrace(rec)) continue;
    if (!AppendAeRecord(key, std::move(rec), &req, &bytes)) break;
  }
  ContinueOrFinish(std::move(round), &req, req.records.empty());
}

void AntiEntropy::OnKeysReq(const Message& m) {
  Message resp;
  resp.type = MsgType::kAeKeysResp;
  resp.req_id = m.req_id;
  JoinAll(m.records, m.from_id, &resp);  // answers with ours where it still differs
  ReplyAe(m, &resp);
}

void AntiEntropy::OnKeysResp(const Message& m) {
  Round round;
  if (!TakeRound(m, &round)) return;
  if (!m.status().ok()) return;
  JoinAll(m.records, round.peer);
  ++ctx_->stats.ae_rounds;
}

}  // namespace dynakv::cluster
