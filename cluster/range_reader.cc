// cluster/range_reader.cc: see range_reader.h.
#include "cluster/range_reader.h"

#include <algorithm>

#include "cluster/quorum.h"

namespace dynakv::cluster {

namespace {

using Elements = std::vector<std::pair<std::string, Record>>;

// An element of a merged answer that one page lacks (has = false) or holds differently.
struct StaleElement {
  size_t index;  // in the answer
  bool has;
};

// Elements > this lie past a page that was cut by its limit (nullptr: no page was cut).
const std::string* CutOf(const std::vector<Elements*>& pages, const std::vector<bool>& ends) {
  const std::string* cut = nullptr;
  for (size_t i = 0; i < pages.size(); ++i) {
    if (ends[i] || pages[i]->empty()) continue;
    const std::string& last = pages[i]->back().first;
    if (cut == nullptr || last < *cut) cut = &last;
  }
  return cut;
}

// A merge of the sorted pages, one element at a time. An element every holder has alike (the
// usual case) is that copy, moved when `take`; otherwise the copies are joined in page order.
// Read repair's comparison falls out of the same pass: *stale lists, per page, the answer's
// elements that page lacks or holds differently (docs/ARCHITECTURE.md, "Collections").
Node::RangeReply MergePages(const std::vector<Elements*>& pages, const std::vector<bool>& ends,
                            bool take, std::vector<std::vector<StaleElement>>* stale) {
  Node::RangeReply out;
  const std::string* cut_at = CutOf(pages, ends);
  out.done = cut_at == nullptr;
  const std::string cut_copy = cut_at != nullptr ? *cut_at : std::string();  // `take` moves it
  const std::string* cut = cut_at != nullptr ? &cut_copy : nullptr;
  const size_t k = pages.size();
  if (stale != nullptr) stale->assign(k, {});
  std::vector<size_t> at(k, 0);
  std::vector<size_t> holders;
  holders.reserve(k);
  size_t most = 0;
  for (const Elements* pg : pages) most = std::max(most, pg->size());
  out.elements.reserve(most);
  for (;;) {
    const std::string* least = nullptr;
    for (size_t i = 0; i < k; ++i) {
      if (at[i] == pages[i]->size()) continue;
      const std::string& e = (*pages[i])[at[i]].first;
      if (least == nullptr || e < *least) least = &e;
    }
    if (least == nullptr || (cut != nullptr && *least > *cut)) break;
    holders.clear();
    for (size_t i = 0; i < k; ++i) {
      if (at[i] < pages[i]->size() && (*pages[i])[at[i]].first == *least) holders.push_back(i);
    }
    auto& first = (*pages[holders[0]])[at[holders[0]]];
    bool alike = JoinKeeps(first.second);
    for (size_t j = 1; alike && j < holders.size(); ++j) {
      alike = SameRecord((*pages[holders[j]])[at[holders[j]]].second, first.second);
    }
    const size_t index = out.elements.size();
    if (alike) {
      // Join(a, a) is a when a is canonical: nothing to join, and no holder is stale.
      if (take) {
        out.elements.emplace_back(std::move(first.first), std::move(first.second));
      } else {
        out.elements.emplace_back(first.first, first.second);
      }
    } else {
      Record joined = first.second;
      for (size_t j = 1; j < holders.size(); ++j) {
        joined = Join(joined, (*pages[holders[j]])[at[holders[j]]].second);
      }
      if (stale != nullptr) {
        for (size_t h : holders) {
          if (!SameRecord((*pages[h])[at[h]].second, joined)) (*stale)[h].push_back({index, true});
        }
      }
      out.elements.emplace_back(take ? std::move(first.first) : first.first, std::move(joined));
    }
    if (stale != nullptr && holders.size() < k) {
      for (size_t i = 0, h = 0; i < k; ++i) {
        if (h < holders.size() && holders[h] == i) {
          ++h;
        } else {
          (*stale)[i].push_back({index, false});
        }
      }
    }
    for (size_t h : holders) ++at[h];
  }
  return out;
}

}  // namespace

Node::RangeReply JoinPages(const std::vector<Elements*>& pages, const std::vector<bool>& ends) {
  return MergePages(pages, ends, /*take=*/false, nullptr);
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
  p.after = after;
  p.limit = limit;
  p.r = static_cast<size_t>(r);
  p.cb = std::move(done);
  // Ask R replicas, as a point read does: this node's page (free) and the first reachable
  // peers; the others are spares, asked when an asked one fails or has not answered within
  // the retry wait. Fewer than R reachable, or read_retry_ms = 0: ask them all.
  bool local = Contains(pref, self);
  uint64_t asked = 0;
  bool ask_rest = true;
  if (ctx_->cfg.read_retry_ms > 0) {
    asked = ctx_->FirstAsked(pref, p.r - (local ? 1 : 0), &ask_rest);
    p.started_ms = ctx_->clock->NowMs();
    p.retry_at_ms = p.started_ms + retry_wait_.For(ctx_->cfg.read_retry_ms, ctx_->cfg.request_timeout_ms);
  }
  for (size_t i = 0; i < pref.size(); ++i) {
    if (asked >> i & 1) Ask(id, pref[i], &p);
  }
  for (size_t i = 0; i < pref.size(); ++i) {
    if (asked >> i & 1 || pref[i] == self) continue;
    if (ask_rest) {
      Ask(id, pref[i], &p);
    } else {
      p.spares.push_back(pref[i]);
    }
  }
  if (local) {
    p.waiting.push_back(self);
    Page page;
    page.node = self;
    s = ctx_->store.ScanElements(prefix, after, limit, &page.elements, &page.end);
    Add(id, self, s, std::move(page));
  }
}

void RangeReader::Ask(uint64_t id, std::string replica, Pending* p) {
  Message m;
  m.type = MsgType::kRangeReq;
  m.req_id = id;
  m.key = p->prefix;
  m.value.value = p->after;
  m.r = static_cast<int32_t>(p->limit);
  ctx_->SendTo(replica, &m);
  p->waiting.push_back(std::move(replica));
}

void RangeReader::AskSpares(uint64_t id, Pending* p) {
  for (auto& t : p->spares) {
    ++ctx_->stats.read_retries;
    Ask(id, std::move(t), p);
  }
  p->spares.clear();
}

// As ReadCoordinator::OnTick: reads are made in id order with nearly nondecreasing retry
// times, so the due ones lead the map.
void RangeReader::OnTick(uint64_t now_ms) {
  for (auto& [id, p] : reads_) {
    if (p.spares.empty() || p.answered) continue;
    if (p.retry_at_ms > now_ms) break;
    AskSpares(id, &p);
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
  if (from != ctx_->cfg.id && p.started_ms != 0) retry_wait_.Note(ctx_->clock->NowMs() - p.started_ms);
  if (s.ok()) {
    p.pages.push_back(std::move(page));
  } else if (!p.answered) {
    AskSpares(id, &p);  // before the verdict
  }
  Progress(id);
}

void RangeReader::Progress(uint64_t id) {
  auto it = reads_.find(id);
  if (it == reads_.end()) return;
  Pending& p = it->second;
  if (!p.answered) {
    if (p.pages.size() >= p.r) {
      p.answered = true;
      Node::RangeCallback cb = std::move(p.cb);
      Node::RangeReply reply;
      if (p.waiting.empty()) {
        Pending done = std::move(p);
        reads_.erase(it);
        reply = JoinAndRepair(&done);  // one pass: the pages move into the answer
      } else {
        reply = Joined(p);  // copied: the pages are joined again for the repair
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
    JoinAndRepair(&done);
  }
}

namespace {
// MergePages over the good replies of a read.
template <typename Page>
Node::RangeReply MergeReplies(std::vector<Page>& replies, bool take,
                              std::vector<std::vector<StaleElement>>* stale) {
  std::vector<Elements*> pages;
  std::vector<bool> ends;
  for (Page& pg : replies) {
    pages.push_back(&pg.elements);
    ends.push_back(pg.end);
  }
  return MergePages(pages, ends, take, stale);
}
}  // namespace

Node::RangeReply RangeReader::Joined(Pending& p) { return MergeReplies(p.pages, /*take=*/false, nullptr); }

// Per-element read repair over the part of the range every good reply covers; the join is
// returned (its records moved out of the pages, which are spent).
Node::RangeReply RangeReader::JoinAndRepair(Pending* p) {
  std::vector<std::vector<StaleElement>> stale;
  bool repair = p->pages.size() >= 2;
  Node::RangeReply joined = MergeReplies(p->pages, /*take=*/true, repair ? &stale : nullptr);
  if (!repair) return joined;
  uint64_t now = ctx_->clock->WallMs();
  uint64_t grace = ctx_->cfg.tombstone_grace_ms;
  for (size_t i = 0; i < p->pages.size(); ++i) {
    const std::string& node = p->pages[i].node;
    for (const StaleElement& st : stale[i]) {
      const auto& [e, rec] = joined.elements[st.index];
      // Being reaped: a replica that dropped it is not handed it back (see ReadCoordinator).
      if (!st.has && DeadFor(rec, now, grace, grace)) continue;
      ++ctx_->stats.read_repairs;
      std::string rkey = p->prefix + e;
      if (node == ctx_->cfg.id) {
        Status s = ctx_->store.Join(rkey, rec);
        if (!s.ok()) ctx_->Log(Logger::Level::kWarn, "local read repair failed: " + s.ToString());
        continue;
      }
      Message m;
      m.type = MsgType::kReadRepair;
      m.key = std::move(rkey);
      m.record_ref = &rec;  // encoded by SendTo
      ctx_->SendTo(node, &m);
    }
  }
  return joined;
}

void RangeReader::Expire(uint64_t id) {
  auto it = reads_.find(id);
  if (it == reads_.end()) return;
  Pending p = std::move(it->second);
  reads_.erase(it);
  if (p.answered) {
    JoinAndRepair(&p);
    return;
  }
  ++ctx_->stats.coordinator_timeouts;
  p.cb(Status::Unavailable("read timed out waiting for replicas"), {});
}

}  // namespace dynakv::cluster
