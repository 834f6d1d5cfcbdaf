// server/server.cc: libuv loop, client connections, group commit and shutdown.
//
// One file for one job, though a long one: the loop's durability rule (no reply and no
// inter-node frame leaves before the group commit that made it durable; cluster/node.h) ties
// reading a connection, running its commands, committing, releasing replies and frames, TLS
// on the wire and an orderly stop together; they share the commit pipeline's state, and split
// across files each piece would have to restate it. Commands live in server/commands_*.cc,
// peers in server/peer_transport.cc, TLS in server/tls.cc, HTTP in server/http_listener.cc.
#include "server/server.h"

#include <sys/time.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>

#include "server/allocator.h"
#include "server/commands.h"
#include "server/http_listener.h"
#include "server/lists.h"
#include "server/log.h"
#include "server/peer_transport.h"
#include "server/protected_mode.h"
#include "server/watchdog.h"
#include "storage/mem_engine.h"

namespace dynakv::server {

class LoopClock final : public cluster::Clock {
 public:
  // offset_ms: debug.clock_offset_ms (0 unless a clock-skew test sets it), added to the wall
  // clock every timestamp, expiry and tombstone age on this node is taken from.
  LoopClock(uv_loop_t* loop, int64_t offset_ms) : loop_(loop), offset_ms_(offset_ms) {}
  uint64_t NowMs() override { return uv_hrtime() / 1000000; }
  // Wall time is read once per tick of the loop's millisecond clock (libuv refreshes uv_now
  // when a poll returns), not once per call: a pipelined SET asks for it several times and
  // gettimeofday was 1.5% of the server's cycles. Like Redis's cached mstime, it can lag by
  // the time one loop iteration takes.
  uint64_t WallMs() override {
    uint64_t tick = uv_now(loop_);
    if (tick != wall_tick_ || wall_ms_ == 0) {
      timeval tv;
      gettimeofday(&tv, nullptr);
      wall_ms_ = uint64_t(int64_t(uint64_t(tv.tv_sec) * 1000 + uint64_t(tv.tv_usec) / 1000) + offset_ms_);
      wall_tick_ = tick;
    }
    return wall_ms_;
  }

 private:
  uv_loop_t* loop_;
  int64_t offset_ms_;
  uint64_t wall_tick_ = 0;
  uint64_t wall_ms_ = 0;
};

class OsRandom final : public cluster::Random {
 public:
  OsRandom() {
    uint64_t seed = 0;
    if (FILE* f = std::fopen("/dev/urandom", "rb")) {
      if (std::fread(&seed, sizeof(seed), 1, f) != 1) seed = 0;
      std::fclose(f);
    }
    seed ^= uv_hrtime();
    rng_ = std::make_unique<cluster::SeededRandom>(seed);
  }
  uint64_t Next() override { return rng_->Next(); }

 private:
  std::unique_ptr<cluster::SeededRandom> rng_;
};

namespace {
constexpr size_t kReadChunk = 64 * 1024;
constexpr size_t kMaxWaitingReplies = 4096;  // stop reading a client this far ahead
constexpr uint32_t kEarlyCommitReads = 8;     // see OnRead

// host:port for a [tls] port on the host of `addr` (a listen address).
std::string WithPort(const std::string& addr, int64_t port) {
  std::string host;
  int unused;
  if (!SplitHostPort(addr, &host, &unused).ok()) host = "127.0.0.1";
  if (host.find(':') != std::string::npos) host = "[" + host + "]";
  return host + ":" + std::to_string(port);
}
}  // namespace

Server::Server(Config cfg) : cfg_(std::move(cfg)) {
  uv_loop_init(&loop_);
  uv_loop_configure(&loop_, UV_METRICS_IDLE_TIME);  // for the loop turn stats (OnPrepare)
  resp_limits_.max_bulk_len = uint64_t(cfg_.proto_max_bulk_len);
  resp_limits_.max_args = uint64_t(cfg_.max_args);
}

Server::~Server() {
  http_.reset();  // joins civetweb's threads before anything they could be handed goes away
  node_.reset();
  if (transport_) transport_->Close();
  uv_walk(
      &loop_,
      [](uv_handle_t* h, void*) {
        if (!uv_is_closing(h)) uv_close(h, nullptr);
      },
      nullptr);
  uv_run(&loop_, UV_RUN_DEFAULT);
  transport_.reset();
  engine_.reset();  // commits and syncs pending writes
  uv_loop_close(&loop_);
}

uint64_t Server::NowMs() { return clock_->NowMs(); }
uint64_t Server::WallMs() { return clock_->WallMs(); }

void Server::Log(cluster::Logger::Level level, const std::string& msg) { logger_->Log(level, msg); }

std::vector<std::shared_ptr<Client>> Server::Clients() const {
  std::vector<std::shared_ptr<Client>> v;
  for (auto& [p, c] : clients_) v.push_back(c);
  std::sort(v.begin(), v.end(), [](auto& a, auto& b) { return a->id < b->id; });
  return v;
}

Status Server::Init() {
  auto lg = ServerLogger::Open(cfg_.node_id, ServerLogger::ParseLevel(cfg_.log_level), cfg_.log_file);
  if (!lg.ok()) return lg.status();
  logger_ = std::move(lg.value());
  clock_ = std::make_unique<LoopClock>(&loop_, cfg_.clock_offset_ms);
  if (cfg_.clock_offset_ms != 0) {
    logger_->Log(cluster::Logger::Level::kWarn,
                 "debug.clock_offset_ms = " + std::to_string(cfg_.clock_offset_ms) +
                     ": this node's wall clock is skewed on purpose (tests only)");
  }
  random_ = std::make_unique<OsRandom>();
  stats_.start_ms = clock_->WallMs();
  if (!cfg_.http_addr.empty()) {  // up first: /health says "loading" until Init is done
    http_ = std::make_unique<HttpListener>();
    if (Status s = http_->Start(cfg_.http_addr); !s.ok()) return s;
    auto snap = std::make_shared<HttpSnapshot>();
    snap->health = {503, "loading"};
    http_->Publish(std::move(snap));
  }

  storage::SyncMode sync = cfg_.sync == "always" ? storage::SyncMode::kAlways
                           : cfg_.sync == "none" ? storage::SyncMode::kNone
                                                 : storage::SyncMode::kBatch;
  if (cfg_.engine == "memory") {
    engine_ = storage::NewMemEngine(sync);
  } else {
    storage::LmdbOptions opts;
    opts.dir = cfg_.data_dir;
    opts.sync = sync;
    opts.map_size_bytes = uint64_t(cfg_.map_size_mb) << 20;
    opts.map_size_max_bytes = uint64_t(cfg_.map_size_max_mb) << 20;
    opts.direct_log = cfg_.log_io == "direct";
    auto r = storage::OpenLmdb(opts);
    if (!r.ok()) return r.status();
    engine_ = std::move(r.value());
  }

  transport_ = std::make_unique<PeerTransport>(&loop_, logger_.get(), 256ull << 20);
  if (cfg_.tls_port != 0 || cfg_.tls_memcache_port != 0) {
    if (Status s = TlsContext::Create(cfg_, TlsContext::Role::kClients, &client_tls_); !s.ok()) return s;
  }
  if (cfg_.tls_cluster) {
    if (Status s = TlsContext::Create(cfg_, TlsContext::Role::kCluster, &cluster_tls_); !s.ok()) return s;
    transport_->set_tls(cluster_tls_.get());
  }
  cluster::NodeConfig nc;
  nc.id = cfg_.node_id;
  nc.cluster_addr = cfg_.cluster_addr;
  nc.client_addr = AdvertisedRedisAddr(cfg_);
  nc.seeds = cfg_.seeds;
  nc.weight = uint32_t(cfg_.weight);
  nc.zone = cfg_.zone;
  nc.n = int(cfg_.n);
  nc.r = int(cfg_.r);
  nc.w = int(cfg_.w);
  for (const auto& k : cfg_.keyspaces) {
    Config::Keyspace rk = ResolvedKeyspace(cfg_, k);
    nc.keyspaces.push_back({rk.prefix, int(rk.n), int(rk.r), int(rk.w), rk.conflict == "lww"});
  }
  nc.request_timeout_ms = uint64_t(cfg_.request_timeout_ms);
  nc.read_retry_ms = uint64_t(cfg_.read_retry_ms);
  nc.gossip_interval_ms = uint64_t(cfg_.gossip_interval_ms);
  nc.suspect_after_ms = uint64_t(cfg_.suspect_after_ms);
  nc.down_after_ms = uint64_t(cfg_.down_after_ms);
  nc.ae_interval_ms = uint64_t(cfg_.anti_entropy_interval_ms);
  nc.handoff_concurrency = int(cfg_.handoff_concurrency);
  nc.auto_commit = cfg_.auto_commit;
  nc.handoff_bytes_per_s = uint64_t(cfg_.handoff_rate_mb) << 20;
  nc.cluster_secret = cfg_.cluster_secret;
  nc.limits.max_siblings = size_t(cfg_.max_siblings);
  nc.max_hints = size_t(cfg_.max_hints);
  nc.limits.warn_siblings = size_t(cfg_.warn_siblings);
  nc.tombstone_grace_ms = uint64_t(cfg_.tombstone_grace_s) * 1000;
  nc.record_cache_bytes = size_t(cfg_.record_cache_mb) << 20;
  node_ = std::make_unique<cluster::Node>(nc, transport_.get(), clock_.get(), random_.get(),
                                          engine_.get(), logger_.get());
  transport_->set_node(node_.get());
  node_->SetPublishHandler([this](const std::string& channel, const std::string& message, bool sharded) {
    if (!sharded && ListAnnouncement(this, channel, message)) return;
    PublishLocal(this, sharded ? PubSub::Kind::kShard : PubSub::Kind::kChannel, channel, message);
  });
  if (Status s = node_->Start(); !s.ok()) return s;
  cluster::ReaperConfig rc;
  rc.tombstone_grace_ms = uint64_t(cfg_.tombstone_grace_s) * 1000;
  rc.standalone = cfg_.cluster_addr.empty();
  reaper_ = std::make_unique<cluster::Reaper>(node_.get(), clock_.get(), rc,
                                              [this] { stats_.expired_keys++; });
  if (Status s = engine_->Commit(); !s.ok()) return s;

  if (!cfg_.cluster_addr.empty()) {
    if (Status s = transport_->Listen(cfg_.cluster_addr); !s.ok()) return s;
  }
  if (Status s = Listen(cfg_.redis_addr, &redis_listener_, Protocol::kResp); !s.ok()) return s;
  if (!cfg_.memcache_addr.empty()) {
    if (Status s = Listen(cfg_.memcache_addr, &memcache_listener_, Protocol::kMemcache); !s.ok()) return s;
    memcache_listening_ = true;
  }
  std::string tls_addrs;  // for the ready line
  if (cfg_.tls_port != 0) {
    std::string addr = WithPort(cfg_.redis_addr, cfg_.tls_port);
    if (Status s = Listen(addr, &tls_listener_, Protocol::kResp); !s.ok()) return s;
    tls_listening_ = true;
    tls_addrs += ", redis+tls " + addr;
  }
  if (cfg_.tls_memcache_port != 0) {
    std::string addr = WithPort(cfg_.memcache_addr.empty() ? cfg_.redis_addr : cfg_.memcache_addr,
                                cfg_.tls_memcache_port);
    if (Status s = Listen(addr, &tls_memcache_listener_, Protocol::kMemcache); !s.ok()) return s;
    tls_memcache_listening_ = true;
    tls_addrs += ", memcache+tls " + addr;
  }
  if (cfg_.tls_cluster) tls_addrs += ", cluster over tls";

  uv_check_init(&loop_, &check_);
  check_.data = this;
  uv_check_start(&check_, OnCheck);
  uv_prepare_init(&loop_, &prepare_);
  prepare_.data = this;
  uv_prepare_start(&prepare_, OnPrepare);
  uv_idle_init(&loop_, &gather_);
  uv_idle_init(&loop_, &yield_);
  yield_.data = this;
  uv_timer_init(&loop_, &tick_timer_);
  tick_timer_.data = this;
  uv_timer_start(&tick_timer_, OnTick, 10, 10);
  uv_timer_init(&loop_, &reaper_timer_);
  reaper_timer_.data = this;
  uv_timer_start(&reaper_timer_, OnReaper, 100, 100);
  uv_signal_init(&loop_, &sigint_);
  sigint_.data = this;
  uv_signal_start(&sigint_, OnSignal, SIGINT);
  uv_signal_init(&loop_, &sigterm_);
  sigterm_.data = this;
  uv_signal_start(&sigterm_, OnSignal, SIGTERM);
  uv_signal_init(&loop_, &sighup_);  // logrotate: reopen log.file (server/log.h)
  sighup_.data = this;
  uv_signal_start(&sighup_, [](uv_signal_t* s, int) {
    auto* self = static_cast<Server*>(s->data);
    (void)self->logger_->Reopen();
  }, SIGHUP);
  if (cfg_.shutdown_timeout_s > 0) {  // after uv_signal_start: chains in front of libuv's handler
    watchdog_ = std::make_unique<ShutdownWatchdog>(cfg_.shutdown_timeout_s, cfg_.node_id);
  }
  signal(SIGPIPE, SIG_IGN);
  PublishHttp();
  Log(cluster::Logger::Level::kInfo,
      "dynakv ready: redis " + cfg_.redis_addr + (cfg_.http_addr.empty() ? "" : ", http " + cfg_.http_addr) +
          (cfg_.memcache_addr.empty() ? "" : ", memcache " + cfg_.memcache_addr) + tls_addrs +
          (cfg_.cluster_addr.empty() ? ", standalone" : ", cluster " + cfg_.cluster_addr) +
          ", N=" + std::to_string(cfg_.n) + " R=" + std::to_string(cfg_.r) +
          " W=" + std::to_string(cfg_.w) + ", sync=" + cfg_.sync);
  return Status::OK();
}

Status Server::Listen(const std::string& addr, uv_tcp_t* handle, Protocol proto) {
  std::string host;
  int port;
  if (Status s = SplitHostPort(addr, &host, &port); !s.ok()) return s;
  if (host == "localhost") host = "127.0.0.1";
  sockaddr_storage sa;
  if (uv_ip4_addr(host.c_str(), port, reinterpret_cast<sockaddr_in*>(&sa)) != 0 &&
      uv_ip6_addr(host.c_str(), port, reinterpret_cast<sockaddr_in6*>(&sa)) != 0) {
    return Status::Invalid("cannot parse listen address '" + addr + "'");
  }
  uv_tcp_init(&loop_, handle);
  handle->data = this;
  int rc = uv_tcp_bind(handle, reinterpret_cast<sockaddr*>(&sa), 0);
  if (rc == 0) {
    rc = uv_listen(reinterpret_cast<uv_stream_t*>(handle), 511, OnNewConnection);
  }
  if (rc != 0) return Status::IOError("cannot listen on " + addr + ": " + uv_strerror(rc));
  // Tag the listener so accept knows which protocol the new connection speaks.
  handle->data = this;
  if (proto == Protocol::kMemcache && handle == &memcache_listener_) memcache_listening_ = true;
  return Status::OK();
}

void Server::OnNewConnection(uv_stream_t* listener, int status) {
  auto* self = static_cast<Server*>(listener->data);
  if (status != 0) return;
  auto c = std::make_shared<Client>(self->resp_limits_);
  c->server = self;
  auto is = [&](bool on, uv_tcp_t* l) { return on && listener == reinterpret_cast<uv_stream_t*>(l); };
  bool tls_mc = is(self->tls_memcache_listening_, &self->tls_memcache_listener_);
  c->protocol = (is(self->memcache_listening_, &self->memcache_listener_) || tls_mc) ? Protocol::kMemcache
                                                                                   : Protocol::kResp;
  if (tls_mc || is(self->tls_listening_, &self->tls_listener_)) {
    c->tls = std::make_unique<TlsConn>(*self->client_tls_, /*server_side=*/true);
  }
  uv_tcp_init(&self->loop_, &c->handle);
  c->handle.data = c.get();
  if (uv_accept(listener, reinterpret_cast<uv_stream_t*>(&c->handle)) != 0) {
    uv_close(reinterpret_cast<uv_handle_t*>(&c->handle), nullptr);
    return;
  }
  self->stats_.total_connections++;
  auto refuse = [&](std::string_view msg) {
    // Redis answers before closing so the client sees why.
    self->stats_.rejected_connections++;
    if (c->tls) {  // no handshake yet: nothing the client could read; say it in the log
      self->Log(cluster::Logger::Level::kWarn,
                "TLS connection refused: " + std::string(msg.substr(0, msg.find('\r'))));
    } else {
      uv_buf_t b = uv_buf_init(const_cast<char*>(msg.data()), unsigned(msg.size()));
      uv_try_write(reinterpret_cast<uv_stream_t*>(&c->handle), &b, 1);
    }
    auto* holder = new std::shared_ptr<Client>(c);
    c->handle.data = holder;
    uv_close(reinterpret_cast<uv_handle_t*>(&c->handle),
             [](uv_handle_t* h) { delete static_cast<std::shared_ptr<Client>*>(h->data); });
  };
  if (int64_t(self->clients_.size()) >= self->cfg_.maxclients || self->shutting_down_) {
    return refuse("-ERR max number of clients reached\r\n");
  }
  if (self->cfg_.protected_mode && self->cfg_.requirepass.empty()) {  // server/protected_mode.h
    sockaddr_storage pa;
    int pl = sizeof(pa);
    if (uv_tcp_getpeername(&c->handle, reinterpret_cast<sockaddr*>(&pa), &pl) != 0 ||
        ProtectedModeRefuses(self->cfg_, reinterpret_cast<sockaddr*>(&pa))) {
      return refuse(c->protocol == Protocol::kMemcache ? ProtectedModeMemcacheError()
                                                       : ProtectedModeRespError());
    }
  }
  uv_tcp_nodelay(&c->handle, 1);
  c->id = self->next_client_id_++;
  c->authed = self->cfg_.requirepass.empty();
  c->created_ms = c->last_active_ms = self->NowMs();
  if (c->protocol == Protocol::kResp && self->cfg_.redis_cluster_api && self->cfg_.redis_cluster_moved == "all") {
    TreatAsFetched(self, c.get());
  }
  sockaddr_storage peer;
  int len = sizeof(peer);
  if (uv_tcp_getpeername(&c->handle, reinterpret_cast<sockaddr*>(&peer), &len) == 0) {
    char ip[64] = {0};
    int port = 0;
    if (peer.ss_family == AF_INET) {
      auto* in = reinterpret_cast<sockaddr_in*>(&peer);
      uv_ip4_name(in, ip, sizeof(ip));
      port = ntohs(in->sin_port);
    } else {
      auto* in6 = reinterpret_cast<sockaddr_in6*>(&peer);
      uv_ip6_name(in6, ip, sizeof(ip));
      port = ntohs(in6->sin6_port);
    }
    c->peer = std::string(ip) + ":" + std::to_string(port);
  }
  self->clients_[c.get()] = c;
  uv_read_start(reinterpret_cast<uv_stream_t*>(&c->handle), OnAlloc, OnRead);
}

void Server::OnAlloc(uv_handle_t*, size_t, uv_buf_t* buf) {
  // One shared read buffer: input is parsed (and copied into args) before the next read.
  static char scratch[kReadChunk];
  *buf = uv_buf_init(scratch, sizeof(scratch));
}

void Server::OnRead(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) {
  auto* raw = static_cast<Client*>(s->data);
  Server* self = raw->server;
  auto it = self->clients_.find(raw);
  if (it == self->clients_.end()) return;
  std::shared_ptr<Client> c = it->second;
  if (nread < 0) {
    self->CloseClient(c.get());
    return;
  }
  if (nread == 0) return;
  self->stats_.net_input_bytes += uint64_t(nread);
  c->last_active_ms = self->NowMs();
  const char* data = buf->base;
  size_t len = size_t(nread);
  if (c->tls) {
    static std::string plain;  // like the read buffer: parsed (copied) before the next read
    plain.clear();
    if (!self->TlsRead(c.get(), data, len, &plain) || plain.empty()) return;
    data = plain.data();
    len = plain.size();
  }
  if (c->protocol == Protocol::kMemcache) {
    self->HandleMemcacheInput(c, data, len);
  } else {
    self->HandleInput(c, data, len, /*from_read=*/true);
  }
  // Pipelined group commit (fsync on a worker thread): with no fsync running, start one
  // after a few clients' writes instead of waiting for the end of the iteration, so the
  // clients of this iteration split into two batches whose fsyncs overlap the other batch's
  // processing (many clients in lock step would otherwise all wait for one fsync, then all
  // send at once). Inline commits (CommitInline) run once per iteration instead.
  if (!self->engine_->CommitInline() && self->CanStartCommit() &&
      ++self->reads_since_hook_ >= kEarlyCommitReads && self->engine_->HasPending()) {
    self->CommitAndFlush();
  }
}

bool Server::TlsRead(Client* c, const char* data, size_t len, std::string* plain) {
  std::string wire;
  bool ok = c->tls->Feed(data, len, plain, &wire);
  if (!wire.empty() && !WriteWire(c, wire)) return false;
  if (!ok) {
    // Plain text or garbage on the TLS port, a refused certificate, a corrupt record: this
    // connection only.
    Log(cluster::Logger::Level::kWarn, "TLS client " + c->peer + " closed: " + c->tls->error());
    CloseClient(c);
    return false;
  }
  if (c->tls->peer_closed() && plain->empty()) {
    CloseClient(c);
    return false;
  }
  return true;
}

// Too many replies outstanding: park the rest of the input (and stop reading) until they
// drain; FlushClient resumes the client. True when parked.
bool Server::ParkIfBusy(Client* c, const char* data, size_t len, size_t max_waiting) {
  if (c->waiting.size() + c->after_exec.size() < max_waiting) return false;
  c->inbuf.append(data, len);
  if (!c->reading_paused) {
    uv_read_stop(reinterpret_cast<uv_stream_t*>(&c->handle));
    c->reading_paused = true;
  }
  return true;
}

// Commands are parsed up to kLookahead at a time; their keys are prefetched (in stages, see
// Node::Prefetch) before any of them runs, so the cache misses of a pipeline overlap instead
// of being paid one after another. A read's lone command may instead wait for RunDeferred,
// which does the same across clients. from_read: called for a socket read (not for input
// that was parked and is resumed).
void Server::HandleInput(const std::shared_ptr<Client>& c, const char* data, size_t len,
                         bool from_read) {
  constexpr size_t kLookahead = 16;
  HoldScope hold_scope(this);  // what the commands run here hold is closed on return
  if (c->deferred > 0) RunParsed(c, std::exchange(c->deferred, 0));  // they came first
  size_t off = 0;
  while (off < len && !c->closing && !c->close_after_flush) {
    if (ParkIfBusy(c.get(), data + off, len - off, kMaxWaitingReplies)) return;
    size_t room = std::min(kLookahead, kMaxWaitingReplies - c->waiting.size());
    if (c->pipeline.size() < room) c->pipeline.resize(room);
    size_t n = 0;
    bool failed = false, more = true;
    while (n < room && off < len) {
      size_t used = 0;
      protocol::ParseStatus st = c->parser.Parse(data + off, len - off, &used, &c->pipeline[n]);
      off += used;
      if (st == protocol::ParseStatus::kNeedMore) {
        more = false;
        break;
      }
      if (st != protocol::ParseStatus::kOk) {
        failed = true;
        break;
      }
      if (!c->pipeline[n].empty()) ++n;
    }
    // A read that brought one command (clients that wait for each reply, like -P 1) waits
    // for the end of the poll phase (RunDeferred): there the commands of every such client
    // read in this iteration run together, their keys prefetched as one group, so their
    // cache misses overlap (~9% less CPU per SET at -P 1, ~5% per GET). A pipeline is
    // prefetched on its own below. Only with an inline commit, which runs after them.
    if (from_read && n == 1 && !failed && off == len && engine_->CommitInline()) {
      c->deferred = n;
      deferred_.push_back(c);
      return;
    }
    if (n > 1) {
      for (int stage = 1; stage <= cluster::Node::kPrefetchStages; ++stage) {
        PrefetchKeys(*c, n, stage);
      }
    }
    RunParsed(c, n);
    if (failed && !c->closing && !c->close_after_flush) {
      // Redis replies with the protocol error and closes the connection.
      c->waiting.emplace_back();
      ReplyTo(c, &c->waiting.back()).Send([&](protocol::RespWriter& w) {
        w.Error("ERR " + c->parser.error());
      });
      c->close_after_flush = true;
    }
    if (failed || !more) break;
  }
}

// One prefetch stage (see Node::Prefetch) for the keys of the parsed commands pipeline[0..n).
void Server::PrefetchKeys(const Client& c, size_t n, int stage) {
  for (size_t i = 0; i < n; ++i) {
    if (c.pipeline[i].size() >= 2) node_->Prefetch(c.pipeline[i][1], stage);
  }
}

// Runs the parsed commands pipeline[0..n) in order.
void Server::RunParsed(const std::shared_ptr<Client>& c, size_t n) {
  for (size_t i = 0; i < n && !c->closing && !c->close_after_flush; ++i) {
    stats_.total_commands++;
    c->args.swap(c->pipeline[i]);
    Dispatch(c);
    c->args.swap(c->pipeline[i]);  // keep the strings' buffers for the next parse
    c->args.clear();
  }
}

// End of the poll phase: the deferred commands of all clients, keys prefetched first.
void Server::RunDeferred() {
  if (deferred_.empty()) return;
  HoldScope hold_scope(this);  // the adds of every client below may share held writes
  std::vector<std::shared_ptr<Client>> list;
  list.swap(deferred_);
  for (int stage = 1; stage <= cluster::Node::kPrefetchStages; ++stage) {
    for (const auto& c : list) PrefetchKeys(*c, c->deferred, stage);
  }
  for (const auto& c : list) {
    size_t n = std::exchange(c->deferred, 0);
    if (!c->closing) RunParsed(c, n);
  }
  list.clear();
  if (deferred_.empty()) deferred_.swap(list);  // keep the capacity
}

void Server::MarkForFlush(Client* c) {
  if (!c->in_flush_list) {
    c->in_flush_list = true;
    flush_list_.push_back(c);
  }
}

void Server::CloseClient(Client* c) {
  if (c->closing) return;
  c->closing = true;
  auto it = clients_.find(c);
  if (it == clients_.end()) return;
  // The handle keeps the client alive until libuv is done with it; after that nothing may
  // point at it, so drop it from the lists that outlive this iteration.
  auto* holder = new std::shared_ptr<Client>(it->second);
  clients_.erase(it);
  if (c->subscriptions > 0) {
    pubsub_.RemoveClient(c);
    c->subscriptions = 0;
  }
  if (c->in_held_list) {
    held_clients_.erase(std::remove(held_clients_.begin(), held_clients_.end(), c), held_clients_.end());
    c->in_held_list = false;
  }
  if (c->in_flush_list) {
    flush_list_.erase(std::remove(flush_list_.begin(), flush_list_.end(), c), flush_list_.end());
    c->in_flush_list = false;
  }
  c->handle.data = holder;
  uv_close(reinterpret_cast<uv_handle_t*>(&c->handle),
           [](uv_handle_t* h) { delete static_cast<std::shared_ptr<Client>*>(h->data); });
}

namespace {
struct ClientWrite {
  uv_write_t req;
  std::string data;
  size_t len = 0;  // the bytes of data handed to libuv: its tail
  std::shared_ptr<Client> client;
};
}  // namespace

void Server::FlushClient(Client* c) {
  c->in_flush_list = false;
  if (c->closing) return;
  if (!c->ready.empty()) {
    stats_.net_output_bytes += c->ready.size();
    if (c->tls) {
      std::string wire;
      bool ok = c->tls->Write(c->ready, &wire);
      c->ready.clear();
      if (!ok) {
        Log(cluster::Logger::Level::kWarn, "TLS client " + c->peer + " closed: " + c->tls->error());
        CloseClient(c);
        return;
      }
      if (!WriteWire(c, wire)) return;
    } else if (!WriteWire(c, c->ready)) {
      return;
    }
  }
  if (c->close_after_flush && c->ready.empty() && c->out.empty() && c->held.empty() &&
      c->bytes_in_libuv == 0 && c->waiting.empty()) {
    CloseClient(c);
    return;
  }
  // Resume a client that was parked for having too many replies outstanding.
  if (c->reading_paused && !shutting_down_ && c->waiting.size() + c->after_exec.size() < kMaxWaitingReplies / 2) {
    c->reading_paused = false;
    std::string pending;
    pending.swap(c->inbuf);
    auto sp = clients_.at(c);
    uv_read_start(reinterpret_cast<uv_stream_t*>(&c->handle), OnAlloc, OnRead);
    if (c->protocol == Protocol::kMemcache) HandleMemcacheInput(sp, pending.data(), pending.size());
    else HandleInput(sp, pending.data(), pending.size());
  }
}

bool Server::WriteWire(Client* c, std::string& bytes) {
  if (c->closing) return false;
  if (bytes.empty()) return true;
  size_t sent = 0;
  if (c->bytes_in_libuv == 0) {
    uv_buf_t b = uv_buf_init(bytes.data(), unsigned(bytes.size()));
    int n = uv_try_write(reinterpret_cast<uv_stream_t*>(&c->handle), &b, 1);
    if (n > 0) sent = size_t(n);
    else if (n < 0 && n != UV_EAGAIN) {
      CloseClient(c);
      return false;
    }
  }
  if (sent == bytes.size()) {
    bytes.clear();
    return true;
  }
  size_t left = bytes.size() - sent;
  uint64_t limit = OutputLimit(*c);
  if (limit > 0 && c->bytes_in_libuv + left > limit) {
    stats_.output_limit_disconnects++;
    Log(cluster::Logger::Level::kWarn, "client " + std::to_string(c->id) + " " + c->peer +
                                           " closed for overcoming of output buffer limits");
    CloseClient(c);
    return false;
  }
  // The rest goes to libuv from where the socket stopped taking it: the buffer is handed
  // over whole, not shifted down (a 100 MB reply would be moved in one loop turn).
  auto* w = new ClientWrite;
  w->data.swap(bytes);
  w->len = left;
  w->client = clients_.at(c);
  w->req.data = w;
  c->bytes_in_libuv += left;
  uv_buf_t b = uv_buf_init(w->data.data() + sent, unsigned(left));
  int rc = uv_write(&w->req, reinterpret_cast<uv_stream_t*>(&c->handle), &b, 1,
                    [](uv_write_t* req, int status) {
                      auto* w = static_cast<ClientWrite*>(req->data);
                      Client* c = w->client.get();
                      c->bytes_in_libuv -= w->len;
                      if (status < 0) c->server->CloseClient(c);
                      else if (c->close_after_flush && c->bytes_in_libuv == 0 && c->ready.empty() &&
                               c->out.empty() && c->held.empty() && c->waiting.empty())
                        c->server->CloseClient(c);
                      delete w;
                    });
  if (rc != 0) {
    c->bytes_in_libuv -= left;
    delete w;
    CloseClient(c);
    return false;
  }
  return true;
}

void Server::TryWriteLast(Client* c, std::string bytes) {
  if (c->tls) {
    std::string wire;
    c->tls->Write(bytes, &wire);
    bytes.swap(wire);
  }
  if (bytes.empty()) return;
  uv_buf_t b = uv_buf_init(bytes.data(), unsigned(bytes.size()));
  uv_try_write(reinterpret_cast<uv_stream_t*>(&c->handle), &b, 1);
}

// Once per loop iteration: start a group commit if writes are waiting and none is in flight,
// tag this iteration's replies and frames with the batch that must be durable before they
// leave, and release everything whose batch is durable.
void Server::CommitAndFlush() {
  reads_since_hook_ = 0;
  if (CanStartCommit() && engine_->HasPending()) StartCommit();
  // Writes not yet handed to a commit belong to next_batch_; otherwise replies may show
  // writes of the newest batch in flight; otherwise everything they saw is durable.
  uint64_t tag = engine_->HasPending() ? next_batch_
                 : !inflight_.empty()  ? inflight_.back()->batch
                                       : durable_batch_;
  transport_->TagUntagged(tag);
  std::vector<Client*> list;
  list.swap(flush_list_);
  for (Client* c : list) {
    c->in_flush_list = false;
    if (c->closing) continue;
    if (!c->out.empty()) {
      // Replies that show nothing stored (a PING next to a 100 MB write) wait for no batch
      // of their own, only for this client's earlier replies: tags stay in order, so a
      // failed commit fails everything after its first reply (FailBatch).
      uint64_t t = c->out_shows_data ? tag : c->held.empty() ? durable_batch_ : c->held.back().first;
      if (!c->held.empty() && c->held.back().first == t) {
        c->held.back().second.append(c->out);
        c->out.clear();
      } else {
        c->held.emplace_back(t, std::move(c->out));
        c->out.clear();
      }
    }
    c->out_shows_data = false;
    if (!c->in_held_list) {
      c->in_held_list = true;
      held_clients_.push_back(c);
    }
  }
  ReleaseDurable();
}

// A new commit may start while fewer than the engine's pipeline depth are in flight, except
// when a checkpoint waits for the pipeline to drain.
bool Server::CanStartCommit() const {
  size_t depth = std::min(kMaxCommitSlots, std::max<size_t>(1, engine_->CommitPipelineDepth()));
  return inflight_.size() < depth && !(checkpoint_due_ && !inflight_.empty());
}

void Server::StartCommit() {
  uint64_t batch = next_batch_;
  bool inline_commit = engine_->CommitInline();
  auto r = engine_->BeginCommit();
  if (!r.ok()) return FailBatch(batch, r.status());
  next_batch_++;
  if (!r.value().needs_sync && inflight_.empty()) {
    durable_batch_ = batch;
    return;
  }
  if (inflight_.empty() && inline_commit) {
    Status s = engine_->FinishCommit(r.value(), storage::Engine::SyncTicket(r.value()));
    if (!s.ok()) return FailBatch(batch, s);
    durable_batch_ = batch;
    return;
  }
  CommitSlot* slot = nullptr;
  for (CommitSlot& c : commit_slots_) {
    if (std::find(inflight_.begin(), inflight_.end(), &c) == inflight_.end()) slot = &c;
  }
  DKV_ASSERT(slot != nullptr);
  slot->server = this;
  slot->ticket = r.value();
  slot->status = Status::OK();
  slot->batch = batch;
  slot->done = false;
  slot->work.data = slot;
  inflight_.push_back(slot);
  if (!slot->ticket.needs_sync) {  // already committed; acknowledged behind the ones before
    slot->done = true;
    return;
  }
  uv_queue_work(&loop_, &slot->work, OnCommitWork, OnCommitDone);
}

// A checkpoint first commits the writes still pending: that makes them a batch of their
// own, committed synchronously, so the replies waiting for it are released (or failed).
void Server::CheckpointNow() {
  checkpoint_due_ = false;
  CommitPendingNow();
  if (Status s = engine_->StartCheckpoint(); !s.ok()) {
    Log(cluster::Logger::Level::kWarn, "checkpoint failed (will retry): " + s.ToString());
  }
}

// Commits the pending writes synchronously as a batch of their own and releases the replies
// waiting for it (or fails them). Requires: no commit in flight.
void Server::CommitPendingNow() {
  if (!engine_->HasPending()) return;
  uint64_t batch = next_batch_;
  Status s = engine_->Commit();
  if (!s.ok()) return FailBatch(batch, s);
  next_batch_++;
  durable_batch_ = batch;
  ReleaseDurable();
}

void Server::Backup(std::string dir, std::function<void(const Status&)> done) {
  if (backup_queued_ || backup_running_) return done(Status::Limit("a backup is already running"));
  backup_queued_ = true;
  backup_dir_ = std::move(dir);
  backup_done_ = std::move(done);
  if (inflight_.empty()) StartBackupNow();  // else DrainCommits starts it once drained
}

// Every write acknowledged so far is committed (a reply leaves only after its batch is
// durable, and the pending ones are committed here), so the copy holds all of them.
void Server::StartBackupNow() {
  backup_queued_ = false;
  CommitPendingNow();
  auto finish = [this](const Status& s) {
    backup_running_ = false;
    auto done = std::move(backup_done_);
    backup_done_ = nullptr;
    Log(s.ok() ? cluster::Logger::Level::kInfo : cluster::Logger::Level::kWarn,
        (s.ok() ? "backup done: " : "backup failed: ") + backup_dir_ + (s.ok() ? "" : ": " + s.ToString()));
    done(s);
  };
  Status s = engine_->StartBackup(backup_dir_);
  if (!s.ok()) return finish(s);
  backup_running_ = true;
  Log(cluster::Logger::Level::kInfo, "backup started: " + backup_dir_);
  AddPoller([this, finish] {
    Status r;
    if (!engine_->PollBackup(&r)) return false;
    finish(r);
    return true;
  });
}

void Server::OnCommitWork(uv_work_t* req) {
  auto* slot = static_cast<CommitSlot*>(req->data);
  slot->status = storage::Engine::SyncTicket(slot->ticket);  // worker thread
}

void Server::OnCommitDone(uv_work_t* req, int) {
  auto* slot = static_cast<CommitSlot*>(req->data);
  slot->done = true;
  slot->server->DrainCommits();
}

// Finishes the commits whose write is done, oldest first (one that finished early waits for
// those before it), then starts the next and releases what became durable.
void Server::DrainCommits() {
  while (!inflight_.empty() && inflight_.front()->done) {
    CommitSlot* slot = inflight_.front();
    inflight_.pop_front();
    // An error: the engine took back this batch's writes and those of every batch after
    // it; their acknowledgements must not leave (FailBatch fails all batches >= this one).
    Status s = engine_->FinishCommit(slot->ticket, slot->status);
    if (!s.ok()) {
      FailBatch(slot->batch, s);
      continue;
    }
    durable_batch_ = slot->batch;
  }
  // Under steady load a commit is nearly always in flight, so the checkpoint the reaper asked
  // for runs here, once the pipeline has drained (new commits wait for it; otherwise the log
  // would outgrow its preallocation).
  if (checkpoint_due_ && inflight_.empty()) CheckpointNow();
  if (backup_queued_ && inflight_.empty()) StartBackupNow();
  if (CanStartCommit() && engine_->HasPending()) StartCommit();
  ReleaseDurable();
  if (stop_when_committed_ && inflight_.empty()) FinalStop();
}

void Server::ReleaseDurable() {
  transport_->ReleaseUpTo(durable_batch_);
  // FlushClient may parse parked input, which adds to flush_list_ (tagged next hook).
  std::vector<Client*> list;
  list.swap(held_clients_);
  for (Client* c : list) {
    c->in_held_list = false;
    if (c->closing) continue;
    while (!c->held.empty() && c->held.front().first <= durable_batch_) {
      if (c->ready.empty()) c->ready = std::move(c->held.front().second);
      else c->ready.append(c->held.front().second);
      c->held.pop_front();
    }
    if (!c->held.empty() && !c->in_held_list) {
      c->in_held_list = true;
      held_clients_.push_back(c);
    }
    FlushClient(c);
  }
}

// The batch is not durable: none of its acknowledgements may leave. Replace the pending
// replies of every client that has some in this batch (or not yet tagged) with the error and
// disconnect it, and drop replica acks (coordinators time out and report -UNAVAILABLE).
void Server::FailBatch(uint64_t batch, const Status& s) {
  stats_.commit_failures++;
  Log(cluster::Logger::Level::kError, "commit failed: " + s.ToString());
  node_->DropCaches();  // the engine took back writes the cache had seen
  transport_->DropBatch(batch);
  std::string msg = "-" + (s.code() == Code::kNoSpace ? ErrorText(s)
                                                     : "ERR persistence failure, write not stored: " + s.message()) +
                    "\r\n";
  auto fail = [&](Client* c) {
    if (c->closing) return;
    // Replies of earlier, durable batches still go out first.
    std::string keep;
    keep.swap(c->ready);
    for (auto& [b, bytes] : c->held) {
      if (b < batch) keep += bytes;
    }
    keep += msg;
    c->held.clear();
    c->out.clear();
    c->out_shows_data = false;
    c->waiting.clear();
    c->close_after_flush = true;
    TryWriteLast(c, std::move(keep));
    CloseClient(c);
  };
  std::vector<Client*> list;
  list.swap(flush_list_);
  for (Client* c : list) {
    c->in_flush_list = false;
    fail(c);
  }
  std::vector<Client*> held = held_clients_;  // fail() closes clients, which edits the list
  for (Client* c : held) {
    bool affected = false;
    for (auto& [b, bytes] : c->held) affected |= b >= batch;
    if (affected) fail(c);
  }
}

void Server::OnCheck(uv_check_t* h) {
  auto* self = static_cast<Server*>(h->data);
  self->RunDeferred();
  if (!self->GatherBeforeCommit()) self->CommitAndFlush();
}

void Server::OnPrepare(uv_prepare_t* h) {
  auto* self = static_cast<Server*>(h->data);
  self->CountTurn();
  if (!self->gathering_) self->CommitAndFlush();  // else the check after the next poll does
}

// Runs once per loop turn, just before the loop waits for I/O: the time since the last call,
// less what the loop spent waiting for I/O meanwhile (libuv's idle time), is the work of one
// turn: what another client's command may have waited behind.
void Server::CountTurn() {
  uint64_t now = uv_hrtime();
  uint64_t idle = uv_metrics_idle_time(&loop_);
  if (turn_start_ns_ != 0) {
    uint64_t elapsed = now - turn_start_ns_, waited = idle - turn_idle_ns_;
    uint64_t busy_us = (elapsed > waited ? elapsed - waited : 0) / 1000;
    stats_.eventloop_cycles++;
    stats_.eventloop_duration_sum_us += busy_us;
    stats_.eventloop_duration_max_us = std::max(stats_.eventloop_duration_max_us, busy_us);
  }
  turn_start_ns_ = now;
  turn_idle_ns_ = idle;
}

// An inline commit blocks the loop for one durable write, so it should carry as many writes
// as are about to arrive. With one-command-at-a-time clients the replies of the last batch
// bring their next commands back while this iteration runs; one more non-blocking poll
// (the idle handle makes it so) picks those up and they share this batch's write instead of
// paying for the next one (~12% fewer durable writes and ~5% more SET -P1 here). Only once
// per batch, only when some connected client had no reply in this iteration (one client
// alone gains nothing by waiting), and never with a commit in flight.
bool Server::GatherBeforeCommit() {
  if (gathering_) {
    gathering_ = false;
    uv_idle_stop(&gather_);
    return false;
  }
  if (shutting_down_ || !inflight_.empty() || clients_.size() <= flush_list_.size() ||
      !engine_->HasPending() || !engine_->CommitInline()) {
    return false;
  }
  gathering_ = true;
  uv_idle_start(&gather_, [](uv_idle_t*) {});
  return true;
}

void Server::Yield(std::function<void()> fn) {
  if (yielded_.empty()) {
    uv_idle_start(&yield_, [](uv_idle_t* h) {
      auto* self = static_cast<Server*>(h->data);
      std::vector<std::function<void()>> run;
      run.swap(self->yielded_);  // what these yield again runs next iteration
      for (auto& fn : run) fn();
      if (self->yielded_.empty()) uv_idle_stop(&self->yield_);
    });
  }
  yielded_.push_back(std::move(fn));
}

void Server::OnTick(uv_timer_t* t) {
  auto* self = static_cast<Server*>(t->data);
  self->node_->OnTick();
  uint64_t now = self->NowMs();
  if (now - self->rates_sampled_ms_ >= 100) {  // INFO's instantaneous_* (metrics.h)
    self->rates_sampled_ms_ = now;
    self->metrics_.SampleRates(now, self->stats_.total_commands, self->stats_.net_input_bytes,
                               self->stats_.net_output_bytes);
  }
  if (self->http_ && now - self->http_published_ms_ >= 1000) self->PublishHttp();
  if (!self->pollers_.empty()) {
    std::vector<std::function<bool()>> polls;
    polls.swap(self->pollers_);
    for (auto& p : polls) {
      if (!p()) self->pollers_.push_back(std::move(p));
    }
  }
}

void Server::OnReaper(uv_timer_t* t) {
  auto* self = static_cast<Server*>(t->data);
  self->reaper_->Step();
  if (self->reaper_ticks_ % 20 == 19) ReleaseFreedMemory();
  self->logger_->Tick();  // lines the log's rate limit held back (server/log.h)
  // Fold the write-ahead log into LMDB about once a second (acknowledged writes are already
  // durable in the log; this bounds its length and recovery time).
  if (++self->reaper_ticks_ % 10 == 0) {
    if (!self->inflight_.empty()) self->checkpoint_due_ = true;
    else self->CheckpointNow();
  }
  if (self->cfg_.timeout_s > 0) {
    uint64_t now = self->NowMs();
    uint64_t idle_ms = uint64_t(self->cfg_.timeout_s) * 1000;
    std::vector<Client*> idle;
    for (auto& [p, c] : self->clients_) {
      if (c->waiting.empty() && now - c->last_active_ms > idle_ms) idle.push_back(p);
    }
    for (Client* c : idle) self->CloseClient(c);
  }
}

void Server::OnSignal(uv_signal_t* s, int) {
  auto* self = static_cast<Server*>(s->data);
  self->Log(cluster::Logger::Level::kInfo, "signal received, shutting down");
  self->Shutdown();
}

void Server::Shutdown() {
  if (shutting_down_) return;
  RunDeferred();  // read before the signal: answered like everything in flight
  shutting_down_ = true;
  PublishHttp();  // /health: 503 "shutting down"
  // Stop accepting and reading; what was read is answered once its batch is durable.
  uv_close(reinterpret_cast<uv_handle_t*>(&redis_listener_), nullptr);
  if (memcache_listening_) uv_close(reinterpret_cast<uv_handle_t*>(&memcache_listener_), nullptr);
  if (tls_listening_) uv_close(reinterpret_cast<uv_handle_t*>(&tls_listener_), nullptr);
  if (tls_memcache_listening_) uv_close(reinterpret_cast<uv_handle_t*>(&tls_memcache_listener_), nullptr);
  for (auto& [p, c] : clients_) uv_read_stop(reinterpret_cast<uv_stream_t*>(&c->handle));
  if (!inflight_.empty()) {
    stop_when_committed_ = true;  // DrainCommits finishes the job
    return;
  }
  FinalStop();
}

// Commit everything synchronously, send every reply, close all clients, stop the loop.
void Server::FinalStop() {
  stop_when_committed_ = false;
  if (engine_->HasPending()) {
    Status s = engine_->Commit();
    if (!s.ok()) FailBatch(next_batch_, s);
  }
  durable_batch_ = UINT64_MAX;
  CommitAndFlush();
  for (auto& [p, c] : clients_) {
    if (!c->ready.empty()) TryWriteLast(c.get(), std::move(c->ready));
  }
  std::vector<Client*> all;
  for (auto& [p, c] : clients_) all.push_back(p);
  for (Client* c : all) CloseClient(c);
  uv_stop(&loop_);
}

void Server::PublishHttp() {
  if (!http_) return;
  http_published_ms_ = NowMs();
  OpsView v = GatherOpsView(this, /*with_commands=*/true);
  auto snap = std::make_shared<HttpSnapshot>();
  snap->metrics = RenderPrometheus(v);
  snap->cluster_json = RenderClusterJson(v);
  snap->health = CheckHealth(v);
  http_->Publish(std::move(snap));
}

int Server::Run() {
  uv_run(&loop_, UV_RUN_DEFAULT);
  // Not with sync = none: an OS crash may then keep a later log generation and lose the
  // earlier one that holds the next start's delete of the saved hashes.
  if (cfg_.sync != "none") {
    if (Status saved = node_->SaveForRestart(); !saved.ok()) {
      Log(cluster::Logger::Level::kWarn, "anti-entropy hashes not saved: " + saved.ToString());
    }
  }
  Status s = engine_->Commit();
  if (!s.ok()) {
    Log(cluster::Logger::Level::kError, "final commit failed: " + s.ToString());
    return 1;
  }
  Log(cluster::Logger::Level::kInfo, "shutdown complete");
  return 0;
}

}  // namespace dynakv::server
