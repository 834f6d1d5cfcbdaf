// cluster/anti_entropy.cc: see anti_entropy.h.
#include "cluster/anti_entropy.h"

#include <algorithm>
#include <set>

#include "cluster/key_layout.h"

namespace dynakv::cluster {

namespace {
// Records hashed per tick, and records (and their value bytes) one exchange message
// carries. A leaf bigger than the cap is sent in part, from a random partition on, so
// repeated rounds cover it.
constexpr size_t kAeBuildChunk = 1024;
constexpr size_t kAeBuildBytes = 4u << 20;  // and at most this many stored bytes hashed
constexpr size_t kAeMaxKeys = 1000;
constexpr size_t kAeMaxBytes = 8u << 20;
// With periodic rounds off, trees are built on demand (DYNAMO SYNC, or a peer's request) and
// a build older than this is rebuilt before it answers a peer.
constexpr uint64_t kAeOnDemandMaxAgeMs = 5000;
// A DYNAMO SYNC round the peer cannot answer yet (its trees are being built) is retried.
constexpr int kAeSyncRetries = 50;
static_assert(MerkleTree::kLeaves <= kMaxAeHashes, "a leaf level must fit one message");
// Leaf i of a peer's tree holds partitions [i * kPartsPerLeaf, (i + 1) * kPartsPerLeaf).
constexpr uint32_t kPartsPerLeaf = kPartitions / MerkleTree::kLeaves;
static_assert(kPartsPerLeaf * MerkleTree::kLeaves == kPartitions, "leaves split partitions evenly");
// Mixed into the ring fingerprint a tree request carries: a node whose trees are laid out
// otherwise (per-key leaves, before partition hashes) sees "rings differ" and answers
// nothing, rather than comparing trees that cannot agree.
constexpr uint64_t kTreeLayout = 0x7061727469746e73ull;  // "partitns"
}  // namespace

AntiEntropy::AntiEntropy(NodeContext* ctx)
    : ctx_(ctx), part_seen_(kPartitions, 0), part_valid_(kPartitions, false) {
  levels_ = ctx_->keyspaces.levels();
  level_of_.assign(size_t(levels_.back()) + 1, 0);
  for (size_t i = 0; i < levels_.size(); ++i) level_of_[size_t(levels_[i])] = uint8_t(i);
  part_hash_.assign(size_t(kPartitions) * levels_.size(), 0);
  pass_sums_.assign(levels_.size(), 0);
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
  const Placement& placement = ctx_->placement;
  const size_t nl = levels_.size();
  for (uint32_t p = 0; p < kPartitions; ++p) {
    if (!part_valid_[p] || !SharesPartition(p, peer)) continue;
    if (nl == 1) {
      tree.Add(p / kPartsPerLeaf, part_hash_[p]);
      continue;
    }
    // The records both replicate: those whose n reaches past the later of the two places.
    int need = std::max(placement.PositionIn(p), placement.PositionOf(p, peer)) + 1;
    uint64_t h = 0;
    for (size_t i = 0; i < nl; ++i) {
      if (levels_[i] >= need) h += part_hash_[size_t(p) * nl + i];
    }
    tree.Add(p / kPartsPerLeaf, h);
  }
  return tree;
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
                                    pass_sums_[LevelOf(rkey)] += MerkleTree::ItemHash(rkey, v);
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
    std::copy(pass_sums_.begin(), pass_sums_.end(), part_hash_.begin() + ptrdiff_t(size_t(p) * levels_.size()));
    part_seen_[p] = pass_changes_;
    part_valid_[p] = true;
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

void AntiEntropy::Reset() {
  have_ready_ = false;
  passing_ = false;
  pass_cursor_.clear();
  std::fill(part_valid_.begin(), part_valid_.end(), false);
  retry_.clear();
}

void AntiEntropy::StartRound(const std::string& peer, int retries) {
  for (const auto& [id, p] : pending_) {
    if (p.peer == peer) return;  // one exchange per peer at a time
  }
  uint64_t id = ctx_->NewRequest(RequestKind::kAntiEntropy, ctx_->cfg.request_timeout_ms);
  pending_[id] = Round{peer, retries};
  Message m;
  m.type = MsgType::kAeTreeReq;
  m.req_id = id;
  m.ring_hash = ready_ring_ ^ TreeTag();
  m.hashes = TreeFor(peer).InteriorHashes();
  ctx_->SendTo(peer, &m);
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
  ctx_->Send(m.from_addr, &resp);
}

// Appends a local record; false once a cap is reached.
bool AntiEntropy::Append(const std::string& key, Record rec, Message* out, size_t* bytes) {
  if (out->records.size() >= kAeMaxKeys || *bytes >= kAeMaxBytes) return false;
  *bytes += key.size() + 64;
  for (const auto& sib : rec.siblings) *bytes += sib.value.size() + 48;
  out->records.emplace_back(key, std::move(rec));
  return true;
}

bool AntiEntropy::AppendLeaf(uint32_t leaf, const std::string& peer,
                             const std::set<std::string_view>* skip, bool first, bool whole_only,
                             Message* out, size_t* bytes) {
  if (leaf >= MerkleTree::kLeaves) return false;
  const uint32_t base = leaf * kPartsPerLeaf;
  size_t size = 0;
  for (uint32_t p = base; p < base + kPartsPerLeaf; ++p) {
    if (SharesPartition(p, peer)) size += ctx_->store.partition_count(p);
  }
  if (whole_only && !first && out->records.size() + size > kAeMaxKeys) return false;
  // A leaf too big for one message goes in part, from a random partition on.
  uint32_t start = first && size > kAeMaxKeys ? ctx_->random->Uniform(kPartsPerLeaf) : 0;
  for (uint32_t j = 0; j < kPartsPerLeaf; ++j) {
    uint32_t p = base + (start + j) % kPartsPerLeaf;
    if (!SharesPartition(p, peer)) continue;
    std::string after;
    for (bool end = false; !end;) {
      std::vector<std::pair<std::string, Record>> recs;
      Status s = ctx_->store.ReadPartition(p, after, 256, kAeMaxBytes, &recs, &end);
      if (!s.ok()) {
        ctx_->Log(Logger::Level::kWarn, "anti-entropy: partition read failed: " + s.ToString());
        return false;
      }
      if (recs.empty()) break;
      after = recs.back().first;
      for (auto& [key, rec] : recs) {
        if (rec.siblings.empty() && rec.context.empty()) continue;  // corrupt: skipped
        if (skip && skip->count(key)) continue;
        if (levels_.size() > 1 && !Shares(key, peer)) continue;  // not among its first n
        if (!Append(key, std::move(rec), out, bytes)) return false;
      }
    }
  }
  return true;
}

void AntiEntropy::OnTreeResp(const Message& m) {
  auto it = pending_.find(m.req_id);
  if (it == pending_.end() || it->second.peer != m.from_id) return;
  Round round = std::move(it->second);
  pending_.erase(it);
  std::string peer = round.peer;
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
  std::vector<uint32_t> leaves;
  for (size_t i = 0; i < m.buckets.size(); ++i) {
    if (m.buckets[i] >= MerkleTree::kInterior) return;
    auto d = mine.DiffLeaves(m.buckets[i], &m.hashes[i * MerkleTree::kFanout]);
    leaves.insert(leaves.end(), d.begin(), d.end());
  }
  if (leaves.empty()) {
    ++ctx_->stats.ae_rounds;  // our tree was rebuilt meanwhile and now agrees
    return;
  }
  Message req;
  req.type = MsgType::kAeKeysReq;
  size_t bytes = 0;
  // Start at a random differing leaf: when the caps cut a round short, the next rounds
  // pick up other leaves.
  size_t start = ctx_->random->Uniform(leaves.size());
  for (size_t j = 0; j < leaves.size(); ++j) {
    uint32_t leaf = leaves[(start + j) % leaves.size()];
    bool first = req.records.empty() && req.buckets.empty();
    if (!AppendLeaf(leaf, peer, nullptr, first, /*whole_only=*/true, &req, &bytes)) break;
    req.buckets.push_back(leaf);
  }
  uint64_t id = ctx_->NewRequest(RequestKind::kAntiEntropy, ctx_->cfg.request_timeout_ms);
  req.req_id = id;
  pending_[id] = std::move(round);
  ctx_->SendTo(peer, &req);
}

void AntiEntropy::OnKeysReq(const Message& m) {
  Message resp;
  resp.type = MsgType::kAeKeysResp;
  resp.req_id = m.req_id;
  std::set<std::string_view> sent;
  size_t bytes = 0;
  uint64_t repaired = 0;
  for (const auto& [key, rec] : m.records) {
    sent.insert(key);
    if (!Shares(key, m.from_id)) continue;  // not ours to keep (rings differ)
    bool changed = false;
    Record merged;
    Status s = ctx_->store.Join(key, rec, &changed, &merged);
    if (!s.ok()) {
      ctx_->Log(Logger::Level::kWarn, "anti-entropy: record not applied: " + s.ToString());
      continue;
    }
    if (changed) {
      ++ctx_->stats.ae_keys_repaired;
      ++repaired;
    }
    if (!(merged == rec)) {
      bytes += key.size() + 64;
      for (const auto& sib : merged.siblings) bytes += sib.value.size() + 48;
      resp.records.emplace_back(key, std::move(merged));
    }
  }
  // Keys of the whole leaves that the sender does not hold.
  if (Ready()) {
    for (uint32_t leaf : m.buckets) {
      if (!AppendLeaf(leaf, m.from_id, &sent, /*first=*/false, /*whole_only=*/false, &resp,
                      &bytes)) {
        break;
      }
    }
  }
  if (repaired > 0) {
    ctx_->Log(Logger::Level::kInfo, "anti-entropy repair: " + std::to_string(repaired) +
                                        " key(s) updated from " + m.from_id);
  }
  ctx_->Send(m.from_addr, &resp);
}

void AntiEntropy::OnKeysResp(const Message& m) {
  auto it = pending_.find(m.req_id);
  if (it == pending_.end() || it->second.peer != m.from_id) return;
  std::string peer = std::move(it->second.peer);
  pending_.erase(it);
  if (!m.status().ok()) return;
  uint64_t repaired = 0;
  for (const auto& [key, rec] : m.records) {
    if (!Shares(key, peer)) continue;
    bool changed = false;
    Status s = ctx_->store.Join(key, rec, &changed);
    if (!s.ok()) {
      ctx_->Log(Logger::Level::kWarn, "anti-entropy: record not applied: " + s.ToString());
      continue;
    }
    if (changed) {
      ++ctx_->stats.ae_keys_repaired;
      ++repaired;
    }
  }
  ++ctx_->stats.ae_rounds;
  if (repaired > 0) {
    ctx_->Log(Logger::Level::kInfo, "anti-entropy repair: " + std::to_string(repaired) +
                                        " key(s) updated from " + peer);
  }
}

}  // namespace dynakv::cluster
