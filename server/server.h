// server/server.h: the I/O shell of one node: a libuv loop with the RESP (and memcached)
// listeners, client connections, the inter-node transport, timers and signals, wired to a
// cluster::Node and a storage::Engine.
//
// Group commit: handlers apply writes to the engine's pending state and queue their replies;
// once per loop iteration (uv_check / uv_prepare) the server commits the engine (one fsync for
// everything that arrived together) and only then writes replies and inter-node frames. So no
// reply or replica ack leaves the process before the write it reports is durable. If the commit
// fails (disk full), the replies of that batch are replaced by an error and those clients are
// disconnected: nothing unstored is ever reported as stored.
//
// Thread-safety: everything runs on the one loop thread.
#pragma once

#include <uv.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "cluster/collection_engine.h"
#include "cluster/list_engine.h"
#include "cluster/node.h"
#include "cluster/reaper.h"
#include "protocol/memcache.h"
#include "protocol/memcache_binary.h"
#include "protocol/resp.h"
#include "server/config.h"
#include "server/metrics.h"
#include "server/ops_view.h"
#include "server/pubsub.h"
#include "server/redis_cluster.h"
#include "server/tls.h"
#include "storage/engine.h"

namespace dynakv::server {

class Server;
struct CommandSpec;
class PeerTransport;
class LoopClock;
class ServerLogger;
class ShutdownWatchdog;
class HttpListener;
struct ListEngine;    // server/lists.cc

// One queued reply. Replies complete out of order (a read waits for replicas) but are written
// in request order: a completed reply waits in `buf` until everything before it is done.
// `spec` and `start_ns` are set by Dispatch just before the handler runs (command statistics,
// server/metrics.h); a refused command leaves them null. `slow_args` holds the command's
// SLOWLOG arguments when it completes after Dispatch returned (slowlog on).
struct PendingReply {
  std::string buf;
  bool done = false;
  const CommandSpec* spec = nullptr;
  uint64_t start_ns = 0;
  // The command works over several loop turns (ForEachBounded): SLOWLOG takes its time from
  // dispatch to reply, not only its first turn's.
  bool bounded = false;
  std::vector<std::string> slow_args;
  // The command's reply shows nothing stored (kCmdNoData); false for every other reply and
  // for pushes, which wait for the group commit as before.
  bool data_free = false;
};

enum class Protocol : uint8_t { kResp, kMemcache };

// A key WATCHed by a client: the causal context it had then (server/commands_tx.cc).
struct WatchedKey {
  std::string key;
  bool existed = false;
  cluster::VersionVector context;
};

// A reply captured instead of sent: EXEC collects each queued command's reply in one.
struct ReplySink {
  int proto = 2;
  bool fired = false;
  std::function<void(std::string& bytes)> done;  // called once, with the reply's bytes
};

struct Client : std::enable_shared_from_this<Client> {
  Server* server = nullptr;
  uv_tcp_t handle;
  Protocol protocol = Protocol::kResp;
  // A connection to a TLS listener: every byte read goes through it, and every byte written
  // (server/tls.h). Null on the plain ports.
  std::unique_ptr<TlsConn> tls;
  uint64_t id = 0;
  std::string name, lib_name, lib_ver, peer;
  int proto = 2;  // RESP version
  size_t subscriptions = 0;  // pub/sub channels + patterns + shard channels (server/pubsub.h)
  bool authed = false;
  bool closing = false;
  bool close_after_flush = false;  // QUIT / protocol error
  bool in_flush_list = false;
  bool reading_paused = false;
  uint64_t created_ms = 0, last_active_ms = 0;
  const char* last_cmd = nullptr;    // static name of the last command run (CLIENT LIST)
  const CommandSpec* last_spec = nullptr;  // the last command looked up (see Dispatch)
  // Ring epoch of the last slot map this connection fetched (CLUSTER SLOTS/SHARDS/NODES;
  // only with cluster.redis_cluster_api); 0 = none, and then MOVED is never considered.
  uint64_t slots_epoch = 0;

  protocol::RespParser parser;
  std::vector<std::string> args;
  std::vector<std::vector<std::string>> pipeline;  // commands parsed ahead (HandleInput)
  size_t deferred = 0;  // pipeline[0..deferred) waits for the end of the poll phase (RunDeferred)
  std::string inbuf;  // bytes read but not yet parsed (only while paused)
  std::string mc_in;  // memcached: unparsed input (line protocol)
  // memcached connections: the incremental parser (made with the server's limits on the
  // first input) and the command it fills.
  protocol::McParser mc_parser;
  bool mc_parser_ready = false;
  protocol::McCommand mc_cmd;
  // memcached binary protocol (first byte 0x80): its decoder; null on a text connection.
  std::unique_ptr<protocol::McBinParser> mc_bin;

  std::string out;                  // completed replies, in order, not yet tagged with a batch
  bool out_shows_data = false;      // some reply in `out` may show a write (not kCmdNoData)
  // Replies wait here, tagged with the group-commit batch that must be durable before they
  // may leave (a reply may report a write, or a read of a write, of that batch).
  std::deque<std::pair<uint64_t, std::string>> held;
  bool in_held_list = false;
  std::string ready;                // released replies not yet handed to libuv
  std::deque<PendingReply> waiting;  // replies of commands still running, in order
  uint64_t bytes_in_libuv = 0;      // handed to uv_write and not yet completed

  // MULTI/EXEC/WATCH (server/commands_tx.cc).
  bool in_multi = false;
  bool multi_dirty = false;  // a command was refused while queuing: EXEC aborts
  bool in_exec = false;      // EXEC is running the queue (replies go to ReplySinks)
  int yielding = 0;          // commands running over several loop turns (ForEachBounded)
  std::vector<std::pair<const CommandSpec*, std::vector<std::string>>> multi_queue;
  std::vector<WatchedKey> watched;
  // WAIT (server/commands_keyspace.cc): this connection's writes in flight, and the durable
  // copies of the last one that completed (progress: still counting, see WriteProgress).
  uint32_t pending_writes = 0;
  uint32_t last_write_copies = 0;
  std::shared_ptr<cluster::WriteProgress> last_write_progress;
  // Commands that arrived while EXEC ran: they run after it, in order (ParkIfBusy counts them).
  std::deque<std::vector<std::string>> after_exec;
  // SLOWLOG: the running command's truncated arguments (reused buffers) and its reply slot
  // while Dispatch runs its handler (Server::OnReply).
  std::vector<std::string> slow_args;
  PendingReply* dispatching = nullptr;

  explicit Client(const protocol::RespLimits& limits) : parser(limits) {}
};

// A handle to one command's place in its client's reply order. Complete it exactly once.
class ReplyTo {
 public:
  ReplyTo() = default;
  ReplyTo(std::shared_ptr<Client> c, PendingReply* slot) : c_(std::move(c)), slot_(slot) {}
  // A reply captured in `sink` instead of the client's output (EXEC).
  ReplyTo(std::shared_ptr<Client> c, std::shared_ptr<ReplySink> sink)
      : c_(std::move(c)), sink_(std::move(sink)) {}
  // Runs f(writer) on the right buffer, then releases this and any following replies.
  template <typename F>
  void Send(F&& f);
  // Same, for raw bytes (the memcached protocol): f(std::string* out, int proto).
  template <typename F>
  void Complete(F&& f);
  void SendRaw(std::string_view bytes) {
    Complete([&](std::string* dst, int) { dst->append(bytes); });
  }
  bool alive() const { return c_ && !c_->closing; }
  Client* client() const { return c_.get(); }
  const std::shared_ptr<Client>& shared_client() const { return c_; }
  int proto() const { return c_ ? c_->proto : 2; }

 private:
  std::shared_ptr<Client> c_;
  PendingReply* slot_ = nullptr;
  std::shared_ptr<ReplySink> sink_;
};

struct ServerStats {
  uint64_t total_connections = 0, rejected_connections = 0, total_commands = 0;
  uint64_t keyspace_hits = 0, keyspace_misses = 0, expired_keys = 0;
  uint64_t net_input_bytes = 0, net_output_bytes = 0;
  uint64_t commit_failures = 0, output_limit_disconnects = 0;
  uint64_t start_ms = 0;
  // Event-loop turns (Server::OnPrepare): how many, and the time each spent working, in
  // microseconds, the wait for I/O left out (INFO stats eventloop_*, as Redis 7.2's).
  uint64_t eventloop_cycles = 0, eventloop_duration_sum_us = 0, eventloop_duration_max_us = 0;
};

// The host of the collection steps (cluster/collection_engine.h): they run against its node
// and wall clock, timed and counted as its clients' requests.
class Server : public cluster::ListHost {
 public:
  explicit Server(Config cfg);
  ~Server();

  Status Init();  // open storage, start node, bind listeners; errors name what failed
  int Run();      // runs until SIGINT/SIGTERM or Shutdown(); returns the exit code
  void Shutdown();

  // Used by command handlers.
  const Config& config() const { return cfg_; }
  cluster::Node* node() override { return node_.get(); }
  storage::Engine* engine() { return engine_.get(); }
  ServerStats& stats() { return stats_; }
  Metrics& metrics() { return metrics_; }
  QuorumStats& quorum() { return quorum_; }  // server/ops_gather.cc
  bool shutting_down() const { return shutting_down_; }
  // A reply was written for `slot` (RESP): error counts, and the command's statistics when
  // Dispatch stamped it (metrics.h). Defined in commands.cc.
  void OnReply(Client* c, PendingReply* slot, std::string_view reply);
  // Adds the command with these (truncated) arguments to SLOWLOG when it ran at least
  // slowlog_log_slower_than µs and the log is on. Defined in commands.cc.
  void LogIfSlow(Client* c, uint64_t usec, const std::vector<std::string>& args);
  PubSub& pubsub() { return pubsub_; }
  // The output a client may have unread before it is disconnected (bytes; 0 = no limit):
  // limits.client_output_buffer_limit_pubsub while it is subscribed, like Redis's pubsub class.
  uint64_t OutputLimit(const Client& c) const {
    return uint64_t(c.subscriptions > 0 ? cfg_.client_output_buffer_limit_pubsub
                                        : cfg_.client_output_buffer_limit);
  }
  SlotHistory& slot_history() { return slot_history_; }  // CLUSTER SLOTS fetches, for MOVED
  MapReplyCache& map_replies() { return map_replies_; }   // CLUSTER SLOTS/SHARDS/NODES bytes
  uint64_t NowMs();   // monotonic
  uint64_t WallMs() override;  // unix ms
  // cluster::CollectionHost: reads timed for the metrics (TimeRead), writes counted as the
  // client's (WAIT; commands.cc), header reads as keyspace hits and misses.
  cluster::Node::ReadCallback TimedRead(cluster::Node::ReadCallback done) override;
  cluster::WriteDone TrackedWrite(cluster::WriteDone done) override;
  void CountLookup(bool hit) override { hit ? stats_.keyspace_hits++ : stats_.keyspace_misses++; }
  // cluster::ListHost: a push wakes the pops blocked on its key here and is announced to the
  // other members (server/lists.cc, ListPushed).
  uint64_t MonoMs() override { return NowMs(); }
  uint64_t TombstoneGraceMs() override { return uint64_t(cfg_.tombstone_grace_s) * 1000; }
  void OnListPushed(const std::string& key) override;
  bool MayHoldList(const std::string& key) override;  // no pop blocked on it (server/lists.cc)
  size_t client_count() const { return clients_.size(); }
  std::vector<std::shared_ptr<Client>> Clients() const;
  void Log(cluster::Logger::Level level, const std::string& msg);

  // Called by ReplyTo::Send / a client's output path.
  void MarkForFlush(Client* c);
  void CloseClient(Client* c);

  // Dispatch one parsed RESP command (defined in commands.cc).
  void Dispatch(const std::shared_ptr<Client>& c);
  // Open while HandleInput or RunDeferred runs commands: only there may Dispatch let adds
  // and list commands hold (docs/ARCHITECTURE.md "Held header writes"), because only they
  // close what was held (CloseHeld) before returning to the loop. Commands dispatched from
  // anywhere else (after an EXEC that completed in a peer's callback, after a yielding
  // command) never hold.
  int hold_scopes = 0;

  // The client whose command is running: set by Dispatch around a handler and restored by
  // the key helpers (ReadKey, WriteValue, ...) around their callbacks, so a write a command
  // makes after a read is still counted as that client's (WAIT). Empty for internal writes.
  std::weak_ptr<Client> write_owner;
  // The pops blocked here and the pushes to announce (server/lists.cc).
  std::shared_ptr<ListEngine> lists;
  // Runs `poll` on every tick (10 ms) until it returns true (WAIT's wait for copies).
  void AddPoller(std::function<bool()> poll) { pollers_.push_back(std::move(poll)); }
  // DYNAMO BACKUP (server/commands_backup.cc): once no commit is in flight, commits what is
  // pending and starts the engine's backup into `dir` (storage::Engine::StartBackup); `done`
  // runs on the loop thread with the outcome when the copy is finished (or refused).
  void Backup(std::string dir, std::function<void(const Status&)> done);
  // Runs `fn` on the next loop iteration, after that iteration's I/O: a long command does a
  // bounded step per turn and yields, so other clients are served in between (README
  // "Limits", per-turn bounds; ForEachBounded in commands.h).
  void Yield(std::function<void()> fn);

 private:
  friend class PeerTransport;
  static void OnNewConnection(uv_stream_t* listener, int status);
  static void OnAlloc(uv_handle_t* h, size_t suggested, uv_buf_t* buf);
  static void OnRead(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf);
  static void OnCheck(uv_check_t* h);
  static void OnPrepare(uv_prepare_t* h);
  void CountTurn();
  static void OnTick(uv_timer_t* t);
  static void OnReaper(uv_timer_t* t);
  static void OnSignal(uv_signal_t* s, int signum);

  Status Listen(const std::string& addr, uv_tcp_t* handle, Protocol proto);
  void HandleInput(const std::shared_ptr<Client>& c, const char* data, size_t len,
                   bool from_read = false);
  void PrefetchKeys(const Client& c, size_t n, int stage);
  void RunParsed(const std::shared_ptr<Client>& c, size_t n);
  void RunDeferred();
  bool ParkIfBusy(Client* c, const char* data, size_t len, size_t max_waiting);
  void HandleMemcacheInput(const std::shared_ptr<Client>& c, const char* data, size_t len);
  void HandleMemcacheBinaryInput(const std::shared_ptr<Client>& c, const char* data, size_t len);
  Status MemcacheFlush(bool has_delay, int64_t exptime);  // flush_all / binary flush
  void CommitAndFlush();
  bool GatherBeforeCommit();
  void StartCommit();
  void CheckpointNow();
  void CommitPendingNow();
  void StartBackupNow();
  static void OnCommitWork(uv_work_t* req);
  static void OnCommitDone(uv_work_t* req, int status);
  void ReleaseDurable();
  void FailBatch(uint64_t batch, const Status& s);
  void FinalStop();
  void FlushClient(Client* c);
  // Writes bytes as they go on the wire (ciphertext on a TLS connection) behind what the
  // connection already has in libuv; leaves `bytes` empty. False when it closed the client.
  bool WriteWire(Client* c, std::string& bytes);
  // Best-effort last write before a close (FailBatch, FinalStop): encrypted when TLS.
  void TryWriteLast(Client* c, std::string bytes);
  // OnRead for a TLS connection: decrypts, answers the handshake; false when it closed c.
  bool TlsRead(Client* c, const char* data, size_t len, std::string* plain);
  void PublishHttp();  // a fresh snapshot for the HTTP listener (server/http_listener.h)

  // Declared first, destroyed last: it ends the process if a signalled shutdown (including
  // this destructor) does not finish within limits.shutdown_timeout (server/watchdog.h).
  std::unique_ptr<ShutdownWatchdog> watchdog_;
  Config cfg_;
  uv_loop_t loop_;
  uv_tcp_t redis_listener_, memcache_listener_;
  bool memcache_listening_ = false;
  // [tls] listeners and their certificates (server/tls.h); cluster_tls_ goes to transport_.
  uv_tcp_t tls_listener_, tls_memcache_listener_;
  bool tls_listening_ = false, tls_memcache_listening_ = false;
  std::unique_ptr<TlsContext> client_tls_, cluster_tls_;
  uv_check_t check_;
  uv_prepare_t prepare_;
  uint64_t turn_start_ns_ = 0, turn_idle_ns_ = 0;  // at the last OnPrepare (loop turn stats)
  uv_idle_t gather_;  // active while a commit waits for one more poll round (GatherBeforeCommit)
  uv_idle_t yield_;   // active while yielded work waits (Yield): the poll does not block
  std::vector<std::function<void()>> yielded_;
  bool gathering_ = false;
  uv_timer_t tick_timer_, reaper_timer_;
  uv_signal_t sigint_, sigterm_, sighup_;
  bool shutting_down_ = false;
  bool stop_when_committed_ = false;

  // Group commit pipeline: batches are numbered; writes since the last BeginCommit belong to
  // next_batch_; up to engine_->CommitPipelineDepth() batches are being made durable on
  // worker threads (oldest first in inflight_) while the loop goes on; they are acknowledged
  // in order.
  struct CommitSlot {
    Server* server = nullptr;
    uv_work_t work;
    storage::Engine::CommitTicket ticket;
    Status status;
    uint64_t batch = 0;
    bool done = false;
  };
  static constexpr size_t kMaxCommitSlots = 4;
  bool CanStartCommit() const;
  void DrainCommits();
  uint64_t next_batch_ = 1;
  uint64_t durable_batch_ = 0;
  uint32_t reads_since_hook_ = 0;
  CommitSlot commit_slots_[kMaxCommitSlots];
  std::deque<CommitSlot*> inflight_;  // oldest first
  std::vector<Client*> held_clients_;

  std::unique_ptr<storage::Engine> engine_;
  std::unique_ptr<LoopClock> clock_;
  std::unique_ptr<cluster::Random> random_;
  std::unique_ptr<ServerLogger> logger_;
  std::unique_ptr<PeerTransport> transport_;
  std::unique_ptr<cluster::Node> node_;

  std::unordered_map<Client*, std::shared_ptr<Client>> clients_;
  std::vector<Client*> flush_list_;
  std::vector<std::shared_ptr<Client>> deferred_;  // clients with Client::deferred > 0
  uint64_t next_client_id_ = 1;
  std::unique_ptr<cluster::Reaper> reaper_;  // tombstone/expiry GC, a slice per reaper tick
  uint64_t reaper_ticks_ = 0;
  bool checkpoint_due_ = false;  // a checkpoint waits for the fsync in flight to finish
  ServerStats stats_;
  Metrics metrics_;
  QuorumStats quorum_;
  std::unique_ptr<HttpListener> http_;  // listen.http; null when off
  uint64_t http_published_ms_ = 0;
  uint64_t rates_sampled_ms_ = 0;  // INFO's instantaneous_* (OnTick, every 100 ms)
  // DYNAMO BACKUP: queued until the commit pipeline is empty, then running in the engine.
  bool backup_queued_ = false, backup_running_ = false;
  std::string backup_dir_;
  std::function<void(const Status&)> backup_done_;
  SlotHistory slot_history_;
  MapReplyCache map_replies_;
  protocol::RespLimits resp_limits_;
  std::vector<std::function<bool()>> pollers_;
  PubSub pubsub_;
};

template <typename F>
void ReplyTo::Send(F&& f) {
  Complete([&](std::string* dst, int proto) {
    protocol::RespWriter w(dst, proto);
    f(w);
  });
}

template <typename F>
void ReplyTo::Complete(F&& f) {
  if (sink_) {
    std::shared_ptr<ReplySink> sink = std::move(sink_);
    if (sink->fired) return;
    sink->fired = true;
    std::string bytes;
    f(&bytes, sink->proto);
    if (!bytes.empty() && bytes[0] == '-' && c_) c_->server->metrics().RecordError(bytes);
    auto done = std::move(sink->done);
    if (done) done(bytes);
    return;
  }
  if (!c_ || slot_ == nullptr) return;
  Client* c = c_.get();
  PendingReply* slot = slot_;
  slot_ = nullptr;
  if (c->closing) return;
  // The front reply writes straight to `out`; later ones wait in their own buffer.
  bool front = !c->waiting.empty() && &c->waiting.front() == slot;
  std::string* dst = front ? &c->out : &slot->buf;
  if (front && !slot->data_free) c->out_shows_data = true;
  size_t before = dst->size();
  f(dst, c->proto);
  if (slot->spec != nullptr || (dst->size() > before && (*dst)[before] == '-')) {
    if (c->protocol == Protocol::kResp) c->server->OnReply(c, slot, std::string_view(*dst).substr(before));
  }
  slot->done = true;
  if (!front) return;  // an earlier reply is still running; it will release this one
  c->waiting.pop_front();
  while (!c->waiting.empty() && c->waiting.front().done) {
    if (!c->waiting.front().data_free) c->out_shows_data = true;
    c->out.append(c->waiting.front().buf);
    c->waiting.pop_front();
  }
  c->server->MarkForFlush(c);
}

}  // namespace dynakv::server
