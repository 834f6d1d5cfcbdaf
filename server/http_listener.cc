// server/http_listener.cc: see http_listener.h.
#include "server/http_listener.h"

#include <arpa/inet.h>
#include <civetweb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <thread>
#include <vector>

#include "server/config.h"

namespace dynakv::server {
namespace {

const char* Reason(int code) {
  switch (code) {
    case 200: return "OK";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    default: return "Service Unavailable";
  }
}

void Respond(mg_connection* conn, int code, const char* type, const std::string& body, bool head) {
  mg_printf(conn,
            "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nCache-Control: no-store\r\n"
            "X-Content-Type-Options: nosniff\r\n%s\r\n",
            code, Reason(code), type, body.size(), code == 405 ? "Allow: GET, HEAD\r\n" : "");
  if (!head && !body.empty()) mg_write(conn, body.data(), body.size());
}

// A connection to the listener, closed at once: it wakes civetweb's accept loop.
void Poke(const std::string& host, int port) {
  sockaddr_storage ss{};
  socklen_t len = 0;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&ss);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&ss);
  if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(uint16_t(port));
    len = sizeof *v4;
  } else if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(uint16_t(port));
    len = sizeof *v6;
  } else {
    return;
  }
  int fd = ::socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return;
  ::connect(fd, reinterpret_cast<sockaddr*>(&ss), len);
  ::close(fd);
}

}  // namespace

Status HttpListener::Start(const std::string& addr) {
  std::string host;
  int port = 0;
  if (Status s = SplitHostPort(addr, &host, &port); !s.ok()) return s;
  if (host == "localhost") host = "127.0.0.1";
  // civetweb's listening_ports: "ip:port", "[ipv6]:port", or just "port" for every address.
  std::string ports = host.empty() ? std::to_string(port)
                      : host.find(':') != std::string::npos ? "[" + host + "]:" + std::to_string(port)
                                                            : host + ":" + std::to_string(port);
  mg_init_library(0);
  const char* options[] = {"listening_ports", ports.c_str(), "num_threads", "4", "request_timeout_ms", "10000",
                           "enable_keep_alive", "yes", nullptr};
  mg_callbacks callbacks;
  std::memset(&callbacks, 0, sizeof callbacks);
  callbacks.log_message = [](const mg_connection*, const char*) { return 1; };  // errors come back below
  mg_init_data init;
  std::memset(&init, 0, sizeof init);
  init.callbacks = &callbacks;
  init.user_data = this;
  init.configuration_options = options;
  char text[256] = "";
  unsigned code = 0;
  mg_error_data err;
  err.code = &code;
  err.text = text;
  err.text_buffer_size = sizeof text;
  ctx_ = mg_start2(&init, &err);
  if (ctx_ == nullptr) {
    return Status::IOError("cannot listen on " + addr + " (listen.http): " + (text[0] ? text : "civetweb failed"));
  }
  mg_set_request_handler(ctx_, "/", &HttpListener::Handle, this);
  wake_host_ = host.empty() || host == "0.0.0.0" ? "127.0.0.1" : host == "::" ? "::1" : host;
  wake_port_ = port;
  return Status::OK();
}

// mg_stop waits until civetweb's accept loop sees the stop flag, which it checks only when
// its poll returns (up to a second later, a second added to every shutdown): a connection of
// our own, made while mg_stop waits, wakes it.
void HttpListener::Stop() {
  if (ctx_ == nullptr) return;
  std::atomic<bool> stopped{false};
  std::thread stopper([this, &stopped] {
    mg_stop(ctx_);
    stopped = true;
  });
  for (int i = 0; i < 200 && !stopped; i++) {
    Poke(wake_host_, wake_port_);
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  stopper.join();
  ctx_ = nullptr;
}

void HttpListener::Publish(std::shared_ptr<const HttpSnapshot> snap) {
  std::lock_guard<std::mutex> lock(mu_);
  snap_ = std::move(snap);
}

std::shared_ptr<const HttpSnapshot> HttpListener::Latest() {
  std::lock_guard<std::mutex> lock(mu_);
  return snap_;
}

int HttpListener::Handle(mg_connection* conn, void* self_ptr) {
  auto* self = static_cast<HttpListener*>(self_ptr);
  const mg_request_info* ri = mg_get_request_info(conn);
  std::string method = ri->request_method ? ri->request_method : "";
  std::string path = ri->local_uri ? ri->local_uri : "/";
  bool head = method == "HEAD";
  bool known = path == "/" || path == "/metrics" || path == "/health" || path == "/cluster.json";
  if (!known) {
    Respond(conn, 404, "text/plain; charset=utf-8", "not found: try /, /metrics, /health or /cluster.json\n", head);
    return 404;
  }
  if (method != "GET" && !head) {
    Respond(conn, 405, "text/plain; charset=utf-8", "method not allowed\n", false);
    return 405;
  }
  if (path == "/") {
    Respond(conn, 200, "text/html; charset=utf-8", ClusterPageHtml(), head);
    return 200;
  }
  std::shared_ptr<const HttpSnapshot> snap = self->Latest();
  if (!snap) {
    Respond(conn, 503, "text/plain; charset=utf-8", "loading\n", head);
    return 503;
  }
  if (path == "/health") {
    Respond(conn, snap->health.code, "text/plain; charset=utf-8", snap->health.reason + "\n", head);
    return snap->health.code;
  }
  if (path == "/metrics") {
    Respond(conn, 200, "text/plain; version=0.0.4; charset=utf-8", snap->metrics, head);
    return 200;
  }
  Respond(conn, 200, "application/json", snap->cluster_json, head);
  return 200;
}

}  // namespace dynakv::server
