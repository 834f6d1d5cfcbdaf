// cluster/range_reader.cc: see range_reader.h.
#include "cluster/range_reader.h"

#include <algorithm>

#include "cluster/quorum.h"

namespace dynakv::cluster {

Node::RangeReply JoinPages(
    const std::vector<const std::vector<std::pair<std::string, Record>>*>& pages,
    const std::vector<bool>& ends) {
  Node::RangeReply out;
  const std::string* cut = nullptr;
  for (size_t i = 0; i < pages.size(); ++i) {
    if (ends[i] || pages[i]->empty()) continue;
    const std::string& last = pages[i]->back().first;
    if (cut == nullptr || last < *cut) cut = &last;
  }
  out.done = cut == nullptr;
  std::map<std::string, Record> joined;
  for (const auto* page : pages) {
    for (const auto& [e, rec] : *page) {
      if (cut != nullptr && e > *cut) break;
      auto [it, fresh] = joined.try_emplace(e, rec);
      if (!fresh) it->second = Join(it->second, rec);
    }
  }
  out.elements.reserve(joined.size());
  for (auto& [e, rec] : joined) out.elements.emplace_back(e, std::move(rec));
  return out;
}

void RangeReader::Read(const std::string& prefix, const std::string& after, size_t limit, int r,
                       Node::RangeCallback done) {
  const KeyspacePolicy& pol = ctx_->PolicyOf(prefix);
  Status s = ctx_->CheckQuorum(&r, pol.r, pol.n, "r");
  if (!s.ok()) return done(s, {});
  limit = limit == 0 ? kMaxPage : std::min(limit, kMaxPage);
  ++ctx_->stats.reads;
  if (ctx_->standalone || ctx_->batching) {
    if (r > 1 && !ctx_->batching) {
      return done(Status::Unavailable("only 1 replica (standalone node)"), {});
    }
    Node::RangeReply reply;
    s = ctx_->store.ScanElements(prefix, after, limit, &reply.elements, &reply.done);
    return done(s, std::move(reply));
  }
  const std::string& self = ctx_->cfg.id;
  std::vector<std::string> pref = ctx_->placement.Preference(prefix, size_t(pol.n));
  if (pref.size() < static_cast<size_t>(r)) {
    return done(Status::Unavailable("r=" + std::to_string(r) + " but only " +
                                    std::to_string(pref.size()) + " replicas"),
                {});
  }
  uint64_t id = ctx_->NewRequest(RequestKind::kRange, ctx_->cfg.request_timeout_ms);
  Pending& p = reads_[id];
  p.prefix = prefix;
  p.r = static_cast<size_t>(r);
  p.cb = std::move(done);
  p.waiting = pref;
  bool local = false;
  for (auto& t : pref) {
    if (t == self) {
      local = true;
      continue;
    }
    Message m;
    m.type = MsgType::kRangeReq;
    m.req_id = id;
    m.key = prefix;
    m.value.value = after;
    m.r = static_cast<int32_t>(limit);
    ctx_->SendTo(t, &m);
  }
  if (local) {
    Page page;
    page.node = self;
    s = ctx_->store.ScanElements(prefix, after, limit, &page.elements, &page.end);
    Add(id, self, s, std::move(page));
  }
}

void RangeReader::OnRangeReq(const Message& m) {
  Message resp;
  resp.type = MsgType::kRangeResp;
  resp.req_id = m.req_id;
  bool end = true;
  size_t limit = std::clamp<size_t>(static_cast<size_t>(std::max(m.r, 1)), 1, kMaxPage);
  resp.set_status(ctx_->store.ScanElements(m.key, m.value.value, limit, &resp.records, &end));
  resp.found = end;
  ctx_->Send(m.from_addr, &resp);
}

void RangeReader::OnRangeResp(Message& m) {
  Page page;
  page.node = m.from_id;
  page.elements = std::move(m.records);
  page.end = m.found;
  Add(m.req_id, m.from_id, m.status(), std::move(page));
}

void RangeReader::Add(uint64_t id, const std::string& from, const Status& s, Page page) {
  auto it = reads_.find(id);
  if (it == reads_.end()) return;  // finished: late or duplicate
  Pending& p = it->second;
  auto w = std::find(p.waiting.begin(), p.waiting.end(), from);
  if (w == p.waiting.end()) return;  // not asked, or answered already
  p.waiting.erase(w);
  if (s.ok()) p.pages.push_back(std::move(page));
  Progress(id);
}

void RangeReader::Progress(uint64_t id) {
  auto it = reads_.find(id);
  if (it == reads_.end()) return;
  Pending& p = it->second;
  if (!p.answered) {
    if (p.pages.size() >= p.r) {
      p.answered = true;
      Node::RangeReply reply = Joined(p);
      Node::RangeCallback cb = std::move(p.cb);
      if (p.waiting.empty()) {
        Pending done = std::move(p);
        reads_.erase(it);
        Repair(done);
      }
      cb(Status::OK(), std::move(reply));  // last: the callback may re-enter the node
      return;
    }
    if (p.pages.size() + p.waiting.size() < p.r) {
      p.answered = true;
      Node::RangeCallback cb = std::move(p.cb);
      reads_.erase(it);
      cb(Status::Unavailable("too few replicas answered the read"), {});
      return;
    }
    return;
  }
  if (p.waiting.empty()) {
    Pending done = std::move(p);
    reads_.erase(it);
    Repair(done);
  }
}

Node::RangeReply RangeReader::Joined(const Pending& p) {
  std::vector<const std::vector<std::pair<std::string, Record>>*> pages;
  std::vector<bool> ends;
  for (const Page& pg : p.pages) {
    pages.push_back(&pg.elements);
    ends.push_back(pg.end);
  }
  return JoinPages(pages, ends);
}

// Per-element read repair over the part of the range every good reply covers.
void RangeReader::Repair(const Pending& p) {
  if (p.pages.size() < 2) return;
  Node::RangeReply joined = Joined(p);
  uint64_t now = ctx_->clock->WallMs();
  uint64_t grace = ctx_->cfg.tombstone_grace_ms;
  for (const Page& pg : p.pages) {
    size_t i = 0;
    for (const auto& [e, rec] : joined.elements) {
      while (i < pg.elements.size() && pg.elements[i].first < e) ++i;
      bool has = i < pg.elements.size() && pg.elements[i].first == e;
      if (has && pg.elements[i].second == rec) continue;
      // Being reaped: a replica that dropped it is not handed it back (see ReadCoordinator).
      if (!has && DeadFor(rec, now, grace, grace)) continue;
      ++ctx_->stats.read_repairs;
      std::string rkey = p.prefix + e;
      if (pg.node == ctx_->cfg.id) {
        Status s = ctx_->store.Join(rkey, rec);
        if (!s.ok()) ctx_->Log(Logger::Level::kWarn, "local read repair failed: " + s.ToString());
        continue;
      }
      Message m;
      m.type = MsgType::kReadRepair;
      m.key = std::move(rkey);
      m.record = rec;
      ctx_->SendTo(pg.node, &m);
    }
  }
}

void RangeReader::Expire(uint64_t id) {
  auto it = reads_.find(id);
  if (it == reads_.end()) return;
  Pending p = std::move(it->second);
  reads_.erase(it);
  if (p.answered) return Repair(p);
  ++ctx_->stats.coordinator_timeouts;
  p.cb(Status::Unavailable("read timed out waiting for replicas"), {});
}

}  // namespace dynakv::cluster
