// server/http_listener.h: the HTTP listener (listen.http; README, "Monitoring"), served by
// civetweb (Debian's libcivetweb) on civetweb's own worker threads. Those threads never touch
// the loop's state: the loop publishes a snapshot (Prometheus text, the cluster JSON, the
// health verdict) about once a second and the handlers serve the latest one.
//   GET /metrics       Prometheus text format 0.0.4
//   GET /health        200 "OK", or 503 with the reason (server/ops_view.h, CheckHealth)
//   GET /cluster.json  the cluster view (the same document as DYNAMO STATUS JSON)
//   GET /              the self-contained cluster page, which polls /cluster.json
// Other paths get 404, other methods 405.
//
// Thread-safety: Publish from any one thread; the snapshot is swapped under a mutex, and the
// handlers copy a shared_ptr to it under the same mutex.
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "storage/status.h"
#include "server/ops_view.h"

struct mg_context;
struct mg_connection;

namespace dynakv::server {

struct HttpSnapshot {
  std::string metrics, cluster_json;
  Health health;
};

class HttpListener {
 public:
  HttpListener() = default;
  ~HttpListener() { Stop(); }
  HttpListener(const HttpListener&) = delete;
  HttpListener& operator=(const HttpListener&) = delete;

  // Binds addr ("host:port") and starts serving; the error names the address and the reason.
  Status Start(const std::string& addr);
  void Publish(std::shared_ptr<const HttpSnapshot> snap);
  void Stop();  // joins civetweb's threads

 private:
  static int Handle(mg_connection* conn, void* self);
  std::shared_ptr<const HttpSnapshot> Latest();

  std::mutex mu_;
  std::shared_ptr<const HttpSnapshot> snap_;
  mg_context* ctx_ = nullptr;
  std::string wake_host_;  // where Stop connects to wake civetweb's accept loop
  int wake_port_ = 0;
};

}  // namespace dynakv::server
