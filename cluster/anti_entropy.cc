// cluster/anti_entropy.cc: see anti_entropy.h.
#include "cluster/anti_entropy.h"

#include <algorithm>
#include <set>

#include "cluster/key_layout.h"

namespace dynakv::cluster {

namespace {
// Keys hashed into the Merkle trees per tick, and records (and their value bytes) one
// exchange message carries. A leaf bigger than the cap is sent in part, from a random
// offset, so repeated rounds cover it.
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
}  // namespace

bool AntiEntropy::Shares(std::string_view key, const std::string& peer) const {
  std::vector<std::string> pref = ctx_->placement.Preference(key);
  return Contains(pref, ctx_->cfg.id) && Contains(pref, peer);
}

bool AntiEntropy::Ready() const {
  return have_ready_ && ready_.ring_hash == ctx_->placement.ring_hash();
}

const AntiEntropy::Peer& AntiEntropy::PeerOf(const std::string& peer) const {
  static const Peer kEmpty;
  auto it = ready_.peers.find(peer);
  return it == ready_.peers.end() ? kEmpty : it->second;
}

void AntiEntropy::StartBuild(uint64_t now) {
  next_ = Snapshot();
  next_.ring_hash = ctx_->placement.ring_hash();
  cursor_ = std::string(kDataPrefix);
  building_ = true;
  next_build_ms_ = now + ctx_->cfg.ae_interval_ms;
}

// One bounded chunk of the tree build. Hashes the stored bytes as they are (EncodeRecord
// output is canonical), so the build decodes nothing.
void AntiEntropy::BuildStep(uint64_t now) {
  const Placement& placement = ctx_->placement;
  if (building_ && next_.ring_hash != placement.ring_hash()) StartBuild(now);  // ring moved
  if (!building_) return;
  const std::string& self = ctx_->cfg.id;
  size_t seen = 0, hashed = 0;
  bool more = false;
  std::string last;
  Status s = ctx_->engine->Scan(cursor_, kDataEnd, kAeBuildChunk,
                                [&](std::string_view k, std::string_view v) {
                                  if (hashed >= kAeBuildBytes) {
                                    more = true;  // big values: continue next tick
                                    return false;
                                  }
                                  ++seen;
                                  hashed += k.size() + v.size();
                                  last.assign(k);
                                  if (!IsDataKey(k)) return true;  // corrupt row: not ours
                                  std::string_view key = ClientKeyOf(k);
                                  uint32_t part = PartitionOfDataKey(k);
                                  std::span<const uint32_t> walk = placement.Owners(part);
                                  if (!placement.Owns(part) || walk.size() < 2) return true;
                                  uint32_t idx = static_cast<uint32_t>(next_.keys.size());
                                  next_.keys.emplace_back(key);
                                  size_t leaf = MerkleTree::LeafOf(key);
                                  uint64_t h = MerkleTree::ItemHash(key, v);
                                  for (uint32_t i : walk) {
                                    const std::string& id = placement.IdAt(i);
                                    if (id == self) continue;
                                    Peer& p = next_.peers[id];
                                    if (p.leaf_keys.empty()) p.leaf_keys.resize(MerkleTree::kLeaves);
                                    p.tree.Add(leaf, h);
                                    p.leaf_keys[leaf].push_back(idx);
                                  }
                                  return true;
                                });
  if (!s.ok()) {
    ctx_->Log(Logger::Level::kWarn, "anti-entropy tree build failed: " + s.ToString());
    building_ = false;
    return;
  }
  if (more || seen == kAeBuildChunk) {
    cursor_ = std::move(last);
    cursor_.push_back('\0');
    return;
  }
  ready_ = std::move(next_);
  next_ = Snapshot();
  have_ready_ = true;
  ready_ms_ = now;
  building_ = false;
}

void AntiEntropy::Tick(uint64_t now) {
  const Membership& membership = ctx_->membership;
  const std::vector<std::string>& partners = ctx_->placement.partners();
  bool periodic = ctx_->cfg.ae_interval_ms > 0;
  if (!building_ && periodic && now >= next_build_ms_) StartBuild(now);
  BuildStep(now);
  if (!Ready()) return;
  if (sync_pending_ && !building_) {
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
  // A fresh build, then a round with every reachable partner (Tick).
  StartBuild(ctx_->clock->NowMs());
  sync_pending_ = true;
  size_t n = 0;
  for (const auto& p : ctx_->placement.partners()) n += ctx_->membership.IsReachable(p) ? 1 : 0;
  return n;
}

void AntiEntropy::Reset() {
  have_ready_ = false;
  ready_ = Snapshot();
  building_ = false;
  next_ = Snapshot();
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
  m.ring_hash = ready_.ring_hash;
  m.hashes = PeerOf(peer).tree.InteriorHashes();
  ctx_->SendTo(peer, &m);
}

void AntiEntropy::OnTreeReq(const Message& m) {
  Message resp;
  resp.type = MsgType::kAeTreeResp;
  resp.req_id = m.req_id;
  uint64_t now = ctx_->clock->NowMs();
  bool stale = !Ready() ||
               (ctx_->cfg.ae_interval_ms == 0 && now - ready_ms_ > kAeOnDemandMaxAgeMs);
  if (stale && !building_) StartBuild(now);  // on demand; the sender retries
  if (stale || m.ring_hash != ctx_->placement.ring_hash()) {
    resp.set_status(Status::Unavailable("anti-entropy: trees not built yet, or rings differ"));
  } else {
    const MerkleTree& tree = PeerOf(m.from_id).tree;
    resp.buckets = tree.DiffInterior(m.hashes);
    for (uint32_t b : resp.buckets) {
      resp.hashes.insert(resp.hashes.end(), tree.children(b),
                         tree.children(b) + MerkleTree::kFanout);
    }
  }
  ctx_->Send(m.from_addr, &resp);
}

// Appends the local record of `key` if there is one; false once a cap is reached.
bool AntiEntropy::Append(const std::string& key, Message* out, size_t* bytes) {
  if (out->records.size() >= kAeMaxKeys || *bytes >= kAeMaxBytes) return false;
  Record rec;
  bool found = false;
  if (!ctx_->store.Load(key, &rec, &found).ok() || !found) return true;
  *bytes += key.size() + 64;
  for (const auto& sib : rec.siblings) *bytes += sib.value.size() + 48;
  out->records.emplace_back(key, std::move(rec));
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
  const Peer& mine = PeerOf(peer);
  std::vector<uint32_t> leaves;
  for (size_t i = 0; i < m.buckets.size(); ++i) {
    if (m.buckets[i] >= MerkleTree::kInterior) return;
    auto d = mine.tree.DiffLeaves(m.buckets[i], &m.hashes[i * MerkleTree::kFanout]);
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
    static const std::vector<uint32_t> kNone;
    const std::vector<uint32_t>& list = mine.leaf_keys.empty() ? kNone : mine.leaf_keys[leaf];
    bool first = req.records.empty() && req.buckets.empty();
    if (!first && req.records.size() + list.size() > kAeMaxKeys) break;
    // A leaf too big for one message goes in part, from a random offset.
    size_t off = first && list.size() > kAeMaxKeys ? ctx_->random->Uniform(list.size()) : 0;
    bool whole = true;
    for (size_t k = 0; k < list.size() && whole; ++k) {
      whole = Append(ready_.keys[list[(off + k) % list.size()]], &req, &bytes);
    }
    if (!whole) break;
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
    const Peer& mine = PeerOf(m.from_id);
    for (uint32_t leaf : m.buckets) {
      if (mine.leaf_keys.empty() || leaf >= MerkleTree::kLeaves) break;
      bool room = true;
      for (uint32_t idx : mine.leaf_keys[leaf]) {
        const std::string& key = ready_.keys[idx];
        if (sent.count(key) || !Shares(key, m.from_id)) continue;
        if (!(room = Append(key, &resp, &bytes))) break;
      }
      if (!room) break;
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
