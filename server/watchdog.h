// server/watchdog.h: the shutdown watchdog. SIGTERM/SIGINT normally reach the node through the
// libuv loop (uv_signal, server/server.cc), which then drains and stops cleanly. A loop that
// is stuck (a runaway command, DEBUG SLEEP) would never see them; so a handler chained in front
// of libuv's posts a semaphore (async-signal-safe) and a thread of its own, not the loop's,
// waits limits.shutdown_timeout seconds for the clean shutdown to finish, and otherwise writes
// one log line with write(2) and ends the process with _exit(1). Nothing acknowledged is lost:
// a write is acknowledged only after its batch is fsynced (docs/ARCHITECTURE.md, group commit).
// Thread-safety: construct and destroy on the loop thread. One is active per process (a second
// one, e.g. two Servers in one test binary, stays idle).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

namespace dynakv::server {

class ShutdownWatchdog {
 public:
  // Installs the handlers (after libuv's, which they call) and starts the waiting thread.
  // timeout_s > 0; node_id prefixes the log line like the node's other log lines.
  ShutdownWatchdog(int64_t timeout_s, std::string node_id);
  // The shutdown finished: the thread ends without acting; the handlers are removed.
  ~ShutdownWatchdog();

  ShutdownWatchdog(const ShutdownWatchdog&) = delete;
  ShutdownWatchdog& operator=(const ShutdownWatchdog&) = delete;

 private:
  void Run();

  const int64_t timeout_s_;
  const std::string node_id_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread thread_;
};

}  // namespace dynakv::server
