// cluster/scanner.cc: see scanner.h.
#include "cluster/scanner.h"

#include <algorithm>
#include <utility>

namespace dynakv::cluster {

Status Scanner::LivePage(const std::string& start_after, size_t limit,
                         std::vector<std::string>* keys, std::string* last, bool* done) {
  size_t visited = 0;
  uint64_t now = ctx_->clock->WallMs();
  *last = start_after;
  Status s = ctx_->store.Scan(start_after, limit, [&](std::string_view k, const Record& rec) {
    ++visited;
    last->assign(k);
    if (Winner(rec, now) != nullptr) keys->emplace_back(k);
    return true;
  }, /*plain_only=*/true, /*values=*/false);
  *done = visited < limit;
  return s;
}

std::vector<std::string> Scanner::Members() const {
  if (ctx_->standalone) return {ctx_->cfg.id};
  std::vector<std::string> out;
  for (const auto& m : ctx_->membership.Digest()) {
    if (m.id == ctx_->cfg.id || ctx_->membership.IsReachable(m.id)) out.push_back(m.id);
  }
  std::sort(out.begin(), out.end());
  return out;
}

void Scanner::ScanNode(const std::string& node_id, const std::string& start_after,
                       size_t limit, Node::ScanCallback done) {
  limit = std::clamp<size_t>(limit, 1, kMaxScanKeys);
  if (node_id == ctx_->cfg.id || ctx_->standalone) {
    std::vector<std::string> keys;
    std::string last;
    bool fin = false;
    Status s = LivePage(start_after, limit, &keys, &last, &fin);
    return done(s, std::move(keys), std::move(last), fin);
  }
  const std::string* addr = ctx_->AddrOf(node_id);
  if (addr == nullptr) return done(Status::Unavailable("unknown node " + node_id), {}, {}, true);
  uint64_t id = ctx_->NewRequest(RequestKind::kScan, ctx_->cfg.request_timeout_ms);
  scans_[id] = std::move(done);
  Message m;
  m.type = MsgType::kScanReq;
  m.req_id = id;
  m.key = start_after;
  m.r = static_cast<int32_t>(limit);
  ctx_->Send(*addr, &m);
}

bool Scanner::OwnsForScan(const std::string& node_id, const std::string& key,
                          const std::vector<std::string>& snapshot) const {
  if (ctx_->standalone) return true;
  std::string buf;
  const std::string& rkey = PlainRecordKeyRef(key, &buf);
  for (const auto& id : ctx_->placement.Preference(rkey, size_t(ctx_->PolicyOf(rkey).n))) {
    if (std::find(snapshot.begin(), snapshot.end(), id) != snapshot.end()) return id == node_id;
  }
  return false;
}

void Scanner::OnScanReq(const Message& m) {
  Message resp;
  resp.type = MsgType::kScanResp;
  resp.req_id = m.req_id;
  bool done = false;
  resp.set_status(LivePage(m.key, static_cast<size_t>(m.r), &resp.keys, &resp.key, &done));
  resp.found = done;
  ctx_->Send(m.from_addr, &resp);
}

void Scanner::OnScanResp(Message& m) {
  auto it = scans_.find(m.req_id);
  if (it == scans_.end()) return;
  Node::ScanCallback cb = std::move(it->second);
  scans_.erase(it);
  cb(m.status(), std::move(m.keys), std::move(m.key), m.found);
}

void Scanner::Expire(uint64_t id) {
  auto it = scans_.find(id);
  if (it == scans_.end()) return;
  ++ctx_->stats.coordinator_timeouts;
  Node::ScanCallback cb = std::move(it->second);
  scans_.erase(it);
  cb(Status::Unavailable("scan timed out waiting for a node"), {}, {}, true);
}

}  // namespace dynakv::cluster
