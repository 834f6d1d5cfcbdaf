// cluster/forwarder.cc: see forwarder.h.
#include "cluster/forwarder.h"

#include <algorithm>

#include "cluster/read_coordinator.h"
#include "cluster/write_coordinator.h"

namespace dynakv::cluster {

const std::string& Forwarder::Target(const std::vector<std::string>& pref) const {
  for (const auto& id : pref) {
    if (ctx_->membership.IsReachable(id)) return id;
  }
  return pref.front();
}

void Forwarder::Forward(const std::string& to, const std::string& key, bool is_write, int r,
                        const WriteRequest* req, Node::ReadCallback read_cb,
                        Node::WriteCallback write_cb) {
  ++ctx_->stats.forwarded;
  uint64_t id = ctx_->NewRequest(RequestKind::kForward, ctx_->cfg.request_timeout_ms);
  Pending& f = forwards_[id];
  f.read_cb = std::move(read_cb);
  f.write_cb = std::move(write_cb);
  if (req) f.w = req->w;
  Message m;
  m.type = MsgType::kForwardReq;
  m.req_id = id;
  m.key = key;
  m.is_write = is_write;
  m.r = r;
  if (req) {
    m.w = req->w;
    m.op = req->op;
    m.value = req->value;
    m.delta = req->delta;
    m.has_context = req->has_context;
    m.context = req->context;
  }
  ctx_->SendTo(to, &m);
}

// A duplicated forward frame must not coordinate the same client request twice (a second
// dot for one write; a counter add counted twice). Remember (sender, request id) for ten
// request timeouts, bounded in count.
bool Forwarder::Seen(const std::string& from, uint64_t req_id) {
  uint64_t now = ctx_->clock->NowMs();
  while (!seen_order_.empty() && seen_order_.front().first <= now) {
    seen_.erase(seen_order_.front().second);
    seen_order_.pop_front();
  }
  auto key = std::make_pair(from, req_id);
  if (seen_.count(key)) return true;
  if (seen_.size() >= kSeenMax) {
    seen_.erase(seen_order_.front().second);
    seen_order_.pop_front();
  }
  seen_.insert(key);
  seen_order_.emplace_back(now + 10 * ctx_->cfg.request_timeout_ms, key);
  return false;
}

void Forwarder::OnForwardReq(Message& m) {
  if (Seen(m.from_id, m.req_id)) return;
  std::string reply_to = m.from_addr;
  uint64_t req_id = m.req_id;
  // Our deadline is shorter than the forwarder's, so our answer (even Unavailable)
  // normally reaches it before it gives up.
  uint64_t timeout_ms = std::max<uint64_t>(ctx_->cfg.request_timeout_ms * 3 / 4, 1);
  NodeContext* ctx = ctx_;
  auto respond = [ctx, reply_to, req_id](const Status& s, VersionVector vv, Record rec) {
    Message resp;
    resp.type = MsgType::kForwardResp;
    resp.req_id = req_id;
    resp.set_status(s);
    resp.context = std::move(vv);
    resp.record = std::move(rec);
    ctx->Send(reply_to, &resp);
  };
  if (m.is_write) {
    WriteRequest req;
    req.op = m.op;
    req.value = std::move(m.value);
    req.delta = m.delta;
    req.has_context = m.has_context;
    req.context = std::move(m.context);
    req.w = m.w;
    const KeyspacePolicy& pol = ctx_->PolicyOf(m.key);
    Status s = ctx_->CheckQuorum(&req.w, pol.w, pol.n, "w");
    if (!s.ok()) return respond(s, {}, {});
    writes_->Coordinate(
        m.key, std::move(req),
        [respond](Status st, WriteReply wr) {
          respond(st, std::move(wr.context), std::move(wr.record));
        },
        /*forwarded=*/true, timeout_ms);
  } else {
    int r = m.r;
    const KeyspacePolicy& pol = ctx_->PolicyOf(m.key);
    Status s = ctx_->CheckQuorum(&r, pol.r, pol.n, "r");
    if (!s.ok()) return respond(s, {}, {});
    reads_->Coordinate(
        m.key, r,
        [respond](Status st, ReadReply rr) {
          VersionVector vv = rr.record.context;
          respond(st, std::move(vv), std::move(rr.record));
        },
        /*forwarded=*/true, timeout_ms);
  }
}

void Forwarder::OnForwardResp(Message& m) {
  auto it = forwards_.find(m.req_id);
  if (it == forwards_.end()) return;
  Pending f = std::move(it->second);
  forwards_.erase(it);
  Status s = m.status();
  if (f.read_cb) {
    ReadReply rr;
    if (s.ok()) rr.record = std::move(m.record);
    f.read_cb(s, std::move(rr));
  } else if (f.write_cb) {
    WriteReply wr;
    if (s.ok()) {
      wr.context = std::move(m.context);
      wr.record = std::move(m.record);
      wr.copies = uint32_t(f.w > 0 ? f.w : ctx_->cfg.w);  // the coordinator counts the rest
    }
    f.write_cb(s, std::move(wr));
  }
}

void Forwarder::Expire(uint64_t id) {
  auto it = forwards_.find(id);
  if (it == forwards_.end()) return;
  ++ctx_->stats.coordinator_timeouts;
  Pending f = std::move(it->second);
  forwards_.erase(it);
  Status s = Status::Unavailable("forwarded request timed out");
  if (f.read_cb) return f.read_cb(s, {});
  if (f.write_cb) return f.write_cb(s, {});
}

}  // namespace dynakv::cluster
