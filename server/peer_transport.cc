// server/peer_transport.cc: length-prefixed frames over libuv TCP, with reconnect backoff.
#include "server/peer_transport.h"

#include <algorithm>
#include <cstring>

#include "cluster/message.h"
#include "server/config.h"

namespace dynakv::server {
namespace {
constexpr uint64_t kFrameBytesMax = 640ull * 1024 * 1024;  // > proto_max_bulk_len + headers
constexpr uint64_t kBackoffMinMs = 100, kBackoffMaxMs = 1000;
// An inbound frame this big gets its buffer reserved whole and is handed to the node with it.
constexpr uint32_t kTakeFrameBytes = 1u << 20;
// One read's most (OnAlloc); a TLS link's plaintext from one read is no more.
constexpr size_t kReadBytes = 256 * 1024;
// What the inbound links may bring in one loop turn before they pause until the next: libuv
// reads up to 32 times per link per turn (8 MB here), and a big frame's bytes land in memory
// the process has not touched (2.5 ms per MB on our VMs): 50-110 ms turns on a node that a
// 100 MB frame reached.
constexpr size_t kTurnReadBytes = 2u << 20;

void PutU32(char* p, uint32_t v) {
  p[0] = static_cast<char>(v >> 24);
  p[1] = static_cast<char>(v >> 16);
  p[2] = static_cast<char>(v >> 8);
  p[3] = static_cast<char>(v);
}
uint32_t GetU32(const char* p) {
  auto u = reinterpret_cast<const unsigned char*>(p);
  return (uint32_t(u[0]) << 24) | (uint32_t(u[1]) << 16) | (uint32_t(u[2]) << 8) | u[3];
}

Status ResolveAddr(const std::string& addr, sockaddr_storage* out) {
  std::string host;
  int port;
  if (Status s = SplitHostPort(addr, &host, &port); !s.ok()) return s;
  if (host == "localhost") host = "127.0.0.1";
  if (uv_ip4_addr(host.c_str(), port, reinterpret_cast<sockaddr_in*>(out)) == 0) return Status::OK();
  if (uv_ip6_addr(host.c_str(), port, reinterpret_cast<sockaddr_in6*>(out)) == 0) return Status::OK();
  return Status::Invalid("cannot parse address '" + addr + "' (use a numeric IP)");
}
}  // namespace

// A split frame's trailer, computed on libuv's thread pool: checking 100 MB costs the loop
// 15-25 ms otherwise. `frame` holds the pieces (the middle shared, not copied).
struct PeerTransport::TrailerWork {
  uv_work_t req;
  std::shared_ptr<bool> alive;  // the transport's: false once it is closed or gone
  PeerTransport* owner;
  cluster::SplitFrame frame;
  std::string trailer;  // frame.trailer_bytes bytes once done
  bool done = false;
  std::shared_ptr<TrailerWork> self;  // kept while queued on the pool
};

// A piece of what is queued for a peer: bytes of its own, or a shared buffer's (the middle of
// a SplitFrame: a big record as the engine holds it), or a split frame's trailer, which is
// written once computed (nothing queued after it goes before).
struct Piece {
  std::string own;
  std::shared_ptr<const std::string> shared;
  bool starts_frame = false;  // a frame's length prefix
  std::shared_ptr<PeerTransport::TrailerWork> trailer;
  static Piece Own(std::string bytes, bool starts_frame = false) {
    Piece p;
    p.own = std::move(bytes);
    p.starts_frame = starts_frame;
    return p;
  }
  static Piece Shared(std::shared_ptr<const std::string> bytes) {
    Piece p;
    p.shared = std::move(bytes);
    return p;
  }
  static Piece Trailer(std::shared_ptr<PeerTransport::TrailerWork> work) {
    Piece p;
    p.trailer = std::move(work);
    return p;
  }
  bool ready() const { return !trailer || trailer->done; }
  const char* data() const { return trailer ? trailer->trailer.data() : shared ? shared->data() : own.data(); }
  size_t size() const {
    return trailer ? trailer->frame.trailer_bytes : shared ? shared->size() : own.size();
  }
};

struct PeerTransport::Peer {
  PeerTransport* owner;
  std::string addr;
  uv_tcp_t* tcp = nullptr;  // heap: closed asynchronously
  uv_timer_t* retry = nullptr;
  bool connected = false, connecting = false;
  uint64_t backoff_ms = kBackoffMinMs;
  // Frames waiting for the connection: each a 4-byte length prefix, then the frame (a split
  // frame: its three pieces).
  std::deque<Piece> queue;
  uint64_t queued_bytes = 0;
  bool dirty = false;  // frames were queued in this release; pumped once at its end
  std::unique_ptr<TlsConn> tls;  // tls.cluster: this connection's session
  std::string last_tls_error;    // logged once until the link works again
};

struct PeerTransport::Inbound {
  PeerTransport* owner;
  uv_tcp_t tcp;
  std::string buf;
  bool closing = false;
  bool paused = false;  // reading stopped until the next loop turn (PauseInbound)
  std::unique_ptr<TlsConn> tls;  // tls.cluster
};

// One write of every frame queued for a peer (writev): the frames released in one loop
// iteration cost one system call per peer, not one per frame.
struct WriteReq {
  uv_write_t req;
  std::vector<Piece> data;
  std::vector<uv_buf_t> bufs;
  PeerTransport::Peer* peer;
};
constexpr size_t kMaxBufsPerWrite = 1024;  // IOV_MAX: prefix + frame each (a split frame: 4)

// One uv_write of `data` on tcp. A failure on an outbound link (p) fails the peer; on an
// inbound one the read side notices.
void PeerTransport::WriteOut(uv_tcp_t* tcp, std::string data, Peer* p) {
  auto* w = new WriteReq;
  w->data.push_back(Piece::Own(std::move(data)));
  w->bufs.push_back(uv_buf_init(w->data[0].own.data(), static_cast<unsigned>(w->data[0].size())));
  w->peer = p;
  w->req.data = w;
  int rc = uv_write(&w->req, reinterpret_cast<uv_stream_t*>(tcp), w->bufs.data(),
                    static_cast<unsigned>(w->bufs.size()), OnWrite);
  if (rc != 0) {
    delete w;
    if (p) PeerFailed(p);
  }
}

// Bytes on an outbound TLS link: handshake records and alerts (peers send no frames on it).
bool PeerTransport::OutboundTlsRead(Peer* p, const char* data, size_t len) {
  std::string plain, wire;
  bool was_established = p->tls->established();
  bool ok = p->tls->Feed(data, len, &plain, &wire);
  if (!wire.empty()) {
    WriteOut(p->tcp, {std::move(wire)}, p);
    if (p->tcp == nullptr) return false;
  }
  if (!ok) {
    stats_.tls_failures++;
    std::string err = p->tls->error();
    if (err != p->last_tls_error) {
      log_->Log(cluster::Logger::Level::kWarn, "TLS link to peer " + p->addr + " failed: " + err);
      p->last_tls_error = err;
    }
    PeerFailed(p);
    return false;
  }
  if (!was_established && p->tls->established()) {
    p->backoff_ms = kBackoffMinMs;  // only a working link resets the backoff
    if (!p->last_tls_error.empty()) {
      log_->Log(cluster::Logger::Level::kInfo, "TLS link to peer " + p->addr + " established");
      p->last_tls_error.clear();
    }
  }
  return true;
}

PeerTransport::PeerTransport(uv_loop_t* loop, cluster::Logger* log, uint64_t queue_bytes_max)
    : loop_(loop), log_(log), queue_bytes_max_(queue_bytes_max) {}

PeerTransport::~PeerTransport() { Close(); }

Status PeerTransport::Listen(const std::string& addr) {
  sockaddr_storage sa;
  if (Status s = ResolveAddr(addr, &sa); !s.ok()) return s;
  uv_tcp_init(loop_, &listener_);
  listener_.data = this;
  int rc = uv_tcp_bind(&listener_, reinterpret_cast<sockaddr*>(&sa), 0);
  if (rc == 0) rc = uv_listen(reinterpret_cast<uv_stream_t*>(&listener_), 128, OnAccept);
  if (rc != 0) {
    uv_close(reinterpret_cast<uv_handle_t*>(&listener_), nullptr);
    return Status::IOError("cannot listen on cluster address " + addr + ": " + uv_strerror(rc));
  }
  listening_ = true;
  return Status::OK();
}

void PeerTransport::Send(const std::string& to_addr, std::string frame) {
  if (closed_) return;
  held_.push_back(Held{kUntagged, to_addr, std::move(frame), nullptr, {}, nullptr});
}

void PeerTransport::SendSplit(const std::string& to_addr, const cluster::SplitFrame& frame) {
  if (closed_) return;
  std::shared_ptr<TrailerWork> trailer = frame.trailer ? TrailerFor(frame) : nullptr;
  held_.push_back(Held{kUntagged, to_addr, frame.head, frame.middle, frame.tail, std::move(trailer)});
}

// The job computing frame's trailer, started on the pool now (so it is done, or nearly, when
// the group commit releases the frame); the last one again for the same frame.
std::shared_ptr<PeerTransport::TrailerWork> PeerTransport::TrailerFor(const cluster::SplitFrame& frame) {
  if (auto last = last_trailer_.lock()) {
    if (last->frame.middle == frame.middle && last->frame.head == frame.head && last->frame.tail == frame.tail) {
      return last;
    }
  }
  auto w = std::make_shared<TrailerWork>();
  w->req.data = w.get();
  w->alive = alive_;
  w->owner = this;
  w->frame = frame;
  w->self = w;
  last_trailer_ = w;
  int rc = uv_queue_work(
      loop_, &w->req,
      [](uv_work_t* r) {
        auto* w = static_cast<TrailerWork*>(r->data);
        w->trailer = w->frame.trailer(w->frame);
      },
      [](uv_work_t* r, int status) {
        auto* w = static_cast<TrailerWork*>(r->data);
        std::shared_ptr<TrailerWork> keep = std::move(w->self);
        if (status != 0 || !*w->alive) return;
        w->done = true;
        // Whatever waits behind it goes now.
        PeerTransport* self = w->owner;
        for (auto& [addr, p] : self->peers_) {
          if (p->connected && !p->queue.empty()) self->Pump(p.get());
        }
      });
  if (rc != 0) {  // no thread pool: here
    w->self.reset();
    w->trailer = w->frame.trailer(w->frame);
    w->done = true;
  }
  return w;
}

void PeerTransport::TagUntagged(uint64_t batch) {
  for (auto it = held_.rbegin(); it != held_.rend() && it->batch == kUntagged; ++it) it->batch = batch;
}

void PeerTransport::DropBatch(uint64_t batch) {
  size_t before = held_.size();
  held_.erase(std::remove_if(held_.begin(), held_.end(),
                             [&](const Held& h) { return h.batch == batch || h.batch == kUntagged; }),
              held_.end());
  stats_.frames_dropped += before - held_.size();
}

void PeerTransport::ReleaseUpTo(uint64_t durable_batch) {
  while (!held_.empty() && held_.front().batch <= durable_batch) {
    Held h = std::move(held_.front());
    held_.pop_front();
    Deliver(std::move(h));
  }
  for (Peer* p : dirty_) {
    p->dirty = false;
    if (closed_) continue;
    if (p->connected) {
      Pump(p);
    } else if (!p->connecting && p->retry == nullptr && p->tcp == nullptr) {
      Connect(p);
    }
  }
  dirty_.clear();
}

void PeerTransport::Deliver(Held h) {
  auto& slot = peers_[h.addr];
  if (!slot) {
    slot = std::make_unique<Peer>();
    slot->owner = this;
    slot->addr = h.addr;
  }
  Peer* p = slot.get();
  size_t size = h.frame.size() + (h.middle ? h.middle->size() + h.tail.size() : 0) +
                (h.trailer ? h.trailer->frame.trailer_bytes : 0);
  // The bound holds frames back from a slow peer; one frame bigger than it (a value of up to
  // proto_max_bulk_len) still goes when little else waits for that peer: under 1 MB, such as
  // the kReadComing note sent just before a big read reply (which an empty-queue rule
  // dropped), so what is queued stays under the bound plus one frame plus 1 MB.
  const uint64_t little = std::min<uint64_t>(1u << 20, queue_bytes_max_ / 4);
  bool room = size + little > queue_bytes_max_ ? p->queued_bytes <= little
                                               : p->queued_bytes + size <= queue_bytes_max_;
  if (!room || size > kFrameBytesMax) {
    stats_.frames_dropped++;  // bounded queue: the core treats this as a lost message
    return;
  }
  // The length prefix is its own buffer of the writev (4 bytes: no allocation), so the frame
  // goes out as the core encoded it, without a copy.
  std::string prefix(4, '\0');
  PutU32(prefix.data(), static_cast<uint32_t>(size));
  p->queued_bytes += prefix.size() + size;
  p->queue.push_back(Piece::Own(std::move(prefix), true));
  p->queue.push_back(Piece::Own(std::move(h.frame)));
  if (h.middle) {
    p->queue.push_back(Piece::Shared(std::move(h.middle)));
    p->queue.push_back(Piece::Own(std::move(h.tail)));
    if (h.trailer) p->queue.push_back(Piece::Trailer(std::move(h.trailer)));
  }
  stats_.frames_sent++;
  if (!p->dirty) {  // written (or connected) once, when the release ends
    p->dirty = true;
    dirty_.push_back(p);
  }
}

void PeerTransport::Connect(Peer* p) {
  sockaddr_storage sa;
  if (!ResolveAddr(p->addr, &sa).ok()) {
    p->queue.clear();
    p->queued_bytes = 0;
    return;
  }
  p->tls.reset();
  p->tcp = new uv_tcp_t;
  uv_tcp_init(loop_, p->tcp);
  p->tcp->data = p;
  uv_tcp_nodelay(p->tcp, 1);
  auto* req = new uv_connect_t;
  req->data = p;
  p->connecting = true;
  stats_.connects++;
  int rc = uv_tcp_connect(req, p->tcp, reinterpret_cast<sockaddr*>(&sa), OnConnect);
  if (rc != 0) {
    delete req;
    p->connecting = false;
    PeerFailed(p);
  }
}

void PeerTransport::OnConnect(uv_connect_t* req, int status) {
  auto* p = static_cast<Peer*>(req->data);
  delete req;
  if (status == UV_ECANCELED) return;
  p->connecting = false;
  if (status != 0) {
    p->owner->stats_.connect_failures++;
    p->owner->PeerFailed(p);
    return;
  }
  p->connected = true;
  PeerTransport* self = p->owner;
  if (self->tls_) {
    p->tls = std::make_unique<TlsConn>(*self->tls_, /*server_side=*/false);
    std::string hello;
    if (!p->tls->Start(&hello)) {
      self->log_->Log(cluster::Logger::Level::kWarn, "TLS link to peer " + p->addr + " failed: " + p->tls->error());
      self->PeerFailed(p);
      return;
    }
    self->WriteOut(p->tcp, {std::move(hello)}, p);
    if (p->tcp == nullptr) return;
  } else {
    p->backoff_ms = kBackoffMinMs;
  }
  // Peers never send frames on our outbound connection, but reading lets us notice it
  // closing (and carries the TLS handshake).
  uv_read_start(
      reinterpret_cast<uv_stream_t*>(p->tcp),
      [](uv_handle_t*, size_t, uv_buf_t* b) {
        static char sink[16 * 1024];
        *b = uv_buf_init(sink, sizeof(sink));
      },
      [](uv_stream_t* s, ssize_t n, const uv_buf_t* b) {
        auto* peer = static_cast<Peer*>(s->data);
        if (n < 0) {
          if (peer->tls && !peer->tls->established() && peer->last_tls_error.empty()) {
            peer->last_tls_error = "closed during the TLS handshake";
            peer->owner->log_->Log(cluster::Logger::Level::kWarn,
                                   "TLS link to peer " + peer->addr + " closed during the handshake");
          }
          peer->owner->PeerFailed(peer);
        } else if (n > 0 && peer->tls) {
          peer->owner->OutboundTlsRead(peer, b->base, size_t(n));
        }
      });
  self->Pump(p);
}

void PeerTransport::Pump(Peer* p) {
  if (p->tls && p->connected) {
    // One TLS write of everything queued (kept inside the session until the handshake is done).
    std::string plain;
    while (!p->queue.empty() && p->queue.front().ready()) {
      plain.append(p->queue.front().data(), p->queue.front().size());
      p->queued_bytes -= p->queue.front().size();
      p->queue.pop_front();
    }
    std::string wire;
    if (!p->tls->Write(plain, &wire)) {
      stats_.tls_failures++;
      PeerFailed(p);
      return;
    }
    if (!wire.empty()) WriteOut(p->tcp, {std::move(wire)}, p);
    return;
  }
  while (!p->queue.empty() && p->connected && p->queue.front().ready()) {
    auto* w = new WriteReq;
    while (!p->queue.empty() && w->data.size() < kMaxBufsPerWrite && p->queue.front().ready()) {
      w->data.push_back(std::move(p->queue.front()));
      p->queue.pop_front();
      p->queued_bytes -= w->data.back().size();
    }
    for (auto& d : w->data) w->bufs.push_back(uv_buf_init(const_cast<char*>(d.data()), static_cast<unsigned>(d.size())));
    w->peer = p;
    w->req.data = w;
    int rc = uv_write(&w->req, reinterpret_cast<uv_stream_t*>(p->tcp), w->bufs.data(),
                      static_cast<unsigned>(w->bufs.size()), OnWrite);
    if (rc != 0) {
      delete w;
      PeerFailed(p);
      return;
    }
  }
}

void PeerTransport::OnWrite(uv_write_t* req, int status) {
  auto* w = static_cast<WriteReq*>(req->data);
  delete w;  // a failed write is a lost message; the read side notices the broken link
  (void)status;
}

void PeerTransport::PeerFailed(Peer* p) {
  if (p->tcp) {
    uv_tcp_t* t = p->tcp;
    p->tcp = nullptr;
    if (!uv_is_closing(reinterpret_cast<uv_handle_t*>(t))) {
      uv_close(reinterpret_cast<uv_handle_t*>(t), [](uv_handle_t* h) { delete reinterpret_cast<uv_tcp_t*>(h); });
    }
  }
  p->connected = false;
  p->connecting = false;
  p->tls.reset();
  // Frames queued for a dead peer are dropped: the core has timeouts for exactly this case,
  // and delivering minutes-old gossip later would only confuse failure detection.
  stats_.frames_dropped += static_cast<uint64_t>(
      std::count_if(p->queue.begin(), p->queue.end(), [](const Piece& x) { return x.starts_frame; }));
  p->queue.clear();
  p->queued_bytes = 0;
  if (closed_ || p->retry) return;
  p->retry = new uv_timer_t;
  uv_timer_init(loop_, p->retry);
  p->retry->data = p;
  uv_timer_start(p->retry, OnRetry, p->backoff_ms, 0);
  p->backoff_ms = std::min(p->backoff_ms * 2, kBackoffMaxMs);
}

void PeerTransport::OnRetry(uv_timer_t* t) {
  auto* p = static_cast<Peer*>(t->data);
  p->retry = nullptr;
  uv_close(reinterpret_cast<uv_handle_t*>(t), [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
  // Reconnect lazily: the next Release() to this peer connects.
  if (!p->queue.empty()) p->owner->Connect(p);
}

void PeerTransport::OnAccept(uv_stream_t* server, int status) {
  auto* self = static_cast<PeerTransport*>(server->data);
  if (status != 0) return;
  auto* in = new Inbound;
  in->owner = self;
  uv_tcp_init(self->loop_, &in->tcp);
  in->tcp.data = in;
  if (uv_accept(server, reinterpret_cast<uv_stream_t*>(&in->tcp)) != 0) {
    uv_close(reinterpret_cast<uv_handle_t*>(&in->tcp), [](uv_handle_t* h) { delete static_cast<Inbound*>(h->data); });
    return;
  }
  uv_tcp_nodelay(&in->tcp, 1);
  if (self->tls_) in->tls = std::make_unique<TlsConn>(*self->tls_, /*server_side=*/true);
  self->inbound_.push_back(in);
  uv_read_start(reinterpret_cast<uv_stream_t*>(&in->tcp), OnAlloc, OnInboundRead);
}

void PeerTransport::OnAlloc(uv_handle_t*, size_t, uv_buf_t* buf) {
  static char scratch[kReadBytes];
  *buf = uv_buf_init(scratch, sizeof(scratch));
}

void PeerTransport::OnInboundRead(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) {
  auto* in = static_cast<Inbound*>(s->data);
  PeerTransport* self = in->owner;
  auto close_inbound = [&]() {
    if (in->closing) return;
    in->closing = true;
    auto& v = self->inbound_;
    v.erase(std::remove(v.begin(), v.end(), in), v.end());
    auto& pv = self->paused_;
    pv.erase(std::remove(pv.begin(), pv.end(), in), pv.end());
    uv_close(reinterpret_cast<uv_handle_t*>(&in->tcp), [](uv_handle_t* h) { delete static_cast<Inbound*>(h->data); });
  };
  if (nread < 0) {
    close_inbound();
    return;
  }
  if (in->tls) {
    std::string wire;
    bool ok = in->tls->Feed(buf->base, static_cast<size_t>(nread), &in->buf, &wire);
    if (!wire.empty()) self->WriteOut(&in->tcp, {std::move(wire)}, nullptr);  // may carry an alert
    if (!ok) {
      self->stats_.tls_failures++;
      self->LogInboundTlsFailure(&in->tcp, in->tls->error());
      close_inbound();
      return;
    }
  } else {
    in->buf.append(buf->base, static_cast<size_t>(nread));
  }
  size_t off = 0;
  std::vector<std::string_view>& frames = self->frames_;
  frames.clear();
  bool bad = false;
  while (in->buf.size() - off >= 4) {
    uint32_t len = GetU32(in->buf.data() + off);
    if (len > kFrameBytesMax) {
      bad = true;
      break;
    }
    if (in->buf.size() - off - 4 < len) {
      // A big frame still arriving: once 1 MB of it is here, room for all of it, so the
      // buffer is not regrown (each regrowth a copy, in one turn, into memory the process
      // has not touched: 2.5 ms per MB here). Not before: a peer may announce a length it
      // never sends (and room not written to costs address space, not memory). The room
      // has one read to spare: the read that ends the frame brings the next frames' first
      // bytes too, and a buffer of exactly the frame's size was regrown by it, the whole
      // frame copied (300-900 ms turns on every node a 100 MB frame reached).
      size_t want = off + 4 + size_t(len);
      if (len >= kTakeFrameBytes && in->buf.capacity() < want && in->buf.size() - off >= kTakeFrameBytes) {
        if (off > 0) {
          in->buf.erase(0, off);
          want -= off;
          off = 0;
        }
        in->buf.reserve(want + kReadBytes);
      }
      break;
    }
    self->stats_.frames_received++;
    if (len >= kTakeFrameBytes && self->node_) {
      // A big frame is handed over with the buffer it arrived in (its value takes that
      // memory) and decoded on a worker thread (DecodeOffLoop); the frames before it go
      // first, those after it do not wait for it.
      if (!frames.empty()) self->node_->OnMessages(frames);
      frames.clear();
      std::string whole = std::move(in->buf);
      in->buf.assign(whole, off + 4 + len);
      whole.resize(off + 4 + len);
      self->DecodeOffLoop(std::move(whole), off + 4);
      off = 0;
      continue;
    }
    frames.emplace_back(in->buf.data() + off + 4, len);
    off += 4 + len;
  }
  // The whole frames that arrived, handled together (Node::OnMessages prefetches their keys).
  if (self->node_ && !frames.empty()) self->node_->OnMessages(frames);
  frames.clear();
  if (bad) {
    self->stats_.bad_frames++;
    close_inbound();
    return;
  }
  in->buf.erase(0, off);
  uint64_t now = uv_now(self->loop_);
  if (now != self->turn_read_ms_) {
    self->turn_read_ms_ = now;
    self->turn_read_bytes_ = 0;
  }
  self->turn_read_bytes_ += static_cast<size_t>(nread);
  if (self->turn_read_bytes_ >= kTurnReadBytes) self->PauseInbound(in);
}

// Reading from `in` stops until the next loop turn (kTurnReadBytes), when the idle handle
// starts it again; the loop does not block on I/O meanwhile.
void PeerTransport::PauseInbound(Inbound* in) {
  if (in->paused || in->closing || closed_) return;
  uv_read_stop(reinterpret_cast<uv_stream_t*>(&in->tcp));
  in->paused = true;
  paused_.push_back(in);
  if (!resume_init_) {
    uv_idle_init(loop_, &resume_);
    resume_.data = this;
    resume_init_ = true;
  }
  uv_idle_start(&resume_, [](uv_idle_t* h) {
    auto* self = static_cast<PeerTransport*>(h->data);
    uv_idle_stop(h);
    self->turn_read_bytes_ = 0;
    std::vector<Inbound*> list;
    list.swap(self->paused_);
    for (Inbound* in : list) {
      in->paused = false;
      uv_read_start(reinterpret_cast<uv_stream_t*>(&in->tcp), OnAlloc, OnInboundRead);
    }
  });
}

// A big frame's decode on libuv's thread pool: checking its trailer and the record's
// checksum and moving the value are tens of ms for 100 MB, which the loop need not spend.
struct DecodeWork {
  uv_work_t req;
  std::shared_ptr<bool> alive;  // the transport's: false once it is closed or gone
  cluster::Node* node;
  std::string secret, buf;
  size_t at;
  cluster::Message msg;
  Status status;
};

void PeerTransport::DecodeOffLoop(std::string buf, size_t at) {
  auto* w = new DecodeWork{};
  w->req.data = w;
  w->alive = alive_;
  w->node = node_;
  w->secret = node_->config().cluster_secret;
  w->buf = std::move(buf);
  w->at = at;
  int rc = uv_queue_work(
      loop_, &w->req,
      [](uv_work_t* r) {
        auto* w = static_cast<DecodeWork*>(r->data);
        w->status = cluster::DecodeFrameTaking(&w->buf, w->at, w->secret, &w->msg);
      },
      [](uv_work_t* r, int status) {
        std::unique_ptr<DecodeWork> w(static_cast<DecodeWork*>(r->data));
        if (status == 0 && *w->alive) w->node->OnDecoded(w->status, w->msg);
      });
  if (rc != 0) {  // no thread pool: decode here
    std::unique_ptr<DecodeWork> own(w);
    own->status = cluster::DecodeFrameTaking(&own->buf, own->at, own->secret, &own->msg);
    node_->OnDecoded(own->status, own->msg);
  }
}

// A refused peer retries about once a second: one line per 10 s, with the count in between.
void PeerTransport::LogInboundTlsFailure(uv_tcp_t* tcp, const std::string& error) {
  uint64_t now = uv_now(loop_);
  if (tls_logged_ms_ != 0 && now - tls_logged_ms_ < 10000) {
    tls_unlogged_++;
    return;
  }
  std::string from = "?";
  sockaddr_storage sa;
  int len = sizeof(sa);
  if (uv_tcp_getpeername(tcp, reinterpret_cast<sockaddr*>(&sa), &len) == 0) {
    char ip[64] = {0};
    if (sa.ss_family == AF_INET) uv_ip4_name(reinterpret_cast<sockaddr_in*>(&sa), ip, sizeof(ip));
    else uv_ip6_name(reinterpret_cast<sockaddr_in6*>(&sa), ip, sizeof(ip));
    from = ip;
  }
  std::string more = tls_unlogged_ ? " (" + std::to_string(tls_unlogged_) + " more refused since the last report)" : "";
  log_->Log(cluster::Logger::Level::kWarn, "TLS connection from " + from + " on the cluster port refused: " + error + more);
  tls_logged_ms_ = now == 0 ? 1 : now;
  tls_unlogged_ = 0;
}

void PeerTransport::Close() {
  if (closed_) return;
  closed_ = true;
  *alive_ = false;  // decodes still running are dropped when they finish
  if (listening_) {
    uv_close(reinterpret_cast<uv_handle_t*>(&listener_), nullptr);
    listening_ = false;
  }
  for (auto* in : inbound_) {
    in->closing = true;
    uv_close(reinterpret_cast<uv_handle_t*>(&in->tcp), [](uv_handle_t* h) { delete static_cast<Inbound*>(h->data); });
  }
  inbound_.clear();
  paused_.clear();
  if (resume_init_) {
    uv_idle_stop(&resume_);
    uv_close(reinterpret_cast<uv_handle_t*>(&resume_), nullptr);
    resume_init_ = false;
  }
  for (auto& [addr, p] : peers_) {
    if (p->tcp && !uv_is_closing(reinterpret_cast<uv_handle_t*>(p->tcp))) {
      uv_close(reinterpret_cast<uv_handle_t*>(p->tcp), [](uv_handle_t* h) { delete reinterpret_cast<uv_tcp_t*>(h); });
    }
    p->tcp = nullptr;
    if (p->retry) {
      uv_timer_stop(p->retry);
      uv_close(reinterpret_cast<uv_handle_t*>(p->retry), [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
      p->retry = nullptr;
    }
  }
}

}  // namespace dynakv::server
