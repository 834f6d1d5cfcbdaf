// server/peer_transport.h: cluster::Transport over libuv TCP.
//
// One outbound connection per peer address, opened on first Send and re-opened with
// exponential backoff (100 ms .. 1 s) after a failure. Frames are length-prefixed (u32 big
// endian) on the wire; the cluster codec inside authenticates them. Sends are buffered until
// the server's group commit has made the writes they acknowledge durable (Release()), and
// each peer's queue is bounded (bytes): past the bound frames are dropped, which the core
// treats like any lost message (timeouts, retries, anti-entropy); one frame bigger than the
// bound still goes when the queue is empty. A frame may also be sent as three pieces
// (SendSplit: a big record's stored bytes in the middle), and a big inbound frame is decoded
// on libuv's thread pool and dispatched later (DecodeOffLoop): frames may be reordered. A
// split frame's trailer (a pass over its middle) is computed on the pool too (TrailerWork):
// its head and middle go out meanwhile, and what follows it waits for the trailer.
// Inbound: the cluster listener accepts peers and hands each whole frame to Node::OnMessage.
// With tls.cluster (set_tls), both directions speak TLS only (server/tls.h): each side presents
// its certificate and checks the other's against tls.ca_cert_file; a link whose handshake
// fails is closed with a log line, as a failed connect (backoff, retry).
// Thread-safety: loop thread only.
#pragma once

#include <uv.h>

#include <deque>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "cluster/env.h"
#include "cluster/node.h"
#include "server/tls.h"
#include "storage/status.h"

namespace dynakv::server {

class PeerTransport final : public cluster::Transport {
 public:
  PeerTransport(uv_loop_t* loop, cluster::Logger* log, uint64_t queue_bytes_max);
  ~PeerTransport() override;

  void set_node(cluster::Node* node) { node_ = node; }
  void set_tls(const TlsContext* tls) { tls_ = tls; }  // before Listen and the first Send
  Status Listen(const std::string& addr);
  void Send(const std::string& to_addr, std::string frame) override;
  // The pieces are queued and written as they are (one writev), the middle one shared.
  void SendSplit(const std::string& to_addr, const cluster::SplitFrame& frame) override;
  // Frames wait until the group commit they may acknowledge is durable. The server tags the
  // frames queued since the last call with the batch that must be durable first
  // (TagUntagged), hands over those whose batch is (ReleaseUpTo), and drops the untagged
  // ones and those of a batch that failed (DropBatch). Tags never decrease.
  void TagUntagged(uint64_t batch);
  void ReleaseUpTo(uint64_t durable_batch);
  void DropBatch(uint64_t batch);
  void Close();

  struct Stats {
    uint64_t frames_sent = 0, frames_received = 0, frames_dropped = 0, connects = 0,
             connect_failures = 0, bad_frames = 0, tls_failures = 0;
  };
  const Stats& stats() const { return stats_; }

 // Public only so the .cc's write-request helper can name it.
  struct Peer;
  struct Inbound;
  struct TrailerWork;

 private:
  void Connect(Peer* p);
  void Pump(Peer* p);
  static void OnConnect(uv_connect_t* req, int status);
  static void OnWrite(uv_write_t* req, int status);
  static void OnAccept(uv_stream_t* server, int status);
  static void OnInboundRead(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf);
  static void OnAlloc(uv_handle_t* h, size_t suggested, uv_buf_t* buf);
  static void OnRetry(uv_timer_t* t);
  void PeerFailed(Peer* p);
  void WriteOut(uv_tcp_t* tcp, std::string data, Peer* p);
  bool OutboundTlsRead(Peer* p, const char* data, size_t len);
  void LogInboundTlsFailure(uv_tcp_t* tcp, const std::string& error);
  void DecodeOffLoop(std::string buf, size_t at);
  std::shared_ptr<TrailerWork> TrailerFor(const cluster::SplitFrame& frame);
  void PauseInbound(Inbound* in);

  uv_loop_t* loop_;
  cluster::Logger* log_;
  cluster::Node* node_ = nullptr;
  const TlsContext* tls_ = nullptr;
  uint64_t tls_logged_ms_ = 0, tls_unlogged_ = 0;
  uint64_t queue_bytes_max_;
  uv_tcp_t listener_;
  bool listening_ = false;
  bool closed_ = false;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  std::map<std::string, std::unique_ptr<Peer>> peers_;
  struct Held {
    uint64_t batch;
    std::string addr, frame;
    std::shared_ptr<const std::string> middle;  // SendSplit: frame, *middle, tail, trailer
    std::string tail;
    std::shared_ptr<TrailerWork> trailer;  // null: the tail ends with it
  };
  // The last split frame's trailer job: the same frame sent to several replicas (a write)
  // is hashed once.
  std::weak_ptr<TrailerWork> last_trailer_;
  static constexpr uint64_t kUntagged = UINT64_MAX;
  std::deque<Held> held_;
  std::vector<Peer*> dirty_;  // peers with frames queued by the release in progress
  void Deliver(Held h);
  std::vector<Inbound*> inbound_;
  // Inbound bytes read in this loop turn (turn_read_ms_: uv_now then), and the links paused
  // until the next turn, when resume_ (an idle handle, initialised on first use) restarts them.
  size_t turn_read_bytes_ = 0;
  uint64_t turn_read_ms_ = 0;
  std::vector<Inbound*> paused_;
  uv_idle_t resume_;
  bool resume_init_ = false;
  std::vector<std::string_view> frames_;  // OnInboundRead's whole frames, reused
  Stats stats_;
};

}  // namespace dynakv::server
