// server/log.h: the node's log, through spdlog: a level (log.level), stderr or a file
// (log.file), the file reopened on SIGHUP so logrotate can move it away, and a rate limit per
// kind of line. The cluster core logs through cluster::Logger (cluster/env.h); this is the
// server's implementation of it.
//
// A line's kind is its text before the first ": " ("membership", "failure detector",
// "handoff", "anti-entropy", "commit failed", ...). At most one line of a kind is written per
// interval (1 s). The last line held back is written when the interval is over (Tick), with
// the number of others dropped meanwhile ("... (37 similar suppressed)"): a storm of handoff
// progress or repeated errors costs a line a second, and the latest state is never lost
// (a member that went suspect and then down within the second is logged down). Messages never carry secrets: config values marked secret
// (config.h, IsSecretOption) are not logged anywhere.
//
// Thread-safety: used from the loop thread (spdlog's sinks are the thread-safe _mt kind).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "cluster/env.h"
#include "storage/status.h"

namespace spdlog {
class logger;
}

namespace dynakv::server {

class LogRateLimiter {
 public:
  using Level = cluster::Logger::Level;
  // A line to write: level, text, and how many lines of its kind were dropped before it.
  using Emit = std::function<void(Level, std::string_view msg, uint64_t suppressed)>;

  explicit LogRateLimiter(uint64_t interval_ms = 1000) : interval_ms_(interval_ms) {}
  // Writes the line now (through emit) when its kind's interval is over; otherwise keeps it
  // as the kind's held line (replacing, and counting as dropped, the one held before).
  void Log(Level level, std::string_view msg, uint64_t now_ms, const Emit& emit);
  // Writes the held lines whose interval is over.
  void Tick(uint64_t now_ms, const Emit& emit);
  // The kind of a message: the text before its first ": " (the whole message without one).
  static std::string_view KindOf(std::string_view msg);

 private:
  struct State {
    uint64_t last_ms = 0;
    uint64_t dropped = 0;  // lines dropped since the last one written (not counting held)
    bool held = false;
    Level held_level = Level::kInfo;
    std::string held_msg;
  };
  static constexpr size_t kMaxKinds = 1024;  // forget them all past this (bounded memory)
  uint64_t interval_ms_;
  std::unordered_map<std::string, State> kinds_;
  size_t held_ = 0;  // kinds with a held line
};

class ServerLogger final : public cluster::Logger {
 public:
  // `file` "" = stderr. IOError naming the file when it cannot be opened for appending.
  // `now_ms` is a monotonic clock (the rate limit); null = std::chrono::steady_clock.
  static Result<std::unique_ptr<ServerLogger>> Open(const std::string& node_id, Level min,
                                                    const std::string& file,
                                                    std::function<uint64_t()> now_ms = nullptr);
  ~ServerLogger() override;

  void Log(Level level, std::string_view msg) override;
  // Writes the lines the rate limit held back whose interval is over (the server calls it
  // every 100 ms).
  void Tick();

  // SIGHUP: close the file and open it again by name (a new file after logrotate moved the
  // old one). On error the old file stays in use and the error is logged and returned.
  // Nothing to do when logging to stderr.
  Status Reopen();

  static Level ParseLevel(const std::string& s);  // debug | info | warn | error

 private:
  ServerLogger() = default;
  static Result<std::shared_ptr<spdlog::logger>> Make(const std::string& node_id, Level min,
                                                      const std::string& file);

  std::string node_id_, file_;
  Level min_ = Level::kInfo;
  std::function<uint64_t()> now_ms_;
  void Write(Level level, std::string_view msg, uint64_t suppressed);
  std::shared_ptr<spdlog::logger> log_;
  LogRateLimiter limiter_;
};

}  // namespace dynakv::server
